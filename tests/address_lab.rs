//! Addresses follow MACs (issue 14.6) and `ssh root@NAME` / `ssh root@IP`
//! with strict host key checking (issue 17.4), on the virtual LAN.
//!
//! A DHCP target gets a new lease at another address between two runs of
//! `rccr setup`, as a machine does after a reboot on a busy LAN: setup and
//! status follow it by its MAC and host key, and known_hosts names it by
//! its name and its new address. The same MAC with another host key is a
//! mismatch, and nothing follows it.
mod common;
#[path = "swarm/dockerlab.rs"]
mod dockerlab;

use common::failpoint::{sigkill, Failpoint};
use common::lab::{stderr, stdout, Lab};
use common::{assert_count, assert_has, ok, or_skip};
use std::net::Ipv4Addr;
use std::process::Output;

/// `rccr setup --yes --json --no-swarm` on the control.
fn setup(lab: &Lab) -> Output {
    lab.exec(
        "control",
        &["rccr", "setup", "--yes", "--json", "--no-swarm"],
    )
}

/// The JSON object of the host at `ip` in setup's output.
fn object_of<'j>(json: &'j str, ip: &str) -> &'j str {
    json.lines()
        .find(|l| l.contains(&format!("{{\"ip\": \"{ip}\"")))
        .unwrap_or_else(|| panic!("no {ip} in\n{json}"))
}

/// The host at `ip` is a duplicate in setup's `json`, left untouched.
fn assert_untouched_duplicate(json: &str, ip: impl std::fmt::Display, err: &str) {
    let object = object_of(json, &ip.to_string());
    assert!(
        object.contains("\"found\": \"duplicate\"")
            && object.contains("\"result\": \"untouched (duplicate)\""),
        "{object}\n{err}"
    );
}

/// A variable of the lab's `lab.env`.
fn lab_env(lab: &Lab, name: &str) -> String {
    let env = std::fs::read_to_string(lab.dir().join("lab.env")).expect("read lab.env");
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in lab.env"))
        .to_string()
}

fn cat(lab: &Lab, host: &str, path: &str) -> String {
    stdout(&lab.exec(host, &["cat", path]))
}

/// `host` releases its DHCP lease (udhcpc's SIGUSR2), which unconfigures
/// its interface and frees its address and DNS name in dnsmasq; its
/// udhcpc then stops.
fn release_lease(lab: &Lab, host: &str) {
    release_lease_of(lab, host, "eth0");
}

/// [`release_lease`] of the card `iface` of `host`.
fn release_lease_of(lab: &Lab, host: &str, iface: &str) {
    let hostdir = format!("{}/hosts/{host}", lab.dir().display());
    let pidfile = match iface {
        "eth0" => "udhcpc.pid".to_string(),
        other => format!("udhcpc-{other}.pid"),
    };
    let script = format!(
        "set -eu
        pid=$(cat {hostdir}/{pidfile})
        kill -USR2 \"$pid\"
        i=0
        while ip -4 addr show dev {iface} | grep -q inet; do
            i=$((i + 1)); [ $i -lt 100 ] || {{ echo 'the lease was not released' >&2; exit 1; }}
            sleep 0.1
        done
        kill \"$pid\""
    );
    let out = lab.sh(host, &script);
    assert!(out.status.success(), "{host}: {}", stderr(&out));
}

/// `host` takes a new DHCP lease, asking for `ip` (dnsmasq gives a client
/// the free address it asks for); dnsmasq's DNS name of the host follows.
fn lease(lab: &Lab, host: &str, ip: &str) {
    lease_on(lab, host, "eth0", ip);
}

