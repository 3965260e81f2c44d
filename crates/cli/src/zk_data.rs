//! `sim run --zk-data DIR [--at-ms T] [--zk-port-base PORT]`: every simulated server's disk,
//! at one moment of the run, written as a real ZooKeeper data directory with a `zoo.cfg`
//! (the formats and the layout are in `crates/persistence` and docs/zk-data.md).
//!
//! The directory is checked before the run, so that a run is not spent on output that
//! cannot be written; the files are written after it, from the disks the simulator copied
//! at the moment asked for.

use persistence::{Ensemble, Ports, Stamps, TxnStamp};
use std::path::{Path, PathBuf};

/// Where the files go, checked and created.
pub struct Target {
    dir: PathBuf,
    /// The directory did not exist before: it is removed again if nothing is written.
    created: bool,
    ports: Ports,
}

/// Checks `--zk-data DIR` and `--zk-port-base` before the run: DIR must be a new or empty
/// directory that can be written, and every server's ports must fit. Errors are printed;
/// the `Err` is the exit code, 2.
pub fn prepare(dir: &Path, port_base: Option<u16>, sc: &scenario::Scenario) -> Result<Target, u8> {
    let ports = Ports {
        base: port_base.unwrap_or(Ports::DEFAULT_BASE),
    };
    if let Some(max) = sc.cluster.all().max() {
        if let Err(e) = ports.check(max) {
            eprintln!("error: --zk-port-base {}: {e}", ports.base);
            return Err(2);
        }
    }
    let fail = |msg: String| {
        eprintln!("error: --zk-data {}: {msg}", dir.display());
        2u8
    };
    let created = match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(fail("exists and is not a directory".into())),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir).map_err(|e| fail(e.to_string()))?;
            if entries.next().is_some() {
                return Err(fail(
                    "is not empty; give a new or empty directory, so that no file of another \
                     run is mistaken for this one's"
                        .into(),
                ));
            }
            false
        }
        Err(_) => {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
            true
        }
    };
    // Writing is what the run's output needs: try it now rather than after the run.
    let probe = dir.join(".zabsim-write-check");
    let written = std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe));
    if let Err(e) = written {
        let target = Target {
            dir: dir.to_path_buf(),
            created,
            ports,
        };
        target.abandon();
        return Err(fail(format!("cannot write in it: {e}")));
    }
    Ok(Target {
        dir: dir.to_path_buf(),
        created,
        ports,
    })
}

impl Target {
    /// Nothing is written after all: a directory made for the run goes again.
    pub fn abandon(self) {
        if self.created {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }

    /// Writes every server's directory from the capture, and returns the lines that say
    /// where. `at_ms`: the `--at-ms` given, for the error when the run ended before it.
    pub fn write(self, outcome: &sim::Outcome, at_ms: Option<u64>) -> Result<String, u8> {
        let Some(capture) = &outcome.disks else {
            let asked = at_ms.map_or(String::new(), |t| t.to_string());
            eprintln!(
                "error: --at-ms {asked}: the run ended at {} ms; give a time up to its end",
                sim::story::ms(outcome.sim_us)
            );
            self.abandon();
            return Err(2);
        };
        let dir = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
        let version = capture.cfg.version;
        let ensemble = Ensemble::of(&capture.cfg, self.ports);
        let mut stamps = Stamps::new();
        for (txn, p) in &capture.proposals {
            stamps.insert(*txn, TxnStamp::at(p.at_us, p.session));
        }
        let mut lines = Vec::new();
        for (id, image) in &capture.disks {
            let server_dir = dir.join(id.0.to_string());
            let data = persistence::data_dir(*id, image, version, &stamps);
            let written = persistence::write_data_dir(&server_dir, &data).and_then(|()| {
                let cfg = persistence::zoo_cfg(&ensemble, *id, &server_dir);
                std::fs::write(server_dir.join("zoo.cfg"), cfg)
            });
            if let Err(e) = written {
                eprintln!("error: --zk-data {}: {e}", server_dir.display());
                return Err(2);
            }
            let z = data.last_zxid;
            lines.push(format!(
                "  {id}  {}  last zxid {} ({z})  client port {}",
                server_dir.display(),
                z.hex(),
                self.ports.client(*id)
            ));
        }
        let when = match capture.moment {
            sim::Moment::Asked => "--at-ms",
            sim::Moment::FirstViolation => "the first invariant violation",
            sim::Moment::End => "the end of the run",
        };
        let mut text = format!(
            "zk-data: the disks at {} ms ({when}) as ZooKeeper {version} data directories in {}\n",
            sim::story::ms(capture.at_us),
            dir.display()
        );
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
        if let Some((id, _)) = capture.disks.first() {
            text.push_str(&format!(
                "  start a server with: java -cp <ZooKeeper's jars> \
                 org.apache.zookeeper.server.quorum.QuorumPeerMain {}\n",
                dir.join(id.0.to_string()).join("zoo.cfg").display()
            ));
        }
        Ok(text)
    }
}
