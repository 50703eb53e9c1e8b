//! The commune staff's dashboard: each indicator per hamlet against its target as a table and
//! as SVG bars (drawn here, no chart service), progress over time from daily snapshots, and
//! "where to go next": the hamlets with the most people still to reach. Published figures (small
//! cells suppressed) everywhere a screen may be seen by others; the ranking is ordered by the raw
//! counts but shows only the hamlets' names.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use sansang_shared::indices::{IndexReport, IndicatorKey, View};
use sansang_shared::publish::{self, PublishedIndicator, PublishedReport, Shown};
use serde::Deserialize;

use super::layout::{Lang, Staff, message_page, page_for, respond, when};
use crate::app::AppState;
use crate::audit;
use crate::indices::{self, Coverage, ProgressPoint};

/// A new snapshot at most once a day.
const SNAPSHOT_EVERY_MS: i64 = 24 * 3600 * 1000;

#[derive(Deserialize)]
pub struct DashboardQuery {
    pub view: Option<String>,
    pub commune: Option<String>,
}

fn label(lang: Lang, key: IndicatorKey) -> &'static str {
    match lang {
        Lang::Vi => key.label_vi(),
        Lang::En => key.label_en(),
    }
}

fn percent_text(p: Option<f64>) -> String {
    p.map_or_else(|| "—".to_owned(), |p| format!("{p:.1} %"))
}

/// A cell of the table: the percentage, "<5" or "x" where the counts are not shown, "—" with
/// no data.
fn shown_percent(i: &PublishedIndicator) -> String {
    match (i.numerator, i.denominator, i.percent) {
        (_, _, Some(p)) => format!("{p:.1} %"),
        (Shown::Count(_), Shown::Count(0), None) => "—".to_owned(),
        (n, d, None) if !n.is_shown() || !d.is_shown() => {
            if matches!(n, Shown::Hidden) || matches!(d, Shown::Hidden) {
                "x".to_owned()
            } else if !n.is_shown() {
                n.text()
            } else {
                d.text()
            }
        }
        _ => "—".to_owned(),
    }
}

/// Horizontal bars, one per hamlet, with the target as a line.
fn bars(
    lang: Lang,
    key: IndicatorKey,
    rows: &[(String, &PublishedIndicator)],
    target: Option<f64>,
) -> Markup {
    const LABEL: f64 = 110.0;
    const WIDTH: f64 = 320.0;
    const BAR: f64 = 18.0;
    const GAP: f64 = 6.0;
    let plot = WIDTH - LABEL - 40.0;
    let height = rows.len() as f64 * (BAR + GAP) + GAP;
    let title = format!(
        "{}: {}",
        label(lang, key),
        lang.t("tỷ lệ theo thôn", "percentage by hamlet")
    );
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (height) } width="100%" role="img" aria-label=(title) {
            title { (title) }
            @for (n, (name, i)) in rows.iter().enumerate() {
                @let y = GAP + n as f64 * (BAR + GAP);
                @let reached = i.percent.zip(target).is_some_and(|(p, t)| p >= t);
                text x="0" y=(y + BAR * 0.75) font-size="11" { (name.chars().take(16).collect::<String>()) }
                @if let Some(p) = i.percent {
                    rect x=(LABEL) y=(y) width=(plot * p / 100.0) height=(BAR)
                        fill=(if reached { "#0b5d3b" } else { "#c77800" }) {}
                }
                text x=(LABEL + plot + 4.0) y=(y + BAR * 0.75) font-size="11" { (shown_percent(i)) }
            }
            @if let Some(t) = target {
                line x1=(LABEL + plot * t / 100.0) x2=(LABEL + plot * t / 100.0) y1="0" y2=(height)
                    stroke="#1b1b1b" stroke-width="2" stroke-dasharray="4 3" {}
            }
        }
    }
}

