//! `rccr-keys status`: for each node, which of our keys it accepts
//! (temporary, current, previous), its host key fingerprint, and whether
//! that fingerprint is the pinned one, whether its last rotation was
//! persisted (from the journals: `yes`, `volatile` for a node that would
//! come back from a reboot with its old keys, `-` when none is recorded),
//! and whether a rotation is armed there (the node's `read` step, over the
//! first key that logs in: `-`, `armed` with its revert pending,
//! `timer-died` when its revert timer died and the next stage reverts it
//! (on a symbolic link drops it),
//! `?` when unknown). Nothing is written anywhere.
use super::engine::{self, NodeSide, Rotation};
use super::journal;
use super::known_hosts::{KnownHosts, Pin, Reached, Unreached};
use crate::error::Error;
use crate::keys::addr::{self, NodeAddr};
use crate::keys::resolve::Resolver;
use crate::keys::KeyType;
use crate::parallel;
use crate::print;
use crate::ssh::SshError;
use crate::state::inventory::NodeRecord;
use crate::state::StatePaths;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub struct Options {
    /// The command as it was called (`rccr keys status`), for its
    /// warnings, as its errors and usage lines name it.
    pub program: String,
    pub nodes: Vec<NodeAddr>,
    pub port: u16,
    pub user: String,
    /// `ssh.key_type`: which cluster key is looked for first.
    pub key_type: KeyType,
    /// `ssh.temp_key`: where the temporary key is looked for first.
    pub temp_key: Option<crate::config::NamedPath>,
    pub timeout: Duration,
    pub paths: StatePaths,
    pub json: bool,
}

const ROLES: [&str; 3] = ["temporary", "current", "previous"];
const PARALLEL: usize = 32;

struct NodeStatus {
    node: NodeAddr,
    host_key: Option<String>,
    pinned: &'static str,
    /// Per role in [`ROLES`]: "yes", "no", "-" (no such key) or an error.
    accepts: [String; 3],
    persisted: &'static str,
    /// The rotation armed there; `Unknown` when no key logged in.
    rotation: Rotation,
    error: Option<String>,
}

impl NodeStatus {
    /// Nothing known of `node` yet.
    fn new(node: &NodeAddr) -> NodeStatus {
        NodeStatus {
            node: *node,
            host_key: None,
            pinned: "-",
            accepts: Default::default(),
            persisted: "-",
            rotation: Rotation::Unknown,
            error: None,
        }
    }
}

pub fn status(opts: Options) -> Result<(), Error> {
    let paths = &opts.paths;
    let known_hosts = KnownHosts::open(paths.known_hosts.clone())?;
    let unfinished = journal::load(&paths.journal())?;
    let last = journal::load(&paths.last_rotation())?;
    let records: Vec<&journal::Record> = unfinished.iter().chain(last.iter()).collect();
    let inventory = crate::state::inventory::load(&paths.nodes())?;
    let node_list = match opts.nodes.as_slice() {
        [] => default_nodes(&opts, &inventory, &records, &known_hosts)?,
        given => given.iter().map(|n| (*n, vec![*n])).collect(),
    };
    let held = crate::state::inventory::held_back(paths, &inventory)?;
    if node_list.is_empty() {
        return Err(Error::no_nodes(
            "run rccr setup, or pass --host IP or --hosts-file FILE",
        ));
    }
    let keys = role_keys(&opts)?;
    if keys.iter().all(Option::is_none) {
        // Nothing to ask a node: every one would show as fine.
        return Err(Error::Failed(
            "no key of ours to check: no temporary, cluster or previous key found; run rccr setup first".into(),
        ));
    }
    let statuses = parallel::map(&node_list, PARALLEL, |(node, named)| NodeStatus {
        persisted: persisted(&records, named),
        ..match held.contains(&node.ip) {
            true => held_back(node, &keys),
            false => probe(node, &opts, &keys, &known_hosts),
        }
    });
    print::stdout(&render(&statuses, &keys, paths, opts.json))?;
    let bad = statuses
        .iter()
        .filter(|s| s.error.is_some() || s.pinned == "MISMATCH")
        .count();
    if bad > 0 {
        return Err(Error::Failed(format!(
            "{bad} of {} nodes unreachable, held back or with a changed host key",
            statuses.len()
        )));
    }
    Ok(())
}

