//! test-image.sh's teardown: a signal while the second VM of a boot test
//! boots stops both VMs, not only the one booting. QEMU, ssh and the other
//! tools are stand-ins that record what the script starts.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// QEMU: records its pid as qemu.N.pid (N: the Nth boot) and runs on; the
/// first VM answers SSH (up.PORT), the others never do. ssh: succeeds for a
/// port that is up.
const STAND_INS: [(&str, &str); 4] = [
    (
        "qemu-system-x86_64",
        r#"n=$(($(ls "$STANDIN" | grep -c '^qemu\.[0-9]*\.pid$') + 1))
for a in "$@"; do
	case "$a" in *hostfwd=tcp:127.0.0.1:*) port=${a##*127.0.0.1:} port=${port%%-*} ;; esac
done
[ "$n" != 1 ] || : >"$STANDIN/up.$port"
echo $$ >"$STANDIN/qemu.pid.part"
mv "$STANDIN/qemu.pid.part" "$STANDIN/qemu.$n.pid"
exec sleep 600"#,
    ),
    (
        "ssh",
        r#"port=''
while [ $# -gt 0 ]; do [ "$1" != -p ] || port=$2; shift; done
[ -e "$STANDIN/up.$port" ]"#,
    ),
    ("ssh-keyscan", "exit 0"),
    ("mkfs.vfat", "exit 0"),
];

/// The pids of the stand-in VMs started so far, in boot order.
fn vm_pids(standin: &Path) -> Vec<u32> {
    (1..)
        .map(|n| standin.join(format!("qemu.{n}.pid")))
        .take_while(|p| p.exists())
        .map(|p| fs::read_to_string(p).unwrap().trim().parse().unwrap())
        .collect()
}

/// Whether a process runs (a zombie does not).
fn running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Kills the stand-in VMs still running when the test ends, pass or fail.
struct Leftovers<'a>(&'a Path);

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        for pid in vm_pids(self.0) {
            if running(pid) {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

#[test]
fn a_signal_while_the_second_vm_boots_stops_both_vms() {
    let dir = TempDir::new("test-image-teardown");
    let (mut cmd, standin) = test_image_qemu(&dir, &STAND_INS, &[]);
    let _leftovers = Leftovers(&standin);

    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.path("stderr")).unwrap())
        .spawn()
        .unwrap();

    // The first VM answered; the second one boots (and never answers).
    let limit = Instant::now() + Duration::from_secs(120);
    while vm_pids(&standin).len() < 2 {
        if let Some(status) = child.try_wait().unwrap() {
            let said = fs::read_to_string(dir.path("stderr")).unwrap_or_default();
            panic!("test-image.sh ended before the second VM: {status}\n{said}");
        }
        assert!(
            Instant::now() < limit,
            "no second VM: {:?}",
            vm_pids(&standin)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pids = vm_pids(&standin);
    assert!(pids.iter().all(|&pid| running(pid)), "{pids:?}");

    ok(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null()));
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
    let left: Vec<u32> = pids.into_iter().filter(|&pid| running(pid)).collect();
    let said = fs::read_to_string(dir.path("stderr")).unwrap_or_default();
    assert!(
        left.is_empty(),
        "VMs left running after TERM: {left:?}\n{said}"
    );
    assert!(
        fs::read_dir(dir.path("tmp")).unwrap().next().is_none(),
        "test-image.sh left its work directory"
    );
}
