//! Scoring a piece with the style memory, as the plugin's memory would have heard it: every token
//! is predicted by the network alone and by the network steered by a memory that has learned
//! every earlier token of the same piece.

use super::{log_sum_exp, MemoryContext, Recall, StyleMemory};
use crate::engine::{score_prediction, Engine, Score};
use crate::tokens::{Event, Token};

/// A piece's score with and without the memory.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MemoryScore {
    /// The network steered by the memory.
    pub with_memory: Score,
    /// The network alone.
    pub without_memory: Score,
}

impl MemoryScore {
    /// Adds another piece's scores.
    pub fn add(&mut self, other: MemoryScore) {
        self.with_memory.add(other.with_memory);
        self.without_memory.add(other.without_memory);
    }
}

/// What the memory recalled before one scored token, for fitting the mixing weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// The recall (its matched order picks the weight).
    pub recall: Recall,
    /// The network's probability of the token that came.
    pub network_probability: f64,
    /// The memory's probability of it.
    pub memory_probability: f64,
}

/// Scores `tokens` (`Start` first, fed and learned, not scored) with a fresh `memory` at
/// `strength`; `observe` sees each scored token with its two scores and what the memory
/// predicted. Resets the engine and forgets the memory first.
pub fn score_with_memory(
    engine: &mut Engine,
    memory: &mut StyleMemory,
    tokens: &[Token],
    grammar_mask: bool,
    strength: f32,
    mut observe: impl FnMut(Token, MemoryScore, Prediction),
) -> MemoryScore {
    assert_eq!(tokens.first().copied(), Some(Event::Start.token()), "a scored sequence starts with Start");
    engine.reset();
    memory.forget();
    memory.learn(tokens[0]);
    let mut context = MemoryContext::default();
    context.push(tokens[0]);
    let mut steered = vec![0.0f32; engine.logits().len()];
    let mut total = MemoryScore::default();
    for &target in &tokens[1..] {
        let logits = engine.logits();
        let without_memory = score_prediction(logits, engine.state(), target, grammar_mask);
        let recall = memory.recall(&context);
        let network_probability = (logits[target as usize] as f64 - log_sum_exp(logits)).exp();
        let prediction =
            Prediction { recall, network_probability, memory_probability: memory.probability(&recall, target, network_probability) };
        steered.copy_from_slice(logits);
        memory.mix_into_logits(&recall, StyleMemory::weight(&recall, strength), &mut steered);
        let scored = MemoryScore { with_memory: score_prediction(&steered, engine.state(), target, grammar_mask), without_memory };
        observe(target, scored, prediction);
        total.add(scored);
        engine.step(target);
        memory.learn(target);
        context.push(target);
    }
    total
}

/// The mixing weight per matched order that maximizes the likelihood of the observed tokens
/// (expectation-maximization on a two-component mixture, one weight per order).
pub fn fit_weights(predictions: &[Prediction], max_order: usize) -> Vec<f64> {
    let mut weights = vec![0.5; max_order + 1];
    for _ in 0..100 {
        let mut responsibility = vec![0.0f64; max_order + 1];
        let mut count = vec![0usize; max_order + 1];
        for prediction in predictions {
            let order = prediction.recall.matched_order;
            let weight = weights[order];
            let memory = weight * prediction.memory_probability;
            let mixed = (1.0 - weight) * prediction.network_probability + memory;
            if mixed > 0.0 {
                responsibility[order] += memory / mixed;
                count[order] += 1;
            }
        }
        for order in 0..=max_order {
            weights[order] = if count[order] > 0 { responsibility[order] / count[order] as f64 } else { 0.0 };
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::random_model::random_wavenet;
    use crate::engine::{score, tests::small_config};

    #[test]
    fn without_memory_the_score_is_the_engines_and_a_repeated_piece_scores_better_with_it() {
        let mut engine = Engine::from_model(&random_wavenet(small_config(), 4)).unwrap();
        let phrase: Vec<Token> = [Event::Velocity(20), Event::NoteOn(60), Event::TimeShift(12), Event::NoteOff(60)]
            .iter()
            .chain(&[Event::NoteOn(64), Event::TimeShift(6), Event::NoteOff(64), Event::TimeShift(6)])
            .map(|event| event.token())
            .collect();
        let mut tokens = vec![Event::Start.token()];
        (0..8).for_each(|_| tokens.extend_from_slice(&phrase));
        let mut memory = StyleMemory::new();
        let (mut orders, mut observed) = (Vec::new(), MemoryScore::default());
        let scored = score_with_memory(&mut engine, &mut memory, &tokens, false, 0.5, |target, token_score, prediction| {
            assert_eq!(token_score.with_memory.scored_tokens, 1, "token {target} scored once");
            observed.add(token_score);
            orders.push(prediction.recall.matched_order);
        });
        assert_eq!(observed, scored, "the observed tokens' scores add up to the piece's");
        assert_eq!(scored.without_memory, score(&mut engine, &tokens, false));
        assert!(scored.with_memory.nll_per_token() < 0.8 * scored.without_memory.nll_per_token(), "{scored:?}");
        assert_eq!(orders.len(), tokens.len() - 1);
        assert_eq!(*orders.last().unwrap(), super::super::MEMORY_MAX_ORDER, "the repeats match in full");
    }

    #[test]
    fn fitted_weights_follow_which_component_predicts_better() {
        let prediction = |order, network_probability, memory_probability| Prediction {
            recall: Recall { matched_order: order, network_share: 0.0 },
            network_probability,
            memory_probability,
        };
        let mut predictions = vec![prediction(1, 0.5, 0.1); 50];
        predictions.extend(vec![prediction(3, 0.05, 0.9); 50]);
        let weights = fit_weights(&predictions, 3);
        assert!(weights[1] < 0.05, "{weights:?}");
        assert!(weights[3] > 0.95, "{weights:?}");
        assert_eq!(weights[2], 0.0, "no data, no weight");
    }
}
