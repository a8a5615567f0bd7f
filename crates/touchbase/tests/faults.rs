//! The counted fault suite: `touchbase` as users run it, hurt while it takes events in, and
//! counted afterwards. Each test records what was acknowledged (an import that finished, an
//! HTTP 2xx, a broker's PUBACK), then checks that every acknowledged event is stored exactly
//! once, that sending the rest again completes the set, and that `touchbase check` passes.
//!
//! - kill -9 of `touchbase import`, of `touchbase serve` under batched HTTP ingest, and of
//!   `touchbase serve` taking MQTT (QoS 1) at random moments, `TOUCHBASE_FAULT_CYCLES` times
//!   each (5 by default; 50 for the full run);
//! - a full disk (the SQLite store on a small tmpfs): `import` stops saying so and how much was
//!   stored; the server answers 507 with `Retry-After`, never 2xx, and takes events again once
//!   space returns, without a restart;
//! - a private PostgreSQL cluster stopped and started during HTTP ingest (503 with
//!   `Retry-After`, the server reconnects by itself) and during `import` (it stops saying that
//!   running it again completes the set); a private MQTT broker restarted under ingest;
//! - two imports at once, and `serve` with an import beside it, on one SQLite file.
//!
//! Each test prints a line of counts (`faults: …`); `TOUCHBASE_FAULT_REPORT=FILE` also appends
//! them to FILE. `TOUCHBASE_FAULT_SEED` replays a run's random moments.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use touchbase_store::Store;
use touchbase_store_postgres::test_support::TestDatabases;

/// How many kill cycles each test runs.
fn cycles() -> usize {
    std::env::var("TOUCHBASE_FAULT_CYCLES")
        .ok()
        .map(|v| {
            v.parse()
                .expect("TOUCHBASE_FAULT_CYCLES: a number of cycles, e.g. 50")
        })
        .unwrap_or(5)
}

/// A small random generator (xorshift64*): the moments of the faults. Its seed is printed, and
/// `TOUCHBASE_FAULT_SEED` sets it.
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("TOUCHBASE_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("faults: {test}: seed {seed} (TOUCHBASE_FAULT_SEED={seed} replays it)");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The first day of the events, 2026-03-01 (days since the epoch), and how many they span.
const FIRST_DAY: i64 = 20_513;
const DAYS: i64 = 5;

/// The `i`-th event of the suite, with id `id`: at the two live points of the small
/// inventory, over five days, with parties (so journeys are cut) and figures (so rollups add up).
fn event(id: &str, i: usize) -> String {
    let at = FIRST_DAY * 86_400 + (i as i64 * 7_919) % (DAYS * 86_400);
    let at = jiff::Timestamp::from_second(at).unwrap();
    let point = if i.is_multiple_of(4) {
        "workshop.booking"
    } else {
        "web.order"
    };
    serde_json::json!({ "id": id, "point": point, "at": at.to_string(),
        "party": format!("rider-{}", i % 97), "outcomes": { "satisfaction": 1 + i % 5 },
        "value": { "company": (i % 13) as f64 * 0.5 }, "cost": 0.35,
        "data": { "basket": ["chain"], "email": "a@b.c", "bike": "road" } })
    .to_string()
}

/// Events `tag-from` … `tag-(to-1)`: their ids and an NDJSON text.
fn events(tag: &str, from: usize, to: usize) -> (Vec<String>, String) {
    let ids: Vec<String> = (from..to).map(|i| format!("{tag}-{i}")).collect();
    let text = ids
        .iter()
        .zip(from..)
        .map(|(id, i)| event(id, i) + "\n")
        .collect();
    (ids, text)
}

/// A JSON array of the events named by `ids` (`tag-i`).
fn batch(ids: &[String]) -> String {
    let events: Vec<String> = ids
        .iter()
        .map(|id| {
            let i = id.rsplit('-').next().unwrap().parse().unwrap();
            event(id, i)
        })
        .collect();
    format!("[{}]", events.join(","))
}

/// The path of a SQLite store in `dir` (absolute: the test reads it too).
fn sqlite(dir: &Path) -> String {
    dir.join("t.db").to_str().unwrap().to_owned()
}

async fn open(db: &str) -> Arc<dyn Store> {
    if db.starts_with("postgres") {
        Arc::new(
            touchbase_store_postgres::PostgresStore::connect(db)
                .await
                .unwrap(),
        )
    } else {
        Arc::new(touchbase_store_sqlite::SqliteStore::open(db).unwrap())
    }
}

/// Each event id on record, with how many times it is stored.
fn stored(db: &str) -> HashMap<String, u32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = open(db).await;
        let mut ids: HashMap<String, u32> = HashMap::new();
        for day in FIRST_DAY..FIRST_DAY + DAYS {
            for e in store.events_of_day(day).await.unwrap() {
                *ids.entry(e.id).or_default() += 1;
            }
        }
        ids
    })
}