/// The commune's percentage of each targeted indicator over the snapshots.
fn progress_chart(lang: Lang, points: &[ProgressPoint], keys: &[IndicatorKey]) -> Markup {
    const WIDTH: f64 = 320.0;
    const HEIGHT: f64 = 140.0;
    const PAD: f64 = 24.0;
    let colours = [
        "#0b5d3b", "#0b5394", "#c77800", "#7a0010", "#5c3b00", "#4a4a4a", "#00796b", "#6a1b9a",
    ];
    let first = points.first().map_or(0, |p| p.taken_at);
    let last = points.last().map_or(1, |p| p.taken_at).max(first + 1);
    let x = |at: i64| PAD + (WIDTH - 2.0 * PAD) * (at - first) as f64 / (last - first) as f64;
    let y = |p: f64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * p / 100.0;
    let title = lang.t(
        "Tiến độ của xã theo thời gian",
        "The commune's progress over time",
    );
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } width="100%" role="img" aria-label=(title) {
            title { (title) }
            line x1=(PAD) x2=(WIDTH - PAD) y1=(y(0.0)) y2=(y(0.0)) stroke="#767676" {}
            line x1=(PAD) x2=(WIDTH - PAD) y1=(y(100.0)) y2=(y(100.0)) stroke="#d7d9d3" {}
            text x="0" y=(y(100.0) + 4.0) font-size="10" { "100%" }
            text x="0" y=(y(0.0) + 4.0) font-size="10" { "0%" }
            @for (k, key) in keys.iter().enumerate() {
                @let colour = colours[k % colours.len()];
                @let coords: Vec<(f64, f64)> = points.iter().filter_map(|p| {
                    p.percent.get(key.as_str()).copied().flatten().map(|v| (x(p.taken_at), y(v)))
                }).collect();
                @if coords.len() > 1 {
                    polyline fill="none" stroke=(colour) stroke-width="2"
                        points=(coords.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect::<Vec<_>>().join(" ")) {}
                }
                @for (a, b) in &coords {
                    circle cx=(format!("{a:.1}")) cy=(format!("{b:.1}")) r="3" fill=(colour) {}
                }
            }
        }
        ul.legend {
            @for (k, key) in keys.iter().enumerate() {
                li {
                    svg.swatch width="12" height="12" aria-hidden="true" { rect width="12" height="12" fill=(colours[k % colours.len()]) {} }
                    " " (label(lang, *key))
                }
            }
        }
    }
}

/// Hamlets ranked by the people (households, ambassadors) still needed for each target, the
/// three with the most first.
fn ranking(
    raw: &IndexReport,
    names: &dyn Fn(&str) -> String,
) -> Vec<(IndicatorKey, Vec<(String, u64)>)> {
    IndicatorKey::ALL
        .into_iter()
        .filter_map(|key| {
            let mut ranked: Vec<(String, u64)> = raw
                .hamlets
                .iter()
                .filter_map(|(id, area)| {
                    area.indicator(key)
                        .and_then(|i| i.missing)
                        .filter(|m| *m > 0)
                        .map(|m| (names(id), m))
                })
                .collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.truncate(3);
            (!ranked.is_empty()).then_some((key, ranked))
        })
        .collect()
}

fn next_steps(lang: Lang, ranked: &[(IndicatorKey, Vec<(String, u64)>)]) -> Markup {
    html! {
        ul {
            @for (key, hamlets) in ranked {
                li {
                    strong { (label(lang, *key)) ": " }
                    // Names only: the counts behind the order may be small cells.
                    (hamlets.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", "))
                }
            }
        }
    }
}

