//! FastLeaderElection (FastLeaderElection.java), one notification at a time.
//!
//! ZooKeeper runs FLE as a loop over a receive queue with a poll timeout. Here each poll is an
//! input: a notification, the notification timeout (`FleTimeout`, backing off from
//! finalizeWait to maxNotificationInterval), or the end of finalizeWait (`FleFinalize`).

use crate::bug::Bug;
use crate::config::{FINALIZE_WAIT_US, MAX_NOTIFICATION_INTERVAL_US};
use crate::ids::{Channel, ServerId, Zxid};
use crate::io::{Event, Outputs, Timer, ZabPhase};
use crate::message::{Message, Notification, ServerState};
use crate::peer::Peer;
use crate::server::{Role, Server};
use serde::Serialize;
use std::collections::BTreeMap;

/// `Vote.java`: a vote as stored in recvset / outofelection, or a server's current vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Vote {
    pub leader: ServerId,
    pub zxid: Zxid,
    pub election_epoch: u64,
    pub peer_epoch: u64,
    pub state: ServerState,
}

impl Vote {
    pub(crate) fn looking(
        leader: ServerId,
        zxid: Zxid,
        peer_epoch: u64,
        election_epoch: u64,
    ) -> Vote {
        Vote {
            leader,
            zxid,
            election_epoch,
            peer_epoch,
            state: ServerState::Looking,
        }
    }

    fn of(n: &Notification) -> Vote {
        Vote {
            leader: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
            state: n.state,
        }
    }

    /// `Vote.equals`: votes of servers out of the election compare only leader and peerEpoch,
    /// because their zxid and round may legitimately differ (ZOOKEEPER-1732/1805).
    pub fn same_as(&self, other: &Vote) -> bool {
        if self.state == ServerState::Looking || other.state == ServerState::Looking {
            self.leader == other.leader
                && self.zxid == other.zxid
                && self.election_epoch == other.election_epoch
                && self.peer_epoch == other.peer_epoch
        } else {
            self.leader == other.leader && self.peer_epoch == other.peer_epoch
        }
    }
}

/// The state of one `lookForLeader` call.
#[derive(Debug)]
pub(crate) struct Election {
    proposed_leader: ServerId,
    proposed_zxid: Zxid,
    proposed_epoch: u64,
    recvset: BTreeMap<ServerId, Vote>,
    outofelection: BTreeMap<ServerId, Vote>,
    /// The current poll timeout (`notTimeout`).
    not_timeout_us: u64,
    /// When the current poll started: a notification ends the poll and starts a new one.
    poll_started_us: u64,
    /// In finalizeWait: the proposal has a quorum and we wait for a better vote.
    finalizing: bool,
}

impl Default for Election {
    fn default() -> Self {
        Election {
            proposed_leader: ServerId::NONE,
            proposed_zxid: Zxid::default(),
            proposed_epoch: 0,
            recvset: BTreeMap::new(),
            outofelection: BTreeMap::new(),
            not_timeout_us: FINALIZE_WAIT_US,
            poll_started_us: 0,
            finalizing: false,
        }
    }
}

impl Election {
    pub(crate) fn proposal(&self, logical_clock: u64) -> Vote {
        Vote::looking(
            self.proposed_leader,
            self.proposed_zxid,
            self.proposed_epoch,
            logical_clock,
        )
    }
}

/// How an election ended.
pub(crate) struct Decision {
    leader: ServerId,
    vote: Vote,
}

impl Peer {
    /// `getInitId`: observers propose no one.
    fn init_id(&self) -> ServerId {
        if self.cfg.is_participant(self.id) {
            self.id
        } else {
            ServerId::NONE
        }
    }

    /// `validVoter`: only voting members' notifications enter the election.
    fn valid_voter(&self, sid: ServerId) -> bool {
        self.cfg.has_vote(sid)
    }

    /// `totalOrderPredicate`: is (new_id, new_zxid, new_epoch) a better leader than the current
    /// proposal? Lexicographic on (peerEpoch, zxid, sid); the zk-1419 variant drops the
    /// parentheses around the epoch tie, which makes the order cyclic.
    pub(crate) fn total_order(
        &self,
        new: (ServerId, Zxid, u64),
        cur: (ServerId, Zxid, u64),
    ) -> bool {
        let (new_id, new_zxid, new_epoch) = new;
        let (cur_id, cur_zxid, cur_epoch) = cur;
        if !self.cfg.has_vote(new_id) {
            return false;
        }
        if self.cfg.has(Bug::Zk1419) {
            (new_epoch > cur_epoch)
                || (new_epoch == cur_epoch && new_zxid > cur_zxid)
                || (new_zxid == cur_zxid && new_id > cur_id)
        } else {
            (new_epoch > cur_epoch)
                || (new_epoch == cur_epoch
                    && (new_zxid > cur_zxid || (new_zxid == cur_zxid && new_id > cur_id)))
        }
    }
}

