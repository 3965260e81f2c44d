//! Where java and the ZooKeeper jars are.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The hint every "not installed" message ends with.
const INSTALL_HINT: &str = "install it with `apt-get install zookeeper` (Debian/Ubuntu; it brings Java too), or point Install::from_home at an unpacked Apache ZooKeeper 3.8.0 release";

/// The java binary and the class path a ZooKeeper server needs.
///
/// Debian's `zookeeper.jar` names its own dependencies in its manifest's `Class-Path`
/// (commons, jackson, jetty, netty, metrics, snappy, slf4j-api, zookeeper-jute), so the
/// Debian class path only adds what the manifest leaves out: an slf4j binding and log4j 1.2,
/// without which the server logs nothing. An Apache tarball instead ships every jar in
/// `lib/`, with logback as the binding; the run directory carries a configuration for both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// The `java` executable.
    pub java: PathBuf,
    /// Jars, in class-path order.
    pub classpath: Vec<PathBuf>,
}

impl Install {
    /// Debian's layout: `/usr/share/java/zookeeper.jar` and friends, java from `JAVA_HOME`,
    /// `/usr/bin/java` or `PATH`.
    pub fn debian() -> Result<Install> {
        Self::from_java_dir(Path::new("/usr/share/java"))
    }

    /// [`Install::debian`] for a test that needs a real ZooKeeper. Without one it prints
    /// `SKIPPED: <what>: <why>` straight to stderr, past the test harness's capture, since a
    /// skip must show, and returns `None`; with `ZABSIM_REQUIRE_ZK=1` (CI sets it) it panics
    /// instead, since there a skip would hide a component the machine must have.
    pub fn debian_or_skip(what: &str) -> Option<Install> {
        match Install::debian() {
            Ok(i) => Some(i),
            Err(e) => {
                if std::env::var("ZABSIM_REQUIRE_ZK").as_deref() == Ok("1") {
                    panic!("ZABSIM_REQUIRE_ZK=1 but {what} cannot run: {e}");
                }
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr(),
                    format!("SKIPPED: {what}: {e}\n").as_bytes(),
                );
                None
            }
        }
    }

    /// Debian's layout with the jars in `java_dir` instead of `/usr/share/java`.
    pub fn from_java_dir(java_dir: &Path) -> Result<Install> {
        let java = find_java()?;
        let names = ["zookeeper.jar", "slf4j-log4j12.jar", "log4j-1.2.jar"];
        let mut classpath = Vec::new();
        let mut missing = Vec::new();
        for name in names {
            let path = java_dir.join(name);
            if path.is_file() {
                classpath.push(path);
            } else {
                missing.push(path.display().to_string());
            }
        }
        if !missing.is_empty() {
            return Err(Error::new(format!(
                "ZooKeeper is not installed: missing {}; {INSTALL_HINT}",
                missing.join(", ")
            )));
        }
        Ok(Install { java, classpath })
    }

    /// An unpacked Apache release: every `home/lib/*.jar`.
    pub fn from_home(home: &Path) -> Result<Install> {
        let java = find_java()?;
        let lib = home.join("lib");
        let entries = std::fs::read_dir(&lib).map_err(|e| {
            Error::new(format!(
                "ZooKeeper home {} has no readable lib/ ({e}); {INSTALL_HINT}",
                home.display()
            ))
        })?;
        let mut classpath: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jar"))
            .collect();
        classpath.sort();
        let has_server = classpath.iter().any(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("zookeeper-3") || n == "zookeeper.jar")
        });
        if !has_server {
            return Err(Error::new(format!(
                "no zookeeper-3*.jar in {}; {INSTALL_HINT}",
                lib.display()
            )));
        }
        Ok(Install { java, classpath })
    }

    /// The class path as java's `-cp` wants it.
    pub fn classpath_arg(&self) -> String {
        let parts: Vec<String> = self
            .classpath
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        parts.join(":")
    }
}

/// `JAVA_HOME/bin/java`, else `/usr/bin/java`, else the first `java` on `PATH`.
fn find_java() -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        candidates.push(PathBuf::from(home).join("bin/java"));
    }
    candidates.push(PathBuf::from("/usr/bin/java"));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("java")));
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        Error::new(format!(
            "java is not installed (looked in JAVA_HOME, /usr/bin and PATH); {INSTALL_HINT}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_jars_name_the_install_command() {
        let dir = std::env::temp_dir().join("conform-no-such-java-dir");
        match Install::from_java_dir(&dir) {
            Ok(_) => panic!("an empty directory cannot hold ZooKeeper"),
            Err(e) => {
                // Either java or the jar is missing; both messages say how to install.
                assert!(e.message().contains("apt-get install zookeeper"), "{e}");
            }
        }
    }
}
