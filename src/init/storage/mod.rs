//! Persistent storage: one ext4 filesystem labelled `RCCR` per node, found
//! or prepared at boot by `rccr-init --storage` (the OpenRC service
//! `rccr-storage`, `src/init/rccr-storage.openrc`), and mounted at
//! [`MOUNT_POINT`] with its directories bound where the system expects
//! them. See `docs/storage.md` for the operator's view.
//!
//! **Which filesystem**, in order:
//!
//! 1. An ext2/3/4 filesystem labelled `RCCR` on any disk or partition
//!    (the first in disk-name order when there are several; the others are
//!    named). A FAT one (the lbu media the README used to suggest) is
//!    reported: lbu may keep `/etc` there, Docker's data cannot.
//! 2. On a boot medium that is a FAT partition in an MBR (a Raspberry Pi's
//!    card, a stick Rufus wrote): a new primary partition in the free space
//!    after its last partition, at least [`MIN_SIZE`], once. Only sector
//!    0's free slot and the free space are written; the image's partitions
//!    are never touched.
//! 3. A completely blank disk (the first 5 and the last MiB all zeros: no
//!    table, no filesystem, no RAID, LVM or LUKS label, nothing blkid
//!    names; see [`device::DISK_SIGNATURE_HEAD`]) of at least [`MIN_SIZE`]:
//!    an MBR with one partition from 1 MiB to the end (2 TiB at most with
//!    512-byte blocks: MBR's limit), the disk identifier `RCCR`. A disk
//!    with anything on it, or that the kernel will not let rccr open
//!    exclusively (mounted, swap, RAID, LVM, another program), is never
//!    written; `rccr-init --prepare-disk DEV`
//!    ([`prepare_disk`]) erases one (its first 5 MiB and its last: blank
//!    then, even if power is lost before the table) after a typed
//!    confirmation. A disk is claimed (`O_EXCL`) only once its bytes say
//!    rccr will write it, and read again under the claim; one with data is
//!    only read, so that mdadm or LVM starting its members at the same
//!    moment never finds one claimed.
//!
//! **Order of the writes**, so that a power cut at any point is finished at
//! the next boot: zeros over the first and last MiB of the new partition,
//! the table entry marked as being prepared (rule 2: type 0x7f; rule 3:
//! disk identifier `RCCP`), the kernel told (`partx`, else `blockdev
//! --rereadpt`), `mkfs.ext4 -L RCCR`, the mark turned into a finished
//! one (type 83; identifier `RCCR`). A partition under a preparing mark
//! is rccr's whatever it holds (mke2fs writes its primary superblock
//! last, so an `mkfs` cut short leaves bytes but no filesystem) and is
//! formatted; so is a blank one under a finished mark (what rccr left
//! before the marks: type 83 after the boot partition; `RCCR`'s one
//! partition at 1 MiB). A filesystem found under a preparing mark is
//! marked before it is used.
//!
//! **Layout** on the filesystem (see [`LAYOUT`]): `docker/` bound on
//! `/var/lib/docker`, `rccr/` on `/var/lib/rccr` (rccr's node state),
//! `apk-cache/` named by the `/etc/apk/cache` symlink (apk-cache(5)), and
//! `rccr-lbu/`, where `rccr-persist` points lbu on PCs.
//!
//! Nothing here runs in a container (Docker's privileged containers see
//! the host's disks), and only with `--storage` or `--prepare-disk`: the
//! plain `rccr-init` run of the Docker entrypoint never looks at disks.
pub mod device;
pub mod disks;
pub mod mbr;
pub mod mounts;
pub mod probe;

use super::bootstatus::{self, Storage};
use super::Ctx;
use crate::error::Error;
use device::MIB;
use disks::{Disk, Partition};
use probe::{Filesystem, RCCR_LABEL};
use std::fs;
use std::path::Path;

/// Where the RCCR filesystem is mounted: one path on every node, whatever
/// the device's name (the apk cache symlink names it; lbu saves that link
/// with the rest of `/etc/apk`, apk's `!etc/apk`, and `--storage` checks it
/// at every boot all the same, making it where it is missing).
pub const MOUNT_POINT: &str = "/media/rccr";
/// Directories of the RCCR filesystem and where they are bound.
pub const LAYOUT: &[(&str, &str)] = &[("docker", "/var/lib/docker"), ("rccr", NODE_STATE_DIR)];
/// rccr's node state: on the RCCR filesystem when there is one, in RAM
/// otherwise. Not saved by lbu (that is the point of the partition).
pub const NODE_STATE_DIR: &str = "/var/lib/rccr";
/// apk uses a cache when this is a symlink to a directory (apk-cache(5)).
pub const APK_CACHE_LINK: &str = "/etc/apk/cache";
pub const APK_CACHE_DIR: &str = "apk-cache";
/// lbu's directory on PCs, made and used by `rccr-persist`.
pub const LBU_DIR: &str = "rccr-lbu";
/// The smallest filesystem worth making: Docker images alone take hundreds
/// of MiB.
pub const MIN_SIZE: u64 = 1 << 30;

