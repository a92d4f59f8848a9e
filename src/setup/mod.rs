//! `rccr setup`: the seed's flow, end to end, on the control node, as
//! stages with typed hand-offs:
//!
//! 1. [`discover`]: sweep the LAN with the scan engine, then
//! 2. classify every SSH host by logging in: a host that accepts the
//!    cluster key is **adopted**; one that accepts the temporary key and
//!    whose name (read over SSH) contains the filter is **new**; every
//!    other host is shown and never touched.
//! 3. [`plan`]: an [`plan::Action`] per host, shown before anything
//!    changes; ask unless `--yes`; `--dry-run` stops here.
//! 4. [`adopt`]: unique hostnames for new nodes that carry an image
//!    default (or a name another node has).
//! 5. Rotate the new nodes from the temporary key to the cluster key with
//!    the no-lockout engine of `rccr keyrotate`; adopted nodes are left
//!    alone, but for those that still take the temporary key
//!    ([`lingering`]).
//! 6. [`record`]: rccr's inventory and the Ansible inventory, atomically.
//! 7. Form: the cluster engine's layers ([`crate::swarm::engine`]: machine,
//!    swarm, services), then the config's own playbooks when Ansible is
//!    installed.
//! 8. [`report`]: a line per node per phase, then a table (or `--json`).
pub mod adopt;
pub mod discover;
pub mod lingering;
pub mod plan;
pub mod record;
pub mod report;
pub mod tools;

