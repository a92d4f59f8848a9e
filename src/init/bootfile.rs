//! `rccr.txt` on the boot partition: settings a user adds after flashing an
//! image, before the first boot, from any computer that can write a FAT
//! partition (in the spirit of Raspberry Pi Imager's `firstrun.sh` and
//! DietPi's `dietpi.txt`).
//!
//! **Where.** `/boot/rccr.txt`, then `/media/*/rccr.txt` in name order
//! (diskless Alpine mounts its boot media at `/media/<device>`:
//! `/media/mmcblk0p1`, `/media/sda1`, `/media/cdrom`, ...). Every file found
//! is applied; the same file seen through two mounts counts once. Only a
//! regular file is read: a symbolic link is not followed, a pipe or a
//! device not opened ([`read_present`]).
//!
//! **Format.** UTF-8 text (a byte order mark and CRLF line ends are fine),
//! one `key=value` per line, spaces around either allowed; blank lines and
//! lines starting with `#` are ignored:
//!
//! ```text
//! # rccr.txt
//! hostname=ReCyClusteR-kitchen-1
//! authorized_key=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA... me@laptop
//! ```
//!
//! - `hostname=NAME`: a single RFC 1123 label (see
//!   [`crate::identity::check_hostname`]), no image default (`localhost`,
//!   `ReCyClusteR-Target`, ...: the next boot would give it up, as
//!   `--hostname` refuses it); it overrides `/etc/hostname`. At most one:
//!   a later `hostname=` line is an error, the first one counts.
//! - `authorized_key=LINE`: a public key as in a `.pub` file (`type base64
//!   [comment]`, no options), appended to `/root/.ssh/authorized_keys` unless
//!   that key is there already. Repeatable. With your own key there, a node
//!   never depends on the images' temporary key. Split on spaces and tabs
//!   only, as sshd does ([`check_key`]).
//!
//! **Errors.** A malformed line is reported as `PATH:LINE: what is wrong;
//! line ignored` and the file's valid lines are still applied: one typo must
//! not cost the other keys; a value it quotes is escaped and cut short
//! ([`quoted`]). The file is then renamed `rccr.txt.partial`, not
//! `.applied` (see below): the line refused may be the user's only key. It
//! is not kept as it is: its `hostname=` would undo at every boot the name
//! `rccr setup` gives the node. A file that is not UTF-8 text or is larger
//! than 64 KiB is reported and not applied at all.
//!
//! **Once.** When every valid setting has been applied, the file is renamed
//! `rccr.txt.applied` (`.partial` with a malformed line; replacing an older
//! one), so the next boot does not apply it again and the user can see it
//! was read. A read-only boot partition (diskless Alpine mounts it so) is
//! remounted read-write for the rename and back. If a setting could not be
//! applied (a write failed), or the changes are not saved (diskless, `lbu
//! commit` failed), the file stays, to be applied at the next boot.
use super::{hostname, Ctx};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const FILE_NAME: &str = "rccr.txt";
pub const APPLIED_NAME: &str = "rccr.txt.applied";
/// What a file with a malformed line becomes once its other lines are
/// applied: the name says not all of it was.
pub const PARTIAL_NAME: &str = "rccr.txt.partial";
const MAX_LEN: usize = 64 * 1024;
/// Key types sshd accepts today (DSA is gone since OpenSSH 9.8).
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// The most characters of a value from the file that an error line quotes.
const MAX_QUOTED: usize = 40;

/// A value from the file as an error line quotes it: in quotes, cut to
/// [`MAX_QUOTED`] characters (`...` after a cut) and escaped
/// ([`crate::print::text`]), so a line of 64 KiB or one holding terminal
/// escapes stays one short line on the console.
pub fn quoted(value: &str) -> String {
    let head: String = value.chars().take(MAX_QUOTED).collect();
    let cut = if head.len() < value.len() { "..." } else { "" };
    format!("'{}'{cut}", crate::print::text(&head))
}

/// The valid settings of one file, and its malformed lines (1-based).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub hostname: Option<String>,
    pub keys: Vec<String>,
    pub errors: Vec<(usize, String)>,
}

/// Everything found on the boot partition(s).
#[derive(Debug, Default)]
pub struct BootFile {
    pub paths: Vec<PathBuf>,
    /// Those of `paths` with a malformed line: renamed `.partial` by [`retire`].
    pub malformed: Vec<PathBuf>,
    pub hostname: Option<String>,
    pub keys: Vec<String>,
}

