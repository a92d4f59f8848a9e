//! ICMP: any bytes as an IPv4 datagram (what the raw socket hands the
//! sweep) and as a bare ICMP message. Parsing must never panic, and a
//! parsed echo must emit into exactly `buffer_len()` bytes and parse back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::scan::sweep::parse_echo_reply;
use rccr::wire::{icmp, ipv4};

fuzz_target!(|data: &[u8]| {
    // Ident and cookie from the input, so matching replies are reachable.
    if data.len() >= 10 {
        let ident = u16::from_be_bytes([data[0], data[1]]);
        let _ = parse_echo_reply(&data[10..], ident, &data[2..10]);
    }
    let _ = parse_echo_reply(data, 0x4242, b"rccrscan");
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
