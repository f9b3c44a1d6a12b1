//! Reading real and hand-made MIDI files: tempo maps, resolution, the sustain pedal, drums, and
//! files that are corrupt or cut short.

use std::path::{Path, PathBuf};

use continuo::midi_file::{parse_midi, read_midi_file, write_midi, MidiError, ReadOptions, MAX_NOTES_PER_FILE};
use continuo::tokens::{decode_tokens, encode_notes, Note, MAX_REST_TICKS, MAX_TOKENS_PER_NOTE, TICKS_PER_BEAT};
use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// A raw event for hand-made files: ticks since the previous event, and what happens.
enum Raw {
    Tempo(f64),
    On(u8, u8),
    Off(u8),
    Pedal(bool),
}

/// Builds a format-0 file at `ticks_per_beat` on channel `channel` from `(delta ticks, event)`.
fn smf_bytes(ticks_per_beat: u16, channel: u8, events: &[(u32, Raw)]) -> Vec<u8> {
    let mut track: Vec<TrackEvent> = events
        .iter()
        .map(|(delta, raw)| {
            let midi = |message| TrackEventKind::Midi { channel: u4::new(channel), message };
            let kind = match *raw {
                Raw::Tempo(bpm) => TrackEventKind::Meta(MetaMessage::Tempo(u24::new((60e6 / bpm) as u32))),
                Raw::On(key, vel) => midi(MidiMessage::NoteOn { key: u7::new(key), vel: u7::new(vel) }),
                Raw::Off(key) => midi(MidiMessage::NoteOff { key: u7::new(key), vel: u7::new(0) }),
                Raw::Pedal(down) => midi(MidiMessage::Controller {
                    controller: u7::new(64),
                    value: u7::new(if down { 127 } else { 0 }),
                }),
            };
            TrackEvent { delta: u28::new(*delta), kind }
        })
        .collect();
    track.push(TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::EndOfTrack) });
    let smf = Smf {
        header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(ticks_per_beat))),
        tracks: vec![track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).unwrap();
    bytes
}

/// A short melody in ticks of `per_beat`, with optional tempo events interleaved.
fn melody(per_beat: u32, tempi: &[f64]) -> Vec<(u32, Raw)> {
    let mut events = vec![];
    for (index, pitch) in [60u8, 62, 64, 65, 67].into_iter().enumerate() {
        if let Some(&bpm) = tempi.get(index) {
            events.push((0, Raw::Tempo(bpm)));
        }
        events.push((0, Raw::On(pitch, 90)));
        events.push((per_beat / 2, Raw::Off(pitch)));
        events.push((per_beat / 4, Raw::Off(pitch)));
    }
    events
}

fn tokens_of(bytes: &[u8]) -> Vec<u16> {
    encode_notes(&parse_midi(bytes, "test", ReadOptions::default()).unwrap().notes).tokens
}

#[test]
fn tempo_changes_do_not_change_the_tokens() {
    let steady = smf_bytes(480, 0, &melody(480, &[120.0]));
    let changing = smf_bytes(480, 0, &melody(480, &[60.0, 140.0, 90.0, 200.0, 75.0]));
    assert_eq!(tokens_of(&steady), tokens_of(&changing));
}

#[test]
fn the_tempo_map_gives_seconds() {
    let song = parse_midi(&smf_bytes(480, 0, &melody(480, &[60.0, 120.0])), "t", ReadOptions::default()).unwrap();
    // First note-on at beat 0 (60 bpm), second tempo at beat 0.75: 0.75 s, then 120 bpm.
    assert_eq!(song.tempo_map.len(), 2);
    assert!((song.seconds_at(0.75) - 0.75).abs() < 1e-9);
    assert!((song.seconds_at(1.75) - 1.25).abs() < 1e-9);
}

#[test]
fn resolution_does_not_change_the_tokens() {
    assert_eq!(tokens_of(&smf_bytes(96, 0, &melody(96, &[]))), tokens_of(&smf_bytes(960, 0, &melody(960, &[]))));
}

#[test]
fn the_sustain_pedal_holds_released_notes_until_it_lifts() {
    let events = [
        (0, Raw::Pedal(true)),
        (0, Raw::On(60, 80)),
        (240, Raw::Off(60)),
        (720, Raw::Pedal(false)),
        (0, Raw::On(64, 80)),
        (240, Raw::Off(64)),
    ];
    let song = parse_midi(&smf_bytes(480, 0, &events), "pedal", ReadOptions::default()).unwrap();
    let lengths: Vec<(u8, f64)> = song.notes.iter().map(|n| (n.pitch, n.duration_beats)).collect();
    assert_eq!(lengths, vec![(60, 2.0), (64, 0.5)]);
}

#[test]
fn a_restruck_key_under_the_pedal_ends_the_held_note() {
    let events = [(0, Raw::Pedal(true)), (0, Raw::On(60, 80)), (240, Raw::Off(60)), (240, Raw::On(60, 70)), (480, Raw::Off(60)), (0, Raw::Pedal(false))];
    let song = parse_midi(&smf_bytes(480, 0, &events), "restrike", ReadOptions::default()).unwrap();
    let notes: Vec<(f64, f64)> = song.notes.iter().map(|n| (n.start_beats, n.duration_beats)).collect();
    assert_eq!(notes, vec![(0.0, 1.0), (1.0, 1.0)]);
}

