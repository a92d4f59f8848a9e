//! Stage 8 of setup, and the plan of stage 3: tables for people, `--json`
//! for programs, through the one printer. Hostnames and details are the
//! nodes' words, so they are escaped. The plan shows each new node's host
//! key fingerprint: first contact is when a stranger could stand in for a
//! node, and the node's console shows the same fingerprint.
use super::discover::{Candidate, Class};
use super::plan::{Action, Planned};
use crate::print::{self, Object, Table};
use crate::state::inventory::NodeRecord;
use crate::swarm::engine::{self, NodeReport};
use std::net::IpAddr;

/// The role column: only nodes of the cluster have one.
fn shown_role(c: &Candidate) -> &'static str {
    if c.class.is_node() {
        c.role.as_str()
    } else {
        "-"
    }
}

fn shown_name(name: Option<&str>) -> String {
    name.map_or("-".into(), |n| print::name(n).into_owned())
}

fn host_object(c: &Candidate, result: &str) -> Object {
    Object::new()
        .str("ip", &c.ip.to_string())
        .opt("mac", c.mac.map(|m| m.to_string()).as_deref())
        .opt("hostname", c.hostname.as_deref())
        .opt("arch", c.arch.map(|a| a.uname()))
        .str("role", shown_role(c))
        .str("found", c.class.as_str())
        .opt("host_key", c.host_key.as_deref())
        .opt("moved_from", moved_from(c).as_deref())
        .str("result", result)
}

/// The address a node left since the last run, if it moved.
fn moved_from(c: &Candidate) -> Option<String> {
    c.moved_from.map(|ip| ip.to_string())
}

/// `, moved from OLD` for a node that moved, else nothing.
fn moved_note(c: &Candidate) -> String {
    moved_from(c).map_or(String::new(), |ip| format!(", moved from {ip}"))
}

fn record_object(r: &NodeRecord, found: &str, result: &str, key: &str) -> Object {
    Object::new()
        .str("ip", &r.ip.to_string())
        .str("mac", &r.mac.map_or("-".into(), |m| m.to_string()))
        .str("hostname", &r.hostname)
        .str("arch", r.arch_name())
        .str("role", r.role.as_str())
        .str("found", found)
        .str("result", result)
        .str("key", key)
}

/// What setup will do, host by host.
pub fn plan(planned: &[Planned], as_json: bool) -> String {
    if as_json {
        let objects: Vec<Object> = planned
            .iter()
            .map(|p| {
                let o = host_object(&p.candidate, &p.candidate.class.to_string());
                match p.new_name() {
                    Some(name) => o.str("new_hostname", name),
                    None => o,
                }
            })
            .collect();
        return print::array(&objects);
    }
    let mut table = Table::new(&["IP", "MAC", "HOSTNAME", "FOUND", "HOST KEY", "PLAN"]);
    for p in planned {
        let c = &p.candidate;
        let plan = match (&p.action, c.class) {
            (Action::Adopt { rename: Some(name) }, _) => {
                format!("adopt as {name}, replace the temporary key")
            }
            (Action::Adopt { rename: None }, _) => "adopt, replace the temporary key".into(),
            (Action::NotListed, _) => {
                "none: its MAC is not under nodes: (discovery.adopt: listed)".into()
            }
            (Action::Leave, Class::Adopted) => {
                format!("none: already in the cluster{}", moved_note(c))
            }
            (Action::Leave, Class::Unpinned) => {
                "none: accepts the cluster key, host key never pinned".into()
            }
            (Action::Leave, Class::Foreign) => {
                "none: accepts the temporary key, but not named like a node".into()
            }
            (Action::Leave, Class::Refused) => "none: refuses our keys".into(),
            (Action::Leave, Class::HostKeyMismatch) => {
                "none: its host key is not the pinned one".into()
            }
            (Action::Leave, Class::Duplicate) => {
                "none: its host key, MAC or name is another host's (see its note)".into()
            }
            (Action::Leave, Class::Untrusted(why)) => format!("none: untrusted, {why}"),
            (Action::Leave, Class::New) => "none: its rename failed (see its note)".into(),
            (Action::Leave, _) => "none: no SSH".into(),
        };
        // First contact: the fingerprint to compare with the node's console.
        let host_key = match (c.class, &c.host_key) {
            (Class::New | Class::Unpinned | Class::Duplicate, Some(key)) => key.to_string(),
            _ => "-".into(),
        };
        table.row([
            c.ip.to_string(),
            c.mac.map_or("-".into(), |m| m.to_string()),
            shown_name(c.hostname.as_deref()),
            c.class.as_str().to_string(),
            host_key,
            plan,
        ]);
    }
    table.render()
}

