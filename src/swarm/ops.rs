//! What the cluster engine asks of a node's Docker engine, in two
//! spellings: Docker Engine API calls (made by the node's rccr, see
//! [`super::relay`], or on the control's own socket), and `docker` command
//! lines for nodes without rccr. Both answer with the API's JSON, so the
//! layers read one format.
//!
//! The command lines put join tokens on the node's command line, where its
//! process list shows them for the moment of the join: the relay exists so
//! that RCCR nodes never do. A manager token, which makes whoever holds it
//! a manager (root on every node), goes on no command line: a node asked
//! through its `docker` command joins as a worker, and is promoted through
//! a manager ([`JoinAs::pick`]).
use super::member::Via;
use crate::config::{Port, Protocol, Publish};
use crate::docker::api::{
    self, port_text, JoinTokens, Service, SwarmNode, ARMV6_OFF_LABEL, ARMV6_OFF_WHY,
};
use crate::docker::http::Request;
use crate::json::Value;
use crate::ssh::shell_quote;

/// A service as cluster_config.yml wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Want {
    pub name: String,
    pub image: String,
    pub replicas: u64,
    /// Sorted.
    pub constraints: Vec<String>,
    pub ports: Vec<Port>,
    /// How the ports are published.
    pub publish: Publish,
    /// Its `!=armv6l` is rccr's, to publish through ingress (the label
    /// [`ARMV6_OFF_LABEL`]), not the image's.
    pub armv6_off: bool,
}

fn protocol(p: &Port) -> &'static str {
    match p.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

impl Want {
    /// The ports as [`port_text`] writes them, sorted.
    pub fn port_texts(&self) -> Vec<String> {
        let mut ports: Vec<String> = self
            .ports
            .iter()
            .map(|p| {
                port_text(
                    p.published.into(),
                    p.target.into(),
                    protocol(p),
                    self.publish.name(),
                )
            })
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Whether `have` already is this service.
    pub fn matches(&self, have: &Service) -> bool {
        same_image(&have.image, &self.image)
            && have.replicas == Some(self.replicas)
            && have.constraints == self.constraints
            && have.ports == self.port_texts()
            && have.managed
            && have.armv6_off == self.armv6_off
    }

    /// `spec` (a new one, or the service's own) with this service's image,
    /// replicas, constraints, ports and rccr's labels; every other
    /// setting of an existing service is kept.
    pub fn patch(&self, mut spec: Value) -> Value {
        spec.set("Name", self.name.as_str().into());
        let labels = spec.entry(&["Labels"]);
        labels.set_exact("rccr.managed", "true".into());
        if self.armv6_off {
            labels.set_exact(ARMV6_OFF_LABEL, ARMV6_OFF_WHY.into());
        } else if let Value::Object(members) = labels {
            members.retain(|(k, _)| **k != *ARMV6_OFF_LABEL);
        }
        spec.entry(&["TaskTemplate", "ContainerSpec"])
            .set("Image", self.image.as_str().into());
        let constraints = self.constraints.iter().map(|c| c.as_str().into()).collect();
        spec.entry(&["TaskTemplate", "Placement"])
            .set("Constraints", Value::Array(constraints));
        spec.entry(&["Mode", "Replicated"])
            .set("Replicas", self.replicas.into());
        let ports = self
            .ports
            .iter()
            .map(|p| {
                let mut port = Value::Object(Vec::new());
                port.set("Protocol", protocol(p).into());
                port.set("TargetPort", u64::from(p.target).into());
                port.set("PublishedPort", u64::from(p.published).into());
                port.set("PublishMode", self.publish.name().into());
                port
            })
            .collect();
        spec.entry(&["EndpointSpec"])
            .set("Ports", Value::Array(ports));
        spec
    }
}

/// Whether the service's image `have` is the config's `want` as Docker
/// reads them: `nginx`, `nginx:latest` and `docker.io/library/nginx:latest`
/// are one. A service the docker CLI made reads back in its full form, and
/// may carry the digest it resolved the tag to then: a digest counts only
/// when the config names one (then it must be the same).
fn same_image(have: &str, want: &str) -> bool {
    let (have_name, have_digest) = full_reference(have);
    let (want_name, want_digest) = full_reference(want);
    have == want
        || (have_name == want_name && (want_digest.is_empty() || have_digest == want_digest))
}

/// `DOMAIN/PATH:TAG`, with Docker's defaults filled in (Docker Hub, its
/// `library/` for a one-word name, the tag `latest` unless a digest
/// names the image), and the digest (`sha256:...`, or "").
fn full_reference(image: &str) -> (String, &str) {
    let (name, digest) = image.split_once('@').unwrap_or((image, ""));
    let last = name.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name[last..].rfind(':') {
        Some(i) => (&name[..last + i], &name[last + i + 1..]),
        None => (name, if digest.is_empty() { "latest" } else { "" }),
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest)
        }
        _ => ("docker.io", name),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io"
    } else {
        domain
    };
    let library = if domain == "docker.io" && !path.contains('/') {
        "library/"
    } else {
        ""
    };
    (format!("{domain}/{library}{path}:{tag}"), digest)
}

