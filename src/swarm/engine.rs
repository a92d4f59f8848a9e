//! The cluster engine's run over the inventory: log in to every node (the
//! recorded host key, the cluster key), then the machine layer on all of
//! them in parallel, the swarm layer, and the container layer. Each layer
//! says per node (per service) what it changed, or that it changed
//! nothing.
use super::form;
use super::machine::{self, Machine, NoEngine};
use super::member::{self, Member};
use super::services::{self, ServiceReport};
use crate::config::Config;
use crate::docker::api::{Info, SwarmState};
use crate::error::Error;
use crate::identity::Role;
use crate::keys::resolve::Resolver;
use crate::parallel;
use crate::print;
use crate::state::inventory::NodeRecord;
use crate::state::StatePaths;
use std::net::IpAddr;
use std::time::Duration;

/// Nodes handled at once.
const PARALLEL: usize = 32;

/// What a layer did on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer {
    Unchanged,
    Changed(Vec<String>),
    /// The node is out of the cluster for this reason (escaped).
    Failed(String),
    /// The layer did not run there, for this reason.
    Skipped(String),
}

impl Layer {
    /// Adds a change (a failed layer stays failed).
    pub fn add(&mut self, change: String) {
        match self {
            Layer::Changed(changes) => changes.push(change),
            Layer::Unchanged | Layer::Skipped(_) => *self = Layer::Changed(vec![change]),
            Layer::Failed(_) => {}
        }
    }

    /// Fails the layer for `why`, keeping what the run did there all the
    /// same (`why; done: a, b`): the node was changed, and a report of
    /// only the failure would hide that.
    pub fn fail_after(&mut self, why: String) {
        *self = Layer::Failed(match std::mem::replace(self, Layer::Unchanged) {
            Layer::Changed(done) => format!("{why}; done: {}", done.join(", ")),
            Layer::Failed(before) => format!("{before}; {why}"),
            Layer::Unchanged | Layer::Skipped(_) => why,
        });
    }

    pub fn failed(&self) -> bool {
        matches!(self, Layer::Failed(_))
    }

    /// `unchanged`, `changed: a, b`, `FAILED: why`, `skipped: why`.
    pub fn text(&self) -> String {
        match self {
            Layer::Unchanged => "unchanged".into(),
            Layer::Changed(c) => format!("changed: {}", c.join(", ")),
            Layer::Failed(why) => format!("FAILED: {why}"),
            Layer::Skipped(why) => format!("skipped: {why}"),
        }
    }

    /// One word for tables and JSON: `unchanged`, `changed`, `failed`, `skipped`.
    pub fn word(&self) -> &'static str {
        match self {
            Layer::Unchanged => "unchanged",
            Layer::Changed(_) => "changed",
            Layer::Failed(_) => "failed",
            Layer::Skipped(_) => "skipped",
        }
    }
}

pub struct Options {
    pub remove_missing: bool,
    /// Each node's time to connect and log in.
    pub timeout: Duration,
    /// Re-form a swarm that lost its quorum without asking (`--yes`).
    pub force_new_cluster: bool,
    /// Nodes not logged in at their recorded address, and why: setup
    /// found another machine's duplicate of the node there this run.
    pub held: Vec<(IpAddr, String)>,
}

