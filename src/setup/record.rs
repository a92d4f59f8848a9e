//! Stage 6 of setup: the inventory, from what this run found and what the
//! last one knew.
use super::plan::Planned;
use crate::error::Error;
use crate::identity::{Arch, Hostname, Role};
use crate::keys::control::known_hosts::{KnownHosts, Named};
use crate::scan;
use crate::state::inventory::NodeRecord;
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
    let mut records = vec![control_record(scan_opts)?];
    for c in planned
        .iter()
        .map(|p| &p.candidate)
        .filter(|c| c.class == super::discover::Class::Adopted)
    {
        records.push(NodeRecord {
            ip: IpAddr::V4(c.ip),
            mac: c.mac,
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
        .collect();
    let count = missing.len();
    records.extend(missing);
    Ok((records, count))
}

/// Names every node with a pinned host key in known_hosts, with its
/// address (`NAME,IP`), so `ssh root@NAME` and `ssh root@IP` both check
/// the key; lines of nodes that moved follow them. Nodes found this run
/// come before missing ones in `records`, so an address both claim is the
/// one found there now.
pub fn name_host_keys(known_hosts: &Path, records: &[NodeRecord], port: u16) -> Result<(), Error> {
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
