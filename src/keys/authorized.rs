//! `authorized_keys` editing as pure functions over bytes, so that every
//! line we do not own (other users' keys, `from="..."`/`command="..."`
//! options, comments, blank lines, odd bytes) survives byte for byte.
//!
//! A line is `[options] keytype base64 [comment]` (sshd(8), AUTHORIZED_KEYS
//! FILE FORMAT). Lines are told apart by their base64 key blob alone: the
//! same key with another comment or other options is the same key.

/// The base64 key blob of one `authorized_keys` line, if it holds a key.
pub fn key_blob(line: &[u8]) -> Option<&[u8]> {
    let line = trim_start(line);
    if line.is_empty() || line[0] == b'#' {
        return None;
    }
    let first = token(line);
    let rest = if is_key_type(first) {
        line
    } else {
        // Options come first: comma-separated, quoted strings may hold
        // spaces, commas and backslash-escaped quotes.
        trim_start(&line[options_len(line)..])
    };
    let key_type = token(rest);
    if !is_key_type(key_type) {
        return None;
    }
    let blob = token(trim_start(&rest[key_type.len()..]));
    (!blob.is_empty()).then_some(blob)
}

fn trim_start(s: &[u8]) -> &[u8] {
    let skip = s.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    &s[skip..]
}

fn token(s: &[u8]) -> &[u8] {
    let len = s
        .iter()
        .take_while(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    &s[..len]
}

fn options_len(line: &[u8]) -> usize {
    let mut quoted = false;
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b' ' | b'\t' if !quoted => return i,
            _ => {}
        }
        i += 1;
    }
    line.len()
}

fn is_key_type(t: &[u8]) -> bool {
    t.starts_with(b"ssh-") || t.starts_with(b"ecdsa-sha2-") || t.starts_with(b"sk-")
}

/// Splits into lines that keep their `\n`, so joining them gives the input.
fn lines(content: &[u8]) -> impl Iterator<Item = &[u8]> {
    content.split_inclusive(|b| *b == b'\n')
}

/// Whether any line holds the key with this blob.
pub fn contains(content: &[u8], blob: &[u8]) -> bool {
    lines(content).any(|l| key_blob(l) == Some(blob))
}

/// The options of the lines holding the key with this blob, with the
/// space after them (`from="10.0.0.1",restrict `), when every such line
/// has the same ones and they set no `expiry-time` (a date the next key
/// would carry on); else empty, as when there are none.
pub fn options_of<'a>(content: &'a [u8], blob: &[u8]) -> &'a [u8] {
    let options = |line: &'a [u8]| {
        let line = trim_start(line);
        let end = if is_key_type(token(line)) {
            0
        } else {
            options_len(line)
        };
        &line[..end + usize::from(end > 0 && end < line.len())]
    };
    let mut all = lines(content)
        .filter(|l| key_blob(l) == Some(blob))
        .map(options);
    let first = all.next().unwrap_or_default();
    let expiring = first
        .windows(12)
        .any(|w| w.eq_ignore_ascii_case(b"expiry-time="));
    if expiring || all.any(|o| o != first) {
        return b"";
    }
    first
}

