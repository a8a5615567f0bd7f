//! Sign-off and access (R6, R22): only executives decide, a baseline applies at once only on a
//! store's first import, a live point's strategic value and data contract wait for sign-off,
//! `go-live` checks the permission first, edits land only over the version read, and tokens.

use serde_json::json;
use touchbase_core::Role::*;
use touchbase_core::governance::{ProposalKind, ProposalStatus};
use touchbase_core::{Point, Status, StrategicValue};

use super::{
    Backend, SMALL, add_users, admin, baseline, ingest, inputs, parse, point_of, proposed_point,
    user,
};
use crate::inventory::{self, ImportMode};
use crate::{OpError, access, proposals};

/// Administrators administer; they neither approve nor reject, whoever proposed.
pub async fn admins_administer_but_never_sign_off(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let olga = user("olga", Owner, &["ecommerce"]);
    inventory::add_point(store, &olga, proposed_point("app.order"))
        .await
        .unwrap();
    let id = proposals::list(store, &olga)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    let ada = user("ada", Admin, &[]);
    for approve in [true, false] {
        for who in [admin(), ada.clone()] {
            let err = proposals::decide(store, &who, id, approve, "as admin")
                .await
                .unwrap_err();
            assert!(
                matches!(err, OpError::Denied(_))
                    && err.to_string().contains("only executives sign off"),
                "{err}"
            );
        }
    }
    let proposal = proposals::get(store, &olga, id).await.unwrap();
    assert_eq!(
        (proposal.status, proposal.decisions.len()),
        (ProposalStatus::Pending, 0)
    );
    // The executives decide as before; nobody decides their own proposal.
    let erin = user("erin", Executive, &[]);
    inventory::add_point(store, &erin, proposed_point("exec.point"))
        .await
        .unwrap();
    let own = proposals::list(store, &erin)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;
    let err = proposals::decide(store, &erin, own, true, "mine")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nobody approves or rejects their own proposal"),
        "{err}"
    );
    // Proposals are read with the export permission, as the role matrix says.
    let vic = user("vic", Viewer, &[]);
    let err = proposals::list(store, &vic).await.unwrap_err().to_string();
    assert!(err.contains("vic has the role viewer"), "{err}");
    assert!(proposals::get(store, &vic, id).await.is_err());
}

/// A point as `SMALL` has `web.order`, under another key, live.
fn live_point(key: &str) -> Point {
    let mut point = Point {
        status: Status::Live,
        ..proposed_point(key)
    };
    point.normalize();
    point
}

