//! The payload decode limit never refuses a payload `encode` produced: payloads of exactly
//! 1 MiB, 16 MiB and 256 MiB, and one byte either side (where the decode limit changes bucket),
//! sealed and opened through the real path, with the worst claimed-bytes-per-byte ratio bincode
//! has; and real quantized models (`radix_ir::qmodel::QuantModel`) around 16 MiB written and
//! read back as files.
//!
//! The 256 MiB cases run in the default suite (measured on 2 shared cores: about 14 s and
//! 0.5 GB peak for the worst-case one, 10 s and 0.8 GB for the string one; everything else here
//! takes about 5 s). The limit's arithmetic at every bucket
//! edge up to 2^60 is checked without allocating by the unit test
//! `decode_limit_is_at_least_16x_and_less_than_64x_the_payload`.

mod common;

use std::fmt;
use std::sync::Arc;

use common::{header, key};
use ndarray::{ArrayD, IxDyn};
use radix_bie::{BieHeader, open_from_slice, read_bie, seal_to_vec, write_bie};
use radix_ir::op::{Activation, ConvAttrs};
use radix_ir::qmodel::{Placement, QConst, QKernel, QNode, QParams, QuantModel};
use radix_ir::{Graph, Node, Op, Value, ValueId};
use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MIB: usize = 1 << 20;

/// Bytes of bincode's varint encoding of a length.
fn varint_len(n: usize) -> usize {
    match n {
        0..251 => 1,
        251..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// A sequence of `count` zero `u128`s, generated while serializing and only counted while
/// deserializing (so even the 256 MiB payload costs no memory beyond its bytes). Each element
/// is a 1-byte varint that bincode's decoder claims as 16 bytes: the largest ratio of claimed
/// to encoded bytes any serde type reaches, so these payloads come as close to the decode
/// limit as a genuine payload of their size can.
#[derive(Debug, PartialEq)]
struct Zeros(usize);

impl Zeros {
    /// The sequence whose encoding is exactly `n` bytes (length prefix + one byte each).
    fn encoding_to(n: usize) -> Zeros {
        let count = [1, 3, 5, 9]
            .into_iter()
            .filter_map(|w| n.checked_sub(w))
            .find(|&c| varint_len(c) + c == n)
            .unwrap();
        Zeros(count)
    }
}

impl Serialize for Zeros {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0))?;
        for _ in 0..self.0 {
            seq.serialize_element(&0u128)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Zeros {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Count;
        impl<'de> Visitor<'de> for Count {
            type Value = Zeros;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence of zero u128s")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Zeros, A::Error> {
                let mut n = 0;
                while let Some(v) = seq.next_element::<u128>()? {
                    if v != 0 {
                        return Err(serde::de::Error::custom("not a zero"));
                    }
                    n += 1;
                }
                Ok(Zeros(n))
            }
        }
        d.deserialize_seq(Count)
    }
}

/// Payload bytes of a sealed file (the file minus framing and tag).
fn sealed_payload_len(file: &[u8]) -> usize {
    file.len() - common::prefix_end(file) - radix_bie::TAG_LEN
}

fn zeros_round_trip(n: usize) {
    let z = Zeros::encoding_to(n);
    let file = seal_to_vec(&header(), &z, &key()).unwrap();
    assert_eq!(sealed_payload_len(&file), n);
    let (h, back): (BieHeader, Zeros) = open_from_slice(&file, &key(), common::SCHEMA)
        .unwrap_or_else(|e| panic!("payload of {n} bytes: {e}"));
    assert_eq!((h, back), (header(), z));
}

#[test]
fn worst_case_payloads_of_1_mib_and_one_byte_either_side_open() {
    for n in [MIB - 1, MIB, MIB + 1] {
        zeros_round_trip(n);
    }
}

#[test]
fn worst_case_payloads_of_16_mib_and_one_byte_either_side_open() {
    for n in [16 * MIB - 1, 16 * MIB, 16 * MIB + 1] {
        zeros_round_trip(n);
    }
}

/// A string whose encoding is exactly `n` bytes (5-byte length prefix + bytes).
fn string_round_trip(n: usize) {
    let s = "radix".repeat(n / 5 + 1)[..n - 5].to_string();
    let file = seal_to_vec(&header(), &s, &key()).unwrap();
    drop(s);
    assert_eq!(sealed_payload_len(&file), n);
    let (_, back): (BieHeader, String) = open_from_slice(&file, &key(), common::SCHEMA)
        .unwrap_or_else(|e| panic!("payload of {n} bytes: {e}"));
    drop(file);
    assert_eq!(back.len(), n - 5);
    assert!(back.as_bytes().chunks(5).all(|c| b"radix".starts_with(c)));
}

#[test]
fn string_payloads_of_256_mib_and_one_byte_either_side_open() {
    // The common case (about 1 byte claimed per byte) at the 256 MiB bucket edge.
    for n in [256 * MIB - 1, 256 * MIB, 256 * MIB + 1] {
        string_round_trip(n);
    }
}

