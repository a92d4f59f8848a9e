//! `rccr keyrotate`: the command around the [`super::engine`]. It picks the
//! keys (the new one written durably before anything else), keeps a
//! root-only copy of the temporary key, runs the engine over the nodes of
//! this run plus those an interrupted run left, and cleans up only when
//! every node has committed.
//!
//! It never deletes or overwrites a key file it did not create: a key is
//! rccr's when its fingerprint is in [`KeyRecords`] (made by rccr, or handed
//! to it as the temporary key). An operator's own `~/.ssh/id_*` stays byte
//! for byte, even as the old key of a rotation; when it holds the cluster
//! key's default path, the cluster key lives in the state directory and
//! rccr's block in `~/.ssh/config` names it ([`super::ssh_config`]).
//!
//! `--rekey` moves the nodes from the current cluster key to a new one with
//! the same protocol and journal. Before anything else, the current key is
//! copied to `STATE/previous_key` and the journal names that copy as the
//! old key, so the key every unmoved node still takes survives whatever
//! happens to its usual path (the new key takes that path at the end).
use super::engine::{self, NodeSide, Outcome, Plan, Report};
use super::journal::{self, Journal, Record};
use super::known_hosts::{KnownHosts, Named};
use super::ssh_config;
use crate::error::Error;
use crate::fsutil;
use crate::keys::addr::{self, NodeAddr};
use crate::keys::resolve::{Given, Resolver};
use crate::keys::{generate, load_key, public_path, write_pair, Key, KeyType};
use crate::print;
use crate::ssh::Fingerprint;
use crate::state::inventory::NodeRecord;
use crate::state::{KeyRecords, KeyRole, StatePaths};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Options {
    /// The command as the user called it (`rccr keys rotate`, `rccr
    /// setup`): what its progress lines, questions and notes begin with.
    pub program: String,
    pub nodes: Vec<NodeAddr>,
    pub from_key: Option<PathBuf>,
    /// The option that named `from_key`, when one did: keyrotate's
    /// `--from-key`, setup's `--temp-key` (setup resolves its temporary
    /// key, so `from_key` may be set with no option given).
    pub from_key_flag: Option<&'static str>,
    pub key_type: KeyType,
    pub user: String,
    /// `ssh.port`: the port the Ansible inventory a rekey rewrites names.
    pub port: u16,
    /// `ssh.temp_key`: where the temporary key is looked for first.
    pub temp_key: Option<crate::config::NamedPath>,
    pub revert_after: Duration,
    pub timeout: Duration,
    pub parallel: usize,
    pub paths: StatePaths,
    pub yes: bool,
    pub json: bool,
    pub forget_temp_key: bool,
    /// The host key setup saw at each node it classified ([`Plan::classified`]);
    /// empty for `rccr keyrotate`, which pins on first contact.
    pub classified: Vec<(NodeAddr, Fingerprint)>,
}

pub use crate::keys::CLUSTER_KEY_COMMENT;

/// What a run moves the nodes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// From the temporary key (or `--from-key`) to the cluster key.
    Rotate,
    /// From the current cluster key to a new one (`--rekey`).
    Rekey,
}

/// What a rotation run ended with.
pub struct Summary {
    pub reports: Vec<Report>,
    /// The key the nodes were moved away from.
    pub old_key: PathBuf,
    /// Where the cluster key is now (cleanup may have moved it).
    pub new_key: PathBuf,
}

