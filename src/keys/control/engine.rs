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
//!    there atomically by the node side of the protocol, which first keeps a
//!    backup and arms a detached revert: unless the rotation is committed
//!    within N seconds, the node restores the backup by itself, so a control
//!    that lost the link cannot leave a node half-changed. Key material
//!    travels on stdin, never on a command line, with its `cksum`: a file
//!    cut short by a lost link is never installed.
//! 4. **Verify.** A new connection logs in with the new key and runs a
//!    command: the commit step of 5.
//! 5. **Commit.** Over that connection: disarm the revert, remove the old key
//!    atomically, drop the backup. Then check that the old key is refused,
//!    on a connection of its own (a signature-less public-key query).
//! 6. **Persist.** `lbu commit` on a diskless Alpine node. Rotated means
//!    persisted: a node that cannot persist ends `rotated-volatile` and
//!    still needs the old key (a reboot brings its old keys back).
//! 7. **Clean up** (the caller): only when every node has committed does the
//!    control stop offering the old key.
//! 8. **Journal.** Every phase change is written to the journal; a re-run
//!    probes each node again (which of our keys does it accept? is a
//!    rotation armed?) and carries on from there.
//!
//! The node side runs as one command per step, which prints the node's
//! `authorized_keys` and then waits for the file to install
//! ([`Connection::converse`]): a step is one exec and one round trip. It is
//! rccr's own (`rccr keys node`, [`crate::keys::node`]) where the node has rccr,
//! as every RCCR image does, and the POSIX sh script `remote.sh` elsewhere;
//! both speak the protocol its header documents. Per node that makes three
//! SSH connections (old key: stage; new key: commit; old key: refused?) and
//! two commands.
use super::journal::Journal;
use super::known_hosts::{host_field, KnownHosts, Pin, Pinned, Pins, Reached, Unreached};
use crate::failpoint;
use crate::keys::addr::NodeAddr;
use crate::keys::node::{
    ARMED, CHANGED as REMOTE_CHANGED, EXPIRED as REMOTE_EXPIRED, PROTOCOL, REMOTE_SCRIPT,
    TIMER_DIED, UNSUPPORTED,
};
use crate::keys::{authorized, frame, Key};
use crate::parallel;
use crate::persist::Persisted;
use crate::ssh::{
    script_command, shell_quote, Connection, Fingerprint, HostKey, Limits, Output, SshError,
};
use std::time::Duration;

/// A node whose revert fired while we worked (a slow run, or a re-run
/// finding an earlier run's stage) is back at its old keys: start it over once.
const EXPIRED: &str = "the node reverted before the commit (raise --revert-after?)";
/// What a step's snapshot may hold besides `authorized_keys`: its `cksum`
/// line, the armed token and the nonce line.
const SNAPSHOT_LINES: usize = 256;

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
    /// Not touched: its host key is too weak to trust (RSA under 2048
    /// bits), and was not pinned.
    WeakHostKey,
    /// Accepts the new key, but the old key's removal is not confirmed, or
    /// its authorized_keys changed under the run to grant neither key:
    /// run again.
    Incomplete,
    /// Accepts the new key only, but could not persist the change (`lbu
    /// commit` failed, or the root is in RAM with no lbu): a reboot brings
    /// its old keys back, so the old key is kept until a run finds the
    /// change persisted.
    RotatedVolatile,
    /// Not at this address any more: the host key pinned here answered at
    /// another address of the same run (a new DHCP lease mid-rotation),
    /// and its report there tells its state. Never when the key is held at
    /// more than one address (a cloned card): see `follow_moves`.
    Moved,
    /// Not touched: the last `rccr setup` held it back (a copy of it may
    /// answer at its address), so no run logs in there.
    HeldBack,
    /// Not touched: its host key could not be pinned, because this
    /// machine's known_hosts could not be read or written (a read-only
    /// file system, a full disk). A fault of the control, not the node's:
    /// the run fails naming the file ([`local_failure`]).
    NotPinned,
}

impl Outcome {
    /// Whether the run ended before anything that changes the node (a
    /// stage, a commit's input) was sent to it ([`rotate`] records a stage
    /// before it is sent).
    fn sent_nothing(self) -> bool {
        matches!(
            self,
            Outcome::Unreachable
                | Outcome::HostKeyMismatch
                | Outcome::WeakHostKey
                | Outcome::NotPinned
        )
    }

    /// Whether the node may still need the old key to be reached.
    pub fn needs_old_key(self) -> bool {
        !matches!(self, Outcome::Rotated | Outcome::Refused | Outcome::Moved)
    }

    /// Whether a node the rotation ended with this outcome may still take
    /// the temporary key, and is not listed for it otherwise: it may need
    /// the old key ([`Outcome::needs_old_key`]), and it is not
    /// `rotated-volatile` (listed as such: it takes the cluster key, and
    /// would take the temporary key again after a reboot).
    pub fn may_take_temporary_key(self) -> bool {
        self.needs_old_key() && self != Outcome::RotatedVolatile
    }

    /// Whether the node takes the new key now (persisted or not).
    pub fn accepts_new_key(self) -> bool {
        matches!(self, Outcome::Rotated | Outcome::RotatedVolatile)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Rotated => "rotated",
            Outcome::Reverted => "reverted",
            Outcome::Unreachable => "unreachable",
            Outcome::Refused => "refused",
            Outcome::HostKeyMismatch => "host-key-mismatch",
            Outcome::WeakHostKey => "weak-host-key",
            Outcome::Incomplete => "incomplete",
            Outcome::RotatedVolatile => "rotated-volatile",
            Outcome::Moved => "moved",
            Outcome::HeldBack => "held-back",
            Outcome::NotPinned => "not-pinned",
        }
    }
}

/// One node's result, for the summary table or JSON.
#[derive(Clone, Debug)]
pub struct Report {
    pub node: NodeAddr,
    pub outcome: Outcome,
    pub detail: String,
    /// The host key the node answered with, when it answered.
    pub host_key: Option<HostKey>,
    /// The old key logged in during the run (before the stage, or still
    /// after the commit): setup's temporary key, seen taken.
    pub old_key_logged_in: bool,
}

/// What a node's run saw of it, whatever its outcome.
#[derive(Default)]
struct Seen {
    /// The host key it answered with.
    host_key: std::cell::OnceCell<HostKey>,
    /// Whether the old key logged in ([`Report::old_key_logged_in`]).
    old_key_logged_in: std::cell::Cell<bool>,
}

/// `--revert-after SECS` of command `cmd`: at least 1, as every duration
/// option is (a revert armed for 0 s fires before the new key is verified).
pub fn revert_after(cmd: &[&str], seconds: u64) -> Result<Duration, crate::error::Error> {
    crate::cli::check_ranges(cmd, &[("--revert-after", seconds, 1..=u64::MAX)])?;
    Ok(Duration::from_secs(seconds))
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
    /// Where the node's side of each step runs.
    pub node_side: NodeSide,
    /// The host key each of these nodes showed when setup classified it
    /// (the one its plan showed): such a node is reached only with that
    /// key, and another is never pinned. Nodes not listed are pinned on
    /// first contact.
    pub classified: Vec<(NodeAddr, Fingerprint)>,
}

/// Which implementation of the node's side of the protocol a step asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeSide {
    /// The node's rccr (`rccr keys node`), falling back to `remote.sh`
    /// where the node has no rccr or one that speaks another protocol.
    Auto,
    /// `remote.sh` only (RCCR_KEYS_NODE=script): for testing the fallback,
    /// or for a node whose rccr should not be trusted with the change.
    Script,
}

impl NodeSide {
    /// From RCCR_KEYS_NODE: `script`, or anything else for the default.
    pub fn from_env() -> NodeSide {
        match std::env::var("RCCR_KEYS_NODE").as_deref() {
            Ok("script") => NodeSide::Script,
            _ => NodeSide::Auto,
        }
    }
}

