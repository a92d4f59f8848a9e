//! `rccr-init` against a temporary root (`--root DIR`), through the real
//! binary: what the first run changes, that a second run changes nothing
//! (every byte, mode and mtime, directories included), the boot-partition
//! file applied once, malformed lines named by file:line, and missing pieces
//! reported without failing.
#[path = "common/asserts.rs"]
mod asserts;
#[path = "common/child.rs"]
mod child;
#[path = "common/skip.rs"]
#[allow(unused_imports)] // or_skip
mod skip;

use asserts::assert_has;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const RCCR: &str = env!("CARGO_BIN_EXE_rccr");
/// The lab's MAC for host 1: the generated suffix is its last three bytes.
const MAC: &str = "02:52:43:4C:00:01";
const TARGET_NAME: &str = "ReCyClusteR-Target-4c0001";
/// Real keys (ssh-keygen), so the boot file's checks pass.
const KEY_A: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFooAr08t8fK5tHJofRTjg8zc8X8Nd7lull7Y9omwR+X me@laptop";
const KEY_B: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAvpsbwwBp+YUFKqgh2m2TgNgim/Be3YTYJTrL2o8XrRAWvbkJ9NE0mo3a5Umw7G0jOe8XLtXmWU9Uer3Zre5Gw= other@desk";
const EXISTING_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJsf78/rf30ok1l4BGxk3VX6l9b9vlU7MBQJL5CUzFq9 rccr-temporary-key";
const INTERFACES: &str = "# managed by the image\nauto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n    udhcpc_opts -t 3\n\niface eth1 inet static\n\taddress 10.0.0.2/24\n";
const SSHD_CONFIG: &str = "Port 22\nPermitRootLogin prohibit-password\n";

/// A temporary root, removed on drop.
struct Root(PathBuf);

