//! Followers and observers: `Learner.registerWithLeader`, `Learner.syncWithLeader` and the
//! broadcast loops of `Follower` and `Observer`.
//!
//! ZooKeeper's learner thread blocks on its synchronous writes (acceptedEpoch, TRUNC, the
//! NEWLEADER fsync, currentEpoch); packets that arrive meanwhile wait in the socket. Here a
//! blocked learner keeps such packets in a backlog until the writes it waits for are durable.

use crate::bug::Bug;
use crate::client_api::SessionId;
use crate::db::{DiskOp, Snapshot, Txn};
use crate::ids::{Channel, Endpoint, ServerId, Zxid};
use crate::io::{Event, Output, Outputs, Timer, ZabPhase};
use crate::message::{Message, ServerState};
use crate::peer::Peer;
use crate::server::{AfterWrite, Role, Server};
use rand::Rng;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// How long a learner waits before retrying a refused connection
/// (`leaderConnectDelayDuringRetryMs`, Learner.java:118 at 3.8.0, 122 at 3.9.4).
const CONNECT_RETRY_US: u64 = 100_000;

/// `LeaderConnector.connectToLeader` tries at most this many times (Learner.java:413, both
/// releases), within initLimit ticks in all.
const CONNECT_TRIES: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// FOLLOWERINFO/OBSERVERINFO sent; waiting for LEADERINFO.
    Connecting,
    /// ACKEPOCH sent; waiting for DIFF, TRUNC or SNAP.
    AwaitSync,
    /// Between the first sync packet and UPTODATE.
    Syncing,
    Broadcast,
}

/// A step of the learner thread that waits for durable writes before it goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blocked {
    /// acceptedEpoch is being written (or an earlier sync's writes are finishing); then
    /// ACKEPOCH, with the currentEpoch if the epoch is new to this learner, else with -1.
    AckEpoch(bool),
    /// The log is being truncated; the data tree was already reloaded from what is left.
    Trunc,
    /// NEWLEADER (`fixed` only, no zk-2354): the updatingEpoch marker is being created.
    NewLeaderMarker,
    /// NEWLEADER: the snapshot and the synced txns the learner waits for are being written;
    /// then currentEpoch.
    NewLeaderLog,
    /// NEWLEADER: currentEpoch is being written; then the NEWLEADER ack (after the 3.8.0
    /// handoff, when currentEpoch came first).
    NewLeaderEpoch,
    /// zk-4685: the learner thread has not yet written the NEWLEADER ack.
    NewLeaderStall,
}

/// The longest a learner thread stalls between handing txns to its log writer and writing
/// the NEWLEADER ack, under zk-4685. Thread scheduling is not simulated; this bound is the
/// window zabsim gives the 3.8.0 race (see docs/fidelity.md).
const NEWLEADER_STALL_MAX_US: u64 = 2_000;

pub(crate) struct Learner {
    pub(crate) leader: ServerId,
    observer: bool,
    pub(crate) new_epoch: Option<u64>,
    stage: Stage,
    started_us: u64,
    /// Connection attempts so far.
    connect_tries: u32,
    last_heard_us: u64,
    snapshot_needed: bool,
    sync_snapshot: bool,
    write_to_log: bool,
    newleader_zxid: Option<Zxid>,
    newleader_acked: bool,
    /// packetsNotLogged (packetsNotCommitted at 3.8.0): proposals and INFORMs received
    /// during sync and not yet applied or logged.
    not_logged: VecDeque<Txn>,
    /// packetsCommitted.
    committed: VecDeque<Zxid>,
    blocked: Option<Blocked>,
    /// Why the connection to the leader was lost while NEWLEADER's disk writes were under way:
    /// the learner gives up on the leader once they are done (see `Learner::give_up`).
    lost_during_newleader: Option<&'static str>,
    backlog: VecDeque<Message>,
    /// FollowerZooKeeperServer.pendingTxns: logged proposals waiting for their COMMIT.
    pending_txns: VecDeque<Txn>,
    /// Handed-off txns whose ACKs wait for the NEWLEADER ack.
    acks_after_newleader: Vec<Zxid>,
    /// NEWLEADER waits for every append in flight before currentEpoch, not only for its own
    /// learner steps (the handoff with ZOOKEEPER-4643 fixed, zk-4685's acked appends).
    await_appends: bool,
    /// The base snapshot and log a SNAP replaced in memory, while the replacement is not yet
    /// written: a sync that fails before then reloads them (ZOOKEEPER-3642).
    pre_snap: Option<(Arc<Snapshot>, Vec<Txn>)>,
    /// `LearnerSessionTracker.touchTable`: sessions of clients connected here that were heard
    /// from since the last PING, with their timeouts; the PING answer carries them to the
    /// leader, which alone decides expiry.
    touched: BTreeMap<SessionId, u32>,
}

impl Server {
    /// Takes the FOLLOWING or OBSERVING role (`QuorumPeer.run`: `setFollower(makeFollower
    /// (...))` or `setObserver(makeObserver(...))`).
    pub(crate) fn become_learner(&mut self, leader: ServerId, observer: bool, out: &mut Outputs) {
        self.peer.role_gen += 1;
        let mut learner = Box::new(Learner::new(&self.peer, leader, observer));
        learner.start(&mut self.peer, out);
        self.role = Role::Learning(learner);
    }
}

