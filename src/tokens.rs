//! The event vocabulary: notes in beats <-> tokens the model reads and writes.
//!
//! Time is counted in ticks of a beat-relative grid (`TICKS_PER_BEAT` = 24 per quarter note), so
//! 16ths, 32nds and triplets fall exactly on the grid and a phrase gives the same tokens at any
//! tempo. Events that share a tick are written in one canonical order (note-offs before note-ons,
//! each by ascending pitch), so every piano roll has exactly one encoding.
//!
//! [`SequenceState`] follows a token stream (sounding notes, velocity, time). The decoder, the
//! live encoder, the grammar mask and the model's conditioning features are all built on it, so
//! training and inference see the same state from the same code.

/// Grid resolution: ticks per quarter note. 24 holds 16ths (6), 32nds (3) and triplets (8, 4).
pub const TICKS_PER_BEAT: u32 = 24;
/// Lowest pitch the vocabulary holds (A0, the piano's lowest key).
pub const PITCH_MIN: u8 = 21;
/// Highest pitch the vocabulary holds (C8, the piano's highest key).
pub const PITCH_MAX: u8 = 108;
/// Number of pitches in the vocabulary.
pub const PITCH_COUNT: usize = (PITCH_MAX - PITCH_MIN) as usize + 1;
/// Number of velocity bins (MIDI velocity / 4).
pub const VELOCITY_BINS: usize = 32;
/// Longest single time shift, in ticks (one 4/4 bar); longer gaps chain several shifts.
pub const MAX_SHIFT_TICKS: u32 = 4 * TICKS_PER_BEAT;
/// Longest time between two events that encoding keeps, in ticks (four 4/4 bars): a longer
/// rest is shortened to this, so a file's tokens stay bounded by its notes (a 1 KB file with
/// huge delta times would otherwise ask for billions of time shifts).
pub const MAX_REST_TICKS: u64 = 16 * TICKS_PER_BEAT as u64;
/// Most tokens one note adds to an encoding: a velocity, its on and off, and the time shifts
/// before each of those two ticks (a rest of at most `MAX_REST_TICKS`).
pub const MAX_TOKENS_PER_NOTE: usize = 3 + 2 * (MAX_REST_TICKS as usize).div_ceil(MAX_SHIFT_TICKS as usize);
/// Bumped whenever token ids change meaning; model files record the version they were trained on.
pub const VOCAB_VERSION: u32 = 1;

const NOTE_ON_BASE: usize = 3;
const NOTE_OFF_BASE: usize = NOTE_ON_BASE + PITCH_COUNT;
const VELOCITY_BASE: usize = NOTE_OFF_BASE + PITCH_COUNT;
const TIME_SHIFT_BASE: usize = VELOCITY_BASE + VELOCITY_BINS;
/// Number of distinct tokens.
pub const VOCAB_SIZE: usize = TIME_SHIFT_BASE + MAX_SHIFT_TICKS as usize;
/// Velocity bin assumed before any velocity token (MIDI velocity 82).
pub const DEFAULT_VELOCITY_BIN: u8 = 20;

/// Length of the conditioning feature vector: the sounding notes, then the one-hot tick within
/// the beat.
pub const FEATURE_COUNT: usize = PITCH_COUNT + TICKS_PER_BEAT as usize;

/// A token id, an index into the vocabulary.
pub type Token = u16;

/// One vocabulary entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// Padding after a sequence's end (never predicted).
    Pad,
    /// The start of a sequence: the state a model is reset to.
    Start,
    /// The end of a piece.
    End,
    /// A key goes down (pitch within `PITCH_MIN..=PITCH_MAX`).
    NoteOn(u8),
    /// A key goes up.
    NoteOff(u8),
    /// The velocity bin for the note-ons that follow.
    Velocity(u8),
    /// Time moves on by this many ticks (1..=`MAX_SHIFT_TICKS`).
    TimeShift(u32),
}