impl Root {
    fn empty(tag: &str) -> Root {
        let dir = std::env::temp_dir().join(format!("rccr-init-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Root(dir)
    }

    /// A target image as flashed: image defaults, one Ethernet interface, a
    /// boot file, and /root/.ssh with modes sshd would refuse.
    fn image(tag: &str, node_type: &str) -> Root {
        let r = Root::empty(tag);
        r.write("etc/rccr/node-type", &format!("{node_type}\n"));
        let default = if node_type == "control" {
            "ReCyClusteR-Control"
        } else {
            "ReCyClusteR-Target"
        };
        r.write("etc/hostname", &format!("{default}\n"));
        r.write(
            "etc/hosts",
            &format!("127.0.0.1\tlocalhost\n127.0.1.1\t{default}\n::1\tlocalhost ip6-localhost\n"),
        );
        r.write("etc/network/interfaces", INTERFACES);
        r.write("etc/ssh/sshd_config", SSHD_CONFIG);
        r.write("proc/sys/kernel/hostname", &format!("{default}\n"));
        r.write("sys/class/net/eth0/address", &format!("{MAC}\n"));
        r.write("sys/class/net/lo/address", "00:00:00:00:00:00\n");
        r.write("sys/class/net/docker0/address", "02:42:ac:11:00:01\n");
        r.write("root/.ssh/authorized_keys", &format!("{EXISTING_KEY}\n"));
        r.write("root/.ssh/id_rsa.pub", "ssh-rsa AAAA x\n");
        r.write("root/.ssh/known_hosts", "");
        r.chmod("root/.ssh/authorized_keys", 0o644);
        r.chmod("root/.ssh/id_rsa.pub", 0o666);
        r.chmod("root/.ssh/known_hosts", 0o664);
        r.chmod("root/.ssh", 0o755);
        r
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// A named pipe at `rel`: opening it to read waits for a writer.
    fn mkfifo(&self, rel: &str) {
        let made = Command::new("mkfifo").arg(self.path(rel)).status();
        assert!(made.unwrap().success(), "mkfifo {rel}");
    }

    fn chmod(&self, rel: &str, mode: u32) {
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode(&self, rel: &str) -> u32 {
        fs::symlink_metadata(self.path(rel)).unwrap().mode() & 0o7777
    }

    fn exists(&self, rel: &str) -> bool {
        self.path(rel).exists()
    }

    fn init(&self, extra: &[&str]) -> Run {
        self.init_by(Command::new(RCCR), extra)
    }

    /// [`Root::init`] killed after a minute: for a run that may hang on
    /// what it opens (a pipe), which then fails instead of never ending.
    fn init_or_hang(&self, extra: &[&str]) -> Run {
        let mut timeout = Command::new("timeout");
        timeout.args(["-s", "KILL", "60", RCCR]);
        let run = self.init_by(timeout, extra);
        assert_ne!(
            run.out.status.code(),
            None,
            "killed: it hung\n{}",
            run.stderr
        );
        run
    }

    fn init_by(&self, mut command: Command, extra: &[&str]) -> Run {
        let mut args = vec!["init", "--root"];
        let root = self.0.to_str().unwrap();
        args.push(root);
        args.extend_from_slice(extra);
        let out = command.args(&args).output().unwrap();
        Run {
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            out,
        }
    }

    /// Every file and directory: bytes, mode, mtime (ns), inode.
    fn snapshot(&self) -> BTreeMap<PathBuf, (Vec<u8>, u32, i64, u64)> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, u32, i64, u64)>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                let m = fs::symlink_metadata(&p).unwrap();
                let mtime = m.mtime() * 1_000_000_000 + m.mtime_nsec();
                let bytes = if m.is_file() {
                    fs::read(&p).unwrap()
                } else {
                    Vec::new()
                };
                out.insert(p.clone(), (bytes, m.mode(), mtime, m.ino()));
                if m.is_dir() {
                    walk(&p, out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.0, &mut out);
        out
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Run {
    out: Output,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert!(
            self.out.status.success(),
            "exit {:?}\n{}",
            self.out.status.code(),
            self.stderr
        );
        for line in self.stderr.lines() {
            assert!(line.starts_with("rccr-init: "), "unprefixed line: {line}");
        }
        self
    }

    fn says(&self, text: &str) -> bool {
        self.stderr.contains(text)
    }
}

fn assert_unchanged(before: &BTreeMap<PathBuf, (Vec<u8>, u32, i64, u64)>, root: &Root) {
    let after = root.snapshot();
    let keys = |m: &BTreeMap<PathBuf, _>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(before), keys(&after), "files appeared or vanished");
    for (path, old) in before {
        assert_eq!(old, &after[path], "{} changed", path.display());
    }
}

#[test]
fn first_run_prepares_the_node_and_a_second_run_changes_nothing() {
    let root = Root::image("first", "target");
    root.write(
        "boot/rccr.txt",
        &format!("# added after flashing\r\nauthorized_key={KEY_A}\r\n\r\nauthorized_key={KEY_B}\r\nauthorized_key={EXISTING_KEY}\r\n"),
    );
    let run = root.init(&[]).ok();

    // Hostname everywhere.
    assert_eq!(root.read("etc/hostname"), format!("{TARGET_NAME}\n"));
    assert_eq!(
        root.read("etc/hosts"),
        format!("127.0.0.1\tlocalhost\n127.0.1.1\t{TARGET_NAME}\n::1\tlocalhost ip6-localhost\n")
    );
    assert_eq!(
        root.read("proc/sys/kernel/hostname"),
        format!("{TARGET_NAME}\n")
    );
    assert_eq!(
        root.read("etc/network/interfaces"),
        INTERFACES.replace(
            "iface eth0 inet dhcp\n",
            &format!("iface eth0 inet dhcp\n    hostname {TARGET_NAME}\n")
        )
    );

    // Host key: Ed25519 only (sshd_config asks for no RSA), OpenSSH format.
    let private = root.read("etc/ssh/ssh_host_ed25519_key");
    assert!(private.starts_with(&format!("{}\n", rccr::keys::OPENSSH_PRIVATE_KEY_HEADER)));
    let public = root.read("etc/ssh/ssh_host_ed25519_key.pub");
    assert!(public.starts_with("ssh-ed25519 AAAA"), "{public}");
    assert!(
        public.ends_with(&format!(" root@{TARGET_NAME}\n")),
        "{public}"
    );
    assert_eq!(root.mode("etc/ssh/ssh_host_ed25519_key"), 0o600);
    assert_eq!(root.mode("etc/ssh/ssh_host_ed25519_key.pub"), 0o644);
    let key = ssh_key::PrivateKey::from_openssh(&private).unwrap();
    assert_eq!(key.public_key().to_openssh().unwrap() + "\n", public);
    assert!(!root.exists("etc/ssh/ssh_host_rsa_key"));
    assert_eq!(root.read("etc/ssh/sshd_config"), SSHD_CONFIG);

    // Boot file: applied, renamed (a malformed line would make it .partial:
    // see a_boot_file_with_a_malformed_line_is_renamed_partial_...).
    assert!(!root.exists("boot/rccr.txt"));
    assert!(root.exists("boot/rccr.txt.applied"));
    assert_eq!(
        root.read("root/.ssh/authorized_keys"),
        format!("{EXISTING_KEY}\n{KEY_A}\n{KEY_B}\n"),
        "existing bytes kept, new keys once each"
    );

    // Modes sshd accepts.
    assert_eq!(root.mode("root/.ssh"), 0o700);
    assert_eq!(root.mode("root/.ssh/authorized_keys"), 0o600);
    assert_eq!(root.mode("root/.ssh/known_hosts"), 0o600);
    assert_eq!(root.mode("root/.ssh/id_rsa.pub"), 0o644);

    // Console banner.
    let issue = root.read("etc/issue");
    assert!(
        issue.starts_with(&format!("ReCyClusteR target node {TARGET_NAME}\n")),
        "{issue}"
    );
    let fp = key
        .public_key()
        .fingerprint(ssh_key::HashAlg::Sha256)
        .to_string();
    assert_has(&issue, &format!("ED25519  {fp}\n"));
    assert!(
        issue.contains("Addresses: none yet\n"),
        "--root lists no addresses: {issue}"
    );
    assert!(!issue.contains("    rccr setup\n"), "{issue}");

    // Every change is logged, and nothing is a problem.
    for what in [
        "etc/hostname:",
        "etc/hosts:",
        "network/interfaces:",
        "ssh_host_ed25519_key:",
        "authorized_keys:",
        "etc/issue:",
        "renamed rccr.txt.applied",
    ] {
        assert!(run.says(what), "no log line for {what}:\n{}", run.stderr);
    }
    assert!(!run.says("problem"), "{}", run.stderr);

    // Second run: not a byte, mode or mtime changes, and it says so.
    let before = root.snapshot();
    let again = root.init(&[]).ok();
    assert_unchanged(&before, &root);
    assert!(
        again.says("rccr-init: nothing to change\n"),
        "{}",
        again.stderr
    );
    assert_eq!(again.stderr.lines().count(), 1, "{}", again.stderr);
}

#[test]
fn the_boot_file_is_applied_once() {
    let root = Root::image("once", "target");
    root.write("boot/rccr.txt", &format!("authorized_key={KEY_A}\n"));
    root.init(&[]).ok();
    assert!(root.read("root/.ssh/authorized_keys").contains(KEY_A));

    // The user removes the key later: the old file must not bring it back.
    root.write("root/.ssh/authorized_keys", &format!("{EXISTING_KEY}\n"));
    let run = root.init(&[]).ok();
    assert_eq!(
        root.read("root/.ssh/authorized_keys"),
        format!("{EXISTING_KEY}\n")
    );
    assert!(run.says("nothing to change"), "{}", run.stderr);

    // A new file on the card (any /media/<dev>) is applied too; its
    // hostname overrides the configured one.
    root.write("media/mmcblk0p1/rccr.txt", "hostname=rack2-node7\n");
    let run = root.init(&[]).ok();
    assert_eq!(root.read("etc/hostname"), "rack2-node7\n");
    assert!(root.exists("media/mmcblk0p1/rccr.txt.applied"));
    assert!(!root.exists("media/mmcblk0p1/rccr.txt"));
    // Setup would class it foreign, not only scan's filter miss it.
    assert!(
        run.says(
            "does not contain 'ReCyClusteR' (the default hostname_filter): rccr setup leaves \
             this node alone as foreign unless cluster_config.yml's nodes: pins its MAC with \
             this hostname"
        ),
        "{}",
        run.stderr
    );
    // The host key made earlier keeps its comment: keys are never replaced.
    assert!(root
        .read("etc/ssh/ssh_host_ed25519_key.pub")
        .ends_with(&format!("root@{TARGET_NAME}\n")));
}

#[test]
fn the_boot_file_is_kept_until_what_it_set_is_saved() {
    // Stopped (a power cut) once lbu would have saved the changes: the
    // file is still there, so a cut before that point applies it again.
    let root = Root::image("retire", "target");
    root.write("boot/rccr.txt", &format!("authorized_key={KEY_A}\n"));
    let fp = root.path("failpoint");
    fs::create_dir_all(&fp).unwrap();
    let mut child = child::spawn(
        Command::new(RCCR)
            .args(["init", "--root", root.0.to_str().unwrap()])
            .env("RCCR_FAILPOINT", "init-persisted")
            .env("RCCR_FAILPOINT_DIR", &fp)
            .stderr(std::process::Stdio::null()),
    );
    let start = Instant::now();
    while !fp.join("reached").exists() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let renamed_early = !root.exists("boot/rccr.txt");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(fp.join("reached").exists(), "failpoint never reached");
    assert!(
        !renamed_early,
        "rccr.txt renamed before the changes were saved"
    );
    assert!(root.read("root/.ssh/authorized_keys").contains(KEY_A));

    let run = root.init(&[]).ok();
    assert!(
        run.says("applied, renamed rccr.txt.applied"),
        "{}",
        run.stderr
    );
    assert!(root.exists("boot/rccr.txt.applied"));
    assert!(root.read("root/.ssh/authorized_keys").contains(KEY_A));
}

#[test]
fn an_authorized_keys_larger_than_a_rotation_carries_is_not_read_whole() {
    // Root's file, but never read without a bound: a runaway writer's
    // gigabytes would take the memory of a Pi at every boot. Larger than a
    // key rotation carries (1 MiB), it is a problem said, left as it is,
    // and rccr.txt is kept; as a file or as a link's target alike.
    let big = format!("{EXISTING_KEY}\n{}\n", "#".repeat(1 << 20));
    for linked in [false, true] {
        let tag = if linked { "big-link" } else { "big-file" };
        let (root, file) = if linked {
            let (root, _) = boot_key_for_a_link(tag, "managed_keys", &big);
            let file = root.path("etc/ssh/managed_keys");
            (root, file)
        } else {
            let root = Root::image(tag, "target");
            root.write("root/.ssh/authorized_keys", &big);
            root.write("boot/rccr.txt", &format!("authorized_key={KEY_A}\n"));
            let file = root.path("root/.ssh/authorized_keys");
            (root, file)
        };
        let run = root.init(&[]).ok();
        assert!(
            run.says(": larger than 1048576 bytes"),
            "{tag}: {}",
            run.stderr
        );
        assert!(
            run.says("rccr.txt: kept: a setting could not be applied"),
            "{tag}: {}",
            run.stderr
        );
        assert_eq!(fs::read_to_string(&file).unwrap(), big, "{tag}");
        assert!(root.exists("boot/rccr.txt"), "{tag}: rccr.txt retired");
    }
    // Too large to read, and refused by sshd's StrictModes: it grants
    // nothing, so the link is replaced as for any file sshd refuses.
    let (root, _) = boot_key_for_a_link("big-refused", "managed_keys", &big);
    let file = root.path("etc/ssh/managed_keys");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    let run = root.init(&[]).ok();
    assert!(
        run.says("replaced by a regular file, as its target is refused by sshd's StrictModes"),
        "{}",
        run.stderr
    );
    assert_eq!(root.read("root/.ssh/authorized_keys"), format!("{KEY_A}\n"));
    assert_eq!(fs::read_to_string(&file).unwrap(), big);
    assert_boot_file_retired(&root, &run);
}

#[test]
fn boot_file_hostname_is_validated_and_bad_lines_are_named() {
    let root = Root::image("bootname", "target");
    root.write(
        "media/sda1/rccr.txt",
        &format!("hostname=kitchen_pi\nhostname=ReCyClusteR-kitchen\ncolour=blue\nauthorized_key={}\nauthorized_key=ssh-ed25519\n", &KEY_A[..60]),
    );
    let run = root.init(&[]).ok();
    let file = root.path("media/sda1/rccr.txt").display().to_string();
    for (line, what) in [
        (1, "contains '_'"),
        (3, "unknown setting 'colour'"),
        (4, "cut short"),
        (5, "want 'authorized_key=TYPE BASE64"),
    ] {
        assert!(
            run.says(&format!("{file}:{line}: ")),
            "line {line}:\n{}",
            run.stderr
        );
        assert!(run.says(what), "{what}:\n{}", run.stderr);
    }
    assert_eq!(root.read("etc/hostname"), "ReCyClusteR-kitchen\n");
    assert!(root
        .read("etc/hosts")
        .contains("127.0.1.1\tReCyClusteR-kitchen\n"));
    assert!(root
        .read("etc/network/interfaces")
        .contains("    hostname ReCyClusteR-kitchen\n"));
    assert_eq!(
        root.read("root/.ssh/authorized_keys"),
        format!("{EXISTING_KEY}\n")
    );
    // Valid lines applied, the file renamed .partial for the bad ones.
    assert!(root.exists("media/sda1/rccr.txt.partial"));
    assert!(!root.exists("media/sda1/rccr.txt.applied"));
    assert!(run.says(&format!("{file}: a line is malformed (see above)")));
    assert!(run.says("5 problems"), "{}", run.stderr);
}

#[test]
fn a_boot_file_with_a_malformed_line_is_renamed_partial_and_its_good_lines_applied() {
    // The refused line may be the user's only key (in quotes here): a card
    // saying rccr.txt.applied would tell them it is in. The file becomes
    // rccr.txt.partial, its good lines applied once; another boot file of
    // the same boot is retired as usual.
    let root = Root::image("bootkept", "target");
    root.write(
        "boot/rccr.txt",
        &format!(
            "hostname=ReCyClusteR-kitchen\nauthorized_key={KEY_A}\nauthorized_key=\"{KEY_B}\"\n"
        ),
    );
    root.write("media/sda1/rccr.txt", &format!("authorized_key={KEY_B}\n"));
    let run = root.init(&[]).ok();
    let file = root.path("boot/rccr.txt").display().to_string();
    assert!(run.says(&format!("{file}:3: ")), "{}", run.stderr);
    assert!(
        run.says(&format!(
            "{file}: a line is malformed (see above): fix it, remove the lines applied, and rename the file rccr.txt"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        root.read("root/.ssh/authorized_keys"),
        format!("{EXISTING_KEY}\n{KEY_A}\n{KEY_B}\n")
    );
    assert!(root.exists("boot/rccr.txt.partial"));
    assert!(!root.exists("boot/rccr.txt") && !root.exists("boot/rccr.txt.applied"));
    assert_eq!(root.read("etc/hostname"), "ReCyClusteR-kitchen\n");
    assert!(root.exists("media/sda1/rccr.txt.applied"));
    assert!(!root.exists("media/sda1/rccr.txt"));

    // The name setup then gives the node stays at the next boot: before,
    // a file kept as rccr.txt put its hostname= back at every boot.
    root.write("etc/hostname", "ReCyClusteR-Target-a1b2c3\n");
    let run = root.init(&[]).ok();
    assert_eq!(root.read("etc/hostname"), "ReCyClusteR-Target-a1b2c3\n");
    assert!(!run.says(&file), "{}", run.stderr);

    // Fixed and renamed back: applied, the good key not twice, renamed.
    fs::remove_file(root.path("boot/rccr.txt.partial")).unwrap();
    root.write(
        "boot/rccr.txt",
        &format!("authorized_key={KEY_A}\nauthorized_key={KEY_B}\n"),
    );
    let run = root.init(&[]).ok();
    assert_boot_file_retired(&root, &run);
    assert_eq!(
        root.read("root/.ssh/authorized_keys"),
        format!("{EXISTING_KEY}\n{KEY_A}\n{KEY_B}\n")
    );
}

#[test]
fn a_boot_file_hostname_the_images_ship_with_is_refused_and_the_rest_applied() {
    // The next boot would give such a name up for a generated one: it is
    // refused as --hostname refuses it, once, and the key still applied.
    for (tag, default) in [
        ("bootdefault1", "localhost"),
        ("bootdefault2", "recycluster-target"),
    ] {
        let root = Root::image(tag, "target");
        root.write(
            "media/sda1/rccr.txt",
            &format!("hostname={default}\nauthorized_key={KEY_A}\n"),
        );
        let run = root.init(&[]).ok();
        let file = root.path("media/sda1/rccr.txt").display().to_string();
        assert!(
            run.says(&format!(
                "{file}:1: '{default}' is a name the images ship with"
            )),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.matches("ship with").count(), 1, "{}", run.stderr);
        assert_eq!(root.read("etc/hostname"), format!("{TARGET_NAME}\n"));
        assert!(root.read("root/.ssh/authorized_keys").contains(KEY_A));
        // Renamed .partial for its refused line.
        assert!(root.exists("media/sda1/rccr.txt.partial"));
        assert!(
            run.says(&format!("{file}: a line is malformed")),
            "{}",
            run.stderr
        );
        // The second boot keeps the name the first gave, changing nothing.
        let before = root.snapshot();
        let run = root.init(&[]).ok();
        assert!(run.says("nothing to change"), "{}", run.stderr);
        assert_unchanged(&before, &root);
    }
}

#[test]
fn boot_file_values_in_error_lines_are_escaped_and_cut() {
    // Lines of thousands of characters, terminal escapes, a bell, a bare
    // CR, a line separator and a right-to-left override: each error line
    // quotes the value escaped and cut, one short line.
    let root = Root::image("bootesc", "target");
    let long = "b".repeat(5000);
    root.write(
        "media/sda1/rccr.txt",
        &format!(
            "hostname=a\x1b]0;owned\x07{long}\nco\x1b[2Jl\u{2028}o\ru\u{202e}r{long}=blue\nauthorized_key=x{long} AAAA\nhostname=\u{202e}x\n"
        ),
    );
    let run = root.init(&[]).ok();
    let file = root.path("media/sda1/rccr.txt").display().to_string();
    for line in 1..=4 {
        assert!(
            run.says(&format!("{file}:{line}: ")),
            "line {line}:\n{}",
            run.stderr
        );
    }
    for bad in [
        "\x1b",
        "\x07",
        "\r",
        "\u{2028}",
        "\u{202e}",
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ] {
        assert!(
            !run.says(bad),
            "{bad:?} reached the console:\n{}",
            run.stderr
        );
    }
    for line in run.stderr.lines() {
        assert!(line.len() < file.len() + 200, "a long line: {line}");
    }
    assert!(
        run.says("unknown setting 'co?[2Jl?o?u?rbbb"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_configured_hostname_is_kept() {
    let root = Root::image("configured", "target");
    root.write("etc/hostname", "rack1-pi3\n# set by hand\n");
    root.write("etc/hosts", "127.0.0.1 rack1-pi3 localhost\n");
    root.init(&[]).ok();
    assert_eq!(
        root.read("etc/hostname"),
        "rack1-pi3\n# set by hand\n",
        "not rewritten"
    );
    assert_eq!(root.read("etc/hosts"), "127.0.0.1 rack1-pi3 localhost\n");
    assert!(root
        .read("etc/network/interfaces")
        .contains("    hostname rack1-pi3\n"));
    assert_eq!(root.read("proc/sys/kernel/hostname"), "rack1-pi3\n");
    assert!(root
        .read("etc/ssh/ssh_host_ed25519_key.pub")
        .ends_with(" root@rack1-pi3\n"));
}

#[test]
fn a_configured_hostname_that_is_no_dns_name_is_replaced_not_copied() {
    // busybox ifup runs udhcpc through `sh -c`, with the stanza's
    // `hostname` option in the command line: none of these may get there.
    for (tag, bad) in [
        ("semicolon", "rack1;reboot"),
        ("space", "rack 1"),
        ("subst", "$(reboot)"),
        ("escape", "rack\x1b]0;x\x07"),
    ] {
        let root = Root::image(tag, "target");
        root.write("etc/hostname", &format!("{bad}\n"));
        root.write(
            "etc/hosts",
            &format!("127.0.0.1 localhost\n127.0.1.1\t{bad}\n"),
        );
        let run = root.init(&[]).ok();
        assert!(run.says("etc/hostname: '"), "{tag}: {}", run.stderr);
        assert!(run.says(": not kept\n"), "{tag}: {}", run.stderr);
        assert!(!run.says("\x1b"), "{tag}: an escape reached the console");
        assert_eq!(
            root.read("etc/hostname"),
            format!("{TARGET_NAME}\n"),
            "{tag}"
        );
        let interfaces = root.read("etc/network/interfaces");
        assert!(
            interfaces.contains(&format!("    hostname {TARGET_NAME}\n")),
            "{tag}: {interfaces}"
        );
        assert!(!interfaces.contains(bad), "{tag}: {interfaces}");
        assert!(root
            .read("etc/hosts")
            .contains(&format!("127.0.1.1\t{TARGET_NAME}\n")));
        assert_eq!(
            root.read("proc/sys/kernel/hostname"),
            format!("{TARGET_NAME}\n")
        );
        // The name written is kept from then on.
        let again = root.init(&[]).ok();
        assert!(!again.says("not kept"), "{tag}: {}", again.stderr);
    }
    // A dotted name is a DNS name: kept.
    let root = Root::image("fqdn", "target");
    root.write("etc/hostname", "node1.lan\n");
    root.init(&[]).ok();
    assert_eq!(root.read("etc/hostname"), "node1.lan\n");
}

#[test]
fn names_the_node_holds_reach_the_console_and_the_banner_escaped() {
    // OpenRC's hostname service sets the kernel's name from /etc/hostname
    // as it is; the kernel lets an interface's name hold ESC; the world
    // file comes with the overlay from the boot media.
    let bad = "a\x1b[2Jb";
    let root = Root::image("escnames", "target");
    root.write("etc/hostname", &format!("{bad}\n"));
    root.write("proc/sys/kernel/hostname", &format!("{bad}\n"));
    fs::remove_dir_all(root.path("sys/class/net/eth0")).unwrap();
    root.write(
        &format!("sys/class/net/e{bad}/address"),
        &format!("{MAC}\n"),
    );
    fs::create_dir_all(root.path(&format!("sys/class/net/e{bad}/device"))).unwrap();
    root.write("etc/apk/world", &format!("alpine-base\nx{bad}\n"));
    root.write("lib/apk/db/installed", "P:alpine-base\n");
    fs::create_dir_all(root.path("run")).unwrap();

    // --issue-only runs whatever /etc/hostname holds.
    let run = root.init(&["--issue-only"]).ok();
    let issue = root.read("etc/issue");
    assert!(!issue.contains('\x1b'), "{issue:?}");
    assert!(
        issue.starts_with("ReCyClusteR target node a??2Jb\n"),
        "{issue:?}"
    );
    assert!(!run.says("\x1b"), "{:?}", run.stderr);

    let run = root.init(&[]).ok();
    assert!(
        !run.says("\x1b"),
        "an escape reached the console: {:?}",
        run.stderr
    );
    assert!(run.says("(was a??2Jb)"), "{}", run.stderr);
    assert!(run.says("not installed: xa?[2Jb"), "{}", run.stderr);
    let issue = root.read("etc/issue");
    assert!(!issue.contains('\x1b'), "{issue:?}");
    assert_eq!(root.read("run/rccr/status"), "world: missing xa?[2Jb\n");
}

#[test]
fn control_node_gets_its_name_and_the_next_step() {
    let root = Root::image("control", "control");
    // Alpine's /etc/hosts shape: the name on the 127.0.0.1 line.
    root.write(
        "etc/hosts",
        "127.0.0.1\tReCyClusteR-Control localhost.localdomain localhost\n::1\t\tlocalhost\n",
    );
    root.init(&[]).ok();
    let name = "ReCyClusteR-Control-4c0001";
    assert_eq!(root.read("etc/hostname"), format!("{name}\n"));
    assert_eq!(
        root.read("etc/hosts"),
        format!("127.0.0.1\t{name} localhost.localdomain localhost\n::1\t\tlocalhost\n")
    );
    let issue = root.read("etc/issue");
    assert!(
        issue.starts_with(&format!("ReCyClusteR control node {name}\n")),
        "{issue}"
    );
    assert_has(&issue, "\n    rccr setup\n");
}

#[test]
fn missing_optional_pieces_do_not_fail() {
    // Nothing at all: every step says why it is skipped, exit 0.
    let bare = Root::empty("bare");
    let run = bare.init(&[]).ok();
    assert!(
        run.says("etc/rccr/node-type: missing; treating this node as a target"),
        "{}",
        run.stderr
    );
    assert!(run.says("no Ethernet interface"), "{}", run.stderr);
    assert!(run.says("etc/ssh: missing"), "{}", run.stderr);
    assert!(run.says("problems (see above)"), "{}", run.stderr);

    // Only /etc: a random suffix, kept from then on.
    let etc = Root::empty("etconly");
    fs::create_dir(etc.path("etc")).unwrap();
    etc.init(&[]).ok();
    let name = etc.read("etc/hostname");
    let name = name.trim_end();
    assert!(
        name.starts_with("ReCyClusteR-Target-") && name.len() == 25,
        "{name:?}"
    );
    assert_eq!(etc.read("etc/hosts"), format!("127.0.1.1\t{name}\n"));
    assert!(
        !etc.exists("etc/network/interfaces"),
        "a missing interfaces file stays missing"
    );
    let before = etc.snapshot();
    let run = etc.init(&[]).ok();
    assert_unchanged(&before, &etc);
    assert!(run.says("nothing to change, "), "{}", run.stderr);
}

#[test]
fn existing_host_keys_are_kept_and_repaired() {
    let root = Root::image("keep", "target");
    let key = rccr::keys::generate(rccr::keys::KeyType::Ed25519, 0, "root@old").unwrap();
    let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
    root.write("etc/ssh/ssh_host_ed25519_key", &text);
    root.chmod("etc/ssh/ssh_host_ed25519_key", 0o644);
    let run = root.init(&[]).ok();
    assert_eq!(
        root.read("etc/ssh/ssh_host_ed25519_key"),
        *text,
        "never replaced"
    );
    assert_eq!(root.mode("etc/ssh/ssh_host_ed25519_key"), 0o600);
    assert_eq!(
        root.read("etc/ssh/ssh_host_ed25519_key.pub"),
        key.public_key().to_openssh().unwrap() + "\n"
    );
    assert!(run.says("derived from the private key"), "{}", run.stderr);

    // An empty private key (a crash, a touch) is made anew.
    let empty = Root::image("emptykey", "target");
    empty.write("etc/ssh/ssh_host_ed25519_key", "");
    empty.init(&[]).ok();
    assert!(empty
        .read("etc/ssh/ssh_host_ed25519_key")
        .starts_with("-----BEGIN OPENSSH"));
}

#[test]
fn an_unreadable_host_key_is_set_aside_and_made_anew() {
    // Garbage (a key cut short, a bad copy), and a link to nothing: sshd
    // could load neither, and Alpine's sshd service makes only keys that
    // are missing.
    let root = Root::image("brokenkey", "target");
    let garbage: String = (0..100u8).map(|i| char::from(b'!' + i % 90)).collect();
    root.write("etc/ssh/ssh_host_ed25519_key", &garbage);
    root.chmod("etc/ssh/ssh_host_ed25519_key", 0o600);
    let run = root.init(&[]).ok();
    assert!(
        run.says("replacing a key that cannot be read (set aside as"),
        "{}",
        run.stderr
    );
    assert_eq!(root.read("etc/ssh/ssh_host_ed25519_key.broken"), garbage);
    let key = ssh_key::PrivateKey::from_openssh(root.read("etc/ssh/ssh_host_ed25519_key")).unwrap();
    assert_eq!(
        root.read("etc/ssh/ssh_host_ed25519_key.pub"),
        key.public_key().to_openssh().unwrap() + "\n"
    );
    assert_eq!(root.mode("etc/ssh/ssh_host_ed25519_key"), 0o600);
    // The next run keeps the new key.
    let text = root.read("etc/ssh/ssh_host_ed25519_key");
    root.init(&[]).ok();
    assert_eq!(root.read("etc/ssh/ssh_host_ed25519_key"), text);

    let link = Root::image("danglingkey", "target");
    fs::create_dir_all(link.path("etc/ssh")).unwrap();
    fs::create_dir_all(link.path("media/rccr/ssh")).unwrap();
    std::os::unix::fs::symlink(
        "/media/rccr/ssh/gone",
        link.path("etc/ssh/ssh_host_ed25519_key"),
    )
    .unwrap();
    let run = link.init(&[]).ok();
    assert!(run.says("replacing a link to nothing"), "{}", run.stderr);
    assert!(
        fs::symlink_metadata(link.path("etc/ssh/ssh_host_ed25519_key.broken"))
            .unwrap()
            .is_symlink()
    );
    let private = link.path("etc/ssh/ssh_host_ed25519_key");
    assert!(fs::symlink_metadata(&private).unwrap().is_file());
    ssh_key::PrivateKey::from_openssh(link.read("etc/ssh/ssh_host_ed25519_key")).unwrap();
}

#[test]
fn a_host_key_sshd_reads_and_rccr_does_not_or_a_link_into_storage_not_mounted_is_left_alone() {
    // OpenSSH's format wrapped at 76 columns (Python's cryptography, so
    // Ansible's openssh_keypair), PKCS#8: sshd loads both; and a link into
    // a directory that is not there is a storage not mounted this boot.
    let key = rccr::keys::generate(rccr::keys::KeyType::Ed25519, 0, "root@seeded").unwrap();
    let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let body: String = lines[1..lines.len() - 1].concat();
    let wrapped: Vec<&str> = body
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let at_76 = format!(
        "{}\n{}\n{}\n",
        lines[0],
        wrapped.join("\n"),
        lines[lines.len() - 1]
    );
    let pkcs8 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHx1sE0Yc3fJ1g2s4p9v0b9rQW3gGk1hQbE2b1Z0cC9m\n-----END PRIVATE KEY-----\n";
    for (name, seeded) in [("at76", at_76.as_str()), ("pkcs8", pkcs8)] {
        let root = Root::image(name, "target");
        root.write("etc/ssh/ssh_host_ed25519_key", seeded);
        root.chmod("etc/ssh/ssh_host_ed25519_key", 0o600);
        let run = root.init(&[]).ok();
        assert!(!run.says("set aside"), "{name}: {}", run.stderr);
        assert_eq!(root.read("etc/ssh/ssh_host_ed25519_key"), seeded, "{name}");
        assert!(!root.path("etc/ssh/ssh_host_ed25519_key.broken").exists());
    }
    let link = Root::image("unmountedkey", "target");
    fs::create_dir_all(link.path("etc/ssh")).unwrap();
    let target = "/nonexistent-rccr-storage/ssh/ssh_host_ed25519_key";
    std::os::unix::fs::symlink(target, link.path("etc/ssh/ssh_host_ed25519_key")).unwrap();
    let run = link.init(&[]).ok();
    // Into the image's own directory, as the node finds it.
    let said = format!(
        "links into {}, which is not there",
        link.path("nonexistent-rccr-storage/ssh").display()
    );
    assert!(run.says(&said), "{}", run.stderr);
    let private = link.path("etc/ssh/ssh_host_ed25519_key");
    assert_eq!(fs::read_link(&private).unwrap(), Path::new(target));
    assert!(!link.path("etc/ssh/ssh_host_ed25519_key.broken").exists());
}

/// `rel` (under the host's temporary directory) as an absolute path on
/// the node: the same string names the host's file and the image's.
fn node_path(host: &Root, rel: &str) -> String {
    host.path(rel).to_str().unwrap().to_string()
}

#[test]
fn under_root_the_image_s_absolute_links_lead_inside_it_not_to_the_host() {
    // An SD card's image at DIR: its sshd_config.d, a directory of keys
    // and a host key are absolute links. The same paths on the build host
    // hold decoys: a drop-in naming another key, a key where the image's
    // link points to nothing. Each is followed inside DIR: the image's
    // drop-in is read, the keys in the linked directory made in the
    // image's, and the image's dangling host key replaced; the host's
    // files are neither read nor written.
    let host = Root::empty("buildhost");
    host.write(
        "real.d/10-keys.conf",
        "HostKey /etc/ssh/decoy_ed25519_key\n",
    );
    let decoy = rccr::keys::generate(rccr::keys::KeyType::Ed25519, 0, "root@host").unwrap();
    let decoy = decoy.to_openssh(ssh_key::LineEnding::LF).unwrap();
    host.write("keys/ssh_host_ed25519_key", &decoy);
    host.chmod("keys/ssh_host_ed25519_key", 0o644);
    let before = host.snapshot();

    let root = Root::image("links-in", "target");
    let (real_d, keys) = (node_path(&host, "real.d"), node_path(&host, "keys"));
    root.write(
        &format!("{}/10-keys.conf", &real_d[1..]),
        "HostKey /etc/ssh/keys/ssh_host_extra_ed25519_key\n",
    );
    fs::create_dir_all(root.path(&keys[1..])).unwrap();
    root.write(
        "etc/ssh/sshd_config",
        &format!(
            "Include /etc/ssh/sshd_config.d/*.conf\n\
             HostKey /etc/ssh/keys/ssh_host_main_ed25519_key\n{SSHD_CONFIG}"
        ),
    );
    let link = |to: &str, at: &str| std::os::unix::fs::symlink(to, root.path(at)).unwrap();
    link(&real_d, "etc/ssh/sshd_config.d");
    link(&keys, "etc/ssh/keys");
    let private = "etc/ssh/ssh_host_ed25519_key";
    link(&format!("{keys}/ssh_host_ed25519_key"), private);

    let run = root.init(&[]).ok();
    assert!(!run.says("problem"), "{}", run.stderr);
    assert!(!run.says("decoy_ed25519_key"), "{}", run.stderr);
    for name in ["extra", "main"] {
        let made = format!("{}/ssh_host_{name}_ed25519_key", &keys[1..]);
        ssh_key::PrivateKey::from_openssh(root.read(&made)).unwrap();
        assert!(root.exists(&format!("{made}.pub")), "{name}");
    }
    assert!(run.says("replacing a link to nothing"), "{}", run.stderr);
    assert!(fs::symlink_metadata(root.path(private)).unwrap().is_file());
    ssh_key::PrivateKey::from_openssh(root.read(private)).unwrap();
    assert!(
        fs::symlink_metadata(root.path(&format!("{private}.broken")))
            .unwrap()
            .is_symlink()
    );
    assert!(!root.exists("etc/ssh/decoy_ed25519_key"));
    assert_unchanged(&before, &host);
}

#[test]
fn under_root_a_link_loop_is_a_problem_and_dot_dot_stays_in_the_root() {
    // A drop-in directory reached by a `..` chain far above the image's
    // root stays in it (the node's `/..` is `/`), its key made there; an
    // Include through a loop of absolute links is a problem said, not a
    // hang.
    let root = Root::image("links-loop", "target");
    root.write(
        "etc/ssh/up.d/k.conf",
        "HostKey /etc/ssh/ssh_host_up_ed25519_key\n",
    );
    let up = format!("{}etc/ssh/up.d", "../".repeat(40));
    std::os::unix::fs::symlink(up, root.path("etc/ssh/sshd_config.d")).unwrap();
    std::os::unix::fs::symlink("/etc/ssh/b.conf", root.path("etc/ssh/a.conf")).unwrap();
    std::os::unix::fs::symlink("/etc/ssh/a.conf", root.path("etc/ssh/b.conf")).unwrap();
    root.write(
        "etc/ssh/sshd_config",
        &format!("Include sshd_config.d/*.conf /etc/ssh/a.conf\n{SSHD_CONFIG}"),
    );
    let run = root.init_or_hang(&[]);
    let said = format!(
        "sshd's configuration not read wholly ({}: Too many levels of symbolic links",
        root.path("etc/ssh/a.conf").display()
    );
    assert!(run.says(&said), "{}", run.stderr);
    ssh_key::PrivateKey::from_openssh(root.read("etc/ssh/ssh_host_up_ed25519_key")).unwrap();
}

#[test]
fn under_root_the_image_s_absolute_links_are_written_inside_it_not_on_the_host() {
    // The image's Wi-Fi directory, `/run`, `/media`, `/sys` and a host
    // key's `.pub` are absolute links; the same paths on the build host
    // hold decoys: a Wi-Fi configuration others can read, a boot file
    // naming another host, another Ethernet card, a `.pub` of mode 0600. What the node writes there is
    // written inside DIR, as the node would; the host's files are neither
    // read, chmod'ed nor written.
    let host = Root::empty("buildhost-w");
    host.write("wpa/wpa_supplicant.conf", "decoy\n");
    host.chmod("wpa/wpa_supplicant.conf", 0o644);
    host.write("run/keep", "");
    host.write("media/sd/rccr.txt", "hostname=decoy-host\n");
    host.write("sys/class/net/eth0/address", "02:00:00:de:c0:0e\n");
    host.write("keys.pub", "decoy\n");
    host.chmod("keys.pub", 0o600);
    let before = host.snapshot();

    let root = Root::image("links-w", "target");
    root.hardware_nic("wlan0", "b8:27:eb:4c:00:07", true);
    root.write("sbin/wpa_supplicant", "");
    root.write("boot/wpa_supplicant.conf", WPA_CONF);
    root.write("etc/apk/world", "");
    root.write("lib/apk/db/installed", "");
    let key = rccr::keys::generate(rccr::keys::KeyType::Ed25519, 0, "root@image").unwrap();
    let private = "etc/ssh/ssh_host_ed25519_key";
    root.write(private, &key.to_openssh(ssh_key::LineEnding::LF).unwrap());
    root.chmod(private, 0o600);
    let link = |to: &str, at: &str| std::os::unix::fs::symlink(to, root.path(at)).unwrap();
    let [wpa, run, media, sys, public] =
        ["wpa", "run", "media", "sys", "keys.pub"].map(|r| node_path(&host, r));
    for dir in [&wpa, &run, &media] {
        fs::create_dir_all(root.path(&dir[1..])).unwrap();
    }
    fs::rename(root.path("sys"), root.path(&sys[1..])).unwrap();
    link(&sys, "sys");
    link(&wpa, "etc/wpa_supplicant");
    link(&run, "run");
    link(&media, "media");
    link(&public, &format!("{private}.pub"));

    let done = root.init(&[]).ok();
    assert!(!done.says("decoy"), "{}", done.stderr);
    assert_eq!(root.read("etc/hostname"), format!("{TARGET_NAME}\n"));
    let conf = format!("{}/wpa_supplicant.conf", &wpa[1..]);
    assert_eq!(root.read(&conf), WPA_CONF);
    assert_eq!(root.mode(&conf), 0o600);
    assert!(root
        .read(&format!("{}/rccr/status", &run[1..]))
        .contains("world: "));
    assert!(root.exists(&format!("{}/rccr-issue.lock", &run[1..])));
    let made = format!("{private}.pub");
    assert!(fs::symlink_metadata(root.path(&made)).unwrap().is_file());
    assert_eq!(root.mode(&made), 0o644);
    let line = rccr::keys::public_line(&key).unwrap();
    assert_eq!(root.read(&made).trim_end(), line);
    assert_unchanged(&before, &host);
}

#[test]
fn under_root_a_link_a_failed_write_would_replace_is_still_there() {
    // The image's interfaces file is an absolute link. A write that fails
    // (here every write beyond 0 bytes: a full image alike) leaves the
    // link as it was, not a missing file a later run skips; a write that
    // succeeds renames the file over the link, its target kept.
    let root = Root::image("link-kept", "target");
    let at = "etc/network/interfaces";
    fs::remove_file(root.path(at)).unwrap();
    root.write("data/interfaces", INTERFACES);
    std::os::unix::fs::symlink("/data/interfaces", root.path(at)).unwrap();

    let mut no_room = Command::new("sh");
    no_room.args(["-c", "trap '' XFSZ; ulimit -f 0 && exec \"$@\"", "sh", RCCR]);
    let failed = root.init_by(no_room, &[]);
    assert!(
        failed.says("interfaces: File too large"),
        "{}",
        failed.stderr
    );
    let link = fs::read_link(root.path(at));
    assert_eq!(
        link.ok(),
        Some(PathBuf::from("/data/interfaces")),
        "{}",
        failed.stderr
    );
    assert_eq!(root.read("data/interfaces"), INTERFACES);

    let done = root.init(&[]).ok();
    assert!(!done.says("problem"), "{}", done.stderr);
    assert!(fs::symlink_metadata(root.path(at)).unwrap().is_file());
    assert!(root.read(at).contains(TARGET_NAME), "{}", root.read(at));
    assert_eq!(root.read("data/interfaces"), INTERFACES);
}

#[test]
fn a_host_key_pair_cut_short_between_its_files_is_made_whole() {
    // A new private key beside the .pub of the key it replaced: what a
    // power cut between write_pair's two renames leaves when an empty or
    // missing private key was made anew. sshd skips such a key.
    let root = Root::image("cutpair", "target");
    let new = rccr::keys::generate(rccr::keys::KeyType::Ed25519, 0, "root@new").unwrap();
    let old = rccr::keys::generate(rccr::keys::KeyType::Ed25519, 0, "root@old").unwrap();
    let text = new.to_openssh(ssh_key::LineEnding::LF).unwrap();
    root.write("etc/ssh/ssh_host_ed25519_key", &text);
    root.chmod("etc/ssh/ssh_host_ed25519_key", 0o600);
    let old_line = old.public_key().to_openssh().unwrap() + "\n";
    root.write("etc/ssh/ssh_host_ed25519_key.pub", &old_line);
    let run = root.init(&[]).ok();
    assert!(run.says("was not the private key's"), "{}", run.stderr);
    assert_eq!(root.read("etc/ssh/ssh_host_ed25519_key"), *text, "kept");
    let want = new.public_key().to_openssh().unwrap() + "\n";
    assert_eq!(root.read("etc/ssh/ssh_host_ed25519_key.pub"), want);
    let fp = new.public_key().fingerprint(ssh_key::HashAlg::Sha256);
    assert!(root.read("etc/issue").contains(&fp.to_string()), "banner");

    // A matching .pub with another comment is left as it is.
    let renamed = want.replace("root@new", "root@renamed");
    root.write("etc/ssh/ssh_host_ed25519_key.pub", &renamed);
    root.init(&[]).ok();
    assert_eq!(root.read("etc/ssh/ssh_host_ed25519_key.pub"), renamed);
}

/// OpenSSL generates the RSA key, so this runs in debug builds too.
#[test]
fn rsa_host_key_only_when_sshd_config_asks_for_it() {
    let root = Root::image("rsa", "target");
    root.write(
        "etc/ssh/sshd_config",
        "HostKey /etc/ssh/ssh_host_rsa_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\nHostKey /etc/ssh/ssh_host_ed25519_key\n",
    );
    root.init(&[]).ok();
    let private = root.read("etc/ssh/ssh_host_rsa_key");
    let key = ssh_key::PrivateKey::from_openssh(&private).unwrap();
    let rsa = key.key_data().rsa().expect("an RSA key");
    assert_eq!(rsa.public.n.as_positive_bytes().unwrap().len() * 8, 3072);
    assert_eq!(root.mode("etc/ssh/ssh_host_rsa_key"), 0o600);
    assert!(root
        .read("etc/ssh/ssh_host_rsa_key.pub")
        .starts_with("ssh-rsa "));
    assert!(root.exists("etc/ssh/ssh_host_ed25519_key"));
    assert!(
        !root.exists("etc/ssh/ssh_host_ecdsa_key"),
        "left to sshd's service"
    );
    let issue = root.read("etc/issue");
    assert!(
        issue.contains("  ED25519  SHA256:") && issue.contains("  RSA      SHA256:"),
        "{issue}"
    );
}

/// An RSA host key under 2048 bits, which setup never trusts, is replaced
/// at boot like a missing one, in one line that says so; rccr-init kept
/// it (fixing only its mode), so setup refused the node for good. A weak
/// key at a path sshd_config does not ask for is left alone, and a 2048
/// bit one is kept. With no HostKey line, sshd's default RSA path counts.
#[test]
fn a_weak_rsa_host_key_is_replaced_at_boot() {
    let root = Root::image("weakrsa", "target");
    root.write(
        "etc/ssh/sshd_config",
        "HostKey /etc/ssh/ssh_host_rsa_key\nHostKey /etc/ssh/ssh_host_ed25519_key\n",
    );
    let keygen = |rel: &str, bits: &str| {
        let out = Command::new("ssh-keygen")
            .args([
                "-q", "-t", "rsa", "-b", bits, "-N", "", "-C", "root@old", "-f",
            ])
            .arg(root.path(rel))
            .output()
            .expect("run ssh-keygen (apt package openssh-client)");
        assert!(out.status.success(), "{out:?}");
        root.read(rel)
    };
    let bits_of = |rel: &str| {
        let key = ssh_key::PrivateKey::from_openssh(root.read(rel)).unwrap();
        let n = key.key_data().rsa().expect("an RSA key").public.n.clone();
        n.as_positive_bytes().unwrap().len() * 8
    };
    let weak = keygen("etc/ssh/ssh_host_rsa_key", "1024");
    let unasked = keygen("etc/ssh/ssh_host_other_rsa_key", "1024");
    assert_eq!(bits_of("etc/ssh/ssh_host_rsa_key"), 1024);
    let run = root.init(&[]).ok();
    assert!(
        root.read("etc/ssh/ssh_host_rsa_key") != weak,
        "kept the weak key"
    );
    assert_eq!(bits_of("etc/ssh/ssh_host_rsa_key"), 3072);
    assert_eq!(root.mode("etc/ssh/ssh_host_rsa_key"), 0o600);
    let key = ssh_key::PrivateKey::from_openssh(root.read("etc/ssh/ssh_host_rsa_key")).unwrap();
    let public = root.read("etc/ssh/ssh_host_rsa_key.pub");
    assert_eq!(
        public.trim_end(),
        key.public_key().to_openssh().unwrap(),
        "its .pub is the new key's"
    );
    let fp = key.public_key().fingerprint(ssh_key::HashAlg::Sha256);
    let said: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("too weak"))
        .collect();
    assert_eq!(
        said,
        [format!(
            "rccr-init: {}: new RSA 3072 host key {fp}, replacing an RSA key of 1024 bits \
             (fewer than 2048: too weak)",
            root.path("etc/ssh/ssh_host_rsa_key").display()
        )],
        "{}",
        run.stderr
    );
    assert!(root.read("etc/issue").contains(&fp.to_string()), "banner");
    assert_eq!(root.read("etc/ssh/ssh_host_other_rsa_key"), unasked);
    // 2048 bits is kept, key and .pub.
    fs::remove_file(root.path("etc/ssh/ssh_host_rsa_key")).unwrap();
    fs::remove_file(root.path("etc/ssh/ssh_host_rsa_key.pub")).unwrap();
    let enough = keygen("etc/ssh/ssh_host_rsa_key", "2048");
    let run = root.init(&[]).ok();
    assert_eq!(root.read("etc/ssh/ssh_host_rsa_key"), enough, "kept");
    assert!(!run.says("host key SHA"), "{}", run.stderr);
    // With no HostKey line sshd serves its default keys that exist: a
    // weak one at the default RSA path is replaced too (rccr-init kept
    // it), and the one no sshd loads is still left alone.
    root.write("etc/ssh/sshd_config", "PermitRootLogin prohibit-password\n");
    fs::remove_file(root.path("etc/ssh/ssh_host_rsa_key")).unwrap();
    fs::remove_file(root.path("etc/ssh/ssh_host_rsa_key.pub")).unwrap();
    keygen("etc/ssh/ssh_host_rsa_key", "1024");
    let run = root.init(&[]).ok();
    assert_eq!(bits_of("etc/ssh/ssh_host_rsa_key"), 3072, "{}", run.stderr);
    assert!(
        run.says("replacing an RSA key of 1024 bits"),
        "{}",
        run.stderr
    );
    assert_eq!(root.read("etc/ssh/ssh_host_other_rsa_key"), unasked);
}

/// A weak RSA host key in PEM (`ssh-keygen -m PEM`, every RSA key
/// OpenSSH wrote before 7.8) is replaced too, by its `.pub`: sshd serves
/// it, setup refuses it and says a reboot replaces it, but rccr-init
/// could not read it, said "cannot read the key" and kept it.
#[test]
fn a_weak_rsa_host_key_in_pem_is_replaced_at_boot_too() {
    let root = Root::image("weakpem", "target");
    root.write("etc/ssh/sshd_config", "HostKey /etc/ssh/ssh_host_rsa_key\n");
    let rel = "etc/ssh/ssh_host_rsa_key";
    let out = Command::new("ssh-keygen")
        .args([
            "-q", "-t", "rsa", "-b", "1024", "-m", "PEM", "-N", "", "-C", "root@old", "-f",
        ])
        .arg(root.path(rel))
        .output()
        .expect("run ssh-keygen (apt package openssh-client)");
    assert!(out.status.success(), "{out:?}");
    let weak = root.read(rel);
    assert!(weak.starts_with("-----BEGIN RSA"), "{weak}");
    let run = root.init(&[]).ok();
    let key = ssh_key::PrivateKey::from_openssh(root.read(rel)).expect("a new OpenSSH key");
    let n = key.key_data().rsa().expect("an RSA key").public.n.clone();
    assert_eq!(
        n.as_positive_bytes().unwrap().len() * 8,
        3072,
        "{}",
        run.stderr
    );
    assert_eq!(root.mode(rel), 0o600);
    let public = root.read("etc/ssh/ssh_host_rsa_key.pub");
    assert_eq!(public.trim_end(), key.public_key().to_openssh().unwrap());
    assert!(
        run.says("replacing an RSA key of 1024 bits"),
        "{}",
        run.stderr
    );
    assert!(!run.says("cannot read"), "{}", run.stderr);
}

#[test]
fn dry_run_changes_nothing() {
    let root = Root::image("dry", "target");
    root.write("boot/rccr.txt", &format!("authorized_key={KEY_A}\n"));
    let before = root.snapshot();
    let run = root.init(&["--dry-run"]).ok();
    assert_unchanged(&before, &root);
    assert!(run.says("would change "), "{}", run.stderr);
    assert!(run.says("dry run, "), "{}", run.stderr);
}

#[test]
fn issue_only_rewrites_the_banner_alone() {
    let root = Root::image("issue", "control");
    let before = root.snapshot();
    let run = root.init(&["--issue-only"]).ok();
    let after = root.snapshot();
    let changed: Vec<_> = after
        .keys()
        .filter(|p| before.get(*p) != after.get(*p))
        .map(|p| p.strip_prefix(&root.0).unwrap().to_path_buf())
        .collect();
    // /etc/issue is new, so /etc's mtime moves too; nothing else.
    assert_eq!(
        changed,
        vec![PathBuf::from("etc"), PathBuf::from("etc/issue")]
    );
    assert!(root
        .read("etc/issue")
        .starts_with("ReCyClusteR control node ReCyClusteR-Control\n"));
    assert!(run.says("1 change"), "{}", run.stderr);
}

#[test]
fn the_link_name_works_and_bad_arguments_exit_2_or_3() {
    let root = Root::image("link", "target");
    let link = root.path("rccr-init");
    std::os::unix::fs::symlink(RCCR, &link).unwrap();
    let out = Command::new(&link)
        .args(["--root", root.0.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(root.read("etc/hostname"), format!("{TARGET_NAME}\n"));

    let help = Command::new(&link).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.starts_with("Usage: rccr-init"), "{text}");
    assert!(
        text.contains("--dry-run") && text.contains("--issue-only"),
        "{text}"
    );

    for (bad, code) in [
        (&["--bogus"][..], 2),
        (&["--root", "/nonexistent-rccr-root"], 3),
    ] {
        let out = Command::new(&link).args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{bad:?}");
    }
}

#[test]
fn a_non_root_user_on_the_live_system_gets_exit_4() {
    let is_root = fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let setpriv = Path::new("/usr/bin/setpriv");
    if !is_root || !setpriv.exists() {
        skip::skip("needs root and setpriv to drop to another user");
        return;
    }
    let out = Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            RCCR,
            "init",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("run as root"));
}

/// apk's database as Alpine writes it, cut to the fields the check reads
/// (and one it must not: `r:` replaces, it does not provide).
const INSTALLED: &str = "C:Q1abc=\nP:alpine-base\nV:3.22.2-r0\n\nC:Q1def=\nP:openssh-server\nV:10.0_p1-r7\np:openssh-server-pam=10.0_p1-r7 cmd:sshd=10.0_p1-r7\nr:openssh\n\nC:Q1ghi=\nP:python3\nV:3.12.11-r0\np:cmd:python3=3.12.11-r0\n";

#[test]
fn the_world_check_names_what_is_not_installed() {
    let root = Root::image("world", "target");
    fs::create_dir(root.path("run")).unwrap();
    root.write("lib/apk/db/installed", INSTALLED);
    // Constraints, tags, a provided name and a conflict: all satisfied.
    root.write(
        "etc/apk/world",
        "alpine-base\nopenssh-server>=9.0\npython3@main\ncmd:sshd\n!busybox-extras\n",
    );
    let run = root.init(&[]).ok();
    assert_eq!(root.read("run/rccr/status"), "world: ok\n");
    assert!(!root.read("etc/issue").contains("Packages"));
    assert!(!run.says("not installed"), "{}", run.stderr);

    // The boot could not install two of them (out of RAM): said on the
    // console and in the status file, and counted as a problem.
    root.write(
        "etc/apk/world",
        "alpine-base\nopenssh\npython3\ndocker~28\npy3-yaml\n",
    );
    let run = root.init(&[]).ok();
    assert_eq!(
        root.read("run/rccr/status"),
        "world: missing openssh docker py3-yaml\n"
    );
    assert!(
        root.read("etc/issue")
            .contains("Packages:  NOT INSTALLED at boot: openssh docker py3-yaml (out of RAM?)\n"),
        "{}",
        root.read("etc/issue")
    );
    assert!(
        run.says("packages of /etc/apk/world not installed: openssh docker py3-yaml"),
        "{}",
        run.stderr
    );
    assert!(run.says(", 1 problem (see above)"), "{}", run.stderr);
    // The banner alone (rccr-issue, later at boot) says it too.
    root.init(&["--issue-only"]).ok();
    assert!(root
        .read("etc/issue")
        .contains("NOT INSTALLED at boot: openssh"));

    // Not an apk system: nothing to check, nothing said.
    fs::remove_file(root.path("etc/apk/world")).unwrap();
    let run = root.init(&[]).ok();
    assert_eq!(root.read("run/rccr/status"), "");
    assert!(!run.says("packages"), "{}", run.stderr);
}

#[test]
fn no_storage_is_said_on_the_console_and_in_the_status_file() {
    // --storage on a root with no disk at all (no root needed: nothing
    // is written to a device), then the boot run's banner.
    let root = Root::image("nostorage", "target");
    fs::create_dir(root.path("run")).unwrap();
    let run = root.init(&["--storage"]).ok();
    assert!(
        run.says("no persistent storage (no filesystem labelled RCCR and no blank disk): Docker's data and packages installed after boot are lost at reboot"),
        "{}",
        run.stderr
    );
    assert_eq!(
        root.read("run/rccr/status"),
        "storage: none: no filesystem labelled RCCR and no blank disk\n"
    );
    root.init(&[]).ok();
    let issue = root.read("etc/issue");
    assert_has(&issue, "Storage:   NONE: Docker's data and packages added later are lost at reboot\n           (no filesystem labelled RCCR and no blank disk)\n");
    assert_eq!(
        rccr::init::bootstatus::parse(&root.read("run/rccr/status"))
            .storage
            .to_string(),
        "none (volatile)"
    );
    // --storage goes alone.
    let both = root.init(&["--storage", "--issue-only"]);
    assert_eq!(both.out.status.code(), Some(2));
}

/// A key rotation staged before the reboot: the staged file (old keys and
/// the new one), the backup, and the revert marker, as `marker` says.
fn staged_rotation(root: &Root, marker: &str) {
    root.write(
        "root/.ssh/authorized_keys",
        &format!("{EXISTING_KEY}\n{KEY_B}\n"),
    );
    root.write(
        "root/.ssh/.rccr-authorized_keys.bak",
        &format!("{EXISTING_KEY}\n"),
    );
    root.write("root/.ssh/.rccr-rotation", marker);
}

#[test]
fn a_key_rotation_the_reboot_cut_short_is_reverted_as_its_timer_would_have() {
    // Any marker, of an older rccr (the token alone: no stage can tell its
    // timer died) or of this one: at boot no revert timer lives.
    for (tag, marker) in [("old", "r1.n1\n"), ("new", "r1.n1\ntimer-holds-lock\n")] {
        let root = Root::image(&format!("rotation-{tag}"), "target");
        staged_rotation(&root, marker);
        // The boot file's key goes in after the revert, not into the
        // staged file the revert replaces.
        root.write("boot/rccr.txt", &format!("authorized_key={KEY_A}\n"));
        let dry = root.init(&["--dry-run"]).ok();
        // The boot file's key would change the file too: the revert is
        // named, or this passes without it.
        assert!(
            dry.says("would change ") && dry.says("from before key rotation r1.n1"),
            "{tag}: {}",
            dry.stderr
        );
        assert!(root.exists("root/.ssh/.rccr-rotation"), "{tag}: dry run");
        let run = root.init(&[]).ok();
        assert!(run.says("key rotation r1.n1"), "{tag}: {}", run.stderr);
        assert_eq!(
            root.read("root/.ssh/authorized_keys"),
            format!("{EXISTING_KEY}\n{KEY_A}\n"),
            "{tag}"
        );
        assert!(!root.exists("root/.ssh/.rccr-rotation"), "{tag}");
        assert!(!root.exists("root/.ssh/.rccr-authorized_keys.bak"), "{tag}");
        assert_eq!(root.mode("root/.ssh/authorized_keys"), 0o600, "{tag}");
    }
}

#[test]
fn a_dead_key_rotation_on_a_linked_authorized_keys_is_reverted_over_the_link() {
    // Config management linked the file while the rotation's timer was
    // dead. What the link grants at boot is no guide (its target may be
    // mounted, or its modes fixed, later), and the backup may be the only
    // access left: the boot does what the timer would, the backup over the
    // link, even where the target grants another key too.
    let root = Root::image("rotation-link", "target");
    // A node set up already: the revert is this boot's only change.
    root.init(&[]).ok();
    staged_rotation(&root, "r3.n3\ntimer-holds-lock\n");
    for file in [".rccr-rotation", ".rccr-authorized_keys.bak"] {
        root.chmod(&format!("root/.ssh/{file}"), 0o600);
    }
    root.write(
        "etc/ssh/managed_keys",
        &format!("{EXISTING_KEY}\n{KEY_A}\n"),
    );
    fs::remove_file(root.path("root/.ssh/authorized_keys")).unwrap();
    std::os::unix::fs::symlink(
        "../../etc/ssh/managed_keys",
        root.path("root/.ssh/authorized_keys"),
    )
    .unwrap();
    let restored = "/root/.ssh/authorized_keys: restored from before key rotation r3.n3";
    let dry = root.init(&["--dry-run"]).ok();
    assert!(dry.says(restored), "{}", dry.stderr);
    assert!(root.exists("root/.ssh/.rccr-rotation"), "dry run");
    assert!(
        root.path("root/.ssh/authorized_keys").is_symlink(),
        "dry run"
    );
    let run = root.init(&[]).ok();
    assert!(run.says(restored), "{}", run.stderr);
    assert!(run.says("rccr-init: 1 change\n"), "{}", run.stderr);
    assert!(!run.says("not reverted"), "{}", run.stderr);
    assert!(!root.path("root/.ssh/authorized_keys").is_symlink());
    assert_eq!(
        root.read("root/.ssh/authorized_keys"),
        format!("{EXISTING_KEY}\n")
    );
    // The link's target is config management's: left as it was.
    assert_eq!(
        root.read("etc/ssh/managed_keys"),
        format!("{EXISTING_KEY}\n{KEY_A}\n")
    );
    assert!(!root.exists("root/.ssh/.rccr-rotation"));
    assert!(!root.exists("root/.ssh/.rccr-authorized_keys.bak"));
}

type LinkAndTarget = (PathBuf, (Vec<u8>, u32, i64, u64));

/// An image whose boot file carries KEY_A and whose `authorized_keys` is
/// config management's: a relative link to `etc/ssh/<target>`, which
/// holds `keys`. Returns it with [`link_and_target`] before any run.
fn boot_key_for_a_link(tag: &str, target: &str, keys: &str) -> (Root, LinkAndTarget) {
    let root = Root::image(tag, "target");
    root.write(&format!("etc/ssh/{target}"), keys);
    fs::remove_file(root.path("root/.ssh/authorized_keys")).unwrap();
    std::os::unix::fs::symlink(
        format!("../../etc/ssh/{target}"),
        root.path("root/.ssh/authorized_keys"),
    )
    .unwrap();
    root.write("boot/rccr.txt", &format!("authorized_key={KEY_A}\n"));
    let kept = link_and_target(&root, target);
    (root, kept)
}

/// The link, its target and the target's file, as a snapshot holds them.
fn link_and_target(root: &Root, target: &str) -> LinkAndTarget {
    let link = root.path("root/.ssh/authorized_keys");
    let to = fs::read_link(&link).unwrap_or_else(|e| panic!("not a link any more: {e}"));
    let file = root.path(&format!("etc/ssh/{target}"));
    (to, root.snapshot().remove(&file).unwrap())
}

/// After `run`: the boot file applied and renamed rccr.txt.applied.
fn assert_boot_file_retired(root: &Root, run: &Run) {
    assert!(
        run.says("rccr.txt: applied, renamed rccr.txt.applied"),
        "{}",
        run.stderr
    );
    assert!(!root.exists("boot/rccr.txt"));
    assert!(root.exists("boot/rccr.txt.applied"));
}

#[test]
fn a_boot_file_key_for_a_link_to_a_file_without_it_goes_into_that_file_and_the_link_kept() {
    // Config management's link to a file with no key yet: the boot file's
    // key may be the only way in. It is added to the target, atomically
    // in the target's directory, which keeps its mode and owner; the link
    // stays. The target's name is node-local data: shown escaped.
    let target = "managed\x1b[2Jkeys";
    let (root, (to, _)) = boot_key_for_a_link("boot-link", target, "");
    let file = root.path(&format!("etc/ssh/{target}"));
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    let owner = fs::metadata(&file).map(|m| (m.uid(), m.gid())).unwrap();
    let said = format!(
        "/root/.ssh/authorized_keys: added 1 key(s) from the boot-partition file to \
         {}/managed?[2Jkeys, where the symbolic link points (the link kept)",
        root.path("etc/ssh").canonicalize().unwrap().display()
    );
    let before = root.snapshot();
    let dry = root.init(&["--dry-run"]).ok();
    assert!(
        dry.says(&format!("would change {}", root.path("").display())),
        "{}",
        dry.stderr
    );
    assert!(dry.says(&said), "{}", dry.stderr);
    assert_unchanged(&before, &root);
    let run = root.init(&[]).ok();
    assert!(run.says(&said), "{}", run.stderr);
    assert_eq!(
        fs::read_link(root.path("root/.ssh/authorized_keys")).unwrap(),
        to
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), format!("{KEY_A}\n"));
    let meta = fs::symlink_metadata(&file).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), owner);
    assert!(
        !fs::read_dir(root.path("etc/ssh")).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".rccr-tmp")),
        "a temporary file left behind"
    );
    assert_boot_file_retired(&root, &run);
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[test]
fn a_boot_file_key_for_a_link_to_a_file_sshd_refuses_replaces_the_link() {
    // sshd's StrictModes refuse the target, or a directory above it,
    // owned by another user or writable by group or others: the link
    // grants nothing, even when the target holds the key. A regular 0600
    // file with the boot file's keys alone takes the link's place; the
    // target is left as it was.
    let cases = [
        (
            "open-dir",
            "open/keys",
            KEY_B,
            "/etc/ssh/open is writable by everyone (mode 0777)",
        ),
        (
            "has-key",
            "open/keys",
            KEY_A,
            "/etc/ssh/open is writable by everyone (mode 0777)",
        ),
        (
            "group",
            "keys",
            KEY_B,
            "/etc/ssh/keys is writable by its group (mode 0660)",
        ),
        (
            "owner",
            "keys",
            KEY_B,
            "/etc/ssh/keys is owned by uid 1234, neither this user nor root",
        ),
    ];
    for (tag, target, key, why) in cases {
        if tag == "owner" && !is_root() {
            skip::skip("needs root to give a file to another user");
            continue;
        }
        let (root, _) =
            boot_key_for_a_link(&format!("boot-link-{tag}"), target, &format!("{key}\n"));
        let file = root.path(&format!("etc/ssh/{target}"));
        match tag {
            "group" => root.chmod("etc/ssh/keys", 0o660),
            "owner" => std::os::unix::fs::chown(&file, Some(1234), Some(4321)).unwrap(),
            _ => root.chmod("etc/ssh/open", 0o777),
        }
        let kept = link_and_target(&root, target).1;
        let said = format!(
            "/root/.ssh/authorized_keys: the symbolic link (to ../../etc/ssh/{target}) replaced \
             by a regular file, as its target is refused by sshd's StrictModes: {}{why}: added \
             1 key(s) from the boot-partition file",
            root.path("").canonicalize().unwrap().display()
        );
        let run = dry_then_real(&root, &said, tag);
        assert_a_file_with_key_a(&root, tag);
        assert_eq!(root.snapshot()[&file], kept, "{tag}: the target changed");
        assert_boot_file_retired(&root, &run);
    }
}

#[test]
fn with_strict_modes_off_a_link_to_a_file_they_would_refuse_is_written_through() {
    // `StrictModes no` (the first value sshd reads; keyword in any case):
    // sshd reads a target in a 0777 directory, so its keys grant access.
    // Replacing the link would drop them: the key goes into the target.
    let (root, (to, _)) =
        boot_key_for_a_link("boot-link-nostrict", "open/keys", &format!("{KEY_B}\n"));
    root.chmod("etc/ssh/open", 0o777);
    root.write(
        "etc/ssh/sshd_config",
        &format!("{SSHD_CONFIG}\nstrictmodes=no\nStrictModes yes\nInclude sshd_config.d/*.conf\n"),
    );
    // A pipe among the drop-ins sshd_config includes is not read (it
    // would block the boot), and said; met after the first value, it
    // changes nothing.
    fs::create_dir_all(root.path("etc/ssh/sshd_config.d")).unwrap();
    root.mkfifo("etc/ssh/sshd_config.d/00-pipe.conf");
    let said = format!(
        "/root/.ssh/authorized_keys: added 1 key(s) from the boot-partition file to {}/keys, \
         where the symbolic link points (the link kept)",
        root.path("etc/ssh/open").canonicalize().unwrap().display()
    );
    let run = dry_then_real(&root, &said, "nostrict");
    assert!(
        run.says("00-pipe.conf: not a regular file): a HostKey line may be missed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        fs::read_link(root.path("root/.ssh/authorized_keys")).unwrap(),
        to
    );
    assert_eq!(
        root.read("etc/ssh/open/keys"),
        format!("{KEY_B}\n{KEY_A}\n")
    );
    assert_boot_file_retired(&root, &run);
}

#[test]
fn strict_modes_are_read_where_sshd_config_includes_them() {
    // sshd reads the drop-ins where sshd_config's `Include` line stands,
    // and none without one. A `StrictModes no` above the Include wins over
    // the drop-in's `yes`: the target in a 0777 directory is written
    // through. A drop-in's `no` that sshd_config does not include counts
    // for nothing: the link is replaced, and so does a file named after a
    // `#` (a comment to sshd). A value's comment is no part of it.
    let written_through = "/root/.ssh/authorized_keys: added 1 key(s) from the boot-partition \
                           file to {dir}/keys, where the symbolic link points (the link kept)";
    let replaced = "/root/.ssh/authorized_keys: the symbolic link (to ../../etc/ssh/open/keys) \
                    replaced by a regular file, as its target is refused by sshd's StrictModes: \
                    {dir} is writable by everyone (mode 0777): added 1 key(s) from the \
                    boot-partition file";
    let cases = [
        (
            "legacy",
            "Include sshd_config.d/*.conf # legacy.conf\n",
            "",
            replaced,
        ),
        (
            "comment",
            "StrictModes no # cm manages keys\nInclude sshd_config.d/*.conf\n",
            "StrictModes yes\n",
            written_through,
        ),
        (
            "late",
            "StrictModes no\nInclude sshd_config.d/*.conf\n",
            "StrictModes yes\n",
            written_through,
        ),
        ("none", "", "StrictModes no\n", replaced),
    ];
    for (tag, config, drop_in, said) in cases {
        let (root, (to, kept)) = boot_key_for_a_link(
            &format!("boot-link-include-{tag}"),
            "open/keys",
            &format!("{KEY_B}\n"),
        );
        root.chmod("etc/ssh/open", 0o777);
        root.write("etc/ssh/sshd_config", &format!("{SSHD_CONFIG}{config}"));
        root.write("etc/ssh/sshd_config.d/10-strict.conf", drop_in);
        root.write("etc/ssh/legacy.conf", "StrictModes no\n");
        // A pipe among the included files is not read (it would block);
        // not where it would hide the first value (StrictModes then on).
        if tag != "legacy" {
            root.mkfifo("etc/ssh/sshd_config.d/00-pipe.conf");
        }
        let dir = root.path("etc/ssh/open").canonicalize().unwrap();
        let kept_link = said == written_through;
        let said = said.replace("{dir}", &dir.display().to_string());
        let run = dry_then_real(&root, &said, tag);
        if kept_link {
            assert_eq!(
                fs::read_link(root.path("root/.ssh/authorized_keys")).unwrap(),
                to
            );
            assert_eq!(
                root.read("etc/ssh/open/keys"),
                format!("{KEY_B}\n{KEY_A}\n")
            );
        } else {
            assert_a_file_with_key_a(&root, tag);
            assert_eq!(root.snapshot()[&root.path("etc/ssh/open/keys")], kept);
        }
        assert_boot_file_retired(&root, &run);
    }
}

#[test]
fn under_root_a_link_that_leaves_the_root_is_not_followed() {
    // `--root DIR` (a mounted image): an absolute link resolves on the
    // node under the node's /, not the host's, and a `..` above DIR
    // leaves the image. Not followed, not replaced (the node may mount
    // its target): the host's file is untouched and rccr.txt kept.
    let host_dir = Root::empty("host-keys");
    host_dir.write("keys", "");
    host_dir.chmod("keys", 0o600);
    let host = host_dir.path("keys");
    let name = host_dir
        .0
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let cases = [
        ("absolute", host.to_str().unwrap().to_string()),
        ("dotdot", format!("../../../{name}/keys")),
        (
            "absent",
            format!("/nonexistent-rccr-{}/keys", std::process::id()),
        ),
    ];
    let stat = |p: &Path| {
        let m = fs::symlink_metadata(p).unwrap();
        (fs::read(p).unwrap(), m.mode(), m.mtime_nsec(), m.ino())
    };
    let host_before = stat(&host);
    for (tag, to) in cases {
        let root = Root::image(&format!("boot-link-out-{tag}"), "target");
        let link = relink_authorized_keys(&root, &to);
        let said = format!(
            "/root/.ssh/authorized_keys: the boot-partition file's keys not added: the symbolic \
             link (to {to}) leaves {}",
            root.path("").canonicalize().unwrap().display()
        );
        dry_then_real(&root, &said, tag);
        assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from(&to), "{tag}");
        assert!(root.exists("boot/rccr.txt"), "{tag}: rccr.txt retired");
        assert!(!root.exists("boot/rccr.txt.applied"), "{tag}");
        let host_after = stat(&host);
        assert_eq!(host_after, host_before, "{tag}: the host's file changed");
    }
}

#[test]
fn under_root_a_root_ssh_that_leaves_the_root_is_left_alone() {
    // `--root DIR` with DIR/root/.ssh (or DIR/root) an absolute link: the
    // host would follow it to its own directory. Nothing there is touched
    // (no key added, no rotation reverted, no mode fixed), with or without
    // an authorized_keys, and rccr.txt stays for the node's own boot.
    for (tag, with_keys, linked) in [
        ("file", true, "root/.ssh"),
        ("none", false, "root/.ssh"),
        ("home", true, "root"),
    ] {
        let host = Root::empty(&format!("host-ssh-{tag}"));
        if with_keys {
            staged_rotation(&host, "r1.n1\n");
            host.chmod("root/.ssh/authorized_keys", 0o644);
        } else {
            host.write("root/.ssh/known_hosts", "");
        }
        host.chmod("root/.ssh", 0o755);
        let before = host.snapshot();
        let dir_mode = host.mode("root/.ssh");
        let root = Root::image(&format!("ssh-out-{tag}"), "target");
        fs::remove_dir_all(root.path(linked)).unwrap();
        std::os::unix::fs::symlink(host.path(linked), root.path(linked)).unwrap();
        root.write("boot/rccr.txt", &format!("authorized_key={KEY_A}\n"));
        let said = format!(
            "{}/root/.ssh: a symbolic link on the way leaves {0}",
            root.path("").canonicalize().unwrap().display()
        );
        dry_then_real(&root, &said, tag);
        assert_unchanged(&before, &host);
        assert_eq!(host.mode("root/.ssh"), dir_mode, "{tag}");
        assert!(
            !host.exists("root/.ssh/authorized_keys") || with_keys,
            "{tag}"
        );
        assert!(root.exists("boot/rccr.txt"), "{tag}: rccr.txt retired");
        assert!(!root.exists("boot/rccr.txt.applied"), "{tag}");
    }
}

#[test]
fn strict_modes_are_walked_up_to_root_s_home_for_a_file_in_it_else_to_the_root() {
    // sshd stops at root's home for a file in it: a 0777 directory above
    // /root (here the image's root) does not refuse root/keys/ak, which is
    // written through, keeping its mode and its group (a root:wheel 0640
    // file passes StrictModes; the new file is given the group back,
    // and its mode whatever the umask). A
    // file outside /root is walked up to the root, which refuses it.
    let root = Root::image("strict-walk", "target");
    root.write("root/keys/ak", "");
    root.chmod("root/keys", 0o700);
    root.chmod("root/keys/ak", 0o640);
    let file = root.path("root/keys/ak");
    if is_root() {
        std::os::unix::fs::chown(&file, None, Some(4321)).unwrap();
    }
    let owner = fs::metadata(&file).map(|m| (m.uid(), m.gid())).unwrap();
    let link = relink_authorized_keys(&root, "../keys/ak");
    root.chmod("", 0o777);
    let dir = root.path("").canonicalize().unwrap();
    let said = format!(
        "/root/.ssh/authorized_keys: added 1 key(s) from the boot-partition file to \
         {}/root/keys/ak, where the symbolic link points (the link kept)",
        dir.display()
    );
    let before = root.snapshot();
    let dry = root.init(&["--dry-run"]).ok();
    assert!(dry.says(&said), "{}", dry.stderr);
    assert_unchanged(&before, &root);
    // Under umask 077, which narrows the new file's 0640: the mode is set
    // again after.
    let mut umask = Command::new("sh");
    umask.args(["-c", "umask 077 && exec \"$@\"", "sh", RCCR]);
    let run = root.init_by(umask, &[]).ok();
    assert!(run.says(&said), "{}", run.stderr);
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("../keys/ak"));
    assert_eq!(root.read("root/keys/ak"), format!("{KEY_A}\n"));
    let meta = fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), owner);
    assert_boot_file_retired(&root, &run);

