//! One command-line convention: the same situation gives the same exit code
//! and the same kind of one-line error in every command (README.md, "Exit
//! codes"), the state lock guards every command that writes the state, and
//! `--quiet` is accepted wherever there is progress to silence.
#[path = "common/child.rs"]
mod child;
#[path = "common/scratch.rs"]
mod scratch;
#[path = "common/skip.rs"]
#[allow(unused_imports)] // or_skip
mod skip;
#[path = "common/sshd.rs"]
#[allow(dead_code)] // login, ssh_keygen
mod sshd;
#[path = "common/terminal.rs"]
mod terminal;

use scratch::Scratch;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RCCR: &str = env!("CARGO_BIN_EXE_rccr");

/// An empty home for one test: `HOME`, the state directory and the working
/// directory (so that no cluster_config.yml of the repository is read).
struct Home(Scratch);

impl Home {
    fn new(tag: &str) -> Home {
        let dir = Scratch::new(&format!("cli-{tag}"));
        std::fs::create_dir(dir.path("state")).unwrap();
        Home(dir)
    }

    /// [`Home::new`] with a `~/.ssh` (0700).
    fn with_ssh_dir(tag: &str) -> Home {
        let home = Home::new(tag);
        std::fs::create_dir(home.0.path(".ssh")).unwrap();
        chmod(&home.0.path(".ssh"), 0o700);
        home
    }

    fn state(&self) -> PathBuf {
        self.0.path("state")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_state_dir(args, self.state().as_os_str())
    }

    /// [`Home::run`] with `RCCR_STATE_DIR` set to `state_dir`.
    fn run_with_state_dir(&self, args: &[&str], state_dir: &std::ffi::OsStr) -> Output {
        self.command(args, state_dir).output().unwrap()
    }

    /// `rccr ARGS` in this home, not started yet.
    fn command(&self, args: &[&str], state_dir: &std::ffi::OsStr) -> Command {
        self.command_of(RCCR, args, state_dir)
    }

    /// `PROGRAM ARGS` (a wrapper that runs rccr) in this home.
    fn command_of(&self, program: &str, args: &[&str], state_dir: &std::ffi::OsStr) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&self.0 .0)
            .env("HOME", &self.0 .0)
            .env("RCCR_STATE_DIR", state_dir)
            .env_remove("RCCR_TEMP_KEY")
            .env_remove("RCCR_CLUSTER_KEY")
            .stdin(std::process::Stdio::null());
        command
    }

    /// [`Home::run`] with stdout, and stderr too when `stderr_too`, on a
    /// pipe whose reader is gone before rccr starts (`| head -0`, `2>&1
    /// | head -0`): every write to it fails with EPIPE.
    fn run_into_closed_pipe(&self, args: &[&str], stderr_too: bool) -> Output {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut command = self.command(args, self.state().as_os_str());
        if stderr_too {
            command.stderr(writer.try_clone().unwrap());
        }
        command.stdout(writer).output().unwrap()
    }
}

/// Asserts exit `code`, nothing on stdout and one stderr line containing
/// `needle`.
/// Runs `args` in `home` and checks they are refused as [`assert_refused`] says.
fn home_refuses(home: &Home, args: &[&str], code: i32, needle: &str) {
    assert_refused(args, &home.run(args), code, needle);
}

/// [`home_refuses`] for each of `rows` (args, needle).
fn refuses_all(home: &Home, code: i32, rows: &[(&[&str], &str)]) {
    for (args, needle) in rows {
        home_refuses(home, args, code, needle);
    }
}

fn assert_refused(args: &[&str], out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}: stdout {:?}", out.stdout);
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
}

#[test]
fn no_nodes_known_is_exit_1_everywhere() {
    let home = Home::new("nonodes");
    for args in [
        &["status"][..],
        &["keys", "status"],
        &["keyrotate", "--yes"],
        &["keys", "rotate", "--yes"],
    ] {
        assert_refused(args, &home.run(args), 1, "no nodes");
    }
}

/// keys status with none of our keys found asked no node and reported
/// every one as fine (exit 0), its host key unknown, unreachable or not.
#[test]
fn keys_status_without_a_key_of_ours_says_so() {
    let home = Home::new("nokeys");
    let args = ["keys", "status", "--host", "127.0.0.1:1", "--timeout", "1"];
    home_refuses(
        &home,
        &args,
        1,
        "rccr keys status: no key of ours to check: no temporary, cluster or previous key found; run rccr setup first",
    );
}

/// Every line a command writes to stderr, its warnings and its error,
/// begins with the command as it was typed. `rccr keys status` warned as
/// itself and failed as `rccr keys` (`rccr keys rotate` as well, and
/// `rccr-keys status` as `rccr-keys`), and a config's `ssh.temp_key` that
/// names no file was `rccr: warning:` in every command.
#[test]
fn a_commands_warnings_and_error_name_it_alike() {
    let home = Home::new("prefix");
    let config = home.0.path("config.yml");
    std::fs::write(
        &config,
        "clustr:\n  name: x\nssh:\n  temp_key: /nonexistent/rccr-temp-key\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let link = home.0.path("rccr-keys");
    std::os::unix::fs::symlink(RCCR, &link).unwrap();
    let keys_status = ["status", "--host", "127.0.0.1:1", "--timeout", "1"];
    // (program, args, its name as typed, whether it looks for the
    // temporary key before it fails)
    let cases: [(&str, Vec<&str>, &str, bool); 8] = [
        (
            RCCR,
            [&["keys"][..], &keys_status].concat(),
            "rccr keys status",
            true,
        ),
        (
            link.to_str().unwrap(),
            keys_status.to_vec(),
            "rccr-keys status",
            true,
        ),
        (
            RCCR,
            vec!["keys", "rotate", "--yes"],
            "rccr keys rotate",
            false,
        ),
        (
            link.to_str().unwrap(),
            vec!["rotate", "--yes"],
            "rccr-keys rotate",
            false,
        ),
        (RCCR, vec!["keyrotate", "--yes"], "rccr keyrotate", false),
        (RCCR, vec!["status"], "rccr status", false),
        (RCCR, vec!["setup", "--dry-run"], "rccr setup", true),
        (RCCR, vec!["scan", "--ssh-names"], "rccr scan", true),
    ];
    for (program, mut args, typed, looks_for_the_key) in cases {
        args.extend(["--config", config]);
        let out = home
            .command_of(program, &args, home.state().as_os_str())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{typed}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        // The misspelt key, maybe the missing key file, and the error.
        assert_eq!(
            lines.len(),
            2 + usize::from(looks_for_the_key),
            "{typed}: {err}"
        );
        for line in &lines {
            assert!(line.starts_with(&format!("{typed}: ")), "{typed}: {err}");
        }
        assert!(
            lines[0].starts_with(&format!("{typed}: warning: {config}:1:1: unknown key")),
            "{err}"
        );
        if looks_for_the_key {
            let says = format!(
                "{typed}: warning: {config}:4:13: ssh.temp_key /nonexistent/rccr-temp-key: no such file; "
            );
            assert!(lines[1].starts_with(&says), "{err}");
        }
        assert!(!lines.last().unwrap().contains("warning"), "{err}");
    }
}

#[test]
fn a_missing_key_file_is_exit_3_everywhere() {
    let home = Home::new("nokey");
    let missing = "/nonexistent/rccr-key";
    for (args, flag) in [
        (
            &[
                "setup",
                "--yes",
                "--temp-key",
                missing,
                "--subnet",
                "10.255.255.0/30",
            ][..],
            "--temp-key",
        ),
        (
            &[
                "keyrotate",
                "--yes",
                "--host",
                "10.255.255.1",
                "--from-key",
                missing,
            ],
            "--from-key",
        ),
        (&["scan", "--ssh-names", "--key", missing], "--key"),
    ] {
        let out = home.run(args);
        assert_refused(args, &out, 3, &format!("{flag} {missing}: no such file"));
        // A path that is there but no file is told what it is.
        for (path, is) in [("/etc", "a directory"), ("/dev/zero", "a device")] {
            let args: Vec<&str> = args
                .iter()
                .map(|a| if *a == missing { path } else { a })
                .collect();
            home_refuses(
                &home,
                &args,
                3,
                &format!("{flag} {path}: {is}: give the path of a private key"),
            );
        }
    }
}

/// The commands that take options: the words that run one, with the
/// argument it needs before its options are read (a NODE, a FILE), and
/// whether it prints progress lines (and so takes --quiet).
const COMMANDS: [(&[&str], bool); 8] = [
    (&["setup"], true),
    (&["status"], true),
    (&["scan"], true),
    (&["keyrotate"], true),
    (&["keys", "status"], false),
    (&["remove", "x"], true),
    (&["backup", "f"], false),
    (&["restore", "f"], false),
];

#[test]
fn an_unknown_option_is_exit_2_everywhere() {
    let home = Home::new("usage");
    for (command, _) in COMMANDS {
        let mut args = command.to_vec();
        args.push("--no-such-option");
        let out = home.run(&args);
        assert_refused(&args, &out, 2, "--no-such-option");
        let err = String::from_utf8_lossy(&out.stderr);
        // Named as typed: `keys status` is one command, remove's NODE and
        // backup's FILE are its operands.
        let words = if command[0] == "keys" {
            command
        } else {
            &command[..1]
        };
        assert!(
            err.starts_with(&format!("rccr {}: ", words.join(" "))),
            "{err}"
        );
    }
}

/// Usage errors are one line too, naming the command and where its usage
/// is: argh's own (a missing argument, a list of subcommands) and ours.
#[test]
fn a_usage_error_is_one_line_naming_the_command() {
    let home = Home::new("usage1");
    for (args, says) in [
        (&["backup"][..], "rccr backup: Required positional arguments not provided: FILE; run 'rccr backup --help'"),
        (&["keys"], "rccr keys: One of the following subcommands must be present: help, gen, rotate, status; run"),
        (&["status", "--timeout"], "rccr status: No value provided for option '--timeout'; run 'rccr status --help'"),
        // A value that is no number is named with what to give, not
        // argh's "Error parsing option ... invalid digit found in string".
        (&["status", "--timeout", "5s"], "rccr status: --timeout 5s: not a whole number: give digits only (no sign, unit or decimal point); run 'rccr status --help' for usage"),
        (&["setup", "--expect", "-1"], "rccr setup: --expect -1: not a whole number: give digits only"),
        (&["scan", "--retries", "1.5"], "rccr scan: --retries 1.5: not a whole number: give digits only"),
        (&["keyrotate", "--port", "65536"], "rccr keyrotate: --port 65536: too large a number; run"),
        (&["status", "--timeout", ""], "rccr status: --timeout '': empty: give a number; run"),
        (&["keygen", "--type", "dsa"], "rccr keygen: --type dsa: unknown key type 'dsa': use ed25519 or rsa; run"),
        (&["status", "--timeout", "0"], "rccr status: --timeout must be between 1 and 3600; run"),
        (&["status", "--parallel", "0"], "rccr status: --parallel must be at least 1; run"),
        // u64::MAX seconds: the deadline overflowed, a panic (exit 101).
        (&["status", "--timeout", "18446744073709551615"], "rccr status: --timeout must be between 1 and 3600; run"),
        (&["keyrotate", "--timeout", "3601"], "rccr keyrotate: --timeout must be between 1 and 3600; run"),
        (&["keys", "status", "--timeout", "3601"], "rccr keys status: --timeout must be between 1 and 3600; run"),
        (&["keyrotate", "--revert-after", "0"], "rccr keyrotate: --revert-after must be at least 1; run 'rccr keyrotate --help'"),
        (&["keys", "rotate", "--revert-after", "0"], "rccr keys rotate: --revert-after must be at least 1; run"),
        (&["setup", "--revert-after", "0"], "rccr setup: --revert-after must be at least 1; run 'rccr setup --help'"),
        (&["keys", "rotate", "--rekey", "--forget-temp-key"], "rccr keys rotate: --rekey replaces the cluster key: it takes neither --from-key nor --forget-temp-key; run"),
        (&["keyrotate", "--forget-temp-key", "--host", "10.255.255.1"], "rccr keyrotate: --forget-temp-key takes no nodes nor --from-key; run 'rccr keyrotate --help'"),
        // It was ignored: the kept temporary key went all the same.
        (&["keyrotate", "--forget-temp-key", "--from-key", "k"], "rccr keyrotate: --forget-temp-key takes no nodes nor --from-key; run"),
        (&["keyrotate", "--timeout", "0"], "rccr keyrotate: --timeout must be between 1 and 3600; run"),
        (&["keyrotate", "--parallel", "0"], "rccr keyrotate: --parallel must be at least 1; run"),
        (&["keys", "status", "--timeout", "0"], "rccr keys status: --timeout must be between 1 and 3600; run"),
        // argh's own, of a subcommand: they said `rccr keys` and its help.
        (&["keys", "status", "--timeout", "5s"], "rccr keys status: --timeout 5s: not a whole number: give digits only (no sign, unit or decimal point); run 'rccr keys status --help' for usage"),
        (&["keys", "rotate", "--bogus"], "rccr keys rotate: Unrecognized argument: --bogus; run 'rccr keys rotate --help' for usage"),
        (&["keys", "gen", "--type", "dsa"], "rccr keys gen: --type dsa: unknown key type 'dsa': use ed25519 or rsa; run 'rccr keys gen --help'"),
        // Every node was asked, and each refused an empty user name.
        (&["keyrotate", "--host", "10.255.255.1", "--user", ""], "rccr keyrotate: --user '': name a user; run"),
        (&["keys", "status", "--host", "10.255.255.1", "--user", ""], "rccr keys status: --user '': name a user; run"),
        (&["keygen", "--type", "ed25519", "--bits", "2048"], "rccr keygen: --bits applies to RSA keys only; run 'rccr keygen --help'"),
        (&["scan", "--timeout-ms", "0"], "rccr scan: --timeout-ms must be between 1 and 60000; run 'rccr scan --help'"),
        (&["init", "--storage", "--issue-only"], "rccr init: --issue-only, --hostname, --storage, --prepare-disk and --hotplug go alone"),
        (&["engine"], "rccr engine: expected 'node VERSION'; run"),
        (&["remove"], "rccr remove: name at least one NODE; run 'rccr remove --help' for usage"),
        (&["remove", "--release", "--forget", "x"], "rccr remove: --release needs the node, --forget does not ask it: choose one; run"),
        (
            &["setup", "--no-swarm", "--remove-missing"],
            "rccr setup: --remove-missing acts on the swarm, which --no-swarm skips; run",
        ),
        (&["--no-such-option"], "rccr: unknown option: --no-such-option; run 'rccr --help'"),
        // Arguments that were taken and never looked at.
        (&["--version", "x"], "rccr --version: unexpected argument: x; run 'rccr --help' for usage"),
        (&["--list", "x"], "rccr --list: unexpected argument: x; run 'rccr --help' for usage"),
        (&["--licenses", "x"], "rccr --licenses: unexpected argument: x; run 'rccr --help'"),
        (&["version", "x"], "rccr version: unexpected argument: x; run 'rccr version --help' for usage"),
        (&["--install"], "rccr --install: expected DIR or -s DIR; run 'rccr --install --help' for usage"),
    ] {
        let out = home.run(args);
        assert_refused(args, &out, 2, says);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with(says), "{args:?}: {err}");
    }
    // rccr-init's disk errors name the command too, alone (no summary of
    // the changes that were never tried). A disk that is not there is bad
    // input (3), and the line says how to find the right one; it was a
    // usage error (2) with no next step.
    for (device, code, says) in [
        ("sdb", 2, "name a disk as /dev/NAME; run 'rccr init --help'"),
        (
            "/dev/nosuchdisk",
            3,
            "no such disk; list the disks with lsblk (or ls /sys/block) and name a whole disk",
        ),
    ] {
        let args = ["init", "--root", ".", "--prepare-disk", device, "--yes"];
        home_refuses(
            &home,
            &args,
            code,
            &format!("rccr init: --prepare-disk {device}: {says}"),
        );
    }
}

/// Holds `STATE/lock` as another rccr run would (`flock`, the kernel's lock).
fn hold_lock(state: &Path) -> File {
    let file = File::create(state.join("lock")).unwrap();
    // std's try_lock is flock(LOCK_EX | LOCK_NB), as rccr takes it.
    file.try_lock().unwrap();
    file
}