/// What a test counts.
#[derive(Debug, Default)]
struct Counts {
    cycles: usize,
    acknowledged: usize,
    stored: usize,
    lost: usize,
    duplicated: usize,
}

/// Checks the store against what was acknowledged and sent: every acknowledged event stored,
/// none twice, none that was not sent. Returns the counts (and panics on a loss).
fn verify(db: &str, acknowledged: &HashSet<String>, sent: &HashSet<String>) -> Counts {
    let stored = stored(db);
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let duplicated = stored.values().filter(|n| **n > 1).count();
    let strange: Vec<&String> = stored.keys().filter(|id| !sent.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events are not stored, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(duplicated, 0, "events stored twice");
    assert!(
        strange.is_empty(),
        "events never sent are stored: {strange:?}"
    );
    Counts {
        acknowledged: acknowledged.len(),
        stored: stored.len(),
        ..Counts::default()
    }
}

/// `touchbase check` passes.
fn check(d: &Path, db: &str) {
    let out = ok(d, db, &keyed(&["check", "--json"]));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["problems"], serde_json::json!([]), "{out}");
}

/// Prints the counts (and appends them to `TOUCHBASE_FAULT_REPORT`).
fn report(test: &str, db: &str, counts: &Counts) {
    let backend = if db.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let line = format!(
        "faults: {test} on {backend}: {} cycles, {} events acknowledged, {} stored, {} lost, {} duplicated",
        counts.cycles, counts.acknowledged, counts.stored, counts.lost, counts.duplicated
    );
    println!("{line}");
    if let Ok(path) = std::env::var("TOUCHBASE_FAULT_REPORT") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(file, "{line}").unwrap();
    }
}

/// `args` with the key `setup` wrote: every command that writes to the store seals its audit
/// records with it.
fn keyed<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [args, &["--key-file", "org.key"]].concat()
}

/// A store holding the small inventory (its two live points take the events); returns an
/// owner's token.
fn setup(d: &Path, db: &str) -> String {
    small_sealed(d, db, "org.key");
    let user: serde_json::Value = serde_json::from_str(&ok(
        d,
        db,
        &keyed(&["user", "add", "feed", "--role", "owner", "--json"]),
    ))
    .unwrap();
    user["token"].as_str().unwrap().to_owned()
}

/// `touchbase serve` on a free port, with the key `setup` wrote: the child and its address.
fn serve(d: &Path, db: &str, extra: &[&str]) -> (Child, String) {
    start_server(d, db, &[&["--key-file", "org.key"], extra].concat())
}

fn spawn(d: &Path, db: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_touchbase"))
        .current_dir(d)
        .env_remove("TOUCHBASE_DB")
        .env_remove("TOUCHBASE_AS")
        .args(["--db", db])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A child process killed (SIGKILL) when dropped, however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP answer: status, `Retry-After`, body.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

/// `POST /api/events` with `body` on a connection of its own.
fn post(address: &str, token: &str, body: &str) -> std::io::Result<Answer> {
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "POST /api/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let retry_after = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().to_owned())
    });
    if status == 0 {
        return Err(std::io::Error::other("no answer"));
    }
    Ok(Answer {
        status,
        retry_after,
        body: body.to_owned(),
    })
}

/// Sends every event of `ids` not acknowledged yet, in batches, until each batch is answered
/// 2xx (retrying 503/507 as a client would); adds them to `acknowledged`.
fn send_rest(address: &str, token: &str, ids: &[String], acknowledged: &mut HashSet<String>) {
    let rest: Vec<String> = ids
        .iter()
        .filter(|id| !acknowledged.contains(*id))
        .cloned()
        .collect();
    for chunk in rest.chunks(200) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match post(address, token, &batch(chunk)) {
                Ok(a) if a.status == 200 => break,
                Ok(a) if Instant::now() < deadline && (a.status == 503 || a.status == 507) => {}
                Ok(a) => panic!("sending again: {} {}", a.status, a.body),
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                }
                Err(e) => panic!("sending again: {e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        acknowledged.extend(chunk.iter().cloned());
    }
}