impl Summary {
    /// The error to exit with when some node did not rotate: this
    /// machine's own fault first ([`engine::local_failure`]).
    pub fn failure(&self) -> Option<Error> {
        if let Some(local) = engine::local_failure(&self.reports) {
            return Some(Error::Failed(local));
        }
        let not_rotated = self
            .reports
            .iter()
            .filter(|r| !matches!(r.outcome, Outcome::Rotated | Outcome::Moved))
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
        let volatile: Vec<String> = self
            .reports
            .iter()
            .filter(|r| r.outcome == Outcome::RotatedVolatile)
            .map(|r| r.node.to_string())
            .collect();
        let mut message = format!("{not_rotated} of {} nodes not rotated", self.reports.len());
        if !volatile.is_empty() {
            message.push_str(&format!(
                " ({} rotated but not persisted: {})",
                volatile.len(),
                volatile.join(", ")
            ));
        }
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
pub fn rotate(opts: Options, mode: Mode) -> Result<(), Error> {
    if opts.forget_temp_key {
        let unfinished = journal::load(&opts.paths.journal())?;
        return forget_temp_key(&opts, unfinished.as_ref());
    }
    let progress =
        |node: &NodeAddr, phase: &str| print::progress(&opts.program, &format!("{node}: {phase}"));
    let inventory = crate::state::inventory::load(&opts.paths.nodes())?;
    // Two of one name are warned of, not refused: keyrotate writes the
    // names it read, so it cannot make one, and it is the answer to a
    // leaked key and the way to finish an interrupted rotation.
    if let Err(why) = crate::state::inventory::check_names(&inventory) {
        print::warning(
            &opts.program,
            &format!("{why}; rotating all the same: rccr setup refuses until then"),
        );
    }
    let held = crate::state::inventory::held_back(&opts.paths, &inventory)?;
    let summary = run_mode(&opts, mode, &inventory, &held, &progress)?;
    if let Some(problem) = crate::state::persist_control() {
        eprintln!("{}: {problem}", opts.program);
    }
    print::stdout(&render(&summary.reports, opts.json))?;
    summary.failure().map_or(Ok(()), Err)
}

/// The key the nodes log in with today: an interrupted rekey's, whatever
/// key this run was given; else an interrupted run's (another key that
/// `--from-key` or setup's `--temp-key` names is refused, one setup found
/// by itself gives way), else `--from-key`, else the temporary key.
fn old_key(opts: &Options, unfinished: Option<&Record>) -> Result<Key, Error> {
    // Once every node rotated, the new key moves into its home, which may
    // be the old key's path: from then on that path holds the new key.
    let from_journal = unfinished
        .filter(|r| r.old_key.is_file() && !same_key(&r.old_key, &r.new_key))
        .map(|r| r.old_key.clone());
    // An interrupted rekey finishes first, whatever key this run was given
    // (rccr setup hands it the temporary key): its nodes take no other.
    if let Some(path) = from_journal
        .as_ref()
        .filter(|p| **p == opts.paths.previous_key())
    {
        return load_key(path);
    }
    let path = match (&opts.from_key, &from_journal) {
        (Some(path), _) => Resolver::new(&opts.paths)
            .temporary(
                Some(Given {
                    flag: "--from-key",
                    path,
                }),
                None,
                &opts.program,
            )?
            .map(|f| f.path),
        (None, Some(path)) => return load_key(path),
        (None, None) => Resolver::new(&opts.paths)
            .temporary(None, opts.temp_key.as_ref(), &opts.program)?
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
    let mut key = load_key(&path)?;
    // The interrupted run's nodes may take its old key alone: retried with
    // another, they would refuse both keys and be forgotten. Setup's own
    // find gives way to it; a key an option named is refused. The same
    // key under another name is the journal's, which keeps naming its own
    // copy (the other may be a passing one).
    if let Some(started) = from_journal.filter(|_| opts.from_key.is_some()) {
        let started = load_key(&started).map_err(|e| {
            Error::Failed(format!(
                "an unfinished rotation ({}) started from {}, which cannot be loaded ({e}): put that key back there, then run again",
                opts.paths.journal().display(),
                started.display()
            ))
        })?;
        if started.blob() == key.blob() {
            key = started;
        } else {
            let Some(flag) = opts.from_key_flag else {
                return Ok(started);
            };
            return Err(Error::Failed(format!(
                "an unfinished rotation ({}) started from {}: finish it first ({} without {flag})",
                opts.paths.journal().display(),
                started.path.display(),
                opts.program
            )));
        }
    }
    // A cluster key of rccr's: the current one, which the nodes outside
    // the run take (--rekey moves them all), or an earlier one it keeps no
    // copy of (nodes outside the run may take it alone).
    let paths = &opts.paths;
    if KeyRecords::new(paths).role_of(&key.fingerprint) == Some(KeyRole::Cluster) {
        // Fails closed: a cluster key that cannot be looked up or loaded
        // may be this one.
        let current = match Resolver::new(paths).cluster(opts.key_type) {
            Ok(Some(f)) => load_key(&f.path).map_or(true, |c| c.blob() == key.blob()),
            Ok(None) => false,
            Err(_) => true,
        };
        if !current && kept_copy(paths, &key) {
            return Ok(key);
        }
        let why = if current {
            "is rccr's cluster key (or may be: the current one could not be read), which the nodes outside this run still take: name the temporary key, or replace the cluster key on every node with rccr keyrotate --rekey".to_string()
        } else {
            format!(
                "is an earlier cluster key of rccr's that it keeps no copy of: copy it to {}.kept, then run again",
                paths.previous_key().display()
            )
        };
        let named = named_by(opts, &path).unwrap_or_else(|| "the temporary key".into());
        let what = format!("{named} {}", path.display());
        return Err(Error::bad_input(what, why));
    }
    Ok(key)
}

/// Checks the key a rotation run with `opts` would start from, as the run
/// checks it ([`old_key`]), and changes nothing: setup asks before its
/// discovery, so that a key its rotation stage would refuse (the cluster
/// key named as the temporary key, another key than an unfinished
/// rotation's, an unfinished rotation's new key gone) is refused before
/// any node is renamed.
pub fn check_old_key(opts: &Options) -> Result<(), Error> {
    let unfinished = journal::load(&opts.paths.journal())?;
    check_keys_there(&opts.paths, unfinished.as_ref())?;
    let key = old_key(opts, unfinished.as_ref())?;
    // Said once, here: setup's rotation stage gives way again, quietly.
    if let Some(note) = gave_way(opts, &key) {
        crate::print::warning(&opts.program, &note);
    }
    Ok(())
}

/// What setup is told when the temporary key `--temp-key`, the config or
/// the environment names gave way to an unfinished rotation's old `key`
/// (its nodes may take that key alone; an interrupted rekey's wins even
/// over `--temp-key`): the operator named one key and the run uses
/// another. Nothing for a key setup found by itself, or the same key.
fn gave_way(opts: &Options, key: &Key) -> Option<String> {
    let given = opts.from_key.as_deref()?;
    let named = named_by(opts, given)?;
    if *given == key.path {
        return None;
    }
    if load_key(given).is_ok_and(|k| k.blob() == key.blob()) {
        return None;
    }
    Some(format!(
        "an unfinished rotation ({}) started from {}: finishing it with that key, not {named} {}",
        opts.paths.journal().display(),
        key.path.display(),
        given.display()
    ))
}

/// Who named the old key at `path`: the option that named it, else
/// `ssh.temp_key` (at its line) or `RCCR_TEMP_KEY` where they name it;
/// `None` for a key found by itself as the temporary key.
fn named_by(opts: &Options, path: &Path) -> Option<String> {
    if let Some(flag) = opts.from_key_flag {
        return Some(flag.into());
    }
    if let Some(named) = opts.temp_key.as_ref().filter(|n| n.path == path) {
        return Some(format!("{}:{}: ssh.temp_key", named.file, named.pos.line));
    }
    if std::env::var_os("RCCR_TEMP_KEY").is_some_and(|v| Path::new(&v) == path) {
        return Some("RCCR_TEMP_KEY".into());
    }
    None
}

/// The key a rekey moves the nodes away from, at `STATE/previous_key`: the
/// interrupted rekey's, else the current cluster key, copied there durably
/// before anything else changes.
fn retiring_key(opts: &Options, unfinished: Option<&Record>) -> Result<Key, Error> {
    let paths = &opts.paths;
    let kept = paths.previous_key();
    if let Some(record) = unfinished {
        if record.old_key != kept {
            return Err(Error::Failed(format!(
                "an unfinished rotation ({}) must finish first: run rccr keyrotate without --rekey",
                paths.journal().display()
            )));
        }
        return load_key(&kept);
    }
    let current = Resolver::new(paths)
        .cluster(opts.key_type)?
        .ok_or_else(|| {
            Error::Failed(
                "no cluster key to replace yet: rccr keyrotate makes the first one".into(),
            )
        })?;
    let key = load_key(&current.path)?;
    if key.is_temporary() {
        return Err(Error::Failed(format!(
            "{} is the temporary key: rccr keyrotate (without --rekey) replaces it",
            current.path.display()
        )));
    }
    if current.path != kept {
        // An earlier previous key, which a node the last rekey missed may
        // take alone, is never written over: it goes aside, under a name
        // nothing in rccr writes ([`kept_copy`] still finds it).
        if kept.exists() && !load_key(&kept).is_ok_and(|k| k.blob() == key.blob()) {
            fsutil::move_aside(&kept, ".before-rekey", Some(crate::keys::PUBLIC_HALF))?;
        }
        copy_pair(&key, &kept, 0o644, None)?;
    }
    load_key(&kept)
}

/// Rotates `opts.nodes` plus the nodes an interrupted run left, and cleans
/// up when no node needs the old key any more; a node at one of `held`
/// (setup holds it back this run) is not logged in to ([`run_mode`]).
/// Setup's own stage names the pins by hostname, with the inventory it
/// writes: no inventory is handed down here.
pub fn run(
    opts: &Options,
    held: &[IpAddr],
    progress: &(dyn Fn(&NodeAddr, &str) + Sync),
) -> Result<Summary, Error> {
    run_mode(opts, Mode::Rotate, &[], held, progress)
}

/// [`run`] in `mode`, with the inventory's `records` (a rekey rewrites
/// them into inventory.ini, and the pins of those the run reached where
/// they are recorded get their names, [`reached_where_recorded`]); a node
/// at one of `held` (held back by the last setup, or by this one) stays in
/// the journal as it was and is not logged in to: its report is
/// [`Outcome::HeldBack`], and the old key stays for it.
fn run_mode(
    opts: &Options,
    mode: Mode,
    records: &[NodeRecord],
    held: &[IpAddr],
    progress: &(dyn Fn(&NodeAddr, &str) + Sync),
) -> Result<Summary, Error> {
    let paths = &opts.paths;
    let known_hosts = KnownHosts::open(paths.known_hosts.clone())?;
    // Rewritten after the rotation: one it would refuse is refused now.
    ssh_config::check(&paths.ssh_config())?;
    let unfinished = journal::load(&paths.journal())?;
    let mut nodes = opts.nodes.clone();
    for node in unfinished.iter().flat_map(Record::unsettled) {
        addr::push_once(&mut nodes, node);
    }
    // An interrupted run whose nodes all settled still has to clean up and
    // retire its journal: with no nodes to rotate, it only finishes.
    if nodes.is_empty() && unfinished.is_none() {
        return Err(Error::no_nodes(
            "run rccr setup, or pass --host IP or --hosts-file FILE",
        ));
    }

    check_keys_there(paths, unfinished.as_ref())?;
    let old = match mode {
        Mode::Rotate => old_key(opts, unfinished.as_ref())?,
        Mode::Rekey => {
            // Asked before anything changes, the new key included.
            if !opts.yes {
                crate::cli::confirm_typed(
                    &opts.program,
                    &format!(
                        "Replace the cluster key on {} node(s); the current key stops working there.",
                        nodes.len()
                    ),
                    "rekey",
                )?;
            }
            paths.create_state_dir()?;
            let key = retiring_key(opts, unfinished.as_ref())?;
            crate::failpoint::reached("previous-kept", "-");
            key
        }
    };
    // Asked before anything is written: a question that cannot be asked
    // (no terminal) or is answered no leaves no key nor journal behind.
    // (Which key the nodes move to is known once the temporary key is
    // recorded as such, a write: the table says it.)
    if !opts.yes && mode == Mode::Rotate {
        crate::cli::confirm(
            &opts.program,
            &format!(
                "Rotate {} node(s) from {} to the cluster key?",
                nodes.len(),
                old.path.display(),
            ),
        )?;
    }
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
    // On a diskless control the keys and the journal live in RAM until lbu
    // saves them: saved before any node hears of the new key, or a reboot
    // mid-rotation loses the one key the committed nodes take.
    if let Some(problem) = crate::state::persist_control() {
        if crate::persist::live_root_in_ram() {
            return Err(Error::Failed(format!("{problem}; no node was changed")));
        }
    }
    crate::failpoint::reached("journal-created", "-");
    let plan = Plan {
        user: opts.user.clone(),
        old,
        new,
        rotation_id: journal.snapshot().rotation,
        known_hosts,
        journal,
        revert_after: opts.revert_after,
        timeout: opts.timeout,
        parallel: opts.parallel,
        node_side: NodeSide::from_env(),
        classified: opts.classified.clone(),
    };
    let (held, nodes): (Vec<NodeAddr>, Vec<NodeAddr>) =
        nodes.into_iter().partition(|n| held.contains(&n.ip));
    let mut reports = engine::rotate(&plan, &nodes, progress);
    reports.extend(held.into_iter().map(|node| {
        progress(&node, Outcome::HeldBack.as_str());
        engine::Report {
            node,
            outcome: Outcome::HeldBack,
            detail: crate::state::inventory::held_back_note(),
            host_key: None,
            old_key_logged_in: false,
        }
    }));
    let mut new_key = plan.new.path.clone();
    let finished = !reports.iter().any(|r| r.outcome.needs_old_key());
    if finished {
        new_key = finish(opts, &plan)?;
    }
    if finished && mode == Mode::Rekey && paths.nodes().exists() {
        // The playbooks reach the nodes with the key the inventory names.
        crate::state::inventory::save(paths, records, &opts.user, opts.port, &new_key)?;
    }
    // Plain `ssh root@node` offers only default identities, at port 22:
    // name ours, and the port, for the nodes that take it (a block an
    // earlier run wrote follows the key to wherever it is now, and its
    // nodes to their port now, 22 included). Checked writable before the
    // run began; a write that fails now, after the nodes rotated, is a
    // warning, as the pins' names below are.
    let at_default = default_identities(paths).contains(&new_key);
    let rotated: Vec<NodeAddr> = reports
        .iter()
        .filter(|r| r.outcome.accepts_new_key())
        .map(|r| r.node)
        .collect();
    if let Err(e) = ssh_config::name_key_for(&paths.ssh_config(), &new_key, &rotated, at_default) {
        let why = format!("the nodes rotated, but ~/.ssh/config does not name their key: {e}");
        print::warning(&opts.program, &why);
    }
    // The rotation pinned host keys by address: `ssh root@NAME` checks
    // them too once named, as setup names them. A convenience, written
    // last: the nodes have rotated, so a known_hosts that cannot be
    // rewritten now is a warning, not a failed run.
    let named = reached_where_recorded(records, &reports, opts.port);
    if !named.is_empty() {
        if let Err(e) = plan.known_hosts.follow(&named, opts.port) {
            let why = format!("the nodes rotated, but their pins were not named: {e}");
            print::warning(&opts.program, &why);
        }
    }
    Ok(Summary {
        reports,
        old_key: plan.old.path.clone(),
        new_key,
    })
}

/// The nodes of `records` whose pins this run may name: those it reached
/// at their recorded address and at `port`, where it checked (or pinned)
/// the host key the inventory holds for them, and nowhere else with that
/// key. Naming folds every rccr line of a node's key into one at its
/// recorded address and `port` ([`KnownHosts::follow`]): a node reached
/// elsewhere (a new DHCP lease, `--host IP:2222`, `--port` for another
/// host) keeps the pin this run just made there, and the lines of a node
/// not reached stay as they are.
fn reached_where_recorded<'r>(
    records: &'r [NodeRecord],
    reports: &[Report],
    port: u16,
) -> Vec<Named<'r>> {
    records
        .iter()
        .filter_map(|r| {
            let host_key = r.host_key.as_ref()?;
            // A report holds a host key only once it was checked against
            // the pins at the report's address, or pinned there.
            let mut seen_at = reports
                .iter()
                .filter(|rep| {
                    rep.host_key
                        .as_ref()
                        .is_some_and(|k| k.fingerprint == *host_key)
                })
                .map(|rep| rep.node)
                .peekable();
            seen_at.peek()?;
            seen_at
                .all(|node| node.ip == r.ip && node.port == port)
                .then_some(Named {
                    name: &r.hostname,
                    ip: r.ip,
                    host_key,
                })
        })
        .collect()
}

/// Every node the old key could reach has committed: put the new key in
/// its home and stop offering the old one, by removing it only where rccr
/// made it or was handed it (and it sits at a path plain `ssh` offers).
/// The kept copy in the state directory stays.
/// Returns where the new key is now.
fn finish(opts: &Options, plan: &Plan) -> Result<PathBuf, Error> {
    let (paths, kind) = (&opts.paths, opts.key_type);
    let records = KeyRecords::new(paths);
    let mut new_key = plan.new.path.clone();
    let old = &plan.old;
    let holds_old = |path: &Path| load_key(path).is_ok_and(|key| key.blob() == old.blob());
    // Nodes outside this run may take the old key alone: a file holding it
    // is written over or removed only while another copy of it stays.
    let kept = kept_copy(paths, old);
    let no_copy = |path: &Path| {
        eprintln!(
            "{}: {} stays: rccr keeps no other copy of the old key, which nodes outside this run may take",
            opts.program,
            path.display()
        );
    };
    if plan.new.path == paths.staged_new_key() {
        // The new key waited while an old key of rccr's held its home.
        let home = cluster_home(paths, kind, &records)?;
        if !kept && holds_old(&home) {
            no_copy(&home);
        } else if !home.exists() || is_ours(&home, &records)? {
            install_pair(&plan.new, &home, &plan.journal)?;
            new_key = home;
        }
    }
    // Plain ssh stops offering the old key wherever OpenSSH's defaults hold
    // it, whichever copy this run read it from (rccr's kept copy included).
    for identity in default_identities(paths) {
        if identity == new_key || !holds_old(&identity) {
            continue;
        }
        if !records.is_ours(&old.fingerprint) {
            eprintln!(
                "{}: {} is not a key rccr made, so it stays; the nodes no longer accept it",
                opts.program,
                identity.display()
            );
            continue;
        }
        if !kept {
            no_copy(&identity);
            continue;
        }
        for path in [identity.clone(), public_path(&identity)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("cannot remove {}", path.display()), e)),
            }
        }
        fsutil::sync_parent(&identity).map_err(|e| Error::io("fsync", e))?;
    }
    crate::failpoint::reached("before-retire", "-");
    plan.journal.retire(&paths.last_rotation(), &new_key)?;
    eprintln!(
        "{}: every node rotated; the old key is no longer offered{}",
        opts.program,
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

/// Whether a copy of `old` stays where finishing a run neither writes nor
/// removes: rccr's kept temporary key, a rekey's previous key, or one
/// kept aside beside it (`previous_key.*`: a rekey's, a restore's).
fn kept_copy(paths: &StatePaths, old: &Key) -> bool {
    let aside = std::fs::read_dir(&paths.state_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("previous_key.") && !n.ends_with(".pub"))
        });
    // A regular file: through a link, the "copy" may be the very file a
    // finish then writes over or removes.
    let regular = |path: &Path| path.symlink_metadata().is_ok_and(|m| m.is_file());
    [paths.kept_temp_key(), paths.previous_key()]
        .into_iter()
        .chain(aside)
        .filter(|path| regular(path))
        .any(|path| load_key(&path).is_ok_and(|key| key.blob() == old.blob()))
}