/// `keyrotate --rekey` read the inventory, then waited for the lock: a
/// node a setup adopted meanwhile (it held the lock) was left out of the
/// rekey, on the key that became the previous key, and the next rekey
/// locked it out. The inventory is read under the lock now. The nodes here
/// refuse at once (127.0.0.x, port 1); the rekey says which it tried.
#[test]
fn a_rekey_moves_the_nodes_of_the_inventory_as_it_is_once_it_holds_the_lock() {
    let home = Home::new("rekeylock");
    let state = home.state();
    let key = ed25519_key(&home, "state/cluster_key", &["-C", "rccr-cluster-key"]);
    let node = |ip: &str| format!("{ip}\t-\tReCyClusteR-Target-{ip}\ttarget\tx86_64\t-\t-\n");
    home.0.write("state/nodes", node("127.0.0.2"));
    chmod(&state.join("nodes"), 0o600);
    let held = hold_lock(&state);
    let args = [
        "keyrotate",
        "--rekey",
        "--yes",
        "--json",
        "--port",
        "1",
        "--timeout",
        "1",
        "--wait",
        "600",
    ];
    let mut child = child::spawn(
        home.command(&args, state.as_os_str())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    // It waits for the lock (polling it) once it holds the lock file open.
    let lock = state.join("lock");
    while !child::has_open(child.id(), &lock) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("keyrotate ended ({status}) before it waited for the lock");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A setup adopts a node meanwhile.
    home.0.write(
        "state/nodes",
        format!("{}{}", node("127.0.0.2"), node("127.0.0.3")),
    );
    drop(held);
    let out = child.wait_with_output();
    let json = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(Path::new(&key).exists());
    for ip in ["127.0.0.2", "127.0.0.3"] {
        assert!(
            json.contains(&format!("\"node\": \"{ip}\"")),
            "{ip} not rekeyed: {json}{err}"
        );
    }
}

/// The `ssh` section of cluster_config.yml was read by setup, status and
/// remove only: `keyrotate` (`--rekey` too) and `keys status` went to port
/// 22 as root with an Ed25519 key and never looked at `ssh.temp_key`, so
/// with `ssh.port: 2222` the README's day-2 rekey went to the wrong port.
/// They read the config as setup does now (`--config`, else
/// ./cluster_config.yml), and an option given wins. Nothing listens on
/// 127.0.0.2's low ports: the reports say which port each node was tried at.
#[test]
fn keyrotate_and_keys_status_take_the_ssh_section_of_the_config() {
    let tried = |home: &Home, args: &[&str], port: u16| {
        let out = home.run(args);
        let json = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            json.contains(&format!("\"node\": \"127.0.0.2\", \"port\": {port},")),
            "{args:?} did not try port {port}: {json}{err}"
        );
    };
    // A rekey moves the inventory's nodes at the config's port.
    let home = Home::new("sshrekey");
    ed25519_key(&home, "state/cluster_key", &["-C", "rccr-cluster-key"]);
    home.0.write(
        "state/nodes",
        "127.0.0.2\t-\tReCyClusteR-Target-7f000002\ttarget\tx86_64\t-\t-\n",
    );
    chmod(&home.state().join("nodes"), 0o600);
    home.0.write("cluster_config.yml", "ssh:\n  port: 1\n");
    let rekey = ["keyrotate", "--rekey", "--yes", "--json", "--timeout", "1"];
    tried(&home, &rekey, 1);
    // keys status: the config given, then --port over it.
    home.0.write("other.yml", "ssh:\n  port: 2\n");
    let other = home.0.path("other.yml");
    let status = [
        "keys",
        "status",
        "--json",
        "--timeout",
        "1",
        "--host",
        "127.0.0.2",
    ];
    let with_config = [&status[..], &["--config", other.to_str().unwrap()]].concat();
    tried(&home, &with_config, 2);
    tried(&home, &[&with_config[..], &["--port", "3"]].concat(), 3);
    tried(&home, &status, 1);
    // A rotation takes the temporary key the config names, and makes the
    // cluster key of the config's type.
    let home = Home::new("sshrotate");
    let temp = ed25519_key(&home, "my_temp_key", &[]);
    home.0.write(
        "cluster_config.yml",
        format!("ssh:\n  port: 1\n  temp_key: {temp}\n  key_type: rsa\n"),
    );
    let rotate = [
        "keyrotate",
        "--yes",
        "--json",
        "--timeout",
        "1",
        "--host",
        "127.0.0.2",
    ];
    tried(&home, &rotate, 1);
    assert!(home.0.path(".ssh/id_rsa").exists());
    assert!(!home.0.path(".ssh/id_ed25519").exists());
}

/// `keys status` logs in at the config's `ssh.port` with the config's
/// `ssh.temp_key`: a real sshd on another port of 127.0.0.1, which takes
/// that key alone, is reported taking it (before: asked at port 22, where
/// nothing of ours answers, and no temporary key found). Nothing is written.
#[test]
fn keys_status_logs_in_at_the_configs_port_with_its_temporary_key() {
    if unsafe { libc::geteuid() } != 0 {
        skip::skip("an sshd of the test's own needs root");
        return;
    }
    let home = Home::new("sshdport");
    let temp = ed25519_key(&home, "my_temp_key", &[]);
    let sshd = sshd::Sshd::start(&home.0, &home.0.path("my_temp_key.pub"));
    let port = sshd.addr.port();
    home.0.write(
        "cluster_config.yml",
        format!("ssh:\n  port: {port}\n  temp_key: {temp}\n"),
    );
    let out = home.run(&["keys", "status", "--json", "--host", "127.0.0.1"]);
    let json = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        json.contains(&format!("\"node\": \"127.0.0.1\", \"port\": {port},")),
        "{json}{err}"
    );
    assert!(json.contains("\"temporary\": \"yes\""), "{json}{err}");
}

/// A well-formed backup archive holding only a cluster key, made as
/// `rccr backup` makes one, so that restore gets as far as the lock.
fn archive_with_a_cluster_key(home: &Home) -> PathBuf {
    let key = ed25519_key(home, "cluster_key", &[]);
    archive(
        home,
        "archive",
        &[("cluster_key", std::fs::read(key).unwrap())],
    )
}

/// A backup archive `name` in `home` holding `entries` (name, bytes), its
/// framing and checksum well-formed whatever they hold (the format is in
/// src/backup.rs; its checksum line is POSIX `cksum`'s).
fn archive(home: &Home, name: &str, entries: &[(&str, Vec<u8>)]) -> PathBuf {
    let mut body = b"rccr-backup 1\n".to_vec();
    for (entry, bytes) in entries {
        body.extend_from_slice(format!("entry {entry} {} 600\n", bytes.len()).as_bytes());
        body.extend_from_slice(bytes);
    }
    let path = home.0.path(name);
    std::fs::write(&path, &body).unwrap();
    let sum = Command::new("cksum")
        .stdin(File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(sum.status.success(), "{sum:?}");
    body.extend_from_slice(b"end ");
    body.extend_from_slice(&sum.stdout);
    std::fs::write(&path, &body).unwrap();
    path
}

#[test]
fn every_command_that_writes_the_state_waits_for_the_lock() {
    let home = Home::new("lock");
    let archive = archive_with_a_cluster_key(&home);
    let archive = archive.to_str().unwrap();
    // The archive is sound: a damaged one is refused before the lock.
    let cut = home.0.path("cut");
    std::fs::write(&cut, &std::fs::read(archive).unwrap()[..40]).unwrap();
    let out = home.run(&["restore", cut.to_str().unwrap()]);
    assert_refused(&["restore", "cut"], &out, 3, "nothing was restored");
    let state = home.state();
    let lock = state.join("lock");
    for args in [
        &["setup", "--yes", "--subnet", "10.255.255.0/30"][..],
        &["keyrotate", "--yes", "--host", "10.255.255.1"],
        &["remove", "node-1", "--yes"],
        &["backup", archive],
        &["restore", archive],
    ] {
        let held = hold_lock(&state);
        let out = home.run(&[args, &["--wait", "0"]].concat());
        assert_refused(args, &out, 1, "holds");
        // With --wait it waits (polling the lock, its file open) until
        // the lock is let go, then takes it: its pid is in the file.
        let mut waiting = child::spawn(
            home.command(&[args, &["--wait", "600"]].concat(), state.as_os_str())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        );
        let minutes = std::time::Duration::from_secs(120);
        child::wait_for_within("it to open the lock", minutes, || {
            if let Some(status) = waiting.try_wait().unwrap() {
                panic!("{args:?} ended ({status}) before it waited for the lock");
            }
            child::has_open(waiting.id(), &lock)
        });
        drop(held);
        let pid = format!("{}\n", waiting.id());
        child::wait_for_within("it to take the lock", minutes, || {
            let took = std::fs::read_to_string(&lock).unwrap() == pid;
            if !took && waiting.try_wait().unwrap().is_some() {
                panic!("{args:?} ended without taking the lock");
            }
            took
        });
    }
}

/// `--quiet` is an option of every command with progress, and of every
/// command that reports (takes `--json`), as README.md says: `rccr keys
/// status -q` was an unknown option.
#[test]
fn quiet_is_an_option_of_every_command_with_progress() {
    let home = Home::new("quiet");
    for (command, progress) in COMMANDS {
        let mut args = command.to_vec();
        args.push("--help");
        let out = home.run(&args);
        let help = String::from_utf8_lossy(&out.stdout);
        if progress || help.contains("--json") {
            assert!(help.contains("-q, --quiet"), "{args:?}: {help}");
        }
    }
}

/// A temporary key made as the images' is (`rccr keygen`), so that setup
/// gets past its keys to the sweep.
fn temp_key(home: &Home) -> String {
    ed25519_key(home, "temp_key", &[])
}

/// An Ed25519 key pair rccr keygen writes at `name` in `home` (`extra`:
/// more keygen options): its private key's path.
fn ed25519_key(home: &Home, name: &str, extra: &[&str]) -> String {
    let key = home.0.path(name);
    let key = key.to_str().unwrap();
    let out = home.run(&[&["keygen", "--type", "ed25519", "-f", key][..], extra].concat());
    assert!(out.status.success(), "{out:?}");
    key.to_string()
}

/// `rccr setup --dry-run --subnet 10.255.255.0/30 ARGS` (a reserved /30
/// where nothing answers) in `home`.
fn setup_dry_run(home: &Home, args: &[&str]) -> Output {
    let mut all = vec!["setup", "--dry-run", "--subnet", "10.255.255.0/30"];
    all.extend_from_slice(args);
    home.run(&all)
}

/// Setup finished an unfinished rotation with the journal's old key (its
/// nodes may take that key alone) and said nothing, though the config
/// named another temporary key (review journalkeys F7). It says so, once,
/// naming both, and goes on.
#[test]
fn setup_says_once_when_the_configs_temporary_key_gives_way_to_an_unfinished_rotation() {
    let home = Home::new("gaveway");
    let state = home.state();
    let started = ed25519_key(&home, "state/temp_key", &[]);
    let new = ed25519_key(&home, "state/new_key", &[]);
    let other = temp_key(&home);
    let journal =
        format!("rotation r\nnew-key {new}\nold-key {started}\nnode 10.255.255.1:22 staging\n");
    std::fs::write(state.join("rotation.journal"), journal).unwrap();
    home.0
        .write("cluster_config.yml", format!("ssh:\n  temp_key: {other}\n"));
    let out = setup_dry_run(&home, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let says = format!(
        "rccr setup: warning: an unfinished rotation ({}) started from {started}: \
         finishing it with that key, not cluster_config.yml:2: ssh.temp_key {other}",
        state.join("rotation.journal").display()
    );
    assert_eq!(err.matches(&says).count(), 1, "{err}");
}

#[test]
fn an_interface_the_config_names_is_the_configs_error() {
    let home = Home::new("cfgiface");
    let key = temp_key(&home);
    home.0
        .write("cluster_config.yml", "network:\n  interface: nosuch0\n");
    let args = ["setup", "--dry-run", "--temp-key", &key];
    home_refuses(
        &home,
        &args,
        3,
        "rccr setup: cluster_config.yml: network.interface nosuch0: no such interface",
    );
    // Given on the command line, it is --iface's.
    let args = [
        "setup",
        "--dry-run",
        "--temp-key",
        &key,
        "--iface",
        "nosuch1",
    ];
    home_refuses(
        &home,
        &args,
        3,
        "rccr setup: --iface nosuch1: no such interface",
    );
}

#[test]
fn a_key_file_that_is_no_private_key_is_exit_3_before_the_sweep() {
    let home = Home::new("badkey");
    let key = temp_key(&home);
    let junk = home.0.path("junk");
    std::fs::write(&junk, b"\x00\x01 not a key\n").unwrap();
    // The public half, the operator's likeliest slip, and junk: refused,
    // where setup swept and showed every node as refusing our keys.
    for bad in [format!("{key}.pub"), junk.to_str().unwrap().to_string()] {
        let args = ["--temp-key", &bad];
        assert_refused(
            &args,
            &setup_dry_run(&home, &args),
            3,
            &format!("rccr setup: --temp-key {bad}: not an unencrypted OpenSSH private key"),
        );
        // scan --ssh-names says it once, before the sweep, as setup does
        // (it warned once for every host, each "not treated as ours").
        let args = [
            "scan",
            "--ssh-names",
            "--key",
            &bad,
            "--subnet",
            "10.255.255.0/30",
        ];
        home_refuses(
            &home,
            &args,
            3,
            &format!("rccr scan: --key {bad}: not an unencrypted OpenSSH private key"),
        );
    }
}

#[test]
fn a_key_comment_on_two_lines_is_refused_and_nothing_is_written() {
    let home = Home::new("comment");
    let key = home.0.path("k");
    let args = [
        "keygen",
        "--type",
        "ed25519",
        "-f",
        key.to_str().unwrap(),
        "-C",
        "two\nlines",
    ];
    home_refuses(&home, &args, 3, "rccr keygen: -C \"two\\nlines\": ");
    assert!(!key.exists() && !home.0.path("k.pub").exists());
}

/// Like ssh-keygen, keygen writes into a directory that is there: a typo
/// in it is refused, not made into a new directory. Only rccr's own
/// default, `.rccr/` of the working directory, is created.
#[test]
fn keygen_creates_no_directory_but_its_own_default() {
    let home = Home::new("keydir");
    let typo = home.0.path("kyes");
    let key = typo.join("temp_key");
    let args = ["keygen", "--type", "ed25519", "-f", key.to_str().unwrap()];
    home_refuses(
        &home,
        &args,
        3,
        &format!(
            "rccr keygen: -f {}: {} does not exist: correct the path, or create the directory first",
            key.display(),
            typo.display()
        ),
    );
    assert!(!typo.exists(), "{} was created", typo.display());
    // A file where the directory should be is named as such.
    home.0.write("file", "");
    let args = ["keygen", "--type", "ed25519", "-f", "file/temp_key"];
    home_refuses(
        &home,
        &args,
        3,
        "rccr keygen: -f file/temp_key: file is not a directory",
    );
    let out = home.run(&["keygen", "--type", "ed25519"]);
    assert!(out.status.success(), "{out:?}");
    assert!(home.0.path(".rccr/ssh_temp_key.pub").is_file());
}

/// `-f KEY.pub` put the private key in KEY.pub and the public one in
/// KEY.pub.pub: a usage error, and nothing is written.
#[test]
fn keygen_refuses_a_private_key_path_ending_in_pub() {
    let home = Home::new("keypub");
    let key = home.0.path("k.pub");
    let args = ["keygen", "--type", "ed25519", "-f", key.to_str().unwrap()];
    home_refuses(
        &home,
        &args,
        2,
        &format!(
            "rccr keygen: -f {} names a public key file: give the private key's path, without .pub",
            key.display()
        ),
    );
    assert!(!key.exists() && !home.0.path("k.pub.pub").exists());
}

/// [`setup_dry_run`] with `--temp-key KEY` on a LAN without nodes: exit
/// 0, its stderr; `None` (skipped) when the sweep needs root.
fn setup_dry_run_ends_well(home: &Home, key: &str) -> Option<String> {
    let out = setup_dry_run(home, &["--temp-key", key]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.code() == Some(4) {
        skip::skip(&format!("the sweep needs root: {err}"));
        return None;
    }
    assert_eq!(out.status.code(), Some(0), "{err}");
    Some(err)
}

#[test]
fn setup_on_a_lan_without_nodes_says_so() {
    let home = Home::new("emptylan");
    let key = temp_key(&home);
    let Some(err) = setup_dry_run_ends_well(&home, &key) else {
        return;
    };
    assert!(
        err.lines()
            .any(|l| l.starts_with("rccr setup: no node found: ") && l.contains("'ReCyClusteR'")),
        "{err}"
    );
}

#[test]
fn setup_never_asks_for_a_force_it_does_not_have() {
    let home = Home::new("noforce");
    let key = temp_key(&home);
    let args = [
        "setup",
        "--dry-run",
        "--temp-key",
        &key,
        "--subnet",
        "10.0.0.0/15",
    ];
    let out = home.run(&args);
    assert_refused(
        &args,
        &out,
        3,
        "rccr setup: --subnet 10.0.0.0/15: 10.0.0.0/15 has 131070 addresses; ",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("--force"), "{err}");
    assert!(err.contains("name smaller subnets with --subnet"), "{err}");
}

#[test]
fn a_lone_dash_is_an_options_value_or_a_file() {
    let home = Home::new("dash");
    // An option's value: --filter takes it, and the options after it stay
    // options (it was moved to the end, so --filter took "--timeout-ms").
    let args = ["scan", "--filter", "-", "--timeout-ms", "0"];
    home_refuses(
        &home,
        &args,
        2,
        "rccr scan: --timeout-ms must be between 1 and 60000",
    );
    // A file: stdin.
    let args = ["restore", "--wait", "1", "-"];
    home_refuses(&home, &args, 3, "rccr restore: stdin: not an rccr backup");
}

#[test]
fn port_0_is_bad_input() {
    let home = Home::new("port0");
    for args in [
        &[
            "keyrotate",
            "--yes",
            "--host",
            "10.255.255.1",
            "--port",
            "0",
        ][..],
        &["keys", "status", "--host", "10.255.255.1", "--port", "0"],
    ] {
        assert_refused(
            args,
            &home.run(args),
            3,
            "--port 0: give a port from 1 to 65535",
        );
    }
    // Given with the address, the same.
    for args in [
        &["keyrotate", "--yes", "--host", "10.255.255.1:0"][..],
        &["keys", "status", "--host", "10.255.255.1:0"],
    ] {
        assert_refused(
            args,
            &home.run(args),
            3,
            "--host 10.255.255.1:0: give a port from 1 to 65535",
        );
    }
}

/// keyrotate (--rekey too) and keys status take --known-hosts as setup
/// does: one they cannot read is refused before any node is touched. It
/// made every node 'unreachable', and left a rotation journal behind.
#[test]
fn a_known_hosts_that_cannot_be_read_is_refused_before_any_node() {
    let home = Home::new("khdirkeys");
    let key = temp_key(&home);
    // A cluster key for --rekey to replace (rccr's by its comment); keygen,
    // as ssh-keygen -f, writes only into a directory that is there.
    std::fs::create_dir(home.0.path(".ssh")).unwrap();
    ed25519_key(&home, ".ssh/id_ed25519", &["-C", "rccr-cluster-key"]);
    let dir = home.0.path("known_hosts.d");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.to_str().unwrap();
    let node: &[&str] = &["--host", "10.255.255.1", "--timeout", "1"];
    for command in [
        [&["keyrotate", "--yes", "--from-key", &key][..], node].concat(),
        [&["keyrotate", "--yes", "--rekey"][..], node].concat(),
        [&["keys", "status"][..], node].concat(),
        // Setup swept, showed every host as without SSH, and rewrote the
        // inventory before failing.
        vec![
            "setup",
            "--yes",
            "--temp-key",
            &key,
            "--subnet",
            "10.255.255.0/30",
        ],
    ] {
        let args = [&command[..], &["--known-hosts", dir]].concat();
        home_refuses(
            &home,
            &args,
            3,
            &format!("{dir}: cannot be read as known_hosts"),
        );
        let left = left_in(&home.state());
        assert!(left.is_empty(), "{args:?} left {left:?}");
    }
}

/// Every command that uses the state directory, with what it needs to get
/// as far as reading it.
const STATE_COMMANDS: [&[&str]; 7] = [
    &["setup", "--yes", "--subnet", "10.255.255.0/30"],
    &["status", "--timeout", "1"],
    &[
        "keyrotate",
        "--yes",
        "--host",
        "10.255.255.1",
        "--timeout",
        "1",
    ],
    &["keys", "status", "--host", "10.255.255.1", "--timeout", "1"],
    &["backup", "out.bak"],
    &["restore", "-"],
    &["remove", "--forget", "--yes", "10.255.255.1"],
];

/// An empty state directory is refused: as a path it is the working
/// directory, where the lock and the inventory landed.
#[test]
fn an_empty_state_dir_is_refused() {
    let home = Home::new("emptystate");
    for command in STATE_COMMANDS {
        let args = [command, &["--state-dir", ""][..]].concat();
        let out = home.run(&args);
        let name = if command[0] == "keys" {
            "keys status"
        } else {
            command[0]
        };
        assert_refused(
            &args,
            &out,
            2,
            &format!("rccr {name}: --state-dir '': name a file or directory; run"),
        );
        let out = home.run_with_state_dir(command, "".as_ref());
        assert_refused(command, &out, 3, "RCCR_STATE_DIR: empty: name a directory");
        for file in ["lock", "nodes", "keys", "rotation.journal"] {
            assert!(
                !home.0.path(file).exists(),
                "{command:?} wrote {file} in the working directory"
            );
        }
    }
    let args = [
        "keys",
        "status",
        "--host",
        "10.255.255.1",
        "--known-hosts",
        "",
    ];
    home_refuses(&home, &args, 2, "rccr keys status: --known-hosts '': ");
}

/// A closed stdout (`| head -0`) ends the output, not the command: no
/// panic, and the exit code is the command's own verdict. A closed stderr
/// too (`2>&1 | head -0`) loses the error line, not the exit code. Before,
/// keygen panicked (101; an abort in release builds), a failing command
/// exited 0, `rccr backup -` exited 0 with no archive written, and any
/// error with stderr closed panicked.
#[test]
fn a_closed_output_pipe_changes_no_exit_code() {
    let home = Home::new("closedpipe");
    // A temporary key in the state directory: keys status asks the node.
    ed25519_key(&home, "state/temp_key", &[]);
    let key = home.0.path("k");
    let key = key.to_str().unwrap();
    // An archive to write: a cluster key of rccr's.
    ed25519_key(&home, "state/cluster_key", &["-C", "rccr-cluster-key"]);
    let unreachable: &[&str] = &["keys", "status", "--host", "127.0.0.1:1", "--timeout", "1"];
    for (args, stderr_too, code) in [
        (&["--help"][..], false, 0),
        (&["--list"], false, 0),
        (&["version"], false, 0),
        (&["keygen", "--type", "ed25519", "-f", key], false, 0),
        // Nothing listens on port 1: the node is unreachable.
        (unreachable, false, 1),
        (unreachable, true, 1),
        // The archive was not written whole: a failure, said on stderr.
        (&["backup", "-"], false, 1),
        (&["frobnicate"], true, 127),
        (&["status", "--timeout", "0"], true, 2),
    ] {
        let out = home.run_into_closed_pipe(args, stderr_too);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        if args[0] == "backup" {
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.starts_with("rccr backup: stdout: "), "{err}");
        }
    }
    assert!(Path::new(&format!("{key}.pub")).is_file());
}

/// What is in `dir` but the lock, sorted.
fn left_in(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "lock")
        .collect();
    left.sort();
    left
}

/// A question that cannot be asked (no terminal) or is answered no
/// changes nothing. keyrotate asked after it had made the cluster key,
/// kept the temporary key and written a rotation journal naming the
/// nodes, which the next keyrotate or setup then rotated.
#[test]
fn a_confirmation_without_a_terminal_changes_nothing() {
    let home = Home::new("noconfirm");
    let key = temp_key(&home);
    let args = ["keyrotate", "--host", "10.255.255.1", "--from-key", &key];
    home_refuses(
        &home,
        &args,
        2,
        "rccr keyrotate: no terminal to confirm on: pass --yes",
    );
    assert_eq!(left_in(&home.state()), Vec::<std::ffi::OsString>::new());
    assert!(!home.0.path(".ssh").exists(), "a cluster key was made");
    // Named as it was called: `rccr keys rotate` said `rccr keyrotate`.
    let args = [
        "keys",
        "rotate",
        "--host",
        "10.255.255.1",
        "--from-key",
        &key,
    ];
    home_refuses(
        &home,
        &args,
        2,
        "rccr keys rotate: no terminal to confirm on: pass --yes",
    );
}

/// Backup writes only an archive restore takes: it put a state file in
/// as it was, and restore, which checks each entry, refused the archive
/// when it was needed (a line of `keys` the control itself passes over, or
/// more than restore reads), long after the backup had said it was done.
#[test]
fn backup_writes_no_archive_restore_would_refuse() {
    let home = Home::new("backupbad");
    ed25519_key(&home, "state/cluster_key", &["-C", "rccr-cluster-key"]);
    let record = "cluster SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
    let keys = home.state().join("keys");
    let out = home.0.path("out");
    let out = out.to_str().unwrap();
    let too_large = record.repeat((16 << 20) / record.len() + 1);
    for (bytes, says) in [
        (
            format!("{record}# noted by hand\n"),
            format!(
                "rccr backup: {}: its entry keys:2 is not what rccr backup writes, so rccr restore would refuse",
                keys.display()
            ),
        ),
        (
            too_large,
            format!(
                "rccr backup: {}: the archive would be 16777",
                home.state().display()
            ),
        ),
    ] {
        std::fs::write(&keys, bytes).unwrap();
        home_refuses(&home, &["backup", out], 3, &says);
        assert!(!Path::new(out).exists(), "{says}");
    }
    // Without them, the archive is written and restores.
    std::fs::write(&keys, record).unwrap();
    let made = home.run(&["backup", out]);
    assert!(made.status.success(), "{made:?}");
    let again = Home::new("backupbad2");
    let restored = again.run(&["restore", out]);
    assert!(restored.status.success(), "{restored:?}");
}

/// `rccr backup FILE` onto a file it backs up (the cluster key, the
/// inventory, known_hosts) replaced that file with the archive: a usage
/// error now, whatever path names it. A symlink to one is replaced, not
/// written through: that is allowed.
#[test]
fn backup_refuses_to_write_over_a_file_it_backs_up() {
    let home = Home::with_ssh_dir("backupself");
    ed25519_key(&home, "state/cluster_key", &["-C", "rccr-cluster-key"]);
    let state = home.state();
    let node = "10.0.0.5\t-\tReCyClusteR-Target-0a0b0c\ttarget\tx86_64\t-\t-\n";
    std::fs::write(state.join("nodes"), node).unwrap();
    // known_hosts is a symlink to a file of the operator's.
    home.0.write("pins", "");
    std::os::unix::fs::symlink(home.0.path("pins"), home.0.path(".ssh/known_hosts")).unwrap();
    let before = |p: &Path| std::fs::read(p).unwrap();
    let (key, nodes) = (
        before(&state.join("cluster_key")),
        before(&state.join("nodes")),
    );
    let key_path = state.join("cluster_key");
    for (target, source) in [
        (key_path.clone(), key_path.clone()),
        (state.join("../state/./nodes"), state.join("nodes")),
        (home.0.path("pins"), home.0.path(".ssh/known_hosts")),
    ] {
        let target = target.to_str().unwrap();
        let says = format!(
            "rccr backup: {target} is {}, which the archive holds: the archive would replace it; name another file",
            source.display()
        );
        home_refuses(&home, &["backup", target], 2, &says);
    }
    assert_eq!(before(&state.join("cluster_key")), key);
    assert_eq!(before(&state.join("nodes")), nodes);
    assert_eq!(before(&home.0.path("pins")), b"");
    let link = home.0.path("link");
    std::os::unix::fs::symlink(&key_path, &link).unwrap();
    let made = home.run(&["backup", link.to_str().unwrap()]);
    assert!(made.status.success(), "{made:?}");
    assert_eq!(before(&key_path), key);
    assert!(before(&link).starts_with(b"rccr-backup 1\n"));
}

/// The directories restore creates (the state directory and those above
/// it, `~/.ssh`) are made durable in their parents as they are made: only
/// the files' own directories were fsynced, so after a power cut a fresh
/// `~/.ssh` or state directory could be gone with every key in it, and
/// with it the marker of a restore stopped part-way. Seen through strace.
#[test]
fn restore_makes_the_directories_it_creates_durable() {
    if !Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        skip::skip("no strace (apt install strace)");
        return;
    }
    let home = Home::new("durabledirs");
    let archive = archive_with_a_cluster_key(&home);
    let state = home.0.path("new/state");
    let log = home.0.path("strace.log");
    // -f: rccr's own threads; -y: each fd's path.
    let trace = "trace=mkdir,mkdirat,fsync,fdatasync";
    let log_to = log.to_str().unwrap();
    let rccr = [RCCR, "restore", archive.to_str().unwrap()];
    let traced = [&["-f", "-y", "-e", trace, "-o", log_to, "--"][..], &rccr].concat();
    let out = home
        .command_of("strace", &traced, state.as_os_str())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = std::fs::read_to_string(&log).unwrap();
    // Each directory made, then an fsync of its parent: `N</parent>`.
    for made in [home.0.path("new"), state, home.0.path(".ssh")] {
        let made = made.display().to_string();
        let at = log
            .find(&format!("\"{made}\""))
            .unwrap_or_else(|| panic!("{made} was not made: {log}"));
        let parent = Path::new(&made).parent().unwrap().display().to_string();
        assert!(
            log[at..]
                .lines()
                .any(|l| l.contains("fsync(") && l.contains(&format!("<{parent}>"))),
            "{made}: its parent {parent} was not fsynced after it: {log}"
        );
    }
}

