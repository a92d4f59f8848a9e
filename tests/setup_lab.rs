//! `rccr setup` end to end on the virtual LAN: a control node, DHCP-named
//! and static unnamed targets, and decoys that must stay untouched.
mod common;

use common::failpoint::{sigkill, Failpoint};
use common::lab::{stderr, stdout, Lab};
use common::{assert_count, assert_has, or_skip};

/// What must not change on a node that setup leaves alone.
fn fingerprint(lab: &Lab, host: &str) -> String {
    let out = lab.sh(
        host,
        "cat /root/.ssh/authorized_keys 2>/dev/null | sha256sum; hostname; cat /etc/hostname; ls -A /root/.ssh",
    );
    stdout(&out)
}

fn setup(lab: &Lab, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["rccr", "setup"];
    args.extend_from_slice(extra);
    lab.exec("control", &args)
}

/// Plain `ssh root@node hostname` from the control, with no flags at all
/// (stdin closed: an unknown host key would fail instead of asking).
fn plain_ssh_hostname(lab: &Lab, host: &str) -> String {
    let out = lab.exec(
        "control",
        &["ssh", &format!("root@{}", lab.ip(host)), "hostname"],
    );
    assert!(
        out.status.success(),
        "plain ssh to {host}: {}",
        stderr(&out)
    );
    stdout(&out).trim().to_string()
}

fn assert_secured(lab: &Lab, targets: &[&str]) {
    for t in targets {
        lab.assert_cluster_key_only(t, &lab.ip(t), 3);
    }
    lab.assert_temp_key_retired();
}

fn mac_suffix(mac: &str) -> String {
    mac.split(':').skip(3).collect::<Vec<_>>().join("")
}

