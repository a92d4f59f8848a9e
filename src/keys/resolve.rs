//! Which key is which: the one place that answers "where is the temporary
//! key, the cluster key, the previous cluster key" for setup, status,
//! `keys status`, keyrotate and scan.
//!
//! Every answer is looked up in one order, and says where it came from:
//!
//! 1. **option**: the command line (`--temp-key`, `--from-key`, `--key`),
//!    else the config's `ssh.temp_key` when that file exists (when it does
//!    not, a warning names the config's line and the lookup goes on);
//! 2. **environment**: `RCCR_TEMP_KEY`, `RCCR_CLUSTER_KEY`;
//! 3. **state**: the state directory (rccr's kept copy of the temporary
//!    key; the cluster and previous keys the rotation journals name; the
//!    cluster key kept there when `~/.ssh` holds another key at its path);
//! 4. **~/.ssh**: OpenSSH's default identity (`id_rsa` for the temporary
//!    key, the configured type's for the cluster key, if it is rccr's);
//! 5. **image**: the control image's temporary key, `/root/.ssh/id_rsa`.
//!
//! A key named by an option or the environment must exist: a wrong path is
//! bad input, never a silent fallback. Keys found anywhere else count only
//! when they are what they are looked for as: the temporary key carries the
//! temporary key's comment in its public half; a cluster key found at
//! `~/.ssh` is one rccr made (its fingerprint is recorded, or it carries the
//! cluster key's comment), so an operator's own key is never offered to
//! the LAN as the cluster key.
use super::control::journal;
use super::{load_key, public_path, CLUSTER_KEY_COMMENT, TEMP_KEY_COMMENT};
use crate::config::{NamedPath, Warning};
use crate::error::Error;
use crate::ssh::KeyType;
use crate::state::{KeyRecords, StatePaths};
use std::path::{Path, PathBuf};

/// Where a key was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Option,
    Environment,
    State,
    SshDefault,
    Image,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Option => "option",
            Source::Environment => "environment",
            Source::State => "state",
            Source::SshDefault => "~/.ssh",
            Source::Image => "image",
        }
    }
}

/// A private key file and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub source: Source,
}

/// A key given by an option: `--temp-key PATH` is `Given { flag:
/// "--temp-key", path }`, so an error names it as the user typed it.
pub struct Given<'a> {
    pub flag: &'a str,
    pub path: &'a Path,
}

pub struct Resolver<'p> {
    paths: &'p StatePaths,
}

/// Whether the public half of `private` carries the temporary key's comment.
pub fn is_temporary(private: &Path) -> bool {
    carries(private, TEMP_KEY_COMMENT)
}

/// Whether the public half of `private` ends with `comment`.
fn carries(private: &Path, comment: &str) -> bool {
    private.is_file()
        && std::fs::read_to_string(public_path(private))
            .is_ok_and(|line| line.trim_end().ends_with(comment))
}

/// The environment variable that names the cluster key.
pub const CLUSTER_KEY_VAR: &str = "RCCR_CLUSTER_KEY";

fn given(flag: &str, path: &Path, source: Source) -> Result<Found, Error> {
    check_given(flag, path, "give the path of a private key")?;
    Ok(Found {
        path: path.to_path_buf(),
        source,
    })
}

/// Refuses `path`, given by `flag` (an option or a variable), where no
/// private key can be: `hint` says what to do instead.
pub fn check_given(flag: &str, path: &Path, hint: &str) -> Result<(), Error> {
    let what = format!("{flag} {}", path.display());
    // Not a pipe: a key is read more than once.
    crate::fsutil::check_input_file(&what, path, false, hint)?;
    // A disk image named by mistake is not read into memory.
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    if size > super::MAX_KEY_FILE {
        return Err(Error::bad_input(
            what,
            format!("{size} bytes, more than a private key holds: {hint}"),
        ));
    }
    Ok(())
}

/// A configured key that is not there is skipped (a rotation may have
/// forgotten it), but never without a word: the error that would follow
/// sends the operator to `--temp-key`, not to the config's typo.
fn not_there(configured: &NamedPath) -> Warning {
    configured.warning(format!(
        "ssh.temp_key {}: no such file; looking in $RCCR_TEMP_KEY, ~/.rccr/temp_key, ~/.ssh/id_rsa and /root/.ssh/id_rsa instead",
        crate::print::text(&configured.path.display().to_string())
    ))
}

fn from_env(var: &str) -> Result<Option<Found>, Error> {
    env_path(var)
        .map(|path| given(var, &path, Source::Environment))
        .transpose()
}

