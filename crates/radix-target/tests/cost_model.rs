//! The cost model on hand-computed cases, one op at a time, on a toy profile whose figures make
//! the arithmetic easy: 1 GHz (1 cycle = 1e-6 ms), a 4 x 4 x 2 MAC array (32 MACs/cycle) at 50%
//! sustained efficiency, 100 cycles of issue overhead, 1 GB/s DMA (1 byte = 1e-6 ms), 16-byte/cycle
//! CFUNC and PFUNC, channels padded to 4, and a stripe so long that untiled nodes do not
//! pipeline (sync = read + compute + write).

use radix_ir::{Activation, Graph, Op, ValueId};
use radix_target::hw::{CpuProfile, FmLayout, HwProfile, MacArray};
use radix_target::zoo::Builder;
use radix_target::{
    CompilerTiling, NodeBits, NodeCost, Placement, Platform, PlatformProfile, evaluate_on,
};

const LAYOUT: FmLayout = FmLayout {
    c_align: 4,
    row_align_bytes: 1,
};

fn toy_hw() -> HwProfile {
    HwProfile {
        clock_mhz: 1000.0,
        mac: MacArray {
            ic: 4,
            oc: 4,
            px: 2,
        },
        mac_pointwise: MacArray {
            ic: 4,
            oc: 4,
            px: 2,
        },
        stride_waste_axes: 0,
        mac16_rate: 0.5,
        int4_rate: 1.0,
        mac_efficiency: 0.5,
        dw_window_on_ic: false,
        first_layer_ic: 4,
        node_overhead_cycles: 100.0,
        band_overhead_cycles: 0.0,
        sram_bytes: 1 << 20,
        weight_buffer_bytes: 1 << 20,
        rdma_gbps: 1.0,
        wdma_gbps: 1.0,
        getw_gbps: 1.0,
        stripe_rows: 1_000_000,
        cfunc_bytes_per_cycle: 16.0,
        pfunc_bytes_per_cycle: 16.0,
        layout: LAYOUT,
        input_layout: LAYOUT,
        cpu: CpuProfile {
            core: "toy",
            flops_per_us: 100.0,
        },
    }
}

/// The toy hardware with the KL520 operator table (so Softmax is a CPU op).
fn toy() -> PlatformProfile {
    let mut p = Platform::Kl520.profile().clone();
    p.hw = toy_hw();
    p
}

fn eval(g: &Graph, p: &PlatformProfile) -> radix_target::EvalReport {
    evaluate_on(g, p, &|_| NodeBits::default(), CompilerTiling::Default).expect("evaluate")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-6)
}

macro_rules! assert_close {
    ($a:expr, $b:expr) => {
        assert!(close($a, $b), "{} = {} != {}", stringify!($a), $a, $b)
    };
}

fn only(g: &Graph, p: &PlatformProfile) -> NodeCost {
    let r = eval(g, p);
    assert_eq!(r.nodes.len(), 1);
    r.nodes[0].clone()
}

fn single_conv(shape: &[usize], cout: usize, k: usize, pad: usize, group: usize) -> Graph {
    let (mut b, x) = Builder::new("t", shape);
    let y = b.conv(x, cout, k, 1, pad, group, Activation::None);
    b.finish(&[y])
}

#[test]
fn conv_3x3() {
    // x [1,8,16,16] -> 8 channels, 3x3, pad 1.
    let n = only(&single_conv(&[1, 8, 16, 16], 8, 3, 1, 1), &toy());
    // MACs = 16*16 * 8 * 8*9 = 147456; every lane busy (8 = 2*4 in, 8 out, 16 = 8*2 px).
    assert_eq!(n.macs, 147_456);
    assert_close!(n.mac_util, 1.0);
    // 147456 / 32 = 4608 ideal cycles, / 0.5 efficiency = 9216.
    assert_close!(n.mac_cycles, 9216.0);
    assert_close!(n.mac_runtime_ms, 0.009216);
    // Input from DDR (model input) and output to DDR (model output): 8*16*16 = 2048 B each.
    assert_eq!(n.rdma_bytes, 2048);
    assert_eq!(n.wdma_bytes, 2048);
    assert_close!(n.rdma_runtime_ms, 0.002048);
    assert_close!(n.wdma_runtime_ms, 0.002048);
    // Weights 8*8*9 = 576 B at 8 bits, bias 8 * 4 B.
    assert_eq!(n.weight_bytes, 608);
    assert_close!(n.weight_runtime_ms, 0.000608);
    assert_close!(n.overhead_ms, 0.0001);
    // runtime = every unit added; sync = read + compute + write (no stripes), weights prefetched.
    assert_close!(n.runtime_ms, 0.009216 + 0.002048 * 2.0 + 0.000608 + 0.0001);
    assert_close!(n.sync_runtime_ms, 0.009216 + 0.002048 * 2.0 + 0.0001);
    assert_eq!(n.bands, 1);
    assert_eq!(n.placement, Placement::Npu);
}

