//! `rccr status`: every node of the inventory (`STATE_DIR/nodes`), queried
//! in parallel. Nothing is written anywhere.
//!
//! Per target, over one SSH connection where it can: the host key against
//! the one setup recorded, the temporary key (must be refused), the cluster
//! key (must be accepted), then one POSIX sh command that asks the node's
//! Docker engine for its version and swarm state and, on a manager, the
//! swarm's node list and its root CA's digest. The control is asked
//! locally.
//!
//! A node list is a manager's word: each manager's is compared with the
//! one shown (the one most managers carrying the recorded CA digest give),
//! and managers that disagree on a node's membership, role, state or
//! availability are named in a warning.
//!
//! A target is healthy when it is reachable, presents the recorded host
//! key, accepts the cluster key, refuses the temporary key, runs Docker and
//! is an active swarm member. The control is healthy unless it runs Docker
//! outside the swarm. Exit code 0 when every node is healthy, the managers
//! agree and the swarm holds its quorum, 1 otherwise.
use super::claim;
use super::health::{self, Health};
use super::member::{self, LoginError};
use crate::config::Config;
use crate::docker::api::{is_id, SwarmState};
use crate::error::Error;
use crate::identity::Role;
use crate::json::Value;
use crate::keys::addr::NodeAddr;
use crate::keys::control::journal;
use crate::keys::resolve::Resolver;
use crate::parallel;
use crate::print::{self, Object, Table};
use crate::ssh::stream::bounded;
use crate::ssh::{Limits, Output, SshError};
use crate::state::inventory::{self, NodeRecord};
use crate::state::swarm::{RecordedManager, SwarmRecord};
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

/// What a node's engine answers, in one `docker` call on a worker (each
/// process on the node counts: the control asks hundreds at once);
/// `rccr-...` lines and any error, parsed by [`parse_probe`]. A client
/// that cannot reach its engine may print part of the template before
/// failing: the `down` line wins. A manager tells its swarm's ID (workers
/// know none), its root CA's digest (the join token's third field: the
/// secret stays on the node) and every swarm node as the swarm sees it,
/// by its node ID (every engine tells its own), at the address the
/// manager sees it at (the hostname, each node's own word, any bytes, `|`
/// and newlines too, comes last, quoted as a JSON string: one field of
/// one line whatever it holds), in the same round trip.
pub const DOCKER_PROBE: &str = "command -v docker >/dev/null 2>&1 || { echo 'rccr-docker absent'; exit 0; }
info=$(docker info --format 'rccr-docker up|{{.ServerVersion}}|{{.Swarm.LocalNodeState}}|{{.Swarm.ControlAvailable}}|{{if .Swarm.Cluster}}{{.Swarm.Cluster.ID}}{{end}}|{{.Swarm.NodeID}}|{{.Swarm.Error}}' 2>&1) || info=\"$info
rccr-docker down\"
printf '%s\\n' \"$info\"
case $info in *'rccr-docker down'*) ;; *'rccr-docker up|'*'|active|true|'*)
echo \"rccr-ca|$(docker swarm join-token -q worker 2>/dev/null | cut -d- -f3)\"
docker node inspect --format \\
'rccr-node|{{.ID}}|{{.Status.Addr}}|{{if .ManagerStatus}}{{if .ManagerStatus.Leader}}Leader{{else}}{{.ManagerStatus.Reachability}}{{end}}{{end}}|{{.Status.State}}|{{.Spec.Availability}}|{{json .Description.Hostname}}' \\
$(docker node ls -q) 2>&1 ;;
esac
";

/// The whole probe: the node's health ([`health::PROBE`]), then Docker.
fn probe_command() -> String {
    format!("{}{DOCKER_PROBE}", health::PROBE)
}

/// Entries of one manager's list kept, at most: a manager that lists
/// endless nodes holds no more of the control's memory than this.
pub const MAX_LISTED: usize = 2048;

/// One node of a manager's list ([`DOCKER_PROBE`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmSeen {
    /// Its swarm node ID ("" when the manager tells none, or one that is
    /// no ID).
    pub id: String,
    /// Where the manager sees it (`None`: it does not say).
    pub addr: Option<std::net::IpAddr>,
    /// A manager's place in the raft (`None`: a worker).
    pub manager_status: Option<ManagerStatus>,
    /// One of [`NODE_STATES`].
    pub status: &'static str,
    /// One of [`AVAILABILITIES`].
    pub availability: &'static str,
    pub hostname: String,
}

/// A node's state as a manager's list tells it (Docker's `NodeStatus`);
/// any other word is `unknown`.
pub const NODE_STATES: [&str; 4] = ["ready", "down", "disconnected", "unknown"];

/// A node's availability as a manager's list tells it; any other word is
/// `unknown`.
pub const AVAILABILITIES: [&str; 4] = ["active", "pause", "drain", "unknown"];

/// `word` as the one of `words` it is (in any case), else the last of
/// them: a node's word shown only as one of the documented ones.
fn one_of(word: &str, words: &[&'static str]) -> &'static str {
    let known = words.iter().find(|w| w.eq_ignore_ascii_case(word));
    known.or(words.last()).copied().unwrap_or_default()
}

/// A manager's place in the raft as a manager's list says: `Leader`, else
/// Docker's `Reachability` (`reachable`, `unreachable`, `unknown`); any
/// other word is `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManagerStatus {
    Leader,
    Reachable,
    Unreachable,
    Unknown,
}

impl ManagerStatus {
    /// `None` for "" (a worker).
    fn parse(s: &str) -> Option<ManagerStatus> {
        Some(match s {
            "" => return None,
            "Leader" => ManagerStatus::Leader,
            "reachable" => ManagerStatus::Reachable,
            "unreachable" => ManagerStatus::Unreachable,
            _ => ManagerStatus::Unknown,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ManagerStatus::Leader => "Leader",
            ManagerStatus::Reachable => "Reachable",
            ManagerStatus::Unreachable => "Unreachable",
            ManagerStatus::Unknown => "unknown",
        }
    }
}

/// What a manager told of its swarm, with its probe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listed {
    /// The digest of its swarm's root CA, from its join tokens ("" when
    /// it gave none).
    pub ca: String,
    pub nodes: Vec<SwarmSeen>,
}

/// How a manager's node list compares with the one shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListCheck {
    /// Its list is the one the table shows.
    Shown,
    Agrees,
    Differs,
}

impl ListCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            ListCheck::Shown => "shown",
            ListCheck::Agrees => "agrees",
            ListCheck::Differs => "differs",
        }
    }
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
        /// `LocalNodeState` (any other word: `Unknown`).
        swarm_state: SwarmState,
        manager: bool,
        leader: bool,
        /// A manager's swarm ID ("" for a worker, or an ID that is none).
        cluster: String,
        /// Its own swarm node ID ("" when it tells none, or one that is
        /// no ID).
        node_id: String,
        swarm_error: String,
    },
}

