//! With the `cuda-shim` feature, compiles the CUDA kernels in `cuda/` as C++ against
//! `cuda/host_shim.h`, so the tests run their logic on the CPU from the same source.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "cuda-shim")]
    {
        for f in ["cuda/host_shim.h", "cuda/sample.cu", "cuda/sample_host.cpp"] {
            println!("cargo::rerun-if-changed={f}");
        }
        cc::Build::new()
            .cpp(true)
            .std("c++20")
            .include("cuda")
            .file("cuda/sample_host.cpp")
            .warnings(true)
            .compile("tessera_cuda_shim");
    }
}
