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
//!   worse than one; the count is kept odd, the leader counted). Chosen
//!   by [`Fitness`]: persistent storage, RAM, a
//!   64-bit architecture; ARMv6 nodes are never managers. `nodes:` pins
//!   win. Existing managers stay while they may; missing ones are promoted
//!   from workers or joined as managers; the swarm is created on the
//!   fittest node. A new manager that raft has no member for after 30 s
//!   fails the run and is made a worker again (one it lists but cannot
//!   reach fails it too, and stays a manager, as does each one it made
//!   when the lead gives no node list to check them by), and a run that
//!   would leave the raft even demotes the newest manager it made
//!   ([`keep_odd`]). A failure keeps what the run did on the node.
//! - **The leader** gives tokens of the recorded CA digest and is not
//!   contradicted by the other candidates ([`judge`]); a run whose
//!   candidates contradict each other heals, demotes and removes nothing.
//! - **Joins**: tokens are read from the leading manager and go, over the
//!   node's rccr relay, only to members: inventory nodes whose host key is
//!   the recorded one. Managers join one at a time, workers together. A
//!   node without rccr (asked through its docker CLI, whose command line
//!   shows the token) gets only the worker token, and is promoted through
//!   the leading manager.
//! - **Labels**: `rccr.arch` (`uname -m`), `rccr.role`, `rccr.ram_mb` and
//!   `rccr.storage` (`persistent` or `volatile`) on every member, so that
//!   services can be placed by them.
//! - **Tokens rotated**: the worker token once a docker CLI join showed
//!   it; the manager token, once a run, when a node sent it ends the run
//!   no manager, or a manager the run demoted knew it.
//! - **Departed nodes** (in the swarm, neither a member nor in the
//!   inventory) are listed, and removed with `--remove-missing`.
//! - **Idempotent**: a second run changes nothing and says so.
use super::claim;
use super::machine::Machine;
use super::member::{Member, Via};
use super::ops::{JoinAs, Op};
use super::settle;
use super::Layer;
use crate::docker::api::{self, Info, JoinTokens, SwarmNode, SwarmState};
use crate::error::Error;
use crate::json::Value;
use crate::parallel;
use crate::print;
use crate::state::inventory::NodeRecord;
use crate::state::swarm::{Bootstrap, SwarmRecord};
use std::borrow::Cow;
use std::path::Path;

/// What the swarm layer decided and did.
pub struct Formed {
    /// The cluster's swarm: its ID, who leads it, who is in it.
    pub swarm: ClusterSwarm,
    /// Per member (indexes as [`form`]'s `members`).
    pub layers: Vec<Layer>,
    /// Swarm nodes that left the inventory: removed, or kept and listed.
    pub departed: Vec<String>,
    /// Why the worker token a docker CLI join showed is not rotated
    /// ([`retire_worker_token`]).
    pub unrotated: Option<String>,
}

/// The cluster's swarm as the run leaves it.
#[derive(Default)]
pub struct ClusterSwarm {
    /// Its ID, as the swarm record holds it.
    pub cluster: Option<String>,
    /// The member that leads it, when there is one.
    pub leader: Option<usize>,
    /// Members in it after the run.
    pub members: Vec<usize>,
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
        swarm: ClusterSwarm {
            cluster: record.cluster.clone(),
            ..ClusterSwarm::default()
        },
        layers: infos
            .iter()
            .map(|i| match i {
                Some(_) => Layer::Unchanged,
                None => Layer::Skipped("Docker is not running".into()),
            })
            .collect(),
        departed: Vec::new(),
        unrotated: None,
    };
    let fitness: Vec<Fitness> = machines.iter().map(Fitness::of).collect();
    let candidates = find_leader(
        members,
        inventory,
        &fitness,
        settings,
        &mut infos,
        &mut record,
        &mut formed,
        record_path,
    )?;
    formed.swarm.cluster = record.cluster.clone();
    let Some(Led {
        leader,
        tokens,
        view,
        contested,
        reformed,
    }) = confirm_leader(
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
    formed.swarm.leader = Some(leader);
    let claims: Vec<(usize, String)> = infos
        .iter()
        .enumerate()
        .filter_map(|(i, info)| Some((i, info.as_ref()?.node_id.clone())))
        .collect();
    let named = |i: usize| (members[i].record.hostname.as_str(), members[i].record.ip);
    let in_inventory: Vec<claim::Node> = inventory.iter().map(claim::Node::of).collect();
    for (i, other) in false_claims(&named, &claims, leader, &view, &in_inventory) {
        claims_another(&mut formed.layers[i], &other);
        infos[i] = None;
    }
    if reformed {
        set_aside_managers(&mut infos, leader, &lead.name(), &mut formed.layers);
    }
    // Nothing takes a node out of the swarm on the word of a leader that
    // another candidate contradicts (both are reported).
    let healed = if contested {
        Vec::new()
    } else {
        heal(members, &mut infos, leader, &view, &mut formed)
    };
    // A manager entry removed (demoted first, [`Op::NodeRemove`]) knew the
    // manager join token, as does a manager demoted: heal's (its member
    // may join again as a worker; a stale entry is another install's, or
    // another machine's under the name), and --remove-missing's (a node
    // that left the inventory, as `rccr remove` rotates for). `left`: the
    // nodes demoted or removed, the raft lets go of before it is rotated.
    let mut knew = false;
    let mut left: Vec<String> = Vec::new();
    for node in view
        .iter()
        .filter(|n| healed.contains(&n.id) && settle::in_raft(n))
    {
        knew = true;
        left.push(node.id.clone());
    }
    let remove_missing = remove_missing && !contested;

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
            formed.swarm.members.push(i);
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
            let mut entry = Cow::Borrowed(*node);
            if settle::in_raft(node) {
                knew = true;
                left.push(node.id.clone());
                // Out of the raft before its entry goes: a node removed
                // while the raft still counts it is no longer listed, and
                // the token rotated at the run's end would reach it.
                match leave_raft_first(lead, node) {
                    Ok(Some(now)) => entry = Cow::Owned(now),
                    Ok(None) => {
                        formed
                            .departed
                            .push(format!("{name}: no longer in the swarm"));
                        continue;
                    }
                    Err(e) => {
                        formed.departed.push(format!("{name}: not removed: {e}"));
                        continue;
                    }
                }
            }
            let node = entry.as_ref();
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
    // The swarm's nodes after this run: an entry heal removed is its
    // member's old one, and that member is counted as it joins again.
    let kept: Vec<&SwarmNode> = view
        .iter()
        .filter(|n| !remove_missing || !gone.iter().any(|g| g.id == n.id))
        .filter(|n| !healed.contains(&n.id))
        .collect();

    // Managers: how many, and which members are (or become) one.
    let fit = fitness;
    let is_manager = |i: usize| listed_manager(&view, infos[i]);
    let candidates: Vec<usize> = formed
        .swarm
        .members
        .iter()
        .chain(&joining)
        .copied()
        .collect();
    let wanted = manager_count(kept.len() + joining.len(), settings.managers);
    // Managers of the raft that this run leaves as they are: a member
    // left alone, one that left the inventory. (One the raft cannot reach
    // is not counted: a lost manager is replaced, as before.)
    let others = kept
        .iter()
        .filter(|n| n.manager && n.reachable)
        .filter(|n| {
            !candidates
                .iter()
                .any(|&i| infos[i].is_some_and(|info| info.node_id == n.id))
        })
        .count();
    let desired = choose_led(
        &candidates,
        &fit,
        &settings.pins,
        &is_manager,
        wanted,
        Some(leader),
        others,
    );
    let new_managers: Vec<usize> = desired
        .iter()
        .copied()
        .filter(|&i| !is_manager(i))
        .collect();

    // Joins: managers one at a time, then workers together. A node asked
    // through its docker CLI joins as a worker, and is promoted below.
    let manager_addr = manager_addr(lead.record.ip);
    let join = |i: usize, manager: bool| {
        let member = &members[i];
        let addr = member.addr();
        let token = JoinAs::pick(&tokens, manager, member.via());
        let answers = member.calls(&[
            Op::Join {
                token,
                advertise: &addr,
                manager: &manager_addr,
            },
            Op::Info,
        ]);
        let info = match answers.as_slice() {
            [Ok(_), Ok(info)] => Ok(Info::parse(info)),
            [Err(e), _] | [_, Err(e)] => Err(e.clone()),
            _ => Err("no answer".into()),
        };
        (i, info, token)
    };
    let (as_managers, as_workers): (Vec<usize>, Vec<usize>) =
        joining.iter().partition(|i| new_managers.contains(i));
    let mut joined: Vec<(usize, Result<Info, String>, JoinAs)> =
        as_managers.iter().map(|&i| join(i, true)).collect();
    joined.extend(parallel::map(&as_workers, 32, |&i| join(i, false)));
    let mut node_ids: Vec<(usize, String)> = formed
        .swarm
        .members
        .iter()
        .filter_map(|&i| infos[i].map(|info| (i, info.node_id.clone())))
        .collect();
    // Managers this run made (joined as one, or promoted), in that order.
    let mut made: Vec<(usize, String)> = Vec::new();
    // Members sent the manager token, and members made workers again
    // (raft never counted them, or for parity).
    let mut sent: Vec<usize> = Vec::new();
    let mut uncounted_members: Vec<usize> = Vec::new();
    for (i, result, token) in joined {
        if token.is_manager() {
            sent.push(i);
        }
        match result {
            Ok(info) => {
                formed.layers[i].add(format!("joined as {}", token.role()));
                formed.swarm.members.push(i);
                if token.is_manager() {
                    made.push((i, info.node_id.clone()));
                }
                node_ids.push((i, info.node_id));
            }
            Err(e) => formed.layers[i] = Layer::Failed(format!("join failed: {}", print::text(&e))),
        }
    }
    formed.swarm.members.sort_unstable();
    if joining.iter().any(|&i| members[i].via() == Via::Cli) {
        match retire_worker_token(lead) {
            Ok(()) => formed.layers[leader].add(ROTATED.into()),
            Err(e) => formed.unrotated = Some(e),
        }
    }

    // Roles and labels, on the manager, from a fresh view.
    let view = match lead.call(&Op::Nodes) {
        Ok(v) => SwarmNode::parse_list(&v),
        Err(e) => {
            formed.layers[leader] =
                Layer::Failed(format!("cannot read the swarm: {}", print::text(&e)));
            // What heal and --remove-missing removed is listed no more
            // by the next run: rotated now or never.
            let sent = sent_to_no_manager(&sent, &node_ids, &[]);
            retire_once(lead, &mut formed, leader, sent, knew, &left);
            return Ok(formed);
        }
    };
    crate::failpoint::reached("swarm-view-read", &lead.addr());
    // A node ID a member's engine told after its join is its word too.
    for (i, other) in false_claims(&named, &node_ids, leader, &view, &in_inventory) {
        claims_another(&mut formed.layers[i], &other);
        node_ids.retain(|(j, _)| *j != i);
        formed.swarm.members.retain(|j| *j != i);
    }
    // Promotions before demotions, so the raft never shrinks first; the
    // manager this run talks through is one of `desired`, never demoted.
    let mut changes: Vec<(usize, &SwarmNode, bool)> = node_ids
        .iter()
        .filter_map(|(i, id)| Some((*i, view.iter().find(|n| n.id == *id)?)))
        .map(|(i, node)| (i, node, desired.contains(&i)))
        .collect();
    changes.sort_by_key(|(_, node, manager)| (node.manager && !manager, !manager));
    // Managers of `desired` that manage once the promotions are done.
    let mut managing: Vec<usize> = Vec::new();
    let chosen: Vec<&str> = node_ids
        .iter()
        .filter(|(i, _)| desired.contains(i))
        .map(|(_, id)| id.as_str())
        .collect();
    let read = || lead.call(&Op::Nodes).ok();
    let mut counted = RaftCount::new(&read, &chosen, RAFT_TIME);
    // Managers demoted once raft counted the chosen ones (after its list
    // was read, which the parity check takes as it is).
    let mut demoted: Vec<&str> = Vec::new();
    let mut failed_demotions: Vec<&str> = Vec::new();
    for (i, node, mut manager) in changes {
        if node.manager && !manager {
            // No demotion when fewer managers than chosen manage (a join
            // or a promotion failed): the raft would shrink to fewer than
            // planned, or to an even count; nor before the raft counts
            // every one chosen.
            if contested {
                manager = true;
                formed.layers[i].add(
                    "not demoted: the candidates to lead contradicted each other this run".into(),
                );
            } else if let Some(note) = not_demoted(&desired, &managing, |j| members[j].name()) {
                manager = true;
                formed.layers[i].add(note);
            } else if !counted.all() {
                manager = true;
                formed.layers[i].add(
                    "not demoted yet: the managers chosen are not all in the raft after 30 s (run rccr setup again)".into(),
                );
            }
        }
        if manager && node.manager && desired.contains(&i) {
            managing.push(i);
        }
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
            Ok(_) => {
                if !node.manager && manager {
                    managing.push(i);
                    made.push((i, node.id.clone()));
                }
                if node.manager && !manager {
                    demoted.push(&node.id);
                }
                formed.layers[i].add(done.into())
            }
            Err(e) => {
                if node.manager && !manager {
                    failed_demotions.push(&node.id);
                }
                set_failed(&mut formed.layers[i], done, &e)
            }
        }
    }
    // A manager demoted knew the manager token; one whose demotion failed
    // may have been demoted all the same (a call that timed out).
    knew |= !demoted.is_empty() || !failed_demotions.is_empty();
    left.extend(
        demoted
            .iter()
            .chain(&failed_demotions)
            .map(|id| id.to_string()),
    );
    // A manager is one once raft counts it: the run's new ones are checked,
    // and the raft kept odd (see [`keep_odd`]).
    let uncounted = |id: &&str| !view.iter().any(|n| n.id == *id && n.manager && n.reachable);
    if !contested && (!made.is_empty() || chosen.iter().any(uncounted)) {
        let leader_id = infos[leader].map_or("", |info| info.node_id.as_str());
        let wanted: Vec<&str> = desired
            .iter()
            .filter_map(|i| node_ids.iter().find(|(j, _)| j == i))
            .map(|(_, id)| id.as_str())
            .collect();
        let made_ids: Vec<&str> = made.iter().map(|(_, id)| id.as_str()).collect();
        let planned = desired.len() + others;
        if let Some(list) = raft_read(counted, &made, &mut formed.layers) {
            let nodes = after_demotions(&list, &demoted);
            // A member that answered this run is not a manager switched
            // off: its entry counts only when raft does.
            let mut ids = member_ids.clone();
            ids.extend(node_ids.iter().map(|(_, id)| id.as_str()));
            let addrs: Vec<std::net::IpAddr> = members
                .iter()
                .zip(&infos)
                .filter_map(|(m, info)| info.and(Some(m.record.ip)))
                .collect();
            let answering = |n: &SwarmNode| of_answering(n, &nodes, &ids, &addrs);
            let in_raft = |id: &str| !reachability(&list, id).is_empty();
            let odd = keep_odd(
                &nodes, &made_ids, &wanted, leader_id, planned, &answering, &in_raft,
            );
            let member = |id: &str| node_ids.iter().find(|(_, m)| m == id).map(|(i, _)| *i);
            for i in odd.behind.iter().filter_map(|id| member(id)) {
                Counted::Behind.onto(&mut formed.layers[i]);
            }
            for (id, parity) in odd.uncounted.iter().map(|id| (id, None)).chain(
                parity_demotion(&odd, &failed_demotions)
                    .iter()
                    .map(|id| (id, Some(odd.managers.saturating_sub(1)))),
            ) {
                let (Some(i), Some(node)) = (member(id), nodes.iter().find(|n| n.id == *id)) else {
                    continue;
                };
                let labels = labels(&members[i], &machines[i]);
                let demoted = lead.call(&Op::NodeSet {
                    node,
                    manager: false,
                    labels: &labels,
                });
                let demoted = demoted.as_ref().map(|_| ()).map_err(String::as_str);
                // A member promoted may hold a manager's certificate by
                // now, as one sent the manager token holds that.
                knew = true;
                left.push(id.to_string());
                let counted = match parity {
                    None => {
                        uncounted_members.push(i);
                        Counted::Uncounted(demoted)
                    }
                    Some(left) => {
                        if demoted.is_ok() {
                            uncounted_members.push(i);
                        }
                        Counted::Parity(left, demoted)
                    }
                };
                counted.onto(&mut formed.layers[i]);
            }
        }
    }
    let sent = sent_to_no_manager(&sent, &node_ids, &uncounted_members);
    retire_once(lead, &mut formed, leader, sent, knew, &left);
    // The managers after this run's joins, promotions and demotions.
    record_managers(lead, &mut record, record_path)?;
    // And the manager it led through, unless another candidate contradicted
    // it, or the run demoted it (`led_by` takes only one `managers` lists).
    if !contested {
        if let Some(info) = infos[leader] {
            if record.led_by(&info.node_id, lead.record.ip) {
                record.save(record_path)?;
            }
        }
    }
    Ok(formed)
}

