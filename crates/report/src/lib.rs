//! Renders a run for people and for machines: the text summary that `sim run` prints, and the
//! JSON object of `sim run --json` (its keys are a contract, see DESIGN.md).

mod json;
mod summary;

pub use json::json;
pub use summary::summary;

/// The command that reproduces a run exactly.
pub fn reproduce_command(o: &sim::Outcome, extra_bugs: &[String]) -> String {
    let mut cmd = format!("sim run {} --seed {}", o.path.display(), o.seed);
    for b in extra_bugs {
        cmd.push_str(&format!(" --bug {b}"));
    }
    cmd
}

/// Milliseconds with up to three decimals, for times kept in microseconds.
pub fn ms(us: u64) -> String {
    if us.is_multiple_of(1000) {
        format!("{}", us / 1000)
    } else {
        format!("{:.3}", us as f64 / 1000.0)
    }
}
