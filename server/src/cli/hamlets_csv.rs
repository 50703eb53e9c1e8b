//! Reading a commune's hamlet list from CSV: a header row, then `id,name[,expected_households]`
//! (English or Vietnamese column names), UTF-8 with or without a byte-order mark, quoted fields.
//! The whole file is checked before anything is written; each problem names its line and column.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::csv::{Record, records, utf8_text};

/// Longest hamlet id and name accepted.
const MAX_ID_CHARS: usize = 32;
const MAX_NAME_CHARS: usize = 120;

/// One hamlet read from the file: trimmed and NFC-normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HamletRow {
    /// Line of the file where the row starts.
    pub line: usize,
    pub id: String,
    pub name: String,
    pub expected_households: Option<i64>,
}

/// A problem with the file, located where a person can find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    /// `column 2 (tên)`, when the problem is in one field.
    pub column: Option<String>,
    pub message: String,
}

impl Problem {
    fn at(line: usize, column: Option<String>, message: impl Into<String>) -> Problem {
        let message = message.into();
        Problem {
            line,
            column,
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "line {}, {column}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    Name,
    Expected,
}

/// The header names understood, compared after NFC, lower case, trimming, `_`/`-` as spaces.
const HEADERS: [(Column, &[&str]); 3] = [
    (Column::Id, &["id", "ma", "mã", "ma thon", "mã thôn"]),
    (
        Column::Name,
        &["name", "ten", "tên", "ten thon", "tên thôn"],
    ),
    (Column::Expected, &["expected households", "so ho", "số hộ"]),
];

fn column_of(header: &str) -> Option<Column> {
    let folded: String = header.trim().nfc().collect::<String>().to_lowercase();
    let folded = folded.replace(['_', '-'], " ");
    let folded = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    HEADERS
        .iter()
        .find(|(_, names)| names.contains(&folded.as_str()))
        .map(|&(c, _)| c)
}

/// Reads and checks the whole file; returns every hamlet, or every problem found.
pub fn parse(bytes: &[u8]) -> Result<Vec<HamletRow>, Vec<Problem>> {
    let text = utf8_text(bytes).map_err(|line| {
        vec![Problem::at(
            line,
            None,
            "not UTF-8 text: save the file as \"CSV UTF-8\"",
        )]
    })?;
    let mut records = records(text)
        .map_err(|e| {
            let column = e.column.map(|n| format!("column {n}"));
            vec![Problem::at(e.line, column, e.message)]
        })?
        .into_iter()
        .filter(|r| !r.is_blank());
    let Some(header) = records.next() else {
        let message = "the file is empty: expected a header row id,name[,expected_households]";
        return Err(vec![Problem::at(1, None, message)]);
    };
    let columns = read_header(&header)?;
    let mut problems = Vec::new();
    let mut rows: Vec<HamletRow> = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for record in records {
        let line = record.line;
        if record.fields.len() > columns.len() {
            let (got, header) = (record.fields.len(), columns.len());
            let message = format!("{got} fields, but the header has {header}");
            problems.push(Problem::at(line, None, message));
            continue;
        }
        let mut row = HamletRow {
            line,
            id: String::new(),
            name: String::new(),
            expected_households: None,
        };
        for (i, (column, title)) in columns.iter().enumerate() {
            let value = record.field(i);
            let checked = match column {
                Column::Id => check_text(&value, "id", MAX_ID_CHARS)
                    .and_then(|()| first_time(&mut first_line, &value, line)),
                Column::Name => check_text(&value, "name", MAX_NAME_CHARS),
                Column::Expected => households(&value).map(|n| row.expected_households = n),
            };
            if let Err(message) = checked {
                let column = format!("column {} ({title})", i + 1);
                problems.push(Problem::at(line, Some(column), message));
            }
            match column {
                Column::Id => row.id = value,
                Column::Name => row.name = value,
                Column::Expected => {}
            }
        }
        rows.push(row);
    }
    if rows.is_empty() && problems.is_empty() {
        let message = "no hamlet after the header row";
        problems.push(Problem::at(header.line, None, message));
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Remembers the line where an id is first seen; seeing it again names that line.
fn first_time(seen: &mut HashMap<String, usize>, id: &str, line: usize) -> Result<(), String> {
    match seen.entry(id.to_owned()) {
        Entry::Occupied(first) => Err(format!(
            "hamlet id {id} is repeated (first on line {})",
            first.get()
        )),
        Entry::Vacant(slot) => {
            slot.insert(line);
            Ok(())
        }
    }
}

/// Checks a hamlet id or name: 1 to `max` characters on one line.
fn check_text(value: &str, what: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        Err(format!("the hamlet {what} is empty"))
    } else if value.chars().count() > max || value.chars().any(char::is_control) {
        Err(format!("hamlet {what} of 1-{max} characters on one line"))
    } else {
        Ok(())
    }
}

/// An optional count of households: empty, or digits only.
fn households(value: &str) -> Result<Option<i64>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<u32>() {
        Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(i64::from(n))),
        _ => Err(format!("\"{value}\" is not a whole number of households")),
    }
}

/// Which column is which, with the title as written in the file.
fn read_header(header: &Record) -> Result<Vec<(Column, String)>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut columns: Vec<(Column, String)> = Vec::new();
    for (i, title) in header.fields.iter().enumerate() {
        let title = title.trim().to_owned();
        let at = Some(format!("column {} ({title})", i + 1));
        match column_of(&title) {
            Some(c) if columns.iter().any(|(k, _)| *k == c) => {
                let message = "this column appears twice in the header";
                problems.push(Problem::at(header.line, at, message));
            }
            Some(c) => columns.push((c, title)),
            None => {
                let hint = if title.contains(';') {
                    " (the file seems to use ';' between columns: save it with commas)"
                } else {
                    ""
                };
                let message = format!(
                    "unknown column: expected id (mã), name (tên) and optionally \
                     expected_households (số hộ){hint}"
                );
                problems.push(Problem::at(header.line, at, message));
            }
        }
    }
    for (needed, title) in [(Column::Id, "id (mã)"), (Column::Name, "name (tên)")] {
        if problems.is_empty() && !columns.iter().any(|(c, _)| *c == needed) {
            let message = format!("the header has no {title} column");
            problems.push(Problem::at(header.line, None, message));
        }
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_commas_line_breaks_and_bom() {
        let text = "\u{FEFF}Mã,\"Tên\",Số hộ\r\nT01,\"Thôn Đông, xóm 1\",120\r\n\r\n\
                    T02,\"Tổ \"\"Bắc\"\"\",\n";
        let rows = parse(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].name, "Thôn Đông, xóm 1");
        assert_eq!(rows[0].expected_households, Some(120));
        assert_eq!(rows[1].name, "Tổ \"Bắc\"");
        assert_eq!((rows[1].line, rows[1].expected_households), (4, None));
    }

