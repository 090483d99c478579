// Runs Tessera's CUDA kernels on the CPU, unchanged, so that their indexing and reduction
// logic is tested without a GPU: each thread of a block is an OS thread, `__syncthreads`
// is a barrier, `__shared__` variables are function statics (blocks run one at a time),
// and warp shuffles go through a per-block exchange buffer between two barriers (every
// thread of the block must reach them, as every thread reaches them in these kernels).
//
// Only what the kernels use is here. Performance is not the point.
#pragma once

#define TESSERA_HOST_SHIM 1

#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __shared__ static

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};

namespace tessera_shim {
inline thread_local dim3 thread_idx;
inline thread_local dim3 block_idx;
inline dim3 block_dim;
inline dim3 grid_dim;
inline std::barrier<>* block_barrier = nullptr;
inline std::vector<unsigned char> exchange;

// Exchanges `v` with the thread `tid ^ mask` (inside the same warp for mask < 32).
template <typename T>
T shuffle_xor(T v, int mask) {
    const unsigned int tid = thread_idx.x;
    std::memcpy(&exchange[tid * 8], &v, sizeof(T));
    block_barrier->arrive_and_wait();
    T r;
    std::memcpy(&r, &exchange[(tid ^ (unsigned int)mask) * 8], sizeof(T));
    block_barrier->arrive_and_wait();
    return r;
}

// Held by a launch: the block state above is global, so launches from several host
// threads (the Rust tests run in parallel) take turns, as kernels on one stream do.
inline std::mutex launch_lock;

// Runs `kernel` over a grid of `grid` blocks of `block` threads, one block at a time.
inline void launch(unsigned int grid, unsigned int block, const std::function<void()>& kernel) {
    std::lock_guard<std::mutex> launching(launch_lock);
    grid_dim.x = grid;
    block_dim.x = block;
    exchange.assign(block * 8, 0);
    for (unsigned int b = 0; b < grid; ++b) {
        std::barrier<> bar(block);
        block_barrier = &bar;
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned int t = 0; t < block; ++t) {
            threads.emplace_back([&, t] {
                thread_idx.x = t;
                block_idx.x = b;
                kernel();
            });
        }
        for (auto& th : threads) th.join();
        block_barrier = nullptr;
    }
}
}  // namespace tessera_shim

#define threadIdx (tessera_shim::thread_idx)
#define blockIdx (tessera_shim::block_idx)
#define blockDim (tessera_shim::block_dim)
#define gridDim (tessera_shim::grid_dim)

inline void __syncthreads() { tessera_shim::block_barrier->arrive_and_wait(); }

template <typename T>
inline T __shfl_xor_sync(unsigned int, T v, int mask) {
    return tessera_shim::shuffle_xor(v, mask);
}

namespace tessera_shim {
inline std::mutex atomic_lock;
}

template <typename T>
inline T atomicAdd(T* address, T v) {
    std::lock_guard<std::mutex> guard(tessera_shim::atomic_lock);
    T old = *address;
    *address = old + v;
    return old;
}

inline unsigned int __float_as_uint(float v) {
    unsigned int b;
    std::memcpy(&b, &v, 4);
    return b;
}

inline float __uint_as_float(unsigned int b) {
    float v;
    std::memcpy(&v, &b, 4);
    return v;
}