#[test]
fn worst_case_payloads_of_256_mib_and_one_byte_either_side_open() {
    for n in [256 * MIB - 1, 256 * MIB, 256 * MIB + 1] {
        zeros_round_trip(n);
    }
}

#[test]
fn the_worst_case_payload_writes_and_reads_back_as_a_file() {
    // Through `write_bie` (which reads the file back and checks it) and `read_bie`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.bie");
    let z = Zeros::encoding_to(MIB);
    write_bie(&path, &header(), &z, &key()).unwrap();
    let (_, back): (_, Zeros) = read_bie(&path, &key(), common::SCHEMA).unwrap();
    assert_eq!(back, z);
}

/// A quantized model whose payload encodes to exactly `n` bytes (`n` at least ~8 MiB): a Conv
/// with a large float constant (its weight, 4 bytes per value), small int8 weight codes (1-byte
/// varints claimed as 4 bytes), zero i64 biases (1 byte, claimed as 8) and a quantized constant
/// of small codes; the graph name pads it to the exact size. Its decoder claims about 3x its
/// size, which the power-of-16 buckets of earlier versions refused (issue #12).
fn quant_model_of_size(n: usize) -> QuantModel {
    let floats = n / 16; // 4 bytes each: a quarter of the payload
    let weights = 3 * n / 16; // 1 byte each
    let biases = 3 * n / 16; // 1 byte each
    let codes = n / 16;
    let constant = ArrayD::from_shape_vec(
        IxDyn(&[floats]),
        (0..floats).map(|i| i as f32 * 1e-3).collect(),
    )
    .unwrap();
    let small = |k: usize| (k % 200) as i32 - 100; // int8 codes: 1-byte zig-zag varints (<251)
    let graph = Graph {
        name: String::new(),
        values: vec![
            Value {
                name: "input".into(),
                shape: vec![1, 3, 640, 640],
                data: None,
            },
            Value {
                name: "model.0.conv.weight".into(),
                shape: vec![floats],
                data: Some(Arc::new(constant)),
            },
            Value {
                name: "output".into(),
                shape: vec![1, 16, 320, 320],
                data: None,
            },
        ],
        nodes: vec![Node {
            name: "/model.0/conv/Conv".into(),
            op: Op::Conv(ConvAttrs {
                kernel: [3, 3],
                strides: [2, 2],
                pads: [1, 1, 1, 1],
                dilations: [1, 1],
                group: 1,
                output_padding: [0, 0],
                activation: Activation::Relu,
            }),
            inputs: vec![ValueId(0), ValueId(1)],
            outputs: vec![ValueId(2)],
            origin: vec!["/model.0/conv/Conv".into(), "/model.0/act/Relu".into()],
        }],
        inputs: vec![ValueId(0)],
        outputs: vec![ValueId(2)],
    };
    let params = QParams {
        bits: 8,
        radix: 5,
        scale: 1.25,
    };
    let mut model = QuantModel {
        graph,
        platform: 720,
        tensors: vec![Some(params), None, Some(params)],
        consts: vec![
            None,
            Some(QConst {
                params,
                data: (0..codes).map(small).collect(),
            }),
            None,
        ],
        nodes: vec![QNode {
            placement: Placement::Npu,
            kernel: QKernel::Mac {
                weights: (0..weights).map(small).collect(),
                weight_params: vec![params; 16],
                bias: vec![0; biases],
                requant: Vec::new(),
                requant_neg: None,
                act_min: 0,
                act_max: 127,
            },
        }],
    };
    // The empty name is a 1-byte length; a name of `len >= 65536` bytes takes 5 + len.
    let base = encoded_len(&model);
    let len = n - base - 4;
    assert!((0x1_0000..=0xffff_ffff).contains(&len), "pad {len}");
    model.graph.name = "p".repeat(len);
    model
}

fn encoded_len<T: Serialize>(value: &T) -> usize {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .unwrap()
        .len()
}

#[test]
fn quantized_models_of_16_mib_and_one_byte_either_side_write_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    for n in [16 * MIB - 1, 16 * MIB, 16 * MIB + 1] {
        let model = quant_model_of_size(n);
        let plain = common::payload_bytes(&model);
        assert_eq!(plain.len(), n);
        let path = dir.path().join(format!("m{n}.bie"));
        write_bie(&path, &header(), &model, &key()).unwrap_or_else(|e| panic!("{n} bytes: {e}"));
        let file = std::fs::read(&path).unwrap();
        assert_eq!(sealed_payload_len(&file), n);
        let (h, back): (BieHeader, QuantModel) =
            read_bie(&path, &key(), common::SCHEMA).unwrap_or_else(|e| panic!("{n} bytes: {e}"));
        assert_eq!(h, header());
        // QuantModel has no PartialEq: equal encodings are equal models, bit for bit.
        assert!(
            common::payload_bytes(&back) == plain,
            "{n} bytes: model changed"
        );
    }
}
