//! Full disks: the directory rccr writes in is a small tmpfs, filled up,
//! mounted in a mount namespace of the test's own (nothing reaches the
//! host's mounts, nor the lab control's), and the real binary runs there. What every write that
//! fails must leave (ARCHITECTURE.md, "Every file rccr changes is replaced
//! atomically"; docs/engine.md on a restore stopped by a full disk): one
//! line naming the file, exit 1, the old file byte for byte, and no
//! temporary file behind.
mod common;

use common::lab::{require_root, Lab};
use common::or_skip;
use common::scratch::Scratch;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RCCR: &str = env!("CARGO_BIN_EXE_rccr");

/// What the shell around the steps does: `DIR` becomes a tmpfs of 16
/// pages holding what it held (kept as OUT/before), then a filler takes
/// all of it but `FREE` pages. The steps run rccr with `run NAME ARGS...`
/// (its stdout, stderr and exit code kept as OUT/NAME.{out,err,rc}), keep
/// what `DIR` holds with `snapshot NAME` (OUT/NAME, the filler aside),
/// and may `free_disk`. At the end, with the disk freed: `snapshot after`.
const AROUND: &str = r#"set -eu
dir=$1 out=$2 free=$3 rccr=$4 steps=$5
page=$(getconf PAGESIZE)
mkdir "$out/before"
cp -a "$dir/." "$out/before/"
mount -t tmpfs -o "size=$((16 * page)),mode=$(stat -c %a "$dir")" rccr-full "$dir"
cp -a "$out/before/." "$dir/"
dd if=/dev/zero of="$dir/filler" bs="$page" 2>/dev/null || true
[ "$free" -eq 0 ] || truncate -s "-$((free * page))" "$dir/filler"
run() {
	name=$1
	shift
	rc=0
	"$rccr" "$@" >"$out/$name.out" 2>"$out/$name.err" || rc=$?
	echo "$rc" >"$out/$name.rc"
}
free_disk() { rm -f "$dir/filler"; }
snapshot() {
	mkdir "$out/$1"
	cp -a "$dir/." "$out/$1/"
	rm -f "$out/$1/filler"
}
eval "$steps"
free_disk
snapshot after
"#;

/// A home of the test's own (HOME, the working directory, the default
/// state directory `~/.rccr`).
struct Home(Scratch);

/// What the steps on a full disk left: runs by name, and the directory.
struct FullDisk {
    out: Scratch,
}

/// One run of rccr on the full disk.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Home {
    fn new(tag: &str) -> Home {
        Home(Scratch::new(&format!("full-{tag}")))
    }

    /// [`Home::new`] when root (mounts need it), else `None` (skipped).
    fn as_root(tag: &str) -> Option<Home> {
        require_root().then(|| Home::new(tag))
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.path(rel)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(&self.0 .0)
            .env("HOME", &self.0 .0)
            .env_remove("RCCR_STATE_DIR")
            .env_remove("RCCR_TEMP_KEY")
            .env_remove("RCCR_CLUSTER_KEY")
            .stdin(std::process::Stdio::null());
        command
    }

    /// `rccr ARGS` here, on no full disk; it must succeed.
    fn rccr(&self, args: &[&str]) {
        let out = self.command(RCCR).args(args).output().unwrap();
        assert!(out.status.success(), "rccr {args:?}: {out:?}");
    }

    /// A cluster key of `kind` where rccr keeps its own (`~/.rccr`).
    fn cluster_key(&self, kind: &str) {
        let key = self.path(".rccr/cluster_key");
        std::fs::create_dir_all(key.parent().unwrap()).unwrap();
        let key = key.to_str().unwrap();
        let comment = "rccr-cluster-key";
        self.rccr(&[
            "keygen", "--type", kind, "-f", key, "-C", comment, "--force",
        ]);
    }

    /// Runs `steps` (sh, see [`AROUND`]) with `dir` (made if missing) full
    /// but `free` pages, in a mount and network namespace of their own.
    fn on_full_disk(&self, dir: &str, free: u32, steps: &str) -> FullDisk {
        let dir = self.path(dir);
        std::fs::create_dir_all(&dir).unwrap();
        full_disk(&dir, free, RCCR, steps, |args| {
            let unshare = self.command("unshare").arg("--net").args(args).output();
            unshare.unwrap()
        })
    }
}

