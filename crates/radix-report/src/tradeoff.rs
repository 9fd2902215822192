//! The accuracy / speed chart of a mixed-precision run: output SNR against estimated FPS for
//! the uniform and mixed modes, this run's choice marked. Inline SVG, no script.

use std::fmt::Write;

use crate::TradeoffPoint;
use crate::text::esc;

/// The chart, or `None` without points.
pub fn tradeoff_chart(points: &[TradeoffPoint]) -> Option<String> {
    let finite: Vec<&TradeoffPoint> = points
        .iter()
        .filter(|p| p.fps.is_finite() && p.snr_db.is_finite())
        .collect();
    if finite.is_empty() {
        return None;
    }
    let (ml, mr, mt, mb) = (58.0, 24.0, 20.0, 46.0);
    let (width, height) = (760.0, 360.0);
    let (pw, ph) = (width - ml - mr, height - mt - mb);
    let fps_max = finite.iter().map(|p| p.fps).fold(0.0, f64::max) * 1.1;
    let snr_max = finite.iter().map(|p| p.snr_db).fold(0.0, f64::max) * 1.1;
    let snr_min = finite.iter().map(|p| p.snr_db).fold(0.0, f64::min).min(0.0);
    let x = |fps: f64| ml + pw * fps / fps_max.max(1e-9);
    let y = |snr: f64| mt + ph * (1.0 - (snr - snr_min) / (snr_max - snr_min).max(1e-9));
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg class=\"tradeoff\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         role=\"img\" aria-label=\"Output SNR against estimated FPS per bitwidth mode\">"
    );
    // Grid and ticks: five steps on each axis.
    for k in 0..=5 {
        let f = fps_max * k as f64 / 5.0;
        let s = snr_min + (snr_max - snr_min) * k as f64 / 5.0;
        let _ = write!(
            o,
            "<line class=\"grid\" x1=\"{x0:.1}\" y1=\"{mt}\" x2=\"{x0:.1}\" y2=\"{yb:.1}\"/>\
             <text class=\"tick\" x=\"{x0:.1}\" y=\"{yt:.1}\" text-anchor=\"middle\">{f:.0}</text>\
             <line class=\"grid\" x1=\"{ml}\" y1=\"{y0:.1}\" x2=\"{xr:.1}\" y2=\"{y0:.1}\"/>\
             <text class=\"tick\" x=\"{xl:.1}\" y=\"{y1:.1}\" text-anchor=\"end\">{s:.0}</text>",
            x0 = x(f),
            yb = mt + ph,
            yt = mt + ph + 16.0,
            y0 = y(s),
            y1 = y(s) + 4.0,
            xr = ml + pw,
            xl = ml - 6.0,
        );
    }
    let _ = write!(
        o,
        "<text class=\"axis-title\" x=\"{cx:.1}\" y=\"{by:.1}\" text-anchor=\"middle\">estimated FPS (IP evaluator)</text>\
         <text class=\"axis-title\" transform=\"translate(16 {cy:.1}) rotate(-90)\" text-anchor=\"middle\">output SNR (dB)</text>",
        cx = ml + pw / 2.0,
        by = height - 8.0,
        cy = mt + ph / 2.0,
    );
    // The mixbw curve: its points joined in budget order.
    let mut curve: Vec<&&TradeoffPoint> = finite
        .iter()
        .filter(|p| p.label.starts_with("mixbw"))
        .collect();
    curve.sort_by(|a, b| b.fps.total_cmp(&a.fps));
    if curve.len() > 1 {
        let path: Vec<String> = curve
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.fps), y(p.snr_db)))
            .collect();
        let _ = write!(
            o,
            "<polyline class=\"mixbw-curve\" points=\"{}\" fill=\"none\" stroke=\"#9aa5b8\" stroke-dasharray=\"4 3\"/>",
            path.join(" ")
        );
    }
    // The other modes: a dot and a label, labels alternately above and below (neighbours on
    // the mixbw curve sit close).
    let mut others: Vec<&&TradeoffPoint> = finite.iter().filter(|p| !p.chosen).collect();
    others.sort_by(|a, b| a.fps.total_cmp(&b.fps));
    for (k, p) in others.iter().enumerate() {
        let (cx, cy) = (x(p.fps), y(p.snr_db));
        let ty = if k % 2 == 0 { cy - 8.0 } else { cy + 16.0 };
        let _ = write!(
            o,
            "<circle class=\"point\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"4.5\" fill=\"#3b5bdb\"><title>{label}: {snr:.2} dB, {fps:.1} FPS</title></circle>\
             <text class=\"tick\" x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{label}</text>",
            label = esc(&p.label),
            snr = p.snr_db,
            fps = p.fps,
        );
    }
    // This run: a ring over its point, named in the legend.
    for p in finite.iter().filter(|p| p.chosen) {
        let (cx, cy) = (x(p.fps), y(p.snr_db));
        let _ = write!(
            o,
            "<circle class=\"point chosen\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"9\" fill=\"none\" stroke=\"#d9480f\" stroke-width=\"3\"><title>this run: {snr:.2} dB, {fps:.1} FPS</title></circle>\
             <circle cx=\"{lx:.1}\" cy=\"{ly:.1}\" r=\"6\" fill=\"none\" stroke=\"#d9480f\" stroke-width=\"3\"/>\
             <text class=\"axis-title\" x=\"{tx:.1}\" y=\"{ty:.1}\">this run: {snr:.2} dB at {fps:.1} FPS</text>",
            snr = p.snr_db,
            fps = p.fps,
            lx = ml + pw - 230.0,
            ly = mt + 10.0,
            tx = ml + pw - 218.0,
            ty = mt + 14.0,
        );
    }
    o.push_str("</svg>");
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(label: &str, fps: f64, snr_db: f64, chosen: bool) -> TradeoffPoint {
        TradeoffPoint {
            label: label.into(),
            fps,
            snr_db,
            chosen,
        }
    }

    #[test]
    fn marks_the_chosen_point_and_joins_the_mixbw_curve() {
        let pts = [
            point("int8", 700.0, 12.0, false),
            point("mixbw 0.1", 450.0, 17.0, false),
            point("mixbw 0.2", 370.0, 19.0, false),
            point("int16", 190.0, 43.0, false),
            point("this run", 370.0, 19.0, true),
        ];
        let svg = tradeoff_chart(&pts).expect("chart");
        // Four dots, the ring and its legend mark.
        assert_eq!(svg.matches("<circle").count(), 6);
        assert_eq!(svg.matches("point chosen").count(), 1);
        assert!(svg.contains("mixbw-curve"));
        assert!(svg.contains("int16: 43.00 dB, 190.0 FPS"));
        assert!(tradeoff_chart(&[]).is_none());
        assert!(tradeoff_chart(&[point("x", f64::NAN, 1.0, false)]).is_none());
    }
}