impl Learner {
    /// A learner's state as `Learner.registerWithLeader` starts.
    fn new(peer: &Peer, leader: ServerId, observer: bool) -> Learner {
        Learner {
            leader,
            observer,
            new_epoch: None,
            stage: Stage::Connecting,
            started_us: peer.now,
            connect_tries: 1,
            last_heard_us: peer.now,
            snapshot_needed: true,
            sync_snapshot: false,
            pre_snap: None,
            write_to_log: false,
            newleader_zxid: None,
            newleader_acked: false,
            not_logged: VecDeque::new(),
            committed: VecDeque::new(),
            blocked: None,
            lost_during_newleader: None,
            backlog: VecDeque::new(),
            pending_txns: VecDeque::new(),
            acks_after_newleader: Vec::new(),
            await_appends: false,
            touched: BTreeMap::new(),
        }
    }

    /// `Follower.followLeader` / `Observer.observeLeader` up to the first wait: connect and
    /// send FOLLOWERINFO or OBSERVERINFO.
    fn start(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let state = if self.observer {
            ServerState::Observing
        } else {
            ServerState::Following
        };
        peer.set_state(state, ZabPhase::Discovery, out);
        self.send_learner_info(peer, out);
        peer.timers
            .set(Timer::LearnerTimeout, peer.now + peer.cfg.init_limit_us());
    }

    fn send_learner_info(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let accepted_epoch = peer.accepted_epoch;
        let msg = if self.observer {
            Message::ObserverInfo { accepted_epoch }
        } else {
            Message::FollowerInfo { accepted_epoch }
        };
        out.send(self.leader, Channel::Quorum, msg);
    }

    pub(crate) fn receive(
        &mut self,
        peer: &mut Peer,
        sid: ServerId,
        msg: Message,
        out: &mut Outputs,
    ) {
        let now = peer.now;
        if sid != self.leader {
            return;
        }
        self.last_heard_us = now;
        if self.blocked.is_some() {
            self.backlog.push_back(msg);
            return;
        }
        self.process(peer, msg, out);
    }

    fn process(&mut self, peer: &mut Peer, msg: Message, out: &mut Outputs) {
        match self.stage {
            Stage::Connecting => {
                if let Message::LeaderInfo { epoch } = msg {
                    self.on_leader_info(peer, epoch, out);
                }
            }
            Stage::AwaitSync => self.on_first_sync_packet(peer, msg, out),
            Stage::Syncing => self.on_sync_packet(peer, msg, out),
            Stage::Broadcast => self.on_broadcast_packet(peer, msg, out),
        }
    }

    /// `registerWithLeader`: accept the new epoch (persisting it before ACKEPOCH), or give up
    /// on a leader whose epoch is behind ours.
    fn on_leader_info(&mut self, peer: &mut Peer, epoch: u64, out: &mut Outputs) {
        self.new_epoch = Some(epoch);
        if epoch > peer.accepted_epoch || (epoch == peer.accepted_epoch && peer.cfg.has(Bug::Zk335))
        {
            peer.write(DiskOp::AcceptedEpoch(epoch), AfterWrite::LearnerStep, out);
            self.blocked = Some(Blocked::AckEpoch(true));
            self.resume(peer, out);
        } else if epoch == peer.accepted_epoch {
            // Through the blocked path too: an earlier sync's writes may still be going, and
            // ZooKeeper's learner thread would have finished them before reading LEADERINFO.
            self.blocked = Some(Blocked::AckEpoch(false));
            self.resume(peer, out);
        } else {
            let reason = format!(
                "Leaders epoch, {epoch} is less than accepted epoch, {}",
                peer.accepted_epoch
            );
            self.shutdown(peer, &reason, out);
        }
    }

    fn send_ack_epoch(&mut self, peer: &mut Peer, current_epoch: Option<u64>, out: &mut Outputs) {
        let last_zxid = peer.last_zxid();
        // No learner can carry out a TRUNC below a txn inside the snapshot its log continues
        // from (`truncate_and_drop_newer`; the releases reload that snapshot instead), and a
        // SNAP taken in an epoch that is never established can hold such a txn: the leader's
        // history then ends past what the next leader has. `fixed` tells the leader where
        // its snapshot ends; ZooKeeper's ACKEPOCH has no room for it (trunc-into-snapshot).
        let trunc_floor = if peer.cfg.has(Bug::TruncIntoSnapshot) {
            None
        } else {
            peer.base.last_txn()
        };
        self.stage = Stage::AwaitSync;
        let leader = self.leader;
        peer.set_state(peer.state, ZabPhase::Synchronization, out);
        out.send(
            leader,
            Channel::Quorum,
            Message::AckEpoch {
                current_epoch,
                last_zxid,
                trunc_floor,
            },
        );
    }

