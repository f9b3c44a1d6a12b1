//! Training batches: random windows of pieces, transposed on the fly, with the conditioning
//! features of the state after each token.

use continuo::tokens::{Event, SequenceState, Token, FEATURE_COUNT, PITCH_MAX, PITCH_MIN};
use rand::Rng;

use crate::corpus::Piece;

/// Largest random transposition by default, in semitones either way.
pub const DEFAULT_TRANSPOSE_SEMITONES: i32 = 6;

/// Rows of `seq` positions each, flattened row-major; what one training or validation step
/// consumes.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Number of rows.
    pub rows: usize,
    /// Positions per row.
    pub seq: usize,
    /// Input token at each position.
    pub inputs: Vec<i64>,
    /// The token that follows each input (what the model predicts).
    pub targets: Vec<i64>,
    /// 1.0 where the target is part of the piece, 0.0 on the padding after its end.
    pub mask: Vec<f32>,
    /// `FEATURE_COUNT` conditioning features per position (state after the input token), when
    /// the model is conditioned.
    pub features: Option<Vec<f32>>,
    /// Seed of this batch's dropout masks: training batches have one, so a resumed run draws
    /// the masks it would have; validation and scoring batches none (no dropout).
    pub dropout_seed: Option<u64>,
}

impl Batch {
    fn empty(rows: usize, seq: usize, conditioned: bool) -> Self {
        let positions = rows * seq;
        Self {
            rows,
            seq,
            inputs: vec![Event::Pad.token() as i64; positions],
            targets: vec![Event::Pad.token() as i64; positions],
            mask: vec![0.0; positions],
            features: conditioned.then(|| vec![0.0; positions * FEATURE_COUNT]),
            dropout_seed: None,
        }
    }

    /// Number of scored positions.
    pub fn scored(&self) -> usize {
        self.mask.iter().filter(|&&weight| weight > 0.0).count()
    }
}

/// Moves note tokens by `semitones`; other tokens stay. The caller keeps pitches in range
/// (see [`transposition_range`]); the canonical order within a tick (ascending pitch) survives a
/// uniform shift.
pub fn transpose_token(token: Token, semitones: i32) -> Token {
    match Event::from_token(token) {
        Some(Event::NoteOn(pitch)) => Event::NoteOn(transpose_pitch(pitch, semitones)).token(),
        Some(Event::NoteOff(pitch)) => Event::NoteOff(transpose_pitch(pitch, semitones)).token(),
        _ => token,
    }
}

/// A pitch moved by `semitones`; the caller keeps it in range (see [`transposition_range`]).
pub fn transpose_pitch(pitch: u8, semitones: i32) -> u8 {
    (pitch as i32 + semitones) as u8
}

/// The transpositions (inclusive) that keep a piece with this pitch range inside the
/// vocabulary, at most `max_semitones` either way.
pub fn transposition_range((low, high): (u8, u8), max_semitones: i32) -> (i32, i32) {
    let down = (PITCH_MIN as i32 - low as i32).max(-max_semitones).min(0);
    let up = (PITCH_MAX as i32 - high as i32).min(max_semitones).max(0);
    (down, up)
}

/// Writes the features of the state after each of `tokens[from..]` into `out`
/// (`FEATURE_COUNT` per position), replaying the state from the piece's start.
fn write_features_after(tokens: impl Iterator<Item = Token>, from: usize, out: &mut [f32]) {
    let mut state = SequenceState::default();
    let mut rows = out.chunks_exact_mut(FEATURE_COUNT);
    for (index, token) in tokens.enumerate() {
        state.apply_token(token, |_| {});
        if index >= from {
            match rows.next() {
                Some(row) => state.write_features(row),
                None => break,
            }
        }
    }
}

/// Fills row `row` of `batch` with the window of `piece` starting at `start`, transposed.
/// Positions past the piece's end stay padding (masked out).
fn fill_row(batch: &mut Batch, row: usize, piece: &Piece, start: usize, semitones: i32) {
    let seq = batch.seq;
    let end = (start + seq + 1).min(piece.tokens.len());
    let window: Vec<Token> = piece.tokens[start..end].iter().map(|&t| transpose_token(t, semitones)).collect();
    let offset = row * seq;
    for (position, pair) in window.windows(2).enumerate() {
        batch.inputs[offset + position] = pair[0] as i64;
        batch.targets[offset + position] = pair[1] as i64;
        batch.mask[offset + position] = 1.0;
    }
    if let Some(features) = batch.features.as_mut() {
        let inputs = window.len().saturating_sub(1);
        let out = &mut features[offset * FEATURE_COUNT..(offset + inputs) * FEATURE_COUNT];
        let prefix = piece.tokens[..start + inputs].iter().map(|&t| transpose_token(t, semitones));
        write_features_after(prefix, start, out);
    }
}

