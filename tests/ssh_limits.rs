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

/// A hostile "SSH server" on 127.0.0.1 for the tests below: it sends a
/// banner, then unencrypted binary packets of message type 200 (one no
/// SSH implementation knows: libssh2 queues each one) of `payload`
/// bytes, one every `every`, until it has written `cap` bytes, the client
/// went, or `stop` is set. Returns the address and its thread, whose
/// answer is how many bytes it wrote and whether it reached its cap.
fn hostile(
    payload: usize,
    every: Duration,
    cap: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (std::net::SocketAddr, std::thread::JoinHandle<(u64, bool)>) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        let mut written = 0u64;
        if sock.write_all(b"SSH-2.0-flood\r\n").is_err() {
            return (written, false);
        }
        // packet_length, padding_length, payload (type 200 and filler),
        // padding (at least 4 bytes): a multiple of 8 in all.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let body = 1 + payload;
        let padding = 4 + (8 - (4 + 1 + body + 4) % 8) % 8;
        let mut packet = Vec::with_capacity(4 + 1 + body + padding);
        packet.extend_from_slice(&((1 + body + padding) as u32).to_be_bytes());
        packet.push(padding as u8);
        packet.push(200);
        for _ in 0..payload + padding {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            packet.push(seed as u8);
        }
        assert_eq!(packet.len() % 8, 0);
        while written < cap && !stop.load(Ordering::Relaxed) {
            match sock.write_all(&packet) {
                Ok(()) => written += packet.len() as u64,
                Err(_) => return (written, false),
            }
            std::thread::sleep(every);
        }
        (written, written >= cap)
    });
    (addr, server)
}

#[test]
fn a_host_that_floods_unknown_packets_is_cut_off_early() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    // 32 KiB packets as fast as they go, up to 128 MiB.
    const CAP: u64 = 128 << 20;
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, server) = hostile(32 << 10, Duration::ZERO, CAP, stop.clone());
    let opened = rccr::ssh::Connection::open(addr, Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (written, capped) = server.join().unwrap();
    // Socket buffers take a few MiB beyond what rccr read.
    assert!(
        !capped && written < 16 << 20,
        "the host wrote {written} bytes before the open ended"
    );
    match opened {
        Err(SshError::Flood(limit)) => assert!(limit < 4 << 20, "{limit}"),
        Err(other) => panic!("expected the flood's error: {other}"),
        Ok(_) => panic!("a flood opened a connection"),
    }
}

#[test]
fn a_host_that_drips_unknown_packets_is_cut_off() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    // A small packet every 50 ms, for a minute at most: each one a
    // sign of life. libssh2 measures its timeout from the call's start,
    // so it gives up by itself here; this holds that the watch leaves
    // that as it was (its own deadline: `ssh::watch`'s
    // `a_step_still_under_way_past_its_deadline_is_cut_off`).
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, server) = hostile(16, Duration::from_millis(50), 1 << 40, stop.clone());
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (done, stop) = (done.clone(), stop.clone());
        std::thread::spawn(move || {
            for _ in 0..600 {
                if done.load(Ordering::Relaxed) {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            stop.store(true, Ordering::Relaxed);
            true
        })
    };
    let opened = rccr::ssh::Connection::open(addr, Duration::from_secs(2));
    done.store(true, Ordering::Relaxed);
    let gave_up = watchdog.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let _ = server.join();
    assert!(
        !gave_up,
        "the open was still waiting a minute into its 2 s timeout"
    );
    match opened {
        Err(SshError::Timeout) => {}
        Err(other) => panic!("expected a timeout: {other}"),
        Ok(_) => panic!("a drip opened a connection"),
    }
}

/// Limits roomy enough for 3 MiB on each stream.
const ROOMY: Limits = Limits {
    max_output: 4 << 20,
    deadline: Duration::from_secs(20),
};

