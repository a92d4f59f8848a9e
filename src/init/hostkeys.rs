//! SSH host keys: images never carry them, so each node makes its own at
//! first boot, before sshd starts.
//!
//! - `/etc/ssh/ssh_host_ed25519_key` always;
//! - RSA (3072 bits, OpenSSH's default) only for a `HostKey` line whose file
//!   name contains `rsa` (`HostKey /etc/ssh/ssh_host_rsa_key`), and Ed25519
//!   at other paths likewise. `HostKey` lines are read as sshd reads
//!   them: `/etc/ssh/sshd_config` and the files its `Include` lines name
//!   ([`sshd_config_values`]); other key
//!   types (ECDSA) are left to sshd's own service, which makes what is
//!   missing. With no `HostKey` line at all sshd loads its default keys
//!   that exist: an RSA key at `/etc/ssh/ssh_host_rsa_key` is then checked
//!   as if a line named it (none is made there).
//!
//! OpenSSH format, private 0600, public 0644, comment `root@HOSTNAME`,
//! randomness from getrandom. An existing key is kept: a private key
//! others can read gets mode 0600 (sshd refuses it otherwise), a missing
//! `.pub` is derived from it, and a `.pub` of another key (a new pair cut
//! short between its two files) is replaced. An empty private file (a crash before atomic
//! writes, a `touch`) counts as missing, and so does an RSA key under
//! [`MIN_RSA_BITS`], which setup never trusts (`ssh::HostKey::weakness`):
//! it is replaced by a new key, in one line that says so (one in PEM,
//! which rccr does not read, is judged by its `.pub`). A non-empty file
//! that is neither OpenSSH's format nor PEM (a key cut short, garbage),
//! and a link to nothing, hold no key sshd could load: each is renamed
//! `NAME.broken` and a new key made, so sshd never starts without it.
//!
//! Under `--root` the links on the way to each of these paths are
//! followed inside the root as the node follows them ([`Ctx::resolve`]),
//! and so is a `.pub` or configuration file that is a link; a `HostKey`
//! that is itself a link is followed only to judge whether it leads
//! nowhere (a link to a key is left alone, its `.pub` unchecked, live
//! too). An image's absolute link never leads to the build host's files:
//! a `.pub` link written over is replaced, not followed. A `HostKey`
//! path that is relative or starts with `~` is
//! not made (sshd takes it from its working directory, or the home of the
//! user it runs as).
use super::Ctx;
use crate::keys::authorized::key_blob;
use crate::keys::{self, KeyType};
use crate::ssh::{line_fingerprint, MIN_RSA_BITS};
use ssh_key::{HashAlg, PrivateKey};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub const SSH_DIR: &str = "/etc/ssh";
pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
pub const ED25519_KEY: &str = "/etc/ssh/ssh_host_ed25519_key";
/// sshd's default RSA host key, loaded when no `HostKey` line names keys.
pub const DEFAULT_RSA_KEY: &str = "/etc/ssh/ssh_host_rsa_key";
/// OpenSSH's default RSA size (ssh-keygen, sshd's service).
pub const RSA_BITS: usize = 3072;

/// `line`'s words as sshd splits them: the keyword ends at a space, tab
/// or `=` (one `=` may stand between it and the values); the values are
/// split as OpenSSH's `argv_split(…, 1)` does: by spaces and tabs, `"` and
/// `'` quote, `\` escapes a quote, `\` or (unquoted) space, and a word
/// that starts with `#` ends the line. No words for a blank line or a
/// comment; `None` for an unclosed quote, a line sshd refuses, and a
/// keyword quoted or after `=` (sshd reads it, rccr does not).
fn words(line: &str) -> Option<Vec<String>> {
    let blank: &[char] = &[' ', '\t', '\r', '\x0c'];
    let line = line.trim_matches(blank);
    let end = line.find(&[' ', '\t', '\r', '='][..]).unwrap_or(line.len());
    let (keyword, rest) = line.split_at(end);
    if line.starts_with('=') || (keyword.contains('"') && !line.starts_with('#')) {
        return None;
    }
    if keyword.is_empty() || keyword.starts_with('#') {
        return Some(Vec::new());
    }
    let rest = rest.trim_start_matches(blank);
    let rest = rest.strip_prefix('=').unwrap_or(rest).as_bytes();
    let mut out = vec![keyword.to_string()];
    let mut i = 0;
    loop {
        while rest.get(i).is_some_and(|c| b" \t".contains(c)) {
            i += 1;
        }
        if rest.get(i).is_none_or(|&c| c == b'#') {
            return Some(out);
        }
        let (mut word, mut quote) = (Vec::new(), 0);
        while let Some(&c) = rest.get(i) {
            i += 1;
            match (c, rest.get(i)) {
                (b'\\', Some(&n)) if b"'\"\\".contains(&n) || (n == b' ' && quote == 0) => {
                    word.push(n);
                    i += 1;
                }
                (b' ' | b'\t', _) if quote == 0 => break,
                (b'"' | b'\'', _) if quote == 0 => quote = c,
                _ if c == quote => quote = 0,
                _ => word.push(c),
            }
        }
        if quote != 0 {
            return None;
        }
        // Split at ASCII bytes only: still UTF-8.
        out.push(String::from_utf8_lossy(&word).into_owned());
    }
}

