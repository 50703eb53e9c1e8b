//! Summary exports for commune staff: CSV in UTF-8 with a byte-order mark (Excel opens
//! Vietnamese text right) and an Excel workbook, one sheet per level, Vietnamese headers, codes
//! as text, percentages as numbers with a percent format. Small cells come suppressed
//! ([`sansang_shared::publish`]); every text is NFC and no cell can start a formula.

use std::collections::BTreeMap;

use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};
use sansang_shared::publish::{PublishedArea, PublishedReport, Shown};
use unicode_normalization::UnicodeNormalization;

use crate::indices::PublishedCoverage;

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

/// One row per area and indicator: the commune first, then its hamlets by code. Coverage
/// shows the published (suppressed) surveyed counts.
pub fn summary_rows(
    report: &PublishedReport,
    commune: (&str, &str),
    coverage: &BTreeMap<String, PublishedCoverage>,
) -> Vec<(&'static str, Vec<Cell>)> {
    let mut rows = Vec::new();
    let expected: Option<i64> = coverage
        .values()
        .map(|c| c.expected)
        .try_fold(0i64, |sum, e| e.map(|e| sum + e));
    let commune_coverage = coverage_text(report.commune.households_total, expected);
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
        let text = coverage_text(area.households_total, c.and_then(|c| c.expected));
        push_area(&mut rows, "Thôn", id, name, area, &text);
    }
    rows
}

fn coverage_text(surveyed: Shown, expected: Option<i64>) -> String {
    match expected {
        Some(e) => format!("{} / {e}", surveyed.text()),
        None => surveyed.text(),
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
                Cell::Text(i.key.as_str().to_owned()),
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

/// Rows as CSV: UTF-8 with a byte-order mark, CRLF line ends, one header row.
pub fn csv<'a>(headers: &[&str], rows: impl IntoIterator<Item = &'a Vec<Cell>>) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    out.push_str(&line(headers.iter().map(|h| (*h).to_owned()).collect()));
    for cells in rows {
        out.push_str(&line(cells.iter().map(cell_text).collect()));
    }
    out.into_bytes()
}

/// The summary as CSV.
pub fn summary_csv(rows: &[(&'static str, Vec<Cell>)]) -> Vec<u8> {
    csv(&SUMMARY_HEADERS, rows.iter().map(|(_, cells)| cells))
}

/// One sheet of a workbook: its name, headers, column widths (in characters) and rows.
pub struct Sheet<'a> {
    pub name: &'a str,
    pub headers: &'a [&'a str],
    pub widths: &'a [(u16, f64)],
    pub rows: Vec<&'a Vec<Cell>>,
}