/// A join token, by the role it joins as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinAs<'a> {
    Worker(&'a str),
    /// Never on a command line ([`Op::command`] refuses it).
    Manager(&'a str),
}

impl<'a> JoinAs<'a> {
    /// The token a node asked `via` joins with, to become a manager
    /// (`manager`) or a worker: through the docker CLI only ever the worker
    /// token, and the caller promotes it through a manager afterwards.
    pub fn pick(tokens: &'a JoinTokens, manager: bool, via: Via) -> JoinAs<'a> {
        if manager && via != Via::Cli {
            JoinAs::Manager(&tokens.manager)
        } else {
            JoinAs::Worker(&tokens.worker)
        }
    }

    pub fn is_manager(self) -> bool {
        matches!(self, JoinAs::Manager(_))
    }

    /// "manager" or "worker".
    pub fn role(self) -> &'static str {
        if self.is_manager() {
            "manager"
        } else {
            "worker"
        }
    }
}

/// One thing asked of a node's engine.
#[derive(Clone, Copy)]
pub enum Op<'a> {
    Info,
    /// The join tokens (on a manager).
    Tokens,
    Init {
        advertise: &'a str,
        /// `--force-new-cluster`: a new raft from this manager's state.
        force_new: bool,
    },
    Join {
        token: JoinAs<'a>,
        advertise: &'a str,
        /// `IP:2377` of a manager.
        manager: &'a str,
    },
    /// A new worker join token, or manager one (`manager`), on a manager
    /// (its swarm's spec and version, [`api::swarm_spec`]): the old one (a
    /// docker CLI join showed, or a node that is no manager was sent)
    /// joins nothing more.
    RotateToken {
        manager: bool,
        spec: &'a Value,
        version: u64,
    },
    Nodes,
    /// Sets a node's role and rccr's labels on it (on a manager).
    NodeSet {
        node: &'a SwarmNode,
        manager: bool,
        labels: &'a [(&'static str, String)],
    },
    /// Demotes (if needed) and removes a node (on a manager).
    NodeRemove {
        node: &'a SwarmNode,
    },
    /// Moves a node's tasks elsewhere and takes no new ones (on a manager).
    NodeDrain {
        node: &'a SwarmNode,
    },
    /// Makes this node leave its swarm.
    Leave {
        force: bool,
    },
    Image {
        name: &'a str,
    },
    Distribution {
        name: &'a str,
    },
    Services,
    ServiceCreate {
        want: &'a Want,
    },
    ServiceUpdate {
        have: &'a Service,
        want: &'a Want,
    },
    ServiceRemove {
        id: &'a str,
    },
    RunningTasks,
}

impl Op<'_> {
    /// For a change made at the version of what it changes (a swarm node,
    /// a service): the op that reads that afresh.
    pub fn reread(&self) -> Option<Op<'static>> {
        match self {
            Op::NodeSet { .. } | Op::NodeRemove { .. } | Op::NodeDrain { .. } => Some(Op::Nodes),
            Op::ServiceUpdate { .. } => Some(Op::Services),
            Op::RotateToken { .. } => Some(Op::Tokens),
            _ => None,
        }
    }

    /// Runs the same change made from `read`, the answer to
    /// [`Op::reread`]; `None` when that no longer holds what it changes.
    pub fn redo<R>(&self, read: &Value, run: impl FnOnce(&Op) -> R) -> Option<R> {
        let node = |id: &str| SwarmNode::parse_list(read).into_iter().find(|n| n.id == id);
        Some(match *self {
            Op::NodeSet {
                node: old,
                manager,
                labels,
            } => run(&Op::NodeSet {
                node: &node(&old.id)?,
                manager,
                labels,
            }),
            Op::NodeRemove { node: old } => run(&Op::NodeRemove {
                node: &node(&old.id)?,
            }),
            Op::NodeDrain { node: old } => run(&Op::NodeDrain {
                node: &node(&old.id)?,
            }),
            Op::RotateToken {
                manager,
                spec,
                version,
            } => {
                // A read without them is a docker CLI's, whose command
                // reads the swarm itself: the same op again.
                let (spec, version) = api::swarm_spec(read).unwrap_or((spec, version));
                run(&Op::RotateToken {
                    manager,
                    spec,
                    version,
                })
            }
            Op::ServiceUpdate { have, want } => {
                let services = Service::parse_list(read);
                let have = services.into_iter().find(|s| s.id == have.id)?;
                run(&Op::ServiceUpdate { have: &have, want })
            }
            _ => return None,
        })
    }
}