    let (root, _) = boot_key_for_a_link("strict-walk-etc", "keys", &format!("{KEY_B}\n"));
    root.chmod("", 0o777);
    let said = format!(
        "/root/.ssh/authorized_keys: the symbolic link (to ../../etc/ssh/keys) replaced by a \
         regular file, as its target is refused by sshd's StrictModes: {0} is writable by \
         everyone (mode 0777)",
        root.path("").canonicalize().unwrap().display()
    );
    dry_then_real(&root, &said, "etc");
    assert_a_file_with_key_a(&root, "etc");
}

/// `chattr +i` on a file, undone on drop (a test's root is removed after).
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Option<Immutable> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

#[test]
fn a_link_to_a_file_that_cannot_be_written_is_replaced_only_when_it_grants_no_key() {
    // The write through the link fails (here an immutable target: EPERM;
    // a read-only mount or a full disk alike). A target without a key
    // gave no way in: the link is replaced. One with a key still lets
    // someone in: the problem is said and rccr.txt kept for the next boot.
    if !is_root() {
        skip::skip("needs root for chattr +i");
        return;
    }
    for (tag, keys, replaced) in [
        ("empty", String::new(), true),
        ("keyed", format!("{EXISTING_KEY}\n"), false),
    ] {
        let (root, (to, kept)) = boot_key_for_a_link(&format!("boot-link-ro-{tag}"), "keys", &keys);
        let file = root.path("etc/ssh/keys");
        let Some(_immutable) = Immutable::set(&file) else {
            skip::skip("chattr +i does not work here");
            return;
        };
        let run = root.init(&[]).ok();
        let link = root.path("root/.ssh/authorized_keys");
        assert_eq!(
            fs::read(&file).unwrap(),
            kept.0,
            "{tag}: the target changed"
        );
        if replaced {
            assert!(
                run.says("replaced by a regular file, as its target is not writable (")
                    && run.says("Operation not permitted"),
                "{tag}: {}",
                run.stderr
            );
            assert_a_file_with_key_a(&root, tag);
            assert_boot_file_retired(&root, &run);
        } else {
            assert!(run.says("Operation not permitted"), "{tag}: {}", run.stderr);
            assert_eq!(fs::read_link(&link).unwrap(), to, "{tag}");
            assert!(root.exists("boot/rccr.txt"), "{tag}: rccr.txt retired");
        }
    }
}

