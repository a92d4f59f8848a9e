//! Durable file updates: every file rccr changes is written to a temporary
//! file in the same directory, fsynced, renamed over the old one, and the
//! directory fsynced, so a crash leaves either the old or the new content.
//!
//! Temporary names are random, not the pid: boot-time pids repeat, and a
//! leftover of a crash must never block a later write. Leftovers are
//! removed by whoever holds the lock of their directory
//! ([`remove_leftovers`]).
//!
//! Also the checks before a read or a write: what a file the user named
//! is, read bounded ([`read_input`]); OpenSSH's StrictModes for what rccr
//! trusts ([`Trust`]) and what a refusal tells to do ([`remedy`]); and
//! the kernel's mount table ([`Mount`]), which that answer consults.
use crate::error::Error;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What every temporary file rccr writes has in its name.
pub const TEMP_MARK: &str = ".rccr-tmp.";

/// A file's bytes; `None` when there is no such file.
pub fn read_if_any(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    absent_is_none(path, fs::read(path))
}

/// A state file's text; `None` when there is no such file. It must pass
/// [`Trust::Kept`]. rccr writes only UTF-8 there: a byte that is not is
/// bad input (exit 3) like any bad line, `FILE:LINE: bad_line` (what the
/// line should be, what to do).
pub fn read_text_if_any(path: &Path, bad_line: &str) -> Result<Option<String>, Error> {
    let Some(bytes) = read_trusted_if_any(path, Trust::Kept)? else {
        return Ok(None);
    };
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let index = valid.iter().filter(|b| **b == b'\n').count();
        Error::bad_line(path, index, bad_line)
    })
}

fn absent_is_none<T>(path: &Path, read: std::io::Result<T>) -> Result<Option<T>, Error> {
    match read {
        Ok(contents) => Ok(Some(contents)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// What [`not_a_file`] says of a path where nothing is (a link to nowhere
/// included).
const NO_SUCH_FILE: &str = "no such file";

/// Why `path`, a file the user named for rccr to read, is not one: it is
/// missing, a directory, a device (`/dev/zero` reads without end), or
/// something else that is not a regular file (a pipe, `<(...)`, only when
/// `pipe_ok`: rccr reads it once). `None` when it is.
pub fn not_a_file(path: &Path, pipe_ok: bool) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => None,
        Ok(meta) if pipe_ok && meta.file_type().is_fifo() => None,
        Ok(meta) if meta.is_dir() => Some("a directory".into()),
        Ok(meta) if meta.file_type().is_char_device() || meta.file_type().is_block_device() => {
            Some("a device".into())
        }
        Ok(_) => Some("not a regular file".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(NO_SUCH_FILE.into()),
        Err(e) => Some(format!("cannot be read ({e})")),
    }
}

/// [`not_a_file`] of a path rccr reads if anything is there, and replaces:
/// nothing there (a link to nowhere too) is fine, a pipe is not.
pub fn not_a_file_if_any(path: &Path) -> Option<String> {
    not_a_file(path, false).filter(|why| why != NO_SUCH_FILE)
}

/// Refuses a file the user named that is not one ([`not_a_file`]) as bad
/// input: `what` names it as given (`--config PATH`), `hint` says what to
/// give instead.
pub fn check_input_file(what: &str, path: &Path, pipe_ok: bool, hint: &str) -> Result<(), Error> {
    match not_a_file(path, pipe_ok) {
        Some(why) => Err(Error::bad_input(what, format!("{why}: {hint}"))),
        None => Ok(()),
    }
}

/// Reads `reader` to its end, refusing more than `max` bytes (`None`).
pub fn read_bounded(
    reader: &mut impl std::io::Read,
    max: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    reader
        .take((max as u64).saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() <= max).then_some(bytes))
}

/// The metadata and bytes of `path`, a file rccr finds on the node (not
/// one the user named): opened without blocking on a pipe nor taking a
/// terminal, and without following a link unless `follow`; read only
/// when a regular file (`None` otherwise: /dev/zero has no end), and at
/// most `max` bytes: a bigger one is an `InvalidData` error that says so.
pub fn read_regular(
    path: &Path,
    follow: bool,
    max: usize,
) -> std::io::Result<(fs::Metadata, Option<Vec<u8>>)> {
    let no_follow = if follow { 0 } else { libc::O_NOFOLLOW };
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(no_follow | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok((meta, None));
    }
    let bytes = read_bounded(&mut file, max)?.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        )
    })?;
    Ok((meta, Some(bytes)))
}

/// Reads `path`, a file the user named ([`check_input_file`]), whole
/// ([`read_input_from`]).
pub fn read_input(
    what: &str,
    path: &Path,
    pipe_ok: bool,
    limit: (usize, &str),
    hint: &str,
) -> Result<Vec<u8>, Error> {
    check_input_file(what, path, pipe_ok, hint)?;
    let mut file = File::open(path).map_err(|e| Error::io(format!("cannot read {what}"), e))?;
    read_input_from(what, &mut file, limit, hint)
}

/// Reads `reader`, the input `what` names as the user gave it, to its
/// end: at most `max` bytes of `limit` (`max`, what it should be: `a hosts
/// file`). More is bad input: `/dev/zero` or a disk image named by mistake
/// must not take the memory. `hint` says what to give instead.
pub fn read_input_from(
    what: &str,
    reader: &mut impl std::io::Read,
    (max, noun): (usize, &str),
    hint: &str,
) -> Result<Vec<u8>, Error> {
    read_bounded(reader, max)
        .map_err(|e| Error::io(format!("cannot read {what}"), e))?
        .ok_or_else(|| {
            Error::bad_input(
                what,
                format!("larger than {noun} can be ({max} bytes): {hint}"),
            )
        })
}

