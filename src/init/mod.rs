//! `rccr-init`: first-boot preparation of a node, run once per boot by the
//! OpenRC service `rccr-init` (`src/init/rccr-init.openrc`) before
//! `networking` and `sshd`.
//!
//! Each step is optional and independent: a step that cannot run says why on
//! stderr (one line, `rccr-init: ...`) and the others still run, so a node
//! always finishes booting. Every file is replaced with
//! [`fsutil::write_atomic`] and only when its bytes change, so a second run
//! changes nothing and says so. (Two exceptions: a file that is a mount point,
//! as containers and the test lab bind-mount `/etc/hostname` and
//! `/etc/hosts`, cannot be renamed over and is rewritten in place; and
//! `/proc/sys/kernel/hostname` is no file.) Nothing waits for the network.
//!
//! 1. **Node type** from `/etc/rccr/node-type`: `control` or `target`.
//! 2. **Boot-partition file** `rccr.txt` ([`bootfile`]): `hostname=` and
//!    `authorized_key=` lines, applied once, then renamed `rccr.txt.applied`
//!    (`rccr.txt.partial` when a line was malformed).
//! 3. **Hostname** ([`hostname`]): kept when configured, otherwise
//!    `ReCyClusteR-<Control|Target>-<last 3 MAC bytes>`; written to
//!    `/etc/hostname`, `/etc/hosts`, the running kernel and every DHCP stanza
//!    of `/etc/network/interfaces`, so the DHCP server learns the name.
//!    Before it, the boot partition's `wpa_supplicant.conf` is checked and
//!    installed ([`wifi`]); the same write of the interfaces file adds DHCP
//!    on every wired interface present, and on Wi-Fi once it is configured,
//!    with DHCP straight to the background on a wired port without carrier
//!    and on Wi-Fi ([`network`]). Then mdev's hotplug rule for network interfaces goes
//!    first into `/etc/mdev.conf`.
//! 4. **Key rotation cut short by the reboot** ([`revert_dead_rotation`]):
//!    no revert timer survives a reboot, so a rotation still armed in
//!    `/root` is restored as its timer would have done.
//! 5. **`/root/.ssh` modes** ([`fix_ssh_modes`]).
//! 6. **SSH host keys** ([`hostkeys`]): generated when missing.
//! 7. **World check** ([`world`]): every package of `/etc/apk/world` is
//!    installed, else what is missing is installed offline where it can be
//!    and the rest reported (`world:` in the boot status file).
//! 8. **Console banner** `/etc/issue` ([`issue`]), with the storage and
//!    world lines of the boot status file ([`bootstatus`]).
//! 9. **Persistence**: where lbu exists, `lbu commit` after any change, and
//!    whenever a boot-partition file is there to retire (see
//!    [`crate::persist::commit`] for when a failure counts).
//! 10. **Boot-partition files retired** (`rccr.txt` renamed
//!     `rccr.txt.applied`, or `.partial` with a malformed line;
//!     `wpa_supplicant.conf` removed), only once what
//!     they set is saved: by this run's commit, or on a disk.
//!
//! More modes, each its own run: `--storage` finds or prepares the
//! persistent storage and mounts it ([`storage`]; the `rccr-storage`
//! service, before `rccr-persist` and this one), `--prepare-disk DEV`
//! erases a disk for it after a typed confirmation, and `--hotplug IFACE`
//! adds the DHCP stanza of a wired interface that appeared after the boot
//! run listed them ([`hotplug`], run by mdev through
//! `/usr/libexec/rccr/net-hotplug`, possibly while the boot run is under
//! way: both hold the lock of `/etc/network` while they change the files,
//! see [`hostname`]).
//!
//! `--root DIR` moves every path, `/sys` and `/proc` included, under DIR; the
//! live system (the kernel's hostname, `hostname(1)`, `mount`, `lbu`, `apk`,
//! the kernel's address list) is only touched when the root is `/`. The
//! storage modes are the exception by design: under `--root` they act on
//! the block devices that `DIR/sys/block` lists (the tests' loop devices,
//! reached through `DIR/dev`) and mount them under DIR. Every file the
//! steps read, write, chmod or lock under DIR (and `/sys/class/net`, but
//! not the links in it) is found
//! through the image's symbolic links as the node follows them, inside DIR
//! ([`Ctx::resolve`]), never the host's; a link a file is written over is
//! replaced by the file, as on the node (the rename takes its place). Root's
//! `.ssh` is stricter: a link there that leaves DIR is not followed.
pub mod bootfile;
pub mod bootstatus;
pub mod hostkeys;
pub mod hostname;
pub mod issue;
pub mod network;
pub mod nic;
pub mod storage;
pub mod wifi;
pub mod world;

use crate::error::Error;
use crate::fsutil;
use crate::identity::{Role, IMAGE_CONTROL_NAME};
use crate::keys::authorized;
use std::fmt::Display;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What the image writes to tell a control node from a target.
pub const NODE_TYPE_FILE: &str = "/etc/rccr/node-type";
/// The root user's SSH directory.
pub const ROOT_SSH_DIR: &str = "/root/.ssh";
/// Where keys from the boot-partition file go.
pub const AUTHORIZED_KEYS: &str = "/root/.ssh/authorized_keys";

pub struct Options {
    /// The system to prepare: `/`, or a directory holding one (tests).
    pub root: PathBuf,
    /// Report what would change; change nothing.
    pub dry_run: bool,
    /// Only rewrite `/etc/issue` (the `rccr-issue` service, once the
    /// network is up).
    pub issue_only: bool,
    /// Only find or prepare the persistent storage and mount it (the
    /// `rccr-storage` service).
    pub storage_only: bool,
}

/// How a run went: the counts behind the last log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub changes: usize,
    pub problems: usize,
}

/// Where a run stands: the root, and what it changed and could not do.
pub struct Ctx {
    root: PathBuf,
    /// The root is `/`: the running system is ours to change.
    pub live: bool,
    pub dry: bool,
    summary: Summary,
    /// Something lbu should save changed (everything but `/etc/issue`).
    persist: bool,
}

impl Ctx {
    pub fn new(root: &Path, dry: bool) -> Ctx {
        let live = root.canonicalize().is_ok_and(|p| p == Path::new("/"));
        Ctx {
            root: root.to_path_buf(),
            live,
            dry,
            summary: Summary::default(),
            persist: false,
        }
    }

    /// `abs` (a path on the node, `/etc/hostname`) under the root.
    pub fn path(&self, abs: &str) -> PathBuf {
        if self.live {
            PathBuf::from(abs)
        } else {
            self.root.join(abs.trim_start_matches('/'))
        }
    }

