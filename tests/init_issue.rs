//! The console banner on a live system (tests/common/live_node.rs: a
//! private /etc, /run and network): `rccr-init --issue-only` lists the
//! kernel's addresses, and of two runs at once (udhcpc's hook for two
//! interfaces, or the hook and the rccr-issue service) the banner left is
//! the one read last.
#[path = "common/child.rs"]
mod child;
#[path = "common/live_node.rs"]
mod live_node;
#[path = "common/scratch.rs"]
mod scratch;
#[path = "common/skip.rs"]
mod skip;

use live_node::LiveNode;
use skip::or_skip;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::Duration;

/// How long a step may take before the test gives up on it: a watchdog,
/// far beyond what each takes.
const WATCHDOG: Duration = Duration::from_secs(60);

#[test]
fn of_two_runs_at_once_the_banner_left_is_the_one_read_last() {
    let node = or_skip!(LiveNode::start("issue-race"));
    node.sh("ip addr add 10.9.8.7/24 dev v0");
    // Run A reads the addresses (10.9.8.7), and stops there (a failpoint)
    // before it writes the banner.
    let failpoint = node.path("failpoint");
    std::fs::create_dir(&failpoint).unwrap();
    let run_a = child::spawn(
        node.issue_only()
            .env("RCCR_FAILPOINT", "issue-addresses-read")
            .env("RCCR_FAILPOINT_DIR", &failpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    child::wait_for_within("run A to read the addresses", WATCHDOG, || {
        failpoint.join("reached").exists()
    });
    // The lease moves (another address, in another subnet: deleting a
    // subnet's first address deletes the others), and run B starts.
    node.sh("ip addr add 10.9.9.8/24 dev v0 && ip addr del 10.9.8.7/24 dev v0");
    let mut run_b = child::spawn(
        node.issue_only()
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    // B either waits for A (it says so first) or runs to its end.
    let mut b_says = BufReader::new(run_b.stderr.take().unwrap());
    let mut b_said = String::new();
    while b_says.read_line(&mut b_said).unwrap() > 0 {
        if b_said.contains("waiting for /run/rccr-issue.lock") {
            break;
        }
    }
    std::fs::write(failpoint.join("continue"), "").unwrap();
    let a = run_a.wait_with_output();
    let b = run_b.wait().unwrap();
    b_says.read_to_string(&mut b_said).unwrap();
    let a_said = String::from_utf8_lossy(&a.stderr);
    assert!(a.status.success(), "run A: {a_said}");
    assert!(b.success(), "run B: {b_said}");
    // B waited for A's banner: it read after A had written.
    assert!(
        b_said.contains("another rccr-init run is writing the banner"),
        "{b_said}"
    );
    let banner = node.banner();
    assert!(
        banner.contains("Addresses: 10.9.9.8/24 (v0)\n") && !banner.contains("10.9.8.7"),
        "the banner is not the last reading (10.9.9.8 only):\n{banner}\nrun A said:\n{a_said}\nrun B said:\n{b_said}"
    );
}
