//! Just enough HTTP/1.1 for the Docker Engine API over its Unix socket: a
//! request rccr writes, and a response it reads, byte for byte.
//!
//! A response is read whole (the request says `Connection: close`) and
//! parsed by [`Response::parse`], a pure function over untrusted bytes: it
//! takes `Content-Length` or `Transfer-Encoding: chunked` bodies, refuses a
//! body cut short, a malformed status line, header block or chunk size, and
//! never reads past its input.
use std::fmt::Write as _;

/// The longest header block we accept.
pub const MAX_HEAD: usize = 64 * 1024;

/// One API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    /// The path and query, e.g. `/nodes/abc/update?version=12`.
    pub path: String,
    /// A JSON body.
    pub body: Option<String>,
}

impl Request {
    pub fn get(path: impl Into<String>) -> Request {
        Request {
            method: "GET",
            path: path.into(),
            body: None,
        }
    }

    pub fn post(path: impl Into<String>, body: impl Into<String>) -> Request {
        Request {
            method: "POST",
            path: path.into(),
            body: Some(body.into()),
        }
    }

    pub fn delete(path: impl Into<String>) -> Request {
        Request {
            method: "DELETE",
            path: path.into(),
            body: None,
        }
    }

    /// The bytes on the wire.
    pub fn emit(&self) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: docker\r\nUser-Agent: rccr\r\nConnection: close\r\n",
            self.method, self.path
        );
        let body = self.body.as_deref().unwrap_or("");
        if self.body.is_some() {
            head.push_str("Content-Type: application/json\r\n");
        }
        if self.body.is_some() || self.method == "POST" {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }
}

/// A response: the status code and the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Why bytes are not a whole HTTP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// The connection closed before the response was whole.
    Truncated,
    /// Not `HTTP/1.x NNN ...`, or a malformed header or chunk.
    Malformed(&'static str),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Truncated => f.write_str("the answer was cut short"),
            HttpError::Malformed(what) => write!(f, "not an HTTP answer: {what}"),
        }
    }
}