// ---------------------------------------------------------------------------------------------
// kill -9 during import

/// On PostgreSQL at `pg`, else on a SQLite file in the test's directory.
fn import_under_kill_9(pg: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = &pg.unwrap_or_else(|| sqlite(d));
    setup(d, db);
    let mut rng = Rng::new("kill -9 during import");
    const PER_FILE: usize = 3_000;
    let mut acknowledged = HashSet::new();
    let mut sent = HashSet::new();
    let mut files = Vec::new();
    // How long an import of one file takes, to kill at moments all over it.
    let (ids, text) = events("import-calibrate", 0, PER_FILE);
    write(d, "calibrate.ndjson", &text);
    let started = Instant::now();
    ok(
        d,
        db,
        &keyed(&["import", "calibrate.ndjson", "--batch", "250"]),
    );
    let whole = started.elapsed().as_millis() as u64;
    acknowledged.extend(ids.iter().cloned());
    sent.extend(ids);
    let (mut killed, mut finished) = (0, 0);
    for cycle in 0..cycles() {
        let name = format!("c{cycle}.ndjson");
        let (ids, text) = events(
            &format!("import{cycle}"),
            cycle * PER_FILE,
            (cycle + 1) * PER_FILE,
        );
        write(d, &name, &text);
        sent.extend(ids.iter().cloned());
        let mut child = spawn(d, db, &keyed(&["import", &name, "--batch", "250"]));
        std::thread::sleep(Duration::from_millis(rng.below(whole * 3 / 2)));
        match child.try_wait().unwrap() {
            Some(status) => {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                assert!(status.success(), "import failed: {err}");
                acknowledged.extend(ids.iter().cloned());
                finished += 1;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
            }
        }
        files.push(name);
        verify(db, &acknowledged, &sent);
        check(d, db);
    }
    // Running each import again completes the set.
    for name in &files {
        ok(d, db, &keyed(&["import", name]));
    }
    let mut counts = verify(db, &sent, &sent);
    check(d, db);
    counts.cycles = cycles();
    eprintln!(
        "faults: import: {killed} imports killed, {finished} finished before the kill (a whole import takes {whole} ms)"
    );
    counts.acknowledged = acknowledged.len();
    report("kill -9 during import", db, &counts);
}

#[test]
fn kill_9_during_import_on_sqlite() {
    import_under_kill_9(None);
}

#[test]
fn kill_9_during_import_on_postgres() {
    let databases = TestDatabases::new();
    let url = fresh_database(&databases);
    import_under_kill_9(Some(url));
}

fn fresh_database(databases: &TestDatabases) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(databases.fresh())
}

// ---------------------------------------------------------------------------------------------
// kill -9 during batched HTTP ingest

/// Clients posting batches of fresh events to `address` until `stop`, or until the server is
/// gone; each batch answered 2xx joins `acknowledged`. Returns the statuses other than 200.
fn clients(
    address: &str,
    token: &str,
    tag: &str,
    next: &Arc<AtomicUsize>,
    stop: &Arc<AtomicBool>,
    acknowledged: &Arc<Mutex<HashSet<String>>>,
) -> Vec<std::thread::JoinHandle<Vec<u16>>> {
    const BATCH: usize = 50;
    (0..2)
        .map(|_| {
            let (address, token, tag) = (address.to_owned(), token.to_owned(), tag.to_owned());
            let (next, stop, acknowledged) = (next.clone(), stop.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                let mut other = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    let from = next.fetch_add(BATCH, Ordering::AcqRel);
                    let (ids, _) = events(&tag, from, from + BATCH);
                    match post(&address, &token, &batch(&ids)) {
                        Ok(a) if a.status == 200 => acknowledged.lock().unwrap().extend(ids),
                        Ok(a) => other.push(a.status),
                        Err(_) => break, // the server is gone
                    }
                }
                other
            })
        })
        .collect()
}