    fn on_first_sync_packet(&mut self, peer: &mut Peer, msg: Message, out: &mut Outputs) {
        self.stage = Stage::Syncing;
        match msg {
            Message::Diff { zxid } => {
                self.snapshot_needed = false;
                self.write_to_log = true;
                if peer.cfg.has(Bug::Zk2355) {
                    // Before ZOOKEEPER-2355 the follower took the DIFF target as its last zxid
                    // before it had applied anything.
                    peer.tree.last_processed = zxid;
                }
            }
            Message::Snap { snapshot } => {
                self.sync_snapshot = true;
                let old_base = std::mem::replace(&mut peer.base, snapshot.clone());
                let old_log = std::mem::take(&mut peer.log);
                self.pre_snap = Some((old_base, old_log));
                peer.replace_tree(snapshot.tree.clone(), out);
                // ZKDatabase.deserializeSnapshot starts with clear() (ZKDatabase.java:617-621
                // / 630-634).
                peer.committed_log.clear();
            }
            Message::Trunc { zxid } => {
                if peer.base.last_txn().is_some_and(|last| zxid < last)
                    && peer.cfg.has(Bug::TruncIntoSnapshot)
                {
                    out.fired(Bug::TruncIntoSnapshot);
                }
                if peer.cfg.has(Bug::TruncKeepsSnapshot) {
                    self.truncate_and_reload_newest(peer, zxid, out);
                } else if !self.truncate_and_drop_newer(peer, zxid, out) {
                    return;
                }
                self.blocked = Some(Blocked::Trunc);
            }
            other => {
                let reason = format!(
                    "expected DIFF, TRUNC or SNAP from the leader, got {}",
                    other.name()
                );
                out.event(Event::ProtocolError { reason });
                self.shutdown(peer, "unexpected packet", out);
            }
        }
    }

    /// TRUNC as ZooKeeper does it (Learner.java:596-607 at 3.8.0, 618-629 at 3.9.4):
    /// `ZKDatabase.truncateLog` (598-610 / 611-623) clears the database, truncates the log
    /// (FileTxnLog.truncate deletes nothing but log records) and loads it again from the
    /// newest snapshot, whatever that snapshot holds (FileSnap.deserialize), replaying the
    /// log after it; then lastProcessedZxid is set to the TRUNC zxid. A snapshot that holds
    /// txns after the TRUNC brings them back into the data tree (trunc-keeps-snapshot): a
    /// server that fast-forwarded uncommitted proposals into its tree when it left its role
    /// and then took a snapshot (Leader.lead's loadData, a periodic one) keeps them through
    /// the TRUNC meant to remove them.
    fn truncate_and_reload_newest(&mut self, peer: &mut Peer, zxid: Zxid, out: &mut Outputs) {
        let keep = peer.log.partition_point(|t| t.zxid <= zxid);
        peer.log.truncate(keep);
        peer.truncate_log_files(zxid);
        peer.write(DiskOp::Truncate(zxid), AfterWrite::LearnerStep, out);
        let newest = peer
            .snapshots
            .iter()
            .rev()
            .find(|s| s.zxid >= peer.base.zxid)
            .cloned();
        if let Some(newest) = newest {
            if newest.last_txn().is_some_and(|last| last > zxid) {
                out.fired(Bug::TruncKeepsSnapshot);
            }
            let from = newest.zxid;
            peer.base = newest;
            peer.log.retain(|t| t.zxid > from);
        }
        peer.reload_tree(out);
        peer.tree.last_processed = zxid;
    }

    /// `fixed`: the TRUNC deletes every snapshot holding txns after its zxid and rebuilds the
    /// data tree from the snapshot the log continues from. A snapshot's name can be an epoch
    /// start above every txn it holds (a leader sets lastProcessedZxid to its NEWLEADER zxid,
    /// and SNAP ships that), so a TRUNC below the name may undo nothing in it; only a txn
    /// inside that snapshot cannot be truncated away, and then the learner gives up the sync.
    /// False if it did.
    fn truncate_and_drop_newer(&mut self, peer: &mut Peer, zxid: Zxid, out: &mut Outputs) -> bool {
        let snapshot_last_txn = peer.base.last_txn();
        if snapshot_last_txn.is_some_and(|last| zxid < last) {
            let reason = format!(
                "Not able to truncate the log to {zxid}: the snapshot at {} holds txns up to {}",
                peer.base.zxid,
                snapshot_last_txn.unwrap_or_default()
            );
            out.event(Event::ProtocolError { reason });
            self.shutdown(peer, "truncation failed", out);
            return false;
        }
        let keep = peer.log.partition_point(|t| t.zxid <= zxid);
        peer.log.truncate(keep);
        peer.truncate_log_files(zxid);
        peer.write(DiskOp::Truncate(zxid), AfterWrite::LearnerStep, out);
        peer.write(
            DiskOp::DropSnapshotsAfter(zxid),
            AfterWrite::LearnerStep,
            out,
        );
        peer.snapshots
            .retain(|s| !matches!(s.last_txn(), Some(last) if last > zxid));
        // ZKDatabase.truncateLog truncates and reloads in one call on the learner thread:
        // whatever happens to the connection meanwhile, the data tree never outlives the log
        // it came from.
        peer.reload_tree(out);
        peer.tree.last_processed = zxid;
        true
    }

    /// A txn a SNAP or TRUNC sync applies in memory before NEWLEADER.
    fn sync_apply(&mut self, peer: &mut Peer, txn: &Txn, out: &mut Outputs) {
        if peer.committed_log.takes_sync_txns() {
            peer.add_committed(txn, out);
        }
        peer.tree.apply(txn);
    }