impl Op<'_> {
    /// The API calls, in order; the answer is the last one's.
    pub fn requests(&self) -> Vec<Request> {
        match self {
            Op::Info => vec![api::info()],
            Op::Tokens => vec![api::swarm()],
            Op::Init {
                advertise,
                force_new,
            } => vec![api::swarm_init(advertise, *force_new)],
            Op::Join {
                token: JoinAs::Worker(token) | JoinAs::Manager(token),
                advertise,
                manager,
            } => vec![api::swarm_join(token, advertise, manager)],
            Op::RotateToken {
                manager,
                spec,
                version,
            } => vec![api::swarm_rotate_token(spec, *version, *manager)],
            Op::Nodes => vec![api::nodes()],
            Op::NodeSet {
                node,
                manager,
                labels,
            } => {
                let mut spec = node.spec.clone();
                spec.set("Role", if *manager { "manager" } else { "worker" }.into());
                for (key, value) in labels.iter() {
                    spec.entry(&["Labels"])
                        .set_exact(key, value.as_str().into());
                }
                vec![api::node_update(node, &spec)]
            }
            Op::NodeRemove { node } => {
                let mut calls = Vec::new();
                if node.manager {
                    let mut spec = node.spec.clone();
                    spec.set("Role", "worker".into());
                    calls.push(api::node_update(node, &spec));
                }
                calls.push(api::node_remove(&node.id));
                calls
            }
            Op::NodeDrain { node } => {
                let mut spec = node.spec.clone();
                spec.set("Availability", "drain".into());
                vec![api::node_update(node, &spec)]
            }
            Op::Leave { force } => vec![api::swarm_leave(*force)],
            Op::Image { name } => vec![api::image(name)],
            Op::Distribution { name } => vec![api::distribution(name)],
            Op::Services => vec![api::services()],
            Op::ServiceCreate { want } => {
                vec![api::service_create(&want.patch(Value::Object(Vec::new())))]
            }
            Op::ServiceUpdate { have, want } => {
                vec![api::service_update(have, &want.patch(have.spec.clone()))]
            }
            Op::ServiceRemove { id } => vec![api::service_remove(id)],
            Op::RunningTasks => vec![api::running_tasks()],
        }
    }

    /// The same as a POSIX sh command line of `docker` commands, printing
    /// the API's JSON where the op answers with something.
    pub fn command(&self) -> String {
        let q = |s: &str| shell_quote(s);
        match self {
            Op::Info => "docker info --format '{{json .}}'".into(),
            // Each list fails the op with docker's own error (`$(…)` alone
            // hides it): a lost quorum is recognised by its words, and a
            // list that could not be read is never taken for an empty one.
            Op::Tokens => "w=$(docker swarm join-token -q worker) && \
                 m=$(docker swarm join-token -q manager) || exit 1; \
                 printf '{\"JoinTokens\":{\"Worker\":\"%s\",\"Manager\":\"%s\"}}' \"$w\" \"$m\""
                .into(),
            Op::Init {
                advertise,
                force_new,
            } => format!(
                "docker swarm init{} --advertise-addr {} >/dev/null",
                if *force_new {
                    " --force-new-cluster"
                } else {
                    ""
                },
                q(advertise)
            ),
            Op::Join {
                token: JoinAs::Manager(_),
                ..
            } => "echo 'rccr: a manager join token goes on no command line' >&2; exit 1".into(),
            Op::Join {
                token: JoinAs::Worker(token),
                advertise,
                manager,
            } => format!(
                "docker swarm join --token {} --advertise-addr {} {} >/dev/null",
                q(token),
                q(advertise),
                q(manager)
            ),
            // The new token goes to /dev/null, never into output.
            Op::RotateToken { manager, .. } => format!(
                "docker swarm join-token --rotate -q {} >/dev/null",
                if *manager { "manager" } else { "worker" }
            ),
            Op::Nodes => "ids=$(docker node ls -q) || exit 1; docker node inspect $ids".into(),
            Op::NodeSet {
                node,
                manager,
                labels,
            } => {
                let mut c = format!(
                    "docker node update --role {}",
                    if *manager { "manager" } else { "worker" }
                );
                for (key, value) in labels.iter() {
                    c.push_str(&format!(" --label-add {}", q(&format!("{key}={value}"))));
                }
                format!("{c} {} >/dev/null", q(&node.id))
            }
            Op::NodeRemove { node } => {
                let demote = if node.manager {
                    format!("docker node demote {} >/dev/null && ", q(&node.id))
                } else {
                    String::new()
                };
                format!("{demote}docker node rm --force {} >/dev/null", q(&node.id))
            }
            Op::NodeDrain { node } => format!(
                "docker node update --availability drain {} >/dev/null",
                q(&node.id)
            ),
            Op::Leave { force } => format!(
                "docker swarm leave{} >/dev/null",
                if *force { " --force" } else { "" }
            ),
            Op::Image { name } => {
                format!("docker image inspect --format '{{{{json .}}}}' {}", q(name))
            }
            Op::Distribution { .. } => {
                "echo 'no registry query through the docker CLI' >&2; exit 1".into()
            }
            Op::Services => "ids=$(docker service ls -q) || exit 1; \
                 if [ -n \"$ids\" ]; then docker service inspect $ids; else echo '[]'; fi"
                .into(),
            Op::ServiceCreate { want } => {
                let mut c = format!(
                    "docker service create --detach --no-resolve-image --name {} --replicas {} --label rccr.managed=true",
                    q(&want.name),
                    want.replicas
                );
                if want.armv6_off {
                    c.push_str(&format!(" --label {ARMV6_OFF_LABEL}={ARMV6_OFF_WHY}"));
                }
                for constraint in &want.constraints {
                    c.push_str(&format!(" --constraint {}", q(constraint)));
                }
                for port in want.port_texts() {
                    c.push_str(&format!(" --publish {}", q(&port)));
                }
                format!("{c} {} >/dev/null", q(&want.image))
            }
            Op::ServiceUpdate { have, want } => {
                let mut c = format!(
                    "docker service update --detach --no-resolve-image --image {}",
                    q(&want.image)
                );
                c.push_str(&format!(
                    " --replicas {} --label-add rccr.managed=true",
                    want.replicas
                ));
                if want.armv6_off {
                    c.push_str(&format!(" --label-add {ARMV6_OFF_LABEL}={ARMV6_OFF_WHY}"));
                } else if have.armv6_off {
                    c.push_str(&format!(" --label-rm {ARMV6_OFF_LABEL}"));
                }
                let ports = want.port_texts();
                let changes = [
                    (
                        "--constraint-rm",
                        "--constraint-add",
                        &have.constraints,
                        &want.constraints,
                    ),
                    ("--publish-rm", "--publish-add", &have.ports, &ports),
                ];
                for (rm, add, had, wanted) in changes {
                    for gone in had.iter().filter(|h| !wanted.contains(h)) {
                        c.push_str(&format!(" {rm} {}", q(gone)));
                    }
                    for new in wanted.iter().filter(|w| !had.contains(w)) {
                        c.push_str(&format!(" {add} {}", q(new)));
                    }
                }
                // `--publish-rm` takes out every port of the target port,
                // protocol and mode it names, and `--publish-add` skips a
                // port the service had: a kept port that shares them with
                // a removed one goes back in with a second update.
                fn target(p: &str) -> Option<&str> {
                    p.split_once(",target=").map(|(_, t)| t)
                }
                let mut back = String::new();
                for kept in ports.iter().filter(|p| {
                    have.ports.contains(p)
                        && have
                            .ports
                            .iter()
                            .any(|h| !ports.contains(h) && target(h) == target(p))
                }) {
                    back.push_str(&format!(" --publish-add {}", q(kept)));
                }
                let id = q(&have.id);
                if !back.is_empty() {
                    c = format!(
                        "{c} {id} >/dev/null && docker service update --detach --no-resolve-image{back}"
                    );
                }
                format!("{c} {id} >/dev/null")
            }
            Op::ServiceRemove { id } => format!("docker service rm {} >/dev/null", q(id)),
            Op::RunningTasks => "ids=$(docker service ls -q) || exit 1; tasks=; \
                 if [ -n \"$ids\" ]; then \
                 tasks=$(docker service ps -q --filter desired-state=running $ids) || exit 1; fi; \
                 if [ -n \"$tasks\" ]; then docker inspect $tasks; else echo '[]'; fi"
                .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_asked_through_the_docker_cli_never_gets_the_manager_token() {
        let tokens = JoinTokens {
            worker: "SWMTKN-1-c-w".into(),
            manager: "SWMTKN-1-c-m".into(),
            ca: "c".into(),
        };
        let pick = |manager, via| JoinAs::pick(&tokens, manager, via);
        assert_eq!(pick(true, Via::Relay), JoinAs::Manager("SWMTKN-1-c-m"));
        assert_eq!(pick(true, Via::Local), JoinAs::Manager("SWMTKN-1-c-m"));
        assert_eq!(pick(true, Via::Cli), JoinAs::Worker("SWMTKN-1-c-w"));
        assert_eq!(pick(false, Via::Relay), JoinAs::Worker("SWMTKN-1-c-w"));
    }

    fn web() -> Want {
        Want {
            name: "web".into(),
            image: "rccr-lab/web:1".into(),
            replicas: 3,
            constraints: vec!["node.labels.rccr.arch!=i686".into()],
            ports: vec![Port {
                published: 8080,
                target: 80,
                protocol: Protocol::Tcp,
            }],
            publish: Publish::Ingress,
            armv6_off: false,
        }
    }

    #[test]
    fn a_new_service_spec() {
        assert_eq!(
            web().patch(Value::Object(Vec::new())).render(),
            r#"{"Name":"web","Labels":{"rccr.managed":"true"},"TaskTemplate":{"ContainerSpec":{"Image":"rccr-lab/web:1"},"Placement":{"Constraints":["node.labels.rccr.arch!=i686"]}},"Mode":{"Replicated":{"Replicas":3}},"EndpointSpec":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}"#
        );
    }

    #[test]
    fn an_update_keeps_what_rccr_does_not_own() {
        let have = Service::parse_list(
            &Value::parse(
                br#"[{"ID":"s1","Version":{"Index":7},"Spec":{"Name":"web","Labels":{"team":"a"},
                  "TaskTemplate":{"ContainerSpec":{"Image":"rccr-lab/web:0","Env":["A=1"]}},
                  "Mode":{"Replicated":{"Replicas":1}}}}]"#,
            )
            .unwrap(),
        )
        .remove(0);
        assert!(!web().matches(&have));
        let requests = Op::ServiceUpdate {
            have: &have,
            want: &web(),
        }
        .requests();
        assert_eq!(requests[0].path, "/services/s1/update?version=7");
        let spec = Value::parse(requests[0].body.as_deref().unwrap().as_bytes()).unwrap();
        assert_eq!(spec.at(&["Labels", "team"]).as_str(), Some("a"));
        assert_eq!(spec.at(&["Labels", "rccr.managed"]).as_str(), Some("true"));
        assert_eq!(
            spec.at(&["TaskTemplate", "ContainerSpec", "Env"])
                .as_array()
                .len(),
            1
        );
        let updated = Service::parse_list(&Value::Array(vec![{
            let mut s = Value::Object(Vec::new());
            s.set("ID", "s1".into());
            s.entry(&["Version"]).set("Index", 8u64.into());
            s.set("Spec", spec);
            s
        }]));
        assert!(web().matches(&updated[0]));
    }

    /// rccr's label beside its own `!=armv6l` is put with it and taken off
    /// with it, through the API and the docker CLI; other labels stay.
    #[test]
    fn the_armv6_keep_off_label_comes_and_goes_with_rccrs_constraint() {
        let off = Want {
            constraints: vec!["node.labels.rccr.arch!=armv6l".into()],
            armv6_off: true,
            ..web()
        };
        let spec = off.patch(Value::parse(br#"{"Labels":{"team":"a"}}"#).unwrap());
        assert_eq!(
            spec.get("Labels").render(),
            r#"{"team":"a","rccr.managed":"true","rccr.armv6-off":"host-mode-too-small"}"#
        );
        let have = Service::parse_list(&Value::Array(vec![{
            let mut s = Value::Object(Vec::new());
            s.set("ID", "s1".into());
            s.entry(&["Version"]).set("Index", 8u64.into());
            s.set("Spec", spec.clone());
            s
        }]))
        .remove(0);
        assert!(have.armv6_off && off.matches(&have));
        let back = web();
        assert!(!back.matches(&have));
        assert_eq!(
            back.patch(spec).get("Labels").render(),
            r#"{"team":"a","rccr.managed":"true"}"#
        );
        assert!(Op::ServiceCreate { want: &off }
            .command()
            .contains(" --label rccr.armv6-off=host-mode-too-small "));
        let update = Op::ServiceUpdate {
            have: &have,
            want: &back,
        }
        .command();
        assert!(update.contains(" --label-rm rccr.armv6-off "), "{update}");
    }

    #[test]
    fn a_change_made_again_uses_the_fresh_read() {
        let stale = SwarmNode {
            id: "n1".into(),
            version: 2,
            hostname: "t".into(),
            manager: false,
            leader: false,
            reachable: false,
            status: "ready".into(),
            addr: None,
            raft_addr: None,
            spec: Value::parse(br#"{"Role":"worker"}"#).unwrap(),
        };
        let read = Value::parse(
            br#"[{"ID":"n0","Version":{"Index":9},"Spec":{}},
                 {"ID":"n1","Version":{"Index":5},"Spec":{"Role":"worker","Labels":{"rack":"a"}}}]"#,
        )
        .unwrap();
        let labels = [("rccr.role", "target".to_string())];
        let set = Op::NodeSet {
            node: &stale,
            manager: true,
            labels: &labels,
        };
        assert!(matches!(set.reread(), Some(Op::Nodes)));
        let again = set.redo(&read, |op| op.requests()).unwrap();
        assert_eq!(again[0].path, "/nodes/n1/update?version=5");
        assert_eq!(
            again[0].body.as_deref(),
            Some(r#"{"Role":"manager","Labels":{"rack":"a","rccr.role":"target"}}"#)
        );
        let drain = Op::NodeDrain { node: &stale }.redo(&read, |op| op.requests());
        assert_eq!(drain.unwrap()[0].path, "/nodes/n1/update?version=5");
        // Gone from the fresh read: nothing to make again.
        let gone = Value::parse(br#"[{"ID":"n0","Version":{"Index":9},"Spec":{}}]"#).unwrap();
        assert!(set.redo(&gone, |op| op.requests()).is_none());
        assert!(Op::Nodes.reread().is_none());
        // A new worker token, refused as out of sequence, is asked for
        // again at the swarm's version as read afresh.
        let spec = Value::parse(br#"{"Name":"default"}"#).unwrap();
        let rotate = Op::RotateToken {
            manager: false,
            spec: &spec,
            version: 3,
        };
        assert!(matches!(rotate.reread(), Some(Op::Tokens)));
        let fresh = Value::parse(br#"{"Version":{"Index":8},"Spec":{"Name":"default"}}"#).unwrap();
        let again = rotate.redo(&fresh, |op| op.requests()).unwrap();
        assert_eq!(
            again[0].path,
            "/swarm/update?version=8&rotateWorkerToken=true"
        );
        // A docker CLI's read, without a spec: the same op again, never
        // another spec.
        let cli_read = Value::parse(br#"{"JoinTokens":{}}"#).unwrap();
        let same = rotate.redo(&cli_read, |op| op.requests()).unwrap();
        assert_eq!(
            same[0].path,
            "/swarm/update?version=3&rotateWorkerToken=true"
        );
        assert_eq!(same[0].body.as_deref(), Some(r#"{"Name":"default"}"#));
        // The manager token is asked for again as the manager token.
        let manager = Op::RotateToken {
            manager: true,
            spec: &spec,
            version: 3,
        };
        let again = manager.redo(&fresh, |op| op.requests()).unwrap();
        assert_eq!(
            again[0].path,
            "/swarm/update?version=8&rotateManagerToken=true"
        );
    }

    #[test]
    fn command_lines_quote_every_word() {
        let node = SwarmNode {
            id: "n1".into(),
            version: 2,
            hostname: "t".into(),
            manager: true,
            leader: false,
            reachable: true,
            status: "ready".into(),
            addr: None,
            raft_addr: None,
            spec: Value::Null,
        };
        let labels = [("rccr.arch", "x86_64".to_string())];
        assert_eq!(
            Op::NodeSet {
                node: &node,
                manager: false,
                labels: &labels
            }
            .command(),
            "docker node update --role worker --label-add 'rccr.arch=x86_64' 'n1' >/dev/null"
        );
        assert_eq!(
            Op::NodeRemove { node: &node }.command(),
            "docker node demote 'n1' >/dev/null && docker node rm --force 'n1' >/dev/null"
        );
        assert_eq!(
            Op::Join {
                token: JoinAs::Worker("SWMTKN-1-x"),
                advertise: "10.0.0.5",
                manager: "10.0.0.2:2377"
            }
            .command(),
            "docker swarm join --token 'SWMTKN-1-x' --advertise-addr '10.0.0.5' '10.0.0.2:2377' >/dev/null"
        );
        // The new token goes to /dev/null, not onto a command line.
        assert_eq!(
            Op::RotateToken {
                manager: false,
                spec: &Value::Null,
                version: 0
            }
            .command(),
            "docker swarm join-token --rotate -q worker >/dev/null"
        );
        // The manager token's likewise: neither it nor the new one shows.
        assert_eq!(
            Op::RotateToken {
                manager: true,
                spec: &Value::Null,
                version: 0
            }
            .command(),
            "docker swarm join-token --rotate -q manager >/dev/null"
        );
        let manager = Op::Join {
            token: JoinAs::Manager("SWMTKN-1-m"),
            advertise: "10.0.0.5",
            manager: "10.0.0.2:2377",
        };
        assert!(
            !manager.command().contains("SWMTKN"),
            "{}",
            manager.command()
        );
        assert!(manager.requests()[0]
            .body
            .as_deref()
            .is_some_and(|b| b.contains("SWMTKN-1-m")));
        let have = Service {
            id: "s1".into(),
            version: 1,
            name: "web".into(),
            image: "old".into(),
            replicas: Some(1),
            constraints: vec!["gone".into()],
            ports: vec![],
            managed: false,
            armv6_off: false,
            spec: Value::Null,
        };
        assert_eq!(
            Op::ServiceUpdate {
                have: &have,
                want: &web()
            }
            .command(),
            "docker service update --detach --no-resolve-image --image 'rccr-lab/web:1' --replicas 3 --label-add rccr.managed=true \
             --constraint-rm 'gone' --constraint-add 'node.labels.rccr.arch!=i686' \
             --publish-add 'published=8080,target=80,protocol=tcp' 's1' >/dev/null"
        );
        // 8080 and 8081 both to 80, 8081 dropped: `--publish-rm` takes
        // out 8080 too, so a second update puts it back.
        let two = Service {
            ports: vec![
                "published=8080,target=80,protocol=tcp".into(),
                "published=8081,target=80,protocol=tcp".into(),
            ],
            constraints: vec!["node.labels.rccr.arch!=i686".into()],
            ..have
        };
        assert_eq!(
            Op::ServiceUpdate {
                have: &two,
                want: &web()
            }
            .command(),
            "docker service update --detach --no-resolve-image --image 'rccr-lab/web:1' --replicas 3 --label-add rccr.managed=true \
             --publish-rm 'published=8081,target=80,protocol=tcp' 's1' >/dev/null && \
             docker service update --detach --no-resolve-image --publish-add 'published=8080,target=80,protocol=tcp' 's1' >/dev/null"
        );
        // A port of another target stays without a second update.
        let other = Service {
            ports: vec![
                "published=8080,target=80,protocol=tcp".into(),
                "published=8081,target=81,protocol=tcp".into(),
            ],
            ..two
        };
        assert!(!Op::ServiceUpdate {
            have: &other,
            want: &web()
        }
        .command()
        .contains("&&"));
    }

    /// Through the docker CLI, a service is created and updated with its
    /// image as the config names it, as the API does: before, the CLI
    /// pinned `NAME:TAG@sha256:...` (what the registry said then), the
    /// name read back (`nginx:latest`) was not the config's (`nginx`), and
    /// every run "updated" the service, re-resolving the tag each time.
    #[test]
    fn the_docker_cli_keeps_the_image_as_named_and_a_pinned_one_matches() {
        let create = Op::ServiceCreate { want: &web() }.command();
        assert!(
            create.starts_with("docker service create --detach --no-resolve-image "),
            "{create}"
        );
        let pinned = |image: &str| {
            Service::parse_list(
                &Value::parse(
                    format!(
                        r#"[{{"ID":"s1","Version":{{"Index":7}},"Spec":{{"Name":"web",
                          "Labels":{{"rccr.managed":"true"}},
                          "TaskTemplate":{{"ContainerSpec":{{"Image":"{image}"}},
                          "Placement":{{"Constraints":["node.labels.rccr.arch!=i686"]}}}},
                          "Mode":{{"Replicated":{{"Replicas":3}}}},
                          "EndpointSpec":{{"Ports":[{{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080}}]}}}}}}]"#
                    )
                    .as_bytes(),
                )
                .unwrap(),
            )
            .remove(0)
        };
        let named = |image: &str| Want {
            image: image.into(),
            ..web()
        };
        let digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for (config, held) in [
            ("nginx", "nginx:latest"),
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.27", "docker.io/library/nginx:1.27"),
            ("me/app", "docker.io/me/app:latest"),
            ("registry.lan:5000/app", "registry.lan:5000/app:latest"),
            ("rccr-lab/web:1", "rccr-lab/web:1"),
        ] {
            assert!(
                named(config).matches(&pinned(&format!("{held}{digest}"))),
                "{config} {held}"
            );
        }
        for (config, held) in [
            ("nginx", "nginx:1.27"),
            ("nginx:1.27", "nginx:1.28"),
            ("registry.lan:5000/app", "registry.lan/app:latest"),
            ("me/app", "other/app"),
            ("app", "library/other:latest"),
        ] {
            assert!(
                !named(config).matches(&pinned(&format!("{held}{digest}"))),
                "{config} {held}"
            );
        }
        // A config that pins a digest matches the spec that holds it, and
        // only that one: before, the digest was cut off the spec's image
        // alone, and such a service was "updated" on every run.
        let other = "@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
        for (config, held, same) in [
            (format!("nginx{digest}"), format!("nginx{digest}"), true),
            (
                format!("nginx:1.27{digest}"),
                format!("docker.io/library/nginx:1.27{digest}"),
                true,
            ),
            (format!("nginx{other}"), format!("nginx{digest}"), false),
            (
                format!("nginx:1.27{digest}"),
                "nginx:1.27".to_string(),
                false,
            ),
            (
                format!("nginx:1.27{digest}"),
                format!("nginx:1.28{digest}"),
                false,
            ),
        ] {
            assert_eq!(
                named(&config).matches(&pinned(&held)),
                same,
                "{config} {held}"
            );
        }
    }

    /// Through the docker CLI, a list that fails fails its op with
    /// docker's own words: before, `$(docker node ls -q)` hid the failure,
    /// `docker node inspect` ran with no node and its usage's last line was
    /// the error (a lost quorum went unrecognised), and an empty service
    /// list, or empty tokens, were an answer (exit 0).
    #[test]
    fn a_list_the_docker_cli_cannot_read_fails_with_its_own_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rccr-ops-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A docker command whose lists fail as a manager's that lost its
        // quorum (STUB=lost) or answer; one that lacks its arguments
        // prints its usage, as docker's does.
        let docker = dir.join("docker");
        std::fs::write(
            &docker,
            "#!/bin/sh\ncase \"$STUB:$*\" in\n\
             lost:*' ls -q'|lost:'swarm join-token'*) \
             echo 'Error response from daemon: The swarm does not have a leader.' >&2; exit 1 ;;\n\
             *:'node ls -q') echo n1 ;;\n\
             *:'service ls -q') ;;\n\
             *:'swarm join-token -q '*) echo \"SWMTKN-$4\" ;;\n\
             *:'node inspect n1') echo '[{\"ID\":\"n1\"}]' ;;\n\
             *) echo \"docker $* needs an argument\" >&2; echo 'Display detailed information' >&2; exit 1 ;;\n\
             esac\n",
        )
        .unwrap();
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
        let run = |op: &Op, stub: &str| {
            let out = std::process::Command::new("sh")
                .args(["-c", &op.command()])
                .env("PATH", &path)
                .env("STUB", stub)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("").to_string();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                last,
            )
        };
        let answers = [
            (Op::Nodes, "[{\"ID\":\"n1\"}]\n"),
            (Op::Services, "[]\n"),
            (Op::RunningTasks, "[]\n"),
            (
                Op::Tokens,
                "{\"JoinTokens\":{\"Worker\":\"SWMTKN-worker\",\"Manager\":\"SWMTKN-manager\"}}",
            ),
        ];
        for (op, answer) in &answers {
            assert_eq!(
                run(op, "ok"),
                (true, answer.to_string(), String::new()),
                "{}",
                op.command()
            );
            assert_eq!(
                run(op, "lost"),
                (
                    false,
                    String::new(),
                    "Error response from daemon: The swarm does not have a leader.".to_string()
                ),
                "{}",
                op.command()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
