//! The clear header's encoding: fixed-width little-endian integers and length-prefixed UTF-8
//! strings, every length checked before it is used (`FORMAT.md`).

use crate::BieError;
use crate::format::{BieHeader, MAX_HEADER_LEN};

/// Header encoding (format version 2), all integers little-endian:
/// `platform: u32`, `payload_schema: u32`, then `toolchain_version`, `model_name`, `options_json`, each as
/// `len: u32` + UTF-8 bytes, then `source_sha256: [u8; 32]`.
pub(crate) fn encode_header(header: &BieHeader) -> Result<Vec<u8>, BieError> {
    let strings = [
        &header.toolchain_version,
        &header.model_name,
        &header.options_json,
    ];
    let len = strings
        .iter()
        .fold(4 + 4 + 32, |acc: usize, s| acc.saturating_add(4 + s.len()));
    if len > MAX_HEADER_LEN {
        return Err(BieError::HeaderTooLarge {
            len,
            max: MAX_HEADER_LEN,
        });
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&header.platform.to_le_bytes());
    out.extend_from_slice(&header.payload_schema.to_le_bytes());
    for s in strings {
        // Fits: the total is at most MAX_HEADER_LEN.
        let n = u32::try_from(s.len()).map_err(|_| BieError::HeaderTooLarge {
            len,
            max: MAX_HEADER_LEN,
        })?;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&header.source_sha256);
    Ok(out)
}

pub(crate) fn decode_header(bytes: &[u8]) -> Result<BieHeader, BieError> {
    let mut r = HeaderReader { bytes, pos: 0 };
    let platform = u32::from_le_bytes(r.array("platform")?);
    let payload_schema = u32::from_le_bytes(r.array("payload_schema")?);
    let toolchain_version = r.string("toolchain_version")?;
    let model_name = r.string("model_name")?;
    let options_json = r.string("options_json")?;
    let source_sha256 = r.array("source_sha256")?;
    if r.pos != bytes.len() {
        return Err(BieError::HeaderDecode(format!(
            "{} unexpected bytes after the header fields",
            bytes.len() - r.pos
        )));
    }
    Ok(BieHeader {
        platform,
        payload_schema,
        toolchain_version,
        model_name,
        options_json,
        source_sha256,
    })
}

struct HeaderReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> HeaderReader<'a> {
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], BieError> {
        let rest = self.bytes.len() - self.pos.min(self.bytes.len());
        let end = self.pos.checked_add(n).filter(|_| n <= rest);
        let slice = end
            .and_then(|end| self.bytes.get(self.pos..end))
            .ok_or_else(|| {
                BieError::HeaderDecode(format!(
                    "field {field} needs {n} bytes but only {rest} are left"
                ))
            })?;
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], BieError> {
        let slice = self.take(N, field)?;
        <[u8; N]>::try_from(slice)
            .map_err(|_| BieError::HeaderDecode(format!("field {field} is malformed")))
    }

    fn string(&mut self, field: &str) -> Result<String, BieError> {
        let len = u32::from_le_bytes(self.array(field)?);
        let len = usize::try_from(len)
            .map_err(|_| BieError::HeaderDecode(format!("field {field} is too long")))?;
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| BieError::HeaderDecode(format!("field {field} is not valid UTF-8")))
    }
}
