//! The batched driver: many [`Decoding`]s advanced together, their passes merged into as few
//! forward calls as the denoiser allows (step-level continuous batching). Requests join and
//! leave between steps.
//!
//! # What is merged
//! Passes that need no cache ([`CachePass::None`]) and share an attention layout are run as
//! one [`Denoiser::denoise`] call: each request's rows are padded **on the right** to the
//! longest canvas (padding keys masked out through [`DenoiseInput::attention`]), and the
//! positions asked for are the union of every request's. Right padding keeps every real
//! token at its own position, so RoPE and the structure of attention are what they are
//! alone; padded keys get zero attention weight. Passes under attention groups are merged
//! only with passes of the same canvas length and groups. Passes that use a cache (prefix,
//! dual and block caches keep per-request state) run one by one, each with its own cache,
//! in the same round.
//!
//! # Exactness
//! A merged forward computes the same functions of the same inputs as the passes alone, but
//! a batched matrix product or a longer (zero-weighted) softmax may round differently in the
//! last bits than a single row. The driver does not hide this: the tests decode a mixed set
//! of requests together and alone on the fixture models and tessera-tiny and check that the
//! tokens and NFE are the same (`tests/driver.rs`).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::controller::{CachePass, Decoding};
use crate::{DenoiseInput, Denoiser, Error, Generation, Logits, StepInfo};

/// Identifies a request inside a [`Driver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// What happened to a request in one [`Driver::step`].
#[derive(Debug)]
#[non_exhaustive]
pub enum DriverEvent {
    /// The request took a step.
    Step(RequestId, StepInfo),
    /// The request finished (or failed) and left the driver.
    Finished(RequestId, Result<Generation, Error>),
}

/// Many decodings advanced together on one model.
///
/// ```
/// use tessera_hybrid::{ControllerOptions, Decoding, Driver, DriverEvent, PromptBatch, SeededNoise};
/// # use tessera_hybrid::{Denoiser, DenoiseError, DenoiseInput, Logits, Span};
/// # #[derive(Debug)] struct Sevens;
/// # impl Denoiser for Sevens {
/// #     type Cache = ();
/// #     fn logits_width(&self) -> usize { 10 }
/// #     fn denoise_and_cache(&self, i: &DenoiseInput<'_>) -> Result<(Logits, ()), DenoiseError> { Ok((self.denoise(i)?, ())) }
/// #     fn denoise_span(&self, i: &DenoiseInput<'_>, _: Span, _: &()) -> Result<Logits, DenoiseError> { self.denoise(i) }
/// #     fn denoise(&self, i: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
/// #         let mut l = Logits::filled(i.rows(), i.positions.len(), 10, -10.0);
/// #         for r in 0..i.rows() { for p in 0..i.positions.len() { l.row_mut(r, p)[7] = 10.0; } }
/// #         Ok(l)
/// #     }
/// # }
/// let model = Sevens;
/// let noise = SeededNoise::new(0);
/// let mut driver = Driver::new();
/// for (prompt, n) in [(vec![1, 2], 4), (vec![3, 4, 5, 6], 2)] {
///     let prompts = PromptBatch::left_padded(vec![prompt], 0)?;
///     let opts = ControllerOptions::new(9).gen_length(n).steps(n);
///     driver.join(Decoding::new(&model, &prompts, &opts, &noise)?);
/// }
/// let mut done = Vec::new();
/// while !driver.is_empty() {
///     for event in driver.step(&model) {
///         if let DriverEvent::Finished(id, result) = event {
///             done.push((id, result?.generated(0).to_vec()));
///         }
///     }
/// }
/// assert_eq!(done.len(), 2);
/// assert!(done.iter().all(|(_, tokens)| tokens.iter().all(|&t| t == 7)));
/// # Ok::<(), tessera_hybrid::Error>(())
/// ```
#[derive(Debug)]
pub struct Driver<'n, C> {
    active: BTreeMap<RequestId, Decoding<'n, C>>,
    next_id: u64,
    forwards: usize,
}

impl<C> Default for Driver<'_, C> {
    fn default() -> Self {
        Driver {
            active: BTreeMap::new(),
            next_id: 0,
            forwards: 0,
        }
    }
}