impl Event {
    /// The token id of this event. Panics on values outside the vocabulary.
    pub fn token(self) -> Token {
        let index = match self {
            Event::Pad => 0,
            Event::Start => 1,
            Event::End => 2,
            Event::NoteOn(pitch) => NOTE_ON_BASE + pitch_index(pitch),
            Event::NoteOff(pitch) => NOTE_OFF_BASE + pitch_index(pitch),
            Event::Velocity(bin) => {
                assert!((bin as usize) < VELOCITY_BINS, "velocity bin {bin} out of range");
                VELOCITY_BASE + bin as usize
            }
            Event::TimeShift(ticks) => {
                assert!((1..=MAX_SHIFT_TICKS).contains(&ticks), "time shift {ticks} out of range");
                TIME_SHIFT_BASE + ticks as usize - 1
            }
        };
        index as Token
    }

    /// The event a token id stands for, or `None` for ids outside the vocabulary.
    pub fn from_token(token: Token) -> Option<Event> {
        let index = token as usize;
        Some(match index {
            0 => Event::Pad,
            1 => Event::Start,
            2 => Event::End,
            i if i < NOTE_OFF_BASE => Event::NoteOn(PITCH_MIN + (i - NOTE_ON_BASE) as u8),
            i if i < VELOCITY_BASE => Event::NoteOff(PITCH_MIN + (i - NOTE_OFF_BASE) as u8),
            i if i < TIME_SHIFT_BASE => Event::Velocity((i - VELOCITY_BASE) as u8),
            i if i < VOCAB_SIZE => Event::TimeShift((i - TIME_SHIFT_BASE) as u32 + 1),
            _ => return None,
        })
    }
}

/// What an event does, the unit of the figures split by kind and of the repeat pointer's
/// learned bonus (a repeated note-on is worth trusting more than a repeated time shift).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    NoteOn,
    NoteOff,
    Velocity,
    TimeShift,
    /// `End` (and `Start` and `Pad`, which are never predicted).
    End,
}

impl EventKind {
    /// Every kind, in the order of their indices.
    pub const ALL: [EventKind; 5] = [EventKind::NoteOn, EventKind::NoteOff, EventKind::Velocity, EventKind::TimeShift, EventKind::End];

    /// The kind of a token's event (tokens outside the vocabulary count as `End`).
    pub fn of(token: Token) -> EventKind {
        match Event::from_token(token) {
            Some(Event::NoteOn(_)) => EventKind::NoteOn,
            Some(Event::NoteOff(_)) => EventKind::NoteOff,
            Some(Event::Velocity(_)) => EventKind::Velocity,
            Some(Event::TimeShift(_)) => EventKind::TimeShift,
            _ => EventKind::End,
        }
    }

    /// Its position in [`EventKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::NoteOn => "note-on",
            EventKind::NoteOff => "note-off",
            EventKind::Velocity => "velocity",
            EventKind::TimeShift => "time shift",
            EventKind::End => "end",
        }
    }
}

fn pitch_index(pitch: u8) -> usize {
    assert!((PITCH_MIN..=PITCH_MAX).contains(&pitch), "pitch {pitch} outside the vocabulary");
    (pitch - PITCH_MIN) as usize
}

/// The velocity bin of a MIDI velocity (1..=127).
pub fn velocity_bin(velocity: u8) -> u8 {
    (velocity / 4).min(VELOCITY_BINS as u8 - 1)
}

/// The MIDI velocity a bin decodes to: the middle of the bin.
pub fn bin_velocity(bin: u8) -> u8 {
    bin * 4 + 2
}

/// Moves a pitch outside the vocabulary by whole octaves into it (the vocabulary spans more
/// than seven octaves, so every MIDI pitch has a place).
pub fn fold_pitch(pitch: u8) -> u8 {
    let mut folded = pitch;
    while folded < PITCH_MIN {
        folded += 12;
    }
    while folded > PITCH_MAX {
        folded -= 12;
    }
    folded
}

