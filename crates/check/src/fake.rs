//! A hand-built world for checker unit tests.

use crate::view::{ServerView, View};
use std::collections::{BTreeMap, BTreeSet};
use zab::{
    BugSet, Config, DataTree, DiskImage, DiskOp, ServerId, ServerState, Txn, ZabPhase, Zxid,
};

pub struct FakeServer {
    pub state: ServerState,
    pub phase: ZabPhase,
    pub leader: Option<ServerId>,
    pub established: bool,
    pub epoch: u64,
    pub log: Vec<Txn>,
    pub tree: DataTree,
    pub delivered: usize,
}

pub struct FakeView {
    pub now: u64,
    pub cfg: Config,
    pub members: Vec<ServerId>,
    pub servers: BTreeMap<ServerId, FakeServer>,
    pub down: BTreeSet<ServerId>,
    pub cuts: BTreeSet<(ServerId, ServerId)>,
    pub disks: BTreeMap<ServerId, DiskImage>,
    pub unflushed: BTreeMap<ServerId, Vec<DiskOp>>,
    /// What the `Delivered` being shown adds, as the simulator works it out
    /// ([`crate::Script`] takes each one in; `None` while anything else is shown, and for
    /// happenings shown to a checker directly).
    pub delivery: Option<crate::Delivery>,
}

impl FakeView {
    pub fn new(n: u8) -> FakeView {
        let cfg = Config {
            participants: (1..=n).map(ServerId).collect(),
            observers: vec![],
            tick_us: 100_000,
            init_limit: 10,
            sync_limit: 5,
            snap_count: 100,
            initial_zxid_counter: 0,
            bugs: BugSet::default(),
            version: zab::ZkVersion::Fixed,
            seed: 0,
        };
        let members = cfg.participants.clone();
        let servers = members
            .iter()
            .map(|id| {
                let s = FakeServer {
                    state: ServerState::Looking,
                    phase: ZabPhase::Election,
                    leader: None,
                    established: false,
                    epoch: 1,
                    log: vec![],
                    tree: DataTree::default(),
                    delivered: 0,
                };
                (*id, s)
            })
            .collect();
        let disks = members
            .iter()
            .map(|id| (*id, DiskImage::default()))
            .collect();
        FakeView {
            now: 0,
            cfg,
            members,
            servers,
            down: BTreeSet::new(),
            cuts: BTreeSet::new(),
            disks,
            unflushed: BTreeMap::new(),
            delivery: None,
        }
    }

    pub fn set_state(
        &mut self,
        id: u8,
        state: ServerState,
        phase: ZabPhase,
        leader: Option<u8>,
        established: bool,
    ) {
        let s = self.servers.get_mut(&ServerId(id)).expect("server");
        s.state = state;
        s.phase = phase;
        s.leader = leader.map(ServerId);
        s.established = established;
    }

    /// Cuts both directions between two servers.
    pub fn cut(&mut self, a: u8, b: u8) {
        self.cuts.insert((ServerId(a), ServerId(b)));
        self.cuts.insert((ServerId(b), ServerId(a)));
    }
}

impl View for FakeView {
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
        if self.down.contains(&id) {
            return None;
        }
        let s = self.servers.get(&id)?;
        let disk = &self.disks[&id];
        Some(ServerView {
            id,
            state: s.state,
            phase: s.phase,
            accepted_epoch: disk.accepted_epoch,
            current_epoch: disk.current_epoch,
            leader: s.leader,
            established: s.established,
            role_epoch: Some(s.epoch),
            last_zxid: s
                .tree
                .last_processed
                .max(s.log.last().map(|t| t.zxid).unwrap_or(Zxid::default())),
            log: &s.log,
            tree: &s.tree,
            delivered: s.delivered,
        })
    }
    fn delivery(&self) -> Option<&crate::Delivery> {
        self.delivery.as_ref()
    }
    fn is_paused(&self, _id: ServerId) -> bool {
        false
    }
    fn can_reach(&self, from: ServerId, to: ServerId) -> bool {
        !self.cuts.contains(&(from, to))
    }
    fn disk(&self, id: ServerId) -> &DiskImage {
        &self.disks[&id]
    }
    fn unflushed(&self, id: ServerId) -> Vec<&DiskOp> {
        self.unflushed
            .get(&id)
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }
}
