//! `[[server]]`: the durable state a server starts from, like a TLA+ initial state, and the
//! `[cluster] committed` claim about it.
//!
//! The initial state is checked for what ZooKeeper itself guarantees on disk (currentEpoch <=
//! acceptedEpoch, no logged zxid from a later epoch than acceptedEpoch, a log in zxid order), so
//! that a violation found later is the protocol's fault, not the scenario's.

use crate::error::{Result, ScenarioError, Source};
use crate::model::{Cluster, ServerInit};
use crate::raw::{Int, RawServer, Str};
use crate::values::{int_in, parse_u32_part, uint, MAX_U32};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use toml::Spanned;
use zab::{ServerId, Zxid};

/// A bigger initial log is a scenario for a benchmark, not a protocol corner case.
const MAX_LOG_TXNS: u64 = 100_000;
/// The same across all `[[server]]` tables, so that the expanded logs stay small in memory.
const MAX_TOTAL_LOG_TXNS: usize = 1_000_000;

pub(crate) fn servers(
    src: Source<'_>,
    raw: &[Spanned<RawServer>],
    cluster: &Cluster,
) -> Result<Vec<ServerInit>> {
    let mut seen: BTreeMap<ServerId, usize> = BTreeMap::new();
    let mut out = Vec::with_capacity(raw.len());
    let mut total: usize = 0;
    for (i, table) in raw.iter().enumerate() {
        let init = server(src, table, &format!("server[{i}]"), cluster)?;
        if let Some(first) = seen.insert(init.id, i) {
            let span = table
                .get_ref()
                .id
                .as_ref()
                .map_or(table.span(), Spanned::span);
            let msg = format!(
                "server {} already has a [[server]] table (server[{first}])",
                init.id.0
            );
            return Err(src.err(&span, format!("server[{i}].id"), msg));
        }
        total = total.saturating_add(init.log.len());
        if total > MAX_TOTAL_LOG_TXNS {
            let span = table
                .get_ref()
                .log
                .as_ref()
                .and_then(|l| l.first())
                .map_or(table.span(), Spanned::span);
            let msg =
                format!("the [[server]] logs hold more than {MAX_TOTAL_LOG_TXNS} txns in total");
            return Err(src.err(&span, format!("server[{i}].log"), msg));
        }
        out.push(init);
    }
    Ok(out)
}

fn server(
    src: Source<'_>,
    table: &Spanned<RawServer>,
    key: &str,
    cluster: &Cluster,
) -> Result<ServerInit> {
    let raw = table.get_ref();
    let Some(id_raw) = &raw.id else {
        return Err(src.err(
            &table.span(),
            format!("{key}.id"),
            "required key is missing",
        ));
    };
    let id = int_in(src, id_raw, &format!("{key}.id"), 1, 255)?;
    let id = ServerId(u8::try_from(id).unwrap_or(0));
    if !cluster.all().any(|s| s == id) {
        let ids: Vec<String> = cluster.all().map(|s| s.0.to_string()).collect();
        let msg = format!(
            "there is no server {}; the ids are {}",
            id.0,
            ids.join(", ")
        );
        return Err(src.err(&id_raw.span(), format!("{key}.id"), msg));
    }
    let epoch = |v: &Option<Int>, name: &str| {
        v.as_ref().map_or(Ok(0), |v| {
            uint(src, v, &format!("{key}.{name}"), 0, MAX_U32)
        })
    };
    let accepted_epoch = epoch(&raw.accepted_epoch, "accepted_epoch")?;
    let current_epoch = epoch(&raw.current_epoch, "current_epoch")?;
    if current_epoch > accepted_epoch {
        let span = raw
            .current_epoch
            .as_ref()
            .map_or(table.span(), Spanned::span);
        let msg = format!(
            "current_epoch {current_epoch} is greater than accepted_epoch {accepted_epoch}; \
             a server accepts an epoch before it adopts it"
        );
        return Err(src.err(&span, format!("{key}.current_epoch"), msg));
    }
    let log = match &raw.log {
        Some(ranges) => log(src, ranges, &format!("{key}.log"), accepted_epoch)?,
        None => Vec::new(),
    };
    Ok(ServerInit {
        id,
        accepted_epoch,
        current_epoch,
        log,
    })
}