/// The keys to make: Ed25519 at the default path, then each `HostKey` path
/// (absolute, no `%` tokens) whose file name says ed25519 or rsa.
pub fn wanted(host_keys: &[String]) -> Vec<(String, KeyType)> {
    let mut out = vec![(ED25519_KEY.to_string(), KeyType::Ed25519)];
    for path in host_keys {
        if !path.starts_with('/') || path.contains('%') {
            continue;
        }
        let name = path.rsplit('/').next().unwrap_or("");
        let kind = if name.contains("ed25519") {
            KeyType::Ed25519
        } else if name.contains("rsa") {
            KeyType::Rsa
        } else {
            continue;
        };
        if !out.iter().any(|(p, _)| p == path) {
            out.push((path.clone(), kind));
        }
    }
    out
}

/// The most an sshd configuration file is read of: a larger one is not
/// read (sshd's own are a few KiB).
const MAX_SSHD_CONFIG: usize = 1 << 20;

/// sshd's bound on nested `Include`s (servconf.c's `SERVCONF_MAX_DEPTH`).
const MAX_INCLUDE_DEPTH: usize = 16;

/// The most sshd configuration files read: a file that includes itself
/// twice would be read 2^16 times within [`MAX_INCLUDE_DEPTH`].
const MAX_SSHD_CONFIG_FILES: usize = 256;

/// One keyword's first values in the sshd configuration under the root.
#[derive(Default)]
pub struct ConfigValues {
    /// In the order sshd reads them.
    pub found: Vec<String>,
    /// How many of [`Self::found`] came before the first file (or line)
    /// sshd reads that this walk did not, and why: a value sshd reads may
    /// be missing after that point, none before it.
    pub skipped: Option<(usize, String)>,
    files: usize,
    /// The bound on files is reached: the walk ends.
    done: bool,
}

/// `keyword`'s values (each line's first) in the sshd configuration under
/// the root, in the order sshd reads them: `sshd_config`, each `Include`
/// line's files read in its place. `Match` blocks are not told apart.
pub fn sshd_config_values(ctx: &Ctx, keyword: &str) -> ConfigValues {
    let mut values = ConfigValues::default();
    values.read(ctx, &ctx.path(SSHD_CONFIG), 0, keyword);
    values
}

impl ConfigValues {
    /// Notes that sshd reads `file`, which is not read (`why`).
    fn skip(&mut self, file: &Path, why: &str) {
        if self.skipped.is_none() {
            self.skipped = Some((
                self.found.len(),
                format!("{}: {why}", crate::print::path(file)),
            ));
        }
    }