impl Election {
    /// `lookForLeader` up to its first poll.
    pub(crate) fn look_for_leader(&mut self, peer: &mut Peer, out: &mut Outputs) {
        peer.logical_clock += 1;
        let (id, zxid, epoch) = (peer.init_id(), peer.last_zxid(), peer.current_epoch);
        let now = peer.now;
        self.poll_started_us = now;
        self.update_proposal(peer, id, zxid, epoch, out);
        self.send_notifications(peer, out);
        let timeout = FINALIZE_WAIT_US;
        peer.timers.set(Timer::FleTimeout, now + timeout);
    }

    fn update_proposal(
        &mut self,
        peer: &mut Peer,
        leader: ServerId,
        zxid: Zxid,
        epoch: u64,
        out: &mut Outputs,
    ) {
        let clock = peer.logical_clock;
        self.proposed_leader = leader;
        self.proposed_zxid = zxid;
        self.proposed_epoch = epoch;
        out.event(Event::Vote {
            leader,
            zxid,
            peer_epoch: epoch,
            election_epoch: clock,
        });
    }

    /// `sendNotifications`: our proposal to every voter, ourselves included.
    fn send_notifications(&mut self, peer: &mut Peer, out: &mut Outputs) {
        let n = Notification {
            leader: self.proposed_leader,
            zxid: self.proposed_zxid,
            election_epoch: peer.logical_clock,
            peer_epoch: self.proposed_epoch,
            state: ServerState::Looking,
        };
        let cfg = peer.cfg.clone();
        let voters = cfg
            .participants
            .iter()
            .chain(cfg.observers.iter().filter(|o| cfg.has_vote(**o)));
        for &sid in voters {
            if sid == peer.id {
                peer.self_notification = Some(n);
            } else {
                out.send(sid, Channel::Election, Message::Notification(n));
            }
        }
    }

    /// The body of lookForLeader's loop for one polled notification; `Some` once the
    /// election is over.
    fn receive(
        &mut self,
        peer: &mut Peer,
        from: ServerId,
        n: Notification,
        out: &mut Outputs,
    ) -> Option<Decision> {
        let now = peer.now;
        let clock = peer.logical_clock;
        self.poll_started_us = now;
        let cur = (
            self.proposed_leader,
            self.proposed_zxid,
            self.proposed_epoch,
        );
        if self.finalizing {
            // finalizeWait drain: a better vote goes back to the queue and the election
            // continues; anything else is consumed and the 200 ms wait starts over.
            if peer.total_order((n.leader, n.zxid, n.peer_epoch), cur) {
                self.finalizing = false;
                peer.timers.cancel(Timer::FleFinalize);
                let timeout = self.not_timeout_us;
                peer.timers.set(Timer::FleTimeout, now + timeout);
            } else {
                peer.timers.set(Timer::FleFinalize, now + FINALIZE_WAIT_US);
                return None;
            }
        } else {
            let timeout = self.not_timeout_us;
            peer.timers.set(Timer::FleTimeout, now + timeout);
        }
        if !peer.valid_voter(from) || !peer.valid_voter(n.leader) {
            return None;
        }
        match n.state {
            ServerState::Looking => self.on_looking(peer, from, n, clock, out),
            ServerState::Observing => None,
            ServerState::Following | ServerState::Leading => self.on_out_of_election(peer, from, n),
        }
    }

