//! DNS messages (RFC 1035): queries and the answers a reverse lookup needs.
//!
//! Names are read with compression pointers, which must point strictly
//! backwards (to a prior occurrence, as RFC 1035 4.1.4 describes): each
//! pointer then lands before the one that led to it, so a name cannot loop,
//! and a name longer than 255 bytes is refused whatever the pointers do.
use super::bytes::{be_u16, set_be_u16};
use super::check_min_len;
use super::{Error, Field, Result};
use std::net::Ipv4Addr;

/// The longest name on the wire, length bytes and final zero included.
pub const MAX_NAME_LEN: usize = 255;
/// The longest label.
pub const MAX_LABEL_LEN: usize = 63;
/// The largest message we accept over UDP (we send no EDNS option).
pub const MAX_UDP_LEN: usize = 512;
/// The class IN.
pub const CLASS_IN: u16 = 1;

/// Header flag bits.
pub mod flags {
    pub const RESPONSE: u16 = 0x8000;
    pub const OPCODE_MASK: u16 = 0x7800;
    pub const AUTHORITATIVE: u16 = 0x0400;
    pub const TRUNCATED: u16 = 0x0200;
    pub const RECURSION_DESIRED: u16 = 0x0100;
    pub const RECURSION_AVAILABLE: u16 = 0x0080;
    pub const RCODE_MASK: u16 = 0x000f;
}

/// Response codes we tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    Other(u8),
}

impl From<u16> for Rcode {
    fn from(flags: u16) -> Self {
        match flags & flags::RCODE_MASK {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            3 => Rcode::NxDomain,
            other => Rcode::Other(other as u8),
        }
    }
}

enum_with_unknown! {
    /// Record and query types.
    pub enum Type(u16) {
        A = 1,
        Ns = 2,
        Cname = 5,
        Ptr = 12,
    }
}

mod field {
    use super::Field;
    pub const ID: Field = 0..2;
    pub const FLAGS: Field = 2..4;
    pub const QDCOUNT: Field = 4..6;
    pub const ANCOUNT: Field = 6..8;
    pub const NSCOUNT: Field = 8..10;
    pub const ARCOUNT: Field = 10..12;
}

/// The length of the header; the question section follows it.
pub const HEADER_LEN: usize = field::ARCOUNT.end;

/// A domain name in uncompressed wire form: length-prefixed labels and the
/// final zero, at most [`MAX_NAME_LEN`] bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Name {
    wire: heapless::Vec<u8, MAX_NAME_LEN>,
}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Name({:?})", String::from_utf8_lossy(&self.to_text()))
    }
}

impl Name {
    /// The root name (a lone zero byte).
    pub fn root() -> Name {
        let mut wire = heapless::Vec::new();
        let _ = wire.push(0);
        Name { wire }
    }

    /// Builds a name from dotted text (`host.example.`); each label must be
    /// 1..=63 bytes and the whole at most 255 on the wire.
    pub fn from_dotted(text: &str) -> Option<Name> {
        let text = text.strip_suffix('.').unwrap_or(text);
        let mut name = Name {
            wire: heapless::Vec::new(),
        };
        if !text.is_empty() {
            for label in text.split('.') {
                name.push_label(label.as_bytes()).ok()?;
            }
        }
        name.wire.push(0).ok()?;
        Some(name)
    }

    /// The reverse-lookup name of `addr`: `d.c.b.a.in-addr.arpa`.
    pub fn reverse_ipv4(addr: Ipv4Addr) -> Name {
        let mut name = Name {
            wire: heapless::Vec::new(),
        };
        for octet in addr.octets().iter().rev() {
            let mut digits: heapless::Vec<u8, 3> = heapless::Vec::new();
            let mut n = *octet;
            loop {
                let _ = digits.insert(0, b'0' + n % 10);
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let _ = name.push_label(&digits);
        }
        let _ = name.push_label(b"in-addr");
        let _ = name.push_label(b"arpa");
        let _ = name.wire.push(0);
        name
    }

    /// Appends one label (not the final zero).
    fn push_label(&mut self, label: &[u8]) -> Result<()> {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return Err(Error);
        }
        // Leave room for the final zero.
        if self.wire.len() + 1 + label.len() + 1 > MAX_NAME_LEN {
            return Err(Error);
        }
        let _ = self.wire.push(label.len() as u8);
        let _ = self.wire.extend_from_slice(label);
        Ok(())
    }

