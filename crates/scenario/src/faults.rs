//! `[[faults]]`: when a fault fires (`at_ms` or an `on` trigger) and what it does.
//!
//! One TOML table carries the keys of every action, so a key that belongs to another action
//! (`duration_ms` on a crash) is most likely a mistake about what the action does; it is an
//! error that names the action rather than a silently ignored key.

use crate::error::{Result, Source};
use crate::model::{Action, Fault, OnKind, Selector, Trigger};
use crate::raw::{Int, RawFault, RawTrigger, SelectorSrc, Str};
use crate::selector::{self, Place, World};
use crate::values::{ms, ms_or, uint32};
use std::ops::Range;
use toml::Spanned;

/// Message names a send/receive trigger may wait for: the packets the servers exchange.
pub const MESSAGES: &[&str] = &zab::MESSAGE_NAMES;

/// The server states an `on = { state = ... }` trigger can wait for.
pub const STATES: &[&str] = &["LOOKING", "FOLLOWING", "LEADING", "OBSERVING"];

const ACTIONS: &str = "crash, restart, partition, isolate, heal, pause";

pub(crate) fn faults(
    src: Source<'_>,
    raw: &[Spanned<RawFault>],
    world: &World<'_>,
) -> Result<Vec<Fault>> {
    raw.iter()
        .enumerate()
        .map(|(i, f)| fault(src, f, &format!("faults[{i}]"), world))
        .collect()
}

fn fault(
    src: Source<'_>,
    table: &Spanned<RawFault>,
    key: &str,
    world: &World<'_>,
) -> Result<Fault> {
    let raw = table.get_ref();
    let here = table.span();
    let trigger = trigger(src, raw, &here, key, world)?;
    let Some(action_raw) = &raw.action else {
        let msg = format!("required key is missing; one of {ACTIONS}");
        return Err(src.err(&here, format!("{key}.action"), msg));
    };
    let action_name = action_raw.get_ref().as_str();
    let (allowed, required): (&[&str], &[&str]) = match action_name {
        "crash" => (&["target", "restart_after_ms"], &["target"]),
        "restart" => (&["target"], &["target"]),
        "partition" => (&["groups", "one_way", "heal_after_ms"], &["groups"]),
        "isolate" => (&["target", "heal_after_ms"], &["target"]),
        "heal" => (&[], &[]),
        "pause" => (&["target", "duration_ms"], &["target", "duration_ms"]),
        other => {
            let msg = format!("unknown action {other:?}; expected one of {ACTIONS}");
            return Err(src.err(&action_raw.span(), format!("{key}.action"), msg));
        }
    };
    for (name, span) in action_keys(raw) {
        match span {
            Some(span) if !allowed.contains(&name) => {
                let takes = if allowed.is_empty() {
                    "it takes no other keys".to_owned()
                } else {
                    format!("it takes {}", allowed.join(", "))
                };
                let msg = format!("not used by action {action_name:?}; {takes}");
                return Err(src.err(&span, format!("{key}.{name}"), msg));
            }
            None if required.contains(&name) => {
                let msg = format!("required by action {action_name:?}");
                return Err(src.err(&here, format!("{key}.{name}"), msg));
            }
            _ => {}
        }
    }

    let target = |raw: &Option<SelectorSrc>| -> Result<Selector> {
        match raw {
            Some(t) => selector::parse(src, world, t, &format!("{key}.target"), Place::Target),
            None => Err(src.err(&here, format!("{key}.target"), "required key is missing")),
        }
    };
    let after = |v: Option<&Int>, name: &str| -> Result<Option<u64>> {
        v.map(|v| ms(src, v, &format!("{key}.{name}"), 0))
            .transpose()
    };
    let action = match action_name {
        "crash" => Action::Crash {
            target: target(&raw.target)?,
            restart_after_ms: after(raw.restart_after_ms.as_ref(), "restart_after_ms")?,
        },
        "restart" => Action::Restart {
            target: target(&raw.target)?,
        },
        "partition" => {
            let one_way = raw.one_way.as_ref().is_some_and(|b| *b.get_ref());
            Action::Partition {
                groups: groups(src, raw, &here, key, world)?,
                one_way,
                heal_after_ms: after(raw.heal_after_ms.as_ref(), "heal_after_ms")?,
            }
        }
        "isolate" => Action::Isolate {
            target: target(&raw.target)?,
            heal_after_ms: after(raw.heal_after_ms.as_ref(), "heal_after_ms")?,
        },
        "pause" => Action::Pause {
            target: target(&raw.target)?,
            duration_ms: match &raw.duration_ms {
                Some(d) => ms(src, d, &format!("{key}.duration_ms"), 1)?,
                None => {
                    return Err(src.err(
                        &here,
                        format!("{key}.duration_ms"),
                        "required key is missing",
                    ))
                }
            },
        },
        _ => Action::Heal,
    };
    Ok(Fault {
        trigger,
        action,
        line: src.line_of(here.start),
    })
}

