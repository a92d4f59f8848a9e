//! `rccr remove`: a node leaves the cluster for good.
//!
//! For each node, on a manager of the cluster's swarm (never the node
//! itself): a manager is demoted first (the leading manager is another, so
//! quorum holds), the node is drained (its tasks move), it leaves the
//! swarm, and its entry is removed from the swarm's node list and from the
//! inventory (its address and name from rccr's block in ~/.ssh/config,
//! [`unname`]); then a manager's place goes to the fittest worker that
//! stays ([`replace`]), when the swarm wants one more, and the manager
//! join token the node knew is rotated. `--release`
//! also takes the cluster key off the node, giving the machine back;
//! `--forget` handles a node that is dead or gone: nothing is asked of it.
use super::claim;
use super::engine::{self, Layer};
use super::form::{
    confirmed_lead, manager_addr, promotions, record_managers, retire_known_manager_token,
    retire_worker_token, Fitness, ROTATED, ROTATED_KNOWN,
};
use super::member::{Member, Via};
use super::ops::{JoinAs, Op};
use super::settle::{in_raft, nodes, still_in_raft, wait_settled, DRAIN};
use crate::config::Config;
use crate::docker::api::{Info, JoinTokens, SwarmNode};
use crate::error::Error;
use crate::identity::Role;
use crate::keys::addr::{self, NodeAddr};
use crate::keys::control::journal;
use crate::keys::control::known_hosts::{host_field, KnownHosts};
use crate::keys::control::ssh_config;
use crate::keys::resolve::Resolver;
use crate::print;
use crate::ssh::Fingerprint;
use crate::state::inventory::{self, NodeRecord};
use crate::state::swarm::SwarmRecord;
use crate::state::StatePaths;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub struct Options {
    pub config: Option<std::path::PathBuf>,
    pub paths: StatePaths,
    /// Hostnames, addresses or MAC addresses of inventory nodes, or
    /// addresses (`IP`, `IP:PORT`) only an unfinished key rotation lists.
    pub nodes: Vec<String>,
    pub release: bool,
    pub forget: bool,
    pub yes: bool,
    pub json: bool,
}

/// The inventory node `name` names: its hostname (any case), address or MAC.
fn find<'r>(records: &'r [NodeRecord], name: &str) -> Option<&'r NodeRecord> {
    records.iter().find(|r| {
        r.hostname.eq_ignore_ascii_case(name)
            || r.ip.to_string() == name
            || r.mac.is_some_and(|m| Ok(m) == name.parse())
    })
}

pub fn run(opts: Options) -> Result<(), Error> {
    let loaded = Config::load(opts.config.as_deref())?;
    loaded.warn("rccr remove");
    let config = loaded.config;
    let paths = &opts.paths;
    let records = inventory::load(&paths.nodes())?;
    // Whoever answers at a node the last setup held back may be a copy of
    // it: no login there (a leaving one only with --forget).
    let held: Vec<(IpAddr, String)> = inventory::held_back(paths, &records)?
        .into_iter()
        .map(|ip| (ip, inventory::held_back_note()))
        .collect();
    let unfinished = journal::load(&paths.journal())?;
    let mut leaving: Vec<NodeRecord> = Vec::new();
    let mut only_journal: Vec<NodeAddr> = Vec::new();
    for name in &opts.nodes {
        let named: Vec<String> = records
            .iter()
            .filter(|r| r.hostname.eq_ignore_ascii_case(name))
            .map(|r| r.ip.to_string())
            .collect();
        if named.len() > 1 {
            return Err(Error::bad_input(
                name.clone(),
                format!(
                    "names {} nodes of the inventory (at {}): give the address of the one to remove",
                    named.len(),
                    named.join(" and ")
                ),
            ));
        }
        let Some(node) = find(&records, name) else {
            let listed = journal_only(unfinished.as_ref(), &records, name);
            if listed.is_empty() {
                return Err(Error::bad_input(
                    name.clone(),
                    format!(
                        "not a node of the inventory ({}), nor an address only an unfinished \
                         key rotation lists ({}): give a hostname, address or MAC the \
                         inventory lists",
                        paths.nodes().display(),
                        paths.journal().display()
                    ),
                ));
            }
            listed
                .into_iter()
                .for_each(|n| addr::push_once(&mut only_journal, n));
            continue;
        };
        if node.role == Role::Control {
            return Err(Error::bad_input(
                name.clone(),
                "is the control: it cannot leave its own cluster",
            ));
        }
        if !opts.forget && held.iter().any(|(ip, _)| *ip == node.ip) {
            return Err(Error::Failed(format!(
                "{} ({}): held back by the last rccr setup, a copy of it may answer there: \
                 rccr remove --forget {name} takes it out without logging in there, or \
                 give the machine that is not the node its own host keys and run rccr setup",
                print::name(&node.hostname),
                node.ip
            )));
        }
        if !leaving.contains(node) {
            leaving.push(node.clone());
        }
    }
    // Two of one name among the nodes that stay are not checked: remove
    // writes no name, and removing one of the two is the way out. Only a
    // `remove NAME` that names both is refused (above).
    if !opts.yes {
        let names: Vec<String> = leaving
            .iter()
            .map(|n| print::name(&n.hostname).into_owned())
            .chain(only_journal.iter().map(NodeAddr::to_string))
            .collect();
        crate::cli::confirm(
            "rccr remove",
            &format!("Remove {} from the cluster?", names.join(", ")),
        )?;
    }
    let mut results = forget_addresses(paths, &only_journal)?;
    let left = match leaving.is_empty() {
        true => Ok(()),
        false => leave_cluster(
            &config,
            paths,
            &records,
            &leaving,
            &held,
            &opts,
            &mut results,
        ),
    };
    // Even when the swarm could not be asked: a node may have left the
    // inventory all the same.
    if let Some(warning) = unname(paths, &records, &only_journal) {
        print::warning("rccr remove", &warning);
    }
    // What changed here is saved, even when the swarm could not be asked.
    if let Some(problem) = crate::state::persist_control() {
        print::warning("rccr remove", &problem);
    }
    // The table first: a state file not saved after the swarm changed
    // must not hide what was done to the nodes.
    let shown = match left.is_err() && results.is_empty() {
        true => Ok(()),
        false => print::stdout(&render(&results, opts.json)),
    };
    left?;
    shown?;
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, l)| l.failed())
        .map(|(n, _)| n.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{} did not leave cleanly: {} (see above for what was done, and whether it left the inventory)",
            failed.len(),
            failed.join(", ")
        )))
    }
}

/// rccr's block in ~/.ssh/config names the cluster key for a removed
/// node's address, and its name, no longer: another host may answer there
/// next. The nodes removed are those of `before` (the inventory as the
/// remove found it) no record holds the address of now, and the addresses
/// only the rotation listed (`addresses`); a node that stays in the
/// inventory stays named. The block is a convenience, the remove done: a
/// file that cannot be rewritten is a warning, returned.
fn unname(paths: &StatePaths, before: &[NodeRecord], addresses: &[NodeAddr]) -> Option<String> {
    let config = paths.ssh_config();
    let now = match inventory::load(&paths.nodes()) {
        Ok(now) => now,
        Err(e) => return Some(format!("{e}: {} was left as it was", config.display())),
    };
    let mut gone: Vec<IpAddr> = addresses.iter().map(|a| a.ip).collect();
    for node in before {
        if !now.iter().any(|r| r.ip == node.ip) && !gone.contains(&node.ip) {
            gone.push(node.ip);
        }
    }
    if gone.is_empty() {
        return None;
    }
    let e = ssh_config::forget_nodes(&config, &gone, &now).err()?;
    let gone: Vec<String> = gone.iter().map(IpAddr::to_string).collect();
    Some(format!(
        "{e}: rccr's block there was not rewritten, and may still name the cluster key \
         for {} (removed) by address and name: take them out of it by hand",
        gone.join(", ")
    ))
}

/// The addresses `name` names that only the unfinished rotation lists
/// (none that an inventory node holds): a node staged, then gone before
/// the inventory named it.
fn journal_only(
    unfinished: Option<&journal::Record>,
    records: &[NodeRecord],
    name: &str,
) -> Vec<NodeAddr> {
    let mut listed = unfinished.map(|r| r.named(name)).unwrap_or_default();
    listed.retain(|n| !records.iter().any(|r| r.ip == n.ip));
    listed
}

