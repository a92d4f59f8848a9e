//! `rccr status`: every node of the inventory (`STATE_DIR/nodes`), queried
//! in parallel. Nothing is written anywhere.
//!
//! Per target, over one SSH connection where it can: the host key against
//! the one setup recorded, the temporary key (must be refused), the cluster
//! key (must be accepted), then one POSIX sh command that asks the node's
//! Docker engine for its version and swarm state (and, on a manager,
//! whether it leads). The control is asked locally.
//!
//! A target is healthy when it is reachable, presents the recorded host
//! key, accepts the cluster key, refuses the temporary key, runs Docker and
//! is an active swarm member. The control is healthy unless it runs Docker
//! outside the swarm. Exit code 0 when every node is healthy, 1 otherwise.
use super::health::{self, Health};
use super::member::{self, LoginError};
use crate::config::Config;
use crate::docker::api::is_id;
use crate::error::Error;
use crate::identity::Role;
use crate::keys::addr::NodeAddr;
use crate::keys::control::journal;
use crate::keys::resolve::Resolver;
use crate::parallel;
use crate::print::{self, Object, Table};
use crate::ssh::stream::bounded;
use crate::ssh::{Limits, Output, SshError};
use crate::state::inventory::{self, NodeRecord};
use crate::state::swarm::SwarmRecord;
use crate::state::StatePaths;
use std::path::PathBuf;
use std::time::Duration;

pub struct Options {
    pub config: Option<PathBuf>,
    pub paths: StatePaths,
    pub timeout: Duration,
    pub parallel: usize,
    pub json: bool,
}

/// Nodes queried at once by default: 200 nodes in about two rounds.
pub const DEFAULT_PARALLEL: usize = 128;

/// What a node's engine answers, in one `docker` call (each process on
/// the node counts: the control asks hundreds at once); `rccr-...` lines
/// and any error, parsed by [`parse_probe`]. A client that cannot reach
/// its engine may print part of the template before failing: the `down`
/// line wins. A manager tells its swarm's ID (workers know none).
pub const DOCKER_PROBE: &str = "command -v docker >/dev/null 2>&1 || { echo 'rccr-docker absent'; exit 0; }
docker info --format 'rccr-docker up|{{.ServerVersion}}|{{.Swarm.LocalNodeState}}|{{.Swarm.ControlAvailable}}|{{if .Swarm.Cluster}}{{.Swarm.Cluster.ID}}{{end}}|{{.Swarm.Error}}' 2>&1 || echo 'rccr-docker down'
";

/// The whole probe: the node's health ([`health::PROBE`]), then Docker.
fn probe_command() -> String {
    format!("{}{DOCKER_PROBE}", health::PROBE)
}

/// Asked of one manager: every swarm node as the swarm sees it, at the
/// address the manager sees it at. The hostname, each node's own word
/// (any bytes, `|` too), comes last.
pub const NODE_LIST: &str = "docker node inspect --format \
'rccr-node|{{.Status.Addr}}|{{if .ManagerStatus}}{{if .ManagerStatus.Leader}}Leader{{else}}{{.ManagerStatus.Reachability}}{{end}}{{end}}|{{.Status.State}}|{{.Description.Hostname}}' \
$(docker node ls -q) 2>&1";

/// One node of [`NODE_LIST`]'s output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmSeen {
    /// Where the manager sees it (`None`: it does not say).
    pub addr: Option<std::net::IpAddr>,
    /// `Leader`, `Reachable`, `Unreachable`, or "" for a worker.
    pub manager_status: String,
    /// `ready`, `down`, ...
    pub status: String,
    pub hostname: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Docker {
    /// Not asked: the node could not be reached or logged in to.
    #[default]
    Unknown,
    /// No `docker` command.
    Absent,
    /// The command is there, the engine does not answer; the last error line.
    Down(String),
    Up {
        version: String,
        /// `LocalNodeState`: inactive, pending, active, error, locked.
        swarm_state: String,
        manager: bool,
        leader: bool,
        /// A manager's swarm ID ("" for a worker, or an ID that is none).
        cluster: String,
        swarm_error: String,
    },
}

