//! Stage 4 of setup: give new nodes their planned names, over the
//! temporary key. The node renames itself with its own rccr (`rccr init
//! --hostname NAME`, the same code that names it at first boot), so a name
//! is written the same way wherever it comes from.
use super::discover::{LoginKeys, SSH_TIMEOUT};
use super::plan::{Action, Planned};
use crate::identity::Hostname;
use crate::parallel;
use crate::print;
use crate::ssh::{shell_quote, Connection, Fingerprint};
use std::net::{Ipv4Addr, SocketAddr};

/// Renames at once.
const PARALLEL: usize = 32;

/// Renames every node whose plan says so. A node that cannot be renamed
/// is not adopted this run ([`Planned::not_renamed`]): recorded under the
/// name it has, it could share it with another node (the plan gave it a
/// new one because its own is another's, or a default).
pub fn rename_all(planned: &mut [Planned], keys: &LoginKeys) {
    let todo: Vec<(usize, Hostname)> = planned
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match &p.action {
            Action::Adopt { rename: Some(name) } => Some((i, name.clone())),
            _ => None,
        })
        .collect();
    let results = parallel::map(&todo, PARALLEL, |(i, name)| {
        let c = &planned[*i].candidate;
        rename(keys, c.ip, c.host_key.as_ref(), name)
    });
    for ((i, name), result) in todo.into_iter().zip(results) {
        let c = &mut planned[i].candidate;
        match result {
            Ok(()) => {
                print::progress(super::PROGRAM, &format!("{}: renamed to {name}", c.ip));
                c.hostname = Some(name);
            }
            Err(e) => {
                let why = format!("could not be renamed to {name}: {e}; not adopted this run");
                eprintln!("rccr setup: {}: {}", c.ip, print::text(&why));
                planned[i].not_renamed(why);
            }
        }
    }
}

/// Renames the node at `ip`, over a connection whose host key must be the
/// one classification saw (`host_key`): nothing is sent to another machine.
fn rename(
    keys: &LoginKeys,
    ip: Ipv4Addr,
    host_key: Option<&Fingerprint>,
    name: &str,
) -> Result<(), String> {
    let key = keys.temporary.as_ref().ok_or("no temporary key")?;
    let conn = Connection::open(SocketAddr::from((ip, keys.port)), SSH_TIMEOUT)
        .map_err(|e| e.to_string())?;
    let presented = conn.host_key().map(|k| k.fingerprint);
    if presented.as_ref() != host_key || host_key.is_none() {
        return Err(format!(
            "its host key changed since it was classified ({}): not renamed",
            presented.map_or("none".into(), |k| k.to_string())
        ));
    }
    conn.authenticate(&keys.user, key)
        .map_err(|e| e.to_string())?;
    let out = conn
        .run(&format!("rccr init --hostname {}", shell_quote(name)), b"")
        .map_err(|e| e.to_string())?;
    if out.success() {
        Ok(())
    } else {
        Err(out.error_line())
    }
}
