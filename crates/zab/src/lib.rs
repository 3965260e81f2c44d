//! Sans-IO ZooKeeper server state machines: FastLeaderElection and ZAB (discovery,
//! synchronization, broadcast), with the txn log, snapshots and epoch files as explicit
//! durable writes, and the side of a server its clients see: the znode tree, sessions and
//! their expiry, watches, and the per-session order of answers.
//!
//! ZooKeeper's client library and the application programs on top of it (the recipes) are
//! here too, in [`client`], as sans-IO state machines of the same kind.
//!
//! The simulator drives a [`Server`] with [`Input`]s and interprets the [`Output`]s it
//! pushes. Nothing in this crate reads a clock or performs IO; servers draw no random
//! numbers at all, and a client draws only from the seeded stream its driver hands it (its
//! reconnect backoff and its workload's choices), so a run stays a function of its seed.

pub mod applied;
pub mod bug;
pub mod client;
pub mod client_api;
mod committed_log;
pub mod config;
pub mod db;
mod election;
pub mod ids;
pub mod io;
mod leader;
mod learner;
mod log_files;
pub mod message;
pub mod path;
mod peer;
mod prep;
mod server;
mod serving;
mod sessions;
#[cfg(test)]
mod steps;
#[cfg(test)]
mod testkit;
pub mod timers;
pub mod tree;
pub mod version;
mod watches;

pub use applied::{AppliedTxns, Prefix};
pub use bug::{Bug, BugSet};
pub use client_api::{
    ClientOp, CreateMode, EventType, KeeperError, OpResult, Reply, SessionId, Stat, WatchKind,
    WatchedEvent,
};
pub use config::Config;
pub use db::{DataTree, DiskFile, DiskImage, DiskOp, Snapshot, Txn, TxnFields, TxnId, TxnOp};
pub use election::Vote;
pub use ids::{Channel, ClientId, Endpoint, ServerId, ServerSet, Zxid};
pub use io::{Event, EventKind, Input, Output, Outputs, SyncMode, Timer, ZabPhase};
pub use log_files::LogFile;
pub use message::{
    Message, MessageKind, Notification, Request, RequestOp, ServerState, MESSAGE_NAMES,
};
pub use path::Path;
pub use server::Server;
pub use tree::{Applied, Znode};
pub use version::ZkVersion;
