//! `continuo-syscall-free PLUGIN.clap [--editor]`: proves that the plugin's real-time
//! `process()` makes no syscall. This main thread is the host's main thread: it loads and
//! activates the plugin and serves its main-thread calls; a dedicated audio thread takes the
//! plugin's audio processor, sizes every buffer, then installs a seccomp filter that traps
//! EVERY syscall on that thread alone (the plugin's worker, its editor and this main thread are
//! free), and runs thousands of real-time blocks through clack-host: random buffer sizes,
//! played phrases the worker answers, transport jumps and stops, parameter changes and a burst
//! of every controller on every channel. A syscall there raises SIGSYS: the handler records its
//! number and the run exits 1 naming it; a clean run exits 0.
//!
//! With `--editor` the plugin's editor is open throughout, embedded in a window on the X
//! display `DISPLAY` names, as a host opens it (CLAP gui extension): the run then also checks
//! that the editor drew the phrase and the answers in its piano roll while the blocks ran, and
//! that it closes when the host destroys it.
//!
//! The filtered thread cannot sleep (a syscall), so this main thread paces it: it hands out
//! samples at the real-time rate through an atomic, which the audio thread spins on, so the
//! worker gets the time a real audio driver would give it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use continuo_harness::parent_window::ParentWindow;
use continuo_harness::workload::{push_controller_burst, Xorshift};
use continuo_harness::{AudioThreadPlugin, HostedPlugin, InputEvent, Transport};

/// Blocks run under the filter.
const BLOCKS: usize = 3000;
/// Largest ordinary block (every 50th block is `LARGE_BLOCK` samples).
const MAX_SMALL_BLOCK: u64 = 256;
/// An occasional large block, as hosts send after a glitch.
const LARGE_BLOCK: usize = 4096;
/// Samples per second.
const SAMPLE_RATE: f64 = 48_000.0;
/// Host tempo: brisk, so phrases and their answers come often.
const TEMPO_BPM: f64 = 150.0;
/// The dialogue's cycle: a phrase in its first `PHRASE_BEATS`, then room for the answer.
const CYCLE_BEATS: f64 = 12.0;
/// How long each phrase is played.
const PHRASE_BEATS: f64 = 3.0;
/// Room for the events of any block, the burst included.
const EVENT_CAPACITY: usize = 4096;
/// How long the whole run may take before it counts as hung.
const RUN_DEADLINE: Duration = Duration::from_secs(180);
/// No syscall trapped yet.
const NO_SYSCALL: i64 = -1;
/// The parent window: room for the editor at its default size and more.
const PARENT_WINDOW_SIZE: (u16, u16) = (1280, 800);
/// How often the main thread looks at what the editor drew.
const EDITOR_LOOK_INTERVAL: Duration = Duration::from_millis(250);
/// How long the editor's window may take to go once the host destroys it.
const EDITOR_CLOSE_DEADLINE: Duration = Duration::from_secs(10);
/// The piano roll's background, the phrase's and the answer's colours (src/plugin/editor/roll_view.rs).
const ROLL_BACKGROUND: [u8; 3] = [0x1C, 0x1D, 0x22];
const PHRASE_COLOUR: [u8; 3] = [0x40, 0xC4, 0xFF];
const ANSWER_COLOUR: [u8; 3] = [0xFF, 0x91, 0x00];

/// The number of the syscall the audio thread attempted (`NO_SYSCALL` until one is).
static TRAPPED_SYSCALL: AtomicI64 = AtomicI64::new(NO_SYSCALL);

/// What the audio thread and the main thread share.
#[derive(Default)]
struct Progress {
    /// Samples the main thread allows processed so far (the real-time pace).
    released_samples: AtomicU64,
    /// Blocks run under the filter.
    blocks_done: AtomicUsize,
    /// Note-ons the plugin sent under the filter (answers: thru and bypass stay off).
    note_ons: AtomicUsize,
    /// Set when the audio thread finished every block; it then spins until the process exits.
    finished: AtomicBool,
}

/// The open editor and the most of the phrase and the answer it was seen drawing.
struct OpenEditor {
    /// The host window it is embedded in.
    parent: ParentWindow,
    /// When the main thread looks at it next.
    next_look: Instant,
    /// Most phrase-coloured pixels seen at once in the piano roll.
    phrase_pixels: usize,
    /// Most answer-coloured pixels seen at once in the piano roll.
    answer_pixels: usize,
}