    /// `path` (one of [`Self::path`], or under one resolved here) as the
    /// node resolves it, each symbolic link on the way (the last one too
    /// when `follow_last`) followed under the root: under `--root` an
    /// absolute target is taken from the root and a `..` never climbs
    /// above it, where the host would follow them into its own files. A
    /// missing component is `ENOENT`, but for a last one not followed: the
    /// path names what to make. When live the kernel resolves: `path` as
    /// it is.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> io::Result<PathBuf> {
        if self.live {
            return Ok(path.to_path_buf());
        }
        let rel = path.strip_prefix(&self.root).unwrap_or(path);
        let (dir, name) = match (follow_last, rel.parent(), rel.file_name()) {
            (false, Some(dir), Some(name)) => (dir, Some(name)),
            _ => (rel, None),
        };
        // Never `None`: not confined.
        let at = resolve_under(&self.root, dir, false)?.unwrap_or_default();
        Ok(match name {
            Some(name) => at.join(name),
            None => at,
        })
    }

    /// An informational line: what was found, what was kept.
    pub fn note(&self, msg: impl Display) {
        eprintln!("rccr-init: {msg}");
    }

    /// Something changed (or would, in a dry run).
    pub fn changed(&mut self, msg: impl Display) {
        self.summary.changes += 1;
        if self.dry {
            eprintln!("rccr-init: would change {msg}");
        } else {
            eprintln!("rccr-init: {msg}");
        }
    }

    /// A step, or part of one, could not be done; the run goes on.
    pub fn problem(&mut self, msg: impl Display) {
        self.summary.problems += 1;
        eprintln!("rccr-init: {msg}");
    }

    /// Marks a change that lbu should persist on diskless systems.
    pub fn needs_persist(&mut self) {
        self.persist = true;
    }

    /// Replaces `path` with `bytes` atomically unless it holds them already.
    /// An existing file keeps its mode; a new one gets `mode`. Returns
    /// whether the file now holds `bytes` (or would, in a dry run).
    pub fn write_file(&mut self, path: &Path, bytes: &[u8], mode: u32, what: &str) -> bool {
        self.write(path, bytes, mode, what, true)
    }

    /// [`Ctx::write_file`] for a file rebuilt at every boot (`/etc/issue`),
    /// which is no reason to run lbu.
    pub fn write_volatile(&mut self, path: &Path, bytes: &[u8], mode: u32, what: &str) -> bool {
        self.write(path, bytes, mode, what, false)
    }

    fn write(&mut self, path: &Path, bytes: &[u8], mode: u32, what: &str, persist: bool) -> bool {
        // Under `--root`, as the node finds it ([`Self::resolve`]): where
        // the file is replaced, and what stands there, a link followed
        // (`None`: nothing). Live: `path`, both.
        let found = self
            .resolve(path, false)
            .and_then(|at| match self.resolve(path, true) {
                Ok(seen) => Ok((at, Some(seen))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((at, None)),
                Err(e) => Err(e),
            });
        let (at, seen) = match found {
            Ok(found) => found,
            Err(_) if self.dry => (path.to_path_buf(), None),
            Err(e) => {
                self.problem(format_args!("cannot write {}: {e}", path.display()));
                return false;
            }
        };
        let old = seen.as_deref().map(fs::read);
        let mode = match (old, &seen) {
            (Some(Ok(old)), _) if old == bytes => return true,
            (Some(Ok(_)), Some(seen)) => {
                fs::metadata(seen).map_or(mode, |m| m.permissions().mode() & 0o7777)
            }
            _ => mode,
        };
        if self.dry {
            self.changed(format_args!("{}: {what}", path.display()));
            return true;
        }
        let written = if self.live {
            fsutil::write_atomic(path, bytes, mode)
        } else {
            // What stands at `at` judged as the node finds it, inside the
            // root (`seen`); a link there is never followed on the host,
            // and the rename replaces it: a write that fails leaves it.
            seen.as_deref()
                .map_or(Ok(()), fsutil::check_replaceable)
                .and_then(|()| fsutil::write_atomic_judged(&at, bytes, mode))
        };
        let written = match written {
            // A file that is a mount point (containers bind-mount
            // /etc/hostname and /etc/hosts, so does the test lab) cannot be
            // renamed over: it is rewritten in place, the one way to change it.
            // Those two only: cut short, an in-place write leaves the file
            // empty, which for authorized_keys would lock root out.
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
                if rewritten_in_place(path) {
                    write_in_place(&at, bytes).map_err(|e| {
                        Error::io(
                            format!("cannot write {} (a mount point)", path.display()),
                            e,
                        )
                    })
                } else {
                    Err(Error::Failed(format!(
                        "{} is a mount point, which rccr-init does not rewrite in place (a write \
                         cut short would leave it empty): change it where it is mounted from",
                        path.display()
                    )))
                }
            }
            other => other,
        };
        match written {
            Ok(()) => {
                self.changed(format_args!("{}: {what}", path.display()));
                self.persist |= persist;
                true
            }
            Err(e) => {
                self.problem(e);
                false
            }
        }
    }

    /// The bytes of `path` (one of [`Self::path`]), a link followed where
    /// the node follows it ([`Self::resolve`]); errors as `fs::read`'s.
    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.resolve(path, true).and_then(fs::read)
    }

    /// [`Self::read`]; a missing file is `Ok(None)`.
    pub fn read_optional(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match self.read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `path` is a directory, as the node finds it.
    pub fn is_dir(&self, path: &Path) -> bool {
        self.resolve(path, true).is_ok_and(|d| d.is_dir())
    }

    /// The entries of the directory `path`, as the node finds it.
    pub fn read_dir(&self, path: &Path) -> io::Result<fs::ReadDir> {
        self.resolve(path, true).and_then(fs::read_dir)
    }

    /// Creates the directory `dir` as [`fsutil::create_dir_durable`] does;
    /// under `--root` inside it, its parent there already, and a link in
    /// its place (to nothing in the root) `EEXIST`, as `mkdir` on the node.
    pub fn create_dir_durable(&self, dir: &Path, mode: u32) -> io::Result<()> {
        let at = self.resolve(dir, false)?;
        if !self.live && fs::symlink_metadata(&at).is_ok_and(|m| m.is_symlink()) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        fsutil::create_dir_durable(&at, mode)
    }

    /// Sets `path`'s permission bits to `mode`.
    pub fn chmod(&mut self, path: &Path, old: u32, mode: u32) {
        let what = format_args!("{}: mode {old:04o} -> {mode:04o}", path.display());
        if self.dry {
            self.changed(what);
            return;
        }
        let set = self.resolve(path, true);
        match set.and_then(|p| fs::set_permissions(p, fs::Permissions::from_mode(mode))) {
            Ok(()) => {
                self.changed(what);
                self.persist = true;
            }
            Err(e) => self.problem(format_args!("cannot chmod {}: {e}", path.display())),
        }
    }

    /// The last log line, and the counts for the caller.
    pub fn finish(self) -> Summary {
        let Summary { changes, problems } = self.summary;
        let problems_text = match problems {
            0 => String::new(),
            1 => ", 1 problem (see above)".into(),
            n => format!(", {n} problems (see above)"),
        };
        match (changes, self.dry) {
            (0, _) => eprintln!("rccr-init: nothing to change{problems_text}"),
            (1, false) => eprintln!("rccr-init: 1 change{problems_text}"),
            (n, false) => eprintln!("rccr-init: {n} changes{problems_text}"),
            (n, true) => eprintln!("rccr-init: dry run, {n} changes not made{problems_text}"),
        }
        self.summary
    }
}

