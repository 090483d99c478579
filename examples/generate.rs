//! Generate text from a model folder with the SDK.
//!
//! ```text
//! cargo run --release --example generate -- [MODEL_DIR] [PROMPT]
//! ```
//! Defaults to the embedded `models/tessera-tiny` and the prompt `sudoku 1.3.|.41.|4..3|2.4. =`.
//! With a chat model (LLaDA-Instruct, Dream-Instruct) the prompt is sent as a user turn.

use tessera::{ChatMessage, DecodeOptions, Engine, GenerateRequest, Prompt};

fn main() -> Result<(), tessera::Error> {
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let dir = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny").to_string());
    let prompt = args
        .next()
        .unwrap_or_else(|| "sudoku 1.3.|.41.|4..3|2.4. =".to_string());
    let engine = Engine::load(&dir)?;
    let has_chat = engine.tokenizer().is_some_and(|t| t.has_chat_template());
    let prompt = if has_chat {
        Prompt::Chat(vec![ChatMessage::user(prompt)])
    } else {
        Prompt::Text(prompt)
    };
    // World models know their answer length; other models get 32 tokens in blocks of 8.
    let options = if engine.is_world_model() {
        DecodeOptions::new()
    } else {
        DecodeOptions::new()
            .gen_length(32)
            .steps(32)
            .block_length(8)
    };
    let request = GenerateRequest::new(prompt).options(options);
    let response = engine.generate_with_progress(&request, &mut |s| {
        eprint!(
            "\rstep {}/{} (+{} tokens)",
            s.step, s.total_steps, s.committed
        );
    })?;
    eprintln!();
    let out = &response.outputs[0];
    println!("{}", out.text.as_deref().unwrap_or_default());
    println!(
        "{} tokens, {} forward passes, {:.1} tokens/s",
        out.ids.len(),
        response.stats.nfe,
        response.stats.tokens_per_second
    );
    Ok(())
}