impl Plan {
    /// The command line that runs one step on a node. The user's login
    /// shell parses it (POSIX sh syntax works in ash, dash and bash). The
    /// node's rccr gets the first go; exit 125 means it does not speak our
    /// protocol and read nothing, so the script takes over with the same
    /// input; 127 (no rccr) is skipped by `command -v`.
    fn node_command(&self, action: &[&str]) -> String {
        Plan::command_for(self.node_side, action)
    }

    fn command_for(node_side: NodeSide, action: &[&str]) -> String {
        let args: Vec<String> = action.iter().map(|a| shell_quote(a)).collect();
        let args = args.join(" ");
        let script = script_command(REMOTE_SCRIPT, action);
        match node_side {
            NodeSide::Script => script,
            NodeSide::Auto => format!(
                "if command -v rccr >/dev/null 2>&1; then rccr keys node {PROTOCOL} {args}; \
                 s=$?; [ $s -eq {UNSUPPORTED} ] || exit $s; fi; exec {script}"
            ),
        }
    }
}

/// What a run whose pins could not be kept must say, when some of
/// `reports` ended [`Outcome::NotPinned`]: the file and why (the first
/// such node's detail), the nodes left untouched, and what to do.
pub fn local_failure(reports: &[Report]) -> Option<String> {
    let not_pinned: Vec<&Report> = reports
        .iter()
        .filter(|r| r.outcome == Outcome::NotPinned)
        .collect();
    let first = not_pinned.first()?;
    let nodes: Vec<String> = not_pinned.iter().map(|r| r.node.to_string()).collect();
    Some(format!(
        "{}: could not pin the host key of {} node(s) ({}), so nothing was sent to them and \
         their keys are as they were; make that file writable (a read-only file system? a \
         full disk?), then run again",
        first.detail,
        nodes.len(),
        nodes.join(", ")
    ))
}

/// A node's step ended the node's run with this outcome.
struct Stop(Outcome, String);

type Step<T> = Result<T, Stop>;

/// Rotates every node, `plan.parallel` at a time; `progress` hears each phase.
pub fn rotate(
    plan: &Plan,
    nodes: &[NodeAddr],
    progress: &(dyn Fn(&NodeAddr, &str) + Sync),
) -> Vec<Report> {
    // Before any pin this run makes: a host key pinned at two addresses
    // then proves no move ([`follow_moves`]).
    let before = pins_before(plan);
    let mut reports = parallel::map(nodes, plan.parallel, |node| {
        let seen = Seen::default();
        let attempt = || rotate_node(plan, node, progress, &seen);
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
        // Nothing was sent: a node never reached stays `pending`, which
        // [`refused`] tells from one a stage reached.
        let name = node.journal_name();
        let phase = match plan.journal.phase(&name).as_deref() {
            None | Some("pending" | "refused") if outcome.sent_nothing() => "pending",
            _ => outcome.as_str(),
        };
        let _ = plan.journal.record(&name, phase);
        progress(node, outcome.as_str());
        Report {
            node: *node,
            outcome,
            detail,
            old_key_logged_in: seen.old_key_logged_in.get(),
            host_key: seen.host_key.into_inner(),
        }
    });
    follow_moves(plan, &mut reports, before.as_ref(), progress);
    reports
}

/// An address that is unreachable, or answers with another host key (a
/// new lease gave it to another machine), whose pinned host key answered
/// at another address of this run is that node on a new lease: its report
/// there stands for it, and the journal forgets the old address (else the
/// old key were kept for it until `rccr remove`). A key never pinned at
/// the old address proves nothing, so that address stays as it ended; nor
/// does one that more than one machine holds (a cloned card): one that
/// answered at two addresses of the run, or that `before` (known_hosts as
/// the run found it) pinned at another of its addresses as well. Then the
/// machine at the old address may be there still, taking only the old
/// key: the address stays as it ended, its line saying why.
fn follow_moves(
    plan: &Plan,
    reports: &mut [Report],
    before: Option<&Pins>,
    progress: &(dyn Fn(&NodeAddr, &str) + Sync),
) {
    // Unread, it never reached a node either: no key answered anywhere.
    let Some(before) = before else {
        return;
    };
    for i in 0..reports.len() {
        if !matches!(
            reports[i].outcome,
            Outcome::Unreachable | Outcome::HostKeyMismatch
        ) {
            continue;
        }
        let old = reports[i].node;
        let pinned_here = |key: &HostKey| {
            matches!(
                plan.known_hosts.check_key(old.ip, old.port, key),
                Ok(Pin::Match)
            )
        };
        let Some(key) = reports
            .iter()
            .filter(|r| r.node.ip != old.ip)
            .find_map(|r| r.host_key.clone().filter(|key| pinned_here(key)))
        else {
            continue;
        };
        let elsewhere = |held: &dyn Fn(&Report) -> bool| -> Vec<NodeAddr> {
            reports
                .iter()
                .filter(|r| r.node.ip != old.ip && held(r))
                .map(|r| r.node)
                .collect()
        };
        let answered = elsewhere(&|r| r.host_key.as_ref().is_some_and(|k| k.line == key.line));
        let pinned_before = elsewhere(&|r| before.holds(r.node.ip, r.node.port, &key));
        if answered.len() > 1 || !pinned_before.is_empty() {
            let why = shared_host_key(old, &key, &answered, &pinned_before);
            let detail = &mut reports[i].detail;
            *detail = if detail.is_empty() {
                why
            } else {
                format!("{detail}; {why}")
            };
            continue;
        }
        let new = answered[0];
        if plan.journal.forget(&old.journal_name()).is_err() {
            continue;
        }
        // Only now: while the journal lists the old address, its pin is
        // what proves the move to the next run. Left there, it would make
        // the key pinned at two addresses once the node moves back.
        let unpinned = plan.known_hosts.unpin(&[host_field(old.ip, old.port)]);
        reports[i].outcome = Outcome::Moved;
        reports[i].detail = format!("answered at {new} with the host key pinned for {old}");
        if let Err(e) = unpinned {
            reports[i].detail += &format!("; its pin at {old} stays ({e})");
        }
        progress(&old, Outcome::Moved.as_str());
    }
}

/// known_hosts as the run finds it, for [`follow_moves`]; `None` when it
/// cannot be read (then no move is followed).
fn pins_before(plan: &Plan) -> Option<Pins> {
    plan.known_hosts.snapshot().ok()
}

/// Why the machine at `old` is not taken to have moved: its pinned `key`
/// answered at the addresses `answered`, and was pinned before the run at
/// `pinned_before` too.
fn shared_host_key(
    old: NodeAddr,
    key: &HostKey,
    answered: &[NodeAddr],
    pinned_before: &[NodeAddr],
) -> String {
    let list = |nodes: &[NodeAddr]| {
        nodes
            .iter()
            .map(NodeAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut seen = format!("answered at {}", list(answered));
    if pinned_before == answered {
        seen += ", pinned there before this run too";
    } else if !pinned_before.is_empty() {
        seen += &format!(" and was pinned at {} before this run", list(pinned_before));
    }
    format!(
        "its pinned host key {} {seen}: more than one machine holds it (a cloned card?), \
         so it proves no move and the old key stays for {old}; give each machine its own \
         host keys (or, if {old} did move, rccr remove {old})",
        key.fingerprint
    )
}

/// Records a node's phase in the journal and shows it; a journal write
/// that fails does not stop the rotation.
fn journal_step<'a>(
    plan: &'a Plan,
    node: &'a NodeAddr,
    progress: &'a dyn Fn(&NodeAddr, &str),
) -> impl Fn(&str) + 'a {
    move |phase| {
        let _ = plan.journal.record(&node.journal_name(), phase);
        progress(node, phase);
    }
}