/// The swarm's managers as `lead` lists them now become the record's
/// ([`recorded_managers`]; nothing is written when it lists none, or
/// cannot be read): the next run weighs the candidates against who
/// manages, not who did before a promotion, a demotion or an `rccr
/// remove` handover.
pub fn record_managers(lead: &Member, record: &mut SwarmRecord, path: &Path) -> Result<(), Error> {
    let Ok(view) = lead.call(&Op::Nodes) else {
        return Ok(());
    };
    let managers = recorded_managers(SwarmNode::parse_list(&view));
    if !managers.is_empty() && managers != record.managers {
        record.managers = managers;
        record.save(path)?;
    }
    Ok(())
}

/// Rotates the manager join token once a run, whoever may keep it: a
/// node `sent` it that ended no manager, or a manager demoted or removed
/// (`knew`); `left`: the nodes the raft is to let go of first.
fn retire_once(
    lead: &Member,
    formed: &mut Formed,
    leader: usize,
    sent: bool,
    knew: bool,
    left: &[String],
) {
    let left: Vec<&str> = left.iter().map(String::as_str).collect();
    if sent {
        retire_manager_token(lead, formed, leader, Kept::Sent, &left);
    } else if knew {
        retire_manager_token(lead, formed, leader, Kept::Demoted, &left);
    }
}

/// Demotes `node` (when it manages) and waits until the raft let it go
/// ([`settle::left_raft`]): its entry as listed then, to remove; `None`:
/// no longer listed. `Err`: why it is not to be removed this run.
fn leave_raft_first(lead: &Member, node: &SwarmNode) -> Result<Option<SwarmNode>, String> {
    if node.manager {
        lead.call(&Op::NodeSet {
            node,
            manager: false,
            labels: &[],
        })
        .map_err(|e| format!("not demoted: {}", print::text(&e)))?;
    }
    let last = settle::wait_until(lead, |view| settle::left_raft(view, &[&node.id]));
    if settle::unsettled(last.as_deref(), &[&node.id]).is_some() {
        return Err(format!(
            "demoted, but the raft still counts it (or the swarm could not be read) after {} s: \
             kept; run rccr setup --remove-missing again",
            settle::DRAIN.as_secs()
        ));
    }
    Ok(last.and_then(|view| view.into_iter().find(|n| n.id == node.id)))
}

/// The managers of a node list, each at its raft address, the advertise
/// address it joined with (`rccr status` trusts a node claiming its ID
/// only there), else where the leader sees it: for a manager other than
/// the leader that is the source address its kernel picked, which may be
/// another card's. Loopback (an older engine's word for the leader) is
/// no address.
fn recorded_managers(nodes: Vec<SwarmNode>) -> Vec<crate::state::swarm::RecordedManager> {
    nodes
        .into_iter()
        .filter(|n| n.manager)
        .map(|n| crate::state::swarm::RecordedManager {
            addr: n.raft_addr.or(n.addr).filter(|a| !a.is_loopback()),
            id: n.id,
        })
        .collect()
}

/// Why no manager is demoted, when some of the `desired` managers are not
/// `managing` once the run's joins and promotions are done: the raft
/// would shrink to fewer than planned, or to an even count.
fn not_demoted(
    desired: &[usize],
    managing: &[usize],
    name: impl Fn(usize) -> String,
) -> Option<String> {
    let missing: Vec<String> = desired
        .iter()
        .filter(|i| !managing.contains(i))
        .map(|&i| name(i))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "not demoted: {} did not become {} (run rccr setup again)",
            missing.join(", "),
            if missing.len() == 1 {
                "a manager"
            } else {
                "managers"
            }
        )
    })
}

/// How long raft may take to count a new manager or to elect a leader.
const RAFT_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether raft counts each of `ids` as a reachable manager, from the
/// node lists `read` gives (as the lead tells them): read until it does,
/// or for `limit`, at most once a run (a node promoted takes a moment to
/// join the raft, and a manager demoted before then can leave the
/// promotion stuck; asking again for the same IDs would only wait as long).
struct RaftCount<'a> {
    read: &'a dyn Fn() -> Option<Value>,
    ids: &'a [&'a str],
    limit: std::time::Duration,
    /// Whether raft counted them all, and the last list read: once asked.
    polled: Option<(bool, Option<Value>)>,
}

impl<'a> RaftCount<'a> {
    fn new(
        read: &'a dyn Fn() -> Option<Value>,
        ids: &'a [&'a str],
        limit: std::time::Duration,
    ) -> Self {
        RaftCount {
            read,
            ids,
            limit,
            polled: None,
        }
    }

    fn poll(&self) -> (bool, Option<Value>) {
        let mut last = None;
        let all = within_raft_time(self.limit, || {
            let list = (self.read)()?;
            let nodes = SwarmNode::parse_list(&list);
            last = Some(list);
            self.ids.iter().all(|id| counts(&nodes, id)).then_some(())
        });
        (all.is_some(), last)
    }

    /// Whether raft counts them all.
    fn all(&mut self) -> bool {
        if self.polled.is_none() {
            self.polled = Some(self.poll());
        }
        self.polled.as_ref().is_some_and(|(all, _)| *all)
    }

    /// The node list once raft counts them all, or after `limit`: the
    /// one read when they were asked for (raft is read once a run: a lead
    /// that falls silent after counting them all does not undo that);
    /// `None` when the lead never answered.
    fn list(self) -> Option<Value> {
        match self.polled {
            Some((_, list)) => list,
            None => self.poll().1,
        }
    }
}

/// The nodes of `list` (the lead's, read once raft counted the managers
/// chosen), with those the run `demoted` since as workers.
fn after_demotions(list: &Value, demoted: &[&str]) -> Vec<SwarmNode> {
    let mut nodes = SwarmNode::parse_list(list);
    for node in nodes
        .iter_mut()
        .filter(|n| demoted.contains(&n.id.as_str()))
    {
        node.manager = false;
    }
    nodes
}

/// The manager [`keep_odd`] demotes for parity, unless a demotion of this
/// run failed (`failed`): the lead may have made it all the same (a
/// call that timed out), while the list read before it still counts that
/// node a manager, so the raft may be one fewer, and odd already.
fn parity_demotion<'a>(odd: &KeptOdd<'a>, failed: &[&str]) -> Option<&'a str> {
    odd.demote.filter(|_| failed.is_empty())
}

/// How raft reaches node `id` of `list` (a `GET /nodes` answer):
/// "reachable", "unreachable", or "" when it has no member of that ID.
fn reachability<'v>(list: &'v Value, id: &str) -> &'v str {
    list.as_array()
        .iter()
        .find(|n| n.str_at(&["ID"]) == id)
        .map_or("", |n| n.str_at(&["ManagerStatus", "Reachability"]))
}

/// Whether entry `n` of `nodes` is of a member that answered this run:
/// by its node ID (one of `ids`), or at its address (one of `addrs`) when
/// no entry there is one of `ids` (a dead old entry at a re-imaged or
/// healed manager's address is a raft member switched off).
fn of_answering(
    n: &SwarmNode,
    nodes: &[SwarmNode],
    ids: &[&str],
    addrs: &[std::net::IpAddr],
) -> bool {
    let current = |o: &SwarmNode| o.addr == n.addr && ids.contains(&o.id.as_str());
    ids.contains(&n.id.as_str())
        || n.addr.is_some_and(|a| addrs.contains(&a)) && !nodes.iter().any(current)
}

/// Whether raft counts node `id` of `nodes` as a manager that answers.
fn counts(nodes: &[SwarmNode], id: &str) -> bool {
    nodes.iter().any(|n| n.id == id && n.manager && n.reachable)
}

/// What the raft's count, read once the run's new managers had their
/// 30 s ([`keep_odd`]), makes of a member's layer.
enum Counted<'e> {
    /// A manager the run made that raft lists but cannot reach after 30 s
    /// ([`KeptOdd::behind`]): its manager down, its port 2377 cut after
    /// the join (reachability is raft's connection, not its log). Raft
    /// counts it in its quorum size without its vote, so it is no change
    /// made but a failure; not demoted, as raft may need it for its quorum.
    Behind,
    /// One the run made that raft has no member for: made a worker
    /// again, or not (why).
    Uncounted(Result<(), &'e str>),
    /// Demoted for parity, `usize` managers staying, or not (why).
    Parity(usize, Result<(), &'e str>),
    /// One the run made, when the lead gave no node list to count it by:
    /// whether raft took it, and whether the raft is odd, is unknown.
    Unread,
}

impl Counted<'_> {
    /// `layer` (what the run did there) once counted.
    fn onto(self, layer: &mut Layer) {
        let why = match self {
            Counted::Behind => "a manager, but raft cannot reach it after 30 s (its manager down or its port 2377 cut?): left, not demoted (raft may need it for its quorum); check its Docker and port 2377 and run rccr setup again, or pin it `manager: false` (or rccr remove it) to stop this".into(),
            Counted::Uncounted(Ok(())) => "promoted but not in the raft after 30 s: a worker again (run rccr setup again)".into(),
            Counted::Uncounted(Err(e)) => format!(
                "promoted but not in the raft after 30 s, and not made a worker again: {}",
                print::text(e)
            ),
            Counted::Parity(left, Ok(())) => {
                layer.add(format!(
                    "demoted to worker again, so the raft keeps an odd count of managers ({left})"
                ));
                return;
            }
            Counted::Parity(_, Err(e)) => format!(
                "not demoted to worker again (the raft is left with an even count of managers): {}",
                print::text(e)
            ),
            Counted::Unread => "made a manager, but the raft could not be read to check it (the leading manager gave no node list): left a manager; run rccr setup again".into(),
        };
        layer.fail_after(why);
    }
}

/// The node list `counted` gives once the run's new managers had their
/// time; when the lead gave none, each manager the run `made` fails
/// ([`Counted::Unread`]): the run cannot tell that raft took it, nor keep
/// the raft odd, so it must not end as if it had.
fn raft_read(counted: RaftCount, made: &[(usize, String)], layers: &mut [Layer]) -> Option<Value> {
    let list = counted.list();
    if list.is_none() {
        for (i, _) in made {
            Counted::Unread.onto(&mut layers[*i]);
        }
    }
    list
}

/// How a run keeps the raft odd once it made managers ([`keep_odd`]).
#[derive(Debug, PartialEq)]
struct KeptOdd<'a> {
    /// Managers the run made that raft has no member for: made workers
    /// again, so that none joins it later to an even count.
    uncounted: Vec<&'a str>,
    /// Those it lists as members it cannot reach (their manager down,
    /// their port 2377 cut: reachability is raft's connection, not its
    /// log): failed, not demoted (raft may need them for its quorum),
    /// counted, and no parity demotion while there is one.
    behind: Vec<&'a str>,
    /// The one to demote besides, when the raft ended even.
    demote: Option<&'a str>,
    /// The raft's managers before that demotion.
    managers: usize,
}

/// What keeps the raft odd after a run that made managers (`made`, node
/// IDs in the order made), from `nodes` as the leader lists them once raft
/// had 30 s to count them: two managers stop the swarm when either fails,
/// worse than one. The raft's managers are those it counts, those
/// listed that are no member that `answered` this run (a manager switched
/// off is still one of its members), and those of `made` it lists
/// (`in_raft`) but cannot reach. When those are
/// even where `planned` (the managers the run chose, and those it left
/// alone) was odd, because a join or a promotion failed, and none of them
/// is switched off or unreached (`planned` does not count one, the raft
/// does), one is demoted:
/// the newest of `made` that raft counts, else the last of `wanted` (the
/// run's chosen managers, best first) that it counts, the raft's leader
/// only when no other may go; never `leader`, and none when no manager
/// would remain.
fn keep_odd<'a>(
    nodes: &[SwarmNode],
    made: &[&'a str],
    wanted: &[&'a str],
    leader: &str,
    planned: usize,
    answered: &dyn Fn(&SwarmNode) -> bool,
    in_raft: &dyn Fn(&str) -> bool,
) -> KeptOdd<'a> {
    let (behind, uncounted): (Vec<&str>, Vec<&str>) = made
        .iter()
        .copied()
        .filter(|id| !counts(nodes, id))
        .partition(|id| in_raft(id));
    let down = |n: &SwarmNode| n.manager && !n.reachable && !answered(n);
    let managers = nodes
        .iter()
        .filter(|n| (n.manager && n.reachable) || down(n) || behind.contains(&n.id.as_str()))
        .count();
    // `planned` leaves a manager switched off out (it is replaced), the
    // raft does not: the two agree only while none is down, and a raft
    // with a member down, or one it cannot reach, is never shrunk for
    // parity (the demotion would cost a failure it tolerates).
    let even = managers > 1
        && managers.is_multiple_of(2)
        && !planned.is_multiple_of(2)
        && !nodes.iter().any(down)
        && behind.is_empty();
    let may_go = || {
        made.iter()
            .rev()
            .chain(wanted.iter().rev())
            .copied()
            .filter(|id| *id != leader && counts(nodes, id))
    };
    // The raft's leader last: its demotion costs an election.
    let leads = |id: &str| nodes.iter().any(|n| n.id == id && n.leader);
    let demote = even
        .then(|| may_go().find(|id| !leads(id)).or_else(|| may_go().next()))
        .flatten();
    KeptOdd {
        uncounted,
        behind,
        demote,
        managers,
    }
}

