//! `rccr setup`: the seed's flow, end to end, on the control node.
//!
//! 1. Read cluster_config.yml (`--config`, `./`, `/etc/rccr/`, defaults).
//! 2. Discover: sweep the LAN with the scan engine, then log in to every
//!    SSH host: a host that accepts the cluster key is **adopted**; one that
//!    accepts the temporary key and whose name (read over SSH) contains the
//!    filter is **new**; every other host is shown and never touched.
//! 3. Show the plan; ask unless `--yes`; `--dry-run` stops here.
//! 4. Adopt each new node: a unique hostname when it carries an image
//!    default (or a name another node has), recorded with its IP, MAC,
//!    role, architecture and host key.
//! 5. Rotate the new nodes from the temporary key to the cluster key with
//!    the no-lockout engine of `rccr keyrotate`; adopted nodes are left alone.
//! 6. Write rccr's inventory and the Ansible inventory, atomically.
//! 7. Run the configured playbooks when `ansible-playbook` exists.
//! 8. Report: a line per node per phase, then a table (or `--json`).
pub mod inventory;

use crate::config::{Config, Role};
use crate::error::Error;
use crate::fsutil;
use crate::json;
use crate::keys::rotate::{Node, Outcome};
use crate::keys::rotation;
use crate::parallel;
use crate::scan;
use crate::ssh::{Connection, SshError};
use crate::state::StatePaths;
use crate::wire::ipv4::Cidr;
use inventory::NodeRecord;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

const RENAME_SCRIPT: &str = include_str!("rename.sh");
/// SSH logins during discovery, at once.
const DISCOVERY_PARALLEL: usize = 32;
const SSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Hostnames the images ship with: every node carries one until renamed.
const IMAGE_DEFAULT_NAMES: &[&str] = &["ReCyClusteR-Target", "ReCyClusteR-Control", "localhost"];

pub struct Options {
    pub config: Option<PathBuf>,
    pub temp_key: Option<PathBuf>,
    pub subnets: Vec<Cidr>,
    pub iface: Option<String>,
    pub paths: StatePaths,
    pub yes: bool,
    pub dry_run: bool,
    pub json: bool,
    pub revert_after: Duration,
    pub playbooks: bool,
    /// Remove swarm nodes that left the inventory and services that left
    /// the config (kept otherwise).
    pub remove_missing: bool,
}

/// How discovery sorted a live host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Accepts the temporary key and is named like a node: to adopt.
    New,
    /// Accepts the cluster key: already ours.
    Adopted,
    /// Accepts the temporary key, but its name lacks the filter.
    Foreign,
    /// Accepts none of our keys.
    Refused,
    /// Port 22 closed, or no SSH conversation.
    NoSsh,
}

impl Class {
    fn as_str(self) -> &'static str {
        match self {
            Class::New => "new",
            Class::Adopted => "adopted",
            Class::Foreign => "foreign",
            Class::Refused => "refused",
            Class::NoSsh => "no-ssh",
        }
    }
}

/// A live host and what we learnt about it.
#[derive(Clone, Debug)]
struct Candidate {
    ip: Ipv4Addr,
    mac: Option<String>,
    /// The authoritative name (read over SSH), else the DNS one.
    hostname: Option<String>,
    arch: Option<String>,
    host_key: Option<String>,
    class: Class,
    /// For the final table.
    result: String,
    role: Role,
}

