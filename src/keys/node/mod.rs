//! The node side of key rotation, built in: `rccr keys node 1 ACTION ...`.
//!
//! The same protocol as `remote.sh` (whose header documents the actions,
//! their input and output, and the exit codes); the control runs this
//! where the node has rccr (every RCCR image does) and the script
//! elsewhere. Both must behave byte for byte alike: tests/keys_remote.rs
//! runs one set of cases against the script under dash and busybox ash and
//! against this. Built in, a step costs one exec instead of a shell and a
//! dozen coreutils processes, which is most of a node's CPU per rotation.
//!
//! Exit codes, as the script's: 0 done, 1 failed (nothing changed, a
//! commit sent nothing that cannot read the backup of a marker it could
//! not read among them; but for a rotation dropped on a link,
//! [`Files::refuse_link`], a dead rotation's revert or drop, and a
//! commit's drop of a marker it could not read ([`disarm_unread`]), that
//! failed half way, and a commit whose written file could not take its
//! name after the disarm: old and new keys, disarmed), 3
//! rotation expired, 4 authorized_keys changed under us, 5 another step
//! holds the node's lock, 6 a rotation is armed already (stage only), 7
//! the control's input did not end within the input wait ([`input_wait`];
//! nothing changed, an armed rotation is left to its revert timer), and
//! 125 for a protocol version this rccr does not speak (before reading any
//! input, so the caller can fall back to the script with the same stdin).
//!
//! Stage and commit hold the node's own lock (`$HOME/.rccr-keys.lock`, an
//! `flock` the script takes too), and a stage is refused while another
//! rotation is armed: two controls, or two runs, never interleave their
//! steps on one node, and the backup a revert restores is never
//! overwritten. The revert timer waits for that lock before it reverts,
//! so it never reverts under a step; [`lock_wait`] at most: a step still
//! holding it then stalled, and the timer leaves the rotation to the next
//! stage (see [`revert_later`]).
//!
//! The revert timer holds a lock on the revert marker for as long as it
//! lives (the marker says so on its second line), from before the marker
//! takes its name. A marker nobody holds lost its timer (a reboot, a kill):
//! a stage first does what the timer would have done, or the node would
//! refuse every later stage and keep the old key for good. A commit comes
//! from a control that is there, and commits as ever: reverting there
//! would only cost a start-over, and where the end of the login session
//! kills the timer (systemd's KillUserProcesses) no rotation could finish.
//! On a link, which both refuse, such a rotation is dropped, not reverted
//! ([`Files::refuse_link`]).
//! `read` says so (`TOKEN timer-died`) and stays read-only: it takes no
//! lock a step could find taken, and changes nothing (`rccr keys status`
//! runs it). Whether the timer lives is probed with a shared lock, which
//! the timer's excludes and other probes do not.
//! A marker of an older version (the token alone) waits for its timer; at
//! boot, when no timer can live, `rccr-init` restores every armed
//! rotation's backup ([`revert_at_boot`]). A marker cut short (its write
//! failed) names no token a timer reverts: a stage reverts it as one whose
//! timer died, onto a backup that fits ([`Files::backup_fits`]), else it
//! drops marker and backup and keeps the file (so does the boot). A
//! marker the boot cannot read may be cut short or whole: its rotation is
//! reverted onto a backup that fits or is whole on its own, else marker
//! and backup are left and the boot says so ([`Files::dead`]); so a
//! commit, which runs over a connection the new key opened, drops a
//! marker it cannot read, sent a file or not; sent none, only one its
//! snapshot could not read, and unless its backup fits; one it cannot
//! read fails the commit, nothing changed, so the control keeps the old
//! key ([`disarm_unread`]). The
//! boot does on a symbolic link what the timer would: the backup renamed
//! over it (judging what a link grants at boot, before later services
//! mount or fix its target, could lose the node's only access).
use crate::failpoint;
use crate::fsutil;
use crate::keys::authorized::cksum_line;
use crate::keys::frame::{self, FrameError};
use crate::ssh::stream::Stream;
use crate::sys;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The node side for nodes without rccr: the same protocol in POSIX sh.
pub const REMOTE_SCRIPT: &str = include_str!(concat!(env!("OUT_DIR"), "/remote.sh"));
/// The protocol version the control asks for, as the first argument.
pub const PROTOCOL: &str = "1";
/// Exit code for a protocol version we do not speak.
pub const UNSUPPORTED: i32 = 125;
/// Exit code: the rotation armed on the node expired (it reverted).
pub const EXPIRED: i32 = 3;
/// Exit code: authorized_keys changed between the snapshot and the install.
pub const CHANGED: i32 = 4;
/// Exit code: another step holds the node's lock; nothing changed.
pub const BUSY: i32 = 5;
/// Exit code: a stage found a rotation armed already; nothing changed.
pub const ARMED: i32 = 6;
/// Exit code: the control's input did not end within the input wait;
/// nothing changed.
pub const NO_INPUT: i32 = 7;
/// The longest a step waits for the control's input, in seconds: the
/// control's own deadline for a step ([`crate::ssh::Limits::DEFAULT`]).
pub const MAX_INPUT_WAIT: u64 = crate::ssh::Limits::DEFAULT.deadline.as_secs();
/// The revert marker's second line: its timer holds a lock on it.
const TIMER_HOLDS_LOCK: &str = "timer-holds-lock";
/// What a revert marker no timer reverts is, said in every message about it
/// (remote.sh says the same words).
const ODD_MARKER: &str = "cut short, a link, no regular file or too large";
/// What a snapshot's armed line says after the token when the rotation's
/// revert timer died: `TOKEN timer-died`.
pub const TIMER_DIED: &str = "timer-died";
/// The most a revert marker is read: a token line and [`TIMER_HOLDS_LOCK`]
/// are far less. Read at boot, a link to /dev/zero must not take the memory.
const MAX_MARKER: usize = 4096;

/// A failed step: exit code and message (the script's `fail`).
struct Fail(i32, String);

type Step<T> = Result<T, Fail>;

fn fail<T>(code: i32, message: impl Into<String>) -> Step<T> {
    Err(Fail(code, message.into()))
}

/// The files the protocol works on, under `$HOME/.ssh`, and its lock.
struct Files {
    dir: PathBuf,
    ak: PathBuf,
    bak: PathBuf,
    mark: PathBuf,
    lock: PathBuf,
}

/// What became of an armed rotation's revert timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// It holds its lock on the marker.
    Lives,
    /// Its marker says it holds a lock on it, and nobody does.
    Died,
    /// No marker, or one of an older version (the token alone): its timer
    /// held no lock.
    Unknown,
}

impl Files {
    fn new() -> Files {
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
        Files::at(Path::new(&home))
    }