use crate::config::Config;
use crate::error::Error;
use crate::keys::addr::NodeAddr;
use crate::keys::control::engine::Outcome;
use crate::keys::control::known_hosts::KnownHosts;
use crate::keys::control::{command, journal};
use crate::keys::resolve::{Given, Resolver};
use crate::print;
use crate::ssh::Fingerprint;
use crate::state::{inventory, StatePaths};
use crate::swarm::{engine, playbooks};
use crate::wire::ipv4::Cidr;
use discover::{Class, LoginKeys};
use plan::{Action, Planned};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The command as its lines begin (progress, warnings, prompts, and the
/// rotation it runs).
pub const PROGRAM: &str = "rccr setup";

/// What the run reads and keeps, where it looks, what it does, how it
/// asks and tells (and whether it only tells: `dry_run`), and how long
/// it waits.
pub struct Options {
    pub config: Option<PathBuf>,
    pub temp_key: Option<PathBuf>,
    pub paths: StatePaths,
    pub subnets: Vec<Cidr>,
    pub iface: Option<String>,
    /// Form the swarm and run the configured playbooks.
    pub form: bool,
    /// Remove swarm nodes that left the inventory and services that left
    /// the config (kept otherwise).
    pub remove_missing: bool,
    /// Adopt only if exactly this many new nodes are found (`--expect`).
    pub expect: Option<usize>,
    pub yes: bool,
    pub dry_run: bool,
    pub json: bool,
    pub revert_after: Duration,
    /// How long to wait for another run's lock (`--wait`).
    pub wait: Duration,
}

pub fn run(opts: Options) -> Result<(), Error> {
    let mut clock = engine::Clock::start();
    let loaded = Config::load(opts.config.as_deref())?;
    loaded.warn(PROGRAM);
    let (config, config_file) = (loaded.config, loaded.source);
    let paths = &opts.paths;
    // One run at a time; a dry run changes nothing and takes no lock.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(crate::state::Lock::acquire(paths, opts.wait)?)
    };
    let known = inventory::load(&paths.nodes())?;
    // The nodes the last run held back: held back again unless this run
    // can tell each from a copy ([`record::held`]).
    let held_before = inventory::held_back(paths, &known)?;
    let keys = login_keys(&opts, &config)?;
    // The key the rotation stage starts from, checked before discovery and
    // renames: one that stage refuses is refused before anything changes.
    // (Without a temporary key, an unfinished rotation's is the only one.)
    // Only where that stage would check it whatever discovery finds: for
    // `--temp-key`, and for an unfinished rotation. A key only the config
    // or the environment names is checked there, as before, once there
    // are nodes: after the first rotation `ssh.temp_key: ~/.ssh/id_rsa`
    // names the cluster key, and a run that finds nothing new is fine.
    let checked = opts.temp_key.is_some() || paths.journal().exists();
    if keys.temporary.is_some() && checked {
        command::check_old_key(&rotation_options(&opts, &config, &keys, Vec::new()))?;
    }
    let unsettled = journal::load(&paths.journal())?
        .map(|r| r.unsettled())
        .unwrap_or_default();

    let scan_opts = discover::scan_options(
        &config,
        config_file.as_deref(),
        &opts.subnets,
        opts.iface.as_deref(),
    );
    let control = record::control_record(&scan_opts)?;
    let known = record::with_control(known, control.clone());
    let candidates = discover::discover(&config, &scan_opts, &keys, &known, &unsettled)?;
    let mut planned = plan::plan(candidates, &known, &config);
    clock.lap("discover");
    if !opts.json || opts.dry_run {
        print::stdout(&report::plan(&planned, opts.json))?;
    }
    let nothing_found = planned.iter().all(|p| {
        matches!(
            p.candidate.class,
            Class::NoSsh | Class::Foreign | Class::Refused
        )
    });
    if nothing_found
        && known
            .iter()
            .all(|k| k.role == crate::identity::Role::Control)
    {
        // Run before the targets are up, setup would end "done", having
        // done nothing: say what it looked for.
        eprintln!(
            "rccr setup: no node found: no host that answered is named like one ('{}') and \
             accepts our keys; boot the targets on this LAN and run setup again (or check \
             --subnet and discovery.hostname_filter)",
            config.discovery.hostname_filter
        );
    }
    plan::check_expected(&planned, opts.expect)?;
    // What this run would record, checked before anything changes (and
    // in a dry run): a refusal at the write would come after the renames
    // and the rotation.
    let (would_record, _) =
        record::records(control.clone(), &plan::as_done(&planned), known.clone());
    inventory::refuse_two_of_one_name(&would_record)?;
    if opts.dry_run {
        eprintln!("rccr setup: dry run: nothing was changed");
        return Ok(());
    }
    let new = planned
        .iter()
        .filter(|p| matches!(p.action, Action::Adopt { .. }))
        .count();
    if new > 0 && !opts.yes {
        if opts.json {
            // The question needs the plan's host keys to check, and the
            // JSON on stdout comes only at the end.
            eprint!("{}", report::plan(&planned, false));
        }
        crate::cli::confirm(
            PROGRAM,
            &format!(
                "Adopt {new} new node(s) and replace their temporary key? (--dry-run only looks)"
            ),
        )?;
    }
    paths.create_state_dir()?;

    adopt::rename_all(&mut planned, &keys);
    clock.lap("adopt");
    let last_before = record::last_rotation(paths);
    // Whoever answers at a held-back node's address may be a copy of it,
    // for the rotation, the engine, the playbooks and `ansible all` alike.
    let held = record::held(&planned, &known, &held_before);
    let held_ips: Vec<IpAddr> = held.iter().map(|(ip, _)| *ip).collect();
    for (ip, why) in &held {
        eprintln!("rccr setup: {ip}: {why}");
    }
    let rotated = rotate(&opts, &config, &keys, &unsettled, &held_ips, &mut planned)?;
    let cluster_key = rotated
        .cluster_key
        .clone()
        .unwrap_or_else(|| paths.ssh_identity(config.ssh.key_type));
    clock.lap("rotate");
    let (records, missing) = record::records(control, &planned, known);
    inventory::save_holding(
        paths,
        &records,
        &held_ips,
        &config.ssh.user,
        config.ssh.port,
        &cluster_key,
    )?;
    // The pins, then the last rotation's word on a node that moved this
    // run, follow it; in a last rotation this run retired, the lines of
    // the nodes it rotated are where they are now already.
    let fresh = if record::last_rotation(paths) == last_before {
        Vec::new()
    } else {
        rotated.rotated_at.clone()
    };
    let moves = record::moves(&planned);
    record::follow_nodes(
        paths,
        &records,
        &moves,
        &fresh,
        config.ssh.port,
        |warning| print::warning(PROGRAM, &warning),
    )?;
    if let Some(problem) = crate::state::persist_control() {
        eprintln!("rccr setup: {problem}");
    }
    clock.lap("record");
    let formed = if opts.form {
        let mut engine_opts = engine::Options::new(opts.remove_missing, opts.yes);
        engine_opts.held = held;
        let formed = form(&config, paths, &records, &engine_opts)?;
        clock.laps.extend(formed.0.timings.iter().copied());
        clock.start_again();
        Some(formed)
    } else {
        None
    };

    print::stdout(&report::outcome(
        &planned,
        &records,
        missing,
        &held_ips,
        formed.as_ref().map(|f| &f.0),
        opts.json,
    ))?;
    let left_out: Vec<String> = records
        .iter()
        .filter(|r| held_ips.contains(&r.ip))
        .map(|r| format!("{} ({})", r.hostname, r.ip))
        .collect();
    eprintln!(
        "rccr setup: inventory written to {} and {}{}",
        paths.nodes().display(),
        paths.inventory_ini().display(),
        match left_out[..] {
            [] => String::new(),
            _ => format!(", which leaves out {}: held back", left_out.join(", ")),
        }
    );
    clock.lap("report");
    eprintln!(
        "rccr setup: done in {}",
        engine::Clock::summary(&clock.laps)
    );
    let refusing = refusing_cluster_key(&planned, &records, &rotated.outcomes);
    failure(&planned, &rotated, &refusing, &cluster_key, formed.as_ref())
}

