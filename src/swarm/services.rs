//! The container layer: the `containers:` of cluster_config.yml as swarm
//! services, created or updated on the leading manager.
//!
//! **Architecture.** A service runs only where its image can. Every member
//! tells the platform of the copy of the image it holds (`GET
//! /images/NAME/json`, which works offline with images loaded by hand),
//! and the leading manager asks a registry (`GET /distribution/NAME/json`,
//! which fails quietly offline). The swarm's architectures are those the
//! leader lists on its nodes (label `rccr.arch`), reached this run or not.
//! Every one the image is known not to run on gets a constraint
//! `node.labels.rccr.arch!=ARCH`; about one this run learnt nothing of (no
//! registry answered, its members were not asked), an existing service's
//! constraint stands ([`excluded`]). With no information at all, a new
//! service gets no architecture constraint and the swarm pulls where it
//! can.
//!
//! **Publishing.** Ports go through swarm's ingress routing mesh unless
//! the container says `publish: host`. A service without `publish:` whose
//! tasks can land on an ARMv6 node publishes in host mode instead:
//! swarm's overlay networks, and so the ingress mesh, are broken on ARMv6
//! (moby/moby#47496). Host mode runs one replica per node; when that is
//! too few, rccr keeps the service off ARMv6 and uses ingress
//! ([`publish_mode`]). The report says so in the service's `runs_on`.
//!
//! **Idempotent.** A service whose image, replicas, constraints and ports
//! match is not touched. Services rccr created (label `rccr.managed=true`)
//! that left the config are listed, and removed with `--remove-missing`.
//! Finally every service must run all its replicas within the config's
//! `swarm.services_timeout_s`; the report says how many ran when it passed.
use super::member::Member;
use super::ops::{Op, Want};
use crate::config::{Container, Publish};
use crate::docker::api::{self, Service, SwarmNode};
use crate::identity::Arch;
use crate::print;
use std::time::{Duration, Instant};

/// What became of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceReport {
    pub name: String,
    /// `created`, `updated`, `unchanged`, `removed`, `kept`, or a failure.
    pub result: String,
    pub ok: bool,
    /// Where it can run: the architectures, or why it is not known.
    pub runs_on: String,
    /// `running/replicas`, once known.
    pub running: Option<(u64, u64)>,
    /// How long setup waited, when the replicas were not all running then.
    pub gave_up_after: Option<Duration>,
    /// Why its running replicas were never seen, when setup could not
    /// read them until it gave up (escaped).
    pub unread: Option<String>,
    /// How its ports are published (see [`publish_mode`]).
    pub publish: Publish,
    /// In host mode, the most replicas that can run when that is fewer
    /// than the config asks for ([`Publishing::host_limit`]).
    pub host_limit: Option<u64>,
}

impl ServiceReport {
    /// A service's line before its replicas are counted (ingress, no host
    /// limit, until its publishing is known).
    fn new(name: String, result: String, runs_on: String, ok: bool) -> ServiceReport {
        ServiceReport {
            name,
            result,
            runs_on,
            running: None,
            gave_up_after: None,
            unread: None,
            publish: Publish::Ingress,
            host_limit: None,
            ok,
        }
    }

    /// What is wrong with the service, for setup's one-line error: its
    /// result, and the replicas it was short of when setup gave up.
    pub fn problem(&self) -> String {
        if let Some(unread) = &self.unread {
            return format!("{}, its replicas not seen running: {unread}", self.result);
        }
        match (self.running, self.gave_up_after, self.host_limit) {
            (Some((running, wanted)), Some(_), Some(limit)) => format!(
                "{}, {running} of {wanted} replicas running: its ports are in host mode, which runs one replica per node, and it can land on {limit} node{} (lower its replicas, or add nodes it can run on)",
                self.result,
                if limit == 1 { "" } else { "s" }
            ),
            (Some((running, wanted)), Some(waited), None) => format!(
                "{}, {running} of {wanted} replicas running after {} s (still starting? run rccr setup again, or raise swarm.services_timeout_s)",
                self.result,
                waited.as_secs()
            ),
            _ => self.result.clone(),
        }
    }
}

/// What the report adds to `runs_on` when rccr chose host mode.
pub const ARMV6_HOST_MODE: &str =
    "ports in host mode: swarm's ingress is broken on ARMv6 (moby/moby#47496)";
/// What it adds when the config asks for ingress where ARMv6 nodes run tasks.
pub const ARMV6_INGRESS: &str =
    "ports in ingress mode as configured: ARMv6 nodes will not answer (moby/moby#47496)";