/// [`lease`] on the card `iface` of `host`.
fn lease_on(lab: &Lab, host: &str, iface: &str, ip: &str) {
    let dir = lab.dir().display().to_string();
    let hostdir = format!("{dir}/hosts/{host}");
    let script = format!(
        "LAB_HOSTDIR={hostdir} LAB_PREFIXLEN={prefix} busybox udhcpc -f -q -n -i {iface} \
            -s {dir}/udhcpc.script -r {ip} -x hostname:\"$(hostname)\" -t 10 -T 1 -A 1 \
            >{hostdir}/udhcpc-moved-{iface}.log 2>&1
        ip -4 -o addr show dev {iface}",
        prefix = lab_env(lab, "PREFIXLEN"),
    );
    let out = lab.sh(host, &script);
    assert!(
        out.status.success() && stdout(&out).contains(&format!("inet {ip}/")),
        "{host} did not get {ip}: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// `host` moves to the last address of the lab's DHCP range, as after a
/// reboot on a busy LAN. Returns the new address.
fn move_to_new_lease(lab: &Lab, host: &str) -> String {
    let new_ip = lab_env(lab, "DHCP_END");
    release_lease(lab, host);
    lease(lab, host, &new_ip);
    new_ip
}

/// `ssh -o StrictHostKeyChecking=yes -o BatchMode=yes root@TO hostname`
/// from the control: its own ~/.ssh (cluster key, known_hosts) decides.
fn strict_ssh(lab: &Lab, to: &str) -> Output {
    lab.exec(
        "control",
        &[
            "ssh",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            &format!("root@{to}"),
            "hostname",
        ],
    )
}

fn assert_strict_ssh_works(lab: &Lab, to: &str, name: &str) {
    let out = strict_ssh(lab, to);
    assert!(
        out.status.success() && stdout(&out).trim() == name,
        "ssh root@{to}: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The host fields of every known_hosts line (`NAME,IP` -> [NAME, IP]).
fn pinned_fields(known_hosts: &str) -> Vec<String> {
    known_hosts
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .flat_map(|f| f.split(',').map(str::to_string))
        .collect()
}

/// `rccr status --json` has the node `name` at `ip`, moved from `from`,
/// reached with its pinned host key and the cluster key (no Docker in
/// this lab: every node is unhealthy, exit 1, and still reported).
fn assert_status_moved(lab: &Lab, name: &str, ip: &str, from: &str) {
    let out = lab.exec("control", &["rccr", "status", "--json"]);
    let json = stdout(&out);
    let object = json
        .lines()
        .find(|l| l.contains(&format!("\"node\": \"{name}\"")))
        .unwrap_or_else(|| panic!("no {name} in {json}\n{}", stderr(&out)));
    let fields = [
        format!("\"ip\": \"{ip}\", \"moved_from\": \"{from}\""),
        "\"ssh\": \"ok\"".to_string(),
        "\"cluster_key\": \"accepted\"".to_string(),
    ];
    assert_fields(object, &fields, &json);
}

/// Setup's `json` has the node at `ip` already adopted, moved from
/// `from`, with `mac`.
fn assert_moved(json: &str, ip: Ipv4Addr, from: Ipv4Addr, mac: &str) {
    let fields = [
        "\"result\": \"already adopted\"".to_string(),
        format!("\"moved_from\": \"{from}\""),
        format!("\"mac\": \"{mac}\""),
    ];
    assert_fields(object_of(json, &ip.to_string()), &fields, json);
}

/// Each of `fields` is in `object`, a part of `whole`.
fn assert_fields(object: &str, fields: &[String], whole: &str) {
    for field in fields {
        assert!(
            object.contains(field.as_str()),
            "{field} missing in {object}\n{whole}"
        );
    }
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn a_node_on_a_new_lease_is_followed_by_setup_status_and_plain_ssh() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    ok("rccr setup", &setup(&lab));
    let target = lab.host("target-1");
    let (name, old_ip) = (target.hostname.clone(), target.ip.clone());
    // After the first run, the name is pinned as well as the address.
    let known = cat(&lab, "control", "/root/.ssh/known_hosts");
    assert!(
        known.contains(&format!("\n{name},{old_ip} ssh-ed25519 "))
            || known.starts_with(&format!("{name},{old_ip} ssh-ed25519 ")),
        "{known}"
    );
    assert_strict_ssh_works(&lab, &name, &name);
    assert_strict_ssh_works(&lab, &old_ip, &name);

    let new_ip = move_to_new_lease(&lab, "target-1");
    let out = setup(&lab);
    let json = stdout(&out);
    assert!(out.status.success(), "{json}\n{}", stderr(&out));
    let object = object_of(&json, &new_ip);
    for field in [
        "\"result\": \"already adopted\"".to_string(),
        format!("\"moved_from\": \"{old_ip}\""),
        format!("\"hostname\": \"{name}\""),
    ] {
        assert!(object.contains(&field), "{field} missing in {object}");
    }
    // The record is the node's, at its new address; the old one is gone.
    let nodes = cat(&lab, "control", "/root/.rccr/nodes");
    assert_has(
        &nodes,
        &format!("\n{new_ip}\t{}\t{name}\ttarget\t", target.mac),
    );
    assert_has(&nodes, &format!("\t{old_ip}\n"));
    assert!(!nodes.contains(&format!("\n{old_ip}\t")), "{nodes}");
    assert_count(&nodes, &target.mac, 1);
    // known_hosts names it with its new address, and no longer the old one.
    let known = cat(&lab, "control", "/root/.ssh/known_hosts");
    assert_has(&known, &format!("{name},{new_ip} ssh-ed25519 "));
    assert!(!pinned_fields(&known).contains(&old_ip), "{known}");
    assert_strict_ssh_works(&lab, &name, &name);
    assert_strict_ssh_works(&lab, &new_ip, &name);
    assert_strict_ssh_works(&lab, "ReCyClusteR-Target-02", "ReCyClusteR-Target-02");

    // status says it moved, in the table and in --json.
    assert_status_moved(&lab, &name, &new_ip, &old_ip);
    let table = stdout(&lab.exec("control", &["rccr", "status"]));
    assert!(
        table.contains(&format!("{name} ({new_ip}): moved from {old_ip} ")),
        "{table}"
    );

    // The next run finds it where it is: no move to report any more, and
    // nothing to rewrite.
    let out = setup(&lab);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        object_of(&stdout(&out), &new_ip).contains("\"moved_from\": null"),
        "{}",
        stdout(&out)
    );
    assert_eq!(cat(&lab, "control", "/root/.ssh/known_hosts"), known);
    let table = stdout(&lab.exec("control", &["rccr", "status"]));
    assert!(!table.contains("moved from"), "{table}");
}

#[test]
fn a_known_mac_with_another_host_key_is_a_mismatch_and_nothing_follows_it() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    ok("rccr setup", &setup(&lab));
    let nodes_before = cat(&lab, "control", "/root/.rccr/nodes");
    let known_before = cat(&lab, "control", "/root/.ssh/known_hosts");
    // Another machine takes target-1's MAC at a new address, with a host
    // key of the pinned type (only the fingerprint tells them apart).
    let new_ip = move_to_new_lease(&lab, "target-1");
    lab.rekey("target-1", "ed25519");
    let offered = || lab.keys_offered("target-1");
    let offered_before = offered();

    let out = setup(&lab);
    let json = stdout(&out);
    let object = object_of(&json, &new_ip);
    assert!(
        object.contains("\"found\": \"host-key-mismatch\"")
            && object.contains("\"result\": \"untouched (host-key-mismatch)\"")
            && object.contains("\"moved_from\": null"),
        "{json}\n{}",
        stderr(&out)
    );
    assert_has(&stderr(&out), "is not SHA256:");
    assert_eq!(offered(), offered_before, "a key was offered to it");
    assert_eq!(
        sorted_lines(&cat(&lab, "control", "/root/.rccr/nodes")),
        sorted_lines(&nodes_before),
        "the record followed a host with another key"
    );
    assert_eq!(cat(&lab, "control", "/root/.ssh/known_hosts"), known_before);
    assert!(
        !strict_ssh(&lab, &new_ip).status.success(),
        "strict ssh trusts the new address"
    );
}

#[test]
fn two_nodes_that_swap_addresses_are_both_followed() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    ok("rccr setup", &setup(&lab));
    let (one, two) = (lab.host("target-1"), lab.host("target-2"));
    release_lease(&lab, "target-1");
    release_lease(&lab, "target-2");
    lease(&lab, "target-1", &two.ip);
    lease(&lab, "target-2", &one.ip);
    // Seconds after the first run, the control's kernel still holds each
    // address's old MAC. It takes the sweep's ARP answers into its cache
    // itself, but not for a second after an entry changed state
    // (`locktime`), and then sent each node's SSH probe to the other node:
    // both were no-ssh, 1 run in 3. A long locktime makes every run meet
    // that second: the scan must make the kernel forget the old MACs.
    let old_macs = lab.exec("control", &["ip", "neigh", "show", "dev", "eth0"]);
    for (ip, mac) in [(&one.ip, &one.mac), (&two.ip, &two.mac)] {
        assert_has(&stdout(&old_macs), &format!("{ip} lladdr {mac} "));
    }
    let locktime = "net.ipv4.neigh.eth0.locktime=360000";
    ok("sysctl", &lab.exec("control", &["sysctl", "-w", locktime]));

    let out = setup(&lab);
    let json = stdout(&out);
    assert!(out.status.success(), "{json}\n{}", stderr(&out));
    for (node, now, was) in [(&one, &two.ip, &one.ip), (&two, &one.ip, &two.ip)] {
        let object = object_of(&json, now);
        for field in [
            "\"result\": \"already adopted\"".to_string(),
            format!("\"hostname\": \"{}\"", node.hostname),
            format!("\"moved_from\": \"{was}\""),
        ] {
            assert!(object.contains(&field), "{field} missing in {object}");
        }
        assert_strict_ssh_works(&lab, &node.hostname, &node.hostname);
        assert_strict_ssh_works(&lab, now, &node.hostname);
    }
    let known = cat(&lab, "control", "/root/.ssh/known_hosts");
    for (node, now) in [(&one, &two.ip), (&two, &one.ip)] {
        let fields: Vec<String> = known
            .lines()
            .filter(|l| l.contains(&node.hostname))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect();
        assert_eq!(fields, [format!("{},{now}", node.hostname)], "{known}");
    }
}

/// `rccr keys status` with no node named asks each node where the
/// inventory has it now: a node setup followed to a new lease is asked
/// there, its last rotation still told (setup moves the journal's line
/// along with it), and the host that took its old address is not asked
/// nor offered a key, neither while the inventory says the node moved
/// from there nor once a later run no longer does.
#[test]
fn keys_status_asks_a_node_that_moved_where_it_is_now() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let (old_ip, new_ip) = followed_to_a_new_lease(&lab);
    // Another machine takes its old address, one no key of ours logs in
    // to: setup leaves it alone.
    let other = lab.add_targets(1).remove(0);
    let out = lab.sh(&other.name, "rm /root/.ssh/authorized_keys");
    assert!(out.status.success(), "{}", stderr(&out));
    release_lease(&lab, &other.name);
    lease(&lab, &other.name, &old_ip);

    let status = || lab.exec("control", &["rccr", "keys", "status", "--json"]);
    let check = |when: &str| {
        let offered = lab.keys_offered(&other.name);
        let json = ok(&format!("rccr keys status {when}"), &status());
        assert_count(&json, "\"node\": ", 1);
        let object = json
            .lines()
            .find(|l| l.contains(&format!("\"node\": \"{new_ip}\"")))
            .unwrap_or_else(|| panic!("{when}: no {new_ip} in {json}"));
        let fields = [
            "\"pinned\": \"yes\"".to_string(),
            "\"current\": \"yes\"".to_string(),
            "\"persisted\": \"yes\"".to_string(),
        ];
        let journal = cat(&lab, "control", "/root/.rccr/last-rotation")
            + &cat(&lab, "control", "/root/.rccr/nodes");
        assert_fields(object, &fields, &format!("{json}\n{journal}"));
        assert_eq!(
            lab.keys_offered(&other.name),
            offered,
            "{when}: a key was offered to it"
        );
    };
    check("after the move");
    // A run that finds it where it is: the inventory no longer says where
    // it came from, and the journal still lists that address.
    let out = setup(&lab);
    assert!(
        object_of(&stdout(&out), &new_ip).contains("\"moved_from\": null"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    check("a run later");
}

/// A node that takes a new lease in the middle of its rotation (setup
/// SIGKILLed right after staging it, the node rebooted onto another
/// address) is rotated where it is now; the old address, whose pinned host
/// key answered there, no longer holds up the temporary key's retirement.
#[test]
fn a_node_on_a_new_lease_mid_rotation_lets_the_temporary_key_retire() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let old_ip = lab.ip("target-1");
    let fp = Failpoint::new("moved");
    let cmd = ["rccr", "setup", "--yes", "--json", "--no-swarm"];
    let child = fp.spawn(&lab, "after-stage", &cmd);
    let (node, pid) = fp.reached();
    assert_eq!(node, old_ip);
    sigkill(pid);
    fp.resume();
    child.wait_with_output().unwrap();

    let new_ip = move_to_new_lease(&lab, "target-1");
    let out = setup(&lab);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_has(&stderr(&out), &format!("{old_ip}: moved"));
    lab.assert_temp_key_retired();
    lab.assert_cluster_key_only("target-1", &new_ip, 3);
    let journal = lab.exec("control", &["test", "-e", "/root/.rccr/rotation.journal"]);
    assert!(!journal.status.success(), "the journal was not retired");
    // The rotation this run retired names the node where it is now: the
    // move from its old lease is not applied to it again.
    let last = cat(&lab, "control", "/root/.rccr/last-rotation");
    assert_has(&last, &format!("node {new_ip}:22 rotated\n"));
}

/// `rccr setup` on a lab of one target, SIGKILLed right after staging it:
/// the target is staged, the journal lists it, the inventory does not.
/// Returns its address.
fn staged_and_killed(lab: &Lab, tag: &str) -> String {
    let ip = lab.ip("target-1");
    let fp = Failpoint::new(tag);
    let cmd = ["rccr", "setup", "--yes", "--json", "--no-swarm"];
    let child = fp.spawn(lab, "after-stage", &cmd);
    let (node, pid) = fp.reached();
    assert_eq!(node, ip);
    sigkill(pid);
    fp.resume();
    child.wait_with_output().unwrap();
    ip
}

/// A node staged by a setup killed before the inventory named it, then
/// gone for good (off the LAN): setup fails, naming it, while the
/// temporary key is kept for it; `rccr remove IP` takes the address out
/// of the rotation and rccr's known_hosts pins, asking no node and no
/// swarm, and the next setup retires the temporary key.
#[test]
fn a_node_gone_mid_rotation_before_the_inventory_named_it_is_removed_by_its_address() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let ip = staged_and_killed(&lab, "gone");
    assert!(!cat(&lab, "control", "/root/.rccr/nodes").contains(&ip));

    release_lease(&lab, "target-1");
    let out = setup(&lab);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_has(
        &stderr(&out),
        &format!("an earlier rotation has not settled 1 node(s) ({ip}); run rccr setup again"),
    );
    let pinned = || pinned_fields(&cat(&lab, "control", "/root/.ssh/known_hosts"));
    assert!(pinned().contains(&ip), "{:?}", pinned());

    let asked = lab.exec("control", &["rccr", "remove", &ip]);
    assert_eq!(asked.status.code(), Some(2), "{}", stderr(&asked));
    let removed = ok(
        "rccr remove",
        &lab.exec("control", &["rccr", "remove", &ip, "--yes"]),
    );
    assert_count(&removed, "left the unfinished key rotation", 1);
    assert_has(&removed, "its known_hosts pin dropped");
    assert!(!pinned().contains(&ip), "{:?}", pinned());

    let out = setup(&lab);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    lab.assert_temp_key_retired();
    let journal = lab.exec("control", &["test", "-e", "/root/.rccr/rotation.journal"]);
    assert!(!journal.status.success(), "the journal was not retired");
}

