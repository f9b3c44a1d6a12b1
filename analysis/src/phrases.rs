//! Held-out phrases for the quality measurements: windows of whole bars cut from validation
//! pieces, the first bars a prompt, the next ones the real continuation.

use continuo::midi_file::{Song, TempoChange, DEFAULT_TEMPO_BPM};
use continuo::tokens::Note;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use crate::dataset::Piece;
use crate::stats::Phrase;

/// A prompt needs at least this many notes to say something about the music.
pub const MIN_PROMPT_NOTES: usize = 8;
/// A real continuation needs at least this many notes to compare statistics with.
pub const MIN_CONTINUATION_NOTES: usize = 4;

/// A prompt cut from a piece and the real continuation that followed it.
#[derive(Clone, Debug)]
pub struct HeldOutPhrase {
    /// The piece and the bar it starts at, for reports.
    pub name: String,
    /// The prompt as a song of its own (notes from beat 0, the piece's tempo and meter), as a
    /// generator is given it.
    pub prompt: Song,
    /// The prompt and the real continuation, for the statistics.
    pub real: Phrase,
    /// Length of the prompt in beats.
    pub prompt_beats: f64,
    /// The bar of the piece the prompt starts at (1-based), for pictures' bar numbers.
    pub first_bar: u32,
}

/// Where to cut phrases.
#[derive(Clone, Copy, Debug)]
pub struct PhraseShape {
    /// Bars of prompt.
    pub prompt_bars: u32,
    /// Bars of continuation.
    pub continuation_bars: u32,
}

/// Picks up to `count` phrases, at most one per piece, deterministically for a seed: pieces in a
/// seeded random order, and in each a seeded choice among the windows (starting on a multiple of
/// `prompt_bars`) whose prompt and continuation hold enough notes.
pub fn pick_phrases(pieces: &[Piece], count: usize, shape: PhraseShape, seed: u64) -> Vec<HeldOutPhrase> {
    let mut random = Pcg64Mcg::seed_from_u64(seed);
    let mut order: Vec<&Piece> = pieces.iter().collect();
    order.shuffle(&mut random);
    let mut phrases = Vec::with_capacity(count);
    for piece in order {
        if phrases.len() == count {
            break;
        }
        let windows = eligible_windows(piece, shape);
        if let Some(&start_bar) = windows.choose(&mut random) {
            phrases.push(cut_phrase(piece, start_bar, shape));
        }
    }
    phrases
}

/// Start bars of the windows that fit in the piece and hold enough notes.
fn eligible_windows(piece: &Piece, shape: PhraseShape) -> Vec<u32> {
    let bar = piece.song.beats_per_bar();
    let window_bars = shape.prompt_bars + shape.continuation_bars;
    let whole_bars = (piece.song.length_beats() / bar).floor() as u32;
    (0..whole_bars.saturating_sub(window_bars) + 1)
        .step_by(shape.prompt_bars.max(1) as usize)
        .filter(|&start_bar| start_bar + window_bars <= whole_bars)
        .filter(|&start_bar| {
            let phrase = cut_phrase(piece, start_bar, shape);
            phrase.real.prompt.len() >= MIN_PROMPT_NOTES && phrase.real.continuation.len() >= MIN_CONTINUATION_NOTES
        })
        .collect()
}

fn cut_phrase(piece: &Piece, start_bar: u32, shape: PhraseShape) -> HeldOutPhrase {
    let bar = piece.song.beats_per_bar();
    let start = start_bar as f64 * bar;
    let prompt_beats = shape.prompt_bars as f64 * bar;
    let continuation_beats = shape.continuation_bars as f64 * bar;
    let prompt = notes_between(&piece.song.notes, start, start + prompt_beats);
    let continuation =
        notes_between(&piece.song.notes, start + prompt_beats, start + prompt_beats + continuation_beats);
    HeldOutPhrase {
        name: format!("{} bar {}", piece.path.display(), start_bar + 1),
        prompt: Song {
            notes: prompt.clone(),
            tempo_map: vec![TempoChange { beat: 0.0, bpm: tempo_at(&piece.song, start) }],
            time_signature: piece.song.time_signature,
        },
        real: Phrase { prompt, continuation, continuation_beats, continuation_start_beats: prompt_beats },
        prompt_beats,
        first_bar: start_bar + 1,
    }
}

