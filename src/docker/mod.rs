//! A small client of the Docker Engine API over its Unix socket: HTTP/1.1
//! ([`http`]), the calls rccr makes ([`api`]), and what their answers mean
//! ([`api`]'s views). No crate beyond std: a call is one connection, one
//! request, one response read to the close, bounded in size and time.
pub mod api;
pub mod http;

use http::{HttpError, Request, Response};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Where the engine listens on every RCCR node.
pub const SOCKET: &str = "/var/run/docker.sock";
/// The largest answer read from the engine (a node list of hundreds of
/// nodes is well under it).
pub const MAX_RESPONSE: usize = 8 << 20;

/// How a call failed before the engine could answer it.
#[derive(Debug)]
pub enum CallError {
    /// No engine on the socket (not installed, or not running).
    Unreachable(std::io::Error),
    /// The socket broke, or the call took longer than its time bound.
    Io(std::io::Error),
    /// The answer was larger than [`MAX_RESPONSE`].
    TooLarge,
    Http(HttpError),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "the Docker engine does not answer: {e}"),
            CallError::Io(e) => write!(f, "talking to the Docker engine: {e}"),
            CallError::TooLarge => {
                write!(f, "the Docker engine's answer is over {MAX_RESPONSE} bytes")
            }
            CallError::Http(e) => write!(f, "the Docker engine's answer: {e}"),
        }
    }
}

/// Reads `reader` to its end, refusing more than `max` bytes.
pub fn read_bounded(reader: &mut impl Read, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    reader.take(max as u64 + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() <= max).then_some(bytes))
}

/// Makes one call on the engine at `socket`, within `timeout`.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Response, CallError> {
    let mut stream = UnixStream::connect(socket).map_err(CallError::Unreachable)?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .and_then(|()| stream.write_all(&request.emit()))
        .map_err(CallError::Io)?;
    let bytes = read_bounded(&mut stream, MAX_RESPONSE)
        .map_err(CallError::Io)?
        .ok_or(CallError::TooLarge)?;
    Response::parse(&bytes).map_err(CallError::Http)
}