/// A node that takes a new lease mid-rotation while DHCP gives its old
/// address to another SSH host: the old address answers with a host key
/// that is not the pinned one, and the key pinned there answered at the
/// node's new address, so the old address is the node's, moved, and no
/// longer holds up the temporary key's retirement.
#[test]
fn a_node_on_a_new_lease_mid_rotation_whose_old_address_another_host_took_is_followed() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let old_ip = staged_and_killed(&lab, "taken");

    let new_ip = move_to_new_lease(&lab, "target-1");
    let other = lab.add_targets(1).remove(0);
    release_lease(&lab, &other.name);
    lease(&lab, &other.name, &old_ip);
    let out = setup(&lab);
    let err = stderr(&out);
    assert_has(&err, &format!("{old_ip}: moved"));
    lab.assert_temp_key_retired();
    lab.assert_cluster_key_only("target-1", &new_ip, 3);
    let journal = lab.exec("control", &["test", "-e", "/root/.rccr/rotation.journal"]);
    assert!(
        !journal.status.success(),
        "the journal was not retired: {err}"
    );
    assert!(out.status.success(), "{}\n{err}", stdout(&out));
}

/// The address and MAC of each card of the `dualhome` host, eth0's first.
fn cards(lab: &Lab) -> [(Ipv4Addr, String); 2] {
    let dir = lab.dir().join("hosts/dualhome");
    let card = |iface: &str, lease: &str| {
        let ip = std::fs::read_to_string(dir.join(lease)).expect("read a lease");
        let mac = cat(lab, "dualhome", &format!("/sys/class/net/{iface}/address"));
        (
            ip.trim().parse().expect("a leased address"),
            mac.trim().to_string(),
        )
    };
    [card("eth0", "lease"), card("eth1", "lease-eth1")]
}

/// [`cards`], and by address: the lower card's address and MAC, and the
/// higher card's address.
fn cards_by_address(lab: &Lab) -> ([(Ipv4Addr, String); 2], (Ipv4Addr, String), Ipv4Addr) {
    let by_card = cards(lab);
    let mut both = by_card.clone();
    both.sort();
    let [low, (high, _)] = both;
    (by_card, low, high)
}