    /// The files of the user whose home is `home`.
    fn at(home: &Path) -> Files {
        let dir = home.join(".ssh");
        Files {
            ak: dir.join("authorized_keys"),
            bak: dir.join(".rccr-authorized_keys.bak"),
            mark: dir.join(".rccr-rotation"),
            // Beside .ssh, not in it: the lock file stays when unlocked.
            lock: home.join(".rccr-keys.lock"),
            dir,
        }
    }

    fn open_lock(&self) -> io::Result<File> {
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.lock)
    }

    /// The node's lock for one step, without waiting; then the leftovers
    /// of a step that crashed go.
    fn lock(&self) -> Step<File> {
        let file = self
            .open_lock()
            .map_err(|e| Fail(1, format!("cannot open {}: {e}", self.lock.display())))?;
        match fsutil::try_lock(&file) {
            Ok(true) => {
                fsutil::remove_leftovers(&self.dir);
                Ok(file)
            }
            Ok(false) => fail(
                BUSY,
                "another rotation step is running on this node; nothing changed",
            ),
            Err(e) => fail(1, format!("cannot lock {}: {e}", self.lock.display())),
        }
    }

    /// authorized_keys' bytes and mode, as remote.sh's `[ -f ]` and
    /// `cksum` see it: `None` when absent or no regular file (a pipe, a
    /// device, a directory: sshd takes no key from one, it grants nothing,
    /// as absent). Never blocks (a pipe would hold the step, and the
    /// node's lock, for good) nor reads past what a rotation carries
    /// ([`frame::MAX_FILE`]): a larger file is refused, never cut short.
    fn keys(&self) -> Step<Option<(Vec<u8>, u32)>> {
        match fsutil::read_regular(&self.ak, true, frame::MAX_FILE) {
            Ok((meta, bytes)) => Ok(bytes.map(|b| (b, meta.permissions().mode() & 0o7777))),
            // read_regular's one InvalidData: over the bound.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => fail(
                1,
                format!(
                    "{} is larger than {} bytes, more than a key rotation carries; it is left \
                     as it is: remove the keys it no longer needs, then run again",
                    self.ak.display(),
                    frame::MAX_FILE
                ),
            ),
            // Absent, or none that opens at all (a socket).
            Err(_) if !self.ak.is_file() => Ok(None),
            Err(e) => fail(1, format!("cannot read {}: {e}", self.ak.display())),
        }
    }

    /// Refuses a step on an authorized_keys absent or no regular file
    /// (nothing changed).
    fn not_regular<T>(&self) -> Step<T> {
        fail(
            1,
            format!("{} does not exist or is no regular file", self.ak.display()),
        )
    }

    /// authorized_keys ([`Files::keys`]) when it is still as `snap` read
    /// it; else it changed since ([`CHANGED`]), also when it can no longer
    /// be read (grown past the bound, unreadable): remote.sh compares
    /// sums, and the sum of a file it cannot read differs.
    fn keys_as_read(&self, snap: &Snapshot) -> Step<Option<(Vec<u8>, u32)>> {
        match self.keys() {
            Ok(now) if sum_of(now.as_ref()) == snap.sum => Ok(now),
            _ => fail(
                CHANGED,
                format!("{} changed since it was read", self.ak.display()),
            ),
        }
    }

    /// The marker's bytes: `Err` when it cannot be read, and when it is no
    /// regular file (not followed: a pipe would hang the boot) or over
    /// [`MAX_MARKER`].
    fn marker(&self) -> io::Result<Vec<u8>> {
        match fsutil::read_regular(&self.mark, false, MAX_MARKER)? {
            (_, Some(text)) => Ok(text),
            _ => Err(io::ErrorKind::InvalidData.into()),
        }
    }

    /// The marker's text, when [`Files::marker`] reads it and it is UTF-8.
    fn marker_text(&self) -> Option<String> {
        String::from_utf8(self.marker().ok()?).ok()
    }

    /// The armed rotation's token, or `-`.
    fn armed(&self) -> String {
        match self.marker_text() {
            Some(text) => text.lines().next().unwrap_or("").to_string(),
            None => "-".into(),
        }
    }

    /// Whether there is a revert marker, whatever it is (a link too).
    fn marked(&self) -> bool {
        self.mark.symlink_metadata().is_ok()
    }

    /// What the revert timer does: the backup back over authorized_keys,
    /// the marker gone, then both durable (the backup's bytes are on disk
    /// since the stage). Back to back, so a commit racing the timer finds
    /// it expired. Without a backup (a revert cut short between the two)
    /// only the marker goes. A link made since the stage is replaced: the
    /// backup is the file the stage found; the link's target was never
    /// checked.
    fn revert(&self) -> io::Result<()> {
        let absent_is_done = |result: io::Result<()>| match result {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        absent_is_done(fs::rename(&self.bak, &self.ak))?;
        absent_is_done(fs::remove_file(&self.mark))?;
        self.sync_dir();
        Ok(())
    }

    /// Makes the names in `.ssh` durable: an fsync of the directory, else
    /// (a file system that cannot fsync one, EINVAL on some FUSE and
    /// network ones) `sync`, as remote.sh's `sync_one`. Never fails: the
    /// renames and removals it follows are done either way, and both node
    /// sides must then say and do the same.
    fn sync_dir(&self) {
        if fsutil::sync_parent(&self.ak).is_err() {
            let _ = Command::new("sync")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    /// What became of the armed rotation's timer. The probe is a shared
    /// lock, for an instant: the timer's own excludes it, and another
    /// probe (a `read` beside a stage) is never taken for a timer.
    fn timer(&self) -> Timer {
        let Some(text) = self.marker_text() else {
            return Timer::Unknown;
        };
        if text.lines().nth(1) != Some(TIMER_HOLDS_LOCK) {
            return Timer::Unknown;
        }
        // A marker gone since (its timer just reverted) fails the open; one
        // made a pipe or a link since neither hangs it nor is followed.
        let probe = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
            .open(&self.mark);
        match probe.map(|mark| fsutil::try_lock_shared(&mark)) {
            Ok(Ok(true)) => Timer::Died,
            Ok(Ok(false)) => Timer::Lives,
            _ => Timer::Unknown,
        }
    }

    /// The armed line of a snapshot for the armed token `armed`: `-`, the
    /// token, or the token and [`TIMER_DIED`].
    fn armed_line(&self, armed: &str) -> String {
        if armed != "-" && self.timer() == Timer::Died {
            format!("{armed} {TIMER_DIED}")
        } else {
            armed.to_string()
        }
    }

    /// Whether the revert marker was cut short ([`whole_marker`]), or is
    /// none a stage writes: a link, no regular file, over [`MAX_MARKER`].
    /// One absent or that cannot be read is not: as remote.sh, which does
    /// not ask. (At boot, where no timer lives, [`Files::dead`] decides.)
    fn marker_cut(&self) -> bool {
        match self.marker() {
            Ok(text) => !whole_marker(&text),
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ),
        }
    }

    /// Whether the backup is a copy a stage made of the file there now:
    /// not empty, and the start of authorized_keys (a stage only appends a
    /// line). A marker cut short comes from a stage that crashed before its
    /// writes were durable (remote.sh before 3450e07): its backup may be
    /// empty or cut short too, and renamed over authorized_keys it would
    /// take every key. (remote.sh's `backup_fits`.)
    /// On a symbolic link (only at boot: stage and commit refuse one
    /// first) the target is not read: it may be a pipe, a device, not
    /// mounted yet, or under `--root` the host's: the backup fits there
    /// when it is [`whole_on_its_own`]. Over
    /// a file absent or none regular (a pipe, a device), which grants
    /// nothing, any backup fits: it can only restore access; so over a
    /// regular one that is empty or only NUL bytes and blanks. (Over a
    /// directory the revert's rename fails: both are kept.)
    /// It runs at boot: neither file is read unless a regular one, nor
    /// past what a rotation carries ([`frame::MAX_FILE`]); one that is not
    /// (a pipe would hang the boot) does not fit.
    fn backup_fits(&self) -> bool {
        let Some(bak) = self.backup() else {
            return false;
        };
        match self.ak.symlink_metadata() {
            Ok(ak) if ak.is_symlink() => whole_on_its_own(&bak),
            // Empty or only NUL and blanks (what a crash before a stage's
            // writes were durable leaves): it grants nothing, as if absent.
            Ok(ak) if ak.is_file() => read_at_boot(&self.ak)
                .is_some_and(|ak| ak.iter().all(|&b| is_blank(b)) || ak.starts_with(&bak)),
            _ => true,
        }
    }

    /// The backup's bytes, when it is a regular file, not empty, and read
    /// as [`Files::backup_fits`] reads it.
    fn backup(&self) -> Option<Vec<u8>> {
        read_at_boot(&self.bak).filter(|bak| !bak.is_empty())
    }

    /// What becomes of a rotation no timer reverts ([`Dead`]): reverted
    /// ([`Files::revert`]) onto any backup when its marker was read and is
    /// whole, else onto a backup that fits ([`Files::backup_fits`]); a cut
    /// marker's other backup is dropped ([`Files::drop_rotation`]). A
    /// marker that cannot be read (only at boot: a stage leaves it alone)
    /// may be cut short, its backup empty, or whole, authorized_keys
    /// rewritten since the stage (only the unverified new key): reverted
    /// also onto a backup whole on its own, as its timer would have; any
    /// other is left, with its marker: it may be the old key's only copy.
    fn dead(&self) -> Dead {
        let marker = self.marker();
        if marker.as_ref().is_ok_and(|text| whole_marker(text)) || self.backup_fits() {
            return Dead::Revert;
        }
        match marker {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                if self.backup().is_some_and(|bak| whole_on_its_own(&bak)) {
                    Dead::Revert
                } else {
                    Dead::Leave
                }
            }
            _ => Dead::Drop,
        }
    }

    /// Marker and backup go, authorized_keys stays: every file a stage
    /// leaves holds the old key. Both are tried, as remote.sh's `rm -f`
    /// does; the first error is returned.
    fn drop_rotation(&self) -> io::Result<()> {
        let removed = [&self.mark, &self.bak].map(|file| match fs::remove_file(file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        });
        self.sync_dir();
        removed.into_iter().collect()
    }

    /// Does what the armed rotation's timer would have done, when that
    /// timer died or its marker was cut short ([`whole_marker`]: no timer
    /// would ever revert it, and every later stage would be refused).
    fn revert_if_timer_died(&self) -> Step<()> {
        let mark = self.mark.display();
        if self.marker_cut() {
            return match self.dead() {
                Dead::Revert => self.revert().or_else(|_| {
                    fail(
                        1,
                        format!(
                            "cannot revert the rotation whose revert marker {mark} is {ODD_MARKER}"
                        ),
                    )
                }),
                Dead::Drop => self.drop_rotation().or_else(|_| {
                    fail(
                        1,
                        format!(
                            "cannot drop the rotation whose revert marker {mark} is {ODD_MARKER} \
                             (its marker and backup not wholly removed)"
                        ),
                    )
                }),
                // A marker unreadable since marker_cut read it: left, as
                // a stage leaves one.
                Dead::Leave => Ok(()),
            };
        }
        if self.timer() == Timer::Died && self.revert().is_err() {
            return fail(
                1,
                format!(
                    "cannot revert rotation {}, whose revert timer died",
                    self.armed()
                ),
            );
        }
        Ok(())
    }

    /// Fails when authorized_keys is a symbolic link (into /etc, a dotfiles
    /// directory): the rename that installs a file atomically would
    /// replace the link, and its target, which config management may bring
    /// back, would keep the old keys. Writing through to the target would
    /// put the backup, marker and temporary files on another file system,
    /// where the revert is no rename. At stage and at commit (a link made
    /// since the stage). A rotation no timer reverts (its timer died, its
    /// marker cut short) is dropped there, not reverted, and that is
    /// persisted: its backup, as old as it, renamed over the link would
    /// take what the target grants (the key the control logged in with).
    /// (remote.sh's `refuse_link`.)
    fn refuse_link(&self) -> Step<()> {
        let Ok(to) = fs::read_link(&self.ak) else {
            return Ok(());
        };
        let dropped = "the rotation armed here, which no timer reverts,";
        let left = if !self.marker_cut() && self.timer() != Timer::Died {
            "nothing changed".into()
        } else if self.drop_rotation().is_ok() {
            // Saved at once (where it went is not told): an lbu overlay
            // that held marker and backup would bring them back at boot.
            let _ = persist(self);
            format!(
                "{dropped} dropped (its marker and backup removed; the link and its target kept)"
            )
        } else {
            // Maybe in part (the marker gone, the backup not): neither
            // "dropped" nor "nothing changed" is true.
            format!("{dropped} not wholly dropped")
        };
        fail(
            1,
            format!(
                "{} is a symbolic link (to {}): rccr writes only a regular file; {left}: make \
                 it a copy of its target, or change the target by hand",
                self.ak.display(),
                to.display()
            ),
        )
    }

    /// Installs `content` as authorized_keys durably (0600), and sets the
    /// directory to 0700. Fails only when the file was not installed: once
    /// it is in place (a directory sync that failed after the rename), a
    /// directory that cannot be synced or set to 0700 cannot undo that (a
    /// stage that then disarmed would leave the new file with no timer).
    /// `before_rename` runs once the new file is written and fsynced
    /// under a temporary name (a commit's disarm); its error fails the
    /// install, `authorized_keys` as it was.
    fn install(&self, content: &[u8], before_rename: BeforeRename) -> io::Result<()> {
        let written = fsutil::write_atomic_with(&self.ak, content, 0o600, before_rename);
        if let Err(e) = written {
            // Read as the steps read it: a pipe put there must not hang us.
            let there = fsutil::read_regular(&self.ak, false, frame::MAX_FILE);
            if there.ok().and_then(|read| read.1).as_deref() != Some(content) {
                return Err(io::Error::other(e.to_string()));
            }
        }
        if fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).is_err() {
            eprintln!("rccr-remote: cannot set {} to 0700", self.dir.display());
        }
        Ok(())
    }
}

