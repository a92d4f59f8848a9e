//! SSH client sessions over libssh2 (the `ssh2` crate), wrapped so the rest
//! of rccr sees three things: open a connection, authenticate with a key
//! file, run a command with bytes on its stdin.
//!
//! Safety rules every caller relies on:
//! - Only public-key authentication is ever attempted: no password is sent.
//! - Every blocking step is bounded by the timeout given to [`Connection::open`]:
//!   a host that accepts TCP but never speaks SSH costs at most that long.
//! - Secrets go over stdin, never on a command line (`ps` shows those).
//! - Every word rccr puts on a remote command line goes through
//!   [`shell_quote`]; scripts run through [`script_command`].
pub mod pkcs1;

use ssh2::{ErrorCode, Session};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The key algorithms rccr makes keys of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Ed25519,
    Rsa,
}

impl std::str::FromStr for KeyType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ed25519" => Ok(KeyType::Ed25519),
            "rsa" => Ok(KeyType::Rsa),
            _ => Err(format!("unknown key type '{s}': use ed25519 or rsa")),
        }
    }
}

/// Quotes `s` as one POSIX sh word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command line that runs `script` (POSIX sh) with `args` as `$1...`:
/// `sh -c 'SCRIPT' rccr 'ARG'...`. The user's login shell parses it (POSIX
/// syntax works in ash, dash and bash).
pub fn script_command(script: &str, args: &[&str]) -> String {
    let mut command = format!("sh -c {} rccr", shell_quote(script));
    for arg in args {
        command.push(' ');
        command.push_str(&shell_quote(arg));
    }
    command
}

/// How connecting or talking to a node failed, in the terms callers act on.
#[derive(Debug)]
pub enum SshError {
    /// TCP connect failed or timed out: nothing answered on the port.
    Unreachable(io::Error),
    /// The port answered, but no SSH conversation completed in time.
    Timeout,
    /// The server refused every key we offered.
    Denied,
    /// Our own key file could not be read or parsed.
    KeyFile(String),
    /// Anything else libssh2 reported.
    Protocol(String),
}

impl fmt::Display for SshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshError::Unreachable(e) => write!(f, "unreachable: {e}"),
            SshError::Timeout => f.write_str("timed out"),
            SshError::Denied => f.write_str("key refused"),
            SshError::KeyFile(msg) => write!(f, "key file: {msg}"),
            SshError::Protocol(msg) => write!(f, "ssh: {msg}"),
        }
    }
}

// libssh2 error codes we tell apart (include/libssh2.h).
const LIBSSH2_ERROR_FILE: i32 = -16;
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_AUTHENTICATION_FAILED: i32 = -18;
const LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED: i32 = -19;
const LIBSSH2_ERROR_BANNER_RECV: i32 = -2;
const LIBSSH2_ERROR_SOCKET_RECV: i32 = -43;

impl From<ssh2::Error> for SshError {
    fn from(e: ssh2::Error) -> Self {
        match e.code() {
            ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT) => SshError::Timeout,
            ErrorCode::Session(LIBSSH2_ERROR_AUTHENTICATION_FAILED)
            | ErrorCode::Session(LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) => SshError::Denied,
            ErrorCode::Session(LIBSSH2_ERROR_FILE) => SshError::KeyFile(e.message().into()),
            ErrorCode::Session(LIBSSH2_ERROR_BANNER_RECV)
            | ErrorCode::Session(LIBSSH2_ERROR_SOCKET_RECV) => {
                SshError::Protocol(format!("connection closed ({})", e.message()))
            }
            _ => SshError::Protocol(e.message().into()),
        }
    }
}

impl From<io::Error> for SshError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => SshError::Timeout,
            _ => SshError::Protocol(e.to_string()),
        }
    }
}

/// What a remote command returned.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// stdout as text, trimmed: for one-line answers such as `hostname`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }

    /// What a failed command said: `exit N: ` and its last non-empty
    /// stderr line (the node's words: print them escaped).
    pub fn error_line(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        format!("exit {}: {}", self.status, line.trim())
    }
}

/// A server's host key in the forms we print and store.
#[derive(Clone, Debug)]
pub struct HostKey {
    /// `keytype base64`, as known_hosts and authorized_keys write keys.
    pub line: String,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub blob: Vec<u8>,
}

impl HostKey {
    /// Whether a hashed known_hosts line (`|1|salt|hash ...`) names the
    /// host at `ip`:`port`; libssh2 knows the HMAC-SHA1 scheme.
    pub fn hashed_line_names(&self, line: &str, ip: std::net::IpAddr, port: u16) -> bool {
        let Ok(session) = Session::new() else {
            return false;
        };
        let Ok(mut hosts) = session.known_hosts() else {
            return false;
        };
        if hosts
            .read_str(line, ssh2::KnownHostFileKind::OpenSSH)
            .is_err()
        {
            return false;
        }
        matches!(
            hosts.check_port(&ip.to_string(), port, &self.blob),
            ssh2::CheckResult::Match | ssh2::CheckResult::Mismatch
        )
    }
}

/// An SSH session that has completed its handshake.
pub struct Connection {
    session: Session,
}

