//! Host key pinning in OpenSSH's `~/.ssh/known_hosts` format, so that after
//! setup a plain `ssh -o StrictHostKeyChecking=yes root@node` trusts exactly
//! the keys rccr saw on first contact.
//!
//! Lines are `[marker] patterns keytype base64 [comment]`; patterns are
//! comma-separated, `[host]:port` for ports other than 22, or a hashed
//! `|1|salt|hash` entry (checked by the caller's `hashed_matches`, which
//! libssh2 answers). Markers (`@cert-authority`, `@revoked`) are not pins;
//! a key an `@revoked` line names is a mismatch for every host.
//!
//! Lines rccr writes end with the comment [`MARK`] and name a node by its
//! name and its address (`NAME,IP keytype base64 rccr`, [`follow`]), so
//! `ssh root@NAME` and `ssh root@IP` both check the key; when a node's
//! address changes, its lines follow it. Lines without the mark are the
//! user's and are never changed: rewrites work on the file's bytes, so a
//! line that is not UTF-8 (legal in OpenSSH's file) is kept byte for byte.
//! Checks read such a line with U+FFFD in place of its bad bytes, which
//! leaves its host patterns, key type and key as they were.
//!
//! A host is pinned whatever its key type: once a host has a line, a key
//! that no line of it holds is a mismatch, of its type or of another (a
//! man in the middle that offers ECDSA where Ed25519 was pinned is refused),
//! and connections offer only the pinned types ([`KnownHosts::pinned_types`]).
use crate::error::Error;
use crate::fsutil::{self, Trust};
use crate::identity::Hostname;
use crate::ssh::{self, Connection, Fingerprint, HostKey, SshError};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// What known_hosts says about a host key.
#[derive(Debug, PartialEq, Eq)]
pub enum Pin {
    /// A line for this host holds this very key.
    Match,
    /// Lines for this host hold other keys, of any type: refuse.
    Mismatch { line: usize },
    /// No line for this host.
    Unknown,
}

pub use crate::ssh::{host_field, named_field};

/// The comment that ends every line rccr writes: the lines it may rewrite.
pub const MARK: &str = "rccr";

/// Whether a comma-separated pattern list names one of `hosts` (OpenSSH
/// compares names without regard to case).
fn names_any(patterns: &str, hosts: &[&str]) -> bool {
    patterns
        .split(',')
        .any(|p| hosts.iter().any(|h| p.eq_ignore_ascii_case(h)))
}

/// The pin lines that name one of `hosts`: `(line number, key type, base64)`.
fn pins<'c>(
    content: &'c str,
    hosts: &'c [&'c str],
    hashed_matches: &'c dyn Fn(&str) -> bool,
) -> impl Iterator<Item = (usize, &'c str, &'c str)> + 'c {
    content
        .lines()
        .enumerate()
        .filter_map(move |(index, line)| {
            let mut parts = line.split_whitespace();
            let patterns = parts.next()?;
            if patterns.starts_with('#') || patterns.starts_with('@') {
                return None;
            }
            let (line_type, line_b64) = (parts.next()?, parts.next()?);
            let names_host = if patterns.starts_with("|1|") {
                hashed_matches(line)
            } else {
                names_any(patterns, hosts)
            };
            names_host.then_some((index + 1, line_type, line_b64))
        })
}

/// Looks `host` (as [`host_field`] writes it) up with a key given as its
/// public-key line `keytype base64`.
pub fn check(content: &str, host: &str, key: &str, hashed_matches: &dyn Fn(&str) -> bool) -> Pin {
    check_any(content, &[host], key, hashed_matches)
}

/// [`check`] against the lines that name any of `hosts`: a node's pins
/// are those of its name and of its addresses.
pub fn check_any(
    content: &str,
    hosts: &[&str],
    key: &str,
    hashed_matches: &dyn Fn(&str) -> bool,
) -> Pin {
    let mut fields = key.split_whitespace();
    let (key_type, key_b64) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
    // A key the user revoked is refused whatever hosts its line names (ssh
    // refuses it for those it matches, `*` too), never pinned.
    let revoked = content.lines().position(|line| {
        let mut parts = line.split_whitespace();
        parts.next() == Some("@revoked")
            && parts.nth(1) == Some(key_type)
            && parts.next() == Some(key_b64)
    });
    if let Some(index) = revoked {
        return Pin::Mismatch { line: index + 1 };
    }
    let mut mismatch = None;
    for (line, line_type, line_b64) in pins(content, hosts, hashed_matches) {
        if line_type == key_type && line_b64 == key_b64 {
            return Pin::Match;
        }
        mismatch.get_or_insert(line);
    }
    match mismatch {
        Some(line) => Pin::Mismatch { line },
        None => Pin::Unknown,
    }
}

/// The key types pinned for `host`, in file order, once each.
pub fn pinned_types(
    content: &str,
    host: &str,
    hashed_matches: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    pinned_types_any(content, &[host], hashed_matches)
}

/// The key types pinned for any of `hosts`, in file order, once each.
fn pinned_types_any(
    content: &str,
    hosts: &[&str],
    hashed_matches: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for (_, line_type, _) in pins(content, hosts, hashed_matches) {
        if !types.iter().any(|t| t == line_type) {
            types.push(line_type.to_string());
        }
    }
    types
}

/// A node as rccr's lines name it: its name, its address, and the
/// fingerprint of its pinned host key.
pub struct Named<'a> {
    /// A DNS name: nothing in it can make a line hashed, a marker or a
    /// comment, or add a pattern.
    pub name: &'a Hostname,
    pub ip: IpAddr,
    pub host_key: &'a Fingerprint,
}