/// One node's answers.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    pub node: NodeRecord,
    /// "local" (the control), "ok", "unreachable", "host-key-mismatch".
    pub ssh: &'static str,
    /// "accepted", "refused", "-" (not tried: no key, or not reachable).
    pub cluster_key: &'static str,
    /// "refused", "accepted", "-" (no temporary key on the control, or not tried).
    pub temp_key: &'static str,
    pub docker: Docker,
    /// The node's status as a swarm manager sees it (ready, down, ...);
    /// `None` when no manager answered or it does not know the node.
    pub swarm_seen: Option<String>,
    /// What went wrong, worded for the user.
    pub error: Option<String>,
    /// Uptime, load, memory, disks, temperature, when the node answered.
    pub health: Option<Health>,
    /// Whether its last key change survives a reboot, from the journals:
    /// `yes`, `volatile`, `-` (none recorded: the control, or never rotated).
    pub persisted: &'static str,
    /// `Leader`, `Reachable`, `Unreachable` as the swarm's list says, for
    /// a manager.
    pub manager_status: Option<String>,
}

impl NodeStatus {
    fn new(node: &NodeRecord) -> NodeStatus {
        NodeStatus {
            node: node.clone(),
            ssh: "-",
            cluster_key: "-",
            temp_key: "-",
            docker: Docker::Unknown,
            swarm_seen: None,
            error: None,
            health: None,
            persisted: "-",
            manager_status: None,
        }
    }

    pub fn swarm_role(&self) -> &'static str {
        match &self.docker {
            Docker::Up { swarm_state, .. } if swarm_state != "active" => "-",
            Docker::Up { leader: true, .. } => "leader",
            Docker::Up { manager: true, .. } => "manager",
            Docker::Up { .. } => "worker",
            _ => "-",
        }
    }

    pub fn swarm_state(&self) -> &str {
        match &self.docker {
            Docker::Up { swarm_state, .. } => swarm_state,
            _ => "-",
        }
    }

    /// The first thing wrong with the node, if any.
    pub fn problem(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        let swarm_problem = |state: &str, error: &str| {
            let mut msg = format!("swarm state {state}");
            if !error.is_empty() {
                msg.push_str(&format!(": {error}"));
            }
            msg
        };
        if self.node.role == Role::Control {
            return match &self.docker {
                Docker::Up {
                    swarm_state,
                    swarm_error,
                    ..
                } if swarm_state != "active" => Some(format!(
                    "runs Docker outside the swarm ({})",
                    swarm_problem(swarm_state, swarm_error)
                )),
                _ => None,
            };
        }
        if self.cluster_key != "accepted" {
            return Some("the cluster key is refused".into());
        }
        if self.temp_key == "accepted" {
            return Some("the temporary key is still accepted: run rccr setup".into());
        }
        if self.persisted == "volatile" {
            return Some(
                "its key change is not saved (volatile): after a reboot it takes its old key again; \
                 give it storage, then run rccr setup"
                    .into(),
            );
        }
        match &self.docker {
            Docker::Unknown => Some("Docker not asked".into()),
            Docker::Absent => Some("no docker command".into()),
            Docker::Down(e) if e.is_empty() => Some("Docker is down".into()),
            Docker::Down(e) => Some(format!("Docker is down: {e}")),
            Docker::Up {
                swarm_state,
                swarm_error,
                ..
            } if swarm_state != "active" => Some(swarm_problem(swarm_state, swarm_error)),
            Docker::Up { .. } => None,
        }
    }

    pub fn healthy(&self) -> bool {
        self.problem().is_none()
    }
}

/// Reads the probe's output. Every field is the node's word, cut to
/// [`crate::ssh::stream::MAX_TEXT`]: one node's endless version would widen the table's
/// column, and so every node's row, to its length.
pub fn parse_probe(text: &str) -> Docker {
    let mut docker = Docker::Unknown;
    let mut last_error = "";
    for line in text.lines().map(str::trim) {
        if line == "rccr-docker absent" {
            return Docker::Absent;
        } else if line == "rccr-docker down" {
            return Docker::Down(bounded(last_error));
        } else if let Some(info) = line.strip_prefix("rccr-docker up|") {
            let mut f = info.splitn(5, '|');
            let mut next = || bounded(f.next().unwrap_or("").trim());
            let (version, swarm_state, control, cluster, swarm_error) =
                (next(), next(), next(), next(), next());
            docker = Docker::Up {
                version,
                swarm_state,
                manager: control == "true",
                leader: false,
                cluster: if is_id(&cluster) {
                    cluster
                } else {
                    String::new()
                },
                swarm_error,
            };
        } else if !line.is_empty() {
            last_error = line;
        }
    }
    docker
}

