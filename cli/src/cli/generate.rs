//! `tessera generate`.

use std::path::PathBuf;
use std::time::Instant;

use clap::ValueEnum;
use tessera::modalities::image::{ImageCodes, load_image_tokenizer, load_image_with, save_png};
use tessera::{
    Annealing, CaptionRequest, ChatMessage, DecodeOptions, Device, Dtype, Engine, EngineOptions,
    GenerateRequest, ImageOptions, ImageRequest, Limits, Prompt, WorldTask,
};

use super::CliError;

/// What `tessera generate` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TaskArg {
    /// Text from a text prompt (the default).
    Text,
    /// A picture from a text prompt (MMaDA, Tessera world models; needs -o).
    T2i,
    /// Text about a picture (MMaDA, Tessera world models).
    Caption,
    /// A sound from note names (Tessera world models; needs -o).
    T2a,
    /// Note names from a sound (Tessera world models; needs --audio).
    Transcribe,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AnnealingArg {
    Mmada,
    Maskgit,
}

/// `tessera generate` flags (a contract: keep the names).
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub(crate) struct GenerateArgs {
    /// Model folder (default: the embedded tessera-tiny, see `tessera inspect`).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Prompt text.
    #[arg(
        long,
        allow_hyphen_values = true,
        conflicts_with = "prompt_ids",
        required_unless_present_any = ["prompt_ids", "image", "audio"]
    )]
    prompt: Option<String>,
    /// What to generate: text (default), t2i (a picture, needs -o), caption (needs --image),
    /// t2a (a sound, needs -o) or transcribe (needs --audio).
    #[arg(long, value_enum, default_value_t = TaskArg::Text)]
    task: TaskArg,
    /// Image tokenizer folder for t2i and caption (default: the model folder's `vq/`).
    #[arg(long)]
    vq: Option<PathBuf>,
    /// The picture to caption.
    #[arg(long)]
    image: Option<PathBuf>,
    /// The sound to transcribe.
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Question asked about the picture (caption).
    #[arg(long, allow_hyphen_values = true)]
    question: Option<String>,
    /// Where t2i writes its PNG, t2a its WAV.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Text slots of MMaDA's t2i template (default 512).
    #[arg(long)]
    text_length: Option<usize>,
    /// How t2i's choice temperature anneals: mmada (default) or maskgit.
    #[arg(long, value_enum)]
    annealing: Option<AnnealingArg>,
    /// Render the prompt as a user turn with the model's chat template.
    #[arg(long, requires = "prompt")]
    chat: bool,
    /// Prompt as comma-separated token ids.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    prompt_ids: Option<Vec<u32>>,
    /// Decoding options (one declaration: `DecodeOptions`).
    #[command(flatten)]
    decode: DecodeOptions,
    /// Resource limits of the request.
    #[command(flatten)]
    limits: Limits,
    /// Compute precision: f32, bf16, f16, or quantized q8_0, q4_0, q4k, q6k (default: the
    /// checkpoint's; a GGUF file keeps each tensor's stored format).
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

pub(crate) fn parse_dtype(s: &str) -> Result<Dtype, String> {
    Dtype::parse(s)
        .ok_or_else(|| format!("unknown dtype {s:?} (f32, bf16, f16, q8_0, q4_0, q4k, q6k)"))
}

pub(super) fn parse_device(s: &str) -> Result<Device, String> {
    Device::parse(s).ok_or_else(|| format!("unknown device {s:?} (cpu, cuda, cuda:N)"))
}

impl GenerateArgs {
    fn options(&self) -> DecodeOptions {
        self.decode.clone()
    }