/// Expands `["1:1-4", "2:1-5", "3:7"]` into ascending zxids.
fn log(src: Source<'_>, ranges: &[Str], key: &str, accepted_epoch: u64) -> Result<Vec<Zxid>> {
    let mut parsed = Vec::with_capacity(ranges.len());
    let mut total: u64 = 0;
    let mut last: Option<Zxid> = None;
    for (i, entry) in ranges.iter().enumerate() {
        let key = format!("{key}[{i}]");
        let err = |msg: String| src.err(&entry.span(), key.as_str(), msg);
        let text = entry.get_ref().trim();
        let (epoch, first, end) = parse_log_range(text).ok_or_else(|| {
            err(format!(
                "expected \"epoch:first-last\" or \"epoch:counter\" (counters from 1, \
                 epochs and counters below 2^32), got {text:?}"
            ))
        })?;
        if first > end {
            return Err(err(format!(
                "range {text:?} runs backwards: {first} > {end}"
            )));
        }
        if epoch > accepted_epoch {
            return Err(err(format!(
                "zxids of epoch {epoch} cannot be logged by a server whose accepted_epoch is \
                 {accepted_epoch}"
            )));
        }
        let (lo, hi) = (Zxid::new(epoch, first), Zxid::new(epoch, end));
        if let Some(prev) = last.filter(|&prev| lo <= prev) {
            return Err(err(format!(
                "{text:?} does not come after the previous entry, which ends at {prev}; \
                 ranges must be ascending and must not overlap"
            )));
        }
        total = total.saturating_add(end - first + 1);
        if total > MAX_LOG_TXNS {
            return Err(err(format!("the log holds more than {MAX_LOG_TXNS} txns")));
        }
        last = Some(hi);
        parsed.push((epoch, first, end));
    }
    Ok(parsed
        .into_iter()
        .flat_map(|(epoch, first, end)| (first..=end).map(move |c| Zxid::new(epoch, c)))
        .collect())
}

/// `"e:first-last"` or `"e:c"`, with counters from 1.
fn parse_log_range(text: &str) -> Option<(u64, u64, u64)> {
    let (epoch, counters) = text.split_once(':')?;
    let (first, end) = counters.split_once('-').unwrap_or((counters, counters));
    let (epoch, first, end) = (
        parse_u32_part(epoch)?,
        parse_u32_part(first)?,
        parse_u32_part(end)?,
    );
    (first >= 1 && end >= 1).then_some((epoch, first, end))
}

/// `committed = "e:c"` claims that every initial txn up to that zxid is committed; that is only
/// true if a quorum of participants logged each of them.
pub(crate) fn check_committed(
    src: Source<'_>,
    span: &Range<usize>,
    cluster: &Cluster,
    servers: &[ServerInit],
) -> Result<()> {
    let Some(committed) = cluster.committed else {
        return Ok(());
    };
    let err = |msg: String| -> ScenarioError { src.err(span, "cluster.committed", msg) };
    if !servers
        .iter()
        .any(|s| s.log.binary_search(&committed).is_ok())
    {
        return Err(err(format!("zxid {committed} is in no [[server]] log")));
    }
    let participants = cluster.participants.len();
    let quorum = participants / 2 + 1;
    let txns: BTreeSet<Zxid> = servers
        .iter()
        .flat_map(|s| s.log.iter().copied().filter(|&z| z <= committed))
        .collect();
    for txn in txns {
        let holders: Vec<String> = servers
            .iter()
            .filter(|s| cluster.participants.contains(&s.id) && s.log.binary_search(&txn).is_ok())
            .map(|s| s.id.to_string())
            .collect();
        if holders.len() < quorum {
            let held = if holders.is_empty() {
                "no participant".to_owned()
            } else {
                holders.join(", ")
            };
            return Err(err(format!(
                "txn {txn} is logged by {held}; committing it needs a quorum of {quorum} of \
                 {participants} participants"
            )));
        }
    }
    Ok(())
}
