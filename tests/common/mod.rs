//! Shared helpers of the integration tests. A test file uses them with
//! `mod common;` and then `common::lab::Lab` etc.; each test binary compiles
//! its own copy, so helpers one binary does not use are not dead code.
#![allow(dead_code)]

pub mod asserts;
pub mod failpoint;
pub mod lab;
pub mod scratch;
mod skip;

// Each test binary uses some helpers only: not every re-export is used.
#[allow(unused_imports)]
pub use asserts::{assert_count, assert_has};
#[allow(unused_imports)]
pub(crate) use skip::or_skip;

use std::process::Output;

/// Whether env CI is set (to anything but empty, `0` or `false`): there a
/// test that cannot run fails instead of skipping.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Skips (prints why, returns false) or, with CI set, fails: a test that
/// cannot fail in CI is a defect. Use as `return skip(...)` in a `require_*`.
pub fn skip(why: &str) -> bool {
    if ci() {
        panic!("{why}, and CI is set: failing instead of skipping");
    }
    eprintln!("SKIPPED: {why}");
    false
}

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
