//! Change notices between servers over one PostgreSQL database: `NOTIFY` inside each write that
//! stores new changes, and one `LISTEN`ing connection per server.
//!
//! The payload is `<instance> <millis> <document id>`: the writer (whose own notices its
//! listener skips), when it wrote (for the lag), and the document. PostgreSQL delivers a notice
//! only when its transaction commits, and folds identical notices of one transaction into one.

use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;

use super::{now_millis, query_err};
use crate::storage::{Millis, Notice, Result};

const CHANNEL: &str = "sansang_changes";

/// Ephemeral messages (presence, cursors) of phones, for the phones on the other servers.
const EPHEMERAL: &str = "sansang_ephemeral";

/// The largest ephemeral message relayed to other servers (wire bytes; hex doubles them, and a
/// notice holds 8,000 bytes at most). Presence messages are tens of bytes.
pub(super) const MAX_EPHEMERAL_BYTES: usize = 3_900;

/// Notices waiting for the server to take them; past that the listener waits (PostgreSQL
/// queues them meanwhile, up to its own 8 GB queue).
const QUEUE: usize = 4096;

/// Tells the other servers, once this transaction commits, that `document_id` changed, when
/// there are other servers (`instance` is this one's name on PostgreSQL, see
/// [`super::SqlStorage::notifier`]); whether it was sent.
pub(super) async fn notify(
    tx: &mut AnyConnection,
    instance: Option<&str>,
    document_id: &str,
    now: Millis,
) -> Result<bool> {
    let Some(instance) = instance else {
        return Ok(false);
    };
    let payload = format!("{instance} {now} {document_id}");
    send(
        &mut *tx,
        CHANNEL,
        &payload,
        "announcing the change to the other servers",
    )
    .await?;
    Ok(true)
}

/// Hands an ephemeral message (as the wire encodes it) to the phones on the other servers.
pub(super) async fn announce_ephemeral(
    pool: &sqlx::AnyPool,
    instance: &str,
    message: &[u8],
) -> Result<()> {
    if message.len() > MAX_EPHEMERAL_BYTES {
        return Ok(());
    }
    let payload = format!("{instance} {}", hex::encode(message));
    send(
        pool,
        EPHEMERAL,
        &payload,
        "relaying an ephemeral message to the other servers",
    )
    .await
}

/// `NOTIFY channel, payload` through `executor` (a transaction's connection or the pool).
async fn send<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    channel: &str,
    payload: &str,
    context: &'static str,
) -> Result<()> {
    // pg_notify returns void, which sqlx's Any driver does not decode: a boolean instead.
    sqlx::query("select pg_notify($1, $2) is not null as sent")
        .bind(channel)
        .bind(payload)
        .fetch_one(executor)
        .await
        .map_err(query_err(context))?;
    Ok(())
}

/// Connects a listener to `url` and hands what other servers announce to the returned
/// receiver, reconnecting (with `Lost`, then `Listening` again) for as long as it is kept.
pub(super) async fn listen(url: &str, instance: &str) -> Result<mpsc::Receiver<Notice>> {
    let listener = connect(url)
        .await
        .map_err(query_err("listening for the other servers' changes"))?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let url = url.to_owned();
    let instance = instance.to_owned();
    tokio::spawn(async move {
        if tx.send(Notice::Listening).await.is_ok() {
            run(listener, &url, &instance, &tx).await;
        }
    });
    Ok(rx)
}

async fn connect(url: &str) -> std::result::Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen_all([CHANNEL, EPHEMERAL]).await?;
    Ok(listener)
}

async fn run(mut listener: PgListener, url: &str, instance: &str, tx: &mpsc::Sender<Notice>) {
    loop {
        // Ends as soon as the server lets go of the receiver, closing the connection.
        let received = tokio::select! {
            () = tx.closed() => return,
            received = listener.try_recv() => received,
        };
        let notice = match received {
            Ok(Some(notification)) => {
                let payload = notification.payload();
                let notice = if notification.channel() == EPHEMERAL {
                    parse_ephemeral(payload, instance)
                } else {
                    parse(payload, instance)
                };
                match notice {
                    Some(notice) => notice,
                    None => continue,
                }
            }
            // Lost and connected again (sqlx listens again before it returns): whatever was
            // announced in between was missed.
            Ok(None) => {
                tracing::warn!("the change listener lost its connection; connected again");
                if tx.send(Notice::Lost).await.is_err() {
                    return;
                }
                Notice::Listening
            }
            Err(e) => {
                tracing::warn!(error = %e, "the change listener lost its connection");
                if tx.send(Notice::Lost).await.is_err() {
                    return;
                }
                listener = tokio::select! {
                    () = tx.closed() => return,
                    listener = reconnect(url) => listener,
                };
                Notice::Listening
            }
        };
        if tx.send(notice).await.is_err() {
            return;
        }
    }
}

/// A listener again, trying every second (up to every 30) until the database answers.
async fn reconnect(url: &str) -> PgListener {
    let mut wait = Duration::from_secs(1);
    loop {
        tokio::time::sleep(wait).await;
        match connect(url).await {
            Ok(listener) => {
                tracing::info!("the change listener is listening again");
                return listener;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the change listener cannot connect yet");
                wait = (wait * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// The notice in `payload`, unless this server sent it (or it is not one of ours).
fn parse(payload: &str, instance: &str) -> Option<Notice> {
    let mut parts = payload.splitn(3, ' ');
    let (from, at, document_id) = (parts.next()?, parts.next()?, parts.next()?);
    if from == instance || document_id.is_empty() {
        return None;
    }
    let at: Millis = at.parse().ok()?;
    Some(Notice::Changed {
        document_id: document_id.to_owned(),
        lag_ms: (now_millis() - at).max(0),
    })
}

/// The ephemeral message in `payload`, unless this server sent it.
fn parse_ephemeral(payload: &str, instance: &str) -> Option<Notice> {
    let (from, message) = payload.split_once(' ')?;
    if from == instance {
        return None;
    }
    Some(Notice::Ephemeral {
        message: hex::decode(message).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_of_others_are_read_and_our_own_skipped() {
        let now = now_millis();
        let Some(Notice::Changed {
            document_id,
            lag_ms,
        }) = parse(&format!("other {now} 2Xab"), "mine")
        else {
            panic!("not read");
        };
        assert_eq!(document_id, "2Xab");
        assert!(lag_ms >= 0);
        assert_eq!(parse(&format!("mine {now} 2Xab"), "mine"), None);
        assert_eq!(parse("garbage", "mine"), None);
        assert_eq!(parse("other soon 2Xab", "mine"), None);
        assert_eq!(
            parse_ephemeral("other a0ff", "mine"),
            Some(Notice::Ephemeral {
                message: vec![0xa0, 0xff]
            })
        );
        assert_eq!(parse_ephemeral("mine a0ff", "mine"), None);
        assert_eq!(parse_ephemeral("other zz", "mine"), None);
    }
}
