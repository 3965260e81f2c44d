//! The data tree digest ZooKeeper writes after every txn in the log (`TxnDigest`) and at the
//! end of every snapshot (`ZxidDigest`), on by default in both releases
//! (`zookeeper.digest.enabled`, ZooKeeperServer.java:152 / 163).
//!
//! A znode's digest is a CRC-32 of its path, data and stat (`DigestCalculator.calculateDigest`,
//! DigestCalculator.java:57-104, the same at both tags); the tree's is the 64-bit wrapping sum
//! of its znodes' (`AdHash.addDigest`, util/AdHash.java:40-43). Citations are to
//! `zookeeper-server/src/main/java/org/apache/zookeeper/server/`.
//!
//! zabsim computes it over the znodes it writes, so a real server that loads the files and
//! replays the log finds the digests it expects wherever its tree is the model's. Where
//! ZooKeeper's replay builds another tree than the model's, it logs "Digests are not
//! matching" and goes on: a mismatch is a difference between the model and ZooKeeper made
//! visible, never a reason for a real server to refuse the files.

use crate::checksum::crc32;
use crate::records::StatPersisted;
use crate::zoo_defs::ZOOKEEPER_NODE_SUBTREE;

/// `DigestCalculator.DIGEST_VERSION` (DigestCalculator.java:33).
pub const DIGEST_VERSION: i32 = 2;

/// `DigestCalculator.calculateDigest(path, data, stat)`: 0 for anything under `/zookeeper/`
/// (:72-74), the root hashed as `""` whether it is named `""` or `"/"` (:80-82), else the
/// CRC-32 of the path's bytes, the data, and czxid, mzxid, pzxid, ctime, mtime (8 bytes
/// each), version, cversion, aversion (4 each) and ephemeralOwner (8), big-endian (:84-103).
pub fn node_digest(path: &str, data: &[u8], stat: &StatPersisted) -> u64 {
    if path.starts_with(ZOOKEEPER_NODE_SUBTREE) {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut b = Vec::with_capacity(60);
    for l in [stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime] {
        b.extend_from_slice(&l.to_be_bytes());
    }
    for i in [stat.version, stat.cversion, stat.aversion] {
        b.extend_from_slice(&i.to_be_bytes());
    }
    b.extend_from_slice(&stat.ephemeral_owner.to_be_bytes());
    u64::from(crc32(&[path.as_bytes(), data, &b]))
}

/// `AdHash`: the sum of the znodes' digests, wrapping as Java's `long` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdHash(u64);

impl AdHash {
    pub fn add(&mut self, digest: u64) {
        self.0 = self.0.wrapping_add(digest);
    }

    pub fn remove(&mut self, digest: u64) {
        self.0 = self.0.wrapping_sub(digest);
    }

    /// `AdHash.getHash()`, the `long` written to files.
    pub fn value(self) -> i64 {
        self.0 as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fresh_trees_digest_is_the_real_servers() {
        // A fresh DataTree counts the root (as "") and /zookeeper, both with empty data and a
        // zero stat; /zookeeper/config and /zookeeper/quota count 0. A real 3.8.0 server's
        // first TxnDigest on a fresh tree is 0x51c6d660 (zk-file-formats.md §6).
        let zero = StatPersisted::default();
        let mut h = AdHash::default();
        for path in ["", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"] {
            h.add(node_digest(path, &[], &zero));
        }
        assert_eq!(h.value(), 0x51c6_d660);
        assert_eq!(node_digest("/", &[], &zero), node_digest("", &[], &zero));
        h.remove(node_digest("/zookeeper", &[], &zero));
        h.add(node_digest("/zookeeper", &[], &zero));
        assert_eq!(h.value(), 0x51c6_d660);
    }
}