/// What it adds when rccr kept a service off ARMv6 nodes to publish
/// through ingress, because host mode could not run all its replicas.
pub const ARMV6_KEPT_OFF: &str = "kept off ARMv6 nodes, ports in ingress mode: host mode runs one replica per node, too few for its replicas (moby/moby#47496)";

/// The constraint that keeps a service's tasks off an architecture.
const ARCH_OFF: &str = "node.labels.rccr.arch!=";

/// The architectures whose nodes can run an image, from the platforms the
/// members hold and a registry offers; empty when nothing is known.
pub fn supported(held: &[(Arch, Option<String>)], offered: &[String]) -> Vec<Arch> {
    let mut arches: Vec<Arch> = held
        .iter()
        .filter(|(arch, p)| {
            p.as_ref()
                .is_some_and(|p| arch.platforms().contains(&p.as_str()))
        })
        .map(|(arch, _)| *arch)
        .chain(
            Arch::ALL
                .into_iter()
                .filter(|a| offered.iter().any(|p| a.platforms().contains(&p.as_str()))),
        )
        .collect();
    arches.sort_unstable();
    arches.dedup();
    arches
}

/// What this run learnt of where an image runs.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// The architectures a registry offers it for; empty when none answered.
    pub offered: Vec<Arch>,
    /// The architectures whose members, asked this run, hold a copy they run.
    pub held: Vec<Arch>,
    /// The architectures of the members asked this run.
    pub asked: Vec<Arch>,
}

/// The architectures an image is kept off, given what this run saw, the
/// architecture of every node of the swarm (`nodes`), and the service as
/// it is (`have`). One it is seen to run on never is. One it is known not
/// to run on is: a registry answered without it, or, for a new service,
/// its members were asked and none holds the image while others do (an
/// existing service's tasks may simply never have landed there). About any
/// other this run knows nothing, and the service's own constraint stands
/// (except rccr's `!=armv6l` for publishing, [`Want::armv6_off`]):
/// a run that reaches fewer members, or no registry, changes nothing.
pub fn excluded(seen: &Seen, nodes: &[Arch], have: Option<&Service>) -> Vec<Arch> {
    // rccr's own `!=armv6l` for publishing says nothing of the image:
    // [`publish_mode`] makes it again.
    let kept: Vec<Arch> = have
        .map(|s| {
            s.constraints
                .iter()
                .filter_map(|c| c.strip_prefix(ARCH_OFF)?.parse().ok())
                .filter(|&a| !(s.armv6_off && a == Arch::Armv6l))
                .collect()
        })
        .unwrap_or_default();
    let mut arches: Vec<Arch> = Arch::ALL
        .into_iter()
        .filter(|a| {
            if seen.offered.contains(a) || seen.held.contains(a) {
                return false;
            }
            // A member holding no copy only ran no task of it: that
            // decides a new service's place, and never moves an existing one.
            let known_not = !seen.offered.is_empty()
                || (have.is_none() && !seen.held.is_empty() && seen.asked.contains(a));
            (nodes.contains(a) && known_not) || kept.contains(a)
        })
        .collect();
    arches.sort_unstable();
    arches
}

/// The service `c` as it should be, given the architecture of every node
/// of the swarm and those its image is kept off ([`excluded`]).
pub fn want(c: &Container, nodes: &[Arch], excluded: &[Arch]) -> Want {
    let publishing = publish_mode(c, nodes, excluded);
    let mut constraints: Vec<String> = Vec::new();
    if let Some(arch) = c.placement.arch {
        constraints.push(format!("node.labels.rccr.arch=={arch}"));
    }
    for (key, value) in &c.placement.labels {
        constraints.push(format!("node.labels.{key}=={value}"));
    }
    let armv6_off = publishing.armv6_off.then_some(&Arch::Armv6l);
    for arch in excluded.iter().chain(armv6_off) {
        constraints.push(format!("{ARCH_OFF}{arch}"));
    }
    constraints.sort_unstable();
    constraints.dedup();
    Want {
        name: c.name.clone(),
        image: c.image.clone(),
        replicas: u64::from(c.replicas),
        constraints,
        ports: c.ports.clone(),
        publish: publishing.mode,
        armv6_off: publishing.armv6_off,
    }
}

