//! Key customers and survey invitations (R14, R22): who may be asked, and one invitation per
//! eligible interaction after the contact rules ([`touchbase_core::voice::invite::plan`]),
//! each with its signed single-purpose link ([`crate::links`]) and every suppression kept with
//! its reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use touchbase_core::endpoint::Keys;
use touchbase_core::link::{self, NONCE_BYTES, Purpose};
use touchbase_core::period::Period;
use touchbase_core::voice::invite::{self, Candidate, Contact, Decision};
use touchbase_core::{Actor, Permission};

use crate::links::LinkRecord;
use crate::{OpError, Store, StoreError};

const DAY_US: i64 = 86_400_000_000;

/// A party the organization counts as a key customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyCustomer {
    pub party: String,
    pub segment: String,
    /// `file`, or the rule that chose it (`top 50 by value, 2026-01-01 to 2026-04-01`).
    pub source: String,
    /// Microseconds since the epoch.
    pub added_at: i64,
}

/// An invitation, frozen to the interaction it asks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub id: String,
    pub survey: String,
    /// The survey's version it asks.
    pub version: u32,
    pub point: String,
    pub event_id: String,
    /// The interaction's instant (microseconds since the epoch).
    pub at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    pub issued_at: i64,
    /// Whether a response answered it.
    pub answered: bool,
}

/// An eligible interaction not invited, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suppression {
    pub survey: String,
    pub event_id: String,
    pub point: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    pub at: i64,
    /// `sampled`, `surveyed_recently` or `contacted_recently`.
    pub reason: String,
    pub decided_at: i64,
}

/// An invitation just issued, with its link's path (`/r/SURVEY/TOKEN`), shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Issued {
    #[serde(flatten)]
    pub invitation: Invitation,
    pub link: String,
    /// Seconds since the epoch.
    pub expires_at: i64,
}

/// What an invitation run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteReport {
    pub survey: String,
    /// The period's bounds (microseconds since the epoch).
    pub from: i64,
    pub to: i64,
    /// Key customers' accepted interactions at the survey's points in the period.
    pub eligible: u64,
    /// Those decided by an earlier run (invited or suppressed), left as they were.
    pub decided_before: u64,
    pub invited: Vec<Issued>,
    /// Suppressions by reason.
    pub suppressed: BTreeMap<String, u64>,
}

/// The path of an invitation's page.
pub fn page_path(survey: &str, token: &str) -> String {
    format!("/r/{survey}/{token}")
}

/// What an invitation's link carries besides its id: the survey and its version
/// (`SURVEY:VERSION:INVITATION`; no key has a `:`), so that a token for one survey is refused
/// by another.
pub fn link_subject(survey: &str, version: u32, invitation: &str) -> String {
    format!("{survey}:{version}:{invitation}")
}

/// The survey, version and invitation of a link's subject.
pub fn subject_parts(subject: &str) -> Option<(&str, u32, &str)> {
    let mut parts = subject.splitn(3, ':');
    let (survey, version, invitation) = (parts.next()?, parts.next()?, parts.next()?);
    Some((survey, version.parse().ok()?, invitation))
}

/// Adds or replaces key customers (admins); returns how many are on record after.
pub async fn put_key_customers(
    store: &dyn Store,
    actor: &Actor,
    customers: &[KeyCustomer],
) -> Result<u64, OpError> {
    actor.require(Permission::Administer)?;
    for (i, c) in customers.iter().enumerate() {
        if c.party.trim().is_empty() || c.party.chars().count() > 128 {
            return Err(OpError::invalid(
                format!("key customer {}", i + 1),
                "party",
                "must be 1 to 128 characters",
            ));
        }
    }
    store.put_key_customers(customers).await?;
    Ok(store.key_customers().await?.len() as u64)
}

/// The key customers, by party.
pub async fn key_customers(store: &dyn Store, actor: &Actor) -> Result<Vec<KeyCustomer>, OpError> {
    actor.require(Permission::Export)?;
    Ok(store.key_customers().await?)
}