impl Connection {
    /// Connects and completes the SSH handshake, all within `timeout`.
    pub fn open(addr: SocketAddr, timeout: Duration) -> Result<Connection, SshError> {
        let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(SshError::Unreachable)?;
        // A backstop under libssh2's own timeout: no read may block forever.
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let _ = tcp.set_nodelay(true);
        let mut session = Session::new()?;
        session.set_tcp_stream(tcp);
        session.set_timeout(timeout.as_millis().clamp(1, u32::MAX as u128) as u32);
        session.handshake()?;
        Ok(Connection { session })
    }

    /// Bounds every blocking step from now on by `timeout` (a command
    /// that takes longer than the handshake, such as a swarm join).
    pub fn set_timeout(&self, timeout: Duration) {
        self.session
            .set_timeout(timeout.as_millis().clamp(1, u32::MAX as u128) as u32);
    }

    /// The server's host key as its SSH wire blob.
    pub fn host_key(&self) -> Option<HostKey> {
        let (blob, _) = self.session.host_key()?;
        let key = ssh_key::PublicKey::from_bytes(blob).ok()?;
        Some(HostKey {
            line: key.to_openssh().ok()?,
            fingerprint: key.fingerprint(Default::default()).to_string(),
            blob: blob.to_vec(),
        })
    }

    /// Public-key authentication with an OpenSSH private key file.
    pub fn authenticate(&self, user: &str, private_key: &Path) -> Result<(), SshError> {
        if !private_key.is_file() {
            return Err(SshError::KeyFile(format!(
                "{}: no such file",
                private_key.display()
            )));
        }
        // An RSA key goes in as PKCS#1 PEM, or libssh2 signs without CRT
        // (four times the CPU per login; see pkcs1).
        let text = std::fs::read_to_string(private_key).unwrap_or_default();
        match pkcs1::from_openssh(&text) {
            Some(pem) => self
                .session
                .userauth_pubkey_memory(user, None, pem.as_str(), None)?,
            None => self
                .session
                .userauth_pubkey_file(user, None, private_key, None)?,
        }
        if self.session.authenticated() {
            Ok(())
        } else {
            Err(SshError::Denied)
        }
    }

    /// Runs `command` (a POSIX sh command line) with `stdin` as its input.
    pub fn run(&self, command: &str, stdin: &[u8]) -> Result<Output, SshError> {
        let mut channel = self.session.channel_session()?;
        channel.exec(command)?;
        finish(channel, Vec::new(), stdin)
    }

    /// Runs `script` (POSIX sh) with `args`, with `stdin` as its input.
    pub fn run_script(
        &self,
        script: &str,
        args: &[&str],
        stdin: &[u8],
    ) -> Result<Output, SshError> {
        self.run(&script_command(script, args), stdin)
    }

    /// Runs `command`, which first prints a head ending in `trailer` and
    /// then waits for its input; `respond` turns the head (without the
    /// trailer) into that input. One command and one round trip where a
    /// read and a write would take two. A command that exits without the
    /// trailer gets no input: `head` is `None` and its output says why.
    pub fn converse(
        &self,
        command: &str,
        trailer: &[u8],
        respond: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> Result<Conversation, SshError> {
        let mut channel = self.session.channel_session()?;
        channel.exec(command)?;
        let mut head = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        while !head.ends_with(trailer) {
            match channel.read(&mut buf)? {
                0 => {
                    return Ok(Conversation {
                        head: None,
                        output: finish(channel, head, b"")?,
                    })
                }
                n => head.extend_from_slice(&buf[..n]),
            }
        }
        head.truncate(head.len() - trailer.len());
        let input = respond(&head);
        Ok(Conversation {
            output: finish(channel, Vec::new(), &input)?,
            head: Some(head),
        })
    }
}

/// What [`Connection::converse`] heard: the head the command printed before
/// its input (if it got that far), and what it printed after.
pub struct Conversation {
    pub head: Option<Vec<u8>>,
    pub output: Output,
}

/// Sends `stdin`, reads the rest of a channel's output and its exit status.
fn finish(
    mut channel: ssh2::Channel,
    mut stdout: Vec<u8>,
    stdin: &[u8],
) -> Result<Output, SshError> {
    // A command that fails early exits without reading its input: that
    // is for its exit status to tell, not a transport error.
    if stdin.is_empty() || channel.write_all(stdin).is_ok() {
        let _ = channel.send_eof();
    }
    channel.read_to_end(&mut stdout)?;
    let mut stderr = Vec::new();
    channel.stderr().read_to_end(&mut stderr)?;
    channel.wait_close()?;
    Ok(Output {
        status: channel.exit_status()?,
        stdout,
        stderr,
    })
}

impl Drop for Connection {
    fn drop(&mut self) {
        let _ = self.session.disconnect(None, "rccr done", None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn script_commands_run_in_sh_with_their_arguments() {
        let command = script_command("printf '%s|' \"$@\"", &["a b", "it's", "$(x)"]);
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&command)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b|it's|$(x)|");
    }

    #[test]
    fn key_types_parse() {
        assert_eq!("rsa".parse::<KeyType>(), Ok(KeyType::Rsa));
        assert_eq!("ed25519".parse::<KeyType>(), Ok(KeyType::Ed25519));
        assert!("dsa".parse::<KeyType>().is_err());
    }
}