    /// Adds `keyword`'s values in `file`, `depth` includes down, each
    /// `Include` line's files read in its place. What sshd would read
    /// otherwise ([`Self::skipped`]): a pipe (sshd waits on it), a device,
    /// a file larger than [`MAX_SSHD_CONFIG`], one that cannot be read, a
    /// NUL byte, a line sshd refuses, a pattern not followed ([`included`]),
    /// and the bounds on depth and files, which end the walk.
    fn read(&mut self, ctx: &Ctx, file: &Path, depth: usize, keyword: &str) {
        if self.done {
            return;
        }
        if depth > MAX_INCLUDE_DEPTH {
            return self.skip(file, "Include nested over 16 deep");
        }
        self.files += 1;
        // sshd reads a directory as empty, and a missing file not at all.
        let not_regular = "not a regular file";
        // Under --root, where the image's links lead: inside it.
        let real = ctx
            .resolve(file, true)
            .and_then(|real| Ok((fs::metadata(&real)?, real)));
        let real = match real {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => return self.skip(file, &e.to_string()),
            Ok((m, _)) if m.is_dir() => return,
            Ok((m, _)) if !m.is_file() => return self.skip(file, not_regular),
            Ok((_, real)) => real,
        };
        let bytes = match crate::fsutil::read_regular(&real, true, MAX_SSHD_CONFIG) {
            Ok((_, Some(bytes))) if bytes.contains(&0) => return self.skip(file, "a NUL byte"),
            Ok((_, Some(bytes))) => bytes,
            Ok((_, None)) => return self.skip(file, not_regular),
            Err(e) => return self.skip(file, &e.to_string()),
        };
        for line in bytes.split(|&b| b == b'\n') {
            if self.done {
                return;
            }
            // A word not UTF-8, read lossily, would name another file.
            let text = String::from_utf8_lossy(line);
            let utf8 = |w: &Vec<_>| w.is_empty() || std::str::from_utf8(line).is_ok();
            let Some(words) = words(&text).filter(utf8) else {
                self.skip(
                    file,
                    "a line rccr does not split (quotes, a leading =, not UTF-8)",
                );
                continue;
            };
            let Some((key, args)) = words.split_first() else {
                continue;
            };
            if key.eq_ignore_ascii_case(keyword) {
                self.found.extend(args.first().cloned());
            }
            if !key.eq_ignore_ascii_case("include") {
                continue;
            }
            for arg in args {
                if self.files >= MAX_SSHD_CONFIG_FILES {
                    self.done = true;
                    return self.skip(file, "Include over 256 files");
                }
                match included(ctx, arg) {
                    Some(files) => files
                        .iter()
                        .for_each(|f| self.read(ctx, f, depth + 1, keyword)),
                    None => self.skip(file, "an Include pattern rccr does not follow"),
                }
            }
        }
    }
}

/// The files an `Include` argument names, as sshd finds them: relative
/// to /etc/ssh unless absolute; a `*` or `?` in the last component
/// matches names in glob(3)'s order, none being no error. `None` for
/// what is not followed: `[` classes, `\` escapes, `~`, and a `*` or `?`
/// before the last `/`.
fn included(ctx: &Ctx, arg: &str) -> Option<Vec<PathBuf>> {
    let glob = |s: &str| s.contains(&['*', '?'][..]);
    let (head, _) = arg.rsplit_once('/').unwrap_or_default();
    if arg.contains(&['[', '\\'][..]) || arg.starts_with('~') || glob(head) {
        return None;
    }
    let path = if arg.starts_with('/') {
        ctx.path(arg)
    } else {
        ctx.path(&format!("{SSH_DIR}/{arg}"))
    };
    let (Some(dir), Some(pattern)) = (path.parent(), path.file_name()) else {
        return Some(vec![path]);
    };
    let pattern = pattern.as_bytes();
    if !glob(arg) {
        return Some(vec![path]);
    }
    let mut found: Vec<PathBuf> = ctx
        .resolve(dir, true)
        .and_then(fs::read_dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| glob_match(pattern, e.file_name().as_bytes()))
        .map(|e| dir.join(e.file_name()))
        .collect();
    found.sort_unstable();
    Some(found)
}

