// Tessera's fused sampling pass on the GPU: one thread block per masked position's logits
// row, one small record out. The CUDA twin of `sample_rows` (kernels/src/sample.rs) for
// the draws the diffusion samplers run at every step, over an optional contiguous slice of
// the vocabulary: the argmax (temperature 0); LLaDA's Gumbel-max in f64
// (`argmax exp(l) / (-ln u)^T`, one uniform per allowed id), scored by the untempered
// softmax; Dream's categorical draw (logits divided by T in f32, inverse CDF in index order
// with one uniform per row), scored by that tempered softmax. Top-p then top-k filter the
// scored values first, as on the CPU: top-p keeps the shortest head of the value-sorted
// distribution (ties by index) whose mass exceeds p, top-k the values not below the k-th
// largest (ties kept); both thresholds come from a radix select over the values' ordered
// bits (four passes of 256-bin histograms in shared memory, by count or by mass), never a
// sort. Each record holds the token, its probability, the top-1 minus top-2 margin and the
// entropy of the (filtered) distribution — no softmax row is written.
//
// Arithmetic is that of `Arithmetic::Fast`: per-thread sums in f32 over a strided share of
// the row, combined across the block in f64. Ties go to the lowest index, as on the CPU;
// NaN logits are skipped by the maxima and poison the sums (with top-p or top-k,
// a filtered row holding one is unspecified: the backbone rejects non-finite logits before
// any sampling).
//
// Compiled by NVRTC at run time (and checked by `scripts/cuda_check.py` for sm_80/sm_90
// with ptxas); compiled as C++ with `host_shim.h` for the CPU tests of its logic.

#ifndef TESSERA_HOST_SHIM
#define TESSERA_DEVICE_INF __int_as_float(0x7f800000)
#else
#define TESSERA_DEVICE_INF INFINITY
#endif

// Threads per block; a power of two, a multiple of the warp size. (The CPU test build uses
// fewer: the logic is the same for any such size, and every thread is an OS thread there.)
#ifndef SAMPLE_THREADS
#define SAMPLE_THREADS 256
#endif
#define WARPS (SAMPLE_THREADS / 32)

struct SampleRecord {
    unsigned int token;
    float prob;
    float margin;
    float entropy;
};

// Running top two of a thread or a merged group: the max and its first index, and the
// runner-up counting duplicates (a second copy of the max is the runner-up).
struct Top2 {
    float best;
    unsigned int index;
    float second;
};

__device__ __forceinline__ Top2 top2_merge(Top2 a, Top2 b) {
    Top2 r;
    bool a_wins = a.best > b.best || (a.best == b.best && a.index < b.index) || b.best != b.best;
    r.best = a_wins ? a.best : b.best;
    r.index = a_wins ? a.index : b.index;
    float lo = a_wins ? b.best : a.best;
    float s = a.second > b.second ? a.second : b.second;
    r.second = lo > s ? lo : s;
    return r;
}

// Block-wide merge of every thread's Top2; the result in every thread.
__device__ Top2 block_top2(Top2 t, Top2* shared) {
    for (int off = 16; off > 0; off /= 2) {
        Top2 o;
        o.best = __shfl_xor_sync(0xffffffffu, t.best, off);
        o.index = __shfl_xor_sync(0xffffffffu, t.index, off);
        o.second = __shfl_xor_sync(0xffffffffu, t.second, off);
        t = top2_merge(t, o);
    }
    unsigned int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) shared[warp] = t;
    __syncthreads();
    Top2 r = shared[0];
    for (int w = 1; w < WARPS; ++w) r = top2_merge(r, shared[w]);
    __syncthreads();
    return r;
}

// Block-wide sum of a double; the result in every thread.
__device__ double block_sum(double v, double* shared) {
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    unsigned int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    double r = 0.0;
    for (int w = 0; w < WARPS; ++w) r += shared[w];
    __syncthreads();
    return r;
}

