//! Import of a ZooKeeper `zoo.cfg`, so that a scenario can model a real ensemble's ids, roles
//! and timeouts without copying them by hand.
//!
//! Only the keys that shape the protocol are read (`server.N`, `tickTime`, `initLimit`,
//! `syncLimit`); everything else (dataDir, clientPort, ...) is ignored, as a real server would
//! ignore keys meant for other tools. `group.N` and `weight.N` (hierarchical quorums) are
//! refused: they would change the quorums, which zabsim does not model. Errors name the
//! zoo.cfg file and its line.

use crate::error::{Result, ScenarioError};
use std::collections::BTreeMap;
use std::path::Path;
use zab::ServerId;

/// A value read from zoo.cfg, with its line so that a conflict with the scenario can cite it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Setting<T> {
    pub value: T,
    pub line: usize,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ZooCfg {
    /// Ascending.
    pub participants: Vec<ServerId>,
    /// Ascending.
    pub observers: Vec<ServerId>,
    pub tick_ms: Option<Setting<u64>>,
    pub init_limit: Option<Setting<u32>>,
    pub sync_limit: Option<Setting<u32>>,
}

/// Parses zoo.cfg text as `java.util.Properties` would split it (key, then `=`, `:` or
/// whitespace), and the values as `QuorumPeerConfig` reads them.
pub(crate) fn parse(text: &str, file: &Path) -> Result<ZooCfg> {
    let mut cfg = ZooCfg::default();
    let mut servers: BTreeMap<u8, (bool, usize)> = BTreeMap::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw_line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let (key, value) = split_property(trimmed);
        let err = |msg: String| ScenarioError::new(file, Some(line), key, msg);
        match key {
            "tickTime" => {
                cfg.tick_ms = Some(Setting {
                    value: number(value, 999_999_999).map_err(err)?,
                    line,
                })
            }
            "initLimit" => {
                cfg.init_limit = Some(Setting {
                    value: limit(value).map_err(err)?,
                    line,
                })
            }
            "syncLimit" => {
                cfg.sync_limit = Some(Setting {
                    value: limit(value).map_err(err)?,
                    line,
                })
            }
            // Any `group*` or `weight*` key makes ZooKeeper use hierarchical quorums
            // (QuorumPeerConfig.parseDynamicConfig, QuorumPeerConfig.java:677-678 at both
            // tags); zabsim models majority quorums only, so it refuses rather than run
            // another ensemble than the file describes.
            _ if key.starts_with("group") || key.starts_with("weight") => {
                return Err(err(format!(
                    "hierarchical quorums ({key}) are not modelled: zabsim runs majority \
                     quorums (QuorumMaj) only; remove the group.N and weight.N lines"
                )));
            }
            _ => {
                let Some(id) = key.strip_prefix("server.") else {
                    continue;
                };
                let id = server_id(id).map_err(err)?;
                let observer = server_address(value).map_err(err)?;
                if let Some((_, first)) = servers.insert(id, (observer, line)) {
                    return Err(err(format!(
                        "server.{id} is already defined on line {first}"
                    )));
                }
            }
        }
    }
    for (id, (observer, _)) in servers {
        let list = if observer {
            &mut cfg.observers
        } else {
            &mut cfg.participants
        };
        list.push(ServerId(id));
    }
    Ok(cfg)
}

fn split_property(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
        .unwrap_or(line.len());
    let (key, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
    (key, rest.trim())
}

fn number(value: &str, max: u64) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "expected an integer between 1 and {max}, got {value:?}"
        )),
    }
}

fn limit(value: &str) -> Result<u32, String> {
    number(value, u32::MAX.into()).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

fn server_id(digits: &str) -> Result<u8, String> {
    match digits.parse::<u8>() {
        Ok(n) if n >= 1 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "server id must be an integer between 1 and 255, got {digits:?}"
        )),
    }
}