/// What a dry run returns instead of a device.
const DRY: &str = "dry run";

/// The RCCR filesystem found or made.
struct Found {
    /// The kernel's name of its device (`sda1`).
    name: String,
    /// `major:minor`.
    dev: String,
    /// The disk it was just made or marked on, held open until it is
    /// mounted (see [`device::Writer`]).
    writer: Option<device::Writer>,
}

impl Found {
    fn node(&self) -> String {
        disks::node(&self.name)
    }
}

/// Finds or prepares the storage, mounts it, writes the status file's
/// `storage:` line and returns it.
pub fn boot(ctx: &mut Ctx) -> Storage {
    let result = find_or_prepare(ctx).and_then(|found| activate(ctx, &found));
    let storage = match result {
        Ok(node) => Storage::Device(node),
        Err(reason) => Storage::None { reason },
    };
    match &storage {
        Storage::None { reason } if reason == DRY => return storage,
        Storage::None { reason } => ctx.problem(format_args!(
            "no persistent storage ({reason}): Docker's data and packages installed after boot are lost at reboot"
        )),
        _ => {}
    }
    bootstatus::set(ctx, "storage", storage.line());
    storage
}

fn in_container() -> bool {
    Path::new("/.dockerenv").exists() || Path::new("/run/.containerenv").exists()
}

/// The disks rccr considers: on the live system not the virtual ones
/// (loop, RAM, dm, md...); under `--root`, every disk its `/sys/block`
/// lists (tests list their own loop devices there).
fn candidate_disks(ctx: &Ctx) -> Vec<Disk> {
    disks::list(&ctx.path(disks::SYS_BLOCK))
        .into_iter()
        .filter(|d| d.size > 0 && !(ctx.live && d.is_virtual()))
        .collect()
}

fn find_or_prepare(ctx: &mut Ctx) -> Result<Found, String> {
    if ctx.live && in_container() {
        return Err("in a container: storage is the container engine's (volumes)".into());
    }
    let disks = candidate_disks(ctx);
    let mounts = mounts::read(ctx);

    let (ext, fat): (Vec<_>, Vec<_>) = labelled(ctx, &disks)
        .into_iter()
        .partition(|(_, fs)| matches!(fs, Filesystem::Ext { .. }));
    let mut ext = ext.into_iter();
    if let Some((mut first, _)) = ext.next() {
        for (other, _) in ext {
            ctx.problem(format_args!(
                "{} is labelled {RCCR_LABEL} too; using {} (keep one)",
                other.node(),
                first.node()
            ));
        }
        let on = |d: &Disk| d.partitions.iter().find(|p| p.name == first.name).cloned();
        if let Some((disk, part)) = disks.iter().find_map(|d| on(d).map(|p| (d, p))) {
            first.writer = mark_prepared(ctx, disk, part.number, None)?;
        }
        return Ok(first);
    }
    if let Some((fat, _)) = fat.first() {
        return Err(format!(
            "{} is labelled {RCCR_LABEL} but is FAT: lbu may keep /etc there, Docker's data needs ext4 (mkfs.ext4 -L {RCCR_LABEL}, or rccr-init --prepare-disk)",
            fat.node()
        ));
    }

    let boot = boot_medium(ctx, &disks, &mounts);
    let mut why_not = Vec::new();
    if let Some((disk, part, fstype)) = &boot {
        match grow_boot_disk(ctx, disk, part.as_ref(), fstype) {
            Ok(found) => return Ok(found),
            Err(e) if e == DRY => return Err(e),
            Err(e) => why_not.push(e),
        }
    }
    for disk in &disks {
        if boot.as_ref().is_some_and(|(b, _, _)| b.name == disk.name) {
            continue;
        }
        match decide(ctx, disk, &mounts) {
            Ok(Decision::Blank(claim)) => return initialise(ctx, disk, claim, true),
            Ok(Decision::Unfinished(claim)) => return initialise(ctx, disk, claim, false),
            Ok(Decision::Data) => ctx.note(format_args!(
                "{} holds data: not used (rccr-init --prepare-disk {} erases it for RCCR)",
                disk.node(),
                disk.node()
            )),
            Err(why) => ctx.note(format_args!("{}: {why}: not used", disk.node())),
        }
    }
    why_not.push(format!(
        "no filesystem labelled {RCCR_LABEL} and no blank disk"
    ));
    Err(why_not.join("; "))
}

/// Every filesystem labelled RCCR: on each partition, and on each disk that
/// has none.
fn labelled(ctx: &Ctx, disks: &[Disk]) -> Vec<(Found, Filesystem)> {
    let mut out = Vec::new();
    for disk in disks {
        let devices: Vec<(&str, &str)> = if disk.partitions.is_empty() {
            vec![(&disk.name, &disk.dev)]
        } else {
            disk.partitions
                .iter()
                .map(|p| (p.name.as_str(), p.dev.as_str()))
                .collect()
        };
        for (name, dev) in devices {
            let fs = device::filesystem(&ctx.path(&disks::node(name)));
            if let Ok(Some(fs)) = fs {
                if fs.label() == RCCR_LABEL {
                    let found = Found {
                        name: name.to_string(),
                        dev: dev.to_string(),
                        writer: None,
                    };
                    out.push((found, fs));
                }
            }
        }
    }
    out
}

