//! The report of a real run: mode 3 on the bundled MobileNetV2 (KL720, int8) with three photos.
//! The written `model_fx_report.html` is parsed with an HTML parser and checked against
//! `model_fx_report.json` and the quantized model sealed in the BIE.
//!
//! One analysis serves every test here (it is the slow part).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use common::{mapping, mobilenet, opts, photos};
use radix::{AnalysisOptions, ModelConfig, ModelSource, QuantModel};
use scraper::{ElementRef, Html, Selector};
use serde_json::Value;

const PHOTOS: usize = 3;

/// What one run left behind, read back before its directory is removed.
struct Run {
    html: String,
    json: Value,
    /// The quantized model, read back from the BIE.
    model: QuantModel,
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let o = AnalysisOptions {
            mode: 3,
            ..opts(tmp.path())
        };
        let out = mobilenet(720)
            .analysis(&mapping(photos(PHOTOS)), &o)
            .unwrap();
        let bie =
            ModelConfig::from_bie(out.bie_path.as_ref().unwrap(), o.key_file.as_deref()).unwrap();
        let ModelSource::Bie { model, .. } = bie.source else {
            panic!("not a BIE")
        };
        Run {
            html: std::fs::read_to_string(&out.report_html).unwrap(),
            json: serde_json::from_str(&std::fs::read_to_string(&out.report_json).unwrap())
                .unwrap(),
            model: *model,
        }
    })
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("valid selector")
}

fn text(e: ElementRef<'_>) -> String {
    e.text().collect::<String>().trim().to_string()
}

fn one<'a>(doc: &'a Html, s: &str) -> ElementRef<'a> {
    let selector = sel(s);
    let mut it = doc.select(&selector);
    let first = it
        .next()
        .unwrap_or_else(|| panic!("no element matches {s}"));
    assert!(it.next().is_none(), "more than one element matches {s}");
    first
}

/// A JSON float as the report writes it: a number, or one of "inf", "-inf", "nan".
fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(match s.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            "nan" => f64::NAN,
            other => panic!("unexpected float string {other:?}"),
        }),
        other => Some(other.as_f64().expect("a number")),
    }
}

/// Expected text of a dB figure with one decimal, written independently of the renderer.
fn db_text(v: f64) -> String {
    if v == f64::INFINITY {
        "∞".into()
    } else {
        format!("{v:.1}").replace('-', "−")
    }
}

fn nodes(json: &Value) -> &Vec<Value> {
    json["nodes"].as_array().expect("nodes[]")
}

#[test]
fn mode3_mobilenetv2_is_bit_true_with_snr_for_every_quantized_layer() {
    let r = run();
    let s = &r.json["summary"];
    assert_eq!(s["mode"], 3);
    assert_eq!(s["platform"], 720);
    assert_eq!(s["datapath_bitwidth"], "int8");
    assert_eq!(s["weight_bitwidth"], "int8");
    assert_eq!(s["btm"], Value::Bool(true), "{}", s["btm_detail"]);
    assert_eq!(s["num_verified_inputs"], PHOTOS);
    let out_snr = float(&s["snr_db"]).expect("output SNR");
    assert!(out_snr.is_finite() && out_snr > 5.0, "output SNR {out_snr}");

    // Every node of the quantized model whose output is a quantized tensor has a finite SNR.
    let by_name: BTreeMap<&str, &Value> = nodes(&r.json)
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n))
        .collect();
    let m = &r.model;
    let mut checked = 0;
    for n in &m.graph.nodes {
        if m.params(n.outputs[0]).is_none() {
            continue;
        }
        let row = by_name
            .get(n.name.as_str())
            .unwrap_or_else(|| panic!("node {} missing from the JSON", n.name));
        let snr = float(&row["snr_db"]);
        assert!(
            snr.is_some_and(f64::is_finite),
            "layer {} has SNR {:?} in mode 3",
            n.name,
            row["snr_db"]
        );
        checked += 1;
    }
    assert_eq!(
        checked,
        m.graph.nodes.len(),
        "MobileNetV2 on KL720 has no CPU node: every node is quantized"
    );
    assert!(checked >= 60, "only {checked} quantized nodes");
    // The JSON has exactly the quantized model's nodes.
    assert_eq!(by_name.len(), m.graph.nodes.len());
}

