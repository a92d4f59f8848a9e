//! What `rccr --version` prints; the values come from build.rs.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const TARGET: &str = env!("RCCR_TARGET");
pub const GIT_REV: &str = env!("RCCR_GIT_REV");

/// `rccr 0.1.0 (x86_64-unknown-linux-musl, git 0123456789ab)`
pub fn line() -> String {
    format!("rccr {VERSION} ({TARGET}, git {GIT_REV})")
}
