//! The data plane's request decoder on arbitrary bodies: a typed request or a client error
//! (4xx), never a panic and never a server error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let headers = http::HeaderMap::new();
    if let Err(e) = vsr_server::parse_chat(bytes::Bytes::copy_from_slice(data), &headers) {
        let status = e.status();
        assert!(status.is_client_error(), "bad body answered {status}");
    }
});
