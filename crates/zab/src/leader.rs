//! The leader: `Leader.lead()` and one `LearnerHandler` per connected learner.
//!
//! Discovery collects acceptedEpochs and fixes the new epoch (getEpochToPropose), then a
//! quorum of ACKEPOCHs (waitForEpochAck). Synchronization sends each learner DIFF, TRUNC or
//! SNAP (syncFollower), the outstanding proposals (startForwarding) and NEWLEADER; a quorum of
//! NEWLEADER acks establishes the epoch (waitForNewLeaderAck, startZkServer). Broadcast
//! proposes, collects ACKs and commits in zxid order (propose, processAck, tryToCommit).

use crate::bug::Bug;
use crate::client_api::{ClientOp, SessionId};
use crate::db::{DataTree, RequestId, Snapshot, Txn, TxnOp};
use crate::ids::{Channel, Endpoint, ServerId, ServerSet, Zxid};
use crate::io::{Event, Output, Outputs, SyncMode, Timer, ZabPhase};
use crate::log_files;
use crate::message::{Message, Request, RequestOp, ServerState};
use crate::peer::Peer;
use crate::prep::prep_write;
use crate::server::{AfterWrite, Role, Server};
use crate::sessions::SessionTracker;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

/// Where a `LearnerHandler` is in its conversation with its learner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// FOLLOWERINFO received; LEADERINFO waits for the new epoch.
    AwaitEpoch,
    /// LEADERINFO sent.
    AwaitAckEpoch,
    /// ACKEPOCH received; sync waits for a quorum of ACKEPOCHs.
    AwaitSync,
    /// Sync packets and NEWLEADER sent; the first ACK must acknowledge NEWLEADER.
    AwaitNewLeaderAck,
    /// NEWLEADER acknowledged; UPTODATE waits for the leader to establish.
    AwaitStartup,
    /// UPTODATE sent: the learner is in broadcast.
    Running,
}

#[derive(Debug)]
struct Handler {
    observer: bool,
    stage: Stage,
    peer_last_zxid: Zxid,
    /// `fixed`: the lowest zxid the learner can truncate to (its ACKEPOCH's `trunc_floor`).
    trunc_floor: Option<Zxid>,
    /// In forwardingFollowers / observingLearners: receives PROPOSAL+COMMIT or INFORM.
    forwarding: bool,
    /// `tickOfNextAckDeadline`.
    ack_deadline_tick: u64,
    sync_check: SyncLimitCheck,
}

/// `LearnerHandler.SyncLimitCheck` (LearnerHandler.java:152-202 at 3.8.0, 153-203 at 3.9.4,
/// the same in both): once the learner is synced, the handler times the oldest proposal it
/// sent that is not yet acknowledged, keeping only that one and the latest; at each ping a
/// learner whose tracked proposal is syncLimit ticks old is dropped, even while it pings.
#[derive(Debug, Default)]
struct SyncLimitCheck {
    started: bool,
    current: Option<(Zxid, u64)>,
    next: Option<(Zxid, u64)>,
}

impl SyncLimitCheck {
    /// `updateProposal`, when a PROPOSAL goes out to the learner.
    fn proposal(&mut self, zxid: Zxid, now: u64) {
        if !self.started {
            return;
        }
        if self.current.is_none() {
            self.current = Some((zxid, now));
        } else {
            self.next = Some((zxid, now));
        }
    }

    /// `updateAck`.
    fn ack(&mut self, zxid: Zxid) {
        if self.current.is_some_and(|(z, _)| z == zxid) {
            self.current = self.next.take();
        } else if self.next.is_some_and(|(z, _)| z == zxid) {
            self.next = None;
        }
    }

    /// `check`: false once the tracked proposal is `limit_us` old.
    fn ok(&self, now: u64, limit_us: u64) -> bool {
        self.current
            .is_none_or(|(_, sent)| now.saturating_sub(sent) < limit_us)
    }
}

#[derive(Debug)]
struct Proposal {
    txn: Txn,
    acks: ServerSet,
}

pub(crate) struct Leader {
    pub(crate) epoch: u64,
    pub(crate) epoch_decided: bool,
    accepted_epoch_durable: bool,
    /// connectingFollowers: participants that reported their acceptedEpoch.
    connecting: BTreeSet<ServerId>,
    /// electingFollowers: participants whose ACKEPOCH counts.
    electing: BTreeSet<ServerId>,
    election_finished: bool,
    /// leaderStateSummary: (currentEpoch, lastZxid) when leading began.
    summary: (u64, Zxid),
    newleader_acks: BTreeSet<ServerId>,
    pub(crate) established: bool,
    learners: BTreeMap<ServerId, Handler>,
    last_proposed: Zxid,
    outstanding: BTreeMap<Zxid, Proposal>,
    last_committed: Zxid,
    /// The last zxid of the committed log (what sync may send).
    committed_upto: Zxid,
    tick: u64,
    tick_skip: bool,
    /// The tree with every proposed txn applied, committed or not: what PrepRequestProcessor
    /// checks requests against (ZooKeeper's outstandingChanges over the DataTree).
    prepped: DataTree,
    pub(crate) tracker: SessionTracker,
    /// `pendingSyncs`: syncs waiting for the proposal that was last when they arrived.
    pending_syncs: BTreeMap<Zxid, Vec<Request>>,
}

impl Server {
    /// Takes the LEADING role (`QuorumPeer.run`: `setLeader(makeLeader(...))`, then
    /// `leader.lead()`).
    pub(crate) fn become_leader(&mut self, out: &mut Outputs) {
        self.peer.role_gen += 1;
        let mut leader = Box::new(Leader::new(&self.peer));
        leader.lead(&mut self.peer, out);
        self.role = Role::Leading(leader);
    }
}

