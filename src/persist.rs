//! Making a change survive a reboot. RCCR's Alpine images run diskless:
//! the root filesystem is in RAM, and only what `lbu commit` saves to the
//! boot media comes back. Every part of rccr that must persist a change
//! (rccr-init, a rotation's commit on a node, a rename, the control's
//! state) asks here.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where a change ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persisted {
    /// The root filesystem is on a disk: nothing more to do.
    Disk,
    /// Saved with `lbu commit`.
    Lbu,
    /// The root filesystem is in RAM and `lbu commit` failed: the change
    /// is lost at the next reboot.
    LbuFailed,
    /// The root filesystem is in RAM and there is no `lbu`.
    Volatile,
}

impl Persisted {
    /// The node protocol's word for it (`remote.sh` prints the same).
    pub fn as_str(self) -> &'static str {
        match self {
            Persisted::Disk => "disk",
            Persisted::Lbu => "lbu",
            Persisted::LbuFailed => "lbu-failed",
            Persisted::Volatile => "volatile",
        }
    }

    /// The node protocol's `word` ([`Persisted::as_str`]) parsed: `None`,
    /// the unknown case, for anything else a node may say.
    pub fn of(word: &str) -> Option<Persisted> {
        Some(match word {
            "disk" => Persisted::Disk,
            "lbu" => Persisted::Lbu,
            "lbu-failed" => Persisted::LbuFailed,
            "volatile" => Persisted::Volatile,
            _ => return None,
        })
    }
}

/// Whether `/` is a RAM filesystem in a `/proc/mounts` text (the last
/// mount on `/` wins).
pub fn root_in_ram(mounts: &str) -> bool {
    root_is(mounts, &["tmpfs", "ramfs", "rootfs"])
}

/// Roots that keep no change over a reboot unless `lbu` saves it: RAM file
/// systems, and the layered roots of live and read-only systems (Raspberry
/// Pi OS's overlay file system, overlayroot, a live image: a tmpfs upper
/// layer, or a read-only squashfs), which come back from their lower layer.
const VOLATILE_WITHOUT_LBU: &[&str] = &["tmpfs", "ramfs", "rootfs", "overlay", "aufs", "squashfs"];

/// The file systems a root on a disk is of. Only these outvote a failed
/// `lbu commit`: an overlay (Alpine's `overlaytmpfs`, a tmpfs upper
/// layer), squashfs or anything unknown may be in RAM, where trusting the
/// disk would lose the change at the next reboot.
const DISK_FILE_SYSTEMS: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs", "nilfs2", "bcachefs",
];

/// Whether `/` is on a disk file system ([`DISK_FILE_SYSTEMS`]) in a
/// `/proc/mounts` text (the last mount on `/` wins).
pub fn root_on_disk(mounts: &str) -> bool {
    root_is(mounts, DISK_FILE_SYSTEMS)
}

/// Whether `/` is of one of the file system `types` in a `/proc/mounts`
/// text (the last mount on `/` wins).
fn root_is(mounts: &str, types: &[&str]) -> bool {
    held_on(mounts, Path::new("/"), types)
}

/// Whether the mount holding `path` ([`crate::fsutil::mount_holding`]) is
/// of one of the file system `types` in a `/proc/mounts` text.
fn held_on(mounts: &str, path: &Path, types: &[&str]) -> bool {
    let mounts = crate::fsutil::parse_mounts(mounts);
    crate::fsutil::mount_holding(&mounts, path).is_some_and(|m| types.contains(&m.fstype.as_str()))
}

/// Whether this system's root is in RAM.
pub fn live_root_in_ram() -> bool {
    root_in_ram(&live_mounts())
}

/// This system's `/proc/mounts` text (empty when unreadable).
fn live_mounts() -> String {
    std::fs::read_to_string(crate::fsutil::PROC_MOUNTS).unwrap_or_default()
}

/// Alpine's `lbu`: on PATH, else where Alpine installs it.
pub fn lbu() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("lbu"))
        .chain(["/sbin/lbu", "/usr/sbin/lbu"].map(PathBuf::from))
        .find(|candidate| candidate.is_file())
}

/// The helper of RCCR's OS images that saves like `lbu commit`, but
/// never leaves the boot media without an overlay
/// (`image-builder/base/os/persist.sh`, `persist commit`).
pub const COMMIT_HELPER: &str = "/usr/libexec/rccr/persist";

