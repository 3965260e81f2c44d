//! A `zoo.cfg` for each server, so that the written data directories can be started as a
//! real ensemble: `java ... org.apache.zookeeper.server.quorum.QuorumPeerMain DIR/<id>/zoo.cfg`.
//!
//! Citations are to `zookeeper-server/src/main/java/org/apache/zookeeper/server/` at
//! `release-3.8.0-1`, then `release-3.9.4` where the line moved; the `QuorumPeerConfig`
//! lines are the same at both.
//!
//! Everything listens on 127.0.0.1, at ports derived from one base ([`Ports`]). The keys
//! (`QuorumPeerConfig.parseProperties`, quorum/QuorumPeerConfig.java:273-390):
//! * `tickTime`, `initLimit`, `syncLimit` from the scenario's `[cluster]`;
//! * `dataDir`, the server's directory (the log goes there too, :426-428);
//! * `clientPort` and `clientPortAddress` (:287-294, 430-441);
//! * `standaloneEnabled=false`, so that even a single server runs as a quorum peer and reads
//!   its epoch files, as the model's servers do (:340-341, 697-705);
//! * `peerType=observer` for an observer (:324-330), which its `server.N` line says too;
//! * `server.N=127.0.0.1:<quorum>:<election>[:observer]` for every server
//!   (`QuorumServer`, quorum/QuorumPeer.java:301-304 / 304-307);
//! * keys ZooKeeper does not know become `zookeeper.<key>` system properties (:389):
//!   `snapCount` (the scenario's; `ZooKeeperServer.SNAP_COUNT`, ZooKeeperServer.java:274 /
//!   299), `testingonly.initialZxid` when the scenario starts epochs at another counter
//!   (quorum/Leader.java:706-710 / 755-759),
//!   `admin.enableServer=false` (the admin server's fixed port 8080 would clash between
//!   servers on one machine) and `4lw.commands.whitelist=*` (`srvr` and the other
//!   four-letter words answer on the client port).

use std::fmt::Write;
use std::path::Path;
use zab::ServerId;

/// Where server `id` listens, from one base port: the client port at `base + 10·id`, the
/// quorum (leader) port one above, the election port two above. Ids run to 255, so a block
/// spans `10·255 + 3` ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    pub base: u16,
}

impl Ports {
    /// The default base: server 1 answers clients on 21810, server 2 on 21820, ...
    pub const DEFAULT_BASE: u16 = 21800;

    pub fn client(self, id: ServerId) -> u16 {
        self.base + 10 * u16::from(id.0)
    }

    pub fn quorum(self, id: ServerId) -> u16 {
        self.client(id) + 1
    }

    pub fn election(self, id: ServerId) -> u16 {
        self.client(id) + 2
    }

    /// Whether every port of servers up to `max_id` fits below 65536; the error says which
    /// bases do.
    pub fn check(self, max_id: ServerId) -> Result<(), String> {
        let top = u32::from(self.base) + 10 * u32::from(max_id.0) + 2;
        if self.base == 0 || top > u32::from(u16::MAX) {
            let most = u32::from(u16::MAX) - 10 * u32::from(max_id.0) - 2;
            return Err(format!(
                "base port {} gives server {max_id} ports up to {top}; with ids up to {max_id} \
                 the base must be between 1 and {most}",
                self.base,
                max_id = max_id.0
            ));
        }
        Ok(())
    }
}

impl Default for Ports {
    fn default() -> Ports {
        Ports {
            base: Ports::DEFAULT_BASE,
        }
    }
}

/// What every server's zoo.cfg says about the ensemble.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ensemble {
    /// Ascending.
    pub participants: Vec<ServerId>,
    /// Ascending.
    pub observers: Vec<ServerId>,
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub snap_count: u32,
    /// `zookeeper.testingonly.initialZxid`; 0 leaves it out.
    pub initial_zxid_counter: u64,
    pub ports: Ports,
}

impl Ensemble {
    /// The ensemble a run's servers were configured with.
    pub fn of(cfg: &zab::Config, ports: Ports) -> Ensemble {
        Ensemble {
            participants: cfg.participants.clone(),
            observers: cfg.observers.clone(),
            tick_ms: cfg.tick_us / 1000,
            init_limit: cfg.init_limit,
            sync_limit: cfg.sync_limit,
            snap_count: cfg.snap_count,
            initial_zxid_counter: cfg.initial_zxid_counter,
            ports,
        }
    }