/// Checks an `authorized_key=` value: a known type, base64 that decodes,
/// and a blob that names the same type. Returns the line to append,
/// rebuilt as `TYPE BASE64[ COMMENT]`.
///
/// The parts are split as sshd splits them, on spaces and tabs only
/// (sshkey_read), so that what is checked is what sshd reads: a type or
/// base64 holding any other whitespace or control character (a
/// non-breaking space pasted from a web page) is refused, not written in a
/// form sshd ignores. In the comment, which sshd does not read, other
/// whitespace becomes a space and a control character `?`.
pub fn check_key(value: &str) -> Result<String, String> {
    let sep = [' ', '\t'];
    let value = value.trim_matches(sep);
    let (kind, rest) = value.split_once(sep).unwrap_or((value, ""));
    let rest = rest.trim_start_matches(sep);
    let (blob, comment) = rest.split_once(sep).unwrap_or((rest, ""));
    if let Some(c) = [kind, blob]
        .iter()
        .find_map(|part| part.chars().find(|c| !c.is_ascii_graphic()))
    {
        return Err(format!(
            "the key's type or base64 holds U+{:04X}, not a plain space or tab (pasted from a web page?); retype it with plain spaces",
            u32::from(c)
        ));
    }
    if blob.is_empty() {
        return Err("want 'authorized_key=TYPE BASE64 [COMMENT]'".into());
    }
    if !KEY_TYPES.contains(&kind) {
        return Err(format!(
            "{} is not a key type sshd accepts (ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-*); options are not allowed here",
            quoted(kind)
        ));
    }
    let bytes = crate::base64::decode(blob).ok_or("the key is not valid base64 (cut short?)")?;
    let fields = ssh_fields(&bytes).ok_or("the key data is cut short or damaged")?;
    if fields.first() != Some(&kind.as_bytes()) || fields.len() < 2 {
        return Err(format!("the key data does not hold a {kind} key"));
    }
    if kind == "ssh-ed25519" && fields[1].len() != 32 {
        return Err("the key data is cut short or damaged".into());
    }
    // OpenSSH 9.1 and later refuse RSA moduli under 1024 bits at login
    // (RequiredRSASize): such a key would let no one in.
    let modulus = fields.get(2).map_or(0, |n| crate::ssh::bit_length(n));
    if kind == "ssh-rsa" && modulus < 1024 {
        return Err(
            "an RSA key under 1024 bits, which sshd refuses; use a larger one, or ssh-ed25519"
                .into(),
        );
    }
    let comment: String = comment
        .trim_matches(sep)
        .chars()
        .map(|c| match c {
            c if c.is_whitespace() => ' ',
            c if c.is_control() => '?',
            c => c,
        })
        .collect();
    Ok(match comment.trim_matches(' ') {
        "" => format!("{kind} {blob}"),
        comment => format!("{kind} {blob} {comment}"),
    })
}

/// A public key blob is a run of length-prefixed fields (RFC 4253 6.6)
/// that ends exactly at the end: a key cut short while copying does not.
fn ssh_fields(mut blob: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !blob.is_empty() {
        let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
        out.push(blob.get(4..4usize.checked_add(len)?)?);
        blob = &blob[4 + len..];
    }
    Some(out)
}

/// `bytes` without the byte order mark a Windows editor may begin a file
/// with: read as part of the first line, it would spoil that line.
pub fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

/// The text of a file a user wrote on the boot partition, from any
/// computer ([`without_bom`]); `Err` says what to do.
pub fn text_of(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(without_bom(bytes))
        .map_err(|_| "not UTF-8 text (save it as UTF-8 or plain ASCII)".to_string())
}

/// Parses one file. `Err` means the whole file is unusable.
pub fn parse(bytes: &[u8]) -> Result<Parsed, String> {
    let text = text_of(bytes)?;
    let mut out = Parsed::default();
    let mut hostname_line = 0;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            out.errors
                .push((n, "want 'key=value' (hostname= or authorized_key=)".into()));
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "hostname" if hostname_line != 0 => out.errors.push((
                n,
                format!("hostname given again (first on line {hostname_line})"),
            )),
            "hostname" => match hostname::check_chosen(value) {
                Ok(()) => {
                    hostname_line = n;
                    out.hostname = Some(value.to_string());
                }
                Err(e) => out.errors.push((n, e)),
            },
            "authorized_key" => match check_key(value) {
                Ok(k) => out.keys.push(k),
                Err(e) => out.errors.push((n, e)),
            },
            other => out.errors.push((
                n,
                format!(
                    "unknown setting {} (known: hostname, authorized_key)",
                    quoted(other)
                ),
            )),
        }
    }
    Ok(out)
}

/// The files that may exist, in the order they are applied.
pub fn candidates(ctx: &Ctx) -> Vec<PathBuf> {
    candidates_named(ctx, FILE_NAME)
}

