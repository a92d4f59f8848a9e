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

/// The nodes held back this run, and why: the rotation, the cluster
/// engine and the Ansible inventory leave them alone (no login there, in
/// no group). A node not found this run (as a node, adopted or new) is
/// held back when whoever answers at its recorded address may not be it,
/// and would be rotated, prepared and joined to the swarm as the node
/// (and reached by Ansible as it):
/// - a duplicate holds that address (two running machines show its host
///   key and setup cannot tell which is the node, or a relay forwards
///   there);
/// - the last run held it back (`held_before`, from inventory.ini) and
///   this run cannot tell it from a copy: its pinned host key does not
///   answer at that address, or answers elsewhere too, on hosts setup
///   could not log in to (a rotation's new key they refuse) to tell the
///   machines apart. Its pinned host key there alone is the node, as
///   one machine showing it is everywhere in setup (no lockout: its
///   rotation is finished); another node found there is not it.
///
/// Run before the rotation, which turns new nodes into adopted ones (so
/// new nodes count as found).
pub fn held(
    planned: &[Planned],
    known: &[NodeRecord],
    held_before: &[IpAddr],
) -> Vec<(IpAddr, String)> {
    let hosts: Vec<&Candidate> = planned.iter().map(|p| &p.candidate).collect();
    let found: Vec<NodeRecord> = hosts
        .iter()
        .filter(|c| c.class.is_node())
        .map(|c| record_of(c, known))
        .collect();
    known
        .iter()
        .filter(|k| k.role != Role::Control && !found.iter().any(|r| r.same_node(k)))
        .filter_map(|k| {
            // What answers at its recorded address this run.
            let home = hosts
                .iter()
                .find(|c| IpAddr::V4(c.ip) == k.ip)
                .map(|c| c.class);
            if home == Some(Class::Duplicate) {
                let why = format!(
                    "held back: a duplicate answers at {} this run (setup's note for it says \
                     why); not logged in there",
                    k.ip
                );
                return Some((k.ip, why));
            }
            if !held_before.contains(&k.ip) || home.is_some_and(Class::is_node) {
                return None;
            }
            let mut shown: Vec<Ipv4Addr> = hosts
                .iter()
                .filter(|c| k.host_key.is_some() && c.host_key == k.host_key)
                .map(|c| c.ip)
                .collect();
            shown.sort_unstable();
            if shown.iter().map(|ip| IpAddr::V4(*ip)).eq([k.ip]) {
                return None;
            }
            let detail = match &shown[..] {
                [] => "its pinned host key answers nowhere".to_string(),
                ips => format!(
                    "its pinned host key answers at {}, on hosts it could not log in to, \
                     to tell the machines apart",
                    super::discover::named(ips)
                ),
            };
            let why = format!(
                "held back: the last rccr setup held it back, and this run cannot tell it from \
                 a copy ({detail}); not logged in there"
            );
            Some((k.ip, why))
        })
        .collect()
}

/// The record of `c`, a node found this run. A MAC not trusted this run
/// (discover's `mac_note`) is unknown: the node keeps the one it was
/// recorded with.
fn record_of(c: &Candidate, known: &[NodeRecord]) -> NodeRecord {
    let recorded = || {
        let node = known
            .iter()
            .find(|k| k.host_key.is_some() && k.host_key == c.host_key);
        node.and_then(|k| k.mac)
    };
    NodeRecord {
        ip: IpAddr::V4(c.ip),
        mac: c.mac.or_else(recorded),
        hostname: c.hostname.clone().unwrap_or_else(|| address_name(c.ip)),
        role: c.role,
        arch: c.arch,
        host_key: c.host_key.clone(),
        moved_from: c.moved_from,
    }
}

