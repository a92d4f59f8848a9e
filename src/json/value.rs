//! A bounded JSON parser for what the Docker Engine API answers, and the
//! value tree it builds (which can be patched and rendered back, for the
//! service specs rccr updates).
//!
//! The input is untrusted (a node's engine, or anything that pretends to be
//! one): the parser refuses nesting deeper than [`MAX_DEPTH`], trailing
//! data, invalid escapes and unpaired surrogates, and a text whose tree
//! would take more than [`MAX_TREE_RATIO`] times its bytes. It reads the
//! text twice: once to check it and count what the tree will hold, nothing
//! built; then to build the tree with every array, object and string
//! allocated at its exact size. So `[0,0,0,...]`, which took 24 times its
//! bytes, is refused before anything is built, and a parse never asks the
//! allocator for more than 4 times its input (plus 16 KiB); the
//! allocator's own headers add about 16 bytes a block, at most about 1.5
//! times the input more.
use super::push_str;

/// How deep arrays and objects may nest.
pub const MAX_DEPTH: usize = 64;
/// The heap a parsed tree may take, per byte of its text. Docker's answers
/// take 2.7 to 3.4 times their bytes, services with many short labels and
/// environment entries 3.9 (`cargo test --test json_memory --
/// --nocapture`): 6 leaves honest answers room; tiny values in a row,
/// `0,0,0`, would take 16 times theirs.
pub const MAX_TREE_RATIO: usize = 6;
/// What any text may take besides: a short answer's tree is dense.
const TREE_SLACK: usize = 16 * 1024;

/// A JSON value. Numbers keep their text: callers read what they need as
/// an integer, and a value rendered back is unchanged.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    Str(String),
    Array(Vec<Value>),
    /// Members in document order, no key twice: a parsed text that
    /// repeats one is refused (Go's decoder, Docker's, takes the last of
    /// them, `get` would take the first), and `set` replaces. Keys equal
    /// but for case are taken (a map's, labels, keeps both), and
    /// [`Value::get`] reads neither. A key is a `Box<str>`: 8 bytes less
    /// a member than a `String`.
    Object(Vec<(Box<str>, Value)>),
}

/// A number's text, held in place: no allocation per number, and no
/// larger a [`Value`] than its `String` and `Vec` variants make it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Number {
    len: u8,
    text: [u8; Number::MAX],
}

impl Number {
    /// The longest number text taken (any 64-bit integer, and every float
    /// Go's encoder writes, at most 24, fit).
    pub const MAX: usize = 30;

    fn new(text: &str) -> Option<Number> {
        let mut n = Number {
            len: u8::try_from(text.len()).ok()?,
            text: [0; Number::MAX],
        };
        n.text
            .get_mut(..text.len())?
            .copy_from_slice(text.as_bytes());
        Some(n)
    }

    pub fn as_str(&self) -> &str {
        // Only ever copied from a `&str`.
        std::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or("")
    }
}

impl std::fmt::Debug for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text is not JSON, or not one we take: what, and the byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub what: &'static str,
}

/// [`ParseError::what`] for a text whose tree would be too large for it.
pub const TOO_DENSE: &str = "more values than its size may hold";

/// Whether Go's decoder (Docker's) would read keys `a` and `b` into the
/// same struct field: it matches a key to a field's name ignoring case,
/// and of `{"ID":"a","Id":"b"}` takes the last. (A map, `Labels`, keeps
/// its keys as they are.) Go folds case by Unicode's simple folding;
/// Docker's field names are ASCII, and the only other characters that
/// fold to ASCII are the long s and the Kelvin sign, so [`fold`] folds
/// those and ASCII alone.
fn keys_fold_equal(a: &str, b: &str) -> bool {
    a.chars().map(fold).eq(b.chars().map(fold))
}

/// A character as Go's field-name matching sees it, for names in ASCII:
/// lower case, `ſ` (U+017F) as `s` and `K` (U+212A, Kelvin) as `k`.
fn fold(c: char) -> char {
    match c {
        '\u{17f}' => 's',
        '\u{212a}' => 'k',
        _ => c.to_ascii_lowercase(),
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.what == TOO_DENSE {
            write!(f, "too dense at byte {}: {}", self.offset, self.what)
        } else {
            write!(f, "not JSON at byte {}: {}", self.offset, self.what)
        }
    }
}

static NULL: Value = Value::Null;

