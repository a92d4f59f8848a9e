//! `rccr keyrotate`: the command around the [`super::engine`]. It picks the
//! keys (the new one written durably before anything else), keeps a
//! root-only copy of the temporary key, runs the engine over the nodes of
//! this run plus those an interrupted run left, and cleans up only when
//! every node has committed.
use super::engine::{self, NodeSide, Outcome, Plan, Report};
use super::journal::{self, Journal, Record};
use super::known_hosts::KnownHosts;
use crate::error::Error;
use crate::fsutil;
use crate::keys::addr::{self, NodeAddr};
use crate::keys::resolve::{Given, Resolver};
use crate::keys::{generate, load_key, public_path, write_pair, Key, KeyType};
use crate::print;
use crate::state::{KeyRecords, KeyRole, StatePaths};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Options {
    pub nodes: Vec<NodeAddr>,
    pub from_key: Option<PathBuf>,
    pub key_type: KeyType,
    pub user: String,
    pub revert_after: Duration,
    pub timeout: Duration,
    pub parallel: usize,
    pub paths: StatePaths,
    pub yes: bool,
    pub json: bool,
    pub forget_temp_key: bool,
}

/// The comment of the cluster key rccr makes.
pub const CLUSTER_KEY_COMMENT: &str = "rccr-cluster-key";

/// What a rotation run ended with.
pub struct Summary {
    pub reports: Vec<Report>,
    /// The key the nodes were moved away from.
    pub old_key: PathBuf,
    /// Where the cluster key is now (cleanup may have moved it).
    pub new_key: PathBuf,
}

impl Summary {
    /// The error to exit with when some node did not rotate.
    pub fn failure(&self) -> Option<Error> {
        let not_rotated = self
            .reports
            .iter()
            .filter(|r| r.outcome != Outcome::Rotated)
            .count();
        if not_rotated == 0 {
            return None;
        }
        let needing_old: Vec<String> = self
            .reports
            .iter()
            .filter(|r| r.outcome.needs_old_key())
            .map(|r| r.node.to_string())
            .collect();
        let mut message = format!("{not_rotated} of {} nodes not rotated", self.reports.len());
        if !needing_old.is_empty() {
            message.push_str(&format!(
                "; {} stays until {} are: run again once they are reachable",
                self.old_key.display(),
                needing_old.join(", ")
            ));
        }
        Some(Error::Failed(message))
    }
}

/// `rccr keyrotate`: rotate, print the table (or JSON), exit 0 only if
/// every node rotated.
pub fn rotate(opts: Options) -> Result<(), Error> {
    if opts.forget_temp_key {
        let unfinished = journal::load(&opts.paths.journal())?;
        return forget_temp_key(&opts.paths, unfinished.as_ref(), &opts.nodes);
    }
    let progress = |node: &NodeAddr, phase: &str| eprintln!("rccr keyrotate: {node}: {phase}");
    let summary = run(&opts, &progress)?;
    if let Some(problem) = crate::state::persist_control() {
        eprintln!("rccr keyrotate: {problem}");
    }
    print::stdout(&render(&summary.reports, opts.json))?;
    summary.failure().map_or(Ok(()), Err)
}

/// The key the nodes log in with today: `--from-key`, else the one an
/// interrupted run started from, else the temporary key.
fn old_key(opts: &Options, unfinished: Option<&Record>) -> Result<Key, Error> {
    let from_journal = unfinished
        .map(|r| r.old_key.clone())
        .filter(|p| p.is_file());
    let path = match (&opts.from_key, from_journal) {
        (Some(path), _) => Resolver::new(&opts.paths)
            .temporary(
                Some(Given {
                    flag: "--from-key",
                    path,
                }),
                None,
            )?
            .map(|f| f.path),
        (None, Some(path)) => Some(path),
        (None, None) => Resolver::new(&opts.paths)
            .temporary(None, None)?
            .map(|f| f.path),
    };
    let path = path.ok_or_else(|| {
        Error::bad_input(
            "the temporary key",
            format!(
                "not found ({}, {}, {}): pass --from-key PATH",
                opts.paths.kept_temp_key().display(),
                opts.paths.ssh_identity(KeyType::Rsa).display(),
                opts.paths.image_temp_key().display()
            ),
        )
    })?;
    load_key(&path)
}

