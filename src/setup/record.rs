//! Stage 6 of setup: the inventory, from what this run found and what the
//! last one knew.
use super::discover::{Candidate, Class};
use super::plan::Planned;
use crate::error::Error;
use crate::identity::{Arch, Hostname, Role};
use crate::keys::addr::NodeAddr;
use crate::keys::control::journal;
use crate::keys::control::known_hosts::{KnownHosts, Named};
use crate::scan;
use crate::state::inventory::NodeRecord;
use crate::state::StatePaths;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// The nodes of the cluster after this run: the control first, then every
/// adopted node, then known nodes that did not answer this time (kept: they
/// may be switched off). Returns them and how many of them are missing.
pub fn records(
    planned: &[Planned],
    known: Vec<NodeRecord>,
    scan_opts: &scan::Options,
) -> Result<(Vec<NodeRecord>, usize), Error> {
    Ok(cluster(control_record(scan_opts)?, planned, known))
}

/// The nodes this run found (adopted, at the address they have now).
fn found(planned: &[Planned]) -> impl Iterator<Item = &Candidate> {
    planned
        .iter()
        .map(|p| &p.candidate)
        .filter(|c| c.class == Class::Adopted)
}

/// `(from, to)` of each node this run followed to a new address. A node
/// not found this run moved nowhere this run: an old move of it, applied
/// again, would carry what is said of whoever took its old address since.
pub fn moves(planned: &[Planned]) -> Vec<(IpAddr, IpAddr)> {
    found(planned)
        .filter_map(|c| Some((c.moved_from?, IpAddr::V4(c.ip))))
        .collect()
}

/// The nodes held back this run, and why: the cluster engine does not log
/// in at them, and the Ansible inventory lists them in no group. A
/// node not found, whose recorded address a duplicate holds (two running
/// machines show its host key and setup cannot tell which is the node, or
/// a relay forwards there). What answers there may not be the node, and
/// the engine would prepare it and join it to the swarm as the node (and
/// Ansible log in there as the node).
pub fn held(planned: &[Planned], records: &[NodeRecord]) -> Vec<(IpAddr, String)> {
    records
        .iter()
        .filter(|r| r.role != Role::Control)
        .filter(|r| {
            planned.iter().any(|p| {
                p.candidate.class == Class::Duplicate && IpAddr::V4(p.candidate.ip) == r.ip
            })
        })
        .map(|r| {
            let why = format!(
                "held back: a duplicate answers at {} this run (setup's note for it says why); \
                 not logged in there",
                r.ip
            );
            (r.ip, why)
        })
        .collect()
}

/// [`records`] with the control's record given. A missing node keeps
/// no `moved_from`: that is where this run found a node had moved from,
/// and this run did not find it.
fn cluster(
    control: NodeRecord,
    planned: &[Planned],
    known: Vec<NodeRecord>,
) -> (Vec<NodeRecord>, usize) {
    let mut records = vec![control];
    for c in found(planned) {
        // A MAC not trusted this run (discover's `mac_note`) is unknown:
        // the node keeps the one it was recorded with.
        let recorded = || {
            let node = known
                .iter()
                .find(|k| k.host_key.is_some() && k.host_key == c.host_key);
            node.and_then(|k| k.mac)
        };
        records.push(NodeRecord {
            ip: IpAddr::V4(c.ip),
            mac: c.mac.or_else(recorded),
            hostname: c.hostname.clone().unwrap_or_else(|| address_name(c.ip)),
            role: c.role,
            arch: c.arch,
            host_key: c.host_key.clone(),
            moved_from: c.moved_from,
        });
    }
    let missing: Vec<NodeRecord> = known
        .into_iter()
        .filter(|k| k.role != Role::Control && !records.iter().any(|r| r.same_node(k)))
        .map(|k| NodeRecord {
            moved_from: None,
            ..k
        })
        .collect();
    let count = missing.len();
    records.extend(missing);
    (records, count)
}

