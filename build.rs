//! Embeds what `rccr --version` prints: the package version (from Cargo),
//! the target triple and the git revision the binary was built from; and
//! writes the node-side sh scripts the binary carries into OUT_DIR without
//! their comments (src/shell_comments.rs).
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "src/shell_comments.rs"]
mod shell_comments;

/// The node-side scripts the binary embeds, stripped into OUT_DIR under
/// their own file names (src/shell_comments.rs says why and how).
const NODE_SCRIPTS: [&str; 2] = ["src/keys/node/remote.sh", "src/swarm/machine.sh"];

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

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for script in NODE_SCRIPTS {
        println!("cargo:rerun-if-changed={script}");
        let text = std::fs::read_to_string(script).unwrap_or_else(|e| panic!("{script}: {e}"));
        let stripped = shell_comments::strip(&text).unwrap_or_else(|e| panic!("{script}: {e}"));
        let name = Path::new(script).file_name().expect("a file name");
        std::fs::write(out_dir.join(name), stripped).unwrap_or_else(|e| panic!("{script}: {e}"));
    }

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
