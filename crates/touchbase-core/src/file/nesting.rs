//! How deep a YAML text nests, found by a scan of its characters before any parser sees it.
//!
//! The YAML parser's cost grows with the square of the nesting of flow collections
//! (`[[[[…]]]]`): 100,000 levels in 200 KB cost about a minute of CPU. No inventory, point or
//! rule needs more than a dozen levels, so a text deeper than [`MAX_DEPTH`] is refused here, in
//! one pass over its bytes.
//!
//! The scan follows the tokens of the YAML scanner (libyaml's rules) as far as nesting needs:
//! flow collections (`[`, `{` … `]`, `}`), block collections (the columns of `- ` entries and of
//! `key:`s), and what holds no structure and is skipped — comments, quoted scalars, plain
//! scalars (also over several lines) and block scalars (`|`, `>`). Where the scan cannot tell a
//! text apart from structure it counts it as structure: it may refuse a strange text that is not
//! deep, never let a deep one through.

/// The deepest nesting of collections a YAML text may have: flow and block levels together.
pub const MAX_DEPTH: usize = 64;

/// Where a text first nests deeper than the bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "collections nest more than {limit} levels deep (line {line}); no inventory, point or rule \
     needs that many: flatten the document"
)]
pub struct TooDeep {
    /// 1-based line of the collection that went over the bound.
    pub line: usize,
    pub limit: usize,
}

/// Checks that `text` nests no deeper than [`MAX_DEPTH`].
pub fn check(text: &str) -> Result<(), TooDeep> {
    check_within(text, MAX_DEPTH)
}

/// Checks that `text` nests no deeper than `limit`.
pub fn check_within(text: &str, limit: usize) -> Result<(), TooDeep> {
    Scan {
        b: text.as_bytes(),
        at: 0,
        line: 1,
        line_start: 0,
        flow: 0,
        indents: Vec::new(),
        key_column: None,
        limit,
    }
    .run()
}

struct Scan<'a> {
    b: &'a [u8],
    at: usize,
    line: usize,
    line_start: usize,
    /// Open flow collections.
    flow: usize,
    /// The columns of the open block collections, innermost last.
    indents: Vec<usize>,
    /// The column of the node that a `:` on this line would make a key of.
    key_column: Option<usize>,
    limit: usize,
}