/// Saves the system's changes where `lbu` exists (adding `include` to its
/// list first), quietly, and says where they ended up: a root in RAM
/// keeps them only if `lbu` saved them, a root on a disk keeps them.
pub fn commit(include: &[&Path]) -> Persisted {
    commit_with(
        lbu().as_deref(),
        Path::new(COMMIT_HELPER),
        &live_mounts(),
        include,
    )
}

/// [`commit`] with this `lbu` (if any), helper and `/proc/mounts` text.
/// A root on a disk keeps the change whatever `lbu` says: Alpine installed
/// to disk has `lbu` too, with no medium to save to (its `commit` fails).
/// Without `lbu`, a layered root ([`VOLATILE_WITHOUT_LBU`]) counts as in
/// RAM: taken for a disk, a rotation there would say `rotated` and the
/// node take the temporary key again after a reboot.
/// The mount judged is the one holding the first of `include` (links
/// resolved; a node's ~/.ssh: a tmpfs home on a root on disk is lost at a
/// reboot), else `/`.
fn commit_with(lbu: Option<&Path>, helper: &Path, mounts: &str, include: &[&Path]) -> Persisted {
    let changed = include.first().map_or("/".into(), |path| {
        path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
    });
    let on = |types| held_on(mounts, &changed, types);
    match lbu.map(|lbu| save(lbu, helper, include)) {
        Some(Persisted::LbuFailed) if on(DISK_FILE_SYSTEMS) => Persisted::Disk,
        Some(saved) => saved,
        None if on(VOLATILE_WITHOUT_LBU) => Persisted::Volatile,
        None => Persisted::Disk,
    }
}

