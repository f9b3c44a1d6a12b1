//! Call and response: when to listen, when to answer, when to stop. Host-free, in song beats
//! (the host's position while it plays, a free-running clock while it is stopped).
//!
//! The player plays; once every key (and the sustain pedal) is up for the response gap, the
//! answer starts on the next beat. The answer is requested a little earlier than it starts
//! ([`ANSWER_PREPARE_BEATS`]) so the worker has its first notes ready before the playhead gets
//! there. A key played while an answer is pending or sounding interrupts it, unless the
//! "answer over the player" option is on.

/// How long before the answer starts it is requested, at most (never before the player has
/// released everything). Half a beat is 250 ms at 120 BPM: far more than a small model needs.
pub const ANSWER_PREPARE_BEATS: f64 = 0.5;
/// The grid answers start on: the beat.
pub const ANSWER_GRID_BEATS: f64 = 1.0;
/// Number of MIDI channels.
const CHANNEL_COUNT: usize = 16;
/// Number of MIDI keys.
const KEY_COUNT: usize = 128;

/// The user's settings that shape the dialogue, read once per block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhraseSettings {
    /// Silence after the last release before the answer starts.
    pub response_gap_beats: f64,
    /// Length of an answer.
    pub answer_length_beats: f64,
    /// Keep answering while the player plays (no interruption).
    pub answer_over_player: bool,
}

/// What the plugin must do after an update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cue {
    /// Nothing changes.
    Nothing,
    /// Ask the worker for an answer covering `[start_beat, end_beat)` in song beats.
    Answer { start_beat: f64, end_beat: f64 },
    /// Stop the pending or sounding answer now: notes off, listen again.
    Interrupt,
    /// The answer's window is over (its notes have all ended by now).
    Finished,
}

/// Where the dialogue stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    /// Waiting for the player (or for the gap after them).
    Listening,
    /// An answer was requested; it starts at `start_beat` and ends at `end_beat`.
    Answering { start_beat: f64, end_beat: f64 },
}

/// The listen -> answer -> interrupt state machine.
#[derive(Clone, Debug)]
pub struct Phrase {
    /// Where the dialogue stands.
    stage: Stage,
    /// Keys the player holds down now, per channel and key: a repeated note-on is one key.
    held: [[bool; KEY_COUNT]; CHANNEL_COUNT],
    /// How many entries of `held` are set.
    keys_held: u32,
    /// Whether the sustain pedal is down (it holds the phrase open like a key).
    pedal_down: bool,
    /// When the player last released everything, if they played since the last answer.
    /// `None` means there is nothing new to answer.
    silent_since_beat: Option<f64>,
    /// A manual "continue" request waiting for the next update.
    continue_requested: bool,
}

impl Default for Phrase {
    fn default() -> Self {
        Self {
            stage: Stage::Listening,
            held: [[false; KEY_COUNT]; CHANNEL_COUNT],
            keys_held: 0,
            pedal_down: false,
            silent_since_beat: None,
            continue_requested: false,
        }
    }
}

impl Phrase {
    /// Whether an answer is pending or sounding.
    pub fn is_answering(&self) -> bool {
        matches!(self.stage, Stage::Answering { .. })
    }

    /// When the response gap ends, while the player is silent and an answer is owed (for the
    /// editor's "waiting" and its time left).
    pub fn gap_end_beat(&self, settings: &PhraseSettings) -> Option<f64> {
        let silent_since = self.silent_since_beat.filter(|_| self.is_silent() && !self.is_answering())?;
        Some(silent_since + settings.response_gap_beats)
    }

    /// The song beat of the next cue due without the player doing anything: the answer's end,
    /// or the point the owed answer is requested at (a Continue needs none: it is due at once).
    /// The plugin follows the dialogue there too, so a block longer than the time an answer is
    /// prepared ahead does not carry the request past the beat the answer starts on.
    pub fn next_cue_beat(&self, settings: &PhraseSettings) -> Option<f64> {
        match self.stage {
            Stage::Answering { end_beat, .. } => Some(end_beat),
            Stage::Listening => self.gap_end_beat(settings).map(|gap_end| request_beat(gap_end, settings)),
        }
    }

    /// The player pressed `key` on `channel` at `beat`.
    pub fn key_down(&mut self, channel: u8, key: u8, _beat: f64, settings: &PhraseSettings) -> Cue {
        if !std::mem::replace(self.held_mut(channel, key), true) {
            self.keys_held += 1;
        }
        self.silent_since_beat = None;
        self.interrupt_unless_over_player(settings)
    }