/// The disk the system booted from, the partition (when it is one) and its
/// filesystem type: the mount under `/media` that holds a boot repository
/// (`*/.boot_repository`, what Alpine's initramfs looks for).
fn boot_medium(
    ctx: &Ctx,
    disks: &[Disk],
    mounts: &[mounts::Mount],
) -> Option<(Disk, Option<Partition>, String)> {
    let media = ctx.path("/media");
    let m = mounts.iter().find(|m| {
        m.target.starts_with(&media)
            && m.target != media
            && fs::read_dir(&m.target).is_ok_and(|rd| {
                rd.filter_map(Result::ok)
                    .any(|e| e.path().join(".boot_repository").exists())
            })
    })?;
    let dev = mounts::device_number(&ctx.path(&m.source))?;
    let disk = disks
        .iter()
        .find(|d| d.dev == dev || d.partitions.iter().any(|p| p.dev == dev))?;
    let part = disk.partitions.iter().find(|p| p.dev == dev).cloned();
    Some((disk.clone(), part, m.fstype.clone()))
}

fn align_up(value: u64, to: u64) -> u64 {
    value.div_ceil(to) * to
}

/// Rule 2: a partition after the boot partition, in the free space.
fn grow_boot_disk(
    ctx: &mut Ctx,
    disk: &Disk,
    boot: Option<&Partition>,
    fstype: &str,
) -> Result<Found, String> {
    let node = disk.node();
    let Some(boot) = boot else {
        return Err(format!("the boot medium {node} is a whole disk"));
    };
    if fstype != "vfat" {
        return Err(format!(
            "the boot medium {node} is {fstype}, not a FAT partition"
        ));
    }
    let path = ctx.path(&node);
    let table = device::read_table(&path)
        .map_err(|e| format!("cannot read {node}: {e}"))?
        .ok_or_else(|| format!("{node} has no MBR"))?;
    let bs = disk.block_size;
    // A read that fails is no proof of "no GPT".
    let gpt = device::read_at(&path, bs, 8).map_err(|e| format!("cannot read {node}: {e}"))?
        == b"EFI PART";
    if !table.editable() || gpt {
        return Err(format!("{node} has a GPT or extended partitions"));
    }
    let in_table = |e: &mbr::Entry| u64::from(e.first_lba) * bs == boot.start;
    let boot_entry = *table
        .entries
        .iter()
        .flatten()
        .find(|e| in_table(e))
        .ok_or_else(|| format!("{} is not in {node}'s table", disks::node(&boot.name)))?;
    let (slot, last) = table
        .entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.map(|e| (i, e)))
        .max_by_key(|(_, e)| e.end_lba())
        .expect("the boot entry is there");
    // Where rccr puts its partition: from the next MiB after the boot
    // partition to the end of the disk (or of what MBR can hold).
    let start = align_up(boot_entry.end_lba(), MIB / bs);
    let end = (disk.size / bs).min(start + mbr::MAX_SECTORS);
    let sectors = end.saturating_sub(start);
    if last != boot_entry {
        let number = slot as u32 + 1;
        // rccr's partition: the one entry after the boot partition, at the
        // very place and size rccr gives it. Anything else after the boot
        // partition is the user's, blank or not.
        let after_boot = table
            .entries
            .iter()
            .flatten()
            .filter(|e| e.first_lba > boot_entry.first_lba)
            .count();
        let rccrs = after_boot == 1
            && (u64::from(last.first_lba), u64::from(last.sectors)) == (start, sectors);
        if last.kind == mbr::TYPE_PREPARING && rccrs {
            ctx.note(format_args!(
                "{node}: partition {number} is rccr's, its filesystem not made (power lost at its first boot?); finishing it"
            ));
            let writer = match ctx.dry {
                true => None,
                false => Some(
                    device::Writer::open(&path).map_err(|e| format!("cannot write {node}: {e}"))?,
                ),
            };
            let found = format_partition(ctx, disk, number, &last, writer)?;
            mark_prepared(ctx, disk, number, found.writer.as_ref())?;
            return Ok(found);
        }
        let (at, len) = (u64::from(last.first_lba) * bs, u64::from(last.sectors) * bs);
        if last.kind == mbr::TYPE_LINUX
            && rccrs
            && device::is_blank(&path, at, len).unwrap_or(false)
        {
            ctx.note(format_args!(
                "{node}: partition {number} is blank: an RCCR partition cut short (power lost at its first boot?); finishing it"
            ));
            return format_partition(ctx, disk, number, &last, None);
        }
        return Err(format!("{node} has partitions after its boot partition"));
    }
    if sectors * bs < MIN_SIZE || start > mbr::MAX_SECTORS {
        return Err(format!(
            "{node} has {} MiB free after its last partition, less than {} MiB",
            sectors * bs / MIB,
            MIN_SIZE / MIB
        ));
    }
    let slot = table
        .next_free_slot()
        .ok_or_else(|| format!("{node}'s partition table is full"))?;
    let number = slot as u32 + 1;
    let what = format!(
        "{node}: partition {number} ({} MiB) in the free space after the boot partition",
        sectors * bs / MIB
    );
    if ctx.dry {
        ctx.changed(format_args!("{what}, ext4 labelled {RCCR_LABEL}"));
        return Err(DRY.into());
    }
    let entry = mbr::Entry {
        bootable: false,
        kind: mbr::TYPE_PREPARING,
        first_lba: start as u32,
        sectors: sectors as u32,
    };
    let writer = device::Writer::open(&path)
        .and_then(|w| w.zero_edges(start * bs, sectors * bs).map(|()| w))
        .and_then(|w| w.add_entry(slot, &entry).map(|()| w))
        .map_err(|e| format!("cannot write {node}: {e}"))?;
    ctx.changed(what);
    crate::failpoint::reached("storage-table-written", &node);
    let found = format_partition(ctx, disk, number, &entry, Some(writer))?;
    crate::failpoint::reached("storage-formatted", &node);
    mark_prepared(ctx, disk, number, found.writer.as_ref())?;
    Ok(found)
}

