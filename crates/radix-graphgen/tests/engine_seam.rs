//! The engine seam on generated graphs: the float, fast fixed-point and reference engines,
//! held as `&dyn Engine`, accept and refuse the same inputs with the same message, run a batch
//! of items as those items one by one, and report every node output to their observer.

use ndarray::{ArrayD, Axis, IxDyn};
use radix_graphgen::{GenConfig, Rng, generate};
use radix_quant::{QuantConfig, calibrate, prepare, quantize};
use radix_sim::{Engine, EngineKind, FixedEngine, FloatEngine, Observed, ReferenceEngine};
use radix_target::Platform;

/// Joins items on axis 0 (inputs of rank 0 or with an empty batch axis are not batched).
fn join_items(graph: &radix_ir::Graph, items: &[Vec<ArrayD<f32>>]) -> Vec<ArrayD<f32>> {
    (0..graph.inputs.len())
        .map(|i| {
            if graph.shape(graph.inputs[i]).first().is_none_or(|&b| b == 0) {
                return items[0][i].clone();
            }
            let parts: Vec<_> = items.iter().map(|it| it[i].view()).collect();
            ndarray::concatenate(Axis(0), &parts).expect("same item shapes")
        })
        .collect()
}

/// Every engine's result as a comparable string: the outputs' shapes, or the error message.
fn outcome(e: &dyn Engine, inputs: &[ArrayD<f32>]) -> Result<Vec<Vec<usize>>, String> {
    e.run(inputs)
        .map(|outs| outs.iter().map(|o| o.shape().to_vec()).collect())
        .map_err(|err| err.to_string())
}

#[test]
fn engines_share_input_rules_batching_and_observers() {
    let (mut cases, mut batched) = (0, 0);
    for seed in 0..200u64 {
        let case = generate(seed, &GenConfig::default());
        let mut g = case.graph.clone();
        if radix_ir::passes::optimize(&mut g).is_err() {
            continue;
        }
        prepare(&mut g);
        let Ok(calib) = calibrate(&g, &case.items) else {
            continue;
        };
        let Ok(q) = quantize(&g, &calib, &QuantConfig::int8(Platform::Kl720)) else {
            continue;
        };
        let q = q.model;
        let float = FloatEngine::new(&g).expect("float engine");
        let fixed = FixedEngine::new(&q).expect("fast engine");
        let reference = ReferenceEngine::new(&q).expect("reference engine");
        let engines: [&dyn Engine; 3] = [&float, &fixed, &reference];
        cases += 1;

        // One item: every node output observed, in the engine's own number format.
        for e in engines {
            let mut seen = vec![false; e.graph().values.len()];
            let outs = e
                .run_observing(&case.items[0], &mut |id, t| {
                    seen[id.0] = true;
                    let fixed_kind = matches!(t, Observed::Fixed(_));
                    assert_eq!(fixed_kind, e.kind() != EngineKind::Float, "seed {seed}");
                })
                .unwrap_or_else(|err| panic!("seed {seed} {:?}: {err}", e.kind()));
            assert_eq!(outs.len(), e.graph().outputs.len());
            for n in &e.graph().nodes {
                for &o in &n.outputs {
                    assert!(
                        seen[o.0],
                        "seed {seed} {:?}: `{}` not observed",
                        e.kind(),
                        n.name
                    );
                }
            }
        }

        // A batch of every item is the items run one by one, outputs joined on axis 0.
        let joined = join_items(&g, &case.items);
        for e in engines {
            let whole = e.run(&joined).expect("batch");
            let one_by_one: Vec<Vec<ArrayD<f32>>> = case
                .items
                .iter()
                .map(|it| e.run(it).expect("item"))
                .collect();
            for (o, got) in whole.iter().enumerate() {
                let parts: Vec<_> = one_by_one.iter().map(|r| r[o].view()).collect();
                // Items join on axis 0; a rank-0 output becomes one value per item.
                let want = if parts[0].ndim() == 0 {
                    ndarray::stack(Axis(0), &parts).expect("stack")
                } else {
                    ndarray::concatenate(Axis(0), &parts).expect("join")
                };
                assert_eq!(got, &want, "seed {seed} {:?} output {o}", e.kind());
                batched += 1;
            }
        }

        // The same values with another memory layout (a length-1 axis with stride 0, as slicing
        // gives): the same results, bit for bit.
        let odd: Vec<ArrayD<f32>> = case.items[0]
            .iter()
            .map(|x| match x.shape().first() {
                Some(1) => {
                    let inner = x.index_axis(Axis(0), 0).to_owned();
                    inner.broadcast(x.raw_dim()).expect("broadcast").to_owned()
                }
                _ => x.clone(),
            })
            .collect();
        for e in engines {
            assert_eq!(
                e.run(&odd).expect("odd strides"),
                e.run(&case.items[0]).expect("item"),
                "seed {seed} {:?}: results depend on input strides",
                e.kind()
            );
        }

        // Wrong inputs: the same verdict and message from every engine.
        let mut rng = Rng::new(seed);
        let mut wrong: Vec<Vec<ArrayD<f32>>> = vec![
            Vec::new(),
            case.items[0]
                .iter()
                .chain(&case.items[0])
                .cloned()
                .collect(),
        ];
        for i in 0..g.inputs.len() {
            let mut shape = case.items[0][i].shape().to_vec();
            if shape.is_empty() {
                shape.push(1);
            } else {
                let axis = rng.range(0, shape.len() - 1);
                shape[axis] += 1 + rng.range(0, 2);
            }
            let mut bad = case.items[0].clone();
            bad[i] = ArrayD::zeros(IxDyn(&shape));
            wrong.push(bad);
            let mut lower_rank = case.items[0].clone();
            let s = &lower_rank[i].shape()[1.min(lower_rank[i].ndim())..];
            lower_rank[i] = ArrayD::zeros(IxDyn(s));
            wrong.push(lower_rank);
        }
        for inputs in &wrong {
            let verdicts: Vec<_> = engines.iter().map(|e| outcome(*e, inputs)).collect();
            assert!(
                verdicts.windows(2).all(|w| w[0] == w[1]),
                "seed {seed}: engines disagree on inputs {:?}: {verdicts:?}",
                inputs
                    .iter()
                    .map(|a| a.shape().to_vec())
                    .collect::<Vec<_>>()
            );
        }
    }
    assert!(
        cases >= 150,
        "only {cases} of 200 generated graphs quantized"
    );
    eprintln!("{cases} graphs, {batched} outputs compared over a batch");
    assert!(batched > 0, "no output compared over a batch");
}
