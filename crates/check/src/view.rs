//! The read-only view of the simulated world that checkers get with every happening.

use zab::{Config, DataTree, DiskImage, DiskOp, ServerId, ServerState, Txn, ZabPhase, Zxid};

/// A server's volatile state, borrowed for one happening.
#[derive(Clone, Copy, Debug)]
pub struct ServerView<'a> {
    pub id: ServerId,
    pub state: ServerState,
    pub phase: ZabPhase,
    pub accepted_epoch: u64,
    pub current_epoch: u64,
    /// The leader it follows, or itself when leading.
    pub leader: Option<ServerId>,
    /// A leader in BROADCAST.
    pub established: bool,
    /// The epoch it leads or follows, once known.
    pub role_epoch: Option<u64>,
    pub last_zxid: Zxid,
    /// Txns logged or being logged after the base snapshot.
    pub log: &'a [Txn],
    pub tree: &'a DataTree,
    /// How many of `tree.applied` are delivered.
    pub delivered: usize,
}

/// Everything a checker may look at. Implemented by the simulator and by test fakes.
pub trait View {
    fn now_us(&self) -> u64;
    fn config(&self) -> &Config;
    /// Participants then observers.
    fn members(&self) -> &[ServerId];
    /// Running: not crashed and not failed at startup. A paused server is up.
    fn server(&self, id: ServerId) -> Option<ServerView<'_>>;
    /// A running server's `tree.applied`, as [`View::server`] shows it. The delivery checkers
    /// read it at every `Delivered`, so a view can answer it without building a whole
    /// [`ServerView`].
    fn applied(&self, id: ServerId) -> Option<&zab::AppliedTxns> {
        self.server(id).map(|s| &s.tree.applied)
    }
    /// While a `Delivered` is being shown: what it adds, worked out once for every checker
    /// (see [`crate::delivery`]). A view that leaves it to each checker returns `None`.
    fn delivery(&self) -> Option<&crate::Delivery> {
        None
    }
    fn is_paused(&self, id: ServerId) -> bool;
    /// Whether a message from `from` to `to` would be delivered now (no partition between).
    fn can_reach(&self, from: ServerId, to: ServerId) -> bool;
    /// What is durable on the server's disk.
    fn disk(&self, id: ServerId) -> &DiskImage;
    /// Writes issued but not yet durable, in issue order.
    fn unflushed(&self, id: ServerId) -> Vec<&DiskOp>;
}

/// The largest group of voting servers that are up, not paused and can all reach each other
/// both ways, if it is a quorum. Used by liveness checks.
pub fn connected_quorum(view: &dyn View) -> Option<Vec<ServerId>> {
    let cfg = view.config();
    let live: Vec<ServerId> = cfg
        .participants
        .iter()
        .copied()
        .filter(|id| view.server(*id).is_some() && !view.is_paused(*id))
        .collect();
    let mutual =
        |a: ServerId, b: ServerId| a == b || (view.can_reach(a, b) && view.can_reach(b, a));
    let mut best: Option<Vec<ServerId>> = None;
    for &v in &live {
        let group: Vec<ServerId> = live.iter().copied().filter(|u| mutual(v, *u)).collect();
        let clique = group.iter().all(|a| group.iter().all(|b| mutual(*a, *b)));
        if clique
            && cfg.is_quorum(group.iter().copied())
            && best.as_ref().is_none_or(|b| b.len() < group.len())
        {
            best = Some(group);
        }
    }
    best
}

/// The established leader that has a quorum of voters synced to it in BROADCAST, if any.
pub fn leader_with_quorum(view: &dyn View) -> Option<(ServerId, u64)> {
    let cfg = view.config();
    for &id in view.members() {
        let Some(s) = view.server(id) else { continue };
        if !s.established || view.is_paused(id) {
            continue;
        }
        let epoch = s.role_epoch.unwrap_or(0);
        let synced = cfg.participants.iter().copied().filter(|f| {
            *f == id
                || view.server(*f).is_some_and(|fv| {
                    fv.leader == Some(id)
                        && fv.phase == ZabPhase::Broadcast
                        && fv.role_epoch == Some(epoch)
                        && !view.is_paused(*f)
                        && view.can_reach(*f, id)
                        && view.can_reach(id, *f)
                })
        });
        if cfg.is_quorum(synced) {
            return Some((id, epoch));
        }
    }
    None
}
