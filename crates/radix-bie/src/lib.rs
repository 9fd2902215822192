//! # radix-bie: the BIE container
//!
//! A `.bie` file holds a quantized model sealed for a Kneron NPU toolchain: a clear,
//! versioned header anyone can read, followed by the bincode-serialized model encrypted and
//! authenticated with XChaCha20-Poly1305 under a 256-bit key.
//!
//! ## Layout (format version 2)
//!
//! All integers are little-endian. `H` is the header length.
//!
//! | offset      | size | field                                                     |
//! |-------------|------|-----------------------------------------------------------|
//! | 0           | 8    | magic `RADIXBIE`                                          |
//! | 8           | 2    | format version (`u16`, = 2)                                |
//! | 10          | 4    | header length `H` (`u32`, at most [`MAX_HEADER_LEN`])      |
//! | 14          | H    | header: `platform: u32`, `payload_schema: u32`, then `toolchain_version`, `model_name`, `options_json` each as `u32` length + UTF-8, then `source_sha256: [u8; 32]` |
//! | 14+H        | 8    | key fingerprint: first 8 bytes of SHA-256(`"radix-bie key-id v1\0"` ‖ key) |
//! | 22+H        | 24   | nonce, fresh from the OS random generator for every file  |
//! | 46+H        | 8    | ciphertext length `C` (`u64`, includes the 16-byte tag)    |
//! | 54+H        | C    | XChaCha20-Poly1305 ciphertext of the payload, then the tag |
//!
//! The payload is `bincode` 2 (standard configuration, serde) of the model. The associated
//! data is every byte before the ciphertext (offsets `0..54+H`), so the magic, the version, the
//! header, the key fingerprint, the nonce and the length are all authenticated. The file ends
//! exactly at `54+H+C`. See also `FORMAT.md` beside this crate.
//!
//! ## Reading is defensive
//!
//! Every length field is checked against the file's real size before it is used, nothing is
//! allocated from a length field that was not checked, and each failure has its own
//! [`BieError`] variant: [`BieError::NotABie`], [`BieError::UnsupportedVersion`],
//! [`BieError::Truncated`], [`BieError::TrailingData`], [`BieError::WrongKey`] (the key
//! fingerprint differs), [`BieError::AuthenticationFailed`] (the key is right but the bytes
//! were changed), [`BieError::HeaderDecode`], [`BieError::SchemaMismatch`] (the payload was
//! written with another layout than the reader's: refused before decoding, naming both
//! versions), [`BieError::PayloadDecode`]. Nothing read from a
//! file can make the reader panic; the reader is fuzzed (`/fuzz`, see `FUZZING.md`). Inside the
//! payload, bincode's decoder runs with a byte limit of at least 16 times the payload size
//! (what no genuine payload can exceed) and less than 64 times (so a forged length cannot
//! allocate without bound); `FORMAT.md`, "Decode limit", derives both bounds.
//!
//! ## Writing is verified
//!
//! [`write_bie`] writes a temporary file, reads it back, opens and decodes it, and renames it
//! over the target only if it holds exactly what was sealed ([`BieError::ReadBack`],
//! [`BieError::ReadBackMismatch`] otherwise, and the target is left as it was).
//!
//! ## Keys
//!
//! [`BieKey::resolve`] takes an explicit key file, else `RADIX_BIE_KEY` (64 hex characters),
//! else a per-user key file (`$XDG_CONFIG_HOME/radix/bie.key` or `~/.config/radix/bie.key`)
//! that it creates with mode 0600 on first use and reports through [`KeySource`].
//!
//! ## Example
//!
//! ```
//! use radix_bie::{BieHeader, BieKey, open_from_slice, read_header_from_slice, seal_to_vec};
//!
//! let key = BieKey::from_bytes([7; 32]);
//! // The payload type's schema version: bump it whenever its serialized layout changes.
//! const SCHEMA: u32 = 1;
//! let header = BieHeader {
//!     platform: 720,
//!     payload_schema: SCHEMA,
//!     model_name: "demo".into(),
//!     ..Default::default()
//! };
//! let weights: Vec<i8> = vec![1, -2, 3];
//! let file = seal_to_vec(&header, &weights, &key)?;
//! assert_eq!(read_header_from_slice(&file)?.model_name, "demo");
//! let (h, w): (BieHeader, Vec<i8>) = open_from_slice(&file, &key, SCHEMA)?;
//! assert_eq!((h, w), (header, weights));
//! # Ok::<(), radix_bie::BieError>(())
//! ```

#![deny(missing_docs)]

mod error;
mod file;
mod format;
mod header;
mod key;

pub use error::BieError;
pub use file::{read_bie, read_header, write_bie};
#[cfg(feature = "fuzzing")]
pub use format::seal_raw_payload_to_vec;
pub use format::{
    BieHeader, FORMAT_VERSION, MAGIC, MAX_HEADER_LEN, NONCE_LEN, TAG_LEN, open_from_slice,
    read_header_from_slice, seal_to_vec,
};
pub use key::{BieKey, KEY_ENV_VAR, KEY_LEN, KeySource, user_key_path};
