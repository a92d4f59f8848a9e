//! Hostnames: which ones we trust, how they are shown, whether they are
//! ours, and reading them over SSH with the temporary key.
//!
//! A hostname arrives from DNS or from a host's own `hostname` command, so
//! it is whatever the network says. It is kept as received (JSON escapes
//! it), shown through [`crate::print::name`], never handed to a shell, and
//! can only match the filter if it is a valid DNS name: labels that each
//! follow the one hostname rule ([`crate::identity::check_hostname`]).
//! `rccr setup` keeps none of it that is not one ([`crate::identity::Hostname`]).
//! Reading it over SSH is bounded like every read from a host.
use super::{Host, MacAddr, NameSource};
use crate::error::Error;
use crate::identity::{name_matches, MAX_DNS_NAME_LEN, MAX_FACTS_LEN};
use crate::parallel;
use crate::print;
use crate::ssh::{Connection, Limits, SshError};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// The user the temporary key logs in as, unless the config or --user
/// names another (the config's own default too).
pub const DEFAULT_SSH_USER: &str = "root";
/// The port probed and logged in to, unless the config or --port names
/// another.
pub const DEFAULT_SSH_PORT: u16 = 22;
/// The command that prints a host's name: fixed text, nothing interpolated.
pub const HOSTNAME_COMMAND: &str = "hostname";
/// How long one host may take to connect, authenticate and answer: each
/// blocking step is bounded by this.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(5);
/// SSH logins in flight at once.
pub const SSH_PARALLEL: usize = 16;

/// The most addresses one MAC is logged in to at: a host that answers ARP
/// at a whole block (proxy ARP, a local route) would otherwise have every
/// address of it logged in to, 65,534 on a /16, about 5 s each when the
/// handshakes stall.
pub const MAX_LOGINS_PER_MAC: usize = 64;

/// The most logins of one run, whatever the MACs: a host answering ARP
/// from a new MAC at every address (or from two at each) escapes any cap
/// per MAC. Each step of a login is bounded (5 s, the command 10 s), not
/// the login: a host that stalls every step to just short of its bound
/// holds a login about 35 s in setup and 25 s in scan, so 1,024 such
/// logins take up to about 19 minutes at setup's 32 at once, 27 at scan's
/// 16 (a stall at the first step, 3 and 6); a LAN with more SSH hosts than that is
/// swept a smaller subnet at a time.
pub const MAX_LOGINS: usize = 1024;

/// Which hosts a run logs in to ([`login_budget`]), and what it left out.
#[derive(Debug, PartialEq, Eq)]
pub struct LoginBudget {
    /// One per host: log in there.
    pub chosen: Vec<bool>,
    /// Each MAC that answered at more than [`MAX_LOGINS_PER_MAC`] of the
    /// SSH hosts, and at how many.
    pub capped: Vec<(MacAddr, usize)>,
    /// The SSH hosts left out because the run had made [`MAX_LOGINS`].
    pub over_budget: usize,
}

/// The one rule for which of `hosts` (sorted by address) setup's
/// discovery and `scan --ssh-names` log in to: hosts with the SSH port
/// open, those `first` picks before the others (setup: the inventory's
/// nodes), each in address order; a MAC at its lowest
/// [`MAX_LOGINS_PER_MAC`] addresses only, and [`MAX_LOGINS`] in all.
/// An address several MACs answered for counts for each of them, and is
/// logged in to while one of them is under its cap: a host answering for
/// many cannot hide a real one that answers there too, nor make its
/// answers from two MACs twice the cap.
pub fn login_budget(hosts: &[Host], first: &dyn Fn(&Host) -> bool) -> LoginBudget {
    let tier = |is_first: bool| {
        hosts
            .iter()
            .enumerate()
            .filter(move |(_, h)| h.ssh && first(h) == is_first)
            .map(|(i, _)| i)
    };
    let order = tier(true).chain(tier(false));
    let mut seen: std::collections::BTreeMap<MacAddr, usize> = std::collections::BTreeMap::new();
    let mut chosen = vec![false; hosts.len()];
    let (mut made, mut over_budget) = (0, 0);
    for i in order {
        let h = &hosts[i];
        let mut under_cap = h.mac.is_none();
        for mac in h.mac.iter().chain(&h.other_macs) {
            let n = seen.entry(*mac).or_default();
            *n += 1;
            under_cap |= *n <= MAX_LOGINS_PER_MAC;
        }
        if !under_cap {
            continue;
        }
        if made == MAX_LOGINS {
            over_budget += 1;
            continue;
        }
        chosen[i] = true;
        made += 1;
    }
    let capped = seen
        .into_iter()
        .filter(|(_, n)| *n > MAX_LOGINS_PER_MAC)
        .collect();
    LoginBudget {
        chosen,
        capped,
        over_budget,
    }
}

