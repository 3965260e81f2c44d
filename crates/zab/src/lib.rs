//! Sans-IO ZooKeeper server state machines.

pub mod bug;
pub mod ids;

pub use bug::{Bug, BugSet};
pub use ids::{Channel, ClientId, Endpoint, ServerId, Zxid};