/// The host fields of rccr's known_hosts lines (a user's own are left to
/// them) that pin `host`'s host key.
fn pins_of(lab: &Lab, host: &str) -> Vec<String> {
    let public = std::fs::read_to_string(
        lab.dir()
            .join(format!("hosts/{host}/ssh_host_ed25519_key.pub")),
    )
    .expect("read the host key");
    let b64 = public.split_whitespace().nth(1).expect("a public key line");
    cat(lab, "control", "/root/.ssh/known_hosts")
        .lines()
        .filter(|l| l.contains(b64) && l.ends_with(" rccr"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The node is one record, at `ip` with `mac`, and one known_hosts line
/// naming `ip` (and its name) and no other address of it (`not`).
fn assert_one_node(lab: &Lab, ip: Ipv4Addr, mac: &str, not: &[Ipv4Addr]) {
    let nodes = cat(lab, "control", "/root/.rccr/nodes");
    let fingerprint = lab.host_key_fingerprint("dualhome");
    let records: Vec<&str> = nodes.lines().filter(|l| l.contains(&fingerprint)).collect();
    assert_eq!(records.len(), 1, "{nodes}");
    assert!(
        records[0].starts_with(&format!("{ip}\t{mac}\tReCyClusteR-Target-11\t")),
        "{nodes}"
    );
    let pins = pins_of(lab, "dualhome");
    assert_eq!(pins, [format!("ReCyClusteR-Target-11,{ip}")], "{pins:?}");
    for other in not {
        assert!(!nodes.contains(&format!("\n{other}\t")), "{other}: {nodes}");
    }
}

/// The card of `dualhome` it was adopted through is unplugged, and
/// another machine takes that card's address with its MAC: setup follows
/// the node to its other card by its host key, and tells of the machine
/// at its old address that the node moved there and this is another
/// machine. Before, it said "if that machine was reinstalled, rccr remove
/// --forget NODE", which would have dropped a node that is alive.
#[test]
fn another_machine_where_a_node_followed_by_its_host_key_was_is_not_called_a_reinstall() {
    let lab = or_skip!(Lab::builder().targets(1).dualhome(true).up_as_root());
    let (by_card, (low, low_mac), high) = cards_by_address(&lab);
    ok("rccr setup", &setup(&lab));
    let name = lab.host("dualhome").hostname;
    let adopted_card = if by_card[0].0 == low { "eth0" } else { "eth1" };
    release_lease_of(&lab, "dualhome", adopted_card);
    let out = lab.sh("dualhome", &format!("ip link set {adopted_card} down"));
    assert!(out.status.success(), "{}", stderr(&out));
    let other = lab.add_targets(1).remove(0);
    release_lease(&lab, &other.name);
    let out = lab.sh(&other.name, &format!("ip link set eth0 address {low_mac}"));
    assert!(out.status.success(), "{}", stderr(&out));
    lease(&lab, &other.name, &low.to_string());

    let out = setup(&lab);
    let (json, err) = (stdout(&out), stderr(&out));
    assert_moved(
        &json,
        high,
        low,
        &by_card[usize::from(adopted_card == "eth0")].1,
    );
    assert!(
        object_of(&json, &low.to_string()).contains("\"found\": \"host-key-mismatch\""),
        "{json}\n{err}"
    );
    assert_has(
        &err,
        &format!("rccr setup: {low}: host-key-mismatch: the node {name} moved from {low} to {high}, where its pinned host key "),
    );
    assert_has(&err, "another machine answers here under the MAC it had");
    assert!(!err.contains("--forget"), "{err}");
}

/// A machine with two network cards in the LAN (two leases, two MACs, one
/// host key) is one node: adopted once, at its lower address, recorded
/// and pinned once, a duplicate at the other; a re-run changes nothing;
/// when DHCP hands it two other addresses, the node follows the card it
/// was adopted by, even when the other card's is now the lower one; with
/// that card unplugged, it follows its host key to the other card.
#[test]
fn a_machine_with_two_network_cards_is_adopted_once_and_followed_as_one_node() {
    let lab = or_skip!(Lab::builder().targets(1).dualhome(true).up_as_root());
    let (by_card, (low, low_mac), high) = cards_by_address(&lab);
    let out = setup(&lab);
    let json = ok("rccr setup", &out);
    let err = stderr(&out);
    let adopted = object_of(&json, &low.to_string());
    assert!(
        adopted.contains("\"result\": \"adopted\"")
            && adopted.contains(&format!("\"mac\": \"{low_mac}\"")),
        "{json}\n{err}"
    );
    assert_untouched_duplicate(&json, high, &err);
    assert_has(
        &err,
        &format!("{high}: duplicate: the same machine (host key "),
    );
    assert_has(&err, &format!(" answers at {low}: adopted there only"));
    assert_one_node(&lab, low, &low_mac, &[high]);
    assert_strict_ssh_works(&lab, &low.to_string(), "ReCyClusteR-Target-11");
    assert_strict_ssh_works(&lab, "ReCyClusteR-Target-11", "ReCyClusteR-Target-11");

    // Again: nothing to do, nothing rewritten; its other card is the
    // node's, not a host that learnt the cluster key.
    let nodes = cat(&lab, "control", "/root/.rccr/nodes");
    let known = cat(&lab, "control", "/root/.ssh/known_hosts");
    let out = setup(&lab);
    let json = ok("rccr setup again", &out);
    assert!(
        object_of(&json, &low.to_string()).contains("\"result\": \"already adopted\""),
        "{json}"
    );
    let other = object_of(&json, &high.to_string());
    assert!(other.contains("\"found\": \"duplicate\""), "{json}");
    assert_has(
        &stderr(&out),
        &format!("{high}: duplicate: the node at {low} (host key "),
    );
    assert_eq!(
        sorted_lines(&cat(&lab, "control", "/root/.rccr/nodes")),
        sorted_lines(&nodes)
    );
    assert_eq!(cat(&lab, "control", "/root/.ssh/known_hosts"), known);

    // DHCP hands it two other addresses, the lower one now to the card
    // it was not adopted by: it is the same node, followed by its MAC.
    let used: Vec<String> = lab.hosts().into_iter().map(|h| h.ip).collect();
    let end: Ipv4Addr = lab_env(&lab, "DHCP_END").parse().expect("DHCP_END");
    let mut free = (0..20u32)
        .map(|i| Ipv4Addr::from(u32::from(end) - i))
        .filter(|ip| !used.contains(&ip.to_string()) && *ip != high);
    let (new_high, new_low) = (free.next().unwrap(), free.next().unwrap());
    let (adopted_card, other_card) = if by_card[0].0 == low {
        ("eth0", "eth1")
    } else {
        ("eth1", "eth0")
    };
    for iface in [adopted_card, other_card] {
        release_lease_of(&lab, "dualhome", iface);
    }
    lease_on(&lab, "dualhome", adopted_card, &new_high.to_string());
    lease_on(&lab, "dualhome", other_card, &new_low.to_string());
    let out = setup(&lab);
    let json = ok("rccr setup after new leases", &out);
    assert_moved(&json, new_high, low, &low_mac);
    let other = object_of(&json, &new_low.to_string());
    assert!(
        other.contains("\"found\": \"duplicate\""),
        "{json}\n{}",
        stderr(&out)
    );
    assert_one_node(&lab, new_high, &low_mac, &[new_low, low, high]);

    // The card it was adopted by is unplugged: its other card's address
    // shows the node's host key in the handshake, so the node is followed
    // there by its host key, with that card's MAC, and no pin by hand;
    // plain ssh, status and keys status find it there.
    let unplug = format!("ip -4 addr flush dev {adopted_card} && ip link set {adopted_card} down");
    let out = lab.sh("dualhome", &unplug);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = setup(&lab);
    let json = ok("rccr setup with the adopted card unplugged", &out);
    let other_mac = &by_card[usize::from(other_card == "eth1")].1;
    assert_moved(&json, new_low, new_high, other_mac);
    assert_one_node(&lab, new_low, other_mac, &[new_high, low, high]);
    assert_strict_ssh_works(&lab, &new_low.to_string(), "ReCyClusteR-Target-11");
    assert_strict_ssh_works(&lab, "ReCyClusteR-Target-11", "ReCyClusteR-Target-11");
    assert_status_moved(
        &lab,
        "ReCyClusteR-Target-11",
        &new_low.to_string(),
        &new_high.to_string(),
    );
    let keys = lab.keys_status_of(&new_low.to_string());
    let keys = ok("rccr keys status", &keys);
    assert_has(&keys, "\"pinned\": \"yes\"");
    // keyrotate reaches every node of the inventory where it is recorded.
    let rekey = lab.exec("control", &["rccr", "keyrotate", "--yes", "--rekey"]);
    let rekey = ok("rccr keyrotate --rekey", &rekey);
    assert_has(&rekey, &new_low.to_string());
    assert!(!rekey.contains(&new_high.to_string()), "{rekey}");
    assert_strict_ssh_works(&lab, "ReCyClusteR-Target-11", "ReCyClusteR-Target-11");

    // Again: it is where it is recorded; nothing moves, nothing is pinned anew.
    let record = |nodes: &str| -> String {
        let fingerprint = lab.host_key_fingerprint("dualhome");
        let line = nodes.lines().find(|l| l.contains(&fingerprint));
        // Without its last field, moved-from, which says what the last run did.
        let line = line.unwrap_or_else(|| panic!("no record in {nodes}"));
        line.rsplit_once('\t')
            .map_or(line, |(kept, _)| kept)
            .to_string()
    };
    let before = record(&cat(&lab, "control", "/root/.rccr/nodes"));
    let known = cat(&lab, "control", "/root/.ssh/known_hosts");
    let out = setup(&lab);
    let json = ok("rccr setup again, the adopted card unplugged", &out);
    let node = object_of(&json, &new_low.to_string());
    assert!(
        node.contains("\"result\": \"already adopted\"") && node.contains("\"moved_from\": null"),
        "{json}"
    );
    assert_eq!(record(&cat(&lab, "control", "/root/.rccr/nodes")), before);
    assert_eq!(cat(&lab, "control", "/root/.ssh/known_hosts"), known);
    assert_one_node(&lab, new_low, other_mac, &[new_high, low, high]);

    // Its first card plugged in again: the node answers where it is
    // recorded, so its host key at that card's address moves nothing.
    let out = lab.sh("dualhome", &format!("ip link set {adopted_card} up"));
    assert!(out.status.success(), "{}", stderr(&out));
    lease_on(&lab, "dualhome", adopted_card, &new_high.to_string());
    let out = setup(&lab);
    let json = ok("rccr setup with both cards again", &out);
    assert!(
        object_of(&json, &new_high.to_string()).contains("\"found\": \"duplicate\""),
        "{json}"
    );
    assert_has(
        &stderr(&out),
        &format!("{new_high}: duplicate: the node at {new_low} (host key "),
    );
    assert_eq!(record(&cat(&lab, "control", "/root/.rccr/nodes")), before);
    assert_eq!(cat(&lab, "control", "/root/.ssh/known_hosts"), known);
}

/// Makes `clone` a copy of `of` as a configured card copied to another
/// machine is: `of`'s host key (its sshd re-reads it on SIGHUP) and its
/// name, with its own MAC and lease.
fn clone_card(lab: &Lab, of: &str, clone: &str) {
    let hosts = lab.dir().join("hosts");
    for file in ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"] {
        std::fs::copy(hosts.join(of).join(file), hosts.join(clone).join(file))
            .expect("copy the host key");
    }
    let name = lab.host(of).hostname;
    lab.lie_about_hostname(clone, format!("{name}\n").as_bytes());
    let sshd = std::fs::read_to_string(hosts.join(clone).join("sshd.pid")).expect("sshd.pid");
    let out = lab.sh(clone, &format!("kill -HUP {}", sshd.trim()));
    assert!(out.status.success(), "{}", stderr(&out));
    let public = std::fs::read_to_string(hosts.join(of).join("ssh_host_ed25519_key.pub"))
        .expect("read the host key");
    let b64 = public
        .split_whitespace()
        .nth(1)
        .expect("a key line")
        .to_string();
    let ip = lab.ip(clone);
    common::lab::wait_for("the clone's sshd to serve the copied key", || {
        let scan = lab.exec("control", &["ssh-keyscan", "-t", "ed25519", &ip]);
        stdout(&scan).contains(&b64)
    });
}

/// [`clone_card`] of a node: its authorized_keys (the cluster key) too.
fn clone_card_after_adoption(lab: &Lab, of: &str, clone: &str) {
    clone_card(lab, of, clone);
    let hosts = lab.dir().join("hosts");
    let keys = "root/.ssh/authorized_keys";
    std::fs::copy(hosts.join(of).join(keys), hosts.join(clone).join(keys))
        .expect("copy the cluster key");
}

/// Adopts `target-1` with `target-2`'s link down, which stays down.
fn adopt_target_1_alone(lab: &Lab) {
    sh_ok(lab, "target-2", "ip link set eth0 down");
    ok("rccr setup", &setup(lab));
}

/// Runs `script` on `host`, which must succeed.
fn sh_ok(lab: &Lab, host: &str, script: &str) {
    let out = lab.sh(host, script);
    assert!(out.status.success(), "{host}: {}", stderr(&out));
}

/// A configured card copied to three machines (one host key, one name,
/// three MACs: `target-2` and `target-3` are copies of `target-1`) is
/// three machines, not one with three network cards: each tells another
/// boot_id. Run 1 adopts none of them (any one would take the others'
/// host key with it), and tells each, naming the others' addresses, to
/// make its own host keys; before, it adopted the lowest and told the
/// others only that they might be copies. Once one is a node (the others
/// were off), a new host with its host key (the node left the temporary
/// key behind: this is another machine) is adopted at none, even with the
/// node switched off, so the node keeps its record, pins and place.
#[test]
fn copies_of_one_card_are_told_to_make_their_own_host_keys_and_never_take_a_node_s_record() {
    let lab = or_skip!(Lab::builder().targets(3).up_as_root());
    for copy in ["target-2", "target-3"] {
        clone_card(&lab, "target-1", copy);
    }
    let mut by_ip: Vec<(Ipv4Addr, &str)> = ["target-1", "target-2", "target-3"]
        .into_iter()
        .map(|h| (lab.ip(h).parse().expect("an address"), h))
        .collect();
    by_ip.sort();
    let told = |err: &str, ip: Ipv4Addr| {
        err.lines()
            .any(|l| l.starts_with(&format!("rccr setup: {ip}: ")) && l.contains("own host keys"))
    };
    let out = setup(&lab);
    let json = ok("rccr setup", &out);
    let err = stderr(&out);
    for (ip, _) in &by_ip {
        assert_untouched_duplicate(&json, ip, &err);
        assert!(
            told(&err, *ip),
            "{ip} not told to make its own host keys:\n{err}"
        );
        let others: Vec<String> = by_ip
            .iter()
            .filter(|(o, _)| o != ip)
            .map(|(o, _)| o.to_string())
            .collect();
        assert_has(
            &err,
            &format!(
                "{ip}: duplicate: its host key {} answers at {} too, on another running machine",
                lab.host_key_fingerprint("target-1"),
                others.join(", ")
            ),
        );
    }
    let fingerprint = lab.host_key_fingerprint("target-1");
    let nodes = cat(&lab, "control", "/root/.rccr/nodes");
    assert!(!nodes.contains(&fingerprint), "{nodes}");
    assert!(pins_of(&lab, "target-1").is_empty(), "{nodes}");

    // With the copies off, the one left is a machine like any other.
    for (_, copy) in &by_ip[1..] {
        let out = lab.sh(copy, "ip link set eth0 down");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = setup(&lab);
    let json = ok("rccr setup, the copies off", &out);
    let (node_ip, node) = by_ip[0];
    assert!(
        object_of(&json, &node_ip.to_string()).contains("\"result\": \"adopted\""),
        "{json}\n{}",
        stderr(&out)
    );
    for (_, copy) in &by_ip[1..] {
        let out = lab.sh(copy, "ip link set eth0 up");
        assert!(out.status.success(), "{}", stderr(&out));
    }

    let node_mac = lab.host(node).mac;
    let nodes = cat(&lab, "control", "/root/.rccr/nodes");
    let known_hosts = cat(&lab, "control", "/root/.ssh/known_hosts");

    // The node is switched off: no copy takes its place.
    let out = lab.sh(node, "ip link set eth0 down");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = setup(&lab);
    let json = ok("rccr setup, the node off", &out);
    let err = stderr(&out);
    for (ip, _) in &by_ip[1..] {
        let copy = object_of(&json, &ip.to_string());
        assert!(copy.contains("\"result\": \"untouched"), "{copy}\n{err}");
        assert!(
            told(&err, *ip),
            "{ip} not told to make its own host keys:\n{err}"
        );
    }
    let now = cat(&lab, "control", "/root/.rccr/nodes");
    assert!(
        now.contains(&format!("\n{node_ip}\t{node_mac}\t")),
        "the node's record is gone:\n{now}"
    );
    assert_eq!(sorted_lines(&now), sorted_lines(&nodes));
    assert_eq!(cat(&lab, "control", "/root/.ssh/known_hosts"), known_hosts);

    // Back on, it is the node it was.
    let out = lab.sh(node, "ip link set eth0 up");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = setup(&lab);
    let json = ok("rccr setup, the node back", &out);
    assert!(
        object_of(&json, &node_ip.to_string()).contains("\"result\": \"already adopted\""),
        "{json}\n{}",
        stderr(&out)
    );
}

/// A copy of an adopted node's card (its host key, its name, the cluster
/// key) in another machine, booted while the node is off, takes the
/// node's freed lease; the node comes back on a new one, with its own
/// MAC. Before, setup kept the copy, at the node's recorded address,
/// recorded it as the node under the copy's MAC, and told the node, "a
/// copy of its card", to rm its host keys. The node is the machine with
/// the MAC it was recorded with: it is followed to its new lease, and the
/// copy is told to make its own host keys.
#[test]
fn a_copy_of_a_node_s_card_on_the_node_s_old_lease_is_the_copy_not_the_node() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    adopt_target_1_alone(&lab);
    sh_ok(&lab, "target-2", "ip link set eth0 up");
    let node = lab.host("target-1");
    clone_card_after_adoption(&lab, "target-1", "target-2");
    release_lease(&lab, "target-1");
    release_lease(&lab, "target-2");
    lease(&lab, "target-2", &node.ip);
    let new_ip = lab_env(&lab, "DHCP_END");
    lease(&lab, "target-1", &new_ip);

    let out = setup(&lab);
    let json = ok("rccr setup, the copy on the node's old lease", &out);
    let err = stderr(&out);
    let (old, now): (Ipv4Addr, Ipv4Addr) = (node.ip.parse().unwrap(), new_ip.parse().unwrap());
    assert_moved(&json, now, old, &node.mac);
    assert_untouched_duplicate(&json, old, &err);
    assert_has(
        &err,
        &format!(
            "rccr setup: {old}: duplicate: its host key {} is that of the node at {now}, which \
             answers there from another running machine (another boot_id): a copy of its card",
            lab.host_key_fingerprint("target-1")
        ),
    );
    assert!(!err.contains(&format!("rccr setup: {now}: ")), "{err}");
    let nodes = cat(&lab, "control", "/root/.rccr/nodes");
    assert!(
        nodes.contains(&format!("\n{now}\t{}\t", node.mac))
            && !nodes.contains(&format!("\n{old}\t")),
        "{nodes}"
    );
}

/// A node's network card is replaced (it answers at its recorded address
/// under a new MAC) and its old card goes into another machine, which
/// answers elsewhere with another host key under the MAC the node had.
/// Before, that machine's note said the node "moved from" its recorded
/// address to that same address. It now says the node answers where it
/// was recorded, and suggests no `rccr remove --forget` of a live node.
#[test]
fn a_node_s_old_card_in_another_machine_is_no_move_of_the_node() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    adopt_target_1_alone(&lab);
    let sh = |host: &str, script: &str| sh_ok(&lab, host, script);
    let (node, other) = (lab.host("target-1"), lab.host("target-2"));
    let new_mac = "02:52:43:4c:00:aa";
    sh("target-1", &format!("ip link set eth0 address {new_mac}"));
    sh(
        "target-2",
        &format!(
            "ip link set eth0 address {} && ip link set eth0 up",
            node.mac
        ),
    );

    let out = setup(&lab);
    let json = ok("rccr setup, the node's old card elsewhere", &out);
    let err = stderr(&out);
    let object = object_of(&json, &node.ip);
    for field in [
        "\"result\": \"already adopted\"",
        &format!("\"mac\": \"{new_mac}\""),
    ] {
        assert!(object.contains(field), "{field} missing in {object}\n{err}");
    }
    assert!(!object.contains("\"moved_from\": \""), "{object}");
    assert_has(
        &err,
        &format!(
            "rccr setup: {}: host-key-mismatch: its MAC is the one the node {} had, which \
             answers at {}, where it was recorded, with its pinned host key {} (now under MAC \
             {new_mac}): another machine with that MAC, host key {}; left alone",
            other.ip,
            node.hostname,
            node.ip,
            lab.host_key_fingerprint("target-1"),
            lab.host_key_fingerprint("target-2"),
        ),
    );
    for wrong in ["moved from", "rccr remove --forget"] {
        assert!(!err.contains(wrong), "{wrong}:\n{err}");
    }
}

/// A host at a lower address that forwards its port 22 to a new node's
/// (a relay, a NAT in between) shows the node's host key and takes the
/// temporary key there. Before, setup adopted the node at the relay's
/// address, the lowest, and pinned it there. The node's facts list the
/// addresses it owns: it is adopted at its own address and nowhere else,
/// and the relay's address is a duplicate with a note naming where the
/// node answers as itself. When the node answers only through the relay,
/// it is not followed there.
#[test]
fn a_relay_at_a_lower_address_is_never_where_a_node_is_adopted_or_followed() {
    let lab = or_skip!(Lab::builder().targets(1).statics(1).up_as_root());
    let node: Ipv4Addr = lab.ip("target-1").parse().expect("an address");
    let relay: Ipv4Addr = lab.ip("static-1").parse().expect("an address");
    assert!(relay < node, "{relay} {node}");
    lab.relay("static-1", "target-1");
    let fingerprint = lab.host_key_fingerprint("target-1");
    let out = setup(&lab);
    let json = ok("rccr setup", &out);
    let err = stderr(&out);
    assert!(
        object_of(&json, &node.to_string()).contains("\"result\": \"adopted\""),
        "{json}\n{err}"
    );
    assert_untouched_duplicate(&json, relay, &err);
    assert_count(
        &err,
        &format!(
            "rccr setup: {relay}: duplicate: this address is not one of its own (host key \
             {fingerprint}, ReCyClusteR-Target-01): another host forwards its SSH port to it \
             here, a relay or a NAT; never adopted, pinned or followed here: it answers as \
             itself at {node}\n"
        ),
        1,
    );
    let nodes = cat(&lab, "control", "/root/.rccr/nodes");
    let records: Vec<&str> = nodes.lines().filter(|l| l.contains(&fingerprint)).collect();
    assert_eq!(records.len(), 1, "{nodes}");
    assert!(records[0].starts_with(&format!("{node}\t")), "{nodes}");
    let pins = pins_of(&lab, "target-1");
    assert_eq!(pins, [format!("ReCyClusteR-Target-01,{node}")], "{pins:?}");

    // The node answers only through the relay: it is not followed there.
    let control = lab.ip("control");
    let block = format!(
        "nft add table ip block && nft add chain ip block in \
         '{{ type filter hook input priority 0; }}' && \
         nft add rule ip block in ip saddr {control} tcp dport 22 drop"
    );
    let out = lab.sh("target-1", &block);
    assert!(out.status.success(), "{}", stderr(&out));
    let known_hosts = cat(&lab, "control", "/root/.ssh/known_hosts");
    let out = setup(&lab);
    let err = stderr(&out);
    let json = stdout(&out);
    let at_relay = object_of(&json, &relay.to_string());
    assert!(
        at_relay.contains("\"found\": \"duplicate\"") && at_relay.contains("\"moved_from\": null"),
        "{at_relay}\n{err}"
    );
    assert_has(
        &err,
        &format!("{relay}: duplicate: this address is not one of its own"),
    );
    assert_has(&err, "it answers at no address of its own that setup found");
    assert_eq!(cat(&lab, "control", "/root/.rccr/nodes"), nodes);
    assert_eq!(cat(&lab, "control", "/root/.ssh/known_hosts"), known_hosts);
}

// Tests of branch `jrnl`: the last rotation follows only this run's moves.

/// Setup adopts target-1, which then moves to a new lease, and setup
/// follows it there. Returns its old and new address.
fn followed_to_a_new_lease(lab: &Lab) -> (String, String) {
    ok("rccr setup", &setup(lab));
    let old_ip = lab.ip("target-1");
    let new_ip = move_to_new_lease(lab, "target-1");
    ok("rccr setup after the move", &setup(lab));
    (old_ip, new_ip)
}

/// A node setup followed to a new lease (old to new), then switched off;
/// a new machine takes its old address and is adopted: the last
/// rotation's line of the new machine stays at its address, and the
/// missing node no longer says it moved (before: setup applied the old
/// move again and carried the new machine's line to the missing node's
/// address, where `rccr keys status` told it of the missing node).
#[test]
fn a_move_an_earlier_run_found_is_not_applied_again() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let (old_ip, new_ip) = followed_to_a_new_lease(&lab);
    // The node is switched off (its address gone: the lease it took last
    // has no udhcpc to release it); a new machine takes its old address.
    let out = lab.sh("target-1", "ip -4 addr flush dev eth0");
    assert!(out.status.success(), "{}", stderr(&out));
    let other = lab.add_targets(1).remove(0);
    release_lease(&lab, &other.name);
    lease(&lab, &other.name, &old_ip);
    let out = setup(&lab);
    let json = stdout(&out);
    let err = stderr(&out);
    assert!(
        object_of(&json, &old_ip).contains("\"result\": \"adopted\""),
        "{json}\n{err}"
    );
    let last = cat(&lab, "control", "/root/.rccr/last-rotation");
    assert_has(&last, &format!("node {old_ip}:22 rotated\n"));
    assert!(!last.contains(&format!("node {new_ip}:")), "{last}\n{err}");
    let nodes = cat(&lab, "control", "/root/.rccr/nodes");
    let missing = nodes
        .lines()
        .find(|l| l.starts_with(&format!("{new_ip}\t")))
        .unwrap_or_else(|| panic!("no {new_ip} in {nodes}"));
    assert!(missing.ends_with("\t-"), "{nodes}");
}

