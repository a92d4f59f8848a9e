//! What `lbu commit` keeps of a node: a model of lbu's file selection,
//! checked against the overlay genapkovl.sh builds. Everything the overlay
//! installs, and what rccr-init makes at boot, must be in the saved
//! overlay: from the first commit on, that saved overlay is the only one the
//! node boots with (DELETEOLDCONFIGS=yes replaces the image's).
//!
//! The model follows the sources of Alpine 3.22 (alpine-conf 3.20.0,
//! apk-tools 2.14):
//!
//! - alpine-conf `lbu.in`, `_gen_filelist()` (3.20.0, lines 279-281): the
//!   list is `apk audit --backup --quiet --recursive --check-permissions`.
//!   `lbu include`/`lbu exclude` write `+PATH`/`-PATH` lines to
//!   `etc/apk/protected_paths.d/lbu.list` (`LBU_LIST`, line 14;
//!   `cmd_include`, lines 231-245), which apk reads like any other list.
//!   (alpine-conf 3.22.0 also lists the `+` files of lbu.list itself, lines
//!   288-300; lbu.list is not the file we write.)
//! - apk-tools `src/database.c`, `apk_db_open()`: with no
//!   `--protected-paths`, the rules are `+etc`, `@etc/init.d`, `!etc/apk`,
//!   then every `etc/apk/protected_paths.d/*.list`.
//!   `add_protected_path()`: `#` comment, `-` ignore, `+` changed,
//!   `@` symlinks only, `!` all, no prefix = changed; leading and trailing
//!   `/` dropped.
//! - `apk_db_dir_get()`: a directory inherits its parent's mode; a rule
//!   whose first component matches the directory's name (fnmatch,
//!   FNM_PATHNAME) is handed down as the rest of the path, a rule without
//!   `/` that matches sets the directory's mode. Later rules win.
//! - apk-tools `src/app_audit.c`, `determine_file_protect_mode()` (a file
//!   takes its directory's mode, or that of the last matching rule without
//!   `/`) and `audit_directory_tree_item()`, MODE_BACKUP: a directory is
//!   entered only when it has protected children; files under "changed"
//!   are listed when no package owns them or they differ from the package
//!   ('A', 'U', 'M'), under "symlinks only" only symlinks, under "all"
//!   always, under "none" and "ignore" never.
//!
//! The model assumes that no package owns the files the overlay and
//! rccr-init write, or that they differ from the package's copy; a file
//! that equals a package's copy is not saved, but then the package brings
//! it back at boot.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Protect {
    None,
    Ignore,
    Changed,
    SymlinksOnly,
    All,
}

impl Protect {
    /// `apk_protect_mode_none()` (src/apk_database.h).
    fn is_none(self) -> bool {
        matches!(self, Protect::None | Protect::Ignore)
    }
}

#[derive(Clone, Debug)]
struct Rule {
    pattern: String,
    mode: Protect,
}

/// `add_protected_path()`, one line.
fn parse_rule(line: &str) -> Option<Rule> {
    let (mode, rest) = match line.chars().next()? {
        '#' => return None,
        '-' => (Protect::Ignore, &line[1..]),
        '+' => (Protect::Changed, &line[1..]),
        '@' => (Protect::SymlinksOnly, &line[1..]),
        '!' => (Protect::All, &line[1..]),
        _ => (Protect::Changed, line),
    };
    Some(Rule {
        pattern: rest.trim_matches('/').to_string(),
        mode,
    })
}

/// The rules apk uses on a root: its defaults, then the lists in
/// etc/apk/protected_paths.d (name order; apk takes directory order).
fn rules_of(root: &Path) -> Vec<Rule> {
    let mut text = String::from("+etc\n@etc/init.d\n!etc/apk\n");
    let dir = root.join("etc/apk/protected_paths.d");
    let mut lists: Vec<_> = fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    lists.sort();
    for list in lists
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "list"))
    {
        text.push_str(&fs::read_to_string(list).unwrap());
        text.push('\n');
    }
    text.lines().filter_map(parse_rule).collect()
}

