//! The data tree every server serves reads from (ZooKeeper's `DataTree`): znodes, the index
//! of ephemeral znodes by owning session, and the sessions with their timeouts, which
//! ZooKeeper keeps next to the tree in every snapshot.
//!
//! Applying a txn follows `DataTree.processTxn`. It never fails: a txn whose path is missing
//! (or whose parent is) changes nothing but still counts as applied, as ZooKeeper logs such a
//! txn and goes on. Diverging histories under a bug variant can produce exactly that.

use crate::applied::AppliedTxns;
use crate::client_api::{EventType, KeeperError, OpResult, Reply, SessionId, Stat};
use crate::db::{Txn, TxnOp};
use crate::ids::Zxid;
use crate::path::Path;
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};

/// One znode: its data, its `Stat`, and the names (not paths) of its children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Znode {
    pub data: u64,
    pub stat: Stat,
    pub children: BTreeSet<String>,
}

/// The in-memory state a server serves reads from.
///
/// `applied` records which txns were applied, in order: the checkers compare these sequences
/// across servers, which is how a txn kept in memory after TRUNC (zk-2845) shows up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataTree {
    /// `DataTree.lastProcessedZxid`: what the server advertises in votes and ACKEPOCH.
    pub last_processed: Zxid,
    pub applied: AppliedTxns,
    /// Every znode by full path; "/" always exists.
    nodes: BTreeMap<Path, Znode>,
    /// `DataTree.ephemerals`: the paths each session owns.
    ephemerals: BTreeMap<SessionId, BTreeSet<Path>>,
    /// `sessionsWithTimeouts`: live sessions and their negotiated timeouts (ms).
    sessions: BTreeMap<SessionId, u32>,
}

impl Default for DataTree {
    fn default() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(Path::from("/"), Znode::default());
        DataTree {
            last_processed: Zxid::default(),
            applied: AppliedTxns::default(),
            nodes,
            ephemerals: BTreeMap::new(),
            sessions: BTreeMap::new(),
        }
    }
}

/// What applying one txn did: the answer its client gets, and the watch triggers it fired
/// (`DataTree.processTxn`'s `ProcessTxnResult` and the `triggerWatch` calls it makes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// `None` for txns that answer no client operation (initial txns, createSession).
    pub result: Option<OpResult>,
    /// In firing order: the event, and the path it is about.
    pub triggers: Triggers,
}

/// The watch triggers of one txn, in firing order. A create or delete fires two and a setData
/// one, so they fit inline; only a closeSession with many ephemerals spills to the heap.
pub type Triggers = SmallVec<[(EventType, Path); 2]>;

/// The parent of an absolute path: "/a" → "/", "/a/b" → "/a"; the root has none.
pub fn parent_of(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// The last component of a path ("/a/b" → "b").
pub fn name_of(path: &str) -> &str {
    path.rfind('/').map_or(path, |i| &path[i + 1..])
}

/// `PathUtils.validatePath`: absolute, no empty, "." or ".." component, no trailing slash
/// (a sequential create may end in "/": the server appends the sequence number).
pub fn validate_path(path: &str, sequential: bool) -> Result<(), KeeperError> {
    let owned;
    let path = if sequential {
        owned = format!("{path}1");
        owned.as_str()
    } else {
        path
    };
    if !path.starts_with('/') || path.contains('\0') {
        return Err(KeeperError::BadArguments);
    }
    if path == "/" {
        return Ok(());
    }
    if path[1..]
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(KeeperError::BadArguments);
    }
    Ok(())
}

impl DataTree {
    /// Applies a committed txn (`DataTree.processTxn`).
    pub fn apply(&mut self, txn: &Txn) -> Applied {
        let zxid = txn.zxid;
        let mut triggers = Triggers::new();
        let result = match &txn.op {
            TxnOp::Initial => None,
            TxnOp::CreateSession {
                session,
                timeout_ms,
            } => {
                self.sessions.insert(*session, *timeout_ms);
                None
            }
            TxnOp::CloseSession { session } => {
                self.kill_session(*session, zxid, &mut triggers);
                Some(Ok(Reply::Closed))
            }
            TxnOp::Create {
                path,
                data,
                ephemeral_owner,
                parent_cversion,
            } => Some(
                self.create_node(
                    path,
                    *data,
                    *ephemeral_owner,
                    *parent_cversion,
                    zxid,
                    &mut triggers,
                )
                .map(|()| Reply::Created { path: path.clone() }),
            ),
            TxnOp::Delete { path } => Some(
                self.delete_node(path, zxid, &mut triggers)
                    .map(|()| Reply::Deleted),
            ),
            TxnOp::SetData {
                path,
                data,
                version,
            } => Some(
                self.set_data(path, *data, *version, zxid, &mut triggers)
                    .map(|stat| Reply::SetData {
                        stat: stat.for_client(),
                    }),
            ),
            TxnOp::Error { err } => Some(Err(*err)),
        };
        self.applied.push(txn.id());
        self.last_processed = zxid;
        Applied { result, triggers }
    }

