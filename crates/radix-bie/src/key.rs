//! Sealing keys: parsing, fingerprints and the explicit file → env var → per-user file lookup.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::Generate;
use sha2::{Digest, Sha256};

use crate::BieError;

/// Environment variable holding a key as 64 hex characters.
pub const KEY_ENV_VAR: &str = "RADIX_BIE_KEY";

/// Key length in bytes (XChaCha20-Poly1305 uses 256-bit keys).
pub const KEY_LEN: usize = 32;

/// Length of the key fingerprint stored in every BIE file.
pub(crate) const KEY_ID_LEN: usize = 8;

/// Key files are tiny; anything larger is refused before it is read.
const MAX_KEY_FILE_LEN: u64 = 4096;

/// Domain separation for the key fingerprint (never reused for anything else).
const KEY_ID_DOMAIN: &[u8] = b"radix-bie key-id v1\0";

/// A 256-bit sealing key.
///
/// `Debug` prints only the key's fingerprint (see [`BieKey::fingerprint`]), never its bytes.
/// The bytes are overwritten (best effort) when the key is dropped.
#[derive(Clone)]
pub struct BieKey([u8; KEY_LEN]);

/// Where [`BieKey::resolve`] found the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An explicit key file.
    File(PathBuf),
    /// The [`KEY_ENV_VAR`] environment variable.
    Env,
    /// The per-user key file; `created` is true when this call generated it, in which case
    /// the caller should tell the user where it is (once).
    UserFile {
        /// Location of the per-user key file.
        path: PathBuf,
        /// Whether this call created the file.
        created: bool,
    },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "key file {}", path.display()),
            KeySource::Env => write!(f, "environment variable {KEY_ENV_VAR}"),
            KeySource::UserFile {
                path,
                created: true,
            } => write!(f, "new per-user key file {}", path.display()),
            KeySource::UserFile {
                path,
                created: false,
            } => write!(f, "per-user key file {}", path.display()),
        }
    }
}

impl fmt::Debug for BieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BieKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Drop for BieKey {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

impl BieKey {
    /// A key from its 32 raw bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        BieKey(bytes)
    }

    /// A fresh random key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`BieError::Random`] if the operating system's generator fails.
    pub fn generate() -> Result<Self, BieError> {
        let key =
            chacha20poly1305::Key::try_generate().map_err(|e| BieError::Random(e.to_string()))?;
        Ok(BieKey(key.into()))
    }

