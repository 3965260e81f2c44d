//! One ZooKeeper server (`QuorumPeer`) as a sans-IO state machine.
//!
//! The server is driven by [`Server::step`]. Its role (LOOKING, LEADING, FOLLOWING,
//! OBSERVING) lives in [`Role`]; each role's logic is in its own module (`election`,
//! `leader`, `learner`). A crash is not an input: the simulator drops the value and boots a
//! new one from what is durable on the disk.

use crate::bug::Bug;
use crate::committed_log::CommittedLog;
use crate::config::Config;
use crate::db::{DataTree, DiskImage, DiskOp, Snapshot, Txn};
use crate::election::{Election, Vote};
use crate::ids::ClientId;
use crate::ids::{Channel, Endpoint, ServerId, Zxid};
use crate::io::{Event, Input, Outputs, Timer, ZabPhase};
use crate::leader::Leader;
use crate::learner::Learner;
use crate::log_files::LogFile;
use crate::message::{Message, ServerState};
use crate::serving::ClientConn;
use crate::timers::Timers;
use crate::watches::WatchManager;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// What a server does when one of its durable writes completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterWrite {
    Nothing,
    /// Follower: ACK this proposal to the leader (SendAckRequestProcessor).
    AckProposal(Zxid),
    /// Leader: count its own ACK (AckRequestProcessor).
    SelfAck(Zxid),
    /// Leader: acceptedEpoch is durable; LEADERINFO may go out.
    LeaderAcceptedEpoch,
    /// Leader: currentEpoch is durable; it acknowledges its own NEWLEADER.
    LeaderCurrentEpoch,
    /// Learner: one of the writes its sync step waits for.
    LearnerStep,
    /// Start-up repair (`fixed`): currentEpoch is durable, so the `updatingEpoch` marker may
    /// go. Deleted any earlier, a crash in between would leave neither the marker nor the
    /// repaired epoch.
    ClearUpdatingEpoch,
}

#[derive(Debug)]
struct PendingWrite {
    id: u64,
    /// Zxid of an append, so that the zk-4712 variant can forget unflushed appends.
    append: Option<Zxid>,
    /// A snapshot write: once durable, the server knows it is on disk.
    snapshot: Option<Arc<Snapshot>>,
    /// An epoch file write: the in-memory value follows once it is durable.
    epoch: Option<DiskOp>,
    after: AfterWrite,
    /// The role incarnation that issued the write; a continuation from an earlier role is
    /// dropped (the write itself still completes on disk).
    role_gen: u64,
}

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
    /// Wait for every in-flight write (start-up repairs), or only the txn log's appends
    /// (`SyncRequestProcessor.shutdown` joins the log thread and fsyncs, SyncRequestProcessor
    /// .java:254-271 at both tags).
    pub(crate) all_writes: bool,
    /// Apply the logged txns the data tree lacks before voting (`ZKDatabase
    /// .fastForwardDataBase`, ZooKeeperServer.java:876 at 3.8.0, :936 at 3.9.4).
    pub(crate) fast_forward: bool,
}

