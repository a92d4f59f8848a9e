//! `rccr-init --storage` and `--prepare-disk` on real block devices: loop
//! devices over sparse files, partitioned, formatted and mounted by the
//! real binary, checked with the real `blkid` and byte by byte.
//!
//! Each test builds a root directory for `--root`: `sys/block/` lists only
//! the test's own loop devices (symlinks into the real sysfs, so no other
//! session's loop device is ever a candidate), `dev` is the real `/dev`,
//! `proc` the real `/proc` (or, for the Raspberry Pi case, a `mounts` file
//! made from the real one plus the line for a FAT boot partition, which this
//! kernel may be unable to mount). Some kernels (this project's test VM)
//! have no partition table parsers: after attaching an image that has a
//! table, the test adds its partitions with `partx --add`, as a booting
//! kernel would have.
//!
//! Every mount and loop device is removed when a test ends, also on panic
//! (`Node`'s `Drop`). Needs root; skips without it, fails without it when
//! CI is set.

mod common;

use common::child::KillOnDrop;
use common::lab::require_root;
use common::or_skip;
use common::terminal::run_on_terminal;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const RCCR: &str = env!("CARGO_BIN_EXE_rccr");
const MIB: u64 = 1 << 20;
/// Large enough for rccr's 1 GiB minimum.
const DISK: u64 = 1100 * MIB;
const SECTOR: u64 = 512;

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn ok(cmd: &str, args: &[&str]) -> String {
    let out = run(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `mkfs.ext4` or `mkfs.vfat` (FAT32) on `dev`, labelled `label`.
fn mkfs(kind: &str, label: &str, dev: &str) {
    match kind {
        "ext4" => ok("mkfs.ext4", &["-q", "-L", label, dev]),
        "vfat" => ok("mkfs.vfat", &["-F", "32", "-n", label, dev]),
        _ => panic!("no mkfs for {kind}"),
    };
}

/// What the real `blkid` says of a device: (TYPE, LABEL, UUID).
fn blkid(dev: &str) -> (String, String, String) {
    let field = |tag: &str| {
        let out = run("blkid", &["-p", "-o", "value", "-s", tag, dev]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    (field("TYPE"), field("LABEL"), field("UUID"))
}

fn read_range(path: &Path, offset: u64, len: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len as usize];
    File::open(path)
        .unwrap()
        .read_exact_at(&mut buf, offset)
        .unwrap();
    buf
}

/// Whether two files hold the same bytes (`cmp`, no allocation of GiBs).
fn same_bytes(a: &Path, b: &Path) -> bool {
    run("cmp", &["-s", a.to_str().unwrap(), b.to_str().unwrap()])
        .status
        .success()
}

/// A loop device over a sparse file.
struct LoopDisk {
    file: PathBuf,
    dev: String,
}

impl LoopDisk {
    fn name(&self) -> &str {
        self.dev.trim_start_matches("/dev/")
    }

    fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.dev)
    }

    /// The kernel learns the partitions of the table (a no-op where its
    /// own parser already did).
    fn scan(&self) {
        let _ = run("partx", &["--add", &self.dev]);
    }

    fn sfdisk(&self, script: &str) {
        self.write_table(script);
        self.scan();
    }

    /// Writes a table with sfdisk and tells the kernel nothing.
    fn write_table(&self, script: &str) {
        let mut child = Command::new("sfdisk")
            .args(["--quiet", "--no-reread", "--no-tell-kernel", &self.dev])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "sfdisk {script}");
    }

    /// A copy of the backing file, sparse, to compare with later. After a
    /// `sync`: a filesystem mounted from the disk writes back what earlier
    /// runs changed on its own time, which would otherwise land between
    /// the copy and the comparison.
    fn snapshot(&self, tag: &str) -> PathBuf {
        ok("sync", &[]);
        let copy = self.file.with_extension(format!("{tag}.before"));
        ok(
            "cp",
            &[
                "--sparse=always",
                self.file.to_str().unwrap(),
                copy.to_str().unwrap(),
            ],
        );
        copy
    }

    /// Whether the disk holds the bytes of `snapshot`, everything written
    /// to it so far included (`sync`).
    fn unchanged_since(&self, snapshot: &Path) -> bool {
        ok("sync", &[]);
        same_bytes(&self.file, snapshot)
    }

    fn sector0(&self) -> Vec<u8> {
        read_range(&self.file, 0, SECTOR)
    }
}

/// One test's node: the root directory and the loop devices under it.
struct Node {
    dir: PathBuf,
    disks: Vec<LoopDisk>,
    /// A `/proc/mounts` line added to the real ones (the Pi's boot medium).
    boot_line: Option<String>,
}

/// A new [`Node`] for a test that needs root: `None` when it skips.
fn root_node(tag: &str) -> Option<Node> {
    require_root().then(|| Node::new(tag))
}

