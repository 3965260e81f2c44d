//! The report's reading of one trace line.
//!
//! These types mirror what `sim::trace` writes, plus the `run` header and `outcome` footer
//! that `sim run` adds around it, but only the fields the report draws. They are kept apart
//! from the simulator's own types so that a report can be made from a trace file alone, and
//! so that an unknown or older line is skipped instead of failing the whole report.

use serde::de::IgnoredAny;
use serde::Deserialize;

/// A server (`s3`) or client (`c2`) as the trace names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Server(u32),
    Client(u32),
}

impl Endpoint {
    pub fn parse(name: &str) -> Option<Endpoint> {
        let (kind, n) = name.split_at_checked(1)?;
        let n = n.parse().ok()?;
        match kind {
            "s" => Some(Endpoint::Server(n)),
            "c" => Some(Endpoint::Client(n)),
            _ => None,
        }
    }

    pub fn server(self) -> Option<u32> {
        match self {
            Endpoint::Server(s) => Some(s),
            Endpoint::Client(_) => None,
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Server(s) => write!(f, "s{s}"),
            Endpoint::Client(c) => write!(f, "c{c}"),
        }
    }
}

/// The first line `sim run` writes: what was run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    pub scenario: String,
    pub path: String,
    pub description: String,
    pub seed: u64,
    pub bugs: Vec<String>,
    /// Voting participants, as `s1`, `s2`, ...
    pub servers: Vec<String>,
    pub observers: Vec<String>,
    /// The command that reruns it.
    pub reproduce: String,
    /// The scenario file's text, shown in the report.
    pub source: Option<String>,
}