/// A sibling path for a temporary file: same directory (so `rename` is
/// atomic), hidden, and named at random (`.NAME.rccr-tmp.RANDOM`).
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut random = [0u8; 8];
    // No randomness at all is near impossible; the pid and the clock then
    // still make the name unlikely to repeat, and create_new refuses a
    // name that does.
    if getrandom::getrandom(&mut random).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        random[..4].copy_from_slice(&std::process::id().to_le_bytes());
        random[4..].copy_from_slice(&nanos.to_le_bytes());
    }
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    path.with_file_name(format!(".{name}{TEMP_MARK}{suffix}"))
}

/// A file that goes with another (a key's public half): where it is
/// (`path` of the other's path), and whether the file at `public` is the
/// one of the file at `private` (`pairs`), told by that file itself, not
/// by a half that may no longer be beside it. False when that cannot be
/// told (either is unreadable, or no key).
#[derive(Clone, Copy)]
pub(crate) struct Half {
    pub path: fn(&Path) -> PathBuf,
    pub pairs: fn(private: &Path, public: &Path) -> bool,
}

/// Where `path` goes aside: `PATH` with `suffix` (`.before-restore`), or
/// `SUFFIX.N` when that holds other bytes (an earlier one's); a name
/// holding the same bytes as `path` is taken again. With a `half` (a
/// key's public half), a name is free only where moving the pair there
/// replaces nothing, nor leaves `path` beside another's half: its half
/// is not there, or is a file holding the bytes of `path`'s half, which
/// moves with it, or, with none here to move (moved before a kill, or
/// never there), `path`'s own ([`Half::pairs`]): the name it went to is
/// taken again.
pub(crate) fn aside(path: &Path, suffix: &str, half: Option<Half>) -> Result<PathBuf, Error> {
    let bytes = read_if_any(path)?;
    let mut moving = None;
    if let Some(here) = half.map(|half| (half.path)(path)).filter(|h| h.is_file()) {
        moving = read_if_any(&here)?;
    }
    for n in 1.. {
        let suffix = match n {
            1 => suffix.to_string(),
            n => format!("{suffix}.{n}"),
        };
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let to = PathBuf::from(name);
        let free = match read_if_any(&to)? {
            None => true,
            Some(there) => Some(&there) == bytes.as_ref(),
        };
        let half_free = match half {
            Some(half) => half_free(path, &(half.path)(&to), half, moving.as_deref())?,
            None => true,
        };
        if free && half_free {
            return Ok(to);
        }
    }
    unreachable!("an unbounded range ends")
}

/// Whether `at`, where the half of `path` would go, is free for it:
/// nothing there (not followed), or a file holding `moving` (the bytes of
/// the half that moves with `path`), or, with none moving, `path`'s own.
fn half_free(path: &Path, at: &Path, half: Half, moving: Option<&[u8]>) -> Result<bool, Error> {
    match fs::symlink_metadata(at) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(format!("cannot read {}", at.display()), e)),
        Ok(meta) if !meta.is_file() => Ok(false),
        Ok(_) => match moving {
            Some(moving) => Ok(read_if_any(at)?.as_deref() == Some(moving)),
            None => Ok((half.pairs)(path, at)),
        },
    }
}

/// Moves `path` to [`aside`]`(path, suffix)`, each rename made durable,
/// and returns where. `half` names a file that goes with it (a key's
/// public half): where that is a file, it moves first, to `half` of the
/// new name. Cut short between the two, `path` is still here, a re-run
/// moves it to the same name, and no stale half is left beside another
/// file written at `path`.
pub(crate) fn move_aside(path: &Path, suffix: &str, half: Option<Half>) -> Result<PathBuf, Error> {
    let to = aside(path, suffix, half)?;
    let halves = half
        .map(|half| ((half.path)(path), (half.path)(&to)))
        .filter(|(from, _)| from.is_file());
    for (from, to) in halves.into_iter().chain([(path.to_path_buf(), to.clone())]) {
        fs::rename(&from, &to)
            .and_then(|()| sync_parent(&to))
            .map_err(|e| Error::io(format!("cannot move {} aside", from.display()), e))?;
    }
    Ok(to)
}

/// Removes the temporary files a crashed rccr left in `dir` (names that
/// carry [`TEMP_MARK`]). Call it only while holding the lock that every
/// writer of `dir` takes, so no write in progress loses its file.
pub fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let is_leftover = name
            .to_str()
            .is_some_and(|n| n.starts_with('.') && n.contains(TEMP_MARK));
        if is_leftover && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Takes `file`'s exclusive `flock` without waiting: false when another
/// open file holds it. The kernel drops it when the file is closed, or
/// the process dies.
// File locks are std since Rust 1.89; CI builds with stable.
pub fn try_lock(file: &File) -> std::io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Takes the exclusive `flock` of the directory `dir`, waiting as long as
/// another open file holds it; `waiting` runs once, before the wait, when
/// there is one. The lock lasts while the returned file is open. A lock
/// for files replaced by rename inside `dir`: one on such a file itself
/// would stay with its old inode.
pub fn lock_dir(dir: &Path, waiting: impl FnOnce()) -> std::io::Result<File> {
    lock_waiting(File::open(dir)?, waiting)
}

/// Takes `file`'s exclusive `flock`, waiting as long as another open file
/// holds it; `waiting` runs once, before the wait, when there is one. The
/// lock lasts while the returned file is open.
pub fn lock_waiting(file: File, waiting: impl FnOnce()) -> std::io::Result<File> {
    if !try_lock(&file)? {
        waiting();
        file.lock()?;
    }
    Ok(file)
}

/// Takes `file`'s shared `flock` without waiting, and keeps it while
/// `file` is open: false when another open file holds it exclusively.
/// Shared holders never exclude each other, so a probe with it (is the
/// exclusive holder there?) never disturbs another probe.
pub fn try_lock_shared(file: &File) -> std::io::Result<bool> {
    match file.try_lock_shared() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Atomically replaces `path` with `contents`, created with `mode`, and
/// makes it durable before returning.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    check_replaceable(path)?;
    write_atomic_judged(path, contents, mode)
}

