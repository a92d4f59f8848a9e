//! The swarm layer: one Docker swarm over every node whose engine answers,
//! created where the control decides and recorded in `STATE/swarm`.
//!
//! - **Which swarm.** The one in the record. Without one, the control picks
//!   the first member (inventory order) whose engine is in no swarm,
//!   records that choice durably, creates the swarm there and records its
//!   ID. A node in any other swarm is reported and left alone: a node that
//!   claims to manage a swarm cannot make the cluster join it.
//! - **Managers**: 1 for 1-2 nodes, 3 for 3-6, 5 from 7 on, or the config's
//!   `swarm.managers` (raft survives the loss of a minority; two would be
//!   worse than one). Chosen by [`Fitness`]: persistent storage, RAM, a
//!   64-bit architecture; ARMv6 nodes are never managers. `nodes:` pins
//!   win. Existing managers stay while they may; missing ones are promoted
//!   from workers or joined as managers; the swarm is created on the
//!   fittest node.
//! - **Joins**: tokens are read from the leading manager and go, over the
//!   node's rccr relay, only to members: inventory nodes whose host key is
//!   the recorded one. Managers join one at a time, workers together.
//! - **Labels**: `rccr.arch` (`uname -m`), `rccr.role`, `rccr.ram_mb` and
//!   `rccr.storage` (`persistent` or `volatile`) on every member, so that
//!   services can be placed by them.
//! - **Departed nodes** (in the swarm, neither a member nor in the
//!   inventory) are listed, and removed with `--remove-missing`.
//! - **Idempotent**: a second run changes nothing and says so.
use super::machine::Machine;
use super::member::Member;
use super::ops::Op;
use super::Layer;
use crate::docker::api::{Info, JoinTokens, SwarmNode, SwarmState};
use crate::error::Error;
use crate::parallel;
use crate::print;
use crate::state::inventory::NodeRecord;
use crate::state::swarm::SwarmRecord;
use std::path::Path;

/// What the swarm layer decided and did.
pub struct Formed {
    /// The member that leads the cluster's swarm, when there is one.
    pub leader: Option<usize>,
    pub cluster: Option<String>,
    /// Members in the cluster's swarm after the run.
    pub in_swarm: Vec<usize>,
    /// Per member (indexes as `members`).
    pub layers: Vec<Layer>,
    /// Swarm nodes that left the inventory: removed, or kept and listed.
    pub departed: Vec<String>,
}

