//! The Docker Engine API calls rccr makes, and closed views of their
//! answers. Everything in an answer is the engine's (or an impostor's)
//! word: identifiers that go back into a URL are checked, strings are
//! bounded, and states are closed enums.
use super::http::Request;
use crate::json::Value;
use crate::ssh::stream::bounded;

/// Docker's node, service and task IDs: lowercase letters and digits.
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Percent-encodes a query value or a path segment (image names keep `/`
/// and `:`, which the engine's router takes as they are).
fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A filter query, `?filters={"KEY":["VALUE"]}`.
fn filter(key: &str, value: &str) -> String {
    let mut json = Value::Object(Vec::new());
    json.set(key, Value::Array(vec![value.into()]));
    format!("?filters={}", encode(&json.render(), b""))
}

pub fn info() -> Request {
    Request::get("/info")
}

/// The swarm's ID and join tokens (on a manager).
pub fn swarm() -> Request {
    Request::get("/swarm")
}

/// The spec of a swarm and its version, as `GET /swarm` tells them; `None`
/// unless it tells both (a spec sent back as anything but the object read
/// would reset the swarm's settings; an engine's spec is never empty, nor
/// its version 0).
pub fn swarm_spec(swarm: &Value) -> Option<(&Value, u64)> {
    let spec = swarm.get("Spec");
    let version = swarm.at(&["Version", "Index"]).as_u64()?;
    (matches!(spec, Value::Object(fields) if !fields.is_empty()) && version > 0)
        .then_some((spec, version))
}

/// Gives the swarm a new worker join token, or manager one (`manager`),
/// on a manager, sending back its `spec` unchanged at its `version`
/// ([`swarm_spec`]), as `docker swarm join-token --rotate` does. Nodes
/// that joined stay; the old token joins nothing more.
pub fn swarm_rotate_token(spec: &Value, version: u64, manager: bool) -> Request {
    let role = if manager { "Manager" } else { "Worker" };
    Request::post(
        format!("/swarm/update?version={version}&rotate{role}Token=true"),
        spec.render(),
    )
}

/// Creates a swarm here; `force_new`: a new raft from this manager's own
/// copy of a swarm that lost its quorum (same swarm ID, services and
/// nodes; the other managers must join again).
pub fn swarm_init(advertise: &str, force_new: bool) -> Request {
    let mut body = Value::Object(Vec::new());
    body.set("ListenAddr", "0.0.0.0:2377".into());
    body.set("AdvertiseAddr", advertise.into());
    if force_new {
        body.set("ForceNewCluster", Value::Bool(true));
    }
    Request::post("/swarm/init", body.render())
}

pub fn swarm_join(token: &str, advertise: &str, manager: &str) -> Request {
    let mut body = Value::Object(Vec::new());
    body.set("ListenAddr", "0.0.0.0:2377".into());
    body.set("AdvertiseAddr", advertise.into());
    body.set("RemoteAddrs", Value::Array(vec![manager.into()]));
    body.set("JoinToken", token.into());
    Request::post("/swarm/join", body.render())
}

/// Makes this node leave its swarm (`force`: even a manager, or one that
/// cannot reach the swarm).
pub fn swarm_leave(force: bool) -> Request {
    Request::post(format!("/swarm/leave?force={force}"), "")
}

pub fn nodes() -> Request {
    Request::get("/nodes")
}

/// Replaces a node's spec (its role, availability and labels).
pub fn node_update(node: &SwarmNode, spec: &Value) -> Request {
    Request::post(
        format!("/nodes/{}/update?version={}", node.id, node.version),
        spec.render(),
    )
}

pub fn node_remove(id: &str) -> Request {
    Request::delete(format!("/nodes/{}?force=true", encode(id, b"")))
}

/// The platform of the copy of an image the engine holds.
pub fn image(name: &str) -> Request {
    Request::get(format!("/images/{}/json", encode(name, b"/:@")))
}

/// The platforms a registry offers for an image (the engine asks it).
pub fn distribution(name: &str) -> Request {
    Request::get(format!("/distribution/{}/json", encode(name, b"/:@")))
}

pub fn services() -> Request {
    Request::get("/services")
}

pub fn service_create(spec: &Value) -> Request {
    Request::post("/services/create", spec.render())
}

pub fn service_update(service: &Service, spec: &Value) -> Request {
    Request::post(
        format!(
            "/services/{}/update?version={}",
            service.id, service.version
        ),
        spec.render(),
    )
}

pub fn service_remove(id: &str) -> Request {
    Request::delete(format!("/services/{}", encode(id, b"")))
}

/// The tasks the swarm wants running.
pub fn running_tasks() -> Request {
    Request::get(format!("/tasks{}", filter("desired-state", "running")))
}

/// A node's swarm membership, as its engine tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwarmState {
    Inactive,
    Pending,
    Active,
    Error,
    Locked,
    /// Anything else the engine said.
    Unknown,
}

