//! Survey responses and their daily voice counts in PostgreSQL (migration 0014).

use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Transaction};
use touchbase_core::event::NewReject;
use touchbase_store::responses::{
    ANSWERED, NewResponse, ResponseWritten, VOICE_COUNTS, VoiceCounter, VoiceDay, tally,
};

/// Writes responses in the caller's transaction: each once by its id, each invitation answered
/// once (the constraint of `answered_invitations`), and the voice counts of those written.
/// Returns what became of each and the rejects of those whose invitation was answered already.
pub(crate) async fn write_responses(
    tx: &Transaction<'_>,
    responses: &[NewResponse],
    received_at: i64,
) -> Result<(Vec<ResponseWritten>, Vec<NewReject>), tokio_postgres::Error> {
    let unwrite = tx.prepare("DELETE FROM responses WHERE id = $1").await?;
    let answer = tx
        .prepare("INSERT INTO answered_invitations (invitation) VALUES ($1) ON CONFLICT DO NOTHING")
        .await?;
    let insert = tx
        .prepare(
            "INSERT INTO responses (id, survey, version, point, at, invitation, invited, party,
                 nps, csat, ces, change, why_buy, own, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (id) DO NOTHING",
        )
        .await?;
    let mut written = Vec::with_capacity(responses.len());
    let mut rejects = Vec::new();
    for r in responses {
        let x = &r.response;
        let own = (!x.answers.own.is_empty())
            .then(|| serde_json::to_string(&x.answers.own).unwrap_or_default());
        let score = |s: Option<u8>| s.map(i64::from);
        let inserted = tx
            .execute(
                &insert,
                &[
                    &x.id,
                    &x.survey,
                    &i64::from(r.version),
                    &x.point,
                    &x.at,
                    &x.invitation,
                    &i64::from(r.invited),
                    &x.party,
                    &score(x.answers.nps),
                    &score(x.answers.csat),
                    &score(x.answers.ces),
                    &x.answers.change,
                    &x.answers.why_buy,
                    &own,
                    &received_at,
                ],
            )
            .await?;
        // A known id (or the same id twice in one batch) is a duplicate; an invitation answered
        // already (by this batch, or by another transaction, which this one waits for) takes
        // this one back out, and it goes to the rejects.
        if inserted == 0 {
            written.push(ResponseWritten::Duplicate);
        } else if let Some(invitation) = &r.answers_invitation
            && tx.execute(&answer, &[invitation]).await? == 0
        {
            tx.execute(&unwrite, &[&x.id]).await?;
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
    add_to_voice_daily(tx, &tally(new)).await?;
    Ok((written, rejects))
}

/// Adds counts to `voice_daily` in the caller's transaction.
pub(crate) async fn add_to_voice_daily(
    tx: &Transaction<'_>,
    days: &[VoiceDay],
) -> Result<(), tokio_postgres::Error> {
    if days.is_empty() {
        return Ok(());
    }
    let columns = VOICE_COUNTS.join(", ");
    let values: Vec<String> = (0..VOICE_COUNTS.len())
        .map(|i| format!("${}", i + 3))
        .collect();
    let sums: Vec<String> = VOICE_COUNTS
        .iter()
        .map(|c| format!("{c} = voice_daily.{c} + excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO voice_daily (point, day, {columns}) VALUES ($1, $2, {})
         ON CONFLICT (point, day) DO UPDATE SET {}",
        values.join(", "),
        sums.join(", ")
    );
    let add = tx.prepare(&sql).await?;
    for d in days {
        let counts = d.counts();
        let mut bound: Vec<&(dyn ToSql + Sync)> = vec![&d.point, &d.day];
        bound.extend(counts.iter().map(|c| c as &(dyn ToSql + Sync)));
        tx.execute(&add, &bound).await?;
    }
    Ok(())
}

/// The voice counts of the days `from_day..to_day`, in (point, day) order, point keys compared
/// byte by byte.
pub(crate) async fn voice_rollups(
    client: &impl GenericClient,
    from_day: i64,
    to_day: i64,
) -> Result<Vec<VoiceDay>, tokio_postgres::Error> {
    let sql = format!(
        r#"SELECT point, day, {} FROM voice_daily WHERE day >= $1 AND day < $2
           ORDER BY point COLLATE "C", day"#,
        VOICE_COUNTS.join(", ")
    );
    let rows = client.query(&sql, &[&from_day, &to_day]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let counts: Vec<i64> = (0..VOICE_COUNTS.len()).map(|i| r.get(i + 2)).collect();
            VoiceDay::from_counts(r.get(0), r.get(1), &counts)
        })
        .collect())
}

/// The voice counts of the responses and invitations with `from <= at < to`, counted from the
/// rows themselves (the partial first and last days of a period), per (point, day).
pub(crate) async fn tally_voice(
    client: &impl GenericClient,
    from: i64,
    to: i64,
) -> Result<Vec<VoiceDay>, tokio_postgres::Error> {
    let mut counter = VoiceCounter::default();
    let rows = client
        .query(
            "SELECT point, at, invited, nps, csat, ces FROM responses WHERE at >= $1 AND at < $2",
            &[&from, &to],
        )
        .await?;
    for r in rows {
        let score = |i: usize| {
            r.get::<_, Option<i64>>(i)
                .and_then(|v| u8::try_from(v).ok())
        };
        counter.response(
            r.get(0),
            r.get(1),
            r.get::<_, i64>(2) != 0,
            score(3),
            score(4),
            score(5),
        );
    }
    let rows = client
        .query(
            "SELECT point, at FROM invitations WHERE at >= $1 AND at < $2",
            &[&from, &to],
        )
        .await?;
    for r in rows {
        counter.invitation(r.get(0), r.get(1));
    }
    Ok(counter.days())
}
