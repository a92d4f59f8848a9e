//! Key rotation that can never lock anyone out.
//!
//! The protocol, per node (nodes run in parallel, a bounded number at once):
//!
//! 1. **New key first.** Before any node hears of it, the control holds the
//!    new private key durably (temp file, fsync, rename, 0600). No node can
//!    ever accept a key the control does not hold.
//! 2. **Connect and pin.** Connect with the old key; pin the node's host key
//!    in known_hosts on first contact and refuse, from then on, a host key
//!    that differs (the node is left untouched).
//! 3. **Stage.** The node's `authorized_keys` becomes the old keys plus the
//!    new one: computed here byte for byte ([`super::authorized`]), installed
//!    there atomically by a small POSIX sh script (`remote.sh`) that first
//!    keeps a backup and arms a detached revert: unless the rotation is
//!    committed within N seconds, the node restores the backup by itself, so
//!    a control that lost the link cannot leave a node half-changed.
//!    Key material travels on stdin, never on a command line.
//! 4. **Verify.** A new connection logs in with the new key and runs a command.
//! 5. **Commit.** Over that connection: disarm the revert, remove the old key
//!    atomically, drop the backup. Then check that the old key is refused.
//! 6. **Persist.** `lbu commit` on a diskless Alpine node; report when a node
//!    cannot persist.
//! 7. **Clean up** (the caller): only when every node has committed does the
//!    control stop offering the old key.
//! 8. **Journal.** Every phase change is written to the journal; a re-run
//!    probes each node again (which of our keys does it accept? is a
//!    rotation armed?) and carries on from there.
use super::authorized;
use super::journal::Journal;
use super::known_hosts::{host_field, KnownHosts, Pinned};
use crate::failpoint;
use crate::parallel;
use crate::ssh::{Connection, Output, SshError};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The node side of the protocol (see its header).
const REMOTE_SCRIPT: &str = include_str!("remote.sh");
/// A node whose revert fired while we worked (a slow run, or a re-run
/// finding an earlier run's stage) is back at its old keys: start it over once.
const EXPIRED: &str = "the node reverted before the commit (raise --revert-after?)";
// remote.sh exit codes.
const REMOTE_EXPIRED: i32 = 3;
const REMOTE_CHANGED: i32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Node {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 22 {
            write!(f, "{}", self.ip)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
    }
}

impl Node {
    /// The journal's name for the node: always with the port.
    pub fn journal_name(&self) -> String {
        SocketAddr::new(self.ip, self.port).to_string()
    }
}

/// How a node ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepts the new key only, and the old key is refused.
    Rotated,
    /// Back to (or kept at) the old keys: a step failed and was undone.
    Reverted,
    /// Not touched: no connection.
    Unreachable,
    /// Not touched: accepts neither the old nor the new key, so it never
    /// needs the old key kept for it.
    Refused,
    /// Not touched: its host key differs from the pinned one.
    HostKeyMismatch,
    /// Accepts the new key, but the old key's removal is not confirmed: run again.
    Incomplete,
}

impl Outcome {
    /// Whether the node may still need the old key to be reached.
    pub fn needs_old_key(self) -> bool {
        !matches!(self, Outcome::Rotated | Outcome::Refused)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Rotated => "rotated",
            Outcome::Reverted => "reverted",
            Outcome::Unreachable => "unreachable",
            Outcome::Refused => "refused",
            Outcome::HostKeyMismatch => "host-key-mismatch",
            Outcome::Incomplete => "incomplete",
        }
    }
}

/// One node's result, for the summary table or JSON.
#[derive(Clone, Debug)]
pub struct Report {
    pub node: Node,
    pub outcome: Outcome,
    pub detail: String,
}

/// A key the rotation uses: its private key file and public line.
#[derive(Clone, Debug)]
pub struct Key {
    pub path: PathBuf,
    /// `keytype base64 comment`
    pub line: String,
}

impl Key {
    fn blob(&self) -> &[u8] {
        authorized::key_blob(self.line.as_bytes()).unwrap_or_default()
    }
}

/// Everything a rotation run needs.
pub struct Plan {
    pub user: String,
    pub old: Key,
    pub new: Key,
    pub rotation_id: String,
    pub known_hosts: KnownHosts,
    pub journal: Journal,
    pub revert_after: Duration,
    pub timeout: Duration,
    pub parallel: usize,
}

/// A node's step ended the node's run with this outcome.
struct Stop(Outcome, String);

type Step<T> = Result<T, Stop>;

