//! The copy head: a learned pointer over the steps before (a pointer-sentinel mixture, Merity et
//! al. 2016). Each step's head state is turned into a query and a key; the query attends over
//! the keys of the last [`COPY_WINDOW_TOKENS`] steps and over a learned sentinel, and the next
//! token's probability becomes `g * softmax(logits) + sum of the attention on each earlier step
//! whose follower (the token that came after it) is that token`, `g` the sentinel's share. A
//! stack of dilated convolutions reads its past at fixed offsets and does not copy what it heard
//! bars ago; this is the content-addressed lookup that copies. The engine keeps the keys in a
//! ring, so a step costs one product per key, never a pass over the whole context. An int8
//! engine keeps the keys in int8 (one scale per key) and quantizes the query, as its layers do:
//! the ring is then a quarter of the bytes a step reads, and its scores int8 products.

use std::sync::Arc;

use super::dense::{Activations, Dense, Matrix};
use super::kernels::{padded_len, Kernel, Write};
use crate::model::{names, ModelFile, Precision, WaveNetConfig};
use crate::style_memory::log_sum_exp;
use crate::tokens::{Token, VOCAB_SIZE};

/// How many earlier steps the copy head attends over: the receptive field of the default
/// network, rounded up, and the longest training window.
pub const COPY_WINDOW_TOKENS: usize = 2048;

/// The share of the copy head's copying the plugin and `quality` sample with, whatever the Style
/// Memory's setting. The whole mixture is the model's likelihood (what `eval` scores), but
/// continuations of a 4-bar prompt sampled with it narrow their pitch range and top-line leaps,
/// and without it a network trained beside its copy head leaves the prompt's key and density;
/// three quarters lost nothing measured at the plugin's defaults (MODEL.md, "The shipped model
/// (run 7) against run 6").
pub const COPY_SAMPLING_STRENGTH: f32 = 0.75;

/// Added to every probability before its log (the trainer's loss adds it too): keeps a token
/// that neither the network nor the copying gives anything a finite logit.
pub const COPY_PROBABILITY_FLOOR: f32 = 1e-9;

/// What the copy head learned: never changes after load.
#[derive(Debug)]
struct CopyWeights {
    /// Head state -> query, `[K, S]`.
    query: Dense,
    /// Head state -> key, `[K, S]`.
    key: Dense,
    /// The sentinel's key, padded to the kernels' chunk.
    sentinel_key: Vec<f32>,
    /// The sentinel's score offset.
    sentinel_bias: f32,
}

impl CopyWeights {
    /// The copy head of a validated model with `keys`-wide queries and keys.
    fn from_model(model: &ModelFile, keys: usize, kernel: Kernel) -> Self {
        let mut sentinel_key = vec![0.0; padded_len(keys)];
        sentinel_key[..keys].copy_from_slice(model.f32(names::COPY_SENTINEL_KEY).expect("validated sentinel key"));
        Self {
            query: Dense::from_model(model, names::COPY_QUERY, kernel),
            key: Dense::from_model(model, names::COPY_KEY, kernel),
            sentinel_key,
            sentinel_bias: model.f32(names::COPY_SENTINEL_BIAS).expect("validated sentinel bias")[0],
        }
    }
}

/// The copy head of a cached engine: the weights and the ring of earlier steps' keys.
#[derive(Clone, Debug)]
pub struct CopyHead {
    /// The weights, shared by every clone of the engine.
    weights: Arc<CopyWeights>,
    /// The instruction set of the scores and the softmaxes.
    kernel: Kernel,
    /// Query and key width.
    keys: usize,
    /// `1 / sqrt(keys)`, the attention's temperature.
    query_scale: f32,
    /// `[COPY_WINDOW_TOKENS, padded keys]` in the engine's precision: the keys of the earlier
    /// steps whose follower is known, each row padded to the kernels' chunk.
    ring: Matrix,
    /// Scratch: the pending key in int8, on its way into an int8 ring.
    quantized_key: Vec<i8>,
    /// The follower of each ring slot.
    followers: Vec<Token>,
    /// The slot the next completed key goes to.
    next_slot: usize,
    /// How many slots hold a key (up to the window).
    filled: usize,
    /// The newest step's key (padded), whose follower the next token will be.
    pending_key: Vec<f32>,
    /// Whether `pending_key` holds a key (not before the first step).
    pending: bool,
    /// Scratch: the query, quantized in an int8 engine.
    query: Activations,
    /// Scratch: the attention score of each slot.
    scores: Vec<f32>,
    /// Scratch: the unnormalised attention weight of each filled slot.
    attention: Vec<f32>,
    /// Zeros: the scores' biases.
    zero_bias: Vec<f32>,
    /// The share of the copying to mix in: 1 for the model's likelihood, less to sample with.
    strength: f32,
    /// The last step's network distribution, `softmax(logits)`, kept so a new strength can
    /// remix the last step.
    network: Vec<f32>,
    /// The last step's copied distribution: the attention on each earlier step, summed by
    /// follower (it sums to `1 - network_share`).
    copied: Vec<f32>,
    /// The last step's sentinel weight: the network's share of the mixture.
    network_share: f32,
    /// Scratch: the mixture's probability of each token.
    probabilities: Vec<f32>,
}

