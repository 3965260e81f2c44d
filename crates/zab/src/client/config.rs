//! Configuration publish/subscribe with watches: client 1 publishes versions 1, 2, 3... as
//! the data of /app/config; every other client reads it with a data watch and re-reads (with
//! a new watch) each time the watch fires, reporting each version it acts on.
//!
//! The version a subscriber reports is the znode's data version (its `Stat.version`), not the
//! published number: ZooKeeper bumps it on every setData, so it keeps rising even when a
//! publisher restarts and counts from 1 again.
//!
//! A subscriber that finds no /app/config yet waits on an exist watch. After a reconnect it
//! reads again rather than trusting the re-registered watch alone: a read is cheap and it
//! catches up at once. Version 0 is the publisher's placeholder before its first publication
//! and is not reported.

use super::program::{Ctx, Notice, Parents, ProgramSettings};
use crate::client_api::{ClientOp, EventType, KeeperError, OpResult, RecipeEvent, Reply};

pub const CONFIG_PATH: &str = "/app/config";

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Setup,
    Pausing,
    Publishing(u64),
    Reading(u64),
    /// exists(watch) on a missing /app/config.
    Checking(u64),
    Waiting,
    Suspended,
    Done,
}

#[derive(Clone, Debug)]
pub struct ConfigRecipe {
    publisher: bool,
    think_ms: (u64, u64),
    budget: u32,
    spent: u32,
    version: u64,
    parents: Parents,
    phase: Phase,
}

impl ConfigRecipe {
    pub fn new(settings: &ProgramSettings) -> ConfigRecipe {
        ConfigRecipe {
            publisher: settings.index == 1,
            think_ms: settings.think_ms,
            budget: settings.ops,
            spent: 0,
            version: 0,
            parents: Parents::new(&["/app", CONFIG_PATH]),
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
                if self.phase == Phase::Pausing {
                    self.publish(ctx);
                }
            }
            Notice::Watch(event) => {
                if self.phase == Phase::Waiting && event.path == CONFIG_PATH {
                    match event.kind {
                        EventType::NodeDeleted => self.check(ctx),
                        _ => self.read(ctx),
                    }
                }
            }
            Notice::Answer { op, result } => self.answered(op, result, ctx),
        }
    }

    fn resume(&mut self, ctx: &mut Ctx) {
        if self.spent >= self.budget {
            self.phase = Phase::Done;
        } else if !self.publisher {
            self.read(ctx);
        } else if !self.parents.ready {
            self.phase = Phase::Setup;
            self.parents.start(ctx);
        } else {
            self.pause(ctx);
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

    fn publish(&mut self, ctx: &mut Ctx) {
        self.spent += 1;
        self.version += 1;
        let op = ctx.submit(ClientOp::SetData {
            path: CONFIG_PATH.into(),
            data: self.version,
            version: -1,
        });
        self.phase = Phase::Publishing(op);
    }

    fn read(&mut self, ctx: &mut Ctx) {
        if self.spent >= self.budget {
            self.phase = Phase::Done;
            return;
        }
        self.spent += 1;
        let op = ctx.submit(ClientOp::GetData {
            path: CONFIG_PATH.into(),
            watch: true,
        });
        self.phase = Phase::Reading(op);
    }

    fn check(&mut self, ctx: &mut Ctx) {
        let op = ctx.submit(ClientOp::Exists {
            path: CONFIG_PATH.into(),
            watch: true,
        });
        self.phase = Phase::Checking(op);
    }

    fn answered(&mut self, op: u64, result: OpResult, ctx: &mut Ctx) {
        match self.phase {
            Phase::Setup => match self.parents.on_answer(op, &result) {
                Some(Ok(())) => self.pause(ctx),
                Some(Err(e)) => self.failed(e, ctx),
                None => {}
            },
            Phase::Publishing(o) if o == op => match result {
                Err(e) => self.failed(e, ctx),
                Ok(_) => self.pause(ctx),
            },
            Phase::Reading(o) if o == op => match result {
                Ok(Reply::Data { stat, .. }) => {
                    // The configuration's version is the znode's data version, which only
                    // ZooKeeper hands out: a publisher that restarts and counts again from 1
                    // cannot make it go back.
                    let version = u64::try_from(stat.version).unwrap_or(0);
                    if version > 0 && version != self.version {
                        self.version = version;
                        ctx.emit(RecipeEvent::ConfigSeen { version });
                    }
                    self.phase = if self.spent >= self.budget {
                        Phase::Done
                    } else {
                        Phase::Waiting
                    };
                }
                Err(KeeperError::NoNode) => self.check(ctx),
                Err(e) => self.failed(e, ctx),
                Ok(_) => self.phase = Phase::Waiting,
            },
            Phase::Checking(o) if o == op => match result {
                Ok(Reply::Exists { stat: Some(_) }) => self.read(ctx),
                Ok(_) | Err(KeeperError::NoNode) => self.phase = Phase::Waiting,
                Err(e) => self.failed(e, ctx),
            },
            _ => {}
        }
    }

    fn failed(&mut self, err: KeeperError, ctx: &mut Ctx) {
        match err {
            KeeperError::ConnectionLoss => self.phase = Phase::Suspended,
            KeeperError::NoNode if self.publisher => {
                self.parents.ready = false;
                self.resume(ctx);
            }
            _ => self.phase = Phase::Done,
        }
    }
}