/// Whether file `name` matches `pattern`'s `*` and `?` as glob(3) does:
/// a leading `.` only by a `.`.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    // The last `*` and the name position it took up to, to retry longer.
    let (mut p, mut n, mut star) = (0, 0, None);
    while n < name.len() {
        match pattern.get(p) {
            Some(&b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    (p, n) = (sp + 1, sn + 1);
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Makes the missing host keys and repairs modes; see the module doc.
pub fn ensure(ctx: &mut Ctx, hostname: &str) {
    let dir = ctx.path(SSH_DIR);
    if !ctx.resolve(&dir, true).is_ok_and(|d| d.is_dir()) {
        return ctx.problem(format_args!(
            "{}: missing (is openssh installed?); no host keys made",
            dir.display()
        ));
    }
    let comment = format!("root@{hostname}");
    // Said here only (each boot), not again where StrictModes are read.
    let ConfigValues {
        found: mut host_keys,
        skipped,
        ..
    } = sshd_config_values(ctx, "hostkey");
    if let Some((_, why)) = skipped {
        ctx.problem(format_args!(
            "sshd's configuration not read wholly ({why}): a HostKey line may be missed, and StrictModes count as on unless set before"
        ));
    }
    // No HostKey line: sshd serves its default keys that exist, a weak
    // RSA key among them, which setup would refuse for good.
    let default_rsa = ctx.resolve(&ctx.path(DEFAULT_RSA_KEY), false);
    if host_keys.is_empty() && default_rsa.and_then(fs::symlink_metadata).is_ok() {
        host_keys.push(DEFAULT_RSA_KEY.to_string());
    }
    for (path, kind) in wanted(&host_keys) {
        // The key file itself, a link or not, in its directory as the
        // node finds it.
        let private = ctx.path(&path);
        match ctx.resolve(&private, false) {
            Ok(private) => ensure_one(ctx, &private, kind, &comment),
            Err(e) => ctx.problem(format_args!(
                "{}: {e}; no host key made there",
                crate::print::path(&private)
            )),
        }
    }
}

fn ensure_one(ctx: &mut Ctx, private: &Path, kind: KeyType, comment: &str) {
    let public = keys::public_path(private);
    let shown = crate::print::path(private);
    // Why a key there is made anew although one exists: it is too weak.
    let mut replacing = String::new();
    match fs::symlink_metadata(private) {
        Ok(m) if m.is_file() && m.len() > 0 => match weak_rsa_bits(ctx, private) {
            Some(bits) => {
                replacing = format!(
                    ", replacing an RSA key of {bits} bits (fewer than {MIN_RSA_BITS}: too weak)"
                );
            }
            None if unreadable(private) => {
                match set_aside(ctx, private, "a key that cannot be read") {
                    Some(why) => replacing = why,
                    None => return,
                }
            }
            None => {
                let mode = m.permissions().mode() & 0o7777;
                if mode & 0o077 != 0 {
                    ctx.chmod(private, mode, 0o600);
                }
                return ensure_public(ctx, private, &public);
            }
        },
        // sshd cannot load a key through a link to nothing; but a link
        // into a directory that is not there (storage not mounted this
        // boot) is left for the boot that mounts it.
        Ok(m) if m.is_symlink() && ctx.resolve(private, true).and_then(fs::metadata).is_err() => {
            if let Some(dir) = missing_link_dir(ctx, private) {
                return ctx.problem(format_args!(
                    "{shown}: links into {}, which is not there (storage not mounted?); left alone",
                    crate::print::text(&dir.display().to_string())
                ));
            }
            match set_aside(ctx, private, "a link to nothing") {
                Some(why) => replacing = why,
                None => return,
            }
        }
        Ok(m) if !m.is_file() => {
            return ctx.problem(format_args!("{shown}: not a regular file; left alone"));
        }
        _ => {}
    }
    let label = match kind {
        KeyType::Ed25519 => "ED25519".to_string(),
        KeyType::Rsa => format!("RSA {RSA_BITS}"),
    };
    if ctx.dry {
        return ctx.changed(format_args!("{shown}: new {label} host key{replacing}"));
    }
    if kind == KeyType::Rsa {
        ctx.note(format_args!(
            "{shown}: making an RSA {RSA_BITS} key (slow on small boards)"
        ));
    }
    let made = keys::generate(kind, RSA_BITS, comment).and_then(|key| {
        clear_public_link(ctx, &keys::public_path(private))?;
        keys::write_pair(private, &key)?;
        Ok(key.public_key().fingerprint(HashAlg::Sha256))
    });
    match made {
        Ok(fp) => {
            ctx.changed(format_args!(
                "{shown}: new {label} host key {fp}{replacing}"
            ));
            ctx.needs_persist();
        }
        Err(e) => ctx.problem(format_args!("{shown}: {e}")),
    }
}

/// Under `--root`, before a new pair is written: a `.pub` link is judged
/// by what it leads to inside the root, as the node's
/// [`crate::fsutil::check_replaceable`] judges it, and removed, so the
/// pair's write (which judges on the host) puts the file in its place as
/// the rename does on the node, the link never followed on the host. Not
/// atomic, which a `.pub` affords: one lost is derived again from its key
/// at the next boot. Here only: a file whose loss matters is renamed over
/// its link ([`Ctx::write_file`]). Live: nothing to do.
fn clear_public_link(ctx: &Ctx, public: &Path) -> Result<(), crate::error::Error> {
    if ctx.live || !fs::symlink_metadata(public).is_ok_and(|m| m.is_symlink()) {
        return Ok(());
    }
    let cannot = |e| crate::error::Error::io(format!("cannot write {}", public.display()), e);
    match ctx.resolve(public, true) {
        Ok(to) => crate::fsutil::check_replaceable(&to)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(cannot(e)),
    }
    fs::remove_file(public).map_err(cannot)
}

/// Whether the non-empty file at `private` holds no key sshd could load:
/// not OpenSSH's format as rccr reads it, and no armoured block at all
/// (a key cut short, garbage). A file with a `-----BEGIN ` and an
/// `-----END ` line is left to sshd, which reads more than rccr does:
/// PEM, PKCS#8, OpenSSH's format wrapped at another width (Python's
/// cryptography, so Ansible's openssh_keypair, writes 76 columns). A file
/// that cannot be read at all is not judged: [`ensure_public`] reports it.
fn unreadable(private: &Path) -> bool {
    fs::read(private).is_ok_and(|text| {
        let armoured = |mark: &[u8]| text.split(|&b| b == b'\n').any(|l| l.starts_with(mark));
        PrivateKey::from_openssh(&text).is_err()
            && !(armoured(b"-----BEGIN ") && armoured(b"-----END "))
    })
}

/// The directory a link at `link` points into, when that directory is
/// missing (its storage not mounted, say); `None` when it is there.
fn missing_link_dir(ctx: &Ctx, link: &Path) -> Option<std::path::PathBuf> {
    let target = fs::read_link(link).ok()?;
    let target = match target.strip_prefix("/") {
        Ok(abs) if !ctx.live => ctx.path("/").join(abs),
        _ => link
            .parent()
            .map_or(target.clone(), |dir| dir.join(&target)),
    };
    let dir = target.parent()?;
    let there = ctx.resolve(dir, true).is_ok_and(|d| d.is_dir());
    (!there).then(|| dir.to_path_buf())
}

/// Renames `private` (`what` it is) to `NAME.broken`, replacing an older
/// one, so that a new key can take its place and the old bytes are still
/// there to look at. Returns the words for the line that reports the new
/// key; `None` (reported) when the rename fails: the file is left alone.
fn set_aside(ctx: &mut Ctx, private: &Path, what: &str) -> Option<String> {
    let mut name = private.as_os_str().to_owned();
    name.push(".broken");
    let aside = std::path::PathBuf::from(name);
    if !ctx.dry {
        let renamed = fs::rename(private, &aside).and_then(|()| crate::fsutil::sync_parent(&aside));
        if let Err(e) = renamed {
            ctx.problem(format_args!(
                "{}: {what}, and cannot be set aside as {}: {e}; sshd may start without this host key",
                crate::print::path(private),
                crate::print::path(&aside)
            ));
            return None;
        }
    }
    Some(format!(
        ", replacing {what} (set aside as {})",
        crate::print::path(&aside)
    ))
}

/// The bits of the existing key at `private` when it is RSA too weak for
/// setup to trust ([`crate::ssh::weak_rsa_bits`]). A key that cannot be
/// read is not judged here: [`ensure_public`] reports it.
/// A PEM one (`ssh-keygen -m PEM`, every RSA key OpenSSH wrote before
/// 7.8), which rccr does not read, is judged by its `.pub`.
fn weak_rsa_bits(ctx: &Ctx, private: &Path) -> Option<usize> {
    let text = fs::read(private).ok()?;
    let public = match PrivateKey::from_openssh(&text) {
        Ok(key) => key.public_key().clone(),
        Err(_) if crate::ssh::pkcs1::is_pem(&text) => {
            let line = ctx.read_optional(&keys::public_path(private)).ok()??;
            let line = String::from_utf8(line).ok()?;
            ssh_key::PublicKey::from_openssh(line.trim()).ok()?
        }
        Err(_) => return None,
    };
    crate::ssh::weak_rsa_bits(public.key_data())
}

/// Makes `public` hold the public half of the existing `private` key:
/// derived when missing, and replaced when it names another key. A new
/// pair is written private first, so a power cut in between leaves a new
/// private key beside the old `.pub`: sshd complains ("does not match
/// private key") and the banner, read from `.pub` files, shows the old
/// fingerprint.
fn ensure_public(ctx: &mut Ctx, private: &Path, public: &Path) {
    let derived = fs::read(private)
        .map_err(|e| e.to_string())
        .and_then(|t| PrivateKey::from_openssh(t).map_err(|e| e.to_string()))
        .and_then(|k| keys::public_line(&k).map_err(|e| e.to_string()));
    let line = match derived {
        Ok(line) => line,
        Err(e) => {
            return ctx.problem(format_args!(
                "{}: cannot read the key ({e}); {} not checked",
                crate::print::path(private),
                crate::print::path(public)
            ))
        }
    };
    let what = match ctx.read_optional(public) {
        Ok(Some(old)) if key_blob(&old) == key_blob(line.as_bytes()) => return,
        Ok(Some(_)) => "replaced: it was not the private key's (a new key cut short?)",
        Ok(None) => "derived from the private key",
        Err(e) => {
            return ctx.problem(format_args!(
                "cannot read {}: {e}",
                crate::print::path(public)
            ));
        }
    };
    ctx.write_file(public, format!("{line}\n").as_bytes(), 0o644, what);
}

/// The fingerprints of every `ssh_host_*_key.pub` under the root's
/// `/etc/ssh`, in file name order.
pub fn fingerprints(ctx: &Ctx) -> Vec<(String, String)> {
    let Ok(rd) = ctx.read_dir(&ctx.path(SSH_DIR)) else {
        return Vec::new();
    };
    let mut pubs: Vec<_> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ssh_host_") && n.ends_with("_key.pub"))
        })
        .collect();
    pubs.sort_unstable();
    pubs.iter()
        .filter_map(|p| ctx.read_optional(p).ok().flatten())
        .filter_map(|t| line_fingerprint(&String::from_utf8(t).ok()?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first values of `keyword`'s lines in `config`.
    fn host_key_paths(config: &str) -> Vec<String> {
        let lines = config.lines().filter_map(words);
        let lines = lines.filter(|w| w.len() > 1 && w[0].eq_ignore_ascii_case("hostkey"));
        lines.map(|w| w[1].clone()).collect()
    }

    #[test]
    fn lines_are_split_into_words_as_sshd_splits_them() {
        let cases: [(&str, Option<&[&str]>); 17] = [
            ("", Some(&[])),
            ("  # HostKey a", Some(&[])),
            ("HostKey a\\tb\tc", Some(&["HostKey", "a\\tb", "c"])),
            ("\tHostKey\t a  # note", Some(&["HostKey", "a"])),
            ("HostKey a#b #c d", Some(&["HostKey", "a#b"])),
            (
                "StrictModes no # cm manages keys\r",
                Some(&["StrictModes", "no"]),
            ),
            (
                "HostKey '/etc/ssh/x y' \"q'\"",
                Some(&["HostKey", "/etc/ssh/x y", "q'"]),
            ),
            (
                "HostKey a\\ b\\\" \\\\ '\\ '",
                Some(&["HostKey", "a b\"", "\\", "\\ "]),
            ),
            ("HostKey \"#x\" '#'", Some(&["HostKey", "#x", "#"])),
            ("hostkey=/a", Some(&["hostkey", "/a"])),
            ("HostKey = =/a", Some(&["HostKey", "=/a"])),
            ("HostKey==/a b", Some(&["HostKey", "=/a", "b"])),
            ("HostKey 'a b", None),
            ("\"StrictModes\" no", None),
            ("Strict\"Modes\" no", None),
            (" =StrictModes no", None),
            ("#\"x", Some(&[])),
        ];
        for (line, want) in cases {
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(words(line), want, "{line}");
        }
    }

    #[test]
    fn host_key_lines_in_every_spelling() {
        let config = "# HostKey /etc/ssh/commented\nHostKey /etc/ssh/ssh_host_rsa_key\n  hostkey=/etc/ssh/ssh_host_ecdsa_key\nHOSTKEY = \"/etc/ssh/ssh_host_ed25519_key\"\nHostKeyAlgorithms ssh-ed25519\nPort 22\n";
        assert_eq!(
            host_key_paths(config),
            vec![
                "/etc/ssh/ssh_host_rsa_key",
                "/etc/ssh/ssh_host_ecdsa_key",
                "/etc/ssh/ssh_host_ed25519_key"
            ]
        );
    }

    #[test]
    fn values_are_read_where_include_lines_stand() {
        use crate::fsutil::scratch::Dir;
        let cases: [(&str, &[&str]); 9] = [
            (
                "Include /etc/ssh/sshd_config.d/*.conf\nHostKey main\n",
                &["d10", "d20", "d3", "main"],
            ),
            (
                "HostKey first\ninclude sshd_config.d/*.conf\nHostKey last\n",
                &["first", "d10", "d20", "d3", "last"],
            ),
            (
                "HostKey main\nINCLUDE=sshd_config.d/*.conf\n",
                &["main", "d10", "d20", "d3"],
            ),
            ("HostKey main\n", &["main"]),
            // Several arguments, each in turn; missing ones are no error.
            (
                "Include missing.conf sshd_config.d/2?-b.conf none/*.conf \"sshd_config.d/10-a.conf\"\n",
                &["d20", "d10"],
            ),
            ("Include nested\n", &["n1", "d10", "n2"]),
            ("Include sshd_config.d/*\n", &["d10", "d20", "txt", "d3"]),
            // A loop ends: at sshd's depth, or at the bound on files read.
            ("HostKey main\nInclude sshd_config\n", &["main"; 17]),
            (
                "HostKey main\nInclude sshd_config sshd_config\n",
                &["main"; MAX_SSHD_CONFIG_FILES],
            ),
        ];
        let root = Dir::new("init-sshd-include");
        root.file("etc/ssh/sshd_config.d/3-c.conf", "HostKey d3\n")
            .file("etc/ssh/sshd_config.d/10-a.conf", "HostKey d10\n")
            .file("etc/ssh/sshd_config.d/20-b.conf", "HostKey d20\n")
            .file("etc/ssh/sshd_config.d/20-b.txt", "HostKey txt\n")
            .file("etc/ssh/sshd_config.d/.hidden.conf", "HostKey hidden\n")
            .file(
                "etc/ssh/nested",
                "HostKey n1\nInclude sshd_config.d/10-a.conf\nHostKey n2\n",
            );
        let ctx = Ctx::new(&root, true);
        for (config, want) in cases {
            root.file("etc/ssh/sshd_config", config);
            let values = sshd_config_values(&ctx, "hostkey");
            assert_eq!(values.found, want, "{config}");
            assert_eq!(values.skipped.is_some(), want.len() > 5, "{config}");
        }
        // The bound on files ends the walk: no frame reads on.
        root.file(
            "etc/ssh/sshd_config",
            "HostKey main\nInclude sshd_config sshd_config\nHostKey last\n",
        );
        let found = sshd_config_values(&ctx, "hostkey").found;
        assert_eq!(found.last().map(String::as_str), Some("main"));
    }

    #[test]
    fn a_file_sshd_reads_that_is_not_read_is_said_with_the_values_before_it() {
        use crate::fsutil::scratch::Dir;
        let root = Dir::new("init-sshd-skipped");
        root.file("etc/ssh/d/a.conf", "HostKey a\n")
            .file("etc/ssh/big", &"#".repeat(MAX_SSHD_CONFIG + 1))
            .file("etc/ssh/nul", "#x\0\nHostKey nul\n");
        fs::create_dir(root.join("etc/ssh/dir")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("etc/ssh/loop")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("etc/ssh/fifo"))
            .status();
        assert!(fifo.unwrap().success());
        let not_followed = "an Include pattern rccr does not follow";
        let cases = [
            // Read wholly: a missing file is no error, a directory empty.
            ("d/*.conf missing dir", ["a"].as_slice(), None),
            ("*/a.conf", &[], Some(not_followed)),
            ("d/[a].conf", &[], Some(not_followed)),
            ("d/a\\.conf", &[], Some(not_followed)),
            ("~/a.conf", &[], Some(not_followed)),
            ("'d/a.conf", &[], Some("does not split")),
            ("big", &[], Some("larger than")),
            ("nul", &[], Some("a NUL byte")),
            ("loop", &[], Some("symbolic links")),
            ("fifo", &[], Some("not a regular file")),
            ("nul d/a.conf", &["a"], Some("a NUL byte")),
        ];
        let ctx = Ctx::new(&root, true);
        for (args, between, why) in cases {
            let config = format!("HostKey first\nInclude {args}\nHostKey last\n");
            root.file("etc/ssh/sshd_config", &config);
            let values = sshd_config_values(&ctx, "hostkey");
            let want = [&["first"], between, &["last"]].concat();
            assert_eq!(values.found, want, "{args}");
            let skipped = values
                .skipped
                .map(|(at, why)| (at, why.split_once(": ").unwrap().1.to_string()));
            match why {
                None => assert_eq!(skipped, None, "{args}"),
                Some(why) => {
                    let (at, said) = skipped.expect(args);
                    assert_eq!(at, 1, "{args}");
                    assert!(said.contains(why), "{args}: {said}");
                }
            }
        }
    }

    #[test]
    fn a_line_rccr_does_not_split_is_a_skip_where_it_stands() {
        let root = crate::fsutil::scratch::Dir::new("init-sshd-unsplit");
        root.file("etc/ssh/sshd_config", "");
        let cases: [(&[u8], Option<usize>); 8] = [
            (b"\"StrictModes\" yes\nStrictModes no\n", Some(0)),
            (b"=StrictModes yes\nStrictModes no\n", Some(0)),
            (b"Strict\"Modes\" yes\nStrictModes no\n", Some(0)),
            (b"Include /etc/ssh/\xff.conf\nStrictModes no\n", Some(0)),
            (b"Port 2\xff\nStrictModes no\n", Some(0)),
            (b"Port \xf0\x90\x80 \nStrictModes no\n", Some(0)),
            (b"StrictModes no\nPort 2\xff\n", Some(1)),
            (b"# \xff\nStrictModes no\n", None),
        ];
        let ctx = Ctx::new(&root, true);
        for (config, at) in cases {
            fs::write(root.join("etc/ssh/sshd_config"), config).unwrap();
            let values = sshd_config_values(&ctx, "strictmodes");
            assert_eq!(values.skipped.map(|s| s.0), at, "{}", config.escape_ascii());
        }
    }

    #[test]
    fn globs_match_as_glob_3_does() {
        let cases = [
            ("*.conf", "a.conf", true),
            ("*.conf", ".a.conf", false),
            (".*", ".a", true),
            ("*.conf", "a.conf.bak", false),
            ("a*b?c*", "aXbbYcZ", true),
            ("a*b?c", "abc", false),
            ("**", "", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(
                glob_match(pattern.as_bytes(), name.as_bytes()),
                want,
                "{pattern} {name}"
            );
        }
    }

    #[test]
    fn rsa_only_when_asked_for() {
        assert_eq!(wanted(&[]), vec![(ED25519_KEY.into(), KeyType::Ed25519)]);
        let asked = host_key_paths(
            "HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_rsa_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\nHostKey relative_rsa_key\nHostKey /etc/ssh/%h_rsa\n",
        );
        assert_eq!(
            wanted(&asked),
            vec![
                (ED25519_KEY.into(), KeyType::Ed25519),
                ("/etc/ssh/ssh_host_rsa_key".into(), KeyType::Rsa)
            ]
        );
    }

    #[test]
    fn fingerprints_match_ssh_keygen() {
        let key = keys::generate(KeyType::Ed25519, 0, "root@x").unwrap();
        let line = keys::public_line(&key).unwrap();
        let (label, fp) = line_fingerprint(&line).unwrap();
        assert_eq!(label, "ED25519");
        assert_eq!(
            fp,
            key.public_key().fingerprint(HashAlg::Sha256).to_string()
        );
        // ECDSA: our ssh-key build cannot parse it, the blob hashes all the
        // same. Value printed by `ssh-keygen -lf` for this key.
        let ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAvpsbwwBp+YUFKqgh2m2TgNgim/Be3YTYJTrL2o8XrRAWvbkJ9NE0mo3a5Umw7G0jOe8XLtXmWU9Uer3Zre5Gw= x\n";
        assert_eq!(
            line_fingerprint(ecdsa).unwrap(),
            (
                "ECDSA".to_string(),
                "SHA256:PvQmRuwJG/RDD6GzjmU7k7kx0yC4RkMlUBpujYKE3Z0".to_string()
            )
        );
    }
}
