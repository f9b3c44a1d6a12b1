//! The repeat pointer: music repeats itself exactly (a section played again, a riff, a bass
//! line), and the network alone does not copy: after a 64-token passage heard before, it gives
//! the note that repeats it about a quarter of its probability (BENCHMARKS.md, "The repeat
//! pointer"). The pointer finds where the stream's last tokens occurred before and proposes the
//! token that followed them there; the model file's learned bonus, by the match's length and the
//! proposed event's kind, is added to that token's logit (a product of the network's distribution
//! and the copy, so sampling's temperature and top-p act on both). Fixed memory: nothing
//! allocates after [`RepeatPointer::new`].
//!
//! The rule, which [`NaiveRepeatPointer`] states by brute force: after each token, if it is the
//! token the pointer proposed, the match goes on one token longer (at most
//! [`MATCH_MAX_TOKENS`]) and proposes the next one; otherwise the pointer looks for the most
//! recent earlier occurrence of the last [`MATCH_MIN_TOKENS`] tokens at most [`WINDOW_TOKENS`]
//! back, measures how many tokens match backwards from it, and proposes the token after it.

use std::sync::Arc;

use crate::model::{names, ModelFile};
use crate::style_memory::MEASURED_STRENGTH;
use crate::tokens::{EventKind, Token};

/// Shortest match the pointer trusts: shorter ones are mostly chance (a time shift and a note).
pub const MATCH_MIN_TOKENS: usize = 4;
/// Longest match length measured: past it a match's length says nothing more.
pub const MATCH_MAX_TOKENS: usize = 256;
/// Match lengths by powers of two, `[4, 8)` to `[128, 256)`, then 256.
pub const LENGTH_BUCKETS: usize = 7;
/// The shape of the model file's bonus table: a row per length bucket, a column per event kind.
pub const BONUS_SHAPE: [usize; 2] = [LENGTH_BUCKETS, EventKind::ALL.len()];
/// Bonuses in the table.
pub const BONUS_COUNT: usize = BONUS_SHAPE[0] * BONUS_SHAPE[1];
/// The share of the fitted bonus to sample with when no style memory steers. The whole bonus is
/// the model's likelihood (what `eval` scores), but continuations sampled with it copy a 4-bar
/// prompt too closely (their pitch range and pitch histogram narrow); with a quarter the
/// continuations re-use the prompt's motifs more and lose nothing (BENCHMARKS.md, "The repeat
/// pointer").
pub const REPEAT_SAMPLING_STRENGTH: f32 = 0.25;
/// The share of the bonus to sample with beside a style memory steering at `memory_strength`.
/// Both copy what was played: at the memory's measured setting (the plugin's default) the memory
/// alone copies better (the pointer on top narrowed a few statistics), so the pointer fades out
/// as the memory comes in.
pub fn repeat_sampling_strength(memory_strength: f32) -> f32 {
    REPEAT_SAMPLING_STRENGTH * (1.0 - memory_strength / MEASURED_STRENGTH).max(0.0)
}

/// Tokens kept: minutes of playing, and all but the longest pieces of the training data.
const HISTORY_TOKENS: usize = 1 << 14;
/// How far back a match may start, leaving room in the history to measure its length.
pub const WINDOW_TOKENS: usize = HISTORY_TOKENS - MATCH_MAX_TOKENS;
/// Slots of the hash table of `MATCH_MIN_TOKENS`-grams.
const TABLE_SLOTS: usize = 1 << 14;
/// A slot or chain link with no position.
const NONE: usize = usize::MAX;

/// What the pointer proposes for the next token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The token that followed the match.
    pub token: Token,
    /// How many tokens match, `MATCH_MIN_TOKENS..=MATCH_MAX_TOKENS`.
    pub length: usize,
}

impl Proposal {
    /// Index of this proposal's bonus in the model's table.
    pub fn bonus_index(&self) -> usize {
        let bucket = (self.length.ilog2() as usize - MATCH_MIN_TOKENS.ilog2() as usize).min(LENGTH_BUCKETS - 1);
        bucket * EventKind::ALL.len() + EventKind::of(self.token).index()
    }
}

/// Anything that follows a token stream and proposes a repeat: the fast pointer and its
/// brute-force reference.
pub trait Pointer {
    /// Forgets everything heard.
    fn clear(&mut self);
    /// Hears the next token of the stream.
    fn push(&mut self, token: Token);
    /// The proposal for the token after those heard, if the stream's end repeats.
    fn proposal(&self) -> Option<Proposal>;
}

/// The pointer with a ring of recent tokens and hash chains over their
/// `MATCH_MIN_TOKENS`-grams (as a deflate compressor finds its matches).
#[derive(Clone, Debug)]
pub struct RepeatPointer {
    /// The last `HISTORY_TOKENS` tokens, by position modulo its length.
    history: Box<[Token]>,
    /// Tokens heard so far: the position of the next.
    heard: usize,
    /// The most recent position ending each hashed gram, by slot.
    newest: Box<[usize]>,
    /// The previous position in the same slot as each position, by position modulo the ring.
    older: Box<[usize]>,
    /// The position whose token is proposed, and the match's length.
    matched: Option<(usize, usize)>,
}

