//! Stages 1 and 2 of setup: discover the LAN's hosts with the scan engine,
//! then classify each by logging in. Nothing is written anywhere.
use crate::config::Config;
use crate::error::Error;
use crate::identity::{name_matches, Arch, Mac, Role};
use crate::parallel;
use crate::scan;
use crate::ssh::{Connection, SshError};
use crate::wire::ipv4::Cidr;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// SSH logins during discovery, at once.
const PARALLEL: usize = 32;
pub const SSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How discovery sorted a live host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Accepts the temporary key and is named like a node: to adopt.
    New,
    /// Accepts the cluster key: already ours.
    Adopted,
    /// Accepts the temporary key, but its name lacks the filter.
    Foreign,
    /// Accepts none of our keys.
    Refused,
    /// Port 22 closed, or no SSH conversation.
    NoSsh,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::New => "new",
            Class::Adopted => "adopted",
            Class::Foreign => "foreign",
            Class::Refused => "refused",
            Class::NoSsh => "no-ssh",
        }
    }

    /// Whether the host is a node of the cluster, now or after this run.
    pub fn is_node(self) -> bool {
        matches!(self, Class::New | Class::Adopted)
    }
}

/// A live host and what we learnt about it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub ip: Ipv4Addr,
    pub mac: Option<Mac>,
    /// The authoritative name (read over SSH), else the DNS one.
    pub hostname: Option<String>,
    pub arch: Option<Arch>,
    pub host_key: Option<String>,
    pub class: Class,
    pub role: Role,
}

/// The keys and login settings discovery tries.
pub struct LoginKeys {
    pub user: String,
    pub port: u16,
    pub cluster: Option<PathBuf>,
    pub temporary: Option<PathBuf>,
}

/// Which subnets and interface to sweep: the command line's, else the
/// config's, else the scan engine's defaults.
pub fn scan_options(config: &Config, subnets: &[Cidr], iface: Option<&str>) -> scan::Options {
    let mut opts = scan::Options::new(&config.discovery.hostname_filter);
    opts.subnets = if subnets.is_empty() {
        config.network.subnet.iter().copied().collect()
    } else {
        subnets.to_vec()
    };
    opts.iface = iface
        .map(str::to_string)
        .or(config.network.interface.clone());
    opts.timeout = Duration::from_millis(u64::from(config.discovery.timeout_ms).max(100));
    opts
}

/// Sweeps the LAN and classifies every live host; roles come from the
/// config's pins (targets otherwise).
pub fn discover(
    config: &Config,
    scan_opts: &scan::Options,
    keys: &LoginKeys,
) -> Result<Vec<Candidate>, Error> {
    let report = scan::run(scan_opts)?;
    for warning in &report.warnings {
        eprintln!("rccr setup: warning: {warning}");
    }
    let filter = &config.discovery.hostname_filter;
    let mut candidates =
        parallel::map(&report.hosts, PARALLEL, |host| classify(host, keys, filter));
    for c in &mut candidates {
        c.role = config
            .pin(c.mac)
            .and_then(|p| p.role)
            .unwrap_or(Role::Target);
    }
    Ok(candidates)
}

/// Logs in with the cluster key, else the temporary key, and reads the
/// host's name and architecture. Writes nothing anywhere.
fn classify(host: &scan::Host, keys: &LoginKeys, filter: &str) -> Candidate {
    let mut c = Candidate {
        ip: host.ip,
        mac: host.mac,
        hostname: host.hostname.clone(),
        arch: None,
        host_key: None,
        class: Class::NoSsh,
        role: Role::Target,
    };
    if !host.ssh {
        return c;
    }
    let addr = SocketAddr::from((host.ip, keys.port));
    let Ok(conn) = Connection::open(addr, SSH_TIMEOUT) else {
        return c;
    };
    c.host_key = conn.host_key().map(|k| k.fingerprint);
    let try_key = |key: &Option<PathBuf>| match key {
        Some(path) => conn.authenticate(&keys.user, path),
        None => Err(SshError::Denied),
    };
    let class = if try_key(&keys.cluster).is_ok() {
        Class::Adopted
    } else if try_key(&keys.temporary).is_ok() {
        Class::New
    } else {
        c.class = Class::Refused;
        return c;
    };
    match conn.run("hostname; uname -m", b"") {
        Ok(out) if out.success() => {
            let text = out.text();
            let mut lines = text.lines();
            c.hostname = lines.next().and_then(scan::names::accept).or(c.hostname);
            c.arch = lines.next().and_then(|a| a.parse().ok());
        }
        _ => {}
    }
    let named_ours = c
        .hostname
        .as_deref()
        .is_some_and(|n| name_matches(n, filter));
    c.class = match class {
        Class::New if !named_ours => Class::Foreign,
        other => other,
    };
    c
}
