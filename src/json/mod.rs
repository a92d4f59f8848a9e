//! Just enough JSON: strings escaped per RFC 8259 for `--json` and the
//! config's differential test, and a bounded parser ([`Value`]) for what
//! the Docker Engine API answers. (No serde: it would cost more bytes than
//! all of rccr's JSON together.)
mod value;

pub use value::{Number, ParseError, Value, MAX_DEPTH, MAX_TREE_RATIO, TOO_DENSE};

/// Appends `s` as a JSON string literal, quotes included. Everything
/// outside printable ASCII is escaped (`\uXXXX`, UTF-16 units, as Python's
/// `json.dumps` does), so hostile names can reach neither a terminal nor a
/// parser raw.
pub fn push_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str("\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[usize::from((*unit >> shift) & 0xf)] as char);
                    }
                }
            }
        }
    }
    out.push('"');
}

/// A JSON string literal for `s`.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_str(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_controls_and_backslashes() {
        assert_eq!(string("plain"), r#""plain""#);
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            string("\n\t\u{1}\u{7f}\u{8}\u{c}"),
            r#""\n\t\u0001\u007f\b\f""#
        );
    }

    #[test]
    fn hostile_names_stay_inert() {
        assert_eq!(
            string("a\nd\x1b[0m é😀/"),
            r#""a\nd\u001b[0m \u00e9\ud83d\ude00/""#
        );
    }
}
