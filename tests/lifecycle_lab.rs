//! The lab's reboot and power cut (tests/lab/lab.sh `storage`, `reboot`,
//! `powercut`): what a host keeps depends on its storage, as on real
//! hardware; and `rccr setup` of a node without storage, through its
//! reboot. Key rotation through reboots is in tests/keys_lab.rs.
mod common;
#[path = "swarm/dockerlab.rs"]
mod dockerlab;

use common::failpoint::{sigkill, Failpoint};
use common::lab::{stderr, stdout, Lab};
use common::{assert_has, or_skip};

fn read(lab: &Lab, host: &str, path: &str) -> String {
    stdout(&lab.exec(
        host,
        &[
            "sh",
            "-c",
            &format!("cat {path} 2>/dev/null || echo MISSING"),
        ],
    ))
}

fn write(lab: &Lab, host: &str, path: &str, text: &str) {
    let out = lab.sh(host, &format!("echo {text} > {path}"));
    assert!(out.status.success(), "write {path} on {host}");
}

/// Whether process `pid` still runs (a zombie waiting for its reaper does not).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'))
}

#[test]
fn a_reboot_keeps_what_the_storage_keeps() {
    let lab = or_skip!(Lab::builder().targets(3).up_as_root());
    lab.storage("target-2", "lbu");
    lab.storage("target-3", "none");
    let hosts = ["target-1", "target-2", "target-3"];
    for host in hosts {
        write(&lab, host, "/root/saved", "committed");
        write(&lab, host, "/etc/rccr-lab-test", "committed");
    }
    // lbu include + commit on every host: only target-2 has a medium.
    for host in hosts {
        let out = lab.ssh("control", host, "lbu include /root/saved && lbu commit");
        let has_lbu = host != "target-1";
        assert_eq!(
            out.status.success(),
            host == "target-2",
            "{host}: lbu commit"
        );
        assert_eq!(
            lab.ssh("control", host, "command -v lbu").status.success(),
            has_lbu,
            "{host}: lbu stand-in"
        );
    }
    for host in hosts {
        write(&lab, host, "/root/unsaved", "lost");
        write(&lab, host, "/root/saved", "changed-after-commit");
    }
    // A process of the host must not survive its reboot.
    let sleeper = lab.sh(
        "target-1",
        "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!",
    );
    let sleeper = stdout(&sleeper).trim().to_string();
    assert!(running(&sleeper), "no sleeper {sleeper}");
    lab.reboot(&hosts);
    assert!(
        !running(&sleeper),
        "a process of target-1 survived its reboot"
    );
    // It booted as OpenRC would: rccr-init ran (the lab's bin has rccr).
    for host in hosts {
        let log = std::fs::read_to_string(lab.dir().join("hosts").join(host).join("rccr-init.log"))
            .unwrap_or_default();
        assert!(
            log.contains("rccr-init:"),
            "{host}: rccr init did not run: {log:?}"
        );
    }

    // On disk: everything stays.
    assert_eq!(read(&lab, "target-1", "/root/unsaved"), "lost\n");
    assert_eq!(
        read(&lab, "target-1", "/root/saved"),
        "changed-after-commit\n"
    );
    // Diskless with lbu: what was committed, as it was committed.
    assert_eq!(read(&lab, "target-2", "/root/unsaved"), "MISSING\n");
    assert_eq!(read(&lab, "target-2", "/root/saved"), "committed\n");
    assert_eq!(read(&lab, "target-2", "/etc/rccr-lab-test"), "committed\n");
    // Diskless without storage: back to the image.
    for path in ["/root/unsaved", "/root/saved", "/etc/rccr-lab-test"] {
        assert_eq!(read(&lab, "target-3", path), "MISSING\n", "{path}");
    }
    // Every host is back on the LAN with its address and its sshd, and
    // still takes the temporary key (part of its image).
    for host in hosts {
        let out = lab.ssh("control", host, "true");
        assert!(out.status.success(), "{host} after the reboot");
    }
}

