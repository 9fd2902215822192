//! Prints the evaluator's FPS for the published reference networks on every platform next to
//! Kneron's simulated figures (`calibration::PUBLISHED`): `cargo run --example zoo_fps` (add
//! `-v` for the per-node tables).

use radix_target::calibration::{PUBLISHED, networks};
use radix_target::{CompilerTiling, Platform, evaluate_uniform};

fn main() {
    let verbose = std::env::args().any(|a| a == "-v");
    for (g, published) in networks().iter().zip(PUBLISHED) {
        println!("{}", published.network);
        for (p, pubd) in Platform::ALL.iter().zip(published.fps) {
            let d = evaluate_uniform(g, *p, CompilerTiling::Default).expect("evaluate");
            let s = evaluate_uniform(g, *p, CompilerTiling::DeepSearch).expect("evaluate");
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
