//! Reading the files a scenario names.

use std::io::Read;
use std::path::Path;

/// Scenario and zoo.cfg files are a few kilobytes; the limit keeps a mistyped path such as
/// /dev/zero from eating memory.
pub(crate) const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads a text file, refusing anything over `MAX_FILE_BYTES`.
pub(crate) fn read_capped(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        let msg = format!("larger than {MAX_FILE_BYTES} bytes");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, msg));
    }
    Ok(text)
}