/// [`logged_in`] with a minute's connection timeout, the command's
/// `limits` set; `None` when not root.
fn limited(name: &str, limits: Limits) -> Option<(Scratch, Sshd, rccr::ssh::Connection)> {
    if !common::lab::require_root() {
        return None;
    }
    let dir = Scratch::new(name);
    let (sshd, mut conn) = logged_in(&dir, Duration::from_secs(60));
    conn.set_limits(limits);
    Some((dir, sshd, conn))
}

#[test]
fn stderr_past_the_channel_window_before_stdout_arrives_whole() {
    let Some((_dir, _sshd, conn)) = limited("ssh-stderr-window", ROOMY) else {
        return;
    };
    // 3 MiB of stderr is more than the channel's window (2 MiB): read
    // after stdout, it held the window shut and stdout never ended.
    let out = conn
        .run("head -c 3145728 /dev/zero | tr '\\0' e >&2; echo out", b"")
        .unwrap();
    assert!(out.success(), "{}", out.error_line());
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr.len(), 3 << 20);
    assert!(out.stderr.iter().all(|b| *b == b'e'));
}

#[test]
fn stderr_past_the_limit_is_cut_off() {
    let limits = Limits {
        max_output: 1024,
        deadline: Duration::from_secs(20),
    };
    let Some((_dir, _sshd, conn)) = limited("ssh-stderr-limit", limits) else {
        return;
    };
    match conn.run("head -c 1025 /dev/zero >&2; echo out", b"") {
        Err(SshError::TooLarge(1024)) => {}
        other => panic!("expected the 1024-byte limit's error: {other:?}"),
    }
    // Exactly the limit on both streams is no error.
    let out = conn
        .run("head -c 1024 /dev/zero >&2; head -c 1024 /dev/zero", b"")
        .unwrap();
    assert_eq!((out.stdout.len(), out.stderr.len()), (1024, 1024));
    // The connection still runs commands after a cut-off one.
    assert!(conn.run("true", b"").unwrap().success());
}

#[test]
fn stdout_and_stderr_in_many_small_pieces_arrive_whole() {
    let Some((_dir, _sshd, conn)) = limited("ssh-interleaved", ROOMY) else {
        return;
    };
    let pieces = 5000;
    let out = conn
        .run(
            &format!("i=0; while [ $i -lt {pieces} ]; do echo o$i; echo e$i >&2; i=$((i+1)); done"),
            b"",
        )
        .unwrap();
    assert!(out.success(), "{}", out.error_line());
    let lines = |tag: char| -> String { (0..pieces).map(|i| format!("{tag}{i}\n")).collect() };
    assert_eq!(String::from_utf8_lossy(&out.stdout), lines('o'));
    assert_eq!(String::from_utf8_lossy(&out.stderr), lines('e'));
}

#[test]
fn a_conversations_head_after_stderr_past_the_window_arrives() {
    let Some((_dir, _sshd, conn)) = limited("ssh-converse-stderr", ROOMY) else {
        return;
    };
    let talk = conn
        .converse(
            "head -c 3145728 /dev/zero | tr '\\0' e >&2; printf 'head\\nEND\\n'; \
             read answer; echo \"got $answer\"",
            b"\nEND\n",
            |head| [head, b"!\n"].concat(),
        )
        .unwrap();
    assert_eq!(talk.head.as_deref(), Some(&b"head"[..]));
    assert!(talk.output.success(), "{}", talk.output.error_line());
    assert_eq!(talk.output.stdout, b"got head!\n");
    assert_eq!(talk.output.stderr.len(), 3 << 20);
}

#[test]
fn output_past_the_window_before_the_input_is_read_does_not_stall_the_input() {
    let Some((_dir, _sshd, conn)) = limited("ssh-duplex", ROOMY) else {
        return;
    };
    // 3 MiB out before reading 3 MiB in: the input, sent whole before any
    // output was read, filled the command's window while its output
    // filled ours.
    let out = conn
        .run("head -c 3145728 /dev/zero; wc -c >&2", &vec![b'x'; 3 << 20])
        .unwrap();
    assert!(out.success(), "{}", out.error_line());
    assert_eq!(out.stdout.len(), 3 << 20);
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "3145728");
}