#[test]
fn html_summary_names_model_platform_snr_and_btm() {
    let r = run();
    let doc = Html::parse_document(&r.html);
    let s = &r.json["summary"];
    assert_eq!(text(one(&doc, "h1#model-name")), "mobilenetv2");
    assert!(text(one(&doc, "head > title")).contains("mobilenetv2"));
    assert_eq!(text(one(&doc, "#platform")), "Platform KL720");
    let snr = float(&s["snr_db"]).unwrap();
    assert_eq!(
        text(one(&doc, "#summary-snr")),
        format!("{} dB", db_text(snr))
    );
    assert_eq!(text(one(&doc, "#summary-btm")), "match");
    let summary = text(one(&doc, "section#summary"));
    for needle in [
        "int8",
        "mobilenetv2.kdp720.scaled.bie",
        "model_fx_report.json",
    ] {
        assert!(summary.contains(needle), "summary lacks {needle}");
    }
    assert!(text(one(&doc, "#summary-fps")).ends_with("fps"));
}

#[test]
fn html_chart_has_one_mark_per_layer_with_snr() {
    let r = run();
    let doc = Html::parse_document(&r.html);
    let chart = one(&doc, "section#snr svg.snr-chart");
    let json_nodes = nodes(&r.json);
    let with_snr: BTreeMap<usize, f64> = json_nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| float(&n["snr_db"]).filter(|v| !v.is_nan()).map(|v| (i, v)))
        .collect();
    assert_eq!(
        with_snr.len(),
        json_nodes.len(),
        "mode 3 measures every layer"
    );
    let bar = sel("rect.bar");
    let bars: Vec<ElementRef<'_>> = chart.select(&bar).collect();
    assert_eq!(bars.len(), with_snr.len(), "one bar per layer with an SNR");
    let mut seen = BTreeSet::new();
    for b in bars {
        let i: usize = b.value().attr("data-node").unwrap().parse().unwrap();
        assert!(seen.insert(i), "two bars for layer {i}");
        let v = with_snr[&i];
        let tip = text(b);
        let name = json_nodes[i]["name"].as_str().unwrap();
        assert!(
            tip.starts_with(&format!("#{} {name} (", i + 1)),
            "bar {i}: {tip}"
        );
        assert!(
            tip.contains(&format!("{} dB", db_text(v))),
            "bar {i}: {tip}"
        );
        let h: f64 = b.value().attr("height").unwrap().parse().unwrap();
        assert!(h > 0.0, "bar {i} has height {h}");
        let class = b.value().attr("class").unwrap();
        let expected = if v >= 20.0 {
            "good"
        } else if v >= 10.0 {
            "warn"
        } else {
            "bad"
        };
        assert!(class.split(' ').any(|c| c == expected), "bar {i}: {class}");
    }
    // The five worst layers are marked and link to their table rows.
    let worst = sel("a.worst");
    let links: Vec<&str> = chart
        .select(&worst)
        .map(|a| a.value().attr("href").unwrap())
        .collect();
    assert_eq!(links.len(), 5);
    for l in links {
        let id = l.strip_prefix('#').unwrap();
        one(&doc, &format!("tr#{id}"));
    }
    // The text statistics above the chart count the same layers.
    let stats = text(one(&doc, "section#snr p.stats"));
    assert!(
        stats.starts_with(&format!("{} layers measured", with_snr.len())),
        "{stats}"
    );
}

