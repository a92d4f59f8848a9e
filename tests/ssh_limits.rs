//! A remote command's limits (src/ssh, `Limits`) hold against a real sshd
//! (as root, on 127.0.0.1), whatever the connection's own timeout.
mod common;

use common::scratch::Scratch;
use common::sshd::{ssh_keygen, Sshd};
use rccr::ssh::{Limits, SshError};
use std::sync::mpsc;
use std::time::Duration;

/// A real sshd in `dir` that takes a fresh key, logged in to with
/// `timeout` (the sshd and its directory live as long as the connection
/// is used).
fn logged_in(dir: &Scratch, timeout: Duration) -> (Sshd, rccr::ssh::Connection) {
    let key = dir.path("key");
    ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-f"], &key);
    let sshd = Sshd::start(dir, &dir.path("key.pub"));
    let conn = sshd.login(&key, timeout).unwrap();
    (sshd, conn)
}

#[test]
fn input_a_command_never_reads_is_cut_off_at_the_commands_deadline() {
    if !common::lab::require_root() {
        return;
    }
    let dir = Scratch::new("ssh-stdin");
    // A connection timeout of an hour, a command deadline of 2 s.
    let (_sshd, mut conn) = logged_in(&dir, Duration::from_secs(3600));
    conn.set_limits(Limits {
        max_output: 1024,
        deadline: Duration::from_secs(2),
    });
    // The command never reads its input, and 8 MiB is more than sshd's
    // window (2 MiB) and the pipe's buffer take: the write blocks. Its
    // 30 s are far past the deadline, and leave no sleep behind for long
    // (sshd does not end it when the connection goes).
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(conn.run("exec sleep 30", &vec![b'x'; 8 << 20]));
    });
    // Not a measure of speed: without its deadline the write would wait
    // out the connection's hour.
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(Err(SshError::Deadline(2))) => {}
        Ok(other) => panic!("expected the 2 s deadline's error: {other:?}"),
        Err(_) => {
            panic!("the command's input was still being sent 2 minutes into its 2 s deadline")
        }
    }
}

#[test]
fn a_command_killed_by_a_signal_fails() {
    if !common::lab::require_root() {
        return;
    }
    let dir = Scratch::new("ssh-signal");
    let (_sshd, conn) = logged_in(&dir, Duration::from_secs(60));
    // sshd tells `exit-signal`, not `exit-status`: a status of 0 before.
    for (signal, status) in [("KILL", 137), ("TERM", 143), ("USR1", 255)] {
        let out = conn.run(&format!("kill -s {signal} $$"), b"").unwrap();
        assert_eq!(out.status, status, "{signal}");
        assert!(!out.success());
    }
    assert!(conn.run("true", b"").unwrap().success());
}
