//! The relay's frames (src/swarm/relay.rs): the requests a node's relay
//! reads from the control, and the answers the control reads back from a
//! node. Any bytes as either: nothing panics, the bounds hold, and what
//! decodes encodes to frames that decode to the same calls and answers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::swarm::relay::{
    decode_answers, decode_requests, encode_answer, encode_requests, MAX_CALLS, MAX_REQUEST,
};

fuzz_target!(|data: &[u8]| {
    if let Some(requests) = decode_requests(data) {
        assert!(requests.len() <= MAX_CALLS);
        for r in &requests {
            assert!(r.path.starts_with('/'));
            assert!(r.body.as_ref().is_none_or(|b| b.len() <= MAX_REQUEST));
            assert_eq!(r.body.is_some(), r.method == "POST");
        }
        assert_eq!(decode_requests(&encode_requests(&requests)), Some(requests));
    }

    if let Ok(answers) = decode_answers(data) {
        let mut body_bytes = 0;
        for answer in &answers {
            if let Ok(response) = answer {
                assert!((100..600).contains(&response.status));
                body_bytes += response.body.len();
            }
        }
        assert!(body_bytes <= data.len());
        let encoded: Vec<u8> = answers.iter().flat_map(encode_answer).collect();
        assert_eq!(decode_answers(&encoded), Ok(answers));
    }
});
