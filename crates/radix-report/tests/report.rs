//! End-to-end checks of the rendered HTML (parsed with `scraper`), the JSON and the writer.

use std::fs;
use std::path::Path;

use radix_report::sample::{sample_report, sample_report_for_mode};
use radix_report::{
    HTML_FILE_NAME, JSON_FILE_NAME, NodeRow, Report, ReportError, column_keys, from_json,
    render_html, to_json, write_report,
};
use scraper::{ElementRef, Html, Selector};

const NASTY: &str = r#"<script>alert("x")</script> & 'q'"#;

/// A realistic 60-node report with the awkward cases the renderer must survive.
fn report() -> Report {
    let mut r = sample_report(60);
    assert_eq!(r.nodes.len(), 60);
    // A name that would break the page if not escaped, and an origin with markup.
    r.nodes[7].name = NASTY.to_string();
    r.nodes[7].origin = vec!["Conv_<7>".into(), "Relu&6".into()];
    r.summary.model_name = "mobilenet<v2> & \"friends\"".into();
    r.summary
        .warnings
        .push("<img src=x onerror=alert(1)> beware".into());
    r
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

fn parse(r: &Report) -> Html {
    Html::parse_document(&render_html(r))
}

/// The expected text of an SNR cell, written independently of the renderer.
fn snr_text(v: Option<f64>) -> String {
    match v {
        None => String::new(),
        Some(v) if v == f64::INFINITY => "∞".into(),
        Some(v) => format!("{v:.1}").replace('-', "−"),
    }
}

fn grouped(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn summary_shows_model_platform_snr_and_btm() {
    let r = report();
    let doc = parse(&r);
    assert_eq!(text(one(&doc, "h1#model-name")), r.summary.model_name);
    assert_eq!(text(one(&doc, "#platform")), "Platform KL720");
    let snr = r.summary.snr_db.expect("sample has an output SNR");
    assert_eq!(
        text(one(&doc, "#summary-snr")),
        format!("{snr:.1} dB"),
        "summary SNR"
    );
    assert_eq!(text(one(&doc, "#summary-btm")), "match");
    let fps = text(one(&doc, "#summary-fps"));
    assert!(fps.ends_with(" fps") && fps.len() > 4, "fps card: {fps}");
    let itc = text(one(&doc, "#summary-itc"));
    assert!(itc.ends_with(" ms"), "itc card: {itc}");

    // The SNR card carries the colour band for its value.
    let card_has = |doc: &Html, id: &str, class: &str| {
        let card = one(doc, id)
            .parent()
            .and_then(ElementRef::wrap)
            .expect("card element");
        card.value().classes().any(|c| c == class)
    };
    let band = if snr >= 20.0 {
        "good"
    } else if snr >= 10.0 {
        "warn"
    } else {
        "bad"
    };
    assert!(card_has(&doc, "#summary-snr", band));

    // Other SNR / btm states.
    let mut r2 = r.clone();
    r2.summary.snr_db = Some(25.04);
    r2.summary.btm = Some(false);
    let doc2 = parse(&r2);
    assert_eq!(text(one(&doc2, "#summary-snr")), "25.0 dB");
    assert!(card_has(&doc2, "#summary-snr", "good"));
    assert_eq!(text(one(&doc2, "#summary-btm")), "mismatch");
    assert!(card_has(&doc2, "#summary-btm", "bad"));
    r2.summary.snr_db = Some(4.0);
    assert!(card_has(&parse(&r2), "#summary-snr", "bad"));

    let m1 = sample_report_for_mode(60, 1);
    let doc1 = parse(&m1);
    assert_eq!(text(one(&doc1, "#summary-snr")), "not measured");
    assert_eq!(text(one(&doc1, "#summary-btm")), "not run");
}

#[test]
fn summary_lists_files_bitwidths_and_warnings() {
    let r = report();
    let doc = parse(&r);
    let summary = text(one(&doc, "#summary"));
    for needle in [
        r.summary.onnx_file.as_str(),
        r.summary.bie_file.as_deref().unwrap_or("?"),
        JSON_FILE_NAME,
        r.summary.range_method.as_str(),
        r.summary.cpu_node_bitwidth.as_str(),
        "prob/Softmax",
    ] {
        assert!(summary.contains(needle), "summary lacks {needle}");
    }
    let warnings: Vec<String> = doc.select(&sel("ul.warnings li")).map(text).collect();
    assert_eq!(warnings, r.summary.warnings);
    // The warning's markup is text, not an element.
    assert_eq!(doc.select(&sel("img")).count(), 0);
}

#[test]
fn chart_has_one_bar_per_node_with_snr() {
    let r = report();
    let doc = parse(&r);
    let chart = one(&doc, "svg.snr-chart");
    let bars: Vec<ElementRef<'_>> = chart.select(&sel("rect.bar")).collect();
    let with_snr: Vec<usize> = r
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.snr_db.is_some())
        .map(|(i, _)| i)
        .collect();
    assert!(
        with_snr.len() < r.nodes.len(),
        "sample must have a node without SNR"
    );
    assert_eq!(bars.len(), with_snr.len());
    let bar_nodes: Vec<usize> = bars
        .iter()
        .map(|b| b.value().attr("data-node").unwrap().parse().unwrap())
        .collect();
    assert_eq!(bar_nodes, with_snr);

    // Heights follow the SNR; the infinite one is capped at the tallest and marked exact.
    let height = |b: &ElementRef<'_>| -> f64 { b.value().attr("height").unwrap().parse().unwrap() };
    let mut finite: Vec<(f64, f64)> = bars
        .iter()
        .zip(&bar_nodes)
        .filter_map(|(b, &i)| {
            r.nodes[i]
                .snr_db
                .filter(|v| v.is_finite())
                .map(|v| (v, height(b)))
        })
        .collect();
    finite.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in finite.windows(2) {
        assert!(
            w[0].1 <= w[1].1 + 1e-9,
            "bar heights not ordered by SNR: {w:?}"
        );
    }
    let exact: Vec<&ElementRef<'_>> = bars
        .iter()
        .filter(|b| b.value().classes().any(|c| c == "exact"))
        .collect();
    assert_eq!(exact.len(), 1);
    assert!(text(*exact[0]).contains("∞"));
    let tallest = finite.last().map(|f| f.1).unwrap();
    assert!(height(exact[0]) > tallest);

    // The 20 dB guide, axis ticks and five labelled worst layers linking to table rows.
    assert_eq!(chart.select(&sel("line.guide")).count(), 1);
    assert!(chart.select(&sel("text.tick")).count() >= 8);
    let worst: Vec<String> = chart
        .select(&sel("a.worst"))
        .map(|a| a.value().attr("href").unwrap().to_string())
        .collect();
    assert_eq!(worst.len(), 5);
    let lowest = r
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.snr_db.filter(|v| v.is_finite()).map(|v| (i, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert_eq!(worst[0], format!("#node-{}", lowest.0));
    for href in &worst {
        assert_eq!(doc.select(&sel(&format!("tr{href}"))).count(), 1);
    }
}

#[test]
fn no_chart_when_no_layer_snr() {
    let r = sample_report_for_mode(60, 2);
    let doc = parse(&r);
    assert_eq!(doc.select(&sel("svg.snr-chart")).count(), 0);
    assert_eq!(doc.select(&sel("#snr-none")).count(), 1);
    // Mode 2 still has the output SNR.
    assert!(text(one(&doc, "#summary-snr")).ends_with(" dB"));
}

#[test]
fn table_has_one_row_per_node_with_the_right_cells() {
    let r = report();
    let doc = parse(&r);
    let heads: Vec<String> = doc
        .select(&sel("#node-table thead th"))
        .map(|h| h.value().attr("data-col").unwrap().to_string())
        .collect();
    let mut expected = vec!["index".to_string()];
    expected.extend(column_keys().into_iter().map(String::from));
    assert_eq!(heads, expected);
    for key in [
        "name",
        "origin",
        "node_type",
        "backend",
        "bw_in",
        "bw_out",
        "bw_weight",
        "snr_db",
        "range_min",
        "range_max",
        "mac_cycles",
        "mac_runtime_ms",
        "rdma_bytes",
        "weight_bytes",
        "cfunc_runtime_ms",
        "pfunc_runtime_ms",
        "runtime_ms",
        "sync_runtime_ms",
    ] {
        assert!(heads.iter().any(|h| h == key), "missing column {key}");
    }

    let rows: Vec<ElementRef<'_>> = doc.select(&sel("#node-table tbody tr")).collect();
    assert_eq!(rows.len(), r.nodes.len());
    let cell = |row: &ElementRef<'_>, key: &str| -> String {
        let cells: Vec<ElementRef<'_>> = row
            .select(&sel(&format!("td[data-col=\"{key}\"]")))
            .collect();
        assert_eq!(cells.len(), 1, "one {key} cell per row");
        text(cells[0])
    };
    let mut cpu_rows = 0;
    for (i, (row, n)) in rows.iter().zip(&r.nodes).enumerate() {
        assert_eq!(row.value().attr("id"), Some(format!("node-{i}").as_str()));
        assert_eq!(row.select(&sel("td")).count(), heads.len());
        assert_eq!(cell(row, "index"), (i + 1).to_string());
        assert_eq!(cell(row, "name"), n.name);
        assert_eq!(cell(row, "origin"), n.origin.join(", "));
        assert_eq!(cell(row, "node_type"), n.node_type);
        assert_eq!(cell(row, "op"), n.op);
        assert_eq!(cell(row, "backend"), n.backend.clone().unwrap_or_default());
        let bw_in: Vec<String> = n.bw_in.iter().map(u32::to_string).collect();
        assert_eq!(cell(row, "bw_in"), bw_in.join("/"));
        assert_eq!(cell(row, "bw_out"), n.bw_out.to_string());
        assert_eq!(
            cell(row, "bw_weight"),
            n.bw_weight.map(|v| v.to_string()).unwrap_or_default()
        );
        assert_eq!(cell(row, "snr_db"), snr_text(n.snr_db), "snr of {}", n.name);
        assert_eq!(cell(row, "macs"), n.macs.map(grouped).unwrap_or_default());
        assert_eq!(
            cell(row, "mac_cycles"),
            n.mac_cycles.map(grouped).unwrap_or_default()
        );
        assert_eq!(
            cell(row, "weight_bytes"),
            n.weight_bytes.map(grouped).unwrap_or_default()
        );
        assert_eq!(
            cell(row, "radix"),
            n.radix.map(|v| v.to_string()).unwrap_or_default()
        );
        for (key, v) in [
            ("mac_runtime_ms", n.mac_runtime_ms),
            ("runtime_ms", n.runtime_ms),
            ("sync_runtime_ms", n.sync_runtime_ms),
            ("pfunc_runtime_ms", n.pfunc_runtime_ms),
        ] {
            let got = cell(row, key);
            match v {
                None => assert_eq!(got, "", "{key} of {} should be empty", n.name),
                Some(v) => {
                    let parsed: f64 = got.replace('−', "-").parse().expect("numeric cell");
                    assert!(
                        (parsed - v).abs() <= v.abs() * 1e-3 + 1e-9,
                        "{key} of {}: {got} vs {v}",
                        n.name
                    );
                }
            }
        }
        match n.range {
            None => assert_eq!(cell(row, "range_max"), ""),
            Some((lo, hi)) => {
                let lo_cell: f64 = cell(row, "range_min").replace('−', "-").parse().unwrap();
                let hi_cell: f64 = cell(row, "range_max").replace('−', "-").parse().unwrap();
                assert!((lo_cell - f64::from(lo)).abs() <= f64::from(lo.abs()) * 1e-3);
                assert!((hi_cell - f64::from(hi)).abs() <= f64::from(hi.abs()) * 1e-3);
            }
        }
        let is_cpu_row = row.value().classes().any(|c| c == "cpu");
        if n.node_type == "CPU" {
            assert!(is_cpu_row, "CPU row {i} not highlighted");
            cpu_rows += 1;
        } else {
            assert!(!is_cpu_row, "row {i} highlighted as CPU");
        }
    }
    assert!(cpu_rows >= 1);
    assert!(r.nodes.iter().any(|n| n.node_type == "FUSED"));

    // The totals row sums the additive columns.
    let total_macs: u64 = r.nodes.iter().filter_map(|n| n.macs).sum();
    let foot = one(&doc, "#node-table tfoot tr");
    assert_eq!(
        text(foot.select(&sel("td[data-col=\"macs\"]")).next().unwrap()),
        grouped(total_macs)
    );
}

#[test]
fn page_references_nothing_external() {
    let r = report();
    let html = render_html(&r);
    let doc = Html::parse_document(&html);
    assert_eq!(doc.select(&sel("script")).count(), 0, "no scripts at all");
    assert_eq!(
        doc.select(&sel("link, iframe, img, object, embed")).count(),
        0
    );
    assert_eq!(doc.select(&sel("[src]")).count(), 0, "no src= attributes");
    let hrefs: Vec<String> = doc
        .select(&sel("[href]"))
        .map(|e| e.value().attr("href").unwrap().to_string())
        .collect();
    assert!(!hrefs.is_empty());
    for h in &hrefs {
        assert!(h.starts_with('#'), "non-local link {h}");
    }
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("@import"));
    assert!(
        !lower.contains("url(http")
            && !lower.contains("url(\"http")
            && !lower.contains("url('http")
    );
    assert!(!lower.contains("src=\"http") && !lower.contains("href=\"http"));
    // The only absolute URL is the SVG namespace name, which browsers never fetch.
    let urls = lower.matches("http").count();
    let namespaces = lower
        .matches("xmlns=\"http://www.w3.org/2000/svg\"")
        .count();
    assert_eq!(urls, namespaces);
    assert!(doc.select(&sel("style")).count() >= 1, "inline CSS");
}

#[test]
fn strings_are_escaped() {
    let r = report();
    let html = render_html(&r);
    assert!(!html.contains("<script>"));
    assert!(!html.contains("<v2>"));
    assert!(!html.contains("<img"));
    assert!(!html.contains("<fc>"));
    let doc = Html::parse_document(&html);
    // The parser gives the original strings back.
    let names: Vec<String> = doc
        .select(&sel("#node-table tbody td[data-col=\"name\"]"))
        .map(text)
        .collect();
    assert!(names.iter().any(|n| n == NASTY.trim()));
    assert!(names.iter().any(|n| n == "classifier<fc>&\"logits\""));
    assert_eq!(
        text(one(&doc, "head > title")),
        format!("{} · Radix fixed-point report", r.summary.model_name)
    );
    // A nasty name inside SVG <title> and in a worst-layer list is escaped too.
    let mut worst = r.clone();
    if let Some(v) = worst.nodes[7].snr_db.as_mut() {
        *v = -5.0;
    }
    let doc = parse(&worst);
    let items: Vec<String> = doc.select(&sel("ol.worst-list li a")).map(text).collect();
    assert_eq!(items.first().map(String::as_str), Some(NASTY.trim()));
    let titles: Vec<String> = doc
        .select(&sel("svg.snr-chart rect.bar title"))
        .map(text)
        .collect();
    assert!(titles.iter().any(|t| t.contains(NASTY.trim())));
}

#[test]
fn histograms_show_the_worst_layers_with_clip_lines() {
    let r = report();
    let doc = parse(&r);
    let cards: Vec<ElementRef<'_>> = doc.select(&sel("figure.hist-card")).collect();
    assert_eq!(cards.len(), radix_report::HISTOGRAMS_SHOWN);
    let mut by_snr: Vec<(f64, &str)> = r
        .histograms
        .iter()
        .filter_map(|h| h.snr_db.map(|v| (v, h.tensor.as_str())))
        .collect();
    by_snr.sort_by(|a, b| a.0.total_cmp(&b.0));
    let shown: Vec<String> = cards
        .iter()
        .map(|c| text(c.select(&sel(".hist-title b")).next().unwrap()))
        .collect();
    let expected: Vec<String> = by_snr
        .iter()
        .take(cards.len())
        .map(|(_, t)| t.to_string())
        .collect();
    assert_eq!(shown, expected);
    for c in &cards {
        assert_eq!(c.select(&sel("svg.hist line.clip")).count(), 2);
        assert!(c.select(&sel("svg.hist rect.hb")).count() > 0);
    }
}

#[test]
fn degenerate_histograms_and_odd_values_render() {
    let mut r = report();
    r.histograms.truncate(2);
    r.histograms[0].min = 1.0;
    r.histograms[0].max = 1.0;
    r.histograms[1].bins.clear();
    r.nodes[3].snr_db = Some(f64::NEG_INFINITY);
    r.nodes[4].snr_db = Some(f64::NAN);
    r.nodes[5].snr_db = Some(-12.5);
    let doc = parse(&r);
    assert_eq!(doc.select(&sel("svg.hist")).count(), 2);
    assert_eq!(doc.select(&sel("svg.hist text.hist-empty")).count(), 2);
    // NaN gets no bar; -inf and negative values do.
    let bars = doc.select(&sel("svg.snr-chart rect.bar")).count();
    let expected = r
        .nodes
        .iter()
        .filter(|n| n.snr_db.is_some_and(|v| !v.is_nan()))
        .count();
    assert_eq!(bars, expected);
    for b in doc.select(&sel("svg.snr-chart rect")) {
        for a in ["x", "y", "width", "height"] {
            if let Some(v) = b.value().attr(a) {
                let v: f64 = v.parse().expect("numeric coordinate");
                assert!(v.is_finite());
            }
        }
    }
}

#[test]
fn handles_hundreds_of_nodes() {
    let r = sample_report(600);
    let doc = parse(&r);
    assert_eq!(doc.select(&sel("#node-table tbody tr")).count(), 600);
    let with_snr = r.nodes.iter().filter(|n| n.snr_db.is_some()).count();
    assert_eq!(doc.select(&sel("svg.snr-chart rect.bar")).count(), with_snr);
    // X ticks stay readable.
    let ticks = doc.select(&sel("svg.snr-chart line.axis")).count();
    assert!(ticks <= 24, "{ticks} x ticks");
}

#[test]
fn json_round_trips_and_has_the_documented_fields() {
    let r = report();
    let json = to_json(&r);
    let back = from_json(&json).expect("parses");
    assert_eq!(back, r);

    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let snr = r.summary.snr_db.unwrap();
    assert_eq!(v["summary"]["snr_db"].as_f64(), Some(snr));
    assert_eq!(v["summary"]["btm"].as_bool(), Some(true));
    assert_eq!(v["summary"]["platform"].as_u64(), Some(720));
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), r.nodes.len());
    for (j, n) in nodes.iter().zip(&r.nodes) {
        assert_eq!(j["name"].as_str(), Some(n.name.as_str()));
        let origin: Vec<&str> = j["origin"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(origin, n.origin);
        assert_eq!(j["node_type"].as_str(), Some(n.node_type.as_str()));
        assert_eq!(j["bw_out"].as_u64(), Some(u64::from(n.bw_out)));
        match n.snr_db {
            None => assert!(j["snr_db"].is_null()),
            Some(x) if x == f64::INFINITY => assert_eq!(j["snr_db"].as_str(), Some("inf")),
            Some(x) => assert_eq!(j["snr_db"].as_f64(), Some(x)),
        }
        match n.range {
            None => assert!(j["range"].is_null()),
            Some((lo, hi)) => {
                assert_eq!(j["range"][0].as_f64().map(|x| x as f32), Some(lo));
                assert_eq!(j["range"][1].as_f64().map(|x| x as f32), Some(hi));
            }
        }
        for key in [
            "mac_cycles",
            "runtime_ms",
            "bw_weight",
            "backend",
            "radix",
            "scale",
        ] {
            assert!(j.get(key).is_some(), "node JSON lacks {key}");
        }
    }
    assert!(v["histograms"].as_array().is_some_and(|h| !h.is_empty()));
    assert_eq!(v["evaluator"]["compiler_tiling"].as_str(), Some("default"));
}

