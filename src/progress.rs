//! How the library tells whoever drives it what it is doing. The library
//! never prints: every long operation is handed a [`Reporter`], and only
//! `src/cli/` implements one that writes to a terminal (bars, plain lines,
//! JSON lines or nothing, as the user asked). Tests and other callers can
//! pass [`Silent`].

/// Where the library's warnings, steps and progress go.
pub trait Reporter: Send + Sync {
    /// Something that must be seen whatever the mode, such as a retry.
    fn warn(&self, msg: &str);
    /// One line about a step of the work: `running: …`, `done: …`.
    fn step(&self, msg: &str);
    /// Starts measuring a long phase, out of `total` bytes when known.
    fn meter(&self, label: &str, total: Option<u64>) -> Box<dyn Meter>;
}

/// The running measure of one phase, as the reporter shows it.
pub trait Meter: Send + Sync {
    /// `n` more bytes are done.
    fn add(&self, n: u64);
    /// A step of this phase worth a line of its own (one home finished).
    fn note(&self, msg: &str);
    /// A warning that must be seen whatever the mode, shown without
    /// breaking this phase's bar.
    fn warn(&self, msg: &str);
    fn finish(&self);
}

/// Progress of one phase: the library's handle on a [`Meter`].
pub struct Progress(Box<dyn Meter>);

impl Progress {
    /// Starts reporting `label`, out of `total` bytes when known.
    pub fn start(reporter: &dyn Reporter, label: &str, total: Option<u64>) -> Progress {
        Progress(reporter.meter(label, total))
    }

    pub fn add(&self, n: u64) {
        self.0.add(n);
    }

    pub fn note(&self, msg: &str) {
        self.0.note(msg);
    }

    pub fn warn(&self, msg: &str) {
        self.0.warn(msg);
    }

    pub fn finish(&self) {
        self.0.finish();
    }
}

/// Reports nothing: for tests.
#[cfg(test)]
pub(crate) struct Silent;

#[cfg(test)]
impl Reporter for Silent {
    fn warn(&self, _: &str) {}
    fn step(&self, _: &str) {}
    fn meter(&self, _: &str, _: Option<u64>) -> Box<dyn Meter> {
        Box::new(Silent)
    }
}

#[cfg(test)]
impl Meter for Silent {
    fn add(&self, _: u64) {}
    fn note(&self, _: &str) {}
    fn warn(&self, _: &str) {}
    fn finish(&self) {}
}
