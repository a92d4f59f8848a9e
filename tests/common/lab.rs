//! Rust side of the virtual LAN test lab (`tests/lab/lab.sh`).
//!
//! ```ignore
//! mod common;
//! use common::lab::{require_root, Lab};
//!
//! #[test]
//! fn something_on_the_lan() {
//!     if !require_root() {
//!         return;
//!     }
//!     let lab = Lab::builder().targets(2).statics(1).decoys(true).up();
//!     let out = lab.ssh("control", "target-1", "hostname");
//!     assert_eq!(common::lab::stdout(&out).trim(), "ReCyClusteR-Target-01");
//! } // Drop tears the lab down, also when the test panics
//! ```
//!
//! Every lab gets the per-process temporary RSA key pair ([`temp_key`]): the
//! public half in every target's `/root/.ssh/authorized_keys`, the private
//! half as the control's `/root/.ssh/id_rsa`; and the `rccr` binary under
//! test in `LABDIR/bin`, which is first in `PATH` inside every host.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

/// `tests/lab/lab.sh` of this checkout.
pub fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lab/lab.sh")
}

/// The `rccr` binary cargo built for this test run.
pub fn rccr_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rccr"))
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// The rule for lab tests: true when root. Otherwise the test skips (prints
/// why and returns false) unless env CI is set, where it fails (panics): a
/// test that cannot fail in CI is a defect.
///
/// Use as `if !require_root() { return; }`.
pub fn require_root() -> bool {
    is_root() || super::skip("lab test needs root (network namespaces, mounts); run as root")
}

/// The temporary key pair of this test process (RSA 4096, like the images).
pub struct TempKey {
    pub dir: PathBuf,
    pub private: PathBuf,
    pub public: PathBuf,
}

const KEY_DIR_PREFIX: &str = "rccr-testkey.";

/// Generates the temporary key pair once per test binary (it takes a moment)
/// into `$TMPDIR/rccr-testkey.PID/`; later calls return the same pair. Key
/// directories of dead test processes are removed on the way.
pub fn temp_key() -> &'static TempKey {
    static KEY: OnceLock<TempKey> = OnceLock::new();
    KEY.get_or_init(|| {
        remove_stale_key_dirs();
        let dir = std::env::temp_dir().join(format!("{KEY_DIR_PREFIX}{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the temporary key directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod key dir");
        let private = dir.join("id_rsa");
        let out = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "rsa",
                "-b",
                "4096",
                "-N",
                "",
                "-C",
                "rccr-temporary-key",
                "-f",
            ])
            .arg(&private)
            .stdin(Stdio::null())
            .output()
            .expect("run ssh-keygen (apt package openssh-client)");
        assert!(out.status.success(), "ssh-keygen failed: {}", stderr(&out));
        TempKey {
            public: dir.join("id_rsa.pub"),
            private,
            dir,
        }
    })
}

fn remove_stale_key_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(KEY_DIR_PREFIX) {
            if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Polls `done` every 50 ms until it holds; panics naming `what` after 60 s.
pub fn wait_for(what: &str, done: impl FnMut() -> bool) {
    wait_for_within(what, Duration::from_secs(60), done);
}

/// [`wait_for`] that panics after `limit`.
pub use super::child::wait_for_within;

/// Runs `lab.sh gc` once per test process: removes labs whose owner died.
pub fn gc_once() {
    static GC: Once = Once::new();
    GC.call_once(|| {
        let out = lab_sh(&["gc"]).output().expect("run lab.sh gc");
        if !out.status.success() {
            eprintln!("lab.sh gc failed (ignored): {}", stderr(&out));
        }
    });
}

fn lab_sh(args: &[&str]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(lab_script()).args(args).stdin(Stdio::null());
    cmd
}

/// stdout of a finished command, lossy UTF-8.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr of a finished command, lossy UTF-8.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether a process is still running (a zombie waiting to be reaped by init
/// counts as gone: it runs nothing and holds nothing but its PID).
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
            !matches!(state, Some(Some('Z')) | Some(Some('X')))
        }
        Err(_) => false,
    }
}

