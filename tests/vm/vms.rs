//! Rust side of the VM tier (`tests/vm/vm.sh`, `tests/vm/image.sh`): QEMU
//! virtual machines on a virtual LAN of `tests/lab/lab.sh`.
//!
//! ```ignore
//! mod common;
//! #[path = "vm/vms.rs"]
//! mod vms;
//! let vms = vms::VmLab::up(common::lab::Lab::builder());
//! vms.add("x86_64-1", vms::Arch::X86_64, None);
//! vms.start(&["x86_64-1"]);
//! vms.wait(&["x86_64-1"]);
//! let out = vms.ssh("x86_64-1", "hostname");
//! ```
//!
//! The lab's control holds the image cache's temporary key pair (the images
//! authorize its public half), like a control flashed with the images. The
//! VMs go down with the lab (`Lab`'s Drop: `lab.sh down` kills every qemu in
//! the router namespace), or, when this process dies without dropping it,
//! through vm.sh's watchdog.
#![allow(dead_code)]

use crate::common::lab::{is_root, Lab, LabBuilder};
use crate::common::{found, ok, skip};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Seconds an ssh from the control may take to connect to a VM: emulated
/// guests answer slower than namespace hosts.
pub const VM_CONNECT_TIMEOUT: u32 = 10;

/// The architectures the VM tier boots, by RCCR's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    /// 32-bit PC (i686).
    X86,
    Aarch64,
}

impl Arch {
    /// RCCR's name: image.sh's ARCH, dist/rccr-ARCH.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X86 => "x86",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// What `uname -m` says on such a machine.
    pub fn uname(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X86 => "i686",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// The qemu that boots it.
    pub fn qemu(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::X86 => "qemu-system-i386",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }
}

pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vm")
        .join(name)
}

/// The static rccr that image.sh puts into `arch`'s image (what
/// image-builder/scripts/build-binaries.sh ARCH makes).
pub fn static_rccr(arch: Arch) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dist")
        .join(format!("rccr-{}", arch.name()))
}

/// The rule for VM tests: root, qemu for every arch in `arches`, mmdebstrap,
/// fakeroot, qemu-img and the static rccr of each arch; else skip (print
/// why, return false), or fail when CI is set.
pub fn require_vms(arches: &[Arch]) -> bool {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (network namespaces, tap devices)".to_string());
    }
    let mut tools = vec![
        ("mmdebstrap", "mmdebstrap"),
        ("fakeroot", "fakeroot"),
        ("qemu-img", "qemu-utils"),
    ];
    for a in arches {
        tools.push(match a {
            Arch::Aarch64 => (a.qemu(), "qemu-system-arm"),
            _ => (a.qemu(), "qemu-system-x86"),
        });
    }
    for (program, package) in tools {
        if !found(program) {
            missing.push(format!("{program} (apt-get install {package})"));
        }
    }
    for a in arches {
        let bin = static_rccr(*a);
        if !bin.is_file() {
            missing.push(format!(
                "{} (image-builder/scripts/build-binaries.sh {})",
                bin.display(),
                a.name()
            ));
        }
    }
    if missing.is_empty() {
        return true;
    }
    skip(&format!("VM tier test needs {}", missing.join(", ")))
}

/// `bash tests/vm/NAME args...`
pub fn vm_script(name: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(script(name)).args(args).stdin(Stdio::null());
    cmd
}

/// The image cache's temporary private key (authorized in every image).
pub fn temp_key() -> PathBuf {
    let out = ok(
        "image.sh key",
        &vm_script("image.sh", &["key"]).output().unwrap(),
    );
    PathBuf::from(out.trim())
}

/// One VM as vm.sh defined it.
#[derive(Clone, Debug)]
pub struct Vm {
    pub name: String,
    pub arch: Arch,
    pub mac: String,
}

impl Vm {
    /// The hostname rccr-init gives it: ReCyClusteR-Target-<last 3 MAC bytes>.
    pub fn hostname(&self) -> String {
        let tail: Vec<&str> = self.mac.split(':').skip(3).collect();
        format!("ReCyClusteR-Target-{}", tail.concat())
    }
}

/// A lab whose VMs vm.sh manages.
pub struct VmLab {
    pub lab: Lab,
    vms: std::cell::RefCell<Vec<Vm>>,
}

