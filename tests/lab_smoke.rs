//! The virtual LAN lab itself (tests/lab/lab.sh through tests/common/lab.rs):
//! keys, names, decoys, frame loss, growth, teardown and garbage collection.
//! Needs root; skips without it, fails without it when CI is set.

mod common;

use common::lab::{lab_script, netns_list, pid_alive, require_root, stderr, stdout, Kind, Lab};
use common::{assert_has, ok, or_skip};
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Asserts nothing of lab `id` (dir, pids) is left.
fn assert_gone(id: &str, dir: &Path, pids: &[u32]) {
    let prefix = format!("{id}-");
    let left: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let alive: Vec<u32> = pids.iter().copied().filter(|&p| pid_alive(p)).collect();
    assert!(alive.is_empty(), "processes left behind: {alive:?}");
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        !Path::new("/run/rccr-lab").join(id).exists(),
        "registry entry of {id} left behind"
    );
}

/// (transmitted, received) of pings from `from` to `ip`: up to `count`
/// replies, 20 pings a second, for at most `deadline` seconds (a host whose
/// ARP entry failed under loss needs a second or so to be resolved again).
fn ping(lab: &Lab, from: &str, ip: &str, count: u32, deadline: u32) -> (u32, u32) {
    let (c, w) = (count.to_string(), deadline.to_string());
    let out = lab.exec(
        from,
        &[
            "ping", "-n", "-q", "-c", &c, "-i", "0.05", "-W", "1", "-w", &w, ip,
        ],
    );
    let text = stdout(&out);
    let summary = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary: {text}{}", stderr(&out)));
    let field = |suffix: &str| -> u32 {
        summary
            .split(',')
            .find_map(|part| {
                part.trim()
                    .split_once(' ')
                    .filter(|(_, s)| s.starts_with(suffix))
                    .and_then(|(n, _)| n.parse().ok())
            })
            .unwrap_or_else(|| panic!("bad ping summary: {summary}"))
    };
    (field("packets transmitted"), field("received"))
}