/// Adopts `target-1`, gives it a new MAC, and makes `target-2` a copy of
/// its card: two running machines show its host key and neither has the
/// MAC it was recorded with. Returns the node as it was adopted.
fn copy_a_node_with_a_new_card(lab: &Lab) -> common::lab::Host {
    adopt_target_1_alone(lab);
    let node = lab.host("target-1");
    sh_ok(
        lab,
        "target-1",
        "ip link set eth0 address 02:52:43:4c:00:ab",
    );
    sh_ok(lab, "target-2", "ip link set eth0 up");
    clone_card_after_adoption(lab, "target-1", "target-2");
    node
}

/// Two running machines show an adopted node's host key and neither has
/// the MAC it was recorded with (the node's card replaced, a copy of its
/// card booted elsewhere): setup cannot tell which is the node, and keeps
/// and follows it at neither. The cluster engine does not log in at its
/// recorded address either, where the copy may be: before, it logged in
/// there with the cluster key, prepared whoever answered and joined it
/// to the swarm as the node. The configured playbooks and the operator's
/// `ansible all` leave it out too (it is in no group of inventory.ini):
/// before, Ansible logged in there as the node.
#[test]
fn a_node_setup_cannot_tell_from_a_copy_is_not_formed_where_it_was() {
    let wrapper = or_skip!(dockerlab::ansible_playbook_wrapper());
    let ansible = wrapper.with_file_name("ansible");
    let lab = or_skip!(Lab::builder()
        .targets(2)
        .bin(wrapper)
        .bin(ansible)
        .up_as_root());
    let node = copy_a_node_with_a_new_card(&lab);
    let sh = |host: &str, script: &str| sh_ok(&lab, host, script);
    let playbook = "- hosts: targets\n  gather_facts: false\n  tasks:\n    - name: mark\n      ansible.builtin.raw: touch /root/played\n- hosts: localhost\n  gather_facts: false\n  tasks:\n    - name: mark the control\n      ansible.builtin.raw: touch /root/local-played\n";
    sh(
        "control",
        &format!(
            "printf '%s' '{playbook}' > /root/mark.yml && \
             printf 'playbooks:\\n  - /root/mark.yml\\n' > /root/cluster_config.yml"
        ),
    );

    let out = lab.exec("control", &["rccr", "setup", "--yes", "--json"]);
    let err = stderr(&out);
    assert_has(&err, "so setup cannot tell which one is the node");
    assert_has(
        &err,
        &format!(
            "rccr setup: {}: not reached: held back: a duplicate answers at {} this run",
            node.hostname, node.ip
        ),
    );
    let formed: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with(&format!("rccr setup: {}: ", node.hostname)))
        .collect();
    assert_eq!(formed.len(), 1, "{err}");
    for host in ["target-1", "target-2"] {
        let played = lab.exec(host, &["test", "-e", "/root/played"]);
        assert!(!played.status.success(), "a playbook ran on {host}\n{err}");
    }
    assert_has(&err, "PLAY RECAP");
    // The others' plays run, `hosts: localhost` too (Ansible's implicit
    // localhost is not in `all`).
    let local = lab.exec("control", &["test", "-e", "/root/local-played"]);
    assert!(
        local.status.success(),
        "the localhost play did not run\n{err}"
    );
    // No `!NAME` that matches no host of the inventory.
    assert!(!err.contains("Could not match"), "{err}");
    // Nor does the operator's own `ansible all`, through ~/.ansible.cfg.
    let adhoc = lab.exec(
        "control",
        &[
            "ansible",
            "all",
            "-m",
            "ansible.builtin.raw",
            "-a",
            "touch /root/adhoc",
        ],
    );
    assert!(adhoc.status.success(), "{}", stderr(&adhoc));
    let control = lab.exec("control", &["test", "-e", "/root/adhoc"]);
    assert!(control.status.success(), "ansible all missed the control");
    for host in ["target-1", "target-2"] {
        let reached = lab.exec(host, &["test", "-e", "/root/adhoc"]);
        assert!(!reached.status.success(), "ansible all reached {host}");
    }
}

