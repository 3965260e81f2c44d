//! The distributed queue recipe (recipes.mdx "Queues"): producers (odd client numbers)
//! append PERSISTENT_SEQUENTIAL znodes /app/queue/item-<sequence>; consumers (even numbers)
//! list the children, and take the one with the smallest sequence number by deleting it.
//! Only a successful delete is a consumption, so two consumers racing for an item cannot both
//! have it: the loser's NoNode sends it to the next item.
//!
//! A consumer that finds the queue empty waits for the child watch, or polls after a think
//! time (so it still ends when producers have stopped); each empty look spends one unit of
//! its budget, like each item.

use super::program::{Ctx, Notice, Parents, ProgramSettings};
use super::sequence::by_sequence;
use crate::client_api::{ClientOp, CreateMode, KeeperError, OpResult, RecipeEvent, Reply};
use crate::path::Path;

pub const QUEUE_DIR: &str = "/app/queue";

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Setup,
    /// Think before the next step.
    Pausing,
    Producing(u64),
    Listing(u64),
    /// Deleting the head candidate; the rest are tried in turn on NoNode.
    Taking {
        op: u64,
        path: String,
        rest: Vec<String>,
    },
    /// Empty: the child watch or the poll timer wakes it.
    Waiting,
    Suspended,
    Done,
}

#[derive(Clone, Debug)]
pub struct QueueRecipe {
    producer: bool,
    think_ms: (u64, u64),
    budget: u32,
    spent: u32,
    produced: u64,
    parents: Parents,
    phase: Phase,
}

impl QueueRecipe {
    pub fn new(settings: &ProgramSettings) -> QueueRecipe {
        QueueRecipe {
            producer: settings.index % 2 == 1,
            think_ms: settings.think_ms,
            budget: settings.ops,
            spent: 0,
            produced: 0,
            parents: Parents::new(&["/app", QUEUE_DIR]),
            phase: Phase::Idle,
        }
    }

    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    pub fn on(&mut self, notice: Notice, ctx: &mut Ctx) {
        match notice {
            Notice::Connected => {
                if matches!(self.phase, Phase::Idle | Phase::Suspended) {
                    self.resume(ctx);
                }
            }
            Notice::Disconnected => {
                if !matches!(self.phase, Phase::Idle | Phase::Done) {
                    self.phase = Phase::Suspended;
                }
            }
            Notice::Expired => self.phase = Phase::Done,
            Notice::Timer => {
                if matches!(self.phase, Phase::Pausing | Phase::Waiting) {
                    self.step(ctx);
                }
            }
            Notice::Watch(_) => {
                if self.phase == Phase::Waiting {
                    ctx.cancel_timer();
                    self.step(ctx);
                }
            }
            Notice::Answer { op, result } => self.answered(op, result, ctx),
        }
    }

    fn resume(&mut self, ctx: &mut Ctx) {
        if self.spent >= self.budget {
            self.phase = Phase::Done;
        } else if !self.parents.ready {
            self.phase = Phase::Setup;
            self.parents.start(ctx);
        } else {
            self.step(ctx);
        }
    }

    /// The next unit of work: produce one item, or look for one to consume.
    fn step(&mut self, ctx: &mut Ctx) {
        if self.spent >= self.budget {
            self.phase = Phase::Done;
            return;
        }
        if self.producer {
            self.produced += 1;
            self.spent += 1;
            let op = ctx.submit(ClientOp::Create {
                path: format!("{QUEUE_DIR}/item-").into(),
                data: self.produced,
                mode: CreateMode::PersistentSequential,
            });
            self.phase = Phase::Producing(op);
        } else {
            let op = ctx.submit(ClientOp::GetChildren {
                path: QUEUE_DIR.into(),
                watch: true,
            });
            self.phase = Phase::Listing(op);
        }
    }

    fn pause(&mut self, ctx: &mut Ctx) {
        if self.spent >= self.budget {
            self.phase = Phase::Done;
        } else {
            self.phase = Phase::Pausing;
            ctx.think(self.think_ms);
        }
    }

    fn answered(&mut self, op: u64, result: OpResult, ctx: &mut Ctx) {
        if self.phase == Phase::Setup {
            match self.parents.on_answer(op, &result) {
                Some(Ok(())) => self.pause(ctx),
                Some(Err(e)) => self.failed(e, ctx),
                None => {}
            }
            return;
        }
        match (self.phase.clone(), result) {
            (Phase::Producing(o), result) if o == op => match result {
                Ok(Reply::Created { path }) => {
                    ctx.emit(RecipeEvent::Produced {
                        item: path.to_string(),
                    });
                    self.pause(ctx);
                }
                // The outcome of a lost create is unknown: report nothing, carry on.
                Err(e) => self.failed(e, ctx),
                Ok(_) => self.pause(ctx),
            },
            (Phase::Listing(o), result) if o == op => match result {
                Ok(Reply::Children { children }) => {
                    let mut items: Vec<String> = by_sequence(&children)
                        .into_iter()
                        .map(|(_, name)| format!("{QUEUE_DIR}/{name}"))
                        .collect();
                    if items.is_empty() {
                        self.spent += 1;
                        if self.spent >= self.budget {
                            self.phase = Phase::Done;
                        } else {
                            self.phase = Phase::Waiting;
                            ctx.think(self.think_ms);
                        }
                    } else {
                        let head = items.remove(0);
                        self.take(head, items, ctx);
                    }
                }
                Err(e) => self.failed(e, ctx),
                Ok(_) => self.pause(ctx),
            },
            (Phase::Taking { op: o, path, rest }, result) if o == op => match result {
                Ok(_) => {
                    ctx.emit(RecipeEvent::Consumed { item: path });
                    self.spent += 1;
                    self.pause(ctx);
                }
                Err(KeeperError::NoNode) => {
                    let mut rest = rest;
                    if rest.is_empty() {
                        self.step(ctx);
                    } else {
                        let head = rest.remove(0);
                        self.take(head, rest, ctx);
                    }
                }
                Err(e) => self.failed(e, ctx),
            },
            _ => {}
        }
    }

    fn take(&mut self, path: String, rest: Vec<String>, ctx: &mut Ctx) {
        let op = ctx.submit(ClientOp::Delete {
            path: Path::from(&path),
            version: -1,
        });
        self.phase = Phase::Taking { op, path, rest };
    }

    /// ConnectionLoss waits for the reconnect; NoNode means the queue's parents are gone, so
    /// set them up again; anything else (SessionExpired) ends the program.
    fn failed(&mut self, err: KeeperError, ctx: &mut Ctx) {
        match err {
            KeeperError::ConnectionLoss => self.phase = Phase::Suspended,
            KeeperError::NoNode => {
                self.parents.ready = false;
                self.resume(ctx);
            }
            _ => self.phase = Phase::Done,
        }
    }
}
