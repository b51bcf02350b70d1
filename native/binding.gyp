{
  "targets": [
    {
      "target_name": "bigdl_native",
      "sources": [
        "src/addon.cc",
        "src/core.cc",
        "src/gemm.cc",
        "src/dnn.cc",
        "src/dnn_conv.cc",
        "src/dnn_pool.cc",
        "src/dnn_norm.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fopenmp", "-fexceptions"],
      "ldflags": [
        "-fopenmp",
        "-L/usr/lib/x86_64-linux-gnu/openblas-openmp",
        "-Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp"
      ],
      "libraries": ["-l:libopenblas.so.0", "-ldnnl", "-lmvec", "-lgomp"]
    }
  ]
}
