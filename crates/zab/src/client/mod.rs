//! The ZooKeeper client: a sans-IO state machine for the client library (connection,
//! heartbeats, failover, the request pipeline, watches) and the application programs (the
//! recipes) that run on top of it.
//!
//! The simulator drives a [`Client`] with [`ClientInput`]s and interprets the
//! [`ClientOutput`]s it pushes, exactly as it drives a server. Nothing here reads a clock; the
//! only randomness is the client's own ChaCha stream, seeded from its configuration.

mod app;
mod budgeted;
mod cnxn;
mod config;
mod contention;
mod election;
mod ids;
mod io;
mod kv;
mod lock;
mod program;
mod queue;
mod sequence;
mod watches;

#[cfg(test)]
mod tests;

pub use app::{Action, Actions, Ctx, Notice, ProgramSettings, Workload};
pub use cnxn::{Client, ClientConfig};
pub use config::CONFIG_PATH;
pub use election::{guid_prefix, ELECTION_DIR, TERM_USES};
pub use ids::IDS_DIR;
pub use io::{ClientInput, ClientOutput, ClientOutputs, ClientTimer};
pub use kv::KEYS as KV_KEYS;
pub use lock::{lock_prefix, LOCK_DIR};
pub use program::Program;
pub use queue::QUEUE_DIR;
pub use sequence::sequence_of;
pub use watches::Watches;
