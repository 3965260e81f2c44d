//! The model's data tree as ZooKeeper's `DataTree` holds it: the system znodes every real
//! tree has, znode data as bytes, ACL references, and `StatPersisted` with times.
//!
//! Citations are to `zookeeper-server/src/main/java/org/apache/zookeeper/server/` at
//! `release-3.8.0-1`, then `release-3.9.4` where the line moved.

use crate::digest::{node_digest, AdHash};
use crate::records::StatPersisted;
use crate::stamps::ZxidTimes;
use std::collections::BTreeMap;
use zab::{DataTree, Znode};

/// The ACL a znode refers to, by its key in the snapshot's ACL cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AclRef {
    /// `ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID`, -1 (ReferenceCountedACLCache.java:46):
    /// the fresh tree's own znodes, which need no entry in the cache.
    OpenUnsafeId,
    /// `READ_ACL_UNSAFE` on `/zookeeper/config`, the cache's first key, 1 (`convertAcls` →
    /// `incrementIndex`, ReferenceCountedACLCache.java:59-74, 98-100), taken by
    /// `DataTree.addConfigNode` (DataTree.java:317-331 / 314-328) when the tree is built.
    ReadAclUnsafe,
    /// A client's `OPEN_ACL_UNSAFE`, the next key, 2: `convertAcls` maps a list to -1 only
    /// when it is null, so a create with `OPEN_ACL_UNSAFE` takes an entry of its own.
    OpenAclUnsafe,
}

impl AclRef {
    /// The key a `DataNode` holds.
    pub fn key(self) -> i64 {
        match self {
            AclRef::OpenUnsafeId => -1,
            AclRef::ReadAclUnsafe => 1,
            AclRef::OpenAclUnsafe => 2,
        }
    }

    /// The list the cache holds for the key; none for -1.
    pub fn acls(self) -> Option<Vec<crate::records::Acl>> {
        match self {
            AclRef::OpenUnsafeId => None,
            AclRef::ReadAclUnsafe => Some(crate::zoo_defs::read_acl_unsafe()),
            AclRef::OpenAclUnsafe => Some(crate::zoo_defs::open_acl_unsafe()),
        }
    }
}

/// One znode as a snapshot holds it (`DataNode.serialize`, DataNode.java:183-189).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkNode {
    pub data: Vec<u8>,
    pub acl: AclRef,
    pub stat: StatPersisted,
}

/// Znodes by ZooKeeper path: the root is `""` (the name `DataTree.serializeNode` gives it,
/// DataTree.java:1302-1331 / 1300-1326), every other path as the model has it. In this order
/// each znode comes after its parent, which is all a loading server asks of a snapshot
/// (DataTree.deserialize, :1366-1380 / 1364-1373).
pub type ZkNodes = BTreeMap<String, ZkNode>;

/// The znodes of a fresh `DataTree` (DataTree.java:269-331 / 266-328): the root, `/zookeeper`
/// and `/zookeeper/quota` with empty data, a zero stat and ACL -1, and `/zookeeper/config`
/// with ACL `READ_ACL_UNSAFE`, whose `setACL(..., -1)` leaves aversion -1 (:328, :767). The
/// model's tree has only `/` and the clients' znodes; a real server needs these (quorum
/// start-up writes `/zookeeper/config`).
pub fn system_nodes() -> ZkNodes {
    let empty = |acl, stat| ZkNode {
        data: Vec::new(),
        acl,
        stat,
    };
    let zero = StatPersisted::default();
    let config = StatPersisted {
        aversion: -1,
        ..zero
    };
    [
        (String::new(), empty(AclRef::OpenUnsafeId, zero)),
        ("/zookeeper".to_string(), empty(AclRef::OpenUnsafeId, zero)),
        (
            "/zookeeper/config".to_string(),
            empty(AclRef::ReadAclUnsafe, config),
        ),
        (
            "/zookeeper/quota".to_string(),
            empty(AclRef::OpenUnsafeId, zero),
        ),
    ]
    .into_iter()
    .collect()
}

/// A model znode's data as bytes: the decimal text of its `u64`, as the project's real
/// clients write it (conform/src/client/ops.rs). The root's data is empty, as in a fresh tree,
/// until a txn sets it.
pub fn data_bytes(path: &str, znode: &Znode) -> Vec<u8> {
    if path == "/" && znode.stat.mzxid == zab::Zxid::default() {
        Vec::new()
    } else {
        znode.data.to_string().into_bytes()
    }
}