/// fnmatch(pattern, name, FNM_PATHNAME) for one path component: `*` and
/// `?` (the rules here use nothing else).
fn fnmatch(pattern: &str, name: &str) -> bool {
    assert!(
        !pattern.contains('['),
        "bracket patterns are not modelled: {pattern}"
    );
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// A directory as `apk_db_dir_get()` sees it.
struct Dir {
    mode: Protect,
    has_protected_children: bool,
    rules: Vec<Rule>,
}

impl Dir {
    fn root(rules: Vec<Rule>) -> Self {
        Dir {
            mode: Protect::None,
            has_protected_children: true,
            rules,
        }
    }

    fn child(&self, name: &str) -> Dir {
        let mut dir = Dir {
            mode: self.mode,
            has_protected_children: !self.mode.is_none(),
            rules: Vec::new(),
        };
        for rule in &self.rules {
            if let Some((head, rest)) = rule.pattern.split_once('/') {
                if !fnmatch(head, name) {
                    continue;
                }
                dir.rules.push(Rule {
                    pattern: rest.to_string(),
                    mode: rule.mode,
                });
            } else {
                if !fnmatch(&rule.pattern, name) {
                    continue;
                }
                dir.mode = rule.mode;
            }
            dir.has_protected_children |= !rule.mode.is_none();
        }
        dir
    }

    /// `determine_file_protect_mode()`.
    fn file_mode(&self, name: &str) -> Protect {
        let mut mode = self.mode;
        for rule in &self.rules {
            if !rule.pattern.contains('/') && fnmatch(&rule.pattern, name) {
                mode = rule.mode;
            }
        }
        mode
    }
}

/// What `lbu commit` puts in the saved overlay from a root: paths relative
/// to it, directories with a trailing `/`, as `apk audit --backup` lists
/// them.
fn lbu_selection(root: &Path) -> BTreeSet<String> {
    fn walk(fs_dir: &Path, rel: &str, dir: &Dir, out: &mut BTreeSet<String>) {
        let mut entries: Vec<_> = fs::read_dir(fs_dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = format!("{rel}{name}");
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                let child = dir.child(&name);
                // A directory no package owns is reported ('d') when its
                // mode protects anything.
                if !child.mode.is_none() {
                    out.insert(format!("{path}/"));
                }
                if child.has_protected_children {
                    walk(&e.path(), &format!("{path}/"), &child, out);
                }
                continue;
            }
            let keep = match dir.file_mode(&name) {
                Protect::None | Protect::Ignore => false,
                Protect::Changed | Protect::All => !name.ends_with(".apk-new"),
                Protect::SymlinksOnly => kind.is_symlink(),
            };
            if keep {
                out.insert(path);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(root, "", &Dir::root(rules_of(root)), &mut out);
    out
}

fn lbu_root(files: &[(&str, &str)], links: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new("lbu-model");
    for (path, content) in files {
        dir.write(path, content);
    }
    for (link, target) in links {
        let at = dir.path(link);
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
    }
    dir
}

#[test]
fn the_model_follows_apks_rules() {
    // Alpine's defaults alone: /etc is kept, init scripts only as links,
    // all of /etc/apk, nothing outside /etc.
    let dir = lbu_root(
        &[
            ("etc/motd", "hi"),
            ("etc/init.d/local-service", "#!/sbin/openrc-run"),
            ("etc/apk/world", "alpine-base"),
            ("etc/apk/world.apk-new", "x"),
            ("root/.ssh/authorized_keys", "k"),
            ("usr/bin/tool", "elf"),
        ],
        &[("etc/init.d/linked", "/usr/libexec/x")],
    );
    let got = lbu_selection(&dir.0);
    let want: BTreeSet<String> = [
        "etc/",
        "etc/motd",
        "etc/init.d/",
        "etc/init.d/linked",
        "etc/apk/",
        "etc/apk/world",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(got, want);

    // What `lbu include` and `lbu exclude` add (lbu.list), the later rule
    // winning, and a rule that names one file in @etc/init.d.
    let dir = lbu_root(
        &[
            (
                "etc/apk/protected_paths.d/lbu.list",
                "+root/.ssh\n-etc/motd\n+etc/init.d/local-service\n",
            ),
            ("etc/motd", "hi"),
            ("etc/init.d/local-service", "#!/sbin/openrc-run"),
            ("etc/init.d/other", "#!/sbin/openrc-run"),
            ("root/.ssh/authorized_keys", "k"),
            ("root/.profile", "x"),
        ],
        &[],
    );
    let got = lbu_selection(&dir.0);
    for path in [
        "root/.ssh/",
        "root/.ssh/authorized_keys",
        "etc/init.d/local-service",
    ] {
        assert!(got.contains(path), "{path} not kept: {got:?}");
    }
    for path in ["etc/motd", "etc/init.d/other", "root/.profile", "root/"] {
        assert!(!got.contains(path), "{path} kept: {got:?}");
    }
}

#[test]
fn an_lbu_commit_keeps_everything_the_overlay_installed_and_rccr_init_made() {
    if !require(
        "lbu selection",
        &[("fakeroot", "fakeroot"), ("tar", "tar"), ("gzip", "gzip")],
    ) {
        return;
    }
    for (ty, arch) in [("target", "armhf"), ("control", "x86_64")] {
        let dir = TempDir::new("lbu-overlay");
        let inputs = Inputs::new(&dir);
        let ovl = dir.path("ovl.tar.gz");
        overlay(&inputs, &dir, ty, arch, &ovl);
        let root = dir.path("root");
        extract(&ovl, &root);
        // What rccr-init and rccr write at boot and later: host keys, the
        // cluster key, rccr's state, the banner.
        for path in [
            "etc/ssh/ssh_host_ed25519_key",
            "etc/ssh/ssh_host_ed25519_key.pub",
            "etc/issue",
            "root/.ssh/id_ed25519",
            "root/.rccr/nodes",
        ] {
            write(&root.join(path), "made at boot");
        }
        let saved = lbu_selection(&root);

        let mut lost = Vec::new();
        for (path, entry) in listing(&ovl) {
            // Directories come back with what they hold, as 0755 root's;
            // those with another mode must be saved themselves.
            let needs_entry =
                !path.ends_with('/') || (entry.mode != "drwxr-xr-x" && path != "root/");
            if needs_entry && !saved.contains(&path) {
                lost.push(path);
            }
        }
        for path in [
            "etc/ssh/ssh_host_ed25519_key",
            "etc/issue",
            "root/.ssh/id_ed25519",
            "root/.rccr/nodes",
        ] {
            if !saved.contains(path) {
                lost.push(path.to_string());
            }
        }
        assert!(
            lost.is_empty(),
            "{ty}: lbu commit loses {lost:?}\n(it keeps {saved:?})"
        );
    }
}
