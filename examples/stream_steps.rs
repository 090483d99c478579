//! Streaming: watch the embedded `models/tessera-tiny` denoise an answer, step by step.
//!
//! ```text
//! cargo run --release --example stream_steps -- ['sudoku 1.3.|.41.|4..3|2.4. =']
//! ```
//! `Engine::stream` is a blocking iterator: one `Event::Step` per denoising step, with the
//! answer as it stands (still-masked tokens shown as `tessera::MASK_SYMBOL`, `▒`), then
//! `Event::Done` with the reply. Here the answer is decoded two tokens per step, so the grid
//! fills in over a dozen steps. Also try `'123+45='` or `'sort 5 3 9 1 ='`.

use tessera::{DecodeOptions, Engine, Event, MASK_SYMBOL, Policy, Request, Target};
use tessera_worlds::TextTask;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let prompt = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let prompt = prompt.unwrap_or_else(|| "sudoku 1.3.|.41.|4..3|2.4. =".into());
    // The whole answer (24 tokens) at once, in 12 steps: the most confident two each step.
    let options = DecodeOptions::new().policy(Policy::Diffusion).steps(12);
    let request = Request::new()
        .text(&prompt)
        .generate(Target::text(64))
        .options(options);

    println!("{prompt}");
    let mut previews = Vec::new();
    for event in engine.stream(&request)? {
        match event? {
            Event::Step(step) => {
                let text = step.text.unwrap_or_default();
                println!("step {:>2}/{}  {text}", step.step, step.total_steps);
                previews.push(text);
            }
            Event::Done(reply) => {
                let answer = reply.text().unwrap_or_default();
                println!("answer     {answer} ({} forward passes)", reply.stats.nfe);
                let first = previews.first().ok_or("no step events")?;
                assert!(first.contains(MASK_SYMBOL), "step 1 showed no masks");
                assert_eq!(previews.last().map(String::as_str), Some(answer));
                let right = TextTask::ALL.iter().any(|t| t.check(&prompt, answer));
                assert!(right, "{answer:?} does not answer {prompt:?}");
            }
        }
    }
    Ok(())
}