/// One pin line, split: `patterns keytype base64 [comment]`.
struct Line<'l> {
    patterns: &'l str,
    key_type: &'l str,
    b64: &'l str,
    ours: bool,
}

impl<'l> Line<'l> {
    /// `None` for comments, blank lines and markers. A hashed line is
    /// one too (its key may be a node's), never rccr's.
    fn parse(line: &'l str) -> Option<Line<'l>> {
        let mut parts = line.split_whitespace();
        let patterns = parts.next()?;
        if patterns.starts_with(['#', '@']) {
            return None;
        }
        let (key_type, b64) = (parts.next()?, parts.next()?);
        let comment: Vec<&str> = parts.collect();
        Some(Line {
            patterns,
            key_type,
            b64,
            ours: comment == [MARK] && !patterns.starts_with('|'),
        })
    }

    fn fingerprint(&self) -> Option<Fingerprint> {
        let (_, fingerprint) =
            crate::ssh::line_fingerprint(&format!("{} {}", self.key_type, self.b64))?;
        Fingerprint::parse(&fingerprint)
    }
}

/// The lines of `content`, each with its `\n` (the last may lack it), and
/// parsed when it is a pin line in UTF-8: rccr writes no other.
fn split_lines(content: &[u8]) -> impl Iterator<Item = (&[u8], Option<Line<'_>>)> {
    content
        .split_inclusive(|b| *b == b'\n')
        .map(|raw| (raw, std::str::from_utf8(raw).ok().and_then(Line::parse)))
}

/// `content` with rccr's lines following `nodes`: each node's pinned keys
/// (found on any line, by fingerprint) on lines of its own that name it
/// and its address, written where its first such line was, else at the
/// end; a name or address a node holds is taken off rccr's other lines
/// (a node that left the address), and a line left naming nothing goes.
/// `nodes` come in order of precedence: an address two of them claim is
/// the first one's. Lines without [`MARK`] are kept byte for byte.
pub fn follow(content: &[u8], nodes: &[Named], port: u16) -> Vec<u8> {
    let mut claimed: Vec<String> = Vec::new();
    let fields: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let mut own = Vec::new();
            // A node known by its address only has no name to pin: that
            // address may be another's tomorrow.
            let name = (n.name.parse::<IpAddr>().is_err()).then(|| named_field(n.name, port));
            for field in name.into_iter().chain([host_field(n.ip, port)]) {
                let lower = field.to_ascii_lowercase();
                if !claimed.contains(&lower) {
                    claimed.push(lower);
                    own.push(field);
                }
            }
            own
        })
        .collect();
    let lines: Vec<(&[u8], Option<Line>)> = split_lines(content).collect();
    let owner = |line: &Line| {
        let fingerprint = line.fingerprint()?;
        nodes.iter().position(|n| *n.host_key == fingerprint)
    };
    let mut keys: Vec<Vec<(&str, &str)>> = vec![Vec::new(); nodes.len()];
    for line in lines.iter().filter_map(|(_, l)| l.as_ref()) {
        if let Some(i) = owner(line) {
            if !keys[i].contains(&(line.key_type, line.b64)) {
                keys[i].push((line.key_type, line.b64));
            }
        }
    }
    let mut out = Vec::with_capacity(content.len());
    let mut emitted = vec![false; nodes.len()];
    let mut emit = |out: &mut Vec<u8>, i: usize| {
        if std::mem::replace(&mut emitted[i], true) || fields[i].is_empty() {
            return;
        }
        end_line(out);
        for (key_type, b64) in &keys[i] {
            let line = format!("{} {key_type} {b64} {MARK}\n", fields[i].join(","));
            out.extend_from_slice(line.as_bytes());
        }
    };
    for (raw, line) in &lines {
        let Some(line) = line.as_ref().filter(|l| l.ours) else {
            out.extend_from_slice(raw);
            continue;
        };
        match owner(line) {
            Some(i) => emit(&mut out, i),
            None => push_without(&mut out, raw, line, &claimed),
        }
    }
    for i in 0..nodes.len() {
        emit(&mut out, i);
    }
    out
}

/// Pushes rccr's `line` (`raw`) without the host fields `taken` (lower
/// case); nothing when it is left naming no host.
fn push_without(out: &mut Vec<u8>, raw: &[u8], line: &Line, taken: &[String]) {
    let kept: Vec<&str> = line
        .patterns
        .split(',')
        .filter(|p| !taken.contains(&p.to_ascii_lowercase()))
        .collect();
    if kept.len() == line.patterns.split(',').count() {
        out.extend_from_slice(raw);
    } else if !kept.is_empty() {
        let line = format!("{} {} {} {MARK}\n", kept.join(","), line.key_type, line.b64);
        out.extend_from_slice(line.as_bytes());
    }
}

/// `content` with the host fields `hosts` taken off rccr's lines, and a
/// line left naming nothing gone: an address no node holds any more (a
/// machine there later is a new host). Lines without [`MARK`] are kept
/// byte for byte.
pub fn unpin(content: &[u8], hosts: &[String]) -> Vec<u8> {
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
    let mut out = Vec::with_capacity(content.len());
    for (raw, line) in split_lines(content) {
        match line.as_ref().filter(|l| l.ours) {
            Some(line) => push_without(&mut out, raw, line, &hosts),
            None => out.extend_from_slice(raw),
        }
    }
    out
}

/// `content` without rccr's lines of the keys `host_keys` (nodes that
/// left the cluster: a machine reinstalled there is then a new host).
/// Lines without [`MARK`] are kept byte for byte.
pub fn forget(content: &[u8], host_keys: &[&Fingerprint]) -> Vec<u8> {
    split_lines(content)
        .filter(|(_, line)| {
            let Some(line) = line.as_ref().filter(|l| l.ours) else {
                return true;
            };
            line.fingerprint()
                .is_none_or(|fp| !host_keys.iter().any(|k| **k == fp))
        })
        .flat_map(|(raw, _)| raw)
        .copied()
        .collect()
}

