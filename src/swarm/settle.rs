//! When the swarm has settled after a demotion or a removal: the raft
//! takes a demoted manager out later than the call that demoted it
//! returns (swarmkit's role manager; a raft leader first hands its
//! leadership over). `rccr remove` waits for it before the node leaves,
//! `rccr setup` before it rotates the manager join token a demoted
//! manager knew (the raft replicates the new one to every member still
//! in it).
use super::member::Member;
use super::ops::Op;
use crate::docker::api::SwarmNode;
use crate::print;
use std::time::{Duration, Instant};

/// How long the swarm may take to settle, or a drained node's tasks to move.
pub(super) const DRAIN: Duration = Duration::from_secs(30);

/// The swarm's nodes, as `lead` sees them.
pub(super) fn nodes(lead: &Member) -> Result<Vec<SwarmNode>, String> {
    lead.call(&Op::Nodes)
        .map(|v| SwarmNode::parse_list(&v))
        .map_err(|e| format!("cannot read the swarm: {}", print::text(&e)))
}

/// Waits until the swarm has one leader, every manager is reachable, no
/// node it demoted is still in the raft, and no node is `unknown` (or
/// [`DRAIN`]); the last node list read. A new leader marks every node
/// unknown until it checks in again (swarmkit's dispatcher), and
/// `rccr remove` promotes only a ready worker: after the leader was
/// demoted, a loaded machine's view had no ready worker and no one was
/// promoted.
pub(super) fn wait_settled(lead: &Member) -> Option<Vec<SwarmNode>> {
    wait_until(lead, settled)
}

