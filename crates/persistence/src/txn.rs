//! A model txn as the txn ZooKeeper's `PrepRequestProcessor` would have made: a `TxnHeader`
//! and one of the txn records, with the `TxnDigest` a leader attaches.
//!
//! Citations are to `zookeeper-server/src/main/java/org/apache/zookeeper/server/` at
//! `release-3.8.0-1`, then `release-3.9.4` where the line moved.

use crate::records::{
    CloseSessionTxn, CreateSessionTxn, CreateTxn, DeleteTxn, ErrorTxn, SetDataTxn, TxnDigest,
    TxnHeader, TxnRecord,
};
use crate::stamps::TxnStamp;
use crate::zoo_defs::{code, op_code, open_acl_unsafe, CODE_OK};
use zab::{SessionId, Txn, TxnOp};

/// One txn log entry: `Util.marshallTxnEntry(hdr, txn, digest)` writes exactly these three,
/// back to back (persistence/Util.java:187-200 / 185-198).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnEntry {
    pub hdr: TxnHeader,
    pub txn: TxnRecord,
    pub digest: Option<TxnDigest>,
}

/// The header and record of `txn`.
///
/// * `clientId` is the txn's session: the session a createSession opens or a closeSession
///   ends, the owner of an ephemeral create, and otherwise the session the request came in
///   on, as the run recorded it (`stamp`). ZooKeeper's replay reads it as the ephemeral
///   owner and as the session created or closed (`DataTree.processTxn`, DataTree.java:867-878
///   / 872-884; FileTxnSnapLog.processTransaction), so for those the op's own session is used.
/// * `cxid` is the request's number, wrapped to an int as the client's counter is; 0 for a
///   txn no request asked for (a leader's session expiry).
/// * `time` is the stamp's (see `stamps.rs`).
/// * `closing_ephemerals`: for a closeSession, the session's ephemeral znodes just before
///   it, which prep lists in the txn (`CloseSessionTxn(paths2Delete)`,
///   PrepRequestProcessor.java:588-627 / 573-612); order does not matter to the reader.
///
/// Txn records, per model op:
/// * `CreateSession` → `createSession` + `CreateSessionTxn(timeOut)` (:582 / 567).
/// * `CloseSession` → `closeSession` + `CloseSessionTxn(paths2Delete)`.
/// * `Create` → `create` + `CreateTxn(path, data, OPEN_ACL_UNSAFE, ephemeral,
///   parentCVersion)` (:713 / 691); data as decimal text; parentCVersion the model's.
/// * `Delete` → `delete` + `DeleteTxn(path)` (:345 / 341).
/// * `SetData` → `setData` + `SetDataTxn(path, data, version)` (:399 / 389), version the
///   znode's after the write, as prep computes it.
/// * `Error` → `error` + `ErrorTxn(code)`: prep turns a failed request into this
///   (:934-938 / 910-914).
/// * `Initial` (a scenario's initial txn, which only occupies its zxid) → `error` +
///   `ErrorTxn(0)`: the one txn kind that a real server replays without changing its tree
///   or its sessions, as the model does (`DataTree.processTxn`'s `case OpCode.error`). It
///   is zabsim's choice, not anything ZooKeeper writes; TxnLogToolkit prints it as
///   `error 0`.
pub fn header_and_record(
    txn: &Txn,
    stamp: TxnStamp,
    closing_ephemerals: &[&str],
) -> (TxnHeader, TxnRecord) {
    let (session, txn_type, record) = match &txn.op {
        TxnOp::Initial => (
            SessionId::NONE,
            op_code::ERROR,
            TxnRecord::Error(ErrorTxn { err: CODE_OK }),
        ),
        TxnOp::CreateSession {
            session,
            timeout_ms,
        } => (
            *session,
            op_code::CREATE_SESSION,
            TxnRecord::CreateSession(CreateSessionTxn {
                time_out: i32::try_from(*timeout_ms).unwrap_or(i32::MAX),
            }),
        ),
        TxnOp::CloseSession { session } => (
            *session,
            op_code::CLOSE_SESSION,
            TxnRecord::CloseSession(CloseSessionTxn {
                paths2_delete: closing_ephemerals.iter().map(|p| p.to_string()).collect(),
            }),
        ),
        TxnOp::Create {
            path,
            data,
            ephemeral_owner,
            parent_cversion,
        } => {
            let ephemeral = *ephemeral_owner != SessionId::NONE;
            (
                if ephemeral {
                    *ephemeral_owner
                } else {
                    stamp.session
                },
                op_code::CREATE,
                TxnRecord::Create(CreateTxn {
                    path: path.to_string(),
                    data: data.to_string().into_bytes(),
                    acl: open_acl_unsafe(),
                    ephemeral,
                    parent_c_version: *parent_cversion,
                }),
            )
        }
        TxnOp::Delete { path } => (
            stamp.session,
            op_code::DELETE,
            TxnRecord::Delete(DeleteTxn {
                path: path.to_string(),
            }),
        ),
        TxnOp::SetData {
            path,
            data,
            version,
        } => (
            stamp.session,
            op_code::SET_DATA,
            TxnRecord::SetData(SetDataTxn {
                path: path.to_string(),
                data: data.to_string().into_bytes(),
                version: *version,
            }),
        ),
        TxnOp::Error { err } => (
            stamp.session,
            op_code::ERROR,
            TxnRecord::Error(ErrorTxn { err: code(*err) }),
        ),
    };
    let hdr = TxnHeader {
        client_id: session.0 as i64,
        // The client's int counter (ClientCnxn.xid) wraps; the model's does not.
        cxid: txn.request.map_or(0, |r| r.cxid as i32),
        zxid: txn.zxid.0 as i64,
        time: stamp.time_ms,
        txn_type,
    };
    (hdr, record)
}

