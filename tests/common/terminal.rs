//! A command on a pseudo-terminal of the test's own, for what rccr asks
//! only on a terminal.
//!
//! util-linux `script` was the terminal before, and it ends on timers:
//! after its child exits it reads the pty for as long as output keeps
//! coming within 10 ms, and what the kernel has not yet moved from the
//! child's side of the pty by then is lost (a loaded machine lost a whole
//! prompt); at the end of its stdin it waits at most 2 s for the child to
//! read before it types ^D. Here the end is a real event instead: reading
//! the master fails with EIO only once every holder of the terminal has
//! closed it, and the kernel hands over all that was written first.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

/// Runs `cmd` with a new pseudo-terminal as its controlling terminal and as
/// stdin, stdout and stderr, `typed` typed ahead on it; returns its exit
/// status and everything the terminal showed, in `stdout` (a terminal has
/// one stream: the echo of `typed`, then stdout and stderr as written,
/// with `\r\n` line ends). Waits until the command and everything it
/// started have closed the terminal.
pub fn run_on_terminal(mut cmd: Command, typed: &[u8]) -> Output {
    let (mut master, slave) = open_pty();
    cmd.stdin(slave.try_clone().expect("dup the pty"))
        .stdout(slave.try_clone().expect("dup the pty"))
        .stderr(slave);
    // SAFETY: setsid and ioctl are async-signal-safe; the child makes the
    // pty (already its stdin) its controlling terminal, as a login would.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    // The test's copies of the slave must go, or EIO never comes.
    drop(cmd);
    master.write_all(typed).expect("type on the pty");
    let mut screen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match master.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => screen.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // EIO: no one holds the terminal any more; all was read.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("read the pty: {e}"),
        }
    }
    let status = child.wait().expect("wait for the command on the pty");
    Output {
        status,
        stdout: screen,
        stderr: Vec::new(),
    }
}

/// A new pty: (master, slave), both close-on-exec.
fn open_pty() -> (File, File) {
    // SAFETY: plain libc calls on a descriptor this function owns; the
    // name buffer is NUL-terminated by ptsname_r on success.
    unsafe {
        let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(fd >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = OwnedFd::from_raw_fd(fd);
        assert_eq!(libc::grantpt(master.as_raw_fd()), 0, "grantpt");
        assert_eq!(libc::unlockpt(master.as_raw_fd()), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
        let slave = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(
            slave >= 0,
            "open the pty slave: {}",
            std::io::Error::last_os_error()
        );
        (File::from(master), File::from_raw_fd(slave))
    }
}
