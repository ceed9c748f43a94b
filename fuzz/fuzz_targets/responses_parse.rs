//! The Responses API request decoder (`POST /v1/responses`) on arbitrary bodies, the way the
//! server runs it: JSON, then the typed request, then the chat body it is routed as. Oracle:
//! every refusal is a client error (4xx), and a request the decoder accepts translates to a chat
//! body the chat decoder accepts too (the translation never produces what we ourselves refuse).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let request = match vsr_server::responses::from_responses(&v) {
        Ok(r) => r,
        Err(e) => {
            assert!(e.status().is_client_error(), "bad body answered {}", e.status());
            return;
        }
    };
    let _ = request.view();
    let chat = serde_json::to_vec(&request.to_chat_body()).expect("a chat body serialises");
    if let Err(e) = vsr_server::parse_chat(bytes::Bytes::from(chat), &http::HeaderMap::new()) {
        panic!("accepted Responses request translated to a refused chat body: {e}");
    }
});
