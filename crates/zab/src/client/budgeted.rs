//! The lifecycle the budgeted recipes (config, ids, queue) share: a budget of units of work
//! with a think time between them, parent znodes created before the first, a pause while
//! disconnected, and the end once the budget or the session is spent. Each recipe adds only
//! the phases of its own work ([`Phase::Own`]).

use super::app::{Ctx, Notice, Parents, ProgramSettings};
use crate::client_api::KeeperError;

/// Where a budgeted recipe is.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase<P> {
    /// Before the first connection.
    Idle,
    /// Creating its parent znodes.
    Setup,
    /// Thinking before the next unit of work; the program timer wakes it.
    Pausing,
    /// Disconnected: it goes on at the next connection.
    Suspended,
    /// Its budget or its session is spent: it submits nothing more.
    Done,
    /// Waiting on its own work.
    Own(P),
}

#[derive(Clone, Debug)]
pub struct Budgeted<P> {
    think_ms: (u64, u64),
    budget: u32,
    pub spent: u32,
    pub parents: Parents,
    pub phase: Phase<P>,
}

/// What a recipe does with a notice the lifecycle has seen first.
pub enum Next {
    /// Nothing more: the lifecycle dealt with it.
    Handled,
    /// Connected again (or for the first time) with work left and the parents in place: the
    /// recipe goes on with its own work.
    Resume,
    /// Not about the lifecycle: the recipe handles it.
    Recipe(Notice),
}

impl<P> Budgeted<P> {
    pub fn new(settings: &ProgramSettings, parents: &[&'static str]) -> Budgeted<P> {
        Budgeted {
            think_ms: settings.think_ms,
            budget: settings.ops,
            spent: 0,
            parents: Parents::new(parents),
            phase: Phase::Idle,
        }
    }

    pub fn done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    pub fn spent_all(&self) -> bool {
        self.spent >= self.budget
    }

    /// Sees a notice first: connection changes are the lifecycle's, and so are the answers
    /// to the parents' creates; `needs_parents` says whether this client creates them.
    pub fn on(&mut self, notice: Notice, needs_parents: bool, ctx: &mut Ctx) -> Next {
        match notice {
            Notice::Connected => {
                if matches!(self.phase, Phase::Idle | Phase::Suspended) {
                    return self.resume(needs_parents, ctx);
                }
                Next::Handled
            }
            Notice::Disconnected => {
                if !matches!(self.phase, Phase::Idle | Phase::Done) {
                    self.phase = Phase::Suspended;
                }
                Next::Handled
            }
            Notice::Expired => {
                self.phase = Phase::Done;
                Next::Handled
            }
            Notice::Answer { op, result } if matches!(self.phase, Phase::Setup) => {
                match self.parents.on_answer(op, &result) {
                    Some(Ok(())) => self.pause(ctx),
                    Some(Err(e)) => return self.failed(e, needs_parents, ctx),
                    None => {}
                }
                Next::Handled
            }
            notice => Next::Recipe(notice),
        }
    }

    /// Goes on after a connection or a lost parent: done once the budget is spent, else the
    /// parents first, else the recipe's own work.
    pub fn resume(&mut self, needs_parents: bool, ctx: &mut Ctx) -> Next {
        if self.spent_all() {
            self.phase = Phase::Done;
            Next::Handled
        } else if needs_parents && !self.parents.ready {
            self.phase = Phase::Setup;
            self.parents.start(ctx);
            Next::Handled
        } else {
            Next::Resume
        }
    }

    /// Waits in a phase of its own for a think time (or what ends it sooner).
    pub fn wait(&mut self, phase: P, ctx: &mut Ctx) {
        self.phase = Phase::Own(phase);
        ctx.think(self.think_ms);
    }

    /// Thinks before the next unit of work, unless the budget is spent.
    pub fn pause(&mut self, ctx: &mut Ctx) {
        if self.spent_all() {
            self.phase = Phase::Done;
        } else {
            self.phase = Phase::Pausing;
            ctx.think(self.think_ms);
        }
    }

    /// An operation failed. ConnectionLoss waits for the reconnect; NoNode means the parents
    /// are gone (where this client creates them), so they are set up again; anything else
    /// (SessionExpired) ends the program.
    pub fn failed(&mut self, err: KeeperError, needs_parents: bool, ctx: &mut Ctx) -> Next {
        match err {
            KeeperError::ConnectionLoss => {
                self.phase = Phase::Suspended;
                Next::Handled
            }
            KeeperError::NoNode if needs_parents => {
                self.parents.ready = false;
                self.resume(needs_parents, ctx)
            }
            _ => {
                self.phase = Phase::Done;
                Next::Handled
            }
        }
    }
}