/// The private keys OpenSSH's client offers by default.
pub fn default_identities(paths: &StatePaths) -> [PathBuf; 2] {
    [KeyType::Ed25519, KeyType::Rsa].map(|kind| paths.ssh_identity(kind))
}

/// Whether the private key files `a` and `b` both load and hold one key.
fn same_key(a: &Path, b: &Path) -> bool {
    match (load_key(a), load_key(b)) {
        (Ok(a), Ok(b)) => a.blob() == b.blob(),
        _ => false,
    }
}

/// Whether the key file at `path` is rccr's (see [`KeyRecords`]).
fn is_ours(path: &Path, records: &KeyRecords) -> Result<bool, Error> {
    Ok(ours(path, records)?.is_some())
}

/// The key at `path` when it is rccr's, told by its fingerprint whatever
/// the file's mode: one of rccr's that others may read is refused, never
/// taken for another's or for none (it may be the key nodes take). `None`:
/// no key there, or another's.
fn ours(path: &Path, records: &KeyRecords) -> Result<Option<Key>, Error> {
    match crate::keys::fingerprint_if_any(path) {
        Some(fingerprint) if records.is_ours(&fingerprint) => load_key(path).map(Some),
        _ => Ok(None),
    }
}

/// Where the cluster key of `kind` lives: OpenSSH's default path when it is
/// free or holds a key of rccr's, else the state directory.
fn cluster_home(paths: &StatePaths, kind: KeyType, records: &KeyRecords) -> Result<PathBuf, Error> {
    let default = paths.ssh_identity(kind);
    Ok(if !default.exists() || is_ours(&default, records)? {
        default
    } else {
        paths.own_cluster_key()
    })
}

