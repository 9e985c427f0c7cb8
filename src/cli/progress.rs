//! Progress bars on stderr, only when it is a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use dv_core::progress::{NoProgress, Progress, Unit};

pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

/// A progress sink for a command: bars on a terminal, nothing otherwise.
pub fn for_terminal(quiet: bool) -> Box<dyn Progress> {
    if quiet || !std::io::stderr().is_terminal() {
        Box::new(NoProgress)
    } else {
        Box::new(Bar {
            bar: Mutex::new(None),
        })
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>, unit: Unit) {
        let bar = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::new_spinner(),
        };
        let template = match unit {
            Unit::Bytes => {
                "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
            }
            Unit::Files => "{msg:>12} [{bar:30}] {pos}/{len} files {per_sec} eta {eta}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        *self.bar.lock().expect("progress poisoned") = Some(bar);
    }

    fn inc(&self, n: u64) {
        if let Some(b) = self.bar.lock().expect("progress poisoned").as_ref() {
            b.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("progress poisoned").take() {
            b.finish_and_clear();
        }
    }
}
