//! Image → text: the embedded `models/tessera-tiny` says what a picture shows.
//!
//! ```text
//! cargo run --release --example caption -- [PICTURE.png]
//! ```
//! With a path, that picture is captioned (a 64×64 picture of one shape on black, as the
//! model's world draws them; `cargo run --example text_to_image` writes one). Without one, the
//! model first draws `a small blue square at the center` itself, and its caption of that
//! picture must be the same words.

use std::path::Path;

use tessera::modalities::image::load_image;
use tessera::{Engine, Generated, Request, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let path = std::env::args().skip(1).find(|a| !a.starts_with('-'));

    let (picture, drawn_from) = match &path {
        Some(path) => (load_image(Path::new(path))?, None),
        None => {
            let prompt = "a small blue square at the center";
            let reply = engine.run(&Request::new().text(prompt).generate(Target::Image))?;
            let Some(Generated::Image(picture)) = reply.parts.into_iter().next() else {
                return Err("the model drew no picture".into());
            };
            println!("drew      {prompt:?}");
            (picture, Some(prompt))
        }
    };

    // A picture is a part like any other; the target is text.
    let request = Request::new().image(picture).generate(Target::text(64));
    let reply = engine.run(&request)?;
    let caption = reply.text().ok_or("the reply has no text")?;
    println!(
        "caption   {caption:?} ({} forward passes, {:.3} s)",
        reply.stats.nfe, reply.stats.seconds
    );

    if let Some(prompt) = drawn_from {
        assert_eq!(caption, prompt, "the caption does not match the drawing");
    }
    Ok(())
}
