//! How much of a continuation re-uses its prompt's material: the share of the continuation's
//! melodic and rhythmic n-grams (pitch intervals between successive onsets, and the times between
//! them) that also occur in the prompt. A continuation that quotes the player's motifs, even
//! transposed, scores high; one that wanders off scores low. The style memory is measured with it
//! (`cargo xtask quality`, the plugin test that plays a motif).

use std::collections::HashSet;

use crate::tokens::{Note, TICKS_PER_BEAT};

/// Length of the compared n-grams, in successive intervals.
pub const REUSE_NGRAM_LENGTH: usize = 3;

/// What a continuation takes from its prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reuse {
    /// Share of the continuation's pitch-interval n-grams found in the prompt (0..=1).
    pub interval_share: f64,
    /// Share of its inter-onset-time n-grams found in the prompt (0..=1).
    pub rhythm_share: f64,
    /// N-grams of each kind the continuation has (0: too few notes to say anything).
    pub continuation_ngrams: usize,
}

impl Reuse {
    /// The mean of the two shares: one figure for a table.
    pub fn share(&self) -> f64 {
        (self.interval_share + self.rhythm_share) / 2.0
    }
}

/// Compares the n-grams of `continuation` with those of `prompt` (notes in any order).
pub fn reuse(prompt: &[Note], continuation: &[Note]) -> Reuse {
    let (prompt_intervals, prompt_rhythm) = steps(prompt);
    let (intervals, rhythm) = steps(continuation);
    let continuation_ngrams = intervals.len().saturating_sub(REUSE_NGRAM_LENGTH - 1);
    Reuse {
        interval_share: shared_share(&prompt_intervals, &intervals),
        rhythm_share: shared_share(&prompt_rhythm, &rhythm),
        continuation_ngrams,
    }
}

/// Successive pitch intervals (semitones) and onset distances (ticks) of the notes in onset
/// order (a chord's notes from low to high).
fn steps(notes: &[Note]) -> (Vec<i32>, Vec<i64>) {
    let mut onsets: Vec<(i64, u8)> = notes
        .iter()
        .map(|note| ((note.start_beats * TICKS_PER_BEAT as f64).round() as i64, note.pitch))
        .collect();
    onsets.sort_unstable();
    let pairs = onsets.windows(2);
    let intervals = pairs.clone().map(|pair| pair[1].1 as i32 - pair[0].1 as i32).collect();
    let rhythm = pairs.map(|pair| pair[1].0 - pair[0].0).collect();
    (intervals, rhythm)
}

/// Share of `sequence`'s n-grams that occur in `reference` (0 when it has none).
fn shared_share<T: Copy + Eq + std::hash::Hash>(reference: &[T], sequence: &[T]) -> f64 {
    let known: HashSet<&[T]> = reference.windows(REUSE_NGRAM_LENGTH).collect();
    let ngrams = sequence.windows(REUSE_NGRAM_LENGTH);
    let total = ngrams.len();
    if total == 0 {
        return 0.0;
    }
    ngrams.filter(|ngram| known.contains(ngram)).count() as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pitches: &[u8], start_beats: f64, step_beats: f64) -> Vec<Note> {
        pitches
            .iter()
            .enumerate()
            .map(|(index, &pitch)| Note {
                pitch,
                velocity: 80,
                start_beats: start_beats + index as f64 * step_beats,
                duration_beats: step_beats,
            })
            .collect()
    }

    #[test]
    fn a_transposed_quote_reuses_everything_and_a_new_line_nothing() {
        let motif = line(&[60, 62, 64, 60, 67, 65], 0.0, 0.5);
        let quoted = reuse(&motif, &line(&[65, 67, 69, 65, 72, 70], 8.0, 0.5));
        assert_eq!((quoted.interval_share, quoted.rhythm_share), (1.0, 1.0));
        assert_eq!(quoted.continuation_ngrams, 3);
        let other = reuse(&motif, &line(&[60, 61, 63, 66, 70, 75], 8.0, 0.75));
        assert_eq!((other.interval_share, other.rhythm_share), (0.0, 0.0));
    }

    #[test]
    fn a_half_quote_scores_in_between_and_too_few_notes_score_zero() {
        let motif = line(&[60, 62, 64, 65], 0.0, 0.5);
        let half = reuse(&motif, &line(&[70, 72, 74, 75, 80, 79], 4.0, 0.5));
        assert_eq!(half.interval_share, 1.0 / 3.0);
        assert_eq!(half.rhythm_share, 1.0);
        assert_eq!(reuse(&motif, &line(&[60, 62], 4.0, 0.5)), Reuse::default());
    }
}
