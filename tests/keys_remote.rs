//! The node side of key rotation run for real, in every form a node may
//! run it: src/keys/node/remote.sh under dash (Debian's sh) and busybox ash
//! (Alpine's), the latter once with the host's tools and once with
//! busybox's applets first on PATH (as on Alpine), and rccr's built-in
//! `rccr keys node 1` (src/keys/node.rs).
//! One set of cases for all three: they must behave alike. No SSH here:
//! each gets the argv and the conversation rccr has with it over the wire.
mod common;

use common::assert_has;
use common::child::{lock_awaited, lock_holders, KillOnDrop};
use common::lab::{stderr, stdout, wait_for_within};
use common::scratch::Scratch;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const SCRIPT: &str = include_str!(concat!(env!("OUT_DIR"), "/remote.sh"));

/// How to start one implementation: program and leading arguments.
type Node = Vec<String>;

fn nodes() -> Vec<Node> {
    let script = |shell: &[&str]| {
        let mut argv: Vec<String> = shell.iter().map(|s| s.to_string()).collect();
        argv.extend(["-c".into(), SCRIPT.into(), "rccr".into()]);
        argv
    };
    let mut nodes = vec![];
    for shell in [&["/bin/dash"][..], &["/bin/busybox", "sh"]] {
        if Path::new(shell[0]).exists() {
            nodes.push(script(shell));
        } else {
            common::skip(&format!(
                "no {}: the script is not tried in that shell (apt install dash busybox)",
                shell[0]
            ));
        }
    }
    assert!(
        !nodes.is_empty(),
        "dash or busybox is needed (apt install dash busybox)"
    );
    // As on Alpine: busybox's own applets run the script's commands
    // (head -c, tail -c +N, mktemp, sync FILE, sleep, cp -p, mv, wc),
    // not the host's coreutils, which plain `busybox sh` finds first on
    // PATH. The host's tools stay behind them for the applets a busybox
    // may lack (Debian's has no flock or cksum).
    // (Home::spawn_with puts them on PATH.)
    match busybox_applets() {
        Some(_) => {
            let mut argv = vec![ENV.to_string()];
            argv.extend(script(&["/bin/busybox", "sh"]));
            nodes.push(argv);
        }
        None => {
            common::skip("no busybox applets: the script is not tried with them");
        }
    }
    let rccr = env!("CARGO_BIN_EXE_rccr");
    nodes.push(vec![rccr.into(), "keys".into(), "node".into(), "1".into()]);
    nodes
}

/// What starts the script under busybox with its applets first on PATH
/// ([`with_applets`]).
const ENV: &str = "/usr/bin/env";

/// `path` with the busybox applets before the host's own directories (the
/// test's PATH, which `path` ends with), after any a test put first (a
/// stub `lbu` or `sync`).
fn with_applets(path: &str) -> String {
    let applets = busybox_applets().unwrap();
    let host = std::env::var("PATH").unwrap();
    match path.strip_suffix(host.as_str()) {
        Some(first) => format!("{first}{}:{host}", applets.display()),
        None => format!("{}:{path}", applets.display()),
    }
}

/// A directory of links to /bin/busybox, one per applet it has (made once
/// per build directory); `None` without busybox.
fn busybox_applets() -> Option<PathBuf> {
    static DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let list = Command::new("/bin/busybox").arg("--list").output().ok()?;
        if !list.status.success() {
            return None;
        }
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("busybox-applets");
        std::fs::create_dir_all(&dir).unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            match std::os::unix::fs::symlink("/bin/busybox", dir.join(applet)) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => panic!("{applet}: {e}"),
                _ => {}
            }
        }
        Some(dir)
    })
    .clone()
}

/// A short name for assertion messages.
fn name(node: &Node) -> &str {
    if node[0] == env!("CARGO_BIN_EXE_rccr") {
        "rccr keys node"
    } else if node[0] == ENV {
        "busybox applets"
    } else {
        &node[0]
    }
}

struct Home(Scratch);