/// Stage 7: the cluster engine, then the configured playbooks.
fn form(
    config: &Config,
    paths: &StatePaths,
    records: &[inventory::NodeRecord],
    engine_opts: &engine::Options,
) -> Result<(engine::Report, playbooks::Outcome), Error> {
    let progress = |who: &str, what: &str| print::progress(PROGRAM, &format!("{who}: {what}"));
    let mut report = engine::run(config, paths, records, engine_opts, &progress)?;
    for note in tools::point_tools(paths, &config.ssh.user, report.manager.as_deref())? {
        print::progress(PROGRAM, &note);
    }
    let started = std::time::Instant::now();
    let playbooks = playbooks::run(config, paths)?;
    if playbooks != playbooks::Outcome::None {
        report.timings.push(("playbooks", started.elapsed()));
    }
    Ok((report, playbooks))
}

/// The keys discovery tries: the cluster key, and the temporary key
/// (`--temp-key`, else where [`Resolver`] finds it). One of them must exist.
fn login_keys(opts: &Options, config: &Config) -> Result<LoginKeys, Error> {
    let resolver = Resolver::new(&opts.paths);
    let given = opts.temp_key.as_deref().map(|path| Given {
        flag: "--temp-key",
        path,
    });
    let temporary = resolver.temporary(given, config.ssh.temp_key.as_ref(), PROGRAM)?;
    let cluster = resolver.cluster(config.ssh.key_type)?;
    if temporary.is_none() && cluster.is_none() {
        return Err(Error::bad_input(
            "the temporary key",
            "not found and no cluster key yet: pass --temp-key PATH",
        ));
    }
    // A temporary key file that is no usable private key (its .pub, a
    // passphrase, junk) makes every host look as if it refused our keys,
    // and the rotation reads OpenSSH's format only (a PEM key logs in,
    // then cannot rotate): say so before the sweep. (The cluster key is
    // rccr's own, or RCCR_CLUSTER_KEY's, which may be PEM: left to login.)
    if let Some(found) = &temporary {
        let name = match opts.temp_key {
            Some(_) => "--temp-key",
            None => "the temporary key",
        };
        let what = format!("{name} {}", found.path.display());
        crate::keys::check_login_key(&what, &found.path)?;
    }
    // A cluster key others may read fails every login as a key file
    // error, and every node would look as if it refused it: refuse it
    // here, by its mode only (its format is left to the login).
    if let Some(found) = &cluster {
        crate::fsutil::open_trusted(&found.path, crate::fsutil::Trust::Secret)?;
    }
    // A known_hosts that cannot be read (a directory, say) made every host
    // look like it had no SSH, and failed only after the inventory was
    // rewritten: refuse it before the sweep.
    KnownHosts::open(opts.paths.known_hosts.clone())?;
    // The rotation rewrites ~/.ssh/config after the nodes moved: one it
    // would refuse is refused before any node is renamed or rotated.
    crate::keys::control::ssh_config::check(&opts.paths.ssh_config())?;
    Ok(LoginKeys {
        user: config.ssh.user.clone(),
        port: config.ssh.port,
        cluster: cluster.map(|f| f.path),
        temporary: temporary.map(|f| f.path),
        known_hosts: opts.paths.known_hosts.clone(),
    })
}

