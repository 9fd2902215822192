//! Decoding ONNX `TensorProto`s into f32 arrays, without trusting any length field.

use ndarray::{ArrayD, IxDyn};
use tract_onnx::pb::TensorProto;

/// ONNX element types we read (TensorProto.DataType).
pub const FLOAT: i32 = 1;
pub const UINT8: i32 = 2;
pub const INT8: i32 = 3;
pub const UINT16: i32 = 4;
pub const INT16: i32 = 5;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;
pub const BOOL: i32 = 9;
pub const FLOAT16: i32 = 10;
pub const DOUBLE: i32 = 11;
pub const UINT32: i32 = 12;
pub const UINT64: i32 = 13;

pub fn is_integer_type(t: i32) -> bool {
    matches!(
        t,
        UINT8 | INT8 | UINT16 | INT16 | INT32 | INT64 | BOOL | UINT32 | UINT64
    )
}

/// Converts a tensor to f32. Integers are exact below 2^24; the large sentinels that Slice uses
/// (INT64_MAX) saturate, which every consumer clamps anyway.
pub fn to_f32(t: &TensorProto) -> Result<ArrayD<f32>, String> {
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(format!("negative dimension {d}"));
        }
        shape.push(d as usize);
    }
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("element count overflows")?;
    if t.data_location == Some(1) {
        return Err("tensor data is stored in an external file, which Radix does not read; save the model with all tensors inside (onnx.save(..., save_as_external_data=False))".into());
    }
    let raw = &t.raw_data;
    let data: Vec<f32> = if !raw.is_empty() {
        let width = match t.data_type {
            FLOAT | INT32 | UINT32 => 4,
            DOUBLE | INT64 | UINT64 => 8,
            FLOAT16 | INT16 | UINT16 => 2,
            INT8 | UINT8 | BOOL => 1,
            other => return Err(format!("unsupported tensor element type {other}")),
        };
        if raw.len() != n * width {
            return Err(format!(
                "raw data has {} bytes, shape {:?} needs {}",
                raw.len(),
                shape,
                n * width
            ));
        }
        let c = raw.chunks_exact(width);
        match t.data_type {
            FLOAT => c
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            INT32 => c
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
                .collect(),
            UINT32 => c
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
                .collect(),
            DOUBLE => c
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            INT64 => c
                .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            UINT64 => c
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            FLOAT16 => c
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            INT16 => c.map(|b| i16::from_le_bytes([b[0], b[1]]) as f32).collect(),
            UINT16 => c.map(|b| u16::from_le_bytes([b[0], b[1]]) as f32).collect(),
            INT8 => c.map(|b| b[0] as i8 as f32).collect(),
            _ => c.map(|b| b[0] as f32).collect(),
        }
    } else {
        match t.data_type {
            FLOAT => t.float_data.clone(),
            DOUBLE => t.double_data.iter().map(|&v| v as f32).collect(),
            INT64 => t.int64_data.iter().map(|&v| v as f32).collect(),
            UINT64 => t.uint64_data.iter().map(|&v| v as f32).collect(),
            INT32 | INT16 | INT8 | UINT16 | UINT8 | BOOL => {
                t.int32_data.iter().map(|&v| v as f32).collect()
            }
            UINT32 => t.uint64_data.iter().map(|&v| v as f32).collect(),
            FLOAT16 => t
                .int32_data
                .iter()
                .map(|&v| half::f16::from_bits(v as u16).to_f32())
                .collect(),
            other => return Err(format!("unsupported tensor element type {other}")),
        }
    };
    if data.len() != n {
        return Err(format!(
            "has {} values, shape {:?} needs {}",
            data.len(),
            shape,
            n
        ));
    }
    ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| e.to_string())
}