/// Puts `key` at `to` (private, then public, each atomically), names `to`
/// as the new key in the journal, then removes its old pair. A run killed
/// half-way finds the old pair still there (the journal names it) and does
/// it again; one killed later finds the key where the journal says.
fn install_pair(key: &Key, to: &Path, journal: &Journal) -> Result<(), Error> {
    copy_pair(key, to, 0o644, Some("half-installed"))?;
    journal.move_new_key(to)?;
    crate::failpoint::reached("new-key-moved", "-");
    for path in [public_path(&key.path), key.path.clone()] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("cannot remove {}", path.display()), e)),
        }
    }
    fsutil::sync_parent(&key.path).map_err(|e| Error::io("fsync", e))
}

/// Writes `key`'s pair at `to`: the private key (0600), then the public
/// line (`public_mode`), each atomically; failpoint `between` in between.
fn copy_pair(key: &Key, to: &Path, public_mode: u32, between: Option<&str>) -> Result<(), Error> {
    let secret = std::fs::read(&key.path)
        .map_err(|e| Error::io(format!("cannot read {}", key.path.display()), e))?;
    fsutil::write_atomic(to, &secret, 0o600)?;
    if let Some(name) = between {
        crate::failpoint::reached(name, "-");
    }
    fsutil::write_atomic(
        &public_path(to),
        format!("{}\n", key.line).as_bytes(),
        public_mode,
    )
}

