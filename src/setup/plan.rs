//! Stage 3 of setup: what to do with each host, decided before anything is
//! changed, so `--dry-run` can show it.
use super::discover::{Candidate, Class};
use crate::config::{AdoptPolicy, Config};
use crate::error::Error;
use crate::identity::{generated_name, is_image_default, Hostname, Role, NAME_PREFIX};
use crate::keys::control::engine::Outcome;
use crate::state::inventory::NodeRecord;

/// What setup does with a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A new node: rename it first when `rename` is set (it carries an
    /// image default, a name another node has, or a pinned one), then
    /// replace its temporary key.
    Adopt { rename: Option<Hostname> },
    /// A new node that `discovery.adopt: listed` keeps out: its MAC is not
    /// under `nodes:`. Shown, not touched.
    NotListed,
    /// Nothing: already in the cluster, or not ours to touch; or a new
    /// node whose rename failed ([`Planned::not_renamed`]).
    Leave,
}

/// A host, what setup does with it, and how that went.
#[derive(Clone, Debug)]
pub struct Planned {
    pub candidate: Candidate,
    pub action: Action,
    /// How the key rotation of a new node ended, once it ran.
    pub rotation: Option<(Outcome, String)>,
}

impl Planned {
    /// What became of the host, for the report.
    pub fn result(&self) -> String {
        match (&self.rotation, self.candidate.class) {
            (Some((Outcome::Rotated, _)), _) => "adopted".into(),
            (Some((outcome, detail)), _) => format!("{}: {detail}", outcome.as_str()),
            (None, Class::Adopted) => "already adopted".into(),
            (None, class @ Class::Untrusted(_)) => class.to_string(),
            (None, Class::New) if self.action == Action::NotListed => {
                "untouched (not listed)".into()
            }
            (None, Class::New) if self.rename_failed() => {
                format!(
                    "untouched ({})",
                    self.candidate.note.as_deref().unwrap_or_default()
                )
            }
            (None, class) => format!("untouched ({})", class.as_str()),
        }
    }

    /// Which key the node takes now: `cluster`, `temporary` or `-`.
    pub fn key_state(&self) -> &'static str {
        match self.candidate.class {
            Class::Adopted => "cluster",
            Class::New => "temporary",
            _ => "-",
        }
    }

    pub fn new_name(&self) -> Option<&str> {
        match &self.action {
            Action::Adopt { rename } => rename.as_deref(),
            Action::NotListed | Action::Leave => None,
        }
    }

    pub fn adopts(&self) -> bool {
        matches!(self.action, Action::Adopt { .. })
    }

    /// A new node whose rename failed (`why`): it is left as it is, not
    /// rotated nor recorded, so it cannot take another node's name.
    pub fn not_renamed(&mut self, why: String) {
        self.action = Action::Leave;
        self.candidate.note = Some(why);
    }

    /// Whether this is a new node [`Planned::not_renamed`] left (the plan
    /// leaves a new node only as not listed, else as a duplicate).
    pub fn rename_failed(&self) -> bool {
        self.candidate.class == Class::New && self.action == Action::Leave
    }
}

/// The plan as it stands once every adoption went through: each new node
/// adopted under the name it is given. What setup would record from it is
/// checked for two of one name before anything changes.
pub fn as_done(planned: &[Planned]) -> Vec<Planned> {
    let done = |mut p: Planned| {
        if let Action::Adopt { rename } = &p.action {
            if let Some(name) = rename {
                p.candidate.hostname = Some(name.clone());
            }
            p.candidate.class = Class::Adopted;
            p.action = Action::Leave;
        }
        p
    };
    planned.iter().cloned().map(done).collect()
}

/// The addresses of the new hosts left duplicates, adopted at none
/// ([`Candidate::was_new`]): they still take the temporary key.
pub fn left_new(planned: &[Planned]) -> Vec<std::net::Ipv4Addr> {
    planned
        .iter()
        .filter(|p| p.candidate.was_new)
        .map(|p| p.candidate.ip)
        .collect()
}