/// One node's answers.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    pub node: NodeRecord,
    /// "local" (the control), "ok", "unreachable", "host-key-mismatch",
    /// "weak-host-key", "held-back" (not logged in: see
    /// [`inventory::held_back`]).
    pub ssh: &'static str,
    /// "accepted", "refused", "-" (not tried: no key, or not reachable).
    pub cluster_key: &'static str,
    /// "refused", "accepted", "-" (no temporary key on the control, or not tried).
    pub temp_key: &'static str,
    pub docker: Docker,
    /// The node's status as a swarm manager sees it (ready, down, ...);
    /// `None` when no manager answered or it does not know the node.
    pub swarm_seen: Option<&'static str>,
    /// What went wrong, worded for the user.
    pub error: Option<String>,
    /// Uptime, load, memory, disks, temperature, when the node answered.
    pub health: Option<Health>,
    /// Whether its last key change survives a reboot, from the journals:
    /// `yes`, `volatile`, `-` (none recorded: the control, or never rotated).
    pub persisted: &'static str,
    /// A manager's place in the raft as the swarm's list says.
    pub manager_status: Option<ManagerStatus>,
    /// A manager's own node list, as it told it.
    pub listed: Option<Listed>,
    /// How that list compares with the one shown.
    pub list_check: Option<ListCheck>,
}

impl NodeStatus {
    /// The swarm node ID its engine tells ("" when none).
    fn node_id(&self) -> &str {
        match &self.docker {
            Docker::Up { node_id, .. } => node_id,
            _ => "",
        }
    }

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
            listed: None,
            list_check: None,
        }
    }

    pub fn swarm_role(&self) -> &'static str {
        match &self.docker {
            Docker::Up { swarm_state, .. } if *swarm_state != SwarmState::Active => "-",
            Docker::Up { leader: true, .. } => "leader",
            Docker::Up { manager: true, .. } => "manager",
            Docker::Up { .. } => "worker",
            _ => "-",
        }
    }

    pub fn swarm_state(&self) -> &'static str {
        match &self.docker {
            Docker::Up { swarm_state, .. } => swarm_state.as_str(),
            _ => "-",
        }
    }

    /// The first thing wrong with the node, if any.
    pub fn problem(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        let swarm_problem = |state: &SwarmState, error: &str| {
            let sep = if error.is_empty() { "" } else { ": " };
            format!("swarm state {}{sep}{error}", state.as_str())
        };
        if self.node.role == Role::Control {
            return match &self.docker {
                Docker::Up {
                    swarm_state,
                    swarm_error,
                    ..
                } if *swarm_state != SwarmState::Active => Some(format!(
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
            } if *swarm_state != SwarmState::Active => {
                Some(swarm_problem(swarm_state, swarm_error))
            }
            Docker::Up { .. } => None,
        }
    }

    pub fn healthy(&self) -> bool {
        self.problem().is_none()
    }
}

/// Reads the probe's output. Every field is the node's word, cut to
/// [`crate::ssh::stream::MAX_TEXT`]: one node's endless version would widen the table's
/// column, and so every node's row, to its length. Only the lines before
/// a manager's list are its engine's word on itself: every other node
/// names itself in the list. Only the first `rccr-docker up|` line counts:
/// its last field, the swarm error, is printed raw, and a newline in it
/// starts a line of words that are not the engine's. The engine tells an
/// error only in state `error` or `locked`, so what such a line can still
/// forge (`down`, `absent`) leaves the node unhealthy as it was.
pub fn parse_probe(text: &str) -> Docker {
    let mut docker = Docker::Unknown;
    let mut last_error = "";
    let own = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("rccr-ca|") && !l.starts_with("rccr-node|"));
    for line in own {
        if line == "rccr-docker absent" {
            return Docker::Absent;
        } else if line == "rccr-docker down" {
            return Docker::Down(bounded(last_error));
        } else if let Some(info) = line
            .strip_prefix("rccr-docker up|")
            .filter(|_| matches!(docker, Docker::Unknown))
        {
            let mut f = info.splitn(6, '|');
            let mut next = || bounded(f.next().unwrap_or("").trim());
            let (version, swarm_state, control, cluster, node_id, swarm_error) =
                (next(), next(), next(), next(), next(), next());
            let id = |s: String| if is_id(&s) { s } else { String::new() };
            docker = Docker::Up {
                version,
                swarm_state: SwarmState::parse(&swarm_state),
                manager: control == "true",
                leader: false,
                cluster: id(cluster),
                node_id: id(node_id),
                swarm_error,
            };
        } else if !line.is_empty() {
            last_error = line;
        }
    }
    docker
}

/// Reads a manager's node list (`rccr-node|...` lines), at most
/// [`MAX_LISTED`] entries, each field cut to
/// [`crate::ssh::stream::MAX_TEXT`]; the name, a JSON string, once read
/// (one that is none is no name).
pub fn parse_node_list(text: &str) -> Vec<SwarmSeen> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("rccr-node|"))
        .take(MAX_LISTED)
        .map(|l| {
            let mut f = l.splitn(6, '|');
            let mut next = || bounded(f.next().unwrap_or("").trim());
            let (id, addr, manager_status, status, availability) =
                (next(), next(), next(), next(), next());
            let hostname = Value::parse(f.next().unwrap_or("").trim().as_bytes())
                .ok()
                .and_then(|name| name.as_str().map(bounded))
                .unwrap_or_default();
            SwarmSeen {
                id: if is_id(&id) { id } else { String::new() },
                addr: addr
                    .parse()
                    .ok()
                    .filter(|a: &std::net::IpAddr| !a.is_unspecified()),
                manager_status: ManagerStatus::parse(&manager_status),
                status: one_of(&status, &NODE_STATES),
                availability: one_of(&availability, &AVAILABILITIES),
                hostname,
            }
        })
        .collect()
}

/// What an active manager's probe told of its swarm; `None` for any
/// other node (a worker's word on the swarm's nodes is none).
fn listed_of(docker: &Docker, text: &str) -> Option<Listed> {
    let Docker::Up {
        manager: true,
        swarm_state,
        ..
    } = docker
    else {
        return None;
    };
    (*swarm_state == SwarmState::Active).then(|| Listed {
        ca: text
            .lines()
            .find_map(|l| l.trim().strip_prefix("rccr-ca|"))
            .filter(|ca| is_id(ca))
            .unwrap_or("")
            .to_string(),
        nodes: parse_node_list(text),
    })
}

