//! The boot status file, `/run/rccr/status`: what `rccr-init` found at
//! this boot that an operator must know, for the console banner and for
//! `rccr status` on the control.
//!
//! **Where, and why there.** `/run` is a tmpfs that starts empty at every
//! boot, so the file never describes an earlier boot, and lbu never saves
//! it (lbu saves `/etc`): a stale `storage:` line restored from an overlay
//! would claim a disk that is gone.
//!
//! **Format.** Text, one `key: value` line per fact, written whole and
//! atomically by each step that owns a key (the others' lines are kept):
//!
//! ```text
//! storage: /dev/sda1
//! world: ok
//! ```
//!
//! - `storage: /dev/NAME`: the RCCR filesystem on that device is mounted
//!   and holds Docker's data, rccr's node state and the apk cache.
//! - `storage: none: REASON`: no persistent storage; Docker's data and
//!   packages installed after boot last until the next reboot. `rccr
//!   status` shows it as `none (volatile)`.
//! - `world: ok`, or `world: missing NAME...` (packages of `/etc/apk/world`
//!   not installed), or no `world:` line (no `/etc/apk/world`).
//!
//! Unknown keys are ignored, so later releases can add lines. [`parse`] is
//! the one reader; it treats the text as a stranger's (the control reads it
//! from a node): bounded, and every value checked before it is kept.
use super::Ctx;
use std::fmt;

pub const STATUS_FILE: &str = "/run/rccr/status";
/// The parser reads no further than this.
pub const MAX_LEN: usize = 4096;
/// Longest device path and reason kept.
const MAX_DEVICE: usize = 64;
const MAX_REASON: usize = 200;
/// Missing packages named at most (the count stays exact).
const MAX_NAMES: usize = 32;
const MAX_NAME: usize = 64;

/// The persistent storage of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Storage {
    /// No `storage:` line (an older rccr, or `rccr-init --storage` did not run).
    #[default]
    Unknown,
    /// None: everything outside lbu's overlay is lost at reboot.
    None { reason: String },
    /// The RCCR filesystem on this device (a `/dev/...` path).
    Device(String),
}

/// The packages of `/etc/apk/world`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum World {
    #[default]
    Unknown,
    Ok,
    /// `count` packages are missing; `names` holds the first of them.
    Missing {
        count: usize,
        names: Vec<String>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootStatus {
    pub storage: Storage,
    pub world: World,
}

impl fmt::Display for Storage {
    /// `/dev/sda1`, `none (volatile)`, `unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::Unknown => f.write_str("unknown"),
            Storage::None { .. } => f.write_str("none (volatile)"),
            Storage::Device(d) => f.write_str(d),
        }
    }
}

impl fmt::Display for World {
    /// `ok`, `missing python3 py3-yaml`, `unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            World::Unknown => f.write_str("unknown"),
            World::Ok => f.write_str("ok"),
            World::Missing { count, names } => {
                f.write_str("missing ")?;
                f.write_str(&names.join(" "))?;
                if *count > names.len() {
                    write!(f, " (+{} more)", count - names.len())?;
                }
                Ok(())
            }
        }
    }
}

impl Storage {
    /// The file's line for it, `None` for `Unknown`.
    pub fn line(&self) -> Option<String> {
        match self {
            Storage::Unknown => None,
            Storage::None { reason } => Some(format!("storage: none: {}", one_line(reason))),
            Storage::Device(d) => Some(format!("storage: {d}")),
        }
    }
}

impl World {
    /// The world file's names, escaped ([`crate::print::text`]): the file
    /// comes with the overlay from the boot media, and the names go to the
    /// console banner.
    pub fn from_missing(names: &[String]) -> World {
        if names.is_empty() {
            World::Ok
        } else {
            World::Missing {
                count: names.len(),
                names: names
                    .iter()
                    .take(MAX_NAMES)
                    .map(|n| crate::print::text(n).into_owned())
                    .collect(),
            }
        }
    }

    pub fn line(&self) -> Option<String> {
        match self {
            World::Unknown => None,
            World::Ok => Some("world: ok".into()),
            World::Missing { count, names } => {
                let mut s = format!("world: missing {}", names.join(" "));
                if *count > names.len() {
                    s.push_str(&format!(" +{}", count - names.len()));
                }
                Some(s)
            }
        }
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A device path as the file may name it: `/dev/` and then letters,
/// digits, `/`, `_`, `-`, `.`, no `..`.
fn device(value: &str) -> Option<String> {
    let rest = value.strip_prefix("/dev/")?;
    let ok = !rest.is_empty()
        && value.len() <= MAX_DEVICE
        && !rest.contains("..")
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b));
    ok.then(|| value.to_string())
}

/// An apk package name (letters, digits and `+-_.:`), or a provided name
/// such as `cmd:python3`.
fn package_name(word: &str) -> bool {
    !word.is_empty()
        && word.len() <= MAX_NAME
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-_.:".contains(&b))
}

/// Printable ASCII, bounded: what a reason may show.
fn reason(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_REASON)
        .collect()
}