    /// A key from 64 hex characters (either case; surrounding whitespace is ignored).
    ///
    /// # Errors
    /// [`BieError::BadKey`] if the text is not exactly 64 hex characters. The message never
    /// repeats the text.
    pub fn from_hex(text: &str) -> Result<Self, BieError> {
        let text = text.trim();
        let digits = text.as_bytes();
        if digits.len() != 2 * KEY_LEN {
            return Err(BieError::BadKey(format!(
                "expected {} hex characters, got {}",
                2 * KEY_LEN,
                text.chars().count()
            )));
        }
        let mut bytes = [0u8; KEY_LEN];
        for (i, (byte, pair)) in bytes.iter_mut().zip(digits.chunks_exact(2)).enumerate() {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
                _ => {
                    return Err(BieError::BadKey(format!(
                        "invalid hex character near position {}",
                        2 * i
                    )));
                }
            }
        }
        Ok(BieKey(bytes))
    }

    /// A key from a file holding either exactly 32 raw bytes, or 64 hex characters
    /// (optionally followed by a newline).
    ///
    /// # Errors
    /// [`BieError::Io`] if the file cannot be read, [`BieError::BadKey`] if it holds neither form.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BieError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| BieError::io(path, e))?;
        let mut contents = Vec::new();
        file.take(MAX_KEY_FILE_LEN + 1)
            .read_to_end(&mut contents)
            .map_err(|e| BieError::io(path, e))?;
        let parsed = if contents.len() as u64 > MAX_KEY_FILE_LEN {
            Err(BieError::BadKey(format!(
                "more than {MAX_KEY_FILE_LEN} bytes; a key file holds 32 raw bytes or 64 hex characters"
            )))
        } else {
            Self::from_key_file_contents(&contents)
        };
        contents.fill(0);
        parsed.map_err(|e| match e {
            BieError::BadKey(msg) => {
                BieError::BadKey(format!("key file {}: {msg}", path.display()))
            }
            other => other,
        })
    }

    fn from_key_file_contents(contents: &[u8]) -> Result<Self, BieError> {
        if let Ok(raw) = <[u8; KEY_LEN]>::try_from(contents) {
            if raw.iter().all(u8::is_ascii_hexdigit) {
                // Almost surely a 128-bit hex key typed by hand, not 32 random bytes.
                return Err(BieError::BadKey(format!(
                    "holds {KEY_LEN} hex characters ({} bytes); a key is {} hex characters or {KEY_LEN} raw bytes",
                    KEY_LEN / 2,
                    2 * KEY_LEN
                )));
            }
            return Ok(BieKey(raw));
        }
        let text = std::str::from_utf8(contents).map_err(|_| {
            BieError::BadKey(format!(
                "{} bytes that are neither {KEY_LEN} raw bytes nor {} hex characters",
                contents.len(),
                2 * KEY_LEN
            ))
        })?;
        Self::from_hex(text)
    }

    /// Finds the key to use, in this order:
    /// 1. `explicit`, a key file given by the caller;
    /// 2. the [`KEY_ENV_VAR`] environment variable (64 hex characters), if set and not empty;
    /// 3. the per-user key file ([`user_key_path`]), created with a fresh random key and
    ///    mode 0600 (folder 0700) on first use.
    ///
    /// The returned [`KeySource`] says which one was used; when it is
    /// `KeySource::UserFile { created: true, .. }` the caller should print the path.
    ///
    /// # Errors
    /// [`BieError::BadKey`] for a malformed key (an invalid `RADIX_BIE_KEY` is an error, not a
    /// reason to fall through) or when no per-user folder can be found; [`BieError::Io`] when a
    /// key file cannot be read or created; [`BieError::Random`] if key generation fails.
    pub fn resolve(explicit: Option<&Path>) -> Result<(BieKey, KeySource), BieError> {
        resolve_from(explicit, std::env::var_os(KEY_ENV_VAR), user_key_path())
    }

    /// Short, non-secret fingerprint of the key (16 hex digits), as stored in every BIE file.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        to_hex(&self.id())
    }

    pub(crate) fn id(&self) -> [u8; KEY_ID_LEN] {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(self.0)
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        id
    }

    pub(crate) fn cipher_key(&self) -> chacha20poly1305::Key {
        chacha20poly1305::Key::from(self.0)
    }

    fn to_hex_secret(&self) -> String {
        to_hex(&self.0)
    }
}

