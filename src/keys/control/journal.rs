//! The rotation journal: one small file, rewritten atomically at every
//! phase change, so a re-run after a crash (even SIGKILL) knows which key
//! pair the interrupted run used and which nodes it involved. The nodes'
//! real state is always probed again; the journal never overrides it. So
//! the run's keys and nodes are written durably at the start, and a phase
//! change with one fsync (of its bytes, before the rename) where the rest
//! take two ([`fsutil::write_atomic_lazy`]): four a node (staged, verified, committed,
//! its outcome; more when a node is tried again), which the 32 threads
//! queue on.
//!
//! ```text
//! rotation 4f2a0c9e1b7d3a65
//! new-key /root/.ssh/id_ed25519
//! old-key /root/.ssh/id_rsa
//! node 10.213.0.101:22 staged
//! ```
use crate::error::Error;
use crate::fsutil;
use crate::keys::addr::{self, NodeAddr};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub rotation: String,
    pub new_key: PathBuf,
    pub old_key: PathBuf,
    /// `(node, phase)` in the order nodes were given.
    pub nodes: Vec<(String, String)>,
}

/// What a bad journal line is told.
const UNREADABLE_LINE: &str = "unreadable journal line; move the file away to start over";

impl Record {
    /// The nodes this run left unsettled (neither rotated nor refused):
    /// the next run retries them.
    pub fn unsettled(&self) -> Vec<NodeAddr> {
        use super::engine::Outcome;
        self.nodes_where(|phase| {
            phase != Outcome::Rotated.as_str() && phase != Outcome::Refused.as_str()
        })
    }

    /// The nodes this rotation may have reached with its new key: those
    /// past `pending` (`staging` included: a stage may have arrived) but
    /// for `refused`, which a node ends with before any stage (one that
    /// refuses both keys after a stage ends `incomplete`). They may take
    /// the new key alone.
    pub fn reached(&self) -> Vec<NodeAddr> {
        use super::engine::Outcome;
        self.nodes_where(|phase| phase != "pending" && phase != Outcome::Refused.as_str())
    }

    /// The nodes whose phase passes `keep`, each address once.
    fn nodes_where(&self, keep: impl Fn(&str) -> bool) -> Vec<NodeAddr> {
        let mut nodes = Vec::new();
        for (name, phase) in &self.nodes {
            if let (Some(node), true) = (addr::parse(name, 22), keep(phase)) {
                addr::push_once(&mut nodes, node);
            }
        }
        nodes
    }

    /// The nodes it lists that an operator's `text` names: `IP` (at any
    /// port) or `IP:PORT`.
    pub fn named(&self, text: &str) -> Vec<NodeAddr> {
        let (exact, ip) = (text.parse::<SocketAddr>().ok(), text.parse::<IpAddr>().ok());
        let mut nodes = Vec::new();
        for (name, _) in &self.nodes {
            if let Some(node) = addr::parse(name, 22) {
                if Some(node.socket()) == exact || Some(node.ip) == ip {
                    addr::push_once(&mut nodes, node);
                }
            }
        }
        nodes
    }

    pub fn parse(text: &str, origin: &Path) -> Result<Record, Error> {
        let mut record = Record::default();
        // Lines end at '\n' only: a value keeps every other byte it had.
        for (index, line) in text.split_terminator('\n').enumerate() {
            let bad = || Error::bad_line(origin, index, UNREADABLE_LINE);
            let (word, rest) = line.split_once(' ').ok_or_else(bad)?;
            match word {
                "rotation" => record.rotation = rest.to_string(),
                "new-key" => record.new_key = PathBuf::from(rest),
                "old-key" => record.old_key = PathBuf::from(rest),
                "node" => {
                    let (node, phase) = rest.split_once(' ').ok_or_else(bad)?;
                    // A name that is no address would drop out of the
                    // node lists the key checks read ([`Record::reached`]).
                    addr::parse(node, 22).ok_or_else(bad)?;
                    record.nodes.push((node.to_string(), phase.to_string()));
                }
                _ => return Err(bad()),
            }
        }
        Ok(record)
    }