/// `GET /dashboard[?view=all-surveyed]`
pub async fn page_handler(
    State(state): State<AppState>,
    staff: Staff,
    Query(q): Query<DashboardQuery>,
) -> Response {
    let lang = staff.lang;
    let view = match q.view.as_deref() {
        Some("all-surveyed") => View::AllSurveyed,
        _ => View::Approved,
    };
    let commune = match (staff.user.commune_code.clone(), q.commune.clone()) {
        (Some(own), _) => own,
        (None, Some(asked)) => asked,
        (None, None) => {
            return message_page(
                lang,
                StatusCode::BAD_REQUEST,
                lang.t(
                    "Hãy chọn xã (?commune=…).",
                    "Name the commune (?commune=…).",
                ),
            );
        }
    };
    let year = crate::reference_year();
    let storage = state.storage.as_ref();
    let loaded = async {
        let info = storage.get_commune(&commune).await?;
        let c = indices::compute(storage, &commune, None, view, year).await?;
        let points = indices::progress(storage, &commune, &c.report, SNAPSHOT_EVERY_MS).await?;
        Ok::<_, crate::storage::StorageError>((info, c, points))
    }
    .await;
    let (info, c, points) = match loaded {
        Ok((Some(info), c, points)) => (info, c, points),
        Ok((None, ..)) => {
            return message_page(
                lang,
                StatusCode::NOT_FOUND,
                lang.t("Không tìm thấy xã.", "Commune not found."),
            );
        }
        Err(e) => return message_page(lang, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    if let Err(e) = audit::record(
        &state,
        &staff.caller,
        "dashboard.read",
        None,
        Some(format!("commune {commune}")),
    )
    .await
    {
        return message_page(lang, e.status, &e.message);
    }
    let published: PublishedReport =
        publish::publish(&c.report, state.config.suppression_threshold);
    let name_of = |id: &str| -> String {
        c.coverage
            .get(id)
            .map_or_else(|| id.to_owned(), |cov: &Coverage| cov.name.clone())
    };
    let targeted: Vec<IndicatorKey> = IndicatorKey::ALL
        .into_iter()
        .filter(|k| c.targets.get(*k).is_some())
        .collect();
    let title = format!(
        "{} · {}",
        lang.t("Mức độ sẵn sàng số", "Digital readiness"),
        info.name
    );
    let here = match view {
        View::Approved => "/dashboard".to_owned(),
        View::AllSurveyed => "/dashboard?view=all-surveyed".to_owned(),
    };
    let body = html! {
        h1 { (title) }
        p.meta { (lang.t("Năm", "Year")) " " (year) " · " (lang.t("cập nhật", "as of")) " " (when(crate::now_millis())) }
        nav aria-label=(lang.t("Cách tính", "View")) {
            ul.tabs {
                li { a href="/dashboard" aria-current=[(view == View::Approved).then_some("page")] { (lang.t("Chỉ hộ đã duyệt", "Approved households")) } }
                li { a href="/dashboard?view=all-surveyed" aria-current=[(view == View::AllSurveyed).then_some("page")] { (lang.t("Tất cả hộ đã khảo sát", "Every surveyed household")) } }
            }
        }
        p {
            a.button href={ "/api/v1/exports/summary.xlsx" @if view == View::AllSurveyed { "?view=all-surveyed" } } { (lang.t("Tải tổng hợp (Excel)", "Download the summary (Excel)")) }
            " "
            a href={ "/api/v1/exports/summary.csv" @if view == View::AllSurveyed { "?view=all-surveyed" } } { "CSV" }
            " · "
            a href="/api/v1/exports/households.xlsx" { (lang.t("Danh sách hộ chi tiết", "Household detail")) }
        }
        section id="next" {
            h2 { (lang.t("Cần ưu tiên", "Where to go next")) }
            p.meta { (lang.t("Các thôn còn nhiều người nhất chưa đạt mục tiêu, xếp trước.", "The hamlets with the most people still to reach, first.")) }
            @let ranked = ranking(&c.report, &name_of);
            @if ranked.is_empty() {
                p { (lang.t("Chưa có số liệu hoặc mọi thôn đã đạt mục tiêu.", "No data yet, or every hamlet has reached its targets.")) }
            } @else {
                (next_steps(lang, &ranked))
            }
        }
        @if !c.not_visited.is_empty() {
            section id="not-visited" {
                h2 { (lang.t("Chưa đến", "Not visited yet")) }
                p.meta { (lang.t("Các thôn còn nhiều hộ trong danh sách của xã chưa được khảo sát nhất, xếp trước.", "The hamlets with the most listed households not surveyed yet, first.")) }
                ul {
                    @for n in &c.not_visited {
                        li { strong { (n.name) } ": " (n.not_visited) " " (lang.t("hộ chưa khảo sát", "households not surveyed")) }
                    }
                }
            }
        }
        section id="table" {
            h2 { (lang.t("Theo thôn", "By hamlet")) }
            // Wider than a phone: it scrolls sideways, and the keyboard can scroll it too.
            div.scroll tabindex="0" role="region" aria-label=(lang.t("Bảng chỉ số theo thôn", "Indicators by hamlet")) {
                table.history {
                    thead {
                        tr {
                            th scope="col" { (lang.t("Thôn", "Hamlet")) }
                            th scope="col" { (lang.t("Đã khảo sát", "Surveyed")) }
                            @for key in IndicatorKey::ALL { th scope="col" { (label(lang, key)) } }
                        }
                    }
                    tbody {
                        @for (id, area) in &published.hamlets {
                            tr {
                                th scope="row" { (name_of(id)) }
                                td {
                                    @let cov = c.coverage.get(id);
                                    @match cov.and_then(|cov| cov.listed) {
                                        Some(n) => { (cov.map_or(0, |cov| cov.listed_visited)) " / " (n) " " (lang.t("hộ trong danh sách", "listed")) }
                                        None => { (area.households_total.text()) @if let Some(e) = cov.and_then(|cov| cov.expected) { " / " (e) } }
                                    }
                                    @if let Some(d) = cov.map(|cov| cov.possible_duplicates).filter(|d| *d > 0) {
                                        br; small.possible-duplicates { (d) " " (lang.t("hộ có thể trùng cần xem", "possible duplicates to check")) }
                                    }
                                }
                                @for i in &area.indicators { td { (shown_percent(i)) } }
                            }
                        }
                        tr.total {
                            th scope="row" { (lang.t("Cả xã", "Commune")) }
                            td { (published.commune.households_total.text()) }
                            @for i in &published.commune.indicators { td { (shown_percent(i)) } }
                        }
                        tr {
                            th scope="row" { (lang.t("Mục tiêu", "Target")) }
                            td {}
                            @for key in IndicatorKey::ALL { td { (percent_text(c.targets.get(key))) } }
                        }
                    }
                }
            }
        }
        section id="charts" {
            h2 { (lang.t("Biểu đồ", "Charts")) }
            @for key in IndicatorKey::ALL {
                @let rows: Vec<(String, &PublishedIndicator)> = published.hamlets.iter()
                    .filter_map(|(id, a)| a.indicators.iter().find(|i| i.key == key).map(|i| (name_of(id), i)))
                    .collect();
                @let commune_i = published.commune.indicators.iter().find(|i| i.key == key);
                div.card {
                    h3 { (label(lang, key)) }
                    p.meta {
                        (lang.t("Cả xã", "Commune")) ": " (commune_i.map_or_else(|| "—".to_owned(), shown_percent))
                        " · " (lang.t("mục tiêu", "target")) " " (percent_text(c.targets.get(key)))
                    }
                    (bars(lang, key, &rows, c.targets.get(key)))
                }
            }
        }
        section id="progress" {
            h2 { (lang.t("Tiến độ", "Progress")) }
            @if points.len() < 2 {
                p.meta { (lang.t("Mỗi ngày một điểm; đường tiến độ hiện ra từ ngày thứ hai.", "One point a day; the lines appear from the second day.")) }
            }
            (progress_chart(lang, &points, &targeted))
        }
    };
    respond(
        StatusCode::OK,
        page_for(lang, &title, &here, Some(&staff.csrf), body),
    )
}