/// Whether `path` (under any root) is a file that is rewritten in place
/// when it is a mount point: the two files containers bind-mount.
fn rewritten_in_place(path: &Path) -> bool {
    [hostname::ETC_HOSTNAME, hostname::ETC_HOSTS]
        .iter()
        .any(|file| path.ends_with(file.trim_start_matches('/')))
}

/// Truncates and rewrites an existing file, then syncs it.
fn write_in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Runs `program` with `args`, its output kept off the console; `Err`
/// names the command, its exit status and its last line of output.
pub fn run_tool(program: &str, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let (stderr, stdout) = (
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout),
    );
    let last = [stderr, stdout]
        .iter()
        .find_map(|t| {
            t.lines()
                .rfind(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default();
    Err(format!(
        "{program} {}: {}: {}",
        args.join(" "),
        out.status,
        last.trim()
    ))
}

/// Gives the node the hostname `name` everywhere (as `rccr.txt`'s
/// `hostname=` would), rewrites the banner and persists: how `rccr setup`
/// renames a node. `Err` when `/etc/hostname` cannot hold the name, or
/// when the name cannot be saved: then the name it had is put back, so
/// the node runs under the name its next boot brings back, and a caller
/// that records the name does not record one a reboot undoes.
pub fn rename(opts: &Options, name: &str) -> Result<(), Error> {
    let mut ctx = Ctx::new(&opts.root, opts.dry_run);
    let node = node_type(&mut ctx);
    let old = hostname::current(&ctx);
    let (name, written) = hostname::apply(&mut ctx, node, Some(name), &[]);
    issue::write(&mut ctx, node, &name);
    // Even when every file holds the name already: an earlier rename's
    // save may have failed, and the caller asks for a saved name.
    ctx.needs_persist();
    let result = if !written {
        Err(Error::Failed(format!(
            "cannot write hostname {name} to /etc/hostname (see above)"
        )))
    } else {
        match persist(&mut ctx) {
            Ok(()) => Ok(()),
            Err(why) if old != name && crate::identity::check_hostname(&old).is_ok() => {
                hostname::apply(&mut ctx, node, Some(&old), &[]);
                issue::write(&mut ctx, node, &old);
                Err(Error::Failed(format!(
                    "cannot save hostname {name} ({why}), so {} is back, the name the next boot brings; rename again once lbu commit works",
                    crate::print::name(&old)
                )))
            }
            Err(why) => Err(Error::Failed(format!(
                "cannot save hostname {name} ({why}): it lasts until the next reboot; rename again once lbu commit works"
            ))),
        }
    };
    ctx.finish();
    result
}

/// `rccr-init --hotplug IFACE` (mdev, through `/usr/libexec/rccr/net-hotplug`,
/// when an interface appears, at boot or after): the DHCP stanza the boot
/// would add for IFACE, in the same write as the hostname option and under
/// the same lock as the boot run's ([`hostname::apply`]), when it is a
/// wired interface of real hardware ([`nic::wired`]); nothing for any
/// other. With the boot's carrier rule ([`network::wired_dhcp`]): the
/// link is brought up and, when it finds no carrier within
/// [`network::SETTLE`], DHCP there goes to the background at once, so an
/// adapter without a cable that appears before `networking` has started
/// does not hold its start. Not saved with lbu: the next boot adds it
/// again while the interface is there.
pub fn hotplug(opts: &Options, iface: &str) -> Summary {
    let mut ctx = Ctx::new(&opts.root, opts.dry_run);
    let node = node_type(&mut ctx);
    let class_net = hostname::interfaces_dir(&ctx);
    if nic::wired(&class_net).iter().any(|w| w == iface) {
        let interfaces =
            (ctx.live && !ctx.dry).then(|| fs::read(hostname::INTERFACES).unwrap_or_default());
        let add = network::wired_dhcp(&class_net, vec![iface.to_string()], interfaces.as_deref());
        hostname::apply(&mut ctx, node, None, &add);
    } else {
        ctx.note(format_args!(
            "{iface}: no wired interface of real hardware, no DHCP stanza"
        ));
    }
    ctx.finish()
}

/// Puts [`network::hotplug_rule`] into `/etc/mdev.conf`, when there is one
/// (a system without it uses no mdev). At every boot, not only the first:
/// apk keeps the node's file over a newer `mdev-conf` one
/// (`mdev.conf.apk-new`), and one an admin takes over it gets the rule back.
fn ensure_hotplug_rule(ctx: &mut Ctx) {
    let path = ctx.path(network::MDEV_CONF);
    match ctx.read_optional(&path) {
        Ok(Some(content)) => {
            if let Some(new) = network::mdev_conf_with_rule(&content) {
                ctx.write_file(&path, &new, 0o644, "mdev runs rccr's network hotplug");
            }
        }
        Ok(None) => {}
        Err(e) => ctx.problem(format_args!("cannot read {}: {e}", path.display())),
    }
}

/// Runs every step; see the module documentation.
pub fn run(opts: &Options) -> Summary {
    let mut ctx = Ctx::new(&opts.root, opts.dry_run);
    if opts.storage_only {
        storage::boot(&mut ctx);
        return ctx.finish();
    }
    let node = node_type(&mut ctx);
    if opts.issue_only {
        let name = hostname::current(&ctx);
        issue::write(&mut ctx, node, &name);
        return ctx.finish();
    }

    let boot = bootfile::load(&mut ctx);
    let wanted = boot.as_ref().and_then(|b| b.hostname.as_deref());
    let wifi_file = wifi::load(&mut ctx);
    let (wifi, wifi_ok) = wifi::install(&mut ctx, wifi_file.as_ref());
    // The rule before the interfaces are listed: one that appears after
    // the listing is then mdev's to hand to --hotplug, which waits for
    // this run's lock on /etc/network.
    ensure_hotplug_rule(&mut ctx);
    let interfaces =
        (ctx.live && !ctx.dry).then(|| fs::read(hostname::INTERFACES).unwrap_or_default());
    let dhcp = network::at_boot(&hostname::interfaces_dir(&ctx), wifi, interfaces.as_deref());
    let (name, hostname_ok) = hostname::apply(&mut ctx, node, wanted, &dhcp);
    let mut boot_ok = hostname_ok || wanted.is_none();
    // Before the boot file's keys: the backup restored is the file as it
    // was before the rotation, without them.
    let ssh_outside = ssh_dir_outside_root(&ctx);
    let live_rotation = match &ssh_outside {
        Some(why) => {
            ctx.problem(why);
            None
        }
        None => revert_dead_rotation(&mut ctx),
    };
    // Modes first, so that an authorized_keys we extend is 0600 already.
    if ssh_outside.is_none() {
        fix_ssh_modes(&mut ctx);
    }
    if let Some(b) = &boot {
        boot_ok &= match &live_rotation {
            // Said above; rccr.txt stays for the node's own boot.
            _ if ssh_outside.is_some() && !b.keys.is_empty() => false,
            // Its timer renames the backup over the file: keys added now
            // would go with it. rccr.txt stays for the next boot.
            Some(token) if !b.keys.is_empty() => {
                ctx.problem(format_args!(
                    "{}: the boot-partition file's keys not added: key rotation {} is armed and \
                     its revert timer would take them away; they are added at the next boot",
                    ctx.path(AUTHORIZED_KEYS).display(),
                    crate::print::text(token)
                ));
                false
            }
            _ => add_authorized_keys(&mut ctx, &b.keys),
        };
    }
    hostkeys::ensure(&mut ctx, &name);
    let world = match world::ensure(&mut ctx) {
        world::Outcome::Missing(names) => bootstatus::World::from_missing(&names),
        _ => bootstatus::World::Unknown,
    };
    bootstatus::set(&mut ctx, "world", world.line());
    issue::write(&mut ctx, node, &name);
    // A boot file is retired only after a save of this run: a run that
    // changed nothing may follow one whose save failed, its changes still
    // unsaved in RAM.
    if boot.is_some() || wifi_file.is_some() {
        ctx.needs_persist();
    }
    let saved = persist(&mut ctx).is_ok();
    crate::failpoint::reached("init-persisted", "-");
    // Only now, and only once saved: on diskless Alpine the settings are in
    // RAM until lbu has saved them, and a file renamed before (or when lbu
    // failed) would never be applied again after the next reboot (its keys
    // lost: a lockout).
    if let Some(b) = &boot {
        let why = kept_because(boot_ok, "a setting could not be applied", saved);
        bootfile::retire(&mut ctx, b, why);
    }
    if let Some(w) = &wifi_file {
        let why = kept_because(wifi_ok, "it could not be installed", saved);
        wifi::retire(&mut ctx, w, why);
    }
    ctx.finish()
}

/// Under `--root`: why root's `.ssh` directory is left alone, when
/// `/root` or `/root/.ssh` is a symbolic link that leaves the root (or
/// cannot be resolved in it). The host would follow it to a directory of
/// its own, whose keys and rotation files are not the image's.
fn ssh_dir_outside_root(ctx: &Ctx) -> Option<String> {
    if ctx.live {
        return None;
    }
    let dir = ctx.path(ROOT_SSH_DIR);
    let root = ctx.root.canonicalize().ok()?;
    let why = match resolve_under(&root, Path::new(ROOT_SSH_DIR.trim_start_matches('/')), true) {
        Ok(Some(_)) => return None,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Ok(None) => format!("a symbolic link on the way leaves {}", root.display()),
        Err(e) => format!("cannot be resolved inside {}: {e}", root.display()),
    };
    Some(format!(
        "{}: {why}; under --root nothing is done there: no key rotation reverted, no modes \
         fixed, the boot-partition file's keys not added (they wait in rccr.txt for the \
         node's own boot)",
        dir.display()
    ))
}

/// Why a boot-partition file stays for the next boot: what it set was not
/// `applied` (`not_applied` says so), or not `saved`; `None` retires it.
fn kept_because(applied: bool, not_applied: &'static str, saved: bool) -> Option<&'static str> {
    match (applied, saved) {
        (false, _) => Some(not_applied),
        (true, false) => Some("the changes are not saved"),
        (true, true) => None,
    }
}

/// `rccr-init --prepare-disk DEVICE [--yes]`: see [`storage::prepare_disk`].
pub fn prepare_disk(opts: &Options, device: &str, yes: bool) -> Result<(), Error> {
    let mut ctx = Ctx::new(&opts.root, opts.dry_run);
    let result = storage::prepare_disk(&mut ctx, device, yes);
    // A device refused as named changed nothing: its error is the one line.
    if !matches!(result, Err(Error::Usage(_) | Error::BadInput { .. })) {
        ctx.finish();
    }
    result
}

/// The node type; when the file is missing or unclear, the image's default
/// hostname still tells (`ReCyClusteR-Control`), else the node is a target.
fn node_type(ctx: &mut Ctx) -> Role {
    let path = ctx.path(NODE_TYPE_FILE);
    let reason = match ctx.read_optional(&path) {
        Ok(Some(bytes)) => match Role::from_node_type_file(&String::from_utf8_lossy(&bytes)) {
            Some(t) => return t,
            None => "neither 'control' nor 'target'".to_string(),
        },
        Ok(None) => "missing".to_string(),
        Err(e) => e.to_string(),
    };
    let guess = if hostname::current(ctx).eq_ignore_ascii_case(IMAGE_CONTROL_NAME) {
        Role::Control
    } else {
        Role::Target
    };
    ctx.problem(format_args!(
        "{}: {reason}; treating this node as a {}",
        path.display(),
        guess
    ));
    guess
}

/// Appends the boot file's keys to root's `authorized_keys`, keeping every
/// existing byte and skipping keys already there. Returns whether all of
/// them are now in the file. A symbolic link (config management's) is
/// never a reason to leave them out: the boot file's key may be the only
/// way in. A link to a regular file that sshd reads ([`strict_modes_refuse`])
/// gets them in that file, the link kept ([`add_through_link`]); a link
/// that grants nothing (to nowhere, to a directory, a loop, a file sshd
/// refuses) is replaced by a regular file holding them; with `StrictModes
/// no` sshd refuses none, so none is. Under `--root`,
/// a link that leaves the root (an absolute target, a `..` above it) is
/// not followed: the node resolves it elsewhere, where this run cannot
/// look, so the keys wait in rccr.txt.
fn add_authorized_keys(ctx: &mut Ctx, keys: &[String]) -> bool {
    if keys.is_empty() {
        return true;
    }
    let dir = ctx.path(ROOT_SSH_DIR);
    let path = ctx.path(AUTHORIZED_KEYS);
    if !dir.is_dir() && !ctx.dry {
        // Durable in its parent: on a disk root, rccr.txt is retired once
        // the keys are written here.
        if let Err(e) = fsutil::create_dir_durable(&dir, 0o700)
            .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)))
        {
            ctx.problem(format_args!("cannot create {}: {e}", dir.display()));
            return false;
        }
        ctx.changed(format_args!("{}: created (mode 0700)", dir.display()));
    }
    let tree = match Tree::of(ctx) {
        Ok(tree) => tree,
        Err(e) => {
            let root = ctx.root.display().to_string();
            ctx.problem(format_args!("cannot resolve {root}: {e}"));
            return false;
        }
    };
    // Looked at once, before the read: the bytes read are those of what
    // was judged. Between the read and the rename a swap can still go
    // unseen; at boot nothing else writes here.
    let (target, old) = match read_keys(&path, &tree) {
        Ok(Keys::Here(old)) => (None, old),
        Ok(Keys::Linked(target, meta, old)) => (Some((target, meta)), old),
        Ok(Keys::LinkToNothing(why)) => return replace_link(ctx, &path, keys, &why),
        Ok(Keys::OutsideRoot) => {
            let to = fs::read_link(&path).unwrap_or_default();
            ctx.problem(format_args!(
                "{}: the boot-partition file's keys not added: the symbolic link (to {}) \
                 leaves {}, and the node resolves it where this run does not look",
                path.display(),
                crate::print::path(&to),
                tree.root.display()
            ));
            return false;
        }
        Err((shown, e)) => {
            ctx.problem(format_args!("cannot read {shown}: {e}"));
            return false;
        }
    };
    let new = keys
        .iter()
        .fold(old.clone(), |acc, k| authorized::with_key(&acc, k));
    if new == old {
        return true;
    }
    let what = format!(
        "added {} key(s) from the boot-partition file",
        added(keys, &old)
    );
    match target {
        Some((target, meta)) => {
            add_through_link(ctx, &path, (&target, &meta), keys, (&old, &new), &what)
        }
        None => ctx.write_file(&path, &new, 0o600, &what),
    }
}

