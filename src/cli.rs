//! Command-line parsing shared by every applet: argh does the work, this is
//! the one place where `--help` and usage errors turn into our `Error`.
use crate::error::Error;
use argh::FromArgs;

/// Parses `args` for the command whose words are `cmd` (`["rccr-scan"]` or
/// `["rccr", "scan"]`, which is what the usage line shows).
///
/// A lone `-` (stdin or stdout, by convention) is an argument, not an
/// option: argh takes it so only after `--`, so when argh refuses it, it
/// is read again moved there. As an option's value (`--config -`) argh
/// takes it as it stands: moving it would hand the option the next word.
pub fn parse<T: FromArgs>(cmd: &[&str], args: &[&str]) -> Result<T, Error> {
    let mut parsed = None;
    parse_with(cmd, args, &mut |cmd, args| {
        T::from_args(cmd, args).map(|t| parsed = Some(t))
    })?;
    parsed.ok_or_else(|| usage(cmd, "no arguments parsed"))
}

/// `T::from_args` that keeps the `T` it parses ([`parse_with`]).
type FromArgsFn<'a> = dyn FnMut(&[&str], &[&str]) -> Result<(), argh::EarlyExit> + 'a;

/// [`parse`] without its type: `from_args` is `T::from_args`, keeping
/// what it parsed. One copy of this logic serves every applet's `Args`
/// (generic, it was inlined into each: about 600 bytes apiece).
fn parse_with(cmd: &[&str], args: &[&str], from_args: &mut FromArgsFn) -> Result<(), Error> {
    // -h is --help everywhere (no applet has a -h of its own).
    let mut args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "-h" { "--help" } else { a })
        .collect();
    let exit = match from_args(cmd, &args) {
        Ok(()) => return Ok(()),
        Err(exit) => exit,
    };
    let lone_dash = exit.status.is_err() && exit.output.trim_end() == "Unrecognized argument: -";
    let exit = match args.iter().position(|a| *a == "-") {
        Some(at) if lone_dash && !args[..at].contains(&"--") => {
            args.remove(at);
            args.push("--");
            args.push("-");
            match from_args(cmd, &args) {
                Ok(()) => return Ok(()),
                Err(exit) => exit,
            }
        }
        _ => exit,
    };
    Err(match exit.status {
        Ok(()) => Error::Help(exit.output),
        Err(()) => usage(cmd, &bad_value(&one_line(&exit.output))),
    })
}

/// A usage error (exit 2) of the command `cmd`: one line that names the
/// command, says what is wrong (`msg`) and where the usage is.
pub fn usage(cmd: &[&str], msg: &str) -> Error {
    let cmd = cmd.join(" ");
    // argh ends some of its sentences with a full stop: ours go on.
    let msg = msg.strip_suffix('.').unwrap_or(msg);
    Error::Usage(format!("{cmd}: {msg}; run '{cmd} --help' for usage"))
}

/// The most seconds `--timeout` takes: an hour to connect and answer is
/// more than any node needs, and a deadline past the clock's end was a
/// panic.
pub const MAX_TIMEOUT: u64 = 3600;

/// Refuses the first of `options` (name, value, range) out of its range:
/// a usage error that names it and the range. A count or a number of
/// seconds made 1 or cut down without a word, or a deadline past the
/// clock's end, serves no one.
pub fn check_ranges(
    cmd: &[&str],
    options: &[(&str, u64, std::ops::RangeInclusive<u64>)],
) -> Result<(), Error> {
    for (option, value, range) in options {
        if !range.contains(value) {
            let msg = match *range.end() {
                u64::MAX => format!("{option} must be at least {}", range.start()),
                end => format!("{option} must be between {} and {end}", range.start()),
            };
            return Err(usage(cmd, &msg));
        }
    }
    Ok(())
}

/// Refuses an empty value of the options (name, value) that name a file
/// or directory: as a path, "" is no file at all (or, for a directory, the
/// working directory). `noun` says what to name (`a file`).
pub fn not_empty(cmd: &[&str], options: &[(&str, Option<&str>)], noun: &str) -> Result<(), Error> {
    match options.iter().find(|(_, value)| *value == Some("")) {
        Some((option, _)) => Err(usage(cmd, &format!("{option} '': name {noun}"))),
        None => Ok(()),
    }
}

/// argh's words for an option's value it could not parse (`Error parsing
/// option '--timeout' with value '5s': invalid digit found in string`) as
/// ours: the option and the value as given, then what to give. Other
/// text is returned as it is.
fn bad_value(text: &str) -> String {
    let parsed = text
        .strip_prefix("Error parsing option '")
        .and_then(|rest| rest.split_once("' with value '"))
        .and_then(|(option, rest)| Some((option, rest.split_once("': ")?)));
    let Some((option, (value, why))) = parsed else {
        return text.to_string();
    };
    let why = match why {
        "invalid digit found in string" => {
            "not a whole number: give digits only (no sign, unit or decimal point)"
        }
        "number too large to fit in target type" => "too large a number",
        "cannot parse integer from empty string" => "empty: give a number",
        why => why,
    };
    let value = if value.is_empty() { "''" } else { value };
    format!("{option} {value}: {why}")
}

