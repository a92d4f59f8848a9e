//! `rccr-scan` on the virtual LAN (tests/lab/lab.sh), run inside the lab's
//! control host: DNS names, SSH names, decoys, snapshots, address
//! conflicts, bad input and a user without raw sockets. Needs root; skips
//! without it, fails without it when CI is set.

mod common;

use common::lab::{stderr, stdout, Host, Kind, Lab};
use common::{assert_count, assert_has, ok, or_skip};
use std::process::Output;

/// One object of rccr-scan's JSON output (one per line).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    ip: String,
    mac: Option<String>,
    hostname: Option<String>,
    name_source: Option<String>,
    ssh: bool,
    matches: bool,
}

/// The value after `"key": ` in `line`: a string's contents, or the bare word.
fn field(line: &str, key: &str) -> Option<String> {
    let at = line.find(&format!("\"{key}\": "))? + key.len() + 4;
    let rest = &line[at..];
    if let Some(s) = rest.strip_prefix('"') {
        Some(s[..s.find('"')?].to_owned())
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        let word = rest[..end].trim();
        (word != "null").then(|| word.to_owned())
    }
}

/// Parses the JSON array (lab hostnames need no escapes).
fn rows(json: &str) -> Vec<Row> {
    assert!(json.starts_with('['), "not a JSON array: {json}");
    assert!(json.trim_end().ends_with(']'), "not a JSON array: {json}");
    json.lines()
        .filter(|l| l.contains("\"ip\""))
        .map(|l| Row {
            ip: field(l, "ip").unwrap(),
            mac: field(l, "mac"),
            hostname: field(l, "hostname"),
            name_source: field(l, "name_source"),
            ssh: field(l, "ssh").as_deref() == Some("true"),
            matches: field(l, "match").as_deref() == Some("true"),
        })
        .collect()
}

/// Runs `rccr scan ARGS` in the control host.
fn scan(lab: &Lab, args: &[&str]) -> Output {
    let mut argv = vec!["rccr", "scan"];
    argv.extend_from_slice(args);
    lab.exec("control", &argv)
}

/// Runs `rccr scan ARGS` in the control host behind `wrapper` (a command
/// that runs the rest, such as prlimit), under a hang guard, not a
/// performance figure: a scan still running after 300 s is killed, and
/// that fails the test (`what` names the run).
fn scan_guarded(lab: &Lab, what: &str, wrapper: &[&str], args: &[&str]) -> Output {
    let mut argv = vec!["timeout", "300"];
    argv.extend_from_slice(wrapper);
    argv.extend_from_slice(&["rccr", "scan"]);
    argv.extend_from_slice(args);
    let out = lab.exec("control", &argv);
    assert_ne!(out.status.code(), Some(124), "{what}: hung");
    out
}

fn row<'a>(rows: &'a [Row], host: &Host) -> &'a Row {
    rows.iter()
        .find(|r| r.ip == host.ip)
        .unwrap_or_else(|| panic!("{} ({}) not found in {rows:#?}", host.name, host.ip))
}

