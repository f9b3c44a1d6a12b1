//! A folder of MIDI files as a data set: the files, found recursively in a stable order, and
//! their deterministic train/validation split.
//!
//! The split is by file (no piece leaks between the two) and depends only on the file's path
//! relative to the folder, hashed with FNV-1a, so it is the same on every machine and run, for
//! the trainer, the evaluators and the baselines.

use std::collections::HashSet;
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

/// Every `.mid`/`.midi` file under `dir`, recursively, sorted by path. Symbolic links to folders
/// are followed, but each folder (by its canonical path) is read once, so a link loop ends
/// instead of recursing forever, and the walk keeps its own stack (no recursion). Folders are
/// walked in sorted order, so when two links lead to one folder the same one wins on every run.
pub fn midi_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut visited = HashSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        if !visited.insert(std::fs::canonicalize(&folder)?) {
            continue;
        }
        let mut subfolders = Vec::new();
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                subfolders.push(path);
            } else if is_midi_file_name(&path) {
                files.push(path);
            }
        }
        subfolders.sort_by(|a, b| b.cmp(a));
        pending.extend(subfolders);
    }
    files.sort();
    Ok(files)
}

fn is_midi_file_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("mid") || e.eq_ignore_ascii_case("midi"))
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

    /// Failed before: the recursive walk followed `b/up` back to the root again and again, its
    /// paths growing link by link (it had not ended after a minute when stopped).
    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_walked_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("b/song.mid"), b"").unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("b/up")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("b"), dir.path().join("a")).unwrap();
        let found: Vec<String> = midi_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(found, vec!["a/song.mid"], "the folder b is read once, by its first name in sorted order");
    }

    /// A file of more notes than the limit is skipped with its reason, and the rest are read.
    #[test]
    fn a_file_of_too_many_notes_is_skipped_naming_it() {
        use crate::midi_file::{write_midi, MAX_NOTES_PER_FILE};
        use crate::tokens::Note;
        let dir = tempfile::tempdir().unwrap();
        let note = |index: usize| Note { pitch: 60, velocity: 80, start_beats: index as f64, duration_beats: 0.5 };
        std::fs::write(dir.path().join("small.mid"), write_midi(&[note(0)], 120.0, (4, 4))).unwrap();
        let busy: Vec<Note> = (0..=MAX_NOTES_PER_FILE).map(note).collect();
        std::fs::write(dir.path().join("busy.mid"), write_midi(&busy, 120.0, (4, 4))).unwrap();
        let mut skipped = Vec::new();
        let songs = read_songs(dir.path(), ReadOptions::default(), |_| true, |error| skipped.push(error.to_string())).unwrap();
        assert_eq!(songs.iter().map(|song| song.name.as_str()).collect::<Vec<_>>(), vec!["small.mid"]);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("busy.mid: holds more than 500000 notes"), "{skipped:?}");
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
