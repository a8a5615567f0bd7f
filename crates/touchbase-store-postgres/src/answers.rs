//! People's work on open answers in PostgreSQL (migration 0015): tags and untags, the
//! double-coded sample, the senior team's why-buy statements; and erasing a party from the
//! voice data.

use tokio_postgres::{GenericClient, Row, Transaction};
use touchbase_core::voice::Family;
use touchbase_store::answers::{AnswerTag, Coding, Forgotten, Statement};
use touchbase_store::responses::OpenAnswer;

const OPEN_ANSWER_COLUMNS: &str = "id, point, at, nps, change, why_buy";

fn open_answer_of(r: &Row) -> OpenAnswer {
    OpenAnswer {
        id: r.get(0),
        point: r.get(1),
        at: r.get(2),
        nps: r
            .get::<_, Option<i64>>(3)
            .and_then(|v| u8::try_from(v).ok()),
        change: r.get(4),
        why_buy: r.get(5),
    }
}

pub(crate) async fn open_answers(
    client: &impl GenericClient,
    from: i64,
    to: i64,
) -> Result<Vec<OpenAnswer>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                r#"SELECT {OPEN_ANSWER_COLUMNS} FROM responses
                   WHERE at >= $1 AND at < $2 AND (change IS NOT NULL OR why_buy IS NOT NULL)
                   ORDER BY at, id COLLATE "C""#
            ),
            &[&from, &to],
        )
        .await?;
    Ok(rows.iter().map(open_answer_of).collect())
}

pub(crate) async fn open_answer(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<OpenAnswer>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("SELECT {OPEN_ANSWER_COLUMNS} FROM responses WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(open_answer_of))
}

pub(crate) async fn put_answer_tag(
    client: &impl GenericClient,
    t: &AnswerTag,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO answer_tags (answer, family, code, tagged, actor, at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (answer, family, code) DO UPDATE
             SET tagged = excluded.tagged, actor = excluded.actor, at = excluded.at",
            &[
                &t.answer,
                &t.family.as_str(),
                &t.code,
                &t.tagged,
                &t.actor,
                &t.at,
            ],
        )
        .await?;
    Ok(())
}

pub(crate) async fn answer_tags(
    client: &impl GenericClient,
) -> Result<Vec<AnswerTag>, tokio_postgres::Error> {
    let rows = client
        .query(
            r#"SELECT answer, family, code, tagged, actor, at FROM answer_tags
               ORDER BY answer COLLATE "C", family COLLATE "C", code COLLATE "C""#,
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(AnswerTag {
                answer: r.get(0),
                family: Family::parse(r.get(1))?,
                code: r.get(2),
                tagged: r.get(3),
                actor: r.get(4),
                at: r.get(5),
            })
        })
        .collect())
}

pub(crate) async fn put_codings(
    tx: &Transaction<'_>,
    codings: &[Coding],
) -> Result<(), tokio_postgres::Error> {
    let put = tx
        .prepare(
            "INSERT INTO answer_codings (answer, family, coder, codes, coded_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (answer, family, coder) DO UPDATE
             SET codes = excluded.codes, coded_at = excluded.coded_at",
        )
        .await?;
    for c in codings {
        let codes = serde_json::to_string(&c.codes).unwrap_or_else(|_| "[]".to_owned());
        tx.execute(
            &put,
            &[&c.answer, &c.family.as_str(), &c.coder, &codes, &c.at],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn codings(
    client: &impl GenericClient,
    family: Family,
) -> Result<Vec<Coding>, tokio_postgres::Error> {
    let rows = client
        .query(
            r#"SELECT answer, coder, codes, coded_at FROM answer_codings WHERE family = $1
               ORDER BY answer COLLATE "C", coder COLLATE "C""#,
            &[&family.as_str()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Coding {
            answer: r.get(0),
            family,
            coder: r.get(1),
            codes: serde_json::from_str(r.get(2)).unwrap_or_default(),
            at: r.get(3),
        })
        .collect())
}

fn statement_of(r: &Row) -> Statement {
    Statement {
        id: r.get(0),
        text: r.get(1),
        actor: r.get(2),
        role: r.get(3),
        at: r.get(4),
    }
}

pub(crate) async fn put_statement(
    client: &impl GenericClient,
    s: &Statement,
) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO why_buy_statements (id, text, actor, role, at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO NOTHING",
            &[&s.id, &s.text, &s.actor, &s.role, &s.at],
        )
        .await?;
    Ok(())
}

pub(crate) async fn statement(
    client: &impl GenericClient,
    id: &str,
) -> Result<Option<Statement>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT id, text, actor, role, at FROM why_buy_statements WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(statement_of))
}

pub(crate) async fn statements(
    client: &impl GenericClient,
    from: i64,
    to: i64,
) -> Result<Vec<Statement>, tokio_postgres::Error> {
    let rows = client
        .query(
            r#"SELECT id, text, actor, role, at FROM why_buy_statements WHERE at >= $1 AND at < $2
               ORDER BY at, id COLLATE "C""#,
            &[&from, &to],
        )
        .await?;
    Ok(rows.iter().map(statement_of).collect())
}

/// Erases `party` from the voice data in the caller's transaction.
pub(crate) async fn forget_party(
    tx: &Transaction<'_>,
    party: &str,
) -> Result<Forgotten, tokio_postgres::Error> {
    let mut forgotten = Forgotten {
        drafts: tx
            .execute(
                "DELETE FROM response_drafts WHERE invitation IN
                 (SELECT id FROM invitations WHERE party = $1)",
                &[&party],
            )
            .await?,
        ..Forgotten::default()
    };
    for table in ["answer_tags", "answer_codings"] {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE answer IN (SELECT id FROM responses WHERE party = $1)"
            ),
            &[&party],
        )
        .await?;
    }
    forgotten.responses = tx
        .execute(
            "UPDATE responses SET party = NULL, change = NULL, why_buy = NULL, own = NULL
             WHERE party = $1",
            &[&party],
        )
        .await?;
    forgotten.invitations = tx
        .execute(
            "UPDATE invitations SET party = NULL WHERE party = $1",
            &[&party],
        )
        .await?;
    forgotten.suppressions = tx
        .execute(
            "UPDATE suppressions SET party = NULL WHERE party = $1",
            &[&party],
        )
        .await?;
    forgotten.key_customer = tx
        .execute("DELETE FROM key_customers WHERE party = $1", &[&party])
        .await?
        > 0;
    Ok(forgotten)
}
