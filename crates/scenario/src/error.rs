//! The one error type of the crate, and the bookkeeping that turns byte spans into lines.

use std::error::Error;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a scenario (or the zoo.cfg it imports) was rejected.
///
/// Users fix files, not Rust values, so every error names the file, the 1-based line and the
/// dotted key (`faults[2].target`, 0-based indices) it is about. `Display` renders
/// `FILE:LINE: KEY: message`, the shape editors and CI logs turn into links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file the error is in: the scenario, or the zoo.cfg it imports.
    pub file: PathBuf,
    /// 1-based. `None` only where no line exists: the file could not be read, or a required
    /// top-level key is missing.
    pub line: Option<usize>,
    /// Dotted key path such as `cluster.servers` or `faults[2].on.send`; empty for TOML syntax
    /// errors, which are not about one key.
    pub key: String,
    pub message: String,
}

impl ScenarioError {
    pub fn new(
        file: impl Into<PathBuf>,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: file.into(),
            line,
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl Error for ScenarioError {}

/// A file being validated: everything an error needs besides the key and the message.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based line holding byte `offset`; offsets past the end count as the last line.
    pub fn line_of(&self, offset: usize) -> usize {
        let bytes = self.text.as_bytes();
        let end = offset.min(bytes.len());
        bytes
            .get(..end)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
            + 1
    }

    /// An error about the value or key at `span`.
    pub fn err(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError::new(self.file, Some(self.line_of(span.start)), key, msg)
    }

    /// An error with no place in the file.
    pub fn err_no_line(&self, key: impl Into<String>, msg: impl Into<String>) -> ScenarioError {
        ScenarioError::new(self.file, None, key, msg)
    }
}

pub(crate) type Result<T, E = ScenarioError> = std::result::Result<T, E>;
