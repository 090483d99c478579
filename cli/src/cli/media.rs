//! `tessera image encode|decode` and `tessera audio encode|decode`: the tokenizers on their
//! own, with the JSON shapes the rest of the CLI reads back (`--codes FILE`).

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use tessera::modalities::audio::{
    AudioCodes, AudioTokenizer, Encodec, decode_file_with, load_audio_tokenizer, resample_with,
    write_wav,
};
use tessera::modalities::image::{ImageCodes, load_image_tokenizer, load_image_with, save_png};
use tessera::{AudioReadLimits, ImageReadLimits};

use super::CliError;

/// `tessera image …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Encode a picture (PNG, JPEG) to codes.
    Encode {
        /// Image tokenizer folder (MAGVIT-v2 or patch VQ).
        #[arg(long)]
        vq: PathBuf,
        /// The picture.
        input: PathBuf,
        /// Print `{"codes": [...row-major...], "height": H, "width": W}`.
        #[arg(long)]
        json: bool,
        /// Limits of reading the picture.
        #[command(flatten)]
        limits: ImageReadLimits,
    },
    /// Decode codes (the JSON `encode --json` prints) to a PNG.
    Decode {
        /// Image tokenizer folder.
        #[arg(long)]
        vq: PathBuf,
        /// The codes file.
        #[arg(long)]
        codes: PathBuf,
        /// Output PNG.
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// `tessera audio …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AudioCommand {
    /// Encode a sound file (WAV, FLAC, MP3, OGG/Vorbis) to codes.
    Encode {
        /// Audio codec folder (EnCodec or frame VQ).
        #[arg(long)]
        codec: PathBuf,
        /// The sound file.
        input: PathBuf,
        /// EnCodec bandwidth in kbps (picks the number of codebooks; default: the config's
        /// lowest target bandwidth).
        #[arg(long, allow_hyphen_values = true)]
        bandwidth: Option<f64>,
        /// Print `{"codes": [[level 0 frames…], …], "sample_rate": SR}`.
        #[arg(long)]
        json: bool,
        /// Limits of reading the sound.
        #[command(flatten)]
        limits: AudioReadLimits,
    },
    /// Decode codes (the JSON `encode --json` prints) to a 16-bit WAV.
    Decode {
        /// Audio codec folder.
        #[arg(long)]
        codec: PathBuf,
        /// The codes file.
        #[arg(long)]
        codes: PathBuf,
        /// Output WAV.
        #[arg(short, long)]
        output: PathBuf,
    },
}

pub(crate) fn run_image(cmd: ImageCommand) -> Result<(), CliError> {
    match cmd {
        ImageCommand::Encode {
            vq,
            input,
            json,
            limits,
        } => {
            let codes = encode_image(&vq, &input, &limits)?;
            if json {
                println!("{}", serde_json::to_string(&codes)?);
            } else {
                println!("{}×{} codes", codes.height(), codes.width());
                for row in codes.codes().chunks(codes.width().max(1)) {
                    let row: Vec<String> = row.iter().map(u32::to_string).collect();
                    println!("{}", row.join(" "));
                }
            }
        }
        ImageCommand::Decode { vq, codes, output } => {
            let codes: ImageCodes = read_json(&codes)?;
            let tokenizer = load_image_tokenizer(&vq)?;
            save_png(&tokenizer.decode(&codes)?, &output)?;
            eprintln!("wrote {}", output.display());
        }
    }
    Ok(())
}

pub(crate) fn run_audio(cmd: AudioCommand) -> Result<(), CliError> {
    match cmd {
        AudioCommand::Encode {
            codec,
            input,
            bandwidth,
            json,
            limits,
        } => {
            let tokenizer = audio_tokenizer(&codec, bandwidth)?;
            let reader = limits.reader();
            let pcm = decode_file_with(&input, &reader)?;
            let pcm = if pcm.sample_rate == tokenizer.sample_rate() {
                pcm
            } else {
                resample_with(&pcm, tokenizer.sample_rate(), &reader)?
            };
            let codes = tokenizer.encode(&pcm)?;
            if json {
                println!("{}", serde_json::to_string(&codes)?);
            } else {
                println!(
                    "{} levels × {} frames at {} Hz",
                    codes.levels(),
                    codes.frames(),
                    codes.sample_rate
                );
                for (l, level) in codes.codes.iter().enumerate() {
                    let row: Vec<String> = level.iter().map(u32::to_string).collect();
                    println!("level {l}: {}", row.join(" "));
                }
            }
        }
        AudioCommand::Decode {
            codec,
            codes,
            output,
        } => {
            let codes: AudioCodes = read_json(&codes)?;
            let tokenizer = load_audio_tokenizer(&codec)?;
            write_wav(&output, &tokenizer.decode(&codes)?)?;
            eprintln!("wrote {}", output.display());
        }
    }
    Ok(())
}

/// Codes of the picture at `input` through the tokenizer in `vq`.
pub(crate) fn encode_image(
    vq: &Path,
    input: &Path,
    limits: &ImageReadLimits,
) -> Result<ImageCodes, CliError> {
    let tokenizer = load_image_tokenizer(vq)?;
    Ok(tokenizer.encode(&load_image_with(input, &limits.reader())?)?)
}

/// The codec in `dir`; `bandwidth` selects EnCodec's number of codebooks.
fn audio_tokenizer(
    dir: &Path,
    bandwidth: Option<f64>,
) -> Result<Box<dyn AudioTokenizer>, CliError> {
    match bandwidth {
        None => Ok(load_audio_tokenizer(dir)?),
        Some(b) => Ok(Box::new(Encodec::load(dir)?.with_bandwidth(b)?)),
    }
}

/// The most bytes of a codes file read: the codes of an 8192² picture or of ten minutes of
/// audio are a few MB; a device such as `/dev/zero` is not read without end.
const MAX_CODES_BYTES: u64 = 64 << 20;

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CliError> {
    let cannot =
        |e: std::io::Error| -> CliError { format!("cannot read {}: {e}", path.display()).into() };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(MAX_CODES_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > MAX_CODES_BYTES {
        return Err(format!(
            "{}: a codes file may have at most {MAX_CODES_BYTES} bytes",
            path.display()
        )
        .into());
    }
    serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a codes file: {e}", path.display()).into())
}