/// `--expect N`: the run adopts exactly N new nodes, and leaves no new
/// host a duplicate, or does nothing at all. A stranger that took the
/// temporary key shows up as one too many, or in place of a node it made
/// a duplicate (its MAC answering at another address too).
pub fn check_expected(planned: &[Planned], expect: Option<usize>) -> Result<(), Error> {
    let Some(expected) = expect else {
        return Ok(());
    };
    let new: Vec<String> = planned
        .iter()
        .filter(|p| p.adopts())
        .map(|p| p.candidate.ip.to_string())
        .collect();
    let left = left_new(planned);
    if new.len() == expected && left.is_empty() {
        return Ok(());
    }
    let list = |ips: &[String]| match ips {
        [] => "none".to_string(),
        _ => ips.join(", "),
    };
    let left = match left.len() {
        0 => String::new(),
        n => format!(
            ", and {n} address(es) of new hosts left duplicates ({})",
            super::discover::named(&left)
        ),
    };
    Err(Error::Failed(format!(
        "--expect {expected}, but {} new node(s) would be adopted ({}){left}: nothing was \
         changed; check the plan above (host key fingerprints, MACs) and run again",
        new.len(),
        list(&new),
    )))
}

/// Plans every host: new nodes are adopted, under a unique name where
/// they need one; everything else is left alone. `known` holds the record
/// this run writes for the control ([`super::record::with_control`]):
/// its name is held as the inventory's are (on a first run it is in no
/// inventory yet; later, it may have been renamed since).
pub fn plan(candidates: Vec<Candidate>, known: &[NodeRecord], config: &Config) -> Vec<Planned> {
    let listed =
        |c: &Candidate| config.discovery.adopt == AdoptPolicy::Any || config.pin(c.mac).is_some();
    // The names of the hosts this run may record: a new host `adopt:
    // listed` keeps out is never recorded, so its name is no one's.
    let names: Vec<String> = candidates
        .iter()
        .filter(|c| c.class == Class::Adopted || (c.class == Class::New && listed(c)))
        .filter_map(|c| c.hostname.as_deref().map(str::to_string))
        .collect();
    let mut planned: Vec<Planned> = candidates
        .into_iter()
        .map(|mut c| {
            // A stranger `adopt: listed` keeps out is no new node of this
            // cluster, duplicate or not.
            c.was_new &= listed(&c);
            let action = match c.class {
                Class::New if !listed(&c) => Action::NotListed,
                Class::New => Action::Adopt { rename: None },
                _ => Action::Leave,
            };
            Planned {
                candidate: c,
                action,
                rotation: None,
            }
        })
        .collect();
    let wanted: Vec<Option<Wanted>> = planned
        .iter()
        .map(|p| {
            p.adopts()
                .then(|| wanted(&p.candidate, &names, known, config))
        })
        .collect();
    let finals = final_names(&planned, &wanted, known, config);
    for (p, name) in planned.iter_mut().zip(finals) {
        let Some(name) = name else {
            continue;
        };
        let current = p.candidate.hostname.as_deref().unwrap_or_default();
        match name {
            Ok(name) => {
                p.action = Action::Adopt {
                    rename: (name != current).then_some(name),
                }
            }
            Err(why) => {
                p.action = Action::Leave;
                p.candidate.class = Class::Duplicate;
                p.candidate.was_new = true;
                super::discover::say(&p.candidate, &why);
                p.candidate.note = Some(why);
            }
        }
    }
    planned
}

/// The name a new node asks for.
#[derive(Clone, Debug)]
enum Wanted {
    /// Its pinned name (`nodes:`).
    Pinned(Hostname),
    /// A generated one: it carries an image default or a name another
    /// node has.
    Generated,
    /// The one it has.
    Kept,
}