/// The swarm layer over `members` (their machine layers in `machines`).
/// `inventory` is every node the inventory holds, reachable or not.
pub fn form(
    members: &[Member],
    machines: &[Machine],
    record_path: &Path,
    inventory: &[NodeRecord],
    remove_missing: bool,
    settings: &Settings,
) -> Result<Formed, Error> {
    let mut record = SwarmRecord::load(record_path)?;
    let mut infos: Vec<Option<Info>> = machines.iter().map(|m| m.info.clone()).collect();
    let mut formed = Formed {
        leader: None,
        cluster: record.cluster.clone(),
        in_swarm: Vec::new(),
        layers: infos
            .iter()
            .map(|i| match i {
                Some(_) => Layer::Unchanged,
                None => Layer::Skipped("Docker is not running".into()),
            })
            .collect(),
        departed: Vec::new(),
    };
    let fitness: Vec<Fitness> = machines.iter().map(Fitness::of).collect();
    let candidates = find_leader(
        members,
        &fitness,
        settings,
        &mut infos,
        &mut record,
        &mut formed,
        record_path,
    )?;
    formed.cluster = record.cluster.clone();
    let Some((leader, tokens, view)) = confirm_leader(
        members,
        &candidates,
        &mut infos,
        &mut record,
        record_path,
        settings,
        &mut formed,
    )?
    else {
        return Ok(formed);
    };
    let lead = &members[leader];
    formed.leader = Some(leader);
    let claims: Vec<(usize, String)> = infos
        .iter()
        .enumerate()
        .filter_map(|(i, info)| Some((i, info.as_ref()?.node_id.clone())))
        .collect();
    for (i, other) in false_claims(members, &claims, leader, &view, inventory) {
        formed.layers[i] = claims_another(&other);
        infos[i] = None;
    }
    heal(members, &mut infos, leader, &view, &mut formed);

    let infos: Vec<Option<&Info>> = infos.iter().map(Option::as_ref).collect();
    // Who is in, who joins, who is left alone.
    let in_ours = |i: usize| {
        infos[i].is_some_and(|info| {
            info.state == SwarmState::Active && view.iter().any(|n| n.id == info.node_id)
        })
    };
    let mut joining = Vec::new();
    for (i, info) in infos.iter().enumerate() {
        let Some(info) = info else { continue };
        if in_ours(i) {
            formed.in_swarm.push(i);
        } else if info.state == SwarmState::Inactive {
            joining.push(i);
        } else if info.state == SwarmState::Active {
            formed.layers[i] = Layer::Failed(format!(
                "in another swarm{}: left alone",
                if info.cluster_id.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", info.cluster_id)
                }
            ));
        } else {
            formed.layers[i] = Layer::Failed(format!(
                "swarm state {}{}: fix it by hand (docker swarm leave --force, or docker swarm unlock), then run rccr setup again",
                info.state.as_str(),
                if info.error.is_empty() { String::new() } else { format!(" ({})", print::text(&info.error)) }
            ));
        }
    }

    // Nodes that left: neither a member now nor an inventory node's entry.
    let member_ids: Vec<&str> = infos.iter().flatten().map(|i| i.node_id.as_str()).collect();
    let answered: Vec<&str> = (0..members.len())
        .filter(|&i| infos[i].is_some())
        .map(|i| members[i].record.hostname.as_str())
        .collect();
    let gone: Vec<&SwarmNode> = view
        .iter()
        .filter(|n| !member_ids.contains(&n.id.as_str()) && !of_inventory(n, inventory, &answered))
        .collect();
    for node in &gone {
        let name = print::name(&node.hostname).into_owned();
        if remove_missing {
            match lead.call(&Op::NodeRemove { node }) {
                Ok(_) => formed
                    .departed
                    .push(format!("{name}: removed from the swarm")),
                Err(e) => formed
                    .departed
                    .push(format!("{name}: not removed: {}", print::text(&e))),
            }
        } else {
            formed.departed.push(format!(
                "{name}: in the swarm but no longer in the inventory; kept (rccr setup --remove-missing removes it)"
            ));
        }
    }
    let kept: Vec<&SwarmNode> = view
        .iter()
        .filter(|n| !remove_missing || !gone.iter().any(|g| g.id == n.id))
        .collect();

    // Managers: how many, and which members are (or become) one.
    let fit = fitness;
    let is_manager = |i: usize| infos[i].is_some_and(|info| info.manager);
    let candidates: Vec<usize> = formed.in_swarm.iter().chain(&joining).copied().collect();
    let wanted = manager_count(kept.len() + joining.len(), settings.managers);
    let desired = choose_managers(&candidates, &fit, &settings.pins, &is_manager, wanted);
    let new_managers: Vec<usize> = desired
        .iter()
        .copied()
        .filter(|&i| !is_manager(i))
        .collect();

    // Joins: managers one at a time, then workers together.
    let manager_addr = format!("{}:2377", lead.addr());
    let join = |i: usize, token: &str| {
        let member = &members[i];
        let addr = member.addr();
        let answers = member.calls(&[
            Op::Join {
                token,
                advertise: &addr,
                manager: &manager_addr,
            },
            Op::Info,
        ]);
        match answers.as_slice() {
            [Ok(_), Ok(info)] => Ok(Info::parse(info)),
            [Err(e), _] | [_, Err(e)] => Err(e.clone()),
            _ => Err("no answer".into()),
        }
    };
    let (as_managers, as_workers): (Vec<usize>, Vec<usize>) =
        joining.iter().partition(|i| new_managers.contains(i));
    let mut joined: Vec<(usize, Result<Info, String>, &str)> = as_managers
        .iter()
        .map(|&i| (i, join(i, &tokens.manager), "manager"))
        .collect();
    let workers = parallel::map(&as_workers, 32, |&i| join(i, &tokens.worker));
    joined.extend(
        as_workers
            .iter()
            .zip(workers)
            .map(|(&i, r)| (i, r, "worker")),
    );
    let mut node_ids: Vec<(usize, String)> = formed
        .in_swarm
        .iter()
        .filter_map(|&i| infos[i].map(|info| (i, info.node_id.clone())))
        .collect();
    for (i, result, role) in joined {
        match result {
            Ok(info) => {
                formed.layers[i].add(format!("joined as {role}"));
                formed.in_swarm.push(i);
                node_ids.push((i, info.node_id));
            }
            Err(e) => formed.layers[i] = Layer::Failed(format!("join failed: {}", print::text(&e))),
        }
    }
    formed.in_swarm.sort_unstable();

    // Roles and labels, on the manager, from a fresh view.
    let view = match lead.call(&Op::Nodes) {
        Ok(v) => SwarmNode::parse_list(&v),
        Err(e) => {
            formed.layers[leader] =
                Layer::Failed(format!("cannot read the swarm: {}", print::text(&e)));
            return Ok(formed);
        }
    };
    crate::failpoint::reached("swarm-view-read", &lead.addr());
    let managers: Vec<String> = view
        .iter()
        .filter(|n| n.manager)
        .map(|n| n.id.clone())
        .collect();
    if !managers.is_empty() && managers != record.managers {
        record.managers = managers;
        record.save(record_path)?;
    }
    // A node ID a member's engine told after its join is its word too.
    for (i, other) in false_claims(members, &node_ids, leader, &view, inventory) {
        formed.layers[i] = claims_another(&other);
        node_ids.retain(|(j, _)| *j != i);
        formed.in_swarm.retain(|j| *j != i);
    }
    // Promotions before demotions, so the raft never shrinks first; the
    // manager this run talks through is never demoted by it.
    let mut changes: Vec<(usize, &SwarmNode, bool)> = node_ids
        .iter()
        .filter_map(|(i, id)| Some((*i, view.iter().find(|n| n.id == *id)?)))
        .map(|(i, node)| {
            (
                i,
                node,
                desired.contains(&i) || (i == leader && node.manager),
            )
        })
        .collect();
    changes.sort_by_key(|(_, node, manager)| (node.manager && !manager, !manager));
    for (i, node, manager) in changes {
        let labels = labels(&members[i], &machines[i]);
        let relabel = labels.iter().any(|(k, v)| node.label(k) != v);
        if manager == node.manager && !relabel {
            continue;
        }
        let op = Op::NodeSet {
            node,
            manager,
            labels: &labels,
        };
        let done = match (node.manager, manager) {
            (false, true) => "promoted to manager",
            (true, false) => "demoted to worker",
            _ => "labelled",
        };
        match lead.call(&op) {
            Ok(_) => formed.layers[i].add(done.into()),
            Err(e) => {
                formed.layers[i] = Layer::Failed(format!("{done}: failed: {}", print::text(&e)))
            }
        }
    }
    Ok(formed)
}