/// Converts beats to grid ticks, rounding to the nearest tick.
pub fn beats_to_ticks(beats: f64) -> u64 {
    (beats.max(0.0) * TICKS_PER_BEAT as f64).round() as u64
}

/// Converts grid ticks to beats.
pub fn ticks_to_beats(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_BEAT as f64
}

/// A note in musical time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Note {
    /// MIDI pitch.
    pub pitch: u8,
    /// MIDI velocity (1..=127).
    pub velocity: u8,
    /// Onset, in quarter-note beats from the start of the piece or phrase.
    pub start_beats: f64,
    /// Length, in quarter-note beats.
    pub duration_beats: f64,
}

impl Note {
    /// Where the note ends, in beats.
    pub fn end_beats(&self) -> f64 {
        self.start_beats + self.duration_beats
    }
}

/// A key event on the grid, as the encoder consumes and the decoder produces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyEvent {
    /// Key down with a MIDI velocity.
    On { pitch: u8, velocity: u8 },
    /// Key up.
    Off { pitch: u8 },
}

impl KeyEvent {
    /// Canonical order within one tick: offs before ons, then ascending pitch.
    fn order_key(self) -> (u8, u8) {
        match self {
            KeyEvent::Off { pitch } => (0, pitch),
            KeyEvent::On { pitch, .. } => (1, pitch),
        }
    }
}

/// Where the last event of the current tick sits in the canonical order, for the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TickPosition {
    /// Nothing yet at this tick.
    Fresh,
    /// After this key event (order key).
    After((u8, u8)),
}

/// The state a token stream leaves behind: time, velocity, the notes sounding. Fixed size, no
/// allocation, so the audio thread and the engine can keep one.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceState {
    /// Ticks since the start of the sequence.
    tick: u64,
    /// The velocity bin the next note-on will have.
    velocity_bin: u8,
    /// True after a velocity token, until the note-on it announces.
    velocity_pending: bool,
    /// True after a time shift shorter than the maximum: a second shift would not be canonical.
    shift_closed: bool,
    /// Onset tick of each sounding pitch (index `pitch - PITCH_MIN`).
    sounding_since: [Option<u64>; PITCH_COUNT],
    /// The pitch of the latest note-on, where a melodic line goes on from.
    last_onset: Option<u8>,
    /// Position in the canonical order within the current tick.
    position: TickPosition,
}

impl Default for SequenceState {
    fn default() -> Self {
        Self {
            tick: 0,
            velocity_bin: DEFAULT_VELOCITY_BIN,
            velocity_pending: false,
            shift_closed: false,
            sounding_since: [None; PITCH_COUNT],
            last_onset: None,
            position: TickPosition::Fresh,
        }
    }
}

/// What applying one event did to the notes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Played {
    /// A note started at `tick`.
    On { pitch: u8, velocity: u8, tick: u64 },
    /// A note that started at `since` ended at `tick`.
    Off { pitch: u8, since: u64, tick: u64 },
}

impl SequenceState {
    /// Ticks since the start of the sequence.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Whether a pitch is sounding.
    pub fn is_sounding(&self, pitch: u8) -> bool {
        (PITCH_MIN..=PITCH_MAX).contains(&pitch)
            && self.sounding_since[pitch_index(pitch)].is_some()
    }

    /// The pitch of the latest note-on, if any.
    pub fn last_onset(&self) -> Option<u8> {
        self.last_onset
    }

    /// How many notes are sounding.
    pub fn sounding_count(&self) -> usize {
        self.sounding_since.iter().filter(|since| since.is_some()).count()
    }

