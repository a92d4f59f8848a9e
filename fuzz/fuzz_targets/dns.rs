//! DNS: any bytes as a reply to one of our PTR queries. The query is taken
//! from the input itself (its id and question), so the fuzzer reaches the
//! answer records; names at every offset are parsed too. Nothing may
//! panic or loop, and every name stays within 255 bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::scan::lookup::{parse_reply, Reply};
use rccr::wire::dns;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = dns::Packet::new_checked(data) else {
        return;
    };
    for offset in dns::HEADER_LEN..data.len().min(64) {
        if let Ok((name, next)) = packet.parse_name(offset) {
            assert!(name.wire().len() <= dns::MAX_NAME_LEN);
            assert!(next <= data.len());
        }
    }
    let qname = match dns::Question::parse(&packet, dns::HEADER_LEN) {
        Ok((question, _)) => question.name,
        Err(_) => dns::Name::root(),
    };
    if let Some(Reply::Name(name)) = parse_reply(data, packet.transaction_id(), &qname) {
        assert!(name.to_text().len() <= 253);
    }
    if let Ok((repr, _)) = dns::Repr::parse(&packet) {
        let mut buf = vec![0xa5; repr.buffer_len()];
        repr.emit(&mut dns::Packet::new_unchecked(&mut buf[..]));
        let (again, end) = dns::Repr::parse(&dns::Packet::new_checked(&buf[..]).unwrap()).unwrap();
        assert_eq!(end, buf.len());
        assert_eq!(again.question, repr.question);
    }
});
