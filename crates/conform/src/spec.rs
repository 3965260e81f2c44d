//! What ensemble to run, where every listener and proxy sits, and the files each server reads.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

use crate::error::{Error, Result};

/// The shape of an ensemble: who votes, who observes, and the timing knobs of `zoo.cfg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsembleSpec {
    /// Voting members' ids (ZooKeeper's `myid`), 1..=MAX_ID.
    pub participants: Vec<u64>,
    /// Observers' ids, 1..=MAX_ID, disjoint from the participants.
    pub observers: Vec<u64>,
    /// `tickTime` in milliseconds.
    pub tick_ms: u32,
    /// `initLimit` in ticks.
    pub init_limit: u32,
    /// `syncLimit` in ticks.
    pub sync_limit: u32,
    /// First port of the ensemble's block (see [`Layout`]); `None` picks a free block.
    pub base_port: Option<u16>,
}

/// Largest server id: ids become the last octet of loopback addresses and index ports.
pub const MAX_ID: u64 = 50;

impl EnsembleSpec {
    /// Participants `ids`, no observers, tickTime 100 ms, initLimit 10, syncLimit 5.
    pub fn new(participants: impl IntoIterator<Item = u64>) -> Self {
        EnsembleSpec {
            participants: participants.into_iter().collect(),
            observers: Vec::new(),
            tick_ms: 100,
            init_limit: 10,
            sync_limit: 5,
            base_port: None,
        }
    }

    /// The same spec with these observers.
    pub fn with_observers(mut self, observers: impl IntoIterator<Item = u64>) -> Self {
        self.observers = observers.into_iter().collect();
        self
    }

    /// Every server id, participants first.
    pub fn all_ids(&self) -> Vec<u64> {
        let mut ids = self.participants.clone();
        ids.extend(&self.observers);
        ids
    }

    /// Whether `id` is an observer.
    pub fn is_observer(&self, id: u64) -> bool {
        self.observers.contains(&id)
    }

    /// Rejects specs ZooKeeper or the address plan cannot run.
    pub fn validate(&self) -> Result<()> {
        if self.participants.is_empty() {
            return Err(Error::new("an ensemble needs at least one participant"));
        }
        let ids = self.all_ids();
        for (i, id) in ids.iter().enumerate() {
            if *id == 0 || *id > MAX_ID {
                return Err(Error::new(format!(
                    "server id {id} is outside 1..={MAX_ID} (ids name loopback addresses and ports)"
                )));
            }
            if ids[..i].contains(id) {
                return Err(Error::new(format!("server id {id} is listed twice")));
            }
        }
        if self.tick_ms == 0 || self.init_limit == 0 || self.sync_limit == 0 {
            return Err(Error::new(
                "tick_ms, init_limit and sync_limit must all be positive",
            ));
        }
        Ok(())
    }
}

/// Where everything listens, for one ensemble whose port block starts at `base`.
///
/// * Server `n`'s client port is `base + 10n` on `127.0.0.n`; its quorum and election ports are
///   `base + 10n + 1` and `base + 10n + 2`, bound on the wildcard address (see the crate docs
///   for why the wildcard is needed).
/// * The proxy that carries `from`'s connections to `to` listens on `127.1.from.to`, ports
///   `base + 10·to + 3` (quorum) and `base + 10·to + 4` (election). Every pair has its own
///   address, so the accepting socket alone tells the proxy which pair a connection belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// First port of the block.
    pub base: u16,
}

impl Layout {
    /// How many ports a block for ids up to `max_id` spans.
    pub fn span(max_id: u64) -> u16 {
        (10 * (max_id + 1)) as u16
    }

    fn port(&self, id: u64, offset: u16) -> u16 {
        self.base + 10 * id as u16 + offset
    }

    /// Server `id`'s own loopback address.
    pub fn server_ip(id: u64) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, id as u8)
    }

    /// Server `id`'s client port address (four-letter words go here).
    pub fn client(&self, id: u64) -> SocketAddrV4 {
        SocketAddrV4::new(Self::server_ip(id), self.port(id, 0))
    }

    /// Server `id`'s real quorum (leader) port, reached on its own address.
    pub fn quorum(&self, id: u64) -> SocketAddrV4 {
        SocketAddrV4::new(Self::server_ip(id), self.port(id, 1))
    }

    /// Server `id`'s real election port, reached on its own address.
    pub fn election(&self, id: u64) -> SocketAddrV4 {
        SocketAddrV4::new(Self::server_ip(id), self.port(id, 2))
    }

    /// The address of the proxy pair `from → to`.
    pub fn proxy_ip(from: u64, to: u64) -> Ipv4Addr {
        Ipv4Addr::new(127, 1, from as u8, to as u8)
    }

    /// Where `from` reaches `to`'s quorum port.
    pub fn proxy_quorum(&self, from: u64, to: u64) -> SocketAddrV4 {
        SocketAddrV4::new(Self::proxy_ip(from, to), self.port(to, 3))
    }

    /// Where `from` reaches `to`'s election port.
    pub fn proxy_election(&self, from: u64, to: u64) -> SocketAddrV4 {
        SocketAddrV4::new(Self::proxy_ip(from, to), self.port(to, 4))
    }

    /// The pair a proxy address belongs to, if it is one of this layout's.
    pub fn pair_of_proxy(&self, addr: SocketAddrV4) -> Option<(u64, u64)> {
        let [a, b, from, to] = addr.ip().octets();
        if a != 127 || b != 1 {
            return None;
        }
        let (from, to) = (from as u64, to as u64);
        let ok = addr == self.proxy_quorum(from, to) || addr == self.proxy_election(from, to);
        ok.then_some((from, to))
    }
}