    /// Refuses every flag the model and task would not use, by name: nothing is silently
    /// ignored. `world`: a Tessera world model (its own tokenizers, its task templates).
    fn refuse_unused(&self, world: bool) -> Result<(), CliError> {
        use TaskArg::{Caption, T2a, T2i, Text, Transcribe};
        let task = self.task;
        let mmada_t2i = !world && task == T2i;
        let checks: [(&str, bool, bool); 8] = [
            (
                "--vq",
                self.vq.is_some(),
                !world && matches!(task, T2i | Caption),
            ),
            ("--image", self.image.is_some(), task == Caption),
            ("--audio", self.audio.is_some(), world && task == Transcribe),
            (
                "--question",
                self.question.is_some(),
                !world && task == Caption,
            ),
            ("--text-length", self.text_length.is_some(), mmada_t2i),
            ("--annealing", self.annealing.is_some(), mmada_t2i),
            ("--chat", self.chat, !world && task == Text),
            (
                "-o/--output",
                self.output.is_some(),
                matches!(task, T2i) || (world && task == T2a),
            ),
        ];
        if self.chat && self.prompt.is_none() {
            return Err(
                "`--chat` renders --prompt TEXT with the chat template, not --prompt-ids".into(),
            );
        }
        let model = if world { "a world model" } else { "this model" };
        let name = task
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string());
        for (flag, given, used) in checks {
            if given && !used {
                return Err(
                    format!("`{flag}` does not apply to `--task {name}` on {model}").into(),
                );
            }
        }
        if let Some(path) = &self.output {
            let want = if task == T2a { "wav" } else { "png" };
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if ext.as_deref() != Some(want) {
                return Err(format!(
                    "`-o {}`: `--task {name}` writes a .{want} file",
                    path.display()
                )
                .into());
            }
        }
        if mmada_t2i {
            // MaskGIT takes steps, guidance, temperature and the seed; nothing else.
            let mut rest = self.decode.clone();
            rest.steps = None;
            rest.cfg_scale = None;
            rest.temperature = None;
            rest.seed = 0;
            let set = serde_json::to_value(&rest).unwrap_or_default();
            let unset = serde_json::to_value(DecodeOptions::default()).unwrap_or_default();
            if let Some(spec) = DecodeOptions::OPTIONS
                .iter()
                .find(|spec| set.get(spec.name) != unset.get(spec.name))
            {
                return Err(format!(
                    "`--{}` does not apply to text-to-image (MaskGIT takes --steps, \
                     --cfg-scale, --temperature and --seed)",
                    spec.name.replace('_', "-")
                )
                .into());
            }
        }
        Ok(())
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
    let model = super::model_dir(args.model.as_deref())?;
    let engine = Engine::load_with(&model, &opts)?.with_limits(args.limits.clone());
    args.refuse_unused(engine.is_world_model())?;
    if engine.is_world_model() {
        let task = match args.task {
            TaskArg::Text => WorldTask::Text,
            TaskArg::T2i => WorldTask::T2i,
            TaskArg::Caption => WorldTask::Caption,
            TaskArg::T2a => WorldTask::T2a,
            TaskArg::Transcribe => WorldTask::Transcribe,
        };
        if args.prompt.is_none() && args.prompt_ids.is_some() {
            return Err("Tessera world models take --prompt text, not ids".into());
        }
        let world = super::world::WorldArgs {
            task,
            prompt: args.prompt.as_deref(),
            image: args.image.as_deref(),
            audio: args.audio.as_deref(),
            output: args.output.as_deref(),
            json: args.json,
            limits: &args.limits,
        };
        return super::world::run(&engine, &world, args.options());
    }
    match args.task {
        TaskArg::T2a | TaskArg::Transcribe => {
            return Err(format!(
                "`--task {}` needs a Tessera world model (e.g. models/tessera-tiny)",
                if args.task == TaskArg::T2a {
                    "t2a"
                } else {
                    "transcribe"
                }
            )
            .into());
        }
        TaskArg::T2i => return text_to_image(&engine, &args),
        TaskArg::Caption => return caption(&engine, &args),
        TaskArg::Text => {}
    }
    let args = GenerateArgs {
        model: Some(model),
        ..args
    };
    let request = GenerateRequest::new(args.prompt()).options(args.options());
    // A bar only to a terminal, without --json (hidden otherwise), and only once a
    // generation takes more than a moment.
    let mut bar = None;
    let start = Instant::now();
    let mut steps = Vec::new();
    let response = engine.generate_with_progress(&request, &mut |s| {
        if start.elapsed().as_millis() > 300 {
            let bar = bar.get_or_insert_with(|| {
                super::progress::bar(s.total_steps as u64, "generate", args.json)
            });
            bar.set_position(s.step as u64);
        }
        if args.events {
            steps.push(s);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // cannot fail: one prompt gives one output.
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

/// The image tokenizer folder of a t2i or caption run.
fn vq_dir(args: &GenerateArgs) -> Result<PathBuf, CliError> {
    let model = args.model.clone().unwrap_or_default();
    match &args.vq {
        Some(dir) => Ok(dir.clone()),
        None if model.join("vq").join("config.json").exists() => Ok(model.join("vq")),
        None => Err("this task needs an image tokenizer: pass --vq DIR".into()),
    }
}

fn text_to_image(engine: &Engine, args: &GenerateArgs) -> Result<(), CliError> {
    let prompt = args
        .prompt
        .clone()
        .ok_or("`--task t2i` needs --prompt TEXT")?;
    if args.output.is_none() && !args.json {
        return Err(
            "`--task t2i` writes a picture: pass -o out.png (or --json for the codes)".into(),
        );
    }
    let mut o = ImageOptions::new().seed(args.decode.seed);
    if let Some(steps) = args.decode.steps {
        o = o.steps(steps);
    }
    if let Some(w) = args.decode.cfg_scale {
        o = o.cfg_scale(w);
    }
    if let Some(t) = args.decode.temperature {
        o = o.temperature(t);
    }
    if let Some(n) = args.text_length {
        o = o.text_length(n);
    }
    if let Some(a) = args.annealing {
        o = o.annealing(match a {
            AnnealingArg::Mmada => Annealing::Mmada,
            AnnealingArg::Maskgit => Annealing::Maskgit,
        });
    }
    // Load the tokenizer first: a wrong folder fails before minutes of decoding.
    let vq = match &args.output {
        Some(_) => Some(load_image_tokenizer(&vq_dir(args)?)?),
        None => None,
    };
    let image = engine.text_to_image(&ImageRequest::new(prompt).options(o))?;
    if let (Some(path), Some(vq)) = (&args.output, &vq) {
        let codes = ImageCodes::new(image.codes.clone(), image.height, image.width)?;
        save_png(&vq.decode(&codes)?, path)?;
        if !args.json {
            eprintln!("wrote {}", path.display());
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "codes": image.codes,
                "height": image.height,
                "width": image.width,
                "stats": image.stats,
                "output": args.output,
            })
        );
    }
    Ok(())
}

fn caption(engine: &Engine, args: &GenerateArgs) -> Result<(), CliError> {
    let image = args
        .image
        .as_ref()
        .ok_or("`--task caption` needs --image FILE")?;
    let vq = load_image_tokenizer(&vq_dir(args)?)?;
    let codes = vq.encode(&load_image_with(image, &args.limits.image.reader())?)?;
    let mut request = CaptionRequest::new(codes.into_codes()).options(args.options());
    if let Some(q) = &args.question {
        request = request.question(q.clone());
    }
    let response = engine.caption(&request)?;
    // cannot fail: one image gives one output.
    let output = &response.outputs[0];
    if args.json {
        println!(
            "{}",
            serde_json::json!({"ids": output.ids, "text": output.text, "stats": response.stats})
        );
    } else {
        println!("{}", output.text.as_deref().unwrap_or_default());
    }
    Ok(())
}