/// What the journals say of a node listed at any of `named` (in order):
/// the first word that is not `-`.
fn persisted(records: &[&journal::Record], named: &[NodeAddr]) -> &'static str {
    named
        .iter()
        .map(|n| journal::persisted(records, n))
        .find(|p| *p != "-")
        .unwrap_or("-")
}

/// Each node of the inventory (but the control) where it is now, with
/// the addresses the journals may list it at: there, then the address it
/// left (`moved_from`: a line setup did not move, of an unfinished
/// rotation, say), unless a node of the inventory is there now: setup
/// moved the lines there to that node's new address, and any line there
/// now is that node's.
fn inventory_nodes(inventory: &[NodeRecord], port: u16) -> Vec<(NodeAddr, Vec<NodeAddr>)> {
    let at = |ip| NodeAddr { ip, port };
    let held = |ip: &IpAddr| inventory.iter().any(|n| n.ip == *ip);
    inventory
        .iter()
        .filter(|n| n.role != crate::identity::Role::Control)
        .map(|n| {
            let left = n.moved_from.filter(|ip| !held(ip));
            (
                at(n.ip),
                std::iter::once(n.ip).chain(left).map(at).collect(),
            )
        })
        .collect()
}

/// The nodes to ask when none is named, each with the addresses the
/// journals may list it at: every node of the inventory where it is now
/// ([`inventory_nodes`]: a node setup followed to a new address is asked
/// there), then the addresses only the journals list (a node rotated with
/// `--host`, or staged before the inventory named it). Of those, one
/// with no host key pinned any more is one a node left (setup moves a
/// node's pins along with it): whoever answers there now is not asked,
/// and not offered our keys.
fn default_nodes(
    opts: &Options,
    inventory: &[NodeRecord],
    records: &[&journal::Record],
    known_hosts: &KnownHosts,
) -> Result<Vec<(NodeAddr, Vec<NodeAddr>)>, Error> {
    let mut nodes = inventory_nodes(inventory, opts.port);
    let mut listed: Vec<NodeAddr> = Vec::new();
    for record in records {
        for (name, _) in &record.nodes {
            if let Some(node) = addr::parse(name, opts.port) {
                addr::push_once(&mut listed, node);
            }
        }
    }
    for node in listed {
        let known = inventory
            .iter()
            .any(|n| n.ip == node.ip || n.moved_from == Some(node.ip));
        if known {
            continue;
        }
        let hashed = |line: &str| crate::ssh::hashed_line_names(line, node.ip, node.port);
        let field = crate::ssh::host_field(node.ip, node.port);
        if known_hosts.pinned_types(&field, &hashed)?.is_empty() {
            print::progress(
                &opts.program,
                &format!(
                    "{node}: listed by the rotation journal, but no host key is pinned there \
                     any more (a node that left it): not asked"
                ),
            );
            continue;
        }
        nodes.push((node, vec![node]));
    }
    Ok(nodes)
}

/// The private key files for each role, where we have them. The cluster
/// key of a rotation is whatever its journal names, whatever its type.
fn role_keys(opts: &Options) -> Result<[Option<PathBuf>; 3], Error> {
    let resolver = Resolver::new(&opts.paths);
    let path = |found: Option<crate::keys::resolve::Found>| found.map(|f| f.path);
    Ok([
        path(resolver.temporary(None, opts.temp_key.as_ref(), &opts.program)?),
        path(resolver.cluster(opts.key_type)?),
        path(resolver.previous()?),
    ])
}

