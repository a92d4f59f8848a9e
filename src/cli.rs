//! Command-line parsing shared by every applet: argh does the work, this is
//! the one place where `--help` and usage errors turn into our `Error`.
use crate::error::Error;
use argh::FromArgs;

/// Parses `args` for the command whose words are `cmd` (`["rccr-scan"]` or
/// `["rccr", "scan"]`, which is what the usage line shows).
///
/// A lone `-` (stdin or stdout, by convention) is an argument, not an
/// option: argh takes it so after `--`.
pub fn parse<T: FromArgs>(cmd: &[&str], args: &[&str]) -> Result<T, Error> {
    // -h is --help everywhere (no applet has a -h of its own).
    let mut args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "-h" { "--help" } else { a })
        .collect();
    if let Some(at) = args.iter().position(|a| *a == "-") {
        if !args[..at].contains(&"--") {
            args.retain(|a| *a != "-");
            args.push("--");
            args.push("-");
        }
    }
    T::from_args(cmd, &args).map_err(|exit| match exit.status {
        Ok(()) => Error::Help(exit.output),
        Err(()) => Error::Usage(exit.output),
    })
}

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
