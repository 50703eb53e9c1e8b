//! Prometheus text exposition of the few counters an operator needs; no registry crate, since
//! a handful of atomics says it all.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values read from elsewhere when metrics are scraped.
pub struct Gauges<'a> {
    pub documents: i64,
    pub loaded: usize,
    pub peers: usize,
    /// This server's name among the servers over one database.
    pub instance: &'a str,
    /// `alone`, `listening` or `lost` (the other servers' change notices).
    pub listener: &'a str,
    /// Servers serving the database now.
    pub servers: usize,
}

#[derive(Default)]
pub struct Metrics {
    http_requests: AtomicU64,
    http_server_errors: AtomicU64,
    changes_received: AtomicU64,
    changes_stored: AtomicU64,
    catch_ups: AtomicU64,
    catch_up_changes: AtomicU64,
    compactions_skipped: AtomicU64,
    notices_sent: AtomicU64,
    notices_received: AtomicU64,
    notice_lag_ms: AtomicU64,
    listener_lost: AtomicU64,
}

impl Metrics {
    pub fn http_request(&self, status: u16) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.http_server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn changes_received(&self, n: usize) {
        self.changes_received.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn changes_stored(&self, n: usize) {
        self.changes_stored.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A copy in memory caught up with the database (another server had written), bringing `n`
    /// changes it lacked.
    pub fn caught_up(&self, n: usize) {
        self.catch_ups.fetch_add(1, Ordering::Relaxed);
        self.catch_up_changes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A compaction given up because another server wrote or compacted the document first.
    pub fn compaction_skipped(&self) {
        self.compactions_skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Other servers were told of new changes written here.
    pub fn notice_sent(&self) {
        self.notices_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Another server's notice arrived, `lag_ms` after its write.
    pub fn notice_received(&self, lag_ms: i64) {
        self.notices_received.fetch_add(1, Ordering::Relaxed);
        self.notice_lag_ms
            .fetch_add(u64::try_from(lag_ms).unwrap_or(0), Ordering::Relaxed);
    }

    /// The connection listening for the other servers' notices was lost (or went silent).
    pub fn listener_lost(&self) {
        self.listener_lost.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text; the gauges are read at scrape time.
    pub fn render(&self, gauges: &Gauges<'_>) -> String {
        let mut out = String::new();
        let (instance, listener) = (gauges.instance, gauges.listener);
        let counters = [
            (
                "sansang_http_requests_total",
                "HTTP requests answered.",
                &self.http_requests,
            ),
            (
                "sansang_http_server_errors_total",
                "HTTP requests answered with a 5xx status.",
                &self.http_server_errors,
            ),
            (
                "sansang_document_changes_received_total",
                "Automerge changes received, including ones already stored.",
                &self.changes_received,
            ),
            (
                "sansang_document_changes_stored_total",
                "Automerge changes newly written to the database.",
                &self.changes_stored,
            ),
            (
                "sansang_document_catch_ups_total",
                "Times a document in memory was behind the database (written by another server) \
                 and caught up.",
                &self.catch_ups,
            ),
            (
                "sansang_document_catch_up_changes_total",
                "Changes read from the database by catch-ups.",
                &self.catch_up_changes,
            ),
            (
                "sansang_document_compactions_skipped_total",
                "Compactions given up because another server had written or compacted the \
                 document first.",
                &self.compactions_skipped,
            ),
            (
                "sansang_notices_sent_total",
                "Writes of new changes announced to the other servers over the database.",
                &self.notices_sent,
            ),
            (
                "sansang_notices_received_total",
                "Other servers' announcements of new changes received.",
                &self.notices_received,
            ),
            (
                "sansang_notice_lag_milliseconds_total",
                "Sum over the notices received of the time from the other server's write to \
                 the notice's arrival (divide by sansang_notices_received_total).",
                &self.notice_lag_ms,
            ),
            (
                "sansang_notice_listener_lost_total",
                "Times the connection listening for the other servers' notices was lost, or \
                 went silent (its probe unheard), and was replaced.",
                &self.listener_lost,
            ),
        ];
        for (name, help, value) in counters {
            let value = value.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let gauges = [
            (
                "sansang_documents",
                "Household documents stored.",
                gauges.documents,
            ),
            (
                "sansang_documents_loaded",
                "Household documents held in memory.",
                gauges.loaded as i64,
            ),
            (
                "sansang_sync_peers",
                "Peers connected to the sync socket.",
                gauges.peers as i64,
            ),
            (
                "sansang_servers",
                "Servers serving the database (holders of a server lock), sharing the per-token \
                 sync budgets.",
                gauges.servers as i64,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP sansang_build_info Version of the running server and its instance id.\n\
             # TYPE sansang_build_info gauge\n\
             sansang_build_info{{version=\"{}\",instance=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            instance
        );
        let _ = writeln!(
            out,
            "# HELP sansang_notice_listener Whether this server hears the other servers' \
             changes: alone (SQLite), listening, or lost.\n\
             # TYPE sansang_notice_listener gauge\nsansang_notice_listener{{state=\"{}\"}} 1",
            listener
        );
        out
    }
}