/// Reads a status file's text (from this node or from another): never
/// fails; what it cannot read stays `Unknown`.
pub fn parse(text: &str) -> BootStatus {
    let mut out = BootStatus::default();
    let end = text.len().min(MAX_LEN);
    let end = (0..=end)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    for line in text[..end].lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "storage" => {
                out.storage = if let Some(why) = value.strip_prefix("none") {
                    let why = why.trim_start_matches(':').trim();
                    Storage::None {
                        reason: reason(why),
                    }
                } else {
                    device(value).map_or(Storage::Unknown, Storage::Device)
                }
            }
            "world" => {
                let mut words = value.split_whitespace();
                out.world = match words.next() {
                    Some("ok") => World::Ok,
                    Some("missing") => {
                        let mut names = Vec::new();
                        let mut count = 0usize;
                        for w in words {
                            if let Some(more) = w.strip_prefix('+').and_then(|n| n.parse().ok()) {
                                count = count.saturating_add(more);
                            } else if package_name(w) {
                                count += 1;
                                if names.len() < MAX_NAMES {
                                    names.push(w.to_string());
                                }
                            }
                        }
                        if count == 0 {
                            World::Unknown
                        } else {
                            World::Missing { count, names }
                        }
                    }
                    _ => World::Unknown,
                }
            }
            _ => {}
        }
    }
    out
}

/// This node's status file, as the last steps wrote it.
pub fn read(ctx: &Ctx) -> BootStatus {
    ctx.read(&ctx.path(STATUS_FILE))
        .map(|b| parse(&String::from_utf8_lossy(&b)))
        .unwrap_or_default()
}

/// Writes `line` as the file's `key:` line (in place of the old one, or
/// added), keeping every other line. `None` removes the key. Nothing is
/// written when `/run` is missing (a root that is not a booted system).
pub fn set(ctx: &mut Ctx, key: &str, line: Option<String>) {
    let path = ctx.path(STATUS_FILE);
    let old = ctx.read(&path).ok();
    let old = old
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let prefix = format!("{key}:");
    let mut lines: Vec<&str> = old.lines().filter(|l| !l.starts_with(&prefix)).collect();
    lines.extend(line.as_deref());
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if text == old {
        return;
    }
    let Some(dir) = path.parent() else {
        return;
    };
    if !ctx.is_dir(dir) {
        if !dir.parent().is_some_and(|run| ctx.is_dir(run)) {
            return;
        }
        if ctx.dry {
            return ctx.changed(format_args!("{}: created", dir.display()));
        }
        if let Err(e) = ctx.resolve(dir, false).and_then(std::fs::create_dir) {
            return ctx.problem(format_args!("cannot create {}: {e}", dir.display()));
        }
    }
    ctx.write_volatile(
        &path,
        text.as_bytes(),
        0o644,
        &format!("boot status ({key})"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_node_writes_reads_back() {
        let status = BootStatus {
            storage: Storage::Device("/dev/mmcblk0p2".into()),
            world: World::from_missing(&["python3".into(), "py3-yaml".into()]),
        };
        let text = format!(
            "{}\n{}\n",
            status.storage.line().unwrap(),
            status.world.line().unwrap()
        );
        assert_eq!(
            text,
            "storage: /dev/mmcblk0p2\nworld: missing python3 py3-yaml\n"
        );
        assert_eq!(parse(&text), status);
        assert_eq!(status.world.to_string(), "missing python3 py3-yaml");

        let none = Storage::None {
            reason: "no partition labelled RCCR\nand no blank disk".into(),
        };
        let line = none.line().unwrap();
        assert_eq!(
            line,
            "storage: none: no partition labelled RCCR and no blank disk"
        );
        let back = parse(&line).storage;
        assert_eq!(back.to_string(), "none (volatile)");
        assert_eq!(
            back,
            Storage::None {
                reason: "no partition labelled RCCR and no blank disk".into()
            }
        );
        assert_eq!(parse("world: ok\n").world, World::Ok);
        assert_eq!(parse("").storage.to_string(), "unknown");
    }

    #[test]
    fn many_missing_packages_keep_their_count() {
        let names: Vec<String> = (0..40).map(|i| format!("pkg{i}")).collect();
        let world = World::from_missing(&names);
        let line = world.line().unwrap();
        assert!(line.ends_with(" pkg31 +8"), "{line}");
        let back = parse(&line).world;
        assert_eq!(back, world);
        assert!(back.to_string().ends_with("pkg31 (+8 more)"));
    }

    #[test]
    fn a_strangers_file_is_bounded_and_checked() {
        // A device that is no /dev path, names with shell or terminal
        // characters, escapes in a reason, unknown keys, no colon.
        let text = "storage: /etc/passwd\nworld: missing python3 $(reboot) \u{1b}[2J ok\nnoise\nflavour: mint\n";
        let s = parse(text);
        assert_eq!(s.storage, Storage::Unknown);
        assert_eq!(
            s.world,
            World::Missing {
                count: 2,
                names: vec!["python3".into(), "ok".into()]
            }
        );
        assert_eq!(
            parse("storage: /dev/../etc/shadow").storage,
            Storage::Unknown
        );
        let s = parse("storage: none: \u{1b}]0;owned\u{7} disk gone");
        assert_eq!(
            s.storage,
            Storage::None {
                reason: "]0;owned disk gone".into()
            }
        );
        let long = format!("storage: none: {}", "x".repeat(10_000));
        match parse(&long).storage {
            Storage::None { reason } => assert_eq!(reason.len(), MAX_REASON),
            other => panic!("{other:?}"),
        }
        // Past MAX_LEN nothing is read; a cut inside a character is fine.
        let late = format!("{}\nstorage: /dev/sda1\n", "é".repeat(MAX_LEN));
        assert_eq!(parse(&late).storage, Storage::Unknown);
        assert_eq!(parse("world: missing").world, World::Unknown);
        assert_eq!(parse("world: maybe").world, World::Unknown);
    }
}
