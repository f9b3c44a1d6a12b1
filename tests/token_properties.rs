//! Property tests of the event vocabulary: MIDI notes -> tokens -> notes keeps every note.

use continuo::tokens::{
    decode_tokens, encode_notes, velocity_bin, Event, Note, SequenceState, Token, PITCH_MAX, PITCH_MIN,
    TICKS_PER_BEAT, VOCAB_SIZE,
};
use proptest::prelude::*;

/// Half a grid tick, in beats: the most rounding to the grid can move an onset.
const HALF_TICK_BEATS: f64 = 0.5 / TICKS_PER_BEAT as f64;
/// One grid tick, in beats.
const TICK_BEATS: f64 = 1.0 / TICKS_PER_BEAT as f64;

/// Notes of one pitch that never overlap, even after rounding to the grid: each starts at
/// least two ticks after the previous one ends.
fn pitch_line(pitch: u8) -> impl Strategy<Value = Vec<Note>> {
    prop::collection::vec((0.1f64..6.0, 0.05f64..4.0, 1u8..=127), 0..6).prop_map(move |gaps| {
        let mut time = 0.0;
        gaps.into_iter()
            .map(|(gap, duration, velocity)| {
                let start = time + gap;
                time = start + duration + 2.0 * TICK_BEATS;
                Note { pitch, velocity, start_beats: start, duration_beats: duration }
            })
            .collect()
    })
}

/// Polyphonic material: a few pitch lines merged (chords and overlaps across pitches).
fn phrase() -> impl Strategy<Value = Vec<Note>> {
    prop::collection::btree_set(PITCH_MIN..=PITCH_MAX, 1..8)
        .prop_flat_map(|pitches| pitches.into_iter().map(pitch_line).collect::<Vec<_>>())
        .prop_map(|lines| lines.concat())
}

fn sorted_by_onset(mut notes: Vec<Note>) -> Vec<Note> {
    let key = |n: &Note| ((n.start_beats * TICKS_PER_BEAT as f64).round() as i64, n.pitch);
    notes.sort_by_key(key);
    notes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn round_trip_keeps_pitch_order_velocity_bin_and_timing_within_a_tick(notes in phrase()) {
        let encoded = encode_notes(&notes);
        prop_assert_eq!(encoded.duplicates_dropped, 0);
        let decoded = decode_tokens(&encoded.tokens);
        let original = sorted_by_onset(notes);
        prop_assert_eq!(decoded.len(), original.len());
        for (before, after) in original.iter().zip(&decoded) {
            prop_assert_eq!(before.pitch, after.pitch);
            prop_assert_eq!(velocity_bin(before.velocity), velocity_bin(after.velocity));
            prop_assert!((before.start_beats - after.start_beats).abs() <= HALF_TICK_BEATS + 1e-9);
            prop_assert!((before.duration_beats - after.duration_beats).abs() <= TICK_BEATS + 1e-9,
                "{:?} -> {:?}", before, after);
        }
    }

    #[test]
    fn each_piano_roll_has_exactly_one_encoding(notes in phrase()) {
        let tokens = encode_notes(&notes).tokens;
        let again = encode_notes(&decode_tokens(&tokens)).tokens;
        prop_assert_eq!(again, tokens);
    }

    #[test]
    fn canonical_encodings_are_always_legal(notes in phrase()) {
        let tokens = encode_notes(&notes).tokens;
        let mut state = SequenceState::default();
        for &token in &tokens[1..] {
            let event = Event::from_token(token).unwrap();
            prop_assert!(state.is_legal(event), "{:?} after {:?}", event, state);
            state.apply(event, |_| {});
        }
    }

    #[test]
    fn any_token_stream_decodes_to_well_formed_notes(tokens in prop::collection::vec(0..VOCAB_SIZE as Token, 0..400)) {
        for note in decode_tokens(&tokens) {
            prop_assert!((PITCH_MIN..=PITCH_MAX).contains(&note.pitch));
            prop_assert!(note.duration_beats >= TICK_BEATS - 1e-12);
            prop_assert!(note.velocity >= 1 && note.velocity <= 127);
        }
    }
}
