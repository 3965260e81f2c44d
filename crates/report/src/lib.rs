//! Renders a run for people and for machines: the text summary that `sim run` prints, the
//! JSON object of `sim run --json` (its keys are a contract, see DESIGN.md), and the HTML
//! report of `sim run --report` and `sim report`, and the report of a `sim fuzz` sweep.

pub mod coverage;
pub mod html;
mod json;
mod summary;
pub mod sweep;

pub use json::json;
pub use summary::summary;

pub use sim::Attribution;

/// The command that reproduces a run exactly.
pub fn reproduce_command(
    o: &sim::Outcome,
    zk: Option<zab::ZkVersion>,
    extra_bugs: &[String],
) -> String {
    reproduce_command_for(&o.path, o.seed, zk, extra_bugs)
}

/// The same command before the run has an outcome (for the trace's header).
/// `zk` is the release named on the command line, if one was: a scenario's own `zk` key
/// needs no flag.
pub fn reproduce_command_for(
    path: &std::path::Path,
    seed: u64,
    zk: Option<zab::ZkVersion>,
    extra_bugs: &[String],
) -> String {
    let mut cmd = format!("sim run {} --seed {}", path.display(), seed);
    if let Some(zk) = zk {
        cmd.push_str(&format!(" --zk {zk}"));
    }
    for b in extra_bugs {
        cmd.push_str(&format!(" --bug {b}"));
    }
    cmd
}

pub use sim::story::{count, ms};
