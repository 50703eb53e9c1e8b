//! Reading a roster file: xlsx (the first sheet) or CSV (UTF-8 with or without a byte-order
//! mark, as Excel saves it), a header row, then one household a row: hamlet code, the commune's
//! household code, address, head of household's name, number of members (English or Vietnamese
//! column names, with or without diacritics). The whole file is read and checked before
//! anything is written; each problem names its line and column.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Cursor;

use unicode_normalization::UnicodeNormalization;

use super::{Problem, fold};
use crate::cli::csv::{records, utf8_text};

/// Longest values accepted.
const MAX_CODE_CHARS: usize = 40;
const MAX_HAMLET_CHARS: usize = 32;
const MAX_ADDRESS_CHARS: usize = 200;
const MAX_NAME_CHARS: usize = 120;
/// Most members a listed household may have.
const MAX_MEMBERS: i64 = 99;
/// Most households one file may list (a large commune has a few thousand).
pub const MAX_ROWS: usize = 50_000;
/// What an xlsx file may hold once unzipped: a roster of `MAX_ROWS` households is a few
/// megabytes; a file claiming more is refused before it is inflated (a zip bomb).
const MAX_XLSX_INFLATED: u64 = 64 << 20;

/// One household read from the file: trimmed and NFC-normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterRow {
    /// Line (spreadsheet row) where it is.
    pub line: usize,
    /// The column titles as written, for problems found later (an unknown hamlet).
    pub hamlet_column: String,
    pub hamlet_id: String,
    pub code: String,
    pub address: String,
    pub head_name: Option<String>,
    pub members: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Hamlet,
    Code,
    Address,
    Head,
    Members,
}

/// Header names understood, compared folded (see [`fold`]).
const HEADERS: [(Column, &[&str]); 5] = [
    (
        Column::Hamlet,
        &[
            "hamlet",
            "hamlet id",
            "hamlet code",
            "thon",
            "ma thon",
            "to",
            "to dan pho",
        ],
    ),
    (
        Column::Code,
        &[
            "code",
            "household code",
            "roster code",
            "ma ho",
            "ma so ho",
            "ma ho gia dinh",
        ],
    ),
    (Column::Address, &["address", "dia chi"]),
    (
        Column::Head,
        &[
            "head",
            "head of household",
            "chu ho",
            "ten chu ho",
            "ho ten chu ho",
        ],
    ),
    (
        Column::Members,
        &[
            "members",
            "number of members",
            "nhan khau",
            "so nhan khau",
            "so thanh vien",
            "so nguoi",
        ],
    ),
];

/// One record of the file, whatever its format: its line and its cells as text.
struct Row {
    line: usize,
    cells: Vec<String>,
}

/// Reads and checks the whole file; returns every household, or every problem found.
pub fn parse(bytes: &[u8]) -> Result<Vec<RosterRow>, Vec<Problem>> {
    match read(bytes)? {
        (rows, problems) if problems.is_empty() => Ok(rows),
        (_, problems) => Err(problems),
    }
}

/// Reads the whole file: `Err` when it cannot be read as a roster at all (its format, its
/// header), else every row and the problems of each (a row with a problem is still returned,
/// so what is checked against the commune after is checked on every row).
pub fn read(bytes: &[u8]) -> Result<(Vec<RosterRow>, Vec<Problem>), Vec<Problem>> {
    let (rows, letters) = if bytes.starts_with(b"PK\x03\x04") {
        (xlsx_rows(bytes)?, true)
    } else if bytes.starts_with(b"\xD0\xCF\x11\xE0") {
        return Err(vec![Problem::at(
            1,
            None,
            "an old Excel file (.xls): save it as .xlsx or as CSV UTF-8",
        )]);
    } else {
        (csv_rows(bytes)?, false)
    };
    let column_name = |i: usize, title: &str| {
        if letters {
            format!("column {} ({title})", column_letters(i))
        } else {
            format!("column {} ({title})", i + 1)
        }
    };
    let mut rows = rows
        .into_iter()
        .filter(|r| r.cells.iter().any(|c| !c.trim().is_empty()));
    let Some(header) = rows.next() else {
        let message = "the file is empty: expected a header row hamlet,code,address[,head,members]";
        return Err(vec![Problem::at(1, None, message)]);
    };
    let columns = read_header(&header, &column_name)?;
    let mut problems = Vec::new();
    let mut out: Vec<RosterRow> = Vec::new();
    let mut first_line: HashMap<String, usize> = HashMap::new();
    for row in rows {
        let line = row.line;
        if out.len() >= MAX_ROWS {
            problems.push(Problem::at(
                line,
                None,
                format!("more than {MAX_ROWS} households in one file: split it"),
            ));
            break;
        }
        if row.cells.len() > columns.len()
            && row.cells[columns.len()..]
                .iter()
                .any(|c| !c.trim().is_empty())
        {
            let (got, header) = (row.cells.len(), columns.len());
            let message = format!("{got} fields, but the header has {header}");
            problems.push(Problem::at(line, None, message));
            continue;
        }
        let mut household = RosterRow {
            line,
            hamlet_column: String::new(),
            hamlet_id: String::new(),
            code: String::new(),
            address: String::new(),
            head_name: None,
            members: None,
        };
        for (i, (column, title)) in columns.iter().enumerate() {
            let value: String = row.cells.get(i).map_or("", |c| c.trim()).nfc().collect();
            let checked = match column {
                Column::Hamlet => {
                    household.hamlet_column = column_name(i, title);
                    text(&value, "the hamlet code", MAX_HAMLET_CHARS, true)
                        .map(|v| household.hamlet_id = v.unwrap_or_default())
                }
                Column::Code => {
                    text(&value, "the household code", MAX_CODE_CHARS, true).and_then(|v| {
                        let v = v.unwrap_or_default();
                        first_time(&mut first_line, &v, line)?;
                        household.code = v;
                        Ok(())
                    })
                }
                Column::Address => text(&value, "the address", MAX_ADDRESS_CHARS, true)
                    .map(|v| household.address = v.unwrap_or_default()),
                Column::Head => text(&value, "the head's name", MAX_NAME_CHARS, false)
                    .map(|v| household.head_name = v),
                Column::Members => members(&value).map(|n| household.members = n),
            };
            if let Err(message) = checked {
                problems.push(Problem::at(line, Some(column_name(i, title)), message));
            }
        }
        out.push(household);
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(Problem::at(
            header.line,
            None,
            "no household after the header row",
        ));
    }
    Ok((out, problems))
}

