//! Reading and (atomically) writing BIE files.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::Generate;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::format::{self, Parsed};
use crate::{BieError, BieHeader, BieKey};

/// Seals `payload` and writes it to `path` atomically, verified: the bytes go to a temporary
/// file in the same folder (`.<name>.tmp-<random>`), which is flushed to disk, then read back
/// from disk, opened with `key` and decoded as `T`; only when the header is the one given and
/// the decoded payload re-encodes to exactly the bytes that were sealed is the temporary file
/// renamed over `path`. So a file this returns `Ok` for is one [`read_bie`] can read. On any
/// failure the temporary file is removed and `path` is left as it was (absent, or the previous
/// complete file).
///
/// The check costs one read of the file, one decryption, one decode and one (hashed, not
/// stored) re-encoding. It needs `T` to encode deterministically: a `HashMap` (whose order
/// changes from one instance to the next) would be reported as a mismatch; use a `BTreeMap`.
///
/// # Errors
/// The errors of [`crate::seal_to_vec`]; [`BieError::Io`] (with `path`) for file system
/// failures; [`BieError::ReadBack`] if the written file does not open and decode again, and
/// [`BieError::ReadBackMismatch`] if it does but differs from what was sealed (both name
/// `path`).
pub fn write_bie<T: Serialize + DeserializeOwned>(
    path: &Path,
    header: &BieHeader,
    payload: &T,
    key: &BieKey,
) -> Result<(), BieError> {
    let (bytes, digest) = format::seal_with_digest(header, payload, key)?;
    write_atomic(path, bytes, |written| {
        verify_written::<T>(written, path, header, &digest, key)
    })
}

/// Reads the file at `written` (the temporary file for `target`) back and checks it holds
/// `header` and a payload whose encoding has SHA-256 `digest`.
fn verify_written<T: Serialize + DeserializeOwned>(
    written: &Path,
    target: &Path,
    header: &BieHeader,
    digest: &[u8; 32],
    key: &BieKey,
) -> Result<(), BieError> {
    let read_back = |source: BieError| BieError::ReadBack {
        path: target.to_path_buf(),
        source: Box::new(source),
    };
    let data = fs::read(written).map_err(|e| read_back(BieError::io(written, e)))?;
    let (read_header, value): (BieHeader, T) =
        format::open_owned(data, key, header.payload_schema).map_err(read_back)?;
    let mismatch = |what: &str| BieError::ReadBackMismatch {
        path: target.to_path_buf(),
        what: what.to_string(),
    };
    if read_header != *header {
        return Err(mismatch("the header differs"));
    }
    if format::payload_digest(&value).map_err(read_back)? != *digest {
        return Err(mismatch(
            "the decoded payload encodes to other bytes than were sealed: \
             its serde implementation does not round-trip",
        ));
    }
    Ok(())
}

/// Reads and opens the BIE file at `path`, whose payload must have schema version `schema`;
/// see [`crate::open_from_slice`].
///
/// # Errors
/// [`BieError::Io`] if the file cannot be read, else the errors of [`crate::open_from_slice`].
pub fn read_bie<T: DeserializeOwned>(
    path: &Path,
    key: &BieKey,
    schema: u32,
) -> Result<(BieHeader, T), BieError> {
    let data = fs::read(path).map_err(|e| BieError::io(path, e))?;
    format::open_owned(data, key, schema)
}

/// Reads the clear header of the BIE file at `path` without a key, reading only the first
/// bytes of the file (the framing is still checked against the file's size). The header is not
/// authenticated by this call.
///
/// # Errors
/// [`BieError::Io`], else the errors of [`crate::read_header_from_slice`].
pub fn read_header(path: &Path) -> Result<BieHeader, BieError> {
    let io_err = |e| BieError::io(path, e);
    let mut file = File::open(path).map_err(io_err)?;
    let total = file.metadata().map_err(io_err)?.len();
    let mut prefix = Vec::new();
    let mut want = format::MIN_FILE_LEN;
    // At most three rounds: fixed fields, then header and trailer, then the frame is known.
    for _ in 0..3 {
        // `want` is at most 1 MiB + 54 bytes, and above 70 only once checked against `total`.
        let missing = want.saturating_sub(prefix.len()) as u64;
        (&mut file)
            .take(missing)
            .read_to_end(&mut prefix)
            .map_err(io_err)?;
        let expected = total.min(want as u64);
        if (prefix.len() as u64) < expected {
            // The file shrank while being read.
            return Err(BieError::Truncated {
                expected,
                got: prefix.len() as u64,
            });
        }
        match format::parse_frame(&prefix, total)? {
            Parsed::Frame(frame) => return format::header_from_prefix(&prefix, frame),
            Parsed::NeedMore(n) => want = n,
        }
    }
    Err(BieError::Truncated {
        expected: want as u64,
        got: prefix.len() as u64,
    })
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename; `verify`
/// gets the temporary file's path once it is complete on disk (and `bytes` freed), and the
/// rename happens only if it returns `Ok`.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: Vec<u8>,
    verify: impl FnOnce(&Path) -> Result<(), BieError>,
) -> Result<(), BieError> {
    let io_err = |e| BieError::io(path, e);
    let name = path.file_name().ok_or_else(|| {
        io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let suffix = u64::try_generate().map_err(|e| BieError::Random(e.to_string()))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{suffix:016x}"));
    let tmp: PathBuf = dir.join(tmp_name);

    // `create_new`: never follow or reuse somebody else's file.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err)?;
    let written = file.write_all(&bytes).and_then(|()| file.sync_all());
    drop(file);
    drop(bytes);
    let result = written
        .map_err(io_err)
        .and_then(|()| verify(&tmp))
        .and_then(|()| fs::rename(&tmp, path).map_err(io_err));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir);
    Ok(())
}

/// Flushes a folder's entries (so a rename survives a crash). Best effort: some file systems
/// cannot sync folders, and the file itself is complete either way.
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
