//! Embeds what `rccr --version` prints: the package version (from Cargo),
//! the target triple and the git revision the binary was built from.
use std::path::Path;
use std::process::Command;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=RCCR_TARGET={target}");

    // Builds outside a checkout (a Docker context, a source tarball) pass the
    // revision in; otherwise ask git, and say "unknown" rather than fail.
    println!("cargo:rerun-if-env-changed=RCCR_GIT_REV");
    let rev = std::env::var("RCCR_GIT_REV")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RCCR_GIT_REV={rev}");

    for watched in [".git/HEAD", ".git/index"] {
        if Path::new(watched).exists() {
            println!("cargo:rerun-if-changed={watched}");
        }
    }
}

fn git_revision() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| o.status.success() && !o.stdout.is_empty())
        .unwrap_or(false);
    Some(if dirty { format!("{rev}-dirty") } else { rev })
}
