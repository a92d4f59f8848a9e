//! `STATE/swarm`: the swarm this control created. The control, not a
//! node, decides which swarm is the cluster's: a node that reports any
//! other swarm is left alone, however it answers.
//!
//! ```text
//! bootstrap 10.0.0.5 SHA256:...  (written before the swarm is created
//!                                 there, with that node's host key; the
//!                                 key goes once its ID is recorded)
//! cluster 0123abcd...     (the swarm's ID, once created)
//! manager 4567efgh...     (the node ID of the manager that created it)
//! ca 2jk5...              (the digest of its root CA, as its join tokens carry it)
//! managers 4567efgh...@10.0.0.5 89ab...@10.0.0.6
//!                         (its managers at the last run, each at the
//!                          address its swarm listed it at, when it told one)
//! ```
//!
//! `manager` and `bootstrap` then follow the manager a run led through
//! ([`SwarmRecord::led_by`]), unless the run demoted it: its node ID, at
//! its address. They name the creator only until a run leads through
//! another manager (its creator demoted, removed, switched off), so that
//! the record's word on who manages is not of a node long gone.
//!
//! Until the swarm's ID is recorded, only the node of that host key is
//! the swarm's creator, wherever its DHCP lease moved it: another node
//! given its address that manages a swarm of its own is not adopted.
//! (The swarm layer makes it leave a swarm it created at another address,
//! which raft knows it at, and creates the swarm again.)
//! When more than one node of the inventory has that key (cloned images),
//! only the one at that address is.
//!
//! A manager whose swarm lost its quorum no longer tells its swarm's ID:
//! the managers' node IDs still tell it is the cluster's.
//!
//! Those IDs are no secret: a worker (or whoever is root on one) reads
//! them from its own swarm state. `rccr status` therefore trusts a node
//! claiming a recorded manager's ID only at the address recorded with
//! it (its raft address). A `managers` line an older rccr wrote (bare
//! IDs) still loads, its managers at no address (trusted by ID alone, as
//! then) until a run records them again. An older rccr refuses the new
//! form: to go back to one, strip each `@ADDR` from the `managers` line
//! (never remove the record: it holds the cluster's ID and CA digest).
//! The root CA's digest is what a node
//! cannot fake: a manager of another swarm gives tokens with another
//! digest, and a forged token with this digest joins no node to a
//! manager whose certificate is not of this CA.
use crate::error::Error;
use crate::fsutil;
use crate::ssh::Fingerprint;
use crate::state::inventory::NodeRecord;
use std::net::IpAddr;
use std::path::Path;

/// A manager the record knows: its swarm node ID, at the address its
/// swarm listed it at (`ID@ADDR`); none when the swarm told none, or an
/// older rccr wrote the record (a bare `ID`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedManager {
    pub id: String,
    pub addr: Option<IpAddr>,
}

impl RecordedManager {
    /// `ID` or `ID@ADDR`; none when either part is not one.
    fn parse(s: &str) -> Option<RecordedManager> {
        let (node_id, addr) = match s.split_once('@') {
            Some((node_id, addr)) => (node_id, Some(addr.parse().ok()?)),
            None => (s, None),
        };
        Some(RecordedManager {
            id: id(node_id)?,
            addr,
        })
    }

    fn render(&self) -> String {
        match self.addr {
            Some(addr) => format!("{}@{addr}", self.id),
            None => self.id.clone(),
        }
    }

    /// Whether the node of ID `node_id` at `addr` is this manager: of its
    /// ID, at its address when one is recorded.
    pub fn is(&self, node_id: &str, addr: IpAddr) -> bool {
        self.id == node_id && self.addr.is_none_or(|a| a == addr)
    }
}

/// In tests, an ID (unchecked) at no address, as an older rccr recorded it.
#[cfg(test)]
impl From<&str> for RecordedManager {
    fn from(id: &str) -> RecordedManager {
        RecordedManager {
            id: id.into(),
            addr: None,
        }
    }
}

fn id(s: &str) -> Option<String> {
    crate::docker::api::is_id(s).then(|| s.to_string())
}

/// What a bad swarm record line is told.
const NOT_A_RECORD_LINE: &str =
    "not a swarm record line (bootstrap IP [host key SHA256:...], cluster ID, manager ID, CA digest, managers ID[@IP] ...); fix or remove it";

