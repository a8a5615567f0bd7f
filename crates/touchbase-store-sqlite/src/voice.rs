//! Survey responses and their daily voice counts in SQLite (migration 0014).

use rusqlite::{Connection, params, params_from_iter};
use touchbase_core::event::NewReject;
use touchbase_store::invitations::{Invitation, KeyCustomer, Suppression};
use touchbase_store::links::LinkRecord;
use touchbase_store::responses::{
    ANSWERED, NewResponse, ResponseWritten, VOICE_COUNTS, VoiceCounter, VoiceDay, tally,
};

/// Writes responses (the caller holds the transaction): each once by its id, each invitation
/// answered once (the constraint of `answered_invitations`), and the voice counts of those
/// written. Returns what became of each and the rejects of those whose invitation was answered
/// already.
pub(crate) fn write_responses(
    conn: &Connection,
    responses: &[NewResponse],
    received_at: i64,
) -> rusqlite::Result<(Vec<ResponseWritten>, Vec<NewReject>)> {
    let mut unwrite = conn.prepare_cached("DELETE FROM responses WHERE id = ?1")?;
    let mut undraft = conn.prepare_cached("DELETE FROM response_drafts WHERE invitation = ?1")?;
    let mut answer = conn.prepare_cached(
        "INSERT INTO answered_invitations (invitation) VALUES (?1) ON CONFLICT DO NOTHING",
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO responses (id, survey, version, point, at, invitation, invited, party,
             nps, csat, ces, change, why_buy, own, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (id) DO NOTHING",
    )?;
    let mut written = Vec::with_capacity(responses.len());
    let mut rejects = Vec::new();
    for r in responses {
        let x = &r.response;
        let own = (!x.answers.own.is_empty())
            .then(|| serde_json::to_string(&x.answers.own).unwrap_or_default());
        let inserted = insert.execute(params![
            x.id,
            x.survey,
            r.version,
            x.point,
            x.at,
            x.invitation,
            r.invited,
            x.party,
            x.answers.nps,
            x.answers.csat,
            x.answers.ces,
            x.answers.change,
            x.answers.why_buy,
            own,
            received_at
        ])?;
        // A known id (or the same id twice in one batch) is a duplicate; an invitation answered
        // already takes this one back out, and it goes to the rejects.
        if inserted == 0 {
            written.push(ResponseWritten::Duplicate);
        } else if let Some(invitation) = &r.answers_invitation
            && answer.execute(params![invitation])? == 0
        {
            unwrite.execute(params![x.id])?;
            written.push(ResponseWritten::Answered);
            rejects.push(NewReject::new(
                &r.source,
                r.raw.as_bytes(),
                vec![ANSWERED.to_owned()],
            ));
        } else {
            if let Some(invitation) = &r.answers_invitation {
                undraft.execute(params![invitation])?;
            }
            written.push(ResponseWritten::Accepted);
        }
    }
    let new = responses
        .iter()
        .zip(&written)
        .filter(|(_, w)| **w == ResponseWritten::Accepted)
        .map(|(r, _)| r);
    add_to_voice_daily(conn, &tally(new))?;
    Ok((written, rejects))
}

/// Adds counts to `voice_daily` (the caller holds the transaction).
pub(crate) fn add_to_voice_daily(conn: &Connection, days: &[VoiceDay]) -> rusqlite::Result<()> {
    if days.is_empty() {
        return Ok(());
    }
    let columns = VOICE_COUNTS.join(", ");
    let values: Vec<String> = (0..VOICE_COUNTS.len())
        .map(|i| format!("?{}", i + 3))
        .collect();
    let sums: Vec<String> = VOICE_COUNTS
        .iter()
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO voice_daily (point, day, {columns}) VALUES (?1, ?2, {})
         ON CONFLICT (point, day) DO UPDATE SET {}",
        values.join(", "),
        sums.join(", ")
    );
    let mut add = conn.prepare_cached(&sql)?;
    for d in days {
        let counts = d.counts();
        let mut bound: Vec<rusqlite::types::Value> = vec![d.point.clone().into(), d.day.into()];
        bound.extend(counts.iter().map(|c| rusqlite::types::Value::from(*c)));
        add.execute(params_from_iter(bound))?;
    }
    Ok(())
}

/// The voice counts of the days `from_day..to_day`, in (point, day) order.
pub(crate) fn voice_rollups(
    conn: &Connection,
    from_day: i64,
    to_day: i64,
) -> rusqlite::Result<Vec<VoiceDay>> {
    let sql = format!(
        "SELECT point, day, {} FROM voice_daily WHERE day >= ?1 AND day < ?2 ORDER BY point, day",
        VOICE_COUNTS.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![from_day, to_day], |r| {
        let counts: Vec<i64> = (0..VOICE_COUNTS.len())
            .map(|i| r.get::<_, i64>(i + 2))
            .collect::<rusqlite::Result<_>>()?;
        Ok(VoiceDay::from_counts(r.get(0)?, r.get(1)?, &counts))
    })?;
    rows.collect()
}