fn rotate_node(
    plan: &Plan,
    node: &NodeAddr,
    progress: &dyn Fn(&NodeAddr, &str),
    seen: &Seen,
) -> Step<String> {
    let record = journal_step(plan, node, progress);
    // A node this rotation has not touched yet most likely takes the old
    // key; try that first and save a round trip per node.
    let untouched = plan
        .journal
        .phase(&node.journal_name())
        .is_none_or(|phase| phase == "pending");
    let conn = connect(plan, node)?;
    if let Some(key) = conn.host_key() {
        let _ = seen.host_key.set(key);
    }
    let new_logged_in = log_in(plan, &conn, untouched).map_err(|stop| refused(plan, node, stop))?;
    let on_new = if new_logged_in {
        conn
    } else {
        seen.old_key_logged_in.set(true);
        // Before the stage is sent: a link lost in it (`unreachable`) may
        // leave the node staged.
        let _ = plan.journal.record(&node.journal_name(), "staging");
        if let Some(armed) = stage(plan, node, &conn)? {
            // Staged already, by a run killed before its journal said so
            // (then the new key logs in and the commit finishes the job),
            // or by another control.
            drop(conn);
            return finish_armed(plan, node, progress, armed, seen);
        }
        drop(conn);
        record("staged");
        failpoint::reached("after-stage", &node.to_string());
        login(plan, node, &plan.new.path).map_err(|Stop(_, detail)| reverts(plan, detail))?
    };
    verify_and_commit(plan, node, on_new, progress, seen)
}

/// `stop`, the login's, but for a node that refuses both keys after this
/// rotation reached it (a journal phase other than `pending` or `refused`):
/// not the settled `refused` then, which lets the run retire the old key,
/// but `incomplete`: a revert of its stage (its timer, or its boot over a
/// marker it could not read) may bring the old key back.
fn refused(plan: &Plan, node: &NodeAddr, stop: Stop) -> Stop {
    if stop.0 != Outcome::Refused {
        return stop;
    }
    match plan.journal.phase(&node.journal_name()) {
        Some(phase) if phase != "pending" && phase != Outcome::Refused.as_str() => Stop(
            Outcome::Incomplete,
            format!(
                "refuses the old and the new key now, after this rotation reached it (journal: \
                 {phase}): its authorized_keys changed under the run, and a revert of the stage \
                 may bring the old key back, so the old key is kept; check that file from the \
                 node's console, then run again, or rccr remove {} (--forget if it is gone)",
                node.ip
            ),
        ),
        _ => stop,
    }
}

/// A node that refused the stage because a rotation is armed: when it is
/// ours (the new key logs in) commit it, else leave the node to its revert.
fn finish_armed(
    plan: &Plan,
    node: &NodeAddr,
    progress: &dyn Fn(&NodeAddr, &str),
    detail: String,
    seen: &Seen,
) -> Step<String> {
    match login(plan, node, &plan.new.path) {
        Ok(on_new) => verify_and_commit(plan, node, on_new, progress, seen),
        Err(_) => Err(Stop(
            Outcome::Reverted,
            format!(
                "{detail}; it restores its keys by itself when its revert fires: run again later"
            ),
        )),
    }
}

/// Steps 4 and 5 over `on_new`, a connection the new key opened.
fn verify_and_commit(
    plan: &Plan,
    node: &NodeAddr,
    on_new: Connection,
    progress: &dyn Fn(&NodeAddr, &str),
    seen: &Seen,
) -> Step<String> {
    let record = journal_step(plan, node, progress);
    failpoint::reached("new-key-in", &node.to_string());
    // The commit is the command that verifies the new key: it runs over a
    // connection the new key opened.
    let (changed, persisted) = commit(plan, &on_new, &|| {
        record("verified");
        failpoint::reached("commit-input", &node.to_string());
    })?;
    if changed {
        record("committed");
        failpoint::reached("after-commit", &node.to_string());
    }
    // The old key must now be refused, on a connection of its own.
    match old_key_now(plan, node) {
        Ok(OldKeyNow::Refused) => {}
        Ok(OldKeyNow::Accepted) => {
            seen.old_key_logged_in.set(true);
            return Err(Stop(
                Outcome::Incomplete,
                "the old key is still accepted (another authorized_keys file?)".into(),
            ));
        }
        Ok(OldKeyNow::Unknown(detail)) | Err(Stop(_, detail)) => {
            return Err(Stop(
                Outcome::Incomplete,
                format!("old key removal unconfirmed: {detail}"),
            ))
        }
    }
    // Rotated means persisted: a node that would come back from a reboot
    // with its old keys still needs the old key kept.
    let lost_at_reboot = "a reboot brings its old keys back, so the old key is kept; \
                          run again once it can persist";
    let why = match persisted {
        Some(Persisted::Disk) => return Ok("persisted on disk".into()),
        Some(Persisted::Lbu) => return Ok("persisted with lbu commit".into()),
        Some(Persisted::Volatile) => "root in RAM, no lbu",
        Some(Persisted::LbuFailed) => "lbu-failed",
        None => "unknown answer",
    };
    Err(Stop(
        Outcome::RotatedVolatile,
        format!("NOT persisted ({why}): {lost_at_reboot}"),
    ))
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

/// Connects offering only the pinned host key types, and checks the host
/// key against the one the node was classified with, then against the
/// pins (pinning it on first contact).
fn connect(plan: &Plan, node: &NodeAddr) -> Step<Connection> {
    let Reached { mut conn, key } = plan
        .known_hosts
        .connect(node.ip, node.port, plan.timeout)
        .map_err(|e| match e {
            Unreached::OtherType(detail) => Stop(Outcome::HostKeyMismatch, detail),
            Unreached::Failed(detail) => Stop(Outcome::Unreachable, detail),
            Unreached::WeakHostKey(detail) => Stop(Outcome::WeakHostKey, detail),
        })?;
    conn.set_limits(Limits {
        max_output: frame::MAX_FILE + SNAPSHOT_LINES,
        ..Limits::DEFAULT
    });
    // Another machine at the address since it was classified (one in the
    // middle, say): not the one the plan showed, whatever its pins say.
    if let Some((_, shown)) = plan.classified.iter().find(|(n, _)| n == node) {
        if *shown != key.fingerprint {
            return Err(Stop(
                Outcome::HostKeyMismatch,
                format!(
                    "host key {} is not {shown}, the one it showed when it was classified: \
                     nothing was sent to it (run rccr setup again to see who answers there; a \
                     node reinstalled since: rccr remove --forget it, then setup adopts it)",
                    key.fingerprint
                ),
            ));
        }
    }
    // Checked (and pinned) before anything is sent: a pin that cannot be
    // written leaves the node as it was.
    let pinned = plan
        .known_hosts
        .check_or_pin_key(node.ip, node.port, &key)
        .map_err(|e| Stop(Outcome::NotPinned, e.to_string()))?;
    match pinned {
        Pinned::Known | Pinned::New => Ok(conn),
        Pinned::Mismatch { line } => Err(Stop(
            Outcome::HostKeyMismatch,
            plan.known_hosts.mismatch(&key, line),
        )),
    }
}

/// Whether the old key logs in, asked on a connection of its own. A
/// host key that is not the pinned one (or cannot be pinned, or is weak)
/// is its own stop, not an answer about the key.
fn old_key_now(plan: &Plan, node: &NodeAddr) -> Step<OldKeyNow> {
    let conn = match connect(plan, node) {
        Err(Stop(Outcome::Unreachable, why)) => Err(why),
        Err(stop) => return Err(stop),
        Ok(conn) => Ok(conn),
    };
    Ok(key_now(conn, &plan.user, &plan.old.path))
}

/// Whether `key` logs `user` in on `conn`, a connection of its own (`Err`:
/// why it could not be opened): [`old_key_now`], and a release's check.
fn key_now(conn: Result<Connection, String>, user: &str, key: &std::path::Path) -> OldKeyNow {
    match conn.map(|conn| conn.authenticate(user, key)) {
        Ok(Ok(())) => OldKeyNow::Accepted,
        Ok(Err(SshError::Denied)) => OldKeyNow::Refused,
        Ok(Err(e)) => OldKeyNow::Unknown(e.to_string()),
        Err(why) => OldKeyNow::Unknown(why),
    }
}

fn login(plan: &Plan, node: &NodeAddr, key: &std::path::Path) -> Step<Connection> {
    let conn = connect(plan, node)?;
    conn.authenticate(&plan.user, key)
        .map_err(|e| Stop(Outcome::Unreachable, e.to_string()))?;
    Ok(conn)
}

/// A step's snapshot (`read`'s output: the file's `cksum` line, the armed
/// token line, the bytes), checked against its own `cksum` line: a login
/// shell that printed something first (a `.bashrc` greeting) shifts the
/// lines, and its words must never be taken for the file or the armed line.
struct Snapshot<'a> {
    rotation: Rotation,
    content: &'a [u8],
}

