//! Where rccr keeps its state on the control node: every path under the
//! state directory and under `~/.ssh` is named here and nowhere else.
//! Every path can be redirected (an option or an environment variable) so
//! that tests running in parallel never share state.
//!
//! | what | path | override |
//! |---|---|---|
//! | state directory | `~/.rccr` | `--state-dir`, `RCCR_STATE_DIR` |
//! | rotation journal of an unfinished run | `STATE/rotation.journal` | |
//! | the last finished rotation (current and previous key) | `STATE/last-rotation` | |
//! | rccr's kept copy of the temporary key | `STATE/temp_key` | |
//! | a new cluster key waiting for its path in `~/.ssh` | `STATE/new_key` | |
//! | the cluster key a `keyrotate --rekey` moves the nodes away from | `STATE/previous_key` | |
//! | the cluster key, when `~/.ssh`'s default path holds another key | `STATE/cluster_key` | |
//! | fingerprints of the keys rccr made or was handed | `STATE/keys` | |
//! | the cluster's nodes | `STATE/nodes` | |
//! | the Ansible inventory | `STATE/inventory.ini` | |
//! | the swarm this control created | `STATE/swarm` | |
//! | the log of the configured playbooks' last run | `STATE/ansible.log` | |
//! | the lock of a run that changes things | `STATE/lock` | |
//! | pinned host keys | `~/.ssh/known_hosts` | `--known-hosts` |
//! | the `Host` block that names `STATE/cluster_key` for the nodes | `~/.ssh/config` | |
//! | the identity plain `ssh` offers | `~/.ssh/id_ed25519`, `~/.ssh/id_rsa` | (OpenSSH's defaults) |
//! | the image's temporary key (control images) | `/root/.ssh/id_rsa` | |
//! | the docker CLI's context `rccr` and default | `~/.docker/` | |
//! | Ansible's settings for plain `ansible` | `~/.ansible.cfg` | |
pub mod inventory;
pub mod lock;
pub mod swarm;

use crate::error::Error;
use crate::ssh::{Fingerprint, KeyType};
use std::path::{Path, PathBuf};

pub use lock::Lock;

/// Where `rccr keygen` writes the temporary key for image builds, relative
/// to the repository.
pub const IMAGE_BUILD_TEMP_KEY: &str = ".rccr/ssh_temp_key";
/// Where the control images install the temporary private key.
pub const IMAGE_TEMP_KEY: &str = "/root/.ssh/id_rsa";
/// The environment variable that moves the state directory.
const STATE_DIR_ENV: &str = "RCCR_STATE_DIR";

pub struct StatePaths {
    pub ssh_dir: PathBuf,
    pub state_dir: PathBuf,
    pub known_hosts: PathBuf,
}

/// What to do about a state directory that cannot be one.
const NAME_A_STATE_DIR: &str = "name a directory (unset, the state directory is ~/.rccr)";

impl StatePaths {
    /// The paths command `cmd` uses: its `--state-dir` and `--known-hosts`,
    /// else `RCCR_STATE_DIR`, else the defaults. An empty option is a usage
    /// error, an empty `RCCR_STATE_DIR` bad input.
    pub fn from_args(
        cmd: &[&str],
        state_dir: Option<&str>,
        known_hosts: Option<&str>,
    ) -> Result<StatePaths, Error> {
        crate::cli::not_empty(
            cmd,
            &[("--state-dir", state_dir), ("--known-hosts", known_hosts)],
            "a file or directory",
        )?;
        let paths = StatePaths::resolve(state_dir, known_hosts);
        paths.check_state_dir()?;
        // One that others may write is refused before a command reads a
        // file there, not only before it writes one.
        for dir in [&paths.state_dir, &paths.ssh_dir] {
            if dir.is_dir() {
                check_private_dir(dir)?;
            }
        }
        // A file there (or on the way there) is no state directory: say so
        // before a command reads PATH/nodes or creates PATH.
        let exists_as_file = match std::fs::metadata(&paths.state_dir) {
            Ok(meta) => !meta.is_dir(),
            Err(e) => e.kind() == std::io::ErrorKind::NotADirectory,
        };
        if exists_as_file {
            let dir = paths.state_dir.display();
            let named = match (state_dir, std::env::var_os(STATE_DIR_ENV)) {
                (Some(_), _) => format!("--state-dir {dir}"),
                (None, Some(_)) => format!("{STATE_DIR_ENV}={dir}"),
                (None, None) => dir.to_string(),
            };
            return Err(Error::bad_input(
                named,
                format!("not a directory: {NAME_A_STATE_DIR}"),
            ));
        }
        // Whole from here on: rccr writes these paths into other files
        // (~/.ssh/config's IdentityFile, inventory.ini, ~/.ansible.cfg),
        // read by ssh and Ansible from other working directories.
        let whole = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
        Ok(StatePaths {
            ssh_dir: whole(paths.ssh_dir),
            state_dir: whole(paths.state_dir),
            known_hosts: whole(paths.known_hosts),
        })
    }