/// What `attempt` finds, asked every half second for up to `limit`
/// ([`RAFT_TIME`]).
fn within_raft_time<T>(
    limit: std::time::Duration,
    mut attempt: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let found = attempt();
        if found.is_some() || std::time::Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
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

/// The one of `candidates` (members that say they manage the cluster's
/// swarm, best first) that leads: its join tokens are the cluster's
/// swarm's (they carry the digest of its root CA that the record holds),
/// and the others' word does not refuse it ([`judge`] weighs every
/// candidate's word against all the others' before any is taken). The swarm's
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
) -> Result<Option<Led>, Error> {
    // Each read may hold a 2 MiB node list and its tree (4x) at once: a
    // few at a time keeps a Pi-class control's memory small when
    // compromised managers answer with the largest lists they may.
    let mut reads = parallel::map(candidates, 4, |&i| read_swarm(&members[i]));
    let digests = digests(&reads);
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
    let (weighed, judged) = weigh(
        members,
        candidates,
        infos,
        &reads,
        expected.as_deref(),
        record,
    );
    let contested = !judged.refused.is_empty();
    for (w, objection) in &judged.refused {
        let i = candidates[weighed[*w]];
        let name = |w: usize| members[candidates[weighed[w]]].name();
        let mut why = objection.text(name);
        if judged.leader.is_none() {
            why.push_str("; no manager of the cluster's swarm is confirmed, so nothing is changed this run (ask each manager: docker node ls)");
        }
        formed.layers[i] = Layer::Failed(why);
        infos[i] = None;
    }
    let leader = judged.leader.map(|w| weighed[w]);
    if leader.is_none() && !weighed.is_empty() {
        return Ok(None);
    }
    // A swarm that the leader reads, with the cluster's CA, has its
    // quorum: another's word that it lost it is contradicted.
    let reader = leader.map(|k| candidates[k]);
    let mut led = None;
    let mut reformed = false;
    for (k, &i) in candidates.iter().enumerate() {
        if weighed.contains(&k) && leader != Some(k) {
            continue;
        }
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
                // No candidate reads the swarm: the first that says it
                // lost its quorum re-forms it, when the operator agrees.
                match recover_quorum(members, infos, i, &record.manager_ids(), settings, formed)? {
                    Some(read) => {
                        reformed = true;
                        read
                    }
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
        // The leader, or the one that re-formed a swarm that lost its
        // quorum; the candidates after it are left as they are, to be
        // healed into its swarm.
        led = Some(Led {
            leader: i,
            tokens,
            view,
            contested,
            reformed,
        });
        break;
    }
    if let Some(led) = &led {
        if record.ca.as_ref() != Some(&led.tokens.ca) {
            record.ca = Some(led.tokens.ca.clone());
            record.save(record_path)?;
        }
    }
    Ok(led)
}

/// [`judge`] over those of `candidates` (indexes of `members`, with their
/// `infos` and `reads`) whose join tokens carry the `expected` CA digest
/// (any, when there is none): which of them it weighed (indexes of
/// `candidates`), and its judgement (indexes of those).
fn weigh(
    members: &[Member],
    candidates: &[usize],
    infos: &[Option<Info>],
    reads: &[Result<SwarmView, String>],
    expected: Option<&str>,
    record: &SwarmRecord,
) -> (Vec<usize>, Judgement) {
    let of_ca = |read: &Result<SwarmView, String>| {
        read.as_ref().is_ok_and(|(t, _)| {
            t.as_ref()
                .is_some_and(|t| expected.is_none_or(|ca| ca == t.ca))
        })
    };
    // Every candidate's word is weighed against the others' before any
    // is taken: those whose tokens carry the cluster's CA digest.
    let weighed: Vec<usize> = (0..candidates.len())
        .filter(|&k| of_ca(&reads[k]))
        .collect();
    let words: Vec<Word> = weighed
        .iter()
        .map(|&k| {
            let i = candidates[k];
            let view = reads[k].as_ref().map_or(&[][..], |(_, v)| v.as_slice());
            Word {
                id: infos[i].as_ref().map_or("", |info| info.node_id.as_str()),
                addr: members[i].record.ip,
                view,
            }
        })
        .collect();
    let addrs: Vec<std::net::IpAddr> = members.iter().map(|m| m.record.ip).collect();
    let (known, creator) = recorded(record);
    let judged = judge(&words, &addrs, &known, creator);
    (weighed, judged)
}

/// The managers `record` knows (its managers, and its `manager` while
/// they count it), and that `manager` at its address, for [`judge`]. A
/// manager since removed is none: its node ID, which its machine (given
/// back, adopted again) still holds, would put a poser in the vote.
fn recorded(record: &SwarmRecord) -> (Vec<String>, Option<(&str, std::net::IpAddr)>) {
    let manager = record.current_manager();
    let mut known = record.manager_ids();
    known.extend(manager.map(str::to_string));
    (known, manager.zip(record.bootstrap.ip))
}

/// The one of `members` that leads the cluster's swarm (`record`'s), as
/// `rccr setup` confirms it: of those that say they manage it, the one
/// [`judge`] finds leading among those whose tokens carry the record's
/// CA digest (when it holds none, the one most of them give). A forged
/// token alone leads nothing: `rccr remove` asks only this one.
pub fn confirmed_lead(members: &[Member], record: &SwarmRecord) -> Option<usize> {
    let infos = parallel::map(members, 8, |m| {
        m.call(&Op::Info).ok().map(|v| Info::parse(&v))
    });
    let candidates: Vec<usize> = (0..members.len())
        .filter(|&i| {
            infos[i].as_ref().is_some_and(|info| {
                info.manager
                    && record
                        .cluster
                        .as_ref()
                        .is_none_or(|c| *c == info.cluster_id)
            })
        })
        .collect();
    let reads = parallel::map(&candidates, 4, |&i| read_swarm(&members[i]));
    let expected = match &record.ca {
        Some(ca) => Some(ca.clone()),
        None => majority(&digests(&reads)).ok()?.map(str::to_string),
    };
    let (weighed, judged) = weigh(
        members,
        &candidates,
        &infos,
        &reads,
        expected.as_deref(),
        record,
    );
    judged.leader.map(|w| candidates[weighed[w]])
}

/// The CA digests the join tokens of `reads` carry.
fn digests(reads: &[Result<SwarmView, String>]) -> Vec<&str> {
    reads
        .iter()
        .filter_map(|r| Some(r.as_ref().ok()?.0.as_ref()?.ca.as_str()))
        .collect()
}

/// The manager a run leads through, as [`confirm_leader`] found it.
struct Led {
    leader: usize,
    tokens: JoinTokens,
    view: Vec<SwarmNode>,
    /// Candidates of the cluster's CA contradicted one another: nothing
    /// is done on the leader's word alone that takes a node out of the
    /// swarm or its managers (no heal, no demotion, no removal).
    contested: bool,
    /// It re-formed the swarm this run ([`recover_quorum`]).
    reformed: bool,
}

/// What a candidate with the cluster's CA digest says, for [`judge`]: the
/// node ID it claims, its address, and its swarm's node list.
#[derive(Clone, Copy)]
struct Word<'a> {
    id: &'a str,
    addr: std::net::IpAddr,
    view: &'a [SwarmNode],
}

/// Why [`judge`] refused a candidate (indexes: of the words).
#[derive(Clone, Debug, PartialEq)]
enum Objection {
    /// Its own node list does not list its node ID as a manager that
    /// answers, or lists it at another member's address.
    OwnList,
    /// That candidate lists its node ID at this address, not the
    /// candidate's.
    Elsewhere(usize, std::net::IpAddr),
    /// That candidate does not list its node ID as a manager that answers.
    NotManager(usize),
    /// That candidate claims the same node ID.
    Twice(usize),
    /// Its node list contradicts that candidate's, which leads.
    Contradicts(usize),
    /// The candidates contradict each other, and none leads.
    Unconfirmed,
}

impl Objection {
    fn text(&self, name: impl Fn(usize) -> String) -> String {
        let what = match self {
            Objection::OwnList => {
                "but its own node list does not list its node ID as a manager that answers, at its address".into()
            }
            Objection::Elsewhere(k, addr) => format!(
                "but the swarm as {} tells it lists its node ID at {addr}, not at its address",
                name(*k)
            ),
            Objection::NotManager(k) => format!(
                "but the swarm as {} tells it does not list its node ID as a manager that answers",
                name(*k)
            ),
            Objection::Twice(k) => format!("but {} claims its node ID too", name(*k)),
            Objection::Unconfirmed => "but the candidates to lead it contradict each other".into(),
            Objection::Contradicts(k) => format!(
                "but its node list contradicts that of {}, which the vote confirmed to lead",
                name(*k)
            ),
        };
        format!("claims to lead the cluster's swarm, {what}: left alone")
    }
}

/// The weighing of [`judge`]: the leader (an index of the words) and the
/// candidates refused, each with why.
#[derive(Debug, PartialEq)]
struct Judgement {
    leader: Option<usize>,
    refused: Vec<(usize, Objection)>,
}

