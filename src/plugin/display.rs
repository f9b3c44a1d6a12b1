//! What the editor shows of the audio thread's and the worker's work, handed over wait-free.
//!
//! The audio thread pushes [`DisplayEvent`]s (keys heard, answer windows, stops, jumps) into a
//! preallocated single-producer ring and stores the playhead, tempo and dialogue stage in
//! atomics; the worker pushes each answer note as it samples it ([`SampledNote`]) into a second
//! ring, so the editor draws answers ahead of the playhead. A push never waits, locks or
//! allocates: when a ring is full (the editor is closed, or behind) the event is dropped. The
//! editor drains both rings into a [`Roll`] and draws that. Host-free; the editor is not needed
//! to test it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use rtrb::{Consumer, Producer, RingBuffer};

use super::schedule::AnswerMessage;
use crate::midi_file::write_midi;
use crate::tokens::{KeyEvent, Note, TICKS_PER_BEAT};

/// Capacity of each ring, in events: far more than a player and a model produce between two
/// editor frames, small enough to preallocate.
pub const DISPLAY_RING_CAPACITY: usize = 4096;
/// How long after an interruption the stage reads "interrupted" (unless something else happens).
pub const INTERRUPTED_SHOWN_BEATS: f64 = 2.0;
/// How far behind the playhead the roll keeps notes (more than the editor draws).
pub const ROLL_KEPT_BEATS: f64 = 64.0;

/// What the audio thread tells the editor, in song beats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DisplayEvent {
    /// The model heard the player press (velocity > 0) or release (velocity 0) `key`.
    Heard { beat: f64, key: u8, velocity: u8 },
    /// An answer was requested: its model ticks count from `start_tick` at song beat `start_beat`.
    AnswerStarted { answer_id: u64, start_tick: u64, start_beat: f64 },
    /// The answer stopped at `beat` (finished or interrupted): nothing of it sounds after.
    AnswerStopped { beat: f64 },
    /// The song timeline jumped (loop, seek, start, stop): what was drawn no longer lines up.
    Jumped,
}

/// An answer note as the worker samples it, ahead of the playhead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledNote {
    /// The answer it belongs to.
    pub answer_id: u64,
    /// The model tick it falls on.
    pub tick: u64,
    /// MIDI key.
    pub key: u8,
    /// MIDI velocity; 0 for a note-off.
    pub velocity: u8,
}

/// Where the dialogue stands, as a musician reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    /// Waiting for the player.
    Listening = 0,
    /// The player stopped; the answer comes when the response gap is over.
    WaitingOutGap = 1,
    /// An answer is pending or sounding.
    Answering = 2,
    /// The player just cut an answer short.
    Interrupted = 3,
}

impl Stage {
    /// The stage at `now_beat`: answering beats waiting, waiting beats a recent interruption.
    pub fn of(answering: bool, gap_end_beat: Option<f64>, interrupted_at_beat: Option<f64>, now_beat: f64) -> Self {
        let recently_interrupted =
            interrupted_at_beat.is_some_and(|beat| (beat..beat + INTERRUPTED_SHOWN_BEATS).contains(&now_beat));
        match (answering, gap_end_beat) {
            (true, _) => Self::Answering,
            (false, Some(_)) => Self::WaitingOutGap,
            (false, None) if recently_interrupted => Self::Interrupted,
            (false, None) => Self::Listening,
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::WaitingOutGap,
            2 => Self::Answering,
            3 => Self::Interrupted,
            _ => Self::Listening,
        }
    }
}

/// The audio thread's view of time and the dialogue at the end of its last block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DisplayStatus {
    /// The playhead, in song beats.
    pub playhead_beat: f64,
    /// The tempo in use.
    pub tempo_bpm: f64,
    /// Whether the tempo is the host's (false: "Tempo When Stopped").
    pub tempo_from_host: bool,
    /// Quarter-note beats per bar, from the host's meter.
    pub beats_per_bar: f64,
    /// Where the dialogue stands.
    pub stage: Stage,
    /// When the response gap ends, while waiting it out.
    pub gap_end_beat: Option<f64>,
}