    /// The player released `key` on `channel` at `beat` (a key not held changes nothing).
    pub fn key_up(&mut self, channel: u8, key: u8, beat: f64) {
        if std::mem::take(self.held_mut(channel, key)) {
            self.keys_held -= 1;
            self.note_silence(beat);
        }
    }

    /// Stops the pending or sounding answer (the caller ends its notes) and listens again,
    /// still knowing which keys are held; nothing new to answer until the player plays.
    pub fn stop_answering(&mut self) {
        self.stage = Stage::Listening;
        self.silent_since_beat = None;
    }

    fn held_mut(&mut self, channel: u8, key: u8) -> &mut bool {
        &mut self.held[channel as usize % CHANNEL_COUNT][key as usize % KEY_COUNT]
    }

    /// The sustain pedal went down or up at `beat`.
    pub fn pedal(&mut self, down: bool, beat: f64) {
        self.pedal_down = down;
        if !down {
            self.note_silence(beat);
        }
    }

    /// The "continue" trigger: answer at the next beat, whatever was played.
    pub fn request_continue(&mut self) {
        self.continue_requested = true;
    }

    /// Forgets the answer and the held keys (transport jump or stop, bypass, reactivation):
    /// the caller has sent every note-off.
    pub fn cancel(&mut self) {
        *self = Self::default();
    }

    /// Moves the dialogue to `now_beat` (the end of the block just processed).
    pub fn advance(&mut self, now_beat: f64, settings: &PhraseSettings) -> Cue {
        match self.stage {
            Stage::Answering { end_beat, .. } if now_beat >= end_beat => {
                self.stage = Stage::Listening;
                Cue::Finished
            }
            Stage::Answering { .. } => Cue::Nothing,
            Stage::Listening => self.maybe_answer(now_beat, settings),
        }
    }

    fn maybe_answer(&mut self, now_beat: f64, settings: &PhraseSettings) -> Cue {
        let earliest_start = if std::mem::take(&mut self.continue_requested) {
            now_beat
        } else {
            let Some(silent_since) = self.silent_since_beat.filter(|_| self.is_silent()) else {
                return Cue::Nothing;
            };
            let gap_end = silent_since + settings.response_gap_beats;
            if now_beat < request_beat(gap_end, settings) {
                return Cue::Nothing;
            }
            gap_end.max(now_beat)
        };
        let start_beat = next_grid_beat(earliest_start);
        let end_beat = start_beat + settings.answer_length_beats;
        self.stage = Stage::Answering { start_beat, end_beat };
        self.silent_since_beat = None;
        Cue::Answer { start_beat, end_beat }
    }

    fn interrupt_unless_over_player(&mut self, settings: &PhraseSettings) -> Cue {
        if self.is_answering() && !settings.answer_over_player {
            self.stage = Stage::Listening;
            Cue::Interrupt
        } else {
            Cue::Nothing
        }
    }

    fn is_silent(&self) -> bool {
        self.keys_held == 0 && !self.pedal_down
    }

    fn note_silence(&mut self, beat: f64) {
        if self.is_silent() {
            self.silent_since_beat = Some(beat);
        }
    }
}

/// When the answer owed at the end of a response gap is requested: [`ANSWER_PREPARE_BEATS`]
/// before it, but never before the player released everything.
fn request_beat(gap_end_beat: f64, settings: &PhraseSettings) -> f64 {
    gap_end_beat - ANSWER_PREPARE_BEATS.min(settings.response_gap_beats)
}

/// What the sustain pedal does to what the model hears: keys released while it is down sound
/// on until it comes up, as in a MIDI file read with its pedal applied.
#[derive(Clone, Debug)]
pub struct Sustain {
    /// Whether the pedal is down.
    down: bool,
    /// Keys released while the pedal was down, still sounding.
    held_by_pedal: [bool; 128],
}

impl Default for Sustain {
    fn default() -> Self {
        Self { down: false, held_by_pedal: [false; 128] }
    }
}

impl Sustain {
    /// A key went down: it is struck again, no longer held by the pedal.
    pub fn key_down(&mut self, key: u8) {
        self.held_by_pedal[key as usize % 128] = false;
    }