/// What a manager tells of its swarm: the join tokens and the nodes.
type SwarmView = (Option<JoinTokens>, Vec<SwarmNode>);

/// The join tokens and the nodes, from a manager.
fn read_swarm(lead: &Member) -> Result<SwarmView, String> {
    match lead.calls(&[Op::Tokens, Op::Nodes]).as_slice() {
        [Ok(t), Ok(n)] => Ok((JoinTokens::parse(t), SwarmNode::parse_list(n))),
        [Err(e), _] | [_, Err(e)] => Err(e.clone()),
        _ => Err("no answer".into()),
    }
}

/// The first of `candidates` (members that say they manage the cluster's
/// swarm, best first) whose join tokens are the cluster's swarm's: they
/// carry the digest of its root CA that the record holds. The swarm's
/// and the creating manager's IDs are no secret (a worker reads them from
/// its own swarm state); a manager of another swarm gives tokens of
/// another CA, and is left alone. A record without a digest (an older rccr
/// wrote none, or a run that created the swarm and was killed) learns
/// it from the candidates: the digest most of them give, when more than
/// half of those that answer give it; when they disagree without a
/// majority, none is taken. With its tokens and the swarm's nodes as the
/// leader tells them.
#[allow(clippy::too_many_arguments)]
fn confirm_leader(
    members: &[Member],
    candidates: &[usize],
    infos: &mut [Option<Info>],
    record: &mut SwarmRecord,
    record_path: &Path,
    settings: &Settings,
    formed: &mut Formed,
) -> Result<Option<(usize, JoinTokens, Vec<SwarmNode>)>, Error> {
    // Each read may hold a 2 MiB node list and its tree (4x) at once: a
    // few at a time keeps a Pi-class control's memory small when
    // compromised managers answer with the largest lists they may.
    let mut reads = parallel::map(candidates, 4, |&i| read_swarm(&members[i]));
    let digests: Vec<&str> = reads
        .iter()
        .filter_map(|r| Some(r.as_ref().ok()?.0.as_ref()?.ca.as_str()))
        .collect();
    let expected = match &record.ca {
        Some(ca) => Some(ca.clone()),
        None => match majority(&digests) {
            Ok(ca) => ca.map(str::to_string),
            Err(()) => {
                let mut swarms = digests.clone();
                swarms.sort_unstable();
                swarms.dedup();
                for (&i, read) in candidates.iter().zip(&reads) {
                    if let Ok((Some(tokens), _)) = read {
                        formed.layers[i] = Layer::Failed(format!(
                            "claims to lead the cluster's swarm, but the managers' join tokens are of {} swarms and rccr has no CA digest of its own yet (this one's: {}): left alone; put the real swarm's in {} as a line 'ca DIGEST' (docker swarm join-token -q worker, on a manager you trust, prints SWMTKN-1-DIGEST-SECRET)",
                            swarms.len(),
                            tokens.ca,
                            record_path.display()
                        ));
                    }
                }
                return Ok(None);
            }
        },
    };
    // A swarm that one candidate reads, with the cluster's CA, has its
    // quorum: another's word that it lost it is contradicted.
    let reader = candidates.iter().zip(&reads).find_map(|(&c, read)| {
        let (Some(tokens), _) = read.as_ref().ok()? else {
            return None;
        };
        expected
            .as_ref()
            .is_none_or(|ca| *ca == tokens.ca)
            .then_some(c)
    });
    for (k, &i) in candidates.iter().enumerate() {
        let listed_elsewhere = placed_elsewhere(members, infos, i, candidates, &reads);
        let read = match std::mem::replace(&mut reads[k], Err(String::new())) {
            Ok(read) => read,
            Err(e) if lost_quorum(&e) && reader.is_some() => {
                formed.layers[i] = Layer::Failed(format!(
                    "says the cluster's swarm lost its quorum, but {} reads it: left alone",
                    reader.map_or_else(String::new, |r| members[r].name())
                ));
                infos[i] = None;
                continue;
            }
            Err(e) if lost_quorum(&e) => {
                match recover_quorum(members, infos, i, &record.managers, settings, formed)? {
                    Some(read) => read,
                    None => return Ok(None),
                }
            }
            Err(e) => {
                formed.layers[i] =
                    Layer::Failed(format!("cannot read the swarm: {}", print::text(&e)));
                continue;
            }
        };
        let (Some(tokens), view) = read else {
            formed.layers[i] = Layer::Failed("the manager gave no usable join tokens".into());
            continue;
        };
        if expected.as_ref().is_some_and(|ca| *ca != tokens.ca) {
            formed.layers[i] = Layer::Failed(format!(
                "claims to lead the cluster's swarm but its join tokens are of another swarm (CA digest {}): left alone",
                tokens.ca
            ));
            infos[i] = None;
            continue;
        }
        if let Some((other, addr)) = listed_elsewhere {
            formed.layers[i] = Layer::Failed(format!(
                "claims to lead the cluster's swarm, but the swarm as {} tells it lists its node ID at {addr}, another node's address: left alone",
                members[other].name()
            ));
            infos[i] = None;
            continue;
        }
        if record.ca.as_ref() != Some(&tokens.ca) {
            record.ca = Some(tokens.ca.clone());
            record.save(record_path)?;
        }
        return Ok(Some((i, tokens, view)));
    }
    Ok(None)
}

