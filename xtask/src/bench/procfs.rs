//! What the harness reads of a server from /proc: CPU time (utime and stime
//! of `/proc/PID/stat`, which cover all of a process's threads) and
//! resident memory (VmRSS of `/proc/PID/status`), each summed over the
//! process and its children, so that a master with workers (the 2-worker
//! row) counts whole. The parsers are pure and tested; the readers treat a
//! process that has just gone as holding nothing.

/// The fields of `/proc/PID/stat` the harness uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ppid: u32,
    /// utime, in clock ticks.
    pub user_ticks: u64,
    /// stime, in clock ticks.
    pub system_ticks: u64,
}

/// CPU time in seconds, in user space and in the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cpu {
    pub user: f64,
    pub system: f64,
}

impl Cpu {
    pub fn total(&self) -> f64 {
        self.user + self.system
    }
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// The kernel reports these times in USER_HZ, which is 100 on every
/// architecture Linux exposes to user space (`sysconf(_SC_CLK_TCK)`); a
/// constant keeps nix's `feature` set out of the build.
const TICKS_PER_SECOND: f64 = 100.0;

/// Parses `pid (comm) state ppid … utime stime …`. The comm may hold spaces
/// and parentheses, so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state (3), ppid (4), ... utime (14), stime (15).
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Stat {
        ppid,
        user_ticks: utime,
        system_ticks: stime,
    })
}

/// The `VmRSS:` line of `/proc/PID/status`, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `pid` and its direct children (nginx's workers, upgate's worker).
pub fn tree(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if stat(p).is_some_and(|s| s.ppid == pid) {
                pids.push(p);
            }
        }
    }
    pids
}

/// CPU seconds used so far by `pid` and its children.
pub fn cpu_seconds(pid: u32) -> Cpu {
    let (user, system) = tree(pid)
        .into_iter()
        .filter_map(stat)
        .fold((0, 0), |(u, s), st| {
            (u + st.user_ticks, s + st.system_ticks)
        });
    Cpu {
        user: user as f64 / TICKS_PER_SECOND,
        system: system as f64 / TICKS_PER_SECOND,
    }
}

/// Resident bytes of `pid` and its children.
pub fn rss(pid: u32) -> u64 {
    tree(pid)
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        .filter_map(|s| parse_vm_rss(&s))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let line = "4242 (nginx: worker) (x) S 4241 4241 12409 0 -1 4194560 99 0 0 0 \
                    1234 567 0 0 20 0 1 0 2082086 3133440 381 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                ppid: 4241,
                user_ticks: 1234,
                system_ticks: 567
            })
        );
    }

    #[test]
    fn a_short_or_garbled_stat_is_none() {
        assert_eq!(parse_stat("1 (init) S 0 1"), None);
        assert_eq!(parse_stat("no parenthesis at all"), None);
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tnginx\nVmPeak:\t  9000 kB\nVmRSS:\t    4118 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(4118 * 1024));
        assert_eq!(parse_vm_rss("Name:\tzombie\n"), None);
    }

    #[test]
    fn this_process_is_readable() {
        let me = std::process::id();
        assert!(stat(me).is_some());
        assert!(rss(me) > 0);
    }
}