/// What [`fsutil::write_atomic_with`] runs before its rename, one type
/// for every call here (one copy of it in the binary).
type BeforeRename<'a> = &'a mut dyn FnMut(&File) -> io::Result<()>;

/// Whether the revert marker `text` is whole: a token line, then nothing
/// (an older version's marker) or the line `timer-holds-lock` alone. A
/// write cut short (a full disk) leaves less, and no timer reverts that:
/// the token it names is not its timer's.
fn whole_marker(text: &[u8]) -> bool {
    // No NUL byte (a crash's zero-filled tail): remote.sh's `read` drops
    // them, and compares the file byte for byte with what it read.
    if text.contains(&0) {
        return false;
    }
    let Some(body) = text.strip_suffix(b"\n") else {
        return false;
    };
    let mut lines = body.split(|b| *b == b'\n');
    let token = lines.next().unwrap_or_default();
    !token.is_empty()
        && match (lines.next(), lines.next()) {
            (None, _) => true,
            (Some(held), None) => held == TIMER_HOLDS_LOCK.as_bytes(),
            _ => false,
        }
}

/// What becomes of a rotation no timer reverts ([`Files::dead`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dead {
    /// Its backup goes back over authorized_keys ([`Files::revert`]).
    Revert,
    /// Marker and backup go, authorized_keys stays ([`Files::drop_rotation`]).
    Drop,
    /// Marker and backup stay as they are (a marker that cannot be read
    /// and a backup no copy to restore).
    Leave,
}