impl Node {
    fn new(tag: &str) -> Node {
        let dir = std::env::temp_dir().join(format!("rccr-storage-{tag}-{}", std::process::id()));
        if dir.exists() {
            // A killed earlier run of this pid: only what we made.
            Node {
                dir: dir.clone(),
                disks: vec![],
                boot_line: None,
            }
            .unmount_all();
            let _ = fs::remove_dir_all(&dir);
        }
        for sub in ["sys/block", "run", "etc/apk", "var/lib", "media", "images"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::os::unix::fs::symlink("/dev", dir.join("dev")).unwrap();
        std::os::unix::fs::symlink("/proc", dir.join("proc")).unwrap();
        Node {
            dir,
            disks: vec![],
            boot_line: None,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Attaches a new sparse file of `size` bytes and lists it in sys/block.
    fn disk(&mut self, tag: &str, size: u64) -> usize {
        self.disk_of_blocks(tag, size, SECTOR)
    }

    /// [`Node::disk`] holding an ext4 filesystem labelled `label`, no
    /// partition table: its index and device path.
    fn ext4_disk(&mut self, tag: &str, label: &str) -> (usize, String) {
        let i = self.disk(tag, DISK);
        let dev = self.disks[i].dev.clone();
        mkfs("ext4", label, &dev);
        (i, dev)
    }

    /// [`Node::disk`] with logical blocks of `block` bytes (4096: a 4Kn disk).
    fn disk_of_blocks(&mut self, tag: &str, size: u64, block: u64) -> usize {
        let file = self.path(&format!("images/{tag}.img"));
        File::create(&file).unwrap().set_len(size).unwrap();
        let block = block.to_string();
        let args = ["--find", "--show", "--partscan", "--sector-size", &block];
        let dev = ok("losetup", &[&args[..], &[file.to_str().unwrap()]].concat())
            .trim()
            .to_string();
        let disk = LoopDisk { file, dev };
        std::os::unix::fs::symlink(
            format!("/sys/block/{}", disk.name()),
            self.path(&format!("sys/block/{}", disk.name())),
        )
        .unwrap();
        self.disks.push(disk);
        self.disks.len() - 1
    }

    /// Replaces the `/proc` symlink with a directory whose `mounts` is the
    /// real table plus `line` (rewritten before every run).
    fn fake_boot_mount(&mut self, line: String) {
        fs::remove_file(self.path("proc")).unwrap();
        fs::create_dir(self.path("proc")).unwrap();
        self.boot_line = Some(line);
    }

    fn refresh_mounts(&self) {
        if let Some(line) = &self.boot_line {
            let real = fs::read_to_string("/proc/self/mounts").unwrap();
            fs::write(self.path("proc/mounts"), format!("{real}{line}\n")).unwrap();
        }
    }

    /// `rccr init --root DIR ARGS...` with stdin closed.
    fn init(&self, args: &[&str]) -> Run {
        self.refresh_mounts();
        let mut all = vec!["init", "--root", self.dir.to_str().unwrap()];
        all.extend_from_slice(args);
        Run::from(run(RCCR, &all))
    }

    /// The same on a pseudo-terminal of the test's own, `answer` typed
    /// ahead.
    fn init_on_terminal(&self, args: &[&str], answer: &str) -> Run {
        self.refresh_mounts();
        let mut cmd = Command::new(RCCR);
        cmd.args(["init", "--root", self.dir.to_str().unwrap()])
            .args(args);
        let out = run_on_terminal(cmd, format!("{answer}\n").as_bytes());
        Run {
            code: out.status.code(),
            // A terminal has one stream: the echo of `answer`, then stdout
            // and stderr together.
            stderr: String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        }
    }

    fn storage(&self) -> Run {
        self.init(&["--storage"])
    }

    /// Mount targets under this node's directory, deepest first.
    fn mounts(&self) -> Vec<(String, PathBuf)> {
        let text = fs::read_to_string("/proc/self/mounts").unwrap();
        let mut out: Vec<(String, PathBuf)> = text
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let source = f.next()?.to_string();
                let target = PathBuf::from(f.next()?.replace("\\040", " "));
                target.starts_with(&self.dir).then_some((source, target))
            })
            .collect();
        out.sort_by_key(|(_, t)| std::cmp::Reverse(t.components().count()));
        out
    }

    /// What is mounted at `rel`, by source device.
    fn mounted_at(&self, rel: &str) -> Option<String> {
        let target = self.path(rel);
        self.mounts()
            .into_iter()
            .find(|(_, t)| *t == target)
            .map(|(s, _)| s)
    }

    /// A reboot, as far as storage goes: nothing of ours stays mounted.
    fn unmount_all(&self) {
        for (_, target) in self.mounts() {
            let t = target.to_str().unwrap();
            if !run("umount", &[t]).status.success() {
                let _ = run("umount", &["--lazy", t]);
            }
        }
    }

    fn status(&self) -> String {
        fs::read_to_string(self.path("run/rccr/status")).unwrap_or_default()
    }

    /// Asserts the status file says this node has no persistent storage.
    #[track_caller]
    fn assert_no_storage(&self, context: &str) {
        let status = self.status();
        assert!(status.starts_with("storage: none: "), "{status}{context}");
    }

    /// A snapshot of every disk, to compare with later.
    fn snapshots(&self) -> Vec<PathBuf> {
        let tagged = self.disks.iter().enumerate();
        tagged.map(|(i, d)| d.snapshot(&i.to_string())).collect()
    }

    /// Asserts that no disk was written since `snapshots` (by `out`'s run).
    #[track_caller]
    fn assert_unchanged(&self, snapshots: &[PathBuf], out: &Run) {
        for (d, snap) in self.disks.iter().zip(snapshots) {
            assert!(
                d.unchanged_since(snap),
                "{} was written:\n{}",
                d.dev,
                out.stderr
            );
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.unmount_all();
        for d in self.disks.drain(..) {
            // The read-only flag outlives the loop device's backing file:
            // the next user of its number would inherit it.
            let _ = run("blockdev", &["--setrw", &d.dev]);
            let _ = run("losetup", &["--detach", &d.dev]);
        }
        // remove_dir_all removes the dev and proc symlinks, never what they
        // point to; nothing may be mounted below any more.
        if self.mounts().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("left {} in place: still mounted", self.dir.display());
        }
    }
}

struct Run {
    code: Option<i32>,
    stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "{}", self.stderr);
        for line in self.stderr.lines() {
            assert!(
                line.starts_with("rccr-init: "),
                "unprefixed: {line}\n{}",
                self.stderr
            );
        }
        self
    }

    /// Asserts the run exited with `code` and said `text`.
    #[track_caller]
    fn must_fail(&self, code: i32, text: &str) {
        assert_eq!(self.code, Some(code), "{}", self.stderr);
        self.must_say(text);
    }

    fn says(&self, text: &str) -> bool {
        self.stderr.contains(text)
    }

    /// Asserts that stderr says `text`, showing all of it when not.
    #[track_caller]
    fn must_say(&self, text: &str) {
        assert!(self.says(text), "{}", self.stderr);
    }
}

/// The MBR entry in `slot` of a sector: (type, first block, blocks).
fn entry(sector: &[u8], slot: usize) -> (u8, u32, u32) {
    let e = &sector[446 + 16 * slot..462 + 16 * slot];
    let u32_at = |i: usize| u32::from_le_bytes(e[i..i + 4].try_into().unwrap());
    (e[4], u32_at(8), u32_at(12))
}

/// The layout every prepared node has once `--storage` ran.
fn assert_layout(node: &Node, dev: &str) {
    assert_eq!(node.mounted_at("media/rccr").as_deref(), Some(dev));
    for bound in ["var/lib/docker", "var/lib/rccr"] {
        assert_eq!(node.mounted_at(bound).as_deref(), Some(dev), "{bound}");
    }
    assert_eq!(
        fs::read_link(node.path("etc/apk/cache")).unwrap(),
        Path::new("/media/rccr/apk-cache")
    );
    assert!(node.path("media/rccr/apk-cache").is_dir());
    assert_eq!(node.status(), format!("storage: {dev}\n"));
}

