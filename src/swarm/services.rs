//! The container layer: the `containers:` of cluster_config.yml as swarm
//! services, created or updated on the leading manager.
//!
//! **Architecture.** A service runs only where its image can. Every member
//! tells the platform of the copy of the image it holds (`GET
//! /images/NAME/json`, which works offline with images loaded by hand),
//! and the leading manager asks a registry (`GET /distribution/NAME/json`,
//! which fails quietly offline). Every member architecture that neither
//! source supports gets a constraint `node.labels.rccr.arch!=ARCH`. With no
//! information at all, no constraint is added and the swarm pulls where it
//! can.
//!
//! **Publishing.** Ports go through swarm's ingress routing mesh unless
//! the container says `publish: host`. A service without `publish:` whose
//! tasks can land on an ARMv6 member publishes in host mode instead:
//! swarm's overlay networks, and so the ingress mesh, are broken on ARMv6
//! (moby/moby#47496). The report says so in the service's `runs_on`.
//!
//! **Idempotent.** A service whose image, replicas, constraints and ports
//! match is not touched. Services rccr created (label `rccr.managed=true`)
//! that left the config are listed, and removed with `--remove-missing`.
//! Finally every service must run all its replicas within the config's
//! `swarm.services_timeout_s`; the report says how many ran when it passed.
use super::member::Member;
use super::ops::{Op, Want};
use crate::config::{Container, Publish};
use crate::docker::api::{self, Service};
use crate::identity::Arch;
use crate::print;
use std::time::{Duration, Instant};

/// What became of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceReport {
    pub name: String,
    /// `created`, `updated`, `unchanged`, `removed`, `kept`, or a failure.
    pub result: String,
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
    pub ok: bool,
}

