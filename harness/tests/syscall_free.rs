//! The real plugin's real-time `process()` makes no syscall at all: no futex to wake the worker,
//! no lock, no allocation that reaches the kernel, no log line. Checked by running thousands of
//! blocks on a thread where a seccomp filter traps every syscall (`continuo-syscall-free`),
//! with the editor closed and with it open and drawing.
//! Failed with the crossbeam-channel queues (syscall 202, futex, in the 12th block) and, with
//! nice-plug's default input event capacity, on the controller burst (syscall 1, the "Input
//! event buffer filled up!" warning).

#[allow(dead_code)]
mod support;

use continuo_harness::virtual_display::VirtualDisplay;

/// Runs the filtered blocks (with the editor open on `display` if one is given) and returns
/// what the run printed, after checking it passed and the worker's answers came out.
fn run_filtered_blocks(display: Option<&VirtualDisplay>) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_continuo-syscall-free"));
    command.arg(support::plugin_path());
    if let Some(display) = display {
        // Xvfb has no GPU: iced draws with its software renderer.
        command.arg("--editor").env("DISPLAY", display.name()).env("ICED_BACKEND", "tiny-skia");
    }
    let output = command.output().expect("the filtered run starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the filtered run failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("no syscall"), "{stdout}");
    let note_ons = number_after(&stdout, "the plugin sent ");
    assert!(note_ons > 0, "answers arrived from the worker during the run: {stdout}");
    stdout
}

/// The number that follows `label` in `text` (0 if none does).
fn number_after(text: &str, label: &str) -> usize {
    text.split(label).nth(1).and_then(|rest| rest.split(' ').next()?.parse().ok()).unwrap_or(0)
}

#[test]
fn the_real_time_audio_thread_makes_no_syscall() {
    run_filtered_blocks(None);
}

#[test]
fn the_real_time_audio_thread_makes_no_syscall_with_the_editor_open() {
    let display = match VirtualDisplay::start() {
        Ok(display) => display,
        Err(reason) => {
            eprintln!("SKIPPED: no X display for the editor: {reason}");
            return;
        }
    };
    let stdout = run_filtered_blocks(Some(&display));
    assert!(stdout.contains("was open throughout"), "{stdout}");
    assert!(stdout.contains("closed when destroyed"), "{stdout}");
    let phrase_pixels = number_after(&stdout, "drawing up to ");
    let answer_pixels = number_after(&stdout, "phrase and ");
    assert!(phrase_pixels > 0 && answer_pixels > 0, "the editor drew the phrase and the answers while the blocks ran: {stdout}");
}