/// The record's `bootstrap` line: `IP [HOST-KEY]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bootstrap {
    /// Where the control decided to create the swarm; then the address
    /// of the manager the last run led through.
    pub ip: Option<IpAddr>,
    /// The host key of the node the swarm is created on (none for the
    /// control), until the swarm's ID is recorded: then none, so that an
    /// older rccr, which takes a bare address, reads the record.
    pub key: Option<Fingerprint>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwarmRecord {
    /// The swarm's ID.
    pub cluster: Option<String>,
    /// The digest of the swarm's root CA (`SWMTKN-1-DIGEST-...`).
    pub ca: Option<String>,
    pub managers: Vec<RecordedManager>,
    /// The node ID of the manager at `bootstrap.ip`.
    pub manager: Option<String>,
    pub bootstrap: Bootstrap,
}

impl SwarmRecord {
    pub fn parse(text: &str, origin: &Path) -> Result<SwarmRecord, Error> {
        let mut r = SwarmRecord::default();
        for (n, line) in text.lines().enumerate() {
            let bad = || Error::bad_line(origin, n, NOT_A_RECORD_LINE);
            let (key, value) = line.split_once(' ').ok_or_else(bad)?;
            match key {
                "bootstrap" => {
                    let (ip, key) = match value.split_once(' ') {
                        Some((ip, key)) => (ip, Some(key.parse().map_err(|_| bad())?)),
                        None => (value, None),
                    };
                    r.bootstrap = Bootstrap {
                        ip: Some(ip.parse().map_err(|_| bad())?),
                        key,
                    };
                }
                "cluster" => r.cluster = Some(id(value).ok_or_else(bad)?),
                "manager" => r.manager = Some(id(value).ok_or_else(bad)?),
                "ca" => r.ca = Some(id(value).ok_or_else(bad)?),
                "managers" => {
                    r.managers = value
                        .split(' ')
                        .map(|v| RecordedManager::parse(v).ok_or_else(bad))
                        .collect::<Result<_, _>>()?
                }
                _ => return Err(bad()),
            }
        }
        // The creator's host key goes once the swarm's ID is recorded
        // (render writes none then): a hand-edited record keeping both
        // would not round-trip, and no save would take it.
        if r.cluster.is_some() {
            r.bootstrap.key = None;
        }
        Ok(r)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some(ip) = self.bootstrap.ip {
            out.push_str(&format!("bootstrap {ip}"));
            // Only while no swarm ID is recorded: an older rccr reads the
            // bare address of a record made since, whatever was loaded.
            if let Some(key) = self
                .bootstrap
                .key
                .as_ref()
                .filter(|_| self.cluster.is_none())
            {
                out.push(' ');
                out.push_str(key);
            }
            out.push('\n');
        }
        for (key, value) in [
            ("cluster", &self.cluster),
            ("manager", &self.manager),
            ("ca", &self.ca),
        ] {
            if let Some(v) = value {
                out.push_str(&format!("{key} {v}\n"));
            }
        }
        if !self.managers.is_empty() {
            let managers: Vec<String> = self.managers.iter().map(RecordedManager::render).collect();
            out.push_str(&format!("managers {}\n", managers.join(" ")));
        }
        out
    }

    /// Records that a run led through the manager `node_id` at `addr` (a
    /// leader confirmed among the candidates): it becomes the record's
    /// `manager`, at `addr` its `bootstrap`. True when that changed the
    /// record. A node ID that is not one changes nothing, nor does one the
    /// record's managers do not count (written after the run's demotions,
    /// they no longer list a lead the run demoted): the record never
    /// names a manager [`SwarmRecord::current_manager`] would not give.
    /// A host key goes with any change: it is the creator's at its address.
    pub fn led_by(&mut self, node_id: &str, addr: IpAddr) -> bool {
        let Some(node_id) = id(node_id).filter(|n| self.counts(n)) else {
            return false;
        };
        let changed = self.manager.as_ref() != Some(&node_id) || self.bootstrap.ip != Some(addr);
        if changed {
            self.bootstrap.key = None;
        }
        self.manager = Some(node_id);
        self.bootstrap.ip = Some(addr);
        changed
    }

