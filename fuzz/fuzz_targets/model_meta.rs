//! The model metadata: arbitrary bytes as the architecture JSON of an otherwise valid model
//! file, loaded as the worker loads a model, then run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = continuo::fuzzing::exercise_model_metadata(bytes);
});
