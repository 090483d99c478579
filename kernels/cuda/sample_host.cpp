// The CPU build of sample.cu for the tests of its logic (`--features cuda-shim`): the
// kernel source as is, launched through host_shim.h.
#include "host_shim.h"
// Two warps per block: the same code paths as the GPU's eight, a quarter of the threads.
#define SAMPLE_THREADS 64
#include "sample.cu"

extern "C" void tessera_sample_rows_host(const float* logits, unsigned long long rows,
                                         unsigned long long vocab, unsigned int lo,
                                         unsigned int hi, double temperature,
                                         unsigned int categorical, unsigned int top_k,
                                         float top_p, const double* noise, SampleRecord* out) {
    tessera_shim::launch((unsigned int)rows, SAMPLE_THREADS, [&] {
        tessera_sample_rows(logits, vocab, lo, hi, temperature, categorical, top_k, top_p, noise,
                            out);
    });
}

extern "C" void tessera_token_probs_host(const float* logits, unsigned long long rows,
                                         unsigned long long vocab, unsigned int lo,
                                         unsigned int hi, const unsigned int* tokens,
                                         float* out) {
    tessera_shim::launch((unsigned int)rows, SAMPLE_THREADS,
                         [&] { tessera_token_probs(logits, vocab, lo, hi, tokens, out); });
}
