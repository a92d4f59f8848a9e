//! `rccr status` on the virtual LAN with a real Docker engine, and its
//! exit codes without one.
mod common;
#[path = "swarm/dockerlab.rs"]
mod dockerlab;

use common::lab::{rccr_bin, stderr, stdout, Lab};
use common::{assert_count, assert_has};
use dockerlab::{require_engine, Cluster};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn status(lab: &Lab, args: &[&str]) -> Output {
    let mut argv = vec!["rccr", "status"];
    argv.extend_from_slice(args);
    lab.exec("control", &argv)
}

/// The JSON object of `node` in `rccr status --json` output.
fn node_json<'a>(json: &'a str, node: &str) -> &'a str {
    json.lines()
        .find(|l| l.contains(&format!("\"node\": \"{node}\"")))
        .unwrap_or_else(|| panic!("no {node} in {json}"))
}

fn has(object: &str, fields: &[&str]) {
    for f in fields {
        assert!(object.contains(f), "{f} missing in {object}");
    }
}

#[test]
fn status_reports_reachability_keys_swarm_and_docker_of_every_node() {
    if !require_engine() {
        return;
    }
    let cluster = Cluster::up(Lab::builder().targets(3), &["target-1"]);
    // target-2 has the docker command but no engine; a private /run keeps
    // its CLI off any engine of the machine itself.
    cluster.private_run(&["target-2", "target-3"]);
    let lab = &cluster.lab;
    let out = lab.exec("control", &["rccr", "setup", "--yes", "--no-playbooks"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let ip1 = lab.ip("target-1");
    cluster.docker_ok("target-1", &["swarm", "init", "--advertise-addr", &ip1]);
    // target-3 goes off the network (its sshd stops).
    let h3 = lab.dir().join("hosts/target-3");
    let out = lab.sh(
        "target-3",
        &format!("kill $(cat {}/sshd.pid)", h3.display()),
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let out = status(lab, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json = stdout(&out);
    assert_count(&json, "\"node\": ", 4);
    has(
        node_json(&json, "rccr-control"),
        &[
            "\"role\": \"control\"",
            "\"ssh\": \"local\"",
            "\"reachable\": true",
            "\"docker\": \"down\"",
            "\"healthy\": true",
        ],
    );
    has(
        node_json(&json, "ReCyClusteR-Target-01"),
        &[
            "\"ssh\": \"ok\"",
            "\"cluster_key\": \"accepted\"",
            "\"temp_key\": \"refused\"",
            "\"docker\": \"running\"",
            "\"swarm_role\": \"leader\"",
            "\"swarm_state\": \"active\"",
            "\"healthy\": true",
            "\"problem\": null",
        ],
    );
    has(
        node_json(&json, "ReCyClusteR-Target-02"),
        &[
            "\"reachable\": true",
            "\"cluster_key\": \"accepted\"",
            "\"docker\": \"down\"",
            "\"swarm_role\": null",
            "\"healthy\": false",
            "\"problem\": \"Docker is down: ",
        ],
    );
    has(
        node_json(&json, "ReCyClusteR-Target-03"),
        &[
            "\"reachable\": false",
            "\"ssh\": \"unreachable\"",
            "\"docker\": \"unknown\"",
            "\"healthy\": false",
            "\"problem\": \"unreachable: ",
        ],
    );
    assert_eq!(
        stderr(&out).trim(),
        "rccr status: 2 of 4 nodes unreachable or unhealthy"
    );

    // The table: a row per node, the problems under it, a summary.
    let out = status(lab, &[]);
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    assert!(table.starts_with("NODE "), "{table}");
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in {table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let target1 = row("ReCyClusteR-Target-01");
    assert_eq!(
        target1[2..8],
        ["target", "ok", "accepted", "refused", "leader", "active"]
    );
    assert!(target1[8].starts_with(char::is_numeric), "{target1:?}");
    assert_eq!(target1[9], "ok");
    assert_eq!(row("ReCyClusteR-Target-03")[3], "unreachable");
    assert_eq!(row("ReCyClusteR-Target-02").last(), Some(&"FAIL"));
    assert_has(
        &table,
        "2 of 4 nodes healthy; swarm: 1 manager(s) (1 leading), 0 worker(s)",
    );

    // A node that accepts the temporary key again is not healthy.
    let out = lab.sh(
        "control",
        &format!(
            "ssh -i /root/.ssh/id_ed25519 -o BatchMode=yes root@{ip1} 'cp .ssh/authorized_keys .ssh/ak.bak && cat >> .ssh/authorized_keys' < /root/.rccr/temp_key.pub"
        ),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout(&status(lab, &["--json"]));
    has(
        node_json(&json, "ReCyClusteR-Target-01"),
        &[
            "\"temp_key\": \"accepted\"",
            "\"cluster_key\": \"accepted\"",
            "\"healthy\": false",
            "\"problem\": \"the temporary key is still accepted",
        ],
    );
    let out = lab.ssh("control", "target-1", "mv .ssh/ak.bak .ssh/authorized_keys");
    assert!(out.status.success(), "{}", stderr(&out));

    // Only the control and target-1: every node healthy, exit 0.
    let out = lab.sh(
        "control",
        "cp -a /root/.rccr /root/two && awk '/^#/ || /rccr-control/ || /Target-01/' /root/.rccr/nodes > /root/two/nodes",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = status(lab, &["--state-dir", "/root/two"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_has(&stdout(&out), "2 of 2 nodes healthy");

    // A host key other than the recorded one: no login at all.
    let out = lab.sh(
        "control",
        "sed -i '/Target-01/s/SHA256:.*$/SHA256:AAAAnotTheRecordedKeyAAAAAAAAAAAAAAAAAAAAAAA/' /root/two/nodes",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = status(lab, &["--state-dir", "/root/two", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    has(
        node_json(&stdout(&out), "ReCyClusteR-Target-01"),
        &[
            "\"ssh\": \"host-key-mismatch\"",
            "\"cluster_key\": null",
            "\"healthy\": false",
        ],
    );
}

/// An empty working directory and state directory, outside any lab.
#[test]
fn status_shows_each_nodes_health_and_warns_of_heat_and_throttling() {
    if !common::lab::require_root() {
        return;
    }
    let lab = Lab::builder().targets(2).up();
    let out = lab.exec("control", &["rccr", "setup", "--yes", "--no-swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // target-1 runs hot and its firmware throttles it: a thermal zone and
    // a vcgencmd of its own (its /usr/local is private).
    let out = lab.sh(
        "target-1",
        "mkdir -p /tmp/thermal/thermal_zone0 && echo 81234 > /tmp/thermal/thermal_zone0/temp && \
         mount --bind /tmp/thermal /sys/class/thermal && mkdir -p /usr/local/bin && \
         printf '#!/bin/sh\\necho throttled=0x50005\\n' > /usr/local/bin/vcgencmd && \
         chmod 755 /usr/local/bin/vcgencmd",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = status(&lab, &["--json"]);
    let json = stdout(&out);
    let hot = node_json(&json, "ReCyClusteR-Target-01");
    has(
        hot,
        &[
            "\"temp_c\": 81",
            "\"throttled\": 327685",
            "\"warnings\": [\"hot: 81 \\u00b0C\", \"throttled now (firmware flags 0x50005)\"]",
        ],
    );
    for node in ["rccr-control", "ReCyClusteR-Target-02"] {
        let o = node_json(&json, node);
        has(
            o,
            &[
                "\"uptime_s\": ",
                "\"mem_total_kib\": ",
                "\"root_used_pct\": ",
            ],
        );
        assert!(!o.contains("\"uptime_s\": null"), "{o}");
    }
    let table = stdout(&status(&lab, &[]));
    assert!(
        table.contains("\nNODE ") && table.contains("UPTIME"),
        "{table}"
    );
    assert!(
        table.contains("ReCyClusteR-Target-01 (") && table.contains("warning: hot: 81 °C"),
        "{table}"
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rccr-status-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("state")).unwrap();
    dir
}

/// `rccr ARGS` with `dir` as its home, working directory and state.
fn rccr_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(rccr_bin())
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("RCCR_STATE_DIR", dir.join("state"))
        .output()
        .expect("run rccr")
}

fn rccr_status(dir: &Path, args: &[&str]) -> Output {
    rccr_in(dir, &[&["status"][..], args].concat())
}

#[test]
fn remove_shows_the_configs_warnings() {
    let dir = scratch("warnings");
    // A misspelt key leaves its default in place: remove says so, as
    // setup, status and scan do, before anything else.
    let misspelt = "discovery:\n  hostname_filtr: x\n";
    std::fs::write(dir.join("cluster_config.yml"), misspelt).unwrap();
    let out = rccr_in(&dir, &["remove", "--yes", "nowhere"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("rccr remove: warning: ") && err.contains("hostname_filtr"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exit_codes_without_a_lab() {
    let dir = scratch("codes");
    let out = rccr_status(&dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_has(&stderr(&out), "no nodes known yet: the inventory (");
    assert_has(
        &stderr(&out),
        "/state/nodes) lists none; run rccr setup first",
    );

    std::fs::write(dir.join("state/nodes"), "# x\nnot an inventory line\n").unwrap();
    let out = rccr_status(&dir, &["--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_has(&stderr(&out), "/state/nodes:2: ");

    // A target where nothing answers (127.0.0.2 has no sshd, or not ours).
    std::fs::write(
        dir.join("state/nodes"),
        "127.0.0.2\t-\tnowhere\ttarget\tx86_64\tSHA256:none\n",
    )
    .unwrap();
    let out = rccr_status(&dir, &["--json", "--timeout", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json = stdout(&out);
    assert!(json.starts_with("[\n  {\"node\": \"nowhere\""), "{json}");
    assert_has(&json, "\"healthy\": false");

    let out = rccr_status(&dir, &["--parallel", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = rccr_status(&dir, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert_has(&stdout(&out), "--json");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// benches/status.sh answers status's `docker info` template with a stand-in
/// docker that knows that template to the letter: a probe that asks for
/// another field would make every bench node "Docker down".
#[test]
fn the_status_bench_answers_the_probe_status_sends() {
    let probe = rccr::swarm::status::DOCKER_PROBE;
    let template = probe
        .split("docker info --format '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("DOCKER_PROBE runs docker info --format '...'");
    let bench =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/status.sh"))
            .unwrap();
    assert_has(&bench, &format!("\"info --format {template}\")"));
    let fields = template.matches('|').count();
    let answer = bench
        .lines()
        .find_map(|line| line.trim().strip_prefix("echo 'rccr-docker up|"))
        .expect("the stand-in answers an up line");
    assert_eq!(answer.matches('|').count() + 1, fields, "{answer}");
}