/// Rotates `opts.nodes` plus the nodes an interrupted run left, and cleans
/// up when no node needs the old key any more.
pub fn run(opts: &Options, progress: &(dyn Fn(&NodeAddr, &str) + Sync)) -> Result<Summary, Error> {
    let paths = &opts.paths;
    let unfinished = journal::load(&paths.journal())?;
    let mut nodes = opts.nodes.clone();
    for (name, phase) in unfinished.iter().flat_map(|r| &r.nodes) {
        let settled = phase == Outcome::Rotated.as_str() || phase == Outcome::Refused.as_str();
        if let (Some(node), false) = (addr::parse(name, 22), settled) {
            addr::push_once(&mut nodes, node);
        }
    }
    if nodes.is_empty() {
        return Err(Error::Usage(
            "rccr keyrotate: no nodes to rotate: pass --host IP or --hosts-file FILE".into(),
        ));
    }

    let old = old_key(opts, unfinished.as_ref())?;
    paths.create_state_dir()?;
    keep_temp_key(paths, &old)?;
    let new = new_key(paths, opts.key_type, &old, unfinished.as_ref())?;

    let mut record = match unfinished {
        Some(record) => record,
        None => Record {
            rotation: crate::keys::random_hex()?,
            ..Record::default()
        },
    };
    record.new_key = new.path.clone();
    record.old_key = old.path.clone();
    for node in &nodes {
        if record.phase(&node.journal_name()).is_none() {
            record.set_phase(&node.journal_name(), "pending");
        }
    }
    let journal = Journal::create(paths.journal(), record)?;

    if !opts.yes {
        crate::cli::confirm(
            "rccr keyrotate",
            &format!(
                "Rotate {} node(s) from {} to {}?",
                nodes.len(),
                old.path.display(),
                new.path.display()
            ),
        )?;
    }
    let plan = Plan {
        user: opts.user.clone(),
        old,
        new,
        rotation_id: journal.snapshot().rotation,
        known_hosts: KnownHosts::new(paths.known_hosts.clone()),
        journal,
        revert_after: opts.revert_after,
        timeout: opts.timeout,
        parallel: opts.parallel,
        node_side: NodeSide::from_env(),
    };
    let reports = engine::rotate(&plan, &nodes, progress);
    let mut new_key = plan.new.path.clone();
    if !reports.iter().any(|r| r.outcome.needs_old_key()) {
        new_key = finish(paths, &plan, opts.key_type)?;
    }
    Ok(Summary {
        reports,
        old_key: plan.old.path.clone(),
        new_key,
    })
}

/// Every node the old key could reach has committed: make the new key the
/// one plain `ssh` offers and stop offering the old one. The kept copy in
/// the state directory stays.
/// Returns where the new key is now.
fn finish(paths: &StatePaths, plan: &Plan, kind: KeyType) -> Result<PathBuf, Error> {
    let default_identity = paths.ssh_identity(kind);
    let mut new_key = plan.new.path.clone();
    if plan.new.path == paths.staged_new_key() {
        // The new key waited outside ~/.ssh because the old one held its path.
        rename_pair(&plan.new.path, &default_identity)?;
        new_key = default_identity;
    } else if offers_old_key(paths, plan) {
        // OpenSSH's default identity holds the old key (wherever this run
        // read it from, rccr's kept copy included): plain ssh stops offering it.
        let old = &paths.ssh_identity(KeyType::Rsa);
        for path in [old.clone(), public_path(old)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("cannot remove {}", path.display()), e)),
            }
        }
        fsutil::sync_parent(old).map_err(|e| Error::io("fsync", e))?;
    }
    let journal = plan.journal.path();
    std::fs::rename(journal, paths.last_rotation())
        .map_err(|e| Error::io(format!("cannot finish {}", journal.display()), e))?;
    eprintln!(
        "rccr: every node rotated; the old key is no longer offered{}",
        if paths.kept_temp_key().exists() {
            format!(
                " (rccr keeps a root-only copy at {})",
                paths.kept_temp_key().display()
            )
        } else {
            String::new()
        }
    );
    Ok(new_key)
}

/// Whether `~/.ssh/id_rsa` is the old key of this rotation.
fn offers_old_key(paths: &StatePaths, plan: &Plan) -> bool {
    let default = paths.ssh_identity(KeyType::Rsa);
    plan.old.path == default || load_key(&default).is_ok_and(|k| k.blob() == plan.old.blob())
}

