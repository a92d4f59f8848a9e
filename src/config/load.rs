//! Where the configuration comes from: `--config PATH`, else
//! `./cluster_config.yml`, else `/etc/rccr/cluster_config.yml`, else the
//! defaults; and how a file's bytes become a [`Config`] (size, UTF-8, YAML).
//!
//! A config decides which hosts setup trusts, so it is read only from a
//! file no one else could have written (OpenSSH's StrictModes): owned by
//! this user or root, not group- or world-writable, in a directory others
//! cannot write to (unless sticky, as /tmp is).
use super::schema::Reader;
use super::{yaml, Config, Loaded, Warning, FILE_NAME, MAX_SIZE, SYSTEM_PATH};
use crate::error::Error;
use crate::fsutil::Trust;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// What to do about a `--config` that is no file.
const EXPLICIT_HINT: &str = "give the path of a cluster_config.yml";
/// What to do about a `cluster_config.yml` found that is no file.
const FOUND_HINT: &str =
    "rccr reads a config only from a regular file; remove or rename it, or pass one with --config";

impl Config {
    /// Loads `explicit` (`--config`), else the first of `./cluster_config.yml`
    /// and `/etc/rccr/cluster_config.yml` that exists, else the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Loaded, Error> {
        Self::load_from(explicit, Path::new(""), Path::new("/"))
    }

    /// [`Config::load`] with the working directory and the root of the
    /// system path replaced (for tests). Relative paths are shown as given.
    pub fn load_from(explicit: Option<&Path>, cwd: &Path, root: &Path) -> Result<Loaded, Error> {
        if let Some(path) = explicit {
            crate::fsutil::check_input_file(
                &format!("--config {}", path.display()),
                &cwd.join(path),
                true,
                EXPLICIT_HINT,
            )?;
            let at = cwd.join(path);
            let text = read_trusted(&at, path, true)?;
            let loaded = Self::loaded(text, path)?;
            // A pipe (`--config <(...)`, /dev/fd/63) is in no directory of
            // the user's: its relative paths are the working directory's.
            if std::fs::metadata(&at).is_ok_and(|m| m.file_type().is_fifo()) {
                return Ok(loaded);
            }
            return Ok(paths_beside(loaded, &at));
        }
        let local = cwd.join(FILE_NAME);
        let system = root.join(&SYSTEM_PATH[1..]);
        for path in [local, system] {
            if let Some(loaded) = Self::load_if_any(&path)? {
                return Ok(loaded);
            }
        }
        Ok(Loaded {
            config: Config::default(),
            warnings: Vec::new(),
            source: None,
        })
    }

    /// `./cluster_config.yml` when there is one: without `--config`, it
    /// comes before any other config.
    pub fn load_local() -> Result<Option<Loaded>, Error> {
        Self::load_if_any(Path::new(FILE_NAME))
    }

    /// The config at `path`; `None` when there is no such file.
    fn load_if_any(path: &Path) -> Result<Option<Loaded>, Error> {
        match read_trusted(path, path, false) {
            Ok(text) => Self::loaded(text, path).map(|l| Some(paths_beside(l, path))),
            // A link to nothing is a config meant and lost, not none.
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                match path.symlink_metadata() {
                    Ok(_) => Err(Error::bad_input(
                        path.display().to_string(),
                        "a link to no file; fix or remove the link, or pass a config with --config",
                    )),
                    Err(_) => Ok(None),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn loaded(bytes: Vec<u8>, path: &Path) -> Result<Loaded, Error> {
        let (config, warnings) = Self::from_bytes(&bytes, &path.display().to_string())?;
        Ok(Loaded {
            config,
            warnings,
            source: Some(path.to_path_buf()),
        })
    }

    /// Parses a file's bytes; `file` names it in messages.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<(Config, Vec<Warning>), Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text, file),
            Err(e) => {
                let good = &bytes[..e.valid_up_to()];
                let line = good.iter().filter(|b| **b == b'\n').count() + 1;
                let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |n| n + 1);
                let col = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
                Err(Error::bad_input(
                    format!("{file}:{line}:{col}"),
                    "not valid UTF-8; save the file as UTF-8",
                ))
            }
        }
    }

    /// Parses a document; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<(Config, Vec<Warning>), Error> {
        let root = yaml::parse(text)
            .map_err(|e| Error::bad_input(format!("{file}:{}:{}", e.pos.line, e.pos.col), e.msg))?;
        Reader::new(file).read(&root)
    }
}

