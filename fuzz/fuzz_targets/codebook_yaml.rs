//! The codebook file and its coder on arbitrary text: the input is a codebook, then, after a
//! line `%%`, an answer to code (without the line, the whole input is both). Nothing panics; a
//! codebook taken codes the answer the same way twice, every tag is one of its codes with a
//! span inside the answer, and a negated or absent pattern never tags.
#![no_main]

use libfuzzer_sys::fuzz_target;
use touchbase_core::voice::codebook::{Codebook, Coder, Family};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (book, answer) = text.split_once("\n%%\n").unwrap_or((text, text));
    let Ok(parsed) = Codebook::from_yaml(book) else {
        return;
    };
    assert!(parsed.problems().is_empty());
    let coder = Coder::new(&parsed);
    let length = answer.chars().count();
    for family in [Family::Change, Family::WhyBuy] {
        let tags = coder.code(family, answer);
        assert_eq!(tags, coder.code(family, answer), "coding is deterministic");
        for tag in &tags {
            let code = parsed.code(&tag.code).expect("a tag names a code of the book");
            assert_eq!(code.family, family);
            if let Some((start, end)) = tag.span {
                assert!(start < end && end <= length, "span {start}..{end} of {length}");
            }
        }
    }
});