#[test]
fn a_boot_file_key_already_behind_a_linked_authorized_keys_needs_nothing() {
    let target = "managed_keys";
    let (root, kept) = boot_key_for_a_link(
        "boot-link-has",
        target,
        &format!("{EXISTING_KEY}\n{KEY_A}\n"),
    );
    let run = root.init(&[]).ok();
    assert!(!run.says("symbolic link"), "{}", run.stderr);
    assert!(!run.says("added"), "{}", run.stderr);
    assert_eq!(link_and_target(&root, target), kept);
    assert_boot_file_retired(&root, &run);
}

/// Makes root's `authorized_keys` a symbolic link to `to`, with KEY_A in
/// the boot file; returns the link's path.
fn relink_authorized_keys(root: &Root, to: &str) -> PathBuf {
    let link = root.path("root/.ssh/authorized_keys");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(to, &link).unwrap();
    root.write("boot/rccr.txt", &format!("authorized_key={KEY_A}\n"));
    link
}

/// Root's `authorized_keys` is a regular 0600 file holding KEY_A alone.
fn assert_a_file_with_key_a(root: &Root, tag: &str) {
    let meta = fs::symlink_metadata(root.path("root/.ssh/authorized_keys")).unwrap();
    assert!(meta.is_file(), "{tag}: still a link");
    assert_eq!(meta.mode() & 0o7777, 0o600, "{tag}");
    let keys = root.read("root/.ssh/authorized_keys");
    assert_eq!(keys, format!("{KEY_A}\n"), "{tag}");
}

