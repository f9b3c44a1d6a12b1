//! Time within a block, and the notes the plugin owes the host.
//!
//! [`Clock`] turns the host transport (or, without one, the tempo parameter) into song beats
//! for each block and notices jumps, loops, starts and stops. [`AnswerPlayback`] places the
//! worker's answer notes, given in token ticks, at sample offsets against song beats, and
//! remembers every note it started so each one gets its note-off on every path.
//! [`HostNotes`] keeps every note on at the host, the answer's and the player's passed through,
//! so each gets its note-off, even across a reset or an event the host refused.
//! Host-free: the plugin glue feeds it plain numbers.

use crate::tokens::{KeyEvent, TICKS_PER_BEAT};

/// A host position further than this from where the last block ended is a jump (or a loop).
/// Half a grid tick: anything smaller cannot move a note.
pub const JUMP_TOLERANCE_BEATS: f64 = 0.5 / TICKS_PER_BEAT as f64;
/// How far below a half a position (in ticks or samples) may fall and still round up, as the half
/// itself does. A position reaches the clock through sums whose float noise depends on where
/// blocks begin (far below 1e-6 of a tick or a sample, even over hours); one exactly on a half (an
/// event between two ticks, a note between two samples) would otherwise round either way with the
/// block sizes, and a bounce would differ from a real-time run.
const HALF_TOLERANCE: f64 = 1e-4;
/// How far the last beat played before an offset lies before it, in samples: half a sample, so
/// the beat rounds onto the sample before, and two tolerances, so float noise cannot round it
/// onto the offset itself.
const PLAYED_MARGIN_SAMPLES: f64 = 0.5 + 2.0 * HALF_TOLERANCE;
/// Host tempi outside this range are nonsense (or a broken host): the tempo parameter is used.
const TEMPO_RANGE_BPM: std::ops::RangeInclusive<f64> = 10.0..=1000.0;
/// The tempo when even the tempo parameter is unusable.
const FALLBACK_TEMPO_BPM: f64 = 120.0;
/// Host positions beyond this many beats (either way) are nonsense: the free clock is used.
/// A week at 1000 BPM, and still exact to far below a tick in an f64.
const MAX_POSITION_BEATS: f64 = 1.0e7;
/// Sample rates outside this range are nonsense: clamped into it (NaN: the fallback).
const SAMPLE_RATE_RANGE_HZ: std::ops::RangeInclusive<f64> = 1000.0..=1_536_000.0;
/// The sample rate when the host's is not a number.
const FALLBACK_SAMPLE_RATE_HZ: f64 = 48_000.0;
/// Number of MIDI channels.
const CHANNEL_COUNT: usize = 16;
/// Number of MIDI keys.
const KEY_COUNT: usize = 128;

/// What the host says about time for one block (a host-free view of its transport).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HostTime {
    /// Whether the host's transport is playing.
    pub playing: bool,
    /// The host's tempo, if it gives one.
    pub tempo_bpm: Option<f64>,
    /// Where the block starts in quarter-note beats, if the host says.
    pub position_beats: Option<f64>,
}

/// Where one block sits in time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockTime {
    /// Song beats at the block's first sample: the host position while it plays, otherwise a
    /// free-running clock. Answers are placed on this timeline.
    pub song_start_beats: f64,
    /// Beats since activation at the block's first sample, never jumping: the timeline the
    /// model hears, which must only move forward.
    pub stream_start_beats: f64,
    /// Length of one sample in beats at this block's tempo.
    pub beats_per_sample: f64,
    /// Number of samples in the block.
    pub samples: usize,
    /// The song timeline jumped (loop, seek, transport start or stop) since the last block.
    pub discontinuity: bool,
}

impl BlockTime {
    /// Song beats at the end of the block.
    pub fn song_end_beats(&self) -> f64 {
        self.song_beat_at(self.samples)
    }

    /// Song beats at a sample offset.
    pub fn song_beat_at(&self, offset: usize) -> f64 {
        self.song_start_beats + offset as f64 * self.beats_per_sample
    }

    /// A song beat whose sample (as [`BlockTime::offset_of_song_beat`] places it) lies before
    /// `offset`, as do those of all earlier beats: what has been played once the samples before
    /// `offset` have. (Beats up to a few ten-thousandths of a sample later also lie before it.)
    pub fn last_song_beat_before(&self, offset: u32) -> f64 {
        self.song_beat_at(offset as usize) - PLAYED_MARGIN_SAMPLES * self.beats_per_sample
    }