/// Restore writes nothing unless every entry is what rccr backup writes:
/// it checked the framing, the checksum and the cluster key, then wrote the
/// keys and state files one by one and stopped at the first it could not
/// use, leaving (say) a damaged `nodes` that every later command refused.
/// Known_hosts lines it adds must be pins of the archive's own nodes: no
/// marker, wildcard or hashed entry that would vouch for other hosts.
#[test]
fn restore_writes_nothing_unless_every_entry_checks_out() {
    let home = Home::new("restorebad");
    let cluster = std::fs::read(ed25519_key(&home, "k1", &[])).unwrap();
    let other = ed25519_key(&home, "k2", &[]);
    let public = std::fs::read_to_string(format!("{other}.pub")).unwrap();
    let public = public
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let node = b"10.0.0.5\t-\tReCyClusteR-Target-0a0b0c\ttarget\tx86_64\t-\t-\n".to_vec();
    let pin = |hosts: &str| format!("{hosts} {public}\n").into_bytes();
    let state = |name: &'static str, bytes: &[u8]| vec![(name, bytes.to_vec())];
    let with_node =
        |name: &'static str, bytes: Vec<u8>| vec![("nodes", node.clone()), (name, bytes)];
    for (entries, says) in [
        (
            state("nodes", b"garbage\tline\n"),
            "its entry nodes:1 is not what rccr backup writes",
        ),
        (state("swarm", b"bogus\n"), "its entry swarm:1 is not"),
        (
            state("keys", b"cluster not-a-fingerprint\n"),
            "its entry keys:1 is not",
        ),
        (
            state("last-rotation", b"junk\n"),
            "its entry last-rotation:1 is not",
        ),
        (
            state("previous_key", b"not a key"),
            "its entry previous_key is not",
        ),
        (
            state("temp_key.pub", b"\xff\n"),
            "its entry temp_key.pub is not",
        ),
        (
            state("cluster_key", &cluster),
            "its entry cluster_key is there twice",
        ),
        (
            state("cluster_key.pub", format!("{public}\n").as_bytes()),
            "its entry cluster_key.pub is not the public half of its entry cluster_key",
        ),
        (
            with_node("known_hosts", pin("@cert-authority *")),
            "its entry known_hosts:1 is not",
        ),
        (
            with_node("known_hosts", pin("10.0.0.5,*")),
            "its entry known_hosts:1 is not",
        ),
        (
            with_node("known_hosts", pin("10.0.0.9")),
            "its entry known_hosts:1 is not",
        ),
        (
            state("known_hosts", &pin("10.0.0.5")),
            "its entry known_hosts:1 is not",
        ),
    ] {
        let entries = [&[("cluster_key", cluster.clone())][..], &entries].concat();
        let path = archive(&home, "bad", &entries);
        let args = ["restore", path.to_str().unwrap()];
        home_refuses(
            &home,
            &args,
            3,
            &format!("rccr restore: {}: {says}", path.display()),
        );
        let err = String::from_utf8_lossy(&home.run(&args).stderr).into_owned();
        assert!(err.contains("nothing was restored"), "{err}");
        assert_eq!(
            left_in(&home.state()),
            Vec::<std::ffi::OsString>::new(),
            "{err}"
        );
        assert!(!home.0.path(".ssh").exists(), "{err}");
    }
    // The same archive with a pin of its node, and no other flaw, restores;
    // not over a known_hosts that cannot be read, which it read after it
    // had written the keys and the state files.
    let good = archive(
        &home,
        "good",
        &[
            ("cluster_key", cluster),
            ("nodes", node),
            ("known_hosts", pin("ReCyClusteR-Target-0a0b0c,10.0.0.5")),
        ],
    );
    let args = ["restore", good.to_str().unwrap()];
    std::fs::create_dir_all(home.0.path(".ssh/known_hosts")).unwrap();
    home_refuses(&home, &args, 1, "known_hosts: ");
    assert_eq!(left_in(&home.state()), Vec::<std::ffi::OsString>::new());
    assert_eq!(std::fs::read_dir(home.0.path(".ssh")).unwrap().count(), 1);
    // A last line without its newline stays whole.
    std::fs::remove_dir(home.0.path(".ssh/known_hosts")).unwrap();
    home.0.write(".ssh/known_hosts", "mine ssh-ed25519 AAAA");
    let out = home.run(&args);
    assert!(out.status.success(), "{out:?}");
    let known_hosts = std::fs::read_to_string(home.0.path(".ssh/known_hosts")).unwrap();
    assert_eq!(
        known_hosts,
        format!(
            "mine ssh-ed25519 AAAA\n{}",
            String::from_utf8(pin("ReCyClusteR-Target-0a0b0c,10.0.0.5")).unwrap()
        )
    );
}

/// A key entry restore cannot use passed the archive's checks and was
/// refused only after restore's first write (its marker, keys moved
/// aside), every run again: one with a comment beyond what a key file
/// holds (`load_key` reads at most 64 KiB), and one of an algorithm rccr
/// does not use (an ECDSA key went to `~/.ssh/id_ed25519`). Both are
/// refused now as the archive is read, with nothing written.
#[test]
fn a_key_entry_rccr_could_not_use_is_refused_before_anything_is_written() {
    let home = Home::new("restorekeykind");
    let cluster = std::fs::read(ed25519_key(&home, "k1", &[])).unwrap();
    let mut long = ssh_key::PrivateKey::from_openssh(&cluster).unwrap();
    long.set_comment("x".repeat(70_000));
    let long = long.to_openssh(ssh_key::LineEnding::LF).unwrap();
    let ecdsa = home.0.path("ecdsa");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ecdsa", "-N", "", "-C", "ecdsa", "-f"])
        .arg(&ecdsa)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let ecdsa = std::fs::read(ecdsa).unwrap();
    // A type ssh-key parses (as DSA and FIDO keys) that rccr does not use:
    // it was taken for an Ed25519 key.
    let other = {
        use ssh_key::private::{KeypairData, OpaqueKeypair};
        let algorithm = ssh_key::Algorithm::new("ssh-other@rccr.invalid").unwrap();
        let public = ssh_key::public::OpaquePublicKey::new(vec![9; 32], algorithm);
        let pair = KeypairData::Other(OpaqueKeypair::new(vec![7; 32], public));
        let key = ssh_key::PrivateKey::new(pair, "other").unwrap();
        let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
        assert!(ssh_key::PrivateKey::from_openssh(text.as_bytes()).is_ok());
        text.as_bytes().to_vec()
    };
    for (entries, says) in [
        (
            vec![("cluster_key", long.as_bytes().to_vec())],
            "its entry cluster_key is not",
        ),
        (
            vec![("cluster_key", other.clone())],
            "its entry cluster_key is not",
        ),
        (
            vec![("cluster_key", ecdsa.clone())],
            "its entry cluster_key is not",
        ),
        (
            vec![("cluster_key", cluster.clone()), ("temp_key", other)],
            "its entry temp_key is not",
        ),
        (
            vec![("cluster_key", cluster.clone()), ("previous_key", ecdsa)],
            "its entry previous_key is not",
        ),
        (
            vec![
                ("cluster_key", cluster.clone()),
                ("temp_key", long.as_bytes().to_vec()),
            ],
            "its entry temp_key is not",
        ),
    ] {
        let path = archive(&home, "bad", &entries);
        for force in [&[][..], &["--force"]] {
            let args = [&["restore", path.to_str().unwrap()][..], force].concat();
            home_refuses(
                &home,
                &args,
                3,
                &format!("rccr restore: {}: {says}", path.display()),
            );
            assert!(!home.state().join("restore-in-progress").exists());
            assert_eq!(left_in(&home.state()), Vec::<std::ffi::OsString>::new());
            assert!(!home.0.path(".ssh").exists());
        }
    }
}

/// A known_hosts line for a node and another host (`name,10.0.0.5` as
/// OpenSSH writes, or a forged one) vouched for both: backup archived it
/// whole and restore added it whole, pinning a key for a host that is no
/// node. Both keep the node's host patterns only.
#[test]
fn a_pin_for_a_node_and_another_host_is_kept_for_the_node_only() {
    let home = Home::with_ssh_dir("mixedpin");
    let key = ed25519_key(&home, "state/cluster_key", &["-C", "rccr-cluster-key"]);
    let public = std::fs::read_to_string(format!("{key}.pub")).unwrap();
    let public = public.split_whitespace().take(2).collect::<Vec<_>>();
    let public = public.join(" ");
    let node = "10.0.0.5\t-\tReCyClusteR-Target-0a0b0c\ttarget\tx86_64\t-\t-\n";
    std::fs::write(home.state().join("nodes"), node).unwrap();
    let mixed = format!("10.0.0.66,10.0.0.5,[ReCyClusteR-Target-0a0b0c]:2222 {public}\n");
    let kept = format!("10.0.0.5,[ReCyClusteR-Target-0a0b0c]:2222 {public}\n");
    home.0.write(".ssh/known_hosts", &mixed);
    let out = home.0.path("out");
    let made = home.run(&["backup", out.to_str().unwrap()]);
    assert!(made.status.success(), "{made:?}");
    let archived = String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned();
    assert!(archived.contains(&format!("\n{kept}")), "{archived}");
    assert!(!archived.contains("10.0.0.66"), "{archived}");
    // An archive holding the whole line (an older rccr's, or forged).
    let again = Home::new("mixedpin2");
    let old = archive(
        &again,
        "old",
        &[
            ("cluster_key", std::fs::read(&key).unwrap()),
            ("nodes", node.into()),
            ("known_hosts", mixed.into_bytes()),
        ],
    );
    let restored = again.run(&["restore", old.to_str().unwrap()]);
    assert!(restored.status.success(), "{restored:?}");
    let known_hosts = std::fs::read_to_string(again.0.path(".ssh/known_hosts")).unwrap();
    assert_eq!(known_hosts, kept);
}

