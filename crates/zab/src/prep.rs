//! The leader's `PrepRequestProcessor`: a client write becomes a txn whose outcome is fixed
//! before it is proposed, so that every server applies it the same way.
//!
//! Checks run against the leader's tree with every txn it proposed but has not applied yet
//! (ZooKeeper's outstandingChanges); the leader keeps that as a second tree, the "prepped"
//! one, to which it applies each txn as it proposes it. A failed check still becomes a txn,
//! `TxnOp::Error`, so that the error reaches the client in order with the session's other
//! writes.

use crate::client_api::{ClientOp, KeeperError, SessionId};
use crate::db::TxnOp;
use crate::path::Path;
use crate::tree::{parent_of, validate_path, DataTree};

/// `pRequest2Txn` for a write. `session_valid` is the session tracker's verdict
/// (`checkSession`): a request of an unknown or closing session fails with SESSIONEXPIRED.
/// Returns `None` for operations that are not writes.
pub(crate) fn prep_write(
    tree: &DataTree,
    session: SessionId,
    session_valid: bool,
    op: &ClientOp,
) -> Option<TxnOp> {
    if !op.is_write() {
        return None;
    }
    let result = if session_valid {
        match op {
            ClientOp::Create { path, data, mode } => prep_create(tree, session, path, *data, *mode),
            ClientOp::Delete { path, version } => prep_delete(tree, path, *version),
            ClientOp::SetData {
                path,
                data,
                version,
            } => prep_set_data(tree, path, *data, *version),
            ClientOp::CloseSession => Ok(TxnOp::CloseSession { session }),
            _ => return None,
        }
    } else {
        Err(KeeperError::SessionExpired)
    };
    Some(result.unwrap_or_else(|err| TxnOp::Error { err }))
}

fn prep_create(
    tree: &DataTree,
    session: SessionId,
    path: &Path,
    data: u64,
    mode: crate::client_api::CreateMode,
) -> Result<TxnOp, KeeperError> {
    validate_path(path, mode.is_sequential())?;
    if path == "/" {
        return Err(KeeperError::NodeExists);
    }
    let parent_path = parent_of(path).ok_or(KeeperError::BadArguments)?;
    let parent = tree.stat(parent_path).ok_or(KeeperError::NoNode)?;
    let path = if mode.is_sequential() {
        // The sequence number is the parent's stored cversion before this create: the count
        // of its children ever created, so it never repeats under one parent
        // (PrepRequestProcessor.java:690-692 at 3.8.0, 668-670 at 3.9.4).
        Path::from(format!("{path}{:010}", parent.cversion))
    } else {
        path.clone()
    };
    validate_path(&path, false)?;
    if tree.exists(&path) {
        return Err(KeeperError::NodeExists);
    }
    if parent.ephemeral_owner != SessionId::NONE {
        return Err(KeeperError::NoChildrenForEphemerals);
    }
    Ok(TxnOp::Create {
        path,
        data,
        ephemeral_owner: if mode.is_ephemeral() {
            session
        } else {
            SessionId::NONE
        },
        parent_cversion: parent.cversion + 1,
    })
}

/// `checkAndIncVersion`: -1 matches any version.
fn check_version(current: i32, expected: i32) -> Result<(), KeeperError> {
    if expected == -1 || expected == current {
        Ok(())
    } else {
        Err(KeeperError::BadVersion)
    }
}

fn prep_delete(tree: &DataTree, path: &Path, version: i32) -> Result<TxnOp, KeeperError> {
    validate_path(path, false)?;
    // The root (a "special path") cannot be deleted.
    let parent_path = parent_of(path).ok_or(KeeperError::BadArguments)?;
    tree.stat(parent_path).ok_or(KeeperError::NoNode)?;
    let node = tree.stat(path).ok_or(KeeperError::NoNode)?;
    check_version(node.version, version)?;
    if node.num_children > 0 {
        return Err(KeeperError::NotEmpty);
    }
    Ok(TxnOp::Delete { path: path.clone() })
}