/// Ends `out`'s last line, if it has one without its newline, so that
/// what is added next starts a line of its own.
fn end_line(out: &mut Vec<u8>) {
    if out.last().is_some_and(|b| *b != b'\n') {
        out.push(b'\n');
    }
}

/// known_hosts as it was at one moment, to look keys up in (never to
/// write back: bytes that are not UTF-8 are U+FFFD, which leaves a line's
/// host patterns, key type and key as they were).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pins {
    text: String,
}

impl Pins {
    /// The pins in known_hosts `content`.
    pub fn of(content: &[u8]) -> Pins {
        Pins {
            text: String::from_utf8_lossy(content).into_owned(),
        }
    }

    /// Whether a line for `ip`:`port` holds `key`.
    pub fn holds(&self, ip: IpAddr, port: u16, key: &HostKey) -> bool {
        let hashed = |line: &str| ssh::hashed_line_names(line, ip, port);
        check(&self.text, &host_field(ip, port), &key.line, &hashed) == Pin::Match
    }
}

/// A known_hosts file shared by the threads of one run: checks and pins
/// go through one lock, and every pin is an atomic rewrite of the file.
pub struct KnownHosts {
    pub path: PathBuf,
    lock: Mutex<()>,
}

/// A connection to a host that was offered only the host's pinned key
/// types, and the key it answered with (not yet checked against the pins).
pub struct Reached {
    pub conn: Connection,
    pub key: HostKey,
}

/// Why [`KnownHosts::connect`] made no connection.
#[derive(Debug)]
pub enum Unreached {
    /// The host is pinned, and offers none of its pinned key types: it is
    /// another machine.
    OtherType(String),
    /// No SSH conversation (or the pins could not be read).
    Failed(String),
    /// Its host key is too weak to trust ([`HostKey::weakness`]): no key
    /// of ours goes to it, nothing is pinned.
    WeakHostKey(String),
}

/// The result of [`KnownHosts::check_or_pin`].
#[derive(Debug, PartialEq, Eq)]
pub enum Pinned {
    /// Seen before with the same key.
    Known,
    /// First contact: the key is now pinned.
    New,
    /// Pinned with another key: this host must not be trusted.
    Mismatch { line: usize },
}

impl KnownHosts {
    pub fn new(path: PathBuf) -> Self {
        KnownHosts {
            path,
            lock: Mutex::new(()),
        }
    }

    /// The file a run pins in, refused (exit 3) when it cannot be read: a
    /// directory, say, failed every host's login, so every host looked
    /// unreachable (or without SSH), and only after the run had changed
    /// things. A file that does not exist yet is fine.
    pub fn open(path: PathBuf) -> Result<Self, Error> {
        // Not there yet is fine (the first pin makes it); a device would
        // be read without end.
        let problem = match fsutil::not_a_file_if_any(&path) {
            Some(why) => Some(why),
            None => match fsutil::read_trusted_if_any(&path, Trust::Kept) {
                Err(Error::Io { source, .. }) => Some(source.to_string()),
                Err(untrusted) => return Err(untrusted),
                Ok(_) => None,
            },
        };
        match problem {
            Some(why) => Err(Error::bad_input(
                path.display().to_string(),
                format!("cannot be read as known_hosts ({why}): give a file with --known-hosts"),
            )),
            None => Ok(KnownHosts::new(path)),
        }
    }

    /// The file's bytes (none when there is no file), and the guard that
    /// keeps this process's other threads from rewriting it until dropped.
    fn read_bytes(&self) -> Result<(MutexGuard<'_, ()>, Vec<u8>), Error> {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // The pins decide whom rccr trusts: no one else may have written them.
        let bytes = fsutil::read_trusted_if_any(&self.path, Trust::Kept)?.unwrap_or_default();
        Ok((guard, bytes))
    }

