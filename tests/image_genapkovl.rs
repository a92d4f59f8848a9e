//! genapkovl.sh, the overlay (apkovl) of a node: tar listing, modes,
//! owners, contents, byte-identical output from two runs, refusals.
#[path = "common/image.rs"]
mod image;
#[path = "common/live_node.rs"]
mod live_node;

use image::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

// ------------------------------------------------------------------ overlay

/// The `ty` overlay genapkovl makes for `arch`, when the overlay tools are
/// there (`what` names the test): its dir, inputs, listing, and the
/// directory it is extracted to.
fn built_overlay(
    what: &str,
    ty: &str,
    arch: &str,
) -> Option<(TempDir, Inputs, BTreeMap<String, Entry>, PathBuf)> {
    let (dir, inputs) = inputs_when(overlay_tools(what), &format!("ovl-{ty}"))?;
    let ovl = dir.path(&format!("out/{ty}.apkovl.tar.gz"));
    overlay(&inputs, &dir, ty, arch, &ovl);
    let root = dir.path("x");
    extract(&ovl, &root);
    Some((dir, inputs, listing(&ovl), root))
}

#[test]
fn target_overlay_listing_modes_owners_and_contents() {
    let (_dir, inputs, list, root) = or_skip!(built_overlay("target overlay", "target", "armhf"));

    for (path, e) in &list {
        assert_eq!(e.owner, "0/0", "{path} is not root's");
        assert_eq!(e.when, "2023-11-14 22:13:20", "{path}: mtime");
    }
    let mode = |p: &str| {
        list.get(p)
            .unwrap_or_else(|| panic!("{p} missing from the overlay: {:?}", list.keys()))
            .mode
            .clone()
    };
    for (path, want) in [
        ("root/", "drwx------"),
        ("root/.ssh/", "drwx------"),
        ("root/.ssh/authorized_keys", "-rw-------"),
        ("usr/bin/rccr", "-rwxr-xr-x"),
        ("etc/init.d/rccr-init", "-rwxr-xr-x"),
        ("etc/init.d/rccr-issue", "-rwxr-xr-x"),
        ("etc/init.d/rccr-persist", "-rwxr-xr-x"),
        ("usr/libexec/rccr/persist", "-rwxr-xr-x"),
        ("usr/libexec/rccr/net-hotplug", "-rwxr-xr-x"),
        ("usr/libexec/rccr/issue-hook", "-rwxr-xr-x"),
        ("etc/rccr/node-type", "-rw-r--r--"),
        ("etc/ssh/sshd_config.d/rccr.conf", "-rw-r--r--"),
        ("usr/share/licenses/rccr/LICENSE", "-rw-r--r--"),
        ("usr/share/licenses/rccr/THIRD-PARTY-NOTICES", "-rw-r--r--"),
    ] {
        assert_eq!(mode(path), want, "{path}");
    }
    assert!(
        !list.contains_key("root/.ssh/id_rsa"),
        "a target got the private key"
    );
    assert!(!list.contains_key("etc/rccr/cluster_config.yml"));
    for dir in list.keys().filter(|p| p.ends_with('/')) {
        let want = if dir.starts_with("root/") {
            "drwx------"
        } else {
            "drwxr-xr-x"
        };
        assert_eq!(mode(dir), want, "{dir}");
    }

    // The applet links rccr --install would make, as symbolic links.
    let links = applet_links();
    assert!(links.contains(&"rccr-init".to_string()), "{links:?}");
    for link in &links {
        let e = &list[&format!("usr/bin/{link}")];
        assert_eq!(e.link.as_deref(), Some("rccr"), "usr/bin/{link}");
    }
    // Services in their runlevels: rccr-persist and rccr-init at boot
    // (before networking and sshd), the rest where Alpine keeps them.
    for (level, service) in [
        ("sysinit", "modloop"),
        ("boot", "rccr-persist"),
        ("boot", "rccr-init"),
        ("boot", "hostname"),
        ("boot", "networking"),
        ("default", "sshd"),
        ("default", "rccr-issue"),
        ("default", "docker"),
        ("default", "ntpd"),
        ("shutdown", "killprocs"),
    ] {
        let e = &list[&format!("etc/runlevels/{level}/{service}")];
        assert_eq!(
            e.link.as_deref(),
            Some(format!("/etc/init.d/{service}").as_str())
        );
    }
    assert_no_clock_service(&list);

    // Alpine's udhcpc script runs every file of post-bound/ and
    // post-renew/ after a lease (its `[ -f ]` follows the link): the
    // banner shows an address that came after rccr-issue ran; and of
    // post-deconfig/ after it flushed one (a lease lost): the banner
    // drops it.
    for event in ["bound", "renew", "deconfig"] {
        let e = &list[&format!("etc/udhcpc/post-{event}/rccr-issue")];
        assert_eq!(
            e.link.as_deref(),
            Some("/usr/libexec/rccr/issue-hook"),
            "post-{event}"
        );
    }

    let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(read("etc/rccr/node-type"), "target\n");
    assert_eq!(read("etc/hostname"), "ReCyClusteR-Target\n");
    assert_eq!(
        fs::read(root.join("root/.ssh/authorized_keys")).unwrap(),
        fs::read(inputs.key.with_extension("pub")).unwrap()
    );
    assert_eq!(
        fs::read(root.join("usr/bin/rccr")).unwrap(),
        fs::read(&inputs.bin).unwrap()
    );
    let repo = repo();
    for (ours, theirs) in [
        ("etc/init.d/rccr-init", "src/init/rccr-init.openrc"),
        ("etc/init.d/rccr-issue", "src/init/rccr-issue.openrc"),
        (
            "etc/init.d/rccr-persist",
            "image-builder/base/os/rccr-persist.initd",
        ),
        (
            "usr/libexec/rccr/persist",
            "image-builder/base/os/persist.sh",
        ),
        (
            "usr/libexec/rccr/net-hotplug",
            "image-builder/base/os/net-hotplug.sh",
        ),
        (
            "usr/libexec/rccr/issue-hook",
            "image-builder/base/os/issue-hook.sh",
        ),
        ("etc/motd", "image-builder/target/motd"),
        ("usr/share/licenses/rccr/LICENSE", "LICENSE"),
    ] {
        assert_eq!(
            read(ours),
            fs::read_to_string(repo.join(theirs)).unwrap(),
            "{ours}"
        );
    }
    assert_eq!(
        fs::read(root.join("usr/share/licenses/rccr/THIRD-PARTY-NOTICES")).unwrap(),
        fs::read(&inputs.notices).unwrap()
    );
    // Alpine's sshd service makes no host key type rccr-init does not.
    assert_eq!(mode("etc/conf.d/sshd"), "-rw-r--r--");
    assert_lines(
        &read("etc/conf.d/sshd"),
        "sshd's settings",
        ["key_types_to_generate=\"ed25519\""],
    );
    let sshd = read("etc/ssh/sshd_config.d/rccr.conf");
    assert_has(&sshd, "\nPermitRootLogin prohibit-password\n");
    assert_has(&sshd, "\nPasswordAuthentication no\n");

    let mut want_world = packages("target", "armhf");
    want_world.push("alpine-base".into());
    // A Pi image adds Wi-Fi (image-builder/base/os/img-packages).
    want_world.extend(package_list("base/os", "img-packages", "armhf"));
    assert!(want_world.contains(&"wpa_supplicant".to_string()));
    want_world.sort();
    want_world.dedup();
    let world: Vec<String> = read("etc/apk/world").lines().map(String::from).collect();
    assert_eq!(world, want_world);
    // python3 rides in the offline repository for users' own playbooks;
    // rccr never installs it, and the target stays minimal.
    let carried = package_list("target", "carried", "armhf");
    assert_eq!(carried, ["python3"]);
    assert!(!world.iter().any(|p| carried.contains(p)), "{world:?}");

    let interfaces = read("etc/network/interfaces");
    assert_has(
        &interfaces,
        "auto eth0\niface eth0 inet dhcp\n\thostname ReCyClusteR-Target\n",
    );
    // Two cards on the LAN: one MAC per address, as setup's lab assumes.
    let lan = read("etc/sysctl.d/50-rccr-lan.conf");
    for line in [
        "net.ipv4.conf.all.arp_ignore = 1",
        "net.ipv4.conf.all.arp_announce = 2",
        "net.ipv4.conf.all.rp_filter = 2",
    ] {
        assert_has(&lan, &format!("\n{line}\n"));
    }
    assert_eq!(mode("etc/sysctl.d/50-rccr-lan.conf"), "-rw-r--r--");
    let lbu = read("etc/lbu/lbu.conf");
    assert_has(&lbu, "\nLBU_MEDIA=mmcblk0p1\n");
    assert_has(&lbu, "\nDELETEOLDCONFIGS=yes\n");
    let keep = read("etc/apk/protected_paths.d/rccr.list");
    let kept = [
        "+root/.ssh",
        "+root/.rccr",
        "+usr/bin/rccr",
        "+usr/libexec/rccr",
    ];
    assert_lines(&keep, "lbu's kept paths", kept);
    let links = links.iter().map(|link| format!("+usr/bin/{link}"));
    assert_lines(&keep, "lbu's kept paths", links);
}