/// Whether `ip` answers a ping from `from` within `secs` seconds.
fn answers_within(lab: &Lab, from: &str, ip: &str, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if lab
            .exec(from, &["ping", "-n", "-q", "-c", "1", "-W", "1", ip])
            .status
            .success()
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn smoke_keys_names_decoys_and_teardown() {
    let lab = or_skip!(Lab::with_decoys(2, 1).up_as_root());
    println!("lab {} up in {:?}", lab.id(), lab.up_time());
    let hosts = lab.hosts();
    let kinds: Vec<Kind> = hosts.iter().map(|h| h.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::Control,
            Kind::Target,
            Kind::Target,
            Kind::Static,
            Kind::Foreign,
            Kind::Imposter,
            Kind::Nossh
        ]
    );
    let macs: HashSet<&str> = hosts.iter().map(|h| h.mac.as_str()).collect();
    let ips: HashSet<&str> = hosts.iter().map(|h| h.ip.as_str()).collect();
    assert_eq!(macs.len(), hosts.len(), "MACs not unique: {hosts:?}");
    assert_eq!(ips.len(), hosts.len(), "IPs not unique: {hosts:?}");
    assert_eq!(lab.host("target-1").hostname, "ReCyClusteR-Target-01");
    assert_eq!(lab.host("static-1").hostname, "ReCyClusteR-Target-s01");

    // Every host runs with its own hostname, address and MAC.
    for h in &hosts {
        let out = ok("hostname", &lab.sh(&h.name, "hostname; cat /etc/hostname; cat /sys/class/net/eth0/address; ip -4 -o addr show eth0"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], h.hostname, "{h:?}");
        assert_eq!(lines[1], h.hostname, "{h:?}");
        assert_eq!(lines[2], h.mac, "{h:?}");
        assert!(
            lines[3].contains(&format!("inet {}/", h.ip)),
            "{h:?}: {}",
            lines[3]
        );
    }

    // The temporary key logs into every target (and the foreign decoy).
    for h in hosts
        .iter()
        .filter(|h| h.is_target() || h.kind == Kind::Foreign)
    {
        let out = lab.ssh("control", &h.name, "hostname");
        assert_eq!(ok(&format!("ssh {}", h.name), &out).trim(), h.hostname);
    }
    // The imposter refuses it.
    let out = lab.ssh("control", "imposter", "hostname");
    assert!(!out.status.success(), "imposter accepted the temporary key");
    assert!(
        stderr(&out).contains("Permission denied"),
        "imposter: {}",
        stderr(&out)
    );
    // The tests that no key was offered, or no session started, read
    // sshd.log: sshd really logs both there (LogLevel VERBOSE, -E).
    for h in hosts.iter().filter(|h| h.is_target()) {
        let log = std::fs::read_to_string(lab.dir().join("hosts").join(&h.name).join("sshd.log"));
        assert_has(&log.unwrap(), "Starting session");
        assert!(lab.keys_offered(&h.name) > 0, "{}: no key offered", h.name);
    }
    assert!(lab.keys_offered("imposter") > 0, "imposter: no key offered");
    // The nossh decoy has no port 22 open.
    let nossh = lab.ip("nossh");
    let out = lab.exec(
        "control",
        &["bash", "-c", &format!("exec 3<>/dev/tcp/{nossh}/22")],
    );
    assert!(!out.status.success(), "port 22 open on nossh");
    let out = lab.ssh("control", "nossh", "true");
    assert!(
        stderr(&out).contains("Connection refused"),
        "nossh: {}",
        stderr(&out)
    );

    // DNS inside the control host: reverse and forward names of DHCP hosts.
    let router = lab.router_ip();
    for h in hosts.iter().filter(|h| h.kind == Kind::Target) {
        let out = ok(
            "getent reverse",
            &lab.exec("control", &["getent", "hosts", &h.ip]),
        );
        let want = format!("{}.lab", h.hostname.to_lowercase());
        assert!(
            out.to_lowercase().split_whitespace().any(|w| w == want),
            "getent hosts {}: {out}",
            h.ip
        );
        let out = ok(
            "dig -x",
            &lab.exec(
                "control",
                &["dig", "-x", &h.ip, "+short", &format!("@{router}")],
            ),
        );
        assert_eq!(out.trim().to_lowercase(), format!("{want}."));
        let out = ok(
            "getent forward",
            &lab.exec("control", &["getent", "hosts", &h.hostname]),
        );
        assert!(
            out.starts_with(&format!("{} ", h.ip)),
            "getent hosts {}: {out}",
            h.hostname
        );
    }
    // Static targets have no name.
    let s = lab.host("static-1");
    let out = lab.exec("control", &["getent", "hosts", &s.hostname]);
    assert!(
        !out.status.success(),
        "static target has a DNS name: {}",
        stdout(&out)
    );
    let out = lab.exec(
        "control",
        &["dig", "-x", &s.ip, "+short", &format!("@{router}")],
    );
    assert_eq!(stdout(&out).trim(), "", "static target has a PTR name");

    // The binary under test runs inside the lab, from LABDIR/bin.
    let out = ok(
        "rccr --version",
        &lab.exec("control", &["rccr", "--version"]),
    );
    assert!(out.starts_with("rccr "), "{out}");
    let out = ok(
        "which rccr",
        &lab.ssh("control", "target-1", "command -v rccr"),
    );
    assert_eq!(out.trim(), lab.dir().join("bin/rccr").display().to_string());

    // A host's /root, /etc/hostname and /etc are its own.
    let real_hostname = std::fs::read_to_string("/etc/hostname").ok();
    ok(
        "write inside",
        &lab.sh(
            "target-1",
            "echo changed >/etc/hostname && echo x >/root/mark && echo y >/etc/rccr-lab-mark",
        ),
    );
    assert_eq!(std::fs::read_to_string("/etc/hostname").ok(), real_hostname);
    assert!(!Path::new("/etc/rccr-lab-mark").exists());
    assert!(!lab
        .exec("target-2", &["test", "-e", "/root/mark"])
        .status
        .success());
    let out = ok("stdin", &lab.exec_stdin("target-2", &["cat"], b"through\n"));
    assert_eq!(out, "through\n");
    assert_eq!(lab.sh("target-2", "exit 7").status.code(), Some(7));

    // Teardown leaves nothing behind.
    let (id, dir, pids) = (lab.id().to_owned(), lab.dir().to_owned(), lab.pids());
    assert!(
        pids.len() >= 2 * hosts.len(),
        "too few lab processes found: {pids:?}"
    );
    assert!(!lab.namespaces().is_empty());
    lab.down().unwrap();
    assert_gone(&id, &dir, &pids);
}

#[test]
fn twenty_hosts_get_leases() {
    let lab = or_skip!(Lab::builder().targets(19).up_as_root());
    let hosts = lab.hosts();
    println!(
        "{} hosts (control + 19 DHCP targets) up in {:.2?}",
        hosts.len(),
        lab.up_time()
    );
    eprintln!("{}", lab.up_log().trim());
    assert_eq!(hosts.len(), 20);
    let ips: HashSet<&str> = hosts.iter().map(|h| h.ip.as_str()).collect();
    assert_eq!(ips.len(), 20, "addresses not distinct: {hosts:?}");
    let leases = std::fs::read_to_string(lab.dir().join("router/dnsmasq.leases")).unwrap();
    for h in &hosts {
        assert!(h.ip.starts_with("10.213.0."), "{h:?}");
        // dnsmasq lease line: expiry mac ip hostname client-id
        assert!(
            leases.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() >= 4 && f[1] == h.mac && f[2] == h.ip && f[3] == h.hostname
            }),
            "no lease for {h:?} in:\n{leases}"
        );
    }
    // Every name resolves at the router's DNS, from inside the control host.
    let router = lab.router_ip();
    for h in &hosts {
        let name = format!("{}.lab", h.hostname);
        let out = lab.exec("control", &["dig", "+short", &name, &format!("@{router}")]);
        assert_eq!(ok("dig", &out).trim(), h.ip, "{name}");
    }
}

