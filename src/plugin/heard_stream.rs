//! Key events heard at stream ticks, as model tokens: the event encoder with long silences cut.
//! The listening model and the style memory each follow one (the memory only the player's).

use crate::tokens::{EventEncoder, KeyEvent, Token, TICKS_PER_BEAT};

/// Longest silence a stream holds: a longer gap (or a jump of the host's clock) is heard as
/// this long, so moving a model to any tick costs at most a few time-shift tokens.
pub const MAX_SILENCE_TICKS: u64 = 32 * TICKS_PER_BEAT as u64;

/// Heard key events turned into tokens at their ticks.
#[derive(Clone, Debug, Default)]
pub struct HeardStream {
    /// Turns key events into tokens and knows what sounds.
    encoder: EventEncoder,
    /// Stream ticks not in the token stream (silences cut to `MAX_SILENCE_TICKS`): a stream
    /// tick minus this is the token stream's tick.
    skipped_ticks: u64,
}

impl HeardStream {
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

    /// The model tick of a stream tick, cutting the silence before it to `MAX_SILENCE_TICKS`.
    fn model_tick(&mut self, stream_tick: u64) -> u64 {
        let tick = stream_tick.saturating_sub(self.skipped_ticks);
        let cut = tick.saturating_sub(self.encoder.state().tick()).saturating_sub(MAX_SILENCE_TICKS);
        self.skipped_ticks += cut;
        tick - cut
    }
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
}
