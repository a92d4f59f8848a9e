//! rccr's block in `~/.ssh/config`, for when the cluster key cannot live at
//! OpenSSH's default path (a key rccr did not make is there, and rccr never
//! overwrites it): the block names the cluster key for the nodes, so a
//! plain `ssh root@NODE` still works.
//!
//! ```text
//! # BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost
//! Host 10.0.0.5 10.0.0.6
//!     IdentityFile /root/.rccr/cluster_key
//! # END rccr
//! ```
//!
//! The block goes at the end of the file (a `Host` line there cannot
//! capture the user's options above it); every other byte of the file is
//! kept, and the file is replaced atomically.
use crate::error::Error;
use crate::fsutil;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

const BEGIN: &str = "# BEGIN rccr: written by rccr keyrotate/setup; edits inside are lost";
const END: &str = "# END rccr";
/// Hosts per `Host` line, so no line grows long.
const PER_LINE: usize = 16;

/// The file without rccr's blocks, and the hosts they named. A block is a
/// BEGIN line, then an END line with no BEGIN between: a marker line the
/// user wrote on its own stays the user's, and so does what follows it.
fn split(content: &str) -> (String, Vec<IpAddr>) {
    let lines: Vec<&str> = content.split_inclusive('\n').collect();
    let mut rest = String::new();
    let mut hosts = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() == BEGIN {
            let body = &lines[i + 1..];
            let end = body
                .iter()
                .position(|l| matches!(l.trim_end(), BEGIN | END))
                .filter(|&e| body[e].trim_end() == END);
            if let Some(end) = end {
                for line in &body[..end] {
                    if let Some(patterns) = line.trim_end().strip_prefix("Host ") {
                        hosts.extend(
                            patterns
                                .split_whitespace()
                                .filter_map(|p| p.parse::<IpAddr>().ok()),
                        );
                    }
                }
                i += end + 2;
                continue;
            }
        }
        rest.push_str(lines[i]);
        i += 1;
    }
    (rest, hosts)
}

/// `content` with rccr's block naming `key` for its old hosts and `nodes`.
pub fn render(content: &str, key: &Path, nodes: &[IpAddr]) -> String {
    let (mut out, mut hosts) = split(content);
    for node in nodes {
        if !hosts.contains(node) {
            hosts.push(*node);
        }
    }
    if hosts.is_empty() {
        return out;
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(BEGIN);
    out.push('\n');
    for chunk in hosts.chunks(PER_LINE) {
        let names: Vec<String> = chunk.iter().map(IpAddr::to_string).collect();
        out.push_str(&format!(
            "Host {}\n    IdentityFile \"{}\"\n",
            names.join(" "),
            key.display()
        ));
    }
    out.push_str(END);
    out.push('\n');
    out
}

/// Makes `~/.ssh/config` (`path`) name `key` for `nodes`, keeping the rest:
/// the other bytes, the file's mode, and a symbolic link (the file it
/// points to is the one rewritten).
pub fn name_key_for(path: &Path, key: &Path, nodes: &[IpAddr]) -> Result<(), Error> {
    let (path, mode, content) = read(path)?;
    let path = path.as_path();
    let updated = render(&content, key, nodes);
    if updated == content {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        crate::state::create_private_dir(dir)?;
    }
    fsutil::write_atomic(path, updated.as_bytes(), mode)
}

/// Refuses a `~/.ssh/config` (`path`) that [`name_key_for`] would refuse
/// to rewrite: checked before any node hears of a new key, not after.
pub fn check(path: &Path) -> Result<(), Error> {
    read(path).map(|_| ())
}

/// The file `path` leads to (a link followed), its mode, and its text
/// (empty when there is none). ssh refuses a config others may write, and
/// so does rccr; one that is not UTF-8 is not rewritten.
fn read(path: &Path) -> Result<(PathBuf, u32, String), Error> {
    use std::os::unix::fs::PermissionsExt;
    let (path, mode) = match std::fs::canonicalize(path) {
        Ok(target) => {
            let mode =
                std::fs::metadata(&target).map_or(0o600, |m| m.permissions().mode() & 0o7777);
            (target, mode)
        }
        Err(_) => (path.to_path_buf(), 0o600),
    };
    let content = match fsutil::read_trusted_if_any(&path, fsutil::Trust::Kept)? {
        Some(bytes) => String::from_utf8(bytes).map_err(|_| {
            Error::bad_input(
                path.display().to_string(),
                "not UTF-8 text; rccr will not rewrite it",
            )
        })?,
        None => String::new(),
    };
    Ok((path, mode, content))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_block_goes_last_and_keeps_every_other_byte() {
        let mine = "# mine\nIdentityFile ~/.ssh/work\nHost laptop\n  User me";
        let key = Path::new("/root/.rccr/cluster_key");
        let once = render(mine, key, &[ip("10.0.0.5")]);
        assert_eq!(
            once,
            format!("{mine}\n{BEGIN}\nHost 10.0.0.5\n    IdentityFile \"/root/.rccr/cluster_key\"\n{END}\n")
        );
        // More nodes join the block; the user's part stays as it was.
        let twice = render(&once, key, &[ip("10.0.0.6"), ip("10.0.0.5")]);
        assert!(
            twice.starts_with(&format!("{mine}\n{BEGIN}\nHost 10.0.0.5 10.0.0.6\n")),
            "{twice}"
        );
        assert_eq!(split(&twice).0, format!("{mine}\n"));
        assert_eq!(render(&twice, key, &[]), twice);
        // No nodes, no block.
        assert_eq!(render(mine, key, &[]), mine);
    }

    #[test]
    fn a_marker_the_user_wrote_alone_stays_theirs() {
        let key = Path::new("/k");
        let stray = format!("{BEGIN}\nHost mine\n  User me\n");
        let once = render(&stray, key, &[ip("10.0.0.5")]);
        assert!(once.starts_with(&stray), "{once}");
        assert_eq!(render(&once, key, &[]), once);
        assert_eq!(split(&once), (stray, vec![ip("10.0.0.5")]));
    }

    #[test]
    fn the_users_file_keeps_its_mode_and_its_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("rccr-sshcfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dotfiles")).unwrap();
        let real = dir.join("dotfiles/ssh_config");
        std::fs::write(&real, "Host *\n  ServerAliveInterval 30\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.join("config");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        name_key_for(&link, Path::new("/k"), &[ip("10.0.0.5")]).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let text = std::fs::read_to_string(&real).unwrap();
        assert!(
            text.starts_with("Host *\n  ServerAliveInterval 30\n# BEGIN rccr"),
            "{text}"
        );
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        // A new file is the user's alone.
        let fresh = dir.join("fresh");
        name_key_for(&fresh, Path::new("/k"), &[ip("10.0.0.5")]).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn many_nodes_make_short_lines() {
        let nodes: Vec<IpAddr> = (1..=40).map(|n| ip(&format!("10.0.0.{n}"))).collect();
        let text = render("", Path::new("/k"), &nodes);
        assert_eq!(text.matches("Host ").count(), 3);
        assert_eq!(split(&text).1, nodes);
    }
}