/// Where a file `name` on the boot partition may be: `/boot/NAME`, then
/// `/media/*/NAME` in name order.
pub fn candidates_named(ctx: &Ctx, name: &str) -> Vec<PathBuf> {
    let mut out = vec![ctx.path("/boot").join(name)];
    let media = ctx.path("/media");
    if let Ok(rd) = ctx.read_dir(&media) {
        let mut media: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| media.join(e.file_name()))
            .collect();
        media.sort_unstable();
        out.extend(media.into_iter().map(|m| m.join(name)));
    }
    out
}

/// The files `name` on the boot partition(s) ([`candidates_named`]), each
/// with its bytes, at most `max`, or why they are not used (one line, to
/// end with what is not done). The same file seen through two mounts
/// counts once. Anything but a regular file is not read: a symbolic link
/// is not followed (`rccr.txt -> /proc/kmsg` would block the boot), a pipe
/// or a device not opened; the file is opened `O_NOFOLLOW|O_NONBLOCK` and
/// checked again on the open handle, so nothing swapped in is read.
pub fn read_present(ctx: &Ctx, name: &str, max: usize) -> Vec<(PathBuf, Result<Vec<u8>, String>)> {
    let mut out = Vec::new();
    let mut seen: Vec<(u64, u64)> = Vec::new();
    for path in candidates_named(ctx, name) {
        // Under --root its directory as the node finds it.
        let read = match ctx.resolve(&path, false) {
            Ok(at) => read_one(&at, max),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => Some((None, Err(e.to_string()))),
        };
        let Some((id, read)) = read else {
            continue;
        };
        if let Some(id) = id {
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
        }
        out.push((path, read));
    }
    out
}

/// One file of [`read_present`]: `None` when there is none, else its
/// (device, inode) when known, and its bytes or why not.
type Read = (Option<(u64, u64)>, Result<Vec<u8>, String>);

fn read_one(path: &Path, max: usize) -> Option<Read> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let regular = |m: &fs::Metadata| match m.file_type() {
        t if t.is_file() => Ok((m.dev(), m.ino())),
        t if t.is_symlink() => Err("a symbolic link, not followed".to_string()),
        _ => Err("not a regular file".to_string()),
    };
    match fs::symlink_metadata(path) {
        Ok(m) => {
            if let Err(e) = regular(&m) {
                return Some((None, Err(e)));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => return Some((None, Err(e.to_string()))),
    }
    let read = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "a symbolic link, not followed".to_string(),
            _ => e.to_string(),
        })
        .and_then(|mut file| {
            let id = file
                .metadata()
                .map_err(|e| e.to_string())
                .and_then(|m| regular(&m))?;
            Ok((id, crate::fsutil::read_bounded(&mut file, max)))
        });
    Some(match read {
        Ok((id, Ok(Some(bytes)))) => (Some(id), Ok(bytes)),
        Ok((id, Ok(None))) => (Some(id), Err(format!("larger than {} KiB", max / 1024))),
        Ok((id, Err(e))) => (Some(id), Err(e.to_string())),
        Err(e) => (None, Err(e)),
    })
}

/// Reads and checks every boot file; reports what is wrong. `None` when
/// there is nothing to apply and nothing to rename.
pub fn load(ctx: &mut Ctx) -> Option<BootFile> {
    let mut found = BootFile::default();
    for (path, read) in read_present(ctx, FILE_NAME, MAX_LEN) {
        let shown = path.display().to_string();
        let parsed = match read.and_then(|b| parse(&b)) {
            Ok(p) => p,
            Err(e) => {
                ctx.problem(format_args!("{shown}: {e}; not applied"));
                continue;
            }
        };
        for (line, e) in &parsed.errors {
            ctx.problem(format_args!("{shown}:{line}: {e}; line ignored"));
        }
        ctx.note(format_args!(
            "{shown}: {} key(s){}{}",
            parsed.keys.len(),
            parsed
                .hostname
                .as_deref()
                .map(|h| format!(", hostname {h}"))
                .unwrap_or_default(),
            match parsed.errors.len() {
                0 => String::new(),
                n => format!(", {n} malformed line(s) ignored"),
            }
        ));
        if let Some(h) = parsed.hostname {
            match &found.hostname {
                Some(first) => ctx.problem(format_args!(
                    "{shown}: hostname={h} ignored, an earlier file set {first}"
                )),
                None => found.hostname = Some(h),
            }
        }
        found.keys.extend(parsed.keys);
        if !parsed.errors.is_empty() {
            found.malformed.push(path.clone());
        }
        found.paths.push(path);
    }
    (!found.paths.is_empty()).then_some(found)
}