impl LoginBudget {
    /// One warning per capped MAC, and one for the logins over budget.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings: Vec<String> = self
            .capped
            .iter()
            .map(|(mac, count)| {
                format!(
                    "{mac} answered ARP at {count} addresses: logged in to at its lowest \
                     {MAX_LOGINS_PER_MAC} only, not at the other {} this run (a host answering \
                     for a whole block: proxy ARP, a local route)",
                    count - MAX_LOGINS_PER_MAC
                )
            })
            .collect();
        if self.over_budget > 0 {
            warnings.push(format!(
                "more SSH hosts than the {MAX_LOGINS} logins of one run: not logged in at {} \
                 address(es) (the highest); sweep a smaller subnet at a time (--subnet)",
                self.over_budget
            ));
        }
        warnings
    }
}

/// A name as received, if we keep it at all: empty or over-long names are
/// dropped.
pub fn accept(name: &str) -> Option<String> {
    (!name.is_empty() && name.len() <= MAX_DNS_NAME_LEN).then(|| name.to_string())
}

/// Whether `host` is ours: its name matches and, if we tried, our key
/// logged in.
pub fn matches(host: &Host, filter: &str) -> bool {
    host.login != Some(false)
        && host
            .hostname
            .as_deref()
            .is_some_and(|n| name_matches(n, filter))
}

/// How to log in to read a name.
#[derive(Debug, Clone, Copy)]
pub struct Login<'a> {
    pub user: &'a str,
    pub port: u16,
    /// The temporary private key.
    pub key: &'a Path,
}

/// Logs in to `ip` as `login` says and returns what `hostname` prints.
pub fn read_hostname(ip: Ipv4Addr, login: &Login) -> Result<String, SshError> {
    let mut conn = Connection::open(SocketAddr::from((ip, login.port)), SSH_TIMEOUT)?;
    conn.authenticate(login.user, login.key)?;
    conn.set_limits(Limits {
        max_output: MAX_FACTS_LEN,
        deadline: 2 * SSH_TIMEOUT,
    });
    let out = conn.run(HOSTNAME_COMMAND, b"")?;
    if !out.success() {
        return Err(SshError::Protocol(format!(
            "hostname exited with status {}",
            out.status
        )));
    }
    Ok(out.text())
}

