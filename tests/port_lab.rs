//! Nodes whose sshd listens on a port other than 22 (`ssh.port: 2222`),
//! end to end on the virtual LAN: setup adopts and rotates them, `rccr
//! status` and `rccr keys status` reach them, and what setup leaves for
//! the operator's tools (inventory.ini, rccr's block in ~/.ssh/config)
//! names the port, so `ssh root@NAME` works by the node's hostname;
//! a keyrotate after the nodes moved back to port 22 moves the block, and
//! the host keys' names, too.
mod common;

use common::lab::{stderr, stdout, Lab};
use common::{assert_count, assert_has, ok, or_skip};

const PORT: u16 = 2222;
/// A name no node has: an earlier name of target-1's.
const STALE: &str = "web-old";

/// `ssh` from the control with only `config` (`-F`) and the control's
/// known_hosts: no key, port or host key check is given on the command
/// line, so the config rccr wrote must name them.
fn ssh_with_config(lab: &Lab, config: &str, to: &str) -> std::process::Output {
    let target = format!("root@{to}");
    let args = [
        "ssh",
        "-F",
        config,
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ConnectTimeout=5",
        &target,
        "hostname",
    ];
    lab.exec("control", &args)
}

/// Plain `ssh root@IP` and `ssh root@HOSTNAME` (the lab's DNS names
/// DHCP targets) to each of `targets`, with rccr's ~/.ssh/config only
/// ([`ssh_with_config`]): the node answers with its hostname. `port` is
/// where the nodes listen now, for the message.
fn logs_in_by_address_and_name(lab: &Lab, targets: &[&str], port: u16) {
    for t in targets {
        let host = lab.host(t);
        for to in [host.ip.as_str(), host.hostname.as_str()] {
            let out = ssh_with_config(lab, "/root/.ssh/config", to);
            assert!(
                out.status.success(),
                "ssh -F ~/.ssh/config root@{to} at port {port}: {}",
                stderr(&out)
            );
            assert_eq!(stdout(&out).trim(), host.hostname);
        }
    }
}

/// An ssh config (on the control) that tries one key (`-i`) at [`PORT`]
/// and checks no host key: [`key_logs_in`]'s.
const PROBE_CONFIG: &str = "/root/probe_ssh_config";

/// Whether the private key at `key` (on the control) logs in to `ip` at
/// [`PORT`], that key only ([`PROBE_CONFIG`]).
fn key_logs_in(lab: &Lab, key: &str, ip: &str) -> bool {
    let target = format!("root@{ip}");
    let args = ["ssh", "-F", PROBE_CONFIG, "-i", key, &target, "true"];
    lab.exec("control", &args).status.success()
}

fn write_on_control(lab: &Lab, path: &str, text: &str) {
    let script = format!("cat > {path}");
    let out = lab.exec_stdin("control", &["sh", "-c", &script], text.as_bytes());
    ok(&format!("write {path}"), &out);
}