/// A ZooKeeper server.
pub struct Server {
    pub(crate) id: ServerId,
    pub(crate) cfg: Arc<Config>,
    pub(crate) now: u64,
    /// The server's named deadlines; its driver asks only for [`Server::next_deadline`].
    pub(crate) timers: Timers<Timer>,
    pub(crate) accepted_epoch: u64,
    pub(crate) current_epoch: u64,
    /// The snapshot the in-memory log continues from (an empty tree at zxid 0 if none).
    pub(crate) base: Arc<Snapshot>,
    /// The snapshots on disk, by name (what a database load chooses from), as far as this
    /// server knows: those it booted with and those it wrote since.
    pub(crate) snapshots: Vec<Arc<Snapshot>>,
    /// Txns logged or being logged after `base`, ascending: what the server's log files hold
    /// (ZooKeeper's files also keep what a SNAP superseded; see docs/fidelity.md).
    pub(crate) log: Vec<Txn>,
    /// The files `log` is kept in, oldest first.
    pub(crate) log_files: Vec<LogFile>,
    /// The next append opens a new log file: the log was rolled for a snapshot, or the
    /// server started or truncated its log since its last append.
    roll_log: bool,
    /// `ZKDatabase.committedLog`: the newest committed txns, which a leader syncs learners
    /// from.
    pub(crate) committed_log: CommittedLog,
    pub(crate) tree: DataTree,
    /// How many of `tree.applied` are delivered (committed and visible to clients).
    pub(crate) delivered: usize,
    /// Txns appended since the log was last rolled (`ZKDatabase.getTxnCount`).
    pub(crate) txns_since_snapshot: u32,
    /// SyncRequestProcessor's `randRoll`: a snapshot starts once more than snapCount/2 plus
    /// this many txns were logged since the last one.
    snap_roll: u32,
    next_write_id: u64,
    pending: VecDeque<PendingWrite>,
    /// FLE's logical clock: in memory only, so it restarts at 0 after a crash.
    pub(crate) logical_clock: u64,
    /// `QuorumPeer.currentVote`: the vote this server reports to servers that are looking.
    pub(crate) current_vote: Vote,
    pub(crate) state: ServerState,
    pub(crate) phase: ZabPhase,
    pub(crate) role: Role,
    pub(crate) role_gen: u64,
    /// The newest notification addressed to itself, processed after the current input
    /// (QuorumCnxManager loops it straight into the receive queue). Only the newest is kept,
    /// as for every other peer: under a broken vote order (zk-1419) a server's own stale
    /// vote would otherwise beat its newer one forever within a single instant.
    pub(crate) self_notification: Option<crate::message::Notification>,
    /// Clients connected to this server while it serves, with their sessions.
    pub(crate) clients: BTreeMap<ClientId, ClientConn>,
    /// Watches of the clients connected here.
    pub(crate) watches: WatchManager,
    /// The id the next session created here gets.
    pub(crate) next_session_id: u64,
    /// The server's own random choices (SyncRequestProcessor's snapshot roll, a learner
    /// thread's stall): seeded from the run's seed, the server and the time it booted, so a
    /// run stays a function of its seed.
    pub(crate) rng: ChaCha8Rng,
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
        let mut server = Server {
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
            role: Role::Failed,
            role_gen: 0,
            self_notification: None,
            clients: BTreeMap::new(),
            watches: WatchManager::default(),
            next_session_id: crate::sessions::first_session_id(id, now),
            rng: ChaCha8Rng::seed_from_u64(
                cfg_seed ^ (u64::from(id.0) << 56) ^ now.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
        };
        server.snap_roll = server.draw_snap_roll(snap_count);
        out.event(Event::TreeReset { kept: 0 });
        server.replay_committed_log(out);
        let mut repaired = false;
        if disk.updating_epoch && !server.cfg.has(Bug::Zk2354) {
            // The proposed ZOOKEEPER-2354 fix (apache/zookeeper PRs 1109/1110, never merged;
            // ZOOKEEPER-1653 on branch-3.4): the learner crashed while persisting what
            // NEWLEADER vouches for, so its log may already hold the new epoch, which it had
            // accepted. The repair is written before the server does anything else.
            if last.epoch() > server.current_epoch {
                server.current_epoch = last.epoch();
                let after = AfterWrite::ClearUpdatingEpoch;
                server.write(DiskOp::CurrentEpoch(last.epoch()), after, out);
            } else {
                server.write(DiskOp::UpdatingEpoch(false), AfterWrite::Nothing, out);
            }
            repaired = true;
        }
        // QuorumPeer.loadDataBase (QuorumPeer.java:1165-1198 at 3.8.0, 1168-1201 at 3.9.4):
        // a log ahead of currentEpoch, or a currentEpoch ahead of acceptedEpoch, means the
        // files are inconsistent, and the server refuses to start. (Its `currentEpoch.tmp`
        // fallback only finds the leftover of an interrupted atomic write, which a disk
        // write that is either durable or lost never leaves.)
        if last.epoch() > server.current_epoch {
            let reason = format!(
                "The current epoch, {}, is older than the last zxid, {}",
                server.current_epoch, last
            );
            if server.cfg.has(Bug::Zk2354) {
                out.fired(Bug::Zk2354);
            }
            out.event(Event::StartupFailed { reason });
            return server;
        }
        if server.accepted_epoch < server.current_epoch {
            let reason = format!(
                "The accepted epoch, {} is less than the current epoch, {}",
                server.accepted_epoch, server.current_epoch
            );
            out.event(Event::StartupFailed { reason });
            return server;
        }
        if !server.cfg.participants.is_empty() && !server.cfg.is_member(id) {
            out.event(Event::StartupFailed {
                reason: format!("{id} is not in the ensemble"),
            });
            return server;
        }
        if repaired {
            server.role = Role::Flushing(Flush {
                all_writes: true,
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
        self.timers.next_deadline()
    }

    /// Advances the server by one input at simulated time `now` (microseconds).
    pub fn step(&mut self, now: u64, input: Input, out: &mut Outputs) {
        debug_assert!(now >= self.now, "time went backwards");
        self.now = now;
        if matches!(self.role, Role::Failed) {
            return;
        }
        match input {
            Input::Receive { from, channel, msg } => self.on_receive(from, channel, msg, out),
            Input::Timeout => {
                // Each due timer is handled as its own step, as if its deadline had been a
                // separate event: a timer armed while handling one waits for the next
                // timeout, even if it is due at once.
                for (at, timer) in self.timers.due(now) {
                    if matches!(self.role, Role::Failed) {
                        return;
                    }
                    if self.timers.expire(timer, at) {
                        self.on_timer(timer, out);
                        self.drain_self_notifications(out);
                    }
                }
                return;
            }
            Input::Disconnected { peer, channel } => self.on_disconnected(peer, channel, out),
            Input::DiskDone { id } => self.on_disk_done(id, out),
        }
        self.drain_self_notifications(out);
    }

    fn on_receive(&mut self, from: Endpoint, channel: Channel, msg: Message, out: &mut Outputs) {
        let sid = match from {
            Endpoint::Server(sid) => sid,
            Endpoint::Client(c) => return self.on_client(c, msg, out),
        };
        match msg {
            Message::Notification(n) => self.on_notification(sid, n, out),
            msg => match &self.role {
                Role::Leading(_) => self.leader_receive(sid, msg, out),
                Role::Learning(_) => self.learner_receive(sid, msg, out),
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
        match timer {
            Timer::FleTimeout | Timer::FleFinalize => self.election_timer(timer, out),
            Timer::LeaderInit | Timer::LeaderTick | Timer::SessionTick => {
                self.leader_timer(timer, out)
            }
            Timer::LearnerTimeout | Timer::LearnerRetry | Timer::LearnerStall => {
                self.learner_timer(timer, out)
            }
        }
    }

    fn on_disconnected(&mut self, peer: Endpoint, channel: Channel, out: &mut Outputs) {
        let sid = match peer {
            Endpoint::Server(sid) => sid,
            Endpoint::Client(c) => {
                self.client_disconnected(c);
                return;
            }
        };
        if channel != Channel::Quorum {
            return; // QuorumCnxManager reconnects on demand; lost notifications are resent.
        }
        match &self.role {
            Role::Leading(_) => self.leader_lost_learner(sid),
            Role::Learning(l) if l.leader == sid => self.learner_disconnected(out),
            _ => {}
        }
    }

    fn on_disk_done(&mut self, id: u64, out: &mut Outputs) {
        let Some(pos) = self.pending.iter().position(|w| w.id == id) else {
            return;
        };
        let Some(write) = self.pending.remove(pos) else {
            return;
        };
        // QuorumPeer.setAcceptedEpoch / setCurrentEpoch write the file, then set the field:
        // the value a server acts on is always one its disk holds.
        match write.epoch {
            Some(DiskOp::AcceptedEpoch(e)) => self.accepted_epoch = e,
            Some(DiskOp::CurrentEpoch(e)) => self.current_epoch = e,
            _ => {}
        }
        if let Some(snapshot) = write.snapshot {
            let at = self.snapshots.partition_point(|s| s.zxid <= snapshot.zxid);
            self.snapshots.insert(at, snapshot);
            if self.snapshots.len() > crate::db::SNAP_RETAIN_COUNT {
                self.snapshots.remove(0);
            }
        }
        if write.after == AfterWrite::ClearUpdatingEpoch {
            self.write(DiskOp::UpdatingEpoch(false), AfterWrite::Nothing, out);
        }
        if let Role::Flushing(flush) = self.role {
            let waiting = if flush.all_writes {
                !self.pending.is_empty()
            } else {
                self.unflushed_appends().next().is_some()
            };
            if !waiting {
                self.look(flush.fast_forward, out);
            }
            return;
        }
        if write.role_gen != self.role_gen {
            // The learner thread of an earlier role was still inside this write (or its log
            // writer was); a learner blocked behind it may go on now.
            if write.after == AfterWrite::LearnerStep || write.append.is_some() {
                self.learner_write_done(out);
            }
            return;
        }
        match write.after {
            AfterWrite::Nothing => {}
            AfterWrite::AckProposal(zxid) => {
                self.learner_logged(zxid, out);
                self.learner_write_done(out);
            }
            AfterWrite::SelfAck(zxid) => self.leader_process_ack(self.id, zxid, out),
            AfterWrite::LeaderAcceptedEpoch => self.leader_accepted_epoch_durable(out),
            AfterWrite::LeaderCurrentEpoch => self.leader_current_epoch_durable(out),
            AfterWrite::LearnerStep => self.learner_write_done(out),
            AfterWrite::ClearUpdatingEpoch => {}
        }
    }

    /// Issues a durable write and remembers what to do once it completes.
    pub(crate) fn write(&mut self, op: DiskOp, after: AfterWrite, out: &mut Outputs) -> u64 {
        let epoch = match &op {
            DiskOp::AcceptedEpoch(_) | DiskOp::CurrentEpoch(_) => Some(op.clone()),
            _ => None,
        };
        let id = self.next_write_id;
        self.next_write_id += 1;
        let append = op.appended().map(|t| t.zxid);
        let snapshot = match &op {
            DiskOp::Snapshot { snapshot, .. } => Some(snapshot.clone()),
            _ => None,
        };
        self.pending.push_back(PendingWrite {
            id,
            append,
            snapshot,
            epoch,
            after,
            role_gen: self.role_gen,
        });
        out.items.push(crate::io::Output::Disk { id, op });
        id
    }

    /// Drops the continuations of in-flight writes of one kind; the writes still complete.
    pub(crate) fn detach_writes(&mut self, after: AfterWrite) {
        for w in self.pending.iter_mut().filter(|w| w.after == after) {
            w.after = AfterWrite::Nothing;
        }
    }

    /// Whether a snapshot write is still in flight.
    pub(crate) fn snapshot_in_flight(&self) -> bool {
        self.pending.iter().any(|w| w.snapshot.is_some())
    }

    /// Zxids of appends not yet durable.
    pub(crate) fn unflushed_appends(&self) -> impl Iterator<Item = Zxid> + '_ {
        self.pending.iter().filter_map(|w| w.append)
    }

    /// How many writes of this kind are still in flight, from this role or an earlier one:
    /// ZooKeeper's learner thread writes synchronously, so a new sync cannot start its own
    /// writes while the previous sync's snapshot or log writes are still going.
    pub(crate) fn writes_in_flight(&self, after: AfterWrite) -> usize {
        self.pending.iter().filter(|w| w.after == after).count()
    }

    /// Appends a txn to the log (in memory now, on disk after the fsync), taking a periodic
    /// snapshot every `snap_count` txns as SyncRequestProcessor does.
    pub(crate) fn log_txn(&mut self, txn: Txn, after: AfterWrite, out: &mut Outputs) {
        // A learner that left its role before its data tree caught up with its log (3.8.0,
        // zk-4394 and zk-4712) is synced again from that older tree and handed txns it logged
        // already. ZooKeeper appends them a second time (FileTxnLog.append only warns "Current
        // zxid ... is <= ...") and its replay applies them again without effect; zabsim keeps
        // one copy in the log.
        if !self.logged(&txn) {
            self.log.push(txn.clone());
        }
        // FileTxnLog.append opens `log.<zxid>` when no file is open (FileTxnLog.java:284 /
        // 290); `rollLog` (236 / 249) closes the open one.
        let op = if std::mem::take(&mut self.roll_log) || self.log_files.is_empty() {
            self.log_files.push(LogFile {
                first: txn.zxid,
                truncated: false,
            });
            DiskOp::AppendToNewFile(txn)
        } else {
            DiskOp::Append(txn)
        };
        self.write(op, after, out);
        // SyncRequestProcessor.shouldSnapshot and run (SyncRequestProcessor.java:143-202,
        // the same at both tags): past snapCount/2 + randRoll txns the log is rolled and a
        // snapshot thread started, unless the previous one is still writing ("Too busy to
        // snap, skipping"); randRoll is drawn again either way.
        self.txns_since_snapshot += 1;
        let snap_count = self.cfg.snap_count;
        if self.txns_since_snapshot > snap_count.max(2) / 2 + self.snap_roll {
            self.txns_since_snapshot = 0;
            self.snap_roll = self.draw_snap_roll(snap_count);
            // `rollLog` comes first, whether or not a snapshot can start.
            self.roll_log = true;
            if !self.snapshot_in_flight() {
                self.take_snapshot(false, AfterWrite::Nothing, out);
            }
        }
    }

    /// `randRoll = ThreadLocalRandom.current().nextInt(snapCount / 2)`; ZooKeeper raises a
    /// snapCount below 2 to 2 (ZooKeeperServer.getSnapCount).
    fn draw_snap_roll(&mut self, snap_count: u32) -> u32 {
        use rand::Rng;
        self.rng.gen_range(0..snap_count.max(2) / 2)
    }

    /// Whether this very txn is already in the log, or in the snapshot it continues from.
    fn logged(&self, txn: &Txn) -> bool {
        self.base.last_txn().is_some_and(|last| txn.zxid <= last)
            && self.base.tree.applied.iter().rev().any(|t| *t == txn.id())
            || self
                .log
                .iter()
                .rev()
                .take_while(|t| t.zxid >= txn.zxid)
                .any(|t| t.id() == txn.id())
    }

    /// `ZooKeeperServer.takeSnapshot`: serialize the data tree as it is now.
    pub(crate) fn take_snapshot(
        &mut self,
        replaces_log: bool,
        after: AfterWrite,
        out: &mut Outputs,
    ) -> u64 {
        let snapshot = Arc::new(Snapshot {
            zxid: self.tree.last_processed,
            tree: self.tree.clone(),
        });
        self.write(
            DiskOp::Snapshot {
                snapshot,
                replaces_log,
            },
            after,
            out,
        )
    }

    /// Makes the tree as it is now the base snapshot, keeping only log txns after it.
    pub(crate) fn rebase_on_latest_snapshot(&mut self) {
        self.base = Arc::new(Snapshot {
            zxid: self.tree.last_processed,
            tree: self.tree.clone(),
        });
        let base = self.base.zxid;
        self.log.retain(|t| t.zxid > base);
    }

    /// Applies a committed txn to the data tree and reports it delivered
    /// (`FinalRequestProcessor` through `ZooKeeperServer.processTxn(Request)`, which also
    /// adds it to the committedLog).
    pub(crate) fn apply_committed(&mut self, txn: &Txn, out: &mut Outputs) {
        self.add_committed(txn, out);
        let applied = self.tree.apply(txn);
        self.deliver_all(out);
        self.on_applied(txn, applied, out);
    }

    /// Marks everything in the data tree as delivered.
    pub(crate) fn deliver_all(&mut self, out: &mut Outputs) {
        if self.delivered != self.tree.applied.len() {
            let from = std::mem::replace(&mut self.delivered, self.tree.applied.len());
            out.event(Event::Delivered {
                from,
                count: self.delivered,
            });
        }
    }

    /// Rebuilds the data tree from the base snapshot and the log (ZKDatabase.loadDataBase),
    /// and the committedLog from what the load replays after the newest snapshot.
    pub(crate) fn reload_tree(&mut self, out: &mut Outputs) {
        let mut tree = self.base.tree.clone();
        for txn in &self.log {
            tree.apply(txn);
        }
        self.replace_tree(tree, out);
        self.replay_committed_log(out);
    }

    /// loadDataBase's playback listener: the committedLog is emptied and refilled with what
    /// the load replays after the newest snapshot (ZKDatabase.java:271-275, 283 / 276-280,
    /// 288).
    fn replay_committed_log(&mut self, out: &mut Outputs) {
        let from = self
            .snapshots
            .last()
            .map_or(self.base.zxid, |s| s.zxid)
            .max(self.base.zxid);
        self.committed_log.clear();
        let start = self.log.partition_point(|t| t.zxid <= from);
        for i in start..self.log.len() {
            let txn = self.log[i].clone();
            self.add_committed(&txn, out);
        }
    }

    /// `ZKDatabase.addCommittedProposal`. 3.9.4 throws on a hole within an epoch; zabsim's
    /// servers never make one, so if one does, it is reported as a protocol error.
    pub(crate) fn add_committed(&mut self, txn: &Txn, out: &mut Outputs) {
        if let Err(e) = self.committed_log.add(txn) {
            out.event(Event::ProtocolError {
                reason: e.to_string(),
            });
        }
    }

    /// A TRUNC cuts the log files as well, and the next append opens a new one
    /// (`FileTxnSnapLog.truncateLog` closes the log and opens it anew).
    pub(crate) fn truncate_log_files(&mut self, zxid: Zxid) {
        crate::log_files::truncate(&mut self.log_files, zxid);
        self.roll_log = true;
    }

    /// Swaps in a new data tree, telling the checkers how much of the old one survives.
    pub(crate) fn replace_tree(&mut self, tree: DataTree, out: &mut Outputs) {
        let kept = self
            .tree
            .applied
            .iter()
            .zip(&tree.applied)
            .take_while(|(a, b)| a == b)
            .count();
        self.tree = tree;
        self.delivered = self.delivered.min(kept);
        out.event(Event::TreeReset { kept });
    }

    /// `ZKDatabase.fastForwardDataBase`: apply logged txns the tree has not seen yet. ZooKeeper
    /// does this when a server leaves a role, so that its vote reflects its whole log.
    pub(crate) fn fast_forward(&mut self, out: &mut Outputs) {
        let from = self
            .log
            .partition_point(|t| t.zxid <= self.tree.last_processed);
        for i in from..self.log.len() {
            let txn = self.log[i].clone();
            self.tree.apply(&txn);
            // The playback listener adds it to the committedLog (ZKDatabase.java:299-303 /
            // 304-308).
            self.add_committed(&txn, out);
        }
    }

    /// Leaves the current role, as `QuorumPeer.run` does after a role's loop exits: the
    /// role's `shutdown` closes its connections and, for a server that was serving
    /// (`ZooKeeperServer.canShutdown`: RUNNING), shuts its request processors down, which
    /// flushes the txn log (SyncRequestProcessor.shutdown) before `fastForwardDataBase`; then
    /// it runs a new election. `flush` is false where the release leaves the log thread
    /// running instead (zk-4712).
    pub(crate) fn leave_role(&mut self, running: bool, flush: bool, out: &mut Outputs) {
        self.role_gen += 1;
        self.close_clients(out);
        // Every role timer goes with the role; the election sets its own when it starts.
        for t in <Timer as crate::timers::TimerName>::ALL {
            if !matches!(t, Timer::FleTimeout | Timer::FleFinalize) {
                self.timers.cancel(*t);
            }
        }
        // zk-2845: before ZOOKEEPER-2845 nothing brought the data tree up to the log when a
        // server left its role.
        let fast_forward = running && !self.cfg.has(Bug::Zk2845);
        if self.tree_lags_log() {
            if running && self.cfg.has(Bug::Zk2845) {
                out.fired(Bug::Zk2845);
            }
            if !running {
                // Only the 3.8.0 handoff at NEWLEADER leaves a learner that never reached
                // UPTODATE with txns in its log that its data tree lacks; nothing catches the
                // tree up (ZooKeeperServer.shutdown does nothing for a server not RUNNING).
                for bug in [Bug::Zk4646, Bug::Zk4394] {
                    if self.cfg.has(bug) {
                        out.fired(bug);
                        break;
                    }
                }
            }
        }
        if running && flush && self.unflushed_appends().next().is_some() {
            self.role = Role::Flushing(Flush {
                all_writes: false,
                fast_forward,
            });
            return;
        }
        self.look(fast_forward, out);
    }

    /// Whether the log holds txns the data tree has not applied.
    fn tree_lags_log(&self) -> bool {
        self.log
            .last()
            .is_some_and(|t| t.zxid > self.tree.last_processed)
    }

    /// `QuorumPeer.updateServerState` to LOOKING, then `lookForLeader`.
    fn look(&mut self, fast_forward: bool, out: &mut Outputs) {
        if fast_forward {
            self.fast_forward(out);
        }
        self.set_state(ServerState::Looking, ZabPhase::Election, out);
        self.role = Role::Looking(Election::default());
        self.look_for_leader(out);
    }

    pub(crate) fn set_state(&mut self, state: ServerState, phase: ZabPhase, out: &mut Outputs) {
        if self.state != state || self.phase != phase {
            self.state = state;
            self.phase = phase;
            out.event(Event::State {
                state,
                phase,
                epoch: self.current_epoch,
            });
        }
    }

    /// `lastProcessedZxid`: what the server advertises in votes and ACKEPOCH.
    pub(crate) fn last_zxid(&self) -> Zxid {
        self.tree.last_processed
    }

    // ---- read-only view, for checkers and the report ----

    pub fn id(&self) -> ServerId {
        self.id
    }
    pub fn state(&self) -> ServerState {
        self.state
    }
    pub fn phase(&self) -> ZabPhase {
        self.phase
    }
    pub fn accepted_epoch(&self) -> u64 {
        self.accepted_epoch
    }
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }
    pub fn logical_clock(&self) -> u64 {
        self.logical_clock
    }
    pub fn last_processed_zxid(&self) -> Zxid {
        self.tree.last_processed
    }
    /// The txns logged or being logged after the base snapshot.
    pub fn log(&self) -> &[Txn] {
        &self.log
    }
    /// Zxid of the snapshot the in-memory log continues from.
    pub fn log_base(&self) -> &Snapshot {
        &self.base
    }
    pub fn tree(&self) -> &DataTree {
        &self.tree
    }
    /// How many of the data tree's applied txns are delivered.
    pub fn delivered(&self) -> usize {
        self.delivered
    }
    /// The leader this server follows, or itself when leading.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.role {
            Role::Leading(_) => Some(self.id),
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
            Role::Looking(e) => e.proposal(self.logical_clock),
            _ => self.current_vote,
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
        assert_eq!(s.tree.last_processed, Zxid::new(1, 9));
        assert_eq!(s.committed_log.min(), Some(Zxid::new(1, 6)));
        assert_eq!(s.committed_log.max(), Some(Zxid::new(1, 9)));
        assert!(s.roll_log, "the next append opens a new log file");
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
