//! The one error type, its exit codes, and the one place that prints errors.
//!
//! Exit codes (also in `rccr --help` and README.md):
//!
//! | code | meaning |
//! |-----:|---------|
//! | 0    | success |
//! | 1    | the operation failed (a node, a file, the network) |
//! | 2    | usage: bad arguments, or --yes needed without a terminal |
//! | 3    | bad input: a file or value we were given is malformed |
//! | 4    | permission: run as root (or with the capability named) |
//! | 127  | applet not found |
use std::fmt;
use std::io::{self, Write};

/// Process exit codes, documented in README.md and `rccr --help`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Success = 0,
    Failure = 1,
    Usage = 2,
    BadInput = 3,
    Permission = 4,
    AppletNotFound = 127,
}

/// The table printed by `rccr --help`; README.md carries the same.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    the operation failed (a node, a file, the network)
  2    usage: bad arguments, or --yes needed without a terminal
  3    bad input: a file or value given to rccr is malformed
  4    permission: run as root
  127  applet not found";

#[derive(Debug)]
pub enum Error {
    /// `--help` was asked for: not a failure, the text goes to stdout.
    Help(String),
    /// Bad command line; the text is argh's or ours and names the argument.
    Usage(String),
    AppletNotFound(String),
    /// Malformed input: `what` names the file or value, `msg` says what to do.
    BadInput {
        what: String,
        msg: String,
    },
    Permission(String),
    /// An I/O error with the path or action it concerns.
    Io {
        context: String,
        source: io::Error,
    },
    /// Anything else that went wrong, already worded for the user.
    Failed(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// No node to act on yet: the same words and exit code (1) in every
    /// command; `hint` says where nodes come from for this one.
    pub fn no_nodes(hint: &str) -> Self {
        Error::Failed(format!("no nodes known yet: {hint}"))
    }

    pub fn bad_input(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::BadInput {
            what: what.into(),
            msg: msg.into(),
        }
    }

    /// Line `index` (counted from 0) of the state file `origin` is
    /// unreadable; `msg` says what the line should be and what to do.
    pub fn bad_line(origin: &std::path::Path, index: usize, msg: &str) -> Self {
        Error::bad_input(format!("{}:{}", origin.display(), index + 1), msg)
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Help(_) => ExitCode::Success,
            Error::Usage(_) => ExitCode::Usage,
            Error::AppletNotFound(_) => ExitCode::AppletNotFound,
            Error::BadInput { .. } => ExitCode::BadInput,
            Error::Permission(_) => ExitCode::Permission,
            Error::Io { .. } | Error::Failed(_) => ExitCode::Failure,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Help(text) | Error::Usage(text) => f.write_str(text.trim_end()),
            Error::AppletNotFound(name) => write!(
                f,
                "applet not found: {name}; run 'rccr --list' for the names it knows"
            ),
            Error::BadInput { what, msg } => write!(f, "{what}: {msg}"),
            Error::Permission(msg) | Error::Failed(msg) => f.write_str(msg),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl From<io::Error> for Error {
    fn from(source: io::Error) -> Self {
        Error::io("I/O error", source)
    }
}

/// The one place that reports an outcome to the user and picks the exit code.
pub fn report(prog: &str, outcome: Result<(), Error>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::Success,
        Err(Error::Help(text)) => {
            // Help read through `| head` ends in a closed pipe: still a success.
            let _ = writeln!(std::io::stdout().lock(), "{}", text.trim_end());
            ExitCode::Success
        }
        Err(e) => {
            // Usage errors already name the command.
            let line = match &e {
                Error::Usage(_) => e.to_string(),
                _ => format!("{prog}: {e}"),
            };
            eprintln!("{}", one_line(&line));
            e.exit_code()
        }
    }
}
/// `text` with its control characters escaped (`\n`, `\u{1b}`): an error
/// is one line, and a terminal acts on no escape sequence, whatever the
/// input it names holds. Unicode's direction marks and overrides are
/// escaped too: a name holding one would show the rest of the line in
/// another order than its bytes ("Trojan Source"). Other non-ASCII (a
/// user's own file names) stays as it is.
pub(crate) fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    let escaped = |c: char| c.is_control() || is_direction_mark(c);
    if !text.chars().any(escaped) {
        return text.into();
    }
    text.chars()
        .map(|c| match escaped(c) {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// The characters that change the order a terminal shows text in: the
/// Arabic letter mark, the left-to-right and right-to-left marks, the
/// embeddings and overrides, and the isolates.
fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Checks that the message of `e` starts with `start` (tests).
#[cfg(test)]
#[track_caller]
pub fn assert_says(e: &dyn fmt::Display, start: &str) {
    let said = e.to_string();
    assert!(said.starts_with(start), "{said}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every exit code, in order. The match makes a new one a compile
    /// error here, until it is listed (and documented).
    fn all() -> [ExitCode; 6] {
        use ExitCode::*;
        let all = [
            Success,
            Failure,
            Usage,
            BadInput,
            Permission,
            AppletNotFound,
        ];
        for code in all {
            match code {
                Success | Failure | Usage | BadInput | Permission | AppletNotFound => {}
            }
        }
        all
    }

    #[test]
    fn an_error_is_one_line_shown_in_the_order_of_its_bytes() {
        for (said, shown) in [
            ("rccr: 서버.yml: ok", "rccr: 서버.yml: ok"),
            ("a\nb\x1b[2J", "a\\nb\\u{1b}[2J"),
            (
                "--config evil\u{202e}lmy.exe",
                "--config evil\\u{202e}lmy.exe",
            ),
            (
                "x\u{2066}y\u{2069}\u{200f}",
                "x\\u{2066}y\\u{2069}\\u{200f}",
            ),
        ] {
            assert_eq!(one_line(said), shown);
        }
    }

    /// README's table and `rccr --help`'s list the codes there are, and
    /// say the same of each: README's meaning starts help's line.
    #[test]
    fn the_documented_exit_codes_are_the_codes() {
        let codes: Vec<u8> = all().iter().map(|c| *c as u8).collect();
        let help: Vec<(u8, &str)> = EXIT_CODES_HELP
            .lines()
            .skip(1)
            .map(|l| {
                let (code, meaning) = l.trim().split_once(' ').unwrap();
                (code.parse().unwrap(), meaning.trim())
            })
            .collect();
        let readme = include_str!("../README.md");
        let table = readme.split("### Exit codes").nth(1).unwrap();
        let readme: Vec<(u8, &str)> = table
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                Some((cells.get(1)?.parse().ok()?, *cells.get(2)?))
            })
            .collect();
        let code_list = |rows: &[(u8, &str)]| rows.iter().map(|r| r.0).collect::<Vec<_>>();
        assert_eq!(code_list(&help), codes, "rccr --help");
        assert_eq!(code_list(&readme), codes, "README.md");
        for ((code, said), (_, meaning)) in help.iter().zip(&readme) {
            assert!(said.starts_with(meaning), "{code}: {said:?} / {meaning:?}");
        }
    }
}