/// What setup did: the control, every host found, and the known nodes
/// that did not answer (`missing`, the last records; `held back` those
/// at `held`); then, when the engine ran, what each of its layers did on
/// each node, and the services.
pub fn outcome(
    planned: &[Planned],
    records: &[NodeRecord],
    missing: usize,
    held: &[IpAddr],
    engine: Option<&engine::Report>,
    as_json: bool,
) -> String {
    let control = records.first();
    let missing = &records[records.len() - missing.min(records.len())..];
    let missing_result = |r: &NodeRecord| match held.contains(&r.ip) {
        true => "held back",
        false => "not found this time",
    };
    // A node's layers are those the engine ran at its address: a name is
    // told, or a DNS one, and a host that is no node may carry a node's.
    let layers = |ip: Option<IpAddr>| {
        let ip = ip?.to_string();
        engine.and_then(|e| e.nodes.iter().find(|n| n.ip == ip))
    };
    if as_json {
        let mut objects: Vec<Object> = Vec::new();
        let with_layers = |o: Object, ip: Option<IpAddr>| match layers(ip) {
            Some(n) => layer_fields(o, n),
            None => o,
        };
        if let Some(r) = control {
            objects.push(with_layers(
                record_object(r, "self", "control", "-"),
                Some(r.ip),
            ));
        }
        for p in planned {
            let c = &p.candidate;
            let o = host_object(c, &p.result()).str("key", p.key_state());
            let node = (c.class == Class::Adopted).then_some(IpAddr::V4(c.ip));
            objects.push(with_layers(o, node));
        }
        for r in missing {
            objects.push(with_layers(
                record_object(r, "missing", missing_result(r), "cluster"),
                Some(r.ip),
            ));
        }
        for s in engine.map_or(&[][..], |e| &e.services) {
            objects.push(
                Object::new()
                    .str("kind", "service")
                    .str("service", &s.name)
                    .str("result", &s.result)
                    .opt(
                        "running",
                        s.running.map(|(r, w)| format!("{r}/{w}")).as_deref(),
                    )
                    .str("runs_on", &s.runs_on)
                    .bool("ok", s.ok),
            );
        }
        return print::array(&objects);
    }
    let mut table = Table::new(&["NODE", "IP", "ARCH", "ROLE", "KEY", "RESULT"]);
    if let Some(r) = control {
        record_row(&mut table, r, "-", "this machine");
    }
    for p in planned {
        let c = &p.candidate;
        table.row([
            shown_name(c.hostname.as_deref()),
            c.ip.to_string(),
            c.arch.map_or("-", |a| a.uname()).to_string(),
            shown_role(c).to_string(),
            p.key_state().to_string(),
            print::text(&format!("{}{}", p.result(), moved_note(c))).into_owned(),
        ]);
    }
    for r in missing {
        record_row(
            &mut table,
            r,
            "cluster",
            &format!("{} (kept in the inventory)", missing_result(r)),
        );
    }
    let mut out = format!("\n{}", table.render());
    if let Some(e) = engine {
        out.push('\n');
        out.push_str(&engine_tables(e));
    }
    out
}

/// A node's layers, in its JSON object.
fn layer_fields(o: Object, n: &NodeReport) -> Object {
    o.str("kind", "node")
        .str("via", n.via)
        .str("machine", n.machine.word())
        .str("machine_detail", &n.machine.text())
        // Why a failed machine layer may fail no run, typed: no words to match.
        .bool("docker_missing", n.docker_missing)
        .str("swarm", n.swarm.word())
        .str("swarm_detail", &n.swarm.text())
}

/// The engine's report: a line per node and layer, then the services.
pub fn engine_tables(e: &engine::Report) -> String {
    let mut nodes = Table::new(&["NODE", "IP", "VIA", "MACHINE", "SWARM"]);
    for n in &e.nodes {
        nodes.row([
            print::name(&n.hostname).into_owned(),
            n.ip.clone(),
            n.via.to_string(),
            n.machine.text(),
            n.swarm.text(),
        ]);
    }
    let mut out = nodes.render();
    if !e.services.is_empty() {
        let mut services = Table::new(&["SERVICE", "RESULT", "RUNNING", "RUNS ON"]);
        for s in &e.services {
            services.row([
                print::name(&s.name).into_owned(),
                s.result.clone(),
                s.running.map_or("-".into(), |(r, w)| format!("{r}/{w}")),
                s.runs_on.clone(),
            ]);
        }
        out.push('\n');
        out.push_str(&services.render());
    }
    for line in &e.departed {
        out.push_str(&format!("{line}\n"));
    }
    if let Some(cluster) = &e.cluster {
        out.push_str(&format!("swarm: {cluster}\n"));
    }
    out
}

