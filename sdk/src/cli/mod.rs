//! Argument parsing and dispatch. Every flag maps onto an SDK field; nothing is decided here
//! that the SDK cannot do.

mod bench;
mod bench_media;
mod generate;
mod inspect;
mod media;
mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Boxed error for the binary (library errors keep their types inside).
pub(crate) type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Tessera: masked-diffusion language models in Rust.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate text with a model.
    Generate(Box<generate::GenerateArgs>),
    /// Describe a model folder.
    Inspect(InspectArgs),
    /// Benchmarks (forward passes and sampler throughput on random models).
    Bench(bench::BenchArgs),
    /// Image tokenizers: pictures to codes and back.
    #[command(subcommand)]
    Image(media::ImageCommand),
    /// Audio codecs: sound files to codes and back.
    #[command(subcommand)]
    Audio(media::AudioCommand),
    /// Train a Tessera world model (masked-diffusion ELBO on candle autograd).
    Train(train::TrainArgs),
}

/// `tessera inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// Model folder (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Generate(args) => generate::run(*args),
        Command::Inspect(args) => inspect::run(&args.model, args.json),
        Command::Bench(args) => bench::run(args),
        Command::Image(cmd) => media::run_image(cmd),
        Command::Audio(cmd) => media::run_audio(cmd),
        Command::Train(args) => train::run(args),
    }
}
