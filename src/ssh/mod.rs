//! SSH client sessions over libssh2 (the `ssh2` crate), wrapped so the rest
//! of rccr sees three things: open a connection, authenticate with a key
//! file, run a command with bytes on its stdin.
//!
//! Safety rules every caller relies on:
//! - Only public-key authentication is ever attempted: no password is sent.
//! - Every blocking step up to a command (connect, handshake, login, opening
//!   a channel) is bounded by the timeout given to [`Connection::open`]: a
//!   host that accepts TCP but never speaks SSH costs at most that long.
//! - Secrets go over stdin, never on a command line (`ps` shows those).
//! - Every word rccr puts on a remote command line goes through
//!   [`shell_quote`]; scripts run through [`script_command`].
//! - Every read from a node is bounded in size and in time ([`Limits`],
//!   [`stream`]): a node that talks without end fails, with a reason. A
//!   command's output is waited for until its deadline, not the
//!   connection's timeout: a step may be silent as long as a slow
//!   `lbu commit` is, and no longer. Its input is sent, and its channel
//!   closed, within the same deadline. sshd does not end a command whose
//!   connection went: one rccr may give up on bounds itself on the node
//!   too ([`bounded_script_command`]).
//! - A host whose key is pinned is offered only the pinned key types
//!   ([`Connection::open_pinned`]): it cannot switch to another one.
//! - Everything a node sends passes a watchdog ([`watch`]) before libssh2,
//!   which keeps messages it does not know without a limit: the bytes read
//!   from a node never exceed what rccr has allowed so far (256 KiB for the
//!   handshake, as much for each login, twice a command's output bound and
//!   its channel's window for each command), and a step still under way a
//!   second past its deadline (the timeout, or the command's deadline) is
//!   cut off, however steadily the node talks.
pub mod pkcs1;
pub mod stream;
pub mod watch;

use ssh2::{ErrorCode, MethodType, Session};
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use stream::ReadError;

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