/// A forged token can carry the right digest (it joins nobody, but the
/// node that gave it would lead the run): so the node list of each other
/// candidate whose tokens carry the same digest is asked where the node ID
/// that candidate `i` claims is. When one lists it at the address of
/// another member, `i` is not that node: that other candidate, and the
/// address.
fn placed_elsewhere(
    members: &[Member],
    infos: &[Option<Info>],
    i: usize,
    candidates: &[usize],
    reads: &[Result<SwarmView, String>],
) -> Option<(usize, std::net::IpAddr)> {
    let claimed = &infos[i].as_ref()?.node_id;
    let own = reads[candidates.iter().position(|&c| c == i)?]
        .as_ref()
        .ok()?;
    let ca = &own.0.as_ref()?.ca;
    let of_another_member = |addr: std::net::IpAddr| {
        addr != members[i].record.ip && members.iter().any(|m| m.record.ip == addr)
    };
    candidates.iter().zip(reads).find_map(|(&other, read)| {
        let (Some(tokens), view) = read.as_ref().ok()? else {
            return None;
        };
        let addr = view.iter().find(|n| n.id == *claimed)?.addr?;
        (other != i && tokens.ca == *ca && of_another_member(addr)).then_some((other, addr))
    })
}

/// Whether `member` gives join tokens of the swarm whose root CA digest is
/// `ca` (of any swarm, when the record holds none yet): a node that says
/// it manages the cluster's swarm, and is not of that CA, is no manager
/// of it.
pub fn gives_tokens_of(member: &Member, ca: Option<&str>) -> bool {
    ca.is_none_or(|ca| {
        member
            .call(&Op::Tokens)
            .is_ok_and(|v| JoinTokens::parse(&v).is_some_and(|t| t.ca == ca))
    })
}

/// The word most of `words` say, when more than half of them say it;
/// `Ok(None)` when there are none; `Err` when they disagree without a
/// majority.
fn majority<'a>(words: &[&'a str]) -> Result<Option<&'a str>, ()> {
    let Some(&most) = words
        .iter()
        .max_by_key(|w| words.iter().filter(|v| v == w).count())
    else {
        return Ok(None);
    };
    let count = words.iter().filter(|w| **w == most).count();
    if 2 * count > words.len() {
        Ok(Some(most))
    } else {
        Err(())
    }
}