#[test]
fn nodes_at_port_2222_are_adopted_rotated_and_reached_by_name() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let targets = ["target-1", "target-2"];
    // SSH on 2222 only: setup's scan must look for it there (it looked at
    // port 22 alone, and found every node `no-ssh`).
    for t in targets {
        lab.sshd_port(t, PORT, "");
    }
    write_on_control(
        &lab,
        "/root/cluster_config.yml",
        &format!("ssh:\n  port: {PORT}\n"),
    );
    let probe = format!(
        "Host *\n    Port {PORT}\n    IdentitiesOnly yes\n    BatchMode yes\n    \
         StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n    ConnectTimeout 5\n    \
         LogLevel ERROR\n"
    );
    write_on_control(&lab, PROBE_CONFIG, &probe);
    // A block an earlier run left: target-1's address under a name it no
    // longer has. Setup drops it: whatever answers to that name next must
    // not get the cluster key and rccr's port.
    let stale = format!(
        "# BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost\n\
         Host {} {STALE}\n    Port {PORT}\n    IdentityFile \"/root/.rccr/cluster_key\"\n\
         # END rccr\n",
        lab.ip("target-1")
    );
    let out = lab.exec_stdin(
        "control",
        &[
            "sh",
            "-c",
            "mkdir -p -m 700 /root/.ssh && cat >> /root/.ssh/config",
        ],
        stale.as_bytes(),
    );
    ok("seed ~/.ssh/config", &out);

    // Setup adopts both and moves them from the temporary key to the
    // cluster key, at port 2222.
    let out = lab.exec("control", &["rccr", "setup", "--yes", "--json"]);
    let json = ok("rccr setup", &out);
    assert_count(&json, "\"result\": \"adopted\"", 2);
    for t in targets {
        let ip = lab.ip(t);
        assert!(
            key_logs_in(&lab, "/root/.ssh/id_ed25519", &ip),
            "{t}: cluster key refused at port {PORT}"
        );
        assert!(
            !key_logs_in(&lab, "/root/.rccr/temp_key", &ip),
            "{t}: temporary key still taken at port {PORT}"
        );
    }
    lab.assert_temp_key_retired();

    // What setup leaves for Ansible and for plain ssh names the port.
    let inventory = stdout(&lab.exec("control", &["cat", "/root/.rccr/inventory.ini"]));
    assert_count(&inventory, &format!("ansible_port={PORT}"), 2);
    let ssh_config = stdout(&lab.exec("control", &["cat", "/root/.ssh/config"]));
    assert_has(&ssh_config, &format!("    Port {PORT}\n"));
    for t in targets {
        let host = lab.host(t);
        let line = ssh_config
            .lines()
            .find(|l| l.starts_with("Host ") && l.split_whitespace().any(|p| p == host.ip))
            .unwrap_or_else(|| panic!("no Host line names {}:\n{ssh_config}", host.ip));
        // Its address, then its hostname, and no other name.
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|p| *p == host.ip).unwrap();
        assert_eq!(
            words.get(at + 1),
            Some(&host.hostname.as_str()),
            "{t}'s Host line does not name {} beside its address:\n{ssh_config}",
            host.hostname
        );
    }
    assert!(!ssh_config.contains(STALE), "{ssh_config}");
    let out = lab.exec("control", &["ssh", "-G", "-F", "/root/.ssh/config", STALE]);
    let resolved = ok("ssh -G", &out);
    assert_has(&resolved, "\nport 22\n");
    // ssh -G shows its default identities as `~/...`: only one a config
    // names is a full path.
    assert!(!resolved.contains("identityfile /"), "{resolved}");

    // Day two: by address and by hostname (the lab's DNS names DHCP
    // targets), with the generated config only.
    logs_in_by_address_and_name(&lab, &targets, PORT);

    // rccr status and rccr keys status reach them at their port.
    let out = lab.exec("control", &["rccr", "status", "--json"]);
    let status = stdout(&out);
    assert_count(&status, "\"ssh\": \"ok\"", 2);
    assert_count(&status, "\"cluster_key\": \"accepted\"", 2);
    let out = lab.exec("control", &["rccr", "keys", "status", "--json"]);
    let keys = ok("rccr keys status", &out);
    assert_count(&keys, &format!("\"port\": {PORT}"), 2);
    assert!(!keys.contains("\"error\": \""), "{keys}");

    // Back to port 22, the cluster key at OpenSSH's default path: a
    // keyrotate there named no node, so the block kept them at 2222 and
    // `ssh root@NAME` went where no sshd listens. It moves them to 22.
    for t in targets {
        lab.sshd_port(t, 22, "");
    }
    write_on_control(&lab, "/root/cluster_config.yml", "ssh:\n  port: 22\n");
    let out = lab.exec(
        "control",
        &["rccr", "keyrotate", "--rekey", "--yes", "--quiet"],
    );
    ok("rccr keyrotate --rekey at port 22", &out);
    let ssh_config = stdout(&lab.exec("control", &["cat", "/root/.ssh/config"]));
    assert!(!ssh_config.contains("Port "), "{ssh_config}");
    // By address and by hostname: keyrotate names the pins of the nodes
    // it reached at their inventory address, at port 22, as setup does
    // (it pinned them by address alone, and the names stayed at 2222:
    // "No ED25519 host key is known for NAME").
    logs_in_by_address_and_name(&lab, &targets, 22);
    let known_hosts = stdout(&lab.exec("control", &["cat", "/root/.ssh/known_hosts"]));
    assert!(!known_hosts.contains(&format!(":{PORT}")), "{known_hosts}");
    for t in targets {
        let name = lab.host(t).hostname.to_ascii_lowercase();
        let out = lab.exec("control", &["ssh", "-G", "-F", "/root/.ssh/config", &name]);
        let resolved = ok("ssh -G", &out);
        assert_has(&resolved, "\nport 22\n");
        assert_has(&resolved, &format!("\nhostname {name}\n"));
    }
}