impl Leader {
    /// A new leader's state: `Leader`'s fields as `lead()` starts.
    fn new(peer: &Peer) -> Leader {
        let summary = (peer.current_epoch, peer.last_zxid());
        Leader {
            epoch: 0,
            epoch_decided: false,
            accepted_epoch_durable: false,
            connecting: BTreeSet::new(),
            electing: BTreeSet::new(),
            election_finished: false,
            summary,
            newleader_acks: BTreeSet::new(),
            established: false,
            learners: BTreeMap::new(),
            last_proposed: Zxid::default(),
            outstanding: BTreeMap::new(),
            last_committed: Zxid::default(),
            committed_upto: peer.log.last().map(|t| t.zxid).unwrap_or(peer.base.zxid),
            tick: 0,
            tick_skip: true,
            prepped: DataTree::default(),
            tracker: SessionTracker::default(),
            pending_syncs: BTreeMap::new(),
        }
    }

    /// `Leader.lead()` up to its first wait.
    fn lead(&mut self, peer: &mut Peer, out: &mut Outputs) {
        peer.set_state(ServerState::Leading, ZabPhase::Discovery, out);
        // Leader.lead -> ZooKeeperServer.loadData, which ends with takeSnapshot() (not
        // fsynced): Leader.java:597 / ZooKeeperServer.java:529 at 3.8.0, 646 / 551 at 3.9.4.
        peer.take_snapshot(false, AfterWrite::Nothing, out);
        peer.timers
            .set(Timer::LeaderInit, peer.now + peer.cfg.init_limit_us());
        if peer.cfg.has(Bug::Zk335) {
            // Before ZOOKEEPER-335 the epoch came from the leader's own last zxid.
            let epoch = peer.last_zxid().epoch() + 1;
            let me = peer.id;
            self.epoch = epoch;
            self.connecting.insert(me);
            self.decide_epoch(peer, out);
        } else {
            let (me, accepted) = (peer.id, peer.accepted_epoch);
            self.get_epoch_to_propose(peer, me, accepted, out);
        }
    }

    /// `getEpochToPropose`: every learner's acceptedEpoch raises the proposal; a quorum of
    /// participants (with the leader) fixes it.
    fn get_epoch_to_propose(
        &mut self,
        peer: &mut Peer,
        sid: ServerId,
        accepted_epoch: u64,
        out: &mut Outputs,
    ) {
        // isParticipant; the observer-votes variant lets observers count as well.
        let is_participant = peer.cfg.has_vote(sid);
        if self.epoch_decided {
            return;
        }
        if accepted_epoch >= self.epoch {
            self.epoch = accepted_epoch + 1;
        }
        if is_participant {
            self.connecting.insert(sid);
        }
        let me = peer.id;
        if self.connecting.contains(&me) && peer.cfg.is_quorum(self.connecting.iter().copied()) {
            self.decide_epoch(peer, out);
        }
    }

    fn decide_epoch(&mut self, peer: &mut Peer, out: &mut Outputs) {
        self.epoch_decided = true;
        let epoch = self.epoch;
        self.last_proposed = Zxid::new(epoch, 0);
        out.event(Event::EpochDecided { epoch });
        // getEpochToPropose writes acceptedEpoch in the leader's own thread, synchronously
        // (Leader.java:1429 / QuorumPeer.java:2237-2240 at 3.8.0, :1476 / :2261-2264 at
        // 3.9.4): the leader cannot give up while the file is written, and its wait for a
        // quorum of ACKEPOCHs (waitForEpochAck, initLimit) starts once it is durable.
        peer.timers.cancel(Timer::LeaderInit);
        peer.write(
            crate::db::DiskOp::AcceptedEpoch(epoch),
            AfterWrite::LeaderAcceptedEpoch,
            out,
        );
    }

    pub(crate) fn accepted_epoch_durable(&mut self, peer: &mut Peer, out: &mut Outputs) {
        self.accepted_epoch_durable = true;
        peer.timers
            .set(Timer::LeaderInit, peer.now + peer.cfg.init_limit_us());
        let epoch = self.epoch;
        let waiting: Vec<ServerId> = self
            .learners
            .iter()
            .filter(|(_, h)| h.stage == Stage::AwaitEpoch)
            .map(|(s, _)| *s)
            .collect();
        for sid in waiting {
            self.learners.get_mut(&sid).expect("handler").stage = Stage::AwaitAckEpoch;
            out.send(sid, Channel::Quorum, Message::LeaderInfo { epoch });
        }
        let (summary, me) = (self.summary, peer.id);
        self.wait_for_epoch_ack(peer, me, Some(summary.0), summary.1, out);
    }

    /// `waitForEpochAck`: a quorum of ACKEPOCHs (with the leader's own) ends discovery.
    /// Returns false if the learner must be dropped for being ahead of the leader.
    fn wait_for_epoch_ack(
        &mut self,
        peer: &mut Peer,
        sid: ServerId,
        current_epoch: Option<u64>,
        last_zxid: Zxid,
        out: &mut Outputs,
    ) -> bool {
        let is_participant = peer.cfg.has_vote(sid);
        if self.election_finished {
            return true;
        }
        if let Some(ce) = current_epoch {
            let (lce, lzxid) = self.summary;
            if ce > lce || (ce == lce && last_zxid > lzxid) {
                return false; // "Follower is ahead of the leader"
            }
            if is_participant {
                self.electing.insert(sid);
            }
        }
        let me = peer.id;
        if self.electing.contains(&me) && peer.cfg.is_quorum(self.electing.iter().copied()) {
            self.end_discovery(peer, out);
        }
        true
    }

    fn end_discovery(&mut self, peer: &mut Peer, out: &mut Outputs) {
        self.election_finished = true;
        let epoch = self.epoch;
        peer.set_state(ServerState::Leading, ZabPhase::Synchronization, out);
        // lead() writes currentEpoch synchronously before it waits for NEWLEADER's ACKs
        // (Leader.java:662-667 at 3.8.0, 711-716 at 3.9.4): that wait's initLimit starts
        // once the file is durable.
        peer.timers.cancel(Timer::LeaderInit);
        peer.write(
            crate::db::DiskOp::CurrentEpoch(epoch),
            AfterWrite::LeaderCurrentEpoch,
            out,
        );
        for sid in self.awaiting_sync() {
            self.sync_or_hold(peer, sid, out);
        }
        if peer.cfg.has(Bug::Zk790) {
            // Before ZOOKEEPER-790 the leader started serving as soon as it had an epoch.
            self.establish(peer, out);
        }
    }

