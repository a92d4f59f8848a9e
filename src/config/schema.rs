//! The value tree of a configuration, read into a [`Config`] key by key:
//! wrong types and bad values are errors naming `file:line:col`; unknown
//! keys are warnings that suggest the closest known key.
use super::parse::{closest, parse_port};
use super::yaml::{self, Entry, Node, Pos, Value};
use super::*;
use crate::error::Error;
use crate::identity;
use crate::wire::ipv4::{Cidr, CidrError};

/// Turns the value tree into a [`Config`], collecting warnings.
pub(super) struct Reader<'f> {
    file: &'f str,
    warnings: Vec<Warning>,
    /// `ssh.port`, set by [`Reader::config`] before `containers`: no
    /// service may publish it.
    ssh_port: u16,
}

type Fields<'n> = Vec<Option<&'n Node>>;
/// Values of two kinds that no two items of a list may share, each with
/// where it stands.
type Keys = [Vec<(String, Pos)>; 2];
/// The unknown keys told one by one; the rest are counted in one more
/// warning. A file of thousands is no config, and a screenful says so.
const MAX_WARNINGS: usize = 20;

impl<'f> Reader<'f> {
    pub(super) fn new(file: &'f str) -> Reader<'f> {
        Reader {
            file,
            warnings: Vec::new(),
            ssh_port: 0,
        }
    }

    /// The configuration and its warnings.
    pub(super) fn read(mut self, root: &Node) -> Result<(Config, Vec<Warning>), Error> {
        let config = self.config(root)?;
        // Sections are read after the top level: back to file order (a
        // stable sort, once, not an insertion per warning).
        self.warnings.sort_by_key(|w| w.pos);
        if let Some(more) = self.warnings.len().checked_sub(MAX_WARNINGS + 1) {
            self.warnings.truncate(MAX_WARNINGS + 1);
            self.warnings[MAX_WARNINGS].msg = format!(
                "and {} more unknown keys from here on, not listed; is this a cluster_config.yml?",
                more + 1
            );
        }
        Ok((config, self.warnings))
    }

    fn err(&self, pos: Pos, msg: impl Into<String>) -> Error {
        Error::bad_input(format!("{}:{}:{}", self.file, pos.line, pos.col), msg)
    }

    /// Refuses a key of `keys` that stands twice, at its second place (the
    /// earliest such), in the words `twice` gives for the key.
    fn once_each(
        &self,
        keys: &[(String, Pos)],
        twice: &dyn Fn(&str) -> String,
    ) -> Result<(), Error> {
        let mut view: Vec<(&str, Pos)> = keys.iter().map(|(k, pos)| (k.as_str(), *pos)).collect();
        match yaml::first_repeat(&mut view) {
            Some((key, pos)) => Err(self.err(pos, twice(key))),
            None => Ok(()),
        }
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
                    let msg = format!("unknown key '{}'{place} ({hint})", yaml::show(&e.key));
                    let file = self.file.to_string();
                    let pos = e.key_pos;
                    self.warnings.push(Warning { file, pos, msg });
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
        ok: fn(&str) -> bool,
        rule: &str,
    ) -> Result<String, Error> {
        let s = self.string(node, what)?;
        if s.is_empty() || s.len() > max || !ok(&s) {
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
            "swarm",
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
        self.ssh_port = c.ssh.port;
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
                // It is an argument of ansible-playbook and a line of
                // setup's output.
                let why = if s.starts_with('-') {
                    Some("starts with '-', which ansible-playbook would take for an option; write ./ before a file named so".into())
                } else {
                    s.chars().find(|c| c.is_control()).map(|c| {
                        format!(
                            "holds the control character U+{:04X}; give the file a name without one",
                            u32::from(c)
                        )
                    })
                };
                if let Some(why) = why {
                    return Err(self.err(item.pos, format!("playbook '{}' {why}", yaml::show(&s))));
                }
                c.playbooks.push(PathBuf::from(s));
            }
        }
        if let Some(n) = f[6] {
            c.containers = self.containers(n)?;
        }
        if let Some(n) = f[7] {
            let f = self.fields(n, "swarm", &["managers", "services_timeout_s"])?;
            if let Some(n) = f[0].filter(|n| !matches!(n.value, Value::Null)) {
                c.swarm.managers = Some(self.int(n, "swarm.managers", 1, 7)? as u8);
            }
            if let Some(n) = f[1].filter(|n| !matches!(n.value, Value::Null)) {
                let (min, max) = Swarm::SERVICES_TIMEOUT_S;
                let secs = self.int(n, "swarm.services_timeout_s", min, max)?;
                c.swarm.services_timeout = Duration::from_secs(secs as u64);
            }
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
                label,
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
            let ok = |s: &str| {
                s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
            };
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
        let f = self.fields(
            node,
            "discovery",
            &["hostname_filter", "timeout_ms", "adopt"],
        )?;
        if let Some(n) = f[0] {
            let s = self.string(n, "discovery.hostname_filter")?;
            if s.trim().is_empty() {
                return Err(self.err(
                    n.pos,
                    "discovery.hostname_filter is empty, which would take every host on the LAN for a node; give the word your nodes' names contain (ReCyClusteR)",
                ));
            }
            // A node's name must contain it, and setup names new nodes
            // FILTER-Control-1a2b3c: a filter no such name can hold would
            // find no node, or leave names unchanged without a word.
            let begins_names = [identity::Role::Control, identity::Role::Target]
                .into_iter()
                .all(|role| identity::is_hostname(&identity::generated_name(&s, role, [0; 3])));
            if !begins_names {
                return Err(self.err(
                    n.pos,
                    format!(
                        "discovery.hostname_filter '{}' cannot begin a hostname (setup names new nodes FILTER-Control-1a2b3c); use 1-48 letters, digits and '-', not first",
                        yaml::show(&s)
                    ),
                ));
            }
            c.hostname_filter = s;
        }
        if let Some(n) = f[1] {
            c.timeout_ms = self.int(n, "discovery.timeout_ms", 100, 60_000)? as u32;
        }
        if let Some(n) = f[2] {
            c.adopt = [AdoptPolicy::Any, AdoptPolicy::Listed]
                [self.choice(n, "discovery.adopt", &["any", "listed"])?];
        }
        Ok(())
    }

    fn ssh(&mut self, node: &Node, c: &mut Ssh) -> Result<(), Error> {
        let f = self.fields(node, "ssh", &["user", "port", "temp_key", "key_type"])?;
        if let Some(n) = f[0] {
            let ok = |s: &str| {
                !s.starts_with('-')
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
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
            c.temp_key = Some(NamedPath {
                path: PathBuf::from(s),
                file: self.file.to_string(),
                pos: n.pos,
            });
        }
        if let Some(n) = f[3] {
            c.key_type = [KeyType::Ed25519, KeyType::Rsa]
                [self.choice(n, "ssh.key_type", &["ed25519", "rsa"])?];
        }
        Ok(())
    }

    fn nodes(&mut self, node: &Node) -> Result<Vec<NodePin>, Error> {
        self.unique_items(
            node,
            "nodes",
            Self::node_pin,
            [
                &|_| "this MAC address is pinned twice in nodes; remove one entry".into(),
                &|h| format!("hostname '{h}' is pinned twice in nodes (case does not count); give each node its own"),
            ],
        )
    }

    fn containers(&mut self, node: &Node) -> Result<Vec<Container>, Error> {
        self.unique_items(
            node,
            "containers",
            Self::container,
            [
                &|name| {
                    format!("container '{name}' is defined twice (case does not count); rename one")
                },
                &|port| format!("port {port} is published twice; publish each port once"),
            ],
        )
    }

    /// The items of the list `what`, each read by `read`, which adds its
    /// keys to `keys`; a key that stands twice is refused (the first kind
    /// first) in the words `twice` gives for its kind.
    fn unique_items<T>(
        &mut self,
        node: &Node,
        what: &str,
        read: fn(&mut Self, &Node, &mut Keys) -> Result<T, Error>,
        twice: [&dyn Fn(&str) -> String; 2],
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        let mut keys = Keys::default();
        for item in self.list(node, what)? {
            items.push(read(self, item, &mut keys)?);
        }
        for (all, twice) in keys.iter().zip(twice) {
            self.once_each(all, twice)?;
        }
        Ok(items)
    }

    fn subnet(&self, node: &Node) -> Result<Cidr, Error> {
        let s = self.string(node, "network.subnet")?;
        let cidr = match Cidr::parse(&s) {
            Ok(cidr) if s.contains('/') => cidr,
            Err(CidrError::HostBits(net)) => {
                return Err(self.err(
                    node.pos,
                    format!("network.subnet '{s}' has host bits set; did you mean {net}?"),
                ))
            }
            _ => {
                return Err(self.err(
                    node.pos,
                    format!(
                        "network.subnet '{}' is not an IPv4 network like 192.168.1.0/24",
                        yaml::show(&s)
                    ),
                ))
            }
        };
        if cidr.prefix_len() < 16 {
            return Err(self.err(
                node.pos,
                format!("network.subnet '{s}' is too large to scan; use a prefix of /16 or longer"),
            ));
        }
        Ok(cidr)
    }

    /// A pin; its MAC address and hostname go to `keys`.
    fn node_pin(&mut self, item: &Node, keys: &mut Keys) -> Result<NodePin, Error> {
        if !matches!(item.value, Value::Map(_)) {
            return Err(self.expected(
                item,
                "a nodes item",
                "a mapping with mac and hostname or role",
            ));
        }
        let f = self.fields(
            item,
            "a nodes item",
            &["mac", "hostname", "role", "manager"],
        )?;
        let Some(n) = f[0] else {
            return Err(self.err(
                item.pos,
                "a nodes item has no mac; add 'mac: \"aa:bb:cc:dd:ee:ff\"'",
            ));
        };
        let s = self.string(n, "nodes.mac")?;
        let mac: identity::Mac = s.parse().map_err(|()| {
            self.err(
                n.pos,
                format!(
                    "nodes.mac '{}' is not a MAC address like \"aa:bb:cc:dd:ee:ff\"",
                    yaml::show(&s)
                ),
            )
        })?;
        keys[0].push((mac.to_string(), n.pos));
        let hostname = match f[1] {
            Some(n) => {
                let name = self.string(n, "nodes.hostname")?;
                if let Err(e) = identity::check_hostname(&name) {
                    return Err(self.err(
                        n.pos,
                        format!(
                            "nodes.hostname '{}' is not valid: it {e}",
                            yaml::show(&name)
                        ),
                    ));
                }
                if identity::is_image_default(&name) {
                    return Err(self.err(
                        n.pos,
                        format!(
                            "nodes.hostname '{name}' is a name the images ship with, which a node gives up at its next boot; pick a name of your own"
                        ),
                    ));
                }
                // Hostnames are one name whatever their case, everywhere.
                keys[1].push((name.to_ascii_lowercase(), n.pos));
                Some(name)
            }
            None => None,
        };
        let role = match f[2] {
            Some(n) => Some(
                [identity::Role::Control, identity::Role::Target]
                    [self.choice(n, "nodes.role", &["control", "target"])?],
            ),
            None => None,
        };
        let manager = match f[3] {
            Some(n) => match n.value {
                Value::Bool(b) => Some(b),
                _ => return Err(self.expected(n, "nodes.manager", "true or false")),
            },
            None => None,
        };
        if hostname.is_none() && role.is_none() && manager.is_none() {
            return Err(self.err(
                item.pos,
                "a nodes item pins nothing; add a hostname, a role or manager",
            ));
        }
        Ok(NodePin {
            mac,
            hostname,
            role,
            manager,
        })
    }

    /// A service; its name and published ports go to `keys`.
    fn container(&mut self, item: &Node, keys: &mut Keys) -> Result<Container, Error> {
        if !matches!(item.value, Value::Map(_)) {
            return Err(self.expected(item, "a containers item", "a mapping with name and image"));
        }
        let f = self.fields(
            item,
            "a containers item",
            &["name", "image", "replicas", "placement", "ports", "publish"],
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
            service_name,
            "use 1-63 letters and digits, with '-' or '_' only between them (swarm's rule)",
        )?;
        let image = self.name(
            image,
            "containers.image",
            255,
            // Not an option to the docker CLI (`-x`), nor a path (`/`, `.`).
            |s| alnum_then(s, |b| b.is_ascii_graphic()),
            "an image reference starts with a letter or digit and has no spaces, like nginx:alpine",
        )?;
        let mut svc = Container {
            name,
            image,
            replicas: 1,
            placement: Placement::default(),
            ports: Vec::new(),
            publish: None,
        };
        if let Some(n) = f[2] {
            svc.replicas = self.int(n, "containers.replicas", 0, 1000)? as u32;
        }
        if let Some(n) = f[3] {
            let f = self.fields(n, "containers.placement", &["arch", "labels"])?;
            if let Some(n) = f[0] {
                let names = identity::Arch::ALL.map(identity::Arch::uname);
                let arch =
                    identity::Arch::ALL[self.choice(n, "containers.placement.arch", &names)?];
                svc.placement.arch = Some(arch);
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
                    // What the swarm engine makes of it (swarm/services.rs):
                    // refused now, with the line, not by the swarm later.
                    let constraint = format!("node.labels.{}=={value}", e.key);
                    if let Some(why) = parse::constraint_error(&constraint) {
                        return Err(self.err(
                            e.key_pos,
                            format!(
                                "placement label '{}: {}' is no constraint swarm takes ({}): {why}",
                                yaml::show(&e.key),
                                yaml::show(&value),
                                yaml::show(&constraint)
                            ),
                        ));
                    }
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
                // Swarm publishes a port on every node: SSH's would lock
                // rccr out of them all, swarm's own would cut the cluster.
                let ssh = port.published == self.ssh_port || port.published == 22;
                if matches!(
                    (port.published, port.protocol),
                    (2377 | 7946, Protocol::Tcp) | (7946 | 4789, Protocol::Udp)
                ) || ssh && port.protocol == Protocol::Tcp
                {
                    return Err(self.err(
                        p.pos,
                        "SSH's and swarm's own ports (22 and ssh.port, 2377/tcp, 7946, 4789/udp) are not published: swarm takes a published port on every node; publish another",
                    ));
                }
                let mut key = port.published.to_string();
                key.push_str(if port.protocol == Protocol::Udp {
                    "/udp"
                } else {
                    "/tcp"
                });
                keys[1].push((key, p.pos));
                svc.ports.push(port);
            }
        }
        if let Some(n) = f[5] {
            let names = Publish::ALL.map(Publish::name);
            svc.publish = Some(Publish::ALL[self.choice(n, "containers.publish", &names)?]);
        }
        // Swarm tells service names apart regardless of case.
        keys[0].push((svc.name.to_ascii_lowercase(), name_node.pos));
        Ok(svc)
    }
}

/// A letter or digit, then letters, digits, `-`, `_` or `.`.
fn label(s: &str) -> bool {
    alnum_then(s, |b| matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `s` is letters and digits, and after the first byte also bytes
/// `also` takes.
fn alnum_then(s: &str, also: impl Fn(u8) -> bool) -> bool {
    s.bytes()
        .enumerate()
        .all(|(n, b)| b.is_ascii_alphanumeric() || (n > 0 && also(b)))
}

/// Swarm's service names (swarmkit's `isValidDNSName`): letters and
/// digits, with `-` or `_` only between them.
fn service_name(s: &str) -> bool {
    alnum_then(s, |b| b == b'-' || b == b'_')
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}