    /// The uncompressed wire form.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// The labels, in order, without the root.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest: &[u8] = &self.wire;
        core::iter::from_fn(move || {
            let (&len, tail) = rest.split_first()?;
            if len == 0 {
                return None;
            }
            let (label, tail) = tail.split_at(usize::from(len));
            rest = tail;
            Some(label)
        })
    }

    /// Whether two names are equal, ignoring ASCII case (RFC 4343).
    pub fn eq_ignore_ascii_case(&self, other: &Name) -> bool {
        self.wire.eq_ignore_ascii_case(&other.wire)
    }

    /// The labels joined with dots, no trailing dot, bytes as they came:
    /// at most 253 bytes. The root is empty.
    pub fn to_text(&self) -> heapless::Vec<u8, { MAX_NAME_LEN - 2 }> {
        let mut text = heapless::Vec::new();
        for label in self.labels() {
            if !text.is_empty() {
                let _ = text.push(b'.');
            }
            let _ = text.extend_from_slice(label);
        }
        text
    }
}

view!(
    /// A read/write view of a DNS message.
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Only the header is fixed; sections are bounds-checked as they are read.
    pub fn check_len(&self) -> Result<()> {
        check_min_len(self.buffer.as_ref(), HEADER_LEN)
    }

    pub fn transaction_id(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::ID)
    }

    pub fn flags(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::FLAGS)
    }

    pub fn rcode(&self) -> Rcode {
        Rcode::from(self.flags())
    }

    pub fn question_count(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::QDCOUNT)
    }

    pub fn answer_count(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::ANCOUNT)
    }

    pub fn authority_count(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::NSCOUNT)
    }

    pub fn additional_count(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::ARCOUNT)
    }

    /// Reads the (possibly compressed) name at `offset`. Returns it and the
    /// offset just past it where it starts (past the first pointer, if any).
    pub fn parse_name(&self, offset: usize) -> Result<(Name, usize)> {
        let buf = self.buffer.as_ref();
        let mut name = Name {
            wire: heapless::Vec::new(),
        };
        let mut pos = offset;
        // Where the current run of labels began: a pointer must go below it.
        let mut run_start = offset;
        let mut next = None;
        loop {
            let len = *buf.get(pos).ok_or(Error)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    name.wire.push(0).map_err(|_| Error)?;
                    return Ok((name, next.unwrap_or(pos + 1)));
                }
                0x00 => {
                    let label = buf.get(pos + 1..pos + 1 + usize::from(len)).ok_or(Error)?;
                    name.push_label(label)?;
                    pos += 1 + usize::from(len);
                }
                0xc0 => {
                    let low = *buf.get(pos + 1).ok_or(Error)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                    if target >= run_start {
                        return Err(Error);
                    }
                    next.get_or_insert(pos + 2);
                    pos = target;
                    run_start = target;
                }
                // 0x40 and 0x80 are extended label types, obsolete.
                _ => return Err(Error),
            }
        }
    }

    fn u16_from(&self, offset: usize) -> Result<u16> {
        let b = self.buffer.as_ref().get(offset..offset + 2).ok_or(Error)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_transaction_id(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::ID, value)
    }

    pub fn set_flags(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::FLAGS, value)
    }

    pub fn set_question_count(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::QDCOUNT, value)
    }

    pub fn set_answer_count(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::ANCOUNT, value)
    }

    pub fn set_authority_count(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::NSCOUNT, value)
    }

    pub fn set_additional_count(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::ARCOUNT, value)
    }

    /// The bytes after the header.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// A question: a name and a type, class IN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub type_: Type,
}