    pub fn render(&self) -> String {
        let mut out = format!(
            "rotation {}\nnew-key {}\nold-key {}\n",
            self.rotation,
            self.new_key.display(),
            self.old_key.display()
        );
        for (node, phase) in &self.nodes {
            out.push_str(&format!("node {node} {phase}\n"));
        }
        out
    }

    pub fn phase(&self, node: &str) -> Option<&str> {
        self.nodes
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, p)| p.as_str())
    }

    pub fn set_phase(&mut self, node: &str, phase: &str) {
        match self.nodes.iter_mut().find(|(n, _)| n == node) {
            Some(entry) => entry.1 = phase.to_string(),
            None => self.nodes.push((node.to_string(), phase.to_string())),
        }
    }
}

/// Reads a journal file; `None` when there is none.
pub fn load(path: &Path) -> Result<Option<Record>, Error> {
    fsutil::read_text_if_any(path, UNREADABLE_LINE)?
        .map(|text| Record::parse(&text, path))
        .transpose()
}

/// A journal shared by the worker threads of one run.
pub struct Journal {
    path: PathBuf,
    record: Mutex<Record>,
}

impl Journal {
    /// Writes `record` durably and returns the live journal.
    pub fn create(path: PathBuf, record: Record) -> Result<Journal, Error> {
        fsutil::write_atomic(&path, record.render().as_bytes(), 0o600)?;
        Ok(Journal {
            path,
            record: Mutex::new(record),
        })
    }

    pub fn record(&self, node: &str, phase: &str) -> Result<(), Error> {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        record.set_phase(node, phase);
        fsutil::write_atomic_lazy(&self.path, record.render().as_bytes(), 0o600)
    }

    /// Names `path` as the rotation's new key, durably: the key moved there.
    pub fn move_new_key(&self, path: &Path) -> Result<(), Error> {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        record.new_key = path.to_path_buf();
        fsutil::write_atomic(&self.path, record.render().as_bytes(), 0o600)
    }

    /// Drops `node` from the live journal, durably: an address the node
    /// left mid-rotation (a new DHCP lease), so that no run waits for it.
    /// Unlike [`forget`], later [`Journal::record`]s keep it dropped.
    pub fn forget(&self, node: &str) -> Result<(), Error> {
        let mut record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        record.nodes.retain(|(name, _)| name != node);
        fsutil::write_atomic(&self.path, record.render().as_bytes(), 0o600)
    }

    /// The node's phase as last recorded.
    pub fn phase(&self, node: &str) -> Option<String> {
        let record = self.record.lock().unwrap_or_else(|e| e.into_inner());
        record.phase(node).map(str::to_string)
    }