#[test]
fn drums_are_left_out_unless_asked_for() {
    let bytes = smf_bytes(480, 9, &melody(480, &[]));
    assert!(matches!(parse_midi(&bytes, "drums.mid", ReadOptions::default()), Err(MidiError::NoNotes { .. })));
    let with_drums = parse_midi(&bytes, "drums.mid", ReadOptions { include_drums: true }).unwrap();
    assert_eq!(with_drums.notes.len(), 5);
}

#[test]
fn truncated_and_corrupt_files_are_refused_naming_the_file() {
    let bytes = smf_bytes(480, 0, &melody(480, &[]));
    for cut in [bytes.len() - 3, bytes.len() / 2, 20] {
        let error = parse_midi(&bytes[..cut], "cut.mid", ReadOptions::default()).unwrap_err();
        assert!(error.to_string().starts_with("cut.mid: not a valid MIDI file"), "{error}");
    }
    let error = parse_midi(b"RIFF....WAVEfmt ", "sound.wav", ReadOptions::default()).unwrap_err();
    assert!(error.to_string().starts_with("sound.wav: not a valid MIDI file"), "{error}");
    let missing = read_midi_file(Path::new("no/such/file.mid"), ReadOptions::default()).unwrap_err();
    assert!(missing.to_string().starts_with("no/such/file.mid: cannot read"), "{missing}");
}

#[test]
fn written_files_keep_tempo_meter_and_notes() {
    let notes = vec![
        Note { pitch: 48, velocity: 100, start_beats: 0.0, duration_beats: 3.0 },
        Note { pitch: 72, velocity: 30, start_beats: 1.0 / 3.0, duration_beats: 1.0 / 6.0 },
    ];
    let song = parse_midi(&write_midi(&notes, 72.0, (6, 8)), "w", ReadOptions::default()).unwrap();
    assert_eq!(song.time_signature, (6, 8));
    assert!((song.initial_tempo_bpm() - 72.0).abs() < 1e-3);
    assert_eq!(decode_tokens(&encode_notes(&song.notes).tokens).len(), 2);
}

/// Largest delta time a MIDI file can hold, in file ticks.
const MAX_DELTA_TICKS: u32 = (1 << 28) - 1;

/// Failed before (ran out of memory): at one tick per beat every gap of this 1 KB file is
/// 2^28 beats, which became 67 million time shifts each.
#[test]
fn a_tiny_file_of_huge_delta_times_encodes_to_a_bounded_number_of_tokens() {
    let notes = 64;
    let events: Vec<(u32, Raw)> =
        (0..notes).flat_map(|i| [(MAX_DELTA_TICKS, Raw::On(40 + i, 90)), (MAX_DELTA_TICKS, Raw::Off(40 + i))]).collect();
    let bytes = smf_bytes(1, 0, &events);
    assert!(bytes.len() <= 1024, "{} bytes", bytes.len());
    let song = parse_midi(&bytes, "huge-deltas.mid", ReadOptions::default()).unwrap();
    assert_eq!(song.notes.len(), notes as usize);
    let encoded = encode_notes(&song.notes);
    assert!(encoded.tokens.len() <= 2 + MAX_TOKENS_PER_NOTE * notes as usize, "{} tokens", encoded.tokens.len());
    let decoded = decode_tokens(&encoded.tokens);
    assert_eq!(decoded.len(), notes as usize, "every note is kept");
    let rest_beats = (MAX_REST_TICKS / TICKS_PER_BEAT as u64) as f64;
    assert_eq!(decoded[1].start_beats - decoded[0].start_beats, 2.0 * rest_beats, "each gap became the longest rest");
}

/// Failed before: any number of notes was accepted.
#[test]
fn a_file_of_too_many_notes_is_refused_naming_it() {
    let events: Vec<(u32, Raw)> =
        (0..=MAX_NOTES_PER_FILE).flat_map(|i| [(1, Raw::On(40 + (i % 50) as u8, 90)), (1, Raw::Off(40 + (i % 50) as u8))]).collect();
    let error = parse_midi(&smf_bytes(96, 0, &events), "busy.mid", ReadOptions::default()).unwrap_err();
    assert_eq!(error.to_string(), format!("busy.mid: holds more than {MAX_NOTES_PER_FILE} notes"));
}

/// Failed before: reading a FIFO blocked until a writer came, `/dev/zero` until memory ran out.
#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_without_blocking() {
    let directory = tempfile::tempdir().unwrap();
    let fifo = directory.path().join("song.mid");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for (path, problem) in [(fifo, "a FIFO"), (PathBuf::from("/dev/zero"), "a character device")] {
        let (sender, receiver) = std::sync::mpsc::channel();
        let reading = path.clone();
        std::thread::spawn(move || sender.send(read_midi_file(&reading, ReadOptions::default()).map(|_| ())));
        let result = receiver.recv_timeout(std::time::Duration::from_secs(60)).expect("the read returns instead of blocking");
        let error = result.unwrap_err().to_string();
        assert_eq!(error, format!("{}: not a regular file ({problem})", path.display()));
    }
}

/// The Bach chorales of the shared corpus, when present beside the repository.
fn corpus_files(collection: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/corpus").join(collection);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error} (the shared data must sit beside the repository)", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
fn real_chorales_round_trip_through_tokens() {
    let files = corpus_files("music21_bach");
    assert!(files.len() > 400);
    for path in files {
        let song = read_midi_file(&path, ReadOptions::default()).unwrap();
        let encoded = encode_notes(&song.notes);
        let decoded = decode_tokens(&encoded.tokens);
        assert_eq!(decoded.len() + encoded.duplicates_dropped, song.notes.len(), "{}", path.display());
        assert_eq!(encode_notes(&decoded).tokens, encoded.tokens, "{}", path.display());
    }
}