impl Question {
    /// Parses the question at `offset`; returns it and the offset after it.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, offset: usize) -> Result<(Question, usize)> {
        let (name, at) = packet.parse_name(offset)?;
        let type_ = Type::from(packet.u16_from(at)?);
        if packet.u16_from(at + 2)? != CLASS_IN {
            return Err(Error);
        }
        Ok((Question { name, type_ }, at + 4))
    }

    pub fn buffer_len(&self) -> usize {
        self.name.wire().len() + 4
    }

    /// Writes the question (uncompressed) at the start of `buf`, which must
    /// hold `buffer_len()` bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let name = self.name.wire();
        buf[..name.len()].copy_from_slice(name);
        buf[name.len()..name.len() + 2].copy_from_slice(&u16::from(self.type_).to_be_bytes());
        buf[name.len() + 2..name.len() + 4].copy_from_slice(&CLASS_IN.to_be_bytes());
    }
}

/// What a resource record carries, as far as we read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    Ptr(Name),
    Cname(Name),
    /// Any other type, or a class other than IN: skipped.
    Other(Type),
}

/// A resource record of the answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub ttl: u32,
    pub data: RecordData,
}

impl Record {
    /// Parses the record at `offset`; returns it and the offset after it.
    /// A PTR or CNAME target must fill its RDATA exactly.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, offset: usize) -> Result<(Record, usize)> {
        let (name, at) = packet.parse_name(offset)?;
        let type_ = Type::from(packet.u16_from(at)?);
        let class = packet.u16_from(at + 2)?;
        let ttl_hi = packet.u16_from(at + 4)?;
        let ttl_lo = packet.u16_from(at + 6)?;
        let rdlen = usize::from(packet.u16_from(at + 8)?);
        let rdata = at + 10;
        let end = rdata + rdlen;
        if end > packet.buffer.as_ref().len() {
            return Err(Error);
        }
        let data = match type_ {
            Type::Ptr | Type::Cname if class == CLASS_IN => {
                let (target, after) = packet.parse_name(rdata)?;
                if after != end {
                    return Err(Error);
                }
                if type_ == Type::Ptr {
                    RecordData::Ptr(target)
                } else {
                    RecordData::Cname(target)
                }
            }
            other => RecordData::Other(other),
        };
        let ttl = u32::from(ttl_hi) << 16 | u32::from(ttl_lo);
        Ok((Record { name, ttl, data }, end))
    }
}

/// A message with one question: a query, or the start of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repr {
    pub transaction_id: u16,
    pub flags: u16,
    pub question: Question,
}

impl Repr {
    /// A recursive query for `name` of type `type_`.
    pub fn query(transaction_id: u16, name: Name, type_: Type) -> Repr {
        Repr {
            transaction_id,
            flags: flags::RECURSION_DESIRED,
            question: Question { name, type_ },
        }
    }