#[test]
fn a_power_cut_reboots_every_host() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    lab.storage("target-2", "none");
    let ips: Vec<String> = ["control", "target-1", "target-2"]
        .iter()
        .map(|h| lab.ip(h))
        .collect();
    for host in ["control", "target-1", "target-2"] {
        write(&lab, host, "/root/before-the-cut", "here");
    }
    let holders: Vec<String> = ["control", "target-1", "target-2"]
        .iter()
        .map(|h| {
            std::fs::read_to_string(lab.dir().join("hosts").join(h).join("holder.pid")).unwrap()
        })
        .collect();
    let started = std::time::Instant::now();
    lab.powercut();
    eprintln!("power cut and boot of 3 hosts: {:?}", started.elapsed());
    for (host, holder) in ["control", "target-1", "target-2"].iter().zip(&holders) {
        let now =
            std::fs::read_to_string(lab.dir().join("hosts").join(host).join("holder.pid")).unwrap();
        assert_ne!(&now, holder, "{host} was not power cycled");
    }
    assert_eq!(read(&lab, "control", "/root/before-the-cut"), "here\n");
    assert_eq!(read(&lab, "target-1", "/root/before-the-cut"), "here\n");
    assert_eq!(read(&lab, "target-2", "/root/before-the-cut"), "MISSING\n");
    let after: Vec<String> = ["control", "target-1", "target-2"]
        .iter()
        .map(|h| lab.ip(h))
        .collect();
    assert_eq!(ips, after, "DHCP gave the same addresses back");
    for host in ["target-1", "target-2"] {
        assert!(lab.ssh("control", host, "true").status.success(), "{host}");
    }
}

/// `rccr setup --yes --no-swarm --json` on the control.
const SETUP: [&str; 5] = ["rccr", "setup", "--yes", "--no-swarm", "--json"];

fn setup(lab: &Lab) -> std::process::Output {
    lab.exec("control", &SETUP)
}

#[test]
fn setup_killed_once_every_node_rotated_converges_on_a_re_run() {
    // Killed after the last node rotated, before the rotation's journal
    // was retired (and before the inventory was written): every node
    // takes the cluster key, so the re-run finds nothing new, and must
    // still finish the rotation, write the inventory and succeed.
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let fp = Failpoint::new("setup-before-retire");
    let child = fp.spawn(&lab, "before-retire", &SETUP);
    let (_, pid) = fp.reached();
    sigkill(pid);
    fp.resume();
    child.wait_with_output().unwrap();
    assert!(
        lab.exec("control", &["test", "-f", "/root/.rccr/rotation.journal"])
            .status
            .success(),
        "killed before the journal was retired"
    );

    let out = setup(&lab);
    assert_eq!(
        out.status.code(),
        Some(0),
        "re-run: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        !lab.exec("control", &["test", "-e", "/root/.rccr/rotation.journal"])
            .status
            .success(),
        "the journal was never retired"
    );
    lab.assert_temp_key_retired();
    let nodes = read(&lab, "control", "/root/.rccr/nodes");
    for name in ["target-1", "target-2"] {
        lab.assert_cluster_key_only(name, &lab.ip(name), 3);
        assert_has(&nodes, &lab.ip(name));
    }
}

#[test]
fn setup_of_a_node_without_storage_fails_keeps_the_old_key_and_re_adopts_it_after_its_reboot() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    lab.storage("target-1", "none");
    let out = setup(&lab);
    let json = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{json}\n{}",
        common::lab::stderr(&out)
    );
    assert_has(&json, "rotated-volatile");
    let err = common::lab::stderr(&out);
    assert_has(&err, "take the cluster key but could not save it");
    let temp_key_kept = || {
        lab.exec("control", &["test", "-f", "/root/.ssh/id_rsa"])
            .status
            .success()
    };
    assert!(temp_key_kept(), "the control dropped the temporary key");
    let keys_status = || stdout(&lab.keys_status_of(&lab.ip("target-1")));
    assert_has(&keys_status(), "\"persisted\": \"volatile\"");
    let status = lab.exec("control", &["rccr", "status", "--json"]);
    assert_eq!(status.status.code(), Some(1));
    let text = stdout(&status);
    assert_has(&text, "\"key_persisted\": \"volatile\"");
    assert_has(&text, "\"key_persisted\": \"yes\"");

    lab.reboot(&["target-1"]);
    assert!(
        lab.key_logs_in("/root/.ssh/id_rsa", "target-1"),
        "the old key is lost"
    );
    assert_has(&keys_status(), "\"persisted\": \"volatile\"");

    let out = setup(&lab);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        common::lab::stderr(&out).contains("could not save it"),
        "{}",
        common::lab::stderr(&out)
    );
    assert!(
        lab.key_logs_in("/root/.ssh/id_ed25519", "target-1"),
        "not re-adopted"
    );
    assert!(lab.key_logs_in("/root/.ssh/id_ed25519", "target-2"));
    assert!(temp_key_kept());
    assert_has(&keys_status(), "\"persisted\": \"volatile\"");
}

