//! `tessera generate`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use clap::ValueEnum;
use tessera::{
    CacheMode, ChatMessage, DecodeOptions, Device, DreamAlg, Dtype, Engine, EngineOptions,
    GenerateRequest, Policy, Prompt, Remask, Remasking, SamplerKind, Schedule, Segment, Unmask,
};

use super::CliError;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SamplerArg {
    Llada,
    Dream,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RemaskingArg {
    LowConfidence,
    Random,
    Margin,
    Entropy,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AlgArg {
    Origin,
    MaskgitPlus,
    TopkMargin,
    Entropy,
}

/// `tessera generate` flags (a contract: keep the names).
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub(crate) struct GenerateArgs {
    /// Model folder.
    #[arg(long)]
    model: PathBuf,
    /// Prompt text.
    #[arg(
        long,
        conflicts_with = "prompt_ids",
        required_unless_present = "prompt_ids"
    )]
    prompt: Option<String>,
    /// Render the prompt as a user turn with the model's chat template.
    #[arg(long, requires = "prompt")]
    chat: bool,
    /// Prompt as comma-separated token ids.
    #[arg(long, value_delimiter = ',')]
    prompt_ids: Option<Vec<u32>>,
    /// Tokens to generate.
    #[arg(long, required_unless_present = "segment")]
    gen_length: Option<usize>,
    /// Denoising steps.
    #[arg(long, required_unless_present = "segment")]
    steps: Option<usize>,
    /// A span of the generation decoded with its own policy: LEN:POLICY[:STEPS[:BLOCK]],
    /// repeated for several spans in order (LLaDA sampler; --gen-length and --steps default
    /// to their sums).
    #[arg(long, value_parser = parse_segment)]
    segment: Vec<Segment>,
    /// Block length (LLaDA sampler).
    #[arg(long)]
    block_length: Option<usize>,
    /// Sampler (default: the model family's own).
    #[arg(long, value_enum)]
    sampler: Option<SamplerArg>,
    /// How the LLaDA sampler scores positions: low-confidence, random, margin or entropy.
    #[arg(long, value_enum)]
    remasking: Option<RemaskingArg>,
    /// Unmask rule: count, threshold:T, factor:F or entropy-bound:G (LLaDA sampler).
    #[arg(long, value_parser = parse_unmask)]
    unmask: Option<Unmask>,
    /// Schedule of the count rule: linear or cosine (LLaDA sampler).
    #[arg(long, value_parser = parse_schedule)]
    schedule: Option<Schedule>,
    /// Cached forwards: none, prefix or dual (Fast-dLLM); block needs block-causal attention.
    #[arg(long, value_parser = parse_cache)]
    cache: Option<CacheMode>,
    /// Decoding order: ar, diffusion, block or hybrid (LLaDA sampler).
    #[arg(long, value_parser = parse_policy)]
    policy: Option<Policy>,
    /// Stop once EOS is committed with everything before it decided.
    #[arg(long)]
    until_eos: bool,
    /// DAEDAL: start at --gen-length and grow by blocks while the model does not expect the end.
    #[arg(long)]
    expand: bool,
    /// Hard maximum of generated tokens with --expand.
    #[arg(long, requires = "expand")]
    max_length: Option<usize>,
    /// Remasking: none, rcr, refine:ROUNDS:FRACTION, remdm-cap[:ETA], remdm-rescale[:ETA],
    /// remdm-conf or remdm-loop[:ETA] (LLaDA sampler).
    #[arg(long, value_parser = parse_remask)]
    remask: Option<Remask>,
    /// Dream algorithm.
    #[arg(long, value_enum)]
    alg: Option<AlgArg>,
    /// Dream position-sampling temperature.
    #[arg(long)]
    alg_temp: Option<f64>,
    /// Dream final timestep.
    #[arg(long)]
    eps: Option<f64>,
    /// Token temperature (0 = greedy).
    #[arg(long)]
    temperature: Option<f64>,
    /// Nucleus filter before sampling and scoring.
    #[arg(long)]
    top_p: Option<f64>,
    /// Top-k filter before sampling and scoring.
    #[arg(long)]
    top_k: Option<usize>,
    /// Classifier-free guidance scale (LLaDA).
    #[arg(long)]
    cfg_scale: Option<f64>,
    /// Never generate EOS (LLaDA `logits_eos_inf`).
    #[arg(long)]
    logits_eos_inf: bool,
    /// Commit EOS/EoT last (LLaDA `confidence_eos_eot_inf`).
    #[arg(long)]
    confidence_eos_eot_inf: bool,
    /// Noise seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Compute precision: f32, bf16 or f16 (default: the checkpoint's).
    #[arg(long, value_parser = parse_dtype)]
    dtype: Option<Dtype>,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: Device,
    /// Print one JSON object (ids, text, stats).
    #[arg(long)]
    json: bool,
    /// With --json: add a `steps` array (committed and re-masked positions of every step).
    #[arg(long, requires = "json")]
    events: bool,
}