/// `path`'s bytes, as the boot may read a file: a regular one, not
/// followed, not past what a rotation carries ([`frame::MAX_FILE`]); else
/// `None` (a pipe would hang the boot).
fn read_at_boot(path: &Path) -> Option<Vec<u8>> {
    fsutil::read_regular(path, false, frame::MAX_FILE).ok()?.1
}

/// A byte of a file that grants nothing: NUL, or a blank the script's
/// `tr -d '\000 \t\n\r\v\f'` deletes (`is_ascii_whitespace` leaves out
/// the vertical tab).
fn is_blank(b: u8) -> bool {
    b == 0 || b == 0x0b || b.is_ascii_whitespace()
}

/// Whether a backup is whole on its own, where there is no file to check
/// it against: not empty, its last line ended, no NUL byte (a write cut
/// short leaves less, or a zero-filled tail).
fn whole_on_its_own(bak: &[u8]) -> bool {
    bak.ends_with(b"\n") && !bak.contains(&0)
}

/// The `cksum` line of authorized_keys as [`Files::keys`] read it, or `none`.
fn sum_of(keys: Option<&(Vec<u8>, u32)>) -> String {
    keys.map_or("none".into(), |(bytes, _)| cksum_line(bytes))
}

/// What `read` prints, and what the file was when it was read.
struct Snapshot {
    sum: String,
    armed: String,
    /// A marker was there that could not be read (`armed` is `-`).
    unread: bool,
}

/// Runs `rccr keys node VERSION ACTION ARGS...` and returns the exit code.
pub fn main(args: &[&str]) -> i32 {
    if args.first() != Some(&PROTOCOL) {
        eprintln!(
            "rccr-remote: protocol {} not spoken here (this rccr speaks {PROTOCOL})",
            args.first().unwrap_or(&"")
        );
        return UNSUPPORTED;
    }
    // The node's own umask must not widen anything we create.
    sys::set_umask(0o077);
    let files = Files::new();
    let mut out = io::stdout().lock();
    let result = match args[1..] {
        ["read"] => snapshot(&files, &mut out).map(drop),
        ["stage", id, seconds, nonce] => files.lock().and_then(|_lock| {
            files.refuse_link()?;
            files.revert_if_timer_died()?;
            stage(&files, &mut out, id, seconds, nonce)
        }),
        ["commit", nonce] => files.lock().and_then(|_lock| {
            files.refuse_link()?;
            commit(&files, &mut out, nonce)
        }),
        ["revert", token, seconds] => {
            revert_later(&files, token, seconds);
            Ok(())
        }
        [action, ..] => fail(1, format!("unknown action: {action}")),
        [] => fail(1, "unknown action: "),
    };
    let _ = out.flush();
    match result {
        Ok(()) => 0,
        Err(Fail(code, message)) => {
            eprintln!("rccr-remote: {message}");
            code
        }
    }
}

/// Prints the sum, the armed token and the file's bytes.
fn snapshot(files: &Files, out: &mut impl Write) -> Step<Snapshot> {
    let keys = files.keys()?;
    let armed = files.armed();
    let snap = Snapshot {
        sum: sum_of(keys.as_ref()),
        unread: armed == "-" && files.marked(),
        armed,
    };
    let armed = files.armed_line(&snap.armed);
    let written = write!(out, "{}\n{armed}\n", snap.sum)
        .and_then(|()| out.write_all(keys.as_ref().map_or(&[], |(bytes, _)| bytes)));
    written.map_err(|e| Fail(1, format!("cannot write the snapshot: {e}")))?;
    Ok(snap)
}

/// How long a step waits for the control's input, in seconds:
/// `RCCR_KEYS_INPUT_WAIT` (1 to [`MAX_INPUT_WAIT`], written plainly; for
/// tests), else [`MAX_INPUT_WAIT`]. A control that died, or a link cut
/// mid-step, must not keep the node's lock until TCP gives up (hours).
fn input_wait() -> u64 {
    input_wait_of(std::env::var("RCCR_KEYS_INPUT_WAIT").ok().as_deref())
}

/// [`input_wait`] for the variable's value: what remote.sh's `case`
/// takes (`[1-9]`, `[1-9][0-9]`, `1[01][0-9]`, `120`), else the default.
fn input_wait_of(value: Option<&str>) -> u64 {
    value
        .filter(|w| !w.starts_with('0') && w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse().ok())
        .filter(|w| (1..=MAX_INPUT_WAIT).contains(w))
        .unwrap_or(MAX_INPUT_WAIT)
}

/// How long the revert timer waits for the node's lock: twice the
/// [`input_wait`] (the script's `lock_wait`). A step that is not stalled
/// holds the lock for its input wait and little more.
fn lock_wait() -> Duration {
    Duration::from_secs(2 * input_wait())
}

/// Stdin, unbuffered, whose reads fail with `TimedOut` once `deadline`
/// has passed: each waits for input (poll) no longer than what is left.
struct Until {
    stdin: File,
    deadline: Instant,
}

