//! Int8 matrix-vector products with `vpdpbusd`: 64 (AVX-512 VNNI) or 32 (AVX-VNNI) multiply-adds
//! per instruction into i32, read from [`Layout::VnniBlocks`] so each block's sums come out one
//! row per lane. Both finish every row with the same operations, in the same order, as the
//! portable kernel, so the results are bit-identical.

use std::arch::x86_64::*;

use super::int8_matrix::{vnni_passes, Int8Matrix, Layout, NARROW_PASS_BLOCKS, VNNI_COLUMNS_PER_GROUP, WIDE_PASS_BLOCKS};
use super::{QuantizedInput, Write};

/// How far ahead of its reads a product prefetches its weights, in 64-byte lines: 2 KiB, a few
/// hundred cycles of `vpdpbusd` ahead, enough to hide the L2 latency (the weights of a step do
/// not fit in L1); measured a few per cent faster than leaving it to the hardware prefetchers.
const PREFETCH_LINES: usize = 32;

/// Accumulator sets of a pass: a narrow pass (or a single block) alternates groups between two
/// sets, so it still keeps eight `vpdpbusd` chains in flight instead of waiting on the latency
/// of four; a wide pass already has eight.
const fn phases(blocks: usize) -> usize {
    if blocks >= WIDE_PASS_BLOCKS {
        1
    } else {
        2
    }
}
/// Rows of an AVX-512 block: the i32 lanes of a zmm register.
pub const AVX512_ROWS_PER_BLOCK: usize = 16;

/// Rows of an AVX-VNNI block: the i32 lanes of a ymm register.
pub const AVX_VNNI_ROWS_PER_BLOCK: usize = 8;

/// Four input bytes (already offset to unsigned by `Kernel::quantize_input`) as one i32, to be
/// broadcast straight from memory.
#[inline(always)]
unsafe fn input_group(input: *const i8, group: usize) -> i32 {
    (input.add(group * VNNI_COLUMNS_PER_GROUP) as *const i32).read_unaligned()
}

/// What the generic driver needs of an instruction set: the accumulation of a pass and the
/// finish of one block, each inlined into the `#[target_feature]` entry point that runs it.
trait VnniBlocks {
    /// Rows of a block: the i32 lanes of the vector.
    const ROWS_PER_BLOCK: usize;
    /// A block's sums, a vector of i32.
    type Sums;
    /// The sums of the `N` blocks of the pass from block `first`.
    unsafe fn accumulate<const N: usize>(weights: &Int8Matrix, first: usize, input: *const i8) -> [Self::Sums; N];
    /// Scales block `block`'s sums to real values (`scale`: the input's) and writes (or adds) the rows
    /// that exist.
    unsafe fn finish(weights: &Int8Matrix, block: usize, sums: Self::Sums, scale: f32, bias: &[f32], out: *mut f32, write: Write);
}

/// `out[r] (=|+=) (w[r] . x) * scale[r] * input_scale + bias[r]`, pass by pass.
#[inline(always)]
unsafe fn matvec<Isa: VnniBlocks>(weights: &Int8Matrix, input: QuantizedInput, bias: &[f32], out: &mut [f32], write: Write) {
    debug_assert_eq!(weights.layout, Layout::VnniBlocks { rows_per_block: Isa::ROWS_PER_BLOCK });
    let out = out.as_mut_ptr();
    for (first, width) in vnni_passes(weights.rows.div_ceil(Isa::ROWS_PER_BLOCK)) {
        match width {
            WIDE_PASS_BLOCKS => pass::<Isa, WIDE_PASS_BLOCKS>(weights, first, input, bias, out, write),
            NARROW_PASS_BLOCKS => pass::<Isa, NARROW_PASS_BLOCKS>(weights, first, input, bias, out, write),
            _ => pass::<Isa, 1>(weights, first, input, bias, out, write),
        }
    }
}

/// Accumulates the `N` blocks from `first` and writes their rows.
#[inline(always)]
unsafe fn pass<Isa: VnniBlocks, const N: usize>(
    weights: &Int8Matrix,
    first: usize,
    input: QuantizedInput,
    bias: &[f32],
    out: *mut f32,
    write: Write,
) {
    let sums = Isa::accumulate::<N>(weights, first, input.values.as_ptr());
    for (offset, sum) in sums.into_iter().enumerate() {
        Isa::finish(weights, first + offset, sum, input.scale, bias, out, write);
    }
}

/// AVX-512 VNNI on zmm registers, sixteen-row blocks.
struct Avx512;

/// AVX-VNNI (the VEX form, on CPUs with AVX2 but without AVX-512) on ymm registers, eight-row
/// blocks.
struct AvxVnni;

/// AVX-512 VNNI: see [`matvec`].
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn matvec_i8_avx512(weights: &Int8Matrix, input: QuantizedInput, bias: &[f32], out: &mut [f32], write: Write) {
    matvec::<Avx512>(weights, input, bias, out, write)
}

/// AVX-VNNI: see [`matvec`].
#[target_feature(enable = "avx2,fma,avxvnni")]
pub unsafe fn matvec_i8_avx_vnni(weights: &Int8Matrix, input: QuantizedInput, bias: &[f32], out: &mut [f32], write: Write) {
    matvec::<AvxVnni>(weights, input, bias, out, write)
}

impl VnniBlocks for Avx512 {
    const ROWS_PER_BLOCK: usize = AVX512_ROWS_PER_BLOCK;
    type Sums = __m512i;

