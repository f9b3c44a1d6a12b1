//! Scoring a token sequence with the engine: negative log-likelihood and top-1 accuracy, from
//! exactly the logits the engine computes (f32 or int8).

use super::Engine;
use crate::tokens::{Event, SequenceState, Token};

/// How well a model predicts a sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Score {
    /// Sum over scored tokens of `-ln p(token)`, in nats.
    pub nll_nats: f64,
    /// Tokens scored (all but the leading `Start`).
    pub scored_tokens: usize,
    /// Tokens that were the model's most likely choice.
    pub correct_top1: usize,
}

impl Score {
    /// Mean negative log-likelihood per scored token, in nats.
    pub fn nll_per_token(&self) -> f64 {
        self.nll_nats / self.scored_tokens.max(1) as f64
    }

    /// Share of scored tokens that were the model's most likely choice.
    pub fn accuracy(&self) -> f64 {
        self.correct_top1 as f64 / self.scored_tokens.max(1) as f64
    }

    /// Adds another sequence's score.
    pub fn add(&mut self, other: Score) {
        self.nll_nats += other.nll_nats;
        self.scored_tokens += other.scored_tokens;
        self.correct_top1 += other.correct_top1;
    }
}

impl std::iter::Sum for Score {
    fn sum<I: Iterator<Item = Score>>(scores: I) -> Score {
        scores.fold(Score::default(), |mut total, score| {
            total.add(score);
            total
        })
    }
}

/// Scores `tokens` (`tokens[0]` must be `Start`; it is fed, not scored): each next token from the
/// logits of the step before (see [`score_prediction`]). Resets the engine first.
pub fn score(engine: &mut Engine, tokens: &[Token], grammar_mask: bool) -> Score {
    let mut total = Score::default();
    score_each(engine, tokens, grammar_mask, |_, _, scored| total.add(scored));
    total
}

/// As [`score`], handing each scored token, the state of the stream before it and its score to
/// `scored` (to split the figure by kind of event or by where in the piece it comes, say).
pub fn score_each(
    engine: &mut Engine,
    tokens: &[Token],
    grammar_mask: bool,
    mut scored: impl FnMut(Token, &SequenceState, Score),
) {
    assert_eq!(tokens.first().copied(), Some(Event::Start.token()), "a scored sequence starts with Start");
    engine.reset();
    for &target in &tokens[1..] {
        scored(target, engine.state(), score_prediction(engine.logits(), engine.state(), target, grammar_mask));
        engine.step(target);
    }
}

/// Scores one prediction: `logits` for the token after a stream in `state`, against `target`,
/// log-softmax in f64. With `grammar_mask` the distribution is renormalized over the events
/// `SequenceState::is_legal` allows (a target the grammar forbids, which no canonical encoding
/// holds, is scored unmasked). Any model's logits can be scored this way, the trainer's too.
pub fn score_prediction(logits: &[f32], state: &SequenceState, target: Token, grammar_mask: bool) -> Score {
    let target_legal = Event::from_token(target).is_some_and(|event| state.is_legal(event));
    let allowed = |token: usize| {
        !grammar_mask || !target_legal || Event::from_token(token as Token).is_some_and(|event| state.is_legal(event))
    };
    let (max, best) = logits
        .iter()
        .enumerate()
        .filter(|&(token, _)| allowed(token))
        .fold((f64::NEG_INFINITY, 0), |(max, best), (token, &logit)| {
            if logit as f64 > max { (logit as f64, token) } else { (max, best) }
        });
    let sum: f64 = logits
        .iter()
        .enumerate()
        .filter(|&(token, _)| allowed(token))
        .map(|(_, &logit)| (logit as f64 - max).exp())
        .sum();
    Score {
        nll_nats: max + sum.ln() - logits[target as usize] as f64,
        scored_tokens: 1,
        correct_top1: usize::from(best == target as usize),
    }
}
