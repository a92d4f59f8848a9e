//! The cluster engine on the virtual LAN with real Docker engines: `rccr
//! setup` runs the built-in playbooks from the control (Ansible from
//! /opt/rccr-ansible), the swarm forms with the right managers, services
//! from cluster_config.yml run where their image can, a second run changes
//! nothing, and a node whose engine stops shows as down in `rccr status`.
mod common;
#[path = "swarm/dockerlab.rs"]
mod dockerlab;

use common::lab::{require_root, stderr, stdout, Lab};
use dockerlab::{ansible_playbook_wrapper, require_engine, skip, Cluster, ANSIBLE_VENV};
use std::path::Path;
use std::process::{Command, Output};

const IMAGE: &str = "rccr-lab/web:1";

/// A cluster whose targets run Docker and hold the test image, and whose
/// control has `ansible-playbook` and `config` as ./cluster_config.yml.
fn cluster(targets: usize, config: &str) -> Option<Cluster> {
    if !require_engine() {
        return None;
    }
    let wrapper = ansible_playbook_wrapper()?;
    let names: Vec<String> = (1..=targets).map(|n| format!("target-{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let cluster = Cluster::up(Lab::builder().targets(targets).bin(wrapper), &names);
    cluster.image(IMAGE, &names);
    let out = cluster.lab.exec_stdin(
        "control",
        &["sh", "-c", "cat > /root/cluster_config.yml"],
        config.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    Some(cluster)
}

fn setup(cluster: &Cluster) -> Output {
    let out = cluster.lab.exec("control", &["rccr", "setup", "--yes"]);
    assert!(
        out.status.success(),
        "rccr setup failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// The PLAY RECAP lines of ansible-playbook's output: (host, changed, failed).
fn recap(out: &Output) -> Vec<(String, u32, u32)> {
    let text = stdout(out);
    let field = |line: &str, key: &str| -> u32 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
    };
    text.lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .skip(1)
        .filter(|l| l.contains(" : ok="))
        .map(|l| {
            let host = l.split_whitespace().next().unwrap_or("").to_string();
            let failed = field(l, "failed=") + field(l, "unreachable=");
            (host, field(l, "changed="), failed)
        })
        .collect()
}

/// `Hostname ManagerStatus` of every swarm node, as `host` sees the swarm.
fn swarm_nodes(cluster: &Cluster, host: &str) -> Vec<(String, String)> {
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
    let Some(cluster) = cluster(3, config) else {
        return;
    };
    let hosts = ["target-1", "target-2", "target-3"];
    let names = [
        "ReCyClusteR-Target-01",
        "ReCyClusteR-Target-02",
        "ReCyClusteR-Target-03",
    ];

    let first = setup(&cluster);
    let recap1 = recap(&first);
    assert_eq!(recap1.len(), 4, "{}", stdout(&first));
    assert!(recap1.iter().all(|r| r.2 == 0), "{recap1:?}");

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
    let tasks = cluster.docker_ok(
        "target-1",
        &[
            "service",
            "ps",
            "web",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}",
        ],
    );
    assert_eq!(
        tasks.lines().filter(|l| l.starts_with("Running")).count(),
        3,
        "{tasks}"
    );
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
    // update, so Ansible changes nothing anywhere.
    let before = swarm_identity(&cluster, &hosts);
    let second = setup(&cluster);
    let recap2 = recap(&second);
    assert_eq!(recap2.len(), 4, "{}", stdout(&second));
    assert!(
        recap2.iter().all(|r| r.1 == 0 && r.2 == 0),
        "the second run changed something: {recap2:?}\n{}",
        stdout(&second)
    );
    assert_eq!(swarm_identity(&cluster, &hosts), before);

    // Every node is healthy; then target-3's engine stops and it is down.
    let (code, json) = status_json(&cluster);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json.matches("\"healthy\": true").count(), 4, "{json}");
    assert_eq!(
        json.matches("\"swarm_role\": \"leader\"").count(),
        1,
        "{json}"
    );
    assert_eq!(
        json.matches("\"swarm_role\": \"manager\"").count(),
        2,
        "{json}"
    );
    cluster.stop(&["target-3"]);
    let (code, json) = status_json(&cluster);
    assert_eq!(code, Some(1), "{json}");
    let down = node_json(&json, "ReCyClusteR-Target-03");
    assert!(down.contains("\"reachable\": true"), "{down}");
    assert!(down.contains("\"docker\": \"down\""), "{down}");
    assert!(down.contains("\"healthy\": false"), "{down}");
    assert!(down.contains("\"problem\": \"Docker is down"), "{down}");
    assert_eq!(json.matches("\"healthy\": true").count(), 3, "{json}");
    let out = cluster.lab.exec("control", &["rccr", "status"]);
    assert_eq!(out.status.code(), Some(1));
    let table = stdout(&out);
    let row = table
        .lines()
        .find(|l| l.starts_with("ReCyClusteR-Target-03"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" down ") && row.ends_with("FAIL"), "{row}");
    assert!(
        stderr(&out).contains("1 of 4 nodes unreachable or unhealthy"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn two_targets_make_one_manager_one_worker_and_images_run_only_where_they_can() {
    let config = "containers:\n  - name: web\n    image: rccr-lab/web:1\n    replicas: 2\n";
    let Some(cluster) = cluster(2, config) else {
        return;
    };
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
    let tasks = cluster.docker_ok(
        "target-1",
        &[
            "service",
            "ps",
            "web",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}} {{.CurrentState}}",
        ],
    );
    let running: Vec<&str> = tasks.lines().filter(|l| l.contains(" Running")).collect();
    assert_eq!(running.len(), 2, "{tasks}");
    assert!(
        running
            .iter()
            .all(|l| l.starts_with("ReCyClusteR-Target-01 ")),
        "{tasks}"
    );

    // target-2 leaves the inventory: kept without the flag, removed with it.
    let playbook = |extra: &str| {
        let script = format!(
            "sed -i '/ReCyClusteR-Target-02/d' /root/.rccr/inventory.ini && \
             ANSIBLE_CONFIG=/root/.rccr/playbooks/ansible.cfg ansible-playbook -i /root/.rccr/inventory.ini \
             -e @/root/.rccr/playbooks/cluster_vars.json {extra} /root/.rccr/playbooks/site.yml"
        );
        let out = cluster.lab.sh("control", &script);
        assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
        stdout(&out)
    };
    let log = playbook("");
    assert!(
        log.contains("ReCyClusteR-Target-02")
            && log.contains("kept; run rccr setup --remove-missing"),
        "{log}"
    );
    assert_eq!(swarm_nodes(&cluster, "target-1").len(), 2);
    let log = playbook("-e rccr_remove_missing=true");
    assert!(log.contains("removing it"), "{log}");
    assert_eq!(
        swarm_nodes(&cluster, "target-1"),
        [("ReCyClusteR-Target-01".to_string(), "Leader".to_string())]
    );
}

#[test]
fn playbooks_pass_ansible_lint() {
    if !require_root() {
        return;
    }
    if ansible_playbook_wrapper().is_none() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/playbooks");
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
    assert!(
        out.status.success(),
        "ansible-lint:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("Passed"), "{text}");
}
