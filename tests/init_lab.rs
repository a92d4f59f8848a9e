//! `rccr-init` on the live system of a lab host (tests/lab/lab.sh): it
//! really sets the hostname (`hostname` inside the host and over SSH show
//! it), writes the bind-mounted /etc/hostname and /etc/hosts, makes host
//! keys, applies a boot file on a read-only "boot partition" (remounting it
//! read-write for the rename) and lists the host's DHCP address in
//! /etc/issue. A second run changes nothing.
//!
//! Needs root; skips without it, fails without it when CI is set.

mod common;

use common::lab::{stderr, Lab};
use common::{assert_has, ok, or_skip};

/// A real public key (ssh-keygen), as a user would put in rccr.txt.
const USER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFooAr08t8fK5tHJofRTjg8zc8X8Nd7lull7Y9omwR+X me@laptop";

/// Whether `host`'s /etc is the lab's private overlay: only then may the
/// test rewrite /etc/ssh and /etc/network there.
fn private_etc(lab: &Lab, host: &str) -> bool {
    let mounts = ok(
        "read mounts",
        &lab.exec(host, &["cat", "/proc/self/mounts"]),
    );
    mounts.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 2 && f[1] == "/etc" && f[2] == "overlay"
    })
}

#[test]
fn rccr_init_names_the_lab_host_and_prepares_it() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    let host = lab.host("target-1");
    if !private_etc(&lab, "target-1") {
        common::skip(
            "lab host has no private /etc overlay: rccr-init would change this machine's /etc",
        );
        return;
    }
    let mac: Vec<&str> = host.mac.split(':').collect();
    let want = format!("ReCyClusteR-Target-{}", mac[3..].concat().to_lowercase());

    // The image as flashed: default hostname, no host keys, a DHCP stanza,
    // and a read-only boot partition (tmpfs, in this host's mount namespace
    // only) holding rccr.txt.
    let setup = format!(
        r#"set -e
mkdir -p /etc/rccr /etc/network
echo target >/etc/rccr/node-type
echo ReCyClusteR-Target >/etc/hostname
printf 'auto eth0\niface eth0 inet dhcp\n' >/etc/network/interfaces
rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub
rm -rf /etc/ssh/sshd_config.d
printf 'Port 22\n' >/etc/ssh/sshd_config
mount -t tmpfs rccr-media /media
mkdir /media/sdz1
mount -t tmpfs -o size=1m rccr-fat /media/sdz1
printf '# user settings\nauthorized_key={USER_KEY}\n' >/media/sdz1/rccr.txt
mount -o remount,ro /media/sdz1
"#
    );
    ok("setup", &lab.sh("target-1", &setup));

    let out = lab.exec("target-1", &["rccr", "init"]);
    let log = stderr(&out);
    eprintln!("rccr init inside target-1:\n{log}");
    assert!(out.status.success(), "rccr init: {}\n{log}", out.status);
    assert!(!log.contains("cannot"), "{log}");

    // The running hostname, inside the host and through a new SSH session.
    assert_eq!(
        ok("hostname", &lab.exec("target-1", &["hostname"])).trim(),
        want
    );
    assert_eq!(
        ok("ssh hostname", &lab.ssh("control", "target-1", "hostname")).trim(),
        want,
        "sshd (started before) still lets the temporary key in"
    );
    let files = ok(
        "read files",
        &lab.sh(
            "target-1",
            "cat /etc/hostname /etc/hosts /etc/network/interfaces /etc/issue /root/.ssh/authorized_keys; \
             ls /media/sdz1; grep ' /media/sdz1 ' /proc/self/mounts; \
             ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub; stat -c %a /etc/ssh/ssh_host_ed25519_key",
        ),
    );
    assert!(files.starts_with(&format!("{want}\n")), "{files}");
    assert_has(&files, &format!("127.0.1.1\t{want}\n"));
    assert_has(
        &files,
        &format!("iface eth0 inet dhcp\n\thostname {want}\n"),
    );
    assert_has(&files, &format!("ReCyClusteR target node {want}\n"));
    assert_has(&files, &format!("Addresses: {}/", host.ip));
    assert_has(&files, USER_KEY);
    assert!(
        files.contains("rccr-temporary-key"),
        "the lab's key is kept: {files}"
    );
    assert!(
        files.contains("rccr.txt.applied\n") && !files.contains("rccr.txt\n"),
        "{files}"
    );
    assert!(
        files.contains(" tmpfs ro,"),
        "boot partition read-only again: {files}"
    );
    // ssh-keygen -l agrees with the fingerprint in /etc/issue.
    let fp = files
        .lines()
        .find(|l| l.ends_with("(ED25519)"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_else(|| panic!("no ssh-keygen -l line: {files}"));
    assert!(files.contains(&format!("root@{want} (ED25519)")), "{files}");
    assert_has(&files, &format!("  ED25519  {fp}\n"));
    assert!(files.trim_end().ends_with("\n600"), "{files}");

    // Once per boot, idempotent: a second run changes nothing.
    let again = lab.exec("target-1", &["rccr", "init"]);
    assert!(again.status.success(), "{}", stderr(&again));
    // Lab hosts share the machine's /run, so another test's rccr-init may
    // hold the banner's lock (ISSUE_LOCK, src/init/issue.rs) meanwhile.
    let said = stderr(&again).replace(
        "rccr-init: waiting for /run/rccr-issue.lock: another rccr-init run is writing the banner\n",
        "",
    );
    assert_eq!(said, "rccr-init: nothing to change\n");
}

/// A lab of one target, diskless without a medium: the lab's lbu stand-in
/// fails to commit, as Alpine's does. `None` (skipped) without root, or
/// where the host has no private /etc.
fn diskless_lab() -> Option<Lab> {
    let lab = Lab::builder().targets(1).up_as_root()?;
    if !private_etc(&lab, "target-1") {
        common::skip(
            "lab host has no private /etc overlay: rccr-init would change this machine's /etc",
        );
        return None;
    }
    lab.storage("target-1", "none");
    Some(lab)
}

/// The shell command that runs `rccr init ARGS` on target-1 as on diskless
/// Alpine: `/` a RAM filesystem (a tmpfs over `/` in a mount namespace of
/// its own: /proc/mounts says so, while paths still resolve in the lab
/// host's tree), the lab's lbu on PATH.
fn diskless_init(lab: &Lab, args: &str) -> String {
    let fakebin = lab.dir().join("hosts/target-1/fakebin");
    format!(
        "unshare --mount sh -c 'mount -t tmpfs rccr-ram / && PATH={}:$PATH exec rccr init{args}'",
        fakebin.display()
    )
}

/// Gives target-1 a medium lbu saves to, then runs `command` there, which
/// must succeed and save with lbu; returns its stderr.
fn once_lbu_saves(lab: &Lab, command: &str) -> String {
    lab.storage("target-1", "lbu");
    let out = lab.sh("target-1", command);
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert_has(&log, "saved the changes with lbu commit");
    log
}

#[test]
fn the_boot_file_is_kept_while_lbu_cannot_save_what_it_set() {
    let lab = or_skip!(diskless_lab());
    let setup = format!(
        r#"set -e
mkdir -p /etc/rccr
echo target >/etc/rccr/node-type
echo ReCyClusteR-Target >/etc/hostname
mount -t tmpfs rccr-media /media
mkdir /media/sdz1
printf 'authorized_key={USER_KEY}\n' >/media/sdz1/rccr.txt
"#
    );
    ok("setup", &lab.sh("target-1", &setup));
    let diskless_init = diskless_init(&lab, "");
    // A run whose lbu commit fails, and that says the boot file stays.
    let kept_unsaved = || {
        let log = stderr(&lab.sh("target-1", &diskless_init));
        assert_has(&log, "lbu commit failed");
        assert_has(
            &log,
            "/media/sdz1/rccr.txt: kept: the changes are not saved; it is tried again at the next boot",
        );
        log
    };

    let log = kept_unsaved();
    let files = ok(
        "read files",
        &lab.sh("target-1", "ls /media/sdz1; cat /root/.ssh/authorized_keys"),
    );
    assert!(
        files.starts_with("rccr.txt\n"),
        "renamed though lbu failed: {files}\n{log}"
    );
    assert_has(&files, USER_KEY);

    // A rerun in the same boot finds every file right already, yet none of
    // it is saved: it commits again, and keeps the file while that fails.
    let log = kept_unsaved();
    let listed = ok("ls", &lab.sh("target-1", "ls /media/sdz1"));
    assert_eq!(
        listed, "rccr.txt\n",
        "retired though nothing was saved\n{log}"
    );

    // Once lbu saves (a medium is there), the file is retired.
    let log = once_lbu_saves(&lab, &diskless_init);
    assert_has(
        &log,
        "/media/sdz1/rccr.txt: applied, renamed rccr.txt.applied",
    );
    let listed = ok("ls", &lab.sh("target-1", "ls /media/sdz1"));
    assert_eq!(listed, "rccr.txt.applied\n");
}

#[test]
fn a_rename_lbu_cannot_save_fails_and_leaves_the_old_name() {
    let lab = or_skip!(diskless_lab());
    let setup = r#"set -e
mkdir -p /etc/rccr /etc/network
echo target >/etc/rccr/node-type
echo ReCyClusteR-Target-4c0001 >/etc/hostname
hostname ReCyClusteR-Target-4c0001
printf 'auto eth0\niface eth0 inet dhcp\n' >/etc/network/interfaces
"#;
    ok("setup", &lab.sh("target-1", setup));
    // As `rccr setup` renames a diskless node.
    let rename = diskless_init(&lab, " --hostname rack-7");
    let names =
        "cat /etc/hostname; hostname; grep -c rack-7 /etc/network/interfaces /etc/hosts || true";

    let out = lab.sh("target-1", &rename);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    let last = log.lines().last().unwrap_or_default();
    assert_has(
        last,
        "rccr init: cannot save hostname rack-7 (lbu commit failed)",
    );
    assert_has(last, "so ReCyClusteR-Target-4c0001 is back");
    // What the next boot brings back is what runs now: the old name.
    let now = ok("names", &lab.sh("target-1", names));
    assert_eq!(
        now,
        "ReCyClusteR-Target-4c0001\nReCyClusteR-Target-4c0001\n/etc/network/interfaces:0\n/etc/hosts:0\n",
        "{log}"
    );

    // Once lbu saves, the same command renames, and says nothing failed.
    once_lbu_saves(&lab, &rename);
    let now = ok("names", &lab.sh("target-1", names));
    assert_has(
        &now,
        "rack-7\nrack-7\n/etc/network/interfaces:1\n/etc/hosts:1\n",
    );
}

/// A file bind-mounted over one rccr-init would change (a container's
/// `authorized_keys` from its host) is not rewritten in place: cut short,
/// that leaves it empty, and root locked out. /etc/hostname and /etc/hosts
/// are (the lab bind-mounts them: the first test shows that).
#[test]
fn a_bind_mounted_authorized_keys_is_left_as_it_is() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    if !private_etc(&lab, "target-1") {
        common::skip(
            "lab host has no private /etc overlay: rccr-init would change this machine's /etc",
        );
        return;
    }
    let setup = format!(
        r#"set -e
mkdir -p /etc/rccr /root/.ssh
echo target >/etc/rccr/node-type
echo ReCyClusteR-Target >/etc/hostname
mount -t tmpfs rccr-media /media
mkdir /media/sdz1
printf 'authorized_key={USER_KEY}\n' >/media/sdz1/rccr.txt
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDHSl+IHRvPT5hw/OuRQh4BCx6CmDjszJeRGweIDmMnM host@owner\n' >/media/host-keys
chmod 600 /media/host-keys /root/.ssh/authorized_keys
mount --bind /media/host-keys /root/.ssh/authorized_keys
"#
    );
    ok("setup", &lab.sh("target-1", &setup));
    let keys = || {
        ok(
            "read",
            &lab.sh("target-1", "cat /root/.ssh/authorized_keys"),
        )
    };
    let before = keys();
    let out = lab.sh("target-1", "rccr init");
    let log = stderr(&out);
    let refused = "/root/.ssh/authorized_keys is a mount point, which rccr-init does not rewrite";
    assert_has(&log, refused);
    assert_eq!(keys(), before, "{log}");
    // The boot file is kept, to be applied where it can be.
    let listed = ok("ls", &lab.sh("target-1", "ls /media/sdz1"));
    assert_eq!(listed, "rccr.txt\n", "{log}");
}
