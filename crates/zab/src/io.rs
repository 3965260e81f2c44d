//! What goes into a server and what comes out of it.
//!
//! A server never performs IO. Each call to [`crate::Server::step`] takes one [`Input`] and
//! pushes [`Output`]s into a caller-owned buffer; the simulator is the only interpreter of
//! those outputs. Durable writes are outputs too, and their completion is an input, so a
//! server can hold back an acknowledgement until what it vouches for is on disk.

use crate::bug::Bug;
use crate::db::{DiskOp, TxnId};
use crate::ids::{Channel, ClientId, Endpoint, ServerId, ServerSet, Zxid};
use crate::message::{Message, ServerState};
use serde::Serialize;

/// The four phases of `QuorumPeer.ZabState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ZabPhase {
    Election,
    Discovery,
    Synchronization,
    Broadcast,
}

impl ZabPhase {
    pub fn name(self) -> &'static str {
        match self {
            ZabPhase::Election => "ELECTION",
            ZabPhase::Discovery => "DISCOVERY",
            ZabPhase::Synchronization => "SYNCHRONIZATION",
            ZabPhase::Broadcast => "BROADCAST",
        }
    }
}

/// Named deadlines. At most one is pending per kind; setting one replaces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Timer {
    /// FLE: no notification arrived within the current notification timeout.
    FleTimeout,
    /// FLE: finalizeWait passed with no better vote.
    FleFinalize,
    /// Leader: discovery or synchronization did not finish within initLimit.
    LeaderInit,
    /// Leader: twice a tick, ping learners and check for a synced quorum.
    LeaderTick,
    /// Leader: a tick boundary, when sessions not heard from within their timeout expire.
    SessionTick,
    /// Learner: nothing heard from the leader within initLimit (syncing) or syncLimit.
    LearnerTimeout,
    /// Learner: retry connecting to a leader that refused the connection.
    LearnerRetry,
    /// Learner (zk-4685): the learner thread, stalled after handing the synced txns to its
    /// log writer, gets to write the NEWLEADER ack.
    LearnerStall,
}

impl crate::timers::TimerName for Timer {
    const ALL: &'static [Timer] = &[
        Timer::FleTimeout,
        Timer::FleFinalize,
        Timer::LeaderInit,
        Timer::LeaderTick,
        Timer::SessionTick,
        Timer::LearnerTimeout,
        Timer::LearnerRetry,
        Timer::LearnerStall,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One input to a server.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A message arrived on a connection.
    Receive {
        from: Endpoint,
        channel: Channel,
        msg: Message,
    },
    /// The server's next deadline ([`crate::Server::next_deadline`]) has come: every timer
    /// due by now fires, earliest first.
    Timeout,
    /// A connection broke (partition, reset, peer crash); in-flight messages on it are lost.
    Disconnected { peer: Endpoint, channel: Channel },
    /// The write with this id is durable.
    DiskDone { id: u64 },
}

/// What a server asks its environment to do, and what it reports having done.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Send {
        to: Endpoint,
        channel: Channel,
        msg: Message,
    },
    /// Start a durable write; the environment answers with `Input::DiskDone { id }`.
    Disk {
        id: u64,
        op: DiskOp,
    },
    /// Close a connection (ZooKeeper closes a learner's socket on protocol errors).
    Close {
        peer: Endpoint,
        channel: Channel,
    },
    Event(Event),
    /// A bug or hazard that is switched on just changed what the server did: the moment a
    /// known deviation is exercised. Failures are attributed only to bugs that fired.
    Fired(Bug),
}

/// Protocol events: the checkers' and the report's view of what a server decided.
///
/// [`EventKind`], the events without their fields (what a checker asks to be shown), is
/// derived from this one definition.
#[derive(Clone, Debug, PartialEq, Hash, Serialize, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(EventKind),
    derive(PartialOrd, Ord, Hash, strum::VariantArray, strum::EnumCount)
)]
pub enum Event {
    /// Server state or ZAB phase changed.
    State {
        state: ServerState,
        phase: ZabPhase,
        epoch: u64,
    },
    /// FLE: the proposal this server votes for changed.
    Vote {
        leader: ServerId,
        zxid: Zxid,
        peer_epoch: u64,
        election_epoch: u64,
    },
    /// FLE finished: this server will lead, follow or observe `leader`.
    Elected {
        leader: ServerId,
        election_epoch: u64,
    },
    /// Leader: the new epoch is fixed (a quorum of learners reported their acceptedEpoch).
    EpochDecided { epoch: u64 },
    /// Leader: a quorum acknowledged NEWLEADER; the leader broadcasts in `epoch`.
    Established { epoch: u64, quorum: Vec<ServerId> },
    /// Leader: how a learner will be synchronized.
    SyncDecision {
        learner: ServerId,
        mode: SyncMode,
        zxid: Zxid,
        peer_last_zxid: Zxid,
    },
    /// Learner: UPTODATE received; it serves in `epoch` under `leader`.
    Synced { leader: ServerId, epoch: u64 },
    /// Leader: a txn was proposed; `op` is what it does, for the client-visible checkers.
    Proposed {
        txn: TxnId,
        op: crate::db::TxnOp,
        request: Option<crate::db::RequestId>,
    },
    /// Leader: a txn gathered a quorum of ACKs and is committed.
    Committed { txn: TxnId, acks: ServerSet },
    /// The first `count` txns of the data tree's applied sequence are delivered: committed and
    /// visible to clients. Those from `from` on are newly so; `from` is the count the server last
    /// reported, lowered by any `TreeReset` since (0 after a restart), so an observer learns what
    /// changed without following every earlier report itself.
    Delivered { from: usize, count: usize },
    /// The server's data tree was replaced (restart, SNAP, TRUNC reload); nothing after its
    /// first `kept` applied txns is known to match what it delivered before.
    TreeReset { kept: usize },
    /// A leader gave up: lost its quorum, timed out, or a zxid counter ran out.
    LeaderShutdown { reason: String },
    /// A learner gave up on its leader.
    LearnerShutdown { reason: String },
    /// A state ZooKeeper treats as impossible (it would exit or log an error).
    ProtocolError { reason: String },
    /// The server refused to start from its disk (QuorumPeer.loadDataBase checks).
    StartupFailed { reason: String },
}

/// `QuorumPeer.SyncMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum SyncMode {
    Diff,
    Trunc,
    Snap,
}

impl SyncMode {
    pub fn name(self) -> &'static str {
        match self {
            SyncMode::Diff => "DIFF",
            SyncMode::Trunc => "TRUNC",
            SyncMode::Snap => "SNAP",
        }
    }
}

/// The caller-owned output buffer, with the helpers servers use to fill it.
#[derive(Debug, Default)]
pub struct Outputs {
    pub items: Vec<Output>,
}

impl Outputs {
    pub fn send(&mut self, to: ServerId, channel: Channel, msg: Message) {
        self.items.push(Output::Send {
            to: Endpoint::Server(to),
            channel,
            msg,
        });
    }
    /// Sends to a client on its session connection.
    pub fn reply(&mut self, client: ClientId, msg: Message) {
        self.items.push(Output::Send {
            to: Endpoint::Client(client),
            channel: Channel::Client,
            msg,
        });
    }
    pub fn event(&mut self, event: Event) {
        self.items.push(Output::Event(event));
    }
    pub fn fired(&mut self, bug: Bug) {
        self.items.push(Output::Fired(bug));
    }
    pub fn clear(&mut self) {
        self.items.clear();
    }
}