    /// The sounding pitches, ascending.
    pub fn sounding(&self) -> impl Iterator<Item = u8> + '_ {
        (PITCH_MIN..=PITCH_MAX).filter(|&pitch| self.is_sounding(pitch))
    }

    /// Applies one event. A note-on for a sounding pitch first ends it (a re-strike); a note-off
    /// for a silent pitch does nothing. `played` hears each note that starts or ends.
    pub fn apply(&mut self, event: Event, mut played: impl FnMut(Played)) {
        match event {
            Event::Pad | Event::Start | Event::End => {}
            Event::TimeShift(ticks) => {
                self.tick += ticks as u64;
                self.shift_closed = ticks < MAX_SHIFT_TICKS;
                self.position = TickPosition::Fresh;
                self.velocity_pending = false;
            }
            Event::Velocity(bin) => {
                self.velocity_bin = bin;
                self.velocity_pending = true;
                self.shift_closed = false;
            }
            Event::NoteOn(pitch) => {
                if let Some(off) = self.release(pitch) {
                    played(off);
                }
                self.sounding_since[pitch_index(pitch)] = Some(self.tick);
                self.last_onset = Some(pitch);
                self.after_key(KeyEvent::On { pitch, velocity: 0 });
                played(Played::On { pitch, velocity: bin_velocity(self.velocity_bin), tick: self.tick });
            }
            Event::NoteOff(pitch) => {
                if let Some(off) = self.release(pitch) {
                    played(off);
                }
                self.after_key(KeyEvent::Off { pitch });
            }
        }
    }

    /// Applies a token id; ids outside the vocabulary are ignored.
    pub fn apply_token(&mut self, token: Token, played: impl FnMut(Played)) {
        if let Some(event) = Event::from_token(token) {
            self.apply(event, played);
        }
    }

    fn release(&mut self, pitch: u8) -> Option<Played> {
        let since = self.sounding_since[pitch_index(pitch)].take()?;
        Some(Played::Off { pitch, since, tick: self.tick })
    }

    fn after_key(&mut self, key: KeyEvent) {
        self.position = TickPosition::After(key.order_key());
        self.velocity_pending = false;
        self.shift_closed = false;
    }

    /// Ends every sounding note at the current tick.
    pub fn release_all(&mut self, mut played: impl FnMut(Played)) {
        for pitch in PITCH_MIN..=PITCH_MAX {
            if let Some(off) = self.release(pitch) {
                played(off);
            }
        }
    }

    /// Whether `event` can follow in a canonical encoding: no note-off for a silent pitch, no
    /// note-on for a sounding one, the canonical order within a tick, a velocity token only
    /// before a note-on and only when the bin changes, and time shifts chained only after full
    /// ones. Masking the rest gives a proper distribution over piano rolls.
    pub fn is_legal(&self, event: Event) -> bool {
        let after = |key: KeyEvent| match self.position {
            TickPosition::Fresh => true,
            TickPosition::After(last) => key.order_key() > last,
        };
        match event {
            Event::Pad | Event::Start => false,
            Event::End => !self.velocity_pending,
            Event::TimeShift(_) => !self.velocity_pending && !self.shift_closed,
            Event::Velocity(bin) => !self.velocity_pending && bin != self.velocity_bin,
            Event::NoteOn(pitch) => {
                !self.is_sounding(pitch) && after(KeyEvent::On { pitch, velocity: 0 })
            }
            Event::NoteOff(pitch) => {
                !self.velocity_pending && self.is_sounding(pitch) && after(KeyEvent::Off { pitch })
            }
        }
    }

    /// Writes the conditioning features the model sees beside each token: 1.0 for each
    /// sounding pitch, then a one-hot of the tick within the beat. `out` has `FEATURE_COUNT`
    /// entries.
    pub fn write_features(&self, out: &mut [f32]) {
        out.fill(0.0);
        for (slot, since) in out.iter_mut().zip(self.sounding_since.iter()) {
            if since.is_some() {
                *slot = 1.0;
            }
        }
        out[PITCH_COUNT + self.beat_phase_ticks()] = 1.0;
    }

    /// The indices of the features that are 1.0 (the rest are 0.0), for sparse use: the
    /// sounding pitches, then the beat phase. Returns how many it wrote into `out`.
    pub fn active_features(&self, out: &mut [u16; PITCH_COUNT + 1]) -> usize {
        let mut count = 0;
        for (index, since) in self.sounding_since.iter().enumerate() {
            if since.is_some() {
                out[count] = index as u16;
                count += 1;
            }
        }
        out[count] = (PITCH_COUNT + self.beat_phase_ticks()) as u16;
        count + 1
    }

    fn beat_phase_ticks(&self) -> usize {
        (self.tick % TICKS_PER_BEAT as u64) as usize
    }
}

