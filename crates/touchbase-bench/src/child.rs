//! The `touchbase` binary as child processes: run a command to its end, or start a server and
//! stop it, each with the peak memory of that very process (wait4(2)'s `ru_maxrss`), and a
//! server's CPU time so far (`/proc/PID/stat`); this process's own CPU time and peak memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The `touchbase` binary beside this one (`target/release/` when built with the workspace).
pub fn touchbase_exe() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("cannot tell where touchbase-bench is")?;
    let dir = me.parent().context("touchbase-bench has no directory")?;
    let exe = dir.join(format!("touchbase{}", std::env::consts::EXE_SUFFIX));
    if !exe.is_file() {
        bail!(
            "`{}` is missing: the benchmark drives the touchbase binary beside it; build both with \
             `cargo build --release --workspace` and run `target/release/touchbase-bench`",
            exe.display()
        );
    }
    Ok(exe)
}

/// A `touchbase --db DB ARGS…` command, in `dir`, with no `TOUCHBASE_*` environment but
/// `TOUCHBASE_LOG` (what its log says, which changes no figure).
pub fn touchbase(exe: &Path, dir: &Path, db: &str, args: &[&str]) -> Command {
    let mut command = Command::new(exe);
    command.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("TOUCHBASE_") && name_text != "TOUCHBASE_LOG" {
            command.env_remove(name);
        }
    }
    command.arg("--db").arg(db).args(args);
    command
}

/// What a child that ran to its end did.
#[derive(Debug)]
pub struct Finished {
    pub stdout: String,
    pub wall: Duration,
    /// Its peak resident set, in bytes.
    pub peak_rss: u64,
    /// Its CPU time, user and system.
    pub cpu: Duration,
}

/// Runs `command` to its end; an error when it fails, with what it said.
pub fn run(mut command: Command) -> anyhow::Result<Finished> {
    let shown = format!("{command:?}");
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {shown}"))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let (status, peak_rss, cpu) = wait(&child)?;
    let wall = started.elapsed();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if status != 0 {
        bail!("{shown} failed (exit status {status}):\n{stdout}{stderr}");
    }
    Ok(Finished {
        stdout,
        wall,
        peak_rss,
        cpu,
    })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// A `touchbase serve` running as a child.
#[derive(Debug)]
pub struct Server {
    /// `None` once stopped.
    child: Option<Child>,
    /// Where it listens, `127.0.0.1:PORT`.
    pub address: String,
}

impl Server {
    /// Starts `touchbase --db DB serve --listen 127.0.0.1:0` and waits until `/healthz`
    /// answers. Its log goes to `log`.
    pub fn start(exe: &Path, dir: &Path, db: &str, log: &Path) -> anyhow::Result<Server> {
        let mut command = touchbase(exe, dir, db, &["serve", "--listen", "127.0.0.1:0"]);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start `touchbase serve`")?;
        let mut lines = BufReader::new(child.stderr.take().context("no stderr")?).lines();
        let mut said = String::new();
        let address = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.split("http://").nth(1) {
                        break rest.split('/').next().unwrap_or_default().to_owned();
                    }
                    said.push_str(&line);
                    said.push('\n');
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("`touchbase serve` stopped before it listened:\n{said}");
                }
            }
        };
        // Keep draining its log, so the server never blocks on a full pipe.
        let mut file = std::fs::File::create(log)
            .with_context(|| format!("cannot write `{}`", log.display()))?;
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(file, "{line}");
            }
        });
        let server = Server {
            child: Some(child),
            address,
        };
        server.wait_healthy()?;
        Ok(server)
    }

    fn wait_healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if healthz(&self.address).unwrap_or(false) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "`touchbase serve` on {} did not answer /healthz",
                    self.address
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The CPU time (user and system) it has used so far, from `/proc/PID/stat`.
    pub fn cpu_time(&self) -> Option<Duration> {
        let child = self.child.as_ref()?;
        process_cpu_time(child.id())
    }

    /// Stops it with SIGTERM (it shuts down gracefully) and returns its peak resident set.
    pub fn stop(mut self) -> anyhow::Result<u64> {
        let child = self
            .child
            .take()
            .context("the server was stopped already")?;
        terminate(child.id())?;
        let (status, peak_rss, _) = wait(&child)?;
        if status != 0 {
            bail!("`touchbase serve` exited with status {status} after SIGTERM");
        }
        Ok(peak_rss)
    }
}

impl Drop for Server {
    /// A server left running by a step that failed is killed.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The CPU time (user and system) of process `pid` so far, from `/proc/PID/stat`.
fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command (which may hold spaces) in parentheses; utime and stime
    // are the 14th and 15th of the whole line.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // In USER_HZ, 100 a second on every Linux platform (sysconf(_SC_CLK_TCK)).
    Some(Duration::from_secs_f64(ticks as f64 / 100.0))
}

/// This process's CPU time (user and system) so far: the load's and the receiver's.
pub fn own_cpu_time() -> Option<Duration> {
    process_cpu_time(std::process::id())
}

/// This process's peak resident set so far, in bytes (`VmHWM` of `/proc/self/status`).
pub fn own_peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn healthz(address: &str) -> std::io::Result<bool> {
    let mut stream = std::net::TcpStream::connect(address)?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.starts_with("HTTP/1.1 200"))
}

/// Waits for the child to end; its exit status (128 + signal when killed), peak resident
/// set in bytes and CPU time. The child must not be waited for otherwise (`Child::wait`) afterwards.
#[allow(unsafe_code)]
fn wait(child: &Child) -> anyhow::Result<(i32, u64, Duration)> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid, writable and live for the call; `pid` is our
        // own child, not yet reaped (std reaps only in `wait`/`try_wait`, which we never call).
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).context("wait4 on a touchbase child");
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    // Linux gives `ru_maxrss` in KiB.
    Ok((code, usage.ru_maxrss.max(0) as u64 * 1024, cpu))
}

#[allow(unsafe_code)]
fn terminate(pid: u32) -> anyhow::Result<()> {
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own, unreaped child.
    let done = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    if done != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot send SIGTERM to the server");
    }
    Ok(())
}
