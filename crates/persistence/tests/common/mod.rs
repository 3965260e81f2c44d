//! What the integration tests share: a disk with every kind of txn, and a temporary
//! directory removed however the test ends.

#![allow(dead_code)]

use persistence::{Stamps, TxnStamp};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zab::db::RequestId;
use zab::{
    ClientId, DataTree, DiskImage, DiskOp, KeeperError, ServerId, SessionId, Snapshot, Txn, TxnOp,
    Zxid,
};

pub const SESSION: SessionId = SessionId(0x0100_0000_a000_0001);

/// One txn of the busy disk, as a request of client 1 with its counter as cxid.
fn txn(c: u64, op: TxnOp) -> Txn {
    Txn::from(zab::TxnFields {
        zxid: Zxid::new(1, c),
        proposer: ServerId(1),
        request: Some(RequestId {
            client: ClientId(1),
            cxid: c,
        }),
        op,
    })
}

/// Every kind of txn the model makes, in two log files, with a snapshot after the fifth:
/// an initial txn, a session with a persistent and an ephemeral znode, a setData, an error,
/// a create and delete, and the session's close. Txn i is stamped at i seconds.
pub fn busy_disk() -> (DiskImage, Stamps) {
    let log = vec![
        Txn::initial(Zxid::new(1, 1)),
        txn(
            2,
            TxnOp::CreateSession {
                session: SESSION,
                timeout_ms: 4000,
            },
        ),
        txn(
            3,
            TxnOp::Create {
                path: "/app".into(),
                data: 7,
                ephemeral_owner: SessionId::NONE,
                parent_cversion: 1,
            },
        ),
        txn(
            4,
            TxnOp::Create {
                path: "/app/e".into(),
                data: 8,
                ephemeral_owner: SESSION,
                parent_cversion: 1,
            },
        ),
        txn(
            5,
            TxnOp::SetData {
                path: "/app".into(),
                data: 9,
                version: 1,
            },
        ),
        txn(
            6,
            TxnOp::Error {
                err: KeeperError::NodeExists,
            },
        ),
        txn(
            7,
            TxnOp::Create {
                path: "/x".into(),
                data: 1,
                ephemeral_owner: SessionId::NONE,
                parent_cversion: 2,
            },
        ),
        txn(8, TxnOp::Delete { path: "/x".into() }),
        txn(9, TxnOp::CloseSession { session: SESSION }),
    ];
    let mut image = DiskImage::default();
    let mut stamps = Stamps::new();
    let mut tree = DataTree::default();
    for (i, t) in log.iter().enumerate() {
        let op = if i == 5 {
            DiskOp::AppendToNewFile(t.clone())
        } else {
            DiskOp::Append(t.clone())
        };
        image.apply(&op);
        if i > 0 {
            stamps.insert(t.id(), TxnStamp::at(1_000_000 * i as u64, SESSION));
        }
        tree.apply(t);
        if i == 4 {
            image.apply(&DiskOp::Snapshot {
                snapshot: Arc::new(Snapshot {
                    zxid: t.zxid,
                    tree: tree.clone(),
                }),
                replaces_log: false,
            });
        }
    }
    image.accepted_epoch = 1;
    image.current_epoch = 1;
    (image, stamps)
}

/// A fresh directory under the system's temp dir, removed when dropped (also while a failed
/// test unwinds).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("zabsim-persistence-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
