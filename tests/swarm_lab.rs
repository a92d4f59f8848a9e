//! The cluster engine on the virtual LAN with real Docker engines: `rccr
//! setup` forms the swarm itself (no Ansible anywhere), with the right
//! managers, services from cluster_config.yml run where their image can, a
//! second run changes nothing and says so per node and layer, a node whose
//! engine is down is reported while the others form the swarm, a run
//! killed mid-way converges on one swarm, join tokens never show in a
//! process list, and a node whose engine stops shows as down in `rccr
//! status`.
mod common;
#[path = "swarm/dockerlab.rs"]
mod dockerlab;

use common::failpoint::{sigkill, Failpoint};
use common::lab::{require_root, stderr, stdout, Lab};
use common::{assert_count, assert_has, ok, or_skip, skip};
use dockerlab::{ansible_playbook_wrapper, require_engine, Cluster, ANSIBLE_VENV};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const IMAGE: &str = "rccr-lab/web:1";

/// A cluster_config.yml that runs two replicas of [`IMAGE`] as `web`.
const WEB_TWICE: &str = "containers:\n  - name: web\n    image: rccr-lab/web:1\n    replicas: 2\n";

/// A cluster whose targets run Docker and hold the test image, with
/// `config` as the control's ./cluster_config.yml.
fn cluster(targets: usize, config: &str) -> Option<Cluster> {
    if !require_engine() {
        return None;
    }
    let names: Vec<String> = (1..=targets).map(|n| format!("target-{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let cluster = Cluster::up(Lab::builder().targets(targets), &names);
    cluster.image(IMAGE, &names);
    write_config(&cluster, config);
    Some(cluster)
}

fn write_config(cluster: &Cluster, config: &str) {
    let out = cluster.lab.exec_stdin(
        "control",
        &["sh", "-c", "cat > /root/cluster_config.yml"],
        config.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

fn setup_with(cluster: &Cluster, extra: &[&str]) -> Output {
    let mut args = vec!["rccr", "setup", "--yes", "--json"];
    args.extend_from_slice(extra);
    cluster.lab.exec("control", &args)
}

/// `rccr remove --yes ARGS` on the control.
fn remove(cluster: &Cluster, args: &[&str]) -> Output {
    let mut argv = vec!["rccr", "remove", "--yes"];
    argv.extend_from_slice(args);
    cluster.lab.exec("control", &argv)
}

fn setup(cluster: &Cluster) -> Output {
    let out = setup_with(cluster, &[]);
    ok("rccr setup", &out);
    out
}

/// Each node's layers in setup's JSON: (hostname, machine, swarm), and
/// each service's result.
fn layers(out: &Output) -> (Vec<(String, String, String)>, Vec<String>) {
    let json = rccr::json::Value::parse(&out.stdout)
        .unwrap_or_else(|e| panic!("setup --json is not JSON ({e}):\n{}", stdout(out)));
    let mut nodes = Vec::new();
    let mut services = Vec::new();
    for o in json.as_array() {
        match o.str_at(&["kind"]) {
            "node" => nodes.push((
                o.str_at(&["hostname"]).to_string(),
                o.str_at(&["machine"]).to_string(),
                o.str_at(&["swarm"]).to_string(),
            )),
            "service" => services.push(o.str_at(&["result"]).to_string()),
            _ => {}
        }
    }
    (nodes, services)
}

/// The row of node `name` in [`layers`]' node list.
/// `rccr setup`, which must fail (exit 1) saying "the cluster is not whole:
/// {why}"; its [`layers`].
#[track_caller]
fn setup_not_whole(cluster: &Cluster, why: &str) -> (Vec<(String, String, String)>, Vec<String>) {
    let out = setup_with(cluster, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_has(&stderr(&out), &format!("the cluster is not whole: {why}"));
    layers(&out)
}

/// Asserts that setup's `out` failed (exit 1) with `node`'s swarm layer
/// `FAILED: {why}`.
#[track_caller]
fn assert_swarm_failed(out: &Output, node: &str, why: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", stderr(out));
    let (nodes, _) = layers(out);
    assert_eq!(node_layers(&nodes, node).2, "failed", "{nodes:?}");
    assert_has(&stderr(out), &format!("{node}: swarm: FAILED: {why}"));
}

/// What setup says of a node that claims target-2's swarm node ID.
const CLAIMS_TARGET_2: &str = "claims the swarm node ID of ReCyClusteR-Target-02";

fn node_layers<'a>(
    nodes: &'a [(String, String, String)],
    name: &str,
) -> &'a (String, String, String) {
    let row = nodes.iter().find(|(n, _, _)| n == name);
    row.unwrap_or_else(|| panic!("no {name} in {nodes:?}"))
}

/// A successful `rccr setup`: its output and [`layers`], which must list
/// `n` nodes.
fn setup_layers(
    cluster: &Cluster,
    n: usize,
) -> (Output, Vec<(String, String, String)>, Vec<String>) {
    let out = setup(cluster);
    let (nodes, services) = layers(&out);
    assert_eq!(nodes.len(), n, "{}", stdout(&out));
    (out, nodes, services)
}

/// `Hostname ManagerStatus` of every swarm node, as `host` sees the swarm.
/// A node that has just joined is listed without a name until its engine
/// describes itself: waits (up to 20 s) until every node has one.
fn swarm_nodes(cluster: &Cluster, host: &str) -> Vec<(String, String)> {
    let list = || -> Vec<(String, String)> {
        cluster
            .docker_ok(
                host,
                &["node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}"],
            )
            .lines()
            .map(|l| {
                let (name, status) = l.split_once(' ').unwrap_or((l, ""));
                (name.to_string(), status.trim().to_string())
            })
            .collect()
    };
    let mut nodes = list();
    for _ in 0..100 {
        if nodes.iter().all(|(name, _)| !name.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        nodes = list();
    }
    nodes
}

/// Calls `done` every 200 ms, `tries` times at most, until it holds;
/// the caller asserts what it waited for.
fn settle(tries: u32, mut done: impl FnMut() -> bool) {
    for _ in 0..tries {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs setup, which makes three of three or more targets managers, and
/// waits until the raft counts them ([`assert_three_managers`]).
fn set_up_three_managers(cluster: &Cluster) {
    setup(cluster);
    assert_three_managers(cluster);
}

/// Asserts that target-1's swarm counts three managers in raft (Leader or
/// Reachable), waiting up to 20 s: a promoted manager takes a moment.
fn assert_three_managers(cluster: &Cluster) {
    let managers = || {
        swarm_nodes(cluster, "target-1")
            .into_iter()
            .filter(|(_, s)| s == "Leader" || s == "Reachable")
            .count()
    };
    settle(100, || managers() == 3);
    assert_eq!(managers(), 3, "{:?}", swarm_nodes(cluster, "target-1"));
}

/// `docker service ps web` of the tasks meant to run, as target-1 sees
/// them, one line each in `format`.
fn web_tasks(cluster: &Cluster, format: &str) -> String {
    let args = ["service", "ps", "web", "--filter", "desired-state=running"];
    cluster.docker_ok("target-1", &[&args[..], &["--format", format]].concat())
}

fn label(cluster: &Cluster, manager: &str, node: &str, key: &str) -> String {
    let format = format!("{{{{index .Spec.Labels \"{key}\"}}}}");
    cluster
        .docker_ok(manager, &["node", "inspect", "--format", &format, node])
        .trim()
        .to_string()
}

/// What must not change on a second run: the swarm, each node's ID, and
/// the service's spec version.
fn swarm_identity(cluster: &Cluster, hosts: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = hosts
        .iter()
        .map(|h| {
            cluster.docker_ok(
                h,
                &[
                    "info",
                    "--format",
                    "{{.Swarm.NodeID}} {{.Swarm.ControlAvailable}}",
                ],
            )
        })
        .collect();
    ids.push(cluster.docker_ok(hosts[0], &["info", "--format", "{{.Swarm.Cluster.ID}}"]));
    ids.push(cluster.docker_ok(
        hosts[0],
        &[
            "service",
            "inspect",
            "--format",
            "{{.ID}} {{.Version.Index}}",
            "web",
        ],
    ));
    ids
}

fn status_json(cluster: &Cluster) -> (Option<i32>, String) {
    let out = cluster.lab.exec("control", &["rccr", "status", "--json"]);
    (out.status.code(), stdout(&out))
}

/// The JSON object of `node` in `rccr status --json` output.
fn node_json<'a>(json: &'a str, node: &str) -> &'a str {
    json.lines()
        .find(|l| l.contains(&format!("\"node\": \"{node}\"")))
        .unwrap_or_else(|| panic!("no {node} in {json}"))
}

#[test]
fn three_targets_make_three_managers_run_the_service_and_a_second_setup_changes_nothing() {
    let config = "cluster:\n  name: lab\ncontainers:\n  - name: web\n    image: rccr-lab/web:1\n    replicas: 3\n    ports:\n      - \"8080:80\"\n";
    let cluster = or_skip!(cluster(3, config));
    let hosts = ["target-1", "target-2", "target-3"];
    let names = [
        "ReCyClusteR-Target-01",
        "ReCyClusteR-Target-02",
        "ReCyClusteR-Target-03",
    ];

    // No Ansible anywhere: rccr forms the swarm itself.
    let out = cluster.lab.sh("control", "command -v ansible-playbook");
    assert!(!out.status.success(), "{}", stdout(&out));
    let (first, nodes1, services1) = setup_layers(&cluster, 4);
    assert!(
        nodes1
            .iter()
            .all(|(_, m, s)| m != "failed" && s != "failed"),
        "{nodes1:?}"
    );
    assert_eq!(services1, ["created"], "{}", stderr(&first));

    // Three targets: three managers (one leads), as every manager sees it.
    for h in hosts {
        let nodes = swarm_nodes(&cluster, h);
        let mut got: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
        got.sort();
        assert_eq!(got, names, "{h}: {nodes:?}");
        assert!(
            nodes.iter().all(|(_, s)| s == "Leader" || s == "Reachable"),
            "{nodes:?}"
        );
        assert_eq!(nodes.iter().filter(|(_, s)| s == "Leader").count(), 1);
    }
    for n in names {
        assert_eq!(label(&cluster, "target-1", n, "rccr.arch"), "x86_64");
        assert_eq!(label(&cluster, "target-1", n, "rccr.role"), "target");
    }
    // The service runs its three replicas, with the port published.
    let services = cluster.docker_ok(
        "target-2",
        &[
            "service",
            "ls",
            "--format",
            "{{.Name}} {{.Replicas}} {{.Ports}}",
        ],
    );
    assert_eq!(services.trim(), "web 3/3 *:8080->80/tcp", "{services}");
    let tasks = web_tasks(&cluster, "{{.CurrentState}}");
    assert_eq!(
        tasks.lines().filter(|l| l.starts_with("Running")).count(),
        3,
        "{tasks}"
    );
    // The control works like an operator's laptop: the docker CLI talks to
    // a manager through rccr's default context, with no flags.
    let out = cluster.lab.exec(
        "control",
        &["docker", "node", "ls", "--format", "{{.Hostname}}"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut listed: Vec<&str> = text.lines().map(str::trim).collect();
    listed.sort();
    let mut want = names.to_vec();
    want.sort();
    assert_eq!(listed, want);
    let out = cluster.lab.exec(
        "control",
        &["docker", "service", "ls", "--format", "{{.Name}}"],
    );
    assert_eq!(stdout(&out).trim(), "web", "{}", stderr(&out));
    // Inside a task, the image's httpd answers.
    let (host, container) = hosts
        .iter()
        .find_map(|h| {
            let ids = cluster.docker_ok(h, &["ps", "-q", "--filter", "name=web."]);
            ids.lines().next().map(|id| (*h, id.to_string()))
        })
        .expect("a web task on some target");
    let page = cluster.docker_ok(
        host,
        &["exec", &container, "wget", "-qO-", "http://127.0.0.1/"],
    );
    assert_eq!(page.trim(), "RCCR lab image");

    // A second run: no init, no join, no promotion, no label, no service
    // update, and the report says so for every node and layer.
    let before = swarm_identity(&cluster, &hosts);
    let (second, nodes2, services2) = setup_layers(&cluster, 4);
    assert!(
        nodes2
            .iter()
            .all(|(_, m, s)| m == "unchanged" && (s == "unchanged" || s == "skipped")),
        "the second run changed something: {nodes2:?}\n{}",
        stderr(&second)
    );
    assert_eq!(services2, ["unchanged"]);
    assert_eq!(swarm_identity(&cluster, &hosts), before);

    // Every node is healthy; then target-3's engine stops and it is down.
    let (code, json) = status_json(&cluster);
    assert_eq!(code, Some(0), "{json}");
    assert_count(&json, "\"healthy\": true", 4);
    assert_count(&json, "\"swarm_role\": \"leader\"", 1);
    assert_count(&json, "\"swarm_role\": \"manager\"", 2);
    cluster.stop(&["target-3"]);
    let (code, json) = status_json(&cluster);
    assert_eq!(code, Some(1), "{json}");
    let down = node_json(&json, "ReCyClusteR-Target-03");
    assert_has(down, "\"reachable\": true");
    assert_has(down, "\"docker\": \"down\"");
    assert_has(down, "\"healthy\": false");
    assert_has(down, "\"problem\": \"Docker is down");
    assert_count(&json, "\"healthy\": true", 3);
    let out = cluster.lab.exec("control", &["rccr", "status"]);
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    let row = table
        .lines()
        .find(|l| l.starts_with("ReCyClusteR-Target-03"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" down ") && row.ends_with("FAIL"), "{row}");
    assert_has(&stderr(&out), "1 of 4 nodes unreachable or unhealthy");
}

/// A node 100 days behind the control (a Pi at OpenRC's swclock
/// fallback, offline) is stepped forward to the control's clock before
/// it joins; one an hour ahead is left alone and reported. The lab hosts
/// share this machine's clock: their `date` is a stand-in that tells the
/// skewed time and records a step instead of making it.
#[test]
fn a_node_behind_the_control_has_its_clock_set_forward_one_ahead_is_reported() {
    let cluster = or_skip!(cluster(2, "cluster:\n  name: lab\n"));
    let steps = cluster.lab.dir().join("date-steps");
    for (host, skew) in [("target-1", "- 8640000"), ("target-2", "+ 3600")] {
        fake_command(
            &cluster,
            host,
            "date",
            &format!(
                "#!/bin/sh\ncase $1 in\n+%s) echo $(($(/bin/date +%s) {skew})) ;;\n\
                 -s) echo \"{host} $2\" >>'{}' ;;\n*) exec /bin/date \"$@\" ;;\nesac\n",
                steps.display()
            ),
        );
    }
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = epoch();
    let out = setup(&cluster);
    let after = epoch();
    let err = stderr(&out);
    // The control reads its clock before the node reads its own, each to
    // the second, so the step is 100 days less the whole seconds between.
    let stepped: u64 = err
        .split_once("machine: changed: clock set forward ")
        .and_then(|(_, rest)| rest.split_once(" s to the control's"))
        .and_then(|(secs, _)| secs.parse().ok())
        .unwrap_or_else(|| panic!("no clock step in:\n{err}"));
    let hundred_days = 8_640_000;
    assert!(
        (hundred_days - (after - before)..=hundred_days).contains(&stepped),
        "stepped {stepped} s, run {before}..={after}:\n{err}"
    );
    assert_has(&err, "s ahead of the control's (left alone");
    // target-1 was stepped once, to the control's clock during the run;
    // target-2 never.
    let steps = std::fs::read_to_string(&steps).unwrap();
    let (host, to) = steps.trim().split_once(" @").unwrap();
    assert_eq!(host, "target-1", "{steps}");
    let to: u64 = to.parse().unwrap();
    assert!(
        before <= to && to <= after,
        "{steps}: not in {before}..={after}"
    );
    let (nodes, _) = layers(&out);
    assert!(nodes.iter().all(|(_, _, s)| s != "failed"), "{nodes:?}");
}

#[test]
fn two_targets_make_one_manager_one_worker_and_images_run_only_where_they_can() {
    let cluster = or_skip!(cluster(2, WEB_TWICE));
    // target-2 answers as a 32-bit PC: its sshd (and so whatever rccr and
    // Ansible run there) sees `uname -m` = i686, where the amd64 image
    // cannot run.
    let h = cluster.lab.dir().join("hosts/target-2");
    let restart = format!(
        "pid=$(cat {h}/sshd.pid) && kill $pid && while kill -0 $pid 2>/dev/null; do sleep 0.1; done && \
         setarch linux32 /usr/sbin/sshd -f {h}/sshd_config -E {h}/sshd.log",
        h = h.display()
    );
    let out = cluster.lab.sh("target-2", &restart);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.lab.ssh("control", "target-2", "uname -m");
    assert_eq!(stdout(&out).trim(), "i686", "{}", stderr(&out));

    setup(&cluster);
    let nodes = swarm_nodes(&cluster, "target-1");
    assert_eq!(
        nodes,
        [
            ("ReCyClusteR-Target-01".to_string(), "Leader".to_string()),
            ("ReCyClusteR-Target-02".to_string(), String::new()),
        ],
        "two targets: one manager and one worker"
    );
    assert_eq!(
        label(&cluster, "target-1", "ReCyClusteR-Target-02", "rccr.arch"),
        "i686"
    );
    let constraints = cluster.docker_ok(
        "target-1",
        &[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.TaskTemplate.Placement.Constraints}}",
            "web",
        ],
    );
    assert_eq!(constraints.trim(), "[\"node.labels.rccr.arch!=i686\"]");
    let tasks = web_tasks(&cluster, "{{.Node}} {{.CurrentState}}");
    let running: Vec<&str> = tasks.lines().filter(|l| l.contains(" Running")).collect();
    assert_eq!(running.len(), 2, "{tasks}");
    assert!(
        running
            .iter()
            .all(|l| l.starts_with("ReCyClusteR-Target-01 ")),
        "{tasks}"
    );

    // target-2 leaves the inventory (and the LAN): kept in the swarm
    // without the flag, removed with it.
    leave_inventory(&cluster, "target-2", "");
    let out = setup(&cluster);
    assert!(
        stderr(&out)
            .contains("ReCyClusteR-Target-02: in the swarm but no longer in the inventory; kept"),
        "{}",
        stderr(&out)
    );
    assert_eq!(swarm_nodes(&cluster, "target-1").len(), 2);
    let out = setup_with(&cluster, &["--remove-missing"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_has(
        &stderr(&out),
        "ReCyClusteR-Target-02: removed from the swarm",
    );
    assert_eq!(
        swarm_nodes(&cluster, "target-1"),
        [("ReCyClusteR-Target-01".to_string(), "Leader".to_string())]
    );

    // Configured playbooks with no Ansible on the control: said, not failed.
    write_config(
        &cluster,
        &format!("{WEB_TWICE}playbooks:\n  - /root/none.yml\n"),
    );
    let out = setup(&cluster);
    assert_has(
        &stderr(&out),
        "no ansible-playbook on PATH: not running /root/none.yml",
    );

    // A name changed only in case is the same service to swarm, which
    // cannot rename it: that line fails, and --remove-missing keeps web.
    write_config(&cluster, &WEB_TWICE.replace("name: web", "name: Web"));
    let out = setup_with(&cluster, &["--remove-missing"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_has(
        &stderr(&out),
        "swarm runs it as web and cannot rename a service; use that name",
    );
    let names = cluster.docker_ok("target-1", &["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(names.trim(), "web");

    // Services made by hand under the config's names: a global one fails
    // its line (before: the engine's "only one service mode"), a
    // replicated one is taken over, and the line says so.
    for (name, mode) in [("cache", "global"), ("db", "replicated")] {
        let argv = [
            "service",
            "create",
            "--detach",
            "--no-resolve-image",
            "--mode",
            mode,
        ];
        let mut argv = argv.to_vec();
        argv.extend(["--name", name, "rccr-lab/web:1"]);
        cluster.docker_ok("target-1", &argv);
    }
    let more =
        "  - name: cache\n    image: rccr-lab/web:1\n  - name: db\n    image: rccr-lab/web:1\n";
    write_config(&cluster, &format!("{WEB_TWICE}{more}"));
    let out = setup_with(&cluster, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let services = layers(&out).1;
    assert_eq!(
        services[1..],
        [
            "failed: a global or job service by this name, not rccr's: rename the container or remove the service",
            "updated; now rccr's (made by hand)"
        ],
        "{services:?}"
    );
}

#[test]
fn a_node_whose_engine_is_down_is_reported_and_the_others_form_the_swarm() {
    let cluster = or_skip!(cluster(3, WEB_TWICE));
    cluster.stop(&["target-3"]);
    let (nodes, services) = setup_not_whole(&cluster, "ReCyClusteR-Target-03");
    let down = node_layers(&nodes, "ReCyClusteR-Target-03");
    assert_eq!(down.1, "failed", "{nodes:?}");
    assert_eq!(services, ["created"]);
    // The two others: one manager, one worker, the service on both.
    let mut got = swarm_nodes(&cluster, "target-1");
    got.sort();
    assert_eq!(
        got,
        [
            ("ReCyClusteR-Target-01".to_string(), "Leader".to_string()),
            ("ReCyClusteR-Target-02".to_string(), String::new()),
        ]
    );
    // Once its engine runs, a re-run joins it: three managers.
    cluster.start(&["target-3"]);
    let out = setup(&cluster);
    let (nodes, _) = layers(&out);
    let back = node_layers(&nodes, "ReCyClusteR-Target-03");
    assert_eq!(back.2, "changed", "{nodes:?}");
    // A promoted manager takes a moment to reach raft.
    assert_three_managers(&cluster);
}

/// The same through the docker CLI (a node without rccr): Debian 12's
/// docker.io 20.10 client exits 0 when its engine does not answer, with
/// the reason in `docker info`'s ServerErrors. Before, that was taken for
/// an engine with no swarm state: its swarm layer said "swarm state
/// unknown: fix it by hand (docker swarm leave --force ...)".
#[test]
fn a_node_whose_engine_is_down_is_reported_through_its_docker_cli_too() {
    let cluster = or_skip!(cluster(2, "cluster:\n  name: lab\n"));
    // The lab's PATH finds a newer client first, which exits 1.
    let debian_12_client = "#!/bin/sh\nexec /usr/bin/docker \"$@\"\n";
    for host in ["target-1", "target-2"] {
        fake_command(&cluster, host, "docker", debian_12_client);
    }
    cluster.stop(&["target-2"]);
    let (out, _) = watched(&cluster, "cli", &["rccr", "setup", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!said.contains("swarm state unknown"), "{said}");
    assert_has(&said, "Cannot connect to the Docker daemon");
    let (nodes, _) = layers(&out);
    assert_eq!(
        node_layers(&nodes, "ReCyClusteR-Target-02").1,
        "failed",
        "{nodes:?}"
    );
    assert_eq!(swarm_nodes(&cluster, "target-1").len(), 1);
}

#[test]
fn a_service_short_of_replicas_fails_setup_after_the_configured_wait() {
    // No node has the label, so the replica never runs: setup gives up
    // after swarm.services_timeout_s (2 s, not the default 90 s) and says
    // so, with the setting to change.
    let config = "containers:\n  - name: nowhere\n    image: rccr-lab/web:1\n    \
                  placement:\n      labels:\n        disk: none-has-it\n\
                  swarm:\n  services_timeout_s: 2\n";
    let cluster = or_skip!(cluster(1, config));
    let (nodes, services) = setup_not_whole(
        &cluster,
        "service nowhere: created, 0 of 1 replicas running after 2 s (still starting? run rccr setup again, or raise swarm.services_timeout_s)",
    );
    assert_eq!(services, ["created"]);
    assert_ne!(
        node_layers(&nodes, "ReCyClusteR-Target-01").2,
        "failed",
        "{nodes:?}"
    );
}

#[test]
fn a_run_killed_after_creating_the_swarm_converges_on_one_swarm() {
    let cluster = or_skip!(cluster(3, "cluster:\n  name: lab\n"));
    let fp = Failpoint::new("swarm-created");
    let cmd = ["rccr", "setup", "--yes"];
    let child = fp.spawn(&cluster.lab, "swarm-created", &cmd);
    let (_, pid) = fp.reached();
    sigkill(pid);
    let _ = child.wait_with_output();
    // The swarm exists on one node, and the record names only the choice.
    setup(&cluster);
    let hosts = ["target-1", "target-2", "target-3"];
    let clusters: Vec<String> = hosts
        .iter()
        .map(|h| cluster.docker_ok(h, &["info", "--format", "{{.Swarm.Cluster.ID}}"]))
        .collect();
    assert!(!clusters[0].trim().is_empty());
    assert!(clusters.iter().all(|c| *c == clusters[0]), "{clusters:?}");
    assert_eq!(swarm_nodes(&cluster, "target-1").len(), 3);
    let record = stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/swarm"]));
    assert!(
        record.contains(&format!("cluster {}", clusters[0].trim())),
        "{record}"
    );
}

#[test]
fn a_creator_that_tells_no_swarm_id_leaves_the_record_readable() {
    let cluster = or_skip!(cluster(1, "cluster:\n  name: lab\n"));
    // target-1's relay spoils the first letter of every node ID its engine
    // tells (same length, so the frames stay whole): once setup created
    // the swarm there, its /info carries no node ID.
    lying_relay(
        &cluster,
        "target-1",
        r#"'s/"NodeID":"[a-z0-9]/"NodeID":"-/g'"#,
    );
    let record = || stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/swarm"]));
    let out = setup_with(&cluster, &[]);
    assert_swarm_failed(&out, "ReCyClusteR-Target-01", "created no swarm ID");
    let written = record();
    assert!(
        !written.contains("cluster") && !written.contains("manager"),
        "{written}"
    );
    // A later run reads the record (before: `manager ` with no ID, and
    // every later setup, status and remove stopped on that line).
    let out = setup_with(&cluster, &[]);
    assert_swarm_failed(&out, "ReCyClusteR-Target-01", "created no swarm ID");
    assert_eq!(record(), written);
}

#[test]
fn nodes_the_swarm_updates_while_setup_labels_them_are_labelled_all_the_same() {
    // The swarm updates a node's entry by itself right after it joins (its
    // status, its description); a label change made from the entry setup
    // read before is then refused as "update out of sequence". Here an
    // operator's label changes every entry at that moment instead.
    let cluster = or_skip!(cluster(2, "cluster:\n  name: lab\n"));
    let fp = Failpoint::new("swarm-view-read");
    let child = fp.spawn(&cluster.lab, "swarm-view-read", &["rccr", "setup", "--yes"]);
    fp.reached();
    for node in ["ReCyClusteR-Target-01", "ReCyClusteR-Target-02"] {
        cluster.docker_ok(
            "target-1",
            &["node", "update", "--label-add", "rack=a", node],
        );
    }
    fp.resume();
    let out = child.wait_with_output().unwrap();
    ok("rccr setup", &out);
    for node in ["ReCyClusteR-Target-01", "ReCyClusteR-Target-02"] {
        assert_eq!(label(&cluster, "target-1", node, "rccr.role"), "target");
        assert_eq!(label(&cluster, "target-1", node, "rack"), "a");
    }
}

#[test]
fn a_service_the_swarm_updates_while_setup_changes_it_is_changed_all_the_same() {
    // A service's entry changes while it rolls out; here an operator's
    // label changes it between setup's read of the services and its
    // update of web.
    let cluster = or_skip!(cluster(1, WEB_TWICE));
    setup(&cluster);
    write_config(&cluster, &WEB_TWICE.replace("replicas: 2", "replicas: 3"));
    let fp = Failpoint::new("services-read");
    let child = fp.spawn(&cluster.lab, "services-read", &["rccr", "setup", "--yes"]);
    fp.reached();
    cluster.docker_ok(
        "target-1",
        &[
            "service",
            "update",
            "--detach",
            "--label-add",
            "team=a",
            "web",
        ],
    );
    fp.resume();
    let out = child.wait_with_output().unwrap();
    ok("rccr setup", &out);
    let spec = cluster.docker_ok(
        "target-1",
        &[
            "service",
            "inspect",
            "--format",
            "{{.Spec.Mode.Replicated.Replicas}} {{index .Spec.Labels \"team\"}}",
            "web",
        ],
    );
    assert_eq!(spec.trim(), "3 a");
}

/// Every command line of a process of `lab` (lab hosts share the
/// machine's PID namespace; a process is the lab's by its network
/// namespace, so another lab test's tokens are not seen) that holds a
/// swarm join token, sampled until `done`.
fn watch_for_tokens(lab: &Lab, done: &AtomicBool) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let lab_nets: Vec<String> = lab
        .namespaces()
        .iter()
        .filter_map(|ns| std::fs::metadata(format!("/run/netns/{ns}")).ok())
        .map(|m| format!("net:[{}]", m.ino()))
        .collect();
    assert!(!lab_nets.is_empty(), "the lab has no network namespace");
    let of_lab = |proc: &Path| {
        std::fs::read_link(proc.join("ns/net"))
            .is_ok_and(|net| lab_nets.iter().any(|n| net.as_os_str() == n.as_str()))
    };
    let mut seen = Vec::new();
    while !done.load(Ordering::Relaxed) {
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
                if cmdline.windows(7).any(|w| w == b"SWMTKN-") && of_lab(&entry.path()) {
                    seen.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    seen
}

/// Runs `args` on the control with RCCR_ENGINE_NODE=`engine_node` while
/// watching every process list; its output and the command lines that
/// held a token.
fn watched(cluster: &Cluster, engine_node: &str, args: &[&str]) -> (Output, Vec<String>) {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| watch_for_tokens(&cluster.lab, &done));
        let mut argv = vec!["env".to_string(), format!("RCCR_ENGINE_NODE={engine_node}")];
        argv.extend(args.iter().map(|a| a.to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = cluster.lab.exec("control", &argv);
        done.store(true, Ordering::Relaxed);
        (out, watcher.join().unwrap())
    })
}

/// Sets up a fresh three-node cluster (`engine_node`: RCCR_ENGINE_NODE)
/// while watching every process list; the command lines that held a token.
fn token_sightings(engine_node: &str) -> Option<Vec<String>> {
    let cluster = cluster(3, "cluster:\n  name: lab\n")?;
    let (out, seen) = watched(&cluster, engine_node, &["rccr", "setup", "--yes"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(swarm_nodes(&cluster, "target-1").len(), 3);
    Some(seen)
}

#[test]
fn join_tokens_never_appear_in_a_process_list() {
    let seen = or_skip!(token_sightings("auto"));
    assert!(seen.is_empty(), "a join token on a command line: {seen:?}");
    // The check can fail: the docker CLI fallback shows the token.
    let seen = token_sightings("cli").expect("the same lab again");
    assert!(!seen.is_empty(), "the CLI fallback's join was never seen");
}

/// Through the docker CLI (a node without rccr), a node setup makes a
/// manager, and the two workers `rccr remove` promotes in two leaving
/// managers' place, join with the worker token and are promoted through
/// the leading manager: the manager token, which makes its holder a manager (root on
/// every node), is on no command line. The worker token is (the watch can
/// see a token), and the swarm gets a new one once such joins are done:
/// the token a local user of the node read there joins nothing. (Rotated
/// after each promotion, the second worker's join failed once it had left
/// the swarm.)
#[test]
fn the_docker_cli_fallback_never_shows_the_manager_token() {
    let cluster = or_skip!(cluster(5, "cluster:\n  name: lab\n"));
    let (out, mut seen) = watched(&cluster, "cli", &["rccr", "setup", "--yes"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_has(&stdout(&out), ROTATED);
    assert_three_managers(&cluster);
    let worker = cluster
        .docker_ok("target-1", &["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    assert!(
        !seen.is_empty() && !seen.iter().any(|s| s.contains(&worker)),
        "the worker token a join showed on a command line still joins: {seen:?}"
    );
    let managers: Vec<String> = swarm_nodes(&cluster, "target-1")
        .into_iter()
        .filter(|(_, s)| s == "Leader" || s == "Reachable")
        .map(|(n, _)| n)
        .collect();
    let host = |name: &str| {
        let n = name.trim_start_matches("ReCyClusteR-Target-");
        format!("target-{}", n.trim_start_matches('0'))
    };
    let (leaving, staying) = (&managers[..2], host(&managers[2]));
    let token = |role: &str| {
        cluster
            .docker_ok(&staying, &["swarm", "join-token", "-q", role])
            .trim()
            .to_string()
    };
    let known = token("manager");
    let (out, more) = watched(
        &cluster,
        "cli",
        &["rccr", "remove", "--yes", &leaving[0], &leaving[1]],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_has(&stdout(&out), "promoted in its place");
    assert_has(&stdout(&out), ROTATED);
    // The managers that left knew the manager token: it joins no more.
    assert_count(&stdout(&out), "rotated the manager join token it knew", 2);
    assert_ne!(token("manager"), known, "{}", stdout(&out));
    let promotion_seen = !more.is_empty();
    seen.extend(more);
    seen.sort();
    seen.dedup();
    let count = || {
        swarm_nodes(&cluster, &staying)
            .into_iter()
            .filter(|(_, s)| s == "Leader" || s == "Reachable")
            .count()
    };
    settle(100, || count() == 3);
    assert_eq!(count(), 3, "{:?}", swarm_nodes(&cluster, &staying));
    let (worker, manager) = (token("worker"), token("manager"));
    assert!(
        !seen.iter().any(|s| s.contains(&manager)),
        "the manager token on a command line: {seen:?}"
    );
    assert!(
        promotion_seen && !seen.iter().any(|s| s.contains(&worker)),
        "the worker token a join showed on a command line still joins: {seen:?}"
    );
}

/// A node without rccr among nodes with it: it joins through its docker
/// CLI, which shows the worker token, and the leader, asked through its
/// relay (the Engine API's `POST /swarm/update`), gives the swarm a new
/// one.
#[test]
fn a_node_without_rccr_joins_and_the_relaying_leader_retires_the_token_it_showed() {
    let cluster = or_skip!(cluster(3, "cluster:\n  name: lab\n"));
    let real = cluster.lab.dir().join("bin/rccr");
    let no_relay = format!(
        "#!/bin/sh\n[ \"$1\" = engine ] && exit 127\nexec '{}' \"$@\"\n",
        real.display()
    );
    fake_command(&cluster, "target-3", "rccr", &no_relay);
    let (out, seen) = watched(&cluster, "auto", &["rccr", "setup", "--yes", "--json"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // The leader that rotated was asked through its relay (the API), the
    // node that showed the token through its docker CLI.
    let json = rccr::json::Value::parse(&out.stdout).expect("setup --json");
    let via = |found: &dyn Fn(&rccr::json::Value) -> bool| -> Vec<String> {
        json.as_array()
            .iter()
            .filter(|o| o.str_at(&["kind"]) == "node" && found(o))
            .map(|o| o.str_at(&["via"]).to_string())
            .collect()
    };
    let rotated = |o: &rccr::json::Value| o.str_at(&["swarm_detail"]).contains(ROTATED);
    assert_eq!(via(&rotated), ["rccr"], "{}", stdout(&out));
    let target_3 = |o: &rccr::json::Value| o.str_at(&["hostname"]).ends_with("-03");
    assert_eq!(via(&target_3), ["docker-cli"], "{}", stdout(&out));
    assert_eq!(swarm_nodes(&cluster, "target-1").len(), 3);
    let worker = cluster
        .docker_ok("target-1", &["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s.contains("swarm join --token")),
        "no join through target-3's docker CLI seen: {seen:?}"
    );
    assert!(
        !seen.iter().any(|s| s.contains(&worker)),
        "the worker token a join showed on a command line still joins: {seen:?}"
    );
}

/// A manager whose docker command refuses to rotate the worker token
/// fails setup (exit 1), naming what to run: the token shown on the
/// joining node's command line still joins. Before, setup exited 0.
#[test]
fn a_worker_token_the_manager_does_not_rotate_fails_setup() {
    let cluster = or_skip!(cluster(2, "cluster:\n  name: lab\n"));
    refuse_rotation(&cluster, &["target-1", "target-2"]);
    let (out, _) = watched(&cluster, "cli", &["rccr", "setup", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_has(
        &stderr(&out),
        "the cluster is not whole: the worker join token a docker CLI join showed is not \
         rotated (exit 1: Error response from daemon: rotation refused): run docker swarm \
         join-token --rotate worker on a manager",
    );
    assert!(!stdout(&out).contains(ROTATED), "{}", stdout(&out));
    assert_eq!(swarm_nodes(&cluster, "target-1").len(), 2);
}

/// The only manager leaves: it hands its part to the worker, which joins
/// again through its docker CLI, and its docker command refuses to rotate
/// the token that join showed. remove fails (exit 1) saying so, and the
/// worker manages.
#[test]
fn a_handover_whose_token_is_not_rotated_fails_remove() {
    let cluster = or_skip!(cluster(2, "cluster:\n  name: lab\n"));
    let (out, _) = watched(&cluster, "cli", &["rccr", "setup", "--yes"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let nodes = swarm_nodes(&cluster, "target-1");
    let manager = nodes.iter().find(|(_, s)| s == "Leader").expect("a leader");
    let worker = nodes.iter().find(|(_, s)| s.is_empty()).expect("a worker");
    let host = |name: &str| format!("target-{}", name.trim_start_matches("ReCyClusteR-Target-0"));
    refuse_rotation(&cluster, &["target-1", "target-2"]);
    let (out, _) = watched(&cluster, "cli", &["rccr", "remove", "--yes", &manager.0]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_has(&stdout(&out), "promoted in its place first");
    assert_has(
        &stdout(&out),
        "the worker join token a docker CLI join showed is not rotated (exit 1: Error \
         response from daemon: rotation refused)",
    );
    let staying = host(&worker.0);
    settle(100, || {
        swarm_nodes(&cluster, &staying)
            .iter()
            .any(|(n, s)| *n == worker.0 && s == "Leader")
    });
    assert!(
        swarm_nodes(&cluster, &staying)
            .iter()
            .any(|(n, s)| *n == worker.0 && s == "Leader"),
        "{:?}",
        swarm_nodes(&cluster, &staying)
    );
}

/// A manager whose removal fails once it was demoted and left the swarm
/// (the managers that stay refuse to take its entry out of the swarm's
/// list: their docker command fails `node rm`) fails its row, and the
/// manager token it knew is rotated all the same: it joins nothing more.
#[test]
fn a_manager_whose_removal_fails_after_it_left_has_its_token_rotated_by_remove() {
    let cluster = or_skip!(cluster(3, "cluster:\n  name: lab\n"));
    set_up_three_managers(&cluster);
    let known = manager_token(&cluster, "target-2");
    docker_refuses(
        &cluster,
        &["target-2", "target-3"],
        "node rm",
        "removal refused",
    );
    let (row, said) = removal_failed(&cluster, "ReCyClusteR-Target-01");
    assert_has(
        &row,
        "FAILED: not removed from the swarm's list: exit 1: Error response from daemon: \
         removal refused; done: demoted,",
    );
    assert_has(
        &row,
        "left the swarm, rotated the manager join token it knew",
    );
    // Before: the row failed all the same, and the token it knew stayed
    // the swarm's.
    assert_ne!(manager_token(&cluster, "target-2"), known, "{said}");
}

/// A manager whose handover fails once it is out of the swarm's list
/// (the worker to promote in its place cannot leave to join again as a
/// manager: its docker command fails `swarm leave`) fails its row, and the
/// manager token it knew is rotated all the same.
#[test]
fn a_manager_whose_handover_fails_after_it_left_has_its_token_rotated_by_remove() {
    let cluster = or_skip!(cluster(4, "cluster:\n  name: lab\n"));
    setup(&cluster);
    assert_eq!(
        raft_managers(&cluster, "target-2"),
        ["1", "2", "3"].map(|n| format!("ReCyClusteR-Target-0{n}"))
    );
    let known = manager_token(&cluster, "target-2");
    docker_refuses(&cluster, &["target-4"], "swarm leave", "leave refused");
    let (row, said) = removal_failed(&cluster, "ReCyClusteR-Target-01");
    assert_has(
        &row,
        "FAILED: ReCyClusteR-Target-04 did not become a manager: it could not leave to join \
         again as one (exit 1: Error response from daemon: leave refused);",
    );
    assert_has(
        &row,
        "removed from the swarm's list, rotated the manager join token it knew",
    );
    assert_ne!(manager_token(&cluster, "target-2"), known, "{said}");
}

/// `rccr remove --yes NODE` through the docker CLI ([`through_cli`]),
/// which must fail (exit 1): `node`'s row, and all the run said.
#[track_caller]
fn removal_failed(cluster: &Cluster, node: &str) -> (String, String) {
    let out = through_cli(cluster, &["remove", "--yes", node]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    let row = stdout(&out)
        .lines()
        .find(|l| l.starts_with(&format!("{node} ")))
        .unwrap_or_else(|| panic!("no row of {node}: {said}"))
        .to_string();
    (row, said)
}

/// The swarm's manager join token, as `host` (a manager) tells it.
fn manager_token(cluster: &Cluster, host: &str) -> String {
    let token = cluster.docker_ok(host, &["swarm", "join-token", "-q", "manager"]);
    let token = token.trim();
    assert!(token.starts_with("SWMTKN-1-"), "{host}: {token}");
    token.to_string()
}

/// Fewer managers wanted (`swarm.managers: 1` of 3): the two managers
/// setup demotes knew the manager token, and a lead whose docker command
/// refuses to rotate it fails the run (exit 1), naming what to run.
/// Before: exit 0, the token they knew the swarm's for good.
#[test]
fn a_manager_token_demoted_managers_knew_that_is_not_rotated_fails_setup() {
    let cluster = or_skip!(cluster(3, "cluster:\n  name: lab\n"));
    set_up_three_managers(&cluster);
    write_config(&cluster, "cluster:\n  name: lab\nswarm:\n  managers: 1\n");
    refuse_rotation(&cluster, &["target-1", "target-2", "target-3"]);
    let out = through_cli(&cluster, &["setup", "--yes"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert_count(&stdout(&out), "demoted to worker", 2);
    assert_has(
        &stderr(&out),
        "the cluster is not whole: the manager join token a demoted manager knew is not \
         rotated (exit 1: Error response from daemon: rotation refused): run docker swarm \
         join-token --rotate manager on a manager that stays (Leader or Reachable, not one \
         demoted)",
    );
    assert!(!said.contains("rotated the manager join token"), "{said}");
}

/// From now on `hosts`' docker command refuses to rotate a join token.
fn refuse_rotation(cluster: &Cluster, hosts: &[&str]) {
    docker_refuses(
        cluster,
        hosts,
        "swarm join-token --rotate",
        "rotation refused",
    );
}

/// From now on `hosts`' docker command fails when its first arguments
/// are `words` (one space between each), saying `Error response from
/// daemon: WHY` (exit 1); it runs anything else.
fn docker_refuses(cluster: &Cluster, hosts: &[&str], words: &str, why: &str) {
    let first: Vec<String> = (1..=words.split(' ').count())
        .map(|n| format!("${n}"))
        .collect();
    let script = format!(
        "#!/bin/sh\n[ \"{}\" = '{words}' ] && \
         {{ echo 'Error response from daemon: {why}' >&2; exit 1; }}\n\
         exec /usr/bin/docker \"$@\"\n",
        first.join(" ")
    );
    for host in hosts {
        fake_command(cluster, host, "docker", &script);
    }
}

/// `rccr ARGS` on the control, every node asked through its docker
/// command (`RCCR_ENGINE_NODE=cli`).
fn through_cli(cluster: &Cluster, args: &[&str]) -> Output {
    let mut argv = vec!["env", "RCCR_ENGINE_NODE=cli", "rccr"];
    argv.extend_from_slice(args);
    cluster.lab.exec("control", &argv)
}

/// What setup and remove say after a join through a docker CLI.
const ROTATED: &str = "rotated the worker join token a docker CLI join showed";

/// After setup the control works like an operator's laptop, with no flags:
/// `ansible all -m ping` (rccr's ~/.ansible.cfg names the inventory and
/// key), `docker node ls` (the `rccr` docker context, over ssh to a
/// manager), and plain `ssh root@NAME` and `root@IP` with strict host key
/// checking. Configured playbooks run, with Ansible's output on stderr and
/// in a log, so that `--json` stays pure JSON.
#[test]
fn the_control_works_like_a_laptop_and_configured_playbooks_run_with_json_pure() {
    let wrapper = or_skip!(ansible_playbook_wrapper());
    if !require_engine() {
        return;
    }
    let ansible = wrapper.with_file_name("ansible");
    let cluster = Cluster::up(
        Lab::builder().targets(1).bin(wrapper).bin(ansible),
        &["target-1"],
    );
    let playbook = "- hosts: targets\n  gather_facts: false\n  tasks:\n    - name: say hello\n      ansible.builtin.raw: echo hello\n";
    let out = cluster.lab.exec_stdin(
        "control",
        &["sh", "-c", "cat > /root/hello.yml"],
        playbook.as_bytes(),
    );
    assert!(out.status.success());
    write_config(&cluster, "playbooks:\n  - /root/hello.yml\n");
    let (out, _, _) = setup_layers(&cluster, 2);
    assert_has(&stderr(&out), "PLAY RECAP");
    assert!(!stdout(&out).contains("PLAY RECAP"));
    let log = stdout(
        &cluster
            .lab
            .exec("control", &["cat", "/root/.rccr/ansible.log"]),
    );
    assert!(
        log.contains("TASK [say hello]") && log.contains("ok=1"),
        "{log}"
    );

    let target = cluster.lab.host("target-1");
    let name = stdout(&cluster.lab.exec("target-1", &["hostname"]))
        .trim()
        .to_string();
    let ping = cluster
        .lab
        .exec("control", &["ansible", "all", "-m", "ping"]);
    assert!(
        ping.status.success() && stdout(&ping).contains("\"ping\": \"pong\""),
        "ansible all -m ping: {}{}",
        stdout(&ping),
        stderr(&ping)
    );
    let nodes = cluster.lab.exec("control", &["docker", "node", "ls"]);
    assert!(
        nodes.status.success() && stdout(&nodes).contains(&name),
        "docker node ls: {}{}",
        stdout(&nodes),
        stderr(&nodes)
    );
    for to in [name.as_str(), target.ip.as_str()] {
        let out = cluster.lab.plain_ssh_at(to, "hostname");
        assert!(
            out.status.success() && stdout(&out).trim() == name,
            "ssh root@{to}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn playbooks_pass_ansible_lint() {
    if !require_root() {
        return;
    }
    if ansible_playbook_wrapper().is_none() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ansible/engine");
    let lint = Path::new(ANSIBLE_VENV).join("bin/ansible-lint");
    if !lint.is_file() {
        skip(&format!("no {}", lint.display()));
        return;
    }
    let path = format!(
        "{ANSIBLE_VENV}/bin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(&lint)
        .current_dir(&dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .args([
            "-c",
            ".ansible-lint",
            "--offline",
            "site.yml",
            "machine.yml",
            "swarm.yml",
            "containers.yml",
        ])
        .output()
        .expect("run ansible-lint");
    ok("ansible-lint", &out);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_has(&text, "Passed");
}

#[test]
fn a_node_managing_its_own_swarm_captures_nothing() {
    let cluster = or_skip!(cluster(3, "cluster:\n  name: lab\n"));
    // target-1, first in the inventory, claims to lead: it manages a swarm
    // of its own before setup ever runs.
    let ip1 = cluster.lab.ip("target-1");
    cluster.docker_ok("target-1", &["swarm", "init", "--advertise-addr", &ip1]);
    let theirs = cluster.docker_ok("target-1", &["info", "--format", "{{.Swarm.Cluster.ID}}"]);
    let out = setup_with(&cluster, &[]);
    assert_swarm_failed(&out, "ReCyClusteR-Target-01", "in another swarm");
    // The real nodes formed their own swarm, which the claimer is not in,
    // and the claimer's swarm got nobody.
    let ours = cluster.docker_ok("target-2", &["info", "--format", "{{.Swarm.Cluster.ID}}"]);
    assert_ne!(ours.trim(), theirs.trim());
    assert!(!ours.trim().is_empty());
    let mut members: Vec<String> = swarm_nodes(&cluster, "target-2")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    members.sort();
    assert_eq!(members, ["ReCyClusteR-Target-02", "ReCyClusteR-Target-03"]);
    let theirs_now: Vec<String> = swarm_nodes(&cluster, "target-1")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(theirs_now, ["ReCyClusteR-Target-01"]);
    let record = stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/swarm"]));
    assert!(
        record.contains(&format!("cluster {}", ours.trim())),
        "{record}"
    );
    // rccr status neither takes the claimer for a healthy member nor asks
    // it how the cluster's swarm is doing.
    let (code, json) = status_json(&cluster);
    assert_eq!(code, Some(1), "{json}");
    let claimer = node_json(&json, "ReCyClusteR-Target-01");
    assert!(claimer.contains("\"healthy\": false"), "{claimer}");
    assert!(claimer.contains("in another swarm"), "{claimer}");
    let other = node_json(&json, "ReCyClusteR-Target-02");
    assert!(other.contains("\"healthy\": true"), "{other}");
    assert!(other.contains("\"swarm_seen\": \"ready\""), "{other}");
}

/// Three targets in a swarm setup formed, target-1 its one manager.
fn one_manager_swarm() -> Option<Cluster> {
    let cluster = cluster(3, "cluster:\n  name: lab\nswarm:\n  managers: 1\n")?;
    setup(&cluster);
    Some(cluster)
}

/// `sh -c SCRIPT` on `host`, which must succeed.
fn sh_ok(cluster: &Cluster, host: &str, script: &str) {
    let out = cluster.lab.sh(host, script);
    assert!(out.status.success(), "{host}: {script}: {}", stderr(&out));
}

/// `host`'s swarm node ID, as its engine tells it.
fn node_id(cluster: &Cluster, host: &str) -> String {
    cluster
        .docker_ok(host, &["info", "--format", "{{.Swarm.NodeID}}"])
        .trim()
        .to_string()
}

/// Puts `script` as command `name` first on `host`'s SSH sessions' PATH
/// (its `fakebin`): root on the node, whoever is there can.
fn fake_command(cluster: &Cluster, host: &str, name: &str, script: &str) {
    let path = cluster
        .lab
        .dir()
        .join("hosts")
        .join(host)
        .join("fakebin")
        .join(name);
    std::fs::write(&path, script).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// From now on `host`'s rccr relays its engine's answers through `sed
/// SED_ARGS`: the node lies about its engine (keeping each answer's
/// length, so the frames stay whole).
fn lying_relay(cluster: &Cluster, host: &str, sed_args: &str) {
    let real = cluster.lab.dir().join("bin/rccr");
    fake_command(
        cluster,
        host,
        "rccr",
        &format!(
            "#!/bin/sh\n[ \"$1\" = engine ] || exec '{real}' \"$@\"\n'{real}' \"$@\" | sed {sed_args}\n",
            real = real.display()
        ),
    );
}

/// From now on `host`'s `docker` command passes what `docker node
/// inspect` prints through `sed SED_ARGS`: it lies about the swarm's nodes.
fn lying_docker(cluster: &Cluster, host: &str, sed_args: &str) {
    fake_command(
        cluster,
        host,
        "docker",
        &format!(
            "#!/bin/sh\n[ \"$1 $2\" = 'node inspect' ] || exec /usr/bin/docker \"$@\"\n\
             /usr/bin/docker \"$@\" | sed {sed_args}\n"
        ),
    );
}

#[test]
fn managers_whose_node_lists_disagree_are_named_and_status_fails() {
    let cluster = or_skip!(cluster(3, "cluster:\n  name: lab\n"));
    setup(&cluster);
    // Three managers that agree: every one's list is asked, one is shown.
    let agreeing = || status_json(&cluster).0 == Some(0);
    settle(100, agreeing);
    let (code, json) = status_json(&cluster);
    assert_eq!(code, Some(0), "{json}");
    assert_count(&json, "\"node_list\": \"shown\"", 1);
    assert_count(&json, "\"node_list\": \"agrees\"", 2);
    // target-1, first in the inventory, is root on its machine: its docker
    // command tells target-3 down, and a node that is not in the swarm.
    let (ip1, ip2, ip3) = (
        cluster.lab.ip("target-1"),
        cluster.lab.ip("target-2"),
        cluster.lab.ip("target-3"),
    );
    lying_docker(
        &cluster,
        "target-1",
        &format!(
            "-e '/|{ip3}|/s/|ready|/|down|/' -e '$a rccr-node|ghost9|10.99.0.9||ready|active|\"ghost\"'"
        ),
    );
    let out = cluster.lab.exec("control", &["rccr", "status"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    let (liar, honest) = (
        format!("ReCyClusteR-Target-01 ({ip1})"),
        format!("ReCyClusteR-Target-02 ({ip2})"),
    );
    assert_has(
        &text,
        &format!("swarm: warning: managers {honest} and {liar} disagree on the swarm's nodes (shown: {honest}'s list): "),
    );
    assert_has(
        &text,
        &format!("ReCyClusteR-Target-03 {ip3}: ready active "),
    );
    assert_has(&text, &format!(" as {honest} lists it, down active "));
    assert_has(
        &text,
        &format!("10.99.0.9: not listed as {honest} lists it, ready active worker as {liar} does"),
    );
    assert_count(&text, "swarm: warning: ", 1);
    assert_has(
        &stderr(&out),
        "the managers' node lists disagree (ReCyClusteR-Target-01 differ",
    );
    // The table is the honest majority's: target-3 is seen ready.
    let (code, json) = status_json(&cluster);
    assert_eq!(code, Some(1), "{json}");
    assert_has(
        node_json(&json, "ReCyClusteR-Target-03"),
        "\"swarm_seen\": \"ready\"",
    );
    assert_has(
        node_json(&json, "ReCyClusteR-Target-01"),
        "\"node_list\": \"differs\"",
    );
}

/// The swarm's nodes as target-1 lists them, sorted (to compare): the 3
/// of a [`one_manager_swarm`], before and after what a test does there.
fn members_seen_by_target_1(cluster: &Cluster) -> Vec<(String, String)> {
    let mut listed = swarm_nodes(cluster, "target-1");
    listed.sort();
    assert_eq!(listed.len(), 3, "{listed:?}");
    listed
}

#[test]
fn a_node_claiming_another_nodes_swarm_id_changes_nothing_of_that_node() {
    let cluster = or_skip!(one_manager_swarm());
    let members = || members_seen_by_target_1(&cluster);
    let before = members();
    let node_id = |host: &str| node_id(&cluster, host);
    let (victim, liar) = (node_id("target-2"), node_id("target-3"));
    // From now on target-3's rccr relays its engine's answers with
    // target-2's node ID for its own, and its swarm in error (a node in
    // error whose entry the swarm knows is made to leave, and that entry
    // removed). Same lengths, so the frames stay whole.
    lying_relay(
        &cluster,
        "target-3",
        &format!(
            "-e 's/\"NodeID\":\"{liar}\"/\"NodeID\":\"{victim}\"/g' \
             -e 's/\"LocalNodeState\":\"active\"/\"LocalNodeState\":\"error\" /g'"
        ),
    );
    let out = setup_with(&cluster, &[]);
    // target-2 was not removed from the swarm, and target-3 was not made
    // to leave it: the same nodes, with the same IDs.
    assert_eq!(members(), before, "{}", stderr(&out));
    assert_eq!(node_id("target-2"), victim);
    assert_eq!(node_id("target-3"), liar);
    // The liar is reported, and setup fails.
    assert_swarm_failed(&out, "ReCyClusteR-Target-03", CLAIMS_TARGET_2);
}

/// remove-ops F1: a leaving node that tells another node's swarm node ID
/// (target-3 telling target-2's) had target-2 demoted, drained and
/// force-removed, exit 0. Nothing is done, and target-3 stays.
#[test]
fn a_leaving_node_claiming_another_nodes_swarm_id_removes_nothing() {
    let cluster = or_skip!(one_manager_swarm());
    let members = || members_seen_by_target_1(&cluster);
    let before = members();
    let (victim, liar) = (node_id(&cluster, "target-2"), node_id(&cluster, "target-3"));
    lying_relay(
        &cluster,
        "target-3",
        &format!("'s/\"NodeID\":\"{liar}\"/\"NodeID\":\"{victim}\"/g'"),
    );
    let said = remove(&cluster, &["ReCyClusteR-Target-03"]);
    assert_has(
        &stdout(&said),
        "ReCyClusteR-Target-03 tells the swarm node ID of ReCyClusteR-Target-02: nothing was done",
    );
    assert_eq!((members(), said.status.code()), (before, Some(1)));
    assert_eq!(node_id(&cluster, "target-2"), victim);
    let inventory = stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/nodes"]));
    assert_has(&inventory, "ReCyClusteR-Target-03");
}

#[test]
fn a_node_claiming_another_nodes_swarm_id_as_it_joins_labels_nothing_of_that_node() {
    let cluster = or_skip!(one_manager_swarm());
    let victim = node_id(&cluster, "target-2");
    // target-3 leaves, says it has 512 MB, and from now on its rccr relays
    // its engine's answers with target-2's node ID for any of its own: the
    // one it gets when setup joins it again, too.
    cluster.docker_ok("target-3", &["swarm", "leave", "--force"]);
    let out = cluster.lab.sh(
        "target-3",
        "sed 's/^MemTotal: .*/MemTotal:         524288 kB/' /proc/meminfo > /tmp/meminfo && \
         mount --bind /tmp/meminfo /proc/meminfo",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    lying_relay(
        &cluster,
        "target-3",
        &format!("'s/\"NodeID\":\"[a-z0-9]\\{{25\\}}\"/\"NodeID\":\"{victim}\"/g'"),
    );
    let ram = || label(&cluster, "target-1", "ReCyClusteR-Target-02", "rccr.ram_mb");
    let before = ram();
    assert_ne!(before, "512");
    let out = setup_with(&cluster, &[]);
    assert_eq!(ram(), before, "{}", stderr(&out));
    assert_swarm_failed(&out, "ReCyClusteR-Target-03", CLAIMS_TARGET_2);
}

/// `host` leaves the swarm (as a node that lost its swarm state), and its
/// old entry is down as `manager` sees it (waiting up to 30 s).
fn leave_until_down(cluster: &Cluster, host: &str, manager: &str) {
    let old = node_id(cluster, host);
    cluster.docker_ok(host, &["swarm", "leave", "--force"]);
    let down = || {
        let state = ["node", "inspect", "--format", "{{.Status.State}}", &old];
        cluster.docker_ok(manager, &state).trim() == "down"
    };
    settle(150, down);
    assert!(down());
}

/// `host`, root on its machine, leaves its swarm and manages one of its
/// own: its address, that swarm's ID, its node ID and its tokens' digest.
fn own_swarm(cluster: &Cluster, host: &str) -> (String, String, String, String) {
    cluster.docker_ok(host, &["swarm", "leave", "--force"]);
    let ip = cluster.lab.ip(host);
    cluster.docker_ok(host, &["swarm", "init", "--advertise-addr", &ip]);
    let swarm = cluster.docker_ok(host, &["info", "--format", "{{.Swarm.Cluster.ID}}"]);
    let digest = token_digest(cluster, host);
    (ip, swarm.trim().to_string(), node_id(cluster, host), digest)
}

/// The CA digest of the join tokens `host` gives (`SWMTKN-1-DIGEST-SECRET`).
fn token_digest(cluster: &Cluster, host: &str) -> String {
    let token = cluster.docker_ok(host, &["swarm", "join-token", "-q", "worker"]);
    let digest = token.trim().split('-').nth(2);
    digest.expect("SWMTKN-1-DIGEST-SECRET").to_string()
}

/// Three targets in a swarm setup formed with one manager: target-1,
/// first in the inventory, keeps Docker's data in RAM, so target-2 created
/// the swarm and manages it; target-1 and target-3 work.
fn swarm_created_on_target_2() -> Option<Cluster> {
    let cluster = cluster(3, "cluster:\n  name: lab\nswarm:\n  managers: 1\n")?;
    let out = cluster.lab.sh(
        "target-1",
        "mkdir -p /var/lib/docker && mount -t tmpfs rccr-test /var/lib/docker",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    setup(&cluster);
    Some(cluster)
}

#[test]
fn a_worker_posing_as_the_swarms_creator_leads_nothing() {
    let cluster = or_skip!(swarm_created_on_target_2());
    let cluster_id = |host: &str| {
        cluster
            .docker_ok(host, &["info", "--format", "{{.Swarm.Cluster.ID}}"])
            .trim()
            .to_string()
    };
    let ours = cluster_id("target-2");
    let creator = node_id(&cluster, "target-2");
    let record = || stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/swarm"]));
    let before = record();
    assert!(before.contains(&format!("manager {creator}")), "{before}");
    // A record an older rccr wrote, with no CA digest, learns it from the
    // swarm's one manager.
    let out = cluster
        .lab
        .sh("control", "sed -i '/^ca /d' /root/.rccr/swarm");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(record(), before);
    setup(&cluster);
    assert_eq!(record(), before);
    // target-1, root on its machine, read both IDs from its swarm state.
    // It leaves, manages a swarm of its own, and from now on its relay
    // tells the cluster's swarm ID and the creator's node ID for its own
    // (same lengths, so the frames stay whole). Its node list and join
    // tokens are its own swarm's.
    cluster.docker_ok("target-1", &["swarm", "leave", "--force"]);
    let ip1 = cluster.lab.ip("target-1");
    cluster.docker_ok("target-1", &["swarm", "init", "--advertise-addr", &ip1]);
    let (theirs, posing) = (cluster_id("target-1"), node_id(&cluster, "target-1"));
    lying_relay(
        &cluster,
        "target-1",
        &format!(
            "-e 's/{theirs}/{ours}/g' -e 's/\"NodeID\":\"{posing}\"/\"NodeID\":\"{creator}\"/g'"
        ),
    );
    // target-3 is new to the swarm: it left it, and its old entry is down
    // (setup removes it then, so that one entry is at its address).
    leave_until_down(&cluster, "target-3", "target-2");
    let out = setup_with(&cluster, &[]);
    // target-3 joined the cluster's swarm, and the poser's swarm got nobody.
    let joined = node_id(&cluster, "target-3");
    assert!(!joined.is_empty());
    let listed = cluster.docker_ok("target-2", &["node", "ls", "-q"]);
    assert!(listed.lines().any(|l| l.trim() == joined), "{listed}");
    let theirs_now: Vec<String> = swarm_nodes(&cluster, "target-1")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(theirs_now, ["ReCyClusteR-Target-01"]);
    // The record is the same: the cluster, its creator, its managers.
    assert_eq!(record(), before, "{}", stderr(&out));
    // The poser is reported, and setup fails.
    assert_swarm_failed(
        &out,
        "ReCyClusteR-Target-01",
        "claims to lead the cluster's swarm but its join tokens are of another swarm",
    );
    // rccr remove asks the cluster's manager, not the poser, to take
    // target-3 out of the swarm.
    let out = remove(&cluster, &["--forget", "ReCyClusteR-Target-03"]);
    ok("rccr remove", &out);
    let listed = cluster.docker_ok("target-2", &["node", "ls", "-q"]);
    assert!(
        !listed.lines().any(|l| l.trim() == joined),
        "{listed}{}",
        stdout(&out)
    );
    // With no digest recorded, one manager's word against the poser's is
    // no majority: neither is taken, and none is learnt.
    let out = cluster
        .lab
        .sh("control", "sed -i '/^ca /d' /root/.rccr/swarm");
    assert!(out.status.success(), "{}", stderr(&out));
    let stripped = record();
    let out = setup_with(&cluster, &[]);
    for node in ["ReCyClusteR-Target-01", "ReCyClusteR-Target-02"] {
        assert_swarm_failed(
            &out,
            node,
            "claims to lead the cluster's swarm, but the managers' join tokens are of 2 swarms",
        );
    }
    assert_eq!(record(), stripped);
    // A poser that forges the digest too: its relay gives its tokens with
    // the cluster's CA digest (they would join nobody). The cluster's
    // manager lists the creator's node ID at its own address: the poser is
    // left alone, and the record learns the digest again from the manager.
    let forged = token_digest(&cluster, "target-1");
    let digest = before
        .lines()
        .find_map(|l| l.strip_prefix("ca "))
        .expect("a CA digest in the record");
    lying_relay(
        &cluster,
        "target-1",
        &format!(
            "-e 's/{theirs}/{ours}/g' -e 's/{forged}/{digest}/g' \
             -e 's/\"NodeID\":\"{posing}\"/\"NodeID\":\"{creator}\"/g'"
        ),
    );
    let out = setup_with(&cluster, &[]);
    assert_eq!(record(), before, "{}", stderr(&out));
    let ip2 = cluster.lab.ip("target-2");
    assert_swarm_failed(
        &out,
        "ReCyClusteR-Target-01",
        &format!("claims to lead the cluster's swarm, but the swarm as ReCyClusteR-Target-02 tells it lists its node ID at {ip2}"),
    );
    // Nor does rccr remove take the forged digest for a manager: with the
    // poser the only node that stays, no manager leads the removal of
    // target-2, which stays in the swarm and the inventory. Before, the
    // poser led it: target-2 was "not in the swarm" as its list told, and
    // left the inventory while it still managed the swarm.
    let out = remove(&cluster, &["ReCyClusteR-Target-02"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_has(
        &stdout(&out),
        "no manager of the cluster's swarm among the nodes that stay answers",
    );
    let inventory = stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/nodes"]));
    assert_has(&inventory, &ip2);
    assert_eq!(node_id(&cluster, "target-2"), creator);
}

#[test]
fn a_poser_whose_list_places_the_manager_at_its_own_address_leads_nothing() {
    let cluster = or_skip!(swarm_created_on_target_2());
    let info = |host: &str, what: &str| {
        cluster
            .docker_ok(host, &["info", "--format", what])
            .trim()
            .to_string()
    };
    let ours = info("target-2", "{{.Swarm.Cluster.ID}}");
    let creator = node_id(&cluster, "target-2");
    let record = || stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/swarm"]));
    let before = record();
    let digest = before
        .lines()
        .find_map(|l| l.strip_prefix("ca "))
        .expect("a CA digest in the record")
        .to_string();
    // target-1, root on its machine, leaves, manages a swarm of its own,
    // and from now on its relay tells the cluster's swarm ID, join tokens
    // with the cluster's CA digest, and a node list whose one manager is
    // the creator's node ID at target-1's address, unreachable. It keeps
    // its own node ID (same lengths, so the frames stay whole).
    let (ip1, theirs, posing, forged) = own_swarm(&cluster, "target-1");
    lying_relay(
        &cluster,
        "target-1",
        &format!(
            "-e 's/{theirs}/{ours}/g' -e 's/{forged}/{digest}/g' \
             -e 's/\"ID\":\"{posing}\"/\"ID\":\"{creator}\"/g' \
             -e 's/\"Reachability\":\"reachable\"/\"Reachability\":\"reachabl3\"/g'"
        ),
    );
    let members = || {
        let mut listed = cluster.docker_ok("target-2", &["node", "ls", "-q"]);
        listed.push_str(&info("target-3", "{{.Swarm.NodeID}}"));
        listed
    };
    let swarm_before = members();
    let out = setup_with(&cluster, &[]);
    // The manager leads: target-3 stays in its swarm, nobody left it, the
    // record and the docker context are the manager's. Before: target-2
    // was refused on the poser's word ("lists its node ID at" target-1's
    // address), target-1 led the run and target-3 was "in another swarm".
    assert_swarm_failed(
        &out,
        "ReCyClusteR-Target-01",
        "claims to lead the cluster's swarm, but its own node list does not list its node ID as a manager",
    );
    let (nodes, _) = layers(&out);
    for node in ["ReCyClusteR-Target-02", "ReCyClusteR-Target-03"] {
        assert_eq!(node_layers(&nodes, node).2, "unchanged", "{}", stderr(&out));
    }
    assert_eq!(members(), swarm_before);
    assert_eq!(record(), before);
    let context = stdout(
        &cluster
            .lab
            .sh("control", "cat /root/.docker/contexts/meta/*/meta.json"),
    );
    let ip2 = cluster.lab.ip("target-2");
    assert!(
        !context.contains("Target-01") && !context.contains(&format!("@{ip1}\"")),
        "{context}"
    );
    assert!(
        context.contains("Target-02") || context.contains(&format!("@{ip2}\"")),
        "{context}"
    );
}

/// Three managers; target-2 is switched off (its link down), and target-4,
/// a worker root on its machine, takes target-2's node ID: its relay
/// tells the cluster's swarm ID, tokens with the cluster's CA digest, and
/// its own swarm's list with itself as target-2's node ID. The others list
/// target-2 as a manager raft cannot reach, at its old address.
#[test]
fn a_worker_taking_a_switched_off_managers_node_id_leads_nothing() {
    let cluster = or_skip!(cluster(4, "cluster:\n  name: lab\n"));
    setup(&cluster);
    let info = |host: &str, what: &str| {
        cluster
            .docker_ok(host, &["info", "--format", what])
            .trim()
            .to_string()
    };
    let record = || stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/swarm"]));
    let digest = record()
        .lines()
        .find_map(|l| l.strip_prefix("ca "))
        .expect("a CA digest in the record")
        .to_string();
    let ours = info("target-1", "{{.Swarm.Cluster.ID}}");
    let off = node_id(&cluster, "target-2");
    assert_eq!(info("target-4", "{{.Swarm.ControlAvailable}}"), "false");
    let (ip4, theirs, posing, forged) = own_swarm(&cluster, "target-4");
    lying_relay(
        &cluster,
        "target-4",
        &format!("-e 's/{theirs}/{ours}/g' -e 's/{forged}/{digest}/g' -e 's/{posing}/{off}/g'"),
    );
    let out = cluster.lab.sh("target-2", "ip link set eth0 down");
    assert!(out.status.success(), "{}", stderr(&out));
    let reachability = [
        "node",
        "inspect",
        "--format",
        "{{.ManagerStatus.Reachability}}",
        &off,
    ];
    let unreachable = || cluster.docker_ok("target-1", &reachability).trim() == "unreachable";
    settle(150, unreachable);
    assert!(unreachable());
    let out = setup_with(&cluster, &[]);
    // A real manager leads: the poser is refused, and the docker context
    // and the record's managers are not the poser's. Before: target-1's
    // list showed target-2's node ID as a manager at an address no member
    // had, so nobody objected to the poser, which led the run.
    assert_swarm_failed(
        &out,
        "ReCyClusteR-Target-04",
        "claims to lead the cluster's swarm, but the swarm as ",
    );
    let context = stdout(
        &cluster
            .lab
            .sh("control", "cat /root/.docker/contexts/meta/*/meta.json"),
    );
    assert!(
        !context.contains("Target-04") && !context.contains(&format!("@{ip4}\"")),
        "{context}"
    );
    let managers = record();
    let managers = managers
        .lines()
        .find(|l| l.starts_with("managers "))
        .expect("the record's managers");
    assert!(
        managers.contains(&node_id(&cluster, "target-1")),
        "{managers}"
    );
}

#[test]
fn a_node_whose_swarm_name_carries_separators_forges_no_other_nodes_status() {
    let cluster = or_skip!(one_manager_swarm());
    // target-3's engine, and so its entry in the swarm's list, goes by a
    // name that spells another node's line of rccr status's node list:
    // the control (no engine, in no list) as an unreachable manager.
    sh_ok(
        &cluster,
        "target-3",
        "printf 'rccr-control|Unreachable' > /proc/sys/kernel/hostname",
    );
    let listed = || {
        swarm_nodes(&cluster, "target-1")
            .iter()
            .any(|(n, _)| n.starts_with("rccr-control|"))
    };
    settle(300, listed);
    assert!(listed(), "{:?}", swarm_nodes(&cluster, "target-1"));
    let out = cluster.lab.exec("control", &["rccr", "status"]);
    let text = stdout(&out);
    assert_has(&text, "quorum: 1 of 1 managers reachable");
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
}

#[test]
fn a_node_whose_swarm_name_carries_newlines_forges_no_probe_line() {
    let cluster = or_skip!(one_manager_swarm());
    let ip1 = cluster.lab.ip("target-1");
    // Two workers go by names that, printed raw in the manager's probe,
    // start lines of their own: the manager's engine down, and the
    // manager as a down, unreachable entry with no storage. The forged
    // entry is in the probe's own layout (`|ID|ADDR|...`) at the
    // manager's address, and its name's leading `0` sorts it before the
    // manager's own entry (`docker node ls` goes by name): the first
    // entry at an address is the node's. sethostname(2) takes a newline
    // where /proc stops at one and Debian's hostname refuses it:
    // busybox's does not.
    let names = [
        (
            "target-2",
            "x\nrccr-docker down\nrccr-boot storage: none: x".to_string(),
        ),
        (
            "target-3",
            format!("0\nrccr-node|f|{ip1}|Unreachable|down|active|"),
        ),
    ];
    for (host, name) in &names {
        assert!(name.len() <= 64, "{name:?}");
        let out = cluster.lab.exec(host, &["busybox", "hostname", name]);
        assert!(out.status.success(), "{host}: {}", stderr(&out));
    }
    // Until the manager's list carries both names (as JSON: one line each).
    let quoted: Vec<String> = names.iter().map(|(_, name)| format!("{name:?}")).collect();
    let listed = || {
        let names = cluster.docker_ok(
            "target-1",
            &["node", "ls", "--format", "{{json .Hostname}}"],
        );
        quoted.iter().all(|q| names.lines().any(|l| l == q))
    };
    settle(300, listed);
    assert!(
        listed(),
        "{quoted:?} in {}",
        cluster.docker_ok(
            "target-1",
            &["node", "ls", "--format", "{{json .Hostname}}"]
        )
    );
    let out = cluster.lab.exec("control", &["rccr", "status"]);
    let text = stdout(&out);
    assert_has(&text, "quorum: 1 of 1 managers reachable");
    assert!(!text.contains("volatile"), "{text}");
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let (code, json) = status_json(&cluster);
    assert_eq!(code, Some(0), "{json}");
    let manager = node_json(&json, "ReCyClusteR-Target-01");
    assert_has(manager, "\"swarm_role\": \"leader\"");
    assert_has(
        manager,
        "\"swarm_seen\": \"ready\", \"manager_status\": \"Leader\"",
    );
}

#[test]
fn a_worker_in_another_swarm_is_no_healthy_member() {
    let cluster = or_skip!(one_manager_swarm());
    // target-2 makes a swarm of its own and target-3 joins it as a worker:
    // its engine says it is an active worker, and the cluster's manager
    // still lists an entry at its address, its old one.
    let (ip2, _, _, _) = own_swarm(&cluster, "target-2");
    let token = cluster.docker_ok("target-2", &["swarm", "join-token", "-q", "worker"]);
    cluster.docker_ok("target-3", &["swarm", "leave", "--force"]);
    let manager = format!("{ip2}:2377");
    cluster.docker_ok(
        "target-3",
        &["swarm", "join", "--token", token.trim(), &manager],
    );
    let id3 = node_id(&cluster, "target-3");
    let (code, json) = status_json(&cluster);
    assert_eq!(code, Some(1), "{json}");
    let worker = node_json(&json, "ReCyClusteR-Target-03");
    assert_has(worker, "\"swarm_role\": \"worker\"");
    assert_has(worker, "\"healthy\": false");
    assert_has(
        worker,
        &format!("\"problem\": \"not in the cluster's swarm: its managers do not list its node ID {id3}\""),
    );
    // target-1, the manager, and the control are as they were.
    for node in ["ReCyClusteR-Target-01", "rccr-control"] {
        assert_has(node_json(&json, node), "\"healthy\": true");
    }
}

#[test]
fn managers_are_chosen_by_storage_ram_and_arch() {
    let cluster = or_skip!(cluster(5, "cluster:\n  name: lab\n"));
    // What each node tells about itself, made so in its own namespaces:
    // target-1 says it is a Pi Zero (a uname of its own on PATH), target-2
    // keeps Docker's data in RAM, target-3 has 512 MB.
    let shape = [
        (
            "target-1",
            "mkdir -p /usr/local/bin && printf '#!/bin/sh\\n[ \"$1\" = -m ] && echo armv6l || exec /bin/uname \"$@\"\\n' \
             > /usr/local/bin/uname && chmod 755 /usr/local/bin/uname",
        ),
        ("target-2", "mkdir -p /var/lib/docker && mount -t tmpfs rccr-test /var/lib/docker"),
        (
            "target-3",
            "sed 's/^MemTotal: .*/MemTotal:         524288 kB/' /proc/meminfo > /tmp/meminfo && \
             mount --bind /tmp/meminfo /proc/meminfo",
        ),
    ];
    for (host, script) in shape {
        let out = cluster.lab.sh(host, script);
        assert!(out.status.success(), "{host}: {}", stderr(&out));
    }
    setup(&cluster);
    let mut nodes = swarm_nodes(&cluster, "target-4");
    nodes.sort();
    let status = |n: usize| nodes[n - 1].1.as_str();
    // Five nodes, three managers: target-4 and -5 (storage, RAM), then
    // target-3 (storage beats RAM); the Pi Zero and the RAM-only node work.
    assert_eq!(status(1), "", "{nodes:?}");
    assert_eq!(status(2), "", "{nodes:?}");
    for n in [3, 4, 5] {
        assert!(matches!(status(n), "Leader" | "Reachable"), "{nodes:?}");
    }
    // The swarm was created on the fittest node, which leads.
    assert_eq!(status(4), "Leader", "{nodes:?}");
    assert_eq!(
        label(
            &cluster,
            "target-4",
            "ReCyClusteR-Target-02",
            "rccr.storage"
        ),
        "volatile"
    );
    assert_eq!(
        label(&cluster, "target-4", "ReCyClusteR-Target-03", "rccr.ram_mb"),
        "512"
    );
    assert_eq!(
        label(&cluster, "target-4", "ReCyClusteR-Target-01", "rccr.arch"),
        "armv6l"
    );
}

#[test]
fn a_creator_pinned_as_a_worker_hands_over_and_the_managers_stay_three() {
    let cluster = or_skip!(cluster(4, "cluster:\n  name: lab\n"));
    setup(&cluster);
    // The raft's managers, as target-2 sees them, sorted.
    let managers = || raft_managers(&cluster, "target-2");
    let names = |n: [u8; 3]| n.map(|n| format!("ReCyClusteR-Target-0{n}"));
    assert_eq!(managers(), names([1, 2, 3]));
    // target-1 created the swarm (first in the inventory) and is pinned a
    // worker from now on. As a manager it could read the manager token.
    let known = manager_token(&cluster, "target-2");
    let mac = cluster.lab.host("target-1").mac;
    write_config(
        &cluster,
        &format!(
            "cluster:\n  name: lab\nnodes:\n  - mac: \"{mac}\"\n    role: target\n    manager: false\n"
        ),
    );
    let out = setup(&cluster);
    // Another manager leads, target-4 is promoted and target-1 demoted:
    // three managers. Before: target-1 led the run, was kept as a manager
    // outside the three chosen, and the swarm had four managers, every run.
    settle(300, || managers() == names([2, 3, 4]));
    assert_eq!(
        managers(),
        names([2, 3, 4]),
        "{:?}\n{}",
        swarm_nodes(&cluster, "target-2"),
        stderr(&out)
    );
    // The manager token the demoted target-1 knew joins no more, rotated
    // once. Before: it stayed the swarm's until rotated by hand.
    assert_count(
        &stdout(&out),
        "rotated the manager join token a demoted manager knew",
        1,
    );
    assert_ne!(
        manager_token(&cluster, "target-2"),
        known,
        "{}",
        stdout(&out)
    );
    // The record's managers are written after the run's promotions: they
    // name target-4. Before, they were the managers before them.
    let record = stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/swarm"]));
    let promoted = node_id(&cluster, "target-4");
    assert!(
        record
            .lines()
            .any(|l| l.starts_with("managers ") && l.contains(&promoted)),
        "{record}"
    );
    // The record's manager is the one the run led through, at its
    // address: no longer target-1, the creator it demoted. Before, it
    // named target-1 at target-1's address for good.
    let lines: Vec<(&str, &str)> = record.lines().filter_map(|l| l.split_once(' ')).collect();
    let line = |key: &str| match lines.iter().find(|(k, _)| *k == key) {
        Some((_, value)) => value.to_string(),
        None => panic!("no {key} line: {record}"),
    };
    let (led, at) = (line("manager"), line("bootstrap"));
    let leading = ["target-2", "target-3", "target-4"]
        .into_iter()
        .find(|host| node_id(&cluster, host) == led)
        .unwrap_or_else(|| panic!("manager {led} is none of target-2..4: {record}"));
    assert_eq!(at, cluster.lab.host(leading).ip, "{record}");
}

/// The managers raft counts (Leader or Reachable), as `host` lists them.
fn raft_managers(cluster: &Cluster, host: &str) -> Vec<String> {
    let mut listed: Vec<String> = swarm_nodes(cluster, host)
        .into_iter()
        .filter(|(_, s)| s == "Leader" || s == "Reachable")
        .map(|(n, _)| n)
        .collect();
    listed.sort();
    listed
}

/// A promotion raft never takes (target-3's swarm port is closed to the
/// others: raft's join checks it can reach the new member) is reported,
/// and the raft stays odd. Before: target-2 and target-3 were "promoted
/// to manager", setup exited 0, and raft counted two managers (either
/// failing stops the swarm) for good.
#[test]
fn a_promotion_raft_never_takes_fails_setup_and_keeps_the_managers_odd() {
    let cluster = or_skip!(one_manager_swarm());
    sh_ok(
        &cluster,
        "target-3",
        "nft add table inet rccrlab && nft add chain inet rccrlab input '{ type filter hook input priority -10; }' && nft add rule inet rccrlab input tcp dport 2377 drop",
    );
    write_config(&cluster, "cluster:\n  name: lab\nswarm:\n  managers: 3\n");
    let out = setup_with(&cluster, &[]);
    assert_swarm_failed(
        &out,
        "ReCyClusteR-Target-03",
        "promoted but not in the raft after 30 s",
    );
    assert_has(
        &stderr(&out),
        "demoted to worker again, so the raft keeps an odd count of managers (1)",
    );
    // target-2 managed until then: the manager token it knew is rotated.
    assert_count(
        &stdout(&out),
        "rotated the manager join token a demoted manager knew",
        1,
    );
    let managers = raft_managers(&cluster, "target-1");
    assert_eq!(managers, ["ReCyClusteR-Target-01"], "{}", stderr(&out));
}

/// The manager token sent to a node whose manager join fails (target-3's
/// swarm port closed to the others: raft's join checks it can reach the
/// new member) is rotated: a node that kept it makes no machine a manager
/// with it. Before: the token it was sent stayed the swarm's for good.
#[test]
fn a_manager_token_sent_to_a_node_whose_join_fails_is_rotated() {
    let cluster = or_skip!(cluster(3, "cluster:\n  name: lab\n"));
    sh_ok(
        &cluster,
        "target-3",
        "nft add table inet rccrlab && nft add chain inet rccrlab input '{ type filter hook input priority -10; }' && nft add rule inet rccrlab input tcp dport 2377 drop",
    );
    // target-3's rccr keeps what it is sent, the Join's token with it.
    let real = cluster.lab.dir().join("bin/rccr");
    let kept = cluster.lab.dir().join("hosts/target-3/kept");
    fake_command(
        &cluster,
        "target-3",
        "rccr",
        &format!(
            "#!/bin/sh\n[ \"$1\" = engine ] || exec '{real}' \"$@\"\ntee -a '{kept}' | '{real}' \"$@\"\n",
            real = real.display(),
            kept = kept.display()
        ),
    );
    let out = setup_with(&cluster, &[]);
    assert_swarm_failed(&out, "ReCyClusteR-Target-03", "join failed");
    let said = format!("{}{}", stdout(&out), stderr(&out));
    let sent = String::from_utf8_lossy(&std::fs::read(&kept).unwrap()).into_owned();
    assert!(sent.contains("SWMTKN-1-"), "no token sent: {said}");
    let now = cluster.docker_ok("target-1", &["swarm", "join-token", "-q", "manager"]);
    assert!(now.trim().starts_with("SWMTKN-1-"), "{now}");
    assert!(
        !sent.contains(now.trim()),
        "the token sent still joins: {said}"
    );
    assert_has(
        &said,
        "rotated the manager join token a node that is no manager was sent",
    );
    assert!(!said.contains(now.trim()), "{said}");
}

/// A manager switched off (its engine stopped) is replaced, and the
/// replacement stays: a second run changes nothing. Before, every run
/// promoted target-4 and demoted it again "so the raft keeps an odd count":
/// the choice left target-3 out, the raft counted it.
#[test]
fn a_switched_off_managers_replacement_stays_and_a_second_run_changes_nothing() {
    let cluster = or_skip!(cluster(4, "cluster:\n  name: lab\n"));
    setup(&cluster);
    let names = |n: &[u8]| {
        n.iter()
            .map(|n| format!("ReCyClusteR-Target-0{n}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(raft_managers(&cluster, "target-1"), names(&[1, 2, 3]));
    cluster.stop(&["target-3"]);
    let t3_unreachable = || {
        swarm_nodes(&cluster, "target-1")
            .iter()
            .any(|(n, s)| *n == names(&[3])[0] && s == "Unreachable")
    };
    settle(300, t3_unreachable);
    assert!(t3_unreachable(), "{:?}", swarm_nodes(&cluster, "target-1"));
    let first = setup_with(&cluster, &[]);
    let said = stderr(&first);
    assert!(!said.contains("demoted"), "{said}");
    assert_eq!(
        raft_managers(&cluster, "target-1"),
        names(&[1, 2, 4]),
        "{said}"
    );
    let second = setup_with(&cluster, &[]);
    let said = stderr(&second);
    assert!(
        !said.contains("promoted") && !said.contains("demoted"),
        "{said}"
    );
    assert_eq!(
        raft_managers(&cluster, "target-1"),
        names(&[1, 2, 4]),
        "{said}"
    );
}

#[test]
fn a_node_that_lost_its_swarm_state_rejoins_and_two_nodes_keep_one_manager() {
    let cluster = or_skip!(cluster(2, "cluster:\n  name: lab\n"));
    setup(&cluster);
    // target-2, the worker, loses its swarm state (as a diskless node does
    // over a reboot): its old entry goes down.
    leave_until_down(&cluster, "target-2", "target-1");
    let out = setup(&cluster);
    assert_has(&stderr(&out), "its old entry (down) removed");
    // It joined again as a worker: two nodes, one manager. Before: its old
    // entry was counted beside it (three nodes: three managers wanted),
    // and it joined as a second manager.
    let nodes = swarm_nodes(&cluster, "target-1");
    assert_eq!(
        nodes,
        [
            ("ReCyClusteR-Target-01".to_string(), "Leader".to_string()),
            ("ReCyClusteR-Target-02".to_string(), String::new())
        ],
        "{}",
        stderr(&out)
    );
    // Its engine says "pending" on setup's first question (as a worker
    // does while it reconnects after a leader change), and "active" when
    // asked again: it is not made to leave. Before, that one reading made
    // it leave the swarm and join again with a new node ID.
    let id = node_id(&cluster, "target-2");
    let real = cluster.lab.dir().join("bin/rccr");
    let said_pending = cluster.lab.dir().join("hosts/target-2/said-pending");
    let sed = r#"sed -e 's/"LocalNodeState":"active"/"LocalNodeState":"pending"/' -e 's/"Error":""/"Eror":""/'"#;
    fake_command(
        &cluster,
        "target-2",
        "rccr",
        &format!(
            "#!/bin/sh\n[ \"$1\" = engine ] || exec '{real}' \"$@\"\n\
             [ -e '{said}' ] && exec '{real}' \"$@\"\n\
             : > '{said}'\n\
             '{real}' \"$@\" | {sed}\n",
            real = real.display(),
            said = said_pending.display()
        ),
    );
    let out = setup(&cluster);
    let said = stderr(&out);
    assert!(
        said_pending.exists(),
        "the relay never said pending: {said}"
    );
    assert!(!said.contains("left its broken swarm membership"), "{said}");
    assert_eq!(node_id(&cluster, "target-2"), id, "{said}");
}

#[test]
fn a_node_that_renames_itself_in_the_swarm_is_removed_all_the_same() {
    let cluster = or_skip!(one_manager_swarm());
    let id = node_id(&cluster, "target-3");
    // target-3 goes by another name in the swarm's list: its engine's
    // hostname, which its node entry carries, is its own word.
    let out = cluster.lab.sh("target-3", "hostname rccr-elsewhere");
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = |name: &str| {
        swarm_nodes(&cluster, "target-1")
            .iter()
            .any(|(n, _)| n == name)
    };
    settle(300, || listed("rccr-elsewhere"));
    assert!(
        listed("rccr-elsewhere"),
        "{:?}",
        swarm_nodes(&cluster, "target-1")
    );
    let ids = || cluster.docker_ok("target-1", &["node", "ls", "--format", "{{.ID}}"]);
    // Without asking it, a live node at its address by another name may
    // be it renamed, or another node on its old lease: refused, nothing
    // done. Before, --forget took whatever lived at the address.
    let out = remove(&cluster, &["--forget", "ReCyClusteR-Target-03"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_has(&stdout(&out), "run rccr setup first");
    assert!(ids().lines().any(|l| l.trim() == id), "{}", stdout(&out));
    let nodes = cluster.lab.exec("control", &["cat", "/root/.rccr/nodes"]);
    assert_has(&stdout(&nodes), "ReCyClusteR-Target-03");
    // Asked, it tells its node ID: that entry is its own.
    let out = remove(&cluster, &["ReCyClusteR-Target-03"]);
    let ids = ids();
    assert!(
        !ids.lines().any(|l| l.trim() == id),
        "{ids}\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_has(&stdout(&out), "left the swarm");
    assert_has(&stdout(&out), "removed from the swarm's list");
}

/// Waits (up to 60 s: a node tells a new name at its next check-in) until
/// `manager`'s swarm lists two nodes named `name`, and asserts it.
fn await_named_twice(cluster: &Cluster, manager: &str, name: &str) {
    let named_twice = || {
        swarm_nodes(cluster, manager)
            .iter()
            .filter(|(n, _)| n == name)
            .count()
            == 2
    };
    settle(300, named_twice);
    assert!(named_twice(), "{:?}", swarm_nodes(cluster, manager));
}

#[test]
fn a_worker_going_by_a_managers_name_is_not_taken_for_it_when_a_manager_is_replaced() {
    let cluster = or_skip!(cluster(4, "cluster:\n  name: lab\nswarm:\n  managers: 2\n"));
    // target-3 has 512 MB: of the workers, target-4 is the fittest.
    let out = cluster.lab.sh(
        "target-3",
        "sed 's/^MemTotal: .*/MemTotal:         524288 kB/' /proc/meminfo > /tmp/meminfo && \
         mount --bind /tmp/meminfo /proc/meminfo",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    setup(&cluster);
    let mut nodes = swarm_nodes(&cluster, "target-2");
    nodes.sort();
    let roles: Vec<&str> = nodes.iter().map(|(_, s)| s.as_str()).collect();
    assert!(
        matches!(
            roles[..],
            ["Leader" | "Reachable", "Leader" | "Reachable", "", ""]
        ),
        "{nodes:?}"
    );
    let manager = node_id(&cluster, "target-2");
    // target-4, root on its machine, goes by target-2's name in the swarm.
    let out = cluster.lab.sh("target-4", "hostname ReCyClusteR-Target-02");
    assert!(out.status.success(), "{}", stderr(&out));
    await_named_twice(&cluster, "target-2", "ReCyClusteR-Target-02");
    // A manager leaves: the worker at target-4's address is promoted in
    // its place, as the inventory names it; target-2 keeps its place.
    let out = remove(&cluster, &["ReCyClusteR-Target-01"]);
    let said = format!("{}\n{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{said}");
    assert_has(&stdout(&out), "ReCyClusteR-Target-04 promoted in its place");
    assert_eq!(node_id(&cluster, "target-2"), manager, "{said}");
    let manages = |host: &str| {
        cluster
            .docker_ok(host, &["info", "--format", "{{.Swarm.ControlAvailable}}"])
            .trim()
            == "true"
    };
    assert!(manages("target-2") && manages("target-4"), "{said}");
    assert!(!manages("target-3"), "{said}");
}

/// `host` (`target-N`) leaves the inventory and SSH (its sshd killed,
/// then `and` run there, if any); its engine runs on.
fn leave_inventory(cluster: &Cluster, host: &str, and: &str) {
    let dir = cluster.lab.dir().join("hosts").join(host);
    let and = if and.is_empty() {
        String::new()
    } else {
        format!(" && {and}")
    };
    let out = cluster.lab.sh(
        host,
        &format!("kill $(cat {}/sshd.pid){and}", dir.display()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let n = host.trim_start_matches("target-");
    let forget = cluster.lab.sh(
        "control",
        &format!("sed -i '/ReCyClusteR-Target-0{n}/d' /root/.rccr/nodes"),
    );
    assert!(forget.status.success());
}

/// A manager that left the inventory (sold, stolen, suspected) knew the
/// manager join token: `setup --remove-missing` demotes and removes it,
/// and rotates the token once the raft let it go, as `rccr remove` does.
/// Before: removed, and the token it knew stayed the swarm's (it could
/// join again as a manager with it).
#[test]
fn a_manager_removed_as_missing_leaves_no_manager_token_it_knew() {
    let cluster = or_skip!(cluster(4, "cluster:\n  name: lab\n"));
    set_up_three_managers(&cluster);
    let known = manager_token(&cluster, "target-1");
    // target-3, a manager, leaves the inventory (and SSH); its engine runs.
    leave_inventory(&cluster, "target-3", "");
    let out = setup_with(&cluster, &["--remove-missing"]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    // Nothing else was demoted: target-4 takes its place.
    assert!(!said.contains("demoted to worker"), "{said}");
    assert_count(
        &stdout(&out),
        "rotated the manager join token a demoted manager knew",
        1,
    );
    assert_ne!(manager_token(&cluster, "target-1"), known, "{said}");
    assert!(out.status.success(), "{said}");
}

#[test]
fn a_node_that_left_the_inventory_and_took_a_members_name_is_removed_as_missing() {
    let cluster = or_skip!(one_manager_swarm());
    let id = node_id(&cluster, "target-3");
    // target-3 leaves the inventory (and SSH), and its engine goes by
    // target-2's name in the swarm's list.
    leave_inventory(&cluster, "target-3", "hostname ReCyClusteR-Target-02");
    await_named_twice(&cluster, "target-1", "ReCyClusteR-Target-02");
    let out = setup_with(&cluster, &["--remove-missing"]);
    let ids = cluster.docker_ok("target-1", &["node", "ls", "--format", "{{.ID}}"]);
    assert!(
        !ids.lines().any(|l| l.trim() == id),
        "{ids}\n{}",
        stderr(&out)
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_has(
        &stderr(&out),
        "ReCyClusteR-Target-02: removed from the swarm",
    );
    assert_eq!(swarm_nodes(&cluster, "target-1").len(), 2);
}

#[test]
fn remove_keeps_the_managers_forgets_the_dead_and_releases_the_machine() {
    let cluster = or_skip!(cluster(4, "cluster:\n  name: lab\n"));
    setup(&cluster);
    let managers = |host: &str| {
        swarm_nodes(&cluster, host)
            .into_iter()
            .filter(|(_, s)| s == "Leader" || s == "Reachable")
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    assert_eq!(managers("target-2").len(), 3);
    assert!(managers("target-2").contains(&"ReCyClusteR-Target-01".to_string()));

    // A manager leaves, and gives its machine back.
    let out = cluster.lab.exec(
        "control",
        &[
            "rccr",
            "remove",
            "--yes",
            "--release",
            "ReCyClusteR-Target-01",
        ],
    );
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_has(&stdout(&out), "promoted in its place");
    settle(100, || managers("target-2").len() == 3);
    let now = managers("target-2");
    assert_eq!(
        now.len(),
        3,
        "{:?}\n{}\n{}",
        swarm_nodes(&cluster, "target-2"),
        stdout(&out),
        stderr(&out)
    );
    assert!(!now.contains(&"ReCyClusteR-Target-01".to_string()));
    let names: Vec<String> = swarm_nodes(&cluster, "target-2")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        !names.contains(&"ReCyClusteR-Target-01".to_string()),
        "{names:?}"
    );
    let state = cluster.docker_ok(
        "target-1",
        &["info", "--format", "{{.Swarm.LocalNodeState}}"],
    );
    assert_eq!(state.trim(), "inactive");
    assert!(
        !cluster.lab.key_logs_in("/root/.ssh/id_ed25519", "target-1"),
        "still logs in"
    );
    let inventory = stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/nodes"]));
    assert!(!inventory.contains("ReCyClusteR-Target-01"), "{inventory}");
    // ssh forgets its host key: a machine reinstalled under that name is new.
    let known = stdout(
        &cluster
            .lab
            .exec("control", &["cat", "/root/.ssh/known_hosts"]),
    )
    .to_lowercase();
    assert!(!known.contains("recycluster-target-01"), "{known}");
    assert_has(&known, "recycluster-target-02");

    // A dead node is forgotten without asking it.
    cluster.stop(&["target-4"]);
    let h4 = cluster.lab.dir().join("hosts/target-4");
    cluster.lab.sh(
        "target-4",
        &format!("kill $(cat {}/sshd.pid)", h4.display()),
    );
    let out = remove(&cluster, &["--forget", "ReCyClusteR-Target-04"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let names: Vec<String> = swarm_nodes(&cluster, "target-2")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let inventory = stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/nodes"]));
    assert!(!inventory.contains("ReCyClusteR-Target-04"), "{inventory}");
    // It comes back, still holding the cluster key: setup leaves it out.
    cluster.lab.reboot(&["target-4"]);
    assert!(cluster.lab.key_logs_in("/root/.ssh/id_ed25519", "target-4"));
    let out = setup(&cluster);
    assert_has(
        &stdout(&out),
        &format!("{{\"ip\": \"{}\"", cluster.lab.ip("target-4")),
    );
    assert_has(&stdout(&out), "\"found\": \"unpinned\"");
    let inventory = stdout(&cluster.lab.exec("control", &["cat", "/root/.rccr/nodes"]));
    assert!(!inventory.contains("ReCyClusteR-Target-04"), "{inventory}");
    assert_eq!(swarm_nodes(&cluster, "target-2").len(), 2);

    // A node the inventory does not list is bad input, and nothing changes.
    let out = cluster
        .lab
        .exec("control", &["rccr", "remove", "--yes", "nosuchnode"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn a_restored_backup_makes_a_fresh_control_manage_the_same_cluster() {
    let config = &format!("cluster:\n  name: lab\n{WEB_TWICE}");
    let cluster = or_skip!(cluster(2, config));
    setup(&cluster);
    let out = cluster
        .lab
        .exec("control", &["rccr", "backup", "/root/cluster.backup"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = stdout(
        &cluster
            .lab
            .exec("control", &["stat", "-c", "%a", "/root/cluster.backup"]),
    );
    assert_eq!(mode.trim(), "600");
    // A freshly flashed control: none of rccr's state, keys or config.
    let wipe = "rm -rf /root/.rccr /root/.ssh/id_ed25519 /root/.ssh/id_ed25519.pub \
                /root/.ssh/known_hosts /root/.docker /root/.ansible.cfg /root/cluster_config.yml";
    assert!(cluster.lab.sh("control", wipe).status.success());
    // A damaged archive is refused whole.
    let out = cluster.lab.sh(
        "control",
        "head -c 300 /root/cluster.backup > /root/cut.backup && rccr restore /root/cut.backup",
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(!cluster
        .lab
        .exec("control", &["test", "-e", "/root/.rccr"])
        .status
        .success());
    // `-` reads stdin.
    let out = cluster
        .lab
        .sh("control", "rccr restore - < /root/cluster.backup");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.lab.exec("control", &["rccr", "status"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    // Setup finds the cluster as it left it: nothing to adopt, nothing to change.
    let (out, nodes, services) = setup_layers(&cluster, 3);
    let json = stdout(&out);
    assert_count(&json, "\"result\": \"already adopted\"", 2);
    assert!(
        nodes
            .iter()
            .all(|(_, m, s)| m == "unchanged" && (s == "unchanged" || s == "skipped")),
        "{nodes:?}"
    );
    assert_eq!(services, ["unchanged"]);
}

#[test]
fn a_swarm_that_lost_its_quorum_is_reformed_only_when_asked_and_heals() {
    let cluster = or_skip!(cluster(3, WEB_TWICE));
    setup(&cluster);
    let id = |host: &str| cluster.docker_ok(host, &["info", "--format", "{{.Swarm.Cluster.ID}}"]);
    let swarm_id = id("target-1");
    // Two of the three managers go: the swarm cannot agree on anything.
    cluster.stop(&["target-2", "target-3"]);
    // The leader notices after raft's election timeout.
    settle(300, || {
        !cluster.docker("target-1", &["node", "ls"]).status.success()
    });
    // Status says so.
    let out = cluster.lab.exec("control", &["rccr", "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_has(&stdout(&out), "quorum: LOST: 1 of 3 managers answer");
    // Without --yes, and with no terminal to ask on, nothing is re-formed.
    let asked = cluster
        .lab
        .exec("control", &["sh", "-c", "rccr setup </dev/null"]);
    assert_eq!(asked.status.code(), Some(1), "{}", stderr(&asked));
    assert_has(
        &stderr(&asked),
        "the swarm lost its quorum: 1 of 3 managers answer",
    );
    // (A manager without quorum cannot tell its swarm's ID.)
    // With --yes it is re-formed from the manager that answers, keeping its ID.
    let out = setup_with(&cluster, &[]);
    assert_has(&stderr(&out), "re-formed the swarm from here");
    assert_eq!(id("target-1"), swarm_id);
    // The others come back and are healed into it.
    cluster.start(&["target-2", "target-3"]);
    let out = setup(&cluster);
    assert_has(&stderr(&out), "left its broken swarm membership");
    for host in ["target-2", "target-3"] {
        assert_eq!(id(host), swarm_id, "{host}");
    }
    assert_three_managers(&cluster);
    let names: Vec<String> = swarm_nodes(&cluster, "target-1")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names.len(), 3, "stale entries left: {names:?}");
    let out = cluster.lab.exec("control", &["rccr", "status"]);
    assert_has(&stdout(&out), "quorum: 3 of 3 managers reachable");
}

/// Needs confirm_leader (src/swarm/form.rs) to leave alone a candidate
/// that says the swarm lost its quorum while another reads it: without
/// that, setup --yes runs --force-new-cluster on the poser (seen in the
/// lab: "the re-formed swarm does not answer" on target-1). Then, with no
/// manager that reads the swarm, needs recover_quorum to re-form nothing
/// while a majority of the managers answer (as while raft elects after a
/// power cut), nor while two members claim one node ID: without either,
/// setup --yes re-formed the swarm from target-1.
#[test]
fn a_manager_faking_a_lost_quorum_re_forms_nothing() {
    let cluster = or_skip!(cluster(3, "cluster:\n  name: lab\n"));
    setup(&cluster);
    // target-1, root on its machine, has no relay and a docker command
    // that says its swarm has no leader whenever asked for its nodes.
    let real = cluster.lab.dir().join("bin/rccr");
    let no_relay = format!(
        "#!/bin/sh\n[ \"$1\" = engine ] && exit 127\nexec '{}' \"$@\"\n",
        real.display()
    );
    let no_leader = |info: &str| {
        format!(
            "#!/bin/sh\ncase \"$1 $2\" in 'node ls'|'node inspect') \
             echo 'Error response from daemon: rpc error: code = Unknown desc = The swarm does not have a leader.' >&2; exit 1 ;; {info} esac\n\
             exec /usr/bin/docker \"$@\"\n"
        )
    };
    fake_command(&cluster, "target-1", "rccr", &no_relay);
    fake_command(&cluster, "target-1", "docker", &no_leader(""));
    let out = setup_with(&cluster, &[]);
    let said = stderr(&out);
    assert!(!said.contains("re-form"), "{said}");
    assert_swarm_failed(
        &out,
        "ReCyClusteR-Target-01",
        "says the cluster's swarm lost its quorum, but ReCyClusteR-Target-02 reads it: left alone",
    );
    assert_three_managers(&cluster);

    // target-3's engine stops and target-2 says there is no leader too:
    // 2 of the 3 managers answer, as while raft elects after a power cut.
    let (id1, id2) = (node_id(&cluster, "target-1"), node_id(&cluster, "target-2"));
    cluster.stop(&["target-3"]);
    fake_command(&cluster, "target-2", "rccr", &no_relay);
    fake_command(&cluster, "target-2", "docker", &no_leader(""));
    let re_forms_nothing = |why: &str| {
        let out = setup_with(&cluster, &[]);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{said}");
        assert!(!said.contains("re-formed the swarm from"), "{said}");
        assert_has(&said, why);
    };
    re_forms_nothing("the swarm has no leader yet, but 2 of 3 managers answer, a majority: raft will elect one; run rccr setup again in a minute");
    // target-2 claims target-1's node ID: one of them poses as the other.
    let posing = format!("'info '*) /usr/bin/docker \"$@\" | sed s/{id2}/{id1}/g; exit ;;");
    fake_command(&cluster, "target-2", "docker", &no_leader(&posing));
    re_forms_nothing(&format!("ReCyClusteR-Target-01 and ReCyClusteR-Target-02 both claim the node ID {id1}: one poses as the other, so the swarm is not re-formed"));
    // The raft is the one it was: target-3 comes back into it.
    cluster.start(&["target-3"]);
    assert_three_managers(&cluster);
}

/// `rccr setup` with a swarm recorded and no manager of it answering fails
/// (exit 1), saying so and naming the manager that did not answer; before,
/// no node's swarm layer had failed (the manager's failure is its machine
/// layer's, the worker is skipped), so setup said done and exited 0. With
/// no swarm recorded and no engine free to start one (both in the swarm
/// already), it said "no node runs Docker" and exited 0; now each is named.
#[test]
fn setup_fails_when_no_manager_of_the_swarm_answers_or_none_is_free_to_start_one() {
    let cluster = or_skip!(cluster(2, "cluster:\n  name: lab\n"));
    setup(&cluster);
    let swarm_id = cluster.docker_ok("target-1", &["info", "--format", "{{.Swarm.Cluster.ID}}"]);
    let swarm_id = swarm_id.trim();
    let ip1 = cluster.lab.ip("target-1");
    // A control that lost its swarm record: no node is free to start one.
    let sh = |script: &str| {
        assert!(
            cluster.lab.sh("control", script).status.success(),
            "{script}"
        )
    };
    sh("mv /root/.rccr/swarm /root/swarm.kept");
    let none_free = "no node is free to start the cluster's swarm";
    let out = setup_with(&cluster, &[]);
    assert_swarm_failed(
        &out,
        "ReCyClusteR-Target-01",
        &format!("in another swarm ({swarm_id}): left alone; {none_free}"),
    );
    assert_swarm_failed(
        &out,
        "ReCyClusteR-Target-02",
        "in another swarm: left alone",
    );
    assert!(
        !stderr(&out).contains("no node runs Docker"),
        "{}",
        stderr(&out)
    );
    sh("test ! -e /root/.rccr/swarm && mv /root/swarm.kept /root/.rccr/swarm");
    // The manager's engine stops.
    cluster.stop(&["target-1"]);
    let (nodes, _) = setup_not_whole(
        &cluster,
        &format!(
            "no manager of the cluster's swarm {swarm_id} answers; ReCyClusteR-Target-01 ({ip1}): FAILED: "
        ),
    );
    assert_eq!(
        node_layers(&nodes, "ReCyClusteR-Target-02").2,
        "skipped",
        "{nodes:?}"
    );
}

/// The wait for a service's replicas that cannot read the swarm's tasks
/// does not take the service for running: before, its first failed read
/// ended the wait with every service ok, and setup exited 0 although no
/// replica was ever seen running.
#[test]
fn a_service_whose_tasks_cannot_be_read_fails_setup() {
    let config = "containers:\n  - name: web\n    image: rccr-lab/web:1\n\
                  swarm:\n  services_timeout_s: 2\n";
    let cluster = or_skip!(cluster(1, config));
    // target-1, the leader, is asked through its docker command, which
    // cannot list the services' tasks.
    docker_refuses(&cluster, &["target-1"], "service ps", "tasks unreadable");
    let out = through_cli(&cluster, &["setup", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_has(
        &stderr(&out),
        "the cluster is not whole: service web: created, its replicas not seen running: \
         could not read them in 2 s: exit 1: Error response from daemon: tasks unreadable",
    );
    assert_eq!(layers(&out).1, ["created"]);
}

/// Through the docker CLI, a port dropped from the config takes only
/// itself out: `--publish-rm` takes out every port with its target port,
/// and before, a kept port to the same target went with it (setup still
/// said "updated", exit 0).
#[test]
fn a_port_dropped_through_the_docker_cli_leaves_the_port_to_the_same_target() {
    let ports = |list: &[&str]| {
        let mut c =
            "containers:\n  - name: web\n    image: rccr-lab/web:1\n    ports:\n".to_string();
        for p in list {
            c.push_str(&format!("      - \"{p}\"\n"));
        }
        c
    };
    let cluster = or_skip!(cluster(1, &ports(&["8080:80", "8081:80"])));
    let cli_setup = || {
        let argv = ["env", "RCCR_ENGINE_NODE=cli", "rccr", "setup", "--yes"];
        let out = cluster.lab.exec("control", &argv);
        assert!(out.status.success(), "{}", stderr(&out));
        stderr(&out)
    };
    cli_setup();
    write_config(&cluster, &ports(&["8080:80"]));
    assert_has(&cli_setup(), "updated");
    let published = cluster.docker_ok(
        "target-1",
        &[
            "service",
            "inspect",
            "--format",
            "{{range .Spec.EndpointSpec.Ports}}{{.PublishedPort}}:{{.TargetPort}} {{end}}",
            "web",
        ],
    );
    assert_eq!(published.trim(), "8080:80");
}
