//! Progress bars on stderr for the library's progress reports (the library never draws).

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One bar per stage; a new stage finishes the previous bar. Hidden when stderr is not a
/// terminal (indicatif's stderr target).
#[derive(Default)]
pub(crate) struct Bars {
    current: Mutex<Option<(String, ProgressBar)>>,
}

impl radix::Progress for Bars {
    fn update(&self, stage: &str, done: usize, total: usize) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        if current.as_ref().is_none_or(|(s, _)| s != stage) {
            if let Some((_, old)) = current.take() {
                old.finish_and_clear();
            }
            let pb =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:>12} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}",
            ) {
                pb.set_style(style.progress_chars("=> "));
            }
            pb.set_message(stage.to_string());
            *current = Some((stage.to_string(), pb));
        }
        if let Some((_, pb)) = current.as_ref() {
            pb.set_length(total as u64);
            pb.set_position((done as u64).max(pb.position()));
            if done >= total {
                pb.finish_and_clear();
            }
        }
    }
}