fn prep_set_data(
    tree: &DataTree,
    path: &Path,
    data: u64,
    version: i32,
) -> Result<TxnOp, KeeperError> {
    validate_path(path, false)?;
    let node = tree.stat(path).ok_or(KeeperError::NoNode)?;
    check_version(node.version, version)?;
    Ok(TxnOp::SetData {
        path: path.clone(),
        data,
        version: node.version + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_api::CreateMode;
    use crate::db::Txn;
    use crate::ids::{ServerId, Zxid};

    const S: SessionId = SessionId(0x0100_0000_0000_0001);

    /// The leader's pipeline in miniature: prep against the prepped tree, then apply to it.
    struct Prepped {
        tree: DataTree,
        counter: u64,
    }

    impl Prepped {
        fn new() -> Self {
            Prepped {
                tree: DataTree::default(),
                counter: 0,
            }
        }
        fn submit(&mut self, op: ClientOp) -> TxnOp {
            let txn_op = prep_write(&self.tree, S, true, &op).expect("a write");
            self.counter += 1;
            self.tree.apply(&Txn::from(crate::db::TxnFields {
                zxid: Zxid::new(1, self.counter),
                proposer: ServerId(1),
                request: None,
                op: txn_op.clone(),
            }));
            txn_op
        }
    }

    fn create(path: &str, mode: CreateMode) -> ClientOp {
        ClientOp::Create {
            path: path.into(),
            data: 1,
            mode,
        }
    }

    fn err(e: KeeperError) -> TxnOp {
        TxnOp::Error { err: e }
    }

    #[test]
    fn pipelined_creates_of_one_path_see_each_other() {
        // Neither txn is committed yet: the second create is checked against the first.
        let mut p = Prepped::new();
        let first = p.submit(create("/a", CreateMode::Persistent));
        assert!(matches!(first, TxnOp::Create { ref path, .. } if path == "/a"));
        assert_eq!(
            p.submit(create("/a", CreateMode::Persistent)),
            err(KeeperError::NodeExists)
        );
    }

    #[test]
    fn sequential_names_come_from_the_parent_cversion() {
        let mut p = Prepped::new();
        p.submit(create("/q", CreateMode::Persistent));
        let names: Vec<Path> = (0..3)
            .map(
                |_| match p.submit(create("/q/n-", CreateMode::EphemeralSequential)) {
                    TxnOp::Create {
                        path,
                        ephemeral_owner,
                        ..
                    } => {
                        assert_eq!(ephemeral_owner, S);
                        path
                    }
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(
            names,
            vec!["/q/n-0000000000", "/q/n-0000000001", "/q/n-0000000002"]
        );
        p.submit(ClientOp::Delete {
            path: "/q/n-0000000002".into(),
            version: -1,
        });
        assert!(
            matches!(p.submit(create("/q/n-", CreateMode::PersistentSequential)),
                TxnOp::Create { ref path, parent_cversion: 4, .. } if path == "/q/n-0000000003"),
            "the stored cversion counts creates only: a delete leaves it, and the next name is \
             still one never handed out"
        );
    }

    #[test]
    fn failed_checks_become_error_txns() {
        let mut p = Prepped::new();
        assert_eq!(
            p.submit(create("/a/b", CreateMode::Persistent)),
            err(KeeperError::NoNode)
        );
        assert_eq!(
            p.submit(create("a", CreateMode::Persistent)),
            err(KeeperError::BadArguments)
        );
        p.submit(create("/e", CreateMode::Ephemeral));
        assert_eq!(
            p.submit(create("/e/c", CreateMode::Persistent)),
            err(KeeperError::NoChildrenForEphemerals)
        );
        p.submit(create("/p", CreateMode::Persistent));
        p.submit(create("/p/c", CreateMode::Persistent));
        assert_eq!(
            p.submit(ClientOp::Delete {
                path: "/p".into(),
                version: -1
            }),
            err(KeeperError::NotEmpty)
        );
        assert_eq!(
            p.submit(ClientOp::SetData {
                path: "/p".into(),
                data: 2,
                version: 3
            }),
            err(KeeperError::BadVersion)
        );
        assert_eq!(
            p.submit(ClientOp::SetData {
                path: "/p".into(),
                data: 2,
                version: 0
            }),
            TxnOp::SetData {
                path: "/p".into(),
                data: 2,
                version: 1
            }
        );
        assert_eq!(
            p.submit(ClientOp::Delete {
                path: "/p/c".into(),
                version: 4
            }),
            err(KeeperError::BadVersion)
        );
        assert_eq!(
            p.submit(ClientOp::Delete {
                path: "/nope".into(),
                version: -1
            }),
            err(KeeperError::NoNode)
        );
        assert_eq!(
            p.submit(ClientOp::Delete {
                path: "/".into(),
                version: -1
            }),
            err(KeeperError::BadArguments)
        );
        assert_eq!(
            prep_write(&p.tree, S, false, &create("/z", CreateMode::Persistent)),
            Some(err(KeeperError::SessionExpired))
        );
        assert_eq!(
            prep_write(
                &p.tree,
                S,
                true,
                &ClientOp::GetData {
                    path: "/p".into(),
                    watch: false
                }
            ),
            None
        );
    }
}