fn main() {
    let mut arguments = std::env::args_os().skip(1);
    let path: PathBuf = arguments.next().expect("usage: continuo-syscall-free PLUGIN.clap [--editor]").into();
    let with_editor = arguments.next().is_some_and(|flag| flag == "--editor");
    install_sigsys_handler();
    let mut plugin = HostedPlugin::load(&path).unwrap_or_else(|error| panic!("{error}"));
    plugin.set_offline(false).expect("real-time mode");
    let parameters: Vec<(u32, f64)> = plugin
        .parameters()
        .into_iter()
        // Not those that stop it listening: the run must hear phrases and play answers.
        .filter(|parameter| !["Bypass", "Thru", "Input Channel"].contains(&parameter.name.as_str()))
        .map(|parameter| (parameter.id, parameter.max))
        .collect();
    let audio = plugin.activate_for_audio_thread(SAMPLE_RATE, LARGE_BLOCK as u32, EVENT_CAPACITY).expect("activates");
    let mut editor = with_editor.then(|| open_editor(&mut plugin));
    let progress = Arc::new(Progress::default());
    let shared = progress.clone();
    let audio_thread = std::thread::Builder::new()
        .name("filtered-audio".into())
        .spawn(move || run_audio_thread(audio, &parameters, &shared))
        .expect("the audio thread starts");
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(1));
        let elapsed = started.elapsed();
        progress.released_samples.store((elapsed.as_secs_f64() * SAMPLE_RATE) as u64, Ordering::Release);
        plugin.serve_main_thread();
        if let Some(editor) = &mut editor {
            look_at_editor(editor);
        }
        let syscall = TRAPPED_SYSCALL.load(Ordering::Acquire);
        let blocks = progress.blocks_done.load(Ordering::Acquire);
        if syscall != NO_SYSCALL {
            eprintln!("the audio thread made syscall {syscall} (see `ausyscall {syscall}`) in block {blocks}");
            std::process::exit(1);
        }
        if progress.finished.load(Ordering::Acquire) {
            let note_ons = progress.note_ons.load(Ordering::Acquire);
            println!("{blocks} real-time blocks under a filter forbidding every syscall: no syscall; the plugin sent {note_ons} note-ons");
            if let Some(editor) = editor {
                close_editor(&mut plugin, editor);
            }
            // The audio thread cannot exit (that is a syscall too): end the process from here.
            std::process::exit(0);
        }
        if audio_thread.is_finished() {
            eprintln!("the audio thread failed before its blocks ran (see its panic above)");
            std::process::exit(3);
        }
        if elapsed > RUN_DEADLINE {
            eprintln!("the run did not finish in {RUN_DEADLINE:?}: {blocks} blocks done");
            std::process::exit(2);
        }
    }
}

/// Opens the editor in a new window on `DISPLAY`, as a host does.
fn open_editor(plugin: &mut HostedPlugin) -> OpenEditor {
    let display = std::env::var("DISPLAY").expect("--editor needs an X display in DISPLAY");
    let (width, height) = PARENT_WINDOW_SIZE;
    let parent = ParentWindow::open(&display, width, height).unwrap_or_else(|error| panic!("{error}"));
    plugin.open_editor(parent.id(), None).unwrap_or_else(|error| panic!("the editor does not open: {error}"));
    OpenEditor { parent, next_look: Instant::now(), phrase_pixels: 0, answer_pixels: 0 }
}

/// Now and then, counts the phrase's and the answer's pixels in the editor's piano roll.
fn look_at_editor(editor: &mut OpenEditor) {
    if Instant::now() < editor.next_look {
        return;
    }
    editor.next_look = Instant::now() + EDITOR_LOOK_INTERVAL;
    let counts = editor.parent.count_colours_inside(ROLL_BACKGROUND, &[PHRASE_COLOUR, ANSWER_COLOUR]);
    if let Some(counts) = counts.unwrap_or_else(|error| panic!("{error}")) {
        editor.phrase_pixels = editor.phrase_pixels.max(counts[0]);
        editor.answer_pixels = editor.answer_pixels.max(counts[1]);
    }
}

/// Destroys the editor as a host does and waits for its window to go.
fn close_editor(plugin: &mut HostedPlugin, editor: OpenEditor) {
    let size = editor.parent.child_sizes().unwrap_or_else(|error| panic!("{error}")).first().copied();
    let Some((width, height)) = size else {
        eprintln!("the editor's window was gone before the host closed it");
        std::process::exit(4);
    };
    if plugin.editor_closed_itself() {
        eprintln!("the editor closed itself during the run");
        std::process::exit(4);
    }
    plugin.close_editor().unwrap_or_else(|error| panic!("{error}"));
    let asked = Instant::now();
    while !editor.parent.child_sizes().unwrap_or_else(|error| panic!("{error}")).is_empty() {
        if asked.elapsed() > EDITOR_CLOSE_DEADLINE {
            eprintln!("the editor's window was still there {EDITOR_CLOSE_DEADLINE:?} after the host destroyed it");
            std::process::exit(4);
        }
        plugin.serve_main_thread();
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "the editor ({width}x{height}) was open throughout, drawing up to {} phrase and {} answer pixels in its roll; closed when destroyed",
        editor.phrase_pixels, editor.answer_pixels
    );
}

