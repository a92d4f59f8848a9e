//! SSH keys: making them, choosing them, and moving nodes between them.
//!
//! - This file: generating key pairs and writing them the way OpenSSH
//!   expects (OpenSSH formats, private 0600, public 0644, atomic writes).
//! - [`resolve`]: which key is the temporary, the cluster and the previous
//!   one, in one documented order.
//! - [`authorized`]: `authorized_keys` edits, byte for byte; both sides of
//!   a rotation compute with it.
//! - [`addr`]: node addresses from the command line and hosts files.
//! - [`frame`]: the frame a rotation step sends a file in (cksum, length).
//! - [`control`]: the control's side of a rotation: the engine, the
//!   `keyrotate` command, its journal, host key pinning and `keys status`.
//! - [`node`]: the node's side (`rccr keys node`, and `remote.sh` for nodes
//!   without rccr).
pub mod addr;
pub mod authorized;
pub mod control;
pub mod frame;
pub mod node;
pub mod resolve;

use crate::error::Error;
use crate::fsutil;
use crate::sys::{self, RsaKey};
use ssh_key::private::{Ed25519Keypair, Ed25519PrivateKey, KeypairData, RsaKeypair, RsaPrivateKey};
use ssh_key::public::{Ed25519PublicKey, RsaPublicKey};
use ssh_key::{LineEnding, Mpint, PrivateKey};
use std::path::{Path, PathBuf};

/// The comment every temporary key carries, so it can be recognised anywhere.
pub const TEMP_KEY_COMMENT: &str = "rccr-temporary-key";
/// The comment of the cluster key rccr makes.
pub const CLUSTER_KEY_COMMENT: &str = "rccr-cluster-key";
/// The first line of an OpenSSH private key file. Spelt in two parts so
/// that a scan of the repository for committed private keys (which looks
/// for this line) finds only real keys, not the checks that name it.
pub const OPENSSH_PRIVATE_KEY_HEADER: &str = concat!("-----BEGIN OPENSSH ", "PRIVATE KEY-----");
/// The images' temporary key is RSA 4096 (the seed plan's choice).
pub const DEFAULT_RSA_BITS: usize = 4096;
use crate::ssh::MIN_RSA_BITS;
const MAX_RSA_BITS: usize = 16384;

pub use crate::ssh::KeyType;

/// Checks an RSA size before any slow work starts.
pub fn check_rsa_bits(bits: usize) -> Result<(), Error> {
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || !bits.is_multiple_of(8) {
        return Err(Error::bad_input(
            format!("--bits {bits}"),
            format!("RSA keys need {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, a multiple of 8"),
        ));
    }
    Ok(())
}

/// A new key pair; randomness comes from the OS (getrandom).
pub fn generate(kind: KeyType, rsa_bits: usize, comment: &str) -> Result<PrivateKey, Error> {
    let failed = |e: ssh_key::Error| Error::Failed(format!("key generation failed: {e}"));
    let mut key = match kind {
        KeyType::Ed25519 => {
            let pair = random_ed25519()?;
            PrivateKey::new(KeypairData::from(pair), comment).map_err(failed)?
        }
        KeyType::Rsa => {
            check_rsa_bits(rsa_bits)?;
            let pair = random_rsa(rsa_bits)?;
            PrivateKey::new(KeypairData::from(pair), comment).map_err(failed)?
        }
    };
    key.set_comment(comment);
    Ok(key)
}

/// A new Ed25519 key pair: 32 bytes from the OS, the public key from
/// OpenSSL (the copy libssh2 links).
fn random_ed25519() -> Result<Ed25519Keypair, Error> {
    let mut seed = [0u8; Ed25519PrivateKey::BYTE_SIZE];
    getrandom::getrandom(&mut seed)
        .map_err(|e| Error::Failed(format!("no randomness from the OS: {e}")))?;
    let public = sys::ed25519_public_key(&seed)
        .map_err(|e| Error::Failed(format!("Ed25519 key generation failed: {e}")));
    let pair = public.map(|public| Ed25519Keypair {
        public: Ed25519PublicKey(public),
        private: Ed25519PrivateKey::from_bytes(&seed),
    });
    sys::wipe(&mut seed);
    pair
}

