//! Load on `POST /api/events` from this process: bodies of one or more NDJSON lines read from
//! the events file as they are sent (the memory stays constant), each worker on its own
//! HTTP/1.1 keep-alive connection with one request in flight.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::sync::{Mutex, mpsc};

/// How to load the server.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `127.0.0.1:PORT`.
    pub address: String,
    pub token: String,
    /// Events per request.
    pub per_request: usize,
    /// Requests in flight (one connection each).
    pub connections: usize,
    /// Send at most this many events (the first lines of the file).
    pub limit: Option<u64>,
    /// Send at most this many requests a second, evenly spaced (`None`: as fast as answered).
    pub pace: Option<f64>,
}

/// What the server answered, added up.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct Summary {
    pub accepted: u64,
    pub duplicates: u64,
    pub held: u64,
    pub rejected: u64,
}

/// What a load did.
#[derive(Debug, Default)]
pub struct Load {
    pub requests: u64,
    pub events: u64,
    pub failures: u64,
    pub first_failure: Option<String>,
    pub wall: Duration,
    /// Of every request that got an answer, sorted.
    pub latencies: Vec<Duration>,
    pub summary: Summary,
}

/// One request's body and how many events it carries.
type Body = (Bytes, u64);

/// Sends the events of `events` to the server as `plan` says.
pub async fn run(events: &Path, plan: &Plan) -> anyhow::Result<Load> {
    let (send, receive) = mpsc::channel::<Body>(plan.connections * 2);
    let path = events.to_owned();
    let (per_request, limit, pace) = (plan.per_request.max(1), plan.limit, plan.pace);
    let reader =
        tokio::task::spawn_blocking(move || read_bodies(&path, per_request, limit, pace, send));
    let receive = Arc::new(Mutex::new(receive));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..plan.connections.max(1) {
        let receive = Arc::clone(&receive);
        let plan = plan.clone();
        workers.push(tokio::spawn(async move { work(&plan, &receive).await }));
    }
    let mut load = Load::default();
    for worker in workers {
        let done = worker.await.context("a load worker panicked")??;
        load.requests += done.requests;
        load.events += done.events;
        load.failures += done.failures;
        if load.first_failure.is_none() {
            load.first_failure = done.first_failure;
        }
        load.latencies.extend(done.latencies);
        load.summary.accepted += done.summary.accepted;
        load.summary.duplicates += done.summary.duplicates;
        load.summary.held += done.summary.held;
        load.summary.rejected += done.summary.rejected;
    }
    load.wall = started.elapsed();
    reader.await.context("the reader panicked")??;
    load.latencies.sort_unstable();
    Ok(load)
}

/// Reads the file into bodies of `per_request` lines (the last may be shorter), handed out at
/// `pace` bodies a second when given.
fn read_bodies(
    path: &Path,
    per_request: usize,
    limit: Option<u64>,
    pace: Option<f64>,
    send: mpsc::Sender<Body>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut bodies = 0u64;
    let mut wait_turn = || {
        if let Some(rate) = pace.filter(|r| *r > 0.0) {
            let due = started + Duration::from_secs_f64(bodies as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        bodies += 1;
    };
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut body = Vec::new();
    let mut in_body = 0u64;
    let mut sent = 0u64;
    let mut line = Vec::new();
    loop {
        if limit.is_some_and(|limit| sent + in_body >= limit) {
            break;
        }
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        body.extend_from_slice(&line);
        in_body += 1;
        if in_body == per_request as u64 {
            let full = std::mem::take(&mut body);
            wait_turn();
            if send.blocking_send((Bytes::from(full), in_body)).is_err() {
                return Ok(()); // the workers stopped; they say why
            }
            sent += in_body;
            in_body = 0;
        }
    }
    if in_body > 0 {
        wait_turn();
        let _ = send.blocking_send((Bytes::from(body), in_body));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Reply {
    summary: Summary,
}

/// One connection: takes bodies until there are none, one request at a time.
async fn work(plan: &Plan, receive: &Mutex<mpsc::Receiver<Body>>) -> anyhow::Result<Load> {
    let mut load = Load::default();
    let mut sender = connect(&plan.address).await?;
    loop {
        let next = receive.lock().await.recv().await;
        let Some((body, events)) = next else {
            return Ok(load);
        };
        load.requests += 1;
        load.events += events;
        let started = Instant::now();
        let answer = post(&mut sender, plan, body).await;
        let took = started.elapsed();
        let failure = match answer {
            Ok((status, text)) if status.is_success() => {
                load.latencies.push(took);
                match serde_json::from_slice::<Reply>(&text) {
                    Ok(reply) => {
                        load.summary.accepted += reply.summary.accepted;
                        load.summary.duplicates += reply.summary.duplicates;
                        load.summary.held += reply.summary.held;
                        load.summary.rejected += reply.summary.rejected;
                        None
                    }
                    Err(e) => Some(format!("{status} with an unreadable answer: {e}")),
                }
            }
            Ok((status, text)) => {
                load.latencies.push(took);
                let text = String::from_utf8_lossy(&text);
                Some(format!(
                    "{status}: {}",
                    text.chars().take(500).collect::<String>()
                ))
            }
            Err(e) => {
                // The connection is gone: open another for the next request.
                sender = connect(&plan.address).await?;
                Some(format!("no answer: {e:#}"))
            }
        };
        if let Some(failure) = failure {
            load.failures += 1;
            load.first_failure.get_or_insert(failure);
        }
    }
}

pub(crate) async fn connect(address: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to the server at {address}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

pub(crate) async fn post(
    sender: &mut SendRequest<Full<Bytes>>,
    plan: &Plan,
    body: Bytes,
) -> anyhow::Result<(hyper::StatusCode, Bytes)> {
    sender.ready().await?;
    let request = hyper::Request::post("/api/events")
        .header(header::HOST, &plan.address)
        .header(header::AUTHORIZATION, format!("Bearer {}", plan.token))
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let text = response.into_body().collect().await?.to_bytes();
    Ok((status, text))
}

/// The `p`-th percentile (0–100) of sorted durations, by the nearest-rank method: the
/// smallest value that at least `p` % of the values do not exceed.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values_ms: &[u64], p: f64, expected_ms: Option<u64>) {
        let sorted: Vec<Duration> = values_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect();
        assert_eq!(
            percentile(&sorted, p),
            expected_ms.map(Duration::from_millis),
            "p{p} of {values_ms:?}"
        );
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        check(&[], 50.0, None);
        check(&[7], 99.0, Some(7));
        check(&[1, 2, 3, 4], 50.0, Some(2));
        check(&[1, 2, 3, 4], 51.0, Some(3));
        check(&[1, 2, 3, 4], 100.0, Some(4));
        check(&[1, 2, 3, 4], 0.0, Some(1));
        let hundred: Vec<u64> = (1..=100).collect();
        check(&hundred, 99.0, Some(99));
        check(&hundred, 99.5, Some(100));
    }
}
