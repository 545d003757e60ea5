//! Child processes that `compare` starts, and the guarantee that each one is stopped: on drop
//! (SIGTERM to its process group, then SIGKILL), on Ctrl-C / SIGTERM / SIGHUP of `loadtest`
//! (a signal-hook thread), on panic (a panic hook, since release builds abort), and if `loadtest`
//! dies outright (`PR_SET_PDEATHSIG`).

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

/// Process-group ids of live children.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Temporary directories to remove when stopping on a signal or panic.
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// How long a child gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

fn signal_group(pgid: i32, sig: i32) {
    if pgid > 0 {
        // SAFETY: kill has no memory preconditions; a negative pid names the process group.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// Stops every registered child and removes the temporary directories (used on signals and
/// panics, where no `Drop` will run).
pub fn kill_all() {
    let groups: Vec<i32> = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for &g in &groups {
        signal_group(g, libc::SIGTERM);
    }
    if !groups.is_empty() {
        thread::sleep(Duration::from_millis(300));
    }
    for &g in &groups {
        signal_group(g, libc::SIGKILL);
    }
    let dirs: Vec<PathBuf> = DIRS.lock().map(|d| d.clone()).unwrap_or_default();
    for d in dirs {
        let _ = fs::remove_dir_all(d);
    }
}

/// Installs the signal thread and panic hook once.
pub fn install_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            kill_all();
            prev(info);
        }));
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(mut signals) => {
                let _ = thread::Builder::new()
                    .name("compare-signals".into())
                    .spawn(move || {
                        if let Some(sig) = signals.forever().next() {
                            eprintln!("compare: signal {sig}: stopping everything it started");
                            kill_all();
                            std::process::exit(128 + sig);
                        }
                    });
            }
            Err(e) => eprintln!("compare: cannot watch signals ({e}); Ctrl-C may leave processes"),
        }
    });
}

/// A started child process, stopped when dropped.
pub struct Proc {
    /// Short name for messages.
    pub name: String,
    child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Spawns `cmd` in its own process group with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> io::Result<Proc> {
        let out = fs::File::create(log)?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs in the forked child before exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting {name}: {e}")))?;
        if let Ok(mut l) = LIVE.lock() {
            l.push(child.id() as i32);
        }
        Ok(Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    /// Its process id (also its process-group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if it has exited, quoting the end of its log.
    pub fn check_alive(&mut self) -> io::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(io::Error::other(format!(
                "{} exited ({status}); log {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            ))),
            Err(e) => Err(e),
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Waits until its log has a line containing `marker`; returns the text after the marker.
    pub fn wait_for_line(&mut self, marker: &str, limit: Duration) -> io::Result<String> {
        let deadline = Instant::now() + limit;
        loop {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(rest) = text.lines().find_map(|l| l.split_once(marker).map(|x| x.1)) {
                return Ok(rest.trim().to_string());
            }
            self.check_alive()?;
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{}: no {marker:?} within {limit:?}; log:\n{}",
                    self.name,
                    self.log_tail()
                )));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM to the group, SIGKILL after the grace period, and reap.
    fn stop(&mut self) {
        let pgid = self.child.id() as i32;
        if matches!(self.child.try_wait(), Ok(None)) {
            signal_group(pgid, libc::SIGTERM);
            let deadline = Instant::now() + GRACE;
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                thread::sleep(Duration::from_millis(20));
            }
        }
        // Its descendants (e.g. nginx workers) may outlive it: SIGKILL whatever is left.
        signal_group(pgid, libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Ok(mut l) = LIVE.lock() {
            l.retain(|&g| g != pgid);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/loadtest-compare-PID-N`.
    pub fn new() -> io::Result<TempDir> {
        let base = std::env::temp_dir();
        for n in 0..1000 {
            let p = base.join(format!("loadtest-compare-{}-{n}", std::process::id()));
            if fs::create_dir(&p).is_ok() {
                if let Ok(mut d) = DIRS.lock() {
                    d.push(p.clone());
                }
                return Ok(TempDir(p));
            }
        }
        Err(io::Error::other("cannot create a temporary directory"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
        if let Ok(mut d) = DIRS.lock() {
            d.retain(|p| p != &self.0);
        }
    }
}

/// A free TCP port on 127.0.0.1 (free now; taken by whoever binds it next).
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `addr` accepts TCP connections.
pub fn wait_for_port(p: &mut Proc, addr: &str, limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        p.check_alive()?;
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "{}: {addr} not accepting within {limit:?}; log:\n{}",
                p.name,
                p.log_tail()
            )));
        }
        thread::sleep(Duration::from_millis(50));
    }
}
