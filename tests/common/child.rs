//! Processes a test starts, and what the kernel says they wait for.
//!
//! A child that ends with its test: [`KillOnDrop`] SIGKILLs and reaps it
//! when dropped, so a test that panics while an rccr it started outside
//! the lab waits (at a failpoint, for a lock, for input) leaves no rccr
//! behind to go on later with work on what the test has torn down. (rccr
//! in a lab dies with the lab's namespaces.)
#![allow(dead_code)] // not every test binary waits in every way

use std::ops::{Deref, DerefMut};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// A spawned child, killed and reaped on drop unless waited for.
pub struct KillOnDrop(Option<Child>);

/// Spawns `cmd`, panicking if it cannot start.
pub fn spawn(cmd: &mut Command) -> KillOnDrop {
    KillOnDrop(Some(
        cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")),
    ))
}

impl KillOnDrop {
    /// [`Child::wait_with_output`]: all its output once it has ended.
    pub fn wait_with_output(mut self) -> Output {
        let child = self.0.take().expect("a child not yet waited for");
        child.wait_with_output().expect("wait for the child")
    }
}

impl Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("a child not yet waited for")
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("a child not yet waited for")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // Already ended (and reaped): kill fails harmlessly.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether process `pid` has the file `path` open (the same device and
/// inode, whichever mount namespace it sees the file through).
pub fn has_open(pid: u32, path: &Path) -> bool {
    let Ok(want) = std::fs::metadata(path) else {
        return false;
    };
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::metadata(fd.path()).ok())
        .any(|m| m.dev() == want.dev() && m.ino() == want.ino())
}

/// The processes that have the file `path` open.
pub fn openers(path: &Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&pid| has_open(pid, path))
        .collect()
}

/// Whether a process waits in `flock` for `path` (/proc/locks shows such
/// a waiter with `->`). Only a lock taken blocking shows a waiter: the
/// state lock is polled with `LOCK_NB` (see [`has_open`] for it).
pub fn lock_awaited(path: &Path) -> bool {
    locks_of(std::fs::metadata(path).unwrap().ino()).any(|line| line.contains("->"))
}

/// Whether some process holds a lock on the file with inode `ino`, which
/// may have lost its name since (/proc/locks: a line without `->`).
pub fn lock_held(ino: u64) -> bool {
    !lock_holders(ino).is_empty()
}

/// The pids that hold (not await) a lock on inode `ino`.
pub fn lock_holders(ino: u64) -> Vec<u32> {
    locks_of(ino)
        .filter(|line| !line.contains("->"))
        .filter_map(|line| line.split_whitespace().nth(4)?.parse().ok())
        .collect()
}

/// The lines of /proc/locks about inode `ino` (`MAJ:MIN:INODE`).
fn locks_of(ino: u64) -> impl Iterator<Item = String> {
    let inode = format!(":{ino}");
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|line| line.split_whitespace().any(|field| field.ends_with(&inode)))
        .map(String::from)
        .collect::<Vec<_>>()
        .into_iter()
}

/// Polls `done` every 50 ms until it holds; panics naming `what` after
/// `limit` (a watchdog, far beyond what the wait takes).
pub fn wait_for_within(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
