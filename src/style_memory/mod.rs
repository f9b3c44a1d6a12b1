//! The style memory: what the player has played in this session, as a variable-order Markov model
//! (the Continuator's idea) that learns token by token, mixed into the WaveNet's distribution at
//! each sampling step. The network brings the musical prior; the memory makes answers take up the
//! player's own motifs, rhythms and voicings.
//!
//! How the two combine: after the current context the memory finds the longest context it has
//! heard (up to [`MEMORY_MAX_ORDER`] tokens) and blends the counts of every matched order, longest
//! first, with Witten-Bell escapes down to the network's distribution (interpolated smoothing, as
//! in PPM, with the network in place of the unigram). That distribution is mixed with the
//! network's with a weight that depends on the length of the match: a long match means the
//! player is repeating themselves. The weights per match length are measured
//! (`cargo xtask eval --memory --fit-memory`, see MODEL.md) and scaled by the Style Memory
//! control.
//!
//! Bounded: at most [`MEMORY_CAPACITY_TOKENS`] learned tokens (the oldest are forgotten first),
//! every table sized at construction, so learning and mixing never allocate.

mod counts;
pub mod score;

use counts::{ContextCountTable, ContextCounts};

use crate::markov::splitmix64;
use crate::tokens::{Token, VOCAB_SIZE};

/// Most tokens the memory holds: the last this many the player played.
pub const MEMORY_CAPACITY_TOKENS: usize = 20_000;
/// Longest context the memory matches, in tokens.
pub const MEMORY_MAX_ORDER: usize = 12;
/// Style Memory setting at which the mixing weights are the measured ones; 1.0 leans on the
/// memory twice as much.
pub const MEASURED_STRENGTH: f32 = 0.5;
/// Largest share the memory may take of any prediction, so the network always keeps a voice.
const MAX_MEMORY_WEIGHT: f64 = 0.99;
/// The memory's mixing weight per matched context length (index = tokens matched), as fitted
/// on the default model's training split (`eval --memory --fit-memory`, run 7's model: a network
/// with a copy head leans on the memory less for short matches than one without).
const MEASURED_WEIGHTS: [f64; MEMORY_MAX_ORDER + 1] =
    [0.0, 0.0, 0.004, 0.065, 0.215, 0.367, 0.407, 0.568, 0.612, 0.581, 0.695, 0.744, 0.949];
/// Seed of the context hashes (any constant; it keeps them apart from other uses of splitmix).
const CONTEXT_HASH_SEED: u64 = 0x5e55_10e0_c0de_0001;

/// A saved memory that cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// More tokens than the memory holds.
    #[error("holds {0} tokens; a style memory holds at most {MEMORY_CAPACITY_TOKENS}")]
    TooLong(usize),
    /// A token outside the vocabulary.
    #[error("holds token {0}, outside the vocabulary (0..{VOCAB_SIZE})")]
    UnknownToken(Token),
}

/// What the memory recalls after the current context, before it is mixed in.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Recall {
    /// Length of the longest heard context that matches the current one (0 = nothing matched).
    pub matched_order: usize,
    /// Share of the memory's distribution that escapes to the network's.
    pub network_share: f64,
}

/// The last tokens of the stream being continued (played and sampled), which the memory looks
/// up. Kept apart from the memory so each answer can follow its own stream without copying it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryContext {
    /// The tokens, oldest first; only the first `len` count.
    tokens: [Token; MEMORY_MAX_ORDER],
    /// How many are held (fewer than the maximum at the start of a stream).
    len: usize,
}

impl MemoryContext {
    /// Continues the stream with `token`.
    pub fn push(&mut self, token: Token) {
        if self.len == MEMORY_MAX_ORDER {
            self.tokens.copy_within(1.., 0);
            self.len -= 1;
        }
        self.tokens[self.len] = token;
        self.len += 1;
    }

    /// A new stream starts.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The held tokens, newest first.
    fn newest_first(&self) -> impl Iterator<Item = Token> + '_ {
        self.tokens[..self.len].iter().rev().copied()
    }
}

/// The session's style memory.
#[derive(Clone, Debug)]
pub struct StyleMemory {
    /// The learned tokens, oldest first, as a ring of `capacity`.
    learned: Vec<Token>,
    /// The most tokens it holds: [`MEMORY_CAPACITY_TOKENS`] in the plugin; evaluation holds fewer
    /// to ask how far back the matches that help lie.
    capacity: usize,
    /// Index in `learned` of the oldest token once the ring is full.
    oldest: usize,
    /// Follower counts of every (context of 1..=max order tokens, next token) in `learned`.
    counts: ContextCountTable,
    /// The mass the memory's own counts give each token after the recalled context.
    recalled: SparseMass,
}