impl ServiceReport {
    /// What is wrong with the service, for setup's one-line error: its
    /// result, and the replicas it was short of when setup gave up.
    pub fn problem(&self) -> String {
        if let Some(unread) = &self.unread {
            return format!("{}, its replicas not seen running: {unread}", self.result);
        }
        match (self.running, self.gave_up_after) {
            (Some((running, wanted)), Some(waited)) => format!(
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

/// The service `c` as it should be, given the architectures of the
/// swarm's members and those its image supports.
pub fn want(c: &Container, member_arches: &[Arch], supported: &[Arch]) -> Want {
    let mut constraints: Vec<String> = Vec::new();
    if let Some(arch) = c.placement.arch {
        constraints.push(format!("node.labels.rccr.arch=={arch}"));
    }
    for (key, value) in &c.placement.labels {
        constraints.push(format!("node.labels.{key}=={value}"));
    }
    if !supported.is_empty() {
        for arch in member_arches.iter().filter(|a| !supported.contains(a)) {
            constraints.push(format!("node.labels.rccr.arch!={arch}"));
        }
    }
    constraints.sort();
    constraints.dedup();
    Want {
        name: c.name.clone(),
        image: c.image.clone(),
        replicas: u64::from(c.replicas),
        constraints,
        ports: c.ports.clone(),
        publish: publish_mode(c, member_arches, supported).0,
    }
}

/// Whether a task of `c` can land on a member of architecture `arch`: the
/// swarm has one, the placement allows it, and the image runs there (or
/// nothing is known about the image). Label constraints are not known to
/// rccr, so they are taken to allow it.
fn can_land_on(c: &Container, arch: Arch, member_arches: &[Arch], supported: &[Arch]) -> bool {
    member_arches.contains(&arch)
        && c.placement.arch.is_none_or(|a| a == arch)
        && (supported.is_empty() || supported.contains(&arch))
}

/// How `c`'s ports are published, and what the report says about it: as
/// the config says, else host mode where a task can land on an ARMv6
/// member, else ingress.
pub fn publish_mode(
    c: &Container,
    member_arches: &[Arch],
    supported: &[Arch],
) -> (Publish, Option<&'static str>) {
    let armv6 = !c.ports.is_empty() && can_land_on(c, Arch::Armv6l, member_arches, supported);
    match (c.publish, armv6) {
        (Some(Publish::Ingress), true) => (Publish::Ingress, Some(ARMV6_INGRESS)),
        (Some(mode), _) => (mode, None),
        (None, true) => (Publish::Host, Some(ARMV6_HOST_MODE)),
        (None, false) => (Publish::Ingress, None),
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
    let mut member_arches: Vec<Arch> = swarm.iter().filter_map(|(_, a)| *a).collect();
    member_arches.sort_unstable();
    member_arches.dedup();

    let existing = match lead.call(&Op::Services) {
        Ok(v) => Service::parse_list(&v),
        Err(e) => {
            return vec![ServiceReport {
                name: "-".into(),
                result: format!("cannot list the services: {}", print::text(&e)),
                runs_on: "-".into(),
                running: None,
                gave_up_after: None,
                unread: None,
                publish: Publish::Ingress,
                ok: false,
            }]
        }
    };
    crate::failpoint::reached("services-read", &lead.addr());
    let mut reports = Vec::new();
    for (k, c) in containers.iter().enumerate() {
        let can = supported(&held[k], &offered[k]);
        let want = want(c, &member_arches, &can);
        let (publish, publish_note) = publish_mode(c, &member_arches, &can);
        let mut runs_on = if can.is_empty() {
            "unknown: no node holds the image and no registry answered".to_string()
        } else {
            can.iter().map(|a| a.uname()).collect::<Vec<_>>().join(", ")
        };
        if let Some(note) = publish_note {
            runs_on.push_str("; ");
            runs_on.push_str(note);
        }
        let (result, ok) = match existing.iter().find(|s| s.name == c.name) {
            Some(have) if want.matches(have) => ("unchanged".to_string(), true),
            Some(have) => outcome(
                "updated",
                lead.call(&Op::ServiceUpdate { have, want: &want }),
            ),
            None => outcome("created", lead.call(&Op::ServiceCreate { want: &want })),
        };
        reports.push(ServiceReport {
            name: c.name.clone(),
            result,
            runs_on,
            running: None,
            gave_up_after: None,
            unread: None,
            publish,
            ok,
        });
    }
    for gone in existing
        .iter()
        .filter(|s| s.managed && !containers.iter().any(|c| c.name == s.name))
    {
        let (result, ok) = if remove_missing {
            outcome("removed", lead.call(&Op::ServiceRemove { id: &gone.id }))
        } else {
            (
                "kept: no longer in cluster_config.yml (rccr setup --remove-missing removes it)"
                    .into(),
                true,
            )
        };
        reports.push(ServiceReport {
            name: print::name(&gone.name).into_owned(),
            result,
            runs_on: "-".into(),
            running: None,
            gave_up_after: None,
            unread: None,
            publish: Publish::Ingress,
            ok,
        });
    }
    wait_running(lead, containers, &mut reports, timeout);
    reports
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
        let w = want(&c, &[Arch::X86_64, Arch::I686], &[Arch::X86_64]);
        assert_eq!(
            w.constraints,
            ["node.labels.disk==ssd", "node.labels.rccr.arch!=i686"]
        );
        // Nothing known: no architecture constraint.
        let w = want(&c, &[Arch::X86_64, Arch::I686], &[]);
        assert_eq!(w.constraints, ["node.labels.disk==ssd"]);
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
        };
        assert_eq!(report.problem(), "created");
        report.gave_up_after = Some(Duration::from_secs(90));
        assert_eq!(
            report.problem(),
            "created, 2 of 3 replicas running after 90 s (still starting? run rccr setup again, or raise swarm.services_timeout_s)"
        );
    }

    #[test]
    fn services_that_can_land_on_armv6_publish_in_host_mode() {
        let mixed = [Arch::X86_64, Arch::Armv6l];
        let any = web(None, None, true);
        // Unset, on a swarm with an ARMv6 node: host mode, and the report says why.
        assert_eq!(
            publish_mode(&any, &mixed, &[]),
            (Publish::Host, Some(ARMV6_HOST_MODE))
        );
        assert_eq!(
            publish_mode(&any, &mixed, &[Arch::X86_64, Arch::Armv6l]),
            (Publish::Host, Some(ARMV6_HOST_MODE))
        );
        // No ARMv6 member, an image that does not run there, a placement
        // elsewhere, or no ports: ingress, nothing to say.
        let plain = (Publish::Ingress, None);
        assert_eq!(
            publish_mode(&any, &[Arch::X86_64, Arch::Aarch64], &[]),
            plain
        );
        assert_eq!(publish_mode(&any, &mixed, &[Arch::X86_64]), plain);
        assert_eq!(
            publish_mode(&web(Some(Arch::X86_64), None, true), &mixed, &[]),
            plain
        );
        assert_eq!(publish_mode(&web(None, None, false), &mixed, &[]), plain);
        // Pinned to ARMv6: host mode.
        assert_eq!(
            publish_mode(&web(Some(Arch::Armv6l), None, true), &mixed, &[]).0,
            Publish::Host
        );
        // The config wins; ingress where ARMv6 runs tasks is reported.
        assert_eq!(
            publish_mode(&web(None, Some(Publish::Host), true), &[Arch::X86_64], &[]),
            (Publish::Host, None)
        );
        assert_eq!(
            publish_mode(&web(None, Some(Publish::Ingress), true), &mixed, &[]),
            (Publish::Ingress, Some(ARMV6_INGRESS))
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