/// The first import takes a baseline at once; a later one opens one proposal for its batch,
/// whose points stay `proposed` (their interactions held) until the executives approve.
pub async fn a_later_baseline_is_one_proposal_for_the_whole_batch(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "web.order").status,
        Status::Live,
        "the first import's baseline applies at once"
    );
    add_users(store).await;

    let mut file = parse(SMALL);
    file.points.push(live_point("kiosk.order"));
    file.points.push(live_point("van.order"));
    let planned = inventory::plan_import(store, &admin(), &file, ImportMode::Baseline)
        .await
        .unwrap();
    let summary = touchbase_core::change::ImportSummary::new(true, planned);
    let plan = summary
        .baseline_proposal
        .clone()
        .expect("the plan shows the proposal");
    assert_eq!(plan.points, ["kiosk.order", "van.order"]);
    assert!(
        touchbase_core::change::render_plan(&summary).contains("kiosk.order, van.order"),
        "{}",
        touchbase_core::change::render_plan(&summary)
    );

    let changes = inventory::import(store, &admin(), &file, ImportMode::Baseline)
        .await
        .unwrap();
    let summary = touchbase_core::change::ImportSummary::new(false, changes);
    assert_eq!(summary.proposals_opened, 1);
    let now = inventory::get(store).await.unwrap().value;
    for key in ["kiosk.order", "van.order"] {
        assert_eq!(point_of(&now, key).status, Status::Proposed, "{key}");
    }
    let pending: Vec<_> = proposals::list(store, &admin())
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.status == ProposalStatus::Pending && p.kind == ProposalKind::Baseline)
        .collect();
    assert_eq!(pending.len(), 1, "one proposal for the batch");
    let proposal = &pending[0];
    assert_eq!(proposal.kind, ProposalKind::Baseline);
    assert_eq!(
        Some(proposal.id),
        summary.baseline_proposal.map(|b| b.proposal)
    );
    assert_eq!(
        proposal.batch,
        [live_point("kiosk.order"), live_point("van.order")]
    );
    assert_eq!(proposal.proposer, "local-admin");

    // The same file again changes nothing and opens nothing.
    let again = inventory::import(store, &admin(), &file, ImportMode::Baseline)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    let plain = inventory::import(store, &admin(), &file, ImportMode::Normal)
        .await
        .unwrap();
    assert!(plain.is_empty(), "{plain:?}");

    // Interactions at the batch's points are held meanwhile.
    ingest(
        store,
        inputs(&[json!({ "point": "kiosk.order", "at": "2026-03-01T09:30:00Z" })]),
    )
    .await;
    assert_eq!(store.event_counts().await.unwrap(), (0, 1));

    let (erin, ed) = (user("erin", Executive, &[]), user("ed", Executive, &[]));
    let one = proposals::decide(store, &erin, proposal.id, true, "they exist")
        .await
        .unwrap();
    assert_eq!(one.status, ProposalStatus::Pending);
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "van.order").status,
        Status::Proposed
    );
    let two = proposals::decide(store, &ed, proposal.id, true, "agreed")
        .await
        .unwrap();
    assert_eq!(two.status, ProposalStatus::Approved);
    let now = inventory::get(store).await.unwrap().value;
    for key in ["kiosk.order", "van.order"] {
        assert_eq!(point_of(&now, key).status, Status::Live, "{key}");
    }
    assert_eq!(
        store.event_counts().await.unwrap(),
        (1, 0),
        "what was held counts once the batch is live"
    );

    // Rejected: the batch's points do not go live.
    let mut more = file.clone();
    more.points.push(live_point("fax.order"));
    inventory::import(store, &admin(), &more, ImportMode::Baseline)
        .await
        .unwrap();
    let fax = proposals::list(store, &admin())
        .await
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!((fax.kind, fax.batch.len()), (ProposalKind::Baseline, 1));
    proposals::decide(store, &erin, fax.id, false, "nobody faxes")
        .await
        .unwrap();
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "fax.order").status,
        Status::Rejected
    );
}

/// A store whose first import was not a baseline (points proposed first) takes no baseline at
/// once later.
pub async fn a_baseline_after_points_were_recorded_waits_for_sign_off(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    inventory::init(store, &admin(), parse(SMALL).organization)
        .await
        .unwrap();
    let mut first = parse(SMALL);
    first.points.clear();
    first.points.push(proposed_point("app.order"));
    inventory::import(store, &admin(), &first, ImportMode::Normal)
        .await
        .unwrap();
    let mut file = first.clone();
    file.points.push(live_point("kiosk.order"));
    inventory::import(store, &admin(), &file, ImportMode::Baseline)
        .await
        .unwrap();
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "kiosk.order").status,
        Status::Proposed
    );
    assert!(
        proposals::list(store, &admin())
            .await
            .unwrap()
            .iter()
            .any(|p| p.kind == ProposalKind::Baseline && p.status == ProposalStatus::Pending)
    );
}

/// A live point's strategic value (the portfolio's override) and data contract (what conforms,
/// R13) are material: they wait for sign-off; the point keeps them meanwhile.
pub async fn strategic_value_and_contract_of_a_live_point_wait_for_sign_off(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let olga = user("olga", Owner, &["ecommerce"]);
    let live = point_of(&inventory::get(store).await.unwrap().value, "web.order");
    assert_eq!(live.strategic_value, StrategicValue::High);

    let mut lower = live.clone();
    lower.strategic_value = StrategicValue::Low;
    inventory::put_point(store, &olga, lower).await.unwrap();
    let mut no_check = live.clone();
    no_check.contract = Some(json!({}));
    inventory::put_point(store, &olga, no_check).await.unwrap();

    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "web.order"),
        live,
        "the live point is unchanged until sign-off"
    );
    let reasons: Vec<Vec<String>> = proposals::list(store, &olga)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.kind == ProposalKind::Change && p.status == ProposalStatus::Pending)
        .map(|p| p.reasons)
        .collect();
    assert_eq!(
        reasons,
        [
            vec!["changes strategic_value: high → low".to_owned()],
            vec!["changes its data contract: the one derived from `data` → {}".to_owned()],
        ]
    );
}

