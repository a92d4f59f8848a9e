//! A strict subset of YAML, enough for `cluster_config.yml` and no more.
//!
//! Everything this parser accepts means the same to PyYAML (YAML 1.1) and to
//! a YAML 1.2 parser; anything where they could disagree, or that we do not
//! need (anchors, tags, flow collections, block scalars, several documents),
//! is an error with its line and column. `docs/config.md` lists the subset;
//! `tests/config_differential.rs` checks it against PyYAML.
//!
//! The parser works line by line: a line's indentation says which mapping or
//! sequence it belongs to, and `- ` starts a nested node on the same line at
//! the column after the dash.
use std::fmt;

/// Nesting deeper than this is an error, so input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 32;
/// Longest mapping key, in bytes (PyYAML gives up on keys past 1024 chars).
pub const MAX_KEY_LEN: usize = 256;

/// A 1-based line and column (in characters) in the input; ordered by
/// position in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order; keys are unique.
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Value {
    /// What the value is, for messages: "a string", "a mapping".
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "empty (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Where the input leaves the subset, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub pos: Pos,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.pos.line, self.pos.col, self.msg)
    }
}

type Result<T> = std::result::Result<T, ParseError>;

/// Parses one document of the subset. An empty document (only blank lines
/// and comments) is `Null`.
pub fn parse(text: &str) -> Result<Node> {
    let mut p = Parser {
        lines: split_lines(text)?,
        i: 0,
        depth: 0,
    };
    let Some(&first) = p.lines.first() else {
        return Ok(Node {
            pos: Pos { line: 1, col: 1 },
            value: Value::Null,
        });
    };
    let root = p.parse_block(first.indent)?;
    if let Some(l) = p.lines.get(p.i) {
        let msg = if l.indent < first.indent {
            "less indented than the first line; indent the whole file alike"
        } else if matches!(root.value, Value::Seq(_)) {
            "expected '- ' (the next item of the list)"
        } else {
            "a document holds one value; start a mapping ('key: value') on the first line"
        };
        return Err(p.error(p.i, l.indent, msg));
    }
    Ok(root)
}

/// Renders a value as compact JSON, exactly as Python's
/// `json.dumps(v, ensure_ascii=True, separators=(",", ":"))` does.
pub fn to_json(node: &Node) -> String {
    let mut out = String::new();
    json_value(&node.value, &mut out);
    out
}

fn json_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Str(s) => crate::json::push_str(out, s),
        Value::Seq(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                json_value(&item.value, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (n, e) in entries.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                crate::json::push_str(out, &e.key);
                out.push(':');
                json_value(&e.value.value, out);
            }
            out.push('}');
        }
    }
}

/// One line that holds content (blank and comment-only lines are dropped).
#[derive(Clone, Copy)]
struct Line<'a> {
    no: u32,
    text: &'a str,
    /// Leading spaces.
    indent: usize,
}

fn pos_in(no: u32, text: &str, byte: usize) -> Pos {
    let col = text.get(..byte).map_or(byte, |s| s.chars().count()) + 1;
    Pos {
        line: no,
        col: col as u32,
    }
}

fn err_at(no: u32, text: &str, byte: usize, msg: impl Into<String>) -> ParseError {
    ParseError {
        pos: pos_in(no, text, byte),
        msg: msg.into(),
    }
}

/// Characters PyYAML refuses or reads as line breaks; we refuse them all.
fn forbidden(c: char) -> bool {
    matches!(c, '\0'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}')
        || c == '\r'
}

fn split_lines(text: &str) -> Result<Vec<Line<'_>>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    for (n, raw) in text.split('\n').enumerate() {
        let no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some((b, c)) = line.char_indices().find(|&(_, c)| forbidden(c)) {
            let msg = if c == '\r' {
                "carriage return without a line feed; save the file with Unix (LF) line endings"
                    .into()
            } else {
                format!(
                    "control character U+{:04X} is not allowed; remove it",
                    c as u32
                )
            };
            return Err(err_at(no, line, b, msg));
        }
        let rest = line.trim_start_matches(' ');
        let indent = line.len() - rest.len();
        if rest.starts_with('\t') {
            return Err(err_at(
                no,
                line,
                indent,
                "tab in indentation; indent with spaces",
            ));
        }
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        if indent == 0 && (is_marker(rest, "---") || is_marker(rest, "...")) {
            return Err(err_at(
                no,
                line,
                0,
                "document markers ('---', '...') are not supported; the file is one document, remove the marker",
            ));
        }
        if indent == 0 && rest.starts_with('%') {
            return Err(err_at(
                no,
                line,
                0,
                "directives ('%') are not supported; remove the line",
            ));
        }
        lines.push(Line {
            no,
            text: line,
            indent,
        });
    }
    Ok(lines)
}