    /// Whether `node` (one of `inventory`) is the one the record chose to
    /// create the swarm on: of its host key, at any address (its DHCP
    /// lease may have moved since) when it is the only node of
    /// `inventory` with that key, else (cloned images share host keys)
    /// at `bootstrap` too; at `bootstrap` for a record without a key.
    pub fn bootstraps(&self, node: &NodeRecord, inventory: &[NodeRecord]) -> bool {
        let at_bootstrap = Some(node.ip) == self.bootstrap.ip;
        let Some(key) = &self.bootstrap.key else {
            return at_bootstrap;
        };
        let of_key = |n: &NodeRecord| n.host_key.as_ref() == Some(key);
        let mut keyed = inventory.iter().filter(|n| of_key(n));
        let alone = keyed.next().is_some_and(|n| n.ip == node.ip) && keyed.next().is_none();
        of_key(node) && (at_bootstrap || alone)
    }

    /// Forgets the node the record chose to create the swarm on, when
    /// it is one of `gone` (leaving `inventory`, which holds them still)
    /// before the swarm's ID is recorded: no later node is then adopted
    /// as its creator, as one of its host key (a card cloned from it)
    /// would be at any address. True when that changed the record.
    pub fn forget_bootstrap(&mut self, gone: &[&NodeRecord], inventory: &[NodeRecord]) -> bool {
        let chosen = self.cluster.is_none()
            && self.bootstrap.ip.is_some()
            && gone.iter().any(|n| self.bootstraps(n, inventory));
        if chosen {
            self.bootstrap.ip = None;
            self.bootstrap.key = None;
        }
        chosen
    }

    /// `manager`, while the record's managers (written after every run
    /// and every `rccr remove`) count it, or none are recorded yet: a
    /// manager since demoted or removed is the record's word no more.
    pub fn current_manager(&self) -> Option<&str> {
        self.manager.as_deref().filter(|m| self.counts(m))
    }

    /// Whether the record's managers count the node `node_id`, or none
    /// are recorded yet.
    fn counts(&self, node_id: &str) -> bool {
        self.managers.is_empty() || self.managers.iter().any(|m| m.id == node_id)
    }

    /// The recorded managers' node IDs.
    pub fn manager_ids(&self) -> Vec<String> {
        self.managers.iter().map(|m| m.id.clone()).collect()
    }

    /// The record, or an empty one when there is none yet.
    pub fn load(path: &Path) -> Result<SwarmRecord, Error> {
        match fsutil::read_text_if_any(path, NOT_A_RECORD_LINE)? {
            Some(text) => SwarmRecord::parse(&text, path),
            None => Ok(SwarmRecord::default()),
        }
    }

