//! Summary exports for commune staff: CSV in UTF-8 with a byte-order mark (Excel opens
//! Vietnamese text right) and an Excel workbook, one sheet per level, Vietnamese headers, codes
//! as text, percentages as numbers with a percent format. Small cells come suppressed
//! ([`sansang_shared::publish`]); every text is NFC and no cell can start a formula.

use std::collections::BTreeMap;

use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};
use sansang_shared::publish::{PublishedArea, PublishedReport, Shown};
use unicode_normalization::UnicodeNormalization;

use crate::indices::Coverage;

/// The columns of the summary, in Vietnamese as the commune reports them.
pub const SUMMARY_HEADERS: [&str; 14] = [
    "Cấp",
    "Mã",
    "Tên",
    "Mã chỉ số",
    "Chỉ số",
    "Tử số",
    "Mẫu số",
    "Tỷ lệ (%)",
    "Mục tiêu (%)",
    "Còn thiếu (điểm %)",
    "Số còn cần đạt",
    "Chưa ghi nhận",
    "Mức 1 (VNeID)",
    "Số hộ đã khảo sát / dự kiến",
];

/// A cell of the summary.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    /// A count, or "<5" / "x" when not shown.
    Count(Shown),
    /// A percentage (0–100), empty when none.
    Percent(Option<f64>),
    Number(Option<u64>),
}

/// One row per area and indicator: the commune first, then its hamlets by code.
pub fn summary_rows(
    report: &PublishedReport,
    commune: (&str, &str),
    coverage: &BTreeMap<String, Coverage>,
) -> Vec<(&'static str, Vec<Cell>)> {
    let mut rows = Vec::new();
    let total: u64 = coverage.values().map(|c| c.surveyed).sum();
    let expected: Option<i64> = coverage
        .values()
        .map(|c| c.expected)
        .try_fold(0i64, |sum, e| e.map(|e| sum + e));
    let commune_coverage = coverage_text(total, expected);
    push_area(
        &mut rows,
        "Xã",
        commune.0,
        commune.1,
        &report.commune,
        &commune_coverage,
    );
    for (id, area) in &report.hamlets {
        let c = coverage.get(id);
        let name = c.map_or(id.as_str(), |c| c.name.as_str());
        let text = c.map_or_else(String::new, |c| coverage_text(c.surveyed, c.expected));
        push_area(&mut rows, "Thôn", id, name, area, &text);
    }
    rows
}

fn coverage_text(surveyed: u64, expected: Option<i64>) -> String {
    match expected {
        Some(e) => format!("{surveyed} / {e}"),
        None => surveyed.to_string(),
    }
}

fn push_area(
    rows: &mut Vec<(&'static str, Vec<Cell>)>,
    level: &'static str,
    code: &str,
    name: &str,
    area: &PublishedArea,
    coverage: &str,
) {
    for i in &area.indicators {
        rows.push((
            level,
            vec![
                Cell::Text(level.to_owned()),
                Cell::Text(code.to_owned()),
                Cell::Text(name.to_owned()),
                Cell::Text(
                    serde_json::to_value(i.key)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                ),
                Cell::Text(i.label_vi.clone()),
                Cell::Count(i.numerator),
                Cell::Count(i.denominator),
                Cell::Percent(i.percent),
                Cell::Percent(i.target),
                Cell::Percent(i.gap),
                Cell::Number(i.missing),
                Cell::Count(i.not_recorded),
                i.level1.map_or(Cell::Text(String::new()), Cell::Count),
                Cell::Text(coverage.to_owned()),
            ],
        ));
    }
}

/// Text safe for a spreadsheet: NFC, and a leading `'` where Excel or LibreOffice would read a
/// formula (`=`, `+`, `-`, `@`, or a tab or carriage return first).
pub fn safe_text(text: &str) -> String {
    let text: String = text.nfc().collect();
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn percent_text(p: Option<f64>) -> String {
    p.map(|p| format!("{:.1}", (p * 10.0).round() / 10.0))
        .unwrap_or_default()
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(t) => safe_text(t),
        Cell::Count(s) => s.text(),
        Cell::Percent(p) => percent_text(*p),
        Cell::Number(n) => n.map(|n| n.to_string()).unwrap_or_default(),
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The summary as CSV: UTF-8 with a byte-order mark, CRLF line ends, one header row.
pub fn summary_csv(rows: &[(&'static str, Vec<Cell>)]) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    out.push_str(&line(
        SUMMARY_HEADERS.iter().map(|h| (*h).to_owned()).collect(),
    ));
    for (_, cells) in rows {
        out.push_str(&line(cells.iter().map(cell_text).collect()));
    }
    out.into_bytes()
}

/// The summary as an Excel workbook: sheet "Xã" (the commune) and sheet "Thôn" (the hamlets).
pub fn summary_xlsx(rows: &[(&'static str, Vec<Cell>)]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Top);
    let percent = Format::new().set_num_format("0.0%");
    let text = Format::new().set_num_format("@");
    for level in ["Xã", "Thôn"] {
        let sheet = workbook.add_worksheet();
        sheet.set_name(level)?;
        for (c, h) in SUMMARY_HEADERS.iter().enumerate() {
            let c = u16::try_from(c).unwrap_or(u16::MAX);
            sheet.write_string_with_format(0, c, *h, &header)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        sheet.set_column_width(2, 24)?;
        sheet.set_column_width(4, 36)?;
        let rows_here = rows.iter().filter(|(l, _)| *l == level);
        for (r, (_, cells)) in (1u32..).zip(rows_here) {
            for (c, cell) in cells.iter().enumerate() {
                let c = u16::try_from(c).unwrap_or(u16::MAX);
                match cell {
                    Cell::Text(t) => {
                        sheet.write_string_with_format(r, c, safe_text(t), &text)?;
                    }
                    Cell::Count(Shown::Count(n)) => {
                        sheet.write_number(r, c, *n as f64)?;
                    }
                    Cell::Count(other) => {
                        sheet.write_string(r, c, other.text())?;
                    }
                    Cell::Percent(Some(p)) => {
                        sheet.write_number_with_format(r, c, p / 100.0, &percent)?;
                    }
                    Cell::Number(Some(n)) => {
                        sheet.write_number(r, c, *n as f64)?;
                    }
                    Cell::Percent(None) | Cell::Number(None) => {}
                }
            }
        }
    }
    workbook.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_text_is_nfc() {
        assert_eq!(safe_text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for start in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(safe_text(start).starts_with('\''), "{start}");
        }
        assert_eq!(safe_text("Thôn Đông"), "Thôn Đông");
        assert_eq!(safe_text("Tho\u{302}n"), "Thôn");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