/// Whether a leader attaches a `TxnDigest` to this txn: to every txn it prepares
/// (PrepRequestProcessor.java:650-653 / 632-635) except one whose request failed, since prep
/// throws before the digest is set and its catch (:934-938 / 910-914) replaces the txn with
/// an `ErrorTxn` alone. Initial txns, written as error txns, carry none either.
pub fn carries_digest(op: &TxnOp) -> bool {
    !matches!(op, TxnOp::Error { .. } | TxnOp::Initial)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zab::db::RequestId;
    use zab::{ClientId, KeeperError, ServerId, Zxid};

    fn txn(op: TxnOp) -> Txn {
        Txn::from(zab::TxnFields {
            zxid: Zxid::new(1, 2),
            proposer: ServerId(3),
            request: Some(RequestId {
                client: ClientId(1),
                cxid: (1 << 32) + 5,
            }),
            op,
        })
    }

    const STAMP: TxnStamp = TxnStamp {
        time_ms: 1_700_000_000_001,
        session: SessionId(0x77),
    };

    #[test]
    fn the_header_names_the_session_the_replay_needs() {
        let eph = txn(TxnOp::Create {
            path: "/e".into(),
            data: 1,
            ephemeral_owner: SessionId(0x99),
            parent_cversion: 3,
        });
        let (hdr, rec) = header_and_record(&eph, STAMP, &[]);
        assert_eq!(hdr.client_id, 0x99, "the owner, whoever asked");
        assert_eq!(hdr.cxid, 5, "wrapped to an int");
        assert_eq!(hdr.zxid, 0x1_0000_0002);
        assert_eq!(hdr.time, STAMP.time_ms);
        assert_eq!(hdr.txn_type, op_code::CREATE);
        let TxnRecord::Create(c) = rec else { panic!() };
        assert!(c.ephemeral);
        assert_eq!((c.data.as_slice(), c.parent_c_version), (&b"1"[..], 3));

        let set = txn(TxnOp::SetData {
            path: "/e".into(),
            data: 12,
            version: 4,
        });
        let (hdr, _) = header_and_record(&set, STAMP, &[]);
        assert_eq!(hdr.client_id, 0x77, "the recorded session");

        let close = txn(TxnOp::CloseSession {
            session: SessionId(0x99),
        });
        let (hdr, rec) = header_and_record(&close, STAMP, &["/e"]);
        assert_eq!(
            (hdr.client_id, hdr.txn_type),
            (0x99, op_code::CLOSE_SESSION)
        );
        assert_eq!(
            rec,
            TxnRecord::CloseSession(CloseSessionTxn {
                paths2_delete: vec!["/e".into()]
            })
        );
    }

    #[test]
    fn errors_and_initial_txns_are_error_txns_without_a_digest() {
        let err = txn(TxnOp::Error {
            err: KeeperError::NodeExists,
        });
        let (hdr, rec) = header_and_record(&err, STAMP, &[]);
        assert_eq!(hdr.txn_type, op_code::ERROR);
        assert_eq!(rec, TxnRecord::Error(ErrorTxn { err: -110 }));
        assert!(!carries_digest(&err.op));
        let init = Txn::initial(Zxid::new(1, 1));
        let (hdr, rec) = header_and_record(&init, TxnStamp::UNKNOWN, &[]);
        assert_eq!((hdr.client_id, hdr.cxid, hdr.txn_type), (0, 0, -1));
        assert_eq!(rec, TxnRecord::Error(ErrorTxn { err: 0 }));
        assert!(!carries_digest(&init.op));
        assert!(carries_digest(&TxnOp::CreateSession {
            session: SessionId(1),
            timeout_ms: 4000
        }));
    }
}
