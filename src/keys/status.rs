//! `rccr-keys status`: for each node, which of our keys it accepts
//! (temporary, current, previous), its host key fingerprint, and whether
//! that fingerprint is the pinned one. Nothing is written anywhere.
use super::journal::{self, Record};
use super::known_hosts::{host_field, KnownHosts, Pin};
use super::rotate::Node;
use super::{nodes, public_path, TEMP_KEY_COMMENT};
use crate::error::Error;
use crate::json;
use crate::parallel;
use crate::ssh::{Connection, SshError};
use crate::state::StatePaths;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub struct Options {
    pub nodes: Vec<Node>,
    pub port: u16,
    pub user: String,
    pub timeout: Duration,
    pub paths: StatePaths,
    pub json: bool,
}

const ROLES: [&str; 3] = ["temporary", "current", "previous"];
const PARALLEL: usize = 32;

struct NodeStatus {
    node: Node,
    host_key: Option<String>,
    pinned: &'static str,
    /// Per role in [`ROLES`]: "yes", "no", "-" (no such key) or an error.
    accepts: [String; 3],
    error: Option<String>,
}

pub fn status(opts: Options) -> Result<(), Error> {
    let paths = &opts.paths;
    let unfinished = journal::load(&paths.journal())?;
    let last = journal::load(&paths.last_rotation())?;
    let mut node_list = opts.nodes.clone();
    if node_list.is_empty() {
        for record in unfinished.iter().chain(last.iter()) {
            for (name, _) in &record.nodes {
                if let Some(node) = nodes::parse(name, opts.port) {
                    nodes::push_once(&mut node_list, node);
                }
            }
        }
    }
    if node_list.is_empty() {
        return Err(Error::Usage(
            "rccr-keys status: no nodes known yet: pass --host IP or --hosts-file FILE".into(),
        ));
    }
    let keys = role_keys(paths, unfinished.as_ref().or(last.as_ref()));
    let known_hosts = KnownHosts::new(paths.known_hosts.clone());
    let statuses = parallel::map(&node_list, PARALLEL, |node| {
        probe(node, &opts, &keys, &known_hosts)
    });
    print(&statuses, &keys, paths, opts.json)?;
    let bad = statuses
        .iter()
        .filter(|s| s.error.is_some() || s.pinned == "MISMATCH")
        .count();
    if bad > 0 {
        return Err(Error::Failed(format!(
            "{bad} of {} nodes unreachable or with a changed host key",
            statuses.len()
        )));
    }
    Ok(())
}

/// The private key files for each role, where we have them.
fn role_keys(paths: &StatePaths, record: Option<&Record>) -> [Option<PathBuf>; 3] {
    let is_temp = |path: &PathBuf| {
        std::fs::read_to_string(public_path(path))
            .is_ok_and(|line| line.trim_end().ends_with(TEMP_KEY_COMMENT))
    };
    let kept = paths.kept_temp_key();
    let temporary = [kept, paths.ssh_dir.join("id_rsa")]
        .into_iter()
        .find(|p| p.exists() && is_temp(p));
    let current = record.map(|r| r.new_key.clone()).filter(|p| p.exists());
    let previous = record
        .map(|r| r.old_key.clone())
        .filter(|p| p.exists() && !is_temp(p));
    [temporary, current, previous]
}

fn probe(
    node: &Node,
    opts: &Options,
    keys: &[Option<PathBuf>; 3],
    known_hosts: &KnownHosts,
) -> NodeStatus {
    let mut status = NodeStatus {
        node: *node,
        host_key: None,
        pinned: "-",
        accepts: Default::default(),
        error: None,
    };
    let addr = SocketAddr::new(node.ip, node.port);
    for (slot, key) in status.accepts.iter_mut().zip(keys) {
        let Some(key) = key else {
            *slot = "-".into();
            continue;
        };
        let conn = match Connection::open(addr, opts.timeout) {
            Ok(conn) => conn,
            Err(e) => {
                status.error = Some(e.to_string());
                *slot = "?".into();
                continue;
            }
        };
        if status.host_key.is_none() {
            if let Some(host_key) = conn.host_key() {
                let hashed = |line: &str| host_key.hashed_line_names(line, node.ip, node.port);
                status.pinned = match known_hosts.check(
                    &host_field(node.ip, node.port),
                    &host_key.line,
                    &hashed,
                ) {
                    Ok(Pin::Match) => "yes",
                    Ok(Pin::Mismatch { .. }) => "MISMATCH",
                    Ok(Pin::Unknown) => "no",
                    Err(_) => "?",
                };
                status.host_key = Some(host_key.fingerprint);
            }
        }
        *slot = match conn.authenticate(&opts.user, key) {
            Ok(()) => "yes".into(),
            Err(SshError::Denied) => "no".into(),
            Err(e) => format!("? ({e})"),
        };
    }
    status
}

fn print(
    statuses: &[NodeStatus],
    keys: &[Option<PathBuf>; 3],
    paths: &StatePaths,
    as_json: bool,
) -> Result<(), Error> {
    let mut out = String::new();
    if as_json {
        out.push('[');
        for (i, s) in statuses.iter().enumerate() {
            out.push_str(if i == 0 { "\n  " } else { ",\n  " });
            out.push_str(&format!(
                "{{\"node\": {}, \"port\": {}, \"host_key\": {}, \"pinned\": {}",
                json::string(&s.node.ip.to_string()),
                s.node.port,
                s.host_key.as_deref().map_or("null".into(), json::string),
                json::string(s.pinned)
            ));
            for (role, accepts) in ROLES.iter().zip(&s.accepts) {
                out.push_str(&format!(
                    ", {}: {}",
                    json::string(role),
                    json::string(accepts)
                ));
            }
            let error = s.error.as_deref().map_or("null".into(), json::string);
            out.push_str(&format!(", \"error\": {error}}}"));
        }
        out.push_str("\n]\n");
    } else {
        out.push_str(&format!(
            "{:<22} {:<52} {:<8} {:<10} {:<8} {}\n",
            "NODE", "HOST KEY", "PINNED", "TEMPORARY", "CURRENT", "PREVIOUS"
        ));
        for s in statuses {
            out.push_str(&format!(
                "{:<22} {:<52} {:<8} {:<10} {:<8} {}\n",
                s.node.to_string(),
                s.host_key.as_deref().unwrap_or("-"),
                s.pinned,
                s.accepts[0],
                s.accepts[1],
                s.accepts[2]
            ));
            if let Some(e) = &s.error {
                out.push_str(&format!("  {}: {e}\n", s.node));
            }
        }
        for (role, key) in ROLES.iter().zip(keys) {
            let shown = key
                .as_ref()
                .map_or("none".into(), |p| p.display().to_string());
            out.push_str(&format!("{role} key: {shown}\n"));
        }
        if paths.kept_temp_key().exists() {
            out.push_str(&format!(
                "rccr keeps a root-only copy of the temporary key at {} (rccr keyrotate --forget-temp-key deletes it)\n",
                paths.kept_temp_key().display()
            ));
        }
    }
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(|e| Error::io("stdout", e))
}
