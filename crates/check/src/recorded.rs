//! Judging a history recorded outside the simulator, such as a real ZooKeeper ensemble's run,
//! with the simulator's own client-visible checkers.
//!
//! A recorded history is a time-ordered list of [`Step`]s, each one of the [`Happening`]s
//! the checkers already read, plus what is known of each server at the end. [`judge`] shows
//! the steps to the client-visible checkers exactly as the simulator would, through the same
//! [`Checker::on`], so a real run is judged by the same code as a simulated one. What differs
//! is only what the evidence can say, and that is decided by whoever records the history
//! (for a real run: crates/cli's `conform::history`), never here.
//!
//! The view a checker gets knows no server's volatile state during the run: a real server's
//! internals are not observable. It knows each server's state at the end of the run once the
//! recording reaches its end ([`Step::End`]), which is when the recorder reports what each
//! server delivered and the liveness deadline falls. The checkers that need more than that
//! (the server-side invariants, which follow every message and disk write) are not run, and
//! [`NOT_CHECKED`] says so.

use crate::{all_checkers, ClientEvent, Happening, Interest, View, Violation};
use std::collections::{BTreeMap, BTreeSet};
use zab::{
    ClientId, Config, DataTree, DiskImage, DiskOp, Endpoint, Message, ServerId, ServerState, Txn,
    ZabPhase,
};

/// The invariants a recorded history is judged against: the client-visible ones.
pub const CHECKED: [&str; 6] = [
    "linearizable-writes",
    "session-order",
    "ephemeral-cleanup",
    "watch-order",
    "recipe-safety",
    "progress",
];

/// Every other invariant with a checker, and why a recorded history cannot be judged
/// against it.
pub const NOT_CHECKED: &str = "needs every server's internal state as the run goes (each \
                               message, vote and disk write), which a real server does not show";

/// One thing that happened, in the checkers' vocabulary.
#[derive(Clone, Debug)]
pub enum Step {
    /// A server's protocol event (from its log files, its packets, its log lines).
    Server { id: ServerId, event: zab::Event },
    /// A server's reply reaching a client (`Happening::Deliver` of a CLIENT_REPLY).
    Reply {
        server: ServerId,
        client: ClientId,
        msg: Message,
    },
    /// A client's event.
    Client { id: ClientId, event: ClientEvent },
    /// The end of the recording: from here on the view shows each server's end state.
    End,
    /// The liveness deadline (`liveness_ms` after the faults stopped).
    Deadline { faults_over_us: u64 },
}

/// What is known of a server at the end of the run. A server missing from
/// [`Recorded::ends`] was down (or its state is unknown, which the recorder must say).
#[derive(Clone, Debug)]
pub struct EndState {
    pub state: ServerState,
    pub phase: ZabPhase,
    pub leader: Option<ServerId>,
    pub established: bool,
    pub role_epoch: Option<u64>,
    pub accepted_epoch: u64,
    pub current_epoch: u64,
    pub paused: bool,
    /// Its txn log, in order.
    pub log: Vec<Txn>,
    /// Its data tree: `applied` holds every txn it delivered, in order.
    pub tree: DataTree,
}

/// A recorded history.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub config: Config,
    /// Participants then observers.
    pub members: Vec<ServerId>,
    /// In time order (microseconds since the run started); equal times keep their order.
    pub steps: Vec<(u64, Step)>,
    pub ends: BTreeMap<ServerId, EndState>,
    /// Links cut at the end, as (from, to).
    pub cut: BTreeSet<(ServerId, ServerId)>,
}

struct RecordedView<'a> {
    rec: &'a Recorded,
    now_us: u64,
    ended: bool,
    disk: DiskImage,
}

impl View for RecordedView<'_> {
    fn now_us(&self) -> u64 {
        self.now_us
    }
    fn config(&self) -> &Config {
        &self.rec.config
    }
    fn members(&self) -> &[ServerId] {
        &self.rec.members
    }
    fn server(&self, id: ServerId) -> Option<crate::ServerView<'_>> {
        if !self.ended {
            return None;
        }
        let e = self.rec.ends.get(&id)?;
        Some(crate::ServerView {
            id,
            state: e.state,
            phase: e.phase,
            accepted_epoch: e.accepted_epoch,
            current_epoch: e.current_epoch,
            leader: e.leader,
            established: e.established,
            role_epoch: e.role_epoch,
            last_zxid: e.tree.last_processed,
            log: &e.log,
            tree: &e.tree,
            delivered: e.tree.applied.len(),
        })
    }
    fn is_paused(&self, id: ServerId) -> bool {
        self.ended && self.rec.ends.get(&id).is_some_and(|e| e.paused)
    }
    fn can_reach(&self, from: ServerId, to: ServerId) -> bool {
        !self.rec.cut.contains(&(from, to))
    }
    fn disk(&self, _id: ServerId) -> &DiskImage {
        &self.disk
    }
    fn unflushed(&self, _id: ServerId) -> Vec<&DiskOp> {
        Vec::new()
    }
}

/// Runs the client-visible checkers ([`CHECKED`]) over the history; returns what they
/// report, in order.
pub fn judge(rec: &Recorded) -> Vec<Violation> {
    let mut checkers: Vec<_> = all_checkers()
        .into_iter()
        .filter(|c| CHECKED.contains(&c.name()))
        .collect();
    let interests: Vec<Interest> = checkers.iter().map(|c| c.interest()).collect();
    let mut view = RecordedView {
        rec,
        now_us: 0,
        ended: false,
        disk: DiskImage::default(),
    };
    let mut out = Vec::new();
    for (t, step) in &rec.steps {
        view.now_us = *t;
        let h = match step {
            Step::Server { id, event } => Happening::Server { id: *id, event },
            Step::Reply {
                server,
                client,
                msg,
            } => Happening::Deliver {
                from: Endpoint::Server(*server),
                to: Endpoint::Client(*client),
                msg,
            },
            Step::Client { id, event } => Happening::Client { id: *id, event },
            Step::End => {
                view.ended = true;
                continue;
            }
            Step::Deadline { faults_over_us } => Happening::LivenessDeadline {
                faults_over_us: *faults_over_us,
            },
        };
        let kind = h.kind();
        for (c, i) in checkers.iter_mut().zip(&interests) {
            if i.contains(kind) {
                c.on(&h, &view, &mut out);
            }
        }
    }
    out
}

/// The end state of a server whose whole history is `log` (no snapshot before it): its tree
/// is the log applied in order, every txn delivered.
pub fn replayed(log: Vec<Txn>) -> DataTree {
    let mut tree = DataTree::default();
    for t in &log {
        tree.apply(t);
    }
    tree
}
