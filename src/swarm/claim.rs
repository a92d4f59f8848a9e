//! Whose is a swarm entry a node claims: the one rule `setup`, `remove`
//! and `status` answer it by.
//!
//! The swarm's list (read from the lead manager) is trusted, and so is the
//! address it places an entry at (where the manager sees the node); the
//! node ID an inventory node tells is its engine's word, and so is the name
//! an entry carries. rccr acts on the entry of the ID a node tells (setup
//! removes, relabels, promotes it; remove demotes, drains, force-removes
//! it; status reports it healthy), so before it does, [`whose`] says
//! whether that entry is the node's own: a node's lie, or a copy of
//! another node's disk, lands on no other node, in the inventory or not.
//!
//! The rule, in order, for node C (its inventory name and address)
//! telling node ID X:
//! 1. X's entry is at C's address: C's own, whatever name it carries (a
//!    renamed node's old one).
//! 2. It is at another inventory node's address: that node's.
//! 3. It carries another inventory node's name (not C's): that node's.
//! 4. Another inventory node tells X too, and the entry (or none: X not
//!    listed) is not under C's name: contested, that node's.
//! 5. It carries a name neither C's nor an inventory node's, at an address
//!    not C's: a stranger's (a node outside the inventory: a departed
//!    node, one joined by hand).
//! 6. Else C's own: under C's name at another address (its other network
//!    card, docs/engine.md), an entry with no address that is no other
//!    node's by name, or X not listed and told by no other node.
//!
//! What is the callers' own stays with them: setup takes the leader's
//! word as the swarm's, remove never acts on the lead's own ID, status
//! checks active workers only.
use crate::print;
use crate::state::inventory::NodeRecord;
use std::borrow::Cow;
use std::net::IpAddr;

/// An inventory node: its name and its address as the inventory has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node<'a> {
    pub name: &'a str,
    pub addr: IpAddr,
}

impl<'a> Node<'a> {
    /// The node of an inventory record.
    pub fn of(record: &'a NodeRecord) -> Node<'a> {
        Node {
            name: record.hostname.as_ref(),
            addr: record.ip,
        }
    }
}

/// A swarm entry as the lead's list has it: the name its engine gave,
/// and where the manager sees it (`None`: it does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub addr: Option<IpAddr>,
}

/// Whose the entry of a node ID a node tells is ([`whose`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim<'a> {
    /// The node's own (or not listed, and told by no other node).
    Own,
    /// Another inventory node's (its name): at its address, under its
    /// name, or told by it too.
    Another(&'a str),
    /// A node's outside the inventory (the name its entry carries).
    Stranger(&'a str),
}

impl Claim<'_> {
    /// The node whose entry it is when not the claimant's, its name safe
    /// for a terminal (an entry's name is its engine's word).
    pub fn other(&self) -> Option<Cow<'_, str>> {
        match self {
            Claim::Own => None,
            Claim::Another(name) | Claim::Stranger(name) => Some(print::name(name)),
        }
    }
}

