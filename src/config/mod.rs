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
use crate::error::Error;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub mod yaml;

use yaml::{Entry, Node, Pos, Value};

/// The name looked for in the working directory.
pub const FILE_NAME: &str = "cluster_config.yml";
/// Where the images install the file.
pub const SYSTEM_PATH: &str = "/etc/rccr/cluster_config.yml";
/// A bigger file is refused: it is not a config file.
pub const MAX_SIZE: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub cluster: Cluster,
    pub network: Network,
    pub discovery: Discovery,
    pub ssh: Ssh,
    /// Names or roles pinned by MAC address.
    pub nodes: Vec<NodePin>,
    /// Ansible playbooks to run, in order.
    pub playbooks: Vec<PathBuf>,
    /// Services to deploy on the swarm.
    pub containers: Vec<Container>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
}

/// Where to look for nodes; both unset means every interface's own subnet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Network {
    pub subnet: Option<Subnet>,
    pub interface: Option<String>,
}

/// An IPv4 network, `addr/prefix`, with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovery {
    /// Hosts whose name contains this (case-insensitively) are nodes; empty
    /// means every host.
    pub hostname_filter: String,
    /// How long a scan waits for a reply, in milliseconds (`rccr-scan
    /// --timeout-ms`).
    pub timeout_ms: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ssh {
    pub user: String,
    pub port: u16,
    /// The temporary private key the images ship, used until rotation.
    pub temp_key: PathBuf,
    /// The type of the cluster key that replaces it.
    pub key_type: KeyType,
}

pub use crate::keys::KeyType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Control,
    Target,
}

/// A node recognised by MAC address, with a pinned hostname and/or role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePin {
    pub mac: [u8; 6],
    pub hostname: Option<String>,
    pub role: Option<Role>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The swarm service name.
    pub name: String,
    pub image: String,
    pub replicas: u32,
    pub placement: Placement,
    pub ports: Vec<Port>,
}

/// Swarm placement constraints; all must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// `node.platform.arch`, as `uname -m` prints it.
    pub arch: Option<String>,
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

/// The `uname -m` names a placement may ask for.
pub const ARCHES: &[&str] = &["x86_64", "aarch64", "armv7l", "armv6l", "i686", "i386"];

/// Something in the file that is ignored and probably a mistake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub pos: Pos,
    pub msg: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.pos.line, self.pos.col, self.msg
        )
    }
}

/// A loaded configuration, its warnings and the file it came from (`None`
/// for the built-in defaults).
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Warning>,
    pub source: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cluster: Cluster {
                name: "recycluster".into(),
            },
            network: Network::default(),
            discovery: Discovery {
                hostname_filter: "ReCyClusteR".into(),
                timeout_ms: 300,
            },
            ssh: Ssh {
                user: "root".into(),
                port: 22,
                temp_key: PathBuf::from("/root/.ssh/id_rsa"),
                key_type: KeyType::Ed25519,
            },
            nodes: Vec::new(),
            playbooks: Vec::new(),
            containers: Vec::new(),
        }
    }
}

impl Config {
    /// Loads `explicit` (`--config`), else the first of `./cluster_config.yml`
    /// and `/etc/rccr/cluster_config.yml` that exists, else the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Loaded, Error> {
        Self::load_from(explicit, Path::new(""), Path::new("/"))
    }

    /// [`Config::load`] with the working directory and the root of the
    /// system path replaced (for tests). Relative paths are shown as given.
    pub fn load_from(explicit: Option<&Path>, cwd: &Path, root: &Path) -> Result<Loaded, Error> {
        if let Some(path) = explicit {
            let text = read_limited(&cwd.join(path))
                .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
            return Self::loaded(text, path);
        }
        let local = cwd.join(FILE_NAME);
        let system = root.join(&SYSTEM_PATH[1..]);
        for path in [local, system] {
            match read_limited(&path) {
                Ok(text) => return Self::loaded(text, &path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
            }
        }
        Ok(Loaded {
            config: Config::default(),
            warnings: Vec::new(),
            source: None,
        })
    }

    fn loaded(bytes: Vec<u8>, path: &Path) -> Result<Loaded, Error> {
        let file = path.display().to_string();
        if bytes.len() > MAX_SIZE {
            return Err(Error::bad_input(
                file,
                "larger than 1 MiB, so not a cluster_config.yml; pass the right file with --config",
            ));
        }
        let (config, warnings) = Self::from_bytes(&bytes, &file)?;
        Ok(Loaded {
            config,
            warnings,
            source: Some(path.to_path_buf()),
        })
    }

    /// Parses a file's bytes; `file` names it in messages.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<(Config, Vec<Warning>), Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text, file),
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                let line = good.iter().filter(|b| **b == b'\n').count() + 1;
                let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |n| n + 1);
                let col = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
                Err(Error::bad_input(
                    format!("{file}:{line}:{col}"),
                    "not valid UTF-8; save the file as UTF-8",
                ))
            }
        }
    }

    /// Parses a document; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<(Config, Vec<Warning>), Error> {
        let root = yaml::parse(text)
            .map_err(|e| Error::bad_input(format!("{file}:{}:{}", e.pos.line, e.pos.col), e.msg))?;
        let mut r = Reader {
            file,
            warnings: Vec::new(),
        };
        let config = r.config(&root)?;
        Ok((config, r.warnings))
    }
}

