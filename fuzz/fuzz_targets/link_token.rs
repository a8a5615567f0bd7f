//! The signed-link token parser (`link::read`) on arbitrary text, and the round trip of links
//! made from arbitrary parts. What must hold: no panic; no text that was not issued opens a
//! link (forging one would need the key); an issued link reads back as issued for its own
//! purpose only, until its expiry; and any one byte changed makes it refuse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use touchbase_core::endpoint::Keys;
use touchbase_core::link::{self, NONCE_BYTES, Purpose};

fuzz_target!(|data: &[u8]| {
    let keys = Keys::from_bytes([42; 32]);
    // As a token someone typed: never accepted, since only `issue` with the key makes one.
    if let Ok(text) = std::str::from_utf8(data) {
        for purpose in [Purpose::Standing, Purpose::Survey] {
            if let Ok(claims) = link::read(&keys, purpose, text, i64::MIN) {
                panic!("an arbitrary text opened a link: {text:?} → {claims:?}");
            }
        }
    }
    // As the parts of a link: expiry, nonce, subject.
    if data.len() < 8 + NONCE_BYTES {
        return;
    }
    let (expiry, rest) = data.split_at(8);
    let (nonce, subject) = rest.split_at(NONCE_BYTES);
    let expires_at = i64::from_be_bytes(expiry.try_into().unwrap());
    let Ok(subject) = std::str::from_utf8(subject) else {
        return;
    };
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().unwrap();
    let Ok(issued) = link::issue(&keys, Purpose::Standing, subject, expires_at, nonce) else {
        assert!(!link::valid_subject(subject), "a valid subject refused: {subject:?}");
        return;
    };
    assert!(issued.token.len() <= link::TOKEN_MAX);
    let before = expires_at.saturating_sub(1);
    if before < expires_at {
        let claims = link::read(&keys, Purpose::Standing, &issued.token, before)
            .unwrap_or_else(|e| panic!("an issued link refused ({e}): {issued:?}"));
        assert_eq!(claims.subject, subject);
        assert_eq!(claims.expires_at, expires_at);
        assert_eq!(claims.hash, issued.hash);
    }
    assert!(link::read(&keys, Purpose::Standing, &issued.token, expires_at).is_err());
    assert!(link::read(&keys, Purpose::Survey, &issued.token, i64::MIN).is_err());
    let mut altered = issued.token.clone().into_bytes();
    let at = data[0] as usize % altered.len();
    altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
    if let Ok(text) = String::from_utf8(altered) {
        assert!(
            link::read(&keys, Purpose::Standing, &text, i64::MIN).is_err(),
            "a link changed at byte {at} still opens: {text}"
        );
    }
});