impl io::Read for Until {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            let mut fds = [sys::poll_fd(self.stdin.as_raw_fd(), sys::POLLIN)];
            // Input, its end, or an error: read says which.
            if sys::poll(&mut fds, ms)? > 0 {
                return self.stdin.read(buf);
            }
        }
    }
}

/// Ends the snapshot with the nonce line and waits for the new file:
/// `CKSUM\n` then the bytes, to the end of the input, within
/// [`input_wait`]. `None` when the control sent nothing.
fn receive(out: &mut impl Write, nonce: &str) -> Step<Option<Vec<u8>>> {
    write!(out, "\n{nonce}\n")
        .and_then(|()| out.flush())
        .map_err(|e| Fail(1, format!("cannot write the snapshot: {e}")))?;
    let wait = input_wait();
    let stdin = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Fail(1, format!("cannot read the new authorized_keys: {e}")))?;
    let mut input = Until {
        stdin: File::from(stdin),
        deadline: Instant::now() + Duration::from_secs(wait),
    };
    match frame::read(&mut Stream::new(&mut input)) {
        Ok(content) => Ok(content),
        Err(FrameError::Io(e)) if e.0.kind() == io::ErrorKind::TimedOut => fail(
            NO_INPUT,
            format!("no input from the control within {wait} s; nothing changed"),
        ),
        Err(FrameError::Incomplete) => fail(
            1,
            "the new authorized_keys arrived incomplete; nothing changed",
        ),
        Err(FrameError::TooLarge) => fail(
            1,
            format!(
                "the new authorized_keys is larger than {} bytes; nothing changed",
                frame::MAX_FILE
            ),
        ),
        Err(FrameError::Io(e)) => fail(1, format!("cannot read the new authorized_keys: {}", e.0)),
    }
}

fn stage(files: &Files, out: &mut impl Write, id: &str, seconds: &str, nonce: &str) -> Step<()> {
    if !files.ak.is_file() {
        return files.not_regular();
    }
    let armed = files.armed();
    if armed != "-" {
        return fail(
            ARMED,
            format!("rotation {armed} is armed here; it commits or reverts first; nothing changed"),
        );
    }
    let Ok(seconds_n) = seconds.parse::<u64>() else {
        return fail(1, format!("not a number of seconds: {seconds}"));
    };
    let snap = snapshot(files, out)?;
    let Some(content) = receive(out, nonce)? else {
        return Ok(());
    };
    let now = files.keys_as_read(&snap)?;
    // The bytes just checked, with their file's own mode, which the umask
    // narrowed (remote.sh's `cp -p`). A file read as none (no regular file
    // since) has none to back up.
    let backup = now.is_some_and(|(old, mode)| {
        let own_mode: BeforeRename =
            &mut |bak| bak.set_permissions(fs::Permissions::from_mode(mode));
        fsutil::write_atomic_with(&files.bak, &old, mode, own_mode).is_ok()
    });
    if !backup {
        return fail(1, format!("cannot back up {}", files.ak.display()));
    }
    // Each stage arms its own token, so a timer left by an earlier attempt
    // of the same rotation can never revert this one.
    let token = format!("{id}.{nonce}");
    let disarm = || {
        let _ = fs::remove_file(&files.mark);
        let _ = fs::remove_file(&files.bak);
    };
    // The timer takes the marker's lock before the marker takes its name:
    // no marker is ever seen unlocked while its timer lives.
    let marker = format!("{token}\n{TIMER_HOLDS_LOCK}\n");
    let arm: BeforeRename = &mut |mark| start_timer(mark, &token, seconds_n);
    let armed = fsutil::write_atomic_with(&files.mark, marker.as_bytes(), 0o600, arm);
    if armed.is_err() {
        disarm();
        return fail(1, "cannot arm the revert");
    }
    failpoint::reached("node-armed", &token);
    if files.install(&content, &mut |_| Ok(())).is_err() {
        disarm();
        return fail(
            1,
            format!("cannot replace {} (read-only?)", files.ak.display()),
        );
    }
    writeln!(out, "staged").map_err(|e| Fail(1, e.to_string()))
}

/// Starts the revert timer of rotation `token`: it outlives this session,
/// a lost link and a killed sshd, and restores the backup unless commit
/// disarmed it. The lock of `mark` (the marker, not yet under its name) is
/// taken here, before the spawn, and handed to the timer as its stdin, so
/// the timer holds it from its first instant to its last.
fn start_timer(mark: &File, token: &str, seconds: u64) -> io::Result<()> {
    if !fsutil::try_lock(mark)? {
        return Err(io::Error::other("the revert marker is locked"));
    }
    let mark = mark.try_clone()?;
    std::env::current_exe().and_then(|exe| {
        Command::new(exe)
            .arg0("rccr")
            .args([
                "keys",
                "node",
                PROTOCOL,
                "revert",
                token,
                &seconds.to_string(),
            ])
            .stdin(Stdio::from(mark))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map(drop)
    })
}

/// The detached timer of a stage: after `seconds`, restores the backup if
/// `token` is still the armed rotation. Once awake it waits for the node's
/// lock before it reads the token, so it never reverts under a stage or a
/// commit under way (each ends within the input wait): a stage it reverted
/// under would install the new file after it, with no timer left; a
/// commit, the backup would land over the new file. (Its stdin, the
/// marker's lock, tells the steps that it lives.)
///
/// A step that still holds the lock after [`lock_wait`] stalled (a dead
/// channel, a hung `lbu commit`): the timer then leaves the files as they
/// are and ends, which lets go of the marker. The rotation's timer died:
/// `read` says so, and the next stage (or `rccr-init` at boot) reverts it.
/// Staged, the node takes the old key and the new; reverting under a
/// commit could leave it on the old key alone once the control, told
/// `committed`, has dropped that key.
fn revert_later(files: &Files, token: &str, seconds: &str) {
    sys::ignore_hangup();
    std::thread::sleep(Duration::from_secs(seconds.parse().unwrap_or(0)));
    let wait = lock_wait();
    // Without the lock file (removed by hand) it reverts all the same.
    let _lock = match files.open_lock().map(|lock| lock_within(lock, wait)) {
        Ok(None) => {
            sys::log_warning(&format!(
                "rotation {token} not reverted: a step held the node's lock over {} s; the next stage reverts it",
                wait.as_secs()
            ));
            return;
        }
        Ok(Some(lock)) => Some(lock),
        Err(_) => None,
    };
    if files.armed() == token {
        let _ = files.revert();
    }
}