pub fn run(opts: Options) -> Result<(), Error> {
    let loaded = Config::load(opts.config.as_deref())?;
    for warning in &loaded.warnings {
        eprintln!("rccr setup: warning: {warning}");
    }
    let config = loaded.config;
    let paths = &opts.paths;
    let nodes_path = paths.state_dir.join("nodes");
    let mut known = inventory::load(&nodes_path)?;
    let temp_key = temp_key(&opts, &config, paths);
    let cluster_key = rotation::cluster_key(paths, config.ssh.key_type, &config.ssh.temp_key)?;
    if temp_key.is_none() && cluster_key.is_none() {
        return Err(Error::bad_input(
            config.ssh.temp_key.display().to_string(),
            "no temporary key there and no cluster key yet: pass --temp-key PATH",
        ));
    }
    let filter = config.discovery.hostname_filter.clone();

    // 2. Discover.
    let mut scan_opts = scan::Options::new(&filter);
    scan_opts.subnets = if opts.subnets.is_empty() {
        config
            .network
            .subnet
            .iter()
            .map(|s| Cidr::new_truncating(s.addr, s.prefix))
            .collect()
    } else {
        opts.subnets.clone()
    };
    scan_opts.iface = opts.iface.clone().or(config.network.interface.clone());
    scan_opts.timeout = Duration::from_millis(u64::from(config.discovery.timeout_ms).max(100));
    let report = scan::run(&scan_opts)?;
    for warning in &report.warnings {
        eprintln!("rccr setup: warning: {warning}");
    }
    let keys = LoginKeys {
        user: config.ssh.user.clone(),
        port: config.ssh.port,
        cluster: cluster_key.clone(),
        temporary: temp_key.clone(),
    };
    let mut candidates = parallel::map(&report.hosts, DISCOVERY_PARALLEL, |host| {
        classify(host, &keys, &filter)
    });
    for c in &mut candidates {
        c.role = pinned(&config, c.mac.as_deref())
            .and_then(|p| p.role)
            .unwrap_or(Role::Target);
    }
    plan_names(&mut candidates, &known, &config, &filter);

    // 3. The plan.
    let new: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].class == Class::New)
        .collect();
    if !opts.json || opts.dry_run {
        print_plan(&candidates, opts.json)?;
    }
    if opts.dry_run {
        eprintln!("rccr setup: dry run: nothing was changed");
        return Ok(());
    }
    if !new.is_empty() && !opts.yes {
        crate::cli::confirm(
            "rccr setup",
            &format!(
                "Adopt {} new node(s) and replace their temporary key? (--dry-run only looks)",
                new.len()
            ),
        )?;
    }
    paths.create_state_dir()?;

    // 4. Adopt: unique names first, over the temporary key.
    let renames: Vec<(usize, String)> = new
        .iter()
        .filter_map(|&i| {
            candidates[i]
                .result
                .strip_prefix("rename:")
                .map(|n| (i, n.to_string()))
        })
        .collect();
    let renamed = parallel::map(&renames, DISCOVERY_PARALLEL, |(i, name)| {
        rename(&keys, candidates[*i].ip, name)
    });
    for ((i, name), outcome) in renames.iter().zip(renamed) {
        let c = &mut candidates[*i];
        match outcome {
            Ok(()) => {
                eprintln!("rccr setup: {}: renamed to {name}", c.ip);
                c.hostname = Some(name.clone());
            }
            Err(e) => eprintln!("rccr setup: {}: could not rename to {name}: {e}", c.ip),
        }
        c.result.clear();
    }

    // 5. Rotate the new nodes to the cluster key.
    let mut cluster_key_path = cluster_key;
    if !new.is_empty() {
        let summary = rotation::run(
            &rotation::Options {
                nodes: new
                    .iter()
                    .map(|&i| Node {
                        ip: IpAddr::V4(candidates[i].ip),
                        port: config.ssh.port,
                    })
                    .collect(),
                from_key: temp_key.clone(),
                key_type: config.ssh.key_type,
                user: config.ssh.user.clone(),
                revert_after: opts.revert_after,
                timeout: SSH_TIMEOUT,
                parallel: 32,
                paths: StatePaths::resolve(
                    Some(&paths.state_dir.display().to_string()),
                    Some(&paths.known_hosts.display().to_string()),
                ),
                yes: true,
                json: false,
                forget_temp_key: false,
            },
            &|node, phase| eprintln!("rccr setup: {node}: {phase}"),
        )?;
        for r in &summary.reports {
            if let Some(c) = candidates
                .iter_mut()
                .find(|c| IpAddr::V4(c.ip) == r.node.ip)
            {
                c.result = match r.outcome {
                    Outcome::Rotated => "adopted".into(),
                    other => format!("{}: {}", other.as_str(), r.detail),
                };
                if r.outcome == Outcome::Rotated {
                    c.class = Class::Adopted;
                }
            }
        }
        cluster_key_path = Some(summary.new_key);
    }

    // 6. The inventory: adopted nodes, the control itself, and known nodes
    // that did not answer this time (kept: they may be switched off).
    let mut records: Vec<NodeRecord> = Vec::new();
    records.push(control_record(&scan_opts)?);
    for c in candidates.iter().filter(|c| c.class == Class::Adopted) {
        records.push(NodeRecord {
            ip: IpAddr::V4(c.ip),
            mac: c.mac.clone().unwrap_or_else(|| "-".into()),
            hostname: c.hostname.clone().unwrap_or_else(|| c.ip.to_string()),
            role: c.role,
            arch: c.arch.clone().unwrap_or_else(|| "-".into()),
            host_key: c.host_key.clone().unwrap_or_else(|| "-".into()),
        });
    }
    known.retain(|k| k.role != Role::Control && !records.iter().any(|r| same_node(r, k)));
    let missing: Vec<NodeRecord> = known;
    records.extend(missing.iter().cloned());
    fsutil::write_atomic(&nodes_path, inventory::render(&records).as_bytes(), 0o600)?;
    let key_for_ansible = cluster_key_path
        .clone()
        .unwrap_or_else(|| paths.ssh_dir.join("id_ed25519"));
    let ansible_path = paths.state_dir.join("inventory.ini");
    let ini = inventory::render_ansible(&records, &config.ssh.user, &key_for_ansible);
    fsutil::write_atomic(&ansible_path, ini.as_bytes(), 0o600)?;
    if let Some(problem) = crate::state::persist_control() {
        eprintln!("rccr setup: {problem}");
    }

    // 7. Hand over to Ansible: rccr's built-in playbooks (machine, swarm and
    // container layers), then the configured ones.
    let playbooks_failed = opts.playbooks
        && crate::swarm::playbooks::run(&config, paths, &ansible_path, opts.remove_missing)?;

    // 8. Report.
    print_final(&candidates, &records, &missing, opts.json)?;
    eprintln!(
        "rccr setup: inventory written to {} and {}",
        nodes_path.display(),
        ansible_path.display()
    );
    let failed: Vec<String> = new
        .iter()
        .filter(|&&i| candidates[i].class != Class::Adopted)
        .map(|&i| candidates[i].ip.to_string())
        .collect();
    if !failed.is_empty() {
        return Err(Error::Failed(format!(
            "{} new node(s) not adopted ({}): run rccr setup again once they are reachable",
            failed.len(),
            failed.join(", ")
        )));
    }
    if playbooks_failed {
        return Err(Error::Failed(
            "a playbook failed; see its output above".into(),
        ));
    }
    Ok(())
}