/// Names of all network namespaces (`ip netns list`).
pub fn netns_list() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("run ip netns list");
    stdout(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// What a lab host is (column 2 of hosts.tsv).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Control,
    /// DHCP target with a DNS name, hostname ReCyClusteR-Target-NN.
    Target,
    /// Target with a static address and no DNS name, hostname ReCyClusteR-Target-sNN.
    Static,
    /// Decoy kitchen-laptop: accepts the temporary key, but is not named like a target.
    Foreign,
    /// Decoy ReCyClusteR-Imposter: named like a target, refuses the temporary key.
    Imposter,
    /// Decoy printer-nossh: no sshd at all.
    Nossh,
    /// Hostile ReCyClusteR-Target-66: accepts the temporary key, and its
    /// `uname -m` prints tabs, `key=value` pairs, extra lines and escapes.
    Liar,
    /// Hostile ReCyClusteR-Target-77: an sshd that authorises every key.
    AnyKey,
    /// Hostile ReCyClusteR-Target-88: accepts the temporary key, and its
    /// `uname -m` prints without end.
    Talker,
    /// Hostile ReCyClusteR-Target-55: accepts the temporary key, and its
    /// `hostname` prints the bytes of `hosts/namer/hostname.lie` (see
    /// [`Lab::lie_about_hostname`]): by default an escape and an extra line.
    Namer,
    /// ReCyClusteR-Target-44: a node in every other way (accepts the
    /// temporary key, tells true facts), at the subnet's .99 with no DHCP,
    /// whose reverse-DNS name (the lab's dnsmasq) holds spaces and shell
    /// syntax: [`RDNS_PTR`].
    Rdns,
    /// Hostile ReCyClusteR-Target-33: accepts the temporary key and tells
    /// true facts, but once it told them its sshd serves a new host key,
    /// as a machine in the middle that took its address over would.
    KeySwap,
    /// Hostile ReCyClusteR-Target-22: accepts the temporary key and tells
    /// true facts, at its lease and at each of the 32 free addresses of
    /// the subnet's `.32/27` (its ARP and its sshd answer for them all,
    /// as proxy ARP would): [`ANYIP_BLOCK`].
    AnyIp,
    /// ReCyClusteR-Target-11: a target with two network cards in the LAN,
    /// `eth0` (its address in hosts.tsv) and `eth1` (MAC `02:52:43:4d:..`),
    /// each with its own DHCP lease (`hosts/dualhome/lease-eth1`); each
    /// card answers ARP for its own address only.
    DualHome,
}

/// The addresses the `anyip` host answers at besides its lease: the
/// subnet's 33rd to 64th (`.32/27` of the default `/24`).
pub const ANYIP_BLOCK: std::ops::Range<u32> = 32..64;

/// The reverse-DNS name the lab's DNS gives the `rdns` host, as dnsmasq
/// serves it (lowercased); it takes no control byte in a name.
pub const RDNS_PTR: &str =
    "recycluster-target-44 ansible_connection=local;$(reboot).[control]|`id`&'\"x";

impl Kind {
    fn parse(s: &str) -> Kind {
        match s {
            "control" => Kind::Control,
            "target" => Kind::Target,
            "static" => Kind::Static,
            "foreign" => Kind::Foreign,
            "imposter" => Kind::Imposter,
            "nossh" => Kind::Nossh,
            "liar" => Kind::Liar,
            "anykey" => Kind::AnyKey,
            "talker" => Kind::Talker,
            "namer" => Kind::Namer,
            "rdns" => Kind::Rdns,
            "keyswap" => Kind::KeySwap,
            "anyip" => Kind::AnyIp,
            "dualhome" => Kind::DualHome,
            other => panic!("hosts.tsv: unknown kind {other:?}"),
        }
    }
}