    /// Parses the header and the one question; the answers start at the
    /// offset returned.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<(Repr, usize)> {
        packet.check_len()?;
        if packet.question_count() != 1 {
            return Err(Error);
        }
        let (question, at) = Question::parse(packet, HEADER_LEN)?;
        let repr = Repr {
            transaction_id: packet.transaction_id(),
            flags: packet.flags(),
            question,
        };
        Ok((repr, at))
    }

    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.question.buffer_len()
    }

    /// Writes the header (one question, no records) and the question.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_transaction_id(self.transaction_id);
        packet.set_flags(self.flags);
        packet.set_question_count(1);
        packet.set_answer_count(0);
        packet.set_authority_count(0);
        packet.set_additional_count(0);
        self.question.emit(packet.payload_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Query id 0x1234, RD, PTR 5.0.0.10.in-addr.arpa IN.
    static QUERY_BYTES: [u8; 39] = [
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        1, b'5', 1, b'0', 1, b'0', 2, b'1', b'0', 7, b'i', b'n', b'-', b'a', b'd', b'd', b'r', 4,
        b'a', b'r', b'p', b'a', 0, //
        0x00, 0x0c, 0x00, 0x01,
    ];

    // The response: QR RD RA, one answer, its owner a pointer to the
    // question, PTR node-1.lan (label "lan" then pointer... no: plain).
    static RESPONSE_BYTES: [u8; 63] = [
        0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, //
        1, b'5', 1, b'0', 1, b'0', 2, b'1', b'0', 7, b'i', b'n', b'-', b'a', b'd', b'd', b'r', 4,
        b'a', b'r', b'p', b'a', 0, //
        0x00, 0x0c, 0x00, 0x01, //
        0xc0, 0x0c, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x0c, //
        6, b'n', b'o', b'd', b'e', b'-', b'1', 3, b'l', b'a', b'n', 0,
    ];

    fn query() -> Repr {
        Repr::query(
            0x1234,
            Name::reverse_ipv4(Ipv4Addr::new(10, 0, 0, 5)),
            Type::Ptr,
        )
    }

    #[test]
    fn reverse_name() {
        let name = Name::reverse_ipv4(Ipv4Addr::new(192, 168, 0, 10));
        assert_eq!(&name.to_text()[..], b"10.0.168.192.in-addr.arpa");
        assert_eq!(
            name,
            Name::from_dotted("10.0.168.192.in-addr.arpa.").unwrap()
        );
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&RESPONSE_BYTES[..]).unwrap();
        assert_eq!(packet.transaction_id(), 0x1234);
        assert_eq!(packet.flags(), 0x8180);
        assert_eq!(packet.rcode(), Rcode::NoError);
        assert_eq!(packet.question_count(), 1);
        assert_eq!(packet.answer_count(), 1);
        assert_eq!(packet.authority_count(), 0);
        assert_eq!(packet.additional_count(), 0);
        let (name, at) = packet.parse_name(HEADER_LEN).unwrap();
        assert_eq!(&name.to_text()[..], b"5.0.0.10.in-addr.arpa");
        assert_eq!(at, 35);
        // The answer's owner is a pointer back to the question name.
        let (owner, at) = packet.parse_name(39).unwrap();
        assert_eq!(owner, name);
        assert_eq!(at, 41);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 39];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_transaction_id(0x1234);
        packet.set_flags(flags::RECURSION_DESIRED);
        packet.set_question_count(1);
        packet.set_answer_count(0);
        packet.set_authority_count(0);
        packet.set_additional_count(0);
        query().question.emit(packet.payload_mut());
        assert_eq!(bytes, QUERY_BYTES);
    }

    #[test]
    fn parse_query() {
        let packet = Packet::new_checked(&QUERY_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), (query(), QUERY_BYTES.len()));
    }

    #[test]
    fn emit_query() {
        let mut bytes = [0xa5; 39];
        assert_eq!(query().buffer_len(), bytes.len());
        query().emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, QUERY_BYTES);
    }

    #[test]
    fn parse_response() {
        let packet = Packet::new_checked(&RESPONSE_BYTES[..]).unwrap();
        let (repr, at) = Repr::parse(&packet).unwrap();
        assert_eq!(repr.question, query().question);
        assert_eq!(repr.flags & flags::RESPONSE, flags::RESPONSE);
        let (record, end) = Record::parse(&packet, at).unwrap();
        assert_eq!(end, RESPONSE_BYTES.len());
        assert!(record.name.eq_ignore_ascii_case(&repr.question.name));
        assert_eq!(record.ttl, 3600);
        assert_eq!(
            record.data,
            RecordData::Ptr(Name::from_dotted("node-1.lan").unwrap())
        );
    }

    #[test]
    fn truncated_response_is_refused_at_every_length() {
        for len in 0..RESPONSE_BYTES.len() {
            let Ok(packet) = Packet::new_checked(&RESPONSE_BYTES[..len]) else {
                assert!(len < HEADER_LEN);
                continue;
            };
            let parsed = Repr::parse(&packet).and_then(|(_, at)| Record::parse(&packet, at));
            assert!(parsed.is_err(), "{len}");
        }
    }

    #[test]
    fn pointer_loops_are_refused() {
        let mut bytes = [0u8; 16];
        // A pointer to itself.
        bytes[12..14].copy_from_slice(&[0xc0, 12]);
        assert_eq!(
            Packet::new_unchecked(&bytes[..])
                .parse_name(12)
                .unwrap_err(),
            Error
        );
        // A label then a pointer back to that label.
        let bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'a', 0xc0, 12];
        assert_eq!(
            Packet::new_unchecked(&bytes[..])
                .parse_name(12)
                .unwrap_err(),
            Error
        );
        // Two pointers to each other.
        let bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0xc0, 12];
        assert_eq!(
            Packet::new_unchecked(&bytes[..])
                .parse_name(12)
                .unwrap_err(),
            Error
        );
        assert_eq!(
            Packet::new_unchecked(&bytes[..])
                .parse_name(14)
                .unwrap_err(),
            Error
        );
    }

    #[test]
    fn backward_pointer_chains_resolve() {
        // "b" + ptr -> "a" + ptr -> root at 12.
        let bytes = [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'a', 0xc0, 12, 1, b'b', 0xc0, 13,
        ];
        let (name, at) = Packet::new_unchecked(&bytes[..]).parse_name(17).unwrap();
        assert_eq!(&name.to_text()[..], b"b.a");
        assert_eq!(at, bytes.len());
    }

    #[test]
    fn overlong_names_are_refused() {
        // 5 labels of 63 bytes: 320 bytes, over 255.
        let mut bytes = vec![0u8; HEADER_LEN];
        for _ in 0..5 {
            bytes.push(63);
            bytes.extend_from_slice(&[b'x'; 63]);
        }
        bytes.push(0);
        assert_eq!(
            Packet::new_unchecked(&bytes[..])
                .parse_name(HEADER_LEN)
                .unwrap_err(),
            Error
        );
        // Exactly 255: three labels of 63, one of 61, and the zero.
        let mut bytes = vec![0u8; HEADER_LEN];
        for len in [63, 63, 63, 61] {
            bytes.push(len);
            bytes.extend(std::iter::repeat_n(b'y', usize::from(len)));
        }
        bytes.push(0);
        let (name, _) = Packet::new_unchecked(&bytes[..])
            .parse_name(HEADER_LEN)
            .unwrap();
        assert_eq!(name.wire().len(), 255);
        assert_eq!(name.to_text().len(), 253);
        assert!(Name::from_dotted(&"z".repeat(64)).is_none());
    }

    #[test]
    fn extended_label_types_are_refused() {
        let bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0];
        assert!(Packet::new_unchecked(&bytes[..]).parse_name(12).is_err());
        let bytes = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0];
        assert!(Packet::new_unchecked(&bytes[..]).parse_name(12).is_err());
    }

    #[test]
    fn ptr_must_fill_its_rdata() {
        let mut bytes = RESPONSE_BYTES;
        bytes[50] = 0x0d; // RDLENGTH one more than the name
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        let (_, at) = Repr::parse(&packet).unwrap();
        assert!(Record::parse(&packet, at).is_err());
    }

    #[test]
    fn names_compare_ignoring_case() {
        let a = Name::from_dotted("Node-1.LAN").unwrap();
        let b = Name::from_dotted("node-1.lan.").unwrap();
        assert!(a.eq_ignore_ascii_case(&b));
        assert_ne!(a, b);
        assert_eq!(Name::root().to_text().len(), 0);
        assert_eq!(Name::from_dotted("").unwrap(), Name::root());
        assert!(Name::from_dotted("a..b").is_none());
    }
}
