//! Packet formats, smoltcp style.
//!
//! Each format has a `Packet<T: AsRef<[u8]>>` (or `Frame`) view over a byte
//! buffer with one getter per field, setters when the buffer is also
//! `AsMut<[u8]>`, and a `Repr`: the parsed, validated meaning of a packet.
//!
//! Bytes from the network are always opened with `new_checked`, which
//! refuses a buffer too short for the fields its getters read, so no getter
//! can panic afterwards. `Repr::emit` never panics on a buffer of exactly
//! `Repr::buffer_len()` bytes.
pub mod arp;
pub mod dns;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;

/// A field's byte range inside a packet.
pub type Field = core::ops::Range<usize>;
/// Where a variable-length field starts; it runs to the end of the packet.
pub type Rest = core::ops::RangeFrom<usize>;

/// A packet that is truncated, malformed or of a kind we do not handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error;

pub type Result<T> = core::result::Result<T, Error>;

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("malformed packet")
    }
}

/// The Internet checksum (RFC 1071).
pub mod checksum {
    /// The ones' complement sum of `data` as 16-bit big-endian words, folded
    /// to 16 bits but not complemented.
    pub fn data(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        let mut chunks = data.chunks_exact(2);
        for pair in &mut chunks {
            sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    /// The checksum field value for `data` (with its checksum field zeroed).
    pub fn compute(data: &[u8]) -> u16 {
        !self::data(data)
    }

    /// Whether `data`, checksum field included, sums to all ones.
    pub fn verify(data: &[u8]) -> bool {
        self::data(data) == 0xffff
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn rfc1071_example() {
            // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
            assert_eq!(
                super::data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
                0xddf2
            );
        }

        #[test]
        fn odd_length_pads_with_zero() {
            assert_eq!(super::data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        }
    }
}
