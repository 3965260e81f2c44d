//! Protocol coverage: which situations a run reached, and how often.
//!
//! A sweep that passes says little if its seeds never truncated a follower, never crashed a
//! leader in SYNCHRONIZATION or never rolled the zxid counter over; the bugs live there. So
//! every run counts the situations it reached (how each learner was synchronized, each
//! message kind received in each role and phase, each fault by where it landed, how each
//! election was won, leaderships ending, start-up repairs, snapshots, session expiries, and
//! which checker paths judged something), `sim fuzz` adds them up into a table that shows
//! what the sweep never exercised, and `sim fuzz --guided` steers towards the rare ones.
//!
//! Counting watches the happenings the checkers see, with the world they see; it never
//! changes the run.

mod catalogue;

pub use catalogue::{situations, Situation};

use crate::world::World;
use catalogue::{layout, role_phase, EnsembleFault, ServerFault, Single, SyncKind};
use check::{Happening, View};
use zab::client_api::ClientEvent;
use zab::{DiskOp, Endpoint, Event, Message, ServerId, ServerState, ZabPhase};

/// What one run reached: the situations of [`situations`] it reached, with how often. Kept
/// sparse (a run reaches a small share of the catalogue), since a sweep keeps one per seed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// `(index into situations(), count)`, ascending by index, counts above zero.
    reached: Vec<(u32, u32)>,
}

impl Coverage {
    /// The situations reached, as `(index into situations(), count)`, ascending.
    pub fn reached(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.reached.iter().map(|(i, c)| (*i as usize, *c))
    }

    /// How often situation `i` was reached.
    pub fn count(&self, i: usize) -> u32 {
        self.reached
            .binary_search_by_key(&i, |(j, _)| *j as usize)
            .map_or(0, |k| self.reached[k].1)
    }

    /// Rebuilt from [`Coverage::reached`]'s pairs (a shard file's record); `None` if an index
    /// is not a situation of this binary or the pairs are not ascending.
    pub fn from_reached(pairs: &[(usize, u32)]) -> Option<Coverage> {
        let len = situations().len();
        let ascending = pairs.windows(2).all(|w| w[0].0 < w[1].0);
        if !ascending || pairs.iter().any(|(i, c)| *i >= len || *c == 0) {
            return None;
        }
        Some(Coverage {
            reached: pairs.iter().map(|(i, c)| (*i as u32, *c)).collect(),
        })
    }

    /// The index of the situation named `group` / `name`.
    pub fn index_of(group: &str, name: &str) -> Option<usize> {
        situations()
            .iter()
            .position(|s| s.group == group && s.name == name)
    }
}

/// Counts a run's situations as its happenings go by.
pub(crate) struct Counter {
    counts: Vec<u32>,
    /// Each server's role and phase as its last `State` event said (a crash is noted once
    /// the server is already gone).
    roles: Vec<(ServerId, usize)>,
    /// Learners being synchronized: (leader, learner, how so far), until NEWLEADER.
    syncing: Vec<(ServerId, ServerId, SyncKind)>,
    /// Each server's own credentials in its latest self-vote: (server, election epoch,
    /// peer epoch, zxid).
    own_votes: Vec<(ServerId, u64, u64, zab::Zxid)>,
    /// Servers booted by a restart that have not yet voted: a repair write now is start-up's.
    booting: Vec<ServerId>,
    /// Each client's session and the server it was last connected to.
    sessions: Vec<(zab::ClientId, zab::SessionId, ServerId)>,
    partitions: usize,
}

impl Counter {
    pub(crate) fn new() -> Counter {
        Counter {
            counts: vec![0; layout().situations.len()],
            roles: Vec::new(),
            syncing: Vec::new(),
            own_votes: Vec::new(),
            booting: Vec::new(),
            sessions: Vec::new(),
            partitions: 0,
        }
    }

