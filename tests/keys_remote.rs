//! The node side of key rotation (src/keys/remote.sh) run for real under
//! every shell it must work with: dash (Debian's sh) and busybox ash
//! (Alpine's). No SSH here: the script gets the same argv and stdin that
//! rccr sends over the wire.
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = include_str!("../src/keys/remote.sh");

fn shells() -> Vec<Vec<&'static str>> {
    let mut shells = vec![];
    if Path::new("/bin/dash").exists() {
        shells.push(vec!["/bin/dash"]);
    }
    if Path::new("/bin/busybox").exists() {
        shells.push(vec!["/bin/busybox", "sh"]);
    }
    if shells.is_empty() || std::env::var_os("CI").is_some() {
        assert_eq!(
            shells.len(),
            2,
            "dash and busybox are needed (apt install dash busybox)"
        );
    }
    shells
}

struct Home(PathBuf);

impl Home {
    fn new(tag: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("rccr-remote-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".ssh")).unwrap();
        Home(dir)
    }
    fn ak(&self) -> PathBuf {
        self.0.join(".ssh/authorized_keys")
    }
    fn run(&self, shell: &[&str], args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(shell[0])
            .args(&shell[1..])
            .args(["-c", SCRIPT, "rccr"])
            .args(args)
            .env("HOME", &self.0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A script that fails early exits before reading its input.
        let _ = child.stdin.take().unwrap().write_all(stdin);
        child.wait_with_output().unwrap()
    }
    /// `read` split into (sum, armed rotation, content).
    fn read(&self, shell: &[&str]) -> (String, String, Vec<u8>) {
        let out = self.run(shell, &["read"], b"");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut parts = out.stdout.splitn(3, |b| *b == b'\n');
        let sum = String::from_utf8(parts.next().unwrap().to_vec()).unwrap();
        let armed = String::from_utf8(parts.next().unwrap().to_vec()).unwrap();
        (sum, armed, parts.next().unwrap_or_default().to_vec())
    }
    fn leftovers(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.0.join(".ssh"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "authorized_keys")
            .collect();
        names.sort();
        names
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ORIGINAL: &[u8] =
    b"# mine\nfrom=\"10.0.0.0/8\" ssh-rsa AAAAOLD rccr-temporary-key\nssh-ed25519 AAAAOTHER bob\n";
const STAGED: &[u8] = b"# mine\nfrom=\"10.0.0.0/8\" ssh-rsa AAAAOLD rccr-temporary-key\nssh-ed25519 AAAAOTHER bob\nssh-ed25519 AAAANEW cluster\n";
const FINAL: &[u8] = b"# mine\nssh-ed25519 AAAAOTHER bob\nssh-ed25519 AAAANEW cluster\n";

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn read_reports_sum_armed_rotation_and_bytes() {
    for shell in shells() {
        let home = Home::new("read");
        assert_eq!(home.read(&shell), ("none".into(), "-".into(), vec![]));
        std::fs::write(home.ak(), ORIGINAL).unwrap();
        let (sum, armed, content) = home.read(&shell);
        assert_eq!(
            sum,
            rccr::keys::authorized::cksum_line(ORIGINAL),
            "{shell:?}"
        );
        assert_eq!(armed, "-");
        assert_eq!(content, ORIGINAL);
    }
}

#[test]
fn stage_then_commit_installs_exact_bytes_and_disarms() {
    for shell in shells() {
        let home = Home::new("commit");
        std::fs::write(home.ak(), ORIGINAL).unwrap();
        std::fs::set_permissions(home.0.join(".ssh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let (sum, _, _) = home.read(&shell);
        let out = home.run(&shell, &["stage", &sum, "r1", "2"], STAGED);
        assert!(
            out.status.success(),
            "{shell:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(home.ak()).unwrap(), STAGED);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home.ak()), 0o600);
        assert_eq!(mode(&home.0.join(".ssh")), 0o700);
        let (sum, armed, _) = home.read(&shell);
        assert!(armed.starts_with("r1."), "{armed}");
        let out = home.run(&shell, &["commit", &sum, &armed], FINAL);
        assert!(
            out.status.success(),
            "{shell:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(home.ak()).unwrap(), FINAL);
        assert_eq!(home.leftovers(), Vec::<String>::new(), "{shell:?}");
        // The disarmed timer must not undo the commit when it wakes.
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(std::fs::read(home.ak()).unwrap(), FINAL, "{shell:?}");
    }
}

#[test]
fn an_uncommitted_stage_reverts_by_itself() {
    for shell in shells() {
        let home = Home::new("revert");
        std::fs::write(home.ak(), ORIGINAL).unwrap();
        let (sum, _, _) = home.read(&shell);
        let out = home.run(&shell, &["stage", &sum, "r2", "1"], STAGED);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(home.ak()).unwrap(), STAGED);
        wait_until("the revert", || {
            std::fs::read(home.ak()).unwrap() == ORIGINAL
        });
        wait_until("the marker to go", || home.leftovers().is_empty());
        // A commit after the revert is refused: the rotation expired.
        let (sum, armed, _) = home.read(&shell);
        assert_eq!(armed, "-");
        let out = home.run(&shell, &["commit", &sum, "r2.1.1"], FINAL);
        assert_eq!(out.status.code(), Some(3), "{shell:?}");
        assert_eq!(std::fs::read(home.ak()).unwrap(), ORIGINAL);
    }
}

#[test]
fn a_timer_from_an_earlier_attempt_never_reverts_a_later_stage() {
    for shell in shells() {
        let home = Home::new("stale");
        std::fs::write(home.ak(), ORIGINAL).unwrap();
        let (sum, _, _) = home.read(&shell);
        assert!(home
            .run(&shell, &["stage", &sum, "r4", "1"], STAGED)
            .status
            .success());
        let (sum, armed, _) = home.read(&shell);
        assert!(home
            .run(&shell, &["commit", &sum, &armed], FINAL)
            .status
            .success());
        // The same rotation stages again (a re-run) before the first timer wakes.
        let (sum, _, _) = home.read(&shell);
        let restaged = [FINAL, b"ssh-ed25519 AAAANEWER x\n"].concat();
        assert!(home
            .run(&shell, &["stage", &sum, "r4", "30"], &restaged)
            .status
            .success());
        std::thread::sleep(Duration::from_millis(1800));
        assert_eq!(std::fs::read(home.ak()).unwrap(), restaged, "{shell:?}");
    }
}

#[test]
fn a_file_changed_after_reading_is_not_touched() {
    for shell in shells() {
        let home = Home::new("changed");
        std::fs::write(home.ak(), ORIGINAL).unwrap();
        let (sum, _, _) = home.read(&shell);
        std::fs::write(home.ak(), b"ssh-ed25519 AAAAEDITED x\n").unwrap();
        let out = home.run(&shell, &["stage", &sum, "r3", "60"], STAGED);
        assert_eq!(out.status.code(), Some(4), "{shell:?}");
        assert_eq!(
            std::fs::read(home.ak()).unwrap(),
            b"ssh-ed25519 AAAAEDITED x\n"
        );
        assert!(home.leftovers().is_empty(), "{:?}", home.leftovers());
    }
}

#[test]
fn persist_reports_where_changes_live() {
    for shell in shells() {
        let home = Home::new("persist");
        let out = home.run(&shell, &["persist"], b"");
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            ["disk", "volatile"].contains(&said.as_str()),
            "{shell:?}: {said}"
        );
    }
}

#[test]
fn unknown_actions_fail() {
    for shell in shells() {
        let home = Home::new("unknown");
        let out = home.run(&shell, &["explode"], b"");
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("unknown action"));
    }
}
