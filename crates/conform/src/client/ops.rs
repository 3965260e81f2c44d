//! The simulator's client operations carried out with `zookeeper-client`, and its answers
//! put back into the simulator's vocabulary, so a recipe program cannot tell a real server
//! from a simulated one.
//!
//! Znode data is a number in the model; on the wire it is that number in decimal text, which
//! is also what a person reading the real servers' data sees.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use zab::client_api::{ClientOp, CreateMode, EventType, KeeperError, OpResult, Reply, Stat};
use zab::client_api::{SessionId, WatchedEvent};
use zab::{Path, Zxid};
use zookeeper_client as zk;

/// A request on its way: resolves to the answer and, for a watching read that succeeded, the
/// watch it armed.
pub(super) type InFlight =
    Pin<Box<dyn Future<Output = (OpResult, Option<zk::OneshotWatcher>)> + Send>>;

/// Queues `op` with the library at once and returns what resolves to its answer.
///
/// The library numbers a request (its xid, the model's cxid) and queues it for the wire when
/// the call that makes it runs, so requests keep the order they are issued in only if each
/// call runs before the next request is made. The futures below make their call on their
/// first poll, so `send` polls once, there and then.
pub(super) fn send(client: &zk::Client, op: &ClientOp) -> InFlight {
    let mut f = request(client, op);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(answer) => Box::pin(std::future::ready(answer)),
        Poll::Pending => f,
    }
}

fn request(client: &zk::Client, op: &ClientOp) -> InFlight {
    match op.clone() {
        ClientOp::Create { path, data, mode } => {
            let client = client.clone();
            let zk_mode = match mode {
                CreateMode::Persistent => zk::CreateMode::Persistent,
                CreateMode::PersistentSequential => zk::CreateMode::PersistentSequential,
                CreateMode::Ephemeral => zk::CreateMode::Ephemeral,
                CreateMode::EphemeralSequential => zk::CreateMode::EphemeralSequential,
            };
            let bytes = data.to_string().into_bytes();
            Box::pin(async move {
                let options = zk_mode.with_acls(zk::Acls::anyone_all());
                let r = client.create(path.as_str(), &bytes, &options).await;
                let r = r.map(|(_, seq)| Reply::Created {
                    path: if mode.is_sequential() {
                        Path::from(format!("{path}{seq}").as_str())
                    } else {
                        path.clone()
                    },
                });
                (r.map_err(|e| keeper_error(&e)), None)
            })
        }
        ClientOp::Delete { path, version } => {
            let f = client.delete(path.as_str(), (version >= 0).then_some(version));
            Box::pin(async move {
                let r = f.await.map(|()| Reply::Deleted);
                (r.map_err(|e| keeper_error(&e)), None)
            })
        }
        ClientOp::SetData {
            path,
            data,
            version,
        } => {
            let f = client.set_data(
                path.as_str(),
                data.to_string().as_bytes(),
                (version >= 0).then_some(version),
            );
            Box::pin(async move {
                let r = f.await.map(|s| Reply::SetData { stat: stat(&s) });
                (r.map_err(|e| keeper_error(&e)), None)
            })
        }
        ClientOp::GetData { path, watch: false } => {
            let f = client.get_data(path.as_str());
            Box::pin(async move {
                let r = f.await.map(|(d, s)| Reply::Data {
                    data: number(&d),
                    stat: stat(&s),
                });
                (r.map_err(|e| keeper_error(&e)), None)
            })
        }
        ClientOp::GetData { path, watch: true } => {
            let client = client.clone();
            Box::pin(async move {
                match client.get_and_watch_data(path.as_str()).await {
                    Ok((d, s, w)) => (
                        Ok(Reply::Data {
                            data: number(&d),
                            stat: stat(&s),
                        }),
                        Some(w),
                    ),
                    Err(e) => (Err(keeper_error(&e)), None),
                }
            })
        }
        ClientOp::Exists { path, watch: false } => {
            let f = client.check_stat(path.as_str());
            Box::pin(async move {
                let r = f.await.map(|s| Reply::Exists {
                    stat: s.as_ref().map(stat),
                });
                (r.map_err(|e| keeper_error(&e)), None)
            })
        }
        ClientOp::Exists { path, watch: true } => {
            let client = client.clone();
            Box::pin(async move {
                match client.check_and_watch_stat(path.as_str()).await {
                    Ok((s, w)) => (
                        Ok(Reply::Exists {
                            stat: s.as_ref().map(stat),
                        }),
                        Some(w),
                    ),
                    Err(e) => (Err(keeper_error(&e)), None),
                }
            })
        }
        ClientOp::GetChildren { path, watch: false } => {
            let client = client.clone();
            Box::pin(async move {
                let r = client.list_children(path.as_str()).await.map(children);
                (r.map_err(|e| keeper_error(&e)), None)
            })
        }
        ClientOp::GetChildren { path, watch: true } => {
            let client = client.clone();
            Box::pin(async move {
                match client.list_and_watch_children(path.as_str()).await {
                    Ok((c, w)) => (Ok(children(c)), Some(w)),
                    Err(e) => (Err(keeper_error(&e)), None),
                }
            })
        }
        ClientOp::Sync { path } => {
            let client = client.clone();
            Box::pin(async move {
                let r = client.sync(path.as_str()).await.map(|()| Reply::Synced);
                (r.map_err(|e| keeper_error(&e)), None)
            })
        }
        // No program closes its session (a crashed or finished client leaves it to expire),
        // so the library's close, which consumes the client, is never needed.
        ClientOp::CloseSession => Box::pin(async { (Err(KeeperError::BadArguments), None) }),
    }
}