    /// The first offset inside the block at which `song_beat` has been played, as
    /// [`BlockTime::last_song_beat_before`] sees it (0 for a beat already past).
    pub fn first_offset_past_song_beat(&self, song_beat: f64) -> Option<u32> {
        let estimate = ((song_beat - self.song_start_beats) / self.beats_per_sample + PLAYED_MARGIN_SAMPLES).ceil();
        if estimate.is_nan() || estimate >= self.samples as f64 {
            return None;
        }
        // The estimate may be a sample off either way by float noise: settle it on the test itself.
        let mut offset = estimate.max(0.0) as u32;
        while offset > 0 && self.last_song_beat_before(offset - 1) >= song_beat {
            offset -= 1;
        }
        while self.last_song_beat_before(offset) < song_beat {
            offset += 1;
        }
        (offset < self.samples as u32).then_some(offset)
    }

    /// The model's tick at a sample offset.
    pub fn stream_tick_at(&self, offset: usize) -> u64 {
        stream_ticks(self.stream_start_beats + offset as f64 * self.beats_per_sample)
    }

    /// The model's tick at a song beat (within or after this block).
    pub fn stream_tick_at_song_beat(&self, song_beat: f64) -> u64 {
        stream_ticks(self.stream_start_beats + song_beat - self.song_start_beats)
    }

    /// The sample offset of a song beat if it falls before the end of this block; beats
    /// already past (a late note) play at the block's start.
    pub fn offset_of_song_beat(&self, song_beat: f64) -> Option<u32> {
        let position = round_half_up((song_beat - self.song_start_beats) / self.beats_per_sample);
        (position < self.samples as f64).then_some(position.max(0.0) as u32)
    }
}

/// The nearest tick to a stream position in beats, a half rounding up (see [`HALF_TOLERANCE`]).
fn stream_ticks(beats: f64) -> u64 {
    round_half_up(beats.max(0.0) * TICKS_PER_BEAT as f64) as u64
}

/// The nearest whole number, a half (or a value within [`HALF_TOLERANCE`] below one) rounding up.
fn round_half_up(value: f64) -> f64 {
    (value + HALF_TOLERANCE + 0.5).floor()
}

/// Follows the host transport from block to block.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Stream beats at the start of the next block.
    stream_beats: f64,
    /// Song beats at the start of the next block.
    song_beats: f64,
    /// Whether the last block followed the host's position (false: the free-running clock).
    followed_host: bool,
}

impl Clock {
    /// Where a block of `samples` starts, given the host's view of time. The tempo parameter
    /// is the clock whenever the host is stopped or gives no position. Every value from the
    /// host is bounded first (see [`usable_tempo`], [`usable_position`], [`usable_sample_rate`]),
    /// so the ticks derived from a block stay finite and move by bounded steps.
    pub fn begin_block(&mut self, host: HostTime, fallback_tempo_bpm: f64, sample_rate: f64, samples: usize) -> BlockTime {
        let host_position = host.position_beats.filter(|_| host.playing).and_then(usable_position);
        let fallback_tempo_bpm = usable_tempo(fallback_tempo_bpm).unwrap_or(FALLBACK_TEMPO_BPM);
        let tempo_bpm = match (host_position, host.tempo_bpm.and_then(usable_tempo)) {
            (Some(_), Some(tempo)) => tempo,
            _ => fallback_tempo_bpm,
        };
        let sample_rate = usable_sample_rate(sample_rate);
        let (song_start_beats, discontinuity) = match host_position {
            Some(position) => {
                let jumped = !self.followed_host || (position - self.song_beats).abs() > JUMP_TOLERANCE_BEATS;
                (position, jumped)
            }
            None => (self.song_beats, self.followed_host),
        };
        self.followed_host = host_position.is_some();
        let block = BlockTime {
            song_start_beats,
            stream_start_beats: self.stream_beats,
            beats_per_sample: tempo_bpm / 60.0 / sample_rate,
            samples,
            discontinuity,
        };
        self.song_beats = block.song_end_beats();
        self.stream_beats += samples as f64 * block.beats_per_sample;
        block
    }
}

/// A tempo within `TEMPO_RANGE_BPM`, else none (NaN, infinite, zero, negative, absurd).
fn usable_tempo(tempo_bpm: f64) -> Option<f64> {
    TEMPO_RANGE_BPM.contains(&tempo_bpm).then_some(tempo_bpm)
}

/// A finite position within `MAX_POSITION_BEATS`, else none.
fn usable_position(position_beats: f64) -> Option<f64> {
    (position_beats.abs() <= MAX_POSITION_BEATS).then_some(position_beats)
}

