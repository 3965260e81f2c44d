//! A server's own log, turned into typed events about roles and elections.
//!
//! Every string matched here is an INFO (or WARN) line of ZooKeeper 3.8.0; the source line at
//! tag release-3.8.0-1 is cited at each [`EventKind`] variant. Lines are expected in the
//! layout [`crate::spec::LOG_PATTERN`] sets: `2026-12-06T19:13:56.138+0000 INFO  [thread:Class@line] - message`.

use std::net::SocketAddrV4;

use crate::spec::Layout;

/// A role a server announces when it enters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Leader.
    Leading,
    /// Follower.
    Following,
}

/// What a log line says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// "LOOKING" (QuorumPeer.java:1455): the server starts an election round.
    Looking,
    /// "LEADING" (QuorumPeer.java:1549).
    Leading,
    /// "FOLLOWING" (QuorumPeer.java:1537).
    Following,
    /// "OBSERVING" (QuorumPeer.java:1518).
    Observing,
    /// "LEADING - LEADER ELECTION TOOK - n MS" (Leader.java:588) or
    /// "FOLLOWING - LEADER ELECTION TOOK - n MS" (Follower.java:77).
    ElectionTook {
        /// Which role logged it.
        role: Role,
        /// The election's duration as the server measured it.
        ms: u64,
    },
    /// "Peer state changed: …" (QuorumPeer.java:903, :917, :922), e.g. "following - broadcast".
    PeerState(String),
    /// "New election. My id = n, proposed zxid=0x…" (FastLeaderElection.java:946-947).
    NewElection {
        /// The zxid the server votes with.
        proposed_zxid: i64,
    },
    /// "Notification: my state:…; n.sid:…, n.state:…, n.leader:…, n.round:0x…,
    /// n.peerEpoch:0x…, n.zxid:0x…, …" (FastLeaderElection.java:391-402): a vote received.
    Notification {
        /// Sender.
        from: u64,
        /// Sender's state (LOOKING, FOLLOWING, LEADING, OBSERVING).
        state: String,
        /// The proposed leader.
        leader: u64,
        /// The sender's election round.
        round: u64,
        /// The proposed leader's epoch.
        peer_epoch: u64,
        /// The proposed leader's zxid.
        zxid: i64,
        /// The receiver's state when it logged the line.
        my_state: String,
    },
    /// "Successfully connected to leader, using address: …" (Learner.java:384). `leader` is the
    /// id the address belongs to, when it is one of the harness's proxy addresses.
    ConnectedToLeader {
        /// The address as logged.
        address: String,
        /// The leader's id, if known.
        leader: Option<u64>,
    },
    /// "Shutdown called. For the reason …" (Leader.java:819): the leader steps down.
    LeaderShutdown {
        /// ZooKeeper's stated reason, e.g. "Not sufficient followers synced, …".
        reason: String,
    },
    /// "shutdown Follower" (Follower.java:286).
    FollowerShutdown,
}

/// One event: when, on which server, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The server whose log it is.
    pub server: u64,
    /// What happened.
    pub kind: EventKind,
}

/// The parts of a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// INFO, WARN, …
    pub level: &'a str,
    /// `Class@line` as log4j reports it.
    pub source: &'a str,
    /// The message.
    pub message: &'a str,
}

/// Splits a line in the harness's layout; `None` for continuation lines (stack traces).
pub fn split_line(line: &str) -> Option<LogLine<'_>> {
    let (stamp, rest) = line.split_once(' ')?;
    let time_ms = parse_timestamp(stamp)?;
    let rest = rest.trim_start();
    let (level, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start().strip_prefix('[')?;
    let (thread_and_source, message) = rest.split_once("] - ")?;
    let source = thread_and_source
        .rsplit_once(':')
        .map(|(_, s)| s)
        .unwrap_or("");
    Some(LogLine {
        time_ms,
        level,
        source,
        message,
    })
}

/// The event a line reports, if it is one the harness tracks.
pub fn parse_line(server: u64, line: &str, layout: Option<&Layout>) -> Option<LogEvent> {
    let l = split_line(line)?;
    let m = l.message.trim_end();
    let kind = match m {
        "LOOKING" => EventKind::Looking,
        "LEADING" => EventKind::Leading,
        "FOLLOWING" => EventKind::Following,
        "OBSERVING" => EventKind::Observing,
        "shutdown Follower" => EventKind::FollowerShutdown,
        _ => parse_message(m, layout)?,
    };
    Some(LogEvent {
        time_ms: l.time_ms,
        server,
        kind,
    })
}