/// A dry run of rccr-init that changes nothing, then a real one; both say
/// `said`. Returns the real one.
fn dry_then_real(root: &Root, said: &str, tag: &str) -> Run {
    let before = root.snapshot();
    let dry = root.init_or_hang(&["--dry-run"]).ok();
    assert!(dry.says(said), "{tag}: {}", dry.stderr);
    assert_unchanged(&before, root);
    let run = root.init_or_hang(&[]).ok();
    assert!(run.says(said), "{tag}: {}", run.stderr);
    run
}

#[test]
fn a_boot_file_key_for_a_link_that_grants_nothing_replaces_the_link_with_a_file() {
    // A link to nowhere (lbu saved the link, not its target), to a
    // directory, or to itself: sshd reads no key through it, and refusing
    // would leave the node with no way in. A regular file takes its place.
    let cases = [
        ("gone", "../../etc/ssh/gone", "missing"),
        ("dir", "../../etc/ssh", "not a regular file"),
        ("loop", "authorized_keys", "unreachable ("),
        // Nothing read through it, not even in a dry run: opening a pipe
        // waits for a writer.
        ("fifo", "../../etc/ssh/pipe", "not a regular file"),
    ];
    for (tag, to, why) in cases {
        let root = Root::image(&format!("boot-link-{tag}"), "target");
        relink_authorized_keys(&root, to);
        if tag == "fifo" {
            fs::create_dir_all(root.path("etc/ssh")).unwrap();
            let made = Command::new("mkfifo")
                .arg(root.path("etc/ssh/pipe"))
                .status();
            assert!(made.unwrap().success());
        }
        let said = format!(
            "/root/.ssh/authorized_keys: the symbolic link (to {to}) replaced by a regular file, \
             as its target is {why}"
        );
        let run = dry_then_real(&root, &said, tag);
        assert!(
            run.says("added 1 key(s) from the boot-partition file"),
            "{tag}: {}",
            run.stderr
        );
        assert_a_file_with_key_a(&root, tag);
        assert_boot_file_retired(&root, &run);
    }
}

