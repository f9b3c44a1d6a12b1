//! A folder of MIDI files as a data set: the files, found recursively in a stable order, and
//! their deterministic train/validation split.
//!
//! The split is by file (no piece leaks between the two) and depends only on the file's path
//! relative to the folder, hashed with FNV-1a, so it is the same on every machine and run, for
//! the trainer, the evaluators and the baselines.

use std::path::{Path, PathBuf};

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

/// The split of `file`, found under `root`.
pub fn split_of(root: &Path, file: &Path) -> Split {
    let relative = file.strip_prefix(root).unwrap_or(file);
    let key = relative.to_string_lossy().replace('\\', "/");
    if fnv1a(key.as_bytes()) % 100 < VALIDATION_PERCENT {
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