/// Addresses only the unfinished rotation lists leave it, and rccr's pins
/// of them leave known_hosts: the rotation stops waiting for them, and a
/// machine there later is a new host. Asks nothing of any node.
fn forget_addresses(paths: &StatePaths, nodes: &[NodeAddr]) -> Result<Vec<(String, Layer)>, Error> {
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    journal::forget_nodes(&paths.journal(), nodes)?;
    let known_hosts = KnownHosts::new(paths.known_hosts.clone());
    let mut results = Vec::new();
    for node in nodes {
        let mut done = vec!["left the unfinished key rotation (never in the inventory)".into()];
        if known_hosts.unpin(&[host_field(node.ip, node.port)])? {
            done.push("its known_hosts pin dropped".into());
        }
        results.push((node.to_string(), Layer::Changed(done)));
    }
    Ok(results)
}

/// The inventory's `leaving` nodes leave the swarm (through a manager of
/// the cluster's), the inventory, the unfinished rotation and rccr's
/// known_hosts pins; each node's result, onto `results` as soon as it is
/// known (an `Err` after the swarm changed leaves them there). No node at
/// one of `held` is logged in to.
fn leave_cluster(
    config: &Config,
    paths: &StatePaths,
    records: &[NodeRecord],
    leaving: &[NodeRecord],
    held: &[(IpAddr, String)],
    opts: &Options,
    results: &mut Vec<(String, Layer)>,
) -> Result<(), Error> {
    let staying: Vec<NodeRecord> = records
        .iter()
        .filter(|r| !leaving.contains(r))
        .cloned()
        .collect();
    let logins = engine::log_in(config, paths, &staying, Duration::from_secs(10), held)?;
    let members: Vec<Member> = logins.into_iter().flatten().collect();
    let mut record = SwarmRecord::load(&paths.swarm())?;
    let mut lead = confirmed_lead(&members, &record).map(|i| &members[i]);
    // The leaving nodes may be the swarm's only managers that answer (a
    // two-node cluster's one): one of them first makes the fittest worker
    // that stays a manager, which then leads.
    let mut handover: Option<(std::net::IpAddr, Result<Handover, String>)> = None;
    if lead.is_none() && !opts.forget {
        let logins = engine::log_in(config, paths, leaving, Duration::from_secs(10), held)?;
        let outgoing: Vec<Member> = logins.into_iter().flatten().collect();
        if let Some(outgoing) = confirmed_lead(&outgoing, &record).map(|i| &outgoing[i]) {
            let done = replace(outgoing, leaving, None, config, paths);
            handover = Some((outgoing.record.ip, done));
            // The worker promoted is a manager the record knows, before
            // the nodes that stay are weighed.
            record_managers(outgoing, &mut record, &paths.swarm())?;
            lead = confirmed_lead(&members, &record).map(|i| &members[i]);
        }
    }
    // What the handover did, for the node that handed over.
    let handed = |node: &NodeRecord| match &handover {
        Some((ip, done)) if *ip == node.ip => Some(done.clone()),
        _ => None,
    };
    // Without a manager that stays, nothing is asked of a node: it stays
    // in the swarm, holds the cluster key, and so stays in the inventory
    // (a later remove can still reach it). A node --forget names is gone:
    // it leaves the inventory, its entry the swarm's list later.
    let mut kept: Vec<&NodeRecord> = Vec::new();
    for node in leaving {
        let layer = match lead {
            Some(lead) => {
                let handover = handed(node);
                let first = match &handover {
                    Some(Ok(Handover::Promoted(promoted))) => Some(promoted),
                    _ => None,
                };
                let removed = remove_one(lead, node, records, leaving, config, opts, first);
                // Nothing was done to it (or only a demotion): it stays,
                // in the swarm and the inventory.
                if removed.is_err() {
                    kept.push(node);
                }
                row(removed, handover.as_ref())
            }
            None if opts.forget => Layer::Failed(format!(
                "{NO_MANAGER}: its entry stays in the swarm's list (rccr setup \
                 --remove-missing takes it out once one answers)"
            )),
            None => {
                kept.push(node);
                let why = not_handed(handed(node).as_ref());
                Layer::Failed(format!(
                    "{NO_MANAGER}{why}: nothing was asked of it, and it stays in the inventory \
                     (run rccr remove again once one answers; --forget if the node is gone)"
                ))
            }
        };
        results.push((node.hostname.to_string(), layer));
    }
    // Managers demoted, removed and promoted in their place.
    if let Some(lead) = lead {
        record_managers(lead, &mut record, &paths.swarm())?;
    }
    let gone: Vec<&NodeRecord> = leaving.iter().filter(|n| !kept.contains(n)).collect();
    let remaining: Vec<NodeRecord> = records
        .iter()
        .filter(|r| !gone.contains(r))
        .cloned()
        .collect();
    let key = Resolver::new(paths)
        .cluster(config.ssh.key_type)?
        .map_or_else(|| paths.ssh_identity(config.ssh.key_type), |f| f.path);
    // The node chosen to create the swarm, gone before its ID was
    // recorded, is chosen no more: a later node of its host key (a card
    // cloned from it) is not adopted as the swarm's creator. Saved before
    // the inventory: should this save fail, the node is still in the
    // inventory and the next remove clears it (clearing is idempotent);
    // the other order could leave the record choosing a node gone from it.
    if record.forget_bootstrap(&gone, records) {
        record.save(&paths.swarm())?;
    }
    inventory::save(paths, &remaining, &config.ssh.user, config.ssh.port, &key)?;
    // The nodes that left the inventory (even when not cleanly) leave an
    // unfinished key rotation too: one gone for good would hold it up for
    // ever, and a node it reached again would be given the cluster key.
    let ips: Vec<std::net::IpAddr> = gone.iter().map(|n| n.ip).collect();
    journal::forget(&paths.journal(), &ips)?;
    // A machine reinstalled under a removed name is a new host, not a
    // changed key: ssh must not remember the old one.
    let pins: Vec<&Fingerprint> = gone.iter().filter_map(|n| n.host_key.as_ref()).collect();
    KnownHosts::new(paths.known_hosts.clone()).forget(&pins)?;
    Ok(())
}

/// A leaving node's row: what its removal did (`Ok`: with the worker
/// `handover` promoted in its place first, as [`remove_one`] was told;
/// `Err`: nothing, and why), and what went wrong in the handover.
fn row(removed: Result<Layer, String>, handover: Option<&Result<Handover, String>>) -> Layer {
    let (mut layer, refused) = match removed {
        Ok(layer) => (layer, None),
        Err(why) => (Layer::Unchanged, Some(why)),
    };
    if let (Some(Ok(Handover::Promoted(promoted))), Some(_)) = (handover, &refused) {
        promoted.onto(&mut layer, " first");
    }
    for why in refused
        .into_iter()
        .chain(handover.and_then(handover_failure))
    {
        layer.fail_after(why);
    }
    layer
}

/// What went wrong in a leaving manager's handover ([`replace`]) when a
/// manager that stays led the removal all the same: a worker that left
/// the swarm and could not join again, a token shown and not rotated, or
/// labels not set again.
fn handover_failure(done: &Result<Handover, String>) -> Option<String> {
    match done {
        Err(e) => Some(format!("it could not hand its part to a worker: {e}")),
        Ok(Handover::Promoted(promoted)) => promoted.trouble(),
        Ok(_) => None,
    }
}

/// Why a leaving manager's handover left no manager that stays, as the
/// handover ([`replace`]) went.
fn not_handed(done: Option<&Result<Handover, String>>) -> String {
    match done {
        Some(Err(e)) => format!(" (it could not hand its part to a worker: {e})"),
        Some(Ok(Handover::Promoted(promoted))) => format!(
            " ({} was promoted but does not answer as a manager{})",
            promoted.names,
            promoted
                .trouble()
                .map_or_else(String::new, |why| format!("; {why}"))
        ),
        Some(Ok(Handover::Enough(managers))) => format!(
            " (no worker was promoted: the swarm lists {managers} manager(s) that stay, though \
             none of them answers)"
        ),
        Some(Ok(Handover::NoneFit)) => {
            " (it found no ready worker that may manage (pins, ARMv6) to hand its part to)".into()
        }
        None => String::new(),
    }
}

/// Why a node was not taken out of the swarm when no manager led.
const NO_MANAGER: &str = "no manager of the cluster's swarm among the nodes that stay answers";

