//! The ephemeral-sequential contention pattern shared by the election and lock recipes
//! (recipes.mdx "Leader Election" and "Locks"; LeaderElectionSupport and WriteLock).
//!
//! Each contender creates an EPHEMERAL_SEQUENTIAL znode whose name carries its session id,
//! lists the children without a watch, and wins if its znode has the smallest sequence
//! number. Otherwise it watches only its predecessor with `exists`: if that returns no node
//! the predecessor left between the listing and the check, so it lists again at once. A
//! winner holds for a while, gives up its belief before deleting its znode (the order that
//! keeps "at most one believer" true), and contends again until its budget is spent.
//!
//! Connection trouble: the outcome of a create whose connection broke is unknown, and a
//! second blind create would leave an orphan that blocks everyone behind it for the life of
//! the session. So after any disconnection the contender lists the children and looks for its
//! session's name prefix before creating anything. In "safe mode" (Curator's LeaderLatch on
//! SUSPENDED) a winner stops believing as soon as it is disconnected, and re-checks after the
//! reconnect; on expiry it stops for good.

use super::app::{Ctx, Notice, Parents};
use super::sequence::{base_name, predecessor, sequence_of};
use crate::client_api::{
    ClientOp, CreateMode, KeeperError, OpResult, RecipeEvent, Reply, SessionId,
};
use crate::ids::Zxid;
use crate::path::Path;

/// What distinguishes the election from the lock.
#[derive(Clone, Debug)]
pub struct Flavor {
    /// Parents to create, the last being the directory contenders live in.
    pub parents: &'static [&'static str],
    /// The znode name prefix for a session (the server appends the sequence number).
    pub prefix: fn(SessionId) -> String,
    /// Read the winning znode's czxid as a fencing token before believing.
    pub fencing: bool,
    /// Emit UseResource at each think interval while holding.
    pub use_resource: bool,
    /// Think intervals a winner holds before it gives up.
    pub hold_intervals: u32,
    pub acquired: fn(path: Path, token: Zxid) -> RecipeEvent,
    pub released: RecipeEvent,
}

/// Where the contender is; phases that wait for an answer carry the op number.
#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// Before the first connection.
    Idle,
    Setup,
    Creating(u64),
    /// Listing the children to find this session's znode by its prefix.
    Recovering(u64),
    Listing(u64),
    /// exists(watch) on the predecessor.
    Checking {
        op: u64,
        pred: String,
    },
    /// exists on its own znode, for the czxid.
    Fencing(u64),
    /// Watching the predecessor.
    Waiting {
        pred: String,
    },
    Holding {
        token: Zxid,
    },
    Deleting(u64),
    /// Between rounds.
    Pausing,
    /// Disconnected; picks up on the next connection.
    Suspended,
    Done,
}

#[derive(Clone, Debug)]
pub struct Contention {
    flavor: Flavor,
    think_ms: (u64, u64),
    rounds_left: u32,
    parents: Parents,
    phase: Phase,
    /// This session's znode (name under the directory), once known.
    node: Option<String>,
    /// A create went out and its answer was lost: the znode may exist.
    maybe_created: bool,
    /// Its znode must go (a round ended, the delete may have been lost).
    resigning: bool,
    /// The process believes it holds (leads / owns the lock).
    believes: bool,
    held_intervals: u32,
}