#[test]
fn frame_loss_per_host() {
    let lab = or_skip!(Lab::builder().targets(2).loss("target-1", 100).up_as_root());
    let (t1, t2) = (lab.ip("target-1"), lab.ip("target-2"));
    assert_eq!(
        ping(&lab, "control", &t1, 3, 2).1,
        0,
        "target-1 answers through 100% loss"
    );
    assert_eq!(
        ping(&lab, "control", &t2, 3, 5).1,
        3,
        "target-2 does not answer"
    );
    lab.set_loss("target-1", 0);
    // Its ARP entry failed under the loss: give the control a few seconds to
    // resolve it again, then every ping answers.
    assert!(
        answers_within(&lab, "control", &t1, 10),
        "target-1 does not answer at 0% loss"
    );
    assert_eq!(
        ping(&lab, "control", &t1, 3, 5).1,
        3,
        "target-1 drops pings at 0% loss"
    );
    // 50% each way: about a quarter of the round trips make it.
    lab.set_loss("target-1", 50);
    let (sent, got) = ping(&lab, "control", &t1, 40, 3);
    println!("50% loss each way: {got}/{sent} round trips");
    assert!(got > 0 && got < sent, "50% loss let {got}/{sent} through");
    assert_eq!(
        ping(&lab, "control", &t2, 20, 5).1,
        20,
        "loss on target-1 hit target-2"
    );
}

#[test]
fn two_more_targets_join() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let new = lab.add_targets(2);
    let names: Vec<&str> = new.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["target-2", "target-3"]);
    assert_eq!(lab.hosts().len(), 4);
    for h in &new {
        let out = ok("ssh new target", &lab.ssh("control", &h.name, "hostname"));
        assert_eq!(out.trim(), h.hostname);
        let out = ok(
            "name of new target",
            &lab.exec("control", &["getent", "hosts", &h.ip]),
        );
        assert!(
            out.to_lowercase().contains(&h.hostname.to_lowercase()),
            "{out}"
        );
    }
    let s = lab.add_statics(1);
    assert_eq!(s.len(), 1);
    let out = ok(
        "ssh new static",
        &lab.ssh("control", &s[0].name, "hostname"),
    );
    assert_eq!(out.trim(), "ReCyClusteR-Target-s01");
}

#[test]
fn failed_up_cleans_up_and_gc_removes_orphans() {
    if !require_root() {
        return;
    }
    // up that fails half-way (unknown host for --loss, found after building)
    let err = match Lab::builder().targets(1).loss("no-such-host", 10).try_up() {
        Ok(_) => panic!("up with --loss on an unknown host succeeded"),
        Err(e) => e,
    };
    let id = err
        .split_whitespace()
        .find(|w| w.starts_with("rl") && w.len() == 8)
        .unwrap_or_else(|| panic!("no lab id in: {err}"));
    let dir = err
        .split(|c: char| c.is_whitespace() || c == '\'')
        .find(|w| w.starts_with("/tmp/rccr-lab."))
        .unwrap_or_else(|| panic!("no LABDIR in: {err}"));
    assert_gone(id, Path::new(dir), &[]);

    // a lab whose owner died is removed by gc
    let mut owner = Command::new("sleep").arg("60").spawn().unwrap();
    let lab = Lab::builder().targets(1).owner(owner.id()).up();
    let (id, dir, pids) = (lab.id().to_owned(), lab.dir().to_owned(), lab.pids());
    let gc = || {
        let out = Command::new("bash").arg(lab_script()).arg("gc").output();
        ok("gc", &out.unwrap())
    };
    gc();
    assert!(dir.exists(), "gc removed a lab whose owner lives");
    owner.kill().unwrap();
    owner.wait().unwrap();
    gc();
    assert_gone(&id, &dir, &pids);
    lab.down().unwrap(); // already gone: down is a no-op
}

#[test]
fn teardown_after_a_panicking_test() {
    if !require_root() {
        return;
    }
    if std::env::var_os("RCCR_LAB_KEEP").is_some() {
        eprintln!("RCCR_LAB_KEEP is set: labs of panicking tests are kept, nothing to check");
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let lab = Lab::builder().targets(1).up();
        tx.send((lab.id().to_owned(), lab.dir().to_owned(), lab.pids()))
            .unwrap();
        panic!("test failure inside a lab (expected)");
    })
    .join();
    assert!(result.is_err(), "the thread did not panic");
    let (id, dir, pids) = rx.recv().unwrap();
    assert!(!pids.is_empty());
    assert_gone(&id, &dir, &pids);
}