    #[test]
    fn every_problem_is_located() {
        let text = "id,name,so_ho\nT01,A,1\n,B,2\nT01,C,x\nT04,,\nT05,E,1,9\n";
        let problems = parse(text.as_bytes()).unwrap_err();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "line 3, column 1 (id): the hamlet id is empty",
                "line 4, column 1 (id): hamlet id T01 is repeated (first on line 2)",
                "line 4, column 3 (so_ho): \"x\" is not a whole number of households",
                "line 5, column 2 (name): the hamlet name is empty",
                "line 6: 4 fields, but the header has 3",
            ]
        );
    }

    #[test]
    fn headers_are_checked() {
        let bad = |t: &str| parse(t.as_bytes()).unwrap_err()[0].to_string();
        assert!(bad("id;name\nT01;A\n").contains("';'"));
        assert!(bad("id\nT01\n").contains("no name (tên) column"));
        assert!(bad("").contains("empty"));
        assert!(bad("id,name\n\"T01,A\n").contains("never closed"));
        assert!(bad("id,name\n").contains("no hamlet"));
        assert!(bad("id,name\nT0\u{1}").contains("line 2, column 1"));
        // A line break inside quotes is text, and the lines after it are counted right.
        let problems = parse("id,name\n\"T\n1\",A\nT01,\"\"\n".as_bytes()).unwrap_err();
        assert_eq!((problems[0].line, problems[1].line), (2, 4));
    }
}