impl Contention {
    pub fn new(flavor: Flavor, think_ms: (u64, u64), rounds: u32) -> Contention {
        Contention {
            parents: Parents::new(flavor.parents),
            flavor,
            think_ms,
            rounds_left: rounds,
            phase: Phase::Idle,
            node: None,
            maybe_created: false,
            resigning: false,
            believes: false,
            held_intervals: 0,
        }
    }

    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    fn dir(&self) -> &'static str {
        self.flavor.parents.last().copied().unwrap_or("/")
    }

    fn path(&self, name: &str) -> Path {
        Path::from(format!("{}/{}", self.dir(), name))
    }

    pub fn on(&mut self, notice: Notice, ctx: &mut Ctx) {
        match notice {
            Notice::Connected => match self.phase {
                Phase::Idle if self.rounds_left == 0 => self.phase = Phase::Done,
                Phase::Idle | Phase::Suspended => self.resume(ctx),
                _ => {}
            },
            Notice::Disconnected => {
                self.give_up_belief(ctx);
                ctx.cancel_timer();
                if !matches!(self.phase, Phase::Idle | Phase::Done) {
                    self.phase = Phase::Suspended;
                }
            }
            Notice::Expired => {
                self.give_up_belief(ctx);
                ctx.cancel_timer();
                self.phase = Phase::Done;
            }
            Notice::Timer => match self.phase {
                Phase::Holding { token } => self.hold(token, ctx),
                Phase::Pausing => self.create(ctx),
                _ => {}
            },
            Notice::Watch(event) => {
                if let Phase::Waiting { pred } = &self.phase {
                    if event.path == self.path(pred) {
                        self.list(ctx);
                    }
                }
            }
            Notice::Answer { op, result } => self.answered(op, result, ctx),
        }
    }

    fn give_up_belief(&mut self, ctx: &mut Ctx) {
        if self.believes {
            self.believes = false;
            ctx.emit(self.flavor.released.clone());
        }
    }

    /// Picks up from what is known after a (re)connection.
    fn resume(&mut self, ctx: &mut Ctx) {
        if !self.parents.ready {
            self.phase = Phase::Setup;
            self.parents.start(ctx);
        } else if self.resigning || self.maybe_created || self.node.is_some() {
            let op = ctx.submit(ClientOp::GetChildren {
                path: self.dir().into(),
                watch: false,
            });
            self.phase = Phase::Recovering(op);
        } else if self.rounds_left == 0 {
            self.phase = Phase::Done;
        } else {
            self.create(ctx);
        }
    }

    fn create(&mut self, ctx: &mut Ctx) {
        let path = self.path(&(self.flavor.prefix)(ctx.session));
        let op = ctx.submit(ClientOp::Create {
            path,
            data: 0,
            mode: CreateMode::EphemeralSequential,
        });
        self.maybe_created = true;
        self.phase = Phase::Creating(op);
    }

    fn list(&mut self, ctx: &mut Ctx) {
        let op = ctx.submit(ClientOp::GetChildren {
            path: self.dir().into(),
            watch: false,
        });
        self.phase = Phase::Listing(op);
    }

    fn answered(&mut self, op: u64, result: OpResult, ctx: &mut Ctx) {
        if self.phase == Phase::Setup {
            match self.parents.on_answer(op, &result) {
                Some(Ok(())) => self.resume(ctx),
                Some(Err(e)) => self.failed(e),
                None => {}
            }
            return;
        }
        let expected = match &self.phase {
            Phase::Creating(o)
            | Phase::Recovering(o)
            | Phase::Listing(o)
            | Phase::Fencing(o)
            | Phase::Deleting(o) => *o,
            Phase::Checking { op, .. } => *op,
            _ => return,
        };
        if op != expected {
            return;
        }
        let result = match result {
            Ok(reply) => reply,
            Err(KeeperError::NoNode) if matches!(self.phase, Phase::Deleting(_)) => Reply::Deleted,
            // ZooKeeper's exists answers a missing node with a null Stat; take the error form
            // the same way.
            Err(KeeperError::NoNode)
                if matches!(self.phase, Phase::Checking { .. } | Phase::Fencing(_)) =>
            {
                Reply::Exists { stat: None }
            }
            Err(KeeperError::NoNode)
                if matches!(
                    self.phase,
                    Phase::Creating(_) | Phase::Listing(_) | Phase::Recovering(_)
                ) =>
            {
                // The directory is gone: start over from the parents.
                self.parents.ready = false;
                self.node = None;
                self.maybe_created = false;
                // With the budget spent, a znode found here belongs to an interrupted last
                // round: remove it rather than contend again.
                if self.resigning || self.rounds_left == 0 {
                    self.resigning = false;
                    self.round_over(ctx);
                } else {
                    self.resume(ctx);
                }
                return;
            }
            Err(e) => {
                self.failed(e);
                return;
            }
        };
        match (self.phase.clone(), result) {
            (Phase::Creating(_), Reply::Created { path }) => {
                self.maybe_created = false;
                self.node = Some(base_name(&path).to_string());
                self.list(ctx);
            }
            (Phase::Recovering(_), Reply::Children { children }) => {
                let prefix = (self.flavor.prefix)(ctx.session);
                let mine = children
                    .iter()
                    .find(|c| c.starts_with(&prefix) && sequence_of(c).is_some())
                    .cloned();
                self.maybe_created = false;
                // With the budget spent, a znode found here belongs to an interrupted last
                // round: remove it rather than contend again.
                if self.resigning || self.rounds_left == 0 {
                    match mine {
                        Some(name) => self.delete(name, ctx),
                        None => {
                            self.resigning = false;
                            self.node = None;
                            self.round_over(ctx);
                        }
                    }
                } else {
                    match mine {
                        Some(name) => {
                            self.node = Some(name);
                            self.evaluate(&children, ctx);
                        }
                        None => {
                            self.node = None;
                            self.create(ctx);
                        }
                    }
                }
            }
            (Phase::Listing(_), Reply::Children { children }) => self.evaluate(&children, ctx),
            (Phase::Checking { pred, .. }, Reply::Exists { stat }) => match stat {
                // Gone between getChildren and exists: look again now, or wait forever.
                None => self.list(ctx),
                Some(_) => self.phase = Phase::Waiting { pred },
            },
            (Phase::Fencing(_), Reply::Exists { stat }) => match (stat, self.node.clone()) {
                (Some(stat), Some(name)) => self.acquire(self.path(&name), stat.czxid, ctx),
                _ => {
                    self.node = None;
                    self.create(ctx);
                }
            },
            (Phase::Deleting(_), _) => {
                self.resigning = false;
                self.node = None;
                self.round_over(ctx);
            }
            _ => {}
        }
    }

    /// ConnectionLoss: wait for the reconnect, which resumes from what is known. Anything
    /// else (SessionExpired, or an error the recipe does not expect) ends the program.
    fn failed(&mut self, err: KeeperError) {
        self.phase = if err == KeeperError::ConnectionLoss {
            Phase::Suspended
        } else {
            Phase::Done
        };
    }

    fn evaluate(&mut self, children: &[String], ctx: &mut Ctx) {
        let Some(mine) = self.node.clone().filter(|n| children.contains(n)) else {
            // Its znode is gone (the server removed it): contend afresh.
            self.node = None;
            self.create(ctx);
            return;
        };
        // A create that lost its connection may have gone through after all, while the
        // server the client reconnected to had not applied it yet and the retry created a
        // second znode. Both carry this session's GUID: keep the one it contends with and
        // remove the others, or an orphan would block everyone behind it for as long as the
        // session lives. (The answers are not waited for: a stray is gone either way.)
        let prefix = (self.flavor.prefix)(ctx.session);
        for stray in children
            .iter()
            .filter(|c| c.starts_with(&prefix) && **c != mine && sequence_of(c).is_some())
        {
            ctx.submit(ClientOp::Delete {
                path: self.path(stray),
                version: -1,
            });
        }
        match predecessor(children, &mine) {
            Some(pred) => {
                let op = ctx.submit(ClientOp::Exists {
                    path: self.path(&pred),
                    watch: true,
                });
                self.phase = Phase::Checking { op, pred };
            }
            None if self.flavor.fencing => {
                let op = ctx.submit(ClientOp::Exists {
                    path: self.path(&mine),
                    watch: false,
                });
                self.phase = Phase::Fencing(op);
            }
            None => self.acquire(self.path(&mine), Zxid(0), ctx),
        }
    }

    fn acquire(&mut self, path: Path, token: Zxid, ctx: &mut Ctx) {
        self.rounds_left = self.rounds_left.saturating_sub(1);
        self.held_intervals = 0;
        self.believes = true;
        ctx.emit((self.flavor.acquired)(path, token));
        self.phase = Phase::Holding { token };
        ctx.think(self.think_ms);
    }

    fn hold(&mut self, token: Zxid, ctx: &mut Ctx) {
        if self.flavor.use_resource {
            ctx.emit(RecipeEvent::UseResource { token });
        }
        self.held_intervals += 1;
        if self.held_intervals < self.flavor.hold_intervals {
            ctx.think(self.think_ms);
            return;
        }
        self.give_up_belief(ctx);
        self.resigning = true;
        match self.node.clone() {
            Some(name) => self.delete(name, ctx),
            None => self.round_over(ctx),
        }
    }

    fn delete(&mut self, name: String, ctx: &mut Ctx) {
        let op = ctx.submit(ClientOp::Delete {
            path: self.path(&name),
            version: -1,
        });
        self.phase = Phase::Deleting(op);
    }

    fn round_over(&mut self, ctx: &mut Ctx) {
        if self.rounds_left == 0 {
            self.phase = Phase::Done;
        } else {
            self.phase = Phase::Pausing;
            ctx.think(self.think_ms);
        }
    }
}
