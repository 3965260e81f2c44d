//! `[expect]`: the invariants a run must break, and the facts the scenario exists to show (who
//! leads, how many elections, which txns survive or never appear, how a learner is synced).

use crate::error::{Result, Source};
use crate::model::{Expect, SyncExpect};
use crate::raw::{RawExpect, Str};
use crate::selector::{self, Place, World};
use crate::values::uint;
use crate::Selector;
use zab::{ServerId, SyncMode, Zxid};

pub(crate) fn expect(src: Source<'_>, raw: &RawExpect, world: &World<'_>) -> Result<Expect> {
    let (leader, leader_id) = match &raw.leader {
        None => (true, None),
        Some(v) => match v.get_ref() {
            toml::Value::Boolean(b) => (*b, None),
            _ => (true, Some(server(src, world, v, "expect.leader")?)),
        },
    };
    let elections = raw
        .elections
        .as_ref()
        .map(|v| uint(src, v, "expect.elections", 0, 1_000_000).map(|n| n as u32))
        .transpose()?;
    let committed_at_least = raw
        .committed_at_least
        .as_ref()
        .map(|v| uint(src, v, "expect.committed_at_least", 0, u64::from(u32::MAX)))
        .transpose()?;
    let syncs =
        raw.sync
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let key = format!("expect.sync[{i}]");
                let span = s.span();
                let s = s.get_ref();
                let learner = s.learner.as_ref().ok_or_else(|| {
                    src.err(&span, &key, "missing key `learner` (a server: \"s1\")")
                })?;
                let learner = server(src, world, learner, &format!("{key}.learner"))?;
                let mode = s.mode.as_ref().ok_or_else(|| {
                    src.err(&span, &key, "missing key `mode` (DIFF, TRUNC or SNAP)")
                })?;
                let mode = match mode.get_ref().as_str() {
                    "DIFF" => SyncMode::Diff,
                    "TRUNC" => SyncMode::Trunc,
                    "SNAP" => SyncMode::Snap,
                    other => {
                        let msg =
                            format!("unknown sync mode {other:?}; expected DIFF, TRUNC or SNAP");
                        return Err(src.err(&mode.span(), format!("{key}.mode"), msg));
                    }
                };
                let zxid = s
                    .zxid
                    .as_ref()
                    .map(|z| zxid(src, z, &format!("{key}.zxid")))
                    .transpose()?;
                Ok(SyncExpect {
                    learner,
                    mode,
                    zxid,
                })
            })
            .collect::<Result<Vec<_>>>()?;
    Ok(Expect {
        violations: Vec::new(),
        leader,
        leader_id,
        elections,
        delivered: zxids(src, raw.delivered.as_deref(), "expect.delivered")?,
        never_delivered: zxids(
            src,
            raw.never_delivered.as_deref(),
            "expect.never_delivered",
        )?,
        committed_at_least,
        same_history: raw.same_history.as_ref().is_some_and(|b| *b.get_ref()),
        syncs,
        golden: raw.golden.as_ref().map(|g| golden(src, g)).transpose()?,
    })
}

/// A golden file's path, relative to the scenario file so that the library can move.
fn golden(src: Source<'_>, raw: &Str) -> Result<std::path::PathBuf> {
    let path = std::path::Path::new(raw.get_ref().as_str());
    if raw.get_ref().is_empty() || path.is_absolute() {
        let msg = "a path relative to the scenario file, e.g. \"golden/my-scenario.txt\"";
        return Err(src.err(&raw.span(), "expect.golden", msg));
    }
    Ok(path.to_path_buf())
}

/// A participant or observer of the scenario, written `"s2"` or `2`.
fn server(
    src: Source<'_>,
    world: &World<'_>,
    raw: &crate::raw::SelectorSrc,
    key: &str,
) -> Result<ServerId> {
    let is_server = match raw.get_ref() {
        toml::Value::Integer(_) => true,
        toml::Value::String(s) => s
            .strip_prefix('s')
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())),
        _ => false,
    };
    let wrong = || {
        let what = if key == "expect.leader" {
            "true, false or a server (\"s2\" or 2)"
        } else {
            "a server (\"s2\" or 2)"
        };
        src.err(
            &raw.span(),
            key,
            format!("expected {what}, got {}", raw.get_ref()),
        )
    };
    if !is_server {
        return Err(wrong());
    }
    match selector::parse(src, world, raw, key, Place::Target)? {
        Selector::Server(id) => Ok(id),
        _ => Err(wrong()),
    }
}

fn zxids(src: Source<'_>, raw: Option<&[Str]>, key: &str) -> Result<Vec<Zxid>> {
    raw.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, z)| zxid(src, z, &format!("{key}[{i}]")))
        .collect()
}

fn zxid(src: Source<'_>, raw: &Str, key: &str) -> Result<Zxid> {
    crate::cluster::parse_zxid(raw.get_ref()).ok_or_else(|| {
        let msg = format!("expected a zxid \"epoch:counter\", got {:?}", raw.get_ref());
        src.err(&raw.span(), key, msg)
    })
}