/// Whether an engine's error says its swarm lost its raft quorum.
fn lost_quorum(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains("does not have a leader") || e.contains("quorum")
}

/// The cluster's swarm lost its quorum: too few managers answer to agree
/// on anything. With the operator's word (`--yes`, or typed), the manager
/// that leads this run starts a new raft from its own copy of the swarm
/// (`--force-new-cluster`: same swarm ID, nodes and services); the other
/// managers are healed into it below. Without it, it says so and stops.
fn recover_quorum(
    members: &[Member],
    infos: &[Option<Info>],
    leader: usize,
    known: &[String],
    settings: &Settings,
    formed: &mut Formed,
) -> Result<Option<SwarmView>, Error> {
    let cluster = formed.cluster.clone().unwrap_or_default();
    let alive = infos
        .iter()
        .flatten()
        .filter(|i| i.manager && (i.cluster_id == cluster || known.contains(&i.node_id)))
        .count();
    let total = infos[leader]
        .as_ref()
        .map_or(0, |i| i.managers as usize)
        .max(known.len())
        .max(alive);
    let lead = &members[leader];
    let claimed = infos[leader].as_ref().map_or("", |i| i.node_id.as_str());
    let what = format!(
        "the swarm lost its quorum: {alive} of {total} managers answer; it can be re-formed from {} (--force-new-cluster), keeping its services ({} says it is the cluster's manager {}: without a quorum, no manager can confirm it)",
        lead.name(),
        lead.name(),
        print::text(claimed)
    );
    if !(settings.force_new_cluster)(&what) {
        formed.layers[leader] = Layer::Failed(format!(
            "{what}: run rccr setup again with --yes, or answer its question, once no more managers can come back"
        ));
        return Ok(None);
    }
    let addr = lead.addr();
    if let Err(e) = lead.call(&Op::Init {
        advertise: &addr,
        force_new: true,
    }) {
        formed.layers[leader] =
            Layer::Failed(format!("re-forming the swarm failed: {}", print::text(&e)));
        return Ok(None);
    }
    formed.layers[leader].add(format!(
        "re-formed the swarm from here ({alive} of {total} managers had answered)"
    ));
    // The new raft takes a moment to elect its one member.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match read_swarm(lead) {
            Ok(read) => return Ok(Some(read)),
            Err(e) if std::time::Instant::now() >= deadline => {
                formed.layers[leader] = Layer::Failed(format!(
                    "the re-formed swarm does not answer: {}",
                    print::text(&e)
                ));
                return Ok(None);
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(300)),
        }
    }
}

/// A member's node ID is its engine's word, and every change this layer
/// makes to a swarm node (its removal when broken, its role, its labels)
/// goes to the node of that ID. Of `claims` (member, the node ID it
/// says it has), those whose ID the swarm lists under another node's
/// name, or that another member claims too (and the swarm lists under
/// neither's name), with that other node's name (escaped): they are left
/// out of the run, so that a node's lie lands on no other node. The
/// leader's word is the swarm's.
fn false_claims(
    members: &[Member],
    claims: &[(usize, String)],
    leader: usize,
    view: &[SwarmNode],
    inventory: &[NodeRecord],
) -> Vec<(usize, String)> {
    let mut refused = Vec::new();
    for (i, id) in claims
        .iter()
        .filter(|(i, id)| *i != leader && !id.is_empty())
    {
        let own = members[*i].record.hostname.as_str();
        let listed = view
            .iter()
            .find(|n| n.id == *id)
            .map(|n| n.hostname.as_str());
        let listed_as_another =
            listed.filter(|name| *name != own && inventory.iter().any(|r| r.hostname == *name));
        let claimed_too = claims
            .iter()
            .find(|(j, other)| j != i && other == id)
            .filter(|_| listed != Some(own))
            .map(|(j, _)| members[*j].record.hostname.as_str());
        if let Some(other) = listed_as_another.or(claimed_too) {
            refused.push((*i, print::name(other).into_owned()));
        }
    }
    refused
}

/// Whether swarm entry `n` is an inventory node's: it is at that node's
/// address as the manager sees it, or carries its name. The name is the
/// node's own word, so it counts only for a node that did not answer this
/// run (a member's entry is known by its ID), and for an entry that is
/// down (an old one of a member, which [`heal`] removes): a node that left
/// the inventory cannot stay by taking a member's name.
fn of_inventory(n: &SwarmNode, inventory: &[NodeRecord], answered: &[&str]) -> bool {
    inventory.iter().any(|r| {
        n.addr == Some(r.ip)
            || (n.hostname == r.hostname
                && (!answered.contains(&r.hostname.as_str()) || n.status == "down"))
    })
}

