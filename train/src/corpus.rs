//! A folder of MIDI files as token sequences: recursive reading, skipping unreadable files with a
//! warning, encoding with the shared vocabulary, and the train/validation split by file.

use std::path::Path;

use continuo::corpus::{read_songs, split_of, Split};

use continuo::midi_file::ReadOptions;
use continuo::tokens::{encode_notes, Event, Token, PITCH_MAX, PITCH_MIN};
use serde::{Deserialize, Serialize};

/// A piece as the model sees it.
#[derive(Clone, Debug)]
pub struct Piece {
    /// Path relative to the data folder, `/`-separated: names the piece and decides its split.
    pub name: String,
    /// The data folder it was read from, as given (eval reports each collection apart).
    pub folder: String,
    /// `Start`, events, `End`.
    pub tokens: Vec<Token>,
    /// Length of the piece in beats (for NLL per grid frame).
    pub length_beats: f64,
    /// Lowest and highest pitch of the piece's note tokens, to keep transpositions in range.
    pub pitch_range: (u8, u8),
}

/// What reading a folder found, for the console, metrics.json and the model's metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CorpusSummary {
    /// The folders read, comma-separated.
    pub folder: String,
    /// Files that were encoded.
    pub files: usize,
    /// Files skipped because they could not be read or held no notes.
    pub skipped_files: usize,
    /// Tokens over all encoded files (each file's `Start` and `End` included).
    pub tokens: usize,
    /// Notes moved by octaves into the vocabulary's pitch range.
    pub octave_folded_notes: usize,
    /// Notes dropped because the same pitch started twice on one tick.
    pub duplicate_notes_dropped: usize,
    /// Whether channel 10 was read.
    pub include_drums: bool,
}

/// The pieces of a folder and what reading it found.
#[derive(Clone, Debug)]
pub struct Corpus {
    pub pieces: Vec<Piece>,
    pub summary: CorpusSummary,
}

/// Reads and encodes every MIDI file under `folder`. Unreadable files are skipped with a warning
/// (through `warn`) naming the file and the reason, and counted.
pub fn read_corpus(folder: &Path, include_drums: bool, mut warn: impl FnMut(String)) -> anyhow::Result<Corpus> {
    let mut summary =
        CorpusSummary { folder: folder.display().to_string(), include_drums, ..CorpusSummary::default() };
    let songs = read_songs(folder, ReadOptions { include_drums }, |_| true, |error| {
        summary.skipped_files += 1;
        warn(format!("warning: skipped {error}"));
    })?;
    if songs.is_empty() {
        anyhow::bail!("{}: none of the {} MIDI files could be read", folder.display(), summary.skipped_files);
    }
    let pieces = songs
        .into_iter()
        .map(|file| {
            let encoded = encode_notes(&file.song.notes);
            summary.files += 1;
            summary.tokens += encoded.tokens.len();
            summary.octave_folded_notes += encoded.octave_folded;
            summary.duplicate_notes_dropped += encoded.duplicates_dropped;
            Piece {
                name: file.name,
                folder: folder.display().to_string(),
                pitch_range: pitch_range(&encoded.tokens),
                length_beats: file.song.length_beats(),
                tokens: encoded.tokens,
            }
        })
        .collect();
    Ok(Corpus { pieces, summary })
}

/// Lowest and highest pitch among note tokens (`(PITCH_MIN, PITCH_MAX)` for a piece with none,
/// which then cannot be transposed).
fn pitch_range(tokens: &[Token]) -> (u8, u8) {
    let pitches = tokens.iter().filter_map(|&token| match Event::from_token(token) {
        Some(Event::NoteOn(pitch) | Event::NoteOff(pitch)) => Some(pitch),
        _ => None,
    });
    pitches.fold(None, |range: Option<(u8, u8)>, pitch| {
        Some(range.map_or((pitch, pitch), |(low, high)| (low.min(pitch), high.max(pitch))))
    })
    .unwrap_or((PITCH_MIN, PITCH_MAX))
}

/// Reads several folders as one corpus; each folder is its own root for piece names and the
/// split.
pub fn read_corpora(folders: &[std::path::PathBuf], include_drums: bool, mut warn: impl FnMut(String)) -> anyhow::Result<Corpus> {
    let mut merged = Corpus { pieces: Vec::new(), summary: CorpusSummary { include_drums, ..CorpusSummary::default() } };
    for folder in folders {
        let corpus = read_corpus(folder, include_drums, &mut warn)?;
        let (total, part) = (&mut merged.summary, corpus.summary);
        total.folder = if total.folder.is_empty() { part.folder } else { format!("{}, {}", total.folder, part.folder) };
        total.files += part.files;
        total.skipped_files += part.skipped_files;
        total.tokens += part.tokens;
        total.octave_folded_notes += part.octave_folded_notes;
        total.duplicate_notes_dropped += part.duplicate_notes_dropped;
        merged.pieces.extend(corpus.pieces);
    }
    Ok(merged)
}

/// Whether a piece (by its name relative to the data folder) belongs to the validation split:
/// the split every Continuo tool shares.
pub fn is_validation(name: &str) -> bool {
    split_of(Path::new(""), Path::new(name)) == Split::Validation
}

/// Splits pieces into (train, validation) by file. A corpus too small to leave a validation
/// piece by hash gives its last piece to validation, so there is always something to validate on
/// (and to train on, when there are at least two pieces).
pub fn split(pieces: Vec<Piece>) -> (Vec<Piece>, Vec<Piece>) {
    let (mut validation, mut train): (Vec<Piece>, Vec<Piece>) =
        pieces.into_iter().partition(|piece| is_validation(&piece.name));
    if validation.is_empty() && train.len() > 1 {
        validation.push(train.pop().expect("two or more pieces"));
    }
    if train.is_empty() && validation.len() > 1 {
        train.push(validation.pop().expect("two or more pieces"));
    }
    (train, validation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_as_their_files_do() {
        let root = Path::new("/data");
        for index in 0..200 {
            let name = format!("set/piece_{index}.mid");
            let expected = split_of(root, &root.join(&name)) == Split::Validation;
            assert_eq!(is_validation(&name), expected, "{name}");
        }
    }

    #[test]
    fn pitch_range_spans_the_note_tokens() {
        let tokens = [Event::Start, Event::NoteOn(60), Event::NoteOn(72), Event::NoteOff(60), Event::End]
            .map(Event::token);
        assert_eq!(pitch_range(&tokens), (60, 72));
    }
}