/// [`write_atomic`] for a caller that judged what stands at `path`
/// itself: a link there is not followed (`rccr-init --root` judges it
/// inside the image, not on the build host), the rename replaces it.
pub(crate) fn write_atomic_judged(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    replace(path, contents, mode, true, |_| Ok(()))
}

/// [`write_atomic`] that hands the written, fsynced temporary file to
/// `before_rename` before it takes `path`'s name: what it does to the file
/// (a lock, say) is there from the instant the file exists under `path`.
/// An error from it leaves `path` as it was.
pub fn write_atomic_with(
    path: &Path,
    contents: &[u8],
    mode: u32,
    before_rename: impl FnOnce(&File) -> std::io::Result<()>,
) -> Result<(), Error> {
    check_replaceable(path)?;
    replace(path, contents, mode, true, before_rename)
}

/// [`write_atomic`] with one fsync, not two: the file's bytes are on disk
/// before the rename, the directory is not synced after it. A power cut
/// may lose the rename (the old contents stay), never the bytes: a rename
/// of bytes not yet written, on a file system without ext4's
/// replace-by-rename heuristics (XFS, f2fs, ext4 mounted
/// `noauto_da_alloc`), can leave an empty file. For a record written
/// often whose previous version is still a right answer.
pub fn write_atomic_lazy(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    check_replaceable(path)?;
    replace(path, contents, mode, false, |_| Ok(()))
}

/// The file `path` leads to (a link followed: the link stays, its target
/// is what rccr rewrites) and the mode a rewrite keeps: the file's, or
/// `mode` for a new one. A link to nothing (dotfiles not checked out yet)
/// is refused, not replaced by a file.
pub fn user_file(path: &Path, mode: u32) -> Result<(PathBuf, u32), Error> {
    use std::os::unix::fs::PermissionsExt;
    match fs::canonicalize(path) {
        Ok(target) => {
            let mode = fs::metadata(&target).map_or(mode, |m| m.permissions().mode() & 0o7777);
            Ok((target, mode))
        }
        Err(_) if fs::symlink_metadata(path).is_ok() => Err(Error::bad_input(
            path.display().to_string(),
            "a link to nothing: make the file it names, or remove the link",
        )),
        Err(_) => Ok((path.to_path_buf(), mode)),
    }
}

/// Refuses to replace what stands at `path` unless it is a file, a link to
/// one (the link is replaced) or nothing: a rename over a device
/// (/dev/null), a pipe, a directory or a link to one (/dev/stdout) would
/// put a regular file in its place.
pub fn check_replaceable(path: &Path) -> Result<(), Error> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    match not_a_file_if_any(path) {
        Some(why) => Err(Error::bad_input(
            path.display().to_string(),
            format!("{why}: rccr writes only whole regular files; name a file"),
        )),
        None => Ok(()),
    }
}

/// Refuses, before anything is written, a `path` that [`write_atomic`]
/// (after `create_dir_all` of its directory) could not write: no file
/// there ([`check_replaceable`]), or a directory this user may not write
/// in, or, when it is missing, may not create (the nearest one above it
/// that exists decides). For a command that writes several files and
/// must write all or none.
pub fn check_writable(path: &Path) -> Result<(), Error> {
    check_replaceable(path)?;
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let Some(existing) = dir.ancestors().find(|d| d.exists()) else {
        return Ok(());
    };
    let what = if existing == dir {
        "write in"
    } else {
        "create"
    };
    let refused = |e| Error::io(format!("cannot {what} {}", dir.display()), e);
    if !existing.is_dir() {
        return Err(refused(std::io::ErrorKind::NotADirectory.into()));
    }
    crate::sys::may_write_in(existing).map_err(refused)
}

/// Atomically replaces each of `files` (path, contents, mode), durably,
/// all or none as far as space goes: every one is written to its
/// temporary file and fsynced before the first takes its name, so a write
/// that fails (a full disk) leaves every path as it was and no temporary
/// file behind. The renames follow in the order given. For files that
/// only make sense together: a key and its public half.
pub fn write_atomic_all(files: &[(&Path, &[u8], u32)]) -> Result<(), Error> {
    for (path, ..) in files {
        check_replaceable(path)?;
    }
    let temps: Vec<PathBuf> = files.iter().map(|(path, ..)| temp_sibling(path)).collect();
    let remove = |temps: &[PathBuf]| {
        for tmp in temps {
            let _ = fs::remove_file(tmp);
        }
    };
    for ((path, contents, mode), tmp) in files.iter().zip(&temps) {
        if let Err(e) = write_temp(tmp, contents, *mode) {
            remove(&temps);
            return Err(cannot_write(path, e));
        }
    }
    for (i, ((path, ..), tmp)) in files.iter().zip(&temps).enumerate() {
        if let Err(e) = fs::rename(tmp, path).and_then(|()| sync_parent(path)) {
            remove(&temps[i..]);
            return Err(cannot_write(path, e));
        }
    }
    Ok(())
}

fn cannot_write(path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("cannot write {}", path.display()), e)
}

/// Creates `tmp` (a name no file has) with `mode` and writes `contents`
/// to it, fsynced.
fn write_temp(tmp: &Path, contents: &[u8], mode: u32) -> std::io::Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(file)
}

/// Writes `contents` to a temporary sibling of `path` and renames it over
/// `path`; what stands there judged by the caller ([`check_replaceable`]).
fn replace(
    path: &Path,
    contents: &[u8],
    mode: u32,
    sync_dir: bool,
    before_rename: impl FnOnce(&File) -> std::io::Result<()>,
) -> Result<(), Error> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let file = write_temp(&tmp, contents, mode)?;
        before_rename(&file)?;
        fs::rename(&tmp, path)?;
        if sync_dir {
            sync_parent(path)?;
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        cannot_write(path, e)
    })
}