impl<'a> Snapshot<'a> {
    /// `None` when `head` is not a snapshot whose first line is `none`
    /// (an empty content) or the content's `cksum`.
    fn of(head: &'a [u8]) -> Option<Snapshot<'a>> {
        let mut parts = head.splitn(3, |b| *b == b'\n');
        let (sum, armed, content) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if sum == b"none" {
            content.is_empty()
        } else {
            sum == authorized::cksum_line(content).as_bytes()
        };
        matches.then(|| Snapshot {
            rotation: Rotation::of_line(armed),
            content,
        })
    }
}

/// The input a stage or commit step installs: the file as a [`frame`], so
/// the node can tell a whole file from one cut short by a lost link.
fn new_file(content: &[u8]) -> Vec<u8> {
    frame::encode(content)
}

/// A step the node could not even start: what it said, or the transport error.
fn unstarted(out: &Output) -> String {
    if out.stderr.is_empty() && out.stdout.is_empty() {
        format!("exit {} before the protocol started", out.status)
    } else {
        out.error_line()
    }
}

/// Stages the new key; `Some(what the node said)` when the node refused
/// because a rotation is armed there already.
fn stage(plan: &Plan, node: &NodeAddr, conn: &Connection) -> Step<Option<String>> {
    // Never 0 (see [`revert_after`]), whoever built the plan.
    let seconds = plan.revert_after.as_secs().max(1).to_string();
    let nonce = crate::keys::random_hex().map_err(|e| Stop(Outcome::Unreachable, e.to_string()))?;
    let mut refused = None;
    let talk = conn
        .converse(
            &plan.node_command(&["stage", &plan.rotation_id, &seconds, &nonce]),
            &trailer(&nonce),
            |head| {
                stage_input(head, plan.old.blob(), &plan.new.line).unwrap_or_else(|why| {
                    refused = Some(why);
                    Vec::new()
                })
            },
        )
        .map_err(|e| Stop(Outcome::Unreachable, format!("staging: {e}")))?;
    let out = &talk.output;
    match refused {
        Some(Refusal::NotSnapshot) => {
            return Err(not_a_snapshot(
                &format!("staging refused on {node}"),
                "nothing changed",
            ))
        }
        Some(Refusal::LacksOldKey) => {
            // Which cause: the old key logs in still (something else
            // grants it), or no more (the file changed since the login:
            // the stage's dead-timer revert took it away).
            let now = old_key_now(plan, node)?;
            return Err(Stop(
                Outcome::Reverted,
                lacks_old_key(node, &plan.user, now),
            ));
        }
        // The commit's refusals: the stage never gives them.
        Some(Refusal::Expired | Refusal::LacksNewKey) => {
            return Err(Stop(
                Outcome::Reverted,
                format!("staging refused on {node}: no file to stage; nothing was sent"),
            ))
        }
        None => {}
    }
    stage_ended(node, talk.head.is_some(), out)
}

/// What [`stage`] comes to when the node was sent its input, or never
/// asked for it (`began` false: it ended before its snapshot).
fn stage_ended(node: &NodeAddr, began: bool, out: &Output) -> Step<Option<String>> {
    match out.status {
        ARMED if !began => Ok(Some(out.error_line())),
        // Its own words say what it did (on a link it may have dropped a
        // rotation no timer reverts): "nothing changed" could be untrue.
        _ if !began => Err(Stop(
            Outcome::Reverted,
            format!(
                "staging refused on {node} before it began ({}); no file was sent",
                unstarted(out)
            ),
        )),
        0 if out.text() == "staged" => Ok(None),
        REMOTE_CHANGED => Err(Stop(
            Outcome::Reverted,
            "authorized_keys changed while staging; nothing was changed, run again".into(),
        )),
        _ => Err(Stop(
            Outcome::Reverted,
            format!(
                "staging failed on {node}, nothing changed: {}",
                out.error_line()
            ),
        )),
    }
}

/// Whether the old key logs in ([`old_key_now`]): asked again after a
/// stage found it missing from the node's authorized_keys, and after a
/// commit took it out.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OldKeyNow {
    /// It does: something other than ~/.ssh/authorized_keys grants it.
    Accepted,
    /// It does not (the key is refused).
    Refused,
    /// Could not be asked: why.
    Unknown(String),
}

/// The stop of a stage on `node` whose authorized_keys lacks the old key,
/// though the old key logged in: it says what was seen, by the cause
/// [`OldKeyNow`] tells, with a remedy that cannot lock the control out. A
/// key something else grants is out of rccr's reach: moving it into
/// ~/.ssh/authorized_keys, where sshd may not look, takes it away. A key
/// refused now means the file changed since the login (the stage's revert
/// of a rotation whose timer died), to keys that were not checked.
fn lacks_old_key(node: &NodeAddr, user: &str, now: OldKeyNow) -> String {
    let lacks = format!(
        "the old key logged in to {node}, but {user}'s ~/.ssh/authorized_keys there (the \
         only file rccr rotates) does not hold it; no key was staged"
    );
    let remedy = "add the new key where the old key is granted and remove the old key \
         there, or make ~/.ssh/authorized_keys the file sshd reads (AuthorizedKeysFile) and \
         grant the old key there alone; then run again";
    let changed = "the file changed after that login (most likely the stage reverted a \
         rotation armed there whose revert timer had died, to what the node took before it), \
         and which key the node takes now was not checked: from the node's console, add the \
         new key's line to that file, then run again";
    match now {
        OldKeyNow::Accepted => {
            format!("{lacks}. The old key still logs in: {GRANTED_ELSEWHERE}: {remedy}")
        }
        OldKeyNow::Refused => format!("{lacks}, and the old key is refused now: {changed}"),
        OldKeyNow::Unknown(why) => format!(
            "{lacks}, and whether the old key still logs in could not be checked ({why}). \
             If it does, {GRANTED_ELSEWHERE}: {remedy}. If not, {changed}"
        ),
    }
}

/// Why a key logs in though ~/.ssh/authorized_keys lacks it.
const GRANTED_ELSEWHERE: &str = "something else grants it (another AuthorizedKeysFile, an \
     AuthorizedKeysCommand, a certificate), where rccr cannot take it away";

/// Why a step sends the node nothing, and stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// The node's answer is no snapshot ([`Snapshot::of`]).
    NotSnapshot,
    /// The file to stage on lacks the old key: it logged in through
    /// something else (another file, or a backup the node's dead-timer
    /// revert just put back), and no commit could take it away.
    LacksOldKey,
    /// The file to commit lacks the new key: the node reverted since.
    Expired,
    /// The file to commit, armed for no rotation, holds neither key: it
    /// changed after the new key logged in.
    LacksNewKey,
}

/// What a node whose snapshot is not one is told (its login shell printed
/// something before the protocol's output, say).
const NOT_A_SNAPSHOT: &str = "the node's answer is not a snapshot (login shell output?)";

/// The stop of a step the node refused for [`NOT_A_SNAPSHOT`]: `refused`
/// names the step (and the node), `kept` says what stays as it was.
fn not_a_snapshot(refused: &str, kept: &str) -> Stop {
    Stop(
        Outcome::Reverted,
        format!("{refused}: {NOT_A_SNAPSHOT}; {kept}"),
    )
}