#[test]
fn a_link_that_grants_nothing_stays_when_the_file_replacing_it_cannot_be_written() {
    // The boot file's key cannot be written (every write beyond 0 bytes
    // fails: a full disk alike): the link is still there, not removed
    // first, and rccr.txt is kept for the next boot.
    for (tag, to) in [("gone", "../../etc/ssh/gone"), ("dir", "../../etc/ssh")] {
        let root = Root::image(&format!("boot-link-full-{tag}"), "target");
        let link = relink_authorized_keys(&root, to);
        let mut no_room = Command::new("sh");
        no_room.args(["-c", "trap '' XFSZ; ulimit -f 0 && exec \"$@\"", "sh", RCCR]);
        let run = root.init_by(no_room, &[]);
        assert!(
            run.says("authorized_keys: File too large"),
            "{tag}: {}",
            run.stderr
        );
        let kept = fs::read_link(&link).ok();
        assert_eq!(kept, Some(PathBuf::from(to)), "{tag}: {}", run.stderr);
        assert!(root.exists("boot/rccr.txt"), "{tag}: rccr.txt retired");
    }
}

#[test]
fn a_key_rotation_whose_timer_lives_is_left_to_it() {
    // rccr-init run by hand mid-rotation: the timer holds its marker's lock.
    let root = Root::image("rotation-live", "target");
    staged_rotation(&root, "r2.n2\ntimer-holds-lock\n");
    let marker = fs::File::open(root.path("root/.ssh/.rccr-rotation")).unwrap();
    assert!(rccr::fsutil::try_lock(&marker).unwrap());
    // The boot file's key would go with the revert: it waits in rccr.txt.
    root.write("boot/rccr.txt", &format!("authorized_key={KEY_A}\n"));
    let run = root.init(&[]).ok();
    assert!(run.says("revert timer runs"), "{}", run.stderr);
    assert!(root.exists("root/.ssh/.rccr-rotation"));
    assert!(root.read("root/.ssh/authorized_keys").contains(KEY_B));
    assert!(
        run.says(
            "/root/.ssh/authorized_keys: the boot-partition file's keys not added: key rotation \
             r2.n2 is armed and its revert timer would take them away"
        ),
        "{}",
        run.stderr
    );
    assert!(!root.read("root/.ssh/authorized_keys").contains(KEY_A));
    assert!(root.exists("boot/rccr.txt"), "rccr.txt retired");
}