/// The voice counts of the responses and invitations with `from <= at < to`, counted from the
/// rows themselves (the partial first and last days of a period), per (point, day).
pub(crate) fn tally_voice(
    conn: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<VoiceDay>> {
    let mut counter = VoiceCounter::default();
    let mut responses = conn.prepare_cached(
        "SELECT point, at, invited, nps, csat, ces FROM responses WHERE at >= ?1 AND at < ?2",
    )?;
    let mut rows = responses.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        let score = |i: usize| -> rusqlite::Result<Option<u8>> {
            Ok(r.get::<_, Option<i64>>(i)?
                .and_then(|v| u8::try_from(v).ok()))
        };
        counter.response(
            &r.get::<_, String>(0)?,
            r.get(1)?,
            r.get::<_, bool>(2)?,
            score(3)?,
            score(4)?,
            score(5)?,
        );
    }
    let mut invitations =
        conn.prepare_cached("SELECT point, at FROM invitations WHERE at >= ?1 AND at < ?2")?;
    let mut rows = invitations.query(params![from, to])?;
    while let Some(r) = rows.next()? {
        counter.invitation(&r.get::<_, String>(0)?, r.get(1)?);
    }
    Ok(counter.days())
}

/// Adds or replaces key customers.
pub(crate) fn put_key_customers(
    conn: &Connection,
    customers: &[KeyCustomer],
) -> rusqlite::Result<()> {
    let mut put = conn.prepare_cached(
        "INSERT INTO key_customers (party, segment, source, added_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (party) DO UPDATE SET segment = excluded.segment, source = excluded.source,
             added_at = excluded.added_at",
    )?;
    for c in customers {
        put.execute(params![c.party, c.segment, c.source, c.added_at])?;
    }
    Ok(())
}

pub(crate) fn key_customers(conn: &Connection) -> rusqlite::Result<Vec<KeyCustomer>> {
    let mut stmt = conn.prepare_cached(
        "SELECT party, segment, source, added_at FROM key_customers ORDER BY party",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(KeyCustomer {
            party: r.get(0)?,
            segment: r.get(1)?,
            source: r.get(2)?,
            added_at: r.get(3)?,
        })
    })?;
    rows.collect()
}

/// Writes invitations (each link only with its new invitation), their counts and the
/// suppressions; the caller holds the transaction.
pub(crate) fn put_invitations(
    conn: &Connection,
    invitations: &[(Invitation, LinkRecord)],
    suppressions: &[Suppression],
) -> rusqlite::Result<Vec<bool>> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO invitations (id, survey, version, point, event_id, at, party, issued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
    )?;
    let mut link = conn.prepare_cached(
        "INSERT INTO links (hash, purpose, subject, expires_at, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut counter = VoiceCounter::default();
    let mut written = Vec::with_capacity(invitations.len());
    for (i, l) in invitations {
        let new = insert.execute(params![
            i.id,
            i.survey,
            i.version,
            i.point,
            i.event_id,
            i.at,
            i.party,
            i.issued_at
        ])? == 1;
        if new {
            link.execute(params![
                l.hash,
                l.purpose,
                l.subject,
                l.expires_at,
                l.created_at
            ])?;
            counter.invitation(&i.point, i.at);
        }
        written.push(new);
    }
    add_to_voice_daily(conn, &counter.days())?;
    let mut suppress = conn.prepare_cached(
        "INSERT INTO suppressions (survey, event_id, point, party, at, reason, decided_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    )?;
    for s in suppressions {
        suppress.execute(params![
            s.survey,
            s.event_id,
            s.point,
            s.party,
            s.at,
            s.reason,
            s.decided_at
        ])?;
    }
    Ok(written)
}

const INVITATION_COLUMNS: &str = "i.id, i.survey, i.version, i.point, i.event_id, i.at, i.party,
     i.issued_at, EXISTS (SELECT 1 FROM answered_invitations a WHERE a.invitation = i.id)";

fn invitation_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Invitation> {
    Ok(Invitation {
        id: r.get(0)?,
        survey: r.get(1)?,
        version: r.get(2)?,
        point: r.get(3)?,
        event_id: r.get(4)?,
        at: r.get(5)?,
        party: r.get(6)?,
        issued_at: r.get(7)?,
        answered: r.get(8)?,
    })
}

pub(crate) fn invitations(
    conn: &Connection,
    survey: Option<&str>,
) -> rusqlite::Result<Vec<Invitation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations i
         WHERE ?1 IS NULL OR i.survey = ?1 ORDER BY i.at, i.id"
    ))?;
    let rows = stmt.query_map(params![survey], invitation_of)?;
    rows.collect()
}

pub(crate) fn invitation(conn: &Connection, id: &str) -> rusqlite::Result<Option<Invitation>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations i WHERE i.id = ?1"
    ))?
    .query_row(params![id], invitation_of)
    .optional()
}

pub(crate) fn suppressions(conn: &Connection, survey: &str) -> rusqlite::Result<Vec<Suppression>> {
    let mut stmt = conn.prepare_cached(
        "SELECT survey, event_id, point, party, at, reason, decided_at FROM suppressions
         WHERE survey = ?1 ORDER BY at, event_id",
    )?;
    let rows = stmt.query_map(params![survey], |r| {
        Ok(Suppression {
            survey: r.get(0)?,
            event_id: r.get(1)?,
            point: r.get(2)?,
            party: r.get(3)?,
            at: r.get(4)?,
            reason: r.get(5)?,
            decided_at: r.get(6)?,
        })
    })?;
    rows.collect()
}
