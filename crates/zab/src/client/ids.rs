//! Unique sequence ids (recipes.mdx's sequential znodes used as a counter): each request
//! creates a PERSISTENT_SEQUENTIAL znode /app/ids/id-<sequence> and the ten-digit suffix the
//! server appended is the id. An id is reported only from a create's answer: after a
//! ConnectionLoss the create may have happened, but the client never saw the number, and
//! claiming one it did not see would be the bug the uniqueness check looks for.

use super::app::{Ctx, Notice, ProgramSettings};
use super::budgeted::{Budgeted, Next, Phase};
use super::sequence::sequence_of;
use crate::client_api::{ClientOp, CreateMode, KeeperError, OpResult, RecipeEvent, Reply};

pub const IDS_DIR: &str = "/app/ids";

/// Waiting for the create of an id.
#[derive(Clone, Debug, PartialEq)]
struct Creating(u64);

#[derive(Clone, Debug)]
pub struct IdsRecipe {
    life: Budgeted<Creating>,
}

impl IdsRecipe {
    pub fn new(settings: &ProgramSettings) -> IdsRecipe {
        IdsRecipe {
            life: Budgeted::new(settings, &["/app", IDS_DIR]),
        }
    }

    pub fn done(&self) -> bool {
        self.life.done()
    }

    pub fn on(&mut self, notice: Notice, ctx: &mut Ctx) {
        match self.life.on(notice, true, ctx) {
            Next::Handled => {}
            Next::Resume => self.life.pause(ctx),
            Next::Recipe(Notice::Timer) => {
                if self.life.phase == Phase::Pausing {
                    self.request(ctx);
                }
            }
            Next::Recipe(Notice::Answer { op, result }) => self.answered(op, result, ctx),
            Next::Recipe(_) => {}
        }
    }

    fn request(&mut self, ctx: &mut Ctx) {
        self.life.spent += 1;
        let op = ctx.submit(ClientOp::Create {
            path: format!("{IDS_DIR}/id-").into(),
            data: 0,
            mode: CreateMode::PersistentSequential,
        });
        self.life.phase = Phase::Own(Creating(op));
    }

    fn answered(&mut self, op: u64, result: OpResult, ctx: &mut Ctx) {
        if self.life.phase != Phase::Own(Creating(op)) {
            return;
        }
        match result {
            Ok(Reply::Created { path }) => {
                if let Some(id) = sequence_of(&path) {
                    ctx.emit(RecipeEvent::IdAssigned { id });
                }
                self.life.pause(ctx);
            }
            Ok(_) => self.life.pause(ctx),
            Err(e) => self.failed(e, ctx),
        }
    }

    fn failed(&mut self, err: KeeperError, ctx: &mut Ctx) {
        if let Next::Resume = self.life.failed(err, true, ctx) {
            self.life.pause(ctx);
        }
    }
}
