//! Shared test fixtures: a model shaped like a quantized network.

#![allow(dead_code)]

use std::path::Path;

use radix_bie::{BieHeader, BieKey};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    pub op: String,
    pub shape: Vec<usize>,
    pub weights: Vec<i8>,
    pub bias: Vec<i32>,
    pub scales: Vec<f32>,
    pub shifts: Vec<i8>,
    pub inputs: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub graph_name: String,
    pub inputs: Vec<(String, Vec<usize>)>,
    pub layers: Vec<Layer>,
    pub edges: Vec<Vec<u32>>,
    pub calibration: Option<Vec<(String, f32, f32)>>,
}

/// A model with about `weight_bytes` random int8 weights spread over a few layers.
pub fn model(weight_bytes: usize, seed: u64) -> Model {
    let mut rng = StdRng::seed_from_u64(seed);
    let n_layers = 8;
    let per_layer = weight_bytes / n_layers;
    let layers = (0..n_layers)
        .map(|i| {
            let out_ch = 16 + 8 * i;
            Layer {
                name: format!("features.{i}.conv"),
                op: if i % 2 == 0 {
                    "Conv".into()
                } else {
                    "Gemm".into()
                },
                shape: vec![out_ch, per_layer / out_ch, 1, 1],
                weights: (0..per_layer).map(|_| rng.random::<i8>()).collect(),
                bias: (0..out_ch)
                    .map(|_| rng.random_range(-1 << 20..1 << 20))
                    .collect(),
                scales: (0..out_ch).map(|_| rng.random_range(1e-4..1e-1)).collect(),
                shifts: (0..out_ch).map(|_| rng.random_range(0..16)).collect(),
                inputs: vec![i as u32],
            }
        })
        .collect();
    Model {
        graph_name: "mobilenet-like graph".into(),
        inputs: vec![("input.1".into(), vec![1, 3, 224, 224])],
        layers,
        edges: (0..n_layers as u32).map(|i| vec![i, i + 1]).collect(),
        calibration: Some(vec![
            ("input.1".into(), -2.1, 2.6),
            ("out".into(), -7.5, 9.25),
        ]),
    }
}

/// Payload schema version the test payloads are sealed with.
pub const SCHEMA: u32 = 3;

pub fn header() -> BieHeader {
    BieHeader {
        platform: 720,
        payload_schema: SCHEMA,
        toolchain_version: "radix 0.1.0 (test)".into(),
        model_name: "mobilenetv2-7".into(),
        options_json: r#"{"weight_bits":8,"per_channel":true,"calibration":"minmax"}"#.into(),
        source_sha256: std::array::from_fn(|i| (i as u8).wrapping_mul(37)),
    }
}

pub fn key() -> BieKey {
    BieKey::from_bytes(std::array::from_fn(|i| 0xa0 ^ i as u8))
}

pub fn other_key() -> BieKey {
    BieKey::from_bytes(std::array::from_fn(|i| 0x5f ^ i as u8))
}

pub fn payload_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).unwrap()
}

/// Offset of the first ciphertext byte (format v1: 14 + H + 8 + 24 + 8).
pub fn prefix_end(file: &[u8]) -> usize {
    let h = u32::from_le_bytes(file[10..14].try_into().unwrap()) as usize;
    14 + h + 40
}

/// Names of the entries of a folder, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
