//! Test cases kept as data: inputs the parsers must refuse, one a line.

/// The cases of a `*_rejects.txt` file: `(line in the file, LINE:COL,
/// message part, input)`.
pub fn rejects(text: &str) -> Vec<(usize, String, String, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.is_empty())
        .map(|(n, l)| {
            let mut fields = l.splitn(3, '\t').map(unescape);
            let mut next = || {
                fields
                    .next()
                    .unwrap_or_else(|| panic!("line {}: 3 fields", n + 1))
            };
            (n + 1, next(), next(), next())
        })
        .collect()
}

/// Checks the one-line message `error` that refusing `text` gave: it
/// starts with the place `at` and says `what`.
#[track_caller]
pub fn assert_refused(text: &str, error: &str, at: &str, what: &str) {
    assert!(
        error.starts_with(&format!("{at}: ")) && error.contains(what),
        "{text:?}: got '{error}', want {at} {what}"
    );
    assert!(!error.contains('\n'), "one line: {error:?}");
}

/// Rust string literal escapes: `\n \t \r \0 \\ \" \' \u{...}`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            Some(other) => out.push(other),
            None => panic!("a lone backslash in {s:?}"),
        }
    }
    out
}

#[test]
fn escapes() {
    assert_eq!(unescape(r#"a\n\t\\\"\'\u{2028}x"#), "a\n\t\\\"'\u{2028}x");
}