/// Whose the swarm's `entry` of the node ID that `claimant` tells is
/// (`None`: the swarm does not list that ID), by the rule in this
/// module's doc. `inventory`: the inventory's nodes (the claimant may be
/// among them); `tellers`: the names of the other inventory nodes whose
/// engines tell the same node ID.
pub fn whose<'a>(
    claimant: Node<'_>,
    entry: Option<Entry<'a>>,
    inventory: &[Node<'a>],
    tellers: &[&'a str],
) -> Claim<'a> {
    if let Some(entry) = entry {
        // 1.
        if entry.addr == Some(claimant.addr) {
            return Claim::Own;
        }
        // 2.
        if let Some(n) = inventory.iter().find(|n| entry.addr == Some(n.addr)) {
            return Claim::Another(n.name);
        }
        // 3.
        if let Some(n) = inventory
            .iter()
            .filter(|n| n.name != claimant.name)
            .find(|n| n.name == entry.name)
        {
            return Claim::Another(n.name);
        }
    }
    // 4.
    if entry.is_none_or(|e| e.name != claimant.name) {
        if let Some(teller) = tellers.first() {
            return Claim::Another(teller);
        }
    }
    // 5. (an inventory node's name is 3.), else 6.
    match entry {
        Some(e) if e.name != claimant.name && e.addr.is_some() => Claim::Stranger(e.name),
        _ => Claim::Own,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    /// One case: its name, the entry of the ID claimant t3 (at 10.0.0.3)
    /// tells (name, address's last byte, 0: none; `None`: not listed),
    /// the other inventory nodes telling it too, and whose it is.
    type Case = (
        &'static str,
        Option<(&'static str, u8)>,
        &'static [&'static str],
        Claim<'static>,
    );

    /// The inventory: t1 (.1), t2 (.2), t3 (.3, the claimant), t4 (.4).
    #[rustfmt::skip]
    const CASES: &[Case] = &[
        // Rule 1: at its address, whatever the name.
        ("own entry at its address", Some(("t3", 3)), &[], Claim::Own),
        ("renamed: its old name at its address", Some(("old-name", 3)), &[], Claim::Own),
        ("another inventory node's name at its address", Some(("t2", 3)), &[], Claim::Own),
        ("at its address, another node tells it too", Some(("old-name", 3)), &["t2"], Claim::Own),
        // Rule 2: at another inventory node's address.
        ("another node's entry at that node's address", Some(("t2", 2)), &[], Claim::Another("t2")),
        ("its name at another inventory node's address", Some(("t3", 2)), &[], Claim::Another("t2")),
        ("a stranger's name at an inventory node's address", Some(("nas", 4)), &[], Claim::Another("t4")),
        ("another's address before another teller", Some(("t3", 4)), &["t2"], Claim::Another("t4")),
        // Rule 3: another inventory node's name, away from its address.
        ("another node's name on a new lease", Some(("t2", 9)), &[], Claim::Another("t2")),
        ("another node's name, no address", Some(("t2", 0)), &[], Claim::Another("t2")),
        // Rule 4: another inventory node tells it too.
        ("told too, a stranger's entry", Some(("nas", 9)), &["t2"], Claim::Another("t2")),
        ("told too, no address", Some(("old-name", 0)), &["t4"], Claim::Another("t4")),
        ("told too, not listed", None, &["t2"], Claim::Another("t2")),
        ("told too, under its name elsewhere", Some(("t3", 9)), &["t2"], Claim::Own),
        // Rule 5: a name of no inventory node at another address.
        ("a node outside the inventory", Some(("nas", 9)), &[], Claim::Stranger("nas")),
        // Rule 6: else its own.
        ("its name at another address: its other card", Some(("t3", 9)), &[], Claim::Own),
        ("its name, no address", Some(("t3", 0)), &[], Claim::Own),
        ("a stranger's name, no address", Some(("old-name", 0)), &[], Claim::Own),
        ("not listed, told by no other", None, &[], Claim::Own),
    ];

    #[test]
    fn whose_entry_a_node_claims_by_the_one_rule() {
        let inventory: Vec<Node> = ["t1", "t2", "t3", "t4"]
            .iter()
            .zip(1..)
            .map(|(&name, last)| Node {
                name,
                addr: ip(last),
            })
            .collect();
        let t3 = inventory[2];
        for &(case, entry, tellers, want) in CASES {
            let entry = entry.map(|(name, last)| Entry {
                name,
                addr: (last != 0).then(|| ip(last)),
            });
            assert_eq!(whose(t3, entry, &inventory, tellers), want, "{case}");
        }
    }

    #[test]
    fn the_other_nodes_name_is_escaped() {
        assert_eq!(Claim::Own.other(), None);
        assert_eq!(Claim::Another("t2").other().as_deref(), Some("t2"));
        let forged = Claim::Stranger("nas\u{1b}[2J");
        assert_eq!(forged.other().as_deref(), Some("nas??2J"));
    }
}
