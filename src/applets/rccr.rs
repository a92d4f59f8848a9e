//! The multiplexer: `rccr COMMAND ...`, `--list`, `--install`, `--version`
//! and the top-level `--help`.
use super::{find_command, link_names, APPLETS, MULTIPLEXER};
use crate::error::{report, Error, ExitCode, EXIT_CODES_HELP};
use crate::fsutil;
use crate::version;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

applet! { VERSION = "version", None, version_main, "print version, target and git revision" }

fn version_main(cmd: &[&str], args: &[&str]) -> Result<(), Error> {
    let help = |a: &&str| matches!(*a, "--help" | "-h");
    if let Some(extra) = args.iter().find(|a| !help(a)) {
        return Err(crate::cli::usage(
            cmd,
            &format!("unexpected argument: {extra}"),
        ));
    }
    if args.iter().any(help) {
        return Err(Error::Help(format!(
            "Usage: {}\n\nPrint version, target triple and git revision.\n",
            cmd.join(" ")
        )));
    }
    print_line(&version::line())
}

/// Runs `rccr ARGS...` (argv[0] already removed).
pub fn multiplexer(args: &[&str]) -> ExitCode {
    let (first, rest) = match args.split_first() {
        Some((first, rest)) => (*first, rest),
        None => {
            // A usage error like any other: one line, and what to run.
            let e = Error::Usage(format!(
                "{MULTIPLEXER}: no command given (Usage: {MULTIPLEXER} COMMAND [ARGS...]); run '{MULTIPLEXER} --help' for the commands"
            ));
            return report(MULTIPLEXER, Err(e));
        }
    };
    // The options that take no argument print nothing after one.
    if let (Some(extra), "--version" | "-V" | "--licenses" | "--list") = (rest.first(), first) {
        // Their usage is the multiplexer's.
        let e = Error::Usage(format!(
            "{MULTIPLEXER} {first}: unexpected argument: {extra}; run '{MULTIPLEXER} --help' for usage"
        ));
        return report(MULTIPLEXER, Err(e));
    }
    let outcome = match (first, rest) {
        // `rccr help COMMAND` is `rccr COMMAND --help`.
        ("help", [command, ..]) => return multiplexer(&[command, "--help"]),
        ("--help" | "-h" | "help", _) => Err(Error::Help(help())),
        ("--version" | "-V", _) => print_line(&version::line()),
        ("--licenses", _) => print_line(LICENSES),
        ("--list", _) => list(),
        ("--install", _) => install_main(rest),
        (command, _) => match find_command(command) {
            Some(applet) => {
                let prog = format!("{MULTIPLEXER} {command}");
                return report(&prog, (applet.main)(&[MULTIPLEXER, command], rest));
            }
            None if command.starts_with('-') => Err(crate::cli::usage(
                &[MULTIPLEXER],
                &format!("unknown option: {command}"),
            )),
            None => Err(Error::AppletNotFound(command.into())),
        },
    };
    report(MULTIPLEXER, outcome)
}

/// Where the images install the licence texts of everything in this binary
/// (image-builder/scripts/third-party-notices.py writes them; releases ship
/// the same file as THIRD-PARTY-NOTICES).
const LICENSES: &str = "rccr is MIT-licensed (/usr/share/licenses/rccr/LICENSE). It contains \
OpenSSL (Apache-2.0), libssh2 (BSD-3-Clause), zlib (Zlib) and the Rust crates listed, \
with their licence texts, in /usr/share/licenses/rccr/THIRD-PARTY-NOTICES \
(THIRD-PARTY-NOTICES beside a release download).";

