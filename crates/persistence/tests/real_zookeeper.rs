//! ZooKeeper's own tools read what this crate writes: `TxnLogToolkit` lists every txn of a
//! log, `SnapshotFormatter` every znode and session of a snapshot. Skipped (loudly) when
//! java or ZooKeeper is missing, unless ZABSIM_REQUIRE_ZK=1.

mod common;

use common::{busy_disk, TempDir};
use conform::Install;
use persistence::{data_dir, write_data_dir};
use std::path::Path;
use std::process::Command;
use zab::{ServerId, ZkVersion};

fn install() -> Option<Install> {
    Install::debian_or_skip("reading the written files with ZooKeeper's own tools")
}

/// Runs one of ZooKeeper's command-line classes and returns its stdout; the JVM exits by
/// itself (these tools read a file, print it and end).
fn zk_tool(install: &Install, class: &str, args: &[&Path]) -> String {
    let out = Command::new(&install.java)
        .arg("-Duser.timezone=UTC")
        .arg("-Duser.language=en")
        .arg("-Duser.country=US")
        .arg("-cp")
        .arg(install.classpath_arg())
        .arg(class)
        .args(args)
        .output()
        .expect("java runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{class} {args:?}: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const TXN_LOG_TOOLKIT: &str = "org.apache.zookeeper.server.persistence.TxnLogToolkit";
const SNAPSHOT_FORMATTER: &str = "org.apache.zookeeper.server.SnapshotFormatter";

fn assert_lines(out: &str, want: &[&str]) {
    for w in want {
        assert!(out.contains(w), "{w:?} missing from\n{out}");
    }
    assert!(!out.contains("CRC ERROR"), "{out}");
}

#[test]
fn txn_log_toolkit_and_snapshot_formatter_read_the_files() {
    let Some(install) = install() else { return };
    let (image, stamps) = busy_disk();
    // The log format is the same in both releases; 3.9.4's snapshot has one more section,
    // after everything SnapshotFormatter reads.
    for version in [ZkVersion::V3_8_0, ZkVersion::V3_9_4] {
        let tmp = TempDir::new(&format!("tools-{version}"));
        let d = data_dir(ServerId(1), &image, version, &stamps);
        write_data_dir(tmp.path(), &d).expect("written");
        let v2 = tmp.path().join("version-2");

        let out = zk_tool(&install, TXN_LOG_TOOLKIT, &[&v2.join("log.100000001")]);
        assert!(
            out.starts_with(
                "ZooKeeper Transactional Log File with dbid 0 txnlog format version 2\n"
            ),
            "{out}"
        );
        assert_lines(
            &out,
            &[
                "11/14/23, 10:13:20 PM UTC session 0x0 cxid 0x0 zxid 0x100000001 error 0\n",
                "10:13:21 PM UTC session 0x1000000a0000001 cxid 0x2 zxid 0x100000002 createSession 4000\n",
                "cxid 0x3 zxid 0x100000003 create /app,7,[31,s{'world,'anyone}\n],false,1\n",
                "cxid 0x4 zxid 0x100000004 create /app/e,8,[31,s{'world,'anyone}\n],true,1\n",
                "10:13:24 PM UTC session 0x1000000a0000001 cxid 0x5 zxid 0x100000005 setData /app,9,1\n",
                "EOF reached after 5 txns.",
            ],
        );
        let out = zk_tool(&install, TXN_LOG_TOOLKIT, &[&v2.join("log.100000006")]);
        assert_lines(
            &out,
            &[
                "zxid 0x100000006 error -110\n",
                "zxid 0x100000007 create /x,1,[31,s{'world,'anyone}\n],false,2\n",
                "zxid 0x100000008 delete '/x\n",
                "zxid 0x100000009 closeSession v{'/app/e}\n",
                "EOF reached after 4 txns.",
            ],
        );

        // -d prints each znode's data in base64: "9" is OQ==, "8" OA==.
        let snap = v2.join("snapshot.100000005");
        let out = zk_tool(&install, SNAPSHOT_FORMATTER, &[Path::new("-d"), &snap]);
        assert_lines(
            &out,
            &[
                "ZNode Details (count=7):\n",
                "\n/app\n  cZxid = 0x00000100000003\n  ctime = Tue Nov 14 22:13:22 UTC 2023\n  mZxid = 0x00000100000005\n  mtime = Tue Nov 14 22:13:24 UTC 2023\n  pZxid = 0x00000100000004\n  cversion = 1\n  dataVersion = 1\n",
                "  data = OQ==\n",
                "\n/app/e\n",
                "  ephemeralOwner = 0x1000000a0000001\n  data = OA==\n",
                "\n/zookeeper/config\n",
                "Session Details (sid, timeout, ephemeralCount):\n0x1000000a0000001, 4000, 1\n",
                "Last zxid: 0x100000005\n",
            ],
        );
        let out = zk_tool(&install, SNAPSHOT_FORMATTER, &[&v2.join("snapshot.0")]);
        // The root counts twice (DataTree keeps it as "" and "/").
        assert_lines(&out, &["ZNode Details (count=5):\n", "Last zxid: 0x0\n"]);
    }
}
