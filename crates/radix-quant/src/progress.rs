//! How long work reports how far it is. The library never draws or prints: it calls a
//! [`Progress`] the caller gives (the command line renders it as progress bars).

/// Receives `done` of `total` steps of the work named `stage` ("calibrating", "bias adjust",
/// "verifying"). Called from worker threads; `done` may arrive out of order.
pub trait Progress: Sync {
    /// `done` of `total` steps of `stage` are finished.
    fn update(&self, stage: &str, done: usize, total: usize);
}

/// Reports nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {
    fn update(&self, _: &str, _: usize, _: usize) {}
}

impl<F: Fn(&str, usize, usize) + Sync> Progress for F {
    fn update(&self, stage: &str, done: usize, total: usize) {
        self(stage, done, total)
    }
}