impl Default for DisplayStatus {
    fn default() -> Self {
        Self { playhead_beat: 0.0, tempo_bpm: 120.0, tempo_from_host: false, beats_per_bar: 4.0, stage: Stage::Listening, gap_end_beat: None }
    }
}

impl DisplayStatus {
    /// Seconds left of the response gap at this tempo, while waiting it out.
    pub fn gap_seconds_left(&self) -> Option<f64> {
        self.gap_end_beat.map(|end| ((end - self.playhead_beat) * 60.0 / self.tempo_bpm).max(0.0))
    }
}

/// [`DisplayStatus`] in atomics (each f64 as its bits). A reader may see fields of two
/// consecutive blocks: harmless for a display.
#[derive(Debug, Default)]
struct SharedStatus {
    /// Playhead in song beats.
    playhead_beat: AtomicU64,
    /// Tempo in use.
    tempo_bpm: AtomicU64,
    /// Tempo from the host.
    tempo_from_host: AtomicBool,
    /// Beats per bar.
    beats_per_bar: AtomicU64,
    /// [`Stage`] as its number.
    stage: AtomicU8,
    /// End of the response gap; NaN when not waiting.
    gap_end_beat: AtomicU64,
}

impl SharedStatus {
    fn store(&self, status: &DisplayStatus) {
        let store = |atomic: &AtomicU64, value: f64| atomic.store(value.to_bits(), Ordering::Relaxed);
        store(&self.playhead_beat, status.playhead_beat);
        store(&self.tempo_bpm, status.tempo_bpm);
        store(&self.beats_per_bar, status.beats_per_bar);
        store(&self.gap_end_beat, status.gap_end_beat.unwrap_or(f64::NAN));
        self.tempo_from_host.store(status.tempo_from_host, Ordering::Relaxed);
        self.stage.store(status.stage as u8, Ordering::Relaxed);
    }

    fn load(&self) -> DisplayStatus {
        let load = |atomic: &AtomicU64| f64::from_bits(atomic.load(Ordering::Relaxed));
        DisplayStatus {
            playhead_beat: load(&self.playhead_beat),
            tempo_bpm: load(&self.tempo_bpm),
            tempo_from_host: self.tempo_from_host.load(Ordering::Relaxed),
            beats_per_bar: load(&self.beats_per_bar),
            stage: Stage::from_u8(self.stage.load(Ordering::Relaxed)),
            gap_end_beat: Some(load(&self.gap_end_beat)).filter(|beat| !beat.is_nan()),
        }
    }
}

/// The audio thread's end: pushes and stores, never waits.
pub struct DisplayFeed {
    /// Events to the editor.
    events: Producer<DisplayEvent>,
    /// Playhead, tempo, stage.
    status: Arc<SharedStatus>,
    /// When the player last interrupted an answer, for [`Stage::Interrupted`].
    interrupted_at_beat: Option<f64>,
}

impl DisplayFeed {
    /// Hands an event to the editor, or drops it if the ring is full.
    pub fn push(&mut self, event: DisplayEvent) {
        if matches!(event, DisplayEvent::Jumped) {
            self.interrupted_at_beat = None;
        }
        let _ = self.events.push(event);
    }

    /// The player interrupted an answer at `beat`.
    pub fn interrupted(&mut self, beat: f64) {
        self.interrupted_at_beat = Some(beat);
    }

    /// Publishes the end of a block: `answering` and `gap_end_beat` come from the dialogue.
    pub fn publish(&mut self, time: BlockDisplayTime, answering: bool, gap_end_beat: Option<f64>) {
        let stage = Stage::of(answering, gap_end_beat, self.interrupted_at_beat, time.playhead_beat);
        self.status.store(&DisplayStatus {
            playhead_beat: time.playhead_beat,
            tempo_bpm: time.tempo_bpm,
            tempo_from_host: time.tempo_from_host,
            beats_per_bar: time.beats_per_bar,
            stage,
            gap_end_beat: gap_end_beat.filter(|_| !answering),
        });
    }
}

