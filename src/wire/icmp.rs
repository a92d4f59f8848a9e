//! ICMPv4 (RFC 792): echo request and reply, the only messages we use.
use super::bytes::{be_u16, set_be_u16};
use super::check_min_len;
use super::{checksum, Error, Field, Rest, Result};

enum_with_unknown! {
    /// The message type field.
    pub enum Message(u8) {
        EchoReply = 0,
        EchoRequest = 8,
    }
}

mod field {
    use super::{Field, Rest};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const ECHO_DATA: Rest = 8..;
}

/// The length of an echo header.
pub const HEADER_LEN: usize = field::ECHO_DATA.start;

view!(
    /// A read/write view of an ICMPv4 message.
    Packet
);

impl<T: AsRef<[u8]>> Packet<T> {
    /// Every message we read has the 8-byte echo header.
    pub fn check_len(&self) -> Result<()> {
        check_min_len(self.buffer.as_ref(), HEADER_LEN)
    }

    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn echo_ident(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    pub fn echo_seq_no(&self) -> u16 {
        be_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::ECHO_DATA]
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = value.into()
    }

    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value
    }

    pub fn set_checksum(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::CHECKSUM, value)
    }

    pub fn set_echo_ident(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::ECHO_IDENT, value)
    }

    pub fn set_echo_seq_no(&mut self, value: u16) {
        set_be_u16(self.buffer.as_mut(), field::ECHO_SEQNO, value)
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::ECHO_DATA]
    }

    /// Computes the checksum over the whole message as it stands.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::compute(self.buffer.as_ref());
        self.set_checksum(sum)
    }
}

/// An echo request or reply; `data` borrows from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Parses an echo request or reply with a good checksum and code 0;
    /// every other message is an error.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Repr<'a>> {
        packet.check_len()?;
        if !packet.verify_checksum() || packet.msg_code() != 0 {
            return Err(Error);
        }
        let (ident, seq_no) = (packet.echo_ident(), packet.echo_seq_no());
        let data = &packet.buffer.as_ref()[field::ECHO_DATA];
        match packet.msg_type() {
            Message::EchoRequest => Ok(Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }),
            Message::EchoReply => Ok(Repr::EchoReply {
                ident,
                seq_no,
                data,
            }),
            Message::Unknown(_) => Err(Error),
        }
    }

    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
        }
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let (message, ident, seq_no, data) = match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => (Message::EchoRequest, ident, seq_no, data),
            Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => (Message::EchoReply, ident, seq_no, data),
        };
        packet.set_msg_type(message);
        packet.set_msg_code(0);
        packet.set_echo_ident(ident);
        packet.set_echo_seq_no(seq_no);
        packet.data_mut()[..data.len()].copy_from_slice(data);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static ECHO_REQUEST_BYTES: [u8; 12] = [
        0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];
    static ECHO_REPLY_BYTES: [u8; 12] = [
        0x00, 0x00, 0x29, 0x04, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd',
    ];

    fn request() -> Repr<'static> {
        Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: b"abcd",
        }
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&ECHO_REQUEST_BYTES[..]).unwrap();
        assert_eq!(packet.msg_type(), Message::EchoRequest);
        assert_eq!(packet.msg_code(), 0);
        assert_eq!(packet.checksum(), 0x2104);
        assert_eq!(packet.echo_ident(), 0x1234);
        assert_eq!(packet.echo_seq_no(), 1);
        assert_eq!(packet.data(), b"abcd");
        assert!(packet.verify_checksum());
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 12];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_msg_type(Message::EchoRequest);
        packet.set_msg_code(0);
        packet.set_echo_ident(0x1234);
        packet.set_echo_seq_no(1);
        packet.data_mut().copy_from_slice(b"abcd");
        packet.fill_checksum();
        assert_eq!(bytes, ECHO_REQUEST_BYTES);
    }

    #[test]
    fn parse() {
        let packet = Packet::new_checked(&ECHO_REQUEST_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), request());
        let packet = Packet::new_checked(&ECHO_REPLY_BYTES[..]).unwrap();
        assert_eq!(
            Repr::parse(&packet).unwrap(),
            Repr::EchoReply {
                ident: 0x1234,
                seq_no: 1,
                data: b"abcd"
            }
        );
    }

    #[test]
    fn emit() {
        let mut bytes = [0xa5; 12];
        assert_eq!(request().buffer_len(), bytes.len());
        request().emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, ECHO_REQUEST_BYTES);
    }

    #[test]
    fn junk_is_refused() {
        for len in 0..HEADER_LEN {
            assert!(
                Packet::new_checked(&ECHO_REPLY_BYTES[..len]).is_err(),
                "{len}"
            );
        }
        let mut bad_sum = ECHO_REPLY_BYTES;
        bad_sum[3] ^= 1;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bad_sum[..]).unwrap()),
            Err(Error)
        );
        // Destination unreachable, checksum fixed up: not an echo.
        let mut unreachable = ECHO_REPLY_BYTES;
        unreachable[0] = 3;
        let mut packet = Packet::new_unchecked(&mut unreachable[..]);
        packet.fill_checksum();
        assert_eq!(
            Repr::parse(&Packet::new_checked(&unreachable[..]).unwrap()),
            Err(Error)
        );
        let mut code = ECHO_REPLY_BYTES;
        code[1] = 1;
        Packet::new_unchecked(&mut code[..]).fill_checksum();
        assert_eq!(
            Repr::parse(&Packet::new_checked(&code[..]).unwrap()),
            Err(Error)
        );
    }
}