/// Reads [`NODE_LIST`]'s output, each field cut to
/// [`crate::ssh::stream::MAX_TEXT`].
pub fn parse_node_list(text: &str) -> Vec<SwarmSeen> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("rccr-node|"))
        .map(|l| {
            let mut f = l.splitn(4, '|');
            let mut next = || bounded(f.next().unwrap_or("").trim());
            let (addr, manager_status, status, hostname) = (next(), next(), next(), next());
            SwarmSeen {
                addr: addr
                    .parse()
                    .ok()
                    .filter(|a: &std::net::IpAddr| !a.is_unspecified()),
                manager_status: match manager_status.as_str() {
                    "reachable" => "Reachable".into(),
                    "unreachable" => "Unreachable".into(),
                    _ => manager_status,
                },
                status: status.to_ascii_lowercase(),
                hostname,
            }
        })
        .collect()
}

/// `node`'s entry in the swarm's list: the one at its address, else (for
/// an entry without one) the one with its name. A name is the node's own
/// word: by name alone, a node could speak for another.
fn seen_as<'v>(view: &'v [SwarmSeen], node: &NodeRecord) -> Option<&'v SwarmSeen> {
    view.iter().find(|n| n.addr == Some(node.ip)).or_else(|| {
        view.iter()
            .find(|n| n.addr.is_none() && n.hostname == node.hostname)
    })
}

/// Managers reachable of managers total, as the status run found them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quorum {
    pub reachable: usize,
    pub total: usize,
    /// Whether a manager could list the swarm's nodes (a swarm without
    /// quorum cannot).
    pub listed: bool,
}

impl Quorum {
    /// From the swarm's own node list when a manager gave one, else from
    /// the managers that answer and those the control recorded.
    pub fn of(statuses: &[NodeStatus], recorded_managers: usize) -> Option<Quorum> {
        let listed: Vec<&str> = statuses
            .iter()
            .filter_map(|s| s.manager_status.as_deref())
            .collect();
        let (reachable, listed_total) = if listed.is_empty() {
            let answering = statuses
                .iter()
                .filter(|s| {
                    s.error.is_none() && matches!(&s.docker, Docker::Up { manager: true, .. })
                })
                .count();
            (answering, 0)
        } else {
            let up = listed
                .iter()
                .filter(|m| matches!(**m, "Leader" | "Reachable"))
                .count();
            (up, listed.len())
        };
        let total = listed_total.max(recorded_managers).max(reachable);
        (total > 0).then_some(Quorum {
            reachable,
            total,
            listed: !listed.is_empty(),
        })
    }

    /// Raft agrees on nothing without a majority of its managers.
    pub fn held(&self) -> bool {
        self.listed && self.reachable * 2 > self.total
    }

    pub fn line(&self) -> String {
        if self.held() {
            format!(
                "quorum: {} of {} managers reachable\n",
                self.reachable, self.total
            )
        } else {
            format!(
                "quorum: LOST: {} of {} managers answer; rccr setup re-forms the swarm once you confirm\n",
                self.reachable, self.total
            )
        }
    }
}

struct Keys {
    user: String,
    port: u16,
    cluster: Option<PathBuf>,
    temporary: Option<PathBuf>,
}

