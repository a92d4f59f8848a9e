//! test-image.sh's checks of a booted ISO node, run against stand-ins: QEMU
//! records the data disk each VM gets, ssh answers as a node would (its
//! answers set by the test), so that each check is seen to pass on a node
//! that is right and to fail on one that is not.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::process::{Output, Stdio};

/// QEMU: records its pid, its port (port.N) and its data disk (disk.N:
/// size, and whether its first 5 MiB, what rccr-storage reads, are blank),
/// marks the VM up and runs on. ssh: logs the remote command and answers
/// it; after a reboot the temporary key is refused. sleep: returns at once.
const STAND_INS: [(&str, &str); 5] = [
    (
        "qemu-system-x86_64",
        r#"n=$(($(ls "$STANDIN" | grep -c '^qemu\.[0-9]*\.pid$') + 1))
for a in "$@"; do
	case "$a" in
		*hostfwd=tcp:127.0.0.1:*) port=${a##*127.0.0.1:} port=${port%%-*} ;;
		file=*,if=virtio) disk=${a#file=} disk=${disk%%,*} ;;
	esac
done
if cmp -s -n 5242880 "$disk" /dev/zero; then blank=blank; else blank=written; fi
echo "$(wc -c <"$disk") $blank" >"$STANDIN/disk.$n"
echo "$port" >"$STANDIN/port.$n"
: >"$STANDIN/up.$port"
echo $$ >"$STANDIN/qemu.$n.pid"
exec /bin/sleep 600"#,
    ),
    (
        "ssh",
        r#"port='' key=''
while [ $# -gt 0 ]; do
	case "$1" in
		-p) port=$2; shift ;;
		-i) key=$2; shift ;;
		root@127.0.0.1) shift; break ;;
	esac
	shift
done
[ -e "$STANDIN/up.$port" ] || exit 255
printf '%s\n' "$*" >>"$STANDIN/ssh.log"
case "$key" in
	*temp_key) [ ! -e "$STANDIN/rebooted.$port" ] || exit 255 ;;
esac
case "$*" in
	true | 'docker --version' | 'test -x'* | *'test -x /etc/init.d/'*) ;;
	'rccr --version') echo 'rccr 9.9.9' ;;
	hostname) echo ReCyClusteR-Target-00aa11 ;;
	'ls /etc/ssh/ssh_host_*_key') echo /etc/ssh/ssh_host_ed25519_key ;;
	'sshd -T') printf '%s\n' 'passwordauthentication no' 'kbdinteractiveauthentication no' 'permitrootlogin without-password' ;;
	*'"/media/rccr"'*) echo "$NODE_RCCR_MOUNT" ;;
	*'"/var/lib/docker"'*) printf '%s' "$NODE_BINDS" ;;
	*LBU_BACKUPDIR*)
		if [ "$port" = "$(cat "$STANDIN/port.1")" ]; then echo "$NODE_LBU_A"; else echo /media/vda/rccr-lbu; fi
		;;
	*'docker info'*) [ -n "$NODE_DOCKER_INFO" ] && echo "$NODE_DOCKER_INFO" ;;
	*'rc-service docker status'*) echo 'status: crashed'; exit 3 ;;
	reboot) : >"$STANDIN/rebooted.$port" ;;
	'ls /media/rccr/rccr-lbu/'*) echo 1 ;;
	'for d in /media/'*) ;;
	*) echo "unknown command: $*" >>"$STANDIN/unknown.log" ;;
esac"#,
    ),
    (
        "ssh-keyscan",
        r#"port=''
while [ $# -gt 0 ]; do [ "$1" != -p ] || port=$2; shift; done
echo "127.0.0.1 ssh-ed25519 AAAAkey$port""#,
    ),
    ("mkfs.vfat", r#"echo "$*" >>"$STANDIN/mkfs.log""#),
    ("sleep", "exit 0"),
];

/// How the stand-in node answers.
struct Node {
    rccr_mount: &'static str,
    binds: &'static str,
    lbu_a: &'static str,
    docker_info: &'static str,
}

const RIGHT: Node = Node {
    rccr_mount: "/dev/vda1 ext4",
    binds: "/var/lib/docker /dev/vda1 ext4 /var/lib/rccr /dev/vda1 ext4 ",
    lbu_a: "/media/rccr/rccr-lbu",
    docker_info: "/var/lib/docker overlay2",
};

/// Runs `test-image.sh qemu` on a target ISO (BIOS only) against the
/// stand-ins; returns its output and the stand-ins' directory.
fn boot_test(node: &Node) -> (Output, TempDir) {
    let dir = TempDir::new("test-image-checks");
    let (mut cmd, _) = test_image_qemu(&dir, &STAND_INS, &["--timeout", "30"]);
    let out = cmd
        .env("NODE_RCCR_MOUNT", node.rccr_mount)
        .env("NODE_BINDS", node.binds)
        .env("NODE_LBU_A", node.lbu_a)
        .env("NODE_DOCKER_INFO", node.docker_info)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        fs::read_dir(dir.path("tmp")).unwrap().next().is_none(),
        "test-image.sh left its work directory"
    );
    (out, dir)
}

