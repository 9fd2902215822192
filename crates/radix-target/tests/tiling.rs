//! Compiler tiling: the default split, deep search's fusion, and its guarantees.

use radix_ir::{Activation, Graph};
use radix_target::zoo::{self, Builder};
use radix_target::{
    CompilerTiling, NodeBits, Platform, PlatformProfile, evaluate_on, evaluate_uniform,
};

/// KL720 with a small SRAM and simple layout so byte counts are easy to follow.
fn small_sram(kib: u64) -> PlatformProfile {
    let mut p = Platform::Kl720.profile().clone();
    p.hw.sram_bytes = kib * 1024;
    p.hw.layout.c_align = 16;
    p
}

fn chain(shape: &[usize], layers: &[(usize, usize)]) -> Graph {
    let (mut b, mut y) = Builder::new("chain", shape);
    for &(c, k) in layers {
        y = b.conv(y, c, k, 1, k / 2, 1, Activation::Relu);
    }
    b.finish(&[y])
}

fn eval(g: &Graph, p: &PlatformProfile, t: CompilerTiling) -> radix_target::EvalReport {
    evaluate_on(g, p, &|_| NodeBits::default(), t).expect("evaluate")
}

#[test]
fn tiling_option_parses() {
    assert_eq!(
        "default".parse::<CompilerTiling>().unwrap(),
        CompilerTiling::Default
    );
    assert_eq!(
        "deep_search".parse::<CompilerTiling>().unwrap(),
        CompilerTiling::DeepSearch
    );
    assert_eq!(
        "Deep-Search".parse::<CompilerTiling>().unwrap(),
        CompilerTiling::DeepSearch
    );
    assert!("fast".parse::<CompilerTiling>().is_err());
    assert_eq!(CompilerTiling::DeepSearch.to_string(), "deep_search");
    assert_eq!(
        serde_json::to_string(&CompilerTiling::DeepSearch).unwrap(),
        "\"deep_search\""
    );
    assert_eq!(CompilerTiling::default(), CompilerTiling::Default);
}

#[test]
fn default_splits_a_feature_map_that_does_not_fit() {
    // 1x1 conv on [1,16,64,64]: 64 KiB in, 64 KiB out, SRAM 64 KiB.
    let g = chain(&[1, 16, 64, 64], &[(16, 1)]);
    let p = small_sram(64);
    let r = eval(&g, &p, CompilerTiling::Default);
    let n = &r.nodes[0];
    assert!(n.bands > 1, "bands {}", n.bands);
    // A 1x1 window re-reads nothing; everything is read and written once.
    assert_eq!(n.rdma_bytes, 65536);
    assert_eq!(n.wdma_bytes, 65536);
    // Bands of half the free SRAM: at most (64 KiB - weights) / 2 per band of in + out rows.
    let per_row = 2 * 16 * 64;
    let rows_per_band = (64 * 1024 - (16 * 16 + 16 * 4)) / 2 / per_row;
    assert_eq!(n.bands as usize, 64usize.div_ceil(rows_per_band));

    // A 3x3 window re-reads its 2 halo rows at every band boundary.
    let g = chain(&[1, 16, 64, 64], &[(16, 3)]);
    let r = eval(&g, &p, CompilerTiling::Default);
    let n = &r.nodes[0];
    assert!(n.bands > 1);
    assert_eq!(n.rdma_bytes, 65536 + (n.bands as u64 - 1) * 2 * 16 * 64);
}

#[test]
fn default_spills_and_deep_search_fuses() {
    // Three cheap convs (1x1, 3x3, 1x1) on 64x64x16, DMA-bound: every intermediate (64 KiB) is
    // too big to stay resident in a 96 KiB SRAM next to the node's input, so default spills each
    // one to DDR; deep search runs the three layers band by band with line buffers and never
    // writes the intermediates.
    let g = chain(&[1, 16, 64, 64], &[(16, 1), (16, 3), (16, 1)]);
    let p = small_sram(96);
    let d = eval(&g, &p, CompilerTiling::Default);
    let s = eval(&g, &p, CompilerTiling::DeepSearch);
    assert!(
        d.nodes[0].wdma_bytes >= 65536,
        "default keeps the intermediate?"
    );
    assert!(
        s.ddr_bytes() < d.ddr_bytes(),
        "deep {} >= default {}",
        s.ddr_bytes(),
        d.ddr_bytes()
    );
    assert!(s.total.itc_ms <= d.total.itc_ms);
    // The first intermediate never reaches DDR: conv 1 and conv 2 run fused, in bands.
    assert_eq!(s.nodes[0].group, s.nodes[1].group);
    assert_eq!(s.nodes[0].wdma_bytes, 0);
    assert_eq!(s.nodes[1].rdma_bytes, 0);
    // Each fusion still reads the model input and writes the model output once.
    assert!(s.total.rv_mb < d.total.rv_mb && s.total.wv_mb < d.total.wv_mb);
    assert!(s.nodes[0].bands > 1);
}

#[test]
fn deep_search_never_slower_on_reference_networks() {
    let graphs = [
        zoo::mobilenet_v1(224),
        zoo::mobilenet_v2(224),
        zoo::resnet50(224),
    ];
    for g in &graphs {
        for p in Platform::ALL {
            let d = evaluate_uniform(g, p, CompilerTiling::Default).expect("default");
            let s = evaluate_uniform(g, p, CompilerTiling::DeepSearch).expect("deep");
            assert!(
                s.total.itc_ms <= d.total.itc_ms + 1e-12,
                "{} on {p}",
                g.name
            );
            assert_eq!(s.tiling, CompilerTiling::DeepSearch);
        }
    }
}

#[test]
fn deep_search_cuts_mobilenetv2_ddr_traffic_on_the_520() {
    let g = zoo::mobilenet_v2(224);
    let d = evaluate_uniform(&g, Platform::Kl520, CompilerTiling::Default).expect("default");
    let s = evaluate_uniform(&g, Platform::Kl520, CompilerTiling::DeepSearch).expect("deep");
    assert!(s.ddr_bytes() < d.ddr_bytes());
    assert!(s.total.rv_mb + s.total.wv_mb < d.total.rv_mb + d.total.wv_mb);
}

#[test]
fn everything_resident_when_sram_is_large() {
    let g = chain(&[1, 16, 32, 32], &[(16, 3), (16, 3)]);
    let p = small_sram(4096);
    for t in [CompilerTiling::Default, CompilerTiling::DeepSearch] {
        let r = eval(&g, &p, t);
        // Only the model input and the model output touch DDR.
        assert_eq!(r.total.rv_mb, 16384.0 / 1e6, "{t}");
        assert_eq!(r.total.wv_mb, 16384.0 / 1e6, "{t}");
        assert!(r.nodes.iter().all(|n| n.bands == 1));
    }
}