    pub(crate) fn current_epoch_durable(&mut self, peer: &mut Peer, out: &mut Outputs) {
        peer.timers
            .set(Timer::LeaderInit, peer.now + peer.cfg.init_limit_us());
        let epoch = self.epoch;
        self.wait_for_new_leader_ack(peer, peer.id, Zxid::new(epoch, 0), out);
    }

    /// `waitForNewLeaderAck`: a quorum of participants acknowledging NEWLEADER establishes
    /// the epoch.
    fn wait_for_new_leader_ack(
        &mut self,
        peer: &mut Peer,
        sid: ServerId,
        zxid: Zxid,
        out: &mut Outputs,
    ) {
        let is_participant = peer.cfg.is_participant(sid) || peer.cfg.has_vote(sid);
        if self.established {
            return;
        }
        if zxid != Zxid::new(self.epoch, 0) {
            let reason = format!(
                "NEWLEADER ACK from {sid} is from a different epoch: expected {}, received {zxid}",
                Zxid::new(self.epoch, 0)
            );
            out.event(Event::ProtocolError { reason });
            return;
        }
        if is_participant {
            self.newleader_acks.insert(sid);
        }
        let me = peer.id;
        if self.newleader_acks.contains(&me)
            && peer.cfg.is_quorum(self.newleader_acks.iter().copied())
        {
            self.establish(peer, out);
        }
    }

    /// `startZkServer`: the epoch is established; commit the initial history and serve.
    fn establish(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let now = peer.now;
        let tick = peer.cfg.tick_us;
        let initial = peer.cfg.initial_zxid_counter;
        if self.established {
            return;
        }
        self.established = true;
        let epoch = self.epoch;
        self.last_committed = Zxid::new(epoch, 0);
        self.last_proposed = Zxid::new(epoch, initial);
        let quorum: Vec<ServerId> = self.newleader_acks.iter().copied().collect();
        let ready: Vec<ServerId> = self
            .learners
            .iter()
            .filter(|(_, h)| h.stage == Stage::AwaitStartup)
            .map(|(s, _)| *s)
            .collect();
        for sid in &ready {
            let h = self.learners.get_mut(sid).expect("handler");
            h.stage = Stage::Running;
            h.sync_check.started = true;
        }
        out.event(Event::Established { epoch, quorum });
        peer.deliver_all(out);
        peer.tree.last_processed = Zxid::new(epoch, 0);
        // A new leader knows nothing of when sessions were last heard from: each one gets a
        // full timeout from now, as ZooKeeper's leader does when it loads its database.
        let prepped = peer.tree.clone();
        for (session, timeout_ms) in prepped.sessions() {
            self.tracker.add(*session, *timeout_ms, now, tick);
        }
        self.prepped = prepped;
        peer.timers.set(Timer::SessionTick, (now / tick + 1) * tick);
        peer.current_vote.peer_epoch = epoch;
        peer.set_state(ServerState::Leading, ZabPhase::Broadcast, out);
        peer.timers.cancel(Timer::LeaderInit);
        peer.timers.set(Timer::LeaderTick, now + tick / 2);
        for sid in ready {
            out.send(sid, Channel::Quorum, Message::UpToDate);
        }
        // Observers held until now (`sync_or_hold`); nobody else waits once discovery is over.
        for sid in self.awaiting_sync() {
            self.sync_learner(peer, sid, out);
        }
    }

    /// The learners that acknowledged the epoch and wait to be synced.
    fn awaiting_sync(&self) -> Vec<ServerId> {
        self.learners
            .iter()
            .filter(|(_, h)| h.stage == Stage::AwaitSync)
            .map(|(s, _)| *s)
            .collect()
    }

    pub(crate) fn receive(
        &mut self,
        peer: &mut Peer,
        sid: ServerId,
        msg: Message,
        out: &mut Outputs,
    ) {
        let tick = self.tick;
        let sync_limit = u64::from(peer.cfg.sync_limit);
        if let Some(h) = self.learners.get_mut(&sid) {
            if h.stage == Stage::Running || h.stage == Stage::AwaitStartup {
                h.ack_deadline_tick = tick + sync_limit;
            }
        }
        match msg {
            Message::FollowerInfo { accepted_epoch } => {
                self.learner_connected(peer, sid, false, accepted_epoch, out)
            }
            Message::ObserverInfo { accepted_epoch } => {
                self.learner_connected(peer, sid, true, accepted_epoch, out)
            }
            Message::AckEpoch {
                current_epoch,
                last_zxid,
                trunc_floor,
            } => self.on_ack_epoch(peer, sid, current_epoch, (last_zxid, trunc_floor), out),
            Message::Ack { zxid } => self.on_learner_ack(peer, sid, zxid, out),
            // Requests before the leader serves are dropped, as ZooKeeperServer does while it
            // is not running.
            Message::Request(req) if self.established => self.submit(peer, req, out),
            Message::Ping { sessions } if self.established => {
                for (session, _) in sessions {
                    self.touch(peer, session);
                }
            }
            Message::Revalidate {
                session,
                timeout_ms,
                ..
            } if self.established => {
                let valid = self.touch(peer, session);
                if valid {
                    // Leader.revalidateSession: the learner's handler owns the session now.
                    self.tracker.set_owner(session, sid);
                }
                let msg = Message::Revalidate {
                    session,
                    timeout_ms,
                    valid,
                };
                out.send(sid, Channel::Quorum, msg);
            }
            _ => {}
        }
    }

