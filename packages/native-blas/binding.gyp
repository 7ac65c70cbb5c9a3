{
  "targets": [
    {
      "target_name": "yoto_blas",
      "sources": ["src/blas.c"],
      "include_dirs": ["/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu", "/usr/include/openblas"],
      "libraries": ["-lopenblas", "-lm"],
      "cflags": ["-O3", "-std=c11", "-fno-strict-aliasing", "-ffp-contract=off", "-fno-trapping-math", "-fno-math-errno"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