/// What a disk other than the boot medium holds, for rule 3.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    /// Nothing blkid could name ([`device::is_blank_disk`]).
    Blank,
    /// rccr's table, its one partition still blank: a preparation cut short.
    Unfinished,
    Data,
}

/// What rule 3 does with a disk: write one it holds the claim on (which
/// proves nothing else uses it), or leave one with data alone.
enum Decision {
    Blank(device::Claim),
    Unfinished(device::Claim),
    Data,
}

/// What rule 3 does with `disk`; `Err` says why it is not looked at (too
/// small, read-only, in use). A disk with data is only read, never claimed:
/// mdadm and LVM claim their members (`O_EXCL`) while they start, maybe at
/// this very moment, and a claim of ours would make theirs fail. A disk
/// rccr would write is claimed, then read again under the claim, so that
/// the decision holds until the write.
fn decide(ctx: &Ctx, disk: &Disk, mounts: &[mounts::Mount]) -> Result<Decision, String> {
    check_free(ctx, disk, mounts)?;
    if classify(ctx, disk)? == Class::Data {
        return Ok(Decision::Data);
    }
    crate::failpoint::reached("storage-read", &disk.node());
    let claim = claim(ctx, disk)?;
    Ok(match classify(ctx, disk)? {
        Class::Blank => Decision::Blank(claim),
        Class::Unfinished => Decision::Unfinished(claim),
        Class::Data => Decision::Data,
    })
}

/// `Err` (why) when `disk` is mounted, held (holders/), read-only or too
/// small: not one rccr may write.
fn check_free(ctx: &Ctx, disk: &Disk, mounts: &[mounts::Mount]) -> Result<(), String> {
    let in_use = std::iter::once(disk.dev.as_str())
        .chain(disk.partitions.iter().map(|p| p.dev.as_str()))
        .any(|dev| !mounts::of_device(ctx, mounts, dev).is_empty());
    if in_use || disk.held {
        return Err("in use".into());
    }
    if disk.read_only {
        return Err("read-only".into());
    }
    if disk.size < MIN_SIZE + MIB {
        return Err(format!("smaller than {} MiB", (MIN_SIZE + MIB) / MIB));
    }
    Ok(())
}

/// The claim on `disk` ([`device::Claim`]) that proves nothing else uses it.
fn claim(ctx: &Ctx, disk: &Disk) -> Result<device::Claim, String> {
    device::Claim::take(&ctx.path(&disk.node())).map_err(|e| match e.raw_os_error() {
        Some(libc::EBUSY) => {
            "in use (swap, RAID, LVM or device mapper, or another program holds it)".to_string()
        }
        _ => format!("cannot open it ({e})"),
    })
}

/// What `disk` holds, from its bytes alone.
fn classify(ctx: &Ctx, disk: &Disk) -> Result<Class, String> {
    let path = ctx.path(&disk.node());
    match device::is_blank_disk(&path, disk.size) {
        Ok(true) => return Ok(Class::Blank),
        Ok(false) => {}
        Err(e) => return Err(format!("cannot read it ({e})")),
    }
    let ours = match device::read_table(&path) {
        Ok(Some(t)) if single_partition(&t, disk).is_some() => Some(t.disk_id),
        _ => None,
    };
    let (start, len) = partition_area(disk);
    Ok(match ours {
        Some(mbr::PREPARING_DISK_ID) => Class::Unfinished,
        Some(mbr::RCCR_DISK_ID) if device::is_blank(&path, start, len).unwrap_or(false) => {
            Class::Unfinished
        }
        _ => Class::Data,
    })
}

/// The one entry of a table rccr wrote on `disk`: type 83 over the
/// [`partition_area`], nothing less or more.
fn single_partition(t: &mbr::Repr, disk: &Disk) -> Option<mbr::Entry> {
    let bs = disk.block_size;
    let area = partition_area(disk);
    match t.entries {
        [Some(e), None, None, None]
            if e.kind == mbr::TYPE_LINUX
                && (u64::from(e.first_lba) * bs, u64::from(e.sectors) * bs) == area =>
        {
            Some(e)
        }
        _ => None,
    }
}

