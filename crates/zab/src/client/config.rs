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

use super::app::{Ctx, Notice, ProgramSettings};
use super::budgeted::{Budgeted, Next, Phase};
use crate::client_api::{ClientOp, EventType, KeeperError, OpResult, RecipeEvent, Reply};

pub const CONFIG_PATH: &str = "/app/config";

/// The configuration recipe's own phases.
#[derive(Clone, Debug, PartialEq)]
enum Own {
    Publishing(u64),
    Reading(u64),
    /// exists(watch) on a missing /app/config.
    Checking(u64),
    Waiting,
}

#[derive(Clone, Debug)]
pub struct ConfigRecipe {
    /// Client 1 publishes (and creates the parents); the others subscribe.
    publisher: bool,
    version: u64,
    life: Budgeted<Own>,
}

impl ConfigRecipe {
    pub fn new(settings: &ProgramSettings) -> ConfigRecipe {
        ConfigRecipe {
            publisher: settings.index == 1,
            version: 0,
            life: Budgeted::new(settings, &["/app", CONFIG_PATH]),
        }
    }

    pub fn done(&self) -> bool {
        self.life.done()
    }

    pub fn on(&mut self, notice: Notice, ctx: &mut Ctx) {
        match self.life.on(notice, self.publisher, ctx) {
            Next::Handled => {}
            Next::Resume => self.resume(ctx),
            Next::Recipe(Notice::Timer) => {
                if self.life.phase == Phase::Pausing {
                    self.publish(ctx);
                }
            }
            Next::Recipe(Notice::Watch(event)) => {
                if self.life.phase == Phase::Own(Own::Waiting) && event.path == CONFIG_PATH {
                    match event.kind {
                        EventType::NodeDeleted => self.check(ctx),
                        _ => self.read(ctx),
                    }
                }
            }
            Next::Recipe(Notice::Answer { op, result }) => self.answered(op, result, ctx),
            Next::Recipe(_) => {}
        }
    }

    /// A subscriber reads; a publisher thinks before its next publication.
    fn resume(&mut self, ctx: &mut Ctx) {
        if self.publisher {
            self.life.pause(ctx);
        } else {
            self.read(ctx);
        }
    }

    fn publish(&mut self, ctx: &mut Ctx) {
        self.life.spent += 1;
        self.version += 1;
        let op = ctx.submit(ClientOp::SetData {
            path: CONFIG_PATH.into(),
            data: self.version,
            version: -1,
        });
        self.life.phase = Phase::Own(Own::Publishing(op));
    }

    fn read(&mut self, ctx: &mut Ctx) {
        if self.life.spent_all() {
            self.life.phase = Phase::Done;
            return;
        }
        self.life.spent += 1;
        let op = ctx.submit(ClientOp::GetData {
            path: CONFIG_PATH.into(),
            watch: true,
        });
        self.life.phase = Phase::Own(Own::Reading(op));
    }

    fn check(&mut self, ctx: &mut Ctx) {
        let op = ctx.submit(ClientOp::Exists {
            path: CONFIG_PATH.into(),
            watch: true,
        });
        self.life.phase = Phase::Own(Own::Checking(op));
    }

    fn answered(&mut self, op: u64, result: OpResult, ctx: &mut Ctx) {
        let Phase::Own(own) = &self.life.phase else {
            return;
        };
        match own {
            Own::Publishing(o) if *o == op => match result {
                Err(e) => self.failed(e, ctx),
                Ok(_) => self.life.pause(ctx),
            },
            Own::Reading(o) if *o == op => match result {
                Ok(Reply::Data { stat, .. }) => {
                    // The configuration's version is the znode's data version, which only
                    // ZooKeeper hands out: a publisher that restarts and counts again from 1
                    // cannot make it go back.
                    let version = u64::try_from(stat.version).unwrap_or(0);
                    if version > 0 && version != self.version {
                        self.version = version;
                        ctx.emit(RecipeEvent::ConfigSeen { version });
                    }
                    self.life.phase = if self.life.spent_all() {
                        Phase::Done
                    } else {
                        Phase::Own(Own::Waiting)
                    };
                }
                Err(KeeperError::NoNode) => self.check(ctx),
                Err(e) => self.failed(e, ctx),
                Ok(_) => self.life.phase = Phase::Own(Own::Waiting),
            },
            Own::Checking(o) if *o == op => match result {
                Ok(Reply::Exists { stat: Some(_) }) => self.read(ctx),
                Ok(_) | Err(KeeperError::NoNode) => self.life.phase = Phase::Own(Own::Waiting),
                Err(e) => self.failed(e, ctx),
            },
            _ => {}
        }
    }

    fn failed(&mut self, err: KeeperError, ctx: &mut Ctx) {
        if let Next::Resume = self.life.failed(err, self.publisher, ctx) {
            self.resume(ctx);
        }
    }
}
