//! Standard MIDI files <-> notes in beats (midly).
//!
//! Reading merges every track, follows the file's PPQ (or SMPTE timing) and tempo map, applies
//! the sustain pedal (CC64) to note lengths, and leaves out the drum channel unless asked.
//! Writing produces a single-track file at a given tempo and meter.

use std::path::Path;

use midly::num::{u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use crate::bounded_file::{read_regular_file, BoundedReadError};
use crate::tokens::Note;

/// MIDI channel 10, counted from zero: General MIDI drums.
const DRUM_CHANNEL: u8 = 9;
/// Sustain pedal controller number.
const SUSTAIN_CONTROLLER: u8 = 64;
/// Pedal values at or above this hold notes.
const SUSTAIN_DOWN_VALUE: u8 = 64;
/// Tempo assumed before the first tempo event, as the MIDI standard says.
pub const DEFAULT_TEMPO_BPM: f64 = 120.0;
/// Resolution of the files this crate writes.
pub const WRITE_TICKS_PER_BEAT: u16 = 480;
/// Largest MIDI file read, in bytes: 60x the largest file of the shared corpus (280 KB).
pub const MAX_MIDI_FILE_BYTES: u64 = 16 << 20;
/// Most notes a file may hold: far more than any piece of the shared corpus. With the rests
/// bounded when tokenizing, this bounds a file's tokens too (see `tokens::MAX_TOKENS_PER_NOTE`).
pub const MAX_NOTES_PER_FILE: usize = 500_000;

/// Why a MIDI file could not be used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum MidiError {
    #[error("{file}: {source}")]
    Io { file: String, source: BoundedReadError },
    #[error("{file}: not a valid MIDI file: {reason}")]
    Invalid { file: String, reason: String },
    #[error("{file}: holds no notes")]
    NoNotes { file: String },
    #[error("{file}: holds more than {limit} notes")]
    TooManyNotes { file: String, limit: usize },
}

/// How to read a file.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// Keep notes on channel 10 (drums), which are left out by default: they are not pitches.
    pub include_drums: bool,
}

/// A tempo from a given beat on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TempoChange {
    /// Where the tempo starts, in beats.
    pub beat: f64,
    /// Quarter notes per minute.
    pub bpm: f64,
}

/// A piece read from a file: its notes in beats and what is needed to play them back in time.
#[derive(Clone, Debug, PartialEq)]
pub struct Song {
    /// Every note of every track (drums aside), sorted by onset then pitch.
    pub notes: Vec<Note>,
    /// Tempo changes in beat order; the first is at beat 0.
    pub tempo_map: Vec<TempoChange>,
    /// The first time signature (numerator, denominator), 4/4 if none is given.
    pub time_signature: (u8, u8),
}

impl Song {
    /// The tempo at the start of the piece.
    pub fn initial_tempo_bpm(&self) -> f64 {
        self.tempo_map.first().map_or(DEFAULT_TEMPO_BPM, |change| change.bpm)
    }

    /// Quarter-note beats in one bar of the first time signature.
    pub fn beats_per_bar(&self) -> f64 {
        let (numerator, denominator) = self.time_signature;
        numerator as f64 * 4.0 / denominator as f64
    }

    /// Seconds from the start to a beat, following the tempo map.
    pub fn seconds_at(&self, beat: f64) -> f64 {
        let mut seconds = 0.0;
        for (index, change) in self.tempo_map.iter().enumerate() {
            let end = self.tempo_map.get(index + 1).map_or(f64::INFINITY, |next| next.beat);
            if beat <= change.beat {
                break;
            }
            seconds += (beat.min(end) - change.beat) * 60.0 / change.bpm;
        }
        seconds
    }

    /// Where the last note ends, in beats.
    pub fn length_beats(&self) -> f64 {
        self.notes.iter().map(Note::end_beats).fold(0.0, f64::max)
    }
}