    fn on_sync_packet(&mut self, peer: &mut Peer, msg: Message, out: &mut Outputs) {
        match msg {
            // Learner.java:630-651 at 3.8.0, 654-669 at 3.9.4. (3.9.4's
            // enforceContinuousProposal, 542-561, rejects a gap within an epoch; a leader's
            // committed log never has one here, so it is not modelled.)
            Message::Proposal { txn } => self.not_logged.push_back(txn),
            // Learner.java:652-678 / 670-696.
            Message::Commit { zxid } => {
                if self.not_logged.is_empty() {
                    // `pif = packetsNotLogged.peekFirst(); if (pif.hdr.getZxid() == ...)`
                    // dereferences the head unchecked (Learner.java:654-655 / 672-673): a
                    // COMMIT with no proposal queued throws a NullPointerException, and
                    // Follower.followLeader's catch (Follower.java:127-133) ends the role.
                    // Reached when NEWLEADER emptied the queue (zk-4394).
                    if peer.cfg.has(Bug::Zk4394) {
                        out.fired(Bug::Zk4394);
                    }
                    out.event(Event::LearnerShutdown {
                        reason: format!(
                            "COMMIT {zxid} during sync with no proposal queued: \
                             NullPointerException in syncWithLeader"
                        ),
                    });
                    self.shutdown(peer, "exception when following the leader", out);
                    return;
                }
                if self.write_to_log {
                    self.committed.push_back(zxid);
                } else if self.not_logged.front().map(|t| t.zxid) == Some(zxid) {
                    let txn = self.not_logged.pop_front().expect("front");
                    self.sync_apply(peer, &txn, out);
                }
            }
            Message::Inform { txn } => {
                if self.write_to_log {
                    self.committed.push_back(txn.zxid);
                    self.not_logged.push_back(txn);
                } else {
                    self.sync_apply(peer, &txn, out);
                }
            }
            Message::NewLeader { zxid } => self.on_new_leader(peer, zxid, out),
            Message::UpToDate => self.on_up_to_date(peer, out),
            _ => {}
        }
    }

    /// NEWLEADER (Learner.java:735-770 at 3.8.0, 746-821 at 3.9.4). Without zk-2354 (the
    /// `fixed` profile) the learner first marks on disk that it is updating its epoch, so
    /// that a crash inside what follows is repaired at start-up instead of refused.
    fn on_new_leader(&mut self, peer: &mut Peer, zxid: Zxid, out: &mut Outputs) {
        if self.new_epoch != Some(zxid.epoch()) {
            let reason = format!(
                "NEWLEADER {zxid} does not match the epoch of LEADERINFO {:?}",
                self.new_epoch
            );
            out.event(Event::ProtocolError { reason });
        }
        self.newleader_zxid = Some(zxid);
        if peer.cfg.has(Bug::Zk2354) {
            self.new_leader_persist(peer, out);
            self.resume(peer, out);
        } else {
            peer.write(DiskOp::UpdatingEpoch(true), AfterWrite::LearnerStep, out);
            self.blocked = Some(Blocked::NewLeaderMarker);
            self.resume(peer, out);
        }
    }