/// The POSIX sh that runs a script (`$2`, with the rest as `$1...`) for
/// `$1` seconds at most ([`bounded_script_command`]). A `sleep` is the
/// timer; the script runs beside it, with the input, and stops the timer
/// when it exits. Time up, every process of the command's group gets
/// SIGKILL, when the group is the command's own: this shell leads it (a
/// command rccr runs here), or its login shell does as the leader of a
/// session (OpenSSH's sshd makes each command a session of its own;
/// dropbear leaves it in the session of the server process of its
/// connection, which this then ends too: that process serves rccr's
/// connection alone, which rccr has given up on); otherwise only the
/// script's shell. Its names start `rccr_`, out of the script's way;
/// the EXIT trap is taken (a script that sets one of its own keeps the
/// command running until its bound).
pub const BOUNDED: &str = r#"rccr_limit=$1 rccr_script=$2
shift 2
exec 3<&0
sleep "$rccr_limit" &
rccr_timer=$!
(trap 'kill -s KILL "$rccr_timer"' EXIT; eval "$rccr_script") <&3 3<&- &
rccr_work=$!
exec 3<&-
if wait "$rccr_timer" 2>/dev/null; then
	read -r rccr_stat </proc/$$/stat
	set -- ${rccr_stat##*) }
	if [ "$3" = $$ ] || { [ "$3" = "$PPID" ] && [ "$3" = "$4" ]; }; then kill -s KILL 0; fi
	kill -s KILL "$rccr_work"
fi
wait "$rccr_work"
"#;

/// The arguments of [`BOUNDED`] that run `script` with `args` for `limit`
/// (whole seconds, at least one).
pub fn bounded_args(limit: Duration, script: &str, args: &[&str]) -> Vec<String> {
    let seconds = limit.as_secs() + u64::from(limit.subsec_nanos() > 0);
    let mut argv = vec![seconds.max(1).to_string(), script.to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv
}

/// [`script_command`] for a script that also bounds itself on the node
/// ([`BOUNDED`]): past `limit`, it and everything it started are killed.
/// sshd does not end a command whose connection went: without this, a
/// command rccr gave up on (a hung `docker`) runs on for as long as it
/// hangs.
pub fn bounded_script_command(limit: Duration, script: &str, args: &[&str]) -> String {
    let argv = bounded_args(limit, script, args);
    script_command(
        BOUNDED,
        &argv.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// A key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and
/// base64. Nothing else can be held, so a fingerprint never carries a
/// separator into a file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

checked_string!(Fingerprint);

impl Fingerprint {
    /// The longest base64 part accepted (SHA-256 takes 43 characters).
    const MAX_B64: usize = 64;

    pub fn parse(s: &str) -> Option<Fingerprint> {
        let b64 = s.strip_prefix("SHA256:")?;
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
        (!b64.is_empty() && b64.len() <= Self::MAX_B64 && b64.bytes().all(ok))
            .then(|| Fingerprint(s.to_string()))
    }

    /// The fingerprint of a public key.
    pub fn of(key: &ssh_key::PublicKey) -> Fingerprint {
        Fingerprint(key.fingerprint(Default::default()).to_string())
    }
}

/// `("ED25519", "SHA256:...")` for a `.pub` line, as `ssh-keygen -l` shows
/// it; any key type, since only the blob is hashed.
pub fn line_fingerprint(pub_line: &str) -> Option<(String, String)> {
    let mut words = pub_line.split_whitespace();
    let (kind, blob) = (words.next()?, crate::base64::decode(words.next()?)?);
    let digest: [u8; 32] = ssh_key::HashAlg::Sha256.digest(&blob).try_into().ok()?;
    let label = match kind {
        "ssh-ed25519" => "ED25519".to_string(),
        "ssh-rsa" => "RSA".to_string(),
        k if k.starts_with("ecdsa-") => "ECDSA".to_string(),
        k if k.starts_with("sk-ssh-ed25519") => "ED25519-SK".to_string(),
        k if k.starts_with("sk-ecdsa") => "ECDSA-SK".to_string(),
        k => k.to_ascii_uppercase(),
    };
    Some((label, ssh_key::Fingerprint::Sha256(digest).to_string()))
}

impl std::str::FromStr for Fingerprint {
    type Err = ();

    fn from_str(s: &str) -> Result<Fingerprint, ()> {
        Fingerprint::parse(s).ok_or(())
    }
}

/// How much a remote command may send back, and for how long it may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of stdout (and, separately, of stderr).
    pub max_output: usize,
    /// From the command's start to its exit status.
    pub deadline: Duration,
}

impl Limits {
    /// What a command gets unless its caller says otherwise: room for a
    /// 1 MiB `authorized_keys` and its protocol lines, two minutes.
    pub const DEFAULT: Limits = Limits {
        max_output: (1 << 20) + 4096,
        deadline: Duration::from_secs(120),
    };
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
    /// No key exchange: for a pinned host, it offers none of the pinned
    /// host key types.
    KeyExchange(String),
    /// A command sent more than [`Limits::max_output`] bytes.
    TooLarge(usize),
    /// A command ran past [`Limits::deadline`] (seconds).
    Deadline(u64),
    /// The node sent more bytes than all rccr had asked of it allowed
    /// ([`watch`]): the connection was cut.
    Flood(u64),
    /// The watch had cut the connection, for this reason, before the
    /// step that failed began: the step failed only for that.
    CutBefore(watch::Cut),
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
            SshError::KeyExchange(msg) => write!(f, "no key exchange: {msg}"),
            SshError::TooLarge(limit) => {
                write!(f, "the node sent more than {limit} bytes; cut off")
            }
            SshError::Deadline(secs) => {
                write!(f, "the command did not finish within {secs} s; cut off")
            }
            SshError::Flood(limit) => {
                write!(f, "the node sent more than {limit} bytes; cut off")
            }
            SshError::CutBefore(cut) => {
                let why = match cut {
                    watch::Cut::Flood(limit) => format!("the node sent more than {limit} bytes"),
                    watch::Cut::Overdue => {
                        "an earlier command or login ran past its deadline".into()
                    }
                };
                write!(
                    f,
                    "the connection was cut off earlier ({why}): it is of no more use; \
                     run rccr again"
                )
            }
            SshError::Protocol(msg) => write!(f, "ssh: {msg}"),
        }
    }
}

// libssh2 error codes we tell apart (include/libssh2.h).
const LIBSSH2_ERROR_FILE: i32 = -16;
const LIBSSH2_ERROR_KEX_FAILURE: i32 = -5;
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
            ErrorCode::Session(LIBSSH2_ERROR_KEX_FAILURE) => {
                SshError::KeyExchange(e.message().into())
            }
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

impl SshError {
    /// A bounded read's error under `limits`.
    fn from_read(e: ReadError<stream::IoError>, limits: &Limits) -> SshError {
        match e {
            ReadError::TooLarge(limit) => SshError::TooLarge(limit),
            ReadError::Io(e) => SshError::from_stream(e, limits),
        }
    }

    /// A command's stream error under `limits`: a timeout is its deadline's
    /// (the stream waits until then and no longer).
    fn from_stream(stream::IoError(e): stream::IoError, limits: &Limits) -> SshError {
        match e.kind() {
            io::ErrorKind::TimedOut => SshError::Deadline(limits.deadline.as_secs()),
            _ => SshError::from(e),
        }
    }
}

/// The host key algorithms libssh2 may negotiate for a key type as
/// known_hosts names it; `None` for a type libssh2 cannot verify.
pub fn host_key_algorithms(key_type: &str) -> Option<&'static str> {
    Some(match key_type {
        "ssh-ed25519" => "ssh-ed25519",
        "ssh-rsa" => "rsa-sha2-512,rsa-sha2-256,ssh-rsa",
        "ecdsa-sha2-nistp256" => "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384" => "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521" => "ecdsa-sha2-nistp521",
        _ => return None,
    })
}

/// The host field OpenSSH writes in known_hosts: `10.0.0.5`, or
/// `[10.0.0.5]:2222`.
pub fn host_field(ip: std::net::IpAddr, port: u16) -> String {
    named_field(&ip.to_string(), port)
}