/// Whether a task of `c` can land on a node of architecture `arch`: the
/// swarm has one, the placement allows it, and the image is not kept off
/// it. Label constraints are not known to rccr, so they are taken to
/// allow it.
fn can_land_on(c: &Container, arch: Arch, nodes: &[Arch], excluded: &[Arch]) -> bool {
    nodes.contains(&arch) && c.placement.arch.is_none_or(|a| a == arch) && !excluded.contains(&arch)
}

/// How a service's ports are published ([`publish_mode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publishing {
    pub mode: Publish,
    /// rccr keeps the tasks off ARMv6 nodes to publish through ingress.
    pub armv6_off: bool,
    /// What the report says about it.
    pub note: Option<&'static str>,
    /// In host mode, when the replicas outnumber the nodes the service can
    /// land on: those nodes, the most replicas that can run (one each).
    pub host_limit: Option<u64>,
}

/// How `c`'s ports are published: as the config says, else host mode where
/// a task can land on an ARMv6 node (ingress is broken there), else
/// ingress. When host mode cannot run all the replicas (one per node) and
/// nodes other than ARMv6 can take them, rccr keeps the tasks off ARMv6
/// and publishes through ingress instead: the replicas the config asks for
/// all run, and every node that runs them answers. Host mode chosen by the
/// config stays, and a shortfall it makes is said ([`Publishing::host_limit`]).
pub fn publish_mode(c: &Container, nodes: &[Arch], excluded: &[Arch]) -> Publishing {
    let landing = |not_armv6: bool| {
        nodes
            .iter()
            .filter(|&&a| can_land_on(c, a, nodes, excluded) && !(not_armv6 && a == Arch::Armv6l))
            .count() as u64
    };
    let replicas = u64::from(c.replicas);
    let short = replicas > landing(false);
    let host_limit = short.then(|| landing(false));
    let armv6 = !c.ports.is_empty() && can_land_on(c, Arch::Armv6l, nodes, excluded);
    let (mode, armv6_off, note, host_limit) = match (c.publish, armv6) {
        (Some(Publish::Ingress), true) => (Publish::Ingress, false, Some(ARMV6_INGRESS), None),
        (Some(Publish::Host), _) if !c.ports.is_empty() => (Publish::Host, false, None, host_limit),
        (Some(mode), _) => (mode, false, None, None),
        (None, true) if short && landing(true) > 0 => {
            (Publish::Ingress, true, Some(ARMV6_KEPT_OFF), None)
        }
        (None, true) => (Publish::Host, false, Some(ARMV6_HOST_MODE), host_limit),
        (None, false) => (Publish::Ingress, false, None, None),
    };
    Publishing {
        mode,
        armv6_off,
        note,
        host_limit,
    }
}

