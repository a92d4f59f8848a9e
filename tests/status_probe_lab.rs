//! `rccr status`'s probe on the virtual LAN cleans up after itself: a
//! node whose `docker` hangs keeps nothing of the probe running once rccr
//! has given up on it (sshd does not end a command when its connection
//! goes).
mod common;

use common::child::wait_for_within;
use common::lab::{stderr, stdout, Lab};
use std::time::Duration;

/// A `docker` that never answers: it waits in a `sleep` of its own (as
/// printf's format).
const HUNG_DOCKER: &str = r"#!/bin/sh\nsleep 86317\n";

/// A `docker` that says more than a probe's answer may hold (as printf's
/// format): 400 kB the probe prints, having read it whole.
const TALKATIVE_DOCKER: &str = r"#!/bin/sh\nyes rccr-endless | head -c 400000\n";

/// The processes of the lab that belong to a probe: its shell (the
/// script's text is on its command line), the hung `docker` and its sleep.
fn probe_processes(lab: &Lab) -> Vec<(u32, String)> {
    lab.pids()
        .into_iter()
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            [
                "rccr-health",
                "/usr/local/bin/docker",
                "sleep 86317",
                "yes rccr-endless",
            ]
            .iter()
            .any(|mark| cmdline.contains(mark))
            .then_some((pid, cmdline))
        })
        .collect()
}

/// Makes `host`'s `docker` the script `docker` (its /usr/local is private).
fn fake_docker(lab: &Lab, host: &str, docker: &str) {
    let script = format!(
        "mkdir -p /usr/local/bin && printf '{docker}' > /usr/local/bin/docker && \
         chmod 755 /usr/local/bin/docker"
    );
    let out = lab.sh(host, &script);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// On a lab whose `host` has the `docker` script `docker`: `rccr status
/// --timeout 5` ends (generous: only "it ends", never how fast), says
/// `gave_up` of the probe, exit 1, and every process of the probe ends too
/// (the hung docker sleeps for a day).
fn status_gives_up_and_leaves_nothing_behind(host: &str, docker: &str, gave_up: &str) {
    let Some(lab) = Lab::builder().targets(1).up_as_root() else {
        return;
    };
    let setup = lab.exec("control", &["rccr", "setup", "--yes", "--no-swarm"]);
    assert!(setup.status.success(), "{}", stderr(&setup));
    fake_docker(&lab, host, docker);
    let mut status = lab.spawn("control", &["rccr", "status", "--json", "--timeout", "5"]);
    wait_for_within("rccr status to end", Duration::from_secs(60), || {
        status.try_wait().unwrap().is_some()
    });
    let out = status.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json = stdout(&out);
    assert!(
        json.contains(gave_up),
        "rccr did not give up on {host}'s docker: {json}"
    );
    wait_for_within(
        &format!("the probe's processes on {host} to end"),
        Duration::from_secs(60),
        || probe_processes(&lab).is_empty(),
    );
}

/// sshd does not end a command when its connection goes: the node's side
/// of the probe bounds itself.
#[test]
fn a_probe_that_hangs_leaves_nothing_behind_on_the_node() {
    status_gives_up_and_leaves_nothing_behind("target-1", HUNG_DOCKER, "did not finish within 5 s");
}

/// The control's own probe runs on the control itself, with no SSH to cut
/// it off: its `docker` hung, rccr status waited for ever. It is bounded
/// by `--timeout` as a node's is.
#[test]
fn the_controls_own_probe_is_bounded_too() {
    status_gives_up_and_leaves_nothing_behind("control", HUNG_DOCKER, "did not finish within 5 s");
}

/// The control's probe read all its docker said, into the control's
/// memory, however much. It is cut as a node's is.
#[test]
fn the_controls_own_probe_says_no_more_than_a_nodes() {
    status_gives_up_and_leaves_nothing_behind(
        "control",
        TALKATIVE_DOCKER,
        "sent more than 327680 bytes",
    );
}
