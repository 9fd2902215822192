//! radix-report: the fixed-point quality report (`model_fx_report.html` and `.json`).
//!
//! The facade fills a [`Report`] (plain data, no dependency on any other radix crate) and calls
//! [`write_report`]. The HTML is one self-contained file (inline CSS and SVG, no scripts, no
//! network references) with the summary, a per-layer SNR chart, range histograms of the worst
//! layers and the node table; the JSON is the serde form of the same [`Report`].
//!
//! Unknown figures are `None`: `null` in the JSON and an empty cell (or a dash) in the HTML. The
//! report never estimates a missing number.

#![deny(missing_docs)]

mod html;
mod model;
pub mod sample;
mod svg;
mod text;
mod tradeoff;
mod write;

use std::path::{Path, PathBuf};

pub use html::{HISTOGRAMS_SHOWN, column_keys};
pub use model::{
    EvaluatorSummary, Finding, FindingLevel, MixedLayer, MixedPrecision, NodeRow, RangeHistogram,
    Report, Summary, TradeoffPoint,
};
pub use svg::{SNR_BAD_DB, SNR_GOOD_DB};

/// File name of the HTML report inside the output directory.
pub const HTML_FILE_NAME: &str = "model_fx_report.html";
/// File name of the JSON report inside the output directory.
pub const JSON_FILE_NAME: &str = "model_fx_report.json";

/// Where [`write_report`] put the two files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    /// `dir/model_fx_report.html`.
    pub html: PathBuf,
    /// `dir/model_fx_report.json`.
    pub json: PathBuf,
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file-system operation failed on `path`.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "create directory" or "write".
        action: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The report could not be serialised to JSON, or [`from_json`] was given text that is not
    /// a report.
    #[error("cannot serialise the report to JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Renders the self-contained HTML page.
pub fn render_html(report: &Report) -> String {
    html::render(report)
}

/// The report as pretty-printed JSON (the serde form of [`Report`]). Non-finite floats are the
/// strings `"inf"`, `"-inf"` and `"nan"`; unknown values are `null`.
pub fn to_json(report: &Report) -> String {
    match try_to_json(report) {
        Ok(s) => s,
        // Unreachable with this data model (string keys only, no failing Serialize impl), but an
        // error document beats a panic.
        Err(e) => serde_json::json!({ "error": e.to_string() }).to_string(),
    }
}

/// Like [`to_json`], reporting a serialisation failure instead of embedding it.
pub fn try_to_json(report: &Report) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(report)?;
    s.push('\n');
    Ok(s)
}

/// Parses a report written by [`to_json`].
pub fn from_json(json: &str) -> Result<Report, ReportError> {
    Ok(serde_json::from_str(json)?)
}

/// Writes `model_fx_report.html` and `model_fx_report.json` into `dir` (created if missing).
///
/// Each file is written to a temporary file in `dir` and renamed into place, so a reader never
/// sees a partial file; on any failure the temporary files are removed and the error names the
/// path that failed.
pub fn write_report(report: &Report, dir: &Path) -> Result<ReportPaths, ReportError> {
    let json = try_to_json(report)?;
    let html = render_html(report);
    let paths = ReportPaths {
        html: dir.join(HTML_FILE_NAME),
        json: dir.join(JSON_FILE_NAME),
    };
    write::write_all_atomic(
        dir,
        &[
            (&paths.json, json.as_bytes()),
            (&paths.html, html.as_bytes()),
        ],
    )?;
    Ok(paths)
}