/// ZooKeeper's name for a model path: the root is `""`.
pub fn zk_path(path: &str) -> String {
    if path == "/" {
        String::new()
    } else {
        path.to_string()
    }
}

/// One model znode as ZooKeeper would hold it.
///
/// The stat is the model's stored stat, ZooKeeper's `StatPersisted`: zxids, data version,
/// child version and ephemeral owner copied; `aversion` 0 (no txn changes ACLs);
/// `ctime`/`mtime` the header times of the txns named by `czxid`/`mzxid`. The child version
/// is the stored one, the count of children created, which a delete leaves as it is
/// (`DataTree.deleteNode` moves only the parent's pzxid, DataTree.java:543-565 / 539-561);
/// a client is shown another number (`DataNode.copyStat`), never written to a file.
pub fn zk_node(path: &str, znode: &Znode, times: &ZxidTimes) -> ZkNode {
    let s = &znode.stat;
    ZkNode {
        data: data_bytes(path, znode),
        acl: if path == "/" {
            AclRef::OpenUnsafeId
        } else {
            AclRef::OpenAclUnsafe
        },
        stat: StatPersisted {
            czxid: s.czxid.0 as i64,
            mzxid: s.mzxid.0 as i64,
            ctime: times.time(s.czxid),
            mtime: times.time(s.mzxid),
            version: s.version,
            cversion: s.cversion,
            aversion: 0,
            ephemeral_owner: s.ephemeral_owner.0 as i64,
            pzxid: s.pzxid.0 as i64,
        },
    }
}

/// The whole model tree as ZooKeeper's: the fresh tree's system znodes, then the model's.
/// (The model's clients never write under `/zookeeper`; if one did, its znode would stand in
/// for the system one of the same path rather than appear twice.)
pub fn zk_nodes(tree: &DataTree, times: &ZxidTimes) -> ZkNodes {
    let mut nodes = system_nodes();
    for (path, znode) in tree.nodes() {
        nodes.insert(zk_path(path), zk_node(path, znode, times));
    }
    nodes
}

/// The tree digest of these znodes (`DataTree.getTreeDigest`).
pub fn tree_digest(nodes: &ZkNodes) -> AdHash {
    let mut h = AdHash::default();
    for (path, n) in nodes {
        h.add(node_digest(path, &n.data, &n.stat));
    }
    h
}

/// The digest of one model znode, if it exists: the root as ZooKeeper's `""`.
pub fn model_node_digest(tree: &DataTree, path: &str, times: &ZxidTimes) -> Option<u64> {
    let znode = tree.get(path)?;
    let n = zk_node(path, znode, times);
    Some(node_digest(&zk_path(path), &n.data, &n.stat))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamps::{Stamps, TxnStamp};
    use zab::{ServerId, SessionId, Txn, TxnOp, Zxid};

    #[test]
    fn a_fresh_model_tree_is_a_fresh_zookeeper_tree() {
        let nodes = zk_nodes(&DataTree::default(), &ZxidTimes::default());
        assert_eq!(nodes, system_nodes());
        assert_eq!(tree_digest(&nodes).value(), 0x51c6_d660);
    }

    #[test]
    fn znodes_carry_text_data_open_acls_and_their_txns_times() {
        let mut tree = DataTree::default();
        let mut stamps = Stamps::new();
        let txn = |c, op| {
            Txn::from(zab::TxnFields {
                zxid: Zxid::new(1, c),
                proposer: ServerId(1),
                request: None,
                op,
            })
        };
        let t1 = txn(
            1,
            TxnOp::Create {
                path: "/a".into(),
                data: 42,
                ephemeral_owner: SessionId(7),
                parent_cversion: 1,
            },
        );
        stamps.insert(t1.id(), TxnStamp::at(5_000, SessionId(7)));
        tree.apply(&t1);
        let times = ZxidTimes::of(tree.applied.iter(), &stamps);
        let nodes = zk_nodes(&tree, &times);
        let a = &nodes["/a"];
        assert_eq!(a.data, b"42");
        assert_eq!(a.acl, AclRef::OpenAclUnsafe);
        assert_eq!(a.stat.ctime, crate::SIM_EPOCH_MS + 5);
        assert_eq!(a.stat.ephemeral_owner, 7);
        let root = &nodes[""];
        assert_eq!(root.data, b"", "the root's data is empty until set");
        assert_eq!((root.stat.cversion, root.stat.pzxid), (1, 0x1_0000_0001));
        assert_eq!(root.stat.ctime, 0);
    }
}
