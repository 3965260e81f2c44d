//! What a run keeps for its outcome besides the checkers' verdicts: each election with how
//! long the ensemble was without a leader, the sync decisions, servers that refused to start,
//! the bugs that acted, how many txns are committed, and which watched txns were delivered.

use crate::outcome::{ElectionRecord, SyncRecord};
use crate::world::World;
use std::collections::BTreeSet;
use zab::{Event, ServerId};

#[derive(Default)]
pub struct Records {
    pub elections: Vec<ElectionRecord>,
    /// When the ensemble last lost its last established leader (`None` while one leads).
    no_leader_since: Option<u64>,
    pub established_leaders: BTreeSet<ServerId>,
    /// When the ensemble last lost an established leader.
    pub last_leader_lost_us: Option<u64>,
    /// The longest delivered sequence any server reached: how many txns are committed.
    pub max_delivered: usize,
    /// A leader that just established its epoch; its next Delivered shows what it committed.
    establishing: Option<(ServerId, u64)>,
    /// The leader crashed last (the `leader` selector of a restart).
    pub last_crashed_leader: Option<ServerId>,
    /// Servers that refused to start, for the summary (see [`Event::StartupFailed`]).
    pub startup_failures: Vec<(u64, ServerId, String)>,
    /// The first time each switched-on bug changed what a server did.
    pub fired: Vec<(u64, ServerId, zab::Bug)>,
    /// Every sync decision a leader took.
    pub syncs: Vec<SyncRecord>,
    /// The txns `[expect] never_delivered` names, and those of them some server delivered.
    pub watched: Vec<zab::Zxid>,
    pub watched_delivered: BTreeSet<zab::Zxid>,
}

impl Records {
    pub fn new(watched: Vec<zab::Zxid>) -> Records {
        Records {
            no_leader_since: Some(0),
            watched,
            ..Records::default()
        }
    }

    pub fn fired(&mut self, now: u64, id: ServerId, bug: zab::Bug) {
        if !self.fired.iter().any(|(_, _, b)| *b == bug) {
            self.fired.push((now, id, bug));
        }
    }

    /// Keeps what a server event means for the outcome.
    pub fn server_event(&mut self, world: &World, id: ServerId, event: &Event) {
        let now = world.now;
        match event {
            Event::Established { epoch, .. } => {
                self.elections.push(ElectionRecord {
                    epoch: *epoch,
                    leader: id,
                    started_us: self.no_leader_since.unwrap_or(now),
                    established_us: now,
                    recovered: Vec::new(),
                });
                self.establishing = Some((id, *epoch));
                self.no_leader_since = None;
                self.established_leaders.insert(id);
            }
            Event::LeaderShutdown { .. } => self.lost_leader(now, id),
            Event::StartupFailed { reason } => {
                self.startup_failures.push((now, id, reason.clone()));
            }
            Event::SyncDecision {
                learner,
                mode,
                zxid,
                ..
            } => self.syncs.push(SyncRecord {
                at_us: now,
                leader: id,
                learner: *learner,
                mode: *mode,
                zxid: *zxid,
            }),
            Event::Delivered { from, count } => self.delivered(world, id, *from, *count),
            _ => {}
        }
    }

    fn delivered(&mut self, world: &World, id: ServerId, from: usize, count: usize) {
        if !self.watched.is_empty() {
            if let Some(server) = world.running(id) {
                let applied = &server.tree().applied;
                for t in applied.range(from..count) {
                    if self.watched.contains(&t.zxid) {
                        self.watched_delivered.insert(t.zxid);
                    }
                }
            }
        }
        let establishing = self.establishing.take();
        if count <= self.max_delivered {
            return;
        }
        let from = self.max_delivered;
        self.max_delivered = count;
        let Some((leader, epoch)) = establishing.filter(|(l, _)| *l == id) else {
            return;
        };
        let Some(server) = world.running(leader) else {
            return;
        };
        let applied = &server.tree().applied;
        let recovered = applied
            .range(from..count)
            .filter(|t| t.zxid.epoch() < epoch && t.proposer != ServerId::NONE);
        if let Some(e) = self.elections.last_mut() {
            e.recovered.extend(recovered);
        }
    }

    /// An established leader stepped down or crashed.
    pub fn lost_leader(&mut self, now: u64, id: ServerId) {
        if self.established_leaders.contains(&id) {
            self.last_leader_lost_us = Some(now);
        }
        if self.established_leaders.remove(&id) && self.established_leaders.is_empty() {
            self.no_leader_since = Some(now);
        }
    }
}