/// `go-live` asks for the permission before anything, an already-live point included.
pub async fn go_live_checks_the_permission_first(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    add_users(store).await;
    let vic = user("vic", Viewer, &[]);
    for key in ["web.order", "phone.support", "no.such.point"] {
        let err = inventory::go_live(store, &vic, key).await.unwrap_err();
        assert!(matches!(err, OpError::Denied(_)), "{key}: {err}");
    }
    // An owner of other points may not release the held events of this one either.
    let oscar = user("oscar", Owner, &["elsewhere"]);
    let err = inventory::go_live(store, &oscar, "web.order")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("only its owner `ecommerce`"), "{err}");
    let olga = user("olga", Owner, &["ecommerce"]);
    assert!(
        inventory::go_live(store, &olga, "web.order")
            .await
            .unwrap()
            .is_empty()
    );
}

/// An edit made against a version of a point lands only if the point is still that version.
pub async fn an_edit_lands_only_over_the_version_it_read(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    baseline(store, &parse(SMALL)).await;
    let read = point_of(&inventory::get(store).await.unwrap().value, "web.order");
    let tag = read.etag();
    assert_eq!(tag.len(), 34, "128 bits in hex, quoted: {tag}");

    // Someone else edits meanwhile.
    let mut theirs = read.clone();
    theirs.name = "Their name".into();
    inventory::put_point(store, &admin(), theirs.clone())
        .await
        .unwrap();
    let mut mine = read.clone();
    mine.description = "My description".into();
    let err = inventory::put_point_if(store, &admin(), mine.clone(), &[&tag])
        .await
        .unwrap_err();
    assert!(matches!(err, OpError::PointChanged { .. }), "{err}");
    assert!(
        err.to_string().contains("changed since it was read"),
        "{err}"
    );
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "web.order"),
        theirs,
        "their edit is kept"
    );
    // Against the version as it is now, it lands.
    let fresh = theirs.etag();
    assert_ne!(fresh, tag);
    mine.name = theirs.name.clone();
    inventory::put_point_if(store, &admin(), mine.clone(), &[&fresh])
        .await
        .unwrap();
    assert_eq!(
        point_of(&inventory::get(store).await.unwrap().value, "web.order"),
        mine
    );
}

/// Tokens: 192 random bits, ids of 128 bits, the last use recorded when later than the one on
/// record.
pub async fn tokens_are_long_and_their_last_use_is_recorded(backend: &dyn Backend) {
    let store = backend.fresh().await;
    let store = &*store;
    let issued = access::add_user(store, &admin(), "ana", Analyst, vec![])
        .await
        .unwrap();
    let secret = issued.secret.strip_prefix("tb_").unwrap();
    assert!(secret.len() * 4 >= 128, "{secret}");
    assert!(secret.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(issued.id.len(), "tk_".len() + 32, "{}", issued.id);
    let other = access::issue_token(store, &admin(), "ana").await.unwrap();
    assert_ne!(other.id, issued.id);
    for name in ["local-admin", "touchbase-server"] {
        assert!(
            access::add_user(store, &admin(), name, Viewer, vec![])
                .await
                .is_err()
        );
    }

    let hash = touchbase_core::access::token_hash(&issued.secret);
    access::record_use(store, &[(hash.clone(), "2026-03-01T10:00:00Z".into())])
        .await
        .unwrap();
    access::record_use(store, &[(hash.clone(), "2026-03-01T09:00:00Z".into())])
        .await
        .unwrap();
    let (_, tokens) = access::list(store, &admin()).await.unwrap();
    let used = tokens.iter().find(|t| t.id == issued.id).unwrap();
    assert_eq!(used.last_used_at.as_deref(), Some("2026-03-01T10:00:00Z"));
    let unused = tokens.iter().find(|t| t.id == other.id).unwrap();
    assert_eq!(unused.last_used_at, None);
    let audit = store.audit().await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.action.as_str()),
        ("touchbase-server", "token.use")
    );
    // The token still authenticates after its use was recorded.
    assert_eq!(
        access::authenticate(store, &issued.secret)
            .await
            .unwrap()
            .name,
        "ana"
    );
}