/// Stage 6's writes after the inventory: the pins in known_hosts follow
/// the nodes ([`name_host_keys`]), then the last rotation's lines follow
/// the nodes that moved this run (`moves`, [`journal::follow`]). A last
/// rotation that cannot be followed is no reason to leave the pins
/// behind, nor the run half done: it is a warning, returned.
pub fn follow_nodes(
    paths: &StatePaths,
    records: &[NodeRecord],
    moves: &[(IpAddr, IpAddr)],
    fresh: &[NodeAddr],
    port: u16,
) -> Result<Option<String>, Error> {
    name_host_keys(&paths.known_hosts, records, port)?;
    let last = paths.last_rotation();
    let Err(e) = journal::follow(&last, moves, fresh) else {
        return Ok(None);
    };
    let moved: Vec<String> = moves
        .iter()
        .map(|(from, to)| format!("{from} to {to}"))
        .collect();
    Ok(Some(format!(
        "{e}: the last rotation's lines of the nodes that moved ({}) were left at their old \
         addresses, where rccr status and rccr keys status may tell them of another host; \
         fix or move away {}",
        moved.join(", "),
        last.display()
    )))
}

/// The last rotation's id, `None` when there is none or it cannot be
/// read (then [`follow_nodes`] says why): a new id after the rotation
/// stage is one this run retired, whose lines of the nodes it rotated
/// are where they are now (its other lines, settled by an interrupted
/// run, are where they were then).
pub fn last_rotation(paths: &StatePaths) -> Option<String> {
    journal::load(&paths.last_rotation())
        .ok()
        .flatten()
        .map(|r| r.rotation)
}

/// Names every node with a pinned host key in known_hosts, with its
/// address (`NAME,IP`), so `ssh root@NAME` and `ssh root@IP` both check
/// the key; lines of nodes that moved follow them. Nodes found this run
/// come before missing ones in `records`, so an address both claim is the
/// one found there now.
fn name_host_keys(known_hosts: &Path, records: &[NodeRecord], port: u16) -> Result<(), Error> {
    let nodes: Vec<Named> = records
        .iter()
        .filter_map(|r| {
            Some(Named {
                name: &r.hostname,
                ip: r.ip,
                host_key: r.host_key.as_ref()?,
            })
        })
        .collect();
    KnownHosts::new(known_hosts.to_path_buf()).follow(&nodes, port)?;
    Ok(())
}

/// A node known by no name: its address, which is a valid DNS name.
fn address_name(ip: Ipv4Addr) -> Hostname {
    Hostname::parse(&ip.to_string()).expect("a dotted quad is a DNS name")
}

