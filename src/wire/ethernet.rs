//! Ethernet II frames: just enough to wrap and unwrap ARP.
use super::bytes::be_u16;
use super::check_min_len;
use super::{Field, Rest, Result};
use core::fmt;

/// A 48-bit MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 6]);

impl Address {
    pub const BROADCAST: Address = Address([0xff; 6]);

    /// The address in `data`, which must be 6 bytes long.
    pub fn from_bytes(data: &[u8]) -> Address {
        let mut bytes = [0; 6];
        bytes.copy_from_slice(data);
        Address(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether a host can own this address: not zero, not a group address.
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 0x01 == 0 && self.0 != [0; 6]
    }

    /// The usual lowercase colon form, `aa:bb:cc:dd:ee:ff`.
    pub fn to_text(&self) -> [u8; 17] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b':'; 17];
        for (i, b) in self.0.iter().enumerate() {
            out[i * 3] = HEX[usize::from(b >> 4)];
            out[i * 3 + 1] = HEX[usize::from(b & 0xf)];
        }
        out
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_text();
        f.write_str(core::str::from_utf8(&text).unwrap_or("?"))
    }
}

enum_with_unknown! {
    /// The EtherType field.
    pub enum EtherType(u16) {
        Ipv4 = 0x0800,
        Arp = 0x0806,
    }
}

mod field {
    use super::{Field, Rest};
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = 14..;
}

/// The length of an Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

view!(
    /// A read/write view of an Ethernet II frame.
    Frame
);

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn check_len(&self) -> Result<()> {
        check_min_len(self.buffer.as_ref(), HEADER_LEN)
    }

    /// The frame length for a payload of `payload_len` bytes.
    pub const fn buffer_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    pub fn dst_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    pub fn src_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    pub fn ethertype(&self) -> EtherType {
        EtherType::from(be_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, value: Address) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(value.as_bytes())
    }

    pub fn set_src_addr(&mut self, value: Address) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(value.as_bytes())
    }

    pub fn set_ethertype(&mut self, value: EtherType) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&u16::from(value).to_be_bytes())
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The meaning of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Address,
    pub dst_addr: Address,
    pub ethertype: EtherType,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        frame.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Error;

    // A broadcast ARP frame header from 02:00:00:00:00:01, four payload bytes.
    static FRAME_BYTES: [u8; 18] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0xaa,
        0xbb, 0xcc, 0xdd,
    ];

    static SRC: Address = Address([0x02, 0, 0, 0, 0, 0x01]);

    #[test]
    fn deconstruct() {
        let frame = Frame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(frame.dst_addr(), Address::BROADCAST);
        assert_eq!(frame.src_addr(), SRC);
        assert_eq!(frame.ethertype(), EtherType::Arp);
        assert_eq!(frame.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 18];
        let mut frame = Frame::new_unchecked(&mut bytes[..]);
        frame.set_dst_addr(Address::BROADCAST);
        frame.set_src_addr(SRC);
        frame.set_ethertype(EtherType::Arp);
        frame
            .payload_mut()
            .copy_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(bytes, FRAME_BYTES);
    }

    #[test]
    fn parse_and_emit() {
        let repr = Repr::parse(&Frame::new_checked(&FRAME_BYTES[..]).unwrap()).unwrap();
        assert_eq!(repr.ethertype, EtherType::Arp);
        let mut bytes = [0xa5; HEADER_LEN];
        assert_eq!(repr.buffer_len(), bytes.len());
        repr.emit(&mut Frame::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, FRAME_BYTES[..HEADER_LEN]);
    }

    #[test]
    fn truncated_is_refused() {
        assert_eq!(Frame::new_checked(&FRAME_BYTES[..13]).unwrap_err(), Error);
    }

    #[test]
    fn address_text_round_trips() {
        let addr = Address([0xaa, 0xbb, 0x0c, 0xdd, 0xee, 0xff]);
        assert_eq!(&addr.to_text(), b"aa:bb:0c:dd:ee:ff");
        assert!(addr.is_unicast());
        assert!(!Address::BROADCAST.is_unicast());
        assert!(!Address([0; 6]).is_unicast());
    }
}
