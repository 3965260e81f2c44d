//! What the report draws, folded out of the trace: per-server lanes of states, the leaders,
//! faults, partitions, progress, per-client lanes of sessions and recipe roles, client
//! latency and the windows before violations.
//!
//! The model is built in one pass over the trace (see `collect`) and keeps only what is
//! drawn, so that a report of a long run does not hold the whole trace in memory.

use super::line::{Endpoint, OutcomeInfo, RunInfo};
use std::collections::BTreeMap;

/// What a server is doing over a span of time; the timeline's colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Looking,
    Following,
    Leading,
    Observing,
    /// Crashed (or failed to start) and not yet restarted.
    Down,
}

impl Status {
    pub fn from_trace(state: &str) -> Status {
        match state {
            "Following" => Status::Following,
            "Leading" => Status::Leading,
            "Observing" => Status::Observing,
            _ => Status::Looking,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Status::Looking => "LOOKING",
            Status::Following => "FOLLOWING",
            Status::Leading => "LEADING",
            Status::Observing => "OBSERVING",
            Status::Down => "down",
        }
    }

    /// The CSS class that colours it.
    pub fn class(self) -> &'static str {
        match self {
            Status::Looking => "st-looking",
            Status::Following => "st-following",
            Status::Leading => "st-leading",
            Status::Observing => "st-observing",
            Status::Down => "st-down",
        }
    }
}

/// The ZAB phase of a FOLLOWING, LEADING or OBSERVING server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Election,
    Discovery,
    Synchronization,
    Broadcast,
}

impl Phase {
    pub fn from_trace(phase: &str) -> Phase {
        match phase {
            "Discovery" => Phase::Discovery,
            "Synchronization" => Phase::Synchronization,
            "Broadcast" => Phase::Broadcast,
            _ => Phase::Election,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Election => "election",
            Phase::Discovery => "discovery",
            Phase::Synchronization => "synchronization",
            Phase::Broadcast => "broadcast",
        }
    }

    /// A one-letter tag for segments too narrow for the name.
    pub fn short(self) -> &'static str {
        match self {
            Phase::Election => "E",
            Phase::Discovery => "D",
            Phase::Synchronization => "S",
            Phase::Broadcast => "B",
        }
    }
}

/// A span of one server's lane with one status, phase and epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub start_us: u64,
    /// Set when the next span starts, or at the end of the run.
    pub end_us: u64,
    pub status: Status,
    pub phase: Phase,
    pub epoch: u64,
    /// The last zxid in the server's txn log when the segment ended.
    pub last_zxid: Option<u64>,
    /// Why a server is down: the trigger that crashed it, or why it refused to start.
    pub cause: Option<String>,
}

/// A change of the proposal a server votes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoteMark {
    pub t_us: u64,
    pub leader: u32,
    pub zxid: u64,
    pub election_epoch: u64,
}

/// Everything drawn on one server's lane.
#[derive(Clone, Debug, Default)]
pub struct Lane {
    pub segments: Vec<Segment>,
    pub votes: Vec<VoteMark>,
    /// Times the server, as leader, committed a txn.
    pub commits: Vec<u64>,
    pub crashes: Vec<u64>,
    pub restarts: Vec<u64>,
    /// Pauses as (start, end).
    pub pauses: Vec<(u64, u64)>,
    /// Why it left a role or refused to run: (time, text).
    pub notes: Vec<(u64, String)>,
    /// The last zxid in its txn log, as far as the trace tells.
    pub last_zxid: Option<u64>,
    /// Whether the server is an observer.
    pub observer: bool,
}

/// A leader establishing its epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Establishment {
    pub epoch: u64,
    pub leader: u32,
    /// Since when the ensemble had no established leader.
    pub started_us: u64,
    pub at_us: u64,
}

/// A network partition while it lasted: which servers could reach each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpan {
    pub start_us: u64,
    pub end_us: u64,
    /// Each server's group, for the servers the partition names.
    pub groups: BTreeMap<u32, usize>,
    /// Each client's group, for the clients the partition names.
    pub clients: BTreeMap<u32, usize>,
    /// The groups as the trace lists them (servers and clients).
    pub text: String,
}

/// One client operation answered without error, from its submission to its answer: what
/// the latency chart and percentiles are made of. Operations that ended in an error
/// (CONNECTIONLOSS among them) are counted apart, as their time says nothing of how fast the
/// ensemble answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOp {
    pub submitted_us: u64,
    pub answered_us: u64,
    pub write: bool,
}

/// What a recipe told its application it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The election recipe's leader.
    Leader,
    /// The lock recipe's holder.
    LockHolder,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::LockHolder => "lock holder",
        }
    }
}

/// A span in which a client believed it held a role, from the recipe's `Leading` (or
/// `LockAcquired`) to its `NotLeading` (or `LockReleased`), the client's crash or the end of
/// the run. A paused client keeps believing: its span goes on through the pause, which is
/// exactly the hazard fencing exists for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleSpan {
    pub role: Role,
    pub start_us: u64,
    pub end_us: u64,
    /// The election znode's czxid, the fencing token the leader presents.
    pub token: Option<u64>,
    pub path: String,
    /// Uses of the protected resource while it held the role.
    pub accepted: u64,
    pub refused: u64,
    /// How it ended: `None` while held (or still held at the end of the run).
    pub ended: Option<&'static str>,
}

/// A client's connection to one server, from its `Connected` to its `Disconnected`,
/// `Expired` or crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub start_us: u64,
    pub end_us: u64,
    pub server: u32,
    pub session: u64,
}

/// A session event of a client, drawn as a mark on its lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionMark {
    Connected { server: u32, session: u64 },
    Disconnected { server: u32 },
    Expired { session: u64 },
    Crashed,
    Paused,
    Resumed,
}