/// What new node `c` asks for; `names` are those of the hosts this run
/// may record (`c`'s among them), `known` the inventory's nodes and the
/// control, where `c`'s own record (it came back on its temporary key)
/// shares no name with it.
fn wanted(c: &Candidate, names: &[String], known: &[NodeRecord], config: &Config) -> Wanted {
    let current = c.hostname.as_deref().unwrap_or_default();
    let others = known
        .iter()
        .filter(|k| !is_record_of(k, c))
        .map(|k| k.hostname.as_str());
    let shared = names
        .iter()
        .map(String::as_str)
        .chain(others)
        .filter(|n| n.eq_ignore_ascii_case(current))
        .count()
        > 1;
    // Pinned names follow the rule (the config checks them).
    match config.pin(c.mac).and_then(|p| p.hostname.as_deref()) {
        Some(name) => Hostname::parse(name).map_or(Wanted::Generated, Wanted::Pinned),
        None if is_image_default(current) || shared => Wanted::Generated,
        None => Wanted::Kept,
    }
}

/// Every adoptee's final name (`None` for the other hosts), unique
/// ignoring case against the names other hosts keep, the control's, the
/// inventory's (but the node's own record) and each other: two records of one name
/// would merge into one Ansible host, `rccr remove NAME` would pick either,
/// and known_hosts would pin one key for both. A told name is public and
/// anyone holding the temporary key can tell one, so it gives way to a
/// name the plan makes (a pinned or a generated one); a generated name
/// that is taken grows longer ([`name_choices`]). An adoptee left with no
/// free name is not adopted, and the error says why.
fn final_names(
    planned: &[Planned],
    wanted: &[Option<Wanted>],
    known: &[NodeRecord],
    config: &Config,
) -> Vec<Option<Result<Hostname, String>>> {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    // Whose `name` is, other than adoptee `i`'s: a node kept this run (a
    // new host `adopt: listed` keeps out is never recorded), or a record
    // of the inventory that is not `i`'s node.
    let holder = |i: usize, name: &str| -> Option<String> {
        let c = &planned[i].candidate;
        planned
            .iter()
            .enumerate()
            .find(|(j, p)| {
                *j != i
                    && !p.adopts()
                    && p.candidate.class == Class::Adopted
                    && p.candidate
                        .hostname
                        .as_deref()
                        .is_some_and(|n| same(n, name))
            })
            .map(|(_, p)| format!("the host at {}", p.candidate.ip))
            .or_else(|| {
                known
                    .iter()
                    .find(|k| same(&k.hostname, name) && !is_record_of(k, c))
                    .map(|k| match k.role {
                        Role::Control => format!("the control {}", k.ip),
                        Role::Target => format!("the node {} of the inventory", k.ip),
                    })
            })
    };
    let mut finals: Vec<Option<Result<Hostname, String>>> = vec![None; planned.len()];
    let given = |finals: &[Option<Result<Hostname, String>>], name: &str| {
        finals.iter().flatten().flatten().any(|n| same(n, name))
    };
    // Pinned names first: the operator's word.
    for (i, w) in wanted.iter().enumerate() {
        if let Some(Wanted::Pinned(name)) = w {
            finals[i] = Some(match holder(i, name) {
                _ if given(&finals, name) => Err(taken(name, "another pinned node")),
                Some(whose) => Err(taken(name, &whose)),
                None => Ok(name.clone()),
            });
        }
    }
    // A told name is kept unless a pinned name, or a name generated for
    // another adoptee, is the same.
    let generated_first: Vec<String> = wanted
        .iter()
        .enumerate()
        .filter(|(_, w)| matches!(w, Some(Wanted::Generated)))
        .map(|(i, _)| unique_name(&planned[i].candidate, config))
        .collect();
    let mut generate: Vec<usize> = Vec::new();
    for (i, w) in wanted.iter().enumerate() {
        match w {
            Some(Wanted::Generated) => generate.push(i),
            Some(Wanted::Kept) => match planned[i].candidate.hostname.clone() {
                Some(told)
                    if !given(&finals, &told)
                        && !generated_first.iter().any(|n| same(n, &told)) =>
                {
                    finals[i] = Some(Ok(told));
                }
                _ => generate.push(i),
            },
            Some(Wanted::Pinned(_)) | None => {}
        }
    }
    for i in generate {
        let c = &planned[i].candidate;
        let free = name_choices(c, config, planned.len() + known.len())
            .filter_map(|n| Hostname::parse(&n).ok())
            .find(|n| holder(i, n).is_none() && !given(&finals, n));
        finals[i] = Some(free.ok_or_else(|| {
            format!(
                "every name setup could give it ({} and longer) is taken, or too long for a \
                 hostname: adopted at none; pin it a name of its own under nodes:",
                unique_name(c, config)
            )
        }));
    }
    finals
}