/// Runs [`AROUND`] for `dir`, `free`, the rccr at `rccr` and `steps`, by
/// `in_unshare`: it runs `unshare` with the arguments it is given (here,
/// or on a lab host).
fn full_disk(
    dir: &Path,
    free: u32,
    rccr: &str,
    steps: &str,
    in_unshare: impl FnOnce(&[&str]) -> Output,
) -> FullDisk {
    let out = Scratch::new("full-out");
    let (dir, kept) = (dir.to_str().unwrap(), out.0.to_str().unwrap());
    let free = free.to_string();
    let args = [
        "--mount", "sh", "-c", AROUND, "sh", dir, kept, &free, rccr, steps,
    ];
    let ran = in_unshare(&args);
    assert!(ran.status.success(), "the full disk's shell: {ran:?}");
    FullDisk { out }
}

impl FullDisk {
    fn run(&self, name: &str) -> Run {
        let read = |ext: &str| {
            let path = self.out.path(&format!("{name}.{ext}"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        Run {
            code: read("rc").trim().parse().unwrap(),
            stdout: read("out"),
            stderr: read("err"),
        }
    }

    /// A file the steps kept in OUT (`when/name`: in the directory as a
    /// snapshot `when` found it).
    fn file(&self, when: &str, name: &str) -> Vec<u8> {
        let path = self.out.path(when).join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The names in the directory at snapshot `when` (the filler aside).
    fn names(&self, when: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.out.path(when))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// `name` is at snapshot `when` byte for byte what it was before.
    fn assert_kept(&self, when: &str, name: &str) {
        assert!(
            self.file("before", name) == self.file(when, name),
            "{name} changed"
        );
    }

    /// After the steps, the directory holds `name` alone (no temporary
    /// file left), byte for byte as before.
    fn assert_alone_and_kept(&self, name: &str) {
        assert_eq!(self.names("after"), [name], "a temporary file was left");
        self.assert_kept("after", name);
    }
}

impl Run {
    /// Exit 1, and stderr's last line (the only one unless `lines` says
    /// more) says `file` could not be written for want of space.
    fn assert_no_space(&self, lines: usize, what: &str, file: &Path) {
        assert_eq!(self.code, 1, "{}", self.stderr);
        assert_eq!(self.stderr.lines().count(), lines, "{}", self.stderr);
        let last = self.stderr.lines().last().unwrap_or_default();
        let expected = format!(
            "{what} {}: No space left on device (os error 28)",
            file.display()
        );
        assert_eq!(last, expected);
    }
}

#[test]
fn a_backup_onto_a_full_disk_keeps_the_old_archive_whole() {
    let home = or_skip!(Home::as_root("backup"));
    home.cluster_key("ed25519");
    let archive = home.path("backups/rccr.backup");
    std::fs::create_dir(home.path("backups")).unwrap();
    home.rccr(&["backup", archive.to_str().unwrap()]);
    // An archive of two pages, one of them free: the new archive is cut
    // short by the full disk, after a page of it was written.
    home.cluster_key("rsa");
    let disk = home.on_full_disk("backups", 1, r#"run backup backup "$dir/rccr.backup""#);
    let run = disk.run("backup");
    run.assert_no_space(1, "rccr backup: cannot write", &archive);
    disk.assert_alone_and_kept("rccr.backup");
}

#[test]
fn a_scan_saved_onto_a_full_disk_prints_its_results_and_keeps_the_old_snapshot() {
    let home = or_skip!(Home::as_root("scan"));
    let snapshot = home.path("scans/snap");
    common::scratch::write(&snapshot, "# rccr scan snapshot 1\n");
    let scan = r#"ip link set lo up
run scan scan --iface lo --subnet 127.0.0.0/30 --all --json --timeout-ms 200 --save "$dir/snap""#;
    let disk = home.on_full_disk("scans", 0, scan);
    let run = disk.run("scan");
    // The results, then the summary, then the error.
    common::assert_has(&run.stdout, "\"ip\": \"127.0.0.2\"");
    run.assert_no_space(2, "rccr scan: cannot write", &snapshot);
    disk.assert_alone_and_kept("snap");
}

#[test]
fn a_key_pair_written_onto_a_full_disk_is_written_whole_or_not_at_all() {
    let home = or_skip!(Home::as_root("keygen"));
    std::fs::create_dir(home.path("keys")).unwrap();
    let old = home.path("keys/old");
    home.rccr(&["keygen", "--type", "ed25519", "-f", old.to_str().unwrap()]);
    // One page free: room for a private key, not for its public half.
    // (The old private key keeps its page through a second link: its
    // replacement frees nothing.)
    let steps = r#"ln "$dir/old" "$dir/old.link"
run force keygen --type ed25519 --force -f "$dir/old"
snapshot forced
run new keygen --type ed25519 -f "$dir/new"
snapshot stopped
free_disk
run again keygen --type ed25519 -f "$dir/new""#;
    let disk = home.on_full_disk("keys", 1, steps);
    // A pair replaced: the old one stays whole (an image build would
    // otherwise bake in a public key whose private half is gone).
    let public = home.path("keys/old.pub");
    disk.run("force")
        .assert_no_space(1, "rccr keygen: cannot write", &public);
    assert_eq!(disk.names("forced"), ["old", "old.link", "old.pub"]);
    disk.assert_kept("forced", "old");
    disk.assert_kept("forced", "old.pub");
    // A new pair: nothing, so the same keygen runs again.
    let public = home.path("keys/new.pub");
    disk.run("new")
        .assert_no_space(1, "rccr keygen: cannot write", &public);
    assert_eq!(disk.names("stopped"), ["old", "old.link", "old.pub"]);
    let again = disk.run("again");
    assert_eq!(again.code, 0, "{}", again.stderr);
    let pairs = ["new", "new.pub", "old", "old.link", "old.pub"];
    assert_eq!(disk.names("after"), pairs);
}

/// The archive of a control whose cluster key (Ed25519) is all it has,
/// when root ([`Home::as_root`]).
fn archive_of_a_control() -> Option<(Home, PathBuf)> {
    let old = Home::as_root("control")?;
    old.cluster_key("ed25519");
    let archive = old.path("rccr.backup");
    old.rccr(&["backup", archive.to_str().unwrap()]);
    Some((old, archive))
}

/// Restore wrote no key: `~/.ssh` is missing, or (made before the first
/// write) empty.
fn assert_no_key(home: &Home) {
    let written: Vec<_> = std::fs::read_dir(home.path(".ssh"))
        .map(|dir| dir.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "written: {written:?}");
}

#[test]
fn a_restore_onto_a_full_state_directory_writes_nothing() {
    let (_old, archive) = or_skip!(archive_of_a_control());
    let restore = format!("run restore restore '{}'", archive.display());
    // A fresh control: not even the lock's pid fits.
    let home = Home::new("restore-fresh");
    let disk = home.on_full_disk(".rccr", 0, &restore);
    let lock = home.path(".rccr/lock");
    disk.run("restore")
        .assert_no_space(1, "rccr restore: cannot lock", &lock);
    assert_no_key(&home);
    // A control that ran before has its lock: the first write fails.
    let home = Home::new("restore-ran");
    common::scratch::write(&home.path(".rccr/lock"), "1\n");
    let disk = home.on_full_disk(".rccr", 0, &restore);
    let marker = home.path(".rccr/restore-in-progress");
    disk.run("restore")
        .assert_no_space(1, "rccr restore: cannot write", &marker);
    assert_eq!(disk.names("after"), ["lock"], "a file was left");
    assert_no_key(&home);
}

#[test]
fn a_restore_stopped_by_a_full_disk_is_said_until_it_is_run_again() {
    let (old, archive) = or_skip!(archive_of_a_control());
    let home = Home::new("restore-partway");
    common::scratch::write(&home.path(".ssh/known_hosts"), "# this control's own\n");
    // Room for the private key, not for its public half.
    let steps = format!(
        "run restore restore '{0}'\n\
         snapshot stopped\n\
         cp \"$HOME/.rccr/restore-in-progress\" \"$out/marker\"\n\
         run backup backup \"$HOME/other.backup\"\n\
         run status status --timeout 1\n\
         free_disk\n\
         run again restore '{0}'",
        archive.display()
    );
    let disk = home.on_full_disk(".ssh", 1, &steps);
    let public = home.path(".ssh/id_ed25519.pub");
    disk.run("restore")
        .assert_no_space(1, "rccr restore: cannot write", &public);
    // Part-way: this control's known_hosts, neither the archive's key nor
    // its public half (they are written together, or not at all), nothing
    // half-written, and the marker naming the archive.
    assert_eq!(disk.names("stopped"), ["known_hosts"]);
    disk.assert_kept("stopped", "known_hosts");
    let marker = home.path(".rccr/restore-in-progress");
    let named = String::from_utf8(disk.file("", "marker")).unwrap();
    assert_eq!(named, format!("{}\n", archive.display()));
    // The commands that take the lock refuse until it is run again.
    let backup = disk.run("backup");
    assert_eq!(backup.code, 1, "{}", backup.stderr);
    assert_eq!(
        backup.stderr,
        format!(
            "rccr backup: {}: a restore stopped part-way, and the state may mix two: run rccr restore {} again\n",
            marker.display(),
            archive.display()
        )
    );
    assert!(!home.path("other.backup").exists());
    // Status, which takes no lock, says so in a warning.
    let status = disk.run("status");
    assert!(
        status.stderr.starts_with(&format!(
            "rccr status: warning: {}: a restore stopped part-way, and the state may mix two: run rccr restore {} again\n",
            marker.display(),
            archive.display()
        )),
        "{}",
        status.stderr
    );
    // Run again with room, it finishes: the marker is gone.
    let again = disk.run("again");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!marker.exists(), "the marker stayed");
    assert_eq!(
        disk.names("after"),
        ["id_ed25519", "id_ed25519.pub", "known_hosts"]
    );
    for (file, archived) in [
        ("id_ed25519", "cluster_key"),
        ("id_ed25519.pub", "cluster_key.pub"),
    ] {
        let bytes = std::fs::read(old.path(&format!(".rccr/{archived}"))).unwrap();
        assert!(disk.file("after", file) == bytes, "another key in {file}");
    }
}

/// What lab host `name` holds in `~/.ssh`: the names, then authorized_keys.
fn node_keys(lab: &Lab, name: &str) -> String {
    let script = "ls -A /root/.ssh; cat /root/.ssh/authorized_keys";
    common::ok("the node's keys", &lab.sh(name, script))
}

#[test]
fn a_setup_on_a_full_disk_changes_no_node_and_the_next_one_adopts_it() {
    let lab = or_skip!(Lab::builder().targets(1).up_as_root());
    common::ok(
        "first setup",
        &lab.exec("control", &["rccr", "setup", "--yes"]),
    );
    // What the full directory stops: the rotation's journal, in the state
    // directory; pinning the new node's host key, in ~/.ssh.
    for (dir, file) in [
        ("/root/.rccr", "rotation.journal"),
        ("/root/.ssh", "known_hosts"),
    ] {
        let new = lab.add_targets(1).remove(0);
        let before = node_keys(&lab, &new.name);
        let disk = full_disk(Path::new(dir), 0, "rccr", "run setup setup --yes", |args| {
            lab.exec("control", &[&["unshare"], args].concat())
        });
        let run = disk.run("setup");
        let cannot = format!("cannot write {dir}/{file}: No space left on device (os error 28)");
        assert_eq!(run.code, 1, "{dir}: {}", run.stderr);
        if file == "known_hosts" {
            // The node's row of the table says why it was not adopted.
            let mut rows = run.stdout.lines().filter(|l| l.contains(&new.ip));
            let said = rows.any(|r| r.trim_end().ends_with(&cannot));
            assert!(said, "{}", run.stdout);
        } else {
            assert_eq!(run.stderr, format!("rccr setup: {cannot}\n"));
        }
        // Every file as it was (the lock's pid aside), none left half-made.
        assert_eq!(disk.names("after"), disk.names("before"), "{dir}");
        for name in disk.names("before").iter().filter(|n| *n != "lock") {
            disk.assert_kept("after", name);
        }
        assert_eq!(node_keys(&lab, &new.name), before, "{} changed", new.name);
        // With room, the next setup adopts it.
        let again = lab.exec("control", &["rccr", "setup", "--yes"]);
        common::ok("the next setup", &again);
        lab.assert_cluster_key_only(&new.name, &new.ip, 3);
    }
}