fn is_marker(rest: &str, marker: &str) -> bool {
    rest.strip_prefix(marker)
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
}

/// `-` alone or followed by a space starts a sequence entry.
fn is_seq_entry(rest: &str) -> bool {
    rest == "-" || rest.starts_with("- ")
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    /// The line being parsed.
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, i: usize, byte: usize, msg: impl Into<String>) -> ParseError {
        let l = self.lines[i];
        err_at(l.no, l.text, byte, msg)
    }

    fn pos(&self, i: usize, byte: usize) -> Pos {
        let l = self.lines[i];
        pos_in(l.no, l.text, byte)
    }

    /// Skips spaces from `byte` on line `i`; a tab is an error.
    fn skip_spaces(&self, i: usize, mut byte: usize) -> Result<usize> {
        let b = self.lines[i].text.as_bytes();
        while byte < b.len() && (b[byte] == b' ' || b[byte] == b'\t') {
            if b[byte] == b'\t' {
                return Err(self.error(i, byte, "tab character; separate with spaces"));
            }
            byte += 1;
        }
        Ok(byte)
    }

    /// Parses the node that starts at `col` on the current line: a
    /// sequence, a mapping or a scalar. `col` is its indentation.
    /// Only collections count toward [`MAX_DEPTH`]: a scalar is a level
    /// in `- - x` but none in `- -` (its null is no node of its own), so
    /// counting it made one of the two forms of a value too deep.
    fn parse_block(&mut self, col: usize) -> Result<Node> {
        let rest = &self.lines[self.i].text[col..];
        let seq = is_seq_entry(rest);
        if !seq && self.key_at(self.i, col)?.is_none() {
            let node = self.scalar(self.i, col);
            self.i += 1;
            return node;
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                self.i,
                col,
                format!("nested more than {MAX_DEPTH} levels deep; flatten the structure"),
            ));
        }
        let node = if seq {
            self.parse_seq(col)
        } else {
            self.parse_map(col)
        };
        self.depth -= 1;
        node
    }

    /// After a collection entry: whether the next line continues the
    /// collection at indentation `n` (`true`), or ends it (`false`).
    fn continues(&self, n: usize) -> Result<bool> {
        match self.lines.get(self.i) {
            Some(l) if l.indent == n => Ok(true),
            Some(l) if l.indent > n => Err(self.error(
                self.i,
                l.indent,
                "unexpected indentation; align the line with the keys or items above it (a value must fit on one line)",
            )),
            _ => Ok(false),
        }
    }

    /// The value of an entry whose key or dash ended the line `i`: a node
    /// on the following lines, more indented than `n` (or, after a key, a
    /// sequence at `n` itself), else null.
    fn value_below(&mut self, n: usize, after_key: bool, null_pos: Pos) -> Result<Node> {
        self.i += 1;
        match self.lines.get(self.i) {
            Some(l) if l.indent > n => self.parse_block(l.indent),
            Some(l) if after_key && l.indent == n && is_seq_entry(&l.text[n..]) => {
                self.parse_block(n)
            }
            _ => Ok(Node {
                pos: null_pos,
                value: Value::Null,
            }),
        }
    }

    fn parse_seq(&mut self, n: usize) -> Result<Node> {
        let pos = self.pos(self.i, n);
        let mut items = Vec::new();
        loop {
            let start = self.skip_spaces(self.i, n + 1)?;
            let rest = &self.lines[self.i].text[start..];
            let item = if rest.is_empty() || rest.starts_with('#') {
                let null_pos = self.pos(self.i, n + 1);
                self.value_below(n, false, null_pos)?
            } else {
                self.parse_block(start)?
            };
            items.push(item);
            if !self.continues(n)? || !is_seq_entry(&self.lines[self.i].text[n..]) {
                break;
            }
        }
        Ok(Node {
            pos,
            value: Value::Seq(items),
        })
    }

    fn parse_map(&mut self, n: usize) -> Result<Node> {
        let pos = self.pos(self.i, n);
        let mut entries: Vec<Entry> = Vec::new();
        loop {
            let Some((key, after)) = self.key_at(self.i, n)? else {
                let text = self.lines[self.i].text;
                let msg = if is_seq_entry(&text[n..]) {
                    "a list item among mapping keys; indent the list under its key"
                } else if let Some(msg) = plain_start_error(&text[n..]) {
                    msg
                } else if text[n..].contains(':') {
                    "expected 'key: value'; put a space after ':'"
                } else {
                    "expected 'key: value'"
                };
                return Err(self.error(self.i, n, msg));
            };
            let key_pos = self.pos(self.i, n);
            let start = self.skip_spaces(self.i, after)?;
            let rest = &self.lines[self.i].text[start..];
            let value = if rest.is_empty() || rest.starts_with('#') {
                let null_pos = self.pos(self.i, after);
                self.value_below(n, true, null_pos)?
            } else {
                let v = self.inline_value(self.i, start)?;
                self.i += 1;
                v
            };
            entries.push(Entry {
                key,
                key_pos,
                value,
            });
            if !self.continues(n)? {
                break;
            }
        }
        let mut keys: Vec<(&str, Pos)> = entries
            .iter()
            .map(|e| (e.key.as_str(), e.key_pos))
            .collect();
        if let Some((key, pos)) = first_repeat(&mut keys) {
            return Err(ParseError {
                pos,
                msg: format!("duplicate key '{}'; remove one of them", show(key)),
            });
        }
        Ok(Node {
            pos,
            value: Value::Map(entries),
        })
    }

    /// A value on the same line as its key: only a scalar.
    fn inline_value(&self, i: usize, col: usize) -> Result<Node> {
        let rest = &self.lines[i].text[col..];
        if is_seq_entry(rest) {
            return Err(self.error(
                i,
                col,
                "a list cannot start on the same line as its key; put '- item' on the next line",
            ));
        }
        if self.key_at(i, col)?.is_some() {
            return Err(self.error(
                i,
                col,
                "a mapping cannot start on the same line as its key; put it on the next line, indented (or quote a value containing ': ')",
            ));
        }
        self.scalar(i, col)
    }

    /// If line `i` holds `key:` at `col` (followed by a space or the end of
    /// the line), returns the key and the byte after the colon.
    fn key_at(&self, i: usize, col: usize) -> Result<Option<(String, usize)>> {
        let text = self.lines[i].text;
        let rest = &text[col..];
        let (key, end) = if rest.starts_with(['"', '\'']) {
            let (key, end) = self.quoted(i, col)?;
            let end = self.skip_spaces(i, end)?;
            let colon = &text.as_bytes()[end..];
            if colon.first() != Some(&b':') || !matches!(colon.get(1), None | Some(b' ')) {
                return Ok(None);
            }
            (key, end)
        } else {
            if plain_start_error(rest).is_some() {
                return Ok(None);
            }
            let b = rest.as_bytes();
            let mut j = 0;
            loop {
                match b.get(j) {
                    None => return Ok(None),
                    Some(b'#') if j > 0 && b[j - 1] == b' ' => return Ok(None),
                    Some(b'\t') => return Err(self.error(i, col + j, "tab character; use spaces")),
                    Some(b':') if matches!(b.get(j + 1), None | Some(b' ')) => break,
                    _ => j += 1,
                }
            }
            let key = rest[..j].trim_end_matches(' ');
            match resolve(key) {
                Ok(Value::Str(_)) => {}
                _ => {
                    return Err(self.error(
                        i,
                        col,
                        format!(
                            "key '{}' is not a string in every YAML version; quote it",
                            show(key)
                        ),
                    ))
                }
            }
            (key.to_string(), col + j)
        };
        if key.len() > MAX_KEY_LEN {
            return Err(self.error(
                i,
                col,
                format!("key longer than {MAX_KEY_LEN} bytes; shorten it"),
            ));
        }
        Ok(Some((key, end + 1)))
    }

    /// The scalar that runs from `col` to the end of line `i` (or to a
    /// comment), or an empty flow collection.
    fn scalar(&self, i: usize, col: usize) -> Result<Node> {
        let text = self.lines[i].text;
        let rest = &text[col..];
        let pos = self.pos(i, col);
        let (value, end) = if rest.starts_with(['"', '\'']) {
            let (s, end) = self.quoted(i, col)?;
            (Value::Str(s), end)
        } else if rest.starts_with(['[', '{']) {
            let close = if rest.starts_with('[') { ']' } else { '}' };
            let inner = rest[1..].trim_start_matches(' ');
            if !inner.starts_with(close) {
                return Err(self.error(i, col, plain_start_error(rest).unwrap_or_default()));
            }
            let end = text.len() - inner.len() + 1;
            let value = if close == ']' {
                Value::Seq(Vec::new())
            } else {
                Value::Map(Vec::new())
            };
            (value, end)
        } else {
            if let Some(msg) = plain_start_error(rest) {
                return Err(self.error(i, col, msg));
            }
            let b = rest.as_bytes();
            let mut j = 0;
            while j < b.len() {
                match b[j] {
                    b'#' if j > 0 && b[j - 1] == b' ' => break,
                    b'\t' => return Err(self.error(i, col + j, "tab character; use spaces")),
                    // `key_at` found no ': ' before the end or a comment.
                    _ => j += 1,
                }
            }
            let s = rest[..j].trim_end_matches(' ');
            let value = resolve(s).map_err(|msg| self.error(i, col, msg))?;
            return Ok(Node { pos, value });
        };
        let after = self.skip_spaces(i, end)?;
        if after < text.len() && !(after > end && text[after..].starts_with('#')) {
            return Err(self.error(
                i,
                after,
                "unexpected text after the value; quote the whole value, or start a comment with ' #'",
            ));
        }
        Ok(Node { pos, value })
    }

    /// A quoted string starting at `col` on line `i`; returns it and the
    /// byte after the closing quote. Quoted strings end on their line.
    fn quoted(&self, i: usize, col: usize) -> Result<(String, usize)> {
        let text = self.lines[i].text;
        let quote = text.as_bytes()[col];
        let mut out = String::new();
        let mut chars = text[col + 1..]
            .char_indices()
            .map(|(b, c)| (col + 1 + b, c));
        while let Some((b, c)) = chars.next() {
            match c {
                '\'' if quote == b'\'' => {
                    if text[b + 1..].starts_with('\'') {
                        chars.next();
                        out.push('\'');
                    } else {
                        return Ok((out, b + 1));
                    }
                }
                '"' if quote == b'"' => return Ok((out, b + 1)),
                '\\' if quote == b'"' => {
                    let Some((_, e)) = chars.next() else { break };
                    let simple = match e {
                        '\\' => '\\',
                        '"' => '"',
                        '/' => '/',
                        '0' => '\0',
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        't' => '\t',
                        'n' => '\n',
                        'v' => '\u{b}',
                        'f' => '\u{c}',
                        'r' => '\r',
                        'e' => '\u{1b}',
                        'x' | 'u' | 'U' => {
                            let len = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex = text.get(b + 2..b + 2 + len).unwrap_or("");
                            let code = if hex.len() == len && hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                                u32::from_str_radix(hex, 16).ok()
                            } else {
                                None
                            };
                            let Some(ch) = code.and_then(char::from_u32) else {
                                return Err(self.error(
                                    i,
                                    b,
                                    format!("escape '\\{}' needs {len} hex digits of a Unicode character; fix the escape", show(&e.to_string())),
                                ));
                            };
                            for _ in 0..len {
                                chars.next();
                            }
                            ch
                        }
                        _ => {
                            return Err(self.error(
                                i,
                                b,
                                format!("unsupported escape '\\{}'; use one of \\\\ \\\" \\/ \\0 \\a \\b \\t \\n \\v \\f \\r \\e \\xHH \\uHHHH \\UHHHHHHHH", show(&e.to_string())),
                            ))
                        }
                    };
                    out.push(simple);
                }
                _ => out.push(c),
            }
        }
        Err(self.error(
            i,
            col,
            "unterminated quoted string; close it on the same line",
        ))
    }
}

