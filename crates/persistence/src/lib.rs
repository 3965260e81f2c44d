//! A simulated server's durable state ([`zab::DiskImage`]) written as the data directory a
//! real ZooKeeper server of the modelled release would have (`sim run --zk-data`), named
//! after `org.apache.zookeeper.server.persistence`, which reads and writes these files.
//!
//! The files are ZooKeeper's own formats, byte for byte where the model holds the
//! information: the txn logs (`log.<hex zxid>`, [`txn_log`]), the snapshots
//! (`snapshot.<hex zxid>`, [`snapshot`]), `acceptedEpoch`, `currentEpoch` and `myid`
//! ([`peer_files`]), laid out as [`data_dir`] says, plus a `zoo.cfg` per server ([`zoo_cfg`])
//! so that a real ensemble can be started on them. Every format detail cites the ZooKeeper
//! source it follows at `release-3.8.0-1` and `release-3.9.4`; where the releases differ
//! (only the snapshot's last section), each is followed, and `fixed` follows 3.9.4.
//!
//! What the model does not hold is chosen, deterministically (docs/zk-data.md):
//! * znode data, a `u64` in the model, is its decimal text, as the project's real clients
//!   write it; every client znode carries `OPEN_ACL_UNSAFE`;
//! * a txn's header time is a fixed epoch plus the simulated time the leader proposed it,
//!   and its session is the one the run recorded for the request ([`stamps`]);
//! * a scenario's initial txns, which only occupy their zxids, are error txns with code 0,
//!   which a real server replays without any change ([`txn`]);
//! * digests are computed over the znodes as written ([`digest`]).
//!
//! Everything here is a pure function of its inputs except [`write_data_dir`], which puts
//! one directory's files on disk. Nothing reads a clock.

pub mod checksum;
pub mod data_dir;
pub mod digest;
pub mod jute;
pub mod peer_files;
pub mod records;
pub mod snapshot;
pub mod stamps;
pub mod tree;
pub mod txn;
pub mod txn_log;
pub mod zoo_cfg;
pub mod zoo_defs;

pub use data_dir::{data_dir, write_data_dir, DataDir, DataFile, VERSION_DIR};
pub use stamps::{Stamps, TxnStamp, SIM_EPOCH_MS};
pub use zoo_cfg::{zoo_cfg, Ensemble, Ports};