/// A block's time as the editor shows it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockDisplayTime {
    /// Song beats at the end of the block.
    pub playhead_beat: f64,
    /// The tempo the block ran at.
    pub tempo_bpm: f64,
    /// Whether that tempo is the host's.
    pub tempo_from_host: bool,
    /// Quarter-note beats per bar.
    pub beats_per_bar: f64,
}

/// The worker's end: answer notes as they are sampled.
pub struct SampledFeed {
    /// Notes to the editor.
    notes: Producer<SampledNote>,
}

impl SampledFeed {
    /// Hands a sampled note to the editor, or drops it if the ring is full.
    pub fn push(&mut self, note: SampledNote) {
        let _ = self.notes.push(note);
    }

    /// Shows a worker's answer message (its notes; the end of an answer draws nothing).
    pub fn show(&mut self, message: &AnswerMessage) {
        if let AnswerMessage::Note { answer_id, tick, key } = *message {
            let (key, velocity) = match key {
                KeyEvent::On { pitch, velocity } => (pitch, velocity),
                KeyEvent::Off { pitch } => (pitch, 0),
            };
            self.push(SampledNote { answer_id, tick, key, velocity });
        }
    }
}

/// The editor's end of both rings and the status.
pub struct DisplayReader {
    /// The audio thread's events.
    events: Consumer<DisplayEvent>,
    /// The worker's sampled notes.
    sampled: Consumer<SampledNote>,
    /// Playhead, tempo, stage.
    status: Arc<SharedStatus>,
}

impl DisplayReader {
    /// The latest status.
    pub fn status(&self) -> DisplayStatus {
        self.status.load()
    }

    /// Moves everything waiting in the rings into `roll` (events first: an answer's start is
    /// pushed before the worker is asked for it).
    pub fn drain_into(&mut self, roll: &mut Roll) {
        while let Ok(event) = self.events.pop() {
            roll.apply(event);
        }
        while let Ok(note) = self.sampled.pop() {
            roll.add_sampled(note);
        }
    }
}

/// The three ends, with both rings preallocated.
pub fn display_channels() -> (DisplayFeed, SampledFeed, DisplayReader) {
    let (events, event_reader) = RingBuffer::new(DISPLAY_RING_CAPACITY);
    let (notes, sampled) = RingBuffer::new(DISPLAY_RING_CAPACITY);
    let status = Arc::new(SharedStatus::default());
    status.store(&DisplayStatus::default());
    (
        DisplayFeed { events, status: status.clone(), interrupted_at_beat: None },
        SampledFeed { notes },
        DisplayReader { events: event_reader, sampled, status },
    )
}

/// Who played a note on the roll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Voice {
    /// The player, as the model heard it.
    Phrase,
    /// The model's answer.
    Answer,
}

/// A note as the roll draws it, in song beats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RollNote {
    /// Who played it.
    pub voice: Voice,
    /// MIDI key.
    pub key: u8,
    /// MIDI velocity.
    pub velocity: u8,
    /// Where it starts.
    pub start_beat: f64,
    /// Where it ends; `None` while it sounds.
    pub end_beat: Option<f64>,
}

/// An answer's place on the song timeline.
#[derive(Clone, Copy, Debug, PartialEq)]
struct AnswerSpan {
    /// Which answer.
    answer_id: u64,
    /// Its first model tick.
    start_tick: u64,
    /// The song beat of that tick.
    start_beat: f64,
    /// Where it was stopped, once it was.
    stopped_at_beat: Option<f64>,
}

impl AnswerSpan {
    fn beat_of_tick(&self, tick: u64) -> f64 {
        self.start_beat + tick.saturating_sub(self.start_tick) as f64 / TICKS_PER_BEAT as f64
    }
}

/// An answer note in model ticks, placed on the timeline when drawn (its span may arrive after
/// it: the rings are read one after the other).
#[derive(Clone, Copy, Debug, PartialEq)]
struct TickNote {
    /// The answer it belongs to.
    answer_id: u64,
    /// MIDI key.
    key: u8,
    /// MIDI velocity.
    velocity: u8,
    /// Its onset tick.
    start_tick: u64,
    /// Its end tick, once sampled.
    end_tick: Option<u64>,
}

