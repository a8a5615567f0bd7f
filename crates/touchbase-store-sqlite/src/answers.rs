//! People's work on open answers in SQLite (migration 0015): tags and untags, the
//! double-coded sample, the senior team's why-buy statements; and erasing a party from the
//! voice data.

use rusqlite::{Connection, OptionalExtension, params};
use touchbase_core::voice::Family;
use touchbase_store::answers::{AnswerTag, Coding, Forgotten, Statement};
use touchbase_store::responses::OpenAnswer;

fn family_of(s: String) -> rusqlite::Result<Family> {
    Family::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown answer family `{s}`").into(),
        )
    })
}

fn open_answer_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<OpenAnswer> {
    Ok(OpenAnswer {
        id: r.get(0)?,
        point: r.get(1)?,
        at: r.get(2)?,
        nps: r
            .get::<_, Option<i64>>(3)?
            .and_then(|v| u8::try_from(v).ok()),
        change: r.get(4)?,
        why_buy: r.get(5)?,
    })
}

pub(crate) const OPEN_ANSWER_COLUMNS: &str = "id, point, at, nps, change, why_buy";

pub(crate) fn open_answers(
    conn: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<OpenAnswer>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OPEN_ANSWER_COLUMNS} FROM responses
         WHERE at >= ?1 AND at < ?2 AND (change IS NOT NULL OR why_buy IS NOT NULL)
         ORDER BY at, id"
    ))?;
    let rows = stmt.query_map(params![from, to], open_answer_of)?;
    rows.collect()
}

pub(crate) fn open_answer(conn: &Connection, id: &str) -> rusqlite::Result<Option<OpenAnswer>> {
    conn.prepare_cached(&format!(
        "SELECT {OPEN_ANSWER_COLUMNS} FROM responses WHERE id = ?1"
    ))?
    .query_row(params![id], open_answer_of)
    .optional()
}

pub(crate) fn put_answer_tag(conn: &Connection, t: &AnswerTag) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO answer_tags (answer, family, code, tagged, actor, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (answer, family, code) DO UPDATE
         SET tagged = excluded.tagged, actor = excluded.actor, at = excluded.at",
    )?
    .execute(params![
        t.answer,
        t.family.as_str(),
        t.code,
        t.tagged,
        t.actor,
        t.at
    ])?;
    Ok(())
}

pub(crate) fn answer_tags(conn: &Connection) -> rusqlite::Result<Vec<AnswerTag>> {
    let mut stmt = conn.prepare_cached(
        "SELECT answer, family, code, tagged, actor, at FROM answer_tags
         ORDER BY answer, family, code",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AnswerTag {
            answer: r.get(0)?,
            family: family_of(r.get(1)?)?,
            code: r.get(2)?,
            tagged: r.get(3)?,
            actor: r.get(4)?,
            at: r.get(5)?,
        })
    })?;
    rows.collect()
}

pub(crate) fn put_codings(conn: &Connection, codings: &[Coding]) -> rusqlite::Result<()> {
    let mut put = conn.prepare_cached(
        "INSERT INTO answer_codings (answer, family, coder, codes, coded_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (answer, family, coder) DO UPDATE
         SET codes = excluded.codes, coded_at = excluded.coded_at",
    )?;
    for c in codings {
        let codes = serde_json::to_string(&c.codes).unwrap_or_else(|_| "[]".to_owned());
        put.execute(params![c.answer, c.family.as_str(), c.coder, codes, c.at])?;
    }
    Ok(())
}

pub(crate) fn codings(conn: &Connection, family: Family) -> rusqlite::Result<Vec<Coding>> {
    let mut stmt = conn.prepare_cached(
        "SELECT answer, coder, codes, coded_at FROM answer_codings WHERE family = ?1
         ORDER BY answer, coder",
    )?;
    let rows = stmt.query_map(params![family.as_str()], |r| {
        let codes: String = r.get(2)?;
        Ok(Coding {
            answer: r.get(0)?,
            family,
            coder: r.get(1)?,
            codes: serde_json::from_str(&codes).unwrap_or_default(),
            at: r.get(3)?,
        })
    })?;
    rows.collect()
}

fn statement_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Statement> {
    Ok(Statement {
        id: r.get(0)?,
        text: r.get(1)?,
        actor: r.get(2)?,
        role: r.get(3)?,
        at: r.get(4)?,
    })
}

pub(crate) fn put_statement(conn: &Connection, s: &Statement) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO why_buy_statements (id, text, actor, role, at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![s.id, s.text, s.actor, s.role, s.at])?;
    Ok(())
}

pub(crate) fn statement(conn: &Connection, id: &str) -> rusqlite::Result<Option<Statement>> {
    conn.prepare_cached("SELECT id, text, actor, role, at FROM why_buy_statements WHERE id = ?1")?
        .query_row(params![id], statement_of)
        .optional()
}

pub(crate) fn statements(
    conn: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<Vec<Statement>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, text, actor, role, at FROM why_buy_statements WHERE at >= ?1 AND at < ?2
         ORDER BY at, id",
    )?;
    let rows = stmt.query_map(params![from, to], statement_of)?;
    rows.collect()
}

/// Erases `party` from the voice data (the caller holds the transaction).
pub(crate) fn forget_party(conn: &Connection, party: &str) -> rusqlite::Result<Forgotten> {
    let mut forgotten = Forgotten {
        drafts: conn.execute(
            "DELETE FROM response_drafts WHERE invitation IN
             (SELECT id FROM invitations WHERE party = ?1)",
            params![party],
        )? as u64,
        ..Forgotten::default()
    };
    for table in ["answer_tags", "answer_codings"] {
        conn.execute(
            &format!(
                "DELETE FROM {table} WHERE answer IN (SELECT id FROM responses WHERE party = ?1)"
            ),
            params![party],
        )?;
    }
    forgotten.responses = conn.execute(
        "UPDATE responses SET party = NULL, change = NULL, why_buy = NULL, own = NULL
         WHERE party = ?1",
        params![party],
    )? as u64;
    forgotten.invitations = conn.execute(
        "UPDATE invitations SET party = NULL WHERE party = ?1",
        params![party],
    )? as u64;
    forgotten.suppressions = conn.execute(
        "UPDATE suppressions SET party = NULL WHERE party = ?1",
        params![party],
    )? as u64;
    forgotten.key_customer =
        conn.execute("DELETE FROM key_customers WHERE party = ?1", params![party])? > 0;
    Ok(forgotten)
}