/// `node`'s entry in the swarm's list: the one at its address (of several,
/// the one with the node ID its engine tells, `id`, else the first: a
/// stale entry of a node that rejoined stays listed at its address), else
/// (for an entry without one) the one with its name. A name is the node's
/// own word: by name alone, a node could speak for another.
fn seen_as<'v>(view: &'v [SwarmSeen], node: &NodeRecord, id: &str) -> Option<&'v SwarmSeen> {
    let at = view.iter().filter(|n| n.addr == Some(node.ip));
    at.min_by_key(|n| n.id.is_empty() || n.id != id)
        .or_else(|| {
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
        let listed: Vec<ManagerStatus> = statuses.iter().filter_map(|s| s.manager_status).collect();
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
                .filter(|m| matches!(m, ManagerStatus::Leader | ManagerStatus::Reachable))
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

    /// No manager lists the swarm, but a majority answers: raft is
    /// electing a leader (after a power cut, say), which setup waits for
    /// rather than re-forming.
    fn electing(&self) -> bool {
        !self.listed && self.reachable * 2 > self.total
    }

    pub fn line(&self) -> String {
        let (reachable, total) = (self.reachable, self.total);
        if self.held() {
            format!("quorum: {reachable} of {total} managers reachable\n")
        } else if self.electing() {
            format!("quorum: NO LEADER YET: {reachable} of {total} managers answer, a majority: raft elects one; run rccr status again in a minute\n")
        } else {
            format!("quorum: LOST: {reachable} of {total} managers answer; rccr setup re-forms the swarm once you confirm\n")
        }
    }

    /// Why the swarm is not whole, for the one error line.
    fn failure(&self) -> String {
        let (reachable, total) = (self.reachable, self.total);
        match self.electing() {
            true => format!("the swarm has no leader yet ({reachable} of {total} managers answer)"),
            false => format!("the swarm lost its quorum ({reachable} of {total} managers answer)"),
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
    // Status takes no lock, so it reports what a stopped restore left, and
    // says so.
    if let Some(unfinished) = crate::state::lock::unfinished_restore(&opts.paths)? {
        print::warning("rccr status", &unfinished);
    }
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
            .temporary(None, config.ssh.temp_key.as_ref(), "rccr status")?
            .map(|f| f.path),
    };
    let journals = [
        journal::load(&opts.paths.journal())?,
        journal::load(&opts.paths.last_rotation())?,
    ];
    let records: Vec<&journal::Record> = journals.iter().flatten().collect();
    let held = inventory::held_back(&opts.paths, &nodes)?;
    let mut statuses = parallel::map(&nodes, opts.parallel.max(1), |node| NodeStatus {
        persisted: journal::persisted(
            &records,
            &NodeAddr {
                ip: node.ip,
                port: keys.port,
            },
        ),
        ..match held.contains(&node.ip) {
            // Whoever answers there may be a copy of the node.
            true => NodeStatus {
                ssh: "held-back",
                error: Some(inventory::held_back_note()),
                ..NodeStatus::new(node)
            },
            false => probe(node, &keys, opts.timeout),
        }
    });
    let record = SwarmRecord::load(&opts.paths.swarm())?;
    if let Some(cluster) = &record.cluster {
        mark_other_swarms(&mut statuses, cluster);
    }
    let disagreements = swarm_view(&mut statuses, record.ca.as_deref(), &record.managers);
    let quorum = Quorum::of(&statuses, record.managers.len());
    let out = if opts.json {
        render_json(&statuses)
    } else {
        render_table(&statuses, keys.temporary.is_some(), quorum, &disagreements)
    };
    print::stdout(&out)?;
    let bad = statuses.iter().filter(|s| !s.healthy()).count();
    if bad > 0 {
        return Err(Error::Failed(format!(
            "{bad} of {} nodes unreachable or unhealthy",
            statuses.len()
        )));
    }
    let differing: Vec<String> = statuses
        .iter()
        .filter(|s| s.list_check == Some(ListCheck::Differs))
        .map(|s| print::name(&s.node.hostname).into_owned())
        .collect();
    if !differing.is_empty() {
        return Err(Error::Failed(format!(
            "the managers' node lists disagree ({} differ from the one shown): one of them may be lying",
            differing.join(", ")
        )));
    }
    if let Some(q) = quorum.filter(|q| !q.held()) {
        return Err(Error::Failed(q.failure()));
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

/// How the swarm sees every node (which manager leads, which nodes are
/// down), from the managers' lists: the one most of the managers that
/// list their own node ID as a manager that answers, at their address or
/// no other node's, that are one of the `recorded` managers (when setup
/// recorded any: of its node ID, at the raft address recorded with it,
/// when one is), and give the recorded CA digest give (the first
/// such, when as many give another); else of any manager of the cluster's
/// swarm (none marked otherwise). Any worker can tell the digest (it
/// holds the CA), claim to manage and write itself in its list as a
/// manager, as setup's judge knows; node IDs are no secret either, so a
/// worker claiming a recorded manager's ID at its own address is not
/// preferred. Nor is a recorded manager whose DHCP lease moved (raft
/// knows it at its old address until it is back there or joins again):
/// its list is still shown when no preferred manager gives one. Every other manager's list
/// is compared with it: a warning
/// (safe for a terminal) for each that differs, naming both and what
/// differs.
pub fn swarm_view(
    statuses: &mut [NodeStatus],
    ca: Option<&str>,
    recorded: &[RecordedManager],
) -> Vec<String> {
    // Each manager with a list: its index, its rank (whether its list
    // does not list it managing, or it is not a recorded manager; then 0: it carries the recorded digest,
    // or none is recorded; 1: it gave none; 2: another), its list as
    // compared, and its name.
    let managers: Vec<(usize, (bool, u8), Seen, String)> = statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| s.error.is_none())
        .filter_map(|(i, s)| {
            let listed = s.listed.as_ref().filter(|l| !l.nodes.is_empty())?;
            let rank = match (ca, listed.ca.as_str()) {
                (None, _) => 0,
                (Some(ca), theirs) if theirs == ca => 0,
                (Some(_), "") => 1,
                _ => 2,
            };
            let elsewhere = |a| a != s.node.ip && statuses.iter().any(|o| o.node.ip == a);
            let manages = listed.nodes.iter().any(|n| {
                !n.id.is_empty()
                    && n.id == s.node_id()
                    && matches!(
                        n.manager_status,
                        Some(ManagerStatus::Leader | ManagerStatus::Reachable)
                    )
                    && !n.addr.is_some_and(elsewhere)
            });
            let recorded =
                recorded.is_empty() || recorded.iter().any(|m| m.is(s.node_id(), s.node.ip));
            let rank = (!(manages && recorded), rank);
            let name = format!("{} ({})", print::name(&s.node.hostname), s.node.ip);
            Some((i, rank, Seen::of(&listed.nodes), name))
        })
        .collect();
    let Some(best) = managers.iter().map(|m| m.1).min() else {
        return Vec::new();
    };
    let trusted = || managers.iter().filter(|m| m.1 == best);
    let agreeing = |seen: &Seen| trusted().filter(|m| m.2 == *seen).count();
    let Some(shown) = trusted()
        .enumerate()
        .max_by_key(|(k, m)| (agreeing(&m.2), std::cmp::Reverse(*k)))
        .map(|(_, m)| m)
    else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    let mut checks = Vec::new();
    for (i, rank, seen, name) in &managers {
        let check = if i == &shown.0 {
            ListCheck::Shown
        } else if *seen == shown.2 {
            ListCheck::Agrees
        } else {
            let mut what = shown.2.differences(seen, &shown.3, name, statuses);
            if rank.1 == 2 {
                what.push_str(&format!(
                    "; {name}'s join tokens are of another CA than the cluster's"
                ));
            }
            warnings.push(format!(
                "warning: managers {} and {name} disagree on the swarm's nodes (shown: {}'s list): {what}",
                shown.3, shown.3
            ));
            ListCheck::Differs
        };
        checks.push((*i, check));
    }
    let view = statuses[shown.0]
        .listed
        .as_ref()
        .map(|l| l.nodes.clone())
        .unwrap_or_default();
    for (i, check) in checks {
        statuses[i].list_check = Some(check);
    }
    for s in statuses.iter_mut() {
        if let Some(seen) = seen_as(&view, &s.node, s.node_id()) {
            s.swarm_seen = Some(seen.status);
            s.manager_status = seen.manager_status;
            if let Docker::Up { leader, .. } = &mut s.docker {
                *leader = seen.manager_status == Some(ManagerStatus::Leader);
            }
        }
    }
    mark_unlisted(statuses, &view);
    warnings
}

/// A worker (whose engine tells no swarm ID, so [`mark_other_swarms`]
/// cannot tell) that says it is an active member but that the swarm's
/// list does not carry is no healthy member: it is in another swarm, or
/// the managers removed it while it was away. Found by the node ID its
/// engine tells, at any address (a node with two network cards may be
/// listed at its other card's); by its address when it tells none. Nor
/// is one whose listed entry is not its own by the one rule setup and
/// remove take a node's word by ([`claim::whose`]; the other nodes of
/// `statuses` are the inventory, and those telling the same ID count
/// against it): a node's lie, or a disk image's copy, lands on no other
/// node, in the inventory or not.
fn mark_unlisted(statuses: &mut [NodeStatus], view: &[SwarmSeen]) {
    for i in 0..statuses.len() {
        let s = &statuses[i];
        let Docker::Up {
            manager: false,
            swarm_state: SwarmState::Active,
            node_id,
            ..
        } = &s.docker
        else {
            continue;
        };
        if s.node.role != Role::Target || s.error.is_some() {
            continue;
        }
        let ip = s.node.ip;
        let error = match node_id.as_str() {
            "" if !view.iter().any(|n| n.addr == Some(ip)) => Some(format!(
                "not in the cluster's swarm: its managers do not list it at {ip}"
            )),
            "" => None,
            id => match view.iter().find(|n| n.id == id) {
                None => Some(format!(
                    "not in the cluster's swarm: its managers do not list its node ID {id}"
                )),
                Some(n) => {
                    let inventory: Vec<claim::Node> =
                        statuses.iter().map(|o| claim::Node::of(&o.node)).collect();
                    let tellers: Vec<&str> = statuses
                        .iter()
                        .enumerate()
                        .filter(|(j, o)| {
                            *j != i
                                && matches!(&o.docker, Docker::Up { node_id, .. } if node_id == id)
                        })
                        .map(|(_, o)| o.node.hostname.as_ref())
                        .collect();
                    let listed = claim::Entry {
                        name: &n.hostname,
                        addr: n.addr,
                    };
                    claim::whose(claim::Node::of(&s.node), Some(listed), &inventory, &tellers)
                        .other()
                        .map(|other| format!("claims the swarm node ID of {other}"))
                }
            },
        };
        statuses[i].error = error;
    }
}

/// A node list as compared: per node (its address, else its name), what
/// the list says of it (state, availability, manager or worker), sorted.
/// Only what the swarm stores and every manager shares is compared: the
/// name is the node's own word, and which manager leads and which are
/// reachable each manager works out from its own raft connections
/// (swarmkit's `GetMemberlist`), so honest managers differ on those for a
/// while after an election or a manager's loss.
#[derive(Debug, PartialEq, Eq)]
struct Seen(std::collections::BTreeMap<String, Vec<String>>);

/// Differences named in one warning, at most.
const MAX_DIFFERENCES: usize = 5;

impl Seen {
    fn of(nodes: &[SwarmSeen]) -> Seen {
        let mut map: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for n in nodes {
            let key = match n.addr {
                Some(addr) => addr.to_string(),
                None => format!("{} (no address)", print::name(&n.hostname)),
            };
            let role = match n.manager_status {
                None => "worker",
                _ => "manager",
            };
            let what = format!("{} {} {role}", n.status, n.availability);
            map.entry(key).or_default().push(what);
        }
        for v in map.values_mut() {
            v.sort_unstable();
        }
        Seen(map)
    }

    /// What `other` says otherwise than `self`, node by node: `mine` and
    /// `theirs` name the managers; a node is named by the inventory's
    /// name for its address.
    fn differences(
        &self,
        other: &Seen,
        mine: &str,
        theirs: &str,
        statuses: &[NodeStatus],
    ) -> String {
        let keys: std::collections::BTreeSet<&String> =
            self.0.keys().chain(other.0.keys()).collect();
        let said = |seen: &Seen, key: &str| {
            seen.0
                .get(key)
                .map_or("not listed".to_string(), |v| v.join(" + "))
        };
        let differing: Vec<String> = keys
            .into_iter()
            .filter(|k| self.0.get(*k) != other.0.get(*k))
            .map(|k| {
                let name = statuses
                    .iter()
                    .find(|s| s.node.ip.to_string() == *k)
                    .map(|s| format!("{} ", print::name(&s.node.hostname)))
                    .unwrap_or_default();
                format!(
                    "{name}{k}: {} as {mine} lists it, {} as {theirs} does",
                    said(self, k),
                    said(other, k)
                )
            })
            .collect();
        let mut text = differing
            .iter()
            .take(MAX_DIFFERENCES)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if differing.len() > MAX_DIFFERENCES {
            text.push_str(&format!("; and {} more", differing.len() - MAX_DIFFERENCES));
        }
        text
    }
}

/// Bytes a probe may answer: a manager's list of [`MAX_LISTED`] real
/// nodes (about 130 bytes each, 266 KiB) and the health lines. Every
/// manager's list is kept until the lists are compared: a node that says
/// it manages and answers more is cut off (and unhealthy), so 200 of them
/// hold at most about 62 MiB of the control's memory, not 200 MiB.
pub const MAX_PROBE_OUTPUT: usize = 320 << 10;

/// A status command's bounds: the node's `--timeout`, not two minutes,
/// and [`MAX_PROBE_OUTPUT`]. A node that trickles its answer (each read
/// within the timeout) is cut off there.
fn within(timeout: Duration) -> Limits {
    Limits {
        deadline: timeout,
        max_output: MAX_PROBE_OUTPUT,
    }
}

/// Runs `script` with `sh -c` on this machine, for `limit` at most (the
/// whole process group is killed then, as on a node: [`crate::ssh::BOUNDED`]);
/// its stdout, or why there is none. (The control's own engine, not the
/// manager rccr's docker context names for the operator.)
fn local(script: &str, limit: Duration) -> Result<String, String> {
    use crate::ssh::SshError;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut probe = std::process::Command::new("sh")
        .arg("-c")
        .arg(crate::ssh::BOUNDED)
        .arg("rccr-status")
        .args(crate::ssh::bounded_args(limit, script, &[]))
        .process_group(0)
        .env("DOCKER_CONTEXT", "default")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    // Bounded as a node's answer is; the pipe closed, a probe that says
    // more ends on its next write.
    let said = probe
        .stdout
        .take()
        .map(|mut out| crate::fsutil::read_bounded(&mut out, MAX_PROBE_OUTPUT));
    // (Cut off, it may end only at its limit: a shell that a closed pipe
    // ends runs no EXIT trap, so its timer runs out.)
    let status = probe.wait().map_err(|e| format!("cannot run sh: {e}"))?;
    // As a node's probe cut off says it.
    match said {
        Some(Ok(None)) => Err(SshError::TooLarge(MAX_PROBE_OUTPUT).to_string()),
        _ if status.signal() == Some(libc::SIGKILL) => {
            Err(SshError::Deadline(limit.as_secs().max(1)).to_string())
        }
        Some(Ok(Some(bytes))) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Some(Err(e)) => Err(format!("cannot read the probe's answer: {e}")),
        None => Err("cannot read the probe's answer".into()),
    }
}

fn probe(node: &NodeRecord, keys: &Keys, timeout: Duration) -> NodeStatus {
    let mut status = NodeStatus::new(node);
    if node.role == Role::Control {
        status.ssh = "local";
        local_probe(&mut status, timeout);
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
                    format!("{e} (if its address changed, rccr setup finds it by its MAC or its host key)")
                }
                e => format!("no SSH conversation: {e}"),
            });
            return status;
        }
        Err(e @ LoginError::WeakHostKey(_)) => {
            status.ssh = "weak-host-key";
            status.error = Some(e.to_string());
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
    // Bounded on the node too: a probe rccr gave up on (a hung `docker`)
    // does not run on there.
    let command = crate::ssh::bounded_script_command(timeout, &probe_command(), &[]);
    match conn.run(&command, b"") {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            status.docker = docker_from(&out);
            status.health = Health::parse(&text);
            status.listed = listed_of(&status.docker, &text);
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

fn local_probe(status: &mut NodeStatus, limit: Duration) {
    match local(&probe_command(), limit) {
        Ok(text) => {
            status.docker = parse_probe(&text);
            status.health = Health::parse(&text);
            status.listed = listed_of(&status.docker, &text);
        }
        Err(e) => status.error = Some(format!("could not ask Docker: {e}")),
    }
}

fn docker_column(d: &Docker) -> &str {
    match d {
        Docker::Unknown => "-",
        Docker::Absent => "none",
        Docker::Down(_) => "down",
        Docker::Up { version, .. } => version,
    }
}

pub fn render_table(
    statuses: &[NodeStatus],
    temp_key_checked: bool,
    quorum: Option<Quorum>,
    disagreements: &[String],
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
            s.swarm_state().into(),
            print::text(docker_column(&s.docker)).into_owned(),
            (if s.healthy() { "ok" } else { "FAIL" }).to_string(),
        ]);
    }
    let mut out = table.render();
    for s in statuses {
        if let Some(old) = s.node.moved_from {
            out.push_str(&format!(
                "  {} ({}): moved from {old} (followed by its MAC or, on its other network card, its host key at the last setup)\n",
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
    for warning in disagreements {
        out.push_str(&format!("swarm: {warning}\n"));
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
                .opt("swarm_seen", s.swarm_seen)
                .opt(
                    "manager_status",
                    s.manager_status.map(ManagerStatus::as_str),
                )
                .opt("node_list", s.list_check.map(ListCheck::as_str))
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
            swarm_state: SwarmState::parse(state),
            manager,
            leader: false,
            cluster: String::new(),
            node_id: String::new(),
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
            parse_probe("rccr-docker up|20.10.24|active|true|lmq5abc|n1|\n"),
            Docker::Up {
                version: "20.10.24".into(),
                swarm_state: SwarmState::Active,
                manager: true,
                leader: false,
                cluster: "lmq5abc".into(),
                node_id: "n1".into(),
                swarm_error: String::new(),
            }
        );
        assert_eq!(
            parse_probe("WARNING: x\nrccr-docker up|24.0|error|false||../x|rpc error: a|b\n"),
            Docker::Up {
                version: "24.0".into(),
                swarm_state: SwarmState::Error,
                manager: false,
                leader: false,
                cluster: String::new(),
                node_id: String::new(),
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
            "rccr-node|n2|10.0.0.2|Leader|ready|active|\"a\"\nrccr-node|n0|0.0.0.0|unreachable|down|Drain|\"b\"\n\
             rccr-node|n9|10.0.0.9||ready|active|\"t1|Leader\"\nnoise\n",
        );
        assert_eq!(
            view[..2],
            [
                SwarmSeen {
                    id: "n2".into(),
                    addr: "10.0.0.2".parse().ok(),
                    manager_status: Some(ManagerStatus::Leader),
                    status: "ready",
                    availability: "active",
                    hostname: "a".into(),
                },
                SwarmSeen {
                    id: "n0".into(),
                    addr: None,
                    manager_status: Some(ManagerStatus::Unreachable),
                    status: "down",
                    availability: "drain",
                    hostname: "b".into(),
                }
            ]
        );
        // The third, named `t1|Leader`, speaks for no node named t1.
        assert_eq!(view[2].hostname, "t1|Leader");
        let mut t1 = node(Role::Target);
        assert_eq!(seen_as(&view, &t1, ""), Some(&view[0]));
        t1.ip = "10.0.0.3".parse().unwrap();
        assert_eq!(seen_as(&view, &t1, ""), None);
    }

    #[test]
    fn a_newline_in_the_swarm_error_forges_no_later_probe_line() {
        // `{{.Swarm.Error}}` is printed raw and comes last: a newline in it
        // starts a line that is not the engine's word.
        let docker = parse_probe(
            "rccr-docker up|24.0|error|false|||join failed\nrccr-docker up|24.0|active|true|c1|n1|\n",
        );
        assert!(
            matches!(
                &docker,
                Docker::Up { swarm_state: SwarmState::Error, manager: false, swarm_error, .. }
                    if swarm_error == "join failed"
            ),
            "{docker:?}"
        );
    }

    /// A manager's probe output (health, Docker, its list) around a worker
    /// whose name spells `forged`, as a probe that printed names raw gave it.
    fn probe_naming(forged: &str) -> String {
        format!(
            "rccr-health 60|0.10|1000000|600000|||10%|40%\n\
             rccr-boot storage: /dev/sda1\n\
             rccr-docker up|24.0|active|true|abc|\n\
             rccr-ca|digest\n\
             rccr-node|n2|10.0.0.2|Leader|ready|active|\"m\"\n\
             rccr-node|n3|10.0.0.3||ready|active|x\n{forged}\n\
             rccr-node|n4|10.0.0.4||ready|active|\"w\"\n"
        )
    }

    #[test]
    fn a_line_a_workers_name_starts_in_the_list_forges_nothing_of_the_managers_own() {
        let honest = probe_naming("rccr-node|n9|10.0.0.9||ready|active|\"y\"");
        let (docker, health) = (parse_probe(&honest), Health::parse(&honest));
        assert!(
            matches!(docker, Docker::Up { manager: true, .. }),
            "{docker:?}"
        );
        for forged in [
            "rccr-docker down",
            "rccr-docker absent",
            "rccr-docker up|1|inactive|false||",
            "rccr-boot storage: none: no RCCR filesystem",
            "rccr-health 1|9.99|1000|1|99000|0x5|99%|99%",
        ] {
            let text = probe_naming(forged);
            assert_eq!(parse_probe(&text), docker, "{forged}");
            assert_eq!(Health::parse(&text), health, "{forged}");
        }
    }

    #[test]
    fn a_workers_name_is_one_quoted_field_whatever_it_holds() {
        // As `{{json .Description.Hostname}}` prints `x<newline>rccr-docker
        // down|<ESC>`: one line.
        let view = parse_node_list(
            "rccr-node|n3|10.0.0.3||ready|active|\"x\\nrccr-docker down|\\u001b\"\n",
        );
        assert_eq!(view.len(), 1, "{view:?}");
        assert_eq!(view[0].hostname, "x\nrccr-docker down|\u{1b}");
        assert_eq!(view[0].addr, "10.0.0.3".parse().ok());
        // A name that is no JSON string is no name.
        for raw in ["x", "\"x", "7", "\"a\" \"b\""] {
            let view = parse_node_list(&format!("rccr-node|n3|10.0.0.3||ready|active|{raw}\n"));
            assert_eq!(view[0].hostname, "", "{raw}");
        }
        // One cut to MAX_TEXT after it is read.
        let long = format!(
            "rccr-node|n3|10.0.0.3||ready|active|\"{}\"\n",
            "é".repeat(MAX_TEXT)
        );
        assert_eq!(parse_node_list(&long)[0].hostname, "é".repeat(MAX_TEXT / 2));
    }

    #[test]
    fn swarm_state_manager_status_and_node_states_are_the_documented_words_whatever_a_node_says() {
        let field = |s: NodeStatus, key: &str| {
            let v = Value::parse(render_json(&[s]).as_bytes()).unwrap();
            v.as_array()[0].get(key).as_str().map(str::to_string)
        };
        let mut s = healthy_target();
        s.docker = parse_probe("rccr-docker up|24.0|Active\x1b[31m|false||n1|\n");
        assert_eq!(field(s, "swarm_state").as_deref(), Some("unknown"));
        // Docker's own third reachability, and any other word.
        for (said, want) in [
            ("unknown", Some("unknown")),
            ("reachable", Some("Reachable")),
            ("Leader\x1b", Some("unknown")),
            ("", None),
        ] {
            let (status, availability) = (format!("Ready{said}"), format!("DRAIN{said}"));
            let seen =
                &parse_node_list(&format!("rccr-node|n1|-|-|{status}|{availability}|\"a\""))[0];
            let closed = said.is_empty().then_some(("ready", "drain"));
            assert_eq!(
                (seen.status, seen.availability),
                closed.unwrap_or(("unknown", "unknown"))
            );
            let mut s = healthy_target();
            s.listed = Some(Listed {
                ca: String::new(),
                nodes: parse_node_list(&format!(
                    "rccr-node|n1|10.0.0.2|{said}|ready|active|\"a\"\n"
                )),
            });
            swarm_view(std::slice::from_mut(&mut s), None, &[]);
            assert_eq!(field(s, "manager_status").as_deref(), want, "{said:?}");
        }
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
        let table = render_table(&statuses, true, None, &[]);
        assert!(table.len() < 64 * 1024, "{} bytes", table.len());
        let view = parse_node_list(&format!(
            "rccr-node|{endless}|{endless}|{endless}|{endless}|{endless}\n"
        ));
        assert!(view
            .iter()
            .all(|n| n.status == "unknown" && n.hostname.len() <= MAX_TEXT));
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
            s.manager_status = ManagerStatus::parse(status);
            s
        };
        let three = [
            manager("Leader"),
            manager("reachable"),
            manager("unreachable"),
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
        assert!(render_table(&[], true, Some(q), &[]).contains("quorum: LOST"));
        assert!(q.failure().starts_with("the swarm lost its quorum"));
        // No list, but a majority answers: a leader is being elected, and
        // setup would not re-form.
        let mut answering = manager("Leader");
        answering.manager_status = None;
        let q = Quorum::of(&[answering.clone(), answering], 3).unwrap();
        assert_eq!((q.reachable, q.total, q.held()), (2, 3, false));
        assert!(
            q.line().starts_with("quorum: NO LEADER YET: 2 of 3"),
            "{}",
            q.line()
        );
        assert!(q.failure().starts_with("the swarm has no leader yet"));
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
    fn a_second_entry_at_a_nodes_address_decides_nothing_over_its_own_id() {
        // A node that rejoined: its old entry, down, is still listed at its
        // address, before its own.
        let mut manager = healthy_target();
        manager.node.ip = "10.0.0.1".parse().unwrap();
        manager.docker = parse_probe("rccr-docker up|24.0|active|true|c1|n1|\n");
        manager.listed = listed_of(
            &manager.docker,
            "rccr-node|old1|10.0.0.1|unreachable|down|active|\"m\"\n\
             rccr-node|n1|10.0.0.1|Leader|ready|active|\"m\"\n\
             rccr-node|old|10.0.0.2||down|active|\"w\"\n\
             rccr-node|new|10.0.0.2||ready|active|\"w\"\n",
        );
        let mut worker = healthy_target();
        worker.docker = parse_probe("rccr-docker up|24.0|active|false||new|\n");
        let mut statuses = [manager, worker];
        swarm_view(&mut statuses, None, &[]);
        assert_eq!(statuses[1].swarm_seen, Some("ready"));
        assert!(statuses[1].healthy(), "{:?}", statuses[1].problem());
        // The manager's own entry, by its ID, not the stale one before it.
        assert_eq!(statuses[0].swarm_role(), "leader");
        assert_eq!(statuses[0].manager_status, Some(ManagerStatus::Leader));
        // A node that tells no ID: the first entry at its address.
        if let Docker::Up { node_id, .. } = &mut statuses[1].docker {
            node_id.clear();
        }
        swarm_view(&mut statuses, None, &[]);
        assert_eq!(statuses[1].swarm_seen, Some("down"));
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
             \"swarm_error\": null, \"swarm_seen\": null, \"manager_status\": null, \"node_list\": null, \"key_persisted\": null, \"healthy\": false, \"problem\": \"unreachable: timed out\", \
             \"warnings\": []}\n]\n"
        );
        assert_eq!(render_json(&[]), "[]\n");
    }

    /// An active manager at `ip` whose probe told `list` and the CA `ca`.
    fn manager_listing(ip: &str, ca: &str, list: &str) -> NodeStatus {
        let mut s = healthy_target();
        s.node.ip = ip.parse().unwrap();
        s.node.hostname = format!("m{}", ip.rsplit('.').next().unwrap())
            .as_str()
            .into();
        s.docker = up("active", true);
        let text = format!("rccr-ca|{ca}\n{list}");
        s.listed = listed_of(&s.docker, &text);
        s
    }

    const LIST: &str = "rccr-node|n1|10.0.0.1|Leader|ready|active|\"m1\"\n\
                        rccr-node|n2|10.0.0.2|reachable|ready|active|\"m2\"\n\
                        rccr-node|n3|10.0.0.3|reachable|ready|active|\"m3\"\n\
                        rccr-node|n4|10.0.0.4||ready|active|\"w4\"\n";

    #[test]
    fn managers_that_disagree_on_the_swarms_nodes_are_named() {
        // m1 says w4 is down and lists a ghost; m2 and m3 agree, and the
        // list shown is theirs (the first of the most).
        let lie = LIST.replace("||ready|active|\"w4\"", "||down|active|\"w4\"")
            + "rccr-node|n9|10.0.0.9||ready|active|\"ghost\"\n";
        let mut statuses = vec![
            manager_listing("10.0.0.1", "ca1", &lie),
            manager_listing("10.0.0.2", "ca1", LIST),
            manager_listing("10.0.0.3", "ca1", LIST),
            healthy_target(),
        ];
        statuses[3].node.ip = "10.0.0.4".parse().unwrap();
        statuses[3].node.hostname = "w4".into();
        let warnings = swarm_view(&mut statuses, Some("ca1"), &[]);
        assert_eq!(
            warnings,
            ["warning: managers m2 (10.0.0.2) and m1 (10.0.0.1) disagree on the swarm's nodes \
              (shown: m2 (10.0.0.2)'s list): w4 10.0.0.4: ready active worker as m2 (10.0.0.2) lists it, \
              down active worker as m1 (10.0.0.1) does; 10.0.0.9: not listed as m2 (10.0.0.2) lists it, \
              ready active worker as m1 (10.0.0.1) does"]
        );
        let checks: Vec<_> = statuses.iter().map(|s| s.list_check).collect();
        use ListCheck::*;
        assert_eq!(checks, [Some(Differs), Some(Shown), Some(Agrees), None]);
        assert_eq!(statuses[3].swarm_seen, Some("ready"));
        assert!(matches!(
            statuses[1].docker,
            Docker::Up { leader: false, .. }
        ));
        assert!(matches!(
            statuses[0].docker,
            Docker::Up { leader: true, .. }
        ));
        let table = render_table(&statuses, true, None, &warnings);
        assert!(
            table.contains("\nswarm: warning: managers m2 (10.0.0.2) and m1 (10.0.0.1) disagree"),
            "{table}"
        );
        // Role and availability count; a name does not, nor which
        // manager is reachable or leads: each manager's own view of raft.
        for (from, to, differs) in [
            (
                "10.0.0.4||ready|active",
                "10.0.0.4|reachable|ready|active",
                true,
            ),
            ("10.0.0.4||ready|active", "10.0.0.4||ready|drain", true),
            ("|\"w4\"", "|\"m1\"", false),
            (
                "10.0.0.2|reachable|ready|active",
                "10.0.0.2|unreachable|ready|active",
                false,
            ),
            ("10.0.0.2|reachable|", "10.0.0.2|leader|", false),
        ] {
            let mut statuses = vec![
                manager_listing("10.0.0.1", "ca1", LIST),
                manager_listing("10.0.0.2", "ca1", &LIST.replace(from, to)),
            ];
            let warnings = swarm_view(&mut statuses, Some("ca1"), &[]);
            assert_eq!(warnings.len(), usize::from(differs), "{to}: {warnings:?}");
        }
    }

    #[test]
    fn a_poser_claiming_to_manage_with_the_cas_digest_shows_not_its_list() {
        // First in the inventory, a worker claims to manage and tells the
        // CA's digest (every worker holds it); its list, which makes m2
        // down, does not list it managing. The real manager's is shown.
        let lie = LIST.replace(
            "reachable|ready|active|\"m2\"",
            "reachable|down|active|\"m2\"",
        );
        let mut poser = manager_listing("10.0.0.4", "ca1", &lie);
        poser.docker = parse_probe("rccr-docker up|24.0|active|true||n4|\n");
        let mut real = manager_listing("10.0.0.1", "ca1", LIST);
        real.docker = parse_probe("rccr-docker up|24.0|active|true|c1|n1|\n");
        let mut statuses = vec![poser, real, worker_at("10.0.0.2", "n2")];
        let warnings = swarm_view(&mut statuses, Some("ca1"), &[]);
        use ListCheck::*;
        let checks: Vec<_> = statuses.iter().map(|s| s.list_check).collect();
        assert_eq!(checks, [Some(Differs), Some(Shown), None], "{warnings:?}");
        assert_eq!(statuses[2].swarm_seen, Some("ready"));
        // Listing its ID as a manager at another node's address is no
        // better: it is n4 listed at m1's.
        let mut statuses = vec![
            manager_listing("10.0.0.4", "ca1", &lie.replace("n1|", "n4|")),
            statuses.swap_remove(1),
        ];
        statuses[0].docker = parse_probe("rccr-docker up|24.0|active|true||n4|\n");
        statuses[1].list_check = None;
        swarm_view(&mut statuses, Some("ca1"), &[]);
        assert_eq!(statuses[1].list_check, Some(Shown));
        // Writing itself in as a manager at its own address: the record
        // of setup's managers names n1, not n4.
        let mut statuses = vec![
            manager_listing(
                "10.0.0.4",
                "ca1",
                &format!("{lie}rccr-node|n4|10.0.0.4|reachable|ready|active|\"w4\"\n"),
            ),
            statuses.swap_remove(1),
        ];
        statuses[0].docker = parse_probe("rccr-docker up|24.0|active|true||n4|\n");
        statuses[1].list_check = None;
        swarm_view(&mut statuses, Some("ca1"), &["n1".into()]);
        assert_eq!(statuses[1].list_check, Some(Shown));
        assert_eq!(statuses[0].list_check, Some(Differs));
    }

    /// First in the inventory, a worker at 10.0.0.4 claims the node ID of
    /// n1, a manager setup recorded at 10.0.0.1, tells the CA's digest and
    /// lists itself as n1, leading, at its own address (and m2 down).
    /// Before, node IDs being no secret, it was as recorded as n1 and, the
    /// first, its list was shown. Now only n1 at 10.0.0.1 is n1; a record
    /// an older rccr wrote (no address) trusts the ID alone, as then; and
    /// a manager whose lease moved is not preferred, though its list is
    /// still shown when no other is.
    #[test]
    fn a_poser_claiming_a_recorded_managers_id_at_its_own_address_shows_not_its_list() {
        let lie = LIST
            .replace("n1|10.0.0.1|", "n1|10.0.0.4|")
            .replace(
                "reachable|ready|active|\"m2\"",
                "reachable|down|active|\"m2\"",
            )
            .replace("rccr-node|n4|10.0.0.4||ready|active|\"w4\"\n", "");
        let listing = || {
            let mut poser = manager_listing("10.0.0.4", "ca1", &lie);
            poser.docker = parse_probe("rccr-docker up|24.0|active|true|c1|n1|\n");
            let mut real = manager_listing("10.0.0.1", "ca1", LIST);
            real.docker = parse_probe("rccr-docker up|24.0|active|true|c1|n1|\n");
            vec![poser, real, worker_at("10.0.0.2", "n2")]
        };
        let recorded = |n1: &str| {
            vec![
                RecordedManager {
                    id: "n1".into(),
                    addr: n1.parse().ok(),
                },
                RecordedManager {
                    id: "n2".into(),
                    addr: "10.0.0.2".parse().ok(),
                },
            ]
        };
        use ListCheck::*;
        let mut statuses = listing();
        let warnings = swarm_view(&mut statuses, Some("ca1"), &recorded("10.0.0.1"));
        let checks: Vec<_> = statuses.iter().map(|s| s.list_check).collect();
        assert_eq!(checks, [Some(Differs), Some(Shown), None], "{warnings:?}");
        assert_eq!(statuses[2].swarm_seen, Some("ready"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        // An old record: n1 at any address, the poser first.
        let mut statuses = listing();
        swarm_view(&mut statuses, Some("ca1"), &recorded(""));
        assert_eq!(statuses[0].list_check, Some(Shown));
        // n1's lease moved to .1 since the record said .9: with the poser
        // there, neither is preferred, and the first is shown (status
        // still fails on the disagreement); alone, its list is shown.
        let mut statuses = listing();
        swarm_view(&mut statuses, Some("ca1"), &recorded("10.0.0.9"));
        assert_eq!(statuses[0].list_check, Some(Shown));
        let mut statuses = listing().split_off(1);
        swarm_view(&mut statuses, Some("ca1"), &recorded("10.0.0.9"));
        assert_eq!(statuses[0].list_check, Some(Shown));
        assert_eq!(statuses[1].swarm_seen, Some("ready"));
    }

    /// A worker at `ip`, named `w` and its last octet, whose engine tells
    /// the node ID `id`.
    fn worker_at(ip: &str, id: &str) -> NodeStatus {
        let mut s = healthy_target();
        s.node.ip = ip.parse().unwrap();
        s.node.hostname = format!("w{}", ip.rsplit('.').next().unwrap())
            .as_str()
            .into();
        s.docker = parse_probe(&format!("rccr-docker up|24.0|active|false||{id}|\n"));
        s
    }

    /// Each node's problem once the list shown (of CA `ca1`) is read.
    fn problems_in_view(statuses: &mut [NodeStatus]) -> Vec<Option<String>> {
        swarm_view(statuses, Some("ca1"), &[]);
        statuses.iter().map(NodeStatus::problem).collect()
    }

    #[test]
    fn a_worker_the_managers_do_not_list_is_no_healthy_member() {
        let list = "rccr-node|n1|10.0.0.1|Leader|ready|active|\"m1\"\n\
                    rccr-node|n4|10.0.0.4||ready|active|\"w4\"\n\
                    rccr-node|n5|10.0.0.8||ready|active|\"w5\"\n\
                    rccr-node|n6|10.0.0.6||down|active|\"w6\"\n";
        let mut statuses = vec![
            manager_listing("10.0.0.1", "ca1", list),
            // Listed by its ID; and listed at its other card, by its ID.
            worker_at("10.0.0.4", "n4"),
            worker_at("10.0.0.5", "n5"),
            // The list's entry at its address is of the node it was: it
            // joined another swarm since.
            worker_at("10.0.0.6", "n9"),
            // An engine that tells no ID: by its address.
            worker_at("10.0.0.4", ""),
            worker_at("10.0.0.7", ""),
        ];
        assert_eq!(
            problems_in_view(&mut statuses),
            [
                None,
                None,
                None,
                Some("not in the cluster's swarm: its managers do not list its node ID n9".into()),
                None,
                Some("not in the cluster's swarm: its managers do not list it at 10.0.0.7".into()),
            ]
        );
        // No list, no word on who is in the swarm.
        let mut unlisted = vec![worker_at("10.0.0.7", "n9")];
        swarm_view(&mut unlisted, Some("ca1"), &[]);
        assert!(unlisted[0].healthy());
    }

    /// Also a worker telling the node ID of a swarm node outside the
    /// inventory (listed under a name of no inventory node, at no
    /// inventory node's address), or of an entry under another inventory
    /// node's name away from both: it was shown healthy, as nothing but
    /// another node at that address or telling that ID flagged it; now
    /// flagged by the one rule setup refuses those claims by.
    #[test]
    fn a_worker_claiming_another_inventory_nodes_swarm_id_is_no_healthy_member() {
        let list = "rccr-node|n1|10.0.0.1|Leader|ready|active|\"m1\"\n\
                    rccr-node|n2|10.0.0.2||ready|active|\"w2\"\n\
                    rccr-node|n8|10.0.0.8||ready|active|\"w8\"\n\
                    rccr-node|n7|10.0.0.7||ready|active|\"w2\"\n\
                    rccr-node|n9|10.0.0.9||ready|active|\"nas\"\n";
        // Each worker's address and the ID its engine tells: the first is
        // the one listed; the next two are listed at another inventory
        // node's address (a worker's, a manager's); the next two claim an
        // ID listed at neither's (no inventory node's): neither is known
        // to be it; the last two, a stranger's entry and one under w2's
        // name away from both.
        let claims = [
            ("10.0.0.2", "n2"),
            ("10.0.0.3", "n2"),
            ("10.0.0.4", "n1"),
            ("10.0.0.5", "n8"),
            ("10.0.0.6", "n8"),
            ("10.0.0.10", "n9"),
            ("10.0.0.11", "n7"),
        ];
        let mut statuses = vec![manager_listing("10.0.0.1", "ca1", list)];
        statuses.extend(claims.map(|(ip, id)| worker_at(ip, id)));
        let problems = problems_in_view(&mut statuses);
        assert_eq!(problems[0], None);
        assert_eq!(
            problems[1..],
            [
                None,
                Some("claims the swarm node ID of w2".into()),
                Some("claims the swarm node ID of m1".into()),
                Some("claims the swarm node ID of w6".into()),
                Some("claims the swarm node ID of w5".into()),
                Some("claims the swarm node ID of nas".into()),
                Some("claims the swarm node ID of w2".into()),
            ]
        );
    }

    #[test]
    fn the_list_shown_is_of_a_manager_with_the_recorded_ca() {
        // Two posers of another CA agree with each other; the one manager
        // with the cluster's CA is shown, and each poser named.
        let lie = LIST.replace("||ready|active|\"w4\"", "||down|active|\"w4\"");
        let mut statuses = vec![
            manager_listing("10.0.0.1", "other", &lie),
            manager_listing("10.0.0.2", "other", &lie),
            manager_listing("10.0.0.3", "ca1", LIST),
        ];
        let warnings = swarm_view(&mut statuses, Some("ca1"), &[]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings
                .iter()
                .all(|w| w.contains("(shown: m3 (10.0.0.3)'s list)")
                    && w.ends_with("'s join tokens are of another CA than the cluster's")),
            "{warnings:?}"
        );
        assert_eq!(statuses[2].list_check, Some(ListCheck::Shown));
        // One manager alone: its list, no comparison; a worker's word and
        // a marked manager's are no list.
        let mut alone = vec![manager_listing("10.0.0.1", "ca1", &lie), healthy_target()];
        alone[1].node.ip = "10.0.0.4".parse().unwrap();
        assert!(swarm_view(&mut alone, Some("ca1"), &[]).is_empty());
        assert_eq!(alone[1].swarm_seen, Some("down"));
        assert_eq!(listed_of(&up("active", false), LIST), None);
        assert_eq!(listed_of(&up("pending", true), LIST), None);
        let mut marked = manager_listing("10.0.0.2", "ca1", LIST);
        marked.error = Some("in another swarm".into());
        let mut two = vec![manager_listing("10.0.0.1", "ca1", &lie), marked];
        assert!(swarm_view(&mut two, Some("ca1"), &[]).is_empty());
    }

    #[test]
    fn a_manager_lists_at_most_max_listed_nodes() {
        let endless = "rccr-node|n1|10.0.0.1||ready|active|\"n\"\n".repeat(MAX_LISTED + 10);
        assert_eq!(parse_node_list(&endless).len(), MAX_LISTED);
    }

    #[test]
    fn a_node_that_moved_says_from_where() {
        let mut record = node(Role::Target);
        record.moved_from = "10.0.0.9".parse().ok();
        let s = NodeStatus::new(&record);
        assert!(render_json(std::slice::from_ref(&s))
            .contains("\"ip\": \"10.0.0.2\", \"moved_from\": \"10.0.0.9\","));
        let table = render_table(&[s], true, None, &[]);
        assert!(
            table.contains(
                "\n  t1 (10.0.0.2): moved from 10.0.0.9 (followed by its MAC or, on its \
                 other network card, its host key at the last setup)\n"
            ),
            "{table}"
        );
        let table = render_table(&[NodeStatus::new(&node(Role::Target))], true, None, &[]);
        assert!(!table.contains("moved"), "{table}");
    }
}
