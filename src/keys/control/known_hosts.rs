//! Host key pinning in OpenSSH's `~/.ssh/known_hosts` format, so that after
//! setup a plain `ssh -o StrictHostKeyChecking=yes root@node` trusts exactly
//! the keys rccr saw on first contact.
//!
//! Lines are `[marker] patterns keytype base64 [comment]`; patterns are
//! comma-separated, `[host]:port` for ports other than 22, or a hashed
//! `|1|salt|hash` entry (checked by the caller's `hashed_matches`, which
//! libssh2 answers). Markers (`@cert-authority`, `@revoked`) are not pins.
use crate::error::Error;
use crate::fsutil;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;

/// What known_hosts says about a host key.
#[derive(Debug, PartialEq, Eq)]
pub enum Pin {
    /// A line for this host holds this very key.
    Match,
    /// Lines for this host hold another key of the same type: refuse.
    Mismatch { line: usize },
    /// No line for this host and key type.
    Unknown,
}

/// The host field OpenSSH writes: `10.0.0.5`, or `[10.0.0.5]:2222`.
pub fn host_field(ip: IpAddr, port: u16) -> String {
    if port == 22 {
        ip.to_string()
    } else {
        format!("[{ip}]:{port}")
    }
}

/// Looks `host` (as [`host_field`] writes it) up with a key given as its
/// public-key line `keytype base64`.
pub fn check(content: &str, host: &str, key: &str, hashed_matches: &dyn Fn(&str) -> bool) -> Pin {
    let mut fields = key.split_whitespace();
    let (key_type, key_b64) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
    let mut mismatch = None;
    for (index, line) in content.lines().enumerate() {
        let mut parts = line.split_whitespace();
        let Some(patterns) = parts.next() else {
            continue;
        };
        if patterns.starts_with('#') || patterns.starts_with('@') {
            continue;
        }
        let (Some(line_type), Some(line_b64)) = (parts.next(), parts.next()) else {
            continue;
        };
        if line_type != key_type {
            continue;
        }
        let names_host = if patterns.starts_with("|1|") {
            hashed_matches(line)
        } else {
            patterns.split(',').any(|p| p == host)
        };
        if !names_host {
            continue;
        }
        if line_b64 == key_b64 {
            return Pin::Match;
        }
        mismatch.get_or_insert(index + 1);
    }
    match mismatch {
        Some(line) => Pin::Mismatch { line },
        None => Pin::Unknown,
    }
}

/// A known_hosts file shared by the threads of one run: checks and pins
/// go through one lock, and every pin is an atomic rewrite of the file.
pub struct KnownHosts {
    pub path: PathBuf,
    lock: Mutex<()>,
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
        // Another key type for the host is not a conflict (OpenSSH keeps both).
        assert_eq!(check(&content, "10.0.0.6", ED_A, &never), Pin::Unknown);
        assert_eq!(check(&content, "10.0.0.7", ED_A, &never), Pin::Unknown);
        // A port makes another host.
        assert_eq!(
            check(&content, "[10.0.0.5]:2222", ED_B, &never),
            Pin::Unknown
        );
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