#[test]
fn a_blank_disk_is_prepared_and_a_second_boot_keeps_it() {
    let mut node = or_skip!(root_node("blank"));
    let i = node.disk("blank", DISK);
    let disk = &node.disks[i];
    let (dev, p1) = (disk.dev.clone(), disk.part(1));

    let first = node.storage().ok();
    first.must_say(&format!("{dev}: blank: partition table"));

    // rccr's table: identifier RCCR, one Linux partition from 1 MiB to the end.
    let sector = node.disks[i].sector0();
    assert_eq!(&sector[440..444], b"RCCR");
    assert_eq!(&sector[510..512], &[0x55, 0xaa]);
    assert_eq!(
        entry(&sector, 0),
        (0x83, 2048, (DISK / SECTOR - 2048) as u32)
    );
    for slot in 1..4 {
        assert_eq!(entry(&sector, slot), (0, 0, 0));
    }
    let (kind, label, uuid) = blkid(&p1);
    assert_eq!((kind.as_str(), label.as_str()), ("ext4", "RCCR"));
    assert_layout(&node, &p1);

    // Docker's data lands on the disk.
    fs::write(node.path("var/lib/docker/marker"), "kept").unwrap();
    assert_eq!(
        fs::read_to_string(node.path("media/rccr/docker/marker")).unwrap(),
        "kept"
    );

    // Again at once: nothing changes.
    let again = node.storage().ok();
    again.must_say("rccr-init: nothing to change\n");
    assert_eq!(node.disks[i].sector0(), sector);

    // A reboot: the same filesystem comes back, with its data.
    node.unmount_all();
    assert_eq!(node.mounted_at("media/rccr"), None);
    let reboot = node.storage().ok();
    reboot.must_say(&format!("{p1} mounted on /media/rccr"));
    assert!(!reboot.says("partition table"), "{}", reboot.stderr);
    assert_eq!(node.disks[i].sector0(), sector);
    assert_eq!(blkid(&p1).2, uuid, "not made again");
    assert_layout(&node, &p1);
    assert_eq!(
        fs::read_to_string(node.path("var/lib/docker/marker")).unwrap(),
        "kept"
    );
}

#[test]
fn disks_with_anything_on_them_are_never_written() {
    let mut node = or_skip!(root_node("data"));
    // A partition table and no filesystem.
    let table = node.disk("table", DISK);
    node.disks[table].sfdisk("label: dos\nstart=2048, type=83\n");
    // A filesystem and no table.
    let fs_only = node.disk("fs", DISK);
    mkfs("ext4", "data", &node.disks[fs_only].dev);
    // One byte in the last MiB (where md 1.0 and GPT backups live).
    let tail = node.disk("tail", DISK);
    File::options()
        .write(true)
        .open(&node.disks[tail].file)
        .unwrap()
        .write_all_at(&[1], DISK - MIB / 2)
        .unwrap();
    // Signatures blkid finds beyond the first MiB: a VMFS volume's at
    // 1 MiB, and a byte where LUKS2's last secondary header starts (4 MiB).
    let vmfs = node.disk("vmfs", DISK);
    let luks = node.disk("luks", DISK);
    let write_at = |i: usize, bytes: &[u8], at: u64| {
        File::options()
            .write(true)
            .open(&node.disks[i].file)
            .unwrap()
            .write_all_at(bytes, at)
            .unwrap();
    };
    write_at(vmfs, b"\x0d\xd0\x01\xc0", MIB);
    write_at(luks, b"S", 4 * MIB);
    let vmfs_file = node.disks[vmfs].file.to_str().unwrap().to_string();
    assert_eq!(blkid(&vmfs_file).0, "VMFS_volume_member");
    let snapshots = node.snapshots();

    let out = node.storage().ok();
    node.assert_unchanged(&snapshots, &out);
    for d in &node.disks {
        out.must_say(&format!(
            "{} holds data: not used (rccr-init --prepare-disk {} erases it",
            d.dev, d.dev
        ));
    }
    out.must_say("no persistent storage (no filesystem labelled RCCR and no blank disk)");
    assert_eq!(
        node.status(),
        "storage: none: no filesystem labelled RCCR and no blank disk\n"
    );
    assert!(node.mounts().is_empty());
}

#[test]
fn a_dry_run_prepares_nothing() {
    let mut node = or_skip!(root_node("dry"));
    let i = node.disk("blank", DISK);
    let snap = node.disks[i].snapshot("dry");
    let out = node.init(&["--storage", "--dry-run"]).ok();
    out.must_say("would change");
    assert!(node.disks[i].unchanged_since(&snap));
    assert!(node.mounts().is_empty());
    assert_eq!(node.status(), "");
}

#[test]
fn prepare_disk_wants_the_device_path_typed() {
    let mut node = or_skip!(root_node("ask"));
    let (i, dev) = node.ext4_disk("data", "data");
    let snap = node.disks[i].snapshot("ask");

    // No terminal and no --yes: refused before anything.
    let no_tty = node.init(&["--prepare-disk", &dev]);
    no_tty.must_fail(2, "no terminal to confirm on: pass --yes");
    assert!(node.disks[i].unchanged_since(&snap));

    // A wrong answer (the disk's name without /dev/, "y") cancels.
    for wrong in [node.disks[i].name().to_string(), "y".to_string()] {
        let out = node.init_on_terminal(&["--prepare-disk", &dev], &wrong);
        assert_eq!(out.code, Some(1), "{wrong}: {}", out.stderr);
        out.must_say(&format!("Type {dev} to go on: "));
        assert!(
            out.says("ext4 filesystem 'data', no partition table"),
            "the prompt says what is there: {}",
            out.stderr
        );
        out.must_say("cancelled; nothing was changed");
        assert!(
            node.disks[i].unchanged_since(&snap),
            "written after {wrong:?}"
        );
    }

    // The right one erases it and prepares it.
    let out = node.init_on_terminal(&["--prepare-disk", &dev], &dev);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    out.must_say("ready; rccr-init uses it from the next boot");
    assert_eq!(&node.disks[i].sector0()[440..444], b"RCCR");
    let p1 = node.disks[i].part(1);
    assert_eq!(blkid(&p1).1, "RCCR");
    assert!(node.mounts().is_empty(), "prepared, not mounted");

    // The next boot uses it.
    node.storage().ok();
    assert_layout(&node, &p1);
}