/// On PostgreSQL at `pg`, else on a SQLite file in the test's directory.
fn http_under_kill_9(pg: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = &pg.unwrap_or_else(|| sqlite(d));
    let token = setup(d, db);
    let mut rng = Rng::new("kill -9 during HTTP ingest");
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let all = |next: &AtomicUsize| -> Vec<String> {
        (0..next.load(Ordering::Acquire))
            .map(|i| format!("http-{i}"))
            .collect()
    };
    for _ in 0..cycles() {
        let (server, address) = serve(d, db, &[]);
        let mut server = Killed(server);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = clients(&address, &token, "http", &next, &stop, &acknowledged);
        std::thread::sleep(Duration::from_millis(100 + rng.below(500)));
        server.0.kill().unwrap(); // SIGKILL, with batches in flight
        server.0.wait().unwrap();
        stop.store(true, Ordering::Release);
        for t in threads {
            let other = t.join().unwrap();
            assert!(other.is_empty(), "answers other than 200: {other:?}");
        }
        let sent: HashSet<String> = all(&next).into_iter().collect();
        verify(db, &acknowledged.lock().unwrap(), &sent);
        check(d, db);
    }
    // Started again, the server takes the rest.
    let acknowledged_before = acknowledged.lock().unwrap().len();
    let (server, address) = serve(d, db, &[]);
    let server = Killed(server);
    let ids = all(&next);
    let mut everything = acknowledged.lock().unwrap().clone();
    send_rest(&address, &token, &ids, &mut everything);
    drop(server);
    let sent: HashSet<String> = ids.into_iter().collect();
    let mut counts = verify(db, &sent, &sent);
    check(d, db);
    counts.cycles = cycles();
    counts.acknowledged = acknowledged_before;
    report("kill -9 during HTTP batched ingest", db, &counts);
}

#[test]
fn kill_9_during_http_ingest_on_sqlite() {
    http_under_kill_9(None);
}

#[test]
fn kill_9_during_http_ingest_on_postgres() {
    let databases = TestDatabases::new();
    let url = fresh_database(&databases);
    http_under_kill_9(Some(url));
}

// ---------------------------------------------------------------------------------------------
// MQTT: kill -9 of the server, and a restart of the broker

/// A private mosquitto on a free port, persisting to `dir` after every change; killed when
/// dropped.
struct Broker {
    child: Child,
    port: u16,
    conf: PathBuf,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        let port = free_port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                // `user root`: as root the broker would drop to `mosquitto`, which cannot write
                // here. While touchbase is down messages queue up (1,000 at most by default).
                "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\n\
                 persistence_location {0}/\nautosave_on_changes true\nautosave_interval 1\n\
                 log_dest file {0}/mosquitto.log\n",
                dir.display()
            ),
        )
        .unwrap();
        let mut broker = Broker {
            child: Command::new("true").spawn().unwrap(),
            port,
            conf,
        };
        broker.child = broker.run();
        broker
    }

    fn run(&self) -> Child {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs (Debian's package `mosquitto`)");
        wait_for_port(self.port);
        child
    }

    /// Stops the broker with SIGTERM (it saves its sessions and queued messages) and starts
    /// it again.
    fn restart(&mut self) {
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        self.child = self.run();
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port}");
}

/// Publishes one message per id (QoS 1, some carrying an array) on one connection, paced;
/// returns the ids whose message the broker acknowledged (PUBACK). Stops at `deadline`;
/// a connection error ends it (what was not acknowledged is sent again later).
fn publish(port: u16, topic: &str, ids: &[String], pause: Duration) -> HashSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut options =
            rumqttc::MqttOptions::new(format!("faults-pub-{nanos}"), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_inflight(50);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 100);
        let mut acked = HashSet::new();
        // Outgoing publishes are numbered in the order they were sent.
        let mut order: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        let mut by_pkid: HashMap<u16, String> = HashMap::new();
        let sender = {
            let ids = ids.to_vec();
            let topic = topic.to_owned();
            tokio::spawn(async move {
                for (n, id) in ids.iter().enumerate() {
                    let i: usize = id.rsplit('-').next().unwrap().parse().unwrap();
                    let one = event(id, i);
                    let payload = if n % 10 == 0 { format!("[{one}]") } else { one };
                    if client
                        .publish(
                            format!("{topic}/device-{}", n % 7),
                            rumqttc::QoS::AtLeastOnce,
                            false,
                            payload,
                        )
                        .await
                        .is_err()
                    {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                }
                client
            })
        };
        order.extend(ids.iter().cloned());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while acked.len() < ids.len() {
            let polled = tokio::time::timeout_at(deadline, eventloop.poll()).await;
            match polled {
                Ok(Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Publish(pkid)))) => {
                    if let Some(id) = order.pop_front() {
                        by_pkid.insert(pkid, id);
                    }
                }
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(ack)))) => {
                    if let Some(id) = by_pkid.remove(&ack.pkid) {
                        acked.insert(id);
                    }
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        if let Ok(client) = sender.await {
            let _ = client.disconnect().await;
        }
        acked
    })
}

