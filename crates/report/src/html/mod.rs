//! The HTML report of a run: one self-contained file (inline style and SVG, no scripts, no
//! fetches) with the election timeline, what led up to each violation, charts and tables;
//! and, in the same style, the report of a `sim fuzz` sweep.
//!
//! A report is made from trace lines, so `sim run --report` (which captures the lines in
//! memory) and `sim report TRACE` (which reads them from a file) share one renderer. `sim
//! run` frames its trace with a `run` line first (scenario, seed, servers, source) and an
//! `outcome` line last (the `--json` result); without them the report still draws the
//! run, just with less to say about it.

mod charts;
mod client_lanes;
mod clients;
mod collect;
mod conform_page;
mod escape;
mod explain;
pub mod line;
mod marks;
pub mod model;
mod page;
mod pairing;
mod recent;
mod scale;
mod sequence;
mod sweep_charts;
mod sweep_coverage;
mod sweep_page;
mod timeline;

pub use collect::{Capture, Collector, MAX_ROWS};
pub use conform_page::{differing, Conformance, Field};
pub use escape::esc;
pub use model::Run;

use serde_json::{json, Value};
use std::io::BufRead;

/// How much of the run before a violation its sequence diagram covers, by default.
pub const DEFAULT_WINDOW_MS: u64 = 300;

/// The `run` line that opens a trace written by `sim run`: what was run, so that a report
/// made from the trace file alone can name it and show its source.
pub fn header_line(
    sc: &scenario::Scenario,
    seed: u64,
    bugs: &[&str],
    reproduce: &str,
    source: Option<&str>,
) -> String {
    let names = |ids: &[zab::ServerId]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    json!({
        "kind": "run",
        "scenario": sc.name,
        "path": sc.path.display().to_string(),
        "description": sc.description,
        "seed": seed,
        "bugs": bugs,
        "servers": names(&sc.cluster.participants),
        "observers": names(&sc.cluster.observers),
        "reproduce": reproduce,
        "source": source,
    })
    .to_string()
}

/// The `outcome` line that closes a trace written by `sim run`: the `--json` result.
pub fn outcome_line(o: &sim::Outcome, command: &str) -> String {
    let mut v = crate::json::json_value(o, command);
    if let Value::Object(map) = &mut v {
        map.insert("kind".into(), Value::from("outcome"));
    }
    v.to_string()
}

/// Reads a whole trace into the report's model.
pub fn read_trace(reader: impl BufRead, window_ms: u64) -> std::io::Result<Run> {
    let mut c = Collector::new(window_ms * 1000);
    for line in reader.lines() {
        c.line(&line?);
    }
    Ok(c.finish())
}

/// The report page.
pub fn render(run: &Run) -> String {
    page::render(run)
}

/// The page of `sim conform --report`: a real run beside the closest simulated one.
pub fn render_conform(c: &Conformance<'_>) -> String {
    conform_page::render(c)
}

/// The report page of a `sim fuzz` sweep.
pub fn render_sweep(sweep: &crate::sweep::Sweep) -> String {
    sweep_page::render(sweep)
}