fn help() -> String {
    let mut text = format!(
        "{}\nReCyClusteR: turn recycled PCs and Raspberry Pis into a secured container cluster.\n\n\
         Usage: rccr COMMAND [ARGS...]\n\
         \x20      rccr-scan | rccr-keys | rccr-init [ARGS...]   (links to this binary)\n\
         \x20      rccr --list | --install [-s] DIR | --version | --licenses | --help\n\nCommands:\n",
        version::line()
    );
    for applet in APPLETS {
        text.push_str(&format!("  {:<11}{}\n", applet.command, applet.summary));
    }
    text.push_str(
        "\nOptions:\n\
         \x20 --list             print the names this binary answers to, one per line\n\
         \x20 --install [-s] DIR link those names in DIR to this binary (hard links; -s symbolic)\n\
         \x20 --version          print version, target triple and git revision\n\
         \x20 --licenses         say where the licences of everything in rccr are\n\
         \x20 --help             print this help\n\n\
         Run 'rccr COMMAND --help' or 'rccr help COMMAND' for a command's options.\n\n",
    );
    text.push_str(EXIT_CODES_HELP);
    text.push('\n');
    text
}

fn print_line(line: &str) -> Result<(), Error> {
    crate::print::stdout(&format!("{line}\n"))
}

fn list() -> Result<(), Error> {
    let names: String = link_names().map(|name| format!("{name}\n")).collect();
    crate::print::stdout(&names)
}

fn install_main(args: &[&str]) -> Result<(), Error> {
    const USAGE: &str = "Usage: rccr --install [-s] DIR";
    let (symbolic, dir) = match args {
        ["--help"] | ["-h"] => return Err(Error::Help(format!("{USAGE}\n\nLink every applet name in DIR to this binary: hard links, or symbolic links with -s.\nExisting links are replaced; running it twice is fine.\n"))),
        ["-s", dir] => (true, *dir),
        [dir] if !dir.starts_with('-') => (false, *dir),
        _ => {
            return Err(crate::cli::usage(
                &[MULTIPLEXER, "--install"],
                "expected DIR or -s DIR",
            ))
        }
    };
    // /proc/self/exe names the running binary whatever argv[0] says.
    let exe = std::env::current_exe()
        .and_then(fs::canonicalize)
        .map_err(|e| Error::io("cannot resolve /proc/self/exe", e))?;
    let dir = Path::new(dir);
    if !dir.is_dir() {
        return Err(Error::bad_input(
            format!("--install {}", dir.display()),
            "not a directory: create it first or name another",
        ));
    }
    for name in link_names() {
        install_link(&exe, &dir.join(name), symbolic)?;
    }
    Ok(())
}

/// Makes `link` name `exe`, replacing whatever stands there atomically; a
/// link that already names `exe` is left as it is.
fn install_link(exe: &Path, link: &Path, symbolic: bool) -> Result<(), Error> {
    if already_links_to(exe, link, symbolic) {
        return Ok(());
    }
    let tmp: PathBuf = fsutil::temp_sibling(link);
    let _ = fs::remove_file(&tmp);
    let made = if symbolic {
        std::os::unix::fs::symlink(exe, &tmp)
    } else {
        fs::hard_link(exe, &tmp)
    };
    made.and_then(|()| fs::rename(&tmp, link))
        .and_then(|()| fsutil::sync_parent(link))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            if !symbolic && e.raw_os_error() == Some(libc::EXDEV) {
                // A release download in /root, linked into /usr/local/bin on
                // another filesystem: hard links cannot cross.
                return Error::Failed(format!(
                    "cannot install {}: it is on another filesystem than {}, which hard links cannot cross; use rccr --install -s DIR (symbolic links), or move the binary there first",
                    link.display(),
                    exe.display()
                ));
            }
            Error::io(format!("cannot install {}", link.display()), e)
        })
}

fn already_links_to(exe: &Path, link: &Path, symbolic: bool) -> bool {
    if symbolic {
        return fs::read_link(link).is_ok_and(|target| target == exe);
    }
    match (fs::symlink_metadata(link), fs::metadata(exe)) {
        (Ok(l), Ok(e)) => l.file_type().is_file() && l.dev() == e.dev() && l.ino() == e.ino(),
        _ => false,
    }
}
