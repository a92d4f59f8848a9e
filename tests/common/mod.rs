//! Shared helpers of the integration tests. A test file uses them with
//! `mod common;` and then `common::lab::Lab` etc.; each test binary compiles
//! its own copy, so helpers one binary does not use are not dead code.
#![allow(dead_code)]

pub mod failpoint;
pub mod lab;

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

/// Asserts that `text` contains `needle`, showing all of `text` when not.
#[track_caller]
pub fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "no {needle:?} in:\n{text}");
}

/// Asserts that `needle` occurs `n` times in `text`, showing all of `text`
/// when not.
#[track_caller]
pub fn assert_count(text: &str, needle: &str, n: usize) {
    let found = text.matches(needle).count();
    assert_eq!(found, n, "{needle:?} {found} times, not {n}, in:\n{text}");
}