fn rename_pair(from: &Path, to: &Path) -> Result<(), Error> {
    for (a, b) in [
        (from.to_path_buf(), to.to_path_buf()),
        (public_path(from), public_path(to)),
    ] {
        std::fs::rename(&a, &b)
            .map_err(|e| Error::io(format!("cannot move {} to {}", a.display(), b.display()), e))?;
    }
    fsutil::sync_parent(to).map_err(|e| Error::io("fsync", e))
}

/// Keeps a root-only copy of the temporary key, before anything changes, so
/// that nodes plugged in later can still be adopted, and records it.
fn keep_temp_key(paths: &StatePaths, old: &Key) -> Result<(), Error> {
    if !old.is_temporary() {
        return Ok(());
    }
    KeyRecords::new(paths).record(KeyRole::Temporary, &old.fingerprint)?;
    let kept = paths.kept_temp_key();
    if kept.exists() || old.path == kept {
        return Ok(());
    }
    let secret = std::fs::read(&old.path)
        .map_err(|e| Error::io(format!("cannot read {}", old.path.display()), e))?;
    fsutil::write_atomic(&kept, &secret, 0o600)?;
    fsutil::write_atomic(
        &public_path(&kept),
        format!("{}\n", old.line).as_bytes(),
        0o600,
    )
}

/// The cluster key: the interrupted run's, else the one at OpenSSH's default
/// path, else a new one, written durably (and recorded) before any node
/// hears of it.
fn new_key(
    paths: &StatePaths,
    kind: KeyType,
    old: &Key,
    unfinished: Option<&Record>,
) -> Result<Key, Error> {
    if let Some(record) = unfinished.filter(|r| r.new_key.exists()) {
        return load_key(&record.new_key);
    }
    let default = paths.ssh_identity(kind);
    if default.exists() && default != old.path {
        let key = load_key(&default)?;
        if key.blob() != old.blob() {
            return Ok(key);
        }
    }
    let path = if default == old.path {
        paths.staged_new_key()
    } else {
        default
    };
    if let Some(dir) = path.parent() {
        crate::state::create_private_dir(dir)?;
    }
    let key = generate(kind, crate::keys::DEFAULT_RSA_BITS, CLUSTER_KEY_COMMENT)?;
    KeyRecords::new(paths).record(
        KeyRole::Cluster,
        &key.public_key().fingerprint(Default::default()).to_string(),
    )?;
    write_pair(&path, &key)?;
    load_key(&path)
}

fn forget_temp_key(
    paths: &StatePaths,
    unfinished: Option<&Record>,
    nodes: &[NodeAddr],
) -> Result<(), Error> {
    if !nodes.is_empty() {
        return Err(Error::Usage(
            "rccr keyrotate: --forget-temp-key takes no nodes".into(),
        ));
    }
    if unfinished.is_some_and(|r| r.nodes.iter().any(|(_, phase)| phase != "rotated")) {
        return Err(Error::Failed(format!(
            "an unfinished rotation ({}) still needs the temporary key: finish it first",
            paths.journal().display()
        )));
    }
    let kept = paths.kept_temp_key();
    for path in [public_path(&kept), kept.clone()] {
        match std::fs::remove_file(&path) {
            Ok(()) => eprintln!("rccr keyrotate: removed {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("cannot remove {}", path.display()), e)),
        }
    }
    Ok(())
}

/// The table (or JSON) of a rotation's reports; details are the node's
/// words in part, so they are escaped.
pub fn render(reports: &[Report], as_json: bool) -> String {
    if as_json {
        let objects: Vec<print::Object> = reports
            .iter()
            .map(|r| {
                print::Object::new()
                    .str("node", &r.node.ip.to_string())
                    .num("port", r.node.port)
                    .str("outcome", r.outcome.as_str())
                    .str("detail", &r.detail)
            })
            .collect();
        return print::array(&objects);
    }
    let mut table = print::Table::new(&["NODE", "RESULT", "DETAIL"]);
    for r in reports {
        table.row([
            r.node.to_string(),
            r.outcome.as_str().to_string(),
            print::text(&r.detail).into_owned(),
        ]);
    }
    table.render()
}