/// Encodes key events as they happen, in time order, into tokens. Used for whole files (after
/// sorting into canonical order) and live, event by event, by the plugin.
#[derive(Clone, Debug, Default)]
pub struct EventEncoder {
    /// The state of the tokens emitted so far.
    state: SequenceState,
}

impl EventEncoder {
    /// The state of the tokens emitted so far.
    pub fn state(&self) -> &SequenceState {
        &self.state
    }

    /// Emits the tokens for a key event at `tick` (clamped to be no earlier than the last one).
    /// Pitches outside the vocabulary are folded in by octaves; note-offs for notes that are
    /// not sounding and note-ons for sounding ones are repaired (a re-strike emits the off
    /// first), so the output is always grammatical.
    pub fn push(&mut self, tick: u64, key: KeyEvent, mut emit: impl FnMut(Token)) {
        self.advance_to(tick, &mut emit);
        let mut emit_event = |state: &mut SequenceState, event: Event| {
            state.apply(event, |_| {});
            emit(event.token());
        };
        match key {
            KeyEvent::On { pitch, velocity } => {
                let pitch = fold_pitch(pitch);
                if self.state.is_sounding(pitch) {
                    emit_event(&mut self.state, Event::NoteOff(pitch));
                }
                let bin = velocity_bin(velocity.max(1));
                if bin != self.state.velocity_bin {
                    emit_event(&mut self.state, Event::Velocity(bin));
                }
                emit_event(&mut self.state, Event::NoteOn(pitch));
            }
            KeyEvent::Off { pitch } => {
                let pitch = fold_pitch(pitch);
                if self.state.is_sounding(pitch) {
                    emit_event(&mut self.state, Event::NoteOff(pitch));
                }
            }
        }
    }

    /// Emits the time shifts that bring the sequence to `tick`.
    pub fn advance_to(&mut self, tick: u64, mut emit: impl FnMut(Token)) {
        while self.state.tick < tick {
            let shift = (tick - self.state.tick).min(MAX_SHIFT_TICKS as u64) as u32;
            self.state.apply(Event::TimeShift(shift), |_| {});
            emit(Event::TimeShift(shift).token());
        }
    }
}

/// What encoding a list of notes produced, with counts for the data report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Encoded {
    /// `Start`, the events, `End`.
    pub tokens: Vec<Token>,
    /// Notes moved by octaves into the vocabulary's pitch range.
    pub octave_folded: usize,
    /// Notes dropped because another note of the same pitch started on the same tick.
    pub duplicates_dropped: usize,
    /// Ticks taken out of rests longer than `MAX_REST_TICKS`: the encoding ends this much
    /// earlier than the notes did.
    pub rest_ticks_removed: u64,
}