/// The sample rate clamped into `SAMPLE_RATE_RANGE_HZ` (NaN: `FALLBACK_SAMPLE_RATE_HZ`).
fn usable_sample_rate(sample_rate_hz: f64) -> f64 {
    if sample_rate_hz.is_nan() {
        FALLBACK_SAMPLE_RATE_HZ
    } else {
        sample_rate_hz.clamp(*SAMPLE_RATE_RANGE_HZ.start(), *SAMPLE_RATE_RANGE_HZ.end())
    }
}

/// A message from the worker about an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerMessage {
    /// A key event of answer `answer_id` at model tick `tick`.
    Note { answer_id: u64, tick: u64, key: KeyEvent },
    /// Answer `answer_id` has no more notes.
    Done { answer_id: u64 },
}

/// Where the worker's answer messages come from. Real-time hosts poll without waiting; an
/// offline render waits for the worker so a bounce matches a real-time run.
pub trait AnswerSource {
    /// The next message, or `None` if none is ready (now, or in time when waiting).
    fn poll(&mut self) -> Option<AnswerMessage>;
}

/// The answer in progress: which one, and where its ticks fall in song beats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnswerWindow {
    /// Which answer the worker's messages must carry to be played.
    pub answer_id: u64,
    /// The model tick the answer starts at.
    pub start_tick: u64,
    /// The song beat that tick falls on (a grid position).
    pub start_song_beat: f64,
}

impl AnswerWindow {
    fn song_beat_of_tick(&self, tick: u64) -> f64 {
        self.start_song_beat + tick.saturating_sub(self.start_tick) as f64 / TICKS_PER_BEAT as f64
    }
}

/// An answer note due in the current block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueNote {
    /// Sample offset within the block.
    pub offset: u32,
    /// The model tick it was sampled at (what the listener hears).
    pub tick: u64,
    /// What happens.
    pub key: KeyEvent,
}

/// Plays the worker's answer notes at their sample offsets and keeps track of the ones
/// sounding, so none is left hanging.
#[derive(Clone, Debug)]
pub struct AnswerPlayback {
    /// The answer being played, if any.
    window: Option<AnswerWindow>,
    /// A note received but not due yet (after this block), or an on delayed by the off it needs.
    held: Option<(u64, KeyEvent)>,
    /// The worker said the answer has no more notes.
    all_received: bool,
    /// Answer keys that are on at the host.
    sounding: [bool; KEY_COUNT],
}

impl Default for AnswerPlayback {
    fn default() -> Self {
        Self { window: None, held: None, all_received: false, sounding: [false; KEY_COUNT] }
    }
}

impl AnswerPlayback {
    /// Whether an answer is being played.
    pub fn is_playing(&self) -> bool {
        self.window.is_some()
    }

    /// Whether every note of the current answer has been received from the worker.
    pub fn all_received(&self) -> bool {
        self.all_received
    }

    /// Starts playing a new answer (the previous one must have been stopped).
    pub fn start(&mut self, window: AnswerWindow) {
        debug_assert!(self.sounding.iter().all(|&on| !on), "stop() the previous answer first");
        self.window = Some(window);
        self.held = None;
        self.all_received = false;
    }

    /// Stops the answer: calls `note_off` for every key still sounding.
    pub fn stop(&mut self, mut note_off: impl FnMut(u8)) {
        for (key, on) in self.sounding.iter_mut().enumerate() {
            if std::mem::take(on) {
                note_off(key as u8);
            }
        }
        self.window = None;
        self.held = None;
        self.all_received = false;
    }

    /// The host refused `due`: a refused note-on never sounded (a refused note-off is owed by
    /// [`HostNotes`], and ended here all the same).
    pub fn refused(&mut self, due: DueNote) {
        if let KeyEvent::On { pitch, .. } = due.key {
            self.sounding[pitch as usize] = false;
        }
    }

    /// The next answer event due in this block at or before sample `until` (so the caller
    /// can interleave other events in time order). A note-on for a key already sounding first
    /// yields its note-off; note-offs for keys not sounding are dropped.
    pub fn next_due(&mut self, block: &BlockTime, source: &mut impl AnswerSource, until: u32) -> Option<DueNote> {
        loop {
            let window = self.window?;
            let (tick, key) = match self.held.take() {
                Some(event) => event,
                None => self.receive(window, source)?,
            };
            let offset = block.offset_of_song_beat(window.song_beat_of_tick(tick)).filter(|&offset| offset <= until);
            let Some(offset) = offset else {
                self.held = Some((tick, key));
                return None;
            };
            let key = match key {
                KeyEvent::On { pitch, .. } if self.sounding[pitch as usize] => {
                    self.held = Some((tick, key));
                    self.sounding[pitch as usize] = false;
                    KeyEvent::Off { pitch }
                }
                KeyEvent::On { pitch, .. } => {
                    self.sounding[pitch as usize] = true;
                    key
                }
                KeyEvent::Off { pitch } if !std::mem::take(&mut self.sounding[pitch as usize]) => continue,
                KeyEvent::Off { .. } => key,
            };
            return Some(DueNote { offset, tick, key });
        }
    }