fn read_limited(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_SIZE as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Turns the value tree into a [`Config`], collecting warnings.
struct Reader<'f> {
    file: &'f str,
    warnings: Vec<Warning>,
}

type Fields<'n> = Vec<Option<&'n Node>>;

impl Reader<'_> {
    fn err(&self, pos: Pos, msg: impl Into<String>) -> Error {
        Error::bad_input(format!("{}:{}:{}", self.file, pos.line, pos.col), msg)
    }

    /// A mismatch: `what` must be `expected`.
    fn expected(&self, node: &Node, what: &str, expected: &str) -> Error {
        self.err(
            node.pos,
            format!("{what} must be {expected}, not {}", node.value.kind()),
        )
    }

    /// The values of `known` keys of the mapping `node` (null is an empty
    /// mapping); any other key is a warning.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Result<Fields<'n>, Error> {
        let mut found = vec![None; known.len()];
        let entries: &[Entry] = match &node.value {
            Value::Map(entries) => entries,
            Value::Null => &[],
            _ => return Err(self.expected(node, what, "a mapping of 'key: value' lines")),
        };
        for e in entries {
            match known.iter().position(|k| *k == e.key) {
                Some(n) => found[n] = Some(&e.value),
                None => {
                    let place = if what.is_empty() {
                        String::new()
                    } else {
                        format!(" in {what}")
                    };
                    let hint = match closest(&e.key, known) {
                        Some(k) => format!("did you mean '{k}'?"),
                        None => format!("known keys: {}", known.join(", ")),
                    };
                    // Sections are read after the top level: keep file order.
                    let at = self.warnings.partition_point(|w| w.pos < e.key_pos);
                    let msg = format!("unknown key '{}'{place} ({hint})", yaml::show(&e.key));
                    let file = self.file.to_string();
                    let pos = e.key_pos;
                    self.warnings.insert(at, Warning { file, pos, msg });
                }
            }
        }
        Ok(found)
    }

    fn string(&self, node: &Node, what: &str) -> Result<String, Error> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(self.expected(node, what, "a string")),
        }
    }

    /// A string of at most `max` bytes whose characters pass `ok`.
    fn name(
        &self,
        node: &Node,
        what: &str,
        max: usize,
        ok: fn(usize, char) -> bool,
        rule: &str,
    ) -> Result<String, Error> {
        let s = self.string(node, what)?;
        if s.is_empty() || s.len() > max || !s.chars().enumerate().all(|(n, c)| ok(n, c)) {
            return Err(self.err(
                node.pos,
                format!("{what} '{}' is not valid: {rule}", yaml::show(&s)),
            ));
        }
        Ok(s)
    }

    fn int(&self, node: &Node, what: &str, min: i64, max: i64) -> Result<i64, Error> {
        match node.value {
            Value::Int(n) if (min..=max).contains(&n) => Ok(n),
            Value::Int(n) => Err(self.err(
                node.pos,
                format!("{what} must be from {min} to {max}, not {n}"),
            )),
            _ => Err(self.expected(node, what, &format!("an integer from {min} to {max}"))),
        }
    }

    /// A list; null is an empty list.
    fn list<'n>(&self, node: &'n Node, what: &str) -> Result<&'n [Node], Error> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            Value::Null => Ok(&[]),
            _ => Err(self.expected(node, what, "a list of '- item' lines")),
        }
    }

    /// One of `choices`.
    fn choice(&self, node: &Node, what: &str, choices: &[&str]) -> Result<usize, Error> {
        let s = self.string(node, what)?;
        choices.iter().position(|c| *c == s).ok_or_else(|| {
            self.err(
                node.pos,
                format!(
                    "{what} '{}' is not one of: {}",
                    yaml::show(&s),
                    choices.join(", ")
                ),
            )
        })
    }

    fn config(&mut self, root: &Node) -> Result<Config, Error> {
        if !matches!(root.value, Value::Map(_) | Value::Null) {
            return Err(self.expected(
                root,
                "the configuration",
                "a mapping of sections ('cluster:', 'ssh:', ...)",
            ));
        }
        let sections = [
            "cluster",
            "network",
            "discovery",
            "ssh",
            "nodes",
            "playbooks",
            "containers",
        ];
        let f = self.fields(root, "", &sections)?;
        let mut c = Config::default();
        if let Some(n) = f[0] {
            self.cluster(n, &mut c.cluster)?;
        }
        if let Some(n) = f[1] {
            self.network(n, &mut c.network)?;
        }
        if let Some(n) = f[2] {
            self.discovery(n, &mut c.discovery)?;
        }
        if let Some(n) = f[3] {
            self.ssh(n, &mut c.ssh)?;
        }
        if let Some(n) = f[4] {
            c.nodes = self.nodes(n)?;
        }
        if let Some(n) = f[5] {
            for item in self.list(n, "playbooks")? {
                let s = self.string(item, "a playbook")?;
                if s.is_empty() {
                    return Err(self.err(
                        item.pos,
                        "empty playbook path; remove the item or give a path",
                    ));
                }
                c.playbooks.push(PathBuf::from(s));
            }
        }
        if let Some(n) = f[6] {
            c.containers = self.containers(n)?;
        }
        Ok(c)
    }

    fn cluster(&mut self, node: &Node, c: &mut Cluster) -> Result<(), Error> {
        let f = self.fields(node, "cluster", &["name"])?;
        if let Some(n) = f[0] {
            c.name = self.name(
                n,
                "cluster.name",
                63,
                label_char,
                "use 1-63 letters, digits, '-', '_' or '.'",
            )?;
        }
        Ok(())
    }

    fn network(&mut self, node: &Node, c: &mut Network) -> Result<(), Error> {
        let f = self.fields(node, "network", &["subnet", "interface"])?;
        // Empty means unset, as in the shipped file.
        if let Some(n) = f[0].filter(|n| !matches!(n.value, Value::Null)) {
            c.subnet = Some(self.subnet(n)?);
        }
        if let Some(n) = f[1].filter(|n| !matches!(n.value, Value::Null)) {
            let ok = |_, c: char| c.is_ascii_graphic() && c != '/' && c != ':';
            c.interface = Some(self.name(
                n,
                "network.interface",
                15,
                ok,
                "an interface name is 1-15 characters without '/', ':' or spaces",
            )?);
        }
        Ok(())
    }

    fn discovery(&mut self, node: &Node, c: &mut Discovery) -> Result<(), Error> {
        let f = self.fields(node, "discovery", &["hostname_filter", "timeout_ms"])?;
        if let Some(n) = f[0] {
            let s = self.string(n, "discovery.hostname_filter")?;
            if s.len() > 63 {
                return Err(self.err(
                    n.pos,
                    "discovery.hostname_filter is longer than a hostname (63 bytes); shorten it",
                ));
            }
            c.hostname_filter = s;
        }
        if let Some(n) = f[1] {
            c.timeout_ms = self.int(n, "discovery.timeout_ms", 1, 60_000)? as u32;
        }
        Ok(())
    }

    fn ssh(&mut self, node: &Node, c: &mut Ssh) -> Result<(), Error> {
        let f = self.fields(node, "ssh", &["user", "port", "temp_key", "key_type"])?;
        if let Some(n) = f[0] {
            let ok = |n, c: char| {
                c.is_ascii_alphanumeric() || c == '_' || c == '.' || (n > 0 && c == '-')
            };
            c.user = self.name(
                n,
                "ssh.user",
                32,
                ok,
                "use 1-32 letters, digits, '_', '.' or '-' (not first)",
            )?;
        }
        if let Some(n) = f[1] {
            c.port = self.int(n, "ssh.port", 1, 65535)? as u16;
        }
        if let Some(n) = f[2] {
            let s = self.string(n, "ssh.temp_key")?;
            if s.is_empty() {
                return Err(self.err(
                    n.pos,
                    "ssh.temp_key is empty; give the path of the temporary private key",
                ));
            }
            c.temp_key = PathBuf::from(s);
        }
        if let Some(n) = f[3] {
            c.key_type = [KeyType::Ed25519, KeyType::Rsa]
                [self.choice(n, "ssh.key_type", &["ed25519", "rsa"])?];
        }
        Ok(())
    }

    fn nodes(&mut self, node: &Node) -> Result<Vec<NodePin>, Error> {
        let mut pins = Vec::new();
        let mut macs = Vec::new();
        let mut names = Vec::new();
        for item in self.list(node, "nodes")? {
            let (pin, mac_pos, name_pos) = self.node_pin(item)?;
            // The bytes as characters: a key without formatting code.
            macs.push((pin.mac.iter().map(|&b| char::from(b)).collect(), mac_pos));
            if let (Some(h), Some(pos)) = (&pin.hostname, name_pos) {
                names.push((h.clone(), pos));
            }
            pins.push(pin);
        }
        if let Some((_, pos)) = first_repeat(&macs) {
            return Err(self.err(
                pos,
                "this MAC address is pinned twice in nodes; remove one entry",
            ));
        }
        if let Some((h, pos)) = first_repeat(&names) {
            return Err(self.err(
                pos,
                format!("hostname '{h}' is pinned twice in nodes; give each node its own"),
            ));
        }
        Ok(pins)
    }

    fn containers(&mut self, node: &Node) -> Result<Vec<Container>, Error> {
        let mut all = Vec::new();
        let mut names = Vec::new();
        let mut ports = Vec::new();
        for item in self.list(node, "containers")? {
            let (svc, name_pos, port_pos) = self.container(item)?;
            names.push((svc.name.clone(), name_pos));
            for (p, pos) in svc.ports.iter().zip(port_pos) {
                let mut key = p.published.to_string();
                key.push_str(if p.protocol == Protocol::Udp {
                    "/udp"
                } else {
                    "/tcp"
                });
                ports.push((key, pos));
            }
            all.push(svc);
        }
        if let Some((name, pos)) = first_repeat(&names) {
            return Err(self.err(
                pos,
                format!("container '{name}' is defined twice; rename one"),
            ));
        }
        if let Some((port, pos)) = first_repeat(&ports) {
            return Err(self.err(
                pos,
                format!("port {port} is published twice; publish each port once"),
            ));
        }
        Ok(all)
    }

    fn subnet(&self, node: &Node) -> Result<Subnet, Error> {
        let s = self.string(node, "network.subnet")?;
        let bad = || {
            self.err(
                node.pos,
                format!(
                    "network.subnet '{}' is not an IPv4 network like 192.168.1.0/24",
                    yaml::show(&s)
                ),
            )
        };
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = match prefix.parse() {
            Ok(p) if prefix.bytes().all(|b| b.is_ascii_digit()) && p <= 32 => p,
            _ => return Err(bad()),
        };
        if prefix < 16 {
            return Err(self.err(
                node.pos,
                format!("network.subnet '{s}' is too large to scan; use a prefix of /16 or longer"),
            ));
        }
        let mask = u32::MAX << (32 - prefix as u32);
        let net = Ipv4Addr::from(u32::from(addr) & mask);
        if net != addr {
            return Err(self.err(
                node.pos,
                format!("network.subnet '{s}' has host bits set; did you mean {net}/{prefix}?"),
            ));
        }
        Ok(Subnet { addr, prefix })
    }

    /// A pin, and where its MAC address and hostname are.
    fn node_pin(&mut self, item: &Node) -> Result<(NodePin, Pos, Option<Pos>), Error> {
        if !matches!(item.value, Value::Map(_)) {
            return Err(self.expected(
                item,
                "a nodes item",
                "a mapping with mac and hostname or role",
            ));
        }
        let f = self.fields(item, "a nodes item", &["mac", "hostname", "role"])?;
        let Some(n) = f[0] else {
            return Err(self.err(
                item.pos,
                "a nodes item has no mac; add 'mac: \"aa:bb:cc:dd:ee:ff\"'",
            ));
        };
        let s = self.string(n, "nodes.mac")?;
        let mac = parse_mac(&s).ok_or_else(|| {
            self.err(
                n.pos,
                format!(
                    "nodes.mac '{}' is not a MAC address like \"aa:bb:cc:dd:ee:ff\"",
                    yaml::show(&s)
                ),
            )
        })?;
        let name_pos = f[1].map(|n| n.pos);
        let hostname = match f[1] {
            Some(n) => Some(self.name(
                n,
                "nodes.hostname",
                63,
                hostname_char,
                "use 1-63 letters, digits or '-' (not first)",
            )?),
            None => None,
        };
        let role = match f[2] {
            Some(n) => Some(
                [Role::Control, Role::Target]
                    [self.choice(n, "nodes.role", &["control", "target"])?],
            ),
            None => None,
        };
        if hostname.is_none() && role.is_none() {
            return Err(self.err(
                item.pos,
                "a nodes item pins nothing; add a hostname or a role",
            ));
        }
        Ok((
            NodePin {
                mac,
                hostname,
                role,
            },
            n.pos,
            name_pos,
        ))
    }

    /// A service, and where its name and each of its ports are.
    fn container(&mut self, item: &Node) -> Result<(Container, Pos, Vec<Pos>), Error> {
        if !matches!(item.value, Value::Map(_)) {
            return Err(self.expected(item, "a containers item", "a mapping with name and image"));
        }
        let f = self.fields(
            item,
            "a containers item",
            &["name", "image", "replicas", "placement", "ports"],
        )?;
        let (Some(name_node), Some(image)) = (f[0], f[1]) else {
            return Err(self.err(
                item.pos,
                "a containers item needs a name and an image; add the missing one",
            ));
        };
        let name = self.name(
            name_node,
            "containers.name",
            63,
            label_char,
            "use 1-63 letters, digits, '-', '_' or '.'",
        )?;
        let image = self.name(
            image,
            "containers.image",
            255,
            |_, c| c.is_ascii_graphic(),
            "an image reference has no spaces, like nginx:alpine",
        )?;
        let mut port_pos = Vec::new();
        let mut svc = Container {
            name,
            image,
            replicas: 1,
            placement: Placement::default(),
            ports: Vec::new(),
        };
        if let Some(n) = f[2] {
            svc.replicas = self.int(n, "containers.replicas", 0, 1000)? as u32;
        }
        if let Some(n) = f[3] {
            let f = self.fields(n, "containers.placement", &["arch", "labels"])?;
            if let Some(n) = f[0] {
                let arch = ARCHES[self.choice(n, "containers.placement.arch", ARCHES)?];
                svc.placement.arch = Some(arch.to_string());
            }
            if let Some(n) = f[1] {
                let entries: &[Entry] = match &n.value {
                    Value::Map(entries) => entries,
                    Value::Null => &[],
                    _ => {
                        return Err(self.expected(
                            n,
                            "containers.placement.labels",
                            "a mapping of 'label: value' lines",
                        ))
                    }
                };
                for e in entries {
                    let value = match &e.value.value {
                        Value::Str(s) => s.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(self.expected(&e.value, "a placement label", "a string")),
                    };
                    svc.placement.labels.push((e.key.clone(), value));
                }
            }
        }
        if let Some(n) = f[4] {
            for p in self.list(n, "containers.ports")? {
                let s = self.string(p, "a port")?;
                let port = parse_port(&s).ok_or_else(|| {
                    self.err(p.pos, format!("port '{}' is not \"PUBLISHED:TARGET\" or \"PUBLISHED:TARGET/udp\" with ports 1-65535", yaml::show(&s)))
                })?;
                svc.ports.push(port);
                port_pos.push(p.pos);
            }
        }
        Ok((svc, name_node.pos, port_pos))
    }
}

