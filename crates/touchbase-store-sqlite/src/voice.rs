//! Survey responses and their daily voice counts in SQLite (migration 0014).

use rusqlite::{Connection, params, params_from_iter};
use touchbase_core::event::NewReject;
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
