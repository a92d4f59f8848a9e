//! Multicall dispatch, busybox style.
//!
//! One table, [`APPLETS`], drives everything: which argv[0] names the binary
//! answers to, what `rccr <command>` runs, what `rccr --help` and `--list`
//! print and which links `rccr --install` makes. Each applet keeps its table
//! entry (one `applet!` line), help text and main function in its own file.
//!
//! argv[0]'s basename picks the applet. When several applet names are a
//! prefix of it, the longest wins, so `rccr-scan` is the scanner while
//! `rccr-x86_64` (a release download) is still the multiplexer. If the
//! applet is `rccr` itself, the next argument names the command.
use crate::error::{report, Error, ExitCode};
use std::ffi::OsString;

/// One table entry on one line, as busybox's `APPLET()`:
/// `applet! { NAME = "command", link, main, "summary" }` makes
/// `pub const NAME: Applet` with those fields.
macro_rules! applet {
    ($name:ident = $command:literal, $link:expr, $main:expr, $summary:literal) => {
        pub const $name: $crate::applets::Applet = $crate::applets::Applet {
            command: $command,
            link: $link,
            summary: $summary,
            main: $main,
        };
    };
}

mod backup;
mod engine;
mod init;
mod keys;
mod rccr;
mod remove;
mod scan;
mod setup;
mod status;

/// The multiplexer's own name.
pub const MULTIPLEXER: &str = "rccr";

/// An applet's entry point: `cmd` is how it was called (`["rccr-scan"]` or
/// `["rccr", "scan"]`, for usage lines), `args` what follows.
pub type Main = fn(cmd: &[&str], args: &[&str]) -> Result<(), Error>;

pub struct Applet {
    /// The word after `rccr` that runs it (`rccr scan`).
    pub command: &'static str,
    /// The argv[0] name it also answers to (`rccr-scan`), and so a link that
    /// `--install` makes; `None` for commands reached only through `rccr`.
    pub link: Option<&'static str>,
    /// One line for `rccr --help`.
    pub summary: &'static str,
    pub main: Main,
}

/// Every command, in the order `rccr --help` lists them.
pub static APPLETS: &[Applet] = &[
    setup::APPLET,
    scan::APPLET,
    keys::KEYGEN,
    keys::KEYROTATE,
    keys::APPLET,
    init::APPLET,
    status::APPLET,
    remove::APPLET,
    backup::BACKUP,
    backup::RESTORE,
    engine::APPLET,
    rccr::VERSION,
];

/// The names the binary answers to as argv[0], the multiplexer first:
/// what `--list` prints and `--install` links.
pub fn link_names() -> impl Iterator<Item = &'static str> {
    std::iter::once(MULTIPLEXER).chain(APPLETS.iter().filter_map(|a| a.link))
}

/// Whether `basename` calls `name`: exactly, or with a suffix after a
/// separator (`rccr-scan-aarch64`, `rccr.exe`).
fn calls(basename: &str, name: &str) -> bool {
    basename
        .strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.', '_']))
}

/// The link name that argv[0]'s basename calls; the longest match wins.
pub fn find_link(basename: &str) -> Option<&'static str> {
    link_names()
        .filter(|name| calls(basename, name))
        .max_by_key(|name| name.len())
}

/// The applet that `rccr <command>` runs.
pub fn find_command(command: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.command == command)
}

/// Runs the applet argv asks for and returns the exit code.
pub fn dispatch(argv: Vec<OsString>) -> ExitCode {
    if let Some((n, bad)) = argv.iter().enumerate().find(|(_, a)| a.to_str().is_none()) {
        // Its bytes escaped: a name the terminal cannot show as it is.
        let e = Error::Usage(format!(
            "{MULTIPLEXER}: argument {n}, '{}', is not UTF-8: rccr takes only UTF-8 arguments; \
             give the name in UTF-8 (rename the file if need be)",
            bad.as_encoded_bytes().escape_ascii()
        ));
        return report(MULTIPLEXER, Err(e));
    }
    let args: Vec<String> = argv
        .into_iter()
        .filter_map(|a| a.into_string().ok())
        .collect();
    let argv0 = args.first().map(String::as_str).unwrap_or(MULTIPLEXER);
    let basename = argv0.rsplit('/').next().unwrap_or(argv0);
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();

    match find_link(basename) {
        Some(MULTIPLEXER) => rccr::multiplexer(&rest),
        Some(link) => {
            let applet = APPLETS
                .iter()
                .find(|a| a.link == Some(link))
                .expect("link names come from the table");
            report(link, (applet.main)(&[link], &rest))
        }
        None => report(MULTIPLEXER, Err(Error::AppletNotFound(basename.into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        for (link, basenames) in [
            ("rccr", &["rccr", "rccr-x86_64"][..]),
            ("rccr-scan", &["rccr-scan", "rccr-scan-aarch64"]),
            ("rccr-keys", &["rccr-keys"]),
            ("rccr-init", &["rccr-init"]),
        ] {
            for basename in basenames {
                assert_eq!(find_link(basename), Some(link), "{basename}");
            }
        }
    }

    #[test]
    fn a_name_must_end_at_a_separator() {
        assert_eq!(find_link("rccrx"), None);
        assert_eq!(find_link("frobnicate"), None);
        assert_eq!(find_link("rccr-scanner"), Some("rccr"));
    }

    #[test]
    fn every_command_and_link_is_unique() {
        let mut commands: Vec<_> = APPLETS.iter().map(|a| a.command).collect();
        commands.sort_unstable();
        commands.dedup();
        assert_eq!(commands.len(), APPLETS.len());
        let mut links: Vec<_> = link_names().collect();
        links.sort_unstable();
        links.dedup();
        assert_eq!(links.len(), link_names().count());
    }
}
