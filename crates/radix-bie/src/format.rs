//! The byte layout: framing, the clear header, sealing and opening. Everything here works on
//! byte slices; `file.rs` adds the file system, `header.rs` the clear header's encoding.

use bincode::config;
use chacha20poly1305::aead::{AeadInOut, Generate, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::BieError;
use crate::header::{decode_header, encode_header};
use crate::key::{BieKey, KEY_ID_LEN, to_hex};

/// First eight bytes of every BIE file.
pub const MAGIC: [u8; 8] = *b"RADIXBIE";

/// Container format version written by this build, and the only one it reads. Version 2 added
/// `payload_schema` to the header.
pub const FORMAT_VERSION: u16 = 2;

/// Largest clear header accepted (and written): 1 MiB.
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// XChaCha20 nonce length.
pub const NONCE_LEN: usize = 24;

/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;

/// magic (8) + version (2) + header length (4).
const FIXED_LEN: usize = MAGIC.len() + 2 + 4;
/// key id (8) + nonce (24) + ciphertext length (8), between the header and the ciphertext.
const TRAILER_LEN: usize = KEY_ID_LEN + NONCE_LEN + 8;
/// A BIE file with an empty header and an empty payload.
pub(crate) const MIN_FILE_LEN: usize = FIXED_LEN + TRAILER_LEN + TAG_LEN;

/// The clear (unencrypted but authenticated) part of a BIE file: readable without the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct BieHeader {
    /// Kneron platform id (e.g. 720).
    pub platform: u32,
    /// Schema version of the payload's serialized layout (the container cannot see inside
    /// it): written as given, and a reader that expects another version refuses the file with
    /// [`BieError::SchemaMismatch`] before decoding the payload.
    pub payload_schema: u32,
    /// Version of the toolchain that wrote the file.
    pub toolchain_version: String,
    /// Model name.
    pub model_name: String,
    /// Options the model was quantized with, as JSON.
    pub options_json: String,
    /// SHA-256 of the source ONNX file.
    pub source_sha256: [u8; 32],
}

/// Offsets of a BIE file's parts, after its framing was checked against its total size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    header_len: usize,
    /// Offset of the first ciphertext byte; everything before it is associated data.
    prefix_end: usize,
}

impl Frame {
    fn header_bytes(self, data: &[u8]) -> Result<&[u8], BieError> {
        range(data, FIXED_LEN, self.header_len)
    }

    fn key_id(self, data: &[u8]) -> Result<[u8; KEY_ID_LEN], BieError> {
        array(data, FIXED_LEN + self.header_len)
    }

    fn nonce(self, data: &[u8]) -> Result<[u8; NONCE_LEN], BieError> {
        array(data, FIXED_LEN + self.header_len + KEY_ID_LEN)
    }
}

/// Result of looking at (a prefix of) a file.
pub(crate) enum Parsed {
    /// The framing is complete and consistent with the total size.
    Frame(Frame),
    /// The first `n` bytes are needed to go on (the file has at least that many).
    NeedMore(usize),
}