impl Root {
    /// A network interface of real hardware in the synthetic /sys: its
    /// MAC, a `device` link, and `wireless` for a Wi-Fi one.
    fn hardware_nic(&self, name: &str, mac: &str, wireless: bool) {
        self.write(
            &format!("sys/class/net/{name}/address"),
            &format!("{mac}\n"),
        );
        self.write(&format!("sys/class/net/{name}/type"), "1\n");
        std::os::unix::fs::symlink("/", self.path(&format!("sys/class/net/{name}/device")))
            .unwrap();
        if wireless {
            fs::create_dir(self.path(&format!("sys/class/net/{name}/wireless"))).unwrap();
        }
    }
}

/// The stanza rccr-init adds for a wired interface.
fn wired_stanza(iface: &str, name: &str) -> String {
    format!("\n# rccr-init: a wired interface\nauto {iface}\niface {iface} inet dhcp\n\thostname {name}\n")
}

#[test]
fn every_wired_interface_present_at_boot_gets_dhcp_sending_the_hostname() {
    let root = Root::image("wired", "target");
    // A PC with two NICs (the cable may be in either), Docker's bridge and
    // a veth (no `device` link), a Wi-Fi card with no configuration. The
    // image's file configures eth1 itself (static): it stays so.
    root.hardware_nic("eth4", "00:1a:2b:4c:00:02", false);
    root.hardware_nic("enp3s0", "00:1a:2b:4c:00:03", false);
    root.hardware_nic("eth1", "00:1a:2b:4c:00:08", false);
    root.hardware_nic("wlan0", "b8:27:eb:00:00:04", true);
    root.write(
        "sys/class/net/docker0/bridge/bridge_id",
        "8000.0242ac110001\n",
    );
    root.write("sys/class/net/veth1a2b3c/address", "02:42:ac:11:00:02\n");
    let run = root.init(&[]).ok();
    // enp3s0, of real hardware and first by name, names the node now (the
    // image's eth0 here is a veth, as in the lab).
    let name = "ReCyClusteR-Target-4c0003";
    assert_eq!(root.read("etc/hostname"), format!("{name}\n"));
    let want = INTERFACES.replace(
        "iface eth0 inet dhcp\n",
        &format!("iface eth0 inet dhcp\n    hostname {name}\n"),
    ) + &wired_stanza("enp3s0", name)
        + &wired_stanza("eth4", name);
    assert_eq!(root.read("etc/network/interfaces"), want);
    assert!(
        run.says(&format!(
            "DHCP on enp3s0, eth4 too, sending hostname {name}"
        )),
        "{}",
        run.stderr
    );
    let again = root.init(&[]).ok();
    assert!(again.says("nothing to change\n"), "{}", again.stderr);

    // A NIC added later gets its stanza at the next boot; one the user
    // configured (`manual`: leave it alone) gets none.
    root.hardware_nic("eth2", "00:1a:2b:4c:00:05", false);
    root.hardware_nic("eth3", "00:1a:2b:4c:00:06", false);
    let user = root.read("etc/network/interfaces") + "\niface eth3 inet manual\n";
    root.write("etc/network/interfaces", &user);
    root.init(&[]).ok();
    assert_eq!(
        root.read("etc/network/interfaces"),
        user + &wired_stanza("eth2", name)
    );
}

#[test]
fn bridge_ports_and_bond_members_get_no_dhcp_stanza() {
    // udhcpc on a port whose replies go to its bridge or bond holds the
    // boot and may keep the bond from taking it; the file's own words rule.
    let root = Root::image("members", "target");
    for (i, nic) in ["eth1", "eth2", "eth3"].into_iter().enumerate() {
        root.hardware_nic(nic, &format!("00:1a:2b:4c:00:{:02x}", 8 + i), false);
    }
    let user = format!(
        "{INTERFACES}\nauto br0\niface br0 inet dhcp\n\tbridge-ports eth1\n\nauto bond0\niface bond0 inet static\n\tbond-slaves eth2\n\taddress 10.0.1.2/24\n"
    )
    .replace("iface eth1 inet static\n\taddress 10.0.0.2/24\n", "");
    root.write("etc/network/interfaces", &user);
    root.init(&[]).ok();
    let after = root.read("etc/network/interfaces");
    assert!(!after.contains("iface eth1 inet dhcp"), "{after}");
    assert!(!after.contains("iface eth2 inet dhcp"), "{after}");
    assert!(after.contains("iface eth3 inet dhcp"), "{after}");
}

