//! ZooKeeper's four-letter words over the client port: `srvr` tells mode and last zxid.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::{Error, Result};

/// A server's role as `srvr` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// "Mode: leader"
    Leader,
    /// "Mode: follower"
    Follower,
    /// "Mode: observer"
    Observer,
    /// "Mode: standalone"
    Standalone,
    /// "Mode: read-only"
    ReadOnly,
}

/// The parts of a `srvr` answer the harness uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srvr {
    /// Whether the server is serving clients. A server that is electing, or syncing with a
    /// leader, answers "This ZooKeeper instance is not currently serving requests" instead.
    pub serving: bool,
    /// Its role, when serving.
    pub mode: Option<Mode>,
    /// Its last processed zxid ("Zxid: 0x…"), when serving.
    pub zxid: Option<i64>,
    /// The whole answer.
    pub raw: String,
}

impl Srvr {
    /// The epoch half of the zxid.
    pub fn epoch(&self) -> Option<u32> {
        self.zxid.map(|z| (z >> 32) as u32)
    }
}

/// Sends `cmd` and reads the answer until the server closes the connection.
pub fn send(addr: SocketAddr, cmd: &str, timeout: Duration) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| Error::io(format!("connecting to {addr} for '{cmd}'"), e))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    stream
        .write_all(cmd.as_bytes())
        .map_err(|e| Error::io(format!("sending '{cmd}' to {addr}"), e))?;
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .map_err(|e| Error::io(format!("reading '{cmd}' from {addr}"), e))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `srvr`, parsed.
pub fn srvr(addr: SocketAddr, timeout: Duration) -> Result<Srvr> {
    Ok(parse_srvr(&send(addr, "srvr", timeout)?))
}

/// Parses a `srvr` answer.
pub fn parse_srvr(text: &str) -> Srvr {
    let mut mode = None;
    let mut zxid = None;
    for line in text.lines() {
        if let Some(m) = line.strip_prefix("Mode: ") {
            mode = match m.trim() {
                "leader" => Some(Mode::Leader),
                "follower" => Some(Mode::Follower),
                "observer" => Some(Mode::Observer),
                "standalone" => Some(Mode::Standalone),
                "read-only" => Some(Mode::ReadOnly),
                _ => None,
            };
        } else if let Some(z) = line.strip_prefix("Zxid: ") {
            let z = z.trim();
            let hex = z.strip_prefix("0x").unwrap_or(z);
            zxid = u64::from_str_radix(hex, 16).ok().map(|v| v as i64);
        }
    }
    Srvr {
        serving: !text.contains("not currently serving requests") && mode.is_some(),
        mode,
        zxid,
        raw: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_answer_from_a_real_run() {
        let text = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
Latency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\n\
Zxid: 0x100000000\nMode: leader\nNode count: 5\nProposal sizes last/min/max: -1/-1/-1\n";
        let s = parse_srvr(text);
        assert!(s.serving);
        assert_eq!(s.mode, Some(Mode::Leader));
        assert_eq!(s.zxid, Some(0x1_0000_0000));
        assert_eq!(s.epoch(), Some(1));
    }

    #[test]
    fn not_serving() {
        let s = parse_srvr("This ZooKeeper instance is not currently serving requests\n");
        assert!(!s.serving);
        assert_eq!(s.mode, None);
    }
}