/// Waits until `done` holds for the swarm's node list as `lead` reads it
/// (or [`DRAIN`]); the last list read, `None`: none could be read.
pub(super) fn wait_until(
    lead: &Member,
    done: impl Fn(&[SwarmNode]) -> bool,
) -> Option<Vec<SwarmNode>> {
    let deadline = Instant::now() + DRAIN;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(view) = nodes(lead) {
            let done = done(&view);
            last = Some(view);
            if done {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    last
}

/// Whether the swarm `view` has one leader, every manager reachable, no
/// node demoted but still in the raft ([`still_in_raft`]), and no node
/// `unknown`.
fn settled(view: &[SwarmNode]) -> bool {
    view.iter().filter(|n| n.leader).count() == 1
        && view
            .iter()
            .all(|n| (n.reachable || !n.manager) && !demoted_in_raft(n) && n.status != "unknown")
}

/// Whether raft counts node `n` (or will: a manager), demoted or not.
pub(super) fn in_raft(n: &SwarmNode) -> bool {
    n.manager || demoted_in_raft(n)
}

fn demoted_in_raft(n: &SwarmNode) -> bool {
    !n.manager && (n.reachable || n.leader)
}

/// Whether node `id` of `view` is demoted (its spec a worker's) while
/// raft still counts it (reachable, or leading): swarmkit takes it out
/// of the raft later, and until then it must not leave (a 2-manager
/// raft it left would lose its quorum).
pub(super) fn still_in_raft(view: &[SwarmNode], id: &str) -> bool {
    view.iter().any(|n| n.id == id && demoted_in_raft(n))
}

/// Whether node `id` of `view` is demoted (its spec a worker's) while
/// the raft still lists it at all: reachable, leading, or unreachable
/// (its entry keeps a raft address). A node not listed, or still a
/// manager in its spec (its demotion failed), is not.
fn demoted_in_raft_list(view: &[SwarmNode], id: &str) -> bool {
    view.iter()
        .any(|n| n.id == id && !n.manager && (demoted_in_raft(n) || n.raft_addr.is_some()))
}

/// Whether the swarm `view` has one leader and none of `left`, the nodes
/// a run demoted or removed, is still in the raft
/// ([`demoted_in_raft_list`]).
pub(super) fn left_raft(view: &[SwarmNode], left: &[&str]) -> bool {
    view.iter().filter(|n| n.leader).count() == 1
        && !left.iter().any(|id| demoted_in_raft_list(view, id))
}

/// Why a manager join token rotated now may reach a node of `left`,
/// given `last`, the last node list read while waiting for
/// [`left_raft`]: the raft replicates it to every node still in it
/// (named, escaped). `None`: none is (a swarm with no one leader yet is
/// asked all the same; a rotation that fails says so).
pub(super) fn unsettled(last: Option<&[SwarmNode]>, left: &[&str]) -> Option<String> {
    let Some(view) = last else {
        return Some(
            "the swarm could not be read, so whether the nodes demoted or removed left \
             the raft is not known"
                .into(),
        );
    };
    let names: Vec<String> = view
        .iter()
        .filter(|n| left.contains(&n.id.as_str()) && demoted_in_raft_list(view, &n.id))
        .map(|n| print::name(&n.hostname).into_owned())
        .collect();
    (!names.is_empty()).then(|| format!("the raft still counts {}", names.join(", ")))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::json::Value;

    pub(in crate::swarm) fn entry(addr: Option<&str>, hostname: &str) -> SwarmNode {
        SwarmNode {
            id: format!("{hostname}@{addr:?}"),
            version: 1,
            hostname: hostname.into(),
            manager: false,
            leader: false,
            reachable: false,
            status: "ready".into(),
            addr: addr.map(|a| a.parse().unwrap()),
            raft_addr: None,
            spec: Value::Null,
        }
    }

    /// A manager demoted (its spec a worker's) that raft still counts,
    /// reachable or leading, is not settled: swarmkit takes it out of the
    /// raft later, and a 2-manager raft it left before then loses its
    /// quorum.
    #[test]
    fn a_demoted_manager_raft_still_counts_is_not_settled() {
        let mut leader = entry(Some("10.0.0.2"), "l");
        (leader.manager, leader.leader, leader.reachable) = (true, true, true);
        let mut demoted = entry(Some("10.0.0.3"), "d");
        demoted.reachable = true;
        assert!(!settled(&[leader.clone(), demoted.clone()]));
        // Still leading, as a leader that demoted itself hands over.
        let mut handing = demoted.clone();
        (handing.reachable, handing.leader) = (false, true);
        leader.leader = false;
        assert!(!settled(&[leader.clone(), handing]));
        // Out of the raft (no ManagerStatus), or one it cannot reach:
        // settled once the other leads.
        leader.leader = true;
        demoted.reachable = false;
        assert!(settled(&[leader.clone(), demoted.clone()]));
        assert!(!still_in_raft(
            &[leader.clone(), demoted.clone()],
            &demoted.id
        ));
        demoted.reachable = true;
        assert!(still_in_raft(
            &[leader.clone(), demoted.clone()],
            &demoted.id
        ));
        // A manager, not demoted, is not "still in raft".
        assert!(!still_in_raft(&[leader.clone()], &leader.id));
        // A run after one that stopped there finds a worker in its spec
        // that raft counts: it waits for raft all the same (mends-27 1);
        // a plain worker is nothing to wait for.
        assert!(in_raft(&demoted) && in_raft(&leader));
        assert!(!in_raft(&entry(Some("10.0.0.4"), "w")));
        // A manager raft cannot reach, or no leader: not settled, as before.
        let mut lost = leader.clone();
        (lost.id, lost.leader, lost.reachable) = ("x".into(), false, false);
        assert!(!settled(&[leader.clone(), lost]));
        leader.leader = false;
        assert!(!settled(&[leader]));
    }

    /// The manager token a demoted manager knew is rotated once the raft
    /// let every node demoted or removed go (no entry of theirs tells a
    /// raft status) and one manager leads; a demoted manager the raft
    /// lists at all, reachable, leading or not, keeps it back, as does a
    /// swarm that could not be read. A demotion that failed (still a
    /// manager) is not waited for.
    #[test]
    fn the_token_waits_until_the_raft_let_the_demoted_go() {
        let mut leader = entry(Some("10.0.0.2"), "l");
        (leader.manager, leader.leader, leader.reachable) = (true, true, true);
        leader.raft_addr = leader.addr;
        let mut demoted = entry(Some("10.0.0.3"), "d");
        (demoted.reachable, demoted.raft_addr) = (true, demoted.addr);
        let left = [demoted.id.as_str()];
        let view = [leader.clone(), demoted.clone()];
        assert!(!left_raft(&view, &left));
        assert_eq!(
            unsettled(Some(&view), &left).as_deref(),
            Some("the raft still counts d")
        );
        // Unreachable, but still a raft member: kept back too (remove's
        // `still_in_raft` would let it go).
        demoted.reachable = false;
        let view = [leader.clone(), demoted.clone()];
        assert!(!left_raft(&view, &left) && !still_in_raft(&view, &demoted.id));
        assert!(unsettled(Some(&view), &left).is_some());
        // Leading still, handing over: not left, and no other leads.
        let mut handing = demoted.clone();
        handing.leader = true;
        let mut follower = leader.clone();
        follower.leader = false;
        assert!(!left_raft(&[follower.clone(), handing.clone()], &left));
        // Out of the raft (no manager status): left, once one leads.
        demoted.raft_addr = None;
        let view = [leader.clone(), demoted.clone()];
        assert!(left_raft(&view, &left));
        assert_eq!(unsettled(Some(&view), &left), None);
        // Named as the swarm lists it, escaped.
        let mut odd = demoted.clone();
        (odd.raft_addr, odd.hostname) = (odd.addr, "d\x1b[2J".into());
        assert_eq!(
            unsettled(Some(&[leader.clone(), odd]), &left).as_deref(),
            Some("the raft still counts d??2J")
        );
        assert!(!left_raft(&[follower, demoted.clone()], &left));
        // Removed (not listed): left.
        assert!(left_raft(&[leader.clone()], &left));
        assert_eq!(unsettled(Some(&[leader.clone()]), &left), None);
        // A demotion that failed: still a manager, nothing to wait for.
        let mut kept = leader.clone();
        (kept.id, kept.leader) = ("k".into(), false);
        assert!(left_raft(&[leader.clone(), kept.clone()], &["k"]));
        // No list read: not rotated.
        assert!(unsettled(None, &left).is_some_and(|why| why.starts_with("the swarm could not")));
    }
}