/// Reads the name of every host with the SSH port open, several at a
/// time. A name read this way replaces the DNS one; a host that does not
/// let us in is marked so (`login: Some(false)`) and can no longer match.
///
/// Out of file descriptors, logins are not a host's answer: those that
/// found no socket, or could not open the key file, are tried again one at
/// a time once the others are over. Fails when one still finds no socket.
pub fn ssh_names(
    hosts: &mut [Host],
    login: &Login,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let budget = login_budget(hosts, &|_| false);
    warnings.extend(budget.warnings());
    let todo: Vec<usize> = (0..hosts.len()).filter(|&i| budget.chosen[i]).collect();
    let ips: Vec<Ipv4Addr> = todo.iter().map(|&i| hosts[i].ip).collect();
    let mut results = parallel::map(&ips, SSH_PARALLEL, |ip| read_hostname(*ip, login));
    // A key file that cannot be read alone is not worth trying again.
    let mut key_unreadable = false;
    for (result, ip) in results.iter_mut().zip(&ips) {
        let again = match result {
            Err(SshError::Unreachable(e)) => super::out_of_sockets(e),
            Err(SshError::KeyFile(_)) => !key_unreadable,
            _ => false,
        };
        if !again {
            continue;
        }
        match read_hostname(*ip, login) {
            Err(SshError::Unreachable(e)) if super::out_of_sockets(&e) => {
                let what = format!("log in to {ip}, with no other login open");
                return Err(super::out_of_sockets_error(&what, e));
            }
            retried => {
                key_unreadable |= matches!(retried, Err(SshError::KeyFile(_)));
                *result = retried;
            }
        }
    }
    apply_logins(hosts, &todo, results, login.key, warnings);
    Ok(())
}

