//! Messages between servers, named as ZooKeeper names its packets (Leader.java) and its
//! election notification (FastLeaderElection.Notification).

use crate::db::{Snapshot, Txn};
use crate::ids::{ClientId, ServerId, Zxid};
use serde::Serialize;
use std::sync::Arc;

/// `QuorumPeer.ServerState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ServerState {
    Looking,
    Following,
    Leading,
    Observing,
}

impl ServerState {
    /// ZooKeeper's spelling, used by scenario triggers and the trace.
    pub fn name(self) -> &'static str {
        match self {
            ServerState::Looking => "LOOKING",
            ServerState::Following => "FOLLOWING",
            ServerState::Leading => "LEADING",
            ServerState::Observing => "OBSERVING",
        }
    }
}

/// An FLE vote on the wire (`FastLeaderElection.Notification`, minus config fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// Proposed leader.
    pub leader: ServerId,
    /// Last zxid of the proposed leader.
    pub zxid: Zxid,
    /// The sender's logical clock (its election round).
    pub election_epoch: u64,
    /// currentEpoch of the proposed leader.
    pub peer_epoch: u64,
    /// The sender's state.
    pub state: ServerState,
}

/// A client operation as the leader receives it (directly or forwarded as REQUEST).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    pub client: ClientId,
    /// Per-client request number (ZooKeeper's cxid).
    pub cxid: u64,
    /// The server the client is connected to; it answers the client once the txn commits.
    pub via: ServerId,
    pub op: crate::db::TxnOp,
}

/// What a client asks of the server it is connected to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum ClientOp {
    /// A write: forwarded to the leader, proposed, and answered once committed locally.
    Write(crate::db::TxnOp),
    /// A read of one key, answered from the local data tree.
    Read { key: u32 },
}

/// A packet between two servers, or between a client and the server it is connected to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Message {
    Notification(Notification),
    /// Learner → leader: `zxid = makeZxid(acceptedEpoch, 0)`.
    FollowerInfo {
        accepted_epoch: u64,
    },
    ObserverInfo {
        accepted_epoch: u64,
    },
    /// Leader → learner: the proposed new epoch (Zab's NEWEPOCH).
    LeaderInfo {
        epoch: u64,
    },
    /// Learner → leader: its currentEpoch, or `None` (ZooKeeper's -1) when it had already
    /// accepted this epoch, and its last zxid.
    AckEpoch {
        current_epoch: Option<u64>,
        last_zxid: Zxid,
    },
    Diff {
        zxid: Zxid,
    },
    Trunc {
        zxid: Zxid,
    },
    Snap {
        snapshot: Arc<Snapshot>,
    },
    NewLeader {
        zxid: Zxid,
    },
    UpToDate,
    Proposal {
        txn: Txn,
    },
    Ack {
        zxid: Zxid,
    },
    Commit {
        zxid: Zxid,
    },
    /// Leader → observer: a committed txn in full.
    Inform {
        txn: Txn,
    },
    Ping,
    /// Follower → leader: a client write to be proposed.
    Request(Request),
    /// Client → server: one operation, numbered by the client (ZooKeeper's request xid).
    ClientRequest {
        cxid: u64,
        op: ClientOp,
    },
    /// Server → client: the answer, with the zxid of the write or, for a read, the zxid the
    /// server had applied (ZooKeeper's ReplyHeader).
    ClientReply {
        cxid: u64,
        zxid: Zxid,
        value: Option<u64>,
    },
}

impl Message {
    /// ZooKeeper's packet name, as used in scenario triggers and the trace.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Notification(_) => "NOTIFICATION",
            Message::FollowerInfo { .. } => "FOLLOWERINFO",
            Message::ObserverInfo { .. } => "OBSERVERINFO",
            Message::LeaderInfo { .. } => "LEADERINFO",
            Message::AckEpoch { .. } => "ACKEPOCH",
            Message::Diff { .. } => "DIFF",
            Message::Trunc { .. } => "TRUNC",
            Message::Snap { .. } => "SNAP",
            Message::NewLeader { .. } => "NEWLEADER",
            Message::UpToDate => "UPTODATE",
            Message::Proposal { .. } => "PROPOSAL",
            Message::Ack { .. } => "ACK",
            Message::Commit { .. } => "COMMIT",
            Message::Inform { .. } => "INFORM",
            Message::Ping => "PING",
            Message::Request(_) => "REQUEST",
            Message::ClientRequest { .. } => "CLIENT_REQUEST",
            Message::ClientReply { .. } => "CLIENT_REPLY",
        }
    }

    /// The zxid a packet carries, if any, for traces and triggers.
    pub fn zxid(&self) -> Option<Zxid> {
        match self {
            Message::Notification(n) => Some(n.zxid),
            Message::FollowerInfo { accepted_epoch } | Message::ObserverInfo { accepted_epoch } => {
                Some(Zxid::new(*accepted_epoch, 0))
            }
            Message::LeaderInfo { epoch } => Some(Zxid::new(*epoch, 0)),
            Message::AckEpoch { last_zxid, .. } => Some(*last_zxid),
            Message::Diff { zxid }
            | Message::Trunc { zxid }
            | Message::NewLeader { zxid }
            | Message::Ack { zxid }
            | Message::Commit { zxid } => Some(*zxid),
            Message::Snap { snapshot } => Some(snapshot.zxid),
            Message::Proposal { txn } | Message::Inform { txn } => Some(txn.zxid),
            Message::ClientReply { zxid, .. } => Some(*zxid),
            Message::UpToDate
            | Message::Ping
            | Message::Request(_)
            | Message::ClientRequest { .. } => None,
        }
    }
}

/// Every message name, for validation and listings.
pub const MESSAGE_NAMES: &[&str] = &[
    "NOTIFICATION",
    "FOLLOWERINFO",
    "OBSERVERINFO",
    "LEADERINFO",
    "ACKEPOCH",
    "DIFF",
    "TRUNC",
    "SNAP",
    "NEWLEADER",
    "UPTODATE",
    "PROPOSAL",
    "ACK",
    "COMMIT",
    "INFORM",
    "PING",
    "REQUEST",
    "CLIENT_REQUEST",
    "CLIENT_REPLY",
];