impl Home {
    fn new(tag: &str, node: &Node) -> Home {
        let kind = name(node).rsplit('/').next().unwrap().replace(' ', "-");
        let dir = Scratch::new(&format!("remote-{tag}-{kind}"));
        std::fs::create_dir(dir.path(".ssh")).unwrap();
        Home(dir)
    }
    /// [`Home::new`] holding [`ORIGINAL`] as its authorized_keys.
    fn with_original(tag: &str, node: &Node) -> Home {
        let home = Home::new(tag, node);
        std::fs::write(home.ak(), ORIGINAL).unwrap();
        home
    }
    fn ak(&self) -> PathBuf {
        self.0.path(".ssh/authorized_keys")
    }
    fn keys(&self) -> Vec<u8> {
        std::fs::read(self.ak()).unwrap()
    }
    fn spawn(&self, node: &Node, args: &[&str]) -> KillOnDrop {
        self.spawn_with(node, args, &[])
    }
    /// [`Home::spawn`] with `env` set too.
    fn spawn_with(&self, node: &Node, args: &[&str], env: &[(&str, &str)]) -> KillOnDrop {
        let mut command = Command::new(&node[0]);
        command
            .args(&node[1..])
            .args(args)
            .env("HOME", &self.0 .0)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if node[0] == ENV {
            let path = env
                .iter()
                .find(|(k, _)| *k == "PATH")
                .map(|(_, v)| v.to_string());
            command.env(
                "PATH",
                with_applets(&path.unwrap_or(std::env::var("PATH").unwrap())),
            );
        }
        common::child::spawn(&mut command)
    }
    /// A step with no conversation (`read`, bad usage).
    fn run(&self, node: &Node, args: &[&str]) -> Output {
        let child = self.spawn(node, args);
        child.wait_with_output()
    }
    /// A stage or commit step: reads the snapshot up to the nonce line,
    /// lets `respond` pick the input, sends it. The head is `None` when the
    /// step ended before asking.
    fn converse(
        &self,
        node: &Node,
        args: &[&str],
        nonce: &str,
        respond: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> (Option<Vec<u8>>, Output) {
        self.converse_with(node, args, &[], nonce, respond)
    }
    /// [`Home::converse`] with `env` set too.
    fn converse_with(
        &self,
        node: &Node,
        args: &[&str],
        env: &[(&str, &str)],
        nonce: &str,
        respond: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> (Option<Vec<u8>>, Output) {
        let mut child = self.spawn_with(node, args, env);
        let mut stdout = child.stdout.take().unwrap();
        let head = match read_head(&mut stdout, nonce) {
            Ok(head) => head,
            Err(head) => {
                let mut out = child.wait_with_output();
                out.stdout = head;
                return (None, out);
            }
        };
        let input = respond(&head);
        // A step that fails early exits without reading its input.
        let _ = child.stdin.take().unwrap().write_all(&input);
        let mut rest = Vec::new();
        stdout.read_to_end(&mut rest).unwrap();
        let mut out = child.wait_with_output();
        out.stdout = rest;
        (Some(head), out)
    }
    /// A stage or commit step that is sent `content` and must succeed.
    fn send_ok(&self, node: &Node, args: &[&str], nonce: &str, content: &[u8]) -> Output {
        let (_, out) = self.converse(node, args, nonce, |_| file(content));
        assert!(out.status.success(), "{}: {}", name(node), stderr(&out));
        out
    }
    /// Asserts authorized_keys holds `content` and nothing else is left.
    fn assert_untouched(&self, who: &str, content: &[u8]) {
        assert_eq!(self.keys(), content, "{who}");
        assert!(self.leftovers().is_empty(), "{who}: {:?}", self.leftovers());
    }
    /// `read` split into (sum, armed rotation, content).
    fn read(&self, node: &Node) -> (String, String, Vec<u8>) {
        let out = self.run(node, &["read"]);
        assert!(out.status.success(), "{}", stderr(&out));
        split(&out.stdout)
    }
    fn leftovers(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.0.path(".ssh"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "authorized_keys")
            .collect();
        names.sort();
        names
    }
}

/// A step's snapshot, read up to its nonce line (which is cut off); what
/// it printed as `Err` when it ended before asking.
fn read_head(stdout: &mut impl Read, nonce: &str) -> Result<Vec<u8>, Vec<u8>> {
    let trailer = format!("\n{nonce}\n").into_bytes();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.ends_with(&trailer) {
        match stdout.read(&mut buf).unwrap() {
            0 => return Err(head),
            n => head.extend_from_slice(&buf[..n]),
        }
    }
    head.truncate(head.len() - trailer.len());
    Ok(head)
}

fn split(snapshot: &[u8]) -> (String, String, Vec<u8>) {
    let mut parts = snapshot.splitn(3, |b| *b == b'\n');
    let sum = String::from_utf8(parts.next().unwrap().to_vec()).unwrap();
    let armed = String::from_utf8(parts.next().unwrap_or_default().to_vec()).unwrap();
    (sum, armed, parts.next().unwrap_or_default().to_vec())
}

/// Runs `case` for every implementation, each in a fresh home holding
/// [`ORIGINAL`]: (how to start it, its name in messages, the home).
fn for_each_node(tag: &str, case: impl Fn(&Node, &str, &Home)) {
    for node in nodes() {
        let home = Home::with_original(tag, &node);
        case(&node, name(&node), &home);
    }
}

/// [`for_each_node`] with the nodes at once, each in its own thread: for
/// cases that mostly sleep through a revert timer of several seconds.
fn for_each_node_at_once(tag: &str, case: impl Fn(&Node, &str, &Home) + Sync) {
    std::thread::scope(|scope| {
        for node in nodes() {
            let case = &case;
            scope.spawn(move || {
                let home = Home::with_original(tag, &node);
                case(&node, name(&node), &home);
            });
        }
    });
}

/// Asserts that a step exited with `code` and said `why` on stderr.
fn assert_refused(out: &Output, code: i32, why: &str, context: &str) {
    assert_eq!(out.status.code(), Some(code), "{context}: {}", stderr(out));
    assert!(stderr(out).contains(why), "{context}: {}", stderr(out));
}

/// What a step said on stderr, `home`'s path written `HOME`: the same for
/// every node, byte for byte ([`assert_said_alike`]).
fn said_in(home: &Home, out: &Output) -> String {
    stderr(out).replace(home.0 .0.to_str().unwrap(), "HOME")
}

/// Asserts every node said the same (`(node, what it said)` pairs).
fn assert_said_alike(said: &[(String, String)]) {
    for (who, line) in &said[1..] {
        assert_eq!(line, &said[0].1, "{who} said otherwise than {}", said[0].0);
    }
}

/// For each of `cases` (its name, its data): runs `case` on every node
/// side, each in a fresh home as [`for_each_node`] makes it, with `who`
/// naming node and case, and asserts they all said the same (what `case`
/// returns, [`assert_said_alike`]).
fn for_each_case_said_alike<T: Copy>(
    tag: &str,
    cases: &[(&str, T)],
    case: impl Fn(&Node, &str, &Home, &str, T) -> String,
) {
    for (i, (case_name, data)) in cases.iter().enumerate() {
        let mut said = Vec::new();
        for node in nodes() {
            let home = Home::with_original(&format!("{tag}{i}"), &node);
            let who = format!("{} {case_name}", name(&node));
            let line = case(&node, &who, &home, case_name, *data);
            said.push((who, line));
        }
        assert_said_alike(&said);
    }
}

/// The input that installs `content`: its `cksum` line, then the bytes.
fn file(content: &[u8]) -> Vec<u8> {
    let mut input = rccr::keys::authorized::cksum_line(content).into_bytes();
    input.push(b'\n');
    input.extend_from_slice(content);
    input
}

const ORIGINAL: &[u8] =
    b"# mine\nfrom=\"10.0.0.0/8\" ssh-rsa AAAAOLD rccr-temporary-key\nssh-ed25519 AAAAOTHER bob\n";
const STAGED: &[u8] = b"# mine\nfrom=\"10.0.0.0/8\" ssh-rsa AAAAOLD rccr-temporary-key\nssh-ed25519 AAAAOTHER bob\nssh-ed25519 AAAANEW cluster\n";
const FINAL: &[u8] = b"# mine\nssh-ed25519 AAAAOTHER bob\nssh-ed25519 AAAANEW cluster\n";

/// Generous, as the suite's other waits: only "it happened", never how
/// fast (a revert timer's wait, lock and fsyncs on a loaded machine).
fn wait_until(what: &str, done: impl FnMut() -> bool) {
    wait_for_within(what, Duration::from_secs(60), done);
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_busybox_applets_node_runs_busybox_applets_before_the_hosts_tools() {
    let Some(applets) = busybox_applets() else {
        common::skip("no busybox applets");
        return;
    };
    let probe: Node = [
        ENV,
        "/bin/busybox",
        "sh",
        "-c",
        "for c in head tail mktemp sync sleep cp; do command -v $c; done",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let home = Home::new("applets", &probe);
    let out = home.run(&probe, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    for found in stdout(&out).lines() {
        assert!(
            Path::new(found).parent() == Some(&applets),
            "{found} is not busybox's applet"
        );
    }
    assert_eq!(stdout(&out).lines().count(), 6, "{}", stdout(&out));
}

#[test]
fn read_reports_sum_armed_rotation_and_bytes() {
    for node in nodes() {
        let home = Home::new("read", &node);
        assert_eq!(home.read(&node), ("none".into(), "-".into(), vec![]));
        std::fs::write(home.ak(), ORIGINAL).unwrap();
        let (sum, armed, content) = home.read(&node);
        assert_eq!(
            sum,
            rccr::keys::authorized::cksum_line(ORIGINAL),
            "{}",
            name(&node)
        );
        assert_eq!(armed, "-");
        assert_eq!(content, ORIGINAL);
    }
}

#[test]
fn stage_then_commit_installs_exact_bytes_and_disarms() {
    for_each_node_at_once("commit", |node, who, home| {
        std::fs::set_permissions(home.0.path(".ssh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        // The timer counts from before the stage's fsyncs: 5 s outlasts
        // them, the checks below and the commit on a loaded machine.
        let (head, out) = home.converse(node, &["stage", "r1", "5", "n1"], "n1", |head| {
            assert_eq!(split(head).2, ORIGINAL, "{who}");
            file(STAGED)
        });
        assert!(
            head.is_some() && out.status.success(),
            "{who}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "staged\n", "{who}");
        let timer = timer_of(home);
        assert_eq!(home.keys(), STAGED);
        assert_eq!(mode(&home.ak()), 0o600, "{who}");
        assert_eq!(mode(&home.0.path(".ssh")), 0o700, "{who}");
        let (_, armed, _) = home.read(node);
        assert_eq!(armed, "r1.n1", "{who}");
        let (head, out) = home.converse(node, &["commit", "n2"], "n2", |head| {
            assert_eq!(split(head).1, "r1.n1", "{who}");
            file(FINAL)
        });
        assert!(
            head.is_some() && out.status.success(),
            "{who}: {}",
            stderr(&out)
        );
        let said = stdout(&out);
        assert!(
            said == "committed\ndisk\n" || said == "committed\nvolatile\n",
            "{who}: {said:?}"
        );
        assert_eq!(home.keys(), FINAL);
        assert_eq!(home.leftovers(), Vec::<String>::new(), "{who}");
        // The disarmed timer must not undo the commit when it wakes.
        wait_for_timer(timer);
        assert_eq!(home.keys(), FINAL, "{who}");
    });
}

#[test]
fn an_uncommitted_stage_reverts_by_itself() {
    for_each_node("revert", |node, who, home| {
        // Back with its own mode too (the built-in side's umask once made
        // it 0600; the script's `cp -p` kept it).
        let mode = |mode| std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(home.ak(), mode(0o644)).unwrap();
        use std::os::unix::fs::MetadataExt;
        let inode = || std::fs::metadata(home.ak()).unwrap().ino();
        let original = inode();
        // The 1 s timer may have reverted already (it counts from before
        // the stage's fsyncs): that the stage installed is
        // stage_then_commit's to check.
        let out = home.send_ok(node, &["stage", "r2", "1", "n3"], "n3", STAGED);
        assert_eq!(stdout(&out), "staged\n", "{who}");
        wait_until("the revert", || {
            home.keys() == ORIGINAL && home.leftovers().is_empty()
        });
        // Replaced (the backup renamed back is a copy): a stage that did
        // nothing at all would pass the wait above.
        assert_ne!(inode(), original, "{who}: never replaced");
        let now = std::fs::metadata(home.ak()).unwrap().permissions();
        assert_eq!(now, mode(0o100644), "{who}");
    });
}

#[test]
fn a_timer_that_wakes_during_a_commit_waits_for_it_and_reverts_nothing() {
    // The timer waits for the node's lock: it never moves the backup over
    // the file a commit installs under it (the node would be back on its
    // old keys alone).
    for_each_node_at_once("late", |node, who, home| {
        let out = commit_while_its_timer_waits(node, who, home, file(FINAL));
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        wait_until("the timer to end", || {
            !lock_awaited(&home.0.path(".rccr-keys.lock"))
        });
        home.assert_untouched(who, FINAL);
    });
}

/// Stages [`STAGED`] (rotation `r2.n3`), then commits, sending `input`
/// once the stage's revert timer has woken and waits for the commit's
/// lock: the commit's output.
fn commit_while_its_timer_waits(node: &Node, who: &str, home: &Home, input: Vec<u8>) -> Output {
    // Long enough to wake only once the commit holds the lock, however
    // slow the stage's fsyncs and the commit's start.
    home.send_ok(node, &["stage", "r2", "5", "n3"], "n3", STAGED);
    let lock = home.0.path(".rccr-keys.lock");
    let (_, out) = home.converse(node, &["commit", "n4"], "n4", |head| {
        assert_eq!(split(head).1, "r2.n3", "{who}");
        wait_until("the timer to wait for the commit", || lock_awaited(&lock));
        input
    });
    out
}

#[test]
fn a_timer_from_an_earlier_attempt_never_reverts_a_later_stage() {
    for_each_node_at_once("stale", |node, who, home| {
        // Long enough to outlast the stage, the commit and the re-stage.
        home.send_ok(node, &["stage", "r4", "5", "n5"], "n5", STAGED);
        let first_timer = timer_of(home);
        home.send_ok(node, &["commit", "n6"], "n6", FINAL);
        // The same rotation stages again (a re-run) before the first timer wakes.
        let restaged = [FINAL, b"ssh-ed25519 AAAANEWER x\n"].concat();
        home.send_ok(node, &["stage", "r4", "30", "n7"], "n7", &restaged);
        wait_for_timer(first_timer);
        assert_eq!(home.keys(), restaged, "{who}");
    });
}

#[test]
fn a_file_changed_after_reading_is_not_touched() {
    for_each_node("changed", |node, who, home| {
        let edited = b"ssh-ed25519 AAAAEDITED x\n";
        let (_, out) = home.converse(node, &["stage", "r3", "60", "n8"], "n8", |_| {
            std::fs::write(home.ak(), edited).unwrap();
            file(STAGED)
        });
        assert_eq!(out.status.code(), Some(4), "{who}: {}", stderr(&out));
        home.assert_untouched(who, edited);
    });
}

#[test]
fn input_cut_short_changes_nothing() {
    // A link lost mid-transfer ends the node's input early: the file that
    // arrived must never be installed, or a commit could lock the node out.
    for_each_node("short", |node, who, home| {
        for (step, nonce) in [
            (vec!["stage", "r5", "60", "n9"], "n9"),
            (vec!["commit", "na"], "na"),
        ] {
            let (_, out) = home.converse(node, &step, nonce, |_| {
                let mut cut = file(STAGED);
                cut.truncate(cut.len() - 20);
                cut
            });
            assert_refused(&out, 1, "incomplete", &format!("{who} {step:?}"));
            home.assert_untouched(who, ORIGINAL);
        }
    });
}

#[test]
fn no_input_changes_nothing_and_commit_still_persists() {
    for_each_node("noinput", |node, who, home| {
        let (_, out) = home.converse(node, &["stage", "r6", "60", "nb"], "nb", |_| vec![]);
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{who}");
        let (_, out) = home.converse(node, &["commit", "nc"], "nc", |_| vec![]);
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        let said = stdout(&out);
        assert!(
            said == "unchanged\ndisk\n" || said == "unchanged\nvolatile\n",
            "{who}: {said:?}"
        );
        home.assert_untouched(who, ORIGINAL);
    });
}

/// Asserts every lbu run [`lbu_stand_in`] logged had /dev/null as its
/// stdin, as rccr's built-in side gives it: not the step's stdin, the
/// control's channel, which an lbu (or a hook of it) that reads would hang
/// on until the control's deadline.
fn assert_lbu_read_no_channel(log: &Path, who: &str) {
    let stdin = std::fs::read_to_string(log.with_extension("log.stdin")).unwrap();
    assert!(!stdin.is_empty(), "{who}: lbu never ran");
    assert!(
        stdin.lines().all(|line| line == "/dev/null"),
        "{who}: lbu's stdin: {stdin}"
    );
}

#[test]
fn a_commit_on_a_root_on_disk_is_disk_though_lbu_cannot_save() {
    // Alpine installed to disk has lbu, with no medium to save to: its
    // commit fails, and the change is on the disk all the same.
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    if !rccr::persist::root_on_disk(&mounts) || !temp_dir_on_root() {
        common::skip("the temporary directory is on no disk file system rccr knows");
        return;
    }
    for_each_node("disklbu", |node, who, home| {
        let (path, log) = lbu_stand_in(home, false);
        let env = [("PATH", path.as_str())];
        home.send_ok(node, &["stage", "rd", "60", "nd"], "nd", STAGED);
        let (_, out) = home.converse_with(node, &["commit", "ne"], &env, "ne", |_| file(FINAL));
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out), "committed\ndisk\n", "{who}");
        assert_has(&std::fs::read_to_string(&log).unwrap(), "commit");
        assert_lbu_read_no_channel(&log, who);
        home.assert_untouched(who, FINAL);
    });
}

/// Whether the temporary directory (where each test's home is) is on the
/// file system of `/`: what a commit there persists is judged by its mount.
fn temp_dir_on_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    dev(&std::env::temp_dir()) == dev(Path::new("/"))
}

/// A stand-in `lbu` in `home` that logs its arguments, and saves (exit 0)
/// or fails as Alpine installed to disk does (`saves`): the PATH that
/// finds it first, and its log. What its stdin was goes to the log's
/// `.stdin` file ([`assert_lbu_read_no_channel`]).
fn lbu_stand_in(home: &Home, saves: bool) -> (String, PathBuf) {
    let bin = home.0.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let log = home.0.path("lbu.log");
    let fails = "echo 'usage: lbu commit [-nv] <media>' >&2\nexit 1\n";
    let lbu = format!(
        "#!/bin/sh\necho \"$*\" >>'{}'\nreadlink /proc/$$/fd/0 >>'{}.stdin'\n{}",
        log.display(),
        log.display(),
        if saves { "" } else { fails }
    );
    std::fs::write(bin.join("lbu"), lbu).unwrap();
    std::fs::set_permissions(bin.join("lbu"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    (path, log)
}

/// Runs the node `node` in a mount namespace of its own whose `/` is an
/// overlay (as Raspberry Pi OS's overlay file system, or a live image, has
/// it), under `dir`: the top directories of the real root are bound into
/// it, so the node sees its files (its program too, wherever the checkout
/// is), and `/proc/mounts` an overlay on `/`; `$HOME` is a directory of
/// the overlay bound over the disk's, holding a copy of `.ssh` (what the
/// node changes there is lost with the overlay, as at a reboot).
fn on_an_overlay_root(node: &Node, dir: &Path) -> Node {
    let wrap = r#"set -eu
r=$1
shift
mount -t tmpfs rccr-overlay "$r"
mkdir "$r/lower" "$r/upper" "$r/work" "$r/root"
for e in /*; do
	if [ -L "$e" ]; then cp -P "$e" "$r/lower/"; elif [ -d "$e" ]; then mkdir "$r/lower/${e#/}"; fi
done
mount -t overlay overlay -o "lowerdir=$r/lower,upperdir=$r/upper,workdir=$r/work" "$r/root"
for e in /*; do
	[ -d "$e" ] && [ ! -L "$e" ] || continue
	case $e in
	/proc) mount -t proc proc "$r/root/proc" ;;
	*) mount --bind "$e" "$r/root$e" ;;
	esac
done
mkdir "$r/root/.home"
cp -a "$HOME/.ssh" "$r/root/.home/"
mount --bind "$r/root/.home" "$r/root$HOME"
exec chroot "$r/root" "$@""#;
    std::fs::create_dir(dir).unwrap();
    let mut argv: Node = ["unshare", "-m", "sh", "-c", wrap, "sh"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.push(dir.display().to_string());
    argv.extend(node.iter().cloned());
    argv
}

#[test]
fn a_commit_on_an_overlay_root_without_lbu_is_volatile() {
    // Raspberry Pi OS's overlay file system, overlayroot, a live image: a
    // reboot brings back the lower layer, and the temporary key with it.
    // Taken for a disk, the rotation said `rotated`. And a ~/.ssh on a
    // tmpfs: judged by `/` (here on a disk), that said `disk`.
    if !common::lab::require_root() {
        return;
    }
    if rccr::persist::lbu().is_some() {
        common::skip("this machine has lbu, whose word would stand");
        return;
    }
    for_each_node("overlay", |node, who, home| {
        home.send_ok(node, &["stage", "ro", "60", "nd"], "nd", STAGED);
        let layered = on_an_overlay_root(node, &home.0.path("overlay"));
        let (_, out) = home.converse(&layered, &["commit", "ne"], "ne", |_| file(FINAL));
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out), "committed\nvolatile\n", "{who}");
        // Gone with the overlay: the rotation as staged, still armed.
        assert_eq!(home.keys(), STAGED, "{who}");
        home.send_ok(node, &["commit", "nf"], "nf", FINAL);
        home.assert_untouched(who, FINAL);
        // In a mount namespace of its own, ~/.ssh a tmpfs holding a copy.
        let on_tmpfs = r#"set -eu
cp -a "$HOME/.ssh" "$HOME/ssh-copy"
mount -t tmpfs rccr-home "$HOME/.ssh"
cp -a "$HOME/ssh-copy/." "$HOME/.ssh/"
rm -rf "$HOME/ssh-copy"
exec "$@""#;
        let tmpfs_home = behind(node, &["unshare", "-m", "sh", "-c", on_tmpfs, "sh"]);
        let (_, out) = home.converse(&tmpfs_home, &["commit", "nt"], "nt", |_| file(FINAL));
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out), "committed\nvolatile\n", "{who} on a tmpfs");
    });
}

/// A stage (`stage rt 1 nu`, revert after one second) held once its
/// marker has its name, with the node's lock, until its gate opens (at
/// the latest when this is dropped: a failed test leaves no stage held).
struct HeldStage {
    child: Option<KillOnDrop>,
    /// Created to let the stage go on.
    gate: PathBuf,
}

impl Drop for HeldStage {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.gate, "");
    }
}

impl HeldStage {
    /// Starts the stage with `env` too, sends it [`STAGED`], and returns
    /// once it is held.
    fn start(home: &Home, node: &Node, env: &[(&str, &str)]) -> HeldStage {
        // As src/failpoint.rs: `reached` once held, held until `continue`.
        let gate = home.0.path("continue");
        let held = home.0.path("reached");
        let bin = home.0.path("bin");
        std::fs::create_dir(&bin).unwrap();
        // The script's stage is held at its first sync once the marker
        // has its name; rccr's at its failpoint `node-armed`, there too.
        let sync = Command::new("sh")
            .args(["-c", "command -v sync"])
            .output()
            .unwrap();
        let sync = format!(
            "#!/bin/sh\nif [ -e \"$HOME/.ssh/.rccr-rotation\" ] && [ ! -e '{gate}' ]; then\n\t: >'{held}'\n\twhile [ ! -e '{gate}' ]; do sleep 0.05; done\nfi\nexec {} \"$@\"\n",
            stdout(&sync).trim(),
            gate = gate.display(),
            held = held.display(),
        );
        std::fs::write(bin.join("sync"), sync).unwrap();
        std::fs::set_permissions(bin.join("sync"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let dir = home.0 .0.to_str().unwrap();
        let mut all = vec![
            ("PATH", path.as_str()),
            ("RCCR_FAILPOINT", "node-armed"),
            ("RCCR_FAILPOINT_DIR", dir),
        ];
        all.extend_from_slice(env);
        let mut child = home.spawn_with(node, &["stage", "rt", "1", "nu"], &all);
        let mut out = child.stdout.take().unwrap();
        read_head(&mut out, "nu").unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&file(STAGED))
            .unwrap();
        wait_until("the stage to be held", || held.exists());
        // Its output again, for `finish`.
        child.stdout = Some(out);
        HeldStage {
            child: Some(child),
            gate,
        }
    }

    /// Lets the stage go on, and asserts it staged.
    fn finish(mut self, who: &str) {
        std::fs::write(&self.gate, "").unwrap();
        let out = self.child.take().unwrap().wait_with_output();
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out), "staged\n", "{who}");
    }
}

#[test]
fn a_timer_that_wakes_during_its_stage_reverts_only_after_it() {
    // A slow disk (or a stage held at a failpoint) keeps the stage going
    // past its one-second revert. The timer must wait for the stage, then
    // revert: reverting under it, the stage would install the new file
    // after the revert, with no marker or timer left to undo it.
    for_each_node("slowstage", |node, who, home| {
        let stage = HeldStage::start(home, node, &[]);
        // The timer woke: it reverted (marker gone) or waits for the lock.
        let marker = home.0.path(".ssh/.rccr-rotation");
        let lock = home.0.path(".rccr-keys.lock");
        wait_until("the timer to wake", || {
            !marker.exists() || lock_awaited(&lock)
        });
        stage.finish(who);
        wait_until("the revert after the stage", || {
            home.keys() == ORIGINAL && home.leftovers().is_empty()
        });
    });
}

#[test]
fn a_timer_kept_from_the_lock_past_its_wait_leaves_both_keys_to_the_next_stage() {
    // A step that stalls holding the node's lock (a dead channel, a hung
    // lbu commit) held the revert timer up as long, with no bound. Now the
    // timer waits twice the input wait (2 s here) and then ends without
    // reverting: the node keeps old and new keys (never neither), the
    // rotation's timer died, and the next stage reverts it.
    for_each_node("stuckstage", |node, who, home| {
        let stage = HeldStage::start(home, node, &[("RCCR_KEYS_INPUT_WAIT", "1")]);
        // Generous: only "it gave up", never how fast.
        wait_for_within(
            &format!("{who}: the timer to give up waiting for the lock"),
            Duration::from_secs(60),
            || home.read(node).1 == "rt.nu timer-died",
        );
        stage.finish(who);
        assert_eq!(home.keys(), STAGED, "{who}: not staged");
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
        assert_eq!(home.read(node).1, "rt.nu timer-died", "{who}");
        let newer = [ORIGINAL, b"ssh-ed25519 AAAANEWER x\n"].concat();
        let (_, out) = home.converse(node, &["stage", "rv", "60", "nw"], "nw", |head| {
            assert_eq!(split(head).1, "-", "{who}: still armed");
            assert_eq!(split(head).2, ORIGINAL, "{who}: not reverted");
            file(&newer)
        });
        assert!(out.status.success(), "{who}: {}", stderr(&out));
    });
}

/// Sets or clears the immutable attribute of `path`; false where the
/// filesystem has none.
fn immutable(path: &Path, on: bool) -> bool {
    let flag = if on { "+i" } else { "-i" };
    Command::new("chattr")
        .arg(flag)
        .arg(path)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_commit_that_cannot_remove_the_marker_fails_and_changes_nothing() {
    for_each_node("stuckmark", |node, who, home| {
        home.send_ok(node, &["stage", "rm", "60", "nm"], "nm", STAGED);
        let marker = home.0.path(".ssh/.rccr-rotation");
        if !immutable(&marker, true) {
            common::skip("no chattr +i here");
            return;
        }
        let (_, out) = home.converse(node, &["commit", "nn"], "nn", |_| file(FINAL));
        assert!(immutable(&marker, false));
        assert_refused(&out, 1, "cannot disarm rotation rm.nm", who);
        assert_eq!(home.keys(), STAGED, "{who}");
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
        assert_eq!(home.read(node).1, "rm.nm", "{who}");
        home.send_ok(node, &["commit", "no"], "no", FINAL);
        home.assert_untouched(who, FINAL);
    });
}

/// `node` run by `wrapper` (a program and its arguments, which execs the
/// rest), behind `env` when the node runs busybox's applets, so that its
/// PATH still puts them first.
fn behind(node: &Node, wrapper: &[&str]) -> Node {
    let env = usize::from(node[0] == ENV);
    let mut wrapped: Node = node[..env].to_vec();
    wrapped.extend(wrapper.iter().map(|s| s.to_string()));
    wrapped.extend(node[env..].iter().cloned());
    wrapped
}

#[test]
fn a_commit_that_cannot_write_the_new_file_fails_still_armed() {
    // Past a file-size limit (or on a full disk) the commit cannot write
    // the new file. remote.sh writes it before the disarm; the built-in
    // side removed the marker first, and left old and new key with no
    // timer (nor boot) to revert them.
    let limited = "trap '' XFSZ; ulimit -f 1; exec \"$@\"";
    let big: Vec<u8> = [FINAL, b"# ", &[b'x'; 1024][..], b"\n"].concat();
    for_each_node("fsize", |node, who, home| {
        home.send_ok(node, &["stage", "rf", "60", "nf"], "nf", STAGED);
        let wrapped = behind(node, &["sh", "-c", limited, "limited"]);
        let (head, out) = home.converse(&wrapped, &["commit", "ng"], "ng", |_| file(&big));
        assert!(head.is_some(), "{who}: {}", stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{who}: {}", stderr(&out));
        assert_eq!(home.keys(), STAGED, "{who}");
        assert_eq!(home.read(node).1, "rf.nf", "{who}: disarmed");
        home.send_ok(node, &["commit", "nh"], "nh", &big);
        home.assert_untouched(who, &big);
    });
}

#[test]
fn a_directory_that_cannot_be_set_to_0700_does_not_undo_an_install() {
    // A user who may write in ~/.ssh but not chmod it (another owns it):
    // the file is installed all the same. A stage that took the failed
    // chmod for a failed install disarmed, and left the new file with no
    // timer to undo it.
    use std::os::unix::fs::chown;
    const NOBODY: u32 = 65534;
    for node in nodes() {
        let who = name(&node);
        let home = Home::with_original("nochmod", &node);
        std::fs::set_permissions(home.0.path(".ssh"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        chown(&home.0 .0, Some(NOBODY), Some(NOBODY)).unwrap();
        chown(home.ak(), Some(NOBODY), Some(NOBODY)).unwrap();
        let ids = format!("--reuid={NOBODY}");
        let gid = format!("--regid={NOBODY}");
        let mut as_nobody: Node = ["setpriv", &ids, &gid, "--clear-groups", "--"]
            .map(String::from)
            .to_vec();
        as_nobody.extend(node.iter().cloned());
        let (_, out) = home.converse(&as_nobody, &["stage", "rc", "60", "nc"], "nc", |_| {
            file(STAGED)
        });
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out), "staged\n", "{who}");
        assert_has(&stderr(&out), "0700");
        assert_eq!(home.keys(), STAGED, "{who}");
        assert_eq!(home.read(&node).1, "rc.nc", "{who}: disarmed");
        assert_eq!(backup(&home).as_deref(), Some(ORIGINAL), "{who}");
        let (_, out) = home.converse(&as_nobody, &["commit", "nd"], "nd", |_| file(FINAL));
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert!(stdout(&out).starts_with("committed\n"), "{who}");
        home.assert_untouched(who, FINAL);
    }
}

#[test]
fn staging_without_authorized_keys_fails_before_asking() {
    for node in nodes() {
        let who = name(&node);
        let home = Home::new("missing", &node);
        let (head, out) = home.converse(&node, &["stage", "r7", "60", "nd"], "nd", |_| {
            panic!("{who} asked for input without an authorized_keys")
        });
        assert!(head.is_none(), "{who}");
        assert_refused(&out, 1, "does not exist", who);
        assert!(home.leftovers().is_empty(), "{who}: {:?}", home.leftovers());
    }
}

#[test]
fn unknown_actions_fail() {
    for node in nodes() {
        let home = Home::new("unknown", &node);
        let out = home.run(&node, &["explode"]);
        assert_refused(&out, 1, "unknown action", name(&node));
    }
}

#[test]
fn rccr_refuses_another_protocol_with_exit_125_and_no_output() {
    let home = Home::new("protocol", &nodes()[0]);
    let node = vec![
        env!("CARGO_BIN_EXE_rccr").to_string(),
        "keys".into(),
        "node".into(),
    ];
    let out = home.run(&node, &["2", "read"]);
    assert_eq!(out.status.code(), Some(125));
    assert_has(&stderr(&out), "protocol 2");
    assert!(out.stdout.is_empty());
}

fn backup(home: &Home) -> Option<Vec<u8>> {
    std::fs::read(home.0.path(".ssh/.rccr-authorized_keys.bak")).ok()
}

#[test]
fn a_second_stage_while_one_is_armed_is_refused_and_the_backup_kept() {
    for_each_node("armed", |node, who, home| {
        home.send_ok(node, &["stage", "r8", "60", "ne"], "ne", STAGED);
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
        // Another run (or control) stages while the first is armed.
        let other = [STAGED, b"ssh-ed25519 AAAAOTHERRUN x\n"].concat();
        let (head, out) = home.converse(node, &["stage", "r9", "60", "nf"], "nf", |_| file(&other));
        assert!(head.is_none(), "{who}: asked for input while armed");
        assert_refused(&out, 6, "r8.ne is armed", who);
        assert_eq!(home.keys(), STAGED, "{who}");
        assert_eq!(
            backup(home).as_deref(),
            Some(ORIGINAL),
            "{who}: backup overwritten"
        );
    });
}

#[test]
fn steps_are_refused_while_another_holds_the_node_lock() {
    for_each_node("busy", |node, who, home| {
        let lock = std::fs::File::create(home.0.path(".rccr-keys.lock")).unwrap();
        assert!(rccr::fsutil::try_lock(&lock).unwrap());
        for (step, nonce) in [
            (vec!["stage", "ra", "60", "ng"], "ng"),
            (vec!["commit", "nh"], "nh"),
        ] {
            let (head, out) = home.converse(node, &step, nonce, |_| file(STAGED));
            assert!(head.is_none(), "{who} {step:?}");
            assert_refused(&out, 5, "another rotation step", &format!("{who} {step:?}"));
        }
        assert_eq!(home.keys(), ORIGINAL, "{who}");
        drop(lock);
        home.send_ok(node, &["stage", "ra", "60", "ni"], "ni", STAGED);
    });
}

/// A stage or commit step whose control never answers: it reads the
/// snapshot up to the nonce line, then holds the step's stdin open and
/// silent (a control that died, a cut link) until the step ends by itself,
/// which it must within its input wait (1 s here).
fn stalled(home: &Home, node: &Node, args: &[&str], nonce: &str) -> Output {
    let mut child = home.spawn_with(node, args, &[("RCCR_KEYS_INPUT_WAIT", "1")]);
    let held = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    if let Err(head) = read_head(&mut stdout, nonce) {
        panic!("{}: {args:?} ended before asking: {head:?}", name(node));
    }
    // Generous: only "it ended", never how fast.
    wait_for_within(
        &format!("{} {args:?} to give up waiting for input", name(node)),
        Duration::from_secs(60),
        || child.try_wait().unwrap().is_some(),
    );
    drop(held);
    let mut out = child.wait_with_output();
    stdout.read_to_end(&mut out.stdout).unwrap();
    out
}

#[test]
fn a_step_whose_input_never_comes_gives_up_and_frees_the_lock() {
    // Before, the step waited for as long as the connection lived (hours,
    // after a cut link) and kept the node's lock: every later step refused.
    for_each_node("stalled", |node, who, home| {
        let out = stalled(home, node, &["stage", "rs", "60", "ns"], "ns");
        assert_refused(&out, 7, "no input from the control within 1 s", who);
        assert_eq!(stdout(&out), "", "{who}");
        home.assert_untouched(who, ORIGINAL);
        assert_eq!(home.read(node).1, "-", "{who}: armed without input");
        // The lock is free: the next stage goes through.
        home.send_ok(node, &["stage", "rs", "60", "nt"], "nt", STAGED);
        let out = stalled(home, node, &["commit", "nu"], "nu");
        assert_refused(&out, 7, "no input from the control within 1 s", who);
        // The armed rotation is left as it was, to its timer or a commit.
        assert_eq!(home.keys(), STAGED, "{who}");
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
        assert_eq!(home.read(node).1, "rs.nt", "{who}");
        let tmp: Vec<String> = home
            .leftovers()
            .into_iter()
            .filter(|n| n.contains("rccr-tmp"))
            .collect();
        assert!(tmp.is_empty(), "{who}: {tmp:?}");
        home.send_ok(node, &["commit", "nv"], "nv", FINAL);
        home.assert_untouched(who, FINAL);
    });
}

#[test]
fn leftovers_of_a_crashed_step_are_removed() {
    for_each_node("leftover", |node, who, home| {
        // A step killed at boot-time pids that repeat, by either side.
        for name in [
            ".rccr-tmp.1234",
            ".authorized_keys.rccr-tmp.0123456789abcdef",
        ] {
            std::fs::write(home.0.path(".ssh").join(name), b"half a file").unwrap();
        }
        home.send_ok(node, &["stage", "rb", "60", "nj"], "nj", STAGED);
        home.send_ok(node, &["commit", "nk"], "nk", FINAL);
        assert_eq!(home.keys(), FINAL, "{who}");
        assert_eq!(home.leftovers(), Vec::<String>::new(), "{who}");
    });
}

/// A stage killed after its revert timer locked the marker-to-be, before
/// the marker took its name (a lost link during the marker's sync on a
/// slow card): that timer lives on, holding its lock, for up to
/// --revert-after seconds. The next stage must not need that file. The
/// script wrote the marker-to-be under one fixed name (`.rccr-rotation.tmp`),
/// rewrote the same file the next time, found it locked by the old timer
/// and failed with "cannot arm the revert" until the old timer ended; rccr
/// takes a fresh random name each time.
#[test]
fn a_stage_killed_before_its_marker_took_its_name_blocks_no_later_stage() {
    for_each_node("killedarm", |node, who, home| {
        let stale = home.0.path(".ssh/.rccr-rotation.tmp");
        std::fs::write(&stale, b"ry.nx\ntimer-holds-lock\n").unwrap();
        // The old timer, alive: it holds the lock on what it was handed.
        let timer = std::fs::File::open(&stale).unwrap();
        assert!(rccr::fsutil::try_lock(&timer).unwrap());
        home.send_ok(node, &["stage", "rz", "60", "nz"], "nz", STAGED);
        assert_eq!(home.read(node).1, "rz.nz", "{who}");
        home.send_ok(node, &["commit", "ny"], "ny", FINAL);
        assert_eq!(home.keys(), FINAL, "{who}");
        drop(timer);
    });
}

#[test]
fn a_file_over_one_mebibyte_is_refused() {
    for_each_node("big", |node, who, home| {
        let big = [STAGED, &vec![b'#'; 1 << 20][..]].concat();
        let (_, out) = home.converse(node, &["stage", "rc", "60", "nl"], "nl", |_| file(&big));
        assert_refused(&out, 1, "larger than 1048576 bytes", who);
        home.assert_untouched(who, ORIGINAL);
    });
}

/// An input longer than a header and a mebibyte, whatever its header
/// says (here: the size of a small file), is refused as too large once
/// that much arrived; it is never written whole (the script's reader
/// stops there), and nothing is left behind.
#[test]
fn an_input_longer_than_its_bound_is_refused_whatever_its_header_says() {
    for_each_node("long", |node, who, home| {
        let long = [&file(STAGED)[..], &vec![b'#'; 4 << 20][..]].concat();
        for (step, nonce) in [
            (vec!["stage", "rd", "60", "nm"], "nm"),
            (vec!["commit", "nn"], "nn"),
        ] {
            let (_, out) = home.converse(node, &step, nonce, |_| long.clone());
            let context = format!("{who} {step:?}");
            assert_refused(
                &out,
                1,
                "larger than 1048576 bytes; nothing changed",
                &context,
            );
            home.assert_untouched(&context, ORIGINAL);
        }
    });
}

/// What a step says of an authorized_keys over a mebibyte, `HOME` for the
/// home ([`said_in`]).
const TOO_LARGE: &str = "rccr-remote: HOME/.ssh/authorized_keys is larger than 1048576 bytes, \
    more than a key rotation carries; it is left as it is: remove the keys it no longer needs, \
    then run again\n";

/// An authorized_keys over a mebibyte is refused by every step before it
/// prints a byte (rccr read it whole into memory, the script printed it
/// whole): never cut short, never changed. One of exactly a mebibyte is
/// read whole. A cut marker's backup fits no such file (nor does one
/// over a mebibyte, its start): the stage drops marker and backup (as at
/// boot), then refuses the file alike.
#[test]
fn an_authorized_keys_over_one_mebibyte_is_refused_by_every_step_and_left_as_it_is() {
    let big_backup = [ORIGINAL, &b"#\n".repeat(1 << 19)].concat();
    let big = [&big_backup[..], b"k2\n"].concat();
    let cases = [
        ("over a mebibyte", (&big[..], None)),
        ("over a mebibyte, a cut marker", (&big, Some(ORIGINAL))),
        (
            "over a mebibyte, a cut marker, the backup too",
            (&big, Some(&big_backup[..])),
        ),
        ("a mebibyte", (&big[..1 << 20], None)),
    ];
    for_each_case_said_alike("akbig", &cases, |node, who, home, _, (keys, cut)| {
        std::fs::write(home.ak(), keys).unwrap();
        if let Some(backup) = cut {
            std::fs::write(home.0.path(".ssh/.rccr-authorized_keys.bak"), backup).unwrap();
            std::fs::write(home.0.path(".ssh/.rccr-rotation"), b"rg.n").unwrap();
        }
        let read = home.run(node, &["read"]);
        let mut said = said_in(home, &read);
        if keys.len() <= 1 << 20 {
            assert!(read.status.success(), "{who}: {said}");
            assert_eq!(split(&read.stdout).2, keys, "{who}");
            return said;
        }
        assert_eq!(
            (read.status.code(), &said[..]),
            (Some(1), TOO_LARGE),
            "{who} read"
        );
        assert!(read.stdout.is_empty(), "{who} read printed");
        for (step, nonce) in [
            (vec!["stage", "rb", "60", "nb"], "nb"),
            (vec!["commit", "nc"], "nc"),
        ] {
            let (head, out) = home.converse(node, &step, nonce, |_| file(FINAL));
            assert!(head.is_none(), "{who} {step:?}: asked for input");
            let step_said = said_in(home, &out);
            assert_eq!(
                (out.status.code(), &step_said[..]),
                (Some(1), TOO_LARGE),
                "{who} {step:?}"
            );
            home.assert_untouched(&format!("{who} {step:?}"), keys);
            said += &step_said;
        }
        said
    });
}

/// Runs `step`, a step on the pipe `fifo`, in a thread of its own, and
/// returns what it returned. A guard, not a speed check: a step still
/// waiting on the pipe after a minute has hung, and the test fails; the
/// pipe's reader is let go first (a writer comes and goes, and a directory
/// takes the pipe's name: no later step stages on it and arms a timer), so
/// no step is left behind.
fn unhung<T: Send>(fifo: &Path, step: impl FnOnce() -> T + Send) -> T {
    use std::os::unix::fs::OpenOptionsExt;
    std::thread::scope(|scope| {
        let (done, result) = std::sync::mpsc::channel();
        scope.spawn(move || done.send(step()));
        if let Ok(returned) = result.recv_timeout(Duration::from_secs(60)) {
            return returned;
        }
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo);
        std::fs::remove_file(fifo).unwrap();
        std::fs::create_dir(fifo).unwrap();
        drop(writer);
        panic!("a step hung on the pipe {}", fifo.display());
    })
}

/// A pipe at authorized_keys (or a device) grants nothing: every step
/// reads it as absent (`none`), never opens it to read (rccr waited for a
/// writer for good, holding the node's lock), and leaves it a pipe: a
/// stage refuses it before asking, a commit is sent nothing.
#[test]
fn an_authorized_keys_that_is_a_pipe_is_none_to_every_step_and_never_waited_on() {
    for_each_node("akfifo", |node, who, home| {
        std::fs::remove_file(home.ak()).unwrap();
        assert!(Command::new("mkfifo")
            .arg(home.ak())
            .status()
            .unwrap()
            .success());
        let (read, (stage_head, stage), (commit_head, commit)) = unhung(&home.ak(), || {
            (
                home.run(node, &["read"]),
                home.converse(node, &["stage", "rp", "60", "np"], "np", |_| file(FINAL)),
                home.converse(node, &["commit", "nq"], "nq", |_| Vec::new()),
            )
        });
        assert!(read.status.success(), "{who} read: {}", stderr(&read));
        assert_eq!(read.stdout, b"none\n-\n", "{who} read");
        assert!(stage_head.is_none(), "{who} stage asked for input");
        assert_refused(
            &stage,
            1,
            "authorized_keys does not exist or is no regular file",
            who,
        );
        assert_eq!(
            commit_head.as_deref(),
            Some(&b"none\n-\n"[..]),
            "{who} commit"
        );
        assert!(commit.status.success(), "{who} commit: {}", stderr(&commit));
        assert_has(&stdout(&commit), "unchanged");
        let kind = std::fs::symlink_metadata(home.ak()).unwrap().file_type();
        assert!(
            std::os::unix::fs::FileTypeExt::is_fifo(&kind),
            "{who}: no pipe now"
        );
        assert!(home.leftovers().is_empty(), "{who}: {:?}", home.leftovers());
    });
}

/// What `strace -f -y` saw of a stage, in order: syncs, renames and
/// exclusive locks taken.
#[derive(Debug)]
enum Seen {
    /// fsync or fdatasync of a path; `None` for sync(2) or syncfs(2).
    Sync(Option<String>),
    Rename {
        to: String,
        from: String,
    },
    /// An exclusive flock taken on a path.
    Locked(String),
}

/// The path strace -y shows for a call's first argument, `N</path>`.
fn fd_path(call: &str) -> Option<String> {
    let path = call.split_once('<').and_then(|(_, p)| p.split_once('>'));
    path.map(|(p, _)| p.to_string())
}

/// strace's log (`PID call`) with each call another process interrupted
/// made whole again: `PID flock(3</f>, LOCK_EX <unfinished ...>` and, later,
/// `PID <... flock resumed>) = 0` are one line, where the resumed one was.
fn joined(log: &str) -> Vec<String> {
    let mut pending = std::collections::HashMap::new();
    let mut lines = Vec::new();
    for line in log.lines() {
        let Some((pid, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        if let Some(head) = call.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, head);
        } else if let Some(tail) = call.strip_prefix("<... ") {
            let tail = tail.split_once(" resumed>").map_or("", |(_, t)| t);
            let head = pending.remove(pid).unwrap_or("");
            lines.push(format!("{pid} {head}{tail}"));
        } else {
            lines.push(line.to_string());
        }
    }
    lines
}

#[test]
fn a_call_strace_shows_in_two_parts_is_seen_whole() {
    let log = "10 flock(3</h/.ssh/.rccr-keys.lock>, LOCK_EX <unfinished ...>\n\
               11 fsync(4</h/.ssh/x>) = 0\n\
               10 <... flock resumed>) = 0\n\
               11 rename(\"/h/a\", \"/h/b\" <unfinished ...>\n\
               11 <... rename resumed>) = 0\n";
    let seen = format!("{:?}", syncs_and_renames(log));
    assert_eq!(
        seen,
        r#"[Sync(Some("/h/.ssh/x")), Locked("/h/.ssh/.rccr-keys.lock"), Rename { to: "/h/b", from: "/h/a" }]"#
    );
}

/// The syncs, successful renames and exclusive locks in strace's log.
fn syncs_and_renames(log: &str) -> Vec<Seen> {
    let quoted = |line: &str| -> Vec<String> {
        line.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut seen = Vec::new();
    for line in joined(log) {
        // `PID call(args) = result`
        let Some((_, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        if call.starts_with("sync(") || call.starts_with("syncfs(") {
            seen.push(Seen::Sync(None));
        } else if call.starts_with("fsync(") || call.starts_with("fdatasync(") {
            seen.push(Seen::Sync(fd_path(call)));
        } else if call.starts_with("flock(")
            && call.contains("LOCK_EX")
            && call.trim_end().ends_with("= 0")
        {
            seen.extend(fd_path(call).map(Seen::Locked));
        } else if call.starts_with("rename") && call.trim_end().ends_with("= 0") {
            let paths = quoted(call);
            seen.push(Seen::Rename {
                from: paths[0].clone(),
                to: paths[1].clone(),
            });
        }
    }
    seen
}

/// The project's promise for every file a stage changes: the backup and
/// the revert marker are fsynced, renamed, and their directory fsynced
/// before the new authorized_keys replaces the old one (a revert must
/// never rename a backup whose bytes are not on disk over the file).
/// Seen through strace on the real shells and rccr.
#[test]
fn a_stage_makes_backup_and_marker_durable_before_the_install() {
    if !common::found("strace") {
        common::skip("no strace (apt install strace)");
        return;
    }
    for_each_node("durable", |node, who, home| {
        let log = home.0.path("strace.log");
        let mut traced: Node = [
            "strace",
            "-f",
            "-qq",
            "-y",
            "-e",
            "signal=none",
            "-e",
            "trace=fsync,fdatasync,sync,syncfs,rename,renameat,renameat2,flock",
            "-o",
        ]
        .map(String::from)
        .to_vec();
        traced.push(log.display().to_string());
        traced.push("--".into());
        traced.extend(node.iter().cloned());
        // strace waits for the detached revert timer: 1 s keeps it short.
        home.send_ok(&traced, &["stage", "rd", "1", "nm"], "nm", STAGED);
        let seen = syncs_and_renames(&std::fs::read_to_string(&log).unwrap());
        let dir = home.0.path(".ssh").display().to_string();
        let backup = format!("{dir}/.rccr-authorized_keys.bak");
        // The first rename to `name`, but not from the backup: on a slow
        // machine the 1 s revert may restore it before the install.
        let renamed_to = |name: &str| {
            let to = format!("{dir}/{name}");
            seen.iter()
                .position(
                    |s| matches!(s, Seen::Rename { to: t, from } if *t == to && *from != backup),
                )
                .unwrap_or_else(|| panic!("{who}: no rename to {to}: {seen:#?}"))
        };
        // A sync of `path` (or of everything) between two steps: one
        // before the file was written proves nothing.
        let synced = |path: &str, range: std::ops::Range<usize>| {
            seen[range].iter().any(|s| match s {
                Seen::Sync(None) => true,
                Seen::Sync(Some(p)) => p == path,
                Seen::Rename { .. } | Seen::Locked(_) => false,
            })
        };
        let install = renamed_to("authorized_keys");
        let mut last = 0;
        for name in [".rccr-authorized_keys.bak", ".rccr-rotation"] {
            let at = renamed_to(name);
            let Seen::Rename { from, .. } = &seen[at] else {
                unreachable!()
            };
            assert!(at < install, "{who}: {name} after the install: {seen:#?}");
            assert!(
                synced(from, last..at),
                "{who}: {from} renamed unsynced: {seen:#?}"
            );
            last = at;
        }
        assert!(
            synced(&dir, last..install),
            "{who}: the directory is not synced between the renames and the install: {seen:#?}"
        );
        // The revert timer holds the marker's lock before the marker has
        // its name: no reader ever sees it unlocked while the timer lives.
        let marked = renamed_to(".rccr-rotation");
        let Seen::Rename { from, .. } = &seen[marked] else {
            unreachable!()
        };
        assert!(
            seen[..marked]
                .iter()
                .any(|s| matches!(s, Seen::Locked(p) if p == from)),
            "{who}: the marker took its name before its timer locked it: {seen:#?}"
        );
    });
}

/// The processes started with this `HOME`: once a step has ended, its
/// detached revert timer (and what the timer runs, `sleep` in a shell).
fn processes_of(home: &Home) -> Vec<i32> {
    let wanted = [
        b"HOME=".as_slice(),
        home.0 .0.as_os_str().as_encoded_bytes(),
    ]
    .concat();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid: &i32| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == wanted))
        })
        .filter(|pid| !exited(pid))
        .collect()
}

/// Gone or a zombie: a dying process gives up its memory (and so its
/// environ) before its files, and the timer's lock goes with its files.
fn exited(pid: &i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with(['Z', 'X']))
    })
}

/// The armed rotation's revert timer: the inode of its marker, which the
/// timer holds a lock on from its first instant to its last (whatever
/// name the marker has, or none once a commit removed it).
fn timer_of(home: &Home) -> Timer {
    use std::os::unix::fs::MetadataExt;
    let marker = std::fs::metadata(home.0.path(".ssh/.rccr-rotation")).unwrap();
    let pids = lock_holders(marker.ino());
    assert!(!pids.is_empty(), "no revert timer holds the marker");
    Timer {
        ino: marker.ino(),
        pids,
    }
}

/// A revert timer: its marker's inode and the processes holding its lock.
/// By the inode alone, a parallel test's marker that gets the number once
/// this timer's file is gone (or a file of another device) would pass for
/// it.
struct Timer {
    ino: u64,
    pids: Vec<u32>,
}

/// Waits until the timer of [`timer_of`] has ended: if it was to act, it
/// has acted.
fn wait_for_timer(timer: Timer) {
    wait_until("the timer to end", || {
        !lock_holders(timer.ino)
            .iter()
            .any(|pid| timer.pids.contains(pid))
    });
}

/// What a reboot does to a home's rotation: every process started with
/// this `HOME` (the revert timer among them) is SIGKILLed; the files stay.
fn kill_processes_of(home: &Home) {
    let pids = processes_of(home);
    assert!(!pids.is_empty(), "no revert timer runs for {:?}", home.0 .0);
    for pid in &pids {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    wait_until("the timer to die", || pids.iter().all(exited));
}

#[test]
fn a_rotation_whose_timer_died_is_reverted_by_the_next_stage() {
    for_each_node("orphan", |node, who, home| {
        // A reboot between stage and commit: the file staged, the timer gone.
        home.send_ok(node, &["stage", "re", "60", "nn"], "nn", STAGED);
        kill_processes_of(home);
        assert_eq!(home.keys(), STAGED, "{who}");
        // The next stage first does what the timer would have done, then
        // stages from the restored file.
        let newer = [ORIGINAL, b"ssh-ed25519 AAAANEWER x\n"].concat();
        let (head, out) = home.converse(node, &["stage", "rf", "60", "no"], "no", |head| {
            assert_eq!(split(head).1, "-", "{who}: still armed");
            assert_eq!(split(head).2, ORIGINAL, "{who}: not reverted");
            file(&newer)
        });
        assert!(head.is_some(), "{who}: refused: {}", stderr(&out));
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(home.keys(), newer, "{who}");
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
        // A commit (over the new key) commits as ever, timer or not.
        kill_processes_of(home);
        let (_, out) = home.converse(node, &["commit", "np"], "np", |head| {
            assert_eq!(split(head).1, "rf.no timer-died", "{who}");
            file(FINAL)
        });
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        home.assert_untouched(who, FINAL);
    });
}

#[test]
fn a_marker_of_an_older_version_still_waits_for_its_timer() {
    for_each_node("legacy", |node, who, home| {
        // Older versions wrote the token alone; their timer holds no lock,
        // so whether it lives is unknown: the stage is refused as before.
        std::fs::write(home.0.path(".ssh/.rccr-authorized_keys.bak"), ORIGINAL).unwrap();
        std::fs::write(home.ak(), STAGED).unwrap();
        std::fs::write(home.0.path(".ssh/.rccr-rotation"), b"rg.nq\n").unwrap();
        assert_eq!(home.read(node).1, "rg.nq", "{who}");
        let (head, out) = home.converse(node, &["stage", "rh", "60", "nr"], "nr", |_| file(FINAL));
        assert!(head.is_none(), "{who}: asked for input while armed");
        assert_refused(&out, 6, "rg.nq is armed", who);
        assert_eq!(home.keys(), STAGED, "{who}");
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
    });
}

/// A stage (sent nothing) on a home left staged with `marker` and the
/// backup `backup`: it must ask, from no armed rotation and the file
/// `then`, and leave that file alone with no marker or backup.
fn stage_past_a_marker(
    node: &Node,
    who: &str,
    home: &Home,
    marker: &[u8],
    backup: &[u8],
    then: &[u8],
) {
    std::fs::write(home.0.path(".ssh/.rccr-authorized_keys.bak"), backup).unwrap();
    std::fs::write(home.ak(), STAGED).unwrap();
    std::fs::write(home.0.path(".ssh/.rccr-rotation"), marker).unwrap();
    stage_past(node, who, home, then);
}

/// [`stage_past_a_marker`] on the files as they are.
fn stage_past(node: &Node, who: &str, home: &Home, then: &[u8]) {
    let (head, out) = home.converse(node, &["stage", "rh", "60", "nr"], "nr", |head| {
        assert_eq!(split(head).1, "-", "{who}: still armed");
        assert_eq!(
            split(head).2,
            then,
            "{who}: not the file it should stage on"
        );
        Vec::new()
    });
    assert!(head.is_some(), "{who}: refused: {}", stderr(&out));
    assert!(out.status.success(), "{who}: {}", stderr(&out));
    home.assert_untouched(who, then);
}

#[test]
fn a_marker_cut_short_is_reverted_by_the_next_stage() {
    // A write of the marker cut short (a full disk) names no token its
    // timer would revert: it blocked every later stage for good.
    for (i, cut) in ["", "rg.n", "rg.nq\ntimer-ho"].iter().enumerate() {
        for_each_node(&format!("cut{i}"), |node, who, home| {
            let who = format!("{who} {cut:?}");
            stage_past_a_marker(node, &who, home, cut.as_bytes(), ORIGINAL, ORIGINAL);
        });
    }
}

#[test]
fn a_marker_cut_short_keeps_the_file_when_its_backup_is_no_copy_of_it() {
    // A marker cut short comes from a stage that crashed before its writes
    // were durable: its backup may be empty or garbage. Renamed over the
    // file, it took every key; the file a stage leaves holds the old key.
    for (i, cut) in ["", "rg.n"].iter().enumerate() {
        for (j, bak) in [&b""[..], &[0u8; 8][..], b"garbage\n"].iter().enumerate() {
            for_each_node(&format!("cutbak{i}{j}"), |node, who, home| {
                let who = format!("{who} {cut:?} {bak:?}");
                stage_past_a_marker(node, &who, home, cut.as_bytes(), bak, STAGED);
            });
        }
    }
}

#[test]
fn a_cut_marker_judges_odd_files_alike_on_every_node() {
    // As rccr reads them at boot: a backup that is a link, or one or a
    // file over 1 MiB (the stage then refuses the file:
    // an_authorized_keys_over_one_mebibyte_is_refused...), fits nothing; a
    // whole backup goes over a file
    // that is a pipe (sshd refuses it); a marker that is a pipe or a link
    // counts as cut, and is never read (a pipe would hang the step). Over
    // a file absent, a pipe, or only NUL bytes and blanks, which grant
    // nothing, any backup fits.
    let cases: [(&str, &[u8]); 7] = [
        ("backup a link", STAGED),
        ("file a pipe", ORIGINAL),
        ("marker a pipe", ORIGINAL),
        ("marker a link", ORIGINAL),
        ("file absent", b"k1"),
        ("file a pipe, backup unended", b"k1"),
        // A crash before a stage's writes were durable leaves this.
        ("file NUL bytes and blanks", b"k1"),
    ];
    for (i, (odd, then)) in cases.into_iter().enumerate() {
        for_each_node(&format!("odd{i}"), |node, who, home| {
            let who = format!("{who} {odd}");
            let (bak, mark) = (
                home.0.path(".ssh/.rccr-authorized_keys.bak"),
                home.0.path(".ssh/.rccr-rotation"),
            );
            std::fs::write(&bak, ORIGINAL).unwrap();
            std::fs::write(home.ak(), STAGED).unwrap();
            std::fs::write(&mark, b"rg.n").unwrap();
            let fifo = |at: &Path| {
                std::fs::remove_file(at).unwrap();
                assert!(Command::new("mkfifo").arg(at).status().unwrap().success());
            };
            match odd {
                "backup a link" => {
                    std::fs::write(home.0.path("copy"), ORIGINAL).unwrap();
                    std::fs::remove_file(&bak).unwrap();
                    std::os::unix::fs::symlink(home.0.path("copy"), &bak).unwrap();
                }
                "file a pipe" => fifo(&home.ak()),
                "file absent" | "file a pipe, backup unended" | "file NUL bytes and blanks" => {
                    std::fs::write(&bak, then).unwrap();
                    match odd {
                        "file absent" => std::fs::remove_file(home.ak()).unwrap(),
                        // Every byte the script's `tr` deletes: \v too,
                        // which Rust's is_ascii_whitespace leaves out.
                        "file NUL bytes and blanks" => {
                            std::fs::write(home.ak(), b"\0\0 \n\t\x0b\x0c\r\n").unwrap()
                        }
                        _ => fifo(&home.ak()),
                    }
                }
                "marker a pipe" => fifo(&mark),
                _ => {
                    std::fs::remove_file(&mark).unwrap();
                    std::os::unix::fs::symlink("/dev/zero", &mark).unwrap();
                }
            }
            stage_past(node, &who, home, then);
        });
    }
}

#[test]
fn a_cut_marker_is_not_reverted_into_a_directory_by_any_node() {
    // rename(2) fails over a directory, where `mv` moved the backup into
    // it: marker and backup are kept, and every node says so alike.
    for_each_case_said_alike(
        "akdir",
        &[("file a directory", ())],
        |node, who, home, _, ()| {
            std::fs::write(home.0.path(".ssh/.rccr-authorized_keys.bak"), ORIGINAL).unwrap();
            std::fs::remove_file(home.ak()).unwrap();
            std::fs::create_dir(home.ak()).unwrap();
            std::fs::write(home.0.path(".ssh/.rccr-rotation"), b"rg.n").unwrap();
            let (head, out) =
                home.converse(node, &["stage", "rh", "60", "nr"], "nr", |_| file(FINAL));
            assert!(head.is_none(), "{who}: asked for input");
            assert_refused(
                &out,
                1,
                "cannot revert the rotation whose revert marker",
                who,
            );
            assert!(home.ak().is_dir(), "{who}");
            assert_eq!(
                std::fs::read_dir(home.ak()).unwrap().count(),
                0,
                "{who}: moved into it"
            );
            format!("{}left {:?}", said_in(home, &out), home.leftovers())
        },
    );
}

/// Marker contents the two readers of a marker (remote.sh's `read`, rccr's
/// bytes) could tell apart: each must be cut short for both, and reverted.
#[test]
fn a_marker_with_nul_bytes_is_cut_short_for_every_node() {
    for (i, cut) in [
        &b"rg.nq\ntimer-holds-lock\n\0\0"[..],
        b"rg.nq\n\0\0\0\0",
        b"rg\0.nq\ntimer-holds-lock\n",
    ]
    .iter()
    .enumerate()
    {
        for_each_node(&format!("nul{i}"), |node, who, home| {
            let who = format!("{who} {cut:?}");
            stage_past_a_marker(node, &who, home, cut, ORIGINAL, ORIGINAL);
        });
    }
}

/// `node` run without the capabilities that let root read any file
/// (setpriv): a file of mode 000 is then unreadable to it.
fn without_dac(node: &Node) -> Node {
    let setpriv = [
        "/usr/bin/setpriv",
        "--inh-caps=-dac_override,-dac_read_search",
        "--bounding-set=-dac_override,-dac_read_search",
        "--",
    ]
    .map(String::from);
    // The busybox applets node stays one: its PATH is set for `env`.
    let at = usize::from(node[0] == ENV);
    let mut argv = node.clone();
    argv.splice(at..at, setpriv);
    argv
}

/// Whether [`without_dac`] can run here (as root, with setpriv); says
/// why not.
fn dac_can_be_dropped() -> bool {
    if !common::lab::require_root() {
        return false;
    }
    let setpriv = Path::new("/usr/bin/setpriv").exists();
    if !setpriv {
        common::skip("no setpriv (util-linux): root reads any marker");
    }
    setpriv
}

#[test]
fn a_marker_that_cannot_be_read_is_left_and_such_a_backup_dropped_by_every_node() {
    // Not taken for one cut short (the script once reverted it, the
    // built-in side did not): what it holds is unknown, so it is left.
    if !dac_can_be_dropped() {
        return;
    }
    for_each_node("unreadable", |node, who, home| {
        let marker = home.0.path(".ssh/.rccr-rotation");
        std::fs::write(home.0.path(".ssh/.rccr-authorized_keys.bak"), b"").unwrap();
        std::fs::write(home.ak(), STAGED).unwrap();
        std::fs::write(&marker, b"").unwrap();
        std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o000)).unwrap();
        let node = without_dac(node);
        let (head, out) = home.converse(&node, &["stage", "rh", "60", "nr"], "nr", |head| {
            assert_eq!(split(head).2, STAGED, "{who}: reverted");
            Vec::new()
        });
        assert!(head.is_some(), "{who}: refused: {}", stderr(&out));
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(home.keys(), STAGED, "{who}");
        assert!(marker.exists(), "{who}: the marker was removed");
    });
    // A cut marker's backup that cannot be read does not fit, as for rccr
    // (dash stopped the step on `$(())` of nothing): dropped.
    for_each_node("unreadbak", |node, who, home| {
        let bak = home.0.path(".ssh/.rccr-authorized_keys.bak");
        std::fs::write(&bak, ORIGINAL).unwrap();
        std::fs::set_permissions(&bak, std::fs::Permissions::from_mode(0o000)).unwrap();
        std::fs::write(home.ak(), STAGED).unwrap();
        std::fs::write(home.0.path(".ssh/.rccr-rotation"), b"rg.n").unwrap();
        stage_past(&without_dac(node), who, home, STAGED);
    });
}

/// The home whose rotation [`boot_of_the_home_named_in_the_environment`]
/// reverts as rccr-init would.
const BOOT_HOME: &str = "RCCR_TEST_BOOT_HOME";

/// Not a test of its own: what
/// [`at_boot_a_marker_that_cannot_be_read_is_reverted_only_onto_a_backup_that_fits`]
/// runs without the capabilities to read any file (as an LSM may deny
/// root a file), in a process of its own.
#[test]
#[ignore]
fn boot_of_the_home_named_in_the_environment() {
    if let Some(home) = std::env::var_os(BOOT_HOME) {
        println!(
            "{:?}",
            rccr::keys::node::revert_at_boot(Path::new(&home), false)
        );
    }
}

/// What rccr-init's revert does to `home`'s rotation, run without the
/// capabilities to read any file ([`without_dac`]), in a process of its
/// own: its output prints what [`rccr::keys::node::revert_at_boot`] said.
fn boot_without_dac(home: &Home) -> Output {
    let node = without_dac(&vec![std::env::current_exe()
        .unwrap()
        .display()
        .to_string()]);
    home.spawn_with(
        &node,
        &[
            "boot_of_the_home_named_in_the_environment",
            "--exact",
            "--ignored",
            "--nocapture",
        ],
        &[(BOOT_HOME, home.0 .0.to_str().unwrap())],
    )
    .wait_with_output()
}

#[test]
fn at_boot_a_marker_that_cannot_be_read_is_reverted_only_onto_a_backup_that_fits() {
    // What an unreadable marker holds is unknown: it may be one cut short,
    // whose backup may be empty (a crash before the stage's writes were
    // durable). The boot reverted it whatever its backup: an empty one
    // took every key. Now onto a backup that fits, or one whole on its
    // own (a whole marker's timer would have restored it: authorized_keys
    // rewritten since the stage may hold only the unverified new key).
    // Any other is left, with its marker, and said: removed, it may have
    // been the old key's only copy.
    if !dac_can_be_dropped() {
        return;
    }
    let node = without_dac(&vec![std::env::current_exe()
        .unwrap()
        .display()
        .to_string()]);
    let new_only = &STAGED[ORIGINAL.len()..];
    let torn = &ORIGINAL[..ORIGINAL.len() - 1];
    // (backup, authorized_keys, the backup unreadable too, what the boot
    // says, authorized_keys then)
    for (i, (backup, ak, unreadable, said, then)) in [
        (&b""[..], STAGED, false, "Failed(", STAGED),
        (ORIGINAL, STAGED, false, "Reverted(", ORIGINAL),
        (ORIGINAL, new_only, false, "Reverted(", ORIGINAL),
        (torn, new_only, false, "Failed(", new_only),
        (ORIGINAL, STAGED, true, "Failed(", STAGED),
    ]
    .into_iter()
    .enumerate()
    {
        let home = Home::new(&format!("bootunread{i}"), &node);
        let marker = home.0.path(".ssh/.rccr-rotation");
        let bak = home.0.path(".ssh/.rccr-authorized_keys.bak");
        std::fs::write(&bak, backup).unwrap();
        std::fs::write(home.ak(), ak).unwrap();
        std::fs::write(&marker, b"rg.n\ntimer-holds-lock\n").unwrap();
        std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o000)).unwrap();
        if unreadable {
            std::fs::set_permissions(&bak, std::fs::Permissions::from_mode(0o000)).unwrap();
        }
        let out = boot_without_dac(&home);
        let who = format!("case {i}: {}", stdout(&out));
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_has(&stdout(&out), said);
        assert_eq!(home.keys(), then, "{who}");
        if said == "Failed(" {
            // Left as they were, and the operator told why.
            assert_has(
                &stdout(&out),
                "its revert marker cannot be read, and its backup is no copy",
            );
            assert_eq!(std::fs::read(&bak).unwrap(), backup, "{who}");
            assert!(marker.exists(), "{who}: the marker was removed");
        } else {
            assert!(home.leftovers().is_empty(), "{who}: {:?}", home.leftovers());
        }
    }
}

#[test]
fn a_symlinked_authorized_keys_is_refused_and_left_a_link() {
    // Config management or a dotfiles directory links it: replaced by a
    // regular file, the link's target (which comes back) kept the old keys.
    for_each_node("link", |node, who, home| {
        let target = home.0.path("managed_keys");
        std::fs::rename(home.ak(), &target).unwrap();
        std::os::unix::fs::symlink(&target, home.ak()).unwrap();
        let (head, out) = home.converse(node, &["stage", "ri", "60", "ns"], "ns", |_| file(STAGED));
        assert!(head.is_none(), "{who}: asked for input on a link");
        assert_refused(&out, 1, "is a symbolic link (to ", who);
        assert_has(&stderr(&out), "make it a copy of its target");
        assert!(home.ak().is_symlink(), "{who}: the link was replaced");
        assert_eq!(std::fs::read(&target).unwrap(), ORIGINAL, "{who}");
        assert!(home.leftovers().is_empty(), "{who}: {:?}", home.leftovers());
    });
}

#[test]
fn a_release_on_a_link_is_refused_and_left_a_link() {
    // `rccr remove --release` is a commit with no rotation: the remedy it
    // is told must fit it too (take the cluster key out of the target).
    let said = std::cell::RefCell::new(Vec::new());
    for_each_node("release-link", |node, who, home| {
        let target = link_to_a_copy(home, FINAL);
        let (head, out) = home.converse(node, &["commit", "nr"], "nr", |_| file(ORIGINAL));
        assert!(head.is_none(), "{who}: asked for input on a link");
        assert_refused(&out, 1, "is a symbolic link (to ", who);
        assert_has(
            &stderr(&out),
            "make it a copy of its target, or change the target by hand",
        );
        assert!(home.ak().is_symlink(), "{who}: the link was replaced");
        assert_eq!(std::fs::read(&target).unwrap(), FINAL, "{who}");
        assert!(home.leftovers().is_empty(), "{who}: {:?}", home.leftovers());
        said.borrow_mut()
            .push((who.to_string(), said_in(home, &out)));
    });
    assert_said_alike(&said.borrow());
}

#[test]
fn a_link_made_after_the_stage_is_refused_by_the_commit_and_left_a_link() {
    // Config management links the file mid-rotation: the commit's rename
    // would replace the link, as the stage's would have.
    let said = std::cell::RefCell::new(Vec::new());
    for_each_node("latelink", |node, who, home| {
        home.send_ok(node, &["stage", "rl", "60", "nl"], "nl", STAGED);
        let target = link_to_a_copy(home, STAGED);
        let (head, out) = home.converse(node, &["commit", "nm"], "nm", |_| file(FINAL));
        assert!(head.is_none(), "{who}: asked for input on a link");
        assert_refused(&out, 1, "is a symbolic link (to ", who);
        assert!(home.ak().is_symlink(), "{who}: the link was replaced");
        assert_eq!(std::fs::read(&target).unwrap(), STAGED, "{who}");
        // Still armed: its timer reverts it.
        assert_eq!(home.read(node).1, "rl.nl", "{who}");
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
        said.borrow_mut()
            .push((who.to_string(), said_in(home, &out)));
    });
    assert_said_alike(&said.borrow());
}

/// A step on a linked authorized_keys with a dead rotation: refused
/// before any input, exit 1, saying `what` of the rotation and never that
/// nothing changed (read without the home's path, which might hold the
/// word), the link left a link.
fn assert_the_link_refused<T: std::fmt::Debug>(
    home: &Home,
    head: Option<T>,
    out: &Output,
    who: &str,
    what: &str,
) {
    assert!(head.is_none(), "{who}: asked for input on a link: {head:?}");
    assert_refused(out, 1, "is a symbolic link (to ", who);
    assert_has(&stderr(out), what);
    assert!(
        !said_in(home, out).contains("nothing"),
        "{who}: {}",
        stderr(out)
    );
    assert!(home.ak().is_symlink(), "{who}: the link was replaced");
}

/// Makes authorized_keys a link to a file that holds `content`, as config
/// management would; returns the link's target.
fn link_to_a_copy(home: &Home, content: &[u8]) -> PathBuf {
    let target = home.0.path("managed_keys");
    std::fs::write(&target, content).unwrap();
    std::fs::remove_file(home.ak()).unwrap();
    std::os::unix::fs::symlink(&target, home.ak()).unwrap();
    target
}

#[test]
fn a_dead_rotation_on_a_link_is_dropped_and_the_link_refused() {
    // A rotation no timer reverts (its timer died, its marker cut short),
    // then config management linked the file to a target that grants a key
    // the backup lacks (a later `--rekey`'s, the released key). Renamed
    // over the link, that backup (as old as the rotation) took the key the
    // control logged in with, and the node took neither of its keys.
    const GRANTS_K2: &[u8] = b"ssh-ed25519 AAAAK2 managed\n";
    let stage: &[&str] = &["stage", "rf", "60", "ne"];
    let commit: &[&str] = &["commit", "ne"];
    let cases = [
        ("commit", (commit, GRANTS_K2)),
        ("stage", (stage, GRANTS_K2)),
        ("release", (commit, FINAL)),
        ("cut marker", (commit, STAGED)),
    ];
    for_each_case_said_alike(
        "deadlink",
        &cases,
        |node, who, home, case, (args, target_holds)| {
            if case == "cut marker" {
                // Its backup fits the target: reverted on a regular file.
                std::fs::write(home.0.path(".ssh/.rccr-authorized_keys.bak"), ORIGINAL).unwrap();
                std::fs::write(home.0.path(".ssh/.rccr-rotation"), b"rg.n").unwrap();
            } else {
                home.send_ok(node, &["stage", "rd", "60", "nd"], "nd", STAGED);
                kill_processes_of(home);
            }
            let target = link_to_a_copy(home, target_holds);
            // A diskless node: an overlay that still held marker and backup
            // would bring them back at boot, where a dead rotation is
            // reverted (over a file) or dropped anew.
            let (path, lbu_log) = lbu_stand_in(home, true);
            let env = [("PATH", path.as_str())];
            // As the control's steps: a release sends the file without the
            // key; a commit of a file without the new key, nothing.
            let (head, out) = home.converse_with(node, args, &env, "ne", |_| {
                if case == "release" {
                    file(ORIGINAL)
                } else {
                    Vec::new()
                }
            });
            assert_the_link_refused(
                home,
                head,
                &out,
                who,
                "no timer reverts, dropped (its marker and backup removed; the link and its \
                 target kept)",
            );
            assert_eq!(std::fs::read(&target).unwrap(), target_holds, "{who}");
            let saved = std::fs::read_to_string(&lbu_log).unwrap_or_default();
            let ssh = home.0.path(".ssh");
            assert_eq!(
                saved,
                format!("include {}\ncommit\n", ssh.display()),
                "{who}: the drop was not saved"
            );
            assert_lbu_read_no_channel(&lbu_log, who);
            assert!(home.leftovers().is_empty(), "{who}: {:?}", home.leftovers());
            assert_eq!(home.read(node).1, "-", "{who}: still armed");
            let said = said_in(home, &out);
            // What `keys status` and keys.md advise, in that order: once
            // dropped, the link made a regular file (a copy of its target)
            // is staged on as it is. Made one before the drop, the stage
            // renamed the old backup over that copy.
            std::fs::remove_file(home.ak()).unwrap();
            std::fs::copy(&target, home.ak()).unwrap();
            let (head, out) = home.converse(node, stage, "ne", |head| {
                assert_eq!(split(head).1, "-", "{who}: armed after the drop");
                assert_eq!(split(head).2, target_holds, "{who}: reverted over the copy");
                Vec::new()
            });
            assert!(head.is_some(), "{who}: refused: {}", stderr(&out));
            assert!(out.status.success(), "{who}: {}", stderr(&out));
            assert_eq!(home.keys(), target_holds, "{who}");
            said
        },
    );
}

#[test]
fn a_dead_rotation_that_cannot_be_wholly_dropped_leaves_and_says_the_same() {
    // One of marker and backup cannot be removed (the backup a directory,
    // the marker immutable): every node side tries both, leaves the same
    // files and says the same words, on a regular file (a cut marker whose
    // backup is no copy of it) as on a link.
    #[derive(Clone, Copy, PartialEq)]
    enum Stuck {
        BackupADirectory,
        MarkerImmutable,
        MarkerImmutableOnALink,
    }
    let cases = [
        ("backup a directory", Stuck::BackupADirectory),
        ("marker immutable", Stuck::MarkerImmutable),
        ("marker immutable, on a link", Stuck::MarkerImmutableOnALink),
    ];
    for_each_case_said_alike("stuckdrop", &cases, |node, who, home, _, stuck| {
        let on_link = stuck == Stuck::MarkerImmutableOnALink;
        let stuck_marker = stuck != Stuck::BackupADirectory;
        let bak = home.0.path(".ssh/.rccr-authorized_keys.bak");
        let marker = home.0.path(".ssh/.rccr-rotation");
        std::fs::write(home.ak(), STAGED).unwrap();
        if stuck_marker {
            std::fs::write(&bak, b"garbage\n").unwrap();
        } else {
            std::fs::create_dir(&bak).unwrap();
        }
        std::fs::write(&marker, b"rg.n").unwrap();
        if on_link {
            link_to_a_copy(home, STAGED);
        }
        if stuck_marker && !immutable(&marker, true) {
            common::skip("no chattr +i here");
            return String::new();
        }
        let (head, out) = home.converse(node, &["stage", "rh", "60", "nr"], "nr", |_| file(FINAL));
        assert!(!stuck_marker || immutable(&marker, false), "{who}");
        assert!(head.is_none(), "{who}: asked for input");
        let why = match on_link {
            true => "no timer reverts, not wholly dropped",
            false => {
                "cannot drop the rotation whose revert marker HOME/.ssh/.rccr-rotation is \
                     cut short, a link, no regular file or too large (its marker and backup not \
                     wholly removed)"
            }
        };
        assert_refused(&out, 1, "", who);
        assert_has(&said_in(home, &out), why);
        assert_eq!(home.keys(), STAGED, "{who}");
        assert_eq!(home.ak().is_symlink(), on_link, "{who}");
        let said = format!("{}left {:?}", said_in(home, &out), home.leftovers());
        if stuck != Stuck::BackupADirectory {
            return said;
        }
        // No rotation is armed now (ROTATION `-`), so keyrotate stages
        // again: a backup path that is a directory is no place for a
        // backup. Renamed into it, the revert timer would restore nothing.
        let (head, out) = home.converse(node, &["stage", "ri", "60", "ns"], "ns", |_| file(FINAL));
        assert!(head.is_some(), "{who}: refused early: {}", stderr(&out));
        assert_refused(&out, 1, "cannot back up", who);
        assert_eq!(home.keys(), STAGED, "{who}");
        let in_backup: Vec<_> = std::fs::read_dir(&bak).unwrap().collect();
        assert!(in_backup.is_empty(), "{who}: backed up into {bak:?}");
        format!(
            "{said}; then {:?} exit {:?}: {}left {:?}",
            stdout(&out),
            out.status.code(),
            said_in(home, &out),
            home.leftovers()
        )
    });
}

#[test]
fn a_dead_rotation_whose_backup_is_a_directory_is_not_reverted_alike() {
    // A stage whose revert timer died, its backup since made a directory:
    // no node side renames a directory over authorized_keys, nor takes
    // the rotation for reverted.
    let cases = [("on a regular file", ())];
    for_each_case_said_alike("dirbak", &cases, |node, who, home, _, _| {
        let bak = staged_and_its_timer_killed_with_a_directory_backup(node, home, "rj", "nj");
        let (head, out) = home.converse(node, &["stage", "rk", "60", "nk"], "nk", |_| file(FINAL));
        assert!(head.is_none(), "{who}: asked for input");
        assert_refused(
            &out,
            1,
            "cannot revert rotation rj.nj, whose revert timer died",
            who,
        );
        assert_eq!(home.keys(), STAGED, "{who}");
        assert!(bak.is_dir(), "{who}: the backup directory went");
        assert_eq!(home.read(node).1, "rj.nj timer-died", "{who}");
        format!("{}left {:?}", said_in(home, &out), home.leftovers())
    });
}

/// Stages [`STAGED`] as rotation `id`.`nonce`, kills its revert timer
/// (a reboot) and makes its backup a directory; the backup's path.
fn staged_and_its_timer_killed_with_a_directory_backup(
    node: &Node,
    home: &Home,
    id: &str,
    nonce: &str,
) -> PathBuf {
    home.send_ok(node, &["stage", id, "60", nonce], nonce, STAGED);
    kill_processes_of(home);
    let bak = home.0.path(".ssh/.rccr-authorized_keys.bak");
    std::fs::remove_file(&bak).unwrap();
    std::fs::create_dir(&bak).unwrap();
    bak
}

#[test]
fn a_dead_rotation_on_a_link_that_cannot_be_wholly_dropped_says_so_alike() {
    // Its backup a directory: the marker goes, the backup stays. The node
    // must neither say it dropped the rotation nor that nothing changed,
    // and every node side must say so in the same words.
    let said = std::cell::RefCell::new(Vec::new());
    for_each_node("halfdrop", |node, who, home| {
        let bak = staged_and_its_timer_killed_with_a_directory_backup(node, home, "rh", "nd");
        let target = link_to_a_copy(home, STAGED);
        let (head, out) = home.converse(node, &["commit", "ne"], "ne", |_| Vec::new());
        assert_the_link_refused(
            home,
            head,
            &out,
            who,
            "no timer reverts, not wholly dropped",
        );
        assert_eq!(std::fs::read(&target).unwrap(), STAGED, "{who}");
        assert!(bak.is_dir(), "{who}: the backup directory went");
        said.borrow_mut()
            .push((who.to_string(), said_in(home, &out)));
    });
    assert_said_alike(&said.borrow());
}

#[test]
fn read_tells_a_rotation_whose_timer_died_from_one_whose_timer_lives() {
    for_each_node("died", |node, who, home| {
        home.send_ok(node, &["stage", "rs", "60", "nt"], "nt", STAGED);
        assert_eq!(home.read(node).1, "rs.nt", "{who}: timer alive");
        // Another reader probing at the same time is no timer: the probe
        // is a shared lock, which only the timer's excludes.
        let marker = std::fs::File::open(home.0.path(".ssh/.rccr-rotation")).unwrap();
        kill_processes_of(home);
        marker.try_lock_shared().unwrap();
        // `read` tells, and stays read-only: the staged file, its backup
        // and the marker stay for the next stage to revert.
        let (_, armed, content) = home.read(node);
        assert_eq!(armed, "rs.nt timer-died", "{who}");
        assert_eq!(content, STAGED, "{who}");
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
        drop(marker);
        assert_eq!(home.read(node).1, "rs.nt timer-died", "{who}");
        // An older version's marker (no lock line) cannot tell: armed.
        std::fs::write(home.0.path(".ssh/.rccr-rotation"), b"rs.nt\n").unwrap();
        assert_eq!(home.read(node).1, "rs.nt", "{who}");
    });
}

#[test]
fn a_step_leaves_no_process_behind() {
    // The input wait's watchdog stops with the step. Before, a step whose
    // input came at once (here: none) could stop it while it started, and
    // its `sleep` stayed for the whole input wait, two minutes: about one
    // step in twenty.
    for_each_node("linger", |node, who, home| {
        for _ in 0..100 {
            let (head, out) = home.converse(node, &["commit", "nl"], "nl", |_| Vec::new());
            assert!(head.is_some(), "{who}: {}", stderr(&out));
            assert_eq!(stdout(&out).lines().next(), Some("unchanged"), "{who}");
        }
        // Each step has ended; what it stopped may still be dying.
        wait_for_within(
            &format!("{who}: the processes of its steps to end"),
            Duration::from_secs(60),
            || processes_of(home).is_empty(),
        );
    });
}

/// authorized_keys grown past a mebibyte, or made unreadable, while a
/// step waited for its input is one that changed since it was read, for
/// every node side (rccr failed with 1 where the script said 4): exit 4,
/// nothing changed. (Unreadable, the script's shell adds its own line.)
#[test]
fn an_authorized_keys_grown_too_large_or_unreadable_after_the_snapshot_changed_for_every_node() {
    let big = [ORIGINAL, &b"#\n".repeat(1 << 19)].concat();
    let changed = "rccr-remote: HOME/.ssh/authorized_keys changed since it was read\n";
    let mut cases = vec![("grown", false)];
    if dac_can_be_dropped() {
        cases.push(("unreadable", true));
    }
    for (step, nonce) in [
        (vec!["stage", "rw", "60", "nw"], "nw"),
        (vec!["commit", "nx"], "nx"),
    ] {
        for_each_case_said_alike("akgrew", &cases, |node, who, home, _, unreadable| {
            let who = format!("{who} {step:?}");
            let node = if unreadable {
                without_dac(node)
            } else {
                node.clone()
            };
            let (head, out) = home.converse(&node, &step, nonce, |_| {
                if unreadable {
                    let mode = std::fs::Permissions::from_mode(0o000);
                    std::fs::set_permissions(home.ak(), mode).unwrap();
                } else {
                    std::fs::write(home.ak(), &big).unwrap();
                }
                file(FINAL)
            });
            assert!(head.is_some(), "{who}: refused: {}", stderr(&out));
            let said = said_in(home, &out);
            assert_eq!(out.status.code(), Some(4), "{who}: {said}");
            assert!(said.ends_with(changed), "{who}: {said}");
            home.assert_untouched(&who, if unreadable { ORIGINAL } else { &big });
            // Unreadable, the shell's own complaint names the shell: only
            // ours is compared.
            if unreadable {
                changed.to_string()
            } else {
                said
            }
        });
    }
}

/// A commit sent a file onto an authorized_keys that is no regular file (a
/// directory; rccr's control sends none there, another client might) is
/// refused before it disarms, as a stage is: the script moved the file
/// into the directory and said `committed`, rccr disarmed, then failed.
/// Exit 1, nothing changed: the rotation stays armed, for its timer.
#[test]
fn a_commit_onto_an_authorized_keys_that_is_no_regular_file_is_refused_before_it_disarms() {
    let cases = [("file a directory", ())];
    for_each_case_said_alike("commitdir", &cases, |node, who, home, _, ()| {
        // Armed by an older version (no timer): left for the boot.
        let armed = [
            (".rccr-authorized_keys.bak", ORIGINAL),
            (".rccr-rotation", b"rd.n\n"),
        ];
        for (at, bytes) in armed {
            std::fs::write(home.0.path(&format!(".ssh/{at}")), bytes).unwrap();
        }
        std::fs::remove_file(home.ak()).unwrap();
        std::fs::create_dir(home.ak()).unwrap();
        let (head, out) = home.converse(node, &["commit", "nd"], "nd", |_| file(FINAL));
        assert_eq!(head.as_deref(), Some(&b"none\nrd.n\n"[..]), "{who}");
        assert_refused(&out, 1, "does not exist or is no regular file", who);
        assert!(stdout(&out).is_empty(), "{who}: {}", stdout(&out));
        let taken_in = std::fs::read_dir(home.ak()).map(Iterator::count);
        assert_eq!(taken_in.ok(), Some(0), "{who}: no empty directory now");
        format!("{}left {:?}", said_in(home, &out), home.leftovers())
    });
}

/// The script reads authorized_keys' size from `cksum`'s line: one that is
/// no CRC and a size (a name after them, a word) is said to be that, not
/// taken for a file too large (`[` failed on it). (rccr sums by itself.)
#[test]
fn a_cksum_line_that_is_no_crc_and_size_is_named_so_by_the_script() {
    for (i, line) in ["4294967295 0 -", "4294967295 zero", "4294967295"]
        .into_iter()
        .enumerate()
    {
        for node in nodes() {
            if name(&node) == "rccr keys node" {
                continue;
            }
            let home = Home::with_original(&format!("cksumline{i}"), &node);
            let who = format!("{} {line:?}", name(&node));
            let bin = home.0.path("bin");
            std::fs::create_dir(&bin).unwrap();
            let stub = format!("#!/bin/sh\ncat >/dev/null\necho '{line}'\n");
            std::fs::write(bin.join("cksum"), stub).unwrap();
            let mode = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(bin.join("cksum"), mode).unwrap();
            let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
            let read = home
                .spawn_with(&node, &["read"], &[("PATH", path.as_str())])
                .wait_with_output();
            assert_eq!(
                (read.status.code(), said_in(&home, &read)),
                (
                    Some(1),
                    format!(
                        "rccr-remote: cannot read HOME/.ssh/authorized_keys: cksum printed \
                         '{line}', not a CRC and a size\n"
                    )
                ),
                "{who}"
            );
            assert!(read.stdout.is_empty(), "{who}: {}", stdout(&read));
            home.assert_untouched(&who, ORIGINAL);
        }
    }
}

/// A marker the steps cannot read (an LSM's denial; here: no DAC
/// capabilities) is no rotation to them: a commit onto a file that lacks
/// the old key already (config management rewrote it to the new key) got
/// no input, said `unchanged` and left marker and backup; the boot, which
/// cannot read the marker either, then restored that backup, the old key
/// alone, over the new key: locked out. The commit runs over a connection
/// the new key opened: it drops both, and the boot finds nothing armed.
/// So it does when the marker reads again by the drop (the denial was
/// transient: a relabel, an NFS hiccup): it kept both, and once whole and
/// readable, its timer or the boot restored the old key alone over the
/// new key the control had verified. The snapshot decides.
#[test]
fn a_commit_sent_nothing_drops_a_marker_it_cannot_read_and_the_boot_keeps_the_new_key() {
    if !dac_can_be_dropped() {
        return;
    }
    let new_only = &STAGED[ORIGINAL.len()..];
    for (tag, readable_again) in [("commitunread", false), ("commitreadable", true)] {
        for_each_node(tag, |node, who, home| {
            let who = format!("{who} readable again: {readable_again}");
            let marker = home.0.path(".ssh/.rccr-rotation");
            commit_sent_nothing_over_a_marker_unreadable_at_its_snapshot(
                node,
                &who,
                home,
                || std::fs::write(home.ak(), new_only).unwrap(),
                || {
                    if readable_again {
                        let readable = std::fs::Permissions::from_mode(0o600);
                        std::fs::set_permissions(&marker, readable).unwrap();
                    }
                },
            );
            assert!(home.leftovers().is_empty(), "{who}: {:?}", home.leftovers());
            assert_eq!(home.keys(), new_only, "{who}");
            let said = reboot_without_dac(home, &who);
            assert!(said.lines().any(|l| l == "Nothing"), "{who}: {said}");
            home.assert_untouched(&who, new_only);
        });
    }
}

/// Stages [`STAGED`], makes its marker unreadable to the node sides
/// ([`without_dac`]), lets `then` change authorized_keys, and commits,
/// sending nothing: the commit must see no rotation and say `unchanged`.
fn commit_sent_nothing_over_an_unreadable_marker(
    node: &Node,
    who: &str,
    home: &Home,
    then: impl FnOnce(),
) {
    commit_sent_nothing_over_a_marker_unreadable_at_its_snapshot(node, who, home, then, || {});
}

/// [`commit_sent_nothing_over_an_unreadable_marker`], `waiting` run while
/// the commit waits for its input (after its snapshot).
fn commit_sent_nothing_over_a_marker_unreadable_at_its_snapshot(
    node: &Node,
    who: &str,
    home: &Home,
    then: impl FnOnce(),
    waiting: impl FnOnce(),
) {
    let out = commit_sent_nothing_after_its_snapshot_saw_the_marker_unread(
        node, who, home, then, waiting,
    );
    assert!(out.status.success(), "{who}: {}", stderr(&out));
    assert_eq!(stdout(&out).lines().next(), Some("unchanged"), "{who}");
}

/// [`commit_sent_nothing_over_a_marker_unreadable_at_its_snapshot`],
/// whatever the commit did: how it ended.
fn commit_sent_nothing_after_its_snapshot_saw_the_marker_unread(
    node: &Node,
    who: &str,
    home: &Home,
    then: impl FnOnce(),
    waiting: impl FnOnce(),
) -> Output {
    home.send_ok(node, &["stage", "ru", "60", "nu"], "nu", STAGED);
    let marker = home.0.path(".ssh/.rccr-rotation");
    std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o000)).unwrap();
    then();
    let (head, out) = home.converse(&without_dac(node), &["commit", "nv"], "nv", |head| {
        assert_eq!(split(head).1, "-", "{who}: the marker was read");
        waiting();
        Vec::new()
    });
    assert!(head.is_some(), "{who}: refused: {}", stderr(&out));
    out
}

/// A reboot: the home's timer gone, then rccr-init's revert
/// ([`boot_without_dac`]); what the boot said.
fn reboot_without_dac(home: &Home, who: &str) -> String {
    kill_processes_of(home);
    let out = boot_without_dac(home);
    assert!(out.status.success(), "{who}: {}", stderr(&out));
    stdout(&out)
}

/// [`a_commit_sent_nothing_drops_a_marker_it_cannot_read_and_the_boot_keeps_the_new_key`]
/// where the marker cannot be removed (a directory): exit 1, said alike,
/// the backup gone all the same (the boot then has nothing to restore
/// over the new key), the file kept.
#[test]
fn a_commit_sent_nothing_that_cannot_drop_a_marker_it_cannot_read_fails_alike() {
    let cases = [("marker a directory", ())];
    for_each_case_said_alike("commitmarkdir", &cases, |node, who, home, _, ()| {
        // The backup no copy of the file (it lacks the old key): dropped.
        std::fs::write(home.ak(), &STAGED[ORIGINAL.len()..]).unwrap();
        std::fs::write(home.0.path(".ssh/.rccr-authorized_keys.bak"), ORIGINAL).unwrap();
        std::fs::create_dir(home.0.path(".ssh/.rccr-rotation")).unwrap();
        let (head, out) = home.converse(node, &["commit", "nm"], "nm", |head| {
            assert_eq!(split(head).1, "-", "{who}");
            Vec::new()
        });
        assert!(head.is_some(), "{who}: refused: {}", stderr(&out));
        assert_refused(
            &out,
            1,
            "cannot disarm the rotation whose revert marker",
            who,
        );
        assert!(stdout(&out).is_empty(), "{who}: {}", stdout(&out));
        assert_eq!(home.keys(), &STAGED[ORIGINAL.len()..], "{who}");
        assert_eq!(home.leftovers(), [".rccr-rotation"], "{who}");
        format!("{}left {:?}", said_in(home, &out), home.leftovers())
    });
}

/// [`a_commit_sent_nothing_drops_a_marker_it_cannot_read_and_the_boot_keeps_the_new_key`]
/// over an authorized_keys that grants nothing (absent, empty, only NUL
/// bytes and blanks): the commit dropped marker and backup there too, and
/// the boot, which would have restored the backup (it fits over such a
/// file), had nothing left to restore. Both stay, and the boot reverts.
#[test]
fn a_commit_sent_nothing_keeps_a_marker_it_cannot_read_over_a_file_that_grants_nothing() {
    if !dac_can_be_dropped() {
        return;
    }
    for (i, granted) in [None, Some(&b""[..]), Some(&b"\0 \n\t\n"[..])]
        .into_iter()
        .enumerate()
    {
        for_each_node(&format!("commitnone{i}"), |node, who, home| {
            let who = format!("{who} {granted:?}");
            commit_sent_nothing_over_an_unreadable_marker(node, &who, home, || match granted {
                None => std::fs::remove_file(home.ak()).unwrap(),
                Some(bytes) => std::fs::write(home.ak(), bytes).unwrap(),
            });
            assert!(
                home.0.path(".ssh/.rccr-rotation").exists(),
                "{who}: the marker was removed"
            );
            assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
            assert_eq!(std::fs::read(home.ak()).ok().as_deref(), granted, "{who}");
            assert_has(&reboot_without_dac(home, &who), "Reverted(");
            home.assert_untouched(&who, ORIGINAL);
        });
    }
}

/// [`a_commit_sent_nothing_keeps_a_marker_it_cannot_read_over_a_file_that_grants_nothing`]
/// where the backup cannot be read either (one relabel hits both, a
/// link, over 1 MiB): the commit dropped both, where the boot leaves
/// them (the backup may be the old key's only copy). It fails, and
/// changes nothing: only a backup read and found not to fit is dropped.
#[test]
fn a_commit_sent_nothing_keeps_a_backup_it_cannot_read_over_a_file_that_grants_nothing() {
    commit_sent_nothing_fails_over_a_backup_it_cannot_read("commitbak", b"");
}

/// [`a_commit_sent_nothing_keeps_a_backup_it_cannot_read_over_a_file_that_grants_nothing`]
/// over a file that holds only the new key (config management rewrote
/// it): a commit that kept both and said `unchanged` let the control
/// report the rotation done, and once the denial passed the timer or the
/// boot restored the backup, the old key alone, which the control no
/// longer offers. It fails, and the control keeps the old key.
#[test]
fn a_commit_sent_nothing_fails_over_a_backup_it_cannot_read_and_a_file_of_the_new_key() {
    commit_sent_nothing_fails_over_a_backup_it_cannot_read(
        "commitbaknew",
        &STAGED[ORIGINAL.len()..],
    );
}

/// A commit sent nothing, whose snapshot could not read the marker, over
/// `keys` and a backup it cannot read (unreadable, a link, over 1 MiB):
/// exit 1, saying so and naming the backup, marker and backup kept.
fn commit_sent_nothing_fails_over_a_backup_it_cannot_read(tag: &str, keys: &[u8]) {
    if !dac_can_be_dropped() {
        return;
    }
    let cases = [
        ("backup unreadable", "unreadable"),
        ("backup a link", "a link"),
        ("backup over 1 MiB", "over 1 MiB"),
    ];
    for_each_case_said_alike(tag, &cases, |node, who, home, _, odd| {
        let bak = home.0.path(".ssh/.rccr-authorized_keys.bak");
        let out = commit_sent_nothing_after_its_snapshot_saw_the_marker_unread(
            node,
            who,
            home,
            || {
                std::fs::write(home.ak(), keys).unwrap();
                match odd {
                    "unreadable" => {
                        std::fs::set_permissions(&bak, std::fs::Permissions::from_mode(0o000))
                            .unwrap()
                    }
                    "a link" => {
                        std::fs::write(home.0.path("copy"), ORIGINAL).unwrap();
                        std::fs::remove_file(&bak).unwrap();
                        std::os::unix::fs::symlink(home.0.path("copy"), &bak).unwrap();
                    }
                    _ => std::fs::write(&bak, vec![b'k'; (1 << 20) + 1]).unwrap(),
                }
            },
            || {},
        );
        assert_refused(&out, 1, "cannot read the backup", who);
        assert!(stdout(&out).is_empty(), "{who}: {}", stdout(&out));
        assert_eq!(
            home.leftovers(),
            [".rccr-authorized_keys.bak", ".rccr-rotation"],
            "{who}"
        );
        assert_eq!(home.keys(), keys, "{who}");
        said_in(home, &out)
    });
}

/// A commit sent nothing (a re-run, a control that found no old key)
/// leaves a rotation whose marker it reads alone, another run's, with
/// its backup: the timer, or the boot once the timer died, reverts it.
#[test]
fn a_commit_sent_nothing_leaves_a_readable_rotation_to_its_timer_and_the_boot() {
    for_each_node_at_once("commitother", |node, who, home| {
        let out = commit_while_its_timer_waits(node, who, home, Vec::new());
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out).lines().next(), Some("unchanged"), "{who}");
        wait_until("the timer's revert", || {
            home.keys() == ORIGINAL && home.leftovers().is_empty()
        });
    });
    for_each_node("commitdied", |node, who, home| {
        home.send_ok(node, &["stage", "rw", "60", "nw"], "nw", STAGED);
        kill_processes_of(home);
        let (_, out) = home.converse(node, &["commit", "nx"], "nx", |head| {
            assert_eq!(split(head).1, "rw.nw timer-died", "{who}");
            Vec::new()
        });
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out).lines().next(), Some("unchanged"), "{who}");
        assert_eq!(home.read(node).1, "rw.nw timer-died", "{who}");
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
        assert_eq!(home.keys(), STAGED, "{who}");
        let said = rccr::keys::node::revert_at_boot(&home.0 .0, false);
        assert_eq!(format!("{said:?}"), "Reverted(\"rw.nw\")", "{who}");
        home.assert_untouched(who, ORIGINAL);
    });
}

/// The drop decides from the snapshot's own read: a marker absent then
/// (no rotation), made while the commit waited for its input (by a step
/// that takes no lock: remote.sh before 4257869), is another rotation's.
/// A commit sent nothing dropped it with its backup (the snapshot said
/// `-`, and a marker was there by the end): it is left. Its backup does
/// not fit, so only the snapshot's read keeps it (not its being readable
/// by the drop: see
/// [`a_commit_sent_nothing_drops_a_marker_it_cannot_read_and_the_boot_keeps_the_new_key`]).
#[test]
fn a_commit_sent_nothing_leaves_a_marker_made_since_its_snapshot() {
    let new_only = &STAGED[ORIGINAL.len()..];
    for_each_node("commitlate", |node, who, home| {
        std::fs::write(home.ak(), new_only).unwrap();
        let marker = home.0.path(".ssh/.rccr-rotation");
        let (head, out) = home.converse(node, &["commit", "ny"], "ny", |head| {
            assert_eq!(split(head).1, "-", "{who}");
            std::fs::write(home.0.path(".ssh/.rccr-authorized_keys.bak"), ORIGINAL).unwrap();
            std::fs::write(&marker, b"rz.nz\ntimer-holds-lock\n").unwrap();
            Vec::new()
        });
        assert!(head.is_some(), "{who}: refused: {}", stderr(&out));
        assert!(out.status.success(), "{who}: {}", stderr(&out));
        assert_eq!(stdout(&out).lines().next(), Some("unchanged"), "{who}");
        assert!(marker.exists(), "{who}: the marker was removed");
        assert_eq!(backup(home).as_deref(), Some(ORIGINAL), "{who}");
        assert_eq!(home.keys(), new_only, "{who}");
    });
}
