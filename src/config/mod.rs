//! The cluster configuration, `cluster_config.yml`.
//!
//! Lookup order: `--config PATH`, else `./cluster_config.yml`, else
//! `/etc/rccr/cluster_config.yml` (what the images ship), else the built-in
//! defaults, which are the same values the shipped file spells out.
//!
//! The file is read with [`yaml`], a strict YAML subset. Malformed YAML and
//! wrong types are [`Error::BadInput`] (exit 3) naming `file:line:col`;
//! unknown keys are warnings that suggest the closest known key.
//! `docs/config.md` documents every key.
//!
//! - this file: the types a configuration is made of;
//! - [`load`]: where the file is looked for and how its bytes are checked;
//! - [`schema`]: the value tree read into those types, key by key;
//! - [`parse`]: the small value parsers (ports, key suggestions);
//! - [`yaml`]: the YAML subset.
use crate::identity::{Arch, Mac, Role};
use crate::wire::ipv4::Cidr;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub mod load;
pub mod parse;
mod schema;
#[cfg(test)]
mod testdata;
pub mod yaml;

pub use crate::keys::KeyType;
pub use parse::{closest, parse_port};
use yaml::Pos;

/// The name looked for in the working directory.
pub const FILE_NAME: &str = "cluster_config.yml";
/// Where the images install the file.
pub const SYSTEM_PATH: &str = "/etc/rccr/cluster_config.yml";
/// A bigger file is refused: it is not a config file.
pub const MAX_SIZE: usize = 1 << 20;

/// The cluster (its name, its swarm's shape, its pinned nodes), how setup
/// finds and reaches nodes, and what runs on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub cluster: Cluster,
    pub swarm: Swarm,
    /// Names or roles pinned by MAC address.
    pub nodes: Vec<NodePin>,
    pub network: Network,
    pub discovery: Discovery,
    pub ssh: Ssh,
    /// Ansible playbooks to run, in order.
    pub playbooks: Vec<PathBuf>,
    /// Services to deploy on the swarm.
    pub containers: Vec<Container>,
}

/// The swarm's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swarm {
    /// How many managers, instead of the count by the swarm's size.
    pub managers: Option<u8>,
    /// How long setup waits for every service to run all its replicas:
    /// first pulls on Pi-class nodes over Wi-Fi can take minutes.
    pub services_timeout: Duration,
}

impl Swarm {
    /// `swarm.services_timeout_s` unset.
    pub const DEFAULT_SERVICES_TIMEOUT: Duration = Duration::from_secs(90);
    /// Its bounds, in seconds.
    pub const SERVICES_TIMEOUT_S: (i64, i64) = (1, 3600);
}

impl Default for Swarm {
    fn default() -> Self {
        Swarm {
            managers: None,
            services_timeout: Swarm::DEFAULT_SERVICES_TIMEOUT,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
}

/// Where to look for nodes; both unset means every interface's own subnet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    pub subnet: Option<Cidr>,
    pub interface: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// Hosts whose name contains this (case-insensitively) are nodes; never
    /// empty (an empty filter would take every host).
    pub hostname_filter: String,
    /// How long setup's scan waits for a reply, in milliseconds (`rccr-scan
    /// --timeout-ms`): 100 to 60000.
    pub timeout_ms: u32,
    /// Which new nodes setup adopts.
    pub adopt: AdoptPolicy,
}

/// `discovery.adopt`: which new nodes setup may adopt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdoptPolicy {
    /// `any`: every new node named like one (the default).
    Any,
    /// `listed`: only nodes whose MAC address is under `nodes:`.
    Listed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ssh {
    pub user: String,
    pub port: u16,
    /// The temporary private key, if the file names one; otherwise it is
    /// looked for where [`crate::keys::resolve`] says.
    pub temp_key: Option<NamedPath>,
    /// The type of the cluster key that replaces it.
    pub key_type: KeyType,
}

/// What is pinned to a node (a hostname and/or role, whether it is a
/// manager), and the MAC address it is recognised by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePin {
    pub hostname: Option<String>,
    pub role: Option<Role>,
    /// Always a swarm manager (true), never one (false).
    pub manager: Option<bool>,
    pub mac: Mac,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The swarm service name.
    pub name: String,
    pub image: String,
    pub replicas: u32,
    pub placement: Placement,
    pub ports: Vec<Port>,
    /// `publish:` as written; unset, rccr chooses (see [`Publish`]).
    pub publish: Option<Publish>,
}

