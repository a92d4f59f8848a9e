//! Adopted nodes that still take the temporary key. Discovery tries the
//! temporary key only where the cluster key is refused, and the journal
//! names a half-rotated node only until it is moved away or an older
//! backup restored: a node staged whose revert timer then died (and whose
//! control died too) takes both keys for good, and setup called it
//! adopted. Each adopted node is asked on a connection of its own; those
//! that take the temporary key are rotated with the new nodes (the
//! rotation's commit removes it).
use super::discover::{Class, LoginKeys, SSH_TIMEOUT};
use super::plan::{Action, Planned};
use crate::keys::control::engine::Report;
use crate::keys::control::known_hosts::{KnownHosts, Reached};
use crate::parallel;
use std::net::{IpAddr, Ipv4Addr};

/// Asks at once.
const PARALLEL: usize = 32;

/// The addresses of the adopted nodes of `planned` (but those `skip`
/// names) that log in with the temporary key, where they still show the
/// host key they were classified with.
pub fn take_temporary_key(
    keys: &LoginKeys,
    planned: &[Planned],
    skip: impl Fn(&Planned) -> bool,
) -> Vec<Ipv4Addr> {
    let (Some(temporary), Ok(known_hosts)) = (
        keys.temporary.as_deref(),
        KnownHosts::open(keys.known_hosts.clone()),
    ) else {
        return Vec::new();
    };
    let adopted: Vec<&Planned> = planned
        .iter()
        .filter(|p| p.candidate.class == Class::Adopted && p.action == Action::Leave && !skip(p))
        .collect();
    let accepts = parallel::map(&adopted, PARALLEL, |p| {
        let c = &p.candidate;
        let reached = known_hosts.connect(IpAddr::V4(c.ip), keys.port, SSH_TIMEOUT);
        reached.is_ok_and(|Reached { conn, key }| {
            c.host_key.as_ref() == Some(&key.fingerprint)
                && conn.authenticate(&keys.user, temporary).is_ok()
        })
    });
    adopted
        .iter()
        .zip(accepts)
        .filter_map(|(p, accepts)| accepts.then_some(p.candidate.ip))
        .collect()
}

/// The nodes of `reports` at the addresses of `lingering` (those that took
/// the temporary key when asked) that may take it still, by what their
/// rotation says: a node that refused it since (`refused`: it took it no
/// more when rotated) or answered at another address (`moved`: its report
/// there tells) is not one of them.
pub fn still_take(reports: &[Report], lingering: &[Ipv4Addr]) -> Vec<String> {
    reports
        .iter()
        .filter(|r| matches!(r.node.ip, IpAddr::V4(ip) if lingering.contains(&ip)))
        .filter(|r| r.outcome.may_take_temporary_key())
        .map(|r| r.node.to_string())
        .collect()
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
            assert_eq!(still_take(&reports, &lingering), want, "{outcome:?}");
        }
    }
}