/// Renames each applied file to `rccr.txt.applied`, or `rccr.txt.partial`
/// when a line of it was malformed; keeps them all when `kept_because`
/// says why not (a setting not applied, changes not saved).
pub fn retire(ctx: &mut Ctx, boot: &BootFile, kept_because: Option<&str>) {
    for path in &boot.paths {
        if let Some(why) = kept_because {
            ctx.problem(format_args!(
                "{}: kept: {why}; it is tried again at the next boot",
                path.display()
            ));
            continue;
        }
        // Not kept: its hostname= would undo at every boot the name
        // setup gives the node.
        let name = match boot.malformed.contains(path) {
            true => PARTIAL_NAME,
            false => APPLIED_NAME,
        };
        let to = path.with_file_name(name);
        let what = format_args!("{}: applied, renamed {name}", path.display());
        if name == PARTIAL_NAME {
            ctx.problem(format_args!(
                "{}: a line is malformed (see above): fix it, remove the lines applied, and rename the file rccr.txt",
                path.display()
            ));
        }
        if ctx.dry {
            ctx.changed(what);
            continue;
        }
        let rename = || {
            let (at, to) = (ctx.resolve(path, false)?, ctx.resolve(&to, false)?);
            fs::rename(at, &to).and_then(|()| crate::fsutil::sync_parent(&to))
        };
        match change_on_media(ctx, path, rename) {
            Ok(()) => ctx.changed(what),
            Err(e) => ctx.problem(format_args!(
                "cannot rename {} to {name}: {e}; it is applied again at the next boot",
                path.display()
            )),
        }
    }
}

/// Runs `change` (a rename, a removal, then a sync of the directory) on
/// `path`; on a read-only mount of the live system, remounts it read-write
/// for the change and read-only again.
pub fn change_on_media(
    ctx: &Ctx,
    path: &Path,
    change: impl Fn() -> io::Result<()>,
) -> io::Result<()> {
    match change() {
        Err(e) if e.raw_os_error() == Some(libc::EROFS) && ctx.live => {
            let mounts =
                crate::fsutil::parse_mounts(&fs::read_to_string(crate::fsutil::PROC_MOUNTS)?);
            let Some(mp) = crate::fsutil::mount_holding(&mounts, path) else {
                return Err(e);
            };
            let mp = mp.target.to_string_lossy();
            remount(&mp, "rw")?;
            ctx.note(format_args!("{mp}: remounted read-write for the change"));
            let result = change();
            let back = remount(&mp, "ro");
            result.and(back)
        }
        other => other,
    }
}