/// How many of `keys` `old` does not hold (each counted as often as the
/// boot file names it).
fn added(keys: &[String], old: &[u8]) -> usize {
    keys.iter()
        .filter(|k| {
            authorized::key_blob(k.as_bytes()).is_some_and(|b| !authorized::contains(old, b))
        })
        .count()
}

/// Where root's `authorized_keys` is resolved, canonical: the root
/// (`/` when live) and root's home, where sshd's StrictModes stop.
struct Tree {
    root: PathBuf,
    /// `--root`: links are followed under [`Tree::root`] only.
    within: bool,
    home: Option<PathBuf>,
    /// sshd's StrictModes are on: the first `StrictModes` value sshd reads
    /// is not `no` (none means on).
    strict: bool,
}

impl Tree {
    fn of(ctx: &Ctx) -> io::Result<Tree> {
        // A file sshd reads that was not, before the first value: it
        // may hold sshd's first value, so the safe side (hostkeys says so).
        let values = hostkeys::sshd_config_values(ctx, "strictmodes");
        let strict = values.skipped.is_some_and(|(at, _)| at == 0)
            || values
                .found
                .first()
                .is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        Ok(Tree {
            root: ctx.root.canonicalize()?,
            within: !ctx.live,
            home: ctx.path("/root").canonicalize().ok(),
            strict,
        })
    }
}

