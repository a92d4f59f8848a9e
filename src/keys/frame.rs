//! The frame a rotation step sends to a node: the file to install as its
//! POSIX `cksum` line (CRC and length) and the bytes,
//!
//! ```text
//! 3733384285 12
//! hello world
//! ```
//!
//! so that a file cut short by a lost link is never installed. Written and
//! read on `embedded_io::{Read, Write}`: the node reads it from stdin, the
//! tests from a buffer, with one bound on its size ([`MAX_FILE`]).
//! `remote.sh` reads the same frame to its end into a file, then splits it
//! with `read` and `tail` and checks it with `cksum`.
use super::authorized::cksum_line;
use crate::ssh::stream::{self, ReadError};
use embedded_io::{Read, Write};

/// The largest `authorized_keys` the protocol carries, either way.
pub const MAX_FILE: usize = 1 << 20;
/// The longest header: `4294967295 1048576`.
const MAX_HEADER: usize = 32;

/// Writes `content` as a frame.
pub fn write<W: Write>(out: &mut W, content: &[u8]) -> Result<(), W::Error> {
    out.write_all(cksum_line(content).as_bytes())?;
    out.write_all(b"\n")?;
    out.write_all(content)
}

/// `content` as a frame, in memory.
pub fn encode(content: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(content.len() + MAX_HEADER);
    let mut sink = stream::Stream::new(&mut frame);
    // Writing to a Vec cannot fail.
    let _ = write(&mut sink, content);
    frame
}

/// Why a frame was not taken.
#[derive(Debug)]
pub enum FrameError<E> {
    Io(E),
    /// Shorter (or other) than its `cksum` line says: a lost link.
    Incomplete,
    /// More than [`MAX_FILE`] bytes.
    TooLarge,
}

/// Reads the one frame of `input` (to its end). `None` when the sender
/// sent nothing, or an empty header line: "change nothing".
pub fn read<R: Read>(input: &mut R) -> Result<Option<Vec<u8>>, FrameError<R::Error>> {
    let mut bytes = Vec::new();
    stream::read_to_end(input, &mut bytes, MAX_HEADER + MAX_FILE).map_err(|e| match e {
        ReadError::Io(e) => FrameError::Io(e),
        ReadError::TooLarge(_) => FrameError::TooLarge,
    })?;
    let (header, content) = match bytes.iter().position(|b| *b == b'\n') {
        Some(end) => (&bytes[..end], &bytes[end + 1..]),
        None => (&bytes[..], &[][..]),
    };
    if header.is_empty() {
        return Ok(None);
    }
    let declared = header
        .rsplit(|b| *b == b' ')
        .next()
        .and_then(|len| core::str::from_utf8(len).ok())
        .and_then(|len| len.parse::<usize>().ok());
    if content.len() > MAX_FILE || declared.is_some_and(|len| len > MAX_FILE) {
        return Err(FrameError::TooLarge);
    }
    if cksum_line(content).as_bytes() != header {
        return Err(FrameError::Incomplete);
    }
    Ok(Some(content.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(
        mut bytes: &[u8],
    ) -> Result<Option<Vec<u8>>, FrameError<core::convert::Infallible>> {
        read(&mut bytes)
    }

    #[test]
    fn frames_round_trip() {
        for content in [&b""[..], b"hello world\n", b"\n\n\x00\xff", &[b'k'; 5000]] {
            let frame = encode(content);
            assert_eq!(read_all(&frame).unwrap().as_deref(), Some(content));
        }
        assert_eq!(encode(b"hello world\n"), b"3733384285 12\nhello world\n");
        // Written into a fixed buffer: exactly the frame, nothing else.
        let mut buf = [0xa5u8; 26];
        let mut out = &mut buf[..];
        write(&mut out, b"hello world\n").unwrap();
        assert_eq!(&buf[..], b"3733384285 12\nhello world\n");
    }

    #[test]
    fn nothing_means_no_change() {
        assert_eq!(read_all(b"").unwrap(), None);
        assert_eq!(read_all(b"\nwhatever").unwrap(), None);
    }

    #[test]
    fn a_frame_cut_short_or_padded_is_refused() {
        let frame = encode(b"ssh-ed25519 AAAA new\n");
        for cut in [frame.len() - 1, frame.len() - 10, 5] {
            assert!(
                matches!(read_all(&frame[..cut]), Err(FrameError::Incomplete)),
                "{cut}"
            );
        }
        let padded = [&frame[..], b"x"].concat();
        assert!(matches!(read_all(&padded), Err(FrameError::Incomplete)));
        assert!(matches!(read_all(b"garbage"), Err(FrameError::Incomplete)));
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_without_reading_on() {
        let big = vec![b'k'; MAX_FILE + 1];
        assert!(matches!(read_all(&encode(&big)), Err(FrameError::TooLarge)));
        // A header that announces too much is refused as such, as remote.sh does.
        assert!(matches!(
            read_all(b"1 1048577\nshort"),
            Err(FrameError::TooLarge)
        ));
        let exact = vec![b'k'; MAX_FILE];
        assert_eq!(read_all(&encode(&exact)).unwrap().unwrap().len(), MAX_FILE);
    }
}
