//! One ZooKeeper server (`QuorumPeer`) as a sans-IO state machine.
//!
//! The server is driven by [`Server::step`]. What it keeps across roles is its [`Peer`]; its
//! role (LOOKING, LEADING, FOLLOWING, OBSERVING) lives in [`Role`], each with its own state
//! and handlers (`election`, `leader`, `learner`). `step` matches on the role once and hands
//! the role's handler its own state and the peer; when a handler ends its role, the server
//! carries that out after the handler returns. A crash is not an input: the simulator drops
//! the value and boots a new one from what is durable on the disk.

use crate::bug::Bug;
use crate::committed_log::CommittedLog;
use crate::config::Config;
use crate::db::{DataTree, DiskImage, DiskOp, Snapshot, Txn};
use crate::election::{Election, Vote};
use crate::ids::{Channel, Endpoint, ServerId, Zxid};
use crate::io::{Event, Input, Outputs, Timer, ZabPhase};
use crate::leader::Leader;
use crate::learner::Learner;
use crate::log_files::LogFile;
use crate::message::{Message, ServerState};
pub(crate) use crate::peer::AfterWrite;
use crate::peer::{Leave, Peer};
use crate::timers::Timers;
use crate::watches::WatchManager;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

pub(crate) enum Role {
    Looking(Election),
    Leading(Box<Leader>),
    /// Following and observing share the learner logic (`Learner.java`).
    Learning(Box<Learner>),
    /// Between roles: the QuorumPeer thread waits for durable writes before it looks for a
    /// leader (see [`Flush`]). The server keeps reporting its old state and vote meanwhile,
    /// as ZooKeeper's peer does until `updateServerState`.
    Flushing(Flush),
    /// The server refused to start (see [`Event::StartupFailed`]).
    Failed,
}

/// What a server between roles waits for, and what it does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flush {
    /// Wait for every in-flight write (start-up repairs), or only for the txn log's appends
    /// (`appends`) and the epoch files (see [`crate::peer::Peer::epoch_write_in_flight`]).
    pub(crate) all_writes: bool,
    /// Wait for the txn log's appends (`SyncRequestProcessor.shutdown` joins the log thread
    /// and fsyncs, SyncRequestProcessor.java:254-271 at both tags).
    pub(crate) appends: bool,
    /// Apply the logged txns the data tree lacks before voting (`ZKDatabase
    /// .fastForwardDataBase`, ZooKeeperServer.java:876 at 3.8.0, :936 at 3.9.4).
    pub(crate) fast_forward: bool,
}

/// A ZooKeeper server.
pub struct Server {
    /// What the server keeps whatever its role.
    pub(crate) peer: Peer,
    /// What it is doing now, with that role's own state.
    pub(crate) role: Role,
}