    /// The paths as given, else as `RCCR_STATE_DIR` says, else the
    /// defaults, unchecked: [`StatePaths::from_args`] refuses empty ones
    /// (and [`StatePaths::create_state_dir`] an empty state directory).
    fn resolve(state_dir: Option<&str>, known_hosts: Option<&str>) -> StatePaths {
        let home = home();
        let ssh_dir = home.join(".ssh");
        let state_dir = state_dir
            .map(PathBuf::from)
            .or_else(|| std::env::var_os(STATE_DIR_ENV).map(PathBuf::from))
            .unwrap_or_else(|| home.join(".rccr"));
        let known_hosts = known_hosts
            .map(PathBuf::from)
            .unwrap_or_else(|| ssh_dir.join("known_hosts"));
        StatePaths {
            ssh_dir,
            state_dir,
            known_hosts,
        }
    }

    /// The same paths again (a run hands them to the stages it calls).
    pub fn copy(&self) -> StatePaths {
        StatePaths {
            ssh_dir: self.ssh_dir.clone(),
            state_dir: self.state_dir.clone(),
            known_hosts: self.known_hosts.clone(),
        }
    }

    /// The rotation journal of an unfinished run.
    pub fn journal(&self) -> PathBuf {
        self.state_dir.join("rotation.journal")
    }

    /// The journal of the last finished rotation: current and previous keys.
    pub fn last_rotation(&self) -> PathBuf {
        self.state_dir.join("last-rotation")
    }

    /// rccr's root-only copy of the temporary key, to adopt later nodes.
    pub fn kept_temp_key(&self) -> PathBuf {
        self.state_dir.join("temp_key")
    }

    /// Where a new cluster key waits while the old key holds its path in
    /// `~/.ssh` (a rotation away from `~/.ssh/id_rsa` to an RSA key).
    pub fn staged_new_key(&self) -> PathBuf {
        self.state_dir.join("new_key")
    }

    /// The cluster key a `keyrotate --rekey` moves the nodes away from,
    /// kept here (whatever happens to its old path) until every node has
    /// moved, and afterwards as the previous key.
    pub fn previous_key(&self) -> PathBuf {
        self.state_dir.join("previous_key")
    }

    /// Where the cluster key lives when OpenSSH's default path for it
    /// holds a key rccr did not make (see [`StatePaths::ssh_config`]).
    pub fn own_cluster_key(&self) -> PathBuf {
        self.state_dir.join("cluster_key")
    }

    /// OpenSSH's client configuration, where rccr keeps one marked `Host`
    /// block when the cluster key is [`StatePaths::own_cluster_key`].
    pub fn ssh_config(&self) -> PathBuf {
        self.ssh_dir.join("config")
    }

    /// The fingerprints of the keys rccr made or was handed (see [`KeyRecords`]).
    pub fn key_records(&self) -> PathBuf {
        self.state_dir.join("keys")
    }

    /// rccr's inventory of the cluster (see [`inventory`]).
    pub fn nodes(&self) -> PathBuf {
        self.state_dir.join("nodes")
    }

    /// The Ansible inventory rendered from [`StatePaths::nodes`].
    pub fn inventory_ini(&self) -> PathBuf {
        self.state_dir.join("inventory.ini")
    }

    /// What the configured playbooks printed on their last run.
    pub fn ansible_log(&self) -> PathBuf {
        self.state_dir.join("ansible.log")
    }

    /// The swarm this control created (see [`swarm`]).
    pub fn swarm(&self) -> PathBuf {
        self.state_dir.join("swarm")
    }

    /// The lock a run that changes the state holds.
    pub fn lock(&self) -> PathBuf {
        self.state_dir.join("lock")
    }

    /// The docker CLI's configuration directory (`~/.docker`): rccr's
    /// context `rccr` and the default context live there.
    pub fn docker_dir(&self) -> PathBuf {
        self.home().join(".docker")
    }