impl Options {
    pub fn new(remove_missing: bool, force_new_cluster: bool) -> Options {
        Options {
            remove_missing,
            force_new_cluster,
            held: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// `RCCR_ENGINE_NODE=cli`: every node is asked through its `docker`
/// command, never its rccr (tests of the fallback). [`log_in`] applies
/// it, so every member any run logs in to is asked so.
fn cli_only() -> bool {
    std::env::var("RCCR_ENGINE_NODE").as_deref() == Ok("cli")
}

/// One node's part of the run.
#[derive(Clone, Debug)]
pub struct NodeReport {
    pub hostname: String,
    pub ip: String,
    /// How its engine was asked (`rccr`, `docker-cli`, `local`), once known.
    pub via: &'static str,
    pub machine: Layer,
    pub swarm: Layer,
    /// Whether it is a target whose machine layer found no Docker engine
    /// installed: it leaves nothing to form (a control never is).
    pub docker_missing: bool,
}

impl NodeReport {
    /// The report of a node that was logged in to.
    fn reached(m: &Member, machine: &Machine, swarm: Layer) -> NodeReport {
        NodeReport {
            hostname: m.record.hostname.to_string(),
            ip: m.record.ip.to_string(),
            via: m.via().as_str(),
            machine: machine_layer(m, machine),
            swarm,
            docker_missing: m.record.role != Role::Control
                && machine.no_engine == Some(NoEngine::NotInstalled),
        }
    }
}

/// The whole run.
pub struct Report {
    pub nodes: Vec<NodeReport>,
    pub services: Vec<ServiceReport>,
    /// How long each layer took (logins count with the machine layer).
    pub timings: Vec<(&'static str, Duration)>,
    /// Whether a manager of the cluster's swarm answered.
    pub led: bool,
    /// Where SSH reaches the manager that led this run ([`ssh_host`]),
    /// for tools on the control (the docker context).
    pub manager: Option<String>,
    pub cluster: Option<String>,
    pub departed: Vec<String>,
    /// Why the worker token a docker CLI join showed is not rotated
    /// ([`super::form::retire_worker_token`]): the cluster is not whole
    /// while a token a node's users may have read still joins it.
    pub unrotated: Option<String>,
    /// Whether any target's engine answered (the control's own engine,
    /// when it is in a swarm of its own, forms nothing: see [`unformed`]).
    pub engines: bool,
    /// Whether the control's own engine answered.
    pub control_engine: bool,
}

impl Report {
    /// What went wrong, one line each; empty when the cluster is whole. A
    /// LAN where no target runs Docker, and no swarm recorded, has no swarm
    /// to form: nothing failed (unless a swarm layer did, as the control's
    /// own swarm init, or, beside the control's own engine, a target is out
    /// for another reason than no Docker installed). A run no manager led fails, first saying so when
    /// no node's swarm layer tells why.
    pub fn failures(&self) -> Vec<String> {
        // Beside a control's own engine (in a swarm of its own), a target
        // whose Docker is down, that was not reached or whose machine.sh
        // failed may be meant to run it: only targets without Docker
        // installed leave nothing to form.
        let target_out = self
            .nodes
            .iter()
            .any(|n| n.machine.failed() && !n.docker_missing);
        let out =
            self.nodes.iter().any(|n| n.swarm.failed()) || (self.control_engine && target_out);
        if !self.led && self.cluster.is_none() && !self.engines && !out {
            return Vec::new();
        }
        let unled =
            (!self.led && !self.nodes.iter().any(|n| n.swarm.failed())).then(|| {
                match &self.cluster {
                    Some(cluster) => format!("no manager of the cluster's swarm {cluster} answers"),
                    None => "no swarm was formed".to_string(),
                }
            });
        let nodes = self.nodes.iter().filter_map(|n| {
            [&n.machine, &n.swarm]
                .into_iter()
                .find(|l| l.failed())
                .map(|l| format!("{} ({}): {}", print::name(&n.hostname), n.ip, l.text()))
        });
        let services = self
            .services
            .iter()
            .filter(|s| !s.ok)
            .map(|s| format!("service {}: {}", s.name, s.problem()));
        let unrotated = self.unrotated.iter().cloned();
        unled
            .into_iter()
            .chain(nodes)
            .chain(services)
            .chain(unrotated)
            .collect()
    }
}

/// Runs the three layers over `nodes` (the inventory).
pub fn run(
    config: &Config,
    paths: &StatePaths,
    nodes: &[NodeRecord],
    opts: &Options,
    progress: &(dyn Fn(&str, &str) + Sync),
) -> Result<Report, Error> {
    // `progress` hears (who, what): both already safe for a terminal.
    let mut clock = Clock::start();
    let logins = log_in(config, paths, nodes, opts.timeout, &opts.held)?;
    let mut reports: Vec<NodeReport> = Vec::new();
    let mut members: Vec<Member> = Vec::new();
    for (node, login) in nodes.iter().zip(logins) {
        match login {
            Ok(m) => members.push(m),
            Err(e) => {
                progress(&print::name(&node.hostname), &format!("not reached: {e}"));
                reports.push(NodeReport {
                    hostname: node.hostname.to_string(),
                    ip: node.ip.to_string(),
                    via: "-",
                    machine: Layer::Failed(e),
                    swarm: Layer::Skipped("not reached".into()),
                    docker_missing: false,
                });
            }
        }
    }

    let machines: Vec<Machine> = parallel::map(&members, PARALLEL, |m| {
        let machine = machine::prepare(m);
        let layer = machine_layer(m, &machine);
        progress(&m.name(), &format!("machine: {}", layer.text()));
        machine
    });
    clock.lap("machine");
    let names: Vec<&str> = nodes.iter().map(|n| n.hostname.as_str()).collect();
    let mut formed = form::form(
        &members,
        &machines,
        &paths.swarm(),
        nodes,
        opts.remove_missing,
        &settings(config, &members, &|what| {
            opts.force_new_cluster
                || crate::cli::confirm_typed("rccr setup", &format!("{what}."), "re-form").is_ok()
        }),
    )?;
    let unformed = match (formed.swarm.leader, &formed.swarm.cluster) {
        (None, None) => {
            let infos: Vec<Option<&Info>> = machines.iter().map(|m| m.info.as_ref()).collect();
            let control: Vec<bool> = members
                .iter()
                .map(|m| m.record.role == Role::Control)
                .collect();
            unformed(&infos, &control, &mut formed.layers)
        }
        _ => None,
    };
    for (i, layer) in formed.layers.iter().enumerate() {
        progress(&members[i].name(), &format!("swarm: {}", layer.text()));
    }
    for line in &formed.departed {
        progress("swarm", line);
    }
    clock.lap("swarm");
    let services = match formed.swarm.leader {
        Some(leader) => {
            let swarm: Vec<(&Member, _)> = formed
                .swarm
                .members
                .iter()
                .map(|&i| (&members[i], machines[i].arch))
                .collect();
            services::converge(
                &members[leader],
                &swarm,
                &config.containers,
                opts.remove_missing,
                config.swarm.services_timeout,
            )
        }
        None => Vec::new(),
    };
    for s in &services {
        progress(&format!("service {}", print::name(&s.name)), &s.result);
    }
    clock.lap("services");
    for ((m, machine), swarm) in members.iter().zip(&machines).zip(formed.layers) {
        reports.push(NodeReport::reached(m, machine, swarm));
    }
    reports.sort_by_key(|r| names.iter().position(|n| *n == r.hostname));
    if let Some(why) = &unformed {
        progress("swarm", why);
    }
    Ok(Report {
        nodes: reports,
        services,
        cluster: formed.swarm.cluster,
        departed: formed.departed,
        unrotated: formed.unrotated,
        led: formed.swarm.leader.is_some(),
        engines: members
            .iter()
            .zip(&machines)
            .any(|(m, machine)| m.record.role != Role::Control && machine.info.is_some()),
        control_engine: members
            .iter()
            .zip(&machines)
            .any(|(m, machine)| m.record.role == Role::Control && machine.info.is_some()),
        manager: formed
            .swarm
            .leader
            .filter(|&i| members[i].via() != member::Via::Local)
            .map(|i| ssh_host(members[i].record.ip, config.ssh.port)),
        timings: clock.laps,
    })
}

/// Why no swarm was formed, when none is recorded and none led this run.
const NO_DOCKER: &str = "no node runs Docker, so there is no swarm to form";
/// The same, when the control's own engine answers.
const NO_TARGET_DOCKER: &str = "no target runs Docker, so there is no swarm to form";
const NONE_FREE: &str =
    "no node is free to start the cluster's swarm (none answers with swarm state inactive)";

/// With no swarm recorded and no leader: why nothing was formed, to say
/// once. When no target's engine answers, there is no swarm to form; a
/// control whose own engine is in a swarm of its own (an operator's
/// Portainer) is left alone and named, not failed. When engines answer but
/// none is free to start the swarm, each that form left `unchanged` is out
/// of the cluster, and says why. None when one was free (form said why it
/// did not start the swarm there). `control` marks the control, by index.
fn unformed(infos: &[Option<&Info>], control: &[bool], layers: &mut [Layer]) -> Option<String> {
    if infos.iter().all(Option::is_none) {
        return Some(NO_DOCKER.to_string());
    }
    if infos
        .iter()
        .flatten()
        .any(|i| i.state == SwarmState::Inactive)
    {
        return None;
    }
    let no_target = infos
        .iter()
        .zip(control)
        .all(|(info, &c)| c || info.is_none());
    if no_target {
        // The control's engine answers, in a swarm (or state) of its own.
        for (info, layer) in infos.iter().zip(layers.iter_mut()) {
            let (Some(info), Layer::Unchanged) = (info, &layer) else {
                continue;
            };
            let why = match info.state {
                SwarmState::Active if info.cluster_id.is_empty() => {
                    "in another swarm: left alone".to_string()
                }
                SwarmState::Active => format!(
                    "in another swarm ({}): left alone",
                    print::text(&info.cluster_id)
                ),
                state => format!("swarm state {}: left alone", state.as_str()),
            };
            *layer = Layer::Skipped(why.clone());
            return Some(format!(
                "{NO_TARGET_DOCKER}; the control's own Docker is {why}"
            ));
        }
        return Some(NO_TARGET_DOCKER.to_string());
    }
    for (info, layer) in infos.iter().zip(layers) {
        let (Some(info), Layer::Unchanged) = (info, &layer) else {
            continue;
        };
        *layer = Layer::Failed(match info.state {
            SwarmState::Active if info.cluster_id.is_empty() => {
                format!("in another swarm: left alone; {NONE_FREE}")
            }
            SwarmState::Active => {
                format!("in another swarm ({}): left alone; {NONE_FREE}", info.cluster_id)
            }
            state => format!(
                "swarm state {}{}: {NONE_FREE}; fix it by hand (docker swarm leave --force, or docker swarm unlock), then run rccr setup again",
                state.as_str(),
                if info.error.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", print::text(&info.error))
                }
            ),
        });
    }
    Some(NONE_FREE.to_string())
}

/// Logs in to every node of `nodes` at once (the control: locally), in
/// order; a node not reached says why (escaped). With
/// `RCCR_ENGINE_NODE=cli` every remote member is asked through its
/// `docker` command from the start.
pub fn log_in<'n>(
    config: &Config,
    paths: &StatePaths,
    nodes: &'n [NodeRecord],
    timeout: Duration,
    held: &[(IpAddr, String)],
) -> Result<Vec<Result<Member<'n>, String>>, Error> {
    let cluster_key = Resolver::new(paths)
        .cluster(config.ssh.key_type)?
        .map(|f| f.path);
    let cli_only = cli_only();
    let indexes: Vec<usize> = (0..nodes.len()).collect();
    Ok(parallel::map(&indexes, PARALLEL, |&i| {
        let node = &nodes[i];
        if node.role == Role::Control {
            return Ok(Member::local(node));
        }
        if let Some((_, why)) = held.iter().find(|(ip, _)| *ip == node.ip) {
            return Err(why.clone());
        }
        member::login(
            node,
            config.ssh.port,
            &config.ssh.user,
            cluster_key.as_deref(),
            timeout,
        )
        .map(|conn| {
            let member = Member::remote(node, conn);
            if cli_only {
                member.use_cli();
            }
            member
        })
        .map_err(|e| print::text(&e.to_string()).into_owned())
    }))
}

/// Times the phases of a run.
pub struct Clock {
    last: std::time::Instant,
    pub laps: Vec<(&'static str, Duration)>,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            last: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }

    /// Restarts the phase in progress (time spent elsewhere is counted).
    pub fn start_again(&mut self) {
        self.last = std::time::Instant::now();
    }

    /// Ends phase `name` now.
    pub fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((name, now - self.last));
        self.last = now;
    }