impl Value {
    pub fn parse(text: &[u8]) -> Result<Value, ParseError> {
        let mut p = Parser {
            text,
            at: 0,
            building: false,
            sizes: Vec::new(),
            next_size: 0,
            cost: 0,
            budget: budget(text.len()),
            loose: 0,
            unescaped: Vec::new(),
            widest: 0,
        };
        // First pass: check, count and cost; second: build.
        p.value(0)?;
        p.space();
        if p.at != text.len() {
            return Err(p.err("trailing data"));
        }
        // The bound is on the text as `render` writes it (no blanks, strings
        // at their length), so that a rendered tree parses back; with the
        // widest object's sorted keys, which the tree holds for a moment.
        let sorted = p.widest * std::mem::size_of::<&str>();
        if p.cost + sorted > budget(text.len() - p.loose) {
            return Err(p.err(TOO_DENSE));
        }
        p.at = 0;
        p.building = true;
        p.value(0)
    }

    /// The field `key` of an object that Go reads into a struct (`ID`,
    /// `Spec`, `Role`); `Null` for anything else, and when another of its
    /// keys equals `key` but for case ([`keys_fold_equal`]): Go reads
    /// `{"ID":"a","Id":"b"}` into its field `ID` as "b" (the last), so
    /// either value rccr took could differ from what the engine's Go
    /// clients read. Absent, or ambiguous: neither is read.
    pub fn get(&self, key: &str) -> &Value {
        let mut field = &NULL;
        for (k, v) in self.members() {
            if **k == *key {
                field = v;
            } else if keys_fold_equal(k, key) {
                return &NULL;
            }
        }
        field
    }

    /// The entry `key` of an object that Go reads into a map (`Labels`,
    /// `Options`): its keys are kept as they are, so `Zone` and `zone`
    /// are two entries; `Null` when absent or for anything else.
    pub fn get_exact(&self, key: &str) -> &Value {
        self.members()
            .iter()
            .find(|(k, _)| **k == *key)
            .map_or(&NULL, |(_, v)| v)
    }

    /// The value at a path of struct fields (`["Swarm", "NodeID"]`), each
    /// read by [`Value::get`].
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
            Value::Number(n) => n.as_str().parse().ok(),
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
    pub fn members(&self) -> &[(Box<str>, Value)] {
        match self {
            Value::Object(members) => members,
            _ => &[],
        }
    }

    /// Sets field `key` of an object (replacing or appending); a
    /// non-object becomes an empty object first. Every other key equal to
    /// it but for case goes: the engine (Go) would read the last of them
    /// as the field, whichever it is.
    pub fn set(&mut self, key: &str, value: Value) {
        self.set_member(key, value, true);
    }

    /// Sets entry `key` of a map (`Labels`), whose keys are each their own
    /// whatever their case.
    pub fn set_exact(&mut self, key: &str, value: Value) {
        self.set_member(key, value, false);
    }

    fn set_member(&mut self, key: &str, value: Value, field: bool) {
        if !matches!(self, Value::Object(_)) {
            *self = Value::Object(Vec::new());
        }
        if let Value::Object(members) = self {
            if field {
                members.retain(|(k, _)| **k == *key || !keys_fold_equal(k, key));
            }
            match members.iter_mut().find(|(k, _)| **k == *key) {
                Some(member) => member.1 = value,
                None => members.push((key.into(), value)),
            }
        }
    }

    /// The value at a path of fields, made an object where it is not one.
    /// Each field is kept as it is where it is an object (a spec's `Labels`
    /// is patched in place), and the keys equal to it but for case go, as
    /// [`Value::set`] drops them.
    pub fn entry(&mut self, path: &[&str]) -> &mut Value {
        let mut v = self;
        for key in path {
            match v.get_exact(key) {
                Value::Object(_) => {
                    if let Value::Object(members) = v {
                        members.retain(|(k, _)| **k == **key || !keys_fold_equal(k, key));
                    }
                }
                _ => v.set(key, Value::Object(Vec::new())),
            }
            let Value::Object(members) = v else {
                unreachable!("an object, or set made it one")
            };
            v = members
                .iter_mut()
                .find(|(k, _)| **k == **key)
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
            Value::Number(n) => out.push_str(n.as_str()),
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
        Value::Number(Number::new(&n.to_string()).expect("20 digits at most"))
    }
}

/// The heap a text of `len` compact bytes may parse into.
fn budget(len: usize) -> usize {
    MAX_TREE_RATIO * len + TREE_SLACK
}

struct Parser<'t> {
    text: &'t [u8],
    at: usize,
    /// The second pass: values are built (the first builds none, and
    /// returns `Null` for each).
    building: bool,
    /// The item count of each array and object, in document order: the
    /// first pass writes them, the second sizes each one's vector by them.
    sizes: Vec<u32>,
    next_size: usize,
    /// The heap the tree will take, as the first pass counts it.
    cost: usize,
    /// What the tree may cost, for the whole text (checked as it goes).
    budget: usize,
    /// Bytes of the text beyond its compact form: blanks, and what escapes
    /// take beyond the characters they stand for.
    loose: usize,
    /// A string with escapes, unescaped (reused).
    unescaped: Vec<u8>,
    /// The most members an object has (first pass): the keys of one
    /// object at a time are sorted to find a repeated one.
    widest: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> ParseError {
        ParseError {
            offset: self.at,
            what,
        }
    }

