//! Choosing the next token from the logits: temperature, top-k, top-p or greedy, a seeded RNG,
//! and masks for musical constraints (pitch range, key, grammar, whether the piece may end).
//! Nothing allocates after [`Sampler::new`].

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::tokens::{Event, SequenceState, Token, PITCH_MAX, PITCH_MIN, VOCAB_SIZE};

/// Widest leap of a single line that follows the player's single line, in semitones: an
/// octave. Wider leaps are 0.4% of the top line's intervals in Ryan's Mammoth and 0.2% in the
/// Nottingham tunes, and the network, thinking in chords, made 9% of a thinned answer's.
pub const MAX_LINE_LEAP_SEMITONES: u8 = 12;

/// The plugin's default Top-p, which `quality` and `generate` default to as well: it keeps the
/// unlikely tail (stray notes out of key) out of an answer. Raising it widens the answers' range
/// on unseen piano scores but loses key share on folk tunes (MODEL.md, "Top-p, measured").
pub const DEFAULT_TOP_P: f32 = 0.95;

/// How to draw from the model's distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingOptions {
    /// Divides the logits: below 1 sharpens, above 1 flattens.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0 = off).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches p (1.0 = off).
    pub top_p: f32,
    /// Take the most likely allowed token (ignores the rest).
    pub greedy: bool,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self { temperature: 1.0, top_k: 0, top_p: 1.0, greedy: false }
    }
}

/// Which pitch classes a key allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleMode {
    /// All twelve.
    Chromatic,
    /// Major (Ionian) scale on the root.
    Major,
    /// Natural minor (Aeolian) scale on the root.
    Minor,
}

impl ScaleMode {
    /// Semitones above the root that belong to the scale, as a 12-bit set.
    fn pitch_classes(self) -> u16 {
        const fn set(steps: &[u8]) -> u16 {
            let mut bits = 0u16;
            let mut index = 0;
            while index < steps.len() {
                bits |= 1 << steps[index];
                index += 1;
            }
            bits
        }
        match self {
            ScaleMode::Chromatic => 0xFFF,
            ScaleMode::Major => set(&[0, 2, 4, 5, 7, 9, 11]),
            ScaleMode::Minor => set(&[0, 2, 3, 5, 7, 8, 10]),
        }
    }
}

/// What the generated notes must respect. The grammar mask (`SequenceState::is_legal`) always
/// applies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constraints {
    /// Lowest pitch a new note may have.
    pub pitch_low: u8,
    /// Highest pitch a new note may have.
    pub pitch_high: u8,
    /// Key root, 0 = C .. 11 = B.
    pub root: u8,
    /// Scale on the root.
    pub mode: ScaleMode,
    /// Whether `End` may be sampled.
    pub allow_end: bool,
    /// Most notes that may sound together: a note-on that would exceed it waits for a release
    /// (`u8::MAX`: no limit). See [`super::VoiceLimit`].
    pub max_voices: u8,
    /// Widest interval, in semitones, from the latest note-on to the next one (`u8::MAX`: any).
    /// Where no allowed pitch lies within it (the player ended outside the answer's range), it
    /// is lifted rather than silencing the answer.
    pub max_leap_semitones: u8,
}

impl Default for Constraints {
    fn default() -> Self {
        Self {
            pitch_low: 0,
            pitch_high: 127,
            root: 0,
            mode: ScaleMode::Chromatic,
            allow_end: false,
            max_voices: u8::MAX,
            max_leap_semitones: u8::MAX,
        }
    }
}

impl Constraints {
    /// These constraints, sounding at most `voices` notes together (and no more than before);
    /// a single line also leaps at most [`MAX_LINE_LEAP_SEMITONES`].
    pub fn with_voice_limit(self, voices: u8) -> Self {
        let max_voices = self.max_voices.min(voices);
        let line_leap = if max_voices == 1 { MAX_LINE_LEAP_SEMITONES } else { u8::MAX };
        Self { max_voices, max_leap_semitones: self.max_leap_semitones.min(line_leap), ..self }
    }

    /// Whether a new note of this pitch is allowed.
    pub fn allows_pitch(&self, pitch: u8) -> bool {
        let class = (pitch as i32 - self.root as i32).rem_euclid(12);
        (self.pitch_low..=self.pitch_high).contains(&pitch) && self.mode.pitch_classes() & (1 << class) != 0
    }

