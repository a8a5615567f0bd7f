//! Signed customer-facing links (R22): the one mechanism behind every link touchbase hands to a
//! party — a standing order's self-service page, a survey invitation.
//!
//! A link's token is `<payload>.<mac>`, both base64url without padding. The payload holds the
//! link's expiry (seconds since the epoch, 8 bytes big-endian), a random nonce (16 bytes, so
//! two links to the same subject differ and each can be revoked alone) and its subject (what
//! it opens: an order's or an invitation's id). The MAC is HMAC-SHA256 of the payload under a
//! key derived from the organization key for the link's [`Purpose`] only, so a token made for
//! one purpose never opens another, and no one who reads the database can make one.
//!
//! What a store keeps of a link is its [`hash`] (SHA-256 of the token), the subject and the
//! expiry, and whether it was revoked or used; never the token. [`read`] checks the form, the
//! MAC (in constant time), the purpose and the expiry; the store then checks the hash is on
//! record, not revoked, and (for single-use links) not used.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::endpoint::Keys;

/// What a link is for; each purpose signs with a key of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A standing order's self-service page.
    Standing,
    /// A survey invitation.
    Survey,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Standing => "standing",
            Purpose::Survey => "survey",
        }
    }

    fn key(self, keys: &Keys) -> [u8; 32] {
        keys.derive(&format!("link/{}", self.as_str()))
    }
}

/// The longest subject a link may carry.
pub const SUBJECT_MAX: usize = 128;
/// The random bytes of each link.
pub const NONCE_BYTES: usize = 16;
const EXPIRY_BYTES: usize = 8;
const MAC_BYTES: usize = 32;
/// The longest token [`read`] looks at; anything longer is refused before it is decoded.
pub const TOKEN_MAX: usize = 4 * (EXPIRY_BYTES + NONCE_BYTES + SUBJECT_MAX).div_ceil(3) + 1 + 43;

/// A link as issued: the token goes to the party (once), the hash to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    pub hash: String,
    pub subject: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

/// What a token that passed [`read`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub subject: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
    /// The token's hash: the key its record is stored under.
    pub hash: String,
}