/// Waits until every id of `ids` is stored (the server takes what the broker redelivers);
/// panics after 90 s.
fn wait_stored(db: &str, ids: &HashSet<String>, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let stored = stored(db);
        let missing = ids.iter().filter(|id| !stored.contains_key(*id)).count();
        if missing == 0 {
            return;
        }
        if Instant::now() > deadline {
            let tail = |file: &Path| {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                let last: Vec<&str> = text.lines().rev().take(20).collect();
                last.into_iter().rev().collect::<Vec<_>>().join("\n")
            };
            panic!(
                "{missing} of {} acknowledged MQTT events never stored; the server's log ends:\n{}\n\
                 the broker's log ends:\n{}",
                ids.len(),
                tail(log),
                tail(&log.with_file_name("mosquitto.log"))
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn mqtt_server(d: &Path, db: &str, broker: &Broker, topic: &str) -> Killed {
    let (server, _) = serve(
        d,
        db,
        &[
            "--mqtt",
            &broker.url(),
            "--mqtt-topic",
            &format!("{topic}/#"),
            "--mqtt-client-id",
            "touchbase-faults",
        ],
    );
    Killed(server)
}

#[test]
fn kill_9_during_mqtt_ingest_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = &sqlite(d);
    setup(d, db);
    let broker = Broker::start(d);
    let topic = "faults";
    let mut rng = Rng::new("kill -9 during MQTT ingest");
    const PER_CYCLE: usize = 150;
    let mut acknowledged = HashSet::new();
    let mut sent = HashSet::new();
    // The first start subscribes; the broker keeps the session from then on.
    let mut server = mqtt_server(d, db, &broker, topic);
    std::thread::sleep(Duration::from_millis(500));
    for cycle in 0..cycles() {
        if cycle > 0 {
            server = mqtt_server(d, db, &broker, topic);
        }
        let (ids, _) = events("mqtt", cycle * PER_CYCLE, (cycle + 1) * PER_CYCLE);
        sent.extend(ids.iter().cloned());
        let port = broker.port;
        let publisher = {
            let ids = ids.clone();
            std::thread::spawn(move || publish(port, topic, &ids, Duration::from_millis(2)))
        };
        std::thread::sleep(Duration::from_millis(rng.below(600)));
        server.0.kill().unwrap(); // SIGKILL, with messages taken but not yet acknowledged
        server.0.wait().unwrap();
        acknowledged.extend(publisher.join().unwrap());
        verify(db, &HashSet::new(), &sent);
        check(d, db);
    }
    // Started again, the server takes what the broker kept for it: every acknowledged message.
    let server = mqtt_server(d, db, &broker, topic);
    wait_stored(db, &acknowledged, &d.join("server.log"));
    // What the broker never acknowledged is published again.
    let rest: Vec<String> = sent
        .iter()
        .filter(|id| !acknowledged.contains(*id))
        .cloned()
        .collect();
    let again = publish(broker.port, topic, &rest, Duration::ZERO);
    assert_eq!(again.len(), rest.len(), "the broker acknowledges the rest");
    wait_stored(db, &sent, &d.join("server.log"));
    drop(server);
    let mut counts = verify(db, &sent, &sent);
    check(d, db);
    counts.cycles = cycles();
    counts.acknowledged = acknowledged.len();
    report("kill -9 during MQTT ingest", db, &counts);
}

#[test]
fn broker_restarts_during_mqtt_ingest_lose_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = &sqlite(d);
    setup(d, db);
    let mut broker = Broker::start(d);
    let topic = "restarts";
    let server = mqtt_server(d, db, &broker, topic);
    std::thread::sleep(Duration::from_millis(500));
    let restarts = cycles().min(10);
    let mut acknowledged = HashSet::new();
    let mut sent = HashSet::new();
    const PER_CYCLE: usize = 100;
    for cycle in 0..restarts {
        let (ids, _) = events("broker", cycle * PER_CYCLE, (cycle + 1) * PER_CYCLE);
        sent.extend(ids.iter().cloned());
        acknowledged.extend(publish(broker.port, topic, &ids, Duration::ZERO));
        // Messages the server has not acknowledged yet stay with the broker across its restart.
        broker.restart();
    }
    wait_stored(db, &acknowledged, &d.join("server.log"));
    let rest: Vec<String> = sent
        .iter()
        .filter(|id| !acknowledged.contains(*id))
        .cloned()
        .collect();
    publish(broker.port, topic, &rest, Duration::ZERO);
    wait_stored(db, &sent, &d.join("server.log"));
    drop(server);
    let mut counts = verify(db, &sent, &sent);
    check(d, db);
    counts.cycles = restarts;
    counts.acknowledged = acknowledged.len();
    report("MQTT broker restarted during ingest", db, &counts);
}

// ---------------------------------------------------------------------------------------------
// A full disk

/// A tmpfs of `size` mounted at `dir` (the tests run as root), unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (the disk-full test mounts one, as root)",
            dir.display()
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `path`'s directory with `path` until it is full, then frees
/// `leave` bytes of it.
fn fill(path: &Path, leave: u64) {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.flush();
    file.set_len(written.saturating_sub(leave)).unwrap();
    file.sync_all().unwrap();
}

#[test]
fn a_full_disk_stops_import_and_ingest_and_both_resume_once_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Room for the store, the journeys' queue and rows `check` cuts at the end, and the
    // write-ahead log, which starts over past 4,000 pages (16 MB) and may run some MB past
    // that while a catch-up writes without pause.
    let disk = Tmpfs::mount(d.join("disk"), "64m");
    let db_path = disk.0.join("t.db");
    let db = db_path.to_str().unwrap();
    let token = setup(d, db);
    // Started before the disk fills (it writes the organization's key beside the store).
    let (server, address) = serve(d, db, &[]);
    let server = Killed(server);
    let filler = disk.0.join("filler");
    fill(&filler, 1024 * 1024);

    // The import stops, saying the disk is full and how much it stored.
    let (ids, text) = events("full", 0, 60_000);
    write(d, "big.ndjson", &text);
    let run = touchbase(d, db, &keyed(&["import", "big.ndjson", "--batch", "500"]));
    assert!(!run.ok, "the import should have stopped: {}", run.stdout);
    assert!(run.stderr.contains("the disk is full"), "{}", run.stderr);
    assert!(
        run.stderr.contains("run the same import again"),
        "{}",
        run.stderr
    );
    let said: usize = run
        .stderr
        .split(" events were stored before it")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("how much was stored: {}", run.stderr));
    let on_record = stored(db);
    assert_eq!(on_record.len(), said, "the import said how much it stored");
    assert!(said > 0 && said < ids.len(), "{said} of {}", ids.len());

    // The server answers 507 with Retry-After for what it cannot make durable, never 2xx.
    let mut acknowledged: HashSet<String> = on_record.keys().cloned().collect();
    let (http_ids, _) = events("full-http", 0, 20_000);
    let mut refused = 0;
    for chunk in http_ids.chunks(500) {
        let a = post(&address, &token, &batch(chunk)).unwrap();
        match a.status {
            200 => acknowledged.extend(chunk.iter().cloned()),
            507 => {
                assert!(a.retry_after.is_some(), "507 without Retry-After");
                assert!(a.body.contains("disk is full"), "{}", a.body);
                refused += 1;
                if refused >= 3 {
                    break;
                }
            }
            other => panic!("{other} {}", a.body),
        }
    }
    assert!(refused >= 3, "the server never ran out of space");
    let sent: HashSet<String> = ids.iter().chain(&http_ids).cloned().collect();
    verify(db, &acknowledged, &sent);

    // Space returns: the same server takes events again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    send_rest(&address, &token, &http_ids, &mut acknowledged);
    drop(server);
    // And running the import again completes its set.
    ok(d, db, &keyed(&["import", "big.ndjson", "--batch", "500"]));
    let mut counts = verify(db, &sent, &sent);
    check(d, db);
    counts.cycles = 1;
    counts.acknowledged = acknowledged.len();
    report("disk full during import and HTTP ingest", db, &counts);
    eprintln!(
        "faults: disk full: the import stored {said} events before the disk was full; {refused} batches answered 507"
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL restarted: a private cluster of the test's own (the machine's server is shared)

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL cluster in a directory of its own, on a free port, run as the `postgres` OS
/// user; stopped when dropped.
struct Cluster {
    data: PathBuf,
    port: u16,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let initdb = Path::new(PG_BIN).join("initdb");
        assert!(
            initdb.exists(),
            "{} is missing: the PostgreSQL restart tests start a private cluster with the \
             PostgreSQL 15 server binaries (Debian's package postgresql-15)",
            initdb.display()
        );
        // The postgres user must reach the cluster's directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.join("pg");
        std::fs::create_dir(&data).unwrap();
        assert!(
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&data)
                .status()
                .unwrap()
                .success()
        );
        let cluster = Cluster {
            data,
            port: free_port(),
        };
        cluster.pg(&[
            "initdb",
            "-D",
            cluster.data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
        ]);
        cluster.up();
        cluster
    }

    /// Runs a PostgreSQL binary as the postgres user; panics with its output on failure.
    fn pg(&self, args: &[&str]) {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join(args[0]))
            .args(&args[1..])
            .output()
            .expect("runuser runs");
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.data.display()
        );
        let log = self.data.join("log");
        self.pg(&[
            "pg_ctl",
            "-D",
            self.data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-o",
            &options,
            "-w",
            "start",
        ]);
    }

    /// Stops the server: `fast` (connections cut, a clean shutdown) or `immediate` (as a crash).
    fn down(&self, mode: &str) {
        self.pg(&[
            "pg_ctl",
            "-D",
            self.data.to_str().unwrap(),
            "-m",
            mode,
            "-w",
            "stop",
        ]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join("pg_ctl"))
            .args(["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

#[test]
fn postgres_restarted_during_http_ingest_answers_503_and_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cluster = Cluster::start(d);
    let db = cluster.url();
    let token = setup(d, &db);
    let (server, address) = serve(d, &db, &[]);
    let server = Killed(server);
    let mut rng = Rng::new("PostgreSQL restarted during HTTP ingest");
    let restarts = cycles().min(10);
    let mut acknowledged = HashSet::new();
    let mut ids = Vec::new();
    let (mut refused, mut n) = (0, 0);
    for cycle in 0..restarts {
        // Ingest flows; the database stops at a random moment and stays down a while.
        let stop_at = Instant::now() + Duration::from_millis(100 + rng.below(400));
        let mut stopped = false;
        let mut during = 0;
        loop {
            if !stopped && Instant::now() >= stop_at {
                cluster.down(if cycle % 2 == 0 { "fast" } else { "immediate" });
                stopped = true;
            }
            let (chunk, _) = events("pg", n, n + 50);
            n += 50;
            ids.extend(chunk.iter().cloned());
            match post(&address, &token, &batch(&chunk)) {
                Ok(a) if a.status == 200 => acknowledged.extend(chunk),
                Ok(a) if a.status == 503 => {
                    assert!(a.retry_after.is_some(), "503 without Retry-After");
                    refused += 1;
                    during += 1;
                }
                Ok(a) => panic!("{} {}", a.status, a.body),
                Err(e) => panic!("the server stopped answering: {e}"),
            }
            if stopped && during >= 5 {
                break;
            }
        }
        cluster.up();
    }
    // The same server takes the rest once the database is back: it reconnected by itself.
    send_rest(&address, &token, &ids, &mut acknowledged);
    drop(server);
    let sent: HashSet<String> = ids.into_iter().collect();
    let mut counts = verify(&db, &sent, &sent);
    check(d, &db);
    counts.cycles = restarts;
    counts.acknowledged = acknowledged.len();
    report("PostgreSQL restarted during HTTP ingest", &db, &counts);
    eprintln!("faults: PostgreSQL restarts: {refused} batches answered 503 while it was down");
}

#[test]
fn postgres_restarted_during_import_says_running_it_again_completes_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cluster = Cluster::start(d);
    let db = cluster.url();
    setup(d, &db);
    let (ids, text) = events("pg-import", 0, 40_000);
    write(d, "big.ndjson", &text);
    let child = spawn(d, &db, &keyed(&["import", "big.ndjson", "--batch", "500"]));
    // Once some batches are in, the database stops.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&db).is_empty() {
        assert!(Instant::now() < deadline, "the import never wrote");
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.down("fast");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the import should have stopped");
    assert!(stderr.contains("the store became unavailable"), "{stderr}");
    assert!(
        stderr.contains("run the same import again to complete the set"),
        "{stderr}"
    );
    cluster.up();
    let taken = stored(&db).len();
    ok(d, &db, &keyed(&["import", "big.ndjson", "--batch", "500"]));
    let sent: HashSet<String> = ids.into_iter().collect();
    let mut counts = verify(&db, &sent, &sent);
    check(d, &db);
    counts.cycles = 1;
    counts.acknowledged = sent.len();
    report("PostgreSQL restarted during import", &db, &counts);
    eprintln!(
        "faults: PostgreSQL stopped during an import after {taken} events; it said so, and running it again completed the set"
    );
}

// ---------------------------------------------------------------------------------------------
// Side by side on one SQLite file

#[test]
fn two_imports_at_once_on_one_sqlite_file_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = &sqlite(d);
    setup(d, db);
    let (a, text_a) = events("twice-a", 0, 20_000);
    let (b, text_b) = events("twice-b", 20_000, 40_000);
    write(d, "a.ndjson", &text_a);
    write(d, "b.ndjson", &text_b);
    // Two different files, and the same file twice, at once.
    let children = [
        spawn(d, db, &keyed(&["import", "a.ndjson", "--batch", "1000"])),
        spawn(d, db, &keyed(&["import", "b.ndjson", "--batch", "1000"])),
        spawn(d, db, &keyed(&["import", "a.ndjson", "--batch", "700"])),
    ];
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sent: HashSet<String> = a.into_iter().chain(b).collect();
    let mut counts = verify(db, &sent, &sent);
    check(d, db);
    counts.cycles = 1;
    counts.acknowledged = sent.len();
    report("two imports at once on one SQLite file", db, &counts);
}

