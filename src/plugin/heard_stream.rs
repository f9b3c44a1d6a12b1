//! Key events heard at stream ticks, as model tokens: the event encoder with long silences cut.
//! The listening model and the style memory each follow one (the memory only the player's).

use crate::tokens::{EventEncoder, KeyEvent, SequenceState, Token, TICKS_PER_BEAT};

/// Longest silence a stream holds: a longer gap (or a jump of the host's clock) is heard as
/// this long, so moving a model to any tick costs at most a few time-shift tokens.
pub const MAX_SILENCE_TICKS: u64 = 32 * TICKS_PER_BEAT as u64;
/// Shortest silence (nothing held) that ends a phrase for the style memory: the plugin's default
/// response gap. The memory's stream leaves such silences out, so it learns how the player goes
/// on from the end of one phrase into the next, which is where an answer starts.
pub const PHRASE_BREAK_TICKS: u64 = TICKS_PER_BEAT as u64;

/// Heard key events turned into tokens at their ticks.
#[derive(Clone, Debug, Default)]
pub struct HeardStream {
    /// Turns key events into tokens and knows what sounds.
    encoder: EventEncoder,
    /// Stream ticks not in the token stream (silences cut to `MAX_SILENCE_TICKS`): a stream
    /// tick minus this is the token stream's tick.
    skipped_ticks: u64,
    /// Whether silences of `PHRASE_BREAK_TICKS` or more are left out entirely (the style
    /// memory's stream).
    joins_phrases: bool,
}

impl HeardStream {
    /// A stream that leaves out the silences between phrases (see `PHRASE_BREAK_TICKS`).
    pub fn joining_phrases() -> Self {
        HeardStream { joins_phrases: true, ..HeardStream::default() }
    }

    /// Emits the tokens of a key event at `stream_tick`.
    pub fn push(&mut self, stream_tick: u64, key: KeyEvent, emit: impl FnMut(Token)) {
        let tick = self.model_tick(stream_tick);
        self.encoder.push(tick, key, emit);
    }

    /// Emits the time shifts up to `stream_tick`.
    pub fn advance_to(&mut self, stream_tick: u64, emit: impl FnMut(Token)) {
        let tick = self.model_tick(stream_tick);
        self.encoder.advance_to(tick, emit);
    }

    /// Stream ticks cut out so far: the model's tick plus this is the stream's.
    pub fn skipped_ticks(&self) -> u64 {
        self.skipped_ticks
    }

    /// What the emitted tokens left sounding, and their tick (for the worker's tests).
    #[cfg(test)]
    pub fn state(&self) -> &crate::tokens::SequenceState {
        self.encoder.state()
    }

    /// The model tick of a stream tick, cutting the silence before it to `MAX_SILENCE_TICKS`
    /// (or out, between phrases, when joining them).
    fn model_tick(&mut self, stream_tick: u64) -> u64 {
        let tick = stream_tick.saturating_sub(self.skipped_ticks);
        let silence = tick.saturating_sub(self.encoder.state().tick());
        let phrase_break = self.joins_phrases && breaks_phrase(self.encoder.state(), tick);
        let cut = if phrase_break { silence } else { silence.saturating_sub(MAX_SILENCE_TICKS) };
        self.skipped_ticks += cut;
        tick - cut
    }
}

/// Whether moving a stream in `state` on to `tick` is a silence that ends a phrase: nothing
/// held, for `PHRASE_BREAK_TICKS` or more.
pub fn breaks_phrase(state: &SequenceState, tick: u64) -> bool {
    tick.saturating_sub(state.tick()) >= PHRASE_BREAK_TICKS && state.sounding().next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::Event;

    #[test]
    fn a_long_silence_is_cut_and_later_ticks_follow_the_cut() {
        let mut stream = HeardStream::default();
        let mut tokens = vec![];
        stream.push(0, KeyEvent::On { pitch: 60, velocity: 90 }, |token| tokens.push(token));
        stream.push(10_000, KeyEvent::Off { pitch: 60 }, |token| tokens.push(token));
        assert_eq!(stream.state().tick(), MAX_SILENCE_TICKS);
        assert_eq!(stream.skipped_ticks(), 10_000 - MAX_SILENCE_TICKS);
        stream.advance_to(10_012, |token| tokens.push(token));
        assert_eq!(stream.state().tick(), MAX_SILENCE_TICKS + 12, "later ticks move on from the cut");
        assert!(tokens.iter().any(|&token| Event::from_token(token) == Some(Event::NoteOff(60))));
    }

    #[test]
    fn a_stream_joining_phrases_leaves_out_the_silences_between_them_only() {
        let mut stream = HeardStream::joining_phrases();
        let mut events = vec![];
        let mut emit = |token| events.push(Event::from_token(token).unwrap());
        stream.push(0, KeyEvent::On { pitch: 60, velocity: 90 }, &mut emit);
        stream.push(48, KeyEvent::Off { pitch: 60 }, &mut emit); // held two beats: not a silence
        stream.push(60, KeyEvent::On { pitch: 62, velocity: 90 }, &mut emit); // half a beat's rest: kept
        stream.push(72, KeyEvent::Off { pitch: 62 }, &mut emit);
        stream.push(1_000, KeyEvent::On { pitch: 64, velocity: 90 }, &mut emit); // a new phrase: joined
        let shifts: Vec<u32> = events.iter().filter_map(|event| if let Event::TimeShift(ticks) = event { Some(*ticks) } else { None }).collect();
        assert_eq!(shifts, vec![48, 12, 12]);
        assert_eq!(events.last(), Some(&Event::NoteOn(64)));
        assert_eq!(stream.skipped_ticks(), 1_000 - 72);
    }
}