    /// The Ansible settings rccr writes for plain `ansible` commands.
    pub fn ansible_cfg(&self) -> PathBuf {
        self.home().join(".ansible.cfg")
    }

    fn home(&self) -> PathBuf {
        self.ssh_dir
            .parent()
            .map_or_else(home, std::path::Path::to_path_buf)
    }

    /// The private key OpenSSH's client offers by default for `kind`.
    pub fn ssh_identity(&self, kind: KeyType) -> PathBuf {
        self.ssh_dir.join(match kind {
            KeyType::Ed25519 => "id_ed25519",
            KeyType::Rsa => "id_rsa",
        })
    }

    /// The image's temporary key on a control node.
    pub fn image_temp_key(&self) -> PathBuf {
        PathBuf::from(IMAGE_TEMP_KEY)
    }

    /// Creates the state directory, root-only; one that exists must be
    /// safe ([`check_private_dir`]) and is left as it is.
    pub fn create_state_dir(&self) -> Result<(), Error> {
        self.check_state_dir()?;
        create_private_dir(&self.state_dir)
    }

    /// Refuses an empty state directory: as a path, it is the working
    /// directory, where the lock, the inventory and the keys would land.
    fn check_state_dir(&self) -> Result<(), Error> {
        if !self.state_dir.as_os_str().is_empty() {
            return Ok(());
        }
        let named_by = match std::env::var_os(STATE_DIR_ENV) {
            Some(value) if value.is_empty() => STATE_DIR_ENV,
            _ => "the state directory",
        };
        Err(Error::bad_input(
            named_by,
            format!("empty: {NAME_A_STATE_DIR}"),
        ))
    }
}

/// The user's home: `$HOME`, else `/root` (rccr runs as root).
fn home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// Creates `dir` (and missing parents) with mode 0700. A directory that
/// exists is never chmodded (rccr did not create it): it must pass
/// [`check_private_dir`] instead, and the ones above it [`check_above`].
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return check_private_dir(dir);
    }
    check_above(dir)?;
    crate::fsutil::create_dir_durable(dir, 0o700)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

/// Refuses a directory that is not safe to keep keys in (the state
/// directory, `~/.ssh`): another user's, or one others may write, sticky
/// (/tmp) or not ([`crate::fsutil::Trust::Kept`]).
pub fn check_private_dir(dir: &Path) -> Result<(), Error> {
    match crate::fsutil::untrusted(dir, crate::fsutil::Trust::Kept) {
        Ok(None) => check_above(dir),
        Ok(Some(why)) => Err(Error::bad_input(
            dir.display().to_string(),
            format!(
                "{why}; {}",
                remedy(dir, || {
                    "rccr keeps keys there and will not use it (chmod go-w or chown it, or name another)".into()
                })
            ),
        )),
        Err(e) => Err(Error::io(format!("cannot inspect {}", dir.display()), e)),
    }
}

/// What to tell the user to do about `path`, under `HOME` or rccr's state,
/// which fails StrictModes: [`in_sudo_home`]'s answer, else
/// [`crate::fsutil::remedy`]'s.
fn remedy(path: &Path, otherwise: impl FnOnce() -> String) -> String {
    in_sudo_home(path).unwrap_or_else(|| crate::fsutil::remedy(path, otherwise))
}

/// What to do when rccr runs as root and `path`'s owner is the owner of
/// `HOME`, another user: `sudo` kept that user's `HOME`, whose files root
/// does not trust (chowning them to root is no answer). `None` otherwise.
fn in_sudo_home(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    if crate::fsutil::effective_uid() != Some(0) {
        return None;
    }
    let home = home();
    let owner = std::fs::metadata(&home).ok()?.uid();
    let ours = owner == 0 || std::fs::metadata(path).ok()?.uid() != owner;
    (!ours).then(|| {
        format!(
            "rccr runs as root with HOME={}, uid {owner}'s: run sudo -H rccr, or rccr as that user",
            home.display()
        )
    })
}

