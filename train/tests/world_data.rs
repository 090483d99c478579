//! The world models' data: the fitted tokenizers reproduce every picture and tune well
//! enough for the checkers, every task's sequence fits its template, and nothing a world
//! says falls outside the vocabulary.

use std::path::PathBuf;

use tessera_modalities::audio::{AudioCodes, AudioTokenizer, FrameVq};
use tessera_modalities::image::{ImageCodes, ImageTokenizer, PatchVq};
use tessera_train::DataSource;
use tessera_train::TrainConfig;
use tessera_train::data::{AUDIO_DIR, IMAGE_DIR, WorldData};
use tessera_worlds::{
    Example, SAMPLE_RATE, ShapeSpec, Split, Task, Tune, check_audio, check_image,
};

fn config() -> TrainConfig {
    TrainConfig::from_json(
        r#"{"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_hidden_size": 16},
            "data": {"tasks": {"t2i": 1, "caption": 1, "t2a": 1, "transcribe": 1,
                               "addition": 1, "sorting": 1, "sudoku": 1, "fill-addition": 1,
                               "fill-sorting": 1, "fill-caption": 1},
                     "varied_inputs": 0.5, "fit_varied_tunes": 16, "fit_varied_pictures": 16, "audio_analysis": true},
            "steps": 1, "batch_size": 4, "lr": 1e-3}"#,
    )
    .unwrap()
}

#[test]
fn tokenizers_sequences_and_vocabulary() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tessera-worlddata-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = WorldData::prepare(&config(), &dir).unwrap();
    let space = data.space().clone();
    let image = PatchVq::load(&dir.join(IMAGE_DIR)).unwrap();
    for spec in ShapeSpec::all() {
        let codes = image.encode(&spec.render()).unwrap();
        assert_eq!((codes.height(), codes.width()), (8, 8));
        let back = image
            .decode(&ImageCodes::new(codes.codes().to_vec(), 8, 8).unwrap())
            .unwrap();
        assert_eq!(check_image(&back).unwrap(), spec, "{}", spec.caption());
    }
    let audio = FrameVq::load(dir.join(AUDIO_DIR)).unwrap();
    for tune in Tune::all() {
        let pcm = tessera_modalities::audio::Pcm::new(tune.render(), SAMPLE_RATE).unwrap();
        let codes = audio.encode(&pcm).unwrap();
        assert_eq!((codes.codes.len(), codes.codes[0].len()), (1, 31));
        let back = audio
            .decode(&AudioCodes::new(codes.codes.clone(), SAMPLE_RATE))
            .unwrap();
        assert_eq!(check_audio(&back.samples, SAMPLE_RATE).unwrap(), tune);
    }
    // Every task, both splits: sequences build, answers are where the template says.
    for task in Task::ALL {
        for split in [Split::Train, Split::Eval] {
            for i in 0..50 {
                let ex = task.sample(split, i);
                let seq = data.sequence(task, &ex).unwrap();
                if let Example::Fill { example, .. } = &ex {
                    // The blanks are the answer; the text after the first one is given.
                    let answer = seq.answer_positions();
                    assert_eq!(answer.len(), example.widths.iter().sum::<usize>(), "{task}");
                    assert_eq!(answer[0], seq.prompt_len);
                    assert!(answer.iter().all(|&i| space.text.contains(&seq.ids[i])));
                    assert!(seq.ids.iter().all(|&t| t < data.mask_id()));
                    continue;
                }
                let answer = &seq.ids[seq.prompt_len..];
                let range = match (task, &ex) {
                    (Task::T2i, Example::Image { .. }) => space.image.clone().unwrap(),
                    (Task::T2a, _) => space.audio[0].clone(),
                    _ => space.text.clone(),
                };
                assert!(answer.iter().all(|t| range.contains(t)), "{task}");
                assert!(seq.ids.iter().all(|&t| t < data.mask_id()));
                match task {
                    Task::T2i => assert_eq!(answer.len(), 64),
                    Task::T2a => assert_eq!(answer.len(), 31),
                    _ => assert_eq!(answer.len(), 24),
                }
            }
        }
    }
    let batch = data.batch(0, 4).unwrap();
    assert_eq!(batch.len(), 4);
    // Varied inputs: some captioning examples see another rendering than the canonical one,
    // and every one still fits the template.
    let varied = (0..40u64)
        .filter(|&i| {
            let ex = Task::Caption.sample(Split::Train, i);
            let seq = data.sequence_at(Task::Caption, &ex, i).unwrap();
            assert_eq!(
                seq.ids.len(),
                data.sequence(Task::Caption, &ex).unwrap().ids.len()
            );
            seq != data.sequence(Task::Caption, &ex).unwrap()
        })
        .count();
    assert!((5..40).contains(&varied), "{varied} of 40 varied");
    // The model config says it fills blanks.
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["tessera"]["infill"], true);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn right_aligned_answers_balanced_operands_and_places_reach_the_model_config() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tessera-worlddata-right-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = config();
    cfg.data.text_align = tessera_modalities::tessera::TextAlign::Right;
    cfg.data.addition_operands = tessera_worlds::OperandDraw::Balanced;
    cfg.data.tasks = [("addition".to_string(), 1.0)].into();
    cfg.model.places = 8;
    let data = WorldData::prepare(&cfg, &dir).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["tessera"]["text_align"], "right");
    let digits: Vec<u32> = (16..26).collect();
    assert_eq!(data.digit_ids(), digits);
    assert_eq!(
        config["place_embedding"],
        serde_json::json!({"places": 8, "digit_ids": digits})
    );
    // Answers end their span; padding comes first.
    let mut short = 0;
    let batch = data.batch(0, 300).unwrap();
    for seq in &batch {
        let answer = &seq.ids[seq.prompt_len..];
        assert_eq!(answer[0], 0, "{answer:?}");
        assert!(digits.contains(answer.last().unwrap()), "{answer:?}");
        // `<|bos|> a + b =`: a one-digit operand is a digit between two non-digits.
        let p = &seq.ids[..seq.prompt_len];
        short += usize::from(digits.contains(&p[1]) && !digits.contains(&p[2]));
    }
    // Balanced draws: a third of first operands have one digit (uniform: 1 %).
    assert!((70..130).contains(&short), "{short} of 300");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A one-layer config whose `data` holds the caption task and `extra` (JSON members).
