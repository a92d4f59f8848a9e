//! The kernel's view of block devices, from sysfs: `/sys/block/<disk>/`
//! for each whole disk (size, logical block size, read-only flag) with one
//! subdirectory per partition it knows (`partition`, `start`, `size`).
//! sysfs counts sizes and starts in 512-byte units, whatever the disk's
//! block size. Device nodes are `/dev/<name>`, a `!` in a sysfs name
//! standing for `/` (`cciss!c0d0` is `/dev/cciss/c0d0`).
use std::fs;
use std::path::{Path, PathBuf};

pub const SYS_BLOCK: &str = "/sys/block";
/// sysfs's unit for `size` and `start`.
pub const SYSFS_SECTOR: u64 = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The kernel's name: `sda1`, `mmcblk0p2`.
    pub name: String,
    pub number: u32,
    /// In bytes.
    pub start: u64,
    pub size: u64,
    /// `major:minor`.
    pub dev: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub name: String,
    /// In bytes.
    pub size: u64,
    /// The unit of the partition table's block numbers.
    pub block_size: u64,
    pub read_only: bool,
    pub dev: String,
    /// Device mapper or md uses it or one of its partitions (`holders/`).
    pub held: bool,
    pub partitions: Vec<Partition>,
}

impl Disk {
    /// `/dev/<name>` as a node path.
    pub fn node(&self) -> String {
        node(&self.name)
    }

    pub fn partition(&self, number: u32) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.number == number)
    }

    /// Whether `name` (a partition or the disk itself) is on this disk.
    pub fn holds(&self, name: &str) -> bool {
        self.name == name || self.partitions.iter().any(|p| p.name == name)
    }

    /// Devices that are not disks one would store data on, by kernel name:
    /// loop (Alpine's modloop is one), RAM and compressed-RAM disks, device
    /// mapper and md arrays (built from other disks), network block
    /// devices, optical drives, floppies, raw flash.
    pub fn is_virtual(&self) -> bool {
        const PREFIXES: &[&str] = &[
            "loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd", "mtdblock", "ubiblock",
        ];
        PREFIXES.iter().any(|p| self.name.starts_with(p))
    }
}

