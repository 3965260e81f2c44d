//! The final reads: once the clients have stopped, an auditor reads back, from each server
//! in turn, every znode the clients changed with an acknowledged write.
//!
//! The checkers judge a read against the acknowledged writes (a server answering at zxid r
//! must show every acknowledged write up to r), so these reads ask each server what it
//! really serves at the end. A server's txn log is not enough for that: a follower that
//! logged synced txns but never applied them (ZOOKEEPER-4646) serves a tree its log does
//! not show. Jepsen ends its ZooKeeper tests with final reads for the same reason.
//!
//! There is one auditor per server, numbered after the scenario's clients in server order,
//! each connecting through its own proxy (so its answers' reply-header zxids are recorded
//! like everyone's) to its one server, with a session left to expire afterwards. A server
//! that does not accept a session within a few seconds (down, or electing) is skipped and
//! named in its auditor's `problems`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use zab::client_api::{ClientEvent, ClientOp, SessionId};
use zab::{Path, ServerId};
use zookeeper_client as zk;

use super::{ops, ClientRecord, TimedEvent};

/// How long a server has to accept the auditor's session.
const CONNECT: Duration = Duration::from_secs(3);

/// Reads `paths` from server `id` at `addr` (the auditor's proxy for it), as client `client`.
pub(super) fn audit(
    client: u32,
    (id, addr): (u64, SocketAddr),
    paths: &[Path],
    t0: Instant,
) -> ClientRecord {
    let mut record = ClientRecord::new(client, vec![id], t0.elapsed().as_secs_f64() * 1000.0);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            record
                .problems
                .push(format!("no runtime for the audit: {e}"));
            return record;
        }
    };
    let ms = || t0.elapsed().as_secs_f64() * 1000.0;
    let server = ServerId(u8::try_from(id).unwrap_or(u8::MAX));
    {
        let address = addr.to_string();
        let connect = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(4))
            .with_detached()
            .connect(&address);
        let client = match rt.block_on(async { tokio::time::timeout(CONNECT, connect).await }) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                record.problems.push(format!("s{id} not audited: {e}"));
                return record;
            }
            Err(_) => {
                record
                    .problems
                    .push(format!("s{id} not audited: no session within {CONNECT:?}"));
                return record;
            }
        };
        let session = SessionId(client.session_id().0 as u64);
        record.sessions.push(session.0 as i64);
        let at = ms();
        record.events.push(TimedEvent {
            time_ms: at,
            event: ClientEvent::Connecting { server },
        });
        record.events.push(TimedEvent {
            time_ms: at,
            event: ClientEvent::Connected {
                session,
                server,
                timeout_ms: client.session_timeout().as_millis() as u32,
            },
        });
        // Each session numbers its requests from 1 (see the module docs of `client`).
        for (cxid, path) in (1u64..).zip(paths) {
            let op = cxid;
            let request = ClientOp::GetData {
                path: path.clone(),
                watch: false,
            };
            record.events.push(TimedEvent {
                time_ms: ms(),
                event: ClientEvent::Submitted {
                    op,
                    cxid,
                    server,
                    request: request.clone(),
                },
            });
            let (result, _) = rt.block_on(ops::send(&client, &request));
            record.events.push(TimedEvent {
                time_ms: ms(),
                event: ClientEvent::Answered {
                    op,
                    cxid,
                    zxid: None,
                    result,
                },
            });
        }
        drop(client);
    }
    record.finished = true;
    record
}
