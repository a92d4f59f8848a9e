//! The PKCS#1 PEM rccr hands libssh2 for RSA keys (src/keys/pkcs1.rs) is
//! the one OpenSSH writes: byte for byte what `ssh-keygen -p -m PEM` makes
//! of the same key, CRT numbers included.
use std::path::PathBuf;
use std::process::Command;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rccr-pkcs1-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn rsa_keys_convert_exactly_as_ssh_keygen_does() {
    let dir = temp_dir();
    for bits in ["2048", "3072", "4096"] {
        let key = dir.join(format!("key-{bits}"));
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "rsa", "-b", bits, "-N", "", "-C", "x", "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen (apt install openssh-client)");
        assert!(made.success());
        let openssh = std::fs::read_to_string(&key).unwrap();
        let ours = rccr::ssh::pkcs1::from_openssh(&openssh).expect("an RSA key");
        let converted = Command::new("ssh-keygen")
            .args(["-q", "-p", "-N", "", "-m", "PEM", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(converted.status.success(), "{converted:?}");
        let theirs = std::fs::read_to_string(&key).unwrap();
        assert_eq!(ours.as_str(), theirs, "{bits}-bit key");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
