//! The node side of the cluster engine: `rccr engine node 1`, a relay
//! between the control and the node's Docker engine.
//!
//! The control sends its calls on stdin, so that join tokens and service
//! specs never appear on a command line or in a process list; the relay
//! makes each call on `/var/run/docker.sock`, in order, and writes each
//! answer to stdout. Frames, both ways, are a header line and bytes:
//!
//! ```text
//! request:   METHOD SP PATH SP LENGTH LF BODY
//! answer:    STATUS SP LENGTH LF BODY      (STATUS: the HTTP status)
//!            ERR SP LENGTH LF MESSAGE      (the call could not be made)
//! ```
//!
//! The relay checks nothing the control asks for (the control is the
//! authority, and only it can log in here); it bounds what it reads
//! ([`MAX_REQUEST`], [`MAX_CALLS`]) and what it relays back
//! ([`crate::docker::MAX_RESPONSE`]). Exit codes: 0 done, 1 bad input,
//! 125 a protocol version it does not speak (before reading anything).
use crate::docker::http::{self, Request, Response};
use crate::docker::{self, CallError};
use crate::ssh::stream::bounded;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The protocol version, the relay's first argument.
pub const PROTOCOL: &str = "1";
/// Exit code for a protocol version this rccr does not speak.
pub const UNSUPPORTED: i32 = 125;
/// The largest request body (a service spec is a few KiB).
pub const MAX_REQUEST: usize = 1 << 20;
/// Calls in one exec.
pub const MAX_CALLS: usize = 256;
/// Each call's time bound: a swarm join waits for the manager.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

const METHODS: [&str; 3] = ["GET", "POST", "DELETE"];

/// The request frames for `requests`.
pub fn encode_requests(requests: &[Request]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in requests {
        let body = r.body.as_deref().unwrap_or("");
        out.extend_from_slice(format!("{} {} {}\n", r.method, r.path, body.len()).as_bytes());
        out.extend_from_slice(body.as_bytes());
    }
    out
}

/// Reads request frames; `None` for anything malformed or over a bound.
pub fn decode_requests(mut bytes: &[u8]) -> Option<Vec<Request>> {
    let mut requests = Vec::new();
    while !bytes.is_empty() {
        if requests.len() == MAX_CALLS {
            return None;
        }
        let (head, rest) = split_line(bytes)?;
        let mut words = head.split(' ');
        let method = words.next()?;
        let method = METHODS.into_iter().find(|m| *m == method)?;
        let path = words.next()?;
        let len = http::digits(words.next()?, 10)?;
        if words.next().is_some()
            || !path.starts_with('/')
            || path.bytes().any(|b| b <= b' ' || b == 0x7f)
            || len > MAX_REQUEST
        {
            return None;
        }
        let body = rest.get(..len)?;
        let body = std::str::from_utf8(body).ok()?;
        requests.push(Request {
            method,
            path: path.to_string(),
            body: (method == "POST").then(|| body.to_string()),
        });
        bytes = &rest[len..];
    }
    Some(requests)
}