fn record_row(table: &mut Table, r: &NodeRecord, key: &str, result: &str) {
    table.row([
        print::name(&r.hostname).into_owned(),
        r.ip.to_string(),
        r.arch_name().to_string(),
        r.role.as_str().to_string(),
        key.to_string(),
        result.to_string(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A node of the inventory found at 10.0.5.9, as `class`.
    fn found(class: Class) -> Candidate {
        Candidate {
            hostname: "node-1".parse().ok(),
            host_key: "SHA256:abc".parse().ok(),
            class,
            ..Candidate::at(
                "10.0.5.9".parse().unwrap(),
                "02:52:43:00:00:01".parse().ok(),
            )
        }
    }

    /// The engine's report of `hostname` at `ip`: no Docker engine.
    fn node_report(hostname: &str, ip: &str) -> engine::NodeReport {
        engine::NodeReport {
            hostname: hostname.into(),
            ip: ip.into(),
            via: "rccr",
            machine: engine::Layer::Failed("no Docker engine installed".into()),
            swarm: engine::Layer::Skipped("-".into()),
            docker_missing: true,
        }
    }

    /// An engine report of `node` alone.
    fn engine_of(node: engine::NodeReport) -> engine::Report {
        engine::Report {
            nodes: vec![node],
            services: Vec::new(),
            cluster: None,
            departed: Vec::new(),
            led: false,
            engines: false,
            control_engine: false,
            manager: None,
            timings: Vec::new(),
            unrotated: None,
        }
    }

    /// A host's JSON object carries the layers of the node the engine ran
    /// at its address, and only an adopted one: a refused host named like
    /// a node (its DNS name, a stale lease at the node's old address) was
    /// given that node's layers by name (review setup-flow, finding 6),
    /// and a node whose told name differs in case lost its own.
    #[test]
    fn a_host_gets_the_layers_of_the_adopted_node_at_its_address_only() {
        let elsewhere = engine_of(node_report("node-1", "10.0.5.20"));
        for class in [Class::Refused, Class::Adopted] {
            let planned = planned_alone(found(class));
            let json = outcome(&planned, &[], 0, &[], Some(&elsewhere), true);
            assert!(!json.contains("\"kind\": \"node\""), "{class:?}: {json}");
        }
        let here = engine_of(node_report("NODE-1", "10.0.5.9"));
        let refused = planned_alone(found(Class::Refused));
        let json = outcome(&refused, &[], 0, &[], Some(&here), true);
        assert!(!json.contains("\"kind\": \"node\""), "{json}");
        let adopted = planned_alone(found(Class::Adopted));
        let json = outcome(&adopted, &[], 0, &[], Some(&here), true);
        assert!(json.contains("\"kind\": \"node\""), "{json}");
    }

    /// A target without Docker installed says so in a field of its own:
    /// with no swarm recorded its `machine: failed` fails no run, which
    /// only its detail's words told.
    #[test]
    fn a_node_without_docker_says_so_by_a_field() {
        let planned = super::super::plan::plan(
            vec![found(Class::Adopted)],
            &[super::super::plan::control()],
            &Config::default(),
        );
        let layers = |docker_missing| {
            engine_of(engine::NodeReport {
                docker_missing,
                ..node_report("node-1", "10.0.5.9")
            })
        };
        for missing in [true, false] {
            let json = outcome(&planned, &[], 0, &[], Some(&layers(missing)), true);
            let field = format!("\"docker_missing\": {missing}");
            assert!(json.contains(&field), "{json}");
        }
    }

    /// The plan for `candidate` found alone, with the default config.
    fn planned_alone(candidate: Candidate) -> Vec<super::super::plan::Planned> {
        let control = super::super::plan::control();
        super::super::plan::plan(vec![candidate], &[control], &Config::default())
    }

    #[test]
    fn a_node_that_moved_says_from_where() {
        let mut candidate = found(Class::Adopted);
        candidate.moved_from = "10.0.5.6".parse().ok();
        let planned = planned_alone(candidate);
        let table = plan(&planned, false);
        assert!(
            table.contains("none: already in the cluster, moved from 10.0.5.6"),
            "{table}"
        );
        assert!(plan(&planned, true).contains("\"moved_from\": \"10.0.5.6\""));
        let report = outcome(&planned, &[], 0, &[], None, false);
        assert!(
            report.contains("already adopted, moved from 10.0.5.6"),
            "{report}"
        );
        // The result stays the word programs match; the move is a field.
        let json = outcome(&planned, &[], 0, &[], None, true);
        assert!(json.contains("\"result\": \"already adopted\""), "{json}");
    }

    #[test]
    fn a_duplicate_s_plan_claims_no_other_address() {
        // A copy of a node's card, found alone (the node is off): no
        // second address was seen, so the plan must not say there is one.
        let mut candidate = found(Class::Duplicate);
        candidate.note = Some("its host key is that of the node node-0".into());
        let planned = planned_alone(candidate);
        let table = plan(&planned, false);
        assert!(
            table.contains("none: its host key, MAC or name is another host's (see its note)"),
            "{table}"
        );
    }
}
