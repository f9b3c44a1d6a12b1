//! A variable-order Markov model over tokens, the Continuator's approach: predict from the
//! longest context seen in training and back off to shorter ones.
//!
//! To give every token a finite NLL, the orders are blended recursively (interpolated smoothing,
//! as in PPM and Kneser-Ney): the distribution after a context of length `L` mixes its own
//! follower counts with the distribution of length `L - 1`, down to an add-one unigram. The
//! escape weight given to the shorter context is Witten-Bell's (PPM method C: the number of
//! distinct followers) or what discounting the follower counts frees: one fixed discount, or
//! Chen & Goodman's modified discounts for counts 1, 2 and 3+ (the best on our validation data).
//!
//! Contexts are stored per length as sorted 64-bit hashes with their followers in flat arrays:
//! linear memory in the training tokens times the order, no quadratic structure, and every
//! context's followers can be listed (for top-1 accuracy and sampling).

use crate::tokens::{Token, VOCAB_SIZE};

/// How probability mass escapes from a context to the next shorter one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Smoothing {
    /// Escape count = number of distinct followers (PPM-C / Witten-Bell).
    WittenBell,
    /// Subtract this discount (0..1) from every follower count and give it to the shorter context.
    Discount(f64),
    /// Subtract a discount that depends on the count (1, 2, 3 or more), estimated per context
    /// length from the counts of counts (Chen & Goodman's modified discounting).
    ModifiedDiscount,
}

/// The contexts of one length: sorted hashes, and for each its followers.
#[derive(Clone, Debug, Default)]
struct ContextTable {
    /// Hash of each context, ascending, for binary search.
    hashes: Vec<u64>,
    /// Where each context's followers start in `follower_tokens` (one extra entry at the end).
    starts: Vec<u32>,
    /// How often each context was followed by anything.
    totals: Vec<u32>,
    /// The tokens seen after each context.
    follower_tokens: Vec<Token>,
    /// How often each of those followed.
    follower_counts: Vec<u32>,
    /// Discounts for follower counts 1, 2 and 3 or more (`Smoothing::ModifiedDiscount`).
    count_discounts: [f64; 3],
}

/// What training saw after one context.
struct Followers<'a> {
    /// Times the context was followed by anything.
    total: u32,
    /// The distinct tokens that followed.
    tokens: &'a [Token],
    /// How often each followed.
    counts: &'a [u32],
}

impl ContextTable {
    /// Counts every (context of `length`, next token) pair of the sequences.
    fn build(sequences: &[Vec<Token>], length: usize) -> Self {
        let mut pairs: Vec<(u64, Token)> = Vec::new();
        for sequence in sequences {
            for target in length..sequence.len() {
                pairs.push((context_hash(&sequence[..target], length), sequence[target]));
            }
        }
        pairs.sort_unstable();
        let mut table = ContextTable::default();
        for (index, &(hash, token)) in pairs.iter().enumerate() {
            let new_context = index == 0 || pairs[index - 1].0 != hash;
            if new_context {
                table.hashes.push(hash);
                table.starts.push(table.follower_tokens.len() as u32);
                table.totals.push(0);
            }
            if new_context || pairs[index - 1].1 != token {
                table.follower_tokens.push(token);
                table.follower_counts.push(0);
            }
            *table.follower_counts.last_mut().expect("pushed above") += 1;
            *table.totals.last_mut().expect("pushed above") += 1;
        }
        table.starts.push(table.follower_tokens.len() as u32);
        table.count_discounts = modified_discounts(&table.follower_counts);
        table
    }

    fn followers(&self, hash: u64) -> Option<Followers<'_>> {
        let index = self.hashes.binary_search(&hash).ok()?;
        let range = self.starts[index] as usize..self.starts[index + 1] as usize;
        Some(Followers {
            total: self.totals[index],
            tokens: &self.follower_tokens[range.clone()],
            counts: &self.follower_counts[range],
        })
    }
}

/// Smallest discount (and smallest count left after one): a context whose estimated discounts
/// reach zero would give unseen tokens no probability at all.
const MIN_DISCOUNT: f64 = 0.05;

