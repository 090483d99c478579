//! Argument parsing and dispatch. Every flag maps onto an SDK field; nothing is decided here
//! that the SDK cannot do.

mod bench;
mod bench_forward;
mod bench_media;
mod bench_memory;
mod bench_profile;
#[cfg(feature = "http")]
mod bench_serve;
mod bench_train;
mod download;
mod eval;
mod generate;
mod inspect;
mod media;
mod progress;
#[cfg(feature = "http")]
mod serve;
mod train;
mod world;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Boxed error for the binary (library errors keep their types inside).
pub(crate) type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Tessera: masked-diffusion language models in Rust.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options of `generate` (declared in the SDK's `DecodeOptions`) whose values may begin with
/// `-`: `--temperature -inf` or `--segment -8:ar` is that value, refused by its own parser
/// with the option's name, not an unknown flag `-i` or `-8`.
const HYPHEN_VALUES: [&str; 6] = [
    "temperature",
    "top_p",
    "cfg_scale",
    "alg_temp",
    "eps",
    "segments",
];

impl Cli {
    /// Parses the process's arguments (exits with clap's message and code 2 on a usage
    /// error).
    pub(crate) fn parse_args() -> Self {
        let command = Self::command().mut_subcommand("generate", |c| {
            HYPHEN_VALUES
                .iter()
                .fold(c, |c, id| c.mut_arg(*id, |a| a.allow_hyphen_values(true)))
        });
        Self::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
    }

    /// Whether the command trains (it runs candle single-threaded per op and parallel over
    /// shards instead; see [`tessera_train::default_workers`]).
    pub(crate) fn trains(&self) -> bool {
        match &self.command {
            Command::Train(_) => true,
            Command::Bench(b) => b.trains(),
            _ => false,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate text with a model.
    Generate(Box<generate::GenerateArgs>),
    /// Describe a model folder.
    Inspect(InspectArgs),
    /// Fetch a model from the Hugging Face Hub into the local Hub cache (builds with the
    /// `hub` feature).
    Download(download::DownloadArgs),
    /// Benchmarks (forward passes and sampler throughput on random models).
    Bench(bench::BenchArgs),
    /// Image tokenizers: pictures to codes and back.
    #[command(subcommand)]
    Image(media::ImageCommand),
    /// Audio codecs: sound files to codes and back.
    #[command(subcommand)]
    Audio(media::AudioCommand),
    /// Evaluate a Tessera world model per task and decoding policy on held-out examples.
    Eval(eval::EvalArgs),
    /// Train a Tessera world model (masked-diffusion ELBO on candle autograd).
    Train(train::TrainArgs),
    /// Serve a model over HTTP: native and OpenAI-compatible endpoints, SSE, metrics.
    #[cfg(feature = "http")]
    Serve(Box<serve::ServeArgs>),
}

/// `tessera inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// Model folder (config.json, safetensors, tokenizer.json); default: tessera-tiny.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// The model folder a command uses: `--model` (a folder or a Hub id in the local Hub
/// cache), else `$TESSERA_MODEL`, else the embedded
/// default `models/tessera-tiny` (next to the working directory, or in the source tree the
/// binary was built from).
pub(crate) fn model_dir(flag: Option<&std::path::Path>) -> Result<PathBuf, CliError> {
    if let Some(dir) = flag {
        // A folder, or a Hugging Face Hub id found in the local Hub cache.
        return Ok(tessera::resolve_model(dir)?);
    }
    if let Some(dir) = std::env::var_os("TESSERA_MODEL") {
        return Ok(PathBuf::from(dir));
    }
    let candidates = [
        PathBuf::from("models/tessera-tiny"),
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/tessera-tiny"
        )),
    ];
    candidates
        .into_iter()
        .find(|d| d.join("model.safetensors").exists())
        .ok_or_else(|| {
            "no --model given and the default model models/tessera-tiny was not found \
             (set TESSERA_MODEL or pass --model DIR)"
                .into()
        })
}

pub(crate) fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Generate(args) => generate::run(*args),
        Command::Inspect(args) => inspect::run(&model_dir(args.model.as_deref())?, args.json),
        Command::Download(args) => download::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Image(cmd) => media::run_image(cmd),
        Command::Audio(cmd) => media::run_audio(cmd),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        #[cfg(feature = "http")]
        Command::Serve(args) => serve::run(*args),
    }
}
