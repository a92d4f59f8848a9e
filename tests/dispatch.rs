//! Multicall dispatch, run through the real binary: argv[0] names, `rccr
//! <command>`, `--list`, `--install` and the exit codes.
#[path = "common/asserts.rs"]
mod asserts;
#[path = "common/skip.rs"]
#[allow(unused_imports)] // or_skip
mod skip;

use asserts::assert_has;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const RCCR: &str = env!("CARGO_BIN_EXE_rccr");

fn run(program: impl AsRef<Path>, args: &[&str]) -> Output {
    Command::new(program.as_ref()).args(args).output().unwrap()
}

/// `rccr ARGS`' stdout, asserting that it succeeded.
fn rccr_ok(args: &[&str]) -> String {
    let out = run(RCCR, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "rccr-dispatch-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn symlink_as(dir: &TempDir, name: &str) -> PathBuf {
    let link = dir.0.join(name);
    std::os::unix::fs::symlink(RCCR, &link).unwrap();
    link
}

#[test]
fn scan_is_reached_by_link_and_by_command() {
    let dir = TempDir::new("scan");
    let link = symlink_as(&dir, "rccr-scan");
    let by_link = run(&link, &["--help"]);
    let by_command = run(RCCR, &["scan", "--help"]);
    assert!(by_link.status.success(), "{}", stderr(&by_link));
    assert!(by_command.status.success(), "{}", stderr(&by_command));
    assert!(stdout(&by_link).starts_with("Usage: rccr-scan"));
    assert!(stdout(&by_command).starts_with("Usage: rccr scan"));
    // Same applet, same help body: only the usage line's command differs.
    let body = |s: String| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(stdout(&by_link)), body(stdout(&by_command)));
}

#[test]
fn every_link_name_reaches_its_own_applet() {
    let dir = TempDir::new("links");
    for name in ["rccr-scan", "rccr-keys", "rccr-init"] {
        let out = run(symlink_as(&dir, name), &["--help"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(
            stdout(&out).starts_with(&format!("Usage: {name}")),
            "{name}"
        );
    }
    // A release download keeps its arch suffix and is still the multiplexer.
    let out = run(symlink_as(&dir, "rccr-aarch64"), &["--version"]);
    assert!(stdout(&out).starts_with("rccr "), "{}", stdout(&out));
}

#[test]
fn list_prints_every_applet_name() {
    assert_eq!(
        rccr_ok(&["--list"]),
        "rccr\nrccr-scan\nrccr-keys\nrccr-init\n"
    );
}

#[test]
fn install_twice_makes_hard_links_to_the_binary() {
    let dir = TempDir::new("install");
    for _ in 0..2 {
        rccr_ok(&["--install", dir.0.to_str().unwrap()]);
    }
    let exe = std::fs::metadata(std::fs::canonicalize(RCCR).unwrap()).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["rccr", "rccr-init", "rccr-keys", "rccr-scan"]);
    for name in &names {
        let meta = std::fs::symlink_metadata(dir.0.join(name)).unwrap();
        assert!(meta.file_type().is_file(), "{name} is not a hard link");
        assert_eq!((meta.dev(), meta.ino()), (exe.dev(), exe.ino()), "{name}");
    }
    // The installed links dispatch like the originals.
    let out = run(dir.0.join("rccr-keys"), &["--help"]);
    assert!(stdout(&out).starts_with("Usage: rccr-keys"));
}

#[test]
fn install_symbolic_twice_and_over_a_stale_link() {
    let dir = TempDir::new("install-s");
    std::os::unix::fs::symlink("/nonexistent/old-rccr", dir.0.join("rccr-scan")).unwrap();
    for _ in 0..2 {
        rccr_ok(&["--install", "-s", dir.0.to_str().unwrap()]);
    }
    let exe = std::fs::canonicalize(RCCR).unwrap();
    for name in ["rccr", "rccr-scan", "rccr-keys", "rccr-init"] {
        assert_eq!(std::fs::read_link(dir.0.join(name)).unwrap(), exe, "{name}");
    }
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        4,
        "no temp files left"
    );
}

