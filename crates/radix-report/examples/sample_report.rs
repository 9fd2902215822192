//! Writes a synthetic sample report so the HTML can be looked at.
//!
//! `cargo run -p radix-report --example sample_report -- OUT_DIR [NODES] [MODE]`
//!
//! NODES defaults to 60; MODE (0..=3, default 3) drops what that analysis mode would not measure.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: sample_report OUT_DIR [NODES] [MODE]");
        return ExitCode::from(2);
    };
    let nodes = match args.next().map(|s| s.parse::<usize>()) {
        None => 60,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("NODES must be a number: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = match args.next().map(|s| s.parse::<u8>()) {
        None => 3,
        Some(Ok(m)) if m <= 3 => m,
        _ => {
            eprintln!("MODE must be 0, 1, 2 or 3");
            return ExitCode::from(2);
        }
    };
    let report = radix_report::sample::sample_report_for_mode(nodes, mode);
    match radix_report::write_report(&report, &dir) {
        Ok(paths) => {
            println!("{}", paths.html.display());
            println!("{}", paths.json.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
