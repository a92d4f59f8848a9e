//! Failpoints of rccr (src/failpoint.rs) from a test: a directory shared
//! with the rccr run inside the lab, the environment that arms one, and
//! the wait for rccr to stop there.
use super::lab::Lab;
use super::scratch::Scratch;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A failpoint directory shared by the test and rccr inside the lab.
pub struct Failpoint {
    scratch: Scratch,
}

impl Failpoint {
    pub fn new(tag: &str) -> Failpoint {
        Failpoint {
            scratch: Scratch::new(&format!("fp-{tag}")),
        }
    }

    /// The directory rccr reports to and waits in.
    pub fn dir(&self) -> &Path {
        &self.scratch.0
    }

    /// `env` arguments that make rccr stop at failpoint `spec`.
    pub fn env(&self, spec: &str) -> Vec<String> {
        vec![
            "env".into(),
            format!("RCCR_FAILPOINT={spec}"),
            format!("RCCR_FAILPOINT_DIR={}", self.dir().display()),
        ]
    }

    /// Starts `cmd` on the lab's control, armed to stop at failpoint
    /// `spec`, with no input and its output piped.
    pub fn spawn(&self, lab: &Lab, spec: &str, cmd: &[impl AsRef<str>]) -> Child {
        let env = self.env(spec);
        let args: Vec<&str> = env.iter().map(String::as_str).collect();
        let args = [args, cmd.iter().map(AsRef::as_ref).collect()].concat();
        lab.spawn("control", &args)
    }

    /// Waits for rccr to stop at the failpoint: (detail, rccr's pid).
    pub fn reached(&self) -> (String, i32) {
        let start = Instant::now();
        loop {
            if let Ok(line) = std::fs::read_to_string(self.dir().join("reached")) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                return (fields[1].to_string(), fields[2].parse().unwrap());
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "failpoint never reached"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn resume(&self) {
        std::fs::write(self.dir().join("continue"), b"").unwrap();
    }
}

/// SIGKILL to rccr where it stopped (`pid` from [`Failpoint::reached`]).
pub fn sigkill(pid: i32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 {pid}");
}
