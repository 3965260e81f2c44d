//! What this crate writes, read back by the project's reader of real ZooKeeper txn logs
//! (`conform::txnlog`, which the conformance harness points at real servers' files).

mod common;

use common::{busy_disk, TempDir, SESSION};
use conform::txnlog;
use persistence::{data_dir, write_data_dir, SIM_EPOCH_MS};
use zab::{ServerId, ZkVersion};

#[test]
fn written_logs_read_back_as_the_model_logged_them() {
    let (image, stamps) = busy_disk();
    let tmp = TempDir::new("round-trip");
    let d = data_dir(ServerId(2), &image, ZkVersion::V3_8_0, &stamps);
    write_data_dir(tmp.path(), &d).expect("written");
    let v2 = tmp.path().join("version-2");

    // Each file on its own: its header, and a preallocated tail of zeros, not a torn record.
    for (name, count) in [("log.100000001", 5), ("log.100000006", 4)] {
        let bytes = std::fs::read(v2.join(name)).expect("log file");
        assert_eq!(bytes.len() as u64, 64 * 1024 * 1024 + 16, "{name} padded");
        let f = txnlog::parse(&bytes).expect("a valid log");
        assert_eq!(f.dbid, 0);
        assert!(!f.torn_tail, "{name}");
        assert_eq!(f.records.len(), count, "{name}");
    }

    // All files in order: every txn, with its type, session, cxid and time.
    let records = txnlog::read_dir(&v2).expect("readable");
    let got: Vec<(i64, String)> = records
        .iter()
        .map(|r| (r.zxid, txnlog::txn_type_name(r.txn_type)))
        .collect();
    let want: Vec<(i64, String)> = [
        "error",
        "createSession",
        "create",
        "create",
        "setData",
        "error",
        "create",
        "delete",
        "closeSession",
    ]
    .iter()
    .enumerate()
    .map(|(i, t)| (0x1_0000_0001 + i as i64, t.to_string()))
    .collect();
    assert_eq!(got, want);
    // What each txn does, as the reader decodes it.
    use txnlog::TxnBody as B;
    let bodies: Vec<&B> = records.iter().map(|r| &r.body).collect();
    assert_eq!(
        bodies,
        [
            &B::Error { err: 0 },
            &B::CreateSession { timeout_ms: 4000 },
            &B::Create {
                path: "/app".into(),
                data: b"7".to_vec(),
                ephemeral: false,
                parent_cversion: 1
            },
            &B::Create {
                path: "/app/e".into(),
                data: b"8".to_vec(),
                ephemeral: true,
                parent_cversion: 1
            },
            &B::SetData {
                path: "/app".into(),
                data: b"9".to_vec(),
                version: 1
            },
            &B::Error { err: -110 },
            &B::Create {
                path: "/x".into(),
                data: b"1".to_vec(),
                ephemeral: false,
                parent_cversion: 2
            },
            &B::Delete { path: "/x".into() },
            &B::CloseSession {
                paths: vec!["/app/e".into()]
            },
        ]
    );
    assert_eq!(records[0].client_id, 0, "an initial txn has no session");
    assert_eq!(records[0].time_ms, SIM_EPOCH_MS, "nor a proposal time");
    for (i, r) in records.iter().enumerate().skip(1) {
        assert_eq!(r.client_id, SESSION.0 as i64);
        assert_eq!(r.cxid, i as i32 + 1);
        assert_eq!(r.time_ms, SIM_EPOCH_MS + 1000 * i as i64);
    }
}
