//! The Anthropic Messages request decoder (`POST /v1/messages`) on arbitrary bodies. Oracle: every
//! refusal is a client error (4xx), and a request the decoder accepts translates to a chat body
//! the chat decoder accepts too.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (request, _fields) = match vsr_server::messages::decode(data) {
        Ok(r) => r,
        Err(e) => {
            assert!(e.status().is_client_error(), "bad body answered {}", e.status());
            return;
        }
    };
    let _ = request.view();
    let chat = serde_json::to_vec(&request.to_chat_body()).expect("a chat body serialises");
    if let Err(e) = vsr_server::parse_chat(bytes::Bytes::from(chat), &http::HeaderMap::new()) {
        panic!("accepted Messages request translated to a refused chat body: {e}");
    }
});
