//! How every command reports while it works: the output-mode flags all
//! commands share, and the [`Printer`] that is the library's [`Reporter`]
//! on a terminal: a bar with bytes, rate and ETA on a terminal; plain lines
//! in logs and CI; JSON lines with `--json`; nothing but warnings with
//! `--quiet`.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::print;
use crate::progress::{Meter, Reporter};

/// The output flags every command takes, meaning the same everywhere.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(super) struct OutputFlags {
    /// Print only warnings and errors while working; the result is still
    /// printed.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the result as JSON on stdout, for scripts; progress, if not
    /// --quiet, becomes one JSON object per line on stderr.
    #[arg(long)]
    pub json: bool,
}

impl OutputFlags {
    pub(super) fn mode(self) -> Mode {
        match (self.quiet, self.json) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Json,
            (false, false) => Mode::Auto,
        }
    }

    pub(super) fn printer(self) -> Arc<Printer> {
        Printer::new(self.mode())
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Bars when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Nothing but warnings and errors.
    Quiet,
    /// One JSON object per line on stderr, for scripts (`--json`).
    Json,
}

/// The library's reporter on stderr. Every bar lives in one
/// [`MultiProgress`], so a warning from anywhere (a registry retry) is
/// printed above the bars instead of through them.
pub(super) struct Printer {
    mode: Mode,
    bars: Option<MultiProgress>,
}

impl Printer {
    pub(super) fn new(mode: Mode) -> Arc<Printer> {
        let tty = std::io::stderr().is_terminal();
        let bars = (mode == Mode::Auto && tty)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)));
        Arc::new(Printer { mode, bars })
    }

    /// Runs `f`, which prints to stderr, with the bars out of the way.
    fn above_bars(&self, f: impl FnOnce()) {
        match &self.bars {
            Some(multi) => multi.suspend(f),
            None => f(),
        }
    }
}

impl Reporter for Printer {
    fn warn(&self, msg: &str) {
        self.above_bars(|| print::warn(msg));
    }

    fn step(&self, msg: &str) {
        match self.mode {
            Mode::Auto => self.above_bars(|| print::progress(msg)),
            Mode::Json => json_line("step", "note", 0, None, Some(msg)),
            Mode::Quiet => {}
        }
    }

    fn meter(&self, label: &str, total: Option<u64>) -> Box<dyn Meter> {
        Box::new(Bar::start(self, label, total))
    }
}

/// How often a plain line reports bytes.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

struct Bar {
    bar: Option<ProgressBar>,
    multi: Option<MultiProgress>,
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

impl Bar {
    fn start(printer: &Printer, label: &str, total: Option<u64>) -> Bar {
        let json = printer.mode == Mode::Json;
        if json {
            json_line(label, "start", 0, total, None);
        }
        let bar = printer
            .bars
            .as_ref()
            .map(|multi| multi.add(new_bar(label, total)));
        let now = Instant::now();
        Bar {
            plain: printer.mode != Mode::Quiet && bar.is_none(),
            json,
            bar,
            multi: printer.bars.clone(),
            label: label.to_owned(),
            total,
            state: Mutex::new(Plain {
                done: 0,
                started: now,
                last: now,
            }),
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

fn new_bar(label: &str, total: Option<u64>) -> ProgressBar {
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
    bar.set_prefix(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

impl Meter for Bar {
    fn add(&self, n: u64) {
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

    fn note(&self, msg: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(print::safe(msg)),
            None if self.json => json_line(&self.label, "note", 0, None, Some(msg)),
            None if self.plain => print::progress(&format!("{}: {msg}", self.label)),
            None => {}
        }
    }

    fn warn(&self, msg: &str) {
        match &self.multi {
            Some(multi) => multi.suspend(|| print::warn(msg)),
            None => print::warn(msg),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            if let Some(multi) = &self.multi {
                multi.remove(bar);
            }
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
}

fn json_line(phase: &str, event: &str, bytes: u64, total: Option<u64>, msg: Option<&str>) {
    let line = serde_json::json!({
        "phase": phase,
        "event": event,
        "bytes": bytes,
        "total": total,
        "message": msg,
    });
    print::line(&line.to_string());
}