/// Overwrites the volume name of the ext filesystem on `dev` (its
/// superblock at 1024, the name at 120 in it, 16 bytes) with `label`.
fn set_ext_label(dev: &str, label: &[u8]) {
    let mut field = [0u8; 16];
    field[..label.len()].copy_from_slice(label);
    let disk = fs::OpenOptions::new().write(true).open(dev).unwrap();
    disk.write_all_at(&field, 1024 + 120).unwrap();
    disk.sync_all().unwrap();
}

#[test]
fn labels_in_the_prepare_disk_prompt_are_escaped() {
    // A label is the disk's word: it must not rewrite the line the
    // operator reads before typing the path that erases the disk.
    let mut node = or_skip!(root_node("esclabel"));
    let (_, whole_dev) = node.ext4_disk("whole", "data");
    set_ext_label(&whole_dev, b"\x1b[1A\x1b[2Kx");
    let parted = node.disk("parted", DISK);
    node.disks[parted].sfdisk("label: dos\nstart=2048, type=83\n");
    let p1 = node.disks[parted].part(1);
    mkfs("ext4", "data", &p1);
    set_ext_label(&p1, b"\x1b]0;owned\x07");
    for (dev, shown) in [
        (
            &whole_dev,
            "ext4 filesystem '?[1A?[2Kx', no partition table",
        ),
        (&node.disks[parted].dev, "ext4 filesystem '?]0;owned?'"),
    ] {
        let out = node.init(&["--prepare-disk", dev, "--dry-run"]).ok();
        out.must_say(shown);
        assert!(
            !out.stderr.contains(['\x1b', '\x07']),
            "a control byte reached the terminal: {:?}",
            out.stderr
        );
    }
}

#[test]
fn prepare_disk_yes_skips_the_prompt_and_refuses_disks_in_use() {
    let mut node = or_skip!(root_node("yes"));
    let i = node.disk("table", DISK);
    node.disks[i].sfdisk("label: dos\nstart=2048, size=4096, type=83\nstart=8192, type=7\n");
    let dev = node.disks[i].dev.clone();

    let out = node.init(&["--prepare-disk", &dev, "--yes"]).ok();
    assert!(!out.says("Type "), "no prompt: {}", out.stderr);
    let p1 = node.disks[i].part(1);
    assert_eq!(blkid(&p1).1, "RCCR");
    let sector = node.disks[i].sector0();
    assert_eq!(
        entry(&sector, 0),
        (0x83, 2048, (DISK / SECTOR - 2048) as u32)
    );
    assert_eq!(
        entry(&sector, 1),
        (0, 0, 0),
        "the old second partition is gone"
    );

    // Mounted (as at boot): refused, and neither the partition table nor
    // the filesystem made anew. (Not every byte: the mounted ext4 writes
    // to its disk by itself, its journal and lazy inode-table zeroing, so
    // a byte-for-byte snapshot fails now and then whatever rccr does.)
    node.storage().ok();
    let (table, filesystem) = (node.disks[i].sector0(), blkid(&p1));
    let busy = node.init(&["--prepare-disk", &dev, "--yes"]);
    busy.must_fail(1, &format!("{dev}: in use; nothing was changed"));
    assert!(
        node.disks[i].sector0() == table,
        "the partition table changed"
    );
    assert_eq!(blkid(&p1), filesystem, "the filesystem was made anew");

    // A partition, or no disk at all: bad input, and which disk to name.
    let part = node.init(&["--prepare-disk", &p1, "--yes"]);
    part.must_fail(3, &format!("it is a partition, name its disk {dev}"));
    node.init(&["--prepare-disk", "/dev/rccr-none", "--yes"])
        .must_fail(3, "no such disk; list the disks with lsblk");
    assert_eq!(node.init(&["--prepare-disk", "sdb", "--yes"]).code, Some(2));
}

/// The table of a Pi image: one bootable FAT32 partition of 64 MiB at 1 MiB.
const PI_BOOT_TABLE: &str =
    "label: dos\nlabel-id: 0x52a1ee35\nstart=2048, size=131072, type=c, bootable\n";

/// A Raspberry Pi card as the images are flashed: one bootable FAT32
/// partition of 64 MiB at 1 MiB with files on it, free space after it.
/// Returns the disk's index; the partition is held open, as a mounted boot
/// partition would be.
fn pi_card(node: &mut Node, size: u64) -> (usize, File) {
    let i = node.disk("card", size);
    node.disks[i].sfdisk(PI_BOOT_TABLE);
    let p1 = node.disks[i].part(1);
    mkfs("vfat", "ALPINE", &p1);
    let cmdline = node.path("images/cmdline.txt");
    fs::write(
        &cmdline,
        "modules=loop,squashfs,sd-mod,usb-storage quiet console=tty1\n",
    )
    .unwrap();
    ok(
        "mcopy",
        &["-i", &p1, cmdline.to_str().unwrap(), "::cmdline.txt"],
    );
    // Mounted at /media/<dev> holding a boot repository, as the initramfs
    // leaves it.
    let name = p1.trim_start_matches("/dev/");
    let media = node.path(&format!("media/{name}"));
    fs::create_dir_all(media.join("apks")).unwrap();
    fs::write(media.join("apks/.boot_repository"), "").unwrap();
    node.fake_boot_mount(format!("{p1} {} vfat ro,relatime 0 0", media.display()));
    let held = File::open(&p1).unwrap();
    (i, held)
}