impl Default for RepeatPointer {
    fn default() -> Self {
        Self::new()
    }
}

impl RepeatPointer {
    /// An empty pointer: its ring and tables are allocated here, once.
    pub fn new() -> Self {
        Self {
            history: vec![0; HISTORY_TOKENS].into_boxed_slice(),
            heard: 0,
            newest: vec![NONE; TABLE_SLOTS].into_boxed_slice(),
            older: vec![NONE; HISTORY_TOKENS].into_boxed_slice(),
            matched: None,
        }
    }

    fn at(&self, position: usize) -> Token {
        self.history[position % HISTORY_TOKENS]
    }

    /// The slot of the gram ending at `end`.
    fn slot(&self, end: usize) -> usize {
        let gram = (0..MATCH_MIN_TOKENS).fold(0u64, |gram, back| gram << 16 | self.at(end - back) as u64);
        (gram.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - TABLE_SLOTS.ilog2())) as usize
    }

    /// How many tokens ending at `earlier` and at `end` agree, at most `MATCH_MAX_TOKENS`.
    fn matching_length(&self, earlier: usize, end: usize) -> usize {
        (0..MATCH_MAX_TOKENS.min(earlier + 1)).take_while(|&back| self.at(earlier - back) == self.at(end - back)).count()
    }

    /// The most recent earlier match of the gram ending at `end`, within the window.
    fn find_match(&self, end: usize, slot: usize) -> Option<(usize, usize)> {
        let mut earlier = self.newest[slot];
        while earlier != NONE && end - earlier <= WINDOW_TOKENS {
            let length = self.matching_length(earlier, end);
            if length >= MATCH_MIN_TOKENS {
                return Some((earlier + 1, length));
            }
            earlier = self.older[earlier % HISTORY_TOKENS];
        }
        None
    }
}

impl Pointer for RepeatPointer {
    fn clear(&mut self) {
        self.heard = 0;
        self.newest.fill(NONE);
        self.matched = None;
    }

    fn push(&mut self, token: Token) {
        let end = self.heard;
        self.history[end % HISTORY_TOKENS] = token;
        self.heard += 1;
        self.matched = match self.matched {
            Some((proposed, length)) if self.at(proposed) == token => Some((proposed + 1, (length + 1).min(MATCH_MAX_TOKENS))),
            _ => None,
        };
        if end + 1 < MATCH_MIN_TOKENS {
            return;
        }
        let slot = self.slot(end);
        if self.matched.is_none() {
            self.matched = self.find_match(end, slot);
        }
        self.older[end % HISTORY_TOKENS] = self.newest[slot];
        self.newest[slot] = end;
    }

    fn proposal(&self) -> Option<Proposal> {
        self.matched.map(|(position, length)| Proposal { token: self.at(position), length })
    }
}

/// The rule stated by brute force over the whole stream, to check [`RepeatPointer`] against.
#[derive(Clone, Debug, Default)]
pub struct NaiveRepeatPointer {
    /// Every token heard.
    heard: Vec<Token>,
    /// As [`RepeatPointer`]'s.
    matched: Option<(usize, usize)>,
}

impl Pointer for NaiveRepeatPointer {
    fn clear(&mut self) {
        self.heard.clear();
        self.matched = None;
    }

    fn push(&mut self, token: Token) {
        self.heard.push(token);
        let tokens = &self.heard;
        let end = tokens.len() - 1;
        self.matched = match self.matched {
            Some((proposed, length)) if tokens[proposed] == token => Some((proposed + 1, (length + 1).min(MATCH_MAX_TOKENS))),
            _ => None,
        };
        if self.matched.is_some() || end + 1 < MATCH_MIN_TOKENS {
            return;
        }
        let agree = |earlier: usize| (0..=earlier.min(MATCH_MAX_TOKENS - 1)).take_while(|&back| tokens[earlier - back] == tokens[end - back]).count();
        self.matched = (end.saturating_sub(WINDOW_TOKENS)..end)
            .rev()
            .map(|earlier| (earlier + 1, agree(earlier)))
            .find(|&(_, length)| length >= MATCH_MIN_TOKENS);
    }

    fn proposal(&self) -> Option<Proposal> {
        self.matched.map(|(position, length)| Proposal { token: self.heard[position], length })
    }
}

/// A pointer with the model's bonus table: adds the bonus of each proposal to its logit.
#[derive(Clone, Debug)]
pub struct PointerHead<P: Pointer> {
    /// `[LENGTH_BUCKETS, EventKind::ALL.len()]` logit bonuses, shared by every clone.
    bonus: Arc<[f32]>,
    /// The share of the bonus added: 1 for the model's likelihood, less to sample with.
    strength: f32,
    /// The proposed token and its whole bonus, as last added, so a new strength can correct the
    /// logits already computed.
    added: Option<(Token, f32)>,
    /// Finds the repeats.
    pointer: P,
}

