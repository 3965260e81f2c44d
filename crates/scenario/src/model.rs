//! The validated, fully resolved scenario that the simulator runs.
//!
//! Parsing (`crate::load`) turns TOML into these types and rejects anything the simulator
//! could not run; the simulator never re-validates. Durations are in milliseconds of simulated
//! time, as in the file.

use std::path::PathBuf;
use zab::{BugSet, ServerId, ZkVersion, Zxid};

/// One scenario file, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// `[a-z0-9-]+`
    pub name: String,
    pub description: String,
    /// The default seed; `--seed` overrides it.
    pub seed: u64,
    pub bugs: BugSet,
    /// The ZooKeeper release the scenario models (key `zk`); `None` leaves it to `--zk`,
    /// else the default release.
    pub zk: Option<ZkVersion>,
    /// Where the scenario was read from (for messages and the reproduce command).
    pub path: PathBuf,
    pub cluster: Cluster,
    /// Initial durable state per server, for servers named in `[[server]]` tables, in file
    /// order; each id appears at most once.
    pub servers: Vec<ServerInit>,
    pub network: Network,
    pub disk: Disk,
    /// `None` when the file has no `[clients]` table.
    pub clients: Option<Clients>,
    pub run: Run,
    /// In file order.
    pub faults: Vec<Fault>,
    pub random: Option<RandomFaults>,
    pub expect: Expect,
    /// Of the keys `--swarm` draws ([`SWARM_DRAWN`]), those the file sets: a swarm keeps what
    /// a scenario fixes and draws the rest.
    pub set_keys: std::collections::BTreeSet<&'static str>,
}

/// The defaults of the keys `--swarm` draws.
pub mod defaults {
    pub const TICK_MS: u64 = 100;
    pub const INIT_LIMIT: u32 = 10;
    pub const SYNC_LIMIT: u32 = 5;
    pub const SNAP_COUNT: u32 = 100;
    pub const INITIAL_ZXID_COUNTER: u64 = 0;
    pub const SESSION_TIMEOUT_MS: u64 = 4000;
}

/// The keys with a default that `--swarm` draws unless the file sets them.
pub const SWARM_DRAWN: [&str; 6] = [
    "cluster.tick_ms",
    "cluster.init_limit",
    "cluster.sync_limit",
    "cluster.snap_count",
    "cluster.initial_zxid_counter",
    "clients.session_timeout_ms",
];

