//! Text → image: a caption in, a PNG out, drawn by the embedded `models/tessera-tiny`.
//!
//! ```text
//! cargo run --release --example text_to_image -- [CAPTION] [OUT.png]
//! ```
//! Defaults: `a large red circle at the top left` and `target/examples/picture.png`. The
//! picture is read back from the file by the shapes world's own checker, which must see what
//! the caption says (for captions of that world: `a SIZE COLOUR SHAPE at the POSITION`).

use std::path::PathBuf;

use tessera::modalities::image::{load_image, save_png};
use tessera::{Engine, Generated, Request, Target};
use tessera_worlds::{ShapeSpec, check_image};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let caption = args
        .next()
        .unwrap_or_else(|| "a large red circle at the top left".into());
    let out = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/examples/picture.png".into()),
    );

    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    let request = Request::new().text(&caption).generate(Target::Image);
    let reply = engine.run(&request)?;
    let Some(Generated::Image(picture)) = reply.parts.first() else {
        return Err(format!("expected a picture, got {:?}", reply.parts).into());
    };

    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    save_png(picture, &out)?;
    println!(
        "{caption:?} → {} ({}×{}, {} forward passes, {:.2} s)",
        out.display(),
        picture.width(),
        picture.height(),
        reply.stats.nfe,
        reply.stats.seconds
    );

    // The file decodes, and shows what was asked for.
    let written = load_image(&out)?;
    assert_eq!(&written, picture, "the PNG does not hold the picture");
    if let Ok(asked) = ShapeSpec::parse_caption(&caption) {
        let seen = check_image(&written)?;
        assert_eq!(seen, asked, "the picture shows {:?}", seen.caption());
        println!("the picture shows {:?}", seen.caption());
    }
    Ok(())
}
