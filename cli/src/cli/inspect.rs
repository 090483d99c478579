//! `tessera inspect`: family, sizes, special ids, precision.

use std::path::Path;

use tessera::Engine;

use super::CliError;

pub(crate) fn run(model: &Path, json: bool) -> Result<(), CliError> {
    let engine = Engine::load(model)?;
    let info = engine.info();
    let tokenizer_vocab = engine.tokenizer().map(|t| t.vocab_size());
    let chat = engine.tokenizer().is_some_and(|t| t.has_chat_template());
    if json {
        let mut v = serde_json::to_value(info)?;
        v["tokenizer_vocab_size"] = serde_json::json!(tokenizer_vocab);
        v["eot_id"] = serde_json::json!(engine.eot_id());
        v["chat_template"] = serde_json::json!(chat);
        println!("{v}");
        return Ok(());
    }
    let id = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
    println!("family          {}", info.family);
    println!(
        "parameters      {} ({:.1}M)",
        info.parameters,
        info.parameters as f64 / 1e6
    );
    println!("layers          {}", info.layers);
    println!("hidden size     {}", info.hidden_size);
    println!(
        "heads           {} (kv heads {})",
        info.heads, info.kv_heads
    );
    println!("mlp size        {}", info.intermediate_size);
    println!(
        "vocabulary      {} (embedding {}, tokenizer {})",
        info.vocab_size,
        info.embedding_size,
        tokenizer_vocab.map_or("none".to_string(), |v| v.to_string())
    );
    println!("max length      {}", info.max_length);
    println!("attention       {}", info.attention);
    println!(
        "special ids     mask {} eos {} pad {} bos {} eot {}",
        info.mask_id,
        id(info.eos_id),
        id(info.pad_id),
        id(info.bos_id),
        id(engine.eot_id())
    );
    println!(
        "dtype           {} (stored {})",
        info.dtype, info.stored_dtype
    );
    let types: Vec<String> = info
        .tensor_types
        .iter()
        .map(|(t, n)| format!("{t} ×{n}"))
        .collect();
    println!("weights         {}: {}", info.format, types.join(", "));
    println!("chat template   {}", if chat { "yes" } else { "no" });
    Ok(())
}