#[test]
fn serve_and_import_on_one_sqlite_file_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = &sqlite(d);
    let token = setup(d, db);
    let (server, address) = serve(d, db, &[]);
    let server = Killed(server);
    let (file_ids, text) = events("beside", 0, 30_000);
    write(d, "beside.ndjson", &text);
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let threads = clients(&address, &token, "served", &next, &stop, &acknowledged);
    ok(
        d,
        db,
        &keyed(&["import", "beside.ndjson", "--batch", "1000"]),
    );
    stop.store(true, Ordering::Release);
    for t in threads {
        let other = t.join().unwrap();
        assert!(other.is_empty(), "answers other than 200: {other:?}");
    }
    drop(server);
    let mut acknowledged = acknowledged.lock().unwrap().clone();
    let served = acknowledged.len();
    assert!(served > 0, "the server took nothing while the import ran");
    acknowledged.extend(file_ids.iter().cloned());
    // Every batch posted was answered 200, so what was sent is what was acknowledged.
    let sent = acknowledged.clone();
    let mut counts = verify(db, &acknowledged, &sent);
    check(d, db);
    counts.cycles = 1;
    counts.acknowledged = acknowledged.len();
    report("serve and import on one SQLite file", db, &counts);
    eprintln!(
        "faults: {served} events taken over HTTP while the import took {}",
        file_ids.len()
    );
}

