//! Turns toml's deserialization errors into `ScenarioError`s that name a dotted key.
//!
//! toml reports where an error is (a byte span) and what went wrong, but not which key it is
//! about. The file parsed once already, so on this cold path we parse it again into toml_edit's
//! spanned document and look for the deepest key whose key or value covers the error.

use crate::error::{ScenarioError, Source};
use std::ops::Range;
use toml_edit::{ImDocument, Item, TableLike, Value};

pub(crate) fn from_toml(src: Source<'_>, err: &toml::de::Error) -> ScenarioError {
    let offset = err.span().map(|s| s.start);
    let key = offset
        .and_then(|o| key_at(src.text, o).or_else(|| key_on_line(src.text, o)))
        .unwrap_or_default();
    let line = offset.map(|o| src.line_of(o));
    let snippet = err
        .span()
        .and_then(|s| src.text.get(s))
        .unwrap_or_default()
        .trim_start();
    ScenarioError::new(
        src.file,
        line,
        key,
        with_hint(friendly(err.message()), snippet),
    )
}

/// Says what serde cannot: toml hands datetimes to serde as tables, and `[name]` where
/// `[[name]]` was meant is the usual way to get "expected an array".
fn with_hint(message: String, snippet: &str) -> String {
    let is_table = snippet.starts_with(['[', '{']);
    if message.starts_with("invalid type: table") && !snippet.is_empty() && !is_table {
        return message.replacen("table", "datetime", 1);
    }
    if message.contains("expected an array")
        && snippet.starts_with('[')
        && !snippet.starts_with("[[")
    {
        return format!("{message}; write [[name]] for each element of an array of tables");
    }
    message
}

/// The key written on the line of byte `offset`, under its table's header: for a value toml
/// cannot even parse (`seed = 99999999999999999999`), when there is no document to search.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let eq = line.find('=')?;
    // Only an error in the value: one in the key or the line's syntax is not about it.
    if offset < start + eq {
        return None;
    }
    let key = line[..eq].trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

/// The dotted path of the innermost key whose name or value covers byte `offset`.
pub(crate) fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = ImDocument::parse(text).ok()?;
    in_table(doc.as_table(), offset, "")
}

fn in_table(table: &dyn TableLike, offset: usize, path: &str) -> Option<String> {
    for (name, item) in table.iter() {
        let child = join(path, name);
        // A key first: an `[[array]]` element's span starts at its header, which holds the key.
        if covers(
            table.get_key_value(name).and_then(|(k, _)| k.span()),
            offset,
        ) {
            return Some(child);
        }
        if let Some(deeper) = in_item(item, offset, &child) {
            return Some(deeper);
        }
        if covers(item.span(), offset) {
            return Some(child);
        }
    }
    None
}

fn in_item(item: &Item, offset: usize, path: &str) -> Option<String> {
    match item {
        Item::Table(t) => in_table(t, offset, path),
        Item::ArrayOfTables(a) => a.iter().enumerate().find_map(|(i, t)| {
            let child = format!("{path}[{i}]");
            in_table(t, offset, &child).or_else(|| covers(t.span(), offset).then_some(child))
        }),
        Item::Value(v) => in_value(v, offset, path),
        Item::None => None,
    }
}

fn in_value(value: &Value, offset: usize, path: &str) -> Option<String> {
    match value {
        Value::InlineTable(t) => in_table(t, offset, path),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, v)| {
            let child = format!("{path}[{i}]");
            in_value(v, offset, &child).or_else(|| covers(v.span(), offset).then_some(child))
        }),
        _ => None,
    }
}

fn covers(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start.saturating_add(1)))
}

/// Appends `name` to a dotted path, quoting it when it is not a bare TOML key, so that a key
/// like `"a.b"` cannot be mistaken for a nested one.
pub(crate) fn join(path: &str, name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let name = if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    };
    if path.is_empty() {
        name
    } else {
        format!("{path}.{name}")
    }
}

/// Rewords serde's Rust-flavoured messages in the file's terms (keys, tables, integers).
fn friendly(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("unknown field", "unknown key"),
        ("expected i64", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("invalid type: sequence", "invalid type: array"),
        ("invalid type: map", "invalid type: table"),
        ("floating point", "float"),
    ];
    let mut out = message.trim().replace('\n', "; ");
    for (from, to) in WORDS {
        out = out.replace(from, to);
    }
    if let Some(start) = out.find("expected struct ") {
        let end = out[start..]
            .find([',', ';'])
            .map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "expected a table");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_indices() {
        let text = "a = 1\n[[f]]\nx = 1\n[[f]]\non = { send = \"A\", y = [1, 2] }\n";
        let at = |needle: &str| key_at(text, text.find(needle).unwrap());
        assert_eq!(at("a =").as_deref(), Some("a"));
        assert_eq!(at("send").as_deref(), Some("f[1].on.send"));
        assert_eq!(at("\"A\"").as_deref(), Some("f[1].on.send"));
        assert_eq!(at("2]").as_deref(), Some("f[1].on.y[1]"));
        assert_eq!(at("x =").as_deref(), Some("f[0].x"));
    }

    #[test]
    fn names_the_key_of_a_value_toml_cannot_parse() {
        let text = "seed = 99999999999999999999\n[run]\nduration_ms = 1e999x\n";
        let at = |needle: &str| key_on_line(text, text.find(needle).unwrap());
        assert_eq!(at("9999").as_deref(), Some("seed"));
        assert_eq!(at("1e999").as_deref(), Some("run.duration_ms"));
        assert_eq!(
            at("seed"),
            None,
            "an error in the key is not about its value"
        );
    }

    #[test]
    fn quotes_keys_that_are_not_bare() {
        assert_eq!(join("a", "b.c"), "a.\"b.c\"");
        assert_eq!(join("", "x_y-1"), "x_y-1");
    }

    #[test]
    fn hints_at_datetimes_and_arrays_of_tables() {
        let msg = || "invalid type: table, expected an integer".to_owned();
        assert_eq!(
            with_hint(msg(), "1979-05-27"),
            "invalid type: datetime, expected an integer"
        );
        assert_eq!(with_hint(msg(), "{ a = 1 }"), msg());
        let arr = "invalid type: table, expected an array".to_owned();
        assert!(with_hint(arr.clone(), "[server]\nid = 1").contains("[[name]]"));
        assert_eq!(with_hint(arr.clone(), "{}"), arr);
    }

    #[test]
    fn rewords_serde_messages() {
        assert_eq!(
            friendly("invalid type: integer `1`, expected struct RawCluster"),
            "invalid type: integer `1`, expected a table"
        );
        assert_eq!(
            friendly("unknown field `x`, expected `y`"),
            "unknown key `x`, expected `y`"
        );
    }
}