fn children(mut names: Vec<String>) -> Reply {
    names.sort();
    Reply::Children { children: names }
}

/// A znode's data as the model's number; a node the programs did not write reads as 0.
fn number(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn zxid(z: i64) -> Zxid {
    Zxid(u64::try_from(z).unwrap_or(0))
}

pub(super) fn stat(s: &zk::Stat) -> Stat {
    Stat {
        czxid: zxid(s.czxid),
        mzxid: zxid(s.mzxid),
        pzxid: zxid(s.pzxid),
        version: s.version,
        cversion: s.cversion,
        ephemeral_owner: SessionId(s.ephemeral_owner as u64),
        num_children: u32::try_from(s.num_children).unwrap_or(0),
    }
}

/// The library's error as the code a Java client would see. Everything that is not a
/// server's definite answer (a timeout, an I/O error, a closed client) leaves the outcome
/// unknown, which is what CONNECTIONLOSS means.
pub(super) fn keeper_error(e: &zk::Error) -> KeeperError {
    use zk::Error as E;
    match e {
        E::NoNode => KeeperError::NoNode,
        E::NodeExists => KeeperError::NodeExists,
        E::BadVersion => KeeperError::BadVersion,
        E::NotEmpty => KeeperError::NotEmpty,
        E::NoChildrenForEphemerals => KeeperError::NoChildrenForEphemerals,
        E::SessionExpired => KeeperError::SessionExpired,
        E::BadArguments(_) => KeeperError::BadArguments,
        E::SessionMoved => KeeperError::SessionMoved,
        _ => KeeperError::ConnectionLoss,
    }
}

/// A watch firing as the model's event; `None` for session events (the expiry that ends
/// every watch reaches the program as `Expired` instead). The zxid is the triggering txn's
/// where the server sends it (3.9), and zero where it sends −1 (3.8.0).
pub(super) fn watched(e: &zk::WatchedEvent) -> Option<WatchedEvent> {
    let kind = match e.event_type {
        zk::EventType::NodeCreated => EventType::NodeCreated,
        zk::EventType::NodeDeleted => EventType::NodeDeleted,
        zk::EventType::NodeDataChanged => EventType::NodeDataChanged,
        zk::EventType::NodeChildrenChanged => EventType::NodeChildrenChanged,
        _ => return None,
    };
    Some(WatchedEvent {
        kind,
        path: Path::from(e.path.as_str()),
        zxid: zxid(e.zxid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_decimal_text() {
        assert_eq!(number(b"4294967301"), 4294967301);
        assert_eq!(number(b""), 0);
    }

    #[test]
    fn only_a_server_answer_is_a_definite_error() {
        assert_eq!(
            keeper_error(&zk::Error::NodeExists),
            KeeperError::NodeExists
        );
        assert_eq!(
            keeper_error(&zk::Error::Timeout),
            KeeperError::ConnectionLoss
        );
        assert_eq!(
            keeper_error(&zk::Error::ConnectionLoss),
            KeeperError::ConnectionLoss
        );
    }
}