struct LoginKeys {
    user: String,
    port: u16,
    cluster: Option<PathBuf>,
    temporary: Option<PathBuf>,
}

/// The temporary key: `--temp-key`, the config's path, or rccr's kept copy.
fn temp_key(opts: &Options, config: &Config, paths: &StatePaths) -> Option<PathBuf> {
    if let Some(path) = &opts.temp_key {
        return Some(path.clone());
    }
    [config.ssh.temp_key.clone(), paths.kept_temp_key()]
        .into_iter()
        .find(|p| p.is_file())
}

/// Logs in with the cluster key, else the temporary key, and reads the
/// host's name and architecture. Writes nothing anywhere.
fn classify(host: &scan::Host, keys: &LoginKeys, filter: &str) -> Candidate {
    let mut c = Candidate {
        ip: host.ip,
        mac: host.mac.map(|m| m.to_string()),
        hostname: host.hostname.clone(),
        arch: None,
        host_key: None,
        class: Class::NoSsh,
        result: String::new(),
        role: Role::Target,
    };
    if !host.ssh {
        return c;
    }
    let addr = SocketAddr::from((host.ip, keys.port));
    let Ok(conn) = Connection::open(addr, SSH_TIMEOUT) else {
        return c;
    };
    c.host_key = conn.host_key().map(|k| k.fingerprint);
    let try_key = |key: &Option<PathBuf>| match key {
        Some(path) => conn.authenticate(&keys.user, path),
        None => Err(SshError::Denied),
    };
    let class = if try_key(&keys.cluster).is_ok() {
        Class::Adopted
    } else if try_key(&keys.temporary).is_ok() {
        Class::New
    } else {
        c.class = Class::Refused;
        return c;
    };
    match conn.run("hostname; uname -m", b"") {
        Ok(out) if out.success() => {
            let text = out.text();
            let mut lines = text.lines();
            c.hostname = lines.next().and_then(scan::names::accept).or(c.hostname);
            c.arch = lines.next().map(str::to_string);
        }
        _ => {}
    }
    let named_ours = c
        .hostname
        .as_deref()
        .is_some_and(|n| scan::names::is_valid_hostname(n) && scan::names::name_matches(n, filter));
    c.class = match class {
        Class::New if !named_ours => Class::Foreign,
        other => other,
    };
    c
}

