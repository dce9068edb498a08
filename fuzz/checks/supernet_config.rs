//! Supernet configs (TOML). One that parses and validates must write back to TOML that
//! parses to the same config.
use lagrange_protocol::config::SupernetConfig;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = SupernetConfig::from_toml(text) {
        let again = SupernetConfig::from_toml(&config.to_toml()).expect("written config parses");
        assert_eq!(again, config);
    }
}
