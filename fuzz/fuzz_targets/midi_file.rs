//! The MIDI reader: arbitrary bytes read and tokenized as training reads a corpus file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = continuo::fuzzing::exercise_midi(bytes);
});
