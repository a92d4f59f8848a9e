//! IPv4: the header (a raw ICMP socket hands us whole datagrams) and CIDR
//! blocks.
use super::bytes::be_u16;
use super::{checksum, Error, Field, Result};
use core::fmt;
use std::net::Ipv4Addr;

/// The protocol number of ICMP.
pub const PROTOCOL_ICMP: u8 = 1;

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const LENGTH: Field = 2..4;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// The length of a header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

view!(
    /// A read/write view of an IPv4 datagram.
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Refuses a buffer shorter than the fixed header, than the header
    /// length field, or than the total length field, and header or total
    /// lengths that contradict each other.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error);
        }
        let header_len = usize::from(self.header_len());
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || header_len > total_len || total_len > len {
            return Err(Error);
        }
        Ok(())
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn total_len(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST_ADDR];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::verify(&self.buffer.as_ref()[..usize::from(self.header_len())])
    }

    /// The bytes after the header, up to the total length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4).
    pub fn set_version_and_header_len(&mut self, header_len: u8) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | (header_len / 4);
    }

    pub fn set_total_len(&mut self, value: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&value.to_be_bytes())
    }

    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value
    }

    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value
    }

    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets())
    }

    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets())
    }

    /// Computes the header checksum over the header as it stands.
    pub fn fill_checksum(&mut self) {
        let header_len = usize::from(self.header_len());
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let sum = checksum::compute(&self.buffer.as_ref()[..header_len]);
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes())
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// The parts of an IPv4 header we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub next_header: u8,
    pub payload_len: usize,
    pub hop_limit: u8,
}

impl Repr {
    /// Parses a header: version 4, a good checksum, not a fragment tail is
    /// not checked (a raw socket reassembles).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 4 || !packet.verify_checksum() {
            return Err(Error);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload().len(),
            hop_limit: packet.hop_limit(),
        })
    }

    /// The header length (no options are emitted).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a header without options; the payload goes after it.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let buf = packet.buffer.as_mut();
        buf[1] = 0; // DSCP, ECN
        buf[4..8].copy_from_slice(&[0, 0, 0x40, 0]); // ident 0, don't fragment
        buf[field::CHECKSUM].copy_from_slice(&[0, 0]);
        packet.set_version_and_header_len(HEADER_LEN as u8);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_hop_limit(self.hop_limit);
        packet.set_next_header(self.next_header);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

/// An IPv4 network: an address and a prefix length, host bits clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

/// Why a CIDR string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidrError {
    /// Not `a.b.c.d/n` with n in 0..=32.
    Syntax,
    /// The address has bits set past the prefix; carries the network meant.
    HostBits(Cidr),
}

