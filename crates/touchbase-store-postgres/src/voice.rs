//! Survey responses and their daily voice counts in PostgreSQL (migration 0014).

use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Transaction};
use touchbase_core::event::NewReject;
use touchbase_store::invitations::{Invitation, KeyCustomer, Suppression};
use touchbase_store::links::LinkRecord;
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
    let undraft = tx
        .prepare("DELETE FROM response_drafts WHERE invitation = $1")
        .await?;
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
            if let Some(invitation) = &r.answers_invitation {
                tx.execute(&undraft, &[invitation]).await?;
            }
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

/// Adds or replaces key customers in the caller's transaction.
pub(crate) async fn put_key_customers(
    tx: &Transaction<'_>,
    customers: &[KeyCustomer],
) -> Result<(), tokio_postgres::Error> {
    let put = tx
        .prepare(
            "INSERT INTO key_customers (party, segment, source, added_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (party) DO UPDATE SET segment = excluded.segment,
                 source = excluded.source, added_at = excluded.added_at",
        )
        .await?;
    for c in customers {
        tx.execute(&put, &[&c.party, &c.segment, &c.source, &c.added_at])
            .await?;
    }
    Ok(())
}

pub(crate) async fn key_customers(
    client: &impl GenericClient,
) -> Result<Vec<KeyCustomer>, tokio_postgres::Error> {
    let rows = client
        .query(
            r#"SELECT party, segment, source, added_at FROM key_customers ORDER BY party COLLATE "C""#,
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| KeyCustomer {
            party: r.get(0),
            segment: r.get(1),
            source: r.get(2),
            added_at: r.get(3),
        })
        .collect())
}

/// Writes invitations (each link only with its new invitation), their counts and the
/// suppressions, in the caller's transaction.
pub(crate) async fn put_invitations(
    tx: &Transaction<'_>,
    invitations: &[(Invitation, LinkRecord)],
    suppressions: &[Suppression],
) -> Result<Vec<bool>, tokio_postgres::Error> {
    let insert = tx
        .prepare(
            "INSERT INTO invitations (id, survey, version, point, event_id, at, party, issued_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .await?;
    let link = tx
        .prepare(
            "INSERT INTO links (hash, purpose, subject, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    let mut counter = VoiceCounter::default();
    let mut written = Vec::with_capacity(invitations.len());
    for (i, l) in invitations {
        let new = tx
            .execute(
                &insert,
                &[
                    &i.id,
                    &i.survey,
                    &i64::from(i.version),
                    &i.point,
                    &i.event_id,
                    &i.at,
                    &i.party,
                    &i.issued_at,
                ],
            )
            .await?
            == 1;
        if new {
            tx.execute(
                &link,
                &[
                    &l.hash,
                    &l.purpose,
                    &l.subject,
                    &l.expires_at,
                    &l.created_at,
                ],
            )
            .await?;
            counter.invitation(&i.point, i.at);
        }
        written.push(new);
    }
    add_to_voice_daily(tx, &counter.days()).await?;
    let suppress = tx
        .prepare(
            "INSERT INTO suppressions (survey, event_id, point, party, at, reason, decided_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .await?;
    for s in suppressions {
        tx.execute(
            &suppress,
            &[
                &s.survey,
                &s.event_id,
                &s.point,
                &s.party,
                &s.at,
                &s.reason,
                &s.decided_at,
            ],
        )
        .await?;
    }
    Ok(written)
}

const INVITATION_COLUMNS: &str = "i.id, i.survey, i.version, i.point, i.event_id, i.at, i.party,
     i.issued_at, EXISTS (SELECT 1 FROM answered_invitations a WHERE a.invitation = i.id)";

fn invitation_of(r: &tokio_postgres::Row) -> Invitation {
    Invitation {
        id: r.get(0),
        survey: r.get(1),
        version: u32::try_from(r.get::<_, i64>(2)).unwrap_or(0),
        point: r.get(3),
        event_id: r.get(4),
        at: r.get(5),
        party: r.get(6),
        issued_at: r.get(7),
        answered: r.get(8),
    }
}

pub(crate) async fn invitations(
    client: &impl GenericClient,
    survey: Option<&str>,
) -> Result<Vec<Invitation>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                r#"SELECT {INVITATION_COLUMNS} FROM invitations i
                   WHERE $1::text IS NULL OR i.survey = $1 ORDER BY i.at, i.id COLLATE "C""#
            ),
            &[&survey],
        )
        .await?;
    Ok(rows.iter().map(invitation_of).collect())
}

pub(crate) async fn invitation(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<Invitation>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("SELECT {INVITATION_COLUMNS} FROM invitations i WHERE i.id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(invitation_of))
}

pub(crate) async fn suppressions(
    client: &impl GenericClient,
    survey: &str,
) -> Result<Vec<Suppression>, tokio_postgres::Error> {
    let rows = client
        .query(
            r#"SELECT survey, event_id, point, party, at, reason, decided_at FROM suppressions
               WHERE survey = $1 ORDER BY at, event_id COLLATE "C""#,
            &[&survey],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Suppression {
            survey: r.get(0),
            event_id: r.get(1),
            point: r.get(2),
            party: r.get(3),
            at: r.get(4),
            reason: r.get(5),
            decided_at: r.get(6),
        })
        .collect())
}
