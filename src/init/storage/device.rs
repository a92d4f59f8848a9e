//! Bytes on block devices, and the two programs that change them beyond
//! bytes: `partx` (tell the kernel about a partition) and `mkfs.ext4`.
//!
//! rccr writes only three kinds of bytes itself: zeros over the first and
//! last MiB of a partition it is about to create (over the first 5 MiB
//! and the last of a disk it erases), and sector 0's table
//! ([`super::mbr`]). Every write is followed by `fsync`.
//!
//! Devices are read and written with `O_DIRECT`: a disk and each of its
//! partitions have page caches of their own, so bytes `mkfs` wrote through
//! `/dev/sda1` may not show through `/dev/sda`'s cache, and a decision
//! taken on stale bytes could format a partition that holds data. Buffers
//! and lengths are multiples of [`IO_ALIGN`], which covers 512-byte and 4Kn
//! disks. Where the kernel refuses `O_DIRECT` (tmpfs), plain I/O is used.
use super::disks::{self, Disk, Partition};
use super::mbr;
use super::probe::{self, Filesystem};
use crate::init::{run_tool as run, Ctx};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

pub const MIB: u64 = 1 << 20;
/// The alignment of direct I/O buffers, offsets and lengths.
pub const IO_ALIGN: usize = 4096;
/// How long a new partition may take to show in sysfs and /dev.
const PARTITION_WAIT: Duration = Duration::from_secs(5);

/// A zeroed buffer whose bytes start at an [`IO_ALIGN`] boundary.
struct Aligned {
    raw: Vec<u8>,
    at: usize,
    len: usize,
}

impl Aligned {
    fn zeroed(len: usize) -> Aligned {
        let raw = vec![0u8; len + IO_ALIGN];
        let at = raw.as_ptr().align_offset(IO_ALIGN);
        Aligned { raw, at, len }
    }

    fn bytes(&self) -> &[u8] {
        &self.raw[self.at..self.at + self.len]
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.at..self.at + self.len]
    }
}

/// Opens `path` for direct I/O, or plain I/O where the filesystem has none.
fn open(path: &Path, write: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(write);
    let mut direct = options.clone();
    match direct.custom_flags(libc::O_DIRECT).open(path) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => options.open(path),
        other => other,
    }
}

fn round_up(len: usize) -> usize {
    len.div_ceil(IO_ALIGN) * IO_ALIGN
}

