//! `rccr keyrotate`: the command around the [`super::rotate`] engine. It
//! picks the keys (the new one written durably before anything else), keeps
//! a root-only copy of the temporary key, runs the engine over the nodes of
//! this run plus those an interrupted run left, and cleans up only when
//! every node has committed.
use super::journal::{self, Journal, Record};
use super::known_hosts::KnownHosts;
use super::rotate::{self, Key, Node, Outcome, Plan, Report};
use super::{generate, load_key, nodes, public_path, write_pair, KeyType, TEMP_KEY_COMMENT};
use crate::error::Error;
use crate::fsutil;
use crate::json;
use crate::state::StatePaths;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Options {
    pub nodes: Vec<Node>,
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
    let progress = |node: &Node, phase: &str| eprintln!("rccr keyrotate: {node}: {phase}");
    let summary = run(&opts, &progress)?;
    if let Some(problem) = crate::state::persist_control() {
        eprintln!("rccr keyrotate: {problem}");
    }
    print_reports(&summary.reports, opts.json)?;
    summary.failure().map_or(Ok(()), Err)
}

/// Rotates `opts.nodes` plus the nodes an interrupted run left, and cleans
/// up when no node needs the old key any more.
pub fn run(opts: &Options, progress: &(dyn Fn(&Node, &str) + Sync)) -> Result<Summary, Error> {
    let paths = &opts.paths;
    let unfinished = journal::load(&paths.journal())?;
    let mut nodes = opts.nodes.clone();
    for (name, phase) in unfinished.iter().flat_map(|r| &r.nodes) {
        let settled = phase == Outcome::Rotated.as_str() || phase == Outcome::Refused.as_str();
        if let (Some(node), false) = (nodes::parse(name, 22), settled) {
            nodes::push_once(&mut nodes, node);
        }
    }
    if nodes.is_empty() {
        return Err(Error::Usage(
            "rccr keyrotate: no nodes to rotate: pass --host IP or --hosts-file FILE".into(),
        ));
    }

    let default_identity = paths.ssh_dir.join("id_rsa");
    let old_path = opts
        .from_key
        .clone()
        .or_else(|| unfinished.as_ref().map(|r| r.old_key.clone()))
        .unwrap_or_else(|| default_identity.clone());
    // After a finished run the image's copy is gone; rccr's kept copy remains.
    let old_path = if !old_path.exists() && paths.kept_temp_key().exists() {
        paths.kept_temp_key()
    } else {
        old_path
    };
    let old = load_key(&old_path)?;
    paths.create_state_dir()?;
    keep_temp_key(paths, &old)?;
    let new = new_key(paths, opts.key_type, &old, unfinished.as_ref())?;

    let mut record = match unfinished {
        Some(record) => record,
        None => Record {
            rotation: super::random_hex()?,
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
        node_side: rotate::NodeSide::from_env(),
    };
    let reports = rotate::rotate(&plan, &nodes, progress);
    let mut new_key = plan.new.path.clone();
    if !reports.iter().any(|r| r.outcome.needs_old_key()) {
        new_key = finish(paths, &plan, &default_identity)?;
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
fn finish(paths: &StatePaths, plan: &Plan, default_identity: &Path) -> Result<PathBuf, Error> {
    let staged_new = paths.state_dir.join("new_key");
    let mut new_key = plan.new.path.clone();
    if plan.new.path == staged_new {
        // The new key waited outside ~/.ssh because the old one held its path.
        rename_pair(&staged_new, default_identity)?;
        new_key = default_identity.to_path_buf();
    } else if plan.old.path == default_identity {
        for path in [
            default_identity.to_path_buf(),
            public_path(default_identity),
        ] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("cannot remove {}", path.display()), e)),
            }
        }
        fsutil::sync_parent(default_identity).map_err(|e| Error::io("fsync", e))?;
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
/// that nodes plugged in later can still be adopted.
fn keep_temp_key(paths: &StatePaths, old: &Key) -> Result<(), Error> {
    let kept = paths.kept_temp_key();
    if kept.exists() || old.path == kept || !old.line.ends_with(TEMP_KEY_COMMENT) {
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
/// path, else a new one, written durably before any node hears of it.
fn new_key(
    paths: &StatePaths,
    kind: KeyType,
    old: &Key,
    unfinished: Option<&Record>,
) -> Result<Key, Error> {
    if let Some(record) = unfinished.filter(|r| r.new_key.exists()) {
        return load_key(&record.new_key);
    }
    let default = paths.ssh_dir.join(kind.default_file_name());
    if default.exists() && default != old.path {
        let key = load_key(&default)?;
        if key.line.split_whitespace().nth(1) != old.line.split_whitespace().nth(1) {
            return Ok(key);
        }
    }
    let path = if default == old.path {
        paths.state_dir.join("new_key")
    } else {
        default
    };
    if let Some(dir) = path.parent() {
        crate::state::create_private_dir(dir)?;
    }
    let key = generate(kind, super::DEFAULT_RSA_BITS, CLUSTER_KEY_COMMENT)?;
    write_pair(&path, &key)?;
    load_key(&path)
}

fn forget_temp_key(
    paths: &StatePaths,
    unfinished: Option<&Record>,
    nodes: &[Node],
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

fn print_reports(reports: &[Report], as_json: bool) -> Result<(), Error> {
    let mut out = String::new();
    if as_json {
        out.push('[');
        for (i, r) in reports.iter().enumerate() {
            out.push_str(if i == 0 { "\n  " } else { ",\n  " });
            out.push_str(&format!(
                "{{\"node\": {}, \"port\": {}, \"outcome\": {}, \"detail\": {}}}",
                json::string(&r.node.ip.to_string()),
                r.node.port,
                json::string(r.outcome.as_str()),
                json::string(&r.detail)
            ));
        }
        out.push_str("\n]\n");
    } else {
        out.push_str(&format!("{:<22} {:<18} {}\n", "NODE", "RESULT", "DETAIL"));
        for r in reports {
            out.push_str(&format!(
                "{:<22} {:<18} {}\n",
                r.node.to_string(),
                r.outcome.as_str(),
                r.detail
            ));
        }
    }
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(|e| Error::io("stdout", e))
}

/// The cluster key, once one exists: the last (or unfinished) rotation's new
/// key, else the key at OpenSSH's default path for `key_type` (unless that
/// is the temporary key).
pub fn cluster_key(
    paths: &StatePaths,
    key_type: KeyType,
    temp_key_path: &Path,
) -> Result<Option<PathBuf>, Error> {
    for record in [
        journal::load(&paths.journal())?,
        journal::load(&paths.last_rotation())?,
    ]
    .into_iter()
    .flatten()
    {
        if record.new_key.is_file() {
            return Ok(Some(record.new_key));
        }
    }
    let default = paths.ssh_dir.join(key_type.default_file_name());
    Ok(Some(default).filter(|p| p.is_file() && p != temp_key_path))
}
