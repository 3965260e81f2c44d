//! The jute records ZooKeeper's files are made of, with ZooKeeper's names and field order.
//!
//! Each is declared in `zookeeper-jute/src/main/resources/zookeeper.jute` (cited as
//! `jute:LINE`, at `release-3.8.0-1` then `release-3.9.4`, where 3.9.4's added
//! `ConnectRequest.readOnly` fields moved the later modules down by two lines) and
//! serialized by the generated class field by field, in declaration order, with no framing
//! (`BinaryOutputArchive.startRecord`/`endRecord` write nothing).

use crate::jute::Archive;

/// A jute record: serializes its fields in declaration order.
pub trait Record {
    fn serialize(&self, a: &mut Archive);
}

/// `Id { ustring scheme; ustring id; }` (jute:20-23, both tags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Id {
    pub scheme: &'static str,
    pub id: &'static str,
}

impl Record for Id {
    fn serialize(&self, a: &mut Archive) {
        a.write_string(self.scheme);
        a.write_string(self.id);
    }
}

/// `ACL { int perms; Id id; }` (jute:24-27, both tags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Record for Acl {
    fn serialize(&self, a: &mut Archive) {
        a.write_int(self.perms);
        self.id.serialize(a);
    }
}

/// `vector<org.apache.zookeeper.data.ACL>` as a generated class writes it.
pub fn serialize_acls(acls: &[Acl], a: &mut Archive) {
    a.start_vector(acls.len());
    for acl in acls {
        acl.serialize(a);
    }
}

/// `StatPersisted` (jute:43-53, both tags): a znode's stat as snapshots hold it. The child
/// count and data length are not stored; a loading server rebuilds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatPersisted {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
}

impl Record for StatPersisted {
    fn serialize(&self, a: &mut Archive) {
        a.write_long(self.czxid);
        a.write_long(self.mzxid);
        a.write_long(self.ctime);
        a.write_long(self.mtime);
        a.write_int(self.version);
        a.write_int(self.cversion);
        a.write_int(self.aversion);
        a.write_long(self.ephemeral_owner);
        a.write_long(self.pzxid);
    }
}

/// `FileHeader { int magic; int version; long dbid; }` (jute:283-287 / 285-289): the first
/// 16 bytes of every txn log and snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileHeader {
    pub magic: i32,
    pub version: i32,
    pub dbid: i64,
}

impl Record for FileHeader {
    fn serialize(&self, a: &mut Archive) {
        a.write_int(self.magic);
        a.write_int(self.version);
        a.write_long(self.dbid);
    }
}

/// `TxnDigest { int version; long treeDigest; }` (jute:291-294 / 293-296): the data tree's
/// digest after the txn, appended to a log record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnDigest {
    pub version: i32,
    pub tree_digest: i64,
}

impl Record for TxnDigest {
    fn serialize(&self, a: &mut Archive) {
        a.write_int(self.version);
        a.write_long(self.tree_digest);
    }
}

/// `TxnHeader { long clientId; int cxid; long zxid; long time; int type; }` (jute:295-301 /
/// 297-303).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnHeader {
    /// The session the txn belongs to.
    pub client_id: i64,
    /// The client's request number.
    pub cxid: i32,
    pub zxid: i64,
    /// The leader's wall clock when it prepared the txn, in ms since the Unix epoch.
    pub time: i64,
    /// `ZooDefs.OpCode`.
    pub txn_type: i32,
}

impl Record for TxnHeader {
    fn serialize(&self, a: &mut Archive) {
        a.write_long(self.client_id);
        a.write_int(self.cxid);
        a.write_long(self.zxid);
        a.write_long(self.time);
        a.write_int(self.txn_type);
    }
}

/// `CreateTxn` (jute:308-314 / 310-316).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTxn {
    pub path: String,
    pub data: Vec<u8>,
    pub acl: Vec<Acl>,
    pub ephemeral: bool,
    pub parent_c_version: i32,
}