    /// [`KnownHosts::read_bytes`] as text to check pins in, never to
    /// write back: bytes that are not UTF-8 are U+FFFD.
    fn read(&self) -> Result<(MutexGuard<'_, ()>, String), Error> {
        let (guard, bytes) = self.read_bytes()?;
        Ok((guard, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Rewrites the file as `change` makes it, atomically, when that
    /// changes anything ([`super::ssh_config::rewrite_user_file`]: its
    /// mode and link kept, 0644 for a new one, under the lock of its
    /// directory). Returns whether it did.
    pub(crate) fn rewrite(&self, change: &dyn Fn(&[u8]) -> Vec<u8>) -> Result<bool, Error> {
        let mut changed = false;
        self.edit(&mut |content| {
            let updated = change(content);
            changed = updated != content;
            updated
        })?;
        Ok(changed)
    }

    /// [`KnownHosts::rewrite`] that `edit` may tell the result of. The
    /// in-process lock comes first, the directory's second, and nothing
    /// takes them the other way round: no other thread of this process
    /// waits on the directory lock (on NFS a `flock` may not keep threads
    /// apart), and none deadlocks.
    fn edit(&self, edit: &mut dyn FnMut(&[u8]) -> Vec<u8>) -> Result<(), Error> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        super::ssh_config::rewrite_user_file(&self.path, 0o644, &mut |_, content| Ok(edit(content)))
    }

    /// The pins as they are now ([`Pins`]), the file left as it is.
    pub fn snapshot(&self) -> Result<Pins, Error> {
        let (_guard, bytes) = self.read_bytes()?;
        Ok(Pins::of(&bytes))
    }

    /// The key types pinned for `host`: what a connection to it may offer
    /// ([`crate::ssh::Connection::open_pinned`]); empty when it has no pin.
    pub fn pinned_types(
        &self,
        host: &str,
        hashed: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<String>, Error> {
        let (_guard, content) = self.read()?;
        Ok(pinned_types(&content, host, hashed))
    }

    /// Connects to `ip`:`port` offering only its pinned host key types
    /// (any type for a host with no pin), within `timeout`.
    pub fn connect(&self, ip: IpAddr, port: u16, timeout: Duration) -> Result<Reached, Unreached> {
        self.connect_as(ip, port, &[host_field(ip, port)], timeout)
    }

    /// [`KnownHosts::connect`] to the host whose pins are those of `hosts`
    /// (host fields: a node's name and address when it may have moved).
    pub fn connect_as(
        &self,
        ip: IpAddr,
        port: u16,
        hosts: &[String],
        timeout: Duration,
    ) -> Result<Reached, Unreached> {
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let hashed = hashed_naming(&hosts);
        let types = self
            .read()
            .map(|(_guard, content)| pinned_types_any(&content, &hosts, &hashed))
            .map_err(|e| Unreached::Failed(e.to_string()))?;
        let types: Vec<&str> = types.iter().map(String::as_str).collect();
        let conn = match Connection::open_pinned(SocketAddr::new(ip, port), timeout, &types) {
            Ok(conn) => conn,
            Err(SshError::KeyExchange(e)) if !types.is_empty() => {
                return Err(Unreached::OtherType(format!(
                    "offers no host key of the type pinned in {} ({}): {e}",
                    self.path.display(),
                    types.join(", ")
                )))
            }
            Err(e) => return Err(Unreached::Failed(e.to_string())),
        };
        let key = conn
            .host_key()
            .ok_or_else(|| Unreached::Failed("no usable host key".into()))?;
        if let Some(why) = key.weakness() {
            return Err(Unreached::WeakHostKey(why));
        }
        Ok(Reached { conn, key })
    }

    /// Checks the key `ip`:`port` answered with, without pinning anything.
    pub fn check_key(&self, ip: IpAddr, port: u16, key: &HostKey) -> Result<Pin, Error> {
        let hashed = |line: &str| ssh::hashed_line_names(line, ip, port);
        let (_guard, content) = self.read()?;
        Ok(check(&content, &host_field(ip, port), &key.line, &hashed))
    }

    /// [`KnownHosts::check_key`] against the pins of any of `hosts`.
    pub fn check_key_as(&self, hosts: &[String], key: &HostKey) -> Result<Pin, Error> {
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let hashed = hashed_naming(&hosts);
        let (_guard, content) = self.read()?;
        Ok(check_any(&content, &hosts, &key.line, &hashed))
    }

    /// Rewrites rccr's lines to follow `nodes` ([`follow`]), atomically,
    /// when that changes anything. Returns whether it did.
    pub fn follow(&self, nodes: &[Named], port: u16) -> Result<bool, Error> {
        self.rewrite(&|content| follow(content, nodes, port))
    }

    /// Drops rccr's lines of `host_keys` ([`forget`]), atomically, when
    /// there are any. Returns whether it did.
    pub fn forget(&self, host_keys: &[&Fingerprint]) -> Result<bool, Error> {
        self.rewrite(&|content| forget(content, host_keys))
    }

    /// Takes `hosts` off rccr's lines ([`unpin`]), atomically, when they
    /// are on any. Returns whether it did.
    pub fn unpin(&self, hosts: &[String]) -> Result<bool, Error> {
        self.rewrite(&|content| unpin(content, hosts))
    }

    /// [`KnownHosts::check_or_pin`] of the key `ip`:`port` answered with.
    pub fn check_or_pin_key(&self, ip: IpAddr, port: u16, key: &HostKey) -> Result<Pinned, Error> {
        let hashed = |line: &str| ssh::hashed_line_names(line, ip, port);
        self.check_or_pin(&host_field(ip, port), &key.line, &hashed)
    }

    /// What to say of a host whose `key` differs from the pin at `line`,
    /// or that an `@revoked` line there names: one wording for both, as
    /// telling them apart takes another read of the file.
    pub fn mismatch(&self, key: &HostKey, line: usize) -> String {
        format!(
            "host key {} differs from the one pinned (or is revoked) at {}:{line}",
            key.fingerprint,
            self.path.display()
        )
    }

    /// Trust on first use: pins an unknown host's key, refuses a changed one.
    pub fn check_or_pin(
        &self,
        host: &str,
        key: &str,
        hashed: &dyn Fn(&str) -> bool,
    ) -> Result<Pinned, Error> {
        let mut pinned = Pinned::New;
        self.edit(&mut |content| {
            let mut updated = content.to_vec();
            match check(&String::from_utf8_lossy(content), host, key, hashed) {
                Pin::Match => pinned = Pinned::Known,
                Pin::Mismatch { line } => pinned = Pinned::Mismatch { line },
                Pin::Unknown => {
                    end_line(&mut updated);
                    updated.extend_from_slice(format!("{host} {key} {MARK}\n").as_bytes());
                }
            }
            updated
        })?;
        Ok(pinned)
    }
}

/// Whether a hashed line names one of `hosts` (libssh2 answers), names
/// in lower case as OpenSSH hashes them.
fn hashed_naming(hosts: &[&str]) -> impl Fn(&str) -> bool {
    let hosts: Vec<String> = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
    move |line: &str| hosts.iter().any(|h| ssh::hashed_line_names_field(line, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA";
    const ED_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB";
    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7";
    fn never(_: &str) -> bool {
        false
    }

    /// [`follow`] of text, as text.
    fn follow_text(content: &str, nodes: &[Named], port: u16) -> String {
        String::from_utf8(follow(content.as_bytes(), nodes, port)).unwrap()
    }

    /// [`forget`] of text, as text.
    fn forget_text(content: &str, host_keys: &[&Fingerprint]) -> String {
        String::from_utf8(forget(content.as_bytes(), host_keys)).unwrap()
    }

    #[test]
    fn host_fields_follow_openssh() {
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(host_field(ip, 22), "10.0.0.5");
        assert_eq!(host_field(ip, 2222), "[10.0.0.5]:2222");
    }

    /// A key the user revoked (`@revoked`, which plain ssh refuses for
    /// every host) is never unknown, so never pinned: a mismatch, at the
    /// line that revokes it.
    #[test]
    fn a_revoked_key_is_a_mismatch_not_unknown() {
        let content = format!("10.0.0.6 {ED_B}\n@revoked * {ED_A}\n");
        assert_eq!(
            check(&content, "10.0.0.5", ED_A, &never),
            Pin::Mismatch { line: 2 }
        );
        assert_eq!(check(&content, "10.0.0.5", ED_B, &never), Pin::Unknown);
        let pinned_too = format!("10.0.0.5 {ED_A} rccr\n@revoked 10.0.0.5 {ED_A}\n");
        assert_eq!(
            check(&pinned_too, "10.0.0.5", ED_A, &never),
            Pin::Mismatch { line: 2 }
        );
    }

    #[test]
    fn match_mismatch_and_unknown() {
        let content = format!("# comment\n\nother.host,10.0.0.5 {ED_A} c\n10.0.0.6 {RSA}\n");
        assert_eq!(check(&content, "10.0.0.5", ED_A, &never), Pin::Match);
        assert_eq!(
            check(&content, "10.0.0.5", ED_B, &never),
            Pin::Mismatch { line: 3 }
        );
        // Another key type for a pinned host is a mismatch too: a man in
        // the middle picks the type it holds.
        assert_eq!(
            check(&content, "10.0.0.6", ED_A, &never),
            Pin::Mismatch { line: 4 }
        );
        assert_eq!(check(&content, "10.0.0.6", RSA, &never), Pin::Match);
        assert_eq!(check(&content, "10.0.0.7", ED_A, &never), Pin::Unknown);
        // A port makes another host.
        assert_eq!(
            check(&content, "[10.0.0.5]:2222", ED_B, &never),
            Pin::Unknown
        );
    }

    #[test]
    fn a_host_with_several_pinned_types_matches_any_of_its_keys() {
        let content = format!("10.0.0.5 {ED_A}\n10.0.0.5 {RSA}\n10.0.0.5 {ED_A}\n");
        assert_eq!(check(&content, "10.0.0.5", RSA, &never), Pin::Match);
        assert_eq!(check(&content, "10.0.0.5", ED_A, &never), Pin::Match);
        assert_eq!(
            check(&content, "10.0.0.5", "ecdsa-sha2-nistp256 AAAAE2", &never),
            Pin::Mismatch { line: 1 }
        );
        assert_eq!(
            pinned_types(&content, "10.0.0.5", &never),
            ["ssh-ed25519", "ssh-rsa"]
        );
        assert!(pinned_types(&content, "10.0.0.9", &never).is_empty());
    }

    #[test]
    fn markers_are_not_pins_and_hashed_lines_ask_the_callback() {
        let content = format!("@revoked 10.0.0.5 {ED_B}\n|1|c2FsdA==|aGFzaA== {ED_B}\n");
        assert_eq!(check(&content, "10.0.0.5", ED_A, &never), Pin::Unknown);
        assert_eq!(
            check(&content, "10.0.0.5", ED_A, &|_| true),
            Pin::Mismatch { line: 2 }
        );
    }

    #[test]
    fn a_snapshot_holds_the_pins_as_they_were() {
        let dir = crate::fsutil::scratch::Dir::new("kh-snapshot");
        let store = KnownHosts::new(dir.join("known_hosts"));
        assert_eq!(store.snapshot().unwrap(), Pins::default());
        dir.file(
            "known_hosts",
            &format!("10.0.0.5 {KEY_1} rccr\n[10.0.0.6]:2222 {KEY_1}\n"),
        );
        let pins = store.snapshot().unwrap();
        store.check_or_pin("10.0.0.7", KEY_1, &never).unwrap();
        let key: HostKey = HostKey {
            line: KEY_1.into(),
            fingerprint: FP_1.parse().unwrap(),
            blob: Vec::new(),
        };
        let at = |ip: &str| ip.parse::<IpAddr>().unwrap();
        assert!(pins.holds(at("10.0.0.5"), 22, &key));
        assert!(!pins.holds(at("10.0.0.5"), 2222, &key));
        assert!(pins.holds(at("10.0.0.6"), 2222, &key));
        assert!(!pins.holds(at("10.0.0.7"), 22, &key), "pinned later");
    }

    /// A known_hosts the user named in a directory others share (/tmp):
    /// only a directory rccr makes is made private (review final-26, D1).
    #[test]
    fn a_known_hosts_in_a_shared_directory_is_still_checked_and_pinned() {
        use std::os::unix::fs::PermissionsExt;
        let dir = crate::fsutil::scratch::Dir::new("kh-shared");
        dir.file("tmp/kh", &format!("10.0.0.5 {ED_A}\n"));
        let shared = dir.join("tmp");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let store = KnownHosts::new(shared.join("kh"));
        for (host, pinned) in [("10.0.0.5", Pinned::Known), ("10.0.0.7", Pinned::New)] {
            let got = store.check_or_pin(host, ED_A, &never);
            assert_eq!(got.unwrap(), pinned, "{host}");
        }
    }

    /// A pin kept the user's file as it was: its mode (0600, as with
    /// HashKnownHosts), and a link into dotfiles (the pin goes to the file
    /// it names); a missing directory is made private, as ~/.ssh is.
    #[test]
    fn a_pin_keeps_the_files_mode_and_link() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = crate::fsutil::scratch::Dir::new("kh-kept");
        dir.file("known_hosts", &format!("10.0.0.5 {ED_A}\n"));
        let kept = dir.join("known_hosts");
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o600)).unwrap();
        let store = KnownHosts::new(kept.clone());
        assert_eq!(
            store.check_or_pin("10.0.0.7", ED_A, &never).unwrap(),
            Pinned::New
        );
        assert_eq!(mode(&kept), 0o600);
        dir.file("dotfiles/known_hosts", &format!("10.0.0.5 {ED_A}\n"));
        let link = dir.join("linked");
        std::os::unix::fs::symlink(dir.join("dotfiles/known_hosts"), &link).unwrap();
        let store = KnownHosts::new(link.clone());
        assert_eq!(
            store.check_or_pin("10.0.0.7", ED_A, &never).unwrap(),
            Pinned::New
        );
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        let real = std::fs::read_to_string(dir.join("dotfiles/known_hosts")).unwrap();
        assert!(real.ends_with(&format!("10.0.0.7 {ED_A} rccr\n")), "{real}");
        let fresh = dir.join("ssh/known_hosts");
        KnownHosts::new(fresh.clone())
            .check_or_pin("10.0.0.7", ED_A, &never)
            .unwrap();
        assert_eq!((mode(&dir.join("ssh")), mode(&fresh)), (0o700, 0o644));
        // A link to nothing (dotfiles not checked out yet) stays a link:
        // refused, naming it.
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink(dir.join("missing/known_hosts"), &dangling).unwrap();
        let err = KnownHosts::new(dangling.clone())
            .check_or_pin("10.0.0.7", ED_A, &never)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&dangling.display().to_string()), "{err}");
        assert!(std::fs::symlink_metadata(&dangling).unwrap().is_symlink());
    }

