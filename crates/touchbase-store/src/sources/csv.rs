//! CSV: a header row of the wire format's field names, flattened with dots
//! (`outcomes.satisfaction`, `value.company`), then one event per row. Each row becomes the
//! JSON text of its event, which then goes the way of any other input: the same checks, the
//! same rejects (replayable JSON), and the same hash id as the equivalent NDJSON line.
//!
//! Survey responses (their wire format: `answers.nps`, `answers.change`, …) are read the same
//! way.
//!
//! A cell becomes a field as follows. An empty cell is an absent field. In a numeric column
//! (`outcomes.satisfaction`, `value.*`, `cost`, `duration_s`, `answers.nps`, `answers.csat`,
//! `answers.ces`) a finite number becomes a JSON number; in a yes/no column
//! (`outcomes.knowledge`, `resolved`, `engaged`) `true` and `false` become booleans; `data` and
//! `vars` are JSON text; in another `answers.` column a JSON list of strings (`["road","city"]`,
//! a multiple choice) becomes a list. Anything else is kept as a JSON string,
//! so that the wire format's decoder rejects it with the field and the rule — and an unknown
//! column is carried as it is, so that the decoder rejects the unknown field.

use std::io::{self, BufRead};

use serde_json::{Map, Value};

use super::not_utf8;
use crate::ingest::Input;

/// The fields under which a flattened name (`outcomes.intent`) nests.
const NESTED: [&str; 3] = ["outcomes", "value", "answers"];

/// How a column's cells are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    Json,
    /// Text, or a JSON list of strings.
    TextOrList,
}

/// One column of the header: where its cells go in the event, and how they are read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    /// The name as in the header.
    name: String,
    /// The top-level field, and the field under it for a nested name.
    field: String,
    nested: Option<String>,
    kind: Kind,
}

impl Column {
    fn new(name: &str) -> Column {
        let kind = match name {
            "outcomes.satisfaction"
            | "value.company"
            | "value.party"
            | "cost"
            | "duration_s"
            | "answers.nps"
            | "answers.csat"
            | "answers.ces" => Kind::Number,
            "outcomes.knowledge" | "outcomes.resolved" | "outcomes.engaged" => Kind::Bool,
            "data" | "vars" => Kind::Json,
            _ if name.starts_with("answers.") => Kind::TextOrList,
            _ => Kind::Text,
        };
        let (field, nested) = match name.split_once('.') {
            Some((field, nested)) if NESTED.contains(&field) => {
                (field.to_owned(), Some(nested.to_owned()))
            }
            _ => (name.to_owned(), None),
        };
        Column {
            name: name.to_owned(),
            field,
            nested,
            kind,
        }
    }

    /// The JSON value of a non-empty cell.
    fn value(&self, cell: &str) -> Value {
        let read = match self.kind {
            Kind::Text => None,
            Kind::Number => number(cell.trim()),
            Kind::Bool => match cell.trim() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            Kind::Json => serde_json::from_str(cell).ok(),
            Kind::TextOrList => serde_json::from_str::<Vec<String>>(cell)
                .ok()
                .map(|items| items.into_iter().map(Value::String).collect()),
        };
        read.unwrap_or_else(|| Value::String(cell.to_owned()))
    }
}

/// A finite number as JSON: written as JSON writes it (so `4.10` is the number an NDJSON line
/// would give), or as Rust reads it (`+4`, `.5`).
fn number(cell: &str) -> Option<Value> {
    if let Ok(n) = serde_json::from_str::<serde_json::Number>(cell) {
        return Some(Value::Number(n));
    }
    if let Ok(n) = cell.parse::<u64>() {
        return Some(Value::from(n));
    }
    if let Ok(n) = cell.parse::<i64>() {
        return Some(Value::from(n));
    }
    cell.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

/// The columns of a header row. A name given twice, or a nested name beside its parent
/// (`outcomes` and `outcomes.intent`), makes every row ambiguous: the file is refused.
fn columns(names: &[&str]) -> Result<Vec<Column>, String> {
    let columns: Vec<Column> = names.iter().map(|n| Column::new(n)).collect();
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].iter().any(|o| o.name == c.name) {
            return Err(format!("the column `{}` appears twice", c.name));
        }
        if c.nested.is_some() && names.contains(&c.field.as_str()) {
            return Err(format!(
                "the columns `{}` and `{}` both give `{}`",
                c.field, c.name, c.field
            ));
        }
    }
    Ok(columns)
}

