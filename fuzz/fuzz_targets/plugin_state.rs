//! The plugin state loader: arbitrary bytes loaded as a saved project's Continuo state, then the
//! model-path choice.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = continuo::fuzzing::exercise_plugin_state(bytes);
});
