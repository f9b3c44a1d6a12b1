//! What the host tests share: the built plugin, a phrase, and checks on recorded notes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use continuo_harness::{HostedPlugin, InputEvent, OutputNote};

/// Where `cargo xtask test` says the bundled plugin is; without it the tests build one.
pub const CLAP_PATH_VARIABLE: &str = "CONTINUO_CLAP";
/// Samples per second of most tests.
pub const SAMPLE_RATE: f64 = 48_000.0;
/// Largest block the tests use.
pub const MAX_BLOCK: u32 = 8192;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the harness sits in the workspace").to_path_buf()
}

/// Builds the plugin library with `cargo` into its own target folder (the outer `cargo test`
/// holds the lock on the usual one) and returns the library path.
pub fn build_plugin(profile_folder: &str, extra_args: &[&str]) -> PathBuf {
    let root = workspace_root();
    let target = root.join("target").join("host-tests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--quiet", "--package", "continuo", "--lib"])
        .args(extra_args)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the plugin failed");
    target.join(profile_folder).join("libcontinuo.so")
}

/// The release plugin: the bundle `cargo xtask test` made, or one built here.
pub fn plugin_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| match std::env::var_os(CLAP_PATH_VARIABLE) {
        Some(path) => PathBuf::from(path),
        None => build_plugin("release", &["--release"]),
    })
}

/// A loaded plugin, offline (deterministic) or real time, activated at `sample_rate`.
pub fn load(offline: bool, sample_rate: f64) -> HostedPlugin {
    load_for_blocks_up_to(offline, sample_rate, MAX_BLOCK)
}

/// [`load`] for a host whose blocks run up to `max_block` samples.
pub fn load_for_blocks_up_to(offline: bool, sample_rate: f64, max_block: u32) -> HostedPlugin {
    let mut plugin = HostedPlugin::load(plugin_path()).expect("the plugin loads");
    plugin.set_offline(offline).expect("render mode");
    plugin.activate(sample_rate, max_block).expect("the plugin activates");
    plugin
}

/// A one-bar phrase (C major, eighths and a half note) starting at `start_beat`; it ends
/// (last release) at `start_beat + 4`.
pub fn phrase(start_beat: f64) -> Vec<(f64, InputEvent)> {
    let notes = [(0.0, 60), (0.5, 62), (1.0, 64), (1.5, 65), (2.0, 67)];
    let mut events = vec![];
    for (index, &(beat, key)) in notes.iter().enumerate() {
        let length = if index + 1 == notes.len() { 2.0 } else { 0.45 };
        events.push((start_beat + beat, InputEvent::NoteOn { key, velocity: 0.8 }));
        events.push((start_beat + beat + length, InputEvent::NoteOff { key }));
    }
    events
}

/// A small deterministic generator of block sizes in `1..=max`.
pub fn block_sizes(seed: u64, max: usize) -> impl FnMut() -> usize {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        1 + (state % max as u64) as usize
    }
}

/// Checks that every note-on has exactly one later note-off on the same channel and key,
/// that no off comes without its on, and that nothing is left sounding.
pub fn assert_balanced(notes: &[OutputNote]) {
    if let Err(problem) = continuo_harness::check_balanced(notes) {
        panic!("{problem}: {notes:?}");
    }
}

/// A parameter change event setting `name` to a plain value, for a parameter over
/// `plain_min..=plain_max` (the plugin exposes integers as steps from the minimum and
/// continuous values normalized to 0..1).
pub fn set_parameter(plugin: &mut HostedPlugin, name: &str, plain: f64, plain_min: f64, plain_max: f64) -> InputEvent {
    let parameter = plugin.parameter(name).unwrap_or_else(|| panic!("no parameter {name}"));
    let normalized = (plain - plain_min) / (plain_max - plain_min);
    InputEvent::Param { id: parameter.id, value: normalized * parameter.max }
}
