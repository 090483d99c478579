//! `tessera generate` on a Tessera world model (tessera-tiny): every task goes through
//! [`Engine::run_task`]; pictures and sounds are read and written with the model folder's
//! own tokenizers.

use std::path::Path;

use tessera::modalities::audio::{decode_file_with, write_wav};
use tessera::modalities::image::{ImageCodes, load_image_with, save_png};
use tessera::{DecodeOptions, Engine, Limits, TaskInput, TaskRequest, WorldTask};

use super::CliError;

/// The inputs of one world task run, from the CLI's flags.
pub(crate) struct WorldArgs<'a> {
    pub(crate) task: WorldTask,
    pub(crate) prompt: Option<&'a str>,
    pub(crate) image: Option<&'a Path>,
    pub(crate) audio: Option<&'a Path>,
    pub(crate) output: Option<&'a Path>,
    pub(crate) json: bool,
    pub(crate) limits: &'a Limits,
}

pub(crate) fn run(
    engine: &Engine,
    a: &WorldArgs<'_>,
    options: DecodeOptions,
) -> Result<(), CliError> {
    let flag = |task: WorldTask, what: &str| -> CliError {
        format!("`--task {task}` needs {what}").into()
    };
    let input = match a.task {
        WorldTask::Text | WorldTask::T2i | WorldTask::T2a => TaskInput::Text(
            a.prompt
                .ok_or_else(|| flag(a.task, "--prompt TEXT"))?
                .to_string(),
        ),
        WorldTask::Caption => {
            let path = a.image.ok_or_else(|| flag(a.task, "--image FILE"))?;
            let vq = engine
                .image_tokenizer()
                .ok_or("the model folder has no image tokenizer")?;
            TaskInput::ImageCodes(
                vq.encode(&load_image_with(path, &a.limits.image.reader())?)?
                    .into_codes(),
            )
        }
        WorldTask::Transcribe => {
            let path = a.audio.ok_or_else(|| flag(a.task, "--audio FILE"))?;
            let codec = engine
                .audio_tokenizer()
                .ok_or("the model folder has no audio tokenizer")?;
            let codes = codec.encode(&decode_file_with(path, &a.limits.audio.reader())?)?;
            TaskInput::AudioCodes(codes.codes.concat())
        }
        _ => return Err(format!("unsupported task {}", a.task).into()),
    };
    if matches!(a.task, WorldTask::T2i | WorldTask::T2a) && a.output.is_none() && !a.json {
        return Err(format!(
            "`--task {}` writes a file: pass -o FILE (or --json for the codes)",
            a.task
        )
        .into());
    }
    let response = engine.run_task(&TaskRequest::new(a.task, input).options(options))?;
    // cannot fail: one input gives one output.
    let out = &response.outputs[0];
    if let (Some(path), Some(codes)) = (a.output, &out.codes) {
        match a.task {
            WorldTask::T2i => {
                let vq = engine.image_tokenizer().ok_or("no image tokenizer")?;
                let (h, w) = vq.grid();
                save_png(&vq.decode(&ImageCodes::new(codes.clone(), h, w)?)?, path)?;
            }
            _ => {
                let codec = engine.audio_tokenizer().ok_or("no audio tokenizer")?;
                write_wav(path, &codec.decode(&engine.audio_codes(codes)?)?)?;
            }
        }
        if !a.json {
            eprintln!("wrote {}", path.display());
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "task": a.task,
                "text": out.text,
                "codes": out.codes,
                "output": a.output,
                "ids": out.ids,
                "stats": response.stats,
            })
        );
    } else if let Some(text) = &out.text {
        println!("{text}");
    }
    Ok(())
}