/// Probability mass on a few tokens of the vocabulary, cheap to clear.
#[derive(Clone, Debug)]
struct SparseMass {
    /// Mass per token (zero for most).
    mass: Vec<f64>,
    /// The tokens with non-zero mass.
    tokens: Vec<Token>,
}

impl SparseMass {
    fn new() -> Self {
        SparseMass { mass: vec![0.0; VOCAB_SIZE], tokens: Vec::with_capacity(VOCAB_SIZE) }
    }

    fn clear(&mut self) {
        for &token in &self.tokens {
            self.mass[token as usize] = 0.0;
        }
        self.tokens.clear();
    }

    fn add(&mut self, token: Token, mass: f64) {
        if self.mass[token as usize] == 0.0 {
            self.tokens.push(token);
        }
        self.mass[token as usize] += mass;
    }

    /// Adds one context's counts, Witten-Bell style, at `share` of the mass: each follower gets
    /// count / (total + distinct); returns the share passed on to shorter contexts,
    /// distinct / (total + distinct).
    fn add_counts(&mut self, counts: &ContextCounts, share: f64) -> f64 {
        let denominator = (counts.total + counts.distinct) as f64;
        for (token, count) in counts.followers() {
            self.add(token, share * count as f64 / denominator);
        }
        share * counts.distinct as f64 / denominator
    }
}

impl Default for StyleMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl StyleMemory {
    /// An empty memory with all its tables allocated.
    pub fn new() -> StyleMemory {
        Self::with_capacity(MEMORY_CAPACITY_TOKENS)
    }

    /// An empty memory that holds the last `capacity` tokens it learns (1 to
    /// [`MEMORY_CAPACITY_TOKENS`]), its tables allocated.
    pub fn with_capacity(capacity: usize) -> StyleMemory {
        assert!((1..=MEMORY_CAPACITY_TOKENS).contains(&capacity), "a style memory holds 1 to {MEMORY_CAPACITY_TOKENS} tokens, not {capacity}");
        StyleMemory {
            learned: Vec::with_capacity(capacity),
            capacity,
            oldest: 0,
            counts: ContextCountTable::new(capacity * MEMORY_MAX_ORDER),
            recalled: SparseMass::new(),
        }
    }

    /// Forgets everything learned.
    pub fn forget(&mut self) {
        self.learned.clear();
        self.oldest = 0;
        self.counts.clear();
    }

    /// How many tokens it holds.
    pub fn len(&self) -> usize {
        self.learned.len()
    }

    /// Whether it has learned nothing.
    pub fn is_empty(&self) -> bool {
        self.learned.is_empty()
    }

