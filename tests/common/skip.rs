//! What a test does when the machine lacks what it needs (root, a tool):
//! skip, or with CI set fail; and `or_skip!`, the opening of such a test.
//! Shared by the lab tests (`common`) and the image tests
//! (`common/image.rs`).
#![allow(unused_macros)] // not every test binary opens a test this way
#![allow(dead_code)] // nor skips in every way

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

/// The value in `Some`, or the end of the test: `None` means that what the
/// test needs is missing, and the check that found it so has said why (or
/// panicked, with CI set): `let lab = or_skip!(Lab::builder().up_as_root());`
macro_rules! or_skip {
    ($needed:expr) => {
        match $needed {
            Some(value) => value,
            None => return,
        }
    };
}
pub(crate) use or_skip;
