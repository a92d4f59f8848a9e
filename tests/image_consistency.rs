//! The pins and matrices that must agree across files, and every script's
//! command line.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::process::Command;

// ------------------------------------------------------------- consistency

#[test]
fn the_alpine_pin_is_the_same_everywhere() {
    let image = alpine_conf("ALPINE_IMAGE");
    let version = alpine_conf("ALPINE_VERSION");
    let branch = alpine_conf("ALPINE_BRANCH");
    assert!(
        image.starts_with(&format!("alpine:{version}@sha256:")),
        "{image}"
    );
    assert_eq!(image.split("@sha256:").nth(1).unwrap().len(), 64, "{image}");
    assert!(
        version.starts_with(branch.trim_start_matches('v')),
        "{version} {branch}"
    );
    let (major, minor) = {
        let mut p = version.split('.').map(|n| n.parse::<u32>().unwrap());
        (p.next().unwrap(), p.next().unwrap())
    };
    assert!(
        major > 3 || (major == 3 && minor >= 20),
        "Alpine {version}: 3.20 or later"
    );
    let f = fs::read_to_string(repo().join("image-builder/base/Dockerfile")).unwrap();
    assert!(
        f.contains(&format!("\nARG ALPINE_IMAGE={image}\n")),
        "base/Dockerfile"
    );
    for wf in ["build-docker-images.yml", "build-os-images.yml"] {
        let f = fs::read_to_string(repo().join(".github/workflows").join(wf)).unwrap();
        assert!(f.contains(&format!("\n  ALPINE_IMAGE: {image}\n")), "{wf}");
    }
    // mkimage.sh comes from aports at the release's tag.
    let aports = alpine_conf("APORTS_REF");
    assert_eq!(aports, format!("v{version}"));
    let f = fs::read_to_string(repo().join(".github/workflows/build-os-images.yml")).unwrap();
    assert!(
        f.contains(&format!("\n  APORTS_REF: {aports}\n")),
        "build-os-images.yml"
    );
}

#[test]
fn arch_table_and_workflow_matrices_agree() {
    let table = arch_table();
    let names: Vec<&str> = table.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ARCHES);
    for row in &table {
        let media = if row[0].starts_with("rpi-") || row[0] == "armv7" || row[0] == "armhf" {
            "img"
        } else {
            "iso"
        };
        assert_eq!(row[4], media, "{row:?}");
    }
    if !require("workflow matrices", &[("python3", "python3-yaml")]) {
        return;
    }
    let mut sorted: Vec<&str> = ARCHES.to_vec();
    sorted.sort();
    let sorted = format!("{sorted:?}").replace('"', "'");
    for (wf, job) in [
        ("build-os-images.yml", "images"),
        ("build-os-images.yml", "boot-test"),
        ("build-docker-images.yml", "push"),
    ] {
        let arches = workflow_query(
            wf,
            &format!("sorted(d['jobs']['{job}']['strategy']['matrix']['arch'])"),
        )
        .unwrap();
        assert_eq!(arches, sorted, "{wf} {job}");
        let types = workflow_query(
            wf,
            &format!("d['jobs']['{job}']['strategy']['matrix']['type']"),
        )
        .unwrap();
        assert_eq!(types, "['control', 'target']", "{wf} {job}");
    }
    let platforms = workflow_query(
        "build-docker-images.yml",
        "sorted((i['arch'], i['platform']) for i in d['jobs']['push']['strategy']['matrix']['include'])",
    )
    .unwrap();
    let mut want: Vec<(String, String)> =
        table.iter().map(|r| (r[0].clone(), r[2].clone())).collect();
    want.sort();
    assert_eq!(platforms, format!("{want:?}").replace('"', "'"));
    let targets = workflow_query(
        "binaries.yml",
        "sorted((i['arch'], i['target']) for i in d['jobs']['build']['strategy']['matrix']['include'])",
    )
    .unwrap();
    let mut want: Vec<(String, String)> = table
        .iter()
        .filter(|r| r[0] != "rpi-aarch64")
        .map(|r| (r[0].clone(), r[3].clone()))
        .collect();
    want.sort();
    assert_eq!(targets, format!("{want:?}").replace('"', "'"));
}

#[test]
fn nothing_from_the_apk_era_remains() {
    for gone in [
        "APKBUILD",
        "build-apk.sh",
        ".github/workflows/build-apk.yml",
    ] {
        assert!(!repo().join(gone).exists(), "{gone} is back");
    }
}

#[test]
fn every_script_has_help_and_rejects_a_bad_command_line() {
    for name in [
        "build-docker.sh",
        "build-os-image.sh",
        "genapkovl.sh",
        "fetch-packages.sh",
        "test-image.sh",
        "mkimage-base.sh",
        "trim-modules.sh",
        "third-party-notices.py",
    ] {
        let out = Command::new(script(name)).arg("--help").output().unwrap();
        assert!(out.status.success(), "{name} --help: {}", show(&out));
        assert!(
            text(&out.stdout).starts_with("Usage: "),
            "{name}: {}",
            show(&out)
        );
        let out = Command::new(script(name)).arg("--bogus").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name} --bogus: {}", show(&out));
    }
    let out = Command::new(repo().join("image-builder/base/os/persist.sh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(text(&out.stdout).starts_with("Usage: "), "{}", show(&out));
    for (name, args) in [
        ("build-os-image.sh", &["sparc", "target"][..]),
        ("build-docker.sh", &["x86_64", "worker"][..]),
        ("fetch-packages.sh", &["mips", "target", "out"][..]),
        ("mkimage-base.sh", &["armhf", "out"][..]),
    ] {
        let out = Command::new(script(name)).args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name} {args:?}: {}",
            show(&out)
        );
    }
}

#[test]
fn the_committed_release_key_is_the_pinned_one() {
    if !require("release key", &[("gpg", "gpg")]) {
        return;
    }
    let dir = TempDir::new("release-key");
    let out = ok(Command::new("gpg")
        .arg("--homedir")
        .arg(&dir.0)
        .args([
            "--batch",
            "--with-colons",
            "--import-options",
            "show-only",
            "--import",
        ])
        .arg(repo().join("image-builder/base/alpine-release-key.asc")));
    let listing = text(&out.stdout);
    let primary = listing
        .lines()
        .skip_while(|l| !l.starts_with("pub:"))
        .find_map(|l| l.strip_prefix("fpr:"))
        .map(|f| f.trim_matches(':').to_string());
    assert_eq!(
        primary,
        Some(alpine_conf("ALPINE_KEY_FINGERPRINT")),
        "{listing}"
    );
    assert_has(&listing, "Natanael Copa <ncopa@alpinelinux.org>");
    assert_eq!(
        listing.matches("\npub:").count() + usize::from(listing.starts_with("pub:")),
        1
    );
}
