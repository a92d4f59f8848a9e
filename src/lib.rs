//! RCCR (ReCyClusteR): turns recycled machines into a secured container cluster.
//!
//! The crate is one multicall binary (see [`applets`]): `rccr`, `rccr-init`,
//! `rccr-scan` and `rccr-keys` are the same executable under different names.
#![deny(unsafe_code)]

/// The read side of a `struct Name(String)` whose constructors check the
/// text (a hostname, a fingerprint): it reads as the `str` it holds.
/// Defined before the modules, so that each of them can use it.
macro_rules! checked_string {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl core::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

/// `eprintln!` and `eprint!` that never panic. std's panic when stderr is
/// a closed pipe (`rccr setup 2>&1 | head`), which stopped a run halfway
/// (an abort, in release builds) and turned every exit code into 101: a
/// line that cannot be written is lost, the run and its exit code are not.
/// Defined before the modules, so that theirs are these.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

macro_rules! eprint {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

pub mod applets;
pub mod backup;
pub mod base64;
pub mod cli;
pub mod config;
pub mod docker;
pub mod error;
pub mod failpoint;
pub mod fsutil;
pub mod identity;
pub mod init;
pub mod json;
pub mod keys;
pub mod parallel;
pub mod persist;
pub mod print;
pub mod scan;
pub mod setup;
// Run by build.rs; compiled here only for its unit tests.
#[cfg(test)]
mod shell_comments;
pub mod ssh;
pub mod state;
pub mod swarm;
pub mod sys;
pub mod version;
pub mod wire;

use std::ffi::OsString;

/// Runs the binary for the given argv and returns the process exit code.
pub fn run(argv: Vec<OsString>) -> std::process::ExitCode {
    let code = applets::dispatch(argv);
    std::process::ExitCode::from(code as u8)
}
