//! Taking survey responses in (R14): read → check against the survey → write, the same for a
//! file (`touchbase responses import`), `POST /api/responses` and the respondent page. A
//! response that breaks a rule is kept in the rejects with its reasons (its source marked
//! [`SOURCE_PREFIX`], so a replay takes it back this way), and the same response twice is one.

use serde::Serialize;
use touchbase_core::event::NewReject;
use touchbase_core::voice::{Identity, Response, Survey, VoiceTally};
use touchbase_core::{Actor, Inventory, Permission};

use crate::ingest::{Input, Outcome, Status};
use crate::{OpError, Store};

/// The start of a reject's source when the input was a response.
pub const SOURCE_PREFIX: &str = "response:";

const DAY_US: i64 = 86_400_000_000;

/// A response ready to be written, as it is kept: an anonymous one has no party and no
/// invitation, and its `at` is the start of the UTC day of the interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResponse {
    pub response: Response,
    /// The survey's version the response answers.
    pub version: u32,
    /// The invitation it answers, held once by the store's constraint (kept here even for an
    /// anonymous response, whose row does not keep it).
    pub answers_invitation: Option<String>,
    /// Whether that invitation is one touchbase issued (the response then counts as answering
    /// it in `response_rate`).
    pub invited: bool,
    /// The input as received, for the rejects when the store refuses it.
    pub raw: String,
    pub source: String,
}

/// What the store made of one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseWritten {
    Accepted,
    /// A response with this id is on record.
    Duplicate,
    /// Another response answered its invitation already; it is kept in the rejects.
    Answered,
}

/// The rule an already answered invitation breaks, as the rejects keep it.
pub const ANSWERED: &str = "invitation: already answered; an invitation takes one response";

/// What is kept of `response` under the survey's identity rule.
pub fn as_kept(mut response: Response, identity: Identity) -> Response {
    if identity == Identity::Anonymous {
        response.party = None;
        response.invitation = None;
        response.at = response.at.div_euclid(DAY_US) * DAY_US;
    }
    response
}