#[test]
fn depthwise_conv_uses_one_input_lane() {
    let mut p = toy();
    let g = single_conv(&[1, 8, 16, 16], 8, 3, 1, 8);
    let n = only(&g, &p);
    // MACs = 16*16 * 8 * 1*9 = 18432; one of 4 input lanes busy -> util 0.25.
    assert_eq!(n.macs, 18_432);
    assert_close!(n.mac_util, 0.25);
    // 18432 / (32 * 0.25) = 2304 ideal, 4608 at 50%.
    assert_close!(n.mac_cycles, 4608.0);
    // With the window mapped on the input lanes: 9 taps on ceil(9/4)*4 = 12 lanes.
    p.hw.dw_window_on_ic = true;
    let n = only(&g, &p);
    assert_close!(n.mac_util, 0.75);
    assert_close!(n.mac_cycles, 18432.0 / (32.0 * 0.75) / 0.5);
}

#[test]
fn conv_1x1_with_padding_waste() {
    // x [1,6,10,10] -> 5 channels: 6 of 8 input lanes, 5 of 8 output lanes, 10 of 10 pixels.
    let n = only(&single_conv(&[1, 6, 10, 10], 5, 1, 0, 1), &toy());
    assert_eq!(n.macs, 3000);
    assert_close!(n.mac_util, 0.75 * 0.625);
    // 3000 / (32 * 0.46875) = 200 ideal, 400 at 50%.
    assert_close!(n.mac_cycles, 400.0);
    // Channels padded to 4: 8 * 100 bytes in and out.
    assert_eq!(n.rdma_bytes, 800);
    assert_eq!(n.wdma_bytes, 800);
    assert_eq!(n.weight_bytes, 30 + 5 * 4);
}

#[test]
fn gemm() {
    let (mut b, x) = Builder::new("t", &[1, 10]);
    let y = b.gemm(x, 6);
    let g = b.finish(&[y]);
    let n = only(&g, &toy());
    // 60 MACs; 10 of 12 input lanes, 6 of 8 output lanes, 1 of 2 pixel lanes.
    assert_eq!(n.macs, 60);
    assert_close!(n.mac_util, (10.0 / 12.0) * 0.75 * 0.5);
    assert_close!(n.mac_cycles, 60.0 / (32.0 * 0.3125) / 0.5);
    // [1,10] is 10 channels of 1x1, padded to 12; output 6 -> 8.
    assert_eq!(n.rdma_bytes, 12);
    assert_eq!(n.wdma_bytes, 8);
    // Weight 6x10 bytes + bias 6 x 4 bytes: the weight load dominates the node.
    assert_eq!(n.weight_bytes, 84);
    let pipe = n.rdma_runtime_ms + n.mac_runtime_ms + n.wdma_runtime_ms;
    assert_close!(n.sync_runtime_ms, pipe.max(0.000084) + 0.0001);
}