pub fn run(opts: Options) -> Result<(), Error> {
    let loaded = Config::load(opts.config.as_deref())?;
    loaded.warn("rccr status");
    let config = loaded.config;
    let nodes_path = opts.paths.nodes();
    let nodes = inventory::load(&nodes_path)?;
    if nodes.is_empty() {
        return Err(Error::no_nodes(&format!(
            "the inventory ({}) lists none; run rccr setup first",
            nodes_path.display()
        )));
    }
    let resolver = Resolver::new(&opts.paths);
    let keys = Keys {
        user: config.ssh.user.clone(),
        port: config.ssh.port,
        cluster: resolver.cluster(config.ssh.key_type)?.map(|f| f.path),
        temporary: resolver
            .temporary(None, config.ssh.temp_key.as_deref())?
            .map(|f| f.path),
    };
    let journals = [
        journal::load(&opts.paths.journal())?,
        journal::load(&opts.paths.last_rotation())?,
    ];
    let records: Vec<&journal::Record> = journals.iter().flatten().collect();
    let mut statuses = parallel::map(&nodes, opts.parallel.max(1), |node| NodeStatus {
        persisted: journal::persisted(
            &records,
            &NodeAddr {
                ip: node.ip,
                port: keys.port,
            },
        ),
        ..probe(node, &keys, opts.timeout)
    });
    let record = SwarmRecord::load(&opts.paths.swarm())?;
    if let Some(cluster) = &record.cluster {
        mark_other_swarms(&mut statuses, cluster);
    }
    swarm_view(&mut statuses, &keys, opts.timeout);
    let quorum = Quorum::of(&statuses, record.managers.len());
    let out = if opts.json {
        render_json(&statuses)
    } else {
        render_table(&statuses, keys.temporary.is_some(), quorum)
    };
    print::stdout(&out)?;
    let bad = statuses.iter().filter(|s| !s.healthy()).count();
    if bad > 0 {
        return Err(Error::Failed(format!(
            "{bad} of {} nodes unreachable or unhealthy",
            statuses.len()
        )));
    }
    if let Some(q) = quorum.filter(|q| !q.held()) {
        return Err(Error::Failed(format!(
            "the swarm lost its quorum ({} of {} managers answer)",
            q.reachable, q.total
        )));
    }
    Ok(())
}

/// A manager of a swarm other than the cluster's (`cluster`, recorded by
/// setup) is no healthy member, whatever its engine says of itself.
fn mark_other_swarms(statuses: &mut [NodeStatus], cluster: &str) {
    for s in statuses.iter_mut() {
        if let Docker::Up {
            cluster: theirs, ..
        } = &s.docker
        {
            if !theirs.is_empty() && theirs != cluster && s.error.is_none() {
                s.error = Some(format!(
                    "in another swarm ({theirs}), not the cluster's {cluster}"
                ));
            }
        }
    }
}

/// Asks the first active manager (of the cluster's swarm: none marked
/// otherwise) how the swarm sees every node: which manager leads, which
/// nodes are down. One more command on one node.
fn swarm_view(statuses: &mut [NodeStatus], keys: &Keys, timeout: Duration) {
    let manager = statuses.iter().find(|s| {
        s.error.is_none()
            && matches!(&s.docker, Docker::Up { manager: true, swarm_state, .. } if swarm_state == "active")
    });
    let Some(manager) = manager.map(|s| s.node.clone()) else {
        return;
    };
    let text = if manager.role == Role::Control {
        local(NODE_LIST)
    } else {
        remote(&manager, keys, timeout, NODE_LIST)
    };
    let view = parse_node_list(&text.unwrap_or_default());
    for s in statuses.iter_mut() {
        if let Some(seen) = seen_as(&view, &s.node) {
            s.swarm_seen = Some(seen.status.clone());
            s.manager_status = Some(seen.manager_status.clone()).filter(|m| !m.is_empty());
            if let Docker::Up { leader, .. } = &mut s.docker {
                *leader = seen.manager_status == "Leader";
            }
        }
    }
}