/// `loaded`, read from `file`, with its relative paths (playbooks,
/// `ssh.temp_key`) taken from the file's directory: the same files
/// whichever directory rccr runs in (`./cluster_config.yml`'s directory is
/// the working directory).
fn paths_beside(mut loaded: Loaded, file: &Path) -> Loaded {
    if let Some(dir) = file.parent() {
        let config = &mut loaded.config;
        let temp_key = config.ssh.temp_key.iter_mut().map(|k| &mut k.path);
        for path in config.playbooks.iter_mut().chain(temp_key) {
            *path = dir.join(&*path);
        }
    }
    loaded
}

/// The bytes of `path` (shown as `shown`), at most [`MAX_SIZE`], if it is
/// a regular file (or, when `pipe_ok`, a pipe: `--config <(...)`) and it
/// and its directory pass the StrictModes rule.
///
/// Opening a pipe waits for a writer, and anyone may make one named
/// cluster_config.yml in /tmp: the file is opened without waiting, and
/// what was opened is checked before a byte is read.
fn read_trusted(path: &Path, shown: &Path, pipe_ok: bool) -> Result<Vec<u8>, Error> {
    let cannot = |e| Error::io(format!("cannot read {}", shown.display()), e);
    let refuse = |why: String| {
        let hint = if pipe_ok { EXPLICIT_HINT } else { FOUND_HINT };
        Error::bad_input(shown.display().to_string(), format!("{why}: {hint}"))
    };
    // Opening some devices acts (a watchdog arms, a tape rewinds): what is
    // no file or pipe is refused before it is opened. A pipe is opened
    // (without waiting) so that whose it is can be told first; the open
    // file is checked again below, as the path may change in between.
    // Only a kind stat saw: a path it cannot see (a directory this user
    // may not search) is the open's error, as it always was.
    if std::fs::metadata(path).is_ok() {
        if let Some(why) = crate::fsutil::not_a_file(path, true) {
            return Err(refuse(why));
        }
    }
    let open = |wait: bool| {
        let flags = if wait { 0 } else { libc::O_NONBLOCK };
        OpenOptions::new()
            .read(true)
            .custom_flags(flags | libc::O_NOCTTY)
            .open(path)
    };
    let mut file = open(false).map_err(cannot)?;
    let is_pipe = |file: &File| file.metadata().is_ok_and(|m| m.file_type().is_fifo());
    if pipe_ok && is_pipe(&file) {
        // A pipe the user named: read it as its writer writes.
        file = open(true).map_err(cannot)?;
    }
    crate::fsutil::check_trusted(shown, &file, Trust::Named)?;
    let kind = file.metadata().map_err(cannot)?.file_type();
    if !(kind.is_file() || pipe_ok && kind.is_fifo()) {
        // Its kind in the words --config's check uses.
        let why =
            crate::fsutil::not_a_file(path, false).unwrap_or_else(|| "not a regular file".into());
        return Err(refuse(why));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(Some(why)) = crate::fsutil::untrusted(dir, Trust::Named) {
        return Err(crate::fsutil::refused(dir, &why, Trust::Named));
    }
    crate::fsutil::read_bounded(&mut file, MAX_SIZE)
        .map_err(cannot)?
        .ok_or_else(|| {
            Error::bad_input(
                shown.display().to_string(),
                format!(
                    "larger than {} MiB, so not a cluster_config.yml; pass the right file with --config",
                    MAX_SIZE >> 20
                ),
            )
        })
}