    fn learner_connected(
        &mut self,
        peer: &mut Peer,
        sid: ServerId,
        observer: bool,
        accepted_epoch: u64,
        out: &mut Outputs,
    ) {
        if !peer.cfg.is_member(sid) || sid == peer.id {
            out.items.push(Output::Close {
                peer: Endpoint::Server(sid),
                channel: Channel::Quorum,
            });
            return;
        }
        let tick = self.tick;
        let deadline = tick + u64::from(peer.cfg.init_limit) + u64::from(peer.cfg.sync_limit);
        let handler = Handler {
            observer,
            stage: Stage::AwaitEpoch,
            peer_last_zxid: Zxid::default(),
            trunc_floor: None,
            forwarding: false,
            ack_deadline_tick: deadline,
            sync_check: SyncLimitCheck::default(),
        };
        self.learners.insert(sid, handler);
        if !peer.cfg.has(Bug::Zk335) {
            self.get_epoch_to_propose(peer, sid, accepted_epoch, out);
        }
        if self.epoch_decided && self.accepted_epoch_durable {
            let epoch = self.epoch;
            self.learners.get_mut(&sid).expect("handler").stage = Stage::AwaitAckEpoch;
            out.send(sid, Channel::Quorum, Message::LeaderInfo { epoch });
        }
    }

    fn on_ack_epoch(
        &mut self,
        peer: &mut Peer,
        sid: ServerId,
        current_epoch: Option<u64>,
        (last_zxid, trunc_floor): (Zxid, Option<Zxid>),
        out: &mut Outputs,
    ) {
        match self.learners.get_mut(&sid) {
            Some(h) if h.stage == Stage::AwaitAckEpoch => {
                h.stage = Stage::AwaitSync;
                h.peer_last_zxid = last_zxid;
                h.trunc_floor = trunc_floor;
            }
            _ => return,
        }
        if !self.wait_for_epoch_ack(peer, sid, current_epoch, last_zxid, out) {
            // LearnerHandler throws "Follower is ahead of the leader" and closes the socket.
            self.learners.remove(&sid);
            out.items.push(Output::Close {
                peer: Endpoint::Server(sid),
                channel: Channel::Quorum,
            });
            return;
        }
        if self.election_finished {
            self.sync_or_hold(peer, sid, out);
        }
    }

    /// `syncFollower` runs for every learner once discovery is over (LearnerHandler.java:555
    /// / 556), observers included, before a quorum has acknowledged NEWLEADER (627 / 628).
    /// An observer can then be sent, and snapshot at NEWLEADER (Learner.java:729 / 740),
    /// history no quorum holds; if the epoch is never established, a later leader that
    /// does not know where that snapshot ends (`trunc-into-snapshot`) sends it TRUNC below
    /// it, which it cannot carry out, and it exits (603-604 / 625-626), again at every
    /// restart (`observer-early-sync`). `fixed` holds an observer's sync until the epoch is
    /// established, as for an observer that connects later.
    fn sync_or_hold(&mut self, peer: &mut Peer, sid: ServerId, out: &mut Outputs) {
        // An observer whose vote counts (`observer-votes`) acknowledges NEWLEADER like a
        // follower, so it is synced like one.
        let observer = self.learners.get(&sid).is_some_and(|h| h.observer);
        if observer && !peer.cfg.has_vote(sid) && !self.established {
            if !peer.cfg.has(Bug::ObserverEarlySync) {
                return;
            }
            out.fired(Bug::ObserverEarlySync);
        }
        self.sync_learner(peer, sid, out);
    }

    fn on_learner_ack(&mut self, peer: &mut Peer, sid: ServerId, zxid: Zxid, out: &mut Outputs) {
        let Some(stage) = self.learners.get(&sid).map(|h| h.stage) else {
            return;
        };
        match stage {
            Stage::AwaitNewLeaderAck => {
                // The handler reads exactly one packet and takes it as the NEWLEADER ack.
                self.wait_for_new_leader_ack(peer, sid, zxid, out);
                let established = self.established;
                let h = self.learners.get_mut(&sid).expect("handler");
                if established {
                    h.stage = Stage::Running;
                    h.sync_check.started = true;
                    out.send(sid, Channel::Quorum, Message::UpToDate);
                } else {
                    h.stage = Stage::AwaitStartup;
                }
            }
            Stage::AwaitStartup | Stage::Running if !self.learners[&sid].observer => {
                if let Some(h) = self.learners.get_mut(&sid) {
                    h.sync_check.ack(zxid);
                }
                self.process_ack(peer, sid, zxid, out);
            }
            _ => {}
        }
    }

