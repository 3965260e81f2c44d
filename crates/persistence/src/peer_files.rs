//! The small files a `QuorumPeer` keeps next to its database: `myid` in the data directory,
//! and `acceptedEpoch`, `currentEpoch` in the snapshot directory (`dataDir/version-2`).
//!
//! Citations are to `zookeeper-server/src/main/java/org/apache/zookeeper/server/quorum/` at
//! `release-3.8.0-1`, then `release-3.9.4` where the line moved.

/// `QuorumPeer.ACCEPTED_EPOCH_FILENAME` (QuorumPeer.java:2197 / 2221).
pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";

/// `QuorumPeer.CURRENT_EPOCH_FILENAME` (QuorumPeer.java:2195 / 2219).
pub const CURRENT_EPOCH: &str = "currentEpoch";

/// The marker the model's `fixed` profile keeps while a learner persists what NEWLEADER
/// vouches for: `QuorumPeer.UPDATING_EPOCH_FILENAME` of 3.4 (QuorumPeer.java:1376 at
/// `release-3.4.14`), an empty file in the snapshot directory (Learner.java:445-450 there).
/// Neither 3.8.0 nor 3.9.4 has it; they ignore a file of that name.
pub const UPDATING_EPOCH: &str = "updatingEpoch";

/// `myid` (`QuorumPeerConfig.setupMyId`, QuorumPeerConfig.java:724-743, both tags): the
/// server id in decimal on the first line, which the reader parses with `Long.parseLong`.
pub fn myid(id: zab::ServerId) -> Vec<u8> {
    format!("{}\n", id.0).into_bytes()
}

/// An epoch file as `QuorumPeer.writeLongToFile` writes it (QuorumPeer.java:2207-2215 /
/// 2231-2239): `Long.toString(value)`, decimal with no newline. The release writes it to
/// `<name>.tmp` and renames it over the file (`AtomicFileWritingIdiom`); only the result is
/// written here, since a leftover `currentEpoch.tmp` would mean an interrupted write to
/// `loadDataBase` (QuorumPeer.java:1165-1173 / 1168-1176).
pub fn epoch_file(epoch: u64) -> Vec<u8> {
    epoch.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_decimal_text() {
        assert_eq!(myid(zab::ServerId(3)), b"3\n");
        assert_eq!(epoch_file(0), b"0");
        assert_eq!(epoch_file(12), b"12");
    }
}