/// Checks `host:port:port[:participant|:observer][;[host:]clientport]`, with `|` between the
/// addresses of a multi-homed server (ZooKeeper 3.6+); returns whether it is an observer.
fn server_address(value: &str) -> Result<bool, String> {
    let bad = |why: &str| {
        Err(format!(
            "malformed server address {value:?} ({why}); expected \
             host:port:port[:participant|:observer][;clientport]"
        ))
    };
    let (addresses, client) = match value.split_once(';') {
        Some((a, c)) => (a, Some(c)),
        None => (value, None),
    };
    if let Some(client) = client {
        let port = client.rsplit_once(':').map_or(client, |(_, p)| p);
        if !is_port(port) {
            return bad("the client port is not a port number");
        }
    }
    let mut observer = None;
    for address in addresses.split('|') {
        let (host, rest) = match split_host(address.trim()) {
            Some(parts) => parts,
            None => return bad("missing host"),
        };
        if host.is_empty() {
            return bad("missing host");
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let role = match parts.as_slice() {
            [quorum, election] if is_port(quorum) && is_port(election) => None,
            [quorum, election, role] if is_port(quorum) && is_port(election) => {
                match role.to_ascii_lowercase().as_str() {
                    "participant" => Some(false),
                    "observer" => Some(true),
                    _ => return bad("the role must be participant or observer"),
                }
            }
            _ => return bad("expected a quorum port and an election port"),
        };
        if let Some(is_observer) = role {
            if observer.is_some_and(|o| o != is_observer) {
                return bad("the addresses disagree on the role");
            }
            observer = Some(is_observer);
        }
    }
    Ok(observer.unwrap_or(false))
}

/// Splits `host:rest` or `[ipv6]:rest`; `None` if there is no `:` after the host.
fn split_host(address: &str) -> Option<(&str, &str)> {
    if let Some(bracketed) = address.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']')?;
        Some((host, rest.strip_prefix(':')?))
    } else {
        address.split_once(':')
    }
}

fn is_port(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u16>().is_ok_and(|p| p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<ZooCfg> {
        parse(text, Path::new("zoo.cfg"))
    }

    #[test]
    fn reads_servers_roles_and_timeouts() {
        let c = cfg(
            "# comment\ntickTime=2000\ninitLimit = 5\nsyncLimit: 2\ndataDir=/var/zk\n\
                     clientPort=2181\nserver.3=h3:2888:3888\nserver.1=h1:2888:3888:participant\n\
                     server.9=h9:2888:3888:observer;2181\nserver.2=[::1]:2888:3888;0.0.0.0:2181\n",
        )
        .unwrap();
        assert_eq!(c.participants, vec![ServerId(1), ServerId(2), ServerId(3)]);
        assert_eq!(c.observers, vec![ServerId(9)]);
        assert_eq!(
            c.tick_ms,
            Some(Setting {
                value: 2000,
                line: 2
            })
        );
        assert_eq!(c.init_limit, Some(Setting { value: 5, line: 3 }));
        assert_eq!(c.sync_limit, Some(Setting { value: 2, line: 4 }));
    }

    #[test]
    fn refuses_hierarchical_quorums_instead_of_ignoring_them() {
        let e = cfg("server.1=h:1:2\nserver.2=h:1:2\nserver.3=h:1:2\ngroup.1=1:2:3\n").unwrap_err();
        assert!(e.to_string().contains("hierarchical quorums"), "{e}");
    }

    #[test]
    fn rejects_malformed_lines_with_their_line() {
        for (text, line, key) in [
            ("server.1=h:2888\n", 1, "server.1"),
            ("\nserver.0=h:1:2\n", 2, "server.0"),
            ("server.x=h:1:2\n", 1, "server.x"),
            ("server.1=h:1:2:leader\n", 1, "server.1"),
            ("server.1=h:1:2\nserver.1=h:1:2\n", 2, "server.1"),
            ("tickTime=abc\n", 1, "tickTime"),
            ("initLimit=0\n", 1, "initLimit"),
            ("server.1=:1:2\n", 1, "server.1"),
            ("server.1=h:1:99999\n", 1, "server.1"),
            ("server.1=h:1:2;x\n", 1, "server.1"),
            ("server.1=h:1:2\ngroup.1=1:2:3\n", 2, "group.1"),
            ("server.1=h:1:2\nweight.1=3\n", 2, "weight.1"),
        ] {
            let e = cfg(text).unwrap_err();
            assert_eq!((e.line, e.key.as_str()), (Some(line), key), "{text:?}: {e}");
        }
    }
}