/// The uid this process runs as (the owner of its `/proc/self`).
pub fn effective_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// How much of OpenSSH's StrictModes a file or directory rccr trusts must
/// pass ([`untrusted_meta`]): every level wants it owned by this user or
/// root and writable by no one else. Writable by its group is no one else
/// when the group is its owner's alone ([`private_group`]), as Debian's
/// ssh has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// A file the user named, read once (a config), and its directory: a
    /// directory with the sticky bit, like /tmp, may be writable by all,
    /// as no one can replace what another owns in it.
    Named,
    /// The state directory, `~/.ssh` and the files rccr keeps there (or
    /// reads there: known_hosts, ssh's config): no sticky exception, as in
    /// /tmp anyone may create `nodes` or `lock` before rccr does.
    Kept,
    /// A private key: [`Trust::Kept`], and open to no one else at all, as
    /// ssh wants it.
    Secret,
}

impl Trust {
    /// What to do about a file that fails this level.
    fn remedy(self) -> &'static str {
        match self {
            Trust::Named => "rccr does not read a config others could have written (chmod go-w, chown, or --config another file)",
            Trust::Kept => {
                "rccr does not trust what others could have written; chmod go-w or chown it, or remove it"
            }
            Trust::Secret => "a private key must be its owner's alone, as ssh wants it; chmod 600 or chown it",
        }
    }
}

/// OpenSSH's StrictModes rule for a file or directory rccr trusts, at
/// level `trust`. Returns why not.
pub fn untrusted_meta(meta: &fs::Metadata, trust: Trust) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    if meta.uid() != 0 && Some(meta.uid()) != effective_uid() {
        return Some(format!(
            "is owned by uid {}, neither this user nor root",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode();
    let who = |bits: u32| {
        if mode & bits & 0o007 != 0 {
            "everyone"
        } else {
            "its group"
        }
    };
    let sticky_dir = trust == Trust::Named && meta.is_dir() && mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky_dir {
        let writable = format!("is writable by {} (mode {:o})", who(0o022), mode & 0o7777);
        if mode & 0o002 != 0 {
            return Some(writable);
        }
        let Some(uid) = effective_uid() else {
            return Some(writable);
        };
        if let Err(why) = private_group(meta.gid(), meta.uid(), uid) {
            return Some(format!("{writable}, {why}"));
        }
    }
    if trust == Trust::Secret && mode & 0o077 != 0 {
        let who = who(0o077);
        return Some(format!("is open to {who} (mode {:o})", mode & 0o7777));
    }
    None
}

/// Where [`private_group`] finds groups and their members.
pub const ETC_GROUP: &str = "/etc/group";
/// Where [`private_group`] finds users and their primary groups.
pub const ETC_PASSWD: &str = "/etc/passwd";
/// The most of [`ETC_GROUP`] or [`ETC_PASSWD`] read: more is no proof.
const ACCOUNTS_MAX: usize = 4 << 20;

/// Debian's rule for a file or directory writable by its group
/// (`user-group-modes.patch`, `secure_permissions` in its ssh's misc.c):
/// fine when the group, `gid`, has exactly one member, its owner
/// (`owner`): every user whose primary group it is must be `uid` (this
/// user), and the group may list no one but the owner's name. Read from
/// [`ETC_GROUP`] and [`ETC_PASSWD`] themselves, not through NSS (rccr is
/// static): what only NSS knows (LDAP, sssd) is not seen. Returns why
/// not, to follow "writable by its group (mode 664), ".
pub fn private_group(gid: u32, owner: u32, uid: u32) -> Result<(), String> {
    let read = |path: &str| {
        let mut file = File::open(path).map_err(|e| format!("{path} cannot be read ({e})"))?;
        read_bounded(&mut file, ACCOUNTS_MAX)
            .map_err(|e| format!("{path} cannot be read ({e})"))?
            .ok_or_else(|| format!("{path} is larger than {ACCOUNTS_MAX} bytes"))
    };
    let group = read(ETC_GROUP).map_err(cannot_tell)?;
    let passwd = read(ETC_PASSWD).map_err(cannot_tell)?;
    private_group_in(gid, owner, uid, &group, &passwd)
}

/// Why [`private_group`] refuses when `/etc/group` or `/etc/passwd`
/// cannot be read as it must be.
fn cannot_tell(why: String) -> String {
    format!("which cannot be shown to be its owner's alone: {why}")
}

/// The lines of `/etc/group` or `/etc/passwd`, split at `:`, but those
/// every reader skips (empty, or a `#` comment). One that is not of
/// `shape`, a name (no blank in it) and a number at each of `numbers`, is
/// no proof: glibc and musl may read it differently, and a `+`/`-` line
/// takes entries from NIS. The error says which line, and what it should be.
fn account_lines<'a>(
    text: &'a [u8],
    path: &'a str,
    shape: &'a str,
    numbers: &'a [usize],
) -> impl Iterator<Item = Result<Vec<&'a [u8]>, String>> + 'a {
    text.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with(b"#"))
        .map(move |(n, line)| {
            let fields: Vec<&[u8]> = line.split(|b| *b == b':').collect();
            // Digits only: Rust's parse takes a leading '+', glibc does not.
            let number = |f: &[u8]| f.iter().all(u8::is_ascii_digit) && account_number(f).is_some();
            let name = fields[0];
            let well_formed = fields.len() == shape.split(':').count()
                && !name.is_empty()
                && !name.starts_with(b"+")
                && !name.starts_with(b"-")
                && !name.iter().any(u8::is_ascii_whitespace)
                && numbers.iter().all(|&i| number(fields[i]));
            if well_formed {
                Ok(fields)
            } else {
                Err(format!("{path}:{}: not {shape}", n + 1))
            }
        })
}

