//! Differential tests of the config YAML subset (`rccr::config::yaml`)
//! against PyYAML, the parser Ansible and most users' tools share.
//!
//! - `tests/config_corpus/valid/*.yml`, the shipped `cluster_config.yml` and
//!   the ```yaml blocks of `docs/config.md` must parse to the same value in
//!   both.
//! - `tests/config_corpus/invalid/*.yml` must be rejected by ours; the
//!   first line, `# expect: LINE:COL text`, says where and why.
//! - Every short plain scalar over a tricky alphabet: whenever ours accepts
//!   one, PyYAML must read the same value.
//! - Random documents generated in the subset, in varied styles: both must
//!   read the value they were generated from.
//!
//! PyYAML runs through `tests/config_pyyaml.py` (`python3`, or
//! `$RCCR_PYTHON`). Without it the tests skip, unless `CI` is set.
#[path = "common/skip.rs"]
#[allow(unused_imports)] // or_skip
mod skip;

use rccr::config::yaml::{self, Entry, Node, Pos, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// PyYAML's reading of each document (compact JSON or `ERROR ...`), or
/// `None` when PyYAML is missing and we are not in CI.
fn pyyaml(docs: &[String]) -> Option<Vec<String>> {
    let python = std::env::var("RCCR_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import yaml"]).output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        skip::skip(&format!(
            "PyYAML is not importable with {python} (pip install pyyaml)"
        ));
        return None;
    }
    let mut input = String::from("[");
    for (n, d) in docs.iter().enumerate() {
        if n > 0 {
            input.push(',');
        }
        rccr::json::push_str(&mut input, d);
    }
    input.push(']');
    let mut child = Command::new(&python)
        .arg(root().join("tests/config_pyyaml.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python output");
    writer.join().unwrap().expect("write to python");
    assert!(out.status.success(), "tests/config_pyyaml.py failed");
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), docs.len(), "one line per document");
    Some(lines)
}

fn ours(text: &str) -> Result<String, String> {
    yaml::parse(text)
        .map(|v| yaml::to_json(&v))
        .map_err(|e| e.to_string())
}