/// Runs the layer: `swarm` are the members in the cluster's swarm with
/// their architectures, `lead` the leading manager; services get `timeout`
/// to run all their replicas.
pub fn converge(
    lead: &Member,
    swarm: &[(&Member, Option<Arch>)],
    containers: &[Container],
    remove_missing: bool,
    timeout: Duration,
) -> Vec<ServiceReport> {
    let images: Vec<Op> = containers
        .iter()
        .map(|c| Op::Image { name: &c.image })
        .collect();
    let held: Vec<Vec<(Arch, Option<String>)>> = {
        let per_member: Vec<Vec<Option<String>>> = crate::parallel::map(swarm, 32, |(m, _)| {
            m.calls(&images)
                .into_iter()
                .map(|a| a.ok().and_then(|v| api::image_platform(&v)))
                .collect()
        });
        (0..containers.len())
            .map(|k| {
                swarm
                    .iter()
                    .zip(&per_member)
                    .filter_map(|((_, arch), held)| Some((*arch.as_ref()?, held[k].clone())))
                    .collect()
            })
            .collect()
    };
    let registry: Vec<Op> = containers
        .iter()
        .map(|c| Op::Distribution { name: &c.image })
        .collect();
    let offered: Vec<Vec<String>> = lead
        .calls(&registry)
        .into_iter()
        .map(|a| {
            a.map(|v| api::distribution_platforms(&v))
                .unwrap_or_default()
        })
        .collect();
    let asked: Vec<Arch> = swarm.iter().filter_map(|(_, a)| *a).collect();
    let nodes = node_arches(lead).unwrap_or_else(|| asked.clone());

    let existing = match lead.call(&Op::Services) {
        Ok(v) => Service::parse_list(&v),
        Err(e) => {
            return vec![ServiceReport::new(
                "-".into(),
                format!("cannot list the services: {}", print::text(&e)),
                "-".into(),
                false,
            )]
        }
    };
    crate::failpoint::reached("services-read", &lead.addr());
    let mut reports = Vec::new();
    for (k, c) in containers.iter().enumerate() {
        // Swarm tells service names apart regardless of case.
        let have = existing
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(&c.name));
        let seen = Seen {
            offered: supported(&[], &offered[k]),
            held: supported(&held[k], &[]),
            asked: asked.clone(),
        };
        let off = excluded(&seen, &nodes, have);
        let want = want(c, &nodes, &off);
        let publishing = publish_mode(c, &nodes, &off);
        let can = supported(&held[k], &offered[k]);
        let mut runs_on = if can.is_empty() {
            "unknown: no node holds the image and no registry answered".to_string()
        } else {
            can.iter().map(|a| a.uname()).collect::<Vec<_>>().join(", ")
        };
        if can.is_empty() && !off.is_empty() {
            runs_on.push_str("; its constraints keep it off ");
            runs_on.push_str(&off.iter().map(|a| a.uname()).collect::<Vec<_>>().join(", "));
        }
        if let Some(note) = publishing.note {
            runs_on.push_str("; ");
            runs_on.push_str(note);
        }
        if let Some(limit) = publishing.host_limit {
            runs_on.push_str(&format!(
                "; host mode runs at most {limit} of its replicas here, one per node"
            ));
        }
        let (result, ok) = match have {
            Some(have) if have.name != c.name => (
                format!(
                    "failed: swarm runs it as {} and cannot rename a service; use that name",
                    print::name(&have.name)
                ),
                false,
            ),
            // rccr makes replicated services; swarm cannot turn one mode
            // into the other.
            Some(have) if have.replicas.is_none() => (
                "failed: a global or job service by this name, not rccr's: rename the container or remove the service"
                    .into(),
                false,
            ),
            Some(have) if want.matches(have) => ("unchanged".to_string(), true),
            // One made by hand becomes rccr's: --remove-missing may remove it.
            Some(have) => outcome(
                match have.managed {
                    true => "updated",
                    false => "updated; now rccr's (made by hand)",
                },
                lead.call(&Op::ServiceUpdate { have, want: &want }),
            ),
            None => outcome("created", lead.call(&Op::ServiceCreate { want: &want })),
        };
        reports.push(ServiceReport {
            publish: publishing.mode,
            host_limit: publishing.host_limit,
            ..ServiceReport::new(c.name.clone(), result, runs_on, ok)
        });
    }
    for gone in existing.iter().filter(|s| {
        s.managed
            && !containers
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(&s.name))
    }) {
        let (result, ok) = if remove_missing {
            outcome("removed", lead.call(&Op::ServiceRemove { id: &gone.id }))
        } else {
            (
                "kept: no longer in cluster_config.yml (rccr setup --remove-missing removes it)"
                    .into(),
                true,
            )
        };
        reports.push(ServiceReport::new(
            print::name(&gone.name).into_owned(),
            result,
            "-".into(),
            ok,
        ));
    }
    wait_running(lead, containers, &mut reports, timeout);
    reports
}

/// The architecture of every node of the swarm, by the labels rccr puts on
/// them (`rccr.arch`), as the leading manager lists them: reached this run
/// or not. `None` when the list cannot be read.
fn node_arches(lead: &Member) -> Option<Vec<Arch>> {
    let view = lead.call(&Op::Nodes).ok()?;
    let mut arches: Vec<Arch> = SwarmNode::parse_list(&view)
        .iter()
        .filter_map(|n| n.label("rccr.arch").parse().ok())
        .collect();
    arches.sort_unstable();
    Some(arches)
}

fn outcome(done: &str, answer: Result<crate::json::Value, String>) -> (String, bool) {
    match answer {
        Ok(_) => (done.to_string(), true),
        Err(e) => (format!("failed: {}", print::text(&e)), false),
    }
}

