//! `tessera bench load-rss` (internal, run in a fresh process by `bench forward`): the peak
//! resident memory of loading a model, and of decoding with it afterwards.

use std::path::Path;

use tessera::backbone::{Backbone, Dtype, LoadOptions};
use tessera::hybrid::SeededNoise;
use tessera::hybrid::llada;

use super::CliError;

/// Loads `model` (in `dtype`, if given), then decodes (LLaDA sampler, gen 128, 8 steps), and
/// prints the load peak, the checkpoint's size, the decode peak (the highest resident size
/// while decoding) and the bytes the loaded weights occupy, in bytes; both peaks are counted
/// from the resident size before loading.
pub(crate) fn load_rss(model: &Path, dtype: Option<Dtype>) -> Result<(), CliError> {
    let before = status_kib("VmRSS:")?;
    let mut opts = LoadOptions::default();
    opts.dtype = dtype;
    let m = Backbone::load_with(model, &opts)?;
    let peak = status_kib("VmHWM:")?;
    // The decode peak is the peak while decoding: restart the high-water mark at the
    // resident size after loading (Linux: writing 5 to `clear_refs`), so the load's
    // transients (a matrix being quantized, mapped pages) do not count twice.
    std::fs::write("/proc/self/clear_refs", "5")?;
    let (batch, opts) = super::bench::llada_bench_run(m.info(), 8)?;
    llada::generate(&m, &batch, &opts, &SeededNoise::new(0), &mut |_| {})?;
    let decode_peak = status_kib("VmHWM:")?;
    println!(
        "{} {} {} {}",
        (peak.saturating_sub(before)) * 1024,
        m.info().checkpoint_bytes,
        (decode_peak.saturating_sub(before)) * 1024,
        m.weight_bytes()
    );
    Ok(())
}

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> Result<u64, CliError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("{field} not found in /proc/self/status").into())
}