/// A new RSA key pair from OpenSSL's key generation (ssh-keygen's own, in
/// the OpenSSL that libssh2 links), as ssh-key's numbers.
fn random_rsa(bits: usize) -> Result<RsaKeypair, Error> {
    let failed =
        |e: &dyn std::fmt::Display| Error::Failed(format!("RSA key generation failed: {e}"));
    let numbers = RsaKey::generate(bits).map_err(|e| failed(&e))?.numbers();
    let mpint = |bytes: &[u8]| Mpint::from_positive_bytes(bytes).map_err(|e| failed(&e));
    Ok(RsaKeypair {
        public: RsaPublicKey {
            e: mpint(&numbers.e)?,
            n: mpint(&numbers.n)?,
        },
        private: RsaPrivateKey {
            d: mpint(&numbers.d)?,
            iqmp: mpint(&numbers.iqmp)?,
            p: mpint(&numbers.p)?,
            q: mpint(&numbers.q)?,
        },
    })
}

/// `KEY` -> `KEY.pub`, as ssh-keygen names them.
pub fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// A private key's public half, for [`fsutil::aside`]: `KEY.pub`, the
/// key's own when it holds the key's public key ([`is_public_half`]).
pub(crate) const PUBLIC_HALF: fsutil::Half = fsutil::Half {
    path: public_path,
    pairs: is_public_half,
};

/// Whether the file `public` holds the public key of the private key at
/// `private` (the comments may differ), told by the private key: false
/// when it is none rccr reads ([`read_key`]), or `public` holds no key
/// line. The private key's mode is not judged: who holds it is not
/// asked, only which key it is.
fn is_public_half(private: &Path, public: &Path) -> bool {
    let Ok(line) = read_key(private).and_then(|(key, _)| public_line(&key)) else {
        return false;
    };
    let Ok((_, Some(bytes))) = fsutil::read_regular(public, false, MAX_KEY_FILE as usize) else {
        return false;
    };
    authorized::key_blob(&bytes)
        .is_some_and(|blob| authorized::key_blob(line.as_bytes()) == Some(blob))
}

/// The key's `authorized_keys` / `.pub` line: `type base64 comment`.
pub fn public_line(key: &PrivateKey) -> Result<String, Error> {
    key.public_key()
        .to_openssh()
        .map_err(|e| Error::Failed(format!("cannot encode public key: {e}")))
}

/// A key rccr logs in with: its private key file and public line.
#[derive(Clone, Debug)]
pub struct Key {
    pub path: PathBuf,
    /// `keytype base64 comment`
    pub line: String,
    /// `SHA256:...`
    pub fingerprint: String,
}

impl Key {
    /// The public key's SSH wire blob.
    pub fn blob(&self) -> &[u8] {
        authorized::key_blob(self.line.as_bytes()).unwrap_or_default()
    }

    /// Whether it carries the temporary key's comment.
    pub fn is_temporary(&self) -> bool {
        self.line.ends_with(TEMP_KEY_COMMENT)
    }
}

/// The most bytes a private key file holds: an RSA key of
/// [`MAX_RSA_BITS`] in OpenSSH's format takes about 13 KiB.
pub const MAX_KEY_FILE: u64 = 64 << 10;

/// Reads an unencrypted OpenSSH private key (its owner's alone, as ssh
/// wants it: [`fsutil::Trust::Secret`]) and derives its public line.
pub fn load_key(path: &Path) -> Result<Key, Error> {
    let (key, file) = read_key(path)?;
    fsutil::check_trusted(path, &file, fsutil::Trust::Secret)?;
    Ok(Key {
        path: path.to_path_buf(),
        line: public_line(&key)?,
        fingerprint: key.fingerprint(Default::default()).to_string(),
    })
}

/// The fingerprint of the private key at `path` whatever the file's mode:
/// enough to tell whose key it is, never to use it ([`load_key`] does
/// that). `None` when no key is there (nothing, junk).
pub fn fingerprint_if_any(path: &Path) -> Option<String> {
    read_key(path)
        .ok()
        .map(|(key, _)| key.fingerprint(Default::default()).to_string())
}

/// The unencrypted OpenSSH private key at `path`, and its open file;
/// what is no such key is bad input.
fn read_key(path: &Path) -> Result<(PrivateKey, std::fs::File), Error> {
    let what = path.display().to_string();
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::io(format!("cannot read key {what}"), e))?;
    let text = crate::fsutil::read_bounded(&mut file, MAX_KEY_FILE as usize)
        .map_err(|e| Error::io(format!("cannot read key {what}"), e))?
        .ok_or_else(|| Error::bad_input(&what, TOO_LARGE))?;
    let key = private_key(&text).map_err(|why| Error::bad_input(&what, why))?;
    Ok((key, file))
}

/// What [`private_key`] says of more than [`MAX_KEY_FILE`] bytes.
const TOO_LARGE: &str = "more than a private key holds; give another";