    /// A key went up; returns whether it ends now (false: the pedal holds it).
    pub fn key_up(&mut self, key: u8) -> bool {
        self.held_by_pedal[key as usize % 128] = self.down;
        !self.down
    }

    /// The pedal moved; on release, `ended` hears every key it was holding.
    pub fn pedal(&mut self, down: bool, mut ended: impl FnMut(u8)) {
        self.down = down;
        if !down {
            for (key, held) in self.held_by_pedal.iter_mut().enumerate() {
                if std::mem::take(held) {
                    ended(key as u8);
                }
            }
        }
    }
}

/// The first grid position at or after `beat` (a hair of tolerance, so a beat computed as
/// 3.9999999 still counts as 4).
pub fn next_grid_beat(beat: f64) -> f64 {
    const TOLERANCE_BEATS: f64 = 1e-9;
    ((beat - TOLERANCE_BEATS) / ANSWER_GRID_BEATS).ceil() * ANSWER_GRID_BEATS
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: PhraseSettings =
        PhraseSettings { response_gap_beats: 1.0, answer_length_beats: 8.0, answer_over_player: false };

    /// Plays middle C from `start` to `end` beats.
    fn play(phrase: &mut Phrase, start: f64, end: f64) -> Cue {
        let cue = phrase.key_down(0, 60, start, &SETTINGS);
        phrase.key_up(0, 60, end);
        cue
    }

    #[test]
    fn silence_after_a_phrase_answers_on_the_beat_after_the_gap() {
        let mut phrase = Phrase::default();
        play(&mut phrase, 0.0, 0.5);
        play(&mut phrase, 1.0, 2.25);
        assert_eq!(phrase.advance(2.5, &SETTINGS), Cue::Nothing, "the gap has not nearly passed");
        // Gap ends at 3.25; requested from 2.75 on, starting on beat 4.
        assert_eq!(phrase.advance(2.8, &SETTINGS), Cue::Answer { start_beat: 4.0, end_beat: 12.0 });
        assert_eq!(phrase.advance(11.9, &SETTINGS), Cue::Nothing);
        assert_eq!(phrase.advance(12.0, &SETTINGS), Cue::Finished);
        assert_eq!(phrase.advance(40.0, &SETTINGS), Cue::Nothing, "no second answer without new playing");
    }

    #[test]
    fn the_gap_end_and_the_next_cue_are_known_while_an_answer_is_owed_or_sounds() {
        let mut phrase = Phrase::default();
        let known = |phrase: &Phrase| (phrase.gap_end_beat(&SETTINGS), phrase.next_cue_beat(&SETTINGS));
        assert_eq!(known(&phrase), (None, None), "nothing played");
        phrase.key_down(0, 60, 0.0, &SETTINGS);
        assert_eq!(known(&phrase), (None, None), "a key is held");
        phrase.key_up(0, 60, 2.25);
        assert_eq!(known(&phrase), (Some(3.25), Some(2.75)), "the request point, half a beat before the gap ends");
        assert_eq!(phrase.advance(2.75 - 1e-9, &SETTINGS), Cue::Nothing);
        assert_eq!(phrase.advance(2.75, &SETTINGS), Cue::Answer { start_beat: 4.0, end_beat: 12.0 });
        assert_eq!(known(&phrase), (None, Some(12.0)), "answering: the next cue is the answer's end");
        assert_eq!(phrase.advance(12.0, &SETTINGS), Cue::Finished);
        assert_eq!(known(&phrase), (None, None), "answered");
        let short_gap = PhraseSettings { response_gap_beats: 0.25, ..SETTINGS };
        play(&mut phrase, 20.0, 21.0);
        assert_eq!(phrase.next_cue_beat(&short_gap), Some(21.0), "never requested before the release");
    }

    #[test]
    fn a_held_key_or_pedal_keeps_listening() {
        let mut phrase = Phrase::default();
        phrase.key_down(0, 60, 0.0, &SETTINGS);
        assert_eq!(phrase.advance(10.0, &SETTINGS), Cue::Nothing);
        phrase.pedal(true, 10.0);
        phrase.key_up(0, 60, 10.5);
        assert_eq!(phrase.advance(20.0, &SETTINGS), Cue::Nothing, "the pedal holds the phrase open");
        phrase.pedal(false, 20.0);
        assert_eq!(phrase.advance(21.0, &SETTINGS), Cue::Answer { start_beat: 21.0, end_beat: 29.0 });
    }

    #[test]
    fn playing_during_the_answer_interrupts_it_and_listens_again() {
        let mut phrase = Phrase::default();
        play(&mut phrase, 0.0, 1.0);
        assert!(matches!(phrase.advance(2.0, &SETTINGS), Cue::Answer { .. }));
        assert_eq!(phrase.key_down(0, 60, 5.0, &SETTINGS), Cue::Interrupt);
        assert!(!phrase.is_answering());
        phrase.key_up(0, 60, 5.5);
        assert_eq!(phrase.advance(6.5, &SETTINGS), Cue::Answer { start_beat: 7.0, end_beat: 15.0 });
    }

    #[test]
    fn over_player_keeps_answering() {
        let settings = PhraseSettings { answer_over_player: true, ..SETTINGS };
        let mut phrase = Phrase::default();
        phrase.key_down(0, 60, 0.0, &settings);
        phrase.key_up(0, 60, 1.0);
        assert!(matches!(phrase.advance(2.0, &settings), Cue::Answer { .. }));
        assert_eq!(phrase.key_down(0, 62, 3.0, &settings), Cue::Nothing);
        assert!(phrase.is_answering());
    }

    #[test]
    fn continue_answers_at_the_next_beat_without_new_playing() {
        let mut phrase = Phrase::default();
        assert_eq!(phrase.advance(3.3, &SETTINGS), Cue::Nothing);
        phrase.request_continue();
        assert_eq!(phrase.advance(3.3, &SETTINGS), Cue::Answer { start_beat: 4.0, end_beat: 12.0 });
    }

    #[test]
    fn cancel_forgets_the_answer_and_the_phrase() {
        let mut phrase = Phrase::default();
        play(&mut phrase, 0.0, 1.0);
        assert!(matches!(phrase.advance(2.0, &SETTINGS), Cue::Answer { .. }));
        phrase.cancel();
        assert!(!phrase.is_answering());
        assert_eq!(phrase.advance(50.0, &SETTINGS), Cue::Nothing);
    }

    #[test]
    fn the_pedal_holds_released_keys_until_it_comes_up() {
        let mut sustain = Sustain::default();
        assert!(sustain.key_up(60), "no pedal: the key ends");
        sustain.pedal(true, |_| panic!("nothing held yet"));
        assert!(!sustain.key_up(62));
        assert!(!sustain.key_up(64));
        sustain.key_down(64);
        let mut ended = vec![];
        sustain.pedal(false, |key| ended.push(key));
        assert_eq!(ended, vec![62], "64 was struck again, so only 62 ends with the pedal");
    }

    /// Failed before the fix: a counter of held keys never came back to zero after a
    /// repeated note-on, and Continuo stopped answering.
    #[test]
    fn a_repeated_note_on_is_one_held_key() {
        let mut phrase = Phrase::default();
        phrase.key_down(0, 60, 0.0, &SETTINGS);
        phrase.key_down(0, 60, 0.5, &SETTINGS);
        phrase.key_down(1, 60, 0.5, &SETTINGS);
        phrase.key_up(0, 60, 1.0);
        assert_eq!(phrase.advance(5.0, &SETTINGS), Cue::Nothing, "channel 2 still holds its key");
        phrase.key_up(1, 60, 5.0);
        phrase.key_up(1, 60, 5.0);
        assert_eq!(phrase.advance(6.0, &SETTINGS), Cue::Answer { start_beat: 6.0, end_beat: 14.0 });
    }

    #[test]
    fn stopping_the_answer_listens_for_new_playing() {
        let mut phrase = Phrase::default();
        play(&mut phrase, 0.0, 1.0);
        assert!(matches!(phrase.advance(2.0, &SETTINGS), Cue::Answer { .. }));
        phrase.stop_answering();
        assert!(!phrase.is_answering());
        assert_eq!(phrase.advance(20.0, &SETTINGS), Cue::Nothing, "nothing new to answer");
        play(&mut phrase, 20.0, 21.0);
        assert!(matches!(phrase.advance(22.0, &SETTINGS), Cue::Answer { .. }));
    }

    #[test]
    fn grid_rounds_up_with_tolerance() {
        assert_eq!(next_grid_beat(3.0), 3.0);
        assert_eq!(next_grid_beat(3.0 - 1e-12), 3.0);
        assert_eq!(next_grid_beat(3.01), 4.0);
    }
}
