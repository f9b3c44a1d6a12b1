//! Reading a whole file the user named, safely: only a regular file, and only up to a size
//! limit. `std::fs::read` would block forever on a FIFO (and with it the thread that must join
//! when the DAW closes) and exhaust memory on `/dev/zero`.

use std::io::Read;
use std::path::Path;

/// Why a file was not read; the caller adds the file's name.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file (a {kind})")]
    NotRegular { kind: &'static str },
    #[error("larger than the limit of {limit_bytes} bytes")]
    TooLarge { limit_bytes: u64 },
}

/// Reads the regular file at `path` whole, refusing anything else and anything larger than
/// `limit_bytes`. The type is checked before opening (opening a FIFO for reading blocks until a
/// writer comes), the open does not block (`O_NONBLOCK` on unix), and the opened file is checked
/// again, in case the path was swapped in between. At most `limit_bytes + 1` bytes are read.
pub fn read_regular_file(path: &Path, limit_bytes: u64) -> Result<Vec<u8>, BoundedReadError> {
    ensure_regular(&std::fs::metadata(path)?)?;
    let file = open_without_blocking(path)?;
    let metadata = file.metadata()?;
    ensure_regular(&metadata)?;
    if metadata.len() > limit_bytes {
        return Err(BoundedReadError::TooLarge { limit_bytes });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit_bytes {
        return Err(BoundedReadError::TooLarge { limit_bytes });
    }
    Ok(bytes)
}

fn ensure_regular(metadata: &std::fs::Metadata) -> Result<(), BoundedReadError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        Ok(())
    } else {
        Err(BoundedReadError::NotRegular { kind: describe(kind) })
    }
}

#[cfg(unix)]
fn describe(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    match kind {
        kind if kind.is_dir() => "directory",
        kind if kind.is_fifo() => "FIFO",
        kind if kind.is_char_device() => "character device",
        kind if kind.is_block_device() => "block device",
        kind if kind.is_socket() => "socket",
        _ => "special file",
    }
}

#[cfg(not(unix))]
fn describe(kind: std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

#[cfg(unix)]
fn open_without_blocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)
}

#[cfg(not(unix))]
fn open_without_blocking(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole_and_one_over_it_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("ten");
        std::fs::write(&path, [7u8; 10]).unwrap();
        assert_eq!(read_regular_file(&path, 10).unwrap(), vec![7u8; 10]);
        let error = read_regular_file(&path, 9).unwrap_err();
        assert_eq!(error.to_string(), "larger than the limit of 9 bytes");
    }
}
