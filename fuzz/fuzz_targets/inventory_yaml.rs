//! The inventory file on arbitrary text: parsed, decoded and checked (`file::parse_inventory`,
//! with `validate::check`). Nothing panics; an inventory taken is written out as a file that
//! parses again to the same inventory, and writes the same bytes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use touchbase_core::file;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(inventory) = file::parse_inventory(text) else {
        return;
    };
    let rendered = file::render_inventory(&inventory);
    let again = file::parse_inventory(&rendered)
        .unwrap_or_else(|e| panic!("an inventory written out is refused ({e}):\n{rendered}"));
    assert_eq!(file::render_inventory(&again), rendered, "{text}");
    assert_eq!(again, inventory, "{text}");
});