    /// `LearnerHandler.syncFollower` and what run() queues after it: the sync packets, the
    /// outstanding proposals (startForwarding) and NEWLEADER.
    fn sync_learner(&mut self, peer: &mut Peer, sid: ServerId, out: &mut Outputs) {
        let (peer_last, trunc_floor, observer) = match self.learners.get(&sid) {
            // Only once per connection: the ACKEPOCH that completes the quorum syncs every
            // waiting learner, itself included.
            Some(h) if h.stage == Stage::AwaitSync => (h.peer_last_zxid, h.trunc_floor, h.observer),
            _ => return,
        };
        let epoch = self.epoch;
        let last_processed = peer.tree.last_processed;
        // An empty committedLog counts as one ending at lastProcessedZxid (LearnerHandler
        // .java:814-827 / 815-828).
        let (min_committed, max_committed) =
            match (peer.committed_log.min(), peer.committed_log.max()) {
                (Some(min), Some(max)) => (min, max),
                _ => (last_processed, last_processed),
            };
        let new_epoch_zxid = peer_last.counter() == 0;
        let mut packets: Vec<Message> = Vec::new();
        let mut need_op = true;
        let mut need_snap = true;
        let mut current = peer_last;
        if last_processed == peer_last {
            packets.push(Message::Diff { zxid: peer_last });
            need_op = false;
            need_snap = false;
        } else if peer_last > max_committed && !new_epoch_zxid {
            packets.push(Message::Trunc {
                zxid: max_committed,
            });
            current = max_committed;
            need_op = false;
            need_snap = false;
        } else if min_committed <= peer_last && peer_last <= max_committed {
            current = Self::queue_committed_proposals(
                &peer.cfg,
                peer.committed_log.iter(),
                peer_last,
                None,
                max_committed,
                &mut packets,
                &mut need_op,
            );
            need_snap = false;
        } else if peer_last < min_committed {
            // The learner is behind the committedLog: read the txn log files from its zxid
            // on, then the committedLog (LearnerHandler.java:873-906 / 874-907;
            // snapshotSizeFactor is 0.33, so txnLogSyncEnabled).
            let newest_snapshot = peer.snapshots.last().map(|s| &**s);
            if let Some(txns) =
                log_files::proposals_from(&peer.log_files, &peer.log, newest_snapshot, peer_last)
            {
                current = Self::queue_committed_proposals(
                    &peer.cfg,
                    txns.iter(),
                    peer_last,
                    Some(min_committed),
                    max_committed,
                    &mut packets,
                    &mut need_op,
                );
                if current < min_committed {
                    // "Detected gap between end of txnlog ... and start of committedLog".
                    current = peer_last;
                    packets.clear();
                    need_op = true;
                } else {
                    current = Self::queue_committed_proposals(
                        &peer.cfg,
                        peer.committed_log.iter(),
                        current,
                        None,
                        max_committed,
                        &mut packets,
                        &mut need_op,
                    );
                    need_snap = false;
                }
            }
        }
        if need_op && !need_snap {
            need_snap = true; // "Unhandled scenario ... fall back to use snapshot"
        }
        // `fixed`: a learner that cannot truncate that far is sent SNAP instead, which
        // replaces its snapshot as a whole. The releases' learner reports no floor
        // (trunc-into-snapshot): it truncates the log and reloads its newest snapshot
        // (trunc-keeps-snapshot), or, with that fixed, gives the sync up.
        if let (Some(Message::Trunc { zxid }), Some(floor)) = (packets.first(), trunc_floor) {
            if *zxid < floor {
                need_snap = true;
            }
        }
        if need_snap {
            current = last_processed;
            packets.clear();
            let snapshot = Arc::new(Snapshot {
                zxid: last_processed,
                tree: peer.tree.clone(),
            });
            packets.push(Message::Snap { snapshot });
        }
        let (mode, zxid) = match &packets[0] {
            Message::Diff { zxid } => (SyncMode::Diff, *zxid),
            Message::Trunc { zxid } => (SyncMode::Trunc, *zxid),
            Message::Snap { snapshot } => (SyncMode::Snap, snapshot.zxid),
            _ => unreachable!("sync starts with DIFF, TRUNC or SNAP"),
        };
        out.event(Event::SyncDecision {
            learner: sid,
            mode,
            zxid,
            peer_last_zxid: peer_last,
        });
        // startForwarding: outstanding proposals beyond what the learner will have.
        let forget_acks = !peer.cfg.has(Bug::AckOutlivesTrunc);
        if !observer && self.last_proposed > current {
            for p in self
                .outstanding
                .range_mut((Excluded(current), Unbounded))
                .map(|(_, p)| p)
            {
                packets.push(Message::Proposal { txn: p.txn.clone() });
                // The learner's log will hold nothing above `current` until it logs these
                // again, so an ACK it sent for one of them on an earlier connection no longer
                // vouches for anything: a TRUNC has just undone it. ZooKeeper keeps such ACKs
                // in the proposal's ack set (Leader.processAck), which lets a proposal commit
                // on a copy that no longer exists; zabsim's correct protocol forgets them and
                // waits for the ACKs that follow the re-sent proposals.
                if forget_acks {
                    p.acks.remove(sid);
                } else if p.acks.contains(sid) {
                    out.fired(Bug::AckOutlivesTrunc);
                }
            }
        }
        packets.push(Message::NewLeader {
            zxid: Zxid::new(epoch, 0),
        });
        let h = self.learners.get_mut(&sid).expect("handler");
        h.forwarding = true;
        h.stage = Stage::AwaitNewLeaderAck;
        for msg in packets {
            out.send(sid, Channel::Quorum, msg);
        }
    }