/// `lbu include` of each path, then `HELPER commit` where the helper
/// exists, else `lbu commit`. `lbu commit` removes the saved overlay
/// before it writes the new one, seconds later: a power cut in between
/// leaves a Raspberry Pi with none (bare Alpine at the next boot).
fn save(lbu: &Path, helper: &Path, include: &[&Path]) -> Persisted {
    let quiet = |program: &Path, args: &[&std::ffi::OsStr]| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    for path in include {
        let _ = quiet(lbu, &["include".as_ref(), path.as_os_str()]);
    }
    let program = if helper.is_file() { helper } else { lbu };
    if quiet(program, &["commit".as_ref()]) {
        Persisted::Lbu
    } else {
        Persisted::LbuFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_root_is_detected_from_proc_mounts() {
        let diskless = "rootfs / rootfs rw 0 0\ntmpfs / tmpfs rw,relatime 0 0\n/dev/mmcblk0p1 /media/mmcblk0p1 vfat ro 0 0\n";
        assert!(root_in_ram(diskless));
        let disk = "rootfs / rootfs rw 0 0\n/dev/sda2 / ext4 rw 0 0\n";
        assert!(!root_in_ram(disk));
        assert!(!root_in_ram(""));
    }

    /// A stand-in that logs its name and arguments, and exits `code`.
    fn stand_in(dir: &Path, name: &str, code: i32) -> PathBuf {
        let path = dir.join(name);
        let log = dir.join("log");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho {name} \"$*\" >>'{}'\nexit {code}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path
    }

    #[test]
    fn the_images_helper_commits_when_it_is_there_else_lbu() {
        let dir = std::env::temp_dir().join(format!("rccr-persist-save-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = || std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        let lbu = stand_in(&dir, "lbu", 0);
        let helper = stand_in(&dir, "persist", 0);
        let ssh = Path::new("/root/.ssh");
        assert_eq!(save(&lbu, &helper, &[ssh]), Persisted::Lbu);
        assert_eq!(log(), "lbu include /root/.ssh\npersist commit\n");

        std::fs::remove_file(dir.join("log")).unwrap();
        assert_eq!(save(&lbu, &dir.join("no-such-helper"), &[]), Persisted::Lbu);
        assert_eq!(log(), "lbu commit\n");

        let failing = stand_in(&dir, "persist", 1);
        assert_eq!(save(&lbu, &failing, &[]), Persisted::LbuFailed);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_root_on_a_disk_keeps_the_change_though_lbu_cannot_save() {
        let dir = std::env::temp_dir().join(format!("rccr-persist-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let none = dir.join("no-such-helper");
        let failing = stand_in(&dir, "lbu", 1);
        let saving = stand_in(&dir, "lbu-ok", 0);
        let disk = "/dev/sda3 / ext4 rw,relatime 0 0\n/dev/sda1 /boot ext4 rw 0 0\n";
        let ram = "tmpfs / tmpfs rw,relatime 0 0\n/dev/sdb1 /media/sdb1 vfat ro 0 0\n";
        // Alpine installed to disk: lbu is there, with no medium to save to.
        assert_eq!(
            commit_with(Some(&failing), &none, disk, &[]),
            Persisted::Disk
        );
        assert_eq!(commit_with(Some(&saving), &none, disk, &[]), Persisted::Lbu);
        assert_eq!(commit_with(None, &none, disk, &[]), Persisted::Disk);
        // Diskless: what lbu says.
        assert_eq!(
            commit_with(Some(&failing), &none, ram, &[]),
            Persisted::LbuFailed
        );
        assert_eq!(commit_with(Some(&saving), &none, ram, &[]), Persisted::Lbu);
        assert_eq!(commit_with(None, &none, ram, &[]), Persisted::Volatile);
        // Alpine's overlaytmpfs: an overlay on `/` whose upper layer is a
        // tmpfs. In RAM, whatever its type says: lbu's word stands.
        let overlay = "tmpfs /media/root-rw tmpfs rw 0 0\noverlay / overlay rw,lowerdir=/media/root-ro,upperdir=/media/root-rw/root,workdir=/media/root-rw/work 0 0\n";
        assert_eq!(
            commit_with(Some(&failing), &none, overlay, &[]),
            Persisted::LbuFailed
        );
        // Without lbu, a layered root (Raspberry Pi OS's overlay file
        // system, a live image) comes back from its lower layer: in RAM.
        let layered = [
            overlay,
            "overlayroot / overlay rw,lowerdir=/media/root-ro,upperdir=/media/root-rw/overlay 0 0\n",
            "none / aufs rw,br:/cow=rw:/rofs=ro 0 0\n",
            "/dev/loop0 / squashfs ro 0 0\n",
        ];
        for mounts in layered {
            assert_eq!(
                commit_with(None, &none, mounts, &[]),
                Persisted::Volatile,
                "{mounts}"
            );
        }
        // What changed is judged where it is: a home on a tmpfs over a
        // root on a disk is lost at a reboot, one on a disk under a
        // layered root is kept, and a RAM root mounted later over the
        // lot hides it (the lab's diskless hosts).
        let home = Path::new("/nonexistent-rccr-home/.ssh");
        let tmpfs_home = "/dev/sda1 / ext4 rw 0 0\ntmpfs /nonexistent-rccr-home tmpfs rw 0 0\n";
        assert_eq!(
            commit_with(None, &none, tmpfs_home, &[home]),
            Persisted::Volatile
        );
        assert_eq!(
            commit_with(Some(&failing), &none, tmpfs_home, &[home]),
            Persisted::LbuFailed
        );
        let disk_home = format!("{overlay}/dev/sda2 /nonexistent-rccr-home ext4 rw 0 0\n");
        assert_eq!(
            commit_with(None, &none, &disk_home, &[home]),
            Persisted::Disk
        );
        let ram_over = format!("{disk_home}tmpfs / tmpfs rw 0 0\n");
        assert_eq!(
            commit_with(None, &none, &ram_over, &[home]),
            Persisted::Volatile
        );
        // Anything else it does not know stays a disk, as before.
        let zfs = "rpool/ROOT/debian / zfs rw 0 0\n";
        assert_eq!(commit_with(None, &none, zfs, &[]), Persisted::Disk);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn words_are_the_node_protocols() {
        let words: Vec<&str> = [
            Persisted::Disk,
            Persisted::Lbu,
            Persisted::LbuFailed,
            Persisted::Volatile,
        ]
        .iter()
        .map(|p| p.as_str())
        .collect();
        assert_eq!(words, ["disk", "lbu", "lbu-failed", "volatile"]);
        for word in words {
            assert_eq!(Persisted::of(word).map(Persisted::as_str), Some(word));
        }
        for other in ["", "Disk", "disk ", "unknown"] {
            assert_eq!(Persisted::of(other), None, "{other:?}");
        }
    }
}
