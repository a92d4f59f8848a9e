//! Bytes on block devices, and the two programs that change them beyond
//! bytes: `partx` (tell the kernel about a partition) and `mkfs.ext4`.
//!
//! rccr writes only three kinds of bytes itself: zeros over the first and
//! last MiB of a partition it is about to create, and sector 0's table
//! ([`super::mbr`]). Every write is followed by `fsync`.
use super::disks::{self, Disk, Partition};
use super::mbr;
use super::probe::{self, Filesystem};
use crate::init::Ctx;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const MIB: u64 = 1 << 20;
/// How long a new partition may take to show in sysfs and /dev.
const PARTITION_WAIT: Duration = Duration::from_secs(5);

pub fn read_at(path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    File::open(path)?.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// Whether the first and the last MiB of `len` bytes at `offset` on `path`
/// are all zeros: no partition table, no filesystem, no RAID or LVM label
/// (they all sit in one of the two).
pub fn is_blank(path: &Path, offset: u64, len: u64) -> io::Result<bool> {
    let edge = MIB.min(len);
    let head = read_at(path, offset, edge as usize)?;
    if !probe::is_zero(&head) {
        return Ok(false);
    }
    let tail = read_at(path, offset + len - edge, edge as usize)?;
    Ok(probe::is_zero(&tail))
}

/// Writes zeros over the first and the last MiB of `len` bytes at
/// `offset`, then syncs.
pub fn zero_edges(path: &Path, offset: u64, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    let edge = MIB.min(len);
    let zeros = vec![0u8; edge as usize];
    file.write_all_at(&zeros, offset)?;
    file.write_all_at(&zeros, offset + len - edge)?;
    file.sync_all()
}

/// The MBR in sector 0 of `path`, if it holds one.
pub fn read_table(path: &Path) -> io::Result<Option<mbr::Repr>> {
    let sector = read_at(path, 0, mbr::SECTOR_LEN)?;
    Ok(mbr::Packet::new_checked(&sector[..])
        .and_then(|p| mbr::Repr::parse(&p))
        .ok())
}

/// Edits sector 0 of `path` with `edit`, writes it back and syncs.
fn edit_sector0(path: &Path, edit: impl FnOnce(&mut mbr::Packet<&mut [u8]>)) -> io::Result<()> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut sector = [0u8; mbr::SECTOR_LEN];
    file.read_exact_at(&mut sector, 0)?;
    edit(&mut mbr::Packet::new_unchecked(&mut sector[..]));
    file.write_all_at(&sector, 0)?;
    file.sync_all()
}

/// Writes `table` as sector 0's new table, keeping the boot code.
pub fn write_table(path: &Path, table: &mbr::Repr) -> io::Result<()> {
    edit_sector0(path, |p| table.emit(p))
}

/// Adds `entry` in `slot` of the table in sector 0; no other byte changes.
pub fn add_entry(path: &Path, slot: usize, entry: &mbr::Entry) -> io::Result<()> {
    edit_sector0(path, |p| p.set_entry(slot, Some(entry)))
}

/// The filesystem at the start of `path`, if any (a device shorter than
/// the probe holds none).
pub fn filesystem(path: &Path) -> io::Result<Option<Filesystem>> {
    match read_at(path, 0, probe::PROBE_LEN) {
        Ok(head) => Ok(probe::filesystem(&head)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Runs `program` quietly; `Err` holds its last line of output.
pub fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let text = if text.trim().is_empty() {
        String::from_utf8_lossy(&out.stdout)
    } else {
        text
    };
    let last = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    Err(format!(
        "{program} {}: {} {}",
        args.join(" "),
        out.status,
        last.trim()
    ))
}

/// Tells the kernel about partition `number` of `disk` (BLKPG through
/// `partx`, which works while another partition of the disk is mounted),
/// else re-reads the whole table (`blockdev --rereadpt`, which the kernel
/// refuses while a partition is in use). Then waits for the partition to
/// appear in sysfs and as a device node. `Err` when it did not.
pub fn tell_kernel(ctx: &Ctx, disk: &Disk, number: u32) -> Result<Partition, String> {
    let node = ctx.path(&disk.node()).to_string_lossy().into_owned();
    let told = run("partx", &["--update", "--nr", &number.to_string(), &node])
        .or_else(|e| run("blockdev", &["--rereadpt", &node]).map_err(|e2| format!("{e}; {e2}")));
    let sys_disk = ctx.path(disks::SYS_BLOCK).join(&disk.name);
    let deadline = Instant::now() + PARTITION_WAIT;
    loop {
        let found =
            disks::read_disk(&sys_disk, &disk.name).and_then(|d| d.partition(number).cloned());
        if let Some(p) = found {
            if ctx.path(&disks::node(&p.name)).exists() {
                return Ok(p);
            }
        }
        if Instant::now() >= deadline {
            return Err(match told {
                Err(e) => e,
                Ok(()) => format!("partition {number} of {} did not appear", disk.node()),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `mkfs.ext4` with the RCCR label on `node`. One percent reserved for root
/// (everything on a node runs as root), quiet, never asking.
pub fn mkfs(node: &Path) -> Result<(), String> {
    let node = node.to_string_lossy();
    run(
        "mkfs.ext4",
        &["-q", "-F", "-L", probe::RCCR_LABEL, "-m", "1", &node],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_means_zero_edges_and_zeroing_makes_it_so() {
        let path = std::env::temp_dir().join(format!("rccr-device-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        file.set_len(4 * MIB).unwrap();
        assert!(is_blank(&path, 0, 4 * MIB).unwrap());
        // A byte in the middle is not looked at; one in the last MiB is.
        file.write_all_at(&[1], MIB + MIB / 2).unwrap();
        assert!(is_blank(&path, 0, 4 * MIB).unwrap());
        file.write_all_at(&[1], 4 * MIB - 1).unwrap();
        assert!(!is_blank(&path, 0, 4 * MIB).unwrap());
        assert!(is_blank(&path, 0, 3 * MIB).unwrap(), "a range of its own");
        zero_edges(&path, 0, 4 * MIB).unwrap();
        assert!(is_blank(&path, 0, 4 * MIB).unwrap());
        assert_eq!(
            read_at(&path, MIB + MIB / 2, 1).unwrap(),
            [1],
            "middle kept"
        );
        // Smaller than a MiB: the whole range is both edges.
        file.write_all_at(&[7], 100).unwrap();
        assert!(!is_blank(&path, 0, 1000).unwrap());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn tables_are_written_over_the_boot_code_untouched() {
        let path = std::env::temp_dir().join(format!("rccr-table-{}", std::process::id()));
        std::fs::write(&path, vec![0x5au8; 4096]).unwrap();
        assert_eq!(read_table(&path).unwrap(), None);
        let table = mbr::Repr::single(mbr::Entry {
            bootable: false,
            kind: mbr::TYPE_LINUX,
            first_lba: 2048,
            sectors: 100,
        });
        write_table(&path, &table).unwrap();
        assert_eq!(read_table(&path).unwrap(), Some(table));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[..440], [0x5a; 440]);
        assert_eq!(bytes[512..], [0x5a; 4096 - 512]);
        std::fs::remove_file(&path).unwrap();
    }
}