#[test]
fn a_pi_card_gets_an_rccr_partition_after_its_boot_partition_once() {
    let mut node = or_skip!(root_node("pi"));
    let size = 1200 * MIB;
    let (i, _held) = pi_card(&mut node, size);
    let card = node.disks[i].snapshot("pi");
    let (p1, p2) = (node.disks[i].part(1), node.disks[i].part(2));
    let fat = blkid(&p1);

    let first = node.storage().ok();
    first.must_say("partition 2 (1135 MiB) in the free space after the boot partition");
    let disk = &node.disks[i];
    let sector = disk.sector0();
    let before = read_range(&card, 0, SECTOR);
    // Boot code, disk id and the image's entry: every byte as flashed.
    assert_eq!(sector[..462], before[..462]);
    assert_eq!(sector[478..], before[478..]);
    assert_eq!(
        entry(&sector, 1),
        (0x83, 133120, (size / SECTOR - 133120) as u32)
    );
    // The whole boot partition, byte for byte.
    assert_eq!(
        read_range(&disk.file, 2048 * SECTOR, 131072 * SECTOR),
        read_range(&card, 2048 * SECTOR, 131072 * SECTOR)
    );
    assert_eq!(blkid(&p1), fat);
    let (kind, label, uuid) = blkid(&p2);
    assert_eq!((kind.as_str(), label.as_str()), ("ext4", "RCCR"));
    assert_layout(&node, &p2);

    let again = node.storage().ok();
    again.must_say("rccr-init: nothing to change\n");

    // Second boot: the card keeps its table; the filesystem is the same.
    node.unmount_all();
    let reboot = node.storage().ok();
    assert!(!reboot.says("free space"), "{}", reboot.stderr);
    assert_eq!(node.disks[i].sector0(), sector);
    assert_eq!(blkid(&p2).2, uuid);
    assert_layout(&node, &p2);
}

#[test]
fn a_pi_card_with_a_partition_after_the_boot_partition() {
    // Blank: our own partition, cut short before mkfs (power lost): it is
    // formatted, the table left as it is.
    let mut node = or_skip!(root_node("pi-cut"));
    let (i, _held) = pi_card(&mut node, 1200 * MIB);
    node.disks[i].sfdisk(&format!(
        "{PI_BOOT_TABLE}start=133120, size={}, type=83\n",
        1200 * MIB / SECTOR - 133120
    ));
    let sector = node.disks[i].sector0();
    let out = node.storage().ok();
    out.must_say("partition 2 is blank: an RCCR partition cut short");
    assert_eq!(node.disks[i].sector0(), sector);
    assert_eq!(blkid(&node.disks[i].part(2)).1, "RCCR");
    drop(_held);
    drop(node);

    // Holding data: the card is not written at all.
    pi_card_left_alone("pi-data", "start=133120, size=200000, type=83\n", true);
    // Its entry of type 0: a partition still, as Linux reads the table
    // (review parsers-state, defect 1).
    pi_card_left_alone("pi-type0", "start=133120, size=200000, type=0\n", true);
}

/// A Pi card whose table is the boot partition then `after`, partition 2
/// holding ext4 "mine" when `mine`: storage must leave every byte alone
/// and find no storage.
fn pi_card_left_alone(tag: &str, after: &str, mine: bool) {
    let mut node = Node::new(tag);
    let (i, _held) = pi_card(&mut node, 1200 * MIB);
    node.disks[i].sfdisk(&format!("{PI_BOOT_TABLE}{after}"));
    if mine {
        mkfs("ext4", "mine", &node.disks[i].part(2));
    }
    let snap = node.disks[i].snapshot(tag);
    let out = node.storage().ok();
    out.must_say("has partitions after its boot partition");
    assert!(node.disks[i].unchanged_since(&snap), "{}", out.stderr);
    node.assert_no_storage("");
}

#[test]
fn a_pi_card_with_a_blank_partition_not_at_rccrs_place_is_left_alone() {
    if !require_root() {
        return;
    }
    // The user's ext4 as p2 and a blank type-83 p3 just made: p3 is not
    // rccr's (not the only partition after the boot partition).
    let p3 = format!(
        "start=133120, size=200000, type=83\nstart=335872, size={}, type=83\n",
        1200 * MIB / SECTOR - 335872
    );
    pi_card_left_alone("pi-p3", &p3, true);
    // A blank type-83 p2 of another size than rccr's.
    pi_card_left_alone("pi-small", "start=133120, size=200000, type=83\n", false);
}

#[test]
fn a_preparation_cut_short_is_finished_and_a_lookalike_is_not() {
    let mut node = or_skip!(root_node("cut"));
    let table = |id: &str| {
        format!(
            "label: dos\nlabel-id: {id}\nstart=2048, size={}, type=83\n",
            DISK / SECTOR - 2048
        )
    };
    // rccr's table with another identifier: someone's empty partition,
    // alone on the node, so nothing else could be chosen instead.
    let other = node.disk("other", DISK);
    node.disks[other].sfdisk(&table("0x12345678"));
    let snap = node.disks[other].snapshot("other");
    let out = node.storage().ok();
    assert!(node.disks[other].unchanged_since(&snap), "{}", out.stderr);
    node.assert_no_storage(&out.stderr);

    // rccr's table (identifier "RCCR"), the partition still blank. A dry
    // run formats nothing.
    let ours = node.disk("ours", DISK);
    node.disks[ours].sfdisk(&table("0x52434352"));
    let snaps = node.snapshots();
    let dry = node.init(&["--storage", "--dry-run"]).ok();
    dry.must_say("would change");
    node.assert_unchanged(&snaps, &dry);
    let out = node.storage().ok();
    out.must_say("a preparation cut short; finishing it");
    let p1 = node.disks[ours].part(1);
    assert_eq!(blkid(&p1).1, "RCCR");
    assert!(node.disks[other].unchanged_since(&snap), "{}", out.stderr);
    assert_layout(&node, &p1);
}

#[test]
fn existing_rccr_filesystems_are_used_and_fat_ones_named() {
    // Two ext4 filesystems labelled RCCR, on whole disks: the first in
    // name order is used, the other named; a blank disk beside them is
    // left alone.
    let mut node = or_skip!(root_node("existing"));
    let a = node.disk("a", DISK);
    let b = node.disk("b", DISK);
    let blank = node.disk("blank", DISK);
    for i in [a, b] {
        mkfs("ext4", "RCCR", &node.disks[i].dev);
    }
    let snap = node.disks[blank].snapshot("blank");
    let mut devs = [node.disks[a].dev.clone(), node.disks[b].dev.clone()];
    devs.sort();
    let out = node.storage().ok();
    out.must_say(&format!(
        "{} is labelled RCCR too; using {} (keep one)",
        devs[1], devs[0]
    ));
    assert_layout(&node, &devs[0]);
    assert!(node.disks[blank].unchanged_since(&snap));
    drop(node);

    // A FAT one (what lbu media used to be): named, not used for Docker,
    // and no other disk is prepared instead.
    let mut node = Node::new("fat");
    let fat = node.disk("fat", DISK);
    mkfs("vfat", "RCCR", &node.disks[fat].dev);
    node.disk("blank", DISK);
    let snaps = node.snapshots();
    let out = node.storage().ok();
    let dev = &node.disks[fat].dev;
    out.must_say(&format!("{dev} is labelled RCCR but is FAT"));
    node.assert_unchanged(&snaps, &out);
    assert!(node.mounts().is_empty());
    assert!(node
        .status()
        .starts_with(&format!("storage: none: {dev} is labelled RCCR but is FAT")));
}