#[test]
fn install_into_a_missing_directory_fails_cleanly() {
    let out = run(RCCR, &["--install", "/nonexistent-rccr-install-dir"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_has(&err, "/nonexistent-rccr-install-dir");
}

#[test]
fn install_across_filesystems_says_to_use_symbolic_links() {
    // /dev/shm is a tmpfs: another filesystem than the build's, where there is one.
    let dir = PathBuf::from(format!(
        "/dev/shm/rccr-dispatch-xdev-{}",
        std::process::id()
    ));
    let exe = std::fs::metadata(RCCR).unwrap();
    if std::fs::create_dir(&dir).is_err() {
        skip::skip("no /dev/shm to install into");
        return;
    }
    let other_fs = std::fs::metadata(&dir).unwrap().dev() != exe.dev();
    let out = run(RCCR, &["--install", dir.to_str().unwrap()]);
    let left = std::fs::read_dir(&dir).unwrap().count();
    let _ = std::fs::remove_dir_all(&dir);
    if !other_fs {
        skip::skip("/dev/shm is on the binary's filesystem");
        return;
    }
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_has(&err, "another filesystem");
    assert_has(&err, "--install -s");
    assert_eq!(left, 0, "no link nor temp file left");
}

#[test]
fn unknown_applet_name_exits_127() {
    let dir = TempDir::new("unknown");
    let out = run(symlink_as(&dir, "frobnicate"), &[]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        stderr(&out),
        "rccr: applet not found: frobnicate; run 'rccr --list' for the names it knows\n"
    );

    for args in [["frobnicate", "--help"], ["help", "frobnicate"]] {
        let out = run(RCCR, &args);
        assert_eq!(out.status.code(), Some(127), "{args:?}");
        assert_eq!(
            stderr(&out),
            "rccr: applet not found: frobnicate; run 'rccr --list' for the names it knows\n"
        );
    }
}

#[test]
fn top_level_help_lists_the_seed_commands_and_exit_codes() {
    let help = rccr_ok(&["--help"]);
    for command in [
        "setup",
        "scan",
        "keygen",
        "keyrotate",
        "init",
        "status",
        "version",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "--help lacks {command}:\n{help}"
        );
    }
    assert!(help.contains("127"), "exit codes missing:\n{help}");
}

#[test]
fn every_command_answers_help() {
    let out = run(RCCR, &["--help"]);
    let help = stdout(&out);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(commands.len() >= 7, "{commands:?}");
    for command in commands {
        for flag in ["--help", "-h"] {
            let out = run(RCCR, &[command, flag]);
            assert!(out.status.success(), "{command} {flag}: {}", stderr(&out));
            assert!(stdout(&out).starts_with("Usage: rccr "), "{command} {flag}");
        }
    }
    // Subcommands too.
    for words in [
        &["keys", "status", "-h"][..],
        &["keys", "rotate", "-h"],
        &["keys", "gen", "-h"],
    ] {
        rccr_ok(words);
    }
}

/// `rccr help COMMAND` is `rccr COMMAND --help`; it printed the list of
/// commands, whatever COMMAND was.
#[test]
fn help_names_a_command() {
    assert_eq!(rccr_ok(&["help", "setup"]), rccr_ok(&["setup", "--help"]));
}

#[test]
fn version_names_version_target_and_revision() {
    let line = rccr_ok(&["--version"]);
    assert!(
        line.starts_with(&format!("rccr {} (", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    assert!(line.contains("linux"), "no target triple: {line}");
    assert!(line.contains(", git "), "no revision: {line}");
    assert_eq!(rccr_ok(&["version"]), line);
}

#[test]
fn licenses_says_where_the_notices_are() {
    let text = rccr_ok(&["--licenses"]);
    // The path the images install them at (image-builder, tests/image_notices.rs).
    assert_has(&text, "/usr/share/licenses/rccr/THIRD-PARTY-NOTICES");
    assert!(
        text.contains("OpenSSL") && text.contains("libssh2"),
        "{text}"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = run(RCCR, &["scan", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert_has(&stderr(&out), "--no-such-flag");
    let out = run(RCCR, &["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(RCCR, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Usage: rccr COMMAND"));
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    use std::process::Stdio;
    let mut child = Command::new(RCCR)
        .arg("--help")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