    /// What NEWLEADER makes durable before the ack, per release:
    ///
    /// - 3.9.4 (and `fixed`): the snapshot if the sync needs one, then a follower appends and
    ///   applies the committed txns of the sync and fsyncs them (Learner.java:759-808), then
    ///   writes currentEpoch (813) and acknowledges (819). Proposals not yet committed stay
    ///   queued until UPTODATE.
    /// - 3.8.0 (zk-4646, zk-4643, zk-4394): the snapshot, then currentEpoch (752), then every
    ///   queued txn is handed to the log writer, which acknowledges each once it is durable
    ///   (761-767), and the NEWLEADER ack goes out at once (769).
    ///
    /// Observers log nothing at NEWLEADER in either release (the block is guarded by
    /// `zk instanceof FollowerZooKeeperServer`); they commit what they were told at UPTODATE.
    fn new_leader_persist(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let (snapshot_needed, sync_snapshot, observer) =
            (self.snapshot_needed, self.sync_snapshot, self.observer);
        self.write_to_log = true;
        if snapshot_needed {
            // takeSnapshot(syncSnapshot): SNAP's snapshot is fsynced; TRUNC's is written
            // without fsync (SnapStream.java:133), and the ack does not wait for it
            // (trunc-snapshot-unsynced).
            let after = if !sync_snapshot && peer.cfg.has(Bug::TruncSnapshotUnsynced) {
                AfterWrite::Nothing
            } else {
                AfterWrite::LearnerStep
            };
            peer.take_snapshot(sync_snapshot, after, out);
            self.pre_snap = None;
            // Txns applied in memory during this sync were never logged: from now on the
            // database is this snapshot plus the log after it, which is what loading it
            // from disk (after a restart or a later TRUNC) gives.
            peer.rebase_on_latest_snapshot();
        }
        if observer {
            self.blocked = Some(Blocked::NewLeaderLog);
            return;
        }
        if peer.cfg.has(Bug::Zk4646) {
            if peer.cfg.has(Bug::Zk4643) {
                // 3.8.0: setCurrentEpoch comes first (Learner.java:752), then the handoff.
                self.blocked = Some(Blocked::NewLeaderLog);
            } else {
                // The handoff with currentEpoch after it (a release with only ZOOKEEPER-4643
                // fixed): the learner waits for the txns, and their ACKs follow the
                // NEWLEADER ack.
                self.hand_off_to_log_writer(peer, false, out);
                self.await_appends = true;
                self.blocked = Some(Blocked::NewLeaderLog);
            }
            return;
        }
        // 3.9.4: the committed txns of the sync are appended and applied on the learner
        // thread, in the order of their COMMITs; a COMMIT that does not match the head of the
        // queue is skipped (Learner.java:785-800).
        let acked_by_writer = peer.cfg.has(Bug::Zk4685);
        while let Some(zxid) = self.committed.pop_front() {
            if self.not_logged.front().map(|t| t.zxid) != Some(zxid) {
                continue;
            }
            let txn = self.not_logged.pop_front().expect("front");
            // zk-4685 on this path: the txns go through the log writer, which acknowledges
            // each one once durable, ahead of the NEWLEADER ack.
            self.await_appends |= acked_by_writer;
            let after = if acked_by_writer {
                AfterWrite::AckProposal(zxid)
            } else {
                AfterWrite::LearnerStep
            };
            peer.log_txn(txn.clone(), after, out);
            // `fzk.processTxn(request)` (Learner.java:799) adds it to the committedLog too.
            peer.add_committed(&txn, out);
            peer.tree.apply(&txn);
        }
        if peer.cfg.has(Bug::Zk4394) {
            // The uncommitted proposals are handed to the log writer as well, emptying the
            // queue a later COMMIT looks its proposal up in.
            self.hand_off_to_log_writer(peer, false, out);
        }
        let syncing_txns = peer.unflushed_appends().next().is_some();
        if peer.cfg.has(Bug::Zk3911) {
            if syncing_txns {
                out.fired(Bug::Zk3911);
            }
            peer.detach_writes(AfterWrite::LearnerStep);
        }
        if peer.cfg.has(Bug::Zk4643) {
            // currentEpoch without waiting for the synced txns; zk-3911 also acknowledges
            // as soon as currentEpoch alone is durable.
            if syncing_txns {
                out.fired(Bug::Zk4643);
            }
            self.write_current_epoch(peer, out);
        } else {
            self.blocked = Some(Blocked::NewLeaderLog);
        }
    }

    /// `fzk.logRequest` of every queued txn (Learner.java:763-766 at 3.8.0): the log writer
    /// appends each and acknowledges it once durable (SendAckRequestProcessor); the txn
    /// waits for its COMMIT among the pending txns, and the queue is emptied. Where the
    /// NEWLEADER ack waits for the txns (`ack_now` false), their ACKs are held until it is
    /// sent, so that the leader's first ACK from this learner is the NEWLEADER ack.
    fn hand_off_to_log_writer(&mut self, peer: &mut Peer, ack_now: bool, out: &mut Outputs) {
        // 3.8.0 hands everything over (zk-4394); with only ZOOKEEPER-4394 fixed the
        // proposals not yet committed stay queued, as in 3.9.4.
        let everything = peer.cfg.has(Bug::Zk4394);
        let handed: Vec<Txn> = if everything {
            self.not_logged.drain(..).collect()
        } else {
            let committed: Vec<Zxid> = self.committed.iter().copied().collect();
            let mut kept = VecDeque::new();
            let mut handed = Vec::new();
            for txn in self.not_logged.drain(..) {
                if committed.contains(&txn.zxid) {
                    handed.push(txn);
                } else {
                    kept.push_back(txn);
                }
            }
            self.not_logged = kept;
            handed
        };
        for txn in handed {
            let zxid = txn.zxid;
            self.pending_txns.push_back(txn.clone());
            if ack_now {
                peer.log_txn(txn, AfterWrite::AckProposal(zxid), out);
            } else {
                peer.log_txn(txn, AfterWrite::LearnerStep, out);
                self.acks_after_newleader.push(zxid);
            }
        }
    }

    fn write_current_epoch(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let epoch = self.newleader_zxid.expect("newleader").epoch();
        peer.write(DiskOp::CurrentEpoch(epoch), AfterWrite::LearnerStep, out);
        self.blocked = Some(Blocked::NewLeaderEpoch);
    }

    /// The NEWLEADER ack, once what it vouches for is written (Learner.java:769 / 819).
    fn ack_new_leader(&mut self, peer: &mut Peer, out: &mut Outputs) {
        if peer.cfg.has(Bug::Zk4646) && peer.unflushed_appends().next().is_some() {
            out.fired(Bug::Zk4646);
        }
        if peer.cfg.has(Bug::TruncSnapshotUnsynced) && peer.snapshot_in_flight() {
            out.fired(Bug::TruncSnapshotUnsynced);
        }
        if !peer.cfg.has(Bug::Zk2354) {
            peer.write(DiskOp::UpdatingEpoch(false), AfterWrite::Nothing, out);
        }
        if let Some(reason) = self.lost_during_newleader {
            // The NEWLEADER ack is where the learner thread next touches the socket, and
            // finds it gone.
            self.shutdown(peer, reason, out);
            return;
        }
        let zxid = self.newleader_zxid.expect("newleader");
        self.newleader_acked = true;
        let leader = self.leader;
        out.send(leader, Channel::Quorum, Message::Ack { zxid });
        for zxid in std::mem::take(&mut self.acks_after_newleader) {
            out.send(leader, Channel::Quorum, Message::Ack { zxid });
        }
    }