impl SwarmState {
    pub fn parse(s: &str) -> SwarmState {
        match s {
            "inactive" => SwarmState::Inactive,
            "pending" => SwarmState::Pending,
            "active" => SwarmState::Active,
            "error" => SwarmState::Error,
            "locked" => SwarmState::Locked,
            _ => SwarmState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SwarmState::Inactive => "inactive",
            SwarmState::Pending => "pending",
            SwarmState::Active => "active",
            SwarmState::Error => "error",
            SwarmState::Locked => "locked",
            SwarmState::Unknown => "unknown",
        }
    }
}

/// `GET /info`, the parts rccr uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    pub version: String,
    pub state: SwarmState,
    /// This node's ID in its swarm ("" when none).
    pub node_id: String,
    /// The swarm's ID, known to managers ("" otherwise).
    pub cluster_id: String,
    /// Whether this node is a manager.
    pub manager: bool,
    pub error: String,
    pub cpus: u64,
    pub memory: u64,
    /// How many managers the swarm has, as this manager knows it.
    pub managers: u64,
}

impl Info {
    pub fn parse(v: &Value) -> Info {
        let id = |s: &str| {
            if is_id(s) {
                s.to_string()
            } else {
                String::new()
            }
        };
        Info {
            version: bounded(v.str_at(&["ServerVersion"])),
            state: SwarmState::parse(v.str_at(&["Swarm", "LocalNodeState"])),
            node_id: id(v.str_at(&["Swarm", "NodeID"])),
            cluster_id: id(v.str_at(&["Swarm", "Cluster", "ID"])),
            manager: v.at(&["Swarm", "ControlAvailable"]).as_bool() == Some(true),
            error: bounded(v.str_at(&["Swarm", "Error"])),
            cpus: v.get("NCPU").as_u64().unwrap_or(0),
            memory: v.get("MemTotal").as_u64().unwrap_or(0),
            managers: v.at(&["Swarm", "Managers"]).as_u64().unwrap_or(0),
        }
    }
}

/// A swarm's join tokens (`GET /swarm`). Secrets: never printed; the
/// manager token never on a command line, the worker token only on a
/// node without rccr's (docs/security.md).
pub struct JoinTokens {
    pub worker: String,
    pub manager: String,
    /// The digest of the swarm's root CA that both tokens carry
    /// (`SWMTKN-1-DIGEST-SECRET`): a joining node trusts only a manager
    /// whose certificate chains to that CA, so it tells which swarm the
    /// tokens join.
    pub ca: String,
}

impl JoinTokens {
    pub fn parse(v: &Value) -> Option<JoinTokens> {
        let token = |role| {
            let t = v.str_at(&["JoinTokens", role]);
            let (digest, secret) = t.strip_prefix("SWMTKN-1-")?.split_once('-')?;
            (t.len() < 256 && is_id(digest) && is_id(secret))
                .then(|| (t.to_string(), digest.to_string()))
        };
        let (worker, ca) = token("Worker")?;
        let (manager, manager_ca) = token("Manager")?;
        (ca == manager_ca).then_some(JoinTokens {
            worker,
            manager,
            ca,
        })
    }
}