/// The host lines of `ini` (an Ansible inventory) that name `name`.
fn ini_hosts<'i>(ini: &'i str, name: &str) -> Vec<&'i str> {
    ini.lines()
        .filter(|l| l.split(' ').next() == Some(name))
        .collect()
}

/// [`copy_a_node_with_a_new_card`], then a run of setup, which holds the
/// node back (a comment in its place in inventory.ini). Returns the node
/// and what setup said.
fn a_node_held_back(lab: &Lab) -> (common::lab::Host, Output) {
    let node = copy_a_node_with_a_new_card(lab);
    let out = setup(lab);
    ok("rccr setup, a copy of target-1's card", &out);
    let ini = cat(lab, "control", "/root/.rccr/inventory.ini");
    assert_has(
        &ini,
        &format!(
            "\n# {} ansible_host={}: held back, in no group: ",
            node.hostname, node.ip
        ),
    );
    (node, out)
}

/// As above, with `--no-swarm`: inventory.ini, which `~/.ansible.cfg`
/// points plain `ansible` at, leaves the node out of every group, with a
/// comment saying it is held back and why; its record stays in `nodes`.
/// Before, inventory.ini listed it at its recorded address, where the copy
/// may answer, and an operator's `ansible all` logged in there as the
/// node. Once setup can tell them apart again (the copy off), the node is
/// back in its group.
#[test]
fn a_node_setup_cannot_tell_from_a_copy_is_in_no_group_of_the_ansible_inventory() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let (node, out) = a_node_held_back(&lab);
    let ini = cat(&lab, "control", "/root/.rccr/inventory.ini");
    let err = stderr(&out);
    assert!(ini_hosts(&ini, &node.hostname).is_empty(), "{ini}\n{err}");
    assert_has(
        &err,
        &format!(
            "/root/.rccr/inventory.ini, which leaves out {} ({}): held back\n",
            node.hostname, node.ip
        ),
    );
    let nodes = cat(&lab, "control", "/root/.rccr/nodes");
    assert_has(
        &nodes,
        &format!("\n{}\t{}\t{}\t", node.ip, node.mac, node.hostname),
    );

    sh_ok(&lab, "target-2", "ip link set eth0 down");
    ok("rccr setup, the copy off", &setup(&lab));
    let ini = cat(&lab, "control", "/root/.rccr/inventory.ini");
    assert_eq!(ini_hosts(&ini, &node.hostname).len(), 1, "{ini}");
    assert!(!ini.contains("held back"), "{ini}");
}