    fn on_looking(
        &mut self,
        peer: &mut Peer,
        from: ServerId,
        n: Notification,
        clock: u64,
        out: &mut Outputs,
    ) -> Option<Decision> {
        let init = (peer.init_id(), peer.last_zxid(), peer.current_epoch);
        let new = (n.leader, n.zxid, n.peer_epoch);
        if n.election_epoch > clock {
            peer.logical_clock = n.election_epoch;
            self.recvset.clear();
            let (l, z, ep) = if peer.total_order(new, init) {
                new
            } else {
                init
            };
            self.update_proposal(peer, l, z, ep, out);
            self.send_notifications(peer, out);
        } else if n.election_epoch < clock {
            return None;
        } else {
            let cur = (
                self.proposed_leader,
                self.proposed_zxid,
                self.proposed_epoch,
            );
            if peer.total_order(new, cur) {
                self.update_proposal(peer, n.leader, n.zxid, n.peer_epoch, out);
                self.send_notifications(peer, out);
            }
        }
        let clock = peer.logical_clock;
        self.recvset.insert(
            from,
            Vote::looking(n.leader, n.zxid, n.peer_epoch, n.election_epoch),
        );
        let proposal = self.proposal(clock);
        let supporters: Vec<ServerId> = self
            .recvset
            .iter()
            .filter(|(_, v)| v.same_as(&proposal))
            .map(|(s, _)| *s)
            .collect();
        if peer.cfg.is_quorum(supporters) {
            let now = peer.now;
            self.finalizing = true;
            peer.timers.cancel(Timer::FleTimeout);
            peer.timers.set(Timer::FleFinalize, now + FINALIZE_WAIT_US);
        }
        None
    }

    /// `receivedFollowingNotification` / `receivedLeadingNotification`.
    fn on_out_of_election(
        &mut self,
        peer: &mut Peer,
        from: ServerId,
        n: Notification,
    ) -> Option<Decision> {
        let clock = peer.logical_clock;
        let vote = Vote::of(&n);
        let cfg = peer.cfg.clone();
        let my_id = peer.id;
        if n.election_epoch == clock {
            self.recvset.insert(from, vote);
            if quorum_for(&cfg, &self.recvset, &vote)
                && check_leader(&self.recvset, n.leader, n.election_epoch, my_id, clock)
            {
                return Some(Decision {
                    leader: n.leader,
                    vote,
                });
            }
        }
        self.outofelection.insert(from, vote);
        if quorum_for(&cfg, &self.outofelection, &vote)
            && check_leader(
                &self.outofelection,
                n.leader,
                n.election_epoch,
                my_id,
                clock,
            )
        {
            peer.logical_clock = n.election_epoch;
            return Some(Decision {
                leader: n.leader,
                vote,
            });
        }
        None
    }

    /// finalizeWait or the notification timeout ran out; `Some` once the election is over.
    pub(crate) fn on_timer(
        &mut self,
        peer: &mut Peer,
        timer: Timer,
        out: &mut Outputs,
    ) -> Option<Decision> {
        let now = peer.now;
        let clock = peer.logical_clock;
        match timer {
            Timer::FleFinalize if self.finalizing => {
                let vote = self.proposal(clock);
                return Some(Decision {
                    leader: vote.leader,
                    vote,
                });
            }
            Timer::FleTimeout if !self.finalizing => {
                let due = self.poll_started_us + self.not_timeout_us;
                if now < due {
                    peer.timers.set(Timer::FleTimeout, due);
                    return None;
                }
                // Nothing heard for a whole poll: resend and back off.
                self.not_timeout_us = (self.not_timeout_us * 2).min(MAX_NOTIFICATION_INTERVAL_US);
                self.poll_started_us = now;
                let next = now + self.not_timeout_us;
                self.send_notifications(peer, out);
                peer.timers.set(Timer::FleTimeout, next);
            }
            _ => {}
        }
        None
    }
}

impl Server {
    /// `WorkerReceiver.run`: answer what must be answered, queue the rest for the election.
    pub(crate) fn on_notification(&mut self, from: ServerId, n: Notification, out: &mut Outputs) {
        if !self.peer.cfg.is_member(from) {
            return;
        }
        // A non-voter (an observer) gets our current vote straight back.
        if !self.peer.valid_voter(from) {
            let cur = self.peer.current_vote;
            let reply = Notification {
                leader: cur.leader,
                zxid: cur.zxid,
                election_epoch: self.peer.logical_clock,
                peer_epoch: cur.peer_epoch,
                state: self.peer.state,
            };
            out.send(from, Channel::Election, Message::Notification(reply));
            return;
        }
        if self.peer.state == ServerState::Looking {
            let clock = self.peer.logical_clock;
            // A lagging looker gets our proposal in our round so it can catch up.
            if n.state == ServerState::Looking && n.election_epoch < clock && from != self.peer.id {
                let v = self.vote();
                let reply = Notification {
                    leader: v.leader,
                    zxid: v.zxid,
                    election_epoch: clock,
                    peer_epoch: v.peer_epoch,
                    state: ServerState::Looking,
                };
                out.send(from, Channel::Election, Message::Notification(reply));
            }
            if let Role::Looking(e) = &mut self.role {
                if let Some(d) = e.receive(&mut self.peer, from, n, out) {
                    self.finish_election(d, out);
                }
            }
        } else if n.state == ServerState::Looking && from != self.peer.id {
            // Out of the election: tell the looker who leads, in the round we decided it.
            let cur = self.peer.current_vote;
            let reply = Notification {
                leader: cur.leader,
                zxid: cur.zxid,
                election_epoch: cur.election_epoch,
                peer_epoch: cur.peer_epoch,
                state: self.peer.state,
            };
            out.send(from, Channel::Election, Message::Notification(reply));
        }
    }