/// A node of the swarm as a manager sees it (`GET /nodes`).
#[derive(Clone, Debug, PartialEq)]
pub struct SwarmNode {
    pub id: String,
    pub version: u64,
    pub hostname: String,
    pub manager: bool,
    pub leader: bool,
    /// A manager that raft counts (`ManagerStatus.Reachability`).
    pub reachable: bool,
    /// `ready`, `down`, ...
    pub status: String,
    /// Where the manager sees the node (`Status.Addr`), when it says. For
    /// a manager other than the leader, the source address of its own
    /// connection to the leader, which its kernel picks.
    pub addr: Option<std::net::IpAddr>,
    /// A manager's raft address (`ManagerStatus.Addr`, `IP:2377`): the
    /// advertise address it joined with, which rccr sets to its inventory
    /// address, and which a worker cannot set.
    pub raft_addr: Option<std::net::IpAddr>,
    /// The spec as it is, to change and send back.
    pub spec: Value,
}

impl SwarmNode {
    /// The nodes of a `GET /nodes` answer; entries without a usable ID or
    /// version are dropped.
    pub fn parse_list(v: &Value) -> Vec<SwarmNode> {
        v.as_array()
            .iter()
            .filter_map(|n| {
                let id = n.str_at(&["ID"]);
                Some(SwarmNode {
                    id: is_id(id).then(|| id.to_string())?,
                    version: n.at(&["Version", "Index"]).as_u64()?,
                    hostname: bounded(n.str_at(&["Description", "Hostname"])),
                    manager: n.str_at(&["Spec", "Role"]) == "manager",
                    leader: n.at(&["ManagerStatus", "Leader"]).as_bool() == Some(true),
                    reachable: n.str_at(&["ManagerStatus", "Reachability"]) == "reachable",
                    status: bounded(n.str_at(&["Status", "State"])),
                    addr: n
                        .str_at(&["Status", "Addr"])
                        .parse()
                        .ok()
                        .filter(|a: &std::net::IpAddr| !a.is_unspecified()),
                    raft_addr: n
                        .str_at(&["ManagerStatus", "Addr"])
                        .parse()
                        .ok()
                        .map(|a: std::net::SocketAddr| a.ip())
                        .filter(|a| !a.is_unspecified()),
                    spec: n.get("Spec").clone(),
                })
            })
            .collect()
    }

    /// A label of the node's spec: a Go map, whose keys are exact.
    pub fn label(&self, key: &str) -> &str {
        self.spec
            .get("Labels")
            .get_exact(key)
            .as_str()
            .unwrap_or("")
    }
}

/// A published port as rccr compares them: `published=P,target=T,protocol=X`.
pub fn port_text(published: u64, target: u64, protocol: &str, mode: &str) -> String {
    // Ingress, the default, is left out: services made before rccr knew
    // publish modes still match.
    let mode = if mode == "host" { ",mode=host" } else { "" };
    format!("published={published},target={target},protocol={protocol}{mode}")
}

/// The service label rccr puts beside the constraint
/// `node.labels.rccr.arch!=armv6l` it adds for publishing, not for the
/// image: host mode was too few nodes for the replicas, so the service
/// went off ARMv6 to publish through ingress. Its value says so.
pub const ARMV6_OFF_LABEL: &str = "rccr.armv6-off";
pub const ARMV6_OFF_WHY: &str = "host-mode-too-small";

/// A swarm service (`GET /services`).
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub id: String,
    pub version: u64,
    pub name: String,
    /// As the spec holds it, with any digest (`@sha256:...`) the docker
    /// CLI pinned or the config named.
    pub image: String,
    /// `None` for a global or job service.
    pub replicas: Option<u64>,
    /// Carries the label `rccr.managed=true`.
    pub managed: bool,
    /// Sorted.
    pub constraints: Vec<String>,
    /// Carries [`ARMV6_OFF_LABEL`]: its `!=armv6l` is rccr's publishing
    /// choice, made again each run.
    pub armv6_off: bool,
    /// Sorted, as [`port_text`] writes them.
    pub ports: Vec<String>,
    pub spec: Value,
}

