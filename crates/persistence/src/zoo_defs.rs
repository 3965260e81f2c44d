//! ZooKeeper's constants that end up in files: the txn types (`ZooDefs.OpCode`), the ACLs
//! every zabsim znode carries (`ZooDefs.Ids`), and the error codes an `ErrorTxn` holds
//! (`KeeperException.Code`).
//!
//! Citations are to `zookeeper-server/src/main/java/org/apache/zookeeper/` at
//! `release-3.8.0-1`; every line cited here is the same at `release-3.9.4`.

use crate::records::{Acl, Id};
use zab::KeeperError;

/// `ZooDefs.OpCode` (ZooDefs.java:40-102): a `TxnHeader.type`.
pub mod op_code {
    /// ZooDefs.java:40.
    pub const CREATE: i32 = 1;
    /// ZooDefs.java:42.
    pub const DELETE: i32 = 2;
    /// ZooDefs.java:48.
    pub const SET_DATA: i32 = 5;
    /// ZooDefs.java:98.
    pub const CREATE_SESSION: i32 = -10;
    /// ZooDefs.java:100.
    pub const CLOSE_SESSION: i32 = -11;
    /// ZooDefs.java:102.
    pub const ERROR: i32 = -1;
}

/// `ZooDefs.Perms` (ZooDefs.java:109-119).
pub mod perms {
    /// `READ = 1 << 0` (ZooDefs.java:109).
    pub const READ: i32 = 1;
    /// `ALL = READ | WRITE | CREATE | DELETE | ADMIN` (ZooDefs.java:119).
    pub const ALL: i32 = 31;
}

/// `Ids.ANYONE_ID_UNSAFE` (ZooDefs.java:129): the `world:anyone` identity.
pub fn anyone_id_unsafe() -> Id {
    Id {
        scheme: "world",
        id: "anyone",
    }
}

/// `Ids.OPEN_ACL_UNSAFE` (ZooDefs.java:141): what zabsim's clients, like the project's real
/// clients (conform/src/client/ops.rs), create every znode with.
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: anyone_id_unsafe(),
    }]
}

/// `Ids.READ_ACL_UNSAFE` (ZooDefs.java:153): the ACL `DataTree.addConfigNode` puts on
/// `/zookeeper/config`.
pub fn read_acl_unsafe() -> Vec<Acl> {
    vec![Acl {
        perms: perms::READ,
        id: anyone_id_unsafe(),
    }]
}

/// `ZooDefs.ZOOKEEPER_NODE_SUBTREE` (ZooDefs.java:33).
pub const ZOOKEEPER_NODE_SUBTREE: &str = "/zookeeper/";

/// `KeeperException.Code.Ok` (KeeperException.java:193): what a scenario's initial txns are
/// written as (see `txn.rs`).
pub const CODE_OK: i32 = 0;

/// The `KeeperException.Code` of an error the model put in an error txn.
pub fn code(err: KeeperError) -> i32 {
    match err {
        // KeeperException.java:217.
        KeeperError::ConnectionLoss => -4,
        // :241.
        KeeperError::BadArguments => -8,
        // :270.
        KeeperError::NoNode => -101,
        // :280.
        KeeperError::BadVersion => -103,
        // :287.
        KeeperError::NoChildrenForEphemerals => -108,
        // :292.
        KeeperError::NodeExists => -110,
        // :297.
        KeeperError::NotEmpty => -111,
        // :302.
        KeeperError::SessionExpired => -112,
        // `SESSIONMOVED(-118)` (:397); its named constant is commented out (:321).
        KeeperError::SessionMoved => -118,
    }
}
