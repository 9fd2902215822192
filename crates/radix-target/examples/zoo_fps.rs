//! Prints the evaluator's FPS for the reference graphs on every platform next to Kneron's
//! published simulated figures: `cargo run -p radix-target --example zoo_fps`.

use radix_target::{CompilerTiling, Platform, evaluate_uniform, zoo};

/// Published NPU-only simulated FPS (Kneron toolchain manual, performance appendix).
const PUBLISHED: [(&str, [f64; 5]); 3] = [
    // 520, 530, 630, 720, 730
    ("mobilenet_v2", [54.18, 342.3, 218.9, 683.1, 812.5]),
    ("mobilenet_v1", [56.80, 284.7, 196.79, 432.6, 610.0]),
    ("resnet50", [6.925, 36.2, 23.56, 54.89, 79.03]),
];

fn main() {
    let verbose = std::env::args().any(|a| a == "-v");
    for (name, published) in PUBLISHED {
        let g = match name {
            "mobilenet_v2" => zoo::mobilenet_v2(224),
            "mobilenet_v1" => zoo::mobilenet_v1(224),
            _ => zoo::resnet50(224),
        };
        println!("{name}");
        for (p, pubd) in Platform::ALL.iter().zip(published) {
            let d = evaluate_uniform(&g, *p, CompilerTiling::Default).expect("evaluate");
            let s = evaluate_uniform(&g, *p, CompilerTiling::DeepSearch).expect("evaluate");
            println!(
                "  {p}: default {:8.2} fps ({:+6.1}%)  deep {:8.2} fps ({:+6.1}%)  published {pubd:8.2}  \
                 theo {:.3} ms  DDR default {:.2} MB deep {:.2} MB",
                d.total.fps,
                100.0 * (d.total.fps / pubd - 1.0),
                s.total.fps,
                100.0 * (s.total.fps / pubd - 1.0),
                d.total.theoretical_mac_ms,
                d.ddr_bytes() as f64 / 1e6,
                s.ddr_bytes() as f64 / 1e6,
            );
            if verbose {
                println!("{}", d.to_table());
            }
        }
    }
}
