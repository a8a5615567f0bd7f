//! The inputs of an event file's text, one per event: a line of NDJSON ([`ndjson`]), or a row of
//! CSV turned into the JSON text of its event ([`csv`]). Only the text is read here: opening the
//! file, its compression and its progress belong to the binary. Pure enough to be fuzzed (the
//! `csv_source` target).

pub mod csv;
pub mod ndjson;

/// The reason for a text that is not UTF-8: where its first invalid byte is.
pub fn not_utf8(e: std::str::Utf8Error) -> String {
    format!("not UTF-8: invalid byte at offset {}", e.valid_up_to())
}