impl<'n, C: Send + Default> Driver<'n, C> {
    /// An empty driver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a request; it takes part from the next [`Driver::step`].
    pub fn join(&mut self, decoding: Decoding<'n, C>) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.active.insert(id, decoding);
        id
    }

    /// Removes a request (cancellation): its state and cache are dropped now.
    pub fn leave(&mut self, id: RequestId) -> Option<Decoding<'n, C>> {
        self.active.remove(&id)
    }

    /// A request's decoding, to look at its canvas between steps.
    pub fn get(&self, id: RequestId) -> Option<&Decoding<'n, C>> {
        self.active.get(&id)
    }

    /// Requests still decoding.
    pub fn len(&self) -> usize {
        self.active.len()
    }

    /// Whether no request is decoding.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Forward calls made so far (each merged call counts once).
    pub fn forwards(&self) -> usize {
        self.forwards
    }

    /// Advances every request by one pass: merges what can be merged, runs the rest alone,
    /// and reports each request's steps; finished or failed requests leave with their result.
    pub fn step<D: Denoiser<Cache = C> + ?Sized>(&mut self, model: &D) -> Vec<DriverEvent> {
        let mut events = Vec::new();
        let mut finished = Vec::new();
        // Which requests have a pass, grouped by what may share a forward.
        let mut groups: BTreeMap<Option<Layout>, Vec<(RequestId, Owned)>> = BTreeMap::new();
        let mut alone = Vec::new();
        for (&id, d) in &mut self.active {
            match d.next_pass() {
                Err(e) => finished.push((id, Err(e))),
                Ok(None) => finished.push((id, Ok(()))),
                Ok(Some(pass)) if pass.cache == CachePass::None => {
                    let key = pass.input.groups.map(|g| (pass.input.len, g.to_vec()));
                    groups
                        .entry(key)
                        .or_default()
                        .push((id, Owned::of(&pass.input)));
                }
                Ok(Some(_)) => alone.push(id),
            }
        }
        let mut failed = Vec::new();
        for parts in groups.values() {
            self.forwards += 1;
            match self.merged(model, parts) {
                Ok(results) => failed.extend(
                    results
                        .into_iter()
                        .filter_map(|(id, r)| r.err().map(|e| (id, e))),
                ),
                // The merged forward failed: run each alone so that one bad request cannot
                // fail the others.
                Err(_) => {
                    for &(id, _) in parts {
                        if let Err(e) = self.alone(model, id) {
                            failed.push((id, e));
                        }
                    }
                }
            }
        }
        for id in alone {
            self.forwards += 1;
            if let Err(e) = self.alone(model, id) {
                failed.push((id, e));
            }
        }
        for (&id, d) in &mut self.active {
            events.extend(
                d.take_events()
                    .into_iter()
                    .map(|s| DriverEvent::Step(id, s)),
            );
        }
        for (id, e) in failed {
            self.active.remove(&id);
            events.push(DriverEvent::Finished(id, Err(e)));
        }
        for (id, state) in finished {
            if let Some(d) = self.active.remove(&id) {
                let result = state.and_then(|()| d.finish());
                events.push(DriverEvent::Finished(id, result));
            }
        }
        events
    }

    /// Runs one request's prepared pass alone and advances it.
    fn alone<D: Denoiser<Cache = C> + ?Sized>(
        &mut self,
        model: &D,
        id: RequestId,
    ) -> Result<(), Error> {
        let d = self
            .active
            .get_mut(&id)
            .ok_or(Error::OutOfOrder("unknown request"))?;
        let raw = d.forward(model)?;
        d.advance(raw)
    }

    /// Runs the prepared passes `parts` as one forward and advances each request; the error
    /// is the merged forward's (nothing advanced), the list each request's own advance.
    #[allow(clippy::type_complexity)]
    fn merged<D: Denoiser<Cache = C> + ?Sized>(
        &mut self,
        model: &D,
        parts: &[(RequestId, Owned)],
    ) -> Result<Vec<(RequestId, Result<(), Error>)>, Error> {
        let merged = Merged::new(parts.iter().map(|(_, input)| input));
        let started = Instant::now();
        let logits = model.denoise(&merged.input())?;
        let seconds = started.elapsed().as_secs_f64();
        let split = merged.split(&logits, parts.iter().map(|(_, input)| input))?;
        Ok(parts
            .iter()
            .zip(split)
            .map(|(&(id, _), logits)| {
                let result = match self.active.get_mut(&id) {
                    Some(d) => {
                        d.add_forward_seconds(seconds);
                        d.advance(logits)
                    }
                    None => Err(Error::OutOfOrder("unknown request")),
                };
                (id, result)
            })
            .collect())
    }
}

