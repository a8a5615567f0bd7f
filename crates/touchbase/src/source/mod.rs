//! Where `touchbase import` reads events from: a file or standard input, gzip-compressed or
//! not, split into one input per event — a line of NDJSON, or a row of CSV turned into the
//! JSON text of its event. The format and the compression follow the file's name
//! (`events.csv.gz`); `--format` overrides the format.
//!
//! A line or a row that cannot be read as text (not UTF-8, a row with the wrong number of
//! cells) becomes an input rejected with its reason; the import goes on. Only an error of the
//! file itself (it cannot be read, the gzip stream is corrupt) stops it.

use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::Context;
use indicatif::ProgressBar;
use touchbase_store::ingest::Input;
use touchbase_store::sources::{csv, ndjson};

/// How the events are written in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON event per line (wire format v1).
    Ndjson,
    /// A header row of the wire format's field names, flattened with dots
    /// (`outcomes.satisfaction`), then one event per row.
    Csv,
}

/// An input opened for reading, not yet read.
pub struct Source {
    /// The file as given, or `-` for standard input: the sources of the inputs name it.
    pub name: String,
    /// Its size, for a file: the progress bar's total (compressed bytes for a `.gz` file).
    pub size: Option<u64>,
    reader: Box<dyn Read + Send>,
    gzip: bool,
    format: Format,
}

/// The inputs of a source, one per event, in order; an `Err` is an error of the file itself.
pub type Inputs = Box<dyn Iterator<Item = anyhow::Result<Input>> + Send>;

impl Source {
    /// Opens `path` (`-`: standard input, NDJSON unless `format` says otherwise).
    pub fn open(path: &Path, format: Option<Format>) -> anyhow::Result<Source> {
        let name = path.display().to_string();
        if name == "-" {
            return Ok(Source {
                name,
                size: None,
                reader: Box::new(std::io::stdin()),
                gzip: false,
                format: format.unwrap_or(Format::Ndjson),
            });
        }
        let file = std::fs::File::open(path).with_context(|| format!("cannot read `{name}`"))?;
        let size = file.metadata().ok().map(|m| m.len());
        let (format_by_name, gzip) = by_name(&name);
        Ok(Source {
            size,
            reader: Box::new(file),
            gzip,
            format: format.unwrap_or(format_by_name),
            name,
        })
    }

    /// Reads the source as inputs. `progress` counts the bytes read from the file, before
    /// decompression, so that its estimate holds against the file's size. A CSV source reads
    /// its header here; a header that cannot be used is an error.
    pub fn inputs(self, progress: &ProgressBar) -> anyhow::Result<Inputs> {
        let counted = progress.wrap_read(self.reader);
        let text: Box<dyn Read + Send> = if self.gzip {
            Box::new(flate2::read::MultiGzDecoder::new(counted))
        } else {
            Box::new(counted)
        };
        let name = self.name;
        let inputs: Box<dyn Iterator<Item = std::io::Result<Input>> + Send> = match self.format {
            Format::Ndjson => Box::new(ndjson::Lines::new(BufReader::new(text), name.clone())),
            Format::Csv => Box::new(
                csv::Rows::new(BufReader::new(text), name.clone())
                    .with_context(|| format!("cannot read `{name}` as CSV"))?,
            ),
        };
        Ok(Box::new(inputs.map(move |input| {
            input.with_context(|| format!("cannot read `{name}`"))
        })))
    }
}

/// The format and the compression a file's name says: `.gz` is gzip, and the extension before
/// it `.csv` (any case) is CSV; everything else is NDJSON.
fn by_name(name: &str) -> (Format, bool) {
    let lower = name.to_ascii_lowercase();
    let (rest, gzip) = match lower.strip_suffix(".gz") {
        Some(rest) => (rest, true),
        None => (lower.as_str(), false),
    };
    let format = if rest.ends_with(".csv") {
        Format::Csv
    } else {
        Format::Ndjson
    };
    (format, gzip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_says_the_format_and_the_compression() {
        for (name, expected) in [
            ("events.ndjson", (Format::Ndjson, false)),
            ("events.jsonl", (Format::Ndjson, false)),
            ("events.txt", (Format::Ndjson, false)),
            ("events", (Format::Ndjson, false)),
            ("events.csv", (Format::Csv, false)),
            ("EVENTS.CSV", (Format::Csv, false)),
            ("events.csv.gz", (Format::Csv, true)),
            ("events.ndjson.gz", (Format::Ndjson, true)),
            ("events.gz", (Format::Ndjson, true)),
            ("dir.csv/events.ndjson", (Format::Ndjson, false)),
        ] {
            assert_eq!(by_name(name), expected, "{name}");
        }
    }
}
