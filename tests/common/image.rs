//! Helpers shared by the image builder's tests (tests/image_*.rs), each of
//! which includes this file with `#[path = "common/image.rs"] mod image;`.
//! Every test binary compiles its own copy, so helpers one binary does not
//! use are not dead code.
//!
//! Tools come from Debian packages that tests/run.sh installs. A missing
//! tool fails the test, naming the package, when `CI` is set; otherwise the
//! test says so and passes.
#![allow(dead_code)]

#[path = "asserts.rs"]
mod asserts;
// Each test binary uses some helpers only: not every re-export is used.
#[allow(unused_imports)]
pub use asserts::{assert_count, assert_has};
// Public for common/live_node.rs, which a test binary includes beside this.
#[path = "scratch.rs"]
pub mod scratch;
pub use scratch::{write, Scratch as TempDir};
#[path = "skip.rs"]
pub mod skip;
#[allow(unused_imports)]
pub(crate) use skip::or_skip;
use skip::skip;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const RCCR: &str = env!("CARGO_BIN_EXE_rccr");
/// 2023-11-14 22:13:20 UTC: what every overlay entry must carry.
pub const EPOCH: &str = "1700000000";
pub const ARCHES: [&str; 6] = ["x86_64", "x86", "aarch64", "rpi-aarch64", "armv7", "armhf"];
pub const ISOHDPFX: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";
pub const ISOLINUX_BIN: &str = "/usr/lib/ISOLINUX/isolinux.bin";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn script(name: &str) -> PathBuf {
    repo().join("image-builder/scripts").join(name)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Asserts that a script exited with `code` and said `says` on stderr (a
/// refusal, or a warning on the way to success).
#[track_caller]
pub fn assert_exit(out: &Output, code: i32, says: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", show(out));
    assert!(text(&out.stderr).contains(says), "{}", show(out));
}

/// Asserts that each of `want` is a whole line of `text`, which `what` names.
#[track_caller]
pub fn assert_lines<S: AsRef<str>>(text: &str, what: &str, want: impl IntoIterator<Item = S>) {
    for w in want {
        let w = w.as_ref();
        assert!(text.lines().any(|l| l == w), "{w} not in {what}:\n{text}");
    }
}

/// Runs a command, panicking with its output unless it succeeds.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", show(&out));
    out
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether every `(command or absolute path, Debian package)` is there. A
/// missing one fails under CI and skips the test otherwise.
pub fn require(test: &str, needs: &[(&str, &str)]) -> bool {
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
    skip(&format!("{test}: missing {}", missing.join(", ")))
}

/// The inputs of an image build: a key pair, a small stand-in for the rccr
/// binary (the real one answers --list) and an environment for the scripts.
pub struct Inputs {
    pub key: PathBuf,
    pub bin: PathBuf,
    pub notices: PathBuf,
}

impl Inputs {
    pub fn new(dir: &TempDir) -> Self {
        let key = dir.path("key/ssh_temp_key");
        fs::create_dir_all(key.parent().unwrap()).unwrap();
        ok(Command::new(RCCR)
            .args(["keygen", "--type", "ed25519", "-f"])
            .arg(&key));
        let bin = dir.path("bin/rccr");
        write(&bin, b"\x7fELF stand-in for rccr\n");
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let notices = dir.path("bin/THIRD-PARTY-NOTICES");
        write(&notices, "Third-party notices for rccr (stand-in)\n");
        Inputs { key, bin, notices }
    }

    pub fn command(&self, dir: &TempDir, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("RCCR_BIN", &self.bin)
            .env("RCCR_LIST_BIN", RCCR)
            .env("RCCR_TEMP_KEY", &self.key)
            .env("RCCR_NOTICES", &self.notices)
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("HOME", dir.path("home"))
            .env("TMPDIR", dir.path(""))
            .env("TZ", "UTC");
        cmd
    }
}

pub fn genapkovl(inputs: &Inputs, dir: &TempDir, ty: &str, arch: &str, out: &Path) -> Output {
    inputs
        .command(dir, &script("genapkovl.sh"))
        .args([ty, arch])
        .arg(out)
        .output()
        .unwrap()
}

/// genapkovl.sh's overlay of `ty` for `arch` at `out`, asserting success.
pub fn overlay(inputs: &Inputs, dir: &TempDir, ty: &str, arch: &str, out: &Path) {
    let run = genapkovl(inputs, dir, ty, arch, out);
    assert!(run.status.success(), "{}", show(&run));
}

/// One line of `tar -tv`: mode, owner, size, date, time, path [-> target].
#[derive(Debug)]
pub struct Entry {
    pub mode: String,
    pub owner: String,
    pub when: String,
    pub link: Option<String>,
}

pub fn listing(tarball: &Path) -> BTreeMap<String, Entry> {
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

pub fn extract(tarball: &Path, into: &Path) {
    fs::create_dir_all(into).unwrap();
    ok(Command::new("tar")
        .arg("-xzf")
        .arg(tarball)
        .arg("-C")
        .arg(into));
}

pub fn applet_links() -> Vec<String> {
    let out = ok(Command::new(RCCR).arg("--list"));
    text(&out.stdout)
        .lines()
        .filter(|l| *l != "rccr" && !l.is_empty())
        .map(String::from)
        .collect()
}

/// The packages of a node type for an arch (image-builder/TYPE/packages;
/// `!ARCH` words leave a package out on that arch).
pub fn packages(ty: &str, arch: &str) -> Vec<String> {
    package_list(ty, "packages", arch)
}

pub fn package_list(ty: &str, list: &str, arch: &str) -> Vec<String> {
    let not_here = format!("!{arch}");
    fs::read_to_string(repo().join(format!("image-builder/{ty}/{list}")))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty() && !words[1..].contains(&not_here.as_str()))
        .map(|words| words[0].to_string())
        .collect()
}

pub fn overlay_tools(test: &str) -> bool {
    require(
        test,
        &[("fakeroot", "fakeroot"), ("tar", "tar"), ("gzip", "gzip")],
    )
}

/// The package repository fetch-packages.sh makes, in miniature.
pub fn synthetic_repo(dir: &TempDir, alpine_arch: &str) -> PathBuf {
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

pub fn sha256(path: &Path) -> String {
    let out = ok(Command::new("sha256sum").arg(path));
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The start of a test that builds: its scratch directory and the build
/// inputs in it, or None (the test returns, skipped) unless `tools_ok`.
pub fn inputs_when(tools_ok: bool, tag: &str) -> Option<(TempDir, Inputs)> {
    if !tools_ok {
        return None;
    }
    let dir = TempDir::new(tag);
    let inputs = Inputs::new(&dir);
    Some((dir, inputs))
}

/// build-os-image.sh version 9.9.9 into `dir/out`, with the base media and
/// its sum (`env` may set another), the package repository ("none": none)
/// and more environment.
pub fn build_os_image(
    inputs: &Inputs,
    dir: &TempDir,
    arch: &str,
    ty: &str,
    base: &Path,
    repo: impl AsRef<std::ffi::OsStr>,
    env: &[(&str, &str)],
) -> Output {
    inputs
        .command(dir, &script("build-os-image.sh"))
        .env("RCCR_BASE_MEDIA", base)
        .env("RCCR_BASE_MEDIA_SHA256", sha256(base))
        .env("RCCR_APK_REPO", repo)
        .envs(env.iter().copied())
        .args(["-v", "9.9.9", "-o"])
        .arg(dir.path("out"))
        .args([arch, ty])
        .output()
        .unwrap()
}

pub fn mtools(cmd: &str) -> Command {
    let mut c = Command::new(cmd);
    c.env("MTOOLS_SKIP_CHECK", "1");
    c
}

pub fn alpine_conf(key: &str) -> String {
    let conf = fs::read_to_string(repo().join("image-builder/base/alpine.conf")).unwrap();
    conf.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} not in alpine.conf"))
        .to_string()
}

/// Runs python3 with PyYAML over a workflow and prints what `expr` gives.
pub fn workflow_query(file: &str, expr: &str) -> Option<String> {
    let program = format!("import sys, yaml\nd = yaml.safe_load(open(sys.argv[1]))\nprint({expr})");
    let out = Command::new("python3")
        .args(["-c", &program])
        .arg(repo().join(".github/workflows").join(file))
        .output()
        .ok()?;
    assert!(out.status.success(), "{}", show(&out));
    Some(text(&out.stdout).trim().to_string())
}

pub fn arch_table() -> Vec<Vec<String>> {
    fs::read_to_string(repo().join("image-builder/base/arches"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// TARBALL: a gzipped tar of what DIR holds, as Alpine's release tarballs.
pub fn tar_gz(dir: &Path, tarball: &Path) {
    tar_gz_of(dir, &["."], tarball);
}

/// TARBALL (its directory made): a gzipped tar of MEMBERS of DIR, as lbu
/// saves an overlay.
pub fn tar_gz_of(dir: &Path, members: &[&str], tarball: &Path) {
    fs::create_dir_all(tarball.parent().unwrap()).unwrap();
    ok(Command::new("tar")
        .arg("-czf")
        .arg(tarball)
        .arg("-C")
        .arg(dir)
        .args(members));
}

/// `test-image.sh qemu` on a target x86_64 ISO, BIOS only, with `options`
/// besides, run against stand-ins in `dir`: each of `stand_ins` ("NAME",
/// "BODY") becomes an executable `bin/NAME` shell script first on PATH,
/// `standin/` (STANDIN) is made for what they record, and the script's
/// inputs are there: `image.iso`, `temp_key` and an empty `tmp/` (its
/// TMPDIR). Returns the command and the standin directory.
pub fn test_image_qemu(
    dir: &TempDir,
    stand_ins: &[(&str, &str)],
    options: &[&str],
) -> (Command, PathBuf) {
    let standin = dir.path("standin");
    fs::create_dir_all(&standin).unwrap();
    let bin = dir.path("bin");
    for (name, body) in stand_ins {
        let path = bin.join(name);
        write(&path, format!("#!/bin/sh\n{body}\n"));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir.write("image.iso", "iso");
    dir.write("temp_key", "key");
    fs::create_dir_all(dir.path("tmp")).unwrap();
    let mut cmd = Command::new(script("test-image.sh"));
    cmd.args(["qemu", "--firmware", "bios", "-v", "9.9.9"])
        .args(["--rccr", "/bin/true", "-k"])
        .arg(dir.path("temp_key"))
        .args(options)
        .arg(dir.path("image.iso"))
        .args(["x86_64", "target"])
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("STANDIN", &standin)
        .env("TMPDIR", dir.path("tmp"))
        .env("QEMU_ACCEL", "tcg");
    (cmd, standin)
}