/// The unencrypted OpenSSH private key `text` holds, by [`read_key`]'s
/// rules (at most [`MAX_KEY_FILE`] bytes): what a key file must be for
/// [`load_key`] to take it, so that bytes headed for a key file (a
/// restored archive's) are checked before they are written. `Err` says
/// why not, for the caller to name where the bytes came from.
pub(crate) fn private_key(text: &[u8]) -> Result<PrivateKey, String> {
    if text.len() > MAX_KEY_FILE as usize {
        return Err(TOO_LARGE.into());
    }
    let key = PrivateKey::from_openssh(text)
        .map_err(|e| format!("not an OpenSSH private key ({e}); give another --from-key"))?;
    if key.is_encrypted() {
        return Err("the key is passphrase-protected; rccr needs an unencrypted key".into());
    }
    Ok(key)
}

/// Refuses a key file rccr cannot log in and rotate with (its `.pub`, a
/// passphrase-protected key, a PEM key, junk): every host would look as if
/// it refused our key, so this is said once, before any host is asked.
/// `what` names the key as the user gave it (`--temp-key PATH`). A file
/// that cannot be read is left to the login, which says why; one others
/// may read or write is refused as such.
pub fn check_login_key(what: &str, path: &Path) -> Result<(), Error> {
    match read_key(path) {
        Ok((_, file)) => fsutil::check_trusted(path, &file, fsutil::Trust::Secret),
        Err(Error::BadInput { .. }) => Err(Error::bad_input(
            what,
            format!(
                "not an unencrypted OpenSSH private key; give the private key file (not its .pub), or rewrite it with ssh-keygen -p -N '' -f {}",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Writes `key` to `private` (0600) and its public half to `private.pub`
/// (0644), both or neither: a full disk leaves the old pair, or none,
/// whole. The private key takes its name first: a `.pub` never exists for
/// a private key that was not stored.
pub fn write_pair(private: &Path, key: &PrivateKey) -> Result<(), Error> {
    let secret = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| Error::Failed(format!("cannot encode private key: {e}")))?;
    let public = public_line(key)? + "\n";
    fsutil::write_atomic_all(&[
        (private, secret.as_bytes(), 0o600),
        (&public_path(private), public.as_bytes(), 0o644),
    ])
}

/// A fresh Ed25519 key that no one holds, as OpenSSH private key text,
/// kept in memory only: offered first to every host setup classifies, so a
/// host that accepts it accepts any key.
pub fn canary() -> Result<String, Error> {
    let key = generate(KeyType::Ed25519, 0, "rccr-canary")?;
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| Error::Failed(format!("cannot encode the canary key: {e}")))?;
    Ok(text.to_string())
}

/// 16 random hex digits from the OS: rotation IDs and protocol nonces.
pub fn random_hex() -> Result<String, Error> {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::Failed(format!("no randomness from the OS: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_pair_round_trips_through_openssh_format() {
        let key = generate(KeyType::Ed25519, 0, TEMP_KEY_COMMENT).unwrap();
        let text = key.to_openssh(LineEnding::LF).unwrap();
        assert!(text.starts_with(OPENSSH_PRIVATE_KEY_HEADER));
        let parsed = PrivateKey::from_openssh(text.as_bytes()).unwrap();
        assert_eq!(parsed.public_key(), key.public_key());
        let line = public_line(&key).unwrap();
        assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
        assert!(line.ends_with(" rccr-temporary-key"), "{line}");
    }

    #[test]
    fn two_keys_differ() {
        let a = generate(KeyType::Ed25519, 0, "a").unwrap();
        let b = generate(KeyType::Ed25519, 0, "a").unwrap();
        assert_ne!(a.public_key(), b.public_key());
    }

    #[test]
    fn rsa_pair_round_trips_and_converts_for_libssh2() {
        let key = generate(KeyType::Rsa, 2048, TEMP_KEY_COMMENT).unwrap();
        let text = key.to_openssh(LineEnding::LF).unwrap();
        let parsed = PrivateKey::from_openssh(text.as_bytes()).unwrap();
        assert_eq!(parsed.public_key(), key.public_key());
        let line = public_line(&key).unwrap();
        assert!(line.starts_with("ssh-rsa AAAA"), "{line}");
        let pem = crate::ssh::pkcs1::from_openssh(&text).expect("PKCS#1 PEM");
        assert!(pem.as_str().contains(concat!("BEGIN RSA ", "PRIVATE KEY")));
    }

    #[test]
    fn rsa_sizes_are_checked_before_generation() {
        assert!(check_rsa_bits(4096).is_ok());
        for bad in [0, 1024, 2047, 4095, 32768] {
            assert!(check_rsa_bits(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_path_appends_pub() {
        assert_eq!(public_path(Path::new("/a/key")), Path::new("/a/key.pub"));
    }
}