    /// A LOOKING server's election timer.
    pub(crate) fn election_timer(&mut self, timer: Timer, out: &mut Outputs) {
        if let Role::Looking(e) = &mut self.role {
            if let Some(d) = e.on_timer(&mut self.peer, timer, out) {
                self.finish_election(d, out);
            }
        }
    }

    /// `setPeerState` and `leaveInstance`: become leader, follower or observer.
    fn finish_election(&mut self, d: Decision, out: &mut Outputs) {
        self.peer.timers.cancel(Timer::FleTimeout);
        self.peer.timers.cancel(Timer::FleFinalize);
        self.peer.current_vote = Vote {
            state: ServerState::Looking,
            ..d.vote
        };
        out.event(Event::Elected {
            leader: d.leader,
            election_epoch: d.vote.election_epoch,
        });
        if d.leader == self.peer.id {
            self.become_leader(out);
        } else if self.peer.cfg.is_participant(self.peer.id) {
            self.become_learner(d.leader, false, out);
        } else {
            self.become_learner(d.leader, true, out);
        }
        debug_assert!(self.peer.phase != ZabPhase::Election);
    }
}

/// `getVoteTracker(...).hasAllQuorums()`: do the voters whose stored vote equals `vote` form a
/// quorum?
fn quorum_for(cfg: &crate::config::Config, votes: &BTreeMap<ServerId, Vote>, vote: &Vote) -> bool {
    cfg.is_quorum(
        votes
            .iter()
            .filter(|(_, v)| v.same_as(vote))
            .map(|(s, _)| *s),
    )
}

/// `checkLeader`: never follow a leader we have no LEADING vote from, and only lead in the
/// round we are in (ZOOKEEPER-975).
fn check_leader(
    votes: &BTreeMap<ServerId, Vote>,
    leader: ServerId,
    election_epoch: u64,
    me: ServerId,
    clock: u64,
) -> bool {
    if leader == me {
        clock == election_epoch
    } else {
        matches!(votes.get(&leader), Some(v) if v.state == ServerState::Leading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bug::Bug;
    use crate::db::DiskImage;
    use crate::io::Outputs;
    use std::sync::Arc;

    fn server(bugs: &[Bug]) -> Server {
        let cfg = crate::testkit::config(3, bugs, 100);
        Server::boot(
            Arc::new(cfg),
            ServerId(1),
            &DiskImage::default(),
            0,
            &mut Outputs::default(),
        )
    }

    #[test]
    fn vote_order_is_epoch_then_zxid_then_id() {
        let s = server(&[]);
        let z = Zxid::new(1, 3);
        let (s2_e2, s3_e1) = ((ServerId(2), z, 2), (ServerId(3), z, 1));
        assert!(s.peer.total_order(s2_e2, s3_e1), "the higher epoch wins");
        assert!(
            !s.peer.total_order(s3_e1, s2_e2),
            "a higher id does not beat a higher epoch"
        );
        assert!(
            s.peer.total_order((ServerId(1), Zxid::new(1, 4), 1), s3_e1),
            "then the zxid"
        );
        assert!(
            !s.peer.total_order((ServerId(0), Zxid::new(9, 9), 9), s3_e1),
            "no-one (weight 0) never wins"
        );
    }

    #[test]
    fn zk_1419_order_is_a_cycle() {
        let s = server(&[Bug::Zk1419]);
        let z = Zxid::new(1, 3);
        let (s2_e2, s3_e1) = ((ServerId(2), z, 2), (ServerId(3), z, 1));
        assert!(s.peer.total_order(s2_e2, s3_e1));
        assert!(
            s.peer.total_order(s3_e1, s2_e2),
            "without the parentheses each vote beats the other"
        );
    }
}