/// Checks the framing of a file of `total` bytes whose first bytes are `data`.
///
/// Every length field is checked against `total` before anything relies on it; nothing is
/// allocated here. Returns `NeedMore(n)` only when `data` is shorter than `n <= total`, which
/// never happens when `data` is the whole file.
pub(crate) fn parse_frame(data: &[u8], total: u64) -> Result<Parsed, BieError> {
    // `Ok(true)`: the first `n` bytes are in `data`; `Ok(false)`: they are in the file only.
    let have = |n: usize| -> Result<bool, BieError> {
        if total < n as u64 {
            return Err(BieError::Truncated {
                expected: n as u64,
                got: total,
            });
        }
        Ok(data.len() >= n)
    };

    let shown = data.len().min(MAGIC.len());
    if data.get(..shown) != MAGIC.get(..shown) {
        return Err(BieError::NotABie);
    }
    if !have(MAGIC.len())? {
        return Ok(Parsed::NeedMore(FIXED_LEN));
    }
    if !have(MAGIC.len() + 2)? {
        return Ok(Parsed::NeedMore(FIXED_LEN));
    }
    let version = u16::from_le_bytes(array(data, MAGIC.len())?);
    if version != FORMAT_VERSION {
        return Err(BieError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if !have(FIXED_LEN)? {
        return Ok(Parsed::NeedMore(FIXED_LEN));
    }
    let header_len = u32::from_le_bytes(array(data, MAGIC.len() + 2)?);
    let header_len = usize::try_from(header_len)
        .ok()
        .filter(|&n| n <= MAX_HEADER_LEN)
        .ok_or_else(|| {
            BieError::HeaderDecode(format!(
                "header length {header_len} exceeds the limit of {MAX_HEADER_LEN} bytes"
            ))
        })?;
    let prefix_end = FIXED_LEN + header_len + TRAILER_LEN;
    if !have(prefix_end)? {
        return Ok(Parsed::NeedMore(prefix_end));
    }
    let ct_len = u64::from_le_bytes(array(data, prefix_end - 8)?);
    let expected = (prefix_end as u64).saturating_add(ct_len);
    if total < expected {
        return Err(BieError::Truncated {
            expected,
            got: total,
        });
    }
    if total > expected {
        return Err(BieError::TrailingData {
            expected,
            got: total,
        });
    }
    Ok(Parsed::Frame(Frame {
        header_len,
        prefix_end,
    }))
}

/// Framing of a complete file held in memory.
fn parse_whole(data: &[u8]) -> Result<Frame, BieError> {
    match parse_frame(data, data.len() as u64)? {
        Parsed::Frame(frame) => Ok(frame),
        // Cannot happen for a whole file; reported as what it would mean.
        Parsed::NeedMore(n) => Err(BieError::Truncated {
            expected: n as u64,
            got: data.len() as u64,
        }),
    }
}

/// Reads the clear header of a complete BIE file held in memory. No key is needed, and so the
/// header is *not* authenticated by this call: only opening the file with its key is.
///
/// # Errors
/// The framing errors of [`open_from_slice`] ([`BieError::NotABie`],
/// [`BieError::UnsupportedVersion`], [`BieError::Truncated`], [`BieError::TrailingData`]) and
/// [`BieError::HeaderDecode`].
pub fn read_header_from_slice(data: &[u8]) -> Result<BieHeader, BieError> {
    let frame = parse_whole(data)?;
    decode_header(frame.header_bytes(data)?)
}

pub(crate) fn header_from_prefix(prefix: &[u8], frame: Frame) -> Result<BieHeader, BieError> {
    decode_header(frame.header_bytes(prefix)?)
}

/// Seals `payload` (serialized with bincode 2, standard configuration) under `header` and `key`,
/// with a fresh random nonce, and returns the complete BIE file.
///
/// # Errors
/// [`BieError::HeaderTooLarge`], [`BieError::PayloadEncode`], [`BieError::Random`].
pub fn seal_to_vec<T: Serialize + ?Sized>(
    header: &BieHeader,
    payload: &T,
    key: &BieKey,
) -> Result<Vec<u8>, BieError> {
    seal_payload(header, payload, key, None)
}

/// As [`seal_to_vec`], also returning the SHA-256 of the plaintext payload (what
/// [`payload_digest`] gives for `payload`).
pub(crate) fn seal_with_digest<T: Serialize + ?Sized>(
    header: &BieHeader,
    payload: &T,
    key: &BieKey,
) -> Result<(Vec<u8>, [u8; 32]), BieError> {
    let mut digest = [0; 32];
    let file = seal_payload(header, payload, key, Some(&mut digest))?;
    Ok((file, digest))
}

fn seal_payload<T: Serialize + ?Sized>(
    header: &BieHeader,
    payload: &T,
    key: &BieKey,
    digest: Option<&mut [u8; 32]>,
) -> Result<Vec<u8>, BieError> {
    seal_with(header, key, digest, |out| {
        bincode::serde::encode_into_std_write(payload, out, config::standard())
            .map(drop)
            .map_err(|e| BieError::PayloadEncode(e.to_string()))
    })
}

/// SHA-256 of the bincode encoding of `payload`, computed without holding the encoding.
pub(crate) fn payload_digest<T: Serialize + ?Sized>(payload: &T) -> Result<[u8; 32], BieError> {
    let mut hasher = Sha256::new();
    bincode::serde::encode_into_std_write(payload, &mut hasher, config::standard())
        .map_err(|e| BieError::PayloadEncode(e.to_string()))?;
    Ok(hasher.finalize().into())
}

/// Seals arbitrary bytes as the payload. Only for fuzzing and tests: lets them reach the
/// payload decoder behind the authentication.
///
/// # Errors
/// As [`seal_to_vec`].
#[cfg(any(test, feature = "fuzzing"))]
pub fn seal_raw_payload_to_vec(
    header: &BieHeader,
    raw_payload: &[u8],
    key: &BieKey,
) -> Result<Vec<u8>, BieError> {
    seal_with(header, key, None, |out| {
        out.extend_from_slice(raw_payload);
        Ok(())
    })
}

/// Builds the file around the payload `write_payload` appends; stores the SHA-256 of the
/// plaintext payload in `digest` when given.
fn seal_with(
    header: &BieHeader,
    key: &BieKey,
    digest: Option<&mut [u8; 32]>,
    write_payload: impl FnOnce(&mut Vec<u8>) -> Result<(), BieError>,
) -> Result<Vec<u8>, BieError> {
    let header_bytes = encode_header(header)?;
    let header_len = u32::try_from(header_bytes.len()).map_err(|_| BieError::HeaderTooLarge {
        len: header_bytes.len(),
        max: MAX_HEADER_LEN,
    })?;
    let nonce = XNonce::try_generate().map_err(|e| BieError::Random(e.to_string()))?;

    let mut out = Vec::with_capacity(FIXED_LEN + header_bytes.len() + TRAILER_LEN + 4096);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(&key.id());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&[0; 8]); // ciphertext length, filled in below
    let prefix_end = out.len();

    write_payload(&mut out)?;
    let plain_len = out.len() - prefix_end;
    let ct_len = (plain_len as u64)
        .checked_add(TAG_LEN as u64)
        .ok_or_else(|| BieError::PayloadEncode("payload too large".into()))?;
    let (aad, body) = out.split_at_mut(prefix_end);
    if let Some(digest) = digest {
        *digest = Sha256::digest(&*body).into();
    }
    if let Some(field) = aad.get_mut(prefix_end - 8..) {
        field.copy_from_slice(&ct_len.to_le_bytes());
    }
    let tag = XChaCha20Poly1305::new(&key.cipher_key())
        .encrypt_inout_detached(&nonce, aad, body.into())
        .map_err(|_| BieError::PayloadEncode("payload too large to seal".into()))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens a complete BIE file held in memory: checks its framing, its key fingerprint and its
/// authentication tag, then decodes the header and the payload.
///
/// # Errors
/// [`BieError::NotABie`], [`BieError::UnsupportedVersion`], [`BieError::Truncated`],
/// [`BieError::TrailingData`], [`BieError::WrongKey`], [`BieError::AuthenticationFailed`],
/// [`BieError::HeaderDecode`], [`BieError::SchemaMismatch`] (the header's `payload_schema` is
/// not `schema`), [`BieError::PayloadDecode`].
pub fn open_from_slice<T: DeserializeOwned>(
    data: &[u8],
    key: &BieKey,
    schema: u32,
) -> Result<(BieHeader, T), BieError> {
    let frame = parse_whole(data)?;
    // Cheap rejections before copying the ciphertext.
    check_key_id(data, frame, key)?;
    open_in_place(&mut data.to_vec(), frame, key, schema)
}

/// As [`open_from_slice`], decrypting in place (no copy of the file).
pub(crate) fn open_owned<T: DeserializeOwned>(
    mut data: Vec<u8>,
    key: &BieKey,
    schema: u32,
) -> Result<(BieHeader, T), BieError> {
    let frame = parse_whole(&data)?;
    open_in_place(&mut data, frame, key, schema)
}

fn check_key_id(data: &[u8], frame: Frame, key: &BieKey) -> Result<(), BieError> {
    let file_id = frame.key_id(data)?;
    let given_id = key.id();
    if file_id != given_id {
        return Err(BieError::WrongKey {
            file_key_id: to_hex(&file_id),
            given_key_id: to_hex(&given_id),
        });
    }
    Ok(())
}

fn open_in_place<T: DeserializeOwned>(
    data: &mut [u8],
    frame: Frame,
    key: &BieKey,
    schema: u32,
) -> Result<(BieHeader, T), BieError> {
    check_key_id(data, frame, key)?;
    let nonce = XNonce::from(frame.nonce(data)?);
    let (aad, body) = data
        .split_at_mut_checked(frame.prefix_end)
        .ok_or(BieError::AuthenticationFailed)?;
    let ct_len = body
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(BieError::AuthenticationFailed)?;
    let (ciphertext, tag) = body.split_at_mut(ct_len);
    let tag = Tag::try_from(&*tag).map_err(|_| BieError::AuthenticationFailed)?;
    XChaCha20Poly1305::new(&key.cipher_key())
        .decrypt_inout_detached(&nonce, aad, ciphertext.into(), &tag)
        .map_err(|_| BieError::AuthenticationFailed)?;
    let header = decode_header(frame.header_bytes(aad)?)?;
    if header.payload_schema != schema {
        return Err(BieError::SchemaMismatch {
            found: header.payload_schema,
            expected: schema,
            toolchain: header.toolchain_version,
        });
    }
    let payload = decode_payload(ciphertext)?;
    Ok((header, payload))
}

/// Most bytes bincode's decoder *claims* per byte of payload it consumes.
///
/// bincode 2 (standard configuration, serde) counts, against its decode limit, the in-memory
/// width of every primitive it decodes and the claimed length of every string or byte buffer,
/// *before* reading it; collections and structs add nothing of their own. Each claim comes
/// with at least one consumed byte, and the worst ratio is a 1-byte varint decoded as a
/// 16-byte `u128`/`i128` (8 for `u64`/`i64`/`usize` and every sequence, string or map
/// length, 4 for `u32`/`i32`/enum variant indexes, 1 for `f32`, `f64`, `u8`, `bool`, option
/// tags, `char`s and string bytes). So a payload of `n` bytes that `encode` produced claims at
/// most `16 n` in total, whatever its type. See `FORMAT.md`, "Decode limit".
pub(crate) const MAX_CLAIM_PER_BYTE: usize = 16;

/// Smallest decode limit used (for payloads up to 64 KiB).
const MIN_DECODE_LIMIT: usize = 1 << 20;

/// `2^k`, or `isize::MAX` when that does not fit (no allocation can be larger anyway).
const fn bucket(k: u32) -> usize {
    if k < usize::BITS - 1 {
        1 << k
    } else {
        isize::MAX as usize
    }
}

/// bincode takes its limit as a const generic, so the limit is picked from fixed buckets, the
/// powers of 4 from 1 MiB to 2^62 (each bucket instantiates the decoder for `T` once).
macro_rules! limit_buckets {
    ($($k:literal)*) => {
        /// The decode limit for a payload of `n` bytes: the smallest bucket holding
        /// `MAX_CLAIM_PER_BYTE * n` and at least 1 MiB: `16 n <= limit`, and
        /// `limit < 64 n` above 64 KiB (`limit = 1 MiB` up to 64 KiB).
        pub(crate) fn decode_limit(n: usize) -> usize {
            let need = n.saturating_mul(MAX_CLAIM_PER_BYTE).max(MIN_DECODE_LIMIT);
            $(
                if need <= bucket($k) {
                    return bucket($k);
                }
            )*
            isize::MAX as usize
        }

        fn decode_with_limit<T: DeserializeOwned>(
            bytes: &[u8],
            limit: usize,
        ) -> Result<(T, usize), bincode::error::DecodeError> {
            use bincode::serde::decode_from_slice;
            let std = config::standard();
            $(
                if limit == bucket($k) {
                    return decode_from_slice(bytes, std.with_limit::<{ bucket($k) }>());
                }
            )*
            decode_from_slice(bytes, std.with_limit::<{ isize::MAX as usize }>())
        }
    };
}

limit_buckets!(20 22 24 26 28 30 32 34 36 38 40 42 44 46 48 50 52 54 56 58 60 62);

/// Decodes the bincode payload. Although the payload is authenticated, bincode's length
/// prefixes inside it are still not trusted to size allocations: the decoder runs with the
/// limit [`decode_limit`] of the payload size, which no genuine payload can reach (see
/// [`MAX_CLAIM_PER_BYTE`]), and which stops a forged string or byte-buffer length before it
/// allocates more than 64 times the payload size (1 MiB for payloads up to 64 KiB).
fn decode_payload<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BieError> {
    let n = bytes.len();
    let (value, used) = decode_with_limit(bytes, decode_limit(n))
        .map_err(|e| BieError::PayloadDecode(e.to_string()))?;
    if used != n {
        return Err(BieError::PayloadDecode(format!(
            "{} unexpected bytes after the payload",
            n - used
        )));
    }
    Ok(value)
}

fn range(data: &[u8], start: usize, len: usize) -> Result<&[u8], BieError> {
    start
        .checked_add(len)
        .and_then(|end| data.get(start..end))
        .ok_or(BieError::Truncated {
            expected: start.saturating_add(len) as u64,
            got: data.len() as u64,
        })
}

fn array<const N: usize>(data: &[u8], start: usize) -> Result<[u8; N], BieError> {
    let slice = range(data, start, N)?;
    <[u8; N]>::try_from(slice).map_err(|_| BieError::Truncated {
        expected: (start + N) as u64,
        got: data.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: u32 = 5;

    fn header() -> BieHeader {
        BieHeader {
            platform: 720,
            payload_schema: SCHEMA,
            toolchain_version: "radix 0.1.0".into(),
            model_name: "tiny".into(),
            options_json: r#"{"mode":"int8"}"#.into(),
            source_sha256: [7; 32],
        }
    }

    fn key() -> BieKey {
        BieKey::from_bytes([42; 32])
    }

    #[test]
    fn header_encoding_round_trip_and_layout() {
        let h = header();
        let bytes = encode_header(&h).unwrap();
        assert_eq!(bytes.len(), 4 + 4 + 4 + 11 + 4 + 4 + 4 + 15 + 32);
        assert_eq!(&bytes[..4], &720u32.to_le_bytes());
        assert_eq!(&bytes[4..8], &SCHEMA.to_le_bytes());
        assert_eq!(decode_header(&bytes).unwrap(), h);
        assert_eq!(
            decode_header(&encode_header(&BieHeader::default()).unwrap()).unwrap(),
            BieHeader::default()
        );
    }

    #[test]
    fn header_decoding_rejects_malformed_bytes() {
        let bytes = encode_header(&header()).unwrap();
        // Every strict prefix is too short.
        for n in 0..bytes.len() {
            assert!(
                matches!(decode_header(&bytes[..n]), Err(BieError::HeaderDecode(_))),
                "prefix {n}"
            );
        }
        // Extra bytes.
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode_header(&long),
            Err(BieError::HeaderDecode(_))
        ));
        // Huge string length.
        let mut huge = bytes.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_header(&huge),
            Err(BieError::HeaderDecode(_))
        ));
        // Invalid UTF-8 in model_name.
        let mut bad = bytes.clone();
        bad[4 + 4 + 4 + 11 + 4] = 0xff;
        assert!(
            matches!(decode_header(&bad), Err(BieError::HeaderDecode(m)) if m.contains("UTF-8"))
        );
    }

    #[test]
    fn oversized_header_is_refused_on_write() {
        let mut h = header();
        h.options_json = "x".repeat(MAX_HEADER_LEN);
        assert!(matches!(
            seal_to_vec(&h, &1u8, &key()),
            Err(BieError::HeaderTooLarge { .. })
        ));
    }

    #[test]
    fn oversized_header_length_field_is_refused_on_read() {
        let mut file = seal_to_vec(&header(), &1u8, &key()).unwrap();
        file[10..14].copy_from_slice(&(MAX_HEADER_LEN as u32 + 1).to_le_bytes());
        assert!(matches!(
            read_header_from_slice(&file),
            Err(BieError::HeaderDecode(m)) if m.contains("limit")
        ));
    }

    #[test]
    fn layout_offsets() {
        let k = key();
        let file = seal_to_vec(&header(), &(), &k).unwrap();
        let h = encode_header(&header()).unwrap();
        // () encodes to nothing: the ciphertext is the tag alone.
        assert_eq!(file.len(), MIN_FILE_LEN + h.len());
        assert_eq!(&file[..8], b"RADIXBIE");
        assert_eq!(&file[8..10], &2u16.to_le_bytes());
        assert_eq!(&file[10..14], &(h.len() as u32).to_le_bytes());
        assert_eq!(&file[14..14 + h.len()], &h[..]);
        let p = 14 + h.len();
        assert_eq!(&file[p..p + 8], &k.id());
        assert_eq!(&file[p + 32..p + 40], &16u64.to_le_bytes());
        let (hh, ()) = open_from_slice(&file, &k, SCHEMA).unwrap();
        assert_eq!(hh, header());
    }

    #[test]
    fn hostile_length_inside_authenticated_payload_does_not_allocate() {
        // A string claiming 2^50 bytes (bincode varint: 253 = u64 follows).
        let mut raw = vec![253u8];
        raw.extend_from_slice(&(1u64 << 50).to_le_bytes());
        raw.extend_from_slice(b"abc");
        let file = seal_raw_payload_to_vec(&header(), &raw, &key()).unwrap();
        let r = open_from_slice::<String>(&file, &key(), SCHEMA);
        assert!(matches!(r, Err(BieError::PayloadDecode(_))), "{r:?}");
        // Same for a Vec<i8> (serde sequence) and a byte buffer inside a struct.
        let r = open_from_slice::<Vec<i8>>(&file, &key(), SCHEMA);
        assert!(matches!(r, Err(BieError::PayloadDecode(_))), "{r:?}");
        let r = open_from_slice::<(String, Vec<u8>)>(&file, &key(), SCHEMA);
        assert!(matches!(r, Err(BieError::PayloadDecode(_))), "{r:?}");
    }

    #[test]
    fn payload_type_mismatch_and_trailing_bytes() {
        let k = key();
        let file = seal_to_vec(&header(), &5u8, &k).unwrap();
        assert!(matches!(
            open_from_slice::<(u64, u64)>(&file, &k, SCHEMA),
            Err(BieError::PayloadDecode(_))
        ));
        let file = seal_to_vec(&header(), &(1u32, 2u32), &k).unwrap();
        assert!(matches!(
            open_from_slice::<u32>(&file, &k, SCHEMA),
            Err(BieError::PayloadDecode(m)) if m.contains("unexpected bytes")
        ));
        assert_eq!(
            open_from_slice::<(u32, u32)>(&file, &k, SCHEMA).unwrap().1,
            (1, 2)
        );
    }

    #[test]
    fn payload_decoding_in_each_limit_bucket() {
        // Payloads around the bucket edges decode fine (the limit never bites valid data).
        for n in [0usize, 1000, (1 << 20) - 8, (1 << 20) + 10, 3 << 20] {
            let v: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let bytes = bincode::serde::encode_to_vec(&v, config::standard()).unwrap();
            let back: Vec<u8> = decode_payload(&bytes).unwrap();
            assert_eq!(back, v);
            let s = String::from_utf8(vec![b'x'; n]).unwrap();
            let bytes = bincode::serde::encode_to_vec(&s, config::standard()).unwrap();
            let back: String = decode_payload(&bytes).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn decode_limit_is_at_least_16x_and_less_than_64x_the_payload() {
        const MIB: usize = 1 << 20;
        let cases = [
            (0, MIB),
            (1, MIB),
            (MIB / 16, MIB),
            (MIB / 16 + 1, 4 * MIB),
            (MIB - 1, 16 * MIB),
            (MIB, 16 * MIB),
            (MIB + 1, 64 * MIB),
            (16 * MIB - 1, 256 * MIB),
            (16 * MIB, 256 * MIB),
            (16 * MIB + 1, 1024 * MIB),
            (256 * MIB - 1, 4096 * MIB),
            (256 * MIB, 4096 * MIB),
            (256 * MIB + 1, 16384 * MIB),
            (usize::MAX, isize::MAX as usize),
        ];
        for (n, limit) in cases {
            assert_eq!(decode_limit(n), limit, "payload of {n} bytes");
        }
        // Every bucket edge, and a sweep in between.
        let mut sizes: Vec<usize> = (2..60)
            .flat_map(|k| [(1usize << k) - 1, 1 << k, (1 << k) + 1])
            .collect();
        sizes.extend((1..10_000).map(|i| i * 7919 * 31));
        for n in sizes {
            let limit = decode_limit(n);
            // Claims above `isize::MAX` cannot be allocated: the top bucket is that.
            let need = n
                .saturating_mul(MAX_CLAIM_PER_BYTE)
                .min(isize::MAX as usize);
            assert!(limit >= need, "{n}: {limit}");
            assert!(limit >= MIN_DECODE_LIMIT, "{n}: {limit}");
            if n > MIN_DECODE_LIMIT / MAX_CLAIM_PER_BYTE && n < 1 << 56 {
                assert!(limit < 64 * n, "{n}: {limit}");
            }
            assert!(limit.is_power_of_two() || limit == isize::MAX as usize);
        }
    }

    /// A string whose length prefix claims `len` bytes, in a payload of `n` bytes.
    fn forged_string(len: u64, n: usize) -> Vec<u8> {
        let mut raw = vec![253u8];
        raw.extend_from_slice(&len.to_le_bytes());
        raw.resize(n.max(raw.len()), b'x');
        raw
    }

    #[test]
    fn forged_lengths_beyond_the_limit_are_refused_before_allocating() {
        const MIB: usize = 1 << 20;
        for n in [20, MIB - 1, MIB, MIB + 1, 16 * MIB + 1] {
            let limit = decode_limit(n) as u64;
            for len in [limit - 7, limit, u64::MAX / 2, u64::MAX] {
                let file =
                    seal_raw_payload_to_vec(&header(), &forged_string(len, n), &key()).unwrap();
                let r = open_from_slice::<String>(&file, &key(), SCHEMA);
                assert!(
                    matches!(&r, Err(BieError::PayloadDecode(m)) if m.contains("LimitExceeded")),
                    "{n} bytes claiming {len}: {r:?}"
                );
            }
        }
    }

    #[test]
    fn u128_payloads_at_the_claim_ratio_bound_decode() {
        // 1-byte varints claimed as 16 bytes: the worst case, just under the limit.
        const MIB: usize = 1 << 20;
        let v = vec![0u128; MIB - 5]; // 5-byte length + 1 byte each = 1 MiB
        let bytes = bincode::serde::encode_to_vec(&v, config::standard()).unwrap();
        assert_eq!(bytes.len(), MIB);
        assert!(8 + 16 * v.len() > decode_limit(MIB) - 100);
        let back: Vec<u128> = decode_payload(&bytes).unwrap();
        assert_eq!(back, v);
        // And the smallest payload for which the old 1 MiB bucket was already too small.
        let v = vec![0u64; MIB / 8];
        let bytes = bincode::serde::encode_to_vec(&v, config::standard()).unwrap();
        assert!(bytes.len() < MIB);
        let back: Vec<u64> = decode_payload(&bytes).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn short_prefixes_of_the_magic_are_truncated_others_not_a_bie() {
        for n in 0..8 {
            assert!(matches!(
                read_header_from_slice(&MAGIC[..n]),
                Err(BieError::Truncated { expected: 8, got }) if got == n as u64
            ));
        }
        assert!(matches!(
            read_header_from_slice(b"RADIXBIF"),
            Err(BieError::NotABie)
        ));
        assert!(matches!(
            read_header_from_slice(b"x"),
            Err(BieError::NotABie)
        ));
    }
}