/// The DNS name's first label (dnsmasq adds the lab's domain).
fn first_label(name: &Option<String>) -> String {
    name.as_deref()
        .unwrap_or("")
        .split('.')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn finds_targets_by_dns_and_ssh_and_sees_through_decoys() {
    let lab = or_skip!(Lab::with_decoys(3, 2).up_as_root());
    let hosts = lab.hosts();
    let host = |kind: Kind| hosts.iter().find(|h| h.kind == kind).unwrap().clone();

    // Plain sweep, every live host.
    let all = rows(&ok("scan --all", &scan(&lab, &["--json", "--all"])));
    let ips: Vec<&str> = all.iter().map(|r| r.ip.as_str()).collect();
    let mut sorted = all.clone();
    sorted.sort_by_key(|r| r.ip.parse::<std::net::Ipv4Addr>().unwrap());
    assert_eq!(sorted, all, "sorted by IP");
    for h in &hosts {
        if h.kind == Kind::Control {
            assert!(
                !ips.contains(&h.ip.as_str()),
                "the scanning host lists itself"
            );
            continue;
        }
        let r = row(&all, h);
        assert_eq!(r.mac.as_deref(), Some(h.mac.as_str()), "{}", h.name);
    }
    let router = lab.router_ip();
    for r in &all {
        assert!(
            r.ip == router || hosts.iter().any(|h| h.ip == r.ip),
            "unknown host {r:?}"
        );
    }
    for h in hosts.iter().filter(|h| h.kind == Kind::Target) {
        let r = row(&all, h);
        assert_eq!(first_label(&r.hostname), h.hostname, "{}", h.name);
        assert_eq!(r.name_source.as_deref(), Some("dns"));
        assert!(r.ssh && r.matches, "{r:?}");
    }
    for h in hosts.iter().filter(|h| h.kind == Kind::Static) {
        let r = row(&all, h);
        assert_eq!(
            (r.hostname.as_deref(), r.ssh, r.matches),
            (None, true, false),
            "{r:?}"
        );
    }
    let foreign = row(&all, &host(Kind::Foreign));
    assert_eq!(first_label(&foreign.hostname), "kitchen-laptop");
    assert!(foreign.ssh && !foreign.matches, "{foreign:?}");
    let imposter = row(&all, &host(Kind::Imposter));
    assert!(
        imposter.matches,
        "by name alone the imposter matches: {imposter:?}"
    );
    let nossh = row(&all, &host(Kind::Nossh));
    assert!(!nossh.ssh && !nossh.matches, "{nossh:?}");

    // Without --all: ours and unnamed SSH hosts, not the others.
    let shown = rows(&ok("scan", &scan(&lab, &["--json"])));
    let shown_ips: Vec<&str> = shown.iter().map(|r| r.ip.as_str()).collect();
    for h in &hosts {
        let expect = matches!(h.kind, Kind::Target | Kind::Static | Kind::Imposter);
        assert_eq!(
            shown_ips.contains(&h.ip.as_str()),
            expect,
            "{} in {shown_ips:?}",
            h.name
        );
    }

    // --ssh-names: names the statics, unmasks the imposter.
    let out = scan(&lab, &["--json", "--all", "--ssh-names"]);
    let named = rows(&ok("scan --ssh-names", &out));
    for h in hosts.iter().filter(|h| h.is_target()) {
        let r = row(&named, h);
        assert_eq!(r.hostname.as_deref(), Some(h.hostname.as_str()), "{r:?}");
        assert_eq!(r.name_source.as_deref(), Some("ssh"));
        assert!(r.matches, "{r:?}");
    }
    let foreign = row(&named, &host(Kind::Foreign));
    assert_eq!(foreign.hostname.as_deref(), Some("kitchen-laptop"));
    assert_eq!(foreign.name_source.as_deref(), Some("ssh"));
    assert!(!foreign.matches);
    let imp = host(Kind::Imposter);
    let imposter = row(&named, &imp);
    assert_eq!(imposter.name_source.as_deref(), Some("dns"));
    assert!(
        !imposter.matches,
        "the imposter refused our key: {imposter:?}"
    );
    let warning = stderr(&out);
    assert!(
        warning.contains(&format!("warning: {} (ReCyClusteR-Imposter", imp.ip))
            && warning.contains("not treated as ours"),
        "{warning}"
    );
    assert!(!row(&named, &host(Kind::Nossh)).ssh);

    // The table reports the imposter, with why it is not ours.
    let table = ok("table", &scan(&lab, &["--ssh-names"]));
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{} ", imp.ip)))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.ends_with("no (key refused)"), "{line}");
    assert!(table.starts_with("IP "), "{table}");

    // A /25 sweep lists nothing from outside it.
    let half = rows(&ok(
        "scan /25",
        &scan(&lab, &["--json", "--all", "--subnet", "10.213.0.0/25"]),
    ));
    assert!(!half.is_empty());
    for r in &half {
        let last: u8 = r.ip.rsplit('.').next().unwrap().parse().unwrap();
        assert!(last < 128, "{r:?} is outside 10.213.0.0/25");
    }

    // ICMP instead of ARP: the same subnet, reached as if routed (--iface lo
    // has no address in it), finds the same hosts, without MACs.
    let icmp = rows(&ok(
        "scan via icmp",
        &scan(
            &lab,
            &[
                "--json",
                "--all",
                "--iface",
                "lo",
                "--subnet",
                "10.213.0.0/24",
            ],
        ),
    ));
    let icmp_ips: Vec<&str> = icmp.iter().map(|r| r.ip.as_str()).collect();
    assert_eq!(icmp_ips, ips);
    assert!(icmp.iter().all(|r| r.mac.is_none()));

    // Two MACs for one address: the foreign decoy also claims target-1's.
    let t1 = lab.host("target-1");
    ok(
        "alias",
        &lab.exec(
            "foreign",
            &["ip", "addr", "add", &format!("{}/32", t1.ip), "dev", "eth0"],
        ),
    );
    let out = scan(&lab, &["--json", "--all"]);
    let conflicted = rows(&ok("scan with a conflict", &out));
    assert_eq!(conflicted.iter().filter(|r| r.ip == t1.ip).count(), 1);
    let warnings = stderr(&out);
    assert_count(&warnings, "two MAC addresses", 1);
    assert!(
        warnings.contains(&t1.ip)
            && warnings.contains(&t1.mac)
            && warnings.contains(&foreign_mac(&hosts)),
        "{warnings}"
    );
}

fn foreign_mac(hosts: &[Host]) -> String {
    hosts
        .iter()
        .find(|h| h.kind == Kind::Foreign)
        .unwrap()
        .mac
        .clone()
}

#[test]
fn since_lists_only_hosts_added_after_the_snapshot() {
    let lab = or_skip!(Lab::builder().targets(2).statics(1).up_as_root());
    ok("save", &scan(&lab, &["--all", "--save", "snap"]));
    let saved = ok("cat", &lab.exec("control", &["cat", "snap"]));
    assert_eq!(
        saved.lines().filter(|l| !l.starts_with('#')).count(),
        4,
        "{saved}"
    ); // router + 3
    let none = rows(&ok(
        "since, nothing new",
        &scan(&lab, &["--json", "--all", "--since", "snap"]),
    ));
    assert!(none.is_empty(), "{none:?}");
    let added = lab.add_targets(1);
    let new = rows(&ok(
        "since",
        &scan(
            &lab,
            &["--json", "--all", "--since", "snap", "--save", "snap"],
        ),
    ));
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0].ip, added[0].ip);
    assert_eq!(first_label(&new[0].hostname), added[0].hostname);
    // --save after --since: the snapshot now has the new host too.
    let none = rows(&ok(
        "since again",
        &scan(&lab, &["--json", "--all", "--since", "snap"]),
    ));
    assert!(none.is_empty(), "{none:?}");
}

