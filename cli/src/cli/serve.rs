//! `tessera serve`: the HTTP server on a model (default: tessera-tiny on 127.0.0.1:8080).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tessera::http::{ServerConfig, listen, router, serve, shutdown_signal};
use tessera::service::{ServiceOptions, TesseraService};
use tessera::{Engine, Limits};

use super::{CliError, model_dir};

/// `tessera serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Model folder or Hub id in the local Hub cache (default: the embedded tessera-tiny).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Address to listen on (default: loopback only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port; the URL printed says which).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// A TOML file with `[server]`, `[scheduler]` and `[limits]` tables (keys as the flags,
    /// with `_`); flags given here win over it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Largest request body in bytes.
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Largest `max_tokens` a request may ask.
    #[arg(long)]
    max_tokens: Option<usize>,
    /// Seconds a request may take, queueing included (then 408).
    #[arg(long)]
    request_timeout_secs: Option<u64>,
    /// Streams open at once (then 503).
    #[arg(long)]
    max_streams: Option<usize>,
    /// Requests that may wait for admission (then 503).
    #[arg(long)]
    queue_size: Option<usize>,
    /// Requests decoding at once.
    #[arg(long)]
    max_active: Option<usize>,
    /// Seconds in-flight requests get after SIGTERM/Ctrl-C.
    #[arg(long)]
    shutdown_grace_secs: Option<u64>,
    /// Log format on stderr: pretty or json.
    #[arg(long, default_value = "pretty", value_parser = ["pretty", "json"])]
    log_format: String,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log_level: tracing::Level,
    /// Resource limits of each request (a flag set to other than its default wins over
    /// the file's `[limits]`).
    #[command(flatten)]
    limits: Limits,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ServeFile {
    server: ServerConfig,
    scheduler: ServiceOptions,
    limits: Option<Limits>,
}

fn read_config(path: &Path) -> Result<ServeFile, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --config {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("--config {}: {e}", path.display()).into())
}

/// Sends `tracing`'s events (load, admission, steps, answers, HTTP requests) to stderr.
fn init_logging(format: &str, level: tracing::Level) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    // A subscriber set already (none here) keeps its place.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub(crate) fn run(args: ServeArgs) -> Result<(), CliError> {
    init_logging(&args.log_format, args.log_level);
    let file = match &args.config {
        Some(path) => read_config(path)?,
        None => ServeFile::default(),
    };
    let mut server = file.server;
    let mut scheduler = file.scheduler;
    let overrides = [
        (args.max_body_bytes, &mut server.max_body_bytes),
        (args.max_tokens, &mut server.max_tokens),
        (args.max_streams, &mut server.max_streams),
        (args.queue_size, &mut scheduler.queue_capacity),
        (args.max_active, &mut scheduler.max_active),
    ];
    for (flag, field) in overrides {
        if let Some(v) = flag {
            *field = v;
        }
    }
    if let Some(v) = args.request_timeout_secs {
        server.request_timeout_secs = v;
    }
    if let Some(v) = args.shutdown_grace_secs {
        server.shutdown_grace_secs = v;
    }
    let limits = match file.limits {
        Some(from_file) if args.limits == Limits::default() => from_file,
        _ => args.limits.clone(),
    };
    let dir = model_dir(args.model.as_deref())?;
    let loading = super::progress::spinner("loading the model", false);
    let engine = Engine::load(&dir)?.with_limits(limits);
    loading.finish_and_clear();
    // The id clients name: a Hub id as given, else the folder's name.
    let name = match &args.model {
        Some(m) if !m.is_dir() => m.to_string_lossy().into_owned(),
        _ => dir
            .file_name()
            .map_or_else(|| "model".to_string(), |n| n.to_string_lossy().into_owned()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let service = TesseraService::new(engine, scheduler)?;
        let listener = listen((args.host.as_str(), args.port))
            .await
            .map_err(|e| format!("cannot listen on {}:{}: {e}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        let grace = Duration::from_secs(server.shutdown_grace_secs);
        eprintln!("serving {name} on http://{addr}/ (Ctrl-C to stop)");
        serve(
            listener,
            router(service, &name, server),
            shutdown_signal(),
            grace,
        )
        .await?;
        eprintln!("stopped");
        Ok::<(), CliError>(())
    })
}