/// The host field of a name or address: `node-1`, or `[node-1]:2222`.
pub fn named_field(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Whether a hashed known_hosts line (`|1|salt|hash ...`) names the host at
/// `ip`:`port` (as OpenSSH does: `[ip]:port` off port 22); libssh2 knows the
/// HMAC-SHA1 scheme. Needs no host key, so it can be asked before connecting.
pub fn hashed_line_names(line: &str, ip: std::net::IpAddr, port: u16) -> bool {
    hashed_line_names_field(line, &host_field(ip, port))
}

/// Whether a hashed known_hosts line names `field`, a host field as
/// OpenSSH looks it up (`10.0.0.5`, `node-1`, `[node-1]:2222`).
pub fn hashed_line_names_field(line: &str, field: &str) -> bool {
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
    // With no key type given, libssh2 compares the keys of every line
    // that names the host: a key that matches none still finds the name.
    // No port: libssh2 would also try the bare address for another port.
    matches!(
        hosts.check(field, b"rccr: no such key"),
        ssh2::CheckResult::Match | ssh2::CheckResult::Mismatch
    )
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
    /// stderr line, cut to [`stream::MAX_TEXT`] bytes (the node's words:
    /// print them escaped).
    pub fn error_line(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        stream::bounded(&format!("exit {}: {}", self.status, line.trim()))
    }
}

/// The fewest bits of an RSA key rccr makes, or trusts as a host key:
/// NIST deprecates fewer than 2048 (SP 800-131A), and OpenSSH 9.1 refuses
/// fewer than 1024 (`RequiredRSASize`).
pub const MIN_RSA_BITS: usize = 2048;

/// A server's host key in the forms we print and store.
#[derive(Clone, Debug)]
pub struct HostKey {
    /// `keytype base64`, as known_hosts and authorized_keys write keys.
    pub line: String,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: Fingerprint,
    pub blob: Vec<u8>,
}

impl HostKey {
    /// Why the key is too weak to trust whatever its pins say (an RSA key
    /// of fewer than [`MIN_RSA_BITS`] bits): then none of our keys goes to
    /// the host, and its key is not pinned.
    pub fn weakness(&self) -> Option<String> {
        let key = ssh_key::PublicKey::from_bytes(&self.blob).ok()?;
        let bits = weak_rsa_bits(key.key_data())?;
        Some(format!(
            "host key {} is RSA of {bits} bits, fewer than {MIN_RSA_BITS}: too weak to trust, \
             no key of ours was offered; {WEAK_HOST_KEY_REMEDY}",
            self.fingerprint
        ))
    }
}

/// What to do about a host key [`HostKey::weakness`] refuses: the one
/// wording setup, status, keyrotate and `keys status` give.
pub const WEAK_HOST_KEY_REMEDY: &str = "regenerate the node's host keys: reboot an RCCR \
     node (rccr-init replaces a weak RSA host key before sshd starts); \
     elsewhere run ssh-keygen -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key, \
     remove the weak RSA key and restart sshd";

/// The bits of `key` when it is RSA of fewer than [`MIN_RSA_BITS`]: too
/// weak to trust as a host key (and rccr-init replaces it).
pub fn weak_rsa_bits(key: &ssh_key::public::KeyData) -> Option<usize> {
    let bits = bit_length(key.rsa()?.n.as_positive_bytes()?);
    (bits < MIN_RSA_BITS).then_some(bits)
}

/// The bit length of a big-endian unsigned number.
pub fn bit_length(n: &[u8]) -> usize {
    match n.iter().position(|b| *b != 0) {
        Some(i) => (n.len() - i) * 8 - n[i].leading_zeros() as usize,
        None => 0,
    }
}

/// The bytes a node may send for the handshake (a real one takes a few
/// KB: banners, the key exchange, the host key), and for each login (the
/// server's answers and a banner it may show).
const HANDSHAKE_BYTES: u64 = 256 << 10;
const LOGIN_BYTES: u64 = 256 << 10;

/// libssh2's channel window (`LIBSSH2_CHANNEL_WINDOW_DEFAULT`): what a
/// node may send on a channel beyond what rccr has read of it.
const CHANNEL_WINDOW: u64 = 2 << 20;

/// The bytes a node may send for a command within `limits` given `input`
/// bytes: its stdout and its stderr, each up to the bound, what is in
/// flight when rccr stops reading (a command over its bound), packet
/// framing, and the window adjustments that its input earns.
fn command_bytes(limits: &Limits, input: usize) -> u64 {
    let output = 2 * limits.max_output as u64 + CHANNEL_WINDOW;
    output + output / 8 + (256 << 10) + input as u64 / 64
}

/// An SSH session that has completed its handshake.
pub struct Connection {
    // Dropped before the watch: the pump ends when libssh2's end closes.
    session: Session,
    watch: watch::Watch,
    limits: Limits,
    /// A command's exchange ended with a packet half sent (its input, its
    /// end, a window adjustment): libssh2 refuses every other packet until
    /// that one goes, so every later call (a command, the channel's close,
    /// the disconnect) would wait out its timeout. Of no more use.
    wedged: std::sync::atomic::AtomicBool,
}

impl Connection {
    /// Connects and completes the SSH handshake, all within `timeout`.
    pub fn open(addr: SocketAddr, timeout: Duration) -> Result<Connection, SshError> {
        Connection::open_pinned(addr, timeout, &[])
    }

    /// [`Connection::open`] for a host whose key is pinned with these key
    /// types (known_hosts' names): libssh2 is offered only their
    /// algorithms, so the host cannot answer with a key of another type.
    /// No types (a host seen for the first time): any type.
    pub fn open_pinned(
        addr: SocketAddr,
        timeout: Duration,
        pinned_types: &[&str],
    ) -> Result<Connection, SshError> {
        let tcp = TcpStream::connect_timeout(&addr, timeout).map_err(SshError::Unreachable)?;
        let _ = tcp.set_nodelay(true);
        // libssh2 talks to the node through the watch's pump (the TCP
        // socket is its, non-blocking). Its sockets and thread not had
        // (descriptors used up) fail as the connect would have.
        let (watch, socket) =
            watch::Watch::start(tcp, HANDSHAKE_BYTES).map_err(SshError::Unreachable)?;
        // A backstop under libssh2's own timeout: no read may block forever.
        socket.set_read_timeout(Some(timeout))?;
        socket.set_write_timeout(Some(timeout))?;
        let mut session = Session::new()?;
        session.set_tcp_stream(socket);
        session.set_timeout(millis(timeout));
        if !pinned_types.is_empty() {
            let algorithms: Vec<&str> = pinned_types
                .iter()
                .filter_map(|t| host_key_algorithms(t))
                .collect();
            if algorithms.is_empty() {
                return Err(SshError::KeyExchange(format!(
                    "pinned host key type(s) {} not supported",
                    pinned_types.join(", ")
                )));
            }
            session.method_pref(MethodType::HostKey, &algorithms.join(","))?;
        }
        let step = watch.step(0, Some(Instant::now() + timeout));
        let shaken = session
            .handshake()
            .map_err(|e| cut_error(&step, e.into(), SshError::Timeout));
        drop(step);
        shaken?;
        Ok(Connection {
            session,
            watch,
            limits: Limits::DEFAULT,
            wedged: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A login's step: its share of bytes, and the connection's timeout
    /// (0: none) as its deadline.
    fn login_step(&self) -> watch::Step<'_> {
        let timeout = self.session.timeout();
        let due = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout.into()));
        self.watch.step(LOGIN_BYTES, due)
    }

    /// A login's libssh2 error, or why the watch cut the connection under
    /// its `step` (libssh2 says only that it closed).
    fn login_cut(step: &watch::Step<'_>, e: ssh2::Error) -> SshError {
        cut_error(step, e.into(), SshError::Timeout)
    }

    /// Bounds every later command's output and run time.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Bounds every blocking step from now on by `timeout` (a command
    /// that takes longer than the handshake, such as a swarm join).
    pub fn set_timeout(&self, timeout: Duration) {
        self.session.set_timeout(millis(timeout));
    }

    /// The server's host key as its SSH wire blob.
    pub fn host_key(&self) -> Option<HostKey> {
        let (blob, _) = self.session.host_key()?;
        let key = ssh_key::PublicKey::from_bytes(blob).ok()?;
        Some(HostKey {
            line: key.to_openssh().ok()?,
            fingerprint: Fingerprint::of(&key),
            blob: blob.to_vec(),
        })
    }

    /// Public-key authentication with a private key held in memory (an
    /// OpenSSH or PEM text), never written to disk.
    pub fn authenticate_with(&self, user: &str, private_key: &str) -> Result<(), SshError> {
        let step = self.login_step();
        self.session
            .userauth_pubkey_memory(user, None, private_key, None)
            .map_err(|e| Connection::login_cut(&step, e))?;
        if self.session.authenticated() {
            Ok(())
        } else {
            Err(SshError::Denied)
        }
    }

    /// Public-key authentication with an OpenSSH private key file.
    pub fn authenticate(&self, user: &str, private_key: &Path) -> Result<(), SshError> {
        let step = self.login_step();
        if !private_key.is_file() {
            return Err(SshError::KeyFile(format!(
                "{}: no such file",
                private_key.display()
            )));
        }
        // A key others may read or write is not used, as ssh does not. Its
        // bytes, and the PEM made of them, are wiped when they go, on every
        // path. Not the copies others make: the file read's buffer as it
        // grew, and the C string ssh2 hands libssh2.
        let text = pkcs1::Secret::new(
            crate::fsutil::read_trusted_if_any(private_key, crate::fsutil::Trust::Secret)
                .map_err(key_file_error)?
                .unwrap_or_default(),
        );
        // An RSA key goes in as PKCS#1 PEM, or libssh2 signs without CRT
        // (four times the CPU per login; see pkcs1).
        match pkcs1::from_openssh(text.as_str()) {
            Some(pem) => self
                .session
                .userauth_pubkey_memory(user, None, pem.as_str(), None),
            None => self
                .session
                .userauth_pubkey_file(user, None, private_key, None),
        }
        .map_err(|e| Connection::login_cut(&step, e))?;
        if self.session.authenticated() {
            Ok(())
        } else {
            Err(SshError::Denied)
        }
    }

    /// Runs `command` (a POSIX sh command line) with `stdin` as its input,
    /// within the connection's [`Limits`]. The command must read all of its
    /// input before it closes both its stdout and stderr: once both have
    /// ended, input not yet sent is dropped, and no end of it is sent
    /// ([`stream::exchange`]).
    pub fn run(&self, command: &str, stdin: &[u8]) -> Result<Output, SshError> {
        self.run_within(command, stdin, &self.limits)
    }

    /// [`Connection::run`] within `limits` instead of the connection's: a
    /// shared connection whose commands' output sizes differ.
    pub fn run_within(
        &self,
        command: &str,
        stdin: &[u8],
        limits: &Limits,
    ) -> Result<Output, SshError> {
        self.exec(command, limits, stdin.len(), |channel, deadline| {
            finish(
                self,
                channel,
                (Vec::new(), Vec::new()),
                stdin,
                limits,
                deadline,
            )
        })
    }

    /// Runs `command` and `talk`s to it over its channel, which is closed
    /// within the command's deadline (`limits`'), like everything else the
    /// command takes: past it, a node that stopped reading, or whose
    /// command never exits, held the close for the connection's timeout.
    /// The watch allows the node the command's share of bytes
    /// ([`command_bytes`], with `input` bytes of input), and cuts it off
    /// a connection's timeout (opening the channel, closing it) past its
    /// deadline.
    fn exec<T>(
        &self,
        command: &str,
        limits: &Limits,
        input: usize,
        talk: impl FnOnce(&mut ssh2::Channel, Instant) -> Result<T, SshError>,
    ) -> Result<T, SshError> {
        if self.wedged() {
            return Err(SshError::Protocol(
                "an earlier command on this connection left a packet half sent (the node \
                 stopped taking them): the connection is of no more use; run rccr again"
                    .into(),
            ));
        }
        let deadline = Instant::now() + limits.deadline;
        let saved = self.session.timeout();
        let due = deadline + Duration::from_millis(saved.into());
        let step = self.watch.step(command_bytes(limits, input), Some(due));
        let cut = |e: SshError| cut_error(&step, e, SshError::Deadline(limits.deadline.as_secs()));
        let mut channel = self.session.channel_session().map_err(|e| cut(e.into()))?;
        channel.exec(command).map_err(|e| cut(e.into()))?;
        let result = talk(&mut channel, deadline).map_err(cut);
        // No longer than the connection's timeout either (0: none), as
        // before: a command cut off early (too much output) is not given
        // the rest of its deadline to close.
        let close = match saved {
            // A close behind a half-sent packet never goes.
            _ if self.wedged() => 1,
            0 => left(deadline),
            saved => saved.min(left(deadline)),
        };
        self.session.set_timeout(close);
        drop(channel);
        self.session.set_timeout(saved);
        result
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
    /// The head, like the output, is bounded by the connection's [`Limits`].
    pub fn converse(
        &self,
        command: &str,
        trailer: &[u8],
        respond: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> Result<Conversation, SshError> {
        let limits = &self.limits;
        // Its input is not known yet: the window adjustments it earns
        // fit in the share's slack (OpenSSH sends one per 96 KiB taken).
        self.exec(command, limits, 0, |channel, deadline| {
            // stderr is read with the head, or a command that writes more
            // of it than the channel's window first never prints the head.
            let (mut head, mut stderr) = (Vec::new(), Vec::new());
            let found = Unblocked::new(self, channel).exchange(
                None,
                [&mut head, &mut stderr],
                Some(trailer),
                (limits, deadline),
            )?;
            if !found {
                return Ok(Conversation {
                    head: None,
                    output: finish(self, channel, (head, stderr), b"", limits, deadline)?,
                });
            }
            head.truncate(head.len() - trailer.len());
            let input = respond(&head);
            Ok(Conversation {
                output: finish(
                    self,
                    channel,
                    (Vec::new(), stderr),
                    &input,
                    limits,
                    deadline,
                )?,
                head: Some(head),
            })
        })
    }
}

/// The error of a `step` that failed with `e`: why the watch cut the
/// connection under it if it did (`overdue` for a step past its
/// deadline); a cut before it began is told as that, not as the step's
/// own (a later command on a kept connection never ran).
fn cut_error(step: &watch::Step<'_>, e: SshError, overdue: SshError) -> SshError {
    if let Some(cut) = step.cut_before() {
        return SshError::CutBefore(cut);
    }
    match step.cut() {
        Some(watch::Cut::Flood(limit)) => SshError::Flood(limit),
        Some(watch::Cut::Overdue) => overdue,
        None => e,
    }
}

/// libssh2's timeout in milliseconds: at least 1 (0 would wait for ever).
fn millis(timeout: Duration) -> u32 {
    timeout.as_millis().clamp(1, u32::MAX as u128) as u32
}

/// libssh2's timeout for what is left until `deadline`.
fn left(deadline: Instant) -> u32 {
    millis(deadline.saturating_duration_since(Instant::now()))
}

/// A command's channel in its session set non-blocking for as long as
/// this lives (and set back when it is dropped, whatever happened):
/// stdout, stderr and the input go at once ([`stream::exchange`]), and a
/// wait is for the session's socket, as libssh2 says it is blocked.
struct Unblocked<'s, 'c> {
    session: &'s Session,
    channel: &'c mut ssh2::Channel,
    was_blocking: bool,
    /// The connection's mark that a packet was left half sent.
    wedged: &'s std::sync::atomic::AtomicBool,
}

impl<'s, 'c> Unblocked<'s, 'c> {
    fn new(conn: &'s Connection, channel: &'c mut ssh2::Channel) -> Self {
        let session = &conn.session;
        let was_blocking = session.is_blocking();
        session.set_blocking(false);
        Unblocked {
            session,
            channel,
            was_blocking,
            wedged: &conn.wedged,
        }
    }

    /// [`stream::exchange`] over this channel, its errors in `limits`' terms.
    fn exchange(
        &mut self,
        input: stream::Input<'_>,
        outs: [&mut Vec<u8>; 2],
        trailer: Option<&[u8]>,
        (limits, deadline): (&Limits, Instant),
    ) -> Result<bool, SshError> {
        stream::exchange(self, input, outs, limits.max_output, trailer, deadline)
            .map_err(|e| SshError::from_read(e, limits))
    }
}

impl stream::Duplex for Unblocked<'_, '_> {
    fn read(&mut self, stream: usize, buf: &mut [u8]) -> io::Result<usize> {
        let id = if stream == 0 {
            0
        } else {
            ssh2::EXTENDED_DATA_STDERR
        };
        io::Read::read(&mut self.channel.stream(id), buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut *self.channel, buf)
    }

    fn send_eof(&mut self) -> io::Result<()> {
        Ok(self.channel.send_eof()?)
    }

    fn ready(&self, writing: bool) -> bool {
        // Not while a send waits for the socket (a window adjustment a read
        // owes first, a packet of the input): that is the wait's to see.
        // Else data for either stream taken in (libssh2's queue), the end
        // of the channel (libssh2's eof is true only with no data queued),
        // or a window opened for the input.
        !sends_pending(self.session)
            && (self.channel.read_window().available > 0
                || self.channel.eof()
                || (writing && self.channel.write_window().remaining > 0))
    }

    fn wait(&mut self, most: Duration) -> io::Result<()> {
        use std::os::unix::io::AsRawFd;
        let events = match self.session.block_directions() {
            ssh2::BlockDirections::Outbound => crate::sys::POLLOUT,
            ssh2::BlockDirections::Both => crate::sys::POLLIN | crate::sys::POLLOUT,
            // Inbound, or none said: what the channel waits for is data.
            _ => crate::sys::POLLIN,
        };
        // Whole milliseconds, rounded up: no busy wait for the last one.
        let ms = most.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let fd = self.session.as_raw_fd();
        crate::sys::poll(&mut [crate::sys::poll_fd(fd, events)], ms)?;
        Ok(())
    }
}

impl Drop for Unblocked<'_, '_> {
    fn drop(&mut self) {
        // libssh2 says it waits to send only while a packet is half sent
        // (a piece of the input, its end, a window adjustment a read
        // owed), and the send that ends it says so no more.
        if sends_pending(self.session) {
            self.wedged
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.session.set_blocking(self.was_blocking);
    }
}

/// Why the private key file could not be read. Out of file descriptors
/// is no fault of the key, and is told as a socket that could not be
/// opened is (a login takes three: the socket, the watch's pair), which
/// callers that run many logins at once try again one at a time.
fn key_file_error(e: crate::error::Error) -> SshError {
    match e {
        crate::error::Error::Io { source, .. }
            if matches!(source.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) =>
        {
            SshError::Unreachable(source)
        }
        e => SshError::KeyFile(e.to_string()),
    }
}

/// Whether libssh2 holds a packet half sent, waiting for the socket.
fn sends_pending(session: &Session) -> bool {
    matches!(
        session.block_directions(),
        ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
    )
}

/// Sends `stdin` while reading the rest of a channel's output (within the
/// limits, after what `stdout` and `stderr` hold already), then its exit
/// status.
fn finish(
    conn: &Connection,
    channel: &mut ssh2::Channel,
    (mut stdout, mut stderr): (Vec<u8>, Vec<u8>),
    stdin: &[u8],
    limits: &Limits,
    deadline: Instant,
) -> Result<Output, SshError> {
    // The input goes in within the deadline, as the output comes out: a
    // node that stops taking it (a full window it never adjusts) is cut
    // off then, like one that stops talking. A command that fails early
    // exits without reading its input: that is for its exit status to
    // tell, not a transport error.
    Unblocked::new(conn, channel).exchange(
        Some(stdin),
        [&mut stdout, &mut stderr],
        None,
        (limits, deadline),
    )?;
    channel.wait_close()?;
    // sshd sends `exit-signal` instead of `exit-status` for a command
    // killed by a signal (the OOM killer, a shutdown), which libssh2 leaves
    // at 0: a half-done step would pass for done.
    let status = match channel.exit_signal()?.exit_signal {
        Some(name) => killed_status(&name),
        None => channel.exit_status()?,
    };
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// The status a shell gives a command killed by the signal `name` (as
/// SSH names it, `KILL`): 128 and its number, 255 for a name not known.
fn killed_status(name: &str) -> i32 {
    const NUMBERED: [&str; 15] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "", "", "KILL", "", "SEGV", "", "PIPE",
        "ALRM", "TERM",
    ];
    NUMBERED
        .iter()
        .position(|n| !n.is_empty() && *n == name)
        .map_or(255, |i| 129 + i as i32)
}

/// What [`Connection::converse`] heard: the head the command printed before
/// its input (if it got that far), and what it printed after.
pub struct Conversation {
    pub head: Option<Vec<u8>>,
    pub output: Output,
}

impl Connection {
    /// Whether a command left a packet of its input half sent.
    fn wedged(&self) -> bool {
        self.wedged.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Behind a half-sent packet the disconnect would wait out the
        // timeout: the watch closes the socket instead.
        if !self.wedged() {
            let _ = self.session.disconnect(None, "rccr done", None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command on a connection cut off under an earlier step says so,
    /// with that step's reason: before, it told the reason as its own (a
    /// command that never ran "did not finish within 5 s").
    #[test]
    fn a_step_after_a_cut_says_the_connection_was_cut_off_earlier() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut node, _) = listener.accept().unwrap();
        let (watch, mut socket) = watch::Watch::start(tcp, 0).unwrap();
        let handshake = watch.step(1000, Some(Instant::now() + Duration::from_secs(3600)));
        // A flood: the pump cuts the connection, and libssh2's end closes.
        let _ = node.write_all(&[b'x'; 4096]);
        let _ = socket.read_to_end(&mut Vec::new());
        let closed = || SshError::Protocol("connection closed".into());
        let own = cut_error(&handshake, closed(), SshError::Timeout);
        assert!(matches!(own, SshError::Flood(1000)), "{own}");
        drop(handshake);
        let command = watch.step(1 << 20, Some(Instant::now() + Duration::from_secs(5)));
        let later = cut_error(&command, closed(), SshError::Deadline(5));
        assert_eq!(
            later.to_string(),
            "the connection was cut off earlier (the node sent more than 1000 bytes): \
             it is of no more use; run rccr again"
        );
    }

    #[test]
    fn a_failed_commands_line_is_bounded() {
        let output = |stderr: Vec<u8>| Output {
            status: 1,
            stdout: Vec::new(),
            stderr,
        };
        assert_eq!(
            output(b"first\nlast words\n\n".to_vec()).error_line(),
            "exit 1: last words"
        );
        // A node's one endless line, in a character of two bytes.
        let endless = output("\u{e9}".repeat(512 * 1024).into_bytes()).error_line();
        assert_eq!(endless.len(), stream::MAX_TEXT);
        assert!(endless.starts_with("exit 1: \u{e9}"), "{}", &endless[..16]);
    }

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

    /// The live processes of process group `group` (zombies are gone).
    fn group_members(group: u32) -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|pid: &u32| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let fields: Vec<&str> = stat
                    .rsplit_once(") ")
                    .map_or(vec![], |(_, rest)| rest.split(' ').collect());
                fields.len() > 2
                    && !["Z", "X"].contains(&fields[0])
                    && fields[2] == group.to_string()
            })
            .collect()
    }

    /// Runs [`BOUNDED`] in `shell` as the leader of a process group of its
    /// own, as sshd runs a command; waits until no process of that group
    /// is left (a watchdog of 60 s, far beyond the 1 s the script gets).
    fn run_bounded(
        shell: &[&str],
        script: &str,
        args: &[&str],
        input: &[u8],
    ) -> std::process::Output {
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new(shell[0])
            .args(&shell[1..])
            .arg("-c")
            .arg(BOUNDED)
            .arg("rccr")
            .args(bounded_args(Duration::from_millis(500), script, args))
            .process_group(0)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let group = child.id();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        let start = Instant::now();
        while !group_members(group).is_empty() {
            if start.elapsed() > Duration::from_secs(60) {
                let left = group_members(group);
                // Nothing outlives the test, even when it fails.
                let _ = std::process::Command::new("kill")
                    .args(["-s", "KILL", "--", &format!("-{group}")])
                    .status();
                panic!("{shell:?}: {left:?} left");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        out
    }

    #[test]
    fn a_bounded_script_leaves_nothing_behind_whether_it_ends_or_hangs() {
        for shell in [&["/bin/dash"][..], &["/bin/busybox", "sh"], &["/bin/sh"]] {
            if !Path::new(shell[0]).exists() {
                eprintln!(
                    "no {}: not tried in that shell (apt install dash busybox)",
                    shell[0]
                );
                continue;
            }
            // It ends: its words, input and exit status are its own, and
            // its timer goes with it.
            let script = "read -r line; printf '%s|' \"$@\" \"$line\"; exit 3";
            let out = run_bounded(shell, script, &["a b", "$(x)"], b"input\n");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "a b|$(x)|input|",
                "{shell:?}"
            );
            assert_eq!(out.status.code(), Some(3), "{shell:?}");
            // It hangs (a `docker` that never answers, in a command
            // substitution's subshell): at its bound, all of it is killed.
            let out = run_bounded(
                shell,
                "echo started; x=$(sleep 86400); echo never",
                &[],
                b"",
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "started\n",
                "{shell:?}"
            );
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(9), "{shell:?}");
        }
    }

    #[test]
    fn bounds_are_whole_seconds_at_least_one() {
        let seconds = |limit| bounded_args(limit, "s", &[])[0].clone();
        assert_eq!(seconds(Duration::from_secs(5)), "5");
        assert_eq!(seconds(Duration::from_millis(5001)), "6");
        assert_eq!(seconds(Duration::ZERO), "1");
    }

    #[test]
    fn fingerprints_are_sha256_and_base64_only() {
        let fp = Fingerprint::parse("SHA256:abc+/=").unwrap();
        assert_eq!(fp.to_string(), "SHA256:abc+/=");
        assert!(fp == "SHA256:abc+/=".to_string());
        for bad in [
            "",
            "SHA256:",
            "MD5:ab",
            "SHA256:a\tb",
            "SHA256:a\nb",
            "SHA256:a b",
        ] {
            assert_eq!(Fingerprint::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            Fingerprint::parse(&format!("SHA256:{}", "a".repeat(65))),
            None
        );
    }

    #[test]
    fn rsa_host_keys_under_2048_bits_are_weak_and_others_are_not() {
        use ssh_key::public::{KeyData, RsaPublicKey};
        let host_key = |modulus: &[u8]| {
            let rsa = RsaPublicKey {
                e: ssh_key::Mpint::from_positive_bytes(&[1, 0, 1]).unwrap(),
                n: ssh_key::Mpint::from_positive_bytes(modulus).unwrap(),
            };
            let key = ssh_key::PublicKey::from(KeyData::Rsa(rsa));
            HostKey {
                line: key.to_openssh().unwrap(),
                fingerprint: Fingerprint::of(&key),
                blob: key.to_bytes().unwrap(),
            }
        };
        // 1024 and 2047 bits (top bit of the first byte clear), then 2048.
        let mut n = vec![0xc5u8; 128];
        let weak = host_key(&n).weakness().expect("1024 bits is weak");
        assert!(
            weak.contains("is RSA of 1024 bits, fewer than 2048"),
            "{weak}"
        );
        // It says what to do, on an RCCR node and elsewhere.
        for remedy in ["reboot an RCCR node", "ssh-keygen -t ed25519"] {
            assert!(weak.contains(remedy), "{weak}");
        }
        n = vec![0xc5u8; 256];
        n[0] = 0x7f;
        assert!(host_key(&n).weakness().unwrap().contains("of 2047 bits"));
        n[0] = 0x80;
        assert_eq!(host_key(&n).weakness(), None);
        let ed25519 = crate::keys::generate(KeyType::Ed25519, 0, "x").unwrap();
        let key = ed25519.public_key();
        let ed = HostKey {
            line: key.to_openssh().unwrap(),
            fingerprint: Fingerprint::of(key),
            blob: key.to_bytes().unwrap(),
        };
        assert_eq!(ed.weakness(), None);
    }

    #[test]
    fn pinned_types_map_to_host_key_algorithms() {
        assert_eq!(host_key_algorithms("ssh-ed25519"), Some("ssh-ed25519"));
        assert!(host_key_algorithms("ssh-rsa")
            .unwrap()
            .contains("rsa-sha2-256"));
        assert_eq!(host_key_algorithms("ssh-dss"), None);
    }

    #[test]
    fn hashed_lines_name_hosts_without_a_key() {
        // `ssh-keygen -H` of "10.0.0.5 ssh-ed25519 ..." and of the same
        // host on port 2222.
        const KEY: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDHSl+IHRvPT5hw/OuRQh4BCx6CmDjszJeRGweIDmMnM";
        let port_22 = format!("|1|GGZzH13V0Zsm9sgOOuX5v6d/bgc=|EbDjcycKDPX0n/kv8NxvdKaIDtQ= {KEY}");
        let port_2222 =
            format!("|1|+eg8TS6M5j2JuZz4mkJhU/L245c=|LzwO1Mp+6uqVppkjzYwCKkwFXgA= {KEY}");
        let ip = "10.0.0.5".parse().unwrap();
        let other = "10.0.0.6".parse().unwrap();
        assert!(hashed_line_names(&port_22, ip, 22));
        assert!(!hashed_line_names(&port_22, other, 22));
        assert!(!hashed_line_names(&port_22, ip, 2222));
        assert!(hashed_line_names(&port_2222, ip, 2222));
        assert!(!hashed_line_names("not a line", ip, 22));
        // `ssh-keygen -H` of "ReCyClusteR-Target-01 ssh-ed25519 ...": OpenSSH
        // hashes names in lower case, and looks them up so.
        let named = format!("|1|EmrJLw6b3X4J83RB1z877bt3Hkw=|6JKd5oRcLbxDpFwN29ZtCpsOg5A= {KEY}");
        assert!(hashed_line_names_field(&named, "recycluster-target-01"));
        assert!(!hashed_line_names_field(&named, "ReCyClusteR-Target-02"));
        assert!(!hashed_line_names(&named, ip, 22));
    }

    #[test]
    fn key_types_parse() {
        assert_eq!("rsa".parse::<KeyType>(), Ok(KeyType::Rsa));
        assert_eq!("ed25519".parse::<KeyType>(), Ok(KeyType::Ed25519));
        assert!("dsa".parse::<KeyType>().is_err());
    }
}