#[test]
fn pooling() {
    let (mut b, x) = Builder::new("t", &[1, 8, 16, 16]);
    let y = b.maxpool(x, 2, 2, 0);
    let g = b.finish(&[y]);
    let n = only(&g, &toy());
    // Output 8x8x8 = 512 bytes, each from a 2x2 window: 512 * 4 / 16 = 128 PFUNC cycles.
    assert_eq!(n.macs, 0);
    assert_close!(n.pfunc_runtime_ms, 128e-6);
    assert_close!(n.cfunc_runtime_ms, 0.0);
    assert_eq!(n.rdma_bytes, 2048);
    assert_eq!(n.wdma_bytes, 512);
    assert_close!(n.sync_runtime_ms, 0.002048 + 128e-6 + 0.000512 + 0.0001);

    let (mut b, x) = Builder::new("t", &[1, 8, 16, 16]);
    let y = b.gap(x);
    let g = b.finish(&[y]);
    let n = only(&g, &toy());
    // Global average: the whole 2048-byte input through PFUNC: 128 cycles.
    assert_close!(n.pfunc_runtime_ms, 128e-6);
    assert_eq!(n.wdma_bytes, 8);
}

#[test]
fn add() {
    // Two model inputs [1,8,4,4] (128 B each): CFUNC streams 256 B in, 16 cycles.
    let mut g = Graph::new("t");
    let a = g.add_value("a", vec![1, 8, 4, 4]);
    let b = g.add_value("b", vec![1, 8, 4, 4]);
    let y = g.add_value("y", vec![1, 8, 4, 4]);
    g.inputs = vec![a, b];
    g.outputs = vec![y];
    g.nodes.push(radix_ir::Node {
        name: "add".into(),
        op: Op::Add,
        inputs: vec![a, b],
        outputs: vec![y],
        origin: vec!["add".into()],
    });
    let n = only(&g, &toy());
    assert_close!(n.cfunc_runtime_ms, 16e-6);
    assert_eq!(n.rdma_bytes, 256);
    assert_eq!(n.wdma_bytes, 128);
    assert_eq!(n.weight_bytes, 0);
    assert_close!(n.sync_runtime_ms, 256e-6 + 16e-6 + 128e-6 + 0.0001);
}

#[test]
fn residual_add_is_folded_into_the_conv() {
    // conv (no activation, single reader) -> add: the add runs in the conv's output stage.
    let (mut b, x) = Builder::new("t", &[1, 8, 8, 8]);
    let c = b.conv(x, 8, 1, 1, 0, 1, Activation::None);
    let y = b.add(c, x);
    let g = b.finish(&[y]);
    let r = eval(&g, &toy());
    let add = &r.nodes[1];
    assert_eq!(add.op_type, "Add");
    assert_close!(add.cfunc_runtime_ms, 0.0);
    assert_close!(add.overhead_ms, 0.0);
    // Both operands are resident in SRAM: the add moves no feature-map bytes either.
    assert_eq!(add.rdma_bytes, 0);
    assert_eq!(add.wdma_bytes, 8 * 64);
}

#[test]
fn cpu_node_is_listed_not_timed() {
    // conv (NPU) -> softmax (CPU on the 520 table) -> conv (NPU).
    let (mut b, x) = Builder::new("t", &[1, 8, 4, 4]);
    let c = b.conv(x, 8, 1, 1, 0, 1, Activation::Relu);
    let s = b.node(
        Op::Softmax {
            axis: 1,
            legacy: false,
        },
        vec![c],
    );
    let y = b.conv(s, 8, 1, 1, 0, 1, Activation::None);
    let g = b.finish(&[y]);
    let r = eval(&g, &toy());
    let (c1, sm, c2) = (&r.nodes[0], &r.nodes[1], &r.nodes[2]);
    assert_eq!(sm.placement, Placement::Cpu);
    assert_eq!(sm.kind, "CPU");
    assert_eq!(r.total.cpu_nodes, vec![sm.name.clone()]);
    assert_eq!(r.total.npu_nodes, vec![c1.name.clone(), c2.name.clone()]);
    // Not timed as NPU work.
    assert_close!(sm.sync_runtime_ms, 0.0);
    assert_close!(sm.runtime_ms, 0.0);
    assert_close!(r.total.itc_ms, c1.sync_runtime_ms + c2.sync_runtime_ms);
    // The CPU reads the NPU's output from DDR and writes its result there: the producer spills
    // (128 B) and the consumer reads it back.
    assert_eq!(c1.wdma_bytes, 128);
    assert_eq!(c2.rdma_bytes, 128);
    // CPU time: 128 elements, softmax 10 flops each + dequantize/quantize 2 x (128 + 128)
    // = 1792 flops at 100 flops/us.
    assert_close!(sm.cpu_runtime_ms, 1792.0 / 100.0 / 1000.0);
    assert_close!(r.total.cpu_runtime_ms, sm.cpu_runtime_ms);
}

