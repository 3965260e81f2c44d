//! The distributed queue recipe (recipes.mdx "Queues"): producers (odd client numbers)
//! append PERSISTENT_SEQUENTIAL znodes /app/queue/item-<sequence>; consumers (even numbers)
//! list the children, and take the one with the smallest sequence number by deleting it.
//! Only a successful delete is a consumption, so two consumers racing for an item cannot both
//! have it: the loser's NoNode sends it to the next item.
//!
//! A consumer that finds the queue empty waits for the child watch, or polls after a think
//! time (so it still ends when producers have stopped); each empty look spends one unit of
//! its budget, like each item.

use super::app::{Ctx, Notice, ProgramSettings};
use super::budgeted::{Budgeted, Next, Phase};
use super::sequence::by_sequence;
use crate::client_api::{ClientOp, CreateMode, KeeperError, OpResult, RecipeEvent, Reply};
use crate::path::Path;

pub const QUEUE_DIR: &str = "/app/queue";

/// The queue's own phases.
#[derive(Clone, Debug, PartialEq)]
enum Own {
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
}

#[derive(Clone, Debug)]
pub struct QueueRecipe {
    producer: bool,
    produced: u64,
    life: Budgeted<Own>,
}

impl QueueRecipe {
    pub fn new(settings: &ProgramSettings) -> QueueRecipe {
        QueueRecipe {
            producer: settings.index % 2 == 1,
            produced: 0,
            life: Budgeted::new(settings, &["/app", QUEUE_DIR]),
        }
    }

    pub fn done(&self) -> bool {
        self.life.done()
    }

    pub fn on(&mut self, notice: Notice, ctx: &mut Ctx) {
        let waiting = self.life.phase == Phase::Own(Own::Waiting);
        match self.life.on(notice, true, ctx) {
            Next::Handled => {}
            Next::Resume => self.step(ctx),
            Next::Recipe(Notice::Timer) => {
                if waiting || self.life.phase == Phase::Pausing {
                    self.step(ctx);
                }
            }
            Next::Recipe(Notice::Watch(_)) => {
                if waiting {
                    ctx.cancel_timer();
                    self.step(ctx);
                }
            }
            Next::Recipe(Notice::Answer { op, result }) => self.answered(op, result, ctx),
            Next::Recipe(_) => {}
        }
    }

    /// The next unit of work: produce one item, or look for one to consume.
    fn step(&mut self, ctx: &mut Ctx) {
        if self.life.spent_all() {
            self.life.phase = Phase::Done;
            return;
        }
        let own = if self.producer {
            self.produced += 1;
            self.life.spent += 1;
            Own::Producing(ctx.submit(ClientOp::Create {
                path: format!("{QUEUE_DIR}/item-").into(),
                data: self.produced,
                mode: CreateMode::PersistentSequential,
            }))
        } else {
            Own::Listing(ctx.submit(ClientOp::GetChildren {
                path: QUEUE_DIR.into(),
                watch: true,
            }))
        };
        self.life.phase = Phase::Own(own);
    }

    fn answered(&mut self, op: u64, result: OpResult, ctx: &mut Ctx) {
        let Phase::Own(own) = self.life.phase.clone() else {
            return;
        };
        match (own, result) {
            (Own::Producing(o), result) if o == op => match result {
                Ok(Reply::Created { path }) => {
                    ctx.emit(RecipeEvent::Produced {
                        item: path.to_string(),
                    });
                    self.life.pause(ctx);
                }
                // The outcome of a lost create is unknown: report nothing, carry on.
                Err(e) => self.failed(e, ctx),
                Ok(_) => self.life.pause(ctx),
            },
            (Own::Listing(o), result) if o == op => match result {
                Ok(Reply::Children { children }) => {
                    let mut items: Vec<String> = by_sequence(&children)
                        .into_iter()
                        .map(|(_, name)| format!("{QUEUE_DIR}/{name}"))
                        .collect();
                    if items.is_empty() {
                        self.life.spent += 1;
                        if self.life.spent_all() {
                            self.life.phase = Phase::Done;
                        } else {
                            self.life.wait(Own::Waiting, ctx);
                        }
                    } else {
                        let head = items.remove(0);
                        self.take(head, items, ctx);
                    }
                }
                Err(e) => self.failed(e, ctx),
                Ok(_) => self.life.pause(ctx),
            },
            (Own::Taking { op: o, path, rest }, result) if o == op => match result {
                Ok(_) => {
                    ctx.emit(RecipeEvent::Consumed { item: path });
                    self.life.spent += 1;
                    self.life.pause(ctx);
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
        self.life.phase = Phase::Own(Own::Taking { op, path, rest });
    }

    fn failed(&mut self, err: KeeperError, ctx: &mut Ctx) {
        if let Next::Resume = self.life.failed(err, true, ctx) {
            self.step(ctx);
        }
    }
}