/// Takes `file`'s exclusive lock, waiting at most `wait`: `None` when
/// another open file held it all that time. The wait is a blocking
/// `flock` in a thread of its own (a waiter the kernel shows in
/// /proc/locks); given up, the thread is left blocked, and goes when the
/// process ends. An error taking it counts as taken: as `revert_later`
/// did before the wait was bounded, the timer reverts all the same.
fn lock_within(file: File, wait: Duration) -> Option<File> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let Ok(waiter) = file.try_clone() else {
        return Some(file);
    };
    let taken = Arc::new(AtomicBool::new(false));
    let (told, me) = (Arc::clone(&taken), std::thread::current());
    std::thread::spawn(move || {
        let _ = waiter.lock();
        told.store(true, Ordering::Release);
        me.unpark();
    });
    // An unpark before the park makes it return at once: none is lost.
    let deadline = Instant::now() + wait;
    while !taken.load(Ordering::Acquire) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::park_timeout(left);
    }
    Some(file)
}

fn commit(files: &Files, out: &mut impl Write, nonce: &str) -> Step<()> {
    let snap = snapshot(files, out)?;
    let said = match receive(out, nonce)? {
        None => {
            disarm_unread(files, &snap)?;
            "unchanged"
        }
        Some(content) => {
            if files.armed() != snap.armed {
                return fail(
                    EXPIRED,
                    format!("rotation {} expired: the node reverted", snap.armed),
                );
            }
            // As a stage: none to replace (a directory would take the
            // file in, or fail the rename after the disarm).
            if files.keys_as_read(&snap)?.is_none() {
                return files.not_regular();
            }
            // The new file is written and fsynced first, as remote.sh's
            // `receive` does: one that cannot be (a full disk) fails the
            // commit still armed, its timer to revert it. Then the disarm,
            // before the rename: a crash from there on leaves old and new
            // keys, never none. A marker that stays would let its timer
            // revert the commit. (Gone already is disarmed: `rm -f`.) It
            // is durable before the rename: a file system that reorders
            // the two could otherwise keep the new file and the marker,
            // and the boot would revert a committed rotation.
            let mut disarmed = None;
            let installed = files.install(&content, &mut |_| {
                let removed = match fs::remove_file(&files.mark) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                    _ => {
                        files.sync_dir();
                        Ok(())
                    }
                };
                disarmed = Some(removed.is_ok());
                removed
            });
            match (disarmed, installed) {
                (Some(true), Ok(())) => {}
                (Some(false), _) => {
                    return fail(
                        1,
                        format!(
                            "cannot disarm rotation {} (cannot remove {}); nothing changed",
                            snap.armed,
                            files.mark.display()
                        ),
                    )
                }
                // Not written (the file there may hold these bytes
                // already: still armed, it is no commit), or not renamed.
                _ => return fail(1, format!("cannot replace {}", files.ak.display())),
            }
            let _ = fs::remove_file(&files.bak);
            "committed"
        }
    };
    writeln!(out, "{said}\n{}", persist(files)).map_err(|e| Fail(1, e.to_string()))
}

/// Drops the rotation of a marker the commit's snapshot could not read
/// (`-`, an LSM's denial), whose backup is absent or was read and does
/// not fit authorized_keys ([`Files::backup_fits`]): the control, told of
/// no rotation, may send nothing (the file lacks the old key already),
/// and a marker left would have the boot, or its timer once the marker
/// reads again (the denial may pass by the drop: it is still dropped),
/// restore its backup, the old key alone, over the new one
/// ([`Files::dead`]). A commit runs over a connection the new key opened
/// (a release's: the key it removes), and a drop keeps authorized_keys as
/// it is. A backup that fits is kept, with its marker: over a file that
/// grants nothing (absent, empty, no regular file) it is the boot's way
/// back in. A backup it cannot read (unreadable, a link, too large: it
/// may be the old key's only copy; the boot leaves it too) fails the
/// commit, nothing changed, whatever the file grants: said `unchanged`,
/// the control would report the rotation done over a file of the new
/// key alone, and once the denial passed the timer or the boot would
/// restore the old key it no longer offers; failed, it keeps the old key.
/// A marker made since the snapshot (another rotation's) is kept.
/// (remote.sh's twin in `commit`.) Synced, before the persist.
fn disarm_unread(files: &Files, snap: &Snapshot) -> Step<()> {
    if !snap.unread || !files.marked() {
        return Ok(());
    }
    let backup_absent = matches!(
        files.bak.symlink_metadata(),
        Err(e) if e.kind() == io::ErrorKind::NotFound
    );
    if !backup_absent && read_at_boot(&files.bak).is_none() {
        return fail(
            1,
            format!(
                "cannot read the backup {} of the rotation whose revert marker {} could not be read: \
                 marker and backup left as they are, see to them by hand (docs/keys.md)",
                files.bak.display(),
                files.mark.display()
            ),
        );
    }
    if !backup_absent && files.backup_fits() {
        return Ok(());
    }
    files.drop_rotation().or_else(|_| {
        fail(
            1,
            format!(
                "cannot disarm the rotation whose revert marker {} holds no token that can be \
                 read (its marker and backup not wholly removed)",
                files.mark.display()
            ),
        )
    })
}

/// Makes the change survive a reboot: `lbu`, `lbu-failed`, `volatile` or `disk`.
fn persist(files: &Files) -> &'static str {
    crate::persist::commit(&[&files.dir]).as_str()
}

/// What the boot found of the rotation armed in a home.
#[derive(Debug, PartialEq, Eq)]
pub enum AtBoot {
    /// No rotation armed.
    Nothing,
    /// The backup of the rotation with this token is back (or would be,
    /// in a dry run), the marker gone; on a symbolic link, over the link,
    /// as the timer would have.
    Reverted(String),
    /// The rotation's timer lives (rccr-init run by hand mid-rotation): it
    /// is left to it.
    TimerLives(String),
    /// A marker cut short whose backup does not fit ([`Files::dead`]):
    /// marker and backup gone (or would be), the file kept; why.
    Dropped(String),
    /// Why the rotation could not be reverted, or dropped; or why it was
    /// left as it is (a marker that cannot be read, a backup no copy to
    /// restore: [`Files::dead`]).
    Failed(String),
}