/// The answer frame of one call.
pub fn encode_answer(answer: &Result<Response, String>) -> Vec<u8> {
    let (word, body) = match answer {
        Ok(r) => (r.status.to_string(), r.body.as_slice()),
        Err(e) => ("ERR".to_string(), e.as_bytes()),
    };
    let mut out = format!("{word} {}\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads answer frames; `Err` for a malformed stream (anything after the
/// first malformed frame is lost). A relay's own error is cut to
/// [`MAX_TEXT`], as every string from a node.
pub fn decode_answers(mut bytes: &[u8]) -> Result<Vec<Result<Response, String>>, String> {
    let mut answers = Vec::new();
    while !bytes.is_empty() {
        let bad = || format!("malformed answer frame {}", answers.len() + 1);
        let (head, rest) = split_line(bytes).ok_or_else(bad)?;
        let (word, len) = head.split_once(' ').ok_or_else(bad)?;
        let len = http::digits(len, 10).ok_or_else(bad)?;
        let body = rest.get(..len).ok_or_else(bad)?;
        answers.push(match word {
            "ERR" => Err(bounded(&String::from_utf8_lossy(body))),
            code => Ok(Response {
                status: code
                    .parse()
                    .ok()
                    .filter(|c| (100..600).contains(c))
                    .ok_or_else(bad)?,
                body: body.to_vec(),
            }),
        });
        bytes = &rest[len..];
    }
    Ok(answers)
}

/// The first line (up to 1 KiB) and what follows it.
fn split_line(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let end = bytes.iter().take(1024).position(|b| *b == b'\n')?;
    Some((std::str::from_utf8(&bytes[..end]).ok()?, &bytes[end + 1..]))
}

/// `rccr engine node VERSION`: relays the calls on stdin; see the module doc.
pub fn main(args: &[&str]) -> i32 {
    if args != [PROTOCOL] {
        return UNSUPPORTED;
    }
    let limit = MAX_CALLS * (MAX_REQUEST + 1024);
    let input = match crate::fsutil::read_bounded(&mut std::io::stdin().lock(), limit) {
        Ok(Some(bytes)) => bytes,
        _ => return fail("the calls could not be read, or are too large"),
    };
    let Some(requests) = decode_requests(&input) else {
        return fail("malformed call frames");
    };
    let socket = Path::new(docker::SOCKET);
    let mut out = std::io::stdout().lock();
    for request in &requests {
        let answer =
            docker::call(socket, request, CALL_TIMEOUT).map_err(|e: CallError| e.to_string());
        if out.write_all(&encode_answer(&answer)).is_err() {
            return 1;
        }
    }
    let _ = out.flush();
    0
}

fn fail(message: &str) -> i32 {
    eprintln!("rccr engine node: {message}");
    1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::stream::MAX_TEXT;

    /// Decodes every prefix of `frames` (those of `items`) laid end to end:
    /// one that ends between two frames gives the items before it, one that
    /// ends inside a frame is refused.
    fn only_whole_frames_decode<T: Clone + PartialEq + std::fmt::Debug>(
        items: &[T],
        frames: &[Vec<u8>],
        decode: impl Fn(&[u8]) -> Option<Vec<T>>,
    ) {
        let bytes = frames.concat();
        let mut ends = vec![0];
        for frame in frames {
            ends.push(ends[ends.len() - 1] + frame.len());
        }
        for end in 0..=bytes.len() {
            let cut = &bytes[..end];
            let whole = ends.iter().position(|&e| e == end);
            assert_eq!(
                decode(cut),
                whole.map(|n| items[..n].to_vec()),
                "{:?}",
                String::from_utf8_lossy(cut)
            );
        }
    }

    #[test]
    fn request_frames_round_trip_and_a_cut_one_is_refused() {
        let requests = vec![
            Request::get("/info"),
            Request::post("/swarm/join", "{\"JoinToken\":\"SWMTKN-1-x\"}\n"),
            Request::delete("/nodes/abc?force=true"),
        ];
        let bytes = encode_requests(&requests);
        assert!(bytes.starts_with(b"GET /info 0\nPOST /swarm/join 27\n{\"JoinToken\""));
        let frames: Vec<Vec<u8>> = requests
            .iter()
            .map(|r| encode_requests(std::slice::from_ref(r)))
            .collect();
        only_whole_frames_decode(&requests, &frames, decode_requests);
    }

    #[test]
    fn bad_request_frames_are_refused() {
        let refused = |bad: &[u8], why: &str| {
            let shown = String::from_utf8_lossy(bad);
            assert_eq!(decode_requests(bad), None, "{why}: {shown:?}");
        };
        refused(b"PUT /x 0\n", "a method other than GET, POST and DELETE");
        refused(b"GET x 0\n", "a path that does not start with /");
        refused(b"GET /x\n", "no length");
        refused(b"GET /x 0 extra\n", "a word after the length");
        refused(b"GET /a b 0\n", "a space in the path");
        refused(b"GET /x -1\n", "a negative length");
        refused(b"GET /x +0\n", "a length with a sign");
        refused(b"POST /x 2\n\xff\xfe", "a body that is not UTF-8");
        let too_many = b"GET /info 0\n".repeat(MAX_CALLS + 1);
        assert_eq!(decode_requests(&too_many), None);
        let too_big = format!("POST /x {}\n", MAX_REQUEST + 1);
        assert_eq!(decode_requests(too_big.as_bytes()), None);
    }

    #[test]
    fn answer_frames_round_trip_and_a_cut_one_is_refused() {
        let answers = vec![
            Ok(Response {
                status: 200,
                body: b"{\"a\":1}\n".to_vec(),
            }),
            Err("the Docker engine does not answer: no such file".to_string()),
            Ok(Response {
                status: 503,
                body: Vec::new(),
            }),
        ];
        let frames: Vec<Vec<u8>> = answers.iter().map(encode_answer).collect();
        only_whole_frames_decode(&answers, &frames, |b| decode_answers(b).ok());
        let malformed = [
            &b"999 0\n"[..],
            b"OK 0\n",
            b"200\n",
            b"200 x\n",
            b"200 +0\n",
        ];
        for bad in malformed {
            assert!(
                decode_answers(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_relays_endless_error_is_cut() {
        let frame = encode_answer(&Err("x".repeat(1 << 20)));
        let answers = decode_answers(&frame).unwrap();
        assert_eq!(answers[0].as_ref().unwrap_err().len(), MAX_TEXT);
    }

    #[test]
    fn the_relay_refuses_another_protocol_before_reading() {
        assert_eq!(main(&["2"]), UNSUPPORTED);
        assert_eq!(main(&[]), UNSUPPORTED);
    }
}