/// `/dev/<name>` for a kernel name.
pub fn node(name: &str) -> String {
    format!("/dev/{}", name.replace('!', "/"))
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn read_u64(path: &Path) -> Option<u64> {
    read_trimmed(path)?.parse().ok()
}

/// Whether a sysfs device directory has holders (dm, md).
fn held(dir: &Path) -> bool {
    fs::read_dir(dir.join("holders")).is_ok_and(|mut rd| rd.next().is_some())
}

/// One disk from its sysfs directory.
pub fn read_disk(dir: &Path, name: &str) -> Option<Disk> {
    let size = read_u64(&dir.join("size"))?.checked_mul(SYSFS_SECTOR)?;
    let block_size = read_u64(&dir.join("queue/logical_block_size")).unwrap_or(SYSFS_SECTOR);
    let mut any_held = held(dir);
    let partitions: Vec<Partition> = sorted_entries(dir)?
        .into_iter()
        .filter_map(|pdir| {
            any_held |= pdir.join("partition").exists() && held(&pdir);
            let number = read_u64(&pdir.join("partition"))?;
            Some(Partition {
                name: pdir.file_name()?.to_str()?.to_string(),
                number: u32::try_from(number).ok()?,
                start: read_u64(&pdir.join("start"))?.checked_mul(SYSFS_SECTOR)?,
                size: read_u64(&pdir.join("size"))?.checked_mul(SYSFS_SECTOR)?,
                dev: read_trimmed(&pdir.join("dev"))?,
            })
        })
        .collect();
    Some(Disk {
        name: name.to_string(),
        size,
        block_size: block_size.max(SYSFS_SECTOR),
        read_only: read_trimmed(&dir.join("ro")).as_deref() == Some("1"),
        dev: read_trimmed(&dir.join("dev")).unwrap_or_default(),
        held: any_held,
        partitions,
    })
}

/// The entries of a directory, sorted by name.
fn sorted_entries(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort_unstable();
    Some(paths)
}

/// Every disk under `sys_block` (a `/sys/block`), in name order; their
/// partitions too (`sda1`, `sda10`, `sda2`: a stable order, which is what
/// matters).
pub fn list(sys_block: &Path) -> Vec<Disk> {
    sorted_entries(sys_block)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| {
            let name = dir.file_name()?.to_str()?.to_string();
            read_disk(&dir, &name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::scratch;

    #[test]
    fn disks_and_their_partitions_from_sysfs() {
        let t = scratch::Dir::new("disks-list");
        t.file("mmcblk0/size", "62333952\n")
            .file("mmcblk0/dev", "179:0\n")
            .file("mmcblk0/ro", "0\n")
            .file("mmcblk0/queue/logical_block_size", "512\n")
            .file("mmcblk0/mmcblk0p2/partition", "2\n")
            .file("mmcblk0/mmcblk0p2/start", "133120\n")
            .file("mmcblk0/mmcblk0p2/size", "62200832\n")
            .file("mmcblk0/mmcblk0p2/dev", "179:2\n")
            .file("mmcblk0/mmcblk0p1/partition", "1\n")
            .file("mmcblk0/mmcblk0p1/start", "2048\n")
            .file("mmcblk0/mmcblk0p1/size", "131072\n")
            .file("mmcblk0/mmcblk0p1/dev", "179:1\n")
            .file("sdb/sdb1/partition", "1\n")
            .file("sdb/sdb1/start", "2048\n")
            .file("sdb/sdb1/size", "2048\n")
            .file("sdb/sdb1/dev", "8:17\n")
            .file("sdb/sdb1/holders/dm-0", "")
            .file("sdb/size", "7814037168\n")
            .file("sdb/ro", "1\n")
            .file("sdb/queue/logical_block_size", "4096\n")
            .file("cciss!c0d0/size", "100\n")
            .file("broken/ro", "0\n");
        let disks = list(&t);
        let names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["cciss!c0d0", "mmcblk0", "sdb"]);
        // Partitions in name order, whatever order the directory lists.
        let mmc = &disks[1];
        assert_eq!(mmc.size, 62333952 * 512);
        assert_eq!(mmc.dev, "179:0");
        assert!(!mmc.read_only);
        assert_eq!(mmc.partitions.len(), 2);
        assert_eq!(
            mmc.partition(1),
            Some(&Partition {
                name: "mmcblk0p1".into(),
                number: 1,
                start: 2048 * 512,
                size: 131072 * 512,
                dev: "179:1".into()
            })
        );
        assert_eq!(mmc.partitions[1].name, "mmcblk0p2");
        assert!(mmc.holds("mmcblk0p2") && mmc.holds("mmcblk0") && !mmc.holds("sdb1"));
        assert!(!mmc.held);
        assert!(disks[2].held, "its partition's holders/ entry");
        assert_eq!(disks[2].block_size, 4096);
        assert!(disks[2].read_only);
        assert_eq!(disks[0].node(), "/dev/cciss/c0d0");
        assert!(list(Path::new("/nonexistent-rccr")).is_empty());
    }

    #[test]
    fn virtual_devices_are_named_so() {
        for (name, virt) in [
            ("loop0", true),
            ("zram0", true),
            ("dm-1", true),
            ("md127", true),
            ("sr0", true),
            ("sda", false),
            ("nvme0n1", false),
            ("mmcblk0", false),
            ("vda", false),
        ] {
            let d = Disk {
                name: name.into(),
                size: 0,
                block_size: 512,
                read_only: false,
                dev: String::new(),
                held: false,
                partitions: vec![],
            };
            assert_eq!(d.is_virtual(), virt, "{name}");
        }
    }
}