/// How a service's ports are published. Unset in the config, rccr uses
/// ingress, except for services that can run on ARMv6 nodes of the swarm:
/// those publish in host mode, because swarm's overlay networks (and so
/// the ingress mesh) are broken on ARMv6 (moby/moby#47496). When host mode
/// could not run all the replicas (one task per node holds the port), rccr
/// keeps ingress and the service off ARMv6 instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Through swarm's ingress routing mesh: every node answers on the
    /// port and forwards to a task (needs overlay networking and IPVS).
    Ingress,
    /// On the node that runs a task only, straight to its container: no
    /// overlay, no IPVS; at most one task per node can hold the port.
    Host,
}

impl Publish {
    pub const ALL: [Publish; 2] = [Publish::Ingress, Publish::Host];

    /// The config's and the Docker API's (`PublishMode`) spelling.
    pub fn name(self) -> &'static str {
        match self {
            Publish::Ingress => "ingress",
            Publish::Host => "host",
        }
    }
}

/// Swarm placement constraints; all must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// The node's architecture (the `rccr.arch` label).
    pub arch: Option<Arch>,
    /// `node.labels.KEY == VALUE`, in file order.
    pub labels: Vec<(String, String)>,
}

/// A published port: `published:target[/protocol]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    pub published: u16,
    pub target: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// A path the file names, and where: what is said about the file it
/// names (it is not there) points at the line that names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPath {
    pub path: PathBuf,
    /// The config file, as its messages show it.
    pub file: String,
    pub pos: Pos,
}

impl NamedPath {
    /// A warning about this value, at its place in the file.
    pub fn warning(&self, msg: String) -> Warning {
        Warning {
            file: self.file.clone(),
            pos: self.pos,
            msg,
        }
    }

    /// `ssh.temp_key: PATH` as cluster_config.yml reads it, at line 2.
    #[cfg(test)]
    pub fn temp_key_line(path: &std::path::Path) -> NamedPath {
        let text = format!("ssh:\n  temp_key: {}\n", path.display());
        let (config, _) = Config::parse(&text, "cluster_config.yml").unwrap();
        config.ssh.temp_key.unwrap()
    }
}

/// Something in the file that is ignored and probably a mistake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub pos: Pos,
    pub msg: String,
}

/// One line, escaped as an error is ([`crate::error::one_line`]): the
/// file's name and keys are anyone's text.
impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = format!(
            "{}:{}:{}: {}",
            self.file, self.pos.line, self.pos.col, self.msg
        );
        f.write_str(&crate::error::one_line(&line))
    }
}

/// A loaded configuration: the file it came from (`None` for the built-in
/// defaults), the configuration, and its warnings.
#[derive(Debug)]
pub struct Loaded {
    pub source: Option<PathBuf>,
    pub config: Config,
    pub warnings: Vec<Warning>,
}

impl Loaded {
    /// Tells the file's warnings on stderr, as `program` (a misspelt key
    /// leaves a default in place, so every command that reads the file
    /// says so before it acts).
    pub fn warn(&self, program: &str) {
        for warning in &self.warnings {
            crate::print::warning(program, warning);
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cluster: Cluster {
                name: "recycluster".into(),
            },
            swarm: Swarm::default(),
            nodes: Vec::new(),
            network: Network::default(),
            discovery: Discovery {
                hostname_filter: crate::identity::NAME_PREFIX.into(),
                timeout_ms: 300,
                adopt: AdoptPolicy::Any,
            },
            ssh: Ssh {
                user: "root".into(),
                port: 22,
                temp_key: None,
                key_type: KeyType::Ed25519,
            },
            playbooks: Vec::new(),
            containers: Vec::new(),
        }
    }
}

impl Config {
    /// The pin of the node with this MAC address, if any.
    pub fn pin(&self, mac: Option<Mac>) -> Option<&NodePin> {
        let mac = mac?;
        self.nodes.iter().find(|p| p.mac == mac)
    }

    /// The defaults, with the hostname filter `filter`.
    #[cfg(test)]
    pub fn with_filter(filter: &str) -> Config {
        let mut config = Config::default();
        config.discovery.hostname_filter = filter.into();
        config
    }
}

#[cfg(test)]
mod tests;