/// Why a name cannot be a new node's.
fn taken(name: &str, whose: &str) -> String {
    format!(
        "its pinned name {name} is taken by {whose} (case does not count): adopted at none; \
         pin it another name under nodes:"
    )
}

/// Whether `record` is the inventory's record of the machine `c`: the
/// same host key, else the same MAC.
fn is_record_of(record: &NodeRecord, c: &Candidate) -> bool {
    match (&record.host_key, &c.host_key) {
        (Some(a), Some(b)) if a == b => true,
        _ => c.mac.is_some() && record.mac == c.mac,
    }
}

/// `ReCyClusteR-Target-3f2a1c`: the filter as prefix, the last three bytes
/// of the MAC (of the address when the MAC is unknown) keep names unique
/// and stable.
fn unique_name(c: &Candidate, config: &Config) -> String {
    generated_name(name_prefix(config), c.role, tail(&identifying_bytes(c)))
}

fn name_prefix(config: &Config) -> &str {
    let filter = config.discovery.hostname_filter.as_str();
    if filter.is_empty() {
        NAME_PREFIX
    } else {
        filter
    }
}

/// The MAC's bytes, else the address's.
fn identifying_bytes(c: &Candidate) -> Vec<u8> {
    match c.mac {
        Some(mac) => mac.0.to_vec(),
        None => c.ip.octets().to_vec(),
    }
}

fn tail(bytes: &[u8]) -> [u8; 3] {
    let n = bytes.len();
    [bytes[n - 3], bytes[n - 2], bytes[n - 1]]
}