    fn space(&mut self) {
        let from = self.at;
        while matches!(self.text.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
        self.loose += self.at - from;
    }

    fn eat(&mut self, word: &[u8]) -> bool {
        let found = self.text[self.at..].starts_with(word);
        if found {
            self.at += word.len();
        }
        found
    }

    /// Counts `bytes` more of tree (first pass).
    fn charge(&mut self, bytes: usize) -> Result<(), ParseError> {
        self.cost += bytes;
        if self.cost > self.budget {
            return Err(self.err(TOO_DENSE));
        }
        Ok(())
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
    /// read by `item` and held in `size` bytes of its vector, separated by
    /// commas, up to `close`. The first pass counts and costs them, and
    /// gives the count for the second's `Vec::with_capacity`.
    fn items<T>(
        &mut self,
        close: u8,
        size: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let mut items = Vec::new();
        let slot = self.sizes.len();
        if self.building {
            let count = self.sizes.get(self.next_size).copied().unwrap_or(0);
            items.reserve_exact(count as usize);
            self.next_size += 1;
        } else {
            self.charge(std::mem::size_of::<u32>())?;
            self.sizes.push(0);
        }
        let mut count = 0u32;
        self.at += 1;
        self.space();
        if self.eat(&[close]) {
            return Ok(items);
        }
        loop {
            if !self.building {
                self.charge(size)?;
            }
            let value = item(self)?;
            if self.building {
                items.push(value);
            }
            count += 1;
            self.space();
            if self.eat(&[close]) {
                break;
            }
            if !self.eat(b",") {
                return Err(self.err("expected ',' or a closing bracket"));
            }
        }
        if !self.building {
            self.sizes[slot] = count;
        }
        Ok(items)
    }

    fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
        let member = std::mem::size_of::<(Box<str>, Value)>();
        // Where the first pass counts this object's members.
        let slot = self.sizes.len();
        let members = self.items(b'}', member, |p| {
            p.space();
            if p.text.get(p.at) != Some(&b'"') {
                return Err(p.err("expected a key"));
            }
            let key = p.string()?.into_boxed_str();
            p.space();
            if !p.eat(b":") {
                return Err(p.err("expected ':'"));
            }
            Ok((key, p.value(depth + 1)?))
        })?;
        if !self.building {
            let count = self.sizes.get(slot).copied().unwrap_or(0) as usize;
            self.widest = self.widest.max(count);
        } else if members.len() > 1 {
            // Keys are only read in the second pass; the error is at the
            // object's end. (The sort of `&str`s the binary has anyway.)
            let mut keys: Vec<&str> = members.iter().map(|(k, _)| &**k).collect();
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err(self.err("repeated key"));
            }
        }
        Ok(Value::Object(members))
    }

    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        let size = std::mem::size_of::<Value>();
        let items = self.items(b']', size, |p| p.value(depth + 1))?;
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
        // Only ASCII was taken.
        let text = std::str::from_utf8(&self.text[start..self.at]).unwrap_or("");
        let number = Number::new(text).ok_or_else(|| self.err("number too long"))?;
        Ok(Value::Number(number))
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