/// Key customers by behaviour: the `n` parties with the most value to the organization
/// (Σ `value.company` of their accepted events) over `period`, ties by party, recorded under
/// `segment` with the rule as their source (admins). Returns those chosen.
pub async fn top_customers(
    store: &dyn Store,
    actor: &Actor,
    n: usize,
    period: Period,
    segment: &str,
    now: i64,
) -> Result<Vec<KeyCustomer>, OpError> {
    actor.require(Permission::Administer)?;
    let mut value: HashMap<String, f64> = HashMap::new();
    for day in days_of(period) {
        for e in store.events_of_day(day).await? {
            if let Some(party) = &e.party
                && (period.from..period.to).contains(&e.at)
            {
                *value.entry(party.clone()).or_default() += e.value_company;
            }
        }
    }
    let mut ranked: Vec<(String, f64)> = value.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let source = format!(
        "top {n} by value, {} to {}",
        touchbase_core::rules::instant(period.from),
        touchbase_core::rules::instant(period.to)
    );
    let chosen: Vec<KeyCustomer> = ranked
        .into_iter()
        .take(n)
        .map(|(party, _)| KeyCustomer {
            party,
            segment: segment.to_owned(),
            source: source.clone(),
            added_at: now,
        })
        .collect();
    store.put_key_customers(&chosen).await?;
    Ok(chosen)
}

/// The UTC days a period touches.
fn days_of(period: Period) -> std::ops::Range<i64> {
    period
        .day_range()
        .map_or(0..0, |(first, last)| first..last + 1)
}

/// When a survey link made at `now` (microseconds) expires: `survey.link_days` later, in
/// seconds since the epoch.
fn link_expiry(settings: &touchbase_core::portfolio::Settings, now: i64) -> i64 {
    now.div_euclid(1_000_000)
        + i64::try_from(settings.survey_link_days).unwrap_or(90) * (DAY_US / 1_000_000)
}

/// A survey link for invitation `id` (signed with `nonce`) and the record the store keeps of
/// it: the token's hash, never the token.
fn survey_link(
    keys: &Keys,
    survey: &str,
    version: u32,
    id: &str,
    expires_at: i64,
    nonce: [u8; NONCE_BYTES],
    now: i64,
) -> Result<(link::Issued, LinkRecord), OpError> {
    let subject = link_subject(survey, version, id);
    let token = link::issue(keys, Purpose::Survey, &subject, expires_at, nonce)
        .map_err(|e| StoreError::backend("signing an invitation's link", e))?;
    let record = LinkRecord {
        hash: token.hash.clone(),
        purpose: Purpose::Survey.as_str().to_owned(),
        subject: token.subject.clone(),
        expires_at,
        created_at: now,
        revoked_at: None,
        used_at: None,
    };
    Ok((token, record))
}

/// The contacts the contact rules weigh: every invitation that still names its party.
fn contacts_of(invitations: &[Invitation]) -> Vec<Contact> {
    invitations
        .iter()
        .filter_map(|i| {
            i.party.as_ref().map(|p| Contact {
                survey: i.survey.clone(),
                party: p.clone(),
                at: i.at,
            })
        })
        .collect()
}