/// A netmask's prefix length, if it is a contiguous run of ones.
pub fn prefix_len_of_mask(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

impl Cidr {
    /// The network `addr/prefix_len`, host bits cleared.
    pub fn new_truncating(addr: Ipv4Addr, prefix_len: u8) -> Cidr {
        let prefix_len = prefix_len.min(32);
        Cidr {
            network: Ipv4Addr::from(u32::from(addr) & Self::mask_bits(prefix_len)),
            prefix_len,
        }
    }

    fn mask_bits(prefix_len: u8) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0)
    }

    /// Parses `a.b.c.d/n`; a bare address is a /32. Host bits must be clear.
    pub fn parse(text: &str) -> core::result::Result<Cidr, CidrError> {
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, len),
            None => (text, "32"),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| CidrError::Syntax)?;
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::Syntax);
        }
        let prefix_len: u8 = len.parse().map_err(|_| CidrError::Syntax)?;
        if prefix_len > 32 {
            return Err(CidrError::Syntax);
        }
        let cidr = Cidr::new_truncating(addr, prefix_len);
        if cidr.network != addr {
            return Err(CidrError::HostBits(cidr));
        }
        Ok(cidr)
    }

    pub const fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & Self::mask_bits(self.prefix_len) == u32::from(self.network)
    }

    /// Whether every address of `other` is also in `self`.
    pub fn contains_cidr(&self, other: &Cidr) -> bool {
        other.prefix_len >= self.prefix_len && self.contains(other.network)
    }

    /// The addresses a host can have: all but the network and broadcast
    /// addresses, except in a /31 (both hosts) or a /32 (the one address).
    /// Returned as an inclusive range of integers (`first <= last`).
    pub fn host_range(&self) -> (u32, u32) {
        let first = u32::from(self.network);
        let last = first | !Self::mask_bits(self.prefix_len);
        if self.prefix_len >= 31 {
            (first, last)
        } else {
            (first + 1, last - 1)
        }
    }

    /// How many host addresses `host_range` spans.
    pub fn host_count(&self) -> u32 {
        let (first, last) = self.host_range();
        last - first + 1
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 10.0.0.5 -> 10.0.0.1, ICMP, TTL 64, 4 payload bytes.
    static PAYLOAD: [u8; 4] = [0xaa, 0xbb, 0xcc, 0xdd];
    static PACKET_BYTES: [u8; 24] = [
        0x45, 0x00, 0x00, 0x18, 0x00, 0x00, 0x40, 0x00, 0x40, 0x01, 0x26, 0xe0, 10, 0, 0, 5, 10, 0,
        0, 1, 0xaa, 0xbb, 0xcc, 0xdd,
    ];

    fn repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 5),
            dst_addr: Ipv4Addr::new(10, 0, 0, 1),
            next_header: PROTOCOL_ICMP,
            payload_len: 4,
            hop_limit: 64,
        }
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 24);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(packet.next_header(), PROTOCOL_ICMP);
        assert_eq!(packet.checksum(), 0x26e0);
        assert!(packet.verify_checksum());
        assert_eq!(packet.src_addr(), Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(packet.payload(), &PAYLOAD);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 24];
        bytes[1] = 0;
        bytes[4..8].copy_from_slice(&[0, 0, 0x40, 0]);
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version_and_header_len(20);
        packet.set_total_len(24);
        packet.set_hop_limit(64);
        packet.set_next_header(PROTOCOL_ICMP);
        packet.set_src_addr(Ipv4Addr::new(10, 0, 0, 5));
        packet.set_dst_addr(Ipv4Addr::new(10, 0, 0, 1));
        packet.fill_checksum();
        packet.payload_mut().copy_from_slice(&PAYLOAD);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn parse_and_emit() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), repr());
        let mut bytes = [0xa5; 24];
        assert_eq!(repr().buffer_len(), HEADER_LEN);
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        repr().emit(&mut packet);
        packet.payload_mut().copy_from_slice(&PAYLOAD);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn emit_into_exactly_buffer_len() {
        let mut bytes = [0xa5; HEADER_LEN];
        let repr = Repr {
            payload_len: 0,
            ..repr()
        };
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap(),
            repr
        );
    }

    #[test]
    fn bad_lengths_and_checksums_are_refused() {
        for len in 0..PACKET_BYTES.len() {
            assert!(Packet::new_checked(&PACKET_BYTES[..len]).is_err(), "{len}");
        }
        let mut short_ihl = PACKET_BYTES;
        short_ihl[0] = 0x44;
        assert!(Packet::new_checked(&short_ihl[..]).is_err());
        let mut long_ihl = PACKET_BYTES;
        long_ihl[0] = 0x4f;
        assert!(Packet::new_checked(&long_ihl[..]).is_err());
        let mut bad_sum = PACKET_BYTES;
        bad_sum[11] ^= 1;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bad_sum[..]).unwrap()),
            Err(Error)
        );
        let mut v6 = PACKET_BYTES;
        v6[0] = 0x65;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&v6[..]).unwrap()),
            Err(Error)
        );
    }

    #[test]
    fn cidr_parse() {
        let c = Cidr::parse("192.168.1.0/24").unwrap();
        assert_eq!(c.network(), Ipv4Addr::new(192, 168, 1, 0));
        assert_eq!(c.prefix_len(), 24);
        assert_eq!(c.to_string(), "192.168.1.0/24");
        assert_eq!(Cidr::parse("10.1.2.3").unwrap().prefix_len(), 32);
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().host_count(), u32::MAX - 1);
        for bad in [
            "",
            "/24",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0/24",
            "10.0.0.0/+4",
            "10.0.0.0/024",
            "10.0.0.256/24",
            "a.b.c.d/8",
            "10.0.0.0/24/1",
            " 10.0.0.0/24",
        ] {
            assert_eq!(Cidr::parse(bad), Err(CidrError::Syntax), "{bad:?}");
        }
        assert_eq!(
            Cidr::parse("10.0.0.1/24"),
            Err(CidrError::HostBits(Cidr::parse("10.0.0.0/24").unwrap()))
        );
    }

    #[test]
    fn cidr_ranges() {
        let c = Cidr::parse("10.0.0.0/24").unwrap();
        assert_eq!(
            c.host_range(),
            (
                u32::from(Ipv4Addr::new(10, 0, 0, 1)),
                u32::from(Ipv4Addr::new(10, 0, 0, 254))
            )
        );
        assert_eq!(c.host_count(), 254);
        assert!(c.contains(Ipv4Addr::new(10, 0, 0, 77)));
        assert!(!c.contains(Ipv4Addr::new(10, 0, 1, 0)));
        assert_eq!(Cidr::parse("10.0.0.0/31").unwrap().host_count(), 2);
        assert_eq!(Cidr::parse("10.0.0.7/32").unwrap().host_count(), 1);
        assert_eq!(Cidr::parse("10.0.0.0/16").unwrap().host_count(), 65534);
        assert!(c.contains_cidr(&Cidr::parse("10.0.0.128/25").unwrap()));
        assert!(!c.contains_cidr(&Cidr::parse("10.0.0.0/23").unwrap()));
        assert_eq!(Cidr::new_truncating(Ipv4Addr::new(10, 0, 0, 9), 24), c);
    }

    #[test]
    fn masks() {
        assert_eq!(
            prefix_len_of_mask(Ipv4Addr::new(255, 255, 255, 0)),
            Some(24)
        );
        assert_eq!(
            prefix_len_of_mask(Ipv4Addr::new(255, 255, 255, 255)),
            Some(32)
        );
        assert_eq!(prefix_len_of_mask(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(prefix_len_of_mask(Ipv4Addr::new(255, 0, 255, 0)), None);
    }
}