impl CopyHead {
    /// The head of a validated model that has one.
    pub fn from_model(model: &ModelFile, config: &WaveNetConfig, kernel: Kernel) -> Option<Self> {
        let keys = config.copy_keys;
        if keys == 0 {
            return None;
        }
        let (padded, precision) = (padded_len(keys), model.meta.precision);
        Some(Self {
            weights: Arc::new(CopyWeights::from_model(model, keys, kernel)),
            kernel,
            keys,
            query_scale: query_scale(keys),
            ring: Matrix::zeros(COPY_WINDOW_TOKENS, padded, precision, kernel),
            quantized_key: vec![0; padded],
            followers: vec![0; COPY_WINDOW_TOKENS],
            next_slot: 0,
            filled: 0,
            pending_key: vec![0.0; padded],
            pending: false,
            query: Activations::new(keys, precision, kernel),
            scores: vec![0.0; COPY_WINDOW_TOKENS],
            attention: vec![0.0; COPY_WINDOW_TOKENS],
            zero_bias: vec![0.0; COPY_WINDOW_TOKENS],
            strength: 1.0,
            network: vec![0.0; VOCAB_SIZE],
            copied: vec![0.0; VOCAB_SIZE],
            network_share: 1.0,
            probabilities: vec![0.0; VOCAB_SIZE],
        })
    }

    /// Forgets every earlier step (the strength stays).
    pub fn clear(&mut self) {
        (self.next_slot, self.filled, self.pending) = (0, 0, false);
    }

    /// Hears `token` (the one just fed: the follower of the previous step), then turns the
    /// network's `logits` for the next token into the mixture's log-probabilities, given this
    /// step's head state `hidden`.
    pub fn forward(&mut self, token: Token, hidden: &Activations, logits: &mut [f32]) {
        self.complete_pending(token);
        let (sentinel_weight, normaliser) = self.attend(hidden);
        let shift = self.kernel.max_of(logits, f32::NEG_INFINITY);
        let inverse_normaliser = 1.0 / self.kernel.exp_and_sum(logits, shift, &mut self.network);
        self.network.iter_mut().for_each(|p| *p *= inverse_normaliser);
        sum_by_follower(&self.attention[..self.filled], &self.followers[..self.filled], 1.0 / normaliser, &mut self.copied);
        self.network_share = sentinel_weight / normaliser;
        self.mix(logits);
        self.weights.key.forward(hidden, &mut self.pending_key[..self.keys]);
        self.pending = true;
    }

    /// Mixes in `strength` of the copying from now on, and remixes `logits` (those of the last
    /// step): `(1 - s (1 - g)) * network + s * copied`, the model's mixture at `s` = 1 and the
    /// network alone at 0. Returns whether it rewrote `logits` (not for the strength it has).
    pub fn set_strength(&mut self, strength: f32, logits: &mut [f32]) -> bool {
        let changed = strength != self.strength;
        if changed {
            self.strength = strength;
            self.mix(logits);
        }
        changed
    }

    /// Writes the last step's mixture at the current strength into `logits`, as log-probabilities.
    fn mix(&mut self, logits: &mut [f32]) {
        // `g + (1 - s)(1 - g)`: exactly `g` at full strength, where `1 - s (1 - g)` would round
        // away a small `g`'s digits.
        let network_weight = self.network_share + (1.0 - self.strength) * (1.0 - self.network_share);
        for ((p, &network), &copied) in self.probabilities.iter_mut().zip(&self.network).zip(&self.copied) {
            *p = network_weight * network + self.strength * copied;
        }
        self.kernel.ln_offset(&self.probabilities, COPY_PROBABILITY_FLOOR, logits);
    }

    /// Stores the pending key with its follower `token` in the ring.
    fn complete_pending(&mut self, token: Token) {
        if !std::mem::take(&mut self.pending) {
            return;
        }
        let slot = self.next_slot;
        self.ring.set_row(self.kernel, slot, &self.pending_key, &mut self.quantized_key);
        self.followers[slot] = token;
        self.next_slot = (self.next_slot + 1) % COPY_WINDOW_TOKENS;
        self.filled = (self.filled + 1).min(COPY_WINDOW_TOKENS);
    }