/// The options of setup's rotation of `nodes` from the temporary key, as
/// `keys` found it.
fn rotation_options(
    opts: &Options,
    config: &Config,
    keys: &LoginKeys,
    nodes: Vec<NodeAddr>,
) -> command::Options {
    command::Options {
        program: PROGRAM.into(),
        nodes,
        from_key: keys.temporary.clone(),
        from_key_flag: opts.temp_key.is_some().then_some("--temp-key"),
        key_type: config.ssh.key_type,
        user: config.ssh.user.clone(),
        port: config.ssh.port,
        temp_key: config.ssh.temp_key.clone(),
        revert_after: opts.revert_after,
        timeout: discover::SSH_TIMEOUT,
        parallel: 32,
        paths: opts.paths.copy(),
        yes: true,
        json: false,
        forget_temp_key: false,
        classified: Vec::new(),
    }
}

/// Stage 5: rotates the new nodes to the cluster key and marks those that
/// moved as adopted. Returns where the cluster key is, when it ran.
/// What the rotation stage leaves for the rest of the run (by default:
/// nothing rotated, nothing left).
#[derive(Default)]
struct Rotated {
    /// Where the cluster key is, when a rotation ran.
    cluster_key: Option<PathBuf>,
    /// Nodes that take the cluster key but could not save the change
    /// (`rotated-volatile`), this run's and those the journal still lists.
    volatile: Vec<String>,
    /// Nodes only the journal still lists that may need the temporary key
    /// (unreachable, say): it stays until they settle or are removed.
    unsettled: Vec<String>,
    /// Where this run rotated nodes: where they are now.
    rotated_at: Vec<NodeAddr>,
    /// Adopted nodes that took the temporary key (or could not be asked),
    /// and still may: their rotation did not finish.
    lingering: lingering::Lingering,
    /// Nodes the journal lists that this run holds back: not rotated,
    /// the old key stays for them.
    held: Vec<String>,
    /// Why nodes were left untouched because this machine's known_hosts
    /// could not be written
    /// ([`crate::keys::control::engine::local_failure`]), if any were.
    local: Option<String>,
    /// How the rotation ended at each address it ran at, this run's
    /// nodes' and those only the journal listed.
    outcomes: Vec<(IpAddr, Outcome)>,
}

