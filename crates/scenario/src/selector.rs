//! Selectors (`leader`, `s3`, `c2`, `rest`, ...): parsing, and rejecting those that can never
//! match in this scenario.
//!
//! Selectors are resolved when a fault fires, so `leader` may match nobody at that moment; that
//! is recorded in the trace. A selector that cannot match in *any* run of the scenario (`s9` in a
//! 3-server cluster) is a typo, and typos are errors.

use crate::error::{Result, Source};
use crate::model::{Cluster, Selector};
use crate::raw::SelectorSrc;
use zab::ServerId;

/// What exists in the scenario, for deciding whether a selector can ever match.
pub(crate) struct World<'a> {
    pub cluster: &'a Cluster,
    /// `None` without a `[clients]` table.
    pub clients: Option<u32>,
}

/// Where a selector appears: `rest` only makes sense next to other partition groups.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Target,
    Group,
}

const NAMES: &str =
    "leader, follower, observer, any, sN (server N), client, cN (client N), recipe-leader";

pub(crate) fn parse(
    src: Source<'_>,
    world: &World<'_>,
    raw: &SelectorSrc,
    key: &str,
    place: Place,
) -> Result<Selector> {
    let span = raw.span();
    let err = |msg: String| src.err(&span, key, msg);
    let selector = match raw.get_ref() {
        toml::Value::Integer(n) => {
            server(*n).ok_or_else(|| err(format!("there is no server {n}")))?
        }
        toml::Value::String(s) => match s.as_str() {
            "leader" => Selector::Leader,
            "follower" => Selector::Follower,
            "observer" => Selector::Observer,
            "any" => Selector::Any,
            "client" => Selector::Client,
            "recipe-leader" => Selector::RecipeLeader,
            "rest" => Selector::Rest,
            other => {
                if let Some(digits) = other.strip_prefix('s').filter(|d| is_number(d)) {
                    let n: i64 = digits.parse().unwrap_or(i64::MAX);
                    server(n).ok_or_else(|| err(format!("there is no server {digits}")))?
                } else if let Some(digits) = other.strip_prefix('c').filter(|d| is_number(d)) {
                    match digits.parse::<u32>() {
                        Ok(0) => return Err(err("clients are numbered from 1".into())),
                        Ok(n) => Selector::ClientN(n),
                        Err(_) => return Err(err(format!("there is no client {digits}"))),
                    }
                } else {
                    let rest = if place == Place::Group { ", rest" } else { "" };
                    return Err(err(format!(
                        "unknown selector {s:?}; expected {NAMES}{rest}"
                    )));
                }
            }
        },
        other => {
            return Err(err(format!(
                "expected a selector string or a server id, got {}",
                other.type_str()
            )))
        }
    };
    check_can_match(world, selector, place).map_err(err)?;
    Ok(selector)
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn server(n: i64) -> Option<Selector> {
    u8::try_from(n)
        .ok()
        .filter(|&n| n > 0)
        .map(|n| Selector::Server(ServerId(n)))
}

fn check_can_match(world: &World<'_>, selector: Selector, place: Place) -> Result<(), String> {
    let cluster = world.cluster;
    match selector {
        Selector::Leader | Selector::Any => Ok(()),
        Selector::Follower if cluster.participants.len() < 2 => {
            Err("never matches: a cluster with one participant has no followers".into())
        }
        Selector::Follower => Ok(()),
        Selector::Observer if cluster.observers.is_empty() => {
            Err("never matches: the cluster has no observers".into())
        }
        Selector::Observer => Ok(()),
        Selector::Server(id) if cluster.all().any(|s| s == id) => Ok(()),
        Selector::Server(id) => {
            let ids: Vec<String> = cluster.all().map(|s| s.to_string()).collect();
            Err(format!(
                "there is no server {}; the servers are {}",
                id.0,
                ids.join(", ")
            ))
        }
        Selector::Client | Selector::ClientN(_) | Selector::RecipeLeader
            if world.clients.is_none() =>
        {
            Err("never matches: the scenario has no [clients] table".into())
        }
        Selector::ClientN(n) => match world.clients {
            Some(count) if n > count => Err(format!(
                "there is no client {n}; [clients] count is {count}"
            )),
            _ => Ok(()),
        },
        Selector::Client | Selector::RecipeLeader => Ok(()),
        Selector::Rest if place == Place::Group => Ok(()),
        Selector::Rest => Err("\"rest\" is only meaningful inside partition groups".into()),
    }
}