/// Why `rest` cannot start a plain scalar, if it cannot.
fn plain_start_error(rest: &str) -> Option<&'static str> {
    let c = rest.as_bytes().first().copied()?;
    Some(match c {
        b'&' => "anchors ('&') are not supported; repeat the value instead",
        b'*' => "aliases ('*') are not supported; repeat the value instead",
        b'!' => "tags ('!') are not supported; remove the tag (quote the value if it must be a string)",
        b'|' | b'>' => "block scalars ('|', '>') are not supported; write the value on one line, in quotes",
        b'?' => "complex keys ('?') are not supported; write 'key: value'",
        b'[' | b'{' => "flow collections with content are not supported; write a block list ('- item' lines) or mapping ('key: value' lines)",
        b'%' | b'@' | b'`' | b',' | b']' | b'}' | b':' | b'#' => {
            "a plain value cannot start with this character; quote the value"
        }
        b'-' if is_seq_entry(rest) => "unexpected '- '; quote the value",
        _ => return None,
    })
}

/// What a plain (unquoted) scalar means. Only meanings that PyYAML (YAML
/// 1.1) and YAML 1.2 share are accepted; the rest must be quoted.
pub fn resolve(s: &str) -> std::result::Result<Value, String> {
    Ok(match s {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        "yes" | "Yes" | "YES" | "no" | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off"
        | "OFF" => {
            return Err(format!(
                "'{s}' is a boolean in YAML 1.1 but a string in YAML 1.2; write true or false, or quote it"
            ))
        }
        "<<" | "=" => return Err(format!("'{s}' has a special meaning in YAML 1.1; quote it")),
        _ => {
            let t = s.strip_prefix(['-', '+']).unwrap_or(s);
            let tb = t.as_bytes();
            let numeric = tb.first().is_some_and(|c| c.is_ascii_digit() || *c == b'.');
            if !numeric {
                return Ok(Value::Str(s.to_string()));
            }
            if tb.iter().all(u8::is_ascii_digit) && (tb.len() == 1 || tb[0] != b'0') {
                return s.parse().map(Value::Int).map_err(|_| {
                    format!("integer '{}' is out of range (64-bit signed); quote it if it is a string", show(s))
                });
            }
            if looks_numeric(t) {
                return Err(format!(
                    "'{}' is a number or date in some YAML versions; write a plain decimal integer, or quote it",
                    show(s)
                ));
            }
            Value::Str(s.to_string())
        }
    })
}