fn parse_message(m: &str, layout: Option<&Layout>) -> Option<EventKind> {
    if let Some(rest) = m.strip_prefix("LEADING - LEADER ELECTION TOOK - ") {
        return Some(EventKind::ElectionTook {
            role: Role::Leading,
            ms: leading_number(rest)?,
        });
    }
    if let Some(rest) = m.strip_prefix("FOLLOWING - LEADER ELECTION TOOK - ") {
        return Some(EventKind::ElectionTook {
            role: Role::Following,
            ms: leading_number(rest)?,
        });
    }
    if let Some(rest) = m.strip_prefix("Peer state changed: ") {
        return Some(EventKind::PeerState(rest.to_string()));
    }
    if let Some(rest) = m.strip_prefix("New election. My id = ") {
        let (_, z) = rest.split_once("proposed zxid=")?;
        return Some(EventKind::NewElection {
            proposed_zxid: hex(z)?,
        });
    }
    if let Some(rest) = m.strip_prefix("Notification: ") {
        return parse_notification(rest);
    }
    if let Some(rest) = m.strip_prefix("Successfully connected to leader, using address: ") {
        let address = rest.trim().to_string();
        let leader = layout.and_then(|l| leader_of(l, &address));
        return Some(EventKind::ConnectedToLeader { address, leader });
    }
    if let Some(rest) = m.strip_prefix("Shutdown called. For the reason ") {
        return Some(EventKind::LeaderShutdown {
            reason: rest.to_string(),
        });
    }
    None
}

fn parse_notification(rest: &str) -> Option<EventKind> {
    // my state:LOOKING; n.sid:3, n.state:LOOKING, n.leader:3, n.round:0x1, ...
    let (my, fields) = rest.split_once("; ")?;
    let my_state = my.strip_prefix("my state:")?.to_string();
    let mut from = None;
    let mut state = None;
    let mut leader = None;
    let mut round = None;
    let mut peer_epoch = None;
    let mut zxid = None;
    for field in fields.split(", ") {
        let Some((k, v)) = field.split_once(':') else {
            continue;
        };
        match k {
            "n.sid" => from = v.parse().ok(),
            "n.state" => state = Some(v.to_string()),
            "n.leader" => leader = v.parse().ok(),
            "n.round" => round = hex(v).map(|x| x as u64),
            "n.peerEpoch" => peer_epoch = hex(v).map(|x| x as u64),
            "n.zxid" => zxid = hex(v),
            _ => {}
        }
    }
    Some(EventKind::Notification {
        from: from?,
        state: state?,
        leader: leader?,
        round: round?,
        peer_epoch: peer_epoch?,
        zxid: zxid?,
        my_state,
    })
}

/// The server a logged leader address (e.g. "/127.1.1.3:30033" or "127.1.1.3:30033") is.
fn leader_of(layout: &Layout, address: &str) -> Option<u64> {
    let addr = address.rsplit('/').next()?;
    let addr: SocketAddrV4 = addr.parse().ok()?;
    layout.pair_of_proxy(addr).map(|(_, to)| to)
}

fn leading_number(s: &str) -> Option<u64> {
    s.split_whitespace().next()?.parse().ok()
}

fn hex(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    u64::from_str_radix(s, 16).ok().map(|v| v as i64)
}

/// Every tracked event in a whole log.
pub fn parse_log(server: u64, text: &str, layout: Option<&Layout>) -> Vec<LogEvent> {
    text.lines()
        .filter_map(|l| parse_line(server, l, layout))
        .collect()
}