fn rotate(
    opts: &Options,
    config: &Config,
    keys: &LoginKeys,
    unsettled: &[NodeAddr],
    held: &[IpAddr],
    planned: &mut [Planned],
) -> Result<Rotated, Error> {
    // New nodes, and those an interrupted rotation left on a new lease:
    // the rotation finishes them where they are now (where discovery kept
    // them: a machine's other addresses are duplicates, never rotated).
    // A node whose rename failed is not rotated: it would be recorded
    // under a name that may be another node's.
    let moved_mid_rotation = |p: &Planned| {
        p.candidate.class.is_node()
            && !p.rename_failed()
            && unsettled
                .iter()
                .any(|n| Some(n.ip) == p.candidate.moved_from)
    };
    let lingering = lingering::take_temporary_key(keys, planned, moved_mid_rotation);
    let asked: Vec<String> = lingering.addresses().map(ToString::to_string).collect();
    crate::failpoint::reached("lingering-asked", &asked.join(","));
    let to_rotate: Vec<(NodeAddr, Option<&Fingerprint>)> = planned
        .iter()
        .filter(|p| {
            matches!(p.action, Action::Adopt { .. })
                || moved_mid_rotation(p)
                || lingering.contains(&p.candidate.ip)
        })
        .map(|p| {
            let node = NodeAddr {
                ip: IpAddr::V4(p.candidate.ip),
                port: config.ssh.port,
            };
            (node, p.candidate.host_key.as_ref())
        })
        .collect();
    let nodes: Vec<NodeAddr> = to_rotate.iter().map(|(node, _)| *node).collect();
    // Each is rotated only where it shows the host key the plan showed.
    let classified = to_rotate
        .iter()
        .filter_map(|(node, key)| Some((*node, (*key)?.clone())))
        .collect();
    // An interrupted rotation is finished even when nothing is new: its
    // nodes may accept the cluster key already and the temporary key still.
    if nodes.is_empty() && !opts.paths.journal().exists() {
        return Ok(Rotated::default());
    }
    // The rest of the reports are of addresses only the journal lists:
    // another host found at one of them this run is not that node. Those
    // held back this run are not logged in to (none of ours is one).
    let ours = nodes.clone();
    let summary = command::run(
        &command::Options {
            classified,
            ..rotation_options(opts, config, keys, nodes)
        },
        held,
        &|node, phase| print::progress(PROGRAM, &format!("{node}: {phase}")),
    )?;
    let (mine, journal_only): (Vec<_>, Vec<_>) =
        summary.reports.iter().partition(|r| ours.contains(&r.node));
    for r in mine {
        if let Some(p) = planned
            .iter_mut()
            .find(|p| IpAddr::V4(p.candidate.ip) == r.node.ip)
        {
            p.rotation = Some((r.outcome, r.detail.clone()));
            // A volatile node takes the cluster key now: it joins the
            // swarm, and the run still fails below until it is saved.
            if r.outcome.accepts_new_key() {
                p.candidate.class = Class::Adopted;
            }
        }
    }
    let volatile = summary
        .reports
        .iter()
        .filter(|r| r.outcome == Outcome::RotatedVolatile)
        .map(|r| r.node.to_string())
        .collect();
    let (held, unsettled): (Vec<_>, Vec<_>) = journal_only
        .iter()
        .filter(|r| r.outcome.may_take_temporary_key())
        .map(|r| (r.outcome, r.node.to_string()))
        .partition(|(outcome, _)| *outcome == Outcome::HeldBack);
    let names = |list: Vec<(Outcome, String)>| list.into_iter().map(|(_, n)| n).collect();
    let lingering = lingering::still_take(&summary.reports, &lingering);
    Ok(Rotated {
        cluster_key: Some(summary.new_key),
        volatile,
        unsettled: names(unsettled),
        rotated_at: ours,
        lingering,
        held: names(held),
        local: crate::keys::control::engine::local_failure(&summary.reports),
        outcomes: summary
            .reports
            .iter()
            .map(|r| (r.node.ip, r.outcome))
            .collect(),
    })
}

/// Fails with what `say(count, "a, b")` makes of `nodes`, when there are any.
fn fail_if_any(nodes: &[String], say: impl Fn(usize, &str) -> String) -> Result<(), Error> {
    match nodes {
        [] => Ok(()),
        _ => Err(Error::Failed(say(nodes.len(), &nodes.join(", ")))),
    }
}

/// The nodes of the cluster this run found refusing the cluster key,
/// `NAME (IP)`: an adopted node whose rotation (of the temporary key it
/// still took) ended with it refusing every key, and a node of `records`
/// that answered with its pinned host key and refused our keys, unless
/// the rotation at its address (`outcomes`: an interrupted one it
/// finished) ended otherwise. Neither is reached by anything rccr runs
/// (the swarm, the playbooks) until it takes the cluster key again.
fn refusing_cluster_key(
    planned: &[Planned],
    records: &[inventory::NodeRecord],
    outcomes: &[(IpAddr, Outcome)],
) -> Vec<String> {
    let named = |name: Option<&str>, ip: &dyn std::fmt::Display| match name {
        Some(name) => format!("{} ({ip})", print::name(name)),
        None => ip.to_string(),
    };
    planned
        .iter()
        .filter_map(|p| {
            let c = &p.candidate;
            let rotation = outcomes
                .iter()
                .find(|(ip, _)| *ip == IpAddr::V4(c.ip))
                .map(|(_, outcome)| *outcome);
            match (c.class, rotation) {
                (Class::Adopted, Some(Outcome::Refused)) => {
                    Some(named(c.hostname.as_deref(), &c.ip))
                }
                (Class::Refused, None | Some(Outcome::Refused)) => records
                    .iter()
                    .find(|r| {
                        r.role != crate::identity::Role::Control
                            && r.host_key.is_some()
                            && r.host_key == c.host_key
                    })
                    .map(|node| named(Some(&node.hostname), &c.ip)),
                _ => None,
            }
        })
        .collect()
}