/// What stands at root's `authorized_keys`, and the keys it grants.
enum Keys {
    /// A regular file's bytes, or nothing (none).
    Here(Vec<u8>),
    /// A symbolic link to a regular file sshd reads: that file's path,
    /// metadata and bytes.
    Linked(PathBuf, fs::Metadata, Vec<u8>),
    /// A symbolic link that grants nothing, because its target is (this)
    /// missing, not a regular file, refused by sshd, or cannot be followed.
    LinkToNothing(String),
    /// Under `--root`: a symbolic link that leaves the root.
    OutsideRoot,
}

/// What stands at `path`, root's `authorized_keys` in `tree` ([`Keys`]),
/// judged by one `symlink_metadata`, then read without following a link
/// put there since: a regular file opened `O_NOFOLLOW`, a link's target
/// checked by `lstat`, opened `O_NOFOLLOW` and checked by `fstat`. `Err` names the file (a link's target escaped: node-local
/// data) and the error.
fn read_keys(path: &Path, tree: &Tree) -> Result<Keys, (String, io::Error)> {
    let linked = fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink());
    if !linked {
        return match read_no_follow(path) {
            Ok((_, Some(bytes))) => Ok(Keys::Here(bytes)),
            Ok((_, None)) => Err((
                path.display().to_string(),
                io::Error::other("not a regular file"),
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Keys::Here(Vec::new())),
            Err(e) => Err((path.display().to_string(), e)),
        };
    }
    let resolved = match tree.within {
        false => fs::canonicalize(path).map(Some),
        true => resolve_under(
            &tree.root,
            Path::new(AUTHORIZED_KEYS.trim_start_matches('/')),
            true,
        ),
    };
    let target = match resolved {
        Ok(Some(target)) => target,
        Ok(None) => return Ok(Keys::OutsideRoot),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Keys::LinkToNothing("missing".into()))
        }
        Err(e) => return Ok(Keys::LinkToNothing(format!("unreachable ({e})"))),
    };
    let shown = |e| (crate::print::path(&target), e);
    // Not opened unless a regular file: opening a device can act (a
    // watchdog arms, a tape rewinds).
    let lstat = fs::symlink_metadata(&target).map_err(shown)?;
    if !lstat.is_file() {
        return Ok(Keys::LinkToNothing("not a regular file".into()));
    }
    let (meta, read) = match read_no_follow(&target) {
        Ok((_, None)) => return Ok(Keys::LinkToNothing("not a regular file".into())),
        Ok((meta, Some(bytes))) => (meta, Ok(bytes)),
        // Too large to read: judged by its lstat, it may still grant
        // nothing, and the link is then replaced all the same.
        Err(e) => (lstat, Err(e)),
    };
    if tree.strict {
        if let Some(why) = strict_modes_refuse(&target, &meta, tree).map_err(shown)? {
            return Ok(Keys::LinkToNothing(format!(
                "refused by sshd's StrictModes: {why}"
            )));
        }
    }
    match read {
        Ok(bytes) => Ok(Keys::Linked(target, meta, bytes)),
        Err(e) => Err(shown(e)),
    }
}

