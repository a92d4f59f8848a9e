//! The Docker Engine API's HTTP responses (a node's engine, or anything
//! that answers on its socket): any bytes as a response. Nothing panics;
//! a body is never larger than the input; and any bytes as a body come
//! back whole, sized by Content-Length or chunked (split where the input
//! says).
#![no_main]
use libfuzzer_sys::fuzz_target;
use rccr::docker::http::Response;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = Response::parse(data) {
        assert!(response.body.len() <= data.len());
        assert!((100..600).contains(&response.status));
        let _ = response.error_message();
    }

    let sized = [
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", data.len()).as_bytes(),
        data,
    ]
    .concat();
    assert_eq!(Response::parse(&sized).unwrap().body, data);

    let step = usize::from(data.first().copied().unwrap_or(1).max(1));
    let mut chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for chunk in data.chunks(step) {
        chunked.extend_from_slice(format!("{:x};ext\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let response = Response::parse(&chunked).unwrap();
    assert_eq!((response.status, &response.body[..]), (404, data));
});