/// `rccr remove --release` when no manager of the cluster's swarm among
/// the nodes that stay answers (here no node runs Docker; on a cluster:
/// every other manager down, or the node the only manager). Before, the
/// node was `skipped`, the exit 0, and it left the inventory, the
/// rotation and known_hosts still holding the cluster key and still in
/// the swarm: a retry said "not a node of the inventory". Now it fails,
/// nothing is asked of it and it stays, so a retry still reaches it;
/// `--forget` takes it out of the inventory, and fails all the same.
/// rccr's block in ~/.ssh/config follows: a node that stays stays named,
/// and one that left is named no more (before, its address and name gave
/// whatever answered there next the cluster key until the next setup),
/// every other line as it was.
#[test]
fn remove_with_no_manager_answering_fails_and_keeps_the_node() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let ip = lab.ip("target-1");
    // A block an earlier run left (keyrotate names addresses): the
    // control's, target-1's, and one no node holds. Setup names the nodes.
    let block = format!(
        "# BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost\n\
         Host {} {ip} 192.0.2.9\n    IdentityFile \"/root/.ssh/id_ed25519\"\n# END rccr\n",
        lab.ip("control")
    );
    let out = lab.exec_stdin(
        "control",
        &[
            "sh",
            "-c",
            "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/config",
        ],
        block.as_bytes(),
    );
    assert_exit(&out, 0);
    let out = setup(&lab);
    assert_eq!(out.status.code(), Some(0), "setup: {}", stderr(&out));
    let ssh_config = || read(&lab, "control", "/root/.ssh/config");
    let named = ssh_config();
    let name = lab.host("target-1").hostname;
    assert_has(&named, &format!(" {ip} {name} "));
    let pinned = || read(&lab, "control", "/root/.ssh/known_hosts").contains(&ip);
    assert!(pinned(), "setup pinned no host key for {ip}");
    let remove = |extra: &str| {
        lab.exec(
            "control",
            &["rccr", "remove", extra, "--yes", "--json", &ip],
        )
    };
    for _ in 0..2 {
        let out = remove("--release");
        assert_exit(&out, 1);
        assert_has(&stdout(&out), "\"result\": \"failed\"");
        assert_has(&stdout(&out), "it stays in the inventory");
        assert_has(&read(&lab, "control", "/root/.rccr/nodes"), &ip);
        assert!(pinned(), "its known_hosts pin was dropped");
        assert!(
            lab.key_logs_in("/root/.ssh/id_ed25519", "target-1"),
            "the cluster key no longer logs in"
        );
        assert_eq!(ssh_config(), named);
    }
    let out = remove("--forget");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_has(&stdout(&out), "its entry stays in the swarm's list");
    assert!(!read(&lab, "control", "/root/.rccr/nodes").contains(&ip));
    let of_target = [ip.clone(), name.clone(), name.to_ascii_lowercase()];
    let unnamed: String = named
        .lines()
        .map(|line| match line.strip_prefix("Host ") {
            Some(hosts) => {
                let kept: Vec<&str> = hosts
                    .split_whitespace()
                    .filter(|h| !of_target.iter().any(|t| t == h))
                    .collect();
                format!("Host {}\n", kept.join(" "))
            }
            None => format!("{line}\n"),
        })
        .collect();
    assert_eq!(ssh_config(), unnamed, "was:\n{named}");
}

