//! Prints a model's IR: `cargo run -p radix-onnx --example dump -- model.onnx [name=1,3,24,24]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: dump MODEL.onnx [input=d0,d1,..]");
        std::process::exit(2);
    };
    let mut opts = radix_onnx::ImportOptions::default();
    for a in &args[2..] {
        if let Some((n, s)) = a.split_once('=') {
            opts.input_shapes.insert(
                n.into(),
                s.split(',').filter_map(|d| d.parse().ok()).collect(),
            );
        }
    }
    match radix_onnx::import_path_with(std::path::Path::new(path), &opts) {
        Ok(mut g) => {
            println!("imported: {} nodes, {:?}", g.nodes.len(), g.op_histogram());
            match radix_ir::passes::optimize(&mut g) {
                Ok(stats) => println!("optimized: {stats:?}"),
                Err(e) => println!("optimize error: {e}"),
            }
            println!(
                "after: {} nodes, {:?}, macs {}",
                g.nodes.len(),
                g.op_histogram(),
                g.total_macs()
            );
            for n in &g.nodes {
                println!(
                    "  {} {:?} -> {:?} origin {:?}",
                    n.name,
                    n.op.type_name(),
                    g.shape(n.outputs[0]),
                    n.origin
                );
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