/// Keeps a root-only copy of the temporary key, before anything changes, so
/// that nodes plugged in later can still be adopted, and records it.
fn keep_temp_key(paths: &StatePaths, old: &Key) -> Result<(), Error> {
    if !old.is_temporary() {
        return Ok(());
    }
    KeyRecords::new(paths).record(KeyRole::Temporary, &old.fingerprint)?;
    let kept = paths.kept_temp_key();
    // Kept whole only: a run killed between the two halves left a private
    // key that no lookup takes for the temporary key without its `.pub`.
    if old.path == kept || crate::keys::resolve::is_temporary(&kept) {
        return Ok(());
    }
    copy_pair(old, &kept, 0o600, Some("temp-key-half-kept"))
}

/// The cluster key: the interrupted run's, else the one rccr made at its
/// home ([`cluster_home`]), else a new one, written durably (and recorded)
/// before any node hears of it. A key file rccr did not make is never the
/// cluster key, and never overwritten.
fn new_key(
    paths: &StatePaths,
    kind: KeyType,
    old: &Key,
    unfinished: Option<&Record>,
) -> Result<Key, Error> {
    // A journal's new key that is gone, which nodes may take alone, was
    // refused before ([`check_keys_there`]): no node heard of this one.
    if let Some(record) = unfinished.filter(|r| r.new_key.exists()) {
        return load_key(&record.new_key);
    }
    let records = KeyRecords::new(paths);
    let home = cluster_home(paths, kind, &records)?;
    if home.exists() && home != old.path {
        let key = load_key(&home)?;
        if key.blob() != old.blob() && records.is_ours(&key.fingerprint) {
            return Ok(key);
        }
    }
    // Home taken (by the old key, or by a key of ours that is the old one
    // under another name): the new key waits in the state directory.
    let path = if home.exists() {
        paths.staged_new_key()
    } else {
        home
    };
    // A key of ours waiting there is an interrupted run's, which nodes may
    // take already even when no journal names it (one moved away to start
    // over): take it up, never write another over it.
    if let Some(key) = ours(&path, &records)? {
        if key.blob() != old.blob() && records.role_of(&key.fingerprint) == Some(KeyRole::Cluster) {
            return Ok(key);
        }
    }
    // Any other key there (one the records do not list, say after a
    // forced restore replaced them) may as well be the only copy of a key
    // some nodes take: refused, never written over. A copy of the old key
    // kept elsewhere too is a run's leftover (one killed as it moved the
    // new key home): written over.
    let leftover = path != old.path
        && load_key(&path).is_ok_and(|k| k.blob() == old.blob())
        && kept_copy(paths, old);
    if path.exists() && !leftover {
        return Err(Error::Failed(format!(
            "{} holds a key rccr will not take up as the new cluster key, and nodes may take it: no new key is written over it; move it aside, keeping it, then run again",
            path.display()
        )));
    }
    if let Some(dir) = path.parent() {
        crate::state::create_private_dir(dir)?;
    }
    let key = generate(kind, crate::keys::DEFAULT_RSA_BITS, CLUSTER_KEY_COMMENT)?;
    records.record(
        KeyRole::Cluster,
        &key.public_key().fingerprint(Default::default()).to_string(),
    )?;
    write_pair(&path, &key)?;
    load_key(&path)
}

/// Refuses an unfinished rotation whose keys are not where its journal
/// says (a forced restore moved one aside, say) while nodes of it may take
/// that key alone: the new key, once a node may have taken it
/// ([`Record::reached`]); the old key, while a node is unsettled
/// ([`Record::unsettled`]: one not yet rotated may take only it). A key
/// made or found in its place would cost them. Before anything is
/// written, the journal included.
fn check_keys_there(paths: &StatePaths, unfinished: Option<&Record>) -> Result<(), Error> {
    let Some(record) = unfinished else {
        return Ok(());
    };
    let journal = paths.journal();
    let list = |nodes: Vec<NodeAddr>| {
        let names: Vec<String> = nodes.iter().map(NodeAddr::to_string).collect();
        names.join(", ")
    };
    let missing = [
        (&record.new_key, "new", list(record.reached())),
        (&record.old_key, "old", list(record.unsettled())),
    ];
    for (key, which, nodes) in missing {
        if key.exists() || nodes.is_empty() {
            continue;
        }
        // A journal line with no path leaves nothing to put back.
        let named = match key.as_os_str().is_empty() {
            true => format!("no {which} key"),
            false => format!("{which} key {}, which is not there,", key.display()),
        };
        let back = match key.as_os_str().is_empty() {
            true => String::new(),
            false => format!(
                "put it back (a forced restore keeps it as {}.before-restore or .before-restore.N), or ",
                key.display()
            ),
        };
        return Err(Error::Failed(format!(
            "{} names {named} and nodes {nodes} may take it alone: {back}take those nodes out (rccr remove NODE), then run again",
            journal.display()
        )));
    }
    Ok(())
}

