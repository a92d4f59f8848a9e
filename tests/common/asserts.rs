//! Assertions on text that show all of it when they fail; shared by the
//! lab tests (`common`), the image tests (`common/image.rs`) and the rest
//! (`#[path = "common/asserts.rs"] mod asserts;`).
#![allow(dead_code)]

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