    /// Whether `event` may follow `state`: legal, and within the constraints. A velocity token
    /// announces a note-on, so it is allowed only when one can follow.
    fn allows(&self, event: Event, state: &SequenceState, open: &OpenNotes) -> bool {
        state.is_legal(event)
            && match event {
                Event::NoteOn(pitch) => {
                    open.any && self.allows_pitch(pitch) && open.leap_from.is_none_or(|from| self.within_leap(from, pitch))
                }
                Event::Velocity(_) => open.any,
                Event::End => self.allow_end,
                _ => true,
            }
    }

    /// Which note-ons the constraints leave open after `state`: none while every voice sounds;
    /// the leap limit only where some allowed pitch lies within it.
    fn open_notes(&self, state: &SequenceState) -> OpenNotes {
        let allowed = |pitch: &u8| self.allows_pitch(*pitch) && state.is_legal(Event::NoteOn(*pitch));
        let voice_free = state.sounding_count() < self.max_voices as usize;
        let any = voice_free && (PITCH_MIN..=PITCH_MAX).any(|pitch| allowed(&pitch));
        let reachable = |from: &u8| (PITCH_MIN..=PITCH_MAX).filter(allowed).any(|pitch| self.within_leap(*from, pitch));
        let leap_from = state.last_onset().filter(|_| any && self.max_leap_semitones < u8::MAX).filter(reachable);
        OpenNotes { any, leap_from }
    }

    fn within_leap(&self, from: u8, pitch: u8) -> bool {
        from.abs_diff(pitch) <= self.max_leap_semitones
    }
}

/// The note-ons open for one draw, worked out once for the whole vocabulary.
struct OpenNotes {
    /// Whether any note-on is allowed (a voice is free and some pitch passes).
    any: bool,
    /// The pitch a new note must lie within the leap limit of, when the limit applies.
    leap_from: Option<u8>,
}

/// Draws tokens; seeded, with scratch preallocated for the whole vocabulary.
#[derive(Clone, Debug)]
pub struct Sampler {
    /// The random source (same seed, same draws).
    rng: Pcg64Mcg,
    /// Tempered probabilities of the candidates (unnormalized).
    weights: Vec<f32>,
    /// The candidate tokens, sorted by weight for top-k/top-p.
    candidates: Vec<Token>,
}

impl Sampler {
    /// A sampler whose draws depend only on `seed` and its inputs.
    pub fn new(seed: u64) -> Sampler {
        Sampler {
            rng: Pcg64Mcg::seed_from_u64(seed),
            weights: vec![0.0; VOCAB_SIZE],
            candidates: Vec::with_capacity(VOCAB_SIZE),
        }
    }

    /// Restarts the random sequence.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = Pcg64Mcg::seed_from_u64(seed);
    }

    /// Chooses the next token after `state` from `logits`. Only tokens the grammar and the
    /// constraints allow are drawn; if the constraints leave nothing (a prompt can end in a
    /// corner), the grammar alone decides.
    pub fn sample(
        &mut self,
        logits: &[f32],
        state: &SequenceState,
        options: &SamplingOptions,
        constraints: &Constraints,
    ) -> Token {
        let open = constraints.open_notes(state);
        self.collect_candidates(logits.len(), |event| constraints.allows(event, state, &open));
        if self.candidates.is_empty() {
            self.collect_candidates(logits.len(), |event| state.is_legal(event));
        }
        if self.candidates.is_empty() {
            // Only reachable with a vocabulary the grammar does not know: take the best logit.
            return argmax(logits.iter().copied().enumerate()) as Token;
        }
        if options.greedy {
            return argmax(self.candidates.iter().map(|&t| (t as usize, logits[t as usize]))) as Token;
        }
        self.weigh(logits, options.temperature);
        self.keep_most_likely(options.top_k, options.top_p);
        self.draw()
    }

    fn collect_candidates(&mut self, vocabulary: usize, allowed: impl Fn(Event) -> bool) {
        self.candidates.clear();
        for token in 0..vocabulary.min(VOCAB_SIZE) as Token {
            if Event::from_token(token).is_some_and(&allowed) {
                self.candidates.push(token);
            }
        }
    }

    /// Softmax numerators at the temperature, max-shifted for range.
    fn weigh(&mut self, logits: &[f32], temperature: f32) {
        let temperature = temperature.max(1e-3);
        let max = self.candidates.iter().map(|&t| logits[t as usize]).fold(f32::NEG_INFINITY, f32::max);
        for &token in &self.candidates {
            self.weights[token as usize] = ((logits[token as usize] - max) / temperature).exp();
        }
    }

    /// Top-k, then top-p, over the candidates sorted by weight (in place: no allocation).
    fn keep_most_likely(&mut self, top_k: usize, top_p: f32) {
        if top_k == 0 && top_p >= 1.0 {
            return;
        }
        let weights = &self.weights;
        self.candidates.sort_unstable_by(|&a, &b| weights[b as usize].total_cmp(&weights[a as usize]).then(a.cmp(&b)));
        if top_k > 0 {
            self.candidates.truncate(top_k);
        }
        if top_p < 1.0 {
            let total: f32 = self.candidates.iter().map(|&t| weights[t as usize]).sum();
            let mut cumulative = 0.0;
            let mut keep = self.candidates.len();
            for (index, &token) in self.candidates.iter().enumerate() {
                cumulative += weights[token as usize];
                if cumulative >= top_p * total {
                    keep = index + 1;
                    break;
                }
            }
            self.candidates.truncate(keep);
        }
    }

    /// A draw proportional to the candidates' weights.
    fn draw(&mut self) -> Token {
        let total: f32 = self.candidates.iter().map(|&t| self.weights[t as usize]).sum();
        let mut remaining = self.rng.random::<f32>() * total;
        for &token in &self.candidates {
            remaining -= self.weights[token as usize];
            if remaining < 0.0 {
                return token;
            }
        }
        *self.candidates.last().expect("candidates are not empty")
    }
}