/// `rel`, a path under `root`, resolved as the node resolves it: each
/// symbolic link followed, more than 40 on the way being `ELOOP` as in
/// the kernel, and a missing component `ENOENT`. An absolute link target
/// and a `..` above `root` are what the host would resolve elsewhere than
/// the node: `None` when `confined` (what the node mounts there may not
/// be under `root`), else taken from `root` and kept at it, as in a chroot.
fn resolve_under(root: &Path, rel: &Path, confined: bool) -> io::Result<Option<PathBuf>> {
    use std::path::Component;
    let mut at = root.to_path_buf();
    // How many components `at` holds below `root`.
    let mut depth = 0;
    let mut rest: Vec<std::ffi::OsString> = rel
        .components()
        .rev()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut links = 0;
    // `at` is a directory: a name after a file is `ENOTDIR`, as in the kernel.
    let mut at_dir = true;
    while let Some(name) = rest.pop() {
        if !at_dir {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        match Path::new(&name).components().next() {
            None | Some(Component::CurDir) => {}
            Some(Component::ParentDir) if depth > 0 => {
                at.pop();
                depth -= 1;
            }
            Some(Component::ParentDir | Component::RootDir | Component::Prefix(_)) if confined => {
                return Ok(None)
            }
            Some(Component::ParentDir) => {}
            Some(Component::RootDir | Component::Prefix(_)) => {
                at = root.to_path_buf();
                depth = 0;
            }
            Some(Component::Normal(_)) => {
                let next = at.join(&name);
                let meta = fs::symlink_metadata(&next)?;
                if !meta.is_symlink() {
                    at_dir = meta.is_dir();
                    at = next;
                    depth += 1;
                    continue;
                }
                links += 1;
                if links > 40 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let to = fs::read_link(&next)?;
                if to.as_os_str().is_empty() {
                    return Err(io::Error::from_raw_os_error(libc::ENOENT));
                }
                // A target `x/` is a directory `x`, or ENOTDIR.
                if to.as_os_str().as_encoded_bytes().ends_with(b"/") {
                    rest.push(".".into());
                }
                rest.extend(to.components().rev().map(|c| c.as_os_str().to_owned()));
            }
        }
    }
    Ok(Some(at))
}

/// Why sshd's StrictModes refuse `target` (canonical; `meta` its `fstat`)
/// as root's authorized_keys, if they do: the file and each directory
/// above it, up to root's home when it lies there, else up to the root,
/// must be root's (or this user's, as in a test's root) and writable by
/// neither group nor others. Alpine's OpenSSH has no exception for a
/// private group, so none here either.
fn strict_modes_refuse(
    target: &Path,
    meta: &fs::Metadata,
    tree: &Tree,
) -> io::Result<Option<String>> {
    let refused = |path: &Path, meta: &fs::Metadata| {
        let mode = meta.permissions().mode() & 0o7777;
        let why = if mode & 0o022 != 0 {
            let who = if mode & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            };
            Some(format!("is writable by {who} (mode {mode:04o})"))
        } else {
            fsutil::untrusted_meta(meta, fsutil::Trust::Kept)
        };
        why.map(|why| format!("{} {why}", crate::print::path(path)))
    };
    if let Some(why) = refused(target, meta) {
        return Ok(Some(why));
    }
    for dir in target.ancestors().skip(1) {
        if let Some(why) = refused(dir, &fs::metadata(dir)?) {
            return Ok(Some(why));
        }
        if dir == tree.root || tree.home.as_deref() == Some(dir) {
            break;
        }
    }
    Ok(None)
}

/// [`fsutil::read_regular`] of `path`, a link not followed: no larger
/// than a key rotation carries it ([`crate::keys::frame::MAX_FILE`]).
fn read_no_follow(path: &Path) -> io::Result<(fs::Metadata, Option<Vec<u8>>)> {
    fsutil::read_regular(path, false, crate::keys::frame::MAX_FILE)
}

/// Writes `new` (`old` and `keys`) to `target`, the regular file the link
/// `link` resolves to, atomically in the target's directory, so the link
/// stays; the target keeps its mode and owner (root's: sshd's StrictModes
/// passed). When that write fails and `old` grants no key, the link is
/// replaced instead ([`replace_link`]): it gave no way in, the boot file's
/// key may be the only one. When `old` grants one, someone can log in:
/// the problem is said and rccr.txt kept.
fn add_through_link(
    ctx: &mut Ctx,
    link: &Path,
    (target, meta): (&Path, &fs::Metadata),
    keys: &[String],
    (old, new): (&[u8], &[u8]),
    what: &str,
) -> bool {
    use std::os::unix::fs::MetadataExt;
    let shown = crate::print::path(target);
    let line = format!(
        "{}: {what} to {shown}, where the symbolic link points (the link kept)",
        link.display()
    );
    if ctx.dry {
        ctx.changed(line);
        return true;
    }
    let mode = meta.mode() & 0o7777;
    let (uid, gid) = (meta.uid(), meta.gid());
    let written = fsutil::write_atomic_with(target, new, mode, |file| {
        // The umask narrowed the mode the file was created with.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        let made = file.metadata()?;
        if (made.uid(), made.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid))?;
        }
        Ok(())
    });
    let grants_a_key = || {
        old.split(|&b| b == b'\n')
            .any(|l| authorized::key_blob(l).is_some())
    };
    match written {
        Ok(()) => {
            ctx.changed(line);
            ctx.needs_persist();
            true
        }
        Err(e) if !grants_a_key() => {
            let why = format!("not writable ({})", crate::print::text(&e.to_string()));
            replace_link(ctx, link, keys, &why)
        }
        Err(e) => {
            ctx.problem(crate::print::text(&e.to_string()));
            false
        }
    }
}

/// Puts a regular file holding `keys`, mode 0600, in place of the link
/// `path`, whose target is `why` (missing, not a regular file, refused by
/// sshd): the link grants no key, and the boot file's may be the only way
/// in. Nothing of the target is carried over (sshd never honoured it),
/// nor read: in a dry run neither, as the target may be a pipe or
/// /dev/zero.
fn replace_link(ctx: &mut Ctx, path: &Path, keys: &[String], why: &str) -> bool {
    let to = fs::read_link(path).unwrap_or_default();
    let new = keys
        .iter()
        .fold(Vec::new(), |acc, k| authorized::with_key(&acc, k));
    let what = format!(
        "{}: the symbolic link (to {}) replaced by a regular file, as its target is {why}: added \
         {} key(s) from the boot-partition file",
        path.display(),
        crate::print::path(&to),
        added(keys, &[])
    );
    if ctx.dry {
        ctx.changed(what);
        return true;
    }
    // Judged already (`why`): the rename takes the link's place whatever
    // it leads to (a directory, a device, a loop, which fsutil's own check
    // refuses), and a write that fails leaves it.
    match fsutil::write_atomic_judged(path, &new, 0o600) {
        Ok(()) => {
            ctx.changed(what);
            ctx.needs_persist();
            true
        }
        Err(e) => {
            ctx.problem(e);
            false
        }
    }
}

