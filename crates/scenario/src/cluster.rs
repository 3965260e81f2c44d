//! `[cluster]`: who is in the ensemble (from `servers`, `ids` or a zoo.cfg) and its timeouts.

use crate::error::{Result, Source};
use crate::files::read_capped;
use crate::model::Cluster;
use crate::raw::{Int, RawCluster, Str};
use crate::values::{int_in, ms, parse_u32_part, uint, uint32, MAX_U32};
use crate::zoo_cfg::{self, Setting, ZooCfg};
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use zab::{ServerId, Zxid};

/// ZooKeeper has no such limit; the simulator does, to keep runs readable and fast.
const MAX_PARTICIPANTS: usize = 15;

/// The cluster, plus what the committed-zxid check needs once the `[[server]]` logs are known.
pub(crate) struct ClusterOut {
    pub cluster: Cluster,
    pub committed_span: Option<Range<usize>>,
}

pub(crate) fn cluster(src: Source<'_>, raw: &RawCluster) -> Result<ClusterOut> {
    let zoo = match &raw.zoo_cfg {
        Some(path) => {
            let given = [
                ("servers", raw.servers.as_ref().map(Spanned::span)),
                ("ids", raw.ids.as_ref().map(Spanned::span)),
            ];
            if let Some((key, Some(span))) = given.into_iter().find(|(_, s)| s.is_some()) {
                let msg =
                    format!("`{key}` cannot be given with `zoo_cfg`: zoo.cfg lists the servers");
                return Err(src.err(&span, format!("cluster.{key}"), msg));
            }
            Some(read_zoo_cfg(src, path)?)
        }
        None => None,
    };
    let participants = match (&zoo, &raw.servers, &raw.ids) {
        (Some(zoo), _, _) => zoo.participants.clone(),
        // DESIGN.md's example names both: accept that when they agree.
        (None, Some(n), Some(ids)) => {
            let list = explicit_ids(src, ids)?;
            if i64::try_from(list.len()).ok() != Some(*n.get_ref()) {
                let msg = format!(
                    "`servers` and `ids` disagree: {} ids listed; give one or make them agree",
                    list.len()
                );
                return Err(src.err(&ids.span(), "cluster.ids", &msg));
            }
            list
        }
        (None, Some(n), None) => {
            let n = int_in(src, n, "cluster.servers", 1, MAX_PARTICIPANTS as i64)?;
            (1..=n)
                .filter_map(|i| u8::try_from(i).ok())
                .map(ServerId)
                .collect()
        }
        (None, None, Some(ids)) => explicit_ids(src, ids)?,
        (None, None, None) => (1..=3).map(ServerId).collect(),
    };
    let observers = observers(src, raw, zoo.as_ref(), &participants)?;

    let tick_ms = from_either(
        src,
        raw.tick_ms.as_ref(),
        zoo.as_ref().and_then(|z| z.tick_ms),
        "tick_ms",
        "tickTime",
        |v| ms(src, v, "cluster.tick_ms", 1),
    )?;
    let limit = |v: &Int, key: &str| uint32(src, v, &format!("cluster.{key}"), 1, 1_000_000);
    let init_limit = from_either(
        src,
        raw.init_limit.as_ref(),
        zoo.as_ref().and_then(|z| z.init_limit),
        "init_limit",
        "initLimit",
        |v| limit(v, "init_limit"),
    )?;
    let sync_limit = from_either(
        src,
        raw.sync_limit.as_ref(),
        zoo.as_ref().and_then(|z| z.sync_limit),
        "sync_limit",
        "syncLimit",
        |v| limit(v, "sync_limit"),
    )?;

    let committed = raw
        .committed
        .as_ref()
        .map(|c| {
            parse_zxid(c.get_ref()).ok_or_else(|| {
                let msg = format!("expected a zxid \"epoch:counter\", got {:?}", c.get_ref());
                src.err(&c.span(), "cluster.committed", msg)
            })
        })
        .transpose()?;
    let snap_count = match &raw.snap_count {
        Some(v) => uint32(src, v, "cluster.snap_count", 1, u32::MAX)?,
        None => crate::model::defaults::SNAP_COUNT,
    };
    let initial_zxid_counter = match &raw.initial_zxid_counter {
        Some(v) => uint(src, v, "cluster.initial_zxid_counter", 0, MAX_U32 - 1)?,
        None => crate::model::defaults::INITIAL_ZXID_COUNTER,
    };
    Ok(ClusterOut {
        cluster: Cluster {
            participants,
            observers,
            tick_ms: tick_ms.unwrap_or(crate::model::defaults::TICK_MS),
            init_limit: init_limit.unwrap_or(crate::model::defaults::INIT_LIMIT),
            sync_limit: sync_limit.unwrap_or(crate::model::defaults::SYNC_LIMIT),
            committed,
            snap_count,
            initial_zxid_counter,
        },
        committed_span: raw.committed.as_ref().map(Spanned::span),
    })
}