    /// The learned tokens, oldest first (what a saved project keeps).
    pub fn learned_tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.learned[self.oldest..].iter().chain(&self.learned[..self.oldest]).copied()
    }

    /// Replaces the memory with saved tokens, or refuses them and stays empty.
    pub fn restore(&mut self, tokens: &[Token]) -> Result<(), MemoryError> {
        self.forget();
        if tokens.len() > MEMORY_CAPACITY_TOKENS {
            return Err(MemoryError::TooLong(tokens.len()));
        }
        if let Some(&token) = tokens.iter().find(|&&token| token as usize >= VOCAB_SIZE) {
            return Err(MemoryError::UnknownToken(token));
        }
        tokens.iter().for_each(|&token| self.learn(token));
        Ok(())
    }

    /// The player played `token`: learn what it followed.
    pub fn learn(&mut self, token: Token) {
        if token as usize >= VOCAB_SIZE {
            return;
        }
        if self.learned.len() == self.capacity {
            self.forget_oldest();
        }
        let (hashes, orders) = context_hashes(self.learned_newest_first());
        for &hash in &hashes[..orders] {
            self.counts.add(hash, token);
        }
        if self.learned.len() < self.capacity {
            self.learned.push(token);
        } else {
            self.learned[self.oldest] = token;
            self.oldest = (self.oldest + 1) % self.capacity;
        }
    }

    /// Looks `context` up and keeps the memory's distribution after it for the mixing steps.
    pub fn recall(&mut self, context: &MemoryContext) -> Recall {
        let Self { counts, recalled, .. } = self;
        recalled.clear();
        let (hashes, orders) = context_hashes(context.newest_first());
        let mut matched = [None; MEMORY_MAX_ORDER];
        let mut matched_order = 0;
        for (slot, &hash) in matched.iter_mut().zip(&hashes[..orders]) {
            let Some(heard) = counts.get(hash) else { break };
            *slot = Some(heard);
            matched_order += 1;
        }
        // Longest order first; what each passes down goes to the shorter ones, and what the
        // shortest passes down to the network.
        let mut share = 1.0;
        for heard in matched[..matched_order].iter().rev().flatten() {
            share = recalled.add_counts(heard, share);
        }
        Recall { matched_order, network_share: share }
    }

    /// The memory's probability of `token` after the recalled context, given the network's.
    pub fn probability(&self, recall: &Recall, token: Token, network_probability: f64) -> f64 {
        recall.network_share * network_probability + self.recalled.mass[token as usize]
    }

    /// The memory's mixing weight for a recall at the Style Memory `strength` (0..=1).
    pub fn weight(recall: &Recall, strength: f32) -> f64 {
        let scale = (strength.clamp(0.0, 1.0) / MEASURED_STRENGTH) as f64;
        (MEASURED_WEIGHTS[recall.matched_order] * scale).min(MAX_MEMORY_WEIGHT)
    }

    /// Mixes the recalled distribution into `logits` at `weight`: afterwards their softmax is
    /// `(1 - weight) * network + weight * memory`. Only the tokens the memory recalls change
    /// (the rest shift by a constant, which the softmax ignores).
    pub fn mix_into_logits(&self, recall: &Recall, weight: f64, logits: &mut [f32]) {
        if weight <= 0.0 || self.recalled.tokens.is_empty() {
            return;
        }
        let log_normalizer = log_sum_exp(logits);
        // Every network probability is scaled by `kept`; recalled tokens add their own mass.
        let kept = 1.0 - weight + weight * recall.network_share;
        for &token in &self.recalled.tokens {
            let logit = &mut logits[token as usize];
            let network = (*logit as f64 - log_normalizer).exp();
            let mixed = kept * network + weight * self.recalled.mass[token as usize];
            *logit = ((mixed / kept).ln() + log_normalizer) as f32;
        }
    }

    /// Recalls after `context` and mixes into `logits` at the Style Memory `strength`.
    pub fn steer(&mut self, context: &MemoryContext, logits: &mut [f32], strength: f32) -> Recall {
        let recall = self.recall(context);
        self.mix_into_logits(&recall, Self::weight(&recall, strength), logits);
        recall
    }

    /// The learned tokens, newest first.
    fn learned_newest_first(&self) -> impl Iterator<Item = Token> + '_ {
        let (recent, earlier) = self.learned.split_at(self.oldest);
        recent.iter().rev().chain(earlier.iter().rev()).copied()
    }

    /// Removes the oldest learned token's pairs: those whose context starts with it.
    fn forget_oldest(&mut self) {
        let mut window = [0 as Token; MEMORY_MAX_ORDER + 1];
        let mut held = 0;
        for (slot, token) in window.iter_mut().zip(self.learned_tokens()) {
            *slot = token;
            held += 1;
        }
        for order in 1..held {
            let (hashes, _) = context_hashes(window[..order].iter().rev().copied());
            self.counts.remove(hashes[order - 1], window[order]);
        }
    }
}

/// The hashes of the contexts of 1, 2, ... up to `MEMORY_MAX_ORDER` of `newest_first`'s tokens,
/// and how many there are (fewer when it runs out).
fn context_hashes(newest_first: impl Iterator<Item = Token>) -> ([u64; MEMORY_MAX_ORDER], usize) {
    let mut hashes = [0u64; MEMORY_MAX_ORDER];
    let mut count = 0;
    let mut hash = CONTEXT_HASH_SEED;
    for (slot, token) in hashes.iter_mut().zip(newest_first) {
        hash = extend_hash(hash, token);
        *slot = hash;
        count += 1;
    }
    (hashes, count)
}

/// The hash of a context one token longer (tokens are added newest first).
fn extend_hash(hash: u64, token: Token) -> u64 {
    splitmix64(hash ^ (token as u64 + 1))
}

/// `ln(sum(exp(logits)))`, in f64.
pub(crate) fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    max + logits.iter().map(|&logit| (logit as f64 - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests;