/// Chen & Goodman's discounts for counts 1, 2 and 3+, from how many pairs were seen exactly
/// 1..=4 times; each kept within `MIN_DISCOUNT` of 0 and of its count, so every follower and
/// the escape to shorter contexts keep some probability.
fn modified_discounts(counts: &[u32]) -> [f64; 3] {
    let mut seen = [0.0f64; 5];
    for &count in counts.iter().filter(|&&count| count <= 4) {
        seen[count as usize] += 1.0;
    }
    let [_, n1, n2, n3, n4] = seen;
    if n1 == 0.0 || n2 == 0.0 || n3 == 0.0 {
        return [0.5, 1.0, 1.5];
    }
    let y = n1 / (n1 + 2.0 * n2);
    let discount =
        |count: f64, ratio: f64| (count - (count + 1.0) * y * ratio).clamp(MIN_DISCOUNT, count - MIN_DISCOUNT);
    [discount(1.0, n2 / n1), discount(2.0, n3 / n2), discount(3.0, n4 / n3)]
}

/// Hash of the last `length` tokens of `history`, read backwards (so each length extends the
/// previous one). Mixed with splitmix64 so distinct contexts almost never collide in 64 bits.
fn context_hash(history: &[Token], length: usize) -> u64 {
    history[history.len() - length..]
        .iter()
        .rev()
        .fold(length as u64, |hash, &token| splitmix64(hash ^ (token as u64 + 1)))
}

pub(crate) fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A trained variable-order Markov model.
#[derive(Clone, Debug)]
pub struct MarkovModel {
    /// The add-one unigram every order backs off to.
    unigram: Vec<f64>,
    /// Context tables for lengths 1..=max order (index 0 holds length 1).
    contexts: Vec<ContextTable>,
    /// How mass escapes to shorter contexts.
    smoothing: Smoothing,
}

impl MarkovModel {
    /// Counts contexts up to `max_order` tokens in the sequences (each `Start`, events, `End`;
    /// the first token is a given, never a target).
    pub fn train(sequences: &[Vec<Token>], max_order: usize, smoothing: Smoothing) -> Self {
        let mut counts = vec![1.0f64; VOCAB_SIZE];
        for sequence in sequences {
            for &token in sequence.iter().skip(1) {
                counts[token as usize] += 1.0;
            }
        }
        let total: f64 = counts.iter().sum();
        let unigram = counts.iter().map(|count| count / total).collect();
        let contexts = (1..=max_order).map(|length| ContextTable::build(sequences, length)).collect();
        MarkovModel { unigram, contexts, smoothing }
    }

    /// The longest context the model holds.
    pub fn max_order(&self) -> usize {
        self.contexts.len()
    }

    /// Calls `level(order, distribution)` with the next-token distribution after `history` for
    /// each order 0 (the unigram) ..= `max_order` (capped at the model's). An order whose
    /// context was never seen in training repeats the shorter one's distribution. `scratch` has
    /// `VOCAB_SIZE` entries and ends holding the distribution of the highest order.
    pub fn for_each_order(
        &self,
        history: &[Token],
        max_order: usize,
        scratch: &mut [f64],
        mut level: impl FnMut(usize, &[f64]),
    ) {
        scratch.copy_from_slice(&self.unigram);
        level(0, scratch);
        let mut seen = true;
        for (index, table) in self.contexts.iter().enumerate().take(max_order) {
            let length = index + 1;
            // A context never seen cannot have longer versions that were.
            if seen && length <= history.len() {
                match table.followers(context_hash(history, length)) {
                    Some(followers) => self.blend(&followers, &table.count_discounts, scratch),
                    None => seen = false,
                }
            }
            level(length, scratch);
        }
    }

    /// The next-token distribution after `history`, using contexts up to `order` tokens.
    pub fn distribution(&self, history: &[Token], order: usize, out: &mut [f64]) {
        self.for_each_order(history, order, out, |_, _| {});
    }