    /// The next note of the current answer from the worker, skipping stale answers.
    fn receive(&mut self, window: AnswerWindow, source: &mut impl AnswerSource) -> Option<(u64, KeyEvent)> {
        while !self.all_received {
            match source.poll()? {
                AnswerMessage::Note { answer_id, tick, key } if answer_id == window.answer_id => return Some((tick, key)),
                AnswerMessage::Done { answer_id } if answer_id == window.answer_id => self.all_received = true,
                _ => {}
            }
        }
        None
    }
}

/// Who plays a note Continuo sends to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteSource {
    /// The player's note, passed through.
    Thru,
    /// The model's answer.
    Answer,
}

impl NoteSource {
    /// This source's bit in [`HostNotes`]' holder sets.
    fn bit(self) -> u8 {
        match self {
            NoteSource::Thru => 1,
            NoteSource::Answer => 2,
        }
    }
}

/// Every note Continuo has on at the host, per channel and key, and which sources hold it, so
/// each note-on gets exactly one note-off on every path.
///
/// The host sees one note per channel and key. The rule when the player's note passed through
/// and the answer share a key and channel: the first source to strike it sends the note-on,
/// a second one joins it silently, and the note-off goes out only when the last source holding
/// it lets go. Neither source cuts the other's note short.
///
/// `send(channel, key)` returns whether the host took the event. A refused note-on is not
/// recorded as on; a refused note-off stays owed and goes out first in the next block
/// ([`HostNotes::pay_owed_offs`]), as do the offs of notes on when the plugin was reset.
#[derive(Clone, Debug)]
pub struct HostNotes {
    /// Sources holding each note on (a bit per [`NoteSource`]); non-zero means on at the host.
    holders: [[u8; KEY_COUNT]; CHANNEL_COUNT],
    /// Notes ended whose note-off the host has not taken yet.
    owed_offs: [[bool; KEY_COUNT]; CHANNEL_COUNT],
    /// Whether any note-off is owed, so most blocks skip the scan.
    any_owed: bool,
}

impl Default for HostNotes {
    fn default() -> Self {
        Self { holders: [[0; KEY_COUNT]; CHANNEL_COUNT], owed_offs: [[false; KEY_COUNT]; CHANNEL_COUNT], any_owed: false }
    }
}

impl HostNotes {
    /// `source` strikes `key` on `channel`; returns whether it now holds the note (false: the
    /// host refused the note-on, or the owed note-off that must precede it).
    pub fn note_on(&mut self, source: NoteSource, channel: u8, key: u8, velocity: u8, mut send: impl FnMut(u8, KeyEvent) -> bool) -> bool {
        let (c, k) = slot(channel, key);
        if self.owed_offs[c][k] && !send(channel, KeyEvent::Off { pitch: key }) {
            return false;
        }
        self.owed_offs[c][k] = false;
        if self.holders[c][k] == 0 && !send(channel, KeyEvent::On { pitch: key, velocity }) {
            return false;
        }
        self.holders[c][k] |= source.bit();
        true
    }

    /// `source` lets go of `key` on `channel`; returns whether it held it. The note-off goes
    /// out (or is owed) once no source holds the note.
    pub fn note_off(&mut self, source: NoteSource, channel: u8, key: u8, mut send: impl FnMut(u8, KeyEvent) -> bool) -> bool {
        let (c, k) = slot(channel, key);
        if self.holders[c][k] & source.bit() == 0 {
            return false;
        }
        self.holders[c][k] &= !source.bit();
        if self.holders[c][k] == 0 && !send(channel, KeyEvent::Off { pitch: key }) {
            self.owed_offs[c][k] = true;
            self.any_owed = true;
        }
        true
    }

    /// Whether `source` holds `key` on `channel`.
    pub fn holds(&self, source: NoteSource, channel: u8, key: u8) -> bool {
        let (c, k) = slot(channel, key);
        self.holders[c][k] & source.bit() != 0
    }

