//! Tessera world models through the SDK and the CLI, on the committed tessera-tiny: the
//! issue's contract commands give answers the worlds' checkers accept, bad requests are typed
//! errors naming the field, and a short evaluation runs every task at the accuracy the model
//! card reports.

mod common;

use common::{Scratch, fails_with, fixtures, ok, tessera_tiny};
use tessera::eval::{EvalConfig, EvalPolicy, evaluate};
use tessera::{DecodeOptions, Engine, Error, TaskInput, TaskRequest, WorldTask};
use tessera_worlds::{Rendering, ShapeSpec, Task, TextTask, Tune, check_audio, check_image};

fn engine() -> Engine {
    Engine::load(tessera_tiny()).expect("tessera-tiny loads")
}

fn field_of(e: &Error) -> &str {
    match e {
        Error::InvalidRequest { field, .. } => field,
        _ => "",
    }
}

#[test]
fn bad_requests_are_typed_errors() {
    let e = engine();
    let run = |task, input| e.run_task(&TaskRequest::new(task, input)).unwrap_err();
    // The wrong kind of input for the task.
    let err = run(WorldTask::Caption, TaskInput::Text("hello".into()));
    assert_eq!(field_of(&err), "input", "{err}");
    // A word outside the vocabulary.
    let err = run(WorldTask::T2i, TaskInput::Text("a tiny red dog".into()));
    assert!(err.to_string().contains("vocabulary"), "{err}");
    assert_eq!(field_of(&err), "prompt", "{err}");
    // A picture of the wrong size, codes outside the codebook.
    let err = run(WorldTask::Caption, TaskInput::ImageCodes(vec![0; 10]));
    assert_eq!(field_of(&err), "image", "{err}");
    let err = run(WorldTask::Caption, TaskInput::ImageCodes(vec![100_000; 64]));
    assert!(matches!(err, Error::Space(_)), "{err}");
    let err = run(WorldTask::Transcribe, TaskInput::AudioCodes(vec![]));
    assert_eq!(field_of(&err), "audio", "{err}");
    // Media spans have the model's length.
    let req = TaskRequest::new(
        WorldTask::T2i,
        TaskInput::Text("a small red circle at the center".into()),
    )
    .options(DecodeOptions::new().gen_length(10).steps(10));
    let err = e.run_task(&req).unwrap_err();
    assert_eq!(field_of(&err), "gen-length", "{err}");
    // Not a world model.
    let llada = Engine::load(fixtures().join("llada-tiny")).unwrap();
    let err = llada
        .run_task(&TaskRequest::new(
            WorldTask::Text,
            TaskInput::Text("1+1=".into()),
        ))
        .unwrap_err();
    assert_eq!(field_of(&err), "task", "{err}");
}

#[test]
fn outputs_stay_in_their_modality() {
    let e = engine();
    let space = e.space().clone();
    let t2i = e
        .run_task(&TaskRequest::new(
            WorldTask::T2i,
            TaskInput::Text("a large green triangle at the top right".into()),
        ))
        .unwrap();
    let image = space.image.clone().unwrap();
    assert_eq!(t2i.outputs[0].ids.len(), 64);
    assert!(t2i.outputs[0].ids.iter().all(|t| image.contains(t)));
    let t2a = e
        .run_task(&TaskRequest::new(
            WorldTask::T2a,
            TaskInput::Text("C4 E4 G4".into()),
        ))
        .unwrap();
    assert_eq!(t2a.outputs[0].ids.len(), 31);
    assert!(
        t2a.outputs[0]
            .ids
            .iter()
            .all(|t| space.audio[0].contains(t))
    );
    let text = e
        .run_task(&TaskRequest::new(
            WorldTask::Text,
            TaskInput::Text("12+30=".into()),
        ))
        .unwrap();
    assert!(text.outputs[0].ids.iter().all(|t| space.text.contains(t)));
}

