//! The LAN scanner behind `rccr-scan` (and `rccr setup`).
//!
//! One run goes through four steps, each bounded in time:
//! 1. [`plan`]: which subnets to sweep, and how: ARP on the interface a
//!    subnet is attached to, ICMP echo for a subnet reached through a router.
//! 2. [`sweep`]: all requests at once (lightly paced), silent addresses asked
//!    again `retries` times, every reply checked against what we sent; a
//!    kernel neighbour entry an answer contradicts is deleted ([`neigh`]).
//! 3. [`lookup`]: one reverse (PTR) query and one TCP connect to the SSH
//!    port (`ssh_port`, 22 by default) for every live host, all in flight together, each started as soon as the
//!    sweep hears from the host (so they are mostly done when it is).
//! 4. With `ssh_key` set, [`names`]: log in as `ssh_user` with the
//!    temporary key and read `hostname`, which then beats the DNS name.
//!
//! [`Options::filter`] decides which hosts are ours; `rccr setup` passes
//! the one from its configuration.
use crate::error::Error;
use crate::sys;
use crate::wire::ethernet::Address as MacAddr;
use crate::wire::ipv4::Cidr;
use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

pub mod lookup;
pub mod names;
pub mod neigh;
pub mod output;
pub mod plan;
pub mod snapshot;
pub mod sweep;
pub mod vendor;

/// The filter used when no configuration names one.
pub const DEFAULT_FILTER: &str = crate::identity::NAME_PREFIX;
/// How long a sweep listens after its first requests, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(300);
/// How many times a silent address is asked again, by default.
pub const DEFAULT_RETRIES: u8 = 3;

/// What to sweep and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Subnets to sweep; empty means those of `iface` or the default route's.
    pub subnets: Vec<Cidr>,
    /// The interface whose subnets to sweep (or to use for `subnets`).
    pub iface: Option<String>,
    /// What named `iface`, for errors: `--iface`, or the config key.
    pub iface_from: String,
    /// A host is ours when its hostname contains this, ignoring case.
    pub filter: String,
    /// How long each step waits for answers, retries included.
    pub timeout: Duration,
    /// How many more times a silent address is asked, within `timeout`.
    pub retries: u8,
    /// Allow subnets larger than a /16.
    pub force: bool,
    /// The option that sets `force`, for errors; `None` where there is
    /// none (`rccr setup` sweeps a /16 at most).
    pub force_flag: Option<&'static str>,
    /// Log in with this private key to read each SSH host's `hostname`.
    pub ssh_key: Option<PathBuf>,
    /// The user `ssh_key` logs in as.
    pub ssh_user: String,
    /// The port probed for SSH, and logged in to.
    pub ssh_port: u16,
}

impl Options {
    /// Defaults, with the filter a configuration gives.
    pub fn new(filter: &str) -> Options {
        Options {
            subnets: Vec::new(),
            iface: None,
            iface_from: "--iface".into(),
            filter: filter.into(),
            timeout: DEFAULT_TIMEOUT,
            retries: DEFAULT_RETRIES,
            force: false,
            force_flag: Some("--force"),
            ssh_key: None,
            ssh_user: names::DEFAULT_SSH_USER.into(),
            ssh_port: names::DEFAULT_SSH_PORT,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new(DEFAULT_FILTER)
    }
}

/// Where a hostname came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    Dns,
    Ssh,
}

impl NameSource {
    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::Dns => "dns",
            NameSource::Ssh => "ssh",
        }
    }
}

/// One live host: what answered at its address, whether SSH let us in,
/// its name, and whether it is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub ip: Ipv4Addr,
    /// Known for hosts found by ARP; `None` for hosts behind a router.
    /// The MAC that answered first: with `other_macs`, not the host's for
    /// sure.
    pub mac: Option<MacAddr>,
    /// Other MACs that answered for this address (an address conflict, or a
    /// host answering for another): which one is the host's, the sweep
    /// cannot tell.
    pub other_macs: Vec<MacAddr>,
    /// The SSH port accepted a TCP connection.
    pub ssh: bool,
    /// With `ssh_key`: whether the key logged in (`None`: not tried).
    pub login: Option<bool>,
    /// As received (see [`names`] for how it is checked before display).
    pub hostname: Option<String>,
    pub name_source: Option<NameSource>,
    /// The hostname is a valid name containing the filter, and, if we tried
    /// to log in, the key was accepted.
    pub matches: bool,
}

