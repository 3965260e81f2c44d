//! Golden files: a scenario's `[expect] golden` holds the story (`crate::story`) its own run
//! must tell, as etcd raft's data-driven tests hold their expected output. `sim run
//! --rewrite` regenerates one after a deliberate change; the diff is then reviewed like code.

use crate::outcome::Outcome;
use crate::story::{first_difference, story};
use scenario::Scenario;
use std::path::PathBuf;

/// How a run compares with its scenario's golden file.
#[derive(Debug, PartialEq, Eq)]
pub enum Golden {
    /// The scenario names no golden file.
    None,
    Matches,
    Missing(PathBuf),
    Differs {
        path: PathBuf,
        line: usize,
        golden: String,
        actual: String,
    },
}

impl Golden {
    /// Why the run does not match, for the verdict.
    pub fn reason(&self) -> Option<String> {
        match self {
            Golden::None | Golden::Matches => None,
            Golden::Missing(path) => Some(format!(
                "golden file {} is missing; `sim run SCENARIO --rewrite` writes it",
                path.display()
            )),
            Golden::Differs {
                path,
                line,
                golden,
                actual,
            } => Some(format!(
                "the run's story differs from {} at line {line}:\n    golden: {golden}\n    \
                 run:    {actual}\n  if the change is intended, `sim run SCENARIO --rewrite` \
                 regenerates it; review the diff",
                path.display()
            )),
        }
    }
}

/// Compares a run of `sc` with its own seed and settings against its golden file.
pub fn compare(sc: &Scenario, o: &Outcome) -> Golden {
    let Some(path) = sc.golden_path() else {
        return Golden::None;
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Golden::Missing(path);
    };
    match first_difference(&text, &story(o)) {
        None => Golden::Matches,
        Some((line, golden, actual)) => Golden::Differs {
            path,
            line,
            golden,
            actual,
        },
    }
}

/// Writes the run's story as the scenario's golden file; errors name the file.
pub fn rewrite(sc: &Scenario, o: &Outcome) -> Result<PathBuf, String> {
    let Some(path) = sc.golden_path() else {
        return Err(format!(
            "{}: [expect] has no `golden` key naming the file to write",
            sc.path.display()
        ));
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&path, story(o)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Marks a run that broke its golden file as failed (exit 1: behaviour changed).
pub fn apply(o: &mut Outcome, g: &Golden) {
    if let Some(reason) = g.reason() {
        o.verdict.passed = false;
        if o.verdict.exit_code == 0 {
            o.verdict.exit_code = 1;
        }
        o.verdict.reasons.push(reason);
    }
}