    /// Attends from this step's query over the filled slots and the sentinel: writes each slot's
    /// unnormalised attention weight and returns the sentinel's and their sum (with the
    /// sentinel's).
    fn attend(&mut self, hidden: &Activations) -> (f32, f32) {
        let filled = self.filled;
        self.weights.query.forward(hidden, self.query.values_mut());
        for q in self.query.values_mut() {
            *q *= self.query_scale;
        }
        self.query.finish();
        // Every slot, filled or not: the kernels take whole matrices (unfilled slots score 0,
        // unread), and the window is full in all but a session's first 2,048 steps.
        self.ring.product(self.kernel, &self.query, &self.zero_bias, &mut self.scores, Write::Set);
        let scores = &self.scores[..filled];
        let sentinel = dot(self.query.values(), &self.weights.sentinel_key) + self.weights.sentinel_bias;
        let shift = self.kernel.max_of(scores, sentinel);
        let attention_sum = self.kernel.exp_and_sum(scores, shift, &mut self.attention[..filled]);
        let sentinel_weight = (sentinel - shift).exp();
        (sentinel_weight, attention_sum + sentinel_weight)
    }
}

/// `copied[t] = scale * (sum of the weights whose follower is t)`, scaled once per token rather
/// than once per slot: the scatter (a load, an add and a store per slot) is the largest part of
/// the head's time outside its products (BENCHMARKS.md, "The copy head's keys in int8").
fn sum_by_follower(weights: &[f32], followers: &[Token], scale: f32, copied: &mut [f32]) {
    copied.fill(0.0);
    for (&weight, &follower) in weights.iter().zip(followers) {
        copied[follower as usize] += weight;
    }
    copied.iter_mut().for_each(|p| *p *= scale);
}

/// A plain dot product.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `1 / sqrt(keys)`, the attention's temperature, applied to the query before its product.
fn query_scale(keys: usize) -> f32 {
    1.0 / (keys as f32).sqrt()
}

/// `values` (`keys` of them) as an engine of `precision` holds them: as they are in f32, through
/// int8 with one scale (max |x| / 127) in int8.
fn as_held(values: &[f32], precision: Precision) -> Vec<f32> {
    match precision {
        Precision::F32 => values.to_vec(),
        Precision::Int8 => {
            let mut padded = values.to_vec();
            padded.resize(padded_len(values.len()), 0.0);
            let mut quantized = vec![0; padded.len()];
            let scale = Kernel::Portable.quantize(&padded, &mut quantized);
            quantized[..values.len()].iter().map(|&q| q as f32 * scale).collect()
        }
    }
}

/// The copy head's reference: every step's key and follower kept, and the window's scores,
/// softmaxes and mixture computed plainly, in f64, at every step (from keys and queries rounded
/// as the cached head's precision holds them).
#[derive(Clone, Debug)]
pub struct NaiveCopyHead {
    /// The weights (the same query and key products as the cached head).
    weights: Arc<CopyWeights>,
    /// Query and key width.
    keys: usize,
    /// The model's precision, which rounds the keys and queries.
    precision: Precision,
    /// Every step's key, `keys` values each.
    history: Vec<f32>,
    /// The follower of every step but the newest.
    followers: Vec<Token>,
    /// Scratch: the query.
    query: Vec<f32>,
}

impl NaiveCopyHead {
    /// The reference head of a validated model that has one.
    pub fn from_model(model: &ModelFile, config: &WaveNetConfig, kernel: Kernel) -> Option<Self> {
        let keys = config.copy_keys;
        (keys > 0).then(|| {
            let weights = Arc::new(CopyWeights::from_model(model, keys, kernel));
            Self { weights, keys, precision: model.meta.precision, history: Vec::new(), followers: Vec::new(), query: vec![0.0; keys] }
        })
    }

    /// As [`CopyHead::forward`].
    pub fn forward(&mut self, token: Token, hidden: &Activations, logits: &mut [f32]) {
        let keys = self.keys;
        if self.history.len() > self.followers.len() * keys {
            self.followers.push(token);
        }
        self.weights.query.forward(hidden, &mut self.query);
        let scaled: Vec<f32> = self.query.iter().map(|q| q * query_scale(keys)).collect();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>();
        let sentinel = dot(&scaled, &self.weights.sentinel_key) + self.weights.sentinel_bias as f64;
        let held = as_held(&scaled, self.precision);
        let first = self.followers.len().saturating_sub(COPY_WINDOW_TOKENS);
        let scores: Vec<f64> = (first..self.followers.len()).map(|step| dot(&held, &self.history[step * keys..][..keys])).collect();
        let shift = scores.iter().fold(sentinel, |max, &s| max.max(s));
        let normaliser = scores.iter().map(|s| (s - shift).exp()).sum::<f64>() + (sentinel - shift).exp();
        let log_normaliser = log_sum_exp(logits);
        let network_share = (sentinel - shift).exp() / normaliser;
        let mut probabilities: Vec<f64> = logits.iter().map(|&l| network_share * (l as f64 - log_normaliser).exp()).collect();
        for (score, &follower) in scores.iter().zip(&self.followers[first..]) {
            probabilities[follower as usize] += (score - shift).exp() / normaliser;
        }
        for (logit, p) in logits.iter_mut().zip(probabilities) {
            *logit = (p + COPY_PROBABILITY_FLOOR as f64).ln() as f32;
        }
        let mut key = vec![0.0; keys];
        self.weights.key.forward(hidden, &mut key);
        self.history.extend(as_held(&key, self.precision));
    }
}