    /// `total T s: a A s, b B s`.
    pub fn summary(laps: &[(&'static str, Duration)]) -> String {
        let total: Duration = laps.iter().map(|(_, d)| *d).sum();
        let parts: Vec<String> = laps
            .iter()
            .map(|(name, d)| format!("{name} {} s", print::Centi::secs(*d)))
            .collect();
        format!("{} s ({})", print::Centi::secs(total), parts.join(", "))
    }
}

/// The config's say on managers: `swarm.managers`, and `nodes[].manager`
/// pins by MAC address.
fn settings<'a>(
    config: &Config,
    members: &[Member],
    force_new_cluster: &'a dyn Fn(&str) -> bool,
) -> form::Settings<'a> {
    form::Settings {
        force_new_cluster,
        managers: config.swarm.managers.map(usize::from),
        pins: members
            .iter()
            .map(|m| config.pin(m.record.mac).and_then(|p| p.manager))
            .collect(),
    }
}

/// `ip` as the host of an `ssh://` URL, with `port` when it is not 22:
/// `10.0.0.2`, `10.0.0.2:2222`, `[fe80::1]`.
fn ssh_host(ip: IpAddr, port: u16) -> String {
    match (ip, port) {
        (IpAddr::V4(v4), 22) => v4.to_string(),
        (IpAddr::V6(v6), 22) => format!("[{v6}]"),
        _ => std::net::SocketAddr::new(ip, port).to_string(),
    }
}

/// The machine layer's result on a node. A target must run Docker; the
/// control joins the swarm only when it runs Docker itself.
fn machine_layer(m: &Member, machine: &Machine) -> Layer {
    // A control without an engine is a control outside the swarm, not a
    // fault: why its engine did not answer is no problem of it.
    if machine.info.is_none() && m.record.role != Role::Control {
        let why = match &machine.no_engine {
            // Then what else went wrong there, which the reason hid.
            Some(no_engine) => machine
                .problems
                .iter()
                .fold(no_engine.text(), |why, p| why + "; problem: " + p),
            None => machine
                .problems
                .last()
                .map_or("Docker does not answer".to_string(), String::clone),
        };
        return Layer::Failed(why);
    }
    let mut layer = Layer::Unchanged;
    for change in &machine.changes {
        layer.add(change.clone());
    }
    for problem in &machine.problems {
        layer.add(format!("problem: {problem}"));
    }
    layer
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failure keeps what came before it: a failure already there
    /// (both are said), nothing from a skipped layer (it did nothing).
    #[test]
    fn a_failure_after_a_failure_or_a_skip_says_what_it_should() {
        let mut failed = Layer::Failed("join failed: x".into());
        failed.fail_after("not counted".into());
        assert_eq!(failed.text(), "FAILED: join failed: x; not counted");
        let mut skipped = Layer::Skipped("Docker is not running".into());
        skipped.fail_after("not counted".into());
        assert_eq!(skipped.text(), "FAILED: not counted");
    }

    /// `ssh.port` reaches the docker context setup writes (it said
    /// `ssh://root@IP`, port 22, whatever the config said).
    #[test]
    fn the_managers_ssh_host_has_the_configured_port() {
        let v4: IpAddr = "10.0.0.2".parse().unwrap();
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(ssh_host(v4, 22), "10.0.0.2");
        assert_eq!(ssh_host(v4, 2222), "10.0.0.2:2222");
        assert_eq!(ssh_host(v6, 22), "[fe80::1]");
        assert_eq!(ssh_host(v6, 2222), "[fe80::1]:2222");
    }

    fn node(name: &str, machine: Layer, swarm: Layer) -> NodeReport {
        NodeReport {
            hostname: name.into(),
            ip: "10.0.0.2".into(),
            via: "rccr",
            machine,
            swarm,
            docker_missing: false,
        }
    }

    fn report(cluster: Option<&str>, engines: bool, nodes: Vec<NodeReport>) -> Report {
        Report {
            nodes,
            services: Vec::new(),
            cluster: cluster.map(str::to_string),
            departed: Vec::new(),
            led: false,
            engines,
            control_engine: false,
            manager: None,
            timings: Vec::new(),
            unrotated: None,
        }
    }

    /// A swarm led and formed, with a worker token a docker CLI join showed
    /// that could not be rotated: not whole, since that token still joins.
    #[test]
    fn a_worker_token_left_unrotated_fails_the_run() {
        let formed = Report {
            led: true,
            ..report(
                Some("c1"),
                true,
                vec![node("m", Layer::Unchanged, Layer::Unchanged)],
            )
        };
        assert!(formed.failures().is_empty());
        let why = "the worker join token a docker CLI join showed is not rotated (x)";
        let unrotated = Report {
            unrotated: Some(why.into()),
            ..formed
        };
        assert_eq!(unrotated.failures(), [why]);
    }

    /// A swarm is recorded and no manager of it answers: the cluster is
    /// not whole, and says so first. Before, no node's swarm layer had
    /// failed (the manager's failure is its machine layer's, the others
    /// are skipped), so nothing failed and setup exited 0.
    #[test]
    fn a_recorded_swarm_with_no_manager_answering_fails() {
        let no_manager = "no manager of the cluster's swarm c1 answers";
        let headless = report(
            Some("c1"),
            true,
            vec![
                node(
                    "m",
                    Layer::Failed("not reached: connection refused".into()),
                    Layer::Skipped("not reached".into()),
                ),
                node("w", Layer::Unchanged, Layer::Skipped(no_manager.into())),
            ],
        );
        assert_eq!(
            headless.failures(),
            [
                no_manager.to_string(),
                "m (10.0.0.2): FAILED: not reached: connection refused".into()
            ]
        );
        // Every engine down (a power cut): the same.
        let down = report(
            Some("c1"),
            false,
            vec![node(
                "m",
                Layer::Failed("Docker is down".into()),
                Layer::Skipped("Docker is not running".into()),
            )],
        );
        assert_eq!(
            down.failures(),
            [
                no_manager.to_string(),
                "m (10.0.0.2): FAILED: Docker is down".into()
            ]
        );
        // No swarm recorded and no engine answers: nothing to form.
        let lan = report(
            None,
            false,
            vec![node(
                "t",
                Layer::Failed("no Docker".into()),
                Layer::Skipped("Docker is not running".into()),
            )],
        );
        assert_eq!(lan.failures(), Vec::<String>::new());
    }

    fn info(state: SwarmState, cluster_id: &str, error: &str) -> Info {
        Info {
            version: "27.0".into(),
            state,
            node_id: String::new(),
            cluster_id: cluster_id.into(),
            manager: !cluster_id.is_empty(),
            error: error.into(),
            cpus: 1,
            memory: 1,
            managers: 0,
        }
    }

    /// No swarm recorded and no engine free to start one (each in another
    /// swarm, or locked): before, every node stayed `unchanged`, setup
    /// said "no node runs Docker" and exited 0.
    #[test]
    fn no_engine_free_to_start_the_swarm_is_a_failure_named_per_node() {
        let (other, locked) = (
            info(SwarmState::Active, "x1", ""),
            info(SwarmState::Locked, "", "swarm is\nencrypted"),
        );
        let mut layers = vec![
            Layer::Unchanged,
            Layer::Skipped("Docker is not running".into()),
            Layer::Unchanged,
        ];
        let targets = [false; 3];
        let why = unformed(&[Some(&other), None, Some(&locked)], &targets, &mut layers);
        assert_eq!(why.as_deref(), Some(NONE_FREE));
        assert_eq!(
            layers,
            [
                Layer::Failed(format!("in another swarm (x1): left alone; {NONE_FREE}")),
                Layer::Skipped("Docker is not running".into()),
                Layer::Failed(format!(
                    "swarm state locked (swarm is?encrypted): {NONE_FREE}; fix it by hand \
                     (docker swarm leave --force, or docker swarm unlock), then run rccr setup again"
                )),
            ]
        );
        let mut layers = vec![Layer::Skipped("Docker is not running".into())];
        assert_eq!(
            unformed(&[None], &[false], &mut layers).as_deref(),
            Some(NO_DOCKER)
        );
        assert_eq!(layers, [Layer::Skipped("Docker is not running".into())]);
        // An engine free to start it that failed to: form said why.
        let free = info(SwarmState::Inactive, "", "");
        let mut layers = vec![
            Layer::Failed("swarm init failed: no".into()),
            Layer::Unchanged,
        ];
        assert_eq!(
            unformed(&[Some(&free), Some(&other)], &[false; 2], &mut layers),
            None
        );
        assert_eq!(layers[1], Layer::Unchanged);
    }

    /// A control whose own Docker is in a swarm of its own (an operator's
    /// Portainer), and no target running Docker: no swarm to form, the
    /// control's swarm named and left alone, setup not failed. Before,
    /// every control-only setup exited 1 ("no node is free to start the
    /// cluster's swarm") until a target ran Docker. Targets' engines all
    /// in other swarms, with or without the control's, still fail.
    #[test]
    fn a_controls_own_swarm_with_no_target_running_docker_is_named_not_failed() {
        let other = info(SwarmState::Active, "x1", "");
        let mut layers = vec![
            Layer::Unchanged,
            Layer::Skipped("Docker is not running".into()),
        ];
        let why = unformed(&[Some(&other), None], &[true, false], &mut layers);
        assert_eq!(
            why.as_deref(),
            Some(
                "no target runs Docker, so there is no swarm to form; \
                 the control's own Docker is in another swarm (x1): left alone"
            )
        );
        assert_eq!(
            layers[0],
            Layer::Skipped("in another swarm (x1): left alone".into())
        );
        let control_only = |target: NodeReport| Report {
            control_engine: true,
            ..report(
                None,
                false,
                vec![node("control", Layer::Unchanged, layers[0].clone()), target],
            )
        };
        let target = |why: &str| node("t", Layer::Failed(why.into()), layers[1].clone());
        let without_docker = NodeReport {
            docker_missing: true,
            ..target("no Docker engine installed")
        };
        assert_eq!(
            control_only(without_docker).failures(),
            Vec::<String>::new()
        );
        // The type decides, not the words: the text of no Docker without
        // the type is out, the type with other words is not.
        let told_only = target("no Docker engine installed");
        assert_eq!(control_only(told_only).failures().len(), 2);
        let typed_only = NodeReport {
            docker_missing: true,
            ..target("machine layer: x")
        };
        assert_eq!(control_only(typed_only).failures(), Vec::<String>::new());
        // A target whose Docker is installed but down, or that was not
        // reached, may be meant to run it: out of the cluster (exit 1),
        // as before the control's own swarm was left alone.
        for why in [
            "Docker is down: Cannot connect",
            "Docker does not answer",
            "machine layer: exit 1",
            "not reached: connection refused",
        ] {
            assert_eq!(
                control_only(target(why)).failures(),
                [
                    "no swarm was formed".to_string(),
                    format!("t (10.0.0.2): FAILED: {why}")
                ],
            );
        }
        // A target's engine in another swarm too: nobody is free, both fail.
        let mut layers = vec![Layer::Unchanged, Layer::Unchanged];
        let why = unformed(&[Some(&other), Some(&other)], &[true, false], &mut layers);
        assert_eq!(why.as_deref(), Some(NONE_FREE));
        assert!(layers.iter().all(Layer::failed), "{layers:?}");
        let foreign = report(
            None,
            true,
            vec![
                node("control", Layer::Unchanged, layers[0].clone()),
                node("t", Layer::Unchanged, layers[1].clone()),
            ],
        );
        assert_eq!(foreign.failures().len(), 2, "{:?}", foreign.failures());
        // The control's own swarm init failing, no target with Docker: failed.
        let init = report(
            None,
            false,
            vec![node(
                "control",
                Layer::Unchanged,
                Layer::Failed("swarm init failed: no".into()),
            )],
        );
        assert_eq!(
            init.failures(),
            ["control (10.0.0.2): FAILED: swarm init failed: no".to_string()]
        );
    }

    /// Whether a machine layer failed for want of Docker installed is told
    /// by its type, not by its text: it was read from the failure's words
    /// ("no Docker"), which held only while that problem was the last one
    /// pushed. A problem after it made a control-only LAN with a target
    /// without Docker fail; a reworded one would have let a switched-off
    /// target pass.
    #[test]
    fn a_target_without_docker_is_told_by_type_not_by_its_words() {
        let record = |role| NodeRecord {
            ip: "10.0.0.2".parse().unwrap(),
            mac: None,
            hostname: crate::identity::Hostname::parse("t").unwrap(),
            role,
            arch: None,
            host_key: None,
            moved_from: None,
        };
        let (target, control) = (record(Role::Target), record(Role::Control));
        let machine = |no_engine| Machine {
            no_engine,
            problems: vec!["clock 90 s behind the control's and not set".into()],
            ..Machine::default()
        };
        let lan = |no_engine| Report {
            control_engine: true,
            ..report(
                None,
                false,
                vec![NodeReport::reached(
                    &Member::local(&target),
                    &machine(no_engine),
                    Layer::Skipped("Docker is not running".into()),
                )],
            )
        };
        let without = lan(Some(NoEngine::NotInstalled));
        assert_eq!(
            without.nodes[0].machine,
            Layer::Failed(
                "no Docker engine installed; problem: clock 90 s behind the control's and not set"
                    .into()
            )
        );
        assert_eq!(without.failures(), Vec::<String>::new());
        // Installed and down, or machine.sh not run: out of the cluster.
        let down = lan(Some(NoEngine::Down("no Docker socket".into())));
        assert_eq!(
            down.failures(),
            [
                "no swarm was formed".to_string(),
                "t (10.0.0.2): FAILED: Docker is down: no Docker socket; problem: clock 90 s \
                 behind the control's and not set"
                    .into()
            ]
        );
        assert_eq!(lan(None).failures().len(), 2);
        // The control's own engine missing is none of its problems, and
        // no target's missing Docker.
        for no_engine in [NoEngine::NotInstalled, NoEngine::Down("gone".into())] {
            let own = NodeReport::reached(
                &Member::local(&control),
                &machine(Some(no_engine)),
                Layer::Skipped("-".into()),
            );
            assert!(!own.docker_missing);
            let layer = own.machine;
            assert_eq!(
                layer.text(),
                "changed: problem: clock 90 s behind the control's and not set"
            );
        }
    }
}