#[test]
fn the_contract_commands_give_answers_the_checkers_accept() {
    // The CLI contract, end to end on tessera-tiny: every command writes its file or
    // text in the task's form, and for the tasks the model has learned (the model card's eval
    // table) the worlds' checkers accept the answer.
    let dir = Scratch::new("world-cli");
    let png = dir.0.join("out.png");
    let wav = dir.0.join("out.wav");
    let (png_s, wav_s) = (png.to_str().unwrap(), wav.to_str().unwrap());
    let prompt = "a small blue square at the center";
    ok(&["generate", "--task", "t2i", "--prompt", prompt, "-o", png_s]);
    let picture = image::open(&png).unwrap().to_rgb8();
    assert_eq!(picture.dimensions(), (64, 64));
    assert_eq!(check_image(&picture).unwrap().caption(), prompt);
    // Captioning an exact rendering of another picture.
    let spec = ShapeSpec::parse_caption("a large red circle at the top left").unwrap();
    let truth = dir.0.join("truth.png");
    spec.render().save(&truth).unwrap();
    let caption = ok(&[
        "generate",
        "--task",
        "caption",
        "--image",
        truth.to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8_lossy(&caption).trim(), spec.caption());
    ok(&[
        "generate", "--task", "t2a", "--prompt", "C4 E4 G4", "-o", wav_s,
    ]);
    let pcm = tessera::modalities::audio::decode_file(&wav).unwrap();
    assert_eq!(pcm.sample_rate, tessera_worlds::SAMPLE_RATE);
    assert_eq!(pcm.samples.len(), 12_000);
    assert_eq!(
        check_audio(&pcm.samples, pcm.sample_rate)
            .unwrap()
            .caption(),
        "C4 E4 G4"
    );
    // Transcribing an exact rendering of another tune.
    let tune = Tune::parse_caption("D4 A4 C5").unwrap();
    let clip = dir.0.join("truth.wav");
    let rendered = tessera::modalities::audio::Pcm::new(tune.render(), tessera_worlds::SAMPLE_RATE);
    tessera::modalities::audio::write_wav(&clip, &rendered.unwrap()).unwrap();
    let notes = ok(&[
        "generate",
        "--task",
        "transcribe",
        "--audio",
        clip.to_str().unwrap(),
    ]);
    assert_eq!(String::from_utf8_lossy(&notes).trim(), tune.caption());
    let puzzle = "sudoku 1.3.|.41.|4..3|2.4. =";
    let solved = ok(&["generate", "--prompt", puzzle]);
    assert!(
        TextTask::Sudoku.check(puzzle, String::from_utf8_lossy(&solved).trim()),
        "{}",
        String::from_utf8_lossy(&solved)
    );
    let sum = ok(&["generate", "--prompt", "123+45="]);
    assert_eq!(String::from_utf8_lossy(&sum).trim(), "168");
    let v: serde_json::Value =
        serde_json::from_slice(&ok(&["generate", "--prompt", "sort 5 3 9 1 =", "--json"])).unwrap();
    assert_eq!(v["text"].as_str(), Some("1 3 5 9"));
    assert!(v["stats"]["nfe"].as_u64().unwrap() > 0);
    // The CLI and the SDK decode the same thing.
    let e = engine();
    let sdk = e
        .run_task(&TaskRequest::new(
            WorldTask::Text,
            TaskInput::Text("sort 5 3 9 1 =".into()),
        ))
        .unwrap();
    assert_eq!(v["text"].as_str(), sdk.outputs[0].text.as_deref());
}

#[test]
fn cli_refuses_incomplete_world_tasks() {
    fails_with(&["generate", "--task", "t2a", "--prompt", "C4 E4 G4"], "-o");
    fails_with(
        &["generate", "--task", "transcribe", "--prompt", "x"],
        "--audio",
    );
    fails_with(&["generate", "--prompt", "a tiny dog"], "vocabulary");
    fails_with(&["eval", "--tasks", "juggling", "--n", "1"], "juggling");
}

#[test]
fn a_short_evaluation_covers_every_task() {
    let e = engine();
    // Every task this model does (the fill tasks need a model trained to fill blanks, as
    // tessera-tiny is).
    let tasks = tessera::eval::tasks_for(&e);
    assert_eq!(tasks.iter().filter(|t| t.is_fill()).count(), 3, "{tasks:?}");
    let cfg = EvalConfig {
        tasks: tasks.clone(),
        policies: vec![EvalPolicy::parse("hybrid").unwrap()],
        n: 4,
        batch: 4,
        // Captioning and transcription also on renderings with natural variation (rows of
        // their own); the other tasks run once.
        renderings: vec![Rendering::CANONICAL, Rendering::ALL],
        varied_policies: Vec::new(),
    };
    let rows = evaluate(&e, &cfg, &mut |_| {}).unwrap();
    let varied: Vec<&str> = rows
        .iter()
        .filter(|r| r.rendering == "all")
        .map(|r| r.task.as_str())
        .collect();
    let reads: Vec<&str> = tasks
        .iter()
        .filter(|&&t| Rendering::ALL.varies(t))
        .map(|t| t.name())
        .collect();
    assert_eq!(varied, reads);
    assert_eq!(rows.len(), tasks.len() + reads.len());
    for r in &rows {
        assert_eq!(r.n, 4);
        assert!(
            r.forwards_per_token > 0.0 && r.forwards_per_token <= 1.0 + 1e-9,
            "{r:?}"
        );
    }
    assert!(
        rows.iter()
            .all(|r| r.correct <= r.n && r.tokens_per_second > 0.0)
    );
    // Every task well above chance on the canonical renderings: at least half of 4 (a small
    // sample, kept loose; the model card has each task on 200 held-out examples).
    for r in rows.iter().filter(|r| r.rendering == "canonical") {
        assert!(r.correct >= 2, "{r:?}");
    }
    // A batch over the engine's `max_prompts` is split, not refused (a bare `tessera eval`
    // once failed on exactly that).
    let mut limits = tessera::Limits::default();
    limits.max_prompts = 2;
    let small = e.clone().with_limits(limits);
    let cfg = EvalConfig {
        tasks: vec![Task::ALL[0]],
        n: 5,
        batch: 100,
        ..cfg
    };
    let rows = evaluate(&small, &cfg, &mut |_| {}).unwrap();
    assert_eq!(rows[0].n, 5);
}

#[test]
fn insertion_runs_from_the_cli_and_contradictions_name_the_option() {
    let v: serde_json::Value = serde_json::from_slice(&ok(&[
        "generate",
        "--prompt",
        "sort 5 3 9 1 =",
        "--policy",
        "hybrid",
        "--unmask",
        "threshold:0.9",
        "--block-length",
        "8",
        "--insert",
        "--max-length",
        "48",
        "--json",
    ]))
    .unwrap();
    assert!(v["text"].is_string());
    assert!(v["stats"]["nfe"].as_u64().unwrap() > 0);
    fails_with(
        &[
            "generate",
            "--prompt",
            "sort 5 3 9 1 =",
            "--insert",
            "--policy",
            "diffusion",
        ],
        "insert",
    );
    fails_with(
        &["generate", "--prompt", "1+1=", "--max-length", "40"],
        "max-length",
    );
}

/// A copy of `from` (a model folder, one level of sub-folders) in `to`.
fn copy_model(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_model(&entry.path(), &target);
        } else {
            std::fs::create_dir_all(to).unwrap();
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn blanks_in_world_requests_follow_the_training_template() {
    use tessera::{Request, Target};
    // tessera-tiny was trained to fill blanks (`"tessera": {"infill": true}`): the canvas is
    // `<|bos|> 1 2 3 +`, then the blank's three positions with `= 1 6 8` given after them, as
    // training lays it out, and the blank holds the missing addend.
    let fill = Request::new()
        .text("123+")
        .generate(Target::Blank { len: 3 })
        .text("=168");
    let e = engine();
    let reply = e.run(&fill).unwrap();
    assert_eq!(reply.prompt_tokens, 5);
    assert_eq!(reply.ids.len(), 3);
    assert_eq!(reply.texts(), ["45"]);
    // The same weights without the flag refuse blanks, naming why.
    let scratch = Scratch::new("world-fill");
    let dir = scratch.0.join("model");
    copy_model(&tessera_tiny(), &dir);
    let cfg_path = dir.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["tessera"]["infill"] = serde_json::json!(false);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let plain = Engine::load(&dir).unwrap();
    assert!(e.fills_blanks() && !plain.fills_blanks());
    let err = plain.run(&fill).unwrap_err();
    assert_eq!(field_of(&err), "parts", "{err}");
    assert!(err.to_string().contains("fill blanks"), "{err}");
    let ar = DecodeOptions::new().policy(tessera::Policy::Ar);
    let reply = e.run(&fill.clone().options(ar)).unwrap();
    assert_eq!((reply.ids.len(), reply.stats.nfe), (3, 3));
    // Two blanks: a part each; a picture first makes it a caption to fill.
    let spec = ShapeSpec::all().next().unwrap();
    let reply = e
        .run(
            &Request::new()
                .image(spec.render())
                .text("a ")
                .generate(Target::Blank { len: 1 })
                .text(" ")
                .generate(Target::Blank { len: 1 })
                .text(" at the top left"),
        )
        .unwrap();
    // `<|bos|> <|caption|> <|soi|>`, 64 codes, `<|eoi|>`, `a`, ` `.
    assert_eq!(reply.prompt_tokens, 3 + 64 + 1 + 2);
    assert_eq!((reply.parts.len(), reply.ids.len()), (2, 2));
    // Bad parts are named: audio, a picture after text, a word outside the vocabulary.
    for req in [
        Request::new()
            .text("a ")
            .image(spec.render())
            .generate(Target::Blank { len: 1 }),
        Request::new()
            .text("a tiny ")
            .generate(Target::Blank { len: 1 })
            .text(" dog"),
    ] {
        let err = e.run(&req).unwrap_err();
        assert!(
            field_of(&err) == "parts" || err.to_string().contains("vocabulary"),
            "{err}"
        );
    }
}
