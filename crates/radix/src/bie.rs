//! BIE files of quantized models: the container of `radix-bie` holding a [`QuantModel`] under
//! its schema version ([`SCHEMA_VERSION`]). A BIE written by a radix whose model layout differs
//! is refused with [`radix_bie::BieError::SchemaMismatch`], naming both versions.

use std::path::Path;

use radix_bie::{BieHeader, BieKey};
use radix_ir::qmodel::QuantModel;
pub use radix_ir::qmodel::SCHEMA_VERSION;

use crate::Result;

/// The header of a BIE for `model` (platform and schema from the model, this radix's version).
pub fn header(
    model: &QuantModel,
    name: &str,
    options_json: String,
    source_sha256: [u8; 32],
) -> BieHeader {
    BieHeader {
        platform: model.platform,
        payload_schema: SCHEMA_VERSION,
        toolchain_version: format!("radix {}", env!("CARGO_PKG_VERSION")),
        model_name: name.to_string(),
        options_json,
        source_sha256,
    }
}

/// Seals `model` into a BIE file at `path`, reads it back and verifies it before it replaces
/// anything (see [`radix_bie::write_bie`]). The model is stored as given: call
/// [`QuantModel::drop_mac_float_weights`] first for a compact file (as `analysis` does;
/// [`read`] restores them from the integer weights). `header.payload_schema` must be [`SCHEMA_VERSION`]
/// (as [`header`] makes it).
pub fn write(path: &Path, header: &BieHeader, model: &QuantModel, key: &BieKey) -> Result<()> {
    check_schema(header)?;
    Ok(radix_bie::write_bie(path, header, model, key)?)
}

/// Reads the BIE file at `path`; the float weights a BIE leaves out are restored from the
/// integer kernels ([`QuantModel::restore_mac_float_weights`]).
pub fn read(path: &Path, key: &BieKey) -> Result<(BieHeader, QuantModel)> {
    let (header, mut model): (BieHeader, QuantModel) =
        radix_bie::read_bie(path, key, SCHEMA_VERSION)?;
    model.restore_mac_float_weights();
    Ok((header, model))
}

/// Seals `model` into BIE bytes in memory.
pub fn seal(header: &BieHeader, model: &QuantModel, key: &BieKey) -> Result<Vec<u8>> {
    check_schema(header)?;
    Ok(radix_bie::seal_to_vec(header, model, key)?)
}

/// Opens BIE bytes held in memory (float weights restored as by [`read`]).
pub fn open(bytes: &[u8], key: &BieKey) -> Result<(BieHeader, QuantModel)> {
    let (header, mut model): (BieHeader, QuantModel) =
        radix_bie::open_from_slice(bytes, key, SCHEMA_VERSION)?;
    model.restore_mac_float_weights();
    Ok((header, model))
}

fn check_schema(header: &BieHeader) -> Result<()> {
    if header.payload_schema != SCHEMA_VERSION {
        return Err(crate::Error::Value(format!(
            "BIE header: payload_schema {} is not this radix's model schema version {SCHEMA_VERSION}",
            header.payload_schema
        )));
    }
    Ok(())
}