/// Waits until every configured service runs all its replicas, or
/// `timeout` passed; records `running/replicas` in the reports. A service
/// whose create or update failed is not waited for: it already failed. A
/// read that fails is tried again; one never seen running because the
/// reads failed until the end is not ok (unknown is not running).
fn wait_running(
    lead: &Member,
    containers: &[Container],
    reports: &mut [ServiceReport],
    timeout: Duration,
) {
    if containers.is_empty() {
        return;
    }
    let deadline = Instant::now() + timeout;
    loop {
        let read = lead
            .call(&Op::Services)
            .and_then(|services| Ok((services, lead.call(&Op::RunningTasks)?)));
        let mut all = false;
        // The last read's error, when it failed.
        let unread = match read {
            Ok((services, tasks)) => {
                let services = Service::parse_list(&services);
                let running = api::running_per_service(&tasks);
                all = true;
                for (c, report) in containers.iter().zip(reports.iter_mut()) {
                    let count = services
                        .iter()
                        .find(|s| s.name == c.name)
                        .and_then(|s| running.binary_search_by(|(id, _)| id.cmp(&s.id)).ok())
                        .map_or(0, |i| running[i].1);
                    report.running = Some((count, u64::from(c.replicas)));
                    all &= !report.ok || count >= u64::from(c.replicas);
                }
                None
            }
            Err(e) => Some(e),
        };
        if all || Instant::now() >= deadline {
            for report in reports.iter_mut().take(containers.len()).filter(|r| r.ok) {
                match (report.running, &unread) {
                    (Some((running, wanted)), _) if running >= wanted => {}
                    (Some(_), _) => {
                        report.ok = false;
                        report.gave_up_after = Some(timeout);
                    }
                    (None, Some(e)) => {
                        report.ok = false;
                        report.unread = Some(format!(
                            "could not read them in {} s: {}",
                            timeout.as_secs(),
                            print::text(e)
                        ));
                    }
                    (None, None) => {}
                }
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Placement;

    #[test]
    fn supported_arches_from_both_sources() {
        let held = [
            (Arch::X86_64, Some("linux/amd64".to_string())),
            (Arch::I686, Some("linux/amd64".to_string())),
            (Arch::Aarch64, None),
        ];
        assert_eq!(supported(&held, &[]), [Arch::X86_64]);
        assert_eq!(
            supported(&held, &["linux/arm64/v8".into()]),
            [Arch::X86_64, Arch::Aarch64]
        );
        assert_eq!(supported(&[(Arch::Aarch64, None)], &[]), []);
    }

    #[test]
    fn constraints_keep_unsupported_arches_off() {
        let c = Container {
            name: "web".into(),
            image: "rccr-lab/web:1".into(),
            replicas: 2,
            placement: Placement {
                arch: None,
                labels: vec![("disk".into(), "ssd".into())],
            },
            ports: vec![],
            publish: None,
        };
        let nodes = [Arch::X86_64, Arch::I686];
        let w = want(&c, &nodes, &[Arch::I686]);
        assert_eq!(
            w.constraints,
            ["node.labels.disk==ssd", "node.labels.rccr.arch!=i686"]
        );
        // Nothing known: no architecture constraint.
        let w = want(&c, &nodes, &[]);
        assert_eq!(w.constraints, ["node.labels.disk==ssd"]);
        // Held by the x86_64 member only, both asked: i686 is kept off.
        let seen = Seen {
            offered: vec![],
            held: vec![Arch::X86_64],
            asked: nodes.to_vec(),
        };
        assert_eq!(excluded(&seen, &nodes, None), [Arch::I686]);
        // A registry that offers amd64 only keeps i686 off, asked or not.
        let seen = Seen {
            offered: vec![Arch::X86_64],
            held: vec![],
            asked: vec![],
        };
        assert_eq!(excluded(&seen, &nodes, None), [Arch::I686]);
        // Nothing seen: nothing kept off.
        assert_eq!(excluded(&Seen::default(), &nodes, None), []);
    }

    /// A service as the swarm holds it, with these constraints and ports.
    fn service(constraints: &[&str], ports: &[&str]) -> Service {
        Service {
            id: "s1".into(),
            version: 1,
            name: "web".into(),
            image: "rccr-lab/web:1".into(),
            replicas: Some(2),
            constraints: constraints.iter().map(|c| c.to_string()).collect(),
            ports: ports.iter().map(|p| p.to_string()).collect(),
            managed: true,
            armv6_off: false,
            spec: crate::json::Value::Null,
        }
    }

    /// A run that learns less than the one before (no registry answers, a
    /// private registry, a leader asked through the docker CLI, a new tag
    /// no node holds yet, a member whose SSH is down) changes nothing:
    /// before, the constraints that kept the image off the architectures
    /// it does not run on were dropped, and the publish mode followed the
    /// members reached, so the next run put them back: rolling updates
    /// back and forth, and tasks on nodes that cannot run them.
    #[test]
    fn a_run_that_learns_less_changes_nothing() {
        let c = web(None, None, true);
        // x86_64, armv7l and armv6l nodes; the image runs on x86_64 only.
        let nodes = [Arch::X86_64, Arch::Armv7l, Arch::Armv6l];
        let first = Seen {
            offered: vec![Arch::X86_64],
            held: vec![],
            asked: nodes.to_vec(),
        };
        let off = excluded(&first, &nodes, None);
        assert_eq!(off, [Arch::Armv7l, Arch::Armv6l]);
        let made = want(&c, &nodes, &off);
        assert_eq!(
            made.constraints,
            [
                "node.labels.rccr.arch!=armv6l",
                "node.labels.rccr.arch!=armv7l"
            ]
        );
        assert_eq!(made.publish, Publish::Ingress);
        let have = service(
            &[
                "node.labels.rccr.arch!=armv6l",
                "node.labels.rccr.arch!=armv7l",
            ],
            &["published=8080,target=80,protocol=tcp"],
        );
        assert!(made.matches(&have));
        // The next runs: no registry, nothing held; or only the x86_64
        // member answers and holds it (the ARM nodes' SSH is down).
        let nothing = Seen::default();
        let x86_only = Seen {
            offered: vec![],
            held: vec![Arch::X86_64],
            asked: vec![Arch::X86_64],
        };
        for seen in [&nothing, &x86_only] {
            let off = excluded(seen, &nodes, Some(&have));
            assert_eq!(off, [Arch::Armv7l, Arch::Armv6l], "{seen:?}");
            let again = want(&c, &nodes, &off);
            assert_eq!(again, made, "{seen:?}");
            assert!(again.matches(&have), "{seen:?}");
        }
        // An image seen running somewhere it was kept off is let back.
        let loaded = Seen {
            offered: vec![],
            held: vec![Arch::X86_64, Arch::Armv7l],
            asked: nodes.to_vec(),
        };
        assert_eq!(excluded(&loaded, &nodes, Some(&have)), [Arch::Armv6l]);
        // A service that runs everywhere, in host mode for the ARMv6 node:
        // a run that cannot ask the ARMv6 member keeps host mode.
        let everywhere = Seen {
            offered: vec![],
            held: nodes.to_vec(),
            asked: nodes.to_vec(),
        };
        let off = excluded(&everywhere, &nodes, None);
        assert_eq!(off, []);
        let made = want(&c, &nodes, &off);
        assert_eq!(made.publish, Publish::Host);
        let have = service(&[], &["published=8080,target=80,protocol=tcp,mode=host"]);
        assert!(made.matches(&have));
        let unreached = Seen {
            offered: vec![],
            held: vec![Arch::X86_64, Arch::Armv7l],
            asked: vec![Arch::X86_64, Arch::Armv7l],
        };
        let off = excluded(&unreached, &nodes, Some(&have));
        assert_eq!(off, []);
        assert!(want(&c, &nodes, &off).matches(&have));
    }

    /// Not holding an image only means no task landed there: an
    /// architecture whose members hold no copy, while others do, is kept
    /// off a new service (nothing better is known), never newly off an
    /// existing one. Before, with one replica on the x86_64 node, every
    /// run without a registry added `!=aarch64` and every run with one
    /// removed it: each a placement change, rolling the tasks.
    #[test]
    fn an_arch_that_merely_ran_no_task_is_not_taken_off_an_existing_service() {
        let c = web(None, None, false);
        let nodes = [Arch::X86_64, Arch::Aarch64];
        let online = Seen {
            offered: nodes.to_vec(),
            held: vec![Arch::X86_64],
            asked: nodes.to_vec(),
        };
        let offline = Seen {
            offered: vec![],
            held: vec![Arch::X86_64],
            asked: nodes.to_vec(),
        };
        let off = excluded(&online, &nodes, None);
        assert_eq!(off, []);
        assert_eq!(want(&c, &nodes, &off).constraints, Vec::<String>::new());
        let have = service(&[], &[]);
        for (run, seen) in [&offline, &online, &offline].into_iter().enumerate() {
            let off = excluded(seen, &nodes, Some(&have));
            assert_eq!(off, [], "run {run}: {seen:?}");
            assert!(want(&c, &nodes, &off).matches(&have), "run {run}: {seen:?}");
        }
        // A new service, created offline: what the members hold is all
        // that is known, and the aarch64 member holds none.
        assert_eq!(excluded(&offline, &nodes, None), [Arch::Aarch64]);
    }

    /// rccr's own `!=armv6l`, put when host mode had too few nodes for the
    /// replicas, is made again each run from the replicas and the nodes,
    /// not read back as what the image runs on. Before, the next run took
    /// it for image knowledge that only a registry (never asked through
    /// the docker CLI, nor offline) could lift: lowering the replicas
    /// never brought host mode back, and the report stopped saying why
    /// the service avoided ARMv6.
    #[test]
    fn rccrs_own_armv6_keep_off_follows_the_replicas_with_no_registry() {
        let mut four = web(None, None, true);
        four.replicas = 4;
        let nodes = [Arch::X86_64, Arch::Armv6l, Arch::Armv6l];
        let made = want(&four, &nodes, &excluded(&Seen::default(), &nodes, None));
        assert_eq!(made.constraints, ["node.labels.rccr.arch!=armv6l"]);
        assert_eq!((made.publish, made.armv6_off), (Publish::Ingress, true));
        let mut have = service(
            &["node.labels.rccr.arch!=armv6l"],
            &["published=8080,target=80,protocol=tcp"],
        );
        have.replicas = Some(4);
        have.armv6_off = true;
        assert!(made.matches(&have));
        // The next run, the same replicas: unchanged, and still said.
        let off = excluded(&Seen::default(), &nodes, Some(&have));
        assert_eq!(off, []);
        assert!(want(&four, &nodes, &off).matches(&have));
        assert_eq!(publish_mode(&four, &nodes, &off).note, Some(ARMV6_KEPT_OFF));
        // Two replicas: host mode fits on the three nodes, ARMv6 included.
        let again = want(&web(None, None, true), &nodes, &off);
        assert_eq!((again.publish, again.armv6_off), (Publish::Host, false));
        assert_eq!(again.constraints, Vec::<String>::new());
        // The same constraint without rccr's label is the image's: it stays.
        have.armv6_off = false;
        assert_eq!(
            excluded(&Seen::default(), &nodes, Some(&have)),
            [Arch::Armv6l]
        );
    }

    fn web(arch: Option<Arch>, publish: Option<Publish>, ports: bool) -> Container {
        Container {
            name: "web".into(),
            image: "rccr-lab/web:1".into(),
            replicas: 2,
            placement: Placement {
                arch,
                labels: vec![],
            },
            ports: if ports {
                crate::config::parse_port("8080:80").into_iter().collect()
            } else {
                vec![]
            },
            publish,
        }
    }

    #[test]
    fn a_service_short_of_replicas_says_how_many_and_what_to_change() {
        let mut report = ServiceReport {
            name: "web".into(),
            result: "created".into(),
            runs_on: String::new(),
            running: Some((2, 3)),
            publish: Publish::Ingress,
            ok: false,
            gave_up_after: None,
            unread: None,
            host_limit: None,
        };
        assert_eq!(report.problem(), "created");
        report.gave_up_after = Some(Duration::from_secs(90));
        assert_eq!(
            report.problem(),
            "created, 2 of 3 replicas running after 90 s (still starting? run rccr setup again, or raise swarm.services_timeout_s)"
        );
    }

    /// The mode and the report's note.
    fn mode(c: &Container, nodes: &[Arch], excluded: &[Arch]) -> (Publish, Option<&'static str>) {
        let p = publish_mode(c, nodes, excluded);
        (p.mode, p.note)
    }

    #[test]
    fn services_that_can_land_on_armv6_publish_in_host_mode() {
        let mixed = [Arch::X86_64, Arch::Armv6l];
        let any = web(None, None, true);
        // Unset, on a swarm with an ARMv6 node: host mode, and the report says why.
        assert_eq!(
            mode(&any, &mixed, &[]),
            (Publish::Host, Some(ARMV6_HOST_MODE))
        );
        // No ARMv6 node, an image kept off it, a placement elsewhere, or
        // no ports: ingress, nothing to say.
        let plain = (Publish::Ingress, None);
        assert_eq!(mode(&any, &[Arch::X86_64, Arch::Aarch64], &[]), plain);
        assert_eq!(mode(&any, &mixed, &[Arch::Armv6l]), plain);
        assert_eq!(
            mode(&web(Some(Arch::X86_64), None, true), &mixed, &[]),
            plain
        );
        assert_eq!(mode(&web(None, None, false), &mixed, &[]), plain);
        // Pinned to ARMv6: host mode.
        assert_eq!(
            mode(&web(Some(Arch::Armv6l), None, true), &mixed, &[]).0,
            Publish::Host
        );
        // The config wins; ingress where ARMv6 runs tasks is reported.
        assert_eq!(
            mode(
                &web(None, Some(Publish::Host), true),
                &[Arch::X86_64, Arch::X86_64],
                &[]
            ),
            (Publish::Host, None)
        );
        assert_eq!(
            mode(&web(None, Some(Publish::Ingress), true), &mixed, &[]),
            (Publish::Ingress, Some(ARMV6_INGRESS))
        );
    }

    /// Host mode runs one replica per node (swarm never puts two tasks
    /// publishing one host port on a node). When rccr, not the config,
    /// chose it and the replicas outnumber the nodes the service can land
    /// on, it keeps the service off ARMv6 and publishes through ingress:
    /// every replica runs. Before, host mode stayed and setup failed on
    /// every run, short of replicas, for a choice the operator never made.
    #[test]
    fn host_mode_too_small_for_the_replicas_gives_way_to_ingress_off_armv6() {
        let mut three = web(None, None, true);
        three.replicas = 3;
        let mixed = [Arch::X86_64, Arch::Armv6l];
        let p = publish_mode(&three, &mixed, &[]);
        assert_eq!(
            p,
            Publishing {
                mode: Publish::Ingress,
                armv6_off: true,
                note: Some(ARMV6_KEPT_OFF),
                host_limit: None,
            }
        );
        let w = want(&three, &mixed, &[]);
        assert_eq!(w.constraints, ["node.labels.rccr.arch!=armv6l"]);
        assert_eq!(w.publish, Publish::Ingress);
        // Enough nodes: host mode, as before.
        let p = publish_mode(&three, &[Arch::X86_64, Arch::X86_64, Arch::Armv6l], &[]);
        assert_eq!(
            (p.mode, p.armv6_off, p.host_limit),
            (Publish::Host, false, None)
        );
        // Only ARMv6 nodes can take it: host mode, and its limit is said.
        let armv6 = publish_mode(&three, &mixed, &[Arch::X86_64]);
        assert_eq!(
            armv6,
            Publishing {
                mode: Publish::Host,
                armv6_off: false,
                note: Some(ARMV6_HOST_MODE),
                host_limit: Some(1),
            }
        );
        // The config's host mode stays, and its limit is said too.
        let mut host = three.clone();
        host.publish = Some(Publish::Host);
        let p = publish_mode(&host, &mixed, &[]);
        assert_eq!(
            (p.mode, p.armv6_off, p.host_limit),
            (Publish::Host, false, Some(2))
        );
        let report = ServiceReport {
            name: "web".into(),
            result: "created".into(),
            runs_on: String::new(),
            running: Some((2, 3)),
            publish: Publish::Host,
            ok: false,
            gave_up_after: Some(Duration::from_secs(90)),
            unread: None,
            host_limit: Some(2),
        };
        assert_eq!(
            report.problem(),
            "created, 2 of 3 replicas running: its ports are in host mode, which runs one \
             replica per node, and it can land on 2 nodes (lower its replicas, or add nodes it can run on)"
        );
    }

    #[test]
    fn a_service_on_a_swarm_with_armv6_publishes_in_host_mode() {
        use crate::json::Value;
        let spec = |c: &Container, arches: &[Arch]| {
            want(c, arches, &[])
                .patch(Value::Object(Vec::new()))
                .render()
        };
        let mixed = [Arch::X86_64, Arch::Armv6l];
        assert_eq!(
            spec(&web(None, None, true), &mixed),
            r#"{"Name":"web","Labels":{"rccr.managed":"true"},"TaskTemplate":{"ContainerSpec":{"Image":"rccr-lab/web:1"},"Placement":{"Constraints":[]}},"Mode":{"Replicated":{"Replicas":2}},"EndpointSpec":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"host"}]}}"#
        );
        assert_eq!(
            spec(&web(None, None, true), &[Arch::X86_64]),
            r#"{"Name":"web","Labels":{"rccr.managed":"true"},"TaskTemplate":{"ContainerSpec":{"Image":"rccr-lab/web:1"},"Placement":{"Constraints":[]}},"Mode":{"Replicated":{"Replicas":2}},"EndpointSpec":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}"#
        );
        // The mode is part of what must match, and of the CLI's --publish.
        let host = want(&web(None, Some(Publish::Host), true), &[Arch::X86_64], &[]);
        assert_eq!(
            host.port_texts(),
            ["published=8080,target=80,protocol=tcp,mode=host"]
        );
        let ingress = want(&web(None, None, true), &[Arch::X86_64], &[]);
        assert_ne!(host.port_texts(), ingress.port_texts());
    }
}