#[test]
fn json_has_nulls_for_what_was_not_measured() {
    let r = sample_report_for_mode(20, 1);
    let v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
    assert!(v["summary"]["snr_db"].is_null());
    assert!(v["summary"]["btm"].is_null());
    assert!(
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["snr_db"].is_null())
    );
    let mut none = r.clone();
    none.evaluator = None;
    none.summary.fps = None;
    let v: serde_json::Value = serde_json::from_str(&to_json(&none)).unwrap();
    assert!(v["evaluator"].is_null());
    assert!(v["summary"]["fps"].is_null());
    assert_eq!(from_json(&to_json(&none)).unwrap(), none);
}

#[test]
fn json_keeps_non_finite_values() {
    let mut r = sample_report(10);
    r.nodes[1].snr_db = Some(f64::NEG_INFINITY);
    r.nodes[2].snr_db = Some(f64::NAN);
    r.summary.output_snr_db = vec![("a".into(), f64::INFINITY)];
    r.histograms[0].clip_high = f32::INFINITY;
    let back = from_json(&to_json(&r)).unwrap();
    assert_eq!(back.nodes[0].snr_db, Some(f64::INFINITY));
    assert_eq!(back.nodes[1].snr_db, Some(f64::NEG_INFINITY));
    assert!(back.nodes[2].snr_db.is_some_and(f64::is_nan));
    assert_eq!(
        back.summary.output_snr_db,
        vec![("a".to_string(), f64::INFINITY)]
    );
    assert_eq!(back.histograms[0].clip_high, f32::INFINITY);
    assert!(from_json("{\"summary\": 1}").is_err());
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn write_report_writes_both_files_atomically() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out/nested");
    let r = report();
    let paths = write_report(&r, &dir).expect("writes");
    assert_eq!(paths.html, dir.join(HTML_FILE_NAME));
    assert_eq!(paths.json, dir.join(JSON_FILE_NAME));
    assert_eq!(fs::read_to_string(&paths.html).unwrap(), render_html(&r));
    assert_eq!(fs::read_to_string(&paths.json).unwrap(), to_json(&r));
    assert!(leftovers(&dir).is_empty());

    // Rewriting replaces both files.
    let small = sample_report(8);
    write_report(&small, &dir).expect("rewrites");
    assert_eq!(
        from_json(&fs::read_to_string(&paths.json).unwrap()).unwrap(),
        small
    );
    assert_eq!(
        fs::read_to_string(&paths.html).unwrap(),
        render_html(&small)
    );
    assert!(leftovers(&dir).is_empty());
}