/// Reads and checks one input against the inventory's surveys: the response to write, or the
/// reasons it is rejected.
pub fn prepare(
    inventory: &Inventory,
    input: &Input,
    now_us: i64,
) -> Result<NewResponse, Vec<String>> {
    if let Some(reason) = &input.unreadable {
        return Err(vec![reason.clone()]);
    }
    let response = touchbase_core::voice::response::read(&input.raw, now_us)
        .map_err(|ps| ps.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let Some(survey) = inventory.surveys.iter().find(|s| s.key == response.survey) else {
        let known: Vec<&str> = inventory.surveys.iter().map(|s| s.key.as_str()).collect();
        return Err(vec![format!(
            "survey: unknown survey `{}`; the surveys are {}",
            response.survey,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )]);
    };
    let problems = touchbase_core::voice::response::check(&response, survey);
    if !problems.is_empty() {
        return Err(problems.iter().map(ToString::to_string).collect());
    }
    Ok(kept(response, survey, input))
}

fn kept(response: Response, survey: &Survey, input: &Input) -> NewResponse {
    let answers_invitation = response.invitation.clone();
    NewResponse {
        version: survey.version,
        answers_invitation,
        invited: false,
        raw: input.raw.clone(),
        source: format!("{SOURCE_PREFIX}{}", input.source),
        response: as_kept(response, survey.identity),
    }
}

/// A response that names an invitation touchbase issued answers it (it counts in
/// `response_rate`) if it is about the invitation's survey, point and interaction; one that
/// names another invitation (from another tool) is kept as it is. The reasons it is rejected
/// otherwise.
async fn of_invitation(
    store: &dyn Store,
    inventory: &Inventory,
    mut r: NewResponse,
) -> Result<Result<NewResponse, Vec<String>>, OpError> {
    let Some(id) = &r.answers_invitation else {
        return Ok(Ok(r));
    };
    let Some(invitation) = store.invitation(id).await? else {
        return Ok(Ok(r));
    };
    let x = &r.response;
    let anonymous = inventory
        .surveys
        .iter()
        .find(|s| s.key == x.survey)
        .is_some_and(|s| s.identity == Identity::Anonymous);
    let at = if anonymous {
        invitation.at.div_euclid(DAY_US) * DAY_US
    } else {
        invitation.at
    };
    if invitation.survey != x.survey || invitation.point != x.point || at != x.at {
        return Ok(Err(vec![format!(
            "invitation: {id} asks survey {} about the interaction at {} at {}; the response must name those",
            invitation.survey,
            invitation.point,
            touchbase_core::rules::instant(invitation.at)
        )]));
    }
    r.invited = true;
    Ok(Ok(r))
}

/// Counts of a batch or a whole import of responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponseSummary {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

impl ResponseSummary {
    pub fn add(&mut self, outcomes: &[Outcome]) {
        for o in outcomes {
            match o.status {
                Status::Accepted => self.accepted += 1,
                Status::Duplicate => self.duplicates += 1,
                Status::Held | Status::Rejected => self.rejected += 1,
            }
        }
    }
}

/// Takes a batch of responses: each checked against the inventory's surveys, the good ones
/// and the rejects written in one durable transaction. Says what became of each, in order.
pub async fn take(
    store: &dyn Store,
    actor: &Actor,
    inputs: &[Input],
    now_us: i64,
) -> Result<Vec<Outcome>, OpError> {
    actor.require(Permission::Ingest)?;
    take_answered(store, inputs, now_us).await
}

/// [`take`] for the respondent page, whose signed link is the credential (no actor's right
/// is asked): the caller has opened the link first.
pub async fn take_answered(
    store: &dyn Store,
    inputs: &[Input],
    now_us: i64,
) -> Result<Vec<Outcome>, OpError> {
    let inventory = crate::inventory::get(store).await?.value;
    let mut outcomes = vec![
        Outcome {
            status: Status::Rejected,
            id: None,
            reasons: Vec::new(),
        };
        inputs.len()
    ];
    let mut good = Vec::new();
    let mut positions = Vec::new();
    let mut rejects = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let prepared = match prepare(&inventory, input, now_us) {
            Ok(r) => of_invitation(store, &inventory, r).await?,
            Err(reasons) => Err(reasons),
        };
        match prepared {
            Ok(r) => {
                positions.push(i);
                good.push(r);
            }
            Err(reasons) => {
                let mut reject = NewReject::new(
                    &format!("{SOURCE_PREFIX}{}", input.source),
                    input.raw.as_bytes(),
                    reasons.clone(),
                );
                reject.replayable &= input.unreadable.is_none();
                rejects.push(reject);
                outcomes[i].reasons = reasons;
            }
        }
    }
    let ids: Vec<String> = good.iter().map(|r| r.response.id.clone()).collect();
    let written = store.write_responses(good, rejects, now_us).await?;
    for ((i, id), w) in positions.into_iter().zip(ids).zip(written) {
        outcomes[i] = match w {
            ResponseWritten::Accepted => Outcome {
                status: Status::Accepted,
                id: Some(id),
                reasons: Vec::new(),
            },
            ResponseWritten::Duplicate => Outcome {
                status: Status::Duplicate,
                id: Some(id),
                reasons: Vec::new(),
            },
            ResponseWritten::Answered => Outcome {
                status: Status::Rejected,
                id: Some(id),
                reasons: vec![ANSWERED.to_owned()],
            },
        };
    }
    Ok(outcomes)
}

/// Takes the rejected responses `rejects` again (a replay): those that now pass are written and
/// marked replayed. Returns how many were taken and how many still break a rule.
pub(crate) async fn replay(
    store: &dyn Store,
    rejects: &[touchbase_core::event::Reject],
    now_us: i64,
) -> Result<(usize, usize), OpError> {
    if rejects.is_empty() {
        return Ok((0, 0));
    }
    let inventory = crate::inventory::get(store).await?.value;
    let (mut good, mut ids, mut refused) = (Vec::new(), Vec::new(), 0);
    for r in rejects {
        let source = r.source.trim_start_matches(SOURCE_PREFIX);
        let prepared = match prepare(&inventory, &Input::new(r.raw.clone(), source), now_us) {
            Ok(response) => of_invitation(store, &inventory, response).await?,
            Err(reasons) => Err(reasons),
        };
        match prepared {
            Ok(response) => {
                good.push(response);
                ids.push(r.id);
            }
            Err(_) => refused += 1,
        }
    }
    let written = store.write_responses(good, Vec::new(), now_us).await?;
    let mut taken = Vec::new();
    for (id, w) in ids.into_iter().zip(written) {
        if w == ResponseWritten::Answered {
            refused += 1;
        } else {
            taken.push(id);
        }
    }
    store.mark_replayed(&taken, now_us).await?;
    Ok((taken.len(), refused))
}

