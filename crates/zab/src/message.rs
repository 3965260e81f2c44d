//! Messages between servers, named as ZooKeeper names its packets (Leader.java) and its
//! election notification (FastLeaderElection.Notification).

use crate::client_api::{ClientOp, OpResult, SessionId, WatchedEvent};
use crate::db::{Snapshot, Txn};
use crate::ids::{ClientId, ServerId, Zxid};
use crate::path::Path;
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

/// A client request as the leader receives it (directly or forwarded as REQUEST), before
/// PrepRequestProcessor turns it into a txn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Request {
    pub session: SessionId,
    pub client: ClientId,
    /// Per-client request number (ZooKeeper's cxid).
    pub cxid: u64,
    /// The server the client is connected to; it answers the client once the txn commits.
    pub via: ServerId,
    pub op: RequestOp,
}

/// What a request asks the leader for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum RequestOp {
    /// A write (create, delete, setData, closeSession) or a sync, as the client sent it.
    Client(ClientOp),
    /// A new session `Request::session`, assigned by the server the client connected to.
    CreateSession { timeout_ms: u32 },
}

/// A packet between two servers, or between a client and the server it is connected to.
///
/// [`MessageKind`], the packets without their fields (what a checker asks to be shown of the
/// traffic), is derived from this one definition, in the order of [`MESSAGE_NAMES`].
#[derive(Clone, Debug, PartialEq, Serialize, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(MessageKind),
    derive(PartialOrd, Ord, Hash, strum::VariantArray, strum::EnumCount)
)]
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
        /// `fixed` only (ZooKeeper's ACKEPOCH has no such field, so the releases send
        /// `None`): the last txn inside the snapshot the learner's log continues from, below
        /// which it cannot truncate. A leader that would send TRUNC below it sends SNAP.
        #[serde(skip_serializing_if = "Option::is_none")]
        trunc_floor: Option<Zxid>,
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
    /// Leader → learner: a heartbeat. Learner → leader: the answer, carrying the sessions its
    /// clients touched since the last one, with their timeouts (LearnerSessionTracker).
    Ping {
        sessions: Vec<(SessionId, u32)>,
    },
    /// Follower → leader: a client write or sync to be prepared.
    Request(Request),
    /// Follower → leader: may this session reconnect here? Leader → follower: the answer
    /// (`valid`), after touching the session.
    Revalidate {
        session: SessionId,
        timeout_ms: u32,
        valid: bool,
    },
    /// Leader → learner: every proposal before this sync is committed; answer the client.
    Sync {
        request: Request,
    },
    /// Client → server: open a session (`session` NONE) or resume one. A server refuses a
    /// client that has seen a newer zxid than its own.
    Connect {
        session: SessionId,
        last_zxid_seen: Zxid,
        timeout_ms: u32,
    },
    /// Server → client: the session and the negotiated timeout; a zero timeout says the
    /// session has expired.
    ConnectResponse {
        session: SessionId,
        timeout_ms: u32,
    },
    /// Client → server heartbeat, and the server's answer (ZooKeeper's xid -2).
    ClientPing,
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
        result: OpResult,
    },
    /// Server → client: a watch fired (ZooKeeper's xid -1 notification).
    WatcherEvent(WatchedEvent),
    /// Client → server after a reconnect: re-register these watches; any that would have
    /// fired since `relative_zxid` fire at once.
    SetWatches {
        relative_zxid: Zxid,
        data: Vec<Path>,
        exist: Vec<Path>,
        child: Vec<Path>,
    },
}

impl Message {
    /// ZooKeeper's packet name, as used in scenario triggers and the trace.
    pub fn name(&self) -> &'static str {
        MESSAGE_NAMES[self.index()]
    }

    /// The packet's position in [`MESSAGE_NAMES`], which also names it: a number per kind,
    /// for counting kinds without comparing names.
    pub fn index(&self) -> usize {
        MessageKind::from(self) as usize
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
            Message::WatcherEvent(e) => Some(e.zxid),
            Message::Connect { last_zxid_seen, .. } => Some(*last_zxid_seen),
            Message::SetWatches { relative_zxid, .. } => Some(*relative_zxid),
            Message::UpToDate
            | Message::Ping { .. }
            | Message::Request(_)
            | Message::Revalidate { .. }
            | Message::Sync { .. }
            | Message::ConnectResponse { .. }
            | Message::ClientPing
            | Message::ClientRequest { .. } => None,
        }
    }
}

/// Every message name, for validation and listings.
pub const MESSAGE_NAMES: [&str; <MessageKind as strum::EnumCount>::COUNT] = [
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
    "REVALIDATE",
    "SYNC",
    "CONNECT",
    "CONNECT_RESPONSE",
    "CLIENT_PING",
    "CLIENT_REQUEST",
    "CLIENT_REPLY",
    "WATCHER_EVENT",
    "SET_WATCHES",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet's name is looked up by its kind's position, so the names must stay in the
    /// order of the variants: each is its variant's name in capitals.
    #[test]
    fn every_kind_has_its_own_name_in_variant_order() {
        for k in <MessageKind as strum::VariantArray>::VARIANTS {
            let name = MESSAGE_NAMES[*k as usize].replace('_', "");
            assert_eq!(name, format!("{k:?}").to_uppercase(), "{k:?}");
        }
        assert_eq!(
            Message::Ack {
                zxid: Zxid::new(1, 2)
            }
            .name(),
            "ACK"
        );
        assert_eq!(Message::UpToDate.name(), "UPTODATE");
        assert_eq!(Message::ClientPing.name(), "CLIENT_PING");
    }
}
