//! The `tessera` command line: a thin client of the SDK.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse_args();
    // Every forward op allocates its output afresh; kept in the heap (not mapped and unmapped
    // per op) those buffers are reused without page faults: about 5 % of a CPU forward.
    tune_malloc();
    if args.trains() {
        // Training runs one shard per core, each op single-threaded: candle reads these
        // once, at its first op, so they are set before any. A value the user set wins.
        for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
            if std::env::var_os(var).is_none() {
                // SAFETY: no other thread exists yet (nothing has run but argument parsing),
                // so nothing can read the environment concurrently.
                unsafe { std::env::set_var(var, "1") };
            }
        }
    }
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain, each cause once: a cause whose text an earlier line
            // already shows (errors that print their source inline) is not repeated.
            let mut shown = e.to_string();
            eprintln!("error: {shown}");
            if let Some(flag) = media_limit_flag(&*e) {
                eprintln!("  (on the command line: raise it with {flag})");
            }
            let mut source = std::error::Error::source(&*e);
            while let Some(s) = source {
                let text = s.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown.push_str(&text);
                }
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// The flag of `tessera` that raises the media reader's limit `e` reports, if it is one
/// (the reader's own message names its `ImageLimits`/`AudioLimits` field).
fn media_limit_flag(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use tessera::modalities::audio::AudioError;
    use tessera::modalities::image::ImageError;
    let image = e.downcast_ref::<ImageError>().or(match e.downcast_ref() {
        Some(tessera::Error::Image(i)) => Some(i),
        _ => None,
    });
    let audio = e.downcast_ref::<AudioError>().or(match e.downcast_ref() {
        Some(tessera::Error::Audio(a)) => Some(a),
        _ => None,
    });
    match (image, audio) {
        (Some(ImageError::FileTooLarge { .. }), _) => Some("--max-image-bytes"),
        (
            Some(
                ImageError::TooLarge { .. }
                | ImageError::ResizeTooLarge { .. }
                | ImageError::AllocationLimit { .. },
            ),
            _,
        ) => Some("--max-image-pixels"),
        (_, Some(AudioError::FileTooLarge { .. })) => Some("--max-audio-bytes"),
        (_, Some(AudioError::TooLong { .. })) => Some("--max-audio-seconds"),
        _ => None,
    }
}

/// Training allocates and frees tensors of a few megabytes per op on two threads at once. By
/// default glibc serves each with a fresh `mmap` and returns it with `munmap`, and the page
/// faults of two threads then queue on the process's one memory map: a third of a step went
/// to the kernel. Serving them from the heap, kept (not trimmed) between steps, removes that
/// (measured: 1.3× training throughput on the 2-core machine).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_TOP_PAD: i32 = -2;
    const M_MMAP_THRESHOLD: i32 = -3;
    for (param, value) in [
        (M_MMAP_THRESHOLD, 32 << 20),
        (M_TRIM_THRESHOLD, 1 << 30),
        (M_TOP_PAD, 256 << 20),
    ] {
        // SAFETY: mallopt only changes allocator parameters; it is called before any
        // other thread exists. A refused value (return 0) leaves glibc's default.
        unsafe { mallopt(param, value) };
    }
}

/// Allocator tuning is glibc's; elsewhere the default allocator stays as it is.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}
