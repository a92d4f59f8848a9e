//! Command-line parsing shared by every applet: argh does the work, this is
//! the one place where `--help` and usage errors turn into our `Error`.
use crate::error::Error;
use argh::FromArgs;

/// Parses `args` for the command whose words are `cmd` (`["rccr-scan"]` or
/// `["rccr", "scan"]`, which is what the usage line shows).
pub fn parse<T: FromArgs>(cmd: &[&str], args: &[&str]) -> Result<T, Error> {
    T::from_args(cmd, args).map_err(|exit| match exit.status {
        Ok(()) => Error::Help(exit.output),
        Err(()) => Error::Usage(exit.output),
    })
}