impl Scenario {
    /// Where `[expect] golden` points, resolved against the scenario file's directory.
    pub fn golden_path(&self) -> Option<PathBuf> {
        let golden = self.expect.golden.as_ref()?;
        Some(
            self.path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join(golden),
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// Voting participants, ascending.
    pub participants: Vec<ServerId>,
    /// Observers, ascending; their ids follow the largest participant id unless zoo.cfg names them.
    pub observers: Vec<ServerId>,
    pub tick_ms: u64,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// `committed = "e:c"`: every initial txn up to this zxid is committed.
    pub committed: Option<Zxid>,
    /// Txns between periodic snapshots (ZooKeeper's snapCount). Key `snap_count`, default 100.
    pub snap_count: u32,
    /// Counter of the first zxid a leader hands out in a fresh epoch, minus one (ZooKeeper's
    /// `zookeeper.testingonly.initialZxid`), so that rollover can be reached. Key
    /// `initial_zxid_counter`, default 0.
    pub initial_zxid_counter: u64,
}

impl Cluster {
    /// Participants then observers.
    pub fn all(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.participants
            .iter()
            .chain(self.observers.iter())
            .copied()
    }
}

/// Initial durable state of one server, like a TLA+ initial state.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerInit {
    pub id: ServerId,
    pub accepted_epoch: u64,
    pub current_epoch: u64,
    /// Expanded from the `log` ranges, ascending.
    pub log: Vec<Zxid>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Inclusive `[min, max]` one-way delay.
    pub delay_ms: (u64, u64),
    /// Probability per message that its connection breaks (the message is lost).
    pub reset: f64,
    pub reorder: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Disk {
    pub fsync_ms: (u64, u64),
}

/// The program the clients run: the client library's own list, spelt as its `name`.
pub use zab::client::Workload;

#[derive(Clone, Debug, PartialEq)]
pub struct Clients {
    pub workload: Workload,
    pub count: u32,
    pub session_timeout_ms: u64,
    pub ops: u32,
    pub write_ratio: f64,
    pub think_ms: (u64, u64),
    /// The protected resource the recipes act on checks fencing tokens (the leader znode's
    /// czxid) and refuses one older than the newest it has seen (key `fencing`, default
    /// false).
    pub fencing: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub duration_ms: u64,
    pub liveness_ms: u64,
}

/// Who a fault applies to. Resolved when the fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selector {
    Leader,
    Follower,
    Observer,
    /// Any server.
    Any,
    Server(ServerId),
    /// Any client.
    Client,
    /// Client N (`c2`), numbered from 1.
    ClientN(u32),
    /// The client that believes it leads the election recipe or holds the lock right now
    /// (`recipe-leader`).
    RecipeLeader,
    /// Everyone not named in another group (partitions only).
    Rest,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnKind {
    Send,
    Receive,
    State,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Trigger {
    At {
        at_ms: u64,
    },
    /// Fires once, on the `nth` matching event (counting from 1), at or after `after_ms`;
    /// the action comes `delay_ms` after the match (0: before the event itself goes on).
    /// `name` is a message name (NOTIFICATION, FOLLOWERINFO, ...) for send/receive, or a
    /// state (LOOKING, FOLLOWING, LEADING, OBSERVING) for `state`. For `state`, `from` selects
    /// the server whose state changes and `to` is always `None`.
    On {
        kind: OnKind,
        name: String,
        from: Option<Selector>,
        to: Option<Selector>,
        nth: u32,
        after_ms: u64,
        delay_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Crash {
        target: Selector,
        restart_after_ms: Option<u64>,
    },
    Restart {
        target: Selector,
    },
    Partition {
        groups: Vec<Vec<Selector>>,
        one_way: bool,
        heal_after_ms: Option<u64>,
    },
    Isolate {
        target: Selector,
        heal_after_ms: Option<u64>,
    },
    Heal,
    Pause {
        target: Selector,
        duration_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub trigger: Trigger,
    pub action: Action,
    /// 1-based line of the `[[faults]]` table, for messages and the trace.
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RandomFaults {
    pub until_ms: u64,
    pub crash_per_min: f64,
    pub restart_ms: (u64, u64),
    pub partition_per_min: f64,
    pub partition_ms: (u64, u64),
    pub pause_per_min: f64,
    /// One-way partitions per minute (key `one_way_per_min`, default 0): the first group
    /// cannot reach the second, the reverse still flows. Durations from `partition_ms`.
    pub one_way_per_min: f64,
    pub pause_ms: (u64, u64),
    /// Client process crashes per minute (a crashed client restarts after `restart_ms` with
    /// a new session) and client pauses per minute (durations from `pause_ms`); default 0.
    pub client_crash_per_min: f64,
    pub client_pause_per_min: f64,
}

/// What a run of the scenario must show: which invariants break, and the facts the scenario
/// exists to demonstrate, so that a scenario file says its point and its test is the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    /// Invariant names (validated against `check::INVARIANTS`) that must be violated.
    pub violations: Vec<String>,
    /// Whether a leader must be established at the end of the run. Default `true`.
    pub leader: bool,
    /// `leader = "s2"`: which server that leader must be.
    pub leader_id: Option<ServerId>,
    /// How many times a leader establishes an epoch during the run.
    pub elections: Option<u32>,
    /// Txns every server running at the end has delivered.
    pub delivered: Vec<Zxid>,
    /// Txns no server delivers at any time.
    pub never_delivered: Vec<Zxid>,
    /// At least this many txns are committed.
    pub committed_at_least: Option<u64>,
    /// Every server running at the end has delivered the same sequence.
    pub same_history: bool,
    /// Syncs that must happen at least once.
    pub syncs: Vec<SyncExpect>,
    /// The golden file of the run's story (`sim::story`), relative to the scenario file: the
    /// run with the scenario's own seed and settings must tell exactly that story.
    pub golden: Option<std::path::PathBuf>,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            violations: Vec::new(),
            leader: true,
            leader_id: None,
            elections: None,
            delivered: Vec::new(),
            never_delivered: Vec::new(),
            committed_at_least: None,
            same_history: false,
            syncs: Vec::new(),
            golden: None,
        }
    }
}

/// `sync = [{ learner = "s1", mode = "TRUNC", zxid = "1:2" }]`: a leader synchronizes that
/// learner with that packet (and, if given, that zxid: the DIFF or TRUNC target, or the
/// snapshot's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncExpect {
    pub learner: ServerId,
    pub mode: zab::SyncMode,
    pub zxid: Option<Zxid>,
}