/// The event a row describes, as JSON: each non-empty cell under its column.
fn event(columns: &[Column], cells: &[&str]) -> Value {
    let mut event = Map::new();
    for (column, cell) in columns.iter().zip(cells) {
        if cell.is_empty() {
            continue;
        }
        let value = column.value(cell);
        match &column.nested {
            None => {
                event.insert(column.field.clone(), value);
            }
            Some(nested) => {
                let parent = event
                    .entry(column.field.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(parent) = parent {
                    parent.insert(nested.clone(), value);
                }
            }
        }
    }
    Value::Object(event)
}

/// The rows of a CSV text as inputs. Rows are parsed by `csv_core` (the csv crate's parser)
/// from physical lines, so that each row is known by the line it starts on — blank lines and
/// CRLF line ends included — and a row that cannot be used is rejected with its text.
#[derive(Debug)]
pub struct Rows<R> {
    reader: R,
    parser: csv_core::Reader,
    name: String,
    columns: Vec<Column>,
    /// The physical lines read so far, and the last one with how much of it is parsed.
    lines: u64,
    line: Vec<u8>,
    parsed: usize,
    row: Row,
}

/// The row last read: the line it starts on, its text, and its cells one after the other in
/// `cells`, the first `count` of `ends` saying where each ends. The buffers only grow.
#[derive(Debug)]
struct Row {
    start: Option<u64>,
    text: Vec<u8>,
    cells: Vec<u8>,
    ends: Vec<usize>,
    count: usize,
}

impl Row {
    fn new() -> Row {
        Row {
            start: None,
            text: Vec::new(),
            cells: vec![0; 1024],
            ends: vec![0; 32],
            count: 0,
        }
    }

    fn cells(&self) -> impl Iterator<Item = &[u8]> {
        let ends = &self.ends[..self.count];
        let starts = std::iter::once(0).chain(ends.iter().copied());
        starts
            .zip(ends)
            .map(|(start, &end)| &self.cells[start..end])
    }
}

impl<R: BufRead> Rows<R> {
    /// Reads the header row (none in an empty text: then there are no rows either). A header
    /// that cannot be used is an error of kind `InvalidData`, its message saying why.
    pub fn new(reader: R, name: String) -> io::Result<Rows<R>> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
        let mut rows = Rows {
            reader,
            parser: csv_core::Reader::new(),
            name,
            columns: Vec::new(),
            lines: 0,
            line: Vec::new(),
            parsed: 0,
            row: Row::new(),
        };
        if rows.read_row()? {
            let names = rows
                .row
                .cells()
                .map(|name| std::str::from_utf8(name).map(str::trim))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid(format!("the header row is {}", not_utf8(e))))?;
            rows.columns = columns(&names).map_err(invalid)?;
        }
        Ok(rows)
    }

    /// Reads the next row into `self.row`; false at the end of the text.
    fn read_row(&mut self) -> io::Result<bool> {
        use csv_core::ReadRecordResult::*;
        let row = &mut self.row;
        row.start = None;
        row.text.clear();
        let (mut cells, mut ends) = (0, 0);
        loop {
            if self.parsed == self.line.len() {
                self.line.clear();
                self.parsed = 0;
                if self.reader.read_until(b'\n', &mut self.line)? > 0 {
                    self.lines += 1;
                }
            }
            // An empty input tells the parser the text has ended.
            let input = &self.line[self.parsed..];
            if row.start.is_none() && input.iter().any(|b| !matches!(b, b'\r' | b'\n')) {
                row.start = Some(self.lines);
            }
            let (result, read, written, ended) =
                self.parser
                    .read_record(input, &mut row.cells[cells..], &mut row.ends[ends..]);
            if row.start.is_some() {
                row.text.extend_from_slice(&input[..read]);
            }
            self.parsed += read;
            cells += written;
            ends += ended;
            match result {
                InputEmpty => {}
                OutputFull => row.cells.resize(row.cells.len() * 2, 0),
                OutputEndsFull => row.ends.resize(row.ends.len() * 2, 0),
                Record => {
                    row.count = ends;
                    return Ok(true);
                }
                End => return Ok(false),
            }
        }
    }

    /// The input of the row just read.
    fn input(&self) -> Input {
        let line = self.row.start.unwrap_or(self.lines);
        let source = format!("file:{}:{line}", self.name);
        let count = self.row.count;
        if count != self.columns.len() {
            let text = self.row.text.trim_ascii_end();
            return Input::unreadable(
                String::from_utf8_lossy(text),
                source,
                format!(
                    "line {line} has {} where the header has {} columns",
                    match count {
                        1 => "1 cell".to_owned(),
                        n => format!("{n} cells"),
                    },
                    self.columns.len()
                ),
            );
        }
        let mut reason = None;
        let cells: Vec<_> = self
            .row
            .cells()
            .zip(&self.columns)
            .map(|(cell, column)| {
                String::from_utf8(cell.to_vec()).unwrap_or_else(|e| {
                    reason.get_or_insert_with(|| {
                        format!(
                            "{} in the column `{}`",
                            not_utf8(e.utf8_error()),
                            column.name
                        )
                    });
                    String::from_utf8_lossy(cell).into_owned()
                })
            })
            .collect();
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        let raw = event(&self.columns, &cells).to_string();
        match reason {
            None => Input::new(raw, source),
            Some(reason) => Input::unreadable(raw, source, reason),
        }
    }
}

