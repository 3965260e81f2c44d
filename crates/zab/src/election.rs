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
struct Decision {
    leader: ServerId,
    vote: Vote,
}

impl Server {
    fn election(&mut self) -> Option<&mut Election> {
        match &mut self.role {
            Role::Looking(e) => Some(e),
            _ => None,
        }
    }

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

    /// `lookForLeader` up to its first poll.
    pub(crate) fn look_for_leader(&mut self, out: &mut Outputs) {
        self.logical_clock += 1;
        let (id, zxid, epoch) = (self.init_id(), self.last_zxid(), self.current_epoch);
        let now = self.now;
        let e = self.election().expect("looking");
        e.poll_started_us = now;
        self.update_proposal(id, zxid, epoch, out);
        self.send_notifications(out);
        let timeout = FINALIZE_WAIT_US;
        self.timers.set(Timer::FleTimeout, now + timeout);
    }

    fn update_proposal(&mut self, leader: ServerId, zxid: Zxid, epoch: u64, out: &mut Outputs) {
        let clock = self.logical_clock;
        let e = self.election().expect("looking");
        e.proposed_leader = leader;
        e.proposed_zxid = zxid;
        e.proposed_epoch = epoch;
        out.event(Event::Vote {
            leader,
            zxid,
            peer_epoch: epoch,
            election_epoch: clock,
        });
    }

    /// `sendNotifications`: our proposal to every voter, ourselves included.
    fn send_notifications(&mut self, out: &mut Outputs) {
        let Some(e) = (match &self.role {
            Role::Looking(e) => Some(e),
            _ => None,
        }) else {
            return;
        };
        let n = Notification {
            leader: e.proposed_leader,
            zxid: e.proposed_zxid,
            election_epoch: self.logical_clock,
            peer_epoch: e.proposed_epoch,
            state: ServerState::Looking,
        };
        let cfg = self.cfg.clone();
        let voters = cfg
            .participants
            .iter()
            .chain(cfg.observers.iter().filter(|o| cfg.has_vote(**o)));
        for &sid in voters {
            if sid == self.id {
                self.self_notification = Some(n);
            } else {
                out.send(sid, Channel::Election, Message::Notification(n));
            }
        }
    }

    pub(crate) fn drain_self_notifications(&mut self, out: &mut Outputs) {
        while let Some(n) = self.self_notification.take() {
            self.on_notification(self.id, n, out);
        }
    }