impl Service {
    pub fn parse_list(v: &Value) -> Vec<Service> {
        v.as_array().iter().filter_map(Service::parse).collect()
    }

    fn parse(s: &Value) -> Option<Service> {
        let id = s.str_at(&["ID"]);
        let spec = s.get("Spec");
        let image = spec.str_at(&["TaskTemplate", "ContainerSpec", "Image"]);
        let mut constraints: Vec<String> = spec
            .at(&["TaskTemplate", "Placement", "Constraints"])
            .as_array()
            .iter()
            .filter_map(|c| c.as_str().map(bounded))
            .collect();
        constraints.sort_unstable();
        let mut ports: Vec<String> = spec
            .at(&["EndpointSpec", "Ports"])
            .as_array()
            .iter()
            .map(|p| {
                // The engine's word, which goes back on a command line
                // (`--publish-rm`): a closed set.
                let protocol = match p.str_at(&["Protocol"]) {
                    "" | "tcp" => "tcp",
                    "udp" => "udp",
                    "sctp" => "sctp",
                    _ => "unknown",
                };
                port_text(
                    p.get("PublishedPort").as_u64().unwrap_or(0),
                    p.get("TargetPort").as_u64().unwrap_or(0),
                    protocol,
                    p.str_at(&["PublishMode"]),
                )
            })
            .collect();
        ports.sort_unstable();
        Some(Service {
            id: is_id(id).then(|| id.to_string())?,
            version: s.at(&["Version", "Index"]).as_u64()?,
            name: bounded(spec.str_at(&["Name"])),
            image: bounded(image),
            replicas: spec.at(&["Mode", "Replicated", "Replicas"]).as_u64(),
            constraints,
            ports,
            managed: spec.get("Labels").get_exact("rccr.managed").as_str() == Some("true"),
            armv6_off: spec.get("Labels").get_exact(ARMV6_OFF_LABEL).as_str()
                == Some(ARMV6_OFF_WHY),
            spec: spec.clone(),
        })
    }
}

/// `os/architecture[/variant]` of an image the engine holds
/// (`GET /images/NAME/json`).
pub fn image_platform(v: &Value) -> Option<String> {
    platform(
        v.str_at(&["Os"]),
        v.str_at(&["Architecture"]),
        v.str_at(&["Variant"]),
    )
}

/// The platforms a registry offers (`GET /distribution/NAME/json`).
pub fn distribution_platforms(v: &Value) -> Vec<String> {
    v.get("Platforms")
        .as_array()
        .iter()
        .filter_map(|p| {
            platform(
                p.str_at(&["os"]),
                p.str_at(&["architecture"]),
                p.str_at(&["variant"]),
            )
        })
        .collect()
}

fn platform(os: &str, arch: &str, variant: &str) -> Option<String> {
    let word = |s: &str| s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if arch.is_empty() || !word(os) || !word(arch) || !word(variant) {
        return None;
    }
    let os = if os.is_empty() { "linux" } else { os };
    Some(if variant.is_empty() {
        format!("{os}/{arch}")
    } else {
        format!("{os}/{arch}/{variant}")
    })
}

