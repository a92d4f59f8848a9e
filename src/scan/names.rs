//! Hostnames: which ones we trust, how they are shown, whether they are
//! ours, and reading them over SSH with the temporary key.
//!
//! A hostname arrives from DNS or from a host's own `hostname` command, so
//! it is whatever the network says. It is kept as received (JSON escapes
//! it), shown with anything outside `[A-Za-z0-9._-]` replaced by `?`, never
//! handed to a shell, and can only match the filter if it is a valid
//! hostname: letters, digits, `-`, `_` and dots between labels of 1 to 63
//! bytes, 253 bytes in all.
use super::{Host, NameSource};
use crate::parallel;
use crate::ssh::{Connection, SshError};
use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// The longest hostname (RFC 1035: 255 bytes on the wire).
pub const MAX_HOSTNAME_LEN: usize = 253;
/// The user the temporary key logs in as.
pub const SSH_USER: &str = "root";
/// The command that prints a host's name: fixed text, nothing interpolated.
pub const HOSTNAME_COMMAND: &str = "hostname";
/// How long one host may take to connect, authenticate and answer: each
/// blocking step is bounded by this.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(5);
/// SSH logins in flight at once.
pub const SSH_PARALLEL: usize = 16;

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Whether `name` is a hostname we can show and match as it is.
pub fn is_valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_HOSTNAME_LEN
        && name
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63 && label.bytes().all(is_name_byte))
}

/// A name as received, if we keep it at all: empty or over-long names are
/// dropped.
pub fn accept(name: &str) -> Option<String> {
    (!name.is_empty() && name.len() <= MAX_HOSTNAME_LEN).then(|| name.to_string())
}

/// `name` safe for a terminal: every byte that cannot be in a hostname
/// (control characters, spaces, shell metacharacters, non-ASCII) becomes `?`.
pub fn display(name: &str) -> Cow<'_, str> {
    if name.bytes().all(|b| is_name_byte(b) || b == b'.') {
        return Cow::Borrowed(name);
    }
    Cow::Owned(
        name.chars()
            .map(|c| {
                if c.is_ascii() && (is_name_byte(c as u8) || c == '.') {
                    c
                } else {
                    '?'
                }
            })
            .collect(),
    )
}

/// Whether a valid `name` contains `filter`, ignoring ASCII case.
pub fn name_matches(name: &str, filter: &str) -> bool {
    if !is_valid_hostname(name) {
        return false;
    }
    let (name, filter) = (name.as_bytes(), filter.as_bytes());
    filter.is_empty()
        || name
            .windows(filter.len())
            .any(|w| w.eq_ignore_ascii_case(filter))
}

/// Whether `host` is ours: its name matches and, if we tried, our key
/// logged in.
pub fn matches(host: &Host, filter: &str) -> bool {
    host.login != Some(false)
        && host
            .hostname
            .as_deref()
            .is_some_and(|n| name_matches(n, filter))
}

/// Logs in to `ip` with `key` and returns what `hostname` prints.
pub fn read_hostname(ip: Ipv4Addr, key: &Path) -> Result<String, SshError> {
    let conn = Connection::open(SocketAddr::from((ip, 22)), SSH_TIMEOUT)?;
    conn.authenticate(SSH_USER, key)?;
    let out = conn.run(HOSTNAME_COMMAND, b"")?;
    if !out.success() {
        return Err(SshError::Protocol(format!(
            "hostname exited with status {}",
            out.status
        )));
    }
    Ok(out.text())
}

/// Reads the name of every host with port 22 open over SSH, several at a
/// time. A name read this way replaces the DNS one; a host that does not
/// let us in is marked so (`login: Some(false)`) and can no longer match.
pub fn ssh_names(hosts: &mut [Host], key: &Path, warnings: &mut Vec<String>) {
    let todo: Vec<usize> = (0..hosts.len()).filter(|&i| hosts[i].ssh).collect();
    let ips: Vec<Ipv4Addr> = todo.iter().map(|&i| hosts[i].ip).collect();
    let results = parallel::map(&ips, SSH_PARALLEL, |ip| read_hostname(*ip, key));
    for (result, &i) in results.into_iter().zip(&todo) {
        let host = &mut hosts[i];
        match result {
            Ok(name) => {
                host.login = Some(true);
                match accept(&name) {
                    Some(name) => {
                        host.hostname = Some(name);
                        host.name_source = Some(NameSource::Ssh);
                    }
                    None => warnings.push(format!(
                        "{}: the hostname it gave over SSH is empty or too long; ignored",
                        host.ip
                    )),
                }
            }
            Err(e) => {
                host.login = Some(false);
                let name = host.hostname.as_deref().map(display);
                let named = name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                warnings.push(format!(
                    "{}{named}: cannot log in with the temporary key ({e}); not treated as ours",
                    host.ip
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_hostnames() {
        for ok in [
            "ReCyClusteR-Target-3f2a1c",
            "node_1.lab",
            "a",
            &"x".repeat(63),
        ] {
            assert!(is_valid_hostname(ok), "{ok}");
        }
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(62),
        ]
        .join(".");
        assert_eq!(long.len(), 254);
        for bad in [
            "",
            ".",
            "a..b",
            ".a",
            "a.",
            "a b",
            "a;rm -rf /",
            "$(reboot)",
            "a\nb",
            "a\x1b[31m",
            "é",
            &"x".repeat(64),
            &long,
        ] {
            assert!(!is_valid_hostname(bad), "{bad:?}");
        }
    }

    #[test]
    fn display_replaces_what_a_terminal_or_shell_would_act_on() {
        assert_eq!(
            display("ReCyClusteR-Target-01.lab"),
            "ReCyClusteR-Target-01.lab"
        );
        assert_eq!(
            display("evil\x1b[2J;$(reboot) `x`|&"),
            "evil??2J???reboot???x???"
        );
        assert_eq!(display("tab\there\r\n"), "tab?here??");
        assert_eq!(display("naïve"), "na?ve");
    }

    #[test]
    fn accept_drops_empty_and_overlong_names() {
        assert_eq!(accept(""), None);
        assert_eq!(accept(&"a".repeat(254)), None);
        assert_eq!(accept(&"a".repeat(253)).map(|s| s.len()), Some(253));
        assert_eq!(accept("bad name").as_deref(), Some("bad name"));
    }

    #[test]
    fn matching_ignores_case_and_needs_a_valid_name() {
        assert!(name_matches("ReCyClusteR-Target-3f2a1c", "ReCyClusteR"));
        assert!(name_matches("recyclusteR-target-01.lab", "RECYCLUSTER"));
        assert!(!name_matches("kitchen-laptop", "ReCyClusteR"));
        assert!(!name_matches("ReCyClusteR;reboot", "ReCyClusteR"));
        assert!(!name_matches("ReCyClusteR Target", "ReCyClusteR"));
        assert!(name_matches("anything", ""));
        assert!(!name_matches("Re", "ReCyClusteR"));
    }

    #[test]
    fn a_refused_login_is_never_ours() {
        let mut host = Host::new("10.0.0.5".parse().unwrap(), None);
        host.hostname = Some("ReCyClusteR-Imposter".into());
        assert!(matches(&host, "ReCyClusteR"));
        host.login = Some(false);
        assert!(!matches(&host, "ReCyClusteR"));
        assert!(host.is_interesting());
    }
}
