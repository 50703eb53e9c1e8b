//! Prometheus text exposition of the few counters an operator needs; no registry crate, since
//! a handful of atomics says it all.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values read from elsewhere when metrics are scraped.
pub struct Gauges {
    pub documents: i64,
    pub loaded: usize,
    pub peers: usize,
}

#[derive(Default)]
pub struct Metrics {
    http_requests: AtomicU64,
    http_server_errors: AtomicU64,
    changes_received: AtomicU64,
    changes_stored: AtomicU64,
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

    /// The exposition text; the gauges are read at scrape time.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
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
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP sansang_build_info Version of the running server.\n\
             # TYPE sansang_build_info gauge\nsansang_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}
