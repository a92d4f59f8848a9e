//! The one printer: tables for people, JSON for programs, and the escaping
//! every node-supplied string gets on its way to a terminal.
//!
//! A node's hostname, its error messages and its DNS name are whatever the
//! node (or the LAN) says. They reach a terminal only through [`name`] or
//! [`text`], which show control bytes and everything a terminal or shell
//! could act on as `?`; JSON escapes them through [`crate::json`].
use crate::error::Error;
use crate::json;
use std::borrow::Cow;
use std::io::Write;

/// A byte that may stand in a hostname or DNS name as shown.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// A name (hostname, DNS name) safe for a terminal: every character that
/// cannot be in a name (control bytes, spaces, shell metacharacters,
/// non-ASCII) becomes `?`.
pub fn name(s: &str) -> Cow<'_, str> {
    replace(s, |c| c.is_ascii() && is_name_byte(c as u8))
}

/// Free text (a node's error message) safe for a terminal: control bytes
/// and non-ASCII become `?`; printable ASCII stays.
pub fn text(s: &str) -> Cow<'_, str> {
    replace(s, |c| matches!(c, ' '..='~'))
}

/// A path from the node (a link's target, a file a configuration names)
/// safe for a terminal, as [`text`].
pub fn path(p: &std::path::Path) -> String {
    text(&p.to_string_lossy()).into_owned()
}

fn replace(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if s.chars().all(&keep) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if keep(c) { c } else { '?' }).collect())
}

/// A table: a header line and rows, each column as wide as its widest
/// cell, two spaces between columns, the last column not padded. Cells are
/// already escaped ([`name`], [`text`]) where they come from a node.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let row: Vec<String> = cells.into_iter().map(Into::into).collect();
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut cells = cells.peekable();
            let mut k = 0;
            while let Some(cell) = cells.next() {
                out.push_str(cell);
                if cells.peek().is_some() {
                    let pad = widths[k] - cell.chars().count() + 2;
                    out.extend(std::iter::repeat_n(' ', pad));
                }
                k += 1;
            }
            out.push('\n');
        };
        line(&mut self.header.iter().copied());
        for row in &self.rows {
            line(&mut row.iter().map(String::as_str));
        }
        out
    }
}

/// One JSON object on one line: `{"key": value, ...}`, keys in the order
/// added, strings escaped by [`crate::json`].
#[derive(Default)]
pub struct Object {
    body: String,
}

impl Object {
    pub fn new() -> Object {
        Object::default()
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.body.is_empty() {
            self.body.push_str(", ");
        }
        json::push_str(&mut self.body, key);
        self.body.push_str(": ");
        &mut self.body
    }

    pub fn str(mut self, key: &str, value: &str) -> Object {
        json::push_str(self.key(key), value);
        self
    }

    /// A string, or `null`.
    pub fn opt(self, key: &str, value: Option<&str>) -> Object {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    pub fn bool(self, key: &str, value: bool) -> Object {
        self.raw(key, if value { "true" } else { "false" })
    }

    pub fn num(self, key: &str, value: impl Into<u64>) -> Object {
        self.raw(key, &value.into().to_string())
    }

    /// A value that is already JSON (an array, a nested object).
    pub fn raw(mut self, key: &str, json: &str) -> Object {
        self.key(key).push_str(json);
        self
    }

    pub fn render(&self) -> String {
        format!("{{{}}}", self.body)
    }
}

/// A JSON array of strings on one line.
pub fn string_array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| json::string(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The `--json` document of every command: an array, one object a line.
pub fn array(objects: &[Object]) -> String {
    if objects.is_empty() {
        return "[]\n".into();
    }
    let mut out = String::from("[");
    for (i, o) in objects.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        out.push_str(&o.render());
    }
    out.push_str("\n]\n");
    out
}

/// A figure in hundredths, shown as `{:.2}` shows a float (`0.42`,
/// `3.10`, `12.00`), with integers only: the binary then carries no float
/// parsing or formatting (29,920 bytes on x86_64).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Centi(pub u64);

impl Centi {
    /// A plain decimal (`0.42`, `3.1`, `12`, `+.5`) rounded half up to
    /// hundredths; `None` for anything else (a minus sign, an exponent,
    /// `inf`, `nan`) and from 10^15 on.
    pub fn parse(s: &str) -> Option<Centi> {
        let s = s.strip_prefix('+').unwrap_or(s);
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let mut digits = int.bytes().chain(frac.bytes());
        if (int.is_empty() && frac.is_empty())
            || int.len() > 15
            || !digits.all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let whole = int.bytes().fold(0, |n, b| n * 10 + u64::from(b - b'0'));
        let at = |i: usize| frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
        Some(Centi(
            whole * 100 + at(0) * 10 + at(1) + u64::from(at(2) >= 5),
        ))
    }