/// Reports a member [`false_claims`] refused.
fn claims_another(other: &str) -> Layer {
    Layer::Failed(format!("claims the swarm node ID of {other}: left alone"))
}

/// Members whose swarm membership broke are made to join again: a node
/// that lost its swarm state (a diskless node after a reboot) left an entry
/// that is down; a manager the swarm cannot reach while it answers us, or
/// an engine whose swarm is in error, left its raft (a power cut, a
/// re-formed swarm). Each leaves what it has, its stale entry is removed,
/// and it joins again as the layer decides below.
fn heal(
    members: &[Member],
    infos: &mut [Option<Info>],
    leader: usize,
    view: &[SwarmNode],
    formed: &mut Formed,
) {
    let lead = &members[leader];
    for (i, member) in members.iter().enumerate() {
        let Some(info) = infos[i].as_ref() else {
            continue;
        };
        if i == leader {
            continue;
        }
        let mine = view.iter().find(|n| n.id == info.node_id);
        let stale: Vec<&SwarmNode> = view
            .iter()
            .filter(|n| {
                n.hostname == member.record.hostname && n.id != info.node_id && n.status == "down"
            })
            .collect();
        let broken = match info.state {
            SwarmState::Error | SwarmState::Pending => !stale.is_empty() || mine.is_some(),
            SwarmState::Active => mine.is_some_and(|n| n.manager && !n.reachable),
            _ => false,
        };
        if !broken && stale.is_empty() {
            continue;
        }
        if broken {
            if let Err(e) = member.call(&Op::Leave { force: true }) {
                formed.layers[i] = Layer::Failed(format!(
                    "could not leave its broken swarm: {}",
                    print::text(&e)
                ));
                continue;
            }
        }
        for old in stale.iter().copied().chain(mine.filter(|_| broken)) {
            let _ = lead.call(&Op::NodeRemove { node: old });
        }
        formed.layers[i].add(if broken {
            "left its broken swarm membership".into()
        } else {
            "its old entry (down) removed".into()
        });
        if broken {
            infos[i] = member.call(&Op::Info).ok().map(|v| Info::parse(&v));
        }
    }
}

/// rccr's labels on a member's swarm node.
fn labels(member: &Member, m: &Machine) -> [(&'static str, String); 4] {
    [
        (
            "rccr.arch",
            m.arch.map_or("unknown", |a| a.uname()).to_string(),
        ),
        ("rccr.role", member.record.role.as_str().to_string()),
        ("rccr.ram_mb", (m.ram_kib / 1024).to_string()),
        (
            "rccr.storage",
            if m.persistent {
                "persistent"
            } else {
                "volatile"
            }
            .to_string(),
        ),
    ]
}

/// How the config and the operator steer the swarm layer.
pub struct Settings<'a> {
    /// `swarm.managers:`, instead of the count by size.
    pub managers: Option<usize>,
    /// Per member: `nodes[].manager:` (true: always one, false: never).
    pub pins: Vec<Option<bool>>,
    /// Asked, with what is at stake, before a swarm that lost its quorum
    /// is re-formed; true to go on.
    pub force_new_cluster: &'a dyn Fn(&str) -> bool,
}

/// How fit a node is to manage the swarm, best first when sorted down:
/// not ARMv6 (swarm's overlay networking is broken there, moby/moby#47496),
/// then persistent storage (raft's log survives a power cut), RAM, and a
/// 64-bit architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fitness {
    eligible: bool,
    persistent: bool,
    ram_kib: u64,
    wide: bool,
}

impl Fitness {
    /// From the labels rccr put on a swarm node (`rccr.arch`,
    /// `rccr.storage`, `rccr.ram_mb`), for choices made without asking
    /// every node again.
    pub fn of_labels(node: &SwarmNode) -> Fitness {
        let arch: Option<crate::identity::Arch> = node.label("rccr.arch").parse().ok();
        Fitness::of(&Machine {
            arch,
            persistent: node.label("rccr.storage") == "persistent",
            ram_kib: node
                .label("rccr.ram_mb")
                .parse::<u64>()
                .unwrap_or(0)
                .saturating_mul(1024),
            ..Machine::default()
        })
    }

    pub fn of(m: &Machine) -> Fitness {
        Fitness {
            eligible: m.arch != Some(crate::identity::Arch::Armv6l),
            persistent: m.persistent,
            ram_kib: m.ram_kib,
            wide: m.arch.is_some_and(crate::identity::Arch::is_64_bit),
        }
    }
}

