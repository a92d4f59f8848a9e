//! `STATE/lock`: one run at a time changes the state. `rccr setup`,
//! `rccr keyrotate`, `rccr remove`, `rccr backup` and `rccr restore` hold
//! it for their whole run;
//! a second run waits up to `--wait SECS`, then stops with the first run's
//! pid. The lock is the kernel's (`flock`), so a run that dies, even by
//! SIGKILL, releases it; the pid in the file is only for the message.
use super::StatePaths;
use crate::error::Error;
use crate::fsutil;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often a waiting run tries again.
const POLL: Duration = Duration::from_millis(100);

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

/// `STATE/restore-in-progress`: written by `rccr restore` before its first
/// write, holding the archive's path (`-`: stdin), and removed after its
/// last. While it is there the state may mix two: every command that
/// takes the lock but restore refuses to run.
pub fn restore_marker(paths: &StatePaths) -> PathBuf {
    paths.state_dir.join("restore-in-progress")
}

/// What a [`restore_marker`] left by a restore that stopped part-way says,
/// as one line that names the marker and the command that finishes the
/// restore; `None` without one. Commands that take the lock refuse with
/// it, and `rccr status`, which does not, warns with it.
pub fn unfinished_restore(paths: &StatePaths) -> Result<Option<String>, Error> {
    let marker = restore_marker(paths);
    let Some(marker_text) = fsutil::read_if_any(&marker)? else {
        return Ok(None);
    };
    let marker_text = String::from_utf8_lossy(&marker_text);
    let mut lines = marker_text.lines();
    let archive = crate::print::text(lines.next().unwrap_or("-"));
    let force = match lines.next() {
        Some("--force") => " --force",
        _ => "",
    };
    let again = match &*archive {
        "-" => format!("rccr restore{force} - again, with the same archive on stdin"),
        // Pasted back as it is shown.
        name if name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./+,:@%".contains(&b)) =>
        {
            format!("rccr restore{force} {name} again")
        }
        name => format!(
            "rccr restore{force} {} again",
            crate::ssh::shell_quote(name)
        ),
    };
    Ok(Some(format!(
        "{}: a restore stopped part-way, and the state may mix two: run {again}",
        marker.display()
    )))
}

impl Lock {
    /// Takes the state lock, waiting up to `wait` for another run to end.
    /// Creates the state directory (or checks the one there), and removes
    /// what a crashed run left of its temporary files. Refused (exit 1)
    /// while a restore that stopped part-way left its [`restore_marker`].
    pub fn acquire(paths: &StatePaths, wait: Duration) -> Result<Lock, Error> {
        let lock = Lock::acquire_to_restore(paths, wait)?;
        if let Some(unfinished) = unfinished_restore(paths)? {
            return Err(Error::Failed(unfinished));
        }
        Ok(lock)
    }

    /// [`Lock::acquire`] whatever a [`restore_marker`] says: for restore,
    /// which is what finishes the restore it names.
    pub fn acquire_to_restore(paths: &StatePaths, wait: Duration) -> Result<Lock, Error> {
        let start = Instant::now();
        Lock::take(paths, || {
            let waiting = start.elapsed() < wait;
            if waiting {
                std::thread::sleep(POLL);
            }
            waiting
        })
    }

    /// Takes the lock, calling `busy` each time another run holds it: it
    /// returns whether to try again (the tests' hold on when).
    fn take(paths: &StatePaths, mut busy: impl FnMut() -> bool) -> Result<Lock, Error> {
        paths.create_state_dir()?;
        let path = paths.lock();
        let cannot = |e| Error::io(format!("cannot lock {}", path.display()), e);
        const REMOVE: &str = "remove it (rccr makes it again)";
        let refuse =
            |why: &str| Error::bad_input(path.display().to_string(), format!("{why}: {REMOVE}"));
        // Never through a link, nor anything but a file of its own: the
        // pid is written over what the file holds.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => refuse("is a symbolic link"),
                _ => cannot(e),
            })?;
        // One that was there before must be rccr's (its directory passed).
        let meta = file.metadata().map_err(cannot)?;
        if !meta.is_file() {
            return Err(refuse("is not a regular file"));
        }
        if let Some(why) = fsutil::untrusted_meta(&meta, fsutil::Trust::Kept) {
            let what = fsutil::remedy(&path, || REMOVE.into());
            return Err(Error::bad_input(
                path.display().to_string(),
                format!("{why}: {what}"),
            ));
        }
        while !fsutil::try_lock(&file).map_err(cannot)? {
            if !busy() {
                return Err(Error::Failed(format!(
                    "another rccr run ({}) holds {}: wait for it to finish, or pass --wait SECS",
                    holder(&mut file),
                    path.display()
                )));
            }
        }
        let pid = format!("{}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(pid.as_bytes()))
            .map_err(cannot)?;
        // Leftovers of a crashed run: no rccr writes here without the lock.
        fsutil::remove_leftovers(&paths.state_dir);
        // Runs of other state directories write in ~/.ssh under its own
        // lock (`ssh_config::rewrite_user_file`): swept only while no one
        // holds that, never waited for.
        if let Ok(ssh) = File::open(&paths.ssh_dir) {
            if fsutil::try_lock(&ssh).unwrap_or(false) {
                fsutil::remove_leftovers(&paths.ssh_dir);
            }
        }
        Ok(Lock { _file: file, path })
    }
}

