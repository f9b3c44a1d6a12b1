//! The style memory as the project saves it: its learned tokens as hex text, four digits per
//! token (big-endian u16), oldest first. Text, because nice-plug keeps persisted fields in its
//! JSON state; hex, because it is compact, plain and strictly checkable when a project comes
//! back. A saved memory is untrusted bytes: anything but whole tokens of the vocabulary, at most
//! `MEMORY_CAPACITY_TOKENS` of them, is refused naming the problem.

use std::fmt::Write;

use crate::style_memory::{MemoryError, MEMORY_CAPACITY_TOKENS};
use crate::tokens::Token;

/// Hex digits per saved token.
const HEX_DIGITS_PER_TOKEN: usize = 4;
/// Longest saved memory, in characters.
pub const MAX_SAVED_MEMORY_CHARS: usize = MEMORY_CAPACITY_TOKENS * HEX_DIGITS_PER_TOKEN;

/// Why a saved memory cannot be restored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SavedMemoryError {
    /// Longer than any memory can be, checked before reading it.
    #[error("is {0} characters long; a saved style memory has at most {MAX_SAVED_MEMORY_CHARS}")]
    TooLong(usize),
    /// Not a whole number of tokens.
    #[error("is {0} characters long, not a whole number of {HEX_DIGITS_PER_TOKEN}-digit tokens")]
    PartToken(usize),
    /// Not hex.
    #[error("is not hex text: {0}")]
    NotHex(#[from] hex::FromHexError),
    /// Tokens the memory cannot hold.
    #[error("{0}")]
    Refused(#[from] MemoryError),
}

/// Writes `tokens` as saved text into `text` (replacing what it held, keeping its capacity).
pub fn encode_into(tokens: impl Iterator<Item = Token>, text: &mut String) {
    text.clear();
    for token in tokens {
        // Writing to a String cannot fail.
        let _ = write!(text, "{token:04x}");
    }
}

/// The tokens of a saved memory (checked for length and form; the memory checks the values).
pub fn decode(text: &str) -> Result<Vec<Token>, SavedMemoryError> {
    if text.len() > MAX_SAVED_MEMORY_CHARS {
        return Err(SavedMemoryError::TooLong(text.len()));
    }
    if !text.len().is_multiple_of(HEX_DIGITS_PER_TOKEN) {
        return Err(SavedMemoryError::PartToken(text.len()));
    }
    let bytes = hex::decode(text)?;
    Ok(bytes.chunks_exact(2).map(|pair| Token::from_be_bytes([pair[0], pair[1]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_back_as_saved() {
        let tokens: Vec<Token> = vec![0, 1, 255, 256, 4095, 12];
        let mut text = String::new();
        encode_into(tokens.iter().copied(), &mut text);
        assert_eq!(text, "0000000100ff01000fff000c");
        assert_eq!(decode(&text).unwrap(), tokens);
        assert_eq!(decode("").unwrap(), Vec::<Token>::new());
    }

    #[test]
    fn oversized_partial_or_non_hex_text_is_refused_naming_the_problem() {
        let oversized = "0".repeat(MAX_SAVED_MEMORY_CHARS + HEX_DIGITS_PER_TOKEN);
        assert_eq!(decode(&oversized), Err(SavedMemoryError::TooLong(oversized.len())));
        assert!(decode(&"0".repeat(MAX_SAVED_MEMORY_CHARS)).is_ok(), "a full memory fits");
        assert_eq!(decode("00010"), Err(SavedMemoryError::PartToken(5)));
        let error = decode("00zz").unwrap_err().to_string();
        assert!(error.contains("not hex") && error.contains('z'), "{error}");
    }
}
