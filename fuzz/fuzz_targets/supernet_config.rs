//! Supernet configs (TOML). One that parses and validates must write back to TOML that
//! parses to the same config.
#![no_main]

use lagrange_protocol::config::SupernetConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = SupernetConfig::from_toml(text) {
        let again = SupernetConfig::from_toml(&config.to_toml()).expect("written config parses");
        assert_eq!(again, config);
    }
});