/// `content` with `key_line` appended, unless that key is there already.
pub fn with_key(content: &[u8], key_line: &str) -> Vec<u8> {
    let mut out = content.to_vec();
    match key_blob(key_line.as_bytes()) {
        Some(blob) if contains(content, blob) => return out,
        _ => {}
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    // Trim only what ends a token, so the line holds the very blob looked for.
    out.extend_from_slice(
        key_line
            .trim_end_matches([' ', '\t', '\r', '\n'])
            .as_bytes(),
    );
    out.push(b'\n');
    out
}

/// `content` without the lines holding any of `blobs`; all else untouched.
pub fn without_keys(content: &[u8], blobs: &[&[u8]]) -> Vec<u8> {
    lines(content)
        .filter(|l| !key_blob(l).is_some_and(|b| blobs.contains(&b)))
        .flatten()
        .copied()
        .collect()
}

/// POSIX `cksum` (CRC-32, polynomial 0x04C11DB7, length appended), printed
/// as `cksum` prints it: the remote script compares files with it, as a
/// guard against an edit made between our read and our write.
pub fn cksum_line(data: &[u8]) -> String {
    fn feed(crc: u32, byte: u8) -> u32 {
        let mut crc = crc ^ (u32::from(byte) << 24);
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
        crc
    }
    let mut crc = data.iter().fold(0, |c, b| feed(c, *b));
    let mut len = data.len();
    while len != 0 {
        crc = feed(crc, len as u8);
        len >>= 8;
    }
    format!("{} {}", !crc, data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 rccr-temporary-key";
    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGL new@cluster";

    #[test]
    fn blob_of_plain_optioned_and_commented_lines() {
        assert_eq!(
            key_blob(RSA.as_bytes()),
            Some(&b"AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"[..])
        );
        let with_opts =
            br#"from="10.0.0.0/8,192.168.1.1",command="echo a b \"c\"" ssh-ed25519 AAAAC3Nz x y"#;
        assert_eq!(key_blob(with_opts), Some(&b"AAAAC3Nz"[..]));
        assert_eq!(
            key_blob(b"no-pty,restrict ecdsa-sha2-nistp256 AAAAE2 c\n"),
            Some(&b"AAAAE2"[..])
        );
        assert_eq!(key_blob(b"  \tssh-ed25519 AAAAX\r\n"), Some(&b"AAAAX"[..]));
        for none in [
            &b"# ssh-rsa AAAA"[..],
            b"",
            b"\n",
            b"   ",
            b"garbage line",
            b"ssh-rsa",
        ] {
            assert_eq!(key_blob(none), None, "{:?}", String::from_utf8_lossy(none));
        }
    }

    #[test]
    fn a_keys_options_are_those_of_its_first_line() {
        let content = b"ssh-ed25519 AAAAX a\nfrom=\"a b\",restrict\tssh-ed25519 AAAAY\n";
        assert_eq!(options_of(content, b"AAAAY"), b"from=\"a b\",restrict\t");
        assert_eq!(options_of(content, b"AAAAX"), b"");
        assert_eq!(options_of(content, b"AAAAZ"), b"");
        // Lines that disagree, or a date the next key would carry on:
        // none (review mends-26, risk 1).
        let two = b"from=\"a\" ssh-ed25519 AAAAY\nfrom=\"b\" ssh-ed25519 AAAAY\n";
        assert_eq!(options_of(two, b"AAAAY"), b"");
        let same = b"from=\"a\" ssh-ed25519 AAAAY x\nfrom=\"a\" ssh-ed25519 AAAAY y\n";
        assert_eq!(options_of(same, b"AAAAY"), b"from=\"a\" ");
        assert_eq!(
            options_of(b"Expiry-Time=\"20300101\" ssh-ed25519 AAAAY\n", b"AAAAY"),
            b""
        );
    }

    #[test]
    fn adding_keeps_every_byte_and_is_idempotent() {
        let original = b"# keys\nfrom=\"1.2.3.4\" ssh-rsa OTHER alice\r\n\n\xff\xfe junk\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 rccr-temporary-key";
        let staged = with_key(original, ED);
        assert!(staged.starts_with(original));
        assert_eq!(&staged[original.len()..], format!("\n{ED}\n").as_bytes());
        assert_eq!(with_key(&staged, ED), staged);
        // The same key with another comment counts as present.
        assert_eq!(
            with_key(&staged, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGL other"),
            staged
        );
        assert_eq!(with_key(b"", ED), format!("{ED}\n").as_bytes());
        // Found by fuzzing: a key line ending in other whitespace.
        let odd = "sk-x AAAA\u{b}";
        let once = with_key(b"", odd);
        assert_eq!(with_key(&once, odd), once);
    }

    #[test]
    fn removing_drops_only_that_key_in_every_form() {
        let original = format!(
            "# keys\nfrom=\"1.2.3.4\" ssh-rsa OTHER alice\n{RSA}\ncommand=\"x\" {RSA} again\n\n{ED}\n"
        );
        let blob = key_blob(RSA.as_bytes()).unwrap();
        let out = without_keys(original.as_bytes(), &[blob]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("# keys\nfrom=\"1.2.3.4\" ssh-rsa OTHER alice\n\n{ED}\n")
        );
        let unterminated = format!("{ED}\n{RSA}");
        assert_eq!(
            without_keys(unterminated.as_bytes(), &[blob]),
            format!("{ED}\n").as_bytes()
        );
    }

    #[test]
    fn cksum_matches_posix_cksum() {
        // Values printed by GNU coreutils and busybox `cksum`.
        assert_eq!(cksum_line(b""), "4294967295 0");
        assert_eq!(cksum_line(b"a"), "1220704766 1");
        assert_eq!(cksum_line(b"hello world\n"), "3733384285 12");
    }
}