/// Location of the per-user key file: `$XDG_CONFIG_HOME/radix/bie.key` when `XDG_CONFIG_HOME`
/// is set to an absolute path, else `$HOME/.config/radix/bie.key`; `None` without either.
#[must_use]
pub fn user_key_path() -> Option<PathBuf> {
    user_key_path_from(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

fn user_key_path_from(
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let config = match xdg_config_home.map(PathBuf::from) {
        // The XDG spec says relative values are invalid and must be ignored.
        Some(dir) if dir.is_absolute() => dir,
        _ => {
            let home = PathBuf::from(home.filter(|h| !h.is_empty())?);
            home.join(".config")
        }
    };
    Some(config.join("radix").join("bie.key"))
}

pub(crate) fn resolve_from(
    explicit: Option<&Path>,
    env_value: Option<OsString>,
    user_path: Option<PathBuf>,
) -> Result<(BieKey, KeySource), BieError> {
    if let Some(path) = explicit {
        return Ok((
            BieKey::from_file(path)?,
            KeySource::File(path.to_path_buf()),
        ));
    }
    if let Some(value) = env_value.filter(|v| !v.is_empty()) {
        let text = value
            .to_str()
            .ok_or_else(|| BieError::BadKey(format!("{KEY_ENV_VAR} is not valid UTF-8")))?;
        let key = BieKey::from_hex(text).map_err(|e| match e {
            BieError::BadKey(msg) => BieError::BadKey(format!("{KEY_ENV_VAR}: {msg}")),
            other => other,
        })?;
        return Ok((key, KeySource::Env));
    }
    let path = user_path.ok_or_else(|| {
        BieError::BadKey(format!(
            "no key given and no per-user folder found (HOME is not set): \
             pass a key file or set {KEY_ENV_VAR}"
        ))
    })?;
    let (key, created) = load_or_create_user_key(&path)?;
    Ok((key, KeySource::UserFile { path, created }))
}

/// Loads the per-user key, or creates it (0600) when it does not exist yet. Two processes
/// racing here end up with the same key: the file is published with a no-clobber hard link.
fn load_or_create_user_key(path: &Path) -> Result<(BieKey, bool), BieError> {
    match BieKey::from_file(path) {
        Ok(key) => return Ok((key, false)),
        Err(BieError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    create_private_dir(dir).map_err(|e| BieError::io(dir, e))?;

    let key = BieKey::generate()?;
    let mut contents = key.to_hex_secret().into_bytes();
    contents.push(b'\n');
    let result = publish_new_file(dir, path, &contents);
    // Best effort: do not leave the key text lying around in this process.
    contents.fill(0);
    std::hint::black_box(&contents);
    match result {
        Ok(true) => {
            crate::file::sync_dir(dir);
            Ok((key, true))
        }
        // Somebody else created it first: use theirs.
        Ok(false) => Ok((BieKey::from_file(path)?, false)),
        Err(e) => Err(BieError::io(path, e)),
    }
}

/// Creates `path` (mode 0600) holding `contents`, never replacing an existing file and never
/// exposing a partly written one. `Ok(false)` when `path` already exists.
fn publish_new_file(dir: &Path, path: &Path, contents: &[u8]) -> io::Result<bool> {
    let suffix = u64::try_generate().map_err(io::Error::other)?;
    let tmp = dir.join(format!(".bie.key.tmp-{suffix:016x}"));
    write_private_file(&tmp, contents)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // No hard links on this filesystem: create the file in place, still no clobbering.
        Err(_) => match write_private_file(path, contents) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        },
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `path` with mode 0600, failing if it exists; removes it again on a write error.
fn write_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // From here on the file is ours: remove it again if it cannot be completed.
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if written.is_err() {
        drop(file);
        let _ = fs::remove_file(path);
    }
    written
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn bytes() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn hex_parsing() {
        assert_eq!(BieKey::from_hex(HEX).unwrap().0, bytes());
        assert_eq!(
            BieKey::from_hex(&format!("  {}\n", HEX.to_uppercase()))
                .unwrap()
                .0,
            bytes()
        );
        for bad in [
            "",
            &HEX[..63],
            &format!("{HEX}0"),
            &format!("{}g", &HEX[..63]),
            "é".repeat(32).as_str(),
        ] {
            assert!(
                matches!(BieKey::from_hex(bad), Err(BieError::BadKey(_))),
                "{bad:?} accepted"
            );
        }
        // Hex round trip.
        assert_eq!(BieKey::from_bytes(bytes()).to_hex_secret(), HEX);
    }

    #[test]
    fn debug_and_errors_never_show_key_bytes() {
        let key = BieKey::from_bytes([0xab; 32]);
        let debug = format!("{key:?}");
        assert!(!debug.contains("abab"), "{debug}");
        assert!(!debug.contains("171"), "{debug}");
        assert!(debug.contains(&key.fingerprint()));
        let secret = "c".repeat(63) + "x";
        let err = BieKey::from_hex(&secret).unwrap_err().to_string();
        assert!(!err.contains("ccc"), "{err}");
    }

    #[test]
    fn fingerprint_depends_on_key() {
        let a = BieKey::from_bytes([1; 32]);
        let b = BieKey::from_bytes([2; 32]);
        assert_eq!(a.fingerprint().len(), 16);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
    }

    #[test]
    fn key_file_forms() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let mut raw = bytes();
        raw[0] = 0xff; // not all hex digits
        fs::write(&p, raw).unwrap();
        assert_eq!(BieKey::from_file(&p).unwrap().0, raw);
        for text in [HEX.to_string(), format!("{HEX}\n"), format!("{HEX}\r\n")] {
            fs::write(&p, text).unwrap();
            assert_eq!(BieKey::from_file(&p).unwrap().0, bytes());
        }
        for bad in [
            &b""[..],
            &[0u8; 31][..],
            &[0u8; 33][..],
            &HEX.as_bytes()[..32],
            &[0xffu8; 64][..],
            &[b'a'; 5000][..],
        ] {
            fs::write(&p, bad).unwrap();
            let err = BieKey::from_file(&p).unwrap_err();
            assert!(
                matches!(err, BieError::BadKey(ref m) if m.contains("key file")),
                "{err}"
            );
        }
        let missing = dir.path().join("missing");
        assert!(matches!(
            BieKey::from_file(&missing),
            Err(BieError::Io { path, .. }) if path == missing
        ));
    }

    #[test]
    fn user_key_path_rules() {
        let p = |x: Option<&str>, h: Option<&str>| {
            user_key_path_from(x.map(OsString::from), h.map(OsString::from))
        };
        assert_eq!(
            p(Some("/x"), Some("/h")),
            Some(PathBuf::from("/x/radix/bie.key"))
        );
        assert_eq!(
            p(Some("rel"), Some("/h")),
            Some(PathBuf::from("/h/.config/radix/bie.key"))
        );
        assert_eq!(
            p(None, Some("/h")),
            Some(PathBuf::from("/h/.config/radix/bie.key"))
        );
        assert_eq!(p(None, None), None);
        assert_eq!(p(Some(""), Some("")), None);
    }

    #[test]
    fn resolve_order_and_user_file_creation() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("cfg").join("radix").join("bie.key");
        let explicit = dir.path().join("explicit.key");
        fs::write(&explicit, format!("{HEX}\n")).unwrap();

        // Explicit file wins over everything.
        let (k, src) = resolve_from(
            Some(&explicit),
            Some(OsString::from("ff".repeat(32))),
            Some(user.clone()),
        )
        .unwrap();
        assert_eq!(k.0, bytes());
        assert_eq!(src, KeySource::File(explicit.clone()));

        // Then the env var.
        let (k, src) = resolve_from(
            None,
            Some(OsString::from("ff".repeat(32))),
            Some(user.clone()),
        )
        .unwrap();
        assert_eq!(k.0, [0xff; 32]);
        assert_eq!(src, KeySource::Env);

        // An invalid env var is an error, not a silent fall-through.
        let err = resolve_from(None, Some(OsString::from("zz")), Some(user.clone())).unwrap_err();
        assert!(
            matches!(err, BieError::BadKey(ref m) if m.contains(KEY_ENV_VAR)),
            "{err}"
        );
        assert!(!user.exists());

        // Then the per-user file, created on first use...
        let (k1, src) = resolve_from(None, Some(OsString::new()), Some(user.clone())).unwrap();
        assert_eq!(
            src,
            KeySource::UserFile {
                path: user.clone(),
                created: true
            }
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&user).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(user.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dir_mode, 0o700);
        }
        let text = fs::read_to_string(&user).unwrap();
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        // ...no temp file left behind...
        let names: Vec<_> = fs::read_dir(user.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("bie.key")]);
        // ...and reused afterwards.
        let (k2, src) = resolve_from(None, None, Some(user.clone())).unwrap();
        assert_eq!(
            src,
            KeySource::UserFile {
                path: user.clone(),
                created: false
            }
        );
        assert_eq!(k1.0, k2.0);
        assert!(src.to_string().contains("bie.key"));

        // A corrupt per-user file is reported, never silently replaced.
        fs::write(&user, "nonsense").unwrap();
        assert!(matches!(
            resolve_from(None, None, Some(user.clone())),
            Err(BieError::BadKey(_))
        ));
        assert_eq!(fs::read_to_string(&user).unwrap(), "nonsense");

        // No key anywhere.
        assert!(matches!(
            resolve_from(None, None, None),
            Err(BieError::BadKey(_))
        ));
    }

    #[test]
    fn generated_keys_differ() {
        let a = BieKey::generate().unwrap();
        let b = BieKey::generate().unwrap();
        assert_ne!(a.0, b.0);
    }
}
