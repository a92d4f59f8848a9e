//! `wpa_supplicant.conf` on the boot partition: the Wi-Fi network a node
//! joins, as Raspberry Pi OS users drop it there (a Pi Zero W has no
//! Ethernet port).
//!
//! **Where.** `/boot/wpa_supplicant.conf`, then
//! `/media/*/wpa_supplicant.conf` in name order, as `rccr.txt`
//! ([`super::bootfile`]); the first one found is used, any other is
//! reported and left alone.
//!
//! **What is accepted.** wpa_supplicant's own format, checked before it is
//! installed: UTF-8 text of at most 16 KiB, no control characters but tabs
//! and line ends; `name=value` lines, and `network={` blocks of them closed
//! by `}` (at least one), each line read as wpa_supplicant reads it (a `#`
//! outside a quoted value starts a comment; spaces, tabs, CRs around); no setting that makes wpa_supplicant load a
//! library (`opensc_engine_path`, `pkcs11_engine_path`,
//! `pkcs11_module_path`, `load_dynamic_eap`). What is wrong is named by line
//! number and setting name; the file's values (the passphrase) are never
//! printed.
//!
//! **Installed** as [`WPA_CONF`] (mode 0600, replacing an older one,
//! without a byte order mark, which wpa_supplicant does not skip), only
//! on an image that has wpa_supplicant (the Raspberry Pi images). The
//! interfaces file then brings up the Wi-Fi interface with it and DHCP
//! ([`super::network`]). Once the change is saved, the file is removed
//! from the boot partition (it holds the passphrase, and the FAT partition
//! is readable by anyone holding the card); until then it stays, to be
//! installed again at the next boot.
use super::network::WPA_CONF;
use super::{bootfile, Ctx};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// Settings that make wpa_supplicant load code from a path.
const LOADS_CODE: [&str; 4] = [
    "opensc_engine_path",
    "pkcs11_engine_path",
    "pkcs11_module_path",
    "load_dynamic_eap",
];
/// The file's name on the boot partition, as Raspberry Pi OS reads it.
pub const FILE_NAME: &str = "wpa_supplicant.conf";
/// What uses it: without wpa_supplicant, the configuration is useless.
pub const WPA_SUPPLICANT: &str = "/sbin/wpa_supplicant";
/// A configuration of a few networks is well below.
const MAX_LEN: usize = 16 * 1024;
/// The longest setting name taken.
const MAX_NAME: usize = 40;

/// The boot partition's Wi-Fi configuration, checked.
pub struct Found {
    pub path: PathBuf,
    bytes: Vec<u8>,
}

/// `line` without its comment, as wpa_supplicant cuts it: from the first
/// `#` after the last `"` of a quoted value, else the first `#`.
fn uncommented(line: &str) -> &str {
    let from = line
        .find('"')
        .and_then(|open| line[open + 1..].rfind('"').map(|close| open + 1 + close))
        .unwrap_or(0);
    match line[from..].find('#') {
        Some(at) => &line[..from + at],
        None => line,
    }
}

/// Checks a `wpa_supplicant.conf`; `Ok` is the number of networks.
pub fn check(bytes: &[u8]) -> Result<usize, String> {
    // A byte order mark is dropped: wpa_supplicant would read it as part
    // of the first line, and refuse the whole file.
    let text = bootfile::text_of(bytes)?;
    if let Some(n) = text
        .lines()
        .position(|l| l.chars().any(|c| c.is_control() && c != '\t' && c != '\r'))
    {
        return Err(format!("line {}: a control character", n + 1));
    }
    let mut networks = 0;
    let mut open: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        // The blanks wpa_supplicant skips, no others: "network={" with a
        // no-break space after it is no block to it.
        let line = uncommented(line).trim_matches([' ', '\t', '\r']);
        if line.is_empty() {
            continue;
        }
        if line == "}" {
            if open.take().is_none() {
                return Err(format!("line {n}: '}}' closes no network block"));
            }
            continue;
        }
        if line == "network={" {
            if let Some(at) = open {
                return Err(format!(
                    "line {n}: a network block inside the one of line {at}"
                ));
            }
            open = Some(n);
            networks += 1;
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("line {n}: want 'name=value', 'network={{' or '}}'"));
        };
        let name = name.trim();
        // wpa_supplicant's longest setting name is well under the bound,
        // which keeps a message quoting a name one short line.
        if !(1..=MAX_NAME).contains(&name.len())
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(format!(
                "line {n}: want 'name=value' (the name is letters, digits, '_' and '-', \
                 at most {MAX_NAME})"
            ));
        }
        if value.trim() == "{" {
            return Err(format!(
                "line {n}: only network blocks are accepted ('{name}' is not one)"
            ));
        }
        if LOADS_CODE.contains(&name) {
            return Err(format!(
                "line {n}: {name} loads a library; not accepted from the boot partition"
            ));
        }
    }
    if let Some(at) = open {
        return Err(format!("the network block of line {at} is never closed"));
    }
    if networks == 0 {
        return Err("no network={ ... } block".into());
    }
    Ok(networks)
}