/// `pid N` of the run holding the lock, as far as its file says.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .rewind()
        .and_then(|()| file.take(32).read_to_string(&mut text));
    match text.trim().parse::<u32>() {
        Ok(pid) => format!("pid {pid}"),
        Err(_) => "pid unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_while_the_first_holds_the_lock_and_names_it() {
        let dir = std::env::temp_dir().join(format!("rccr-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let paths = StatePaths::resolve(Some(dir.to_str().unwrap()), None);
        let first = Lock::acquire(&paths, Duration::ZERO).unwrap();
        let err = Lock::acquire(&paths, Duration::ZERO).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "another rccr run (pid {}) holds {}",
                std::process::id(),
                paths.lock().display()
            )),
            "{msg}"
        );
        assert_eq!(err.exit_code(), crate::error::ExitCode::Failure);
        drop(first);
        let again = Lock::acquire(&paths, Duration::ZERO).unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A waiting run finds the lock held (its `busy` is called, and it
    /// holds on there until the first run has let go), then takes the
    /// lock at its next try, without being told to wait again.
    #[test]
    fn a_waiting_run_takes_the_lock_once_the_first_lets_go() {
        use std::sync::mpsc;
        enum Seen {
            Busy,
            Took(Result<Lock, Error>),
        }
        let dir = std::env::temp_dir().join(format!("rccr-lock-wait-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let paths = StatePaths::resolve(Some(dir.to_str().unwrap()), None);
        let first = Lock::acquire(&paths, Duration::ZERO).unwrap();
        let (seen, sees) = mpsc::channel();
        let (go_on, goes_on) = mpsc::channel::<()>();
        let paths = &paths;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut busy_count = 0;
                let took = Lock::take(paths, || {
                    busy_count += 1;
                    let _ = seen.send(Seen::Busy);
                    // Once only: the first run lets go before this returns.
                    busy_count == 1 && goes_on.recv().is_ok()
                });
                let _ = seen.send(Seen::Took(took));
            });
            match sees.recv().unwrap() {
                Seen::Busy => {}
                Seen::Took(took) => panic!("taken while the first run held it: {took:?}"),
            }
            drop(first);
            go_on.send(()).unwrap();
            match sees.recv().unwrap() {
                Seen::Took(Ok(lock)) => drop(lock),
                Seen::Took(Err(e)) => panic!("not taken once free: {e}"),
                Seen::Busy => panic!("still held after the first run let go"),
            }
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs of two state directories share `~/.ssh`: taking one's lock
    /// leaves the other's write in progress there (its temporary file,
    /// under the lock of `~/.ssh`) alone, and sweeps it once no one writes.
    #[test]
    fn a_run_of_another_state_dir_leaves_a_write_in_ssh_alone() {
        let dir = fsutil::scratch::Dir::new("lock-shared-ssh");
        let paths = |state: &str| StatePaths {
            ssh_dir: dir.join(".ssh"),
            state_dir: dir.join(state),
            known_hosts: dir.join(".ssh/known_hosts"),
        };
        let (a, b) = (paths("a"), paths("b"));
        std::fs::create_dir(&a.ssh_dir).unwrap();
        let _run_a = Lock::acquire(&a, Duration::ZERO).unwrap();
        let writing = fsutil::lock_dir(&a.ssh_dir, || ()).unwrap();
        let tmp = a.ssh_dir.join(".known_hosts.rccr-tmp.1");
        std::fs::write(&tmp, "").unwrap();
        drop(Lock::acquire(&b, Duration::ZERO).unwrap());
        assert!(tmp.exists(), "run b removed run a's write in progress");
        drop(writing);
        drop(Lock::acquire(&b, Duration::ZERO).unwrap());
        assert!(!tmp.exists(), "a leftover no one writes stays");
    }

    #[test]
    fn a_restore_stopped_part_way_is_named_as_it_was_run() {
        let dir = std::env::temp_dir().join(format!("rccr-lock-marker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let paths = StatePaths::resolve(Some(dir.to_str().unwrap()), None);
        paths.create_state_dir().unwrap();
        for (marker, says) in [
            ("/m/a.bak\n", "run rccr restore /m/a.bak again"),
            (
                "/m/a.bak\n--force\n",
                "run rccr restore --force /m/a.bak again",
            ),
            ("/m/my backup\n", "run rccr restore '/m/my backup' again"),
            (
                "-\n--force\n",
                "run rccr restore --force - again, with the same",
            ),
        ] {
            std::fs::write(restore_marker(&paths), marker).unwrap();
            let msg = Lock::acquire(&paths, Duration::ZERO)
                .unwrap_err()
                .to_string();
            assert!(msg.contains(says), "{marker:?}: {msg}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
