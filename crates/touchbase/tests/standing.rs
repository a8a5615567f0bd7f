//! Standing orders as an operator runs them: `touchbase standing run` killed with SIGKILL at
//! random moments while it writes a backlog of runs, then `touchbase deliver` killed while it
//! sends them to a fulfilment receiver started here that counts idempotency keys — on the
//! embedded store and on PostgreSQL (`TOUCHBASE_TEST_PG`). No run may be lost, none written
//! twice, and the receiver must be able to make exactly one order per run.

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;
use touchbase_store_postgres::test_support::TestDatabases;

/// How many riders place a first order.
const ORDERS: usize = 1_500;
/// The first orders: from Monday 2 March 2026, 10:00 UTC, one a minute.
const FIRST: i64 = 1_772_445_600;
/// The scheduler's clock: ten weeks later.
const NOW: &str = "2026-05-11T12:00:00Z";

/// Each idempotency key the receiver was sent, with how many times.
type Keys = Arc<Mutex<HashMap<String, u32>>>;

/// A fulfilment receiver on its own thread: counts each `Idempotency-Key` it is sent (one
/// order per key, as a fulfilment system honouring the header makes) and answers slowly, so
/// that deliveries are in flight when the dispatcher is killed.
fn fulfilment_receiver() -> (Keys, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/orders", listener.local_addr().unwrap());
    let keys: Keys = Arc::default();
    let counter = Arc::clone(&keys);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let keys = Arc::clone(&counter);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let (mut key, mut length) = (String::new(), 0usize);
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        let (name, value) = l.split_once(':').unwrap_or((l, ""));
                        match name.to_ascii_lowercase().as_str() {
                            "idempotency-key" => key = value.trim().to_owned(),
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    // The header and the body name the same run.
                    let status = if !key.is_empty() && body["idempotency_key"] == key.as_str() {
                        *keys.lock().unwrap().entry(key).or_default() += 1;
                        "200 OK"
                    } else {
                        "400 Bad Request"
                    };
                    std::thread::sleep(Duration::from_millis(2));
                    if write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    (keys, url)
}

/// A child process killed (SIGKILL) when dropped, however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(d: &std::path::Path, db: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_touchbase"))
        .current_dir(d)
        .env_remove("TOUCHBASE_DB")
        .env_remove("TOUCHBASE_AS")
        .args(["--db", db])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A small random generator (xorshift64*) for the moments of the kills; its seed is printed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("TOUCHBASE_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("standing: seed {seed} (TOUCHBASE_FAULT_SEED={seed} replays it)");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The runs due by [`NOW`]: each order's weekly occurrences after its first order.
fn expected_runs() -> usize {
    let now = NOW.parse::<jiff::Timestamp>().unwrap().as_second();
    (0..ORDERS as i64)
        .map(|i| ((now - (FIRST + 60 * i)) / (7 * 86_400)) as usize)
        .sum()
}

fn kill_loop(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = ["--key-file", "org.key"];
    let keyed = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(key.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |args: &[&str]| {
        let args = keyed(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(d, db, &args)
    };
    // The automated point weekly in UTC with implied consent: every order active at once.
    write(d, "inventory.yaml", &small_automated("UTC", "implied"));
    ok(d, db, &["key", "new", "--out", "org.key"]);
    run(&["inventory", "import", "inventory.yaml", "--baseline"]);
    let (keys, url) = fulfilment_receiver();
    run(&[
        "endpoint",
        "add",
        "fulfilment",
        "--url",
        &url,
        "--allow-private",
    ]);
    let orders: String = (0..ORDERS)
        .map(|i| {
            let at = jiff::Timestamp::from_second(FIRST + 60 * i as i64).unwrap();
            format!(
                "{}\n",
                serde_json::json!({ "id": format!("first-{i}"), "point": "web.order",
                    "at": at.to_string(), "party": format!("r-{i}"),
                    "data": { "email": "r@example.org", "basket": [
                        { "sku": "chain-lube", "qty": 1 + i % 3, "price": 6.5 },
                        { "sku": "tube-700c", "qty": 2, "price": 4.0 } ] } })
            )
        })
        .collect();
    write(d, "orders.ndjson", &orders);
    run(&["import", "orders.ndjson"]);
    let listed: serde_json::Value =
        serde_json::from_str(&run(&["standing", "list", "--limit", "100000", "--json"])).unwrap();
    assert_eq!(
        listed["counts"]["active"], ORDERS,
        "every first order captured once"
    );

    // The scheduler killed at random moments while it writes the backlog of ten weeks.
    let mut rng = Rng::new();
    let cycles = 8;
    let written = || -> usize {
        let listed: Vec<serde_json::Value> = serde_json::from_str(&run(&[
            "deliveries",
            "list",
            "--endpoint",
            "fulfilment",
            "--limit",
            "1000000",
            "--json",
        ]))
        .unwrap();
        listed.len()
    };
    let mut after_kills = Vec::new();
    for _ in 0..cycles {
        let args = keyed(&["standing", "run", "--now", NOW]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = Killed(spawn(d, db, &args));
        std::thread::sleep(Duration::from_millis(50 + rng.below(700)));
        let _ = child.0.kill();
        let _ = child.0.wait();
        after_kills.push(written());
    }
    eprintln!("standing {db}: runs written after each kill: {after_kills:?}");
    assert!(
        after_kills[0] < expected_runs(),
        "the first kill came after the step had finished: the test proves nothing ({after_kills:?})"
    );
    // Run to the end, then once more: nothing is left, nothing is written again.
    run(&["standing", "run", "--now", NOW]);
    let again: serde_json::Value =
        serde_json::from_str(&run(&["standing", "run", "--now", NOW, "--json"])).unwrap();
    assert_eq!(
        (again["sent"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    let expected = expected_runs();
    let deliveries: Vec<serde_json::Value> = serde_json::from_str(&run(&[
        "deliveries",
        "list",
        "--endpoint",
        "fulfilment",
        "--limit",
        "1000000",
        "--json",
    ]))
    .unwrap();
    let ids: HashSet<&str> = deliveries
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(deliveries.len(), expected, "one delivery per run due");
    assert_eq!(ids.len(), expected, "no run written twice");

    // The dispatcher killed while it sends them; started again until all are delivered.
    for _ in 0..4 {
        let args = keyed(&["deliver"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = Killed(spawn(d, db, &args));
        std::thread::sleep(Duration::from_millis(300 + rng.below(1_200)));
        let _ = child.0.kill();
        let _ = child.0.wait();
    }
    let started = Instant::now();
    loop {
        let args = keyed(&["deliver", "--until-idle", "--feed-lease", "2s"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(d, db, &args);
        if keys.lock().unwrap().len() >= expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "deliveries never all taken"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let keys = keys.lock().unwrap();
    let wanted: HashSet<String> = deliveries
        .iter()
        .map(|d| {
            let body: serde_json::Value =
                serde_json::from_str(d["body"].as_str().unwrap()).unwrap();
            body["idempotency_key"].as_str().unwrap().to_owned()
        })
        .collect();
    let got: HashSet<String> = keys.keys().cloned().collect();
    assert_eq!(
        got, wanted,
        "the receiver made one order per run, for every run and no other"
    );
    let resent: u32 = keys.values().map(|n| n - 1).sum();
    eprintln!(
        "standing {db}: {ORDERS} orders, {cycles} kills of `standing run` and 4 of `deliver`; \
         {expected} runs due, {expected} written, {} orders made at the receiver, {resent} runs sent again after a kill (the same key)",
        got.len()
    );
}

#[test]
fn standing_runs_survive_kill_9_on_sqlite() {
    kill_loop("t.db");
}

#[test]
fn standing_runs_survive_kill_9_on_postgres() {
    let databases = TestDatabases::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(databases.fresh());
    kill_loop(&url);
}
