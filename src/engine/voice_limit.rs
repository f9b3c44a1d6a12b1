//! How many notes an answer may sound together: as many as the player sounded together at
//! their recent onsets. A single line is answered by a single line, a melody over held
//! chords by up to as many voices, whatever texture the network would fall into on its own
//! (it answers a short monophonic phrase with chords as often as not: MODEL.md, "Following the
//! player's voices").

/// Player onsets the limit looks back over: four bars of eighths in two hands. Measured on
/// unseen piano scores (MODEL.md): 32 onsets held dense piano writing too thin, 64 to 256 gave
/// the same texture, and allowing one voice more than the player's made it worse.
pub const RECENT_ONSETS: usize = 64;

/// The most notes sounding together at the player's last [`RECENT_ONSETS`] onsets. Fixed size:
/// the worker keeps one beside its listener.
#[derive(Clone, Debug, PartialEq)]
pub struct VoiceLimit {
    /// The player's keys down, one bit per MIDI pitch.
    held: u128,
    /// Notes sounding just after each recent onset, a ring (0: no onset there yet).
    sounding_at_onsets: [u8; RECENT_ONSETS],
    /// Where the next onset goes in the ring.
    next: usize,
}

impl Default for VoiceLimit {
    fn default() -> Self {
        Self { held: 0, sounding_at_onsets: [0; RECENT_ONSETS], next: 0 }
    }
}

impl VoiceLimit {
    /// The player pressed a key (a key already down counts once).
    pub fn key_down(&mut self, pitch: u8) {
        self.held |= 1 << (pitch & 127);
        self.sounding_at_onsets[self.next] = self.held.count_ones() as u8;
        self.next = (self.next + 1) % RECENT_ONSETS;
    }

    /// The player released a key.
    pub fn key_up(&mut self, pitch: u8) {
        self.held &= !(1 << (pitch & 127));
    }

    /// The most notes the player sounded together at their recent onsets (0: none yet).
    pub fn heard_most(&self) -> u8 {
        self.sounding_at_onsets.iter().copied().max().unwrap_or(0)
    }

    /// The most notes an answer may sound together; `u8::MAX` (no limit) before the player
    /// has played anything to follow. Never less than one more than the keys held now, so an
    /// answer over held keys (Continue, Answer Over Player) has a voice of its own at once,
    /// without first ending one of the player's notes in the model's picture.
    pub fn limit(&self) -> u8 {
        match self.heard_most() {
            0 => u8::MAX,
            most => most.max(self.held.count_ones() as u8 + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(limit: &mut VoiceLimit, chord: &[u8]) {
        chord.iter().for_each(|&pitch| limit.key_down(pitch));
        chord.iter().for_each(|&pitch| limit.key_up(pitch));
    }

    #[test]
    fn nothing_heard_sets_no_limit_and_a_single_line_sets_one() {
        let mut limit = VoiceLimit::default();
        assert_eq!(limit.limit(), u8::MAX);
        for pitch in [60, 62, 64, 65, 67] {
            play(&mut limit, &[pitch]);
        }
        assert_eq!(limit.limit(), 1);
    }

    #[test]
    fn a_melody_over_a_held_chord_counts_the_chord_and_the_melody_note() {
        let mut limit = VoiceLimit::default();
        [48, 52, 55].into_iter().for_each(|pitch| limit.key_down(pitch));
        play(&mut limit, &[72]);
        play(&mut limit, &[74]);
        assert_eq!(limit.limit(), 4);
        limit.key_down(72);
        limit.key_down(72);
        assert_eq!(limit.heard_most(), 4, "a key struck again while down is still one voice");
    }

    #[test]
    fn keys_held_now_leave_the_answer_a_voice() {
        let mut limit = VoiceLimit::default();
        [48, 52, 55].into_iter().for_each(|pitch| limit.key_down(pitch));
        assert_eq!(limit.heard_most(), 3);
        assert_eq!(limit.limit(), 4, "the held chord takes three voices, the answer gets one");
        [48, 52, 55].into_iter().for_each(|pitch| limit.key_up(pitch));
        assert_eq!(limit.limit(), 3, "released, the chord's texture is what is followed");
    }

    #[test]
    fn a_chord_is_forgotten_after_the_recent_onsets_have_moved_past_it() {
        let mut limit = VoiceLimit::default();
        play(&mut limit, &[60, 64, 67]);
        for step in 0..RECENT_ONSETS - 1 {
            play(&mut limit, &[60 + (step % 12) as u8]);
        }
        assert_eq!(limit.limit(), 3, "the chord's top onset is still among the recent ones");
        play(&mut limit, &[72]);
        assert_eq!(limit.limit(), 1);
    }
}