/// Reads a `.mid` file: a regular file (not a FIFO or a device) of at most
/// [`MAX_MIDI_FILE_BYTES`].
pub fn read_midi_file(path: &Path, options: ReadOptions) -> Result<Song, MidiError> {
    let file = path.display().to_string();
    let bytes =
        read_regular_file(path, MAX_MIDI_FILE_BYTES).map_err(|source| MidiError::Io { file: file.clone(), source })?;
    parse_midi(&bytes, &file, options)
}

/// Whether a header chunk has a division of 0x80xx (SMPTE timing at -128 frames per second).
/// midly 0.5.3 negates that byte as an `i8`, which overflows: a panic wherever overflow checks
/// are on (tests, debug builds, the fuzzers). Any "MThd" followed by such a division counts, so
/// a RIFF-wrapped header or one behind unknown chunks is caught too. Found by fuzzing
/// (fuzz/regressions/midi_file/smpte_division_minus_128_fps.mid).
fn has_minus_128_fps_header(bytes: &[u8]) -> bool {
    const DIVISION_OFFSET: usize = 12;
    bytes.windows(DIVISION_OFFSET + 2).any(|chunk| chunk.starts_with(b"MThd") && chunk[DIVISION_OFFSET] == 0x80)
}

/// Parses MIDI bytes; `file` names them in errors. A file of more than [`MAX_NOTES_PER_FILE`]
/// notes is refused as soon as the count passes it.
pub fn parse_midi(bytes: &[u8], file: &str, options: ReadOptions) -> Result<Song, MidiError> {
    let invalid = |reason: String| MidiError::Invalid { file: file.to_string(), reason };
    if has_minus_128_fps_header(bytes) {
        return Err(invalid("SMPTE timing of -128 frames per second".into()));
    }
    let smf = Smf::parse(bytes).map_err(|error| invalid(error.to_string()))?;
    let clock = Clock::new(smf.header.timing).map_err(invalid)?;
    let mut timed = merged_events(&smf.tracks);
    timed.sort_by_key(|event| event.tick);

    let mut song = Song { notes: Vec::new(), tempo_map: Vec::new(), time_signature: (4, 4) };
    let mut seen_time_signature = false;
    let mut keys = KeyTracker::default();
    for event in timed {
        let beat = clock.beats(event.tick);
        match event.kind {
            TrackEventKind::Meta(MetaMessage::Tempo(micros_per_beat)) if clock.is_metrical() => {
                let bpm = 60_000_000.0 / micros_per_beat.as_int().max(1) as f64;
                push_tempo(&mut song.tempo_map, TempoChange { beat, bpm });
            }
            TrackEventKind::Meta(MetaMessage::TimeSignature(numerator, denominator_power, _, _))
                if !seen_time_signature && numerator > 0 && denominator_power < 7 =>
            {
                song.time_signature = (numerator, 1 << denominator_power);
                seen_time_signature = true;
            }
            TrackEventKind::Midi { channel, message } => {
                let channel = channel.as_int();
                if channel != DRUM_CHANNEL || options.include_drums {
                    keys.handle(channel, message, beat, &mut song.notes);
                    refuse_too_many_notes(&song.notes, file)?;
                }
            }
            _ => {}
        }
    }
    keys.finish(&mut song.notes);
    refuse_too_many_notes(&song.notes, file)?;
    if song.tempo_map.first().is_none_or(|first| first.beat > 0.0) {
        song.tempo_map.insert(0, TempoChange { beat: 0.0, bpm: DEFAULT_TEMPO_BPM });
    }
    if song.notes.is_empty() {
        return Err(MidiError::NoNotes { file: file.to_string() });
    }
    song.notes.sort_by(|a, b| a.start_beats.total_cmp(&b.start_beats).then(a.pitch.cmp(&b.pitch)));
    Ok(song)
}

fn refuse_too_many_notes(notes: &[Note], file: &str) -> Result<(), MidiError> {
    if notes.len() > MAX_NOTES_PER_FILE {
        return Err(MidiError::TooManyNotes { file: file.to_string(), limit: MAX_NOTES_PER_FILE });
    }
    Ok(())
}

