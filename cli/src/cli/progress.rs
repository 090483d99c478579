//! Progress bars (`indicatif`) for the CLI's long work, drawn on stderr only when it is a
//! terminal and the output is not JSON: scripts and pipes see nothing of them.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` units labelled `what`; hidden under `--json` or without a terminal.
pub(crate) fn bar(len: u64, what: &str, json: bool) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        return bar;
    }
    let style = ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} (ETA {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// A spinner for work of unknown length (loading a model).
pub(crate) fn spinner(what: &str, json: bool) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if json || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        return bar;
    }
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
