//! `rccr scan` through the real binary, without a lab: bad input is refused
//! before any packet leaves, a user without raw sockets gets one line and
//! exit 4, and a sweep of loopback inside a private network namespace runs
//! the whole pipeline (ICMP sweep, DNS, TCP probe, JSON) end to end.
//!
//! Every scan here names `--iface lo --subnet 127.x`: even a test that went
//! wrong could only ever reach loopback.
#[path = "common/asserts.rs"]
mod asserts;
#[path = "common/skip.rs"]
#[allow(unused_imports)] // or_skip
mod skip;

use asserts::assert_has;
use std::process::{Command, Output};

const RCCR: &str = env!("CARGO_BIN_EXE_rccr");

fn scan(args: &[&str]) -> Output {
    Command::new(RCCR).arg("scan").args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn is_root() -> bool {
    // From /proc: no libc call (and no unsafe) in a test.
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Asserts exit code `code`, nothing on stdout, and one stderr line
/// starting with `prefix`.
fn assert_refused(out: &Output, code: i32, prefix: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(
        out.stdout.is_empty(),
        "partial output: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.starts_with(prefix), "{err}");
}

/// `rccr scan --iface lo --subnet 127.0.0.0/30 ARGS` in a new network
/// namespace (only lo, no route anywhere, so PTR queries fail at once and
/// the TCP probe is refused); `None` (skipped) without root, unshare or ip.
fn loopback_scan(args: &str) -> Option<Output> {
    if !is_root() || !have("unshare") || !have("ip") {
        skip::skip("needs root, unshare and ip for a private network namespace");
        return None;
    }
    let script =
        format!("ip link set lo up && exec {RCCR} scan --iface lo --subnet 127.0.0.0/30 {args}");
    Some(
        Command::new("unshare")
            .args(["--net", "sh", "-c", &script])
            .output()
            .unwrap(),
    )
}

#[test]
fn invalid_cidr_is_bad_input_naming_it() {
    let out = scan(&["--iface", "lo", "--subnet", "127.0.0.0/33"]);
    assert_refused(
        &out,
        3,
        "rccr scan: --subnet 127.0.0.0/33: not an IPv4 subnet",
    );
    let out = scan(&["--subnet", "banana"]);
    assert_refused(&out, 3, "rccr scan: --subnet banana: not an IPv4 subnet");
}

#[test]
fn host_bits_set_is_bad_input_with_the_network_meant() {
    let out = scan(&["--iface", "lo", "--subnet", "127.0.0.1/30"]);
    assert_refused(
        &out,
        3,
        "rccr scan: --subnet 127.0.0.1/30: host bits are set; did you mean 127.0.0.0/30?",
    );
}

#[test]
fn unknown_interface_is_bad_input_listing_the_real_ones() {
    let out = scan(&["--iface", "nosuch0", "--subnet", "127.0.0.0/30"]);
    assert_refused(
        &out,
        3,
        "rccr scan: --iface nosuch0: no such interface (there are: lo",
    );
}

#[test]
fn more_than_a_slash_16_needs_force() {
    let out = scan(&["--iface", "lo", "--subnet", "127.0.0.0/15"]);
    assert_refused(
        &out,
        3,
        "rccr scan: --subnet 127.0.0.0/15: 127.0.0.0/15 has 131070 addresses",
    );
    assert!(stderr(&out).contains("--force"));
    let out = scan(&["--iface", "lo", "--subnet", "126.0.0.0/7", "--force"]);
    assert_refused(&out, 3, "rccr scan: --subnet 126.0.0.0/7");
}

#[test]
fn out_of_range_options_are_usage_errors() {
    for args in [
        &["--retries", "11"][..],
        // Past u8: argh's own refusal.
        &["--retries", "300"],
        &["--timeout-ms", "0"],
        &["--timeout-ms", "60001"],
        &["--key", "/k"],
        &["--bogus"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--iface", "lo", "--subnet", "127.0.0.0/30"]);
        let out = scan(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn ssh_names_without_the_key_file_is_bad_input() {
    let out = scan(&[
        "--iface",
        "lo",
        "--subnet",
        "127.0.0.0/30",
        "--ssh-names",
        "--key",
        "/nonexistent/id_rsa",
    ]);
    assert_refused(
        &out,
        3,
        "rccr scan: --key /nonexistent/id_rsa: no such file",
    );
}

#[test]
fn a_bad_since_file_is_refused_before_sweeping() {
    let path = std::env::temp_dir().join(format!("rccr-scan-cli-since-{}", std::process::id()));
    std::fs::write(&path, "10.0.0.1 not-a-mac\n").unwrap();
    let out = scan(&[
        "--iface",
        "lo",
        "--subnet",
        "127.0.0.0/30",
        "--since",
        path.to_str().unwrap(),
    ]);
    std::fs::remove_file(&path).unwrap();
    assert_refused(&out, 3, "rccr scan: --since ");
    assert_has(&stderr(&out), "line 1");
}

/// `rccr scan --iface lo --subnet 127.0.0.0/30` as nobody, without
/// capabilities (to be given more arguments and run).
fn scan_as_nobody() -> Command {
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .args([RCCR, "scan", "--iface", "lo", "--subnet", "127.0.0.0/30"]);
    command
}

#[test]
fn without_raw_sockets_the_user_is_told_to_run_as_root() {
    if !is_root() || !have("setpriv") {
        skip::skip("needs root and setpriv to become an unprivileged user");
        return;
    }
    let out = scan_as_nobody().output().unwrap();
    assert_refused(
        &out,
        4,
        "rccr scan: sweeping the LAN needs raw sockets: run as root",
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn loopback_sweep_in_a_private_namespace() {
    let Some(out) = loopback_scan("--all --json --timeout-ms 200") else {
        return;
    };
    assert!(out.status.success(), "{}", stderr(&out));
    let json = String::from_utf8(out.stdout.clone()).unwrap();
    // 127.0.0.1 is ours and never asked; 127.0.0.2 answers on loopback.
    assert_eq!(
        json,
        "[\n  {\"ip\": \"127.0.0.2\", \"mac\": null, \"vendor\": null, \"hostname\": null, \"name_source\": null, \"ssh\": false, \
         \"match\": false}\n]\n"
    );
    // The summary goes to stderr, so that stdout stays pure JSON.
    let err = stderr(&out);
    let summary = err.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("rccr scan: 1 host up, 0 ours, 0 unnamed with SSH, in ")
            && summary.ends_with(" ms"),
        "{err}"
    );
}

#[test]
fn a_save_file_that_cannot_be_written_keeps_the_results() {
    let save = format!("/nonexistent-rccr-{}/snap", std::process::id());
    let Some(out) = loopback_scan(&format!("--all --json --timeout-ms 200 --save {save}")) else {
        return;
    };
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // What the sweep found is printed all the same, then the error.
    assert_has(
        &String::from_utf8_lossy(&out.stdout),
        "\"ip\": \"127.0.0.2\"",
    );
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("rccr scan: cannot write {save}: ")),
        "{err}"
    );
}

#[test]
fn a_config_warning_is_shown_before_the_sweep() {
    let config =
        std::env::temp_dir().join(format!("rccr-scan-cli-config-{}.yml", std::process::id()));
    // A misspelt key: the filter stays the default, which the user must hear.
    std::fs::write(&config, "discovery:\n  hostname_filtr: MyLab\n").unwrap();
    let out = loopback_scan(&format!("--timeout-ms 100 --config {}", config.display()));
    std::fs::remove_file(&config).unwrap();
    let Some(out) = out else {
        return;
    };
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_has(&err, "rccr scan: warning: ");
    assert_has(
        &err,
        ":2:3: unknown key 'hostname_filtr' in discovery (did you mean 'hostname_filter'?)",
    );
}

/// A user who may not read the `cluster_config.yml` found in the working
/// directory (root's, mode 0600, saying port 2222) is told the scan goes
/// on without it, with which port, user and filter, before anything else
/// (the key lookup of --ssh-names, the sweep's "run as root"): it used to
/// fall back to the defaults without a word.
#[test]
fn an_unreadable_config_is_named_with_what_the_scan_uses_instead() {
    if !is_root() || !have("setpriv") {
        skip::skip("needs root and setpriv to become an unprivileged user");
        return;
    }
    let dir = std::env::temp_dir().join(format!("rccr-scan-cli-denied-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let config = dir.join("cluster_config.yml");
    std::fs::write(&config, "ssh:\n  port: 2222\n  user: admin\n").unwrap();
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // A working directory this user may not search: whether a config is
    // there cannot be told, and the same warning says so.
    let unsearchable = dir.join("unsearchable");
    std::fs::create_dir(&unsearchable).unwrap();
    let as_nobody = |args: &[&str], cwd: &std::path::Path| {
        scan_as_nobody()
            .args(args)
            .current_dir(cwd)
            .env_remove("RCCR_TEMP_KEY")
            .output()
            .unwrap()
    };
    let plain = as_nobody(&["--filter", "lab"], &dir);
    let ssh_names = as_nobody(&["--ssh-names", "--port", "2200"], &dir);
    std::fs::set_permissions(
        &unsearchable,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let from_unsearchable = as_nobody(&["--filter", "lab"], &unsearchable);
    std::fs::remove_dir_all(&dir).unwrap();
    let denied =
        "rccr scan: warning: cannot read cluster_config.yml: Permission denied (os error 13)";

    for plain in [plain, from_unsearchable] {
        let err = stderr(&plain);
        assert_eq!(plain.status.code(), Some(4), "{err}");
        let lines: Vec<&str> = err.lines().collect();
        let warning = format!("{denied}; the scan uses port 22 and filter lab instead");
        assert_eq!(lines.first().copied(), Some(warning.as_str()), "{err}");
        assert_eq!(lines.len(), 2, "{err}");
        assert_has(lines[1], "rccr scan: sweeping the LAN needs raw sockets");
    }

    let err = stderr(&ssh_names);
    assert!(!ssh_names.status.success(), "{err}");
    let warning =
        format!("{denied}; the scan uses port 2200, user root and filter ReCyClusteR instead");
    assert_eq!(err.lines().next(), Some(warning.as_str()), "{err}");
}