// Block-wide Gumbel winner: the largest key, lowest index on ties (keys may be -inf).
__device__ unsigned int block_argmax_f64(double key, unsigned int index, double* keys,
                                         unsigned int* indices) {
    for (int off = 16; off > 0; off /= 2) {
        double k = __shfl_xor_sync(0xffffffffu, key, off);
        unsigned int i = __shfl_xor_sync(0xffffffffu, index, off);
        if (k > key || (k == key && i < index)) {
            key = k;
            index = i;
        }
    }
    unsigned int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) {
        keys[warp] = key;
        indices[warp] = index;
    }
    __syncthreads();
    double best = keys[0];
    unsigned int arg = indices[0];
    for (int w = 1; w < WARPS; ++w) {
        if (keys[w] > best || (keys[w] == best && indices[w] < arg)) {
            best = keys[w];
            arg = indices[w];
        }
    }
    __syncthreads();
    return arg;
}

// A float's bits mapped to an unsigned key in the same order (-0 just below +0).
__device__ __forceinline__ unsigned int order_key(float v) {
    unsigned int b = __float_as_uint(v);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

__device__ __forceinline__ float key_value(unsigned int k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// The filters of one row: which values survive top-p, then top-k.
struct Filter {
    // top-p: keep key > p_key, and key == p_key up to index p_last.
    bool has_p;
    unsigned int p_key;
    unsigned int p_last;
    // top-k: keep values >= k_value.
    bool has_k;
    float k_value;
};

__device__ __forceinline__ bool kept(const Filter& f, unsigned int i, float v) {
    if (f.has_p) {
        unsigned int k = order_key(v);
        if (k < f.p_key || (k == f.p_key && i > f.p_last)) return false;
    }
    // Not below the k-th (a NaN stays, as the CPU's partial comparison keeps it).
    return !f.has_k || !(v < f.k_value);
}

// The scored value of id i.
__device__ __forceinline__ float scored(const float* x, unsigned int i, bool tempered, float t) {
    return tempered ? x[i] / t : x[i];
}

// Radix select over the kept values' keys: the key K with W(key > K) <= target < W(key >= K),
// W summing one per value (by_mass = false) or its probability exp(v − m) / fsum. Returns K;
// `above` receives W(key > K). Four passes of a 256-bin histogram in shared memory.
__device__ unsigned int block_radix_select(const float* x, unsigned int n, bool tempered, float t,
                                           const Filter& f, bool by_mass, float m, float fsum,
                                           double target, double* hist, double* above) {
    __shared__ unsigned int prefix_shared;
    __shared__ double above_shared;
    unsigned int prefix = 0, mask = 0;
    double w_above = 0.0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (unsigned int b = threadIdx.x; b < 256; b += SAMPLE_THREADS) hist[b] = 0.0;
        __syncthreads();
        for (unsigned int i = threadIdx.x; i < n; i += SAMPLE_THREADS) {
            float v = scored(x, i, tempered, t);
            unsigned int k = order_key(v);
            if ((k & mask) != prefix || !kept(f, i, v)) continue;
            double w = by_mass ? (double)(expf(v - m) / fsum) : 1.0;
            atomicAdd(&hist[(k >> shift) & 255u], w);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            int b = 255;
            for (; b > 0; --b) {
                // By mass the CPU compares the running sum rounded to f32 with p.
                const double w = w_above + hist[b];
                if (by_mass ? (float)w > (float)target : w > target) break;
                w_above += hist[b];
            }
            prefix_shared = prefix | ((unsigned int)b << shift);
            above_shared = w_above;
        }
        __syncthreads();
        prefix = prefix_shared;
        w_above = above_shared;
        mask |= 255u << shift;
        __syncthreads();
    }
    *above = w_above;
    return prefix;
}

// Index of the `rank`-th (0-based, in index order) value whose key is `key`, or n − 1 past
// the last: each thread counts its contiguous segment, thread 0 walks the counts.
__device__ unsigned int block_nth_equal(const float* x, unsigned int n, bool tempered, float t,
                                        unsigned int key, unsigned int rank,
                                        unsigned int* seg_count) {
    __shared__ unsigned int found;
    const unsigned int seg = (n + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
    const unsigned int start = threadIdx.x * seg;
    const unsigned int end = start + seg < n ? start + seg : n;
    unsigned int c = 0;
    for (unsigned int i = start; i < end; ++i) c += order_key(scored(x, i, tempered, t)) == key;
    seg_count[threadIdx.x] = c;
    __syncthreads();
    if (threadIdx.x == 0) {
        found = n - 1;
        unsigned int before = 0;
        for (unsigned int s = 0; s < SAMPLE_THREADS; ++s) {
            if (before + seg_count[s] > rank) {
                const unsigned int a = s * seg;
                const unsigned int b = a + seg < n ? a + seg : n;
                for (unsigned int i = a; i < b; ++i) {
                    if (order_key(scored(x, i, tempered, t)) == key && before++ == rank) {
                        found = i;
                        break;
                    }
                }
                break;
            }
            before += seg_count[s];
        }
    }
    __syncthreads();
    unsigned int r = found;
    __syncthreads();
    return r;
}

// Dream's inverse-CDF draw over p_i = exp(v_i − m) / sum (v = x / t), in index order: the
// first i whose running sum exceeds u, or the last i with p_i > 0 when rounding leaves the
// sum short. Each thread sums one contiguous segment in f64; thread 0 walks the segment
// sums, then the one segment the draw falls in.
__device__ unsigned int block_categorical(const float* x, unsigned int n, float t, float m,
                                          float fsum, double u, const Filter& f,
                                          double* seg_sum, unsigned int* seg_last) {
    const unsigned int seg = (n + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
    const unsigned int start = threadIdx.x * seg;
    const unsigned int end = start + seg < n ? start + seg : n;
    double acc = 0.0;
    unsigned int last = 0xffffffffu;
    for (unsigned int i = start; i < end; ++i) {
        float v = x[i] / t;
        float p = kept(f, i, v) ? expf(v - m) / fsum : 0.0f;
        if (p > 0.0f) {
            acc += (double)p;
            last = i;
        }
    }
    seg_sum[threadIdx.x] = acc;
    seg_last[threadIdx.x] = last;
    __syncthreads();
    __shared__ unsigned int pick;
    if (threadIdx.x == 0) {
        double cum = 0.0;
        unsigned int found = 0xffffffffu, last_any = 0;
        for (unsigned int s = 0; s < SAMPLE_THREADS && found == 0xffffffffu; ++s) {
            if (seg_last[s] != 0xffffffffu) last_any = seg_last[s];
            if (u < cum + seg_sum[s]) {
                const unsigned int a = s * seg;
                const unsigned int b = a + seg < n ? a + seg : n;
                for (unsigned int i = a; i < b; ++i) {
                    float v = x[i] / t;
                    float p = kept(f, i, v) ? expf(v - m) / fsum : 0.0f;
                    if (p > 0.0f) {
                        cum += (double)p;
                        if (u < cum) {
                            found = i;
                            break;
                        }
                    }
                }
            } else {
                cum += seg_sum[s];
            }
        }
        pick = found != 0xffffffffu ? found : last_any;
    }
    __syncthreads();
    unsigned int r = pick;
    __syncthreads();
    return r;
}

// logits: rows × vocab; the row's allowed ids are [lo, hi). noise, when temperature > 0:
// rows × (hi − lo) uniforms in (0, 1) for the Gumbel draw (categorical = 0), one per row
// for the categorical draw (categorical = 1). top_k 0 and top_p >= 1 filter nothing.
// One block of SAMPLE_THREADS per row.
extern "C" __global__ void tessera_sample_rows(const float* __restrict__ logits,
                                               unsigned long long vocab, unsigned int lo,
                                               unsigned int hi, double temperature,
                                               unsigned int categorical, unsigned int top_k,
                                               float top_p, const double* __restrict__ noise,
                                               SampleRecord* __restrict__ out) {
    __shared__ Top2 top_shared[WARPS];
    __shared__ double sum_shared[WARPS];
    __shared__ unsigned int index_shared[WARPS];
    __shared__ double seg_sum[SAMPLE_THREADS];
    __shared__ unsigned int seg_last[SAMPLE_THREADS];
    __shared__ double hist[256];
    const unsigned long long row = blockIdx.x;
    const unsigned int n = hi - lo;
    const float* x = logits + row * vocab + lo;
    // The categorical draw scores the tempered logits v = x / t (t in f32, as Dream).
    const bool tempered = categorical != 0 && temperature > 0.0;
    const float t = tempered ? (float)temperature : 1.0f;

    // Pass 1: max, its first index, runner-up.
    Top2 mine;
    mine.best = -TESSERA_DEVICE_INF;
    mine.index = 0xffffffffu;
    mine.second = -TESSERA_DEVICE_INF;
    for (unsigned int i = threadIdx.x; i < n; i += SAMPLE_THREADS) {
        float v = tempered ? x[i] / t : x[i];
        float lo_v = v < mine.best ? v : mine.best;
        mine.second = lo_v > mine.second ? lo_v : mine.second;
        if (v > mine.best) {
            mine.best = v;
            mine.index = i;
        }
    }
    Top2 top = block_top2(mine, top_shared);
    const float m = top.best;
    const unsigned int argmax = top.index == 0xffffffffu ? 0u : top.index;

    // Pass 2: softmax normaliser and Σ e·d with d = v − max.
    float s = 0.0f, e_d = 0.0f;
    if (m > -TESSERA_DEVICE_INF) {
        for (unsigned int i = threadIdx.x; i < n; i += SAMPLE_THREADS) {
            float d = (tempered ? x[i] / t : x[i]) - m;
            float e = expf(d);
            s += e;
            e_d += e > 0.0f ? e * d : 0.0f;
        }
    }
    double sum = block_sum((double)s, sum_shared);
    double tsum = block_sum((double)e_d, sum_shared);

    // Filters: top-p on the full distribution, then top-k on what top-p kept.
    Filter f;
    f.has_p = false;
    f.has_k = false;
    f.p_key = 0;
    f.p_last = 0;
    f.k_value = 0.0f;
    if (top_p < 1.0f && m > -TESSERA_DEVICE_INF) {
        const float fsum = (float)sum;
        double above;
        unsigned int key = block_radix_select(x, n, tempered, t, f, true, m, fsum, (double)top_p,
                                              hist, &above);
        // The boundary value's copies are taken in index order until the mass exceeds p.
        const double q = (double)(expf(key_value(key) - m) / fsum);
        unsigned int need = 1;
        for (double cum = above + q; !((float)cum > top_p) && need < n; cum += q) ++need;
        f.p_key = key;
        f.p_last = block_nth_equal(x, n, tempered, t, key, need - 1, seg_last);
        f.has_p = true;
    }
    // Top-k applies only when fewer than all survivors would stay (as on the CPU).
    double survivors = (double)n;
    if (f.has_p) {
        double c = 0.0;
        for (unsigned int i = threadIdx.x; i < n; i += SAMPLE_THREADS) {
            c += kept(f, i, scored(x, i, tempered, t)) ? 1.0 : 0.0;
        }
        survivors = block_sum(c, sum_shared);
    }
    if (top_k > 0 && (double)top_k < survivors) {
        double above;
        unsigned int key = block_radix_select(x, n, tempered, t, f, false, m, 1.0f,
                                              (double)(top_k - 1), hist, &above);
        f.k_value = key_value(key);
        f.has_k = true;
    }
    if (f.has_p || f.has_k) {
        // Runner-up, normaliser and entropy sums over the survivors (the max always stays).
        Top2 mine2;
        mine2.best = -TESSERA_DEVICE_INF;
        mine2.index = 0xffffffffu;
        mine2.second = -TESSERA_DEVICE_INF;
        float s2 = 0.0f, e_d2 = 0.0f;
        for (unsigned int i = threadIdx.x; i < n; i += SAMPLE_THREADS) {
            float v = scored(x, i, tempered, t);
            if (!kept(f, i, v)) continue;
            float lo_v = v < mine2.best ? v : mine2.best;
            mine2.second = lo_v > mine2.second ? lo_v : mine2.second;
            if (v > mine2.best) {
                mine2.best = v;
                mine2.index = i;
            }
            float d = v - m;
            float e = expf(d);
            s2 += e;
            e_d2 += e > 0.0f ? e * d : 0.0f;
        }
        top.second = block_top2(mine2, top_shared).second;
        sum = block_sum((double)s2, sum_shared);
        tsum = block_sum((double)e_d2, sum_shared);
    }

    // The draw.
    unsigned int token = argmax;
    if (tempered) {
        token = block_categorical(x, n, t, m, (float)sum, noise[row], f, seg_sum, seg_last);
    } else if (temperature > 0.0) {
        const double* u = noise + row * (unsigned long long)n;
        double key = -TESSERA_DEVICE_INF;
        unsigned int index = 0xffffffffu;
        for (unsigned int i = threadIdx.x; i < n; i += SAMPLE_THREADS) {
            // A filtered id draws as the CPU's f32::MIN logit does.
            float l = kept(f, i, x[i]) ? x[i] : -3.402823466e38f;
            double k = exp((double)l) / pow(-log(u[i]), temperature);
            if (k > key) {
                key = k;
                index = i;
            }
        }
        token = block_argmax_f64(key, index, sum_shared, index_shared);
        if (token == 0xffffffffu) token = 0;
    }

    if (threadIdx.x == 0) {
        const float fsum = (float)sum;
        const float p1 = 1.0f / fsum;
        const float p2 = n == 1 ? p1 : expf(top.second - m) / fsum;
        SampleRecord r;
        r.token = token + lo;
        const float v = scored(x, token, tempered, t);
        r.prob = kept(f, token, v) ? expf(v - m) / fsum : 0.0f;
        r.margin = p1 - p2;
        r.entropy = (float)(log(sum) - tsum / sum);
        out[row] = r;
    }
}

// Remask scoring: the probability the (restricted, untempered) softmax of each row gives one
// token already on the canvas — `recheck`'s support. The CUDA twin of `token_probs`
// (kernels/src/support.rs). tokens: one id per row in the full vocabulary; an id outside
// [lo, hi), or a row without a finite logit, gets 0. Arithmetic as above: per-thread f32
// sums combined in f64. One block of SAMPLE_THREADS per row.
extern "C" __global__ void tessera_token_probs(const float* __restrict__ logits,
                                               unsigned long long vocab, unsigned int lo,
                                               unsigned int hi,
                                               const unsigned int* __restrict__ tokens,
                                               float* __restrict__ out) {
    __shared__ Top2 top_shared[WARPS];
    __shared__ double sum_shared[WARPS];
    const unsigned long long row = blockIdx.x;
    const unsigned int n = hi - lo;
    const float* x = logits + row * vocab + lo;
    Top2 mine;
    mine.best = -TESSERA_DEVICE_INF;
    mine.index = 0xffffffffu;
    mine.second = -TESSERA_DEVICE_INF;
    for (unsigned int i = threadIdx.x; i < n; i += SAMPLE_THREADS) {
        if (x[i] > mine.best) {
            mine.best = x[i];
            mine.index = i;
        }
    }
    const float m = block_top2(mine, top_shared).best;
    float s = 0.0f;
    if (m > -TESSERA_DEVICE_INF) {
        for (unsigned int i = threadIdx.x; i < n; i += SAMPLE_THREADS) s += expf(x[i] - m);
    }
    const double sum = block_sum((double)s, sum_shared);
    if (threadIdx.x == 0) {
        const unsigned int token = tokens[row];
        float p = 0.0f;
        if (token >= lo && token < hi && m > -TESSERA_DEVICE_INF) {
            p = expf(x[token - lo] - m) / (float)sum;
        }
        out[row] = p;
    }
}
