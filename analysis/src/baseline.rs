//! Scoring the Markov model (and its order 0, the add-one unigram) on held-out pieces, as the
//! trainer's eval scores a network: every token after the given `Start`, summed nats, top-1
//! accuracy, and nats per quarter-note frame. Each figure is also given with the grammar mask
//! (`SequenceState::is_legal`): zero for impossible events, renormalised over the legal ones.

use continuo::tokens::{Event, SequenceState, Token, VOCAB_SIZE};
use serde::Serialize;

use crate::markov::MarkovModel;

/// A piece to score: its tokens and its length in beats (for the per-frame figure).
pub struct ScoredPiece<'a> {
    /// `Start`, events, `End`.
    pub tokens: &'a [Token],
    /// Where its last note ends, in quarter-note beats.
    pub length_beats: f64,
}

/// What one order (context cap) scored.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OrderScore {
    /// Longest context used (0 = the unigram).
    pub order: usize,
    /// Sum of -ln p(token) over every scored token.
    pub total_nats: f64,
    /// Tokens whose most probable prediction was right.
    pub correct: usize,
    /// `total_nats` with the grammar mask.
    pub masked_total_nats: f64,
    /// `correct` with the grammar mask.
    pub masked_correct: usize,
}

/// Scores of every order on a set of pieces.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Pieces scored.
    pub pieces: usize,
    /// Tokens scored (each piece's `Start` is given, not scored).
    pub tokens: usize,
    /// Summed piece lengths in quarter-note beats: the frames of nats per frame.
    pub length_beats: f64,
    /// Targets the grammar calls illegal (0 for canonical encodings); masked figures then use
    /// the unmasked probability for them.
    pub illegal_targets: usize,
    /// One entry per order 0..=max.
    pub orders: Vec<OrderScore>,
}

impl Evaluation {
    /// The order with the lowest NLL.
    pub fn best_order(&self) -> usize {
        self.orders.iter().min_by(|a, b| a.total_nats.total_cmp(&b.total_nats)).map_or(0, |score| score.order)
    }
}

/// Scores every piece at every order of the model, in one pass.
pub fn evaluate(model: &MarkovModel, pieces: &[ScoredPiece]) -> Evaluation {
    let mut evaluation = Evaluation {
        pieces: pieces.len(),
        tokens: 0,
        length_beats: pieces.iter().map(|piece| piece.length_beats).sum(),
        illegal_targets: 0,
        orders: (0..=model.max_order()).map(|order| OrderScore { order, ..OrderScore::default() }).collect(),
    };
    let mut scratch = vec![0.0; VOCAB_SIZE];
    let mut legal = vec![false; VOCAB_SIZE];
    for piece in pieces {
        let mut state = SequenceState::default();
        for target_index in 1..piece.tokens.len() {
            let target = piece.tokens[target_index] as usize;
            legal_tokens(&state, &mut legal);
            let target_legal = legal[target];
            evaluation.illegal_targets += usize::from(!target_legal);
            let history = &piece.tokens[..target_index];
            model.for_each_order(history, model.max_order(), &mut scratch, |order, distribution| {
                let score = &mut evaluation.orders[order];
                score.total_nats -= distribution[target].ln();
                score.correct += usize::from(argmax(distribution, |_| true) == target);
                let legal_mass: f64 = distribution.iter().zip(&legal).filter(|(_, &ok)| ok).map(|(p, _)| p).sum();
                let masked = if target_legal { distribution[target] / legal_mass } else { distribution[target] };
                score.masked_total_nats -= masked.ln();
                score.masked_correct += usize::from(argmax(distribution, |token| legal[token]) == target);
            });
            state.apply_token(piece.tokens[target_index], |_| {});
            evaluation.tokens += 1;
        }
    }
    evaluation
}

/// Marks the tokens the grammar allows after `state`.
pub fn legal_tokens(state: &SequenceState, legal: &mut [bool]) {
    for (token, slot) in legal.iter_mut().enumerate() {
        *slot = Event::from_token(token as Token).is_some_and(|event| state.is_legal(event));
    }
}

/// Index of the largest entry among those `allowed`.
fn argmax(distribution: &[f64], allowed: impl Fn(usize) -> bool) -> usize {
    (0..distribution.len())
        .filter(|&token| allowed(token))
        .max_by(|&a, &b| distribution[a].total_cmp(&distribution[b]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markov::Smoothing;
    use continuo::tokens::{encode_notes, Note};

    fn scale_tokens(repeats: usize) -> Vec<Token> {
        let notes: Vec<Note> = (0..repeats * 8)
            .map(|i| Note {
                pitch: [60, 62, 64, 65, 67, 69, 71, 72][i % 8],
                velocity: 80,
                start_beats: i as f64 * 0.5,
                duration_beats: 0.5,
            })
            .collect();
        encode_notes(&notes).tokens
    }

    #[test]
    fn longer_contexts_predict_a_repeated_pattern_better_than_the_unigram() {
        let train = scale_tokens(20);
        let model = MarkovModel::train(&[train], 4, Smoothing::WittenBell);
        let held_out = scale_tokens(5);
        let evaluation = evaluate(&model, &[ScoredPiece { tokens: &held_out, length_beats: 20.0 }]);
        assert_eq!(evaluation.tokens, held_out.len() - 1);
        assert_eq!(evaluation.illegal_targets, 0);
        let unigram = &evaluation.orders[0];
        let order4 = &evaluation.orders[4];
        assert!(order4.total_nats < unigram.total_nats / 4.0, "{} vs {}", order4.total_nats, unigram.total_nats);
        assert!(order4.correct > evaluation.tokens * 9 / 10);
        assert!(unigram.masked_total_nats < unigram.total_nats, "the mask only removes impossible events");
        assert_eq!(evaluation.best_order(), 4);
    }
}
