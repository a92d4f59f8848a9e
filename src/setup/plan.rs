//! Stage 3 of setup: what to do with each host, decided before anything is
//! changed, so `--dry-run` can show it.
use super::discover::{Candidate, Class};
use crate::config::{AdoptPolicy, Config};
use crate::error::Error;
use crate::identity::{generated_name, is_image_default, mac_tail, Hostname, NAME_PREFIX};
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
    /// Nothing: already in the cluster, or not ours to touch.
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
}

/// `--expect N`: the run adopts exactly N new nodes, or nothing at all.
/// A stranger that took the temporary key shows up as one too many.
pub fn check_expected(planned: &[Planned], expect: Option<usize>) -> Result<(), Error> {
    let Some(expected) = expect else {
        return Ok(());
    };
    let new: Vec<String> = planned
        .iter()
        .filter(|p| p.adopts())
        .map(|p| p.candidate.ip.to_string())
        .collect();
    if new.len() == expected {
        return Ok(());
    }
    Err(Error::Failed(format!(
        "--expect {expected}, but {} new node(s) would be adopted ({}): nothing was changed; \
         check the plan above (host key fingerprints, MACs) and run again",
        new.len(),
        if new.is_empty() {
            "none".into()
        } else {
            new.join(", ")
        }
    )))
}

/// Plans every host: new nodes are adopted, under a unique name where
/// they need one; everything else is left alone.
pub fn plan(candidates: Vec<Candidate>, known: &[NodeRecord], config: &Config) -> Vec<Planned> {
    let names: Vec<String> = candidates
        .iter()
        .filter(|c| c.class.is_node())
        .filter_map(|c| c.hostname.as_deref().map(str::to_string))
        .chain(known.iter().map(|k| k.hostname.to_string()))
        .collect();
    candidates
        .into_iter()
        .map(|c| {
            let listed = config.discovery.adopt == AdoptPolicy::Any || config.pin(c.mac).is_some();
            let action = match c.class {
                Class::New if !listed => Action::NotListed,
                Class::New => Action::Adopt {
                    rename: new_name(&c, &names, config),
                },
                _ => Action::Leave,
            };
            Planned {
                candidate: c,
                action,
                rotation: None,
            }
        })
        .collect()
}

/// The name a new node must take, if it must change: a pinned name, else
/// a generated one for nodes that carry an image default or a name another
/// node has.
fn new_name(c: &Candidate, names: &[String], config: &Config) -> Option<Hostname> {
    let current = c.hostname.as_deref().unwrap_or_default();
    let pinned = config.pin(c.mac).and_then(|p| p.hostname.clone());
    let shared = names
        .iter()
        .filter(|n| n.eq_ignore_ascii_case(current))
        .count()
        > 1;
    let name = match pinned {
        Some(name) => name,
        None if is_image_default(current) || shared => unique_name(c, config),
        None => return None,
    };
    // Pinned names follow the rule (the config checks them); a generated
    // one does whenever the filter is a name's part.
    let name = Hostname::parse(&name).ok()?;
    (name != current).then_some(name)
}

/// `ReCyClusteR-Target-3f2a1c`: the filter as prefix, the last three bytes
/// of the MAC (of the address when the MAC is unknown) keep names unique
/// and stable.
fn unique_name(c: &Candidate, config: &Config) -> String {
    let filter = config.discovery.hostname_filter.as_str();
    let prefix = if filter.is_empty() {
        NAME_PREFIX
    } else {
        filter
    };
    let tail = match c.mac {
        Some(mac) => mac_tail(mac),
        None => {
            let o = c.ip.octets();
            [o[1], o[2], o[3]]
        }
    };
    generated_name(prefix, c.role, tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;

    fn candidate(ip: &str, mac: Option<&str>, name: &str, class: Class) -> Candidate {
        Candidate {
            hostname: Some(name.parse().unwrap()),
            class,
            ..Candidate::at(ip.parse().unwrap(), mac.map(|m| m.parse().unwrap()))
        }
    }

    #[test]
    fn defaults_and_shared_names_are_renamed_and_the_rest_left() {
        let config = Config::default();
        let planned = plan(
            vec![
                candidate(
                    "10.0.5.6",
                    Some("02:52:43:3f:2a:1c"),
                    "ReCyClusteR-Target",
                    Class::New,
                ),
                candidate("10.0.5.7", None, "ReCyClusteR-Target", Class::New),
                candidate("10.0.5.8", None, "ReCyClusteR-Target-01", Class::New),
                candidate("10.0.5.9", None, "ReCyClusteR-Target-01", Class::Adopted),
                candidate("10.0.5.10", None, "ReCyClusteR-Target-02", Class::New),
                candidate("10.0.5.11", None, "kitchen", Class::Foreign),
            ],
            &[],
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

    #[test]
    fn adopt_listed_keeps_unlisted_new_nodes_out() {
        let mut config = Config::default();
        config.discovery.adopt = AdoptPolicy::Listed;
        config.nodes.push(crate::config::NodePin {
            mac: "02:52:43:00:00:01".parse().unwrap(),
            hostname: None,
            role: Some(Role::Target),
            manager: None,
        });
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
            &[],
            &config,
        );
        assert!(planned[0].adopts());
        assert_eq!(planned[1].action, Action::NotListed);
        assert_eq!(planned[2].action, Action::NotListed);
        assert_eq!(planned[1].result(), "untouched (not listed)");
        assert!(check_expected(&planned, Some(1)).is_ok());
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
            &[],
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

    #[test]
    fn unique_names_keep_the_filter() {
        let mut config = Config::default();
        config.discovery.hostname_filter = "lab".into();
        let mut c = candidate("10.0.5.6", None, "x", Class::New);
        c.role = Role::Control;
        assert_eq!(unique_name(&c, &config), "lab-Control-000506");
    }
}
