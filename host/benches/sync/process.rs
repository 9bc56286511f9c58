//! Runs a child process to its end and measures it: wall time from just before the spawn,
//! exit status, and the CPU time and peak resident set size that `wait4` reports for that
//! one child.

use std::io;
use std::process::Command;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The end of a measured child process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
    /// It outlived its timeout and was killed.
    TimedOut,
}

/// One finished child process.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// The instant recorded just before the spawn.
    pub spawned_at: Instant,
    /// From `spawned_at` until `wait4` returned.
    pub wall: Duration,
    /// Its end: exit code, signal or timeout.
    pub exit: Exit,
    /// Peak resident set size, in bytes.
    pub max_rss_bytes: u64,
    /// CPU time in user and kernel mode together.
    pub cpu: Duration,
}

impl Finished {
    /// Tells whether the process exited with code 0.
    pub fn succeeded(&self) -> bool {
        self.exit == Exit::Code(0)
    }
}

/// Spawns `command`, waits for it for at most `timeout`, and kills it after that.
pub fn run(command: &mut Command, timeout: Duration) -> io::Result<Finished> {
    let spawned_at = Instant::now();
    let child = command.spawn()?;
    let pid = child.id() as libc::pid_t;

    // A blocking `wait4` on its own thread notices the exit at once, without polling.
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let waited = wait_for(pid);
        let _ = sender.send((Instant::now(), waited));
    });

    let (ended_at, waited, timed_out) = match receiver.recv_timeout(timeout) {
        Ok((ended_at, waited)) => (ended_at, waited, false),
        Err(RecvTimeoutError::Timeout) => {
            // SAFETY: `kill` touches no memory of this process. The child is not reaped
            // yet, so `pid` still names it and no other process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let (ended_at, waited) = receiver
                .recv()
                .map_err(|_| io::Error::other("the wait thread stopped without a result"))?;
            (ended_at, waited, true)
        }
        Err(RecvTimeoutError::Disconnected) => {
            return Err(io::Error::other("the wait thread stopped without a result"));
        }
    };
    // The child is reaped: `Child` neither waits nor kills on drop.
    drop(child);

    let (status, usage) = waited?;
    let exit = if timed_out {
        Exit::TimedOut
    } else if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        Exit::Signal(libc::WTERMSIG(status))
    };
    Ok(Finished {
        spawned_at,
        wall: ended_at - spawned_at,
        exit,
        // Linux reports `ru_maxrss` in KiB.
        max_rss_bytes: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        cpu: duration_of(usage.ru_utime) + duration_of(usage.ru_stime),
    })
}

fn duration_of(time: libc::timeval) -> Duration {
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    let micros = u64::try_from(time.tv_usec).unwrap_or(0);
    Duration::from_secs(seconds) + Duration::from_micros(micros)
}

/// Blocks until child `pid` ends, and returns its wait status and resource usage.
fn wait_for(pid: libc::pid_t) -> io::Result<(libc::c_int, libc::rusage)> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `rusage` is plain old data, so all zeroes is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to live locals of the types `wait4` expects.
        let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if waited == pid {
            return Ok((status, usage));
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}