#[test]
fn write_report_into_a_file_path_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    let target = file.join("sub");
    let err = write_report(&report(), &target).expect_err("cannot write under a file");
    assert!(matches!(err, ReportError::Io { .. }));
    let msg = err.to_string();
    assert!(msg.contains(&file.display().to_string()), "message: {msg}");
    assert_eq!(fs::read(&file).unwrap(), b"x");
}

#[test]
fn failed_write_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The HTML target is a (non-empty) directory, so renaming onto it fails after the JSON
    // temporary file has been written.
    fs::create_dir_all(dir.join(HTML_FILE_NAME).join("keep")).unwrap();
    let r = report();
    let err = write_report(&r, dir).expect_err("rename onto a directory fails");
    let msg = err.to_string();
    assert!(
        msg.contains(HTML_FILE_NAME),
        "message names the path: {msg}"
    );
    assert!(
        leftovers(dir).is_empty(),
        "temporary files left: {:?}",
        leftovers(dir)
    );
    // Whatever was put in place is complete.
    if let Ok(json) = fs::read_to_string(dir.join(JSON_FILE_NAME)) {
        assert_eq!(from_json(&json).unwrap(), r);
    }
    assert!(dir.join(HTML_FILE_NAME).is_dir());
}

#[test]
fn unwritable_directory_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ro");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o555)).unwrap();
    let probe = dir.join("probe");
    if fs::write(&probe, b"").is_ok() {
        // Running as root: permissions do not stop us, so this case cannot be staged here
        // (the file-path and rename cases above cover the error path).
        let _ = fs::remove_file(&probe);
        eprintln!("skipping: directory permissions are not enforced for this user");
        return;
    }
    let err = write_report(&report(), &dir).expect_err("read-only directory");
    assert!(
        err.to_string().contains(&dir.display().to_string()),
        "{err}"
    );
    let entries = fs::read_dir(&dir).unwrap().count();
    assert_eq!(entries, 0);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn node_row_default_is_all_unknown() {
    let n = NodeRow::default();
    let v: serde_json::Value = serde_json::to_value(&n).unwrap();
    for key in [
        "snr_db",
        "range",
        "macs",
        "runtime_ms",
        "bw_weight",
        "backend",
    ] {
        assert!(v[key].is_null(), "{key}");
    }
}