    /// Mixes a context's follower counts into the shorter context's distribution: each
    /// follower keeps its count less a discount, the discounts (plus Witten-Bell's escape count)
    /// go to the shorter context.
    fn blend(&self, followers: &Followers, discounts: &[f64; 3], distribution: &mut [f64]) {
        let total = followers.total as f64;
        let distinct = followers.tokens.len() as f64;
        let discount = |count: u32| match self.smoothing {
            Smoothing::WittenBell => 0.0,
            Smoothing::Discount(discount) => discount,
            Smoothing::ModifiedDiscount => discounts[count.min(3) as usize - 1],
        };
        // Witten-Bell adds `distinct` escape counts to the total; the discounts take theirs
        // from the counts.
        let denominator = if self.smoothing == Smoothing::WittenBell { total + distinct } else { total };
        let escaped = if self.smoothing == Smoothing::WittenBell {
            distinct
        } else {
            followers.counts.iter().map(|&count| discount(count)).sum()
        };
        let escape = escaped / denominator;
        distribution.iter_mut().for_each(|p| *p *= escape);
        for (&token, &count) in followers.tokens.iter().zip(followers.counts) {
            distribution[token as usize] += (count as f64 - discount(count)) / denominator;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_to_one(distribution: &[f64]) -> bool {
        (distribution.iter().sum::<f64>() - 1.0).abs() < 1e-9
    }

    #[test]
    fn every_order_is_a_proper_distribution() {
        let sequences = vec![vec![1, 10, 11, 12, 10, 11, 13, 2], vec![1, 10, 11, 12, 2]];
        for smoothing in [Smoothing::WittenBell, Smoothing::Discount(0.7), Smoothing::ModifiedDiscount] {
            let model = MarkovModel::train(&sequences, 4, smoothing);
            let mut scratch = vec![0.0; VOCAB_SIZE];
            let mut orders = 0;
            model.for_each_order(&[1, 10, 11], 4, &mut scratch, |_, distribution| {
                assert!(sums_to_one(distribution), "{smoothing:?}");
                assert!(distribution.iter().all(|&p| p > 0.0), "no token gets zero probability");
                orders += 1;
            });
            assert_eq!(orders, 5);
        }
    }

    #[test]
    fn the_longest_context_decides_what_comes_next() {
        // After "10 11" comes 12 twice and 13 once; after "12 10 11" only 13 was seen.
        let sequences = vec![vec![1, 10, 11, 12, 10, 11, 13, 2], vec![1, 10, 11, 12, 2]];
        let model = MarkovModel::train(&sequences, 3, Smoothing::WittenBell);
        let mut short = vec![0.0; VOCAB_SIZE];
        model.distribution(&[1, 10, 11], 2, &mut short);
        assert!(short[12] > short[13] && short[13] > short[2]);
        let mut long = vec![0.0; VOCAB_SIZE];
        model.distribution(&[1, 10, 11, 12, 10, 11], 3, &mut long);
        assert!(long[13] > long[12], "the order-3 context saw only 13");
        // Witten-Bell: one follower seen once escapes half the mass.
        assert!(
            (long[13]
                - (0.5
                    + 0.5 * {
                        let mut order2 = vec![0.0; VOCAB_SIZE];
                        model.distribution(&[1, 10, 11, 12, 10, 11], 2, &mut order2);
                        order2[13]
                    }))
            .abs()
                < 1e-12
        );
    }

    #[test]
    fn modified_discounts_follow_the_counts_of_counts() {
        // n1 = 4, n2 = 2, n3 = 1, n4 = 1: y = 4 / (4 + 2 * 2) = 0.5.
        let discounts = modified_discounts(&[1, 1, 1, 1, 2, 2, 3, 4, 9]);
        let expected = [1.0 - 2.0 * 0.5 * 2.0 / 4.0, 2.0 - 3.0 * 0.5 * 1.0 / 2.0, 3.0 - 4.0 * 0.5 * 1.0];
        for (got, want) in discounts.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{discounts:?}");
        }
        // Many pairs seen 3 times would give count-2 pairs a negative discount: it is kept
        // positive, so the escape never vanishes.
        let skewed = modified_discounts(&[1, 2, 3, 3, 3, 3, 3, 4]);
        assert!(
            skewed.iter().zip([1.0, 2.0, 3.0]).all(|(&d, count)| d >= MIN_DISCOUNT && d <= count - MIN_DISCOUNT),
            "{skewed:?}"
        );
    }

    #[test]
    fn unseen_contexts_back_off_to_the_add_one_unigram() {
        let sequences = vec![vec![1, 10, 10, 10, 2]];
        let model = MarkovModel::train(&sequences, 2, Smoothing::Discount(0.5));
        let mut unseen = vec![0.0; VOCAB_SIZE];
        model.distribution(&[1, 50, 51], 2, &mut unseen);
        let total = (VOCAB_SIZE + 4) as f64;
        assert!((unseen[10] - 4.0 / total).abs() < 1e-12);
        assert!((unseen[200] - 1.0 / total).abs() < 1e-12);
    }
}