    pub fn snapshot(&self) -> Record {
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends the rotation: the record, naming where the keys are now (the
    /// new key's final path; the old key's, or nothing once the new key
    /// took its place), becomes `last`, atomically.
    pub fn retire(&self, last: &Path, new_key: &Path) -> Result<(), Error> {
        let mut record = self.snapshot();
        if record.old_key == new_key {
            record.old_key = PathBuf::new();
        }
        record.new_key = new_key.to_path_buf();
        fsutil::write_atomic(&self.path, record.render().as_bytes(), 0o600)?;
        std::fs::rename(&self.path, last)
            .map_err(|e| Error::io(format!("cannot finish {}", self.path.display()), e))
    }
}

/// Drops the nodes at `ips` (at any port) from the unfinished rotation
/// at `path`, if any, durably: a node that left the cluster (`rccr
/// remove`) must not hold the rotation up for ever. Returns whether the
/// journal changed.
pub fn forget(path: &Path, ips: &[IpAddr]) -> Result<bool, Error> {
    forget_where(path, &|node| ips.contains(&node.ip))
}

/// [`forget`] of `nodes`, each at its port only: addresses only the
/// journal lists (a node staged, then gone before the inventory named it).
pub fn forget_nodes(path: &Path, nodes: &[NodeAddr]) -> Result<bool, Error> {
    forget_where(path, &|node| nodes.contains(node))
}

fn forget_where(path: &Path, gone: &dyn Fn(&NodeAddr) -> bool) -> Result<bool, Error> {
    let Some(mut record) = load(path)? else {
        return Ok(false);
    };
    let before = record.nodes.len();
    record
        .nodes
        .retain(|(name, _)| addr::parse(name, 22).is_none_or(|node| !gone(&node)));
    if record.nodes.len() == before {
        return Ok(false);
    }
    fsutil::write_atomic(path, record.render().as_bytes(), 0o600)?;
    Ok(true)
}

/// The journal at `path` with the nodes that `moves` (`(from, to)`
/// addresses: nodes setup followed to a new address) at their new
/// address, each at its port: what it says of a node stays the node's.
/// Every other line of an address a moved node took now (at any port) is
/// dropped, whether or not the moved node had a line of its own: the host
/// that was there is not the node there now. The lines of `fresh` nodes
/// (a rotation wrote them where its nodes are now, at their ports) are
/// kept as they are. Returns whether it changed.
pub fn follow(path: &Path, moves: &[(IpAddr, IpAddr)], fresh: &[NodeAddr]) -> Result<bool, Error> {
    let Some(mut record) = load(path)? else {
        return Ok(false);
    };
    let stale = |name: &str| addr::parse(name, 22).filter(|node| !fresh.contains(node));
    let moved = |name: &str| {
        let node = stale(name)?;
        let (_, to) = moves.iter().find(|(from, _)| *from == node.ip)?;
        Some(NodeAddr { ip: *to, ..node }.journal_name())
    };
    let taken =
        |name: &str| stale(name).is_some_and(|node| moves.iter().any(|(_, to)| *to == node.ip));
    let mut nodes: Vec<(String, String)> = record
        .nodes
        .iter()
        .filter_map(|(name, phase)| Some((moved(name)?, phase.clone())))
        .collect();
    for (name, phase) in &record.nodes {
        if moved(name).is_none() && !taken(name) {
            nodes.push((name.clone(), phase.clone()));
        }
    }
    if nodes == record.nodes {
        return Ok(false);
    }
    record.nodes = nodes;
    fsutil::write_atomic(path, record.render().as_bytes(), 0o600)?;
    Ok(true)
}

/// What the journals (`records`: the unfinished one first) say of a
/// node's last rotation: `yes` (persisted), `volatile` (the node takes the
/// new key until it reboots), `-` (none recorded).
pub fn persisted(records: &[&Record], node: &NodeAddr) -> &'static str {
    use super::engine::Outcome;
    let name = node.journal_name();
    match records.iter().find_map(|r| r.phase(&name)) {
        Some(p) if p == Outcome::Rotated.as_str() => "yes",
        Some(p) if p == Outcome::RotatedVolatile.as_str() => "volatile",
        _ => "-",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal of rotation `r` with these nodes' phases, written at `path`.
    fn journal_at(path: &Path, nodes: &[(&str, &str)]) -> Record {
        let mut record = Record {
            rotation: "r".into(),
            ..Record::default()
        };
        for (node, phase) in nodes {
            record.set_phase(node, phase);
        }
        Journal::create(path.to_path_buf(), record.clone()).unwrap();
        record
    }

    #[test]
    fn render_and_parse_round_trip() {
        let mut record = Record {
            rotation: "abc".into(),
            new_key: "/keys/new".into(),
            old_key: "/keys/old".into(),
            nodes: vec![],
        };
        record.set_phase("10.0.0.1:22", "pending");
        record.set_phase("10.0.0.2:22", "pending");
        record.set_phase("10.0.0.1:22", "staged");
        let text = record.render();
        assert_eq!(Record::parse(&text, Path::new("j")).unwrap(), record);
        assert_eq!(record.phase("10.0.0.1:22"), Some("staged"));
        assert_eq!(record.phase("10.0.0.9:22"), None);
    }

    #[test]
    fn a_retired_journal_names_the_keys_where_they_are() {
        let dir = std::env::temp_dir().join(format!("rccr-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let record = Record {
            rotation: "r".into(),
            new_key: dir.join("new_key"),
            old_key: dir.join("cluster_key"),
            nodes: vec![("10.0.0.1:22".into(), "rotated".into())],
        };
        let journal = Journal::create(dir.join("journal"), record).unwrap();
        journal
            .retire(&dir.join("last"), &dir.join("cluster_key"))
            .unwrap();
        assert!(!dir.join("journal").exists());
        let last = load(&dir.join("last")).unwrap().unwrap();
        assert_eq!(last.new_key, dir.join("cluster_key"));
        assert_eq!(last.old_key, PathBuf::new(), "the old key is gone");
        assert_eq!(last.nodes.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn forgetting_a_node_drops_its_lines_only() {
        let dir = crate::fsutil::scratch::Dir::new("journal-forget");
        let path = dir.join("journal");
        assert!(!forget(&path, &["10.0.0.1".parse().unwrap()]).unwrap());
        let mut record = journal_at(
            &path,
            &[
                ("10.0.0.1:22", "unreachable"),
                ("10.0.0.2:22", "rotated"),
                ("10.0.0.1:2222", "pending"),
            ],
        );
        assert!(!forget(&path, &["10.0.0.9".parse().unwrap()]).unwrap());
        assert!(forget(&path, &["10.0.0.1".parse().unwrap()]).unwrap());
        record.nodes.retain(|(n, _)| n == "10.0.0.2:22");
        assert_eq!(load(&path).unwrap(), Some(record));
    }

    #[test]
    fn an_address_names_its_nodes_at_any_port_and_an_address_with_a_port_one() {
        let dir = crate::fsutil::scratch::Dir::new("journal-named");
        let path = dir.join("journal");
        let mut record = Record::default();
        for node in ["10.0.0.1:22", "10.0.0.1:2222", "10.0.0.2:22"] {
            record.set_phase(node, "staged");
        }
        let at = |text: &str| addr::parse(text, 22).unwrap();
        assert_eq!(
            record.named("10.0.0.1"),
            [at("10.0.0.1"), at("10.0.0.1:2222")]
        );
        assert_eq!(record.named("10.0.0.1:2222"), [at("10.0.0.1:2222")]);
        assert_eq!(record.named("10.0.0.2:2222"), []);
        for name in ["10.0.0.9", "node-1", "10.0.0"] {
            assert_eq!(record.named(name), [], "{name}");
        }
        Journal::create(path.clone(), record.clone()).unwrap();
        assert!(forget_nodes(&path, &[at("10.0.0.1:2222")]).unwrap());
        assert!(!forget_nodes(&path, &[at("10.0.0.1:2222")]).unwrap());
        record.nodes.remove(1);
        assert_eq!(load(&path).unwrap(), Some(record));
    }

    #[test]
    fn a_journal_that_is_not_text_names_its_line() {
        let dir = crate::fsutil::scratch::Dir::new("journal-bytes");
        let path = dir.join("rotation.journal");
        let bytes = b"rotation r\nnew-key /k/new\nold-key /k/old\nnode 10.0.0.1:22 st\xe9ged\n";
        std::fs::write(&path, bytes).unwrap();
        let err = load(&path).unwrap_err();
        crate::error::assert_says(
            &err,
            &format!("{}:4: unreadable journal line", path.display()),
        );
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        // forget, which rewrites the journal, leaves it as it was.
        assert!(forget(&path, &["10.0.0.1".parse().unwrap()]).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    /// Creates a journal and records a phase in it: traced by
    /// [`a_phase_is_on_disk_before_it_replaces_the_journal`].
    #[test]
    fn a_recorded_phase_is_read_back() {
        let dir = crate::fsutil::scratch::Dir::new("journal-phase");
        let path = dir.join("rotation.journal");
        journal_at(&path, &[("10.0.0.9:22", "pending")]);
        let journal = Journal {
            path: path.clone(),
            record: Mutex::new(load(&path).unwrap().unwrap()),
        };
        journal.record("10.0.0.9:22", "staged").unwrap();
        assert_eq!(
            load(&path).unwrap().unwrap().phase("10.0.0.9:22"),
            Some("staged")
        );
    }

    /// A phase's bytes are synced before their file replaces the journal:
    /// on a file system without ext4's replace-by-rename heuristics (XFS,
    /// f2fs, ext4 mounted `noauto_da_alloc`) a power cut after a rename of
    /// bytes not yet on disk leaves an empty journal, the run's keys with
    /// it, and every command refuses it. Seen through strace.
    #[test]
    fn a_phase_is_on_disk_before_it_replaces_the_journal() {
        let found = std::process::Command::new("strace").arg("-V").output();
        if !found.is_ok_and(|o| o.status.success()) {
            assert!(std::env::var_os("CI").is_none(), "no strace in CI");
            eprintln!("skipped: no strace (apt install strace)");
            return;
        }
        let dir = crate::fsutil::scratch::Dir::new("journal-strace");
        let log = dir.join("strace.log");
        let traced = std::process::Command::new("strace")
            .args(["-f", "-qq", "-y", "-e", "signal=none", "-e"])
            .arg("trace=fsync,fdatasync,sync,syncfs,rename,renameat,renameat2")
            .arg("-o")
            .arg(&log)
            .arg("--")
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "--test-threads=1", "-q"])
            .arg("keys::control::journal::tests::a_recorded_phase_is_read_back")
            .output()
            .unwrap();
        assert!(traced.status.success(), "{traced:?}");
        let log = std::fs::read_to_string(&log).unwrap();
        // `PID call(args) = result`: strace -y names a descriptor's path
        // (`3</dir/.rotation.journal.rccr-tmp.X>`); renames quote theirs.
        let mut synced = Vec::new();
        let mut renames = 0;
        for line in log.lines() {
            let call = line.split_once(' ').map_or("", |(_, c)| c.trim_start());
            if call.starts_with("sync(") || call.starts_with("syncfs(") {
                synced.push(String::new());
            } else if call.starts_with("fsync(") || call.starts_with("fdatasync(") {
                let path = call.split_once('<').and_then(|(_, p)| p.split_once('>'));
                synced.extend(path.map(|(p, _)| p.to_string()));
            } else if call.starts_with("rename") && call.trim_end().ends_with("= 0") {
                let quoted: Vec<&str> = call.split('"').skip(1).step_by(2).collect();
                if !quoted[1].ends_with("/rotation.journal") {
                    continue;
                }
                assert!(
                    synced.iter().any(|p| p.is_empty() || p == quoted[0]),
                    "{} renamed unsynced:\n{log}",
                    quoted[0]
                );
                renames += 1;
            }
        }
        // The journal's creation, and its phase.
        assert_eq!(renames, 2, "{log}");
    }

    #[test]
    fn a_node_the_live_journal_forgets_stays_forgotten() {
        let dir = crate::fsutil::scratch::Dir::new("journal-live-forget");
        let path = dir.join("journal");
        let mut record = Record {
            rotation: "r".into(),
            ..Record::default()
        };
        record.set_phase("10.0.0.5:22", "staged");
        record.set_phase("10.0.0.9:22", "pending");
        let journal = Journal::create(path.clone(), record).unwrap();
        journal.forget("10.0.0.5:22").unwrap();
        journal.record("10.0.0.9:22", "rotated").unwrap();
        let nodes = load(&path).unwrap().unwrap().nodes;
        assert_eq!(nodes, [("10.0.0.9:22".to_string(), "rotated".to_string())]);
        assert_eq!(journal.phase("10.0.0.5:22"), None);
    }

    #[test]
    fn a_followed_node_keeps_its_line_at_its_new_address() {
        let dir = crate::fsutil::scratch::Dir::new("journal-follow");
        let path = dir.join("last-rotation");
        assert!(!follow(&path, &[], &[]).unwrap());
        journal_at(
            &path,
            &[
                ("10.0.0.1:22", "rotated"),
                ("10.0.0.2:22", "rotated-volatile"),
                ("10.0.0.3:2222", "refused"),
                ("10.0.0.4:22", "unreachable"),
            ],
        );
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(!follow(&path, &[(ip("10.0.0.9"), ip("10.0.0.8"))], &[]).unwrap());
        // 1 and 2 swapped, 3 moved to the address 4 had.
        let moves = [
            (ip("10.0.0.1"), ip("10.0.0.2")),
            (ip("10.0.0.2"), ip("10.0.0.1")),
            (ip("10.0.0.3"), ip("10.0.0.4")),
        ];
        assert!(follow(&path, &moves, &[]).unwrap());
        let nodes = load(&path).unwrap().unwrap().nodes;
        // 4's line, at another port of the address 3 took, is the host
        // that was there: dropped.
        let expected = [
            ("10.0.0.2:22", "rotated"),
            ("10.0.0.1:22", "rotated-volatile"),
            ("10.0.0.4:2222", "refused"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, p)| (n.to_string(), p.to_string()))
            .collect();
        assert_eq!(nodes, expected);
        assert!(!follow(&path, &[], &[]).unwrap());
    }

    /// A last rotation of `lines` after [`follow`] with `moves` and
    /// `fresh`; whether it changed.
    fn followed(
        test: &str,
        lines: &[(&str, &str)],
        moves: &[(&str, &str)],
        fresh: &[&str],
    ) -> (bool, Record) {
        let dir = crate::fsutil::scratch::Dir::new(test);
        let path = dir.join("last-rotation");
        journal_at(&path, lines);
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let moves: Vec<_> = moves.iter().map(|(a, b)| (ip(a), ip(b))).collect();
        let fresh: Vec<_> = fresh.iter().map(|a| addr::parse(a, 22).unwrap()).collect();
        let changed = follow(&path, &moves, &fresh).unwrap();
        (changed, load(&path).unwrap().unwrap())
    }

    #[test]
    fn a_line_where_a_node_without_one_moved_to_is_dropped() {
        // B, now off, ended volatile at .6; A, not in that rotation, moved
        // from .5 to .6: B's line is not A's.
        let lines = [
            ("10.0.0.6:22", "rotated-volatile"),
            ("10.0.0.7:22", "rotated"),
        ];
        let moves = [("10.0.0.5", "10.0.0.6")];
        let (changed, record) = followed("journal-follow-into", &lines, &moves, &[]);
        assert!(changed);
        assert_eq!(record.phase("10.0.0.6:22"), None);
        assert_eq!(record.nodes.len(), 1);
        let at = |text: &str| addr::parse(text, 22).unwrap();
        assert_eq!(persisted(&[&record], &at("10.0.0.6")), "-");
        assert_eq!(persisted(&[&record], &at("10.0.0.7")), "yes");
    }

    #[test]
    fn a_line_a_rotation_wrote_where_its_node_is_now_stays() {
        // Retired this run: N, new at .5, was rotated there; A, settled
        // at .8 by an interrupted run, moved to .4; B's node moved from
        // .5 to .9 (N took its lease). C moved mid-rotation from .7 into
        // .3 and was rotated there at port 22: an old line of .3 at
        // another port is not C's.
        let lines = [
            ("10.0.0.5:22", "rotated"),
            ("10.0.0.8:22", "rotated"),
            ("10.0.0.3:22", "rotated-volatile"),
            ("10.0.0.3:2222", "refused"),
        ];
        let moves = [
            ("10.0.0.8", "10.0.0.4"),
            ("10.0.0.5", "10.0.0.9"),
            ("10.0.0.7", "10.0.0.3"),
        ];
        let fresh = ["10.0.0.5", "10.0.0.3"];
        let (changed, record) = followed("journal-follow-fresh", &lines, &moves, &fresh);
        assert!(changed);
        assert_eq!(record.phase("10.0.0.5:22"), Some("rotated"));
        assert_eq!(record.phase("10.0.0.4:22"), Some("rotated"));
        assert_eq!(record.phase("10.0.0.3:22"), Some("rotated-volatile"));
        assert_eq!(record.phase("10.0.0.9:22"), None);
        assert_eq!(record.nodes.len(), 3);
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let err = Record::parse("rotation x\nbogus\n", Path::new("/s/journal")).unwrap_err();
        crate::error::assert_says(&err, "/s/journal:2:");
        // A node that is no address (review today1, F4: it passed, and the
        // missing-key checks, which list addresses, did not see it).
        let err =
            Record::parse("rotation x\nnode bogus rotated\n", Path::new("/s/journal")).unwrap_err();
        crate::error::assert_says(&err, "/s/journal:2:");
    }
}
