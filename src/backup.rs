//! `rccr backup` and `rccr restore`: the control's state in one archive, so
//! that a freshly flashed control manages the same cluster.
//!
//! The control is the only holder of the cluster key: lose it with no
//! backup and the nodes can only be re-flashed. The archive holds the
//! cluster and previous keys, rccr's kept copy of the temporary key, the
//! known_hosts lines of the cluster's nodes, the inventory, the swarm
//! record, the key records, the last rotation's record and the config. It
//! holds private keys: it is written 0600, and where it goes is the
//! operator's to keep safe.
//!
//! Taken during an unfinished key rotation, it holds the rotation's journal
//! too, its keys named by their entries (both keys are in the archive: the
//! new one is the cluster key, the old one the previous or the temporary
//! key), so that restored, the next `rccr keyrotate` finishes the rotation:
//! without it, a rekey's unmoved nodes, which take only the previous key,
//! were forgotten and locked out by the next rekey.
//!
//! **Format**: text-framed entries, each `entry NAME LENGTH MODE` on a line
//! and then the bytes, after a `rccr-backup 1` line; then `end CKSUM
//! LENGTH`, POSIX `cksum` of everything before it. A file cut short or
//! changed is refused whole: restore writes nothing unless every entry
//! checks out ([`check_entry`]), and backup writes no archive restore
//! would refuse (the same checks, and [`MAX_SIZE`]).
use crate::config::Config;
use crate::error::Error;
use crate::fsutil::{self, Trust};
use crate::keys::authorized::cksum_line;
use crate::keys::control::command::default_identities;
use crate::keys::control::journal::{self, Record};
use crate::keys::control::known_hosts::KnownHosts;
use crate::keys::control::ssh_config;
use crate::keys::resolve::{self, Resolver, Source, CLUSTER_KEY_VAR};
use crate::keys::{load_key, public_path, KeyType};
use crate::state::lock::restore_marker;
use crate::state::swarm::SwarmRecord;
use crate::state::{inventory, KeyRecords, StatePaths};
use std::io::Write;
use std::path::{Path, PathBuf};

const MAGIC: &str = "rccr-backup 1\n";
/// An archive larger than this is not one of ours.
pub const MAX_SIZE: usize = 16 << 20;
/// The names an archive may hold: nothing else is ever written on restore.
const NAMES: &[&str] = &[
    "cluster_key",
    "cluster_key.pub",
    "previous_key",
    "previous_key.pub",
    "temp_key",
    "temp_key.pub",
    "known_hosts",
    "nodes",
    "swarm",
    "keys",
    "last-rotation",
    "rotation.journal",
    "config",
];

/// The archive entries that hold the keys a rotation journal names.
const KEY_ENTRIES: [&str; 3] = ["cluster_key", "previous_key", "temp_key"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub mode: u32,
    pub bytes: Vec<u8>,
}

pub fn render(entries: &[Entry]) -> Vec<u8> {
    let mut out = MAGIC.as_bytes().to_vec();
    for e in entries {
        out.extend_from_slice(
            format!("entry {} {} {:o}\n", e.name, e.bytes.len(), e.mode).as_bytes(),
        );
        out.extend_from_slice(&e.bytes);
    }
    let sum = cksum_line(&out);
    out.extend_from_slice(format!("end {sum}\n").as_bytes());
    out
}

/// Reads an archive; `Err` names what is wrong with it.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let rest = bytes
        .strip_prefix(MAGIC.as_bytes())
        .ok_or("not an rccr backup")?;
    let mut at = MAGIC.len();
    let mut rest = rest;
    let mut entries = Vec::new();
    loop {
        let end = rest
            .iter()
            .take(256)
            .position(|b| *b == b'\n')
            .ok_or("cut short")?;
        let line = std::str::from_utf8(&rest[..end]).map_err(|_| "a damaged entry")?;
        let words: Vec<&str> = line.split(' ').collect();
        match words[..] {
            ["end", sum, len] => {
                if cksum_line(&bytes[..at]) != format!("{sum} {len}") || rest.len() != end + 1 {
                    return Err("its checksum does not match: damaged or cut short".into());
                }
                return Ok(entries);
            }
            ["entry", name, len, mode] => {
                let name = NAMES
                    .iter()
                    .find(|n| **n == name)
                    .ok_or("an unknown entry")?;
                if entries.iter().any(|e: &Entry| e.name == *name) {
                    return Err(format!("its entry {name} is there twice"));
                }
                let len: usize = len.parse().map_err(|_| "a damaged entry")?;
                let mode = u32::from_str_radix(mode, 8).map_err(|_| "a damaged entry")?;
                // get(..len) rather than end + 1 + len: a huge length in a
                // damaged file must not overflow.
                let body = rest
                    .get(end + 1..)
                    .and_then(|r| r.get(..len))
                    .ok_or("cut short")?;
                entries.push(Entry {
                    name: name.to_string(),
                    mode: mode & 0o777,
                    bytes: body.to_vec(),
                });
                at += end + 1 + len;
                rest = &rest[end + 1 + len..];
            }
            _ => return Err("a damaged entry".into()),
        }
    }
}

/// Known_hosts `line` with only its host patterns that name a node of
/// `nodes`, when it pins a host key for one and no pattern vouches for
/// other hosts: no marker (`@cert-authority`), hashed entry, wildcard or
/// negation, and a key that parses. `None`: it pins no node. A line for a
/// node and a host that is none (`name,10.0.0.5`, as OpenSSH writes)
/// keeps the node's pin and vouches for the other no more.
fn node_pin(line: &str, nodes: &[inventory::NodeRecord]) -> Option<String> {
    let (hosts, key) = line.trim_start().split_once([' ', '\t'])?;
    let mut fields = key.split_whitespace();
    let (kind, b64) = (fields.next()?, fields.next()?);
    let plain = |h: &str| !h.is_empty() && !h.contains(['@', '#', '|', '*', '?', '!']);
    let names_node = |h: &&str| {
        let h = h.trim_start_matches('[').split(']').next().unwrap_or("");
        nodes
            .iter()
            .any(|n| n.ip.to_string() == h || n.hostname == h)
    };
    let named: Vec<&str> = hosts.split(',').filter(names_node).collect();
    (hosts.split(',').all(plain)
        && !named.is_empty()
        && ssh_key::PublicKey::from_openssh(&format!("{kind} {b64}")).is_ok())
    .then(|| format!("{} {}", named.join(","), key.trim_start()))
}

