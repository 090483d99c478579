//! Finishing: early stopping at EOS (`--until-eos`).

/// If every row has committed EOS with everything before it decided, fills what follows
/// each row's first EOS with EOS and returns `true`.
pub(crate) fn finish_at_eos(
    x: &mut [u32],
    rows: usize,
    prompt_len: usize,
    mask: u32,
    eos: u32,
) -> bool {
    // cannot fail: a batch has at least one row, `x` holds `rows × total` tokens and
    // `prompt_len ≤ total`.
    let total = x.len() / rows;
    let mut ends = Vec::with_capacity(rows);
    for r in 0..rows {
        let generated = &x[r * total + prompt_len..(r + 1) * total];
        match generated.iter().position(|&t| t == eos) {
            Some(e) if generated[..e].iter().all(|&t| t != mask) => ends.push(e),
            _ => return false,
        }
    }
    for (r, e) in ends.into_iter().enumerate() {
        x[r * total + prompt_len + e..(r + 1) * total].fill(eos);
    }
    true
}
