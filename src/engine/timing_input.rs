//! The input every timing of the engine feeds it (the criterion benchmark, the `engine_steps`
//! example, `continuo-train sizes`), so their figures are of the same work.

use crate::tokens::{Token, VOCAB_SIZE};

/// Tokens fed before the clock starts, so every delay line holds real history.
pub const WARM_UP_TOKENS: usize = 4096;

/// A fixed pseudo-random token cycle over the whole vocabulary (`Start` left out).
pub fn timing_token(index: usize) -> Token {
    (index * 7919 % (VOCAB_SIZE - 1) + 1) as Token
}
