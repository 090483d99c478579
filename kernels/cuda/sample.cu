// Tessera's fused sampling pass on the GPU: one thread block per masked position's logits
// row, one small record out. The CUDA twin of `sample_rows` (kernels/src/sample.rs) for
// the draws the diffusion samplers run at every step, over an optional contiguous slice of
// the vocabulary: the argmax (temperature 0); LLaDA's Gumbel-max in f64
// (`argmax exp(l) / (-ln u)^T`, one uniform per allowed id), scored by the untempered
// softmax; Dream's categorical draw (logits divided by T in f32, inverse CDF in index order
// with one uniform per row), scored by that tempered softmax. Each record holds the token,
// its probability, the top-1 minus top-2 margin and the entropy — no softmax row is written.
//
// Arithmetic is that of `Arithmetic::Fast`: per-thread sums in f32 over a strided share of
// the row, combined across the block in f64. Ties go to the lowest index, as on the CPU;
// NaN logits are skipped by the maxima and poison the sums.
//
// Compiled by NVRTC at run time (and checked by `scripts/cuda_check.py` for sm_80/sm_90
// with ptxas); compiled as C++ with `host_shim.h` for the CPU tests of its logic.

#ifndef TESSERA_HOST_SHIM
#define TESSERA_DEVICE_INF __int_as_float(0x7f800000)
#else
#define TESSERA_DEVICE_INF INFINITY
#endif

// Threads per block; a power of two, a multiple of the warp size.
#define SAMPLE_THREADS 256
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

// Dream's inverse-CDF draw over p_i = exp(v_i − m) / sum (v = x / t), in index order: the
// first i whose running sum exceeds u, or the last i with p_i > 0 when rounding leaves the
// sum short. Each thread sums one contiguous segment in f64; thread 0 walks the segment
// sums, then the one segment the draw falls in.
__device__ unsigned int block_categorical(const float* x, unsigned int n, float t, float m,
                                          float fsum, double u, double* seg_sum,
                                          unsigned int* seg_last) {
    const unsigned int seg = (n + SAMPLE_THREADS - 1) / SAMPLE_THREADS;
    const unsigned int start = threadIdx.x * seg;
    const unsigned int end = start + seg < n ? start + seg : n;
    double acc = 0.0;
    unsigned int last = 0xffffffffu;
    for (unsigned int i = start; i < end; ++i) {
        float p = expf(x[i] / t - m) / fsum;
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
                    float p = expf(x[i] / t - m) / fsum;
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
// for the categorical draw (categorical = 1). One block of SAMPLE_THREADS per row.
extern "C" __global__ void tessera_sample_rows(const float* __restrict__ logits,
                                               unsigned long long vocab, unsigned int lo,
                                               unsigned int hi, double temperature,
                                               unsigned int categorical,
                                               const double* __restrict__ noise,
                                               SampleRecord* __restrict__ out) {
    __shared__ Top2 top_shared[WARPS];
    __shared__ double sum_shared[WARPS];
    __shared__ unsigned int index_shared[WARPS];
    __shared__ double seg_sum[SAMPLE_THREADS];
    __shared__ unsigned int seg_last[SAMPLE_THREADS];
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
    const double sum = block_sum((double)s, sum_shared);
    const double tsum = block_sum((double)e_d, sum_shared);

    // The draw.
    unsigned int token = argmax;
    if (tempered) {
        token = block_categorical(x, n, t, m, (float)sum, noise[row], seg_sum, seg_last);
    } else if (temperature > 0.0) {
        const double* u = noise + row * (unsigned long long)n;
        double key = -TESSERA_DEVICE_INF;
        unsigned int index = 0xffffffffu;
        for (unsigned int i = threadIdx.x; i < n; i += SAMPLE_THREADS) {
            double k = exp((double)x[i]) / pow(-log(u[i]), temperature);
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
        r.prob = expf((tempered ? x[token] / t : x[token]) - m) / fsum;
        r.margin = p1 - p2;
        r.entropy = (float)(log(sum) - tsum / sum);
        out[row] = r;
    }
}