/// The control node itself: the machine running setup, on the interface
/// the scan used (else the first one that is up).
fn control_record(scan_opts: &scan::Options) -> Result<NodeRecord, Error> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|s| Hostname::parse(s.trim()).ok())
        .unwrap_or_else(|| Hostname::parse("control").expect("a hostname"));
    let arch = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<Arch>()
                .ok()
        });
    let ifaces = crate::sys::interfaces().map_err(|e| Error::io("cannot list interfaces", e))?;
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let wanted = scan_opts
        .iface
        .clone()
        .or_else(|| scan::plan::default_route_iface(&routes));
    let usable = |i: &&crate::sys::Interface| i.up && !i.loopback && !i.addrs.is_empty();
    let iface = ifaces
        .iter()
        .filter(usable)
        .find(|i| wanted.as_deref().is_none_or(|w| w == i.name))
        .or_else(|| ifaces.iter().find(usable));
    let (ip, mac) = match iface {
        Some(i) => (IpAddr::V4(i.addrs[0].0), i.mac.map(crate::identity::Mac)),
        None => (IpAddr::V4(Ipv4Addr::LOCALHOST), None),
    };
    Ok(NodeRecord {
        ip,
        mac,
        hostname,
        role: Role::Control,
        arch,
        host_key: None,
        moved_from: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::plan::Action;

    fn node(ip: &str, mac: &str, key: &str, role: Role) -> NodeRecord {
        NodeRecord {
            ip: ip.parse().unwrap(),
            mac: mac.parse().ok(),
            hostname: Hostname::parse(&format!("n{}", &mac[15..])).unwrap(),
            role,
            arch: None,
            host_key: key.parse().ok(),
            moved_from: None,
        }
    }

    fn adopted(r: &NodeRecord) -> Planned {
        let IpAddr::V4(ip) = r.ip else { panic!() };
        Planned {
            candidate: Candidate {
                hostname: Some(r.hostname.clone()),
                host_key: r.host_key.clone(),
                class: Class::Adopted,
                moved_from: r.moved_from,
                ..Candidate::at(ip, r.mac)
            },
            action: Action::Leave,
            rotation: None,
        }
    }

    #[test]
    fn only_a_node_found_this_run_moved_this_run() {
        let control = node("10.0.0.1", "02:00:00:00:00:01", "-", Role::Control);
        // A, followed from .9 to .3 by the last run, is off; a new
        // machine N took .9; B is followed from .8 to .4 this run.
        let mut a = node("10.0.0.3", "02:00:00:00:00:0a", "SHA256:a", Role::Target);
        a.moved_from = "10.0.0.9".parse().ok();
        let n = node("10.0.0.9", "02:00:00:00:00:0b", "SHA256:n", Role::Target);
        let mut b = node("10.0.0.4", "02:00:00:00:00:0c", "SHA256:b", Role::Target);
        let mut b_known = b.clone();
        b_known.ip = "10.0.0.8".parse().unwrap();
        b.moved_from = Some(b_known.ip);
        let planned = [adopted(&n), adopted(&b)];
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert_eq!(moves(&planned), [(ip("10.0.0.8"), ip("10.0.0.4"))]);
        let (records, missing) = cluster(control.clone(), &planned, vec![a.clone(), b_known]);
        assert_eq!(missing, 1);
        a.moved_from = None;
        assert_eq!(records, [control, n, b, a]);
    }

    /// A node whose MAC this run did not trust (another host answered ARP
    /// for its address) keeps the MAC it was recorded with.
    #[test]
    fn a_node_found_without_a_trusted_mac_keeps_its_recorded_one() {
        let control = node("10.0.0.1", "02:00:00:00:00:01", "-", Role::Control);
        let a = node("10.0.0.3", "02:00:00:00:00:0a", "SHA256:a", Role::Target);
        let mut found = adopted(&a);
        found.candidate.mac = None;
        let (records, missing) = cluster(control.clone(), &[found], vec![a.clone()]);
        assert_eq!((records, missing), (vec![control, a], 0));
    }

    #[test]
    fn a_last_rotation_that_cannot_be_followed_leaves_no_pin_behind() {
        const KEY: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM3ydWu7xUA7woPO+Y8SDomB8yHokHbVqJQLopw5yGIU";
        let home = crate::state::scratch::home("record-follow");
        let paths = &home.paths;
        std::fs::write(&paths.known_hosts, format!("10.0.0.8 {KEY} rccr\n")).unwrap();
        std::fs::write(paths.last_rotation(), "rotation r\nbogus\n").unwrap();
        let mut b = node(
            "10.0.0.4",
            "02:00:00:00:00:0c",
            "SHA256:NrtS+86iW9P4e3JYsfgB+L/rmVwDVS7JiC+tvCPjisc",
            Role::Target,
        );
        b.moved_from = "10.0.0.8".parse().ok();
        let moves = [(b.moved_from.unwrap(), b.ip)];
        let warning = follow_nodes(paths, &[b], &moves, &[], 22).unwrap().unwrap();
        let last = paths.last_rotation().display().to_string();
        assert!(warning.starts_with(&format!("{last}:2: ")), "{warning}");
        assert!(warning.contains("(10.0.0.8 to 10.0.0.4)"), "{warning}");
        assert!(
            warning.ends_with(&format!("fix or move away {last}")),
            "{warning}"
        );
        assert_eq!(
            std::fs::read_to_string(&paths.known_hosts).unwrap(),
            format!("n0c,10.0.0.4 {KEY} rccr\n")
        );
    }
}