/// `--forget-temp-key` (which takes no nodes: the applet refuses them).
fn forget_temp_key(opts: &Options, unfinished: Option<&Record>) -> Result<(), Error> {
    let paths = &opts.paths;
    if unfinished.is_some_and(|r| r.nodes.iter().any(|(_, phase)| phase != "rotated")) {
        return Err(Error::Failed(format!(
            "an unfinished rotation ({}) still needs the temporary key: finish it first",
            paths.journal().display()
        )));
    }
    let kept = paths.kept_temp_key();
    for path in [public_path(&kept), kept.clone()] {
        match std::fs::remove_file(&path) {
            Ok(()) => eprintln!("{}: removed {}", opts.program, path.display()),
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

#[cfg(test)]
mod tests {
    use super::*;

    const FP_A: &str = "SHA256:NrtS+86iW9P4e3JYsfgB+L/rmVwDVS7JiC+tvCPjisc";
    const FP_B: &str = "SHA256:EM5NF+eqDV46JWj34zyW6bzzr3t9qYFU7MJwnJziCXE";

    /// A report of `node` (`IP` or `IP:PORT`) that saw the host key
    /// `fingerprint`, if any; the key's text is not compared.
    fn seen(node: &str, fingerprint: Option<&str>) -> Report {
        Report {
            node: addr::parse(node, 22).unwrap(),
            outcome: Outcome::Rotated,
            detail: String::new(),
            old_key_logged_in: false,
            host_key: fingerprint.map(|fp| crate::ssh::HostKey {
                line: String::new(),
                fingerprint: fp.parse().unwrap(),
                blob: Vec::new(),
            }),
        }
    }

    /// The names [`reached_where_recorded`] gives at port 22.
    fn named(records: &[NodeRecord], reports: &[Report]) -> Vec<String> {
        reached_where_recorded(records, reports, 22)
            .iter()
            .map(|n| format!("{}@{}", n.name, n.ip))
            .collect()
    }

    /// Node A is recorded at .5 with key A, the control with no key.
    /// Reached at .5:22 showing key A, it is named; reached anywhere
    /// else (a new lease at .7, `--host .5:2222`), or also elsewhere, or
    /// showing another key, or not at all, it is not: naming would fold
    /// the pin this run made there into `node-a,10.0.0.5` at 22.
    #[test]
    fn keyrotate_names_only_nodes_it_reached_where_the_inventory_has_them() {
        let record = |ip: &str, name: &str, role, host_key: Option<&str>| NodeRecord {
            ip: ip.parse().unwrap(),
            mac: None,
            hostname: name.parse().unwrap(),
            role,
            arch: None,
            host_key: host_key.map(|fp| fp.parse().unwrap()),
            moved_from: None,
        };
        let records = [
            record("10.0.0.1", "control", crate::identity::Role::Control, None),
            record(
                "10.0.0.5",
                "node-a",
                crate::identity::Role::Target,
                Some(FP_A),
            ),
        ];
        assert_eq!(
            named(&records, &[seen("10.0.0.5", Some(FP_A))]),
            ["node-a@10.0.0.5"]
        );
        for reports in [
            vec![seen("10.0.0.7", Some(FP_A))],
            vec![seen("10.0.0.5:2222", Some(FP_A))],
            vec![seen("10.0.0.5", Some(FP_A)), seen("10.0.0.7", Some(FP_A))],
            vec![seen("10.0.0.5", Some(FP_B))],
            vec![seen("10.0.0.5", None)],
            vec![seen("10.0.0.1", None)],
            vec![],
        ] {
            let at: Vec<String> = reports.iter().map(|r| r.node.to_string()).collect();
            assert!(named(&records, &reports).is_empty(), "{at:?}");
        }
    }

    #[test]
    fn the_cluster_key_never_takes_the_path_of_a_key_rccr_did_not_make() {
        let home = crate::state::scratch::home("cluster-home");
        let paths = &home.paths;
        let records = KeyRecords::new(paths);
        for kind in [KeyType::Rsa, KeyType::Ed25519] {
            let default = paths.ssh_identity(kind);
            assert_eq!(
                cluster_home(paths, kind, &records).unwrap(),
                default,
                "free"
            );
            // The operator's own key (an Ed25519 one stands in for both).
            let operator = generate(KeyType::Ed25519, 0, "operator@laptop").unwrap();
            write_pair(&default, &operator).unwrap();
            assert_eq!(
                cluster_home(paths, kind, &records).unwrap(),
                paths.own_cluster_key(),
                "taken by a key rccr did not make"
            );
            let fingerprint = load_key(&default).unwrap().fingerprint;
            records.record(KeyRole::Cluster, &fingerprint).unwrap();
            assert_eq!(
                cluster_home(paths, kind, &records).unwrap(),
                default,
                "rccr's"
            );
        }
    }

    #[test]
    fn a_link_to_the_key_is_no_kept_copy() {
        // Review fromkey2, finding 1: a finish removes or writes over the
        // old key where a copy is kept; through a link, that was the copy.
        let home = crate::state::scratch::home("kept-link");
        let paths = &home.paths;
        let key = generate(KeyType::Ed25519, 0, CLUSTER_KEY_COMMENT).unwrap();
        let at_home = paths.ssh_identity(KeyType::Ed25519);
        write_pair(&at_home, &key).unwrap();
        let key = load_key(&at_home).unwrap();
        paths.create_state_dir().unwrap();
        let kept = paths.state_dir.join("previous_key.kept");
        std::os::unix::fs::symlink(&at_home, &kept).unwrap();
        std::os::unix::fs::symlink(&at_home, paths.previous_key()).unwrap();
        assert!(!kept_copy(paths, &key));
        std::fs::remove_file(&kept).unwrap();
        std::fs::copy(&at_home, &kept).unwrap();
        assert!(kept_copy(paths, &key));
    }

    /// Options of a keyrotate run over no nodes of its own in `paths`,
    /// from `from_key` as `flag` names it.
    fn options(paths: &StatePaths, from_key: Option<&Path>, flag: Option<&'static str>) -> Options {
        Options {
            program: "rccr keyrotate".into(),
            nodes: Vec::new(),
            from_key: from_key.map(Path::to_path_buf),
            from_key_flag: flag,
            key_type: KeyType::Ed25519,
            user: "root".into(),
            port: 22,
            temp_key: None,
            revert_after: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            parallel: 1,
            paths: paths.copy(),
            yes: true,
            json: false,
            forget_temp_key: false,
            classified: Vec::new(),
        }
    }

    /// An unfinished rotation from rccr's kept temporary key to
    /// `STATE/new_key`, with node 10.0.0.5 at `phase`.
    fn unfinished_at(paths: &StatePaths, phase: &str) -> Record {
        let mut record = Record {
            rotation: "r".into(),
            new_key: paths.staged_new_key(),
            old_key: paths.kept_temp_key(),
            nodes: Vec::new(),
        };
        record.set_phase("10.0.0.5:22", phase);
        record
    }

    /// Runs keyrotate in `paths` with `record` as its unfinished journal,
    /// which names a `which` key at `key` that is not there: it is
    /// refused (exit 1, one line naming the key) with the journal as it
    /// was. The message.
    fn refused_with_journal(
        paths: &StatePaths,
        record: &Record,
        which: &str,
        key: &Path,
    ) -> String {
        Journal::create(paths.journal(), record.clone()).unwrap();
        let before = std::fs::read(paths.journal()).unwrap();
        let err = rotate(options(paths, None, None), Mode::Rotate).unwrap_err();
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message}");
        let named = format!("{which} key {}, which is not there", key.display());
        assert!(message.contains(&named), "{message}");
        assert!(matches!(err.exit_code(), crate::error::ExitCode::Failure));
        assert_eq!(std::fs::read(paths.journal()).unwrap(), before);
        message
    }

    /// Review restorefix F2: a journal naming a new key that is not there
    /// (a forced restore moved it aside) while a node of it may take that
    /// key alone: keyrotate refuses, naming the key, and writes neither a
    /// new key nor the journal. With no node past `pending`, no node ever
    /// heard of that key: a new one is made, as before.
    #[test]
    fn a_journal_whose_new_key_is_gone_is_refused_while_a_node_may_take_it() {
        let home = crate::state::scratch::home("journal-new-key-gone");
        let paths = &home.paths;
        let old = generate(KeyType::Ed25519, 0, crate::keys::TEMP_KEY_COMMENT).unwrap();
        let old_path = paths.kept_temp_key();
        write_pair(&old_path, &old).unwrap();
        let mut record = unfinished_at(paths, "rotated");
        record.set_phase("10.0.0.6:22", "pending");
        let message = refused_with_journal(paths, &record, "new", &paths.staged_new_key());
        // Named as the old-key refusal names its nodes, in the form
        // `rccr remove` takes.
        assert!(message.contains("nodes 10.0.0.5 may"), "{message}");
        assert!(!message.contains("10.0.0.6"), "{message}");
        assert!(!paths.staged_new_key().exists(), "a new key was written");
        assert!(
            !paths.ssh_identity(KeyType::Ed25519).exists(),
            "a new key was written"
        );

        // No node past pending: the old behaviour, a new key.
        for phase in ["pending", "refused"] {
            record.set_phase("10.0.0.5:22", phase);
            check_keys_there(paths, Some(&record)).unwrap();
        }
        let old = load_key(&old_path).unwrap();
        let new = new_key(paths, KeyType::Ed25519, &old, Some(&record)).unwrap();
        assert_ne!(new.blob(), old.blob());
        assert!(new.path.is_file());
    }

    /// Review journalkeys F1: a journal whose old key is not there (a
    /// forced restore moved it aside) while nodes of it are unsettled was
    /// run from another temporary key, and its pending nodes, refusing
    /// both keys, were settled `refused` and forgotten. It is refused,
    /// naming the key and the unsettled nodes, with nothing written. A
    /// journal line with no key path is named as such (F6).
    #[test]
    fn a_journal_whose_old_key_is_gone_is_refused_while_a_node_may_take_it() {
        let home = crate::state::scratch::home("journal-old-key-gone");
        let paths = &home.paths;
        let other = generate(KeyType::Ed25519, 0, crate::keys::TEMP_KEY_COMMENT).unwrap();
        write_pair(&paths.ssh_identity(KeyType::Rsa), &other).unwrap();
        let new = generate(KeyType::Ed25519, 0, CLUSTER_KEY_COMMENT).unwrap();
        write_pair(&paths.staged_new_key(), &new).unwrap();
        let mut record = unfinished_at(paths, "pending");
        record.set_phase("10.0.0.6:22", "reverted");
        record.set_phase("10.0.0.7:22", "rotated");
        let message = refused_with_journal(paths, &record, "old", &paths.kept_temp_key());
        assert!(
            message.contains("nodes 10.0.0.5, 10.0.0.6 may"),
            "{message}"
        );
        assert!(!message.contains("10.0.0.7"), "{message}");
        assert!(message.contains("rccr remove"), "{message}");
        assert!(!paths.kept_temp_key().exists());

        // Every node settled: nothing may take the old key alone.
        for node in ["10.0.0.5:22", "10.0.0.6:22"] {
            record.set_phase(node, "rotated");
        }
        check_keys_there(paths, Some(&record)).unwrap();
        record.new_key = PathBuf::new();
        let message = check_keys_there(paths, Some(&record))
            .unwrap_err()
            .to_string();
        assert!(message.contains("names no new key and nodes"), "{message}");
    }

    /// Review control-keys finding 3: an unfinished rotation's nodes may
    /// take its old key alone. Another key named by `--from-key` (or
    /// setup's `--temp-key`) is refused, naming the journal's; one setup
    /// found by itself gives way to the journal's; the same key, under any
    /// name, is taken.
    #[test]
    fn an_unfinished_rotation_keeps_its_old_key_whatever_key_is_named() {
        let home = crate::state::scratch::home("journal-old-key");
        let paths = &home.paths;
        let temporary = || generate(KeyType::Ed25519, 0, crate::keys::TEMP_KEY_COMMENT).unwrap();
        let started = temporary();
        write_pair(&paths.kept_temp_key(), &started).unwrap();
        let same = home.dir.join("same_key");
        write_pair(&same, &started).unwrap();
        let other = home.dir.join("other_key");
        write_pair(&other, &temporary()).unwrap();
        let new = generate(KeyType::Ed25519, 0, CLUSTER_KEY_COMMENT).unwrap();
        write_pair(&paths.staged_new_key(), &new).unwrap();
        let record = unfinished_at(paths, "staging");
        let started = load_key(&paths.kept_temp_key()).unwrap();

        for (program, flag) in [
            ("rccr keyrotate", "--from-key"),
            ("rccr setup", "--temp-key"),
        ] {
            let mut opts = options(paths, Some(&other), Some(flag));
            opts.program = program.into();
            let Err(err) = old_key(&opts, Some(&record)) else {
                panic!("{flag} overrode the unfinished rotation's old key");
            };
            let message = err.to_string();
            assert!(!message.contains('\n'), "{message}");
            let says = format!(
                "an unfinished rotation ({}) started from {}: finish it first ({program} without {flag})",
                paths.journal().display(),
                paths.kept_temp_key().display()
            );
            assert_eq!(message, says);
            assert!(matches!(err.exit_code(), crate::error::ExitCode::Failure));
            // The same key under another name is the journal's.
            let key = old_key(&options(paths, Some(&same), Some(flag)), Some(&record)).unwrap();
            assert_eq!(key.blob(), started.blob(), "{flag}");
            // And the journal keeps naming its own copy (review
            // journalkeys, F5: the other may be a passing one).
            assert_eq!(key.path, paths.kept_temp_key(), "{flag}");
        }
        // Setup found its temporary key by itself: the journal's is taken.
        let mut opts = options(paths, Some(&other), None);
        opts.program = "rccr setup".into();
        let key = old_key(&opts, Some(&record)).unwrap();
        assert_eq!(
            (&key.path, key.blob()),
            (&paths.kept_temp_key(), started.blob())
        );
        assert_eq!(gave_way(&opts, &key), None, "found, not named");
        // Named by the config (review journalkeys F7): it gives way all
        // the same, and the operator is told.
        opts.temp_key = Some(crate::config::NamedPath::temp_key_line(&other));
        let note = gave_way(&opts, &old_key(&opts, Some(&record)).unwrap()).unwrap();
        let says = format!(
            "started from {}: finishing it with that key, not cluster_config.yml:2: ssh.temp_key {}",
            paths.kept_temp_key().display(),
            other.display()
        );
        assert!(note.contains(&says), "{note}");
        opts.from_key = Some(same.clone());
        opts.temp_key = Some(crate::config::NamedPath::temp_key_line(&same));
        let key = old_key(&opts, Some(&record)).unwrap();
        assert_eq!(gave_way(&opts, &key), None, "the same key");
        // An interrupted rekey finishes from its previous key whatever
        // key is named, --temp-key too (review today1, F3: then silently).
        write_pair(&paths.previous_key(), &temporary()).unwrap();
        let rekey = Record {
            old_key: paths.previous_key(),
            ..record.clone()
        };
        let opts = options(paths, Some(&other), Some("--temp-key"));
        let key = old_key(&opts, Some(&rekey)).unwrap();
        assert_eq!(key.path, paths.previous_key());
        let note = gave_way(&opts, &key).unwrap_or_default();
        assert!(note.contains(", not --temp-key "), "{note}");
        // The journal's key no longer loads (review journalkeys, F4): the
        // line names it and the way out, though a good copy is given.
        std::fs::write(paths.kept_temp_key(), "not a key\n").unwrap();
        let opts = options(paths, Some(&same), Some("--from-key"));
        let message = old_key(&opts, Some(&record)).unwrap_err().to_string();
        assert!(!message.contains('\n'), "{message}");
        let says = format!(
            "started from {}, which cannot be loaded",
            paths.kept_temp_key().display()
        );
        assert!(message.contains(&says), "{message}");
        assert!(message.contains("put that key back there"), "{message}");
    }

    /// The current cluster key offered as the old key is refused, and the
    /// line says who named it: the option, or, found by itself, "the
    /// temporary key".
    #[test]
    fn the_cluster_key_as_the_old_key_is_refused_naming_who_named_it() {
        let home = crate::state::scratch::home("cluster-as-old");
        let paths = &home.paths;
        let cluster = paths.ssh_identity(KeyType::Ed25519);
        write_pair(
            &cluster,
            &generate(KeyType::Ed25519, 0, CLUSTER_KEY_COMMENT).unwrap(),
        )
        .unwrap();
        let fingerprint = load_key(&cluster).unwrap().fingerprint;
        KeyRecords::new(paths)
            .record(KeyRole::Cluster, &fingerprint)
            .unwrap();
        for (flag, named) in [
            (Some("--from-key"), "--from-key"),
            (None, "the temporary key"),
        ] {
            let opts = options(paths, Some(&cluster), flag);
            let Err(err) = old_key(&opts, None) else {
                panic!("the cluster key was taken as the old key ({named})");
            };
            let message = err.to_string();
            let says = format!("{named} {}: is rccr's cluster key", cluster.display());
            assert!(message.starts_with(&says), "{message}");
            assert_eq!(named_by(&opts, &cluster).as_deref(), flag);
        }
    }

    /// A forced restore put back key records that do not list the new key
    /// an interrupted rekey left at `STATE/new_key`, which some nodes may
    /// take alone: the next run refuses, naming the file, and writes
    /// nothing over it.
    #[test]
    fn a_staged_new_key_the_records_do_not_list_is_never_written_over() {
        let home = crate::state::scratch::home("staged-unrecorded");
        let paths = &home.paths;
        let records = KeyRecords::new(paths);
        let current = generate(KeyType::Ed25519, 0, CLUSTER_KEY_COMMENT).unwrap();
        write_pair(&paths.ssh_identity(KeyType::Ed25519), &current).unwrap();
        write_pair(&paths.previous_key(), &current).unwrap();
        let old = load_key(&paths.previous_key()).unwrap();
        records.record(KeyRole::Cluster, &old.fingerprint).unwrap();
        let staged = generate(KeyType::Ed25519, 0, CLUSTER_KEY_COMMENT).unwrap();
        write_pair(&paths.staged_new_key(), &staged).unwrap();
        let before = std::fs::read(paths.staged_new_key()).unwrap();

        let Err(err) = new_key(paths, KeyType::Ed25519, &old, None) else {
            panic!("a key rccr has no record of was taken up or written over");
        };
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(
            message.contains(&paths.staged_new_key().display().to_string()),
            "{message}"
        );
        assert!(matches!(err.exit_code(), crate::error::ExitCode::Failure));
        assert_eq!(std::fs::read(paths.staged_new_key()).unwrap(), before);
    }
}
