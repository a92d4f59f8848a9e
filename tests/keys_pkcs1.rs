//! RSA keys rccr makes and the PKCS#1 PEM it hands libssh2 for them
//! (src/ssh/pkcs1.rs, OpenSSL through src/sys.rs):
//! - the PEM is the one OpenSSH writes: byte for byte what
//!   `ssh-keygen -p -m PEM` makes of the same key, CRT numbers included;
//! - `ssh-keygen -y` and `-l` read what `rccr keygen` writes, and agree
//!   with rccr on the public key and fingerprint;
//! - libssh2 logs in with it, and with the Ed25519 keys rccr keygen
//!   writes (both made with OpenSSL), to a real sshd (as root, on
//!   127.0.0.1).
mod common;

use common::scratch::Scratch;
use common::sshd::{ssh_keygen, Sshd};
use std::path::Path;
use std::process::{Command, Output};

const RCCR: &str = env!("CARGO_BIN_EXE_rccr");

fn text(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `rccr keygen ARGS -f KEY`; returns what it printed.
fn rccr_keygen(key: &Path, args: &[&str]) -> String {
    let out = Command::new(RCCR)
        .arg("keygen")
        .args(args)
        .arg("-f")
        .arg(key)
        .output()
        .unwrap();
    text(&out)
}

/// ssh-keygen's PKCS#1 PEM of an OpenSSH private key file (converted in
/// place, so on a copy).
fn ssh_keygen_pem(key: &Path) -> String {
    let copy = key.with_extension("pem");
    std::fs::copy(key, &copy).unwrap();
    ssh_keygen(&["-q", "-p", "-N", "", "-m", "PEM", "-f"], &copy);
    std::fs::read_to_string(&copy).unwrap()
}

#[test]
fn rsa_keys_convert_exactly_as_ssh_keygen_does() {
    let dir = Scratch::new("convert");
    for bits in ["2048", "3072", "4096"] {
        let key = dir.path(&format!("key-{bits}"));
        ssh_keygen(
            &["-q", "-t", "rsa", "-b", bits, "-N", "", "-C", "x", "-f"],
            &key,
        );
        let openssh = std::fs::read_to_string(&key).unwrap();
        let ours = rccr::ssh::pkcs1::from_openssh(&openssh).expect("an RSA key");
        assert_eq!(ours.as_str(), ssh_keygen_pem(&key), "{bits}-bit key");
    }
}

#[test]
fn ssh_keygen_reads_the_rsa_keys_rccr_keygen_writes() {
    let dir = Scratch::new("keygen");
    for bits in ["2048", "4096"] {
        let key = dir.path(&format!("key-{bits}"));
        let printed = rccr_keygen(&key, &["--type", "rsa", "--bits", bits, "-C", "rccr-test"]);
        let public = std::fs::read_to_string(dir.path(&format!("key-{bits}.pub"))).unwrap();
        assert!(public.starts_with("ssh-rsa AAAA"), "{public}");
        // -y derives the public key from the private file alone.
        let derived = ssh_keygen(&["-y", "-f"], &key);
        let fields = |line: &str| {
            line.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(fields(&derived), fields(&public), "{bits}-bit key");
        // -l: size, the fingerprint rccr printed, the comment, the type.
        for file in [key.clone(), dir.path(&format!("key-{bits}.pub"))] {
            let listed = ssh_keygen(&["-l", "-f"], &file);
            let words: Vec<&str> = listed.split_whitespace().collect();
            assert_eq!(words[0], bits, "{listed}");
            assert!(printed.contains(words[1]), "{printed} / {listed}");
            assert_eq!(&words[2..], ["rccr-test", "(RSA)"], "{listed}");
        }
        // The CRT numbers rccr's PEM carries are the ones OpenSSH computes.
        let openssh = std::fs::read_to_string(&key).unwrap();
        let ours = rccr::ssh::pkcs1::from_openssh(&openssh).expect("an RSA key");
        assert_eq!(ours.as_str(), ssh_keygen_pem(&key), "{bits}-bit key");
    }
}

#[test]
fn libssh2_logs_in_with_the_keys_rccr_keygen_writes() {
    if !common::lab::require_root() {
        return;
    }
    let dir = Scratch::new("login");
    let (rsa, ed25519, stranger) = (dir.path("rsa"), dir.path("ed25519"), dir.path("stranger"));
    rccr_keygen(&rsa, &["--type", "rsa", "--bits", "4096"]);
    rccr_keygen(&ed25519, &["--type", "ed25519"]);
    rccr_keygen(&stranger, &["--type", "ed25519"]);
    let authorized = dir.path("authorized_keys");
    let lines =
        [dir.path("rsa.pub"), dir.path("ed25519.pub")].map(|p| std::fs::read_to_string(p).unwrap());
    std::fs::write(&authorized, lines.concat()).unwrap();
    let sshd = Sshd::start(&dir, &authorized);
    assert!(
        sshd.logs_in(&rsa),
        "libssh2 did not log in with the RSA key"
    );
    assert!(
        sshd.logs_in(&ed25519),
        "libssh2 did not log in with the Ed25519 key"
    );
    // The same path refuses a key sshd was not given.
    assert!(
        !sshd.logs_in(&stranger),
        "a key not in authorized_keys logged in"
    );
}
