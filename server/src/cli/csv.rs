//! Splitting CSV text into records (RFC 4180, as Excel and LibreOffice write it), keeping the
//! line each record starts on so that errors can point at it.

use unicode_normalization::UnicodeNormalization;

/// The text of a file saved as CSV: UTF-8, without the byte-order mark Excel's "CSV UTF-8"
/// writes; else the line where it stops being UTF-8.
pub(crate) fn utf8_text(bytes: &[u8]) -> Result<&str, usize> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    })
}

/// Text that is not CSV: an unclosed quote, or text after a closing quote.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub line: usize,
    /// 1-based.
    pub column: Option<usize>,
    pub message: String,
}

/// One record of the file and the line it starts on.
#[derive(Debug)]
pub(crate) struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

impl Record {
    fn new(line: usize) -> Record {
        let fields = Vec::new();
        Record { line, fields }
    }

    /// Field `i`, trimmed and NFC; empty when the line is shorter.
    pub fn field(&self, i: usize) -> String {
        self.fields.get(i).map_or("", |f| f.trim()).nfc().collect()
    }

    pub fn is_blank(&self) -> bool {
        self.fields.iter().all(|f| f.trim().is_empty())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted { opened: usize },
    AfterQuote,
}

/// Splits RFC 4180 CSV: `"` quotes a field (`""` is a quote inside it, commas and line breaks
/// inside quotes are text); LF, CRLF or CR end a record.
pub(crate) fn records(text: &str) -> Result<Vec<Record>, SyntaxError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut state) = (1, State::FieldStart);
    let mut record = Record::new(line);
    let mut field = String::new();
    loop {
        let c = chars.next();
        match (state, c) {
            (State::Quoted { opened }, None) => {
                let message = "a quote \" is opened and never closed".into();
                return Err(SyntaxError {
                    line: opened,
                    column: None,
                    message,
                });
            }
            (State::Quoted { .. }, Some('"')) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (State::Quoted { .. }, Some('"')) => state = State::AfterQuote,
            (State::Quoted { .. }, Some(c)) => {
                if c == '\n' || (c == '\r' && chars.peek() != Some(&'\n')) {
                    line += 1;
                }
                field.push(c);
            }
            (State::FieldStart, None) if record.fields.is_empty() => break,
            (_, None) => {
                record.fields.push(field);
                out.push(record);
                break;
            }
            (_, Some('\r' | '\n')) => {
                if c == Some('\r') && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                record.fields.push(std::mem::take(&mut field));
                line += 1;
                out.push(std::mem::replace(&mut record, Record::new(line)));
                state = State::FieldStart;
            }
            (_, Some(',')) => {
                record.fields.push(std::mem::take(&mut field));
                state = State::FieldStart;
            }
            (State::FieldStart, Some('"')) => state = State::Quoted { opened: line },
            (State::AfterQuote, Some(' ' | '\t')) => {}
            (State::AfterQuote, Some(c)) => {
                let column = Some(record.fields.len() + 1);
                let message = format!("unexpected {c:?} after a closing quote");
                return Err(SyntaxError {
                    line,
                    column,
                    message,
                });
            }
            (State::FieldStart | State::Unquoted, Some(c)) => {
                field.push(c);
                state = State::Unquoted;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_line_breaks_and_line_numbers() {
        let text = "a,\"b, \"\"c\"\"\"\r\n\"d\ne\",f\rg\n\n,\n";
        let parsed = records(text).unwrap();
        let seen: Vec<(usize, Vec<&str>)> = parsed
            .iter()
            .map(|r| (r.line, r.fields.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            seen,
            [
                (1, vec!["a", "b, \"c\""]),
                (2, vec!["d\ne", "f"]),
                (4, vec!["g"]),
                (5, vec![""]),
                (6, vec!["", ""]),
            ]
        );
        let err = records("a\n\"b\" c, \"d\"x").unwrap_err();
        assert_eq!((err.line, err.column), (2, Some(1)));
        assert_eq!(records("a\n\"b\nc").unwrap_err().line, 2);
    }
}
