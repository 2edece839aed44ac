//! The codice fiscale parser, decoder and fragment parser on any input:
//! no panic, and a parsed code re-parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trama_subject::codice_fiscale::{Fragment, TaxCode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let today = time::macros::date!(2026 - 11 - 23);
    if let Ok(code) = TaxCode::parse(text) {
        let again = TaxCode::parse(code.as_str());
        assert_eq!(again.as_ref().map(TaxCode::as_str), Ok(code.as_str()));
        let _ = code.decode(today);
        let _ = code.base();
        let _ = code.is_omocodic();
    }
    if let Ok(fragment) = Fragment::parse(text, today) {
        let _ = fragment.agreement(text);
        let _ = fragment.prefix_range(6);
    }
});
