//! Adopted nodes that still take the temporary key. Discovery tries the
//! temporary key only where the cluster key is refused, and the journal
//! names a half-rotated node only until it is moved away or an older
//! backup restored: a node staged whose revert timer then died (and whose
//! control died too) takes both keys for good, and setup called it
//! adopted. Each adopted node is asked on a connection of its own; those
//! that take the temporary key are rotated with the new nodes (the
//! rotation's commit removes it), and so are those that could not be
//! asked (a timeout, a dropped connection, another host key answering at
//! their address): only a plain refusal of the key is a no. Their rotation finds out, and one that cannot reach them
//! either keeps them listed here, so setup fails naming them.
use super::discover::{Class, LoginKeys, SSH_TIMEOUT};
use super::plan::{Action, Planned};
use crate::keys::control::engine::Report;
use crate::keys::control::known_hosts::{KnownHosts, Reached, Unreached};
use crate::parallel;
use crate::ssh::{Fingerprint, SshError};
use std::net::{IpAddr, Ipv4Addr};

/// Asks at once.
const PARALLEL: usize = 32;

/// The adopted nodes to rotate, by what asking them found: the addresses
/// of those that log in with the temporary key, and of those that could
/// not be asked ([`Probe::Unasked`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Asked {
    takes: Vec<Ipv4Addr>,
    unasked: Vec<Ipv4Addr>,
}

impl Asked {
    pub fn contains(&self, ip: &Ipv4Addr) -> bool {
        self.takes.contains(ip) || self.unasked.contains(ip)
    }

    /// Every address, those that take the key first.
    pub fn addresses(&self) -> impl Iterator<Item = &Ipv4Addr> {
        self.takes.iter().chain(&self.unasked)
    }
}

/// The adopted nodes of `planned` (but those `skip` names) that log in
/// with the temporary key where they still show the host key they were
/// classified with, or could not be asked ([`Probe::Unasked`], another
/// host key answering there too).
pub fn take_temporary_key(
    keys: &LoginKeys,
    planned: &[Planned],
    skip: impl Fn(&Planned) -> bool,
) -> Asked {
    let (Some(temporary), Ok(known_hosts)) = (
        keys.temporary.as_deref(),
        KnownHosts::open(keys.known_hosts.clone()),
    ) else {
        return Asked::default();
    };
    let adopted: Vec<&Planned> = planned
        .iter()
        .filter(|p| p.candidate.class == Class::Adopted && p.action == Action::Leave && !skip(p))
        .collect();
    let probes = parallel::map(&adopted, PARALLEL, |p| {
        let c = &p.candidate;
        let reached = known_hosts.connect(IpAddr::V4(c.ip), keys.port, SSH_TIMEOUT);
        let shown = reached.as_ref().map(|r| &r.key.fingerprint);
        if let Some(probe) = before_login(shown, c.host_key.as_ref()) {
            return probe;
        }
        let Ok(Reached { conn, .. }) = reached else {
            return Probe::Unasked;
        };
        match conn.authenticate(&keys.user, temporary) {
            Ok(()) => Probe::Takes,
            Err(SshError::Denied) => Probe::Refuses,
            Err(_) => Probe::Unasked,
        }
    });
    let mut asked = Asked::default();
    for (p, probe) in adopted.iter().zip(probes) {
        match probe {
            Probe::Takes => asked.takes.push(p.candidate.ip),
            Probe::Unasked => asked.unasked.push(p.candidate.ip),
            Probe::Refuses => {}
        }
    }
    asked
}

/// What is known of an adopted node before logging in, from the host key
/// its address answered with (`shown`, or why there is none) and the one
/// it was classified with: `None` to ask it (the same host key). Another
/// host key (another type, a weak one, another fingerprint) is not the
/// node saying no: whoever holds the address now (an ARP spoof, a new
/// lease) hides it, so it could not be asked.
fn before_login(
    shown: Result<&Fingerprint, &Unreached>,
    classified: Option<&Fingerprint>,
) -> Option<Probe> {
    match shown {
        Ok(key) if classified == Some(key) => None,
        _ => Some(Probe::Unasked),
    }
}

