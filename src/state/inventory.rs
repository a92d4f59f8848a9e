//! The cluster's inventory: rccr's own state file (`STATE/nodes`, one
//! tab-separated line per node) and the Ansible inventory rendered from it
//! (`STATE/inventory.ini`, groups `control` and `targets`). Both are
//! rewritten atomically; the user's cluster_config.yml is never touched.
//! `setup` writes them; `swarm` and `status` read them.
use crate::error::Error;
use crate::fsutil;
use crate::identity::{Arch, Mac, Role};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

const HEADER: &str =
    "# rccr inventory: ip\tmac\thostname\trole\tarch\thost-key (written by rccr setup)\n";
/// How an unknown value is written.
const NONE: &str = "-";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub ip: IpAddr,
    /// `None` when unknown (a host behind a router).
    pub mac: Option<Mac>,
    pub hostname: String,
    pub role: Role,
    /// `None` when the node did not say, or said something else.
    pub arch: Option<Arch>,
    /// `SHA256:...` of the host key pinned for it (`None` for the control).
    pub host_key: Option<String>,
}

impl NodeRecord {
    /// Whether two records are one machine: same MAC, else same address.
    pub fn same_node(&self, other: &NodeRecord) -> bool {
        match (self.mac, other.mac) {
            (Some(a), Some(b)) => a == b,
            _ => self.ip == other.ip,
        }
    }

    /// The arch column: the `uname -m` name, or `-`.
    pub fn arch_name(&self) -> &'static str {
        self.arch.map_or(NONE, Arch::uname)
    }
}

fn optional<T: std::str::FromStr>(field: &str) -> Result<Option<T>, ()> {
    if field == NONE {
        return Ok(None);
    }
    field.parse().map(Some).map_err(|_| ())
}

pub fn parse(text: &str, origin: &Path) -> Result<Vec<NodeRecord>, Error> {
    let mut nodes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bad = || {
            Error::bad_input(
                format!("{}:{}", origin.display(), index + 1),
                "not an inventory line (ip, mac, hostname, role, arch, host-key); fix or remove it",
            )
        };
        let fields: Vec<&str> = line.split('\t').collect();
        let [ip, mac, hostname, role, arch, host_key] = fields[..] else {
            return Err(bad());
        };
        nodes.push(NodeRecord {
            ip: ip.parse().map_err(|_| bad())?,
            mac: optional(mac).map_err(|()| bad())?,
            hostname: hostname.to_string(),
            role: role.parse().map_err(|()| bad())?,
            // An architecture rccr does not build for is not an error: the
            // node is kept, its arch unknown.
            arch: optional(arch).unwrap_or(None),
            host_key: optional(host_key).map_err(|()| bad())?,
        });
    }
    Ok(nodes)
}

pub fn render(nodes: &[NodeRecord]) -> String {
    let mut out = String::from(HEADER);
    for n in nodes {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}",
            n.ip,
            n.mac.map_or(NONE.into(), |m| m.to_string()),
            n.hostname,
            n.role,
            n.arch_name(),
            n.host_key.as_deref().unwrap_or(NONE)
        );
    }
    out
}

/// Reads the state file; an absent file is an empty inventory.
pub fn load(path: &Path) -> Result<Vec<NodeRecord>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Writes the state file and the Ansible inventory, atomically.
pub fn save(
    paths: &super::StatePaths,
    nodes: &[NodeRecord],
    user: &str,
    key: &Path,
) -> Result<(), Error> {
    fsutil::write_atomic(&paths.nodes(), render(nodes).as_bytes(), 0o600)?;
    let ini = render_ansible(nodes, user, key);
    fsutil::write_atomic(&paths.inventory_ini(), ini.as_bytes(), 0o600)
}

/// The Ansible inventory (INI): the control runs plays locally, targets
/// are reached as `user` with the cluster key.
pub fn render_ansible(nodes: &[NodeRecord], user: &str, key: &Path) -> String {
    let mut out =
        String::from("# Ansible inventory written by rccr setup; rewritten on every run.\n");
    for (group, role) in [("control", Role::Control), ("targets", Role::Target)] {
        let _ = writeln!(out, "\n[{group}]");
        for n in nodes.iter().filter(|n| n.role == role) {
            let _ = write!(out, "{} ansible_host={}", n.hostname, n.ip);
            if role == Role::Control {
                out.push_str(" ansible_connection=local");
            } else {
                let _ = write!(
                    out,
                    " ansible_user={user} ansible_ssh_private_key_file={}",
                    key.display()
                );
            }
            let _ = writeln!(out, " rccr_role={} rccr_arch={}", n.role, n.arch_name());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ip: &str, name: &str, role: Role) -> NodeRecord {
        NodeRecord {
            ip: ip.parse().unwrap(),
            mac: "02:52:43:4c:00:02".parse().ok(),
            hostname: name.into(),
            role,
            arch: Some(Arch::X86_64),
            host_key: Some("SHA256:abc".into()),
        }
    }

    #[test]
    fn state_file_round_trips() {
        let mut nodes = vec![
            node("10.0.0.1", "ReCyClusteR-Control-000001", Role::Control),
            node("10.0.0.2", "ReCyClusteR-Target-000002", Role::Target),
        ];
        nodes[0].mac = None;
        nodes[0].host_key = None;
        nodes[0].arch = None;
        let text = render(&nodes);
        assert!(text.starts_with("# rccr inventory"));
        assert!(text.contains("\n10.0.0.1\t-\tReCyClusteR-Control-000001\tcontrol\t-\t-\n"));
        assert_eq!(parse(&text, Path::new("nodes")).unwrap(), nodes);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let err = parse("# x\n10.0.0.1\t-\th\tboss\t-\t-\n", Path::new("/s/nodes")).unwrap_err();
        assert!(err.to_string().starts_with("/s/nodes:2:"), "{err}");
        assert!(parse("1.2.3\t-\th\ttarget\t-\t-\n", Path::new("n")).is_err());
        assert!(parse("10.0.0.1\t-\th\ttarget\n", Path::new("n")).is_err());
        assert!(parse("10.0.0.1\tm\th\ttarget\t-\t-\n", Path::new("n")).is_err());
        // An arch rccr does not know is kept as unknown.
        let nodes = parse("10.0.0.1\t-\th\ttarget\triscv64\t-\n", Path::new("n")).unwrap();
        assert_eq!(nodes[0].arch, None);
    }

    #[test]
    fn ansible_inventory_has_both_groups() {
        let nodes = vec![
            node("10.0.0.1", "c1", Role::Control),
            node("10.0.0.2", "t1", Role::Target),
            node("10.0.0.3", "t2", Role::Target),
        ];
        let ini = render_ansible(&nodes, "root", Path::new("/root/.ssh/id_ed25519"));
        assert!(ini.contains("[control]\nc1 ansible_host=10.0.0.1 ansible_connection=local rccr_role=control rccr_arch=x86_64\n"), "{ini}");
        assert!(ini.contains("[targets]\nt1 ansible_host=10.0.0.2 ansible_user=root ansible_ssh_private_key_file=/root/.ssh/id_ed25519 rccr_role=target rccr_arch=x86_64\nt2 "), "{ini}");
    }
}
