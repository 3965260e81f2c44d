//! The zabsim scenario format (v1): TOML schema, validation and zoo.cfg import.
//!
//! [`load`] and [`parse`] turn a scenario file into a [`Scenario`] the simulator can run
//! without further checks, or into a [`ScenarioError`] that names the file, line and key to fix.

mod cluster;
mod error;
mod expect;
mod faults;
mod files;
mod keypath;
pub mod model;
mod raw;
mod selector;
mod servers;
mod validate;
mod values;
mod write;
mod zoo_cfg;

pub use error::ScenarioError;
pub use faults::{MESSAGES, STATES};
pub use model::*;
pub use write::{selector, to_toml};

use error::Source;
use std::path::Path;

/// Reads and validates the scenario at `path`; a `zoo_cfg` key is resolved relative to the
/// scenario's directory.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = files::read_capped(path)
        .map_err(|e| ScenarioError::new(path, None, "", format!("cannot read: {e}")))?;
    parse(&text, path)
}

/// Validates scenario `text` as if read from `path`, which names the file in errors and is
/// where a `zoo_cfg` key is resolved from (relative to its directory). Never panics.
pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
    let src = Source { file: path, text };
    let raw = toml::from_str::<raw::RawScenario>(text).map_err(|e| keypath::from_toml(src, &e))?;
    validate::scenario(src, raw)
}
