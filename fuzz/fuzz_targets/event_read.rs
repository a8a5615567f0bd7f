//! The event reader on arbitrary bytes, as an NDJSON file or an HTTP body brings them: split
//! into lines by the file source, each line read (the fast way, else the long way), a line
//! refused kept as a reject. Nothing panics; every event taken keeps the wire format's rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use touchbase_core::event::{self, NewReject};
use touchbase_fuzz::{NOW, assert_within_the_format};
use touchbase_store::sources::ndjson::Lines;

fuzz_target!(|data: &[u8]| {
    // The whole input as one event (an HTTP body of one event), then line by line.
    if let Ok(text) = std::str::from_utf8(data) {
        read(text, data);
    }
    for input in Lines::new(data, "fuzz.ndjson".to_owned()) {
        let input = input.expect("reading from memory does not fail");
        match &input.unreadable {
            None => read(&input.raw, input.raw.as_bytes()),
            Some(why) => {
                let reject = NewReject::new(&input.source, input.raw.as_bytes(), vec![why.clone()]);
                assert!(!reject.raw.contains('\0'));
            }
        }
    }
});

fn read(text: &str, bytes: &[u8]) {
    match event::read(text, NOW) {
        Ok(decoded) => assert_within_the_format(&decoded, text),
        Err(problems) => {
            assert!(!problems.is_empty(), "{text}");
            let reasons = problems.iter().map(ToString::to_string).collect();
            let reject = NewReject::new("fuzz", bytes, reasons);
            assert_eq!(reject.replayable, !text.contains('\0'), "{text}");
        }
    }
}