/// Which of `words` (candidates whose tokens carry the cluster's CA
/// digest, best first) leads, weighing each one's word against every
/// other's before any is taken. A forged token can carry the right digest
/// (it joins nobody, but the node that gave it would lead the run), and a
/// worker knows every manager's node ID, so:
///
/// - a candidate whose own list does not list its node ID as a manager
///   that answers (raft counts it reachable; a switched-off manager is
///   listed, never reachable), not at another member's address (of
///   `members`), is no witness;
/// - a witness objects to another that claims the same node ID, or whose
///   node ID its list does not list as a manager that answers, or lists
///   at another address than the candidate's (a worker that takes the
///   node ID of a manager that does not answer, or is no member, is
///   objected to; a manager whose address changed is objected to by the
///   others until the swarm lists its new address: the others lead);
/// - the electorate is the witnesses the record knows: their node ID is
///   one of the record's managers (`known`) no other witness claims, or
///   they are the record's `manager` at its address (`creator`: the
///   swarm's creator, then the manager the last uncontested run led
///   through),
///   and no other witness lists it but as a manager that answers; all
///   witnesses when the record knows none of them. A newcomer cannot
///   outvote the record's managers. When no other witness lists a
///   recorded one at all (a handover the record missed, or a poser that
///   leaves the real manager out), all witnesses vote, and only one no
///   other objects to leads;
/// - the leader is the first of the electorate no other of it objects to,
///   or else the first fewer than half of the others object to; none when
///   none is (the candidates contradict each other: all are refused);
/// - every other candidate the leader objects to, or that objects to the
///   leader, is refused.
fn judge(
    words: &[Word],
    members: &[std::net::IpAddr],
    known: &[String],
    creator: Option<(&str, std::net::IpAddr)>,
) -> Judgement {
    let elsewhere =
        |w: &Word, n: &SwarmNode| n.addr.filter(|a| *a != w.addr && members.contains(a));
    // A manager that answers is one raft counts: every manager reads its
    // list through the raft's leader, so a switched-off manager is listed,
    // but never reachable.
    let manages =
        |view: &[SwarmNode], id: &str| view.iter().any(|n| n.id == id && n.manager && n.reachable);
    // Where `k`'s list places `i`'s node ID, when not at `i`'s address.
    let placed = |i: usize, k: usize| {
        let w = &words[i];
        let n = words[k].view.iter().find(|n| n.id == w.id)?;
        Some(Objection::Elsewhere(k, n.addr.filter(|a| *a != w.addr)?))
    };
    let objection = |i: usize, k: usize| {
        let (w, by) = (&words[i], &words[k]);
        placed(i, k).or_else(|| {
            if w.id == by.id {
                return Some(Objection::Twice(k));
            }
            (!manages(by.view, w.id)).then_some(Objection::NotManager(k))
        })
    };
    let consistent = |w: &Word| {
        w.view
            .iter()
            .any(|n| n.id == w.id && n.manager && n.reachable && elsewhere(w, n).is_none())
    };
    let (witnesses, others): (Vec<usize>, Vec<usize>) =
        (0..words.len()).partition(|&i| consistent(&words[i]));
    let mut refused: Vec<(usize, Objection)> = others
        .iter()
        .map(|&i| {
            let elsewhere = witnesses.iter().find_map(|&k| placed(i, k));
            (i, elsewhere.unwrap_or(Objection::OwnList))
        })
        .collect();
    // The record may be out of date (its manager switched off, or handed
    // over): a recorded node ID that another witness lists, but not as a
    // manager that answers, is not the record's word; one that no other
    // witness lists at all is in doubt (a handover the record missed, or
    // a poser that leaves the real manager out look the same): then every
    // witness votes, and only one no other objects to leads.
    let others = |i: usize| witnesses.iter().copied().filter(move |&k| k != i);
    let listing = |i: usize| {
        others(i).filter_map(move |k| words[k].view.iter().find(|n| n.id == words[i].id))
    };
    let in_record = |i: usize| {
        let w = &words[i];
        (creator == Some((w.id, w.addr))
            || (known.iter().any(|id| id == w.id) && !others(i).any(|k| words[k].id == w.id)))
            && listing(i).all(|n| n.manager && n.reachable)
    };
    let doubted =
        |i: usize| in_record(i) && others(i).next().is_some() && listing(i).next().is_none();
    let doubt = witnesses.iter().any(|&i| doubted(i));
    let mut electorate: Vec<usize> = witnesses
        .iter()
        .copied()
        .filter(|&i| in_record(i) && !doubted(i))
        .collect();
    if doubt || electorate.is_empty() {
        electorate = witnesses.clone();
    }
    let objections = |i: usize| -> Vec<Objection> {
        electorate
            .iter()
            .filter(|&&k| k != i)
            .filter_map(|&k| objection(i, k))
            .collect()
    };
    let voters = electorate.len().saturating_sub(1);
    let leader = electorate
        .iter()
        .copied()
        .find(|&i| objections(i).is_empty())
        .or_else(|| {
            electorate
                .iter()
                .copied()
                .filter(|_| !doubt)
                .find(|&i| 2 * objections(i).len() < voters)
        });
    for &i in witnesses.iter().filter(|&&i| Some(i) != leader) {
        let why = match leader {
            Some(l) => {
                objection(i, l).or_else(|| objection(l, i).map(|_| Objection::Contradicts(l)))
            }
            None => (0..words.len())
                .filter(|&k| k != i)
                .find_map(|k| objection(i, k)),
        };
        if let Some(why) = why {
            refused.push((i, why));
        } else if leader.is_none() {
            refused.push((i, Objection::Unconfirmed));
        }
    }
    refused.sort_by_key(|(i, _)| *i);
    Judgement { leader, refused }
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

/// What a run may do when no candidate reads the cluster's swarm and
/// one says it has no leader ([`no_leader`]).
#[derive(Debug, PartialEq)]
enum NoLeader {
    /// Two members claim the same node ID: one poses as the other, and
    /// without a leader nothing tells which.
    Twice(usize, usize),
    /// A majority of the managers answer: their raft elects a leader (it
    /// has none for a while after a power cut).
    Electing { alive: usize, total: usize },
    /// Too few answer for raft to elect one: the quorum is lost.
    Lost { alive: usize, total: usize },
}

/// [`NoLeader`], from the node IDs the members that answer as the swarm's
/// managers claim (`claims`: member, node ID), the managers the record
/// knows (`known`), and how many managers the one that would re-form it
/// says there are (`told`: its word, counted only when the record knows
/// none, so that a poser cannot make the answering managers look few).
fn no_leader(claims: &[(usize, &str)], known: &[String], told: usize) -> NoLeader {
    for (k, (i, id)) in claims.iter().enumerate() {
        let twin = claims[k + 1..]
            .iter()
            .find(|(_, other)| !id.is_empty() && other == id);
        if let Some((j, _)) = twin {
            return NoLeader::Twice(*i, *j);
        }
    }
    let alive = claims.len();
    let mut recorded: Vec<&str> = known.iter().map(String::as_str).collect();
    recorded.sort_unstable();
    recorded.dedup();
    let total = if recorded.is_empty() {
        told
    } else {
        recorded.len()
    }
    .max(alive);
    if 2 * alive > total {
        NoLeader::Electing { alive, total }
    } else {
        NoLeader::Lost { alive, total }
    }
}

/// The first of `managers` whose engine reads the swarm's nodes within
/// 30 s: an election in progress (managers still starting) looks like a
/// lost quorum until it ends.
fn reads_within(members: &[Member], managers: &[usize]) -> Option<usize> {
    within_raft_time(RAFT_TIME, || {
        let reads = parallel::map(managers, 4, |&i| members[i].call(&Op::Nodes).is_ok());
        let k = reads.iter().position(|&read| read)?;
        Some(managers[k])
    })
}

/// The cluster's swarm lost its quorum: too few managers answer to agree
/// on anything. With the operator's word (`--yes`, or typed), the manager
/// that leads this run starts a new raft from its own copy of the swarm
/// (`--force-new-cluster`: same swarm ID, nodes and services); the other
/// managers are left for later runs ([`set_aside_managers`]). Without it,
/// it says so and stops. Never while a majority of the managers answer,
/// nor while two claim one node ID ([`no_leader`]), nor when a manager
/// reads the swarm again within 30 s of the operator's word.
fn recover_quorum(
    members: &[Member],
    infos: &[Option<Info>],
    leader: usize,
    known: &[String],
    settings: &Settings,
    formed: &mut Formed,
) -> Result<Option<SwarmView>, Error> {
    let cluster = formed.swarm.cluster.clone().unwrap_or_default();
    let claims: Vec<(usize, &str)> = infos
        .iter()
        .enumerate()
        .filter_map(|(i, info)| {
            let info = info.as_ref()?;
            (info.manager && (info.cluster_id == cluster || known.contains(&info.node_id)))
                .then_some((i, info.node_id.as_str()))
        })
        .collect();
    let told = infos[leader].as_ref().map_or(0, |i| i.managers as usize);
    let lead = &members[leader];
    let (alive, total) = match no_leader(&claims, known, told) {
        NoLeader::Twice(i, j) => {
            formed.layers[leader] = Layer::Failed(format!(
                "the swarm has no leader, and {} and {} both claim the node ID {}: one poses as the other, so the swarm is not re-formed (ask each: docker info)",
                members[i].name(),
                members[j].name(),
                print::text(claims.iter().find(|(k, _)| *k == i).map_or("", |c| c.1))
            ));
            return Ok(None);
        }
        NoLeader::Electing { alive, total } => {
            formed.layers[leader] = Layer::Failed(format!(
                "the swarm has no leader yet, but {alive} of {total} managers answer, a majority: raft will elect one; run rccr setup again in a minute"
            ));
            return Ok(None);
        }
        NoLeader::Lost { alive, total } => (alive, total),
    };
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
    let answering: Vec<usize> = claims.iter().map(|(i, _)| *i).collect();
    if let Some(reader) = reads_within(members, &answering) {
        formed.layers[leader] = Layer::Failed(format!(
            "the swarm has a leader again ({} reads it): not re-formed; run rccr setup again",
            members[reader].name()
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

/// In a run that re-formed the swarm, the other members that say they
/// manage are left out of the run as they are, not healed: the re-formed
/// swarm is one manager's word that no other confirms (a member posing as
/// the recorded manager re-forms as well as the real one), and healing
/// would make them leave, wiping what may be the last copy of the swarm's
/// raft. Later runs weigh the re-formed swarm's word against theirs
/// ([`judge`]) before any is healed into it.
fn set_aside_managers(
    infos: &mut [Option<Info>],
    leader: usize,
    leader_name: &str,
    layers: &mut [Layer],
) {
    for (i, info) in infos.iter_mut().enumerate() {
        if i != leader && info.as_ref().is_some_and(|info| info.manager) {
            *info = None;
            layers[i] = Layer::Failed(format!(
                "a manager while the swarm had no leader: left as it is, as the swarm was re-formed from {leader_name} this run (run rccr setup again)"
            ));
        }
    }
}

/// A member's node ID is its engine's word, and every change this layer
/// makes to a swarm node (its removal when broken, its role, its labels)
/// goes to the node of that ID. Of `claims` (member, the node ID it
/// says it has), those whose entry in the swarm's `view` is not the
/// member's own by the one rule ([`claim::whose`]; `members`: a member's
/// name and address; `inventory`: every inventory node; the other members
/// claiming the same ID count against it), with that other node's name
/// (escaped): they are left out of the run, so that a node's lie lands on
/// no other node, in the inventory or not. Nothing else checks this claim
/// before setup removes, relabels or promotes the node. The leader's word
/// is the swarm's, and an empty ID claims nothing.
fn false_claims<'m>(
    members: &dyn Fn(usize) -> (&'m str, std::net::IpAddr),
    claims: &[(usize, String)],
    leader: usize,
    view: &[SwarmNode],
    inventory: &[claim::Node<'m>],
) -> Vec<(usize, String)> {
    let mut refused = Vec::new();
    for (i, id) in claims
        .iter()
        .filter(|(i, id)| *i != leader && !id.is_empty())
    {
        let (name, addr) = members(*i);
        let entry = view.iter().find(|n| n.id == *id).map(|n| claim::Entry {
            name: &n.hostname,
            addr: n.addr,
        });
        let tellers: Vec<&str> = claims
            .iter()
            .filter(|(j, other)| j != i && other == id)
            .map(|(j, _)| members(*j).0)
            .collect();
        let whose = claim::whose(claim::Node { name, addr }, entry, inventory, &tellers);
        if let Some(other) = whose.other() {
            refused.push((*i, other.into_owned()));
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

/// Reports a member [`false_claims`] refused, after what the run did there.
fn claims_another(layer: &mut Layer, other: &str) {
    layer.fail_after(format!("claims the swarm node ID of {other}: left alone"));
}

/// Reports a role or label change `done` (its past: "promoted to
/// manager") that the lead refused for `e`, after what the run did there.
fn set_failed(layer: &mut Layer, done: &str, e: &str) {
    layer.fail_after(format!("{done}: failed: {}", print::text(e)));
}

/// Members whose swarm membership broke are made to join again: a node
/// that lost its swarm state (a diskless node after a reboot) left an entry
/// that is down; a manager the swarm cannot reach while it answers us, or
/// an engine whose swarm is pending or in error with a node ID the swarm
/// lists (one in another swarm is left alone), left its raft (a power
/// cut, a re-formed swarm); a raft member unreachable and a pending worker
/// only when still so after raft's time, and never on a reading that
/// failed ([`came_back`]). Each leaves what it has,
/// its stale entry is removed, and it joins again as the layer decides
/// below. The IDs of the entries it removed (the view still lists them).
fn heal(
    members: &[Member],
    infos: &mut [Option<Info>],
    leader: usize,
    view: &[SwarmNode],
    formed: &mut Formed,
) -> Vec<String> {
    let mut removed = Vec::new();
    let lead = &members[leader];
    // Decided on their fresh readings: the view still lists them broken.
    let spared = came_back(members, infos, leader, view);
    for (i, info) in &spared {
        if let Some(info) = info {
            infos[*i] = Some(info.clone());
        }
    }
    for (i, member) in members.iter().enumerate() {
        let Some(info) = infos[i].as_ref() else {
            continue;
        };
        if i == leader {
            continue;
        }
        let (broken, mine, stale) = breaks(info, &member.record.hostname, view);
        let broken = broken && !spared.iter().any(|(j, _)| *j == i);
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
            removed.push(old.id.clone());
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
    removed
}

/// Whether the membership of the swarm `view` lists that a member named
/// `hostname` has (its engine tells `info`) broke, its entry, and its
/// stale entries (down, under its name, another node ID).
fn breaks<'a>(
    info: &Info,
    hostname: &str,
    view: &'a [SwarmNode],
) -> (bool, Option<&'a SwarmNode>, Vec<&'a SwarmNode>) {
    let mine = view.iter().find(|n| n.id == info.node_id);
    let stale: Vec<&SwarmNode> = view
        .iter()
        .filter(|n| n.hostname == hostname && n.id != info.node_id && n.status == "down")
        .collect();
    let broken = match info.state {
        // Only its own entry tells that the cluster's membership broke: an
        // old entry with its name (its own word) is removed, no more; a
        // node pending or in error in another swarm is left alone.
        SwarmState::Error | SwarmState::Pending => mine.is_some(),
        SwarmState::Active => mine.is_some_and(|n| n.manager && !n.reachable),
        _ => false,
    };
    (broken, mine, stale)
}

/// Whether a member named `hostname` whose membership looked broken in
/// `view` (its engine told `before`) is healed, decided on the readings
/// taken once raft had its time: the leader's list `nodes` and what its
/// engine tells `now` (`None`: that reading failed, and it waits for
/// another run: a heal wipes a manager's copy of the raft). One that
/// changed its node ID meanwhile is decided on `view`, as before its wait.
fn heals(
    before: &Info,
    hostname: &str,
    view: &[SwarmNode],
    nodes: Option<&[SwarmNode]>,
    now: Option<&Info>,
) -> bool {
    match (nodes, now) {
        (Some(nodes), Some(now)) if now.node_id == before.node_id => breaks(now, hostname, nodes).0,
        (Some(_), Some(_)) => breaks(before, hostname, view).0,
        _ => false,
    }
}

/// Of the members whose membership looks broken in `view` on one reading
/// that may pass (a manager, a member of the raft that cannot reach it
/// while it answers us: its engine just restarted; a worker whose engine
/// is still pending: it reconnects after a leader change), those that are
/// not healed ([`heals`]): once raft had its time, the leader's list and
/// their engines are read again. With what their engines tell now (the
/// same node ID), when they told it. A heal wipes a manager's copy of the
/// raft, and a whole member healed takes fault tolerance away.
fn came_back(
    members: &[Member],
    infos: &[Option<Info>],
    leader: usize,
    view: &[SwarmNode],
) -> Vec<(usize, Option<Info>)> {
    // Of the members that look broken, the pending workers, and the
    // managers (entries listed as one).
    let looks_broken = |i: usize, manager: bool| {
        i != leader
            && infos[i].as_ref().is_some_and(|info| {
                let (broken, mine, _) = breaks(info, &members[i].record.hostname, view);
                let listed = mine.is_some_and(|n| n.manager);
                broken
                    && listed == manager
                    && (manager || info.state == SwarmState::Pending)
                    && matches!(info.state, SwarmState::Active | SwarmState::Pending)
            })
    };
    let mut suspects: Vec<usize> = (0..members.len())
        .filter(|&i| looks_broken(i, false))
        .collect();
    let mut spared: Vec<(usize, Option<Info>)> = Vec::new();
    // A manager comes back by itself only while raft lists it as a member
    // it cannot reach: one listed without a membership (a promotion raft
    // never took, a raft re-formed without it) never does, and a manager
    // of a raft re-formed without it is healed at once, before its old
    // raft elects a leader of its own and contends with the swarm's (seen
    // in the lab when it waited). One raft reaches again is whole, and
    // none is healed on a list that cannot be read.
    let unreachable: Vec<usize> = (0..members.len())
        .filter(|&i| looks_broken(i, true))
        .collect();
    if !unreachable.is_empty() {
        match members[leader].call(&Op::Nodes) {
            Ok(list) => {
                for i in unreachable {
                    let id = infos[i].as_ref().map_or("", |info| info.node_id.as_str());
                    match reachability(&list, id) {
                        "unreachable" => suspects.push(i),
                        "reachable" => spared.push((i, None)),
                        _ => {}
                    }
                }
            }
            Err(_) => spared.extend(unreachable.into_iter().map(|i| (i, None))),
        }
    }
    if suspects.is_empty() {
        return spared;
    }
    let mut verdicts: Vec<(usize, bool, Option<Info>)> = Vec::new();
    within_raft_time(RAFT_TIME, || {
        let nodes = members[leader]
            .call(&Op::Nodes)
            .ok()
            .map(|v| SwarmNode::parse_list(&v));
        let now = parallel::map(&suspects, 8, |&i| {
            members[i].call(&Op::Info).ok().map(|v| Info::parse(&v))
        });
        verdicts = suspects
            .iter()
            .zip(now)
            .filter_map(|(&i, now)| {
                let before = infos[i].as_ref()?;
                let hostname = &members[i].record.hostname;
                let heal = heals(before, hostname, view, nodes.as_deref(), now.as_ref());
                let now = now.filter(|now| now.node_id == before.node_id);
                Some((i, heal, now))
            })
            .collect();
        let whole = nodes.is_some() && verdicts.iter().all(|(_, heal, now)| !heal && now.is_some());
        whole.then_some(())
    });
    spared.extend(
        verdicts
            .into_iter()
            .filter(|(_, heal, _)| !heal)
            .map(|(i, _, now)| (i, now)),
    );
    spared
}

/// What a run says once it rotated the worker join token.
pub const ROTATED: &str = "rotated the worker join token a docker CLI join showed";
/// What a run says once it rotated the manager join token.
pub const ROTATED_MANAGER: &str =
    "rotated the manager join token a node that is no manager was sent";

/// A join through a docker CLI (a node without rccr) showed the worker
/// token in that node's process list: the swarm gets a new one through
/// `lead`, so the one read there joins nothing more (nodes that joined
/// stay). `Err`: why not, and what to do, for the run's failures.
pub fn retire_worker_token(lead: &Member) -> Result<(), String> {
    retire_token(lead, false, "worker join token a docker CLI join showed")
}

/// What a removal says once it rotated the manager join token.
pub const ROTATED_KNOWN: &str = "rotated the manager join token it knew";

/// A manager left the cluster (`rccr remove`): it knows the manager
/// token, which makes any machine a manager, so the swarm gets a new one
/// through `lead`. `Err`: why not, and what to do.
pub fn retire_known_manager_token(lead: &Member) -> Result<(), String> {
    retire_token(lead, true, "manager join token a removed manager knew")
}

/// What a run says once it rotated the manager join token a manager it
/// demoted knew.
pub const ROTATED_DEMOTED: &str = "rotated the manager join token a demoted manager knew";

/// Who may keep the manager join token once a run is done.
#[derive(Clone, Copy)]
enum Kept {
    /// A node sent it ended the run no manager ([`sent_to_no_manager`]).
    Sent,
    /// A manager the run demoted (pinned `manager: false`, fewer managers
    /// wanted, or for parity), or tried to, knew it.
    Demoted,
}

/// Someone [`Kept`] the manager token, which makes any machine a
/// manager: the swarm gets a new one through `lead` (what `leader`'s
/// layer says), or the run fails with what to do.
fn retire_manager_token(
    lead: &Member,
    formed: &mut Formed,
    leader: usize,
    kept: Kept,
    left: &[&str],
) {
    let (token, said) = match kept {
        Kept::Sent => (
            "manager join token a node that is no manager was sent",
            ROTATED_MANAGER,
        ),
        Kept::Demoted => ("manager join token a demoted manager knew", ROTATED_DEMOTED),
    };
    // The raft replicates the new token to every member still in it: not
    // before the nodes demoted or removed are out (a raft leader demoted
    // hands its leadership over first, which a rotation meanwhile fails).
    let unsettled = if left.is_empty() {
        None
    } else {
        let last = settle::wait_until(lead, |view| settle::left_raft(view, left));
        settle::unsettled(last.as_deref(), left)
    };
    // Rotated all the same: the token stays no longer good for every
    // other node that knew it; the one still in the raft may have the new
    // one, which the run says.
    let waited = settle::DRAIN.as_secs();
    let rotated = match (unsettled, retire_token(lead, true, token)) {
        (Some(why), Ok(())) => Err(format!(
            "the {token} is rotated, but after {waited} s {why}, which may hold the new one: \
             once docker node ls shows them no manager status, run docker swarm join-token \
             --rotate manager on a manager that stays (Leader or Reachable, not one demoted)"
        )),
        (Some(why), Err(e)) => Err(format!("{e}; after {waited} s {why}")),
        (None, rotated) => rotated,
    };
    match rotated {
        Ok(()) => formed.layers[leader].add(said.into()),
        Err(e) => {
            let worker = formed.unrotated.take().map(|w| w + "; ");
            formed.unrotated = Some(worker.unwrap_or_default() + &e);
        }
    }
}

/// Rotates the `manager` (else worker) join token through `lead`;
/// `token` names it in the error.
fn retire_token(lead: &Member, manager: bool, token: &str) -> Result<(), String> {
    let rotated = lead.call(&Op::Tokens).and_then(|swarm| {
        let (spec, version) = match api::swarm_spec(&swarm) {
            Some(found) => found,
            // Its docker command reads them itself.
            None if lead.via() == Via::Cli => (&Value::Null, 0),
            None => return Err("the manager told no swarm spec to send back".into()),
        };
        lead.call(&Op::RotateToken {
            manager,
            spec,
            version,
        })
    });
    // A manager demoted may still be one (its demotion failed, or the
    // raft has not let it go yet): not the one to rotate it on.
    let (role, on) = if manager {
        (
            "manager",
            "a manager that stays (Leader or Reachable, not one demoted)",
        )
    } else {
        ("worker", "a manager")
    };
    rotated.map(drop).map_err(|e| {
        format!(
            "the {token} is not rotated ({}): \
             run docker swarm join-token --rotate {role} on {on}",
            print::text(&e)
        )
    })
}

/// Whether a member of `sent`, those sent the manager join token, ended
/// the run no manager: its join failed or its claim was refused (no
/// entry in `node_ids`), or it was made a worker again (`uncounted`: raft
/// never counted it, or for parity).
fn sent_to_no_manager(sent: &[usize], node_ids: &[(usize, String)], uncounted: &[usize]) -> bool {
    sent.iter()
        .any(|i| uncounted.contains(i) || !node_ids.iter().any(|(j, _)| j == i))
}

/// Where nodes join a manager at `ip`: its swarm port, an IPv6 address in
/// brackets (Docker splits host and port there).
pub fn manager_addr(ip: std::net::IpAddr) -> String {
    std::net::SocketAddr::new(ip, 2377).to_string()
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
/// Never an even number when it can be helped (see [`choose_led`]).
pub fn choose_managers(
    candidates: &[usize],
    fit: &[Fitness],
    pins: &[Option<bool>],
    is_manager: &dyn Fn(usize) -> bool,
    wanted: usize,
) -> Vec<usize> {
    choose_led(candidates, fit, pins, is_manager, wanted, None, 0)
}

/// Which of `workers` (their fitness, `pins` as in [`choose_managers`])
/// to promote when `managers` of the nodes that stay manage and `wanted`
/// are wanted: pinned ones first, then the fittest, never one pinned a
/// worker or ARMv6, and as many as make the managers odd (unless `wanted`
/// is, as the config asked, even). None when they are enough.
pub fn promotions(
    managers: usize,
    wanted: usize,
    fit: &[Fitness],
    pins: &[Option<bool>],
) -> Vec<usize> {
    if managers >= wanted {
        return Vec::new();
    }
    let workers: Vec<usize> = (0..fit.len()).collect();
    let choose = |take: usize| choose_managers(&workers, fit, pins, &|_| false, take);
    let even = |chosen: &[usize]| {
        let count = managers + chosen.len();
        count.is_multiple_of(2) && count != wanted
    };
    let mut take = wanted - managers;
    let mut chosen = choose(take);
    // One fewer, the least fit left out, while that makes them even.
    while even(&chosen) && take > 0 {
        take = take.min(chosen.len()).saturating_sub(1);
        chosen = choose(take);
    }
    chosen
}

/// Whether a member whose engine tells `info` manages, as the lead's list
/// `view` has its (checked) node ID: its role there, not its engine's
/// `ControlAvailable`, which is its own word (a worker saying it manages
/// would rank as a sitting manager). Its role, not whether raft reaches
/// it: one that came back after [`heal`]'s wait still manages.
fn listed_manager(view: &[SwarmNode], info: Option<&Info>) -> bool {
    info.is_some_and(|info| view.iter().any(|n| n.id == info.node_id && n.manager))
}

/// [`choose_managers`], with `leader`, the manager the run talks through
/// (which it cannot demote), chosen first whatever its pin or fitness, and
/// counted. With the `others` managers the run leaves as they are (not
/// among the candidates), the count is odd unless `wanted` is even (the
/// config's `swarm.managers`, taken as asked): raft needs a majority, and
/// two managers stop the swarm when either fails, worse than one. So a
/// choice that falls short of `wanted` to an even count (too few fit
/// nodes) leaves out the last one it took, and one that pins alone make
/// even takes one more when it can.
fn choose_led(
    candidates: &[usize],
    fit: &[Fitness],
    pins: &[Option<bool>],
    is_manager: &dyn Fn(usize) -> bool,
    wanted: usize,
    leader: Option<usize>,
    others: usize,
) -> Vec<usize> {
    let pin = |i: usize| pins.get(i).copied().flatten();
    let mut chosen: Vec<usize> = leader.into_iter().collect();
    chosen.extend(
        candidates
            .iter()
            .copied()
            .filter(|&i| pin(i) == Some(true) && Some(i) != leader),
    );
    let fixed = chosen.len();
    let mut rest: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| pin(i).is_none() && fit[i].eligible && Some(i) != leader)
        .collect();
    // Current managers first (no churn), each group fittest first, then in
    // inventory order.
    rest.sort_by_key(|&i| (!is_manager(i), std::cmp::Reverse(fit[i]), i));
    let mut rest = rest.into_iter();
    while chosen.len() < wanted {
        let Some(i) = rest.next() else { break };
        chosen.push(i);
    }
    let count = chosen.len() + others;
    if count.is_multiple_of(2) && count != wanted {
        if chosen.len() > fixed {
            chosen.pop();
        } else {
            chosen.extend(rest.next());
        }
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
    inventory: &[NodeRecord],
    fit: &[Fitness],
    settings: &Settings,
    infos: &mut [Option<Info>],
    record: &mut SwarmRecord,
    formed: &mut Formed,
    record_path: &Path,
) -> Result<Vec<usize>, Error> {
    // A manager of the cluster's swarm by its ID, or, when it cannot tell
    // its swarm (it lost its quorum), by its node ID.
    let (known, _) = recorded(record);
    let manages = |info: &Option<Info>, cluster: &str| {
        info.as_ref().is_some_and(|info| {
            info.manager
                && (info.cluster_id == cluster
                    || (info.cluster_id.is_empty() && known.contains(&info.node_id)))
        })
    };
    // A swarm this control started, whose ID it may not have recorded yet
    // (a run killed right after creating it): on the node it chose, not
    // another given its address.
    if record.cluster.is_none() {
        if let Some(i) = (0..members.len()).find(|&i| {
            record.bootstraps(members[i].record, inventory)
                && infos[i].as_ref().is_some_and(|info| info.manager)
        }) {
            let member = &members[i];
            match record.bootstrap.ip.filter(|old| *old != member.record.ip) {
                // Matched by its host key alone, on a new lease: never
                // adopted there (raft may know its manager only at `old`,
                // where no manager joining could reach it), nor left
                // (nothing shows it is the swarm made at `old`, nor that
                // it holds nothing of the operator's). Asks its engine
                // nothing.
                Some(old) => {
                    formed.layers[i] = Layer::Failed(moved_unrecorded(old));
                    return Ok(Vec::new());
                }
                None => {
                    let info = infos[i].as_ref().expect("a manager has an engine");
                    if !record_created(record, info, record_path)? {
                        formed.layers[i] = created_no_id();
                        return Ok(Vec::new());
                    }
                }
            }
        }
    }
    if let Some(cluster) = record.cluster.clone() {
        // Prefer the manager the last run led through (the one that
        // created it, at first), then any other.
        let created = |i: &usize| {
            infos[*i]
                .as_ref()
                .is_some_and(|info| Some(info.node_id.as_str()) == record.current_manager())
        };
        let mut managing: Vec<usize> = (0..members.len())
            .filter(|&i| manages(&infos[i], &cluster))
            .collect();
        // A manager pinned as a worker leads only when no other can: the
        // leader is never demoted by the run it leads.
        let pinned_out = |i: &usize| settings.pins.get(*i).copied().flatten() == Some(false);
        managing.sort_by_key(|i| (pinned_out(i), !created(i)));
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
    record.bootstrap = Bootstrap {
        ip: Some(members[bootstrap].record.ip),
        key: members[bootstrap].record.host_key.clone(),
    };
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

/// Why the node the record chose to create the swarm, found by its host
/// key on a new address while the record tells no swarm ID, is left
/// alone, and the remedy. Its swarm may be the one a run killed after
/// `swarm init` left at `old` (raft then knows its manager only there),
/// or one made since and holding the operator's secrets, configs,
/// networks: only the operator can tell, so no run leaves it.
fn moved_unrecorded(old: std::net::IpAddr) -> String {
    format!(
        "manages a swarm no run recorded, and was chosen to create the cluster's swarm at {old} (a run killed before recording it?): neither adopted here (raft may know its manager only at {old}) nor left (it may hold what is yours): left alone, no swarm created; give it back {old} (a fixed DHCP lease) and run rccr setup again to adopt that swarm, or, if nothing in that swarm is yours, docker swarm leave --force on it and run rccr setup again"
    )
}

/// Records the swarm the bootstrap node `info` tells of as the cluster's:
/// its ID and the creating manager's node ID. Only IDs (`[a-z0-9]`, which
/// the record's reader takes): an engine that tells none (an empty or
/// malformed answer parses as "") gets nothing recorded, so that no later
/// run stops on the record. False when it told none. The creator's host
/// key, needed only until the ID is recorded, goes: the `bootstrap` line
/// is then a bare address, which an older rccr reads too.
fn record_created(record: &mut SwarmRecord, info: &Info, path: &Path) -> Result<bool, Error> {
    use crate::docker::api::is_id;
    if !is_id(&info.cluster_id) || !is_id(&info.node_id) {
        return Ok(false);
    }
    record.cluster = Some(info.cluster_id.clone());
    record.manager = Some(info.node_id.clone());
    record.bootstrap.key = None;
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
        let status = if manager {
            r#","ManagerStatus":{"Reachability":"reachable"}"#
        } else {
            ""
        };
        let text = format!(
            r#"[{{"ID":"{id}","Version":{{"Index":1}},"Description":{{"Hostname":"{id}"}},
                "Spec":{{"Role":"{role}","Labels":{{{labels}}}}},
                "Status":{{"State":"ready","Addr":"{addr}"}}{status}}}]"#
        );
        let list = crate::json::Value::parse(text.as_bytes()).unwrap();
        SwarmNode::parse_list(&list).remove(0)
    }

    /// A manager entry at 10.0.0.`host`, which raft counts when `counted`.
    fn manager(id: &str, host: u8, counted: bool) -> SwarmNode {
        let mut n = node(id, &format!("10.0.0.{host}"), true, "");
        n.reachable = counted;
        n
    }

    #[test]
    fn managers_are_recorded_at_their_raft_address() {
        let list = crate::json::Value::parse(
            br#"[{"ID":"f","Version":{"Index":1},"Spec":{"Role":"manager"},
                  "Status":{"Addr":"10.0.0.12"},"ManagerStatus":{"Addr":"10.0.0.22:2377"}},
                 {"ID":"l","Version":{"Index":1},"Spec":{"Role":"manager"},
                  "Status":{"Addr":"127.0.0.1"},"ManagerStatus":{"Leader":true}},
                 {"ID":"o","Version":{"Index":1},"Spec":{"Role":"manager"},
                  "Status":{"Addr":"10.0.0.3"}},
                 {"ID":"w","Version":{"Index":1},"Spec":{"Role":"worker"},
                  "Status":{"Addr":"10.0.0.4"}}]"#,
        )
        .unwrap();
        let recorded: Vec<String> = recorded_managers(SwarmNode::parse_list(&list))
            .iter()
            .map(|m| format!("{}@{:?}", m.id, m.addr))
            .collect();
        // A follower at its raft address, not the other card it left
        // from; an older engine's leader at loopback at none; without a
        // raft address, where the leader sees it; no worker.
        assert_eq!(
            recorded,
            ["f@Some(10.0.0.22)", "l@None", "o@Some(10.0.0.3)"]
        );
    }

    /// Whether an entry is of a member that answered: at 10.0.0.1-4.
    fn answered(n: &SwarmNode) -> bool {
        matches!(n.addr, Some(std::net::IpAddr::V4(a)) if a.octets()[3] < 5)
    }

    /// Managers l and b, which raft counts, and c, which it does not.
    fn l_b_and_c_uncounted() -> [SwarmNode; 3] {
        [
            manager("l", 1, true),
            manager("b", 2, true),
            manager("c", 3, false),
        ]
    }

    #[test]
    fn a_failed_manager_join_takes_back_the_manager_it_would_leave_even() {
        // l led; b joined as a manager; c's join failed, leaving an entry
        // raft does not count (c answered: it is no manager switched off).
        let nodes = l_b_and_c_uncounted();
        let kept = keep_odd(&nodes, &["b"], &["l", "b"], "l", 3, &answered, &none);
        let want = KeptOdd {
            uncounted: vec![],
            behind: vec![],
            demote: Some("b"),
            managers: 2,
        };
        assert_eq!(kept, want);
    }

    /// [`keep_odd`] over [`l_b_and_c_uncounted`], once the run made b
    /// and c, with the raft members `in_raft` tells.
    fn made_b_and_c(in_raft: &dyn Fn(&str) -> bool) -> KeptOdd<'static> {
        let nodes = l_b_and_c_uncounted();
        keep_odd(
            &nodes,
            &["b", "c"],
            &["l", "b", "c"],
            "l",
            3,
            &answered,
            in_raft,
        )
    }

    #[test]
    fn a_promotion_raft_never_counts_is_taken_back_and_the_newest_with_it() {
        let nodes = l_b_and_c_uncounted();
        let kept = made_b_and_c(&none);
        assert_eq!(kept.uncounted, ["c"]);
        assert_eq!(kept.demote, Some("b"));
        // 3 to 5: the fourth counted, the fifth not: the fourth goes.
        let mut five = nodes.to_vec();
        five[2].reachable = true;
        five.extend([manager("d", 4, true), manager("e", 5, false)]);
        let kept = keep_odd(
            &five,
            &["d", "e"],
            &["l", "b", "c", "d", "e"],
            "l",
            5,
            &|_| true,
            &none,
        );
        assert_eq!((kept.uncounted, kept.demote), (vec!["e"], Some("d")));
    }

    #[test]
    fn a_switched_off_manager_counts_so_no_live_one_is_demoted_into_a_lost_quorum() {
        // d, a manager switched off (no member answered for it), is still
        // one of raft's three: demoting b would leave l and d, one alive.
        let nodes = [
            manager("l", 1, true),
            manager("b", 2, true),
            manager("d", 9, false),
        ];
        let kept = keep_odd(&nodes, &["x"], &["l", "b", "x"], "l", 3, &answered, &none);
        assert_eq!(kept.uncounted, ["x"]);
        assert_eq!(kept.demote, None);
        assert_eq!(kept.managers, 3);
        // x, its replacement, counts: raft has l, b, d and x. Demoting x
        // for parity undid the replacement on every run.
        let mut four = nodes.to_vec();
        four.push(manager("x", 4, true));
        let kept = keep_odd(&four, &["x"], &["l", "b", "x"], "l", 3, &answered, &none);
        assert_eq!(kept.uncounted, Vec::<&str>::new());
        assert_eq!(kept.demote, None);
    }

    /// Raft has no member for any: a promotion it never took.
    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn a_manager_made_that_raft_lists_but_cannot_reach_stays_and_counts() {
        // c, promoted, is a raft member the leader cannot reach (its
        // manager down, its port 2377 cut): raft may need it for its
        // quorum, so it stays, and counts. Before: it was demoted again
        // on every run, and b with it for parity.
        let kept = made_b_and_c(&|id| id == "c");
        let want = KeptOdd {
            uncounted: vec![],
            behind: vec!["c"],
            demote: None,
            managers: 3,
        };
        assert_eq!(kept, want);
        // x replaces d, switched off, and is behind: raft has four.
        let mut four = l_b_and_c_uncounted().to_vec();
        four[2] = manager("d", 9, false);
        four.push(manager("x", 4, false));
        let in_raft = |id: &str| id == "x" || id == "d";
        let kept = keep_odd(&four, &["x"], &["l", "b", "x"], "l", 3, &answered, &in_raft);
        assert_eq!(
            (kept.behind, kept.demote, kept.managers),
            (vec!["x"], None, 4)
        );
    }

    #[test]
    fn a_manager_raft_cannot_reach_blocks_a_parity_demotion() {
        // Pins moved: l, b and c wanted, z (unwanted, live) not demoted
        // yet; c, promoted, is listed but not reached. Raft has four, one
        // unreached: demoting b (wanted, live) left l, c and z, no
        // failure tolerated. A raft with a member it cannot reach is
        // never shrunk for parity, as with one switched off.
        let mut nodes = l_b_and_c_uncounted().to_vec();
        nodes.push(manager("z", 5, true));
        let in_raft = |id: &str| id == "c";
        let kept = keep_odd(
            &nodes,
            &["c"],
            &["l", "b", "c"],
            "l",
            3,
            &|_| true,
            &in_raft,
        );
        assert_eq!((kept.behind, kept.demote), (vec!["c"], None));
    }

    /// What the run made there: two managers joined, one promoted.
    fn made_here() -> [Layer; 3] {
        [
            Layer::Changed(vec!["joined as manager".into(), "labelled".into()]),
            Layer::Changed(vec!["promoted to manager".into()]),
            Layer::Unchanged,
        ]
    }

    #[test]
    fn a_made_manager_raft_cannot_reach_fails_the_run_and_stays_a_manager() {
        // Not a change: raft's tolerance is down by one, or its quorum
        // lost, until the node is reached; the run says so (exit 1), and
        // that it made the node a manager. Before: only the failure, as
        // for a manager an earlier run made.
        let [mut layer, ..] = made_here();
        Counted::Behind.onto(&mut layer);
        assert!(layer.failed(), "{layer:?}");
        let said = layer.text();
        assert!(said.contains("raft cannot reach it"), "{said}");
        assert!(said.contains("not demoted"), "{said}");
        assert!(
            said.ends_with("; done: joined as manager, labelled"),
            "{said}"
        );
    }

    #[test]
    fn a_made_manager_raft_does_not_count_fails_with_what_was_done() {
        // On the manager the run promoted.
        let counted = |how: Counted| {
            let [_, mut layer, _] = made_here();
            how.onto(&mut layer);
            layer.text()
        };
        assert_eq!(
            counted(Counted::Uncounted(Ok(()))),
            "FAILED: promoted but not in the raft after 30 s: a worker again \
             (run rccr setup again); done: promoted to manager"
        );
        assert_eq!(
            counted(Counted::Uncounted(Err("refused"))),
            "FAILED: promoted but not in the raft after 30 s, and not made a \
             worker again: refused; done: promoted to manager"
        );
        assert_eq!(
            counted(Counted::Parity(3, Err("refused"))),
            "FAILED: not demoted to worker again (the raft is left with an even \
             count of managers): refused; done: promoted to manager"
        );
        // One demoted for parity says so among its changes.
        let [mut layer, ..] = made_here();
        Counted::Parity(3, Ok(())).onto(&mut layer);
        assert_eq!(
            layer.text(),
            "changed: joined as manager, labelled, \
             demoted to worker again, so the raft keeps an odd count of managers (3)"
        );
    }

    /// The lead gave no node list while raft had its time to count the
    /// run's new managers. Before: they stayed managers, nothing failed,
    /// and the run could end 0 with the raft even, unchecked.
    #[test]
    fn managers_made_fail_when_the_raft_cannot_be_read_to_check_them() {
        let read = || None;
        let mut count = RaftCount::new(&read, &["a", "b"], std::time::Duration::ZERO);
        assert!(!count.all());
        let mut layers = made_here();
        let made = [(0, "a".to_string()), (1, "b".to_string())];
        assert_eq!(raft_read(count, &made, &mut layers), None);
        for (layer, done) in layers
            .iter()
            .zip(["joined as manager, labelled", "promoted to manager"])
        {
            let said = layer.text();
            assert!(
                said.starts_with("FAILED: made a manager, but the raft could not be read"),
                "{said}"
            );
            assert!(said.ends_with(&format!("; done: {done}")), "{said}");
        }
        assert_eq!(layers[2], Layer::Unchanged);
        // A run that made none (a second one) fails nobody for it.
        let count = RaftCount::new(&read, &["a", "b"], std::time::Duration::ZERO);
        let mut layers = [Layer::Unchanged, Layer::Unchanged];
        assert_eq!(raft_read(count, &[], &mut layers), None);
        assert_eq!(layers, [Layer::Unchanged, Layer::Unchanged]);
    }

    #[test]
    fn a_dead_old_entry_at_a_live_members_address_counts_as_a_raft_member() {
        // c was re-imaged: c2, its new entry, did not count yet; c1, its
        // old one, is a dead member at the same address. Before: c1 was
        // taken for c's (it answered), and b demoted for parity.
        let mut nodes = l_b_and_c_uncounted().to_vec();
        nodes[2].id = "c1".into();
        nodes.push(manager("c2", 3, false));
        let (ids, addrs) = (["l", "b", "c2"], [1, 2, 3, 4].map(ip));
        let answering = |n: &SwarmNode| of_answering(n, &nodes, &ids, &addrs);
        assert!(!answering(&nodes[2]));
        assert!(answering(&nodes[3]));
        // At the address of a member whose node ID is listed nowhere (it
        // lost its swarm state): its own old entry, not one switched off.
        assert!(answering(&manager("d1", 4, false)));
        let kept = keep_odd(
            &nodes,
            &["c2"],
            &["l", "b", "c2"],
            "l",
            3,
            &answering,
            &none,
        );
        assert_eq!(
            (kept.uncounted, kept.demote, kept.managers),
            (vec!["c2"], None, 3)
        );
    }

    /// A node list of `x`, a manager that raft reaches as `reachability`.
    fn raft_list(reachability: &str) -> Value {
        let text = format!(
            r#"[{{"ID":"x","Version":{{"Index":1}},"Spec":{{"Role":"manager"}},
                "ManagerStatus":{{"Reachability":"{reachability}"}}}}]"#
        );
        Value::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn raft_is_waited_for_once_a_run_when_it_does_not_count_the_managers() {
        let reads = std::cell::Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            Some(raft_list("unreachable"))
        };
        let mut count = RaftCount::new(&read, &["x"], std::time::Duration::ZERO);
        assert!(!count.all());
        assert!(!count.all());
        let list = count.list().unwrap();
        // Its reading is kept, not waited for again.
        assert_eq!(reads.get(), 1);
        assert_eq!(reachability(&list, "x"), "unreachable");
        assert_eq!(reachability(&list, "y"), "");
        // Counted, then the lead falls silent: its reading is kept too.
        // Before, it was read again, and the managers raft had counted
        // failed as "could not be read".
        let read = || {
            reads.set(reads.get() + 1);
            (reads.get() == 2).then(|| raft_list("reachable"))
        };
        let mut count = RaftCount::new(&read, &["x"], std::time::Duration::ZERO);
        assert!(count.all());
        let mut layers = [Layer::Changed(vec!["promoted to manager".into()])];
        let list = raft_read(count, &[(0, "x".to_string())], &mut layers).unwrap();
        assert_eq!(reads.get(), 2);
        assert_eq!(reachability(&list, "x"), "reachable");
        assert!(!layers[0].failed(), "{}", layers[0].text());
    }

    /// The list read before the run's demotions, taken as it is, would
    /// count a manager demoted since: 4 of a raft of 3, even, and a
    /// manager the run made demoted for parity.
    #[test]
    fn a_manager_demoted_after_raft_was_read_is_no_manager_to_keep_odd() {
        let entry = |id: &str| {
            format!(
                r#"{{"ID":"{id}","Version":{{"Index":1}},"Spec":{{"Role":"manager"}},"ManagerStatus":{{"Reachability":"reachable"}}}}"#
            )
        };
        let text = format!("[{}]", ["l", "b", "c", "old"].map(entry).join(","));
        let list = Value::parse(text.as_bytes()).unwrap();
        let wanted = ["l", "b", "c"];
        let nodes = after_demotions(&list, &["old"]);
        let kept = keep_odd(&nodes, &["c"], &wanted, "l", 3, &|_| true, &none);
        assert_eq!((kept.demote, kept.managers), (None, 3));
        let stale = after_demotions(&list, &[]);
        let kept = keep_odd(&stale, &["c"], &wanted, "l", 3, &|_| true, &none);
        assert_eq!(kept.demote, Some("c"));
        assert_eq!(parity_demotion(&kept, &[]), Some("c"));
        // Its demotion failed (timed out, made all the same?): the list
        // may count it wrongly, so nothing is demoted for parity.
        assert_eq!(parity_demotion(&kept, &["old"]), None);
    }

    #[test]
    fn the_raft_leader_is_demoted_for_parity_only_when_no_other_may_be() {
        // b leads the raft (not the run): c goes, though less wanted,
        // sparing an election in a raft that just had a failed change.
        let mut b = manager("b", 2, true);
        b.leader = true;
        let nodes = [
            manager("l", 1, true),
            manager("c", 3, true),
            b,
            manager("d", 4, true),
        ];
        let kept = keep_odd(&nodes, &[], &["l", "c", "b"], "l", 3, &|_| true, &none);
        assert_eq!(kept.demote, Some("c"));
        // b is the only one that may go: b goes.
        let kept = keep_odd(&nodes, &[], &["l", "b"], "l", 3, &|_| true, &none);
        assert_eq!(kept.demote, Some("b"));
    }

    #[test]
    fn the_leader_is_never_demoted_nor_an_even_count_the_config_asked_for() {
        let nodes = [manager("l", 1, true), manager("b", 2, true)];
        // The run made none, and wants only the leader among them.
        assert_eq!(
            keep_odd(&nodes, &[], &["l"], "l", 3, &answered, &none).demote,
            None
        );
        // A manager from before, the least wanted, goes when the run made none.
        assert_eq!(
            keep_odd(&nodes, &[], &["l", "b"], "l", 3, &answered, &none).demote,
            Some("b")
        );
        // swarm.managers: 2, as asked.
        assert_eq!(
            keep_odd(&nodes, &["b"], &["l", "b"], "l", 2, &answered, &none).demote,
            None
        );
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

    fn ip(last: u8) -> std::net::IpAddr {
        std::net::IpAddr::from([10, 0, 0, last])
    }

    /// A node list: (ID, manager, the last byte of its address).
    fn list(nodes: &[(&str, bool, u8)]) -> Vec<SwarmNode> {
        nodes
            .iter()
            .map(|&(id, manager, at)| node(id, &ip(at).to_string(), manager, ""))
            .collect()
    }

    fn word<'a>(id: &'a str, at: u8, view: &'a [SwarmNode]) -> Word<'a> {
        Word {
            id,
            addr: ip(at),
            view,
        }
    }

    const MEMBERS: [u8; 4] = [1, 2, 3, 4];

    /// Three managers at .1, .2, .3 and a worker at .4, as a manager lists them.
    const THREE_AND_A_WORKER: [(&str, bool, u8); 4] = [
        ("m1", true, 1),
        ("m2", true, 2),
        ("m3", true, 3),
        ("w", false, 4),
    ];

    fn judged(words: &[Word], known: &[&str], creator: Option<(&str, u8)>) -> Judgement {
        let members: Vec<std::net::IpAddr> = MEMBERS.iter().map(|&b| ip(b)).collect();
        let known: Vec<String> = known.iter().map(|s| s.to_string()).collect();
        judge(
            words,
            &members,
            &known,
            creator.map(|(id, at)| (id, ip(at))),
        )
    }

    #[test]
    fn a_worker_posing_as_a_manager_leads_nothing_wherever_it_stands() {
        // Three managers (m1 created the swarm at .1), and w, a worker at
        // .4 that says it manages and lists every manager at its address.
        let honest = list(&THREE_AND_A_WORKER);
        let lying = list(&[
            ("w", true, 4),
            ("m1", true, 4),
            ("m2", true, 4),
            ("m3", true, 4),
        ]);
        let known = ["m1", "m2", "m3"];
        let managers = [
            word("m1", 1, &honest),
            word("m2", 2, &honest),
            word("m3", 3, &honest),
        ];
        for creator in [Some(("m1", 1)), None] {
            // First or last, the poser's word refuses no manager.
            for poser in [0, 3] {
                let mut words = managers.to_vec();
                words.insert(poser, word("w", 4, &lying));
                let first = usize::from(poser == 0);
                assert_eq!(
                    judged(&words, &known, creator),
                    Judgement {
                        leader: Some(first),
                        refused: vec![(poser, Objection::NotManager(first))]
                    }
                );
            }
        }
        // Nor when the record knows no manager yet: the managers outvote it.
        let words = [
            word("w", 4, &lying),
            word("m1", 1, &honest),
            word("m2", 2, &honest),
            word("m3", 3, &honest),
        ];
        assert_eq!(judged(&words, &[], None).leader, Some(1));
    }

    /// m1 created the swarm at .1 and was removed (`rccr remove
    /// --release`); m2, m3 and m4 manage, as the record's managers say.
    /// Its machine, adopted again at .1, knows m1's node ID from its old
    /// swarm state, claims it and lists no other manager. The record's
    /// `manager` line still names m1 at .1 (remove does not rewrite it):
    /// taken as the record's word, it put the poser in the vote, every
    /// manager had its objection, and nobody led (nothing changed, run
    /// after run). A manager the record's managers no longer count is not.
    #[test]
    fn a_removed_creators_node_id_puts_no_poser_in_the_vote() {
        let record = SwarmRecord {
            bootstrap: Bootstrap {
                ip: Some(ip(1)),
                key: None,
            },
            cluster: Some("c0ffee".into()),
            manager: Some("m1".into()),
            managers: vec!["m2".into(), "m3".into(), "m4".into()],
            ca: Some("2jk5".into()),
        };
        let honest = list(&[
            ("m2", true, 2),
            ("m3", true, 3),
            ("m4", true, 4),
            ("w", false, 1),
        ]);
        let lying = list(&[("m1", true, 1)]);
        let words = [
            word("m1", 1, &lying),
            word("m2", 2, &honest),
            word("m3", 3, &honest),
            word("m4", 4, &honest),
        ];
        let members: Vec<std::net::IpAddr> = MEMBERS.iter().map(|&b| ip(b)).collect();
        let (known, creator) = recorded(&record);
        assert_eq!(creator, None);
        assert_eq!(
            judge(&words, &members, &known, creator),
            Judgement {
                leader: Some(1),
                refused: vec![(0, Objection::NotManager(1))]
            }
        );
        // While m1 is one of the managers, the record's word is its.
        let creating = SwarmRecord {
            managers: vec!["m1".into(), "m2".into()],
            ..record
        };
        assert_eq!(recorded(&creating).1, Some(("m1", ip(1))));
    }

    #[test]
    fn one_manager_against_a_poser_leads_when_the_record_knows_it() {
        let honest = list(&[("m1", true, 1), ("w", false, 2)]);
        let lying = list(&[("w", true, 2), ("m1", true, 2)]);
        let words = [word("w", 2, &lying), word("m1", 1, &honest)];
        assert_eq!(
            judged(&words, &["m1"], None),
            Judgement {
                leader: Some(1),
                refused: vec![(0, Objection::NotManager(1))]
            }
        );
        // A record that knows neither: word against word, nobody leads.
        assert_eq!(
            judged(&words, &[], None),
            Judgement {
                leader: None,
                refused: vec![
                    (0, Objection::NotManager(1)),
                    (1, Objection::Elsewhere(0, ip(2)))
                ]
            }
        );
        // A poser claiming the creator's ID, listed at its own address (the
        // creator at the address it created the swarm at leads), or not
        // listed at all (no witness).
        for own in ["m1", "p"] {
            let lying = list(&[(own, true, 2)]);
            let words = [word("m1", 2, &lying), word("m1", 1, &honest)];
            assert_eq!(
                judged(&words, &["m1"], Some(("m1", 1))),
                Judgement {
                    leader: Some(1),
                    refused: vec![(0, Objection::Elsewhere(1, ip(1)))]
                }
            );
        }
        // Alone, a manager leads on its own word.
        let words = [word("m1", 1, &honest)];
        assert_eq!(
            judged(&words, &[], None),
            Judgement {
                leader: Some(0),
                refused: vec![]
            }
        );
    }

    #[test]
    fn a_worker_taking_the_id_of_a_manager_that_does_not_answer_leads_nothing() {
        // m2 is switched off: the others list it as a manager raft cannot
        // reach, at .9 (no member's address now); w at .4 claims its ID.
        let mut honest = list(&[
            ("m1", true, 1),
            ("m2", true, 9),
            ("m3", true, 3),
            ("w", false, 4),
        ]);
        honest[1].reachable = false;
        let lying = list(&[("m2", true, 4)]);
        let known = ["m1", "m2", "m3"];
        let words = [
            word("m2", 4, &lying),
            word("m1", 1, &honest),
            word("m3", 3, &honest),
        ];
        assert_eq!(
            judged(&words, &known, Some(("m1", 1))),
            Judgement {
                leader: Some(1),
                refused: vec![(0, Objection::Elsewhere(1, ip(9)))]
            }
        );
        // Nor a list that has the ID twice: answering at another
        // member's address, and at its own as a manager raft cannot reach.
        let mut twice = list(&[("w", true, 4), ("w", true, 1)]);
        twice[0].reachable = false;
        let words = [word("w", 4, &twice), word("m1", 1, &honest)];
        assert_eq!(
            judged(&words, &known, None).refused,
            [(0, Objection::OwnList)]
        );
        // Listed as answering (its SSH is down), but not at the poser's
        // address: the poser leads nothing.
        let honest = list(&[("m1", true, 1), ("m2", true, 9), ("m3", true, 3)]);
        let words = [
            word("m2", 4, &lying),
            word("m1", 1, &honest),
            word("m3", 3, &honest),
        ];
        let judgement = judged(&words, &known, None);
        assert_ne!(judgement.leader, Some(0));
        assert_eq!(judgement.refused[0], (0, Objection::Elsewhere(1, ip(9))));
        // The only manager switched off: the record knows the poser's
        // claimed ID, but no witness lists it as answering; the real
        // manager the record does not know yet (a handover) is not
        // outvoted.
        let real = list(&[("w2", true, 5), ("p", false, 4)]);
        let lying = list(&[("gone", true, 4)]);
        let words = [word("gone", 4, &lying), word("w2", 5, &real)];
        assert_eq!(judged(&words, &["gone"], None).leader, None);
    }

    #[test]
    fn a_poser_that_leaves_the_real_manager_out_leads_nothing() {
        // r manages; r2, a manager no SSH reaches, is listed at .9; the
        // poser at .4 claims r2's ID and leaves r out of its list.
        let honest = list(&[("r", true, 1), ("r2", true, 9)]);
        let lying = list(&[("r2", true, 4)]);
        let words = [word("r2", 4, &lying), word("r", 1, &honest)];
        assert_eq!(judged(&words, &["r", "r2"], None).leader, None);
        // Three posers that list one another, and not the one manager the
        // record knows, do not outvote it.
        let lying = list(&[("p2", true, 2), ("p3", true, 3), ("p4", true, 4)]);
        let honest = list(&[("r", true, 1), ("p2", false, 2)]);
        let words = [
            word("p2", 2, &lying),
            word("p3", 3, &lying),
            word("p4", 4, &lying),
            word("r", 1, &honest),
        ];
        assert_eq!(judged(&words, &["r"], None).leader, None);
        // Listed by the others, the record's managers lead whatever a
        // poser leaves out.
        let honest = list(&[("r", true, 1), ("r3", true, 3)]);
        let words = [
            word("p4", 4, &lying),
            word("r", 1, &honest),
            word("r3", 3, &honest),
        ];
        assert_eq!(judged(&words, &["r", "r3"], None).leader, Some(1));
    }

    #[test]
    fn a_candidate_contradicting_the_leader_is_told_the_vote_chose_it() {
        // Also when the record knows no manager to confirm it.
        assert_eq!(
            Objection::Contradicts(0).text(|_| "m1".into()),
            "claims to lead the cluster's swarm, but its node list contradicts that of m1, \
             which the vote confirmed to lead: left alone"
        );
    }

    #[test]
    fn managers_that_agree_are_all_confirmed() {
        let view = list(&THREE_AND_A_WORKER);
        let words = [
            word("m2", 2, &view),
            word("m1", 1, &view),
            word("m3", 3, &view),
        ];
        assert_eq!(
            judged(&words, &["m1", "m2"], Some(("m1", 1))),
            Judgement {
                leader: Some(0),
                refused: vec![]
            }
        );
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
        // Four fit nodes of five wanted make three managers, not four.
        assert_eq!(choose_managers(&all, &fits, &[], &none, 5), [2, 3, 4]);
        // Current managers stay while they may.
        let managing = |i| i == 1;
        assert_eq!(choose_managers(&all, &fits, &[], &managing, 3), [1, 3, 4]);
        // Pins win, both ways.
        let pins = [Some(true), None, None, None, Some(false)];
        assert_eq!(choose_managers(&all, &fits, &pins, &none, 3), [0, 2, 3]);
    }

    #[test]
    fn a_removed_managers_place_goes_by_pins_and_keeps_the_managers_odd() {
        let fits = [
            fit(Arch::X86_64, true, 8192),
            fit(Arch::X86_64, true, 4096),
            fit(Arch::Armv6l, true, 4096),
        ];
        // The only manager leaves; the fittest is pinned a worker, the
        // third is ARMv6: the second takes its place, alone.
        let pins = [Some(false), None, None];
        assert_eq!(promotions(0, 3, &fits, &pins), [1]);
        // Both fit ones pinned workers: nobody.
        let pins = [Some(false), Some(false), None];
        assert_eq!(promotions(0, 3, &fits, &pins), Vec::<usize>::new());
        // One manager stays of three wanted, one fit worker: a second
        // manager would make two; none is promoted.
        let pins = [Some(false), None, None];
        assert_eq!(promotions(1, 3, &fits, &pins), Vec::<usize>::new());
        // Two fit workers: both, three managers.
        assert_eq!(promotions(1, 3, &fits, &[]), [0, 1]);
        // Two manage of three wanted: the fittest makes three.
        assert_eq!(promotions(2, 3, &fits, &[]), [0]);
        // Enough already.
        assert_eq!(promotions(3, 3, &fits, &[]), Vec::<usize>::new());
        // Four, as the config asks: taken as asked.
        assert_eq!(promotions(2, 4, &fits, &[]), [0, 1]);
    }

    #[test]
    fn a_demotion_skipped_names_the_managers_chosen_that_do_not_manage() {
        let name = |i: usize| format!("t{i}");
        assert_eq!(
            not_demoted(&[0, 2, 3], &[0, 3], name).as_deref(),
            Some("not demoted: t2 did not become a manager (run rccr setup again)")
        );
        assert_eq!(
            not_demoted(&[0, 2, 3], &[0], name).as_deref(),
            Some("not demoted: t2, t3 did not become managers (run rccr setup again)")
        );
        assert_eq!(not_demoted(&[0, 2], &[2, 0], name), None);
    }

    #[test]
    fn the_managers_are_odd_and_count_the_leader() {
        let fits = [fit(Arch::X86_64, true, 4096); 5];
        let all = [0, 1, 2, 3, 4];
        let none = |_| false;
        // An even count the config asks for is taken as asked.
        assert_eq!(choose_managers(&all, &fits, &[], &none, 4), [0, 1, 2, 3]);
        // Two nodes of three wanted: one manager.
        assert_eq!(choose_managers(&all[..2], &fits, &[], &none, 3), [0]);
        // Three nodes, one of them pinned a worker: one manager, not two.
        let pinned = [None, Some(false), None];
        assert_eq!(choose_managers(&[0, 1, 2], &fits, &pinned, &none, 3), [0]);
        // Two pins alone take a third.
        let pins = [None, None, None, Some(true), Some(true)];
        assert_eq!(choose_managers(&all, &fits, &pins, &none, 1), [0, 3, 4]);
        // A manager the run leaves alone counts too: with it, two chosen
        // of three make three.
        let managing = |i| i < 2;
        assert_eq!(
            choose_led(&all[1..3], &fits, &[], &managing, 3, Some(1), 1),
            [1, 2]
        );
        // The leader is one of them, whatever its pin, and counts: the
        // creator pinned a worker, 3 wanted of 5 nodes, makes 3, not 4.
        let pins = [Some(false), None, None, None, None];
        let managing = |i| i < 3;
        assert_eq!(
            choose_led(&all, &fits, &pins, &managing, 3, Some(0), 0),
            [0, 1, 2]
        );
        // swarm.managers lowered from 5 to 3 with the least fit node leading.
        let mut fits = fits;
        fits[4] = fit(Arch::Armv7l, false, 512);
        let managing = |_| true;
        assert_eq!(
            choose_led(&all, &fits, &[], &managing, 3, Some(4), 0),
            [0, 1, 4]
        );
    }

    #[test]
    fn a_worker_saying_it_manages_is_no_sitting_manager() {
        let view = [
            manager("l", 1, true),
            node("w", "10.0.0.2", false, ""),
            manager("m", 3, true),
        ];
        let infos = [info("l", true), info("w", true), info("m", true)];
        let managing = |i: usize| listed_manager(&view, infos[i].as_ref());
        // w's engine says it manages, the lead lists it a worker (before,
        // its word ranked it a sitting manager, ahead of m by its index).
        let fits = [fit(Arch::X86_64, true, 2048); 3];
        assert_eq!(
            choose_led(&[0, 1, 2], &fits, &[], &managing, 2, Some(0), 0),
            [0, 2]
        );
        assert!(!managing(1));
        // Not listed (a member that joins): no manager.
        assert!(!listed_manager(&view, info("new", true).as_ref()));
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_swarm_whose_managers_mostly_answer_is_electing_not_lost() {
        let known = ids(&["m1", "m2", "m3"]);
        // After a power cut: every manager answers, none leads yet.
        assert_eq!(
            no_leader(&[(0, "m1"), (1, "m2"), (2, "m3")], &known, 0),
            NoLeader::Electing { alive: 3, total: 3 }
        );
        assert_eq!(
            no_leader(&[(0, "m1"), (2, "m3")], &known, 0),
            NoLeader::Electing { alive: 2, total: 3 }
        );
        // One of three: the quorum is lost.
        assert_eq!(
            no_leader(&[(0, "m1")], &known, 0),
            NoLeader::Lost { alive: 1, total: 3 }
        );
        assert_eq!(
            no_leader(&[(0, "m1"), (1, "m2")], &ids(&["m1", "m2", "m3", "m4"]), 0),
            NoLeader::Lost { alive: 2, total: 4 }
        );
        // The would-be re-former's count does not outweigh the record's.
        assert_eq!(
            no_leader(&[(0, "m1"), (1, "m2")], &known, 9),
            NoLeader::Electing { alive: 2, total: 3 }
        );
        // Without recorded managers, its count is all there is.
        assert_eq!(
            no_leader(&[(0, "m1")], &[], 3),
            NoLeader::Lost { alive: 1, total: 3 }
        );
        assert_eq!(
            no_leader(&[(0, "m1"), (1, "m2")], &[], 0),
            NoLeader::Electing { alive: 2, total: 2 }
        );
    }

    #[test]
    fn two_members_claiming_one_node_id_re_form_nothing() {
        let known = ids(&["m1", "m2", "m3"]);
        // A worker posing as the recorded manager beside the real one.
        assert_eq!(
            no_leader(&[(0, "m1"), (2, "m2"), (3, "m1")], &known, 0),
            NoLeader::Twice(0, 3)
        );
        assert_eq!(
            no_leader(&[(1, "m2"), (3, "m2")], &known, 0),
            NoLeader::Twice(1, 3)
        );
        // Engines that tell no node ID pose as nobody.
        assert_eq!(
            no_leader(
                &[(0, ""), (1, "")],
                &ids(&["m1", "m2", "m3", "m4", "m5"]),
                0
            ),
            NoLeader::Lost { alive: 2, total: 5 }
        );
    }

    /// A run chose the node of host key `SHA256:chosen` at .1 to create
    /// the swarm, and was killed before it recorded the swarm's ID. Before:
    /// whatever node had .1 since, and managed a swarm of its own, had
    /// its swarm adopted as the cluster's. A record an older rccr wrote
    /// (no key) still adopts by address. The node it chose, its lease
    /// moved to .2, is not adopted there as it is (raft knows it at .1):
    /// it fails with the remedy, its engine asked nothing (before, its
    /// swarm was left when it looked empty: a test could make the host's
    /// own Docker leave its swarm), and no second swarm is created. Once
    /// adopted, the key is gone: the record reads with an older rccr too.
    const REMEDY_AT_1: &str = "left alone, no swarm created; give it back 10.0.0.1 (a fixed DHCP lease) and run rccr setup again to adopt that swarm, or, if nothing in that swarm is yours, docker swarm leave --force on it and run rccr setup again";

    #[test]
    fn a_record_without_a_swarm_id_adopts_the_node_it_chose_not_its_address() {
        let dir = crate::fsutil::scratch::Dir::new("swarm-bootstrap-key");
        let path = dir.join("swarm");
        for (chose_key, key, at, adopted) in [
            ("SHA256:chosen", "SHA256:other", 1, None),
            ("SHA256:chosen", "SHA256:chosen", 1, Some("c0ffee")),
            ("SHA256:chosen", "SHA256:chosen", 2, None),
            ("", "SHA256:other", 1, Some("c0ffee")),
            ("", "SHA256:chosen", 2, None),
        ] {
            let chose = SwarmRecord {
                bootstrap: Bootstrap {
                    ip: Some(ip(1)),
                    key: chose_key.parse().ok(),
                },
                ..SwarmRecord::default()
            };
            let node = crate::state::swarm::tests::target(at, key);
            let members = [Member::local(&node)];
            let inventory = std::slice::from_ref(&node);
            let mut infos = [info("n1", true)];
            infos[0].as_mut().unwrap().cluster_id = "c0ffee".into();
            let mut record = chose.clone();
            let mut formed = Formed {
                swarm: ClusterSwarm::default(),
                layers: vec![Layer::Unchanged],
                departed: Vec::new(),
                unrotated: None,
            };
            let settings = Settings {
                managers: None,
                pins: vec![None],
                force_new_cluster: &|_| false,
            };
            let fit = [fit(Arch::X86_64, true, 1024)];
            let found = find_leader(
                &members,
                inventory,
                &fit,
                &settings,
                &mut infos,
                &mut record,
                &mut formed,
                &path,
            );
            assert_eq!(found.unwrap().len(), adopted.iter().len(), "{key} at {at}");
            assert_eq!(record.cluster.as_deref(), adopted, "{key} at {at}");
            let moved = !chose_key.is_empty() && key == chose_key && at != 1;
            let layer = formed.layers[0].text();
            assert_eq!(layer.contains(REMEDY_AT_1), moved, "{key} at {at}: {layer}");
            assert_eq!(formed.layers[0].failed(), moved, "{key} at {at}: {layer}");
            if adopted.is_some() {
                assert_eq!(record.bootstrap.key, None, "{key} at {at}");
                assert_eq!(SwarmRecord::load(&path).unwrap(), record, "{key} at {at}");
                assert_eq!(old_rccr_reads(&record.render()), Some(ip(1)));
            } else {
                assert_eq!(record, chose, "{key} at {at}");
            }
        }
    }

    /// The `bootstrap` address as rccr before the host key read it: the
    /// whole value an address, else the record refused.
    fn old_rccr_reads(text: &str) -> Option<std::net::IpAddr> {
        let line = text.lines().find_map(|l| l.strip_prefix("bootstrap "))?;
        line.parse().ok()
    }

    /// The record saved before `swarm init` carries the key; the one
    /// saved with the swarm's ID does not, so an older rccr reads it.
    #[test]
    fn the_record_of_a_created_swarm_reads_with_an_older_rccr() {
        let dir = crate::fsutil::scratch::Dir::new("swarm-created-key");
        let path = dir.join("swarm");
        let mut record = SwarmRecord {
            bootstrap: Bootstrap {
                ip: Some(ip(1)),
                key: "SHA256:chosen".parse().ok(),
            },
            ..SwarmRecord::default()
        };
        assert_eq!(old_rccr_reads(&record.render()), None);
        let mut created = info("n1", true).unwrap();
        created.cluster_id = "c0ffee".into();
        assert!(record_created(&mut record, &created, &path).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(old_rccr_reads(&text), Some(ip(1)), "{text}");
        assert!(!text.contains("SHA256"), "{text}");
        assert_eq!(record.cluster.as_deref(), Some("c0ffee"));
    }

    /// A member that joined and then failed (its node ID claimed by
    /// another, its label or promotion refused) is reported with what the
    /// run did there: before, only the failure, as if it had not joined.
    #[test]
    fn a_failure_after_a_join_keeps_the_join() {
        let joined = || Layer::Changed(vec!["joined as manager".into()]);
        let mut claimed = joined();
        claims_another(&mut claimed, "ReCyClusteR-Target-02");
        assert_eq!(
            claimed.text(),
            "FAILED: claims the swarm node ID of ReCyClusteR-Target-02: left alone; done: joined as manager"
        );
        let mut refused = joined();
        set_failed(&mut refused, "labelled", "update out of sequence");
        assert_eq!(
            refused.text(),
            "FAILED: labelled: failed: update out of sequence; done: joined as manager"
        );
    }

    fn info(id: &str, manager: bool) -> Option<Info> {
        Some(Info {
            version: "27.0".into(),
            state: SwarmState::Active,
            node_id: id.into(),
            cluster_id: String::new(),
            manager,
            error: String::new(),
            cpus: 1,
            memory: 1 << 30,
            managers: 0,
        })
    }

    #[test]
    fn a_manager_raft_reaches_again_after_its_wait_is_not_healed() {
        let before = info("m", true).unwrap();
        let view = [manager("l", 1, true), manager("m", 2, false)];
        let fresh = [manager("l", 1, true), manager("m", 2, true)];
        // Reachable in the fresh list: its engine restarted, it is whole.
        assert!(!heals(&before, "m", &view, Some(&fresh), Some(&before)));
        // Still unreachable after raft's time: healed.
        assert!(heals(&before, "m", &view, Some(&view), Some(&before)));
        // A reading failed: it waits for another run, it is not healed.
        assert!(!heals(&before, "m", &view, None, Some(&before)));
        assert!(!heals(&before, "m", &view, Some(&fresh), None));
    }

    #[test]
    fn a_node_in_error_in_another_swarm_is_left_alone_but_its_old_entry_goes() {
        let mut old = node("old", "10.0.0.2", false, "");
        (old.hostname, old.status) = ("t2".into(), "down".into());
        let view = [manager("l", 1, true), old.clone()];
        for state in [SwarmState::Error, SwarmState::Pending] {
            let mut elsewhere = info("other", false).unwrap();
            elsewhere.state = state;
            // Its node ID is not in the cluster's swarm: not the cluster's
            // membership that broke (before, its old entry was taken as
            // proof, and it was made to leave that other swarm).
            assert_eq!(breaks(&elsewhere, "t2", &view), (false, None, vec![&old]));
            // Its node ID is: it left the cluster's raft, and is healed.
            let mut ours = elsewhere.clone();
            ours.node_id = "l2".into();
            let listed = [manager("l", 1, true), manager("l2", 2, false), old.clone()];
            assert!(breaks(&ours, "t2", &listed).0);
        }
    }

    #[test]
    fn a_re_forming_run_leaves_the_other_managers_as_they_are() {
        let mut infos = vec![info("m1", true), info("m2", true), info("w1", false), None];
        let mut layers = vec![Layer::Unchanged; 4];
        set_aside_managers(&mut infos, 0, "lead", &mut layers);
        // The other manager is out of the run (heal never sees it), the
        // re-former and the worker are in.
        assert_eq!(infos[0], info("m1", true));
        assert_eq!(infos[1], None);
        assert_eq!(infos[2], info("w1", false));
        assert!(
            matches!(&layers[1], Layer::Failed(why) if why.contains("re-formed from lead")),
            "{:?}",
            layers[1]
        );
        assert_eq!(layers[0], Layer::Unchanged);
        assert_eq!(layers[2], Layer::Unchanged);
        assert_eq!(layers[3], Layer::Unchanged);
    }

    /// [`false_claims`] of member t3 (at 10.0.0.3) claiming `id`, in a
    /// swarm led by t1 that lists `entries` (ID, name, address's last byte).
    fn t3_claiming(id: &str, entries: &[(&str, &str, u8)]) -> Vec<(usize, String)> {
        let view: Vec<SwarmNode> = entries
            .iter()
            .map(|&(id, name, host)| {
                let mut n = node(id, &format!("10.0.0.{host}"), false, "");
                n.hostname = name.into();
                n
            })
            .collect();
        let members = [("t1", ip(1)), ("t2", ip(2)), ("t3", ip(3))];
        let claims = [(0, "l".to_string()), (2, id.to_string())];
        let inventory = members.map(|(name, addr)| claim::Node { name, addr });
        false_claims(&|i| members[i], &claims, 0, &view, &inventory)
    }

    #[test]
    fn a_member_claiming_a_node_outside_the_inventory_is_left_alone() {
        let swarm = [
            ("l", "t1", 1),
            ("b", "t2", 2),
            ("own", "old-name", 3),
            ("nas", "intruder", 9),
            ("card2", "t3", 8),
            ("att2", "t3", 2),
            ("ast2", "t2", 3),
        ];
        let refused = |name: &str| vec![(2, name.to_string())];
        // A node outside the inventory, at its own address: before, its
        // name (not an inventory one) let t3 take it.
        assert_eq!(t3_claiming("nas", &swarm), refused("intruder"));
        // Another inventory node's entry, by its name.
        assert_eq!(t3_claiming("b", &swarm), refused("t2"));
        // Its own entry at its address, under the name it had before it
        // was renamed; or under its name at its other card's address.
        assert_eq!(t3_claiming("own", &swarm), vec![]);
        assert_eq!(t3_claiming("card2", &swarm), vec![]);
        // Under its name, but at another inventory node's address: that
        // node's (before, taken as its other card's). At its own address
        // under another member's name: its own, the address is the
        // manager's word (before, refused by the name, the node's word).
        assert_eq!(t3_claiming("att2", &swarm), refused("t2"));
        assert_eq!(t3_claiming("ast2", &swarm), vec![]);
        // Not listed (its join is not seen yet): nothing to land on.
        assert_eq!(t3_claiming("new", &swarm), vec![]);
    }

    /// The manager token sent to a member that ends the run no manager
    /// is rotated: its join failed, its claim was refused, or raft never
    /// counted it; not for one that manages, nor one never sent it.
    #[test]
    fn a_manager_token_sent_to_a_node_that_is_no_manager_is_rotated() {
        let ids: Vec<(usize, String)> = vec![(0, "l".into()), (1, "b".into())];
        // b joined and counts; 3 got only the worker token.
        assert!(!sent_to_no_manager(&[1], &ids, &[3]));
        assert!(!sent_to_no_manager(&[], &ids, &[]));
        // c's join failed, or its claim was refused: no node ID.
        assert!(sent_to_no_manager(&[1, 2], &ids, &[]));
        // b joined, but raft never counted it.
        assert!(sent_to_no_manager(&[1], &ids, &[1]));
    }

    #[test]
    fn nodes_join_a_manager_at_its_swarm_port_ipv6_in_brackets() {
        assert_eq!(manager_addr(ip(2)), "10.0.0.2:2377");
        let v6: std::net::IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(manager_addr(v6), "[fe80::1]:2377");
    }
}
