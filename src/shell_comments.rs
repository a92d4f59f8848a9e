//! Takes the comments out of the POSIX sh scripts the binary carries
//! (`keys/node/remote.sh`, `swarm/machine.sh`): build.rs runs it, and the
//! binary embeds the result. The comments document the protocol for people
//! reading the source; on the node they are bytes sent on every login and
//! kept in the binary (about 13 KB of 23 KB).
//!
//! Only whole lines go, and only where that cannot change what sh runs:
//! indentation, blank lines and `#` lines outside any quote. A line inside
//! a multi-line quote is kept as it is. A script this cannot strip safely
//! (a here-document, a comment or blank line after a `\` continuation, a
//! quote left open) is an error, so the build stops rather than ship a
//! script that means something else.

/// Where a line starts: outside quotes, or inside a quote opened above.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Quote {
    None,
    Single,
    Double,
}

/// `script` without its comment lines, blank lines and indentation; or why
/// it cannot be stripped safely (with the 1-based line number).
pub fn strip(script: &str) -> Result<String, String> {
    let mut out = String::with_capacity(script.len());
    let mut quote = Quote::None;
    let mut continued = false;
    for (number, line) in script.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if quote != Quote::None {
            out.push_str(line);
            out.push('\n');
            quote = scan(line, quote);
            continued = quote == Quote::None && ends_in_backslash(line);
            continue;
        }
        let code = line.trim_start();
        if line.contains("<<") {
            return Err(format!(
                "line {number}: a here-document (keep it unstripped)"
            ));
        }
        if code.is_empty() || code.starts_with('#') {
            if continued {
                return Err(format!(
                    "line {number}: a comment or blank line after a `\\`"
                ));
            }
            continue;
        }
        out.push_str(code);
        out.push('\n');
        quote = scan(code, Quote::None);
        continued = quote == Quote::None && ends_in_backslash(code);
    }
    match quote {
        Quote::None => Ok(out),
        _ => Err("a quote is still open at the end".into()),
    }
}

/// The quote state after `line`, given the state before it. A `#` that
/// starts a word ends the scan (the rest is a comment); `$(...)` inside
/// double quotes is read as plain text, which is enough for these scripts,
/// and a wrong reading shows as a quote open at the end.
fn scan(line: &str, mut quote: Quote) -> Quote {
    let mut chars = line.chars().peekable();
    let mut word_start = true;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Quote::None, '#') if word_start => break,
            (Quote::None | Quote::Double, '\\') => {
                chars.next();
            }
            (Quote::None, '\'') => quote = Quote::Single,
            (Quote::None, '"') => quote = Quote::Double,
            (Quote::Single, '\'') | (Quote::Double, '"') => quote = Quote::None,
            _ => {}
        }
        word_start =
            quote == Quote::None && (c.is_whitespace() || matches!(c, ';' | '(' | '|' | '&'));
    }
    quote
}

/// Whether the line ends in a `\` that escapes the newline (an odd run).
fn ends_in_backslash(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn comments_blank_lines_and_indentation_go() {
        let script = "# header\n\nf() {\n\t# why\n\techo a # said\n}\n  f\n";
        assert_eq!(strip(script).unwrap(), "f() {\necho a # said\n}\nf\n");
    }

    #[test]
    fn a_multi_line_quote_is_kept_as_it_is() {
        let script = "x='one\n# not a comment\n\n  two'\necho \"a\n\t# data\nb\"\n";
        assert_eq!(strip(script).unwrap(), script);
    }

    #[test]
    fn quotes_and_hashes_inside_words_are_read_as_sh_reads_them() {
        // `$#`, `${#x}` and a `#` inside quotes start no comment; a `'`
        // inside double quotes or after a `\` opens no quote.
        let script = "echo $# ${#x} \"it's #1\" \\' a#b\n# gone\n";
        assert_eq!(
            strip(script).unwrap(),
            "echo $# ${#x} \"it's #1\" \\' a#b\n"
        );
    }

    #[test]
    fn a_comment_after_a_continuation_is_refused() {
        // sh would join the next line into the comment; dropping it would
        // join the next line into the command instead.
        let err = strip("echo a \\\n# why\nb\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(strip("echo a \\\n\nb\n").is_err());
        // An escaped backslash ends no line in a continuation.
        assert_eq!(strip("echo a\\\\\n# x\n").unwrap(), "echo a\\\\\n");
    }

    #[test]
    fn here_documents_and_open_quotes_are_refused() {
        assert!(strip("cat <<EOF\n# text\nEOF\n")
            .unwrap_err()
            .starts_with("line 1:"));
        assert!(strip("echo 'never closed\n").is_err());
    }
}
