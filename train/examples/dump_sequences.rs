//! Writes the token sequences of the world tasks as JSON (to stdout), for recipe experiments
//! outside the trainer (`scripts/recipe_sweep.py` reads them). Training with `tessera train`
//! never uses this file; it draws the same sequences itself. The seven prompt → answer tasks
//! only (not the fill tasks).
//!
//! `cargo run --release -p tessera-train --example dump_sequences -- MODEL_DIR TRAIN_CONFIG
//! [TEXT_TRAIN] [MEDIA_TRAIN] [EVAL]`: `MODEL_DIR` is a folder `WorldData::prepare` has made (or
//! will make) the tokenizers in; the counts are the train sequences per text task, per media
//! task, and the held-out sequences per task.

use std::path::PathBuf;

use serde_json::json;
use tessera_train::TrainConfig;
use tessera_train::data::WorldData;
use tessera_worlds::{Split, Task};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: dump_sequences MODEL_DIR TRAIN_CONFIG [TEXT_TRAIN] [MEDIA_TRAIN] [EVAL]";
    let dir = PathBuf::from(args.first().ok_or(usage)?);
    let cfg = TrainConfig::from_file(std::path::Path::new(args.get(1).ok_or(usage)?))?;
    let count = |i: usize, default: u64| -> Result<u64, Box<dyn std::error::Error>> {
        Ok(args.get(i).map_or(Ok(default), |s| s.parse())?)
    };
    let (text_train, media_train, eval) = (count(2, 60_000)?, count(3, 4_000)?, count(4, 200)?);
    let data = WorldData::prepare(&cfg, &dir)?;
    let space = data.space();
    let image = space.image.clone().ok_or("no image range")?;
    let audio = space.audio.first().cloned().ok_or("no audio range")?;
    let mut tasks = serde_json::Map::new();
    // The fill tasks' sequences keep given text after the prompt (`Sequence::fixed`), which
    // the sweep's objective does not model: they are left out.
    for task in Task::ALL.into_iter().filter(|t| !t.is_fill()) {
        let n = if task.text_task().is_some() {
            text_train
        } else {
            media_train
        };
        let dump =
            |split: Split, n: u64| -> Result<Vec<serde_json::Value>, Box<dyn std::error::Error>> {
                (0..n)
                    .map(|i| {
                        let s = data.sequence(task, &task.sample(split, i))?;
                        Ok(json!([s.prompt_len, s.ids]))
                    })
                    .collect()
            };
        let range = match task {
            Task::T2i => [image.start, image.end],
            Task::T2a => [audio.start, audio.end],
            _ => [space.text.start, space.text.end],
        };
        tasks.insert(
            task.name().into(),
            json!({"answer_range": range, "train": dump(Split::Train, n)?, "eval": dump(Split::Eval, eval)?}),
        );
    }
    let out = json!({"mask": space.mask, "rows": space.logits_width, "pad": 0, "tasks": tasks});
    println!("{out}");
    Ok(())
}