/// Why a token is refused. A refused party sees one message whatever the reason (a page says
/// the link does not open and how to get a new one); the reason is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed: {0}")]
    Malformed(&'static str),
    /// The MAC does not match: the token was altered, made up, or made for another purpose.
    #[error("the link's signature does not match (altered, forged, or for something else)")]
    Forged,
    #[error("the link expired at {0} (seconds since the epoch)")]
    Expired(i64),
    #[error("the link cannot be made: {0}")]
    Subject(&'static str),
}

type HmacSha256 = Hmac<Sha256>;

fn mac(keys: &Keys, purpose: Purpose) -> HmacSha256 {
    HmacSha256::new_from_slice(&purpose.key(keys)).expect("HMAC takes keys of any length")
}

/// The hex SHA-256 of a token: what a store keeps of it.
pub fn hash(token: &str) -> String {
    crate::access::hex(&Sha256::digest(token.as_bytes()))
}

/// A subject a link may carry: 1 to [`SUBJECT_MAX`] bytes of ASCII letters, digits, `-`, `_`,
/// `.` and `:`.
pub fn valid_subject(subject: &str) -> bool {
    !subject.is_empty()
        && subject.len() <= SUBJECT_MAX
        && subject
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Makes a link for `subject`, valid until `expires_at` (seconds since the epoch). `nonce`
/// must be fresh random bytes (the caller draws them: this crate does no IO).
pub fn issue(
    keys: &Keys,
    purpose: Purpose,
    subject: &str,
    expires_at: i64,
    nonce: [u8; NONCE_BYTES],
) -> Result<Issued, LinkError> {
    if !valid_subject(subject) {
        return Err(LinkError::Subject(
            "a subject is 1 to 128 ASCII letters, digits, `-`, `_`, `.` or `:`",
        ));
    }
    let mut payload = Vec::with_capacity(EXPIRY_BYTES + NONCE_BYTES + subject.len());
    payload.extend_from_slice(&expires_at.to_be_bytes());
    payload.extend_from_slice(&nonce);
    payload.extend_from_slice(subject.as_bytes());
    let mut m = mac(keys, purpose);
    m.update(&payload);
    let tag = m.finalize().into_bytes();
    let token = format!("{}.{}", B64URL.encode(&payload), B64URL.encode(tag));
    Ok(Issued {
        hash: hash(&token),
        token,
        subject: subject.to_owned(),
        expires_at,
    })
}

/// Checks a token for `purpose` at `now` (seconds since the epoch): its form, its MAC, its
/// expiry. The store's record of it (revoked, used) is the caller's to check next.
pub fn read(keys: &Keys, purpose: Purpose, token: &str, now: i64) -> Result<Claims, LinkError> {
    if token.len() > TOKEN_MAX {
        return Err(LinkError::Malformed("too long"));
    }
    let (payload, tag) = token
        .split_once('.')
        .ok_or(LinkError::Malformed("no `.` between payload and signature"))?;
    let payload = B64URL
        .decode(payload)
        .map_err(|_| LinkError::Malformed("the payload is not base64url"))?;
    let tag = B64URL
        .decode(tag)
        .map_err(|_| LinkError::Malformed("the signature is not base64url"))?;
    if tag.len() != MAC_BYTES {
        return Err(LinkError::Malformed("the signature has the wrong length"));
    }
    if payload.len() <= EXPIRY_BYTES + NONCE_BYTES {
        return Err(LinkError::Malformed("the payload is too short"));
    }
    let mut m = mac(keys, purpose);
    m.update(&payload);
    m.verify_slice(&tag).map_err(|_| LinkError::Forged)?;
    // Signed by us from here on: the checks below hold for what `issue` wrote.
    let (expiry, rest) = payload.split_at(EXPIRY_BYTES);
    let expires_at = i64::from_be_bytes(expiry.try_into().expect("8 bytes"));
    let subject = std::str::from_utf8(&rest[NONCE_BYTES..])
        .ok()
        .filter(|s| valid_subject(s))
        .ok_or(LinkError::Malformed(
            "the subject is not one a link carries",
        ))?;
    if now >= expires_at {
        return Err(LinkError::Expired(expires_at));
    }
    Ok(Claims {
        subject: subject.to_owned(),
        expires_at,
        hash: hash(token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(b: u8) -> Keys {
        Keys::from_bytes([b; 32])
    }

    #[test]
    fn an_issued_link_reads_back_until_it_expires() {
        let k = keys(7);
        let link = issue(&k, Purpose::Standing, "so_42", 1_000, [1; 16]).unwrap();
        assert_eq!(link.hash, hash(&link.token));
        let claims = read(&k, Purpose::Standing, &link.token, 999).unwrap();
        assert_eq!(
            (claims.subject.as_str(), claims.expires_at),
            ("so_42", 1_000)
        );
        assert_eq!(claims.hash, link.hash);
        assert_eq!(
            read(&k, Purpose::Standing, &link.token, 1_000),
            Err(LinkError::Expired(1_000))
        );
    }

    #[test]
    fn a_link_opens_nothing_else() {
        let k = keys(7);
        let link = issue(&k, Purpose::Standing, "so_42", 1_000, [1; 16]).unwrap();
        // Another purpose, another organization's key.
        assert_eq!(
            read(&k, Purpose::Survey, &link.token, 0),
            Err(LinkError::Forged)
        );
        assert_eq!(
            read(&keys(8), Purpose::Standing, &link.token, 0),
            Err(LinkError::Forged)
        );
        // Any character changed.
        for i in 0..link.token.len() {
            let mut t = link.token.clone().into_bytes();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap();
            assert!(
                read(&k, Purpose::Standing, &t, 0).is_err(),
                "changed at {i}"
            );
        }
        // A payload for another subject or a later expiry, with the old signature.
        let (_, tag) = link.token.split_once('.').unwrap();
        let mut payload = 9_999i64.to_be_bytes().to_vec();
        payload.extend_from_slice(&[1; 16]);
        payload.extend_from_slice(b"so_42");
        let longer = format!("{}.{tag}", B64URL.encode(payload));
        assert_eq!(
            read(&k, Purpose::Standing, &longer, 0),
            Err(LinkError::Forged)
        );
    }

    #[test]
    fn two_links_to_one_subject_differ() {
        let k = keys(7);
        let a = issue(&k, Purpose::Survey, "inv_1", 1_000, [1; 16]).unwrap();
        let b = issue(&k, Purpose::Survey, "inv_1", 1_000, [2; 16]).unwrap();
        assert_ne!(a.token, b.token);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn malformed_tokens_and_subjects_are_refused() {
        let k = keys(7);
        for t in [
            "",
            ".",
            "abc",
            "abc.def",
            "!!.??",
            &"A".repeat(TOKEN_MAX + 1),
        ] {
            assert!(
                matches!(
                    read(&k, Purpose::Standing, t, 0),
                    Err(LinkError::Malformed(_))
                ),
                "{t:?}"
            );
        }
        for s in ["", "a b", "é", &"x".repeat(SUBJECT_MAX + 1)] {
            assert!(
                issue(&k, Purpose::Standing, s, 1, [0; 16]).is_err(),
                "{s:?}"
            );
        }
        let longest = "x".repeat(SUBJECT_MAX);
        let link = issue(&k, Purpose::Standing, &longest, 1, [0; 16]).unwrap();
        assert!(link.token.len() <= TOKEN_MAX, "{}", link.token.len());
        assert_eq!(
            read(&k, Purpose::Standing, &link.token, 0).unwrap().subject,
            longest
        );
    }
}