    /// Lets go of every note `source` holds, on every channel.
    pub fn release_source(&mut self, source: NoteSource, mut send: impl FnMut(u8, KeyEvent) -> bool) {
        for channel in 0..CHANNEL_COUNT as u8 {
            for key in 0..KEY_COUNT as u8 {
                self.note_off(source, channel, key, &mut send);
            }
        }
    }

    /// The plugin was reset or deactivated, where no event can be sent: every note on is ended
    /// and its note-off owed until the next block.
    pub fn owe_every_off(&mut self) {
        for (holders, owed) in self.holders.iter_mut().flatten().zip(self.owed_offs.iter_mut().flatten()) {
            if std::mem::take(holders) != 0 {
                *owed = true;
                self.any_owed = true;
            }
        }
    }

    /// Sends the owed note-offs the host takes; the rest stay owed.
    pub fn pay_owed_offs(&mut self, mut send: impl FnMut(u8, KeyEvent) -> bool) {
        if !self.any_owed {
            return;
        }
        self.any_owed = false;
        for (channel, keys) in self.owed_offs.iter_mut().enumerate() {
            for (key, owed) in keys.iter_mut().enumerate() {
                if *owed && !send(channel as u8, KeyEvent::Off { pitch: key as u8 }) {
                    self.any_owed = true;
                } else {
                    *owed = false;
                }
            }
        }
    }
}

