//! Radix as a library: quantize MobileNetV2 for KL720 in memory, run the fixed-point model and
//! compare it with float. Nothing is written to disk.
use ndarray::{Array4, ArrayD, Axis, arr1};
use radix::{AnalysisOptions, InputMapping, Model, ModelConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");
    let model = ModelConfig::from_onnx(format!("{fixtures}/models/mobilenetv2.onnx"), 720)?;
    // Photos: uint8 NHWC to ImageNet-normalized NCHW float, one array per photo.
    let raw: Array4<u8> =
        ndarray_npy::read_npy(format!("{fixtures}/images/photos_224_uint8_nhwc.npy"))?;
    let mean = arr1(&[0.485f32, 0.456, 0.406]).into_shape_with_order((1, 3, 1, 1))?;
    let std = arr1(&[0.229f32, 0.224, 0.225]).into_shape_with_order((1, 3, 1, 1))?;
    let x = (raw.mapv(|v| v as f32 / 255.0).permuted_axes([0, 3, 1, 2]) - &mean) / &std;
    let photos: Vec<ArrayD<f32>> = (x.axis_chunks_iter(Axis(0), 1))
        .map(|p| p.as_standard_layout().into_owned().into_dyn())
        .collect();
    let mut inputs = InputMapping::new();
    inputs.insert("input", photos[..8].to_vec());
    let quantized = model.quantize(&inputs, &AnalysisOptions::default())?;
    let photo = std::slice::from_ref(&photos[8]);
    let fixed = radix::inference(photo, Model::Bie(&quantized.model), &[], 2)?;
    let float = radix::inference(photo, Model::Onnx(model.graph()), &[], 2)?;
    let top1 = |a: &ArrayD<f32>| {
        a.iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .map(|m| m.0)
    };
    println!(
        "top-1 class: fixed point {:?}, float {:?}",
        top1(&fixed[0]),
        top1(&float[0])
    );
    Ok(())
}