/// How many tasks of each service run (`GET /tasks`, desired running):
/// `(service ID, running)`, sorted by ID; a service none of whose tasks
/// runs is left out. One sort (of `&str`s, which the binary sorts anyway),
/// not a search per task: a 2 MiB answer holds some 40,000 tasks.
pub fn running_per_service(v: &Value) -> Vec<(String, u64)> {
    let mut running: Vec<&str> = v
        .as_array()
        .iter()
        .filter(|t| t.str_at(&["Status", "State"]) == "running")
        .map(|t| t.str_at(&["ServiceID"]))
        .filter(|service| is_id(service))
        .collect();
    running.sort_unstable();
    let mut counts: Vec<(String, u64)> = Vec::new();
    for service in running {
        match counts.last_mut() {
            Some(last) if last.0 == service => last.1 += 1,
            _ => counts.push((service.to_string(), 1)),
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        Value::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn calls_on_the_wire() {
        assert_eq!(
            swarm_join("SWMTKN-1-abc", "10.0.0.5", "10.0.0.2:2377")
                .body
                .unwrap(),
            r#"{"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"10.0.0.5","RemoteAddrs":["10.0.0.2:2377"],"JoinToken":"SWMTKN-1-abc"}"#
        );
        assert_eq!(image("rccr-lab/web:1").path, "/images/rccr-lab/web:1/json");
        assert_eq!(image("a b?").path, "/images/a%20b%3F/json");
        assert_eq!(
            running_tasks().path,
            "/tasks?filters=%7B%22desired-state%22%3A%5B%22running%22%5D%7D"
        );
        assert_eq!(node_remove("abc").path, "/nodes/abc?force=true");
    }

    #[test]
    fn info_is_read_into_closed_types() {
        let info = Info::parse(&parse(
            r#"{"ServerVersion":"20.10.24","NCPU":2,"MemTotal":1024,
               "Swarm":{"NodeID":"n1","LocalNodeState":"active","ControlAvailable":true,
                        "Error":"","Cluster":{"ID":"c1"}}}"#,
        ));
        assert_eq!(info.state, SwarmState::Active);
        assert_eq!(
            (info.node_id.as_str(), info.cluster_id.as_str()),
            ("n1", "c1")
        );
        assert!(info.manager);
        assert_eq!((info.cpus, info.memory), (2, 1024));
        let odd = Info::parse(&parse(
            r#"{"Swarm":{"NodeID":"../x","LocalNodeState":"weird","ControlAvailable":"yes"}}"#,
        ));
        assert_eq!(odd.state, SwarmState::Unknown);
        assert_eq!(odd.node_id, "");
        assert!(!odd.manager);
        assert_eq!(Info::parse(&Value::Null).state, SwarmState::Unknown);
    }

    #[test]
    fn join_tokens_must_look_like_tokens() {
        let ok = parse(r#"{"JoinTokens":{"Worker":"SWMTKN-1-ca1-w","Manager":"SWMTKN-1-ca1-m"}}"#);
        let t = JoinTokens::parse(&ok).unwrap();
        assert_eq!(
            (t.worker.as_str(), t.manager.as_str(), t.ca.as_str()),
            ("SWMTKN-1-ca1-w", "SWMTKN-1-ca1-m", "ca1")
        );
        for bad in [
            r#"{"JoinTokens":{"Worker":"SWMTKN-1-ca1 -w","Manager":"SWMTKN-1-ca1-m"}}"#,
            // Tokens of two swarms.
            r#"{"JoinTokens":{"Worker":"SWMTKN-1-ca1-w","Manager":"SWMTKN-1-ca2-m"}}"#,
            // No digest, or no secret.
            r#"{"JoinTokens":{"Worker":"SWMTKN-1-w","Manager":"SWMTKN-1-m"}}"#,
            r#"{"JoinTokens":{"Worker":"SWMTKN-1-ca1-","Manager":"SWMTKN-1-ca1-m"}}"#,
            "{}",
        ] {
            assert!(JoinTokens::parse(&parse(bad)).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_new_worker_token_sends_the_swarm_s_spec_back_at_its_version() {
        let swarm = parse(
            r#"{"ID":"s","Version":{"Index":42},"Spec":{"Name":"default","Raft":{"SnapshotInterval":10000}},
                "JoinTokens":{"Worker":"SWMTKN-1-c-w","Manager":"SWMTKN-1-c-m"}}"#,
        );
        let (spec, version) = swarm_spec(&swarm).unwrap();
        let request = swarm_rotate_token(spec, version, false);
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.path,
            "/swarm/update?version=42&rotateWorkerToken=true"
        );
        // The spec unchanged, and no token: the engine makes the new one.
        assert_eq!(
            request.body.as_deref(),
            Some(r#"{"Name":"default","Raft":{"SnapshotInterval":10000}}"#)
        );
        // The manager token, the same way: only the flag differs.
        let manager = swarm_rotate_token(spec, version, true);
        assert_eq!(
            manager.path,
            "/swarm/update?version=42&rotateManagerToken=true"
        );
        assert_eq!(manager.body, request.body);
        // Without both, nothing is sent back: `null` or `{}` as the spec
        // would reset the swarm's settings.
        for partial in [
            r#"{"Version":{"Index":42}}"#,
            r#"{"Version":{"Index":42},"Spec":null}"#,
            r#"{"Spec":{"Name":"default"}}"#,
            r#"{"Version":{"Index":42},"Spec":{}}"#,
            r#"{"Version":{"Index":0},"Spec":{"Name":"default"}}"#,
        ] {
            assert!(swarm_spec(&parse(partial)).is_none(), "{partial}");
        }
    }

    #[test]
    fn a_managers_raft_address_is_its_manager_status_address() {
        let nodes = SwarmNode::parse_list(&parse(
            r#"[{"ID":"a","Version":{"Index":1},"Status":{"Addr":"10.0.0.12"},"ManagerStatus":{"Addr":"10.0.0.22:2377"}},
                {"ID":"b","Version":{"Index":1},"ManagerStatus":{"Addr":"[fd00::5]:2377"}},
                {"ID":"c","Version":{"Index":1},"ManagerStatus":{"Addr":"0.0.0.0:2377"}},
                {"ID":"d","Version":{"Index":1},"ManagerStatus":{"Addr":"10.0.0.9"}},
                {"ID":"e","Version":{"Index":1},"ManagerStatus":{"Addr":"x:2377"}}]"#,
        ));
        let raft: Vec<Option<String>> = nodes
            .iter()
            .map(|n| n.raft_addr.map(|a| a.to_string()))
            .collect();
        // No port, a name or the unspecified address: none.
        assert_eq!(
            raft,
            [
                Some("10.0.0.22".into()),
                Some("fd00::5".into()),
                None,
                None,
                None
            ]
        );
        assert_eq!(nodes[0].addr, "10.0.0.12".parse().ok());
    }

    #[test]
    fn nodes_and_services() {
        let nodes = SwarmNode::parse_list(&parse(
            r#"[{"ID":"n1","Version":{"Index":9},"Spec":{"Role":"manager","Labels":{"rccr.arch":"x86_64"}},
                 "Description":{"Hostname":"t1"},"Status":{"State":"ready","Addr":"10.0.0.5"},"ManagerStatus":{"Leader":true}},
                {"ID":"bad/id","Version":{"Index":1}},
                {"ID":"n2","Version":{"Index":3},"Spec":{"Role":"worker"},"Description":{"Hostname":"t2"}}]"#,
        ));
        assert_eq!(nodes.len(), 2);
        assert!(nodes[0].manager && nodes[0].leader && !nodes[1].manager);
        assert_eq!(nodes[0].label("rccr.arch"), "x86_64");
        assert_eq!(nodes[1].label("rccr.arch"), "");
        assert_eq!(nodes[0].addr, "10.0.0.5".parse().ok());
        assert_eq!(nodes[1].addr, None);
        assert_eq!((nodes[0].raft_addr, nodes[1].raft_addr), (None, None));
        assert_eq!(
            node_update(&nodes[0], &nodes[0].spec).path,
            "/nodes/n1/update?version=9"
        );
        let services = Service::parse_list(&parse(
            r#"[{"ID":"s1","Version":{"Index":4},"Spec":{"Name":"web","Labels":{"rccr.managed":"true"},
                 "TaskTemplate":{"ContainerSpec":{"Image":"nginx:alpine@sha256:00ff"},
                                 "Placement":{"Constraints":["b","a"]}},
                 "Mode":{"Replicated":{"Replicas":3}},
                 "EndpointSpec":{"Ports":[{"Protocol":"udp","TargetPort":53,"PublishedPort":5353},
                                          {"TargetPort":80,"PublishedPort":8080},
                                          {"TargetPort":81,"PublishedPort":8081,"PublishMode":"host"},
                                          {"TargetPort":82,"PublishedPort":8082,"PublishMode":"ingress"}]}}}]"#,
        ));
        let web = &services[0];
        assert_eq!(web.image, "nginx:alpine@sha256:00ff");
        assert_eq!(web.replicas, Some(3));
        assert_eq!(web.constraints, ["a", "b"]);
        assert_eq!(
            web.ports,
            [
                "published=5353,target=53,protocol=udp",
                "published=8080,target=80,protocol=tcp",
                "published=8081,target=81,protocol=tcp,mode=host",
                "published=8082,target=82,protocol=tcp",
            ]
        );
        assert!(web.managed);
    }

    /// A port's protocol is the engine's word, and goes back on a
    /// `docker service update --publish-rm` command line: only tcp, udp
    /// and sctp are kept as they are.
    #[test]
    fn a_port_protocol_is_one_of_a_closed_set() {
        let long = "x".repeat(1 << 20);
        let service = |protocol: &str| {
            let text = format!(
                r#"[{{"ID":"s1","Version":{{"Index":4}},"Spec":{{"EndpointSpec":{{"Ports":[{{"Protocol":{},"TargetPort":53,"PublishedPort":5353}}]}}}}}}]"#,
                crate::json::string(protocol)
            );
            Service::parse_list(&parse(&text)).remove(0).ports
        };
        assert_eq!(service("sctp"), ["published=5353,target=53,protocol=sctp"]);
        assert_eq!(service(""), ["published=5353,target=53,protocol=tcp"]);
        for odd in ["tcp'; reboot; '", "TCP", long.as_str()] {
            assert_eq!(service(odd), ["published=5353,target=53,protocol=unknown"]);
        }
    }

    /// Counted in one sort, not a search per task; sorted by service ID,
    /// so a caller finds a service by binary search.
    #[test]
    fn running_tasks_are_counted_per_service_in_id_order() {
        let tasks: Vec<String> = (0..300)
            .rev()
            .map(|i| {
                format!(
                    r#"{{"ServiceID":"s{}","Status":{{"State":"running"}}}}"#,
                    i % 100
                )
            })
            .collect();
        let counts = running_per_service(&parse(&format!("[{}]", tasks.join(","))));
        assert_eq!(counts.len(), 100);
        assert!(counts.windows(2).all(|w| w[0].0 < w[1].0), "{counts:?}");
        assert!(counts.iter().all(|(_, n)| *n == 3));
    }

    #[test]
    fn platforms_and_tasks() {
        assert_eq!(
            image_platform(&parse(
                r#"{"Os":"linux","Architecture":"arm","Variant":"v7"}"#
            )),
            Some("linux/arm/v7".into())
        );
        assert_eq!(image_platform(&parse(r#"{"Architecture":"../x"}"#)), None);
        assert_eq!(
            distribution_platforms(&parse(
                r#"{"Platforms":[{"architecture":"amd64","os":"linux"},{"architecture":"arm64","os":"linux","variant":"v8"}]}"#
            )),
            ["linux/amd64", "linux/arm64/v8"]
        );
        assert_eq!(
            running_per_service(&parse(
                r#"[{"ServiceID":"s1","Status":{"State":"running"}},{"ServiceID":"s1","Status":{"State":"preparing"}},
                    {"ServiceID":"s2","Status":{"State":"running"}}]"#
            )),
            [("s1".to_string(), 1), ("s2".to_string(), 1)]
        );
    }
}