/// The first item, in document order, whose key an earlier item has.
fn first_repeat(items: &[(String, Pos)]) -> Option<(&str, Pos)> {
    let mut view: Vec<(&str, Pos)> = items.iter().map(|(k, pos)| (k.as_str(), *pos)).collect();
    yaml::first_repeat(&mut view)
}

fn label_char(n: usize, c: char) -> bool {
    c.is_ascii_alphanumeric() || (n > 0 && matches!(c, '-' | '_' | '.'))
}

fn hostname_char(n: usize, c: char) -> bool {
    c.is_ascii_alphanumeric() || (n > 0 && c == '-')
}

/// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`, either case.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let sep = if s.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut parts = s.split(sep);
    for byte in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// `8080:80`, `8080:80/tcp` or `5353:53/udp`.
pub fn parse_port(s: &str) -> Option<Port> {
    let (ports, protocol) = match s.split_once('/') {
        None => (s, Protocol::Tcp),
        Some((p, "tcp")) => (p, Protocol::Tcp),
        Some((p, "udp")) => (p, Protocol::Udp),
        Some(_) => return None,
    };
    let (a, b) = ports.split_once(':')?;
    let num = |p: &str| -> Option<u16> {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok().filter(|n| *n > 0)
    };
    Some(Port {
        published: num(a)?,
        target: num(b)?,
        protocol,
    })
}

