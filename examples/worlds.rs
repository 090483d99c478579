//! Every task of the embedded `tessera-tiny` through the SDK: draw a picture from a caption,
//! caption it back, play three notes, transcribe them, add, sort, and solve a sudoku with a
//! refinement budget.
//!
//! ```text
//! cargo run --release --example worlds -- [OUT_DIR]
//! ```
//! The picture and the clip go to `OUT_DIR` (default `target/examples`).

use std::path::PathBuf;

use tessera::modalities::audio::{AudioCodes, write_wav};
use tessera::modalities::image::{ImageCodes, save_png};
use tessera::{DecodeOptions, Engine, Policy, Remask, TaskInput, TaskRequest, Unmask, WorldTask};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let out = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let out = PathBuf::from(out.unwrap_or_else(|| "target/examples".into()));
    std::fs::create_dir_all(&out)?;
    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    let vq = engine.image_tokenizer().ok_or("no image tokenizer")?;
    let codec = engine.audio_tokenizer().ok_or("no audio tokenizer")?;
    let run = |task, input| engine.run_task(&TaskRequest::new(task, input));

    // Text → image, decoded by the model folder's patch VQ.
    let caption = "a large red circle at the top left";
    let image = run(WorldTask::T2i, TaskInput::Text(caption.into()))?;
    let codes = image.outputs[0].codes.clone().unwrap_or_default();
    let (h, w) = vq.grid();
    save_png(
        &vq.decode(&ImageCodes::new(codes.clone(), h, w)?)?,
        &out.join("circle.png"),
    )?;
    println!(
        "t2i        {caption:?} → circle.png ({} forward passes)",
        image.stats.nfe
    );

    // Image → caption, from the codes just drawn.
    let back = run(WorldTask::Caption, TaskInput::ImageCodes(codes))?;
    println!(
        "caption    → {:?}",
        back.outputs[0].text.as_deref().unwrap_or("")
    );

    // Notes → audio, and back.
    let tune = run(WorldTask::T2a, TaskInput::Text("C4 E4 G4".into()))?;
    let audio = tune.outputs[0].codes.clone().unwrap_or_default();
    let pcm = codec.decode(&AudioCodes::new(vec![audio.clone()], codec.sample_rate()))?;
    write_wav(out.join("tune.wav"), &pcm)?;
    println!("t2a        \"C4 E4 G4\" → tune.wav");
    let notes = run(WorldTask::Transcribe, TaskInput::AudioCodes(audio))?;
    println!(
        "transcribe → {:?}",
        notes.outputs[0].text.as_deref().unwrap_or("")
    );

    // Arithmetic and sorting with the text task's default decoding.
    for prompt in ["123+45=", "sort 5 3 9 1 ="] {
        let answer = run(WorldTask::Text, TaskInput::Text(prompt.into()))?;
        println!(
            "text       {prompt} → {:?}",
            answer.outputs[0].text.as_deref().unwrap_or("")
        );
    }

    // Text, decoded in parallel where the model is sure (hybrid + threshold), then two rounds
    // re-masking and re-predicting its least confident tenth (latent reasoning by remasking).
    let mut options = DecodeOptions::new();
    options.policy = Some(Policy::Block);
    options.remask = Some(Remask::refine(2, 0.1));
    options.unmask = Some(Unmask::Count);
    let puzzle = "sudoku 1.3.|.41.|4..3|2.4. =";
    let solved = engine.run_task(
        &TaskRequest::new(WorldTask::Text, TaskInput::Text(puzzle.into())).options(options),
    )?;
    println!(
        "sudoku     {puzzle} → {:?} ({} tokens revised)",
        solved.outputs[0].text.as_deref().unwrap_or(""),
        solved.stats.revised
    );
    Ok(())
}