/// A batch of random windows: pieces drawn in proportion to their length, a random start,
/// a random transposition of at most `max_transpose` semitones, within range.
pub fn random_batch(
    pieces: &[Piece],
    rows: usize,
    seq: usize,
    conditioned: bool,
    max_transpose: i32,
    rng: &mut impl Rng,
) -> Batch {
    let total: usize = pieces.iter().map(|piece| piece.tokens.len()).sum();
    let mut batch = Batch::empty(rows, seq, conditioned);
    for row in 0..rows {
        let mut pick = rng.random_range(0..total);
        let piece = pieces
            .iter()
            .find(|piece| {
                let hit = pick < piece.tokens.len();
                pick = pick.saturating_sub(piece.tokens.len());
                hit
            })
            .expect("pick < total");
        let last_start = piece.tokens.len().saturating_sub(seq + 1);
        let start = rng.random_range(0..=last_start);
        let (down, up) = transposition_range(piece.pitch_range, max_transpose);
        let semitones = rng.random_range(down..=up);
        fill_row(&mut batch, row, piece, start, semitones);
    }
    batch.dropout_seed = Some(rng.random());
    batch
}

/// Every token of each piece in windows of `seq`, untransposed, for validation: batches of
/// consecutive windows; the first window of a piece starts at its `Start` token. Windows after
/// the first see the previous window's tokens only through the model's state, which a
/// convolution over a window does not have, so validation uses windows as long as practical.
pub fn validation_batches(pieces: &[Piece], rows: usize, seq: usize, conditioned: bool) -> Vec<Batch> {
    let windows: Vec<(&Piece, usize)> = pieces
        .iter()
        .flat_map(|piece| (0..piece.tokens.len().saturating_sub(1)).step_by(seq).map(move |start| (piece, start)))
        .collect();
    windows
        .chunks(rows)
        .map(|chunk| {
            let mut batch = Batch::empty(chunk.len(), seq, conditioned);
            for (row, &(piece, start)) in chunk.iter().enumerate() {
                fill_row(&mut batch, row, piece, start, 0);
            }
            batch
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuo::tokens::{encode_notes, Note};
    use rand::SeedableRng;

    fn piece(pitches: &[u8]) -> Piece {
        let notes: Vec<Note> = pitches
            .iter()
            .enumerate()
            .map(|(i, &pitch)| Note { pitch, velocity: 80, start_beats: i as f64 * 0.5, duration_beats: 1.0 })
            .collect();
        let tokens = encode_notes(&notes).tokens;
        let low = *pitches.iter().min().unwrap();
        let high = *pitches.iter().max().unwrap();
        Piece { name: "p.mid".into(), folder: "data".into(), tokens, length_beats: pitches.len() as f64 * 0.5, pitch_range: (low, high) }
    }

    /// The note pitches among a batch's scored inputs.
    fn input_pitches(batch: &Batch) -> Vec<u8> {
        let scored = batch.inputs.iter().zip(&batch.mask).filter(|(_, &mask)| mask > 0.0);
        scored
            .filter_map(|(&input, _)| match Event::from_token(input as Token) {
                Some(Event::NoteOn(pitch) | Event::NoteOff(pitch)) => Some(pitch),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn transposition_stays_in_range_and_varies() {
        assert_eq!(transposition_range((21, 40), 6), (0, 6));
        assert_eq!(transposition_range((100, 108), 6), (-6, 0));
        assert_eq!(transposition_range((60, 72), 6), (-6, 6));
        assert_eq!(transposition_range((60, 72), 0), (0, 0));
        let edges = vec![piece(&[21, 30, 40]), piece(&[100, 104, 108])];
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        for _ in 0..100 {
            let pitches = input_pitches(&random_batch(&edges, 4, 16, false, DEFAULT_TRANSPOSE_SEMITONES, &mut rng));
            assert!(pitches.iter().all(|pitch| (PITCH_MIN..=PITCH_MAX).contains(pitch)), "{pitches:?}");
        }
        let middle = vec![piece(&[60, 64, 67, 72])];
        let lowest: std::collections::BTreeSet<u8> = (0..100)
            .map(|_| *input_pitches(&random_batch(&middle, 1, 64, false, DEFAULT_TRANSPOSE_SEMITONES, &mut rng)).iter().min().unwrap())
            .collect();
        assert_eq!(lowest, (54..=66).collect(), "every shift from -6 to +6 occurs");
    }

    #[test]
    fn transposed_features_follow_the_transposed_notes() {
        let piece = piece(&[60, 64]);
        let mut batch = Batch::empty(1, 8, true);
        fill_row(&mut batch, 0, &piece, 0, 2);
        let features = batch.features.unwrap();
        // Position 1 is the input NoteOn(62) (Start, NoteOn: velocity 80 is the default bin):
        // pitch 62 sounds after it.
        assert_eq!(Event::from_token(batch.inputs[1] as Token), Some(Event::NoteOn(62)));
        let row = &features[FEATURE_COUNT..2 * FEATURE_COUNT];
        let sounding: Vec<usize> = (0..88).filter(|&i| row[i] == 1.0).collect();
        assert_eq!(sounding, vec![(62 - PITCH_MIN) as usize]);
    }

    #[test]
    fn validation_windows_cover_every_target_once() {
        let pieces = vec![piece(&[60, 62, 64, 65, 67]), piece(&[70, 72])];
        let batches = validation_batches(&pieces, 2, 4, false);
        let scored: usize = batches.iter().map(Batch::scored).sum();
        let expected: usize = pieces.iter().map(|piece| piece.tokens.len() - 1).sum();
        assert_eq!(scored, expected);
    }
}
