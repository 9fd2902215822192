//! What the fuzz targets and the seed generator share.

use radix_bie::{BieHeader, BieKey};
use serde::{Deserialize, Serialize};

/// The fixed key every fuzz input is opened with (and the seeds are sealed with).
pub const KEY: [u8; 32] = [0x42; 32];

pub fn key() -> BieKey {
    BieKey::from_bytes(KEY)
}

/// Shaped like a quantized model: int8 weights, int32 biases, floats, strings, nesting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuzzModel {
    pub name: String,
    pub layers: Vec<FuzzLayer>,
    pub edges: Vec<Vec<u32>>,
    pub calibration: Option<Vec<(String, f32, f32)>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuzzLayer {
    pub op: String,
    pub shape: Vec<usize>,
    pub weights: Vec<i8>,
    pub bias: Vec<i32>,
    pub scales: Vec<f32>,
    pub blob: Vec<u8>,
}

pub fn sample_model(layers: usize, weights_per_layer: usize) -> FuzzModel {
    FuzzModel {
        name: "seed".into(),
        layers: (0..layers)
            .map(|i| FuzzLayer {
                op: if i % 2 == 0 {
                    "Conv".into()
                } else {
                    "Relu".into()
                },
                shape: vec![i + 1, weights_per_layer],
                weights: (0..weights_per_layer)
                    .map(|j| (j as i32 * 7 - 100) as i8)
                    .collect(),
                bias: (0..4).map(|j| j * 1000 - 1500).collect(),
                scales: vec![0.5, 0.25],
                blob: vec![1, 2, 3],
            })
            .collect(),
        edges: (0..layers as u32).map(|i| vec![i, i + 1]).collect(),
        calibration: Some(vec![("x".into(), -1.0, 1.0)]),
    }
}

/// Payload schema version of the fuzz payloads.
pub const SCHEMA: u32 = 1;

pub fn sample_header(name: &str) -> BieHeader {
    BieHeader {
        platform: 720,
        payload_schema: SCHEMA,
        toolchain_version: "radix fuzz".into(),
        model_name: name.into(),
        options_json: "{}".into(),
        source_sha256: [3; 32],
    }
}