/// Refuses a directory above `dir` (those that exist, links resolved:
/// above where a linked `dir` leads too) that another user owns or others
/// may write, unless it is sticky (as /tmp, [`crate::fsutil::Trust::Named`]):
/// from there they could move `dir` away and put their own in its place.
/// OpenSSH's StrictModes walks up the same way, from the real path.
fn check_above(dir: &Path) -> Result<(), Error> {
    let Ok(dir) = std::path::absolute(dir) else {
        return Ok(());
    };
    let real = match std::fs::canonicalize(&dir) {
        Ok(real) => real.parent().map(Path::to_path_buf),
        Err(_) => dir
            .ancestors()
            .skip(1)
            .find(|d| d.is_dir())
            .and_then(|d| std::fs::canonicalize(d).ok()),
    };
    let Some(real) = real else {
        return Ok(());
    };
    for above in real.ancestors() {
        if let Ok(Some(why)) = crate::fsutil::untrusted(above, crate::fsutil::Trust::Named) {
            let remedy = remedy(above, || {
                format!(
                    "others could swap {} out of it, so rccr will not keep keys there (chmod go-w or +t, or name another directory)",
                    dir.display()
                )
            });
            return Err(Error::bad_input(
                above.display().to_string(),
                format!("{why}; {remedy}"),
            ));
        }
    }
    Ok(())
}

/// What rccr knows a key as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    /// A cluster key rccr generated.
    Cluster,
    /// The temporary key rccr was handed (it ships in public images).
    Temporary,
}

impl KeyRole {
    fn as_str(self) -> &'static str {
        match self {
            KeyRole::Cluster => "cluster",
            KeyRole::Temporary => "temporary",
        }
    }
}

/// `STATE/keys`: one line per key, `ROLE SHA256:...`. It tells a key file
/// rccr made (or was handed as the temporary key) from one it did not, so
/// later code never deletes or overwrites an operator's own key.
pub struct KeyRecords {
    path: PathBuf,
}

impl KeyRecords {
    pub fn new(paths: &StatePaths) -> KeyRecords {
        KeyRecords {
            path: paths.key_records(),
        }
    }

    /// Whether rccr made the key with this fingerprint or was handed it
    /// as the temporary key: only such a key file may be removed or
    /// replaced.
    pub fn is_ours(&self, fingerprint: &str) -> bool {
        self.role_of(fingerprint).is_some()
    }

    /// The role recorded for `fingerprint`, if any. A file that cannot be
    /// read records nothing: no key is then rccr's to remove or replace.
    pub fn role_of(&self, fingerprint: &str) -> Option<KeyRole> {
        role_in(&self.read().ok()??, fingerprint)
    }

    /// Records `fingerprint` as `role` (once). A fingerprint is
    /// `SHA256:` and base64: nothing in it can break a line. A file that
    /// exists but cannot be read is an error, never rewritten from
    /// nothing: that would forget every key recorded before.
    pub fn record(&self, role: KeyRole, fingerprint: &str) -> Result<(), Error> {
        let mut text = self.read()?.unwrap_or_default();
        if role_in(&text, fingerprint) == Some(role) {
            return Ok(());
        }
        let Some(fingerprint) = Fingerprint::parse(fingerprint) else {
            return Err(Error::Failed(format!(
                "not a key fingerprint: {}",
                crate::print::text(fingerprint)
            )));
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("{} {fingerprint}\n", role.as_str()));
        crate::fsutil::write_atomic(&self.path, text.as_bytes(), 0o600)
    }

    /// The records (none: empty) with the lines of `archived` (a restored
    /// archive's) for keys they do not record added at their end, and the
    /// `disowned` fingerprints' lines left out. Never replaced by the
    /// archive's: a key this control made after the backup (a rekey's new
    /// key, which nodes may take alone) would be forgotten, and a later
    /// keyrotate would write over it as no key of rccr's. A key both
    /// record, under two roles, keeps this control's: an archive, outside
    /// input, does not relabel a key this control made or was handed (a
    /// cluster key relabelled temporary would no longer be taken up as an
    /// interrupted rekey's new key; a temporary key, which ships in public
    /// images, relabelled cluster could be taken for a cluster key), and
    /// either role keeps it rccr's, never written over. Lines that are no
    /// records stay as they are here, and are dropped from `archived`.
    pub fn merged(&self, archived: &[u8], disowned: &[String]) -> Result<Vec<u8>, Error> {
        let text = self.read()?.unwrap_or_default();
        let mut recorded: Vec<&str> = disowned.iter().map(String::as_str).collect();
        let mut out = String::new();
        let mut add = |line: &str| {
            out.push_str(line);
            out.push('\n');
        };
        for line in text.lines() {
            match parse_record(line) {
                Some((_, fp)) if disowned.iter().any(|d| d == fp) => {}
                Some((_, fp)) => {
                    recorded.push(fp);
                    add(line);
                }
                None => add(line),
            }
        }
        let archived = String::from_utf8_lossy(archived);
        for line in archived.lines() {
            if let Some((_, fp)) = parse_record(line).filter(|(_, fp)| !recorded.contains(fp)) {
                add(line);
                recorded.push(fp);
            }
        }
        Ok(out.into_bytes())
    }

