//! How rejects are kept: a long input as its head, its length and the hash of the whole; in
//! pages; pruned by date.

use touchbase_core::event::{NewReject, REJECT_HEAD};

use super::{Backend, SMALL, admin, baseline, ingest, parse};

/// The SHA-256 of a whole text, in hex, as a reject of it records.
fn sha256(text: &str) -> String {
    let reject = NewReject::new("test", text.as_bytes(), Vec::new());
    assert_eq!(reject.sha256.len(), 64);
    reject.sha256
}

/// An input longer than the kept head is stored as its first 64 KiB, its length and the
/// SHA-256 of the whole, and is never replayed; the same long input again is kept once, one
/// that differs only after the head is another reject.
pub async fn long_rejects_keep_their_head_hash_and_length(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let long = format!(
        "{{\"point\": \"web.order\", \"pad\": \"{}\"",
        "x".repeat(200_000)
    );
    let other = format!("{long}y");
    let short = r#"{"point": "web.order"}"#;
    let input = |raw: &str| crate::ingest::Input::new(raw, "test");
    ingest(store, vec![input(&long), input(short)]).await;
    ingest(store, vec![input(&long), input(&other)]).await;
    let rejects = store.rejects().await.unwrap();
    assert_eq!(
        rejects.len(),
        3,
        "{:?}",
        rejects.iter().map(|r| r.length).collect::<Vec<_>>()
    );
    let (first, second, third) = (&rejects[0], &rejects[1], &rejects[2]);
    assert_eq!(first.raw.len(), REJECT_HEAD);
    assert_eq!(first.raw, long[..REJECT_HEAD]);
    assert_eq!(first.length, long.len() as u64);
    assert_eq!(first.sha256, sha256(&long));
    assert!(first.truncated && !first.replayable);
    assert!(
        first.reasons.iter().any(|r| r.contains("not replayable")),
        "{:?}",
        first.reasons
    );
    assert_eq!(second.raw, short);
    assert_eq!(second.length, short.len() as u64);
    assert_eq!(second.sha256, sha256(short));
    assert!(!second.truncated && second.replayable);
    assert_eq!(third.length, other.len() as u64);
    assert!(third.truncated);
    let replay = crate::ingest::replay(store, &admin(), None).await.unwrap();
    assert_eq!(replay.not_replayable, 2);
}

/// Rejects come in pages by id, and go when pruned by the instant they were received.
pub async fn rejects_come_in_pages_and_are_pruned_by_date(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    let at = |day: i64| day * touchbase_core::period::DAY_US;
    for (day, n) in [(1, 3), (2, 2)] {
        let rejects = (0..n)
            .map(|i| NewReject::new("test", format!("day {day} #{i}").as_bytes(), vec![]))
            .collect();
        store
            .write_events(Vec::new(), rejects, at(day))
            .await
            .unwrap();
    }
    let mut pages = Vec::new();
    let mut after = i64::MIN;
    loop {
        let page = store.rejects_after(after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        pages.push(page.iter().map(|r| r.raw.clone()).collect::<Vec<_>>());
    }
    assert_eq!(
        pages,
        [
            vec!["day 1 #0", "day 1 #1"],
            vec!["day 1 #2", "day 2 #0"],
            vec!["day 2 #1"],
        ]
    );
    assert_eq!(store.prune_rejects(at(1)).await.unwrap(), 0);
    assert_eq!(store.prune_rejects(at(2)).await.unwrap(), 3);
    let left: Vec<String> = store
        .rejects()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.raw)
        .collect();
    assert_eq!(left, ["day 2 #0", "day 2 #1"]);
    let viewer = touchbase_core::Actor {
        role: touchbase_core::Role::Viewer,
        ..admin()
    };
    assert!(
        crate::ingest::prune_rejects(store, &viewer, at(3))
            .await
            .is_err()
    );
    assert_eq!(
        crate::ingest::prune_rejects(store, &admin(), at(3))
            .await
            .unwrap(),
        2
    );
}
