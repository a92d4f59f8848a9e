//! ARP (RFC 826) for Ethernet and IPv4.
use super::bytes::{be_u16, set_be_u16};
use super::ethernet::Address as EthernetAddress;
use super::{Error, Field, Result};
use std::net::Ipv4Addr;

enum_with_unknown! {
    /// The operation field.
    pub enum Operation(u16) {
        Request = 1,
        Reply = 2,
    }
}

/// The hardware type for Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// The protocol type for IPv4 (its EtherType).
pub const PTYPE_IPV4: u16 = 0x0800;

/// Where the operation is, from the packet's start (for a kernel filter).
pub const OPERATION_AT: usize = field::OPER.start;
/// Where an Ethernet and IPv4 packet's target hardware address is.
pub const ETHERNET_IPV4_THA_AT: usize = field::THA(6, 4).start;

#[allow(non_snake_case)]
mod field {
    use super::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;

    // The addresses follow, their lengths given by HLEN and PLEN.
    pub const fn SHA(hlen: u8, _plen: u8) -> Field {
        OPER.end..OPER.end + hlen as usize
    }
    pub const fn SPA(hlen: u8, plen: u8) -> Field {
        let start = SHA(hlen, plen).end;
        start..start + plen as usize
    }
    pub const fn THA(hlen: u8, plen: u8) -> Field {
        let start = SPA(hlen, plen).end;
        start..start + hlen as usize
    }
    pub const fn TPA(hlen: u8, plen: u8) -> Field {
        let start = THA(hlen, plen).end;
        start..start + plen as usize
    }
}

view!(
    /// A read/write view of an ARP packet.
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::OPER.end {
            return Err(Error);
        }
        if len < field::TPA(self.hardware_len(), self.protocol_len()).end {
            return Err(Error);
        }
        Ok(())
    }

    pub fn hardware_type(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::HTYPE)
    }

    pub fn protocol_type(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::PTYPE)
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn operation(&self) -> Operation {
        Operation::from(be_u16(self.buffer.as_ref(), field::OPER))
    }

    pub fn source_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SHA(self.hardware_len(), self.protocol_len())]
    }

    pub fn source_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SPA(self.hardware_len(), self.protocol_len())]
    }

    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::THA(self.hardware_len(), self.protocol_len())]
    }

    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::TPA(self.hardware_len(), self.protocol_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_hardware_type(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::HTYPE, value)
    }

    pub fn set_protocol_type(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::PTYPE, value)
    }

    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value
    }

    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value
    }

    pub fn set_operation(&mut self, value: Operation) {
        set_be_u16(self.buffer.as_mut(), field::OPER, value.into())
    }

    fn set_addr(&mut self, f: fn(u8, u8) -> Field, value: &[u8]) {
        let (hlen, plen) = (self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[f(hlen, plen)].copy_from_slice(value)
    }

    /// Set the hardware and protocol lengths first: they place this field.
    pub fn set_source_hardware_addr(&mut self, value: &[u8]) {
        self.set_addr(field::SHA, value)
    }

    pub fn set_source_protocol_addr(&mut self, value: &[u8]) {
        self.set_addr(field::SPA, value)
    }

    pub fn set_target_hardware_addr(&mut self, value: &[u8]) {
        self.set_addr(field::THA, value)
    }

    pub fn set_target_protocol_addr(&mut self, value: &[u8]) {
        self.set_addr(field::TPA, value)
    }
}

/// The meaning of an ARP packet for Ethernet and IPv4, the only kind we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub operation: Operation,
    pub source_hardware_addr: EthernetAddress,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: EthernetAddress,
    pub target_protocol_addr: Ipv4Addr,
}

fn ipv4(bytes: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])
}

impl Repr {
    /// Parses an Ethernet/IPv4 ARP packet; any other kind is an error.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != PTYPE_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error);
        }
        Ok(Repr {
            operation: packet.operation(),
            source_hardware_addr: EthernetAddress::from_bytes(packet.source_hardware_addr()),
            source_protocol_addr: ipv4(packet.source_protocol_addr()),
            target_hardware_addr: EthernetAddress::from_bytes(packet.target_hardware_addr()),
            target_protocol_addr: ipv4(packet.target_protocol_addr()),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        field::TPA(6, 4).end
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(self.source_hardware_addr.as_bytes());
        packet.set_source_protocol_addr(&self.source_protocol_addr.octets());
        packet.set_target_hardware_addr(self.target_hardware_addr.as_bytes());
        packet.set_target_protocol_addr(&self.target_protocol_addr.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Who has 10.0.0.5? Tell 10.0.0.1 (02:00:00:00:00:01).
    static PACKET_BYTES: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0,
        0, 1, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 5,
    ];

    fn repr() -> Repr {
        Repr {
            operation: Operation::Request,
            source_hardware_addr: EthernetAddress([0x02, 0, 0, 0, 0, 0x01]),
            source_protocol_addr: Ipv4Addr::new(10, 0, 0, 1),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: Ipv4Addr::new(10, 0, 0, 5),
        }
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.hardware_type(), 1);
        assert_eq!(packet.protocol_type(), 0x0800);
        assert_eq!(packet.hardware_len(), 6);
        assert_eq!(packet.protocol_len(), 4);
        assert_eq!(packet.operation(), Operation::Request);
        assert_eq!(packet.source_hardware_addr(), &[0x02, 0, 0, 0, 0, 0x01]);
        assert_eq!(packet.source_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(packet.target_hardware_addr(), &[0; 6]);
        assert_eq!(packet.target_protocol_addr(), &[10, 0, 0, 5]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 28];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_hardware_type(1);
        packet.set_protocol_type(0x0800);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(Operation::Request);
        packet.set_source_hardware_addr(&[0x02, 0, 0, 0, 0, 0x01]);
        packet.set_source_protocol_addr(&[10, 0, 0, 1]);
        packet.set_target_hardware_addr(&[0; 6]);
        packet.set_target_protocol_addr(&[10, 0, 0, 5]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), repr());
    }

    #[test]
    fn emit() {
        let mut bytes = [0xa5; 28];
        assert_eq!(repr().buffer_len(), bytes.len());
        repr().emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn truncated_at_every_length_is_refused() {
        for len in 0..PACKET_BYTES.len() {
            assert!(Packet::new_checked(&PACKET_BYTES[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn length_fields_bound_the_addresses() {
        // hlen 255 claims far more bytes than there are.
        let mut bytes = PACKET_BYTES;
        bytes[4] = 0xff;
        assert!(Packet::new_checked(&bytes[..]).is_err());
    }

    #[test]
    fn other_hardware_or_protocol_is_refused() {
        for (at, value) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut bytes = [0u8; 64];
            bytes[..28].copy_from_slice(&PACKET_BYTES);
            bytes[at] = value;
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            assert_eq!(Repr::parse(&packet), Err(Error), "byte {at}");
        }
    }

    #[test]
    fn trailing_padding_is_ignored() {
        let mut bytes = [0u8; 46];
        bytes[..28].copy_from_slice(&PACKET_BYTES);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), repr());
    }
}