    /// The file's text; `None` when there is none.
    fn read(&self) -> Result<Option<String>, Error> {
        crate::fsutil::read_text_if_any(&self.path, NOT_A_KEY_RECORD)
    }
}

/// What a bad line of [`KeyRecords`] is told.
const NOT_A_KEY_RECORD: &str =
    "not a key record line (cluster or temporary, then a SHA256 fingerprint); fix or remove it";

/// The role and the fingerprint of `line`, when it is a line
/// [`KeyRecords`] writes: a role, a space and a fingerprint.
fn parse_record(line: &str) -> Option<(KeyRole, &str)> {
    let (role, fp) = line.split_once(' ')?;
    let role = [KeyRole::Cluster, KeyRole::Temporary]
        .into_iter()
        .find(|r| r.as_str() == role)?;
    Fingerprint::parse(fp).map(|_| (role, fp))
}

/// Whether `line` is a line [`KeyRecords`] writes ([`parse_record`]).
pub fn is_key_record(line: &str) -> bool {
    parse_record(line).is_some()
}

/// The role `text` (a [`KeyRecords`] file) records for `fingerprint`.
fn role_in(text: &str, fingerprint: &str) -> Option<KeyRole> {
    text.lines()
        .filter_map(parse_record)
        .find(|(_, fp)| *fp == fingerprint)
        .map(|(role, _)| role)
}

/// On a diskless Alpine control node (`lbu` present), saves the changes to
/// the boot media so the cluster key and rccr's state survive a reboot.
/// Returns a line for the user when that is impossible or fails.
pub fn persist_control() -> Option<String> {
    use crate::persist::{commit, lbu, Persisted};
    lbu()?;
    match commit(&[]) {
        Persisted::LbuFailed => Some(
            "lbu commit failed: the cluster key will be lost at reboot; run lbu commit by hand"
                .into(),
        ),
        _ => None,
    }
}

/// A scratch home for unit tests: `~/.ssh` and a created state directory
/// under the temp directory, removed when dropped.
#[cfg(test)]
pub(crate) mod scratch {
    use super::StatePaths;
    use std::path::PathBuf;

    pub struct Home {
        pub dir: PathBuf,
        pub paths: StatePaths,
    }