/// The nodes of the cluster after this run: the control first (its record
/// as [`control_record`] made it, once per run), then every adopted node,
/// then known nodes that did not answer this time (kept: they may be
/// switched off). Returns them and how many of them are missing. A missing
/// node keeps no `moved_from`: that is where this run found a node had
/// moved from, and this run did not find it.
pub fn records(
    control: NodeRecord,
    planned: &[Planned],
    known: Vec<NodeRecord>,
) -> (Vec<NodeRecord>, usize) {
    let mut records = vec![control];
    for c in found(planned) {
        records.push(record_of(c, &known));
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
/// the nodes ([`name_host_keys`]), rccr's block in ~/.ssh/config names
/// them by hostname beside their addresses, then the last rotation's lines follow
/// the nodes that moved this run (`moves`, [`journal::follow`]). A last
/// rotation that cannot be followed is no reason to leave the pins
/// behind, nor the run half done: it is a warning, handed to `warn`
/// before the names are written, so that a names block rccr cannot
/// rewrite (the error returned) does not hide it.
pub fn follow_nodes(
    paths: &StatePaths,
    records: &[NodeRecord],
    moves: &[(IpAddr, IpAddr)],
    fresh: &[NodeAddr],
    port: u16,
    warn: impl FnOnce(String),
) -> Result<(), Error> {
    name_host_keys(&paths.known_hosts, records, port)?;
    let last = paths.last_rotation();
    // The journal is state, the names below a convenience: it is followed
    // first, so that a names block rccr cannot rewrite leaves it right.
    if let Err(e) = journal::follow(&last, moves, fresh) {
        let moved: Vec<String> = moves
            .iter()
            .map(|(from, to)| format!("{from} to {to}"))
            .collect();
        warn(format!(
            "{e}: the last rotation's lines of the nodes that moved ({}) were left at their old \
             addresses, where rccr status and rccr keys status may tell them of another host; \
             fix or move away {}",
            moved.join(", "),
            last.display()
        ));
    }
    // The rotation named the nodes' addresses in ~/.ssh/config; their
    // names are known here.
    crate::keys::control::ssh_config::name_nodes(&paths.ssh_config(), records)
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

/// The inventory as this run judges names by: its control record (of
/// the last run, maybe under an older name or address) replaced by this
/// run's, first. Discover (an adopted node's own name), the plan, the
/// check at setup's start and the write thus see one control.
pub fn with_control(mut known: Vec<NodeRecord>, control: NodeRecord) -> Vec<NodeRecord> {
    known.retain(|k| k.role != Role::Control);
    known.insert(0, control);
    known
}

/// The control node itself: the machine running setup, on the interface
/// the scan used (else the first one that is up).
pub fn control_record(scan_opts: &scan::Options) -> Result<NodeRecord, Error> {
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
        let (records, missing) = records(control.clone(), &planned, vec![a.clone(), b_known]);
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
        let (records, missing) = records(control.clone(), &[found], vec![a.clone()]);
        assert_eq!((records, missing), (vec![control, a], 0));
    }

    /// A node the last run held back stays held back while this run
    /// cannot tell it from a copy (its pinned host key answers at its
    /// address and elsewhere, nowhere, or elsewhere only), and only then:
    /// its host key at its address alone is the node (no lockout), as is
    /// a node found as one; another node found at its address is not it.
    #[test]
    fn a_node_held_back_stays_so_until_its_host_key_answers_at_its_address_alone() {
        let k = node("10.0.0.3", "02:00:00:00:00:0a", "SHA256:a", Role::Target);
        let refused = |ip: &str, key: &str| {
            let mut p = adopted(&node(ip, "02:00:00:00:00:0b", key, Role::Target));
            p.candidate.class = Class::Refused;
            p
        };
        let held_at = |planned: &[Planned], before: &[IpAddr]| -> Vec<IpAddr> {
            let known = [k.clone()];
            held(planned, &known, before)
                .into_iter()
                .map(|(ip, _)| ip)
                .collect()
        };
        let (home, copy) = (
            refused("10.0.0.3", "SHA256:a"),
            refused("10.0.0.9", "SHA256:a"),
        );
        // Not held back by the last run: only a duplicate holds it back.
        assert!(held_at(&[home.clone(), copy.clone()], &[]).is_empty());
        let before = [k.ip];
        for planned in [
            vec![home.clone(), copy.clone()],
            vec![],
            vec![copy.clone()],
            vec![refused("10.0.0.3", "SHA256:b")],
        ] {
            assert_eq!(held_at(&planned, &before), before, "{planned:?}");
        }
        let other = node("10.0.0.3", "02:00:00:00:00:0c", "SHA256:c", Role::Target);
        for planned in [
            vec![home.clone()],
            vec![adopted(&k), copy.clone()],
            vec![adopted(&other)],
        ] {
            assert!(held_at(&planned, &before).is_empty(), "{planned:?}");
        }
    }

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM3ydWu7xUA7woPO+Y8SDomB8yHokHbVqJQLopw5yGIU";

    /// A home whose node B moved from .8 to .4, pinned at .8, with a last
    /// rotation that cannot be read; B, and its move.
    fn moved_with_a_bad_last_rotation(paths: &StatePaths) -> (NodeRecord, [(IpAddr, IpAddr); 1]) {
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
        (b, moves)
    }

    /// What [`follow_nodes`] returns, and the warnings it handed over.
    fn follow(
        paths: &StatePaths,
        b: NodeRecord,
        moves: &[(IpAddr, IpAddr)],
    ) -> (Result<(), Error>, Vec<String>) {
        let mut warnings = Vec::new();
        let named = follow_nodes(paths, &[b], moves, &[], 22, |w| warnings.push(w));
        (named, warnings)
    }

    #[test]
    fn a_last_rotation_that_cannot_be_followed_leaves_no_pin_behind() {
        let home = crate::state::scratch::home("record-follow");
        let paths = &home.paths;
        let (b, moves) = moved_with_a_bad_last_rotation(paths);
        let (named, warnings) = follow(paths, b, &moves);
        named.unwrap();
        let [warning] = &warnings[..] else {
            panic!("{warnings:?}")
        };
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

    /// A last rotation that cannot be followed and an ~/.ssh/config whose
    /// names cannot be written: the error said the second, and the
    /// warning of the first was lost with it.
    #[test]
    fn a_names_block_that_cannot_be_written_hides_no_warning_of_the_last_rotation() {
        let home = crate::state::scratch::home("record-both");
        let paths = &home.paths;
        let (b, moves) = moved_with_a_bad_last_rotation(paths);
        let ssh_config = paths.ssh_config();
        std::fs::create_dir_all(ssh_config.parent().unwrap()).unwrap();
        std::fs::write(
            &ssh_config,
            b"# BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost\n\
              Host \xff\n# END rccr\n",
        )
        .unwrap();
        let (named, warnings) = follow(paths, b, &moves);
        let e = named.unwrap_err();
        crate::error::assert_says(&e, &format!("{}:2: ", ssh_config.display()));
        let last = paths.last_rotation().display().to_string();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(&format!("{last}:2: ")),
            "{warnings:?}"
        );
    }
}