/// Managers for a swarm of `nodes`: 1 for 1-2, 3 for 3-6, 5 from 7 on
/// (raft keeps working with a majority: 1 of 3, 2 of 5 may fail), or the
/// config's number.
pub fn manager_count(nodes: usize, configured: Option<usize>) -> usize {
    configured.unwrap_or(match nodes {
        0..=2 => 1,
        3..=6 => 3,
        _ => 5,
    })
}

/// The members that should manage: those pinned as managers, then the
/// current managers that may stay, then the fittest, up to `wanted`.
/// Members pinned as workers and ARMv6 nodes never manage (unless pinned).
pub fn choose_managers(
    candidates: &[usize],
    fit: &[Fitness],
    pins: &[Option<bool>],
    is_manager: &dyn Fn(usize) -> bool,
    wanted: usize,
) -> Vec<usize> {
    let pin = |i: usize| pins.get(i).copied().flatten();
    let mut chosen: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| pin(i) == Some(true))
        .collect();
    let mut rest: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| pin(i).is_none() && fit[i].eligible)
        .collect();
    // Current managers first (no churn), each group fittest first, then in
    // inventory order.
    rest.sort_by_key(|&i| (!is_manager(i), std::cmp::Reverse(fit[i]), i));
    for i in rest {
        if chosen.len() >= wanted {
            break;
        }
        chosen.push(i);
    }
    chosen.sort_unstable();
    chosen
}

/// The members that say they manage the cluster's swarm, best first
/// ([`confirm_leader`] checks their word), creating the swarm on the
/// control's choice when there is none yet. None when no swarm can be
/// formed (the reason is in `formed`).
#[allow(clippy::too_many_arguments)]
fn find_leader(
    members: &[Member],
    fit: &[Fitness],
    settings: &Settings,
    infos: &mut [Option<Info>],
    record: &mut SwarmRecord,
    formed: &mut Formed,
    record_path: &Path,
) -> Result<Vec<usize>, Error> {
    // A manager of the cluster's swarm by its ID, or, when it cannot tell
    // its swarm (it lost its quorum), by its node ID.
    let mut known = record.managers.clone();
    known.extend(record.manager.clone());
    let manages = |info: &Option<Info>, cluster: &str| {
        info.as_ref().is_some_and(|info| {
            info.manager
                && (info.cluster_id == cluster
                    || (info.cluster_id.is_empty() && known.contains(&info.node_id)))
        })
    };
    // A swarm this control started, whose ID it may not have recorded yet
    // (a run killed right after creating it).
    if record.cluster.is_none() {
        if let Some(i) = (0..members.len()).find(|&i| {
            Some(members[i].record.ip) == record.bootstrap
                && infos[i].as_ref().is_some_and(|info| info.manager)
        }) {
            let info = infos[i].as_ref().expect("a manager has an engine");
            if !record_created(record, info, record_path)? {
                formed.layers[i] = created_no_id();
                return Ok(Vec::new());
            }
        }
    }
    if let Some(cluster) = record.cluster.clone() {
        // Prefer the manager that created it, then any other.
        let created = |i: &usize| {
            infos[*i]
                .as_ref()
                .is_some_and(|info| Some(&info.node_id) == record.manager.as_ref())
        };
        let mut managing: Vec<usize> = (0..members.len())
            .filter(|&i| manages(&infos[i], &cluster))
            .collect();
        managing.sort_by_key(|i| !created(i));
        if !managing.is_empty() {
            return Ok(managing);
        }
        for i in (0..members.len()).filter(|&i| infos[i].is_some()) {
            formed.layers[i] = Layer::Skipped(format!(
                "no manager of the cluster's swarm {cluster} answers"
            ));
        }
        return Ok(Vec::new());
    }
    let inactive: Vec<usize> = (0..members.len())
        .filter(|&i| {
            infos[i]
                .as_ref()
                .is_some_and(|info| info.state == SwarmState::Inactive)
        })
        .collect();
    let Some(&bootstrap) = choose_managers(&inactive, fit, &settings.pins, &|_| false, 1)
        .first()
        .or(inactive.first())
    else {
        return Ok(Vec::new());
    };
    record.bootstrap = Some(members[bootstrap].record.ip);
    record.save(record_path)?;
    let member = &members[bootstrap];
    let addr = member.addr();
    match member
        .calls(&[
            Op::Init {
                advertise: &addr,
                force_new: false,
            },
            Op::Info,
        ])
        .as_slice()
    {
        [Ok(_), Ok(info)] => {
            let info = Info::parse(info);
            crate::failpoint::reached("swarm-created", &addr);
            if !record_created(record, &info, record_path)? {
                formed.layers[bootstrap] = created_no_id();
                return Ok(Vec::new());
            }
            formed.layers[bootstrap].add(format!("swarm {} created here", info.cluster_id));
            infos[bootstrap] = Some(info);
            Ok(vec![bootstrap])
        }
        [Err(e), _] | [_, Err(e)] => {
            formed.layers[bootstrap] =
                Layer::Failed(format!("swarm init failed: {}", print::text(e)));
            Ok(Vec::new())
        }
        _ => Ok(Vec::new()),
    }
}

