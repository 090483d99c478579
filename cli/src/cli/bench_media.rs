//! `tessera bench media`: tokenizer throughput at the published sizes with random weights —
//! MAGVIT-v2 on a 256×256 picture and EnCodec 24 kHz on 10 s of sound, encode and decode.

use std::time::Instant;

use tessera::modalities::audio::{AudioTokenizer, Encodec, EncodecConfig, Pcm};
use tessera::modalities::image::{ImageTokenizer, MagvitV2, MagvitV2Config, RgbImage};

use super::CliError;

/// Options of `bench media`.
#[derive(Debug, clap::Args)]
pub(crate) struct MediaArgs {
    /// Timed repetitions (the fastest is reported).
    #[arg(long, default_value_t = 2)]
    repeat: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    /// Time only this tokenizer.
    #[arg(long, value_enum)]
    only: Option<Tokenizer>,
}

/// The tokenizers `bench media` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Tokenizer {
    /// MAGVIT-v2 on a 256×256 picture.
    Magvit,
    /// EnCodec 24 kHz on 10 s of sound.
    Encodec,
}

pub(crate) fn run(args: MediaArgs) -> Result<(), CliError> {
    let mut rows: Vec<(String, f64, &str)> = Vec::new();
    if args.only != Some(Tokenizer::Encodec) {
        magvit_rows(&args, &mut rows)?;
    }
    if args.only != Some(Tokenizer::Magvit) {
        encodec_rows(&args, &mut rows)?;
    }
    for (measure, value, unit) in &rows {
        if args.json {
            println!(
                "{}",
                serde_json::json!({"measure": measure, "value": value, "unit": unit})
            );
        } else {
            println!("{measure:<48} {value:>10.2} {unit}");
        }
    }
    Ok(())
}

/// MAGVIT-v2 encode and decode of one published-size picture.
fn magvit_rows(args: &MediaArgs, rows: &mut Vec<(String, f64, &str)>) -> Result<(), CliError> {
    eprintln!("building a random MAGVIT-v2 (published size)");
    let magvit = MagvitV2::random(&MagvitV2Config::published(), 0)?;
    let (w, h) = magvit.resolution();
    let pixels: Vec<u8> = (0..w * h * 3)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let img = RgbImage::from_raw(w, h, pixels).ok_or("bad benchmark picture")?;
    let codes = magvit.encode(&img)?;
    let (enc, dec) = best(args.repeat, || {
        let t0 = Instant::now();
        let codes = magvit.encode(&img)?;
        let t1 = Instant::now();
        magvit.decode(&codes)?;
        Ok((t1 - t0, t1.elapsed()))
    })?;
    let grid = codes.height() * codes.width();
    rows.push((
        format!("MAGVIT-v2 encode {w}×{h} ({grid} codes)"),
        enc * 1e3,
        "ms",
    ));
    rows.push((format!("MAGVIT-v2 decode {w}×{h}"), dec * 1e3, "ms"));
    Ok(())
}

/// EnCodec 24 kHz encode and decode of 10 s of sound, and the real-time factor.
fn encodec_rows(args: &MediaArgs, rows: &mut Vec<(String, f64, &str)>) -> Result<(), CliError> {
    eprintln!("building a random EnCodec 24 kHz (published size)");
    let encodec = Encodec::random(EncodecConfig::default(), 0)?;
    let rate = encodec.sample_rate();
    let samples: Vec<f32> = (0..10 * rate as usize)
        .map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / rate as f32).sin() * 0.5)
        .collect();
    let pcm = Pcm::new(samples, rate)?;
    let (enc, dec) = best(args.repeat, || {
        let t0 = Instant::now();
        let codes = encodec.encode(&pcm)?;
        let t1 = Instant::now();
        encodec.decode(&codes)?;
        Ok((t1 - t0, t1.elapsed()))
    })?;
    rows.push(("EnCodec 24 kHz encode 10 s".into(), enc * 1e3, "ms"));
    rows.push(("EnCodec 24 kHz decode 10 s".into(), dec * 1e3, "ms"));
    rows.push((
        "EnCodec real-time factor (encode+decode)".into(),
        10.0 / (enc + dec),
        "x",
    ));
    Ok(())
}

/// The fastest of `repeat` runs (after one warm-up) of `f`, as seconds `(encode, decode)`.
fn best(
    repeat: usize,
    mut f: impl FnMut() -> Result<(std::time::Duration, std::time::Duration), CliError>,
) -> Result<(f64, f64), CliError> {
    f()?;
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..repeat.max(1) {
        let (e, d) = f()?;
        if e.as_secs_f64() + d.as_secs_f64() < best.0 + best.1 {
            best = (e.as_secs_f64(), d.as_secs_f64());
        }
    }
    Ok(best)
}