/// Where rule 3 puts the partition, in bytes: from 1 MiB to the end, as
/// many blocks as an MBR entry holds.
fn partition_area(disk: &Disk) -> (u64, u64) {
    let bs = disk.block_size;
    let start = MIB / bs;
    let sectors = (disk.size / bs - start).min(mbr::MAX_SECTORS);
    (start * bs, sectors * bs)
}

/// Rule 3 on a blank disk (`fresh`) or one whose preparation was cut short.
/// `claim` is held until the table is written.
fn initialise(
    ctx: &mut Ctx,
    disk: &Disk,
    claim: device::Claim,
    fresh: bool,
) -> Result<Found, String> {
    let node = disk.node();
    let (start, len) = partition_area(disk);
    let bs = disk.block_size;
    let entry = mbr::Entry {
        bootable: false,
        kind: mbr::TYPE_LINUX,
        first_lba: (start / bs) as u32,
        sectors: (len / bs) as u32,
    };
    if !fresh {
        ctx.note(format_args!(
            "{node}: rccr's partition table, its filesystem not made: a preparation cut short; finishing it"
        ));
        let writer = match ctx.dry {
            true => None,
            false => Some(
                device::Writer::open(&ctx.path(&node))
                    .map_err(|e| format!("cannot write {node}: {e}"))?,
            ),
        };
        drop(claim);
        let found = format_partition(ctx, disk, 1, &entry, writer)?;
        mark_prepared(ctx, disk, 1, found.writer.as_ref())?;
        return Ok(found);
    }
    let what = format!(
        "{node}: blank: partition table with one partition ({} MiB)",
        len / MIB
    );
    if ctx.dry {
        ctx.changed(format_args!("{what}, ext4 labelled {RCCR_LABEL}"));
        return Err(DRY.into());
    }
    let table = mbr::Repr {
        disk_id: mbr::PREPARING_DISK_ID,
        ..mbr::Repr::single(entry)
    };
    let writer = device::Writer::open(&ctx.path(&node))
        .and_then(|w| w.zero_edges(start, len).map(|()| w))
        .and_then(|w| w.write_table(&table).map(|()| w))
        .map_err(|e| format!("cannot write {node}: {e}"))?;
    // mkfs claims the partition, which the disk's claim would forbid.
    drop(claim);
    ctx.changed(what);
    crate::failpoint::reached("storage-table-written", &node);
    let found = format_partition(ctx, disk, 1, &entry, Some(writer))?;
    crate::failpoint::reached("storage-formatted", &node);
    mark_prepared(ctx, disk, 1, found.writer.as_ref())?;
    Ok(found)
}

/// Once partition `number` of `disk` holds the RCCR filesystem, turns the
/// marks of a preparation into those of a finished one: the disk
/// identifier `RCCP` into `RCCR`, the partition type 0x7f into 0x83.
/// Writes through `writer` or a writer of its own, which it returns to be
/// held until the mount. A mark left would have the partition formatted
/// again at a boot where its filesystem is unreadable, so the filesystem is
/// not used until the marks are written.
fn mark_prepared(
    ctx: &mut Ctx,
    disk: &Disk,
    number: u32,
    writer: Option<&device::Writer>,
) -> Result<Option<device::Writer>, String> {
    let node = disk.node();
    let path = ctx.path(&node);
    let Ok(Some(table)) = device::read_table(&path) else {
        return Ok(None);
    };
    let slot = (number as usize).saturating_sub(1);
    let preparing_id = table.disk_id == mbr::PREPARING_DISK_ID;
    let preparing_entry = table
        .entries
        .get(slot)
        .copied()
        .flatten()
        .filter(|e| number > 0 && e.kind == mbr::TYPE_PREPARING);
    if !preparing_id && preparing_entry.is_none() {
        return Ok(None);
    }
    let what = format!("{node}: partition {number} marked as prepared");
    if ctx.dry {
        ctx.changed(what);
        return Ok(None);
    }
    let cannot = |e: std::io::Error| format!("cannot mark {node} as prepared: {e}");
    let own = match writer {
        Some(_) => None,
        None => Some(device::Writer::open(&path).map_err(cannot)?),
    };
    let writer = writer.or(own.as_ref()).expect("one writer");
    if preparing_id {
        writer.set_disk_id(mbr::RCCR_DISK_ID).map_err(cannot)?;
    }
    if let Some(entry) = preparing_entry {
        let entry = mbr::Entry {
            kind: mbr::TYPE_LINUX,
            ..entry
        };
        writer.add_entry(slot, &entry).map_err(cannot)?;
    }
    ctx.changed(what);
    Ok(own)
}

