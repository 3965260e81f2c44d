//! The zabsim discrete-event simulator.
//!
//! A single-threaded event loop drives sans-IO ZooKeeper servers through seeded message
//! delays, connection resets, partitions, crashes, restarts and pauses. Every random draw
//! comes from a ChaCha stream derived from the seed, one per concern, so that a (scenario,
//! seed, binary) triple always produces the same trace.

pub mod attribute;
pub mod bench;
pub mod capture;
mod checking;
pub mod coverage;
pub mod disk;
pub mod export;
pub mod faults;
pub mod golden;
pub mod initial;
pub mod network;
pub mod outcome;
pub mod queue;
mod records;
pub mod rng;
pub mod shrink;
mod sim;
pub mod story;
pub mod swarm;
pub mod trace;
mod wakes;
pub mod world;

pub use attribute::{attribute, Attribution};
pub use capture::{CaptureAt, DiskCapture, Moment, Proposal};
pub use coverage::Coverage;
pub use outcome::{ClientRecord, ElectionRecord, Outcome, Results, SyncRecord, Verdict};
pub use sim::{effective_bugs, effective_version, Ev, Observer, Options, Sim};

/// Runs a scenario with one seed.
pub fn run(sc: &scenario::Scenario, opts: Options) -> Outcome {
    let seed = opts.seed;
    let results = Sim::new(sc, opts).run();
    Outcome::build(sc, seed, results)
}