/// The last line `sim run` writes: the `--json` result of the run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomeInfo {
    pub passed: bool,
    pub exit_code: i32,
    pub reasons: Vec<String>,
    pub violations: Vec<OutcomeViolation>,
    pub leader: Option<u32>,
    pub epoch: u64,
    pub elections: Vec<OutcomeElection>,
    pub committed: u64,
    pub events: u64,
    pub sim_ms: f64,
    pub trace_hash: String,
    pub reproduce: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomeViolation {
    pub invariant: String,
    pub at_ms: f64,
    pub server: Option<u32>,
    pub message: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct OutcomeElection {
    pub epoch: u64,
    pub leader: u32,
    pub started_ms: f64,
    pub established_ms: f64,
    pub recovered: Vec<String>,
}

/// A protocol event of one server (`zab::Event`), as far as the report uses it.
#[derive(Clone, Debug, Deserialize)]
pub enum Event {
    State {
        state: String,
        phase: String,
        epoch: u64,
    },
    Vote {
        leader: u32,
        zxid: u64,
        peer_epoch: u64,
        election_epoch: u64,
    },
    Elected {
        leader: u32,
        election_epoch: u64,
    },
    EpochDecided {
        epoch: u64,
    },
    Established {
        epoch: u64,
        quorum: Vec<u32>,
    },
    SyncDecision {
        learner: u32,
        mode: String,
        zxid: u64,
        peer_last_zxid: u64,
    },
    Synced {
        leader: u32,
        epoch: u64,
    },
    Proposed {
        txn: Txn,
    },
    Committed {
        txn: Txn,
        acks: Vec<u32>,
    },
    Delivered {
        count: u64,
    },
    TreeReset {
        kept: u64,
    },
    LeaderShutdown {
        reason: String,
    },
    LearnerShutdown {
        reason: String,
    },
    ProtocolError {
        reason: String,
    },
    StartupFailed {
        reason: String,
    },
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub struct Txn {
    pub zxid: u64,
}

/// A durable write (`zab::DiskOp`); only the txn log's end matters to the report.
#[derive(Clone, Debug, Deserialize)]
pub enum DiskOp {
    Append(Txn),
    Truncate(u64),
    Snapshot(IgnoredAny),
    AcceptedEpoch(u64),
    CurrentEpoch(u64),
    UpdatingEpoch(bool),
}

/// A client's report (`check::ClientEvent`).
#[derive(Clone, Debug, Deserialize)]
pub enum ClientEvent {
    Submitted { op: u64, server: u32, write: bool },
    Answered { op: u64, server: u32, zxid: u64 },
    ConnectionLoss { server: u32 },
}

/// One line of the trace.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    Run(RunInfo),
    Outcome(OutcomeInfo),
    Event {
        t_us: u64,
        server: String,
        event: Event,
    },
    Send {
        t_us: u64,
        from: String,
        to: String,
        msg: String,
        zxid: Option<String>,
    },
    Deliver {
        t_us: u64,
        from: String,
        to: String,
        msg: String,
        zxid: Option<String>,
    },
    DiskIssued {
        t_us: u64,
        server: String,
        op: DiskOp,
    },
    DiskDurable {
        t_us: u64,
        server: String,
        op: DiskOp,
    },
    Crash {
        t_us: u64,
        server: String,
    },
    Restart {
        t_us: u64,
        server: String,
    },
    Pause {
        t_us: u64,
        server: String,
    },
    Resume {
        t_us: u64,
        server: String,
    },
    Network {
        t_us: u64,
        partitions: Vec<Vec<Vec<String>>>,
    },
    Client {
        t_us: u64,
        client: String,
        event: ClientEvent,
    },
    InitiallyCommitted {
        t_us: u64,
        upto: String,
    },
    LivenessDeadline {
        t_us: u64,
        faults_over_us: u64,
    },
    Fault {
        t_us: u64,
        fault: String,
    },
    Violation {
        t_us: u64,
        invariant: String,
        server: Option<String>,
        message: String,
    },
}

impl Line {
    /// Reads one line; `None` for anything the report does not know (it is skipped).
    pub fn parse(text: &str) -> Option<Line> {
        serde_json::from_str(text).ok()
    }

    /// Simulated time of the line, for lines that have one.
    pub fn t_us(&self) -> Option<u64> {
        match self {
            Line::Run(_) | Line::Outcome(_) => None,
            Line::Event { t_us, .. }
            | Line::Send { t_us, .. }
            | Line::Deliver { t_us, .. }
            | Line::DiskIssued { t_us, .. }
            | Line::DiskDurable { t_us, .. }
            | Line::Crash { t_us, .. }
            | Line::Restart { t_us, .. }
            | Line::Pause { t_us, .. }
            | Line::Resume { t_us, .. }
            | Line::Network { t_us, .. }
            | Line::Client { t_us, .. }
            | Line::InitiallyCommitted { t_us, .. }
            | Line::LivenessDeadline { t_us, .. }
            | Line::Fault { t_us, .. }
            | Line::Violation { t_us, .. } => Some(*t_us),
        }
    }
}

/// `epoch:counter`, as the rest of zabsim prints zxids.
pub fn zxid(z: u64) -> String {
    zab::Zxid(z).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_simulators_lines() {
        let l = Line::parse(
            r#"{"kind":"event","t_us":5,"server":"s2","event":{"State":{"state":"Following","phase":"Discovery","epoch":0}}}"#,
        );
        assert!(matches!(
            l,
            Some(Line::Event { t_us: 5, event: Event::State { ref state, .. }, .. }) if state == "Following"
        ));
        let l = Line::parse(
            r#"{"kind":"disk_durable","t_us":7,"server":"s5","op":{"Append":{"zxid":4294967297,"proposer":7,"request":{"client":3,"cxid":3},"op":{"SetData":{"key":7,"value":1}}}}}"#,
        );
        assert!(matches!(
            l,
            Some(Line::DiskDurable {
                op: DiskOp::Append(Txn { zxid: 4294967297 }),
                ..
            })
        ));
        let l = Line::parse(
            r#"{"kind":"send","t_us":0,"from":"s1","to":"c2","msg":"NOTIFICATION","zxid":"0:0","body":{"x":1}}"#,
        );
        assert!(matches!(l, Some(Line::Send { ref to, .. }) if to == "c2"));
    }

    #[test]
    fn unknown_lines_are_skipped_not_fatal() {
        assert!(Line::parse(r#"{"kind":"telemetry","t_us":1}"#).is_none());
        assert!(Line::parse("not json").is_none());
        assert!(
            Line::parse(r#"{"kind":"event","t_us":1,"server":"s1","event":{"New":{}}}"#).is_none()
        );
    }

    #[test]
    fn endpoints_and_zxids_print_as_the_trace_writes_them() {
        assert_eq!(Endpoint::parse("s12"), Some(Endpoint::Server(12)));
        assert_eq!(Endpoint::parse("c3"), Some(Endpoint::Client(3)));
        assert_eq!(Endpoint::parse("x1"), None);
        assert_eq!(Endpoint::Client(3).to_string(), "c3");
        assert_eq!(zxid(4294967298), "1:2");
    }
}
