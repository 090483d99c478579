//! A small deterministic mutator for the bounded random pass of the tests (the AFL campaigns
//! use AFL++'s own): bit flips, byte sets, interesting integers, chunk deletion, duplication
//! and splicing between corpus entries.

/// Mutates corpus entries from a fixed seed (xorshift64*).
#[derive(Debug, Clone)]
pub struct Mutator {
    state: u64,
}

/// Values that often sit on a parser's edge.
const INTERESTING: [u64; 10] = [
    0,
    1,
    0x7f,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    u64::MAX / 2,
    u64::MAX,
];

impl Mutator {
    /// A mutator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Mutator { state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One mutant of an entry of `corpus` (of the empty input when it is empty).
    pub fn mutate(&mut self, corpus: &[Vec<u8>]) -> Vec<u8> {
        let mut data = corpus
            .get(self.below(corpus.len()))
            .cloned()
            .unwrap_or_default();
        for _ in 0..1 + self.below(4) {
            let len = data.len();
            match self.below(6) {
                0 if len > 0 => {
                    let i = self.below(len);
                    data[i] ^= 1 << self.below(8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    data[i] = self.next() as u8;
                }
                2 if len >= 8 => {
                    let i = self.below(len - 7);
                    let v = INTERESTING[self.below(INTERESTING.len())];
                    let width = [1, 2, 4, 8][self.below(4)];
                    data[i..i + width].copy_from_slice(&v.to_le_bytes()[..width]);
                }
                3 if len > 1 => {
                    let start = self.below(len);
                    let end = (start + 1 + self.below(len - start)).min(len);
                    data.drain(start..end);
                }
                4 if len > 0 => {
                    let start = self.below(len);
                    let end = (start + 1 + self.below(64)).min(len);
                    let chunk = data[start..end].to_vec();
                    let at = self.below(len + 1);
                    data.splice(at..at, chunk);
                }
                _ => {
                    if let Some(other) = corpus.get(self.below(corpus.len())) {
                        let cut = self.below(data.len() + 1);
                        let from = self.below(other.len() + 1);
                        data.truncate(cut);
                        data.extend_from_slice(&other[from..]);
                    }
                }
            }
        }
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_reproducible_and_vary() {
        let corpus = vec![b"hello world, a seed".to_vec(), vec![0; 32]];
        let a: Vec<Vec<u8>> = {
            let mut m = Mutator::new(3);
            (0..50).map(|_| m.mutate(&corpus)).collect()
        };
        let b: Vec<Vec<u8>> = {
            let mut m = Mutator::new(3);
            (0..50).map(|_| m.mutate(&corpus)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().any(|x| !corpus.contains(x)));
        assert!(Mutator::new(1).mutate(&[]).len() < 2);
    }
}