#[test]
fn a_wired_port_without_carrier_gets_its_dhcp_in_the_background_at_once() {
    let root = Root::image("carrier", "target");
    // A PC with a cable in enp3s0 only. The image's eth0 has udhcpc
    // options of its own: they are left as they are.
    root.hardware_nic("eth4", "00:1a:2b:4c:00:02", false);
    root.hardware_nic("enp3s0", "00:1a:2b:4c:00:03", false);
    std::os::unix::fs::symlink("/", root.path("sys/class/net/eth0/device")).unwrap();
    root.write("sys/class/net/eth0/carrier", "0\n");
    root.write("sys/class/net/eth4/carrier", "0\n");
    root.write("sys/class/net/enp3s0/carrier", "1\n");
    let run = root.init(&[]).ok();
    let name = "ReCyClusteR-Target-4c0003";
    let plugged = INTERFACES.replace(
        "iface eth0 inet dhcp\n",
        &format!("iface eth0 inet dhcp\n    hostname {name}\n"),
    ) + &wired_stanza("enp3s0", name)
        + &wired_stanza("eth4", name);
    let unplugged = plugged.replace(
        "iface eth4 inet dhcp\n",
        "iface eth4 inet dhcp\n\tudhcpc-opts -t 1 -T 1\n",
    );
    assert_eq!(root.read("etc/network/interfaces"), unplugged);
    assert!(
        run.says("no carrier on eth0, eth4: DHCP there goes to the background at once"),
        "{}",
        run.stderr
    );
    let again = root.init(&[]).ok();
    assert!(again.says("nothing to change\n"), "{}", again.stderr);

    // The cable is in eth4 at the next boot: udhcpc waits for its lease.
    root.write("sys/class/net/eth4/carrier", "1\n");
    root.init(&[]).ok();
    assert_eq!(root.read("etc/network/interfaces"), plugged);
}

#[test]
fn a_wired_interface_plugged_in_after_boot_gets_its_stanza_from_hotplug() {
    let root = Root::image("hotplug", "target");
    root.init(&[]).ok();
    let booted = root.read("etc/network/interfaces");
    // A USB adapter appears: mdev's script runs rccr-init --hotplug.
    root.hardware_nic("enx00e04c680001", "00:e0:4c:68:00:01", false);
    let run = root.init(&["--hotplug", "enx00e04c680001"]).ok();
    assert_eq!(
        root.read("etc/network/interfaces"),
        booted + &wired_stanza("enx00e04c680001", TARGET_NAME)
    );
    assert!(run.says("DHCP on enx00e04c680001 too"), "{}", run.stderr);
    let again = root.init(&["--hotplug", "enx00e04c680001"]).ok();
    assert!(again.says("nothing to change\n"), "{}", again.stderr);

    // Wi-Fi, a veth, an interface gone already: no stanza.
    root.hardware_nic("wlan1", "b8:27:eb:00:00:09", true);
    root.write("sys/class/net/veth9/address", "02:42:ac:11:00:09\n");
    let before = root.read("etc/network/interfaces");
    for iface in ["wlan1", "veth9", "eth9"] {
        let run = root.init(&["--hotplug", iface]).ok();
        assert!(
            run.says(&format!("{iface}: no wired interface of real hardware")),
            "{}",
            run.stderr
        );
    }
    assert_eq!(root.read("etc/network/interfaces"), before);

    // A name no stanza may carry: exit 3, nothing written.
    for bad in ["eth0;reboot", "-f", "abcdefghijklmnop"] {
        let run = root.init(&["--hotplug", bad]);
        assert_eq!(run.out.status.code(), Some(3), "{bad}: {}", run.stderr);
    }
    assert_eq!(root.read("etc/network/interfaces"), before);
}

#[test]
fn a_wired_interface_plugged_in_without_carrier_gets_its_dhcp_in_the_background_at_once() {
    // Two USB adapters appear while the node boots, before networking's
    // ifup of every interface: one without a cable (its ifup would hold
    // the boot for 15 s), one with.
    let root = Root::image("hotplug-carrier", "target");
    root.init(&[]).ok();
    let booted = root.read("etc/network/interfaces");
    let (bare, cabled) = ("enx00e04c680001", "enx00e04c680002");
    root.hardware_nic(bare, "00:e0:4c:68:00:01", false);
    root.hardware_nic(cabled, "00:e0:4c:68:00:02", false);
    root.write(&format!("sys/class/net/{bare}/carrier"), "0\n");
    root.write(&format!("sys/class/net/{cabled}/carrier"), "1\n");
    let run = root.init(&["--hotplug", bare]).ok();
    let opts = format!("iface {bare} inet dhcp\n\tudhcpc-opts -t 1 -T 1\n");
    let file = root.read("etc/network/interfaces");
    assert!(file.contains(&opts), "{file}");
    assert!(
        run.says(&format!(
            "no carrier on {bare}: DHCP there goes to the background at once"
        )),
        "{}",
        run.stderr
    );
    let run = root.init(&["--hotplug", cabled]).ok();
    assert!(!run.says("no carrier"), "{}", run.stderr);
    let unplugged = booted.clone()
        + &wired_stanza(bare, TARGET_NAME).replace(
            &format!("iface {bare} inet dhcp\n"),
            &format!("iface {bare} inet dhcp\n\tudhcpc-opts -t 1 -T 1\n"),
        )
        + &wired_stanza(cabled, TARGET_NAME);
    assert_eq!(root.read("etc/network/interfaces"), unplugged);

    // Plugged in again, with its cable now: the options go, as at boot.
    root.write(&format!("sys/class/net/{bare}/carrier"), "1\n");
    root.init(&["--hotplug", bare]).ok();
    assert_eq!(
        root.read("etc/network/interfaces"),
        booted + &wired_stanza(bare, TARGET_NAME) + &wired_stanza(cabled, TARGET_NAME)
    );
}

#[test]
fn a_hotplug_during_the_boot_run_waits_for_its_lock_and_both_stanzas_stay() {
    use std::io::{BufRead, BufReader};
    let root = Root::image("hotplug-lock", "target");
    root.init(&[]).ok();
    root.hardware_nic("enx00e04c680001", "00:e0:4c:68:00:01", false);
    // The boot run, mid-way: it holds the lock of /etc/network and has
    // read the file it will write back with eth4's stanza.
    let lock = fs::File::open(root.path("etc/network")).unwrap();
    lock.lock().unwrap();
    let booted = root.read("etc/network/interfaces");
    // mdev's script, for the USB adapter that has just appeared.
    let mut hotplug = child::spawn(
        Command::new(RCCR)
            .args(["init", "--root", root.0.to_str().unwrap()])
            .args(["--hotplug", "enx00e04c680001"])
            .stderr(std::process::Stdio::piped()),
    );
    let mut stderr = BufReader::new(hotplug.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("rccr-init: waiting for ") {
        if stderr.read_line(&mut said).unwrap() == 0 {
            panic!("the hotplug run did not wait for the lock:\n{said}");
        }
    }
    assert_has(
        &said,
        "another rccr-init run is changing the network configuration",
    );
    // The boot run writes its file (temporary file, rename) and lets go.
    let with_eth4 = booted + &wired_stanza("eth4", TARGET_NAME);
    root.write("etc/network/.interfaces.boot", &with_eth4);
    fs::rename(
        root.path("etc/network/.interfaces.boot"),
        root.path("etc/network/interfaces"),
    )
    .unwrap();
    drop(lock);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(hotplug.wait().unwrap().success(), "{said}{rest}");
    assert_eq!(
        root.read("etc/network/interfaces"),
        with_eth4 + &wired_stanza("enx00e04c680001", TARGET_NAME)
    );
}

#[test]
fn the_boot_puts_the_hotplug_rule_first_in_mdev_conf() {
    let root = Root::image("mdev", "target");
    let alpine = "# mdev-conf\nnull\t0:0 666\n(.*)!(.*)\troot:root 660 =%1/%2\n";
    root.write("etc/mdev.conf", alpine);
    let boot = root.init(&[]).ok();
    // Before the interfaces are listed and written: one that appears
    // later is the rule's, so none falls between the two.
    let first = boot.stderr.lines().next().unwrap_or_default();
    assert!(
        first.ends_with("etc/mdev.conf: mdev runs rccr's network hotplug"),
        "{}",
        boot.stderr
    );
    assert_eq!(
        root.read("etc/mdev.conf"),
        format!("# rccr-init: DHCP on a wired interface plugged in after boot (/usr/libexec/rccr/net-hotplug)\n-SUBSYSTEM=net;DEVPATH=.*/net/.*;.*\troot:root 600 */usr/libexec/rccr/net-hotplug\n{alpine}")
    );
    let again = root.init(&[]).ok();
    assert!(again.says("nothing to change\n"), "{}", again.stderr);
    // apk kept the node's file over mdev-conf's newer one; the admin took
    // that (update-conf): the next boot puts the rule back.
    let newer = format!("{alpine}# a newer mdev-conf\n");
    root.write("etc/mdev.conf", &newer);
    root.init(&[]).ok();
    assert!(
        root.read("etc/mdev.conf")
            .ends_with(&format!("*/usr/libexec/rccr/net-hotplug\n{newer}")),
        "{}",
        root.read("etc/mdev.conf")
    );
    // A system without mdev.conf (no mdev) gets none.
    let bare = Root::image("no-mdev", "target");
    bare.init(&[]).ok();
    assert!(!bare.exists("etc/mdev.conf"));
}

const WPA_CONF: &str = "country=GB\nctrl_interface=DIR=/var/run/wpa_supplicant GROUP=netdev\nupdate_config=1\n\nnetwork={\n\tssid=\"Kitchen\"\n\tpsk=\"correct horse battery\"\n}\n";

#[test]
fn a_wifi_configuration_on_the_boot_partition_is_installed_and_wlan0_brought_up() {
    // A Pi Zero W: Wi-Fi only, wpa_supplicant installed.
    let root = Root::image("wifi", "target");
    fs::remove_dir_all(root.path("sys/class/net/eth0")).unwrap();
    root.hardware_nic("wlan0", "b8:27:eb:4c:00:07", true);
    root.write("sbin/wpa_supplicant", "");
    root.write("boot/wpa_supplicant.conf", WPA_CONF);
    let run = root.init(&[]).ok();
    assert_eq!(
        root.read("etc/wpa_supplicant/wpa_supplicant.conf"),
        WPA_CONF
    );
    assert_eq!(root.mode("etc/wpa_supplicant/wpa_supplicant.conf"), 0o600);
    let name = "ReCyClusteR-Target-4c0007";
    // DHCP there goes to the background after one second and tries again
    // every few: an out-of-range network held networking 15 seconds.
    let interfaces = root.read("etc/network/interfaces");
    assert!(
        interfaces.ends_with(&format!(
            "\n# rccr-init: Wi-Fi, with /etc/wpa_supplicant/wpa_supplicant.conf\nauto wlan0\niface wlan0 inet dhcp\n\tudhcpc-opts -t 1 -T 3 -A 1\n\thostname {name}\n\tuse wifi\n\twifi-config-path /etc/wpa_supplicant/wpa_supplicant.conf\n"
        )),
        "{interfaces}"
    );
    // Installed and saved: off the FAT partition, which anyone with the
    // card can read; never echoed.
    assert!(!root.exists("boot/wpa_supplicant.conf"));
    assert!(run.says("1 Wi-Fi network(s)"), "{}", run.stderr);
    assert!(!run.stderr.contains("horse"), "{}", run.stderr);
    let again = root.init(&[]).ok();
    assert!(again.says("nothing to change\n"), "{}", again.stderr);

    // A looser mode left by hand is put back to 0600 by the next file.
    root.chmod("etc/wpa_supplicant/wpa_supplicant.conf", 0o644);
    let second = WPA_CONF.replace("Kitchen", "Garage");
    root.write("boot/wpa_supplicant.conf", &second);
    root.init(&[]).ok();
    assert_eq!(root.read("etc/wpa_supplicant/wpa_supplicant.conf"), second);
    assert_eq!(root.mode("etc/wpa_supplicant/wpa_supplicant.conf"), 0o600);
}

#[test]
fn a_wifi_configuration_saved_with_a_byte_order_mark_is_installed_without_it() {
    // Windows' Notepad begins a UTF-8 file with a byte order mark, which
    // wpa_supplicant reads as part of the first setting's name: it would
    // refuse the whole file, and the boot partition's copy would be gone.
    let root = Root::image("wifi-bom", "target");
    root.hardware_nic("wlan0", "b8:27:eb:4c:00:07", true);
    root.write("sbin/wpa_supplicant", "");
    let crlf = WPA_CONF.replace('\n', "\r\n");
    root.write("boot/wpa_supplicant.conf", &format!("\u{feff}{crlf}"));
    root.init(&[]).ok();
    assert_eq!(root.read("etc/wpa_supplicant/wpa_supplicant.conf"), crlf);
    assert!(!root.exists("boot/wpa_supplicant.conf"));
}

#[test]
fn a_wifi_configuration_that_cannot_be_used_is_kept_and_named_not_echoed() {
    for (tag, conf, wpa, why) in [
        (
            "wifi-bad",
            "network={\n\tssid=\"Kitchen\"\n\tpsk=\"correct horse battery\"\n",
            true,
            "boot/wpa_supplicant.conf: the network block of line 1 is never closed; not installed",
        ),
        (
            "wifi-nowpa",
            WPA_CONF,
            false,
            "boot/wpa_supplicant.conf: this image has no wpa_supplicant",
        ),
    ] {
        let root = Root::image(tag, "target");
        root.hardware_nic("wlan0", "b8:27:eb:4c:00:07", true);
        if wpa {
            root.write("sbin/wpa_supplicant", "");
        }
        root.write("boot/wpa_supplicant.conf", conf);
        let run = root.init(&[]).ok();
        assert!(run.says(why), "{tag}: {}", run.stderr);
        assert!(!run.stderr.contains("horse"), "{tag}: {}", run.stderr);
        assert!(
            !root.exists("etc/wpa_supplicant/wpa_supplicant.conf"),
            "{tag}"
        );
        assert!(
            !root.read("etc/network/interfaces").contains("wlan0"),
            "{tag}"
        );
        assert_eq!(root.read("boot/wpa_supplicant.conf"), conf, "{tag}: kept");
    }
}
