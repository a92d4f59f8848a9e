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
use std::time::{Duration, Instant, SystemTime};

/// The node side (see its header).
pub const SCRIPT: &str = include_str!(concat!(env!("OUT_DIR"), "/machine.sh"));
/// How long a freshly started engine may take to answer.
const ENGINE_START: Duration = Duration::from_secs(30);
/// The most lines the script may print.
const MAX_LINES: usize = 64;

/// What the machine layer found and did on a node.
#[derive(Debug, Default)]
pub struct Machine {
    /// The engine's answer.
    pub info: Option<Info>,
    /// Why the engine did not answer, when `machine.sh` ran; kept out of
    /// `problems`, as a type: a control without an engine is outside the
    /// swarm, not at fault, and a target without Docker installed leaves
    /// nothing to form.
    pub no_engine: Option<NoEngine>,
    /// Whether Docker's data survives a reboot.
    pub persistent: bool,
    /// `uname -m`, when it is an architecture rccr knows.
    pub arch: Option<Arch>,
    /// Total memory, KiB (0: unknown).
    pub ram_kib: u64,
    pub changes: Vec<String>,
    pub problems: Vec<String>,
}

/// Why a node's engine did not answer.
#[derive(Debug, PartialEq, Eq)]
pub enum NoEngine {
    /// `machine.sh` found no Docker engine installed.
    NotInstalled,
    /// Installed, and it did not answer (why, safe for a terminal).
    Down(String),
}

impl NoEngine {
    pub fn text(&self) -> String {
        match self {
            NoEngine::NotInstalled => "no Docker engine installed".into(),
            NoEngine::Down(why) => format!("Docker is down: {why}"),
        }
    }
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
    clock: Option<Clock>,
    changes: Vec<String>,
    problems: Vec<String>,
}

/// What the node did with its clock, off the control's by more than a
/// minute (`clock=set|failed|ahead SECONDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    /// It was this many seconds behind, and was stepped forward.
    SetForward(u64),
    /// It is this many seconds behind, and could not be set.
    Behind(u64),
    /// It is this many seconds ahead, and was left alone.
    Ahead(u64),
}

impl Clock {
    fn parse(value: &str) -> Option<Clock> {
        let (what, seconds) = value.split_once(' ')?;
        let seconds = seconds.parse().ok()?;
        match what {
            "set" => Some(Clock::SetForward(seconds)),
            "failed" => Some(Clock::Behind(seconds)),
            "ahead" => Some(Clock::Ahead(seconds)),
            _ => None,
        }
    }