    /// Two runs (of two state directories) pin in one known_hosts: each
    /// pin is a read-modify-write under the lock of its directory, so
    /// neither's pins are lost to the other's rename.
    #[test]
    fn two_stores_pinning_in_one_file_lose_no_pin() {
        let dir = crate::fsutil::scratch::Dir::new("kh-two-runs");
        let path = dir.join("known_hosts");
        std::thread::scope(|scope| {
            for run in 1..=2 {
                let store = KnownHosts::new(path.clone());
                scope.spawn(move || {
                    for i in 0..200 {
                        let host = format!("10.0.{run}.{i}");
                        store.check_or_pin(&host, ED_A, &never).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 400, "pins lost:\n{text}");
    }

    #[test]
    fn pinning_appends_once_and_keeps_the_rest() {
        let dir = std::env::temp_dir().join(format!("rccr-kh-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = KnownHosts::new(dir.join("known_hosts"));
        assert_eq!(
            store.check_or_pin("10.0.0.5", ED_A, &never).unwrap(),
            Pinned::New
        );
        assert_eq!(
            store.check_or_pin("10.0.0.5", ED_A, &never).unwrap(),
            Pinned::Known
        );
        assert_eq!(
            store.check_or_pin("10.0.0.5", ED_B, &never).unwrap(),
            Pinned::Mismatch { line: 1 }
        );
        // A key of another type is never pinned beside the first.
        assert_eq!(
            store.check_or_pin("10.0.0.5", RSA, &never).unwrap(),
            Pinned::Mismatch { line: 1 }
        );
        assert_eq!(
            store.pinned_types("10.0.0.5", &never).unwrap(),
            ["ssh-ed25519"]
        );
        std::fs::write(&store.path, "# mine, no newline").unwrap();
        assert_eq!(
            store.check_or_pin("10.0.0.6", ED_A, &never).unwrap(),
            Pinned::New
        );
        assert_eq!(
            std::fs::read_to_string(&store.path).unwrap(),
            format!("# mine, no newline\n10.0.0.6 {ED_A} rccr\n")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Real keys: [`follow`] finds a node's lines by fingerprint.
    const KEY_1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM3ydWu7xUA7woPO+Y8SDomB8yHokHbVqJQLopw5yGIU";
    const FP_1: &str = "SHA256:NrtS+86iW9P4e3JYsfgB+L/rmVwDVS7JiC+tvCPjisc";
    const KEY_2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPKHk60HXkrQ8dyN2BDdwIUGb81nHE6a+C0DeqdCkyO7";
    const FP_2: &str = "SHA256:EM5NF+eqDV46JWj34zyW6bzzr3t9qYFU7MJwnJziCXE";
    const KEY_3: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK+FkEt9U0lDdjk7gZ7yoaBS0q18ZOPnqhCGJZK04Ppw";

    fn named<'a>(name: &'a Hostname, ip: &str, fp: &'a Fingerprint) -> Named<'a> {
        Named {
            name,
            ip: ip.parse().unwrap(),
            host_key: fp,
        }
    }

    #[test]
    fn an_unpinned_address_leaves_rccrs_lines_only() {
        let content = format!(
            "10.0.0.5 {KEY_1} rccr\nnode-2,10.0.0.5,[10.0.0.5]:2222 {KEY_2} rccr\n\
             10.0.0.5 {KEY_3} mine\n10.0.0.6 {KEY_3} rccr"
        );
        let unpinned = String::from_utf8(unpin(content.as_bytes(), &["10.0.0.5".into()])).unwrap();
        assert_eq!(
            unpinned,
            format!(
                "node-2,[10.0.0.5]:2222 {KEY_2} rccr\n10.0.0.5 {KEY_3} mine\n10.0.0.6 {KEY_3} rccr"
            )
        );
        assert_eq!(
            unpin(content.as_bytes(), &["10.0.0.9".into()]),
            content.as_bytes()
        );
    }

    #[test]
    fn lines_name_the_node_and_follow_its_address() {
        let (node_1, node_2): (Hostname, Hostname) = ("node-1".into(), "node-2".into());
        let (fp1, fp2) = (FP_1.parse().unwrap(), FP_2.parse().unwrap());
        // First contact pinned the address; the user has lines of their own.
        let first = format!(
            "# mine\nlaptop {KEY_3}\n10.0.0.5 {KEY_1} rccr\n10.0.0.6 {KEY_2} rccr\n10.0.0.5 {KEY_1}"
        );
        // The nodes at these addresses, and the file once it names them.
        let at = |ip_1, ip_2| [named(&node_1, ip_1, &fp1), named(&node_2, ip_2, &fp2)];
        let naming = |ip_1: &str, ip_2: &str| {
            format!(
                "# mine\nlaptop {KEY_3}\nnode-1,{ip_1} {KEY_1} rccr\nnode-2,{ip_2} {KEY_2} rccr\n10.0.0.5 {KEY_1}"
            )
        };
        let nodes = at("10.0.0.5", "10.0.0.6");
        let named_once = follow_text(&first, &nodes, 22);
        assert_eq!(named_once, naming("10.0.0.5", "10.0.0.6"));
        assert_eq!(
            follow_text(&named_once, &nodes, 22),
            named_once,
            "not stable"
        );
        assert_eq!(
            check(&named_once, "NODE-1", KEY_1, &never),
            Pin::Match,
            "names match without regard to case, as in OpenSSH"
        );
        // node-1 moves to .9 and node-2 to node-1's old address: every rccr
        // line follows; the user's line is left as it was.
        let nodes = at("10.0.0.9", "10.0.0.5");
        let moved = follow_text(&named_once, &nodes, 22);
        assert_eq!(moved, naming("10.0.0.9", "10.0.0.5"));
        assert_eq!(check(&moved, "10.0.0.9", KEY_1, &never), Pin::Match);
        assert_eq!(check(&moved, "10.0.0.6", KEY_2, &never), Pin::Unknown);
        // A port other than 22 goes in brackets, names too.
        let on_2222 = follow_text(
            &format!("[10.0.0.5]:2222 {KEY_1} rccr\n"),
            &nodes[..1],
            2222,
        );
        assert_eq!(
            on_2222,
            format!("[node-1]:2222,[10.0.0.9]:2222 {KEY_1} rccr\n")
        );
        // The key pinned only on a hashed line of the user's (Debian's
        // ssh hashes by default) is found there too.
        let hashed = format!("|1|c2FsdA==|aGFzaA== {KEY_1} rccr\n");
        assert_eq!(
            follow_text(&hashed, &nodes[..1], 22),
            format!("{hashed}node-1,10.0.0.9 {KEY_1} rccr\n")
        );
        // A node named by an old address of its own is pinned by its address.
        let old_address: Hostname = "10.0.0.5".into();
        let nameless = [named(&old_address, "10.0.0.9", &fp1)];
        assert_eq!(
            follow_text(&format!("10.0.0.5 {KEY_1} rccr\n"), &nameless, 22),
            format!("10.0.0.9 {KEY_1} rccr\n")
        );
    }

    #[test]
    fn a_node_that_left_is_forgotten_and_the_users_lines_kept() {
        let fp1: Fingerprint = FP_1.parse().unwrap();
        let content = format!(
            "node-1,10.0.0.5 {KEY_1} rccr\n10.0.0.5 {KEY_1}\nnode-2,10.0.0.6 {KEY_2} rccr\n"
        );
        assert_eq!(
            forget_text(&content, &[&fp1]),
            format!("10.0.0.5 {KEY_1}\nnode-2,10.0.0.6 {KEY_2} rccr\n")
        );
        assert_eq!(forget_text(&content, &[]), content);
    }

    /// A line of the user's that is not UTF-8 is legal in OpenSSH's file:
    /// pinning, following and forgetting keep it byte for byte, and its
    /// pin still counts.
    #[test]
    fn the_users_lines_that_are_not_utf8_are_kept_byte_for_byte() {
        let dir = crate::fsutil::scratch::Dir::new("kh-bytes");
        let store = KnownHosts::new(dir.join("known_hosts"));
        let node_1: Hostname = "node-1".into();
        let fp1: Fingerprint = FP_1.parse().unwrap();
        let users = [
            b"# caf\xe9, Latin-1\n".to_vec(),
            [b"laptop ", KEY_3.as_bytes(), b" ren\xe9@caf\xe9\n"].concat(),
        ];
        let mut content = users[0].clone();
        content.extend_from_slice(format!("10.0.0.5 {KEY_1} rccr\n").as_bytes());
        content.extend_from_slice(&users[1]);
        std::fs::write(&store.path, &content).unwrap();
        let has_users_lines = |what: &str| {
            let now = std::fs::read(&store.path).unwrap();
            for line in &users {
                assert!(
                    now.windows(line.len()).any(|w| w == &line[..]),
                    "{what}: {:?} lost:\n{}",
                    String::from_utf8_lossy(line),
                    String::from_utf8_lossy(&now)
                );
            }
        };
        let laptop_key = |key| store.check_or_pin("laptop", key, &never).unwrap();
        assert_eq!(laptop_key(KEY_3), Pinned::Known);
        assert_eq!(laptop_key(KEY_1), Pinned::Mismatch { line: 3 });
        assert_eq!(
            store.check_or_pin("10.0.0.6", KEY_2, &never).unwrap(),
            Pinned::New
        );
        has_users_lines("pinned");
        let nodes = [named(&node_1, "10.0.0.9", &fp1)];
        assert!(store.follow(&nodes, 22).unwrap());
        has_users_lines("followed");
        assert!(store.forget(&[&fp1]).unwrap());
        has_users_lines("forgot");
        let mut left = users.concat();
        left.extend_from_slice(format!("10.0.0.6 {KEY_2} rccr\n").as_bytes());
        assert_eq!(std::fs::read(&store.path).unwrap(), left);
    }

    #[test]
    fn an_address_a_node_holds_leaves_the_lines_of_others() {
        let (node_1, node_2): (Hostname, Hostname) = ("node-1".into(), "node-2".into());
        let fp1: Fingerprint = FP_1.parse().unwrap();
        let fp2: Fingerprint = FP_2.parse().unwrap();
        // node-2 is switched off (its record comes last); node-1 took its address.
        let content = format!("node-1,10.0.0.5 {KEY_1} rccr\nnode-2,10.0.0.6 {KEY_2} rccr\n");
        let nodes = [
            named(&node_1, "10.0.0.6", &fp1),
            named(&node_2, "10.0.0.6", &fp2),
        ];
        assert_eq!(
            follow_text(&content, &nodes, 22),
            format!("node-1,10.0.0.6 {KEY_1} rccr\nnode-2 {KEY_2} rccr\n")
        );
        // A line of a key no node holds loses only the fields now taken.
        let content = format!("old,10.0.0.6,10.0.0.7 {KEY_3} rccr\n10.0.0.6 {KEY_3}\n");
        assert_eq!(
            follow_text(&content, &nodes[..1], 22),
            format!("old,10.0.0.7 {KEY_3} rccr\n10.0.0.6 {KEY_3}\n"),
            "the user's line is theirs, and node-1's key is pinned nowhere"
        );
    }

    /// Any mix of the user's lines and rccr's, and nodes that come and go:
    /// the user's lines survive byte for byte and in order, a second pass
    /// changes nothing, and every node whose key is pinned anywhere is
    /// pinned under its name and (for the first node to claim it) its
    /// address.
    #[test]
    fn following_keeps_the_users_lines_and_is_stable() {
        let names: [Hostname; 2] = ["node-1".into(), "node-2".into()];
        let fps: [Fingerprint; 2] = [FP_1.parse().unwrap(), FP_2.parse().unwrap()];
        let pieces = [
            format!("10.0.0.5 {KEY_1} rccr\n"),
            format!("node-1,10.0.0.6 {KEY_1} rccr\n"),
            format!("node-2,10.0.0.5 {KEY_2} rccr\n"),
            format!("gone,10.0.0.6 {KEY_3} rccr\n"),
            format!("10.0.0.6 {KEY_2}\n"),
            format!("laptop,10.0.0.5 {KEY_3} mine\n"),
            format!("|1|c2FsdA==|aGFzaA== {KEY_2}\n"),
            format!("@revoked * {KEY_3} rccr\n"),
            "# comment rccr\n".to_string(),
            "\n".to_string(),
        ];
        let ips = ["10.0.0.5", "10.0.0.6", "10.0.0.7"];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..2000 {
            let mut content: String = (0..next(7))
                .map(|_| pieces[next(pieces.len())].as_str())
                .collect();
            if next(4) == 0 {
                content.push_str(&format!("10.0.0.7 {KEY_3}"));
            }
            let nodes: Vec<Named> = (0..next(3))
                .map(|i| named(&names[i], ips[next(ips.len())], &fps[i]))
                .collect();
            let out = follow_text(&content, &nodes, 22);
            // Told apart here without Line::parse, which is under test.
            let rccrs = |l: &str| {
                !l.starts_with(['#', '@', '|']) && l.split_whitespace().nth(3) == Some(MARK)
            };
            let users: Vec<&str> = content
                .split_inclusive('\n')
                .filter(|l| !rccrs(l))
                .map(|l| l.trim_end_matches('\n'))
                .collect();
            let mut kept = out.split_inclusive('\n').map(|l| l.trim_end_matches('\n'));
            for line in &users {
                assert!(
                    kept.any(|k| k == *line),
                    "{line:?} lost:\n{content}->\n{out}"
                );
            }
            assert_eq!(follow_text(&out, &nodes, 22), out, "{content}");
            // A name or address a node claims is on rccr's lines of its key only.
            for (i, n) in nodes.iter().enumerate() {
                let first = nodes.iter().position(|m| m.ip == n.ip) == Some(i);
                let ip = n.ip.to_string();
                let claims = |f: &str| f == n.name.as_str() || (first && f == ip);
                for line in out.lines().filter(|l| rccrs(l)) {
                    let mut words = line.split_whitespace();
                    if words.next().unwrap().split(',').any(claims) {
                        assert!(line.contains([KEY_1, KEY_2][i]), "{line}:\n{out}");
                    }
                }
            }
            for (i, n) in nodes.iter().enumerate() {
                let key = [KEY_1, KEY_2][i];
                if !content.contains(key.split(' ').nth(1).unwrap()) {
                    continue;
                }
                assert_eq!(
                    check(&out, n.name, key, &never),
                    Pin::Match,
                    "{content}->\n{out}"
                );
                let first = nodes.iter().position(|m| m.ip == n.ip) == Some(i);
                if first {
                    assert_eq!(
                        check(&out, &n.ip.to_string(), key, &never),
                        Pin::Match,
                        "{content}->\n{out}"
                    );
                }
            }
        }
    }
}
