//! The two ways of reading an event must agree on every input: the fast typed way
//! (`event::typed`, fields read straight from the text) and the long way through a tree of JSON
//! values (`event::read_tree`, which reports every broken rule). What the fast way takes the
//! long way takes too, as the same event; what the fast way leaves goes the long way, which
//! then decides (so the two decide alike by construction there).
#![no_main]

use libfuzzer_sys::fuzz_target;
use touchbase_core::event;
use touchbase_fuzz::{NOW, assert_same, assert_within_the_format};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let long = event::read_tree(text, NOW);
    if let Some(fast) = event::typed(text, NOW) {
        match &long {
            Ok(long) => assert_same(&fast, long, text),
            Err(problems) => {
                panic!("the fast way takes what the long way refuses: {problems:?}: {text}")
            }
        }
    }
    if let Ok(long) = &long {
        assert_within_the_format(long, text);
    }
});