/// Takes one node out of the swarm, through `lead`. `Err`: nothing was
/// done (the lead's list unread, the node's entry not told, its demotion
/// refused), or only its demotion (raft still counts it), one line.
fn remove_one(
    lead: &Member,
    node: &NodeRecord,
    records: &[NodeRecord],
    leaving: &[NodeRecord],
    config: &Config,
    opts: &Options,
    first: Option<&Promoted>,
) -> Result<Layer, String> {
    let paths = &opts.paths;
    // The worker its handover promoted first leads its row, and stays
    // there whatever fails later.
    let mut layer = Layer::Unchanged;
    if let Some(promoted) = first {
        promoted.onto(&mut layer, " first");
    }
    let view = nodes(lead)?;
    // A node that answers tells which entry is its own (its address may
    // be another node's by now); it is asked nothing else until it leaves.
    let itself = (!opts.forget).then(|| log_in_one(config, paths, node));
    let told = match &itself {
        Some(Ok(member)) => member.call(&Op::Info).ok().map(|v| Info::parse(&v).node_id),
        _ => None,
    };
    let lead_id = told
        .as_ref()
        .and_then(|_| lead.call(&Op::Info).ok())
        .map(|v| Info::parse(&v).node_id);
    let Some(entry) = entry_of(&view, node, records, told.as_deref(), lead_id.as_deref())?.cloned()
    else {
        layer.add("not in the swarm".into());
        return Ok(release(layer, Vec::new(), None, node, config, paths, opts));
    };
    // What went wrong on the way: the node fails, with what was done.
    let mut trouble: Vec<String> = Vec::new();
    // Why the node could not leave by itself: told once whether it still
    // holds the cluster key is known.
    let mut unleft: Option<String> = None;
    // A manager, or one a run before demoted that raft still counts.
    if in_raft(&entry) {
        if entry.manager {
            if let Err(e) = lead.call(&Op::NodeSet {
                node: &entry,
                manager: false,
                labels: &[],
            }) {
                return Err(format!("not demoted: {}", print::text(&e)));
            }
            layer.add("demoted".into());
        }
        // Demoting the raft leader starts an election: let the managers
        // settle before the swarm is asked anything else; and it leaves
        // only once raft let it go.
        let why = match wait_settled(lead) {
            None => "the swarm could not be read after its demotion",
            Some(view) if still_in_raft(&view, &entry.id) => "raft still counts it",
            Some(_) => "",
        };
        if !why.is_empty() {
            return Err(format!(
                "demoted, but {why} after {} s: not asked to leave, kept; run rccr remove again",
                DRAIN.as_secs()
            ));
        }
    }
    match on_entry(lead, &entry.id, |node| Op::NodeDrain { node }) {
        Ok(true) => {
            layer.add("drained".into());
            wait_drained(lead, &entry.id);
        }
        Ok(false) => {}
        // Reported; the node leaves all the same (its tasks move then).
        Err(e) => trouble.push(format!("not drained: {e}")),
    }
    if let Some(itself) = itself {
        match itself.and_then(|member| member.call(&Op::Leave { force: true })) {
            Ok(_) => layer.add("left the swarm".into()),
            Err(e) => unleft = Some(e),
        }
    }
    // A manager, or one demoted and still in raft, knows the manager
    // token (root on every node that stays): demoted and asked to leave,
    // it joins nothing more with it, whatever fails from here. Once its
    // place is handed over: a worker promoted then may join with it.
    let retire = |layer: &mut Layer, trouble: &mut Vec<String>| {
        if in_raft(&entry) {
            match retire_known_manager_token(lead) {
                Ok(()) => layer.add(ROTATED_KNOWN.into()),
                Err(e) => trouble.push(e),
            }
        }
    };
    match on_entry(lead, &entry.id, |node| Op::NodeRemove { node }) {
        Ok(true) => layer.add("removed from the swarm's list".into()),
        Ok(false) => {}
        Err(e) => {
            trouble.push(format!("not removed from the swarm's list: {e}"));
            retire(&mut layer, &mut trouble);
            return Ok(failed_after(layer, with_unleft(unleft, false, trouble)));
        }
    }
    if entry.manager {
        // Only now: a worker promoted while the leaving manager still led
        // may keep that manager as the one it rejoins raft through.
        match replace(lead, leaving, Some(node), config, paths) {
            Ok(Handover::Promoted(promoted)) => {
                promoted.onto(&mut layer, "");
                trouble.extend(promoted.trouble());
            }
            Ok(_) => {}
            Err(e) => {
                trouble.push(e);
                retire(&mut layer, &mut trouble);
                return Ok(failed_after(layer, with_unleft(unleft, false, trouble)));
            }
        }
    }
    retire(&mut layer, &mut trouble);
    Ok(release(layer, trouble, unleft, node, config, paths, opts))
}

/// A node that could not leave the swarm by itself (its error escaped):
/// taken out of the swarm's list all the same, it may still take itself
/// for a member, and holds the cluster key unless `released`, so it fails.
fn could_not_leave(e: &str, released: bool) -> String {
    let key = match released {
        true => "",
        false => " and hold the cluster key",
    };
    format!(
        "could not leave by itself ({}): it may still take itself for a swarm member{key} \
         (check the machine before it comes back)",
        print::text(e)
    )
}

/// `trouble` led by why the node could not leave by itself (`unleft`),
/// when it could not: the first thing that went wrong.
fn with_unleft(unleft: Option<String>, released: bool, trouble: Vec<String>) -> Vec<String> {
    unleft
        .map(|e| could_not_leave(&e, released))
        .into_iter()
        .chain(trouble)
        .collect()
}

/// `layer` as the node's result once `trouble` struck: failed, with what
/// was done all the same.
fn failed_after(mut layer: Layer, trouble: Vec<String>) -> Layer {
    if !trouble.is_empty() {
        layer.fail_after(trouble.join("; "));
    }
    layer
}

/// The swarm's entry with node ID `id`, as `lead` sees it now (its
/// version changes with each update); `None`: not listed. A list that
/// cannot be read is `Err`, never "not listed".
fn swarm_node(lead: &Member, id: &str) -> Result<Option<SwarmNode>, String> {
    Ok(nodes(lead)?.into_iter().find(|n| n.id == id))
}

/// `lead` makes `change` to the entry with node ID `id` as listed now:
/// `Ok(false)` when the swarm lists it no more; `Err` why not (escaped).
fn on_entry(lead: &Member, id: &str, change: fn(&SwarmNode) -> Op<'_>) -> Result<bool, String> {
    let Some(now) = swarm_node(lead, id)? else {
        return Ok(false);
    };
    lead.call(&change(&now))
        .map(|_| true)
        .map_err(|e| print::text(&e).into_owned())
}

