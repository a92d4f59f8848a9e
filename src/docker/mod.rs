//! A small client of the Docker Engine API over its Unix socket: HTTP/1.1
//! ([`http`]), the calls rccr makes ([`api`]), and what their answers mean
//! ([`api`]'s views). No crate beyond std: a call is one connection, one
//! request, one response read to the close, bounded in size and time (one
//! deadline for the whole call: its connect, and every write and read).
pub mod api;
pub mod http;

use crate::ssh::stream::{self, ReadError, Stream};
use http::{HttpError, Request, Response};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the engine listens on every RCCR node.
pub const SOCKET: &str = "/var/run/docker.sock";
/// The largest answer to a list of the swarm's nodes, services or tasks
/// (`GET /nodes`, `/services`, `/tasks`), the only calls whose answer grows
/// with the cluster: 256 nodes are 457 KiB, 100 services 292 KiB, 300
/// tasks 544 KiB (tests/json_memory.rs), so about a thousand of each fit.
/// Parsed, one takes at most 6 times that (see
/// [`crate::json::MAX_TREE_RATIO`]).
pub const MAX_RESPONSE: usize = 2 << 20;
/// The largest answer to any other call: one object (`/info` is about
/// 4 KiB, an image's inspect a few KiB) or a change's short answer. These
/// are the calls made of every node at once: parsed, 32 of them take at
/// most 32 x 7 x 64 KiB = 14 MiB (see [`crate::json::MAX_TREE_RATIO`]).
pub const MAX_SMALL_RESPONSE: usize = 64 << 10;

/// The largest answer `request` may have (its body; the HTTP head is
/// bounded apart, by [`http::MAX_HEAD`]).
pub fn max_answer(request: &Request) -> usize {
    let path = request.path.split('?').next().unwrap_or("");
    let list = ["/nodes", "/services", "/tasks"].contains(&path);
    if request.method == "GET" && list {
        MAX_RESPONSE
    } else {
        MAX_SMALL_RESPONSE
    }
}

/// How a call failed before the engine could answer it.
#[derive(Debug)]
pub enum CallError {
    /// No engine on the socket (not installed, or not running).
    Unreachable(std::io::Error),
    /// The socket broke, or the call took longer than its time bound.
    Io(std::io::Error),
    /// The answer was larger than the call's [`max_answer`] (given).
    TooLarge(usize),
    Http(HttpError),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(e) => write!(f, "the Docker engine does not answer: {e}"),
            CallError::Io(e) => write!(f, "talking to the Docker engine: {e}"),
            CallError::TooLarge(max) => {
                write!(f, "the Docker engine's answer is over {max} bytes")
            }
            CallError::Http(e) => write!(f, "the Docker engine's answer: {e}"),
        }
    }
}

/// Makes one call on the engine at `socket`, within `timeout` in all: its
/// connect, and every write and read, each of which waits no longer than
/// what is left (an engine that trickles a byte at a time cannot stretch
/// the call: [`stream::Deadlined`], as an SSH command's output).
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Response, CallError> {
    let deadline = Instant::now() + timeout;
    let engine = crate::sys::unix_connect(socket, timeout).map_err(CallError::Unreachable)?;
    let mut engine = Stream::until(engine, deadline);
    let max = max_answer(request);
    embedded_io::Write::write_all(&mut engine, &request.emit()).map_err(timed)?;
    let mut bytes = Vec::new();
    stream::read_to_end(&mut engine, &mut bytes, max + http::MAX_HEAD).map_err(|e| match e {
        ReadError::TooLarge(_) => CallError::TooLarge(max),
        ReadError::Io(e) => timed(e),
    })?;
    let response = Response::parse(&bytes).map_err(CallError::Http)?;
    if response.body.len() > max {
        return Err(CallError::TooLarge(max));
    }
    Ok(response)
}