/// At boot no revert timer lives (no process survives a reboot): does what
/// the timer of the rotation armed in `home` would have done, under the
/// node's lock, whatever the marker's version: a marker of an older rccr
/// (its timer held no lock, so no stage can tell that it died) would
/// otherwise refuse every later stage on the node for good, and the node
/// keep the old key. A timer that holds its marker's lock lives (a run by
/// hand, not at boot) and is left alone. A symbolically linked
/// authorized_keys gets the backup over the link, as from the timer.
/// `dry`: only say what would be done.
pub fn revert_at_boot(home: &Path, dry: bool) -> AtBoot {
    let files = Files::at(home);
    if !files.marked() {
        return AtBoot::Nothing;
    }
    let token = files.armed();
    if files.timer() == Timer::Lives {
        return AtBoot::TimerLives(token);
    }
    // Said, not shown as `-` (a marker no stage wrote is not read).
    let token = match token.as_str() {
        "-" => "(its marker holds no readable token)".into(),
        _ => token,
    };
    let unfit = |done: &str| {
        AtBoot::Dropped(format!(
            "key rotation {token} not reverted: its revert marker is {ODD_MARKER}, and its backup \
             no copy of {} to restore (empty, cut short, too large or no regular file): marker \
             and backup {done}, the file kept",
            files.ak.display()
        ))
    };
    let left = || {
        AtBoot::Failed(format!(
            "key rotation {token} not reverted: its revert marker cannot be read, and its backup \
             is no copy of {} to restore (empty, cut short, too large, unreadable or no regular \
             file): marker and backup left as they are, the file kept; the backup may hold the \
             old key's only copy: see to them by hand",
            files.ak.display()
        ))
    };
    if dry {
        return match files.dead() {
            Dead::Revert => AtBoot::Reverted(token),
            Dead::Drop => unfit("would be removed"),
            Dead::Leave => left(),
        };
    }
    let reverted = files.lock().and_then(|_lock| {
        // Checked again under the lock: a step may have run since.
        match files.timer() {
            _ if !files.marked() => Ok(AtBoot::Nothing),
            Timer::Lives => Ok(AtBoot::TimerLives(token.clone())),
            _ => match files.dead() {
                Dead::Revert => match files.revert() {
                    Ok(()) => Ok(AtBoot::Reverted(token.clone())),
                    Err(e) => fail(1, e.to_string()),
                },
                Dead::Drop => Ok(files.drop_rotation().map_or_else(
                    |e| {
                        AtBoot::Failed(format!(
                            "cannot drop key rotation {token} (its revert marker {ODD_MARKER}): \
                             its marker and backup not wholly removed: {e}"
                        ))
                    },
                    |()| unfit("removed"),
                )),
                Dead::Leave => Ok(left()),
            },
        }
    });
    reverted.unwrap_or_else(|Fail(_, why)| {
        AtBoot::Failed(format!("cannot revert key rotation {token}: {why}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A home of its own under the temporary directory, with its `.ssh`.
    fn temp_home(name: &str) -> (PathBuf, Files) {
        let home = std::env::temp_dir().join(format!("rccr-boot-{}-{name}", std::process::id()));
        let files = Files::at(&home);
        fs::create_dir_all(&files.dir).unwrap();
        (home, files)
    }

    #[test]
    fn a_marker_cut_short_is_told_from_a_whole_one() {
        for whole in ["r1.n1\ntimer-holds-lock\n", "r1.n1\n"] {
            assert!(whole_marker(whole.as_bytes()), "{whole:?}");
        }
        for cut in [
            "",
            "\n",
            "r1.n",
            "r1.n1\ntimer-ho",
            "r1.n1\ntimer-holds-lock",
            "\ntimer-holds-lock\n",
            "r1.n1\nsomething\n",
            "r1.n1\ntimer-holds-lock\nmore\n",
            "r1.n1\ntimer-holds-lock\n\0\0",
            "r1.n1\n\0\0",
            "r1\0.n1\ntimer-holds-lock\n",
        ] {
            assert!(!whole_marker(cut.as_bytes()), "{cut:?}");
        }
    }

    #[test]
    fn the_boot_reverts_a_marker_cut_short_only_onto_a_backup_that_fits() {
        let staged = b"ssh-ed25519 AAAAOLD old\nssh-ed25519 AAAANEW new\n";
        let original = b"ssh-ed25519 AAAAOLD old\n";
        for (backup, after) in [
            (&b""[..], &staged[..]),
            (b"garbage\n", staged),
            (original, original),
        ] {
            let reverted = after == original;
            let (home, files) = temp_home(&format!("cut-{}", backup.len()));
            fs::write(&files.ak, staged).unwrap();
            fs::write(&files.bak, backup).unwrap();
            fs::write(&files.mark, b"rg.n").unwrap();
            let said = revert_at_boot(&home, false);
            let kept = fs::read(&files.ak).unwrap();
            let left = [files.bak.exists(), files.mark.exists()];
            fs::remove_dir_all(&home).unwrap();
            match said {
                AtBoot::Reverted(token) if reverted => assert_eq!(token, "rg.n"),
                AtBoot::Dropped(why) if !reverted => {
                    assert!(why.contains("not reverted"), "{why}");
                    assert!(
                        why.contains("marker and backup removed, the file kept"),
                        "{why}"
                    );
                }
                other => panic!("{backup:?}: {other:?}"),
            }
            assert_eq!(kept, after, "{backup:?}");
            assert_eq!(left, [false, false], "{backup:?}");
        }
    }

    #[test]
    fn the_boot_waits_on_no_pipe_and_restores_a_whole_backup_over_what_sshd_refuses() {
        // At boot nothing writes to a pipe: read, it would hold the boot up
        // for good; a marker linked to /dev/zero, read, would take all the
        // memory. A marker no stage wrote counts as cut; a backup that is
        // none (a pipe) fits nothing; a whole one goes over an
        // authorized_keys sshd refuses (a pipe), as its timer's would, and
        // so does any (its last line not ended) over a pipe or none: they
        // grant nothing; over a directory the rename fails, both are kept.
        let (old, staged) = (
            b"ssh-ed25519 AAAAOLD old\n",
            b"ssh-ed25519 AAAAOLD old\nk2\n",
        );
        let cases = [
            ("backup", "dropped"),
            ("authorized_keys", "reverted"),
            ("marker", "reverted"),
            // Its backup no copy: were it read whole (an error, memory
            // spent), it would count as no cut marker and be reverted.
            ("marker to /dev/zero", "dropped"),
            ("authorized_keys a directory", "failed"),
            ("authorized_keys, the backup unended", "reverted"),
            ("authorized_keys absent, the backup unended", "reverted"),
            // A crash before a stage's writes were durable leaves this.
            ("authorized_keys NUL bytes and blanks", "reverted"),
        ];
        for (i, (odd, outcome)) in cases.into_iter().enumerate() {
            let (home, files) = temp_home(&format!("odd-{i}"));
            fs::write(&files.ak, staged).unwrap();
            let unended = &old[..old.len() - 1];
            let bak = if odd.ends_with("unended") {
                unended
            } else {
                old
            };
            fs::write(&files.bak, bak).unwrap();
            fs::write(&files.mark, b"rp.n").unwrap();
            let at = match odd {
                "backup" => &files.bak,
                "marker" | "marker to /dev/zero" => &files.mark,
                _ => &files.ak,
            };
            fs::remove_file(at).unwrap();
            match odd {
                "marker to /dev/zero" => {
                    std::os::unix::fs::symlink("/dev/zero", at).unwrap();
                    fs::write(&files.bak, b"k2\n").unwrap();
                }
                "authorized_keys a directory" => fs::create_dir(at).unwrap(),
                "authorized_keys absent, the backup unended" => {}
                "authorized_keys NUL bytes and blanks" => fs::write(at, b"\0\0 \n\t\n").unwrap(),
                _ => assert!(Command::new("mkfifo").arg(at).status().unwrap().success()),
            }
            let (tx, rx) = std::sync::mpsc::channel();
            let boot = home.clone();
            std::thread::spawn(move || tx.send(revert_at_boot(&boot, false)));
            // A hang guard, not a speed check: without it a regression
            // hangs the whole test run.
            let said = rx.recv_timeout(std::time::Duration::from_secs(60));
            let regular = fs::symlink_metadata(&files.ak).is_ok_and(|m| m.is_file());
            let ak = regular.then(|| fs::read(&files.ak).unwrap());
            let left = [files.bak.exists(), files.mark.symlink_metadata().is_ok()];
            fs::remove_dir_all(&home).unwrap();
            let (ak_then, left_then) = match (outcome, said) {
                ("reverted", Ok(AtBoot::Reverted(_))) => (Some(bak), [false, false]),
                // A marker not read names no token: said, not `-`.
                ("dropped", Ok(AtBoot::Dropped(why)))
                    if !odd.starts_with("marker")
                        || why
                            .starts_with("key rotation (its marker holds no readable token) ") =>
                {
                    (Some(&staged[..]), [false, false])
                }
                ("failed", Ok(AtBoot::Failed(why))) if why.contains("Is a directory") => {
                    (None, [true, true])
                }
                (_, said) => panic!("{odd}: {said:?}"),
            };
            assert_eq!(ak.as_deref(), ak_then, "{odd}");
            assert_eq!(left, left_then, "{odd}");
        }
    }

    #[test]
    fn the_boot_reverts_a_dead_rotation_over_a_link_as_its_timer_would() {
        // The timer died (a kill), then config management linked the file.
        // What the link grants at boot is no guide (its target not mounted
        // yet, its modes fixed by a later service): the backup, which holds
        // the control's key, goes over the link, as from the live timer.
        let backup = b"ssh-ed25519 AAAAOLD old\n";
        // A marker cut short too: the link's target is never read then
        // either (a pipe would hold the boot up).
        let kinds = ["grants", "dangling", "empty", "directory", "loop", "fifo"];
        let markers = [format!("rl.n\n{TIMER_HOLDS_LOCK}\n"), "rl.n".into()];
        for (kind, marker) in kinds
            .into_iter()
            .flat_map(|k| markers.iter().map(move |m| (k, m)))
        {
            for dry in [false, true] {
                let (home, files) = temp_home(&format!("link-{kind}-{dry}-{}", marker.len()));
                let target = home.join("managed_keys");
                match kind {
                    "grants" => fs::write(&target, backup).unwrap(),
                    "empty" => fs::write(&target, b"").unwrap(),
                    "directory" => fs::create_dir(&target).unwrap(),
                    "loop" => std::os::unix::fs::symlink(&files.ak, &target).unwrap(),
                    "fifo" => assert!(Command::new("mkfifo")
                        .arg(&target)
                        .status()
                        .unwrap()
                        .success()),
                    _ => {}
                }
                std::os::unix::fs::symlink(&target, &files.ak).unwrap();
                fs::write(&files.bak, backup).unwrap();
                fs::write(&files.mark, marker).unwrap();
                let said = revert_at_boot(&home, dry);
                let regular = fs::symlink_metadata(&files.ak).is_ok_and(|m| m.is_file());
                let now = regular.then(|| fs::read(&files.ak).unwrap());
                let left = [files.bak.exists(), files.mark.exists()];
                fs::remove_dir_all(&home).unwrap();
                let case = format!("{kind}, dry {dry}, marker {marker:?}");
                assert_eq!(said, AtBoot::Reverted("rl.n".into()), "{case}");
                assert_eq!(regular, !dry, "{case}");
                if !dry {
                    assert_eq!(now.as_deref(), Some(&backup[..]), "{case}");
                }
                assert_eq!(left, [dry, dry], "{case}");
            }
        }
    }

    #[test]
    fn a_cut_marker_on_a_link_drops_a_backup_whose_last_line_is_torn() {
        // The link's target is not read to check the backup against: a
        // backup cut mid-line (no copy a stage finished) is dropped, the
        // link kept, rather than renamed over it.
        let whole: &[u8] = b"ssh-ed25519 AAAAOLD old\n";
        // Cut mid-line, empty, a crash's zero-filled tail.
        for torn in [whole[..20].to_vec(), Vec::new(), [whole, b"\0\0"].concat()] {
            let (home, files) = temp_home(&format!("torn-{}", torn.len()));
            let target = home.join("managed_keys");
            fs::write(&target, whole).unwrap();
            std::os::unix::fs::symlink(&target, &files.ak).unwrap();
            fs::write(&files.bak, &torn).unwrap();
            fs::write(&files.mark, b"rl.n").unwrap();
            let said = revert_at_boot(&home, false);
            let linked = files.ak.is_symlink();
            let left = [files.bak.exists(), files.mark.exists()];
            fs::remove_dir_all(&home).unwrap();
            assert!(matches!(said, AtBoot::Dropped(_)), "{torn:?}: {said:?}");
            assert!(linked, "{torn:?}");
            assert_eq!(left, [false, false], "{torn:?}");
        }
    }

    #[test]
    fn a_boot_drop_that_fails_tries_both_files_and_says_drop() {
        // A cut marker whose backup is a directory (no copy of the file):
        // the marker goes all the same, as remote.sh's `rm -f` does, and
        // the boot says it could not drop the rotation, not revert it.
        let (home, files) = temp_home("halfdrop");
        fs::write(&files.ak, b"ssh-ed25519 AAAAK2 kept\n").unwrap();
        fs::create_dir(&files.bak).unwrap();
        fs::write(&files.mark, b"rl.n").unwrap();
        let said = revert_at_boot(&home, false);
        let left = [files.bak.exists(), files.mark.exists()];
        fs::remove_dir_all(&home).unwrap();
        let AtBoot::Failed(why) = said else {
            panic!("{said:?}");
        };
        assert!(why.starts_with("cannot drop key rotation "), "{why}");
        assert!(
            why.contains(
                "(its revert marker cut short, a link, no regular file or too large): its marker \
                 and backup not wholly removed: "
            ),
            "{why}"
        );
        assert_eq!(left, [true, false]);
    }

    #[test]
    fn the_input_wait_takes_whole_seconds_up_to_the_steps_deadline() {
        for (value, wait) in [
            (Some("1"), 1),
            (Some("59"), 59),
            (Some("119"), 119),
            (Some("120"), 120),
            (None, 120),
            (Some(""), 120),
            (Some("0"), 120),
            (Some("07"), 120),
            (Some("+5"), 120),
            (Some("5 "), 120),
            (Some("121"), 120),
            (Some("99999999999999999999999"), 120),
        ] {
            assert_eq!(input_wait_of(value), wait, "{value:?}");
        }
    }
}