/// `node`'s entry in the swarm's list. `told`: the node ID the node
/// itself tells, when it answered. Its inventory address may be another
/// node's by now (a dead node's DHCP lease), so: the entry with the ID it
/// tells, when the one rule finds it the node's own ([`claim::whose`],
/// `records` the inventory) and it is not `lead_id`'s (refused
/// otherwise: a node's lie lands on no other node); else the one entry
/// at its address that may be its (a `down` one, or a live one carrying
/// its name when it told no ID; of several, the one carrying its name);
/// else, with nothing at its address, the one entry carrying its name at
/// no address of another node of `records` (a node on a new lease). Its name is its engine's word: it only chooses
/// among entries, never makes a live one that told another ID its own,
/// nor another node's entry (a member that took its name: by address,
/// that entry is the other node's; two entries of its name are refused).
/// `Err`: which is its cannot be told, one line naming the address
/// (nothing is to be done).
fn entry_of<'v>(
    view: &'v [SwarmNode],
    node: &NodeRecord,
    records: &[NodeRecord],
    told: Option<&str>,
    lead_id: Option<&str>,
) -> Result<Option<&'v SwarmNode>, String> {
    let told = told.filter(|id| !id.is_empty());
    if let Some(entry) = told.and_then(|id| view.iter().find(|n| n.id == id)) {
        // Its word: never the lead's entry, nor one the one rule finds is
        // another node's, in the inventory or not.
        let inventory: Vec<claim::Node> = records.iter().map(claim::Node::of).collect();
        let listed = claim::Entry {
            name: &entry.hostname,
            addr: entry.addr,
        };
        let whose = claim::whose(claim::Node::of(node), Some(listed), &inventory, &[]);
        let other = match whose.other() {
            None if lead_id != Some(entry.id.as_str()) => return Ok(Some(entry)),
            None => print::name(&entry.hostname),
            Some(other) => other,
        };
        return Err(format!(
            "{} tells the swarm node ID of {other}: nothing was done to it; check the machine at {ip} \
             (rccr remove --forget {ip} takes it out without asking it)",
            print::name(&node.hostname),
            ip = node.ip,
        ));
    }
    let named = |n: &&SwarmNode| n.hostname == node.hostname;
    let at: Vec<&SwarmNode> = view.iter().filter(|n| n.addr == Some(node.ip)).collect();
    // A node that told an ID the swarm does not list is none of the live
    // entries. Its own stale entry beside a live one is not told apart.
    let mut candidates: Vec<&SwarmNode> = at
        .iter()
        .copied()
        .filter(|n| n.status == "down" || (told.is_none() && named(n)))
        .collect();
    if candidates.len() > 1 {
        candidates.retain(named);
    }
    match candidates[..] {
        [entry] => Ok(Some(entry)),
        // Nothing at its address: a node that took a new lease, by its
        // name, where no other node of the inventory is.
        [] if at.is_empty() => {
            let others = |n: &&SwarmNode| {
                records
                    .iter()
                    .any(|r| r.ip != node.ip && Some(r.ip) == n.addr)
            };
            let named: Vec<&SwarmNode> = view
                .iter()
                .filter(|n| n.hostname == node.hostname && !others(n))
                .filter(|n| told.is_none() || n.status == "down")
                .collect();
            match named[..] {
                [] => Ok(None),
                [entry] => Ok(Some(entry)),
                _ => Err(format!(
                    "the swarm lists {} nodes named {} at other addresses than {} ({}): which is \
                     its cannot be told, nothing was done; run rccr setup first (it finds each \
                     node at its address), then rccr remove again",
                    named.len(),
                    print::name(&node.hostname),
                    node.ip,
                    named
                        .iter()
                        .map(|n| n.addr.map_or("-".into(), |a| a.to_string()))
                        .collect::<Vec<_>>()
                        .join(", "),
                )),
            }
        }
        _ => Err(format!(
            "the swarm lists {} at {} ({}): which is {}'s cannot be told, nothing was done; \
             run rccr setup first (it finds each node at its address), then rccr remove again",
            match at.len() {
                1 => "another node".to_string(),
                n => format!("{n} nodes"),
            },
            node.ip,
            at.iter()
                .map(|n| format!("{} {}", print::name(&n.hostname), print::text(&n.status)))
                .collect::<Vec<_>>()
                .join(", "),
            print::name(&node.hostname),
        )),
    }
}

/// The inventory node a swarm entry is: the one at the address the
/// manager sees it at. Its hostname is its engine's word: by name, a node
/// going by another's would be taken for that one.
fn record_of<'r>(entry: &SwarmNode, records: &'r [NodeRecord]) -> Option<&'r NodeRecord> {
    let addr = entry.addr?;
    records.iter().find(|r| r.ip == addr)
}

/// The swarm's entries that are not the `leaving` nodes', by the one rule
/// that finds a node's entry ([`entry_of`]): a leaving manager whose
/// address changed is still found by its name, and never counted as
/// staying. `removed`: a leaving node whose entry this run took out of
/// the swarm's list; it has no entry left, so it claims none (a live node
/// at its old address stays).
fn staying<'v>(
    view: &'v [SwarmNode],
    records: &[NodeRecord],
    leaving: &[NodeRecord],
    removed: Option<&NodeRecord>,
) -> Vec<&'v SwarmNode> {
    // When which entry is a leaving node's cannot be told, none at its
    // address counts as staying: a leaving node is never promoted.
    let leaving: Vec<&str> = leaving
        .iter()
        .filter(|l| Some(*l) != removed)
        .flat_map(|l| match entry_of(view, l, records, None, None) {
            Ok(entry) => entry.into_iter().collect::<Vec<&SwarmNode>>(),
            Err(_) => view.iter().filter(|n| n.addr == Some(l.ip)).collect(),
        })
        .map(|entry| entry.id.as_str())
        .collect();
    view.iter()
        .filter(|n| !leaving.contains(&n.id.as_str()))
        .collect()
}

