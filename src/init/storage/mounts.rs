//! The mount table (`/proc/mounts`) and the mounts rccr makes: the RCCR
//! filesystem at [`super::MOUNT_POINT`], and bind mounts of its
//! directories where the system expects them.
//!
//! Devices are compared by device number (`major:minor`, as sysfs names
//! them), not by name: `/proc/mounts` names a device as it was mounted.
pub use crate::fsutil::{parse_mounts as parse, Mount, PROC_MOUNTS};
use crate::init::Ctx;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The mount table under the root (empty when unreadable).
pub fn read(ctx: &Ctx) -> Vec<Mount> {
    fs::read_to_string(ctx.path(PROC_MOUNTS))
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// `major:minor` of a device node, as sysfs's `dev` files say it.
pub fn device_number(node: &Path) -> Option<String> {
    let meta = fs::metadata(node).ok()?;
    let rdev = meta.rdev();
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (meta.mode() & libc::S_IFMT == libc::S_IFBLK).then(|| format!("{major}:{minor}"))
}

/// The mounts of the device numbered `dev` (sources are looked up under
/// the root, as the kernel names them).
pub fn of_device<'a>(ctx: &Ctx, mounts: &'a [Mount], dev: &str) -> Vec<&'a Mount> {
    mounts
        .iter()
        .filter(|m| m.source.starts_with("/dev/"))
        .filter(|m| device_number(&ctx.path(&m.source)).as_deref() == Some(dev))
        .collect()
}

/// Whether something is mounted at `target`, a path of this machine.
pub fn at<'a>(mounts: &'a [Mount], target: &Path) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.target == target)
}

/// Runs `mount ARGS`; `Err` says why not.
pub fn mount(args: &[&str]) -> Result<(), String> {
    crate::init::run_tool("mount", args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_mounts_with_escapes() {
        let text = "tmpfs / tmpfs rw,relatime 0 0\n/dev/mmcblk0p1 /media/mmcblk0p1 vfat ro,relatime,fmask=0022 0 0\n/dev/sdb1 /media/my\\040disk ext4 rw 0 0\nbroken\n";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].source, "/dev/mmcblk0p1");
        assert_eq!(m[1].target, Path::new("/media/mmcblk0p1"));
        assert_eq!(m[1].fstype, "vfat");
        assert!(m[1].read_only());
        assert!(!m[0].read_only());
        assert_eq!(m[2].target, Path::new("/media/my disk"));
        assert_eq!(at(&m, Path::new("/media/my disk")), Some(&m[2]));
        assert_eq!(at(&m, Path::new("/media")), None);
    }

    #[test]
    fn device_numbers_of_nodes() {
        // /dev/null is 1:3 on Linux; a regular file has none.
        assert_eq!(
            device_number(Path::new("/dev/null")),
            None,
            "a character device"
        );
        assert_eq!(device_number(Path::new("/proc/self/status")), None);
    }
}