/// `len` bytes at `offset` (a multiple of the device's block size).
pub fn read_at(path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = Aligned::zeroed(round_up(len));
    open(path, false)?.read_exact_at(buf.bytes_mut(), offset)?;
    Ok(buf.bytes()[..len].to_vec())
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

/// How far into a whole disk lie the signatures that blkid finds at a
/// fixed offset from its start: besides the first MiB's, VMFS's at 1 and
/// 2 MiB, bcachefs's second superblock at 2 MiB and LUKS2's secondary
/// header (what is left when the first MiB was wiped) as deep as 4 MiB,
/// 4 KiB long (util-linux libblkid/src/superblocks/vmfs.c, bcache.c,
/// luks.c). Those at a fixed offset from the end all lie in the last MiB.
pub const DISK_SIGNATURE_HEAD: u64 = 5 * MIB;

/// Whether a whole disk of `size` bytes holds nothing blkid could name:
/// its first [`DISK_SIGNATURE_HEAD`] bytes and its last MiB all zeros.
pub fn is_blank_disk(path: &Path, size: u64) -> io::Result<bool> {
    if !is_blank(path, 0, size)? {
        return Ok(false);
    }
    let deeper = DISK_SIGNATURE_HEAD.min(size).saturating_sub(MIB);
    Ok(probe::is_zero(&read_at(path, MIB, deeper as usize)?))
}

/// The MBR in sector 0 of `path`, if it holds one.
pub fn read_table(path: &Path) -> io::Result<Option<mbr::Repr>> {
    let sector = read_at(path, 0, mbr::SECTOR_LEN)?;
    Ok(mbr::Packet::new_checked(&sector[..])
        .and_then(|p| mbr::Repr::parse(&p))
        .ok())
}

/// A disk opened once for a whole preparation: every write goes through it
/// and it is closed (dropped) only once the new filesystem is made and
/// mounted. systemd-udevd re-reads a disk's partition table when a writer
/// closes it and nothing on the disk is in use (its `watch` rule); a close
/// between the table and `mkfs` or `mount` would make the new partition
/// vanish and come back under them. Alpine's mdev does not do that; the
/// machines that run the tests may.
pub struct Writer {
    file: File,
}

impl Writer {
    pub fn open(path: &Path) -> io::Result<Writer> {
        Ok(Writer {
            file: open(path, true)?,
        })
    }

    /// Writes zeros over the first and the last MiB of `len` bytes at
    /// `offset`, then syncs.
    pub fn zero_edges(&self, offset: u64, len: u64) -> io::Result<()> {
        self.zero_head_and_tail(offset, len, MIB)
    }

    /// Writes zeros where [`is_blank_disk`] looks on a whole disk of `size`
    /// bytes (the first [`DISK_SIGNATURE_HEAD`] bytes and the last MiB),
    /// then syncs: what is left is blank, also after a power cut.
    pub fn zero_disk_signatures(&self, size: u64) -> io::Result<()> {
        self.zero_head_and_tail(0, size, DISK_SIGNATURE_HEAD)
    }

    /// Zeros over the first `head` and the last MiB of `len` bytes at
    /// `offset`, then a sync.
    fn zero_head_and_tail(&self, offset: u64, len: u64, head: u64) -> io::Result<()> {
        let (head, tail) = (head.min(len), MIB.min(len));
        let zeros = Aligned::zeroed(head.max(tail) as usize);
        self.file
            .write_all_at(&zeros.bytes()[..head as usize], offset)?;
        self.file
            .write_all_at(&zeros.bytes()[..tail as usize], offset + len - tail)?;
        self.file.sync_all()
    }

    /// Edits sector 0 with `edit`, writes it back and syncs. The I/O
    /// covers the first [`IO_ALIGN`] bytes; only sector 0's change.
    fn edit_sector0(&self, edit: impl FnOnce(&mut mbr::Packet<&mut [u8]>)) -> io::Result<()> {
        let mut head = Aligned::zeroed(IO_ALIGN);
        self.file.read_exact_at(head.bytes_mut(), 0)?;
        edit(&mut mbr::Packet::new_unchecked(
            &mut head.bytes_mut()[..mbr::SECTOR_LEN],
        ));
        self.file.write_all_at(head.bytes(), 0)?;
        self.file.sync_all()
    }

    /// Writes `table` as sector 0's new table, keeping the boot code.
    pub fn write_table(&self, table: &mbr::Repr) -> io::Result<()> {
        self.edit_sector0(|p| table.emit(p))
    }

    /// Sets the disk identifier in sector 0; no other byte changes.
    pub fn set_disk_id(&self, id: u32) -> io::Result<()> {
        self.edit_sector0(|p| p.set_disk_id(id))
    }

    /// Adds `entry` in `slot` of the table in sector 0; no other byte changes.
    pub fn add_entry(&self, slot: usize, entry: &mbr::Entry) -> io::Result<()> {
        self.edit_sector0(|p| p.set_entry(slot, Some(entry)))
    }
}

/// The kernel's word that nothing else uses a whole disk: opening a block
/// device with `O_EXCL` fails with EBUSY while the disk or one of its
/// partitions is mounted, active swap, a member of an md array or under a
/// device-mapper device (LVM, dm-crypt), or opened exclusively by another
/// program (mkfs, fsck). `/proc/mounts` and `holders/` see only some of
/// these. Held from the decision to write a disk until its table is
/// written, so nothing can claim it in between; dropped before `mkfs`,
/// which claims the new partition the same way. Read-only: closing it
/// is no write that udev would react to.
pub struct Claim {
    _file: File,
}

impl Claim {
    pub fn take(path: &Path) -> io::Result<Claim> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_EXCL)
            .open(path)?;
        Ok(Claim { _file: file })
    }
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
        Writer::open(&path).unwrap().zero_edges(0, 4 * MIB).unwrap();
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
        Writer::open(&path).unwrap().write_table(&table).unwrap();
        assert_eq!(read_table(&path).unwrap(), Some(table));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[..440], [0x5a; 440]);
        assert_eq!(bytes[512..], [0x5a; 4096 - 512]);
        std::fs::remove_file(&path).unwrap();
    }
}