/// What asking an adopted node whether it takes the temporary key found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    Takes,
    /// It refused the key.
    Refuses,
    /// No answer either way: the connection failed, timed out or was
    /// dropped, or another host key answered at its address. Counted as a no, one slow answer would let setup end
    /// `done` with the node still taking the public temporary key.
    Unasked,
}

/// The adopted nodes whose rotation did not finish and that may take the
/// temporary key still, by what asking them found: each is named with
/// what was seen, never "takes" for one that could not be asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lingering {
    /// They took the key when asked.
    pub takes: Vec<String>,
    /// They could not be asked.
    pub unasked: Vec<String>,
}

impl Lingering {
    /// What fails the run, naming each node with what was seen of it;
    /// `None` when no node is left.
    pub fn problem(&self) -> Option<String> {
        let part = |nodes: &[String], say: &str| {
            (!nodes.is_empty()).then(|| format!("{} {say} ({})", nodes.len(), nodes.join(", ")))
        };
        let parts: Vec<String> = [
            part(
                &self.takes,
                "adopted node(s) still take the temporary key and could not be rotated",
            ),
            part(
                &self.unasked,
                "adopted node(s) could not be asked whether they still take the temporary key, nor rotated",
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| {
            format!(
                "{}: the temporary key is kept; run rccr setup again once they are reachable",
                parts.join("; ")
            )
        })
    }
}

/// The nodes of `reports` at the addresses of `asked` that may take the
/// temporary key still, by what their rotation says: a node that refused
/// it since (`refused`: it took it no more when rotated) or answered at
/// another address (`moved`: its report there tells) is not one of them.
/// One that could not be asked, but whose rotation logged in with the
/// temporary key, was seen taking it.
pub fn still_take(reports: &[Report], asked: &Asked) -> Lingering {
    let mut lingering = Lingering::default();
    for r in reports
        .iter()
        .filter(|r| r.outcome.may_take_temporary_key())
    {
        let IpAddr::V4(ip) = r.node.ip else { continue };
        let list =
            if asked.takes.contains(&ip) || (asked.unasked.contains(&ip) && r.old_key_logged_in) {
                &mut lingering.takes
            } else if asked.unasked.contains(&ip) {
                &mut lingering.unasked
            } else {
                continue;
            };
        list.push(r.node.to_string());
    }
    lingering
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::addr::NodeAddr;
    use crate::keys::control::engine::Outcome;

    fn report(ip: [u8; 4], outcome: Outcome) -> Report {
        Report {
            node: NodeAddr {
                ip: IpAddr::V4(ip.into()),
                port: 22,
            },
            outcome,
            detail: String::new(),
            host_key: None,
            old_key_logged_in: false,
        }
    }

    #[test]
    fn an_adopted_node_that_could_not_be_asked_is_rotated_with_those_that_take_the_key() {
        use crate::setup::discover::Candidate;
        // An SSH server that drops every connection at once (sshd over
        // MaxStartups, a node busy or going down).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
        let dir = crate::fsutil::scratch::Dir::new("lingering-unasked");
        dir.file("temp_key", "not read: the connection fails first\n");
        let keys = LoginKeys {
            user: "root".into(),
            port,
            cluster: None,
            temporary: Some(dir.join("temp_key")),
            known_hosts: dir.join("known_hosts"),
        };
        let mut candidate = Candidate::at(Ipv4Addr::LOCALHOST, None);
        candidate.class = Class::Adopted;
        let planned = [Planned {
            candidate,
            action: Action::Leave,
            rotation: None,
        }];
        let asked = take_temporary_key(&keys, &planned, |_| false);
        assert_eq!(
            asked,
            Asked {
                takes: Vec::new(),
                unasked: vec![Ipv4Addr::LOCALHOST]
            }
        );
        assert!(asked.contains(&Ipv4Addr::LOCALHOST));
        assert_eq!(
            take_temporary_key(&keys, &planned, |_| true),
            Asked::default()
        );
    }

    /// Another host key at an adopted node's address is a question not
    /// answered, never a refusal of the temporary key (it was: an ARP
    /// spoof during the probe let setup exit 0 with the node still taking
    /// it; review setup-flow, finding 3).
    #[test]
    fn another_host_key_at_an_adopted_node_is_not_a_refusal() {
        let classified = Fingerprint::parse("SHA256:NODE").unwrap();
        let other = Fingerprint::parse("SHA256:OTHER").unwrap();
        let unasked = Some(Probe::Unasked);
        assert_eq!(before_login(Ok(&classified), Some(&classified)), None);
        assert_eq!(before_login(Ok(&other), Some(&classified)), unasked);
        assert_eq!(before_login(Ok(&other), None), unasked);
        for why in [
            Unreached::OtherType("rsa".into()),
            Unreached::WeakHostKey("weak".into()),
            Unreached::Failed("timeout".into()),
        ] {
            assert_eq!(
                before_login(Err(&why), Some(&classified)),
                unasked,
                "{why:?}"
            );
        }
    }

    #[test]
    fn a_lingering_node_is_listed_only_while_its_rotation_says_it_may_take_the_temporary_key() {
        let lingering = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
        for (outcome, listed) in [
            (Outcome::Rotated, false),
            // Refuses the temporary key now (gone between the check and
            // the rotation) and the rotation's new key: no longer lingering.
            (Outcome::Refused, false),
            // Its report at its new address tells.
            (Outcome::Moved, false),
            // Listed as volatile instead.
            (Outcome::RotatedVolatile, false),
            (Outcome::Reverted, true),
            (Outcome::Unreachable, true),
            (Outcome::HostKeyMismatch, true),
            (Outcome::WeakHostKey, true),
            (Outcome::Incomplete, true),
        ] {
            let reports = [
                report([10, 0, 0, 1], outcome),
                // A new node, not lingering, whatever its outcome.
                report([10, 0, 0, 9], Outcome::Reverted),
            ];
            let want = if listed {
                vec!["10.0.0.1".to_string()]
            } else {
                Vec::new()
            };
            let asked = Asked {
                takes: lingering.to_vec(),
                unasked: Vec::new(),
            };
            let left = still_take(&reports, &asked);
            assert_eq!(left.takes, want, "{outcome:?}");
            assert!(left.unasked.is_empty(), "{outcome:?}");
        }
    }

    #[test]
    fn a_lingering_node_that_could_not_be_asked_is_never_said_to_take_the_key() {
        let asked = Asked {
            takes: vec![Ipv4Addr::new(10, 0, 0, 1)],
            unasked: vec![Ipv4Addr::new(10, 0, 0, 2)],
        };
        let reports = [
            report([10, 0, 0, 1], Outcome::Unreachable),
            report([10, 0, 0, 2], Outcome::Unreachable),
        ];
        assert_eq!(
            still_take(&reports, &asked),
            Lingering {
                takes: vec!["10.0.0.1".into()],
                unasked: vec!["10.0.0.2".into()],
            }
        );
        let said = still_take(&reports, &asked).problem().unwrap();
        for part in [
            "1 adopted node(s) still take the temporary key and could not be rotated (10.0.0.1)",
            "1 adopted node(s) could not be asked whether they still take the temporary key, nor rotated (10.0.0.2)",
        ] {
            assert!(said.contains(part), "{part}: {said}");
        }
        // Its rotation logged in with the temporary key: it was reached,
        // and seen taking it.
        let mut reached = report([10, 0, 0, 2], Outcome::Incomplete);
        reached.old_key_logged_in = true;
        assert_eq!(
            still_take(&[reached], &asked),
            Lingering {
                takes: vec!["10.0.0.2".into()],
                unasked: Vec::new(),
            }
        );
        let unasked_only = Lingering {
            takes: Vec::new(),
            unasked: vec!["10.0.0.2".into()],
        };
        let said = unasked_only.problem().unwrap();
        assert!(!said.contains("still take the temporary key and"), "{said}");
        assert_eq!(Lingering::default().problem(), None);
    }
}