/// A uid or gid field.
fn account_number(field: &[u8]) -> Option<u32> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// [`private_group`] on the texts of `/etc/group` and `/etc/passwd`.
fn private_group_in(
    gid: u32,
    owner: u32,
    uid: u32,
    group: &[u8],
    passwd: &[u8],
) -> Result<(), String> {
    let text = |b: &[u8]| crate::print::name(&String::from_utf8_lossy(b)).into_owned();
    // Every line of the gid: a second one listing others gives them the
    // group as much as the first (Debian reads the first only).
    let mut name = None;
    let mut listed: Vec<&[u8]> = Vec::new();
    for fields in account_lines(group, ETC_GROUP, "name:password:gid:members", &[2]) {
        let fields = fields.map_err(cannot_tell)?;
        if account_number(fields[2]) == Some(gid) {
            name.get_or_insert(fields[0]);
            if !fields[3].is_empty() {
                listed.extend(fields[3].split(|b| *b == b','));
            }
        }
    }
    let Some(name) = name else {
        return Err(format!("gid {gid}, which {ETC_GROUP} does not name"));
    };
    let group_is = format!("{} (gid {gid})", text(name));
    let shape = "name:password:uid:gid:gecos:home:shell";
    let mut owner_name = None;
    let mut members = 0;
    for fields in account_lines(passwd, ETC_PASSWD, shape, &[2, 3]) {
        let fields = fields.map_err(cannot_tell)?;
        let user = account_number(fields[2]);
        if user == Some(owner) {
            owner_name.get_or_insert(fields[0]);
        }
        if account_number(fields[3]) == Some(gid) {
            members += 1;
            if user != Some(uid) {
                return Err(format!("{group_is}, which is {}'s too", text(fields[0])));
            }
        }
    }
    let Some(owner_name) = owner_name else {
        return Err(format!(
            "{group_is}, whose owner (uid {owner}) {ETC_PASSWD} does not name"
        ));
    };
    match listed[..] {
        [] => {}
        [only] if only == owner_name => members += 1,
        _ => {
            let other = listed
                .iter()
                .find(|m| **m != owner_name)
                .unwrap_or(&listed[0]);
            return Err(format!("{group_is}, which is {}'s too", text(other)));
        }
    }
    if members == 0 {
        return Err(format!("{group_is}, which has no member"));
    }
    Ok(())
}

/// [`untrusted_meta`] of `path` (followed if a link).
pub fn untrusted(path: &Path, trust: Trust) -> std::io::Result<Option<String>> {
    fs::metadata(path).map(|m| untrusted_meta(&m, trust))
}

/// Opens `path`, a file rccr trusts at level `trust`, checked on the open
/// file (so nothing swapped in after the check is read); `None` when there
/// is no such file. One that fails is bad input naming it, why and what
/// to do.
pub fn open_trusted(path: &Path, trust: Trust) -> Result<Option<File>, Error> {
    let Some(file) = absent_is_none(path, File::open(path))? else {
        return Ok(None);
    };
    check_trusted(path, &file, trust)?;
    Ok(Some(file))
}

/// Refuses `file`, open at `path`, unless it passes `trust`, as
/// [`open_trusted`] does.
pub fn check_trusted(path: &Path, file: &File, trust: Trust) -> Result<(), Error> {
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    match untrusted_meta(&meta, trust) {
        Some(why) => Err(refused(path, &why, trust)),
        None => Ok(()),
    }
}

/// `path`, which fails `trust` for `why`, refused: bad input naming it,
/// why, and what to do ([`remedy`]).
pub fn refused(path: &Path, why: &str, trust: Trust) -> Error {
    Error::bad_input(
        path.display().to_string(),
        format!("{why}: {}", remedy(path, || trust.remedy().into())),
    )
}

/// What to tell the user to do about `path`, which fails StrictModes: how
/// to mount it when chmod and chown cannot help ([`modes_from_mount`]),
/// else `otherwise`, what fits the caller's file. The one place that
/// decides it (`state` asks it too, after its own sudo case).
pub fn remedy(path: &Path, otherwise: impl FnOnce() -> String) -> String {
    modes_from_mount(path).unwrap_or_else(otherwise)
}

/// File systems whose owners and modes come from their mount options
/// (a USB stick), where chmod and chown cannot help.
const MODES_FROM_MOUNT: [&str; 6] = ["vfat", "msdos", "exfat", "ntfs", "ntfs3", "fuseblk"];

/// What to do instead of chmod when `path` is on a file system of
/// [`MODES_FROM_MOUNT`]; `None` on any other (or when unknown).
fn modes_from_mount(path: &Path) -> Option<String> {
    let real = fs::canonicalize(path).ok()?;
    let mounts = parse_mounts(&fs::read_to_string(PROC_MOUNTS).ok()?);
    let fs_type = mount_holding(&mounts, &real)?.fstype.as_str();
    MODES_FROM_MOUNT.contains(&fs_type).then(|| {
        format!(
            "it is on {fs_type}, whose owners and modes come from its mount options: \
             mount it with uid=0,fmask=0177,dmask=0077, or keep what rccr trusts \
             on a Linux file system"
        )
    })
}

/// A field of the kernel's mount table ([`PROC_MOUNTS`]) as it is: `\040`
/// and friends are octal escapes of the bytes that would break the line
/// (space, tab, newline, backslash); one that is no byte (`\777`) is kept
/// as it is.
pub fn mount_field(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d[0] <= b'3' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The kernel's mount table, as this process sees it.
pub const PROC_MOUNTS: &str = "/proc/mounts";

/// A line of the kernel's mount table (`/proc/mounts`), its fields as
/// they are ([`mount_field`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: String,
    /// As the kernel shows it: a path of this machine, not of `--root`.
    pub target: PathBuf,
    pub fstype: String,
    pub options: String,
}