    impl Drop for Home {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    pub fn home(tag: &str) -> Home {
        let dir = std::env::temp_dir().join(format!("rccr-home-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(".ssh")).unwrap();
        let paths = StatePaths {
            ssh_dir: dir.join(".ssh"),
            state_dir: dir.join(".rccr"),
            known_hosts: dir.join(".ssh/known_hosts"),
        };
        paths.create_state_dir().unwrap();
        Home { dir, paths }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(tag: &str) -> StatePaths {
        let dir = std::env::temp_dir().join(format!("rccr-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        StatePaths::resolve(Some(dir.to_str().unwrap()), None)
    }

    #[test]
    fn key_records_remember_roles_once() {
        let p = paths("keys");
        p.create_state_dir().unwrap();
        let records = KeyRecords::new(&p);
        assert_eq!(records.role_of("SHA256:abc"), None);
        records.record(KeyRole::Cluster, "SHA256:abc+/=").unwrap();
        records.record(KeyRole::Temporary, "SHA256:tmp").unwrap();
        records.record(KeyRole::Cluster, "SHA256:abc+/=").unwrap();
        assert_eq!(records.role_of("SHA256:abc+/="), Some(KeyRole::Cluster));
        assert_eq!(records.role_of("SHA256:tmp"), Some(KeyRole::Temporary));
        assert_eq!(
            std::fs::read_to_string(p.key_records()).unwrap(),
            "cluster SHA256:abc+/=\ntemporary SHA256:tmp\n"
        );
        assert!(records.record(KeyRole::Cluster, "SHA256:a\nb").is_err());
        assert!(records.record(KeyRole::Cluster, "MD5:ab").is_err());
        std::fs::remove_dir_all(&p.state_dir).unwrap();
    }

    #[test]
    fn restored_key_records_add_to_this_controls_never_relabel_them() {
        let home = scratch::home("records-merged");
        home.paths.create_state_dir().unwrap();
        let records = KeyRecords::new(&home.paths);
        let path = home.paths.key_records();
        let (x, y) = ("SHA256:xxxx", "SHA256:yyyy");
        let archived = format!("cluster {x}\ncluster {y}\ncluster {y}\n");
        let merged = |disowned: &[String]| {
            let merged = records.merged(archived.as_bytes(), disowned).unwrap();
            String::from_utf8(merged).unwrap()
        };
        assert_eq!(merged(&[]), format!("cluster {x}\ncluster {y}\n"));
        std::fs::write(&path, format!("temporary {x}")).unwrap();
        assert_eq!(merged(&[]), format!("temporary {x}\ncluster {y}\n"));
        // A cluster key a forced restore leaves out of use is no longer
        // rccr's, here or in the archive.
        let (z, disowned) = ("SHA256:zzzz", ["SHA256:yyyy".to_string()]);
        std::fs::write(&path, format!("cluster {z}\ncluster {y}\n")).unwrap();
        assert_eq!(merged(&disowned), format!("cluster {z}\ncluster {x}\n"));
    }

    #[test]
    fn key_records_that_cannot_be_read_are_never_rewritten() {
        let home = scratch::home("keys-unreadable");
        let records = KeyRecords::new(&home.paths);
        let path = home.paths.key_records();
        // A byte that is not UTF-8 (a disk error, an editor): the earlier
        // records must survive, and the error names the file and line.
        let before = b"cluster SHA256:abc\ntemporary SHA256:t\xffmp\n";
        std::fs::write(&path, before).unwrap();
        let err = records.record(KeyRole::Cluster, "SHA256:new").unwrap_err();
        crate::error::assert_says(
            &err,
            &format!("{}:2: not a key record line", path.display()),
        );
        assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Unreadable as a file at all: refused, naming it.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let err = records.record(KeyRole::Cluster, "SHA256:new").unwrap_err();
        crate::error::assert_says(&err, &format!("cannot read {}: ", path.display()));
        assert!(path.is_dir());
        // A last line without its newline keeps its record.
        std::fs::remove_dir(&path).unwrap();
        std::fs::write(&path, "cluster SHA256:abc").unwrap();
        records.record(KeyRole::Temporary, "SHA256:t").unwrap();
        assert_eq!(records.role_of("SHA256:abc"), Some(KeyRole::Cluster));
        assert_eq!(records.role_of("SHA256:t"), Some(KeyRole::Temporary));
    }

    #[test]
    fn every_path_is_under_its_directory() {
        let p = paths("layout");
        for path in [
            p.journal(),
            p.last_rotation(),
            p.kept_temp_key(),
            p.staged_new_key(),
            p.key_records(),
            p.own_cluster_key(),
            p.nodes(),
            p.inventory_ini(),
            p.swarm(),
            p.ansible_log(),
            p.lock(),
        ] {
            assert_eq!(path.parent(), Some(p.state_dir.as_path()), "{path:?}");
        }
        assert!(p
            .ssh_identity(KeyType::Ed25519)
            .ends_with(".ssh/id_ed25519"));
        assert!(p.ssh_identity(KeyType::Rsa).ends_with(".ssh/id_rsa"));
        assert!(p.ssh_config().ends_with(".ssh/config"));
    }

    #[test]
    fn a_state_dir_others_may_write_is_refused_and_never_chmodded() {
        use std::os::unix::fs::PermissionsExt;
        let p = paths("modes");
        p.create_state_dir().unwrap();
        let mode = |d: &Path| std::fs::metadata(d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p.state_dir), 0o700);
        // Writable by its group is by others only when others are in it.
        if !crate::fsutil::scratch::give_to_a_shared_group(&p.state_dir) {
            return;
        }
        for (bad, word) in [(0o777, "everyone"), (0o770, "group")] {
            std::fs::set_permissions(&p.state_dir, std::fs::Permissions::from_mode(bad)).unwrap();
            let err = p.create_state_dir().unwrap_err();
            assert!(err.to_string().contains(word), "{err}");
            assert_eq!(err.exit_code(), crate::error::ExitCode::BadInput);
            assert_eq!(
                mode(&p.state_dir),
                bad,
                "chmodded a directory rccr did not create"
            );
        }
        // An existing safe directory is used as it is, 0755 included.
        std::fs::set_permissions(&p.state_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.create_state_dir().unwrap();
        assert_eq!(mode(&p.state_dir), 0o755);
        std::fs::remove_dir_all(&p.state_dir).unwrap();
    }
}
