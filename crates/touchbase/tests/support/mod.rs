//! What the integration tests of the binary share: running it in a scratch directory,
//! reading its output, one HTTP request.
#![allow(dead_code)] // each test binary uses some of these

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const DEMO: &str = include_str!("../../src/demo/northwind.yaml");
pub const SMALL: &str = include_str!("../../../touchbase-store/src/conformance/small.yaml");
/// Points to add to [`SMALL`]: a weekly standing order from `web.order` and its page's point.
pub const AUTOMATED: &str = include_str!("../../../touchbase-store/src/conformance/automated.yaml");

/// [`SMALL`] with the points of [`AUTOMATED`], their section's `timezone` and `consent` as given.
pub fn small_automated(timezone: &str, consent: &str) -> String {
    let automated = AUTOMATED
        .replace("timezone: Europe/London", &format!("timezone: {timezone}"))
        .replace("consent: explicit", &format!("consent: {consent}"));
    SMALL.replacen("points:\n", &format!("points:\n{automated}\n"), 1)
}

pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

pub fn touchbase(dir: &Path, db: &str, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_touchbase"))
        .current_dir(dir)
        .env_remove("TOUCHBASE_DB")
        .env_remove("TOUCHBASE_AS")
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("touchbase runs");
    Run {
        ok: status.success(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// Runs `touchbase --db DB ARGS…` in `dir` with `input` on its standard input.
pub fn touchbase_with_input(dir: &Path, db: &str, args: &[&str], input: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_touchbase"))
        .current_dir(dir)
        .env_remove("TOUCHBASE_DB")
        .env_remove("TOUCHBASE_AS")
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("touchbase runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    Run {
        ok: status.success(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

pub fn ok(dir: &Path, db: &str, args: &[&str]) -> String {
    let run = touchbase(dir, db, args);
    assert!(
        run.ok,
        "touchbase {args:?} failed:\n{}{}",
        run.stdout, run.stderr
    );
    run.stdout
}

pub fn fails(dir: &Path, db: &str, args: &[&str]) -> String {
    let run = touchbase(dir, db, args);
    assert!(
        !run.ok,
        "touchbase {args:?} should have failed:\n{}",
        run.stdout
    );
    run.stderr
}

/// A store holding [`SMALL`] as a baseline, its audit trail sealed from the first write on
/// with a fresh organization key written to `key_file` (outside the database: a PostgreSQL
/// store has none beside it). Every later command that writes must give the same key.
pub fn small_sealed(dir: &Path, db: &str, key_file: &str) {
    write(dir, "small.yaml", SMALL);
    ok(dir, db, &["key", "new", "--out", key_file]);
    ok(
        dir,
        db,
        &[
            "inventory",
            "import",
            "small.yaml",
            "--baseline",
            "--key-file",
            key_file,
        ],
    );
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// One HTTP/1.1 request on its own connection; the status code and the body.
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(address)?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Starts `touchbase --db DB serve --listen 127.0.0.1:0 EXTRA…` in `dir`; returns the child and
/// the address it listens on. Its log goes to `dir/server.log`.
pub fn start_server(dir: &Path, db: &str, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_touchbase"))
        .current_dir(dir)
        .env_remove("TOUCHBASE_DB")
        .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server says where it listens")
            .unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    // Keep draining its log (so the server never blocks on a full pipe) into a file.
    let log = dir.join("server.log");
    std::thread::spawn(move || {
        let mut log = std::fs::File::create(log).unwrap();
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
        }
    });
    (child, address)
}

/// Debian's Chromium, which the browser tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

pub fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// What the browser tests' scripts need (node 20+, Chromium, the npm packages of
/// `tests/browser`), or a failure that says how to get it.
pub fn prerequisites() {
    let dir = script_dir();
    let mut missing = Vec::new();
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {
            let version = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            let major: u32 = version
                .trim_start_matches('v')
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            if major < 20 {
                missing.push(format!(
                    "Node.js 20 or newer (playwright-core needs it; this is {version})"
                ));
            }
        }
        _ => missing.push("node: `apt-get install -y nodejs npm`".to_owned()),
    }
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!(
            "{CHROMIUM}: `apt-get update && apt-get install -y chromium`"
        ));
    }
    for package in ["playwright-core", "axe-core"] {
        if !dir
            .join("node_modules")
            .join(package)
            .join("package.json")
            .exists()
        {
            missing.push(format!(
                "the npm package {package}: `npm ci` (or `npm install --no-audit --no-fund`) in {}",
                dir.display()
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "the browser test cannot run; install what is missing (`.ci/run` does):\n  {}",
        missing.join("\n  ")
    );
}
