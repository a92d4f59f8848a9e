//! Real Docker engines on the virtual LAN, for the swarm and status tests:
//! a [`Cluster`] is a [`Lab`] whose chosen hosts run their own dockerd
//! (`tests/swarm/lab-docker.sh`), and whose control can run Ansible from
//! the venv of `tests/swarm/ansible-venv.sh`.
//!
//! ```ignore
//! mod common;
//! #[path = "swarm/dockerlab.rs"]
//! mod dockerlab;
//! let cluster = dockerlab::Cluster::up(Lab::builder().targets(2), &["target-1", "target-2"]);
//! ```
#![allow(dead_code)]

use crate::common::lab::{is_root, stderr, Lab, LabBuilder};
use crate::common::{found, ok, skip};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Where the swarm tests keep Ansible (outside /root: lab hosts cannot see it).
pub const ANSIBLE_VENV: &str = "/opt/rccr-ansible";

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/swarm")
        .join(name)
}

/// The rule for these tests: root, dockerd (Debian's docker.io) and
/// iptables, else skip (fail in CI).
pub fn require_engine() -> bool {
    if !is_root() {
        return skip("swarm lab test needs root (network namespaces, mounts)");
    }
    for (program, package) in [("dockerd", "docker.io"), ("iptables", "iptables")] {
        if !found(program) {
            return skip(&format!("no {program}: apt-get install {package}"));
        }
    }
    true
}

/// Makes sure the Ansible venv exists (once per test process) and returns
/// its `ansible-playbook` for [`LabBuilder::bin`]; `ansible` is beside it.
/// A copy runs in a lab host: its shebang names the venv's python by
/// absolute path, which hosts see under /opt. `None` (after saying why)
/// when the venv cannot be made.
pub fn ansible_playbook_wrapper() -> Option<PathBuf> {
    static VENV: OnceLock<Result<(), String>> = OnceLock::new();
    let made = VENV.get_or_init(|| {
        let out = Command::new("bash")
            .arg(script("ansible-venv.sh"))
            .arg(ANSIBLE_VENV)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("ansible-venv.sh failed: {}", stderr(&out)));
        }
        Ok(())
    });
    match made {
        Ok(()) => Some(Path::new(ANSIBLE_VENV).join("bin/ansible-playbook")),
        Err(e) => {
            skip(&format!("no Ansible for the lab ({e})"));
            None
        }
    }
}

fn lab_docker(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script("lab-docker.sh"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run lab-docker.sh")
}

/// A lab whose chosen hosts run dockerd. Dropping it kills every engine
/// and container first (they live in namespaces of their own, which
/// `lab.sh down` does not know), then the lab goes down.
pub struct Cluster {
    pub lab: Lab,
}

impl Cluster {
    /// Starts the lab, gives the control a private /run (so no tool inside
    /// it talks to the machine's own docker or systemd) and starts an
    /// engine on each of `engines`.
    pub fn up(builder: LabBuilder, engines: &[&str]) -> Cluster {
        lab_docker(&["gc"]);
        let cluster = Cluster { lab: builder.up() };
        cluster.private_run(&["control"]);
        cluster.start(engines);
        cluster
    }

    fn dir(&self) -> String {
        self.lab.dir().display().to_string()
    }

    /// `lab-docker.sh VERB LABDIR ARGS... HOSTS...`, which must succeed.
    fn lab_docker_ok(&self, verb: &str, args: &[&str], hosts: &[&str]) {
        let dir = self.dir();
        let mut argv = vec![verb, dir.as_str()];
        argv.extend_from_slice(args);
        argv.extend_from_slice(hosts);
        ok(&format!("lab-docker.sh {verb}"), &lab_docker(&argv));
    }

    pub fn private_run(&self, hosts: &[&str]) {
        self.lab_docker_ok("private-run", &[], hosts);
    }

    pub fn start(&self, hosts: &[&str]) {
        if hosts.is_empty() {
            return;
        }
        self.lab_docker_ok("start", &[], hosts);
    }

    pub fn stop(&self, hosts: &[&str]) {
        self.lab_docker_ok("stop", &[], hosts);
    }

    /// Imports the busybox image `name` on `hosts`.
    pub fn image(&self, name: &str, hosts: &[&str]) {
        self.lab_docker_ok("image", &[name], hosts);
    }

    /// `docker ARGS` inside `host`.
    pub fn docker(&self, host: &str, args: &[&str]) -> Output {
        let mut argv = vec!["docker"];
        argv.extend_from_slice(args);
        self.lab.exec(host, &argv)
    }

    /// `docker ARGS` inside `host`, which must succeed; its stdout.
    pub fn docker_ok(&self, host: &str, args: &[&str]) -> String {
        ok(
            &format!("{host}: docker {args:?}"),
            &self.docker(host, args),
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os("RCCR_LAB_KEEP").is_some() {
            return;
        }
        let out = lab_docker(&["clean", &self.dir()]);
        if !out.status.success() {
            eprintln!("lab-docker.sh clean failed: {}", stderr(&out));
        }
    }
}