/// The control's kernel holds `mac` for `ip` as `nud` (`reachable` or
/// `permanent`), and keeps it against ARP answers for the whole test: as
/// it does for a second after an entry changes state (`locktime`).
fn stale_neighbour(lab: &Lab, ip: &str, mac: &str, nud: &str) {
    let script = format!(
        "sysctl -qw net.ipv4.neigh.eth0.locktime=360000 &&
        ip neigh replace {ip} lladdr {mac} nud {nud} dev eth0"
    );
    ok("ip neigh", &lab.sh("control", &script));
}

/// What the control's kernel holds for `ip`.
fn neighbour(lab: &Lab, ip: &str) -> String {
    ok(
        "ip neigh show",
        &lab.exec("control", &["ip", "neigh", "show", ip]),
    )
}

/// A target that took an address whose old MAC the control's kernel still
/// holds: the scan makes the kernel forget it before the SSH probe, so the
/// target shows SSH. Without the right to (no CAP_NET_ADMIN) the scan
/// still works and says why SSH may be missed; an administrator's
/// permanent entry is never touched, only reported.
#[test]
fn a_stale_neighbour_entry_is_forgotten_before_the_ssh_probe() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let (one, two) = (lab.host("target-1"), lab.host("target-2"));
    let ssh_of = |out: &Output| {
        let found = rows(&ok("scan", out));
        row(&found, &one).ssh
    };
    stale_neighbour(&lab, &one.ip, &two.mac, "reachable");
    let denied = lab.exec(
        "control",
        &[
            "setpriv",
            "--bounding-set=-net_admin",
            "rccr",
            "scan",
            "--json",
            "--all",
        ],
    );
    assert!(!ssh_of(&denied), "the probe went to {}", two.mac);
    assert_has(
        &stderr(&denied),
        &format!(
            "rccr scan: warning: the kernel's neighbour cache holds an old MAC address for {} and could not be cleared (that needs CAP_NET_ADMIN)",
            one.ip
        ),
    );
    assert_has(&neighbour(&lab, &one.ip), &two.mac);

    let out = scan(&lab, &["--json", "--all"]);
    assert!(ssh_of(&out), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert!(!neighbour(&lab, &one.ip).contains(&two.mac));

    stale_neighbour(&lab, &one.ip, &two.mac, "permanent");
    let out = scan(&lab, &["--json", "--all"]);
    assert!(!ssh_of(&out), "the permanent entry was changed");
    assert_has(
        &stderr(&out),
        &format!(
            "rccr scan: warning: {} answered from {}, but a permanent neighbour entry on eth0 sends its traffic to {}: left as it is",
            one.ip, one.mac, two.mac
        ),
    );
    let kept = neighbour(&lab, &one.ip);
    assert!(
        kept.contains(&two.mac) && kept.contains("PERMANENT"),
        "{kept}"
    );
}

