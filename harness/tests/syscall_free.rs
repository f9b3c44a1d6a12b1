//! The real plugin's real-time `process()` makes no syscall at all: no futex to wake the worker,
//! no lock, no allocation that reaches the kernel, no log line. Checked by running thousands of
//! blocks on a thread where a seccomp filter traps every syscall (`continuo-syscall-free`).
//! Failed with the crossbeam-channel queues (syscall 202, futex, in the 12th block) and, with
//! nice-plug's default input event capacity, on the controller burst (syscall 1, the "Input
//! event buffer filled up!" warning).

#[allow(dead_code)]
mod support;

#[test]
fn the_real_time_audio_thread_makes_no_syscall() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_continuo-syscall-free"))
        .arg(support::plugin_path())
        .output()
        .expect("the filtered run starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the filtered run failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("no syscall"), "{stdout}");
    let note_ons: usize = stdout.rsplit("sent ").next().and_then(|rest| rest.split(' ').next()?.parse().ok()).unwrap_or(0);
    assert!(note_ons > 0, "answers arrived from the worker during the run: {stdout}");
}