/// Everything the piano roll draws: the editor's own copy, fed from the rings.
#[derive(Clone, Debug, Default)]
pub struct Roll {
    /// The player's notes.
    heard: Vec<RollNote>,
    /// Answers requested, oldest first.
    answers: Vec<AnswerSpan>,
    /// Answer notes as sampled.
    sampled: Vec<TickNote>,
}

impl Roll {
    /// Takes in one event from the audio thread.
    pub fn apply(&mut self, event: DisplayEvent) {
        match event {
            DisplayEvent::Heard { beat, key, velocity: 0 } => {
                if let Some(note) = self.heard.iter_mut().rev().find(|note| note.key == key && note.end_beat.is_none()) {
                    note.end_beat = Some(beat);
                }
            }
            DisplayEvent::Heard { beat, key, velocity } => {
                self.heard.push(RollNote { voice: Voice::Phrase, key, velocity, start_beat: beat, end_beat: None })
            }
            DisplayEvent::AnswerStarted { answer_id, start_tick, start_beat } => {
                self.answers.push(AnswerSpan { answer_id, start_tick, start_beat, stopped_at_beat: None })
            }
            DisplayEvent::AnswerStopped { beat } => {
                for span in self.answers.iter_mut().filter(|span| span.stopped_at_beat.is_none()) {
                    span.stopped_at_beat = Some(beat.max(span.start_beat));
                }
            }
            DisplayEvent::Jumped => *self = Self::default(),
        }
    }

    /// Takes in one answer note from the worker.
    pub fn add_sampled(&mut self, note: SampledNote) {
        let open = self
            .sampled
            .iter_mut()
            .rev()
            .find(|open| open.answer_id == note.answer_id && open.key == note.key && open.end_tick.is_none());
        if let Some(open) = open {
            open.end_tick = Some(note.tick);
        }
        if note.velocity > 0 {
            let (answer_id, key, velocity, start_tick) = (note.answer_id, note.key, note.velocity, note.tick);
            self.sampled.push(TickNote { answer_id, key, velocity, start_tick, end_tick: None });
        }
    }

