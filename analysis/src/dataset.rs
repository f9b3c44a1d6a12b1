//! MIDI folders as pieces, on one side of the shared train/validation split
//! (`continuo::corpus`), with unreadable files skipped and named.

use std::path::{Path, PathBuf};

use anyhow::Result;
use continuo::corpus::{read_songs, split_of, Split};
use continuo::midi_file::{ReadOptions, Song};
use continuo::tokens::{encode_notes, Token};

/// One readable MIDI file.
#[derive(Clone, Debug)]
pub struct Piece {
    /// Where it was read from, to name it in reports.
    pub path: PathBuf,
    /// Its notes, tempo and meter (the quality command cuts phrases from them).
    pub song: Song,
    /// `Start`, events, `End`: what the models score.
    pub tokens: Vec<Token>,
}

/// Which files of a folder to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every file (a separate test folder, or training on a whole folder).
    All,
    /// One side of the split, with the folder as the split's root.
    Side(Split),
}

/// Reads the selected files of every folder, in folder then path order. Unreadable files are
/// skipped with a warning on stderr naming the file; a folder without MIDI files is an error.
pub fn read_pieces(folders: &[PathBuf], selection: Selection) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    for folder in folders {
        let selected = |file: &Path| match selection {
            Selection::All => true,
            Selection::Side(side) => split_of(folder, file) == side,
        };
        let songs = read_songs(folder, ReadOptions::default(), selected, |error| eprintln!("warning: skipped {error}"))?;
        pieces.extend(songs.into_iter().map(|file| Piece {
            tokens: encode_notes(&file.song.notes).tokens,
            path: file.path,
            song: file.song,
        }));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use continuo::midi_file::write_midi;
    use continuo::tokens::Note;

    #[test]
    fn unreadable_files_are_skipped_and_sides_partition_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let note = Note { pitch: 60, velocity: 80, start_beats: 0.0, duration_beats: 1.0 };
        for index in 0..30 {
            std::fs::write(dir.path().join(format!("piece{index:02}.mid")), write_midi(&[note], 120.0, (4, 4)))
                .unwrap();
        }
        std::fs::write(dir.path().join("broken.mid"), b"not midi").unwrap();
        let folders = [dir.path().to_path_buf()];
        let all = read_pieces(&folders, Selection::All).unwrap();
        assert_eq!(all.len(), 30, "the broken file is skipped");
        let train = read_pieces(&folders, Selection::Side(Split::Train)).unwrap();
        let validation = read_pieces(&folders, Selection::Side(Split::Validation)).unwrap();
        assert_eq!(train.len() + validation.len(), 30);
        assert!(train.iter().all(|piece| split_of(dir.path(), &piece.path) == Split::Train));
        assert_eq!(all[0].tokens.len(), 5, "Start, NoteOn, TimeShift, NoteOff, End");
    }

    #[test]
    fn an_empty_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let error = read_pieces(&[dir.path().to_path_buf()], Selection::All).unwrap_err();
        assert!(error.to_string().contains(&dir.path().display().to_string()));
    }
}