/// The SSH connections the node of [`a_node_held_back`] and its copy
/// have taken so far (their sshd logs' `Connection from` lines, LogLevel
/// VERBOSE): a test that takes a difference shows that rccr did not
/// connect to either.
fn connections_to_node_and_copy(lab: &Lab) -> usize {
    sshd_log_lines(lab, "Connection from ")
}

/// The lines of the sshd logs of the node of [`a_node_held_back`] and
/// its copy that hold `what`, so far.
fn sshd_log_lines(lab: &Lab, what: &str) -> usize {
    ["target-1", "target-2"]
        .iter()
        .map(|host| {
            let log = lab.dir().join("hosts").join(host).join("sshd.log");
            std::fs::read_to_string(&log)
                .unwrap_or_else(|e| panic!("{}: {e}", log.display()))
                .matches(what)
                .count()
        })
        .sum()
}

/// [`a_node_held_back`], then `command` on the control, which must exit 1
/// and connect to neither the node nor its copy. Returns the node, what
/// the command printed on stdout and stderr, and the connections before.
fn held_back_then(lab: &Lab, command: &[&str]) -> (common::lab::Host, String, String, usize) {
    let (node, _) = a_node_held_back(lab);
    let before = connections_to_node_and_copy(lab);
    let out = lab.exec("control", command);
    let (stdout, stderr) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(
        connections_to_node_and_copy(lab),
        before,
        "{stdout}\n{stderr}"
    );
    (node, stdout, stderr, before)
}

/// `rccr status` does not connect to a node the last setup held back:
/// whoever answers at its recorded address may be the copy. Its row says
/// `held-back` and why (table and JSON), and it is not healthy (exit 1).
/// Before, status logged in there with the cluster key and reported
/// whoever answered as the node.
#[test]
fn status_does_not_log_in_at_a_node_setup_held_back() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let (node, table, _, before) = held_back_then(&lab, &["rccr", "status"]);
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("{} ", node.hostname)))
        .unwrap_or_else(|| panic!("no row of {}\n{table}", node.hostname));
    assert_eq!(row.split_whitespace().nth(3), Some("held-back"), "{table}");
    assert_has(
        &table,
        &format!(
            "\n  {} ({}): held back: a duplicate answers at this address and rccr setup cannot \
             tell it from the node (setup's note says why); not logged in there: ",
            node.hostname, node.ip
        ),
    );
    let out = lab.exec("control", &["rccr", "status", "--json"]);
    let json = stdout(&out);
    assert_has(
        &json,
        &format!("{{\"node\": \"{}\", \"ip\": \"{}\"", node.hostname, node.ip),
    );
    assert_has(&json, "\"reachable\": false, \"ssh\": \"held-back\", ");
    assert_eq!(connections_to_node_and_copy(&lab), before, "{json}");
}

/// `rccr keys status` does not connect to a node the last setup held
/// back: its row's PINNED says `held-back`, each key `?`, and why (table
/// and JSON); exit 1. Before, it offered every key of ours at its
/// recorded address, to whoever answered there.
#[test]
fn keys_status_does_not_log_in_at_a_node_setup_held_back() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let (node, table, err, before) = held_back_then(&lab, &["rccr", "keys", "status"]);
    let at = &node.ip;
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(&format!("{at} ")))
        .unwrap_or_else(|| panic!("no row of {at}\n{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[1..4], ["-", "held-back", "?"], "{table}");
    assert_has(&table, &format!("\n  {at}: held back: a duplicate answers"));
    assert_has(
        &err,
        "1 of 1 nodes unreachable, held back or with a changed host key",
    );
    let json = stdout(&lab.exec("control", &["rccr", "keys", "status", "--json"]));
    assert_has(
        &json,
        &format!(
            "{{\"node\": \"{}\", \"port\": 22, \"host_key\": null, \"pinned\": \"held-back\", ",
            node.ip
        ),
    );
    assert_eq!(connections_to_node_and_copy(&lab), before, "{json}");
}

/// `rccr keyrotate --rekey` does not connect to a node the last setup
/// held back: it is `held-back` in the table, not rotated (exit 1), and
/// stays in the unfinished rotation for a later run. Before, the new key
/// went to whoever answered at its recorded address.
#[test]
fn keyrotate_skips_a_node_setup_held_back_and_says_so() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let (node, table, err, _) = held_back_then(&lab, &["rccr", "keyrotate", "--yes", "--rekey"]);
    assert_has(
        &table,
        &format!("\n{}  held-back  held back: a duplicate answers", node.ip),
    );
    assert_has(&err, "rccr keyrotate: 1 of 1 nodes not rotated");
    let journal = cat(&lab, "control", "/root/.rccr/rotation.journal");
    assert_has(&journal, &format!("\nnode {}:22 pending\n", node.ip));
}

/// The rotation `rccr keyrotate --rekey` left unfinished for a node the
/// last setup held back (it stays `pending`) is not finished by the next
/// `rccr setup` while the copy still runs: both machines refuse the new
/// cluster key, so discovery cannot log in to tell them apart (no
/// boot_id), and its pinned host key answers at two addresses. Setup
/// keeps the node held back (inventory.ini, its report, exit 1), its
/// rotation logs in at neither machine, the node stays `pending` and the
/// old key stays for it. Before, setup found no duplicate (both only
/// `refused`), listed the node again and rotated it at its recorded
/// address: the new cluster key went to whoever answered there. Once
/// the copy is off, setup finishes the rotation: no lockout.
#[test]
fn setup_does_not_rotate_a_node_held_back_while_a_copy_refuses_the_new_key() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let (node, _, _, _) = held_back_then(&lab, &["rccr", "keyrotate", "--yes", "--rekey"]);
    let pending = format!("\nnode {}:22 pending\n", node.ip);
    let keys = |host: &str| cat(&lab, host, "/root/.ssh/authorized_keys");
    let before = (keys("target-1"), keys("target-2"));
    let logins = sshd_log_lines(&lab, "Accepted publickey for ");

    let out = setup(&lab);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        sshd_log_lines(&lab, "Accepted publickey for "),
        logins,
        "{err}"
    );
    assert_eq!((keys("target-1"), keys("target-2")), before, "{err}");
    assert_has(
        &cat(&lab, "control", "/root/.rccr/rotation.journal"),
        &pending,
    );
    assert_has(
        &err,
        &format!(
            "rccr setup: {}: held back: the last rccr setup held it back, and this run cannot \
             tell it from a copy (its pinned host key answers at {}, {}, on hosts it could not \
             log in to, to tell the machines apart); not logged in there\n",
            node.ip,
            node.ip,
            lab.ip("target-2")
        ),
    );
    assert_has(&err, &format!("rccr setup: {}: held-back\n", node.ip));
    let json = stdout(&out);
    let row = json
        .lines()
        .find(|l| l.contains("\"found\": \"missing\""))
        .unwrap_or_else(|| panic!("no missing node in\n{json}"));
    assert_has(row, &format!("{{\"ip\": \"{}\", ", node.ip));
    assert_has(row, "\"found\": \"missing\", \"result\": \"held back\", ");
    assert_has(
        &err,
        &format!(
            "which leaves out {} ({}): held back\n",
            node.hostname, node.ip
        ),
    );
    assert_has(
        &cat(&lab, "control", "/root/.rccr/inventory.ini"),
        &format!(
            "\n# {} ansible_host={}: held back, in no group: ",
            node.hostname, node.ip
        ),
    );

    sh_ok(&lab, "target-2", "ip link set eth0 down");
    let out = setup(&lab);
    ok("rccr setup, the copy off", &out);
    let journal = lab.exec("control", &["test", "-e", "/root/.rccr/rotation.journal"]);
    assert!(!journal.status.success(), "{}", stderr(&out));
    assert_ne!(keys("target-1"), before.0, "{}", stderr(&out));
}

/// `rccr remove` of a node the last setup held back refuses, in one line
/// naming it and what to do, and changes nothing; `--forget` takes it out
/// of the inventory without connecting to it. Before, remove logged in
/// at its recorded address to ask whoever answered to leave the swarm.
#[test]
fn remove_of_a_node_setup_held_back_does_not_log_in_there() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    // By its address, which stays its own (its MAC changes): its name is
    // given by the first setup.
    let ip = lab.ip("target-1");
    let (node, _, err, before) = held_back_then(&lab, &["rccr", "remove", "--yes", &ip]);
    assert_eq!(
        err,
        format!(
            "rccr remove: {} ({ip}): held back by the last rccr setup, a copy of it may answer \
             there: rccr remove --forget {ip} takes it out without logging in there, or give \
             the machine that is not the node its own host keys and run rccr setup\n",
            node.hostname
        )
    );
    let nodes = || cat(&lab, "control", "/root/.rccr/nodes");
    assert_has(
        &nodes(),
        &format!("\n{ip}\t{}\t{}\t", node.mac, node.hostname),
    );

    let out = lab.exec(
        "control",
        &["rccr", "remove", "--yes", "--forget", &node.hostname],
    );
    let err = stderr(&out);
    assert_eq!(connections_to_node_and_copy(&lab), before, "{err}");
    let nodes = nodes();
    assert!(!nodes.contains(&node.hostname), "{nodes}\n{err}");
    let ini = cat(&lab, "control", "/root/.rccr/inventory.ini");
    assert!(!ini.contains(&node.hostname), "{ini}\n{err}");
}

