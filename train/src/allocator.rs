//! Keeps freed tensor buffers in the process. Every burn op allocates its output; glibc hands
//! blocks above its adaptive mmap threshold back to the kernel when they are freed, so the next
//! op's buffer of the same size page-faults in again, zeroed by the kernel: a fifth of a
//! training step in `perf` (BENCHMARKS.md).

/// The largest threshold glibc accepts on 64-bit (`DEFAULT_MMAP_THRESHOLD_MAX`): the logits of a
/// 16 x 1024-token batch (20 MB) stay below it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 32 << 20;

/// Serves every block up to [`MMAP_THRESHOLD_BYTES`] from the heap and never trims it, so freed
/// buffers are reused warm. Call once, first thing in `main`.
pub fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}