#[test]
fn bad_input_and_missing_privileges_are_refused_cleanly() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let refused = |args: &[&str], code: i32, prefix: &str| {
        let out = scan(&lab, args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            stdout(&out).is_empty(),
            "{args:?}: partial output {}",
            stdout(&out)
        );
        assert!(err.starts_with(prefix), "{args:?}: {err}");
    };
    refused(
        &["--subnet", "10.213.0.7/24"],
        3,
        "rccr scan: --subnet 10.213.0.7/24: host bits are set",
    );
    refused(
        &["--subnet", "10.213.0.0/99"],
        3,
        "rccr scan: --subnet 10.213.0.0/99: not an IPv4 subnet",
    );
    refused(
        &["--subnet", "10.0.0.0/8"],
        3,
        "rccr scan: --subnet 10.0.0.0/8: 10.0.0.0/8 has 16777214 addresses",
    );
    refused(
        &["--iface", "eth7"],
        3,
        "rccr scan: --iface eth7: no such interface",
    );
    ok(
        "veth",
        &lab.sh(
            "control",
            "ip link add rccrv0 type veth peer name rccrv1 && ip link set rccrv0 up",
        ),
    );
    refused(
        &["--iface", "rccrv0"],
        3,
        "rccr scan: --iface rccrv0: the interface has no IPv4 address",
    );
    refused(
        &["--retries", "99"],
        2,
        "rccr scan: --retries must be at most 10",
    );

    // Not root: one line, exit 4, nothing on stdout. From /, where there
    // is no config: in a directory nobody may search (root's home) the
    // scan would first warn that it cannot read ./cluster_config.yml
    // (scan_cli tests that warning).
    let out = lab.sh(
        "control",
        "cd / && exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
         rccr scan",
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(stdout(&out).is_empty());
    assert_eq!(
        err,
        "rccr scan: sweeping the LAN needs raw sockets: run as root (or with CAP_NET_RAW)\n"
    );
}