    fn bump(&mut self, i: usize) {
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    pub(crate) fn on(&mut self, h: &Happening<'_>, world: &World) {
        let l = layout();
        match h {
            Happening::Deliver {
                to: Endpoint::Server(id),
                msg,
                ..
            } => {
                if let Some(s) = world.running(*id) {
                    self.bump(l.receive_index(msg.index(), role_phase(s.state(), s.phase())));
                }
            }
            Happening::Send {
                from: Endpoint::Server(from),
                to: Endpoint::Server(to),
                msg,
            } => self.sent(*from, *to, msg, world),
            Happening::Server { id, event } => self.event(*id, event, world),
            Happening::DiskIssued {
                id,
                op: DiskOp::UpdatingEpoch(false) | DiskOp::CurrentEpoch(_),
            } if self.booting.contains(id) => {
                self.booting.retain(|b| b != id);
                self.bump(l.single_index(Single::StartupRepair));
            }
            Happening::DiskDurable {
                op: DiskOp::Snapshot { .. },
                ..
            } => self.bump(l.single_index(Single::SnapshotTaken)),
            Happening::Crash { id } => {
                let rp = self.role(*id);
                self.bump(l.server_fault_index(ServerFault::Crash, rp));
            }
            Happening::Pause { id } => {
                let rp = world
                    .server(*id)
                    .map_or(self.role(*id), |s| role_phase(s.state, s.phase));
                self.bump(l.server_fault_index(ServerFault::Pause, rp));
            }
            Happening::Restart { id } => {
                let lp = leader_phase(world).0;
                self.bump(l.ensemble_fault_index(EnsembleFault::Restart, lp));
                let disk = world.disk(*id);
                let from = if !disk.snapshots.is_empty() {
                    Single::RestartFromSnapshot
                } else if !disk.log.is_empty() {
                    Single::RestartFromLog
                } else {
                    Single::RestartEmpty
                };
                self.bump(l.single_index(from));
                self.set_role(*id, role_phase(ServerState::Looking, ZabPhase::Election));
                self.booting.push(*id);
            }
            Happening::Network => {
                let now = world.net.partitions.len();
                if now > self.partitions {
                    let one_way = world.net.partitions.last().is_some_and(|p| p.one_way);
                    let (lp, leader) = leader_phase(world);
                    let kind = if one_way {
                        EnsembleFault::OneWay
                    } else {
                        EnsembleFault::Partition
                    };
                    self.bump(l.ensemble_fault_index(kind, lp));
                    if leader.is_some_and(|id| isolated(world, id)) {
                        self.bump(l.ensemble_fault_index(EnsembleFault::LeaderIsolated, lp));
                    }
                }
                self.partitions = now;
            }
            Happening::Client { id, event } => self.client(*id, event),
            _ => {}
        }
    }

    fn sent(&mut self, from: ServerId, to: ServerId, msg: &Message, world: &World) {
        let kind = match msg {
            Message::Diff { .. } => SyncKind::EmptyDiff,
            Message::Trunc { .. } => SyncKind::Trunc,
            Message::Snap { .. } => SyncKind::Snap,
            Message::Proposal { .. } | Message::Inform { .. } => {
                if let Some(s) = self
                    .syncing
                    .iter_mut()
                    .find(|(l, f, _)| *l == from && *f == to)
                {
                    s.2 = match s.2 {
                        SyncKind::EmptyDiff => SyncKind::Diff,
                        SyncKind::Trunc => SyncKind::TruncDiff,
                        other => other,
                    };
                }
                return;
            }
            Message::NewLeader { .. } => {
                if let Some(i) = self
                    .syncing
                    .iter()
                    .position(|(l, f, _)| *l == from && *f == to)
                {
                    let (_, learner, kind) = self.syncing.swap_remove(i);
                    let observer = world.cfg.observers.contains(&learner);
                    self.bump(layout().sync_index(kind, observer));
                }
                return;
            }
            _ => return,
        };
        self.syncing.retain(|(l, f, _)| !(*l == from && *f == to));
        self.syncing.push((from, to, kind));
    }

    fn event(&mut self, id: ServerId, event: &Event, world: &World) {
        let l = layout();
        match event {
            Event::State { state, phase, .. } => {
                self.set_role(id, role_phase(*state, *phase));
                self.booting.retain(|b| *b != id);
            }
            Event::Vote {
                leader,
                zxid,
                peer_epoch,
                election_epoch,
            } if *leader == id => {
                self.booting.retain(|b| *b != id);
                let v = (id, *election_epoch, *peer_epoch, *zxid);
                match self.own_votes.iter_mut().find(|o| o.0 == id) {
                    Some(o) => *o = v,
                    None => self.own_votes.push(v),
                }
            }
            Event::Elected {
                leader,
                election_epoch,
            } if *leader == id => {
                let Some(&(_, _, epoch, zxid)) = self.own_votes.iter().find(|o| o.0 == id) else {
                    return;
                };
                let rivals = self.own_votes.iter().filter(|o| {
                    o.0 != id && o.1 == *election_epoch && world.cfg.participants.contains(&o.0)
                });
                let mut won = None;
                for r in rivals {
                    let how = if epoch != r.2 {
                        Single::WonOnEpoch
                    } else if zxid != r.3 {
                        Single::WonOnZxid
                    } else {
                        Single::WonOnId
                    };
                    // The closest rival says what decided it.
                    won = Some(match (won, how) {
                        (Some(Single::WonOnId), _) | (_, Single::WonOnId) => Single::WonOnId,
                        (Some(Single::WonOnZxid), _) | (_, Single::WonOnZxid) => Single::WonOnZxid,
                        _ => Single::WonOnEpoch,
                    });
                }
                if let Some(w) = won {
                    self.bump(l.single_index(w));
                }
            }
            Event::LeaderShutdown { reason } => {
                let why = if reason.starts_with("zxid lower 32 bits have rolled over") {
                    Single::Rollover
                } else if reason.starts_with("Not sufficient followers synced") {
                    Single::LostQuorum
                } else if reason.starts_with("Waiting for a quorum of followers") {
                    Single::NoQuorumInTime
                } else {
                    Single::OtherLeaderShutdown
                };
                self.bump(l.single_index(why));
            }
            Event::LearnerShutdown { .. } => self.bump(l.single_index(Single::LearnerShutdown)),
            Event::ProtocolError { .. } => self.bump(l.single_index(Single::ProtocolError)),
            Event::StartupFailed { .. } => {
                self.booting.retain(|b| *b != id);
                self.bump(l.single_index(Single::StartupRefused));
            }
            _ => {}
        }
    }

    fn client(&mut self, id: zab::ClientId, event: &ClientEvent) {
        let l = layout();
        match event {
            ClientEvent::Expired { .. } => self.bump(l.single_index(Single::SessionExpired)),
            ClientEvent::Crashed => self.bump(l.single_index(Single::ClientCrash)),
            ClientEvent::Paused => self.bump(l.single_index(Single::ClientPause)),
            ClientEvent::Connected {
                session, server, ..
            } => {
                let now = (id, *session, *server);
                let before = match self.sessions.iter_mut().find(|s| s.0 == id) {
                    Some(s) => std::mem::replace(s, now),
                    None => {
                        self.sessions.push(now);
                        return;
                    }
                };
                if before.1 == *session && before.2 != *server {
                    self.bump(l.single_index(Single::SessionMoved));
                }
            }
            _ => {}
        }
    }

    /// A scripted fault's trigger matched a message about to leave or arrive.
    pub(crate) fn triggered(&mut self, name: &str, receiving: bool) {
        if let Some(k) = zab::MESSAGE_NAMES.iter().position(|n| *n == name) {
            self.bump(layout().trigger_index(k, receiving));
        }
    }

    fn role(&self, id: ServerId) -> usize {
        self.roles
            .iter()
            .find(|(s, _)| *s == id)
            .map_or(role_phase(ServerState::Looking, ZabPhase::Election), |r| {
                r.1
            })
    }

    fn set_role(&mut self, id: ServerId, rp: usize) {
        match self.roles.iter_mut().find(|(s, _)| *s == id) {
            Some(r) => r.1 = rp,
            None => self.roles.push((id, rp)),
        }
    }

    /// The run's coverage, with what each checker's paths counted.
    pub(crate) fn finish(mut self, checkers: &[Box<dyn check::Checker>]) -> Coverage {
        let l = layout();
        // Only when every checker ran (a run with checkers off has none to report).
        if checkers.len() == l.checker_starts.len() {
            for (c, start) in checkers.iter().zip(&l.checker_starts) {
                for (i, (_, n)) in c.paths().iter().enumerate() {
                    self.counts[start + i] = u32::try_from(*n).unwrap_or(u32::MAX);
                }
            }
        }
        Coverage {
            reached: (0u32..).zip(self.counts).filter(|(_, c)| *c > 0).collect(),
        }
    }
}

/// Where the leader with the highest epoch is: 0 none, else 1 + its phase (DISCOVERY,
/// SYNCHRONIZATION, BROADCAST), and which server it is.
fn leader_phase(world: &World) -> (usize, Option<ServerId>) {
    let leader = world
        .members
        .iter()
        .filter_map(|id| world.server(*id))
        .filter(|s| s.state == ServerState::Leading)
        .max_by_key(|s| (s.role_epoch, s.id));
    match leader {
        None => (0, None),
        Some(s) => {
            let p = match s.phase {
                ZabPhase::Election | ZabPhase::Discovery => 1,
                ZabPhase::Synchronization => 2,
                ZabPhase::Broadcast => 3,
            };
            (p, Some(s.id))
        }
    }
}

/// The leader can no longer talk both ways with a quorum of voters.
fn isolated(world: &World, leader: ServerId) -> bool {
    let cfg = &world.cfg;
    let reach =
        cfg.participants.iter().copied().filter(|p| {
            *p == leader || (world.can_reach(leader, *p) && world.can_reach(*p, leader))
        });
    !cfg.is_quorum(reach)
}