/// Quantizes notes to the grid and encodes them canonically: `Start`, events, `End`.
/// A note shorter than a tick lasts one tick; a note re-struck before it ends is cut at the
/// re-strike; a time between events longer than `MAX_REST_TICKS` is shortened to it. So there
/// are at most `2 + MAX_TOKENS_PER_NOTE * notes.len()` tokens.
pub fn encode_notes(notes: &[Note]) -> Encoded {
    let mut encoded = Encoded::default();
    let mut quantized: Vec<(u8, u8, u64, u64)> = notes
        .iter()
        .map(|note| {
            let pitch = fold_pitch(note.pitch);
            if pitch != note.pitch {
                encoded.octave_folded += 1;
            }
            let start = beats_to_ticks(note.start_beats);
            let end = beats_to_ticks(note.end_beats()).max(start + 1);
            (pitch, note.velocity.max(1), start, end)
        })
        .collect();
    quantized.sort_by_key(|&(pitch, _, start, end)| (pitch, start, end));
    let mut events: Vec<(u64, KeyEvent)> = Vec::with_capacity(quantized.len() * 2);
    for (index, &(pitch, velocity, start, end)) in quantized.iter().enumerate() {
        if index > 0 && quantized[index - 1].0 == pitch && quantized[index - 1].2 == start {
            encoded.duplicates_dropped += 1;
            continue;
        }
        let next_start = quantized[index + 1..]
            .iter()
            .take_while(|next| next.0 == pitch)
            .find(|next| next.2 > start)
            .map_or(u64::MAX, |next| next.2);
        events.push((start, KeyEvent::On { pitch, velocity }));
        events.push((end.min(next_start), KeyEvent::Off { pitch }));
    }
    events.sort_by_key(|&(tick, key)| (tick, key.order_key()));
    encoded.tokens.push(Event::Start.token());
    let mut encoder = EventEncoder::default();
    let mut previous_tick = 0;
    for (tick, key) in events {
        let rest = tick - previous_tick;
        encoded.rest_ticks_removed += rest.saturating_sub(MAX_REST_TICKS);
        previous_tick = tick;
        encoder.push(tick - encoded.rest_ticks_removed, key, |token| encoded.tokens.push(token));
    }
    encoded.tokens.push(Event::End.token());
    encoded
}