    fn on_up_to_date(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let Some(nl) = self.newleader_zxid else {
            out.event(Event::ProtocolError {
                reason: "UPTODATE before NEWLEADER".into(),
            });
            self.shutdown(peer, "unexpected UPTODATE", out);
            return;
        };
        let epoch = nl.epoch();
        let (leader, observer) = { (self.leader, self.observer) };
        out.send(
            leader,
            Channel::Quorum,
            Message::Ack {
                zxid: Zxid::new(epoch, 0),
            },
        );
        peer.current_vote.peer_epoch = epoch;
        peer.deliver_all(out);
        let state = peer.state;
        peer.set_state(state, ZabPhase::Broadcast, out);
        out.event(Event::Synced { leader, epoch });
        self.stage = Stage::Broadcast;
        let pending: Vec<Txn> = self.not_logged.drain(..).collect();
        let committed: Vec<Zxid> = self.committed.drain(..).collect();
        if observer {
            // Observer (Learner.java:795-816 / 849-867): the queued INFORMs are committed
            // txns; each one matching the head of the commits is logged and applied.
            let mut commits = committed.into_iter().peekable();
            for txn in pending {
                if commits.peek() == Some(&txn.zxid) {
                    commits.next();
                    peer.log_txn(txn.clone(), AfterWrite::Nothing, out);
                    peer.apply_committed(&txn, out);
                }
            }
        } else {
            // Follower (787-794 / 838-848): what is still queued goes to the log writer, which
            // acknowledges each once durable; then the COMMITs queued so far.
            for txn in pending {
                let zxid = txn.zxid;
                self.pending_txns.push_back(txn.clone());
                peer.log_txn(txn, AfterWrite::AckProposal(zxid), out);
            }
            for zxid in committed {
                self.follower_commit(peer, zxid, out);
                if peer.leaving.is_some() {
                    return;
                }
            }
        }
    }

    fn on_broadcast_packet(&mut self, peer: &mut Peer, msg: Message, out: &mut Outputs) {
        let observer = self.observer;
        match msg {
            Message::Proposal { txn } if !observer => {
                let zxid = txn.zxid;
                self.pending_txns.push_back(txn.clone());
                peer.log_txn(txn, AfterWrite::AckProposal(zxid), out);
            }
            Message::Commit { zxid } if !observer => self.follower_commit(peer, zxid, out),
            Message::Inform { txn } if observer => {
                peer.log_txn(txn.clone(), AfterWrite::Nothing, out);
                peer.apply_committed(&txn, out);
            }
            Message::Ping { .. } => {
                let sessions = std::mem::take(&mut self.touched).into_iter().collect();
                let leader = self.leader;
                out.send(leader, Channel::Quorum, Message::Ping { sessions });
            }
            Message::Revalidate { session, valid, .. } => peer.revalidated(session, valid, out),
            Message::Sync { request } => peer.sync_done(&request, out),
            _ => {}
        }
    }

    /// `FollowerZooKeeperServer.commit`: the COMMIT must match the oldest pending txn, or
    /// ZooKeeper exits (UNMATCHED_TXN_COMMIT).
    fn follower_commit(&mut self, peer: &mut Peer, zxid: Zxid, out: &mut Outputs) {
        let Some(front) = self.pending_txns.front() else {
            return; // "Committing ... without seeing txn": logged and ignored.
        };
        if front.zxid != zxid {
            let reason = format!("Committing zxid {zxid} but next pending txn {}", front.zxid);
            out.event(Event::ProtocolError { reason });
            self.shutdown(peer, "unmatched txn commit", out);
            return;
        }
        let txn = self.pending_txns.pop_front().expect("front");
        peer.apply_committed(&txn, out);
    }

    /// A client connected here was heard from.
    pub(crate) fn touch(&mut self, session: SessionId, timeout_ms: u32) {
        self.touched.insert(session, timeout_ms);
    }

    /// A proposal this follower logged is durable: acknowledge it.
    pub(crate) fn logged(&self, zxid: Zxid, out: &mut Outputs) {
        if !self.observer {
            if self.newleader_zxid.is_some() && !self.newleader_acked {
                // Only zk-4685 lets the log writer acknowledge ahead of NEWLEADER.
                out.fired(Bug::Zk4685);
            }
            out.send(self.leader, Channel::Quorum, Message::Ack { zxid });
        }
    }

    pub(crate) fn write_done(&mut self, peer: &mut Peer, out: &mut Outputs) {
        self.resume(peer, out);
    }

