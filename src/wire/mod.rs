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
//!
//! `view!` declares the view type itself, and the `bytes` readers and
//! writers turn a field's range into a number, so each format only spells
//! its fields, its `check_len` and its `Repr`. The disk formats in
//! `init::storage` use the same two.

/// Declares a view over a byte buffer: the struct, `new_unchecked`,
/// `new_checked` (which refuses what the type's own `check_len` refuses)
/// and `into_inner`. The type writes `check_len` and its getters itself.
macro_rules! view {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps `buffer` unchecked: a getter may panic on a short one.
            pub const fn new_unchecked(buffer: T) -> $name<T> {
                $name { buffer }
            }

            /// Wraps `buffer`, refusing one that `check_len` refuses, so
            /// that no getter can panic afterwards.
            pub fn new_checked(buffer: T) -> $crate::wire::Result<$name<T>> {
                let view = Self::new_unchecked(buffer);
                view.check_len()?;
                Ok(view)
            }

            pub fn into_inner(self) -> T {
                self.buffer
            }
        }
    };
}
pub(crate) use view;

/// Declares a field's closed set of known values (smoltcp's macro of the
/// same name): an enum whose `Unknown` variant keeps any other value, and
/// the two conversions, so a value read from the wire always round-trips.
macro_rules! enum_with_unknown {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($ty:ty) {
            $($variant:ident = $value:expr),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
            Unknown($ty),
        }

        impl From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $($value => $name::$variant,)+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => $value,)+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

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

/// A view's `check_len` for a format whose fields end at a fixed length.
pub fn check_min_len(buffer: &[u8], len: usize) -> Result<()> {
    if buffer.len() < len {
        Err(Error)
    } else {
        Ok(())
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("malformed packet")
    }
}

/// Numbers in a field, by byte order: network formats are big-endian, the
/// disk formats little-endian. Each takes the field's range, so a wrong
/// range panics rather than read a neighbour; views read only after
/// `check_len`.
pub mod bytes {
    use super::Field;

    pub fn be_u16(buffer: &[u8], f: Field) -> u16 {
        u16::from_be_bytes(array(&buffer[f]))
    }

    pub fn set_be_u16(buffer: &mut [u8], f: Field, value: u16) {
        buffer[f].copy_from_slice(&value.to_be_bytes())
    }

    pub fn le_u16(buffer: &[u8], f: Field) -> u16 {
        u16::from_le_bytes(array(&buffer[f]))
    }

    pub fn le_u32(buffer: &[u8], f: Field) -> u32 {
        u32::from_le_bytes(array(&buffer[f]))
    }

    pub fn set_le_u32(buffer: &mut [u8], f: Field, value: u32) {
        buffer[f].copy_from_slice(&value.to_le_bytes())
    }

    /// The field's bytes as an array of its own width.
    fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
        bytes.try_into().expect("field width matches the number")
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn byte_orders() {
            let mut buffer = [0x12, 0x34, 0x56, 0x78, 0];
            assert_eq!(be_u16(&buffer, 0..2), 0x1234);
            assert_eq!(le_u16(&buffer, 0..2), 0x3412);
            assert_eq!(le_u32(&buffer, 0..4), 0x7856_3412);
            set_be_u16(&mut buffer, 3..5, 0xabcd);
            assert_eq!(buffer[3..], [0xab, 0xcd]);
            set_le_u32(&mut buffer, 1..5, 0x0102_0304);
            assert_eq!(buffer, [0x12, 0x04, 0x03, 0x02, 0x01]);
        }

        #[test]
        #[should_panic]
        fn a_field_of_the_wrong_width_panics() {
            be_u16(&[1, 2, 3], 0..3);
        }
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
