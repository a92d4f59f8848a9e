//! base/os/net-hotplug.sh, which mdev runs when a network interface
//! appears or goes, at boot or after: on a synthetic system whose rc-service,
//! rccr-init, ifquery, ifup, ifdown and logger are stand-ins that log their
//! arguments (no Alpine here: ifupdown-ng and mdev themselves are for a
//! booted image to show). And base/os/issue-hook.sh, which Alpine's udhcpc
//! script runs after a lease is bound or renewed, on the same stand-ins.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

/// A directory with the stand-ins: every call is a line of `calls.log`
/// (but logger's, which writes its arguments and its input to
/// `logger.log`);
/// `rc-service networking status` exits with the first line of
/// `networking.status` and takes it out, but for the last (OpenRC's codes:
/// 0 started, 3 stopped, 8 starting); `ifquery --list --auto` prints
/// `auto.list`, `ifquery --running` prints `running.list`. Its
/// `sys/class/net` has the hardware interfaces the tests plug in (a
/// `device` link each) and Docker's, which have none.
fn system(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    let log = dir.path("calls.log");
    let stub = |name: &str, body: &str| {
        let path = dir.path(&format!("bin/{name}"));
        write(
            &path,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >>'{}'\n{body}\n",
                log.display()
            ),
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    };
    let at = |f: &str| dir.path(f).display().to_string();
    stub(
        "rc-service",
        &format!(
            "f='{}'\ncode=$(head -n 1 \"$f\")\n[ \"$(wc -l <\"$f\")\" -le 1 ] || sed -i 1d \"$f\"\nexit \"$code\"",
            at("networking.status")
        ),
    );
    stub("rccr-init", "");
    stub(
        "ifquery",
        &format!(
            "case \"$1\" in --list) cat '{}' ;; --running) cat '{}' ;; esac",
            at("auto.list"),
            at("running.list")
        ),
    );
    stub("ifup", "");
    stub("ifdown", "");
    // logger writes what it is told to logger.log, not to calls.log: it
    // runs alongside the command it logs, in no set order with its calls.
    let path = dir.path("bin/logger");
    write(
        &path,
        format!(
            "#!/bin/sh\nf='{}'\nprintf '%s\\n' \"logger $*\" >>\"$f\"\ncat >>\"$f\"\n",
            at("logger.log")
        ),
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    dir.write("networking.status", "0\n");
    dir.write("auto.list", "lo\neth0\neth1\n");
    dir.write("running.list", "lo\neth0\n");
    for nic in ["eth0", "eth1", "eth7", "enx00e04c680001"] {
        let device = dir.path(&format!("sys/devices/usb1/{nic}"));
        fs::create_dir_all(&device).unwrap();
        dir.write(
            &format!("sys/class/net/{nic}/address"),
            "02:00:00:00:00:01\n",
        );
        std::os::unix::fs::symlink(&device, dir.path(&format!("sys/class/net/{nic}/device")))
            .unwrap();
    }
    for virt in ["veth3a1b2c", "docker0", "vxlan0"] {
        dir.write(
            &format!("sys/class/net/{virt}/address"),
            "02:42:ac:11:00:02\n",
        );
    }
    dir
}

/// Runs the script for one event (`action`, `interface`).
fn event(dir: &TempDir, action: &str, interface: &str) -> Output {
    event_command(dir, action, interface).output().unwrap()
}

/// The script's command for one event, waiting for its background command
/// (`NET_HOTPLUG_WAIT`).
fn event_command(dir: &TempDir, action: &str, interface: &str) -> Command {
    let bin = |n: &str| dir.path(&format!("bin/{n}"));
    let mut cmd = Command::new(repo().join("image-builder/base/os/net-hotplug.sh"));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("SUBSYSTEM", "net")
        .env("ACTION", action)
        .env("INTERFACE", interface)
        .env("RC_SERVICE", bin("rc-service"))
        .env("RCCR_INIT", bin("rccr-init"))
        .env("IFQUERY", bin("ifquery"))
        .env("IFUP", bin("ifup"))
        .env("IFDOWN", bin("ifdown"))
        .env("LOGGER", bin("logger"))
        .env("SYS_CLASS_NET", dir.path("sys/class/net"))
        .env("NET_HOTPLUG_WAIT", "1")
        .env("NET_HOTPLUG_POLL", "0")
        .env("NET_HOTPLUG_TRIES", "3");
    cmd
}

/// The calls logged since the last look, which empties the log.
fn calls(dir: &TempDir) -> Vec<String> {
    let log = dir.path("calls.log");
    let text = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_file(&log);
    text.lines().map(str::to_string).collect()
}

/// Makes `dir`'s rccr-init a stand-in that logs its call, then waits
/// (at most 30 s) for the file `go` before it makes the file `done`:
/// `(go, done)`.
fn held_rccr_init(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let (go, done) = (dir.path("go"), dir.path("done"));
    let path = dir.path("bin/rccr-init");
    write(
        &path,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"rccr-init $*\" >>'{log}'\ni=0\nwhile [ ! -e '{go}' ] && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.1; done\n: >'{done}'\n",
            log = dir.path("calls.log").display(),
            go = go.display(),
            done = done.display()
        ),
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    (go, done)
}

/// Waits (at most 30 s) for the held rccr-init to make `done`, once let go.
fn wait_for_done(done: &std::path::Path) {
    for _ in 0..600 {
        if done.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Asserts that the script (`out`) exited 0 before the held rccr-init
/// was done, then lets it go on.
#[track_caller]
fn returned_before(out: &Output, done: &std::path::Path, go: &std::path::Path) {
    assert!(out.status.success(), "{}", show(out));
    assert!(
        !done.exists(),
        "the script waited for rccr-init: {}",
        show(out)
    );
    write(go, "");
}

/// Makes `dir`'s rccr-init a stand-in that says `rccr-init: WHAT` on
/// stderr (`what` expanded by its shell), a line on stdout, and exits 1.
fn failing_rccr_init(dir: &TempDir, what: &str) -> std::path::PathBuf {
    let path = dir.path("bin/rccr-init");
    write(
        &path,
        format!("#!/bin/sh\necho \"rccr-init: {what}\" >&2\necho 'on stdout too'\nexit 1\n"),
    );
    path
}

/// Runs `ACTION=add INTERFACE=eth1` with `networking.status` holding
/// `status`: the calls it made.
fn add_eth1(dir: &TempDir, status: &str) -> Vec<String> {
    dir.write("networking.status", status);
    let out = event(dir, "add", "eth1");
    assert!(out.status.success(), "{status:?}: {}", show(&out));
    calls(dir)
}

/// The calls of an add of eth1: rccr-init, `looks` looks at networking,
/// then ifquery and ifup when `up`.
fn added_eth1(looks: usize, up: bool) -> Vec<String> {
    let mut out = vec!["rccr-init --hotplug eth1".to_string()];
    out.extend(std::iter::repeat_n(
        "rc-service networking status".to_string(),
        looks,
    ));
    if up {
        out.extend(["ifquery --list --auto".into(), "ifup eth1".into()]);
    }
    out
}

#[test]
fn a_wired_interface_plugged_in_after_boot_gets_its_stanza_and_is_brought_up() {
    let dir = system("hotplug-add");
    assert_eq!(add_eth1(&dir, "0\n"), added_eth1(1, true));
    // rccr-init left it without `auto` (a user's `iface eth7 inet
    // manual`, or no wired interface of real hardware): not brought up.
    event(&dir, "add", "eth7");
    assert_eq!(
        calls(&dir),
        [
            "rccr-init --hotplug eth7",
            "rc-service networking status",
            "ifquery --list --auto",
        ]
    );
}

#[test]
fn mdev_is_not_held_while_rccr_init_waits_for_the_lock_or_the_carrier() {
    // rccr-init --hotplug may wait seconds (the boot run's lock, a link's
    // carrier); mdev waits for the script, and holds the events after it.
    let dir = system("hotplug-detached");
    let (go, done) = held_rccr_init(&dir);
    let out = event_command(&dir, "add", "eth1")
        .env_remove("NET_HOTPLUG_WAIT")
        .output()
        .unwrap();
    returned_before(&out, &done, &go);
    // Its work goes on without mdev: rccr-init, then ifup.
    for _ in 0..600 {
        if fs::read_to_string(dir.path("calls.log")).is_ok_and(|l| l.contains("ifup eth1")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(calls(&dir), added_eth1(1, true));
}

#[test]
fn an_interface_unplugged_is_brought_down_so_the_next_plug_brings_it_up() {
    let dir = system("hotplug-remove");
    event(&dir, "remove", "eth0");
    assert_eq!(calls(&dir), ["ifquery --running", "ifdown --force eth0"]);
    event(&dir, "remove", "eth1");
    assert_eq!(calls(&dir), ["ifquery --running"]);
}

#[test]
fn before_networking_has_started_the_stanza_is_written_for_its_start() {
    // Stopped (the boot has not reached networking: a USB adapter that
    // enumerates while rccr-init runs), stopping, inactive, not booted by
    // OpenRC: the stanza, and no ifup (networking's start brings the
    // interface up with the others, having read the file after it).
    let dir = system("hotplug-boot");
    for code in ["3", "4", "16", "1"] {
        assert_eq!(add_eth1(&dir, code), added_eth1(1, false), "{code}");
    }
}

#[test]
fn while_networking_is_starting_the_interface_is_brought_up_once_it_has_started() {
    // Its ifup of every auto interface may have listed them before the
    // stanza: ifup once it has started (ifupdown-ng skips the interface
    // if networking brought it up).
    let dir = system("hotplug-starting");
    assert_eq!(add_eth1(&dir, "8\n8\n0\n"), added_eth1(3, true));
    // Its start failed: no ifup.
    assert_eq!(add_eth1(&dir, "8\n3\n"), added_eth1(2, false));
    // Starting for ever: it stops looking after NET_HOTPLUG_TRIES (3).
    assert_eq!(add_eth1(&dir, "8\n"), added_eth1(4, false));
}

#[test]
fn a_virtual_interface_starts_no_rccr_init() {
    // Every container start and stop adds and removes a veth (and an
    // overlay network a vxlan): no `device` link, never an interface of
    // real hardware to rccr-init (nic::wired), so no rccr-init, no
    // rc-service, no syslog line. A hardware interface whose `device`
    // link leads nowhere is no hardware either.
    let dir = system("hotplug-virtual");
    let gone = dir.path("sys/class/net/eth9/device");
    fs::create_dir_all(gone.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(dir.path("sys/devices/usb1/unplugged"), &gone).unwrap();
    for name in ["veth3a1b2c", "docker0", "vxlan0", "eth9", "eth42"] {
        let out = event(&dir, "add", name);
        assert!(out.status.success(), "{name}: {}", show(&out));
        assert_eq!(text(&out.stderr), "", "{name}");
        assert_eq!(calls(&dir), Vec::<String>::new(), "{name}");
    }
    assert!(!dir.path("logger.log").exists());
    // Its removal: /sys has no trace of it any more, so ifquery is asked,
    // as for any interface (it is not up: nothing else).
    event(&dir, "remove", "veth3a1b2c");
    assert_eq!(calls(&dir), ["ifquery --running"]);
}

#[test]
fn odd_interface_names_reach_no_command() {
    let dir = system("hotplug-odd");
    for name in [
        "",
        "-f",
        "eth0;reboot",
        "eth0 eth1",
        "$(reboot)",
        "`reboot`",
        "eth0\nreboot",
        "abcdefghijklmnop",
        "eth*",
    ] {
        let out = event(&dir, "add", name);
        assert!(out.status.success(), "{name:?}: {}", show(&out));
        assert_has(
            &text(&out.stderr),
            "ignored: an interface name rccr does not configure",
        );
        assert_eq!(calls(&dir), Vec::<String>::new(), "{name:?}");
    }
    // Fifteen bytes, the kernel's longest, pass.
    event(&dir, "add", "enx00e04c680001");
    assert_eq!(calls(&dir)[0], "rccr-init --hotplug enx00e04c680001");
    // Not a network event: nothing.
    let out = Command::new(repo().join("image-builder/base/os/net-hotplug.sh"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("SUBSYSTEM", "block")
        .env("ACTION", "add")
        .env("INTERFACE", "eth1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(calls(&dir), Vec::<String>::new());
}

#[test]
fn what_rccr_init_and_ifdown_say_in_the_background_goes_to_syslog() {
    // mdev gives the script no console: the lines of rccr-init --hotplug
    // (which waited for the lock, found no carrier, failed) were lost.
    let dir = system("hotplug-syslog");
    failing_rccr_init(&dir, "$2: no carrier");
    assert_eq!(add_eth1(&dir, "3\n"), ["rc-service networking status"]);
    let logged = fs::read_to_string(dir.path("logger.log")).unwrap_or_default();
    for line in [
        "logger -t rccr-init",
        "rccr-init: eth1: no carrier",
        "on stdout too",
        "rccr-net-hotplug: rccr-init --hotplug eth1 failed",
    ] {
        assert!(logged.lines().any(|l| l == line), "{line:?} in {logged:?}");
    }
    fs::remove_file(dir.path("logger.log")).unwrap();
    let path = dir.path("bin/ifdown");
    write(&path, "#!/bin/sh\necho \"ifdown: $2: not running\" >&2\n");
    event(&dir, "remove", "eth0");
    assert_eq!(
        fs::read_to_string(dir.path("logger.log")).unwrap_or_default(),
        "logger -t rccr-init\nifdown: eth0: not running\n"
    );
}

// ------------------------------------------------------------- issue hook

/// The issue hook's command, run as udhcpc's script runs it (no
/// arguments, the lease in the environment), on `dir`'s stand-ins,
/// waiting for its background run (`ISSUE_HOOK_WAIT`).
fn issue_hook(dir: &TempDir) -> Command {
    issue_hook_env(Command::new(issue_hook_path()), dir)
}

fn issue_hook_path() -> std::path::PathBuf {
    repo().join("image-builder/base/os/issue-hook.sh")
}

/// `cmd` with the environment [`issue_hook`] runs the hook in.
fn issue_hook_env(mut cmd: Command, dir: &TempDir) -> Command {
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("interface", "wlan0")
        .env("ip", "192.168.1.23")
        .env("RCCR_INIT", dir.path("bin/rccr-init"))
        .env("LOGGER", dir.path("bin/logger"))
        .env("ISSUE_HOOK_WAIT", "1");
    cmd
}

/// What the hook's background run sent to syslog (logger's arguments and
/// input), which empties the log.
fn logged(dir: &TempDir) -> String {
    let log = dir.path("logger.log");
    let text = fs::read_to_string(&log).unwrap_or_default();
    let _ = fs::remove_file(&log);
    text
}

#[test]
fn a_late_lease_rewrites_the_console_banner() {
    // Alpine's udhcpc script (busybox's default.script) runs every file of
    // /etc/udhcpc/post-bound and post-renew after it configured a lease;
    // the image installs the hook there as links. Its loop, as it is:
    // a link passes `[ -f ]`, and rccr-init found on PATH is the one run.
    let dir = system("issue-hook-lease");
    let post_bound = dir.path("udhcpc/post-bound");
    fs::create_dir_all(&post_bound).unwrap();
    std::os::unix::fs::symlink(
        repo().join("image-builder/base/os/issue-hook.sh"),
        post_bound.join("rccr-issue"),
    )
    .unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("for i in $0/*; do [ -f $i ] && $i; done; exit 0")
        .arg(&post_bound)
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", dir.path("bin").display()),
        )
        .env("interface", "wlan0")
        .env("ISSUE_HOOK_WAIT", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(calls(&dir), ["rccr-init --issue-only"]);
    // Quiet: udhcpc's output (the console at boot) gets nothing; what
    // rccr-init says (here nothing) goes to syslog.
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        show(&out)
    );
    assert_eq!(logged(&dir), "logger -t rccr-init\n");
}

#[test]
fn udhcpc_is_not_held_while_rccr_init_writes_the_banner() {
    // udhcpc waits for its script: the hook only starts rccr-init.
    let dir = system("issue-hook-detached");
    let (go, done) = held_rccr_init(&dir);
    let out = issue_hook(&dir)
        .env_remove("ISSUE_HOOK_WAIT")
        .output()
        .unwrap();
    returned_before(&out, &done, &go);
    wait_for_done(&done);
    assert!(done.exists(), "rccr-init --issue-only did not run on");
    assert_eq!(calls(&dir), ["rccr-init --issue-only"]);
}

#[test]
fn the_background_run_holds_none_of_udhcpcs_descriptors() {
    // udhcpc may leave a descriptor open across exec (a socket); the
    // background run (rccr-init, timeout, logger: up to 30 s) closes 3-9.
    // Here descriptor 5 is the write end of a pipe: its reader gets EOF
    // once every holder has closed it, while rccr-init is still held.
    let dir = system("issue-hook-fds");
    let (go, done) = held_rccr_init(&dir);
    let mut cmd = issue_hook_env(Command::new("sh"), &dir);
    let mut hook = cmd
        .args(["-c", "exec \"$0\" 5>&1 >/dev/null"])
        .arg(issue_hook_path())
        .env_remove("ISSUE_HOOK_WAIT")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut held = Vec::new();
    hook.stdout.take().unwrap().read_to_end(&mut held).unwrap();
    let status = hook.wait().unwrap();
    let still_held = !done.exists();
    write(&go, "");
    wait_for_done(&done);
    assert!(status.success(), "{status}");
    assert!(
        still_held,
        "descriptor 5 stayed open in the background run until rccr-init ended"
    );
    assert!(done.exists(), "rccr-init --issue-only did not run on");
    assert_eq!(calls(&dir), ["rccr-init --issue-only"]);
}

#[test]
fn the_hook_exits_0_when_rccr_init_fails_is_missing_or_hangs() {
    // udhcpc's other scripts must go on: a failure is a line in syslog.
    let dir = system("issue-hook-fail");
    let rccr_init = failing_rccr_init(&dir, "/etc/issue: read-only file system");
    let out = issue_hook(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        logged(&dir),
        "logger -t rccr-init\nrccr-init: /etc/issue: read-only file system\non stdout too\n\
         rccr-issue-hook: rccr-init --issue-only failed (exit 1)\n"
    );
    // No rccr-init at all.
    let out = issue_hook(&dir)
        .env("RCCR_INIT", dir.path("bin/no-rccr-init"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_has(
        &logged(&dir),
        "rccr-issue-hook: rccr-init --issue-only failed (exit 127)\n",
    );
    // One that never ends is stopped after ISSUE_HOOK_TIMEOUT seconds.
    write(&rccr_init, "#!/bin/sh\nexec sleep 600\n");
    let out = issue_hook(&dir)
        .env("ISSUE_HOOK_TIMEOUT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_has(
        &logged(&dir),
        "rccr-issue-hook: rccr-init --issue-only stopped after 1s\n",
    );
}

#[test]
fn the_issue_hook_has_help_and_refuses_arguments() {
    let hook = repo().join("image-builder/base/os/issue-hook.sh");
    let out = Command::new(&hook).arg("--help").output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(text(&out.stdout).starts_with("Usage: "), "{}", show(&out));
    // udhcpc's script passes none: one is a person's mistake, and runs nothing.
    let dir = system("issue-hook-args");
    let out = issue_hook(&dir).arg("bound").output().unwrap();
    assert_exit(&out, 2, "no arguments");
    assert_eq!(calls(&dir), Vec::<String>::new());
}