/// A key rotation staged in root's home and never committed lost its
/// revert timer with the reboot (no process survives one): its backup is
/// restored under the node's lock, as the timer would have done, whatever
/// rccr version armed it ([`crate::keys::node::revert_at_boot`]). The
/// control that staged it starts over at its next run. Root's home only:
/// RCCR's images take the rotation's keys for root alone. Reverted or
/// dropped (a cut marker, a symbolic link), the change is saved: an lbu
/// overlay that holds marker and backup would bring them back at every boot.
/// Returns the token of a rotation whose timer lives (left to it).
fn revert_dead_rotation(ctx: &mut Ctx) -> Option<String> {
    use crate::keys::node::{revert_at_boot, AtBoot};
    let home = ctx.path("/root");
    match revert_at_boot(&home, ctx.dry) {
        AtBoot::Nothing => {}
        AtBoot::Reverted(token) => {
            ctx.changed(format_args!(
                "{}: restored from before key rotation {}, whose revert timer the reboot ended",
                ctx.path(AUTHORIZED_KEYS).display(),
                crate::print::text(&token)
            ));
            ctx.needs_persist();
        }
        AtBoot::TimerLives(token) => {
            ctx.note(format_args!(
                "key rotation {} is armed and its revert timer runs: left to it",
                crate::print::text(&token)
            ));
            return Some(token);
        }
        AtBoot::Dropped(why) => {
            // Files went (marker and backup): a change, which the summary
            // counts, and a problem to look at.
            ctx.changed(format_args!(
                "{}: the revert marker and backup of a key rotation removed, not reverted \
                 (its marker odd or cut short, its backup unfit to restore: below)",
                ctx.path(ROOT_SSH_DIR).display()
            ));
            ctx.problem(crate::print::text(&why));
            ctx.needs_persist();
        }
        AtBoot::Failed(why) => ctx.problem(crate::print::text(&why)),
    }
    None
}