fn caption_config(extra: &str) -> Result<TrainConfig, tessera_train::TrainError> {
    TrainConfig::from_json(&format!(
        r#"{{"model": {{"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_hidden_size": 16}},
            "data": {{"tasks": {{"caption": 1}}{extra}}},
            "steps": 1, "batch_size": 4, "lr": 1e-3}}"#
    ))
}

/// The field a config error names.
fn bad_field(cfg: Result<TrainConfig, tessera_train::TrainError>) -> String {
    match cfg {
        Err(tessera_train::TrainError::Config { field, .. }) => field,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_picture_alignment_is_bounded_by_the_config() {
    let with = |align: u32| caption_config(&format!(r#", "image_align": {align}"#));
    assert_eq!(with(3).unwrap().data.image_align, 3);
    assert_eq!(bad_field(with(17)), "data.image_align");
}

#[test]
fn the_share_of_all_varied_inputs_is_a_probability() {
    let with =
        |all: &str| caption_config(&format!(r#", "varied_inputs": 0.5, "varied_all": {all}"#));
    assert_eq!(with("0.5").unwrap().data.varied_all, Some(0.5));
    for bad in ["1.5", "-0.1"] {
        assert_eq!(bad_field(with(bad)), "data.varied_all", "{bad}");
    }
    // Unset, it is absent from a saved config (older configs read and write as before).
    let cfg = caption_config("").unwrap();
    assert_eq!(cfg.data.varied_all, None);
    assert!(!serde_json::to_string(&cfg).unwrap().contains("varied_all"));
}