/// Hands `path` to uid 65534 (`nobody`), neither root nor the user
/// running rccr. Only root can: false (skipped, or with CI set failed)
/// otherwise.
fn give_to_another_user(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        return skip::skip("this test chowns files: run it as root");
    }
    std::os::unix::fs::chown(path, Some(65534), None).unwrap();
    true
}

/// Gives `path` to gid 65534 (`nogroup`, `nobody`'s primary group, or
/// no group at all), a group others are in: writable by its group is then
/// writable by others, whatever the machine's own groups are.
fn give_to_a_shared_group(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        return skip::skip("this test chowns files: run it as root");
    }
    std::os::unix::fs::chown(path, None, Some(65534)).unwrap();
    true
}

/// Nothing written in `home`: its state directory holds only `keep` (and
/// the lock of a run that got that far), no ~/.ssh.
fn nothing_written(home: &Home, keep: &[&str]) {
    let state = home.state();
    assert_eq!(left_in(&state), keep, "written into {}", state.display());
    assert!(!home.0.path(".ssh").exists(), "a key was restored");
}

/// `rccr keyrotate` from `key` to a host that never answers.
fn rotate_to_nowhere(key: &str) -> [&str; 8] {
    [
        "keyrotate",
        "--yes",
        "--host",
        "127.0.0.1:1",
        "--timeout",
        "1",
        "--from-key",
        key,
    ]
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// OpenSSH's StrictModes for what rccr keeps and trusts. A state
/// directory others may write was used when it had the sticky bit (mode
/// 1777, as /tmp: anyone there may create `nodes`, `lock` or a key before
/// rccr does), and only refused by the commands that write; one in a
/// directory others may write was used; a state file or
/// known_hosts another user owns or others may write was read as rccr's
/// own, and a private key others may read was used. Each is refused (exit
/// 3) in one line naming it, before anything is written.
#[test]
fn what_others_could_have_written_is_refused_before_anything_is_written() {
    let home = Home::new("strict");
    let archive = archive_with_a_cluster_key(&home);
    let restore = ["restore", archive.to_str().unwrap()];
    let state = home.state();
    let shown = state.display().to_string();
    let nothing_written = |keep: &[&str]| nothing_written(&home, keep);
    // Writable by its group is by others when others are in the group
    // (`a_group_of_its_owner_alone_may_write_as_in_debians_ssh`).
    if !give_to_a_shared_group(&state) {
        return;
    }
    for (mode, says) in [
        (0o1777, "is writable by everyone (mode 1777)"),
        (0o770, "is writable by its group (mode 770)"),
    ] {
        chmod(&state, mode);
        for args in [&["status"][..], &["keys", "status"], &restore] {
            home_refuses(&home, args, 3, &format!("{shown}: {says}"));
        }
        nothing_written(&[]);
    }
    chmod(&state, 0o700);
    // A state directory, there or to be made, in a directory others may
    // write (not sticky): they could move it away and put theirs there.
    let open = home.0.path("open");
    std::fs::create_dir_all(open.join("state")).unwrap();
    chmod(&open, 0o777);
    let says = format!("{}: is writable by everyone (mode 777)", open.display());
    for (dir, args) in [("state", &["status"][..]), ("new", &restore)] {
        let dir = open.join(dir);
        let out = home.run_with_state_dir(args, dir.as_os_str());
        assert_refused(args, &out, 3, &says);
    }
    assert!(!open.join("new").exists(), "made a state directory there");
    // Through a link, as a dotfile manager makes ~/.ssh: what is above
    // the directory the link leads to counts, as in OpenSSH's safe_path.
    let link = home.0.path("linked");
    std::os::unix::fs::symlink(open.join("state"), &link).unwrap();
    chmod(&open.join("state"), 0o700);
    let out = home.run_with_state_dir(&["status"], link.as_os_str());
    assert_refused(&["status"], &out, 3, &says);
    nothing_written(&[]);
    // A state file another user owns, or others may write: restore reads
    // the nodes it keeps (the archive holds none) before it writes.
    let nodes = state.join("nodes");
    home.0
        .write("state/nodes", "10.0.0.1\t-\tnode-1\ttarget\tx86_64\t-\t-\n");
    chmod(&nodes, 0o664);
    give_to_a_shared_group(&nodes);
    for args in [&["status"][..], &restore] {
        home_refuses(
            &home,
            args,
            3,
            &format!("{}: is writable by its group (mode 664)", nodes.display()),
        );
    }
    nothing_written(&["nodes"]);
    chmod(&nodes, 0o600);
    if !give_to_another_user(&nodes) {
        return;
    }
    let owned = format!(
        "{}: is owned by uid 65534, neither this user nor root",
        nodes.display()
    );
    for args in [&["status"][..], &restore] {
        home_refuses(&home, args, 3, &owned);
    }
    nothing_written(&["nodes"]);
    std::fs::remove_file(&nodes).unwrap();
    // A private key others may read, and pins another user wrote.
    let key = ed25519_key(&home, "mykey", &[]);
    chmod(Path::new(&key), 0o644);
    let rotate = rotate_to_nowhere(&key);
    home_refuses(
        &home,
        &rotate,
        3,
        &format!("{key}: is open to everyone (mode 644)"),
    );
    nothing_written(&[]);
    chmod(Path::new(&key), 0o600);
    let known_hosts = home.0.path("known_hosts");
    home.0.write("known_hosts", "");
    assert!(give_to_another_user(&known_hosts));
    let pinned = [
        &rotate[..],
        &["--known-hosts", known_hosts.to_str().unwrap()],
    ]
    .concat();
    home_refuses(
        &home,
        &pinned,
        3,
        &format!(
            "{}: is owned by uid 65534, neither this user nor root",
            known_hosts.display()
        ),
    );
    nothing_written(&[]);
}

/// A relative `--state-dir` (or `RCCR_STATE_DIR`) is the state directory
/// wherever rccr runs: the paths rccr writes into other files (the key in
/// inventory.ini, which Ansible reads from elsewhere) name it whole, not
/// relative to the directory rccr happened to run in.
#[test]
fn a_relative_state_dir_is_written_down_whole() {
    let home = Home::with_ssh_dir("relstate");
    // ~/.ssh/id_ed25519 holds the user's own key: the cluster key stays in
    // the state directory, and the inventory names it there.
    ed25519_key(&home, ".ssh/id_ed25519", &[]);
    let archive = archive(
        &home,
        "archive",
        &[
            (
                "cluster_key",
                std::fs::read(ed25519_key(&home, "k1", &[])).unwrap(),
            ),
            (
                "nodes",
                b"10.0.0.5\t-\tReCyClusteR-Target-0a0b0c\ttarget\tx86_64\t-\t-\n".to_vec(),
            ),
        ],
    );
    let out = home.run_with_state_dir(&["restore", archive.to_str().unwrap()], "state".as_ref());
    assert!(out.status.success(), "{out:?}");
    let ini = std::fs::read_to_string(home.state().join("inventory.ini")).unwrap();
    let whole = format!("ansible_ssh_private_key_file={}/", home.state().display());
    assert!(ini.contains(&whole), "{ini}");
}

/// A cluster key of rccr's that others may read is refused, and stays.
/// Once StrictModes refused it for its mode, keyrotate took it for no key
/// or for another's: one waiting in STATE/new_key (an interrupted run's,
/// which nodes may take already) was written over by a fresh one, a lockout
/// of the nodes that took it; one at its home, `~/.ssh/id_ed25519`, sent a
/// rotation from the temporary key to a second cluster key in the state
/// directory, which the older nodes never take.
#[test]
fn a_key_of_rccrs_others_may_read_is_refused_never_replaced() {
    for (tag, from, loose) in [
        ("staged", ".ssh/id_ed25519", "state/new_key"),
        ("loosehome", "temp", ".ssh/id_ed25519"),
    ] {
        let home = Home::with_ssh_dir(tag);
        let from = ed25519_key(&home, home.0.path(from).to_str().unwrap(), &[]);
        let key = loose_cluster_key(&home, loose);
        let before = std::fs::read(&key).unwrap();
        home_refuses(
            &home,
            &rotate_to_nowhere(&from),
            3,
            &format!("{}: is open to everyone (mode 644)", key.display()),
        );
        assert_eq!(std::fs::read(&key).unwrap(), before, "{tag}: written over");
        assert!(!home.state().join("cluster_key").exists(), "{tag}");
        if tag == "loosehome" {
            // The operator's own key there (not recorded), loose or not,
            // is theirs: the cluster key goes to the state directory.
            std::fs::remove_file(home.state().join("keys")).unwrap();
            let out = home.run(&rotate_to_nowhere(&from));
            assert_eq!(out.status.code(), Some(1), "{out:?}");
            assert!(home.state().join("cluster_key").is_file());
        }
    }
}

/// A cluster key of rccr's (recorded in STATE/keys) at `rel` in `home`,
/// mode 0644.
fn loose_cluster_key(home: &Home, rel: &str) -> PathBuf {
    let path = home.0.path(rel);
    ed25519_key(home, path.to_str().unwrap(), &[]);
    let print = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(print.status.success(), "{print:?}");
    let fingerprint = String::from_utf8(print.stdout).unwrap();
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_string();
    home.0
        .write("state/keys", format!("cluster {fingerprint}\n"));
    chmod(&path, 0o644);
    path
}

/// A cluster key others may read is refused before setup's sweep, as the
/// temporary key is: every login with it failed as a key file error, so
/// every node of the cluster was reported `refused`, its reason nowhere.
#[test]
fn setup_refuses_a_cluster_key_others_may_read_before_the_sweep() {
    let home = Home::with_ssh_dir("loosecluster");
    let key = ed25519_key(&home, ".ssh/id_ed25519", &["-C", "rccr-cluster-key"]);
    let out = setup_dry_run(&home, &[]);
    assert!(out.status.success(), "{out:?}");
    chmod(Path::new(&key), 0o644);
    let out = setup_dry_run(&home, &[]);
    assert_refused(
        &["setup"],
        &out,
        3,
        &format!("{key}: is open to everyone (mode 644)"),
    );
}

/// A `~/.ssh/config` rccr will not rewrite (others may write it) is
/// refused before any node is asked, as known_hosts is: keyrotate read it
/// only after the rotation, so the run ended with exit 3 (bad input, which
/// promises nothing written) after every node had moved, and setup after
/// it had renamed the new ones.
#[test]
fn an_ssh_config_others_may_write_is_refused_before_any_node() {
    let home = Home::with_ssh_dir("sshconfig");
    let key = ed25519_key(&home, "temp", &[]);
    home.0
        .write(".ssh/config", "Host *\n  ServerAliveInterval 30\n");
    let config = home.0.path(".ssh/config");
    chmod(&config, 0o664);
    if !give_to_a_shared_group(&config) {
        return;
    }
    home_refuses(
        &home,
        &rotate_to_nowhere(&key),
        3,
        &format!("{}: is writable by its group (mode 664)", config.display()),
    );
    assert_eq!(left_in(&home.state()), Vec::<std::ffi::OsString>::new());
    // Setup, whose rotation comes after it renamed new nodes: before the
    // sweep.
    let out = setup_dry_run(&home, &["--temp-key", &key]);
    assert_refused(
        &["setup"],
        &out,
        3,
        &format!("{}: is writable by its group (mode 664)", config.display()),
    );
}

/// Group-private homes (umask 002, each user in a group of their own, as
/// Debian makes them): ssh writes known_hosts 0664, and Debian's ssh
/// takes it, as it takes any file or directory writable by a group its
/// owner alone is in; rccr refused it, and so every command. Now Debian's
/// rule decides, read from /etc/group and /etc/passwd, which this test
/// gives rccr in a mount namespace of its own: the machine's stay as
/// they are.
#[test]
fn a_group_of_its_owner_alone_may_write_as_in_debians_ssh() {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").unwrap().uid() != 0 {
        skip::skip("this test mounts files over /etc/group in a namespace: run it as root");
        return;
    }
    let home = Home::with_ssh_dir("usergroups");
    let key = temp_key(&home);
    home.0.write(".ssh/known_hosts", "");
    home.0
        .write(".ssh/config", "Host *\n  ServerAliveInterval 30\n");
    for (rel, mode) in [
        ("", 0o775),
        (".ssh", 0o775),
        (".ssh/known_hosts", 0o664),
        (".ssh/config", 0o664),
        ("state", 0o775),
    ] {
        let path = home.0.path(rel);
        chmod(&path, mode);
        // Root's, of root's group (gid 0), as root's files are.
        assert_eq!(std::fs::metadata(&path).unwrap().gid(), 0, "{rel}");
    }
    let etc = Scratch::new("usergroups-etc");
    // `argv` in a mount namespace whose /etc/group and /etc/passwd are
    // these.
    let run_with_accounts = |group: &str, passwd: &str, argv: &[&str]| {
        etc.write("group", group);
        etc.write("passwd", passwd);
        let script = "mount --bind \"$1\" /etc/group && mount --bind \"$2\" /etc/passwd \
                      && shift 2 && exec \"$@\"";
        let (group, passwd) = (etc.path("group"), etc.path("passwd"));
        let mut args = vec!["-m", "--propagation", "private", "sh", "-c", script, "sh"];
        args.extend([group.to_str().unwrap(), passwd.to_str().unwrap()]);
        args.extend_from_slice(argv);
        home.command_of("unshare", &args, home.state().as_os_str())
            .output()
            .unwrap()
    };
    let setup = [
        RCCR,
        "setup",
        "--dry-run",
        "--subnet",
        "10.255.255.0/30",
        "--temp-key",
        &key,
    ];
    let with_accounts = |group: &str, passwd: &str| run_with_accounts(group, passwd, &setup);
    let root = "root:x:0:0:root:/root:/bin/sh\n";
    // Root's group is root's alone (Debian's /etc): taken.
    let out = with_accounts("root:x:0:\nbob:x:1000:\n", root);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Another user in it, listed, or by its primary group (Alpine's
    // operator, halt, shutdown): refused, before anything is written.
    let bob = "bob:x:1000:1000::/home/bob:/bin/sh\n";
    let operator = "operator:x:11:0:operator:/root:/sbin/nologin\n";
    for (group, users, who) in [
        ("root:x:0:bob\n", format!("{root}{bob}"), "bob"),
        ("root:x:0:\n", format!("{root}{operator}"), "operator"),
    ] {
        let out = with_accounts(group, &users);
        let says =
            format!("is writable by its group (mode 775), root (gid 0), which is {who}'s too");
        assert_refused(&["setup"], &out, 3, &says);
        assert_eq!(left_in(&home.state()), Vec::<std::ffi::OsString>::new());
    }
    // Files as directories: known_hosts 0664 in a shared group is refused.
    for rel in ["", ".ssh", "state"] {
        chmod(&home.0.path(rel), 0o755);
    }
    let out = with_accounts("root:x:0:bob\n", &format!("{root}{bob}"));
    let says = format!(
        "{}: is writable by its group (mode 664), root (gid 0), which is bob's too",
        home.0.path(".ssh/known_hosts").display()
    );
    assert_refused(&["setup"], &out, 3, &says);
    // Not root: alice, of a group of her own that lists no one (as
    // adduser makes it). Her keyrotate gets as far as the node.
    let chowned = Command::new("chown")
        .args(["-R", "4242:4242", home.0 .0.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(chowned.success());
    for rel in ["", ".ssh", "state"] {
        chmod(&home.0.path(rel), 0o775);
    }
    let alice = "alice:x:4242:4242::/home/alice:/bin/sh\n";
    let as_alice = [
        "setpriv",
        "--reuid=4242",
        "--regid=4242",
        "--clear-groups",
        RCCR,
    ];
    let argv = [&as_alice[..], &rotate_to_nowhere(&key)].concat();
    let out = run_with_accounts("alice:x:4242:\n", &format!("{root}{alice}"), &argv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("127.0.0.1:1: unreachable"), "{err}");
    // Bob in her group: refused.
    let out = run_with_accounts("alice:x:4242:bob\n", &format!("{root}{alice}{bob}"), &argv);
    let says = "is writable by its group (mode 775), alice (gid 4242), which is bob's too";
    assert_refused(&argv, &out, 3, says);
    // The machine's own /etc is untouched.
    let group = std::fs::read_to_string("/etc/group").unwrap();
    assert!(!group.contains("root:x:0:bob"), "{group}");
}

/// ssh reads `~/.ssh/config` as bytes, and a comment in Latin-1 is fine
/// there: rccr refused the whole file as "not UTF-8 text", so every
/// `rccr setup`, `--dry-run` included, failed before any node was asked.
/// Only rccr's block is rccr's to read; the rest is kept byte for byte.
#[test]
fn an_ssh_config_in_latin1_is_no_reason_to_refuse_setup() {
    let home = Home::with_ssh_dir("sshlatin1");
    let key = temp_key(&home);
    let mine: &[u8] = b"# Fran\xe7ois' laptop\nHost laptop\n  User fran\xe7ois\n";
    home.0.write(".ssh/config", mine);
    let config = home.0.path(".ssh/config");
    chmod(&config, 0o600);
    let Some(_) = setup_dry_run_ends_well(&home, &key) else {
        return;
    };
    assert_eq!(std::fs::read(&config).unwrap(), mine);
}

/// `sudo rccr` where sudo keeps HOME runs rccr as root in the invoking
/// user's home, whose `~/.ssh` and `~/.rccr` root must not trust: it was
/// refused with "chmod go-w or chown it", and chowning one's own ~/.ssh to
/// root is no answer. The refusal now says what happened and what to run.
#[test]
fn root_in_another_users_home_is_told_to_use_sudo_h() {
    let home = Home::new("sudohome");
    let archive = archive_with_a_cluster_key(&home);
    let ssh = home.0.path(".ssh");
    std::fs::create_dir(&ssh).unwrap();
    chmod(&ssh, 0o700);
    chmod(&home.0 .0, 0o755);
    if !give_to_another_user(&ssh) || !give_to_another_user(&home.0 .0) {
        return;
    }
    let hint = format!(
        "rccr runs as root with HOME={}, uid 65534's: run sudo -H rccr, or rccr as that user",
        home.0 .0.display()
    );
    let state = home.0.path(".rccr");
    for args in [&["status"][..], &["keys", "status"]] {
        let out = home.run_with_state_dir(args, state.as_os_str());
        assert_refused(
            args,
            &out,
            3,
            &format!("{}: is owned by uid 65534", ssh.display()),
        );
        assert_refused(args, &out, 3, &hint);
    }
    // No ~/.ssh yet: the state directory rccr would make there.
    std::fs::remove_dir(&ssh).unwrap();
    let args = ["restore", archive.to_str().unwrap()];
    let out = home.run_with_state_dir(&args, state.as_os_str());
    assert_refused(&args, &out, 3, &hint);
    assert!(!state.exists());
}

/// Restore reads the config the Ansible inventory is rendered with before
/// it writes anything: it read ./cluster_config.yml at its end, so a bad
/// one there stopped it (exit 3) with the keys, the state files and the
/// pins already written, and no inventory.ini.
#[test]
fn restore_reads_the_config_before_it_writes_anything() {
    let home = Home::new("restorecfg");
    let archive = archive_with_a_cluster_key(&home);
    let args = ["restore", archive.to_str().unwrap()];
    home.0.write("cluster_config.yml", "ssh: [unclosed\n");
    let config = home.0.path("cluster_config.yml");
    home_refuses(&home, &args, 3, &format!("{}:", "cluster_config.yml"));
    assert_eq!(left_in(&home.state()), Vec::<std::ffi::OsString>::new());
    assert!(!home.0.path(".ssh").exists(), "a key was restored");
    // Mended, the same archive restores.
    std::fs::remove_file(&config).unwrap();
    let out = home.run(&args);
    assert!(out.status.success(), "{out:?}");
    assert!(home.state().join("inventory.ini").is_file());
}

/// Restore reads the rotation journal already here (the key lookup that
/// names the cluster key in inventory.ini reads it) before it writes
/// anything: a damaged one, or one another user owns or others may write,
/// stopped it (exit 3) after the keys and last-rotation were written,
/// and no inventory.ini. An archive carrying its own journal
/// replaces the one here, which restore then does not read.
#[test]
fn restore_reads_the_rotation_journal_before_it_writes_anything() {
    let home = Home::new("restorejournal");
    let journal = home.state().join("rotation.journal");
    let plain = archive_with_a_cluster_key(&home);
    let args = ["restore", plain.to_str().unwrap()];
    let nothing_written = || nothing_written(&home, &["rotation.journal"]);
    home.0.write("state/rotation.journal", "not a journal\n");
    chmod(&journal, 0o600);
    home_refuses(&home, &args, 3, &format!("{}:1:", journal.display()));
    nothing_written();
    home.0.write("state/rotation.journal", "rotation 1\n");
    chmod(&journal, 0o666);
    let says = format!("{}: is writable by everyone (mode 666)", journal.display());
    home_refuses(&home, &args, 3, &says);
    nothing_written();
    chmod(&journal, 0o600);
    if give_to_another_user(&journal) {
        let says = format!(
            "{}: is owned by uid 65534, neither this user nor root",
            journal.display()
        );
        home_refuses(&home, &args, 3, &says);
        nothing_written();
    }
    // An archive with an unfinished rotation replaces the journal here,
    // with --force, which keeps it aside: its nodes may take only its key.
    let key = std::fs::read(ed25519_key(&home, "carried_key", &[])).unwrap();
    let carries = archive(
        &home,
        "carries",
        &[
            ("cluster_key", key.clone()),
            ("previous_key", key),
            (
                "rotation.journal",
                b"rotation 2\nnew-key cluster_key\nold-key previous_key\n".to_vec(),
            ),
        ],
    );
    let args = ["restore", carries.to_str().unwrap()];
    let says = format!(
        "{}: an unfinished key rotation the archive does not carry",
        journal.display()
    );
    home_refuses(&home, &args, 3, &says);
    nothing_written();
    let out = home.run(&[&args[..], &["--force"]].concat());
    assert!(out.status.success(), "{out:?}");
    let restored = std::fs::read_to_string(&journal).unwrap();
    assert!(restored.starts_with("rotation 2\n"), "{restored}");
    let aside = home.state().join("rotation.journal.before-restore");
    assert_eq!(std::fs::read_to_string(aside).unwrap(), "rotation 1\n");
    assert!(home.state().join("inventory.ini").is_file());
    // The same archive again replaces nothing.
    let out = home.run(&args);
    assert!(out.status.success(), "{out:?}");
}

/// Runs `rccr ARGS` (a restore) in `home` and SIGKILLs it once it has
/// written the archive's keys (failpoint `restore-keys-written`, its
/// files in a scratch directory named `tag`); what it said by then.
fn killed_after_the_keys(home: &Home, args: &[&str], tag: &str) -> String {
    let stops = Scratch::new(tag);
    let mut child = child::spawn(
        home.command(args, home.state().as_os_str())
            .env("RCCR_FAILPOINT", "restore-keys-written")
            .env("RCCR_FAILPOINT_DIR", &stops.0)
            .stderr(std::process::Stdio::piped()),
    );
    while !stops.path("reached").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("restore ended ({status}) before it stopped after the keys");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A restore that stopped part-way (killed after the keys, before the
/// state files) left a control whose keys were the archive's and whose
/// state was the old one's, and said nothing: every command ran on that
/// mix. Its marker now makes every command that takes the lock refuse,
/// naming the archive to restore again, until restore is run again.
#[test]
fn a_restore_stopped_part_way_is_named_until_it_is_run_again() {
    let home = Home::new("restorekilled");
    let archive = archive_with_a_cluster_key(&home);
    let archive = archive.to_str().unwrap();
    let err = killed_after_the_keys(&home, &["restore", archive], "cli-restorekilled-fp");
    // What it wrote, it said as it went.
    assert!(err.contains("rccr restore: cluster key: "), "{err}");
    let says = format!(
        "a restore stopped part-way, and the state may mix two: run rccr restore {archive} again"
    );
    refuses_all(
        &home,
        1,
        &[
            (&["backup", "out.bak"], &says),
            (&["remove", "--yes", "node-1"], &says),
            (&["keyrotate", "--yes", "--host", "127.0.0.1:1"], &says),
        ],
    );
    let again = home.run(&["restore", archive]);
    assert!(again.status.success(), "{again:?}");
    assert!(!home.state().join("restore-in-progress").exists());
    let backup = home.run(&["backup", "out.bak"]);
    assert!(backup.status.success(), "{backup:?}");
}

/// On a diskless control restore saves its files with `lbu commit`: when
/// that failed, restore printed so and exited 0, as if the restore would
/// outlive a reboot. It is exit 1 now.
#[test]
fn a_restore_whose_lbu_commit_fails_is_exit_1() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new("restorelbu");
    let archive = archive_with_a_cluster_key(&home);
    home.0.write("bin/lbu", "#!/bin/sh\nexit 1\n");
    let lbu = home.0.path("bin/lbu");
    std::fs::set_permissions(&lbu, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", home.0.path("bin").display());
    // On a disk root a change is kept whatever lbu says: rccr runs as on
    // Alpine from RAM, `/` a tmpfs in /proc/mounts (a mount namespace of
    // its own, paths still resolving in this machine's tree).
    let ram_root = format!(
        "#!/bin/sh\nexec unshare --mount /bin/sh -c 'mount -t tmpfs rccr-ram / && exec \"$@\"' sh {RCCR} \"$@\"\n"
    );
    home.0.write("bin/rccr-ram-root", &ram_root);
    let wrapper = home.0.path("bin/rccr-ram-root");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = home
        .command_of(
            wrapper.to_str().unwrap(),
            &["restore", archive.to_str().unwrap()],
            home.state().as_os_str(),
        )
        .env("PATH", path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.ends_with("rccr restore: lbu commit failed: the cluster key will be lost at reboot; run lbu commit by hand\n"), "{err}");
}

/// An archive in `home` of a cluster key and two nodes, the control and
/// `ReCyClusteR-Target-0a0b0c` at 10.0.0.5.
fn archive_with_a_target(home: &Home) -> PathBuf {
    let cluster = std::fs::read(ed25519_key(home, "k1", &[])).unwrap();
    let nodes = "10.0.0.1\t-\tcontrol\tcontrol\t-\t-\n\
                 10.0.0.5\t-\tReCyClusteR-Target-0a0b0c\ttarget\tx86_64\t-\t-\n";
    archive(
        home,
        "archive",
        &[("cluster_key", cluster), ("nodes", nodes.into())],
    )
}

/// Restores `archive` ([`archive_with_a_target`]) twice, at `port`, over
/// a block an earlier run wrote after the operator's lines, which has the
/// archive's node at port 2222 under a name it no longer has, and a node
/// the archive does not hold: the block names the restored cluster key
/// (`key`) for the archive's node alone, by its name, at `port`, and the
/// operator's lines stay.
fn restore_renames_the_block(home: &Home, archive: &Path, key: &Path, port: u16) {
    let begin = "# BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost";
    let config = home.0.path(".ssh/config");
    home.0.write(
        ".ssh/config",
        format!(
            "Host laptop\n  User me\n{begin}\nHost 10.0.0.9 gone\n    IdentityFile \"/old\"\n\
             Host 10.0.0.5 web1\n    Port 2222\n    IdentityFile \"/old\"\n# END rccr\n"
        ),
    );
    chmod(&config, 0o600);
    if port != 22 {
        home.0
            .write("cluster_config.yml", format!("ssh:\n  port: {port}\n"));
    }
    let port_line = match port {
        22 => String::new(),
        _ => format!("    Port {port}\n"),
    };
    for _ in 0..2 {
        let out = home.run(&["restore", archive.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            format!(
                "Host laptop\n  User me\n{begin}\n\
                 Host 10.0.0.5 ReCyClusteR-Target-0a0b0c recycluster-target-0a0b0c\n\
                 {port_line}    IdentityFile \"{}\"\n# END rccr\n",
                key.display()
            )
        );
    }
}

/// A cluster key restored beside the operator's own key (in the state
/// directory, as ~/.ssh/id_ed25519 is taken) was named nowhere: plain
/// `ssh root@NODE`, and the docker context, offered only the operator's
/// key and were refused. Restore names it for the nodes in rccr's block of
/// ~/.ssh/config, as keyrotate does, each node by its address and its
/// hostname, as setup names them; the operator's lines stay.
#[test]
fn a_cluster_key_restored_beside_the_operators_own_is_named_for_ssh() {
    let home = Home::with_ssh_dir("restoressh");
    ed25519_key(&home, ".ssh/id_ed25519", &[]);
    let archive = archive_with_a_target(&home);
    restore_renames_the_block(&home, &archive, &home.state().join("cluster_key"), 22);
}

/// At OpenSSH's default key path and port 22 restore left rccr's block of
/// ~/.ssh/config as it was: the names and the key of the cluster it
/// named before, so `ssh root@gone` still went out with that key, and
/// `ssh root@NODE` offered the old key only; then it renamed the nodes
/// but kept the block's ports and other addresses, so `ssh root@NODE` went
/// to a port the restored config does not name. The block follows the
/// restored key, port and nodes, as at any other path; without a block
/// there is nothing to write.
#[test]
fn a_restore_at_the_default_key_path_renames_the_nodes_of_an_earlier_block() {
    let home = Home::with_ssh_dir("restoredefault");
    let archive = archive_with_a_target(&home);
    let out = home.run(&["restore", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        !home.0.path(".ssh/config").exists(),
        "a block nothing needs was written"
    );
    restore_renames_the_block(&home, &archive, &home.0.path(".ssh/id_ed25519"), 22);
}

/// A restore at a port other than 22 names it for the archive's node in
/// an earlier block, which had the node at another port, and drops the
/// address of a node the archive does not hold.
#[test]
fn a_restore_at_another_port_moves_an_earlier_blocks_node_there() {
    let home = Home::with_ssh_dir("restoreport");
    let archive = archive_with_a_target(&home);
    restore_renames_the_block(&home, &archive, &home.0.path(".ssh/id_ed25519"), 2200);
}

/// Restore wrote the archive's keys over this control's: the cluster key
/// in the state directory (where it lives when ~/.ssh's default path holds
/// the operator's own key) was replaced by an older backup's, and the
/// nodes, which take only the current one, locked rccr out. Restore said
/// only where it put the archive's key. Another key is now refused (exit
/// 3, nothing written) unless --force, which keeps it aside; the same
/// archive restores again, as often as it is run.
#[test]
fn restore_keeps_this_controls_other_cluster_key_unless_forced() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::with_ssh_dir("restoreover");
    let operator = ed25519_key(&home, ".ssh/id_ed25519", &[]);
    let operator = std::fs::read(operator).unwrap();
    let key = |name: &str| std::fs::read(ed25519_key(&home, name, &[])).unwrap();
    let (older, current) = (key("k1"), key("k2"));
    let archive_of = |name: &str, cluster: &[u8]| {
        let path = archive(&home, name, &[("cluster_key", cluster.to_vec())]);
        path.to_str().unwrap().to_string()
    };
    let (old_backup, new_backup) = (archive_of("old", &older), archive_of("new", &current));
    let in_state = home.state().join("cluster_key");
    let restore =
        |archive: &str, extra: &[&str]| home.run(&[&["restore", archive][..], extra].concat());
    for _ in 0..2 {
        let out = restore(&new_backup, &[]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read(&in_state).unwrap(), current);
    }
    // The same key written anew (ssh-keygen -c: another comment) is no
    // other key.
    let mut renamed = ssh_key::PrivateKey::from_openssh(&current).unwrap();
    renamed.set_comment("renamed@control");
    let renamed = renamed.to_openssh(ssh_key::LineEnding::LF).unwrap();
    std::fs::write(&in_state, renamed.as_bytes()).unwrap();
    let out = restore(&new_backup, &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&in_state).unwrap(), current);
    let before = left_in(&home.state());
    let says = format!(
        "rccr restore: {}: holds another cluster key than the archive's",
        in_state.display()
    );
    home_refuses(&home, &["restore", &old_backup], 3, &says);
    home_refuses(&home, &["restore", &old_backup], 3, "give --force");
    assert_eq!(std::fs::read(&in_state).unwrap(), current);
    assert_eq!(left_in(&home.state()), before);
    // Its public half, as keyrotate leaves it, goes aside with it.
    let public = std::fs::read(home.0.path("k2.pub")).unwrap();
    std::fs::write(home.state().join("cluster_key.pub"), &public).unwrap();
    for _ in 0..2 {
        let out = restore(&old_backup, &["--force"]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(std::fs::read(&in_state).unwrap(), older);
    }
    let aside = home.state().join("cluster_key.before-restore");
    assert_eq!(std::fs::read(&aside).unwrap(), current);
    let moved = home.state().join("cluster_key.before-restore.pub");
    assert_eq!(std::fs::read(moved).unwrap(), public);
    assert!(!home.state().join("cluster_key.pub").exists());
    let mode = std::fs::metadata(&aside).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read(home.0.path(".ssh/id_ed25519")).unwrap(),
        operator
    );
    let out = restore(&old_backup, &[]);
    assert!(out.status.success(), "{out:?}");

    // The cluster key at ~/.ssh's default path, which restore does not
    // write over: the archive's would go to the state directory and
    // become the key rccr logs in with.
    let home = Home::with_ssh_dir("restoreaway");
    let archive = |name: &str, cluster: &[u8]| {
        let path = self::archive(&home, name, &[("cluster_key", cluster.to_vec())]);
        path.to_str().unwrap().to_string()
    };
    let (old_backup, new_backup) = (archive("old", &older), archive("new", &current));
    let out = home.run(&["restore", &new_backup]);
    assert!(out.status.success(), "{out:?}");
    let default = home.0.path(".ssh/id_ed25519");
    assert_eq!(std::fs::read(&default).unwrap(), current);
    let says = format!(
        "rccr restore: {}: this control's cluster key, not the archive's",
        default.display()
    );
    home_refuses(&home, &["restore", &old_backup], 3, &says);
    // Both keys recorded as rccr's, as keyrotate records them.
    let fingerprint = |key: &[u8]| {
        let key = ssh_key::PrivateKey::from_openssh(key).unwrap();
        key.fingerprint(Default::default()).to_string()
    };
    let records = home.state().join("keys");
    let record = |key: &[u8]| format!("cluster {}\n", fingerprint(key));
    std::fs::write(&records, record(&current)).unwrap();
    let old_backup = self::archive(
        &home,
        "old-recorded",
        &[
            ("cluster_key", older.clone()),
            ("keys", record(&older).into_bytes()),
        ],
    );
    let out = home.run(&["restore", old_backup.to_str().unwrap(), "--force"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&default).unwrap(), current);
    assert_eq!(
        std::fs::read(home.state().join("cluster_key")).unwrap(),
        older
    );
    // The key left out of use is no longer rccr's: recorded, keyrotate
    // took it up as the cluster key at its default path again.
    assert_eq!(std::fs::read_to_string(&records).unwrap(), record(&older));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("nor recorded as rccr's"), "{said}");
}

/// The archive's cluster key at `~/.ssh`'s default path written anew
/// (`ssh-keygen -c`: another comment) is the same key, as everywhere else
/// in restore: it went to the state directory as a second copy, and an
/// rccr block in `~/.ssh/config` named it for the nodes.
#[test]
fn a_restore_over_its_own_key_written_anew_at_the_default_path_adds_no_copy() {
    let home = Home::with_ssh_dir("restorerecomment");
    let default = home.0.path(".ssh/id_ed25519");
    let key = std::fs::read(ed25519_key(&home, ".ssh/id_ed25519", &[])).unwrap();
    let mut renamed = ssh_key::PrivateKey::from_openssh(&key).unwrap();
    renamed.set_comment("renamed@control");
    let renamed = renamed.to_openssh(ssh_key::LineEnding::LF).unwrap();
    std::fs::write(&default, renamed.as_bytes()).unwrap();
    let path = archive(&home, "same", &[("cluster_key", key.clone())]);
    let restore = || {
        let out = home.run(&["restore", path.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = restore();
    assert!(!home.state().join("cluster_key").exists(), "{err}");
    assert!(!home.0.path(".ssh/config").exists(), "{err}");
    assert_eq!(std::fs::read(&default).unwrap(), key, "{err}");
    // With a passphrase (ssh-keygen -p) it is the operator's to keep:
    // the archive's goes beside it, as before.
    let locked = Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", "", "-N", "a passphrase", "-f"])
        .arg(&default)
        .output()
        .unwrap();
    assert!(locked.status.success(), "{locked:?}");
    let locked = std::fs::read(&default).unwrap();
    assert!(ssh_key::PrivateKey::from_openssh(&locked)
        .unwrap()
        .is_encrypted());
    let err = restore();
    assert_eq!(std::fs::read(&default).unwrap(), locked, "{err}");
    let beside = std::fs::read(home.state().join("cluster_key"));
    assert_eq!(beside.ok(), Some(key), "{err}");
}

/// `restore --force` over an unfinished rekey left the rotation's new key
/// at `STATE/new_key` "(no longer in use)" and replaced the key records
/// with the archive's, which did not list it: the next `keyrotate
/// --rekey` took the staged path for free and wrote a new key over the
/// only copy of the key the moved nodes take. The staged key now goes
/// aside (`new_key.before-restore`, which nothing in rccr writes), the
/// records keep it, and the refusal says to back this control up first.
#[test]
fn a_forced_restore_over_an_unfinished_rekey_keeps_its_new_key_and_its_record() {
    let home = Home::with_ssh_dir("restorerekey");
    let state = home.state();
    let key = |name: &str| std::fs::read(ed25519_key(&home, name, &[])).unwrap();
    let fingerprint = |bytes: &[u8]| {
        let key = ssh_key::PrivateKey::from_openssh(bytes).unwrap();
        key.fingerprint(Default::default()).to_string()
    };
    let old = key(".ssh/id_ed25519");
    let new = key("state/new_key");
    std::fs::copy(home.0.path(".ssh/id_ed25519"), state.join("previous_key")).unwrap();
    let records = |keys: &[&[u8]]| -> String {
        keys.iter()
            .map(|k| format!("cluster {}\n", fingerprint(k)))
            .collect()
    };
    home.0.write("state/keys", records(&[&old, &new]));
    chmod(&state.join("keys"), 0o600);
    let journal = format!(
        "rotation r1\nnew-key {}\nold-key {}\nnode 10.0.0.2:22 rotated\n",
        state.join("new_key").display(),
        state.join("previous_key").display()
    );
    home.0.write("state/rotation.journal", &journal);
    chmod(&state.join("rotation.journal"), 0o600);
    let path = archive(
        &home,
        "older",
        &[
            ("cluster_key", old.clone()),
            ("keys", records(&[&old]).into_bytes()),
        ],
    );
    let args = ["restore", path.to_str().unwrap()];
    let says = format!(
        "{}: an unfinished key rotation the archive does not carry",
        state.join("rotation.journal").display()
    );
    home_refuses(&home, &args, 3, &says);
    home_refuses(&home, &args, 3, "back this control up (rccr backup FILE)");
    let out = home.run(&[&args[..], &["--force"]].concat());
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    // The staged key is kept where nothing writes, with its public half.
    let aside = state.join("new_key.before-restore");
    assert_eq!(
        std::fs::read(&aside).ok().as_deref(),
        Some(&new[..]),
        "{err}"
    );
    assert!(state.join("new_key.before-restore.pub").is_file(), "{err}");
    assert!(!state.join("new_key").exists(), "{err}");
    assert!(
        err.contains(&format!("kept as {}", aside.display())),
        "{err}"
    );
    // The records still know it as the cluster key rccr made, and the
    // archive's are there too.
    let kept = std::fs::read_to_string(state.join("keys")).unwrap();
    assert_eq!(kept, records(&[&old, &new]), "{err}");
    assert_eq!(std::fs::read(home.0.path(".ssh/id_ed25519")).unwrap(), old);
    // The same archive again replaces nothing.
    let out = home.run(&args);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(state.join("keys")).unwrap(), kept);
}

/// Two clusters' inventories: A (the archive's) and B (this control's).
const NODES_A: &str = "10.0.0.1\t-\tcontrol\tcontrol\t-\t-\t-\n";
const NODES_B: &str = "10.9.0.1\t-\tother\tcontrol\t-\t-\n\
                       10.9.0.5\t-\tReCyClusteR-Target-0b0b0b\ttarget\tx86_64\t-\t-\n";

/// An archive in `home` of cluster A: a cluster key and [`NODES_A`].
fn archive_of_cluster_a(home: &Home) -> String {
    let key = std::fs::read(ed25519_key(home, "k1", &[])).unwrap();
    let path = archive(
        home,
        "a.bak",
        &[("cluster_key", key), ("nodes", NODES_A.into())],
    );
    path.to_str().unwrap().to_string()
}

/// Restore wrote the archive's inventory, swarm record, last-rotation
/// and config over this control's, keeping nothing even with --force, and
/// an archive of another cluster over a control that had an inventory but
/// no keys yet replaced it with no refusal. Another inventory is refused
/// now (exit 3, nothing written) unless --force, which keeps each of those
/// files aside, as it keeps keys, and says where; the same archive
/// restores again.
#[test]
fn a_forced_restore_keeps_this_controls_other_inventory_aside() {
    let home = Home::new("restorenodes");
    let state = home.state();
    home.0.write("state/nodes", NODES_B);
    home.0.write("state/last-rotation", "rotation b1\n");
    for file in ["nodes", "last-rotation"] {
        chmod(&state.join(file), 0o600);
    }
    let archive = archive_of_cluster_a(&home);
    let args = ["restore", archive.as_str()];
    let says = format!(
        "rccr restore: {}: holds nodes the archive's inventory lacks",
        state.join("nodes").display()
    );
    home_refuses(&home, &args, 3, &says);
    home_refuses(
        &home,
        &args,
        3,
        "back this control up (rccr backup FILE), then give --force",
    );
    nothing_written(&home, &["last-rotation", "nodes"]);
    let out = home.run(&[&args[..], &["--force"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for (file, was) in [("nodes", NODES_B), ("last-rotation", "rotation b1\n")] {
        let aside = state.join(format!("{file}.before-restore"));
        assert_eq!(
            std::fs::read_to_string(&aside).ok().as_deref(),
            Some(was),
            "{err}"
        );
        assert!(
            err.contains(&format!("kept as {}", aside.display())),
            "{err}"
        );
    }
    let nodes = std::fs::read_to_string(state.join("nodes")).unwrap();
    assert!(nodes.ends_with(NODES_A), "{nodes}");
    // The same archive again replaces nothing, and keeps nothing more.
    let before = left_in(&state);
    for extra in [&[][..], &["--force"]] {
        let out = home.run(&[&args[..], extra].concat());
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("kept as"), "{err}");
        assert_eq!(left_in(&state), before);
    }
}

/// An inventory with no node but this control carries nothing a node
/// depends on: review restorekeep, F2, found it refused as another
/// cluster's. It is written over, as before, without --force.
#[test]
fn a_restore_over_an_inventory_of_this_control_only_is_not_refused() {
    let home = Home::new("restorenodesown");
    let state = home.state();
    home.0
        .write("state/nodes", "10.9.0.1\t-\tother\tcontrol\t-\t-\n");
    chmod(&state.join("nodes"), 0o600);
    let archive = archive_of_cluster_a(&home);
    let out = home.run(&["restore", archive.as_str()]);
    assert!(out.status.success(), "{out:?}");
    let nodes = std::fs::read_to_string(state.join("nodes")).unwrap();
    assert!(nodes.ends_with(NODES_A), "{nodes}");
}

/// A forced restore killed after its marker, where only files a plain
/// restore writes over differed (review restorekeep, F1): its marker
/// named a plain restore as the way on, which wrote over what --force had
/// promised to keep. The way on it names is forced.
#[test]
fn a_forced_restore_stopped_part_way_is_finished_by_a_forced_one() {
    let home = Home::new("restoreforcedkilled");
    let state = home.state();
    home.0.write("state/last-rotation", "rotation b1\n");
    chmod(&state.join("last-rotation"), 0o600);
    let archive = archive_of_cluster_a(&home);
    let args = ["restore", "--force", &archive];
    killed_after_the_keys(&home, &args, "cli-restoreforced-fp");
    let says = format!("run rccr restore --force {archive} again");
    refuses_all(&home, 1, &[(&["backup", "out.bak"], &says)]);
    let aside = state.join("last-rotation.before-restore");
    assert_eq!(std::fs::read_to_string(aside).unwrap(), "rotation b1\n");
}

/// A control with the operator's key at `~/.ssh`'s default path and its
/// own cluster key in the state directory, which the archive's
/// ([`archive_of_cluster_a`]) replaces: the home and that key's bytes.
fn control_with_its_own_cluster_key(tag: &str) -> (Home, Vec<u8>) {
    let home = Home::with_ssh_dir(tag);
    ed25519_key(&home, ".ssh/id_ed25519", &[]);
    let current = std::fs::read(ed25519_key(&home, "state/cluster_key", &[])).unwrap();
    (home, current)
}

/// Where restore --force keeps a file aside was worked out only as it
/// moved it, after its first write: a directory at that name stopped it
/// there, and every run again at the same place. It is refused now
/// before anything is written.
#[test]
fn a_forced_restore_that_cannot_keep_a_file_aside_writes_nothing() {
    let (home, current) = control_with_its_own_cluster_key("restoreasidedir");
    let state = home.state();
    std::fs::create_dir(state.join("cluster_key.before-restore")).unwrap();
    let archive = archive_of_cluster_a(&home);
    let before = left_in(&state);
    // A plain restore refuses first (review restorekeep, F3: it failed on
    // the name --force would use, and said nothing of --force).
    home_refuses(
        &home,
        &["restore", archive.as_str()],
        3,
        "then give --force",
    );
    assert_eq!(left_in(&state), before);
    let args = ["restore", archive.as_str(), "--force"];
    let out = home.run(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let says = format!(
        "move {} away",
        state.join("cluster_key.before-restore").display()
    );
    assert!(err.contains(&says), "{err}");
    assert_eq!(left_in(&state), before, "{err}");
    assert_eq!(std::fs::read(state.join("cluster_key")).unwrap(), current);
    // Moved away, the same restore goes through.
    std::fs::remove_dir(state.join("cluster_key.before-restore")).unwrap();
    let out = home.run(&args);
    assert!(out.status.success(), "{out:?}");
    let aside = std::fs::read(state.join("cluster_key.before-restore")).unwrap();
    assert_eq!(aside, current);
}

/// A stale public half at the name restore --force keeps a key under,
/// its private key gone (moved by hand, or left by an older rccr's
/// rekey), was written over by the key's own (review restorekeep, F5):
/// the key and its half go to the next name, the stale half stays. A key
/// without a half went beside the stale one (review today1, F2): ssh -i
/// took it for its half ("private key does not match public").
#[test]
fn a_forced_restore_keeps_a_stale_public_half_at_its_aside_name() {
    for (tag, with_half) in [("restorestalehalf", true), ("restorenohalf", false)] {
        let (home, current) = control_with_its_own_cluster_key(tag);
        let state = home.state();
        let public = std::fs::read(state.join("cluster_key.pub")).unwrap();
        if !with_half {
            std::fs::remove_file(state.join("cluster_key.pub")).unwrap();
        }
        let stale = state.join("cluster_key.before-restore.pub");
        std::fs::write(&stale, "ssh-ed25519 AAAA stale\n").unwrap();
        let archive = archive_of_cluster_a(&home);
        let out = home.run(&["restore", archive.as_str(), "--force"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{tag}: {err}");
        let kept = std::fs::read_to_string(&stale).ok();
        assert_eq!(
            kept.as_deref(),
            Some("ssh-ed25519 AAAA stale\n"),
            "{tag}: {err}"
        );
        let aside = state.join("cluster_key.before-restore.2");
        assert_eq!(std::fs::read(&aside).ok(), Some(current), "{tag}: {err}");
        let half = std::fs::read(state.join("cluster_key.before-restore.2.pub"));
        assert_eq!(half.ok(), with_half.then_some(public), "{tag}: {err}");
        let first = state.join("cluster_key.before-restore");
        assert!(!first.exists(), "{tag}: {err}");
    }
}

/// With RCCR_CLUSTER_KEY naming another key than the archive's, restore
/// --force moved that key aside and wrote its old path into inventory.ini
/// and ~/.ssh/config: rccr logged in with a key no longer there. It is
/// refused, with nothing written. A copy of the archive's key is no other
/// key.
#[test]
fn a_restore_under_another_rccr_cluster_key_is_refused() {
    let home = Home::with_ssh_dir("restoreenvkey");
    let state = home.state();
    ed25519_key(&home, ".ssh/id_ed25519", &[]);
    let key = ed25519_key(&home, "mine", &[]);
    let archive = archive_of_cluster_a(&home);
    let before = left_in(&state);
    for extra in [&[][..], &["--force"]] {
        let out = restore_under(&home, &key, &archive, extra);
        let says = format!(
            "rccr restore: RCCR_CLUSTER_KEY names {key}, not the archive's cluster key: unset it, then restore"
        );
        assert_refused(&["restore"], &out, 3, &says);
        assert_eq!(left_in(&state), before);
    }
    let out = restore_under(&home, home.0.path("k1"), &archive, &[]);
    assert!(out.status.success(), "{out:?}");
}

/// `rccr restore ARCHIVE EXTRA` in `home` with `RCCR_CLUSTER_KEY` set to `key`.
fn restore_under(
    home: &Home,
    key: impl AsRef<std::ffi::OsStr>,
    archive: &str,
    extra: &[&str],
) -> Output {
    home.command(
        &[&["restore", archive][..], extra].concat(),
        home.state().as_os_str(),
    )
    .env("RCCR_CLUSTER_KEY", key)
    .output()
    .unwrap()
}

/// A freshly flashed control whose profile exports RCCR_CLUSTER_KEY as
/// the path the archive's cluster key is restored to was refused with
/// "no such file: give the path of a private key" (review restorekeep,
/// F4): the key is not there before restore writes it. It restores now.
/// Any other path that names no key is refused (exit 3, nothing
/// written), saying to unset the variable. The cluster key this control
/// has in its state directory is refused as it is without the variable,
/// whatever key the variable names.
#[test]
fn a_restore_under_rccr_cluster_key_naming_where_it_restores_the_key_goes_through() {
    let home = Home::with_ssh_dir("restoreenvnew");
    let state = home.state();
    let archive = archive_of_cluster_a(&home);
    let missing = home.0.path("no-key");
    let default = home.0.path(".ssh/id_ed25519");
    let own = ed25519_key(&home, "state/cluster_key", &[]);
    let before = left_in(&state);
    let says = format!("rccr restore: {own}: holds another cluster key than the archive's");
    let missing_says = format!(
        "rccr restore: RCCR_CLUSTER_KEY {}: no such file: unset it, then restore",
        missing.display()
    );
    // A copy of the archive's key is no way past it either (review
    // today1, F1: it went through, and nodes that take only the control's
    // own key were left behind it, with no word).
    let copy = home.0.path("k1");
    for (key, says) in [(&default, &says), (&missing, &missing_says), (&copy, &says)] {
        let out = restore_under(&home, key, &archive, &[]);
        assert_refused(&["restore"], &out, 3, says);
        assert_eq!(left_in(&state), before);
    }
    std::fs::remove_file(&own).unwrap();
    assert!(!default.exists());
    let out = restore_under(&home, &default, &archive, &[]);
    assert!(out.status.success(), "{out:?}");
    let key = std::fs::read(home.0.path("k1")).unwrap();
    assert_eq!(std::fs::read(&default).ok(), Some(key));
}

/// Restore checks that it can write every file it restores before it
/// writes the first: an archive carrying a config, restored by a user who
/// cannot create /etc/rccr (uid 65534 here), wrote the cluster key,
/// last-rotation and known_hosts, then stopped at "cannot create
/// /etc/rccr" with half a restore on disk.
#[test]
fn restore_that_cannot_write_the_config_writes_nothing() {
    let home = Home::new("restoreconfig");
    if !give_to_another_user(&home.0 .0) {
        return;
    }
    if Path::new(SYSTEM_CONFIG).exists() {
        skip::skip(&format!(
            "{SYSTEM_CONFIG} exists: this test would restore over it"
        ));
        return;
    }
    let setpriv = "/usr/bin/setpriv";
    if !Path::new(setpriv).exists() {
        skip::skip("needs setpriv to drop to another user");
        return;
    }
    let key = std::fs::read(ed25519_key(&home, "cluster_key", &[])).unwrap();
    let config = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/cluster_config.yml")).unwrap();
    let archive = archive(
        &home,
        "archive",
        &[("cluster_key", key), ("config", config)],
    );
    for path in [home.state(), home.0.path("archive")] {
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    }
    let args = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        RCCR,
        "restore",
        archive.to_str().unwrap(),
    ];
    let out = home
        .command_of(setpriv, &args, home.state().as_os_str())
        .output()
        .unwrap();
    assert_refused(&args, &out, 1, "cannot create /etc/rccr: Permission denied");
    nothing_written(&home, &[]);
    assert!(!Path::new(SYSTEM_CONFIG).exists());
}

/// Where restore writes an archive's config.
const SYSTEM_CONFIG: &str = "/etc/rccr/cluster_config.yml";

/// A file named for rccr to read that is missing, a directory or a device
/// is bad input (exit 3) in every command, named as given with what to
/// give instead, as a key file always was. `--config`, `--hosts-file`,
/// `--since` and restore's FILE said "cannot read PATH: No such file or
/// directory (os error 2)" with exit 1, and `--known-hosts /dev/zero` read
/// until memory ran out. An empty name is a usage error, as `--state-dir
/// ''` is: it was "cannot read : No such file...", or for backup '' the
/// archive was made and then "cannot write : ...".
#[test]
fn an_input_file_that_is_no_file_is_exit_3_everywhere() {
    let home = Home::new("inputfile");
    let sweep: &[&str] = &["--subnet", "10.255.255.0/30"];
    let node: &[&str] = &["--host", "10.255.255.1", "--timeout", "1"];
    // Each command with PATH where the file goes, and what it says of a
    // PATH that IS no file.
    let commands: [(Vec<&str>, &str); 10] = [
        (
            vec!["status", "--config", "PATH"],
            "--config PATH: IS: give the path of a cluster_config.yml",
        ),
        (
            [&["setup", "--dry-run", "--config", "PATH"][..], sweep].concat(),
            "--config PATH: IS: ",
        ),
        (
            [&["scan", "--config", "PATH"][..], sweep].concat(),
            "--config PATH: IS: ",
        ),
        (
            vec!["backup", "out", "--config", "PATH"],
            "--config PATH: IS: ",
        ),
        (
            vec!["remove", "x", "--yes", "--config", "PATH"],
            "--config PATH: IS: ",
        ),
        (
            vec!["keyrotate", "--yes", "--hosts-file", "PATH"],
            "--hosts-file PATH: IS: give a file with one node address per line",
        ),
        (
            vec!["keys", "status", "--hosts-file", "PATH"],
            "--hosts-file PATH: IS: ",
        ),
        (
            [&["scan", "--filter", "x", "--since", "PATH"][..], sweep].concat(),
            "--since PATH: IS: give the file rccr scan --save wrote",
        ),
        (
            vec!["restore", "PATH"],
            "PATH: IS: give the file rccr backup wrote",
        ),
        (
            [&["keys", "status", "--known-hosts", "PATH"][..], node].concat(),
            "PATH: cannot be read as known_hosts (IS): give a file with --known-hosts",
        ),
    ];
    for (command, says) in &commands {
        for (path, is) in [
            ("/nonexistent/rccr-input", "no such file"),
            ("/etc", "a directory"),
            ("/dev/zero", "a device"),
        ] {
            if path.starts_with("/nonexistent") && says.contains("known_hosts") {
                continue; // the first pin makes it
            }
            let args: Vec<&str> = command
                .iter()
                .map(|a| if *a == "PATH" { path } else { a })
                .collect();
            let says = says.replace("PATH", path).replace("IS", is);
            home_refuses(&home, &args, 3, &format!(": {says}"));
        }
    }
    // An empty name, in these and every other option that names a file.
    let empty: [(&[&str], &str); 15] = [
        (&["status", "--config", ""], "--config '': name a file; run"),
        (
            &["setup", "--dry-run", "--config", ""],
            "--config '': name a file; run",
        ),
        (
            &["setup", "--dry-run", "--temp-key", ""],
            "--temp-key '': name a file; run",
        ),
        (&["scan", "--config", ""], "--config '': name a file; run"),
        (&["scan", "--since", ""], "--since '': name a file; run"),
        (&["scan", "--save", ""], "--save '': name a file; run"),
        (
            &["scan", "--ssh-names", "--key", ""],
            "--key '': name a file; run",
        ),
        (
            &["backup", ""],
            "FILE '': name a file (or - for stdout); run",
        ),
        (
            &["backup", "out", "--config", ""],
            "--config '': name a file",
        ),
        (
            &["restore", ""],
            "FILE '': name a file (or - for stdin); run",
        ),
        (
            &["remove", "x", "--config", ""],
            "--config '': name a file; run",
        ),
        (
            &["keyrotate", "--hosts-file", ""],
            "--hosts-file '': name a file; run",
        ),
        (
            &["keyrotate", "--from-key", ""],
            "--from-key '': name a file; run",
        ),
        (
            &["keys", "status", "--hosts-file", ""],
            "--hosts-file '': name a file; run",
        ),
        (&["keygen", "-f", ""], "-f '': name a file; run"),
    ];
    for (args, says) in empty {
        let command = if args[0] == "keys" {
            "keys status"
        } else {
            args[0]
        };
        home_refuses(&home, args, 2, &format!("rccr {command}: {says}"));
    }
}

/// A state directory that is a file (or under one) is refused as bad
/// input naming where it came from. It was "cannot create PATH: File
/// exists (os error 17)" (exit 1) in the commands that write, and "cannot
/// read PATH/nodes: Not a directory" in the others.
#[test]
fn a_state_dir_that_is_no_directory_is_refused() {
    let home = Home::new("statefile");
    home.0.write("afile", "");
    for dir in ["afile", "afile/state"] {
        let path = home.0.path(dir);
        let path = path.to_str().unwrap();
        for command in STATE_COMMANDS {
            let out = home.run_with_state_dir(command, path.as_ref());
            assert_refused(
                command,
                &out,
                3,
                &format!("RCCR_STATE_DIR={path}: not a directory: name a directory"),
            );
            let args = [command, &["--state-dir", path][..]].concat();
            home_refuses(
                &home,
                &args,
                3,
                &format!("--state-dir {path}: not a directory: name a directory"),
            );
        }
    }
}

/// An argument that is not UTF-8 is a usage error naming it (its bytes
/// escaped) and what to do. It said only "argument is not valid UTF-8: ?".
#[test]
fn an_argument_that_is_not_utf8_is_named() {
    use std::os::unix::ffi::OsStrExt;
    let home = Home::new("utf8");
    let bad = std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9");
    let out = home
        .command(&["restore"], home.state().as_os_str())
        .arg(bad)
        .output()
        .unwrap();
    assert_refused(
        &["restore", "/tmp/caf\\xe9"],
        &out,
        2,
        "rccr: argument 2, '/tmp/caf\\xe9', is not UTF-8: rccr takes only UTF-8 arguments; give the name in UTF-8 (rename the file if need be)",
    );
}

/// The flags of `rccr WORDS`, each with its other names: the options its
/// list of options shows (`-q, --quiet`) and its usage line, and
/// -h/--help.
fn usage_flags(words: &[&str]) -> Vec<Vec<String>> {
    let help = usage_help(words);
    let mut flags: Vec<Vec<String>> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .map(|line| {
            let names = line.split_whitespace().take_while(|t| t.starts_with('-'));
            names.filter_map(flag_of).collect()
        })
        .collect();
    flags.push(vec!["-h".into(), "--help".into()]);
    let usage = help.lines().next().unwrap_or_default();
    for flag in usage
        .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
        .filter_map(flag_of)
    {
        if !flags.iter().flatten().any(|f| *f == flag) {
            flags.push(vec![flag]);
        }
    }
    flags
}

/// What `rccr WORDS --help` prints.
fn usage_help(words: &[&str]) -> String {
    let out = Command::new(RCCR)
        .args(words)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{words:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `token` as a flag (`--name`, `-f`), without what follows it (`=`,
/// punctuation); `None` when it is no flag (`-`, `-1`, a word).
fn flag_of(token: &str) -> Option<String> {
    let name = token
        .strip_prefix("--")
        .or_else(|| token.strip_prefix('-'))?;
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let end = name
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(name.len());
    Some(token[..token.len() - name.len() + end].to_string())
}

/// The code in a Markdown text: each inline span, and each line of a
/// fenced block with the lines indented deeper that continue it.
fn code_snippets(markdown: &str) -> Vec<String> {
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut snippets = Vec::new();
    let mut prose = String::new();
    let mut fence: Option<usize> = None;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fence = fence.xor(Some(indent(line)));
        } else if fence.is_none() {
            prose.push_str(line);
            prose.push(' ');
        } else if fence.is_some_and(|at| indent(line) > at) && !snippets.is_empty() {
            let last: &mut String = snippets.last_mut().unwrap();
            last.push(' ');
            last.push_str(line.trim());
        } else {
            snippets.push(line.to_string());
        }
    }
    snippets.extend(prose.split('`').skip(1).step_by(2).map(String::from));
    snippets
}

/// Every flag of every command is in README.md or docs/, and every flag
/// any document gives an rccr command (`rccr setup --expect 4`, in a code
/// span or block) is one it takes. `rccr-init --issue-only`, `rccr keys status
/// --port`/`--user` and `rccr setup --no-playbooks` were in no document.
#[test]
fn the_docs_and_the_commands_name_the_same_flags() {
    let text = text_of(&operator_docs());
    // Every command's words, as the docs write them, and its flags.
    let mut commands: Vec<(Vec<&str>, Vec<Vec<String>>)> = vec![(vec![], usage_flags(&[]))];
    for flag in ["--list", "--install", "-s", "--licenses"] {
        commands[0].1.push(vec![flag.into()]);
    }
    commands[0].1.push(vec!["--version".into(), "-V".into()]);
    // The commands `rccr --help` lists; `keys` is its subcommands'.
    let top = usage_help(&[]);
    let listed = top
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next();
    for command in listed
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        if command != "keys" {
            commands.push((vec![command], usage_flags(&[command])));
        }
    }
    for sub in ["gen", "rotate", "status"] {
        commands.push((vec!["keys", sub], usage_flags(&["keys", sub])));
    }
    let mut missing = Vec::new();
    let in_docs = |flag: &String| {
        text.match_indices(flag.as_str()).any(|(at, _)| {
            !text[at + flag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
        })
    };
    for (words, flags) in &commands {
        for names in flags
            .iter()
            .filter(|names| !names.iter().any(|n| n == "--help"))
        {
            if !names.iter().any(in_docs) {
                missing.push(format!("rccr {} {}", words.join(" "), names.join(", ")));
            }
        }
    }
    assert!(missing.is_empty(), "in no document: {missing:?}");
    // The flags the docs give rccr's commands.
    let links = [
        ("rccr-scan", "scan"),
        ("rccr-keys", "keys"),
        ("rccr-init", "init"),
    ];
    let mut unknown = Vec::new();
    for snippet in all_docs()
        .iter()
        .flat_map(|p| code_snippets(&std::fs::read_to_string(p).unwrap()))
    {
        let tokens: Vec<&str> = snippet.split_whitespace().collect();
        for (at, token) in tokens.iter().enumerate() {
            let mut words: Vec<&str> = match links.iter().find(|(link, _)| token == link) {
                Some((_, command)) => vec![command],
                None if *token == "rccr" => vec![],
                None => continue,
            };
            let mut rest = tokens[at + 1..].iter().copied().peekable();
            if words.is_empty() {
                if let Some(command) =
                    rest.next_if(|w| commands.iter().any(|(c, _)| c.len() == 1 && c[0] == *w))
                {
                    words.push(command);
                }
            }
            if words == ["keys"] {
                match rest.next_if(|w| ["gen", "rotate", "status"].contains(w)) {
                    Some(sub) => words.push(sub),
                    None => continue,
                }
            }
            let Some((_, flags)) = commands.iter().find(|(c, _)| *c == words) else {
                continue;
            };
            for token in rest.take_while(|t| !["|", ";", "&&", "||", "#", "rccr"].contains(t)) {
                if let Some(flag) = flag_of(token.trim_start_matches(['[', '('])) {
                    if !flags.iter().flatten().any(|f| *f == flag) {
                        unknown.push(format!("{snippet:?}: {flag}"));
                    }
                }
            }
        }
    }
    assert!(unknown.is_empty(), "no such flag: {unknown:#?}");
}

/// A key file far larger than any key (a disk image named by mistake) is
/// refused unread. It was read whole: with memory bounded (ulimit -v, as
/// a small control has), the read failed and setup and scan went on to
/// the sweep with no key check, keyrotate exited 1; without a bound it
/// took the machine's memory.
#[test]
fn a_key_file_too_large_to_be_a_key_is_refused_unread() {
    let home = Home::new("bigkey");
    let big = home.0.path("disk.img");
    File::create(&big).unwrap().set_len(64 << 30).unwrap(); // sparse
    let big = big.to_str().unwrap();
    let sweep = ["--subnet", "10.255.255.0/30"];
    for (args, flag) in [
        (
            [&["setup", "--dry-run", "--temp-key", big][..], &sweep].concat(),
            "--temp-key",
        ),
        (
            [&["scan", "--ssh-names", "--key", big][..], &sweep].concat(),
            "--key",
        ),
        (
            vec![
                "keyrotate",
                "--yes",
                "--host",
                "10.255.255.1",
                "--from-key",
                big,
            ],
            "--from-key",
        ),
    ] {
        let limited = ["-c", "ulimit -v 1000000 && exec \"$0\" \"$@\"", RCCR];
        let out = home
            .command_of(
                "sh",
                &[&limited[..], &args].concat(),
                home.state().as_os_str(),
            )
            .output()
            .unwrap();
        assert_refused(
            &args,
            &out,
            3,
            &format!("{flag} {big}: 68719476736 bytes, more than a private key holds: give the path of a private key"),
        );
    }
}

/// `rccr backup -` onto a terminal, or `rccr restore -` from one, is a
/// usage error: the archive's private keys went to the screen (and its
/// scrollback), and restore waited for an archive no one can type.
#[test]
fn backup_and_restore_refuse_a_terminal_for_the_archive() {
    let tools = Command::new("sh")
        .args(["-c", "command -v timeout"])
        .output();
    if !tools.is_ok_and(|o| o.status.success()) {
        skip::skip("needs timeout(1) to bound a rccr that would wait on the terminal");
        return;
    }
    let home = Home::new("tty");
    ed25519_key(&home, "state/cluster_key", &["-C", "rccr-cluster-key"]);
    for (command, says) in [
        ("backup -", "rccr backup: stdout is a terminal, and the archive holds private keys: name a file (rccr backup FILE writes it whole or not at all, 0600; a shell's > FILE empties it first) or send it to a pipe; run"),
        ("restore -", "rccr restore: stdin is a terminal: give the archive on stdin (rccr restore - < FILE), or name its file; run"),
    ] {
        // A terminal for stdin, stdout and stderr; timeout(1) is only the
        // watchdog of a restore that would wait for an archive typed on it.
        let mut args = vec!["60", RCCR];
        args.extend(command.split(' '));
        let out = terminal::run_on_terminal(
            home.command_of("timeout", &args, home.state().as_os_str()),
            b"",
        );
        let screen = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{command}: {screen}");
        assert!(screen.trim_end().starts_with(says), "{command}: {screen}");
        assert!(!screen.contains("PRIVATE KEY"), "{command}: {screen}");
    }
}

/// `rccr backup -` into a regular file (a shell's `> FILE`) syncs it
/// before it reports success, and writes there what it sends down a pipe.
#[test]
fn a_backup_to_stdout_is_the_same_archive_in_a_file_or_a_pipe() {
    let home = Home::new("backupstdout");
    ed25519_key(&home, "state/cluster_key", &["-C", "rccr-cluster-key"]);
    let piped = home.run(&["backup", "-"]);
    assert!(piped.status.success(), "{piped:?}");
    assert!(piped.stdout.starts_with(b"rccr-backup 1\n"), "{piped:?}");
    let file = home.0.path("out.bak");
    let out = home
        .command(&["backup", "-"], home.state().as_os_str())
        .stdout(File::create(&file).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&file).unwrap(), piped.stdout);
}

/// A directory named on the command line that is not there is bad input
/// (exit 3) in every command, as a file is. `rccr init --root` made it a
/// usage error (exit 2), and `--install` did not name its option.
#[test]
fn a_directory_that_is_not_there_is_exit_3_everywhere() {
    let home = Home::new("nodir");
    home.0.write("afile", "");
    let missing = "/nonexistent-rccr-dir";
    refuses_all(
        &home,
        3,
        &[
            (
                &["init", "--root", missing][..],
                "rccr init: --root /nonexistent-rccr-dir: not a directory: ",
            ),
            (
                &["--install", missing],
                "rccr: --install /nonexistent-rccr-dir: not a directory: ",
            ),
            (
                &["--install", "-s", "afile"],
                "rccr: --install afile: not a directory: ",
            ),
            (
                &["keygen", "-f", "/nonexistent-rccr-dir/k"],
                "rccr keygen: -f /nonexistent-rccr-dir/k: /nonexistent-rccr-dir does not exist: ",
            ),
            (
                &["status", "--state-dir", "afile"],
                "rccr status: --state-dir afile: not a directory: ",
            ),
        ],
    );
}

/// An error is one line whatever the input it names holds: a line break
/// or an escape sequence in a path (a name pasted from elsewhere) is shown
/// escaped. `--config $'a\\nb'` made the error two lines.
#[test]
fn an_error_naming_a_line_break_stays_one_line() {
    let home = Home::new("oneline");
    for (input, shown) in [("a\nb", "a\\nb"), ("x\u{1b}[2J\ry", "x\\u{1b}[2J\\ry")] {
        let said = |args: &[&str], says: &str| home_refuses(&home, args, 3, says);
        said(
            &["status", "--config", input],
            &format!("rccr status: --config {shown}: no such file: "),
        );
        said(
            &["restore", input],
            &format!("rccr restore: {shown}: no such file: "),
        );
        said(
            &["remove", "--yes", input],
            &format!("rccr remove: {shown}: not a node of"),
        );
    }
}

/// A file rccr writes is replaced whole (a temporary file renamed over
/// it): over a device, a pipe, a directory or a link to one of them that
/// replaced the device with a regular file. `rccr keygen -f /dev/null
/// --force` or `rccr backup /dev/stdout` as root took /dev/null or
/// /dev/stdout away from the whole machine. Now each is refused, named,
/// and left as it was. (Nodes of the test's own, never /dev's.)
#[test]
fn a_file_to_write_that_is_a_device_or_a_pipe_is_refused_and_kept() {
    use std::os::unix::fs::FileTypeExt;
    let home = Home::new("outdev");
    ed25519_key(&home, "state/cluster_key", &["-C", "rccr-cluster-key"]);
    let made = Command::new("sh")
        .args([
            "-c",
            "mkfifo pipe && mkdir dir && ln -s pipe link && { mknod null c 1 3 || true; }",
        ])
        .current_dir(&home.0 .0)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let kinds = [
        ("pipe", "not a regular file"),
        ("link", "not a regular file"),
        ("dir", "a directory"),
        ("null", "a device"),
    ];
    for (name, is) in kinds {
        let node = home.0.path(name);
        let Ok(before) = std::fs::symlink_metadata(&node) else {
            skip::skip("only root can make a device node");
            continue;
        };
        let path = node.to_str().unwrap();
        for args in [
            &["keygen", "--type", "ed25519", "--force", "-f", path][..],
            // Not "exists: pass --force", which could not help.
            &["keygen", "--type", "ed25519", "-f", path],
            &["backup", path],
        ] {
            let says = format!(": {path}: {is}: rccr writes only whole regular files; name a file");
            home_refuses(&home, args, 3, &says);
            let after = std::fs::symlink_metadata(&node).unwrap().file_type();
            assert_eq!(after, before.file_type(), "{args:?} replaced {path}");
            assert!(
                after.is_fifo() || after.is_symlink() || after.is_dir() || after.is_char_device()
            );
        }
    }
}

/// The repository's root.
fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The operator's documents: README.md and docs/*.md.
fn operator_docs() -> Vec<PathBuf> {
    let root = repo_root();
    let mut docs = vec![root.join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// Every Markdown document a reader meets: the operator's, and
/// DISTRIBUTION.md, ARCHITECTURE.md and the READMEs of the image builder,
/// the lab and `.rccr/`.
fn all_docs() -> Vec<PathBuf> {
    let root = repo_root();
    let mut docs = operator_docs();
    for more in [
        "DISTRIBUTION.md",
        "ARCHITECTURE.md",
        "image-builder/README.md",
        "tests/lab/README.md",
        ".rccr/README.md",
    ] {
        docs.push(root.join(more));
    }
    docs
}

/// The documents' commands can be pasted: a value only the reader knows
/// is a shell variable the text tells them to set, never a placeholder
/// such as `OWNER/REPO` (the quick start's first command was one).
#[test]
fn the_documents_commands_hold_no_placeholder() {
    for doc in all_docs() {
        let text = std::fs::read_to_string(&doc).unwrap();
        assert!(!text.contains("OWNER/REPO"), "{}", doc.display());
    }
}

/// The text of `docs`, one after the other.
fn text_of(docs: &[PathBuf]) -> String {
    docs.iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `word` occurs in `text` with no name character on either side.
fn has_word(text: &str, word: &str) -> bool {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        !text[..at].ends_with(name_char) && !text[at + word.len()..].starts_with(name_char)
    })
}

/// The files under `dir` whose name ends in one of `endings`, recursively.
fn files_under(dir: &Path, endings: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path, endings));
        } else if endings.iter().any(|e| path.to_string_lossy().ends_with(e)) {
            found.push(path);
        }
    }
    found
}

/// Every `RCCR_*` environment variable rccr reads (a string literal in its
/// Rust code or build.rs, except what `env!` embeds at build time; a
/// `$RCCR_*` of a script it ships) is in README.md, DISTRIBUTION.md,
/// ARCHITECTURE.md or docs/. `RCCR_CLUSTER_KEY`, `RCCR_FAILPOINT_DIR`
/// and `RCCR_GIT_REV` were in none.
#[test]
fn every_environment_variable_rccr_reads_is_documented() {
    let root = repo_root();
    let mut sources = files_under(&root.join("src"), &[".rs", ".sh", ".openrc"]);
    sources.push(root.join("build.rs"));
    let mut read = std::collections::BTreeSet::new();
    for source in &sources {
        let text = std::fs::read_to_string(source).unwrap();
        for (at, _) in text.match_indices("RCCR_") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let before = &text[..at];
            let literal = before.ends_with('"')
                && text[at + name.len()..].starts_with('"')
                && !before.ends_with("env!(\"");
            let shell = source.extension().is_some_and(|e| e != "rs")
                && (before.ends_with('$') || before.ends_with("${"));
            if literal || shell {
                read.insert(name);
            }
        }
    }
    assert!(read.contains("RCCR_STATE_DIR"), "found {read:?}");
    let mut docs = operator_docs();
    docs.push(root.join("DISTRIBUTION.md"));
    docs.push(root.join("ARCHITECTURE.md"));
    let text = text_of(&docs);
    let missing: Vec<&String> = read.iter().filter(|v| !has_word(&text, v)).collect();
    assert!(
        missing.is_empty(),
        "read by rccr, in no document: {missing:?}"
    );
}

/// Every file rccr keeps in its state directory (each name
/// `src/state/mod.rs` joins to it) is named in README.md or docs/ as
/// `~/.rccr/NAME`. `last-rotation` was in none.
#[test]
fn every_state_file_is_documented() {
    let state = std::fs::read_to_string(repo_root().join("src/state/mod.rs")).unwrap();
    let names: Vec<&str> = state
        .split("self.state_dir.join(\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert!(names.contains(&"nodes"), "found {names:?}");
    let text = text_of(&operator_docs());
    let missing: Vec<&&str> = names
        .iter()
        .filter(|name| !text.contains(&format!("~/.rccr/{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "state files in no document: {missing:?}"
    );
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped,
/// spaces made hyphens.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every relative link of every document leads to a file that exists, and
/// its `#anchor` to a heading there. docs/setup.md linked
/// `docs/config.md` from docs/, which is no file.
#[test]
fn every_link_of_the_docs_leads_somewhere() {
    let mut broken = Vec::new();
    for doc in all_docs() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for target in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let linked = match file {
                "" => doc.clone(),
                _ => doc.parent().unwrap().join(file),
            };
            let headings = match std::fs::read_to_string(&linked) {
                Ok(text) => text,
                Err(_) if linked.is_dir() && anchor.is_empty() => continue,
                Err(_) => {
                    broken.push(format!("{}: {target}", doc.display()));
                    continue;
                }
            };
            let found = anchor.is_empty()
                || headings
                    .lines()
                    .filter_map(|l| l.strip_prefix('#'))
                    .any(|h| anchor_of(h.trim_start_matches('#')) == anchor);
            if !found {
                broken.push(format!("{}: {target}", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links that lead nowhere: {broken:#?}");
}

/// Every field a command's `--json` prints (each key the code gives an
/// object, outside its tests) is named in the page that documents that
/// output, as `"field"` or `` `field` ``. docs/engine.md lacked the
/// health fields of `rccr status --json` (`uptime_s`, `temp_c`, ...),
/// docs/setup.md `host_key` and `moved_from`.
#[test]
fn every_json_field_is_documented() {
    let pages: [(&[&str], &str); 5] = [
        (
            &["src/swarm/status.rs", "src/swarm/health.rs"],
            "docs/engine.md",
        ),
        (&["src/setup/report.rs"], "docs/setup.md docs/engine.md"),
        (&["src/scan/output.rs"], "docs/scan.md"),
        (
            &["src/keys/control/status.rs", "src/keys/control/command.rs"],
            "docs/keys.md",
        ),
        (&["src/swarm/remove.rs"], "docs/engine.md"),
    ];
    let root = repo_root();
    let mut missing = Vec::new();
    for (sources, docs) in pages {
        let docs: Vec<PathBuf> = docs.split(' ').map(|d| root.join(d)).collect();
        let text = text_of(&docs);
        for source in sources {
            let code = std::fs::read_to_string(root.join(source)).unwrap();
            let code = code.split("#[cfg(test)]").next().unwrap();
            // `.str("f", ..)`, a call over lines, and health.rs's `num(o, "f", ..)`.
            for call in [".str(", ".opt(", ".num(", ".bool(", ".raw(", "num(o,"] {
                for rest in code.split(call).skip(1) {
                    let Some(rest) = rest.trim_start().strip_prefix('"') else {
                        continue;
                    };
                    let field = rest.split('"').next().unwrap();
                    let named = [format!("\"{field}\""), format!("`{field}`")];
                    if !named.iter().any(|n| text.contains(n.as_str())) {
                        missing.push(format!("{source}: {field}"));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "JSON fields in no document: {missing:#?}"
    );
}

/// ARCHITECTURE.md's code map is the code: it names every top-level module
/// of src/ (but main.rs and lib.rs), and a module uses only the modules it
/// lists before it (`crate::NAME` outside the module's tests). The map
/// lacked docker/ and backup.rs; failpoint.rs (layer 0, "no rccr
/// imports") wrote with fsutil, and keys/control/known_hosts.rs took its
/// fingerprints from init (layer 4).
#[test]
fn the_code_map_is_the_code() {
    let root = repo_root();
    let src = root.join("src");
    let module_of = |token: &str| -> Option<String> {
        let name = token
            .strip_suffix('/')
            .or_else(|| token.strip_suffix(".rs"))?;
        let is_module = !name.contains(['/', '.'])
            && (src.join(format!("{name}.rs")).is_file() || src.join(name).is_dir());
        is_module.then(|| name.to_string())
    };
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let map = architecture
        .split("## Code map")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let mut order: Vec<String> = Vec::new();
    for token in map.split('`').skip(1).step_by(2) {
        if let Some(name) = module_of(token).filter(|n| !order.contains(n)) {
            order.push(name);
        }
    }
    let mut unmapped = Vec::new();
    let mut upward = Vec::new();
    for path in files_under(&src, &[".rs"]) {
        let rel = path
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let top = rel.split('/').next().unwrap().trim_end_matches(".rs");
        if ["main", "lib"].contains(&top) {
            continue;
        }
        let Some(at) = order.iter().position(|m| m == top) else {
            unmapped.push(rel);
            continue;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for rest in code.split("crate::").skip(1) {
            let used: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if order
                .iter()
                .position(|m| *m == used)
                .is_some_and(|u| u > at)
            {
                upward.push(format!("{rel} uses {used}"));
            }
        }
    }
    assert!(
        unmapped.is_empty(),
        "not in ARCHITECTURE.md's code map: {unmapped:?}"
    );
    upward.dedup();
    assert!(upward.is_empty(), "imports that point up: {upward:#?}");
}

/// Every test a document names as `FILE::NAME` (`swarm_lab::...`, for a
/// file tests/FILE.rs) is a function of that file: the docs cite tests as
/// proof, and a renamed test leaves the proof pointing at nothing.
#[test]
fn every_test_the_docs_name_exists() {
    let root = repo_root();
    let text = text_of(&all_docs());
    let mut missing = Vec::new();
    for (at, _) in text.match_indices("::") {
        let file: String = text[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let name: String = text[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let path = root.join("tests").join(format!("{file}.rs"));
        if file.is_empty() || name.is_empty() || !path.is_file() {
            continue;
        }
        let code = std::fs::read_to_string(&path).unwrap();
        if !code.contains(&format!("fn {name}(")) {
            missing.push(format!("{file}::{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "tests the docs name, not there: {missing:?}"
    );
}

/// `rccr ARGS` run in `dir`, waited for at most a minute (far beyond what
/// it takes), then killed: a command that blocks fails its test, not the
/// run.
fn run_in_bounded(home: &Home, dir: &Path, args: &[&str]) -> Output {
    let mut command = home.command(args, home.state().as_os_str());
    command
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut rccr = child::spawn(&mut command);
    child::wait_for_within(
        &format!("rccr {args:?} to end"),
        std::time::Duration::from_secs(60),
        || rccr.try_wait().unwrap().is_some(),
    );
    rccr.wait_with_output()
}

/// Anyone may make a pipe named cluster_config.yml in /tmp (a sticky
/// directory, which the StrictModes rule accepts): opening it to read
/// waited for a writer, so every command that reads the config hung
/// before any check, without a word. A directory of that name was exit 1
/// with no remedy. Each is now bad input naming it.
#[test]
fn a_config_in_the_working_directory_that_is_no_regular_file_is_refused_at_once() {
    let home = Home::new("cfgfifo");
    let sticky = home.0.path("sticky");
    std::fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    let config = sticky.join("cluster_config.yml");
    let made = Command::new("mkfifo").arg(&config).status().unwrap();
    assert!(made.success());
    let cases: Vec<(&str, &str)> = vec![
        (
            "pipe",
            "rccr keys status: cluster_config.yml: not a regular file: ",
        ),
        (
            "another's pipe",
            "rccr keys status: cluster_config.yml: is owned by uid 65534",
        ),
        (
            "directory",
            "rccr keys status: cluster_config.yml: a directory: ",
        ),
    ];
    for (what, says) in cases {
        if what == "another's pipe" && !give_to_another_user(&config) {
            continue;
        }
        if what == "directory" {
            std::fs::remove_file(&config).unwrap();
            std::fs::create_dir(&config).unwrap();
        }
        for args in [&["keys", "status"][..], &["status"]] {
            let out = run_in_bounded(&home, &sticky, args);
            let says = says.replace("rccr keys status", &format!("rccr {}", args.join(" ")));
            assert_refused(args, &out, 3, &says);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.starts_with(&says), "{what}: {err}");
        }
    }
}

/// `rccr` alone is a usage error like any other: one line that says what
/// is missing and what to run, not the whole help.
#[test]
fn rccr_without_a_command_says_so_in_one_line() {
    let home = Home::new("noargs");
    let out = home.run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_refused(&[], &out, 2, "rccr: no command given");
    assert!(err.contains("run 'rccr --help'"), "{err}");
}

/// An unknown command says what to do about it.
#[test]
fn an_unknown_applet_says_where_the_names_are() {
    let home = Home::new("frob");
    home_refuses(
        &home,
        &["frob"],
        127,
        "rccr: applet not found: frob; run 'rccr --list'",
    );
}

/// `rccr init --hostname` refuses an image default: the node would take
/// a generated name again at its next boot.
#[test]
fn init_refuses_an_image_default_hostname() {
    let home = Home::new("initdefault");
    let root = home.0.path("root");
    std::fs::create_dir(&root).unwrap();
    for name in ["localhost", "ReCyClusteR-Target", "recycluster-control"] {
        let root = root.to_str().unwrap();
        let args = ["init", "--root", root, "--dry-run", "--hostname", name];
        home_refuses(&home, &args, 3, "pick a name of your own");
    }
}

/// Opening some devices acts (`/dev/watchdog` arms, a tape rewinds), so a
/// `cluster_config.yml` that is a link to a device is refused before rccr
/// opens it: strace sees no open of that name. /dev/null stands in for a
/// device whose open would act.
#[test]
fn a_config_that_is_a_device_is_refused_before_it_is_opened() {
    let home = Home::new("cfgdevice");
    let dir = home.0.path("devdir");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/null", dir.join("cluster_config.yml")).unwrap();
    let log = home.0.path("strace.log");
    let mut command = home.command_of(
        "strace",
        &["-f", "-qq", "-e", "trace=open,openat,openat2", "-o"],
        home.state().as_os_str(),
    );
    command.arg(&log).arg(RCCR).arg("status").current_dir(&dir);
    let out = command
        .output()
        .expect("strace runs (tests/run.sh installs it)");
    assert_refused(
        &["status"],
        &out,
        3,
        "rccr status: cluster_config.yml: a device: ",
    );
    let trace = std::fs::read_to_string(&log).unwrap();
    assert!(
        trace.contains("execve") || trace.contains("open"),
        "{trace}"
    );
    let opened: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("cluster_config.yml"))
        .collect();
    assert!(
        opened.is_empty(),
        "opened before it was refused: {opened:?}"
    );
}

/// An inventory with two records of one name (as the rccr before unique
/// names could write, or a hand edit): the inventory writer refused it at
/// the end of every command, after restore had left its marker (every
/// command then refused, restore again too), after setup had renamed and
/// rotated, keyrotate rotated and remove taken a node out. Now restore
/// restores it with a warning, setup and keyrotate refuse before they
/// change anything, naming the ways out, `remove NAME` refuses the
/// ambiguous name, and removing one of the two by address is allowed.
#[test]
fn two_records_of_one_name_stop_setup_only_before_anything_changes() {
    let home = Home::new("onename");
    let key = ed25519_key(&home, "cluster_key", &[]);
    let nodes = "10.0.0.1\t-\tc1\tcontrol\t-\t-\t-\n\
                 10.0.0.2\t-\tt1\ttarget\t-\t-\t-\n\
                 10.0.0.3\t-\tT1\ttarget\t-\t-\t-\n\
                 10.0.0.4\t-\tt2\ttarget\t-\t-\t-\n";
    let archive = archive(
        &home,
        "archive",
        &[
            ("cluster_key", std::fs::read(&key).unwrap()),
            ("nodes", nodes.as_bytes().to_vec()),
        ],
    );
    let restored = home.run(&["restore", archive.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&restored.stderr);
    assert!(restored.status.success(), "{err}");
    // One warning line, naming both records and the ways out, then `and`.
    let warns_of_t1 = |err: &str, and: &str| {
        let warned: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(warned.len(), 1, "{err}");
        assert!(
            warned[0].contains("named t1 (t1 at 10.0.0.2 and T1 at 10.0.0.3")
                && warned[0].contains(&format!("rccr remove --forget 10.0.0.3; {and}")),
            "{err}"
        );
    };
    warns_of_t1(&err, "restored as it is");
    assert!(!home.state().join("restore-in-progress").exists());
    let written = std::fs::read(home.state().join("nodes")).unwrap();
    let remedy = "rccr remove --forget 10.0.0.3; nothing was changed";
    let temp = temp_key(&home);
    for args in [
        &[
            "setup",
            "--dry-run",
            "--subnet",
            "10.255.255.0/30",
            "--temp-key",
            &temp,
        ][..],
        &[
            "setup",
            "--yes",
            "--subnet",
            "10.255.255.0/30",
            "--temp-key",
            &temp,
        ],
    ] {
        let out = home.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(4) {
            skip::skip(&format!("the sweep needs root: {err}"));
            return;
        }
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("rccr init --hostname NEW"), "{args:?}: {err}");
        assert!(err.trim_end().ends_with(remedy), "{args:?}: {err}");
        assert!(!home.state().join("rotation.journal").exists(), "{args:?}");
        assert_eq!(std::fs::read(home.state().join("nodes")).unwrap(), written);
    }
    // keyrotate cannot make two of one name, and is the answer to a
    // leaked key: it warns and goes on (the one node it is given is not
    // there: exit 1).
    let out = home.run(&[
        "keyrotate",
        "--yes",
        "--timeout",
        "1",
        "--host",
        "10.255.255.1",
        "--from-key",
        &temp,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    warns_of_t1(&err, "rotating all the same");
    assert!(err.contains("10.255.255.1"), "{err}");
    // Removing another node goes on too: remove writes no name.
    let out = home.run(&["remove", "t2", "--forget", "--yes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let left = std::fs::read_to_string(home.state().join("nodes")).unwrap();
    assert!(!left.contains("10.0.0.4\t"), "{err}\n{left}");
    home_refuses(
        &home,
        &["remove", "T1", "--forget", "--yes"],
        3,
        "names 2 nodes of the inventory (at 10.0.0.2 and 10.0.0.3): give the address",
    );
    // The way out: one of the two, by address.
    let out = home.run(&["remove", "--forget", "--yes", "10.0.0.3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let left = std::fs::read_to_string(home.state().join("nodes")).unwrap();
    assert!(!left.contains("10.0.0.3\t"), "{err}\n{left}");
    assert!(left.contains("10.0.0.2\t-\tt1\t"), "{err}\n{left}");
    // No swarm answers here, so it is not a clean leave (exit 1), but the
    // record is gone and setup runs again.
    assert_eq!(out.status.code(), Some(1), "{err}");
    setup_dry_run_ends_well(&home, &temp);
}