/// A number written in `radix` with its digits alone: `str::parse` and
/// `from_str_radix` take a leading `+` too.
pub fn digits(text: &str, radix: u32) -> Option<usize> {
    text.chars()
        .all(|c| c.is_digit(radix))
        .then(|| usize::from_str_radix(text, radix).ok())?
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Response {
    /// Parses a whole response (everything the server sent before it
    /// closed the connection).
    pub fn parse(bytes: &[u8]) -> Result<Response, HttpError> {
        let Some(end) = find(&bytes[..bytes.len().min(MAX_HEAD)], b"\r\n\r\n") else {
            return Err(if bytes.len() >= MAX_HEAD {
                HttpError::Malformed("header block too long")
            } else {
                HttpError::Truncated
            });
        };
        let head = std::str::from_utf8(&bytes[..end])
            .map_err(|_| HttpError::Malformed("header block is not text"))?;
        let rest = &bytes[end + 4..];
        let mut lines = head.split("\r\n");
        let status = Self::status(lines.next().unwrap_or(""))?;
        let mut length = None;
        let mut chunked = false;
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or(HttpError::Malformed("header without ':'"))?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                // A second, other length: which one frames the body?
                let n = digits(value, 10)
                    .filter(|n| length.is_none_or(|l| l == *n))
                    .ok_or(HttpError::Malformed("bad Content-Length"))?;
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
                if !chunked && !value.eq_ignore_ascii_case("identity") {
                    return Err(HttpError::Malformed("unsupported Transfer-Encoding"));
                }
            }
        }
        let body = match (chunked, length) {
            (true, _) => Self::dechunk(rest)?,
            (false, Some(n)) => rest.get(..n).ok_or(HttpError::Truncated)?.to_vec(),
            // No length: the body is everything up to the close.
            (false, None) => rest.to_vec(),
        };
        Ok(Response { status, body })
    }

    fn status(line: &str) -> Result<u16, HttpError> {
        let mut words = line.splitn(3, ' ');
        let (version, code) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        if !version.starts_with("HTTP/1.") || code.len() != 3 {
            return Err(HttpError::Malformed("bad status line"));
        }
        code.parse()
            .ok()
            .filter(|c| (100..600).contains(c))
            .ok_or(HttpError::Malformed("bad status code"))
    }

    fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            let line_end = find(rest, b"\r\n").ok_or(HttpError::Truncated)?;
            let size_text = std::str::from_utf8(&rest[..line_end])
                .map_err(|_| HttpError::Malformed("bad chunk size"))?;
            // A chunk size may carry extensions after ';'.
            let size_text = size_text.split(';').next().unwrap_or("").trim();
            let size = digits(size_text, 16).ok_or(HttpError::Malformed("bad chunk size"))?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                return Ok(body);
            }
            let chunk = rest.get(..size).ok_or(HttpError::Truncated)?;
            body.extend_from_slice(chunk);
            rest = &rest[size..];
            match rest.get(..2) {
                Some(b"\r\n") => rest = &rest[2..],
                Some(_) => return Err(HttpError::Malformed("chunk not followed by CRLF")),
                None => return Err(HttpError::Truncated),
            }
        }
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The engine's own words for a failed call (`{"message": ...}`, cut
    /// to [`crate::ssh::stream::MAX_TEXT`]), else the start of the body.
    pub fn error_message(&self) -> String {
        let parsed = crate::json::Value::parse(&self.body).ok();
        match parsed.as_ref().and_then(|v| v.get("message").as_str()) {
            Some(m) => crate::ssh::stream::bounded(m),
            None => String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
                .trim()
                .to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_byte_for_byte() {
        assert_eq!(
            Request::get("/info").emit(),
            b"GET /info HTTP/1.1\r\nHost: docker\r\nUser-Agent: rccr\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            Request::post("/swarm/join", r#"{"JoinToken":"t"}"#).emit(),
            b"POST /swarm/join HTTP/1.1\r\nHost: docker\r\nUser-Agent: rccr\r\nConnection: close\r\n\
              Content-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"JoinToken\":\"t\"}"
        );
        assert_eq!(
            Request::delete("/nodes/n1?force=true").emit(),
            b"DELETE /nodes/n1?force=true HTTP/1.1\r\nHost: docker\r\nUser-Agent: rccr\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn a_sized_body() {
        let r = Response::parse(
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 4\r\n\r\n{}\r\nextra",
        )
        .unwrap();
        assert_eq!(
            r,
            Response {
                status: 200,
                body: b"{}\r\n".to_vec()
            }
        );
        assert!(r.ok());
    }

    #[test]
    fn a_chunked_body() {
        let r = Response::parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[{\"a\r\n6;ext=1\r\n\":1}]\n\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"[{\"a\":1}]\n");
    }

    #[test]
    fn errors_carry_the_engines_message() {
        let r = Response::parse(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 58\r\n\r\n\
              {\"message\":\"This node is not a swarm manager. Use join.\"}\n",
        )
        .unwrap();
        assert!(!r.ok());
        assert_eq!(
            r.error_message(),
            "This node is not a swarm manager. Use join."
        );
        let r = Response::parse(b"HTTP/1.0 404 Not Found\r\n\r\npage not found\n").unwrap();
        assert_eq!(
            (r.status, r.error_message()),
            (404, "page not found".into())
        );
    }

    #[test]
    fn an_endless_error_message_is_cut() {
        let message = "x".repeat(1 << 20);
        let body = format!("{{\"message\":\"{message}\"}}");
        let r = Response {
            status: 500,
            body: body.into_bytes(),
        };
        assert_eq!(r.error_message().len(), crate::ssh::stream::MAX_TEXT);
    }

    #[test]
    fn every_cut_of_an_answer_is_truncated() {
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{\"a\":[1]}";
        // Parsing ends at the last chunk's size line: a trailer is not read.
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                        2\r\nab\r\n10;x=1\r\n0123456789abcdef\r\n0\r\n";
        for whole in [&sized[..], chunked] {
            assert!(Response::parse(whole).is_ok());
            for end in 0..whole.len() {
                let cut = &whole[..end];
                assert_eq!(
                    Response::parse(cut),
                    Err(HttpError::Truncated),
                    "{:?}",
                    String::from_utf8_lossy(cut)
                );
            }
        }
    }

    #[test]
    fn garbage_is_refused_with_its_reason() {
        for (bytes, reason) in [
            (
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
                "bad chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
                "chunk not followed by CRLF",
            ),
            (b"SSH-2.0-OpenSSH\r\n\r\n", "bad status line"),
            (b"HTTP/1.1 999 Odd\r\n\r\n", "bad status code"),
            (b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "header without ':'"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                "bad Content-Length",
            ),
            // Numbers are their digits alone (str::parse takes a '+'),
            // and one body has one length.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
                "bad Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
                "bad Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+1\r\nx\r\n0\r\n\r\n",
                "bad chunk size",
            ),
            // A coding rccr does not undo is no body to read as JSON.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                "unsupported Transfer-Encoding",
            ),
        ] {
            assert_eq!(
                Response::parse(bytes),
                Err(HttpError::Malformed(reason)),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let long = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert_eq!(
            Response::parse(&long),
            Err(HttpError::Malformed("header block too long"))
        );
    }
}