/// Rotates every node, `plan.parallel` at a time; `progress` hears each phase.
pub fn rotate(plan: &Plan, nodes: &[Node], progress: &(dyn Fn(&Node, &str) + Sync)) -> Vec<Report> {
    parallel::map(nodes, plan.parallel, |node| {
        let attempt = || rotate_node(plan, node, progress);
        let result = match attempt() {
            Err(Stop(Outcome::Reverted, detail)) if detail == EXPIRED => {
                progress(node, "reverted by itself before the commit; starting over");
                attempt()
            }
            other => other,
        };
        let (outcome, detail) = match result {
            Ok(detail) => (Outcome::Rotated, detail),
            Err(Stop(outcome, detail)) => (outcome, detail),
        };
        let _ = plan.journal.record(&node.journal_name(), outcome.as_str());
        progress(node, outcome.as_str());
        Report {
            node: *node,
            outcome,
            detail,
        }
    })
}

fn rotate_node(plan: &Plan, node: &Node, progress: &dyn Fn(&Node, &str)) -> Step<String> {
    let record = |phase: &str| {
        let _ = plan.journal.record(&node.journal_name(), phase);
        progress(node, phase);
    };
    // A node this rotation has not touched yet most likely takes the old
    // key; try that first and save a round trip per node.
    let untouched = plan
        .journal
        .phase(&node.journal_name())
        .map_or(true, |phase| phase == "pending");
    let conn = connect(plan, node)?;
    let (on_new, snapshot) = if log_in(plan, &conn, untouched)? {
        let snapshot = read(&conn)?;
        (conn, snapshot)
    } else {
        stage(plan, node, &conn)?;
        drop(conn);
        record("staged");
        failpoint::reached("after-stage", &node.to_string());
        let verified = verify(plan, node)?;
        record("verified");
        verified
    };
    let mut persisted = None;
    if authorized::contains(&snapshot.content, plan.old.blob()) {
        persisted = Some(commit(plan, &on_new, &snapshot)?);
        record("committed");
        failpoint::reached("after-commit", &node.to_string());
    }
    // The old key must now be refused, on a connection of its own.
    match login(plan, node, &plan.old.path) {
        Err(Stop(_, detail)) if detail == SshError::Denied.to_string() => {}
        Ok(_) => {
            return Err(Stop(
                Outcome::Incomplete,
                "the old key is still accepted (another authorized_keys file?)".into(),
            ))
        }
        Err(Stop(_, detail)) => {
            return Err(Stop(
                Outcome::Incomplete,
                format!("old key removal unconfirmed: {detail}"),
            ))
        }
    }
    let persisted = persisted.unwrap_or_else(|| {
        run_remote(&on_new, "persist", &[], b"")
            .map(|out| out.text())
            .unwrap_or_else(|e| format!("unknown ({e})"))
    });
    Ok(match persisted.as_str() {
        "disk" => "persisted on disk".into(),
        "lbu" => "persisted with lbu commit".into(),
        "volatile" => "NOT persisted: the root filesystem is in RAM and lbu is missing".into(),
        other => format!("persistence failed: {other}"),
    })
}

/// Authenticates `conn` with the new or the old key, in the order given;
/// true when the new key was accepted.
fn log_in(plan: &Plan, conn: &Connection, old_first: bool) -> Step<bool> {
    let (old, new) = ((&plan.old.path, false), (&plan.new.path, true));
    let order = if old_first { [old, new] } else { [new, old] };
    for (key, is_new) in order {
        // A refused key leaves the session open for the next one.
        match conn.authenticate(&plan.user, key) {
            Ok(()) => return Ok(is_new),
            Err(SshError::Denied) => continue,
            Err(e) => return Err(Stop(Outcome::Unreachable, e.to_string())),
        }
    }
    Err(Stop(
        Outcome::Refused,
        "refuses the old and the new key".into(),
    ))
}

/// Connects and checks the host key against the pinned one (pinning it on
/// first contact).
fn connect(plan: &Plan, node: &Node) -> Step<Connection> {
    let addr = SocketAddr::new(node.ip, node.port);
    let conn = Connection::open(addr, plan.timeout)
        .map_err(|e| Stop(Outcome::Unreachable, e.to_string()))?;
    let host_key = conn
        .host_key()
        .ok_or_else(|| Stop(Outcome::Unreachable, "no usable host key".into()))?;
    let hashed = |line: &str| host_key.hashed_line_names(line, node.ip, node.port);
    let pinned = plan
        .known_hosts
        .check_or_pin(&host_field(node.ip, node.port), &host_key.line, &hashed)
        .map_err(|e| Stop(Outcome::Unreachable, e.to_string()))?;
    match pinned {
        Pinned::Known | Pinned::New => Ok(conn),
        Pinned::Mismatch { line } => Err(Stop(
            Outcome::HostKeyMismatch,
            format!(
                "host key {} differs from the one pinned at {}:{line}",
                host_key.fingerprint,
                plan.known_hosts.path.display()
            ),
        )),
    }
}

