//! NDJSON: one event per line. Lines are read as bytes, so that a line that is not UTF-8 is
//! one rejected input rather than the end of the import; blank lines are skipped.

use std::io::{self, BufRead};

use super::not_utf8;
use crate::ingest::Input;

/// The lines of an NDJSON text as inputs.
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    name: String,
    line_no: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R, name: String) -> Lines<R> {
        Lines {
            reader,
            name,
            line_no: 0,
            buf: Vec::new(),
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = io::Result<Input>;

    fn next(&mut self) -> Option<io::Result<Input>> {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => self.line_no += 1,
                Err(e) => return Some(Err(e)),
            }
            let source = format!("file:{}:{}", self.name, self.line_no);
            let line = strip_newline(&self.buf);
            match std::str::from_utf8(line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => return Some(Ok(Input::new(text, source))),
                Err(e) => {
                    return Some(Ok(Input::unreadable(
                        String::from_utf8_lossy(line),
                        source,
                        not_utf8(e),
                    )));
                }
            }
        }
    }
}

fn strip_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &[u8], expected: &[(&str, &str, Option<&str>)]) {
        let inputs: Vec<Input> = Lines::new(text, "e.ndjson".to_owned())
            .collect::<io::Result<_>>()
            .unwrap();
        let got: Vec<(&str, &str, Option<&str>)> = inputs
            .iter()
            .map(|i| (i.raw.as_str(), i.source.as_str(), i.unreadable.as_deref()))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn one_input_per_line() {
        check(
            b"{\"a\":1}\r\n\n  \n{\"b\":2}",
            &[
                ("{\"a\":1}", "file:e.ndjson:1", None),
                ("{\"b\":2}", "file:e.ndjson:4", None),
            ],
        );
        check(b"", &[]);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_rejected_and_the_next_is_read() {
        check(
            b"{\"party\":\"caf\xe9\"}\n{\"b\":2}\n",
            &[
                (
                    "{\"party\":\"caf\u{fffd}\"}",
                    "file:e.ndjson:1",
                    Some("not UTF-8: invalid byte at offset 13"),
                ),
                ("{\"b\":2}", "file:e.ndjson:2", None),
            ],
        );
    }
}
