//! Text → audio: note names in, a WAV out, played by the embedded `models/tessera-tiny`.
//!
//! ```text
//! cargo run --release --example text_to_audio -- [NOTES] [OUT.wav]
//! ```
//! Defaults: `C4 E4 G4` and `target/examples/tune.wav`. The model's world is three notes of
//! the C major scale from C4 to C5 (C4 D4 E4 F4 G4 A4 B4 C5), 0.25 s each. The written file
//! is read back and listened to by the tones world's own checker, which must hear the notes
//! asked for.

use std::path::PathBuf;

use tessera::modalities::audio::{decode_file, write_wav};
use tessera::{Engine, Generated, Request, Target};
use tessera_worlds::{Tune, check_audio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let notes = args.next().unwrap_or_else(|| "C4 E4 G4".into());
    let out = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/examples/tune.wav".into()),
    );

    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    // `seconds: None`: the clip is as long as the model makes them (0.75 s).
    let request = Request::new()
        .text(&notes)
        .generate(Target::Audio { seconds: None });
    let reply = engine.run(&request)?;
    let Some(Generated::Audio(pcm)) = reply.parts.first() else {
        return Err(format!("expected a sound, got {:?}", reply.parts).into());
    };

    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    write_wav(&out, pcm)?;
    println!(
        "{notes:?} → {} ({:.2} s at {} Hz, {} forward passes, {:.3} s)",
        out.display(),
        pcm.duration_s(),
        pcm.sample_rate,
        reply.stats.nfe,
        reply.stats.seconds
    );

    // The file decodes, and plays what was asked for.
    let written = decode_file(&out)?;
    assert_eq!(
        written.samples.len(),
        pcm.samples.len(),
        "the WAV is cut short"
    );
    if let Ok(asked) = Tune::parse_caption(&notes) {
        let heard = check_audio(&written.samples, written.sample_rate)?;
        assert_eq!(heard, asked, "the clip plays {heard}");
        println!("the clip plays {heard}");
    }
    Ok(())
}