impl Server {
    /// Boots a server from its disk, as `QuorumPeer.start` does: load the database, check the
    /// epoch files against it, and start looking for a leader.
    pub fn boot(
        cfg: Arc<Config>,
        id: ServerId,
        disk: &DiskImage,
        now: u64,
        out: &mut Outputs,
    ) -> Server {
        // FileSnap.deserialize loads the newest snapshot. `fixed` starts from the point the
        // log continues (the last SNAP's snapshot, or nothing), which gives the same data
        // tree but keeps every logged txn in memory, so that a TRUNC can rebuild the tree
        // without a newer snapshot's txns (see trunc-keeps-snapshot).
        let start = if cfg.has(Bug::TruncKeepsSnapshot) {
            disk.latest_snapshot()
        } else {
            disk.log_base.as_ref()
        };
        let base = start.cloned().unwrap_or_else(|| {
            Arc::new(Snapshot {
                zxid: Zxid::default(),
                tree: DataTree::default(),
            })
        });
        let mut tree = base.tree.clone();
        let log: Vec<Txn> = disk
            .log
            .iter()
            .filter(|t| t.zxid > base.zxid)
            .cloned()
            .collect();
        for txn in &log {
            tree.apply(txn);
        }
        let last = tree.last_processed;
        let committed_log = CommittedLog::new(cfg.version);
        let mut log_files = disk.log_files.clone();
        if log_files.is_empty() {
            if let Some(first) = disk.log.first() {
                log_files.push(LogFile {
                    first: first.zxid,
                    truncated: false,
                });
            }
        }
        let cfg_seed = cfg.seed;
        let snap_count = cfg.snap_count;
        let peer = Peer {
            timers: Timers::default(),
            id,
            cfg,
            now,
            accepted_epoch: disk.accepted_epoch,
            current_epoch: disk.current_epoch,
            base,
            snapshots: disk.snapshots.clone(),
            log,
            log_files,
            roll_log: true,
            committed_log,
            tree,
            delivered: 0,
            txns_since_snapshot: 0,
            snap_roll: 0,
            next_write_id: 0,
            pending: VecDeque::new(),
            logical_clock: 0,
            current_vote: Vote::looking(id, last, disk.current_epoch, 0),
            state: ServerState::Looking,
            phase: ZabPhase::Election,
            role_gen: 0,
            self_notification: None,
            clients: BTreeMap::new(),
            watches: WatchManager::default(),
            next_session_id: crate::sessions::first_session_id(id, now),
            rng: ChaCha8Rng::seed_from_u64(
                cfg_seed ^ (u64::from(id.0) << 56) ^ now.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            leaving: None,
            reenabled: Vec::new(),
        };
        let mut server = Server {
            peer,
            role: Role::Failed,
        };
        server.peer.snap_roll = server.peer.draw_snap_roll(snap_count);
        out.event(Event::TreeReset { kept: 0 });
        server.peer.replay_committed_log(out);
        let mut repaired = false;
        if disk.updating_epoch && !server.peer.cfg.has(Bug::Zk2354) {
            // The proposed ZOOKEEPER-2354 fix (apache/zookeeper PRs 1109/1110, never merged;
            // ZOOKEEPER-1653 on branch-3.4): the learner crashed while persisting what
            // NEWLEADER vouches for, so its log may already hold the new epoch, which it had
            // accepted. The repair is written before the server does anything else.
            if last.epoch() > server.peer.current_epoch {
                server.peer.current_epoch = last.epoch();
                let after = AfterWrite::ClearUpdatingEpoch;
                server
                    .peer
                    .write(DiskOp::CurrentEpoch(last.epoch()), after, out);
            } else {
                server
                    .peer
                    .write(DiskOp::UpdatingEpoch(false), AfterWrite::Nothing, out);
            }
            repaired = true;
        }
        // QuorumPeer.loadDataBase (QuorumPeer.java:1165-1198 at 3.8.0, 1168-1201 at 3.9.4):
        // a log ahead of currentEpoch, or a currentEpoch ahead of acceptedEpoch, means the
        // files are inconsistent, and the server refuses to start. (Its `currentEpoch.tmp`
        // fallback only finds the leftover of an interrupted atomic write, which a disk
        // write that is either durable or lost never leaves.)
        if last.epoch() > server.peer.current_epoch {
            let reason = format!(
                "The current epoch, {}, is older than the last zxid, {}",
                server.peer.current_epoch, last
            );
            if server.peer.cfg.has(Bug::Zk2354) {
                out.fired(Bug::Zk2354);
            }
            out.event(Event::StartupFailed { reason });
            return server;
        }
        if server.peer.accepted_epoch < server.peer.current_epoch {
            let reason = format!(
                "The accepted epoch, {} is less than the current epoch, {}",
                server.peer.accepted_epoch, server.peer.current_epoch
            );
            out.event(Event::StartupFailed { reason });
            return server;
        }
        if !server.peer.cfg.participants.is_empty() && !server.peer.cfg.is_member(id) {
            out.event(Event::StartupFailed {
                reason: format!("{id} is not in the ensemble"),
            });
            return server;
        }
        if repaired {
            server.role = Role::Flushing(Flush {
                all_writes: true,
                appends: true,
                fast_forward: false,
            });
        } else {
            server.look(false, out);
        }
        server
    }

    /// When the server next needs [`Input::Timeout`]: its earliest armed timer (`None` once
    /// it has failed, as a process that refused to start does nothing more).
    pub fn next_deadline(&self) -> Option<u64> {
        if matches!(self.role, Role::Failed) {
            return None;
        }
        self.peer.timers.next_deadline()
    }

    /// Advances the server by one input at simulated time `now` (microseconds).
    pub fn step(&mut self, now: u64, input: Input, out: &mut Outputs) {
        debug_assert!(now >= self.peer.now, "time went backwards");
        self.peer.now = now;
        if matches!(self.role, Role::Failed) {
            return;
        }
        match input {
            Input::Receive { from, channel, msg } => self.on_receive(from, channel, msg, out),
            Input::Timeout => {
                // Each due timer is handled as its own step, as if its deadline had been a
                // separate event: a timer armed while handling one waits for the next
                // timeout, even if it is due at once.
                for (at, timer) in self.peer.timers.due(now) {
                    if matches!(self.role, Role::Failed) {
                        return;
                    }
                    if self.peer.timers.expire(timer, at) {
                        self.on_timer(timer, out);
                        self.settle(out);
                    }
                }
                return;
            }
            Input::Disconnected { peer, channel } => self.on_disconnected(peer, channel, out),
            Input::DiskDone { id } => self.on_disk_done(id, out),
        }
        self.settle(out);
    }

    /// What a handler left for the server: a role that ended, connections to read from
    /// again, and the server's own notification.
    ///
    /// A role's handlers are only called with `leaving` empty: `step` settles after each
    /// input and each due timer, so no handler needs to ask whether its role is still on.
    fn settle(&mut self, out: &mut Outputs) {
        loop {
            if let Some(leave) = self.peer.leaving.take() {
                match leave {
                    Leave::Flush(flush) => self.role = Role::Flushing(flush),
                    Leave::Look { fast_forward } => self.look(fast_forward, out),
                }
            } else if !self.peer.reenabled.is_empty() {
                let client = self.peer.reenabled.remove(0);
                self.read_backlog(client, out);
            } else if let Some(n) = self.peer.self_notification.take() {
                self.on_notification(self.peer.id, n, out);
            } else {
                return;
            }
        }
    }

    fn on_receive(&mut self, from: Endpoint, channel: Channel, msg: Message, out: &mut Outputs) {
        let sid = match from {
            Endpoint::Server(sid) => sid,
            Endpoint::Client(c) => return self.on_client(c, msg, out),
        };
        let peer = &mut self.peer;
        match msg {
            Message::Notification(n) => self.on_notification(sid, n, out),
            msg => match &mut self.role {
                Role::Leading(l) => l.receive(peer, sid, msg, out),
                Role::Learning(l) => l.receive(peer, sid, msg, out),
                // A learner that connects to a server that is not leading: ZooKeeper refuses
                // the connection, so the learner gives up and looks again.
                Role::Looking(_) | Role::Flushing(_) | Role::Failed => {
                    if matches!(
                        msg,
                        Message::FollowerInfo { .. } | Message::ObserverInfo { .. }
                    ) {
                        out.items.push(crate::io::Output::Close {
                            peer: from,
                            channel,
                        });
                    }
                }
            },
        }
    }

    fn on_timer(&mut self, timer: Timer, out: &mut Outputs) {
        let peer = &mut self.peer;
        match (&mut self.role, timer) {
            (Role::Looking(_), Timer::FleTimeout | Timer::FleFinalize) => {
                self.election_timer(timer, out)
            }
            (Role::Leading(l), Timer::LeaderInit | Timer::LeaderTick | Timer::SessionTick) => {
                l.on_timer(peer, timer, out)
            }
            (
                Role::Learning(l),
                Timer::LearnerTimeout | Timer::LearnerRetry | Timer::LearnerStall,
            ) => l.on_timer(peer, timer, out),
            // A role's timers go with the role (see `Peer::leave_role`).
            _ => {}
        }
    }

    fn on_disconnected(&mut self, peer: Endpoint, channel: Channel, out: &mut Outputs) {
        let sid = match peer {
            Endpoint::Server(sid) => sid,
            Endpoint::Client(c) => {
                self.peer.client_disconnected(c);
                return;
            }
        };
        if channel != Channel::Quorum {
            return; // QuorumCnxManager reconnects on demand; lost notifications are resent.
        }
        match &mut self.role {
            Role::Leading(l) => l.lost_learner(sid),
            Role::Learning(l) if l.leader == sid => l.disconnected(&mut self.peer, out),
            _ => {}
        }
    }

    fn on_disk_done(&mut self, id: u64, out: &mut Outputs) {
        let Some(write) = self.peer.complete_write(id, out) else {
            return;
        };
        let peer = &mut self.peer;
        if let Role::Flushing(flush) = self.role {
            let waiting = if flush.all_writes {
                !peer.pending.is_empty()
            } else {
                (flush.appends && peer.unflushed_appends().next().is_some())
                    || peer.epoch_write_in_flight()
            };
            if !waiting {
                self.look(flush.fast_forward, out);
            }
            return;
        }
        if write.role_gen != peer.role_gen {
            // The learner thread of an earlier role was still inside this write (or its log
            // writer was); a learner blocked behind it may go on now.
            if write.after == AfterWrite::LearnerStep || write.append.is_some() {
                if let Role::Learning(l) = &mut self.role {
                    l.write_done(peer, out);
                }
            }
            return;
        }
        match (&mut self.role, write.after) {
            (_, AfterWrite::Nothing | AfterWrite::ClearUpdatingEpoch) => {}
            (Role::Learning(l), AfterWrite::AckProposal(zxid)) => {
                l.logged(zxid, out);
                l.write_done(peer, out);
            }
            (Role::Learning(l), AfterWrite::LearnerStep) => l.write_done(peer, out),
            (Role::Leading(l), AfterWrite::SelfAck(zxid)) => {
                let me = peer.id;
                l.process_ack(peer, me, zxid, out)
            }
            (Role::Leading(l), AfterWrite::LeaderAcceptedEpoch) => {
                l.accepted_epoch_durable(peer, out)
            }
            (Role::Leading(l), AfterWrite::LeaderCurrentEpoch) => {
                l.current_epoch_durable(peer, out)
            }
            // A write's role generation is the current one, so its continuation belongs to
            // the current role.
            (_, after) => debug_assert!(false, "{after:?} continues another role"),
        }
    }

    /// `QuorumPeer.updateServerState` to LOOKING, then `lookForLeader`.
    fn look(&mut self, fast_forward: bool, out: &mut Outputs) {
        if fast_forward {
            self.peer.fast_forward(out);
        }
        self.peer
            .set_state(ServerState::Looking, ZabPhase::Election, out);
        let mut election = Election::default();
        election.look_for_leader(&mut self.peer, out);
        self.role = Role::Looking(election);
    }

    // ---- read-only view, for checkers and the report ----

    pub fn id(&self) -> ServerId {
        self.peer.id
    }
    pub fn state(&self) -> ServerState {
        self.peer.state
    }
    pub fn phase(&self) -> ZabPhase {
        self.peer.phase
    }
    pub fn accepted_epoch(&self) -> u64 {
        self.peer.accepted_epoch
    }
    pub fn current_epoch(&self) -> u64 {
        self.peer.current_epoch
    }
    pub fn logical_clock(&self) -> u64 {
        self.peer.logical_clock
    }
    pub fn last_processed_zxid(&self) -> Zxid {
        self.peer.tree.last_processed
    }
    /// The txns logged or being logged after the base snapshot.
    pub fn log(&self) -> &[Txn] {
        &self.peer.log
    }
    /// Zxid of the snapshot the in-memory log continues from.
    pub fn log_base(&self) -> &Snapshot {
        &self.peer.base
    }
    pub fn tree(&self) -> &DataTree {
        &self.peer.tree
    }
    /// How many of the data tree's applied txns are delivered.
    pub fn delivered(&self) -> usize {
        self.peer.delivered
    }
    /// The leader this server follows, or itself when leading.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.role {
            Role::Leading(_) => Some(self.peer.id),
            Role::Learning(l) => Some(l.leader),
            _ => None,
        }
    }
    /// True for a leader in BROADCAST (it has established its epoch).
    pub fn is_established_leader(&self) -> bool {
        matches!(&self.role, Role::Leading(l) if l.established)
    }
    /// The epoch a leader leads or a learner follows, once known.
    pub fn role_epoch(&self) -> Option<u64> {
        match &self.role {
            Role::Leading(l) => l.epoch_decided.then_some(l.epoch),
            Role::Learning(l) => l.new_epoch,
            _ => None,
        }
    }
    pub fn has_failed(&self) -> bool {
        matches!(self.role, Role::Failed)
    }
    /// The vote this server currently proposes (LOOKING) or reports (otherwise).
    pub fn vote(&self) -> Vote {
        match &self.role {
            Role::Looking(e) => e.proposal(self.peer.logical_clock),
            _ => self.peer.current_vote,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::client_api::CreateMode;
    use crate::db::DiskOp;
    use crate::ids::ClientId;
    use crate::testkit::{connect, create, ok, Cluster};

    /// After a restart the committedLog holds what loadDataBase replayed after the newest
    /// snapshot, not the whole log (ZKDatabase.java:271-275, 283 / 276-280, 288), and the
    /// first append goes to a new log file.
    #[test]
    fn a_restart_keeps_only_the_txns_after_the_newest_snapshot_in_the_committed_log() {
        use crate::db::{DiskImage, Snapshot, Txn};
        use crate::ids::{ServerId, Zxid};
        use crate::io::Outputs;
        use std::sync::Arc;
        let mut disk = DiskImage {
            accepted_epoch: 1,
            current_epoch: 1,
            ..DiskImage::default()
        };
        for c in 1..=9 {
            disk.apply(&DiskOp::Append(Txn::initial(Zxid::new(1, c))));
        }
        let mut tree = crate::tree::DataTree::default();
        for t in &disk.log[..5] {
            tree.apply(t);
        }
        let snapshot = Arc::new(Snapshot {
            zxid: Zxid::new(1, 5),
            tree,
        });
        disk.apply(&DiskOp::Snapshot {
            snapshot,
            replaces_log: false,
        });
        assert_eq!(
            disk.log_files.len(),
            1,
            "one file for a log written in one go"
        );
        let cfg = Arc::new(crate::config::Config {
            version: crate::version::ZkVersion::V3_9_4,
            ..crate::testkit::config(3, &[], 100)
        });
        let mut out = Outputs::default();
        let s = super::Server::boot(cfg, ServerId(1), &disk, 0, &mut out);
        assert_eq!(s.peer.tree.last_processed, Zxid::new(1, 9));
        assert_eq!(s.peer.committed_log.min(), Some(Zxid::new(1, 6)));
        assert_eq!(s.peer.committed_log.max(), Some(Zxid::new(1, 9)));
        assert!(s.peer.roll_log, "the next append opens a new log file");
    }

    /// SyncRequestProcessor: a snapshot starts once more than snapCount/2 + randRoll txns
    /// were logged since the last, randRoll drawn anew in [0, snapCount/2) each time; so the
    /// gaps vary, between 11 and 20 txns for a snapCount of 20.
    #[test]
    fn periodic_snapshots_come_after_a_random_share_of_snap_count() {
        let mut c = Cluster::with_snap_count(3, &[], 20);
        let leader = c.leader();
        let client = ClientId(1);
        connect(&mut c, client, leader);
        for i in 0..200 {
            ok(
                &mut c,
                client,
                leader,
                i + 1,
                create(&format!("/n{i}"), CreateMode::Persistent),
            );
        }
        for id in c.servers.keys().copied().collect::<Vec<_>>() {
            let mut appends = 0;
            let mut at = Vec::new();
            for (s, op) in &c.writes {
                match op {
                    _ if *s != id => {}
                    DiskOp::Append(_) | DiskOp::AppendToNewFile(_) => appends += 1,
                    // The leader's snapshot at the start of lead() comes before any append.
                    DiskOp::Snapshot { .. } if appends > 0 => at.push(appends),
                    _ => {}
                }
            }
            let gaps: Vec<usize> = at.windows(2).map(|w| w[1] - w[0]).collect();
            assert!(gaps.len() >= 8, "{id}: {at:?}");
            assert!(gaps.iter().all(|g| (11..=20).contains(g)), "{id}: {gaps:?}");
            assert!(gaps.iter().any(|g| *g != gaps[0]), "{id}: {gaps:?}");
        }
    }
}
