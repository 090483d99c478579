//! `tessera download`: fetch a model from the Hugging Face Hub into the local Hub cache, where
//! `--model ID` then finds it offline. Only a build with the `hub` feature downloads; any
//! other says so.

use std::path::PathBuf;

use tessera::ModelDownload;

use super::CliError;

/// `tessera download`.
#[derive(Debug, clap::Args)]
pub(crate) struct DownloadArgs {
    /// Hub id: OWNER/NAME, optionally @REVISION (a branch, tag or commit).
    id: String,
    /// Hub cache folder to write; default: $HF_HUB_CACHE, else $HF_HOME/hub, else
    /// ~/.cache/huggingface/hub. The endpoint is $HF_ENDPOINT and the token $HF_TOKEN.
    #[arg(long)]
    cache: Option<PathBuf>,
}

/// Downloads and prints the snapshot folder on stdout (progress bars go to stderr).
pub(crate) fn run(args: DownloadArgs) -> Result<(), CliError> {
    let mut download = ModelDownload::from_env().progress(true);
    if let Some(cache) = args.cache {
        download = download.cache(cache);
    }
    let dir = download.fetch(&args.id)?;
    println!("{}", dir.display());
    Ok(())
}
