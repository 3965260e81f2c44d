//! The vocabulary ZooKeeper's client API speaks: session ids, create modes, stats, error
//! codes, watch events, and the operations a client sends to the server it is connected to.
//!
//! Names follow the Java client (`CreateMode`, `Stat`, `KeeperException.Code`,
//! `Watcher.Event.EventType`) so that a reader of ZooKeeper's documentation recognises them.
//! Znode data is a number: the workloads and recipes need nothing richer, and it keeps
//! messages cheap to clone.

use crate::ids::Zxid;
use crate::path::Path;
use serde::Serialize;
use std::fmt;

/// A session id. The server a client first connects to assigns it: the server's id in the top
/// byte and the time in the rest, as `SessionTrackerImpl.initializeNextSessionId` does, so
/// two servers never hand out the same id. Zero means "no session yet".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SessionId(pub u64);

impl SessionId {
    pub const NONE: SessionId = SessionId(0);
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

/// `CreateMode`: whether a znode lives with its session and whether the server appends a
/// 10-digit sequence number (the parent's cversion) to its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum CreateMode {
    Persistent,
    PersistentSequential,
    Ephemeral,
    EphemeralSequential,
}

impl CreateMode {
    pub fn is_ephemeral(self) -> bool {
        matches!(
            self,
            CreateMode::Ephemeral | CreateMode::EphemeralSequential
        )
    }
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            CreateMode::PersistentSequential | CreateMode::EphemeralSequential
        )
    }
}

/// A znode's `Stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Stat {
    /// Zxid of the txn that created it.
    pub czxid: Zxid,
    /// Zxid of the txn that last changed its data.
    pub mzxid: Zxid,
    /// Zxid of the txn that last changed its children.
    pub pzxid: Zxid,
    /// Data version: bumped by every setData.
    pub version: i32,
    /// Child version. The server keeps the number of children created (`StatPersisted`,
    /// which names sequential children and goes into snapshots); a client is shown creates
    /// plus deletes (see [`Stat::for_client`]).
    pub cversion: i32,
    /// The owning session of an ephemeral znode; `SessionId::NONE` otherwise.
    pub ephemeral_owner: SessionId,
    pub num_children: u32,
}

impl Stat {
    /// The stat a client is shown for a node whose stored stat is `self`: `DataNode.copyStat`
    /// turns the count of creates into the count of changes, `2 * cversion - numChildren`,
    /// since every create but those of the children still present had a delete
    /// (DataNode.java:159-162 at 3.8.0 and 3.9.4).
    pub fn for_client(self) -> Stat {
        Stat {
            cversion: self.cversion * 2 - self.num_children as i32,
            ..self
        }
    }
}

/// `KeeperException.Code`, the errors a client can see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum KeeperError {
    /// Client side: the connection broke before the answer arrived; the outcome is unknown.
    ConnectionLoss,
    NoNode,
    NodeExists,
    BadVersion,
    NotEmpty,
    NoChildrenForEphemerals,
    SessionExpired,
    /// A malformed path, or a sequential or ephemeral flag where it is not allowed.
    BadArguments,
    /// The session's requests come from another server than the one that owns it now (the
    /// client reconnected elsewhere). Never reaches a client: the server closes the
    /// connection instead (FinalRequestProcessor).
    SessionMoved,
}

impl KeeperError {
    /// ZooKeeper's spelling (`KeeperException.Code.name()`).
    pub fn name(self) -> &'static str {
        match self {
            KeeperError::ConnectionLoss => "CONNECTIONLOSS",
            KeeperError::NoNode => "NONODE",
            KeeperError::NodeExists => "NODEEXISTS",
            KeeperError::BadVersion => "BADVERSION",
            KeeperError::NotEmpty => "NOTEMPTY",
            KeeperError::NoChildrenForEphemerals => "NOCHILDRENFOREPHEMERALS",
            KeeperError::SessionExpired => "SESSIONEXPIRED",
            KeeperError::BadArguments => "BADARGUMENTS",
            KeeperError::SessionMoved => "SESSIONMOVED",
        }
    }
}

/// `Watcher.Event.EventType` for znode events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum EventType {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

/// Which table a watch sits in on the server (`WatchManager`): data watches are set by
/// getData and by exists on an existing node, exist watches by exists on a missing node, child
/// watches by getChildren.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum WatchKind {
    Data,
    Exist,
    Child,
}

/// A one-time watch firing, as delivered to a client (`WatchedEvent`, with the zxid of the
/// txn that triggered it, as ZooKeeper 3.6+ sends it in the notification's reply header).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct WatchedEvent {
    pub kind: EventType,
    pub path: Path,
    pub zxid: Zxid,
}

/// What a client asks of the server it is connected to, one request per cxid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ClientOp {
    Create {
        path: Path,
        data: u64,
        mode: CreateMode,
    },
    /// `version` -1 matches any version.
    Delete {
        path: Path,
        version: i32,
    },
    SetData {
        path: Path,
        data: u64,
        version: i32,
    },
    GetData {
        path: Path,
        watch: bool,
    },
    Exists {
        path: Path,
        watch: bool,
    },
    GetChildren {
        path: Path,
        watch: bool,
    },
    /// Answered once the server has applied everything the leader had committed when the
    /// request reached it (a follower forwards it; the leader answers with SYNC).
    Sync {
        path: Path,
    },
    /// Ends the session: a closeSession txn removes its ephemeral znodes.
    CloseSession,
}