/// One use of the protected resource, and whether it let the client act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceUse {
    pub t_us: u64,
    pub token: u64,
    pub accepted: bool,
}

/// A use of the protected resource with a token older than the newest it had accepted, or
/// one it refused: a deposed leader acting (accepted) or fencing stopping it (refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleUse {
    pub t_us: u64,
    pub client: u32,
    pub token: u64,
    pub accepted: bool,
    /// The newest token the resource had accepted before: (token, client, when).
    pub newest: Option<(u64, u32, u64)>,
}

/// Everything drawn and counted for one client.
#[derive(Clone, Debug, Default)]
pub struct ClientLane {
    pub connections: Vec<Connection>,
    pub marks: Vec<(u64, SessionMark)>,
    /// Pauses as (start, end).
    pub pauses: Vec<(u64, u64)>,
    pub roles: Vec<RoleSpan>,
    pub uses: Vec<ResourceUse>,
    /// Session ids it was given, in order.
    pub sessions: Vec<u64>,
    pub connecting: u64,
    pub submitted: u64,
    pub answered_ok: u64,
    /// Operations that ended in an error, by ZooKeeper's name of it.
    pub failed: BTreeMap<String, u64>,
    /// Operations never answered (the client crashed, or the run ended first).
    pub unanswered: u64,
    pub watches: u64,
    /// The recipes' other reports, by kind: ids assigned, items produced and consumed,
    /// configuration versions seen.
    pub recipe: BTreeMap<&'static str, u64>,
}

/// A message of the sequence diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqMessage {
    pub id: u64,
    pub from: Endpoint,
    pub to: Endpoint,
    pub name: String,
    pub zxid: Option<String>,
}

/// What became of a message sent in a violation's window, as of the violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    /// Still on the wire (or held by a paused receiver).
    InFlight,
    /// Dropped: a crash, a partition, a broken connection or a newer vote replaced it.
    Lost,
}

/// One row of a sequence diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeqItem {
    Send {
        t_us: u64,
        msg: SeqMessage,
        fate: Fate,
    },
    Deliver {
        t_us: u64,
        msg: SeqMessage,
        /// When it was sent, if the trace paired it with its send.
        sent_us: Option<u64>,
    },
    /// Something a server or client did or that happened to it (state change, crash, fsync,
    /// session event, recipe step, ...).
    Note {
        t_us: u64,
        at: Option<Endpoint>,
        text: String,
        /// Crashes, violations and the like are drawn in red.
        alarm: bool,
        /// Log appends, deliveries and a client's requests and answers: dropped first when
        /// the window is full.
        routine: bool,
    },
}

impl SeqItem {
    /// Heartbeats, log appends, deliveries and client requests: what a diagram drops first
    /// when its window holds more rows than it can show, so that the protocol's steps
    /// before a violation stay in view.
    pub fn routine(&self) -> bool {
        let client = |m: &SeqMessage| {
            matches!(m.from, Endpoint::Client(_)) || matches!(m.to, Endpoint::Client(_))
        };
        match self {
            SeqItem::Send { msg, .. } | SeqItem::Deliver { msg, .. } => {
                msg.name == "PING" || client(msg)
            }
            SeqItem::Note { alarm, routine, .. } => !alarm && *routine,
        }
    }

    pub fn t_us(&self) -> u64 {
        match self {
            SeqItem::Send { t_us, .. }
            | SeqItem::Deliver { t_us, .. }
            | SeqItem::Note { t_us, .. } => *t_us,
        }
    }
}

/// A violation with what led up to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViolationWindow {
    pub t_us: u64,
    pub invariant: String,
    pub server: Option<u32>,
    pub message: String,
    /// The last rows before it, oldest first.
    pub items: Vec<SeqItem>,
    /// How many rows of the window were left out to keep the diagram readable.
    pub omitted: u64,
}

/// Out-of-order resource uses the model keeps, at most.
pub const MAX_STALE_USES: usize = 1000;

/// A whole run as the report sees it.
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub info: Option<RunInfo>,
    pub outcome: Option<OutcomeInfo>,
    pub lanes: BTreeMap<u32, Lane>,
    pub established: Vec<Establishment>,
    pub partitions: Vec<PartitionSpan>,
    pub faults: Vec<(u64, String)>,
    /// Each server's delivered count over time: (time, count).
    pub delivered: BTreeMap<u32, Vec<(u64, u64)>>,
    /// Client operations answered without error.
    pub client_ops: Vec<ClientOp>,
    /// Client operations that ended in an error, by ZooKeeper's name of it.
    pub client_failures: BTreeMap<String, u64>,
    /// Client operations never answered.
    pub unanswered: u64,
    pub clients: BTreeMap<u32, ClientLane>,
    /// Resource uses out of token order, or refused, in trace order (at most
    /// [`MAX_STALE_USES`]; `stale_uses_total` counts them all).
    pub stale_uses: Vec<StaleUse>,
    pub stale_uses_total: u64,
    pub violations: Vec<ViolationWindow>,
    /// The window before each violation, microseconds.
    pub window_us: u64,
    /// The last simulated time seen.
    pub end_us: u64,
    /// How long the run took on the wall clock, when the report is made by the run itself.
    /// It is never written to the trace, which must stay the same from run to run, so a
    /// report made from a trace file does not know it.
    pub wall_us: Option<u64>,
    /// Trace lines read, and how many of them the report did not understand.
    pub lines: u64,
    pub skipped: u64,
}

impl Run {
    pub fn name(&self) -> &str {
        self.info
            .as_ref()
            .map(|i| i.scenario.as_str())
            .unwrap_or("")
    }
}