/// Sheets as an Excel workbook: bold wrapped headers, the header row frozen, text cells typed
/// as text (codes keep their leading zeros), counts as numbers, percentages as fractions with a
/// percent format.
pub fn xlsx(sheets: &[Sheet<'_>]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Top);
    let percent = Format::new().set_num_format("0.0%");
    let text = Format::new().set_num_format("@");
    for s in sheets {
        let sheet = workbook.add_worksheet();
        sheet.set_name(s.name)?;
        for (c, h) in (0u16..).zip(s.headers) {
            sheet.write_string_with_format(0, c, *h, &header)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        for (c, w) in s.widths {
            sheet.set_column_width(*c, *w)?;
        }
        for (r, cells) in (1u32..).zip(&s.rows) {
            for (c, cell) in (0u16..).zip(cells.iter()) {
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

/// The summary as an Excel workbook: sheet "Xã" (the commune) and sheet "Thôn" (the hamlets).
pub fn summary_xlsx(rows: &[(&'static str, Vec<Cell>)]) -> Result<Vec<u8>, XlsxError> {
    let sheets: Vec<Sheet<'_>> = ["Xã", "Thôn"]
        .into_iter()
        .map(|level| Sheet {
            name: level,
            headers: &SUMMARY_HEADERS,
            widths: &[(2, 24.0), (4, 36.0)],
            rows: rows
                .iter()
                .filter(|(l, _)| *l == level)
                .map(|(_, cells)| cells)
                .collect(),
        })
        .collect();
    xlsx(&sheets)
}

/// The household detail as a workbook: one sheet, "Hộ gia đình".
pub fn households_xlsx(rows: &[Vec<Cell>]) -> Result<Vec<u8>, XlsxError> {
    xlsx(&[Sheet {
        name: "Hộ gia đình",
        headers: &HOUSEHOLD_HEADERS,
        widths: &[(1, 18.0), (3, 28.0), (8, 24.0)],
        rows: rows.iter().collect(),
    }])
}

/// The columns of the household detail: one row per member (or one per household without
/// members), in Vietnamese.
pub const HOUSEHOLD_HEADERS: [&str; 27] = [
    "Mã thôn",
    "Tên thôn",
    "Mã hộ",
    "Địa chỉ",
    "Trạng thái duyệt",
    "Đồng ý cung cấp thông tin",
    "Cập nhật",
    "Mã thành viên",
    "Họ và tên",
    "Năm sinh",
    "Tuổi",
    "Giới tính",
    "Quan hệ với chủ hộ",
    "Điện thoại thông minh",
    "Tài khoản VNeID",
    "Tài khoản thanh toán",
    "Thanh toán trên điện thoại",
    "Dịch vụ công trực tuyến",
    "Mua sắm trực tuyến",
    "Thanh toán trực tuyến",
    "Tự bảo vệ trên môi trường mạng",
    "Nền tảng số khác",
    "Đủ 5 kỹ năng",
    "Đã xác nhận trên VNeID",
    "Muốn học kỹ năng số",
    "Đại sứ số hướng dẫn",
    "Mã hộ theo danh sách của xã",
];

/// One household for the detail export.
pub struct HouseholdLine<'a> {
    pub hamlet_id: &'a str,
    pub hamlet_name: &'a str,
    pub document_id: &'a str,
    pub review_state: &'a str,
    pub updated_at: Option<i64>,
    pub household: &'a sansang_shared::Household,
}

fn yes_no(b: Option<bool>) -> Cell {
    Cell::Text(match b {
        Some(true) => "Có".to_owned(),
        Some(false) => "Không".to_owned(),
        None => String::new(),
    })
}

fn text(t: Option<&str>) -> Cell {
    Cell::Text(t.unwrap_or_default().to_owned())
}

/// dd/mm/yyyy in Vietnam, as clerks write dates.
pub fn date_vn(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| {
            let t = t.to_offset(crate::VIETNAM);
            format!("{:02}/{:02}/{}", t.day(), u8::from(t.month()), t.year())
        })
        .unwrap_or_default()
}

/// The detail rows. Households without consent give their hamlet, address and review state
/// only, even if a phone recorded more.
pub fn household_rows(lines: &[HouseholdLine<'_>], reference_year: i64) -> Vec<Vec<Cell>> {
    use sansang_shared::model::SKILL_KEYS;
    let mut rows = Vec::new();
    for l in lines {
        let h = l.household;
        let consent = h.consent_given();
        let head = |rows: &mut Vec<Vec<Cell>>, member: Vec<Cell>| {
            let mut row = vec![
                Cell::Text(l.hamlet_id.to_owned()),
                Cell::Text(l.hamlet_name.to_owned()),
                Cell::Text(l.document_id.to_owned()),
                text(h.address.as_deref()),
                Cell::Text(l.review_state.to_owned()),
                yes_no(Some(consent)),
                Cell::Text(l.updated_at.map(date_vn).unwrap_or_default()),
            ];
            row.extend(member);
            row.resize(HOUSEHOLD_HEADERS.len() - 1, Cell::Text(String::new()));
            // The commune's own code, for matching the export with its household list.
            row.push(text(h.roster_code.as_deref()));
            rows.push(row);
        };
        if !consent || h.members.is_empty() {
            head(&mut rows, Vec::new());
            continue;
        }
        for (id, m) in &h.members {
            let skills = m.skills.as_ref().map(|s| s.values());
            let skill = |i: usize| yes_no(skills.and_then(|v| v[i]));
            let age = m.age(reference_year);
            let mut cells = vec![
                Cell::Text(id.clone()),
                text(m.full_name.as_deref()),
                Cell::Number(m.birth_year.and_then(|y| u64::try_from(y).ok())),
                Cell::Number(age.and_then(|a| u64::try_from(a).ok())),
                text(m.sex.map(|v| v.label_vi())),
                text(m.relation.map(|v| v.label_vi())),
                text(m.smartphone.map(|v| v.label_vi())),
                text(m.vneid.map(|v| v.label_vi())),
                text(m.payment_account.map(|v| v.label_vi())),
                yes_no(m.payment_on_phone),
            ];
            cells.extend((0..SKILL_KEYS.len()).map(skill));
            cells.extend([
                yes_no((!m.skills_incomplete() || m.has_all_skills()).then(|| m.has_all_skills())),
                yes_no(m.vneid_course_confirmed),
                yes_no(m.wants_to_learn),
                text(m.mentor_id.as_deref()),
            ]);
            head(&mut rows, cells);
        }
    }
    rows
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