impl ClientOp {
    /// Writes go through the leader and a txn; reads are answered locally.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            ClientOp::Create { .. }
                | ClientOp::Delete { .. }
                | ClientOp::SetData { .. }
                | ClientOp::CloseSession
        )
    }

    /// The path it is about (`None` for closeSession).
    pub fn path(&self) -> Option<&Path> {
        match self {
            ClientOp::Create { path, .. }
            | ClientOp::Delete { path, .. }
            | ClientOp::SetData { path, .. }
            | ClientOp::GetData { path, .. }
            | ClientOp::Exists { path, .. }
            | ClientOp::GetChildren { path, .. }
            | ClientOp::Sync { path } => Some(path),
            ClientOp::CloseSession => None,
        }
    }

    /// ZooKeeper's `OpCode` name, for traces and reports.
    pub fn name(&self) -> &'static str {
        match self {
            ClientOp::Create { .. } => "create",
            ClientOp::Delete { .. } => "delete",
            ClientOp::SetData { .. } => "setData",
            ClientOp::GetData { .. } => "getData",
            ClientOp::Exists { .. } => "exists",
            ClientOp::GetChildren { .. } => "getChildren",
            ClientOp::Sync { .. } => "sync",
            ClientOp::CloseSession => "closeSession",
        }
    }
}

/// The successful answer to a [`ClientOp`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Reply {
    /// The created path (with the sequence suffix for sequential modes).
    Created {
        path: Path,
    },
    Deleted,
    SetData {
        stat: Stat,
    },
    Data {
        data: u64,
        stat: Stat,
    },
    /// `None` when the node does not exist (ZooKeeper's null Stat).
    Exists {
        stat: Option<Stat>,
    },
    /// Child names, sorted.
    Children {
        children: Vec<String>,
    },
    Synced,
    Closed,
}

/// What a request ended with.
pub type OpResult = Result<Reply, KeeperError>;

/// What a recipe promises, reported by the application program running on a client so the
/// checkers can hold it to the promise.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum RecipeEvent {
    /// Election recipe: the client now believes it leads; `token` is its election znode's
    /// czxid, the fencing token a protected resource may check.
    Leading {
        path: Path,
        token: Zxid,
    },
    /// It no longer believes it leads (it saw its session expire, lost its connection and
    /// stepped down in safe mode, or deleted its znode).
    NotLeading,
    /// Lock recipe: the client holds the lock.
    LockAcquired {
        path: Path,
    },
    LockReleased,
    /// Sequence-id recipe: the id the client was handed.
    IdAssigned {
        id: u64,
    },
    /// Queue recipe: an item the client produced, and one it consumed (its delete succeeded).
    Produced {
        item: String,
    },
    Consumed {
        item: String,
    },
    /// Configuration recipe: the configuration version a subscriber now acts on.
    ConfigSeen {
        version: u64,
    },
    /// The application asks the protected resource (outside ZooKeeper) to act on its behalf,
    /// presenting `token`; the simulator decides and reports [`ClientEvent::ResourceUsed`].
    UseResource {
        token: Zxid,
    },
}

/// What a client process reports (its ZooKeeper client library and the application on top),
/// and what the simulator reports about it. The checkers and the trace see these.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ClientEvent {
    /// It opened a connection to `server` and sent CONNECT.
    Connecting {
        server: crate::ids::ServerId,
    },
    /// The server accepted the session (new or resumed) with this negotiated timeout.
    Connected {
        session: SessionId,
        server: crate::ids::ServerId,
        timeout_ms: u32,
    },
    /// The connection to `server` broke, was refused, or stayed silent past the read timeout;
    /// the session may still be alive and the client will try the next server.
    Disconnected {
        server: crate::ids::ServerId,
    },
    /// A server told it the session has expired; the client is done with that session.
    Expired {
        session: SessionId,
    },
    /// A request left for `server`. `op` numbers the client's operations in issue order.
    Submitted {
        op: u64,
        cxid: u64,
        server: crate::ids::ServerId,
        request: ClientOp,
    },
    /// A request ended. `zxid` is the reply header's zxid (the write's txn, or for a read the
    /// zxid the server had applied), or `None` when it failed with CONNECTIONLOSS or the
    /// session expired before an answer.
    Answered {
        op: u64,
        cxid: u64,
        zxid: Option<Zxid>,
        result: OpResult,
    },
    /// A watch fired and reached the application.
    Watch {
        event: WatchedEvent,
        server: crate::ids::ServerId,
    },
    Recipe(RecipeEvent),
    /// Simulator: the protected resource accepted or refused a use (fencing refuses tokens
    /// older than the newest it has accepted).
    ResourceUsed {
        token: Zxid,
        accepted: bool,
    },
    /// Simulator: the client process crashed (its session is left to expire), was paused, or
    /// resumed.
    Crashed,
    Paused,
    Resumed,
}