fn csv_rows(bytes: &[u8]) -> Result<Vec<Row>, Vec<Problem>> {
    let text = utf8_text(bytes).map_err(|line| {
        vec![Problem::at(
            line,
            None,
            "not UTF-8 text: save the file as \"CSV UTF-8\" or as .xlsx",
        )]
    })?;
    let records = records(text).map_err(|e| {
        let column = e.column.map(|n| format!("column {n}"));
        vec![Problem::at(e.line, column, e.message)]
    })?;
    Ok(records
        .into_iter()
        .map(|r| Row {
            line: r.line,
            cells: r.fields,
        })
        .collect())
}

fn xlsx_rows(bytes: &[u8]) -> Result<Vec<Row>, Vec<Problem>> {
    use calamine::{Data, Reader, Xlsx};
    let broken = |detail: String| {
        vec![Problem::at(
            1,
            None,
            format!("not an xlsx file Excel or LibreOffice can open ({detail})"),
        )]
    };
    // Declared sizes first: nothing is inflated past the limit.
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| broken(e.to_string()))?;
    let mut inflated: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| broken(e.to_string()))?;
        inflated = inflated.saturating_add(entry.size());
    }
    if inflated > MAX_XLSX_INFLATED {
        return Err(vec![Problem::at(
            1,
            None,
            format!(
                "the xlsx file unpacks to {inflated} bytes, more than the {MAX_XLSX_INFLATED} \
                 a roster needs: save only the household list"
            ),
        )]);
    }
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(|e| broken(e.to_string()))?;
    let range = match book.worksheet_range_at(0) {
        Some(Ok(range)) => range,
        Some(Err(e)) => return Err(broken(e.to_string())),
        None => return Err(broken("it has no sheet".into())),
    };
    let (first_row, first_column) = range.start().unwrap_or((0, 0));
    let pad = first_column as usize;
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, cells)| Row {
            line: first_row as usize + i + 1,
            cells: std::iter::repeat_n(String::new(), pad)
                .chain(cells.iter().map(|cell| match cell {
                    Data::Empty => String::new(),
                    Data::String(s) => s.clone(),
                    // Codes and counts typed as numbers: 1023, not 1023.0.
                    Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                        format!("{}", *f as i64)
                    }
                    other => other.to_string(),
                }))
                .collect(),
        })
        .collect())
}

