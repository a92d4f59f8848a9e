//! Failpoints for the fault-injection tests: with `RCCR_FAILPOINT=NAME` (or
//! `NAME:N`, the N-th time it is reached), rccr stops at that point, writes
//! what it reached to `$RCCR_FAILPOINT_DIR/reached`, and waits until the
//! test creates `$RCCR_FAILPOINT_DIR/continue` (or SIGKILLs it). If no
//! `continue` comes within [`MAX_WAIT`], or the directory goes away, the
//! test that armed it is gone: rccr exits 1 rather than go on with work
//! on what that test has torn down. Without the variable a failpoint costs
//! one environment lookup.
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static HITS: AtomicUsize = AtomicUsize::new(0);
const MAX_WAIT: Duration = Duration::from_secs(300);

/// Marks that `name` was reached; `detail` (a node) is written for the test.
pub fn reached(name: &str, detail: &str) {
    let Ok(spec) = std::env::var("RCCR_FAILPOINT") else {
        return;
    };
    let (wanted, nth) = match spec.split_once(':') {
        Some((n, count)) => (n.to_string(), count.parse().unwrap_or(1)),
        None => (spec, 1),
    };
    if wanted != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != nth {
        return;
    }
    let dir = PathBuf::from(std::env::var_os("RCCR_FAILPOINT_DIR").unwrap_or_else(|| ".".into()));
    let line = format!("{name} {detail} {}\n", std::process::id());
    let _ = crate::fsutil::write_atomic(&dir.join("reached"), line.as_bytes(), 0o644);
    let start = Instant::now();
    while !dir.join("continue").exists() {
        if start.elapsed() >= MAX_WAIT || !dir.is_dir() {
            eprintln!(
                "rccr: failpoint {name}: no {} within {} s: exiting instead of going on",
                dir.join("continue").display(),
                MAX_WAIT.as_secs()
            );
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
