//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while sealing, opening or locating keys for a BIE file.
///
/// Each failure a reader can meet has its own variant, so callers (and users) can tell a file
/// that is not a BIE at all from one written by a newer toolchain, one sealed with another key,
/// one that was modified, and one that was cut short.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BieError {
    /// The data does not start with the `RADIXBIE` magic.
    #[error("not a BIE file (it does not start with the \"RADIXBIE\" magic bytes)")]
    NotABie,

    /// The container format version is not one this build can read.
    #[error(
        "unsupported BIE format version {found}: this build reads version {supported} \
         (a file from a newer radix needs a newer radix)"
    )]
    UnsupportedVersion {
        /// Version stored in the file.
        found: u16,
        /// Version this build reads and writes.
        supported: u16,
    },

    /// The file was sealed with a different key (the key fingerprints differ).
    #[error(
        "wrong key: the file was sealed with key {file_key_id}, but the key given is {given_key_id}"
    )]
    WrongKey {
        /// Fingerprint of the sealing key, as stored in the file (16 hex digits).
        file_key_id: String,
        /// Fingerprint of the key used to open the file (16 hex digits).
        given_key_id: String,
    },

    /// The authentication tag did not verify.
    #[error("authentication failed: wrong key or the file was modified")]
    AuthenticationFailed,

    /// The data ends before the length fields say it should.
    #[error("truncated BIE file: expected at least {expected} bytes, got {got}")]
    Truncated {
        /// Number of bytes the file needs (at least).
        expected: u64,
        /// Number of bytes the file has.
        got: u64,
    },

    /// The data goes on after the sealed payload.
    #[error(
        "BIE file has unexpected data after the sealed payload: expected {expected} bytes, got {got}"
    )]
    TrailingData {
        /// Number of bytes the length fields account for.
        expected: u64,
        /// Number of bytes the file has.
        got: u64,
    },

    /// The clear header is malformed (bad length field, bad UTF-8, wrong size).
    #[error("cannot decode the BIE header: {0}")]
    HeaderDecode(String),

    /// The header to write is larger than the format allows.
    #[error("BIE header too large: {len} bytes (the limit is {max})")]
    HeaderTooLarge {
        /// Encoded header size.
        len: usize,
        /// [`crate::MAX_HEADER_LEN`].
        max: usize,
    },

    /// The payload's schema version (in the header) is not the one the reader expects: the
    /// file was written by a radix whose model layout differs from this one's.
    #[error(
        "the model payload has schema version {found} (written by {toolchain}), but this build \
         reads schema version {expected}: quantize the model again with this radix, or read it \
         with the radix that wrote it"
    )]
    SchemaMismatch {
        /// Schema version stored in the file's header.
        found: u32,
        /// Schema version the reader expects.
        expected: u32,
        /// `toolchain_version` from the file's header.
        toolchain: String,
    },

    /// The payload decrypted fine but does not decode as the requested type.
    #[error("cannot decode the model payload: {0}")]
    PayloadDecode(String),

    /// The payload could not be serialized or sealed.
    #[error("cannot encode the model payload: {0}")]
    PayloadEncode(String),

    /// The file just written for `path` did not open again with the same key (for instance its
    /// payload did not decode). It was not kept: `path` is as it was before the write.
    #[error(
        "the BIE file written for {} cannot be read back, so it was not kept: {source}",
        path.display()
    )]
    ReadBack {
        /// The file that was to be written.
        path: PathBuf,
        /// Why reading it back failed.
        #[source]
        source: Box<BieError>,
    },

    /// The file just written for `path` opened, but its contents differ from what was sealed.
    /// It was not kept: `path` is as it was before the write.
    #[error(
        "the BIE file written for {} does not read back as written ({what}), so it was not kept",
        path.display()
    )]
    ReadBackMismatch {
        /// The file that was to be written.
        path: PathBuf,
        /// What differs.
        what: String,
    },

    /// An I/O operation on `path` failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// File or folder the operation was about.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A key could not be parsed or located. The message never contains key material.
    #[error("bad BIE key: {0}")]
    BadKey(String),

    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

impl BieError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        BieError::Io {
            path: path.into(),
            source,
        }
    }
}
