//! A bounded JSON parser for what the Docker Engine API answers, and the
//! value tree it builds (which can be patched and rendered back, for the
//! service specs rccr updates).
//!
//! The input is untrusted (a node's engine, or anything that pretends to be
//! one): the parser refuses nesting deeper than [`MAX_DEPTH`], trailing
//! data, invalid escapes and unpaired surrogates, and allocates no more than
//! a small multiple of its input, which callers bound.
use super::push_str;

/// How deep arrays and objects may nest.
pub const MAX_DEPTH: usize = 64;

/// A JSON value. Numbers keep their text: callers read what they need as
/// an integer, and a value rendered back is unchanged.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Array(Vec<Value>),
    /// Members in document order (Docker never repeats a key).
    Object(Vec<(String, Value)>),
}

/// Why a text is not JSON: what, and the byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub what: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not JSON at byte {}: {}", self.offset, self.what)
    }
}

static NULL: Value = Value::Null;

impl Value {
    pub fn parse(text: &[u8]) -> Result<Value, ParseError> {
        let mut p = Parser { text, at: 0 };
        let value = p.value(0)?;
        p.space();
        if p.at != text.len() {
            return Err(p.err("trailing data"));
        }
        Ok(value)
    }

    /// The member `key` of an object; `Null` for anything else.
    pub fn get(&self, key: &str) -> &Value {
        self.members()
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&NULL, |(_, v)| v)
    }

    /// The value at a path of object keys (`["Swarm", "NodeID"]`).
    pub fn at(&self, path: &[&str]) -> &Value {
        path.iter().fold(self, |v, key| v.get(key))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A string at `path`, or "" when absent or of another type.
    pub fn str_at(&self, path: &[&str]) -> &str {
        self.at(path).as_str().unwrap_or("")
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    pub fn as_array(&self) -> &[Value] {
        match self {
            Value::Array(items) => items,
            _ => &[],
        }
    }

    /// The members of an object (empty for anything else).
    pub fn members(&self) -> &[(String, Value)] {
        match self {
            Value::Object(members) => members,
            _ => &[],
        }
    }

    /// Sets `key` of an object (replacing or appending); a non-object
    /// becomes an empty object first.
    pub fn set(&mut self, key: &str, value: Value) {
        if !matches!(self, Value::Object(_)) {
            *self = Value::Object(Vec::new());
        }
        if let Value::Object(members) = self {
            match members.iter_mut().find(|(k, _)| k == key) {
                Some(member) => member.1 = value,
                None => members.push((key.to_string(), value)),
            }
        }
    }

    /// The value at a path of keys, made an object where it is not one.
    pub fn entry(&mut self, path: &[&str]) -> &mut Value {
        let mut v = self;
        for key in path {
            if !matches!(v.get(key), Value::Object(_)) {
                v.set(key, Value::Object(Vec::new()));
            }
            let Value::Object(members) = v else {
                unreachable!("set made it an object")
            };
            v = members
                .iter_mut()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .expect("set added it");
        }
        v
    }

    /// Compact JSON text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(n),
            Value::Str(s) => push_str(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render_into(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_str(out, k);
                    out.push(':');
                    v.render_into(out);
                }
                out.push('}');
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Number(n.to_string())
    }
}

struct Parser<'t> {
    text: &'t [u8],
    at: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> ParseError {
        ParseError {
            offset: self.at,
            what,
        }
    }

    fn space(&mut self) {
        while matches!(self.text.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, word: &[u8]) -> bool {
        let found = self.text[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deep"));
        }
        self.space();
        match self.text.get(self.at) {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ if self.eat(b"null") => Ok(Value::Null),
            _ if self.eat(b"true") => Ok(Value::Bool(true)),
            _ if self.eat(b"false") => Ok(Value::Bool(false)),
            None => Err(self.err("unexpected end")),
            _ => Err(self.err("unexpected character")),
        }
    }

    /// The items of an array or object after its opening bracket, each
    /// read by `item`, separated by commas, up to `close`.
    fn items(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        self.at += 1;
        self.space();
        if self.eat(&[close]) {
            return Ok(());
        }
        loop {
            item(self)?;
            self.space();
            if self.eat(&[close]) {
                return Ok(());
            }
            if !self.eat(b",") {
                return Err(self.err("expected ',' or a closing bracket"));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
        let mut members = Vec::new();
        self.items(b'}', |p| {
            p.space();
            if p.text.get(p.at) != Some(&b'"') {
                return Err(p.err("expected a key"));
            }
            let key = p.string()?;
            p.space();
            if !p.eat(b":") {
                return Err(p.err("expected ':'"));
            }
            members.push((key, p.value(depth + 1)?));
            Ok(())
        })?;
        Ok(Value::Object(members))
    }

    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        let mut items = Vec::new();
        self.items(b']', |p| {
            items.push(p.value(depth + 1)?);
            Ok(())
        })?;
        Ok(Value::Array(items))
    }

    fn digits(&mut self) -> bool {
        let from = self.at;
        while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        self.at > from
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.at;
        self.eat(b"-");
        // No leading zeros: "0" alone, or a digit from 1 on.
        if !self.eat(b"0") && !self.digits() {
            return Err(self.err("bad number"));
        }
        if self.eat(b".") && !self.digits() {
            return Err(self.err("bad number"));
        }
        if matches!(self.text.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            let _ = self.eat(b"+") || self.eat(b"-");
            if !self.digits() {
                return Err(self.err("bad number"));
            }
        }
        let text = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
        Ok(Value::Number(text))
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.err("bad \\u escape"))?;
        let code = digits
            .iter()
            .fold(0, |n, d| n * 16 + (*d as char).to_digit(16).unwrap_or(0));
        self.at += 4;
        Ok(code)
    }

    /// A `\u` escape (its `\u` already read), with its low surrogate.
    fn unicode(&mut self) -> Result<char, ParseError> {
        let hi = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&hi) {
            if !self.eat(b"\\u") {
                return Err(self.err("unpaired surrogate"));
            }
            let lo = self.hex4()?;
            if !(0xdc00..0xe000).contains(&lo) {
                return Err(self.err("unpaired surrogate"));
            }
            0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.err("unpaired surrogate"))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.text.get(self.at) else {
                return Err(self.err("unterminated string"));
            };
            self.at += 1;
            let c = match b {
                b'"' => break,
                0..=0x1f => return Err(self.err("control character in a string")),
                b'\\' => {
                    let Some(e) = self.text.get(self.at).copied() else {
                        return Err(self.err("unterminated string"));
                    };
                    self.at += 1;
                    match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode()?,
                        _ => return Err(self.err("bad escape")),
                    }
                }
                _ => {
                    out.push(b);
                    continue;
                }
            };
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        String::from_utf8(out).map_err(|_| self.err("invalid UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_docker_answers() {
        let text =
            br#" {"ID":"abc","Swarm":{"NodeID":"n1","ControlAvailable":true,"Cluster":{"ID":"c1"}},
            "Labels":null,"List":[1,-2.5e3,"x\u00e9\ud83d\ude00\n"],"Version":{"Index":123}} "#;
        let v = Value::parse(text).unwrap();
        assert_eq!(v.str_at(&["Swarm", "NodeID"]), "n1");
        assert_eq!(v.at(&["Swarm", "ControlAvailable"]).as_bool(), Some(true));
        assert_eq!(v.str_at(&["Swarm", "Cluster", "ID"]), "c1");
        assert_eq!(v.at(&["Version", "Index"]).as_u64(), Some(123));
        assert_eq!(v.get("Labels"), &Value::Null);
        assert_eq!(v.get("Missing"), &Value::Null);
        assert_eq!(
            v.get("List").as_array()[2].as_str(),
            Some("x\u{e9}\u{1f600}\n")
        );
        let rendered = v.render();
        assert!(rendered.starts_with(r#"{"ID":"abc","Swarm":{"NodeID":"n1","#));
        assert!(rendered.contains(r#""List":[1,-2.5e3,"x\u00e9\ud83d\ude00\n"]"#));
        assert_eq!(Value::parse(rendered.as_bytes()).unwrap(), v);
    }

    #[test]
    fn an_escape_cut_at_the_end_is_reported_inside_the_text() {
        let text = br#"["a\"#;
        let e = Value::parse(text).unwrap_err();
        assert!(e.offset <= text.len(), "{e}");
    }

    #[test]
    fn refuses_what_is_not_json() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            br#"{"a" 1}"#,
            br#"{"a":1,}"#,
            b"01",
            b"1.",
            b"-",
            b"1e",
            br#""\x""#,
            br#""\ud800""#,
            br#""\ud800\u0041""#,
            br#""\udc00""#,
            b"\"a\nb\"",
            b"\"\xff\"",
            b"nul",
            b"{} {}",
            b"[1] x",
            br#""abc"#,
            br#""\"#,
        ] {
            assert!(
                Value::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(
            Value::parse(deep.as_bytes()).unwrap_err().what,
            "nested too deep"
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Value::parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn set_and_entry_patch_a_spec() {
        let mut v =
            Value::parse(br#"{"Mode":{"Replicated":{"Replicas":1}},"Name":"web"}"#).unwrap();
        v.entry(&["Mode", "Replicated"])
            .set("Replicas", 3u64.into());
        v.entry(&["Labels"]).set("rccr.managed", "true".into());
        assert_eq!(
            v.render(),
            r#"{"Mode":{"Replicated":{"Replicas":3}},"Name":"web","Labels":{"rccr.managed":"true"}}"#
        );
    }
}