/// One line of `LABDIR/hosts.tsv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// Lab name: control, target-1, static-1, foreign, imposter, nossh.
    pub name: String,
    pub kind: Kind,
    pub ip: String,
    pub mac: String,
    /// The host's own hostname (UTS, /etc/hostname, sent over DHCP).
    pub hostname: String,
}

impl Host {
    /// Targets proper: DHCP and static ones.
    pub fn is_target(&self) -> bool {
        matches!(self.kind, Kind::Target | Kind::Static)
    }
    /// Got its address over DHCP (so it has a DNS name).
    pub fn is_dhcp(&self) -> bool {
        !matches!(self.kind, Kind::Static | Kind::Rdns)
    }
}

/// Options of a lab; [`LabBuilder::up`] starts it.
#[derive(Clone, Debug)]
pub struct LabBuilder {
    targets: usize,
    statics: usize,
    decoys: bool,
    dualhome: bool,
    hostile: Vec<&'static str>,
    loss: Vec<(String, u8)>,
    bins: Vec<PathBuf>,
    subnet: Option<String>,
    with_rccr: bool,
    with_key: bool,
    owner: Option<u32>,
}

impl LabBuilder {
    /// DHCP targets target-1..N (hostnames ReCyClusteR-Target-01..).
    pub fn targets(mut self, n: usize) -> Self {
        self.targets = n;
        self
    }
    /// Static targets static-1..N (hostnames ReCyClusteR-Target-s01.., no DNS name).
    pub fn statics(mut self, n: usize) -> Self {
        self.statics = n;
        self
    }
    /// The three decoys foreign, imposter and nossh.
    pub fn decoys(mut self, yes: bool) -> Self {
        self.decoys = yes;
        self
    }
    /// The target with two network cards, `dualhome` ([`Kind::DualHome`]).
    pub fn dualhome(mut self, yes: bool) -> Self {
        self.dualhome = yes;
        self
    }
    /// A hostile host: `liar`, `anykey`, `talker`, `namer`, `rdns`,
    /// `keyswap` or `anyip` (see [`Kind`]).
    pub fn hostile(mut self, kind: &'static str) -> Self {
        self.hostile.push(kind);
        self
    }
    /// Drop `percent`% of `host`'s frames both ways (applied once all hosts are up).
    pub fn loss(mut self, host: &str, percent: u8) -> Self {
        self.loss.push((host.to_owned(), percent));
        self
    }
    /// Another binary for LABDIR/bin (the rccr under test is always there
    /// unless [`LabBuilder::without_rccr`]).
    pub fn bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.bins.push(path.into());
        self
    }
    /// Lab subnet (private range, prefix 8..24), default 10.213.0.0/24.
    pub fn subnet(mut self, cidr: &str) -> Self {
        self.subnet = Some(cidr.to_owned());
        self
    }
    /// Do not copy the rccr binary under test into the lab.
    pub fn without_rccr(mut self) -> Self {
        self.with_rccr = false;
        self
    }
    /// Do not install the temporary key pair (no authorized_keys, no id_rsa).
    pub fn without_key(mut self) -> Self {
        self.with_key = false;
        self
    }

    /// Owner process of the lab (default: this test process); `lab.sh gc`
    /// removes the lab once the owner is dead.
    pub fn owner(mut self, pid: u32) -> Self {
        self.owner = Some(pid);
        self
    }

    /// Starts the lab; panics with lab.sh's messages if that fails.
    /// The lab of a test that needs root: `None` when [`require_root`]
    /// skips it (use as `let Some(lab) = ... else { return; };`).
    pub fn up_as_root(self) -> Option<Lab> {
        require_root().then(|| self.up())
    }

    pub fn up(self) -> Lab {
        self.try_up().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the lab; Err holds lab.sh's messages.
    pub fn try_up(self) -> Result<Lab, String> {
        gc_once();
        let owner = self.owner.unwrap_or_else(std::process::id);
        let mut args: Vec<String> = vec!["up".into(), "--owner".into(), owner.to_string()];
        args.extend(["--targets".into(), self.targets.to_string()]);
        args.extend(["--static".into(), self.statics.to_string()]);
        if self.decoys {
            args.push("--decoys".into());
        }
        if self.dualhome {
            args.push("--dualhome".into());
        }
        for kind in &self.hostile {
            args.extend(["--hostile".into(), kind.to_string()]);
        }
        for (host, pct) in &self.loss {
            args.extend(["--loss".into(), format!("{host}:{pct}")]);
        }
        if let Some(subnet) = &self.subnet {
            args.extend(["--subnet".into(), subnet.clone()]);
        }
        if self.with_key {
            let key = temp_key();
            args.extend(["--pubkey".into(), key.public.display().to_string()]);
            args.extend(["--privkey".into(), key.private.display().to_string()]);
        }
        let mut bins = self.bins.clone();
        if self.with_rccr {
            bins.insert(0, rccr_bin());
        }
        for b in &bins {
            args.extend(["--bin".into(), b.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let out = lab_sh(&args)
            .output()
            .map_err(|e| format!("cannot run lab.sh: {e}"))?;
        let up_time = started.elapsed();
        let log = stderr(&out);
        if !out.status.success() {
            return Err(format!("lab.sh up failed ({}):\n{log}", out.status));
        }
        let dir = stdout(&out)
            .lines()
            .last()
            .map(PathBuf::from)
            .ok_or_else(|| format!("lab.sh up printed no LABDIR:\n{log}"))?;
        let env = fs::read_to_string(dir.join("lab.env"))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let id = env
            .lines()
            .find_map(|l| l.strip_prefix("ID="))
            .ok_or("lab.env has no ID")?
            .to_owned();
        Ok(Lab {
            dir,
            id,
            up_time,
            log,
            torn_down: false,
        })
    }
}

/// A running lab; dropping it tears it down (`lab.sh down`), panic or not.
/// Set env RCCR_LAB_KEEP=1 to keep the lab of a failing test for a look
/// (a later `lab.sh gc` removes it once this process is gone).
pub struct Lab {
    dir: PathBuf,
    id: String,
    up_time: Duration,
    log: String,
    torn_down: bool,
}

impl Lab {
    pub fn builder() -> LabBuilder {
        LabBuilder {
            targets: 0,
            statics: 0,
            decoys: false,
            dualhome: false,
            hostile: Vec::new(),
            loss: Vec::new(),
            bins: Vec::new(),
            subnet: None,
            with_rccr: true,
            with_key: true,
            owner: None,
        }
    }

    /// A LAN of `targets` DHCP targets, `statics` static ones and the
    /// decoys that must stay untouched.
    pub fn with_decoys(targets: usize, statics: usize) -> LabBuilder {
        Lab::builder()
            .targets(targets)
            .statics(statics)
            .decoys(true)
    }

    /// LABDIR (hosts.tsv, bin/, hosts/NAME/, router/).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lab id: prefix of its namespaces (`ID-router`, `ID-hN`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Wall time `lab.sh up` took.
    pub fn up_time(&self) -> Duration {
        self.up_time
    }

    /// What `lab.sh up` said on stderr.
    pub fn up_log(&self) -> &str {
        &self.log
    }

    /// The router's address (.1 of the subnet).
    pub fn router_ip(&self) -> String {
        let env = fs::read_to_string(self.dir.join("lab.env")).expect("read lab.env");
        env.lines()
            .find_map(|l| l.strip_prefix("ROUTER_IP="))
            .expect("lab.env has ROUTER_IP")
            .to_owned()
    }

    /// Parsed hosts.tsv (re-read each call: [`Lab::add_targets`] extends it).
    pub fn hosts(&self) -> Vec<Host> {
        let tsv = fs::read_to_string(self.dir.join("hosts.tsv")).expect("read hosts.tsv");
        tsv.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                assert_eq!(f.len(), 5, "hosts.tsv line {l:?}");
                Host {
                    name: f[0].to_owned(),
                    kind: Kind::parse(f[1]),
                    ip: f[2].to_owned(),
                    mac: f[3].to_owned(),
                    hostname: f[4].to_owned(),
                }
            })
            .collect()
    }

    /// The host named `name`; panics if there is none.
    pub fn host(&self, name: &str) -> Host {
        self.hosts()
            .into_iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name:?} in lab {}", self.dir.display()))
    }

    /// Address of host `name`.
    pub fn ip(&self, name: &str) -> String {
        self.host(name).ip
    }

    /// Runs `args` inside `host` (PATH=LABDIR/bin:..., HOME=/root, cwd /root).
    pub fn exec(&self, host: &str, args: &[&str]) -> Output {
        self.exec_stdin(host, args, &[])
    }

    /// `rccr keys status --json --host IP` on the control.
    pub fn keys_status_of(&self, ip: &str) -> Output {
        let args = ["rccr", "keys", "status", "--json", "--host", ip];
        self.exec("control", &args)
    }

    /// Like [`Lab::exec`], feeding `input` on stdin.
    pub fn exec_stdin(&self, host: &str, args: &[&str], input: &[u8]) -> Output {
        let dir = self.dir.display().to_string();
        let mut cmd = lab_sh(&["exec", &dir, host]);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run lab.sh exec");
        let mut stdin = child.stdin.take().expect("stdin pipe");
        // A command that does not read its stdin closes the pipe early: ignore EPIPE.
        let _ = stdin.write_all(input);
        drop(stdin);
        child.wait_with_output().expect("wait for lab.sh exec")
    }

    /// Runs `args` inside `host` as [`Lab::exec`] does, on a terminal of
    /// their own with `typed` typed ahead
    /// (`terminal::run_on_terminal`: what the terminal
    /// showed is in `stdout`).
    pub fn exec_on_terminal(&self, host: &str, args: &[&str], typed: &[u8]) -> Output {
        let dir = self.dir.display().to_string();
        let mut cmd = lab_sh(&["exec", &dir, host]);
        cmd.args(args);
        super::terminal::run_on_terminal(cmd, typed)
    }

    /// Starts `args` inside `host` as [`Lab::exec`] runs them, with no
    /// input and the output piped, and returns at once.
    pub fn spawn(&self, host: &str, args: &[&str]) -> Child {
        let dir = self.dir.display().to_string();
        let mut cmd = lab_sh(&["exec", &dir, host]);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("run lab.sh exec")
    }

    /// `sh -c script` inside `host`.
    pub fn sh(&self, host: &str, script: &str) -> Output {
        self.exec(host, &["sh", "-c", script])
    }

    /// An empty known_hosts on the control, on a read-only file system
    /// (a bind mount in the control's own mount namespace) until
    /// [`Lab::pins_writable`]: for `--known-hosts`, which it returns.
    pub fn read_only_pins(&self) -> &'static str {
        let out = self.sh(
            "control",
            "mkdir -m 700 /root/pins && : >/root/pins/known_hosts && \
             mount --bind /root/pins /root/pins && mount -o remount,bind,ro /root/pins",
        );
        assert!(out.status.success(), "{}", stderr(&out));
        "/root/pins/known_hosts"
    }

    /// Makes [`Lab::read_only_pins`] writable again.
    pub fn pins_writable(&self) {
        let out = self.sh("control", "umount /root/pins");
        assert!(out.status.success(), "{}", stderr(&out));
    }

    /// OpenSSH from host `from` to host `to` (lab name or address) as root
    /// with the control's key, BatchMode, no host key checks, 5 s connect timeout.
    pub fn ssh(&self, from: &str, to: &str, cmd: &str) -> Output {
        let dir = self.dir.display().to_string();
        lab_sh(&["ssh", &dir, from, to, cmd])
            .output()
            .expect("run lab.sh ssh")
    }

    /// Whether the private key at `key` (a path inside the control host)
    /// logs the control into host `to` as root: that key only (no ssh
    /// config), no host key checks, no prompts. A key that is not there
    /// logs in nowhere.
    pub fn key_logs_in(&self, key: &str, to: &str) -> bool {
        self.key_logs_in_at(key, &self.ip(to), 3)
    }

    /// [`Lab::key_logs_in`] for any `address` the control reaches (a VM),
    /// allowing `connect_timeout` seconds to connect.
    pub fn key_logs_in_at(&self, key: &str, address: &str, connect_timeout: u32) -> bool {
        // ssh falls back to the default identities when -i names no file.
        if !self.exec("control", &["test", "-f", key]).status.success() {
            return false;
        }
        let target = format!("root@{address}");
        let timeout = format!("ConnectTimeout={connect_timeout}");
        // -F /dev/null: a Host block in ~/.ssh/config would add its keys.
        let args = [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            key,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            &timeout,
            "-o",
            "LogLevel=ERROR",
            &target,
            "true",
        ];
        self.exec("control", &args).status.success()
    }

    /// Asserts what a rotation leaves: the host at `address` (`name` in
    /// messages) takes the cluster key and refuses the temporary one.
    pub fn assert_cluster_key_only(&self, name: &str, address: &str, connect_timeout: u32) {
        assert!(
            self.key_logs_in_at("/root/.ssh/id_ed25519", address, connect_timeout),
            "{name}: cluster key refused"
        );
        assert!(
            !self.key_logs_in_at("/root/.rccr/temp_key", address, connect_timeout),
            "{name}: temporary key accepted"
        );
    }

    /// Asserts that the control no longer offers the temporary key as
    /// a default identity (~/.ssh/id_rsa).
    pub fn assert_temp_key_retired(&self) {
        assert!(
            !self
                .exec("control", &["test", "-e", "/root/.ssh/id_rsa"])
                .status
                .success(),
            "~/.ssh/id_rsa still holds the temporary key: the control offers it"
        );
    }

    /// Plain `ssh root@HOST CMD` from the control, as an operator types it:
    /// only BatchMode (no prompt) and strict host key checking, so the
    /// control's own ~/.ssh (keys, config, known_hosts) decides.
    pub fn plain_ssh(&self, to: &str, cmd: &str) -> Output {
        self.plain_ssh_at(&self.ip(to), cmd)
    }

    /// [`Lab::plain_ssh`] to any address or name the control resolves.
    pub fn plain_ssh_at(&self, address: &str, cmd: &str) -> Output {
        let target = format!("root@{address}");
        let args = [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            &target,
            cmd,
        ];
        self.exec("control", &args)
    }

    pub fn add_targets(&self, n: usize) -> Vec<Host> {
        self.add(&["--targets", &n.to_string()])
    }

    /// Adds `n` static targets to the running lab; returns the new hosts.
    pub fn add_statics(&self, n: usize) -> Vec<Host> {
        self.add(&["--static", &n.to_string()])
    }

    fn add(&self, opts: &[&str]) -> Vec<Host> {
        let dir = self.dir.display().to_string();
        let mut args = vec!["add", dir.as_str()];
        args.extend_from_slice(opts);
        let out = lab_sh(&args).output().expect("run lab.sh add");
        assert!(out.status.success(), "lab.sh add failed: {}", stderr(&out));
        let names: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
        self.hosts()
            .into_iter()
            .filter(|h| names.contains(&h.name))
            .collect()
    }

    /// Moves `host`'s sshd to `port` (its `Port` line; `extra` lines go
    /// after the config's, e.g. a `Match LocalPort` block) and restarts
    /// it there; returns once it listens on `port`. A reboot keeps it so.
    pub fn sshd_port(&self, host: &str, port: u16, extra: &str) {
        let dir = self.dir.join("hosts").join(host);
        let config = dir.join("sshd_config");
        let text = fs::read_to_string(&config).expect("read the host's sshd_config");
        let text: String = text
            .lines()
            .map(|l| match l.starts_with("Port ") {
                true => format!("Port {port}\n"),
                false => format!("{l}\n"),
            })
            .collect();
        fs::write(&config, format!("{text}{extra}")).expect("write the host's sshd_config");
        let pid = fs::read_to_string(dir.join("sshd.pid")).expect("the host's sshd.pid");
        let pid: u32 = pid.trim().parse().expect("a pid in sshd.pid");
        let killed = Command::new("kill").arg(pid.to_string()).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill sshd of {host}");
        wait_for("the old sshd to exit", || !pid_alive(pid));
        let log = dir.join("sshd.log");
        let sshd = [
            "/usr/sbin/sshd",
            "-f",
            config.to_str().expect("a UTF-8 lab path"),
            "-E",
            log.to_str().expect("a UTF-8 lab path"),
        ];
        let out = self.exec(host, &sshd);
        assert!(out.status.success(), "sshd of {host}: {}", stderr(&out));
        let listening = format!("ss -Htln 'sport = :{port}' | grep -q .");
        wait_for("sshd to listen on its new port", || {
            self.sh(host, &listening).status.success()
        });
    }

    /// Gives `host` a new host key of `key_type` (ed25519, ecdsa, rsa, or
    /// rsa1024: RSA of 1024 bits, which rccr refuses) as its
    /// only one, and restarts its sshd.
    pub fn rekey(&self, host: &str, key_type: &str) {
        self.lab_sh_ok("rekey", &[host, key_type]);
    }

    /// `lab.sh COMMAND LABDIR ARGS...`, which must succeed: else the
    /// panic shows its exit status and all it said (the lab's logs die with
    /// the lab, so this is all a CI failure keeps).
    fn lab_sh_ok(&self, command: &str, args: &[&str]) {
        let dir = self.dir.display().to_string();
        let out = lab_sh(&[command, &dir])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run lab.sh {command}: {e}"));
        assert!(
            out.status.success(),
            "lab.sh {command} failed ({}):\nstderr: {}\nstdout: {}",
            out.status,
            stderr(&out),
            stdout(&out)
        );
    }

    /// Makes `host` a relay: its port 22 forwards to `to`'s (a lab name or
    /// an address), with nft DNAT and masquerade, as a relay or NAT in
    /// between would. Its own sshd answers there no more.
    pub fn relay(&self, host: &str, to: &str) {
        self.lab_sh_ok("relay", &[host, to]);
    }

    /// How many public keys `host`'s sshd has been offered so far (its
    /// log's `publickey` lines): a test that takes a difference shows that
    /// rccr offered no key to a host it must not trust.
    pub fn keys_offered(&self, host: &str) -> usize {
        let log = self.dir.join("hosts").join(host).join("sshd.log");
        std::fs::read_to_string(&log)
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()))
            .matches("publickey")
            .count()
    }

    /// From now on `host` answers `hostname` in its SSH sessions (rccr's
    /// facts) with `lie`, byte for byte; its real name stays.
    pub fn lie_about_hostname(&self, host: &str, lie: &[u8]) {
        let dir = self.dir.join("hosts").join(host);
        let lie_file = dir.join("hostname.lie");
        fs::write(&lie_file, lie).expect("write hostname.lie");
        // Same wrapper as lab.sh gives the namer: first in the SSH PATH.
        let script = dir.join("fakebin/hostname");
        fs::write(
            &script,
            format!("#!/bin/sh\nexec cat '{}'\n", lie_file.display()),
        )
        .expect("write fakebin/hostname");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// The SHA256 fingerprint (`SHA256:...`) of the host key `host`'s sshd
    /// serves now, by `ssh-keygen -lf` on the host, as its console shows it.
    pub fn host_key_fingerprint(&self, host: &str) -> String {
        let dir = self.dir.join("hosts").join(host);
        let config = fs::read_to_string(dir.join("sshd_config")).expect("read sshd_config");
        let key = config
            .lines()
            .find_map(|l| l.strip_prefix("HostKey "))
            .expect("sshd_config names its HostKey");
        let out = self.exec(host, &["ssh-keygen", "-lf", &format!("{key}.pub")]);
        assert!(out.status.success(), "ssh-keygen -lf: {}", stderr(&out));
        stdout(&out)
            .split_whitespace()
            .nth(1)
            .expect("ssh-keygen -lf prints BITS FINGERPRINT ...")
            .to_string()
    }

    /// What `host` keeps over a reboot: `disk` (everything, the default),
    /// `lbu` (diskless: what its lbu stand-in committed), `none` (diskless,
    /// `lbu commit` fails). Its files as they are now become its image. A
    /// diskless host's sessions see `/` as a RAM filesystem, as on Alpine
    /// run from RAM (rccr and sh wrapped in its fakebin: lab.sh).
    pub fn storage(&self, host: &str, kind: &str) {
        self.lab_sh_ok("storage", &[host, kind]);
    }

    /// Reboots `hosts`: every process gets SIGTERM (then SIGKILL), a
    /// diskless host loses what lbu did not commit, then `rccr init`, DHCP
    /// and sshd start again. Returns once every one of them is up.
    pub fn reboot(&self, hosts: &[&str]) {
        self.lab_sh_ok("reboot", hosts);
    }

    /// A power cut of every host at once (SIGKILL), then boots them all.
    pub fn powercut(&self) {
        self.lab_sh_ok("powercut", &[]);
    }

    /// Sets `host`'s frame loss (both directions) in percent; 0 removes it.
    pub fn set_loss(&self, host: &str, percent: u8) {
        self.lab_sh_ok("loss", &[host, &percent.to_string()]);
    }

    /// The lab's network namespaces.
    pub fn namespaces(&self) -> Vec<String> {
        let prefix = format!("{}-", self.id);
        netns_list()
            .into_iter()
            .filter(|n| n.starts_with(&prefix))
            .collect()
    }

    /// Every live process of the lab: all processes in its namespaces, plus
    /// the recorded holder, sshd, udhcpc and dnsmasq PIDs.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for ns in self.namespaces() {
            let out = Command::new("ip")
                .args(["netns", "pids", &ns])
                .output()
                .expect("ip netns pids");
            pids.extend(
                stdout(&out)
                    .lines()
                    .filter_map(|l| l.trim().parse::<u32>().ok()),
            );
        }
        let mut files = vec![self.dir.join("router/dnsmasq.pid")];
        if let Ok(entries) = fs::read_dir(self.dir.join("hosts")) {
            for e in entries.flatten() {
                for f in ["holder.pid", "sshd.pid", "udhcpc.pid"] {
                    files.push(e.path().join(f));
                }
            }
        }
        for f in files {
            if let Ok(s) = fs::read_to_string(&f) {
                if let Ok(pid) = s.trim().parse::<u32>() {
                    pids.push(pid);
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids.retain(|&p| pid_alive(p));
        pids
    }

    /// Tears the lab down now (Drop does it too, ignoring errors).
    pub fn down(mut self) -> Result<(), String> {
        self.torn_down = true;
        let dir = self.dir.display().to_string();
        let out = lab_sh(&["down", &dir])
            .output()
            .map_err(|e| format!("cannot run lab.sh: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "lab.sh down failed ({}): {}",
                out.status,
                stderr(&out)
            ))
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        if std::thread::panicking() && std::env::var_os("RCCR_LAB_KEEP").is_some() {
            eprintln!(
                "RCCR_LAB_KEEP: keeping lab {} at {}",
                self.id,
                self.dir.display()
            );
            return;
        }
        let dir = self.dir.display().to_string();
        match lab_sh(&["down", &dir]).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("lab.sh down {dir} failed: {}", stderr(&out)),
            Err(e) => eprintln!("cannot run lab.sh down {dir}: {e}"),
        }
    }
}
