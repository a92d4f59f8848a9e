//! A live system for `rccr-init --issue-only` without touching this
//! machine's: a shell in a mount and network namespace of its own, where
//! `/etc` is an overlay on this machine's (written to a scratch
//! directory), `/run` a fresh tmpfs, and `v0` a veth interface whose
//! addresses the test sets. rccr-init sees `/` as its root there, so it
//! reads the kernel's addresses, as on a node. Commands run in it through
//! `nsenter`; the namespaces end with the shell, when the node is dropped.
//! Needs root, unshare, nsenter and ip (skips without them, fails with CI
//! set). The test binary provides `scratch` and `skip` (tests/common/) at
//! its root, as its own modules or through common/image.rs.
#![allow(dead_code)] // not every test binary runs every command

use super::scratch::Scratch;
use super::skip::skip;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};

/// The rccr binary of the test build.
pub const RCCR: &str = env!("CARGO_BIN_EXE_rccr");

pub struct LiveNode {
    shell: Child,
    /// Closed on drop: the shell, waiting on it, then ends.
    stdin: Option<ChildStdin>,
    pub dir: Scratch,
}

impl LiveNode {
    /// A target node (`/etc/rccr/node-type`) with no `/etc/issue`, and
    /// `v0` with no address; `None` (skipped) when it cannot be made here.
    pub fn start(tag: &str) -> Option<LiveNode> {
        let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        let have = |tool: &str| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !is_root || !["unshare", "nsenter", "ip"].into_iter().all(have) {
            skip("needs root, unshare, nsenter and ip for a private /etc and network");
            return None;
        }
        let dir = Scratch::new(&format!("live-{tag}"));
        for sub in ["upper", "work", "bin"] {
            std::fs::create_dir(dir.path(sub)).unwrap();
        }
        // The applet by its name, as the image links it, for scripts that
        // call rccr-init from PATH.
        std::os::unix::fs::symlink(RCCR, dir.path("bin/rccr-init")).unwrap();
        let setup = format!(
            "set -e
mount -t overlay rccr-etc -o lowerdir=/etc,upperdir={up},workdir={work} /etc
mount -t tmpfs rccr-run /run
mkdir -p /etc/rccr
echo target >/etc/rccr/node-type
rm -f /etc/issue
ip link add v0 type veth peer name v1
echo ready
read -r _",
            up = dir.path("upper").display(),
            work = dir.path("work").display(),
        );
        let mut shell = Command::new("unshare")
            .args(["--mount", "--net", "--propagation", "private", "sh", "-c"])
            .arg(setup)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = shell.stdin.take();
        let mut ready = String::new();
        let said = BufReader::new(shell.stdout.take().unwrap()).read_line(&mut ready);
        let node = LiveNode { shell, stdin, dir };
        if !said.is_ok_and(|_| ready == "ready\n") {
            let ended = node.shell_status();
            panic!("the live node could not be set up ({ended}): {ready:?}");
        }
        Some(node)
    }

    fn shell_status(mut self) -> String {
        self.stdin.take();
        format!("{:?}", self.shell.wait())
    }

    /// `program ARGS` in the node's namespaces, as a command to finish.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.shell.id().to_string())
            .args(["-m", "-n", "--"])
            .arg(program);
        cmd
    }

    /// Runs the shell command `script` in the node; panics unless it
    /// succeeds.
    pub fn sh(&self, script: &str) -> Output {
        let out = self.command("sh").args(["-c", script]).output().unwrap();
        assert!(
            out.status.success(),
            "{script}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `rccr-init --issue-only` in the node, as a command.
    pub fn issue_only(&self) -> Command {
        let mut cmd = self.command(RCCR);
        cmd.args(["init", "--issue-only"]);
        cmd
    }

    /// The node's /etc/issue (its overlay's copy), empty when none.
    pub fn banner(&self) -> String {
        std::fs::read_to_string(self.dir.path("upper/issue")).unwrap_or_default()
    }

    /// The directory holding `rccr-init` (a link to the test's rccr).
    pub fn bin(&self) -> PathBuf {
        self.dir.path("bin")
    }

    /// A path under the node's scratch directory, which the node sees too.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path(rel)
    }
}

impl Drop for LiveNode {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.shell.wait();
    }
}