/// Finds and checks the boot partition's Wi-Fi configuration; reports what
/// is wrong. `None` when there is none to install.
pub fn load(ctx: &mut Ctx) -> Option<Found> {
    let mut found: Option<Found> = None;
    for (path, read) in bootfile::read_present(ctx, FILE_NAME, MAX_LEN) {
        let shown = path.display().to_string();
        if let Some(first) = &found {
            ctx.problem(format_args!(
                "{shown}: ignored, {} is used",
                first.path.display()
            ));
            continue;
        }
        let checked = read.and_then(|b| check(&b).map(|n| (b, n)));
        match checked {
            Ok((bytes, n)) => {
                ctx.note(format_args!("{shown}: {n} Wi-Fi network(s)"));
                let bytes = bootfile::without_bom(&bytes).to_vec();
                found = Some(Found { path, bytes });
            }
            Err(e) => ctx.problem(format_args!("{shown}: {e}; not installed")),
        }
    }
    found
}

/// Installs `found` as [`WPA_CONF`], 0600. Returns whether the node has a
/// Wi-Fi configuration it can use (installed now or before) and whether
/// `found` is installed (true when there is none).
pub fn install(ctx: &mut Ctx, found: Option<&Found>) -> (bool, bool) {
    let conf = ctx.path(WPA_CONF);
    let can_run = ctx
        .resolve(&ctx.path(WPA_SUPPLICANT), true)
        .is_ok_and(|p| p.exists());
    let Some(f) = found else {
        return (
            can_run && ctx.resolve(&conf, true).is_ok_and(|p| p.is_file()),
            true,
        );
    };
    if !can_run {
        ctx.problem(format_args!(
            "{}: this image has no wpa_supplicant (the Raspberry Pi images have it); not installed",
            f.path.display()
        ));
        return (false, false);
    }
    if let Some(dir) = conf.parent() {
        if !ctx.is_dir(dir) && !ctx.dry {
            // Durable in its parent: on a disk root, the boot partition's
            // copy is removed once this one is written.
            if let Err(e) = ctx.create_dir_durable(dir, 0o755) {
                ctx.problem(format_args!("cannot create {}: {e}", dir.display()));
                return (false, false);
            }
        }
    }
    let old = ctx.read_optional(&conf).ok().flatten();
    // An older file keeps its mode through the write: it is made root's
    // alone first, so the new passphrase never sits in a readable file.
    if let Ok(m) = ctx.resolve(&conf, true).and_then(fs::metadata) {
        let mode = m.permissions().mode() & 0o7777;
        if mode != 0o600 {
            ctx.chmod(&conf, mode, 0o600);
        }
    }
    let written = ctx.write_file(
        &conf,
        &f.bytes,
        0o600,
        &format!("Wi-Fi configuration from {}", f.path.display()),
    );
    (written || old.is_some(), written)
}

