//! The config loader (YAML parse, decode, validation) on arbitrary text: it must answer with a
//! config or diagnostics, never panic; every diagnostic it reports must carry a message.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (_config, _spans, diags) = vsr_config::check_str(text, "fuzz.yaml");
    for d in &diags {
        assert!(!d.to_string().is_empty(), "empty diagnostic");
    }
    // The loading entry point agrees with the checking one on success or failure.
    let loaded = vsr_config::load_str(text, "fuzz.yaml");
    let has_error = diags.iter().any(|d| d.severity == vsr_config::Severity::Error);
    assert_eq!(loaded.is_ok(), !has_error, "load_str and check_str disagree");
});