/// A socket's timeout (`EAGAIN`, set to what was left) or the passed
/// deadline is the call's.
fn timed(stream::IoError(e): stream::IoError) -> CallError {
    CallError::Io(match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::Error::new(
            io::ErrorKind::TimedOut,
            "the call took longer than its time bound",
        ),
        _ => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    #[test]
    fn only_the_lists_of_the_swarm_may_be_large() {
        assert_eq!(max_answer(&api::nodes()), MAX_RESPONSE);
        assert_eq!(max_answer(&api::services()), MAX_RESPONSE);
        assert_eq!(max_answer(&api::running_tasks()), MAX_RESPONSE);
        for small in [
            api::info(),
            api::swarm(),
            api::image("nginx"),
            api::distribution("nginx"),
            api::swarm_leave(true),
            api::node_remove("abc"),
            api::service_remove("abc"),
            // Not a list: a path that only starts like one.
            Request::get("/nodesx"),
        ] {
            assert_eq!(max_answer(&small), MAX_SMALL_RESPONSE, "{}", small.path);
        }
    }

    /// Serves one connection on a socket in a temp dir: reads the request
    /// head and answers `body`.
    fn engine(name: &str, body: Vec<u8>) -> (std::path::PathBuf, std::thread::JoinHandle<()>) {
        let dir = std::env::temp_dir().join(format!("rccr-docker-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let socket = dir.join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let mut answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            answer.extend_from_slice(&body);
            let _ = conn.write_all(&answer);
        });
        (dir, server)
    }

    /// A fresh socket path in a temp dir (removed with the dir).
    fn socket_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rccr-docker-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    /// An engine that answers one byte at a time, each well within the
    /// call's time bound, for twenty times that bound: the call ends at
    /// its bound with a timeout, not when the engine stops (then with a
    /// truncated answer).
    #[test]
    fn a_call_is_bounded_in_time_however_the_engine_trickles() {
        let dir = socket_dir("trickle");
        let listener = UnixListener::bind(dir.join("docker.sock")).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = [0u8; 1024];
            let _ = conn.read(&mut head);
            let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
            // 200 bytes, one every 100 ms: 20 seconds.
            for b in answer.iter().chain([b'x'; 200 - 50].iter()) {
                if conn.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let answer = call(
            &dir.join("docker.sock"),
            &api::info(),
            Duration::from_secs(1),
        );
        server.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        match answer {
            Err(CallError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {}
            other => panic!("{other:?}"),
        }
    }

    /// A listener whose queue is full (a wedged engine) makes `connect`
    /// wait: the call gives up at its bound. (The call runs on a thread
    /// that is given thirty times its bound before the test calls it hung.)
    #[test]
    fn a_call_to_an_engine_that_accepts_nothing_gives_up() {
        let dir = socket_dir("wedged");
        let socket = dir.join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        crate::sys::set_backlog(&listener, 0).unwrap();
        // Takes the one place in the queue, never accepted.
        let _queued = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        let (done, called) = std::sync::mpsc::channel();
        let path = socket.clone();
        std::thread::spawn(move || {
            let _ = done.send(call(&path, &api::info(), Duration::from_secs(1)));
        });
        let answer = called.recv_timeout(Duration::from_secs(30));
        std::fs::remove_dir_all(&dir).unwrap();
        drop(listener);
        match answer {
            Ok(Err(CallError::Unreachable(e))) if e.kind() == std::io::ErrorKind::TimedOut => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_call_refuses_an_answer_over_its_kinds_bound() {
        let big = format!("[{}0]", "0, ".repeat(MAX_SMALL_RESPONSE / 3)).into_bytes();
        let timeout = Duration::from_secs(10);
        for (request, refused) in [(api::info(), true), (api::nodes(), false)] {
            let (dir, server) = engine(if refused { "info" } else { "nodes" }, big.clone());
            let answer = call(&dir.join("docker.sock"), &request, timeout);
            server.join().unwrap();
            std::fs::remove_dir_all(&dir).unwrap();
            match answer {
                Err(CallError::TooLarge(max)) if refused => assert_eq!(max, MAX_SMALL_RESPONSE),
                Ok(r) if !refused => assert_eq!(r.body, big),
                other => panic!("{}: {other:?}", request.path),
            }
        }
    }
}