/// The input of the stage for the node's snapshot `head`: its file with
/// the new key line, when it holds the old key (`old` is its blob). The
/// new key takes the old one's options: a key the user bound to the
/// control (`from=`, `restrict`) is not set free by a rotation.
fn stage_input(head: &[u8], old: &[u8], new_line: &str) -> Result<Vec<u8>, Refusal> {
    let snap = Snapshot::of(head).ok_or(Refusal::NotSnapshot)?;
    if !authorized::contains(snap.content, old) {
        return Err(Refusal::LacksOldKey);
    }
    // Options that are not text stay behind (as before), not mangled.
    let options = std::str::from_utf8(authorized::options_of(snap.content, old)).unwrap_or("");
    let line = format!("{options}{new_line}");
    Ok(new_file(&authorized::with_key(snap.content, &line)))
}

/// The input of the commit for the node's snapshot `head` (`old` and `new`
/// are key blobs): the file without the old key; nothing when there is
/// nothing to do. An armed rotation always gets a file, the same bytes
/// when no old key is left to remove: the node disarms before it installs,
/// and a rotation left armed would have its timer take the new key away
/// after the run reported it rotated (another control's stage on a file
/// that lacked our old key).
fn commit_input(head: &[u8], old: &[u8], new: &[u8]) -> Result<Vec<u8>, Refusal> {
    let snap = Snapshot::of(head).ok_or(Refusal::NotSnapshot)?;
    let armed = snap.rotation != Rotation::None;
    if !armed && !authorized::contains(snap.content, old) {
        // Nothing to remove, but a file that no longer grants the new key
        // (emptied, or rewritten, after the new key logged in) is no
        // rotation: the boot may still put the old keys back.
        if !authorized::contains(snap.content, new) {
            return Err(Refusal::LacksNewKey);
        }
        return Ok(Vec::new());
    }
    let committed = authorized::without_keys(snap.content, &[old]);
    if !authorized::contains(&committed, new) {
        // Never remove the old key from a file that lacks the new one.
        return Err(Refusal::Expired);
    }
    Ok(new_file(&committed))
}

/// The stop for a node whose new key did not prove itself after staging.
fn reverts(plan: &Plan, detail: String) -> Stop {
    Stop(
        Outcome::Reverted,
        format!(
            "new key not verified ({detail}); the node restores its keys within {} s",
            plan.revert_after.as_secs()
        ),
    )
}

/// Removes the old key over `conn` (a connection the new key opened) where
/// the node still holds it, disarms a rotation armed there
/// ([`commit_input`]), and persists. `verified` hears when the node
/// answered. Returns whether the file changed, and what persisting said
/// (`None`: no word of the protocol).
fn commit(plan: &Plan, conn: &Connection, verified: &dyn Fn()) -> Step<(bool, Option<Persisted>)> {
    let nonce = crate::keys::random_hex().map_err(|e| Stop(Outcome::Unreachable, e.to_string()))?;
    // Set by the respond step: why nothing was sent.
    let mut refused = None;
    let talk = conn
        .converse(
            &plan.node_command(&["commit", &nonce]),
            &trailer(&nonce),
            |head| {
                verified();
                commit_input(head, plan.old.blob(), plan.new.blob()).unwrap_or_else(|why| {
                    refused = Some(why);
                    Vec::new()
                })
            },
        )
        .map_err(|e| Stop(Outcome::Incomplete, format!("commit: {e}")))?;
    commit_ended(talk.head.is_some(), refused, &talk.output)
}

/// What [`commit`] comes to, from whether the node began (sent its
/// snapshot), why nothing was sent to it, and its output.
fn commit_ended(
    began: bool,
    refused: Option<Refusal>,
    out: &Output,
) -> Step<(bool, Option<Persisted>)> {
    if !began {
        // Ended before its snapshot (a symbolic link, another step's lock,
        // no flock): the new key opened that connection, so this is no
        // failed verification; its own words say what it did.
        return Err(Stop(
            Outcome::Reverted,
            format!(
                "commit refused before it began ({}); no file was sent",
                unstarted(out)
            ),
        ));
    }
    match refused {
        Some(Refusal::NotSnapshot) => {
            return Err(not_a_snapshot("commit refused", "no file was sent"))
        }
        Some(Refusal::LacksNewKey) => {
            return Err(Stop(
                Outcome::Incomplete,
                "authorized_keys changed after the new key logged in and holds neither key \
                 now; no file was sent and the old key is kept: check that file from the \
                 node's console, then run again"
                    .into(),
            ))
        }
        Some(_) => return Err(Stop(Outcome::Reverted, EXPIRED.into())),
        None => {}
    }
    let text = out.text();
    let mut said = text.lines();
    match (out.status, said.next()) {
        (0, Some(done @ ("committed" | "unchanged"))) => {
            Ok((done == "committed", said.next().and_then(Persisted::of)))
        }
        (REMOTE_EXPIRED, _) => Err(Stop(Outcome::Reverted, EXPIRED.into())),
        _ => Err(Stop(
            Outcome::Incomplete,
            format!("commit: {}", out.error_line()),
        )),
    }
}

/// Takes `key` out of the node's `authorized_keys` over `conn` (logged in
/// with it), through the commit step of the node side, which installs a
/// checksummed file atomically and persists it: how `rccr remove
/// --release` gives a machine back. Refused while a rotation is armed on
/// the node (it must finish first). Returns whether the file changed.
pub fn release(conn: &Connection, node_side: NodeSide, key: &Key) -> Result<bool, String> {
    let nonce = crate::keys::random_hex().map_err(|e| e.to_string())?;
    let talk = conn
        .converse(
            &Plan::command_for(node_side, &["commit", &nonce]),
            &trailer(&nonce),
            |head| match Snapshot::of(head) {
                Some(snap)
                    if snap.rotation == Rotation::None
                        && authorized::contains(snap.content, key.blob()) =>
                {
                    new_file(&authorized::without_keys(snap.content, &[key.blob()]))
                }
                _ => Vec::new(),
            },
        )
        .map_err(|e| e.to_string())?;
    released(talk.head.as_deref(), &talk.output)
}

/// The end of a release of `key` ([`release`]): `Ok` when the key is now
/// refused to `user` on `conn`, a connection of its own ([`key_now`]),
/// else what to tell. sshd may grant the key through a file the release
/// did not change (authorized_keys2, another AuthorizedKeysFile). When
/// that login cannot tell, the node has left the inventory all the same:
/// the check is the user's, `check` the command for it.
pub fn released_key_refused(
    conn: Result<Connection, String>,
    user: &str,
    key: &Key,
    check: &str,
) -> Result<(), String> {
    match key_now(conn, user, &key.path) {
        OldKeyNow::Refused => Ok(()),
        OldKeyNow::Accepted => Err(format!(
            "not released: the cluster key still logs in: {GRANTED_ELSEWHERE}: remove it there"
        )),
        OldKeyNow::Unknown(why) => Err(format!(
            "released from authorized_keys, unconfirmed: a fresh login could not tell whether \
             the cluster key is refused ({why}); check: {check}"
        )),
    }
}

/// What [`release`] comes to, from the node's snapshot (`None`: it ended
/// before one, and nothing was sent) and its output.
fn released(head: Option<&[u8]>, out: &Output) -> Result<bool, String> {
    if head.is_some_and(|head| Snapshot::of(head).is_none()) {
        return Err(format!("{NOT_A_SNAPSHOT}; nothing changed"));
    }
    match (
        head.map(Rotation::of),
        out.status,
        out.text().lines().next(),
    ) {
        (Some(Rotation::None), 0, Some(done @ ("committed" | "unchanged"))) => {
            Ok(done == "committed")
        }
        (Some(Rotation::TimerDied), 0, _) => Err(
            "a key rotation is staged on the node and its revert timer died (a reboot or a kill): \
             rccr keyrotate restores the node's keys at its next step; release after it"
                .into(),
        ),
        (Some(_), 0, _) => {
            Err("a key rotation is armed on the node: let it finish, then release".into())
        }
        _ => Err(out.error_line()),
    }
}