/// Makes ready workers that stay managers, when the swarm has fewer
/// managers than its size (or the config) wants: those [`promotions`]
/// picks (the config's `nodes[].manager` pins honoured, the fittest first,
/// as many as keep the managers odd). Not by promoting it
/// in place: a promoted worker rejoins raft through the managers it knew
/// when it joined, which may be the one that just left (the engine then
/// stops with "can't initialize raft node"). It leaves, and joins again as
/// a manager through the leading manager. Workers are the inventory's
/// nodes at the addresses the swarm sees them at, and the one chosen must
/// tell the node ID of its entry: a node renamed in the swarm is never
/// taken for another. `removed`: the leaving node whose entry was just
/// taken out of the swarm's list ([`staying`]).
fn replace(
    lead: &Member,
    leaving: &[NodeRecord],
    removed: Option<&NodeRecord>,
    config: &Config,
    paths: &StatePaths,
) -> Result<Handover, String> {
    wait_settled(lead);
    let view = nodes(lead)?;
    let records = inventory::load(&paths.nodes()).map_err(|e| e.to_string())?;
    let staying = staying(&view, &records, leaving, removed);
    let managers = staying.iter().filter(|n| n.manager).count();
    let wanted = super::form::manager_count(staying.len(), config.swarm.managers.map(usize::from));
    if managers >= wanted {
        return Ok(Handover::Enough(managers));
    }
    // A copy of a node held back may answer at its address: never logged
    // in to, so never promoted.
    let held = inventory::held_back(paths, &records).map_err(|e| e.to_string())?;
    let workers: Vec<(&SwarmNode, &NodeRecord)> = staying
        .into_iter()
        .filter(|n| !n.manager && n.status == "ready")
        .filter_map(|n| Some((n, record_of(n, &records)?)))
        // A live node at a leaving node's old address counts as staying,
        // but is not logged in to by that node's record.
        .filter(|(_, r)| !held.contains(&r.ip) && !leaving.contains(r))
        .collect();
    let fit: Vec<Fitness> = workers.iter().map(|(n, _)| Fitness::of_labels(n)).collect();
    let pins: Vec<Option<bool>> = workers
        .iter()
        .map(|(_, r)| config.pin(r.mac).and_then(|p| p.manager))
        .collect();
    let chosen = promotions(managers, wanted, &fit, &pins);
    if chosen.is_empty() {
        return Ok(Handover::NoneFit);
    }
    let tokens = lead
        .call(&Op::Tokens)
        .ok()
        .as_ref()
        .and_then(JoinTokens::parse)
        .ok_or("the manager gave no usable join tokens")?;
    let (mut names, mut unlabelled) = (Vec::new(), Vec::new());
    let (mut shown, mut failed) = (false, None);
    for w in chosen {
        let (entry, record) = workers[w];
        match promote(lead, entry, record, &tokens, config, paths, &mut shown) {
            Ok((name, labels_lost)) => {
                names.push(name);
                unlabelled.extend(labels_lost);
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    // Once, after every join: a token rotated in between would fail the
    // next worker's join after it left the swarm.
    let token = shown.then(|| retire_worker_token(lead));
    match (failed, token) {
        (Some(e), Some(Err(why))) => Err(format!("{e}; {why}")),
        (Some(e), _) => Err(e),
        (None, token) => Ok(Handover::Promoted(Promoted {
            names: names.join(", "),
            token,
            unlabelled,
        })),
    }
}

/// What a leaving manager's handover ([`replace`]) did: promoted workers
/// in its place, or none, because the swarm lists enough managers that
/// stay (how many), or no ready worker may manage.
#[derive(Clone)]
enum Handover {
    Promoted(Promoted),
    Enough(usize),
    NoneFit,
}

/// The workers [`replace`] promoted, by name, and what became of the
/// worker token that a docker CLI join showed, when one did
/// ([`retire_worker_token`]).
#[derive(Clone)]
struct Promoted {
    names: String,
    token: Option<Result<(), String>>,
    /// Why a promoted worker's labels were not set again, per worker.
    unlabelled: Vec<String>,
}

impl Promoted {
    /// Adds the promotion (`when`: after "promoted in its place") and a
    /// rotated token to `layer`.
    fn onto(&self, layer: &mut Layer, when: &str) {
        layer.add(format!("{} promoted in its place{when}", self.names));
        if let Some(Ok(())) = self.token {
            layer.add(ROTATED.into());
        }
    }

    /// What went wrong with the promotion, for the caller to fail the
    /// node's result with: the token a join showed not rotated, labels not
    /// set again.
    fn trouble(&self) -> Option<String> {
        let unrotated = match &self.token {
            Some(Err(why)) => Some(why.as_str()),
            _ => None,
        };
        let all: Vec<&str> = unrotated
            .into_iter()
            .chain(self.unlabelled.iter().map(String::as_str))
            .collect();
        (!all.is_empty()).then(|| all.join("; "))
    }
}

/// `record`, the worker whose swarm entry is `entry`, leaves and joins
/// again as a manager through `lead` (with its `tokens`); its name, and
/// why its labels were not set again when they were not (a manager token
/// join, whose promotion stands without them). A join through its docker
/// CLI shows the worker token: `shown` is set.
fn promote(
    lead: &Member,
    entry: &SwarmNode,
    record: &NodeRecord,
    tokens: &JoinTokens,
    config: &Config,
    paths: &StatePaths,
    shown: &mut bool,
) -> Result<(String, Option<String>), String> {
    let name = print::name(&record.hostname).into_owned();
    let member = log_in_one(config, paths, record)?;
    let told = member.call(&Op::Info).map(|v| Info::parse(&v).node_id);
    if told.as_deref() != Ok(entry.id.as_str()) {
        return Err(format!(
            "{name} was not promoted: the swarm lists node {} at its address, and it tells {}",
            entry.id,
            match &told {
                Ok(id) if !id.is_empty() => format!("node ID {}", print::text(id)),
                Ok(_) => "no node ID".into(),
                Err(e) => format!("nothing ({})", print::text(e)),
            }
        ));
    }
    // Through the docker CLI (no rccr there), whose command line shows
    // the token, it joins as a worker and the lead promotes it.
    let token = JoinAs::pick(tokens, true, member.via());
    member.call(&Op::Leave { force: true }).map_err(|e| {
        format!(
            "{name} did not become a manager: it could not leave to join again as one ({})",
            print::text(&e)
        )
    })?;
    // It has left: from here on, a failure leaves it out of the swarm.
    let rejoin = || -> Result<(), String> {
        lead.call(&Op::NodeRemove { node: entry })?;
        let (addr, manager) = (member.addr(), manager_addr(lead.record.ip));
        member.call(&Op::Join {
            token,
            advertise: &addr,
            manager: &manager,
        })?;
        Ok(())
    };
    let rejoined = rejoin();
    if member.via() == Via::Cli {
        *shown = true;
    }
    rejoined.map_err(|e| {
        format!(
            "{name} left the swarm to join again as a manager and could not join again ({}): \
             run rccr setup to join it",
            print::text(&e)
        )
    })?;
    wait_settled(lead);
    // Its labels, which left with its old entry (and its promotion, when
    // it joined as a worker). Its new entry is the one with the node ID it
    // tells now: its address may be another entry's too.
    let promoted = member
        .call(&Op::Info)
        .and_then(|v| swarm_node(lead, &Info::parse(&v).node_id))
        .and_then(|new| new.ok_or_else(|| "the swarm does not list it after its join".into()))
        .and_then(|new| {
            let labels: Vec<(&'static str, String)> =
                ["rccr.arch", "rccr.role", "rccr.ram_mb", "rccr.storage"]
                    .into_iter()
                    .map(|k| (k, entry.label(k).to_string()))
                    .collect();
            lead.call(&Op::NodeSet {
                node: &new,
                manager: true,
                labels: &labels,
            })
        });
    match promoted {
        Err(e) if !token.is_manager() => Err(format!(
            "{name} rejoined as a worker and was not promoted: {}",
            print::text(&e)
        )),
        // It joined as a manager: that stands, without its labels (which
        // place the cluster's services) until setup sets them again.
        Err(e) => {
            let lost = format!(
                "{name}'s labels were not set again after its promotion ({}): run rccr setup \
                 to set them",
                print::text(&e)
            );
            Ok((name, Some(lost)))
        }
        Ok(_) => {
            if !token.is_manager() {
                wait_settled(lead);
                wait_managing(&member);
            }
            Ok((name, None))
        }
    }
}

/// Waits until `member`'s own engine says it manages (or [`DRAIN`]). A
/// worker promoted through the lead is `Reachable` in the lead's list
/// seconds before its own engine takes its manager part: meanwhile it
/// says it is no manager, and the removal it was promoted for found no
/// manager among the nodes that stay (lab: a two-node cluster through the
/// docker CLI).
fn wait_managing(member: &Member) {
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline {
        let managing = member
            .call(&Op::Info)
            .is_ok_and(|v| Info::parse(&v).manager);
        if managing {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until the swarm runs none of the node's tasks (or [`DRAIN`]).
fn wait_drained(lead: &Member, node_id: &str) {
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline {
        let Ok(tasks) = lead.call(&Op::RunningTasks) else {
            return;
        };
        let here = tasks.as_array().iter().any(|t| {
            t.str_at(&["NodeID"]) == node_id && t.str_at(&["Status", "State"]) == "running"
        });
        if !here {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One node as a swarm member, logged in with the cluster key.
fn log_in_one<'n>(
    config: &Config,
    paths: &StatePaths,
    node: &'n NodeRecord,
) -> Result<Member<'n>, String> {
    let logins = engine::log_in(
        config,
        paths,
        std::slice::from_ref(node),
        Duration::from_secs(10),
        &[],
    )
    .map_err(|e| e.to_string())?;
    logins.into_iter().next().ok_or("no login")?
}

/// `--release`: the cluster key leaves the node's authorized_keys. The
/// node's result: `layer`, failed when `trouble`, `unleft` (why it could
/// not leave by itself) or the release struck.
fn release(
    layer: Layer,
    trouble: Vec<String>,
    unleft: Option<String>,
    node: &NodeRecord,
    config: &Config,
    paths: &StatePaths,
    opts: &Options,
) -> Layer {
    let released = (opts.release && !opts.forget).then(|| release_key(node, config, paths));
    released_or_not(layer, trouble, unleft, released)
}

/// The node's result once the release (`None`: none was asked for) went
/// as `released` did: a node it took the key off holds it no more, even
/// one that could not leave by itself.
fn released_or_not(
    mut layer: Layer,
    mut trouble: Vec<String>,
    unleft: Option<String>,
    released: Option<Result<(), String>>,
) -> Layer {
    let took_the_key = matches!(released, Some(Ok(())));
    match released {
        Some(Ok(())) => layer.add("released: the cluster key no longer logs in".into()),
        Some(Err(e)) => trouble.push(print::text(&e).into_owned()),
        None => {}
    }
    let trouble = with_unleft(unleft, took_the_key, trouble);
    failed_after(layer, trouble)
}

/// Takes the cluster key off `node`; `Err` is the whole line to tell.
fn release_key(node: &NodeRecord, config: &Config, paths: &StatePaths) -> Result<(), String> {
    let not = |e: String| format!("not released: {e}");
    let key = Resolver::new(paths)
        .cluster(config.ssh.key_type)
        .map_err(|e| not(e.to_string()))?
        .ok_or_else(|| not("no cluster key on this machine".into()))?;
    let key = crate::keys::load_key(&key.path).map_err(|e| not(e.to_string()))?;
    let conn = super::member::login(
        node,
        config.ssh.port,
        &config.ssh.user,
        Some(&key.path),
        Duration::from_secs(10),
    )
    .map_err(|e| not(e.to_string()))?;
    use crate::keys::control::engine as keys;
    keys::release(&conn, keys::NodeSide::from_env(), &key).map_err(not)?;
    drop(conn);
    // Refused now, asked on a connection of its own: sshd may grant the
    // key through a file the release did not change (authorized_keys2).
    let fresh = super::member::connect(node, config.ssh.port, Duration::from_secs(10));
    let check = release_check(&key.path, config.ssh.port, &config.ssh.user, node.ip);
    keys::released_key_refused(
        fresh.map_err(|e| e.to_string()),
        &config.ssh.user,
        &key,
        &check,
    )
}

/// The `ssh` command that tells whether the cluster key at `key` still
/// logs in to `user@ip`: no password prompt to misread, the config's port
/// (`ssh.user` is letters, digits, `_.-`: no quotes needed).
fn release_check(key: &std::path::Path, port: u16, user: &str, ip: IpAddr) -> String {
    let key = crate::ssh::shell_quote(&key.to_string_lossy());
    format!("ssh -i {key} -p {port} -o IdentitiesOnly=yes -o BatchMode=yes {user}@{ip} true")
}

fn render(results: &[(String, Layer)], as_json: bool) -> String {
    if as_json {
        let objects: Vec<print::Object> = results
            .iter()
            .map(|(name, layer)| {
                print::Object::new()
                    .str("node", name)
                    .str("result", layer.word())
                    .str("detail", &layer.text())
            })
            .collect();
        return print::array(&objects);
    }
    let mut table = print::Table::new(&["NODE", "RESULT"]);
    for (name, layer) in results {
        table.row([print::name(name).into_owned(), layer.text()]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::super::settle::tests::entry;
    use super::*;

    /// The check a release could not make is one the user can paste: the
    /// config's port, no password prompt, a state directory with a space.
    #[test]
    fn the_check_of_an_unconfirmed_release_is_a_command_to_paste() {
        let key = std::path::Path::new("/home/a b/.rccr/cluster_key");
        let ip = IpAddr::from([10, 0, 0, 5]);
        assert_eq!(
            release_check(key, 2222, "root", ip),
            "ssh -i '/home/a b/.rccr/cluster_key' -p 2222 -o IdentitiesOnly=yes \
             -o BatchMode=yes root@10.0.0.5 true"
        );
    }

    fn record(ip: &str, name: &str) -> NodeRecord {
        NodeRecord {
            ip: ip.parse().unwrap(),
            mac: None,
            hostname: name.into(),
            role: Role::Target,
            arch: None,
            host_key: None,
            moved_from: None,
        }
    }

    #[test]
    fn a_swarm_entry_is_the_inventory_node_at_its_address_whatever_its_name() {
        let records = [record("10.0.0.2", "t2"), record("10.0.0.4", "t4")];
        // t4 goes by t2's name: it is t4 all the same.
        let renamed = entry(Some("10.0.0.4"), "t2");
        assert_eq!(record_of(&renamed, &records), Some(&records[1]));
        // An entry that tells no address is no one to promote.
        assert_eq!(record_of(&entry(None, "t2"), &records), None);
        assert_eq!(record_of(&entry(Some("10.0.0.9"), "t2"), &records), None);
    }

    #[test]
    fn a_promotion_through_a_docker_cli_tells_what_became_of_the_token() {
        let mut layer = Layer::Unchanged;
        let promoted = Promoted {
            names: "t3".into(),
            token: Some(Ok(())),
            unlabelled: Vec::new(),
        };
        promoted.onto(&mut layer, " first");
        assert_eq!(promoted.trouble(), None);
        assert_eq!(
            layer.text(),
            "changed: t3 promoted in its place first, \
             rotated the worker join token a docker CLI join showed"
        );
        let mut layer = Layer::Unchanged;
        let unrotated = Promoted {
            token: Some(Err("not rotated (x)".into())),
            ..promoted.clone()
        };
        unrotated.onto(&mut layer, "");
        assert_eq!(unrotated.trouble().as_deref(), Some("not rotated (x)"));
        assert_eq!(layer.text(), "changed: t3 promoted in its place");
        let mut layer = Layer::Unchanged;
        Promoted {
            token: None,
            ..promoted
        }
        .onto(&mut layer, "");
        assert_eq!(layer.text(), "changed: t3 promoted in its place");
    }

    /// A handover that went wrong fails the leaving node's result even
    /// when a manager that stays led its removal: before, a worker that
    /// left the swarm and could not join again went unsaid (exit 0).
    #[test]
    fn a_handover_gone_wrong_is_said_though_a_manager_led() {
        let failed: Result<Handover, String> = Err("t3 could not join again".into());
        assert_eq!(
            handover_failure(&failed).as_deref(),
            Some("it could not hand its part to a worker: t3 could not join again")
        );
        let unrotated = Ok(Handover::Promoted(Promoted {
            names: "t3".into(),
            token: Some(Err("not rotated (x)".into())),
            unlabelled: Vec::new(),
        }));
        assert_eq!(
            handover_failure(&unrotated).as_deref(),
            Some("not rotated (x)")
        );
        let clean = t3_promoted();
        assert_eq!(handover_failure(&clean), None);
        assert_eq!(handover_failure(&Ok(Handover::NoneFit)), None);
        assert_eq!(handover_failure(&Ok(Handover::Enough(2))), None);
    }

    /// A worker promoted through a manager token whose labels could not
    /// be set again was taken for a clean promotion: its labels, which
    /// place the cluster's services, were lost unsaid (remove-ops 6).
    #[test]
    fn a_promotion_whose_labels_were_lost_fails_the_row() {
        let lost = Ok(Handover::Promoted(Promoted {
            names: "t3, t4".into(),
            token: Some(Err("not rotated (x)".into())),
            unlabelled: vec!["t3's labels were not set again (y)".into()],
        }));
        assert_eq!(
            handover_failure(&lost).as_deref(),
            Some("not rotated (x); t3's labels were not set again (y)")
        );
        // remove_one's row starts with the promotion, and keeps it through
        // its own failures.
        let Ok(Handover::Promoted(promoted)) = &lost else {
            unreachable!()
        };
        let mut done = Layer::Unchanged;
        promoted.onto(&mut done, " first");
        done.add("left the swarm".into());
        done.fail_after("not drained: z".into());
        assert_eq!(
            row(Ok(done), Some(&lost)).text(),
            "FAILED: not drained: z; done: t3, t4 promoted in its place first, left the swarm; \
             not rotated (x); t3's labels were not set again (y)"
        );
    }

    /// t3 promoted in a leaving manager's place, the worker token so.
    fn t3_promoted() -> Result<Handover, String> {
        Ok(Handover::Promoted(Promoted {
            names: "t3".into(),
            token: Some(Ok(())),
            unlabelled: Vec::new(),
        }))
    }

    /// A removal that did nothing to the node hid the worker promoted in
    /// its place first: the raft had a manager more, unsaid (final-27 1).
    #[test]
    fn a_node_kept_says_the_worker_promoted_in_its_place() {
        let promoted = t3_promoted();
        assert_eq!(
            row(Err("not demoted: x".into()), Some(&promoted)).text(),
            format!("FAILED: not demoted: x; done: t3 promoted in its place first, {ROTATED}")
        );
        assert_eq!(
            row(Err("not demoted: x".into()), None).text(),
            "FAILED: not demoted: x"
        );
        let failed = Err("t3 could not join again".into());
        assert_eq!(
            row(Ok(Layer::Changed(vec!["left the swarm".into()])), Some(&failed)).text(),
            "FAILED: it could not hand its part to a worker: t3 could not join again; done: left the swarm"
        );
    }

    #[test]
    fn a_worker_promoted_that_does_not_answer_as_a_manager_is_named() {
        let promoted = t3_promoted();
        assert_eq!(
            not_handed(Some(&promoted)),
            " (t3 was promoted but does not answer as a manager)"
        );
        let unrotated = Ok(Handover::Promoted(Promoted {
            names: "t3".into(),
            token: Some(Err("not rotated (x)".into())),
            unlabelled: Vec::new(),
        }));
        assert_eq!(
            not_handed(Some(&unrotated)),
            " (t3 was promoted but does not answer as a manager; not rotated (x))"
        );
        assert_eq!(
            not_handed(Some(&Ok(Handover::NoneFit))),
            " (it found no ready worker that may manage (pins, ARMv6) to hand its part to)"
        );
        // Managers listed that stay, none answering, needed no promotion:
        // "no ready worker" sent the operator after workers (remove-ops 7).
        assert_eq!(
            not_handed(Some(&Ok(Handover::Enough(2)))),
            " (no worker was promoted: the swarm lists 2 manager(s) that stay, though none of \
             them answers)"
        );
        assert_eq!(not_handed(None), "");
    }

    /// `rccr remove` left the removed node's address and name in rccr's
    /// block of ~/.ssh/config until the next setup: another host at that
    /// address or name got the cluster key. Gone now, with an address only
    /// the rotation listed; a node that stays in the inventory leaves the
    /// block as it is; a file rccr may not rewrite is one line of warning.
    #[test]
    fn a_removed_nodes_address_and_name_leave_the_ssh_config() {
        use std::os::unix::fs::PermissionsExt;
        let home = crate::state::scratch::home("remove-unname");
        let paths = &home.paths;
        let config = paths.ssh_config();
        let block = |hosts: &str| {
            format!(
                "Host laptop\n  User me\n\
                 # BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost\n\
                 Host {hosts}\n    IdentityFile \"/k\"\n# END rccr\n"
            )
        };
        let write = |text: &str, mode| {
            std::fs::write(&config, text).unwrap();
            std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        let read = || std::fs::read_to_string(&config).unwrap();
        let save = |nodes: &[NodeRecord]| {
            inventory::save(paths, nodes, "root", 22, std::path::Path::new("/k")).unwrap()
        };
        let before = [
            record("10.0.0.5", "web1"),
            record("10.0.0.6", "web2"),
            record("10.0.0.7", "web3"),
        ];
        // Nobody left (no manager answered): not a byte changes, not even
        // a name that is not web1's.
        let stale = block("10.0.0.5 old 10.0.0.6 web2 10.0.0.7 web3 10.0.0.9");
        write(&stale, 0o600);
        save(&before);
        assert_eq!(unname(paths, &before, &[]), None);
        assert_eq!(read(), stale);
        write(
            &block("10.0.0.5 web1 10.0.0.6 web2 10.0.0.7 web3 10.0.0.9"),
            0o600,
        );
        save(&[before[0].clone(), before[2].clone()]);
        let journal_only = [NodeAddr {
            ip: "10.0.0.9".parse().unwrap(),
            port: 22,
        }];
        assert_eq!(unname(paths, &before, &journal_only), None);
        assert_eq!(read(), block("10.0.0.5 web1 10.0.0.7 web3"));
        // A file others may write is not rewritten: the remove is done,
        // and says so in one line.
        write(&block("10.0.0.5 web1 10.0.0.7 web3"), 0o666);
        let before = [before[0].clone(), before[2].clone()];
        save(&before[..1]);
        let warning = unname(paths, &before, &[]).expect("no warning");
        assert_eq!(warning.lines().count(), 1, "{warning}");
        assert!(warning.contains(&config.display().to_string()), "{warning}");
        assert!(
            warning.ends_with(
                ": rccr's block there was not rewritten, and may still name the cluster key \
                 for 10.0.0.7 (removed) by address and name: take them out of it by hand"
            ),
            "{warning}"
        );
        assert_eq!(read(), block("10.0.0.5 web1 10.0.0.7 web3"));
    }

    fn ids(entries: &[&SwarmNode]) -> Vec<String> {
        entries.iter().map(|e| e.id.clone()).collect()
    }

    fn down(mut e: SwarmNode) -> SwarmNode {
        e.status = "down".into();
        e
    }

    #[test]
    fn a_dead_nodes_address_taken_by_another_node_finds_the_dead_nodes_entry() {
        // t2 died; t4 took its lease. The down entry at .2 is t2's: t4,
        // live at the same address, stays.
        let t2 = record("10.0.0.2", "t2");
        let view = [
            down(entry(Some("10.0.0.2"), "t2")),
            entry(Some("10.0.0.2"), "t4"),
        ];
        assert_eq!(
            ids(&staying(&view, &[], std::slice::from_ref(&t2), None)),
            [view[1].id.as_str()]
        );
    }

    #[test]
    fn a_nodes_entry_is_never_another_live_node_at_its_old_address() {
        let t2 = record("10.0.0.2", "t2");
        let mut dead = down(entry(Some("10.0.0.2"), "t2"));
        dead.id = "dead".into();
        let t4 = entry(Some("10.0.0.2"), "t4");
        let view = [t4.clone(), dead.clone()];
        // --forget, or no answer: the down entry, not t4's.
        assert_eq!(entry_of(&view, &t2, &[], None, None), Ok(Some(&dead)));
        // t2's entry gone: t4, live at .2 by another name, may be t2
        // renamed or another node. Refused, naming the address and setup.
        let refused = entry_of(std::slice::from_ref(&t4), &t2, &[], None, None).unwrap_err();
        assert!(refused.contains("at 10.0.0.2 (t4 ready)"), "{refused}");
        assert!(refused.contains("run rccr setup first"), "{refused}");
        // A live entry carrying its name at its address is its own.
        let live = entry(Some("10.0.0.2"), "t2");
        assert_eq!(
            entry_of(&[t4.clone(), live.clone()], &t2, &[], None, None),
            Ok(Some(&live))
        );
        // Two down entries at the address: the one carrying its name; two
        // live ones carrying it cannot be told apart.
        let other = down(entry(Some("10.0.0.2"), "t9"));
        assert_eq!(
            entry_of(&[other.clone(), dead.clone()], &t2, &[], None, None),
            Ok(Some(&dead))
        );
        let mut twin = live.clone();
        twin.id = "twin".into();
        assert!(entry_of(&[live.clone(), twin], &t2, &[], None, None).is_err());
        // Its old entry down beside a live one carrying its name: which of
        // them is the node cannot be told without asking it.
        assert!(entry_of(&[dead.clone(), live.clone()], &t2, &[], None, None).is_err());
        assert_eq!(
            entry_of(
                &[dead.clone(), live.clone()],
                &t2,
                &[],
                Some(live.id.as_str()),
                None
            ),
            Ok(Some(&live))
        );
        // A node that answers is the entry with the ID it tells, wherever.
        assert_eq!(
            entry_of(&view, &t2, &[], Some(t4.id.as_str()), None),
            Ok(Some(&t4))
        );
        // It tells an ID the swarm does not list: a live entry at its
        // address is another node's; its own down one is still found.
        assert!(entry_of(
            std::slice::from_ref(&live),
            &t2,
            &[],
            Some("elsewhere"),
            None
        )
        .is_err());
        assert_eq!(
            entry_of(&view, &t2, &[], Some("elsewhere"), None),
            Ok(Some(&dead))
        );
        // Nothing at its address: by its name (a node on a new lease), a
        // live one only when it told no ID.
        let moved = entry(Some("10.0.0.7"), "t2");
        let view = [moved.clone()];
        assert_eq!(entry_of(&view, &t2, &[], None, None), Ok(Some(&moved)));
        assert_eq!(entry_of(&view, &t2, &[], Some("elsewhere"), None), Ok(None));
        assert_eq!(entry_of(&[], &t2, &[], None, None), Ok(None));
    }

    /// Review F7: t2 is unreachable and on a new lease; a member (t5) that
    /// named its engine t2 is not taken for it, by the address the
    /// inventory has for t5; two entries of its name are refused.
    #[test]
    fn a_member_going_by_a_moved_nodes_name_is_not_its_entry() {
        let t2 = record("10.0.0.2", "t2");
        let records = [t2.clone(), record("10.0.0.5", "t5")];
        let impostor = entry(Some("10.0.0.5"), "t2");
        let moved = down(entry(Some("10.0.0.7"), "t2"));
        assert_eq!(
            entry_of(
                &[impostor.clone(), moved.clone()],
                &t2,
                &records,
                None,
                None
            ),
            Ok(Some(&moved))
        );
        assert_eq!(
            entry_of(std::slice::from_ref(&impostor), &t2, &records, None, None),
            Ok(None)
        );
        // Two entries of its name where no node of the inventory is: which
        // is its cannot be told.
        let mut twin = moved.clone();
        twin.id = "twin".into();
        twin.addr = "10.0.0.8".parse().ok();
        let refused = entry_of(&[moved, twin], &t2, &records, None, None).unwrap_err();
        assert!(
            refused.contains("the swarm lists 2 nodes named t2 at other addresses than 10.0.0.2 (10.0.0.7, 10.0.0.8)"),
            "{refused}"
        );
    }

    /// Review remove-ops F1: a leaving node that tells another node's
    /// swarm node ID (t3 telling t2's) had t2 demoted, drained and
    /// force-removed (exit 0). Refused, nothing done: by the address of
    /// another inventory node, its name away from the node's address, or
    /// the ID of the manager leading the removal. So is the ID of a swarm
    /// node outside the inventory (one joined by hand, a departed node
    /// kept), under a name of no inventory node at another address: it was
    /// taken as the node's, by the one rule setup refuses that claim by.
    #[test]
    fn a_node_telling_another_nodes_swarm_id_is_refused() {
        let t3 = record("10.0.0.3", "t3");
        let records = [record("10.0.0.2", "t2"), t3.clone()];
        let t2 = entry(Some("10.0.0.2"), "t2");
        let view = [t2.clone(), down(entry(Some("10.0.0.3"), "t3"))];
        let refused = entry_of(&view, &t3, &records, Some(t2.id.as_str()), None).unwrap_err();
        assert_eq!(refused.lines().count(), 1, "{refused}");
        assert!(
            refused.starts_with("t3 tells the swarm node ID of t2: nothing was done to it"),
            "{refused}"
        );
        let renamed = entry(Some("10.0.0.9"), "t2");
        assert!(entry_of(
            std::slice::from_ref(&renamed),
            &t3,
            &records,
            Some(renamed.id.as_str()),
            None
        )
        .is_err());
        // The lead's own ID, wherever the swarm sees the lead.
        let lead = entry(Some("10.0.0.9"), "c");
        let view = [lead.clone()];
        let lead_id = Some(lead.id.as_str());
        assert!(entry_of(&view, &t3, &records, lead_id, lead_id).is_err());
        // A stranger's, its name escaped: an entry's name is its engine's word.
        let nas = entry(Some("10.0.0.9"), "nas\u{1b}]0;x\u{7}");
        let view = [nas.clone(), down(entry(Some("10.0.0.3"), "t3"))];
        let refused = entry_of(&view, &t3, &records, Some(nas.id.as_str()), None).unwrap_err();
        assert!(
            refused.starts_with("t3 tells the swarm node ID of nas??0?x?: nothing was done to it"),
            "{refused}"
        );
        // Its own entry on a new lease is still its own.
        let moved = entry(Some("10.0.0.7"), "t3");
        assert_eq!(
            entry_of(
                std::slice::from_ref(&moved),
                &t3,
                &records,
                Some(moved.id.as_str()),
                None
            ),
            Ok(Some(&moved))
        );
    }

    /// `rccr remove --forget --yes` with the state at `paths`.
    fn forgetting(paths: &StatePaths) -> Options {
        Options {
            config: None,
            paths: StatePaths {
                ssh_dir: paths.ssh_dir.clone(),
                state_dir: paths.state_dir.clone(),
                known_hosts: paths.known_hosts.clone(),
            },
            nodes: Vec::new(),
            release: false,
            forget: true,
            yes: true,
            json: false,
        }
    }

    /// Review remove-ops F2: the lead's list could not be read, nothing
    /// was done, and the node left the inventory all the same (Ok).
    #[test]
    fn a_node_whose_swarm_cannot_be_read_is_kept() {
        let home = crate::state::scratch::home("remove-unread");
        let control = record("10.0.0.1", "c");
        let t2 = record("10.0.0.2", "t2");
        let opts = forgetting(&home.paths);
        let lead = Member::local(&control);
        let records = [control.clone(), t2.clone()];
        let got = remove_one(
            &lead,
            &t2,
            &records,
            &records[1..],
            &Config::default(),
            &opts,
            None,
        );
        assert!(
            matches!(&got, Err(e) if e.starts_with("cannot read the swarm: ")),
            "{}",
            got.map_or_else(|e| e, |l| l.text())
        );
    }

    /// Review remove-ops F3: a failed read was `None`, "not listed": the
    /// drain and the removal from the swarm's list were skipped unsaid.
    #[test]
    fn a_failed_read_of_the_swarm_is_not_a_node_gone_from_it() {
        let control = record("10.0.0.1", "c");
        let read = format!("{:?}", swarm_node(&Member::local(&control), "n1"));
        assert!(read.starts_with("Err(\"cannot read the swarm: "), "{read}");
        // The drain and the removal from the list say so, not skipped.
        let lead = Member::local(&control);
        let removed = on_entry(&lead, "n1", |node| Op::NodeRemove { node }).unwrap_err();
        assert!(removed.starts_with("cannot read the swarm: "), "{removed}");
    }

    /// Review remove-ops F5: a state file not saved after the swarm was
    /// asked lost every node's row (only the one-line error was shown).
    /// The rows are there all the same, for the table before the error.
    #[test]
    fn a_state_file_not_saved_keeps_the_rows_for_the_table() {
        let home = crate::state::scratch::home("remove-unsaved");
        let paths = &home.paths;
        // inventory.ini a directory: the inventory cannot be saved.
        std::fs::create_dir_all(paths.inventory_ini().join("x")).unwrap();
        let mut control = record("10.0.0.1", "c");
        control.role = Role::Control;
        let records = [control, record("10.0.0.2", "t2")];
        let opts = forgetting(paths);
        let mut results = Vec::new();
        let config = Config::default();
        let got = leave_cluster(
            &config,
            paths,
            &records,
            &records[1..],
            &[],
            &opts,
            &mut results,
        );
        assert!(got.is_err());
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].0, "t2");
        assert!(
            results[0].1.text().contains(NO_MANAGER),
            "{}",
            results[0].1.text()
        );
    }

    #[test]
    fn a_nodes_leave_error_reaches_the_table_escaped() {
        let said = could_not_leave("no\x1b]0;owned\x07\x1b[2J", false);
        assert!(!said.contains('\x1b') && !said.contains('\x07'), "{said:?}");
        assert!(
            said.starts_with("could not leave by itself (no?]0;owned??[2J)"),
            "{said}"
        );
    }

    /// A node whose own leave failed and whose --release then succeeded
    /// said both that it held the cluster key and that it was released.
    #[test]
    fn a_node_released_after_a_failed_leave_holds_the_key_no_more() {
        let done = || Layer::Changed(vec!["demoted".into(), "drained".into()]);
        let unleft = || Some("refused".to_string());
        let said = released_or_not(done(), Vec::new(), unleft(), Some(Ok(()))).text();
        assert_eq!(
            said,
            "FAILED: could not leave by itself (refused): it may still take itself for a \
             swarm member (check the machine before it comes back); done: demoted, drained, \
             released: the cluster key no longer logs in"
        );
        // Not released, or no release asked for: it holds the key.
        for released in [Some(Err("no route".to_string())), None] {
            let said = released_or_not(done(), Vec::new(), unleft(), released).text();
            assert!(
                said.starts_with(
                    "FAILED: could not leave by itself (refused): it may still take itself \
                     for a swarm member and hold the cluster key"
                ),
                "{said}"
            );
            assert!(!said.contains("no longer logs in"), "{said}");
        }
        // A node that left is released, and does not fail.
        let said = released_or_not(done(), Vec::new(), None, Some(Ok(()))).text();
        assert_eq!(
            said,
            "changed: demoted, drained, released: the cluster key no longer logs in"
        );
    }

    #[test]
    fn a_failed_node_keeps_what_was_done() {
        let done = Layer::Changed(vec!["demoted".into(), "drained".into()]);
        assert_eq!(
            failed_after(done.clone(), vec!["x".into(), "y".into()]).text(),
            "FAILED: x; y; done: demoted, drained"
        );
        assert_eq!(failed_after(done.clone(), Vec::new()).text(), done.text());
        assert_eq!(
            failed_after(Layer::Unchanged, vec!["x".into()]).text(),
            "FAILED: x"
        );
    }

    #[test]
    fn a_leaving_node_is_not_staying_by_the_rule_that_finds_its_entry() {
        let records = [record("10.0.0.2", "t2"), record("10.0.0.4", "t4")];
        // t2 (a manager) took a new lease: the swarm sees it at another
        // address, and only its name finds it. It is leaving all the same.
        let moved = entry(Some("10.0.0.7"), "t2");
        let t4 = entry(Some("10.0.0.4"), "t4");
        let view = [moved.clone(), t4.clone()];
        assert_eq!(
            ids(&staying(&view, &records, &records[..1], None)),
            [t4.id.as_str()]
        );
        // At its address, a node going by another's name is that node.
        let renamed = entry(Some("10.0.0.4"), "t2");
        let view = [renamed.clone(), entry(None, "t2")];
        assert_eq!(
            ids(&staying(&view, &records, &records[1..], None)),
            [view[1].id.as_str()]
        );
        // An entry without an address is a node's by its name.
        let view = [entry(None, "t2"), t4.clone()];
        assert_eq!(ids(&staying(&view, &records, &records[..1], None)), [t4.id]);
    }

    /// Once a leaving node's entry was removed, a live node of another
    /// name that took its old address counted as leaving all the same:
    /// the swarm looked one node smaller, and wanted too few managers.
    #[test]
    fn a_live_node_at_a_removed_nodes_old_address_stays() {
        let t2 = record("10.0.0.2", "t2");
        let t4 = entry(Some("10.0.0.2"), "t4");
        let t5 = entry(Some("10.0.0.5"), "t5");
        let view = [t4.clone(), t5.clone()];
        let leaving = std::slice::from_ref(&t2);
        assert_eq!(
            ids(&staying(&view, &[], leaving, Some(&t2))),
            [t4.id.as_str(), t5.id.as_str()]
        );
        // Its entry not removed yet: t4 may be it renamed, so not staying.
        assert_eq!(ids(&staying(&view, &[], leaving, None)), [t5.id.as_str()]);
        // Another leaving node still claims its own entry.
        let t5_record = record("10.0.0.5", "t5");
        let both = [t2.clone(), t5_record];
        assert_eq!(
            ids(&staying(&view, &both, &both, Some(&t2))),
            [t4.id.as_str()]
        );
    }
}