/// A setting that may come from the scenario or from zoo.cfg, but not both: silently
/// preferring one would hide which timeout a run actually used.
fn from_either<T: Copy>(
    src: Source<'_>,
    scenario: Option<&Int>,
    zoo: Option<Setting<T>>,
    key: &str,
    zoo_key: &str,
    check: impl Fn(&Int) -> Result<T>,
) -> Result<Option<T>> {
    match (scenario, zoo) {
        (Some(v), Some(z)) => {
            let msg = format!(
                "given both in zoo.cfg ({zoo_key}, line {}) and in [cluster]",
                z.line
            );
            Err(src.err(&v.span(), format!("cluster.{key}"), msg))
        }
        (Some(v), None) => check(v).map(Some),
        (None, z) => Ok(z.map(|z| z.value)),
    }
}

fn explicit_ids(src: Source<'_>, ids: &Spanned<Vec<Int>>) -> Result<Vec<ServerId>> {
    let list = ids.get_ref();
    if list.is_empty() || list.len() > MAX_PARTICIPANTS {
        let msg = format!(
            "must list between 1 and {MAX_PARTICIPANTS} ids, got {}",
            list.len()
        );
        return Err(src.err(&ids.span(), "cluster.ids", msg));
    }
    let mut seen = BTreeSet::new();
    for (i, v) in list.iter().enumerate() {
        let key = format!("cluster.ids[{i}]");
        let id = int_in(src, v, &key, 1, 255)?;
        let id = ServerId(u8::try_from(id).unwrap_or(0));
        if !seen.insert(id) {
            return Err(src.err(&v.span(), key, format!("server {} is listed twice", id.0)));
        }
    }
    Ok(seen.into_iter().collect())
}

fn observers(
    src: Source<'_>,
    raw: &RawCluster,
    zoo: Option<&ZooCfg>,
    participants: &[ServerId],
) -> Result<Vec<ServerId>> {
    let from_zoo = zoo.map(|z| z.observers.clone()).unwrap_or_default();
    let Some(n) = &raw.observers else {
        return Ok(from_zoo);
    };
    if !from_zoo.is_empty() {
        let msg = "given both in zoo.cfg (server.N=...:observer) and in [cluster]";
        return Err(src.err(&n.span(), "cluster.observers", msg));
    }
    let count = int_in(src, n, "cluster.observers", 0, 255)?;
    let largest = participants
        .iter()
        .map(|s| i64::from(s.0))
        .max()
        .unwrap_or(0);
    // Both are at most 255 here, so the sum cannot overflow.
    if largest + count > 255 {
        let msg = format!(
            "{count} observers after the largest participant id {largest} would need ids above 255"
        );
        return Err(src.err(&n.span(), "cluster.observers", msg));
    }
    Ok((1..=count)
        .filter_map(|i| u8::try_from(largest + i).ok())
        .map(ServerId)
        .collect())
}

fn read_zoo_cfg(src: Source<'_>, path: &Str) -> Result<ZooCfg> {
    let resolved = src
        .file
        .parent()
        .unwrap_or(Path::new(""))
        .join(path.get_ref());
    let err = |msg: String| src.err(&path.span(), "cluster.zoo_cfg", msg);
    let text = read_capped(&resolved)
        .map_err(|e| err(format!("cannot read {}: {e}", resolved.display())))?;
    let zoo = zoo_cfg::parse(&text, &resolved)?;
    let n = zoo.participants.len();
    if n == 0 || n > MAX_PARTICIPANTS {
        return Err(err(format!(
            "{} must list between 1 and {MAX_PARTICIPANTS} participants (server.N lines), got {n}",
            resolved.display()
        )));
    }
    Ok(zoo)
}

/// `"e:c"`.
pub(crate) fn parse_zxid(s: &str) -> Option<Zxid> {
    let (epoch, counter) = s.trim().split_once(':')?;
    Some(Zxid::new(parse_u32_part(epoch)?, parse_u32_part(counter)?))
}
