//! image-builder/scripts/third-party-notices.py: THIRD-PARTY-NOTICES names
//! every crate of Cargo.lock that is linked into rccr, with licence texts,
//! and the C libraries built from vendored source; every other crate of
//! Cargo.lock has a reason not to be there.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

/// (name, version) of every package of Cargo.lock, rccr included.
fn lock_packages() -> Vec<(String, String)> {
    let lock = fs::read_to_string(repo().join("Cargo.lock")).unwrap();
    let mut out = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "[[package]]" {
            let name = lines.next().unwrap().strip_prefix("name = ").unwrap();
            let version = lines.next().unwrap().strip_prefix("version = ").unwrap();
            out.push((
                name.trim_matches('"').into(),
                version.trim_matches('"').into(),
            ));
        }
    }
    out
}

/// The crates of Cargo.lock that have no notice: neither an entry
/// ("NAME VERSION  LICENCE  SOURCE", then its texts) nor a reason in
/// `explain` (the script's --explain) not to be linked.
fn crates_without_notice(notices: &str, explain: &BTreeMap<String, String>) -> Vec<String> {
    lock_packages()
        .into_iter()
        .filter(|(name, _)| name != "rccr")
        .map(|(name, version)| format!("{name} {version}"))
        .filter(|crate_| {
            let entry = notices
                .lines()
                .any(|l| l.starts_with(&format!("{crate_}  ")));
            let why = explain.get(crate_).map(String::as_str).unwrap_or("");
            let accepted = why.starts_with("not-linked: ")
                && [
                    "build-time only",
                    "dev-dependency only",
                    "only for other targets",
                ]
                .contains(&&why["not-linked: ".len()..]);
            !(entry && why == "linked" || !entry && accepted)
        })
        .collect()
}

#[test]
fn every_crate_of_cargo_lock_has_a_notice_or_a_reason() {
    if !require(
        "third-party notices",
        &[("python3", "python3"), ("cargo", "rustup")],
    ) {
        return;
    }
    let dir = TempDir::new("notices");
    let out_file = dir.path("THIRD-PARTY-NOTICES");
    ok(Command::new(script("third-party-notices.py"))
        .arg("-o")
        .arg(&out_file));
    let notices = fs::read_to_string(&out_file).unwrap();
    let explain: BTreeMap<String, String> =
        text(&ok(Command::new(script("third-party-notices.py")).arg("--explain")).stdout)
            .lines()
            .map(|l| {
                let mut w = l.splitn(3, ' ');
                let (n, v, why) = (w.next().unwrap(), w.next().unwrap(), w.next().unwrap());
                (format!("{n} {v}"), why.to_string())
            })
            .collect();
    assert_eq!(explain.len() + 1, lock_packages().len(), "{explain:?}");

    let missing = crates_without_notice(&notices, &explain);
    assert!(missing.is_empty(), "no notice for {missing:?}");

    // The check fails when a linked crate loses its entry.
    let (victim, _) = explain.iter().find(|(_, why)| *why == "linked").unwrap();
    let trimmed: String = notices
        .lines()
        .filter(|l| !l.starts_with(&format!("{victim}  ")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        crates_without_notice(&trimmed, &explain),
        std::slice::from_ref(victim)
    );

    // The vendored C libraries, each with its licence text.
    for library in ["OpenSSL", "libssh2", "zlib"] {
        assert!(
            notices.lines().any(
                |l| l.starts_with(&format!("{library}, vendored by the crate "))
                    && l.contains("text [")
            ),
            "{library} missing"
        );
    }
    // Every text referenced is printed, and OpenSSL's is the Apache licence.
    let refs: Vec<usize> = notices
        .split('[')
        .skip(1)
        .filter_map(|s| s.split(']').next()?.parse().ok())
        .collect();
    let max = *refs.iter().max().unwrap();
    for n in 1..=max {
        assert!(
            notices.contains(&format!("\n[{n}]\n")),
            "text [{n}] missing"
        );
    }
    assert!(notices.contains("Apache License"), "OpenSSL's licence text");
    assert!(notices.starts_with("Third-party notices for rccr "));
}
