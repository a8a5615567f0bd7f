//! `touchbase audit`: read and verify the tamper-evident audit trail (R7).

use touchbase_core::Actor;
use touchbase_store::Store;
use touchbase_store::audit::{self, Filter};

use crate::args::AuditCommand;
use crate::output::{count, print_json, table, when};

pub async fn run(store: &dyn Store, actor: &Actor, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Log {
            point,
            actor: by,
            since,
            json,
        } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let filter = Filter {
                point,
                actor: by,
                since,
            };
            let records = audit::log(store, actor, &filter).await?;
            if json {
                return print_json(&records);
            }
            let mut t = table(["seq", "at", "actor", "action", "subject"]);
            for r in &records {
                t.add_row([
                    r.seq.to_string(),
                    when(&r.at),
                    r.actor.clone(),
                    r.action.clone(),
                    r.subject.clone(),
                ]);
            }
            if records.is_empty() {
                println!("no records match");
            } else {
                println!("{t}\n{}", count(records.len(), "record", "records"));
            }
        }
        AuditCommand::Verify { json } => {
            let v = audit::verify(store, actor).await?;
            if json {
                print_json(&v)?;
            } else {
                print_verification(&v);
            }
            if let Some(problem) = &v.problem {
                let more = v.problems.len() - 1;
                anyhow::bail!(
                    "the audit trail is broken ({}): {}{}",
                    problem.kind,
                    problem.message,
                    if more > 0 {
                        format!(" — and {}", count(more, "more problem", "more problems"))
                    } else {
                        String::new()
                    }
                );
            }
        }
        AuditCommand::Anchor => {
            let seq = audit::anchor(store, actor).await?;
            match store.sealing().key() {
                Some(key) => println!(
                    "record {seq} appended, sealed with key {}: it vouches for every record before it",
                    key.id()
                ),
                None => println!(
                    "record {seq} appended, unsealed: this store was opened without the organization key"
                ),
            }
            if let Some(head) = store.sealing().head() {
                println!("the head file {} names it", head.display());
            }
        }
    }
    Ok(())
}

/// What `audit verify` checked, as a person reads it (the first problem goes to standard
/// error, as the command's error).
fn print_verification(v: &audit::Verification) {
    let seals = match (&v.key, v.sealed_records) {
        (_, 0) => "none sealed".to_owned(),
        (Some(key), n) => format!(
            "{n} sealed, {} seals checked against key {key}",
            v.seals_checked
        ),
        (None, n) => format!("{n} sealed, no key to check them"),
    };
    let records = count(v.records as usize, "record", "records");
    if v.intact {
        println!("audit trail intact: {records}, {seals}");
    } else {
        println!("audit trail checked: {records}, {seals}");
    }
    match (&v.head.file, v.head.seq) {
        (Some(file), Some(seq)) => println!(
            "head file {file}: record {seq}{}",
            if v.head.sealed {
                ", its seal checked"
            } else {
                ""
            }
        ),
        (Some(file), None) => println!("head file {file}: none there"),
        (None, _) => {}
    }
    println!(
        "{} replayed against the trail",
        count(
            v.entities_replayed as usize,
            "stored entity",
            "stored entities"
        )
    );
    for w in &v.warnings {
        println!("note: {w}");
    }
    for p in v.problems.iter().skip(1) {
        println!("also ({}): {}", p.kind, p.message);
    }
}

/// `--since`: an RFC 3339 instant, or a date meaning its 00:00 UTC.
pub fn parse_since(text: &str) -> anyhow::Result<jiff::Timestamp> {
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return Ok(at);
    }
    // Only a bare date: jiff would also read the date out of a date-time without an offset,
    // whose meaning (which time zone?) is unclear.
    let bare = !text.contains(['T', 't', ' ']);
    if let (true, Ok(date)) = (bare, text.parse::<jiff::civil::Date>())
        && let Ok(at) = date.to_zoned_datetime(jiff::tz::TimeZone::UTC)
    {
        return Ok(at.timestamp());
    }
    anyhow::bail!(
        "--since {text}: write an RFC 3339 instant (2026-03-01T09:00:00Z) or a date (2026-03-01, meaning 00:00 UTC)"
    )
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_takes_instants_and_dates() {
        assert_eq!(
            parse_since("2026-03-01").unwrap().to_string(),
            "2026-03-01T00:00:00Z"
        );
        assert_eq!(
            parse_since("2026-03-01T09:30:00+02:00")
                .unwrap()
                .to_string(),
            "2026-03-01T07:30:00Z"
        );
        assert!(
            parse_since("yesterday")
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
        // A civil date-time without an offset is ambiguous: refused.
        assert!(parse_since("2026-03-01T09:30:00").is_err());
    }
}