/// The rotation armed on the node of `conn` (logged in), from its `read`
/// step, which changes nothing there and takes no lock a step could find
/// taken; `deadline` bounds it. [`Rotation::Unknown`] when the node did
/// not answer as the protocol says.
pub fn armed_rotation(conn: &Connection, node_side: NodeSide, deadline: Duration) -> Rotation {
    let limits = Limits {
        max_output: frame::MAX_FILE + SNAPSHOT_LINES,
        deadline,
    };
    match conn.run_within(&Plan::command_for(node_side, &["read"]), b"", &limits) {
        Ok(out) if out.success() => Rotation::of(&out.stdout),
        _ => Rotation::Unknown,
    }
}

/// The rotation armed on a node, from a step's snapshot (the node's
/// words, parsed into these alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// None armed (`-`).
    None,
    /// Armed, its revert pending (`TOKEN`; an older node says so of every
    /// armed rotation).
    Armed,
    /// Armed, and its revert timer died (`TOKEN timer-died`): nothing
    /// reverts it until the next stage does.
    TimerDied,
    /// An armed line that is none of these.
    Unknown,
}

impl Rotation {
    /// The armed line (the second) of a snapshot; [`Rotation::Unknown`]
    /// when `head` is no snapshot ([`Snapshot::of`]).
    pub fn of(head: &[u8]) -> Rotation {
        Snapshot::of(head).map_or(Rotation::Unknown, |snap| snap.rotation)
    }

    /// What an armed line says.
    fn of_line(line: &[u8]) -> Rotation {
        let token_ok = |token: &[u8]| {
            (1..=256).contains(&token.len())
                && token != b"-"
                && token.iter().all(u8::is_ascii_graphic)
        };
        let words: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
        match words[..] {
            [b"-"] => Rotation::None,
            [token] if token_ok(token) => Rotation::Armed,
            [token, said] if token_ok(token) && said == TIMER_DIED.as_bytes() => {
                Rotation::TimerDied
            }
            _ => Rotation::Unknown,
        }
    }

    /// As `rccr keys status` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::None => "-",
            Rotation::Armed => "armed",
            Rotation::TimerDied => "timer-died",
            Rotation::Unknown => "?",
        }
    }
}

