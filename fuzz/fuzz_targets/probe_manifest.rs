//! The probe manifest parser (March format and v1): an error or a manifest, never a panic;
//! building every probe's request must not panic either.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = vsr_config::probes::Manifest::parse(text, "fuzz.yaml") {
        for group in &m.decisions {
            for variant in &group.variants {
                let _ = variant.request(m.fixtures.as_ref());
                let _ = group.expected_signals_for(variant);
            }
        }
    }
});