/// `A`, `B`, …, `Z`, `AA`, … for 0-based column `i`.
fn column_letters(mut i: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// Which column is which, with the title as written in the file.
fn read_header(
    header: &Row,
    column_name: &dyn Fn(usize, &str) -> String,
) -> Result<Vec<(Column, String)>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut columns: Vec<(Column, String)> = Vec::new();
    for (i, title) in header.cells.iter().enumerate() {
        let title: String = title.trim().nfc().collect();
        let at = Some(column_name(i, &title));
        let folded = fold(&title).replace(['_', '-'], " ");
        let folded = folded.split_whitespace().collect::<Vec<_>>().join(" ");
        let column = HEADERS
            .iter()
            .find(|(_, names)| names.contains(&folded.as_str()))
            .map(|&(c, _)| c);
        match column {
            Some(c) if columns.iter().any(|(k, _)| *k == c) => {
                problems.push(Problem::at(
                    header.line,
                    at,
                    "this column appears twice in the header",
                ));
            }
            Some(c) => columns.push((c, title)),
            None if title.is_empty() && i + 1 == header.cells.len() => {}
            None => {
                let hint = if title.contains(';') {
                    " (the file seems to use ';' between columns: save it with commas)"
                } else {
                    ""
                };
                let message = format!(
                    "unknown column: expected hamlet (thôn), code (mã hộ), address (địa chỉ) \
                     and optionally head (chủ hộ) and members (số nhân khẩu){hint}"
                );
                problems.push(Problem::at(header.line, at, message));
            }
        }
    }
    for (needed, title) in [
        (Column::Hamlet, "hamlet (thôn)"),
        (Column::Code, "code (mã hộ)"),
        (Column::Address, "address (địa chỉ)"),
    ] {
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

/// Text of at most `max` characters on one line; empty is refused when `required`.
fn text(value: &str, what: &str, max: usize, required: bool) -> Result<Option<String>, String> {
    if value.is_empty() {
        if required {
            Err(format!("{what} is empty"))
        } else {
            Ok(None)
        }
    } else if value.chars().count() > max || value.chars().any(char::is_control) {
        Err(format!("{what}: at most {max} characters on one line"))
    } else {
        Ok(Some(value.to_owned()))
    }
}

/// Remembers the line where a household code is first seen; seeing it again names that line.
fn first_time(seen: &mut HashMap<String, usize>, code: &str, line: usize) -> Result<(), String> {
    match seen.entry(code.to_owned()) {
        Entry::Occupied(first) => Err(format!(
            "household code {code} is repeated (first on line {})",
            first.get()
        )),
        Entry::Vacant(slot) => {
            slot.insert(line);
            Ok(())
        }
    }
}

/// An optional number of members: empty, or a whole number from 0 to `MAX_MEMBERS`.
fn members(value: &str) -> Result<Option<i64>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<i64>() {
        Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) && n <= MAX_MEMBERS => Ok(Some(n)),
        _ => Err(format!(
            "\"{value}\" is not a number of members (a whole number from 0 to {MAX_MEMBERS})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_quotes_and_vietnamese_headers() {
        let text = "\u{FEFF}Mã thôn,Mã hộ,Địa chỉ,Chủ hộ,Số nhân khẩu\r\n\
                    T01,H001,\"Số 4, xóm Tây\",Nguyễn Văn A,4\r\n\
                    T01,H002,Số 5 xóm Tây,,\r\n";
        let rows = parse(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].address, "Số 4, xóm Tây");
        assert_eq!(rows[0].head_name.as_deref(), Some("Nguyễn Văn A"));
        assert_eq!(rows[0].members, Some(4));
        assert_eq!((rows[1].line, rows[1].head_name.clone()), (3, None));
        // Headers without diacritics, in English, in another order.
        let rows = parse(b"address,hamlet,code\nxom 1,T02,7\n").unwrap();
        assert_eq!(
            (rows[0].hamlet_id.as_str(), rows[0].code.as_str()),
            ("T02", "7")
        );
    }

    #[test]
    fn every_problem_is_located() {
        let text = "thon,ma ho,dia chi,so nhan khau\n\
                    T01,H1,A,2\n\
                    T01,,B,1\n\
                    T01,H1,C,x\n\
                    ,H4,,\n\
                    T01,H5,E,1,9\n";
        let problems = parse(text.as_bytes()).unwrap_err();
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "line 3, column 2 (ma ho): the household code is empty",
                "line 4, column 2 (ma ho): household code H1 is repeated (first on line 2)",
                "line 4, column 4 (so nhan khau): \"x\" is not a number of members (a whole \
                 number from 0 to 99)",
                "line 5, column 1 (thon): the hamlet code is empty",
                "line 5, column 3 (dia chi): the address is empty",
                "line 6: 5 fields, but the header has 4",
            ]
        );
    }

    #[test]
    fn headers_and_formats_are_checked() {
        let bad = |b: &[u8]| parse(b).unwrap_err()[0].to_string();
        assert!(bad(b"thon;ma ho;dia chi\n").contains("';'"));
        assert!(bad(b"thon,dia chi\nT01,A\n").contains("no code"));
        assert!(bad(b"").contains("empty"));
        assert!(bad(b"thon,ma ho,dia chi\n").contains("no household"));
        assert!(bad(b"\xD0\xCF\x11\xE0rest").contains(".xls"));
        assert!(bad(b"PK\x03\x04garbage").contains("not an xlsx"));
        assert!(bad(b"thon,ma ho,dia chi\nT01,H1,\xff\n").contains("UTF-8"));
    }

    #[test]
    fn column_letters_run_past_z() {
        let shown: Vec<String> = [0, 25, 26, 27, 51, 52, 701, 702]
            .into_iter()
            .map(column_letters)
            .collect();
        assert_eq!(shown, ["A", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
    }
}
