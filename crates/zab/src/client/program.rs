//! The application running on a client: one of the recipes, chosen by the scenario's
//! `[clients] workload`. A program is a state machine like the client under it: it hears of
//! connection changes, answers, watch firings and its own timer, and reacts by submitting
//! operations and reporting what it believes (`RecipeEvent`). It never blocks: waiting is a
//! watch or a timer. What a program sees of its client is in `app`, which the recipes use
//! without knowing of one another.

use super::app::{Ctx, Notice, ProgramSettings, Workload};
use super::config::ConfigRecipe;
use super::contention::Contention;
use super::ids::IdsRecipe;
use super::kv::Kv;
use super::queue::QueueRecipe;

/// The program a client runs.
#[derive(Clone, Debug)]
pub enum Program {
    Kv(Kv),
    /// Election and lock share the ephemeral-sequential contention machine.
    Contention(Contention),
    Queue(QueueRecipe),
    Ids(IdsRecipe),
    Config(ConfigRecipe),
}

impl Program {
    pub fn new(settings: &ProgramSettings) -> Program {
        match settings.workload {
            Workload::Kv => Program::Kv(Kv::new(settings)),
            Workload::Election => Program::Contention(super::election::election(settings)),
            Workload::Lock => Program::Contention(super::lock::lock(settings)),
            Workload::Queue => Program::Queue(QueueRecipe::new(settings)),
            Workload::Ids => Program::Ids(IdsRecipe::new(settings)),
            Workload::Config => Program::Config(ConfigRecipe::new(settings)),
        }
    }

    pub fn on(&mut self, notice: Notice, ctx: &mut Ctx) {
        match self {
            Program::Kv(p) => p.on(notice, ctx),
            Program::Contention(p) => p.on(notice, ctx),
            Program::Queue(p) => p.on(notice, ctx),
            Program::Ids(p) => p.on(notice, ctx),
            Program::Config(p) => p.on(notice, ctx),
        }
    }

    /// The program has spent its budget (or its session) and will submit nothing more.
    pub fn done(&self) -> bool {
        match self {
            Program::Kv(p) => p.done(),
            Program::Contention(p) => p.done(),
            Program::Queue(p) => p.done(),
            Program::Ids(p) => p.done(),
            Program::Config(p) => p.done(),
        }
    }
}