/// Records what each login of `todo` (indices into `hosts`) gave. A key
/// that libssh2 cannot use fails every login the same way and says nothing
/// about the hosts: one warning for it, and those hosts stay untried
/// (`login: None`) rather than "not ours".
fn apply_logins(
    hosts: &mut [Host],
    todo: &[usize],
    results: Vec<Result<String, SshError>>,
    key: &Path,
    warnings: &mut Vec<String>,
) {
    let mut key_problem = None;
    for (result, &i) in results.into_iter().zip(todo) {
        let host = &mut hosts[i];
        match result {
            Ok(name) => {
                host.login = Some(true);
                match accept(&name) {
                    Some(name) => {
                        host.hostname = Some(name);
                        host.name_source = Some(NameSource::Ssh);
                    }
                    None => warnings.push(format!(
                        "{}: the hostname it gave over SSH is empty or too long; ignored",
                        host.ip
                    )),
                }
            }
            Err(SshError::KeyFile(why)) => {
                key_problem.get_or_insert(why);
            }
            Err(e) => {
                host.login = Some(false);
                let name = host.hostname.as_deref().map(print::name);
                let named = name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                warnings.push(format!(
                    "{}{named}: cannot log in with the temporary key ({e}); not treated as ours",
                    host.ip
                ));
            }
        }
    }
    if let Some(why) = key_problem {
        warnings.push(format!(
            "{}: the temporary key cannot be used ({}); hosts were named without SSH",
            key.display(),
            print::text(&why)
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_drops_empty_and_overlong_names() {
        assert_eq!(accept(""), None);
        assert_eq!(accept(&"a".repeat(254)), None);
        assert_eq!(accept(&"a".repeat(253)).map(|s| s.len()), Some(253));
        assert_eq!(accept("bad name").as_deref(), Some("bad name"));
    }

    /// An unusable key fails every login alike: said once, and no host is
    /// marked as refusing it.
    #[test]
    fn an_unusable_key_is_one_warning_and_no_host_refused_it() {
        let mut hosts: Vec<Host> = (1..=3)
            .map(|n| Host::new(Ipv4Addr::new(10, 0, 0, n), None))
            .collect();
        let results = (0..3)
            .map(|_| Err(SshError::KeyFile("Unsupported key type".into())))
            .collect();
        let mut warnings = Vec::new();
        apply_logins(
            &mut hosts,
            &[0, 1, 2],
            results,
            Path::new("/k"),
            &mut warnings,
        );
        assert_eq!(
            warnings,
            ["/k: the temporary key cannot be used (Unsupported key type); hosts were named without SSH"]
        );
        assert!(hosts.iter().all(|h| h.login.is_none()));
        // A host that refused the key is still told by itself.
        let results = vec![Ok("node-1".into()), Err(SshError::Denied)];
        let mut warnings = Vec::new();
        apply_logins(&mut hosts, &[0, 1], results, Path::new("/k"), &mut warnings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(hosts[0].login, Some(true));
        assert_eq!(hosts[1].login, Some(false));
    }

    fn ssh_host(i: u32, mac: u8) -> Host {
        let mut h = Host::new(
            Ipv4Addr::from(0x0a00_0001 + i),
            Some(MacAddr([2, 0, 0, 0, 0, mac])),
        );
        h.ssh = true;
        h
    }

    /// One MAC at more addresses than the cap: its lowest are logged in
    /// to; an address another MAC answered for too all the same; hosts
    /// without SSH count for nothing.
    #[test]
    fn a_mac_at_too_many_addresses_is_logged_in_to_at_its_lowest_only() {
        let cap = MAX_LOGINS_PER_MAC as u32;
        let mut hosts: Vec<Host> = (0..cap + 3).map(|i| ssh_host(i, 1)).collect();
        hosts.push(ssh_host(cap + 3, 2));
        let mut no_ssh = ssh_host(cap + 4, 1);
        no_ssh.ssh = false;
        hosts.insert(0, no_ssh);
        let last = MAX_LOGINS_PER_MAC + 2;
        hosts[last].other_macs.push(MacAddr([2, 0, 0, 0, 0, 2]));
        let budget = login_budget(&hosts, &|_| false);
        let skipped: Vec<usize> = (0..hosts.len()).filter(|i| !budget.chosen[*i]).collect();
        assert_eq!(skipped, [0, MAX_LOGINS_PER_MAC + 1, MAX_LOGINS_PER_MAC + 3]);
        assert_eq!(
            budget.capped,
            [(MacAddr([2, 0, 0, 0, 0, 1]), MAX_LOGINS_PER_MAC + 3)]
        );
        assert_eq!(budget.over_budget, 0);
        assert_eq!(budget.warnings().len(), 1);
    }

    /// Review F2: answering from two MACs at every address, or from a new
    /// MAC at each, the per-MAC cap is no bound: the run's is.
    #[test]
    fn many_macs_at_many_addresses_get_the_run_s_logins_and_no_more() {
        let n = 3 * MAX_LOGINS as u32;
        let two: Vec<Host> = (0..n)
            .map(|i| {
                let mut h = ssh_host(i, 1);
                h.other_macs.push(MacAddr([2, 0, 0, 0, 0, 2]));
                h
            })
            .collect();
        let budget = login_budget(&two, &|_| false);
        assert_eq!(
            budget.chosen.iter().filter(|c| **c).count(),
            MAX_LOGINS_PER_MAC
        );
        let many: Vec<Host> = (0..n)
            .map(|i| {
                let mut h = ssh_host(i, 0);
                h.mac = Some(MacAddr([2, 1, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]));
                h
            })
            .collect();
        let budget = login_budget(&many, &|_| false);
        assert_eq!(budget.chosen.iter().filter(|c| **c).count(), MAX_LOGINS);
        assert!(budget.chosen[..MAX_LOGINS].iter().all(|c| *c));
        assert_eq!(budget.over_budget, n as usize - MAX_LOGINS);
        let warnings = budget.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains(&format!(
                "not logged in at {} address(es)",
                n as usize - MAX_LOGINS
            )) && warnings[0].contains("--subnet"),
            "{warnings:?}"
        );
        // The hosts picked first (setup: the inventory's nodes) are logged
        // in to whatever their address.
        let highest = many.len() - 1;
        let budget = login_budget(&many, &|h| h.ip == many[highest].ip);
        assert!(budget.chosen[highest]);
        assert!(!budget.chosen[MAX_LOGINS - 1]);
    }

    #[test]
    fn a_refused_login_is_never_ours() {
        let mut host = Host::new("10.0.0.5".parse().unwrap(), None);
        host.hostname = Some("ReCyClusteR-Imposter".into());
        assert!(matches(&host, "ReCyClusteR"));
        host.login = Some(false);
        assert!(!matches(&host, "ReCyClusteR"));
        assert!(host.is_interesting());
    }
}