#[test]
fn hostile_names_over_ssh_are_escaped_sanitised_or_dropped() {
    let lab = or_skip!(Lab::builder().targets(1).decoys(true).up_as_root());
    let foreign = lab.host("foreign");
    // The foreign decoy accepts our key; make its `hostname` print junk (its
    // /usr/local is private to it and first in root's PATH over SSH).
    let fake = |body: &str| {
        let script = format!(
            "printf '#!/bin/sh\\n{body}\\n' >/usr/local/bin/hostname && chmod 755 /usr/local/bin/hostname"
        );
        ok("fake hostname", &lab.sh("foreign", &script));
    };
    fake(r#"printf '"'"'ReCyClusteR-x;$(touch /tmp/rccr-pwned)\\033[2J\\tname\\n'"'"'"#);
    let check = ok(
        "check",
        &lab.ssh("control", "foreign", "hostname | od -c | head -3"),
    );
    assert!(
        check.contains("033"),
        "the fake hostname is not in place: {check}"
    );

    let out = scan(&lab, &["--json", "--all", "--ssh-names"]);
    let json = ok("scan --ssh-names", &out);
    let line = json
        .lines()
        .find(|l| l.contains(&format!("\"{}\"", foreign.ip)))
        .unwrap();
    assert_has(
        line,
        r#""hostname": "ReCyClusteR-x;$(touch /tmp/rccr-pwned)\u001b[2J\tname", "name_source": "ssh""#,
    );
    assert!(
        line.ends_with(r#""match": false}"#) || line.ends_with(r#""match": false},"#),
        "{line}"
    );

    let table = ok("table", &scan(&lab, &["--all", "--ssh-names"]));
    assert!(
        !table.contains('\u{1b}') && !table.contains('\t'),
        "{table:?}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("{} ", foreign.ip)))
        .unwrap();
    assert_has(row, "ReCyClusteR-x???touch??tmp?rccr-pwned???2J?name");
    assert!(
        row.ends_with("no"),
        "a name with metacharacters never matches: {row}"
    );
    assert!(!std::path::Path::new("/tmp/rccr-pwned").exists());

    // Over 253 bytes: dropped, the DNS name stays.
    fake(&format!("echo {}", "a".repeat(300)));
    let out = scan(&lab, &["--json", "--all", "--ssh-names"]);
    let named = rows(&ok("scan, long name", &out));
    let r = named.iter().find(|r| r.ip == foreign.ip).unwrap();
    assert_eq!(first_label(&r.hostname), "kitchen-laptop");
    assert_eq!(r.name_source.as_deref(), Some("dns"));
    assert_has(&stderr(&out), "empty or too long");

    // A host that accepts TCP on port 22 but never says a word: the login
    // gives up within its bound instead of hanging the scan.
    let nossh = lab.host("nossh");
    let mute = "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                s.bind((\"\", 22))\ns.listen(64)\nheld = []\nwhile True:\n    held.append(s.accept()[0])\n";
    ok(
        "mute listener",
        &lab.sh(
            "nossh",
            &format!("printf '{mute}' >/root/mute.py && setsid python3 /root/mute.py </dev/null >/dev/null 2>&1 &"),
        ),
    );
    let listening = || {
        lab.sh("nossh", "ss -Htln 'sport = :22' | grep -q .")
            .status
            .success()
    };
    common::lab::wait_for("the mute listener on :22", listening);
    // Killed long after its one login's 5 s bound, if it hangs.
    let out = scan_guarded(&lab, "mute sshd", &[], &["--json", "--all", "--ssh-names"]);
    let named = rows(&ok("scan, mute sshd", &out));
    let r = named.iter().find(|r| r.ip == nossh.ip).unwrap();
    assert!(r.ssh && !r.matches, "{r:?}");
    assert!(
        stderr(&out).contains(&format!("{} (printer-nossh", nossh.ip))
            && stderr(&out).contains("timed out"),
        "{}",
        stderr(&out)
    );
}

/// Drops the first `k` ARP replies host `name` sends the control, and
/// none after: an nft quota rule on `name` (a reply is 42 bytes there,
/// its Ethernet header included), made anew, so its count starts from zero.
fn lose_arp_replies(lab: &Lab, name: &str, k: u32) {
    let rules = format!(
        "table arp rccr_lab_lost\ndelete table arp rccr_lab_lost\n\
         table arp rccr_lab_lost {{\n chain out {{\n type filter hook output priority 0;\n \
         arp operation reply arp daddr ip {} quota until {} bytes counter drop\n }}\n}}\n",
        lab.ip("control"),
        42 * k + 21
    );
    ok(
        "nft",
        &lab.exec_stdin(name, &["nft", "-f", "-"], rules.as_bytes()),
    );
}

/// How many ARP replies [`lose_arp_replies`] dropped on `name`.
fn lost_arp_replies(lab: &Lab, name: &str) -> u32 {
    let table = ["nft", "list", "table", "arp", "rccr_lab_lost"];
    let listed = ok("nft list", &lab.exec(name, &table));
    let at = listed.find("counter packets ").expect("the rule's counter") + 16;
    let count = listed[at..].split(' ').next().unwrap();
    count.parse().unwrap_or_else(|_| panic!("{listed}"))
}

#[test]
fn retries_find_a_host_whose_first_answers_are_lost() {
    // docs/scan.md: a silent address is asked again --retries times, and
    // a reply to any round counts. target-1's first two answers are lost.
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let (t1, t2) = (lab.host("target-1"), lab.host("target-2"));
    for (retries, found) in [("0", false), ("1", false), ("2", true)] {
        lose_arp_replies(&lab, "target-1", 2);
        let args = [
            "--json",
            "--all",
            "--timeout-ms",
            "600",
            "--retries",
            retries,
        ];
        let ips: Vec<String> = rows(&ok("scan", &scan(&lab, &args)))
            .into_iter()
            .map(|r| r.ip)
            .collect();
        // Each round asked once, and its answer lost until two were.
        let asked = retries.parse::<u32>().unwrap() + 1;
        assert_eq!(lost_arp_replies(&lab, "target-1"), asked.min(2));
        assert!(ips.contains(&t2.ip), "--retries {retries}: {ips:?}");
        assert_eq!(
            ips.contains(&t1.ip),
            found,
            "--retries {retries}: target-1 found: {ips:?}"
        );
    }
}

/// Writes a cluster_config.yml at `path` in the control host.
fn control_config(lab: &Lab, path: &str, yaml: &str) {
    let script = format!("umask 077 && printf '%s' '{yaml}' >{path}");
    ok("config", &lab.sh("control", &script));
}

/// --ssh-names logs in as the config's ssh.user on its ssh.port, and the
/// probe asks that port; --user and --port win over both. They used to be
/// root and 22 whatever the config said.
#[test]
fn ssh_names_log_in_as_the_configs_user_on_its_port() {
    let lab = or_skip!(Lab::builder().targets(2).up_as_root());
    let (t1, t2) = (lab.host("target-1"), lab.host("target-2"));
    // target-1 also takes SSH on port 2222; target-2 on 22 only.
    let redirect = "nft add table ip rccr_lab_port && \
                    nft add chain ip rccr_lab_port pre '{ type nat hook prerouting priority -100; }' && \
                    nft add rule ip rccr_lab_port pre tcp dport 2222 redirect to :22";
    ok("redirect", &lab.sh("target-1", redirect));
    let by_ip = |out: &Output| {
        let rows = rows(&ok("scan", out));
        let get = |h: &Host| rows.iter().find(|r| r.ip == h.ip).cloned();
        (get(&t1).unwrap(), get(&t2).unwrap())
    };

    control_config(&lab, "/root/port.yml", "ssh:\n  port: 2222\n");
    let args = [
        "--json",
        "--all",
        "--ssh-names",
        "--config",
        "/root/port.yml",
    ];
    let (r1, r2) = by_ip(&scan(&lab, &args));
    assert!(r1.ssh && r1.matches, "target-1 answers on 2222: {r1:?}");
    assert_eq!(r1.name_source.as_deref(), Some("ssh"), "{r1:?}");
    assert!(!r2.ssh, "target-2 has nothing on 2222: {r2:?}");
    let mut with_port = args.to_vec();
    with_port.extend(["--port", "22"]);
    let (r1, r2) = by_ip(&scan(&lab, &with_port));
    assert!(r1.ssh && r2.ssh, "--port 22 wins: {r1:?} {r2:?}");
    assert_eq!(r2.name_source.as_deref(), Some("ssh"), "{r2:?}");

    control_config(&lab, "/root/user.yml", "ssh:\n  user: rccr-nobody\n");
    let args = [
        "--json",
        "--all",
        "--ssh-names",
        "--config",
        "/root/user.yml",
    ];
    let out = scan(&lab, &args);
    let (r1, r2) = by_ip(&out);
    assert!(r1.ssh && !r1.matches && !r2.matches, "{r1:?} {r2:?}");
    assert_count(&stderr(&out), "cannot log in with the temporary key", 2);
    let mut as_root = args.to_vec();
    as_root.extend(["--user", "root"]);
    let (r1, r2) = by_ip(&scan(&lab, &as_root));
    assert!(r1.matches && r2.matches, "--user root wins: {r1:?} {r2:?}");
}

/// A send queue that stays full (a token bucket at 8 bit/s with room for
/// two frames: every send after the first few gets ENOBUFS) holds a
/// round's sending up for a bounded number of tries, not for ever: the scan
/// ends and says what it could not send. It used to retry the same address
/// every tick while the queue stayed full, for ever.
#[test]
fn a_send_queue_that_stays_full_ends_the_sweep_with_a_warning() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let tbf = [
        "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "8bit", "burst", "1600",
        "limit", "3000",
    ];
    ok("tbf", &lab.exec("control", &tbf));
    let args = ["--json", "--all", "--retries", "1"];
    let out = scan_guarded(&lab, "full send queue", &[], &args);
    ok("scan with a full send queue", &out);
    assert_has(
        &stderr(&out),
        "requests were not sent, the send queue stayed full",
    );
}

/// A slow link that still moves (a token bucket at 150 kbit/s on the
/// control's eth0: some 400 ARP requests a second, not 32,000) is no
/// stall: the round goes on to the last address of a /22, where target-1
/// also answers. Rounds used to stop once past their time at full rate
/// (a third of a second here) and asked only the first few hundred
/// addresses, round after round.
#[test]
fn a_slow_link_still_sweeps_to_the_end_of_a_large_subnet() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    // A /22 beside the lab's /24: the control at its start, target-1 at its end.
    let add = |host: &str, cidr: &str| {
        let argv = ["ip", "address", "add", cidr, "dev", "eth0"];
        ok("ip address add", &lab.exec(host, &argv));
    };
    add("control", "10.77.0.1/22");
    add("target-1", "10.77.3.254/22");
    let tbf = [
        "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "150kbit", "burst", "1600",
        "limit", "3000",
    ];
    ok("tbf", &lab.exec("control", &tbf));
    let args = [
        "--json",
        "--all",
        "--retries",
        "0",
        "--subnet",
        "10.77.0.0/22",
    ];
    let out = scan_guarded(&lab, "slow send queue", &[], &args);
    let found = rows(&ok("scan on a slow link", &out));
    assert!(
        found.iter().any(|r| r.ip == "10.77.3.254"),
        "the /22's last address was not found: {found:?}\n{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("not sent"), "{}", stderr(&out));
}

/// Out of file descriptors, whatever the limit: the scan stops with one
/// line that says so, or (with room for one probe or login at a time)
/// finds, probes and, with --ssh-names, logs in to every host; never a
/// hang. Logins used to be tried all at once, and those that found no
/// descriptor marked their hosts as not ours.
#[test]
fn out_of_file_descriptors_is_one_error_or_fewer_at_once_never_a_spin() {
    let lab = or_skip!(Lab::builder().targets(6).up_as_root());
    let targets: Vec<Host> = (1..=6).map(|n| lab.host(&format!("target-{n}"))).collect();
    let mut worked = false;
    for limit in 3..=24u32 {
        let nofile = format!("--nofile={limit}");
        let args = ["--json", "--all", "--ssh-names"];
        let out = scan_guarded(&lab, &nofile, &["prlimit", &nofile], &args);
        let err = stderr(&out);
        eprintln!("--nofile={limit}: {}: {err}", out.status);
        // The test build links libraries dynamically: too few descriptors
        // for the loader is not rccr's to report.
        if err.contains("error while loading shared libraries") {
            assert!(!worked, "{err}");
            continue;
        }
        if !out.status.success() {
            assert_eq!(err.trim_end().lines().count(), 1, "--nofile={limit}: {err}");
            assert_has(&err, "Too many open files");
            assert!(
                !worked,
                "--nofile={limit} failed after a lower one worked: {err}"
            );
            continue;
        }
        assert!(!err.contains("warning"), "--nofile={limit}: {err}");
        let found = rows(&stdout(&out));
        for t in &targets {
            let r = found.iter().find(|r| r.ip == t.ip);
            assert!(
                r.is_some_and(|r| r.ssh && r.matches && r.name_source.as_deref() == Some("ssh")),
                "--nofile={limit}: {t:?} in {found:?}"
            );
        }
        worked = true;
    }
    assert!(worked, "no limit up to 24 descriptors let the scan work");
}
