//! ICMP: any bytes as an IPv4 datagram (what the raw socket hands the
//! sweep) and as a bare ICMP message. Parsing must never panic, and a
//! parsed echo must emit into exactly `buffer_len()` bytes and parse back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::scan::sweep::{echo_cookie, parse_echo_reply, COOKIE_KEY_LEN, COOKIE_LEN};
use rccr::wire::{icmp, ipv4};

/// The input's datagram made into the echo reply its source would send:
/// our ident and the cookie of our request to it. A hash cannot be
/// guessed by the fuzzer, so the accepting branch is reached this way.
fn accept_reply(datagram: &[u8], ident: u16, key: &[u8; COOKIE_KEY_LEN]) {
    let mut buf = datagram.to_vec();
    let Ok(mut packet) = ipv4::Packet::new_checked(&mut buf[..]) else {
        return;
    };
    let Ok(repr) = ipv4::Repr::parse(&packet) else {
        return;
    };
    if repr.next_header != ipv4::PROTOCOL_ICMP {
        return;
    }
    let mut message = icmp::Packet::new_unchecked(packet.payload_mut());
    if message.check_len().is_err() || message.data_mut().len() != COOKIE_LEN {
        return;
    }
    message.set_msg_type(icmp::Message::EchoReply);
    message.set_msg_code(0);
    message.set_echo_ident(ident);
    message
        .data_mut()
        .copy_from_slice(&echo_cookie(key, repr.src_addr));
    message.fill_checksum();
    let seq = message.echo_seq_no();
    assert_eq!(
        parse_echo_reply(&buf, ident, key),
        Some((repr.src_addr, seq))
    );
}

fuzz_target!(|data: &[u8]| {
    // Ident and run key from the input, so any key is tried.
    if let Some((head, datagram)) = data.split_first_chunk::<{ 2 + COOKIE_KEY_LEN }>() {
        let ident = u16::from_be_bytes([head[0], head[1]]);
        let key: &[u8; COOKIE_KEY_LEN] = head[2..].try_into().unwrap();
        let _ = parse_echo_reply(datagram, ident, key);
        accept_reply(datagram, ident, key);
    }
    let _ = parse_echo_reply(data, 0x4242, &[0; COOKIE_KEY_LEN]);
    if let Ok(packet) = ipv4::Packet::new_checked(data) {
        let _ = ipv4::Repr::parse(&packet);
    }
    if let Ok(packet) = icmp::Packet::new_checked(data) {
        if let Ok(repr) = icmp::Repr::parse(&packet) {
            let mut buf = vec![0xa5; repr.buffer_len()];
            repr.emit(&mut icmp::Packet::new_unchecked(&mut buf[..]));
            let again = icmp::Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(icmp::Repr::parse(&again).unwrap(), repr);
        }
    }
});
