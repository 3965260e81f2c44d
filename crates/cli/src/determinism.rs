//! `sim fuzz --check-determinism`: the same scenario and seed must give the same run. A second
//! run is compared by trace hash; on a mismatch both runs are traced again and the first line
//! where they part is reported.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// A trace sink that keeps the lines in memory.
#[derive(Clone, Default)]
struct Captured(Rc<RefCell<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn traced(sc: &scenario::Scenario, options: &dyn Fn() -> sim::Options) -> Vec<String> {
    let sink = Captured::default();
    let mut opts = options();
    opts.trace = Some(Box::new(sink.clone()));
    sim::run(sc, opts);
    let bytes = sink.0.borrow();
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs the seed again with the options the first run had (`options` makes them afresh);
/// `None` if it matches `first`, else what differs.
pub fn compare(
    sc: &scenario::Scenario,
    options: &dyn Fn() -> sim::Options,
    first: &sim::Outcome,
) -> Option<String> {
    let again = sim::run(sc, options());
    if again.trace_hash == first.trace_hash && again.events == first.events {
        return None;
    }
    let (a, b) = (traced(sc, options), traced(sc, options));
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let line = |t: &[String]| {
        t.get(at)
            .cloned()
            .unwrap_or_else(|| "(end of trace)".into())
    };
    Some(format!(
        "nondeterministic: trace hashes {:016x} and {:016x}; first difference at trace line {}: {} | {}",
        first.trace_hash,
        again.trace_hash,
        at + 1,
        line(&a),
        line(&b)
    ))
}
