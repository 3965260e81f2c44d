//! Invariant checkers for zabsim.
//!
//! Every checker sees every simulation event, in order, together with a read-only view of all
//! servers (volatile and durable state). Safety checkers report the first event at which a
//! property breaks; liveness checkers are asked once the faults have stopped.

pub mod names;

pub use names::{invariant, InvariantInfo, Kind, INVARIANTS};
