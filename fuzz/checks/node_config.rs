//! The node's own configuration file (`node.toml`). Any text either parses or gives a
//! one-line error naming its place (never a panic, even with the error's offset inside a
//! multi-byte character); one that parses writes back to TOML that parses to the same
//! configuration.
use std::path::Path;

use lagrange_node::config::NodeConfig;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match NodeConfig::parse(text, Path::new("node.toml")) {
        Ok(config) => {
            let written = toml::to_string(&config).expect("a parsed config writes as TOML");
            let again = NodeConfig::parse(&written, Path::new("node.toml"))
                .expect("a written config parses");
            assert_eq!(toml::to_string(&again).expect("writes again"), written);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("node.toml"), "{message}");
            assert!(!message.contains('\n'), "a multi-line error: {message}");
        }
    }
}
