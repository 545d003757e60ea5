//! Reading CPU time and memory of processes from `/proc`: the generator's own CPU, and the CPU and
//! RSS of a target's whole process tree (every process descended from a root, all their threads).

use std::fs;

/// Clock ticks per second of `/proc/*/stat` times (`sysconf(_SC_CLK_TCK)`, normally 100).
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Fields of `/proc/PID/stat` after the parenthesised command name, which may contain spaces.
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = text.rfind(')')?;
    Some(
        text[close + 1..]
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    )
}

/// `(ppid, utime + stime in ticks)` of one process (all its threads, live and exited).
fn ppid_and_ticks(pid: &str) -> Option<(u32, u64)> {
    let f = stat_fields(pid)?;
    // After ")": state(0) ppid(1) ... utime(11) stime(12).
    let ppid = f.get(1)?.parse().ok()?;
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// CPU time (user + system) this process has used so far, in microseconds.
pub fn self_cpu_us() -> u64 {
    ppid_and_ticks("self").map_or(0, |(_, t)| t * 1_000_000 / ticks_per_second())
}

/// Every live process id with its parent id and CPU ticks.
fn all_processes() -> Vec<(u32, u32, u64)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let name = name.to_str()?;
        let pid: u32 = name.parse().ok()?;
        let (ppid, ticks) = ppid_and_ticks(name)?;
        Some((pid, ppid, ticks))
    })
    .collect()
}

/// `root` and all its live descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let procs = all_processes();
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            procs
                .iter()
                .filter(|p| p.1 == parent && p.0 != root)
                .map(|p| p.0),
        );
        i += 1;
    }
    out
}

/// CPU time (user + system) used so far by `root` and its live descendants, in microseconds.
pub fn tree_cpu_us(root: u32) -> u64 {
    let ticks: u64 = tree(root)
        .iter()
        .filter_map(|p| ppid_and_ticks(&p.to_string()).map(|x| x.1))
        .sum();
    ticks * 1_000_000 / ticks_per_second()
}

/// Resident set size (`VmRSS`) of one process in KiB; `None` once it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(rss_kib(me).is_some_and(|k| k > 0));
        assert!(tree(me).contains(&me));
        // Burn a little CPU so the counter moves past zero on a fresh process.
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(i ^ (x >> 3));
        }
        assert!(x > 0);
        assert!(self_cpu_us() > 0);
        assert!(tree_cpu_us(me) >= self_cpu_us() / 2);
    }
}