impl Host {
    /// A host the sweep found at `ip`: nothing else known yet.
    pub fn new(ip: Ipv4Addr, mac: Option<MacAddr>) -> Host {
        Host {
            ip,
            mac,
            other_macs: Vec::new(),
            ssh: false,
            login: None,
            hostname: None,
            name_source: None,
            matches: false,
        }
    }

    /// Shown without `--all`: ours, unnamed SSH hosts (to be named), and
    /// hosts whose name claims to be ours but refused our key.
    pub fn is_interesting(&self) -> bool {
        self.matches || (self.hostname.is_none() && self.ssh) || self.login == Some(false)
    }
}

/// What a scan found, and what the user should hear about on stderr.
#[derive(Debug, Default)]
pub struct Report {
    /// Live hosts, sorted by address.
    pub hosts: Vec<Host>,
    pub warnings: Vec<String>,
    /// How long the whole scan took.
    pub elapsed: Duration,
}

/// A socket error: permission problems become the one "run as root" error.
pub(crate) fn socket_error(what: &str, e: io::Error) -> Error {
    if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
        Error::Permission(
            "sweeping the LAN needs raw sockets: run as root (or with CAP_NET_RAW)".into(),
        )
    } else {
        Error::io(what, e)
    }
}

/// The process cannot open another socket just now (descriptors or
/// kernel buffers are used up); closing one of ours may help.
pub(crate) fn out_of_sockets(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS)
    )
}

/// The one-line error for a socket that cannot be had even with none of
/// ours open: "cannot open a socket to `what`".
pub(crate) fn out_of_sockets_error(what: &str, e: io::Error) -> Error {
    let hint = match e.raw_os_error() {
        Some(libc::EMFILE) => "; raise the open file limit (ulimit -n)",
        _ => "",
    };
    Error::Failed(format!("cannot open a socket to {what}: {e}{hint}"))
}

/// Sweeps, names and classifies the hosts as `opts` asks.
pub fn run(opts: &Options) -> Result<Report, Error> {
    let started = std::time::Instant::now();
    let ifaces = sys::interfaces().map_err(|e| Error::io("cannot list network interfaces", e))?;
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let jobs = plan::plan(opts, &ifaces, plan::default_route_iface(&routes).as_deref())?;
    let mut report = Report::default();
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers = lookup::nameservers(&resolv);
    // Hosts are named and probed while the sweep still runs.
    let mut pending = lookup::Lookup::new(&servers, opts.timeout, opts.retries, opts.ssh_port)?;
    let swept = sweep::sweep(
        &jobs,
        opts.timeout,
        opts.retries,
        &mut report.warnings,
        Some(&mut pending),
    )?;
    pending.finish()?;
    let mut answers: BTreeMap<Ipv4Addr, lookup::Answer> = pending
        .into_answers()
        .into_iter()
        .map(|a| (a.ip, a))
        .collect();
    let mut hosts = Vec::with_capacity(swept.found.len());
    let mut left = Vec::new();
    let mut conflicts = swept.conflicts;
    for (ip, mac) in swept.found {
        let mut host = Host::new(ip, mac);
        host.other_macs = conflicts.remove(&ip).unwrap_or_default();
        match answers.remove(&ip) {
            Some(answer) => lookup::apply(&mut host, answer),
            None => left.push(hosts.len()),
        }
        hosts.push(host);
    }
    if !left.is_empty() {
        // More live hosts than one lookup takes: the rest now.
        let mut rest: Vec<Host> = left.iter().map(|&i| hosts[i].clone()).collect();
        lookup::lookup(
            &mut rest,
            &servers,
            opts.timeout,
            opts.retries,
            opts.ssh_port,
        )?;
        for (&i, host) in left.iter().zip(rest) {
            hosts[i] = host;
        }
    }
    if let Some(key) = &opts.ssh_key {
        let login = names::Login {
            user: &opts.ssh_user,
            port: opts.ssh_port,
            key,
        };
        names::ssh_names(&mut hosts, &login, &mut report.warnings)?;
    }
    for host in &mut hosts {
        host.matches = names::matches(host, &opts.filter);
    }
    report.hosts = hosts;
    report.elapsed = started.elapsed();
    Ok(report)
}