    /// The i32 sums of the `N` blocks of the pass from block `first`, of the offset input `x + 128`
    /// against the weights, read as one stream.
    #[inline(always)]
    unsafe fn accumulate<const N: usize>(weights: &Int8Matrix, first: usize, input: *const i8) -> [__m512i; N] {
        let mut at = weights.values.as_ptr().add(first * AVX512_ROWS_PER_BLOCK * weights.cols) as *const __m512i;
        let mut sets = [[_mm512_setzero_si512(); N]; 2];
        for group in (0..weights.cols / VNNI_COLUMNS_PER_GROUP).step_by(phases(N)) {
            for (phase, sums) in sets.iter_mut().take(phases(N)).enumerate() {
                let inputs = _mm512_set1_epi32(input_group(input, group + phase));
                for sum in sums.iter_mut() {
                    _mm_prefetch::<_MM_HINT_T0>(at.add(PREFETCH_LINES) as *const i8);
                    *sum = _mm512_dpbusd_epi32(*sum, inputs, _mm512_loadu_si512(at));
                    at = at.add(1);
                }
            }
        }
        std::array::from_fn(|block| _mm512_add_epi32(sets[0][block], sets[1][block]))
    }

    /// Scales block `block`'s sums to real values and writes the rows that exist (masked in the
    /// last block).
    #[inline(always)]
    unsafe fn finish(weights: &Int8Matrix, block: usize, sum: __m512i, scale: f32, bias: &[f32], out: *mut f32, write: Write) {
        let first = block * AVX512_ROWS_PER_BLOCK;
        let rows = weights.rows - first;
        let correction = _mm512_loadu_si512(weights.offset_corrections.as_ptr().add(first) as *const __m512i);
        let dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(sum, correction));
        let scales = _mm512_mul_ps(_mm512_loadu_ps(weights.scales.as_ptr().add(first)), _mm512_set1_ps(scale));
        let (bias, out) = (bias.as_ptr().add(first), out.add(first));
        if rows >= AVX512_ROWS_PER_BLOCK {
            let value = _mm512_add_ps(_mm512_mul_ps(dot, scales), _mm512_loadu_ps(bias));
            match write {
                Write::Set => _mm512_storeu_ps(out, value),
                Write::Add => _mm512_storeu_ps(out, _mm512_add_ps(_mm512_loadu_ps(out), value)),
            }
        } else {
            let mask: __mmask16 = (1 << rows) - 1;
            let value = _mm512_add_ps(_mm512_mul_ps(dot, scales), _mm512_maskz_loadu_ps(mask, bias));
            match write {
                Write::Set => _mm512_mask_storeu_ps(out, mask, value),
                Write::Add => _mm512_mask_storeu_ps(out, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), value)),
            }
        }
    }
}

impl VnniBlocks for AvxVnni {
    const ROWS_PER_BLOCK: usize = AVX_VNNI_ROWS_PER_BLOCK;
    type Sums = __m256i;

    /// As [`Avx512`]'s accumulation on eight-row blocks, with one accumulator set (ymm has sixteen
    /// registers: a second set spills, measured slower) and no software prefetch (measured no
    /// faster).
    #[inline(always)]
    unsafe fn accumulate<const N: usize>(weights: &Int8Matrix, first: usize, input: *const i8) -> [__m256i; N] {
        let mut at = weights.values.as_ptr().add(first * AVX_VNNI_ROWS_PER_BLOCK * weights.cols) as *const __m256i;
        let mut sums = [_mm256_setzero_si256(); N];
        for group in 0..weights.cols / VNNI_COLUMNS_PER_GROUP {
            let inputs = _mm256_set1_epi32(input_group(input, group));
            for sum in sums.iter_mut() {
                *sum = _mm256_dpbusd_avx_epi32(*sum, inputs, _mm256_loadu_si256(at));
                at = at.add(1);
            }
        }
        sums
    }

    /// As [`Avx512`]'s finish on eight-row blocks (AVX2 masked loads and stores in the last block
    /// only: `vmaskmovps` is slow on some CPUs).
    #[inline(always)]
    unsafe fn finish(weights: &Int8Matrix, block: usize, sum: __m256i, scale: f32, bias: &[f32], out: *mut f32, write: Write) {
        let first = block * AVX_VNNI_ROWS_PER_BLOCK;
        let rows = weights.rows - first;
        let correction = _mm256_loadu_si256(weights.offset_corrections.as_ptr().add(first) as *const __m256i);
        let dot = _mm256_cvtepi32_ps(_mm256_sub_epi32(sum, correction));
        let scales = _mm256_mul_ps(_mm256_loadu_ps(weights.scales.as_ptr().add(first)), _mm256_set1_ps(scale));
        let (bias, out) = (bias.as_ptr().add(first), out.add(first));
        if rows >= AVX_VNNI_ROWS_PER_BLOCK {
            let value = _mm256_add_ps(_mm256_mul_ps(dot, scales), _mm256_loadu_ps(bias));
            match write {
                Write::Set => _mm256_storeu_ps(out, value),
                Write::Add => _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), value)),
            }
        } else {
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(rows as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            let value = _mm256_add_ps(_mm256_mul_ps(dot, scales), _mm256_maskload_ps(bias, mask));
            match write {
                Write::Set => _mm256_maskstore_ps(out, mask, value),
                Write::Add => _mm256_maskstore_ps(out, mask, _mm256_add_ps(_mm256_maskload_ps(out, mask), value)),
            }
        }
    }
}