impl VmLab {
    /// Starts the lab (its control gets the image cache's temporary key
    /// as /root/.ssh/id_rsa, as a control image carries it).
    pub fn up(builder: LabBuilder) -> VmLab {
        let lab = builder.without_key().up();
        let key = temp_key();
        let private = std::fs::read(&key).expect("read the temporary key");
        let public = std::fs::read(key.with_extension("pub")).expect("read its public half");
        for (file, bytes) in [("id_rsa", private), ("id_rsa.pub", public)] {
            let script = format!("umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/{file}");
            ok(
                "install the temporary key on the control",
                &lab.exec_stdin("control", &["sh", "-c", &script], &bytes),
            );
        }
        VmLab {
            lab,
            vms: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn dir(&self) -> String {
        self.lab.dir().display().to_string()
    }

    fn vm_sh(&self, cmd: &str, args: &[&str]) -> Output {
        let dir = self.dir();
        let mut all = vec![cmd, dir.as_str()];
        all.extend_from_slice(args);
        vm_script("vm.sh", &all).output().expect("run vm.sh")
    }

    fn vm_sh_ok(&self, cmd: &str, args: &[&str]) -> String {
        ok(&format!("vm.sh {cmd} {args:?}"), &self.vm_sh(cmd, args))
    }

    /// Defines VM `name` (not started), with a blank second disk of
    /// `disk2` (a qemu-img size) if given.
    pub fn add(&self, name: &str, arch: Arch, disk2: Option<&str>) -> Vm {
        let mut args = vec![name, "--arch", arch.name()];
        if let Some(size) = disk2 {
            args.extend(["--disk2", size]);
        }
        self.vm_sh_ok("add", &args);
        let env = std::fs::read_to_string(self.lab.dir().join("vms").join(name).join("vm.env"))
            .expect("read vm.env");
        let mac = env
            .lines()
            .find_map(|l| l.strip_prefix("MAC="))
            .expect("vm.env has MAC")
            .to_string();
        let vm = Vm {
            name: name.to_string(),
            arch,
            mac,
        };
        self.vms.borrow_mut().push(vm.clone());
        vm
    }

    pub fn vms(&self) -> Vec<Vm> {
        self.vms.borrow().clone()
    }

    pub fn vm(&self, name: &str) -> Vm {
        self.vms()
            .into_iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no VM {name}"))
    }

    pub fn start(&self, names: &[&str]) {
        self.vm_sh_ok("start", names);
    }

    /// Waits for the lease and sshd of each (vm.sh's default limit);
    /// returns (name, ip, seconds since its start).
    pub fn wait(&self, names: &[&str]) -> Vec<(String, String, f64)> {
        self.wait_within(names, None)
    }

    /// [`VmLab::wait`] with a limit of `secs` seconds for all of them.
    pub fn wait_within(&self, names: &[&str], secs: Option<u64>) -> Vec<(String, String, f64)> {
        let limit = secs.map(|s| s.to_string());
        let mut args = names.to_vec();
        if let Some(limit) = &limit {
            args.extend(["--timeout", limit.as_str()]);
        }
        self.vm_sh_ok("wait", &args)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(f.len(), 3, "vm.sh wait printed {l:?}");
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
            })
            .collect()
    }

    pub fn ip(&self, name: &str) -> String {
        let ip = self.vm_sh_ok("ip", &[name]).trim().to_string();
        assert!(!ip.is_empty(), "{name} has no lease");
        ip
    }

    /// `sh -c cmd` on the VM as root (vm.sh ssh: the control's keys).
    pub fn ssh(&self, name: &str, cmd: &str) -> Output {
        self.vm_sh("ssh", &[name, cmd])
    }

    pub fn ssh_ok(&self, name: &str, cmd: &str) -> String {
        ok(&format!("{name}: {cmd}"), &self.ssh(name, cmd))
    }

    /// Feeds `input` to `cmd` on the VM.
    pub fn ssh_stdin(&self, name: &str, cmd: &str, input: &[u8]) -> Output {
        use std::io::Write;
        let dir = self.dir();
        let mut child = vm_script("vm.sh", &["ssh", &dir, name, cmd])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run vm.sh ssh");
        let mut stdin = child.stdin.take().expect("stdin pipe");
        let _ = stdin.write_all(input);
        drop(stdin);
        child.wait_with_output().expect("wait for vm.sh ssh")
    }

    /// `reboot` inside each guest; returns once each is back.
    pub fn reboot(&self, names: &[&str]) -> Vec<(String, String, f64)> {
        self.vm_sh_ok("reboot", names)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
            })
            .collect()
    }

    /// `reboot` inside the guest, without waiting for anything.
    pub fn reboot_now(&self, name: &str) {
        // The session dies with the guest's sshd: its exit code says nothing.
        let _ = self.ssh(name, "reboot");
    }

    pub fn powercut(&self, names: &[&str]) {
        self.vm_sh_ok("powercut", names);
    }

    pub fn console_log(&self, name: &str) -> String {
        self.vm_sh_ok("console-log", &[name])
    }

    /// Whether TCP port 22 of `ip` accepts a connection, from the control.
    pub fn port22_open(&self, ip: &str) -> bool {
        let probe = format!("timeout 3 bash -c '</dev/tcp/{ip}/22' 2>/dev/null");
        self.lab.sh("control", &probe).status.success()
    }

    /// Whether the private key `key` (a path on the control) logs the
    /// control into `ip` as root, that key alone.
    pub fn key_logs_in(&self, key: &str, ip: &str) -> bool {
        self.lab.key_logs_in_at(key, ip, VM_CONNECT_TIMEOUT)
    }
}

/// Polls `check` every `every` until it returns Ok or `limit` passes;
/// returns how long it took, or panics with the last Err.
pub fn wait_until(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> Result<(), String>,
) -> Duration {
    let start = Instant::now();
    loop {
        match check() {
            Ok(()) => return start.elapsed(),
            Err(e) if start.elapsed() > limit => {
                panic!("timed out after {limit:?} waiting for {what}: {e}")
            }
            Err(_) => std::thread::sleep(every),
        }
    }
}