fn pinned<'c>(config: &'c Config, mac: Option<&str>) -> Option<&'c crate::config::NodePin> {
    let mac = crate::config::parse_mac(mac?)?;
    config.nodes.iter().find(|p| p.mac == mac)
}

/// Decides the new names: a pinned name, else a unique one for nodes that
/// carry an image default or a name another node has. Marks them in
/// `result` as `rename:NAME`.
fn plan_names(candidates: &mut [Candidate], known: &[NodeRecord], config: &Config, filter: &str) {
    let names: Vec<String> = candidates
        .iter()
        .filter(|c| matches!(c.class, Class::New | Class::Adopted))
        .filter_map(|c| c.hostname.clone())
        .chain(known.iter().map(|k| k.hostname.clone()))
        .collect();
    let prefix = if filter.is_empty() {
        "ReCyClusteR"
    } else {
        filter
    };
    for c in candidates.iter_mut().filter(|c| c.class == Class::New) {
        let current = c.hostname.clone().unwrap_or_default();
        let wanted = pinned(config, c.mac.as_deref()).and_then(|p| p.hostname.clone());
        let shared = names
            .iter()
            .filter(|n| n.eq_ignore_ascii_case(&current))
            .count()
            > 1;
        let default = IMAGE_DEFAULT_NAMES
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&current));
        let name = match wanted {
            Some(name) => name,
            None if default || shared => unique_name(prefix, c.role, c.mac.as_deref(), c.ip),
            None => continue,
        };
        if name != current {
            c.result = format!("rename:{name}");
        }
    }
}

/// `ReCyClusteR-Target-3f2a1c`: the last three bytes of the MAC (of the
/// address when the MAC is unknown) keep names unique and stable.
fn unique_name(prefix: &str, role: Role, mac: Option<&str>, ip: Ipv4Addr) -> String {
    let suffix = match mac.and_then(crate::config::parse_mac) {
        Some(m) => format!("{:02x}{:02x}{:02x}", m[3], m[4], m[5]),
        None => {
            let o = ip.octets();
            format!("{:02x}{:02x}{:02x}", o[1], o[2], o[3])
        }
    };
    let role = match role {
        Role::Control => "Control",
        Role::Target => "Target",
    };
    format!("{prefix}-{role}-{suffix}")
}

