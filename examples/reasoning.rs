//! Reasoning by remasking: a 4×4 sudoku solved by the embedded `models/tessera-tiny` with a
//! fast parallel policy, then the same policy plus a refinement budget that re-masks the
//! answer's least confident tokens and predicts them again with the rest of the grid visible.
//!
//! ```text
//! cargo run --release --example reasoning -- ['sudoku 3..2|..34|4..1|...3 =']
//! ```
//! Prints both answers, whether each solves the puzzle, their forward passes (NFE), and which
//! cells the refinement re-masked (from the stream's step events). The refined answer must
//! solve the puzzle.

use std::collections::BTreeSet;

use tessera::{DecodeOptions, Engine, Event, Policy, Remask, Request, Target, Unmask};
use tessera_worlds::check_sudoku;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::load(concat!(env!("CARGO_MANIFEST_DIR"), "/models/tessera-tiny"))?;
    // Arguments that look like flags (`cargo test -- --nocapture`) are not ours.
    let puzzle = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let puzzle = puzzle.unwrap_or_else(|| "sudoku 3..2|..34|4..1|...3 =".into());
    let request = Request::new().text(&puzzle).generate(Target::text(64));

    // Fast: the whole answer at once, each step committing every cell the model gives ≥ 0.5.
    let fast = DecodeOptions::new()
        .policy(Policy::Diffusion)
        .unmask(Unmask::Threshold(0.5));
    // Refined: the same, then 2 rounds each re-masking the least confident 10 % of the answer
    // (tokens committed at probability 0.99 or more are never re-masked: `Remask::KEEP`).
    let refined = fast.clone().remask(Remask::refine(2, 0.1));

    let first = engine.run(&request.clone().options(fast))?;
    let mut remasked = BTreeSet::new();
    let mut second = None;
    for event in engine.stream(&request.options(refined))? {
        match event? {
            Event::Step(step) => remasked.extend(step.remasked.iter().map(|p| p.position)),
            Event::Done(reply) => second = Some(reply),
        }
    }
    let second = second.ok_or("the stream ended without a reply")?;

    let verdict = |answer: &str| {
        if check_sudoku(&puzzle, answer) {
            "solved"
        } else {
            "wrong "
        }
    };
    let (a, b) = (first.text().unwrap_or(""), second.text().unwrap_or(""));
    println!("puzzle   {puzzle}");
    println!("fast     {a}  {}  NFE {}", verdict(a), first.stats.nfe);
    println!(
        "refined  {b}  {}  NFE {}, {} tokens revised",
        verdict(b),
        second.stats.nfe,
        second.stats.revised
    );
    // Text answers are right-aligned, one token per character here: padding comes first.
    let start = second.prompt_tokens + second.ids.len().saturating_sub(b.chars().count());
    let marks: String = (start..start + b.chars().count())
        .map(|p| if remasked.contains(&p) { '^' } else { ' ' })
        .collect();
    println!("         {marks}  re-masked and predicted again");

    assert!(!remasked.is_empty(), "the refinement re-masked nothing");
    assert!(
        second.stats.nfe > first.stats.nfe,
        "refining took no passes"
    );
    assert!(check_sudoku(&puzzle, b), "the refined answer is wrong");
    Ok(())
}