/// Decodes tokens into notes, sorted by onset then pitch. Notes still sounding at the end (or
/// at an `End` token) end there, lasting at least one tick.
pub fn decode_tokens(tokens: &[Token]) -> Vec<Note> {
    let mut state = SequenceState::default();
    let mut velocities = [0u8; PITCH_COUNT];
    let mut notes = Vec::new();
    let mut collect = |played: Played, velocities: &mut [u8; PITCH_COUNT]| match played {
        Played::On { pitch, velocity, .. } => velocities[pitch_index(pitch)] = velocity,
        Played::Off { pitch, since, tick } => notes.push(Note {
            pitch,
            velocity: velocities[pitch_index(pitch)],
            start_beats: ticks_to_beats(since),
            duration_beats: ticks_to_beats(tick.max(since + 1) - since),
        }),
    };
    for &token in tokens {
        if Event::from_token(token) == Some(Event::End) {
            break;
        }
        state.apply_token(token, |played| collect(played, &mut velocities));
    }
    state.release_all(|played| collect(played, &mut velocities));
    notes.sort_by(|a, b| a.start_beats.total_cmp(&b.start_beats).then(a.pitch.cmp(&b.pitch)));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_round_trips_through_its_event() {
        for token in 0..VOCAB_SIZE as Token {
            let event = Event::from_token(token).expect("in vocabulary");
            assert_eq!(event.token(), token, "{event:?}");
        }
        assert_eq!(Event::from_token(VOCAB_SIZE as Token), None);
    }

    #[test]
    fn chords_are_ordered_offs_first_then_ascending_pitch() {
        let chord = |start, pitches: [u8; 3]| {
            pitches.map(|pitch| Note { pitch, velocity: 100, start_beats: start, duration_beats: 1.0 })
        };
        let notes: Vec<Note> = chord(0.0, [67, 60, 64]).into_iter().chain(chord(1.0, [65, 62, 62])).collect();
        let events: Vec<Event> = encode_notes(&notes)
            .tokens
            .iter()
            .map(|&t| Event::from_token(t).unwrap())
            .collect();
        use Event::*;
        assert_eq!(
            events,
            vec![
                Start,
                Velocity(25),
                NoteOn(60),
                NoteOn(64),
                NoteOn(67),
                TimeShift(24),
                NoteOff(60),
                NoteOff(64),
                NoteOff(67),
                NoteOn(62),
                NoteOn(65),
                TimeShift(24),
                NoteOff(62),
                NoteOff(65),
                End
            ]
        );
    }

    #[test]
    fn long_gaps_chain_full_time_shifts() {
        let notes = [Note { pitch: 60, velocity: 64, start_beats: 9.0, duration_beats: 0.5 }];
        let events: Vec<Event> = encode_notes(&notes)
            .tokens
            .iter()
            .map(|&t| Event::from_token(t).unwrap())
            .collect();
        assert_eq!(&events[1..4], &[Event::TimeShift(96), Event::TimeShift(96), Event::TimeShift(24)]);
    }

    /// Failed before: the 40-beat rest became ten full time shifts.
    #[test]
    fn rests_longer_than_the_limit_are_shortened_to_it_and_counted() {
        let note = |start_beats| Note { pitch: 60, velocity: 64, start_beats, duration_beats: 1.0 };
        let encoded = encode_notes(&[note(0.0), note(41.0)]);
        let shifts: Vec<Event> = encoded.tokens.iter().map(|&t| Event::from_token(t).unwrap()).filter(|e| matches!(e, Event::TimeShift(_))).collect();
        assert_eq!(shifts, vec![Event::TimeShift(24), Event::TimeShift(96), Event::TimeShift(96), Event::TimeShift(96), Event::TimeShift(96), Event::TimeShift(24)]);
        assert_eq!(encoded.rest_ticks_removed, 40 * TICKS_PER_BEAT as u64 - MAX_REST_TICKS);
        let starts: Vec<f64> = decode_tokens(&encoded.tokens).iter().map(|n| n.start_beats).collect();
        assert_eq!(starts, vec![0.0, 17.0]);
    }

    #[test]
    fn out_of_range_pitches_fold_by_octaves_and_are_counted() {
        let notes = [
            Note { pitch: 12, velocity: 64, start_beats: 0.0, duration_beats: 1.0 },
            Note { pitch: 120, velocity: 64, start_beats: 0.0, duration_beats: 1.0 },
        ];
        let encoded = encode_notes(&notes);
        assert_eq!(encoded.octave_folded, 2);
        let pitches: Vec<u8> = decode_tokens(&encoded.tokens).iter().map(|n| n.pitch).collect();
        assert_eq!(pitches, vec![24, 108]);
    }

    #[test]
    fn grammar_rejects_impossible_events() {
        let mut state = SequenceState::default();
        assert!(!state.is_legal(Event::NoteOff(60)));
        assert!(state.is_legal(Event::NoteOn(60)));
        state.apply(Event::NoteOn(60), |_| {});
        assert!(!state.is_legal(Event::NoteOn(60)), "already sounding");
        assert!(!state.is_legal(Event::NoteOn(59)), "below the last note-on of this tick");
        assert!(!state.is_legal(Event::NoteOff(60)), "an off after an on in the same tick");
        assert!(state.is_legal(Event::NoteOn(64)));
        state.apply(Event::TimeShift(12), |_| {});
        assert!(state.is_legal(Event::NoteOff(60)));
        assert!(!state.is_legal(Event::TimeShift(3)), "only full shifts chain");
        state.apply(Event::Velocity(5), |_| {});
        assert!(!state.is_legal(Event::TimeShift(3)), "a velocity announces a note-on");
        assert!(!state.is_legal(Event::Velocity(6)));
    }

    #[test]
    fn features_mark_sounding_notes_and_beat_phase() {
        let mut state = SequenceState::default();
        state.apply(Event::NoteOn(60), |_| {});
        state.apply(Event::TimeShift(6), |_| {});
        let mut dense = [0.0; FEATURE_COUNT];
        state.write_features(&mut dense);
        let mut sparse = [0u16; PITCH_COUNT + 1];
        let count = state.active_features(&mut sparse);
        assert_eq!(&sparse[..count], &[(60 - PITCH_MIN) as u16, (PITCH_COUNT + 6) as u16]);
        let ones: Vec<usize> = (0..FEATURE_COUNT).filter(|&i| dense[i] == 1.0).collect();
        assert_eq!(ones, vec![39, PITCH_COUNT + 6]);
    }
}