/// Opens `dev` the way swapon, md, device mapper and mkfs claim a device
/// (`O_EXCL` on a block device); the claim lasts as long as the file.
fn claim(dev: &str) -> File {
    use std::os::unix::fs::OpenOptionsExt;
    File::options()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(dev)
        .unwrap_or_else(|e| panic!("claim {dev}: {e}"))
}

#[test]
fn disks_that_something_else_holds_are_never_written() {
    // A blank disk that another program holds (what a dm-crypt plain
    // mapping or a running mkfs looks like: nothing in /proc/mounts, no
    // holders/ entry for a userspace claim).
    let mut node = or_skip!(root_node("claimed"));
    let blank = node.disk("blank", DISK);
    let held = claim(&node.disks[blank].dev);
    let snaps = node.snapshots();
    let out = node.storage().ok();
    node.assert_unchanged(&snaps, &out);
    out.must_say(&format!(
        "{}: in use (swap, RAID, LVM or device mapper, or another program holds it): not used",
        node.disks[blank].dev
    ));
    node.assert_no_storage(&out.stderr);
    drop(held);

    // --prepare-disk on a disk whose partition is claimed (active swap
    // claims it so, and /proc/mounts does not list swap): refused.
    let i = node.disk("swap", DISK);
    node.disks[i].sfdisk("label: dos\nstart=2048, size=65536, type=82\n");
    let dev = node.disks[i].dev.clone();
    let swap = claim(&node.disks[i].part(1));
    let snap = node.disks[i].snapshot("swap");
    let out = node.init(&["--prepare-disk", &dev, "--yes"]);
    out.must_fail(1, &format!("{dev}: in use (swap"));
    assert!(node.disks[i].unchanged_since(&snap), "{}", out.stderr);
    drop(swap);
}

#[test]
fn disks_with_data_are_read_never_claimed() {
    // mdadm and LVM claim their members (O_EXCL) while they start, before
    // holders/ shows anything: a boot that claimed a disk with data, even
    // for a moment, could make theirs fail (EBUSY) and an array or volume
    // group not come up. Held here as they hold them, a whole-disk md
    // member and a disk whose partition is an LVM PV are still read and
    // named as data: a claim attempt would have found them in use.
    let mut node = or_skip!(root_node("assembling"));
    let md = node.disk("md", DISK);
    // md 1.2's superblock magic, 4 KiB into the member.
    File::options()
        .write(true)
        .open(&node.disks[md].file)
        .unwrap()
        .write_all_at(&0xa92b4efc_u32.to_le_bytes(), 4096)
        .unwrap();
    let lvm = node.disk("lvm", DISK);
    node.disks[lvm].sfdisk("label: dos\nstart=2048, type=8e\n");
    let held = [claim(&node.disks[md].dev), claim(&node.disks[lvm].part(1))];
    let before = [node.disks[md].sector0(), node.disks[lvm].sector0()];
    let out = node.storage().ok();
    // Cheaper than whole snapshots (disks_with_anything_on_them_are_never_written
    // compares every byte of such disks).
    let md_magic = read_range(&node.disks[md].file, 4096, 4);
    assert_eq!(md_magic, 0xa92b4efc_u32.to_le_bytes(), "{}", out.stderr);
    let after = [node.disks[md].sector0(), node.disks[lvm].sector0()];
    assert_eq!(before, after, "{}", out.stderr);
    for d in &node.disks {
        out.must_say(&format!("{} holds data: not used", d.dev));
    }
    assert!(!out.says("in use"), "{}", out.stderr);
    node.assert_no_storage(&out.stderr);
    drop(held);
}

#[test]
fn prepare_disk_erases_what_makes_a_disk_not_blank_and_a_cut_after_it_is_finished() {
    // Signatures beyond the first MiB (VMFS at 1 MiB, a byte at 3 MiB) and
    // in the last MiB; killed right after the erasure (a power cut before
    // the table): the next boot takes the disk as blank and prepares it.
    let mut node = or_skip!(root_node("erase"));
    let i = node.disk("vmfs", DISK);
    let dev = node.disks[i].dev.clone();
    let file = File::options()
        .write(true)
        .open(&node.disks[i].file)
        .unwrap();
    file.write_all_at(b"\x0d\xd0\x01\xc0", MIB).unwrap();
    file.write_all_at(b"S", 3 * MIB).unwrap();
    file.write_all_at(b"T", DISK - MIB / 2).unwrap();
    drop(file);
    killed_at(
        &node,
        &["--prepare-disk", &dev, "--yes"],
        "prepare-disk-erased",
    );
    let f = &node.disks[i].file;
    assert!(
        read_range(f, 0, 5 * MIB).iter().all(|&b| b == 0),
        "head left"
    );
    assert!(
        read_range(f, DISK - MIB, MIB).iter().all(|&b| b == 0),
        "tail left"
    );

    let out = node.storage().ok();
    out.must_say(&format!("{dev}: blank: partition table with one partition"));
    let p1 = node.disks[i].part(1);
    assert_eq!(blkid(&p1).1, "RCCR", "{}", out.stderr);
    assert_layout(&node, &p1);
}

/// What `mkfs.ext4` cut short leaves on `dev`: everything but the primary
/// superblock, which mke2fs writes last (after some 130 writes, most of
/// them in the first MiB: `strace -e pwrite64 mkfs.ext4`).
fn mkfs_cut_short(dev: &str) {
    mkfs("ext4", "RCCR", dev);
    ok(
        "dd",
        &[
            "if=/dev/zero",
            &format!("of={dev}"),
            // The superblock's 4 KiB block: O_DIRECT on a 4Kn disk too
            // (mke2fs zeroes it first, so no more is lost).
            "bs=4096",
            "count=1",
            "oflag=direct,sync",
            "conv=notrunc",
            "status=none",
        ],
    );
    assert_eq!(blkid(dev).0, "", "{dev}: a filesystem is left");
}