/// sshd refuses keys and `authorized_keys` that others can read or write
/// (StrictModes), so: `/root` loses group and other write, `/root/.ssh`
/// becomes 0700, each regular file in it 0600, except `*.pub` files, which
/// only lose group and other write (0644 is what ssh-keygen writes).
/// Symbolic links and subdirectories are left alone.
pub fn fix_ssh_modes(ctx: &mut Ctx) {
    let home = ctx.path("/root");
    if let Ok(m) = fs::symlink_metadata(&home) {
        let mode = m.permissions().mode() & 0o7777;
        if m.is_dir() && mode & 0o022 != 0 {
            ctx.chmod(&home, mode, mode & !0o022);
        }
    }
    let dir = ctx.path(ROOT_SSH_DIR);
    let meta = match fs::symlink_metadata(&dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => return ctx.problem(format_args!("{}: {e}", dir.display())),
    };
    if !meta.is_dir() {
        return ctx.problem(format_args!(
            "{}: not a directory; modes not checked",
            dir.display()
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode != 0o700 {
        ctx.chmod(&dir, mode, 0o700);
    }
    let mut entries: Vec<_> = match fs::read_dir(&dir) {
        Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) => return ctx.problem(format_args!("cannot list {}: {e}", dir.display())),
    };
    entries.sort_unstable();
    for path in entries {
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !m.is_file() {
            continue;
        }
        let mode = m.permissions().mode() & 0o7777;
        let public = path.extension().is_some_and(|e| e == "pub");
        let want = match public {
            true if mode & 0o022 != 0 => 0o644,
            true => mode,
            false => 0o600,
        };
        if mode != want {
            ctx.chmod(&path, mode, want);
        }
    }
}

/// Saves the changes where lbu exists ([`crate::persist::commit`]: a root
/// on a disk keeps them whatever lbu says; a root in RAM, an overlay
/// included, only what lbu saved). Diskless Alpine keeps /etc in RAM:
/// without `lbu commit` the hostname, host keys and keys would be new at
/// every boot (and the boot file, renamed, would be lost). Runs only on the
/// live system, after changes (or with a boot file to retire). `Ok` when
/// the changes survive a reboot (saved by lbu, on a disk, or none to
/// save), else why not.
fn persist(ctx: &mut Ctx) -> Result<(), &'static str> {
    use crate::persist::{commit, Persisted};
    if !ctx.live || ctx.dry || !ctx.persist {
        return Ok(());
    }
    let persisted = commit(&[]);
    match persisted {
        Persisted::Lbu => ctx.note("saved the changes with lbu commit"),
        Persisted::LbuFailed => {
            ctx.problem("lbu commit failed: the changes last until the next reboot")
        }
        Persisted::Volatile => ctx.problem(
            "the root filesystem is in RAM and lbu is missing: the changes last until the next reboot",
        ),
        Persisted::Disk => {}
    }
    match persisted {
        Persisted::LbuFailed => Err("lbu commit failed"),
        Persisted::Volatile => Err("lbu is missing"),
        Persisted::Lbu | Persisted::Disk => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_under_a_root_is_resolved_as_the_node_would_or_not_at_all() {
        // Links are followed under the root only: an absolute one, or a
        // `..` above the root, would resolve on the host, not the node.
        let root = std::env::temp_dir().join(format!("rccr-init-resolve-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("etc/ssh")).unwrap();
        fs::create_dir_all(root.join("root/.ssh")).unwrap();
        fs::write(root.join("etc/ssh/keys"), b"").unwrap();
        std::os::unix::fs::symlink("etc", root.join("e")).unwrap();
        let root = root.canonicalize().unwrap();
        let ak = root.join("root/.ssh/authorized_keys");
        let mut results = Vec::new();
        for to in [
            "../../e/ssh/./keys",
            "../../../../../etc/ssh/keys",
            "/etc/ssh/keys",
            "../../e/ssh/gone",
            "authorized_keys",
        ] {
            let _ = fs::remove_file(&ak);
            std::os::unix::fs::symlink(to, &ak).unwrap();
            let got = resolve_under(&root, Path::new("root/.ssh/authorized_keys"), true);
            results.push(got.map_err(|e| e.raw_os_error()));
        }
        fs::remove_dir_all(&root).unwrap();
        let keys = root.join("etc/ssh/keys");
        assert_eq!(
            results,
            [
                Ok(Some(keys)),
                Ok(None),
                Ok(None),
                Err(Some(libc::ENOENT)),
                Err(Some(libc::ELOOP)),
            ]
        );
    }

    #[test]
    fn under_a_root_every_link_is_followed_inside_it_as_in_a_chroot() {
        // An absolute target is taken from the root, a `..` stays at it;
        // a missing last component is what to make when not followed.
        let root = crate::fsutil::scratch::Dir::new("init-ctx-resolve");
        root.file("etc/ssh/keys/k", "");
        let at = |rel: &str| root.join(rel);
        std::os::unix::fs::symlink("/etc/ssh/keys", at("etc/ssh/abs")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc", at("etc/ssh/up")).unwrap();
        std::os::unix::fs::symlink("/etc/ssh/loop", at("etc/ssh/loop")).unwrap();
        std::os::unix::fs::symlink("/etc/ssh/abs/gone", at("etc/ssh/dangling")).unwrap();
        // As the kernel: a name after a file, a `/` after a link to one.
        std::os::unix::fs::symlink("/etc/ssh/keys/k/", at("etc/ssh/slash")).unwrap();
        std::os::unix::fs::symlink("keys/k/..", at("etc/ssh/up-a-file")).unwrap();
        let ctx = Ctx::new(&root, true);
        let cases: [(&str, bool, Result<&str, i32>); 11] = [
            ("etc/ssh/slash", true, Err(libc::ENOTDIR)),
            ("etc/ssh/up-a-file/keys", true, Err(libc::ENOTDIR)),
            ("etc/ssh/keys/k/../k", true, Err(libc::ENOTDIR)),
            ("etc/ssh/abs/k", true, Ok("etc/ssh/keys/k")),
            ("etc/ssh/up/ssh/abs/../keys/k", true, Ok("etc/ssh/keys/k")),
            ("etc/ssh/abs/new", false, Ok("etc/ssh/keys/new")),
            ("etc/ssh/abs/new", true, Err(libc::ENOENT)),
            ("etc/ssh/dangling", false, Ok("etc/ssh/dangling")),
            ("etc/ssh/dangling", true, Err(libc::ENOENT)),
            ("etc/ssh/loop/k", false, Err(libc::ELOOP)),
            ("etc/ssh/loop", false, Ok("etc/ssh/loop")),
        ];
        for (rel, follow_last, want) in cases {
            let got = ctx.resolve(&at(rel), follow_last);
            let got = got.map_err(|e| e.raw_os_error().unwrap_or(0));
            assert_eq!(got, want.map(at), "{rel} {follow_last}");
        }
    }

    #[test]
    fn under_a_root_a_link_written_over_is_judged_inside_it_and_replaced() {
        // A link to a directory in the image is refused, as on the node;
        // one whose target is a directory on the build host only, and
        // nothing in the image, is replaced by the file.
        let root = crate::fsutil::scratch::Dir::new("init-ctx-write");
        root.file("etc/d/x", "").file("hostdir/x", "");
        let at = |rel: &str| root.join(rel);
        std::os::unix::fs::symlink("/etc/d", at("etc/to-dir")).unwrap();
        std::os::unix::fs::symlink(at("hostdir"), at("etc/to-host")).unwrap();
        let mut ctx = Ctx::new(&root, false);
        assert!(!ctx.write_file(&at("etc/to-dir"), b"a\n", 0o644, "test"));
        assert!(ctx.write_file(&at("etc/to-host"), b"b\n", 0o644, "test"));
        assert!(at("etc/to-dir").is_symlink());
        assert_eq!(fs::read(at("etc/to-host")).unwrap(), b"b\n");
        assert!(at("hostdir/x").is_file());
        let counted = Summary {
            changes: 1,
            problems: 1,
        };
        assert_eq!(ctx.summary, counted);
    }

    #[test]
    fn strict_modes_are_off_only_when_the_first_value_sshd_reads_says_no() {
        // Drop-ins first (sshd_config includes them at its top), then
        // sshd_config; the first value wins, keyword in any case.
        let root = std::env::temp_dir().join(format!("rccr-init-strict-{}", std::process::id()));
        let d = root.join("etc/ssh/sshd_config.d");
        let mut results = Vec::new();
        for (drop_in, config) in [
            (None, "Port 22\n"),
            (None, "STRICTMODES no\nStrictModes yes\n"),
            (Some("StrictModes yes\n"), "StrictModes no\n"),
            (Some("strictmodes \"no\"\n"), "StrictModes yes\n"),
            (None, "StrictModes no # cm manages keys\n"),
            // A file sshd reads that is not read: on, unless set before.
            (None, "Include sshd_config.d/[0-9]*.conf\nStrictModes no\n"),
            (None, "StrictModes no\nInclude sshd_config.d/[0-9]*.conf\n"),
        ] {
            let _ = fs::remove_dir_all(&root);
            fs::create_dir_all(&d).unwrap();
            let config = format!("Include sshd_config.d/*.conf\n{config}");
            fs::write(root.join("etc/ssh/sshd_config"), config).unwrap();
            if let Some(text) = drop_in {
                fs::write(d.join("10-a.conf"), text).unwrap();
                fs::write(d.join("20-b.txt"), "StrictModes no\n").unwrap();
            }
            results.push(Tree::of(&Ctx::new(&root, true)).unwrap().strict);
        }
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(results, [true, false, true, false, false, true, false]);
    }

    #[test]
    fn live_an_absolute_link_is_followed_to_a_file_sshd_reads() {
        // Live, the node's own / is the root: an absolute link resolves
        // where sshd resolves it, and a file it reads is `Linked`.
        let dir = std::env::temp_dir().join(format!("rccr-init-live-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        let dir = dir.canonicalize().unwrap();
        let target = dir.join("keys");
        fs::write(&target, b"k\n").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.join("authorized_keys");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let tree = Tree {
            root: PathBuf::from("/"),
            within: false,
            home: Some(dir.clone()),
            strict: true,
        };
        let got = read_keys(&link, &tree);
        fs::remove_dir_all(&dir).unwrap();
        match got {
            Ok(Keys::Linked(to, _, bytes)) => assert_eq!((to, bytes), (target, b"k\n".to_vec())),
            Ok(_) => panic!("not Linked"),
            Err((shown, e)) => panic!("{shown}: {e}"),
        }
    }

    #[test]
    fn a_rotation_undone_at_boot_asks_lbu_to_save_it_reverted_or_dropped() {
        // A cut marker's backup that fits is restored (over a linked
        // authorized_keys too, as the timer would); one that does not is
        // dropped with the marker: either way the files changed (a change,
        // counted), and on a diskless node lbu would bring them back at
        // every boot.
        for (case, backup, linked, problems) in [
            ("fits", &b"a\n"[..], false, 0),
            ("empty", b"", false, 1),
            ("link", b"a\n", true, 0),
        ] {
            let root =
                std::env::temp_dir().join(format!("rccr-init-undo-{}-{case}", std::process::id()));
            let ssh = root.join("root/.ssh");
            fs::create_dir_all(&ssh).unwrap();
            let ak = ssh.join("authorized_keys");
            if linked {
                fs::write(root.join("managed_keys"), b"a\nb\n").unwrap();
                std::os::unix::fs::symlink("../../managed_keys", &ak).unwrap();
            } else {
                fs::write(&ak, b"a\nb\n").unwrap();
            }
            fs::write(ssh.join(".rccr-authorized_keys.bak"), backup).unwrap();
            fs::write(ssh.join(".rccr-rotation"), b"r.n").unwrap();
            let mut ctx = Ctx::new(&root, false);
            revert_dead_rotation(&mut ctx);
            let left = ssh.join(".rccr-rotation").exists();
            let still_linked = ak.is_symlink();
            fs::remove_dir_all(&root).unwrap();
            assert!(ctx.persist, "{case}");
            assert!(!left, "{case}");
            assert!(!still_linked, "{case}: the backup not over the link");
            let counted = Summary {
                changes: 1,
                problems,
            };
            assert_eq!(ctx.summary, counted, "{case}");
        }
    }
}