    fn create_node(
        &mut self,
        path: &Path,
        data: u64,
        owner: SessionId,
        parent_cversion: i32,
        zxid: Zxid,
        triggers: &mut Triggers,
    ) -> Result<(), KeeperError> {
        let parent_path = parent_of(path).ok_or(KeeperError::NodeExists)?;
        let name = name_of(path);
        let parent = self.nodes.get_mut(parent_path).ok_or(KeeperError::NoNode)?;
        if parent.children.contains(name) || name.is_empty() {
            return Err(KeeperError::NodeExists);
        }
        // Replaying a txn onto a tree that already saw a later create of a sibling must not
        // move the parent's cversion back (DataTree.createNode).
        if parent_cversion > parent.stat.cversion {
            parent.stat.cversion = parent_cversion;
            parent.stat.pzxid = zxid;
        }
        parent.children.insert(name.to_string());
        parent.stat.num_children = parent.children.len() as u32;
        let node = Znode {
            data,
            stat: Stat {
                czxid: zxid,
                mzxid: zxid,
                pzxid: zxid,
                ephemeral_owner: owner,
                ..Stat::default()
            },
            children: BTreeSet::new(),
        };
        self.nodes.insert(path.clone(), node);
        if owner != SessionId::NONE {
            self.ephemerals
                .entry(owner)
                .or_default()
                .insert(path.clone());
        }
        triggers.push((EventType::NodeCreated, path.clone()));
        triggers.push((EventType::NodeChildrenChanged, self.key(parent_path)));
        Ok(())
    }

    fn delete_node(
        &mut self,
        path: &Path,
        zxid: Zxid,
        triggers: &mut Triggers,
    ) -> Result<(), KeeperError> {
        let parent_path = parent_of(path).ok_or(KeeperError::BadArguments)?;
        let node = self.nodes.get(path).ok_or(KeeperError::NoNode)?;
        if !node.children.is_empty() {
            // Prep refuses this; a diverged history could still carry it. Removing the node
            // would orphan its children, so it is ignored like any other impossible txn.
            return Err(KeeperError::NotEmpty);
        }
        let owner = node.stat.ephemeral_owner;
        self.nodes.remove(path);
        if owner != SessionId::NONE {
            if let Some(set) = self.ephemerals.get_mut(&owner) {
                set.remove(path);
                if set.is_empty() {
                    self.ephemerals.remove(&owner);
                }
            }
        }
        if let Some(parent) = self.nodes.get_mut(parent_path) {
            parent.children.remove(name_of(path));
            parent.stat.num_children = parent.children.len() as u32;
            // The stored cversion counts creates only: a delete moves pzxid and leaves it
            // (DataTree.deleteNode, DataTree.java:555-565 at 3.8.0, 551-561 at 3.9.4).
            if zxid > parent.stat.pzxid {
                parent.stat.pzxid = zxid;
            }
        }
        triggers.push((EventType::NodeDeleted, path.clone()));
        triggers.push((EventType::NodeChildrenChanged, self.key(parent_path)));
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &Path,
        data: u64,
        version: i32,
        zxid: Zxid,
        triggers: &mut Triggers,
    ) -> Result<Stat, KeeperError> {
        let node = self.nodes.get_mut(path).ok_or(KeeperError::NoNode)?;
        node.data = data;
        node.stat.version = version;
        node.stat.mzxid = zxid;
        triggers.push((EventType::NodeDataChanged, path.clone()));
        Ok(node.stat)
    }

    /// `DataTree.killSession`: the session's ephemerals go, then the session.
    fn kill_session(&mut self, session: SessionId, zxid: Zxid, triggers: &mut Triggers) {
        let paths = self.ephemerals.remove(&session).unwrap_or_default();
        // Deepest first would only matter for ephemerals with children, which cannot exist;
        // reverse order still keeps a child before its parent should a bug create one.
        for path in paths.iter().rev() {
            let _ = self.delete_node(path, zxid, triggers);
        }
        self.sessions.remove(&session);
    }