fn push_tempo(map: &mut Vec<TempoChange>, change: TempoChange) {
    match map.last_mut() {
        Some(last) if last.beat == change.beat => *last = change,
        _ => map.push(change),
    }
}

/// An event of any track at its absolute tick.
struct TimedEvent<'a> {
    tick: u64,
    kind: TrackEventKind<'a>,
}

fn merged_events<'a>(tracks: &[Vec<TrackEvent<'a>>]) -> Vec<TimedEvent<'a>> {
    let mut merged = Vec::new();
    for track in tracks {
        let mut tick = 0u64;
        for event in track {
            tick += event.delta.as_int() as u64;
            merged.push(TimedEvent { tick, kind: event.kind });
        }
    }
    merged
}

/// Turns file ticks into beats.
enum Clock {
    /// Ticks per quarter note.
    Metrical(f64),
    /// Ticks per second; beats follow at the default tempo.
    Timecode(f64),
}

impl Clock {
    fn new(timing: Timing) -> Result<Self, String> {
        match timing {
            Timing::Metrical(ticks) if ticks.as_int() > 0 => Ok(Clock::Metrical(ticks.as_int() as f64)),
            Timing::Metrical(_) => Err("zero ticks per quarter note".to_string()),
            Timing::Timecode(fps, subframes) => {
                Ok(Clock::Timecode(fps.as_f32() as f64 * subframes.max(1) as f64))
            }
        }
    }

    fn is_metrical(&self) -> bool {
        matches!(self, Clock::Metrical(_))
    }

    fn beats(&self, tick: u64) -> f64 {
        match *self {
            Clock::Metrical(per_beat) => tick as f64 / per_beat,
            Clock::Timecode(per_second) => tick as f64 / per_second * DEFAULT_TEMPO_BPM / 60.0,
        }
    }
}

/// A key held down (or held by the pedal).
#[derive(Clone, Copy)]
struct HeldKey {
    start_beats: f64,
    velocity: u8,
    /// The key is up, but the pedal holds the note.
    released: bool,
}

/// Pairs note-ons with note-offs per channel and key, applying the sustain pedal.
struct KeyTracker {
    held: Vec<Option<HeldKey>>,
    pedal_down: [bool; 16],
    /// The beat of the last event, where notes still held at the end stop.
    last_beat: f64,
}

impl Default for KeyTracker {
    fn default() -> Self {
        Self { held: vec![None; 16 * 128], pedal_down: [false; 16], last_beat: 0.0 }
    }
}

impl KeyTracker {
    fn handle(&mut self, channel: u8, message: MidiMessage, beat: f64, notes: &mut Vec<Note>) {
        self.last_beat = self.last_beat.max(beat);
        match message {
            MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                self.end(channel, key.as_int(), beat, notes);
                self.held[slot(channel, key.as_int())] =
                    Some(HeldKey { start_beats: beat, velocity: vel.as_int(), released: false });
            }
            MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                if self.pedal_down[channel as usize] {
                    if let Some(held) = &mut self.held[slot(channel, key.as_int())] {
                        held.released = true;
                    }
                } else {
                    self.end(channel, key.as_int(), beat, notes);
                }
            }
            MidiMessage::Controller { controller, value } if controller.as_int() == SUSTAIN_CONTROLLER => {
                let down = value.as_int() >= SUSTAIN_DOWN_VALUE;
                if self.pedal_down[channel as usize] && !down {
                    for key in 0..128 {
                        if self.held[slot(channel, key)].is_some_and(|held| held.released) {
                            self.end(channel, key, beat, notes);
                        }
                    }
                }
                self.pedal_down[channel as usize] = down;
            }
            _ => {}
        }
    }

    fn end(&mut self, channel: u8, key: u8, beat: f64, notes: &mut Vec<Note>) {
        if let Some(held) = self.held[slot(channel, key)].take() {
            notes.push(Note {
                pitch: key,
                velocity: held.velocity,
                start_beats: held.start_beats,
                duration_beats: beat - held.start_beats,
            });
        }
    }

    /// Ends notes still held when the file ends.
    fn finish(&mut self, notes: &mut Vec<Note>) {
        for channel in 0..16u8 {
            for key in 0..128u8 {
                self.end(channel, key, self.last_beat, notes);
            }
        }
    }
}