/// The lines of known_hosts `text` that pin a node of `nodes`, with only
/// the nodes' host patterns ([`node_pin`]): what a backup keeps, and all
/// that a restore adds to a known_hosts.
fn node_pins(text: &[u8], nodes: &[inventory::NodeRecord]) -> Vec<u8> {
    let mut out = String::new();
    for line in String::from_utf8_lossy(text).lines() {
        if let Some(pin) = node_pin(line, nodes) {
            out.push_str(&pin);
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// The known_hosts lines that pin a node of the inventory ([`node_pins`]).
fn cluster_known_hosts(paths: &StatePaths) -> Result<Vec<u8>, Error> {
    let nodes = inventory::load(&paths.nodes())?;
    let text = fsutil::read_trusted_if_any(&paths.known_hosts, Trust::Kept)?.unwrap_or_default();
    Ok(node_pins(&text, &nodes))
}

/// Everything the archive holds, read from this control, each entry with
/// the file it comes from.
pub fn collect(
    paths: &StatePaths,
    config: &Config,
    source: Option<&Path>,
) -> Result<Vec<(Entry, PathBuf)>, Error> {
    let resolver = Resolver::new(paths);
    let mut entries = Vec::new();
    let mut add = |name: &str, mode: u32, from: &Path, bytes: Option<Vec<u8>>| {
        if let Some(bytes) = bytes {
            let entry = Entry {
                name: name.into(),
                mode,
                bytes,
            };
            entries.push((entry, from.to_path_buf()));
        }
    };
    let cluster = resolver.cluster(config.ssh.key_type)?.ok_or_else(|| {
        Error::Failed(
            "no cluster key on this machine: nothing to back up (run rccr setup first)".into(),
        )
    })?;
    let keys = [
        Some(cluster.path),
        resolver.previous()?.map(|f| f.path),
        Some(paths.kept_temp_key()),
    ];
    if let Some(record) = journal::load(&paths.journal())? {
        let record = archived_journal(paths, record, &keys)?;
        let bytes = record.render().into_bytes();
        add("rotation.journal", 0o600, &paths.journal(), Some(bytes));
    }
    for (name, path) in KEY_ENTRIES.into_iter().zip(&keys) {
        if let Some(path) = path {
            add(
                name,
                0o600,
                path,
                fsutil::read_trusted_if_any(path, Trust::Secret)?,
            );
            let public = public_path(path);
            let bytes = fsutil::read_if_any(&public)?;
            add(&format!("{name}.pub"), 0o644, &public, bytes);
        }
    }
    let known_hosts = cluster_known_hosts(paths)?;
    add("known_hosts", 0o644, &paths.known_hosts, Some(known_hosts));
    // What the archive vouches for must be what rccr wrote.
    for (name, path) in [
        ("nodes", paths.nodes()),
        ("swarm", paths.swarm()),
        ("keys", paths.key_records()),
        ("last-rotation", paths.last_rotation()),
    ] {
        add(
            name,
            0o600,
            &path,
            fsutil::read_trusted_if_any(&path, Trust::Kept)?,
        );
    }
    if let Some(source) = source {
        add("config", 0o644, source, fsutil::read_if_any(source)?);
    }
    Ok(entries)
}

/// The unfinished rotation `record` as the archive holds it: its new and
/// old key named by the entry of `KEY_ENTRIES` that holds each (read from
/// `keys`, in that order). A key the archive would not hold (never seen)
/// cannot be restored: the rotation must finish first.
fn archived_journal(
    paths: &StatePaths,
    mut record: Record,
    keys: &[Option<PathBuf>; 3],
) -> Result<Record, Error> {
    let entry_of = |wanted: &Path| {
        let wanted = load_key(wanted).ok()?;
        KEY_ENTRIES.into_iter().zip(keys).find_map(|(name, path)| {
            let key = load_key(path.as_deref()?).ok()?;
            (key.blob() == wanted.blob()).then_some(PathBuf::from(name))
        })
    };
    match (entry_of(&record.new_key), entry_of(&record.old_key)) {
        (Some(new_key), Some(old_key)) => {
            record.new_key = new_key;
            record.old_key = old_key;
            Ok(record)
        }
        _ => Err(Error::Failed(format!(
            "a key rotation is unfinished ({}) and the archive would not hold its keys: \
             finish it first (rccr keyrotate; rccr remove --forget a node gone for good), then back up",
            paths.journal().display()
        ))),
    }
}

/// The file of `sources` that writing to `target` would replace: the same
/// directory entry (another path to it, a hard link), or the file a
/// source that is a symlink names.
fn source_at<'s>(target: &Path, sources: &'s [PathBuf]) -> Option<&'s Path> {
    use std::os::unix::fs::MetadataExt;
    let id = |m: std::fs::Metadata| (m.dev(), m.ino());
    let at = id(std::fs::symlink_metadata(target).ok()?);
    let is_at = |source: &&PathBuf| {
        [std::fs::symlink_metadata(source), std::fs::metadata(source)]
            .into_iter()
            .flatten()
            .any(|m| id(m) == at)
    };
    sources.iter().find(is_at).map(PathBuf::as_path)
}

/// Writes the archive to `target` (`-`: stdout), 0600, atomically; `cmd`
/// names the command in a usage error.
pub fn backup(
    cmd: &[&str],
    paths: &StatePaths,
    config_path: Option<&Path>,
    target: &str,
) -> Result<usize, Error> {
    let loaded = Config::load(config_path)?;
    let (entries, sources): (Vec<Entry>, Vec<PathBuf>) =
        collect(paths, &loaded.config, loaded.source.as_deref())?
            .into_iter()
            .unzip();
    let at = (target != "-").then(|| source_at(Path::new(target), &sources));
    if let Some(source) = at.flatten() {
        return Err(crate::cli::usage(
            cmd,
            &format!(
                "{target} is {}, which the archive holds: the archive would replace it; \
                 name another file",
                source.display()
            ),
        ));
    }
    // Restore's own checks, before anything is written: an archive it
    // would refuse is no backup, and the day it is needed is too late to
    // learn so.
    let refused = |what: &Path, why: String| {
        Error::bad_input(
            what.display().to_string(),
            format!("{why}, so rccr restore would refuse the archive and none was written; fix or remove what it names, then back up again"),
        )
    };
    let nodes = archived_nodes(&entries).map_err(|why| refused(&paths.nodes(), why))?;
    for (entry, from) in entries.iter().zip(&sources) {
        check_entry(entry, &entries, &nodes).map_err(|why| refused(from, why))?;
    }
    let archive = render(&entries);
    if archive.len() > MAX_SIZE {
        return Err(Error::bad_input(
            paths.state_dir.display().to_string(),
            format!(
                "the archive would be {} bytes, more than rccr restore reads ({MAX_SIZE}), so none was written; \
                 look for a file here that grew beyond what rccr writes",
                archive.len()
            ),
        ));
    }
    // Read back as restore reads it (names, framing, the cluster key, the
    // journal's keys): what fails here is rccr's own doing.
    if let Err(e) = checked(&archive) {
        return Err(Error::Failed(format!(
            "the archive does not read back ({e}), so none was written: \
             a fault of rccr's, please report it"
        )));
    }
    if target == "-" {
        // Not crate::print::stdout: an archive cut short is no backup,
        // whoever closed the pipe.
        // A regular file there (`> FILE`) is synced before success is
        // told, as write_atomic syncs FILE: exit 0 is a backup that
        // outlives a crash. A pipe or socket has nothing to sync.
        let sync_if_file = || {
            use std::os::fd::AsFd;
            let file = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
            match file.metadata()?.is_file() {
                true => file.sync_all(),
                false => Ok(()),
            }
        };
        std::io::stdout()
            .lock()
            .write_all(&archive)
            .and_then(|()| std::io::stdout().lock().flush())
            .and_then(|()| sync_if_file())
            .map_err(|e| {
                Error::Failed(format!(
                    "stdout: {e}: the archive was not written whole, so there is no backup; \
                     send it to a file or to a reader that takes all of it"
                ))
            })?;
    } else {
        fsutil::write_atomic(Path::new(target), &archive, 0o600)?;
    }
    Ok(entries.len())
}

/// An archive read and checked whole, before anything is written (and
/// before the state lock creates the state directory).
pub struct Archive {
    entries: Vec<Entry>,
    kind: KeyType,
    /// Index of the cluster key entry, which read() made sure exists.
    cluster: usize,
    /// The unfinished rotation, its keys named by entries that exist.
    unfinished: Option<Record>,
}

/// Reads and checks an archive (`-`: stdin); writes nothing.
pub fn read(source: &str) -> Result<Archive, Error> {
    let what = if source == "-" {
        "stdin".to_string()
    } else {
        source.to_string()
    };
    let (limit, hint) = (
        (MAX_SIZE, "an rccr backup"),
        "give the file rccr backup wrote",
    );
    let bytes = if source == "-" {
        fsutil::read_input_from(&what, &mut std::io::stdin().lock(), limit, hint)?
    } else {
        fsutil::read_input(source, Path::new(source), true, limit, hint)?
    };
    checked(&bytes).map_err(|e| {
        Error::bad_input(
            &what,
            format!("{e}; nothing was restored (use the file rccr backup wrote)"),
        )
    })
}

/// The archive `bytes` as restore takes it: its framing and checksum
/// ([`parse`]), every entry ([`check_entries`]), a cluster key, and a
/// rotation journal naming keys it holds. Backup reads back what it would
/// write through this too: restore takes what backup writes, by one rule.
fn checked(bytes: &[u8]) -> Result<Archive, String> {
    let entries = parse(bytes)?;
    check_entries(&entries)?;
    let cluster = entries
        .iter()
        .position(|e| e.name == "cluster_key")
        .ok_or("it holds no cluster key")?;
    // check_entries took it, and only of a type rccr uses.
    let kind = crate::keys::private_key(&entries[cluster].bytes)
        .ok()
        .as_ref()
        .and_then(key_type)
        .ok_or_else(|| damaged("cluster_key"))?;
    let unfinished = match entries.iter().find(|e| e.name == "rotation.journal") {
        Some(e) => {
            Some(unfinished_rotation(&e.bytes, &entries).ok_or("its rotation journal is damaged")?)
        }
        None => None,
    };
    Ok(Archive {
        entries,
        kind,
        cluster,
        unfinished,
    })
}

/// The type of `key`, when it is one rccr uses (the closed set
/// [`KeyType`]); `None`: another (ECDSA, DSA, ...), never taken for one.
fn key_type(key: &ssh_key::PrivateKey) -> Option<KeyType> {
    match key.algorithm() {
        ssh_key::Algorithm::Ed25519 => Some(KeyType::Ed25519),
        ssh_key::Algorithm::Rsa { .. } => Some(KeyType::Rsa),
        _ => None,
    }
}

/// What [`check_entry`] says of entry `place` (`NAME` or `NAME:LINE`).
fn damaged(place: &str) -> String {
    format!("its entry {place} is not what rccr backup writes")
}

/// The text of entry `e`.
fn entry_text(e: &Entry) -> Result<&str, String> {
    std::str::from_utf8(&e.bytes).map_err(|_| damaged(&e.name))
}

/// A state file's parser names the line: `FILE:LINE` is the place.
fn at_line(e: Error) -> String {
    match e {
        Error::BadInput { what, .. } => damaged(&what),
        e => e.to_string(),
    }
}

/// The nodes of the archive's `nodes` entry (none without one), which its
/// known_hosts lines must name.
fn archived_nodes(entries: &[Entry]) -> Result<Vec<inventory::NodeRecord>, String> {
    match entries.iter().find(|e| e.name == "nodes") {
        Some(e) => inventory::parse(entry_text(e)?, Path::new("nodes")).map_err(at_line),
        None => Ok(Vec::new()),
    }
}

/// Checks each entry as what it is, as rccr backup writes it: restore
/// writes them as they are, so one it could not use must stop it before it
/// writes anything. `Err` names the entry (and line) and what is wrong.
fn check_entries(entries: &[Entry]) -> Result<(), String> {
    let nodes = archived_nodes(entries)?;
    entries
        .iter()
        .try_for_each(|e| check_entry(e, entries, &nodes))
}

/// Checks entry `e` as what it is ([`check_entries`]); `entries` and
/// `nodes` are the archive's. The one rule of what an entry may hold:
/// restore refuses what it refuses, and backup writes nothing it refuses.
fn check_entry(
    e: &Entry,
    entries: &[Entry],
    nodes: &[inventory::NodeRecord],
) -> Result<(), String> {
    // `Err` names the first line of `e` that `good` refuses, `NAME:LINE`.
    let each_line = |good: &dyn Fn(&str) -> bool| -> Result<(), String> {
        match entry_text(e)?.lines().position(|l| !good(l)) {
            Some(n) => Err(damaged(&format!("{}:{}", e.name, n + 1))),
            None => Ok(()),
        }
    };
    let origin = Path::new(&e.name);
    let well_formed = match e.name.as_str() {
        // As load_key takes it after restore writes it (size, format, no
        // passphrase), and of a type rccr uses: refused only then, the
        // restore stopped after its first write, every run again.
        "cluster_key" | "previous_key" | "temp_key" => {
            crate::keys::private_key(&e.bytes).is_ok_and(|k| key_type(&k).is_some())
        }
        name if name.ends_with(".pub") => {
            let Ok(public) = ssh_key::PublicKey::from_openssh(entry_text(e)?.trim_end()) else {
                return Err(damaged(name));
            };
            // Written beside the private key, it must be that key's: its
            // comment tells rccr a temporary key from a cluster key.
            let private = name.strip_suffix(".pub").unwrap_or(name);
            let half = entries
                .iter()
                .find(|p| p.name == private)
                .and_then(|p| ssh_key::PrivateKey::from_openssh(&p.bytes).ok());
            if half.is_some_and(|k| k.public_key().key_data() != public.key_data()) {
                return Err(format!(
                    "its entry {name} is not the public half of its entry {private}"
                ));
            }
            true
        }
        "swarm" => {
            SwarmRecord::parse(entry_text(e)?, origin).map_err(at_line)?;
            true
        }
        "last-rotation" => {
            Record::parse(entry_text(e)?, origin).map_err(at_line)?;
            true
        }
        "keys" => {
            each_line(&crate::state::is_key_record)?;
            true
        }
        "known_hosts" => {
            each_line(&|l| node_pin(l, nodes).is_some())?;
            true
        }
        "config" => {
            Config::from_bytes(&e.bytes, "its entry config").map_err(|e| e.to_string())?;
            true
        }
        // nodes: archived_nodes; rotation.journal: read() checks it with
        // its keys.
        _ => true,
    };
    match well_formed {
        true => Ok(()),
        false => Err(damaged(&e.name)),
    }
}

/// An archived rotation journal whose keys name key entries of `entries`.
fn unfinished_rotation(bytes: &[u8], entries: &[Entry]) -> Option<Record> {
    let text = std::str::from_utf8(bytes).ok()?;
    let record = Record::parse(text, Path::new("rotation.journal")).ok()?;
    let archived = |key: &Path| {
        key.to_str().is_some_and(|name| {
            KEY_ENTRIES.contains(&name) && entries.iter().any(|e| e.name == name)
        })
    };
    (archived(&record.new_key) && archived(&record.old_key)).then_some(record)
}

/// Restores a checked archive onto this control: keys at OpenSSH's
/// default path for their type (or in the state directory when another
/// key holds it), known_hosts lines added, state files and config written.
/// Everything it reads and checks comes before its first write: a restore
/// refused writes nothing, and one that stops part-way is marked.
///
/// A key, rotation journal or inventory of this control's that the
/// archive would replace with another ([`replaced`]) stops it before the
/// first write (exit 3), unless `force`: then each is first kept aside
/// ([`aside`]), and so are the swarm record, last-rotation and config it
/// writes over with other bytes. The same archive restored again
/// replaces nothing. `$RCCR_CLUSTER_KEY` naming another key than the
/// archive's cluster key is refused (exit 3): rccr would log in with it.
///
/// What it writes is told to `report` as it is done. From its first write
/// to its last, [`restore_marker`] names the archive (`name`): a restore
/// that stops part-way leaves every other command refusing until it is
/// run again. A diskless control whose `lbu commit` fails is exit 1.
pub fn restore(
    paths: &StatePaths,
    archive: &Archive,
    force: bool,
    name: &str,
    report: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    let Archive {
        entries,
        kind,
        cluster,
        unfinished,
    } = archive;
    let (kind, cluster) = (*kind, &entries[*cluster]);
    let get = |name: &str| entries.iter().find(|e| e.name == name);
    // Read before anything is written: a known_hosts rccr cannot read
    // stops the restore with nothing changed.
    // Only the archive's nodes' host patterns (an older rccr kept a
    // line's others), as check_entry took them.
    let archived = archived_nodes(entries).map_err(Error::Failed)?;
    let known_hosts = get("known_hosts")
        .map(|e| merge_lines(&paths.known_hosts, &node_pins(&e.bytes, &archived)))
        .transpose()?;
    // So are the nodes and the config the Ansible inventory is rendered
    // with: the archive's nodes, else the ones here; ./cluster_config.yml
    // (it comes first in every command), else the archive's config (it
    // becomes the system one), else the system one. A bad one stops the
    // restore with nothing changed, not after the keys were written.
    let nodes = match get("nodes") {
        Some(e) => inventory::parse(&String::from_utf8_lossy(&e.bytes), Path::new("nodes"))?,
        None => inventory::load(&paths.nodes())?,
    };
    // Restored all the same, with a warning: the archive may be the only
    // copy of the cluster key, and what it restores can be fixed with
    // rccr afterwards (`rccr remove --forget IP` of one of the two is
    // allowed), where a refusal would leave no way to it.
    if let Err(why) = inventory::check_names(&nodes) {
        crate::print::warning(
            "rccr restore",
            &format!("{why}; restored as it is: rccr setup refuses until then"),
        );
    }
    let config = match (Config::load_local()?, get("config")) {
        (Some(local), _) => local.config,
        (None, Some(e)) => Config::from_bytes(&e.bytes, crate::config::SYSTEM_PATH)?.0,
        (None, None) => Config::load(None)?.config,
    };
    // Where the keys go, the rotation records, and the cluster key the
    // inventory names (looked up as every command will look it up once
    // restore is done) are settled before the first write too: the
    // journal here, when the archive carries none to replace it, is read
    // now, so a damaged or untrusted one stops the restore with nothing
    // changed.
    let cluster_path = key_home(
        &paths.ssh_identity(kind),
        &cluster.bytes,
        &paths.own_cluster_key(),
    )?;
    let previous_path = paths.previous_key();
    let temp_path = paths.kept_temp_key();
    // The last rotation names the keys where they are now.
    let mut record = get("last-rotation")
        .and_then(|e| Record::parse(&String::from_utf8_lossy(&e.bytes), Path::new("backup")).ok())
        .unwrap_or_else(|| Record {
            rotation: "restored".into(),
            ..Record::default()
        });
    record.new_key = cluster_path.clone();
    record.old_key = if get("previous_key").is_some() {
        previous_path.clone()
    } else {
        temp_path.clone()
    };
    let record_text = record.render();
    // Its keys are named by their entries: where they are now.
    let unfinished = unfinished.clone().map(|mut unfinished| {
        for key in [&mut unfinished.new_key, &mut unfinished.old_key] {
            *key = match key.to_str() {
                Some("cluster_key") => cluster_path.clone(),
                Some("previous_key") => previous_path.clone(),
                _ => temp_path.clone(),
            };
        }
        unfinished
    });
    if unfinished.is_none() {
        journal::load(&paths.journal())?;
    }
    let keys: Vec<(&Entry, &Path, &'static str)> = [
        (Some(cluster), cluster_path.as_path(), CLUSTER_KEY),
        (get("previous_key"), previous_path.as_path(), "previous key"),
        (get("temp_key"), temp_path.as_path(), "temporary key"),
    ]
    .into_iter()
    .filter_map(|(entry, path, what)| Some((entry?, path, what)))
    .collect();
    // The cluster key the inventory names, looked up as it will be: a
    // journal here that the archive's does not replace goes aside
    // (refused otherwise), the archive's rotation, if any, is the one.
    let written: Vec<&Path> = keys.iter().map(|(_, path, _)| *path).collect();
    let records: Vec<Record> = unfinished.iter().cloned().chain([record.clone()]).collect();
    // $RCCR_CLUSTER_KEY wins over what restore writes: naming another
    // key, it would have rccr log in with that one (a forced restore moves
    // it aside, and inventory.ini would name where it was). Naming where
    // the archive's goes (a fresh control whose profile names its
    // default path), it is there once written; naming no key, it is
    // refused as another.
    let env = resolve::env_path(CLUSTER_KEY_VAR).filter(|p| !written.contains(&p.as_path()));
    if let Some(env) = env {
        resolve::check_given(CLUSTER_KEY_VAR, &env, UNSET_CLUSTER_KEY)?;
    }
    let found = Resolver::new(paths).cluster_once(config.ssh.key_type, &records, &written)?;
    if let Some(env) = found.as_ref().filter(|f| f.source == Source::Environment) {
        let archives = env.path == cluster_path
            || fsutil::read_if_any(&env.path)?.is_some_and(|b| one_key(&b, &cluster.bytes));
        if !archives {
            return Err(Error::bad_input(
                format!(
                    "{CLUSTER_KEY_VAR} names {}, not the archive's cluster key",
                    env.path.display()
                ),
                UNSET_CLUSTER_KEY,
            ));
        }
    }
    let key = found.map_or_else(|| paths.ssh_identity(kind), |f| f.path);
    // The state files it writes, with what it writes there (the inventory
    // as the archive has it, or as it is rendered).
    let rendered = inventory::render(&nodes);
    // An inventory here is refused (unless `force`) only for a node the
    // archive's lacks: one with none, or only this control, carries
    // nothing a node depends on. One that cannot be read may hold any.
    let lacked = |here: &inventory::NodeRecord| {
        here.role != crate::identity::Role::Control
            && !nodes
                .iter()
                .any(|n| n.ip == here.ip || (n.mac.is_some() && n.mac == here.mac))
    };
    let other_nodes = get("nodes").is_some()
        && inventory::load(&paths.nodes()).map_or(true, |here| here.iter().any(lacked));
    let state_files: Vec<StateFile> = [
        (
            get("nodes").map(|e| vec![&e.bytes[..], rendered.as_bytes()]),
            paths.nodes(),
            INVENTORY,
            other_nodes,
        ),
        (
            get("swarm").map(|e| vec![&e.bytes[..]]),
            paths.swarm(),
            "swarm record",
            false,
        ),
        (
            Some(vec![record_text.as_bytes()]),
            paths.last_rotation(),
            "last key rotation record",
            false,
        ),
        (
            get("config").map(|e| vec![&e.bytes[..]]),
            PathBuf::from(crate::config::SYSTEM_PATH),
            "config",
            false,
        ),
    ]
    .into_iter()
    .filter_map(|(written, path, what, refused)| {
        Some(StateFile {
            path,
            what,
            written: written?,
            refused,
        })
    })
    .collect();
    let replaced = replaced(
        paths,
        config.ssh.key_type,
        cluster,
        &keys,
        &state_files,
        unfinished.as_ref(),
        force,
    )?;
    // An unfinished rotation is named first: finishing it is the remedy.
    let first = replaced.iter().find(|r| r.what == JOURNAL);
    let refused = first.or(replaced.iter().find(|r| r.refused));
    if let Some(first) = refused.filter(|_| !force) {
        return Err(first.refusal());
    }
    // So are the key records, which the archive's are added to, less the
    // cluster key a forced restore leaves out of use where it is: still
    // rccr's, a later keyrotate would take it up again as the cluster key
    // at its default path.
    let disowned: Vec<String> = replaced
        .iter()
        .filter(|r| r.to.is_none() && r.what == CLUSTER_KEY)
        .filter_map(|r| crate::keys::fingerprint_if_any(&r.path))
        .collect();
    let key_records = get("keys")
        .map(|e| KeyRecords::new(paths).merged(&e.bytes, &disowned))
        .transpose()?;
    // And every file it writes can be written: a config this user cannot
    // put in /etc/rccr stops it here, not after the keys.
    let key_files = keys
        .iter()
        .flat_map(|(_, path, _)| [path.to_path_buf(), public_path(path)]);
    let files = [
        Some(paths.last_rotation()),
        unfinished.as_ref().map(|_| paths.journal()),
        get("swarm").map(|_| paths.swarm()),
        get("keys").map(|_| paths.key_records()),
        known_hosts.as_ref().map(|_| paths.known_hosts.clone()),
        get("config").map(|_| PathBuf::from(crate::config::SYSTEM_PATH)),
        Some(paths.nodes()),
        Some(paths.inventory_ini()),
    ];
    for file in key_files.chain(files.into_iter().flatten()) {
        fsutil::check_writable(&file)?;
    }
    // Plain `ssh root@NODE` offers only the default identities, at port
    // 22: a cluster key elsewhere, or another port, is named for the nodes
    // in rccr's block of ~/.ssh/config, as keyrotate names it. A block an
    // earlier run wrote follows the restored key and nodes either way, so
    // a file it would refuse to rewrite stops the restore here.
    let named = !default_identities(paths).contains(&key) || config.ssh.port != 22;
    ssh_config::check(&paths.ssh_config())?;
    paths.create_state_dir()?;
    crate::state::create_private_dir(&paths.ssh_dir)?;
    let marker = restore_marker(paths);
    // A forced restore is finished by a forced one: what it moved aside
    // or put out of use would stop a plain one.
    let forced = if force && !replaced.is_empty() {
        "--force\n"
    } else {
        ""
    };
    fsutil::write_atomic(&marker, format!("{name}\n{forced}").as_bytes(), 0o600)?;
    let mut done = |line: String| report(&line);
    for file in &replaced {
        done(file.keep()?);
    }
    for (entry, path, what) in keys {
        let public = get(&format!("{}.pub", entry.name));
        write_key(path, entry, public)?;
        done(format!("{what}: {}", path.display()));
    }
    crate::failpoint::reached("restore-keys-written", "-");
    fsutil::write_atomic(&paths.last_rotation(), record_text.as_bytes(), 0o600)?;
    if let Some(unfinished) = unfinished {
        fsutil::write_atomic(&paths.journal(), unfinished.render().as_bytes(), 0o600)?;
        done(format!(
            "unfinished key rotation: {} (run rccr keyrotate to finish it)",
            paths.journal().display()
        ));
    }
    for (name, path) in [("nodes", paths.nodes()), ("swarm", paths.swarm())] {
        if let Some(e) = get(name) {
            fsutil::write_atomic(&path, &e.bytes, 0o600)?;
            done(format!("{name}: {}", path.display()));
        }
    }
    if let Some(text) = key_records {
        fsutil::write_atomic(&paths.key_records(), &text, 0o600)?;
        done(format!("keys: {}", paths.key_records().display()));
    }
    if let Some(text) = known_hosts {
        // Its mode and link kept, as a pin keeps them.
        KnownHosts::new(paths.known_hosts.clone()).rewrite(&|_| text.clone())?;
        done(format!("host keys: {}", paths.known_hosts.display()));
    }
    if let Some(e) = get("config") {
        let path = PathBuf::from(crate::config::SYSTEM_PATH);
        if let Some(dir) = path.parent() {
            fsutil::create_dir_durable(dir, 0o777)
                .map_err(|err| Error::io(format!("cannot create {}", dir.display()), err))?;
        }
        fsutil::write_atomic(&path, &e.bytes, 0o644)?;
        done(format!("config: {}", path.display()));
    }
    inventory::save(paths, &nodes, &config.ssh.user, config.ssh.port, &key)?;
    // A block an earlier run wrote says what the restored state says: the
    // restored key, at the restored port, for the restored nodes alone (at
    // the default key and port 22 it kept another cluster's names and
    // ports); only a key elsewhere, or another port, adds the nodes'
    // addresses, as keyrotate adds them.
    let added: Vec<std::net::IpAddr> = nodes
        .iter()
        .filter(|n| named && n.role != crate::identity::Role::Control)
        .map(|n| n.ip)
        .collect();
    ssh_config::name_restored_nodes(&paths.ssh_config(), &key, config.ssh.port, &added, &nodes)?;
    if named {
        done(format!(
            "the cluster key named for the nodes in {}",
            paths.ssh_config().display()
        ));
    }
    std::fs::remove_file(&marker)
        .and_then(|()| fsutil::sync_parent(&marker))
        .map_err(|e| Error::io(format!("cannot remove {}", marker.display()), e))?;
    match crate::state::persist_control() {
        Some(problem) => Err(Error::Failed(problem)),
        None => Ok(()),
    }
}

/// What [`Replaced`] calls a rotation journal.
const JOURNAL: &str = "unfinished key rotation";
const CLUSTER_KEY: &str = "cluster key";
/// What to do with a `$RCCR_CLUSTER_KEY` restore refuses.
const UNSET_CLUSTER_KEY: &str = "unset it, then restore";
/// What [`Replaced`] calls the nodes file.
const INVENTORY: &str = "inventory";
/// How a journal kept aside is put back.
const UNDO_JOURNAL: &str = " (to undo, move it back together with the key it names: the one \
                            is no rotation without the other)";

/// A file of this control's that restore would replace with other bytes,
/// or (the cluster key, at a path restore does not write) put out of use.
struct Replaced {
    path: PathBuf,
    what: &'static str,
    /// Where `--force` keeps it ([`aside`]), settled and checked before
    /// the first write: restore writes over it, or (a journal the archive
    /// does not carry) would leave it mixed with the archive's state.
    /// `None`: it stays where it is, out of use.
    to: Option<PathBuf>,
    /// A file that goes with it (a key's public half), and where.
    half: Option<fsutil::Half>,
    /// A plain restore refuses it (exit 3): a key nodes may take only, an
    /// unfinished rotation, or another inventory. The others a plain
    /// restore writes over; only `--force` keeps them.
    refused: bool,
}

impl Replaced {
    /// Exit 3, naming the file, what it is and what to do.
    fn refusal(&self) -> Error {
        let kept = match &self.to {
            Some(to) => format!("which keeps it as {}", to.display()),
            None => "this key stays where it is".into(),
        };
        let why = match self.what {
            JOURNAL => format!(
                "an unfinished key rotation the archive does not carry (its nodes may take \
                 only its new key): finish it (rccr keyrotate), or back this control up \
                 (rccr backup FILE), then give --force, {kept}"
            ),
            INVENTORY => format!(
                "holds nodes the archive's inventory lacks (another cluster's, or nodes \
                 found since the backup): back this control up (rccr backup FILE), then give \
                 --force, {kept}"
            ),
            what if self.to.is_some() => format!(
                "holds another {what} than the archive's, and nodes may take only this one: \
                 back this control up (rccr backup FILE), then give --force, {kept}"
            ),
            what => format!(
                "this control's {what}, not the archive's: restored, rccr logs in with the \
                 archive's, and nodes that take only this one lock it out: back this control \
                 up (rccr backup FILE), then give --force ({kept})"
            ),
        };
        Error::bad_input(self.path.display().to_string(), why)
    }

    /// `--force`: moves the file aside (or leaves it where restore does not
    /// write); what happened to it, for restore's report.
    fn keep(&self) -> Result<String, Error> {
        if self.to.is_none() {
            return Ok(format!(
                "the {} this control had stays at {} (no longer in use, nor recorded as rccr's: \
                 rccr neither takes it up nor writes over it)",
                self.what,
                self.path.display()
            ));
        }
        // The name [`replaced`] settled: nothing was written there since.
        let to = fsutil::move_aside(&self.path, ASIDE, self.half)?;
        // Its keys went aside before it, when restore replaced them.
        let undo = match self.what {
            JOURNAL => UNDO_JOURNAL,
            _ => "",
        };
        Ok(format!(
            "the {} this control had: kept as {}{undo}",
            self.what,
            to.display()
        ))
    }
}

/// What restore would replace of this control's ([`Replaced`]): a key
/// file of `keys` (entry, path) holding other bytes, the cluster key this
/// control uses now (for key type `kind`) when it is not the archive's
/// `cluster`, a file of `state` (path, what, the bytes restore writes
/// there or takes for them) holding others, and a rotation journal other
/// than the archive's `unfinished` one. The state files but the inventory
/// only when `force`: a plain restore writes over them. None when the
/// same archive is restored again.
fn replaced(
    paths: &StatePaths,
    kind: KeyType,
    cluster: &Entry,
    keys: &[(&Entry, &Path, &'static str)],
    state: &[StateFile],
    unfinished: Option<&Record>,
    force: bool,
) -> Result<Vec<Replaced>, Error> {
    let other = |path: &Path, bytes: &[u8]| -> Result<bool, Error> {
        Ok(fsutil::read_if_any(path)?.is_some_and(|b| !one_key(&b, bytes)))
    };
    let key_half = Some(crate::keys::PUBLIC_HALF);
    let mut found = Vec::new();
    // The name is checked only where it will be used: a plain restore
    // names it in its refusal, which comes first.
    let replaced = |path: &Path, what, moved: bool, half, refused| -> Result<Replaced, Error> {
        let to = match force {
            true => aside(path, half)?,
            false => fsutil::aside(path, ASIDE, half).unwrap_or_else(|_| first_aside(path)),
        };
        Ok(Replaced {
            to: moved.then_some(to),
            path: path.to_path_buf(),
            what,
            half,
            refused,
        })
    };
    for (entry, path, what) in keys {
        if other(path, &entry.bytes)? {
            found.push(replaced(path, what, true, key_half, true)?);
        }
    }
    // The key this control logs in to its nodes with now, as every
    // command looks it up (a rotation record it cannot read names none).
    let records: Vec<Record> = [paths.journal(), paths.last_rotation()]
        .iter()
        .filter_map(|p| journal::load(p).ok().flatten())
        .collect();
    // One in the state directory (a rekey's staged `new_key`, rccr's own
    // `cluster_key`) goes aside too: left where a later keyrotate looks
    // for a free path, with the records restored from an older archive,
    // it would be written over, and nodes that take only it locked out.
    // `.before-restore` is a name nothing in rccr writes. Only one of
    // `~/.ssh`'s, the operator's ssh too, stays where it is.
    // Not through $RCCR_CLUSTER_KEY: [`restore`] let it through only as
    // the archive's key or where that goes, and a copy of the archive's
    // key named there hid the control's own from this check.
    let current = Resolver::new(paths).cluster_kept(kind, &records, &[]);
    if let Some(current) = current {
        if other(&current.path, &cluster.bytes)? && !found.iter().any(|r| r.path == current.path) {
            let moved = !default_identities(paths).contains(&current.path);
            found.push(replaced(&current.path, CLUSTER_KEY, moved, key_half, true)?);
        }
    }
    for file in state {
        let here = fsutil::read_if_any(&file.path)?;
        let differs = here.is_some_and(|b| !file.written.contains(&&b[..]));
        if differs && (force || file.refused) {
            found.push(replaced(&file.path, file.what, true, None, file.refused)?);
        }
    }
    // The journal last: a re-run after a kill between the moves finds
    // the journal, and through it the keys it names, still here.
    let wanted = unfinished.map(|u| u.render()).unwrap_or_default();
    if other(&paths.journal(), wanted.as_bytes())? {
        found.push(replaced(&paths.journal(), JOURNAL, true, None, true)?);
    }
    Ok(found)
}

/// Where `path` goes aside: `PATH.before-restore`, or `.before-restore.N`
/// when that holds other bytes (an earlier forced restore's); refused
/// unless it (and its `half`'s, when there is one) can be written there.
/// Settled before the first write: a name restore could not move it to
/// stops it with nothing changed, not after the restore marker.
fn aside(path: &Path, half: Option<fsutil::Half>) -> Result<PathBuf, Error> {
    let blocked = |why: String, name: &Path| {
        Error::Failed(format!(
            "{why}, where restore --force would keep {}: move {} away, then restore again",
            path.display(),
            name.display()
        ))
    };
    let to =
        fsutil::aside(path, ASIDE, half).map_err(|e| blocked(e.to_string(), &first_aside(path)))?;
    let halves = half
        .filter(|half| (half.path)(path).is_file())
        .map(|half| (half.path)(&to));
    for name in [Some(to.clone()), halves].into_iter().flatten() {
        if let Some(why) = fsutil::not_a_file_if_any(&name) {
            return Err(blocked(format!("{}: {why}", name.display()), &name));
        }
        fsutil::check_writable(&name).map_err(|e| blocked(e.to_string(), &name))?;
    }
    Ok(to)
}

/// `PATH.before-restore`, the first name [`aside`] tries.
fn first_aside(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(ASIDE);
    PathBuf::from(name)
}

/// A state file restore writes (`path`, `what` it is), with the bytes it
/// writes there or takes for them (`written`), and whether a plain
/// restore refuses other bytes there (`refused`) or writes over them.
struct StateFile<'a> {
    path: PathBuf,
    what: &'static str,
    written: Vec<&'a [u8]>,
    refused: bool,
}

/// The suffix of [`aside`]: a name nothing in rccr writes.
const ASIDE: &str = ".before-restore";

/// The file at `path` (none: empty) with the lines of `lines` it lacks
/// added at its end.
fn merge_lines(path: &Path, lines: &[u8]) -> Result<Vec<u8>, Error> {
    let mut text = fsutil::read_trusted_if_any(path, Trust::Kept)?.unwrap_or_default();
    let have = String::from_utf8_lossy(&text).into_owned();
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    for line in String::from_utf8_lossy(lines).lines() {
        if !have.lines().any(|l| l == line) {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
    }
    Ok(text)
}

/// Whether the private key files `a` and `b` hold one key: the same
/// bytes, or keys with one public half (`ssh-keygen -c` or `-p` write the
/// same key anew, which is not another).
fn one_key(a: &[u8], b: &[u8]) -> bool {
    let public = |b: &[u8]| {
        ssh_key::PrivateKey::from_openssh(b)
            .ok()
            .map(|k| k.public_key().key_data().clone())
    };
    a == b || public(a).is_some_and(|key| Some(key) == public(b))
}

/// Where a restored key goes: `wanted`, unless another key is there
/// ([`one_key`]), or the same one in a file rccr could not use (with a
/// passphrase: written over, the operator's passphrase would be gone),
/// then `fallback`.
fn key_home(wanted: &Path, secret: &[u8], fallback: &Path) -> Result<PathBuf, Error> {
    match fsutil::read_if_any(wanted)? {
        Some(existing)
            if !one_key(&existing, secret) || crate::keys::private_key(&existing).is_err() =>
        {
            Ok(fallback.to_path_buf())
        }
        _ => Ok(wanted.to_path_buf()),
    }
}

/// Writes a key and its public half together (the `.pub` comment is what
/// tells a temporary key from a cluster key). An archive without the
/// public half takes away one that is of another key: with its private
/// half gone before the restore, nothing moved it aside.
fn write_key(path: &Path, secret: &Entry, public: Option<&Entry>) -> Result<(), Error> {
    let public_file = public_path(path);
    match public {
        Some(public) => fsutil::write_atomic_all(&[
            (path, &secret.bytes, 0o600),
            (&public_file, &public.bytes, 0o644),
        ])?,
        None => fsutil::write_atomic(path, &secret.bytes, 0o600)?,
    }
    // It must be a key rccr can use, or the restore is of no use.
    let key = load_key(path)?;
    if public.is_none()
        && fsutil::read_if_any(&public_file)?.is_some_and(|b| !same_key(&b, &key.line))
    {
        std::fs::remove_file(&public_file)
            .and_then(|()| fsutil::sync_parent(&public_file))
            .map_err(|e| Error::io(format!("cannot remove {}", public_file.display()), e))?;
    }
    Ok(())
}

/// Whether the public key file `bytes` holds the key of the public line
/// `line` (type and key; the comments may differ).
fn same_key(bytes: &[u8], line: &str) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| {
        text.split_whitespace()
            .take(2)
            .eq(line.split_whitespace().take(2))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_round_trip_and_damage_is_refused() {
        let entries = vec![
            Entry {
                name: "nodes".into(),
                mode: 0o600,
                bytes: b"10.0.0.1\t-\tc\tcontrol\t-\t-\n".to_vec(),
            },
            Entry {
                name: "swarm".into(),
                mode: 0o600,
                bytes: b"entry cluster_key 5 600\n".to_vec(),
            },
        ];
        let archive = render(&entries);
        assert!(archive.starts_with(b"rccr-backup 1\nentry nodes 25 600\n"));
        assert_eq!(parse(&archive), Ok(entries));
        for cut in [0, 10, archive.len() / 2, archive.len() - 1] {
            assert!(parse(&archive[..cut]).is_err(), "{cut}");
        }
        let mut changed = archive.clone();
        changed[30] ^= 1;
        assert!(parse(&changed).is_err());
        let mut longer = archive.clone();
        longer.extend_from_slice(b"x");
        assert!(parse(&longer).is_err());
        // A length near usize::MAX is "cut short", not an overflow.
        let huge = format!("rccr-backup 1\nentry nodes {} 600\nx", usize::MAX - 5);
        assert_eq!(parse(huge.as_bytes()), Err("cut short".into()));
        let unknown = render(&[Entry {
            name: "../etc/passwd".into(),
            mode: 0o644,
            bytes: vec![],
        }]);
        assert_eq!(parse(&unknown), Err("an unknown entry".into()));
    }

    #[test]
    fn a_pin_keeps_only_the_host_patterns_that_name_nodes() {
        const KEY: &str =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDHSl+IHRvPT5hw/OuRQh4BCx6CmDjszJeRGweIDmMnM";
        let nodes = inventory::parse(
            "10.0.0.5\t-\tReCyClusteR-Target-0a0b0c\ttarget\tx86_64\t-\t-\n",
            Path::new("nodes"),
        )
        .unwrap();
        let pin = |line: String| node_pin(&line, &nodes);
        assert_eq!(
            pin(format!("10.0.0.66,10.0.0.5 {KEY} a comment")),
            Some(format!("10.0.0.5 {KEY} a comment"))
        );
        assert_eq!(
            pin(format!("[ReCyClusteR-Target-0a0b0c]:2222,other\t{KEY}")),
            Some(format!("[ReCyClusteR-Target-0a0b0c]:2222 {KEY}"))
        );
        for line in [
            format!("10.0.0.66 {KEY}"),
            format!("10.0.0.5,* {KEY}"),
            format!("10.0.0.5,!10.0.0.66 {KEY}"),
            "10.0.0.5 ssh-ed25519 AAAA".to_string(),
            "10.0.0.5".to_string(),
        ] {
            assert_eq!(pin(line.clone()), None, "{line}");
        }
    }

    #[test]
    fn a_restored_key_stands_with_its_own_public_half_or_none() {
        let dir = crate::fsutil::scratch::Dir::new("backup-write-key");
        let keypair = |comment: &str| {
            let key = crate::keys::generate(KeyType::Ed25519, 0, comment).unwrap();
            let secret = key.to_openssh(Default::default()).unwrap();
            let public = key.public_key().to_openssh().unwrap();
            (secret.as_bytes().to_vec(), public.into_bytes())
        };
        let entry = |bytes: &[u8]| Entry {
            name: "cluster_key".into(),
            mode: 0o600,
            bytes: bytes.to_vec(),
        };
        let (path, public_file) = (dir.join("id_ed25519"), dir.join("id_ed25519.pub"));
        let (secret, public) = keypair("rccr cluster");
        write_key(&path, &entry(&secret), Some(&entry(&public))).unwrap();
        assert_eq!(std::fs::read(&public_file).unwrap(), public);
        // The private half gone, a public half of another key stays
        // behind; an archive without one takes it away.
        let (_, stale) = keypair("another");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&public_file, &stale).unwrap();
        write_key(&path, &entry(&secret), None).unwrap();
        assert!(!public_file.exists());
        // The key's own public half (another comment) is kept.
        let text = String::from_utf8(public).unwrap();
        let own: Vec<&str> = text.split_whitespace().take(2).collect();
        let own = format!("{} kept\n", own.join(" "));
        std::fs::write(&public_file, &own).unwrap();
        write_key(&path, &entry(&secret), None).unwrap();
        assert_eq!(std::fs::read_to_string(&public_file).unwrap(), own);
    }

    #[test]
    fn an_archived_journal_names_keys_the_archive_holds() {
        let key = |name: &str| Entry {
            name: name.into(),
            mode: 0o600,
            bytes: vec![],
        };
        let entries = [key("cluster_key"), key("previous_key")];
        let journal = |new: &str, old: &str| {
            format!("rotation r\nnew-key {new}\nold-key {old}\nnode 10.0.0.2:22 unreachable\n")
        };
        let restored =
            unfinished_rotation(journal("cluster_key", "previous_key").as_bytes(), &entries);
        assert_eq!(restored.map(|r| r.nodes.len()), Some(1));
        for (new, old) in [
            ("cluster_key", "temp_key"),
            ("/root/.ssh/id_ed25519", "previous_key"),
            ("cluster_key", "nodes"),
        ] {
            assert_eq!(
                unfinished_rotation(journal(new, old).as_bytes(), &entries),
                None,
                "{new} {old}"
            );
        }
        assert_eq!(unfinished_rotation(b"junk\n", &entries), None);
    }
}