    /// A string (at its opening quote). The first pass checks it and
    /// counts its bytes; the second allocates it at its exact length.
    fn string(&mut self) -> Result<String, ParseError> {
        self.at += 1;
        let start = self.at;
        let plain = self.text[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .filter(|&n| self.text[start + n] == b'"');
        let text = match plain {
            // No escape: the text itself.
            Some(len) => {
                self.at += len + 1;
                &self.text[start..start + len]
            }
            None => {
                self.unescape()?;
                &self.unescaped
            }
        };
        let text = std::str::from_utf8(text).map_err(|_| self.err("invalid UTF-8"))?;
        if self.building {
            Ok(String::from(text))
        } else {
            let len = text.len();
            // The text was the string's bytes and its closing quote.
            self.loose += self.at - start - 1 - len;
            self.charge(len)?;
            Ok(String::new())
        }
    }

    /// Unescapes a string with escapes (after its opening quote) into
    /// `self.unescaped`.
    fn unescape(&mut self) -> Result<(), ParseError> {
        let mut out = std::mem::take(&mut self.unescaped);
        out.clear();
        let result = self.unescape_into(&mut out);
        self.unescaped = out;
        result
    }

    fn unescape_into(&mut self, out: &mut Vec<u8>) -> Result<(), ParseError> {
        loop {
            let Some(&b) = self.text.get(self.at) else {
                return Err(self.err("unterminated string"));
            };
            self.at += 1;
            let c = match b {
                b'"' => return Ok(()),
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

    /// Go's decoder takes the last of a repeated key, `get` would take
    /// the first: a spec rccr patched could keep the engine's other value.
    /// A repeated key, escaped or not, at any depth, is refused.
    #[test]
    fn an_object_with_a_repeated_key_is_refused() {
        for bad in [
            &br#"{"Role":"worker","Role":"manager"}"#[..],
            br#"{"Spec":{"Labels":{"a":"1","b":"2","a":"3"}}}"#,
            br#"[{"x":1},{"a":1,"\u0061":2}]"#,
        ] {
            let e = Value::parse(bad).unwrap_err();
            assert_eq!(e.what, "repeated key", "{:?}", String::from_utf8_lossy(bad));
            assert!(e.offset <= bad.len(), "{e}");
        }
        // The same key in different objects is no repeat.
        let v = Value::parse(br#"{"a":1,"b":{"a":3},"c":[{"a":4},{"a":5}]}"#).unwrap();
        assert_eq!(v.at(&["b", "a"]).as_u64(), Some(3));
    }

    /// Go reads `{"ID":"a","Id":"b"}` into its struct field `ID` as "b"
    /// (it matches names ignoring case, and takes the last): a hostile
    /// node could show rccr one value and the engine's Go clients
    /// another. Such an object parses; a field read (`get`, `at`) of a
    /// key another key equals but for case, by Go's folding (the long s
    /// and the Kelvin sign too), escaped or not, reads neither value.
    #[test]
    fn a_field_another_key_equals_but_for_case_reads_as_absent() {
        for (text, path) in [
            (&br#"{"ID":"a","Id":"b"}"#[..], &["ID"][..]),
            (br#"{"ID":"a","Id":"b"}"#, &["Id"]),
            (br#"{"Id":"b","ID":"a"}"#, &["ID"]),
            (
                br#"{"Swarm":{"NodeID":"n1","nodeid":"n2"}}"#,
                &["Swarm", "NodeID"],
            ),
            (
                br#"{"Swarm":{"NodeID":"n1"},"swarm":{"NodeID":"n2"}}"#,
                &["Swarm", "NodeID"],
            ),
            (
                br#"{"Role":"worker","\u0072ole":"manager","x":1}"#,
                &["Role"],
            ),
            // Go folds U+017F (long s) to S, U+212A (Kelvin) to K.
            (
                "{\"Status\":{},\"\u{17f}tatus\":{}}".as_bytes(),
                &["Status"],
            ),
            (br#"{"Status":{},"\u017ftatus":{}}"#, &["Status"]),
            ("{\"Kind\":1,\"\u{212a}ind\":2}".as_bytes(), &["Kind"]),
        ] {
            let v = Value::parse(text).unwrap();
            assert_eq!(
                v.at(path),
                &Value::Null,
                "{:?} {path:?}",
                String::from_utf8_lossy(text)
            );
        }
        let v = Value::parse(br#"[{"x":1},{"Role":"worker","rOLE":"manager","x":2}]"#).unwrap();
        assert_eq!(v.as_array()[1].get("Role"), &Value::Null);
        // The object's other fields read as they are.
        assert_eq!(v.as_array()[1].get("x").as_u64(), Some(2));
        // Keys that only look alike, or fold beyond ASCII (which matches
        // no Docker field name), take nothing from each other.
        let v = Value::parse(br#"{"ID":"a","IDs":"b","I":"c","D":"d","A_":{"A":1}}"#).unwrap();
        assert_eq!(v.str_at(&["ID"]), "a");
        assert_eq!(v.str_at(&["IDs"]), "b");
        assert_eq!(v.at(&["A_", "A"]).as_u64(), Some(1));
        let v =
            Value::parse("{\"\u{e9}\":1,\"\u{c9}\":2,\"s\":3,\"\u{df}\":4}".as_bytes()).unwrap();
        assert_eq!(v.get("\u{e9}").as_u64(), Some(1));
        assert_eq!(v.get("s").as_u64(), Some(3));
        assert!(keys_fold_equal("NodeID", "nodeId"));
        assert!(!keys_fold_equal("NodeID", "NodeIDs"));
    }

    /// A Go map (`Labels`, `Options`, `DriverOpts`) keeps its keys as
    /// they are: `Zone` and `zone` are two labels, which any node may
    /// set. They parse, and each reads by an exact lookup.
    #[test]
    fn labels_equal_but_for_case_are_two_labels() {
        let text = br#"{"Spec":{"Role":"worker","Labels":{"Zone":"a","b":"2","zone":"b"}}}"#;
        let v = Value::parse(text).unwrap();
        let labels = v.at(&["Spec", "Labels"]);
        assert_eq!(labels.get_exact("Zone").as_str(), Some("a"));
        assert_eq!(labels.get_exact("zone").as_str(), Some("b"));
        assert_eq!(labels.get_exact("ZONE"), &Value::Null);
        assert_eq!(v.str_at(&["Spec", "Role"]), "worker");
        assert_eq!(Value::parse(v.render().as_bytes()).unwrap(), v);
    }

    /// `entry` follows exact keys, as `set` writes them: a spec's
    /// `Labels` is patched in place, whatever key equals it but for case,
    /// not replaced by an empty object that would drop its labels.
    #[test]
    fn entry_patches_the_exact_key() {
        let mut v = Value::parse(br#"{"Labels":{"a":"1","A":"2"},"labels":{"b":"2"}}"#).unwrap();
        v.entry(&["Labels"]).set_exact("a", "3".into());
        // The engine reads the last of Labels and labels: only Labels is sent.
        assert_eq!(v.render(), r#"{"Labels":{"a":"3","A":"2"}}"#);
    }

    /// A manager that answers `"Role":"worker",...,"role":"worker"`: Go
    /// reads the last for the field, so a spec rccr patched at `Role` alone
    /// kept the node a worker while rccr reported it promoted.
    #[test]
    fn setting_a_field_drops_the_keys_equal_to_it_but_for_case() {
        let mut v = Value::parse(br#"{"Role":"worker","x":1,"role":"worker","ROLE":"w"}"#).unwrap();
        v.set("Role", "manager".into());
        assert_eq!(v.render(), r#"{"Role":"manager","x":1}"#);
        let mut v = Value::parse(br#"{"role":"worker"}"#).unwrap();
        v.set("Role", "manager".into());
        assert_eq!(v.render(), r#"{"Role":"manager"}"#);
    }

    #[test]
    fn a_text_denser_than_an_answer_is_refused_before_anything_is_built() {
        // Ten thousand values in 20 KB: a tree of 320 KB (16 times).
        let dense = format!("[{}0]", "0,".repeat(10_000));
        let e = Value::parse(dense.as_bytes()).unwrap_err();
        assert_eq!(e.what, TOO_DENSE);
        assert!(e.to_string().starts_with("too dense at byte "), "{e}");
        // Blanks do not make it less dense; longer values do.
        let spaced = format!("[{}0]", "0,      ".repeat(10_000));
        assert_eq!(Value::parse(spaced.as_bytes()).unwrap_err().what, TOO_DENSE);
        let longer = format!("[{}0]", "1234567,".repeat(10_000));
        assert_eq!(
            Value::parse(longer.as_bytes()).unwrap().as_array().len(),
            10_001
        );
        // Escapes count as what they stand for, as `render` writes them:
        // what parses renders to a text that parses back.
        let escapes = |n: usize| {
            format!(
                "[{}0]",
                format!(r#""{}","#, r"\u0030".repeat(n)).repeat(10_000)
            )
        };
        assert_eq!(
            Value::parse(escapes(1).as_bytes()).unwrap_err().what,
            TOO_DENSE
        );
        let v = Value::parse(escapes(20).as_bytes()).unwrap();
        assert_eq!(Value::parse(v.render().as_bytes()).unwrap(), v);
        // A number's text is held in the value itself.
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }

    #[test]
    fn numbers_keep_their_text_up_to_their_bound() {
        for n in [
            "18446744073709551615",
            "-9223372036854775808",
            "-1.2345678901234567e-308",
        ] {
            let v = Value::parse(n.as_bytes()).unwrap();
            assert_eq!(v.render(), n);
        }
        assert_eq!(Value::from(u64::MAX).as_u64(), Some(u64::MAX));
        let long = "1".repeat(Number::MAX + 1);
        assert_eq!(
            Value::parse(long.as_bytes()).unwrap_err().what,
            "number too long"
        );
        assert!(Value::parse(&long.as_bytes()[1..]).is_ok());
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