/// `2026-12-06T19:13:56.138+0000` → milliseconds since the Unix epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    if rest.len() < 12 {
        return None;
    }
    let (time, zone) = rest.split_at(12);
    let hour: i64 = time.get(0..2)?.parse().ok()?;
    let minute: i64 = time.get(3..5)?.parse().ok()?;
    let second: i64 = time.get(6..8)?.parse().ok()?;
    let milli: i64 = time.get(9..12)?.parse().ok()?;
    let offset_min = match zone {
        "" | "Z" => 0,
        z if z.len() == 5 => {
            let sign = match &z[0..1] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let h: i64 = z[1..3].parse().ok()?;
            let m: i64 = z[3..5].parse().ok()?;
            sign * (h * 60 + m)
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1000 + milli)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines from a real 3.8.0 run of the harness (servers 1 and 3, base port 26200).
    const REAL: &str = "\
2026-12-06T19:25:36.520+0000 INFO  [QuorumPeer[myid=1](plain=127.0.0.1:26210)(secure=disabled):QuorumPeer@1455] - LOOKING
2026-12-06T19:25:36.414+0000 INFO  [WorkerReceiver[myid=1]:FastLeaderElection$Messenger$WorkerReceiver@391] - Notification: my state:LOOKING; n.sid:3, n.state:LOOKING, n.leader:3, n.round:0x1, n.peerEpoch:0x0, n.zxid:0x0, message format version:0x2, n.config version:0x0
2026-12-06T19:25:36.524+0000 INFO  [QuorumPeer[myid=1](plain=127.0.0.1:26210)(secure=disabled):FastLeaderElection@946] - New election. My id = 1, proposed zxid=0x0
2026-12-06T19:25:36.744+0000 INFO  [QuorumPeer[myid=1](plain=127.0.0.1:26210)(secure=disabled):QuorumPeer@1537] - FOLLOWING
2026-12-06T19:25:36.795+0000 INFO  [QuorumPeer[myid=1](plain=127.0.0.1:26210)(secure=disabled):Follower@77] - FOLLOWING - LEADER ELECTION TOOK - 270 MS
2026-12-06T19:25:36.743+0000 INFO  [QuorumPeer[myid=1](plain=127.0.0.1:26210)(secure=disabled):QuorumPeer@903] - Peer state changed: following
2026-12-06T19:25:36.836+0000 INFO  [LeaderConnector-/127.1.1.3:26233:Learner$LeaderConnector@384] - Successfully connected to leader, using address: /127.1.1.3:26233
2026-12-06T19:25:37.604+0000 INFO  [QuorumPeer[myid=1](plain=127.0.0.1:26210)(secure=disabled):Follower@286] - shutdown Follower
2026-12-06T19:25:36.748+0000 INFO  [QuorumPeer[myid=3](plain=127.0.0.3:26230)(secure=disabled):QuorumPeer@1549] - LEADING
2026-12-06T19:25:36.812+0000 INFO  [QuorumPeer[myid=3](plain=127.0.0.3:26230)(secure=disabled):Leader@588] - LEADING - LEADER ELECTION TOOK - 664 MS
2026-12-06T19:25:37.654+0000 INFO  [QuorumPeer[myid=3](plain=127.0.0.3:26230)(secure=disabled):Leader@819] - Shutdown called. For the reason Not sufficient followers synced, only synced with sids: [ [3] ]
java.io.EOFException
\tat org.apache.zookeeper.server.quorum.Learner.readPacket(Learner.java:228)
2026-12-06T19:25:36.141+0000 INFO  [main:QuorumPeer@2591] - Using 500ms as the quorum cnxn socket timeout
";

    #[test]
    fn lines_from_a_real_run() {
        let layout = Layout { base: 26200 };
        let kinds: Vec<EventKind> = parse_log(1, REAL, Some(&layout))
            .into_iter()
            .map(|e| e.kind)
            .collect();
        let expected = vec![
            EventKind::Looking,
            EventKind::Notification {
                from: 3,
                state: "LOOKING".into(),
                leader: 3,
                round: 1,
                peer_epoch: 0,
                zxid: 0,
                my_state: "LOOKING".into(),
            },
            EventKind::NewElection { proposed_zxid: 0 },
            EventKind::Following,
            EventKind::ElectionTook {
                role: Role::Following,
                ms: 270,
            },
            EventKind::PeerState("following".into()),
            EventKind::ConnectedToLeader {
                address: "/127.1.1.3:26233".into(),
                leader: Some(3),
            },
            EventKind::FollowerShutdown,
            EventKind::Leading,
            EventKind::ElectionTook {
                role: Role::Leading,
                ms: 664,
            },
            EventKind::LeaderShutdown {
                reason: "Not sufficient followers synced, only synced with sids: [ [3] ]".into(),
            },
        ];
        assert_eq!(kinds, expected);
        let first = parse_line(1, REAL.lines().next().unwrap(), None).unwrap();
        assert_eq!(
            first.time_ms,
            parse_timestamp("2026-12-06T19:25:36.520+0000").unwrap()
        );
        assert_eq!(first.server, 1);
        let l = split_line(REAL.lines().nth(6).unwrap()).unwrap();
        assert_eq!(l.source, "Learner$LeaderConnector@384");
        assert_eq!(l.level, "INFO");
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.000+0000"), Some(0));
        assert_eq!(
            parse_timestamp("2000-03-01T00:00:01.250+0100"),
            Some(951_868_801_250 - 3_600_000)
        );
        assert_eq!(parse_timestamp("garbage"), None);
    }
}
