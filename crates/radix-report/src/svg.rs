//! Inline SVG charts: the per-layer SNR chart and the small range histograms.
//!
//! Plain SVG elements only (no scripts, no external references); each bar carries a `<title>`
//! so a browser shows the layer on hover.

use std::fmt::Write;

use crate::model::{NodeRow, RangeHistogram};
use crate::text::{coord, db, esc, num};

/// SNR at or above this is fine for int8 (Kneron's guidance).
pub const SNR_GOOD_DB: f64 = 20.0;
/// Below this the quantisation is clearly broken.
pub const SNR_BAD_DB: f64 = 10.0;

/// The CSS class of an SNR value: `good`, `warn` or `bad`.
pub fn snr_class(v: f64) -> &'static str {
    if v.is_nan() {
        "na"
    } else if v >= SNR_GOOD_DB {
        "good"
    } else if v >= SNR_BAD_DB {
        "warn"
    } else {
        "bad"
    }
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) near `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let f = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * p
}

/// Indices of the `k` lowest finite SNRs, worst first.
pub fn worst_layers(nodes: &[NodeRow], k: usize) -> Vec<usize> {
    let mut idx: Vec<(usize, f64)> = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| n.snr_db.filter(|v| v.is_finite()).map(|v| (i, v)))
        .collect();
    idx.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    idx.into_iter().take(k).map(|(i, _)| i).collect()
}

/// Number of worst layers labelled in the chart.
pub const LABELLED_WORST: usize = 5;

struct Placed {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Placed {
    fn overlaps(&self, o: &Placed) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

/// The per-layer SNR bar chart, or `None` when no node has an SNR.
pub fn snr_chart(nodes: &[NodeRow]) -> Option<String> {
    let finite: Vec<f64> = nodes
        .iter()
        .filter_map(|n| n.snr_db)
        .filter(|v| v.is_finite())
        .collect();
    let any_value = nodes.iter().any(|n| n.snr_db.is_some_and(|v| !v.is_nan()));
    if !any_value {
        return None;
    }
    let has_inf = nodes.iter().any(|n| n.snr_db == Some(f64::INFINITY));
    let n = nodes.len().max(1);

    // Geometry.
    let (ml, mr, mt, mb) = (58.0, 52.0, 34.0, 46.0);
    let plot_w = (n as f64 * 2.5).max(1020.0);
    let width = plot_w + ml + mr;
    let height = 340.0;
    let plot_h = height - mt - mb;
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.74).max(1.0);

    // Value domain: include 0 and some headroom above the 20 dB guide.
    let fmin = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let fmax = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let data_lo = if fmin.is_finite() { fmin.min(0.0) } else { 0.0 };
    let data_hi = if fmax.is_finite() {
        fmax.max(SNR_GOOD_DB + 10.0)
    } else {
        SNR_GOOD_DB + 10.0
    };
    let step = nice_step((data_hi - data_lo) / 6.0);
    let lo = (data_lo / step).floor() * step;
    let mut hi = (data_hi / step).ceil() * step;
    if has_inf && fmax.is_finite() && fmax > hi - 0.5 * step {
        // Leave a visible gap between the tallest finite bar and the capped exact ones.
        hi += step;
    }
    let y = |v: f64| mt + (hi - v.clamp(lo, hi)) / (hi - lo) * plot_h;
    let x_of = |i: usize| ml + slot * i as f64 + (slot - bar_w) / 2.0;
    let y0 = y(0.0);

    let mut s = String::with_capacity(256 + nodes.len() * 220);
    let _ = write!(
        s,
        r#"<svg class="snr-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" style="min-width:{w}px" role="img" aria-labelledby="snr-chart-title">"#,
        w = coord(width),
        h = coord(height),
    );
    let _ = write!(
        s,
        r#"<title id="snr-chart-title">Per-layer SNR (dB) in topological order</title>"#
    );
    s.push_str(
        r##"<defs><pattern id="exact-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#2f9e6b"/><line x1="0" y1="0" x2="0" y2="6" stroke="#a7e3c4" stroke-width="3"/></pattern></defs>"##,
    );

    // Quality bands behind everything.
    let band = |s: &mut String, from: f64, to: f64, class: &str| {
        let (a, b) = (y(to), y(from));
        if b > a {
            let _ = write!(
                s,
                r#"<rect class="band {class}" x="{x}" y="{y}" width="{w}" height="{h}"/>"#,
                x = coord(ml),
                y = coord(a),
                w = coord(plot_w),
                h = coord(b - a),
            );
        }
    };
    band(&mut s, lo, SNR_BAD_DB.max(lo), "bad");
    band(&mut s, SNR_BAD_DB.max(lo), SNR_GOOD_DB.max(lo), "warn");

    // Y grid and ticks.
    let mut t = lo;
    let mut guard = 0;
    while t <= hi + step * 1e-6 && guard < 100 {
        let yy = y(t);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"/><text class="tick" x="{tx}" y="{ty}" text-anchor="end">{label}</text>"#,
            x1 = coord(ml),
            x2 = coord(ml + plot_w),
            y = coord(yy),
            tx = coord(ml - 8.0),
            ty = coord(yy + 4.0),
            label = num(t),
        );
        t += step;
        guard += 1;
    }
    let _ = write!(
        s,
        r#"<text class="axis-title" transform="translate(16 {cy}) rotate(-90)" text-anchor="middle">SNR (dB)</text>"#,
        cy = coord(mt + plot_h / 2.0),
    );

    // X ticks: about 20 at most.
    let xstep = [
        1usize, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000,
    ]
    .into_iter()
    .find(|st| n / st <= 20)
    .unwrap_or(10_000);
    let mut i = 0usize;
    while i < n {
        let label = i + 1;
        if label == 1 || label.is_multiple_of(xstep) {
            let cx = ml + slot * (label - 1) as f64 + slot / 2.0;
            let _ = write!(
                s,
                r#"<line class="axis" x1="{x}" x2="{x}" y1="{a}" y2="{b}"/><text class="tick" x="{x}" y="{ty}" text-anchor="middle">{label}</text>"#,
                x = coord(cx),
                a = coord(mt + plot_h),
                b = coord(mt + plot_h + 5.0),
                ty = coord(mt + plot_h + 18.0),
            );
        }
        i += 1;
    }
    let _ = write!(
        s,
        r#"<text class="axis-title" x="{x}" y="{y}" text-anchor="middle">layer (topological order)</text>"#,
        x = coord(ml + plot_w / 2.0),
        y = coord(height - 6.0),
    );

    // Bars. `bar_tops[i]` is the highest y any mark of layer i reaches (for label placement).
    let mut bar_tops = vec![y0; nodes.len()];
    s.push_str(r#"<g class="bars">"#);
    for (i, node) in nodes.iter().enumerate() {
        let x = x_of(i);
        let tip_head = format!("#{} {} ({})", i + 1, node.name, node.op);
        match node.snr_db {
            Some(v) if v == f64::INFINITY => {
                let top = y(hi);
                bar_tops[i] = top - 14.0;
                let _ = write!(
                    s,
                    r#"<rect class="bar exact" data-node="{i}" x="{x}" y="{y}" width="{w}" height="{h}"><title>{tip}: ∞ dB (bit-exact; bar capped)</title></rect>"#,
                    x = coord(x),
                    y = coord(top),
                    w = coord(bar_w),
                    h = coord((y0 - top).max(0.0)),
                    tip = esc(&tip_head),
                );
                let cx = x + bar_w / 2.0;
                if slot >= 9.0 {
                    let _ = write!(
                        s,
                        r#"<text class="inf-mark" x="{cx}" y="{ty}" text-anchor="middle">∞</text>"#,
                        cx = coord(cx),
                        ty = coord(top - 3.0),
                    );
                } else {
                    let _ = write!(
                        s,
                        r#"<path class="inf-mark" d="M{a} {ty} L{b} {ty} L{cx} {tb} Z"/>"#,
                        a = coord(cx - 2.5),
                        b = coord(cx + 2.5),
                        cx = coord(cx),
                        ty = coord(top - 6.0),
                        tb = coord(top - 2.0),
                    );
                }
            }
            Some(v) if !v.is_nan() => {
                let yv = y(v);
                let (top, h) = if yv <= y0 {
                    (yv, y0 - yv)
                } else {
                    (y0, yv - y0)
                };
                bar_tops[i] = top;
                let capped = if v == f64::NEG_INFINITY || v < lo {
                    " (capped)"
                } else {
                    ""
                };
                let _ = write!(
                    s,
                    r#"<rect class="bar {cls}" data-node="{i}" x="{x}" y="{y}" width="{w}" height="{h}"><title>{tip}: {val} dB{capped}</title></rect>"#,
                    cls = snr_class(v),
                    x = coord(x),
                    y = coord(top),
                    w = coord(bar_w),
                    h = coord(h.max(0.75)),
                    tip = esc(&tip_head),
                    val = db(v),
                );
            }
            _ => {
                let _ = write!(
                    s,
                    r#"<rect class="na" x="{x}" y="{y}" width="{w}" height="3"><title>{tip}: no SNR</title></rect>"#,
                    x = coord(x),
                    y = coord(y0 - 1.5),
                    w = coord(bar_w),
                    tip = esc(&tip_head),
                );
            }
        }
    }
    s.push_str("</g>");

    // Zero baseline and the 20 dB guide.
    let _ = write!(
        s,
        r#"<line class="axis" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"/>"#,
        x1 = coord(ml),
        x2 = coord(ml + plot_w),
        y = coord(y0),
    );
    let yg = y(SNR_GOOD_DB);
    let _ = write!(
        s,
        r#"<line class="guide" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"/><text class="guide-label" x="{tx}" y="{ty}" text-anchor="start">20 dB</text>"#,
        x1 = coord(ml),
        x2 = coord(ml + plot_w),
        y = coord(yg),
        tx = coord(ml + plot_w + 6.0),
        ty = coord(yg + 4.0),
    );

    // Worst layers: numbered marker above the bar plus a name label, placed clear of the bars
    // under it and of the labels already placed.
    let top_under = |x0: f64, x1: f64| -> f64 {
        (0..nodes.len())
            .filter(|&j| x_of(j) < x1 && x0 < x_of(j) + bar_w)
            .map(|j| bar_tops[j])
            .fold(f64::INFINITY, f64::min)
    };
    // The 20 dB guide counts as taken, so no label sits on its dashes.
    let mut placed: Vec<Placed> = vec![Placed {
        x0: ml,
        x1: ml + plot_w,
        y0: yg - 2.0,
        y1: yg + 2.0,
    }];
    // Leaders first, then markers and labels, so no leader crosses a label.
    let mut leaders = String::new();
    let mut marks = String::new();
    for (rank, &i) in worst_layers(nodes, LABELLED_WORST).iter().enumerate() {
        let Some(v) = nodes[i].snr_db else { continue };
        let cx = x_of(i) + bar_w / 2.0;
        let bar_top = y(v).min(y0);
        // Short names in full; long ones by layer number (the list under the chart names them).
        let who = if nodes[i].name.chars().count() <= 20 {
            nodes[i].name.clone()
        } else {
            format!("#{}", i + 1)
        };
        let label = format!("{who} · {} dB", db(v));
        let tw = label.chars().count() as f64 * 6.3 + 6.0;
        // Label to the right of the marker when it fits, else to the left; of the sides that
        // fit, the one over lower bars (so the marker stays near its bar).
        let span = |right: bool| {
            if right {
                (cx - 9.0, cx + 12.0 + tw)
            } else {
                (cx - 12.0 - tw, cx + 9.0)
            }
        };
        let fits_right = cx + 12.0 + tw <= ml + plot_w;
        let fits_left = cx - 12.0 - tw >= ml;
        let clear_y = |right: bool| {
            let (x0, x1) = span(right);
            (top_under(x0, x1) - 11.0).min(bar_top - 12.0)
        };
        let right = match (fits_right, fits_left) {
            (true, true) => clear_y(true) >= clear_y(false),
            (r, _) => r,
        };
        let (x0, x1) = span(right);
        let mut my = clear_y(right).max(mt + 8.0);
        let mut bx = Placed {
            x0,
            x1,
            y0: my - 8.0,
            y1: my + 8.0,
        };
        let mut tries = 0;
        while placed.iter().any(|p| p.overlaps(&bx)) && tries < 12 {
            my -= 17.0;
            if my < 10.0 {
                my = bar_top + 14.0 + 17.0 * tries as f64;
            }
            bx.y0 = my - 8.0;
            bx.y1 = my + 8.0;
            tries += 1;
        }
        let (tx, anchor) = if right {
            (cx + 11.0, "start")
        } else {
            (cx - 11.0, "end")
        };
        // The leader runs from the marker's edge to the bar top.
        let ly = if my < bar_top { my + 8.0 } else { my - 8.0 };
        let _ = write!(
            leaders,
            r#"<line class="leader" x1="{cx}" x2="{cx}" y1="{ly}" y2="{bt}"/>"#,
            cx = coord(cx),
            ly = coord(ly),
            bt = coord(bar_top),
        );
        let _ = write!(
            marks,
            r##"<a class="worst" href="#node-{i}"><circle class="worst-dot" cx="{cx}" cy="{my}" r="8"/><text class="worst-rank" x="{cx}" y="{ry}" text-anchor="middle">{r}</text><text class="worst-label" x="{tx}" y="{ry}" text-anchor="{anchor}">{label}</text></a>"##,
            cx = coord(cx),
            my = coord(my),
            ry = coord(my + 3.8),
            r = rank + 1,
            tx = coord(tx),
            label = esc(&label),
        );
        placed.push(bx);
    }
    s.push_str(&leaders);
    s.push_str(&marks);
    s.push_str("</svg>");
    Some(s)
}

/// Fraction of histogram mass whose bin centre lies outside the clip range.
pub fn clipped_fraction(h: &RangeHistogram) -> Option<f64> {
    let total: u64 = h.bins.iter().sum();
    if total == 0 || !h.min.is_finite() || !h.max.is_finite() || h.max <= h.min {
        return None;
    }
    let (min, max) = (f64::from(h.min), f64::from(h.max));
    let w = (max - min) / h.bins.len() as f64;
    let out: u64 = h
        .bins
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let c = min + w * (*i as f64 + 0.5);
            c < f64::from(h.clip_low) || c > f64::from(h.clip_high)
        })
        .map(|(_, c)| *c)
        .sum();
    Some(out as f64 / total as f64)
}

/// A small histogram of one tensor's values with its clip thresholds (log-scaled counts).
pub fn histogram(h: &RangeHistogram) -> String {
    let (w, ht) = (340.0, 150.0);
    let (ml, mr, mt, mb) = (10.0, 10.0, 14.0, 30.0);
    let pw = w - ml - mr;
    let ph = ht - mt - mb;
    let mut s = String::with_capacity(512 + h.bins.len() * 90);
    let _ = write!(
        s,
        r#"<svg class="hist" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {ht}" width="{w}" height="{ht}" role="img"><title>Range histogram of {name}</title>"#,
        w = coord(w),
        ht = coord(ht),
        name = esc(&h.tensor),
    );
    let vals = [h.min, h.max, h.clip_low, h.clip_high];
    let lo = vals.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let maxc = h.bins.iter().copied().max().unwrap_or(0);
    let message = if !vals.iter().all(|v| v.is_finite()) {
        Some("non-finite range".to_string())
    } else if h.max <= h.min || hi <= lo {
        Some(format!("constant value {}", num(f64::from(h.min))))
    } else if h.bins.is_empty() || maxc == 0 {
        Some("no samples".to_string())
    } else {
        None
    };
    if let Some(m) = message {
        let _ = write!(
            s,
            r#"<text class="hist-empty" x="{x}" y="{y}" text-anchor="middle">{m}</text></svg>"#,
            x = coord(w / 2.0),
            y = coord(ht / 2.0),
            m = esc(&m),
        );
        return s;
    }
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    let x = |v: f64| ml + (v - lo) / (hi - lo) * pw;
    let base = mt + ph;
    let lmax = (maxc as f64).ln_1p();
    let (min, max) = (f64::from(h.min), f64::from(h.max));
    let bw = (max - min) / h.bins.len() as f64;
    let (cl, ch) = (f64::from(h.clip_low), f64::from(h.clip_high));

    let _ = write!(
        s,
        r#"<rect class="hist-bg" x="{x}" y="{y}" width="{w}" height="{h}"/>"#,
        x = coord(x(cl)),
        y = coord(mt),
        w = coord((x(ch) - x(cl)).max(0.0)),
        h = coord(ph),
    );
    for (i, &c) in h.bins.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let a = min + bw * i as f64;
        let b = a + bw;
        let centre = (a + b) / 2.0;
        let bh = (c as f64).ln_1p() / lmax * ph;
        let cls = if centre < cl || centre > ch {
            "hb out"
        } else {
            "hb"
        };
        let _ = write!(
            s,
            r#"<rect class="{cls}" x="{x}" y="{y}" width="{w}" height="{h}"><title>[{a}, {b}): {c}</title></rect>"#,
            x = coord(x(a)),
            y = coord(base - bh),
            w = coord((x(b) - x(a)).max(0.6)),
            h = coord(bh),
            a = num(a),
            b = num(b),
        );
    }
    let _ = write!(
        s,
        r#"<line class="axis" x1="{x1}" x2="{x2}" y1="{y}" y2="{y}"/>"#,
        x1 = coord(ml),
        x2 = coord(ml + pw),
        y = coord(base),
    );
    if lo < 0.0 && hi > 0.0 {
        let _ = write!(
            s,
            r#"<line class="zero" x1="{x}" x2="{x}" y1="{a}" y2="{b}"/>"#,
            x = coord(x(0.0)),
            a = coord(mt),
            b = coord(base),
        );
    }
    for (v, label) in [(cl, "clip low"), (ch, "clip high")] {
        let _ = write!(
            s,
            r#"<line class="clip" x1="{x}" x2="{x}" y1="{a}" y2="{b}"><title>{label} {val}</title></line>"#,
            x = coord(x(v)),
            a = coord(mt - 6.0),
            b = coord(base),
            val = num(v),
        );
    }
    // End labels (data range) under the axis.
    let _ = write!(
        s,
        r#"<text class="tick" x="{x1}" y="{ty}" text-anchor="start">{lo}</text><text class="tick" x="{x2}" y="{ty}" text-anchor="end">{hi}</text>"#,
        x1 = coord(ml),
        x2 = coord(ml + pw),
        ty = coord(base + 14.0),
        lo = num(lo),
        hi = num(hi),
    );
    if lo < 0.0 && hi > 0.0 {
        let zx = x(0.0);
        if zx - ml > 40.0 && ml + pw - zx > 40.0 {
            let _ = write!(
                s,
                r#"<text class="tick" x="{x}" y="{ty}" text-anchor="middle">0</text>"#,
                x = coord(zx),
                ty = coord(base + 14.0),
            );
        }
    }
    let _ = write!(
        s,
        r#"<text class="tick faint" x="{x}" y="{ty}" text-anchor="middle">log count</text>"#,
        x = coord(ml + pw / 2.0),
        ty = coord(base + 26.0),
    );
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(4.2), 5.0);
        assert_eq!(nice_step(0.9), 1.0);
        assert_eq!(nice_step(17.0), 20.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }

    #[test]
    fn classes_follow_kneron_guidance() {
        assert_eq!(snr_class(25.0), "good");
        assert_eq!(snr_class(20.0), "good");
        assert_eq!(snr_class(19.9), "warn");
        assert_eq!(snr_class(10.0), "warn");
        assert_eq!(snr_class(9.9), "bad");
        assert_eq!(snr_class(f64::INFINITY), "good");
        assert_eq!(snr_class(f64::NEG_INFINITY), "bad");
    }

    #[test]
    fn clipped_fraction_counts_bins_outside() {
        let h = RangeHistogram {
            tensor: "t".into(),
            min: 0.0,
            max: 4.0,
            clip_low: 0.0,
            clip_high: 3.0,
            bins: vec![1, 1, 1, 1],
            snr_db: None,
        };
        assert_eq!(clipped_fraction(&h), Some(0.25));
    }

    #[test]
    fn no_chart_without_snr() {
        let nodes = vec![NodeRow::default(); 3];
        assert!(snr_chart(&nodes).is_none());
    }
}
