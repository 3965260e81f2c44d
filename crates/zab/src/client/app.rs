//! The interface between a client and the application program on it: what a program is told
//! to do ([`ProgramSettings`]), what it hears ([`Notice`]), what it may ask ([`Ctx`]), and the
//! parent znodes every recipe creates first ([`Parents`]). The recipes and the client use
//! this module; only `program` knows every recipe.

use crate::client_api::WatchedEvent;
use crate::client_api::{ClientOp, CreateMode, KeeperError, OpResult, RecipeEvent, SessionId};
use crate::path::Path;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use smallvec::SmallVec;

/// Which program the clients of a run execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Workload {
    /// Random reads and writes of a few keys.
    Kv,
    /// Leader election with ephemeral sequential znodes (recipes.mdx "Leader Election").
    Election,
    /// Exclusive lock (recipes.mdx "Locks", WriteLock).
    Lock,
    /// Distributed queue: odd clients produce, even clients consume.
    Queue,
    /// Unique ids from sequential znodes.
    Ids,
    /// Configuration published by client 1, followed by the others through watches.
    Config,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::Kv,
        Workload::Election,
        Workload::Lock,
        Workload::Queue,
        Workload::Ids,
        Workload::Config,
    ];

    /// The scenario spelling.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Kv => "kv",
            Workload::Election => "election",
            Workload::Lock => "lock",
            Workload::Queue => "queue",
            Workload::Ids => "ids",
            Workload::Config => "config",
        }
    }

    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }
}

/// What a client's program is told to do.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramSettings {
    pub workload: Workload,
    /// This client's budget: operations for kv, terms for election, acquisitions for lock,
    /// items (or empty polls) for queue, ids, publications or reads for config.
    pub ops: u32,
    /// kv: the share of operations that are writes.
    pub write_ratio: f64,
    /// Uniform think time between steps, in ms, inclusive.
    pub think_ms: (u64, u64),
    /// 1-based client number (decides producer/consumer and publisher/subscriber roles).
    pub index: u32,
    /// Clients in the run.
    pub count: u32,
}

/// What happened that a program reacts to.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// A connection was established (a new session or the same one resumed).
    Connected,
    /// The connection broke; ops in flight already failed with ConnectionLoss.
    Disconnected,
    /// The session expired; every op failed with SessionExpired. Nothing more will succeed.
    Expired,
    Answer {
        op: u64,
        result: OpResult,
    },
    Watch(WatchedEvent),
    /// The program's own timer.
    Timer,
}

/// What a program asks of the client.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Submit(u64, ClientOp),
    Recipe(RecipeEvent),
    SetTimer(u64),
    CancelTimer,
}

/// A program's view of the client while it handles one notice. Actions are collected and
/// carried out afterwards, so the program never sees the client half-way through a change.
/// What one notice makes a program do: mostly a submit and a timer, so kept inline.
pub type Actions = SmallVec<[Action; 2]>;

pub struct Ctx<'a> {
    pub now_us: u64,
    pub session: SessionId,
    pub connected: bool,
    rng: &'a mut ChaCha8Rng,
    next_op: u64,
    actions: Actions,
}

impl<'a> Ctx<'a> {
    pub fn new(
        now_us: u64,
        session: SessionId,
        connected: bool,
        rng: &'a mut ChaCha8Rng,
        next_op: u64,
    ) -> Ctx<'a> {
        Ctx {
            now_us,
            session,
            connected,
            rng,
            next_op,
            actions: Actions::new(),
        }
    }

    /// Issues an operation; the number it returns comes back with its answer.
    pub fn submit(&mut self, op: ClientOp) -> u64 {
        let n = self.next_op;
        self.next_op += 1;
        self.actions.push(Action::Submit(n, op));
        n
    }

    pub fn emit(&mut self, event: RecipeEvent) {
        self.actions.push(Action::Recipe(event));
    }

    /// Arms the program timer after a think time drawn from `think_ms`.
    pub fn think(&mut self, think_ms: (u64, u64)) {
        let (lo, hi) = (think_ms.0.min(think_ms.1), think_ms.0.max(think_ms.1));
        let ms = self.rng.gen_range(lo..=hi);
        self.actions.push(Action::SetTimer(self.now_us + ms * 1000));
    }

    pub fn cancel_timer(&mut self) {
        self.actions.push(Action::CancelTimer);
    }

    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        self.rng
    }

    /// The op counter after this notice, and the actions to carry out in order.
    pub fn finish(self) -> (u64, Actions) {
        (self.next_op, self.actions)
    }
}

/// Creates a recipe's persistent parent znodes, in order, pipelined: the server applies a
/// session's requests in order, so the child's create never overtakes its parent's.
/// NodeExists is success: another client got there first.
#[derive(Clone, Debug, Default)]
pub struct Parents {
    paths: Vec<&'static str>,
    in_flight: Vec<u64>,
    pub ready: bool,
}

impl Parents {
    pub fn new(paths: &[&'static str]) -> Parents {
        Parents {
            paths: paths.to_vec(),
            in_flight: Vec::new(),
            ready: false,
        }
    }

    pub fn start(&mut self, ctx: &mut Ctx) {
        self.in_flight = self
            .paths
            .iter()
            .map(|p| {
                ctx.submit(ClientOp::Create {
                    path: Path::from(*p),
                    data: 0,
                    mode: CreateMode::Persistent,
                })
            })
            .collect();
    }

    /// Feeds an answer: `None` if it is not one of ours or more are due, `Some(Ok)` once all
    /// exist, `Some(Err)` on the first failure (the rest of the batch is then ignored).
    pub fn on_answer(&mut self, op: u64, result: &OpResult) -> Option<Result<(), KeeperError>> {
        let at = self.in_flight.iter().position(|&o| o == op)?;
        match result {
            Ok(_) | Err(KeeperError::NodeExists) => {
                self.in_flight.remove(at);
                if self.in_flight.is_empty() {
                    self.ready = true;
                    Some(Ok(()))
                } else {
                    None
                }
            }
            Err(e) => {
                self.in_flight.clear();
                Some(Err(*e))
            }
        }
    }
}
