//! A folder of MIDI files as a data set: the files, found recursively in a stable order, and
//! their deterministic train/validation split.
//!
//! The split is by file (no piece leaks between the two) and depends only on the file's path
//! relative to the folder, hashed with FNV-1a, so it is the same on every machine and run, for
//! the trainer, the evaluators and the baselines.

use std::path::{Path, PathBuf};

use crate::midi_file::{read_midi_file, MidiError, ReadOptions, Song};

/// Share of files that go to validation, in percent.
pub const VALIDATION_PERCENT: u64 = 10;

/// Which side of the split a file is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Validation,
}

/// Every `.mid`/`.midi` file under `dir`, recursively, sorted by path.
pub fn midi_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    Ok(files)
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("mid") || e.eq_ignore_ascii_case("midi"))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// A readable MIDI file of a data folder.
#[derive(Clone, Debug)]
pub struct SongFile {
    /// Where it was read from, to name it in reports.
    pub path: PathBuf,
    /// Its path below the folder, `/`-separated on every platform: names it and decides its split.
    pub name: String,
    /// Its notes, tempo and meter.
    pub song: Song,
}

/// Why a data folder gave nothing to work with; names the folder.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{folder}: cannot list folder: {source}")]
    Unlistable { folder: String, source: std::io::Error },
    #[error("{folder}: no .mid files found")]
    NoMidiFiles { folder: String },
}

/// Reads the MIDI files under `folder` that `keep` accepts, in path order. A file that cannot be
/// read is handed to `skipped` (its error names it and the reason) and left out, so one bad file
/// never stops a tool.
pub fn read_songs(
    folder: &Path,
    options: ReadOptions,
    keep: impl Fn(&Path) -> bool,
    mut skipped: impl FnMut(MidiError),
) -> Result<Vec<SongFile>, CorpusError> {
    let folder_name = || folder.display().to_string();
    let files = midi_files(folder).map_err(|source| CorpusError::Unlistable { folder: folder_name(), source })?;
    if files.is_empty() {
        return Err(CorpusError::NoMidiFiles { folder: folder_name() });
    }
    let mut songs = Vec::with_capacity(files.len());
    for path in files.into_iter().filter(|path| keep(path)) {
        match read_midi_file(&path, options) {
            Ok(song) => songs.push(SongFile { name: relative_name(folder, &path), path, song }),
            Err(error) => skipped(error),
        }
    }
    Ok(songs)
}

/// The path below `folder`, `/`-separated whatever the platform.
fn relative_name(folder: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(folder).unwrap_or(path);
    relative.iter().map(|part| part.to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// The split of `file`, found under `root`.
pub fn split_of(root: &Path, file: &Path) -> Split {
    if fnv1a(relative_name(root, file).as_bytes()) % 100 < VALIDATION_PERCENT {
        Split::Validation
    } else {
        Split::Train
    }
}

/// FNV-1a, 64 bits: tiny, stable, and well spread over similar names.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_stable_and_about_the_validation_share() {
        let root = Path::new("/data");
        let files: Vec<PathBuf> = (0..2000).map(|i| root.join(format!("set/piece_{i:04}.mid"))).collect();
        let validation = files.iter().filter(|f| split_of(root, f) == Split::Validation).count();
        assert!((150..250).contains(&validation), "{validation} of 2000");
        // The same relative path lands on the same side under any root.
        for file in &files {
            let moved = Path::new("/elsewhere").join(file.strip_prefix(root).unwrap());
            assert_eq!(split_of(root, file), split_of(Path::new("/elsewhere"), &moved));
        }
    }

    #[test]
    fn unreadable_files_are_skipped_and_named_and_keep_filters() {
        use crate::midi_file::write_midi;
        use crate::tokens::Note;
        let dir = tempfile::tempdir().unwrap();
        let note = Note { pitch: 60, velocity: 80, start_beats: 0.0, duration_beats: 1.0 };
        for name in ["a.mid", "b.mid", "c.mid"] {
            std::fs::write(dir.path().join(name), write_midi(&[note], 120.0, (4, 4))).unwrap();
        }
        std::fs::write(dir.path().join("broken.mid"), b"MThd").unwrap();
        let mut skipped = Vec::new();
        let keep = |path: &Path| !path.ends_with("c.mid");
        let songs = read_songs(dir.path(), ReadOptions::default(), keep, |error| skipped.push(error.to_string())).unwrap();
        let names: Vec<&str> = songs.iter().map(|song| song.name.as_str()).collect();
        assert_eq!(names, vec!["a.mid", "b.mid"]);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("broken.mid") && skipped[0].contains("not a valid MIDI file"), "{skipped:?}");
        let empty = tempfile::tempdir().unwrap();
        let error = read_songs(empty.path(), ReadOptions::default(), |_| true, |_| {}).unwrap_err();
        assert!(error.to_string().ends_with("no .mid files found"), "{error}");
    }

    #[test]
    fn midi_files_are_found_recursively_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        for name in ["b/two.MID", "one.mid", "notes.txt", "b/three.midi"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let found: Vec<String> = midi_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, vec!["b/three.midi", "b/two.MID", "one.mid"]);
    }
}