impl<P: Pointer + Default> PointerHead<P> {
    /// The head of a validated model that has one, adding the whole bonus.
    pub fn from_model(model: &ModelFile) -> Option<Self> {
        let bonus = model.f32(names::REPEAT_BONUS)?;
        Some(Self { bonus: Arc::from(bonus), strength: 1.0, added: None, pointer: P::default() })
    }
}

impl<P: Pointer> PointerHead<P> {
    /// Forgets the stream.
    pub fn clear(&mut self) {
        self.pointer.clear();
        self.added = None;
    }

    /// Hears the stream's next token.
    pub fn hear(&mut self, token: Token) {
        self.pointer.push(token);
    }

    /// Adds the bonus of the proposal for the next token, times the strength, to its logit.
    pub fn add_bonus(&mut self, logits: &mut [f32]) {
        self.added = self.pointer.proposal().map(|proposal| (proposal.token, self.bonus[proposal.bonus_index()]));
        if let Some((token, bonus)) = self.added {
            logits[token as usize] += self.strength * bonus;
        }
    }

    /// Adds the last proposal's bonus at the current strength to `logits`, the last step's
    /// recomputed without it.
    pub fn add_last_bonus(&self, logits: &mut [f32]) {
        if let Some((token, bonus)) = self.added {
            logits[token as usize] += self.strength * bonus;
        }
    }

    /// Adds `strength` times the bonus from now on, and corrects `logits` (those of the last
    /// step) to it.
    pub fn set_strength(&mut self, strength: f32, logits: &mut [f32]) {
        if let Some((token, bonus)) = self.added {
            logits[token as usize] += (strength - self.strength) * bonus;
        }
        self.strength = strength;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A stream with exact repeats at several distances, some longer than the window, and noise
    /// between them.
    fn repeating_stream(length: usize, seed: u64) -> Vec<Token> {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        let mut tokens: Vec<Token> = Vec::with_capacity(length);
        while tokens.len() < length {
            let copy = rng.random_range(0..4) > 0 && tokens.len() > 8;
            if copy {
                let from = rng.random_range(0..tokens.len() - 4);
                let run = rng.random_range(4..400).min(tokens.len() - from);
                for offset in 0..run {
                    tokens.push(tokens[from + offset]);
                }
            } else {
                for _ in 0..rng.random_range(1..30) {
                    tokens.push(rng.random_range(3..40));
                }
            }
        }
        tokens.truncate(length);
        tokens
    }

    #[test]
    fn the_pointer_proposes_what_the_brute_force_rule_proposes() {
        for seed in 0..3 {
            let stream = repeating_stream(HISTORY_TOKENS + 6000, seed);
            let (mut fast, mut naive) = (RepeatPointer::new(), NaiveRepeatPointer::default());
            let mut proposals = 0;
            for (position, &token) in stream.iter().enumerate() {
                fast.push(token);
                naive.push(token);
                assert_eq!(fast.proposal(), naive.proposal(), "seed {seed}, after position {position}");
                proposals += usize::from(fast.proposal().is_some());
            }
            assert!(proposals > stream.len() / 2, "the stream repeats: {proposals} proposals");
        }
    }

    #[test]
    fn a_repeated_phrase_is_proposed_with_its_growing_length_and_clear_forgets_it() {
        let phrase: Vec<Token> = (10..30).collect();
        let mut pointer = RepeatPointer::new();
        for &token in &phrase {
            pointer.push(token);
            assert_eq!(pointer.proposal(), None, "nothing repeats yet");
        }
        for (index, &token) in phrase.iter().enumerate().take(phrase.len() - 1) {
            pointer.push(token);
            let heard = index + 1;
            let expected = (heard >= MATCH_MIN_TOKENS).then(|| Proposal { token: phrase[heard], length: heard });
            assert_eq!(pointer.proposal(), expected);
        }
        pointer.clear();
        pointer.push(10);
        pointer.push(11);
        pointer.push(12);
        pointer.push(13);
        assert_eq!(pointer.proposal(), None);
    }

    #[test]
    fn bonus_indices_cover_the_table_by_length_and_kind() {
        use crate::tokens::Event;
        let index = |length, event: Event| Proposal { token: event.token(), length }.bonus_index();
        let kinds = EventKind::ALL.len();
        assert_eq!(index(4, Event::NoteOn(60)), 0);
        assert_eq!(index(7, Event::NoteOff(60)), 1);
        assert_eq!(index(8, Event::Velocity(3)), kinds + 2);
        assert_eq!(index(255, Event::TimeShift(5)), 5 * kinds + 3);
        assert_eq!(index(MATCH_MAX_TOKENS, Event::End), BONUS_COUNT - 1);
    }
}