    /// Resumes a blocked learner once none of the writes it waits for is in flight, then works
    /// through the packets that arrived meanwhile.
    fn resume(&mut self, peer: &mut Peer, out: &mut Outputs) {
        while let Some(blocked) = self.blocked {
            if peer.writes_in_flight(AfterWrite::LearnerStep) > 0 {
                return;
            }
            self.blocked = None;
            match blocked {
                Blocked::AckEpoch(new_epoch) => {
                    let current = new_epoch.then_some(peer.current_epoch);
                    self.send_ack_epoch(peer, current, out)
                }
                Blocked::Trunc => {}
                Blocked::NewLeaderMarker => {
                    self.new_leader_persist(peer, out);
                    continue;
                }
                Blocked::NewLeaderLog => {
                    if self.await_appends && peer.unflushed_appends().next().is_some() {
                        // Handed-off txns (acknowledged by the log writer) are not learner
                        // steps, but the learner waits for them too.
                        self.blocked = Some(Blocked::NewLeaderLog);
                        return;
                    }
                    self.write_current_epoch(peer, out);
                    continue;
                }
                Blocked::NewLeaderEpoch => {
                    if peer.cfg.has(Bug::Zk4646) && peer.cfg.has(Bug::Zk4643) && !self.observer {
                        // 3.8.0: currentEpoch is durable; now the handoff, and the ack
                        // without waiting for it.
                        if !self.not_logged.is_empty() {
                            out.fired(Bug::Zk4643);
                        }
                        self.hand_off_to_log_writer(peer, true, out);
                        if peer.cfg.has(Bug::Zk4685) {
                            let stall = peer.rng.gen_range(0..=NEWLEADER_STALL_MAX_US);
                            peer.timers.set(Timer::LearnerStall, peer.now + stall);
                            self.blocked = Some(Blocked::NewLeaderStall);
                            return;
                        }
                    }
                    self.ack_new_leader(peer, out);
                    if peer.leaving.is_some() {
                        return;
                    }
                }
                Blocked::NewLeaderStall => {
                    // Only the stall timer ends this step.
                    self.blocked = Some(Blocked::NewLeaderStall);
                    return;
                }
            }
            if !self.drain_backlog(peer, out) {
                return;
            }
        }
    }

    /// Works through the packets that arrived while the learner was blocked, until it blocks
    /// again. False if the learner left its role on the way.
    fn drain_backlog(&mut self, peer: &mut Peer, out: &mut Outputs) -> bool {
        while self.blocked.is_none() {
            let Some(msg) = self.backlog.pop_front() else {
                break;
            };
            self.process(peer, msg, out);
            if peer.leaving.is_some() {
                return false;
            }
        }
        true
    }

    pub(crate) fn on_timer(&mut self, peer: &mut Peer, timer: Timer, out: &mut Outputs) {
        let now = peer.now;
        let init = peer.cfg.init_limit_us();
        let sync = peer.cfg.sync_limit_us();
        match timer {
            Timer::LearnerRetry if self.stage == Stage::Connecting => {
                self.send_learner_info(peer, out)
            }
            Timer::LearnerStall if self.blocked == Some(Blocked::NewLeaderStall) => {
                self.blocked = None;
                self.ack_new_leader(peer, out);
                if peer.leaving.is_none() && self.drain_backlog(peer, out) {
                    self.resume(peer, out);
                }
            }
            Timer::LearnerTimeout => {
                let limit = if self.newleader_acked { sync } else { init };
                let due = self.last_heard_us + limit;
                if now >= due {
                    self.give_up(
                        peer,
                        "no packet from the leader within the socket timeout",
                        out,
                    );
                } else {
                    peer.timers.set(Timer::LearnerTimeout, due);
                }
            }
            _ => {}
        }
    }

    /// A refused or broken connection: while connecting, retry after 100 ms, up to five
    /// tries and while more than that delay is left of initLimit (Learner.java:413-457);
    /// else give up on the leader. Only `connectToLeader` retries: once the leader has
    /// answered (LEADERINFO), the socket was up, and a break is an IOException in
    /// registerWithLeader or later, which ends the role.
    pub(crate) fn disconnected(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let now = peer.now;
        let init = peer.cfg.init_limit_us();
        if self.stage == Stage::Connecting
            && self.new_epoch.is_none()
            && self.connect_tries < CONNECT_TRIES
            && now + CONNECT_RETRY_US < self.started_us + init
        {
            self.connect_tries += 1;
            peer.timers.set(Timer::LearnerRetry, now + CONNECT_RETRY_US);
            return;
        }
        self.give_up(peer, "connection to the leader broke", out);
    }

    /// The leader is gone or silent. Learner.syncWithLeader handles NEWLEADER with synchronous
    /// disk I/O (snapshot, synced txns, currentEpoch; the updatingEpoch marker in `fixed`) and
    /// notices a dead
    /// socket only when it writes the ack, so a learner inside those writes finishes them
    /// first. Leaving in the middle would strand a snapshot taken from the new leader beside
    /// the old currentEpoch: the server would vote as if it had never seen that epoch, and a
    /// leader from the old epoch could order it to truncate below the snapshot.
    fn give_up(&mut self, peer: &mut Peer, reason: &'static str, out: &mut Outputs) {
        if matches!(
            self.blocked,
            Some(
                Blocked::NewLeaderMarker
                    | Blocked::NewLeaderLog
                    | Blocked::NewLeaderEpoch
                    | Blocked::NewLeaderStall
            )
        ) {
            self.lost_during_newleader.get_or_insert(reason);
            return;
        }
        self.shutdown(peer, reason, out);
    }

