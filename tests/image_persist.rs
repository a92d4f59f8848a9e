//! base/os/persist.sh, the boot-time choice of where lbu saves, and the
//! rule it keeps: whatever the order in which the disks appear, the boot
//! loads one and the same overlay, checked with Alpine's own search
//! (nlplug-findfs, initramfs-init) reproduced on synthetic disks for every
//! layout the images use.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// Runs persist.sh on a synthetic root: `mounts` is /proc/mounts, `findfs`
/// the body of the findfs stand-in; `mount` calls are logged to
/// `mount.log` and succeed.
fn persist(dir: &TempDir, mounts: &str, findfs: &str, arg: &str) -> Output {
    persist_command(dir, mounts, findfs, arg).output().unwrap()
}

/// The command [`persist`] runs.
fn persist_command(dir: &TempDir, mounts: &str, findfs: &str, arg: &str) -> Command {
    dir.write("proc-mounts", mounts);
    let stub = dir.path("findfs");
    write(&stub, format!("#!/bin/sh\n{findfs}\n"));
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    let mount = dir.path("mount");
    write(
        &mount,
        format!(
            "#!/bin/sh\necho \"$*\" >>'{}'\n",
            dir.path("mount.log").display()
        ),
    );
    fs::set_permissions(&mount, fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = Command::new(repo().join("image-builder/base/os/persist.sh"));
    cmd.arg(arg)
        .env("ROOT", dir.path("root"))
        .env("PROC_MOUNTS", dir.path("proc-mounts"))
        .env("FINDFS", &stub)
        .env("MOUNT", &mount)
        // The kernel's log: written only where the test makes the file,
        // never the host's /dev/kmsg.
        .env("KMSG", dir.path("kmsg"));
    cmd
}

/// What persist.sh wrote to the kernel's log (a test's `kmsg` file).
fn kmsg(dir: &TempDir) -> String {
    fs::read_to_string(dir.path("kmsg")).unwrap_or_default()
}

/// [`persist`], which must succeed.
fn persist_ok(dir: &TempDir, mounts: &str, findfs: &str, arg: &str) -> Output {
    let out = persist(dir, mounts, findfs, arg);
    assert!(out.status.success(), "{}", show(&out));
    out
}

fn mount_log(dir: &TempDir) -> String {
    fs::read_to_string(dir.path("mount.log")).unwrap_or_default()
}

/// A root (in a new dir tagged `tag`) booted from the medium at
/// `mount_point`, as the initramfs leaves it: a boot repository at its root.
fn booted_from(tag: &str, mount_point: &str) -> TempDir {
    let dir = TempDir::new(tag);
    dir.write(&format!("root{mount_point}/rccr-apks/.boot_repository"), "");
    dir
}

#[test]
fn persist_uses_a_writable_boot_medium() {
    let dir = booted_from("persist-pi", "/media/mmcblk0p1");
    dir.write(
        "root/etc/lbu/lbu.conf",
        "LBU_MEDIA=\nDELETEOLDCONFIGS=yes\n",
    );
    let mounts = "tmpfs / tmpfs rw 0 0\n/dev/mmcblk0p1 /media/mmcblk0p1 vfat ro,relatime 0 0\n";
    let out = persist_ok(&dir, mounts, "exit 1", "media");
    assert_eq!(text(&out.stdout), "mmcblk0p1\n");
    persist_ok(&dir, mounts, "exit 1", "boot");
    let conf = fs::read_to_string(dir.path("root/etc/lbu/lbu.conf")).unwrap();
    assert_eq!(conf, "LBU_MEDIA=mmcblk0p1\nDELETEOLDCONFIGS=yes\n");
    // lbu remounts the boot media itself (lbu.in, mount_once_rw).
    assert_eq!(mount_log(&dir), "");

    // A saved lbu.conf that pointed elsewhere on another machine.
    dir.write(
        "root/etc/lbu/lbu.conf",
        "LBU_MEDIA=\nLBU_BACKUPDIR=/media/sdb1/rccr-lbu\nDELETEOLDCONFIGS=yes\n",
    );
    persist_ok(&dir, mounts, "echo /dev/sdb1", "boot");
    let conf = fs::read_to_string(dir.path("root/etc/lbu/lbu.conf")).unwrap();
    assert_eq!(conf, "LBU_MEDIA=mmcblk0p1\nDELETEOLDCONFIGS=yes\n");
}

#[test]
fn persist_restores_the_saved_overlay_when_the_boot_medium_is_an_iso() {
    let dir = booted_from("persist-iso", "/media/cdrom");
    dir.write("root/etc/hostname", "ReCyClusteR-Target\n");
    dir.write("root/etc/lbu/lbu.conf", "LBU_MEDIA=\n");
    // What lbu commit saved on the RCCR partition: a rotated key.
    let saved = dir.path("saved");
    write(&saved.join("etc/hostname"), "ReCyClusteR-Target-4c0001\n");
    write(
        &saved.join("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA rotated\n",
    );
    tar_gz_of(
        &saved,
        &["etc", "root"],
        &dir.path("root/media/vdb1/rccr-lbu/ReCyClusteR-Target-4c0001.apkovl.tar.gz"),
    );
    let mounts = "tmpfs / tmpfs rw 0 0\n/dev/sr0 /media/cdrom iso9660 ro 0 0\n/dev/vdb1 /media/vdb1 vfat ro 0 0\n";
    let out = persist(&dir, mounts, "echo /dev/vdb1", "boot");
    assert_exit(&out, 0, "restoring the saved overlay");
    assert_eq!(
        fs::read_to_string(dir.path("root/root/.ssh/authorized_keys")).unwrap(),
        "ssh-ed25519 AAAA rotated\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path("root/etc/hostname")).unwrap(),
        "ReCyClusteR-Target-4c0001\n"
    );
    let conf = fs::read_to_string(dir.path("root/etc/lbu/lbu.conf")).unwrap();
    assert!(
        conf.contains("LBU_BACKUPDIR=/media/vdb1/rccr-lbu\n")
            && conf.contains("DELETEOLDCONFIGS=yes\n")
            && !conf.contains("LBU_MEDIA=vdb1"),
        "{conf}"
    );
    // The partition was mounted read-only by the initramfs: lbu writes it
    // without mounting anything for LBU_BACKUPDIR.
    let log = mount_log(&dir);
    assert_eq!(
        log,
        format!("-o remount,rw {}/media/vdb1\n", dir.path("root").display())
    );

    // Nowhere to save: a warning, and the boot goes on.
    let dir = booted_from("persist-none", "/media/cdrom");
    let out = persist(
        &dir,
        "/dev/sr0 /media/cdrom iso9660 ro 0 0\n",
        "exit 1",
        "boot",
    );
    assert_exit(&out, 0, "changes are lost at reboot");
    // A warning with a newline (here in the label) is one record in the
    // kernel's log, the newline a space; stderr keeps it.
    dir.write("kmsg", "");
    let mut cmd = persist_command(
        &dir,
        "/dev/sr0 /media/cdrom iso9660 ro 0 0\n",
        "exit 1",
        "boot",
    );
    let out = cmd.env("RCCR_DATA_LABEL", "RC\nCR").output().unwrap();
    assert_exit(&out, 0, "no partition is labelled RC\nCR\n");
    assert_eq!(
        kmsg(&dir),
        "<3>rccr-persist: WARNING: changes are lost at reboot: the boot media is read-only and no partition is labelled RC CR\n"
    );
    let out = persist(
        &dir,
        "/dev/sr0 /media/cdrom iso9660 ro 0 0\n",
        "exit 1",
        "media",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

#[test]
fn persist_mounts_the_rccr_partition_and_moves_an_old_overlay_off_its_root() {
    let dir = booted_from("persist-mount", "/media/cdrom");
    // An image before this layout saved at the partition's root; the
    // initramfs mounted it (it found an overlay there), read-only.
    dir.write("old/etc/hostname", "ReCyClusteR-Control-00aa01\n");
    tar_gz_of(
        &dir.path("old"),
        &["etc"],
        &dir.path("root/media/sdb1/ReCyClusteR-Control-00aa01.apkovl.tar.gz"),
    );
    let mounts =
        "/dev/sr0 /media/cdrom iso9660 ro 0 0\n/dev/sdb1 /media/sdb1 ext4 rw,relatime 0 0\n";
    let out = persist_ok(&dir, mounts, "echo /dev/sdb1", "media");
    assert_eq!(text(&out.stdout), "/media/sdb1/rccr-lbu\n");
    assert_eq!(mount_log(&dir), "", "already read-write");
    persist_ok(&dir, mounts, "echo /dev/sdb1", "boot");
    assert!(dir
        .path("root/media/sdb1/rccr-lbu/ReCyClusteR-Control-00aa01.apkovl.tar.gz")
        .is_file());
    assert!(!dir
        .path("root/media/sdb1/ReCyClusteR-Control-00aa01.apkovl.tar.gz")
        .exists());
    assert_eq!(
        fs::read_to_string(dir.path("root/etc/hostname")).unwrap(),
        "ReCyClusteR-Control-00aa01\n"
    );

    // A damaged saved overlay: a warning, and the boot goes on.
    dir.write(
        "root/media/sdb1/rccr-lbu/ReCyClusteR-Control-00aa01.apkovl.tar.gz",
        "not a tarball",
    );
    // The kernel's log (writable, as /dev/kmsg for root) gets the warning
    // too, as an error: the kernel prints it on every console=, even with
    // quiet, and OpenRC's output reaches only the last one.
    dir.write("kmsg", "");
    let out = persist(&dir, mounts, "echo /dev/sdb1", "boot");
    assert_exit(&out, 0, "not a readable overlay (damaged)");
    let warning = "WARNING: the changes saved in sdb1/rccr-lbu are not restored";
    assert_has(&text(&out.stderr), warning);
    assert_has(&kmsg(&dir), &format!("<3>rccr-persist: {warning}"));
    assert_eq!(kmsg(&dir).lines().count(), 1, "{}", kmsg(&dir));

    // Not mounted at all (nothing at its root): mounted read-write.
    let dir = booted_from("persist-mount-new", "/media/cdrom");
    persist_ok(
        &dir,
        "/dev/sr0 /media/cdrom iso9660 ro 0 0\n",
        "echo /dev/sdc1",
        "boot",
    );
    assert_eq!(
        mount_log(&dir),
        format!(
            "-o rw /dev/sdc1 {}/media/sdc1\n",
            dir.path("root").display()
        )
    );
    assert!(dir.path("root/media/sdc1/rccr-lbu").is_dir());
}

// ------------------------------------------------- which overlay boots

/// A disk as the initramfs sees it: its device name and the entries at the
/// root of its filesystem (a directory as `name/`, with `.boot_repository`
/// when it is a package repository).
#[derive(Clone, Debug)]
struct Disk {
    dev: &'static str,
    root: BTreeSet<String>,
}

/// The files a filesystem tree holds at depth 1 and 2, as `Disk::root`.
fn disk_from(dev: &'static str, tree: &Path) -> Disk {
    let mut root = BTreeSet::new();
    for e in fs::read_dir(tree).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            root.insert(format!("{name}/"));
            if e.path().join(".boot_repository").exists() {
                root.insert(format!("{name}/.boot_repository"));
            }
        } else {
            root.insert(name);
        }
    }
    Disk { dev, root }
}

/// The overlay Alpine's initramfs loads from disks that appear in this
/// order, as mkinitfs 3.12 does it:
/// - nlplug-findfs.c, `scandev()`: each new block device is mounted on
///   /media/DEV and `recurse_dir()` runs with maxdepth 1; `scandev_cb()`
///   appends every root entry matching `fnmatch("*.apkovl.tar.gz*")` to the
///   apkovls file, and notes a root directory that holds `.boot_repository`.
/// - `founddev()`: once a boot repository and an apkovl have both been seen,
///   the timeout drops to 0 and the search ends; disks that appear later
///   are not scanned. `all` = true models a slower stop (disks already in
///   the queue are scanned too).
/// - initramfs-init.in: without `apkovl=` on the command line,
///   `ovl=$(head -n 1 /tmp/apkovls)`.
fn loaded_overlay(disks: &[Disk], all: bool) -> Option<String> {
    let mut apkovls = Vec::new();
    let (mut repo, mut ovl) = (false, false);
    for disk in disks {
        for entry in &disk.root {
            let name = entry.trim_end_matches('/');
            if !entry.ends_with('/') && !name.contains('/') && name.contains(".apkovl.tar.gz") {
                apkovls.push(format!("/media/{}/{name}", disk.dev));
                ovl = true;
            }
            if entry.ends_with("/.boot_repository") {
                repo = true;
            }
        }
        if repo && ovl && !all {
            break;
        }
    }
    apkovls.into_iter().next()
}

fn orders(disks: &[Disk]) -> Vec<Vec<Disk>> {
    if disks.len() <= 1 {
        return vec![disks.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..disks.len() {
        let mut rest = disks.to_vec();
        let first = rest.remove(i);
        for mut tail in orders(&rest) {
            tail.insert(0, first.clone());
            out.push(tail);
        }
    }
    out
}

/// The overlays the boot may load from these disks, over every order and
/// both ways the search may stop.
fn possible_overlays(disks: &[Disk]) -> BTreeSet<Option<String>> {
    orders(disks)
        .iter()
        .flat_map(|o| [loaded_overlay(o, false), loaded_overlay(o, true)])
        .collect()
}

/// A node of one layout: the disks as trees under `dir/disks/DEV`, the
/// RAM root under `dir/root` with the boot media and the partitions mounted
/// where the initramfs leaves them (a symlink per mount).
struct Node {
    dir: TempDir,
    mounts: String,
    findfs: String,
}

const HOST_OVERLAY: &str = "ReCyClusteR-Target-4c0001.apkovl.tar.gz";
const IMAGE_OVERLAY: &str = "rccr.apkovl.tar.gz";

impl Node {
    /// `boot`: (device, filesystem) of the boot media, which holds the
    /// image's files; `data`: the partition labelled RCCR, if any.
    fn new(boot: (&'static str, &str), data: Option<(&'static str, &str)>) -> Self {
        let dir = TempDir::new("overlay-choice");
        let media = dir.path(&format!("disks/{}", boot.0));
        write(&media.join(IMAGE_OVERLAY), "image overlay");
        write(&media.join("rccr-apks/.boot_repository"), "");
        write(&media.join("boot/vmlinuz-lts"), "kernel");
        fs::create_dir_all(dir.path("root/media")).unwrap();
        std::os::unix::fs::symlink(&media, dir.path(&format!("root/media/{}", boot.0))).unwrap();
        let mut mounts = format!("/dev/{0} /media/{0} {1} ro 0 0\n", boot.0, boot.1);
        let mut findfs = "exit 1".to_string();
        if let Some((dev, fstype)) = data {
            let part = dir.path(&format!("disks/{dev}"));
            fs::create_dir_all(&part).unwrap();
            std::os::unix::fs::symlink(&part, dir.path(&format!("root/media/{dev}"))).unwrap();
            mounts.push_str(&format!("/dev/{dev} /media/{dev} {fstype} rw 0 0\n"));
            findfs = format!("echo /dev/{dev}");
        }
        Node {
            dir,
            mounts,
            findfs,
        }
    }

    /// The image's overlay booted, as a CD's or stick's: root's
    /// authorized_keys holds the temporary key (returned: its path) and lbu
    /// saves nowhere yet.
    fn booted_with_the_temporary_key(&self) -> std::path::PathBuf {
        let keys = self.dir.path("root/root/.ssh/authorized_keys");
        write(&keys, "ssh-rsa AAAA rccr-temporary-key\n");
        self.dir.write(
            "root/etc/lbu/lbu.conf",
            "LBU_MEDIA=\nDELETEOLDCONFIGS=yes\n",
        );
        keys
    }

    /// Boots: persist.sh decides; then `lbu commit` as lbu.in's cmd_commit
    /// does it: LBU_BACKUPDIR, else /media/LBU_MEDIA; DELETEOLDCONFIGS
    /// removes the *.apkovl.tar.gz* there first.
    fn boot_and_commit(&self) {
        persist_ok(&self.dir, &self.mounts, &self.findfs, "boot");
        let conf = fs::read_to_string(self.dir.path("root/etc/lbu/lbu.conf")).unwrap_or_default();
        let get = |k: &str| {
            conf.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or("")
                .to_string()
        };
        let target = match (get("LBU_BACKUPDIR"), get("LBU_MEDIA")) {
            (dir, _) if !dir.is_empty() => dir,
            (_, media) if !media.is_empty() => format!("/media/{media}"),
            _ => return, // nowhere to save: lbu commit fails, nothing changes
        };
        assert_eq!(get("DELETEOLDCONFIGS"), "yes", "{conf}");
        let target = self.dir.path(&format!("root{target}"));
        for e in fs::read_dir(&target).unwrap() {
            let p = e.unwrap().path();
            if p.to_string_lossy().contains(".apkovl.tar.gz") {
                fs::remove_file(p).unwrap();
            }
        }
        let saved = self.dir.path("saved");
        write(&saved.join("etc/hostname"), "ReCyClusteR-Target-4c0001\n");
        tar_gz_of(&saved, &["etc/hostname"], &target.join(HOST_OVERLAY));
    }

    fn disks(&self) -> Vec<Disk> {
        let mut devs: Vec<String> = fs::read_dir(self.dir.path("disks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        devs.sort();
        devs.into_iter()
            .map(|d| {
                let dev: &'static str = Box::leak(d.into_boxed_str());
                disk_from(dev, &self.dir.path(&format!("disks/{dev}")))
            })
            .collect()
    }

    /// The one overlay every order of the disks boots, or a panic.
    fn boots(&self, layout: &str) -> String {
        let possible = possible_overlays(&self.disks());
        assert_eq!(
            possible.len(),
            1,
            "{layout}: the overlay that boots depends on the disk order: {possible:?}"
        );
        possible
            .into_iter()
            .next()
            .unwrap()
            .unwrap_or_else(|| panic!("{layout}: no overlay boots"))
    }
}

#[test]
fn every_layout_boots_one_overlay_whatever_the_disk_order() {
    // ISO on a CD (or written with dd), and nothing to save to.
    let node = Node::new(("sr0", "iso9660"), None);
    assert_eq!(node.boots("ISO"), format!("/media/sr0/{IMAGE_OVERLAY}"));
    node.boot_and_commit();
    assert_eq!(node.boots("ISO"), format!("/media/sr0/{IMAGE_OVERLAY}"));

    // ISO and a partition labelled RCCR (FAT or ext4): the ISO's overlay
    // boots, before and after lbu commit; persist.sh restores the saved one.
    for fstype in ["vfat", "ext4"] {
        let node = Node::new(("sr0", "iso9660"), Some(("sdb1", fstype)));
        assert_eq!(
            node.boots("ISO + RCCR"),
            format!("/media/sr0/{IMAGE_OVERLAY}")
        );
        node.boot_and_commit();
        assert_eq!(
            node.boots("ISO + RCCR, committed"),
            format!("/media/sr0/{IMAGE_OVERLAY}")
        );
        assert!(node
            .dir
            .path(&format!("disks/sdb1/rccr-lbu/{HOST_OVERLAY}"))
            .is_file());
        // The next boot restores it.
        let out = persist(&node.dir, &node.mounts, &node.findfs, "boot");
        assert_exit(
            &out,
            0,
            &format!("restoring the saved overlay {HOST_OVERLAY}"),
        );
    }

    // An ISO that Rufus copied to a FAT stick (writable boot media), with and
    // without an RCCR partition: the stick's own, replaced by lbu.
    for data in [None, Some(("sdb1", "ext4"))] {
        let node = Node::new(("sda1", "vfat"), data);
        assert_eq!(node.boots("stick"), format!("/media/sda1/{IMAGE_OVERLAY}"));
        node.boot_and_commit();
        assert_eq!(
            node.boots("stick, committed"),
            format!("/media/sda1/{HOST_OVERLAY}")
        );
    }

    // A Raspberry Pi's SD card, alone and with the data partition labelled
    // RCCR on the same card (the node lifecycle's ext4 partition).
    for data in [None, Some(("mmcblk0p2", "ext4"))] {
        let node = Node::new(("mmcblk0p1", "vfat"), data);
        assert_eq!(
            node.boots("Pi"),
            format!("/media/mmcblk0p1/{IMAGE_OVERLAY}")
        );
        node.boot_and_commit();
        assert_eq!(
            node.boots("Pi, committed"),
            format!("/media/mmcblk0p1/{HOST_OVERLAY}")
        );
    }
}

/// A saved overlay on the node's disks at `at` (a path under the node's
/// dir): this node's name and its rotated key.
fn saved_state(node: &Node, at: &str) {
    let saved = node.dir.path("saved-state");
    write(&saved.join("etc/hostname"), "ReCyClusteR-Target-4c0001\n");
    write(
        &saved.join("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA rotated\n",
    );
    tar_gz_of(&saved, &["etc", "root"], &node.dir.path(at));
}

#[test]
fn a_writable_boot_medium_does_not_hide_the_state_saved_on_the_rccr_partition() {
    // A node set up from a CD or a dd stick keeps its state in rccr-lbu/ on
    // its RCCR disk (an older image's: at the disk's root); it is then
    // booted from an ISO that Rufus wrote to a FAT stick (writable).
    for at in [
        format!("disks/sdb1/rccr-lbu/{HOST_OVERLAY}"),
        format!("disks/sdb1/{HOST_OVERLAY}"),
    ] {
        let node = Node::new(("sda1", "vfat"), Some(("sdb1", "ext4")));
        saved_state(&node, &at);
        let keys = node.booted_with_the_temporary_key();

        let out = persist_ok(&node.dir, &node.mounts, &node.findfs, "media");
        assert_eq!(text(&out.stdout), "/media/sdb1/rccr-lbu\n", "{at}");
        let out = persist_ok(&node.dir, &node.mounts, &node.findfs, "boot");
        assert_has(&text(&out.stderr), "restoring the saved overlay");
        assert_eq!(
            fs::read_to_string(&keys).unwrap(),
            "ssh-ed25519 AAAA rotated\n",
            "{at}: the temporary key is accepted on a node that was set up"
        );
        let conf = fs::read_to_string(node.dir.path("root/etc/lbu/lbu.conf")).unwrap();
        assert!(
            conf.contains("LBU_BACKUPDIR=/media/sdb1/rccr-lbu\n")
                && !conf.contains("LBU_MEDIA=sda1"),
            "{at}: lbu saves elsewhere than the state it restored: {conf}"
        );
        // The saved state stays in one place; the stick boots its own.
        node.boot_and_commit();
        let names: Vec<String> = overlays_in(&node.dir.path("disks/sdb1/rccr-lbu"))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, [HOST_OVERLAY], "{at}");
        assert_eq!(
            node.boots("stick + saved state"),
            format!("/media/sda1/{IMAGE_OVERLAY}")
        );
    }

    // A medium the node has saved on (a Pi's card, a stick it used) keeps
    // its own state: an older overlay on an RCCR disk (another node's, or
    // this one's from before) is not what boots.
    let node = Node::new(("sda1", "vfat"), Some(("sdb1", "ext4")));
    saved_state(&node, &format!("disks/sdb1/rccr-lbu/{HOST_OVERLAY}"));
    let image = node.dir.path(&format!("disks/sda1/{IMAGE_OVERLAY}"));
    fs::rename(&image, node.dir.path(&format!("disks/sda1/{HOST_OVERLAY}"))).unwrap();
    let out = persist_ok(&node.dir, &node.mounts, &node.findfs, "media");
    assert_eq!(text(&out.stdout), "sda1\n", "the disk's older state won");

    // A stick labelled RCCR itself: its overlay is the boot's, not saved
    // state to move away.
    let node = Node::new(("sda1", "vfat"), None);
    let out = persist_ok(&node.dir, &node.mounts, "echo /dev/sda1", "media");
    assert_eq!(text(&out.stdout), "sda1\n");
    assert!(node
        .dir
        .path(&format!("disks/sda1/{IMAGE_OVERLAY}"))
        .is_file());
}

#[test]
fn the_search_model_sees_two_overlays_race() {
    // The layout before this rule: lbu saved at the RCCR partition's root.
    // Which overlay boots depends on the order: the check above would fail.
    let iso = Disk {
        dev: "sr0",
        root: [IMAGE_OVERLAY, "rccr-apks/", "rccr-apks/.boot_repository"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let data = Disk {
        dev: "sdb1",
        root: [HOST_OVERLAY.to_string()].into_iter().collect(),
    };
    let possible = possible_overlays(&[iso.clone(), data.clone()]);
    assert_eq!(
        possible,
        [
            Some(format!("/media/sr0/{IMAGE_OVERLAY}")),
            Some(format!("/media/sdb1/{HOST_OVERLAY}")),
        ]
        .into_iter()
        .collect()
    );
    // The search stops at the first disk with both an overlay and a
    // repository: with the ISO first, the partition is not even scanned.
    assert_eq!(
        loaded_overlay(&[iso, data], false),
        Some(format!("/media/sr0/{IMAGE_OVERLAY}"))
    );
}

/// The booted root of an ISO node: the image's overlay (a target's, with
/// its temporary key), unpacked as the initramfs leaves it, and the files
/// the initramfs made: the world it installed and this boot's repository.
fn booted_image(dir: &TempDir) -> Option<std::path::PathBuf> {
    if !overlay_tools("persist restore") {
        return None;
    }
    let inputs = Inputs::new(dir);
    let ovl = dir.path("image.apkovl.tar.gz");
    overlay(&inputs, dir, "target", "x86_64", &ovl);
    let root = dir.path("root");
    extract(&ovl, &root);
    write(
        &root.join("etc/apk/repositories"),
        "/media/cdrom/rccr-apks\n",
    );
    write(&root.join("media/cdrom/rccr-apks/.boot_repository"), "");
    Some(root)
}

const ISO_AND_RCCR: &str =
    "tmpfs / tmpfs rw 0 0\n/dev/sr0 /media/cdrom iso9660 ro 0 0\n/dev/sdb1 /media/sdb1 ext4 rw 0 0\n";

#[test]
fn an_older_saved_overlay_does_not_replace_the_booted_images_software() {
    let dir = TempDir::new("persist-upgrade");
    let Some(root) = booted_image(&dir) else {
        return;
    };
    // What lbu saved under an older image: all the paths it keeps, the
    // image's software among them, and this node's state.
    let saved = dir.path("saved");
    ok(Command::new("cp").arg("-a").arg(&root).arg(&saved));
    let mut software = Vec::new();
    let mut members = Vec::new();
    for (path, entry) in listing(&dir.path("image.apkovl.tar.gz")) {
        members.push(path.clone());
        if path.ends_with('/') || entry.link.is_some() {
            continue;
        }
        // The image's own: all it installs outside /etc and /root, its
        // services, the paths lbu keeps and the sshd policy.
        let image_owned = !path.starts_with("etc/") && !path.starts_with("root/")
            || path.starts_with("etc/init.d/rccr-")
            || path == "etc/apk/protected_paths.d/rccr.list"
            || path == "etc/ssh/sshd_config.d/rccr.conf";
        if image_owned {
            write(&saved.join(&path), "from an older image\n");
            software.push(path);
        }
    }
    assert!(
        software.contains(&"usr/bin/rccr".to_string()),
        "{software:?}"
    );
    assert!(
        software.contains(&"etc/init.d/rccr-init".to_string()),
        "{software:?}"
    );
    // An applet an older rccr had, as a file where the image has a link.
    fs::remove_file(saved.join("usr/bin/rccr-init")).unwrap();
    write(&saved.join("usr/bin/rccr-init"), "from an older image\n");
    // State: the rotated key, the name, a host key, a package added later
    // (and none of the image's new ones), a repository of an earlier boot.
    let state = [
        ("root/.ssh/authorized_keys", "ssh-ed25519 AAAA rotated\n"),
        ("etc/hostname", "ReCyClusteR-Target-4c0001\n"),
        ("etc/ssh/ssh_host_ed25519_key", "host key\n"),
        ("etc/apk/world", "alpine-base\nhtop\n"),
        ("etc/apk/repositories", "/media/sr0/rccr-apks\n"),
    ];
    for (path, content) in state {
        write(&saved.join(path), content);
    }
    members.extend(state.iter().map(|(p, _)| p.to_string()));
    members.retain(|m| saved.join(m).exists() || saved.join(m).is_symlink());
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    tar_gz_of(
        &saved,
        &members,
        &dir.path(&format!("root/media/sdb1/rccr-lbu/{HOST_OVERLAY}")),
    );
    let image_world = fs::read_to_string(root.join("etc/apk/world")).unwrap();

    let out = persist_ok(&dir, ISO_AND_RCCR, "echo /dev/sdb1", "boot");
    assert_has(&text(&out.stderr), "restoring the saved overlay");

    let image = dir.path("image");
    extract(&dir.path("image.apkovl.tar.gz"), &image);
    for path in &software {
        assert_eq!(
            String::from_utf8_lossy(&fs::read(root.join(path)).unwrap()),
            String::from_utf8_lossy(&fs::read(image.join(path)).unwrap()),
            "{path}: the saved copy replaced the booted image's"
        );
    }
    assert_eq!(
        fs::read_link(root.join("usr/bin/rccr-init")).unwrap(),
        Path::new("rccr")
    );
    for (path, content) in &state[..3] {
        assert_eq!(
            fs::read_to_string(root.join(path)).unwrap(),
            *content,
            "{path}"
        );
    }
    // The packages: the booted image's, then the one added later.
    assert_eq!(
        fs::read_to_string(root.join("etc/apk/world")).unwrap(),
        format!("{image_world}htop\n")
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/apk/repositories")).unwrap(),
        "/media/cdrom/rccr-apks\n/media/sr0/rccr-apks\n"
    );
    assert_eq!(
        fs::metadata(root.join("usr/bin/rccr"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o755
    );
}

/// An ISO node (in a new dir tagged `tag`) whose booted root holds the
/// account files `image`, as this boot's packages left them, and whose RCCR
/// partition holds an overlay lbu saved of the account files `saved` (the
/// shadow files with their mode on Alpine, 0640).
fn accounts_node(tag: &str, image: &[(&str, &str)], saved: &[(&str, &str)]) -> TempDir {
    let dir = booted_from(tag, "/media/cdrom");
    for (path, content) in image {
        dir.write(&format!("root/{path}"), content);
    }
    let saved_root = dir.path("saved");
    for (path, content) in saved {
        let file = saved_root.join(path);
        write(&file, content);
        if path.ends_with("shadow") {
            fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        }
    }
    tar_gz_of(
        &saved_root,
        &["etc"],
        &dir.path(&format!("root/media/sdb1/rccr-lbu/{HOST_OVERLAY}")),
    );
    dir
}

#[test]
fn the_restore_keeps_the_accounts_the_booted_images_packages_made() {
    // The ISO's packages were installed over the image's overlay: a newer
    // image's package made its system user and group (newsvc) there.
    let image = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/ash\nsshd:x:22:22:sshd:/dev/null:/sbin/nologin\nnewsvc:x:101:101:newsvc:/var/empty:/sbin/nologin\n",
        ),
        ("etc/group", "root:x:0:root\nsshd:x:22:\nnewsvc:x:101:\n"),
        (
            "etc/shadow",
            "root:*::0:::::\nsshd:!::0:::::\nnewsvc:!::0:::::\n",
        ),
    ];
    // Saved under the older image: root's changed shell and password, a
    // user added on the node, no newsvc.
    let saved_passwd = "root:x:0:0:root:/root:/bin/sh\nsshd:x:22:22:sshd:/dev/null:/sbin/nologin\nadmin:x:1000:1000:admin:/home/admin:/bin/ash\n";
    let saved_group = "root:x:0:root\nsshd:x:22:\nadmin:x:1000:\n";
    let saved_shadow =
        "root:$6$salt$hash:20000:0:::::\nsshd:!::0:::::\nadmin:!:20000:0:99999:7:::\n";
    let dir = accounts_node(
        "persist-accounts",
        &image,
        &[
            ("etc/passwd", saved_passwd),
            ("etc/group", saved_group),
            ("etc/shadow", saved_shadow),
        ],
    );

    let out = persist_ok(&dir, ISO_AND_RCCR, "echo /dev/sdb1", "boot");
    assert_has(&text(&out.stderr), "restoring the saved overlay");
    let read = |path: &str| fs::read_to_string(dir.path(&format!("root/{path}"))).unwrap();
    // The saved entries, then the image's names the saved files lack.
    assert_eq!(
        read("etc/passwd"),
        format!("{saved_passwd}newsvc:x:101:101:newsvc:/var/empty:/sbin/nologin\n")
    );
    assert_eq!(read("etc/group"), format!("{saved_group}newsvc:x:101:\n"));
    assert_eq!(
        read("etc/shadow"),
        format!("{saved_shadow}newsvc:!::0:::::\n")
    );
    assert_eq!(
        fs::metadata(dir.path("root/etc/shadow"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
}

/// A directory of busybox applet links, put first on PATH so that a script
/// runs with the tools an Alpine node has; None when busybox is missing.
fn busybox_tools(dir: &TempDir) -> Option<std::path::PathBuf> {
    if !require("persist under busybox", &[("/bin/busybox", "busybox")]) {
        return None;
    }
    let bin = dir.path("busybox-bin");
    fs::create_dir_all(&bin).unwrap();
    let busybox = Path::new("/bin/busybox");
    for applet in [
        "sh", "awk", "tar", "gzip", "cp", "cat", "mv", "rm", "mkdir", "mktemp", "sed", "touch",
        "dirname", "hostname", "sync",
    ] {
        std::os::unix::fs::symlink(busybox, bin.join(applet)).unwrap();
    }
    Some(bin)
}

/// `cmd` (a [`persist_command`]) run by `shell`: "host" as it is, "busybox"
/// by busybox's sh with busybox's tools first on PATH, as on a node; None
/// when busybox is missing.
fn under_shell(shell: &str, dir: &TempDir, cmd: Command) -> Option<Command> {
    if shell == "host" {
        return Some(cmd);
    }
    let bin = busybox_tools(dir)?;
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let script = repo().join("image-builder/base/os/persist.sh");
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.unwrap().to_owned()))
        .collect();
    let mut busybox = Command::new(bin.join("sh"));
    busybox.arg(script).args(args).envs(envs).env("PATH", path);
    Some(busybox)
}

/// `persist.sh boot` under `shell`, which must succeed (None where
/// busybox is missing, as `under_shell` says).
fn boot_ok(shell: &str, dir: &TempDir, mounts: &str, findfs: &str) -> Option<Output> {
    let cmd = persist_command(dir, mounts, findfs, "boot");
    let out = under_shell(shell, dir, cmd)?.output().unwrap();
    assert!(out.status.success(), "{shell}: {}", show(&out));
    Some(out)
}

/// What the kernel's log does with persist.sh's warnings in
/// [`the_restore_adds_no_account_whose_id_is_taken_and_joins_group_members`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Log {
    /// Writes them (a file).
    Takes,
    /// Passes `-w` but refuses the open.
    Refuses,
    /// Takes them, and persist.sh's stderr is closed.
    StderrClosed,
}

/// `cmd` run with its stderr closed (as on a console that went away).
fn closing_stderr(cmd: Command) -> Command {
    let mut closed = Command::new("sh");
    closed
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 2>&-")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(
            cmd.get_envs()
                .map(|(k, v)| (k.to_owned(), v.unwrap().to_owned())),
        );
    closed
}

#[test]
fn the_restore_adds_no_account_whose_id_is_taken_and_joins_group_members() {
    // Under the host's shell and tools, then busybox's, as on a node; with
    // the kernel's log taking the warnings, then refusing them, then with
    // stderr closed: neither failure stops the restore.
    for (shell, case) in ["host", "busybox"]
        .into_iter()
        .flat_map(|shell| [Log::Takes, Log::Refuses, Log::StderrClosed].map(|case| (shell, case)))
    {
        // This boot's packages made newsvc (UID and GID 1000), newgrp
        // (GID 101) with its user svc3, and svc2 (UID 102), and put newsvc
        // in video.
        let image = [
            (
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/ash\nnewsvc:x:1000:1000:newsvc:/var/empty:/sbin/nologin\nsvc2:x:102:102:svc2:/var/empty:/sbin/nologin\nsvc3:x:103:101:svc3:/var/empty:/sbin/nologin\n",
            ),
            (
                "etc/group",
                "root:x:0:root\nvideo:x:27:root,newsvc\nnewsvc:x:1000:\nnewgrp:x:101:\nsvc2:x:102:\n",
            ),
            (
                "etc/shadow",
                "root:*::0:::::\nnewsvc:!::0:::::\nsvc2:!::0:::::\nsvc3:!::0:::::\n",
            ),
            (
                "etc/gshadow",
                "root:::root\nvideo:::root,newsvc\nnewsvc:!::\nnewgrp:!::\nsvc2:!::\n",
            ),
        ];
        // Saved: a user added on the node holds UID and GID 1000, GID 101 is
        // a group of its own, video has members of its own.
        let saved_passwd =
            "root:x:0:0:root:/root:/bin/sh\nadmin:x:1000:1000:admin:/home/admin:/bin/ash\n";
        let saved_group = "root:x:0:root\nvideo:x:27:admin\nadmin:x:1000:\nlocal:x:101:admin\n";
        let saved_shadow = "root:$6$salt$hash:20000:0:::::\nadmin:!:20000:0:99999:7:::\n";
        let saved_gshadow = "root:::root\nvideo:::admin\nadmin:!::\nlocal:!::admin\n";
        let dir = accounts_node(
            &format!("persist-ids-{shell}-{case:?}"),
            &image,
            &[
                ("etc/passwd", saved_passwd),
                ("etc/group", saved_group),
                ("etc/shadow", saved_shadow),
                ("etc/gshadow", saved_gshadow),
            ],
        );

        if case == Log::Refuses {
            // A directory passes -w and cannot be opened for writing, as
            // /dev/kmsg for root under printk.devkmsg=off.
            fs::create_dir(dir.path("kmsg")).unwrap();
        } else {
            dir.write("kmsg", "");
        }
        let cmd = persist_command(&dir, ISO_AND_RCCR, "echo /dev/sdb1", "boot");
        let Some(cmd) = under_shell(shell, &dir, cmd) else {
            return;
        };
        let out = if case == Log::StderrClosed {
            closing_stderr(cmd)
        } else {
            cmd
        }
        .output()
        .unwrap();
        assert!(out.status.success(), "{shell} {case:?}: {}", show(&out));
        let warnings = [
            "etc/passwd: the booted image's newsvc is not added: UID 1000 is admin's in the saved one",
            // svc3's UID is free, but its group's GID is local's: added, it
            // would own local's files.
            "etc/passwd: the booted image's svc3 is not added: its GID 101 is local's in the saved group",
            "etc/group: the booted image's newsvc is not added: GID 1000 is admin's in the saved one",
            "etc/group: the booted image's newgrp is not added: GID 101 is local's in the saved one",
        ]
        .map(|w| format!("rccr-persist: WARNING: {w}"));
        let stderr = text(&out.stderr);
        if case == Log::StderrClosed {
            assert_eq!(stderr, "", "{shell}");
        } else {
            assert_has(&stderr, "restoring the saved overlay");
            let said: Vec<_> = stderr.lines().filter(|l| l.contains("WARNING")).collect();
            assert_eq!(said, warnings, "{shell} {case:?}: {stderr}");
        }
        // Each warning is also one error record in the kernel's log.
        if case == Log::Refuses {
            assert_eq!(fs::read_dir(dir.path("kmsg")).unwrap().count(), 0);
        } else {
            let records: Vec<_> = warnings.iter().map(|w| format!("<3>{w}")).collect();
            assert_eq!(
                kmsg(&dir).lines().collect::<Vec<_>>(),
                records,
                "{shell} {case:?}"
            );
        }
        let read = |path: &str| fs::read_to_string(dir.path(&format!("root/{path}"))).unwrap();
        assert_eq!(
            read("etc/passwd"),
            format!("{saved_passwd}svc2:x:102:102:svc2:/var/empty:/sbin/nologin\n"),
            "{shell} {case:?}"
        );
        assert_eq!(
            read("etc/group"),
            "root:x:0:root\nvideo:x:27:admin,root,newsvc\nadmin:x:1000:\nlocal:x:101:admin\nsvc2:x:102:\n",
            "{shell} {case:?}"
        );
        assert_eq!(
            read("etc/shadow"),
            format!("{saved_shadow}svc2:!::0:::::\n"),
            "{shell} {case:?}"
        );
        assert_eq!(
            read("etc/gshadow"),
            "root:::root\nvideo:::admin,root,newsvc\nadmin:!::\nlocal:!::admin\nsvc2:!::\n",
            "{shell} {case:?}"
        );
    }
}

/// The files of a directory (not its subdirectories), by name, with their
/// bytes.
fn files_in(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn saved_changes_that_cannot_be_restored_are_kept_and_the_temporary_key_refused() {
    let second = "ReCyClusteR-Target-4c0002.apkovl.tar.gz";
    let unfinished = format!("{HOST_OVERLAY}.new");
    let encrypted = format!("{HOST_OVERLAY}.aes-256-cbc");
    // Each case: the files in rccr-lbu/, and what the boot says of them.
    let cases = [
        (
            vec![(HOST_OVERLAY, "an overlay"), (second, "another")],
            "more than one saved overlay",
        ),
        (
            vec![(HOST_OVERLAY, "not a tarball")],
            "not a readable overlay",
        ),
        (
            vec![(unfinished.as_str(), "half")],
            "not an overlay lbu finished",
        ),
        (
            vec![(encrypted.as_str(), "Salted__")],
            "not an overlay lbu finished",
        ),
    ];
    for (files, says) in cases {
        let case = files[0].0;
        let node = Node::new(("sr0", "iso9660"), Some(("sdb1", "ext4")));
        let saved = node.dir.path("disks/sdb1/rccr-lbu");
        for (name, content) in &files {
            write(&saved.join(name), content);
        }
        let before = files_in(&saved);
        let keys = node.booted_with_the_temporary_key();

        let out = persist(&node.dir, &node.mounts, &node.findfs, "boot");
        assert_exit(&out, 0, says);
        assert_has(
            &text(&out.stderr),
            "WARNING: the changes saved in sdb1/rccr-lbu are not restored",
        );
        assert!(
            !keys.exists(),
            "{case}: the temporary key is still accepted"
        );
        let conf = fs::read_to_string(node.dir.path("root/etc/lbu/lbu.conf")).unwrap();
        assert!(
            !conf.lines().any(|l| l.starts_with("LBU_BACKUPDIR=")
                || l.starts_with("LBU_MEDIA=") && l != "LBU_MEDIA="),
            "{case}: lbu would replace the saved changes: {conf}"
        );
        // rccr-init's lbu commit of this boot saves nothing over them.
        node.boot_and_commit();
        let after = files_in(&saved);
        assert_eq!(after, before, "{case}: the saved changes were replaced");
    }
}

/// Stand-ins for `persist commit`, in DIR/bin: `lbu package FILE` writes
/// "new overlay" to FILE (any other use fails), `hostname` names the node,
/// and `sync` counts its calls and, at call STOP_AT, kills the script that
/// called it: a power cut once everything before that sync is on the disk.
fn commit_stand_ins(dir: &TempDir) -> std::path::PathBuf {
    let bin = dir.path("bin");
    for (name, body) in [
        (
            "lbu",
            "[ \"$1\" = package ] && [ $# -eq 2 ] || exit 3\nprintf 'new overlay' >\"$2\"",
        ),
        ("hostname", "echo ReCyClusteR-Target-4c0001"),
        (
            "sync",
            "n=$(($(cat \"$0.count\" 2>/dev/null || echo 0) + 1))\necho $n >\"$0.count\"\n[ \"$n\" != \"${STOP_AT:-}\" ] || kill -9 $PPID",
        ),
    ] {
        let path = bin.join(name);
        write(&path, format!("#!/bin/sh\n{body}\n"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// Runs `persist commit` on a node, cut at its `stop_at`-th sync (0: not
/// cut); returns whether it finished.
fn commit_on(node: &Node, stop_at: usize) -> Output {
    let bin = commit_stand_ins(&node.dir);
    let _ = fs::remove_file(bin.join("sync.count"));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    persist_command(&node.dir, &node.mounts, &node.findfs, "commit")
        .env("PATH", path)
        .env("LBU", bin.join("lbu"))
        .env("STOP_AT", stop_at.to_string())
        // A cut leaves its work files, as in a node's RAM: here, the test's.
        .env("TMPDIR", node.dir.path(""))
        .output()
        .unwrap()
}

/// The overlays in a directory of the node's disks: name and bytes.
fn overlays_in(dir: &Path) -> Vec<(String, String)> {
    files_in(dir)
        .into_iter()
        .filter(|(name, _)| name.contains(".apkovl.tar.gz"))
        .map(|(name, bytes)| (name, String::from_utf8_lossy(&bytes).into_owned()))
        .collect()
}

#[test]
fn a_commit_cut_short_leaves_the_old_overlay_or_the_new_one() {
    // What rccr ran before: lbu commit, DELETEOLDCONFIGS=yes. It removes
    // the card's overlays first and writes the new one seconds later; cut
    // in between, the card boots no overlay (bare Alpine: no sshd, none of
    // the node's keys).
    let node = Node::new(("mmcblk0p1", "vfat"), None);
    fs::remove_file(node.dir.path(&format!("disks/mmcblk0p1/{IMAGE_OVERLAY}"))).unwrap();
    assert_eq!(
        possible_overlays(&node.disks()),
        [None].into_iter().collect()
    );

    // persist commit, cut after each of its syncs, and not cut.
    for stop_at in [1, 2, 3, 0] {
        // A Pi: the image's overlay on the card, mounted read-only.
        let node = Node::new(("mmcblk0p1", "vfat"), None);
        persist_ok(&node.dir, &node.mounts, &node.findfs, "boot");
        let out = commit_on(&node, stop_at);
        assert_eq!(out.status.code().is_none(), stop_at != 0, "{}", show(&out));
        let possible = possible_overlays(&node.disks());
        let card = node.dir.path("disks/mmcblk0p1");
        for overlay in &possible {
            let Some(overlay) = overlay else {
                panic!("cut at sync {stop_at}: no overlay boots: {}", show(&out));
            };
            let name = overlay.rsplit('/').next().unwrap();
            let bytes = fs::read_to_string(card.join(name)).unwrap();
            assert!(
                (name, bytes.as_str()) == (IMAGE_OVERLAY, "image overlay")
                    || (name, bytes.as_str()) == (HOST_OVERLAY, "new overlay"),
                "cut at sync {stop_at}: {name} holds {bytes:?}"
            );
        }
        if stop_at == 0 {
            assert!(out.status.success(), "{}", show(&out));
            assert_eq!(
                overlays_in(&card),
                [(HOST_OVERLAY.to_string(), "new overlay".to_string())]
            );
            assert!(!card.join(".rccr-commit.part").exists());
            let root = node.dir.path("root/media/mmcblk0p1");
            assert_eq!(
                mount_log(&node.dir),
                format!("-o remount,rw {0}\n-o remount,ro {0}\n", root.display()),
                "lbu's remount, and back"
            );
        }
    }

    // An ISO with its RCCR partition: an earlier commit of this node in
    // rccr-lbu/, replaced in place; the restore at the next boot always
    // finds one overlay.
    for stop_at in [1, 2, 3, 0] {
        let node = Node::new(("sr0", "iso9660"), Some(("sdb1", "ext4")));
        let saved = node.dir.path("disks/sdb1/rccr-lbu");
        write(&saved.join(HOST_OVERLAY), "old overlay");
        node.dir.write(
            "root/etc/lbu/lbu.conf",
            "LBU_BACKUPDIR=/media/sdb1/rccr-lbu\nDELETEOLDCONFIGS=yes\n",
        );
        let out = commit_on(&node, stop_at);
        assert_eq!(out.status.code().is_none(), stop_at != 0, "{}", show(&out));
        let left = overlays_in(&saved);
        assert_eq!(left.len(), 1, "cut at sync {stop_at}: {left:?}");
        assert!(
            left[0].1 == "old overlay" || left[0].1 == "new overlay",
            "cut at sync {stop_at}: {left:?}"
        );
        if stop_at == 0 {
            assert!(out.status.success(), "{}", show(&out));
            assert_eq!(left[0].1, "new overlay");
            assert_eq!(
                mount_log(&node.dir),
                "",
                "lbu mounts nothing for LBU_BACKUPDIR"
            );
        }
    }

    // Nowhere to save (an ISO without an RCCR partition): it fails, as lbu.
    let node = Node::new(("sr0", "iso9660"), None);
    persist_ok(&node.dir, &node.mounts, &node.findfs, "boot");
    let out = commit_on(&node, 0);
    assert_exit(&out, 1, "nowhere to save");
}

/// `service`'s link in the boot runlevel under `root`, as rc_add (genapkovl,
/// initramfs-init) makes it.
fn rc_add_boot(root: &Path, service: &str) {
    let runlevel = root.join("etc/runlevels/boot");
    fs::create_dir_all(&runlevel).unwrap();
    std::os::unix::fs::symlink(format!("/etc/init.d/{service}"), runlevel.join(service)).unwrap();
}

/// The services of the boot runlevel under `root`, sorted.
fn boot_services(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root.join("etc/runlevels/boot"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// An ISO with its RCCR partition booted (persist.sh boot, under `shell`,
/// which must succeed): the initramfs added `chosen` to the boot runlevel,
/// `/dev/{rtc}` is there now (if any), and the overlay saved on the RCCR
/// partition holds the clock services `saved`.
fn iso_clock_boot(
    tag: &str,
    shell: &str,
    chosen: &str,
    rtc: Option<&str>,
    saved: &[&str],
) -> (TempDir, Output) {
    let dir = booted_from(tag, "/media/cdrom");
    rc_add_boot(&dir.path("root"), chosen);
    if let Some(rtc) = rtc {
        dir.write(&format!("root/dev/{rtc}"), "");
    }
    for service in saved {
        rc_add_boot(&dir.path("saved"), service);
    }
    tar_gz_of(
        &dir.path("saved"),
        &["etc"],
        &dir.path(&format!("root/media/sdb1/rccr-lbu/{HOST_OVERLAY}")),
    );
    let out = boot_ok(shell, &dir, ISO_AND_RCCR, "echo /dev/sdb1").unwrap();
    (dir, out)
}

const PI_MOUNTS: &str =
    "tmpfs / tmpfs rw 0 0\n/dev/mmcblk0p1 /media/mmcblk0p1 vfat ro,relatime 0 0\n";

#[test]
fn an_upgraded_node_keeps_the_clock_service_the_initramfs_chose() {
    // Alpine's initramfs adds hwclock to the boot runlevel when /dev/rtc or
    // /dev/rtc[0-9]* exists, swclock when not (initramfs-init.in,
    // rtc_exists); an overlay saved by an older image carries the one that
    // image chose. Under the host's shell and tools, then busybox's.
    for shell in ["host", "busybox"] {
        for rtc in [true, false] {
            let chosen = if rtc { "hwclock" } else { "swclock" };
            let dropped = if rtc { "swclock" } else { "hwclock" };
            // A Pi: the initramfs loaded the saved overlay (an older image's
            // swclock) from the card, then added its own choice.
            let dir = booted_from(
                &format!("persist-clock-pi-{shell}-{rtc}"),
                "/media/mmcblk0p1",
            );
            let root = dir.path("root");
            for service in ["swclock", "hwclock", "modules"] {
                rc_add_boot(&root, service);
            }
            if rtc {
                dir.write("root/dev/rtc0", "");
            }
            let Some(out) = boot_ok(shell, &dir, PI_MOUNTS, "exit 1") else {
                return;
            };
            let mut kept = [chosen, "modules"];
            kept.sort();
            assert_eq!(
                boot_services(&root),
                kept,
                "{shell}, RTC {rtc}: {}",
                show(&out)
            );
            assert_has(&text(&out.stderr), &format!("{dropped} removed"));

            // An ISO: an older ISO's overlay (its own hwclock, and the
            // swclock its initramfs added on a machine without an RTC),
            // saved on the RCCR partition, restored over this boot's choice.
            let (dir, out) = iso_clock_boot(
                &format!("persist-clock-iso-{shell}-{rtc}"),
                shell,
                chosen,
                rtc.then_some("rtc"),
                &["hwclock", "swclock"],
            );
            let root = dir.path("root");
            assert_has(&text(&out.stderr), "restoring the saved overlay");
            assert_eq!(
                boot_services(&root),
                [chosen],
                "{shell}, RTC {rtc}: {}",
                show(&out)
            );
        }

        // An ISO whose RTC driver came after the initramfs' test (a module
        // the initramfs lacks): the initramfs added swclock, and /dev/rtc0
        // is there now. The initramfs' choice stays, not the restored
        // hwclock, or every boot would repeat the repair.
        let (dir, out) = iso_clock_boot(
            &format!("persist-clock-iso-late-{shell}"),
            shell,
            "swclock",
            Some("rtc0"),
            &["hwclock"],
        );
        let root = dir.path("root");
        assert_eq!(boot_services(&root), ["swclock"], "{shell}: {}", show(&out));
        assert_has(&text(&out.stderr), "hwclock removed");

        // A link that cannot be removed (here a directory) stays, with a
        // warning; the boot goes on.
        let dir = booted_from(&format!("persist-clock-stuck-{shell}"), "/media/mmcblk0p1");
        let root = dir.path("root");
        rc_add_boot(&root, "hwclock");
        dir.write("root/etc/runlevels/boot/swclock/keep", "");
        dir.write("root/dev/rtc0", "");
        let out = boot_ok(shell, &dir, PI_MOUNTS, "exit 1").unwrap();
        assert_eq!(boot_services(&root), ["hwclock", "swclock"], "{shell}");
        assert_has(
            &text(&out.stderr),
            "WARNING: swclock stays in the boot runlevel",
        );

        // One clock service: the initramfs' choice, left alone even where
        // the RTC's driver came after it (a module the initramfs lacks).
        let dir = booted_from(&format!("persist-clock-one-{shell}"), "/media/mmcblk0p1");
        let root = dir.path("root");
        rc_add_boot(&root, "swclock");
        dir.write("root/dev/rtc0", "");
        let out = boot_ok(shell, &dir, PI_MOUNTS, "exit 1").unwrap();
        assert_eq!(boot_services(&root), ["swclock"], "{shell}");
        assert!(!text(&out.stderr).contains("removed"), "{}", show(&out));
    }
}