impl Record for CreateTxn {
    fn serialize(&self, a: &mut Archive) {
        a.write_string(&self.path);
        a.write_buffer(&self.data);
        serialize_acls(&self.acl, a);
        a.write_bool(self.ephemeral);
        a.write_int(self.parent_c_version);
    }
}

/// `DeleteTxn { ustring path; }` (jute:328-330 / 330-332).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteTxn {
    pub path: String,
}

impl Record for DeleteTxn {
    fn serialize(&self, a: &mut Archive) {
        a.write_string(&self.path);
    }
}

/// `SetDataTxn { ustring path; buffer data; int version; }` (jute:331-335 / 333-337).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetDataTxn {
    pub path: String,
    pub data: Vec<u8>,
    pub version: i32,
}

impl Record for SetDataTxn {
    fn serialize(&self, a: &mut Archive) {
        a.write_string(&self.path);
        a.write_buffer(&self.data);
        a.write_int(self.version);
    }
}

/// `CreateSessionTxn { int timeOut; }` (jute:349-351 / 351-353).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateSessionTxn {
    pub time_out: i32,
}

impl Record for CreateSessionTxn {
    fn serialize(&self, a: &mut Archive) {
        a.write_int(self.time_out);
    }
}

/// `CloseSessionTxn { vector<ustring> paths2Delete; }` (jute:352-354 / 354-356).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseSessionTxn {
    pub paths2_delete: Vec<String>,
}

impl Record for CloseSessionTxn {
    fn serialize(&self, a: &mut Archive) {
        a.start_vector(self.paths2_delete.len());
        for p in &self.paths2_delete {
            a.write_string(p);
        }
    }
}

/// `ErrorTxn { int err; }` (jute:355-357 / 357-359).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorTxn {
    pub err: i32,
}

impl Record for ErrorTxn {
    fn serialize(&self, a: &mut Archive) {
        a.write_int(self.err);
    }
}

/// The txn record that follows a `TxnHeader` (the `Record txn` of
/// `Util.marshallTxnEntry`), one of the kinds zabsim's model produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnRecord {
    CreateSession(CreateSessionTxn),
    CloseSession(CloseSessionTxn),
    Create(CreateTxn),
    Delete(DeleteTxn),
    SetData(SetDataTxn),
    Error(ErrorTxn),
}

impl Record for TxnRecord {
    fn serialize(&self, a: &mut Archive) {
        match self {
            TxnRecord::CreateSession(t) => t.serialize(a),
            TxnRecord::CloseSession(t) => t.serialize(a),
            TxnRecord::Create(t) => t.serialize(a),
            TxnRecord::Delete(t) => t.serialize(a),
            TxnRecord::SetData(t) => t.serialize(a),
            TxnRecord::Error(t) => t.serialize(a),
        }
    }
}

/// Serializes a record into a fresh byte vector.
pub fn to_bytes(r: &impl Record) -> Vec<u8> {
    let mut a = Archive::new();
    r.serialize(&mut a);
    a.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo_defs::open_acl_unsafe;

    #[test]
    fn a_stat_persisted_is_60_bytes_a_header_32_a_digest_12() {
        assert_eq!(to_bytes(&StatPersisted::default()).len(), 60);
        let hdr = TxnHeader {
            client_id: 1,
            cxid: 2,
            zxid: 3,
            time: 4,
            txn_type: 5,
        };
        assert_eq!(to_bytes(&hdr).len(), 32);
        let d = TxnDigest {
            version: 2,
            tree_digest: 1,
        };
        assert_eq!(to_bytes(&d).len(), 12);
    }

    #[test]
    fn a_create_txn_has_the_spec_example_bytes() {
        // The body of the create in the verified example log (zk-file-formats.md §6).
        let t = CreateTxn {
            path: "/a".into(),
            data: b"1".to_vec(),
            acl: open_acl_unsafe(),
            ephemeral: false,
            parent_c_version: 1,
        };
        let hex: String = to_bytes(&t).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "000000022f610000000131000000010000001f00000005776f726c6400000006616e796f6e650000000001"
        );
    }
}