/// The index of the largest value (the first on ties).
fn argmax(values: impl Iterator<Item = (usize, f32)>) -> usize {
    values.fold((0, f32::NEG_INFINITY), |best, (index, value)| if value > best.1 { (index, value) } else { best }).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::random_model::random_wavenet;
    use crate::engine::tests::small_config;
    use crate::engine::{Engine, Generator};
    use crate::tokens::Played;

    fn generator(seed: u64) -> Generator {
        Generator::new(Engine::from_model(&random_wavenet(small_config(), 21)).unwrap(), seed)
    }

    fn generate(generator: &mut Generator, count: usize, options: &SamplingOptions, constraints: &Constraints) -> Vec<Token> {
        (0..count).map(|_| generator.sample_next(options, constraints, |_| {})).collect()
    }

    #[test]
    fn the_same_seed_and_input_give_the_same_tokens() {
        let options = SamplingOptions { temperature: 1.2, top_k: 40, top_p: 0.95, greedy: false };
        let constraints = Constraints::default();
        let first = generate(&mut generator(5), 400, &options, &constraints);
        assert_eq!(generate(&mut generator(5), 400, &options, &constraints), first);
        assert_ne!(generate(&mut generator(6), 400, &options, &constraints), first, "another seed, other tokens");
        let mut reseeded = generator(99);
        reseeded.sampler_mut().reseed(5);
        assert_eq!(generate(&mut reseeded, 400, &options, &constraints), first);
    }

    #[test]
    fn generated_notes_respect_range_key_and_grammar() {
        let constraints = Constraints { pitch_low: 48, pitch_high: 72, root: 2, mode: ScaleMode::Minor, ..Constraints::default() };
        let d_minor = [2, 4, 5, 7, 9, 10, 0];
        let options = SamplingOptions { temperature: 1.5, ..SamplingOptions::default() };
        let mut generator = generator(8);
        let mut onsets = 0;
        for _ in 0..3000 {
            let state = generator.engine().state().clone();
            let token = generator.sample_next(&options, &constraints, |played| {
                if let Played::On { pitch, .. } = played {
                    onsets += 1;
                    assert!((48..=72).contains(&pitch), "pitch {pitch} outside 48..=72");
                    assert!(d_minor.contains(&(pitch % 12)), "pitch {pitch} not in D minor");
                }
            });
            let event = Event::from_token(token).unwrap();
            assert!(state.is_legal(event), "{event:?} is not legal here");
            match event {
                Event::NoteOff(pitch) => assert!(state.is_sounding(pitch), "note-off for silent {pitch}"),
                Event::NoteOn(pitch) => assert!(!state.is_sounding(pitch), "note-on for sounding {pitch}"),
                Event::End => panic!("End is not allowed"),
                _ => {}
            }
        }
        assert!(onsets > 50, "only {onsets} notes in 3000 tokens");
    }

    /// The most notes sounding together, and the onsets, over `count` sampled tokens.
    fn most_voices_and_onsets(constraints: &Constraints, count: usize) -> (usize, usize) {
        let options = SamplingOptions { temperature: 1.5, ..SamplingOptions::default() };
        let (mut generator, mut most, mut onsets) = (generator(3), 0, 0);
        for _ in 0..count {
            generator.sample_next(&options, constraints, |played| onsets += usize::from(matches!(played, Played::On { .. })));
            most = most.max(generator.engine().state().sounding_count());
        }
        (most, onsets)
    }

    #[test]
    fn no_more_than_max_voices_notes_sound_together_and_sampling_goes_on() {
        let (unlimited, _) = most_voices_and_onsets(&Constraints::default(), 3000);
        assert!(unlimited > 2, "this model sounds {unlimited} notes together unlimited, so the limit is tested");
        let (most, onsets) = most_voices_and_onsets(&Constraints { max_voices: 2, ..Constraints::default() }, 3000);
        assert_eq!(most, 2);
        assert!(onsets > 50, "only {onsets} notes in 3000 tokens");
    }

    /// The pitches of the notes started over `count` sampled tokens after `prompt`.
    fn onsets_after(prompt: &[Event], constraints: &Constraints, count: usize) -> Vec<u8> {
        let options = SamplingOptions { temperature: 1.5, ..SamplingOptions::default() };
        let mut generator = generator(4);
        prompt.iter().for_each(|event| generator.feed(event.token()));
        let mut onsets = vec![];
        for _ in 0..count {
            generator.sample_next(&options, constraints, |played| {
                if let Played::On { pitch, .. } = played {
                    onsets.push(pitch);
                }
            });
        }
        onsets
    }

    #[test]
    fn a_single_line_leaps_at_most_an_octave_unless_no_allowed_pitch_is_that_near() {
        let widest = |onsets: &[u8]| onsets.windows(2).map(|pair| pair[0].abs_diff(pair[1])).max().unwrap_or(0);
        let one_voice = Constraints { max_voices: 1, ..Constraints::default() };
        assert!(widest(&onsets_after(&[], &one_voice, 3000)) > MAX_LINE_LEAP_SEMITONES, "this model leaps further, so the limit is tested");
        let line = Constraints::default().with_voice_limit(1);
        let onsets = onsets_after(&[], &line, 3000);
        assert!(onsets.len() > 50, "only {} notes", onsets.len());
        assert!(widest(&onsets) <= MAX_LINE_LEAP_SEMITONES, "{onsets:?}");
        let far_above = Constraints { pitch_low: 90, pitch_high: 100, ..line };
        let after_a_low_note = [Event::NoteOn(40), Event::TimeShift(12), Event::NoteOff(40)];
        let onsets = onsets_after(&after_a_low_note, &far_above, 1000);
        assert!(!onsets.is_empty(), "the line goes on even 50 semitones from the last note");
        assert!(onsets.iter().all(|pitch| (90..=100).contains(pitch)));
    }

    #[test]
    fn greedy_top_k_1_and_tiny_top_p_take_the_best_allowed_token() {
        let mut logits = vec![0.0f32; VOCAB_SIZE];
        logits[Event::NoteOff(60).token() as usize] = 9.0; // illegal: 60 is silent
        logits[Event::NoteOn(61).token() as usize] = 8.0; // outside C major
        logits[Event::NoteOn(64).token() as usize] = 5.0;
        logits[Event::NoteOn(65).token() as usize] = 4.9;
        let state = SequenceState::default();
        let constraints = Constraints { mode: ScaleMode::Major, ..Constraints::default() };
        let best = Event::NoteOn(64).token();
        let mut sampler = Sampler::new(1);
        for options in [
            SamplingOptions { greedy: true, ..SamplingOptions::default() },
            SamplingOptions { top_k: 1, ..SamplingOptions::default() },
            SamplingOptions { top_p: 0.01, ..SamplingOptions::default() },
        ] {
            for _ in 0..20 {
                assert_eq!(sampler.sample(&logits, &state, &options, &constraints), best, "{options:?}");
            }
        }
        let two = SamplingOptions { top_k: 2, ..SamplingOptions::default() };
        let drawn: Vec<Token> = (0..200).map(|_| sampler.sample(&logits, &state, &two, &constraints)).collect();
        assert!(drawn.iter().all(|&t| t == best || t == Event::NoteOn(65).token()));
        assert!(drawn.contains(&Event::NoteOn(65).token()), "top-k 2 draws the second too");
    }

    #[test]
    fn velocity_is_not_drawn_when_no_allowed_note_can_follow() {
        let mut state = SequenceState::default();
        state.apply(Event::NoteOn(PITCH_MAX), |_| {});
        let mut logits = vec![0.0f32; VOCAB_SIZE];
        logits[Event::Velocity(3).token() as usize] = 50.0;
        let constraints = Constraints { pitch_low: PITCH_MIN, ..Constraints::default() };
        let token = Sampler::new(2).sample(&logits, &state, &SamplingOptions::default(), &constraints);
        assert_ne!(token, Event::Velocity(3).token(), "a velocity here would lead to a dead end");
    }
}
