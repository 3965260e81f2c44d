//! What the `sim` command's tests share: where the repository is, and running `sim` there
//! as a user would. Each test file uses what it needs of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root: commands run there, so scenario paths read as in the README.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `sim ARGS...` from the repository's root.
pub fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("sim runs")
}