    /// Its line in setup's report: a change, or a problem.
    fn line(self) -> Result<String, String> {
        match self {
            Clock::SetForward(s) => Ok(format!("clock set forward {s} s to the control's")),
            Clock::Behind(s) => Err(format!(
                "clock {s} s behind the control's and not set: the swarm's certificates are not yet valid there"
            )),
            Clock::Ahead(s) => Err(format!(
                "clock {s} s ahead of the control's (left alone: rccr never sets a clock back)"
            )),
        }
    }
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
            "clock" => r.clock = Clock::parse(&value),
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
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let now = format!("now={now}");
    let mut report = match member.script(SCRIPT, &[member.record.role.as_str(), &now]) {
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
    read(&mut report, &mut m);
    // (RCCR_ENGINE_NODE=cli members were set so by `engine::log_in`.)
    if member.via() != Via::Local && !report.rccr {
        member.use_cli();
    }
    rename(member, &report, &mut m);
    if m.no_engine.is_some() {
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
                m.no_engine = Some(NoEngine::Down(print::text(&e).into_owned()));
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    m
}

/// What `machine.sh`'s report tells of the machine. No Docker installed
/// is a type ([`NoEngine`]), never a problem's words.
fn read(report: &mut Report, m: &mut Machine) {
    m.arch = report.uname;
    m.ram_kib = report.ram_kib;
    m.persistent = report.persistent;
    m.changes = std::mem::take(&mut report.changes);
    m.problems = std::mem::take(&mut report.problems);
    match report.clock.map(Clock::line) {
        Some(Ok(change)) => m.changes.push(change),
        Some(Err(problem)) => m.problems.push(problem),
        None => {}
    }
    if !report.docker {
        m.no_engine = Some(NoEngine::NotInstalled);
    }
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
             storage=persistent\nrccr=yes\nclock=set 8640000\ntimesync=ntpd\n\
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
                clock: Some(Clock::SetForward(8640000)),
                changes: vec!["ntpd enabled at boot".into(), "docker started".into()],
                problems: vec![],
            }
        );
        let lies =
            parse("uname=x86_64 ansible_connection=local\nhostname=a\x1b[2Jb\nproblem=x\ty\n");
        assert_eq!(lies.uname, None);
        assert_eq!(lies.hostname, "a?[2Jb");
        assert_eq!(lies.problems, ["x?y"]);
        for lie in [
            "clock=set",
            "clock=set -5",
            "clock=set 1e9",
            "clock=back 60",
            "clock=set 99999999999999999999999",
            "clock=ahead 60\x1b[2J",
        ] {
            assert_eq!(parse(lie).clock, None, "{lie}");
        }
        let flood = "changed=x\n".repeat(1000);
        assert_eq!(parse(&flood).changes.len(), MAX_LINES);
    }

    /// A clock set forward is a change; one behind and not set, or ahead
    /// (never set back), is a problem: both reach setup's report.
    #[test]
    fn what_the_node_did_with_its_clock_is_a_change_or_a_problem() {
        assert_eq!(
            Clock::SetForward(8640000).line(),
            Ok("clock set forward 8640000 s to the control's".into())
        );
        assert!(Clock::Behind(8640000)
            .line()
            .is_err_and(|p| p.starts_with("clock 8640000 s behind")));
        assert!(Clock::Ahead(300)
            .line()
            .is_err_and(|p| p.starts_with("clock 300 s ahead")));
        // The commas join a layer's changes: none inside one.
        for c in [Clock::SetForward(1), Clock::Behind(1), Clock::Ahead(1)] {
            assert!(!c.line().unwrap_or_else(|p| p).contains(','));
        }
    }

    /// `machine.sh` under busybox sh, `now=CONTROL` given, with a `date`
    /// that tells `node_now` and records its arguments (the machine's own
    /// clock is never set), and a PATH with nothing else: no service
    /// manager, no engine, nothing changed. Its output and `date`'s calls.
    fn run_with_clock(
        name: &str,
        node_now: u64,
        control: &str,
        set_fails: bool,
    ) -> (String, String) {
        let dir = std::env::temp_dir().join(format!("rccr-clock-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("date.log");
        let date = dir.join("date");
        let set = if set_fails { "exit 1" } else { "exit 0" };
        std::fs::write(
            &date,
            format!(
                "#!/bin/busybox sh\necho \"$*\" >>'{}'\ncase $1 in +%s) echo {node_now} ;; -s) {set} ;; esac\n",
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&date, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new("/bin/busybox")
            .args(["sh", "-c", SCRIPT, "rccr", "target", control])
            .env_clear()
            .env("PATH", &dir)
            .output()
            .unwrap();
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(out.status.success(), "{out:?}");
        (String::from_utf8_lossy(&out.stdout).into_owned(), calls)
    }

    /// A node without Docker, as `machine.sh` says it (busybox sh, nothing
    /// on PATH but a `date` 90 s behind): no engine installed, as a type;
    /// its problems are only the node's own.
    #[test]
    fn no_docker_installed_is_a_type_and_no_problem() {
        let (out, _) = run_with_clock("nodocker", 1_796_000_000 - 90, "now=1796000000", true);
        let mut m = Machine::default();
        read(&mut parse(&out), &mut m);
        assert_eq!(m.no_engine, Some(NoEngine::NotInstalled), "{out}");
        assert_eq!(
            m.problems,
            ["clock 90 s behind the control's and not set: the swarm's certificates are not yet valid there"]
        );
        let mut m = Machine::default();
        read(
            &mut parse("docker=present\nproblem=docker did not start\n"),
            &mut m,
        );
        assert_eq!(m.no_engine, None);
        assert_eq!(m.problems, ["docker did not start"]);
    }

    /// The clock lines of the script's output.
    fn clock_lines(out: &str) -> Vec<&str> {
        out.lines().filter(|l| l.starts_with("clock=")).collect()
    }

    #[test]
    fn a_node_behind_the_control_is_stepped_forward_one_ahead_is_only_reported() {
        if !std::path::Path::new("/bin/busybox").exists() {
            panic!("no /bin/busybox (apt install busybox): the script is Alpine's busybox sh's");
        }
        let control = 1_796_000_000u64;
        let now = format!("now={control}");
        let stepped = format!("+%s\n-s @{control}\n");
        // 100 days behind: a Pi at openrc's build date.
        let behind = control - 8_640_000;
        // (case, the node's clock, the control's argument, whether the step
        // fails, the clock lines said, date's calls)
        type Case<'a> = (&'a str, u64, &'a str, bool, &'a [&'a str], &'a str);
        let cases: [Case; 6] = [
            // Behind: set forward to the control's.
            (
                "behind",
                behind,
                &now,
                false,
                &["clock=set 8640000"],
                &stepped,
            ),
            // The step fails (not root, no CAP_SYS_TIME): said so.
            (
                "refused",
                behind,
                &now,
                true,
                &["clock=failed 8640000"],
                &stepped,
            ),
            // Ahead: never set back, only reported.
            (
                "ahead",
                control + 300,
                &now,
                false,
                &["clock=ahead 300"],
                "+%s\n",
            ),
            // Within a minute either way (the exec's own delay): left alone, unsaid.
            ("late", control - 60, &now, false, &[], "+%s\n"),
            ("early", control + 60, &now, false, &[], "+%s\n"),
            // A control time that is not digits is no time: nothing asked or set.
            ("bad", behind, "now=1;date -s @0", false, &[], ""),
        ];
        for (name, node, control, set_fails, said, calls) in cases {
            let (out, called) = run_with_clock(name, node, control, set_fails);
            assert_eq!(clock_lines(&out), said, "{name}: {out}");
            assert_eq!(called, calls, "{name}");
        }
    }
}
