//! A world model whose audio tokenizer has two residual levels: a clip's answer is
//! level-major, each level drawn from its own codebook range, decoded coarse to fine (many
//! steps on level 0, few on level 1); transcription reads level-major codes. The model is a
//! freshly initialised tiny one made by the trainer (its outputs are noise; the layout, the
//! ranges and the step budget are what is checked).

use std::path::PathBuf;

use tessera::{
    DecodeOptions, Engine, FINE_CODES_PER_STEP, Policy, Segment, TaskInput, TaskRequest, WorldTask,
};
use tessera_train::data::WorldData;
use tessera_train::{Start, TrainConfig, train};
use tessera_worlds::{SAMPLE_RATE, Tune};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn two_level_model() -> TempDir {
    let dir = TempDir(std::env::temp_dir().join(format!("tessera-c2f-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let cfg = TrainConfig::from_json(
        r#"{"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_hidden_size": 16},
            "data": {"tasks": {"t2a": 1, "transcribe": 1}, "image_codes": 16,
                     "audio_codes": 16, "audio_levels": 2},
            "steps": 1, "batch_size": 2, "lr": 1e-3}"#,
    )
    .unwrap();
    let data = WorldData::prepare(&cfg, &dir.0).unwrap();
    train(&cfg, &data, &dir.0, &Start::Fresh, None, &mut |_| {}).unwrap();
    dir
}

fn t2a(options: DecodeOptions) -> TaskRequest {
    TaskRequest::new(WorldTask::T2a, TaskInput::Text("C4 E4 G4".into())).options(options)
}

#[test]
fn a_two_level_clip_is_decoded_coarse_to_fine() {
    let dir = two_level_model();
    let engine = Engine::load(&dir.0).unwrap();
    let space = engine.space().clone();
    assert_eq!(space.audio.len(), 2);
    let frames = 31;
    assert_eq!(engine.task_length(WorldTask::T2a), Some(2 * frames));

    // Default: level 0 one step per frame, level 1 one per FINE_CODES_PER_STEP frames.
    let out = engine.run_task(&t2a(DecodeOptions::new())).unwrap();
    let o = &out.outputs[0];
    assert_eq!(o.ids.len(), 2 * frames);
    assert!(o.ids[..frames].iter().all(|t| space.audio[0].contains(t)));
    assert!(o.ids[frames..].iter().all(|t| space.audio[1].contains(t)));
    let codes = o.codes.clone().unwrap();
    assert!(codes.iter().all(|&c| c < 16), "{codes:?}");
    assert_eq!(out.stats.nfe, frames + frames.div_ceil(FINE_CODES_PER_STEP));
    let clip = engine.audio_codes(&codes).unwrap();
    assert_eq!((clip.levels(), clip.frames()), (2, frames));
    let pcm = engine.audio_tokenizer().unwrap().decode(&clip).unwrap();
    assert!(!pcm.samples.is_empty());
    assert!(engine.audio_codes(&codes[1..]).is_err());

    // `--steps 8`: 8 on level 0, 1 on level 1.
    let out = engine
        .run_task(&t2a(DecodeOptions::new().steps(8)))
        .unwrap();
    assert_eq!(out.stats.nfe, 8 + 1);

    // Segments given per level get their level's vocabulary; others are refused.
    let per_level = vec![
        Segment::new(frames, Policy::Diffusion).steps(4),
        Segment::new(frames, Policy::Ar),
    ];
    let out = engine
        .run_task(&t2a(DecodeOptions::new().segments(per_level)))
        .unwrap();
    let ids = &out.outputs[0].ids;
    assert!(ids[..frames].iter().all(|t| space.audio[0].contains(t)));
    assert!(ids[frames..].iter().all(|t| space.audio[1].contains(t)));
    assert_eq!(out.stats.nfe, 4 + frames);
    let whole = vec![Segment::new(2 * frames, Policy::Diffusion)];
    let err = engine
        .run_task(&t2a(DecodeOptions::new().segments(whole)))
        .unwrap_err();
    assert!(err.to_string().contains("segments"), "{err}");
    let wrong = vec![
        Segment::new(frames, Policy::Diffusion).vocab(space.audio[1].clone()),
        Segment::new(frames, Policy::Diffusion),
    ];
    let err = engine
        .run_task(&t2a(DecodeOptions::new().segments(wrong)))
        .unwrap_err();
    assert!(err.to_string().contains("level 0"), "{err}");

    // Transcription reads both levels of a clip, level-major.
    let tune = Tune::all().next().unwrap();
    let pcm = tessera::modalities::audio::Pcm::new(tune.render(), SAMPLE_RATE).unwrap();
    let codes = engine.audio_tokenizer().unwrap().encode(&pcm).unwrap();
    assert_eq!(codes.levels(), 2);
    let flat = codes.codes.concat();
    let req =
        |codes: Vec<u32>| TaskRequest::new(WorldTask::Transcribe, TaskInput::AudioCodes(codes));
    let out = engine.run_task(&req(flat.clone())).unwrap();
    assert!(out.outputs[0].text.is_some());
    let err = engine.run_task(&req(flat[1..].to_vec())).unwrap_err();
    assert!(err.to_string().contains("levels"), "{err}");
}