fn remount(mount_point: &str, mode: &str) -> io::Result<()> {
    let status = Command::new("mount")
        .args(["-o", &format!("remount,{mode}"), mount_point])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "mount -o remount,{mode} {mount_point}: {status}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFooAr08t8fK5tHJofRTjg8zc8X8Nd7lull7Y9omwR+X me@laptop";

    #[test]
    fn keys_are_checked_down_to_the_blob() {
        assert_eq!(check_key(&format!("  {ED} ")).unwrap(), ED);
        assert!(check_key("ssh-ed25519").is_err());
        assert!(check_key("ssh-dss AAAAB3NzaC1kc3M= x").is_err());
        assert!(check_key("from=\"1.2.3.4\" ssh-ed25519 AAAA").is_err());
        // Base64 of a blob that says ssh-ed25519, announced as ssh-rsa.
        let wrong = ED.replace("ssh-ed25519", "ssh-rsa");
        assert!(check_key(&wrong).unwrap_err().contains("ssh-rsa"));
        // Cut short while copying.
        assert!(check_key(&ED[..40]).is_err());
        // RSA: a 1024-bit modulus (with its sign byte) passes, 1023 bits do not.
        let rsa = |top: u8| {
            let mut modulus = [0xff; 129];
            (modulus[0], modulus[1]) = (0, top);
            let mut blob = Vec::new();
            let fields: [&[u8]; 3] = [b"ssh-rsa", &[1, 0, 1], &modulus];
            for field in fields {
                blob.extend((field.len() as u32).to_be_bytes());
                blob.extend(field);
            }
            check_key(&format!("ssh-rsa {}", crate::base64::encode(&blob)))
        };
        assert!(rsa(0x80).is_ok());
        assert!(rsa(0x7f)
            .unwrap_err()
            .starts_with("an RSA key under 1024 bits"));
    }

    #[test]
    fn keys_are_split_as_sshd_splits_them() {
        let (kind, rest) = ED.split_once(' ').unwrap();
        let (blob, _) = rest.split_once(' ').unwrap();
        // A no-break space, a vertical tab or a form feed between type and
        // base64 (sshd reads neither as a separator): refused, saying which.
        for odd in ['\u{a0}', '\u{b}', '\u{c}', '\u{2003}'] {
            let e = check_key(&format!("{kind}{odd}{blob} me@laptop")).unwrap_err();
            assert!(e.contains(&format!("U+{:04X}", u32::from(odd))), "{e}");
            // Between base64 and comment, the same.
            let e = check_key(&format!("{kind} {blob}{odd}me@laptop")).unwrap_err();
            assert!(e.contains("U+"), "{e}");
        }
        // Tabs and runs of spaces become one space; the comment's odd
        // whitespace a space, its control characters '?'.
        assert_eq!(
            check_key(&format!(
                "{kind}\t {blob}  \tme\u{a0}at\u{7}laptop\u{2028} "
            ))
            .unwrap(),
            format!("{kind} {blob} me at?laptop")
        );
        assert_eq!(
            check_key(&format!("{kind} {blob}\t")).unwrap(),
            format!("{kind} {blob}")
        );
        // What is appended gives key_blob the base64 that was checked.
        let line = check_key(&format!("{kind} {blob} a\u{a0}b")).unwrap();
        assert_eq!(
            crate::keys::authorized::key_blob(line.as_bytes()),
            Some(blob.as_bytes())
        );
    }

    #[test]
    fn a_file_with_good_and_bad_lines() {
        let text = format!(
            "\u{feff}# rccr.txt\r\n\r\nhostname = kitchen-1\r\nauthorized_key={ED}\r\nhostname=second\r\nfoo=bar\r\nno equals sign\r\nauthorized_key=ssh-ed25519 AAAA\r\nhostname=\r\n"
        );
        let p = parse(text.as_bytes()).unwrap();
        assert_eq!(p.hostname.as_deref(), Some("kitchen-1"));
        assert_eq!(p.keys, vec![ED.to_string()]);
        let lines: Vec<usize> = p.errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![5, 6, 7, 8, 9]);
        assert!(p.errors[0].1.contains("line 3"), "{:?}", p.errors);
    }

    #[test]
    fn bad_hostnames_are_rejected_and_do_not_block_a_later_good_one() {
        let p = parse(b"hostname=bad_name\nhostname=good-name\n").unwrap();
        assert_eq!(p.hostname.as_deref(), Some("good-name"));
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].0, 1);
    }

    #[test]
    fn boot_files_are_read_without_following_links_or_blocking() {
        let root = std::env::temp_dir().join(format!("rccr-bootfile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for dir in ["media/a", "media/b", "media/c", "media/d", "elsewhere"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        // A link (to what could be /proc/kmsg), a pipe, a file too large,
        // and the one to apply, seen through /boot too.
        fs::write(root.join("elsewhere/rccr.txt"), "hostname=linked\n").unwrap();
        std::os::unix::fs::symlink(
            root.join("elsewhere/rccr.txt"),
            root.join("media/a/rccr.txt"),
        )
        .unwrap();
        let fifo = Command::new("mkfifo")
            .arg(root.join("media/b/rccr.txt"))
            .status();
        assert!(fifo.unwrap().success());
        fs::write(root.join("media/c/rccr.txt"), "hostname=plain\n").unwrap();
        fs::write(root.join("media/d/rccr.txt"), "#".repeat(MAX_LEN + 1)).unwrap();
        std::os::unix::fs::symlink("media/c", root.join("boot")).unwrap();
        let mut ctx = Ctx::new(&root, false);
        let read = read_present(&ctx, FILE_NAME, MAX_LEN);
        let shown: Vec<_> = read
            .iter()
            .map(|(p, r)| {
                (
                    p.strip_prefix(&root).unwrap().to_str().unwrap(),
                    r.as_ref().map_err(String::as_str).map(Vec::len),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                ("boot/rccr.txt", Ok(15)),
                ("media/a/rccr.txt", Err("a symbolic link, not followed")),
                ("media/b/rccr.txt", Err("not a regular file")),
                ("media/d/rccr.txt", Err("larger than 64 KiB")),
            ]
        );
        let found = load(&mut ctx).unwrap();
        assert_eq!(found.hostname.as_deref(), Some("plain"));
        assert_eq!(found.paths, vec![root.join("boot/rccr.txt")]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn non_utf8_is_refused_whole() {
        assert!(parse(b"\xff\xfeh\0o\0").is_err());
        assert_eq!(parse(b"").unwrap(), Parsed::default());
    }
}