impl Mount {
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Parses a `/proc/mounts` text.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(Mount {
                source: mount_field(f.next()?),
                target: PathBuf::from(mount_field(f.next()?)),
                fstype: f.next()?.to_string(),
                options: f.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// The mount of `mounts` that holds `path` (absolute, links resolved):
/// the last one listed at or above it, as a mount made later over an
/// ancestor hides those below it (a RAM root mounted over a root that had
/// /root mounted on it).
pub fn mount_holding<'m>(mounts: &'m [Mount], path: &Path) -> Option<&'m Mount> {
    mounts.iter().rev().find(|m| path.starts_with(&m.target))
}

/// The bytes of `path`, a file rccr trusts at level `trust`
/// ([`open_trusted`]); `None` when there is no such file.
pub fn read_trusted_if_any(path: &Path, trust: Trust) -> Result<Option<Vec<u8>>, Error> {
    read_trusted_within(path, trust, (usize::MAX, ""))
}

/// [`read_trusted_if_any`] of a file rccr writes no bigger than `max`
/// bytes: a bigger one is bad input that says what to do (`remedy`),
/// and is never read into memory whole.
pub fn read_trusted_within(
    path: &Path,
    trust: Trust,
    (max, remedy): (usize, &str),
) -> Result<Option<Vec<u8>>, Error> {
    let Some(mut file) = open_trusted(path, trust)? else {
        return Ok(None);
    };
    read_bounded(&mut file, max)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?
        .map(Some)
        .ok_or_else(|| {
            Error::bad_input(
                path.display().to_string(),
                format!("larger than rccr writes it ({max} bytes): {remedy}"),
            )
        })
}

/// Whether `program` is an executable file in a PATH directory.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Makes a rename or link in `path`'s directory durable.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    File::open(parent_dir(path))?.sync_all()
}

/// The directory `path` is in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates `dir` and its missing parents with `mode` (less the umask),
/// each made durable in its parent as it is made: a file later written
/// in it with [`write_atomic`] then outlives a power cut with the
/// directories above it (the file's fsyncs cover only its own directory).
pub fn create_dir_durable(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.is_dir()).collect();
    for made in missing
        .into_iter()
        .rev()
        .filter(|d| !d.as_os_str().is_empty())
    {
        match fs::DirBuilder::new().mode(mode).create(made) {
            Err(e) if !(e.kind() == std::io::ErrorKind::AlreadyExists && made.is_dir()) => {
                return Err(e)
            }
            _ => sync_parent(made)?,
        }
    }
    Ok(())
}

/// Scratch directories for unit tests.
#[cfg(test)]
pub(crate) mod scratch {
    use std::fs;
    use std::path::{Path, PathBuf};

    /// A fresh, empty directory, `rccr-NAME-PID` under the temp directory
    /// (emptied first: a killed run may have left it behind), removed on drop.
    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("rccr-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        /// Writes `text` to `rel` under the directory, making its parents.
        pub fn file(&self, rel: &str, text: &str) -> &Self {
            let path = self.0.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
            self
        }
    }

    /// The uid tests hand files to: `nobody`, neither root nor anyone
    /// who runs the tests.
    pub const OTHER_UID: u32 = 65534;

    /// The gid tests hand files to: `nogroup`, `nobody`'s primary group
    /// (or no group at all): never its owner's alone.
    pub const OTHER_GID: u32 = 65534;

    /// Makes `path` [`OTHER_UID`]'s. Only root can; otherwise false (the
    /// test is skipped), unless env CI is set: there a test that cannot
    /// run fails.
    pub fn give_to_another_user(path: &Path) -> bool {
        chown(path, Some(OTHER_UID), None)
    }

    /// Gives `path` to [`OTHER_GID`], a group others are in (as
    /// [`give_to_another_user`]): writable by its group is then writable
    /// by others, whatever the machine's own groups are.
    pub fn give_to_a_shared_group(path: &Path) -> bool {
        chown(path, None, Some(OTHER_GID))
    }

    fn chown(path: &Path, uid: Option<u32>, gid: Option<u32>) -> bool {
        if super::effective_uid() != Some(0) {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
            assert!(!ci, "this test chowns files: run the tests as root");
            eprintln!("SKIPPED: only root can give a file to another user or group");
            return false;
        }
        std::os::unix::fs::chown(path, uid, gid).unwrap();
        true
    }

    impl std::ops::Deref for Dir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stale public half at an aside name, its private key gone, was
    /// written over by the half moved there (review restorekeep, F5); with
    /// the key's own half not beside it (moved before a kill, or never
    /// there), one was not looked at (review today1, F2).
    #[test]
    fn aside_takes_no_name_whose_public_half_another_would_replace() {
        use crate::keys::{generate, public_line, public_path, KeyType};
        let dir = scratch::Dir::new("aside-half");
        let key = dir.join("key");
        let half = Some(crate::keys::PUBLIC_HALF);
        let (first, second) = (dir.join("key.before"), dir.join("key.before.2"));
        let pair = |comment| {
            let key = generate(KeyType::Ed25519, 0, comment).unwrap();
            let private = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
            (private.to_string(), public_line(&key).unwrap() + "\n")
        };
        let (private, public) = pair("own");
        let (_, stale) = pair("another");
        dir.file("key", &private);
        dir.file("key.pub", &public);
        dir.file("key.before.pub", &stale);
        assert_eq!(aside(&key, ".before", half).unwrap(), second);
        // No half: the name is free.
        assert_eq!(aside(&key, ".before", None).unwrap(), first);
        // The key's own half there (a re-run): the name is taken again.
        dir.file("key.before.pub", &public);
        assert_eq!(aside(&key, ".before", half).unwrap(), first);
        // Its half moved there before a kill, the key not yet: the same,
        // and so with another comment: the key tells its own half.
        fs::remove_file(dir.join("key.pub")).unwrap();
        assert_eq!(aside(&key, ".before", half).unwrap(), first);
        dir.file("key.before.pub", &public.replace(" own", " renamed"));
        assert_eq!(aside(&key, ".before", half).unwrap(), first);
        // Its half moved past a stale one before a kill: the name it went
        // to, not the stale one's.
        dir.file("key.before.pub", &stale);
        dir.file("key.before.2.pub", &public);
        assert_eq!(aside(&key, ".before", half).unwrap(), second);
        // A key without a half goes by no stale one either.
        fs::remove_file(dir.join("key.before.2.pub")).unwrap();
        assert_eq!(aside(&key, ".before", half).unwrap(), second);
        dir.file("key.before.2.pub", &stale);
        assert_eq!(
            aside(&key, ".before", half).unwrap(),
            dir.join("key.before.3")
        );
        // A key that cannot be read has no half of its own: any is stale.
        dir.file("junk", "not a key");
        dir.file("junk.before.pub", &public);
        assert_eq!(
            aside(&dir.join("junk"), ".before", half).unwrap(),
            dir.join("junk.before.2")
        );
        // Moved, the stale half stays, and the pair goes on together.
        dir.file("key.pub", &public);
        dir.file("key.before.pub", &stale);
        fs::remove_file(dir.join("key.before.2.pub")).unwrap();
        assert_eq!(move_aside(&key, ".before", half).unwrap(), second);
        for (name, was) in [("key.before.pub", &stale), ("key.before.2", &private)] {
            assert_eq!(&fs::read_to_string(dir.join(name)).unwrap(), was);
        }
        let moved = fs::read_to_string(public_path(&second));
        assert_eq!(moved.unwrap(), public);
        assert!(!first.exists() && !key.exists());
    }