// ---------------------------------------------------------------------------------------------
// `touchbase check` itself

#[test]
fn check_passes_on_an_intact_store_and_fails_naming_a_broken_rollup_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = &sqlite(d);
    setup(d, db);
    let (_, text) = events("check", 0, 500);
    write(d, "e.ndjson", &text);
    ok(d, db, &keyed(&["import", "e.ndjson"]));
    let out = ok(d, db, &keyed(&["check"]));
    assert!(out.contains("every invariant holds"), "{out}");
    assert!(out.contains("500 counted"), "{out}");
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute(
        "UPDATE rollup_daily SET cost = cost + 1 WHERE point = 'web.order' AND day = ?1",
        [FIRST_DAY + 1],
    )
    .unwrap();
    let gone = conn
        .execute(
            "DELETE FROM journey_rows WHERE day = (SELECT MIN(day) FROM journey_rows)",
            [],
        )
        .unwrap();
    assert!(gone > 0, "rows of journeys kept ahead");
    drop(conn);
    let run = touchbase(d, db, &keyed(&["check", "--json"]));
    assert!(!run.ok, "check should fail: {}", run.stdout);
    assert!(run.stderr.contains("problems found"), "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(problems[0]["kind"], "rollup", "{problems:?}");
    assert_eq!(problems[0]["subject"], "rollup web.order 2026-03-02");
    assert!(
        problems[0]["detail"].as_str().unwrap().contains("cost"),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p["kind"] == "journeys"
            && p["subject"]
                .as_str()
                .unwrap()
                .starts_with("journeys 2026-03-01")),
        "{problems:?}"
    );
}