/// A node the last setup held back ([`crate::state::inventory::held_back`]):
/// not asked, whoever answers there may be a copy of it; `PINNED` says
/// `held-back`, and each key we have is `?`.
fn held_back(node: &NodeAddr, keys: &[Option<PathBuf>; 3]) -> NodeStatus {
    NodeStatus {
        pinned: "held-back",
        accepts: keys
            .each_ref()
            .map(|k| (if k.is_some() { "?" } else { "-" }).into()),
        error: Some(crate::state::inventory::held_back_note()),
        ..NodeStatus::new(node)
    }
}

fn probe(
    node: &NodeAddr,
    opts: &Options,
    keys: &[Option<PathBuf>; 3],
    known_hosts: &KnownHosts,
) -> NodeStatus {
    let mut status = NodeStatus::new(node);
    let mut asked = false;
    for (slot, key) in status.accepts.iter_mut().zip(keys) {
        let Some(key) = key else {
            *slot = "-".into();
            continue;
        };
        if matches!(status.pinned, "MISMATCH" | "WEAK") {
            // None of our keys goes to a host that is not the pinned one.
            *slot = "?".into();
            continue;
        }
        let conn = match known_hosts.connect(node.ip, node.port, opts.timeout) {
            Ok(Reached {
                conn,
                key: host_key,
            }) => {
                if status.host_key.is_none() {
                    status.pinned = match known_hosts.check_key(node.ip, node.port, &host_key) {
                        Ok(Pin::Match) => "yes",
                        Ok(Pin::Mismatch { .. }) => "MISMATCH",
                        Ok(Pin::Unknown) => "no",
                        Err(_) => "?",
                    };
                    status.host_key = Some(host_key.fingerprint.to_string());
                }
                conn
            }
            Err(Unreached::OtherType(e)) => {
                status.pinned = "MISMATCH";
                status.error = Some(e);
                *slot = "?".into();
                continue;
            }
            Err(Unreached::Failed(e)) => {
                status.error = Some(e);
                *slot = "?".into();
                continue;
            }
            Err(Unreached::WeakHostKey(e)) => {
                status.pinned = "WEAK";
                status.error = Some(e);
                *slot = "?".into();
                continue;
            }
        };
        if matches!(status.pinned, "MISMATCH" | "WEAK") {
            *slot = "?".into();
            continue;
        }
        *slot = match conn.authenticate(&opts.user, key) {
            Ok(()) => "yes".into(),
            Err(SshError::Denied) => "no".into(),
            Err(e) => format!("? ({e})"),
        };
        if *slot == "yes" && !asked {
            asked = true;
            status.rotation = engine::armed_rotation(&conn, NodeSide::from_env(), opts.timeout);
        }
    }
    status
}

