//! Unique sequence ids (recipes.mdx's sequential znodes used as a counter): each request
//! creates a PERSISTENT_SEQUENTIAL znode /app/ids/id-<sequence> and the ten-digit suffix the
//! server appended is the id. An id is reported only from a create's answer: after a
//! ConnectionLoss the create may have happened, but the client never saw the number, and
//! claiming one it did not see would be the bug the uniqueness check looks for.

use super::program::{Ctx, Notice, Parents, ProgramSettings};
use super::sequence::sequence_of;
use crate::client_api::{ClientOp, CreateMode, KeeperError, OpResult, RecipeEvent, Reply};

pub const IDS_DIR: &str = "/app/ids";

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    Idle,
    Setup,
    Pausing,
    Creating(u64),
    Suspended,
    Done,
}

#[derive(Clone, Debug)]
pub struct IdsRecipe {
    think_ms: (u64, u64),
    budget: u32,
    spent: u32,
    parents: Parents,
    phase: Phase,
}

impl IdsRecipe {
    pub fn new(settings: &ProgramSettings) -> IdsRecipe {
        IdsRecipe {
            think_ms: settings.think_ms,
            budget: settings.ops,
            spent: 0,
            parents: Parents::new(&["/app", IDS_DIR]),
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
                    self.request(ctx);
                }
            }
            Notice::Watch(_) => {}
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

    fn request(&mut self, ctx: &mut Ctx) {
        self.spent += 1;
        let op = ctx.submit(ClientOp::Create {
            path: format!("{IDS_DIR}/id-").into(),
            data: 0,
            mode: CreateMode::PersistentSequential,
        });
        self.phase = Phase::Creating(op);
    }

    fn answered(&mut self, op: u64, result: OpResult, ctx: &mut Ctx) {
        match self.phase {
            Phase::Setup => match self.parents.on_answer(op, &result) {
                Some(Ok(())) => self.pause(ctx),
                Some(Err(e)) => self.failed(e, ctx),
                None => {}
            },
            Phase::Creating(o) if o == op => match result {
                Ok(Reply::Created { path }) => {
                    if let Some(id) = sequence_of(&path) {
                        ctx.emit(RecipeEvent::IdAssigned { id });
                    }
                    self.pause(ctx);
                }
                Ok(_) => self.pause(ctx),
                Err(e) => self.failed(e, ctx),
            },
            _ => {}
        }
    }

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