fn slot(channel: u8, key: u8) -> usize {
    channel as usize * 128 + key as usize
}

/// Writes notes as a single-track MIDI file (format 0) at a constant tempo and meter.
pub fn write_midi(notes: &[Note], tempo_bpm: f64, time_signature: (u8, u8)) -> Vec<u8> {
    let per_beat = WRITE_TICKS_PER_BEAT as f64;
    let mut events: Vec<(u64, u8, MidiMessage)> = Vec::with_capacity(notes.len() * 2);
    for note in notes {
        let start = (note.start_beats * per_beat).round() as u64;
        let end = ((note.end_beats() * per_beat).round() as u64).max(start + 1);
        let key = u7::new(note.pitch.min(127));
        events.push((start, 1, MidiMessage::NoteOn { key, vel: u7::new(note.velocity.clamp(1, 127)) }));
        events.push((end, 0, MidiMessage::NoteOff { key, vel: u7::new(0) }));
    }
    // Offs before ons at the same tick, so a re-struck key is released before it sounds again.
    events.sort_by_key(|&(tick, order, message)| (tick, order, message_key(message)));

    let micros_per_beat = (60_000_000.0 / tempo_bpm).round() as u32;
    let denominator_power = time_signature.1.max(1).trailing_zeros() as u8;
    let mut track = vec![
        meta(0, MetaMessage::Tempo(u24::new(micros_per_beat))),
        meta(0, MetaMessage::TimeSignature(time_signature.0, denominator_power, 24, 8)),
    ];
    let mut last_tick = 0;
    for (tick, _, message) in events {
        track.push(TrackEvent {
            delta: u28::new((tick - last_tick) as u32),
            kind: TrackEventKind::Midi { channel: u4::new(0), message },
        });
        last_tick = tick;
    }
    track.push(meta(0, MetaMessage::EndOfTrack));
    let header = Header::new(Format::SingleTrack, Timing::Metrical(u15::new(WRITE_TICKS_PER_BEAT)));
    let smf = Smf { header, tracks: vec![track] };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).expect("writing to memory cannot fail");
    bytes
}

fn meta(delta: u32, message: MetaMessage<'static>) -> TrackEvent<'static> {
    TrackEvent { delta: u28::new(delta), kind: TrackEventKind::Meta(message) }
}

fn message_key(message: MidiMessage) -> u8 {
    match message {
        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => key.as_int(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(pitch: u8, start_beats: f64, duration_beats: f64) -> Note {
        Note { pitch, velocity: 90, start_beats, duration_beats }
    }

    #[test]
    fn written_notes_read_back_unchanged() {
        let notes = vec![note(60, 0.0, 1.0), note(64, 0.5, 0.25), note(67, 1.0, 2.0)];
        let bytes = write_midi(&notes, 96.0, (3, 4));
        let song = parse_midi(&bytes, "memory", ReadOptions::default()).unwrap();
        assert_eq!(song.notes, notes);
        assert_eq!(song.time_signature, (3, 4));
        assert!((song.initial_tempo_bpm() - 96.0).abs() < 1e-3);
    }

    #[test]
    fn garbage_is_refused_with_the_file_name() {
        let error = parse_midi(b"MThd garbage", "song.mid", ReadOptions::default()).unwrap_err();
        assert!(error.to_string().starts_with("song.mid: not a valid MIDI file"), "{error}");
    }

    #[test]
    fn seconds_follow_the_tempo_map() {
        let song = Song {
            notes: vec![],
            tempo_map: vec![TempoChange { beat: 0.0, bpm: 120.0 }, TempoChange { beat: 4.0, bpm: 60.0 }],
            time_signature: (4, 4),
        };
        assert!((song.seconds_at(4.0) - 2.0).abs() < 1e-9);
        assert!((song.seconds_at(6.0) - 4.0).abs() < 1e-9);
    }
}