/// The line that ends a step's snapshot: a fresh nonce, so no file content
/// can pass for it.
fn trailer(nonce: &str) -> Vec<u8> {
    format!("\n{nonce}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a step's command line as a login shell would, with `rccr` (if
    /// given) as the only program on an otherwise system PATH.
    fn run_node_command(
        side: NodeSide,
        fake_rccr: Option<&str>,
        tag: &str,
    ) -> std::process::Output {
        let dir = std::env::temp_dir().join(format!("rccr-node-cmd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join(".ssh")).unwrap();
        if let Some(body) = fake_rccr {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join("bin/rccr");
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(Plan::command_for(side, &["read"]))
            .env("HOME", &dir)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", dir.join("bin").display()),
            )
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    /// Real keys: [`KnownHosts::check_key`] compares them.
    const KEY_1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM3ydWu7xUA7woPO+Y8SDomB8yHokHbVqJQLopw5yGIU";
    const FP_1: &str = "SHA256:NrtS+86iW9P4e3JYsfgB+L/rmVwDVS7JiC+tvCPjisc";
    const KEY_2: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPKHk60HXkrQ8dyN2BDdwIUGb81nHE6a+C0DeqdCkyO7";

    fn report(node: &str, outcome: Outcome, host_key: Option<&str>) -> Report {
        Report {
            node: crate::keys::addr::parse(node, 22).unwrap(),
            outcome,
            detail: String::new(),
            old_key_logged_in: false,
            host_key: host_key.map(|line| HostKey {
                line: line.into(),
                fingerprint: FP_1.parse().unwrap(),
                blob: Vec::new(),
            }),
        }
    }

    /// A plan in `dir` (its known_hosts file there) whose journal has
    /// `nodes` staged.
    fn moves_plan(dir: &crate::fsutil::scratch::Dir, nodes: &[&str]) -> Plan {
        let mut record = super::super::journal::Record::default();
        for node in nodes {
            record.set_phase(&format!("{node}:22"), "staged");
        }
        let key = |name: &str| Key {
            path: dir.join(name),
            line: String::new(),
            fingerprint: String::new(),
        };
        Plan {
            user: "root".into(),
            old: key("old"),
            new: key("new"),
            rotation_id: "r".into(),
            known_hosts: KnownHosts::new(dir.join("known_hosts")),
            journal: Journal::create(dir.join("journal"), record).unwrap(),
            revert_after: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            parallel: 1,
            node_side: NodeSide::Auto,
            classified: Vec::new(),
        }
    }

    /// [`follow_moves`], silent, with `pins` the known_hosts text read
    /// before the run.
    fn follow(plan: &Plan, reports: &mut [Report], pins: &str) {
        follow_moves(plan, reports, Some(&Pins::of(pins.as_bytes())), &|_, _| {});
    }

    #[test]
    fn an_old_address_is_moved_when_its_pinned_key_answered_elsewhere() {
        let dir = crate::fsutil::scratch::Dir::new("follow-moves");
        // The interrupted run pinned one node at .5 and another at .7.
        let pins = format!("10.0.0.5 {KEY_1} rccr\n10.0.0.7 {KEY_2} rccr\n");
        dir.file("known_hosts", &pins);
        let plan = moves_plan(&dir, &["10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.9"]);
        // .5's node took a new lease (.9), and another machine took .5:
        // .5 answers with a key that is not the pinned one. .6 answers
        // with another key too, but pins nothing; the key pinned at .7
        // answered nowhere.
        let mut reports = [
            report("10.0.0.5", Outcome::HostKeyMismatch, None),
            report("10.0.0.6", Outcome::HostKeyMismatch, None),
            report("10.0.0.7", Outcome::Unreachable, None),
            report("10.0.0.9", Outcome::Rotated, Some(KEY_1)),
        ];
        follow(&plan, &mut reports, &pins);
        let outcomes: Vec<Outcome> = reports.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Moved,
                Outcome::HostKeyMismatch,
                Outcome::Unreachable,
                Outcome::Rotated
            ]
        );
        assert_eq!(plan.journal.phase("10.0.0.5:22"), None);
        assert_eq!(plan.journal.phase("10.0.0.6:22").as_deref(), Some("staged"));
        // Only .5 left the pins, after the journal forgot it.
        let now = std::fs::read_to_string(dir.join("known_hosts")).unwrap();
        assert_eq!(now, format!("10.0.0.7 {KEY_2} rccr\n"));
        // An unreachable address (pinned) is followed as well.
        dir.file("known_hosts", &pins);
        reports[2] = report("10.0.0.5", Outcome::Unreachable, None);
        follow(&plan, &mut reports, &pins);
        assert_eq!(reports[2].outcome, Outcome::Moved);
    }

    /// Review F2 (b): a followed move left the old address pinned, so after
    /// a move back the key was pinned at both: taken for a cloned card.
    #[test]
    fn a_followed_move_unpins_the_old_address_and_a_move_back_is_followed_too() {
        let dir = crate::fsutil::scratch::Dir::new("move-back");
        dir.file("known_hosts", &format!("10.0.0.5 {KEY_1} rccr\n"));
        let key = report("10.0.0.9", Outcome::Rotated, Some(KEY_1)).host_key;
        // A rotation staged the node at .5, then it took the lease .9; the
        // next rotation staged it at .9, then the lease flipped back to .5.
        for (from, to) in [("10.0.0.5", "10.0.0.9"), ("10.0.0.9", "10.0.0.5")] {
            let plan = moves_plan(&dir, &[from, to]);
            let before = plan.known_hosts.snapshot().unwrap();
            let at = to.parse().unwrap();
            let pin = plan
                .known_hosts
                .check_or_pin_key(at, 22, key.as_ref().unwrap());
            assert_eq!(pin.unwrap(), Pinned::New, "{to}");
            let mut reports = [
                report(from, Outcome::Unreachable, None),
                report(to, Outcome::Rotated, Some(KEY_1)),
            ];
            follow_moves(&plan, &mut reports, Some(&before), &|_, _| {});
            assert_eq!(reports[0].outcome, Outcome::Moved, "{}", reports[0].detail);
            assert_eq!(plan.journal.phase(&format!("{from}:22")), None);
            let pins = std::fs::read_to_string(dir.join("known_hosts")).unwrap();
            assert_eq!(pins, format!("{to} {KEY_1} rccr\n"), "{from} not unpinned");
        }
    }

    #[test]
    fn a_host_key_more_than_one_machine_holds_proves_no_move() {
        // Review, finding 4: a copy of .5's card (its host key) answered
        // elsewhere, and .5 was taken to have moved there. Each case: the
        // addresses that pinned KEY_1 before the run, each address's
        // outcome (a `Rotated` one answered with KEY_1), and what the one
        // at index `who` (kept unsettled) says.
        use Outcome::{HostKeyMismatch as Mismatch, Rotated, Unreachable};
        let case = |pinned: &[&str], nodes: &[(&str, Outcome)], who: usize, said: &str| {
            let pins: String = pinned
                .iter()
                .map(|ip| format!("{ip} {KEY_1} rccr\n"))
                .collect();
            let dir = crate::fsutil::scratch::Dir::new("shared-host-key");
            dir.file("known_hosts", &pins);
            let plan = moves_plan(&dir, &["10.0.0.5", "10.0.0.7"]);
            let mut reports: Vec<Report> = nodes
                .iter()
                .map(|&(ip, outcome)| report(ip, outcome, (outcome == Rotated).then_some(KEY_1)))
                .collect();
            follow(&plan, &mut reports, &pins);
            let after: Vec<Outcome> = reports.iter().map(|r| r.outcome).collect();
            let before: Vec<Outcome> = nodes.iter().map(|n| n.1).collect();
            assert_eq!(after, before, "{said}");
            assert_eq!(plan.journal.phase("10.0.0.5:22").as_deref(), Some("staged"));
            let detail = &reports[who].detail;
            assert!(detail.contains(said), "{detail}");
            let remedy = "give each machine its own host keys";
            assert!(detail.contains(remedy), "{detail}");
        };
        // Pinned at .8 too before the run, where it answered.
        let nodes = [("10.0.0.5", Unreachable), ("10.0.0.8", Rotated)];
        let said = "answered at 10.0.0.8, pinned there before this run too: ";
        case(&["10.0.0.5", "10.0.0.8"], &nodes, 0, said);
        // Pinned at .5 only, and answered at two addresses.
        let nodes = [
            ("10.0.0.5", Mismatch),
            ("10.0.0.8", Rotated),
            ("10.0.0.9", Rotated),
        ];
        case(&["10.0.0.5"], &nodes, 0, "answered at 10.0.0.8, 10.0.0.9: ");
        // Pinned at .5 and .7, both unreachable: neither moved to .9.
        let nodes = [
            ("10.0.0.5", Unreachable),
            ("10.0.0.7", Unreachable),
            ("10.0.0.9", Rotated),
        ];
        let said = "answered at 10.0.0.9 and was pinned at 10.0.0.5 before this run: ";
        case(&["10.0.0.5", "10.0.0.7"], &nodes, 1, said);
    }

    #[test]
    fn a_stage_without_the_old_key_says_the_remedy_of_its_cause() {
        let node = NodeAddr {
            ip: std::net::IpAddr::V4([10, 0, 0, 5].into()),
            port: 22,
        };
        let said = |now| lacks_old_key(&node, "root", now);
        let says = |text: &str, parts: &[&str], wanted: bool| {
            for part in parts {
                assert_eq!(text.contains(part), wanted, "{part}: {text}");
            }
        };
        // Something else grants it: never told to move it (sshd may not
        // read ~/.ssh/authorized_keys), nor to run setup (refused alike).
        let other = said(OldKeyNow::Accepted);
        let granted = [
            "to 10.0.0.5,",
            "root's ~/.ssh/authorized_keys there",
            "AuthorizedKeysCommand",
            "add the new key where the old key is granted",
        ];
        says(&other, &granted, true);
        let wrong = ["move the old key's line", "rccr setup", "nothing changed"];
        says(&other, &wrong, false);
        says(&other, &["file changed"], false);
        // Refused now: the file changed, to keys nobody checked.
        let reverted = said(OldKeyNow::Refused);
        let changed = ["refused now", "the file changed", "not checked", "console"];
        says(&reverted, &changed, true);
        says(&reverted, &wrong, false);
        says(&reverted, &["something else grants"], false);
        // Not known which: both causes, each with its remedy.
        let unknown = said(OldKeyNow::Unknown("timed out".into()));
        let both = [
            "(timed out)",
            "If it does, something else",
            "If not, the file",
        ];
        says(&unknown, &both, true);
    }

    #[test]
    fn a_release_whose_key_could_not_be_checked_is_no_release() {
        let key = Key {
            path: "/nonexistent/id".into(),
            line: String::new(),
            fingerprint: String::new(),
        };
        let said = released_key_refused(Err("no route".into()), "root", &key, "ssh CHECK");
        let said = said.unwrap_err();
        assert!(
            said.starts_with("released from authorized_keys, unconfirmed: "),
            "{said}"
        );
        assert!(said.ends_with("(no route); check: ssh CHECK"), "{said}");
    }

    /// A snapshot of `content` with the armed line `armed`, as a step prints it.
    fn snapshot_of(armed: &str, content: &[u8]) -> Vec<u8> {
        let sum = authorized::cksum_line(content);
        [format!("{sum}\n{armed}\n").as_bytes(), content].concat()
    }

    #[test]
    fn a_snapshot_tells_no_rotation_an_armed_one_and_one_whose_timer_died() {
        let head = |armed: &[u8]| {
            snapshot_of(std::str::from_utf8(armed).unwrap(), b"ssh-ed25519 AAAA x\n")
        };
        assert_eq!(Rotation::of(&head(b"-")), Rotation::None);
        // What every node says of an armed rotation, older ones too.
        assert_eq!(Rotation::of(&head(b"0a1b.2c3d")), Rotation::Armed);
        assert_eq!(
            Rotation::of(&head(b"0a1b.2c3d timer-died")),
            Rotation::TimerDied
        );
        // The node's words: anything else is not taken for a state.
        let odd = "|- timer-died|0a1b timer-died x|0a1b timer-alive|0a1b\x1b[2J| 0a1b";
        let long = "a".repeat(257);
        for line in odd.split('|').chain([long.as_str()]) {
            assert_eq!(
                Rotation::of(&head(line.as_bytes())),
                Rotation::Unknown,
                "{line:?}"
            );
        }
        assert_eq!(Rotation::of(b"none"), Rotation::Unknown);
        assert_eq!(Rotation::of(b"none\n-\n"), Rotation::None);
        // A sum that is not the content's: no snapshot, whatever it says.
        assert_eq!(
            Rotation::of(b"123 45\n-\nssh-ed25519 AAAA x\n"),
            Rotation::Unknown
        );
    }

    const OLD: &str = "ssh-ed25519 AAAAold rccr-temporary-key";
    const NEW: &str = "ssh-ed25519 AAAAnew rccr-cluster-key";
    fn blob(line: &str) -> &[u8] {
        authorized::key_blob(line.as_bytes()).unwrap()
    }

    /// The new key keeps what the user bound the old one to (review
    /// node-keys, risk 4): a rotation set it free before.
    #[test]
    fn the_new_key_takes_the_old_keys_options() {
        let file = format!("# bob\nfrom=\"10.0.0.1\",restrict {OLD}\n");
        let staged = stage_input(&snapshot_of("-", file.as_bytes()), blob(OLD), NEW).unwrap();
        let want = format!("from=\"10.0.0.1\",restrict {OLD}\nfrom=\"10.0.0.1\",restrict {NEW}\n");
        assert!(
            staged.ends_with(want.as_bytes()),
            "{}",
            String::from_utf8_lossy(&staged)
        );
    }

    #[test]
    fn login_shell_output_before_the_snapshot_gets_no_input() {
        let file = format!("# bob\n{OLD}\n{NEW}\n");
        let snap = snapshot_of("-", file.as_bytes());
        assert!(stage_input(&snap, blob(OLD), NEW).is_ok());
        assert!(commit_input(&snap, blob(OLD), blob(NEW)).is_ok());
        // A `.bashrc` greeting, one line or two (the sum line then reads
        // as part of the file): the node's answer is no snapshot.
        for noise in ["Welcome\n", "Welcome\nto node-1\n"] {
            let head = [noise.as_bytes(), &snap].concat();
            assert_eq!(
                stage_input(&head, blob(OLD), NEW),
                Err(Refusal::NotSnapshot)
            );
            assert_eq!(
                commit_input(&head, blob(OLD), blob(NEW)),
                Err(Refusal::NotSnapshot)
            );
            assert_eq!(Rotation::of(&head), Rotation::Unknown);
        }
        // A `none` sum holds no file.
        let head = format!("none\n-\n{OLD}\n");
        assert_eq!(
            stage_input(head.as_bytes(), blob(OLD), NEW),
            Err(Refusal::NotSnapshot)
        );
    }

    #[test]
    fn a_commit_or_release_refused_before_it_began_is_refused_whatever_it_printed() {
        // The node's refusal of a link (which may have dropped a rotation
        // no timer reverts), and, to be sure, output that would pass for
        // success had the node sent its snapshot.
        let link = b"rccr-remote: /root/.ssh/authorized_keys is a symbolic link (to x)\n";
        let refusal = Output {
            status: 1,
            stdout: Vec::new(),
            stderr: link.to_vec(),
        };
        let success = Output {
            status: 0,
            stdout: b"unchanged\ndisk\n".to_vec(),
            stderr: Vec::new(),
        };
        let Err(Stop(outcome, detail)) = commit_ended(false, None, &refusal) else {
            panic!("a commit refused before it began passed");
        };
        assert_eq!(outcome, Outcome::Reverted);
        assert_eq!(
            detail,
            "commit refused before it began (exit 1: rccr-remote: /root/.ssh/authorized_keys is \
             a symbolic link (to x)); no file was sent"
        );
        assert!(matches!(
            commit_ended(false, None, &success),
            Err(Stop(Outcome::Reverted, _))
        ));
        assert_eq!(
            released(None, &refusal),
            Err(format!("exit 1: {}", String::from_utf8_lossy(link).trim()))
        );
        assert!(released(None, &success).is_err());
        // A stage refused on a link too, where the node dropped a rotation
        // no timer reverts: no "nothing changed" beside its words.
        let node = crate::keys::addr::parse("10.0.0.5", 22).unwrap();
        let dropped = Output {
            status: 1,
            stdout: Vec::new(),
            stderr: b"rccr-remote: /root/.ssh/authorized_keys is a symbolic link (to x): rccr \
                      writes only a regular file; the rotation armed here, which no timer \
                      reverts, dropped (its marker and backup removed; the link and its target \
                      kept): make it a copy of its target, or change the target by hand\n"
                .to_vec(),
        };
        for out in [&refusal, &dropped, &success] {
            let Err(Stop(outcome, detail)) = stage_ended(&node, false, out) else {
                panic!("a stage refused before it began passed");
            };
            assert_eq!(outcome, Outcome::Reverted);
            assert!(
                detail.starts_with("staging refused on 10.0.0.5 before it began (exit "),
                "{detail}"
            );
            assert!(detail.ends_with("); no file was sent"), "{detail}");
            assert!(!detail.contains("nothing changed"), "{detail}");
        }
        // Begun, the same output is a success.
        let head = snapshot_of("-", b"");
        assert!(matches!(
            commit_ended(true, None, &success),
            Ok((false, Some(Persisted::Disk)))
        ));
        assert_eq!(released(Some(&head), &success), Ok(false));
    }

    #[test]
    fn a_commits_persist_word_is_one_of_the_protocols_and_nothing_else() {
        // A node that says `committed`, then a mebibyte where its persist
        // word belongs: none of it gets into the report.
        let flood = Output {
            status: 0,
            stdout: [b"committed\n", &b"x".repeat(1 << 20)[..], b"\n"].concat(),
            stderr: Vec::new(),
        };
        let Ok((true, said)) = commit_ended(true, None, &flood) else {
            panic!("a commit that said committed did not");
        };
        assert_eq!(said, None);
    }

    #[test]
    fn a_stage_on_a_file_without_the_old_key_sends_nothing() {
        let other = "ssh-ed25519 AAAAother someone";
        let snap = snapshot_of("-", format!("{other}\n").as_bytes());
        assert_eq!(
            stage_input(&snap, blob(OLD), NEW),
            Err(Refusal::LacksOldKey)
        );
        let snap = snapshot_of("-", format!("{other}\n{OLD}\n").as_bytes());
        assert_eq!(
            stage_input(&snap, blob(OLD), NEW),
            Ok(new_file(format!("{other}\n{OLD}\n{NEW}\n").as_bytes()))
        );
    }

    #[test]
    fn a_commit_against_an_armed_rotation_always_sends_a_file() {
        let other = "ssh-ed25519 AAAAother another-control";
        // Another control's stage armed on a file that never held our old
        // key: the same bytes go back, so the node disarms.
        let file = format!("{other}\n{NEW}\n");
        for armed in ["0a1b.2c3d", "0a1b.2c3d timer-died", "?odd line?"] {
            let snap = snapshot_of(armed, file.as_bytes());
            assert_eq!(
                commit_input(&snap, blob(OLD), blob(NEW)),
                Ok(new_file(file.as_bytes())),
                "{armed}"
            );
        }
        // Not armed and nothing to remove: nothing to do.
        let snap = snapshot_of("-", file.as_bytes());
        assert_eq!(commit_input(&snap, blob(OLD), blob(NEW)), Ok(Vec::new()));
        // Armed or not, the old key goes where the new one stays.
        for armed in ["-", "0a1b.2c3d"] {
            let snap = snapshot_of(armed, format!("{OLD}\n{file}").as_bytes());
            assert_eq!(
                commit_input(&snap, blob(OLD), blob(NEW)),
                Ok(new_file(file.as_bytes()))
            );
        }
        // A file without the new key (the node reverted): never touched.
        for armed in ["-", "0a1b.2c3d"] {
            let snap = snapshot_of(armed, format!("{OLD}\n{other}\n").as_bytes());
            assert_eq!(
                commit_input(&snap, blob(OLD), blob(NEW)),
                Err(Refusal::Expired)
            );
        }
        let snap = snapshot_of("0a1b.2c3d", format!("{other}\n").as_bytes());
        assert_eq!(
            commit_input(&snap, blob(OLD), blob(NEW)),
            Err(Refusal::Expired)
        );
        // Not armed, and neither key (emptied after the new key logged
        // in): no rotation to report.
        for file in ["", "ssh-ed25519 AAAAother another-control\n"] {
            let snap = snapshot_of("-", file.as_bytes());
            assert_eq!(
                commit_input(&snap, blob(OLD), blob(NEW)),
                Err(Refusal::LacksNewKey),
                "{file:?}"
            );
        }
    }

    #[test]
    fn the_node_command_prefers_rccr_and_falls_back_to_the_script() {
        let script_read = b"none\n-\n".to_vec();
        // No rccr on the node: the script answers.
        let out = run_node_command(NodeSide::Auto, None, "none");
        assert_eq!(
            out.stdout,
            script_read,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The node's rccr answers, with its own exit status.
        let out = run_node_command(NodeSide::Auto, Some("echo rccr \"$@\"; exit 4"), "ours");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("rccr keys node {PROTOCOL} read\n")
        );
        assert_eq!(out.status.code(), Some(4));
        // An rccr that speaks another protocol: the script takes over.
        let out = run_node_command(NodeSide::Auto, Some("exit 125"), "other");
        assert_eq!(out.stdout, script_read);
        assert!(out.status.success());
        // Forced to the script: the node's rccr is never asked.
        let out = run_node_command(NodeSide::Script, Some("echo rccr; exit 0"), "forced");
        assert_eq!(out.stdout, script_read);
    }
}