    /// Every server, participants first.
    pub fn all(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.participants.iter().chain(&self.observers).copied()
    }

    pub fn is_observer(&self, id: ServerId) -> bool {
        self.observers.contains(&id)
    }
}

/// Server `id`'s zoo.cfg, with `data_dir` as its dataDir (give an absolute path: a relative
/// one is taken from wherever the server is started).
pub fn zoo_cfg(e: &Ensemble, id: ServerId, data_dir: &Path) -> String {
    let mut out = String::new();
    let mut line = |s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    line(&format!(
        "# server {} of a zabsim run (sim run --zk-data); start it with",
        id.0
    ));
    line("# java -cp <ZooKeeper's jars> org.apache.zookeeper.server.quorum.QuorumPeerMain <this file>");
    line(&format!("tickTime={}", e.tick_ms));
    line(&format!("initLimit={}", e.init_limit));
    line(&format!("syncLimit={}", e.sync_limit));
    line(&format!(
        "dataDir={}",
        properties_value(&data_dir.to_string_lossy())
    ));
    line(&format!("clientPort={}", e.ports.client(id)));
    line("clientPortAddress=127.0.0.1");
    line("standaloneEnabled=false");
    line("admin.enableServer=false");
    line("4lw.commands.whitelist=*");
    line(&format!("snapCount={}", e.snap_count));
    if e.initial_zxid_counter != 0 {
        line(&format!(
            "testingonly.initialZxid={}",
            e.initial_zxid_counter
        ));
    }
    if e.is_observer(id) {
        line("peerType=observer");
    }
    for s in e.all() {
        let role = if e.is_observer(s) { ":observer" } else { "" };
        line(&format!(
            "server.{}=127.0.0.1:{}:{}{role}",
            s.0,
            e.ports.quorum(s),
            e.ports.election(s)
        ));
    }
    out
}

/// A value as `java.util.Properties.load` reads it back: the stream is ISO-8859-1 and `\` is
/// an escape, so a backslash is doubled and anything outside printable ASCII is written as
/// `\uXXXX` (UTF-16 units).
fn properties_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04X}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ensemble() -> Ensemble {
        Ensemble {
            participants: vec![ServerId(1), ServerId(2), ServerId(3)],
            observers: vec![ServerId(4)],
            tick_ms: 100,
            init_limit: 10,
            sync_limit: 5,
            snap_count: 100,
            initial_zxid_counter: 0,
            ports: Ports::default(),
        }
    }

    #[test]
    fn every_server_is_listed_on_loopback_and_observers_say_so() {
        let cfg = zoo_cfg(&ensemble(), ServerId(4), Path::new("/tmp/zk/4"));
        for want in [
            "tickTime=100\n",
            "initLimit=10\n",
            "syncLimit=5\n",
            "dataDir=/tmp/zk/4\n",
            "clientPort=21840\n",
            "clientPortAddress=127.0.0.1\n",
            "standaloneEnabled=false\n",
            "snapCount=100\n",
            "peerType=observer\n",
            "server.1=127.0.0.1:21811:21812\n",
            "server.3=127.0.0.1:21831:21832\n",
            "server.4=127.0.0.1:21841:21842:observer\n",
        ] {
            assert!(cfg.contains(want), "{want:?} in\n{cfg}");
        }
        assert!(!cfg.contains("initialZxid"));
        let participant = zoo_cfg(&ensemble(), ServerId(2), Path::new("/tmp/zk/2"));
        assert!(!participant.contains("peerType"));
        assert!(participant.contains("clientPort=21820\n"));
    }

    #[test]
    fn ports_must_fit() {
        assert!(Ports { base: 21800 }.check(ServerId(255)).is_ok());
        let err = Ports { base: 64000 }.check(ServerId(200)).unwrap_err();
        assert!(err.contains("between 1 and 63533"), "{err}");
        assert!(Ports { base: 0 }.check(ServerId(1)).is_err());
    }

    #[test]
    fn paths_are_escaped_for_java_properties() {
        assert_eq!(properties_value("/a b/c"), "/a b/c");
        assert_eq!(properties_value("C:\\x"), "C:\\\\x");
        assert_eq!(properties_value("/é"), "/\\u00E9");
    }
}
