//! The world check: is every package the node asks for installed?
//!
//! A diskless Alpine node installs `/etc/apk/world` into RAM at every boot,
//! with `apk add --initramfs-diskless-boot`, which forces a broken world:
//! a package that does not fit in RAM, or that is in no repository the
//! initramfs can reach (an apk cache on the RCCR partition, which the
//! initramfs does not mount), is left out and the boot goes on silently.
//! So, at boot, on the live system:
//!
//! 1. the world is compared with apk's database of installed packages;
//! 2. when something is missing, `apk add --no-network --force-broken-world`
//!    installs what it can from the boot media and the apk cache (mounted
//!    by then: `rccr-init --storage` runs first);
//! 3. what is still missing is said on the console (`/etc/issue`) and in
//!    the boot status file (`world: missing NAME...`, see [`super::bootstatus`]).
//!
//! The formats are apk's own (apk-tools `src/database.c`, `src/package.c`):
//! `/etc/apk/world` holds one dependency per line, `[!]name[@tag][op
//! version]` with `op` one of `<`, `>`, `=`, `~` and their combinations;
//! `/lib/apk/db/installed` holds one block of `X:value` lines per package,
//! `P:` its name and `p:` what it provides (`so:libc.musl-x86_64.so.1=1`,
//! `cmd:python3=3.12.11-r0`). A world entry counts as installed when a
//! package has its name or provides it. Versions are not compared: the
//! check is about packages that are absent, not about which version is
//! there. `!name` entries (conflicts) name packages that must *not* be
//! installed and are not checked.
use super::Ctx;

pub const WORLD: &str = "/etc/apk/world";
pub const INSTALLED_DB: &str = "/lib/apk/db/installed";

/// The names a world asks for, in order, constraints and tags removed,
/// conflicts (`!name`) left out.
pub fn wanted(world: &str) -> Vec<String> {
    world
        .split_whitespace()
        .filter(|dep| !dep.starts_with('!'))
        .map(|dep| {
            let end = dep.find(['@', '<', '>', '=', '~']).unwrap_or(dep.len());
            dep[..end].to_string()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Every name an installed package has or provides (`P:` and `p:` lines).
pub fn installed(db: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for line in db.lines() {
        if let Some(name) = line.strip_prefix("P:") {
            names.push(name.trim());
        } else if let Some(provides) = line.strip_prefix("p:") {
            names.extend(
                provides
                    .split_whitespace()
                    .map(|item| item.split_once('=').map_or(item, |(n, _)| n)),
            );
        }
    }
    names
}

/// The world's names that nothing installed has or provides, in world order.
pub fn missing(world: &str, db: &str) -> Vec<String> {
    let have = installed(db);
    let mut out: Vec<String> = Vec::new();
    for name in wanted(world) {
        if !have.contains(&name.as_str()) && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No world file: not an apk system, nothing to check.
    NoWorld,
    /// The world is readable, the database is not.
    Unreadable(String),
    Missing(Vec<String>),
}

/// Reads both files under the root and compares them.
pub fn check(ctx: &Ctx) -> Outcome {
    let world = match ctx.read_optional(&ctx.path(WORLD)) {
        Ok(Some(w)) => String::from_utf8_lossy(&w).into_owned(),
        Ok(None) => return Outcome::NoWorld,
        Err(e) => return Outcome::Unreadable(format!("{WORLD}: {e}")),
    };
    match ctx.read(&ctx.path(INSTALLED_DB)) {
        Ok(db) => Outcome::Missing(missing(&world, &String::from_utf8_lossy(&db))),
        Err(e) => Outcome::Unreadable(format!("{INSTALLED_DB}: {e}")),
    }
}

/// Checks the world; on the live system, installs what is missing from
/// the local repositories and the cache, then checks again. Reports every
/// package still missing as a problem, and returns the outcome.
pub fn ensure(ctx: &mut Ctx) -> Outcome {
    let first = check(ctx);
    let Outcome::Missing(names) = &first else {
        if let Outcome::Unreadable(e) = &first {
            ctx.problem(format_args!("cannot check the installed packages: {e}"));
        }
        return first;
    };
    if names.is_empty() {
        return first;
    }
    if !ctx.live || ctx.dry {
        return report(ctx, first);
    }
    ctx.note(format_args!(
        "not installed at boot: {}; installing from the boot media and the apk cache",
        crate::print::text(&names.join(" "))
    ));
    // Offline by design: rccr-init runs before networking. The initramfs
    // forced a broken world the same way.
    if let Err(e) = super::run_tool(
        "apk",
        &["add", "--no-network", "--force-broken-world", "--quiet"],
    ) {
        ctx.note(e);
    }
    let second = check(ctx);
    report(ctx, second)
}

fn report(ctx: &mut Ctx, outcome: Outcome) -> Outcome {
    if let Outcome::Missing(names) = &outcome {
        if !names.is_empty() {
            ctx.problem(format_args!(
                "packages of {WORLD} not installed: {} (out of RAM, or not on the boot media or in the apk cache)",
                crate::print::text(&names.join(" "))
            ));
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two blocks of a real `/lib/apk/db/installed` (Alpine 3.22), cut.
    const DB: &str = "C:Q1abc=\nP:musl\nV:1.2.5-r10\nA:x86_64\no:musl\np:so:libc.musl-x86_64.so.1=1\n\nC:Q1def=\nP:python3\nV:3.12.11-r0\np:cmd:python3=3.12.11-r0 cmd:python3.12=3.12.11-r0 py3-setuptools-bootstrap\nr:python3-pyc\n";

    #[test]
    fn world_names_lose_their_constraints_and_tags() {
        let world = "alpine-base\nopenssh>=9.0\npython3@edge\ndocker~28\nfoo=1.2-r0\nbar<2\nbaz><3\n!busybox-extras\ncmd:python3\n\n";
        assert_eq!(
            wanted(world),
            [
                "alpine-base",
                "openssh",
                "python3",
                "docker",
                "foo",
                "bar",
                "baz",
                "cmd:python3"
            ]
        );
    }

    #[test]
    fn installed_names_include_what_packages_provide() {
        let have = installed(DB);
        for name in [
            "musl",
            "python3",
            "so:libc.musl-x86_64.so.1",
            "cmd:python3",
            "cmd:python3.12",
            "py3-setuptools-bootstrap",
        ] {
            assert!(have.contains(&name), "{name}");
        }
        assert!(
            !have.contains(&"python3-pyc"),
            "r: lines replace, not provide"
        );
    }

    #[test]
    fn missing_in_world_order_once_each() {
        let world = "musl\nzlib\npython3>=3.12\ncmd:python3\nzlib\ndocker@community\n!musl\n";
        assert_eq!(missing(world, DB), ["zlib", "docker"]);
        assert!(missing("musl python3\n", DB).is_empty());
        assert!(missing("", "").is_empty());
    }
}