/// Tells the kernel about partition `number` (the table's `entry`) and
/// makes the filesystem, only where the kernel's partition is exactly the
/// entry: a partition the kernel still knows from an older table (one in
/// use cannot be moved) may cover someone's data. `writer`, the disk's if
/// it was just written, stays open in the result.
fn format_partition(
    ctx: &mut Ctx,
    disk: &Disk,
    number: u32,
    entry: &mbr::Entry,
    writer: Option<device::Writer>,
) -> Result<Found, String> {
    if ctx.dry {
        ctx.changed(format_args!(
            "{}: partition {number}: ext4 filesystem labelled {RCCR_LABEL}",
            disk.node()
        ));
        return Err(DRY.into());
    }
    let part = device::tell_kernel(ctx, disk, number).map_err(|e| {
        format!(
            "the kernel does not show partition {number} of {} yet ({e}); it is formatted at the next boot",
            disk.node()
        )
    })?;
    let bs = disk.block_size;
    let table = (
        u64::from(entry.first_lba) * bs,
        u64::from(entry.sectors) * bs,
    );
    if (part.start, part.size) != table {
        return Err(format!(
            "the kernel has partition {number} of {} at bytes {}+{}, its table at {}+{}: not formatted (the kernel reads the table again at the next boot)",
            disk.node(),
            part.start,
            part.size,
            table.0,
            table.1
        ));
    }
    let node = disks::node(&part.name);
    let path = ctx.path(&node);
    device::mkfs(&path)?;
    if !matches!(device::filesystem(&path), Ok(Some(fs)) if fs.label() == RCCR_LABEL) {
        return Err(format!(
            "{node}: mkfs.ext4 ran, yet no RCCR filesystem is there"
        ));
    }
    ctx.changed(format_args!(
        "{node}: ext4 filesystem labelled {RCCR_LABEL}"
    ));
    Ok(Found {
        name: part.name,
        dev: part.dev,
        writer,
    })
}

