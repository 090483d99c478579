//! Times the fused attention kernel at the shapes of a forward pass:
//! `cargo run --release -p tessera-kernels --example attention_bench`.

use std::time::Instant;

use tessera_kernels::{AttentionShape, Strided, attention};

fn main() {
    for (rows, heads, len, hd) in [(1, 8, 160, 64), (16, 8, 40, 32), (1, 32, 160, 128)] {
        let shape = AttentionShape {
            rows,
            heads,
            kv_heads: heads,
            queries: len,
            keys: len,
            head_dim: hd,
        };
        let n = rows * heads * len * hd;
        let data: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let view = Strided::heads_major(&data, heads, len, hd);
        let mut out = vec![0.0; n];
        let mut best = f64::INFINITY;
        for _ in 0..20 {
            let t = Instant::now();
            attention(view, view, view, shape, 0.125, None, &mut out).expect("shapes agree");
            best = best.min(t.elapsed().as_secs_f64());
        }
        let flops = 4.0 * (rows * heads * len * len * hd) as f64;
        println!(
            "rows {rows} heads {heads} len {len} hd {hd}: {:.3} ms, {:.1} GFLOP/s",
            best * 1e3,
            flops / best / 1e9
        );
    }
}