/// A table like rccr's on a whole disk, with disk identifier `id`.
fn rccr_like_table(id: &str) -> String {
    format!(
        "label: dos\nlabel-id: {id}\nstart=2048, size={}, type=83\n",
        DISK / SECTOR - 2048
    )
}

#[test]
fn an_mkfs_cut_short_is_finished_on_a_disk_rccr_marked_as_preparing() {
    // Identifier RCCR: finished, so a partition holding anything but a
    // filesystem is not provably rccr's any more: left alone.
    let mut node = or_skip!(root_node("mkfs-cut"));
    let done = node.disk("done", DISK);
    node.disks[done].sfdisk(&rccr_like_table("0x52434352"));
    mkfs_cut_short(&node.disks[done].part(1));
    let snap = node.disks[done].snapshot("done");
    let out = node.storage().ok();
    assert!(node.disks[done].unchanged_since(&snap), "{}", out.stderr);
    out.must_say(&format!("{} holds data: not used", node.disks[done].dev));
    node.assert_no_storage(&out.stderr);

    // Identifier RCCP: rccr's, being prepared: formatted whatever the cut
    // left, then marked RCCR.
    let prep = node.disk("prep", DISK);
    node.disks[prep].sfdisk(&rccr_like_table("0x50434352"));
    let p1 = node.disks[prep].part(1);
    mkfs_cut_short(&p1);
    let out = node.storage().ok();
    out.must_say("a preparation cut short; finishing it");
    assert_eq!(blkid(&p1).1, "RCCR");
    assert_eq!(&node.disks[prep].sector0()[440..444], b"RCCR");
    assert!(node.disks[done].unchanged_since(&snap), "{}", out.stderr);
    assert_layout(&node, &p1);
}

/// Runs `rccr init --storage` on `node` until failpoint `point`, then
/// kills it there: a power cut at that step, as far as the disks go.
fn storage_killed_at(node: &Node, point: &str) {
    killed_at(node, &["--storage"], point);
}