/// The tempo in force at a beat (so a prompt written out plays at the speed it had in the piece).
fn tempo_at(song: &Song, beat: f64) -> f64 {
    song.tempo_map.iter().take_while(|change| change.beat <= beat).last().map_or(DEFAULT_TEMPO_BPM, |change| change.bpm)
}

/// The notes starting in `[from, to)`, moved to start from beat 0 and cut off at `to`.
pub fn notes_between(notes: &[Note], from: f64, to: f64) -> Vec<Note> {
    notes
        .iter()
        .filter(|note| note.start_beats >= from && note.start_beats < to)
        .map(|note| Note {
            start_beats: note.start_beats - from,
            duration_beats: note.duration_beats.min(to - note.start_beats),
            ..*note
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn piece(name: &str, bars: usize, notes_per_bar: usize) -> Piece {
        let notes: Vec<Note> = (0..bars * notes_per_bar)
            .map(|i| Note {
                pitch: 60 + (i % 12) as u8,
                velocity: 80,
                start_beats: i as f64 * 4.0 / notes_per_bar as f64,
                duration_beats: 1.5,
            })
            .collect();
        Piece {
            path: PathBuf::from(name),
            tokens: Vec::new(),
            song: Song { notes, tempo_map: Vec::new(), time_signature: (4, 4) },
        }
    }

    const SHAPE: PhraseShape = PhraseShape { prompt_bars: 4, continuation_bars: 4 };

    #[test]
    fn phrases_are_cut_on_bars_and_clipped_to_their_window() {
        let pieces = vec![piece("a.mid", 12, 4)];
        let phrases = pick_phrases(&pieces, 5, SHAPE, 1);
        assert_eq!(phrases.len(), 1, "one phrase per piece");
        let phrase = &phrases[0];
        assert_eq!(phrase.prompt_beats, 16.0);
        assert_eq!(phrase.real.prompt.len(), 16);
        assert_eq!(phrase.real.continuation.len(), 16);
        assert_eq!(phrase.real.continuation_beats, 16.0);
        assert_eq!(phrase.real.continuation[0].start_beats, 0.0);
        assert!(phrase.real.prompt.iter().all(|note| note.end_beats() <= 16.0));
        assert_eq!(phrase.prompt.notes, phrase.real.prompt);
    }

    #[test]
    fn a_prompt_keeps_the_tempo_in_force_where_it_starts() {
        let mut song = piece("a.mid", 12, 4).song;
        song.tempo_map = vec![TempoChange { beat: 0.0, bpm: 90.0 }, TempoChange { beat: 10.0, bpm: 140.0 }];
        assert_eq!(tempo_at(&song, 0.0), 90.0);
        assert_eq!(tempo_at(&song, 16.0), 140.0);
        assert_eq!(tempo_at(&Song { tempo_map: Vec::new(), ..song }, 4.0), DEFAULT_TEMPO_BPM);
    }

    #[test]
    fn short_or_sparse_pieces_are_left_out_and_picks_follow_the_seed() {
        let pieces =
            vec![piece("short.mid", 7, 4), piece("sparse.mid", 16, 1), piece("b.mid", 40, 4), piece("c.mid", 40, 4)];
        let phrases = pick_phrases(&pieces, 10, SHAPE, 3);
        let names: Vec<&str> = phrases.iter().map(|p| p.name.split(' ').next().unwrap()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"b.mid") && names.contains(&"c.mid"));
        let again: Vec<String> = pick_phrases(&pieces, 10, SHAPE, 3).into_iter().map(|p| p.name).collect();
        assert_eq!(again, phrases.iter().map(|p| p.name.clone()).collect::<Vec<_>>());
        let starts = |seed| pick_phrases(&pieces, 10, SHAPE, seed).into_iter().map(|p| p.name).collect::<Vec<_>>();
        assert!((4..12).any(|seed| starts(seed) != starts(3)), "other seeds pick other windows");
    }
}