    /// `queueCommittedProposals`: DIFF if the learner's last zxid is in our history, TRUNC to
    /// the txn before it if not (ZOOKEEPER-1154), and no op packet at all if that TRUNC would
    /// cross an epoch (the caller then falls back to SNAP).
    fn queue_committed_proposals<'a>(
        cfg: &crate::config::Config,
        proposals: impl Iterator<Item = &'a Txn>,
        peer_last: Zxid,
        max_zxid: Option<Zxid>,
        last_committed: Zxid,
        packets: &mut Vec<Message>,
        need_op: &mut bool,
    ) -> Zxid {
        let new_epoch_zxid = peer_last.counter() == 0;
        let mut queued = peer_last;
        let mut prev = Zxid::default();
        for txn in proposals {
            let z = txn.zxid;
            if max_zxid.is_some_and(|max| z > max) {
                break;
            }
            if z < peer_last {
                prev = z;
                continue;
            }
            if *need_op {
                if z == peer_last {
                    packets.push(Message::Diff {
                        zxid: last_committed,
                    });
                    *need_op = false;
                    continue;
                }
                if new_epoch_zxid || cfg.has(Bug::Zk1154) {
                    packets.push(Message::Diff {
                        zxid: last_committed,
                    });
                    *need_op = false;
                } else if z > peer_last {
                    if z.epoch() != peer_last.epoch() {
                        return queued; // "Cannot send TRUNC to peer ... different epoch"
                    }
                    packets.push(Message::Trunc { zxid: prev });
                    *need_op = false;
                }
            }
            if z <= queued {
                continue;
            }
            packets.push(Message::Proposal { txn: txn.clone() });
            packets.push(Message::Commit { zxid: z });
            queued = z;
        }
        if *need_op && new_epoch_zxid {
            packets.push(Message::Diff {
                zxid: last_committed,
            });
            *need_op = false;
        }
        queued
    }

    pub(crate) fn on_timer(&mut self, peer: &mut Peer, timer: Timer, out: &mut Outputs) {
        match timer {
            Timer::LeaderInit => {
                if self.established {
                    return;
                }
                let reason = if !self.epoch_decided {
                    "Timeout while waiting for epoch from quorum".to_string()
                } else if !self.election_finished {
                    "Timeout while waiting for epoch to be acked by quorum".to_string()
                } else {
                    let acks: Vec<String> =
                        self.newleader_acks.iter().map(|s| s.to_string()).collect();
                    format!(
                        "Waiting for a quorum of followers, only synced with sids: [ {} ]",
                        acks.join(", ")
                    )
                };
                self.shutdown(peer, reason, out);
            }
            Timer::LeaderTick => self.on_tick(peer, out),
            Timer::SessionTick => self.session_tick(peer, out),
            _ => {}
        }
    }

    /// One iteration of lead()'s ping loop: twice a tick, check for a synced quorum every
    /// other time, then ping every learner.
    fn on_tick(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let now = peer.now;
        let half_tick = peer.cfg.tick_us / 2;
        let me = peer.id;
        if !self.tick_skip {
            self.tick += 1;
        }
        let tick = self.tick;
        let mut synced = vec![me];
        synced.extend(
            self.learners
                .iter()
                .filter(|(_, h)| tick <= h.ack_deadline_tick)
                .map(|(s, _)| *s),
        );
        let skip = self.tick_skip;
        if !skip && !peer.cfg.is_quorum(synced.iter().copied()) {
            let ids: Vec<String> = synced.iter().map(|s| s.to_string()).collect();
            self.shutdown(
                peer,
                format!(
                    "Not sufficient followers synced, only synced with sids: [ {} ]",
                    ids.join(", ")
                ),
                out,
            );
            return;
        }
        let limit = peer.cfg.sync_limit_us();
        self.tick_skip = !self.tick_skip;
        let ping: Vec<ServerId> = self
            .learners
            .iter()
            .filter(|(_, h)| {
                matches!(
                    h.stage,
                    Stage::AwaitNewLeaderAck | Stage::AwaitStartup | Stage::Running
                )
            })
            .map(|(s, _)| *s)
            .collect();
        for sid in ping {
            // LearnerHandler.ping (LearnerHandler.java:1066-1081 / 1067-1082): a learner whose
            // oldest tracked proposal is unacknowledged for syncLimit ticks is dropped
            // ("Closing connection to peer due to transaction timeout.").
            if !self.learners[&sid].sync_check.ok(now, limit) {
                self.learners.remove(&sid);
                out.items.push(Output::Close {
                    peer: Endpoint::Server(sid),
                    channel: Channel::Quorum,
                });
                continue;
            }
            let sessions = Vec::new();
            out.send(sid, Channel::Quorum, Message::Ping { sessions });
        }
        peer.timers.set(Timer::LeaderTick, now + half_tick);
    }

    pub(crate) fn lost_learner(&mut self, sid: ServerId) {
        self.learners.remove(&sid);
    }

    /// `Leader.shutdown`: close every learner's connection and look for a leader again.
    pub(crate) fn shutdown(&mut self, peer: &mut Peer, reason: String, out: &mut Outputs) {
        out.event(Event::LeaderShutdown { reason });
        let learners: Vec<ServerId> = self.learners.keys().copied().collect();
        for sid in learners {
            out.items.push(Output::Close {
                peer: Endpoint::Server(sid),
                channel: Channel::Quorum,
            });
        }
        // Leader.shutdown -> ZooKeeperServer.shutdown: a leader that served flushes its txn
        // log (ProposalRequestProcessor.shutdown -> SyncRequestProcessor.shutdown) before
        // fastForwardDataBase, in every release (Leader.java:833 at 3.8.0, :882 at 3.9.4).
        let running = self.established;
        peer.leave_role(running, true, out);
    }

    /// `SessionTrackerImpl.run`: once a tick, sessions not heard from within their timeout
    /// expire; each one's closeSession is proposed with no client request behind it.
    fn session_tick(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let now = peer.now;
        let tick = peer.cfg.tick_us;
        if !self.established {
            return;
        }
        for session in self.tracker.expire_due(now) {
            self.propose(peer, TxnOp::CloseSession { session }, None, out);
            if peer.leaving.is_some() {
                return;
            }
        }
        peer.timers.set(Timer::SessionTick, (now / tick + 1) * tick);
    }

    /// Keeps a session alive; false if the leader does not know it or it is closing.
    pub(crate) fn touch(&mut self, peer: &Peer, session: SessionId) -> bool {
        let (now, tick) = (peer.now, peer.cfg.tick_us);
        self.tracker.touch(session, now, tick)
    }

    /// `PrepRequestProcessor` for a request of a client connected here or forwarded by a
    /// learner: a new session, a write, or a sync.
    pub(crate) fn submit(&mut self, peer: &mut Peer, req: Request, out: &mut Outputs) {
        let (now, tick) = (peer.now, peer.cfg.tick_us);
        let op = match &req.op {
            RequestOp::CreateSession { timeout_ms } => {
                self.tracker.add(req.session, *timeout_ms, now, tick);
                self.tracker.set_owner(req.session, req.via);
                TxnOp::CreateSession {
                    session: req.session,
                    timeout_ms: *timeout_ms,
                }
            }
            RequestOp::Client(ClientOp::Sync { .. }) => return self.sync(peer, req, out),
            RequestOp::Client(op) => {
                let valid = self.tracker.is_active(req.session);
                let Some(mut txn_op) = prep_write(&self.prepped, req.session, valid, op) else {
                    return; // reads are never forwarded
                };
                // PrepRequestProcessor checks the owner of every write but closeSession (the
                // expirer closes sessions it does not own): a write still in flight from a
                // server the client has left becomes an error txn (ErrorTxn SESSIONMOVED).
                if valid
                    && !matches!(txn_op, TxnOp::CloseSession { .. })
                    && !self.tracker.owned_by(req.session, req.via)
                {
                    txn_op = TxnOp::Error {
                        err: crate::client_api::KeeperError::SessionMoved,
                    };
                }
                if let TxnOp::CloseSession { session } = txn_op {
                    self.tracker.set_closing(session);
                }
                txn_op
            }
        };
        let request = RequestId {
            client: req.client,
            cxid: req.cxid,
        };
        self.propose(peer, op, Some(request), out);
    }

    /// `Leader.processSync`: a sync is answered once every proposal made before it commits.
    fn sync(&mut self, peer: &mut Peer, req: Request, out: &mut Outputs) {
        if self.outstanding.is_empty() {
            self.send_sync(peer, req, out);
        } else {
            let last = self.last_proposed;
            self.pending_syncs.entry(last).or_default().push(req);
        }
    }

    /// `Leader.sendSync`: the server the client is connected to answers it; a learner learns
    /// of it behind the COMMITs that precede it on the same channel.
    fn send_sync(&mut self, peer: &mut Peer, req: Request, out: &mut Outputs) {
        if req.via == peer.id {
            peer.sync_done(&req, out);
        } else {
            out.send(req.via, Channel::Quorum, Message::Sync { request: req });
        }
    }

    /// `Leader.propose`: assign the next zxid, send PROPOSAL to the forwarding followers and
    /// log it; the leader's own ACK follows the fsync.
    pub(crate) fn propose(
        &mut self,
        peer: &mut Peer,
        op: TxnOp,
        request: Option<RequestId>,
        out: &mut Outputs,
    ) {
        let next = Zxid(self.last_proposed.0.wrapping_add(1));
        if next.counter() == Zxid::COUNTER_MAX && !peer.cfg.has(Bug::Zk1277) {
            let reason = format!("zxid lower 32 bits have rolled over, forcing re-election, and therefore new epoch start (next zxid {next})");
            self.shutdown(peer, reason, out);
            return;
        }
        let txn = Txn::from(crate::db::TxnFields {
            zxid: next,
            proposer: peer.id,
            request,
            op,
        });
        let now = peer.now;
        self.prepped.apply(&txn);
        self.last_proposed = next;
        self.outstanding.insert(
            next,
            Proposal {
                txn: txn.clone(),
                acks: ServerSet::new(),
            },
        );
        let followers: Vec<ServerId> = self
            .learners
            .iter_mut()
            .filter(|(_, h)| h.forwarding && !h.observer)
            .map(|(s, h)| {
                h.sync_check.proposal(next, now);
                *s
            })
            .collect();
        out.event(Event::Proposed {
            txn: txn.id(),
            op: txn.op.clone(),
            request,
        });
        for sid in followers {
            out.send(sid, Channel::Quorum, Message::Proposal { txn: txn.clone() });
        }
        peer.log_txn(txn, AfterWrite::SelfAck(next), out);
    }

    /// `Leader.processAck`.
    pub(crate) fn process_ack(
        &mut self,
        peer: &mut Peer,
        sid: ServerId,
        zxid: Zxid,
        out: &mut Outputs,
    ) {
        if zxid.counter() == 0 {
            return;
        }
        let has_vote = peer.cfg.has_vote(sid);
        if !self.established || zxid <= self.last_committed {
            return;
        }
        let Some(p) = self.outstanding.get_mut(&zxid) else {
            return;
        };
        if has_vote {
            p.acks.insert(sid);
        }
        self.try_to_commit(peer, zxid, out);
    }

    /// `Leader.tryToCommit`: strictly in zxid order, on a quorum of ACKs.
    fn try_to_commit(&mut self, peer: &mut Peer, zxid: Zxid, out: &mut Outputs) -> bool {
        let me = peer.id;
        if self.outstanding.contains_key(&Zxid(zxid.0.wrapping_sub(1))) {
            return false;
        }
        let p = &self.outstanding[&zxid];
        let ok = if peer.cfg.has(Bug::CommitBeforeQuorum) {
            p.acks.contains(me)
        } else {
            peer.cfg.is_quorum(p.acks.iter())
        };
        if !ok {
            return false;
        }
        let p = self.outstanding.remove(&zxid).expect("outstanding");
        self.last_committed = zxid;
        self.committed_upto = zxid;
        out.event(Event::Committed {
            txn: p.txn.id(),
            acks: p.acks,
        });
        // Followers get COMMIT first, then observers INFORM, each in id order.
        for (sid, h) in &self.learners {
            if h.forwarding && !h.observer {
                out.send(*sid, Channel::Quorum, Message::Commit { zxid });
            }
        }
        for (sid, h) in &self.learners {
            if h.forwarding && h.observer {
                out.send(
                    *sid,
                    Channel::Quorum,
                    Message::Inform { txn: p.txn.clone() },
                );
            }
        }
        peer.apply_committed(&p.txn, out);
        if let TxnOp::CloseSession { session } = p.txn.op {
            self.tracker.remove(session);
        }
        let later = self.pending_syncs.split_off(&Zxid(zxid.0.wrapping_add(1)));
        let due = std::mem::replace(&mut self.pending_syncs, later);
        for req in due.into_values().flatten() {
            self.send_sync(peer, req, out);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::bug::Bug;
    use crate::client_api::CreateMode;
    use crate::db::{Snapshot, Txn, TxnOp};
    use crate::ids::ClientId;
    use crate::ids::ServerId;
    use crate::ids::Zxid;
    use crate::io::Event;
    use crate::io::SyncMode;
    use crate::message::Message;
    use crate::testkit::{connect, create, ok, Cluster, TICK_US};
    use std::sync::Arc;

    /// Cuts `lagging` off, commits `writes` txns without it, lets it back in and returns how
    /// the leader synced it: (mode, the learner's last zxid, the leader's last zxid).
    fn resync_after(c: &mut Cluster, writes: u64) -> (SyncMode, Zxid, Zxid) {
        let leader = c.leader();
        let lagging = c.follower();
        let client = ClientId(1);
        connect(c, client, leader);
        c.isolate(lagging);
        for i in 0..writes {
            ok(
                c,
                client,
                leader,
                i + 1,
                create(&format!("/n{i}"), CreateMode::Persistent),
            );
        }
        c.run_for(20 * TICK_US);
        c.heal(lagging);
        c.run_for(40 * TICK_US);
        let decision = c.events.iter().rev().find_map(|(id, e)| match e {
            Event::SyncDecision {
                learner,
                mode,
                peer_last_zxid,
                ..
            } if *id == leader && *learner == lagging => Some((*mode, *peer_last_zxid)),
            _ => None,
        });
        let (mode, peer_last) = decision.expect("the lagging follower was synced again");
        let last = c.server(leader).peer.tree.last_processed;
        assert_eq!(
            c.server(lagging).peer.tree.applied,
            c.server(leader).peer.tree.applied,
            "after the sync the follower holds what the leader holds"
        );
        (mode, peer_last, last)
    }

    /// LearnerHandler.syncFollower: a learner more than commitLogCount (500) txns behind is
    /// past the committedLog, and the leader reads its txn log files instead; with no log
    /// roll since the learner's zxid, the files it reads past are none, so it sends DIFF.
    #[test]
    fn a_learner_behind_the_committed_log_is_diffed_from_the_txn_log() {
        let mut c = Cluster::with_snap_count(3, &[], 100_000);
        let (mode, peer_last, _) = resync_after(&mut c, 520);
        let min = c
            .server(c.leader())
            .peer
            .committed_log
            .min()
            .expect("committed");
        assert!(
            peer_last < min,
            "{peer_last} is behind the committedLog from {min}"
        );
        assert_eq!(mode, SyncMode::Diff);
    }

    /// The same learner, but the leader's log rolled (periodic snapshots every ~100 txns)
    /// after the learner's zxid: the later files are preallocated to 64 MiB, more than a
    /// third of the snapshot, so ZooKeeper gives the txn log up and sends SNAP.
    #[test]
    fn a_learner_behind_the_committed_log_and_a_log_roll_gets_snap() {
        let mut c = Cluster::with_snap_count(3, &[], 100);
        let (mode, peer_last, last) = resync_after(&mut c, 520);
        assert!(c.server(c.leader()).peer.log_files.len() > 2);
        assert_eq!(mode, SyncMode::Snap, "from {peer_last} to {last}");
    }

    /// A follower that a SNAP in an epoch never established left holding, inside its
    /// snapshot, a txn the leader lacks, and the sync it is then given. It reports the
    /// snapshot's last txn in ACKEPOCH: `fixed` sends SNAP, since a TRUNC below it cannot be
    /// carried out; the releases' follower reports nothing (trunc-into-snapshot) and is sent
    /// TRUNC.
    fn resync_holding_an_extra_snapshot_txn(bugs: &[Bug]) -> (Cluster, ServerId, SyncMode) {
        let mut c = Cluster::new(3, bugs);
        let leader = c.leader();
        let f = c.follower();
        let client = ClientId(1);
        connect(&mut c, client, leader);
        ok(
            &mut c,
            client,
            leader,
            1,
            create("/a", CreateMode::Persistent),
        );
        c.isolate(f);
        c.run_for(40 * TICK_US);
        let s = c.servers.get_mut(&f).expect("follower");
        let extra = Txn::new(
            Zxid(s.peer.tree.last_processed.0 + 1000),
            leader,
            None,
            TxnOp::Initial,
        );
        let mut tree = s.peer.tree.clone();
        tree.apply(&extra);
        s.peer.base = Arc::new(Snapshot {
            zxid: extra.zxid,
            tree: tree.clone(),
        });
        s.peer.log.clear();
        s.peer.tree = tree;
        c.heal(f);
        c.run_for(40 * TICK_US);
        let mode = c
            .events
            .iter()
            .rev()
            .find_map(|(id, e)| match e {
                Event::SyncDecision {
                    learner,
                    mode,
                    peer_last_zxid,
                    ..
                } if *id == leader && *learner == f && *peer_last_zxid == extra.zxid => Some(*mode),
                _ => None,
            })
            .expect("the follower was synced from its extra txn");
        (c, f, mode)
    }

    #[test]
    fn a_learner_that_cannot_truncate_that_far_is_sent_snap() {
        let (c, f, mode) = resync_holding_an_extra_snapshot_txn(&[]);
        assert_eq!(mode, SyncMode::Snap);
        assert!(!c
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::ProtocolError { .. })));
        assert_eq!(
            c.server(f).peer.tree.applied,
            c.server(c.leader()).peer.tree.applied,
            "the SNAP replaced the follower's snapshot"
        );

        let (c, f, mode) = resync_holding_an_extra_snapshot_txn(&[
            Bug::TruncIntoSnapshot,
            Bug::TruncKeepsSnapshot,
        ]);
        assert_eq!(mode, SyncMode::Trunc);
        assert!(c.fired.contains(&(f, Bug::TruncIntoSnapshot)));
    }

    /// Within the committedLog the leader sends DIFF whatever its log files look like.
    #[test]
    fn a_learner_within_the_committed_log_is_diffed() {
        let mut c = Cluster::with_snap_count(3, &[], 100);
        let (mode, _, _) = resync_after(&mut c, 300);
        assert_eq!(mode, SyncMode::Diff);
        assert_eq!(
            c.server(c.leader()).peer.committed_log.min(),
            Some(Zxid::new(1, 1))
        );
    }

    /// LearnerHandler.SyncLimitCheck: a follower whose disk stalls keeps answering PINGs, so it
    /// looks synced, but it never acknowledges the proposal it was sent; syncLimit (5) ticks
    /// later the leader drops it at a ping.
    #[test]
    fn a_follower_that_pings_but_never_acks_is_dropped_after_sync_limit() {
        let mut c = Cluster::new(3, &[]);
        let leader = c.leader();
        let stalled = c.follower();
        c.stall_disk(stalled);
        let client = ClientId(1);
        connect(&mut c, client, leader);
        let write = Message::ClientRequest {
            cxid: 1,
            op: create("/a", CreateMode::Persistent),
        };
        c.send(client, leader, write);
        let dropped = |c: &Cluster| {
            c.events
                .iter()
                .any(|(id, e)| *id == stalled && matches!(e, Event::LearnerShutdown { .. }))
        };
        c.run_for(4 * TICK_US);
        assert!(!dropped(&c), "still within syncLimit");
        c.run_for(2 * TICK_US);
        assert!(
            dropped(&c),
            "{stalled} is dropped once its proposal is 5 ticks old"
        );
        assert_eq!(c.leader(), leader, "the other follower keeps the quorum");
    }
}