    /// Every note on the song timeline: the phrase as heard, the answers as sampled and cut
    /// where they were stopped.
    pub fn notes(&self) -> impl Iterator<Item = RollNote> + '_ {
        let answers = self.sampled.iter().filter_map(|note| {
            let span = self.answers.iter().rev().find(|span| span.answer_id == note.answer_id)?;
            let start_beat = span.beat_of_tick(note.start_tick);
            let end_beat = note.end_tick.map(|tick| span.beat_of_tick(tick));
            let (start_beat, end_beat) = match span.stopped_at_beat {
                Some(stop) if start_beat >= stop => return None,
                Some(stop) => (start_beat, Some(end_beat.map_or(stop, |end| end.min(stop)))),
                None => (start_beat, end_beat),
            };
            Some(RollNote { voice: Voice::Answer, key: note.key, velocity: note.velocity, start_beat, end_beat })
        });
        self.heard.iter().copied().chain(answers)
    }

    /// Forgets notes and answers that ended before `beat`.
    pub fn forget_before(&mut self, beat: f64) {
        self.heard.retain(|note| note.end_beat.is_none_or(|end| end >= beat));
        let answers = &self.answers;
        let ended = |span: &AnswerSpan| span.stopped_at_beat.is_some_and(|stop| stop < beat);
        self.sampled.retain(|note| !answers.iter().any(|span| span.answer_id == note.answer_id && ended(span)));
        self.answers.retain(|span| !ended(span));
    }

    /// [`Self::last_exchange`] as a MIDI file at the tempo and meter (quarter-note beats per
    /// bar) in use, what "Save answer as MIDI" writes.
    pub fn last_exchange_midi(&self, tempo_bpm: f64, beats_per_bar: f64) -> Option<Vec<u8>> {
        let beats_per_bar = beats_per_bar.round().clamp(1.0, 32.0) as u8;
        Some(write_midi(&self.last_exchange()?, tempo_bpm, (beats_per_bar, 4)))
    }

    /// The last answer that has notes, with the phrase the player played before it, as notes
    /// from the phrase's first onset (what "Save answer as MIDI" writes). `None` if no answer
    /// has a note yet.
    pub fn last_exchange(&self) -> Option<Vec<Note>> {
        let notes: Vec<RollNote> = self.notes().collect();
        let last_answer = notes.iter().filter(|note| note.voice == Voice::Answer).map(|note| note.start_beat).reduce(f64::max)?;
        let span = self.answers.iter().rev().find(|span| span.start_beat <= last_answer)?;
        let previous_end = self.answers.iter().rev().find(|other| other.start_beat < span.start_beat).and_then(|other| other.stopped_at_beat);
        let belongs = |note: &&RollNote| match note.voice {
            Voice::Answer => note.start_beat >= span.start_beat,
            Voice::Phrase => note.start_beat < span.start_beat && previous_end.is_none_or(|end| note.start_beat >= end),
        };
        let chosen: Vec<&RollNote> = notes.iter().filter(belongs).collect();
        let origin = chosen.iter().map(|note| note.start_beat).reduce(f64::min)?;
        let fallback_end = span.stopped_at_beat.unwrap_or(last_answer + 1.0);
        Some(
            chosen
                .iter()
                .map(|note| Note {
                    pitch: note.key,
                    velocity: note.velocity,
                    start_beats: note.start_beat - origin,
                    duration_beats: (note.end_beat.unwrap_or(fallback_end) - note.start_beat).max(0.0),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(beat: f64, key: u8, velocity: u8) -> DisplayEvent {
        DisplayEvent::Heard { beat, key, velocity }
    }

    fn sampled(answer_id: u64, tick: u64, key: u8, velocity: u8) -> SampledNote {
        SampledNote { answer_id, tick, key, velocity }
    }

    /// A phrase of two notes, then answer 1 from beat 4 (model tick 100) with two notes.
    fn exchange() -> Roll {
        let mut roll = Roll::default();
        for event in [heard(0.0, 60, 90), heard(1.0, 60, 0), heard(1.0, 64, 80), heard(2.0, 64, 0)] {
            roll.apply(event);
        }
        roll.apply(DisplayEvent::AnswerStarted { answer_id: 1, start_tick: 100, start_beat: 4.0 });
        let per_beat = TICKS_PER_BEAT as u64;
        for note in [sampled(1, 100, 67, 70), sampled(1, 100 + per_beat, 67, 0), sampled(1, 100 + per_beat, 72, 70)] {
            roll.add_sampled(note);
        }
        roll
    }

    #[test]
    fn the_roll_places_heard_notes_and_sampled_answer_notes_on_the_song_timeline() {
        let notes: Vec<RollNote> = exchange().notes().collect();
        let on = |voice, key, start_beat, end_beat| RollNote { voice, key, velocity: 0, start_beat, end_beat };
        let strip = |note: &RollNote| RollNote { velocity: 0, ..*note };
        assert_eq!(
            notes.iter().map(strip).collect::<Vec<_>>(),
            [
                on(Voice::Phrase, 60, 0.0, Some(1.0)),
                on(Voice::Phrase, 64, 1.0, Some(2.0)),
                on(Voice::Answer, 67, 4.0, Some(5.0)),
                on(Voice::Answer, 72, 5.0, None),
            ]
        );
    }

    #[test]
    fn an_answer_note_sampled_before_its_span_arrives_is_placed_once_it_does() {
        let mut roll = Roll::default();
        roll.add_sampled(sampled(3, 48, 60, 90));
        assert_eq!(roll.notes().count(), 0, "no span yet: nowhere to draw it");
        roll.apply(DisplayEvent::AnswerStarted { answer_id: 3, start_tick: 0, start_beat: 10.0 });
        let note = roll.notes().next().expect("placed once the span is known");
        assert_eq!((note.start_beat, note.voice), (10.0 + 48.0 / TICKS_PER_BEAT as f64, Voice::Answer));
    }

    #[test]
    fn a_stopped_answer_is_cut_where_it_stopped_and_a_jump_clears_the_roll() {
        let mut roll = exchange();
        roll.apply(DisplayEvent::AnswerStopped { beat: 4.5 });
        let answer: Vec<RollNote> = roll.notes().filter(|note| note.voice == Voice::Answer).collect();
        assert_eq!(answer.len(), 1, "the note sampled after the stop never sounded");
        assert_eq!((answer[0].start_beat, answer[0].end_beat), (4.0, Some(4.5)));
        roll.apply(DisplayEvent::Jumped);
        assert_eq!(roll.notes().count(), 0);
    }

    #[test]
    fn forgetting_drops_only_what_ended_before_the_beat() {
        let mut roll = exchange();
        roll.forget_before(1.5);
        let keys: Vec<u8> = roll.notes().map(|note| note.key).collect();
        assert_eq!(keys, [64, 67, 72]);
        roll.apply(DisplayEvent::AnswerStopped { beat: 6.0 });
        roll.forget_before(7.0);
        assert_eq!(roll.notes().count(), 0);
    }

    #[test]
    fn the_last_exchange_is_the_phrase_then_its_answer_from_the_phrase_start() {
        let mut roll = exchange();
        roll.apply(DisplayEvent::AnswerStopped { beat: 6.0 });
        let notes = roll.last_exchange().expect("an answer with notes");
        let summary: Vec<(u8, f64, f64)> = notes.iter().map(|note| (note.pitch, note.start_beats, note.duration_beats)).collect();
        assert_eq!(summary, [(60, 0.0, 1.0), (64, 1.0, 1.0), (67, 4.0, 1.0), (72, 5.0, 1.0)]);
        assert!(Roll::default().last_exchange().is_none());
    }

    #[test]
    fn the_last_exchange_as_midi_reads_back_with_its_notes_tempo_and_meter() {
        let mut roll = exchange();
        roll.apply(DisplayEvent::AnswerStopped { beat: 6.0 });
        let bytes = roll.last_exchange_midi(90.0, 3.0).expect("an answer with notes");
        let song = crate::midi_file::parse_midi(&bytes, "answer.mid", Default::default()).expect("a valid MIDI file");
        let read: Vec<(u8, f64)> = song.notes.iter().map(|note| (note.pitch, note.start_beats)).collect();
        assert_eq!(read, [(60, 0.0), (64, 1.0), (67, 4.0), (72, 5.0)]);
        assert_eq!((song.initial_tempo_bpm().round(), song.time_signature), (90.0, (3, 4)));
    }

    #[test]
    fn the_stage_prefers_answering_then_waiting_then_a_recent_interruption() {
        assert_eq!(Stage::of(true, Some(3.0), Some(1.0), 1.5), Stage::Answering);
        assert_eq!(Stage::of(false, Some(3.0), Some(1.0), 1.5), Stage::WaitingOutGap);
        assert_eq!(Stage::of(false, None, Some(1.0), 1.5), Stage::Interrupted);
        assert_eq!(Stage::of(false, None, Some(1.0), 1.0 + INTERRUPTED_SHOWN_BEATS), Stage::Listening);
        assert_eq!(Stage::of(false, None, None, 0.0), Stage::Listening);
    }

    #[test]
    fn the_feed_hands_events_and_status_to_the_reader_and_drops_when_full() {
        let (mut feed, mut worker, mut reader) = display_channels();
        for _ in 0..DISPLAY_RING_CAPACITY + 10 {
            feed.push(heard(0.0, 60, 90));
        }
        worker.push(sampled(1, 0, 62, 90));
        feed.interrupted(2.0);
        let time = BlockDisplayTime { playhead_beat: 2.5, tempo_bpm: 90.0, tempo_from_host: true, beats_per_bar: 3.0 };
        feed.publish(time, false, None);
        let mut roll = Roll::default();
        reader.drain_into(&mut roll);
        assert_eq!(roll.heard.len(), DISPLAY_RING_CAPACITY, "a full ring drops, never grows");
        assert_eq!(roll.sampled.len(), 1);
        let status = reader.status();
        assert_eq!(status.stage, Stage::Interrupted);
        assert_eq!((status.playhead_beat, status.tempo_bpm, status.tempo_from_host, status.beats_per_bar), (2.5, 90.0, true, 3.0));
        feed.publish(time, false, Some(3.5));
        assert_eq!(reader.status().gap_seconds_left(), Some(1.0 * 60.0 / 90.0));
    }
}