/// `zoo.cfg` for server `me`: itself on the wildcard address, every other server through the
/// proxy dedicated to the pair (me → other).
pub fn zoo_cfg(spec: &EnsembleSpec, layout: &Layout, me: u64, data_dir: &Path) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("tickTime={}", spec.tick_ms));
    line(format!("initLimit={}", spec.init_limit));
    line(format!("syncLimit={}", spec.sync_limit));
    line(format!("dataDir={}", data_dir.display()));
    line(format!("clientPort={}", layout.client(me).port()));
    line(format!("clientPortAddress={}", layout.client(me).ip()));
    line("4lw.commands.whitelist=*".into());
    line("admin.enableServer=false".into());
    if spec.is_observer(me) {
        line("peerType=observer".into());
    }
    for id in spec.all_ids() {
        let role = if spec.is_observer(id) {
            ":observer"
        } else {
            ""
        };
        let (quorum, election) = if id == me {
            let q = layout.quorum(id).port();
            let e = layout.election(id).port();
            (format!("0.0.0.0:{q}"), format!("{e}"))
        } else {
            let q = layout.proxy_quorum(me, id);
            let e = layout.proxy_election(me, id);
            (q.to_string(), format!("{}", e.port()))
        };
        // A server line is host:quorumPort:electionPort; the proxy pair shares one address.
        line(format!("server.{id}={quorum}:{election}{role}"));
    }
    out
}

/// log4j 1.2 configuration (Debian's binding): INFO and up to `log_file`, ISO-8601 time with
/// milliseconds and the UTC offset, so lines can be put on the same clock as the proxy's log.
pub fn log4j_properties(log_file: &Path) -> String {
    format!(
        "log4j.rootLogger=INFO, FILE\n\
         log4j.appender.FILE=org.apache.log4j.FileAppender\n\
         log4j.appender.FILE.File={}\n\
         log4j.appender.FILE.Append=true\n\
         log4j.appender.FILE.ImmediateFlush=true\n\
         log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.FILE.layout.ConversionPattern={}\n",
        log_file.display(),
        LOG_PATTERN
    )
}

/// The same for logback (the Apache tarball's binding).
pub fn logback_xml(log_file: &Path) -> String {
    format!(
        "<configuration>\n  <appender name=\"FILE\" class=\"ch.qos.logback.core.FileAppender\">\n    <file>{}</file>\n    <append>true</append>\n    <encoder><pattern>{}</pattern></encoder>\n  </appender>\n  <root level=\"INFO\"><appender-ref ref=\"FILE\"/></root>\n</configuration>\n",
        log_file.display(),
        "%d{yyyy-MM-dd'T'HH:mm:ss.SSSZ} %-5level [%thread:%logger{0}@%line] - %msg%n"
    )
}

/// The log4j layout: `2026-12-06T19:13:56.138+0000 INFO  [thread:Class@line] - message`.
pub const LOG_PATTERN: &str = "%d{yyyy-MM-dd'T'HH:mm:ss.SSSZ} %-5p [%t:%C{1}@%L] - %m%n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_participants_and_an_observer() {
        let spec = EnsembleSpec::new([1, 2, 3]).with_observers([4]);
        spec.validate().unwrap();
        let layout = Layout { base: 30000 };
        let cfg = zoo_cfg(&spec, &layout, 2, Path::new("/run/s2/data"));
        let expected = "tickTime=100
initLimit=10
syncLimit=5
dataDir=/run/s2/data
clientPort=30020
clientPortAddress=127.0.0.2
4lw.commands.whitelist=*
admin.enableServer=false
server.1=127.1.2.1:30013:30014
server.2=0.0.0.0:30021:30022
server.3=127.1.2.3:30033:30034
server.4=127.1.2.4:30043:30044:observer
";
        assert_eq!(cfg, expected);
        let obs = zoo_cfg(&spec, &layout, 4, Path::new("/d"));
        assert!(obs.contains("peerType=observer\n"));
        assert!(obs.contains("server.4=0.0.0.0:30041:30042:observer\n"));
        assert!(obs.contains("server.1=127.1.4.1:30013:30014\n"));
    }

    #[test]
    fn proxy_addresses_name_their_pair() {
        let layout = Layout { base: 30000 };
        assert_eq!(
            layout.pair_of_proxy(layout.proxy_quorum(3, 1)),
            Some((3, 1))
        );
        assert_eq!(
            layout.pair_of_proxy(layout.proxy_election(1, 3)),
            Some((1, 3))
        );
        assert_eq!(layout.pair_of_proxy(layout.quorum(1)), None);
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(EnsembleSpec::new([]).validate().is_err());
        assert!(EnsembleSpec::new([1, 1]).validate().is_err());
        assert!(EnsembleSpec::new([0]).validate().is_err());
        assert!(EnsembleSpec::new([1, 2])
            .with_observers([2])
            .validate()
            .is_err());
    }
}