/// The known key closest to `key` (case-insensitive optimal string
/// alignment distance), if it is close enough to be a typo.
pub fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (distance(&key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Rows i-2, i-1 and i of the edit-distance table.
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitCode;

    fn parse(text: &str) -> (Config, Vec<Warning>) {
        Config::parse(text, "cluster_config.yml").unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// The error line for `text`; it must be bad input (exit 3), one line.
    fn error(text: &str) -> String {
        let e = Config::parse(text, "cluster_config.yml").expect_err(text);
        assert_eq!(e.exit_code(), ExitCode::BadInput, "{e}");
        let s = e.to_string();
        assert!(!s.contains('\n'), "one line: {s:?}");
        s
    }

    #[track_caller]
    fn rejects(text: &str, at: &str, what: &str) {
        let e = error(text);
        assert!(
            e.starts_with(&format!("cluster_config.yml:{at}: ")) && e.contains(what),
            "{text:?}: got '{e}', want {at} {what}"
        );
    }

    #[test]
    fn the_shipped_file_is_the_defaults() {
        let text = include_str!("../../cluster_config.yml");
        let (config, warnings) = parse(text);
        assert_eq!(config, Config::default());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.discovery.hostname_filter, "ReCyClusteR");
        assert_eq!(config.ssh.temp_key, Path::new("/root/.ssh/id_rsa"));
        assert_eq!(config.ssh.key_type, KeyType::Ed25519);
    }

    #[test]
    fn empty_documents_and_sections_are_defaults() {
        for text in [
            "",
            "# nothing\n",
            "cluster:\nnetwork:\ndiscovery:\nssh:\nnodes:\nplaybooks:\ncontainers:\n",
            "{}",
        ] {
            assert_eq!(parse(text), (Config::default(), vec![]), "{text:?}");
        }
    }

    #[test]
    fn every_key() {
        let (c, w) = parse(
            "cluster:\n  name: lab.1\nnetwork:\n  subnet: 10.1.0.0/16\n  interface: eth0\n\
             discovery:\n  hostname_filter: \"\"\n  timeout_ms: 500\n\
             ssh:\n  user: pi\n  port: 2222\n  temp_key: .rccr/ssh_temp_key\n  key_type: rsa\n\
             nodes:\n  - mac: \"AA-bb-CC-dd-EE-01\"\n    hostname: pi-1\n    role: control\n  - mac: \"aa:bb:cc:dd:ee:02\"\n    role: target\n\
             playbooks:\n  - site.yml\n\
             containers:\n  - name: web\n    image: nginx:alpine\n    replicas: 0\n    placement:\n      arch: armv6l\n      labels:\n        disk: ssd\n        tier: 1\n        fast: true\n    ports:\n      - \"8080:80\"\n      - \"53:53/udp\"\n      - \"53:53/tcp\"\n",
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.cluster.name, "lab.1");
        assert_eq!(c.network.subnet.unwrap().to_string(), "10.1.0.0/16");
        assert_eq!(c.network.interface.as_deref(), Some("eth0"));
        assert_eq!(
            c.discovery,
            Discovery {
                hostname_filter: String::new(),
                timeout_ms: 500
            }
        );
        assert_eq!(
            (c.ssh.user.as_str(), c.ssh.port, c.ssh.key_type),
            ("pi", 2222, KeyType::Rsa)
        );
        assert_eq!(c.ssh.temp_key, Path::new(".rccr/ssh_temp_key"));
        assert_eq!(
            c.nodes,
            [
                NodePin {
                    mac: [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 1],
                    hostname: Some("pi-1".into()),
                    role: Some(Role::Control)
                },
                NodePin {
                    mac: [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 2],
                    hostname: None,
                    role: Some(Role::Target)
                },
            ]
        );
        assert_eq!(c.playbooks, [PathBuf::from("site.yml")]);
        let web = &c.containers[0];
        assert_eq!(
            (web.name.as_str(), web.image.as_str(), web.replicas),
            ("web", "nginx:alpine", 0)
        );
        assert_eq!(web.placement.arch.as_deref(), Some("armv6l"));
        let labels: Vec<(&str, &str)> = web
            .placement
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(labels, [("disk", "ssd"), ("tier", "1"), ("fast", "true")]);
        assert_eq!(
            web.ports,
            [
                Port {
                    published: 8080,
                    target: 80,
                    protocol: Protocol::Tcp
                },
                Port {
                    published: 53,
                    target: 53,
                    protocol: Protocol::Udp
                },
                Port {
                    published: 53,
                    target: 53,
                    protocol: Protocol::Tcp
                },
            ]
        );
        assert_eq!(c.containers[0].replicas, 0);
        let (c, _) = parse("containers:\n- name: a\n  image: b\n");
        assert_eq!(c.containers[0].replicas, 1);
        let (c, _) = parse("network:\n  subnet: 192.168.1.0/24\n  interface:\n");
        assert_eq!(
            c.network.subnet,
            Some(Subnet {
                addr: Ipv4Addr::new(192, 168, 1, 0),
                prefix: 24
            })
        );
        assert_eq!(c.network.interface, None);
    }

    #[test]
    fn yaml_errors_name_the_file_line_and_column() {
        rejects("cluster:\n  name: yes\n", "2:9", "'yes' is a boolean");
        rejects("a: 1\na: 2\n", "2:1", "duplicate key");
    }

    #[test]
    fn wrong_types_and_shapes() {
        rejects("- a\n", "1:1", "the configuration must be a mapping");
        rejects("just text\n", "1:1", "the configuration must be a mapping");
        rejects("cluster: x\n", "1:10", "cluster must be a mapping");
        rejects("ssh:\n  - port: 22\n", "2:3", "ssh must be a mapping");
        rejects(
            "ssh:\n  port: \"22\"\n",
            "2:9",
            "ssh.port must be an integer from 1 to 65535, not a string",
        );
        rejects(
            "ssh:\n  port:\n",
            "2:8",
            "ssh.port must be an integer from 1 to 65535, not empty (null)",
        );
        rejects(
            "ssh:\n  user: 1\n",
            "2:9",
            "ssh.user must be a string, not an integer",
        );
        rejects("nodes: x\n", "1:8", "nodes must be a list");
        rejects("playbooks:\n  a: b\n", "2:3", "playbooks must be a list");
        rejects("containers: true\n", "1:13", "containers must be a list");
    }

    #[test]
    fn value_checks() {
        rejects(
            "cluster:\n  name: \"\"\n",
            "2:9",
            "cluster.name '' is not valid",
        );
        rejects(
            "cluster:\n  name: -x\n",
            "2:9",
            "cluster.name '-x' is not valid",
        );
        rejects(
            "cluster:\n  name: a b\n",
            "2:9",
            "cluster.name 'a b' is not valid",
        );
        rejects(
            "cluster:\n  name: \"a\\nb\"\n",
            "2:9",
            "cluster.name 'a\\nb' is not valid",
        );
        rejects(
            &format!("cluster:\n  name: {}\n", "a".repeat(64)),
            "2:9",
            "is not valid",
        );
        rejects(
            "network:\n  subnet: 10.0.0.0\n",
            "2:11",
            "not an IPv4 network",
        );
        rejects(
            "network:\n  subnet: 10.0.0/24\n",
            "2:11",
            "not an IPv4 network",
        );
        rejects(
            "network:\n  subnet: 10.0.0.0/33\n",
            "2:11",
            "not an IPv4 network",
        );
        rejects(
            "network:\n  subnet: 10.0.0.0/+24\n",
            "2:11",
            "not an IPv4 network",
        );
        rejects(
            "network:\n  subnet: 10.0.0.0/8\n",
            "2:11",
            "too large to scan",
        );
        rejects(
            "network:\n  subnet: 192.168.1.7/24\n",
            "2:11",
            "did you mean 192.168.1.0/24?",
        );
        rejects(
            "network:\n  subnet: 24\n",
            "2:11",
            "network.subnet must be a string",
        );
        rejects(
            "network:\n  interface: eth0/1\n",
            "2:14",
            "network.interface 'eth0/1' is not valid",
        );
        rejects(
            "network:\n  interface: abcdefghijklmnop\n",
            "2:14",
            "is not valid",
        );
        rejects(
            &format!("discovery:\n  hostname_filter: {}\n", "a".repeat(64)),
            "2:20",
            "longer than a hostname",
        );
        rejects(
            "discovery:\n  timeout_ms: 0\n",
            "2:15",
            "discovery.timeout_ms must be from 1 to 60000, not 0",
        );
        rejects("discovery:\n  timeout_ms: 60001\n", "2:15", "not 60001");
        rejects(
            "ssh:\n  port: 0\n",
            "2:9",
            "ssh.port must be from 1 to 65535, not 0",
        );
        rejects("ssh:\n  port: 65536\n", "2:9", "not 65536");
        rejects(
            "ssh:\n  user: -root\n",
            "2:9",
            "ssh.user '-root' is not valid",
        );
        rejects("ssh:\n  temp_key: \"\"\n", "2:13", "ssh.temp_key is empty");
        rejects(
            "ssh:\n  key_type: dsa\n",
            "2:13",
            "ssh.key_type 'dsa' is not one of: ed25519, rsa",
        );
    }

    #[test]
    fn node_pins() {
        rejects("nodes:\n  - x\n", "2:5", "a nodes item must be a mapping");
        rejects("nodes:\n  -\n", "2:4", "a nodes item must be a mapping");
        rejects("nodes:\n  - role: target\n", "2:5", "has no mac");
        rejects(
            "nodes:\n  - mac: \"aa:bb:cc:dd:ee\"\n    role: target\n",
            "2:10",
            "not a MAC address",
        );
        rejects(
            "nodes:\n  - mac: \"aa:bb:cc:dd:ee:fg\"\n    role: target\n",
            "2:10",
            "not a MAC address",
        );
        rejects(
            "nodes:\n  - mac: \"aa:bb:cc:dd:ee:ff:00\"\n    role: target\n",
            "2:10",
            "not a MAC address",
        );
        rejects(
            "nodes:\n  - mac: \"aa:bb:cc:dd:ee:ff\"\n",
            "2:5",
            "pins nothing",
        );
        rejects(
            "nodes:\n  - mac: \"aa:bb:cc:dd:ee:ff\"\n    role: master\n",
            "3:11",
            "nodes.role 'master' is not one of: control, target",
        );
        rejects(
            "nodes:\n  - mac: \"aa:bb:cc:dd:ee:ff\"\n    hostname: pi_1\n",
            "3:15",
            "nodes.hostname 'pi_1' is not valid",
        );
        rejects(
            "nodes:\n  - mac: \"aa:bb:cc:dd:ee:ff\"\n    role: target\n  - mac: \"AA:BB:CC:DD:EE:FF\"\n    role: control\n",
            "4:10",
            "pinned twice",
        );
        rejects(
            "nodes:\n  - mac: \"aa:bb:cc:dd:ee:01\"\n    hostname: pi\n  - mac: \"aa:bb:cc:dd:ee:02\"\n    hostname: pi\n",
            "5:15",
            "hostname 'pi' is pinned twice",
        );
    }

    #[test]
    fn playbooks() {
        rejects("playbooks:\n  - 1\n", "2:5", "a playbook must be a string");
        rejects("playbooks:\n  - \"\"\n", "2:5", "empty playbook path");
    }

    #[test]
    fn containers() {
        let svc = |body: &str| format!("containers:\n  - name: web\n    image: nginx\n{body}");
        rejects(
            "containers:\n  - web\n",
            "2:5",
            "a containers item must be a mapping",
        );
        rejects(
            "containers:\n  - image: nginx\n",
            "2:5",
            "needs a name and an image",
        );
        rejects(
            "containers:\n  - name: web\n",
            "2:5",
            "needs a name and an image",
        );
        rejects(
            "containers:\n  - name: web!\n    image: x\n",
            "2:11",
            "containers.name 'web!' is not valid",
        );
        rejects(
            "containers:\n  - name: web\n    image: \"a b\"\n",
            "3:12",
            "containers.image 'a b' is not valid",
        );
        rejects(
            &svc("    replicas: 1001\n"),
            "4:15",
            "containers.replicas must be from 0 to 1000",
        );
        rejects(
            &svc("    placement: aarch64\n"),
            "4:16",
            "containers.placement must be a mapping",
        );
        rejects(
            &svc("    placement:\n      arch: arm64\n"),
            "5:13",
            "'arm64' is not one of: x86_64, aarch64",
        );
        rejects(
            &svc("    placement:\n      labels:\n        - a\n"),
            "6:9",
            "containers.placement.labels must be a mapping",
        );
        rejects(
            &svc("    placement:\n      labels:\n        a:\n"),
            "6:11",
            "a placement label must be a string",
        );
        rejects(
            &svc("    ports: \"80:80\"\n"),
            "4:12",
            "containers.ports must be a list",
        );
        rejects(
            &svc("    ports:\n      - 80\n"),
            "5:9",
            "a port must be a string",
        );
        for bad in [
            "80",
            "80:",
            ":80",
            "0:80",
            "80:65536",
            "80:80/sctp",
            "a:80",
            "080000:80",
        ] {
            rejects(
                &svc(&format!("    ports:\n      - \"{bad}\"\n")),
                "5:9",
                "is not \"PUBLISHED:TARGET\"",
            );
        }
        rejects(
            "containers:\n  - name: a\n    image: x\n  - name: a\n    image: y\n",
            "4:11",
            "container 'a' is defined twice",
        );
        rejects(
            "containers:\n  - name: a\n    image: x\n    ports: [\"1:1\"]\n",
            "4:12",
            "flow collections",
        );
        rejects(
            "containers:\n  - name: a\n    image: x\n    ports:\n    - \"80:80\"\n  - name: b\n    image: y\n    ports:\n    - \"80:8080\"\n",
            "9:7",
            "port 80/tcp is published twice",
        );
        rejects(
            &svc("    ports:\n      - \"53:53/udp\"\n      - \"53:54/udp\"\n"),
            "6:9",
            "port 53/udp is published twice",
        );
    }

    #[test]
    fn unknown_keys_warn_with_a_suggestion() {
        let (c, w) = parse("discovery:\n  hostname_filtr: x\nnetwrok:\n  subnet: 1\ncolour: red\nssh:\n  Port: 2\n");
        assert_eq!(c, Config::default());
        let w: Vec<String> = w.iter().map(Warning::to_string).collect();
        assert_eq!(
            w,
            [
                "cluster_config.yml:2:3: unknown key 'hostname_filtr' in discovery (did you mean 'hostname_filter'?)",
                "cluster_config.yml:3:1: unknown key 'netwrok' (did you mean 'network'?)",
                "cluster_config.yml:5:1: unknown key 'colour' (known keys: cluster, network, discovery, ssh, nodes, playbooks, containers)",
                "cluster_config.yml:7:3: unknown key 'Port' in ssh (did you mean 'port'?)",
            ]
        );
        let (_, w) = parse("\"x\\ny\": 1\n");
        assert_eq!(
            w[0].msg,
            "unknown key 'x\\ny' (known keys: cluster, network, discovery, ssh, nodes, playbooks, containers)"
        );
        let (_, w) = parse(
            "nodes:\n- mac: \"aa:bb:cc:dd:ee:ff\"\n  role: target\n  rol: x\ncontainers:\n- name: a\n  imag: b\n  image: b\n  placement:\n    archs: x\n",
        );
        let w: Vec<String> = w.iter().map(|w| w.msg.clone()).collect();
        assert_eq!(
            w,
            [
                "unknown key 'rol' in a nodes item (did you mean 'role'?)",
                "unknown key 'imag' in a containers item (did you mean 'image'?)",
                "unknown key 'archs' in containers.placement (did you mean 'arch'?)",
            ]
        );
    }

    #[test]
    fn closest_key() {
        let known = ["hostname_filter", "timeout_ms"];
        assert_eq!(closest("hostname_filtr", &known), Some("hostname_filter"));
        assert_eq!(closest("timeout", &known), Some("timeout_ms"));
        assert_eq!(closest("Timeout_MS", &known), Some("timeout_ms"));
        assert_eq!(closest("tiemout_ms", &known), Some("timeout_ms"));
        assert_eq!(closest("interface", &known), None);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn bytes_that_are_not_utf8() {
        let e = Config::from_bytes(b"a: 1\nb: x\xffy\n", "c.yml").unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::BadInput);
        assert_eq!(
            e.to_string(),
            "c.yml:2:5: not valid UTF-8; save the file as UTF-8"
        );
        let e = Config::from_bytes("é\u{0}".as_bytes(), "c.yml").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("c.yml:1:2: control character U+0000"),
            "{e}"
        );
    }

    /// A scratch directory with `cwd/` and `root/etc/rccr/`.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("rccr-config-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("cwd")).unwrap();
            std::fs::create_dir_all(dir.join("root/etc/rccr")).unwrap();
            Scratch(dir)
        }
        fn write(&self, rel: &str, text: &[u8]) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::write(&p, text).unwrap();
            p
        }
        fn load(&self, explicit: Option<&Path>) -> Result<Loaded, Error> {
            Config::load_from(explicit, &self.0.join("cwd"), &self.0.join("root"))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn lookup_order() {
        let s = Scratch::new("lookup");
        let l = s.load(None).unwrap();
        assert_eq!((l.config, l.source), (Config::default(), None));

        let system = s.write(
            "root/etc/rccr/cluster_config.yml",
            b"cluster:\n  name: system\n",
        );
        let l = s.load(None).unwrap();
        assert_eq!(
            (l.config.cluster.name.as_str(), l.source.as_deref()),
            ("system", Some(system.as_path()))
        );

        let local = s.write(
            "cwd/cluster_config.yml",
            b"cluster:\n  name: local\nbogus: 1\n",
        );
        let l = s.load(None).unwrap();
        assert_eq!(
            (l.config.cluster.name.as_str(), l.source.as_deref()),
            ("local", Some(local.as_path()))
        );
        assert_eq!(l.warnings[0].file, local.display().to_string());

        s.write("cwd/other.yml", b"cluster:\n  name: explicit\n");
        let l = s.load(Some(Path::new("other.yml"))).unwrap();
        assert_eq!(l.config.cluster.name, "explicit");
        s.write("cwd/bad.yml", b"cluster:\n  name: [x]\n");
        let e = s.load(Some(Path::new("bad.yml"))).unwrap_err();
        assert!(
            e.to_string().starts_with("bad.yml:2:9: flow collections"),
            "{e}"
        );
        assert_eq!(e.exit_code(), ExitCode::BadInput);
    }

    #[test]
    fn lookup_errors() {
        let s = Scratch::new("errors");
        let e = s.load(Some(Path::new("missing.yml"))).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Failure);
        assert!(
            e.to_string().starts_with("cannot read missing.yml: "),
            "{e}"
        );

        // Present but unreadable is an error, not a reason to fall through.
        std::fs::create_dir(s.0.join("cwd/cluster_config.yml")).unwrap();
        s.write(
            "root/etc/rccr/cluster_config.yml",
            b"cluster:\n  name: system\n",
        );
        let e = s.load(None).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
        std::fs::remove_dir(s.0.join("cwd/cluster_config.yml")).unwrap();

        s.write("cwd/cluster_config.yml", &vec![b'#'; MAX_SIZE + 1]);
        let e = s.load(None).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::BadInput);
        assert!(e.to_string().contains("larger than 1 MiB"), "{e}");
    }

    #[test]
    fn mac_and_port_parsing() {
        assert_eq!(
            parse_mac("00:1A:2b:3C:4d:5E"),
            Some([0, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e])
        );
        assert_eq!(
            parse_mac("00-1a-2b-3c-4d-5e"),
            Some([0, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e])
        );
        for bad in [
            "",
            "00:1a:2b:3c:4d",
            "00:1a:2b:3c:4d:5e:",
            "00:1a-2b:3c:4d:5e",
            "0:1a:2b:3c:4d:5e",
            "+0:1a:2b:3c:4d:5e",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
        assert_eq!(
            parse_port("65535:1/udp"),
            Some(Port {
                published: 65535,
                target: 1,
                protocol: Protocol::Udp
            })
        );
        assert_eq!(parse_port("+80:80"), None);
    }
}