fn login(plan: &Plan, node: &Node, key: &std::path::Path) -> Step<Connection> {
    let conn = connect(plan, node)?;
    conn.authenticate(&plan.user, key)
        .map_err(|e| Stop(Outcome::Unreachable, e.to_string()))?;
    Ok(conn)
}

/// `authorized_keys` as the node has it now.
struct Snapshot {
    sum: String,
    /// The rotation armed on the node, or `-`.
    armed: String,
    content: Vec<u8>,
}

fn read(conn: &Connection) -> Step<Snapshot> {
    let out = run_remote(conn, "read", &[], b"").map_err(|e| Stop(Outcome::Unreachable, e))?;
    if !out.success() {
        return Err(Stop(Outcome::Unreachable, remote_error(&out)));
    }
    let mut parts = out.stdout.splitn(3, |b| *b == b'\n');
    let mut field = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (sum, armed) = (field(), field());
    let content = parts.next().unwrap_or_default().to_vec();
    Ok(Snapshot {
        sum,
        armed,
        content,
    })
}

fn stage(plan: &Plan, node: &Node, conn: &Connection) -> Step<()> {
    let snapshot = read(conn)?;
    let staged = authorized::with_key(&snapshot.content, &plan.new.line);
    let seconds = plan.revert_after.as_secs().max(1).to_string();
    let out = run_remote(
        conn,
        "stage",
        &[&snapshot.sum, &plan.rotation_id, &seconds],
        &staged,
    )
    .map_err(|e| Stop(Outcome::Unreachable, format!("staging: {e}")))?;
    match out.status {
        0 => Ok(()),
        REMOTE_CHANGED => Err(Stop(
            Outcome::Reverted,
            "authorized_keys changed while staging; nothing was changed, run again".into(),
        )),
        _ => Err(Stop(
            Outcome::Reverted,
            format!(
                "staging failed on {node}, nothing changed: {}",
                remote_error(&out)
            ),
        )),
    }
}

/// Logs in with the new key on a fresh connection and reads the node's
/// keys there: that is the command that proves the new key works.
fn verify(plan: &Plan, node: &Node) -> Step<(Connection, Snapshot)> {
    let reverts = |detail: String| {
        Stop(
            Outcome::Reverted,
            format!(
                "new key not verified ({detail}); the node restores its keys within {} s",
                plan.revert_after.as_secs()
            ),
        )
    };
    let conn = login(plan, node, &plan.new.path).map_err(|Stop(_, d)| reverts(d))?;
    let snapshot = read(&conn).map_err(|Stop(_, d)| reverts(d))?;
    Ok((conn, snapshot))
}

/// Commits and returns what persisting said (see remote.sh).
fn commit(plan: &Plan, conn: &Connection, snapshot: &Snapshot) -> Step<String> {
    let committed = authorized::without_keys(&snapshot.content, &[plan.old.blob()]);
    if !authorized::contains(&committed, plan.new.blob()) {
        // We logged in with the new key, so the node reverted since: never
        // remove the old key from a file that lacks the new one.
        return Err(Stop(Outcome::Reverted, EXPIRED.into()));
    }
    let out = run_remote(
        conn,
        "commit",
        &[&snapshot.sum, &snapshot.armed],
        &committed,
    )
    .map_err(|e| Stop(Outcome::Incomplete, format!("commit: {e}")))?;
    match out.status {
        0 => Ok(out.text().lines().nth(1).unwrap_or("unknown").to_string()),
        REMOTE_EXPIRED => Err(Stop(Outcome::Reverted, EXPIRED.into())),
        _ => Err(Stop(
            Outcome::Incomplete,
            format!("commit: {}", remote_error(&out)),
        )),
    }
}

fn run_remote(
    conn: &Connection,
    action: &str,
    args: &[&str],
    stdin: &[u8],
) -> Result<Output, String> {
    let mut command = format!("sh -c {} rccr {action}", shell_quote(REMOTE_SCRIPT));
    for arg in args {
        command.push(' ');
        command.push_str(&shell_quote(arg));
    }
    conn.run(&command, stdin).map_err(|e| e.to_string())
}

fn remote_error(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    format!("exit {}: {}", out.status, line.trim())
}

/// Quotes `s` as one POSIX sh word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
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
    fn node_names() {
        let node = Node {
            ip: "10.0.0.5".parse().unwrap(),
            port: 22,
        };
        assert_eq!(node.to_string(), "10.0.0.5");
        assert_eq!(node.journal_name(), "10.0.0.5:22");
        let node = Node { port: 2222, ..node };
        assert_eq!(node.to_string(), "10.0.0.5:2222");
    }
}
