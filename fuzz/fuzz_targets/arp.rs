//! ARP: any bytes as an Ethernet frame (what the packet socket hands the
//! sweep) and as a bare ARP packet. Parsing must never panic, and whatever
//! parses must emit into exactly `buffer_len()` bytes and parse back equal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::scan::sweep::parse_arp_reply;
use rccr::wire::arp;
use rccr::wire::ethernet::Address;

fuzz_target!(|data: &[u8]| {
    let _ = parse_arp_reply(data, Address([0x02, 0, 0, 0, 0, 0x01]));
    if let Ok(packet) = arp::Packet::new_checked(data) {
        if let Ok(repr) = arp::Repr::parse(&packet) {
            let mut buf = vec![0xa5; repr.buffer_len()];
            repr.emit(&mut arp::Packet::new_unchecked(&mut buf[..]));
            let again = arp::Repr::parse(&arp::Packet::new_checked(&buf[..]).unwrap()).unwrap();
            assert_eq!(again, repr);
        }
    }
});
