//! Failpoints of rccr (src/failpoint.rs) from a test: a directory shared
//! with the rccr run inside the lab, the environment that arms one, and
//! the wait for rccr to stop there.
use super::lab::{lab_script, Lab};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A failpoint directory shared by the test and rccr inside the lab.
pub struct Failpoint(pub PathBuf);

impl Failpoint {
    pub fn new(tag: &str) -> Failpoint {
        let dir = std::env::temp_dir().join(format!("rccr-fp-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Failpoint(dir)
    }

    /// `env` arguments that make rccr stop at failpoint `spec`.
    pub fn env(&self, spec: &str) -> Vec<String> {
        vec![
            "env".into(),
            format!("RCCR_FAILPOINT={spec}"),
            format!("RCCR_FAILPOINT_DIR={}", self.0.display()),
        ]
    }

    /// Starts `cmd` on the lab's control, armed to stop at failpoint
    /// `spec`, with no input and its output piped.
    pub fn spawn(&self, lab: &Lab, spec: &str, cmd: &[String]) -> Child {
        let mut args = vec![
            "exec".to_string(),
            lab.dir().display().to_string(),
            "control".into(),
        ];
        args.extend(self.env(spec));
        args.extend_from_slice(cmd);
        Command::new(lab_script())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits for rccr to stop at the failpoint: (detail, rccr's pid).
    pub fn reached(&self) -> (String, i32) {
        let start = Instant::now();
        loop {
            if let Ok(line) = std::fs::read_to_string(self.0.join("reached")) {
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
        std::fs::write(self.0.join("continue"), b"").unwrap();
    }
}

impl Drop for Failpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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
