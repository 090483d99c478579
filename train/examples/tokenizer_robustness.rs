//! How well the world tokenizers hear and see through natural variation: for each rendering
//! family of [`Rendering::every`], held-out tunes (and pictures) are encoded and compared
//! with the canonical rendering's codes.
//!
//! `cargo run --release -p tessera-train --example tokenizer_robustness -- [MODEL_DIR] [N]
//! [W:LOW:HIGH:STEP|-] [COUNT|-] [PICTURE_COUNT|-] [ALIGN]`: the optional arguments give the
//! codec an analysis, refit the audio codebook with COUNT varied tunes, refit the picture
//! codebook with PICTURE_COUNT moved and resized pictures, and read pictures with an
//! alignment of ALIGN pixels ([`PatchVq::with_alignment`]).
//!
//! Audio columns: the share of frames whose code equals the canonical rendering's code, and
//! a listening proxy — each note read as the majority note of its interior frames' codes
//! (every code labelled with the note it stands for in the canonical tunes) — as the share
//! of tunes with all three notes right. Picture columns: the share of patches whose code
//! equals the canonical picture's.

use std::collections::HashMap;

use tessera_modalities::audio::{AnalysisConfig, AudioTokenizer, FitOptions, FrameVq, Pcm};
use tessera_modalities::image::{ImageTokenizer, PatchVq};
use tessera_worlds::{Example, Rendering, SAMPLE_RATE, Split, Task, Tune};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map_or("models/tessera-tiny", String::as_str));
    let n: u64 = args.get(2).map_or(200, |s| s.parse().expect("N"));
    let mut audio = FrameVq::load(dir.join("audio-vq")).expect("audio-vq");
    let train_clips = |count: u64| -> Vec<(Tune, Vec<f32>)> {
        Tune::all()
            .map(|t| (t, t.render()))
            .chain((0..count).map(|i| {
                let Example::Tones { tune } = Task::Transcribe.sample(Split::Train, i) else {
                    unreachable!()
                };
                (
                    tune,
                    Rendering::ALL.audio(&tune, Task::Transcribe, Split::Train, i),
                )
            }))
            .collect()
    };
    if let Some(count) = args.get(4).filter(|s| *s != "-") {
        // Refit the codebook on the canonical tunes and COUNT varied ones.
        let clips: Vec<Pcm> = train_clips(count.parse().expect("COUNT"))
            .into_iter()
            .map(|(_, s)| Pcm::new(s, SAMPLE_RATE).unwrap())
            .collect();
        audio =
            FrameVq::fit(&clips, *audio.config(), FitOptions::with_seed(20261129)).expect("fit");
    }
    if let Some(spec) = args.get(3).filter(|s| *s != "-") {
        // `W:LOW:HIGH:STEP`: give the codec an analysis fitted on the canonical tunes.
        let v: Vec<f64> = spec
            .split(':')
            .map(|x| x.parse().expect("W:LOW:HIGH:STEP"))
            .collect();
        let mut cfg = AnalysisConfig::default();
        (cfg.window, cfg.low_hz, cfg.high_hz, cfg.step_hz) = (v[0] as usize, v[1], v[2], v[3]);
        let count = args
            .get(4)
            .filter(|s| *s != "-")
            .map_or(0, |c| c.parse().expect("COUNT"));
        let clips: Vec<Pcm> = train_clips(count)
            .into_iter()
            .map(|(_, s)| Pcm::new(s, SAMPLE_RATE).unwrap())
            .collect();
        audio = audio.with_analysis(&clips, cfg).expect("analysis");
    }
    let image = PatchVq::load(&dir.join("image-vq")).expect("image-vq");
    let hop = audio.config().frame_size;
    let codes = |s: Vec<f32>| -> Vec<u32> {
        audio
            .encode(&Pcm::new(s, SAMPLE_RATE).unwrap())
            .unwrap()
            .codes
            .swap_remove(0)
    };
    // Interior frames of note k: centres inside the note, away from its fades.
    let interior = |k: usize| {
        let per = tessera_worlds::tones::NOTE_SAMPLES / hop;
        per * k + 2..per * (k + 1) - 1
    };
    // Label each code by the note it stands for in the canonical tunes (majority).
    let mut votes: HashMap<u32, HashMap<usize, usize>> = HashMap::new();
    for (tune, clip) in train_clips(2000) {
        let c = codes(clip);
        for k in 0..3 {
            for f in interior(k) {
                *votes
                    .entry(c[f])
                    .or_default()
                    .entry(tune.notes[k] as usize)
                    .or_default() += 1;
            }
        }
    }
    let label: HashMap<u32, usize> = votes
        .into_iter()
        .map(|(c, v)| (c, v.into_iter().max_by_key(|x| x.1).unwrap().0))
        .collect();
    println!(
        "audio: {} of {} codes label a note",
        label.len(),
        audio.codebook_size()
    );
    // What a model plays: every canonical tune's exact codes, decoded, read back.
    let played = Tune::all()
        .filter(|t| {
            let pcm = Pcm::new(t.render(), SAMPLE_RATE).unwrap();
            let back = audio.decode(&audio.encode_exact(&pcm).unwrap()).unwrap();
            tessera_worlds::check_audio(&back.samples, SAMPLE_RATE).ok() == Some(*t)
        })
        .count();
    println!("canonical tunes read back from their exact codes: {played} of 512");
    let drawn = tessera_worlds::ShapeSpec::all()
        .filter(|s| {
            let back = image.decode(&image.encode(&s.render()).unwrap()).unwrap();
            tessera_worlds::check_image(&back).ok() == Some(*s)
        })
        .count();
    println!("canonical pictures read back from their codes: {drawn} of 210");
    println!(
        "{:<12} {:>12} {:>12}",
        "rendering", "same codes", "heard right"
    );
    for r in std::iter::once(Rendering::CANONICAL).chain(Rendering::varied_for(Task::Transcribe)) {
        let (mut same, mut frames, mut right) = (0usize, 0usize, 0usize);
        for i in 0..n {
            let Example::Tones { tune } = Task::Transcribe.sample(Split::Eval, i) else {
                unreachable!()
            };
            let canon = codes(tune.render());
            let got = codes(r.audio(&tune, Task::Transcribe, Split::Eval, i));
            same += canon.iter().zip(&got).filter(|(a, b)| a == b).count();
            frames += canon.len();
            let heard = (0..3).all(|k| {
                let mut v: HashMap<usize, usize> = HashMap::new();
                for f in interior(k) {
                    if let Some(&note) = label.get(&got[f]) {
                        *v.entry(note).or_default() += 1;
                    }
                }
                v.into_iter().max_by_key(|x| x.1).map(|x| x.0) == Some(tune.notes[k] as usize)
            });
            right += usize::from(heard);
        }
        println!(
            "{:<12} {:>11.1}% {:>11.1}%",
            r.name,
            100.0 * same as f64 / frames as f64,
            100.0 * right as f64 / n as f64
        );
    }
    // Refit the picture codebook on the canonical pictures and COUNT drawn with the shape
    // moved and resized (5th argument), to compare what the codes keep.
    let image = match args.get(5).filter(|s| *s != "-") {
        Some(count) => {
            let count: u64 = count.parse().expect("COUNT");
            let mut shapes = tessera_worlds::shapes::Variation::NONE;
            (shapes.shift, shapes.size) = (true, true);
            let family = Rendering {
                name: "geometry",
                tones: tessera_worlds::tones::Variation::NONE,
                shapes,
            };
            let pictures: Vec<_> = tessera_worlds::ShapeSpec::all()
                .map(|s| s.render())
                .chain((0..count).map(|i| {
                    let Example::Image { spec } = Task::Caption.sample(Split::Train, i) else {
                        unreachable!()
                    };
                    family.image(&spec, Task::Caption, Split::Train, i)
                }))
                .collect();
            PatchVq::fit(&pictures, 8, image.codebook_size(), 50, 20261207).expect("fit")
        }
        None => image,
    };
    let align: u32 = args.get(6).map_or(0, |a| a.parse().expect("ALIGN"));
    let image = image.with_alignment(align).expect("align");
    println!("pictures read with an alignment of {align} px");
    // "read back": the picture's codes decoded and read by the worlds' checker (what the
    // codes keep of the shape, its size, colour and place).
    println!(
        "{:<12} {:>12} {:>12}",
        "rendering", "same codes", "read back"
    );
    for r in std::iter::once(Rendering::CANONICAL).chain(Rendering::varied_for(Task::Caption)) {
        let (mut same, mut total, mut read) = (0usize, 0usize, 0usize);
        for i in 0..n {
            let Example::Image { spec } = Task::Caption.sample(Split::Eval, i) else {
                unreachable!()
            };
            let canon = image.encode(&spec.render()).unwrap();
            let got = image
                .encode(&r.image(&spec, Task::Caption, Split::Eval, i))
                .unwrap();
            let back = image.decode(&got).unwrap();
            read += usize::from(tessera_worlds::check_image(&back).ok() == Some(spec));
            same += canon
                .codes()
                .iter()
                .zip(got.codes())
                .filter(|(a, b)| a == b)
                .count();
            total += canon.codes().len();
        }
        println!(
            "{:<12} {:>11.1}% {:>11.1}%",
            r.name,
            100.0 * same as f64 / total as f64,
            100.0 * read as f64 / n as f64
        );
    }
}