/// Removes the installed file from the boot partition; keeps it when
/// `kept_because` says why not.
pub fn retire(ctx: &mut Ctx, found: &Found, kept_because: Option<&str>) {
    let path = &found.path;
    if let Some(why) = kept_because {
        ctx.problem(format_args!(
            "{}: kept: {why}; it is installed again at the next boot",
            path.display()
        ));
        return;
    }
    let what = format_args!("{}: installed as {WPA_CONF}, removed", path.display());
    if ctx.dry {
        return ctx.changed(what);
    }
    let remove = || {
        let at = ctx.resolve(path, false)?;
        fs::remove_file(&at).and_then(|()| crate::fsutil::sync_parent(&at))
    };
    match bootfile::change_on_media(ctx, path, remove) {
        Ok(()) => ctx.changed(what),
        Err(e) => ctx.problem(format_args!(
            "cannot remove {}: {e}; it is installed again at the next boot",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PI_OS: &str = "country=GB\nctrl_interface=DIR=/var/run/wpa_supplicant GROUP=netdev\nupdate_config=1\n\nnetwork={\n\tssid=\"My Net\"\n\tpsk=\"secret pass\"\n\tkey_mgmt=WPA-PSK\n}\n";

    #[test]
    fn raspberry_pi_os_files_pass() {
        assert_eq!(check(PI_OS.as_bytes()), Ok(1));
        let two = format!(
            "\u{feff}{}network={{\r\n  ssid=\"b\"\r\n  psk=0123\r\n}}\r\n# end\r\n",
            PI_OS.replace('\n', "\r\n")
        );
        assert_eq!(check(two.as_bytes()), Ok(2));
    }

    #[test]
    fn comments_after_a_brace_or_a_value_pass_as_wpa_supplicant_reads_them() {
        // wpa_supplicant cuts a line at '#' outside a quoted value.
        let text =
            "network={ # home\n\tssid=\"My #1 Net\" # the one upstairs\n\tpsk=\"a#b\"\n} # end\n";
        assert_eq!(check(text.as_bytes()), Ok(1));
        assert!(check(b"network={\n}#\n}\n").unwrap_err().contains("line 3"));
        let nbsp = check("network={\u{a0}\n}\n".as_bytes()).unwrap_err();
        assert!(nbsp.contains("line 1"), "{nbsp}");
    }

    #[test]
    fn malformed_files_are_named_by_line_and_never_echo_a_value() {
        let secret = "hunter2-secret";
        for (text, want) in [
            (
                format!("network={{\nssid=\"x\"\npsk=\"{secret}\"\n"),
                "never closed",
            ),
            (format!("psk=\"{secret}\"\n"), "no network="),
            (
                format!("network={{\npsk=\"{secret}\"\n}}\n}}\n"),
                "line 4: '}' closes",
            ),
            (
                format!("network={{\nnetwork={{\npsk={secret}\n}}\n}}\n"),
                "line 2: a network block inside",
            ),
            (
                format!("network={{\n{secret}\n}}\n"),
                "line 2: want 'name=value'",
            ),
            (
                format!("pkcs11_module_path=/tmp/{secret}.so\nnetwork={{\n}}\n"),
                "line 1: pkcs11_module_path loads a library",
            ),
            (
                format!("cred={{\npassword={secret}\n}}\n"),
                "line 1: only network blocks",
            ),
            (
                format!("network={{\npsk=\"{secret}\u{7}\"\n}}\n"),
                "line 2: a control character",
            ),
            (
                format!("we ird={secret}\nnetwork={{\n}}\n"),
                "line 1: want 'name=value'",
            ),
        ] {
            let e = check(text.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains(secret), "{e}");
        }
        assert!(check(b"\xff\xfe").is_err());
    }

    /// Found by the fuzz target: a long name made a message of any length.
    #[test]
    fn a_message_stays_one_short_line_whatever_the_name() {
        let long = format!("{}network={{\n", "v".repeat(200));
        let e = check(long.as_bytes()).unwrap_err();
        assert!(e.starts_with("line 1: want 'name=value'"), "{e}");
        assert!(e.len() < 100, "{e}");
        let longest = format!("{}=1\nnetwork={{\n}}\n", "v".repeat(MAX_NAME));
        assert_eq!(check(longest.as_bytes()), Ok(1));
    }
}
