//! Takes the comments out of the POSIX sh scripts the binary carries
//! (`keys/node/remote.sh`, `swarm/machine.sh`): build.rs runs it, and the
//! binary embeds the result. The comments document the protocol for people
//! reading the source; on the node they are bytes sent on every login and
//! kept in the binary (about 13 KB of 23 KB).
//!
//! Only whole lines go, and only where that cannot change what sh runs:
//! indentation, blank lines and `#` lines outside any quote or `$(...)`.
//! A line inside a multi-line quote, or joined to the one above by a `\`,
//! is kept as it is. What this reader cannot be sure of stops the build
//! rather than ship a script that means something else: a here-document,
//! a backquote, a quote mark in a comment after code, a comment inside
//! `$(...)`, a quote left open, a carriage return. The unit tests also
//! check the two real scripts against bash's own parse of them.

/// What the line so far is inside of, innermost last; none: plain code.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Frame {
    Single,
    Double,
    /// `$(`, with the depth of the plain parentheses opened inside it.
    Substitution(u32),
}

/// `script` without its comment lines, blank lines and indentation; or why
/// it cannot be stripped safely (with the 1-based line number).
pub fn strip(script: &str) -> Result<String, String> {
    if script.contains('\r') {
        return Err("a carriage return (save the file with LF line ends)".into());
    }
    let mut out = String::with_capacity(script.len());
    let mut open: Vec<Frame> = Vec::new();
    let mut continued = false;
    for (number, line) in script.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        let at = |why: &str| format!("line {number}: {why}");
        if line.contains("<<") {
            return Err(at("a here-document (keep it unstripped)"));
        }
        let kept = if open.is_empty() && !continued {
            let code = line.trim_start_matches([' ', '\t']);
            if code.is_empty() || code.starts_with('#') {
                continue;
            }
            code
        } else {
            line
        };
        out.push_str(kept);
        out.push('\n');
        scan(kept, &mut open).map_err(at)?;
        continued = open.is_empty() && ends_in_backslash(kept);
    }
    match open.is_empty() {
        true => Ok(out),
        false => Err("a quote or `$(` is still open at the end".into()),
    }
}

/// Reads `line` as sh does, far enough to know what is open after it.
fn scan(line: &str, open: &mut Vec<Frame>) -> Result<(), &'static str> {
    let mut chars = line.chars().peekable();
    let mut word_start = true;
    while let Some(c) = chars.next() {
        let code = !matches!(open.last(), Some(Frame::Single | Frame::Double));
        match (open.last().copied(), c) {
            (Some(Frame::Single), '\'') => {
                open.pop();
            }
            (Some(Frame::Single), _) => {}
            (_, '#') if code && word_start => {
                if open.is_empty() && !chars.any(|c| matches!(c, '\'' | '"' | '`')) {
                    return Ok(());
                }
                return Err("a comment inside `$(` or with a quote mark after code");
            }
            (_, '`') => return Err("a backquote (use $(...))"),
            (_, '\\') => {
                chars.next();
            }
            (_, '$') if chars.peek() == Some(&'(') => {
                chars.next();
                open.push(Frame::Substitution(0));
                word_start = true;
                continue;
            }
            (Some(Frame::Double), '"') => {
                open.pop();
            }
            (Some(Frame::Double), _) => {}
            (_, '\'') => open.push(Frame::Single),
            (_, '"') => open.push(Frame::Double),
            (Some(Frame::Substitution(depth)), '(') => {
                open.pop();
                open.push(Frame::Substitution(depth + 1));
            }
            (Some(Frame::Substitution(0)), ')') => {
                open.pop();
            }
            (Some(Frame::Substitution(depth)), ')') => {
                open.pop();
                open.push(Frame::Substitution(depth - 1));
            }
            _ => {}
        }
        word_start = c.is_whitespace() || matches!(c, ';' | '(' | ')' | '|' | '&' | '<' | '>');
    }
    Ok(())
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
        for (script, shipped) in [
            // `$#`, `${#x}` and a `#` inside quotes start no comment; a `'`
            // inside double quotes or after a `\` opens no quote.
            (
                "echo $# ${#x} \"it's #1\" \\' a#b\n# gone\n",
                "echo $# ${#x} \"it's #1\" \\' a#b\n",
            ),
            // Quotes inside `$(` inside quotes are nested, as sh nests them.
            (
                "m=\"$(awk '$1 == \"M:\" { print $2 }' f)\"\n  # x\n",
                "m=\"$(awk '$1 == \"M:\" { print $2 }' f)\"\n",
            ),
        ] {
            assert_eq!(strip(script).unwrap(), shipped);
        }
    }

    #[test]
    fn a_line_joined_to_the_one_above_is_kept_as_it_is() {
        // sh joins the next line to a `\`-ended one: dropping a comment or
        // blank line there, or its indentation, would change the command.
        for script in [
            "echo a \\\n# why\nb\n",
            "echo a \\\n\nb\n",
            "x=abc\\\n  def\n",
        ] {
            assert_eq!(strip(script).unwrap(), script);
        }
        // An escaped backslash ends no line in a continuation.
        assert_eq!(strip("echo a\\\\\n# x\n").unwrap(), "echo a\\\\\n");
    }

    #[test]
    fn a_multi_line_substitution_is_kept_line_for_line() {
        let script = "v=$(f a \\\n  # b\n)\n";
        assert!(strip(script).is_err(), "a comment inside $( is refused");
        let script = "v=$(\n  f\n)\n";
        assert_eq!(strip(script).unwrap(), "v=$(\n  f\n)\n");
    }

    #[test]
    fn what_could_be_misread_is_refused() {
        // The review's case: two quote marks in comments, which a reader
        // that missed them would take for one quote around the data.
        let script = "case x in\nx)# don't\nv='a\n# data\n'\n;;# it's\nesac\n";
        assert!(strip(script).unwrap_err().starts_with("line 2:"));
        assert!(strip("echo `date`\n").is_err());
        assert!(strip("echo a\r\n").is_err());
        assert!(strip("v='a\nb'; cat <<E\n# t\nE\n")
            .unwrap_err()
            .starts_with("line 2:"));
    }

    /// bash's own reading of a script, comments aside (`declare -f` prints
    /// a function's body as bash parsed it).
    fn parsed_by_bash(script: &str) -> String {
        let dir = std::env::temp_dir().join(format!("rccr-shell-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{:x}.sh", script.len()));
        std::fs::write(&file, format!("f() {{\n{script}\n}}\ndeclare -f f\n")).unwrap();
        let out = std::process::Command::new("bash")
            .arg("--norc")
            .arg(&file)
            .output()
            .expect("bash");
        std::fs::remove_file(&file).unwrap();
        let _ = std::fs::remove_dir(&dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn the_shipped_scripts_mean_what_their_sources_mean() {
        for (source, shipped) in [
            (
                include_str!("keys/node/remote.sh"),
                crate::keys::node::REMOTE_SCRIPT,
            ),
            (
                include_str!("swarm/machine.sh"),
                crate::swarm::machine::SCRIPT,
            ),
        ] {
            assert!(shipped.len() < source.len() / 2 + source.len() / 4);
            assert_eq!(parsed_by_bash(shipped), parsed_by_bash(source));
        }
    }

    #[test]
    fn here_documents_and_open_quotes_are_refused() {
        assert!(strip("cat <<EOF\n# text\nEOF\n")
            .unwrap_err()
            .starts_with("line 1:"));
        assert!(strip("echo 'never closed\n").is_err());
    }
}