fn rename(keys: &LoginKeys, ip: Ipv4Addr, name: &str) -> Result<(), String> {
    let key = keys.temporary.as_ref().ok_or("no temporary key")?;
    let conn = Connection::open(SocketAddr::from((ip, keys.port)), SSH_TIMEOUT)
        .map_err(|e| e.to_string())?;
    conn.authenticate(&keys.user, key)
        .map_err(|e| e.to_string())?;
    let command = format!(
        "sh -c {} rccr {}",
        crate::keys::rotate::shell_quote(RENAME_SCRIPT),
        crate::keys::rotate::shell_quote(name)
    );
    let out = conn.run(&command, b"").map_err(|e| e.to_string())?;
    if out.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Whether two records are one machine: same MAC, else same address.
fn same_node(a: &NodeRecord, b: &NodeRecord) -> bool {
    if a.mac != "-" && b.mac != "-" {
        a.mac.eq_ignore_ascii_case(&b.mac)
    } else {
        a.ip == b.ip
    }
}

/// The control node itself: the machine running setup.
fn control_record(scan_opts: &scan::Options) -> Result<NodeRecord, Error> {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "control".into());
    let arch = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "-".into());
    let ifaces = crate::sys::interfaces().map_err(|e| Error::io("cannot list interfaces", e))?;
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let wanted = scan_opts
        .iface
        .clone()
        .or_else(|| scan::plan::default_route_iface(&routes));
    let iface = ifaces
        .iter()
        .filter(|i| i.up && !i.loopback && !i.addrs.is_empty())
        .find(|i| wanted.as_deref().map_or(true, |w| w == i.name))
        .or_else(|| {
            ifaces
                .iter()
                .find(|i| i.up && !i.loopback && !i.addrs.is_empty())
        });
    let (ip, mac) = match iface {
        Some(i) => (
            IpAddr::V4(i.addrs[0].0),
            i.mac
                .map(|m| {
                    m.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":")
                })
                .unwrap_or_else(|| "-".into()),
        ),
        None => (IpAddr::V4(Ipv4Addr::LOCALHOST), "-".into()),
    };
    Ok(NodeRecord {
        ip,
        mac,
        hostname,
        role: Role::Control,
        arch,
        host_key: "-".into(),
    })
}

/// The role column: only nodes of the cluster have one.
fn shown_role(c: &Candidate) -> &'static str {
    match c.class {
        Class::New | Class::Adopted => inventory::role_name(c.role),
        _ => "-",
    }
}

fn shown_name(c: &Candidate) -> String {
    c.hostname
        .as_deref()
        .map(|n| scan::names::display(n).into_owned())
        .unwrap_or_else(|| "-".into())
}

fn print_plan(candidates: &[Candidate], as_json: bool) -> Result<(), Error> {
    let mut out = String::new();
    if as_json {
        out.push('[');
        for (i, c) in candidates.iter().enumerate() {
            out.push_str(if i == 0 { "\n  " } else { ",\n  " });
            push_json(
                &mut out,
                c,
                c.class.as_str(),
                c.result.strip_prefix("rename:"),
            );
            out.push('}');
        }
        out.push_str("\n]\n");
    } else {
        out.push_str(&format!(
            "{:<16} {:<18} {:<30} {:<9} PLAN\n",
            "IP", "MAC", "HOSTNAME", "FOUND"
        ));
        for c in candidates {
            let plan = match c.class {
                Class::New => match c.result.strip_prefix("rename:") {
                    Some(name) => format!("adopt as {name}, replace the temporary key"),
                    None => "adopt, replace the temporary key".into(),
                },
                Class::Adopted => "none: already in the cluster".into(),
                Class::Foreign => {
                    "none: accepts the temporary key, but not named like a node".into()
                }
                Class::Refused => "none: refuses our keys".into(),
                Class::NoSsh => "none: no SSH".into(),
            };
            out.push_str(&format!(
                "{:<16} {:<18} {:<30} {:<9} {plan}\n",
                c.ip.to_string(),
                c.mac.as_deref().unwrap_or("-"),
                shown_name(c),
                c.class.as_str()
            ));
        }
    }
    write_stdout(&out)
}

fn push_json(out: &mut String, c: &Candidate, result: &str, new_name: Option<&str>) {
    out.push_str(&format!(
        "{{\"ip\": {}, \"mac\": {}, \"hostname\": {}, \"arch\": {}, \"role\": {}, \"found\": {}, \"result\": {}",
        json::string(&c.ip.to_string()),
        c.mac.as_deref().map_or("null".into(), json::string),
        c.hostname.as_deref().map_or("null".into(), json::string),
        c.arch.as_deref().map_or("null".into(), json::string),
        json::string(shown_role(c)),
        json::string(c.class.as_str()),
        json::string(result),
    ));
    if let Some(name) = new_name {
        out.push_str(&format!(", \"new_hostname\": {}", json::string(name)));
    }
}