#[test]
fn setup_adopts_new_nodes_renames_defaults_and_leaves_decoys_alone() {
    let lab = or_skip!(Lab::with_decoys(3, 2).up_as_root());
    let targets = ["target-1", "target-2", "target-3", "static-1", "static-2"];
    // Two machines boot with the image's default name, as the seed's images do.
    for t in ["target-1", "static-1"] {
        let out = lab.sh(
            t,
            "hostname ReCyClusteR-Target && echo ReCyClusteR-Target > /etc/hostname",
        );
        assert!(out.status.success());
    }
    let decoys = ["foreign", "imposter", "nossh"];
    let decoys_before: Vec<String> = decoys.iter().map(|d| fingerprint(&lab, d)).collect();

    let out = setup(&lab, &["--yes", "--json"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let json = stdout(&out);
    assert_count(&json, "\"result\": \"adopted\"", 5);
    assert_has(&json, "\"result\": \"untouched (foreign)\"");
    assert_has(&json, "\"result\": \"untouched (refused)\"");
    assert_has(&json, "\"result\": \"untouched (no-ssh)\"");

    assert_secured(&lab, &targets);
    // Default names became unique ones that keep the filter.
    for t in ["target-1", "static-1"] {
        let want = format!("ReCyClusteR-Target-{}", mac_suffix(&lab.host(t).mac));
        assert_eq!(plain_ssh_hostname(&lab, t), want);
        assert_eq!(stdout(&lab.exec(t, &["cat", "/etc/hostname"])).trim(), want);
    }
    assert_eq!(
        plain_ssh_hostname(&lab, "target-2"),
        "ReCyClusteR-Target-02"
    );
    // By name too, as dnsmasq resolves it: known_hosts names the node.
    let out = lab.exec(
        "control",
        &["ssh", "root@ReCyClusteR-Target-02", "hostname"],
    );
    assert!(
        out.status.success() && stdout(&out).trim() == "ReCyClusteR-Target-02",
        "plain ssh root@NAME: {}",
        stderr(&out)
    );
    let decoys_after: Vec<String> = decoys.iter().map(|d| fingerprint(&lab, d)).collect();
    assert_eq!(decoys_before, decoys_after, "a decoy was touched");

    let inventory = stdout(&lab.exec("control", &["cat", "/root/.rccr/inventory.ini"]));
    assert_has(&inventory, "[control]\n");
    assert_count(
        &inventory,
        "ansible_ssh_private_key_file=/root/.ssh/id_ed25519",
        5,
    );
    assert!(!inventory.contains("kitchen-laptop"), "{inventory}");

    // A second run is idempotent: nothing changes on any node.
    let all: Vec<&str> = targets.iter().chain(decoys.iter()).copied().collect();
    let before: Vec<String> = all.iter().map(|h| fingerprint(&lab, h)).collect();
    let out = setup(&lab, &["--yes", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out)
            .matches("\"result\": \"already adopted\"")
            .count(),
        5
    );
    let after: Vec<String> = all.iter().map(|h| fingerprint(&lab, h)).collect();
    assert_eq!(before, after, "the second run changed a node");

    // Two more machines join: only they are adopted, with the existing key.
    let cluster_key = stdout(&lab.exec("control", &["cat", "/root/.ssh/id_ed25519.pub"]));
    let joined = lab.add_targets(2);
    let out = setup(&lab, &["--yes", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = stdout(&out);
    assert_count(&json, "\"result\": \"adopted\"", 2);
    assert_count(&json, "\"result\": \"already adopted\"", 5);
    assert_eq!(
        stdout(&lab.exec("control", &["cat", "/root/.ssh/id_ed25519.pub"])),
        cluster_key
    );
    let names: Vec<&str> = joined.iter().map(|h| h.name.as_str()).collect();
    assert_secured(&lab, &names);
}

#[test]
fn dry_run_changes_nothing_anywhere() {
    let lab = or_skip!(Lab::with_decoys(2, 1).up_as_root());
    let hosts = [
        "control", "target-1", "target-2", "static-1", "foreign", "imposter",
    ];
    let before: Vec<String> = hosts.iter().map(|h| fingerprint(&lab, h)).collect();
    let out = setup(&lab, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    assert_count(&plan, "adopt, replace the temporary key", 3);
    let after: Vec<String> = hosts.iter().map(|h| fingerprint(&lab, h)).collect();
    assert_eq!(before, after);
    assert!(
        !lab.exec("control", &["test", "-e", "/root/.rccr"])
            .status
            .success(),
        "state written"
    );
    assert!(lab.key_logs_in("/root/.ssh/id_rsa", "target-1"));
    // Asked on a terminal with --json, the plan is shown (on stderr)
    // before the question; answered no, no node changes.
    let asked = lab.exec_on_terminal("control", &["rccr", "setup", "--json"], b"n\n");
    let shown = stdout(&asked);
    assert_count(&shown, "adopt, replace the temporary key", 3);
    assert_has(&shown, "cancelled; nothing was changed");
    let after: Vec<String> = hosts.iter().map(|h| fingerprint(&lab, h)).collect();
    assert_eq!(before, after);
}

#[test]
fn a_host_whose_port_22_is_not_ssh_is_shown_with_the_reason() {
    let lab = or_skip!(Lab::with_decoys(1, 0).up_as_root());
    // The printer decoy answers on port 22, but not as an SSH server.
    let server = "import socket\n\
                  s = socket.socket()\n\
                  s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                  s.bind(('0.0.0.0', 22))\n\
                  s.listen(8)\n\
                  open('/root/fake22.ready', 'w').close()\n\
                  while True:\n    c, _ = s.accept()\n    c.sendall(b'HTTP/1.0 400 not ssh\\r\\n\\r\\n')\n    c.close()\n";
    lab.exec_stdin(
        "nossh",
        &["sh", "-c", "cat > /root/fake22.py"],
        server.as_bytes(),
    );
    let out = lab.sh(
        "nossh",
        "setsid python3 /root/fake22.py </dev/null >/dev/null 2>&1 & \
         for i in $(seq 600); do test -e /root/fake22.ready && exit 0; sleep 0.1; done; exit 1",
    );
    assert!(out.status.success(), "fake server: {}", stderr(&out));
    let out = setup(&lab, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_has(
        &stderr(&out),
        &format!(
            "rccr setup: {}: no-ssh: port 22 answers, but not as SSH: ",
            lab.ip("nossh")
        ),
    );
}

#[test]
fn a_broken_config_is_a_line_col_error_and_changes_nothing() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let config = "cluster:\n  name: lab\ndiscovery:\n  hostname_filter: [ReCyClusteR\n";
    lab.exec_stdin(
        "control",
        &["sh", "-c", "cat > /root/broken.yml"],
        config.as_bytes(),
    );
    let before = fingerprint(&lab, "target-1");
    let out = setup(&lab, &["--yes", "--config", "/root/broken.yml"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_has(&err, "/root/broken.yml:4:");
    assert_eq!(fingerprint(&lab, "target-1"), before);
    assert!(!lab
        .exec("control", &["test", "-e", "/root/.rccr"])
        .status
        .success());
}

#[test]
fn a_setup_killed_after_staging_is_finished_by_the_next_one() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let fp = Failpoint::new("setup-staged");
    let cmd = [
        "rccr",
        "setup",
        "--yes",
        "--no-swarm",
        "--revert-after",
        "600",
    ];
    let child = fp.spawn(&lab, "after-stage", &cmd);
    let (_, pid) = fp.reached();
    sigkill(pid);
    let _ = child.wait_with_output();
    // One node is staged: it takes both keys, and will for ten minutes.
    let out = setup(&lab, &["--yes", "--no-swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_secured(&lab, &["target-1", "target-2"]);
    assert!(
        !lab.exec("control", &["test", "-e", "/root/.rccr/rotation.journal"])
            .status
            .success(),
        "the journal of the interrupted rotation is left"
    );
}

/// A lab of two targets set up, where target-1 takes the temporary key
/// again beside the cluster key, with no journal naming it (staged, its
/// revert timer and the control killed, the journal moved away): it takes
/// the cluster key, so setup calls it adopted.
fn lab_with_a_lingering_node() -> Option<Lab> {
    let lab = Lab::builder().targets(2).up_as_root()?;
    let out = setup(&lab, &["--yes", "--no-swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_secured(&lab, &["target-1", "target-2"]);
    let temporary = std::fs::read_to_string(lab.dir().join("pubkey")).unwrap();
    let add = format!(
        "printf '%s\\n' '{}' >>/root/.ssh/authorized_keys",
        temporary.trim()
    );
    let added = lab.sh("target-1", &add);
    assert!(added.status.success(), "{}", stderr(&added));
    assert!(lab.key_logs_in("/root/.rccr/temp_key", "target-1"));
    Some(lab)
}

#[test]
fn an_adopted_node_that_still_takes_the_temporary_key_is_rotated() {
    // setup left such a node alone, and the temporary key still logged in.
    let lab = or_skip!(lab_with_a_lingering_node());
    let out = setup(&lab, &["--yes", "--no-swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_secured(&lab, &["target-1", "target-2"]);
}

#[test]
fn a_lingering_node_that_refuses_the_temporary_key_by_its_rotation_is_not_reported_taking_it() {
    // Its keys change between setup asking it and rotating it: it takes
    // neither the temporary key nor the cluster key any more, and its
    // rotation ends `refused`. setup failed saying it still took the
    // temporary key (it listed every such node not rotated).
    let lab = or_skip!(lab_with_a_lingering_node());
    let fp = Failpoint::new("lingering");
    let run = fp.spawn(
        &lab,
        "lingering-asked",
        &["rccr", "setup", "--yes", "--no-swarm"],
    );
    assert_eq!(fp.reached().0, lab.ip("target-1"));
    let replaced = lab.sh(
        "target-1",
        "echo '# replaced by hand' >/root/.ssh/authorized_keys",
    );
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    fp.resume();
    let out = run.wait_with_output().unwrap();
    assert!(
        !stderr(&out).contains("still take the temporary key"),
        "{}",
        stderr(&out)
    );
    // It refuses the cluster key too: the run fails naming it (it exited
    // 0 without the swarm, which alone noticed).
    let ip = lab.ip("target-1");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_has(&err, "1 node(s) of the cluster refuse the cluster key (");
    assert_has(&err, &format!(" ({ip})): "));
    // Its line of the report says so.
    let report = stdout(&out);
    let line = report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(ip.as_str()) && l.contains("target"));
    assert!(line.is_some_and(|l| l.contains("refused")), "{report}");
    assert!(!lab.key_logs_in("/root/.rccr/temp_key", "target-1"));
}

#[test]
fn a_node_of_the_cluster_that_refuses_the_cluster_key_fails_setup_without_the_swarm() {
    // Its authorized_keys replaced by hand: with the swarm, the engine
    // failed to log in and setup exited 1; --no-swarm exited 0.
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let out = setup(&lab, &["--yes", "--no-swarm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let replaced = lab.sh(
        "target-1",
        "echo '# replaced by hand' >/root/.ssh/authorized_keys",
    );
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    let out = setup(&lab, &["--yes", "--no-swarm"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let ip = lab.ip("target-1");
    assert_has(&err, "1 node(s) of the cluster refuse the cluster key (");
    assert_has(&err, &format!(" ({ip})): "));
    assert_has(
        &err,
        "/root/.ssh/id_ed25519.pub back in their authorized_keys",
    );
    // The other node is whole, and named nowhere.
    assert!(!err.contains(&format!("({})", lab.ip("target-2"))), "{err}");
    lab.assert_cluster_key_only("target-2", &lab.ip("target-2"), 3);
}

#[test]
fn a_known_hosts_setup_cannot_write_is_named_and_no_node_is_touched() {
    // A read-only file system under the pins: setup said the nodes were
    // `unreachable` and to run again once they are reachable.
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let before = fingerprint(&lab, "target-1");
    let pins = lab.read_only_pins();
    let out = setup(&lab, &["--yes", "--no-swarm", "--known-hosts", pins]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_has(&err, &format!("rccr setup: cannot write {pins}: "));
    assert_has(&err, "make that file writable");
    assert!(!err.contains("reachable"), "{err}");
    let report = stdout(&out);
    assert_count(&report, "not-pinned: cannot write", 2);
    assert!(!report.contains("unreachable"), "{report}");
    // Nothing reached the nodes: the temporary key still logs in, as it did.
    assert_eq!(fingerprint(&lab, "target-1"), before);
    for t in ["target-1", "target-2"] {
        assert!(lab.key_logs_in("/root/.ssh/id_rsa", t), "{t}");
    }
    // Writable again, the same command adopts them.
    lab.pins_writable();
    let out = setup(&lab, &["--yes", "--no-swarm", "--known-hosts", pins]);
    assert!(out.status.success(), "{}", stderr(&out));
    for t in ["target-1", "target-2"] {
        lab.assert_cluster_key_only(t, &lab.ip(t), 3);
    }
}

#[test]
fn a_config_or_state_dir_another_user_owns_is_refused_and_nothing_changes() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let before = fingerprint(&lab, "target-1");
    let ip = lab.ip("target-1");
    // Mode 0644 and 0700: no one else may write them, but their owner,
    // uid 65534, is neither root nor the user running rccr.
    let made = lab.sh(
        "control",
        "printf 'cluster:\\n  name: lab\\n' > /root/owned.yml && chown 65534 /root/owned.yml && \
         mkdir -m 700 /root/owned-state && chown 65534 /root/owned-state",
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let refused = |args: &[&str], what: &str| {
        let out = lab.exec("control", args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        let want = format!("{what}: is owned by uid 65534, neither this user nor root");
        assert!(stderr(&out).contains(&want), "{args:?}: {}", stderr(&out));
    };
    refused(
        &["rccr", "setup", "--yes", "--config", "/root/owned.yml"],
        "/root/owned.yml",
    );
    for args in [
        &["rccr", "setup", "--yes", "--state-dir", "/root/owned-state"][..],
        &[
            "rccr",
            "keyrotate",
            "--yes",
            "--host",
            &ip,
            "--state-dir",
            "/root/owned-state",
        ],
    ] {
        refused(args, "/root/owned-state");
    }
    // Nothing changed: not the node, not the default state, not the
    // refused directory (still 65534's, mode 0700, empty).
    assert_eq!(fingerprint(&lab, "target-1"), before);
    assert!(lab.key_logs_in("/root/.ssh/id_rsa", "target-1"));
    assert!(!lab
        .exec("control", &["test", "-e", "/root/.rccr"])
        .status
        .success());
    let dir = lab.sh(
        "control",
        "stat -c '%u %a' /root/owned-state && ls -A /root/owned-state",
    );
    assert_eq!(stdout(&dir), "65534 700\n");
}
