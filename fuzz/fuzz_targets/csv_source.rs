//! The CSV source of `touchbase import` on arbitrary bytes: the header read, each row turned
//! into the JSON text of its event (or rejected with its reason), and that text read as any
//! other event's. Nothing panics; a row's text is always JSON, and an event taken keeps the
//! wire format's rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use touchbase_core::event;
use touchbase_fuzz::{NOW, assert_within_the_format};
use touchbase_store::sources::csv::Rows;

fuzz_target!(|data: &[u8]| {
    let Ok(rows) = Rows::new(data, "fuzz.csv".to_owned()) else {
        return;
    };
    for input in rows {
        let input = input.expect("reading from memory does not fail");
        assert!(
            input.source.starts_with("file:fuzz.csv:"),
            "{}",
            input.source
        );
        if input.unreadable.is_some() {
            continue;
        }
        let json: serde_json::Value = serde_json::from_str(&input.raw)
            .unwrap_or_else(|e| panic!("a row's text is not JSON ({e}): {}", input.raw));
        assert!(json.is_object(), "{}", input.raw);
        if let Ok(decoded) = event::read(&input.raw, NOW) {
            assert_within_the_format(&decoded, &input.raw);
        }
    }
});
