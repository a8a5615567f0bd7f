//! Signed customer-facing links on every store: a link opens its page until it expires, is
//! revoked or (single use) used; a token made for another purpose, altered, never recorded or
//! signed with another key opens nothing; and only the token's hash is kept.

use std::sync::Arc;

use touchbase_core::endpoint::Keys;
use touchbase_core::link::{self, LinkError, Purpose};

use super::Backend;
use crate::links::{self, Refused};

const SECOND: i64 = 1_000_000;

pub async fn links_open_until_expired_revoked_or_used(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    let keys = Keys::from_bytes([3; 32]);
    let now = 1_800_000_000 * SECOND;
    let hour = 3_600;
    let expires = now / SECOND + hour;
    let a = links::issue(store, &keys, Purpose::Standing, "so_1", expires, now)
        .await
        .unwrap();
    let b = links::issue(store, &keys, Purpose::Standing, "so_1", expires, now)
        .await
        .unwrap();
    let other = links::issue(store, &keys, Purpose::Standing, "so_2", expires, now)
        .await
        .unwrap();
    assert_ne!(a.token, b.token, "two links to one order differ");

    // Kept: the hash, never the token.
    let record = store.link(&a.hash).await.unwrap().unwrap();
    assert_eq!(record.hash, link::hash(&a.token));
    assert_eq!(
        (
            record.purpose.as_str(),
            record.subject.as_str(),
            record.expires_at
        ),
        ("standing", "so_1", expires)
    );
    assert!(store.link(&a.token).await.unwrap().is_none());
    let opened = links::open(store, &keys, Purpose::Standing, &a.token, false, now)
        .await
        .unwrap();
    assert_eq!(opened, record);

    // What opens nothing.
    let refused = |r: Result<_, Refused>| r.expect_err("refused");
    assert!(matches!(
        refused(links::open(store, &keys, Purpose::Survey, &a.token, false, now).await),
        Refused::Invalid(LinkError::Forged)
    ));
    assert!(matches!(
        refused(
            links::open(
                store,
                &Keys::from_bytes([4; 32]),
                Purpose::Standing,
                &a.token,
                false,
                now
            )
            .await
        ),
        Refused::Invalid(LinkError::Forged)
    ));
    assert!(matches!(
        refused(
            links::open(
                store,
                &keys,
                Purpose::Standing,
                &a.token,
                false,
                now + hour * SECOND
            )
            .await
        ),
        Refused::Invalid(LinkError::Expired(_))
    ));
    let unrecorded = link::issue(&keys, Purpose::Standing, "so_1", expires, [9; 16]).unwrap();
    assert!(matches!(
        refused(
            links::open(
                store,
                &keys,
                Purpose::Standing,
                &unrecorded.token,
                false,
                now
            )
            .await
        ),
        Refused::Unknown
    ));

    // Revoking an order's links closes them all, and no other order's.
    assert_eq!(
        store.revoke_links("standing", "so_1", now).await.unwrap(),
        2
    );
    assert_eq!(
        store.revoke_links("standing", "so_1", now).await.unwrap(),
        0
    );
    for token in [&a.token, &b.token] {
        assert!(matches!(
            refused(links::open(store, &keys, Purpose::Standing, token, false, now).await),
            Refused::Revoked
        ));
    }
    links::open(store, &keys, Purpose::Standing, &other.token, false, now)
        .await
        .unwrap();

    // A single-use link: opening uses nothing; the first use wins, once.
    let survey = links::issue(store, &keys, Purpose::Survey, "inv_7", expires, now)
        .await
        .unwrap();
    for _ in 0..2 {
        links::open(store, &keys, Purpose::Survey, &survey.token, true, now)
            .await
            .unwrap();
    }
    let store_arc: Arc<dyn crate::Store> = backend.fresh().await;
    let twice = links::issue(&*store_arc, &keys, Purpose::Survey, "inv_8", expires, now)
        .await
        .unwrap();
    let (one, two) = tokio::join!(
        {
            let (s, h) = (store_arc.clone(), twice.hash.clone());
            async move { s.use_link(&h, now).await.unwrap() }
        },
        {
            let (s, h) = (store_arc.clone(), twice.hash.clone());
            async move { s.use_link(&h, now).await.unwrap() }
        }
    );
    assert!(
        one ^ two,
        "exactly one of two uses at once wins: {one} {two}"
    );
    assert!(store.use_link(&survey.hash, now).await.unwrap());
    assert!(!store.use_link(&survey.hash, now).await.unwrap());
    assert!(matches!(
        refused(links::open(store, &keys, Purpose::Survey, &survey.token, true, now).await),
        Refused::Used
    ));
    assert_eq!(
        store.link(&survey.hash).await.unwrap().unwrap().used_at,
        Some(now)
    );
}
