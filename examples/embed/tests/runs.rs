//! The embedding example builds and runs in CI, and its fixed-point model agrees with float on
//! the photo it classifies.

#[test]
fn the_example_runs_and_agrees_with_float() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_embed"))
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("top-1 class"))
        .expect("its output line");
    let classes: Vec<&str> = line
        .split(['(', ')'])
        .filter(|s| s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty())
        .collect();
    assert_eq!(classes.len(), 2, "{line}");
    assert_eq!(classes[0], classes[1], "{line}");
}