/// `e2fsck -p` before a mount: journal replay and what is safe to fix after
/// a power cut. A filesystem with errors it cannot fix is not mounted.
fn check_filesystem(ctx: &Ctx, node: &str) -> Result<(), String> {
    let path = ctx.path(node);
    let status = std::process::Command::new("e2fsck")
        .arg("-p")
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status.map(|s| s.code()) {
        // 0 clean, 1 fixed, 2 fixed and a reboot is advised.
        Ok(Some(0..=2)) => Ok(()),
        // Not `{:?}`: release builds print a derived Debug as its bare name.
        Ok(code) => Err(format!(
            "e2fsck -p {node} failed ({}): run e2fsck -f {node} by hand",
            code.map_or("killed by a signal".into(), |c| format!("exit {c}"))
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            ctx.note(format_args!("e2fsck missing: {node} mounted unchecked"));
            Ok(())
        }
        Err(e) => Err(format!("cannot run e2fsck: {e}")),
    }
}

/// Mounts the filesystem at [`MOUNT_POINT`] (unless it is there already)
/// and sets up the [`LAYOUT`]. Returns the device's node.
fn activate(ctx: &mut Ctx, found: &Found) -> Result<String, String> {
    let node = found.node();
    let mount_point = ctx.path(MOUNT_POINT);
    let table = mounts::read(ctx);
    let ours = mounts::of_device(ctx, &table, &found.dev);
    match mounts::at(&table, &mount_point) {
        Some(m) if ours.contains(&m) => {}
        Some(m) => {
            return Err(format!(
                "{MOUNT_POINT} holds another filesystem ({})",
                m.source
            ))
        }
        None if ctx.dry => ctx.changed(format_args!("{node} mounted on {MOUNT_POINT}")),
        None => {
            if ours.is_empty() {
                check_filesystem(ctx, &node)?;
            }
            fs::create_dir_all(&mount_point)
                .map_err(|e| format!("cannot create {}: {e}", mount_point.display()))?;
            let (path, target) = (ctx.path(&node), mount_point.to_string_lossy());
            mounts::mount(&[
                "-t",
                "ext4",
                "-o",
                "noatime",
                &path.to_string_lossy(),
                &target,
            ])?;
            ctx.changed(format_args!("{node} mounted on {MOUNT_POINT}"));
        }
    }
    let table = mounts::read(ctx);
    for (dir, target) in LAYOUT {
        bind(ctx, found, &table, dir, target);
    }
    cache_link(ctx);
    Ok(node)
}

/// Binds `MOUNT_POINT/dir` on `target`, unless it is bound already or
/// `target` holds files (they would vanish under the mount).
fn bind(ctx: &mut Ctx, found: &Found, table: &[mounts::Mount], dir: &str, target: &str) {
    let to = ctx.path(target);
    let bound = mounts::at(table, &to)
        .is_some_and(|m| mounts::of_device(ctx, table, &found.dev).contains(&m));
    if bound {
        return;
    }
    let what = format_args!("{target}: bound to {MOUNT_POINT}/{dir}");
    if ctx.dry {
        return ctx.changed(what);
    }
    let from = ctx.path(MOUNT_POINT).join(dir);
    if fs::read_dir(&to).is_ok_and(|mut rd| rd.next().is_some()) {
        return ctx.problem(format_args!(
            "{target} holds files already: not bound to {MOUNT_POINT}/{dir} (stop what writes there and move them)"
        ));
    }
    let made = fs::create_dir_all(&from).and_then(|()| fs::create_dir_all(&to));
    let done = made.map_err(|e| e.to_string()).and_then(|()| {
        mounts::mount(&["-o", "bind", &from.to_string_lossy(), &to.to_string_lossy()])
    });
    match done {
        Ok(()) => ctx.changed(what),
        Err(e) => ctx.problem(format_args!("cannot bind {target}: {e}")),
    }
}

/// `/etc/apk/cache` -> `MOUNT_POINT/apk-cache`, unless the link or a
/// directory is there already (an operator's own cache is kept).
fn cache_link(ctx: &mut Ctx) {
    let link = ctx.path(APK_CACHE_LINK);
    let want = format!("{MOUNT_POINT}/{APK_CACHE_DIR}");
    let dir = ctx.path(MOUNT_POINT).join(APK_CACHE_DIR);
    match fs::read_link(&link) {
        // The link outlives a filesystem made anew: its directory may not.
        Ok(t) if t == Path::new(&want) && dir.is_dir() => return,
        Ok(t) if t == Path::new(&want) => {
            let what = format_args!("{want}: created (named by {APK_CACHE_LINK})");
            return match ctx.dry {
                true => ctx.changed(what),
                false => match fs::create_dir_all(&dir) {
                    Ok(()) => ctx.changed(what),
                    Err(e) => ctx.problem(format_args!("cannot create {want}: {e}")),
                },
            };
        }
        Ok(t) => {
            return ctx.note(format_args!(
                "{APK_CACHE_LINK} points to {} already: kept",
                t.display()
            ))
        }
        Err(_) if link.symlink_metadata().is_ok() => {
            return ctx.note(format_args!("{APK_CACHE_LINK} is a directory: kept"))
        }
        Err(_) => {}
    }
    if !link.parent().is_some_and(Path::is_dir) {
        return;
    }
    let what = format_args!("{APK_CACHE_LINK} -> {want}");
    if ctx.dry {
        return ctx.changed(what);
    }
    let made = fs::create_dir_all(&dir).and_then(|()| std::os::unix::fs::symlink(&want, &link));
    match made {
        Ok(()) => ctx.changed(what),
        Err(e) => ctx.problem(format_args!("cannot link {APK_CACHE_LINK}: {e}")),
    }
}

/// `rccr-init --prepare-disk DEV`: erases `device` (a whole disk, not the
/// boot medium's, nothing mounted) and prepares it as rule 3 does, after
/// the operator typed the device's path (or gave `--yes`). The disk is
/// used from the next boot.
pub fn prepare_disk(ctx: &mut Ctx, device: &str, yes: bool) -> Result<(), Error> {
    let name = device
        .strip_prefix("/dev/")
        .filter(|n| !n.is_empty() && !n.contains(".."))
        .ok_or_else(|| Error::Usage(format!("--prepare-disk {device}: name a disk as /dev/NAME")))?
        .replace('/', "!");
    let sys_block = ctx.path(disks::SYS_BLOCK);
    let Some(disk) = disks::read_disk(&sys_block.join(&name), &name) else {
        let why = disks::list(&sys_block)
            .into_iter()
            .find(|d| d.holds(&name))
            .map(|d| format!("it is a partition, name its disk {}", d.node()))
            .unwrap_or_else(|| {
                "no such disk; list the disks with lsblk (or ls /sys/block) and name a whole disk"
                    .into()
            });
        return Err(Error::bad_input(format!("--prepare-disk {device}"), why));
    };
    let table = mounts::read(ctx);
    let refuse = |why: String| {
        Err(Error::Failed(format!(
            "{device}: {why}; nothing was changed"
        )))
    };
    if boot_medium(ctx, std::slice::from_ref(&disk), &table).is_some() {
        return refuse("it holds the boot medium".into());
    }
    // Held through the prompt and the erasure: nothing may start using
    // the disk while the operator decides.
    let claim = match check_free(ctx, &disk, &table).and_then(|()| claim(ctx, &disk)) {
        Ok(claim) => claim,
        Err(why) => return refuse(why),
    };
    let description = describe(ctx, &disk);
    if ctx.dry {
        ctx.changed(format_args!(
            "{device}: erased and prepared for RCCR ({description})"
        ));
        return Ok(());
    }
    if !yes {
        crate::cli::confirm_typed(
            "rccr-init --prepare-disk",
            &format!("{device}: {description}\nEvery byte on it will be lost."),
            device,
        )?;
    }
    let path = ctx.path(&disk.node());
    // Held until the end, like every writer (see device::Writer).
    let _eraser = device::Writer::open(&path)
        .and_then(|w| w.zero_disk_signatures(disk.size).map(|()| w))
        .map_err(|e| Error::io(format!("cannot erase {device}"), e))?;
    ctx.changed(format_args!(
        "{device}: first {} MiB and last MiB erased",
        device::DISK_SIGNATURE_HEAD / MIB
    ));
    crate::failpoint::reached("prepare-disk-erased", &disk.node());
    // The kernel forgets the old partitions (none is mounted: checked).
    if !disk.partitions.is_empty() {
        let _ = super::run_tool("partx", &["--delete", &path.to_string_lossy()]);
    }
    let disk = disks::read_disk(&sys_block.join(&name), &name).unwrap_or(disk);
    match initialise(ctx, &disk, claim, true) {
        Ok(found) => {
            ctx.note(format_args!(
                "{}: ready; rccr-init uses it from the next boot",
                found.node()
            ));
            Ok(())
        }
        Err(e) => Err(Error::Failed(e)),
    }
}

/// One line on what the disk holds, for the confirmation. Its model and
/// labels are the disk's word, escaped ([`crate::print::text`]): they must
/// not rewrite the line the operator confirms.
fn describe(ctx: &Ctx, disk: &Disk) -> String {
    use crate::print::text;
    let model = fs::read(
        ctx.path(disks::SYS_BLOCK)
            .join(&disk.name)
            .join("device/model"),
    )
    .map(|m| format!(" {}", text(String::from_utf8_lossy(&m).trim())))
    .unwrap_or_default();
    let mut parts: Vec<String> = disk
        .partitions
        .iter()
        .map(|p| {
            let fs = match device::filesystem(&ctx.path(&disks::node(&p.name))) {
                Ok(Some(fs)) => format!("{} filesystem '{}'", fs.kind(), text(fs.label())),
                _ => "unknown contents".into(),
            };
            format!("{} {} MiB {fs}", p.name, p.size / MIB)
        })
        .collect();
    if parts.is_empty() {
        let path = ctx.path(&disk.node());
        parts.push(
            match (device::filesystem(&path), device::read_table(&path)) {
                (Ok(Some(fs)), _) => format!(
                    "{} filesystem '{}', no partition table",
                    fs.kind(),
                    text(fs.label())
                ),
                (_, Ok(Some(t))) => format!(
                    "an MBR with {} partition(s)",
                    t.entries.iter().flatten().count()
                ),
                _ if device::is_blank(&path, 0, disk.size).unwrap_or(false) => "blank".into(),
                _ => "data rccr does not recognise".into(),
            },
        );
    }
    format!("{} MiB{model}: {}", disk.size / MIB, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(size: u64, block_size: u64) -> Disk {
        Disk {
            name: "sdz".into(),
            size,
            block_size,
            read_only: false,
            dev: "8:0".into(),
            held: false,
            partitions: vec![],
        }
    }

    #[test]
    fn the_disks_model_is_escaped_in_its_description() {
        let root = crate::fsutil::scratch::Dir::new("describe");
        let device = root.join("sys/block/sdz/device");
        fs::create_dir_all(&device).unwrap();
        fs::create_dir_all(root.join("dev")).unwrap();
        fs::write(device.join("model"), b"Evil\x1b[2J\xffDisk    \n").unwrap();
        fs::File::create(root.join("dev/sdz"))
            .unwrap()
            .set_len(8 * MIB)
            .unwrap();
        let line = describe(&Ctx::new(&root, false), &disk(8 * MIB, 512));
        assert_eq!(line, "8 MiB Evil?[2J?Disk: blank");
    }

    #[test]
    fn the_partition_area_starts_at_1_mib_and_stops_at_mbrs_limit() {
        assert_eq!(partition_area(&disk(8 << 30, 512)), (MIB, (8 << 30) - MIB));
        // 3 TiB with 512-byte blocks: 2 TiB minus a block is all MBR holds.
        let (start, len) = partition_area(&disk(3 << 40, 512));
        assert_eq!((start, len), (MIB, mbr::MAX_SECTORS * 512));
        // 4Kn: 1 MiB is block 256; MBR reaches 16 TiB.
        assert_eq!(partition_area(&disk(3 << 40, 4096)), (MIB, (3 << 40) - MIB));
        assert_eq!(align_up(133120, 2048), 133120);
        assert_eq!(align_up(133121, 2048), 135168);
    }

    #[test]
    fn only_rccrs_own_single_partition_table_counts_as_ours() {
        let d = disk(8 << 30, 512);
        let (start, len) = partition_area(&d);
        let entry = mbr::Entry {
            bootable: false,
            kind: mbr::TYPE_LINUX,
            first_lba: (start / 512) as u32,
            sectors: (len / 512) as u32,
        };
        let mut t = mbr::Repr::single(entry);
        assert_eq!(single_partition(&t, &d), Some(entry));
        t.entries[1] = Some(entry);
        assert_eq!(single_partition(&t, &d), None, "two entries");
        let mut moved = mbr::Repr::single(mbr::Entry {
            first_lba: 63,
            ..entry
        });
        assert_eq!(single_partition(&moved, &d), None, "not at 1 MiB");
        moved.entries[0] = Some(mbr::Entry {
            kind: 0x07,
            ..entry
        });
        assert_eq!(single_partition(&moved, &d), None, "not type 83");
        let short = mbr::Repr::single(mbr::Entry {
            sectors: entry.sectors - 2048,
            ..entry
        });
        assert_eq!(single_partition(&short, &d), None, "not to the end");
    }
}