fn blank_or_end(c: Option<u8>) -> bool {
    matches!(c, None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

fn flow_indicator(c: u8) -> bool {
    matches!(c, b',' | b'[' | b']' | b'{' | b'}')
}

impl Scan<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.b.get(self.at + ahead).copied()
    }

    fn column(&self) -> usize {
        self.at - self.line_start
    }

    /// The block collections' indentation the parser compares a line with (-1: none).
    fn indent(&self) -> isize {
        self.indents.last().map_or(-1, |c| *c as isize)
    }

    fn newline(&mut self) {
        self.at += 1;
        self.line += 1;
        self.line_start = self.at;
        self.key_column = None;
    }

    fn deeper(&self) -> Result<(), TooDeep> {
        if self.flow + self.indents.len() > self.limit {
            return Err(TooDeep {
                line: self.line,
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// A block collection at `column`, when deeper than the one open.
    fn block_at(&mut self, column: usize) -> Result<(), TooDeep> {
        if self.indent() < column as isize {
            self.indents.push(column);
            self.deeper()?;
        }
        Ok(())
    }

    fn at_document_marker(&self) -> bool {
        self.column() == 0
            && (self.b[self.at..].starts_with(b"---") || self.b[self.at..].starts_with(b"..."))
            && blank_or_end(self.peek(3))
    }

    fn skip_to_line_end(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == b'\n' {
                break;
            }
            self.at += 1;
        }
    }

    fn run(mut self) -> Result<(), TooDeep> {
        loop {
            // Whitespace, line breaks and comments between tokens.
            match self.peek(0) {
                None => return Ok(()),
                Some(b' ' | b'\t' | b'\r') => {
                    self.at += 1;
                    continue;
                }
                Some(b'\n') => {
                    self.newline();
                    continue;
                }
                Some(b'#') => {
                    self.skip_to_line_end();
                    continue;
                }
                Some(_) => {}
            }
            if self.flow == 0 {
                // A token in block context closes the block collections indented deeper.
                let column = self.column();
                while self.indent() > column as isize {
                    self.indents.pop();
                }
                if self.at_document_marker() {
                    self.indents.clear();
                    self.at += 3;
                    continue;
                }
                if column == 0 && self.peek(0) == Some(b'%') {
                    self.skip_to_line_end();
                    continue;
                }
            }
            let c = self.peek(0).expect("not at the end");
            let next = self.peek(1);
            match c {
                b'[' | b'{' => {
                    if self.flow == 0 && self.key_column.is_none() {
                        self.key_column = Some(self.column());
                    }
                    self.flow += 1;
                    self.deeper()?;
                    self.at += 1;
                }
                b']' | b'}' => {
                    self.flow = self.flow.saturating_sub(1);
                    self.at += 1;
                }
                b',' => self.at += 1,
                b'-' if self.flow == 0 && blank_or_end(next) => {
                    let column = self.column();
                    self.block_at(column)?;
                    self.key_column = None;
                    self.at += 1;
                }
                b'?' if self.flow > 0 || blank_or_end(next) => {
                    if self.flow == 0 {
                        let column = self.column();
                        self.block_at(column)?;
                    }
                    self.key_column = None;
                    self.at += 1;
                }
                b':' if self.flow > 0 || blank_or_end(next) => {
                    if self.flow == 0
                        && let Some(column) = self.key_column.take()
                    {
                        self.block_at(column)?;
                    }
                    self.key_column = None;
                    self.at += 1;
                }
                b'|' | b'>' if self.flow == 0 => self.block_scalar(),
                b'\'' | b'"' => {
                    self.mark_node();
                    self.quoted(c);
                }
                b'&' | b'*' | b'!' => {
                    // An anchor, alias or tag: up to a blank (or a flow indicator in flow).
                    if c == b'*' {
                        self.mark_node();
                    }
                    self.at += 1;
                    while let Some(c) = self.peek(0) {
                        if blank_or_end(Some(c)) || (self.flow > 0 && flow_indicator(c)) {
                            break;
                        }
                        self.at += 1;
                    }
                }
                _ => {
                    self.mark_node();
                    self.plain();
                }
            }
        }
    }

    /// A node starts here: the key a `:` later on the line would make.
    fn mark_node(&mut self) {
        if self.flow == 0 && self.key_column.is_none() {
            self.key_column = Some(self.column());
        }
    }

    /// A single- or double-quoted scalar, over as many lines as it takes.
    fn quoted(&mut self, quote: u8) {
        self.at += 1;
        while let Some(c) = self.peek(0) {
            match c {
                b'\n' => {
                    let key = self.key_column;
                    self.newline();
                    self.key_column = key;
                }
                b'\\' if quote == b'"' => {
                    // An escape: the next character is text, unless it is a line break.
                    self.at += 1;
                    if self.peek(0).is_some_and(|c| c != b'\n') {
                        self.at += 1;
                    }
                }
                b'\'' if quote == b'\'' && self.peek(1) == Some(b'\'') => self.at += 2,
                c if c == quote => {
                    self.at += 1;
                    return;
                }
                _ => self.at += 1,
            }
        }
    }

    /// A plain scalar: up to `: `, ` #`, a flow indicator in flow, or a line indented no
    /// deeper than the block collection it is in.
    fn plain(&mut self) {
        loop {
            // One line's worth.
            while let Some(c) = self.peek(0) {
                if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
                    break;
                }
                if c == b':' {
                    let next = self.peek(1);
                    if blank_or_end(next)
                        || (self.flow > 0 && next.is_some_and(|n| flow_indicator(n) || n == b'?'))
                    {
                        return;
                    }
                }
                if self.flow > 0 && flow_indicator(c) {
                    return;
                }
                self.at += 1;
            }
            // Blanks and breaks: the scalar goes on after them, or ends.
            let (at, line, line_start) = (self.at, self.line, self.line_start);
            let mut broke = false;
            while let Some(c) = self.peek(0) {
                match c {
                    b' ' | b'\t' | b'\r' => self.at += 1,
                    b'\n' => {
                        let key = self.key_column;
                        self.newline();
                        self.key_column = key;
                        broke = true;
                    }
                    _ => break,
                }
            }
            let ends = match self.peek(0) {
                None | Some(b'#') => true,
                _ if broke && self.at_document_marker() => true,
                _ => self.flow == 0 && (self.column() as isize) <= self.indent(),
            };
            if ends {
                if broke {
                    // The next token is on a line of its own: go back to where it starts.
                    self.at = at;
                    self.line = line;
                    self.line_start = line_start;
                }
                return;
            }
            if broke {
                // A continuation line of a plain scalar is never a key.
                self.key_column = None;
            }
        }
    }

    /// A literal or folded block scalar: its header line, then every line indented at least
    /// as deep as its content (and the blank lines among them).
    fn block_scalar(&mut self) {
        self.at += 1;
        let mut explicit = None;
        while let Some(c) = self.peek(0) {
            match c {
                b'1'..=b'9' => explicit = Some((c - b'0') as isize),
                b'\n' => break,
                b'#' => {
                    self.skip_to_line_end();
                    break;
                }
                _ => {}
            }
            self.at += 1;
        }
        let base = self.indent().max(0);
        let mut indent = explicit.map(|e| base + e);
        loop {
            if self.peek(0) != Some(b'\n') {
                return;
            }
            // At a line break: look at the next line.
            let start = self.at + 1;
            let mut spaces = 0;
            while self.b.get(start + spaces) == Some(&b' ') {
                spaces += 1;
            }
            let rest = self.b.get(start + spaces).copied();
            let empty = matches!(rest, None | Some(b'\n' | b'\r'));
            if !empty {
                let need = *indent.get_or_insert((spaces as isize).max(self.indent() + 1).max(1));
                if (spaces as isize) < need {
                    return;
                }
            }
            self.newline();
            self.skip_to_line_end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_ok(text: &str, limit: usize) -> bool {
        check_within(text, limit).is_ok()
    }

    #[test]
    fn flow_nesting_over_the_bound_is_refused_with_its_line() {
        let deep = format!(
            "organization:\n  name: {}x{}\n",
            "[".repeat(65),
            "]".repeat(65)
        );
        let e = check(&deep).unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.limit, MAX_DEPTH);
        assert!(e.to_string().contains("more than 64 levels"), "{e}");
        let bomb = format!("organization: {}", "[".repeat(100_000));
        assert!(check(&bomb).is_err());
        let braces = format!("a: {}", "{a: ".repeat(100));
        assert!(check(&braces).is_err());
    }

    #[test]
    fn block_nesting_counts_too() {
        let mut text = String::new();
        for i in 0..70 {
            text.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        assert!(check(&text).is_err());
        let compact = format!("{}x\n", "- ".repeat(70));
        assert!(check(&compact).is_err());
        assert!(depth_ok(&format!("{}x\n", "- ".repeat(3)), 3));
        assert!(!depth_ok(&format!("{}x\n", "- ".repeat(4)), 3));
    }

    #[test]
    fn brackets_in_text_are_not_structure() {
        let text = "\
a: 'it''s ]]]] [[[[[[[[[['
b: \"[[[[[[[[[\\\" [[[[\"
c: see [1] and [2
# [[[[[[[[[[[[[[[[
d: |
  [[[[[[[[[[[[
  {{{{{{{{{{{{
e: >-
  ''''' \"
f: plain with ' and \" inside
  and a second line with [[[[[[[
";
        assert!(depth_ok(text, 2), "{:?}", check_within(text, 2));
    }

    #[test]
    fn closers_in_quotes_do_not_hide_depth() {
        let text = format!("a: {}", "[ \"]\", ".repeat(10));
        assert!(!depth_ok(&text, 5));
        let text = format!("a: {}", "[ ']', ".repeat(10));
        assert!(!depth_ok(&text, 5));
    }

    /// A quote inside a plain scalar is text; a block scalar's lines end where it does: neither
    /// may hide a deep collection after them.
    #[test]
    fn what_ends_a_scalar_ends_it_for_the_scan_too() {
        let deep = "[".repeat(10);
        for text in [
            format!("a: x\n  'y\nb: {deep}\nc: '\n"),
            format!("a: |\n  '\nb: {deep}\nc: '\n"),
            format!("a: it's\nb: {deep}\nc: '\n"),
        ] {
            assert!(!depth_ok(&text, 5), "{text}");
        }
    }

    #[test]
    fn the_example_inventory_passes() {
        let small = include_str!("../../../touchbase-store/src/conformance/small.yaml");
        check_within(small, 8).unwrap();
    }
}