/// Everything the filtered thread does: start while syscalls are allowed, then run blocks.
fn run_audio_thread(mut plugin: AudioThreadPlugin, parameters: &[(u32, f64)], progress: &Progress) {
    plugin.start().expect("starts processing");
    let mut events: Vec<(u32, InputEvent)> = Vec::with_capacity(EVENT_CAPACITY);
    let mut random = Xorshift(0x9E37_79B9_7F4A_7C15);
    forbid_every_syscall_on_this_thread();

    let (mut position_beats, mut playing, mut processed) = (0.0f64, true, 0u64);
    for block in 0..BLOCKS {
        let samples = if block % 50 == 49 { LARGE_BLOCK } else { 1 + random.below(MAX_SMALL_BLOCK) as usize };
        while progress.released_samples.load(Ordering::Acquire) < processed {
            std::hint::spin_loop();
        }
        events.clear();
        if block == BLOCKS / 2 {
            push_controller_burst(&mut events, samples);
        } else {
            push_block_events(&mut events, &mut random, samples, position_beats, parameters);
        }
        let transport = Transport { playing, tempo_bpm: TEMPO_BPM, position_beats, time_signature: (4, 4) };
        let note_ons = &progress.note_ons;
        plugin
            .process_without_syscalls(samples, transport, &events, |note| {
                if note.on {
                    note_ons.fetch_add(1, Ordering::Relaxed);
                }
            })
            .expect("processes");
        processed += samples as u64;
        position_beats += samples as f64 / SAMPLE_RATE * TEMPO_BPM / 60.0;
        match random.below(400) {
            0 => position_beats = random.below(64) as f64,
            1 => playing = !playing,
            _ => {}
        }
        progress.blocks_done.store(block + 1, Ordering::Release);
    }
    progress.finished.store(true, Ordering::Release);
    loop {
        std::hint::spin_loop();
    }
}

/// In each cycle's phrase part, now and then a short note; now and then a parameter change.
/// Events go in offset order.
fn push_block_events(events: &mut Vec<(u32, InputEvent)>, random: &mut Xorshift, samples: usize, beats: f64, parameters: &[(u32, f64)]) {
    if random.below(30) == 0 && !parameters.is_empty() {
        let (id, max) = parameters[random.below(parameters.len() as u64) as usize];
        events.push((0, InputEvent::Param { id, value: (random.below(1001) as f64 / 1000.0 * max).round().min(max) }));
    }
    if beats.rem_euclid(CYCLE_BEATS) < PHRASE_BEATS && random.below(6) == 0 {
        let key = 48 + random.below(30) as u8;
        let on = random.below(samples as u64) as u32;
        events.push((on, InputEvent::NoteOn { key, velocity: 0.3 + random.below(70) as f64 / 100.0 }));
        events.push((on.max(random.below(samples as u64) as u32), InputEvent::NoteOff { key }));
    }
}

/// Records the trapped syscall's number and parks the thread: returning would need
/// `rt_sigreturn`, itself a syscall. The main thread reports it and exits.
extern "C" fn on_sigsys(_signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SIGSYS's siginfo: signo, errno, code (and padding), the call address, then the number.
    const SYSCALL_NUMBER_OFFSET_BYTES: usize = 24;
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let number = unsafe { std::ptr::read((info as *const u8).add(SYSCALL_NUMBER_OFFSET_BYTES) as *const libc::c_int) };
    TRAPPED_SYSCALL.store(number as i64, Ordering::Release);
    loop {
        std::hint::spin_loop();
    }
}

fn install_sigsys_handler() {
    // SAFETY: a plain sigaction with an async-signal-safe handler (atomics and spinning only).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_sigsys;
        action.sa_sigaction = handler as usize;
        action.sa_flags = libc::SA_SIGINFO;
        assert_eq!(libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()), 0, "SIGSYS handler");
    }
}

/// Installs, on the calling thread only, a seccomp filter that traps every syscall.
fn forbid_every_syscall_on_this_thread() {
    let mut program = [libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: libc::SECCOMP_RET_TRAP }];
    let filter = libc::sock_fprog { len: program.len() as u16, filter: program.as_mut_ptr() };
    // SAFETY: prctl with a valid filter program that lives across the call; no TSYNC flag, so
    // only this thread is filtered.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0, "no_new_privs");
        assert_eq!(libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &filter as *const libc::sock_fprog), 0, "seccomp");
    }
}

