//! Replays every fuzz seed (`fuzz/corpus/<target>/`) and every crash the fuzzers ever found
//! (`fuzz/regressions/<target>/`) through the code the fuzz targets run
//! (`continuo::fuzzing`): no input may panic, and every refusal must name the input and the
//! problem. The fuzzers themselves run outside the test suite (FUZZING.md).

use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use continuo::fuzzing::{exercise_midi, exercise_model, exercise_model_metadata, exercise_plugin_state, FUZZ_INPUT_NAME};

fn fuzz_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every file of `fuzz/corpus/<target>` and `fuzz/regressions/<target>`, sorted.
fn inputs_of(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_folder().join(kind).join(target)) else { continue };
        files.extend(entries.map(|entry| entry.unwrap().path()).filter(|path| path.is_file()));
    }
    files.sort();
    files
}

/// Runs `exercise` on each input; returns what went wrong, one line per input, and how many
/// inputs were accepted.
fn replay<T, E: Display>(inputs: &[PathBuf], exercise: impl Fn(&[u8]) -> Result<T, E>) -> (Vec<String>, usize) {
    let (mut failures, mut accepted) = (Vec::new(), 0);
    for path in inputs {
        let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: cannot read: {error}", path.display()));
        match catch_unwind(AssertUnwindSafe(|| exercise(&bytes))) {
            Err(_) => failures.push(format!("{}: panicked", path.display())),
            Ok(Err(error)) => {
                let message = error.to_string();
                let problem = message.strip_prefix(&format!("{FUZZ_INPUT_NAME}: ")).unwrap_or("");
                if problem.trim().is_empty() {
                    failures.push(format!("{}: refused without naming the input and the problem: {message:?}", path.display()));
                }
            }
            Ok(Ok(_)) => accepted += 1,
        }
    }
    (failures, accepted)
}

fn replay_target<T, E: Display>(target: &str, exercise: impl Fn(&[u8]) -> Result<T, E>) {
    let inputs = inputs_of(target);
    assert!(!inputs.is_empty(), "no seeds in fuzz/corpus/{target}");
    let (failures, accepted) = replay(&inputs, exercise);
    assert!(failures.is_empty(), "{} of {} inputs failed:\n{}", failures.len(), inputs.len(), failures.join("\n"));
    assert!(accepted > 0, "no seed of fuzz/corpus/{target} gets past the parser: the fuzzer would not reach the rest");
}

#[test]
fn midi_file_inputs_are_read_or_refused_by_name() {
    replay_target("midi_file", exercise_midi);
}

#[test]
fn model_file_inputs_are_loaded_or_refused_by_name() {
    replay_target("model_file", exercise_model);
}

#[test]
fn model_meta_inputs_are_loaded_or_refused_by_name() {
    replay_target("model_meta", exercise_model_metadata);
}

#[test]
fn plugin_state_inputs_are_loaded_or_refused_by_name() {
    replay_target("plugin_state", exercise_plugin_state);
}

/// The default model is the loader's main real seed; it is too big to copy into the corpus.
#[test]
fn the_default_model_loads_and_runs_as_the_fuzz_target_runs_it() {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/default-model.safetensors")).unwrap();
    exercise_model(&bytes).unwrap();
}
