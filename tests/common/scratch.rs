//! A directory of the test's own under the temp directory, removed when
//! dropped; shared by the lab tests (`common`, whose hosts see the host's
//! /tmp) and the image tests (`common/image.rs`, as `TempDir`).
#![allow(dead_code)]
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `rccr-TAG-PID-N`, empty: N tells apart the dirs of one process.
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("rccr-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    /// Writes `content` to `rel`, making the directories on the way.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        write(&self.path(rel), content);
    }
}

/// Writes `content` to `path`, making the directories on the way.
pub fn write(path: &Path, content: impl AsRef<[u8]>) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