/// Runs `rccr init --root DIR ARGS...` until failpoint `point`, then kills
/// it there.
fn killed_at(node: &Node, args: &[&str], point: &str) {
    let mut child = stopped_at(node, args, point);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Starts `rccr init --root DIR ARGS...` and returns it waiting at
/// failpoint `point` (its stderr piped); it goes on once the node's
/// `failpoint/continue` exists, and is killed if the test ends first.
fn stopped_at(node: &Node, args: &[&str], point: &str) -> KillOnDrop {
    node.refresh_mounts();
    let fp = node.path("failpoint");
    let _ = fs::remove_dir_all(&fp);
    fs::create_dir_all(&fp).unwrap();
    let child = common::child::spawn(
        Command::new(RCCR)
            .args(["init", "--root", node.dir.to_str().unwrap()])
            .args(args)
            .env("RCCR_FAILPOINT", point)
            .env("RCCR_FAILPOINT_DIR", &fp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let start = std::time::Instant::now();
    while !fp.join("reached").exists() && start.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(fp.join("reached").exists(), "{point} never reached");
    child
}

#[test]
fn data_written_between_the_read_and_the_claim_is_never_overwritten() {
    // The disk is blank when rccr first reads it; before it claims the
    // disk, something else (here: an md member's superblock, as mdadm
    // --create writes it) makes it hold data. The read under the claim
    // must see that and leave the disk alone.
    let mut node = or_skip!(root_node("raced"));
    let i = node.disk("raced", DISK);
    let child = stopped_at(&node, &["--storage"], "storage-read");
    // Through the device, as mdadm writes: rccr reads the device.
    let dev = File::options()
        .write(true)
        .open(&node.disks[i].dev)
        .unwrap();
    dev.write_all_at(&0xa92b4efc_u32.to_le_bytes(), 4096)
        .unwrap();
    dev.sync_all().unwrap();
    let snap = node.disks[i].snapshot("raced");
    File::create(node.path("failpoint/continue")).unwrap();
    let out = Run::from(child.wait_with_output()).ok();
    assert!(node.disks[i].unchanged_since(&snap), "{}", out.stderr);
    out.must_say(&format!("{} holds data: not used", node.disks[i].dev));
    node.assert_no_storage(&out.stderr);
}

/// An rccr stopped at a failpoint whose test has gone (here: its
/// directory removed, as a test's scratch is when it panics) waited out
/// the failpoint's 300 s and then went on: a first boot's `--storage`
/// claimed and formatted a loop device the test had detached, or another
/// test had attached again by number. It exits 1 now, the disk untouched.
#[test]
fn an_init_whose_failpoint_is_abandoned_exits_and_leaves_the_disk_alone() {
    let mut node = or_skip!(root_node("abandoned"));
    let i = node.disk("abandoned", DISK);
    let snap = node.disks[i].snapshot("abandoned");
    let child = stopped_at(&node, &["--storage"], "storage-read");
    fs::remove_dir_all(node.path("failpoint")).unwrap();
    let out = Run::from(child.wait_with_output());
    out.must_fail(1, "failpoint storage-read: no ");
    out.must_say("exiting instead of going on");
    assert!(node.disks[i].unchanged_since(&snap), "{}", out.stderr);
}

const KILL_POINTS: [&str; 2] = ["storage-table-written", "storage-formatted"];

/// A first boot's `--storage` killed at `point`, then a boot: sector 0
/// of disk `i` carries the mark of a preparation (`mark` of it is
/// `marks[0]`) after the kill and the finished one (`marks[1]`) after the
/// boot, and `part` holds the RCCR filesystem, the same one if mkfs had
/// finished before the kill.
fn kill_then_boot(
    node: &Node,
    i: usize,
    part: &str,
    point: &str,
    mark: fn(&[u8]) -> Vec<u8>,
    marks: [&[u8]; 2],
) {
    storage_killed_at(node, point);
    assert_eq!(mark(&node.disks[i].sector0()), marks[0], "{point}");
    node.disks[i].scan();
    let uuid = blkid(part).2;
    assert_eq!(uuid.is_empty(), point == "storage-table-written", "{point}");

    let out = node.storage().ok();
    assert_eq!(mark(&node.disks[i].sector0()), marks[1], "{point}");
    assert_eq!(blkid(part).1, "RCCR", "{point}");
    if !uuid.is_empty() {
        assert_eq!(blkid(part).2, uuid, "{point}: made again\n{}", out.stderr);
    }
    assert_layout(node, part);
}

#[test]
fn a_preparation_killed_at_each_step_converges_at_the_next_boot() {
    let disk_id = |sector: &[u8]| sector[440..444].to_vec();
    for point in KILL_POINTS {
        let mut node = or_skip!(root_node(point));
        let i = node.disk("blank", DISK);
        let p1 = node.disks[i].part(1);
        kill_then_boot(&node, i, &p1, point, disk_id, [b"RCCP", b"RCCR"]);
    }
}

#[test]
fn a_pi_card_killed_at_each_step_converges_at_the_next_boot() {
    let second_type = |sector: &[u8]| vec![entry(sector, 1).0];
    for point in KILL_POINTS {
        let mut node = or_skip!(root_node(&format!("pi-{point}")));
        let (i, _held) = pi_card(&mut node, 1200 * MIB);
        let p2 = node.disks[i].part(2);
        kill_then_boot(&node, i, &p2, point, second_type, [&[0x7f], &[0x83]]);
    }
}

#[test]
fn a_pi_cards_partition_cut_short_in_mkfs_is_finished_only_where_rccr_puts_it() {
    let size = 1200 * MIB;
    // Type 0x7f where rccr puts its partition: rccr's, whatever mkfs left.
    let mut node = or_skip!(root_node("pi-mkfs-cut"));
    let (i, _held) = pi_card(&mut node, size);
    let sectors = size / SECTOR - 133120;
    node.disks[i].sfdisk(&format!(
        "{PI_BOOT_TABLE}start=133120, size={sectors}, type=7f\n"
    ));
    let p2 = node.disks[i].part(2);
    mkfs_cut_short(&p2);
    let out = node.storage().ok();
    out.must_say("partition 2 is rccr's, its filesystem not made");
    assert_eq!(blkid(&p2).1, "RCCR");
    let sector = node.disks[i].sector0();
    assert_eq!(entry(&sector, 1), (0x83, 133120, sectors as u32));
    assert_eq!(
        &sector[440..444],
        &[0x35, 0xee, 0xa1, 0x52],
        "the card's id kept"
    );
    assert_layout(&node, &p2);
    drop(_held);
    drop(node);

    // Type 0x7f elsewhere: not rccr's, not written.
    let mut node = Node::new("pi-7f-elsewhere");
    let (i, _held) = pi_card(&mut node, size);
    node.disks[i].sfdisk(&format!(
        "{PI_BOOT_TABLE}start=133120, size=400000, type=7f\n"
    ));
    mkfs_cut_short(&node.disks[i].part(2));
    let snap = node.disks[i].snapshot("elsewhere");
    let out = node.storage().ok();
    out.must_say("has partitions after its boot partition");
    assert!(node.disks[i].unchanged_since(&snap), "{}", out.stderr);
    node.assert_no_storage(&out.stderr);
}

#[test]
fn a_partition_the_kernel_places_elsewhere_than_the_table_is_not_formatted() {
    // The kernel knows partition 2 from an older table, over someone's
    // data, and cannot move it (it is open); the table on the card now
    // says partition 2 is a blank one after the boot partition.
    let size = 1200 * MIB;
    let mut node = or_skip!(root_node("pi-stale"));
    let (i, _held) = pi_card(&mut node, size);
    node.disks[i].sfdisk(&format!(
        "{PI_BOOT_TABLE}start=200000, size=400000, type=83\n"
    ));
    let data_at = 200000 * SECTOR;
    File::options()
        .write(true)
        .open(&node.disks[i].file)
        .unwrap()
        .write_all_at(&[0x5a; 4096], data_at + MIB)
        .unwrap();
    let sectors = size / SECTOR - 133120;
    node.disks[i].write_table(&format!(
        "{PI_BOOT_TABLE}start=133120, size={sectors}, type=83\n"
    ));
    let _open = File::open(node.disks[i].part(2)).unwrap();
    let before = read_range(&node.disks[i].file, data_at, 4 * MIB);

    let out = node.storage().ok();
    out.must_say("the kernel has partition 2 of");
    out.must_say("not formatted");
    assert!(
        read_range(&node.disks[i].file, data_at, 4 * MIB) == before,
        "the data under the kernel's partition 2 was written:\n{}",
        out.stderr
    );
    node.assert_no_storage(&out.stderr);
}

#[test]
fn a_blank_4kn_disk_is_partitioned_in_4_kib_blocks() {
    let mut node = or_skip!(root_node("4kn"));
    let i = node.disk_of_blocks("4kn", DISK, 4096);
    let p1 = node.disks[i].part(1);
    node.storage().ok();
    // The table counts 4 KiB blocks: 1 MiB is block 256.
    let sector = node.disks[i].sector0();
    assert_eq!(entry(&sector, 0), (0x83, 256, (DISK / 4096 - 256) as u32));
    assert_eq!(&sector[440..444], b"RCCR");
    assert_eq!(blkid(&p1).1, "RCCR");
    assert_layout(&node, &p1);

    // Cut short in mkfs: finished, in the same blocks.
    node.unmount_all();
    File::options()
        .write(true)
        .open(&node.disks[i].file)
        .unwrap()
        .write_all_at(b"RCCP", 440)
        .unwrap();
    mkfs_cut_short(&p1);
    let out = node.storage().ok();
    out.must_say("a preparation cut short; finishing it");
    assert_eq!(node.disks[i].sector0(), sector);
    assert_layout(&node, &p1);
}

/// Disk `i` of `node` made read-only (a write-protect switch, blockdev
/// --setro): `--storage` writes no disk, says `text` and finds no storage.
fn read_only_run(node: &Node, i: usize, text: &str) {
    ok("blockdev", &["--setro", &node.disks[i].dev]);
    let snaps = node.snapshots();
    let out = node.storage().ok();
    node.assert_unchanged(&snaps, &out);
    out.must_say(text);
    node.assert_no_storage(&out.stderr);
}

#[test]
fn read_only_disks_are_never_written() {
    // A blank disk: not looked at.
    let mut node = or_skip!(root_node("ro"));
    let i = node.disk("blank", DISK);
    let text = format!("{}: read-only: not used", node.disks[i].dev);
    read_only_run(&node, i, &text);
    drop(node);

    // A Pi card: its free space stays free.
    let mut node = Node::new("ro-pi");
    let (i, _held) = pi_card(&mut node, 1200 * MIB);
    let text = format!("cannot write {}", node.disks[i].dev);
    read_only_run(&node, i, &text);
}