/// A key rotation that one node missed (its link down) is left
/// unfinished, with the other node's line settled at its address then;
/// that node moves to a new lease, and setup finishes the rotation and
/// follows it. The last rotation it retires names the node where it is
/// now: before, a last rotation setup had just retired was never
/// followed, and the line stayed at the old lease, for whoever takes it.
#[test]
fn a_line_an_interrupted_rotation_settled_follows_its_node_when_setup_finishes_it() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    ok("rccr setup", &setup(&lab));
    let old_ip = lab.ip("target-1");
    sh_ok(&lab, "target-2", "ip link set eth0 down");
    let rekey = lab.exec("control", &["rccr", "keyrotate", "--yes", "--rekey"]);
    assert_eq!(rekey.status.code(), Some(1), "{}", stderr(&rekey));
    let journal = cat(&lab, "control", "/root/.rccr/rotation.journal");
    assert_has(&journal, &format!("node {old_ip}:22 rotated\n"));
    sh_ok(&lab, "target-2", "ip link set eth0 up");
    let new_ip = move_to_new_lease(&lab, "target-1");

    let out = setup(&lab);
    let json = ok("rccr setup, finishing the rotation", &out);
    assert_has(
        object_of(&json, &new_ip),
        &format!("\"moved_from\": \"{old_ip}\""),
    );
    let last = cat(&lab, "control", "/root/.rccr/last-rotation");
    assert_has(&last, &format!("node {new_ip}:22 rotated\n"));
    assert!(!last.contains(&format!("node {old_ip}:")), "{last}");
}

/// The targets of [`engines_up`].
const ENGINES: [&str; 3] = ["target-1", "target-2", "target-3"];

/// A lab of three targets with Docker engines ([`ENGINES`]), whose
/// control's cluster_config.yml is `config` (printf's format); none
/// when this machine runs no engine.
fn engines_up(config: &str) -> Option<dockerlab::Cluster> {
    if !dockerlab::require_engine() {
        return None;
    }
    let cluster = dockerlab::Cluster::up(Lab::builder().targets(3), &ENGINES);
    let write = format!("printf '{config}' > /root/cluster_config.yml");
    sh_ok(&cluster.lab, "control", &write);
    Some(cluster)
}

/// A node dies and another node of the cluster takes its DHCP lease:
/// `rccr remove --forget` of the dead node takes the dead node's `down`
/// entry out of the swarm, and the live node now at that address stays
/// an active worker. Before, remove took the live entry at the address
/// (one that is not down first): it drained and force-removed the live
/// node, cutting it off with exit 0, and the dead node's entry stayed.
#[test]
fn removing_a_dead_node_leaves_the_node_that_took_its_lease_in_the_swarm() {
    let Some(cluster) = engines_up("cluster:\\n  name: lab\\nswarm:\\n  managers: 1\\n") else {
        return;
    };
    let lab = &cluster.lab;
    ok(
        "rccr setup",
        &lab.exec("control", &["rccr", "setup", "--yes", "--json"]),
    );
    let manager = ENGINES
        .into_iter()
        .find(|h| {
            cluster
                .docker_ok(h, &["info", "--format", "{{.Swarm.ControlAvailable}}"])
                .trim()
                == "true"
        })
        .expect("a manager");
    let workers: Vec<&str> = ENGINES.into_iter().filter(|h| *h != manager).collect();
    let (dead, taker) = (workers[0], workers[1]);
    let id_of = |h: &str| {
        cluster
            .docker_ok(h, &["info", "--format", "{{.Swarm.NodeID}}"])
            .trim()
            .to_string()
    };
    let (dead_id, taker_id) = (id_of(dead), id_of(taker));
    let dead_ip = lab.ip(dead);
    // `ID STATE ADDR` of the entry `id` in the manager's list.
    let entry = |id: &str| {
        stdout(&cluster.docker(
            manager,
            &[
                "node",
                "inspect",
                id,
                "--format",
                "{{.Status.State}} {{.Status.Addr}}",
            ],
        ))
        .trim()
        .to_string()
    };
    // The dead node's engine stops and its lease is free; the other
    // worker takes it, and the manager sees it there.
    cluster.stop(&[dead]);
    release_lease(lab, dead);
    release_lease(lab, taker);
    lease(lab, taker, &dead_ip);
    let wanted = (format!("down {dead_ip}"), format!("ready {dead_ip}"));
    let seen = || (entry(&dead_id), entry(&taker_id));
    for _ in 0..600 {
        if seen() == wanted {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(seen(), wanted);

    let dead_name = format!("ReCyClusteR-Target-0{}", &dead[7..]);
    let out = lab.exec(
        "control",
        &["rccr", "remove", "--yes", "--forget", &dead_name],
    );
    let said = format!("{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(entry(&taker_id), format!("ready {dead_ip}"), "{said}");
    let listed = cluster.docker_ok(
        manager,
        &["node", "ls", "--format", "{{.ID}} {{.Availability}}"],
    );
    assert!(
        listed.contains(&format!("{taker_id} Active")),
        "{listed}\n{said}"
    );
    assert!(!listed.contains(&dead_id), "{listed}\n{said}");
}

/// Each node's swarm layer in setup's JSON `out`: (hostname, swarm).
fn swarm_layers(out: &Output) -> Vec<(String, String)> {
    let json = rccr::json::Value::parse(&out.stdout)
        .unwrap_or_else(|e| panic!("setup --json is not JSON ({e}):\n{}", stdout(out)));
    json.as_array()
        .iter()
        .filter(|o| o.str_at(&["kind"]) == "node")
        .map(|o| {
            let name = o.str_at(&["hostname"]).to_string();
            (name, o.str_at(&["swarm"]).to_string())
        })
        .collect()
}

/// A run killed right after creating the swarm, whose creator then takes
/// a new lease: raft may know that swarm's one manager only at the old
/// address, where no manager joining could reach it, and nothing shows
/// that the swarm it manages now is that one, or that it holds nothing of
/// the operator's. So the next run neither adopts it nor leaves it: the
/// creator fails with the remedy, exit 1, and no second swarm is created.
/// Once the operator made it leave (`docker swarm leave --force`), the
/// next run forms one swarm of three reachable managers, and a run after
/// that changes nothing. Before, a run left that swarm on its own when it
/// looked empty (its secrets, configs and networks unread).
#[test]
fn a_swarm_whose_creator_moved_before_its_id_was_recorded_is_left_to_the_operator() {
    let Some(cluster) = engines_up("cluster:\\n  name: lab\\n") else {
        return;
    };
    let lab = &cluster.lab;
    let fp = Failpoint::new("swarm-created");
    let child = fp.spawn(lab, "swarm-created", &["rccr", "setup", "--yes"]);
    let (created_at, pid) = fp.reached();
    sigkill(pid);
    let _ = child.wait_with_output();
    let creator = ENGINES
        .into_iter()
        .find(|h| lab.ip(h) == created_at)
        .expect("the creator is a target");
    move_to_new_lease(lab, creator);

    // An engine in no swarm has no `Cluster`: its ID is "".
    let id = "{{if .Swarm.Cluster}}{{.Swarm.Cluster.ID}}{{end}}";
    let cluster_of = |h: &str| {
        cluster
            .docker_ok(h, &["info", "--format", id])
            .trim()
            .to_string()
    };
    let made = cluster_of(creator);
    assert!(!made.is_empty(), "the killed run created no swarm");

    let run = || lab.exec("control", &["rccr", "setup", "--yes", "--json"]);
    let out = run();
    let said = format!("{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert_has(
        &said,
        &format!("give it back {created_at} (a fixed DHCP lease)"),
    );
    assert_has(&said, "docker swarm leave --force on it");
    for h in ENGINES {
        let want = if h == creator { made.as_str() } else { "" };
        assert_eq!(cluster_of(h), want, "{h}\n{said}");
    }

    cluster.docker_ok(creator, &["swarm", "leave", "--force"]);
    let out = run();
    let said = format!("{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{said}");
    let clusters: Vec<String> = ENGINES.iter().map(|h| cluster_of(h)).collect();
    assert!(!clusters[0].is_empty(), "{said}");
    assert!(
        clusters.iter().all(|c| *c == clusters[0]),
        "{clusters:?}\n{said}"
    );
    let managers = cluster.docker_ok(
        creator,
        &[
            "node",
            "ls",
            "--filter",
            "role=manager",
            "--format",
            "{{.ManagerStatus}}",
        ],
    );
    let reachable = managers
        .lines()
        .filter(|l| matches!(l.trim(), "Leader" | "Reachable"))
        .count();
    assert_eq!(reachable, 3, "{managers}\n{said}");

    let again = run();
    let said = format!("{}\n{}", stdout(&again), stderr(&again));
    assert_eq!(again.status.code(), Some(0), "{said}");
    let layers = swarm_layers(&again);
    assert!(
        layers
            .iter()
            .all(|(_, s)| s == "unchanged" || s == "skipped"),
        "the second run changed something: {layers:?}\n{said}"
    );
}