/// Runs `command` on a target logged in with the cluster key, after the
/// host key check; its stdout, or `None`.
fn remote(node: &NodeRecord, keys: &Keys, timeout: Duration, command: &str) -> Option<String> {
    let mut conn = member::connect(node, keys.port, timeout).ok()?;
    conn.authenticate(&keys.user, keys.cluster.as_ref()?).ok()?;
    conn.set_limits(within(timeout));
    let out = conn.run(command, b"").ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A status command's bounds: the node's `--timeout`, not two minutes. A
/// node that trickles its answer (each read within the timeout) is cut
/// off there.
fn within(timeout: Duration) -> Limits {
    Limits {
        deadline: timeout,
        ..Limits::DEFAULT
    }
}

/// Runs `command` with `sh -c` on this machine; its stdout, or `None`.
/// (The control's own engine, not the manager rccr's docker context
/// names for the operator.)
fn local(command: &str) -> Option<String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("DOCKER_CONTEXT", "default")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn probe(node: &NodeRecord, keys: &Keys, timeout: Duration) -> NodeStatus {
    let mut status = NodeStatus::new(node);
    if node.role == Role::Control {
        status.ssh = "local";
        local_probe(&mut status);
        return status;
    }
    // The recorded host key, or no login: a key rccr reads no fingerprint
    // from (a type it does not parse), or a record without one, is no pin.
    let conn = match member::connect(node, keys.port, timeout) {
        Ok(conn) => conn,
        Err(LoginError::Unreachable(e)) => {
            status.ssh = "unreachable";
            status.error = Some(match e {
                SshError::Unreachable(_) => {
                    format!("{e} (if its address changed, rccr setup finds it by its MAC)")
                }
                e => format!("no SSH conversation: {e}"),
            });
            return status;
        }
        Err(e) => {
            status.ssh = "host-key-mismatch";
            status.error = Some(e.to_string());
            return status;
        }
    };
    status.ssh = "ok";
    // The temporary key first: refused, the same connection goes on to the
    // cluster key; accepted, it takes a second connection.
    let mut session = None;
    if let Some(temp) = &keys.temporary {
        match conn.authenticate(&keys.user, temp) {
            Ok(()) => status.temp_key = "accepted",
            Err(SshError::Denied) => {
                status.temp_key = "refused";
                session = Some(conn);
            }
            Err(e) => {
                status.error = Some(format!("temporary key: {e}"));
                return status;
            }
        }
    } else {
        session = Some(conn);
    }
    let Some(cluster) = &keys.cluster else {
        status.error = Some("no cluster key on this machine: run rccr setup".into());
        return status;
    };
    let session = match session {
        Some(conn) => Ok(conn),
        // The second connection is checked as the first.
        None => member::connect(node, keys.port, timeout).map_err(|e| match e {
            LoginError::Unreachable(e) => e,
            e => SshError::KeyExchange(e.to_string()),
        }),
    };
    let mut conn = match session.and_then(|c| c.authenticate(&keys.user, cluster).map(|()| c)) {
        Ok(conn) => {
            status.cluster_key = "accepted";
            conn
        }
        Err(SshError::Denied) => {
            status.cluster_key = "refused";
            return status;
        }
        Err(e) => {
            status.error = Some(format!("cluster key: {e}"));
            return status;
        }
    };
    conn.set_limits(within(timeout));
    match conn.run(&probe_command(), b"") {
        Ok(out) => {
            status.docker = docker_from(&out);
            status.health = Health::parse(&String::from_utf8_lossy(&out.stdout));
        }
        Err(e) => status.error = Some(format!("could not ask Docker: {e}")),
    }
    status
}

fn docker_from(out: &Output) -> Docker {
    let docker = parse_probe(&String::from_utf8_lossy(&out.stdout));
    if docker == Docker::Unknown {
        let err = String::from_utf8_lossy(&out.stderr);
        return Docker::Down(format!(
            "no answer from the probe (exit {}): {}",
            out.status,
            bounded(err.trim())
        ));
    }
    docker
}

fn local_probe(status: &mut NodeStatus) {
    match local(&probe_command()) {
        Some(text) => {
            status.docker = parse_probe(&text);
            status.health = Health::parse(&text);
        }
        None => status.docker = Docker::Down("cannot run sh".into()),
    }
}

fn docker_column(d: &Docker) -> String {
    match d {
        Docker::Unknown => "-".into(),
        Docker::Absent => "none".into(),
        Docker::Down(_) => "down".into(),
        Docker::Up { version, .. } => version.clone(),
    }
}

pub fn render_table(
    statuses: &[NodeStatus],
    temp_key_checked: bool,
    quorum: Option<Quorum>,
) -> String {
    let mut table = Table::new(&[
        "NODE",
        "IP",
        "ROLE",
        "SSH",
        "CLUSTER-KEY",
        "TEMP-KEY",
        "SWARM",
        "STATE",
        "DOCKER",
        "HEALTH",
    ]);
    for s in statuses {
        table.row([
            print::name(&s.node.hostname).into_owned(),
            s.node.ip.to_string(),
            s.node.role.as_str().into(),
            s.ssh.into(),
            s.cluster_key.into(),
            s.temp_key.into(),
            s.swarm_role().into(),
            print::text(s.swarm_state()).into_owned(),
            print::text(&docker_column(&s.docker)).into_owned(),
            (if s.healthy() { "ok" } else { "FAIL" }).to_string(),
        ]);
    }
    let mut out = table.render();
    for s in statuses {
        if let Some(old) = s.node.moved_from {
            out.push_str(&format!(
                "  {} ({}): moved from {old} (followed by its MAC and host key at the last setup)\n",
                print::name(&s.node.hostname),
                s.node.ip,
            ));
        }
        if let Some(problem) = s.problem() {
            out.push_str(&format!(
                "  {} ({}): {}\n",
                print::name(&s.node.hostname),
                s.node.ip,
                print::text(&problem)
            ));
        }
    }
    let mut health = Table::new(&[
        "NODE", "UPTIME", "LOAD", "MEMORY", "ROOT", "STORAGE", "TEMP",
    ]);
    for s in statuses {
        let Some(h) = &s.health else { continue };
        let mut row = vec![print::name(&s.node.hostname).into_owned()];
        row.extend(h.cells());
        health.row(row);
    }
    out.push('\n');
    out.push_str(&health.render());
    for s in statuses {
        for warning in s.health.iter().flat_map(Health::warnings) {
            out.push_str(&format!(
                "  {} ({}): warning: {warning}\n",
                print::name(&s.node.hostname),
                s.node.ip
            ));
        }
    }
    let healthy = statuses.iter().filter(|s| s.healthy()).count();
    let count = |role: &str| statuses.iter().filter(|s| s.swarm_role() == role).count();
    out.push_str(&format!(
        "{healthy} of {} nodes healthy; swarm: {} manager(s) ({} leading), {} worker(s)\n",
        statuses.len(),
        count("manager") + count("leader"),
        count("leader"),
        count("worker")
    ));
    if let Some(q) = quorum {
        out.push_str(&q.line());
    }
    if !temp_key_checked {
        out.push_str("temporary key: not on this machine, so not checked\n");
    }
    out
}

/// A status word, `null` for "-".
fn opt_word(s: &str) -> Option<&str> {
    (s != "-").then_some(s)
}

pub fn render_json(statuses: &[NodeStatus]) -> String {
    let objects: Vec<Object> = statuses
        .iter()
        .map(|s| {
            let (docker, version, swarm_error) = match &s.docker {
                Docker::Unknown => ("unknown", None, None),
                Docker::Absent => ("absent", None, None),
                Docker::Down(_) => ("down", None, None),
                Docker::Up {
                    version,
                    swarm_error,
                    ..
                } => (
                    "running",
                    Some(version.as_str()),
                    Some(swarm_error.as_str()).filter(|e| !e.is_empty()),
                ),
            };
            let o = Object::new()
                .str("node", &s.node.hostname)
                .str("ip", &s.node.ip.to_string())
                .opt(
                    "moved_from",
                    s.node.moved_from.map(|ip| ip.to_string()).as_deref(),
                )
                .str("role", s.node.role.as_str())
                .str("arch", s.node.arch_name())
                .bool("reachable", matches!(s.ssh, "ok" | "local"))
                .str("ssh", s.ssh)
                .opt("cluster_key", opt_word(s.cluster_key))
                .opt("temp_key", opt_word(s.temp_key))
                .str("docker", docker)
                .opt("docker_version", version)
                .opt("swarm_role", opt_word(s.swarm_role()))
                .opt("swarm_state", opt_word(s.swarm_state()))
                .opt("swarm_error", swarm_error)
                .opt("swarm_seen", s.swarm_seen.as_deref())
                .opt("manager_status", s.manager_status.as_deref())
                .opt("key_persisted", opt_word(s.persisted))
                .bool("healthy", s.healthy())
                .opt("problem", s.problem().as_deref());
            match &s.health {
                Some(h) => h.json(o),
                None => o.raw("warnings", "[]"),
            }
        })
        .collect();
    print::array(&objects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::stream::MAX_TEXT;

    fn node(role: Role) -> NodeRecord {
        NodeRecord {
            ip: "10.0.0.2".parse().unwrap(),
            mac: None,
            hostname: "t1".into(),
            role,
            arch: Some(crate::identity::Arch::X86_64),
            host_key: None,
            moved_from: None,
        }
    }

    fn up(state: &str, manager: bool) -> Docker {
        Docker::Up {
            version: "20.10.24".into(),
            swarm_state: state.into(),
            manager,
            leader: false,
            cluster: String::new(),
            swarm_error: String::new(),
        }
    }

    #[test]
    fn probe_output_parses() {
        assert_eq!(parse_probe("rccr-docker absent\n"), Docker::Absent);
        assert_eq!(
            parse_probe(
                "rccr-docker up||\nCannot connect to the Docker daemon\nrccr-docker down\n"
            ),
            Docker::Down("Cannot connect to the Docker daemon".into())
        );
        assert_eq!(
            parse_probe("rccr-docker up|20.10.24|active|true|lmq5abc|\n"),
            Docker::Up {
                version: "20.10.24".into(),
                swarm_state: "active".into(),
                manager: true,
                leader: false,
                cluster: "lmq5abc".into(),
                swarm_error: String::new(),
            }
        );
        assert_eq!(
            parse_probe("WARNING: x\nrccr-docker up|24.0|error|false||rpc error: a|b\n"),
            Docker::Up {
                version: "24.0".into(),
                swarm_state: "error".into(),
                manager: false,
                leader: false,
                cluster: String::new(),
                swarm_error: "rpc error: a|b".into(),
            }
        );
        // An ID that is none is no ID.
        assert!(matches!(
            parse_probe("rccr-docker up|24.0|active|true|../x|\n"),
            Docker::Up { cluster, .. } if cluster.is_empty()
        ));
        assert_eq!(parse_probe("garbage"), Docker::Unknown);
        let view = parse_node_list(
            "rccr-node|10.0.0.2|Leader|ready|a\nrccr-node|0.0.0.0|unreachable|down|b\n\
             rccr-node|10.0.0.9||ready|t1|Leader\nnoise\n",
        );
        assert_eq!(
            view[..2],
            [
                SwarmSeen {
                    addr: "10.0.0.2".parse().ok(),
                    manager_status: "Leader".into(),
                    status: "ready".into(),
                    hostname: "a".into(),
                },
                SwarmSeen {
                    addr: None,
                    manager_status: "Unreachable".into(),
                    status: "down".into(),
                    hostname: "b".into(),
                }
            ]
        );
        // The third, named `t1|Leader`, speaks for no node named t1.
        assert_eq!(view[2].hostname, "t1|Leader");
        let mut t1 = node(Role::Target);
        assert_eq!(seen_as(&view, &t1), Some(&view[0]));
        t1.ip = "10.0.0.3".parse().unwrap();
        assert_eq!(seen_as(&view, &t1), None);
    }

    /// A target as it should be: reachable, rotated, a swarm worker.
    fn healthy_target() -> NodeStatus {
        let mut s = NodeStatus::new(&node(Role::Target));
        s.ssh = "ok";
        s.cluster_key = "accepted";
        s.temp_key = "refused";
        s.docker = up("active", false);
        s
    }

    #[test]
    fn one_nodes_endless_answer_widens_no_other_row() {
        let endless = "9".repeat(1 << 20);
        let mut statuses: Vec<NodeStatus> = (0..20).map(|_| healthy_target()).collect();
        statuses[0].docker = parse_probe(&format!("rccr-docker up|{endless}|active|false|\n"));
        statuses[1].docker = parse_probe(&format!("{endless}\nrccr-docker down\n"));
        statuses[2].docker = parse_probe(&format!("rccr-docker up|1|{endless}|false|{endless}\n"));
        let table = render_table(&statuses, true, None);
        assert!(table.len() < 64 * 1024, "{} bytes", table.len());
        let view = parse_node_list(&format!("rccr-node|{endless}|{endless}|{endless}\n"));
        assert!(view
            .iter()
            .all(|n| n.manager_status.len() + n.status.len() + n.hostname.len() <= 3 * MAX_TEXT));
    }

    #[test]
    fn health_of_a_target() {
        let mut s = healthy_target();
        assert!(s.healthy(), "{:?}", s.problem());
        assert_eq!(s.swarm_role(), "worker");
        s.docker = up("inactive", false);
        assert_eq!(s.problem().unwrap(), "swarm state inactive");
        assert_eq!(s.swarm_role(), "-");
        s.docker = Docker::Down("Cannot connect".into());
        assert_eq!(s.problem().unwrap(), "Docker is down: Cannot connect");
        s.docker = up("active", true);
        s.temp_key = "accepted";
        assert!(s.problem().unwrap().contains("temporary key"));
        s.temp_key = "-";
        assert!(s.healthy());
        assert_eq!(s.swarm_role(), "manager");
        s.cluster_key = "refused";
        assert!(!s.healthy());
    }

    #[test]
    fn a_volatile_key_change_is_a_problem() {
        let mut s = healthy_target();
        s.persisted = "yes";
        assert!(s.healthy());
        s.persisted = "volatile";
        assert!(s.problem().unwrap().contains("not saved (volatile)"));
        assert!(render_json(&[s]).contains("\"key_persisted\": \"volatile\""));
    }

    #[test]
    fn quorum_counts_the_swarms_list_or_the_managers_that_answer() {
        let manager = |status: &str| {
            let mut s = NodeStatus::new(&node(Role::Target));
            s.docker = up("active", true);
            s.manager_status = Some(status.into());
            s
        };
        let three = [
            manager("Leader"),
            manager("Reachable"),
            manager("Unreachable"),
        ];
        let q = Quorum::of(&three, 3).unwrap();
        assert_eq!((q.reachable, q.total, q.held()), (2, 3, true));
        assert_eq!(q.line(), "quorum: 2 of 3 managers reachable\n");
        // No list (no leader): only the managers that answer, never held.
        let mut alone = manager("Leader");
        alone.manager_status = None;
        let q = Quorum::of(&[alone], 3).unwrap();
        assert_eq!((q.reachable, q.total, q.held()), (1, 3, false));
        assert!(q.line().starts_with("quorum: LOST: 1 of 3"), "{}", q.line());
        assert!(render_table(&[], true, Some(q)).contains("quorum: LOST"));
        // No swarm at all: no quorum line.
        assert_eq!(Quorum::of(&[NodeStatus::new(&node(Role::Target))], 0), None);
    }

    #[test]
    fn a_manager_of_another_swarm_is_no_healthy_member() {
        let mut ours = healthy_target();
        ours.docker = parse_probe("rccr-docker up|24.0|active|true|ours|\n");
        let mut theirs = healthy_target();
        theirs.docker = parse_probe("rccr-docker up|24.0|active|true|theirs|\n");
        let worker = healthy_target();
        let mut statuses = [theirs, ours, worker];
        mark_other_swarms(&mut statuses, "ours");
        assert_eq!(
            statuses[0].problem().as_deref(),
            Some("in another swarm (theirs), not the cluster's ours")
        );
        assert!(statuses[1].healthy() && statuses[2].healthy());
        // Without a list, only the cluster's managers count.
        let q = Quorum::of(&statuses, 1).unwrap();
        assert_eq!((q.reachable, q.total), (1, 1));
    }

    #[test]
    fn the_control_needs_no_docker() {
        let mut s = NodeStatus::new(&node(Role::Control));
        s.ssh = "local";
        s.docker = Docker::Absent;
        assert!(s.healthy());
        s.docker = Docker::Down("x".into());
        assert!(s.healthy());
        s.docker = up("inactive", false);
        assert!(!s.healthy());
        s.docker = up("active", true);
        assert!(s.healthy());
    }

    #[test]
    fn json_has_one_object_per_node() {
        let mut s = NodeStatus::new(&node(Role::Target));
        s.ssh = "unreachable";
        s.error = Some("unreachable: timed out".into());
        let text = render_json(&[s]);
        assert_eq!(
            text,
            "[\n  {\"node\": \"t1\", \"ip\": \"10.0.0.2\", \"moved_from\": null, \"role\": \"target\", \"arch\": \"x86_64\", \
             \"reachable\": false, \"ssh\": \"unreachable\", \"cluster_key\": null, \"temp_key\": null, \
             \"docker\": \"unknown\", \"docker_version\": null, \"swarm_role\": null, \"swarm_state\": null, \
             \"swarm_error\": null, \"swarm_seen\": null, \"manager_status\": null, \"key_persisted\": null, \"healthy\": false, \"problem\": \"unreachable: timed out\", \
             \"warnings\": []}\n]\n"
        );
        assert_eq!(render_json(&[]), "[]\n");
    }

    #[test]
    fn a_node_that_moved_says_from_where() {
        let mut record = node(Role::Target);
        record.moved_from = "10.0.0.9".parse().ok();
        let s = NodeStatus::new(&record);
        assert!(render_json(std::slice::from_ref(&s))
            .contains("\"ip\": \"10.0.0.2\", \"moved_from\": \"10.0.0.9\","));
        let table = render_table(&[s], true, None);
        assert!(
            table.contains("\n  t1 (10.0.0.2): moved from 10.0.0.9 "),
            "{table}"
        );
        let table = render_table(&[NodeStatus::new(&node(Role::Target))], true, None);
        assert!(!table.contains("moved"), "{table}");
    }
}