/// argh's error text on one line: its lists (`Required positional
/// arguments not provided:` then one indented name a line) become
/// `...: FILE, NODE`.
fn one_line(text: &str) -> String {
    let mut line = String::new();
    let mut in_list = false;
    for part in text.lines() {
        let item = part.starts_with([' ', '\t']);
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if !line.is_empty() {
            line.push_str(match (item, in_list) {
                (false, _) => "; ",
                (true, true) => ", ",
                (true, false) => " ",
            });
        }
        in_list = item;
        line.push_str(part);
    }
    line
}

/// Declares an argh options struct: the command's own fields as written,
/// then the common options named after `with` (see [`common_option!`]), in
/// that order. argh 0.1 has no `flatten`.
///
/// ```text
/// cli::options! {
///     /// The command's help text.
///     #[derive(FromArgs)]
///     struct Args {
///         /// its own options
///         #[argh(switch)]
///         force: bool,
///     }
///     with state_dir, wait, quiet
/// }
/// ```
macro_rules! options {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($own:tt)* }
        with $($common:ident),+ $(,)?
    ) => {
        $crate::cli::options!(@add [$(#[$meta])* $vis struct $name] [$($own)*] $($common)+);
    };
    (@add [$($head:tt)*] [$($fields:tt)*]) => {
        $($head)* { $($fields)* }
    };
    (@add $head:tt $fields:tt $next:ident $($rest:ident)*) => {
        $crate::cli::common_option!($next [$head $fields $($rest)*]);
    };
    // common_option!'s answer: the field to add, then on with the rest.
    (@with [$head:tt [$($fields:tt)*] $($rest:ident)*] $($field:tt)*) => {
        $crate::cli::options!(@add $head [$($fields)* $($field)*] $($rest)*);
    };
}
pub(crate) use options;

/// The options that several commands share, each (name, type, default,
/// help text) written once so that every command spells and explains it
/// alike: `common_option!(NAME [STATE])` hands the field to
/// `options!(@with [STATE] FIELD)`.
macro_rules! common_option {
    (config $then:tt) => { $crate::cli::options!(@with $then
        /// cluster_config.yml to read (default ./cluster_config.yml, then
        /// /etc/rccr/cluster_config.yml, then built-in defaults)
        #[argh(option, arg_name = "path")]
        config: Option<String>,
    ); };
    (state_dir $then:tt) => { $crate::cli::options!(@with $then
        /// state directory: inventory, journal, kept temporary key
        /// (default ~/.rccr, or $RCCR_STATE_DIR)
        #[argh(option, arg_name = "dir")]
        state_dir: Option<String>,
    ); };
    (known_hosts $then:tt) => { $crate::cli::options!(@with $then
        /// known_hosts file for host key pinning (default ~/.ssh/known_hosts)
        #[argh(option, arg_name = "path")]
        known_hosts: Option<String>,
    ); };
    (yes $then:tt) => { $crate::cli::options!(@with $then
        /// do not ask for confirmation
        #[argh(switch)]
        yes: bool,
    ); };
    (json $then:tt) => { $crate::cli::options!(@with $then
        /// print the result as JSON
        #[argh(switch)]
        json: bool,
    ); };
    (quiet $then:tt) => { $crate::cli::options!(@with $then
        /// no progress lines on stderr: only the result, the summary and
        /// errors
        #[argh(switch, short = 'q')]
        quiet: bool,
    ); };
    (wait $then:tt) => { $crate::cli::options!(@with $then
        /// seconds to wait for another rccr run to finish (default 0: fail
        /// at once)
        #[argh(option, arg_name = "secs", default = "0")]
        wait: u64,
    ); };
}
pub(crate) use common_option;

/// Asks on the terminal to type `word` to go on (for what cannot be
/// undone); anything else cancels. Without a terminal it refuses, telling
/// the user to pass `--yes`.
pub fn confirm_typed(cmd: &str, what: &str, word: &str) -> Result<(), Error> {
    ask(cmd, &format!("{what} Type {word} to go on:"), |a| a == word)
}

/// Asks `question` on the terminal; anything but yes cancels. Without a
/// terminal it refuses, telling the user to pass `--yes` (`cmd` names the
/// command in that message).
pub fn confirm(cmd: &str, question: &str) -> Result<(), Error> {
    ask(cmd, &format!("{question} [y/N]"), |a| {
        matches!(a, "y" | "Y" | "yes")
    })
}

fn ask(cmd: &str, prompt: &str, accepts: impl Fn(&str) -> bool) -> Result<(), Error> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::Usage(format!(
            "{cmd}: no terminal to confirm on: pass --yes"
        )));
    }
    eprint!("{prompt} ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("stdin", e))?;
    if accepts(answer.trim()) {
        Ok(())
    } else {
        Err(Error::Failed("cancelled; nothing was changed".into()))
    }
}
