//! Running a child process whose output and running time r2r bounds: a
//! tool given a bundle's input (`helm template` of a carried chart, the
//! jsonnet evaluator) can loop or print without end.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// What a bounded child left.
pub(crate) struct Finished {
    pub status: ExitStatus,
    /// At most the limit plus one byte: longer means it printed too much.
    pub stdout: Vec<u8>,
    /// Its first 64 KiB.
    pub stderr: String,
}

/// Runs `cmd` (stdin closed), reading at most `max_stdout + 1` bytes of
/// its output, killing it after `max_wall`. Both pipes are read on their
/// own threads, so neither can fill and stall the child.
pub(crate) fn run(mut cmd: Command, max_stdout: u64, max_wall: Duration) -> Result<Finished> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().context("the child's stdout")?;
    let mut stderr = child.stderr.take().context("the child's stderr")?;
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = (&mut stdout).take(max_stdout + 1).read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = (&mut stderr).take(64 << 10).read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > max_wall {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "it ran longer than {} s and was stopped",
                max_wall.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Finished {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
