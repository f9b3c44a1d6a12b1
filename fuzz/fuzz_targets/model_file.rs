//! The model loader: arbitrary bytes loaded as the worker loads a model file, then run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = continuo::fuzzing::exercise_model(bytes);
});