#[test]
fn resident_intermediate_costs_no_dma() {
    let (mut b, x) = Builder::new("t", &[1, 8, 8, 8]);
    let c = b.conv(x, 8, 3, 1, 1, 1, Activation::Relu);
    let y = b.conv(c, 8, 3, 1, 1, 1, Activation::Relu);
    let g = b.finish(&[y]);
    let r = eval(&g, &toy());
    assert_eq!(r.nodes[0].wdma_bytes, 0);
    assert_eq!(r.nodes[1].rdma_bytes, 0);
    assert_eq!(r.nodes[0].kind, "FUSED");
    assert_close!(r.total.rv_mb, 512e-6);
    assert_close!(r.total.wv_mb, 512e-6);
}

#[test]
fn int16_and_int4_change_bytes_and_rate() {
    let g = single_conv(&[1, 8, 16, 16], 8, 3, 1, 1);
    let mut p = toy();
    p.hw.int4_rate = 2.0;
    let bits16 = NodeBits {
        in_bits: 16,
        out_bits: 16,
        weight_bits: 8,
    };
    let mut p16 = p.clone();
    p16.caps.int16 = true;
    let a = evaluate_on(&g, &p16, &|_| bits16, CompilerTiling::Default).expect("int16");
    let n = &a.nodes[0];
    // 16-bit data: half the MAC rate, twice the feature-map bytes.
    assert_close!(n.mac_cycles, 9216.0 * 2.0);
    assert_eq!(n.rdma_bytes, 4096);
    assert_eq!(n.wdma_bytes, 4096);
    let bits4 = NodeBits {
        in_bits: 8,
        out_bits: 8,
        weight_bits: 4,
    };
    let b = evaluate_on(&g, &p, &|_| bits4, CompilerTiling::Default).expect("int4");
    let n = &b.nodes[0];
    assert_close!(n.mac_cycles, 9216.0 / 2.0);
    assert_eq!(n.weight_bytes, 288 + 32);
}

#[test]
fn unsupported_bitwidths_are_rejected_naming_platform_and_option() {
    let g = single_conv(&[1, 8, 16, 16], 8, 3, 1, 1);
    let e = radix_target::evaluate(
        &g,
        Platform::Kl520,
        &|_| NodeBits::INT16,
        CompilerTiling::Default,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "KL520 does not support int16 for datapath_bitwidth_mode"
    );
    let bits4 = NodeBits {
        in_bits: 8,
        out_bits: 8,
        weight_bits: 4,
    };
    let e = radix_target::evaluate(&g, Platform::Kl720, &|_| bits4, CompilerTiling::Default)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "KL720 does not support int4 for weight_bitwidth_mode"
    );
}

#[test]
fn pipelining_over_stripes_hides_dma() {
    // Same 3x3 conv with 4-row stripes: 16 rows -> 4 steps; sync = (r + c + w)/4 + 3/4 max.
    let mut p = toy();
    p.hw.stripe_rows = 4;
    let n = only(&single_conv(&[1, 8, 16, 16], 8, 3, 1, 1), &p);
    let (r, c, w) = (0.002048, 0.009216, 0.002048);
    assert_close!(n.sync_runtime_ms, (r + c + w) / 4.0 + 0.75 * c + 0.0001);
    assert!(n.sync_runtime_ms < n.runtime_ms);
}

#[test]
fn graph_outputs_and_values_are_reported_by_name() {
    let g = single_conv(&[1, 8, 16, 16], 8, 3, 1, 1);
    let r = eval(&g, &toy());
    assert!(r.node(&g.nodes[0].name).is_some());
    assert_eq!(r.nodes[0].origin, g.nodes[0].origin);
    let _unused: ValueId = g.outputs[0];
}
