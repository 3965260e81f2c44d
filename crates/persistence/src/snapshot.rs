//! Snapshot files (`version-2/snapshot.<hex zxid>`), as `FileSnap.serialize` writes them.
//!
//! Citations are to `zookeeper-server/src/main/java/org/apache/zookeeper/server/` at
//! `release-3.8.0-1`, then `release-3.9.4` where the line moved.
//!
//! The file goes through a `CheckedOutputStream` with an Adler-32 (no compression: the
//! default stream mode is `CHECKED`, persistence/SnapStream.java:54-69, whose file extension
//! is empty). In order (persistence/FileSnap.java:236-265 / 242-276):
//!
//! 1. `FileHeader("ZKSN", 2, -1)`;
//! 2. the sessions: a count, then each id and timeout (util/SerializeUtils.java:164-172 /
//!    162-170);
//! 3. the data tree (DataTree.java:1351-1354 / 1346-1349): the ACL cache (a count, then each
//!    reference and its ACL list, ReferenceCountedACLCache.java:141-156), then every znode
//!    as its path and `DataNode` (data, ACL reference, `StatPersisted`; DataNode.java:183-189),
//!    each after its parent, the root as `""`, and `"/"` to end the list (DataTree.java
//!    :1302-1349 / 1300-1344);
//! 4. a seal: the Adler-32 of every byte so far as a long, then the string `"/"`
//!    (persistence/SnapStream.java:162-166);
//! 5. the digest, `ZxidDigest(zxid, digestVersion, digest)` (DataTree.java:1673-1686,
//!    1886-1890 / 1674-1687, 1923-1927), and a second seal covering everything before it,
//!    the first seal included;
//! 6. 3.9.4 only: the tree's `lastProcessedZxid` as a long (DataTree.java:1756-1762 at
//!    3.9.4, on by default: `zookeeper.serializeLastProcessedZxid.enabled`,
//!    ZooKeeperServer.java:170-171 at 3.9.4) and a third seal. A 3.8.0 server would stop
//!    reading before it; a 3.9.4 server reading a file without it logs a warning and uses the
//!    file's name (FileSnap.java:96-101, DataTree.java:1771-1784 at 3.9.4).

use crate::checksum::Adler32;
use crate::jute::Archive;
use crate::records::{serialize_acls, FileHeader, Record};
use crate::tree::{AclRef, ZkNodes};
use std::collections::BTreeMap;
use zab::{SessionId, Zxid};

/// `FileSnap.SNAP_MAGIC`, "ZKSN" as a big-endian int (FileSnap.java:52 / 53).
pub const SNAP_MAGIC: i32 = i32::from_be_bytes(*b"ZKSN");

/// `FileSnap.VERSION` (FileSnap.java:49 / 50).
pub const VERSION: i32 = 2;

/// `FileSnap.dbId` (FileSnap.java:50 / 51).
pub const DBID: i64 = -1;

/// `Util.makeSnapshotName` (persistence/Util.java:94-98): "snapshot." and the zxid in
/// lower-case hex, with the stream mode's extension, empty for the default mode.
pub fn snapshot_name(zxid: Zxid) -> String {
    format!("snapshot.{:x}", zxid.0)
}

/// `DataTree.ZxidDigest`: the digest of the tree after the txn `zxid`. A fresh tree has none
/// yet and writes `ZxidDigest()`, zxid 0 and digest 0 (DataTree.java:1680-1683 / 1681-1684),
/// which a reader takes as "empty" and never compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZxidDigest {
    pub zxid: i64,
    pub digest_version: i32,
    pub digest: i64,
}

impl ZxidDigest {
    pub const EMPTY: ZxidDigest = ZxidDigest {
        zxid: 0,
        digest_version: crate::digest::DIGEST_VERSION,
        digest: 0,
    };
}

/// What one snapshot file holds.
pub struct SnapshotContents<'a> {
    pub sessions: &'a BTreeMap<SessionId, u32>,
    pub nodes: &'a ZkNodes,
    pub digest: ZxidDigest,
    /// Written by 3.9.4 (and so by `fixed`): the tree's `lastProcessedZxid`, which is the
    /// snapshot's name (`FileTxnSnapLog.save` names the file after it,
    /// persistence/FileTxnSnapLog.java:477-478 / 478-479). `None` for 3.8.0.
    pub last_processed_zxid: Option<i64>,
}

/// The snapshot file's bytes.
pub fn snapshot_file(s: &SnapshotContents<'_>) -> Vec<u8> {
    let mut a = Archive::new();
    FileHeader {
        magic: SNAP_MAGIC,
        version: VERSION,
        dbid: DBID,
    }
    .serialize(&mut a);
    // SerializeUtils.serializeSnapshot copies the sessions into a HashMap and writes them in
    // its order; a reader puts them back into a map, so any order loads the same.
    a.start_vector(s.sessions.len());
    for (id, timeout) in s.sessions {
        a.write_long(id.0 as i64);
        a.write_int(i32::try_from(*timeout).unwrap_or(i32::MAX));
    }
    serialize_acl_cache(s.nodes, &mut a);
    for (path, n) in s.nodes {
        a.write_string(path);
        a.write_buffer(&n.data);
        a.write_long(n.acl.key());
        n.stat.serialize(&mut a);
    }
    a.write_string("/");
    seal(&mut a);
    a.write_long(s.digest.zxid);
    a.write_int(s.digest.digest_version);
    a.write_long(s.digest.digest);
    seal(&mut a);
    if let Some(z) = s.last_processed_zxid {
        a.write_long(z);
        seal(&mut a);
    }
    a.into_bytes()
}