/// Records the swarm the bootstrap node `info` tells of as the cluster's:
/// its ID and the creating manager's node ID. Only IDs (`[a-z0-9]`, which
/// the record's reader takes): an engine that tells none (an empty or
/// malformed answer parses as "") gets nothing recorded, so that no later
/// run stops on the record. False when it told none.
fn record_created(record: &mut SwarmRecord, info: &Info, path: &Path) -> Result<bool, Error> {
    use crate::docker::api::is_id;
    if !is_id(&info.cluster_id) || !is_id(&info.node_id) {
        return Ok(false);
    }
    record.cluster = Some(info.cluster_id.clone());
    record.manager = Some(info.node_id.clone());
    record.save(path)?;
    Ok(true)
}

/// The bootstrap node manages a swarm but tells no swarm or node ID.
fn created_no_id() -> Layer {
    Layer::Failed(
        "created no swarm ID (its engine tells no swarm or node ID as a manager): nothing recorded; check its Docker engine (docker info), then run rccr setup again".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Arch;

    fn fit(arch: Arch, persistent: bool, ram_mb: u64) -> Fitness {
        Fitness::of(&Machine {
            arch: Some(arch),
            ram_kib: ram_mb * 1024,
            persistent,
            ..Machine::default()
        })
    }

    /// A swarm node as a manager lists it: `id`, at `addr`, with `labels`.
    fn node(id: &str, addr: &str, manager: bool, labels: &str) -> SwarmNode {
        let role = if manager { "manager" } else { "worker" };
        let text = format!(
            r#"[{{"ID":"{id}","Version":{{"Index":1}},"Description":{{"Hostname":"{id}"}},
                "Spec":{{"Role":"{role}","Labels":{{{labels}}}}},
                "Status":{{"State":"ready","Addr":"{addr}"}}}}]"#
        );
        let list = crate::json::Value::parse(text.as_bytes()).unwrap();
        SwarmNode::parse_list(&list).remove(0)
    }

    #[test]
    fn a_ram_label_too_large_to_count_saturates_instead_of_overflowing() {
        let huge = node(
            "n1",
            "10.0.0.1",
            false,
            r#""rccr.ram_mb":"18446744073709551615""#,
        );
        let small = node("n2", "10.0.0.2", false, r#""rccr.ram_mb":"512""#);
        assert!(Fitness::of_labels(&huge) > Fitness::of_labels(&small));
    }

    #[test]
    fn a_digest_is_learnt_only_from_a_majority() {
        assert_eq!(majority(&[]), Ok(None));
        assert_eq!(majority(&["a"]), Ok(Some("a")));
        assert_eq!(majority(&["b", "a", "a"]), Ok(Some("a")));
        assert_eq!(majority(&["a", "b"]), Err(()));
        assert_eq!(majority(&["a", "a", "b", "b"]), Err(()));
    }

    #[test]
    fn the_count_follows_the_swarms_size() {
        let counts: Vec<usize> = (1..=8).map(|n| manager_count(n, None)).collect();
        assert_eq!(counts, [1, 1, 3, 3, 3, 3, 5, 5]);
        assert_eq!(manager_count(2, Some(3)), 3);
    }

    #[test]
    fn managers_by_storage_then_ram_then_width_never_armv6() {
        let fits = [
            fit(Arch::Armv6l, true, 4096),  // a Pi Zero: never
            fit(Arch::X86_64, false, 8192), // no persistent storage
            fit(Arch::Armv7l, true, 1024),  // small, 32-bit
            fit(Arch::Aarch64, true, 1024), // small, 64-bit
            fit(Arch::X86_64, true, 8192),  // the best
        ];
        let all = [0, 1, 2, 3, 4];
        let none = |_| false;
        assert_eq!(choose_managers(&all, &fits, &[], &none, 3), [2, 3, 4]);
        assert_eq!(choose_managers(&all, &fits, &[], &none, 1), [4]);
        assert_eq!(choose_managers(&all, &fits, &[], &none, 5), [1, 2, 3, 4]);
        // Current managers stay while they may.
        let managing = |i| i == 1;
        assert_eq!(choose_managers(&all, &fits, &[], &managing, 3), [1, 3, 4]);
        // Pins win, both ways.
        let pins = [Some(true), None, None, None, Some(false)];
        assert_eq!(choose_managers(&all, &fits, &pins, &none, 3), [0, 2, 3]);
    }
}