impl<R: BufRead> Iterator for Rows<R> {
    type Item = io::Result<Input>;

    fn next(&mut self) -> Option<io::Result<Input>> {
        match self.read_row() {
            Ok(true) => Some(Ok(self.input())),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON a row of `header` gives.
    fn check(header: &[&str], row: &[&str], expected: &str) {
        let columns = columns(header).unwrap();
        let expected: Value = serde_json::from_str(expected).unwrap();
        assert_eq!(event(&columns, row), expected, "{row:?}");
    }

    const WIRE: [&str; 16] = [
        "id",
        "point",
        "at",
        "party",
        "channel",
        "outcomes.intent",
        "outcomes.satisfaction",
        "outcomes.knowledge",
        "outcomes.resolved",
        "outcomes.engaged",
        "value.company",
        "value.party",
        "cost",
        "duration_s",
        "data",
        "vars",
    ];

    #[test]
    fn every_field_of_the_wire_format() {
        check(
            &WIRE,
            &[
                "o-1",
                "web.order",
                "2026-03-01T09:30:00Z",
                "p-9",
                "web",
                "buy",
                "4",
                "true",
                "false",
                "true",
                "6.5",
                "-2",
                "0.30",
                "12",
                r#"{"basket":["chain"]}"#,
                r#"{"urgency":"routine"}"#,
            ],
            r#"{"id":"o-1","point":"web.order","at":"2026-03-01T09:30:00Z","party":"p-9",
                "channel":"web","outcomes":{"intent":"buy","satisfaction":4,"knowledge":true,
                "resolved":false,"engaged":true},"value":{"company":6.5,"party":-2},
                "cost":0.30,"duration_s":12,"data":{"basket":["chain"]},
                "vars":{"urgency":"routine"}}"#,
        );
    }

    #[test]
    fn an_empty_cell_is_an_absent_field() {
        check(
            &WIRE,
            &[
                "",
                "web.order",
                "2026-03-01T09:30:00Z",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ],
            r#"{"point":"web.order","at":"2026-03-01T09:30:00Z"}"#,
        );
        check(
            &["point", "outcomes.satisfaction", "value.company"],
            &["a", "5", ""],
            r#"{"point":"a","outcomes":{"satisfaction":5}}"#,
        );
    }

    #[test]
    fn numbers_as_json_writes_them_or_as_rust_reads_them() {
        for (cell, expected) in [
            ("4", "4"),
            ("4.10", "4.1"),
            (" 7 ", "7"),
            ("1e3", "1000.0"),
            ("-0.5", "-0.5"),
            ("+4", "4"),
            (".5", "0.5"),
            ("x", r#""x""#),
            ("NaN", r#""NaN""#),
            ("inf", r#""inf""#),
            ("1e400", r#""1e400""#),
            ("4,5", r#""4,5""#),
        ] {
            check(&["cost"], &[cell], &format!(r#"{{"cost":{expected}}}"#));
        }
    }

    #[test]
    fn booleans_are_true_and_false() {
        for (cell, expected) in [
            ("true", "true"),
            ("false", "false"),
            (" true", "true"),
            ("yes", r#""yes""#),
            ("1", r#""1""#),
            ("TRUE", r#""TRUE""#),
        ] {
            check(
                &["outcomes.resolved"],
                &[cell],
                &format!(r#"{{"outcomes":{{"resolved":{expected}}}}}"#),
            );
        }
    }

    #[test]
    fn data_and_vars_are_json_text_or_strings() {
        check(
            &["data", "vars"],
            &["[1, 2]", "{broken"],
            r#"{"data":[1,2],"vars":"{broken"}"#,
        );
    }

    #[test]
    fn text_and_unknown_columns_are_carried_as_they_are() {
        check(
            &["party", "colour", "outcomes.mood", "data.basket", "point"],
            &["4", "red", "fine", "[]", " x "],
            r#"{"party":"4","colour":"red","outcomes":{"mood":"fine"},"data.basket":"[]",
                "point":" x "}"#,
        );
    }

    #[test]
    fn an_ambiguous_header_is_refused() {
        assert_eq!(
            columns(&["point", "at", "point"]).unwrap_err(),
            "the column `point` appears twice"
        );
        assert_eq!(
            columns(&["outcomes.intent", "outcomes"]).unwrap_err(),
            "the columns `outcomes` and `outcomes.intent` both give `outcomes`"
        );
    }

    /// Each row as (raw, source, reason) for a CSV text.
    fn rows(text: &[u8]) -> Vec<(String, String, Option<String>)> {
        Rows::new(text, "e.csv".to_owned())
            .unwrap()
            .map(|i| {
                let i = i.unwrap();
                (i.raw, i.source, i.unreadable)
            })
            .collect()
    }

    #[test]
    fn rows_become_inputs_and_unreadable_rows_rejects() {
        let text = b"\xef\xbb\xbfpoint, cost\nweb.order,1\n\nweb.order\n\"web\norder\",2\nweb.order,\"caf\xe9\"\n";
        let got = rows(text);
        assert_eq!(
            got,
            [
                (
                    r#"{"cost":1,"point":"web.order"}"#.to_owned(),
                    "file:e.csv:2".to_owned(),
                    None
                ),
                (
                    "web.order".to_owned(),
                    "file:e.csv:4".to_owned(),
                    Some("line 4 has 1 cell where the header has 2 columns".to_owned())
                ),
                (
                    r#"{"cost":2,"point":"web\norder"}"#.to_owned(),
                    "file:e.csv:5".to_owned(),
                    None
                ),
                (
                    r#"{"cost":"caf�","point":"web.order"}"#.to_owned(),
                    "file:e.csv:7".to_owned(),
                    Some("not UTF-8: invalid byte at offset 3 in the column `cost`".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn rows_are_known_by_the_line_they_start_on() {
        let text = b"point,cost\r\nweb.order,1\r\n\r\n\"a\r\nb\",2\r\n\r\nx";
        let got: Vec<(String, Option<String>)> =
            rows(text).into_iter().map(|(_, s, r)| (s, r)).collect();
        assert_eq!(
            got,
            [
                ("file:e.csv:2".to_owned(), None),
                ("file:e.csv:4".to_owned(), None),
                (
                    "file:e.csv:7".to_owned(),
                    Some("line 7 has 1 cell where the header has 2 columns".to_owned())
                ),
            ]
        );
        assert!(rows(b"").is_empty());
        assert!(rows(b"point,cost\n").is_empty());
    }

    #[test]
    fn long_rows_and_many_columns() {
        let header: Vec<String> = (0..100).map(|i| format!("c{i}")).collect();
        let long = "x".repeat(5000);
        let row: Vec<&str> = (0..100).map(|_| long.as_str()).collect();
        let text = format!("{}\n{}\n", header.join(","), row.join(","));
        let got = rows(text.as_bytes());
        assert_eq!(got.len(), 1);
        let event: Value = serde_json::from_str(&got[0].0).unwrap();
        assert_eq!(event.as_object().unwrap().len(), 100);
        assert_eq!(event["c99"], long.as_str());
    }

    #[test]
    fn a_header_that_is_not_utf8_is_refused() {
        let err = Rows::new(&b"point,c\xe9\nx,y\n"[..], "e.csv".to_owned()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the header row is not UTF-8: invalid byte at offset 1"
        );
    }
}