fn print_final(
    candidates: &[Candidate],
    records: &[NodeRecord],
    missing: &[NodeRecord],
    as_json: bool,
) -> Result<(), Error> {
    let key_state = |c: &Candidate| match c.class {
        Class::Adopted => "cluster",
        Class::New => "temporary",
        _ => "-",
    };
    let result = |c: &Candidate| {
        if c.result.is_empty() {
            match c.class {
                Class::Adopted => "already adopted".to_string(),
                other => format!("untouched ({})", other.as_str()),
            }
        } else {
            c.result.clone()
        }
    };
    let mut out = String::new();
    if as_json {
        out.push('[');
        let mut first = true;
        let mut sep = |out: &mut String| {
            out.push_str(if first { "\n  " } else { ",\n  " });
            first = false;
        };
        if let Some(control) = records.first() {
            sep(&mut out);
            out.push_str(&format!(
                "{{\"ip\": {}, \"mac\": {}, \"hostname\": {}, \"arch\": {}, \"role\": \"control\", \"found\": \"self\", \"result\": \"control\", \"key\": \"-\"}}",
                json::string(&control.ip.to_string()),
                json::string(&control.mac),
                json::string(&control.hostname),
                json::string(&control.arch)
            ));
        }
        for c in candidates {
            sep(&mut out);
            push_json(&mut out, c, &result(c), None);
            out.push_str(&format!(", \"key\": {}}}", json::string(key_state(c))));
        }
        for m in missing {
            sep(&mut out);
            out.push_str(&format!(
                "{{\"ip\": {}, \"mac\": {}, \"hostname\": {}, \"arch\": {}, \"role\": {}, \"found\": \"missing\", \"result\": \"not found this time\", \"key\": \"cluster\"}}",
                json::string(&m.ip.to_string()),
                json::string(&m.mac),
                json::string(&m.hostname),
                json::string(&m.arch),
                json::string(inventory::role_name(m.role))
            ));
        }
        out.push_str("\n]\n");
    } else {
        out.push_str(&format!(
            "\n{:<30} {:<16} {:<8} {:<8} {:<10} RESULT\n",
            "NODE", "IP", "ARCH", "ROLE", "KEY"
        ));
        if let Some(control) = records.first() {
            out.push_str(&format!(
                "{:<30} {:<16} {:<8} {:<8} {:<10} this machine\n",
                control.hostname,
                control.ip.to_string(),
                control.arch,
                "control",
                "-"
            ));
        }
        for c in candidates {
            out.push_str(&format!(
                "{:<30} {:<16} {:<8} {:<8} {:<10} {}\n",
                shown_name(c),
                c.ip.to_string(),
                c.arch.as_deref().unwrap_or("-"),
                shown_role(c),
                key_state(c),
                result(c)
            ));
        }
        for m in missing {
            out.push_str(&format!(
                "{:<30} {:<16} {:<8} {:<8} {:<10} not found this time (kept in the inventory)\n",
                m.hostname,
                m.ip.to_string(),
                m.arch,
                inventory::role_name(m.role),
                "cluster"
            ));
        }
    }
    write_stdout(&out)
}

fn write_stdout(text: &str) -> Result<(), Error> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::io("stdout", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_keep_the_filter_and_use_the_mac() {
        let ip = Ipv4Addr::new(10, 0, 5, 6);
        assert_eq!(
            unique_name("ReCyClusteR", Role::Target, Some("02:52:43:3f:2a:1c"), ip),
            "ReCyClusteR-Target-3f2a1c"
        );
        assert_eq!(
            unique_name("lab", Role::Control, None, ip),
            "lab-Control-000506"
        );
    }
}
