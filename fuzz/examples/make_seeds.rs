//! Writes the seed corpora: small valid BIE files sealed with the fuzz key (for `bie_reader`)
//! and their raw bincode payloads (for `bie_payload`).
//!
//! Run from `fuzz/`: `cargo run --release --example make_seeds`.

use std::fs;
use std::path::Path;

use radix_bie::{BieHeader, seal_to_vec};
use radix_bie_fuzz::{key, sample_header, sample_model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let reader = root.join("bie_reader");
    let payload = root.join("bie_payload");
    fs::create_dir_all(&reader)?;
    fs::create_dir_all(&payload)?;
    let cases = [
        ("tiny", sample_header("tiny"), sample_model(1, 4)),
        ("small", sample_header("small"), sample_model(3, 64)),
        ("empty-header", BieHeader::default(), sample_model(0, 0)),
    ];
    for (name, header, model) in &cases {
        let file = seal_to_vec(header, model, &key())?;
        fs::write(reader.join(format!("seed-{name}.bie")), &file)?;
        let raw = bincode::serde::encode_to_vec(model, bincode::config::standard())?;
        fs::write(payload.join(format!("seed-{name}.bin")), raw)?;
    }
    println!("seeds written under {}", root.display());
    Ok(())
}