/// Invites key customers to `survey` for their interactions in `period` (owners and up): one
/// invitation per eligible interaction not decided before, after the contact rules of the
/// organization's settings, each with a link valid for `survey.link_days`. Suppressions are
/// kept with their reasons.
pub async fn invite(
    store: &dyn Store,
    actor: &Actor,
    keys: &Keys,
    survey_key: &str,
    period: Period,
    now: i64,
) -> Result<InviteReport, OpError> {
    actor.require(Permission::Propose)?;
    let inventory = crate::inventory::get(store).await?.value;
    let survey = crate::surveys::get(store, actor, survey_key).await?;
    let settings = inventory.organization.settings;
    let key: BTreeSet<String> = store
        .key_customers()
        .await?
        .into_iter()
        .map(|c| c.party)
        .collect();
    let points: BTreeSet<&str> = survey.points.iter().map(String::as_str).collect();
    let mut candidates = Vec::new();
    for day in days_of(period) {
        for e in store.events_of_day(day).await? {
            let Some(party) = e.party else { continue };
            if (period.from..period.to).contains(&e.at)
                && points.contains(e.point.as_str())
                && key.contains(&party)
            {
                candidates.push(Candidate {
                    event_id: e.id,
                    point: e.point,
                    party,
                    at: e.at,
                });
            }
        }
    }
    let eligible = candidates.len() as u64;
    let all = store.invitations(None).await?;
    let decided: BTreeSet<String> = all
        .iter()
        .filter(|i| i.survey == survey.key)
        .map(|i| i.event_id.clone())
        .chain(
            store
                .suppressions(&survey.key)
                .await?
                .into_iter()
                .map(|s| s.event_id),
        )
        .collect();
    candidates.retain(|c| !decided.contains(&c.event_id));
    let decided_before = eligible - candidates.len() as u64;
    let contacts = contacts_of(&all);
    let expires_at = link_expiry(&settings, now);
    let mut issued = Vec::new();
    let mut suppressions = Vec::new();
    for decision in invite::plan(
        &survey.key,
        candidates,
        &contacts,
        &settings.contact_rules(),
    ) {
        match decision {
            Decision::Invite(c) => {
                let id = invite::invitation_id(&survey.key, &c.event_id);
                let mut nonce = [0u8; NONCE_BYTES];
                getrandom::fill(&mut nonce).map_err(|e| {
                    StoreError::backend(
                        "drawing a link's nonce",
                        format!("the system's random source failed: {e}"),
                    )
                })?;
                let (token, record) = survey_link(
                    keys,
                    &survey.key,
                    survey.version,
                    &id,
                    expires_at,
                    nonce,
                    now,
                )?;
                let invitation = Invitation {
                    id,
                    survey: survey.key.clone(),
                    version: survey.version,
                    point: c.point,
                    event_id: c.event_id,
                    at: c.at,
                    party: Some(c.party),
                    issued_at: now,
                    answered: false,
                };
                issued.push((
                    Issued {
                        invitation,
                        link: page_path(&survey.key, &token.token),
                        expires_at,
                    },
                    record,
                ));
            }
            Decision::Suppress(c, reason) => suppressions.push(Suppression {
                survey: survey.key.clone(),
                event_id: c.event_id,
                point: c.point,
                party: Some(c.party),
                at: c.at,
                reason: reason.as_str().to_owned(),
                decided_at: now,
            }),
        }
    }
    let pairs: Vec<(Invitation, LinkRecord)> = issued
        .iter()
        .map(|(i, r)| (i.invitation.clone(), r.clone()))
        .collect();
    let written = store.put_invitations(&pairs, &suppressions).await?;
    let mut suppressed: BTreeMap<String, u64> = BTreeMap::new();
    for s in &suppressions {
        *suppressed.entry(s.reason.clone()).or_default() += 1;
    }
    Ok(InviteReport {
        survey: survey.key,
        from: period.from,
        to: period.to,
        eligible,
        decided_before,
        // Another run may have invited the same interaction meanwhile: its link is the one.
        invited: issued
            .into_iter()
            .zip(written)
            .filter(|(_, new)| *new)
            .map(|((i, _), _)| i)
            .collect(),
        suppressed,
    })
}

/// The invitations of `survey` (all surveys without one), by interaction instant.
pub async fn invitations(
    store: &dyn Store,
    actor: &Actor,
    survey: Option<&str>,
) -> Result<Vec<Invitation>, OpError> {
    actor.require(Permission::Export)?;
    Ok(store.invitations(survey).await?)
}

/// A new link to an invitation not answered yet (owners and up), valid for `survey.link_days`;
/// every earlier link to it stops working. The link's path, shown once.
pub async fn relink(
    store: &dyn Store,
    actor: &Actor,
    keys: &Keys,
    id: &str,
    now: i64,
) -> Result<Issued, OpError> {
    actor.require(Permission::Propose)?;
    let invitation = store.invitation(id).await?.ok_or_else(|| {
        OpError::NotFound(format!(
            "invitation `{id}`: does not exist; `touchbase survey invitations SURVEY` lists them"
        ))
    })?;
    if invitation.answered {
        return Err(OpError::invalid(
            format!("invitation `{id}`"),
            "",
            "is answered already: it takes one response",
        ));
    }
    let settings = crate::inventory::get(store)
        .await?
        .value
        .organization
        .settings;
    let subject = link_subject(&invitation.survey, invitation.version, &invitation.id);
    store
        .revoke_links(Purpose::Survey.as_str(), &subject, now)
        .await?;
    let expires_at = link_expiry(&settings, now);
    let issued = crate::links::issue(store, keys, Purpose::Survey, &subject, expires_at, now)
        .await
        .map_err(|e| match e {
            crate::links::Refused::Store(e) => OpError::Store(e),
            other => OpError::Store(StoreError::backend("issuing a survey link", other)),
        })?;
    Ok(Issued {
        link: page_path(&invitation.survey, &issued.token),
        invitation,
        expires_at,
    })
}

/// The interaction a rule's `invite` action is about: the event that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub event_id: String,
    pub point: String,
    /// Microseconds since the epoch.
    pub at: i64,
    pub party: Option<String>,
}