    /// `WorkerReceiver.run`: answer what must be answered, queue the rest for the election.
    pub(crate) fn on_notification(&mut self, from: ServerId, n: Notification, out: &mut Outputs) {
        if !self.cfg.is_member(from) {
            return;
        }
        // A non-voter (an observer) gets our current vote straight back.
        if !self.valid_voter(from) {
            let cur = self.current_vote;
            let reply = Notification {
                leader: cur.leader,
                zxid: cur.zxid,
                election_epoch: self.logical_clock,
                peer_epoch: cur.peer_epoch,
                state: self.state,
            };
            out.send(from, Channel::Election, Message::Notification(reply));
            return;
        }
        if self.state == ServerState::Looking {
            let clock = self.logical_clock;
            // A lagging looker gets our proposal in our round so it can catch up.
            if n.state == ServerState::Looking && n.election_epoch < clock && from != self.id {
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
            self.election_receive(from, n, out);
        } else if n.state == ServerState::Looking && from != self.id {
            // Out of the election: tell the looker who leads, in the round we decided it.
            let cur = self.current_vote;
            let reply = Notification {
                leader: cur.leader,
                zxid: cur.zxid,
                election_epoch: cur.election_epoch,
                peer_epoch: cur.peer_epoch,
                state: self.state,
            };
            out.send(from, Channel::Election, Message::Notification(reply));
        }
    }

    /// The body of lookForLeader's loop for one polled notification.
    fn election_receive(&mut self, from: ServerId, n: Notification, out: &mut Outputs) {
        let now = self.now;
        let clock = self.logical_clock;
        let Some(e) = self.election() else { return };
        e.poll_started_us = now;
        let cur = (e.proposed_leader, e.proposed_zxid, e.proposed_epoch);
        if e.finalizing {
            // finalizeWait drain: a better vote goes back to the queue and the election
            // continues; anything else is consumed and the 200 ms wait starts over.
            if self.total_order((n.leader, n.zxid, n.peer_epoch), cur) {
                self.election().expect("looking").finalizing = false;
                self.timers.cancel(Timer::FleFinalize);
                let timeout = self.election().expect("looking").not_timeout_us;
                self.timers.set(Timer::FleTimeout, now + timeout);
            } else {
                self.timers.set(Timer::FleFinalize, now + FINALIZE_WAIT_US);
                return;
            }
        } else {
            let timeout = e.not_timeout_us;
            self.timers.set(Timer::FleTimeout, now + timeout);
        }
        if !self.valid_voter(from) || !self.valid_voter(n.leader) {
            return;
        }
        let decision = match n.state {
            ServerState::Looking => self.election_looking(from, n, clock, out),
            ServerState::Observing => None,
            ServerState::Following | ServerState::Leading => self.election_out_of_election(from, n),
        };
        if let Some(d) = decision {
            self.finish_election(d, out);
        }
    }

    fn election_looking(
        &mut self,
        from: ServerId,
        n: Notification,
        clock: u64,
        out: &mut Outputs,
    ) -> Option<Decision> {
        let init = (self.init_id(), self.last_zxid(), self.current_epoch);
        let new = (n.leader, n.zxid, n.peer_epoch);
        if n.election_epoch > clock {
            self.logical_clock = n.election_epoch;
            self.election().expect("looking").recvset.clear();
            let (l, z, ep) = if self.total_order(new, init) {
                new
            } else {
                init
            };
            self.update_proposal(l, z, ep, out);
            self.send_notifications(out);
        } else if n.election_epoch < clock {
            return None;
        } else {
            let e = self.election().expect("looking");
            let cur = (e.proposed_leader, e.proposed_zxid, e.proposed_epoch);
            if self.total_order(new, cur) {
                self.update_proposal(n.leader, n.zxid, n.peer_epoch, out);
                self.send_notifications(out);
            }
        }
        let clock = self.logical_clock;
        let e = self.election().expect("looking");
        e.recvset.insert(
            from,
            Vote::looking(n.leader, n.zxid, n.peer_epoch, n.election_epoch),
        );
        let proposal = e.proposal(clock);
        let supporters: Vec<ServerId> = e
            .recvset
            .iter()
            .filter(|(_, v)| v.same_as(&proposal))
            .map(|(s, _)| *s)
            .collect();
        if self.cfg.is_quorum(supporters) {
            let now = self.now;
            let e = self.election().expect("looking");
            e.finalizing = true;
            self.timers.cancel(Timer::FleTimeout);
            self.timers.set(Timer::FleFinalize, now + FINALIZE_WAIT_US);
        }
        None
    }

    /// `receivedFollowingNotification` / `receivedLeadingNotification`.
    fn election_out_of_election(&mut self, from: ServerId, n: Notification) -> Option<Decision> {
        let clock = self.logical_clock;
        let vote = Vote::of(&n);
        let cfg = self.cfg.clone();
        let my_id = self.id;
        let e = self.election().expect("looking");
        if n.election_epoch == clock {
            e.recvset.insert(from, vote);
            if quorum_for(&cfg, &e.recvset, &vote)
                && check_leader(&e.recvset, n.leader, n.election_epoch, my_id, clock)
            {
                return Some(Decision {
                    leader: n.leader,
                    vote,
                });
            }
        }
        e.outofelection.insert(from, vote);
        if quorum_for(&cfg, &e.outofelection, &vote)
            && check_leader(&e.outofelection, n.leader, n.election_epoch, my_id, clock)
        {
            self.logical_clock = n.election_epoch;
            return Some(Decision {
                leader: n.leader,
                vote,
            });
        }
        None
    }

    pub(crate) fn election_timer(&mut self, timer: Timer, out: &mut Outputs) {
        let now = self.now;
        let clock = self.logical_clock;
        let Some(e) = self.election() else { return };
        match timer {
            Timer::FleFinalize if e.finalizing => {
                let vote = e.proposal(clock);
                self.finish_election(
                    Decision {
                        leader: vote.leader,
                        vote,
                    },
                    out,
                );
            }
            Timer::FleTimeout if !e.finalizing => {
                let due = e.poll_started_us + e.not_timeout_us;
                if now < due {
                    self.timers.set(Timer::FleTimeout, due);
                    return;
                }
                // Nothing heard for a whole poll: resend and back off.
                e.not_timeout_us = (e.not_timeout_us * 2).min(MAX_NOTIFICATION_INTERVAL_US);
                e.poll_started_us = now;
                let next = now + e.not_timeout_us;
                self.send_notifications(out);
                self.timers.set(Timer::FleTimeout, next);
            }
            _ => {}
        }
    }

    /// `setPeerState` and `leaveInstance`: become leader, follower or observer.
    fn finish_election(&mut self, d: Decision, out: &mut Outputs) {
        self.timers.cancel(Timer::FleTimeout);
        self.timers.cancel(Timer::FleFinalize);
        self.current_vote = Vote {
            state: ServerState::Looking,
            ..d.vote
        };
        out.event(Event::Elected {
            leader: d.leader,
            election_epoch: d.vote.election_epoch,
        });
        if d.leader == self.id {
            self.become_leader(out);
        } else if self.cfg.is_participant(self.id) {
            self.become_learner(d.leader, false, out);
        } else {
            self.become_learner(d.leader, true, out);
        }
        debug_assert!(self.phase != ZabPhase::Election);
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
        assert!(s.total_order(s2_e2, s3_e1), "the higher epoch wins");
        assert!(
            !s.total_order(s3_e1, s2_e2),
            "a higher id does not beat a higher epoch"
        );
        assert!(
            s.total_order((ServerId(1), Zxid::new(1, 4), 1), s3_e1),
            "then the zxid"
        );
        assert!(
            !s.total_order((ServerId(0), Zxid::new(9, 9), 9), s3_e1),
            "no-one (weight 0) never wins"
        );
    }

    #[test]
    fn zk_1419_order_is_a_cycle() {
        let s = server(&[Bug::Zk1419]);
        let z = Zxid::new(1, 3);
        let (s2_e2, s3_e1) = ((ServerId(2), z, 2), (ServerId(3), z, 1));
        assert!(s.total_order(s2_e2, s3_e1));
        assert!(
            s.total_order(s3_e1, s2_e2),
            "without the parentheses each vote beats the other"
        );
    }
}
