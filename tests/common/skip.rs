//! `or_skip!`, the opening of a test that needs what a machine may lack
//! (root, a tool); shared by the lab tests (`common`) and the image tests
//! (`common/image.rs`).
#![allow(unused_macros)] // not every test binary opens a test this way

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
