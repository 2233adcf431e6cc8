//! The example configuration file documents every key with its default: it
//! must load, and must equal the built-in defaults.

use std::path::Path;

use tidings::TidingsConfig;

#[test]
fn example_file_loads_and_matches_the_defaults() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tidings.example.toml");
    let loaded = TidingsConfig::load(Some(&file)).expect("example config loads");
    let defaults = TidingsConfig::default();
    assert_eq!(format!("{loaded:?}"), format!("{defaults:?}"));
}