    #[test]
    fn create_dir_durable_makes_each_missing_directory_with_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch::Dir::new("durable-dir");
        let deep = dir.join("a/b/c");
        create_dir_durable(&deep, 0o700).unwrap();
        for made in ["a", "a/b", "a/b/c"] {
            let mode = fs::metadata(dir.join(made)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{made}");
        }
        // There already: nothing to do.
        create_dir_durable(&deep, 0o700).unwrap();
        // A file in the way is an error, as for create_dir_all.
        dir.file("f", "");
        assert!(create_dir_durable(&dir.join("f/g"), 0o700).is_err());
    }

    #[test]
    fn write_atomic_replaces_content_and_sets_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch::Dir::new("fsutil");
        let path = dir.join("file");
        fs::write(&path, b"old").unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&*dir).unwrap().count(), 1);
    }

    #[test]
    fn temporary_names_are_random_and_leftovers_go() {
        let dir = scratch::Dir::new("fsutil-tmp");
        let path = dir.join("nodes");
        let (a, b) = (temp_sibling(&path), temp_sibling(&path));
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with(".nodes.rccr-tmp."), "{name}");
        // A crash's leftover under any name blocks nothing, and goes.
        fs::write(&a, b"half").unwrap();
        fs::write(dir.join(".known_hosts.rccr-tmp.1234"), b"half").unwrap();
        fs::write(dir.join("keep.rccr-tmp.notours"), b"x").unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        remove_leftovers(&dir);
        let mut left: Vec<String> = fs::read_dir(&*dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["keep.rccr-tmp.notours", "nodes"]);
    }

    #[test]
    fn what_another_user_owns_is_untrusted_whatever_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch::Dir::new("fsutil-owner");
        let file = dir.join("cluster_config.yml");
        let sub = dir.join("state");
        fs::write(&file, b"x").unwrap();
        fs::create_dir(&sub).unwrap();
        for path in [&file, &sub] {
            // Mode 0700/0600: no one else may write it, yet it is not ours.
            let mode = if path.is_dir() { 0o700 } else { 0o600 };
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(
                untrusted(path, Trust::Kept).unwrap(),
                None,
                "{}",
                path.display()
            );
            if !scratch::give_to_another_user(path) {
                return;
            }
            assert_eq!(
                untrusted(path, Trust::Kept).unwrap().as_deref(),
                Some("is owned by uid 65534, neither this user nor root"),
                "{}",
                path.display()
            );
            // Root's is trusted: root can write anything anyway.
            std::os::unix::fs::chown(path, Some(0), None).unwrap();
            assert_eq!(
                untrusted(path, Trust::Kept).unwrap(),
                None,
                "{}",
                path.display()
            );
        }
    }

    /// Debian's rule on texts of /etc/group and /etc/passwd: alice (1000)
    /// asks of a file she owns, of gid GID.
    fn alices(gid: u32, group: &str, passwd: &str) -> Result<(), String> {
        let passwd = format!(
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n{passwd}"
        );
        private_group_in(gid, 1000, 1000, group.as_bytes(), passwd.as_bytes())
    }

    #[test]
    fn a_group_its_owner_alone_is_in_may_write() {
        // Her primary group, listing no one (adduser's); or listing her.
        for group in [
            "alice:x:1000:\n",
            "alice:x:1000:alice\n",
            "# x\n\nalice:x:1000:\n",
        ] {
            assert_eq!(alices(1000, group, ""), Ok(()), "{group:?}");
        }
        // A group only she is listed in, no one's primary group.
        assert_eq!(alices(2000, "solo:x:2000:alice\n", ""), Ok(()));
        // Root's group of root alone, when root asks of root's file.
        let root = "root:x:0:0:root:/root:/bin/sh\n";
        assert_eq!(
            private_group_in(0, 0, 0, b"root:x:0:\n", root.as_bytes()),
            Ok(())
        );
    }

    #[test]
    fn a_group_anyone_else_is_in_may_not_write() {
        let refused = |gid, group: &str, passwd: &str, why: &str| {
            assert_eq!(
                alices(gid, group, passwd),
                Err(why.to_string()),
                "{group:?}"
            )
        };
        // Another member listed, or another user's primary group too (as
        // Alpine's root group is operator's, halt's, ...).
        refused(
            1000,
            "alice:x:1000:alice,bob\n",
            "",
            "alice (gid 1000), which is bob's too",
        );
        refused(
            1000,
            "alice:x:1000:bob\n",
            "",
            "alice (gid 1000), which is bob's too",
        );
        refused(
            1000,
            "alice:x:1000:\n",
            "bob:x:1001:1000::/home/bob:/bin/sh\n",
            "alice (gid 1000), which is bob's too",
        );
        // A second line of the gid gives its members the group as well.
        refused(
            1000,
            "alice:x:1000:\nalias:x:1000:bob\n",
            "",
            "alice (gid 1000), which is bob's too",
        );
        // No member at all (a setgid program's group), no such group.
        refused(
            100,
            "users:x:100:\n",
            "",
            "users (gid 100), which has no member",
        );
        refused(
            3000,
            "alice:x:1000:\n",
            "",
            "gid 3000, which /etc/group does not name",
        );
        // A name that could act on a terminal is shown as '?'.
        refused(
            1000,
            "alice:x:1000:b\x1b[2J\n",
            "",
            "alice (gid 1000), which is b??2J's too",
        );
        // Root's group of root alone, when alice asks: root is not her.
        let root = b"root:x:0:0:root:/root:/bin/sh\n";
        assert_eq!(
            private_group_in(0, 0, 1000, b"root:x:0:\n", root),
            Err("root (gid 0), which is root's too".into())
        );
        // The owner no user of /etc/passwd.
        assert_eq!(
            private_group_in(1000, 1000, 1000, b"alice:x:1000:\n", b""),
            Err("alice (gid 1000), whose owner (uid 1000) /etc/passwd does not name".into())
        );
    }

    /// What glibc and musl could read differently, or NIS could add to,
    /// proves nothing: refused, naming the line.
    #[test]
    fn accounts_read_any_other_way_prove_nothing() {
        for (group, line) in [
            ("alice:x:1000\n", 1),
            ("x:x:5:\n alice:x:1000:\n", 2),
            ("+:::\nalice:x:1000:\n", 1),
            ("alice:x:+1000:\n", 1),
            ("alice:x:99999999999:\n", 1),
            ("alice:x:1000::\n", 1),
        ] {
            assert_eq!(
                alices(1000, group, ""),
                Err(format!(
                    "which cannot be shown to be its owner's alone: \
                     /etc/group:{line}: not name:password:gid:members"
                )),
                "{group:?}"
            );
        }
        assert_eq!(
            alices(1000, "alice:x:1000:\n", "-bob::::::\n"),
            Err("which cannot be shown to be its owner's alone: \
                 /etc/passwd:3: not name:password:uid:gid:gecos:home:shell"
                .into())
        );
    }

    #[test]
    fn the_mount_of_a_path_is_the_last_mounted_above_it() {
        let mounts = parse_mounts(
            "/dev/sda1 / ext4 rw,relatime 0 0\n\
             /dev/sdb1 /media/usb vfat rw,relatime,fmask=0022 0 0\n\
             /dev/sdc1 /media/my\\040stick exfat rw 0 0\n\
             tmpfs /media/usbkey tmpfs rw 0 0\n\
             /dev/sdd1 /media/a\\134b ntfs3 rw 0 0\n\
             /dev/sde1 /media/usb fuseblk rw 0 0\n\
             broken\n",
        );
        assert_eq!(mounts.len(), 6);
        let on = |p: &str| mount_holding(&mounts, Path::new(p)).map(|m| m.fstype.as_str());
        for (path, fstype) in [
            ("/root/.rccr", "ext4"),
            // Mounted over: the last mount there is the one seen.
            ("/media/usb/rccr/cluster_key", "fuseblk"),
            ("/media/usb", "fuseblk"),
            // A path component, not a prefix of the name.
            ("/media/usbkey/x", "tmpfs"),
            ("/media/my stick/state", "exfat"),
            // Every octal escape the kernel writes, a backslash's too.
            ("/media/a\\b/rccr", "ntfs3"),
        ] {
            assert_eq!(on(path), Some(fstype), "{path}");
        }
        assert_eq!(
            mount_holding(&parse_mounts("garbage\n"), Path::new("/x")),
            None
        );
        // A root mounted over one that had /root mounted on it hides it.
        let mounts = parse_mounts(
            "/dev/sda1 / ext4 rw 0 0\n/dev/sda2 /root ext4 rw 0 0\nnone / tmpfs rw 0 0\n",
        );
        let on = |p: &str| mount_holding(&mounts, Path::new(p)).map(|m| m.fstype.as_str());
        assert_eq!(on("/root/.ssh"), Some("tmpfs"));
    }

    #[test]
    fn a_mount_field_s_octal_escapes_are_its_bytes() {
        assert_eq!(mount_field("a\\011b\\134c\\9x\\"), "a\tb\\c\\9x\\");
        assert_eq!(mount_field("\\012\\777"), "\n\\777");
    }

    #[test]
    fn write_atomic_all_writes_every_file_or_none() {
        let dir = scratch::Dir::new("fsutil-all");
        let (a, b) = (dir.join("key"), dir.join("key.pub"));
        fs::write(&a, b"old a").unwrap();
        fs::write(&b, b"old b").unwrap();
        write_atomic_all(&[(&a, b"new a", 0o600), (&b, b"new b", 0o644)]).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"new a");
        assert_eq!(fs::read(&b).unwrap(), b"new b");
        // The second cannot be written (its directory is missing): the
        // first keeps its old bytes, and no temporary file is left.
        let lost = dir.join("missing/key.pub");
        let err = write_atomic_all(&[(&a, b"newer a", 0o600), (&lost, b"x", 0o644)]).unwrap_err();
        assert!(err.to_string().contains("missing/key.pub"), "{err}");
        assert_eq!(fs::read(&a).unwrap(), b"new a");
        assert_eq!(fs::read_dir(&*dir).unwrap().count(), 2);
    }

    #[test]
    fn write_atomic_into_missing_directory_fails_naming_the_path() {
        let err = write_atomic(Path::new("/nonexistent-rccr-dir/file"), b"x", 0o600).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-rccr-dir/file"),
            "{err}"
        );
    }
}
