//! The machine layer: what every node needs before it can join the swarm.
//! The hostname from the inventory, time sync and the Docker engine at
//! boot and running (`machine.sh`, one exec per node), then the engine's
//! own answer (`GET /info`), which decides whether the node is a member.
use super::member::{Member, Via};
use super::ops::Op;
use crate::docker::api::Info;
use crate::identity::{is_hostname, Arch};
use crate::print;
use crate::ssh::shell_quote;
use crate::ssh::stream::bounded;
use std::time::{Duration, Instant};

/// The node side (see its header).
pub const SCRIPT: &str = include_str!("machine.sh");
/// How long a freshly started engine may take to answer.
const ENGINE_START: Duration = Duration::from_secs(30);
/// The most lines the script may print.
const MAX_LINES: usize = 64;

/// What the machine layer found and did on a node.
#[derive(Debug, Default)]
pub struct Machine {
    /// `uname -m`, when it is an architecture rccr knows.
    pub arch: Option<Arch>,
    /// Total memory, KiB (0: unknown).
    pub ram_kib: u64,
    /// Whether Docker's data survives a reboot.
    pub persistent: bool,
    /// The engine's answer, or why there is none.
    pub info: Option<Info>,
    pub changes: Vec<String>,
    pub problems: Vec<String>,
}

/// What `machine.sh` printed, read into closed types.
#[derive(Debug, Default, PartialEq, Eq)]
struct Report {
    hostname: String,
    uname: Option<Arch>,
    ram_kib: u64,
    persistent: bool,
    rccr: bool,
    docker: bool,
    changes: Vec<String>,
    problems: Vec<String>,
}

fn parse(text: &str) -> Report {
    let mut r = Report::default();
    for line in text.lines().take(MAX_LINES) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = print::text(&bounded(value)).into_owned();
        match key {
            "hostname" => r.hostname = value,
            "uname" => r.uname = value.parse().ok(),
            "ram_kib" => r.ram_kib = value.parse().unwrap_or(0),
            "storage" => r.persistent = value == "persistent",
            "rccr" => r.rccr = value == "yes",
            "docker" => r.docker = value == "present",
            "changed" => r.changes.push(value),
            "problem" => r.problems.push(value),
            _ => {}
        }
    }
    r
}

/// Runs the machine layer on one member, and sets how its engine is asked.
pub fn prepare(member: &Member) -> Machine {
    let mut m = Machine::default();
    let mut report = match member.script(SCRIPT, &[member.record.role.as_str()]) {
        Ok(out) if out.success() => parse(&String::from_utf8_lossy(&out.stdout)),
        Ok(out) => {
            m.problems
                .push(format!("machine layer: {}", print::text(&out.error_line())));
            return m;
        }
        Err(e) => {
            m.problems
                .push(format!("machine layer: {}", print::text(&e)));
            return m;
        }
    };
    m.arch = report.uname;
    m.ram_kib = report.ram_kib;
    m.persistent = report.persistent;
    m.changes = std::mem::take(&mut report.changes);
    m.problems = std::mem::take(&mut report.problems);
    // (RCCR_ENGINE_NODE=cli members were set so by `engine::log_in`.)
    if member.via() != Via::Local && !report.rccr {
        member.use_cli();
    }
    rename(member, &report, &mut m);
    if !report.docker {
        m.problems.push("no Docker engine installed".into());
        return m;
    }
    let started = m.changes.iter().any(|c| c == "docker started");
    let deadline = Instant::now()
        + if started {
            ENGINE_START
        } else {
            Duration::ZERO
        };
    loop {
        match member.call(&Op::Info).map(|v| Info::parse(&v)) {
            Ok(info) => {
                m.info = Some(info);
                break;
            }
            Err(e) if Instant::now() >= deadline => {
                m.problems
                    .push(format!("Docker is down: {}", print::text(&e)));
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    m
}

/// The inventory's name, where the node has another one and rccr to set
/// it (`rccr init --hostname`). A node known only by its address keeps
/// its name.
fn rename(member: &Member, report: &Report, m: &mut Machine) {
    let wanted = &member.record.hostname;
    if report.hostname == *wanted || !is_hostname(wanted) || member.via() == Via::Local {
        return;
    }
    if !report.rccr {
        m.problems.push(format!(
            "named {}, not {}: no rccr on the node to rename it",
            report.hostname,
            member.name()
        ));
        return;
    }
    let command = format!("rccr init --hostname {}", shell_quote(wanted));
    match member.script(&command, &[]) {
        Ok(out) if out.success() => m.changes.push(format!("hostname set to {wanted}")),
        Ok(out) => m.problems.push(format!(
            "hostname not set: {}",
            print::text(&out.error_line())
        )),
        Err(e) => m
            .problems
            .push(format!("hostname not set: {}", print::text(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_read_into_closed_types() {
        let r = parse(
            "hostname=ReCyClusteR-Target-01\nuname=x86_64\nmanager=openrc\nram_kib=4040404\n\
             storage=persistent\nrccr=yes\ntimesync=ntpd\n\
             changed=ntpd enabled at boot\ndocker=present\nchanged=docker started\nnoise\n",
        );
        assert_eq!(
            r,
            Report {
                hostname: "ReCyClusteR-Target-01".into(),
                uname: Some(Arch::X86_64),
                ram_kib: 4040404,
                persistent: true,
                rccr: true,
                docker: true,
                changes: vec!["ntpd enabled at boot".into(), "docker started".into()],
                problems: vec![],
            }
        );
        let lies =
            parse("uname=x86_64 ansible_connection=local\nhostname=a\x1b[2Jb\nproblem=x\ty\n");
        assert_eq!(lies.uname, None);
        assert_eq!(lies.hostname, "a?[2Jb");
        assert_eq!(lies.problems, ["x?y"]);
        let flood = "changed=x\n".repeat(1000);
        assert_eq!(parse(&flood).changes.len(), MAX_LINES);
    }
}
