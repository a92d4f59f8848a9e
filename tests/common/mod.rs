//! Shared helpers of the integration tests. A test file uses them with
//! `mod common;` and then `common::lab::Lab` etc.; each test binary compiles
//! its own copy, so helpers one binary does not use are not dead code.
#![allow(dead_code)]

pub mod asserts;
pub mod child;
pub mod failpoint;
pub mod lab;
pub mod scratch;
mod skip;
pub mod sshd;
pub mod terminal;

// Each test binary uses some helpers only: not every re-export is used.
#[allow(unused_imports)]
pub use asserts::{assert_count, assert_has};
#[allow(unused_imports)]
pub(crate) use skip::or_skip;
#[allow(unused_imports)]
pub use skip::{ci, skip};

use std::process::Output;

/// Whether `program` is installed: on PATH, or in /usr/sbin (where
/// daemons live, off a non-root PATH).
pub fn found(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        || std::path::Path::new("/usr/sbin").join(program).is_file()
}

/// Panics with both output streams unless `out` succeeded; returns stdout.
pub fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        lab::stdout(out),
        lab::stderr(out)
    );
    lab::stdout(out)
}
