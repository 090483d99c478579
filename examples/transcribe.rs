//! Audio → text: the embedded `models/tessera-tiny` names the notes of a clip.
//!
//! ```text
//! cargo run --release --example transcribe -- [CLIP.wav]
//! ```
//! With a path, that clip is transcribed (WAV, FLAC, MP3 or OGG, resampled as needed; the
//! model knows three-note tunes of C4–C5, as `cargo run --example text_to_audio` writes).
//! Without one, the model first plays `E4 G4 C5` itself, and its transcription of that clip
//! must be the same notes.

use tessera::modalities::audio::decode_file;
use tessera::{Engine, Generated, Request, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let path = std::env::args().skip(1).find(|a| !a.starts_with('-'));

    let (clip, played) = match &path {
        Some(path) => (decode_file(path)?, None),
        None => {
            let notes = "E4 G4 C5";
            let request = Request::new()
                .text(notes)
                .generate(Target::Audio { seconds: None });
            let reply = engine.run(&request)?;
            let Some(Generated::Audio(clip)) = reply.parts.into_iter().next() else {
                return Err("the model played no sound".into());
            };
            println!("played      {notes:?} ({:.2} s)", clip.duration_s());
            (clip, Some(notes))
        }
    };

    // A sound is a part like any other; the target is text.
    let request = Request::new().audio(clip).generate(Target::text(64));
    let reply = engine.run(&request)?;
    let heard = reply.text().ok_or("the reply has no text")?;
    println!(
        "transcribed {heard:?} ({} forward passes, {:.3} s)",
        reply.stats.nfe, reply.stats.seconds
    );

    if let Some(notes) = played {
        assert_eq!(
            heard, notes,
            "the transcription does not match the notes played"
        );
    }
    Ok(())
}
