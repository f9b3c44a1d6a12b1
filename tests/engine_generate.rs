//! Offline generation end to end: a real prompt from ../shared/data, continued by the int8
//! engine, written with `write_midi` and read back with midly.

use std::path::Path;

use continuo::engine::generate::{continue_song, ContinuationRequest};
use continuo::engine::quantize::quantize;
use continuo::engine::random_model::random_wavenet;
use continuo::engine::{Constraints, Engine, Generator, SamplingOptions, ScaleMode};
use continuo::midi_file::{read_midi_file, write_midi, ReadOptions};
use continuo::model::WaveNetConfig;
use midly::{MetaMessage, MidiMessage, Smf, TrackEventKind};

const PROMPT: &str = "../shared/data/corpus/nottingham_jukedeck/ashover1.mid";

#[test]
fn a_continued_prompt_is_a_valid_midi_file_with_every_note_ended() {
    let prompt = read_midi_file(Path::new(PROMPT), ReadOptions::default()).expect("the shared data holds the prompt");
    let config = WaveNetConfig { residual_channels: 32, skip_channels: 64, stacks: 2, layers_per_stack: 8, conditioned: true, repeat_pointer: false, copy_keys: 0 };
    let engine = Engine::from_model(&quantize(&random_wavenet(config, 17))).unwrap();
    let constraints = Constraints { pitch_low: 50, pitch_high: 80, root: 7, mode: ScaleMode::Major, ..Constraints::default() };
    let request = ContinuationRequest {
        bars: 8,
        options: SamplingOptions { temperature: 0.9, top_k: 0, top_p: 0.95, greedy: false },
        constraints,
        memory_strength: 0.0,
        follow_voices: true,
        repeat_strength: None,
        copy_strength: None,
    };
    let continuation = continue_song(&mut Generator::new(engine, 7), &prompt, &request, None);
    assert!(continuation.generated_notes > 0);
    let generated = &continuation.notes[prompt.notes.len()..];
    assert!(generated.iter().all(|note| constraints.allows_pitch(note.pitch)), "range and G major");
    let bytes = write_midi(&continuation.notes, prompt.initial_tempo_bpm(), prompt.time_signature);

    let smf = Smf::parse(&bytes).expect("midly reads the file");
    let mut sounding = [0i32; 128];
    let (mut onsets, mut tempo, mut meter) = (0, None, None);
    for event in smf.tracks.iter().flatten() {
        match event.kind {
            TrackEventKind::Midi { message: MidiMessage::NoteOn { key, vel }, .. } if vel > 0 => {
                sounding[key.as_int() as usize] += 1;
                onsets += 1;
            }
            TrackEventKind::Midi { message: MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. }, .. } => {
                sounding[key.as_int() as usize] -= 1;
                assert!(sounding[key.as_int() as usize] >= 0, "note-off for silent key {key}");
            }
            TrackEventKind::Meta(MetaMessage::Tempo(micros)) => tempo = Some(micros.as_int()),
            TrackEventKind::Meta(MetaMessage::TimeSignature(numerator, power, ..)) => meter = Some((numerator, 1u8 << power)),
            _ => {}
        }
    }
    assert_eq!(onsets, continuation.notes.len());
    assert!(sounding.iter().all(|&count| count == 0), "every note-on has its note-off");
    assert_eq!(tempo, Some((60_000_000.0 / prompt.initial_tempo_bpm()).round() as u32));
    assert_eq!(meter, Some(prompt.time_signature));
}