    /// `Learner.shutdown`: close the socket and look for a leader again.
    pub(crate) fn shutdown(&mut self, peer: &mut Peer, reason: &str, out: &mut Outputs) {
        out.event(Event::LearnerShutdown {
            reason: reason.to_string(),
        });
        let leader = self.leader;
        out.items.push(Output::Close {
            peer: Endpoint::Server(leader),
            channel: Channel::Quorum,
        });
        if let Some((base, log)) = self.pre_snap.take() {
            // Learner.shutdown: a SNAP sync that did not finish fully shuts the server down,
            // which clears the database; it is loaded again from the files, which never saw
            // the leader's snapshot.
            peer.base = base;
            peer.log = log;
            peer.reload_tree(out);
        }
        // Learner.shutdown -> ZooKeeperServer.shutdown(boolean) only shuts the processors down
        // for a server that reached UPTODATE (canShutdown: RUNNING).
        let running = self.stage == Stage::Broadcast;
        let leak = peer.cfg.has(Bug::Zk4712);
        if leak {
            // zk-4712 (3.8.0: Learner.shutdown calls ZooKeeperServer.shutdown(boolean),
            // which LearnerZooKeeperServer does not override, so SyncRequestProcessor is never
            // shut down): the txns it still holds are not part of what this server reports,
            // yet they reach the log later.
            let unflushed: Vec<Zxid> = peer.unflushed_appends().collect();
            if !unflushed.is_empty() {
                out.fired(Bug::Zk4712);
            }
            peer.log.retain(|t| !unflushed.contains(&t.zxid));
        }
        peer.leave_role(running, !leak, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_api::CreateMode;
    use crate::db::Snapshot;
    use crate::ids::ClientId;
    use crate::io::Input;
    use crate::testkit::{connect, create, ok, Cluster};

    /// A follower of a three-server ensemble that wrote /a, /b and /c, left as if a SNAP had
    /// just given it a snapshot named after the start of epoch 2 (as an established leader's
    /// tree is named before its first commit) and it were waiting for the next sync packet.
    fn follower_on_an_epoch_start_snapshot(c: &mut Cluster) -> (ServerId, Zxid) {
        let leader = c.leader();
        connect(c, ClientId(1), leader);
        for (i, p) in ["/a", "/b", "/c"].into_iter().enumerate() {
            ok(
                c,
                ClientId(1),
                leader,
                i as u64 + 1,
                create(p, CreateMode::Persistent),
            );
        }
        let f = c.follower();
        let s = c.servers.get_mut(&f).expect("follower");
        let last = s.peer.tree.last_processed;
        s.peer.base = Arc::new(Snapshot {
            zxid: Zxid::new(2, 0),
            tree: s.peer.tree.clone(),
        });
        s.peer.log.clear();
        let Role::Learning(l) = &mut s.role else {
            panic!("following")
        };
        l.stage = Stage::AwaitSync;
        (f, last)
    }

    fn trunc(c: &mut Cluster, f: ServerId, zxid: Zxid) -> Vec<Event> {
        let leader = c.leader();
        let mut out = Outputs::default();
        let input = Input::Receive {
            from: Endpoint::Server(leader),
            channel: Channel::Quorum,
            msg: Message::Trunc { zxid },
        };
        let now = c.now;
        c.servers
            .get_mut(&f)
            .expect("follower")
            .step(now, input, &mut out);
        out.items
            .into_iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// Seed 6602 of the five-server swarm: a TRUNC below a snapshot's name that removes no
    /// txn the snapshot holds must succeed; the snapshot is named after an epoch start above
    /// its last txn.
    #[test]
    fn a_trunc_below_an_epoch_start_snapshot_name_undoes_nothing_in_it() {
        let mut c = Cluster::new(3, &[]);
        let (f, last) = follower_on_an_epoch_start_snapshot(&mut c);
        let events = trunc(&mut c, f, last);
        assert!(
            !events.iter().any(|e| matches!(
                e,
                Event::ProtocolError { .. } | Event::LearnerShutdown { .. }
            )),
            "{events:?}"
        );
        assert_eq!(c.server(f).last_processed_zxid(), last);
    }

    /// Below a txn the snapshot holds, `fixed` cannot rebuild the tree and gives the sync up;
    /// ZooKeeper (trunc-keeps-snapshot) reloads the snapshot and keeps the txn.
    #[test]
    fn a_trunc_below_a_txn_in_the_snapshot_is_refused_or_undone_by_the_reload() {
        let mut c = Cluster::new(3, &[]);
        let (f, last) = follower_on_an_epoch_start_snapshot(&mut c);
        let below = Zxid(last.0 - 1);
        let events = trunc(&mut c, f, below);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::ProtocolError { reason } if reason.contains("Not able to truncate"))),
            "{events:?}"
        );

        let mut c = Cluster::new(3, &[Bug::TruncKeepsSnapshot]);
        let (f, last) = follower_on_an_epoch_start_snapshot(&mut c);
        trunc(&mut c, f, Zxid(last.0 - 1));
        let s = c.server(f);
        assert_eq!(
            s.last_processed_zxid(),
            Zxid(last.0 - 1),
            "set to the TRUNC zxid"
        );
        assert_eq!(
            s.tree().applied.last().map(|t| t.zxid),
            Some(last),
            "the reloaded snapshot still holds the truncated txn"
        );
    }
}