/// What passes must share to be merged under attention groups: canvas length and groups.
type Layout = (usize, Vec<u32>);

/// One request's pass input, copied out of its decoding.
struct Owned {
    tokens: Vec<u32>,
    len: usize,
    attention: Option<Vec<bool>>,
    positions: Vec<usize>,
    groups: Option<Vec<u32>>,
}

impl Owned {
    fn of(input: &DenoiseInput<'_>) -> Self {
        Owned {
            tokens: input.tokens.to_vec(),
            len: input.len,
            attention: input.attention.map(<[bool]>::to_vec),
            positions: input.positions.to_vec(),
            groups: input.groups.map(<[u32]>::to_vec),
        }
    }

    fn rows(&self) -> usize {
        self.tokens.len().checked_div(self.len).unwrap_or(0)
    }
}

/// Several inputs laid out as one: rows right-padded to the longest, positions united.
struct Merged {
    tokens: Vec<u32>,
    len: usize,
    attention: Option<Vec<bool>>,
    positions: Vec<usize>,
    groups: Option<Vec<u32>>,
}

impl Merged {
    fn new<'a>(inputs: impl Iterator<Item = &'a Owned> + Clone) -> Self {
        let len = inputs.clone().map(|i| i.len).max().unwrap_or(0);
        let rows: usize = inputs.clone().map(Owned::rows).sum();
        let padded = inputs
            .clone()
            .any(|i| i.len != len || i.attention.is_some());
        // cannot fail: every input is a decoding's checked canvas (`len` its row length, at most
        // the longest), and the merged rows are filled to exactly `rows × len` just below.
        let mut tokens = Vec::with_capacity(rows * len);
        let mut attention = Vec::with_capacity(if padded { rows * len } else { 0 });
        for input in inputs.clone() {
            for r in 0..input.rows() {
                let row = &input.tokens[r * input.len..(r + 1) * input.len];
                tokens.extend_from_slice(row);
                // Any id the model embeds: the row's own last token.
                let fill = row.last().copied().unwrap_or(0);
                tokens.extend(std::iter::repeat_n(fill, len - input.len));
                if padded {
                    match &input.attention {
                        Some(a) => {
                            attention.extend_from_slice(&a[r * input.len..(r + 1) * input.len])
                        }
                        None => attention.extend(std::iter::repeat_n(true, input.len)),
                    }
                    attention.extend(std::iter::repeat_n(false, len - input.len));
                }
            }
        }
        let mut positions: Vec<usize> = inputs
            .clone()
            .flat_map(|i| i.positions.iter().copied())
            .collect();
        positions.sort_unstable();
        positions.dedup();
        Merged {
            tokens,
            len,
            attention: padded.then_some(attention),
            positions,
            groups: inputs.clone().next().and_then(|i| i.groups.clone()),
        }
    }

    fn input(&self) -> DenoiseInput<'_> {
        DenoiseInput::new(&self.tokens, self.len, &self.positions)
            .with_attention(self.attention.as_deref())
            .with_groups(self.groups.as_deref())
    }

    /// Each input's logits, in order, cut out of the merged forward's.
    fn split<'a>(
        &self,
        logits: &Logits,
        inputs: impl Iterator<Item = &'a Owned> + Clone,
    ) -> Result<Vec<Logits>, Error> {
        let rows: usize = inputs.clone().map(Owned::rows).sum();
        if logits.rows() != rows || logits.positions() != self.positions.len() {
            return Err(Error::Denoiser(
                format!(
                    "denoiser returned logits for {}×{}, expected {rows}×{}",
                    logits.rows(),
                    logits.positions(),
                    self.positions.len()
                )
                .into(),
            ));
        }
        let vocab = logits.vocab();
        let mut out = Vec::new();
        let mut first_row = 0;
        for input in inputs {
            let index: Vec<usize> = input
                .positions
                .iter()
                .map(|p| self.positions.binary_search(p).unwrap_or(0))
                .collect();
            // cannot fail: the logits' shape was checked above and each input's rows and
            // positions are among the merged ones.
            let mut data = Vec::with_capacity(input.rows() * index.len() * vocab);
            for r in 0..input.rows() {
                for &k in &index {
                    data.extend_from_slice(logits.row(first_row + r, k));
                }
            }
            first_row += input.rows();
            out.push(
                Logits::from_vec(data, input.rows(), index.len(), vocab)
                    .ok_or(Error::OutOfOrder("split logits of the wrong size"))?,
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::tests::{run_on, spread};
    use crate::{ControllerOptions, SeededNoise, controller::generate};

    #[test]
    fn requests_decoded_together_match_each_decoded_alone() {
        let spread = spread();
        let mut models: Vec<&str> = spread.iter().map(|(m, ..)| *m).collect();
        models.dedup();
        for model in models {
            run_on(model, |m| {
                let noise = SeededNoise::new(11);
                let mine: Vec<_> = spread.iter().filter(|(n, ..)| *n == model).collect();
                let alone: Vec<Generation> = mine
                    .iter()
                    .map(|(_, p, o)| generate(m, p, o, &noise, &mut |_| {}).unwrap())
                    .collect();
                // Request i joins at round i (requests join and leave between steps).
                let mut driver = Driver::new();
                let mut ids = vec![None; mine.len()];
                let mut results: Vec<Option<Generation>> = vec![None; mine.len()];
                let mut steps = vec![0usize; mine.len()];
                let mut round = 0;
                while results.iter().any(Option::is_none) {
                    if let Some((_, p, o)) = mine.get(round) {
                        ids[round] = Some(driver.join(Decoding::new(m, p, o, &noise).unwrap()));
                    }
                    for event in driver.step(m) {
                        let index = |id| ids.iter().position(|&i| i == Some(id)).unwrap();
                        match event {
                            DriverEvent::Step(id, _) => steps[index(id)] += 1,
                            DriverEvent::Finished(id, r) => {
                                results[index(id)] = Some(r.unwrap());
                            }
                        }
                    }
                    round += 1;
                    assert!(round < 1000, "the driver does not finish");
                }
                for (i, (got, want)) in results.into_iter().zip(&alone).enumerate() {
                    let got = got.unwrap();
                    assert_eq!(&got, want, "{model} request {i}: tokens and NFE");
                }
                assert!(steps.iter().all(|&s| s > 0));
                // Merging pays: fewer forwards than the requests' passes one by one.
                let passes: usize = alone.iter().map(Generation::nfe).sum();
                if mine.len() > 1 && model != "structured" {
                    assert!(
                        driver.forwards() < passes,
                        "{model}: {} forwards",
                        driver.forwards()
                    );
                }
            });
        }
    }

    #[test]
    fn a_failing_request_leaves_without_failing_the_others() {
        #[derive(Debug)]
        struct FailsOnLongRows;
        impl Denoiser for FailsOnLongRows {
            crate::testing::exact_cache!();
            fn logits_width(&self) -> usize {
                12
            }
            fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, crate::DenoiseError> {
                // Refuses any row with a real token at position 5 or later (the long
                // request's canvas), like a model refusing an oversized input.
                let real =
                    |r: usize, j: usize| input.attention.is_none_or(|a| a[r * input.len + j]);
                if (0..input.rows()).any(|r| (5..input.len).any(|j| real(r, j))) {
                    return Err("too long".into());
                }
                crate::testing::Ramp.denoise(input)
            }
        }
        let noise = SeededNoise::new(1);
        let short = ControllerOptions::new(11).gen_length(2).steps(2);
        let long = ControllerOptions::new(11).gen_length(6).steps(6);
        let prompts = crate::testing::prompt();
        let mut driver = Driver::new();
        let a = driver.join(Decoding::new(&FailsOnLongRows, &prompts, &short, &noise).unwrap());
        let b = driver.join(Decoding::new(&FailsOnLongRows, &prompts, &long, &noise).unwrap());
        let mut outcomes = Vec::new();
        while !driver.is_empty() {
            for e in driver.step(&FailsOnLongRows) {
                if let DriverEvent::Finished(id, r) = e {
                    outcomes.push((id, r.is_ok()));
                }
            }
        }
        outcomes.sort();
        assert_eq!(outcomes, vec![(a, true), (b, false)]);
    }
}