/// The run's exit: this machine's known_hosts not written, new nodes that
/// were not adopted, nodes the rotation left unsettled, nodes of the
/// cluster that refuse its key, nodes out of the swarm, services that do
/// not run, then a failed playbook.
fn failure(
    planned: &[Planned],
    rotated: &Rotated,
    refusing: &[String],
    cluster_key: &std::path::Path,
    formed: Option<&(engine::Report, playbooks::Outcome)>,
) -> Result<(), Error> {
    if let Some(local) = &rotated.local {
        return Err(Error::Failed(local.clone()));
    }
    let failed: Vec<String> = planned
        .iter()
        .filter(|p| matches!(p.action, Action::Adopt { .. }) && p.candidate.class != Class::Adopted)
        .map(|p| p.candidate.ip.to_string())
        .collect();
    fail_if_any(&failed, |n, list| {
        format!(
            "{n} new node(s) not adopted ({list}): run rccr setup again once they are reachable"
        )
    })?;
    let not_renamed: Vec<String> = planned
        .iter()
        .filter(|p| p.rename_failed())
        .map(|p| p.candidate.ip.to_string())
        .collect();
    fail_if_any(&not_renamed, |n, list| {
        format!(
            "{n} new node(s) not adopted: their rename failed ({list}, see above); they still \
             take the temporary key, like any host setup leaves alone: make rccr init --hostname \
             work on them (rccr on their PATH, a writable /etc/hostname), or rename them on \
             themselves to a name no node has, then run rccr setup again"
        )
    })?;
    let left = plan::left_new(planned);
    if !left.is_empty() {
        return Err(Error::Failed(format!(
            "{} address(es) of new hosts not adopted: left duplicates ({}; see the notes above); \
             they still take the temporary key: do what each note says, then run rccr setup again",
            left.len(),
            discover::named(&left)
        )));
    }
    fail_if_any(&rotated.volatile, |n, list| {
        format!("{n} node(s) take the cluster key but could not save it and would get their old key back at a reboot ({list}): the old key is kept; give them storage, or run rccr setup again after their reboot")
    })?;
    if let Some(problem) = rotated.lingering.problem() {
        return Err(Error::Failed(problem));
    }
    fail_if_any(&rotated.held, |n, list| {
        format!("{n} node(s) held back, their rotation not finished ({list}): a copy may answer at their address; the old key is kept for them; give the machine that is not the node its own host keys, then run rccr setup again")
    })?;
    // A node rotated this run that may still take the temporary key: a
    // node an interrupted rotation left on a new lease (rotated at it as
    // an adopted node, so in none of the lists above) whose rotation
    // there did not settle.
    let mut unsettled = rotated.unsettled.clone();
    unsettled.extend(
        planned
            .iter()
            .filter(|p| {
                p.rotation
                    .as_ref()
                    .is_some_and(|(outcome, _)| outcome.may_take_temporary_key())
            })
            .map(|p| p.candidate.ip.to_string()),
    );
    fail_if_any(&unsettled, |n, list| {
        format!("the temporary key is kept: an earlier rotation has not settled {n} node(s) ({list}); run rccr setup again once they are reachable, or rccr remove those that are gone")
    })?;
    fail_if_any(refusing, |n, list| {
        format!(
            "{n} node(s) of the cluster refuse the cluster key ({list}): nothing rccr runs \
             reaches them; put {} back in their authorized_keys (from their console), then run \
             rccr setup again, or rccr remove --forget those that are gone",
            crate::keys::public_path(cluster_key).display()
        )
    })?;
    let Some((report, playbooks)) = formed else {
        return Ok(());
    };
    let problems = report.failures();
    if !problems.is_empty() {
        return Err(Error::Failed(format!(
            "the cluster is not whole: {}",
            problems.join("; ")
        )));
    }
    if let playbooks::Outcome::Failed(playbook) = playbooks {
        return Err(Error::Failed(format!(
            "playbook {playbook} failed; its output is in the log named above"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, load_key, write_pair, KeyType, CLUSTER_KEY_COMMENT};
    use crate::state::{KeyRecords, KeyRole};

    /// The current cluster key named as `--temp-key` is refused before
    /// discovery (it was refused only at the rotation stage, after the
    /// sweep and the renames): the run ends on it with no interface nor
    /// subnet that could be swept.
    #[test]
    fn the_cluster_key_as_the_temporary_key_is_refused_before_discovery() {
        let home = crate::state::scratch::home("setup-temp-is-cluster");
        let paths = &home.paths;
        let cluster = recorded_cluster_key(paths);
        let err = run(refused_before_discovery(&home, Some(&cluster), "")).unwrap_err();
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message}");
        let named = format!("--temp-key {}: is rccr's cluster key", cluster.display());
        assert!(message.contains(&named), "{message}");
        assert!(!paths.nodes().exists(), "an inventory was written");
    }

    /// A node an interrupted rotation left on a new lease is rotated at
    /// its new address as an adopted node left alone (`Leave`): its
    /// rotation ending with it possibly still taking the temporary key
    /// (`incomplete`, `reverted`) fails the run, naming it (it exited 0:
    /// review setup-flow, finding 2).
    #[test]
    fn a_node_moved_mid_rotation_whose_rotation_did_not_settle_fails_the_run() {
        use super::discover::Candidate;
        let ip = std::net::Ipv4Addr::new(10, 0, 0, 9);
        let mut candidate = Candidate::at(ip, None);
        candidate.class = Class::Adopted;
        candidate.moved_from = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 5)));
        let ends = |outcome: Outcome| {
            let planned = [Planned {
                candidate: candidate.clone(),
                action: Action::Leave,
                rotation: Some((outcome, "x".into())),
            }];
            let cluster_key = std::path::Path::new("/nonexistent/id_ed25519");
            failure(&planned, &Rotated::default(), &[], cluster_key, None)
        };
        for outcome in [Outcome::Incomplete, Outcome::Reverted, Outcome::Unreachable] {
            let message = ends(outcome).unwrap_err().to_string();
            assert!(message.contains("10.0.0.9"), "{outcome:?}: {message}");
            assert!(!message.contains('\n'), "{message}");
        }
        for outcome in [Outcome::Rotated, Outcome::Moved] {
            assert!(ends(outcome).is_ok(), "{outcome:?}");
        }
    }

    /// A new node the plan leaves a duplicate (its pinned name is another
    /// node's) still takes the temporary key: the run fails naming it,
    /// as for a failed rename, and `--expect` refuses it (it exited 0:
    /// review setup-flow, findings 4 and 1).
    #[test]
    fn a_new_node_the_plan_leaves_a_duplicate_fails_the_run() {
        use super::discover::Candidate;
        let mac = "02:52:43:00:00:01";
        let mut config = Config::default();
        config.nodes.push(crate::config::NodePin {
            mac: mac.parse().unwrap(),
            hostname: Some("kitchen".into()),
            role: None,
            manager: None,
        });
        let mut new = Candidate::at("10.0.5.6".parse().unwrap(), mac.parse().ok());
        new.class = Class::New;
        let mut node = Candidate::at("10.0.5.7".parse().unwrap(), None);
        node.class = Class::Adopted;
        node.hostname = "kitchen".parse().ok();
        let planned = plan::plan(vec![new, node], &[plan::control()], &config);
        assert_eq!(planned[0].candidate.class, Class::Duplicate);
        assert!(plan::check_expected(&planned, Some(0)).is_err());
        let cluster_key = std::path::Path::new("/nonexistent/id_ed25519");
        let failed = failure(&planned, &Rotated::default(), &[], cluster_key, None);
        let message = failed.unwrap_err().to_string();
        assert!(message.contains("10.0.5.6"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }

    /// A cluster key of rccr's at `~/.ssh/id_ed25519`, recorded as such.
    fn recorded_cluster_key(paths: &crate::state::StatePaths) -> std::path::PathBuf {
        let cluster = paths.ssh_identity(KeyType::Ed25519);
        let key = generate(KeyType::Ed25519, 0, CLUSTER_KEY_COMMENT).unwrap();
        write_pair(&cluster, &key).unwrap();
        let fingerprint = load_key(&cluster).unwrap().fingerprint;
        KeyRecords::new(paths)
            .record(KeyRole::Cluster, &fingerprint)
            .unwrap();
        cluster
    }

    /// A setup run in `home` with `temp_key` as `--temp-key` and the
    /// config `yaml`, over an interface and subnet no sweep could reach:
    /// it ends on a refusal before discovery, or on that interface.
    fn refused_before_discovery(
        home: &crate::state::scratch::Home,
        temp_key: Option<&std::path::Path>,
        yaml: &str,
    ) -> Options {
        let config = home.dir.join("rccr.yml");
        std::fs::write(&config, format!("cluster:\n  name: lab\n{yaml}")).unwrap();
        Options {
            config: Some(config),
            temp_key: temp_key.map(std::path::Path::to_path_buf),
            subnets: vec![Cidr::parse("192.0.2.1/32").unwrap()],
            iface: Some("rccr-none0".into()),
            paths: home.paths.copy(),
            yes: true,
            dry_run: false,
            json: false,
            revert_after: Duration::from_secs(60),
            form: false,
            remove_missing: false,
            wait: Duration::from_secs(1),
            expect: None,
        }
    }

    /// An unfinished rotation whose new key is gone while a node of it
    /// may take it is refused before discovery too, as keyrotate refuses
    /// it (it was refused only at the rotation stage).
    #[test]
    fn a_journal_whose_new_key_is_gone_is_refused_before_discovery() {
        use crate::keys::control::journal::{Journal, Record};
        let home = crate::state::scratch::home("setup-new-key-gone");
        let paths = &home.paths;
        let temporary = paths.kept_temp_key();
        let key = generate(KeyType::Ed25519, 0, crate::keys::TEMP_KEY_COMMENT).unwrap();
        write_pair(&temporary, &key).unwrap();
        let mut record = Record {
            rotation: "r".into(),
            new_key: paths.staged_new_key(),
            old_key: temporary.clone(),
            nodes: Vec::new(),
        };
        record.set_phase("10.0.0.5:22", "rotated");
        Journal::create(paths.journal(), record).unwrap();
        let err = run(refused_before_discovery(&home, Some(&temporary), "")).unwrap_err();
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(message.contains("which is not there"), "{message}");
        assert!(!paths.nodes().exists(), "an inventory was written");
        assert!(!paths.staged_new_key().exists(), "a new key was written");
    }

    /// After the first rotation, `ssh.temp_key: ~/.ssh/id_rsa` (the
    /// documented one) names the cluster key rccr put there: a setup that
    /// finds nothing new went through, and a check before discovery
    /// refused it (review journalkeys, F3). With no `--temp-key` and no
    /// unfinished rotation, the rotation stage checks it, as before.
    #[test]
    fn a_configured_temporary_key_that_became_the_cluster_key_is_not_refused_early() {
        let home = crate::state::scratch::home("setup-config-temp-is-cluster");
        let paths = &home.paths;
        let cluster = recorded_cluster_key(paths);
        let yaml = format!("ssh:\n  temp_key: {}\n", cluster.display());
        let err = run(refused_before_discovery(&home, None, &yaml)).unwrap_err();
        let message = err.to_string();
        assert!(!message.contains("cluster key"), "{message}");
        assert!(message.contains("rccr-none0"), "{message}");
    }
}
