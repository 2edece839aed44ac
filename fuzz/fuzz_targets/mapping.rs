//! The mapping-file parser on any text: a clear error or a mapping, never
//! a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use trama_connector::mapping::Mapping;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Mapping::parse(Path::new("fuzz/mapping.toml"), text) {
        let _ = m.provided_sections();
        let _ = m.match_capabilities();
    }
});