/// What a rule's `invite` action handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum HandedOut {
    /// The invitation, with its link (`/r/SURVEY/TOKEN`) and expiry (seconds since the epoch).
    Invited {
        invitation: String,
        survey: String,
        party: String,
        link: String,
        expires_at: i64,
    },
    /// Not invited, and why: `not_surveyed_point`, `no_party`, `not_key_customer`,
    /// `answered_already`, or a contact rule's reason (`sampled`, `surveyed_recently`,
    /// `contacted_recently`).
    Suppressed { survey: String, suppressed: String },
}

/// Hands out an invitation to `survey_key` for the interaction a rule fired on, as the reverse
/// feed's `invite` action does at each attempt of delivery `delivery` (fired at `fired_at`,
/// microseconds): the same key customers and contact rules as `touchbase survey invite`, and
/// the same answer at every attempt — the invitation is decided once per (survey, event), and
/// its link is made again from the organization's key, the delivery's id and its firing
/// instant, so a retried delivery carries the very link of the first (only its hash is
/// kept, as for every link).
pub async fn hand_out(
    store: &dyn Store,
    keys: &Keys,
    survey_key: &str,
    fired: &Fired,
    delivery: &str,
    fired_at: i64,
) -> Result<HandedOut, OpError> {
    let inventory = crate::inventory::get(store).await?.value;
    let Some(survey) = inventory.surveys.iter().find(|s| s.key == survey_key) else {
        return Err(OpError::NotFound(format!(
            "survey `{survey_key}`: not in the inventory; `touchbase survey list` shows them"
        )));
    };
    let suppressed = |reason: &str| HandedOut::Suppressed {
        survey: survey.key.clone(),
        suppressed: reason.to_owned(),
    };
    if !survey.points.contains(&fired.point) {
        return Ok(suppressed("not_surveyed_point"));
    }
    let Some(party) = fired.party.clone() else {
        return Ok(suppressed("no_party"));
    };
    if !store
        .key_customers()
        .await?
        .iter()
        .any(|c| c.party == party)
    {
        return Ok(suppressed("not_key_customer"));
    }
    let settings = inventory.organization.settings;
    let id = invite::invitation_id(&survey.key, &fired.event_id);
    let existing = store.invitation(&id).await?;
    if existing.is_none()
        && let Some(s) = store
            .suppressions(&survey.key)
            .await?
            .into_iter()
            .find(|s| s.event_id == fired.event_id)
    {
        return Ok(suppressed(&s.reason));
    }
    let expires_at = link_expiry(&settings, fired_at);
    let digest = touchbase_core::access::sha256_hex(format!("invite\u{0}{delivery}").as_bytes());
    let mut nonce = [0u8; NONCE_BYTES];
    for (i, b) in nonce.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    let version = existing.as_ref().map_or(survey.version, |i| i.version);
    let (token, record) =
        survey_link(keys, &survey.key, version, &id, expires_at, nonce, fired_at)?;
    let invited = |party: String| HandedOut::Invited {
        invitation: id.clone(),
        survey: survey.key.clone(),
        party,
        link: page_path(&survey.key, &token.token),
        expires_at,
    };
    if existing.as_ref().is_some_and(|i| i.answered) {
        return Ok(suppressed("answered_already"));
    }
    if existing.is_some() {
        // Decided before (a first attempt, or `survey invite`): this delivery's link is
        // recorded once.
        if store.link(&record.hash).await?.is_none() {
            store.put_link(&record).await?;
        }
        return Ok(invited(party));
    }
    let contacts = contacts_of(&store.invitations(None).await?);
    let candidate = Candidate {
        event_id: fired.event_id.clone(),
        point: fired.point.clone(),
        party: party.clone(),
        at: fired.at,
    };
    let decision = invite::plan(
        &survey.key,
        vec![candidate],
        &contacts,
        &settings.contact_rules(),
    )
    .pop();
    match decision {
        Some(Decision::Invite(c)) => {
            let invitation = Invitation {
                id: id.clone(),
                survey: survey.key.clone(),
                version,
                point: c.point,
                event_id: c.event_id,
                at: c.at,
                party: Some(c.party),
                issued_at: fired_at,
                answered: false,
            };
            store
                .put_invitations(&[(invitation, record.clone())], &[])
                .await?;
            Ok(invited(party))
        }
        Some(Decision::Suppress(c, reason)) => {
            let s = Suppression {
                survey: survey.key.clone(),
                event_id: c.event_id,
                point: c.point,
                party: Some(c.party),
                at: c.at,
                reason: reason.as_str().to_owned(),
                decided_at: fired_at,
            };
            store.put_invitations(&[], &[s]).await?;
            Ok(suppressed(reason.as_str()))
        }
        None => Ok(suppressed("not_invited")),
    }
}