/// The action-specific keys and where each is written, if it is.
fn action_keys(raw: &RawFault) -> [(&'static str, Option<Range<usize>>); 6] {
    [
        ("target", raw.target.as_ref().map(Spanned::span)),
        (
            "restart_after_ms",
            raw.restart_after_ms.as_ref().map(Spanned::span),
        ),
        ("groups", raw.groups.as_ref().map(Spanned::span)),
        ("one_way", raw.one_way.as_ref().map(Spanned::span)),
        (
            "heal_after_ms",
            raw.heal_after_ms.as_ref().map(Spanned::span),
        ),
        ("duration_ms", raw.duration_ms.as_ref().map(Spanned::span)),
    ]
}

fn trigger(
    src: Source<'_>,
    raw: &RawFault,
    here: &Range<usize>,
    key: &str,
    world: &World<'_>,
) -> Result<Trigger> {
    match (&raw.at_ms, &raw.on) {
        (Some(_), Some(on)) => {
            let at = on.first_offset().unwrap_or(here.start);
            let msg = "give either `at_ms` or `on`, not both";
            Err(src.err(&(at..at), format!("{key}.on"), msg))
        }
        (Some(at), None) => Ok(Trigger::At {
            at_ms: ms(src, at, &format!("{key}.at_ms"), 0)?,
        }),
        (None, Some(on)) => on_trigger(src, on, here, &format!("{key}.on"), world),
        (None, None) => {
            let msg = "needs a trigger: `at_ms = N` or `on = { send | receive | state = ... }`";
            Err(src.err(here, key, msg))
        }
    }
}

fn on_trigger(
    src: Source<'_>,
    on: &RawTrigger,
    here: &Range<usize>,
    key: &str,
    world: &World<'_>,
) -> Result<Trigger> {
    let kinds: Vec<(OnKind, &str, &Str)> = [
        (OnKind::Send, "send", &on.send),
        (OnKind::Receive, "receive", &on.receive),
        (OnKind::State, "state", &on.state),
    ]
    .into_iter()
    .filter_map(|(kind, name, v)| v.as_ref().map(|v| (kind, name, v)))
    .collect();
    let (kind, kind_key, name) = match kinds.as_slice() {
        [one] => *one,
        [] => {
            let at = on.first_offset().unwrap_or(here.start);
            let msg = "needs exactly one of `send`, `receive` or `state`";
            return Err(src.err(&(at..at), key, msg));
        }
        [_, (_, second, v), ..] => {
            let msg = "give only one of `send`, `receive` or `state`";
            return Err(src.err(&v.span(), format!("{key}.{second}"), msg));
        }
    };
    let names = if kind == OnKind::State {
        STATES
    } else {
        MESSAGES
    };
    if !names.contains(&name.get_ref().as_str()) {
        let what = if kind == OnKind::State {
            "state"
        } else {
            "message"
        };
        let msg = format!(
            "unknown {what} {:?}; expected one of {}",
            name.get_ref(),
            names.join(", ")
        );
        return Err(src.err(&name.span(), format!("{key}.{kind_key}"), msg));
    }
    if let (OnKind::State, Some(to)) = (kind, &on.to) {
        let msg = "a state change has no receiver; use `from` for the server that changes state";
        return Err(src.err(&to.span(), format!("{key}.to"), msg));
    }
    let endpoint = |v: &Option<SelectorSrc>, name: &str| {
        v.as_ref()
            .map(|v| selector::parse(src, world, v, &format!("{key}.{name}"), Place::Target))
            .transpose()
    };
    Ok(Trigger::On {
        kind,
        name: name.get_ref().clone(),
        from: endpoint(&on.from, "from")?,
        to: endpoint(&on.to, "to")?,
        nth: match &on.nth {
            Some(n) => uint32(src, n, &format!("{key}.nth"), 1, u32::MAX)?,
            None => 1,
        },
        after_ms: ms_or(src, on.after_ms.as_ref(), &format!("{key}.after_ms"), 0, 0)?,
        delay_ms: ms_or(src, on.delay_ms.as_ref(), &format!("{key}.delay_ms"), 0, 0)?,
    })
}

fn groups(
    src: Source<'_>,
    raw: &RawFault,
    here: &Range<usize>,
    key: &str,
    world: &World<'_>,
) -> Result<Vec<Vec<Selector>>> {
    let Some(groups) = &raw.groups else {
        return Err(src.err(here, format!("{key}.groups"), "required key is missing"));
    };
    let list = groups.get_ref();
    if list.len() < 2 {
        let msg = format!(
            "needs at least 2 groups, got {}; use [[\"s1\"], [\"rest\"]] to cut s1 off",
            list.len()
        );
        return Err(src.err(&groups.span(), format!("{key}.groups"), msg));
    }
    if let Some(one_way) = raw.one_way.as_ref().filter(|b| *b.get_ref()) {
        if list.len() != 2 {
            let msg = format!(
                "a one-way partition needs exactly 2 groups, got {}",
                list.len()
            );
            return Err(src.err(&one_way.span(), format!("{key}.one_way"), msg));
        }
    }
    let mut seen: Vec<(Selector, usize)> = Vec::new();
    let mut out = Vec::with_capacity(list.len());
    for (g, group) in list.iter().enumerate() {
        let gkey = format!("{key}.groups[{g}]");
        if group.get_ref().is_empty() {
            return Err(src.err(&group.span(), gkey, "a group needs at least one member"));
        }
        let mut members = Vec::with_capacity(group.get_ref().len());
        for (m, member) in group.get_ref().iter().enumerate() {
            let mkey = format!("{gkey}[{m}]");
            let sel = selector::parse(src, world, member, &mkey, Place::Group)?;
            if let Some((_, first)) = seen.iter().find(|(s, _)| *s == sel) {
                let msg =
                    format!("already named in groups[{first}]; a member belongs to one group");
                return Err(src.err(&member.span(), mkey, msg));
            }
            seen.push((sel, g));
            members.push(sel);
        }
        out.push(members);
    }
    Ok(out)
}