#[test]
fn the_first_node_boots_with_a_blank_disk_and_a_running_dockerd() {
    let (out, dir) = boot_test(&RIGHT);
    let said = text(&out.stderr);
    assert!(out.status.success(), "{}", show(&out));
    for ok in [
        "ok: rccr-storage made the ext4 RCCR filesystem on the blank disk (/dev/vda1 ext4)",
        "ok: /var/lib/docker and /var/lib/rccr are bound from the RCCR filesystem",
        "ok: lbu saves to rccr-lbu/ on the RCCR filesystem",
        "ok: dockerd answers, its data in /var/lib/docker on overlay2",
        "ok: second boot: lbu saves to rccr-lbu/ on the FAT disk",
        "ok: one overlay saved in rccr-lbu/ on the RCCR filesystem",
    ] {
        assert_has(&said, ok);
    }
    // dockerd is asked after the first boot and after the reboot.
    assert_count(&said, "ok: dockerd answers", 2);
    // The first VM's disk is blank and large enough for rccr-storage (1
    // GiB and 1 MiB); the second one's is made FAT, labelled RCCR.
    let standin = dir.path("standin");
    assert_eq!(
        fs::read_to_string(standin.join("disk.1")).unwrap(),
        format!("{} blank\n", 2u64 << 30)
    );
    let mkfs = fs::read_to_string(standin.join("mkfs.log")).unwrap();
    assert_eq!(mkfs.lines().count(), 1, "{mkfs}");
    assert!(
        mkfs.starts_with("-n RCCR ") && mkfs.trim_end().ends_with("/b-bios.data"),
        "{mkfs}"
    );
    assert!(
        !standin.join("unknown.log").exists(),
        "{}",
        fs::read_to_string(standin.join("unknown.log")).unwrap_or_default()
    );
}

#[test]
fn a_fat_rccr_disk_or_a_dockerd_that_does_not_answer_fails_the_boot_test() {
    // What the old FAT disk gave: persist mounted the whole disk itself,
    // nothing bound, and a dockerd that never answers.
    let node = Node {
        rccr_mount: "",
        binds: "",
        lbu_a: "/media/vda/rccr-lbu",
        docker_info: "",
    };
    let (out, _dir) = boot_test(&node);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    for failure in [
        "FAIL: /media/rccr is '', not an ext4 partition of the blank disk /dev/vda",
        "FAIL: /var/lib/docker and /var/lib/rccr are bound from the RCCR filesystem",
        "FAIL: lbu saves to rccr-lbu/ on the RCCR filesystem: '/media/vda/rccr-lbu'",
        "FAIL: dockerd does not answer docker info in 30 s (first boot)",
        "FAIL: dockerd does not answer docker info in 30 s (after the reboot)",
    ] {
        assert_has(&said, failure);
    }
    // Each check on its own: an ext4 mount elsewhere than the blank disk,
    // and a dockerd keeping its data in RAM.
    let node = Node {
        rccr_mount: "/dev/sdb1 ext4",
        docker_info: "/var/lib/docker vfs",
        ..RIGHT
    };
    let (out, _dir) = boot_test(&node);
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_has(
        &said,
        "FAIL: /media/rccr is '/dev/sdb1 ext4', not an ext4 partition of the blank disk /dev/vda",
    );
    assert_has(
        &said,
        "FAIL: dockerd answers, but not with its data in /var/lib/docker on overlay2 or overlayfs: '/var/lib/docker vfs'",
    );
}

#[test]
fn docker_29s_overlayfs_snapshotter_passes_the_boot_test() {
    let node = Node {
        docker_info: "/var/lib/docker overlayfs",
        ..RIGHT
    };
    let (out, _dir) = boot_test(&node);
    assert!(out.status.success(), "{}", show(&out));
    assert_count(
        &text(&out.stderr),
        "ok: dockerd answers, its data in /var/lib/docker on overlayfs",
        2,
    );
}
