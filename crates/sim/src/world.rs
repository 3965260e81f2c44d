//! The simulated world's state, and its read-only view for checkers.

use crate::disk::Disk;
use crate::network::Network;
use check::{ServerView, View};
use std::sync::Arc;
use zab::{Config, DiskImage, DiskOp, Endpoint, Server, ServerId};

/// What every simulated process has, server or client: the incarnation that tells its events
/// from an earlier process's, whether it is paused and what piled up meanwhile, and the
/// deadline it is next woken for.
#[derive(Default)]
pub struct Process {
    pub paused: bool,
    /// Inputs that arrived while paused, handled in order on resume.
    pub held: Vec<crate::sim::Ev>,
    /// Bumped at every crash: events for an earlier incarnation are dropped.
    pub incarnation: u64,
    /// The wake-ups this incarnation is owed for its machine's deadlines.
    pub wakes: crate::wakes::Wakes,
}

impl Process {
    /// The process died: what it held and its queued wake-up go with it, and events of this
    /// incarnation are dropped from now on.
    pub fn kill(&mut self) {
        self.paused = false;
        self.held.clear();
        self.wakes.clear();
        self.incarnation += 1;
    }
}

/// One server's process and disk.
pub struct Slot {
    pub id: ServerId,
    /// `None` while crashed.
    pub server: Option<Server>,
    pub process: Process,
    pub disk: Disk,
}

impl Slot {
    pub fn is_up(&self) -> bool {
        self.server.is_some()
    }
}

pub struct World {
    pub now: u64,
    pub cfg: Arc<Config>,
    pub members: Vec<ServerId>,
    pub slots: Vec<Slot>,
    /// Slot index by server id.
    pub index: [Option<u8>; 256],
    pub net: Network,
    /// Client processes that are crashed: messages to them are lost.
    pub clients_down: std::collections::BTreeSet<zab::ClientId>,
    /// The client that last claimed the election recipe's leadership or the lock and has
    /// not given it up (the `recipe-leader` selector).
    pub recipe_leader: Option<zab::ClientId>,
    /// Which txns any server delivered, and what the `Delivered` being shown adds: worked out
    /// once for every checker (`check::delivery`).
    pub deliveries: check::Deliveries,
}

impl World {
    pub fn new(cfg: Arc<Config>, disks: Vec<(ServerId, DiskImage)>, net: Network) -> World {
        let mut index = [None; 256];
        let mut slots = Vec::new();
        for (i, (id, image)) in disks.into_iter().enumerate() {
            index[usize::from(id.0)] = Some(i as u8);
            slots.push(Slot {
                id,
                server: None,
                process: Process::default(),
                disk: Disk::new(image),
            });
        }
        let members = slots.iter().map(|s| s.id).collect();
        World {
            now: 0,
            cfg,
            members,
            slots,
            index,
            net,
            clients_down: Default::default(),
            recipe_leader: None,
            deliveries: check::Deliveries::default(),
        }
    }

    /// Takes in a `Delivered` before the checkers are shown it.
    pub fn take_in_delivery(&mut self, id: ServerId, range: std::ops::Range<usize>) {
        match self.running(id) {
            Some(server) => {
                let d = check::Delivery::of(id, range, &server.tree().applied);
                self.deliveries.record(d);
            }
            None => self.deliveries.forget(),
        }
    }

    pub fn slot(&self, id: ServerId) -> Option<&Slot> {
        self.index[usize::from(id.0)].map(|i| &self.slots[usize::from(i)])
    }

    pub fn slot_mut(&mut self, id: ServerId) -> Option<&mut Slot> {
        self.index[usize::from(id.0)].map(|i| &mut self.slots[usize::from(i)])
    }

    /// A running server (crashed and failed-at-startup servers are not).
    pub fn running(&self, id: ServerId) -> Option<&Server> {
        self.slot(id)?.server.as_ref().filter(|s| !s.has_failed())
    }

    pub fn endpoint_up(&self, e: Endpoint) -> bool {
        match e {
            Endpoint::Server(id) => self.slot(id).is_some_and(Slot::is_up),
            Endpoint::Client(c) => !self.clients_down.contains(&c),
        }
    }
}

impl View for World {
    fn now_us(&self) -> u64 {
        self.now
    }
    fn config(&self) -> &Config {
        &self.cfg
    }
    fn members(&self) -> &[ServerId] {
        &self.members
    }
    fn server(&self, id: ServerId) -> Option<ServerView<'_>> {
        let s = self.running(id)?;
        Some(ServerView {
            id,
            state: s.state(),
            phase: s.phase(),
            accepted_epoch: s.accepted_epoch(),
            current_epoch: s.current_epoch(),
            leader: s.leader(),
            established: s.is_established_leader(),
            role_epoch: s.role_epoch(),
            last_zxid: s.last_processed_zxid(),
            log: s.log(),
            tree: s.tree(),
            delivered: s.delivered(),
        })
    }
    fn applied(&self, id: ServerId) -> Option<&zab::AppliedTxns> {
        Some(&self.running(id)?.tree().applied)
    }
    fn delivery(&self) -> Option<&check::Delivery> {
        self.deliveries.current()
    }
    fn is_paused(&self, id: ServerId) -> bool {
        self.slot(id).is_some_and(|s| s.process.paused)
    }
    fn can_reach(&self, from: ServerId, to: ServerId) -> bool {
        !self
            .net
            .blocked(Endpoint::Server(from), Endpoint::Server(to))
    }
    fn disk(&self, id: ServerId) -> &DiskImage {
        &self.slot(id).expect("member").disk.image
    }
    fn unflushed(&self, id: ServerId) -> Vec<&DiskOp> {
        self.slot(id)
            .map(|s| s.disk.unflushed().collect())
            .unwrap_or_default()
    }
}
