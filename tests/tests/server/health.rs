//! `/healthz` and `/metrics` answer from the real server.

use sansang_server::documents::DocumentId;
use sansang_tests::app::TestApp;
use sansang_tests::db::TestDb;

use crate::documents::household_changes;

pub async fn health_and_metrics_answer(db: &TestDb) {
    let app = TestApp::spawn(db).await;
    let index = app.get("/").await;
    assert_eq!(index.status(), 200);
    assert!(index.text().await.unwrap().contains("Sẵn sàng số"));
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["x-content-type-options"], "nosniff");
    // `same-origin`: forms keep their Origin header (the CSRF check), other sites learn nothing.
    assert_eq!(health.headers()["referrer-policy"], "same-origin");
    // An API answer, even a refusal, is never cached.
    let refused = app.get("/api/v1/households").await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["cache-control"], "no-store");
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], db.backend.name());

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    assert!(text.contains("\nsansang_documents 0\n"), "{text}");

    let (changes, _) = household_changes("T01");
    let n = changes.len();
    app.state
        .documents
        .apply_changes(&DocumentId::random(), changes)
        .await
        .unwrap();
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("\nsansang_documents 1\n"), "{text}");
    assert!(
        text.contains(&format!("\nsansang_document_changes_stored_total {n}\n")),
        "{text}"
    );
    // /, /healthz, the refused /api/v1/households and the first /metrics were counted; this
    // one is counted once answered.
    assert!(text.contains("\nsansang_http_requests_total 4\n"), "{text}");
    app.stop().await;
}
