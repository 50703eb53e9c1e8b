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

/// Where each server notifies itself to learn that its listener still hears.
const PROBE: &str = "sansang_probe";

/// What a listener's reader task hands over: each `try_recv` as it came.
type Received = std::result::Result<Option<sqlx::postgres::PgNotification>, sqlx::Error>;

/// Connects a listener to `url` and hands what other servers announce to the returned
/// receiver, reconnecting (with `Lost`, then `Listening` again) for as long as it is kept.
/// Every `probe` the server notifies itself through `pool` (another connection); a listener
/// that has not heard the probe by the next one is dead without having said so (a connection
/// cut by a NAT or a firewall, a database host gone) and is replaced.
pub(super) async fn listen(
    url: &str,
    instance: &str,
    pool: sqlx::AnyPool,
    probe: Duration,
) -> Result<mpsc::Receiver<Notice>> {
    let listener = connect(url)
        .await
        .map_err(query_err("listening for the other servers' changes"))?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let url = url.to_owned();
    let instance = instance.to_owned();
    tokio::spawn(async move {
        if tx.send(Notice::Listening).await.is_ok() {
            run(listener, &url, &instance, &pool, probe, &tx).await;
        }
    });
    Ok(rx)
}

async fn connect(url: &str) -> std::result::Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen_all([CHANNEL, EPHEMERAL, PROBE]).await?;
    Ok(listener)
}

/// A listener read in a task of its own, so that giving up on it (a probe not heard) never
/// cancels a read half-way: the task, and the connection with it, goes whole when this is
/// dropped. The task ends by itself after handing over an error.
struct Reader {
    task: tokio::task::JoinHandle<()>,
    received: mpsc::Receiver<Received>,
}

impl Reader {
    fn start(mut listener: PgListener) -> Reader {
        let (tx, received) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let item = listener.try_recv().await;
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Reader { task, received }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    listener: PgListener,
    url: &str,
    instance: &str,
    pool: &sqlx::AnyPool,
    probe: Duration,
    tx: &mpsc::Sender<Notice>,
) {
    let mut reader = Reader::start(listener);
    let mut probes = tokio::time::interval(probe);
    probes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The probe sent and not heard yet, and whether anything at all came since it was sent
    // (a listener busy with a backlog of notices is alive, its probe is only behind them).
    let mut waiting: Option<(String, bool)> = None;
    let mut sent: u64 = 0;
    loop {
        // Ends as soon as the server lets go of the receiver, closing the connection.
        let item = tokio::select! {
            () = tx.closed() => return,
            _ = probes.tick() => {
                if let Some((unheard, false)) = &waiting {
                    tracing::warn!(probe = %unheard, "the change listener heard nothing since its \
                        probe: taking its connection as dead");
                    None
                } else if let Some((_, heard)) = &mut waiting {
                    *heard = false;
                    continue;
                } else {
                    sent += 1;
                    let payload = format!("{instance} {sent}");
                    // A database that does not answer at all is not the listener's fault: no
                    // probe is waited for then, and the next tick tries again.
                    let sending = send(pool, PROBE, &payload, "probing the change listener");
                    match tokio::time::timeout(probe, sending).await {
                        Ok(Ok(())) => waiting = Some((payload, false)),
                        Ok(Err(e)) => tracing::warn!(error = %e, "cannot probe the change listener"),
                        Err(_) => tracing::warn!("probing the change listener timed out"),
                    }
                    continue;
                }
            }
            // `None`: the reader ended after handing over its error.
            item = reader.received.recv() => item,
        };
        let notice = match item {
            Some(Ok(Some(notification))) => {
                let payload = notification.payload();
                if let Some((_, heard)) = &mut waiting {
                    *heard = true;
                }
                let notice = match notification.channel() {
                    EPHEMERAL => parse_ephemeral(payload, instance),
                    PROBE => {
                        if waiting.as_ref().is_some_and(|(p, _)| p == payload) {
                            waiting = None;
                        }
                        None
                    }
                    _ => parse(payload, instance),
                };
                match notice {
                    Some(notice) => notice,
                    None => continue,
                }
            }
            // Lost and connected again (sqlx listens again before it returns): whatever was
            // announced in between was missed.
            Some(Ok(None)) => {
                tracing::warn!("the change listener lost its connection; connected again");
                waiting = None;
                if tx.send(Notice::Lost).await.is_err() {
                    return;
                }
                Notice::Listening
            }
            // An error, or a probe not heard: a new connection.
            lost => {
                if let Some(Err(e)) = lost {
                    tracing::warn!(error = %e, "the change listener lost its connection");
                }
                // The dead connection closed now, not once a new one is found.
                reader.task.abort();
                waiting = None;
                if tx.send(Notice::Lost).await.is_err() {
                    return;
                }
                let listener = tokio::select! {
                    () = tx.closed() => return,
                    listener = reconnect(url) => listener,
                };
                reader = Reader::start(listener);
                probes.reset();
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