/// The names a new node may be given, in the order they are tried: the
/// generated name, then one that holds all of the MAC (of the address),
/// then the generated name with a counter, `taken + 2` of them (more
/// than the names that can be taken). Deterministic: a rerun gives the
/// same names to the same hosts.
fn name_choices(c: &Candidate, config: &Config, taken: usize) -> impl Iterator<Item = String> {
    let (prefix, bytes) = (name_prefix(config), identifying_bytes(c));
    let first = unique_name(c, config);
    let whole = generated_name(prefix, c.role, [bytes[0], bytes[1], bytes[2]])
        + &bytes[3..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
    let counted = (2..taken + 4).map({
        let first = first.clone();
        move |n| format!("{first}-{n}")
    });
    [first, whole].into_iter().chain(counted)
}

/// A control for tests, named `rccr-control`.
#[cfg(test)]
pub fn control() -> NodeRecord {
    NodeRecord {
        ip: "10.0.5.1".parse().unwrap(),
        mac: "02:00:00:00:00:01".parse().ok(),
        hostname: "rccr-control".parse().unwrap(),
        role: Role::Control,
        arch: None,
        host_key: None,
        moved_from: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(ip: &str, mac: Option<&str>, name: &str, class: Class) -> Candidate {
        Candidate {
            hostname: Some(name.parse().unwrap()),
            class,
            ..Candidate::at(ip.parse().unwrap(), mac.map(|m| m.parse().unwrap()))
        }
    }

    /// The plan under the default config.
    fn plan_by_default(candidates: Vec<Candidate>, known: &[NodeRecord]) -> Vec<Planned> {
        let known = super::super::record::with_control(known.to_vec(), control());
        plan(candidates, &known, &Config::default())
    }

    /// A new host with the image's name, at `ip` with `mac`.
    fn fresh(ip: &str, mac: &str) -> Candidate {
        candidate(ip, Some(mac), "ReCyClusteR-Target", Class::New)
    }

    #[test]
    fn defaults_and_shared_names_are_renamed_and_the_rest_left() {
        let config = Config::default();
        let planned = plan(
            vec![
                fresh("10.0.5.6", "02:52:43:3f:2a:1c"),
                candidate("10.0.5.7", None, "ReCyClusteR-Target", Class::New),
                candidate("10.0.5.8", None, "ReCyClusteR-Target-01", Class::New),
                candidate("10.0.5.9", None, "ReCyClusteR-Target-01", Class::Adopted),
                candidate("10.0.5.10", None, "ReCyClusteR-Target-02", Class::New),
                candidate("10.0.5.11", None, "kitchen", Class::Foreign),
            ],
            &[control()],
            &config,
        );
        let names: Vec<Option<&str>> = planned.iter().map(Planned::new_name).collect();
        assert_eq!(
            names,
            [
                Some("ReCyClusteR-Target-3f2a1c"),
                Some("ReCyClusteR-Target-000507"),
                Some("ReCyClusteR-Target-000508"),
                None,
                None,
                None
            ]
        );
        assert_eq!(planned[3].action, Action::Leave);
        assert_eq!(planned[4].action, Action::Adopt { rename: None });
        assert_eq!(planned[5].action, Action::Leave);
    }

    /// A host left out as a `duplicate` (adopted at none), its note
    /// starting `note_start`.
    fn assert_duplicate(planned: &Planned, note_start: &str) {
        assert!(!planned.adopts());
        assert_eq!(planned.candidate.class, Class::Duplicate);
        let note = planned.candidate.note.as_deref().unwrap();
        assert!(note.starts_with(note_start), "{note}");
    }

    /// A `nodes:` entry that pins only a name.
    fn name_pin(mac: &str, name: &str) -> crate::config::NodePin {
        crate::config::NodePin {
            mac: mac.parse().unwrap(),
            hostname: Some(name.into()),
            role: None,
            manager: None,
        }
    }

    /// `adopt: listed`, with the target of MAC 02:52:43:00:00:01 under
    /// `nodes:` (pinned `hostname`, if any).
    fn listing_only_01(hostname: Option<&str>) -> Config {
        let mut config = Config::default();
        config.discovery.adopt = AdoptPolicy::Listed;
        config.nodes.push(crate::config::NodePin {
            mac: "02:52:43:00:00:01".parse().unwrap(),
            hostname: hostname.map(str::to_string),
            role: Some(Role::Target),
            manager: None,
        });
        config
    }

    #[test]
    fn adopt_listed_keeps_unlisted_new_nodes_out() {
        let config = listing_only_01(None);
        let planned = plan(
            vec![
                candidate(
                    "10.0.5.1",
                    Some("02:52:43:00:00:01"),
                    "ReCyClusteR-Target-01",
                    Class::New,
                ),
                candidate(
                    "10.0.5.2",
                    Some("02:52:43:00:00:02"),
                    "ReCyClusteR-Target-02",
                    Class::New,
                ),
                candidate("10.0.5.3", None, "ReCyClusteR-Target-03", Class::New),
            ],
            &[control()],
            &config,
        );
        assert!(planned[0].adopts());
        assert_eq!(planned[1].action, Action::NotListed);
        assert_eq!(planned[2].action, Action::NotListed);
        assert_eq!(planned[1].result(), "untouched (not listed)");
        assert!(check_expected(&planned, Some(1)).is_ok());
    }

    /// Under `adopt: listed`, a stranger not listed (it holds the public
    /// temporary key) that calls itself by a listed node's pinned name
    /// took that name from it: the node was left `duplicate`. It is never
    /// recorded, so its name is no one's.
    #[test]
    fn a_host_adopt_listed_keeps_out_takes_no_pinned_name() {
        let config = listing_only_01(Some("kitchen"));
        let planned = plan(
            vec![
                candidate("10.0.5.1", Some("02:52:43:00:00:01"), "x", Class::New),
                candidate("10.0.5.2", Some("02:52:43:00:00:02"), "KITCHEN", Class::New),
            ],
            &[control()],
            &config,
        );
        assert_eq!(planned[0].new_name(), Some("kitchen"), "{planned:?}");
        assert_eq!(planned[1].action, Action::NotListed);
    }

    #[test]
    fn expect_refuses_any_other_count() {
        let planned = plan(
            vec![
                candidate("10.0.5.1", None, "ReCyClusteR-Target-01", Class::New),
                candidate("10.0.5.2", None, "ReCyClusteR-Target-02", Class::New),
                candidate(
                    "10.0.5.3",
                    None,
                    "x",
                    Class::Untrusted(super::super::discover::Distrust::BadFacts),
                ),
            ],
            &[control()],
            &Config::default(),
        );
        assert!(check_expected(&planned, None).is_ok());
        assert!(check_expected(&planned, Some(2)).is_ok());
        let err = check_expected(&planned, Some(1)).unwrap_err().to_string();
        assert!(
            err.starts_with("--expect 1, but 2 new node(s) would be adopted (10.0.5.1, 10.0.5.2)"),
            "{err}"
        );
        assert!(check_expected(&planned, Some(3)).is_err());
        assert_eq!(planned[2].result(), "untrusted (bad facts)");
    }

    /// The final name of each host: its new name, else its current one,
    /// for the hosts adopted or kept as nodes.
    fn final_names(planned: &[Planned]) -> Vec<String> {
        planned
            .iter()
            .filter(|p| p.adopts() || p.candidate.class == Class::Adopted)
            .map(|p| {
                p.new_name()
                    .or(p.candidate.hostname.as_deref())
                    .unwrap()
                    .to_ascii_lowercase()
            })
            .collect()
    }

    fn assert_distinct(names: &[String]) {
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
    }

    /// Review F1, scenario A: a host that holds the temporary key names
    /// itself after the victim's MAC tail; setup must not give the victim
    /// the same name.
    #[test]
    fn a_told_name_squatting_a_generated_one_is_renamed() {
        let planned = plan_by_default(
            vec![
                fresh("10.0.5.6", "02:00:00:3f:2a:1c"),
                candidate(
                    "10.0.5.7",
                    Some("02:00:00:00:00:66"),
                    "recyclustEr-Target-3F2A1C",
                    Class::New,
                ),
            ],
            &[],
        );
        assert_distinct(&final_names(&planned));
        // The victim keeps the name its MAC gives it; the squatter is
        // named after its own.
        assert_eq!(planned[0].new_name(), Some("ReCyClusteR-Target-3f2a1c"));
        assert_eq!(planned[1].new_name(), Some("ReCyClusteR-Target-000066"));
    }

    /// Review F1, scenario B: the victim is in the inventory; a host with
    /// a MAC ending like the victim's and an image default name gets a
    /// longer name, not the victim's.
    #[test]
    fn a_generated_name_an_inventory_node_has_is_lengthened() {
        let victim = NodeRecord {
            ip: "10.0.5.6".parse().unwrap(),
            mac: "02:00:00:3f:2a:1c".parse().ok(),
            hostname: "ReCyClusteR-Target-3f2a1c".into(),
            role: Role::Target,
            arch: None,
            host_key: "SHA256:victim".parse().ok(),
            moved_from: None,
        };
        let planned = plan_by_default(
            vec![
                fresh("10.0.5.7", "02:99:00:3f:2a:1c"),
                fresh("10.0.5.8", "02:98:00:3f:2a:1c"),
            ],
            std::slice::from_ref(&victim),
        );
        let mut names = final_names(&planned);
        names.push(victim.hostname.to_ascii_lowercase());
        assert_distinct(&names);
        assert_eq!(
            planned[0].new_name(),
            Some("ReCyClusteR-Target-0299003f2a1c")
        );
        assert_eq!(
            planned[1].new_name(),
            Some("ReCyClusteR-Target-0298003f2a1c")
        );
        // The same node, back on its temporary key, keeps its own name.
        let mut back = fresh("10.0.5.9", "02:00:00:3f:2a:1c");
        back.host_key = victim.host_key.clone();
        let planned = plan_by_default(vec![back], &[victim]);
        assert_eq!(planned[0].new_name(), Some("ReCyClusteR-Target-3f2a1c"));
    }

    /// A node back on its temporary key, telling a name of its own (its
    /// record's, in another case): its own record does not share it, so
    /// it is not renamed to a generated one.
    #[test]
    fn a_node_back_on_its_temporary_key_keeps_a_name_of_its_own() {
        let mut back = candidate("10.0.5.9", Some("02:00:00:3f:2a:1c"), "Kitchen", Class::New);
        back.host_key = "SHA256:abc".parse().ok();
        let record = NodeRecord {
            ip: "10.0.5.9".parse().unwrap(),
            mac: back.mac,
            hostname: "kitchen".parse().unwrap(),
            role: Role::Target,
            arch: None,
            host_key: back.host_key.clone(),
            moved_from: None,
        };
        let planned = plan_by_default(vec![back.clone()], std::slice::from_ref(&record));
        assert_eq!(planned[0].action, Action::Adopt { rename: None });
        // Another machine's record of that name is shared.
        let other = NodeRecord {
            ip: "10.0.5.10".parse().unwrap(),
            mac: "02:00:00:00:00:0a".parse().ok(),
            host_key: None,
            ..record
        };
        let planned = plan_by_default(vec![back], &[other]);
        assert_eq!(
            planned[0].new_name(),
            Some("ReCyClusteR-Target-3f2a1c"),
            "{planned:?}"
        );
    }

    /// A rerun over a cluster already adopted renames nobody: every host
    /// is left as it is.
    #[test]
    fn an_adopted_cluster_is_left_as_it_is() {
        let kept = |ip: &str, mac: &str, name: &str| candidate(ip, Some(mac), name, Class::Adopted);
        let hosts = vec![
            kept("10.0.5.2", "02:00:00:00:00:02", "ReCyClusteR-Target-000002"),
            kept("10.0.5.3", "02:00:00:00:00:03", "kitchen"),
            kept("10.0.5.4", "02:00:00:00:00:04", "ReCyClusteR-Target"),
        ];
        let known: Vec<NodeRecord> = hosts
            .iter()
            .map(|c| NodeRecord {
                ip: std::net::IpAddr::V4(c.ip),
                mac: c.mac,
                hostname: c.hostname.clone().unwrap(),
                role: Role::Target,
                arch: None,
                host_key: None,
                moved_from: None,
            })
            .collect();
        let planned = plan_by_default(hosts.clone(), &known);
        assert!(
            planned
                .iter()
                .zip(&hosts)
                .all(|(p, c)| p.action == Action::Leave && p.candidate.hostname == c.hostname),
            "{planned:?}"
        );
    }

    /// When every longer name is taken too, a counter ends it; a name no
    /// valid hostname can hold leaves the host out, with a note.
    #[test]
    fn a_name_taken_in_every_length_gets_a_counter_or_is_not_adopted() {
        let mut config = Config::default();
        let default = |ip: &str| candidate(ip, None, "ReCyClusteR-Target", Class::New);
        let kept = |ip: &str, name: &str| candidate(ip, None, name, Class::Adopted);
        let planned = plan(
            vec![
                default("10.0.5.6"),
                kept("10.0.5.7", "ReCyClusteR-Target-000506"),
                kept("10.0.5.8", "ReCyClusteR-Target-0a000506"),
            ],
            &[control()],
            &config,
        );
        assert_eq!(planned[0].new_name(), Some("ReCyClusteR-Target-000506-2"));
        // A pinned name another node keeps: not adopted, and said why.
        config.nodes.push(name_pin("02:52:43:00:00:01", "kitchen"));
        let planned = plan(
            vec![
                candidate("10.0.5.6", Some("02:52:43:00:00:01"), "x", Class::New),
                kept("10.0.5.7", "KITCHEN"),
            ],
            &[control()],
            &config,
        );
        assert_duplicate(
            &planned[0],
            "its pinned name kitchen is taken by the host at 10.0.5.7 (case",
        );
    }

    /// On a first run the inventory is empty, and the control's name was
    /// no one's: a new node telling it kept it, or was pinned it, and the
    /// check at setup's start refused two records of one name with
    /// remedies about an inventory that did not exist yet.
    #[test]
    fn the_controls_name_is_taken_on_a_first_run() {
        let told = candidate("10.0.5.6", None, "RCCR-Control", Class::New);
        let planned = plan_by_default(vec![told], &[]);
        assert_eq!(
            planned[0].new_name(),
            Some("ReCyClusteR-Target-000506"),
            "{planned:?}"
        );
        let mut config = Config::default();
        config
            .nodes
            .push(name_pin("02:52:43:00:00:02", "rccr-control"));
        let pinned = candidate("10.0.5.2", Some("02:52:43:00:00:02"), "x", Class::New);
        let planned = plan(vec![pinned], &[control()], &config);
        assert_duplicate(
            &planned[0],
            "its pinned name rccr-control is taken by the control 10.0.5.1 (case",
        );
    }

    /// The control was renamed from alpha (at 10.0.5.9) to rccr-control
    /// since the last run: the inventory's old record holds no name, this
    /// run's holds the new one.
    #[test]
    fn a_renamed_controls_old_name_is_free_and_its_new_one_taken() {
        let old = NodeRecord {
            ip: "10.0.5.9".parse().unwrap(),
            hostname: "alpha".parse().unwrap(),
            ..control()
        };
        let known = super::super::record::with_control(vec![old], control());
        let told = vec![
            candidate("10.0.5.6", None, "alpha", Class::New),
            candidate("10.0.5.7", None, "RCCR-CONTROL", Class::New),
        ];
        let planned = plan(told, &known, &Config::default());
        assert_eq!(planned[0].action, Action::Adopt { rename: None });
        assert_eq!(planned[1].new_name(), Some("ReCyClusteR-Target-000507"));
        let mut config = Config::default();
        for (mac, name) in [
            ("02:52:43:00:00:02", "alpha"),
            ("02:52:43:00:00:03", "rccr-control"),
        ] {
            config.nodes.push(name_pin(mac, name));
        }
        let pinned = vec![
            candidate("10.0.5.2", Some("02:52:43:00:00:02"), "x", Class::New),
            candidate("10.0.5.3", Some("02:52:43:00:00:03"), "y", Class::New),
        ];
        let planned = plan(pinned, &known, &config);
        assert_eq!(planned[0].new_name(), Some("alpha"), "{planned:?}");
        assert_eq!(planned[1].candidate.class, Class::Duplicate);
        let note = planned[1].candidate.note.as_deref().unwrap();
        assert!(
            note.starts_with("its pinned name rccr-control is taken by the control 10.0.5.1 (case"),
            "{note}"
        );
    }

    #[test]
    fn unique_names_keep_the_filter() {
        let mut c = candidate("10.0.5.6", None, "x", Class::New);
        c.role = Role::Control;
        assert_eq!(
            unique_name(&c, &Config::with_filter("lab")),
            "lab-Control-000506"
        );
    }
}