    /// A duration in seconds, rounded half up to hundredths.
    pub fn secs(d: std::time::Duration) -> Centi {
        Centi(d.as_secs() * 100 + u64::from((d.subsec_nanos() + 5_000_000) / 10_000_000))
    }
}

impl std::fmt::Display for Centi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--quiet`: progress lines are not printed from now on (the result,
/// the summary and errors still are).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// A progress line on stderr, `PROGRAM: line`, unless `--quiet`.
pub fn progress(program: &str, line: &str) {
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("{program}: {line}");
    }
}

/// A warning on stderr, `PROGRAM: warning: what`, one line with its
/// control characters escaped as an error's are: what it names (a path in
/// the config) is anyone's text. Printed whatever `--quiet` says, as
/// errors are.
pub fn warning(program: &str, what: &dyn std::fmt::Display) {
    let line = format!("{program}: warning: {what}");
    eprintln!("{}", crate::error::one_line(&line));
}

/// Writes a command's result to stdout. A closed pipe (`rccr status |
/// head -1`) is no error: the reader has all it wanted, and the command
/// goes on to its own verdict, which the exit code still tells.
pub fn stdout(text: &str) -> Result<(), Error> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.map_err(|e| Error::io("stdout", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hundredths_read_and_show_as_two_decimals() {
        for (text, shown) in [
            ("0.42", "0.42"),
            ("3.1", "3.10"),
            ("12", "12.00"),
            ("+.5", "0.50"),
            ("7.", "7.00"),
            ("1.005", "1.01"),
            ("2.994", "2.99"),
            ("999999999999999.999", "1000000000000000.00"),
        ] {
            assert_eq!(
                Centi::parse(text).map(|c| c.to_string()).as_deref(),
                Some(shown),
                "{text}"
            );
        }
        for bad in [
            "",
            ".",
            "-1",
            "1e3",
            "inf",
            "nan",
            "1.2.3",
            " 1",
            "0x1",
            "1000000000000000",
        ] {
            assert_eq!(Centi::parse(bad), None, "{bad}");
        }
        let d = |s, n| std::time::Duration::new(s, n);
        assert_eq!(Centi::secs(d(3, 994_999_999)).to_string(), "3.99");
        assert_eq!(Centi::secs(d(3, 995_000_000)).to_string(), "4.00");
        assert_eq!(Centi::secs(d(0, 0)).to_string(), "0.00");
    }

    #[test]
    fn names_show_what_a_terminal_or_shell_would_act_on_as_question_marks() {
        assert_eq!(
            name("ReCyClusteR-Target-01.lab"),
            "ReCyClusteR-Target-01.lab"
        );
        assert_eq!(
            name("evil\x1b[2J;$(reboot) `x`|&"),
            "evil??2J???reboot???x???"
        );
        assert_eq!(name("tab\there\r\n"), "tab?here??");
        assert_eq!(name("naïve"), "na?ve");
    }

    #[test]
    fn text_keeps_printable_ascii_only() {
        assert_eq!(text("exit 1: no such file"), "exit 1: no such file");
        assert_eq!(text("a\x1b]0;pwned\x07b\nc\u{9b}d"), "a?]0;pwned?b?c?d");
        // A path as text, its bytes that are not UTF-8 too.
        use std::os::unix::ffi::OsStrExt;
        let p = std::ffi::OsStr::from_bytes(b"/tmp/\xff\x1b[2J");
        assert_eq!(path(std::path::Path::new(p)), "/tmp/??[2J");
    }

    #[test]
    fn tables_line_up_and_do_not_pad_the_last_column() {
        let mut t = Table::new(&["IP", "NAME", "RESULT"]);
        t.row(["10.0.0.5", "a", "ok"]);
        t.row(["10.0.0.17", "longer-name", "x"]);
        assert_eq!(
            t.render(),
            "IP         NAME         RESULT\n10.0.0.5   a            ok\n10.0.0.17  longer-name  x\n"
        );
        assert_eq!(Table::new(&["A", "B"]).render(), "A  B\n");
    }

    #[test]
    fn json_objects_and_arrays() {
        let o = Object::new()
            .str("ip", "10.0.0.5")
            .opt("mac", None)
            .bool("ssh", true)
            .num("port", 22u16)
            .raw("list", &string_array(&["a\"".into()]))
            .str("name", "x\ny\x1b");
        assert_eq!(
            o.render(),
            r#"{"ip": "10.0.0.5", "mac": null, "ssh": true, "port": 22, "list": ["a\""], "name": "x\ny\u001b"}"#
        );
        assert_eq!(array(&[]), "[]\n");
        assert_eq!(
            array(&[Object::new().num("a", 1u8), Object::new().num("a", 2u8)]),
            "[\n  {\"a\": 1},\n  {\"a\": 2}\n]\n"
        );
    }
}
