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