/// `SnapStream.sealStream`: the running checksum of everything written so far, then "/".
fn seal(a: &mut Archive) {
    let sum = Adler32::new().update(a.bytes()).value();
    a.write_long(i64::from(sum));
    a.write_string("/");
}

/// `ReferenceCountedACLCache.serialize`: the ACL lists the znodes refer to. A real cache
/// drops a list once no znode uses it (`removeUsage`), and -1 needs no entry, so the cache
/// holds `READ_ACL_UNSAFE` for `/zookeeper/config` and `OPEN_ACL_UNSAFE` while any client
/// znode exists. It writes its `HashMap` in that map's order, which for these small keys is
/// ascending.
fn serialize_acl_cache(nodes: &ZkNodes, a: &mut Archive) {
    let used: std::collections::BTreeSet<AclRef> = nodes.values().map(|n| n.acl).collect();
    let entries: Vec<(i64, Vec<crate::records::Acl>)> = used
        .into_iter()
        .filter_map(|r| Some((r.key(), r.acls()?)))
        .collect();
    a.start_vector(entries.len());
    for (key, acls) in &entries {
        a.write_long(*key);
        serialize_acls(acls, a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::adler32;
    use crate::tree::system_nodes;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn a_fresh_tree_is_the_real_servers_snapshot_0() {
        // Byte for byte the 457 bytes a real 3.8.0 server wrote as snapshot.0 on its first
        // start (zk-file-formats.md §3.3), seals included.
        let sessions = BTreeMap::new();
        let nodes = system_nodes();
        let b = snapshot_file(&SnapshotContents {
            sessions: &sessions,
            nodes: &nodes,
            digest: ZxidDigest::EMPTY,
            last_processed_zxid: None,
        });
        let zero60 = "00".repeat(60);
        let expected = [
            // FileHeader ZKSN v2 dbid -1, no sessions.
            "5a4b534e00000002ffffffffffffffff00000000".to_string(),
            // ACL cache {1: [(READ, world, anyone)]}.
            "000000010000000000000001000000010000000100000005776f726c6400000006616e796f6e65"
                .to_string(),
            // "" (the root), /zookeeper, /zookeeper/config (ACL 1, aversion -1), quota.
            format!("0000000000000000ffffffffffffffff{zero60}"),
            format!("0000000a2f7a6f6f6b656570657200000000ffffffffffffffff{zero60}"),
            // (czxid, mzxid, ctime, mtime, version, cversion are 40 zero bytes before it.)
            format!(
                "000000112f7a6f6f6b65657065722f636f6e666967000000000000000000000001{}ffffffff{}",
                "00".repeat(40),
                "00".repeat(16)
            ),
            format!("000000102f7a6f6f6b65657065722f71756f746100000000ffffffffffffffff{zero60}"),
            // The end of the nodes, seal #1, the empty digest, seal #2.
            "000000012f".to_string(),
            "00000000b8a23b49000000012f".to_string(),
            "000000000000000000000002".to_string() + "0000000000000000",
            "0000000095b93d59000000012f".to_string(),
        ]
        .concat();
        assert_eq!(hex(&b), expected);
        assert_eq!(b.len(), 457);
    }

    #[test]
    fn version_3_9_4_adds_the_last_processed_zxid_and_a_third_seal() {
        let sessions: BTreeMap<SessionId, u32> = [(SessionId(0x0100_0000_a000_0001), 30000)].into();
        let nodes = system_nodes();
        let c = |z| SnapshotContents {
            sessions: &sessions,
            nodes: &nodes,
            digest: ZxidDigest::EMPTY,
            last_processed_zxid: z,
        };
        let old = snapshot_file(&c(None));
        let new = snapshot_file(&c(Some(0x1_0000_0005)));
        assert_eq!(new.len(), old.len() + 8 + 13);
        assert_eq!(&new[..old.len()], &old[..]);
        assert_eq!(
            &new[old.len()..old.len() + 8],
            &0x1_0000_0005i64.to_be_bytes()
        );
        assert_eq!(
            &new[old.len() + 8..old.len() + 16],
            &(adler32(&new[..old.len() + 8]) as i64).to_be_bytes()
        );
        // The session: count 1, id, timeout.
        assert_eq!(hex(&new[16..32]), "0000000101000000a000000100007530");
        assert_eq!(snapshot_name(Zxid::new(2, 0)), "snapshot.200000000");
    }
}