fn render(
    statuses: &[NodeStatus],
    keys: &[Option<PathBuf>; 3],
    paths: &StatePaths,
    as_json: bool,
) -> String {
    if as_json {
        let objects: Vec<print::Object> = statuses
            .iter()
            .map(|s| {
                let mut o = print::Object::new()
                    .str("node", &s.node.ip.to_string())
                    .num("port", s.node.port)
                    .opt("host_key", s.host_key.as_deref())
                    .str("pinned", s.pinned);
                for (role, accepts) in ROLES.iter().zip(&s.accepts) {
                    o = o.str(role, accepts);
                }
                o.str("persisted", s.persisted)
                    .str("rotation", s.rotation.as_str())
                    .opt("error", s.error.as_deref())
            })
            .collect();
        return print::array(&objects);
    }
    let mut table = print::Table::new(&[
        "NODE",
        "HOST KEY",
        "PINNED",
        "TEMPORARY",
        "CURRENT",
        "PREVIOUS",
        "PERSISTED",
        "ROTATION",
    ]);
    for s in statuses {
        table.row([
            s.node.to_string(),
            s.host_key.clone().unwrap_or_else(|| "-".into()),
            s.pinned.to_string(),
            print::text(&s.accepts[0]).into_owned(),
            print::text(&s.accepts[1]).into_owned(),
            print::text(&s.accepts[2]).into_owned(),
            s.persisted.to_string(),
            s.rotation.as_str().to_string(),
        ]);
    }
    let mut out = table.render();
    for s in statuses {
        if let Some(e) = &s.error {
            out.push_str(&format!("  {}: {}\n", s.node, print::text(e)));
        }
        if s.rotation == Rotation::TimerDied {
            out.push_str(&format!(
                "  {}: a key rotation is staged there and its revert timer died (a reboot or a kill): \
                 no revert is pending; the next rccr keyrotate restores the node's keys and stages again \
                 (on a symbolically linked authorized_keys it drops that rotation and refuses the link \
                 instead: run it once; then, when ROTATION shows -, make the link a regular file if \
                 rccr is to rotate its keys; made one before, the next keyrotate would restore the \
                 file from before the rotation over it)\n",
                s.node
            ));
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;

    /// A node of the inventory at `ip` that left `moved_from` (`-`: none),
    /// with no MAC or host key: each is a machine of its own.
    fn node(ip: &str, moved_from: &str, role: Role) -> NodeRecord {
        NodeRecord {
            moved_from: moved_from.parse().ok(),
            mac: None,
            host_key: None,
            ..crate::state::inventory::tests::node(ip, "n", role)
        }
    }

    #[test]
    fn a_rotation_whose_timer_died_is_told_what_the_next_keyrotate_does_on_a_link() {
        // There the next keyrotate drops that rotation and refuses the
        // link: it restores nothing, however often it is run. The link
        // made a regular file before that drop, the next stage would
        // restore the old backup over the copy (and the key it grants):
        // the advice is to run keyrotate first.
        let dir = std::env::temp_dir().join(format!("rccr-status-died-{}", std::process::id()));
        let paths = StatePaths {
            ssh_dir: dir.join("ssh"),
            state_dir: dir.join("state"),
            known_hosts: dir.join("known_hosts"),
        };
        let mut status = NodeStatus::new(&addr::parse("10.0.0.5", 22).unwrap());
        status.rotation = Rotation::TimerDied;
        let out = render(&[status], &[None, None, None], &paths, false);
        assert!(
            out.contains("10.0.0.5: a key rotation is staged there and its revert timer died"),
            "{out}"
        );
        let advice = "on a symbolically linked authorized_keys it drops that rotation and \
                      refuses the link instead: run it once; then, when ROTATION shows -, \
                      make the link a regular file";
        assert!(out.contains(advice), "{out}");
        assert!(!out.contains("regular file first"), "{out}");
        assert!(!out.contains("only once"), "{out}");
    }

    #[test]
    fn a_node_is_not_told_what_the_journal_says_of_the_node_now_where_it_was() {
        // A and B swapped; setup moved B's line (volatile) from .2 to .1.
        // C moved from .7, where no node is now: an unfinished rotation's
        // line there is C's.
        let inventory = [
            node("10.0.0.9", "-", Role::Control),
            node("10.0.0.2", "10.0.0.1", Role::Target),
            node("10.0.0.1", "10.0.0.2", Role::Target),
            node("10.0.0.3", "10.0.0.7", Role::Target),
        ];
        let mut last = journal::Record::default();
        last.set_phase("10.0.0.1:22", "rotated-volatile");
        let mut unfinished = journal::Record::default();
        unfinished.set_phase("10.0.0.7:22", "rotated");
        let records = [&unfinished, &last];
        let nodes = inventory_nodes(&inventory, 22);
        let told: Vec<(String, &str)> = nodes
            .iter()
            .map(|(node, named)| (node.journal_name(), persisted(&records, named)))
            .collect();
        let expected = [
            ("10.0.0.2:22", "-"),
            ("10.0.0.1:22", "volatile"),
            ("10.0.0.3:22", "yes"),
        ];
        let expected: Vec<(String, &str)> =
            expected.iter().map(|(n, p)| (n.to_string(), *p)).collect();
        assert_eq!(told, expected);
    }
}