    /// The tree's own copy of an existing node's path, shared rather than allocated anew.
    fn key(&self, path: &str) -> Path {
        match self.nodes.get_key_value(path) {
            Some((k, _)) => k.clone(),
            None => Path::from(path),
        }
    }

    // ---- reads ----

    pub fn get(&self, path: &str) -> Option<&Znode> {
        self.nodes.get(path)
    }

    pub fn exists(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// The node's stat as the server keeps it (`StatPersisted`): what prep reads.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.nodes.get(path).map(|n| n.stat)
    }

    /// The node's stat as a client is shown it (see [`Stat::for_client`]).
    pub fn client_stat(&self, path: &str) -> Option<Stat> {
        self.stat(path).map(Stat::for_client)
    }

    /// Child names, sorted; `None` if the node does not exist.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        self.nodes
            .get(path)
            .map(|n| n.children.iter().cloned().collect())
    }

    /// Every znode by path, in path order.
    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Znode)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), n))
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Paths of the ephemeral znodes `session` owns, sorted, without copying them (the
    /// checkers look after every event).
    pub fn ephemerals_of(&self, session: SessionId) -> impl Iterator<Item = &str> {
        self.ephemerals
            .get(&session)
            .into_iter()
            .flat_map(|paths| paths.iter().map(Path::as_str))
    }

    /// Every ephemeral znode with its owner.
    pub fn all_ephemerals(&self) -> impl Iterator<Item = (SessionId, &str)> {
        self.ephemerals
            .iter()
            .flat_map(|(s, paths)| paths.iter().map(move |p| (*s, p.as_str())))
    }

    /// Every session that owns at least one ephemeral znode.
    pub fn ephemeral_owners(&self) -> impl Iterator<Item = SessionId> + '_ {
        self.ephemerals.keys().copied()
    }

    pub fn has_session(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// The negotiated timeout of a live session.
    pub fn session_timeout(&self, session: SessionId) -> Option<u32> {
        self.sessions.get(&session).copied()
    }

    /// Live sessions and their timeouts (ms), by id.
    pub fn sessions(&self) -> &BTreeMap<SessionId, u32> {
        &self.sessions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_api::{CreateMode, KeeperError};
    use crate::ids::ServerId;

    pub(crate) fn txn(counter: u64, op: TxnOp) -> Txn {
        Txn::from(crate::db::TxnFields {
            zxid: Zxid::new(1, counter),
            proposer: ServerId(1),
            request: None,
            op,
        })
    }

    fn create(path: &str, owner: u64, parent_cversion: i32) -> TxnOp {
        TxnOp::Create {
            path: path.into(),
            data: 7,
            ephemeral_owner: SessionId(owner),
            parent_cversion,
        }
    }

    #[test]
    fn paths_are_validated_as_zookeeper_does() {
        assert!(validate_path("/", false).is_ok());
        assert!(validate_path("/a/b", false).is_ok());
        for bad in ["", "a", "/a/", "//a", "/a//b", "/a/./b", "/.."] {
            assert_eq!(
                validate_path(bad, false),
                Err(KeeperError::BadArguments),
                "{bad:?}"
            );
        }
        assert!(
            validate_path("/q/", true).is_ok(),
            "a sequential create may end in a slash"
        );
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/a/b"), Some("/a"));
        assert_eq!(parent_of("/"), None);
        assert_eq!(name_of("/a/b"), "b");
        assert!(CreateMode::EphemeralSequential.is_sequential());
    }

    #[test]
    fn create_sets_zxids_and_bumps_the_parent() {
        let mut t = DataTree::default();
        let a = t.apply(&txn(1, create("/a", 0, 1)));
        assert_eq!(a.result, Some(Ok(Reply::Created { path: "/a".into() })));
        assert_eq!(
            a.triggers.to_vec(),
            vec![
                (EventType::NodeCreated, "/a".into()),
                (EventType::NodeChildrenChanged, "/".into())
            ]
        );
        let s = t.stat("/a").unwrap();
        let z = Zxid::new(1, 1);
        assert_eq!((s.czxid, s.mzxid, s.pzxid), (z, z, z));
        let root = t.stat("/").unwrap();
        assert_eq!((root.cversion, root.pzxid, root.num_children), (1, z, 1));
        assert_eq!(t.last_processed, z);
        assert_eq!(t.applied.len(), 1);
    }

    #[test]
    fn delete_and_set_data_update_stats() {
        let mut t = DataTree::default();
        t.apply(&txn(1, create("/a", 0, 1)));
        let r = t.apply(&txn(
            2,
            TxnOp::SetData {
                path: "/a".into(),
                data: 9,
                version: 1,
            },
        ));
        let Some(Ok(Reply::SetData { stat })) = r.result else {
            panic!("{r:?}")
        };
        assert_eq!((stat.version, stat.mzxid), (1, Zxid::new(1, 2)));
        assert_eq!(t.get("/a").unwrap().data, 9);
        t.apply(&txn(3, TxnOp::Delete { path: "/a".into() }));
        assert!(!t.exists("/a"));
        let root = t.stat("/").unwrap();
        assert_eq!(
            (root.cversion, root.pzxid, root.num_children),
            (1, Zxid::new(1, 3), 0),
            "the stored cversion counts creates: a delete moves only pzxid"
        );
        assert_eq!(
            t.client_stat("/").unwrap().cversion,
            2,
            "a client is shown creates plus deletes"
        );
    }

    #[test]
    fn txns_on_missing_paths_change_nothing_but_count() {
        let mut t = DataTree::default();
        let before = t.clone();
        let r = t.apply(&txn(1, create("/x/y", 0, 1)));
        assert_eq!(r.result, Some(Err(KeeperError::NoNode)));
        let r = t.apply(&txn(2, TxnOp::Delete { path: "/x".into() }));
        assert_eq!(r.result, Some(Err(KeeperError::NoNode)));
        let r = t.apply(&txn(
            3,
            TxnOp::SetData {
                path: "/x".into(),
                data: 1,
                version: 1,
            },
        ));
        assert_eq!(r.result, Some(Err(KeeperError::NoNode)));
        t.apply(&txn(4, TxnOp::Delete { path: "/".into() }));
        assert_eq!(t.nodes, before.nodes);
        assert_eq!(t.applied.len(), 4);
        assert_eq!(t.last_processed, Zxid::new(1, 4));
    }

    #[test]
    fn close_session_removes_exactly_its_ephemerals() {
        let mut t = DataTree::default();
        let open = |s: u64| TxnOp::CreateSession {
            session: SessionId(s),
            timeout_ms: 4000,
        };
        t.apply(&txn(1, open(10)));
        t.apply(&txn(2, open(11)));
        t.apply(&txn(3, create("/app", 0, 1)));
        t.apply(&txn(4, create("/app/a", 10, 1)));
        t.apply(&txn(5, create("/app/b", 11, 2)));
        t.apply(&txn(6, create("/c", 10, 2)));
        assert_eq!(
            t.ephemerals_of(SessionId(10)).collect::<Vec<_>>(),
            vec!["/app/a", "/c"]
        );
        let r = t.apply(&txn(
            7,
            TxnOp::CloseSession {
                session: SessionId(10),
            },
        ));
        assert_eq!(r.result, Some(Ok(Reply::Closed)));
        assert!(!t.exists("/app/a") && !t.exists("/c"));
        assert!(t.exists("/app/b") && t.exists("/app"));
        assert!(!t.has_session(SessionId(10)));
        assert!(t.has_session(SessionId(11)));
        assert_eq!(t.ephemerals_of(SessionId(10)).count(), 0);
        let deleted: Vec<&str> = r
            .triggers
            .iter()
            .filter(|(e, _)| *e == EventType::NodeDeleted)
            .map(|(_, p)| p.as_str())
            .collect();
        assert_eq!(deleted, vec!["/c", "/app/a"]);
        // Two children created, one deleted: stored 2, shown to clients as 2 * 2 - 1.
        assert_eq!(t.stat("/app").unwrap().cversion, 2);
        assert_eq!(t.client_stat("/app").unwrap().cversion, 3);
    }

    #[test]
    fn a_replayed_create_does_not_move_cversion_back() {
        let mut t = DataTree::default();
        t.apply(&txn(1, create("/a", 0, 5)));
        t.apply(&txn(2, create("/b", 0, 3)));
        let root = t.stat("/").unwrap();
        assert_eq!((root.cversion, root.pzxid), (5, Zxid::new(1, 1)));
        assert_eq!(root.num_children, 2);
    }
}
