//! The crate's one error type: every failure carries a sentence a person can act on.

use std::fmt;

/// What went wrong, in words. The harness talks to processes, sockets and files it does not
/// control, so almost every failure is "something outside said no"; a message with the path,
/// address or server involved is more useful to the caller than a taxonomy of variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Self {
        Error::new(format!("{what}: {err}"))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