/// Whether `t` (sign removed) is, or might be, a number or timestamp to
/// PyYAML or to YAML 1.2: a superset of their int, float and timestamp
/// patterns, except plain decimal integers.
fn looks_numeric(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(|c| c.is_ascii_digit() || *c == b'_');
    // `[0-9][0-9_]*`: leading zeros (octal in 1.1), underscores.
    if digits(b) {
        return true;
    }
    // 0b, 0o, 0x prefixes.
    if b.len() > 2
        && b[0] == b'0'
        && matches!(b[1], b'b' | b'o' | b'x')
        && b[2..].iter().all(|c| c.is_ascii_hexdigit() || *c == b'_')
    {
        return true;
    }
    // Base 60: digit groups separated by ':', with an optional fraction.
    let (int_part, frac) = match t.find('.') {
        Some(d) => (&b[..d], Some(&b[d + 1..])),
        None => (b, None),
    };
    let frac_ok = frac.is_none_or(|f| f.iter().all(|c| c.is_ascii_digit() || *c == b'_'));
    if int_part.contains(&b':')
        && frac_ok
        && int_part.split(|c| *c == b':').enumerate().all(|(n, g)| {
            (n > 0 || !g.is_empty()) && g.iter().all(|c| c.is_ascii_digit() || *c == b'_')
        })
    {
        return true;
    }
    // Floats: `[0-9][0-9_]*(\.[0-9_]*)?` or `\.[0-9][0-9_]*`, then an
    // optional exponent; `.inf`, `.nan`.
    let mantissa_end = b
        .iter()
        .position(|c| !(c.is_ascii_digit() || *c == b'_' || *c == b'.'))
        .unwrap_or(b.len());
    let mantissa = &b[..mantissa_end];
    let dots = mantissa.iter().filter(|c| **c == b'.').count();
    let has_digit = mantissa.iter().any(u8::is_ascii_digit);
    if dots <= 1
        && has_digit
        && (mantissa[0] != b'.' || mantissa.get(1).is_some_and(u8::is_ascii_digit))
    {
        let exp = &b[mantissa_end..];
        if exp.is_empty() && dots == 1 {
            return true;
        }
        if let Some(e) = exp.strip_prefix(b"e").or_else(|| exp.strip_prefix(b"E")) {
            let e = e
                .strip_prefix(b"-")
                .or_else(|| e.strip_prefix(b"+"))
                .unwrap_or(e);
            if !e.is_empty() && e.iter().all(u8::is_ascii_digit) {
                return true;
            }
        }
    }
    if matches!(t, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    // Timestamps start `YYYY-M`.
    b.len() > 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

/// `s` as a message may quote it: on one line (control characters
/// escaped) and at most 60 characters.
pub fn show(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == 60 {
            out.push_str("...");
            break;
        }
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The first item, in document order, whose text an earlier item has; in
/// O(n log n), and one sort for every caller (binary size).
pub fn first_repeat<'a>(items: &mut [(&'a str, Pos)]) -> Option<(&'a str, Pos)> {
    items.sort_unstable();
    items
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| w[1])
        .min_by_key(|(_, pos)| *pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> String {
        to_json(&parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}")))
    }

    /// The error for `text`, as `LINE:COL: message`.
    fn error(text: &str) -> String {
        match parse(text) {
            Ok(v) => panic!("{text:?} parsed as {}", to_json(&v)),
            Err(e) => e.to_string(),
        }
    }

    #[track_caller]
    fn rejects(text: &str, at: &str, what: &str) {
        crate::config::testdata::assert_refused(text, &error(text), at, what);
    }

    #[test]
    fn refused_inputs_name_line_col_and_reason() {
        let cases = crate::config::testdata::rejects(include_str!("testdata/yaml_rejects.txt"));
        assert!(cases.len() > 40);
        for (line, at, what, input) in cases {
            eprintln!("testdata/yaml_rejects.txt:{line}");
            rejects(&input, &at, &what);
        }
    }

    #[test]
    fn structure() {
        assert_eq!(json(""), "null");
        assert_eq!(json("# only\n\n"), "null");
        assert_eq!(
            json("a: 1\nb:\n  c: x\n  d:\n  - 1\n  - -2\n"),
            r#"{"a":1,"b":{"c":"x","d":[1,-2]}}"#
        );
        assert_eq!(
            json("- a: 1\n  b: 2\n- - x\n  - y\n-\n"),
            r#"[{"a":1,"b":2},["x","y"],null]"#
        );
        assert_eq!(json("a: []\nb: { }\n"), r#"{"a":[],"b":{}}"#);
        assert_eq!(json("  a: 1\n  b: 2\n"), r#"{"a":1,"b":2}"#);
        assert_eq!(json("\u{feff}a: 1\r\nb: 2\r\n"), r#"{"a":1,"b":2}"#);
    }

    #[test]
    fn scalars() {
        assert_eq!(
            json("- true\n- FALSE\n- ~\n- Null\n- 0\n- +7\n- -0\n"),
            "[true,false,null,null,0,7,0]"
        );
        assert_eq!(
            json("- 09x\n- 1.2.3\n- 10.0.0.0/8\n- a#b\n- x # c\n"),
            r#"["09x","1.2.3","10.0.0.0/8","a#b","x"]"#
        );
        let quoted = r##"- 'it''s'
- "\x41\u00e9\U0001F600\t\\\"\/"
- "#x" # c
"##;
        assert_eq!(
            json(quoted),
            r##"["it's","A\u00e9\ud83d\ude00\t\\\"/","#x"]"##
        );
        assert_eq!(
            json("k: 9223372036854775807\n"),
            r#"{"k":9223372036854775807}"#
        );
    }

    #[test]
    fn positions() {
        let root = parse("a:\n  b: x\n- ").unwrap_err();
        assert_eq!(root.pos, Pos { line: 3, col: 1 });
        let v = parse("é: [ ]\nb: 'x'\n").unwrap();
        let Value::Map(e) = v.value else { panic!() };
        assert_eq!(e[0].key_pos, Pos { line: 1, col: 1 });
        assert_eq!(e[0].value.pos, Pos { line: 1, col: 4 });
        assert_eq!(e[1].value.pos, Pos { line: 2, col: 4 });
    }

    #[test]
    fn indentation() {
        let deep: String = "- ".repeat(MAX_DEPTH + 1) + "x";
        rejects(
            &deep,
            &format!("1:{}", 2 * MAX_DEPTH + 1),
            "nested more than 32 levels",
        );
        assert!(parse(&("- ".repeat(MAX_DEPTH - 1) + "x")).is_ok());
        // As deep with a scalar at the bottom as with a null there (the
        // fuzzer's: `- - ... -` parsed, its block form ending `- ~` did not).
        for bottom in ["", "~", "x"] {
            let text = "- ".repeat(MAX_DEPTH) + bottom;
            assert!(parse(&text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn mapping_errors() {
        rejects(
            &format!("{}: 1\n", "k".repeat(MAX_KEY_LEN + 1)),
            "1:1",
            "key longer than 256 bytes",
        );
        assert!(parse(&format!("{}: 1\n", "k".repeat(MAX_KEY_LEN))).is_ok());
    }

    #[test]
    fn unsupported_syntax() {
        for c in ["%", "@", "`", ",", "]", "}", ":"] {
            rejects(
                &format!("a: {c}x\n"),
                "1:4",
                "cannot start with this character",
            );
        }
    }

    #[test]
    fn ambiguous_scalars() {
        for s in ["yes", "No", "ON", "off", "Off", "YES"] {
            rejects(&format!("a: {s}\n"), "1:4", "boolean in YAML 1.1");
        }
        for s in [
            "010",
            "00",
            "09",
            "1_0",
            "0x1f",
            "0o17",
            "0b101",
            "1.5",
            "-1.",
            ".5",
            "1e3",
            "1E-3",
            "+.inf",
            ".NaN",
            "12:30",
            "1:2:3.5",
            "00:11:22:33:44:55",
            "2024-01-01",
            "2024-1-1 1:00:00",
        ] {
            rejects(&format!("a: {s}\n"), "1:4", "number or date");
        }
    }

    #[test]
    fn resolve_matches_pyyaml_on_edge_cases() {
        let str_ = |s: &str| Ok(Value::Str(s.into()));
        assert_eq!(resolve("+"), str_("+"));
        assert_eq!(resolve("."), str_("."));
        assert_eq!(resolve("0x"), str_("0x"));
        assert_eq!(resolve("0xZ"), str_("0xZ"));
        assert_eq!(resolve("1.2.3"), str_("1.2.3"));
        assert_eq!(resolve("--1"), str_("--1"));
        assert_eq!(resolve("8080:80/udp"), str_("8080:80/udp"));
        assert_eq!(resolve("y"), str_("y"));
        assert_eq!(resolve("-9223372036854775808"), Ok(Value::Int(i64::MIN)));
    }

    #[test]
    fn messages_quote_input_on_one_line() {
        let long = "1".repeat(100);
        let e = error(&format!("a: {long}\n"));
        assert!(e.contains(&format!("'{}...'", &long[..60])), "{e}");
        assert_eq!(show("x\u{7}\u{2028}\r"), "x\\u{7}\\u{2028}\\r");
    }

    #[test]
    fn json_escapes_like_python() {
        let mut out = String::new();
        crate::json::push_str(&mut out, "a\"\\\n\r\t\u{8}\u{c}\u{1}\u{7f}é😀/");
        assert_eq!(out, r#""a\"\\\n\r\t\b\f\u0001\u007f\u00e9\ud83d\ude00/""#);
    }
}