/// A response's open answers, as the coder reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAnswer {
    pub id: String,
    pub point: String,
    pub at: i64,
    pub nps: Option<u8>,
    pub change: Option<String>,
    pub why_buy: Option<String>,
}

/// The voice counts of one point on one UTC day (table `voice_daily`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceDay {
    pub point: String,
    /// Days since the epoch, UTC.
    pub day: i64,
    pub tally: VoiceTally,
}

/// The columns of `voice_daily` after (point, day), in the order of [`VoiceDay::counts`].
pub const VOICE_COUNTS: [&str; 26] = [
    "invitations",
    "responses",
    "answered",
    "nps0",
    "nps1",
    "nps2",
    "nps3",
    "nps4",
    "nps5",
    "nps6",
    "nps7",
    "nps8",
    "nps9",
    "nps10",
    "csat1",
    "csat2",
    "csat3",
    "csat4",
    "csat5",
    "ces1",
    "ces2",
    "ces3",
    "ces4",
    "ces5",
    "ces6",
    "ces7",
];

impl VoiceDay {
    /// The counts in the order of [`VOICE_COUNTS`].
    pub fn counts(&self) -> [i64; 26] {
        let t = &self.tally;
        let mut out = [0i64; 26];
        let all = [t.invitations, t.responses, t.answered]
            .into_iter()
            .chain(t.nps)
            .chain(t.csat)
            .chain(t.ces);
        for (slot, n) in out.iter_mut().zip(all) {
            *slot = i64::try_from(n).unwrap_or(i64::MAX);
        }
        out
    }

    /// A day read back from its counts, in the order of [`VOICE_COUNTS`].
    pub fn from_counts(point: String, day: i64, counts: &[i64]) -> VoiceDay {
        let n = |i: usize| counts.get(i).map_or(0, |c| u64::try_from(*c).unwrap_or(0));
        let mut tally = VoiceTally {
            invitations: n(0),
            responses: n(1),
            answered: n(2),
            ..VoiceTally::default()
        };
        for (i, slot) in tally.nps.iter_mut().enumerate() {
            *slot = n(3 + i);
        }
        for (i, slot) in tally.csat.iter_mut().enumerate() {
            *slot = n(14 + i);
        }
        for (i, slot) in tally.ces.iter_mut().enumerate() {
            *slot = n(19 + i);
        }
        VoiceDay { point, day, tally }
    }
}

/// Voice counts added up per (point, UTC day): from the responses of a write, or from the rows
/// of a partial day.
#[derive(Debug, Default)]
pub struct VoiceCounter(std::collections::BTreeMap<(Vec<u8>, i64), VoiceTally>);

impl VoiceCounter {
    fn at(&mut self, point: &str, at: i64) -> &mut VoiceTally {
        self.0
            .entry((point.as_bytes().to_vec(), at.div_euclid(DAY_US)))
            .or_default()
    }

    /// Counts a response about `point` at `at`.
    pub fn response(
        &mut self,
        point: &str,
        at: i64,
        invited: bool,
        nps: Option<u8>,
        csat: Option<u8>,
        ces: Option<u8>,
    ) {
        self.at(point, at).add_response(invited, nps, csat, ces);
    }

    /// Counts an invitation for an interaction at `point` at `at`.
    pub fn invitation(&mut self, point: &str, at: i64) {
        self.at(point, at).invitations += 1;
    }

    /// The days counted, in (point, day) order, point keys compared byte by byte.
    pub fn days(self) -> Vec<VoiceDay> {
        self.0
            .into_iter()
            .map(|((point, day), tally)| VoiceDay {
                point: String::from_utf8(point).unwrap_or_default(),
                day,
                tally,
            })
            .collect()
    }
}

/// The voice counts of responses per (point, day), in (point, day) order.
pub fn tally<'a>(responses: impl IntoIterator<Item = &'a NewResponse>) -> Vec<VoiceDay> {
    let mut counter = VoiceCounter::default();
    for r in responses {
        let x = &r.response;
        counter.response(
            &x.point,
            x.at,
            r.invited,
            x.answers.nps,
            x.answers.csat,
            x.answers.ces,
        );
    }
    counter.days()
}