/// `rccr remove`'s line about an ~/.ssh/config it may not rewrite had no
/// `warning:` (it read as the command's error) and was not escaped. No
/// lab: a node `--forget` takes out is not asked anything.
#[test]
fn remove_warns_of_an_ssh_config_it_may_not_rewrite() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let (dir, state) = offline_state("sshwarn");
    let ip = "192.0.2.7";
    let nodes = state.join("nodes");
    let node = format!("{ip}\t-\tReCyClusteR-Target-07\ttarget\tx86_64\t-\t-\n");
    std::fs::write(&nodes, node).unwrap();
    mode(&nodes, 0o600);
    let config = dir.join(".ssh/config");
    let block = format!(
        "# BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost\n\
         Host {ip} ReCyClusteR-Target-07\n    IdentityFile \"/k\"\n# END rccr\n"
    );
    std::fs::write(&config, &block).unwrap();
    mode(&config, 0o666);
    let out = forget_offline(&dir, &state, ip);
    // No manager answers: it fails, and leaves the inventory all the same.
    assert_exit(&out, 1);
    let err = stderr(&out);
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("was not rewritten"))
        .collect();
    assert_eq!(warned.len(), 1, "{err}");
    assert!(
        warned[0].starts_with("rccr remove: warning: ") && warned[0].contains(ip),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), block);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A scratch HOME (with `.ssh`) and state directory for a run of rccr