/// A channel and key as indices into the per-note tables.
fn slot(channel: u8, key: u8) -> (usize, usize) {
    (channel as usize % CHANNEL_COUNT, key as usize % KEY_COUNT)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    impl AnswerSource for VecDeque<AnswerMessage> {
        fn poll(&mut self) -> Option<AnswerMessage> {
            self.pop_front()
        }
    }

    const SAMPLE_RATE: f64 = 48_000.0;

    fn playing_at(position_beats: f64) -> HostTime {
        HostTime { playing: true, tempo_bpm: Some(120.0), position_beats: Some(position_beats) }
    }

    #[test]
    fn the_clock_follows_the_host_and_notices_jumps_and_stops() {
        let mut clock = Clock::default();
        let first = clock.begin_block(playing_at(4.0), 90.0, SAMPLE_RATE, 24_000);
        assert!(first.discontinuity, "the transport started");
        assert_eq!(first.beats_per_sample, 2.0 / SAMPLE_RATE);
        assert_eq!(first.song_end_beats(), 5.0);
        let second = clock.begin_block(playing_at(5.0), 90.0, SAMPLE_RATE, 24_000);
        assert!(!second.discontinuity);
        assert_eq!(second.stream_start_beats, 1.0);
        let looped = clock.begin_block(playing_at(0.0), 90.0, SAMPLE_RATE, 24_000);
        assert!(looped.discontinuity, "a loop back is a jump");
        assert_eq!(looped.stream_start_beats, 2.0, "the model's time never goes back");
        let stopped = clock.begin_block(HostTime::default(), 90.0, SAMPLE_RATE, 32_000);
        assert!(stopped.discontinuity);
        assert_eq!(stopped.song_start_beats, 1.0, "the free clock carries on from the host's last position");
        assert_eq!(stopped.beats_per_sample, 1.5 / SAMPLE_RATE, "the tempo parameter is the clock");
        let still_stopped = clock.begin_block(HostTime::default(), 90.0, SAMPLE_RATE, 32_000);
        assert!(!still_stopped.discontinuity);
        assert_eq!(still_stopped.song_start_beats, 2.0);
    }

    /// Fails before the bounds: an infinite tempo made infinite ticks (saturated to u64::MAX).
    #[test]
    fn a_nonsense_host_tempo_falls_back_to_the_tempo_parameter() {
        for tempo in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -120.0, 5.0, 1.0e6] {
            let mut clock = Clock::default();
            let host = HostTime { tempo_bpm: Some(tempo), ..playing_at(4.0) };
            let block = clock.begin_block(host, 90.0, SAMPLE_RATE, 48_000);
            assert_eq!(block.beats_per_sample, 1.5 / SAMPLE_RATE, "host tempo {tempo}");
            assert_eq!(block.stream_tick_at(48_000), 36, "host tempo {tempo}");
        }
        let mut clock = Clock::default();
        let host = HostTime { tempo_bpm: Some(f64::NAN), ..playing_at(4.0) };
        let block = clock.begin_block(host, f64::NAN, SAMPLE_RATE, 48_000);
        assert_eq!(block.beats_per_sample, 2.0 / SAMPLE_RATE, "an unusable parameter too: 120 BPM");
        let extreme = clock.begin_block(HostTime { tempo_bpm: Some(1000.0), ..playing_at(6.0) }, 90.0, SAMPLE_RATE, 6);
        assert_eq!(extreme.beats_per_sample, 1000.0 / 60.0 / SAMPLE_RATE, "1000 BPM is still music");
    }

    #[test]
    fn a_nonsense_host_position_is_ignored_for_the_free_clock() {
        for position in [f64::NAN, f64::INFINITY, -f64::INFINITY, 1.0e300, -1.0e12] {
            let mut clock = Clock::default();
            clock.begin_block(playing_at(4.0), 90.0, SAMPLE_RATE, 24_000);
            let block = clock.begin_block(playing_at(position), 90.0, SAMPLE_RATE, 24_000);
            assert_eq!(block.song_start_beats, 5.0, "position {position}: the free clock carries on");
            assert!(block.discontinuity, "leaving the host's timeline is a jump");
            assert_eq!(block.stream_tick_at_song_beat(6.0), 2 * TICKS_PER_BEAT as u64);
        }
    }

    #[test]
    fn a_nonsense_sample_rate_is_bounded() {
        let ticks_of_a_block = |sample_rate: f64| {
            let block = Clock::default().begin_block(playing_at(0.0), 90.0, sample_rate, 48_000);
            block.stream_tick_at(48_000)
        };
        assert_eq!(ticks_of_a_block(f64::NAN), 48, "NaN: 48 kHz");
        assert_eq!(ticks_of_a_block(0.0), 48 * 48, "zero: the lowest rate, 1 kHz");
        assert_eq!(ticks_of_a_block(f64::INFINITY), 2, "infinite: the highest rate, 1.536 MHz (1.5 ticks)");
    }

    #[test]
    fn beats_map_to_offsets_within_the_block() {
        let block = BlockTime { song_start_beats: 10.0, stream_start_beats: 2.0, beats_per_sample: 0.01, samples: 64, discontinuity: false };
        assert_eq!(block.offset_of_song_beat(10.2), Some(20));
        assert_eq!(block.offset_of_song_beat(9.0), Some(0), "late notes play at once");
        assert_eq!(block.offset_of_song_beat(10.64), None);
        assert_eq!(block.stream_tick_at_song_beat(11.0), 3 * TICKS_PER_BEAT as u64);
    }

    /// A block of 4096 samples at `tempo_bpm` and 48 kHz starting `start` samples after beat 0,
    /// its start computed as the clock computes it (with float noise).
    fn block_from_sample(start: usize, tempo_bpm: f64) -> BlockTime {
        let beats_per_sample = tempo_bpm / 60.0 / 48_000.0;
        let start_beats = start as f64 * beats_per_sample;
        BlockTime { song_start_beats: start_beats, stream_start_beats: start_beats, beats_per_sample, samples: 4096, discontinuity: false }
    }

    /// Failed before: the answer's note on tick 1 at 128 BPM (exactly between samples 937 and
    /// 938) landed on 937 from a block starting at sample 0 and on 938 from one starting at 7.
    #[test]
    fn a_note_between_two_samples_lands_on_the_same_sample_whatever_block_it_falls_in() {
        let tick_one = 1.0 / TICKS_PER_BEAT as f64;
        let samples = [0, 7, 300].map(|start| start as u32 + block_from_sample(start, 128.0).offset_of_song_beat(tick_one).unwrap());
        assert_eq!(samples, [938; 3]);
    }

    #[test]
    fn the_last_beat_before_an_offset_is_placed_on_the_sample_before_it() {
        for start in [0, 7, 300] {
            let block = block_from_sample(start, 128.0);
            for offset in [1, 937, 938, 4095] {
                let placed = block.offset_of_song_beat(block.last_song_beat_before(offset));
                assert_eq!(placed, Some(offset - 1), "block from sample {start}, offset {offset}");
            }
        }
    }

    #[test]
    fn a_beat_is_first_seen_as_played_on_the_same_sample_whatever_block_it_falls_in() {
        // Beats on a sample, between two (128 BPM: a tick is 937.5 samples) and anywhere.
        for beat in [0.1, 1.0 / TICKS_PER_BEAT as f64, 0.123_456_7] {
            let seen_at = [0, 7, 300].map(|start| {
                let block = block_from_sample(start, 128.0);
                let offset = block.first_offset_past_song_beat(beat).expect("inside the block");
                assert!(block.last_song_beat_before(offset) >= beat);
                assert!(offset == 0 || block.last_song_beat_before(offset - 1) < beat, "the first such offset");
                start as u32 + offset
            });
            assert_eq!(seen_at, [seen_at[0]; 3], "beat {beat}");
        }
        let block = block_from_sample(300, 128.0);
        assert_eq!(block.first_offset_past_song_beat(0.0), Some(0), "a beat already past");
        assert_eq!(block.first_offset_past_song_beat(100.0), None, "a beat after the block");
    }

    /// Failed before: sample 1500 at 120 BPM (exactly between ticks 1 and 2) was heard at tick 2
    /// from a block starting at sample 0 and at tick 1 from one starting at sample 2.
    #[test]
    fn an_event_between_two_ticks_is_heard_on_the_same_tick_whatever_block_it_falls_in() {
        let ticks = [0, 2, 5].map(|start| block_from_sample(start, 120.0).stream_tick_at(1500 - start));
        assert_eq!(ticks, [2; 3]);
    }

    fn on(answer_id: u64, tick: u64, pitch: u8) -> AnswerMessage {
        AnswerMessage::Note { answer_id, tick, key: KeyEvent::On { pitch, velocity: 90 } }
    }

    fn off(answer_id: u64, tick: u64, pitch: u8) -> AnswerMessage {
        AnswerMessage::Note { answer_id, tick, key: KeyEvent::Off { pitch } }
    }

    /// Blocks of one beat (24 samples of 1/24 beat), starting at song beat 8.
    fn beat_block(index: usize) -> BlockTime {
        let beats_per_sample = 1.0 / 24.0;
        BlockTime { song_start_beats: 8.0 + index as f64, stream_start_beats: 0.0, beats_per_sample, samples: 24, discontinuity: false }
    }

    /// Every event due up to sample `until`, as (offset, key).
    fn drain(playback: &mut AnswerPlayback, block: &BlockTime, source: &mut VecDeque<AnswerMessage>, until: u32) -> Vec<(u32, KeyEvent)> {
        std::iter::from_fn(|| playback.next_due(block, source, until)).map(|due| (due.offset, due.key)).collect()
    }

    #[test]
    fn answer_notes_land_on_their_beats_and_stale_ones_are_dropped() {
        let mut playback = AnswerPlayback::default();
        playback.start(AnswerWindow { answer_id: 2, start_tick: 100, start_song_beat: 9.0 });
        let mut source: VecDeque<AnswerMessage> =
            [on(1, 100, 50), on(2, 100, 60), off(2, 112, 60), on(2, 124, 62), AnswerMessage::Done { answer_id: 2 }].into();
        assert_eq!(playback.next_due(&beat_block(0), &mut source, u32::MAX), None, "the answer starts on beat 9");
        assert_eq!(drain(&mut playback, &beat_block(1), &mut source, 11), vec![(0, KeyEvent::On { pitch: 60, velocity: 90 })]);
        assert_eq!(drain(&mut playback, &beat_block(1), &mut source, u32::MAX), vec![(12, KeyEvent::Off { pitch: 60 })]);
        let next = playback.next_due(&beat_block(2), &mut source, u32::MAX);
        assert_eq!(next, Some(DueNote { offset: 0, tick: 124, key: KeyEvent::On { pitch: 62, velocity: 90 } }));
        assert_eq!(playback.next_due(&beat_block(2), &mut source, u32::MAX), None);
        assert!(playback.all_received());
        let mut released = vec![];
        playback.stop(|pitch| released.push(pitch));
        assert_eq!(released, vec![62], "the sounding note gets its off");
        assert!(!playback.is_playing());
    }

    #[test]
    fn a_restrike_gets_its_off_first_and_stray_offs_are_dropped() {
        let mut playback = AnswerPlayback::default();
        playback.start(AnswerWindow { answer_id: 1, start_tick: 0, start_song_beat: 8.0 });
        let mut source: VecDeque<AnswerMessage> = [on(1, 0, 60), off(1, 1, 61), on(1, 2, 60), off(1, 3, 60)].into();
        let due = drain(&mut playback, &beat_block(0), &mut source, u32::MAX);
        let expected = [
            (0, KeyEvent::On { pitch: 60, velocity: 90 }),
            (2, KeyEvent::Off { pitch: 60 }),
            (2, KeyEvent::On { pitch: 60, velocity: 90 }),
            (3, KeyEvent::Off { pitch: 60 }),
        ];
        assert_eq!(due, expected);
    }

    /// A host that takes every event and logs it as (channel, key event).
    fn taking(log: &mut Vec<(u8, KeyEvent)>) -> impl FnMut(u8, KeyEvent) -> bool + '_ {
        |channel, key| {
            log.push((channel, key));
            true
        }
    }

    fn refusing(_: u8, _: KeyEvent) -> bool {
        false
    }

    const ON_60: KeyEvent = KeyEvent::On { pitch: 60, velocity: 90 };
    const OFF_60: KeyEvent = KeyEvent::Off { pitch: 60 };

    /// Failed before the fix: a reset forgot the sounding notes without their note-offs.
    #[test]
    fn a_reset_owes_every_sounding_note_its_off_until_the_next_block() {
        let (mut notes, mut log) = (HostNotes::default(), vec![]);
        notes.note_on(NoteSource::Answer, 0, 60, 90, taking(&mut log));
        notes.note_on(NoteSource::Thru, 9, 38, 90, taking(&mut log));
        notes.owe_every_off();
        assert!(!notes.holds(NoteSource::Answer, 0, 60), "the reset ended the note");
        assert!(!notes.note_off(NoteSource::Thru, 9, 38, taking(&mut log)), "the player's late off is not passed on twice");
        log.clear();
        notes.pay_owed_offs(taking(&mut log));
        assert_eq!(log, vec![(0, OFF_60), (9, KeyEvent::Off { pitch: 38 })]);
        notes.pay_owed_offs(|_, _| panic!("every off was paid"));
    }

    /// Failed before the fix: a note-off the host refused was counted as sent.
    #[test]
    fn a_refused_off_stays_owed_and_a_refused_on_is_not_on() {
        let (mut notes, mut log) = (HostNotes::default(), vec![]);
        assert!(!notes.note_on(NoteSource::Answer, 0, 61, 90, refusing));
        assert!(!notes.holds(NoteSource::Answer, 0, 61), "a refused on is not on");
        assert!(!notes.note_off(NoteSource::Answer, 0, 61, taking(&mut log)), "so it gets no off");
        notes.note_on(NoteSource::Answer, 0, 60, 90, taking(&mut log));
        assert!(notes.note_off(NoteSource::Answer, 0, 60, refusing));
        notes.pay_owed_offs(refusing);
        log.clear();
        notes.pay_owed_offs(taking(&mut log));
        assert_eq!(log, vec![(0, OFF_60)], "the off is retried until the host takes it");
        notes.note_on(NoteSource::Answer, 0, 60, 90, taking(&mut log));
        notes.note_off(NoteSource::Answer, 0, 60, refusing);
        log.clear();
        notes.note_on(NoteSource::Thru, 0, 60, 90, taking(&mut log));
        assert_eq!(log, vec![(0, OFF_60), (0, ON_60)], "a new strike pays the owed off first");
    }

    /// Failed before the fix: the answer's note-off ended the note the player still held.
    #[test]
    fn the_player_and_the_answer_on_one_key_do_not_end_each_other() {
        let (mut notes, mut log) = (HostNotes::default(), vec![]);
        notes.note_on(NoteSource::Thru, 0, 60, 90, taking(&mut log));
        notes.note_on(NoteSource::Answer, 0, 60, 90, taking(&mut log));
        notes.note_off(NoteSource::Answer, 0, 60, taking(&mut log));
        assert_eq!(log, vec![(0, ON_60)], "one note at the host, still held by the player");
        notes.note_on(NoteSource::Answer, 0, 60, 90, taking(&mut log));
        notes.note_off(NoteSource::Thru, 0, 60, taking(&mut log));
        assert_eq!(log, vec![(0, ON_60)], "the answer now holds it");
        notes.release_source(NoteSource::Answer, taking(&mut log));
        assert_eq!(log, vec![(0, ON_60), (0, OFF_60)]);
        notes.note_on(NoteSource::Thru, 0, 60, 90, taking(&mut log));
        notes.note_on(NoteSource::Thru, 0, 60, 90, taking(&mut log));
        assert_eq!(log.len(), 3, "a repeated note-on is one note at the host");
    }

    /// Failed before the fix: a refused answer note-on was recorded as sounding.
    #[test]
    fn a_refused_answer_note_is_not_sounding() {
        let mut playback = AnswerPlayback::default();
        playback.start(AnswerWindow { answer_id: 1, start_tick: 0, start_song_beat: 8.0 });
        let mut source: VecDeque<AnswerMessage> = [on(1, 0, 60), off(1, 3, 60)].into();
        let due = playback.next_due(&beat_block(0), &mut source, u32::MAX).unwrap();
        playback.refused(due);
        assert_eq!(playback.next_due(&beat_block(0), &mut source, u32::MAX), None, "its off is dropped");
        playback.stop(|pitch| panic!("{pitch} never sounded"));
    }
}
