//! Fuzzes the cluster_config.yml reader: the YAML subset parser and the
//! typed layer on top of it. Neither may panic, loop or recurse without
//! bound; errors and warnings must be one line without control characters,
//! and errors must point inside the input; whatever parses, written back out
//! in block style with quoted strings, must parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rccr::config::yaml::{self, Value};
use rccr::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match yaml::parse(text) {
            Ok(node) => {
                let json = yaml::to_json(&node);
                let mut again = String::new();
                emit(&node.value, 0, &mut again);
                let reparsed = yaml::parse(&again)
                    .unwrap_or_else(|e| panic!("re-emitted {again:?} fails: {e}"));
                assert_eq!(yaml::to_json(&reparsed), json, "{again:?}");
            }
            Err(e) => {
                let lines = text.split('\n').count() as u32;
                let longest = text
                    .split('\n')
                    .map(|l| l.chars().count())
                    .max()
                    .unwrap_or(0) as u32;
                assert!(
                    e.pos.line >= 1 && e.pos.line <= lines,
                    "{e} (lines: {lines})"
                );
                assert!(e.pos.col >= 1 && e.pos.col <= longest + 1, "{e}");
                assert!(!e.msg.contains(char::is_control), "{e:?}");
            }
        }
    }
    let messages: Vec<String> = match Config::from_bytes(data, "fuzz.yml") {
        Ok((_, warnings)) => warnings.iter().map(|w| w.to_string()).collect(),
        Err(e) => vec![e.to_string()],
    };
    for msg in messages {
        assert!(msg.starts_with("fuzz.yml:"), "{msg}");
        assert!(!msg.contains(char::is_control), "{msg:?}");
    }
});

/// Writes `v` as a block node at `indent` (starting on a fresh line).
fn emit(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Map(entries) if !entries.is_empty() => {
            for e in entries {
                out.push_str(&pad);
                quote(&e.key, out);
                out.push(':');
                after(&e.value.value, indent, out);
            }
        }
        Value::Seq(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                after(&item.value, indent, out);
            }
        }
        _ => {
            out.push_str(&pad);
            scalar(v, out);
            out.push('\n');
        }
    }
}

fn after(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Map(m) if !m.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        Value::Seq(s) if !s.is_empty() => {
            out.push('\n');
            emit(v, indent + 2, out);
        }
        _ => {
            out.push(' ');
            scalar(v, out);
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push('~'),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Str(s) => quote(s, out),
        Value::Seq(_) => out.push_str("[]"),
        Value::Map(_) => out.push_str("{}"),
    }
}

/// A double-quoted string, everything but printable ASCII escaped.
fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
}
