//! Host key pinning in OpenSSH's `~/.ssh/known_hosts` format, so that after
//! setup a plain `ssh -o StrictHostKeyChecking=yes root@node` trusts exactly
//! the keys rccr saw on first contact.
//!
//! Lines are `[marker] patterns keytype base64 [comment]`; patterns are
//! comma-separated, `[host]:port` for ports other than 22, or a hashed
//! `|1|salt|hash` entry (checked by the caller's `hashed_matches`, which
//! libssh2 answers). Markers (`@cert-authority`, `@revoked`) are not pins.
//!
//! A host is pinned whatever its key type: once a host has a line, a key
//! that no line of it holds is a mismatch, of its type or of another (a
//! man in the middle that offers ECDSA where Ed25519 was pinned is refused),
//! and connections offer only the pinned types ([`KnownHosts::pinned_types`]).
use crate::error::Error;
use crate::fsutil;
use crate::ssh::{self, Connection, HostKey, SshError};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
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

pub use crate::ssh::host_field;

/// The pin lines that name `host`: `(line number, key type, base64)`.
fn pins<'c>(
    content: &'c str,
    host: &'c str,
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
                patterns.split(',').any(|p| p == host)
            };
            names_host.then_some((index + 1, line_type, line_b64))
        })
}

/// Looks `host` (as [`host_field`] writes it) up with a key given as its
/// public-key line `keytype base64`.
pub fn check(content: &str, host: &str, key: &str, hashed_matches: &dyn Fn(&str) -> bool) -> Pin {
    let mut fields = key.split_whitespace();
    let (key_type, key_b64) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
    let mut mismatch = None;
    for (line, line_type, line_b64) in pins(content, host, hashed_matches) {
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
    let mut types: Vec<String> = Vec::new();
    for (_, line_type, _) in pins(content, host, hashed_matches) {
        if !types.iter().any(|t| t == line_type) {
            types.push(line_type.to_string());
        }
    }
    types
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

    fn read(&self) -> Result<String, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(Error::io(format!("cannot read {}", self.path.display()), e)),
        }
    }

    /// The key types pinned for `host`: what a connection to it may offer
    /// ([`crate::ssh::Connection::open_pinned`]); empty when it has no pin.
    pub fn pinned_types(
        &self,
        host: &str,
        hashed: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<String>, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        Ok(pinned_types(&self.read()?, host, hashed))
    }

    /// Connects to `ip`:`port` offering only its pinned host key types
    /// (any type for a host with no pin), within `timeout`.
    pub fn connect(&self, ip: IpAddr, port: u16, timeout: Duration) -> Result<Reached, Unreached> {
        let hashed = |line: &str| ssh::hashed_line_names(line, ip, port);
        let types = self
            .pinned_types(&host_field(ip, port), &hashed)
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
        Ok(Reached { conn, key })
    }

    /// [`KnownHosts::check`] of the key `ip`:`port` answered with.
    pub fn check_key(&self, ip: IpAddr, port: u16, key: &HostKey) -> Result<Pin, Error> {
        let hashed = |line: &str| ssh::hashed_line_names(line, ip, port);
        self.check(&host_field(ip, port), &key.line, &hashed)
    }

    /// [`KnownHosts::check_or_pin`] of the key `ip`:`port` answered with.
    pub fn check_or_pin_key(&self, ip: IpAddr, port: u16, key: &HostKey) -> Result<Pinned, Error> {
        let hashed = |line: &str| ssh::hashed_line_names(line, ip, port);
        self.check_or_pin(&host_field(ip, port), &key.line, &hashed)
    }

    /// What to say of a host whose `key` differs from the pin at `line`.
    pub fn mismatch(&self, key: &HostKey, line: usize) -> String {
        format!(
            "host key {} differs from the one pinned at {}:{line}",
            key.fingerprint,
            self.path.display()
        )
    }

    /// Checks `key` for `host` without pinning anything.
    pub fn check(
        &self,
        host: &str,
        key: &str,
        hashed: &dyn Fn(&str) -> bool,
    ) -> Result<Pin, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        Ok(check(&self.read()?, host, key, hashed))
    }

    /// Trust on first use: pins an unknown host's key, refuses a changed one.
    pub fn check_or_pin(
        &self,
        host: &str,
        key: &str,
        hashed: &dyn Fn(&str) -> bool,
    ) -> Result<Pinned, Error> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let content = self.read()?;
        match check(&content, host, key, hashed) {
            Pin::Match => Ok(Pinned::Known),
            Pin::Mismatch { line } => Ok(Pinned::Mismatch { line }),
            Pin::Unknown => {
                let mut updated = content;
                if !updated.is_empty() && !updated.ends_with('\n') {
                    updated.push('\n');
                }
                updated.push_str(&format!("{host} {key}\n"));
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
                }
                fsutil::write_atomic(&self.path, updated.as_bytes(), 0o644)?;
                Ok(Pinned::New)
            }
        }
    }
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

    #[test]
    fn host_fields_follow_openssh() {
        let ip: IpAddr = "10.0.0.5".parse().unwrap();
        assert_eq!(host_field(ip, 22), "10.0.0.5");
        assert_eq!(host_field(ip, 2222), "[10.0.0.5]:2222");
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
            format!("# mine, no newline\n10.0.0.6 {ED_A}\n")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