fn parse_dtype(s: &str) -> Result<Dtype, String> {
    Dtype::parse(s).ok_or_else(|| format!("unknown dtype {s:?} (f32, bf16, f16)"))
}

fn parse_unmask(s: &str) -> Result<Unmask, String> {
    Unmask::parse(s).map_err(|e| e.to_string())
}

fn parse_schedule(s: &str) -> Result<Schedule, String> {
    Schedule::parse(s).map_err(|e| e.to_string())
}

fn parse_cache(s: &str) -> Result<CacheMode, String> {
    CacheMode::parse(s).map_err(|e| e.to_string())
}

fn parse_remask(s: &str) -> Result<Remask, String> {
    Remask::parse(s).map_err(|e| e.to_string())
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    Policy::parse(s).map_err(|e| e.to_string())
}

fn parse_segment(s: &str) -> Result<Segment, String> {
    Segment::parse(s).map_err(|e| e.to_string())
}

fn parse_device(s: &str) -> Result<Device, String> {
    Device::parse(s).ok_or_else(|| format!("unknown device {s:?} (cpu, cuda, cuda:N)"))
}

impl GenerateArgs {
    fn options(&self) -> DecodeOptions {
        let mut o = DecodeOptions::new().seed(self.seed);
        o.gen_length = self.gen_length;
        o.steps = self.steps;
        if !self.segment.is_empty() {
            o.segments = Some(self.segment.clone());
        }
        o.sampler = self.sampler.map(|s| match s {
            SamplerArg::Llada => SamplerKind::Llada,
            SamplerArg::Dream => SamplerKind::Dream,
        });
        o.block_length = self.block_length;
        o.remasking = self.remasking.map(|r| match r {
            RemaskingArg::LowConfidence => Remasking::LowConfidence,
            RemaskingArg::Random => Remasking::Random,
            RemaskingArg::Margin => Remasking::Margin,
            RemaskingArg::Entropy => Remasking::Entropy,
        });
        o.alg = self.alg.map(|a| match a {
            AlgArg::Origin => DreamAlg::Origin,
            AlgArg::MaskgitPlus => DreamAlg::MaskgitPlus,
            AlgArg::TopkMargin => DreamAlg::TopkMargin,
            AlgArg::Entropy => DreamAlg::Entropy,
        });
        o.unmask = self.unmask;
        o.schedule = self.schedule;
        o.cache = self.cache;
        o.remask = self.remask;
        o.policy = self.policy;
        o.until_eos = self.until_eos;
        o.expand = self.expand;
        o.max_length = self.max_length;
        o.alg_temp = self.alg_temp;
        o.eps = self.eps;
        o.temperature = self.temperature;
        o.top_p = self.top_p;
        o.top_k = self.top_k;
        o.cfg_scale = self.cfg_scale;
        o.logits_eos_inf = self.logits_eos_inf;
        o.confidence_eos_eot_inf = self.confidence_eos_eot_inf;
        o
    }

    fn prompt(&self) -> Prompt {
        match (&self.prompt, &self.prompt_ids) {
            (Some(text), _) if self.chat => Prompt::Chat(vec![ChatMessage::user(text.clone())]),
            (Some(text), _) => Prompt::Text(text.clone()),
            (None, Some(ids)) => Prompt::Ids(ids.clone()),
            (None, None) => Prompt::Ids(Vec::new()),
        }
    }
}

pub(crate) fn run(args: GenerateArgs) -> Result<(), CliError> {
    let mut opts = EngineOptions::default().device(args.device);
    if let Some(d) = args.dtype {
        opts = opts.dtype(d);
    }
    let engine = Engine::load_with(&args.model, &opts)?;
    let request = GenerateRequest::new(args.prompt()).options(args.options());
    let interactive = std::io::stderr().is_terminal() && !args.json;
    let start = Instant::now();
    let mut shown = false;
    let mut steps = Vec::new();
    let response = engine.generate_with_progress(&request, &mut |s| {
        // Progress only when it takes more than a moment, and only to a terminal.
        if interactive && start.elapsed().as_millis() > 300 {
            eprint!("\rstep {}/{}", s.step, s.total_steps);
            shown = true;
        }
        if args.events {
            steps.push(s);
        }
    })?;
    if shown {
        eprintln!();
    }
    let output = &response.outputs[0];
    if args.json {
        let mut v = serde_json::json!({
            "ids": output.ids,
            "text": output.text,
            "stats": response.stats,
            "family": engine.info().family,
        });
        if args.events {
            v["steps"] = serde_json::to_value(&steps)?;
        }
        println!("{v}");
    } else {
        match &output.text {
            Some(text) => println!("{text}"),
            None => println!(
                "{}",
                output
                    .ids
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
    Ok(())
}