    /// Writes the record durably: it must be on disk before the swarm it
    /// announces is created. A record [`SwarmRecord::parse`] would refuse
    /// (an ID that is not one) is not written: every later run would stop
    /// on it.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let text = self.render();
        if SwarmRecord::parse(&text, path).ok().as_ref() != Some(self) {
            return Err(Error::Failed(format!(
                "{}: not written: the swarm's IDs to record are not Docker IDs (a node's engine told none); the record is as it was",
                path.display()
            )));
        }
        fsutil::write_atomic(path, text.as_bytes(), 0o600)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Managers as written `ID` or `ID@ADDR`, unchecked (an ID that is
    /// not one stays as it is).
    pub(crate) fn managers(list: &[&str]) -> Vec<RecordedManager> {
        list.iter()
            .map(|m| {
                let (id, addr) = m.split_once('@').unwrap_or((m, ""));
                RecordedManager {
                    id: id.into(),
                    addr: addr.parse().ok(),
                }
            })
            .collect()
    }

    #[test]
    fn a_record_that_is_not_text_names_its_line() {
        let dir = crate::fsutil::scratch::Dir::new("swarm-bytes");
        let path = dir.join("swarm");
        std::fs::write(&path, b"bootstrap 10.0.0.5\ncluster c0\xffffee\n").unwrap();
        let err = SwarmRecord::load(&path).unwrap_err();
        crate::error::assert_says(
            &err,
            &format!("{}:2: not a swarm record line", path.display()),
        );
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
    }

    #[test]
    fn a_record_with_an_empty_id_is_not_written() {
        let dir = crate::fsutil::scratch::Dir::new("swarm-empty-id");
        let path = dir.join("swarm");
        let good = SwarmRecord {
            bootstrap: Bootstrap {
                ip: Some("10.0.0.5".parse().unwrap()),
                key: None,
            },
            ..SwarmRecord::default()
        };
        good.save(&path).unwrap();
        for bad in [
            SwarmRecord {
                cluster: Some("c0ffee".into()),
                manager: Some(String::new()),
                ..good.clone()
            },
            SwarmRecord {
                cluster: Some(String::new()),
                ..good.clone()
            },
            SwarmRecord {
                managers: managers(&["n1", "../x"]),
                ..good.clone()
            },
        ] {
            assert!(bad.save(&path).is_err(), "{bad:?}");
            assert_eq!(SwarmRecord::load(&path).unwrap(), good);
        }
    }

    /// A record with the creator's host key and the swarm's ID (edited by
    /// hand: render writes no key then) loads as its save writes it: each
    /// run's save failed on it, telling of IDs that are not Docker IDs
    /// (review parsers-state, risk 2).
    #[test]
    fn a_record_with_a_host_key_and_an_id_is_saved_again() {
        let dir = crate::fsutil::scratch::Dir::new("swarm-key-and-id");
        let path = dir.join("swarm");
        let text = "bootstrap 10.0.0.5 SHA256:abc\ncluster c0ffee\n";
        let record = SwarmRecord::parse(text, &path).unwrap();
        assert_eq!(record.bootstrap.key, None);
        record.save(&path).unwrap();
        assert_eq!(SwarmRecord::load(&path).unwrap(), record);
    }

    /// A target at 10.0.0.`last` of host key `key` (none when not one).
    pub(crate) fn target(last: u8, key: &str) -> NodeRecord {
        NodeRecord {
            ip: IpAddr::from([10, 0, 0, last]),
            mac: None,
            hostname: "ReCyClusteR-Target-01".parse().unwrap(),
            role: crate::identity::Role::Target,
            arch: None,
            host_key: key.parse().ok(),
            moved_from: None,
        }
    }

    /// The record chose the node of key `SHA256:chosen` at .5, and a run
    /// was killed before it recorded the swarm's ID; the node's DHCP lease
    /// moved since. Before: the node was not adopted at its new address,
    /// and a second swarm was created. Two nodes sharing the key (a cloned
    /// image) tell nothing by it: only the one at .5 is the chosen one.
    #[test]
    fn the_chosen_node_is_known_by_its_host_key_at_any_address_when_no_other_has_it() {
        let moved = [(6, "SHA256:chosen"), (5, "SHA256:other")];
        let cloned = [(7, "SHA256:chosen"), (5, "SHA256:chosen")];
        for (chose_key, inventory, chosen) in [
            ("SHA256:chosen", moved, [true, false]),
            ("SHA256:chosen", cloned, [false, true]),
            // A record without a key (an older rccr's, or the control):
            // by address.
            ("", moved, [false, true]),
        ] {
            let record = SwarmRecord {
                bootstrap: Bootstrap {
                    ip: Some(IpAddr::from([10, 0, 0, 5])),
                    key: chose_key.parse().ok(),
                },
                ..SwarmRecord::default()
            };
            let inventory: Vec<NodeRecord> =
                inventory.iter().map(|&(at, key)| target(at, key)).collect();
            let said: Vec<bool> = inventory
                .iter()
                .map(|n| record.bootstraps(n, &inventory))
                .collect();
            assert_eq!(said, chosen, "{chose_key:?} {inventory:?}");
        }
    }

    /// The chosen node (its lease moved to .6) is forgotten before the
    /// swarm's ID is recorded; later a card cloned from it turns up at
    /// .9, managing a swarm of its own. Before, nothing cleared the key,
    /// and the clone, the only inventory node of that key, was adopted.
    /// Another node leaving, or the chosen one once the ID is recorded,
    /// changes nothing.
    #[test]
    fn a_chosen_node_forgotten_before_the_swarm_is_recorded_is_chosen_no_more() {
        let chose = SwarmRecord {
            bootstrap: Bootstrap {
                ip: Some(IpAddr::from([10, 0, 0, 5])),
                key: "SHA256:chosen".parse().ok(),
            },
            ..SwarmRecord::default()
        };
        let (chosen, other) = (target(6, "SHA256:chosen"), target(5, "SHA256:other"));
        let inventory = [chosen.clone(), other.clone()];
        let mut record = chose.clone();
        assert!(!record.forget_bootstrap(&[&other], &inventory));
        assert_eq!(record, chose);
        assert!(record.forget_bootstrap(&[&chosen], &inventory));
        let clone = target(9, "SHA256:chosen");
        let later = [other.clone(), clone.clone()];
        assert!(!record.bootstraps(&clone, &later));
        assert!(!record.bootstraps(&other, &later));
        let recorded = SwarmRecord {
            cluster: Some("c0ffee".into()),
            ..chose.clone()
        };
        let mut record = recorded.clone();
        assert!(!record.forget_bootstrap(&[&chosen], &inventory));
        assert_eq!(record, recorded);
    }

    /// A swarm n1 created at 10.0.0.5, with `managers`.
    fn created_by_n1(managers: &[&str]) -> SwarmRecord {
        SwarmRecord {
            bootstrap: Bootstrap {
                ip: Some("10.0.0.5".parse().unwrap()),
                key: None,
            },
            cluster: Some("c0ffee".into()),
            manager: Some("n1".into()),
            managers: self::managers(managers),
            ca: Some("2jk5".into()),
        }
    }

    /// The creator demoted (or removed): the next run leads through
    /// another manager, which the record names from then on, at its own
    /// address; not the creator's node ID at the creator's address.
    #[test]
    fn the_manager_a_run_led_through_replaces_the_creator() {
        let mut created = created_by_n1(&["n2", "n3", "n4"]);
        created.bootstrap.key = "SHA256:abc".parse().ok();
        let mut r = created.clone();
        assert!(!r.led_by("n1", "10.0.0.5".parse().unwrap()));
        assert_eq!(r, created);
        assert!(r.led_by("n2", "10.0.0.6".parse().unwrap()));
        assert_eq!(
            r.render(),
            "bootstrap 10.0.0.6\ncluster c0ffee\nmanager n2\nca 2jk5\nmanagers n2 n3 n4\n"
        );
        assert!(!r.led_by("n2", "10.0.0.6".parse().unwrap()));
        // The same node at a new address (DHCP).
        assert!(r.led_by("n2", "10.0.0.7".parse().unwrap()));
        assert_eq!(r.bootstrap.ip, Some("10.0.0.7".parse().unwrap()));
        // An engine that tells no node ID, or another thing, changes nothing.
        let before = r.clone();
        for bad in ["", "../x", "n 2"] {
            assert!(!r.led_by(bad, "10.0.0.9".parse().unwrap()), "{bad:?}");
            assert_eq!(r, before);
        }
    }

    /// The creator's host key stays while the record names the creator at
    /// its address, and goes with another manager or another address.
    #[test]
    fn the_creators_host_key_goes_with_another_lead() {
        let mut keyed = created_by_n1(&["n1", "n2"]);
        keyed.bootstrap.key = "SHA256:abc".parse().ok();
        let mut r = keyed.clone();
        assert!(!r.led_by("n1", "10.0.0.5".parse().unwrap()));
        assert_eq!(r, keyed);
        for (node_id, addr) in [("n2", "10.0.0.5"), ("n1", "10.0.0.6")] {
            let mut r = keyed.clone();
            assert!(r.led_by(node_id, addr.parse().unwrap()), "{node_id}");
            assert_eq!(r.bootstrap.key, None, "{node_id} {addr}");
            assert!(!r.render().contains("SHA256"), "{node_id} {addr}");
        }
    }

    /// A run that led through n2 and demoted it: the managers recorded
    /// after its demotions no longer list n2, and the record keeps the
    /// manager it named (a current one), not n2.
    #[test]
    fn a_lead_the_run_demoted_is_not_recorded() {
        let mut r = created_by_n1(&["n1", "n3", "n4"]);
        let before = r.clone();
        assert!(!r.led_by("n2", "10.0.0.6".parse().unwrap()));
        assert_eq!(r, before);
        assert_eq!(r.current_manager(), Some("n1"));
        // Listed, it is recorded; with no managers recorded yet, too.
        assert!(r.led_by("n3", "10.0.0.7".parse().unwrap()));
        assert_eq!(r.current_manager(), Some("n3"));
        let mut r = created_by_n1(&[]);
        assert!(r.led_by("n2", "10.0.0.6".parse().unwrap()));
        assert_eq!(r.current_manager(), Some("n2"));
    }

    #[test]
    fn a_manager_the_recorded_managers_no_longer_count_is_not_current() {
        let mut r = SwarmRecord {
            manager: Some("n1".into()),
            ..SwarmRecord::default()
        };
        assert_eq!(r.current_manager(), Some("n1"));
        r.managers = managers(&["n1", "n2"]);
        assert_eq!(r.current_manager(), Some("n1"));
        // n1 removed (or demoted): the managers were written after it.
        r.managers = managers(&["n2@10.0.0.6"]);
        assert_eq!(r.current_manager(), None);
        r.manager = None;
        assert_eq!(r.current_manager(), None);
    }

    /// Each manager at the address its swarm listed it at (IPv6 too), or
    /// at none; a record an older rccr wrote (bare IDs) loads as managers
    /// at no address, and is written the same. An address or an ID that
    /// is not one is a bad line.
    #[test]
    fn managers_are_recorded_at_their_addresses_and_an_old_record_still_loads() {
        let r = created_by_n1(&["n1@10.0.0.5", "n2@fd00::6", "n3"]);
        let text = r.render();
        assert!(
            text.ends_with("\nmanagers n1@10.0.0.5 n2@fd00::6 n3\n"),
            "{text}"
        );
        assert_eq!(SwarmRecord::parse(&text, Path::new("s")).unwrap(), r);
        let old = "cluster c0ffee\nmanager n1\nmanagers n1 n2\n";
        let loaded = SwarmRecord::parse(old, Path::new("s")).unwrap();
        assert_eq!(loaded.managers, managers(&["n1", "n2"]));
        assert_eq!(loaded.render(), old);
        assert_eq!(loaded.manager_ids(), ["n1", "n2"]);
        for bad in [
            "managers n1@10.0.0\n",
            "managers n1@\n",
            "managers n1@10.0.0.5:2377\n",
            "managers n1@10.0.0.5@10.0.0.6\n",
            "managers @10.0.0.5\n",
            "managers ../x@10.0.0.5\n",
            "managers n1@10.0.0.5  n2\n",
        ] {
            let err = SwarmRecord::parse(bad, Path::new("s")).unwrap_err();
            crate::error::assert_says(&err, "s:1: not a swarm record line");
        }
    }

    /// A recorded manager is its ID at its recorded address, or at any
    /// address when none is recorded.
    #[test]
    fn a_recorded_manager_is_its_id_at_its_address() {
        let at = |a: &str| a.parse::<IpAddr>().unwrap();
        let [with, without] =
            <[RecordedManager; 2]>::try_from(managers(&["n1@10.0.0.5", "n1"])).unwrap();
        assert!(with.is("n1", at("10.0.0.5")));
        assert!(!with.is("n1", at("10.0.0.4")));
        assert!(!with.is("n2", at("10.0.0.5")));
        assert!(without.is("n1", at("10.0.0.4")));
        assert!(!without.is("n2", at("10.0.0.4")));
    }

    #[test]
    fn round_trip_and_refusals() {
        let r = created_by_n1(&["n1", "n2"]);
        let text = r.render();
        assert_eq!(
            text,
            "bootstrap 10.0.0.5\ncluster c0ffee\nmanager n1\nca 2jk5\nmanagers n1 n2\n"
        );
        assert_eq!(SwarmRecord::parse(&text, Path::new("s")).unwrap(), r);
        // The creator's key is written only while no swarm ID is recorded
        // (development builds wrote both): an older rccr reads the rest.
        let mut keyed = r.clone();
        keyed.bootstrap.key = "SHA256:abc".parse().ok();
        assert_eq!(keyed.render(), r.render());
        let keyed = SwarmRecord {
            cluster: None,
            ..keyed
        };
        let text = keyed.render();
        assert!(
            text.starts_with("bootstrap 10.0.0.5 SHA256:abc\n"),
            "{text}"
        );
        assert_eq!(SwarmRecord::parse(&text, Path::new("s")).unwrap(), keyed);
        for bad in [
            "bootstrap 10.0.0.5 \n",
            "bootstrap 10.0.0.5 abc\n",
            "bootstrap 10.0.0.5 SHA256:a b\n",
            "cluster ../x\n",
            "bootstrap x\n",
            "leader n1\n",
            "cluster\n",
            "ca 2jk5-secret\n",
        ] {
            assert!(SwarmRecord::parse(bad, Path::new("s")).is_err(), "{bad:?}");
        }
    }
}
