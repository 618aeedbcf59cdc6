//! Progress for long work: a bar with bytes, rate and ETA on a terminal;
//! plain, timestamped-by-order lines in logs and CI; nothing with --quiet.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::print;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bars when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Plain lines only.
    Plain,
    /// Nothing but warnings and errors.
    Quiet,
    /// One JSON object per line on stderr, for scripts (`--json`).
    Json,
}

impl Mode {
    pub fn from_flags(quiet: bool) -> Mode {
        if quiet { Mode::Quiet } else { Mode::Auto }
    }
}

/// How often a plain line reports bytes.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    json: bool,
    label: String,
    total: Option<u64>,
    state: Mutex<Plain>,
}

struct Plain {
    done: u64,
    started: Instant,
    last: Instant,
}

impl Progress {
    /// Starts reporting `label`, out of `total` bytes when known.
    pub fn start(mode: Mode, label: &str, total: Option<u64>) -> Progress {
        let tty = std::io::stderr().is_terminal();
        if mode == Mode::Json {
            json_line(label, "start", 0, total, None);
        }
        let bar = (mode == Mode::Auto && tty).then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            let template = if total.is_some() {
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {wide_msg}"
            } else {
                "{prefix} {spinner} {bytes} {bytes_per_sec} {wide_msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
            bar.set_prefix(label.to_owned());
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        let now = Instant::now();
        Progress {
            plain: mode != Mode::Quiet && bar.is_none(),
            json: mode == Mode::Json,
            bar,
            label: label.to_owned(),
            total,
            state: Mutex::new(Plain {
                done: 0,
                started: now,
                last: now,
            }),
        }
    }

    /// `n` more bytes are done.
    pub fn add(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
        let Ok(mut s) = self.state.lock() else { return };
        s.done += n;
        if self.plain && s.last.elapsed() >= PLAIN_EVERY {
            s.last = Instant::now();
            if self.json {
                json_line(&self.label, "progress", s.done, self.total, None);
                return;
            }
            let line = self.line(&s);
            print::progress(&line);
        }
    }

    /// A step worth a line of its own, such as one home finished.
    pub fn note(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(print::safe(msg)),
            None if self.json => json_line(&self.label, "note", 0, None, Some(msg)),
            None if self.plain => print::progress(&format!("{}: {msg}", self.label)),
            None => {}
        }
    }

    /// A warning that must be seen whatever the mode.
    pub fn warn(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| print::warn(msg)),
            None => print::warn(msg),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.json
            && let Ok(s) = self.state.lock()
        {
            json_line(&self.label, "done", s.done, self.total, None);
            return;
        }
        if self.plain
            && let Ok(s) = self.state.lock()
        {
            print::progress(&format!("{} (done)", self.line(&s)));
        }
    }

    fn line(&self, s: &Plain) -> String {
        let secs = s.started.elapsed().as_secs_f64().max(0.001);
        let rate = print::bytes((s.done as f64 / secs) as u64);
        match self.total {
            Some(t) => format!(
                "{}: {} of {} ({rate}/s)",
                self.label,
                print::bytes(s.done),
                print::bytes(t)
            ),
            None => format!("{}: {} ({rate}/s)", self.label, print::bytes(s.done)),
        }
    }
}

fn json_line(phase: &str, event: &str, bytes: u64, total: Option<u64>, msg: Option<&str>) {
    let line = serde_json::json!({
        "phase": phase,
        "event": event,
        "bytes": bytes,
        "total": total,
        "message": msg,
    });
    eprintln!("{line}");
}