fn corpus(dir: &str) -> Vec<(String, String)> {
    let dir = root().join("tests/config_corpus").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The ```yaml blocks of a Markdown file.
fn yaml_blocks(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut blocks = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        match &mut cur {
            None if line.trim() == "```yaml" => cur = Some((n + 1, String::new())),
            Some((start, body)) if line.trim_start().starts_with("```") => {
                blocks.push((format!("{}:{start}", path.display()), std::mem::take(body)));
                cur = None;
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn corpus_matches_pyyaml() {
    let mut valid = corpus("valid");
    assert!(
        valid.len() >= 40,
        "valid corpus has {} documents",
        valid.len()
    );
    let shipped = root().join("cluster_config.yml");
    valid.push((
        "cluster_config.yml".into(),
        std::fs::read_to_string(shipped).unwrap(),
    ));
    let docs_examples = yaml_blocks(&root().join("docs/config.md"));
    assert!(docs_examples.len() >= 3, "docs/config.md has yaml examples");
    valid.extend(docs_examples);
    let invalid = corpus("invalid");
    assert!(
        invalid.len() >= 30,
        "invalid corpus has {} documents",
        invalid.len()
    );

    // Ours first: this part needs no Python.
    let mut failures = Vec::new();
    for (name, text) in &invalid {
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{name}: first line must be '# expect: LINE:COL text'"));
        let (at, what) = expect.split_once(' ').unwrap();
        match ours(text) {
            Ok(v) => failures.push(format!("{name}: accepted as {v}")),
            Err(e) if !e.starts_with(&format!("{at}: ")) || !e.contains(what) => {
                failures.push(format!("{name}: error '{e}', expected '{expect}'"))
            }
            Err(_) => {}
        }
    }
    let Some(theirs) = pyyaml(&valid.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>()) else {
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
        return;
    };
    for ((name, text), theirs) in valid.iter().zip(&theirs) {
        match ours(text) {
            Ok(v) if &v == theirs => {}
            Ok(v) => failures.push(format!("{name}: ours {v}\n  PyYAML {theirs}")),
            Err(e) => failures.push(format!("{name}: rejected: {e} (PyYAML: {theirs})")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    eprintln!(
        "{} valid documents match PyYAML, {} invalid ones are rejected",
        valid.len(),
        invalid.len()
    );
}

/// Every plain scalar of up to 3 characters over an alphabet of number,
/// boolean and indicator characters (and up to 4 over digits and
/// separators): where ours accepts `k: S`, PyYAML must agree.
#[test]
fn short_plain_scalars_match_pyyaml() {
    fn words(alphabet: &[&str], max: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..max {
            let next: Vec<String> = last
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            all.extend(next.iter().cloned());
            last = next;
        }
        all
    }
    let wide = [
        "0", "1", "7", "9", "_", ".", ":", "-", "+", "e", "x", "o", "b", "n", "N", "~", "y", "O",
        "#", " ", "'", "/", "<", "=",
    ];
    let narrow = ["0", "1", "6", ":", ".", "_", "-", "e"];
    let mut scalars = words(&wide, 3);
    scalars.extend(words(&narrow, 4));
    scalars.extend(
        [
            "2024-01-01",
            "2024-1-1",
            "2024-01-01T10:00:00Z",
            "2024-01-01 10:00:00",
            "2001-12-14t21:59:43.10-05:00",
            "1:20",
            "190:20:30",
            "190:20:30.15",
            "-1:30",
            "0:30",
            "1:60",
            "10:11:22:33:44:55",
            "00:11:22:33:44:55",
            "aa:bb:cc:dd:ee:ff",
            "8080:80",
            "8080:22",
            "8080:80/udp",
            "0x1F",
            "0xff_ff",
            "0b1010",
            "0o17",
            "017",
            "0_17",
            "1_000",
            "1e3",
            "1E3",
            "1.5e3",
            "1.5e+3",
            "1.5E-3",
            "6.8523015e+5",
            ".inf",
            "-.Inf",
            "+.INF",
            ".nan",
            ".NaN",
            "+.nan",
            "3.19",
            "1.2.3",
            "192.168.1.0/24",
            "10.0.0.1",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "99999999999999999999",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "n",
            "Y",
            "N",
            "True",
            "tRUE",
            "NULL",
            "nULL",
            "~~",
            "<<",
            "=",
            "alpine:3.19",
            "nginx@sha256:ab",
            "a b c",
            "a  b",
            "é",
            "日本",
            "😀",
            "-x",
            "--",
            "---",
            "...",
            "a#b",
            "a,b",
            "a]",
            "a}",
            "a[b]",
            "%a",
            "a%",
            "a!",
            "a&",
            "a*",
            "a|",
            "a>",
            "a'",
            "a\"",
            "a\\",
        ]
        .map(String::from),
    );
    scalars.retain(|s| !s.is_empty());
    let docs: Vec<String> = scalars.iter().map(|s| format!("k: {s}\n")).collect();
    // Ours must never panic, and must reject what it calls invalid.
    let results: Vec<Result<String, String>> = docs.iter().map(|d| ours(d)).collect();
    let Some(theirs) = pyyaml(&docs) else { return };
    // What ours rejects of what PyYAML reads as a string, it rejects on
    // purpose: a number or date in some YAML version, or what its subset
    // leaves out. Rejecting for any other reason is no free pass.
    const ON_PURPOSE: [&str; 3] = [
        "is a number or date in some YAML versions",
        "a plain value cannot start with this character",
        "unexpected text after the value",
    ];
    let mut failures = Vec::new();
    let mut accepted = 0;
    for ((s, ours), theirs) in scalars.iter().zip(&results).zip(&theirs) {
        match ours {
            Ok(v) => {
                accepted += 1;
                if v != theirs {
                    failures.push(format!("{s:?}: ours {v}, PyYAML {theirs}"));
                }
            }
            Err(e)
                if theirs.starts_with("{\"k\":\"") && !ON_PURPOSE.iter().any(|r| e.contains(r)) =>
            {
                failures.push(format!(
                    "{s:?}: ours rejects it ({e}), PyYAML reads {theirs}"
                ));
            }
            Err(_) => {}
        }
    }
    assert_none_failed(&failures, scalars.len());
    // 15200 of 19189 when this was written.
    assert!(
        accepted >= 15_000,
        "ours accepts only {accepted} of {} short scalars",
        scalars.len()
    );
    eprintln!(
        "{} short scalars: {accepted} accepted and match PyYAML",
        scalars.len()
    );
}

/// Fails unless `failures` is empty, counting them (of `tried`) and showing
/// the first five.
#[track_caller]
fn assert_none_failed(failures: &[String], tried: usize) {
    assert!(
        failures.is_empty(),
        "{} of {tried}:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
}

/// A tiny deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ATOMS: &[&str] = &[
    "a",
    "b",
    "z",
    "A",
    "Z",
    "0",
    "1",
    "9",
    " ",
    "  ",
    ":",
    ": ",
    "#",
    " #",
    "-",
    "- ",
    ".",
    "_",
    "/",
    "'",
    "\"",
    "\\",
    "@",
    "%",
    "!",
    "&",
    "*",
    ",",
    "[",
    "]",
    "{",
    "}",
    "|",
    ">",
    "?",
    "=",
    "<",
    "~",
    "\t",
    "\n",
    "\r",
    "\0",
    "\u{7}",
    "\u{1b}",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{feff}",
    "é",
    "日",
    "😀",
    "yes",
    "no",
    "on",
    "null",
    "true",
    "1.0",
    "0x1f",
    "010",
    "1_000",
    "12:30",
    "2024-01-01",
    ".inf",
    "1e3",
    "---",
    "...",
    "<<",
    "00:11:22:33:44:55",
    "192.168.1.0/24",
    "8080:80",
    "ReCyClusteR",
    "hostname_filter",
    "\\x41",
    "\\u263a",
];

fn gen_string(rng: &mut Rng) -> String {
    let n = rng.below(5);
    (0..n).map(|_| *rng.pick(ATOMS)).collect()
}

fn gen_value(rng: &mut Rng, depth: usize) -> Value {
    let leaf = depth >= 5 || (depth > 0 && rng.chance(20 + depth * 12));
    if leaf {
        return match rng.below(10) {
            0 => Value::Null,
            1 => Value::Bool(rng.chance(50)),
            2 => Value::Int(match rng.below(4) {
                0 => i64::MAX,
                1 => i64::MIN,
                2 => 0,
                _ => (rng.next() % 2_000_000) as i64 - 1_000_000,
            }),
            3 => Value::Seq(Vec::new()),
            4 => Value::Map(Vec::new()),
            _ => Value::Str(gen_string(rng)),
        };
    }
    let n = 1 + rng.below(5);
    if rng.chance(50) {
        Value::Seq((0..n).map(|_| node(gen_value(rng, depth + 1))).collect())
    } else {
        let mut entries: Vec<Entry> = Vec::new();
        for _ in 0..n {
            let key = if rng.chance(70) {
                rng.pick(&[
                    "name", "image", "ports", "a", "b-c", "x_y", "Key", "k1", "é", "-k", "1a",
                ])
                .to_string()
            } else {
                gen_string(rng)
            };
            if entries.iter().any(|e| e.key == key) {
                continue;
            }
            entries.push(Entry {
                key,
                key_pos: POS,
                value: node(gen_value(rng, depth + 1)),
            });
        }
        Value::Map(entries)
    }
}

const POS: Pos = Pos { line: 0, col: 0 };

fn node(value: Value) -> Node {
    Node { pos: POS, value }
}

/// Whether `s` can be written unquoted and still read back as the string.
fn plain_ok(s: &str) -> bool {
    let first_ok = match s.as_bytes().first() {
        None => false,
        Some(b'-') => s.len() > 1 && s.as_bytes()[1] != b' ',
        Some(c) => !b"?:,[]{}#&*!|>'\"%@` ".contains(c),
    };
    first_ok
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.chars().any(|c| {
            c.is_control()
                || matches!(
                    c,
                    '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{a0}'
                )
        })
        && yaml::resolve(s) == Ok(Value::Str(s.to_string()))
}

fn quote(rng: &mut Rng, s: &str) -> String {
    let raw_ok =
        |c: char| !c.is_control() && !matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}');
    if s.chars().all(|c| raw_ok(c) || c == '\t') && rng.chance(50) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' if rng.chance(50) => out.push_str("\\t"),
            '/' if rng.chance(50) => out.push_str("\\/"),
            c if !raw_ok(c) && c != '\t' || (c as u32 > 0x7f && rng.chance(30)) => {
                let v = c as u32;
                out.push_str(&match rng.below(3) {
                    0 if v <= 0xff => format!("\\x{v:02X}"),
                    1 if v <= 0xffff => format!("\\u{v:04x}"),
                    _ => format!("\\U{v:08X}"),
                });
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar_text(rng: &mut Rng, v: &Value, root: bool) -> String {
    match v {
        Value::Null => rng.pick(&["", "~", "null", "Null", "NULL"]).to_string(),
        Value::Bool(b) => {
            let words: &[&str] = if *b {
                &["true", "True", "TRUE"]
            } else {
                &["false", "False", "FALSE"]
            };
            rng.pick(words).to_string()
        }
        Value::Int(n) if *n >= 0 && rng.chance(20) => format!("+{n}"),
        Value::Int(n) => n.to_string(),
        Value::Seq(_) => rng.pick(&["[]", "[ ]"]).to_string(),
        Value::Map(_) => rng.pick(&["{}", "{  }"]).to_string(),
        Value::Str(s) => {
            let marker = root && (s.starts_with("---") || s.starts_with("..."));
            if plain_ok(s) && !marker && rng.chance(80) {
                s.clone()
            } else {
                quote(rng, s)
            }
        }
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Seq(s) if !s.is_empty()) || matches!(v, Value::Map(m) if !m.is_empty())
}

fn comment(rng: &mut Rng) -> String {
    if rng.chance(15) {
        format!(
            " {}# {}",
            " ".repeat(rng.below(2)),
            rng.pick(&["c", "key: value", "- x", "\"'", "#", "\t x"])
        )
    } else {
        String::new()
    }
}

/// Writes the block node `v` starting on a fresh line at `indent`.
fn render(rng: &mut Rng, v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Map(entries) if !entries.is_empty() => {
            for e in entries {
                let key = if plain_ok(&e.key) && e.key.len() < 200 && rng.chance(85) {
                    e.key.clone()
                } else {
                    quote(rng, &e.key)
                };
                out.push_str(&format!(
                    "{pad}{key}{}:",
                    if rng.chance(5) { " " } else { "" }
                ));
                after_key(rng, &e.value.value, indent, out);
            }
        }
        Value::Seq(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                after_dash(rng, &item.value, indent, out);
            }
        }
        _ => {
            let s = scalar_text(rng, v, indent == 0);
            let s = if s.is_empty() { "~".to_string() } else { s };
            out.push_str(&format!("{pad}{s}{}\n", comment(rng)));
        }
    }
}

/// Writes a scalar `v` on the line of its key or dash; false (nothing
/// written) for a block node.
fn inline_scalar(rng: &mut Rng, v: &Value, out: &mut String) -> bool {
    if is_block(v) {
        return false;
    }
    let s = scalar_text(rng, v, false);
    let sep = if s.is_empty() { "" } else { " " };
    out.push_str(&format!("{sep}{s}{}\n", comment(rng)));
    true
}

fn after_key(rng: &mut Rng, v: &Value, indent: usize, out: &mut String) {
    if inline_scalar(rng, v, out) {
        return;
    }
    out.push_str(&format!("{}\n", comment(rng)));
    let indentless = matches!(v, Value::Seq(_)) && rng.chance(30);
    let width = if indentless { 0 } else { 1 + rng.below(4) };
    render(rng, v, indent + width, out);
}

fn after_dash(rng: &mut Rng, v: &Value, indent: usize, out: &mut String) {
    if inline_scalar(rng, v, out) {
        return;
    }
    if rng.chance(30) {
        out.push_str(&format!("{}\n", comment(rng)));
        let width = 1 + rng.below(4);
        render(rng, v, indent + width, out);
        return;
    }
    // Compact: the nested node starts on the dash's line.
    let spaces = 1 + rng.below(3);
    let mut nested = String::new();
    render(rng, v, indent + 1 + spaces, &mut nested);
    out.push_str(&" ".repeat(spaces));
    out.push_str(&nested[indent + 1 + spaces..]);
}

/// Sprinkles blank and comment lines between the lines of `doc`.
fn sprinkle(rng: &mut Rng, doc: &str) -> String {
    let mut out = String::new();
    for line in doc.lines() {
        if rng.chance(8) {
            let pad = " ".repeat(rng.below(6));
            out.push_str(&if rng.chance(50) {
                format!("{pad}# note\n")
            } else {
                format!("{pad}\n")
            });
        }
        out.push_str(line);
        out.push_str(if rng.chance(3) { "\r\n" } else { "\n" });
    }
    out
}

#[test]
fn generated_documents_match_pyyaml() {
    const COUNT: usize = 2000;
    let mut rng = Rng(0x0005_eed0_f7ec_c1e5);
    let mut docs = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..COUNT {
        let mut v = gen_value(&mut rng, 0);
        if rng.chance(85) && !matches!(v, Value::Map(_)) {
            v = Value::Map(vec![Entry {
                key: "root".into(),
                key_pos: POS,
                value: node(v),
            }]);
        }
        let mut text = String::new();
        let indent = if rng.chance(10) { 2 } else { 0 };
        render(&mut rng, &v, indent, &mut text);
        docs.push(sprinkle(&mut rng, &text));
        expected.push(yaml::to_json(&node(v)));
    }
    let mut failures = Vec::new();
    for (doc, want) in docs.iter().zip(&expected) {
        match ours(doc) {
            Ok(v) if &v == want => {}
            Ok(v) => failures.push(format!("{doc:?}\n  ours {v}\n  want {want}")),
            Err(e) => failures.push(format!("{doc:?}\n  rejected: {e}\n  want {want}")),
        }
    }
    assert_none_failed(&failures, COUNT);
    let Some(theirs) = pyyaml(&docs) else { return };
    for ((doc, want), theirs) in docs.iter().zip(&expected).zip(&theirs) {
        if want != theirs {
            failures.push(format!("{doc:?}\n  PyYAML {theirs}\n  want   {want}"));
        }
    }
    assert_none_failed(&failures, COUNT);
    eprintln!("{COUNT} generated documents read alike by ours and PyYAML");
}
