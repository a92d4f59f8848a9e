//! The cluster's inventory: rccr's own state file (`~/.rccr/nodes`, one
//! tab-separated line per node) and the Ansible inventory rendered from it
//! (`~/.rccr/inventory.ini`, groups `control` and `targets`). Both are
//! rewritten atomically; the user's cluster_config.yml is never touched.
use crate::config::Role;
use crate::error::Error;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;

const HEADER: &str =
    "# rccr inventory: ip\tmac\thostname\trole\tarch\thost-key (written by rccr setup)\n";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRecord {
    pub ip: IpAddr,
    /// `aa:bb:cc:dd:ee:ff`, or `-` when unknown (a host behind a router).
    pub mac: String,
    pub hostname: String,
    pub role: Role,
    /// `uname -m` of the node.
    pub arch: String,
    /// `SHA256:...` of the host key pinned for it (`-` for the control).
    pub host_key: String,
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Control => "control",
        Role::Target => "target",
    }
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
        let role = match role {
            "control" => Role::Control,
            "target" => Role::Target,
            _ => return Err(bad()),
        };
        nodes.push(NodeRecord {
            ip: ip.parse().map_err(|_| bad())?,
            mac: mac.to_string(),
            hostname: hostname.to_string(),
            role,
            arch: arch.to_string(),
            host_key: host_key.to_string(),
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
            n.mac,
            n.hostname,
            role_name(n.role),
            n.arch,
            n.host_key
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
            let _ = writeln!(out, " rccr_role={} rccr_arch={}", role_name(n.role), n.arch);
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
            mac: "02:52:43:4c:00:02".into(),
            hostname: name.into(),
            role,
            arch: "x86_64".into(),
            host_key: "SHA256:abc".into(),
        }
    }

    #[test]
    fn state_file_round_trips() {
        let nodes = vec![
            node("10.0.0.1", "ReCyClusteR-Control-000001", Role::Control),
            node("10.0.0.2", "ReCyClusteR-Target-000002", Role::Target),
        ];
        let text = render(&nodes);
        assert!(text.starts_with("# rccr inventory"));
        assert_eq!(parse(&text, Path::new("nodes")).unwrap(), nodes);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let err = parse("# x\n10.0.0.1\tm\th\tboss\ta\tk\n", Path::new("/s/nodes")).unwrap_err();
        assert!(err.to_string().starts_with("/s/nodes:2:"), "{err}");
        assert!(parse("1.2.3\tm\th\ttarget\ta\tk\n", Path::new("n")).is_err());
        assert!(parse("10.0.0.1\tm\th\ttarget\n", Path::new("n")).is_err());
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
