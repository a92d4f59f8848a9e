//! rccr's state files as the commands read them: a file rccr wrote that a
//! disk error or an editor left with a byte that is not UTF-8 is bad input
//! (exit 3), told in one line naming the file and the line, like a bad
//! line of the inventory; never exit 1 with a line naming neither.
#[path = "common/scratch.rs"]
mod scratch;

use scratch::Scratch;
use std::process::{Command, Output};

const RCCR: &str = env!("CARGO_BIN_EXE_rccr");

/// `rccr ARGS` with `home` as HOME and working directory (no repository
/// cluster_config.yml) and `home/state` as the state directory.
fn run(home: &Scratch, args: &[&str]) -> Output {
    Command::new(RCCR)
        .args(args)
        .current_dir(&home.0)
        .env("HOME", &home.0)
        .env("RCCR_STATE_DIR", home.path("state"))
        .env_remove("RCCR_TEMP_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_journal_that_is_not_text_is_exit_3_naming_file_and_line() {
    for journal in ["rotation.journal", "last-rotation"] {
        let home = Scratch::new("state-files-journal");
        std::fs::create_dir(home.path("state")).unwrap();
        home.write(
            &format!("state/{journal}"),
            b"rotation r\nnode 10.0.0.1:22 st\xe9ged\n",
        );
        // A node in the inventory: `status` reads the journals before it
        // reaches any node.
        home.write("state/nodes", "10.0.0.1\t-\tnode-1\ttarget\tx86_64\t-\t-\n");
        for args in [&["keys", "status"][..], &["status"]] {
            let out = run(&home, args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            let at = format!("{}:2: ", home.path("state").join(journal).display());
            assert!(err.contains(&at), "{args:?}: {err}");
        }
    }
}

/// The state lock was opened through a symbolic link and written over:
/// `STATE/lock` linking to another file had that file truncated and the
/// run's pid written in it (a FIFO or a device there was opened and
/// written to as well). Each is refused now (exit 3), the file it names
/// untouched.
#[test]
fn a_lock_that_is_a_link_or_no_regular_file_is_refused_and_left_alone() {
    let home = Scratch::new("state-files-lock");
    std::fs::create_dir(home.path("state")).unwrap();
    home.write("precious", "not rccr's\n");
    let lock = home.path("state/lock");
    std::os::unix::fs::symlink(home.path("precious"), &lock).unwrap();
    let args = ["backup", "out.bak", "--wait", "1"];
    let refused = |says: &str| {
        let out = run(&home, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let line = format!(
            "{}: {says}: remove it (rccr makes it again)",
            lock.display()
        );
        assert!(err.contains(&line), "{err}");
        assert!(!home.path("out.bak").exists());
    };
    refused("is a symbolic link");
    let precious = std::fs::read_to_string(home.path("precious")).unwrap();
    assert_eq!(precious, "not rccr's\n");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    let out = run(&home, &args);
    assert_ne!(out.status.code(), Some(0), "a directory for a lock");
    std::fs::remove_dir(&lock).unwrap();
    let made = Command::new("mkfifo").arg(&lock).status().unwrap();
    assert!(made.success());
    refused("is not a regular file");
}