/// on the test's own machine, no lab.
fn offline_state(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("rccr-lifecycle-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(dir.join(".ssh")).unwrap();
    (dir, state)
}

/// `rccr remove --forget --yes IP` with HOME `dir` and state `state`.
fn forget_offline(
    dir: &std::path::Path,
    state: &std::path::Path,
    ip: &str,
) -> std::process::Output {
    std::process::Command::new(common::lab::rccr_bin())
        .args(["remove", "--forget", "--yes", ip])
        .current_dir(dir)
        .env("HOME", dir)
        .env("RCCR_STATE_DIR", state)
        .output()
        .unwrap()
}

/// The node a run chose to create the swarm on is forgotten before the
/// swarm's ID was recorded (the run was killed, the node died): the
/// record chooses it no more. Before, its host key stayed in the record,
/// and a later node of that key (a card cloned from it) that manages a
/// swarm of its own was adopted as the swarm's creator at any address.
#[test]
fn a_chosen_node_forgotten_before_its_swarm_was_recorded_leaves_the_record() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, state) = offline_state("forgetchosen");
    let (ip, key) = ("192.0.2.7", "SHA256:Y2hvc2VuLW5vZGUtaG9zdC1rZXk");
    let nodes = state.join("nodes");
    let node = format!("{ip}\t-\tReCyClusteR-Target-07\ttarget\tx86_64\t{key}\t-\n");
    std::fs::write(&nodes, node).unwrap();
    std::fs::set_permissions(&nodes, std::fs::Permissions::from_mode(0o600)).unwrap();
    let record = state.join("swarm");
    std::fs::write(&record, format!("bootstrap {ip} {key}\n")).unwrap();
    let out = forget_offline(&dir, &state, ip);
    assert_exit(&out, 1);
    assert!(!std::fs::read_to_string(&nodes).unwrap().contains(ip));
    let left = std::fs::read_to_string(&record).unwrap();
    assert!(!left.contains("bootstrap"), "{left}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Asserts that `out` exited `code`, showing its stdout and stderr if not.
fn assert_exit(out: &std::process::Output, code: i32) {
    let shown = format!("{}\n{}", stdout(out), stderr(out));
    assert_eq!(out.status.code(), Some(code), "{shown}");
}

/// The managers of the swarm as `host`'s engine lists them (Leader or
/// Reachable), and every node's name.
fn swarm_of(cluster: &dockerlab::Cluster, host: &str) -> (Vec<String>, Vec<String>) {
    let list = cluster.docker_ok(
        host,
        &["node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}"],
    );
    let mut managers = Vec::new();
    let mut names = Vec::new();
    for line in list.lines() {
        let (name, status) = line.split_once(' ').unwrap_or((line, ""));
        if matches!(status.trim(), "Leader" | "Reachable") {
            managers.push(name.to_string());
        }
        names.push(name.to_string());
    }
    (managers, names)
}

/// A two-node cluster has one manager: `rccr remove --release` of it found
/// no manager among the node that stays, said `skipped` with exit 0 and
/// forgot the machine, still the swarm's manager and still taking the
/// cluster key. It first makes the worker a manager now (through itself),
/// which then takes it out as any manager: the machine is given back.
#[test]
fn removing_a_two_node_clusters_manager_hands_its_part_to_the_worker_first() {
    if !dockerlab::require_engine() {
        return;
    }
    let names = ["target-1", "target-2"];
    let cluster = dockerlab::Cluster::up(Lab::builder().targets(2), &names);
    let out = cluster
        .lab
        .exec("control", &["rccr", "setup", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(0), "setup: {}", stderr(&out));
    let (managers, _) = swarm_of(&cluster, "target-1");
    assert_eq!(managers.len(), 1, "{managers:?}");
    let manager = managers[0].clone();
    let [leaving, staying] = match manager.ends_with("01") {
        true => names,
        false => [names[1], names[0]],
    };
    let out = cluster.lab.exec(
        "control",
        &["rccr", "remove", "--yes", "--release", &manager],
    );
    assert_exit(&out, 0);
    assert_has(&stdout(&out), "promoted in its place first");
    let (managers, listed) = swarm_of(&cluster, staying);
    assert_eq!(managers.len(), 1, "{managers:?}");
    assert!(!listed.contains(&manager), "{listed:?}");
    let state = cluster.docker_ok(leaving, &["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    assert_eq!(state.trim(), "inactive");
    assert!(
        !cluster.lab.key_logs_in("/root/.ssh/id_ed25519", leaving),
        "the cluster key still logs in"
    );
    assert!(cluster.lab.key_logs_in("/root/.ssh/id_ed25519", staying));
    assert!(!read(&cluster.lab, "control", "/root/.rccr/nodes").contains(&manager));
    // The record's managers are the one that stays: a poser claiming the
    // node ID of the one that left is no manager the record knows.
    // Before, the record still named the manager that left.
    let id = cluster.docker_ok(staying, &["info", "--format", "{{.Swarm.NodeID}}"]);
    let record = read(&cluster.lab, "control", "/root/.rccr/swarm");
    assert!(
        record.contains(&format!(
            "managers {}@{}\n",
            id.trim(),
            cluster.lab.ip(staying)
        )),
        "{record}"
    );
}

/// `rccr remove --release` of a node whose sshd grants the cluster key
/// through a file rccr does not change (authorized_keys2, in OpenSSH's
/// compiled-in default beside authorized_keys; modelled on keys_lab's
/// `an_old_key_granted_by_another_file_is_named_with_a_remedy_that_works`)
/// said "released: the cluster key no longer logs in" and exited 0: its
/// authorized_keys lacked the key, so nothing was sent and the node said
/// `unchanged`. The machine was given back still taking the cluster key.
/// Now a fresh login checks: the node fails, saying the key still logs in.
#[test]
fn a_release_of_a_key_another_file_grants_fails_and_says_so() {
    let Some(cluster) = one_manager_cluster(2) else {
        return;
    };
    let lab = &cluster.lab;
    let out = lab.exec("control", &["rccr", "setup", "--yes", "--json"]);
    assert_exit(&out, 0);
    let (managers, listed) = swarm_of(&cluster, "target-1");
    let worker = listed
        .into_iter()
        .find(|n| !managers.contains(n))
        .expect("a worker");
    let host = format!(
        "target-{}",
        worker.trim_start_matches("ReCyClusteR-Target-0")
    );
    let dir = lab.dir().join("hosts").join(&host);
    let config = dir.join("sshd_config");
    let text = std::fs::read_to_string(&config).unwrap();
    let both = "AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2";
    let edited = text.replace("AuthorizedKeysFile .ssh/authorized_keys", both);
    assert_ne!(edited, text);
    std::fs::write(&config, edited).unwrap();
    let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPKHk60HXkrQ8dyN2BDdwIUGb81nHE6a+C0DeqdCkyO7 someone\n";
    let moved = format!(
        "cd /root/.ssh && mv authorized_keys authorized_keys2 && printf %s '{other}' >authorized_keys \
         && kill -HUP $(cat {}/sshd.pid)",
        dir.display()
    );
    let out = lab.sh(&host, &moved);
    assert!(out.status.success(), "moving the key: {}", stderr(&out));
    let cluster_key = "/root/.ssh/id_ed25519";
    common::lab::wait_for("sshd to read authorized_keys2", || {
        lab.key_logs_in(cluster_key, &host)
    });
    let out = lab.exec(
        "control",
        &["rccr", "remove", "--yes", "--release", &worker],
    );
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert_exit(&out, 1);
    assert!(!said.contains("no longer logs in"), "{said}");
    assert_has(&said, "not released: the cluster key still logs in");
    assert!(lab.key_logs_in(cluster_key, &host), "{said}");
}

/// `rccr remove` says what it could not do, and fails. A worker whose SSH
/// the control cannot reach could not leave the swarm by itself: it is
/// taken out of the swarm's list all the same and leaves the inventory,
/// but still takes itself for a member and holds the cluster key. Before,
/// that was a change ("removed anyway") and the exit 0. Then the last
/// manager leaves and hands its part to the worker that stays, which
/// cannot reach port 2377: it leaves the swarm to join again as a manager
/// and cannot. Before, only "did not become a manager" was said, on the
/// manager's row; now the worker is named as out of the swarm, with
/// `rccr setup` to join it, and the manager stays (exit 1).
#[test]
fn remove_says_which_node_it_left_out_of_the_swarm_and_fails() {
    let Some(cluster) = one_manager_cluster(3) else {
        return;
    };
    let out = cluster
        .lab
        .exec("control", &["rccr", "setup", "--yes", "--json"]);
    assert_exit(&out, 0);
    let (managers, _) = swarm_of(&cluster, "target-1");
    assert_eq!(managers.len(), 1, "{managers:?}");
    let manager = managers[0].clone();
    let host_of =
        |name: &str| format!("target-{}", name.trim_start_matches("ReCyClusteR-Target-0"));
    let workers: Vec<&str> = ["target-1", "target-2", "target-3"]
        .into_iter()
        .filter(|h| *h != host_of(&manager))
        .collect();
    let (unreachable, blocked) = (workers[0], workers[1]);
    let unreachable_name = format!("ReCyClusteR-Target-0{}", &unreachable[7..]);
    let blocked_name = format!("ReCyClusteR-Target-0{}", &blocked[7..]);
    // An nft `rule` on `hook` in a table of `host`'s own, then `rccr
    // remove` of `node`, which fails: what it says.
    let block_then_remove = |host: &str, hook: &str, rule: &str, node: &str| {
        let out = cluster.lab.sh(
            host,
            &format!(
                "nft add table ip block && nft add chain ip block {hook} \
                 '{{ type filter hook {hook} priority 0; }}' && \
                 nft add rule ip block {hook} {rule}"
            ),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let out = cluster
            .lab
            .exec("control", &["rccr", "remove", "--yes", node]);
        assert_exit(&out, 1);
        stdout(&out)
    };

    let control = cluster.lab.ip("control");
    let said = block_then_remove(
        unreachable,
        "input",
        &format!("ip saddr {control} tcp dport 22 drop"),
        &unreachable_name,
    );
    assert_has(&said, "could not leave by itself (");
    assert_has(&said, "removed from the swarm's list");
    let (_, listed) = swarm_of(&cluster, &host_of(&manager));
    assert!(!listed.contains(&unreachable_name), "{listed:?}");
    assert!(!read(&cluster.lab, "control", "/root/.rccr/nodes").contains(&unreachable_name));
    // What the failure warns of: it never left its swarm.
    let state = cluster.docker_ok(
        unreachable,
        &["info", "--format", "{{.Swarm.LocalNodeState}}"],
    );
    assert_ne!(state.trim(), "inactive", "{said}");

    let said = block_then_remove(blocked, "output", "tcp dport 2377 reject", &manager);
    assert_has(
        &said,
        &format!(
            "{blocked_name} left the swarm to join again as a manager and could not join again ("
        ),
    );
    assert_has(&said, "run rccr setup to join it");
    assert_has(&said, "it stays in the inventory");
    assert!(read(&cluster.lab, "control", "/root/.rccr/nodes").contains(&manager));
    let state = cluster.docker_ok(blocked, &["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    assert_ne!(state.trim(), "active", "{said}");
}

/// A dockerlab cluster of `targets` targets whose config wants one
/// manager (`None`, skipped, without root or dockerd).
fn one_manager_cluster(targets: usize) -> Option<dockerlab::Cluster> {
    if !dockerlab::require_engine() {
        return None;
    }
    let names: Vec<String> = (1..=targets).map(|n| format!("target-{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let cluster = dockerlab::Cluster::up(Lab::builder().targets(targets), &names);
    let config = "cluster:\n  name: lab\nswarm:\n  managers: 1\n";
    let out = cluster.lab.exec_stdin(
        "control",
        &["sh", "-c", "cat > /root/cluster_config.yml"],
        config.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    Some(cluster)
}