#[test]
fn html_table_has_one_row_per_quantized_node_matching_the_json() {
    let r = run();
    let doc = Html::parse_document(&r.html);
    let table = one(&doc, "section#nodes table#node-table");
    let tr = sel("tbody > tr");
    let rows: Vec<ElementRef<'_>> = table.select(&tr).collect();
    let json_nodes = nodes(&r.json);
    assert_eq!(rows.len(), r.model.graph.nodes.len(), "one row per node");
    assert_eq!(rows.len(), json_nodes.len());
    let cell = |row: ElementRef<'_>, key: &str| -> String {
        text(one_in(row, &format!("td[data-col=\"{key}\"]")))
    };
    for (i, ((row, n), qn)) in rows
        .iter()
        .zip(json_nodes)
        .zip(&r.model.graph.nodes)
        .enumerate()
    {
        let name = n["name"].as_str().unwrap();
        assert_eq!(name, qn.name, "JSON and BIE node order");
        assert_eq!(cell(*row, "index"), (i + 1).to_string());
        assert_eq!(cell(*row, "name"), name);
        assert_eq!(cell(*row, "node_type"), n["node_type"].as_str().unwrap());
        assert_eq!(cell(*row, "op"), n["op"].as_str().unwrap());
        let bw_in: Vec<String> = n["bw_in"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap().to_string())
            .collect();
        assert!(!bw_in.is_empty(), "{name}: no input bitwidth");
        assert_eq!(cell(*row, "bw_in"), bw_in.join("/"), "{name}");
        assert_eq!(
            cell(*row, "bw_out"),
            n["bw_out"].as_u64().unwrap().to_string(),
            "{name}"
        );
        assert_eq!(
            cell(*row, "bw_weight"),
            n["bw_weight"]
                .as_u64()
                .map(|b| b.to_string())
                .unwrap_or_default(),
            "{name}"
        );
        // The bitwidths are those of the quantized model.
        let out_bits = r.model.params(qn.outputs[0]).unwrap().bits;
        assert_eq!(n["bw_out"].as_u64(), Some(u64::from(out_bits)), "{name}");
        let snr = float(&n["snr_db"]).unwrap();
        assert_eq!(cell(*row, "snr_db"), db_text(snr), "{name}");
        assert_eq!(
            cell(*row, "radix"),
            n["radix"].as_i64().unwrap().to_string().replace('-', "−"),
            "{name}"
        );
    }
}

fn one_in<'a>(e: ElementRef<'a>, s: &str) -> ElementRef<'a> {
    let selector = sel(s);
    let mut it = e.select(&selector);
    let first = it
        .next()
        .unwrap_or_else(|| panic!("no element matches {s}"));
    assert!(it.next().is_none(), "more than one element matches {s}");
    first
}

#[test]
fn html_is_self_contained() {
    let r = run();
    let doc = Html::parse_document(&r.html);
    assert_eq!(doc.select(&sel("script")).count(), 0, "no scripts at all");
    assert_eq!(doc.select(&sel("link, iframe, object, embed")).count(), 0);
    for e in doc
        .root_element()
        .descendants()
        .filter_map(ElementRef::wrap)
    {
        for (attr, value) in e.value().attrs() {
            let v = value.trim().to_ascii_lowercase();
            if attr == "xmlns" {
                continue; // the SVG namespace name, never fetched
            }
            if matches!(
                attr,
                "src" | "href" | "xlink:href" | "action" | "data" | "poster"
            ) {
                assert!(
                    v.starts_with('#'),
                    "<{} {attr}=\"{value}\"> points outside the page",
                    e.value().name()
                );
            }
            assert!(
                !v.contains("http:") && !v.contains("https:") && !v.contains("//"),
                "<{} {attr}=\"{value}\"> names a network resource",
                e.value().name()
            );
        }
    }
    let css: String = doc.select(&sel("style")).map(|s| s.inner_html()).collect();
    assert!(!css.is_empty(), "inline CSS");
    for bad in ["@import", "http:", "https:", "url(//"] {
        assert!(!css.contains(bad), "CSS contains {bad}");
    }
    // CSS url() only refers to in-page fragments.
    for part in css.split("url(").skip(1) {
        assert!(part.trim_start().starts_with('#'), "CSS url({part:.40}");
    }
    // The histograms: the worst layers, each drawn.
    let hist = doc.select(&sel("figure.hist-card")).count();
    let n_hist = r.json["histograms"].as_array().unwrap().len();
    assert_eq!(hist, n_hist.min(radix_report::HISTOGRAMS_SHOWN));
    assert_eq!(doc.select(&sel("figure.hist-card svg.hist")).count(), hist);
}