#[test]
fn control_overlay_carries_the_private_key_and_the_cluster_config() {
    let (_dir, inputs, list, root) =
        or_skip!(built_overlay("control overlay", "control", "x86_64"));
    assert_eq!(list["root/.ssh/id_rsa"].mode, "-rw-------");
    assert_eq!(list["root/.ssh/id_rsa.pub"].mode, "-rw-r--r--");
    assert!(
        !list.contains_key("root/.ssh/authorized_keys"),
        "the control accepts the public temporary key"
    );
    assert!(!list.contains_key("etc/runlevels/default/docker"));
    assert_no_clock_service(&list);

    assert_eq!(
        fs::read(root.join("root/.ssh/id_rsa")).unwrap(),
        fs::read(&inputs.key).unwrap()
    );
    assert_eq!(
        fs::read(root.join("etc/rccr/cluster_config.yml")).unwrap(),
        fs::read(repo().join("cluster_config.yml")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/rccr/node-type")).unwrap(),
        "control\n"
    );
    let world = fs::read_to_string(root.join("etc/apk/world")).unwrap();
    let packages = [
        "alpine-base",
        "ansible",
        "nmap",
        "openssh-client",
        "openssh-server",
        "py3-yaml",
        "python3",
        "bash",
        "sudo",
    ];
    assert_lines(&world, "the world", packages);
    // Wi-Fi is for the Pi images only: a PC joins by wire.
    assert!(!world.contains("wpa_supplicant"), "{world}");
    // An ISO's boot media is read-only: rccr-persist finds LBU_MEDIA at boot.
    let lbu = fs::read_to_string(root.join("etc/lbu/lbu.conf")).unwrap();
    assert_has(&lbu, "\nLBU_MEDIA=\n");
    let interfaces = fs::read_to_string(root.join("etc/network/interfaces")).unwrap();
    assert_has(&interfaces, "\thostname ReCyClusteR-Control\n");
}

/// The event part of Alpine's udhcpc script (busybox's default.script):
/// the scripts of `$UDHCPC/pre-EVENT`, the event's own step (here the
/// address only: bound adds it, deconfig flushes it), then those of
/// `$UDHCPC/post-EVENT`, each run with no arguments.
const UDHCPC_EVENT: &str = r#"run_scripts() {
	if [ -d "$1" ]; then
		for i in "$1"/*; do
			[ -f "$i" ] && "$i"
		done
	fi
}
bound() { ip -4 addr add "$ip/$mask" dev "$interface"; }
deconfig() { ip -4 addr flush dev "$interface"; }
run_scripts "$UDHCPC/pre-$1"
"$1"
run_scripts "$UDHCPC/post-$1"
exit 0"#;

#[test]
fn the_overlays_udhcpc_hooks_put_a_lease_on_the_banner_and_take_it_off() {
    // The overlay's /etc/udhcpc links and issue hook, run as udhcpc's
    // script runs them, on a live system (a private /etc, /run and
    // network) with the real rccr-init: the banner lists the lease once
    // bound, and drops it once udhcpc has flushed it (deconfig: a lease
    // lost, refused or released).
    let (_dir, _inputs, _list, root) = or_skip!(built_overlay("udhcpc hooks", "target", "x86_64"));
    let node = or_skip!(live_node::LiveNode::start("udhcpc-hooks"));
    // The links, to the overlay's hook where this machine has no
    // /usr/libexec/rccr.
    let hook = root.join("usr/libexec/rccr/issue-hook");
    let udhcpc = node.path("udhcpc");
    for event in fs::read_dir(root.join("etc/udhcpc")).unwrap() {
        let event = event.unwrap().file_name();
        let link = root.join("etc/udhcpc").join(&event).join("rccr-issue");
        assert_eq!(
            fs::read_link(&link).unwrap(),
            Path::new("/usr/libexec/rccr/issue-hook")
        );
        fs::create_dir_all(udhcpc.join(&event)).unwrap();
        std::os::unix::fs::symlink(&hook, udhcpc.join(&event).join("rccr-issue")).unwrap();
    }
    let logged = node.path("logger.log");
    write(
        &node.path("bin/logger"),
        format!("#!/bin/sh\ncat >>'{}'\n", logged.display()),
    );
    fs::set_permissions(
        node.path("bin/logger"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let udhcpc_event = |event: &str| {
        let out = node
            .command("sh")
            .args(["-c", UDHCPC_EVENT, "default.script", event])
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", node.bin().display()),
            )
            .env("UDHCPC", &udhcpc)
            .env("interface", "v0")
            .env("ip", "10.9.8.7")
            .env("mask", "24")
            .env("ISSUE_HOOK_WAIT", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{event}: {}", show(&out));
        (
            node.banner(),
            fs::read_to_string(&logged).unwrap_or_default(),
        )
    };
    let (banner, said) = udhcpc_event("bound");
    assert!(
        banner.contains("Addresses: 10.9.8.7/24 (v0)\n"),
        "the lease bound is not on the banner:\n{banner}\nrccr-init said:\n{said}"
    );
    let (banner, said) = udhcpc_event("deconfig");
    assert!(
        banner.contains("Addresses: none yet\n") && !banner.contains("10.9.8.7"),
        "the lease flushed is still on the banner:\n{banner}\nrccr-init said:\n{said}"
    );
}

#[test]
fn overlay_is_byte_identical_from_two_runs() {
    let (dir, inputs) = or_skip!(inputs_when(
        overlay_tools("overlay reproducibility"),
        "ovl-repro"
    ));
    let first = dir.path("a/rccr.apkovl.tar.gz");
    overlay(&inputs, &dir, "control", "armv7", &first);
    // A second run: another umask, another working directory, inputs with
    // new timestamps.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fs::write(&inputs.bin, fs::read(&inputs.bin).unwrap()).unwrap();
    let second = dir.path("b/rccr.apkovl.tar.gz");
    fs::create_dir_all(second.parent().unwrap()).unwrap();
    let out = inputs
        .command(&dir, Path::new("sh"))
        .arg("-c")
        .arg("umask 077 && cd / && exec \"$0\" control armv7 \"$1\"")
        .arg(script("genapkovl.sh"))
        .arg(&second)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        fs::read(&first).unwrap() == fs::read(&second).unwrap(),
        "two runs gave different overlays"
    );
    // The timestamp is an input like the others.
    let third = dir.path("c/rccr.apkovl.tar.gz");
    let out = inputs
        .command(&dir, &script("genapkovl.sh"))
        .env("SOURCE_DATE_EPOCH", "1700000001")
        .args(["control", "armv7"])
        .arg(&third)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(fs::read(&first).unwrap() != fs::read(&third).unwrap());
}

#[test]
fn overlay_refuses_what_would_make_a_broken_node() {
    let (dir, inputs) = or_skip!(inputs_when(overlay_tools("overlay refusals"), "ovl-refuse"));
    let out_path = dir.path("o.tar.gz");

    let out = inputs
        .command(&dir, &script("genapkovl.sh"))
        .env("RCCR_INIT_SERVICE", dir.path("nope.openrc"))
        .args(["target", "x86_64"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_exit(&out, 1, "nope.openrc: missing");

    let bad_key = dir.path("bad/key");
    write(&bad_key, "not a key\n");
    write(&bad_key.with_extension("pub"), "not a key\n");
    let out = inputs
        .command(&dir, &script("genapkovl.sh"))
        .env("RCCR_TEMP_KEY", &bad_key)
        .args(["control", "x86_64"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_exit(&out, 1, "not an OpenSSH private key");

    let out = genapkovl(&inputs, &dir, "worker", "x86_64", &out_path);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = genapkovl(&inputs, &dir, "target", "sparc", &out_path);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(!out_path.exists());
}

#[test]
fn the_armhf_control_installs_no_ansible() {
    let Some((dir, inputs)) =
        inputs_when(overlay_tools("armhf control world"), "ovl-armhf-control")
    else {
        return;
    };
    for (arch, with_ansible) in [("armhf", false), ("armv7", true), ("rpi-aarch64", true)] {
        let ovl = dir.path(&format!("{arch}.tar.gz"));
        overlay(&inputs, &dir, "control", arch, &ovl);
        let root = dir.path(arch);
        extract(&ovl, &root);
        let world = fs::read_to_string(root.join("etc/apk/world")).unwrap();
        let world: Vec<&str> = world.lines().collect();
        for pkg in ["ansible", "python3", "py3-yaml"] {
            assert_eq!(
                world.contains(&pkg),
                with_ansible,
                "{arch}: {pkg} in {world:?}"
            );
        }
        for pkg in [
            "nmap",
            "openssh-client",
            "openssh-server",
            "alpine-base",
            "wpa_supplicant",
        ] {
            assert!(world.contains(&pkg), "{arch}: {pkg} missing from {world:?}");
        }
    }
}

/// An executable `name` in `dir`'s bin/ with the shell `body`.
fn stand_in(dir: &TempDir, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path(&format!("stand-ins/{name}"));
    write(&path, format!("#!/bin/sh\n{body}\n"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The applet links (rccr-init above all: every RCCR service of the image
/// runs /usr/bin/rccr-init) come from an rccr that runs here. With none,
/// or one whose --list names no rccr-init, the build used to go on and
/// write an overlay without them (the failure was in a pipe and in a for
/// loop's list); now it stops, exit 1, one line, no output.
#[test]
fn overlay_refuses_without_an_rccr_that_lists_rccr_init() {
    let (dir, inputs) = or_skip!(inputs_when(overlay_tools("overlay applets"), "ovl-applets"));
    // The repository without dist/: the script's last resort,
    // dist/rccr-<this machine's arch>, is missing too.
    let tree = dir.path("tree");
    fs::create_dir_all(&tree).unwrap();
    for name in ["image-builder", "src", "LICENSE", "Cargo.toml"] {
        std::os::unix::fs::symlink(repo().join(name), tree.join(name)).unwrap();
    }
    let no_list = stand_in(&dir, "no-list", "exit 1");
    let old_rccr = stand_in(&dir, "old-rccr", "printf 'rccr\\nrccr-scan\\n'");
    for (list_bin, says) in [
        (
            &no_list,
            "no runnable rccr to ask for --list (set RCCR_LIST_BIN)",
        ),
        (&old_rccr, "names no rccr-init"),
    ] {
        let out_path = dir.path("out/o.apkovl.tar.gz");
        let out = inputs
            .command(&dir, &tree.join("image-builder/scripts/genapkovl.sh"))
            .env("RCCR_LIST_BIN", list_bin)
            .args(["target", "armhf"])
            .arg(&out_path)
            .output()
            .unwrap();
        assert_exit(&out, 1, says);
        assert_eq!(text(&out.stderr).lines().count(), 1, "{}", show(&out));
        assert!(!dir.path("out").exists(), "{}", show(&out));
    }
}

/// A tar that fails while packing (here one that writes part of an archive
/// and exits 2) fails the build and leaves no output: piped into gzip, its
/// failure went unseen and the truncated archive was renamed into place.
#[test]
fn overlay_is_not_written_when_tar_fails() {
    let (dir, inputs) = or_skip!(inputs_when(overlay_tools("overlay tar failure"), "ovl-tar"));
    let real_tar = text(&ok(Command::new("sh").args(["-c", "command -v tar"])).stdout);
    let tar = stand_in(
        &dir,
        "tar",
        &format!(
            "case \"$1\" in --version) exec {} \"$@\" ;; esac\necho part of an archive\nexit 2",
            real_tar.trim()
        ),
    );
    let path = format!(
        "{}:{}",
        tar.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    let out_path = dir.path("out/o.apkovl.tar.gz");
    let out = inputs
        .command(&dir, &script("genapkovl.sh"))
        .env("PATH", path)
        .args(["target", "x86_64"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_exit(&out, 1, "tar cannot pack the overlay");
    let left: Vec<_> = fs::read_dir(dir.path("out")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}\n{}", show(&out));
}

/// No clock service in the overlay: Alpine's initramfs adds hwclock or
/// swclock at every boot, whichever the machine has a clock for (mkinitfs
/// initramfs-init.in, rtc_exists); one of ours besides would clash with it
/// (hwclock failing on an aarch64 board without an RTC, swclock next to a
/// Pi 5's RTC).
#[track_caller]
fn assert_no_clock_service(list: &BTreeMap<String, Entry>) {
    for service in ["hwclock", "swclock"] {
        for level in ["sysinit", "boot", "default"] {
            let path = format!("etc/runlevels/{level}/{service}");
            assert!(!list.contains_key(&path), "{path} is in the overlay");
        }
    }
}
