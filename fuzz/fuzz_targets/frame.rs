//! The node protocol: the frame a step sends (cksum line, then bytes) and
//! the bounded readers under it (a node's facts: the `facts` target). Any
//! bytes as a frame: nothing panics, never more than the bound is kept,
//! and a frame that is taken is exactly the encoding of what it carries.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::keys::frame::{self, FrameError, MAX_FILE};
use rccr::ssh::stream::{read_to_end, read_until, ReadError};

fuzz_target!(|data: &[u8]| {
    match frame::read(&mut &data[..]) {
        Ok(Some(content)) => {
            assert!(content.len() <= MAX_FILE);
            // The encoding, or (an empty file, as remote.sh reads it too)
            // its header without the newline.
            let encoded = frame::encode(&content);
            assert!(
                encoded == data || content.is_empty() && encoded[..encoded.len() - 1] == *data,
                "{data:?}"
            );
        }
        Ok(None) => assert!(data.is_empty() || data[0] == b'\n'),
        Err(FrameError::TooLarge) | Err(FrameError::Incomplete) => {}
        Err(FrameError::Io(never)) => match never {},
    }
    if data.len() <= MAX_FILE {
        assert_eq!(
            frame::read(&mut &frame::encode(data)[..])
                .unwrap()
                .as_deref(),
            Some(data)
        );
    }

    let limit = data.first().map_or(0, |b| usize::from(*b));
    let mut out = Vec::new();
    match read_to_end(&mut &data[..], &mut out, limit) {
        Ok(()) => assert_eq!(out, data),
        Err(ReadError::TooLarge(_)) => assert_eq!(out.len(), limit + 1),
        Err(ReadError::Io(never)) => match never {},
    }
    let mut out = Vec::new();
    match read_until(&mut &data[..], &mut out, b"\nEND\n", limit) {
        Ok(true) => assert!(out.ends_with(b"\nEND\n") && out.len() <= limit),
        Ok(false) => assert_eq!(out, data),
        Err(ReadError::TooLarge(_)) => assert!(out.len() > limit),
        Err(ReadError::Io(never)) => match never {},
    }
});