/// The path environment variable `var` names, if it is set and not empty.
pub fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl<'p> Resolver<'p> {
    pub fn new(paths: &'p StatePaths) -> Resolver<'p> {
        Resolver { paths }
    }

    /// The temporary key: `option`, the config's `configured` path,
    /// `$RCCR_TEMP_KEY`, rccr's kept copy, `~/.ssh/id_rsa`, the image's
    /// `/root/.ssh/id_rsa`. A `configured` path that is not there is
    /// warned about as `program`, the command that runs (`rccr setup`), as
    /// the config's other warnings are.
    pub fn temporary(
        &self,
        option: Option<Given>,
        configured: Option<&NamedPath>,
        program: &str,
    ) -> Result<Option<Found>, Error> {
        if let Some(g) = option {
            return given(g.flag, g.path, Source::Option).map(Some);
        }
        if let Some(named) = configured {
            if named.path.is_file() {
                return Ok(Some(Found {
                    path: named.path.clone(),
                    source: Source::Option,
                }));
            }
            crate::print::warning(program, &not_there(named));
        }
        if let Some(found) = from_env("RCCR_TEMP_KEY")? {
            return Ok(Some(found));
        }
        let candidates = [
            (self.paths.kept_temp_key(), Source::State),
            (self.paths.ssh_identity(KeyType::Rsa), Source::SshDefault),
            (self.paths.image_temp_key(), Source::Image),
        ];
        Ok(candidates
            .into_iter()
            .find(|(path, _)| is_temporary(path))
            .map(|(path, source)| Found { path, source }))
    }

    /// The cluster key: `$RCCR_CLUSTER_KEY`, the new key of an unfinished
    /// or the last rotation, the state directory's own cluster key,
    /// `~/.ssh`'s default identity for `kind` when rccr made it.
    pub fn cluster(&self, kind: KeyType) -> Result<Option<Found>, Error> {
        self.cluster_once(kind, &self.records()?, &[])
    }

    /// The cluster key [`Resolver::cluster`] will find once the rotation
    /// records are `records` (the unfinished rotation's, then the last
    /// one's) and the keys at `written` are there: restore asks before it
    /// writes them, so nothing it reads can stop it halfway.
    pub fn cluster_once(
        &self,
        kind: KeyType,
        records: &[journal::Record],
        written: &[&Path],
    ) -> Result<Option<Found>, Error> {
        if let Some(path) = env_path(CLUSTER_KEY_VAR) {
            // One of `written` is there once restore has written it.
            if written.contains(&path.as_path()) {
                return Ok(Some(Found {
                    path,
                    source: Source::Environment,
                }));
            }
            return given(CLUSTER_KEY_VAR, &path, Source::Environment).map(Some);
        }
        Ok(self.cluster_kept(kind, records, written))
    }

    /// [`Resolver::cluster_once`] without `$RCCR_CLUSTER_KEY`: the key the
    /// rotation records, the state directory or `~/.ssh` hold.
    pub fn cluster_kept(
        &self,
        kind: KeyType,
        records: &[journal::Record],
        written: &[&Path],
    ) -> Option<Found> {
        let state = records
            .iter()
            .map(|r| r.new_key.clone())
            .chain([self.paths.own_cluster_key()]);
        for path in state {
            if path.is_file() || written.contains(&path.as_path()) {
                return Some(Found {
                    path,
                    source: Source::State,
                });
            }
        }
        let default = self.paths.ssh_identity(kind);
        self.is_cluster_key(&default).then_some(Found {
            path: default,
            source: Source::SshDefault,
        })
    }

    /// Whether the key at `path` is a cluster key rccr made: recorded as
    /// such, or (made before rccr recorded keys) carrying its comment.
    fn is_cluster_key(&self, path: &Path) -> bool {
        if !path.is_file() || is_temporary(path) {
            return false;
        }
        let recorded = load_key(path).is_ok_and(|key| {
            KeyRecords::new(self.paths).role_of(&key.fingerprint)
                == Some(crate::state::KeyRole::Cluster)
        });
        recorded || carries(path, CLUSTER_KEY_COMMENT)
    }

    /// The previous cluster key: the old key of the last rotation, unless
    /// that was the temporary key.
    pub fn previous(&self) -> Result<Option<Found>, Error> {
        Ok(self
            .records()?
            .into_iter()
            .map(|r| r.old_key)
            .find(|p| p.is_file() && !is_temporary(p))
            .map(|path| Found {
                path,
                source: Source::State,
            }))
    }

    /// The unfinished rotation's record, then the last finished one's.
    fn records(&self) -> Result<Vec<journal::Record>, Error> {
        Ok([
            journal::load(&self.paths.journal())?,
            journal::load(&self.paths.last_rotation())?,
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{generate, write_pair};

    use crate::state::scratch::home;

    fn key(path: &Path, comment: &str) {
        write_pair(path, &generate(KeyType::Ed25519, 0, comment).unwrap()).unwrap();
    }

    /// A `ssh.temp_key` that names no file is warned about, at its line, with
    /// where rccr looks instead: it was skipped silently, and the error that
    /// followed sent the operator to --temp-key, not to the typo.
    #[test]
    fn a_temp_key_that_is_not_there_is_warned_about() {
        let missing = Path::new("/nonexistent/kee");
        let w = not_there(&NamedPath::temp_key_line(missing)).to_string();
        assert!(
            w.starts_with("cluster_config.yml:2:13: ssh.temp_key /nonexistent/kee: no such file; "),
            "{w}"
        );
        assert!(w.contains("RCCR_TEMP_KEY"), "{w}");
        // A name that would move the cursor is shown escaped.
        let w = not_there(&NamedPath::temp_key_line(Path::new("\"k\\e[2J\""))).to_string();
        assert!(w.contains(": ssh.temp_key k?[2J: no such file"), "{w}");
    }

    #[test]
    fn the_temporary_key_in_order() {
        let h = home("temp");
        let r = Resolver::new(&h.paths);
        // Nothing yet (the image's copy does not exist on a test machine,
        // or is not found as the temporary key of this home).
        let id_rsa = h.paths.ssh_identity(KeyType::Rsa);
        key(&id_rsa, "operator@laptop");
        let found = r.temporary(None, None, "rccr test").unwrap();
        assert!(found.is_none_or(|f| f.source == Source::Image));
        // ~/.ssh/id_rsa counts once it is the temporary key.
        key(&id_rsa, TEMP_KEY_COMMENT);
        let found = r.temporary(None, None, "rccr test").unwrap().unwrap();
        assert_eq!(
            (found.path, found.source),
            (id_rsa.clone(), Source::SshDefault)
        );
        // The kept copy comes first.
        key(&h.paths.kept_temp_key(), TEMP_KEY_COMMENT);
        assert_eq!(
            r.temporary(None, None, "rccr test")
                .unwrap()
                .unwrap()
                .source,
            Source::State
        );
        // The config's path comes before it when the file is there.
        let configured = NamedPath::temp_key_line(&h.dir.join("configured"));
        let found = r
            .temporary(None, Some(&configured), "rccr test")
            .unwrap()
            .unwrap();
        assert_eq!(found.source, Source::State);
        key(&configured.path, "anything");
        let found = r
            .temporary(None, Some(&configured), "rccr test")
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.path, found.source),
            (configured.path, Source::Option)
        );
        // An option wins, and must exist.
        let given_key = h.dir.join("given");
        key(&given_key, "anything");
        let g = Given {
            flag: "--temp-key",
            path: &given_key,
        };
        assert_eq!(
            r.temporary(Some(g), None, "rccr test")
                .unwrap()
                .unwrap()
                .source,
            Source::Option
        );
        let missing = h.dir.join("missing");
        let err = r
            .temporary(
                Some(Given {
                    flag: "--key",
                    path: &missing,
                }),
                None,
                "rccr test",
            )
            .unwrap_err();
        crate::error::assert_says(&err, &format!("--key {}: no such file", missing.display()));
    }

    #[test]
    fn the_cluster_and_previous_keys() {
        let h = home("cluster");
        let r = Resolver::new(&h.paths);
        assert_eq!(r.cluster(KeyType::Ed25519).unwrap(), None);
        // The temporary key at the RSA default is not a cluster key.
        key(&h.paths.ssh_identity(KeyType::Rsa), TEMP_KEY_COMMENT);
        assert_eq!(r.cluster(KeyType::Rsa).unwrap(), None);
        // Nor is the operator's own key there.
        let ed = h.paths.ssh_identity(KeyType::Ed25519);
        key(&ed, "operator@laptop");
        assert_eq!(r.cluster(KeyType::Ed25519).unwrap(), None);
        // ... unless rccr recorded it as one it made.
        let fingerprint = load_key(&ed).unwrap().fingerprint;
        KeyRecords::new(&h.paths)
            .record(crate::state::KeyRole::Cluster, &fingerprint)
            .unwrap();
        assert_eq!(r.cluster(KeyType::Ed25519).unwrap().unwrap().path, ed);
        std::fs::remove_file(h.paths.key_records()).unwrap();
        // The state directory's own cluster key comes before ~/.ssh.
        key(&h.paths.own_cluster_key(), "rccr-cluster-key");
        assert_eq!(
            r.cluster(KeyType::Ed25519).unwrap().unwrap().path,
            h.paths.own_cluster_key()
        );
        std::fs::remove_file(h.paths.own_cluster_key()).unwrap();
        key(&ed, "rccr-cluster-key");
        let found = r.cluster(KeyType::Ed25519).unwrap().unwrap();
        assert_eq!((found.path, found.source), (ed.clone(), Source::SshDefault));
        // A finished rotation's new key wins; its old key is the previous
        // one unless it was the temporary key.
        let newer = h.dir.join("newer");
        key(&newer, "rccr-cluster-key");
        let record = journal::Record {
            rotation: "1".into(),
            new_key: newer.clone(),
            old_key: ed.clone(),
            nodes: Vec::new(),
        };
        std::fs::write(h.paths.last_rotation(), record.render()).unwrap();
        let found = r.cluster(KeyType::Ed25519).unwrap().unwrap();
        assert_eq!((found.path, found.source), (newer, Source::State));
        assert_eq!(r.previous().unwrap().unwrap().path, ed);
        let record = journal::Record {
            old_key: h.paths.ssh_identity(KeyType::Rsa),
            ..record
        };
        std::fs::write(h.paths.last_rotation(), record.render()).unwrap();
        assert_eq!(r.previous().unwrap(), None);
    }
}
