/*
 * yoto_blas: OpenBLAS sgemm and im2col/col2im convolutions for the training
 * kernels, on Float32Array views (no copies: the arrays may be views into the
 * tfjs wasm heap, so every call works in place on the tensors' memory).
 *
 * All functions are synchronous and check every index they will touch against
 * the arrays' lengths before doing any work (a RangeError, never a stray write).
 * Layouts are tfjs's: row-major matrices, NHWC activations, HWIO filters.
 *
 * Convolution dims (an array of 15 integers):
 *   [n, h, w, c, fh, fw, o, outH, outW, strideH, strideW, dilationH, dilationW, padTop, padLeft]
 * The im2col matrix has one row per output pixel (n, y, x) and one column per
 * filter tap (i, j, c), so a forward conv is col[M, K] x W[K, O] = Y[M, O] with
 * K = fh*fw*c and M = n*outH*outW; Y is already NHWC. Scratch memory is one
 * grow-only buffer per thread (worker_threads may each hold the addon).
 *
 * filmBlock fuses a whole layer of the FiLM VAE (product, bias, FiLM generators, FiLM,
 * leaky ReLU) into one call each way, split over two threads when asked for (see the
 * comment above run_parts).
 */
#define _POSIX_C_SOURCE 200809L
#include <node_api.h>
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "yoto_blas: N-API call failed");    \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

/* At most this many floats of im2col scratch per chunk (64 MiB); larger batches run in chunks. */
#define SCRATCH_FLOATS ((size_t)16 << 20)

/*
 * Threads: the pool size asked for with setThreads is used only for products of at
 * least THREADED_FLOPS; smaller ones run on the calling thread. Waking OpenBLAS's pool
 * costs tens of microseconds, and far more when the cores are shared with other
 * processes, which made a [64,256]x[256,256] product 4-5x slower threaded than not.
 */
#define THREADED_FLOPS 3.0e7
static int wanted_threads = 1;
static int current_threads = -1;

static void threads_for(double flops) {
  const int t = flops >= THREADED_FLOPS ? wanted_threads : 1;
  if (t != current_threads) {
    openblas_set_num_threads(t);
    current_threads = t;
  }
}

/* Set while a FiLM block runs split over threads: every sgemm then stays single-threaded. */
static int pinned = 0;

/*
 * Diagnostics for maintainers: with YOTO_BLAS_PROF=1 the addon adds up wall time per phase
 * of the fused calls, per thread (part 0: the caller, part 1: the split worker), and per
 * sgemm shape, and prints the totals to stderr at exit. Off, each probe is one branch.
 */
#include <stdio.h>
#include <time.h>
static int prof_on = 0;
static double prof_ns[2][24];
static long prof_n[2][24];
static _Thread_local int prof_part = 0;
static const char *prof_names[24] = {"gen_fwd", "", "fwd_product", "fwd_elem", "bwd_rows", "bwd_filter", "", "dense_dW", "dense_dx",
                                     "sums", "gen_bwd", "memset_dx", "wait_worker", "im2col", "col2im", "gemm_all", "fwd_total", "bwd_total", "adam", "fwdT_total", "args", "part_fn", "wake_lag", ""};
typedef struct { int ta, tb, pinned; long m, n, k; double ns; long cnt; } prof_shape;
static prof_shape prof_sh[2][128];
static int prof_nsh[2];
static inline uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}
#define PT(v) const uint64_t v = prof_on ? now_ns() : 0
#define PA(ph, v) do { if (prof_on) { prof_ns[prof_part][ph] += (double)(now_ns() - (v)); prof_n[prof_part][ph]++; } } while (0)
static void prof_dump(void) {
  if (!prof_on) return;
  for (int pt = 0; pt < 2; pt++) {
    fprintf(stderr, "== part %d ==\n", pt);
    for (int i = 0; i < 24; i++) if (prof_n[pt][i]) fprintf(stderr, "  %-12s %10.1f ms %8ld calls\n", prof_names[i], prof_ns[pt][i] / 1e6, prof_n[pt][i]);
    for (int i = 0; i < prof_nsh[pt]; i++) {
      prof_shape *q = &prof_sh[pt][i];
      fprintf(stderr, "  gemm %c%c m=%5ld n=%5ld k=%5ld pin=%d  %8.1f ms %6ld calls %6.1f GF/s\n", q->ta ? 'T' : 'N', q->tb ? 'T' : 'N', q->m, q->n, q->k, q->pinned, q->ns / 1e6, q->cnt,
              2.0 * q->m * q->n * q->k * q->cnt / q->ns);
    }
  }
}
static void prof_shape_add(int ta, int tb, int pin, long m, long n, long k, double ns) {
  const int pt = prof_part;
  for (int i = 0; i < prof_nsh[pt]; i++) {
    prof_shape *q = &prof_sh[pt][i];
    if (q->ta == ta && q->tb == tb && q->m == m && q->n == n && q->k == k && q->pinned == pin) { q->ns += ns; q->cnt++; return; }
  }
  if (prof_nsh[pt] < 128) prof_sh[pt][prof_nsh[pt]++] = (prof_shape){ta, tb, pin, m, n, k, ns, 1};
}

static void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc) {
  if (!pinned) threads_for(2.0 * (double)m * (double)n * (double)k);
  PT(t0);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b,
              ldb, beta, c, ldc);
  if (prof_on) { const double dt = (double)(now_ns() - t0); prof_ns[prof_part][15] += dt; prof_n[prof_part][15]++; prof_shape_add(ta, tb, pinned ? 1 : current_threads, m, n, k, dt); }
}

static _Thread_local float *scratch = NULL;
static _Thread_local size_t scratch_cap = 0;

static float *get_scratch(size_t n) {
  if (n > scratch_cap) {
    free(scratch);
    scratch = (float *)malloc(n * sizeof(float));
    scratch_cap = scratch ? n : 0;
  }
  return scratch;
}

static int get_f32(napi_env env, napi_value v, float **data, size_t *len, const char *what) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  napi_typedarray_type type;
  void *ptr = NULL;
  size_t length = 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, NULL, NULL) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  *data = (float *)ptr;
  *len = length;
  return 1;
}

static int get_i64(napi_env env, napi_value v, int64_t *out, const char *what) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  return 1;
}

static int get_f64(napi_env env, napi_value v, double *out, const char *what) {
  if (napi_get_value_double(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  return 1;
}

static int get_bool(napi_env env, napi_value v, bool *out, const char *what) {
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  return 1;
}

/* Last element index + 1 of a rows x cols matrix with leading dimension ld at offset off, repeated batch times with stride s. */
static int64_t extent(int64_t off, int64_t batch, int64_t stride, int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0 || batch == 0) return 0;
  return off + (batch - 1) * stride + (rows - 1) * ld + cols;
}

/*
 * sgemm(transA, transB, m, n, k, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc, batch, strideA, strideB, strideC)
 * C[i] = alpha * op(A[i]) op(B[i]) + beta * C[i] for i < batch, row-major; a stride of 0 broadcasts.
 */
static napi_value js_sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 20;
  napi_value argv[20];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 20) {
    napi_throw_type_error(env, NULL, "sgemm: expected 20 arguments");
    return NULL;
  }
  bool ta, tb;
  int64_t m, n, k, aOff, lda, bOff, ldb, cOff, ldc, batch, sA, sB, sC;
  double alpha, beta;
  float *A, *B, *C;
  size_t lenA, lenB, lenC;
  if (!get_bool(env, argv[0], &ta, "sgemm: transA must be a boolean") || !get_bool(env, argv[1], &tb, "sgemm: transB must be a boolean") ||
      !get_i64(env, argv[2], &m, "sgemm: m must be an integer") || !get_i64(env, argv[3], &n, "sgemm: n must be an integer") ||
      !get_i64(env, argv[4], &k, "sgemm: k must be an integer") || !get_f64(env, argv[5], &alpha, "sgemm: alpha must be a number") ||
      !get_f32(env, argv[6], &A, &lenA, "sgemm: A must be a Float32Array") || !get_i64(env, argv[7], &aOff, "sgemm: aOff must be an integer") ||
      !get_i64(env, argv[8], &lda, "sgemm: lda must be an integer") || !get_f32(env, argv[9], &B, &lenB, "sgemm: B must be a Float32Array") ||
      !get_i64(env, argv[10], &bOff, "sgemm: bOff must be an integer") || !get_i64(env, argv[11], &ldb, "sgemm: ldb must be an integer") ||
      !get_f64(env, argv[12], &beta, "sgemm: beta must be a number") || !get_f32(env, argv[13], &C, &lenC, "sgemm: C must be a Float32Array") ||
      !get_i64(env, argv[14], &cOff, "sgemm: cOff must be an integer") || !get_i64(env, argv[15], &ldc, "sgemm: ldc must be an integer") ||
      !get_i64(env, argv[16], &batch, "sgemm: batch must be an integer") || !get_i64(env, argv[17], &sA, "sgemm: strideA must be an integer") ||
      !get_i64(env, argv[18], &sB, "sgemm: strideB must be an integer") || !get_i64(env, argv[19], &sC, "sgemm: strideC must be an integer"))
    return NULL;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || aOff < 0 || bOff < 0 || cOff < 0 || sA < 0 || sB < 0 || sC < 0 ||
      m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX || ldc > INT32_MAX) {
    napi_throw_range_error(env, NULL, "sgemm: negative or too large dimension");
    return NULL;
  }
  const int64_t rowsA = ta ? k : m, colsA = ta ? m : k, rowsB = tb ? n : k, colsB = tb ? k : n;
  if (lda < (colsA > 1 ? colsA : 1) || ldb < (colsB > 1 ? colsB : 1) || ldc < (n > 1 ? n : 1)) {
    napi_throw_range_error(env, NULL, "sgemm: leading dimension smaller than the row length");
    return NULL;
  }
  if (extent(aOff, batch, sA, rowsA, colsA, lda) > (int64_t)lenA || extent(bOff, batch, sB, rowsB, colsB, ldb) > (int64_t)lenB ||
      extent(cOff, batch, sC, m, n, ldc) > (int64_t)lenC) {
    napi_throw_range_error(env, NULL, "sgemm: operand too short for the given dimensions");
    return NULL;
  }
  if (m == 0 || n == 0) return NULL;
  for (int64_t i = 0; i < batch; i++) {
    float *c = C + cOff + i * sC;
    if (k == 0) {
      /* BLAS leaves C untouched when k == 0 only for beta == 1; be explicit. */
      for (int64_t r = 0; r < m; r++)
        for (int64_t q = 0; q < n; q++) c[r * ldc + q] = beta == 0 ? 0.0f : (float)beta * c[r * ldc + q];
      continue;
    }
    gemm(ta, tb, m, n, k, (float)alpha, A + aOff + i * sA, lda, B + bOff + i * sB, ldb, (float)beta, c, ldc);
  }
  return NULL;
}

typedef struct {
  int64_t n, h, w, c, fh, fw, o, outH, outW, sh, sw, dh, dw, top, left;
} conv_dims;

static int get_dims(napi_env env, napi_value v, conv_dims *d, const char *fn) {
  int64_t a[15];
  bool is_array = false;
  uint32_t len = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, &len) != napi_ok || len != 15) {
    napi_throw_type_error(env, NULL, "conv: dims must be an array of 15 integers");
    return 0;
  }
  for (uint32_t i = 0; i < 15; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || !get_i64(env, e, &a[i], "conv: dims must be integers")) return 0;
  }
  *d = (conv_dims){a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14]};
  for (int i = 0; i < 15; i++) {
    if (a[i] < (i >= 13 ? 0 : 1) || a[i] > INT32_MAX) {
      napi_throw_range_error(env, NULL, fn);
      return 0;
    }
  }
  return 1;
}

static int is_pointwise(const conv_dims *d) {
  return d->fh == 1 && d->fw == 1 && d->sh == 1 && d->sw == 1 && d->top == 0 && d->left == 0 && d->outH == d->h && d->outW == d->w;
}

/* Rows of examples [b0, b0+nb) of the im2col matrix into col. */
static void im2col(const float *x, float *col, const conv_dims *d, int64_t b0, int64_t nb) {
  const int64_t C = d->c, K = d->fh * d->fw * C;
  for (int64_t b = 0; b < nb; b++) {
    const float *xb = x + (b0 + b) * d->h * d->w * C;
    for (int64_t oy = 0; oy < d->outH; oy++) {
      for (int64_t ox = 0; ox < d->outW; ox++) {
        float *row = col + ((b * d->outH + oy) * d->outW + ox) * K;
        for (int64_t i = 0; i < d->fh; i++) {
          const int64_t iy = oy * d->sh - d->top + i * d->dh;
          float *dst = row + i * d->fw * C;
          if (iy < 0 || iy >= d->h) {
            memset(dst, 0, (size_t)(d->fw * C) * sizeof(float));
            continue;
          }
          const int64_t ix0 = ox * d->sw - d->left;
          if (d->dw == 1 && ix0 >= 0 && ix0 + d->fw <= d->w) {
            /* The whole filter row lies inside the image: one contiguous run of fw*C floats. */
            memcpy(dst, xb + (iy * d->w + ix0) * C, (size_t)(d->fw * C) * sizeof(float));
            continue;
          }
          for (int64_t j = 0; j < d->fw; j++) {
            const int64_t ix = ox * d->sw - d->left + j * d->dw;
            if (ix < 0 || ix >= d->w) memset(dst + j * C, 0, (size_t)C * sizeof(float));
            else if (C == 1) dst[j] = xb[iy * d->w + ix];
            else memcpy(dst + j * C, xb + (iy * d->w + ix) * C, (size_t)C * sizeof(float));
          }
        }
      }
    }
  }
}

/* Adds the im2col-shaped gradient col (examples [b0, b0+nb)) into dx, which the caller zeroed. */
static void col2im(const float *col, float *dx, const conv_dims *d, int64_t b0, int64_t nb) {
  const int64_t C = d->c, K = d->fh * d->fw * C;
  for (int64_t b = 0; b < nb; b++) {
    float *xb = dx + (b0 + b) * d->h * d->w * C;
    for (int64_t oy = 0; oy < d->outH; oy++) {
      for (int64_t ox = 0; ox < d->outW; ox++) {
        const float *row = col + ((b * d->outH + oy) * d->outW + ox) * K;
        for (int64_t i = 0; i < d->fh; i++) {
          const int64_t iy = oy * d->sh - d->top + i * d->dh;
          if (iy < 0 || iy >= d->h) continue;
          for (int64_t j = 0; j < d->fw; j++) {
            const int64_t ix = ox * d->sw - d->left + j * d->dw;
            if (ix < 0 || ix >= d->w) continue;
            const float *src = row + (i * d->fw + j) * C;
            float *dst = xb + (iy * d->w + ix) * C;
            for (int64_t q = 0; q < C; q++) dst[q] += src[q];
          }
        }
      }
    }
  }
}

/* Examples per chunk so that one chunk's im2col matrix fits the scratch budget (at least 1). */
static int64_t chunk_examples(const conv_dims *d) {
  const int64_t per = d->outH * d->outW * d->fh * d->fw * d->c;
  int64_t nb = per > 0 ? (int64_t)(SCRATCH_FLOATS / (size_t)per) : d->n;
  if (nb < 1) nb = 1;
  return nb > d->n ? d->n : nb;
}

/* Reads (a, b, out, dims) and checks sizes: a has aLen floats, b bLen, out outLen (all in elements). */
static int conv_args(napi_env env, napi_callback_info info, float **a, float **b, float **out, conv_dims *d, const char *fn,
                     int kind /* 0 fwd, 1 bp input, 2 bp filter */) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) {
    napi_throw_type_error(env, NULL, fn);
    return 0;
  }
  size_t la, lb, lo;
  if (!get_f32(env, argv[0], a, &la, fn) || !get_f32(env, argv[1], b, &lb, fn) || !get_f32(env, argv[2], out, &lo, fn) || !get_dims(env, argv[3], d, fn))
    return 0;
  const int64_t xs = d->n * d->h * d->w * d->c, ws = d->fh * d->fw * d->c * d->o, ys = d->n * d->outH * d->outW * d->o;
  const int64_t need[3][3] = {{xs, ws, ys}, {ys, ws, xs}, {xs, ys, ws}};
  if ((int64_t)la < need[kind][0] || (int64_t)lb < need[kind][1] || (int64_t)lo < need[kind][2]) {
    napi_throw_range_error(env, NULL, fn);
    return 0;
  }
  return 1;
}

/* y = conv(x, w), NHWC / HWIO. Returns 0 when the im2col scratch cannot be allocated. */
static int conv_fwd(const float *x, const float *w, float *y, const conv_dims *dp) {
  const conv_dims d = *dp;
  const int64_t K = d.fh * d.fw * d.c, P = d.outH * d.outW;
  if (is_pointwise(&d)) {
    gemm(false, false, (d.n * P), d.o, K, 1.0f, x, K, w, d.o, 0.0f, y, d.o);
    return 1;
  }
  const int64_t nb = chunk_examples(&d);
  float *col = get_scratch((size_t)(nb * P * K));
  if (!col) return 0;
  for (int64_t b0 = 0; b0 < d.n; b0 += nb) {
    const int64_t cnt = d.n - b0 < nb ? d.n - b0 : nb;
    { PT(ti); im2col(x, col, &d, b0, cnt); PA(13, ti); }
    gemm(false, false, (cnt * P), d.o, K, 1.0f, col, K, w, d.o, 0.0f, y + b0 * P * d.o, d.o);
  }
  return 1;
}

/* dx = gradient of conv(x, w) w.r.t. x for dy (also conv2dTranspose's forward). */
static int conv_bp_input(const float *dy, const float *w, float *dx, const conv_dims *dp) {
  const conv_dims d = *dp;
  const int64_t K = d.fh * d.fw * d.c, P = d.outH * d.outW;
  if (is_pointwise(&d)) {
    gemm(false, true, (d.n * P), K, d.o, 1.0f, dy, d.o, w, d.o, 0.0f, dx, K);
    return 1;
  }
  const int64_t nb = chunk_examples(&d);
  float *col = get_scratch((size_t)(nb * P * K));
  if (!col) return 0;
  memset(dx, 0, (size_t)(d.n * d.h * d.w * d.c) * sizeof(float));
  for (int64_t b0 = 0; b0 < d.n; b0 += nb) {
    const int64_t cnt = d.n - b0 < nb ? d.n - b0 : nb;
    /* dcol[M, K] = dy[M, O] x W[K, O]^T */
    gemm(false, true, (cnt * P), K, d.o, 1.0f, dy + b0 * P * d.o, d.o, w, d.o, 0.0f, col, K);
    { PT(ti); col2im(col, dx, &d, b0, cnt); PA(14, ti); }
  }
  return 1;
}

/* dw = gradient of conv(x, w) w.r.t. w for dy. */
static int conv_bp_filter(const float *x, const float *dy, float *dw, const conv_dims *dp) {
  const conv_dims d = *dp;
  const int64_t K = d.fh * d.fw * d.c, P = d.outH * d.outW;
  if (is_pointwise(&d)) {
    gemm(true, false, K, d.o, (d.n * P), 1.0f, x, K, dy, d.o, 0.0f, dw, d.o);
    return 1;
  }
  const int64_t nb = chunk_examples(&d);
  float *col = get_scratch((size_t)(nb * P * K));
  if (!col) return 0;
  for (int64_t b0 = 0; b0 < d.n; b0 += nb) {
    const int64_t cnt = d.n - b0 < nb ? d.n - b0 : nb;
    { PT(ti); im2col(x, col, &d, b0, cnt); PA(13, ti); }
    /* dW[K, O] (+)= col[M, K]^T x dy[M, O] */
    gemm(true, false, K, d.o, (cnt * P), 1.0f, col, K, dy + b0 * P * d.o, d.o, b0 == 0 ? 0.0f : 1.0f, dw, d.o);
  }
  return 1;
}

/*
 * y = conv(x, w) and dw = gradient of conv(x, w) w.r.t. w for dy, from one im2col of x
 * (the backward pass of a conv2dTranspose, where x is its output gradient).
 */
static int conv_fwd_and_filter(const float *x, const float *w, const float *dy, float *y, float *dw, const conv_dims *dp) {
  const conv_dims d = *dp;
  const int64_t K = d.fh * d.fw * d.c, P = d.outH * d.outW;
  if (is_pointwise(&d)) {
    gemm(false, false, (d.n * P), d.o, K, 1.0f, x, K, w, d.o, 0.0f, y, d.o);
    gemm(true, false, K, d.o, (d.n * P), 1.0f, x, K, dy, d.o, 0.0f, dw, d.o);
    return 1;
  }
  const int64_t nb = chunk_examples(&d);
  float *col = get_scratch((size_t)(nb * P * K));
  if (!col) return 0;
  for (int64_t b0 = 0; b0 < d.n; b0 += nb) {
    const int64_t cnt = d.n - b0 < nb ? d.n - b0 : nb;
    { PT(ti); im2col(x, col, &d, b0, cnt); PA(13, ti); }
    gemm(false, false, (cnt * P), d.o, K, 1.0f, col, K, w, d.o, 0.0f, y + b0 * P * d.o, d.o);
    gemm(true, false, K, d.o, (cnt * P), 1.0f, col, K, dy + b0 * P * d.o, d.o, b0 == 0 ? 0.0f : 1.0f, dw, d.o);
  }
  return 1;
}

/* conv2d(x, w, y, dims): y = conv(x, w), NHWC / HWIO. */
static napi_value js_conv2d(napi_env env, napi_callback_info info) {
  float *x, *w, *y;
  conv_dims d;
  if (!conv_args(env, info, &x, &w, &y, &d, "conv2d(x: Float32Array, w: Float32Array, y: Float32Array, dims) with matching sizes", 0)) return NULL;
  if (!conv_fwd(x, w, y, &d)) napi_throw_error(env, NULL, "conv2d: out of memory");
  return NULL;
}

/* conv2dBackpropInput(dy, w, dx, dims): dx = gradient of conv(x, w) w.r.t. x (also conv2dTranspose's forward). */
static napi_value js_conv2d_bp_input(napi_env env, napi_callback_info info) {
  float *dy, *w, *dx;
  conv_dims d;
  if (!conv_args(env, info, &dy, &w, &dx, &d, "conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, dims) with matching sizes", 1))
    return NULL;
  if (!conv_bp_input(dy, w, dx, &d)) napi_throw_error(env, NULL, "conv2dBackpropInput: out of memory");
  return NULL;
}

/* conv2dBackpropFilter(x, dy, dw, dims): dw = gradient of conv(x, w) w.r.t. w. */
static napi_value js_conv2d_bp_filter(napi_env env, napi_callback_info info) {
  float *x, *dy, *dw;
  conv_dims d;
  if (!conv_args(env, info, &x, &dy, &dw, &d, "conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, dims) with matching sizes", 2))
    return NULL;
  if (!conv_bp_filter(x, dy, dw, &d)) napi_throw_error(env, NULL, "conv2dBackpropFilter: out of memory");
  return NULL;
}

/* sumAxes(x, y, outer, r, inner): y[o, i] = sum_q x[o, q, i], the sum over one contiguous block of axes. */
static napi_value js_sum_axes(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *y;
  size_t lx, ly;
  int64_t outer, r, inner;
  if (argc != 5 || !get_f32(env, argv[0], &x, &lx, "sumAxes: x must be a Float32Array") || !get_f32(env, argv[1], &y, &ly, "sumAxes: y must be a Float32Array") ||
      !get_i64(env, argv[2], &outer, "sumAxes: outer must be an integer") || !get_i64(env, argv[3], &r, "sumAxes: r must be an integer") ||
      !get_i64(env, argv[4], &inner, "sumAxes: inner must be an integer"))
    return NULL;
  if (outer < 0 || r < 0 || inner < 0 || (int64_t)lx < outer * r * inner || (int64_t)ly < outer * inner) {
    napi_throw_range_error(env, NULL, "sumAxes: arrays too short for outer*r*inner");
    return NULL;
  }
  for (int64_t o = 0; o < outer; o++) {
    float *dst = y + o * inner;
    const float *src = x + o * r * inner;
    if (inner == 1) {
      /* A row sum: 8 partial sums keep it vectorisable without -ffast-math. */
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t q = 0;
      for (; q + 8 <= r; q += 8)
        for (int l = 0; l < 8; l++) acc[l] += src[q + l];
      float t = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; q < r; q++) t += src[q];
      dst[0] = t;
      continue;
    }
    memset(dst, 0, (size_t)inner * sizeof(float));
    for (int64_t q = 0; q < r; q++) {
      const float *row = src + q * inner;
      for (int64_t i = 0; i < inner; i++) dst[i] += row[i];
    }
  }
  return NULL;
}

/* leakyRelu(x, y, alpha): y = x > 0 ? x : x*alpha (tfjs's definition, float32 arithmetic). */
static napi_value js_leaky_relu(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *y;
  size_t lx, ly;
  double alpha;
  if (argc != 3 || !get_f32(env, argv[0], &x, &lx, "leakyRelu: x must be a Float32Array") || !get_f32(env, argv[1], &y, &ly, "leakyRelu: y must be a Float32Array") ||
      !get_f64(env, argv[2], &alpha, "leakyRelu: alpha must be a number"))
    return NULL;
  if (ly < lx) {
    napi_throw_range_error(env, NULL, "leakyRelu: y shorter than x");
    return NULL;
  }
  const float a = (float)alpha;
  for (size_t i = 0; i < lx; i++) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : v * a;
  }
  return NULL;
}

/*
 * broadcastOp(op, x, b, y, outer, r, inner): y[o, q, i] = x[o, q, i] (op) b[o, i] for op
 * 0 = add, 1 = multiply: b broadcast over one middle block of axes. Covers a bias
 * (outer 1), FiLM's per-example per-channel scale and shift (r = the pixels), a scalar
 * (outer = inner = 1) and equal shapes (r = 1). Plain float32 arithmetic.
 */
static napi_value js_broadcast_op(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *x, *b, *y;
  size_t lx, lb, ly;
  int64_t op, outer, r, inner;
  if (argc != 7 || !get_i64(env, argv[0], &op, "broadcastOp: op must be 0 (add) or 1 (multiply)") ||
      !get_f32(env, argv[1], &x, &lx, "broadcastOp: x must be a Float32Array") || !get_f32(env, argv[2], &b, &lb, "broadcastOp: b must be a Float32Array") ||
      !get_f32(env, argv[3], &y, &ly, "broadcastOp: y must be a Float32Array") || !get_i64(env, argv[4], &outer, "broadcastOp: outer must be an integer") ||
      !get_i64(env, argv[5], &r, "broadcastOp: r must be an integer") || !get_i64(env, argv[6], &inner, "broadcastOp: inner must be an integer"))
    return NULL;
  if (op < 0 || op > 1 || outer < 0 || r < 0 || inner < 0 || (int64_t)lx < outer * r * inner || (int64_t)ly < outer * r * inner || (int64_t)lb < outer * inner) {
    napi_throw_range_error(env, NULL, "broadcastOp: bad op or arrays too short for outer*r*inner");
    return NULL;
  }
  if (inner == 1) {
    /* b is one scalar per outer index. */
    for (int64_t o = 0; o < outer; o++) {
      const float bv = b[o];
      const float *xs = x + o * r;
      float *ys = y + o * r;
      if (op == 0)
        for (int64_t q = 0; q < r; q++) ys[q] = xs[q] + bv;
      else
        for (int64_t q = 0; q < r; q++) ys[q] = xs[q] * bv;
    }
    return NULL;
  }
  for (int64_t o = 0; o < outer; o++) {
    const float *bo = b + o * inner;
    for (int64_t q = 0; q < r; q++) {
      const float *xs = x + (o * r + q) * inner;
      float *ys = y + (o * r + q) * inner;
      if (op == 0) {
        for (int64_t i = 0; i < inner; i++) ys[i] = xs[i] + bo[i];
      } else {
        for (int64_t i = 0; i < inner; i++) ys[i] = xs[i] * bo[i];
      }
    }
  }
  return NULL;
}

/*
 * Splitting a FiLM block over two threads: the calling thread and one persistent worker
 * each take half of the batch (their own im2col scratch, single-threaded sgemm), and
 * the per-part sums (dW of a conv, bias and FiLM gradients) are added afterwards. This
 * parallelises the im2col/col2im and elementwise passes too, which OpenBLAS's own
 * threading leaves on one core, and wakes one thread per call instead of a pool per
 * product. Layers under SPLIT_FLOPS stay on the calling thread.
 */
#include <pthread.h>
#define SPLIT_FLOPS 4.0e6
typedef void (*part_fn)(void *arg, int part, int parts);
static pthread_mutex_t split_call = PTHREAD_MUTEX_INITIALIZER; /* one split at a time per process */
static pthread_mutex_t split_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t split_go = PTHREAD_COND_INITIALIZER, split_done = PTHREAD_COND_INITIALIZER;
static part_fn split_fn;
static void *split_arg;
static uint64_t split_seq = 0, split_finished = 0;
static int split_started = 0;
static uint64_t split_posted = 0;

/*
 * Hand-offs spin briefly before they sleep: a fused step makes ~30 split calls a few
 * hundred microseconds apart, and waking a sleeping thread through the kernel costs tens
 * of microseconds each way. After finishing a call the worker keeps polling for the next
 * one for split_spin_ns (on the core it would otherwise leave idle; YOTO_BLAS_SPIN_US,
 * default 200), and the caller polls as long for the worker's part before it sleeps.
 * split_seq and split_finished are published with release stores and polled with acquire
 * loads (split_fn / split_arg are written before split_seq); the mutex and condition
 * variables serve only the sleeping side, and each store is followed by a locked signal,
 * so no wake-up is lost.
 */
static uint64_t split_spin_ns = 200000;
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}
/* Polls *v until it differs from (want_change) or equals (!want_change) ref, or the spin budget runs out. */
static int spin_until(const uint64_t *v, uint64_t ref, int want_change) {
  const uint64_t t0 = now_ns();
  for (unsigned i = 1;; i++) {
    const uint64_t cur = __atomic_load_n(v, __ATOMIC_ACQUIRE);
    if (want_change ? cur != ref : cur == ref) return 1;
    cpu_relax();
    if ((i & 63) == 0 && now_ns() - t0 >= split_spin_ns) return 0;
  }
}

static void *split_worker(void *unused) {
  (void)unused;
  prof_part = 1;
  uint64_t seen = 0;
  for (;;) {
    if (!spin_until(&split_seq, seen, 1)) {
      pthread_mutex_lock(&split_mu);
      while (__atomic_load_n(&split_seq, __ATOMIC_ACQUIRE) == seen) pthread_cond_wait(&split_go, &split_mu);
      pthread_mutex_unlock(&split_mu);
    }
    /* split_fn and split_arg were written before split_seq's release store. */
    seen = __atomic_load_n(&split_seq, __ATOMIC_ACQUIRE);
    part_fn fn = split_fn;
    void *arg = split_arg;
    if (prof_on) { prof_ns[1][22] += (double)(now_ns() - split_posted); prof_n[1][22]++; }
    PT(tf1);
    fn(arg, 1, 2);
    PA(21, tf1);
    __atomic_store_n(&split_finished, seen, __ATOMIC_RELEASE);
    pthread_mutex_lock(&split_mu);
    pthread_cond_signal(&split_done);
    pthread_mutex_unlock(&split_mu);
  }
  return NULL;
}

/* fn(arg, part, parts) for every part; with 2 parts, part 1 runs on the worker thread. */
static void run_parts(part_fn fn, void *arg, int parts) {
  if (parts < 2) {
    fn(arg, 0, 1);
    return;
  }
  pthread_mutex_lock(&split_call);
  if (!split_started) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    split_started = pthread_create(&t, &attr, split_worker, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (!split_started) {
      pthread_mutex_unlock(&split_call);
      fn(arg, 0, 1);
      return;
    }
  }
  split_fn = fn;
  split_arg = arg;
  const uint64_t seq = split_seq + 1;
  if (prof_on) split_posted = now_ns();
  __atomic_store_n(&split_seq, seq, __ATOMIC_RELEASE);
  pthread_mutex_lock(&split_mu);
  pthread_cond_signal(&split_go);
  pthread_mutex_unlock(&split_mu);
  PT(tf0);
  fn(arg, 0, 2);
  PA(21, tf0);
  PT(tw);
  if (!spin_until(&split_finished, seq, 0)) {
    pthread_mutex_lock(&split_mu);
    while (__atomic_load_n(&split_finished, __ATOMIC_ACQUIRE) != seq) pthread_cond_wait(&split_done, &split_mu);
    pthread_mutex_unlock(&split_mu);
  }
  PA(12, tw);
  pthread_mutex_unlock(&split_call);
}

static void part_range(int64_t n, int part, int parts, int64_t *b0, int64_t *cnt) {
  const int64_t half = (n + parts - 1) / parts;
  *b0 = part * half;
  *cnt = part == parts - 1 ? n - *b0 : half;
}

/*
 * adam(p, g, m, v, p2, m2, v2, b1, c1, b2, c2, eps, lrT, wd, decay): one pass of the
 * Adam update in the exact float32 operations (and order) of the unfused tf ops:
 *   g <- g + p*wd (if decay); m2 = m*b1 + g*c1; v2 = v*b2 + (g*g)*c2;
 *   p2 = p - (m2 / (sqrt(v2) + eps)) * lrT
 * so results are bit-identical to them (no contraction into FMAs: -ffp-contract=off).
 */
static void adam_loop(const float *restrict P, const float *restrict G, const float *restrict M, const float *restrict V, float *restrict P2, float *restrict M2,
                      float *restrict V2, size_t n, float b1, float c1, float b2, float c2, float eps, float lrT, float wd, int decay) {
  if (decay) {
    for (size_t i = 0; i < n; i++) {
      const float p = P[i];
      const float g = G[i] + p * wd;
      const float m = M[i] * b1 + g * c1;
      const float v = V[i] * b2 + (g * g) * c2;
      M2[i] = m;
      V2[i] = v;
      P2[i] = p - (m / (sqrtf(v) + eps)) * lrT;
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      const float p = P[i];
      const float g = G[i];
      const float m = M[i] * b1 + g * c1;
      const float v = V[i] * b2 + (g * g) * c2;
      M2[i] = m;
      V2[i] = v;
      P2[i] = p - (m / (sqrtf(v) + eps)) * lrT;
    }
  }
}

/* Parameters with at least this many entries are updated by two threads (a memory-bound pass). */
#define ADAM_SPLIT ((size_t)1 << 16)
typedef struct {
  float *a[7];
  size_t n;
  float k[7];
  bool decay;
} adam_job;

static void adam_part(void *arg, int part, int parts) {
  adam_job *j = (adam_job *)arg;
  int64_t i0, cnt;
  part_range((int64_t)j->n, part, parts, &i0, &cnt);
  if (cnt <= 0) return;
  adam_loop(j->a[0] + i0, j->a[1] + i0, j->a[2] + i0, j->a[3] + i0, j->a[4] + i0, j->a[5] + i0, j->a[6] + i0, (size_t)cnt, j->k[0], j->k[1], j->k[2], j->k[3], j->k[4],
            j->k[5], j->k[6], j->decay);
}

/*
 * Bernoulli negative log-likelihood of images under logits, summed per example (the
 * β-VAE's reconstruction term): loss[b] = Σ_p max(l, 0) − l·x + log(1 + e^−|l|), and its
 * gradient dl = dy[b]·(σ(l) − x). The composed tf ops take ~10 elementwise passes each
 * way on one thread; this is one pass, rows split over two threads. exp and log1p are
 * inlined polynomials (below) so that the loops vectorise; their error is a few ulp.
 */
static inline float poly_expf(float x) {
  /* e^x = 2^n · e^r, n = round(x / ln 2), |r| ≤ ln2 / 2 (Cody-Waite split of ln 2); Cephes' expf polynomial. */
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  /* Round to nearest by the 1.5·2^23 trick (|x / ln 2| < 2^22): no libm call, so the loop vectorises. */
  const float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - fn * 0.693359375f) + fn * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int32_t i; float f; } two = {.i = ((int32_t)fn + 127) << 23};
  return p * two.f;
}
static inline float poly_log1pf_unit(float e) {
  /* log(1 + e) for e in [0, 1]: 2·atanh(s), s = e / (2 + e) ≤ 1/3, odd series to s^13 (no cancellation for small e). */
  const float s = e / (2.0f + e), s2 = s * s;
  float q = 1.0f / 13.0f;
  q = q * s2 + 1.0f / 11.0f;
  q = q * s2 + 1.0f / 9.0f;
  q = q * s2 + 1.0f / 7.0f;
  q = q * s2 + 1.0f / 5.0f;
  q = q * s2 + 1.0f / 3.0f;
  return 2.0f * s * (q * s2 + 1.0f);
}
typedef struct {
  const float *dy, *l, *x;
  float *out;
  int64_t rows, cols;
  int backward;
} bce_job;
static void bce_part(void *arg, int part, int parts) {
  const bce_job *j = (const bce_job *)arg;
  int64_t r0, cnt;
  part_range(j->rows, part, parts, &r0, &cnt);
  const int64_t P = j->cols;
  for (int64_t r = r0; r < r0 + cnt; r++) {
    const float *restrict l = j->l + r * P, *restrict x = j->x + r * P;
    if (j->backward) {
      float *restrict dl = j->out + r * P;
      const float g = j->dy[r];
      for (int64_t i = 0; i < P; i++) dl[i] = g * (1.0f / (1.0f + poly_expf(-l[i])) - x[i]);
    } else {
      /* Blocks of 64 terms, then 8 running lanes: vectorisable without reassociating a single sum. */
      float t[64], lane[8] = {0};
      for (int64_t i0 = 0; i0 < P; i0 += 64) {
        const int64_t m = P - i0 < 64 ? P - i0 : 64;
        for (int64_t i = 0; i < m; i++) {
          const float v = l[i0 + i], a = v < 0.0f ? -v : v;
          t[i] = (v > 0.0f ? v : 0.0f) - v * x[i0 + i] + poly_log1pf_unit(poly_expf(-a));
        }
        for (int64_t i = m; i < 64; i++) t[i] = 0.0f;
        for (int k = 0; k < 64; k += 8)
          for (int q = 0; q < 8; q++) lane[q] += t[k + q];
      }
      j->out[r] = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    }
  }
}
#define BCE_SPLIT 32768
/* bceLogits(mode, bufs, rows, cols): mode 0 bufs [l, x, loss]; mode 1 bufs [dy, l, x, dl]. */
static napi_value js_bce_logits(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double mode, rows, cols;
  bool isArr;
  uint32_t n;
  if (argc != 4 || !get_f64(env, argv[0], &mode, "bceLogits: mode must be a number") || !get_f64(env, argv[2], &rows, "bceLogits: rows must be a number") ||
      !get_f64(env, argv[3], &cols, "bceLogits: cols must be a number"))
    return NULL;
  if ((mode != 0 && mode != 1) || rows < 0 || cols < 0 || rows != (double)(int64_t)rows || cols != (double)(int64_t)cols) {
    napi_throw_range_error(env, NULL, "bceLogits: mode must be 0 or 1, rows and cols non-negative integers");
    return NULL;
  }
  const int backward = mode == 1;
  if (napi_is_array(env, argv[1], &isArr) != napi_ok || !isArr || napi_get_array_length(env, argv[1], &n) != napi_ok || n != (uint32_t)(backward ? 4 : 3)) {
    napi_throw_type_error(env, NULL, "bceLogits: bufs must hold 3 (forward) or 4 (backward) Float32Arrays");
    return NULL;
  }
  float *b[4];
  size_t len[4];
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    CHECK(napi_get_element(env, argv[1], i, &e));
    if (!get_f32(env, e, &b[i], &len[i], "bceLogits: bufs must be Float32Arrays")) return NULL;
  }
  const int64_t R = (int64_t)rows, P = (int64_t)cols, total = R * P;
  const size_t need[2][4] = {{(size_t)total, (size_t)total, (size_t)R, 0}, {(size_t)R, (size_t)total, (size_t)total, (size_t)total}};
  for (uint32_t i = 0; i < n; i++)
    if (len[i] < need[backward][i]) {
      napi_throw_range_error(env, NULL, "bceLogits: a buffer is shorter than rows x cols (or rows)");
      return NULL;
    }
  bce_job job = backward ? (bce_job){b[0], b[1], b[2], b[3], R, P, 1} : (bce_job){NULL, b[0], b[1], b[2], R, P, 0};
  run_parts(bce_part, &job, wanted_threads >= 2 && R >= 2 && total >= BCE_SPLIT ? 2 : 1);
  return NULL;
}

static napi_value js_adam(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value argv[15];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 15) {
    napi_throw_type_error(env, NULL, "adam: expected 15 arguments");
    return NULL;
  }
  float *a[7];
  size_t len[7];
  double k[7];
  bool decay;
  for (int i = 0; i < 7; i++)
    if (!get_f32(env, argv[i], &a[i], &len[i], "adam: p, g, m, v, p2, m2, v2 must be Float32Arrays")) return NULL;
  for (int i = 0; i < 7; i++)
    if (!get_f64(env, argv[7 + i], &k[i], "adam: b1, c1, b2, c2, eps, lrT, wd must be numbers")) return NULL;
  if (!get_bool(env, argv[14], &decay, "adam: decay must be a boolean")) return NULL;
  for (int i = 1; i < 7; i++) {
    if (len[i] != len[0]) {
      napi_throw_range_error(env, NULL, "adam: all arrays must have one length");
      return NULL;
    }
  }
  /* The outputs are fresh tensors; an output aliasing an input would break the restrict contract. */
  for (int i = 4; i < 7; i++)
    for (int j = 0; j < 7; j++)
      if (i != j && len[0] > 0 && a[i] < a[j] + len[j] && a[j] < a[i] + len[i]) {
        napi_throw_range_error(env, NULL, "adam: outputs must not overlap other operands");
        return NULL;
      }
  adam_job job = {{a[0], a[1], a[2], a[3], a[4], a[5], a[6]}, len[0], {(float)k[0], (float)k[1], (float)k[2], (float)k[3], (float)k[4], (float)k[5], (float)k[6]}, decay};
  PT(ta);
  run_parts(adam_part, &job, wanted_threads >= 2 && len[0] >= ADAM_SPLIT ? 2 : 1);
  PA(18, ta);
  return NULL;
}

/*
 * filmBlock(mode, bufs, ints, floats): one FiLM-conditioned layer of the FiLM VAE as a
 * single call each way (mode 0 forward, 1 backward, 2 backward with dx left at zero: x is
 * data that needs no gradient, e.g. the images into the first layer; modes 3, 4, 5 are the
 * same for the plain layer y = op(x, W) + b, with bufs [x, W, b, y] and
 * [dy, x, W, dx, dW, db], ints as below with Bc = cd = H = 1):
 *   u = op(x, W) + b;  scale = 1 + scaleMul * s(c);  shift = shiftMul * t(c)
 *   y = leaky(u * scale + shift)
 * where op is a dense product (kind 0), a conv2d (kind 1) or a conv2dTranspose (kind 2,
 * i.e. conv2dBackpropInput of the conv described by dims), and s, t are the block's FiLM
 * generators: two-layer MLPs of the conditioning c with a leaky hidden layer. u is viewed
 * as [B, P, ch] (ch = FiLM channels, P = pixels per example); scale and shift have one row
 * per example (Bc = B) or one row shared by the batch (Bc = 1). The bias b has nBias
 * entries, broadcast over rows of u of that width (ch for a conv, P*ch for a dense layer).
 *
 * ints:   [kind, B, Bc, cd, H, ch, P, nBias, K, N, ...15 conv dims (kinds 1, 2)]
 *         (dense: x [B, K], W [K, N]; H = generator hidden width, cd = conditioning size)
 * floats: [alpha, scaleMul, shiftMul]
 * forward bufs:  x, W, b, c, ws1, bs1, ws2, bs2, wt1, bt1, wt2, bt2, y, u, g
 * backward bufs: dy, x, W, u, c, ws1, bs1, ws2, bs2, wt1, bt1, wt2, bt2,
 *                dx, dW, db, dc, dws1, dbs1, dws2, dbs2, dwt1, dbt1, dwt2, dbt2, g
 * g (4*Bc*H + 2*Bc*ch floats) holds the generators' activations, written by the forward
 * pass and read by the backward one: pre-activation and hidden layer of s, the same of t
 * (Bc x H each), then scale and shift (Bc x ch each). At the VAE's sizes (H = 256) the
 * generators are a sizeable share of a block's products, so they are not recomputed;
 * the pre-FiLM activation is recomputed from u (elementwise).
 */
static _Thread_local float *film_scratch = NULL;
static _Thread_local size_t film_scratch_cap = 0;

static float *get_film_scratch(size_t n) {
  if (n > film_scratch_cap) {
    free(film_scratch);
    film_scratch = (float *)malloc(n * sizeof(float));
    film_scratch_cap = film_scratch ? n : 0;
  }
  return film_scratch;
}

typedef struct {
  int64_t kind, B, Bc, cd, H, ch, P, nBias, K, N;
  conv_dims d;
  float alpha, scaleMul, shiftMul;
} film_spec;

/* out[rows, n] = in[rows, k] W[k, n] + bias[n] */
static void dense_bias(const float *in, const float *w, const float *bias, float *out, int64_t rows, int64_t k, int64_t n) {
  for (int64_t r = 0; r < rows; r++) memcpy(out + r * n, bias, (size_t)n * sizeof(float));
  gemm(false, false, rows, n, k, 1.0f, in, k, w, n, 1.0f, out, n);
}

/* One generator: pre = c ws1 + bs1, h = leaky(pre), o = h ws2 + bs2 (all Bc rows). */
static void film_gen(const film_spec *s, const float *c, const float *w1, const float *b1, const float *w2, const float *b2, float *pre, float *h, float *o) {
  dense_bias(c, w1, b1, pre, s->Bc, s->cd, s->H);
  for (int64_t i = 0; i < s->Bc * s->H; i++) h[i] = pre[i] > 0.0f ? pre[i] : pre[i] * s->alpha;
  dense_bias(h, w2, b2, o, s->Bc, s->H, s->ch);
}

/* Backward of one generator for do (= d o, Bc x ch, overwritten): weight/bias grads, and dc += ... */
static void film_gen_back(const film_spec *s, const float *c, const float *w1, const float *w2, const float *pre, const float *h, const float *dout, float *dh,
                          float *dw1, float *db1, float *dw2, float *db2, float *dc, float dcBeta) {
  const int64_t Bc = s->Bc, H = s->H, ch = s->ch, cd = s->cd;
  gemm(true, false, H, ch, Bc, 1.0f, h, H, dout, ch, 0.0f, dw2, ch);
  memset(db2, 0, (size_t)ch * sizeof(float));
  for (int64_t r = 0; r < Bc; r++)
    for (int64_t q = 0; q < ch; q++) db2[q] += dout[r * ch + q];
  gemm(false, true, Bc, H, ch, 1.0f, dout, ch, w2, ch, 0.0f, dh, H);
  for (int64_t i = 0; i < Bc * H; i++) dh[i] = pre[i] > 0.0f ? dh[i] : dh[i] * s->alpha;
  gemm(true, false, cd, H, Bc, 1.0f, c, cd, dh, H, 0.0f, dw1, H);
  memset(db1, 0, (size_t)H * sizeof(float));
  for (int64_t r = 0; r < Bc; r++)
    for (int64_t q = 0; q < H; q++) db1[q] += dh[r * H + q];
  gemm(false, true, Bc, cd, H, 1.0f, dh, H, w1, H, dcBeta, dc, cd);
}

typedef struct {
  const film_spec *s;
  float **buf;
  const float *scale, *shift;
  float *du, *partials, *dwPart;
  int64_t partial;
  int ok;   /* cleared by a part that could not get scratch memory */
  int phase; /* backward of a dense layer: 0 = du, dx, sums; 1 = dW by column halves */
  int wantDx;
  int plain; /* no FiLM and no activation: y = u, du = dy */
} film_job;


/* Floats per example of x and u. */
static void per_example(const film_spec *s, int64_t *xe, int64_t *ue) {
  const int64_t inE = s->d.h * s->d.w * s->d.c, outE = s->d.outH * s->d.outW * s->d.o;
  if (s->kind == 0) {
    *xe = s->K;
    *ue = s->N;
  } else {
    *xe = s->kind == 1 ? inE : outE;
    *ue = s->kind == 1 ? outE : inE;
  }
}

/*
 * u += bias, then y = leaky(u*scale + shift), over P rows of ch (distinct arrays:
 * vectorisable). The bias row of pixel p is bias + p*bstride (0: one bias per channel).
 */
static void film_leaky_rows(float *restrict u, float *restrict y, const float *restrict bias, int64_t bstride, const float *restrict scale,
                            const float *restrict shift, int64_t P, int64_t ch, float alpha) {
  for (int64_t p = 0; p < P; p++) {
    float *ur = u + p * ch;
    float *yr = y + p * ch;
    const float *br = bias + p * bstride;
    for (int64_t q = 0; q < ch; q++) {
      const float v = ur[q] + br[q];
      ur[q] = v;
      const float a = v * scale[q] + shift[q];
      yr[q] = a > 0.0f ? a : a * alpha;
    }
  }
}

/* The backward pass over P rows of ch: du = g*scale, dscale += g*u, dshift += g with g = leaky'(a)*dy. */
static void film_grad_rows(const float *restrict u, const float *restrict dy, float *restrict du, const float *restrict scale, const float *restrict shift,
                           float *restrict dscale, float *restrict dshift, float *restrict db, int64_t bstride, int64_t P, int64_t ch, float alpha) {
  for (int64_t p = 0; p < P; p++) {
    const float *ur = u + p * ch, *dyr = dy + p * ch;
    float *dur = du + p * ch;
    float *dbr = db + p * bstride;
    for (int64_t q = 0; q < ch; q++) {
      const float a = ur[q] * scale[q] + shift[q];
      const float g = a > 0.0f ? dyr[q] : dyr[q] * alpha;
      const float d = g * scale[q];
      dshift[q] += g;
      dscale[q] += g * ur[q];
      dur[q] = d;
      dbr[q] += d;
    }
  }
}

static void film_forward_part(void *arg, int part, int parts) {
  film_job *j = (film_job *)arg;
  const film_spec *s = j->s;
  int64_t b0, cnt, xe, ue;
  part_range(s->B, part, parts, &b0, &cnt);
  per_example(s, &xe, &ue);
  if (cnt <= 0) return;
  const float *x = j->buf[0] + b0 * xe, *w = j->buf[1], *bias = j->buf[2];
  float *y = j->buf[12] + b0 * ue, *u = j->buf[13] + b0 * ue;
  conv_dims d = s->d;
  d.n = cnt;
  int ok = 1;
  PT(tp);
  if (s->kind == 0) gemm(false, false, cnt, s->N, s->K, 1.0f, x, s->K, w, s->N, 0.0f, u, s->N);
  else if (s->kind == 1) ok = conv_fwd(x, w, u, &d);
  else ok = conv_bp_input(x, w, u, &d);
  PA(2, tp);
  PT(te);
  if (!ok) {
    j->ok = 0;
    return;
  }
  const int64_t ch = s->ch, P = s->P;
  if (j->plain) {
    const int64_t rows = cnt * ue / s->nBias;
    for (int64_t r = 0; r < rows; r++) {
      float *ur = u + r * s->nBias;
      for (int64_t q = 0; q < s->nBias; q++) ur[q] = ur[q] + bias[q];
    }
    return;
  }
  const float alpha = s->alpha;
  const int64_t bstride = s->nBias == ch ? 0 : ch;
  for (int64_t b = 0; b < cnt; b++) {
    const int64_t bc = s->Bc == 1 ? 0 : b0 + b;
    film_leaky_rows(u + b * P * ch, y + b * P * ch, bias, bstride, j->scale + bc * ch, j->shift + bc * ch, P, ch, alpha);
  }
  PA(3, te);
}

static void film_backward_part(void *arg, int part, int parts) {
  film_job *j = (film_job *)arg;
  const film_spec *s = j->s;
  const float *dy = j->buf[0], *x = j->buf[1], *w = j->buf[2], *u = j->buf[3];
  float *dx = j->buf[13], *dw = j->buf[14];
  if (j->phase == 1) {
    /* Dense, once du is complete: dW[:, n0:n1] = x^T du[:, n0:n1] and dx[:, k0:k1] = du W[k0:k1, :]^T,
       so that each thread packs only its half of W (a split over examples would pack all of it twice). */
    int64_t n0, cnt, k0, kcnt;
    part_range(s->N, part, parts, &n0, &cnt);
    part_range(s->K, part, parts, &k0, &kcnt);
    PT(t7);
    if (cnt > 0) gemm(true, false, s->K, cnt, s->B, 1.0f, x, s->K, j->du + n0, s->N, 0.0f, dw + n0, s->N);
    PA(7, t7);
    PT(t8);
    if (kcnt > 0 && j->wantDx) gemm(false, true, s->B, kcnt, s->N, 1.0f, j->du, s->N, w + k0 * s->N, s->N, 0.0f, dx + k0, s->K);
    PA(8, t8);
    return;
  }
  int64_t b0, cnt, xe, ue;
  part_range(s->B, part, parts, &b0, &cnt);
  per_example(s, &xe, &ue);
  const int64_t film = s->Bc * s->ch, ch = s->ch, P = s->P;
  float *dscale = j->partials + part * j->partial, *dshift = dscale + film, *db = dshift + film;
  memset(dscale, 0, (size_t)j->partial * sizeof(float));
  if (cnt <= 0) return;
  const float alpha = s->alpha;
  float *du = j->du + b0 * ue;
  PT(t4);
  for (int64_t b = 0; b < cnt && !j->plain; b++) {
    const int64_t bc = s->Bc == 1 ? 0 : b0 + b;
    const int64_t off = (b0 + b) * P * ch;
    film_grad_rows(u + off, dy + off, j->du + off, j->scale + bc * ch, j->shift + bc * ch, dscale + bc * ch, dshift + bc * ch, db, s->nBias == ch ? 0 : ch, P, ch,
                   alpha);
  }
  if (j->plain) {
    const int64_t rows = cnt * ue / s->nBias;
    for (int64_t r = 0; r < rows; r++) {
      const float *dr = du + r * s->nBias;
      for (int64_t q = 0; q < s->nBias; q++) db[q] += dr[q];
    }
  }
  PA(4, t4);
  conv_dims d = s->d;
  d.n = cnt;
  float *dwOut = part == 0 ? dw : j->dwPart;
  PT(t5);
  int ok = 1;
  if (s->kind == 0) {
    /* dW and dx in phase 1. */
  } else if (s->kind == 1) {
    ok = conv_bp_filter(x + b0 * xe, du, dwOut, &d) && (!j->wantDx || conv_bp_input(du, w, dx + b0 * xe, &d));
  } else {
    ok = j->wantDx ? conv_fwd_and_filter(du, w, x + b0 * xe, dx + b0 * xe, dwOut, &d) : conv_bp_filter(du, x + b0 * xe, dwOut, &d);
  }
  PA(5, t5);
  if (!ok) j->ok = 0;
}

static _Thread_local float *film_scratch2 = NULL;
static _Thread_local size_t film_scratch2_cap = 0;

static float *get_film_scratch2(size_t n) {
  if (n > film_scratch2_cap) {
    free(film_scratch2);
    film_scratch2 = (float *)malloc(n * sizeof(float));
    film_scratch2_cap = film_scratch2 ? n : 0;
  }
  return film_scratch2;
}

/* The two FiLM generators of a block (s: index 0, t: index 1), forward or backward, one per part. */
typedef struct {
  const film_spec *s;
  const float *c;
  float **w;      /* ws1, bs1, ws2, bs2, wt1, bt1, wt2, bt2 */
  float *pre[2], *h[2], *out[2], *dout[2];
  float *dh;      /* generator s's dh scratch */
  float *dc, *dc2; /* backward: s writes dc, t writes dc2 (then added) */
  float **grads;  /* dws1, dbs1, dws2, dbs2, dwt1, dbt1, dwt2, dbt2 */
  float *dh2;
} gen_job;

static void gen_forward_part(void *arg, int part, int parts) {
  gen_job *j = (gen_job *)arg;
  for (int g = part; g < 2; g += parts) film_gen(j->s, j->c, j->w[4 * g], j->w[4 * g + 1], j->w[4 * g + 2], j->w[4 * g + 3], j->pre[g], j->h[g], j->out[g]);
}

static void gen_backward_part(void *arg, int part, int parts) {
  gen_job *j = (gen_job *)arg;
  for (int g = part; g < 2; g += parts)
    film_gen_back(j->s, j->c, j->w[4 * g], j->w[4 * g + 2], j->pre[g], j->h[g], j->dout[g], g == 0 ? j->dh : j->dh2, j->grads[4 * g], j->grads[4 * g + 1],
                  j->grads[4 * g + 2], j->grads[4 * g + 3], g == 0 ? j->dc : j->dc2, 0.0f);
}

static napi_value js_film_block(napi_env env, napi_callback_info info) {
  PT(tcall);
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int64_t mode;
  if (argc != 4 || !get_i64(env, argv[0], &mode, "filmBlock: mode must be an integer in [0, 5]") || mode < 0 || mode > 5) {
    if (!(argc != 4)) napi_throw_range_error(env, NULL, "filmBlock: mode must be an integer in [0, 5]");
    else napi_throw_type_error(env, NULL, "filmBlock(mode, bufs, ints, floats): expected 4 arguments");
    return NULL;
  }
  /* Modes 3-5: the plain layer y = op(x, W) + b (no FiLM, no activation), forward and backward. */
  const int plain = mode >= 3;
  const int base = (int)(plain ? mode - 3 : mode);
  static const int plainFwd[4] = {0, 1, 2, 12}, plainBwd[6] = {0, 1, 2, 13, 14, 15};
  const uint32_t nbufs = plain ? (base == 0 ? 4 : 6) : (base == 0 ? 15 : 26);
  float *buf[26] = {0};
  size_t len[26] = {0};
  int present[26] = {0};
  float *raw[26];
  size_t rawLen[26];
  int64_t iv[25];
  double fv[3];
  bool isArr;
  uint32_t n;
  napi_value e;
  if (napi_is_array(env, argv[1], &isArr) != napi_ok || !isArr || napi_get_array_length(env, argv[1], &n) != napi_ok || n != nbufs) {
    napi_throw_type_error(env, NULL, "filmBlock: bufs must hold 15 (forward), 26 (backward), 4 (plain forward) or 6 (plain backward) Float32Arrays");
    return NULL;
  }
  for (uint32_t i = 0; i < nbufs; i++) {
    if (napi_get_element(env, argv[1], i, &e) != napi_ok || !get_f32(env, e, &raw[i], &rawLen[i], "filmBlock: bufs must be Float32Arrays")) return NULL;
    const int at = plain ? (base == 0 ? plainFwd[i] : plainBwd[i]) : (int)i;
    buf[at] = raw[i];
    len[at] = rawLen[i];
    present[at] = 1;
  }
  if (plain && base == 0) {
    buf[13] = buf[12]; /* u is y */
    len[13] = len[12];
  }
  if (napi_is_array(env, argv[2], &isArr) != napi_ok || !isArr || napi_get_array_length(env, argv[2], &n) != napi_ok || (n != 10 && n != 25)) {
    napi_throw_type_error(env, NULL, "filmBlock: ints must be an array of 10 (dense) or 25 (conv) integers");
    return NULL;
  }
  const uint32_t nints = n;
  for (uint32_t i = 0; i < nints; i++) {
    if (napi_get_element(env, argv[2], i, &e) != napi_ok || !get_i64(env, e, &iv[i], "filmBlock: ints must be integers")) return NULL;
    if (iv[i] < (i >= 23 ? 0 : (i == 0 ? 0 : 1)) || iv[i] > INT32_MAX) {
      napi_throw_range_error(env, NULL, "filmBlock: ints out of range");
      return NULL;
    }
  }
  if (napi_is_array(env, argv[3], &isArr) != napi_ok || !isArr || napi_get_array_length(env, argv[3], &n) != napi_ok || n != 3) {
    napi_throw_type_error(env, NULL, "filmBlock: floats must be [alpha, scaleMul, shiftMul]");
    return NULL;
  }
  for (uint32_t i = 0; i < 3; i++)
    if (napi_get_element(env, argv[3], i, &e) != napi_ok || !get_f64(env, e, &fv[i], "filmBlock: floats must be numbers")) return NULL;
  film_spec s = {iv[0], iv[1], iv[2], iv[3], iv[4], iv[5], iv[6], iv[7], iv[8], iv[9], {0}, (float)fv[0], (float)fv[1], (float)fv[2]};
  if (s.kind > 2 || (s.kind == 0) != (nints == 10) || (s.Bc != 1 && s.Bc != s.B)) {
    napi_throw_range_error(env, NULL, "filmBlock: kind must be 0 (dense, 10 ints), 1 or 2 (conv, 25 ints), and Bc 1 or B");
    return NULL;
  }
  int64_t xs, ws, us;
  if (s.kind == 0) {
    xs = s.B * s.K;
    ws = s.K * s.N;
    us = s.B * s.N;
  } else {
    s.d = (conv_dims){iv[10], iv[11], iv[12], iv[13], iv[14], iv[15], iv[16], iv[17], iv[18], iv[19], iv[20], iv[21], iv[22], iv[23], iv[24]};
    const int64_t inS = s.d.n * s.d.h * s.d.w * s.d.c, outS = s.d.n * s.d.outH * s.d.outW * s.d.o;
    ws = s.d.fh * s.d.fw * s.d.c * s.d.o;
    xs = s.kind == 1 ? inS : outS;
    us = s.kind == 1 ? outS : inS;
    if (s.d.n != s.B) {
      napi_throw_range_error(env, NULL, "filmBlock: conv dims batch differs from B");
      return NULL;
    }
  }
  if (us != s.B * s.P * s.ch || (s.nBias != s.ch && s.nBias != s.P * s.ch)) {
    napi_throw_range_error(env, NULL, "filmBlock: output size is not B*P*ch, or bias size neither ch nor P*ch");
    return NULL;
  }
  const int64_t cs = s.Bc * s.cd, w1s = s.cd * s.H, w2s = s.H * s.ch;
  /* Sizes of the buffers in call order. */
  const int64_t genSizes[8] = {w1s, s.H, w2s, s.ch, w1s, s.H, w2s, s.ch};
  const int64_t gSize = 4 * s.Bc * s.H + 2 * s.Bc * s.ch;
  int64_t need[26];
  int nn = 0;
  if (base == 0) {
    const int64_t head[4] = {xs, ws, s.nBias, cs};
    for (int i = 0; i < 4; i++) need[nn++] = head[i];
    for (int i = 0; i < 8; i++) need[nn++] = genSizes[i];
    need[nn++] = us;
    need[nn++] = us;
    need[nn++] = gSize;
  } else {
    const int64_t head[5] = {us, xs, ws, us, cs};
    for (int i = 0; i < 5; i++) need[nn++] = head[i];
    for (int i = 0; i < 8; i++) need[nn++] = genSizes[i];
    const int64_t grads[4] = {xs, ws, s.nBias, cs};
    for (int i = 0; i < 4; i++) need[nn++] = grads[i];
    for (int i = 0; i < 8; i++) need[nn++] = genSizes[i];
    need[nn++] = gSize;
  }
  for (int i = 0; i < nn; i++) {
    if (present[i] && (int64_t)len[i] < need[i]) {
      napi_throw_range_error(env, NULL, "filmBlock: an array is too short for the given dimensions");
      return NULL;
    }
  }
  PA(20, tcall);
  const int64_t gen = s.Bc * s.H, film = s.Bc * s.ch;
  /* One part per thread; small layers and batches stay on the calling thread. */
  const double flops = 2.0 * (double)us * (double)(s.kind == 0 ? s.K : s.d.fh * s.d.fw * (s.kind == 1 ? s.d.c : s.d.o));
  const int parts = wanted_threads >= 2 && s.B >= 2 && flops >= SPLIT_FLOPS ? 2 : 1;
  const int64_t partial = 2 * film + s.nBias; /* per part: dscale, dshift, db */
  /* Scratch: dh (gen), dscale, dshift (2 x film); backward: du (us), per-part partial sums,
     the second part's dW (conv). The generators' activations live in g (FiLM blocks only). */
  const size_t scratchFloats = (size_t)(gen + 2 * film) + (base != 0 ? (size_t)(us + parts * partial + (parts == 2 && s.kind != 0 ? ws : 0)) : 0);
  float *sc = get_film_scratch(scratchFloats);
  if (!sc) {
    napi_throw_error(env, NULL, "filmBlock: out of memory");
    return NULL;
  }
  float *dh = sc, *dscale = dh + gen, *dshift = dscale + film, *du = dshift + film;
  float *preS = NULL, *hS = NULL, *preT = NULL, *hT = NULL, *scale = NULL, *shift = NULL;
  if (!plain) {
    preS = buf[base == 0 ? 14 : 25];
    hS = preS + gen, preT = hS + gen, hT = preT + gen, scale = hT + gen, shift = scale + film;
  }
  const int o = base == 0 ? 3 : 4; /* index of c */
  const float *c = buf[o];
  /*
   * With two threads wanted, the whole call keeps OpenBLAS on one thread and splits the
   * work itself: a woken OpenBLAS pool keeps yielding-spinning for a while after each
   * product and then competes with the split parts for the two cores.
   */
  if (wanted_threads >= 2) {
    threads_for(0);
    pinned = 1;
  }
  /* The generators' products: s on one thread, t on the other. */
  const int genParts = wanted_threads >= 2 && 2.0 * (double)s.Bc * (double)s.H * (double)(s.cd + s.ch) >= SPLIT_FLOPS / 2 ? 2 : 1;
  gen_job gj = {&s, c, buf + o + 1, {preS, preT}, {hS, hT}, {scale, shift}, {dscale, dshift}, dh, NULL, NULL, buf + 17};
  PT(tg);
  if (!plain && base == 0) {
    run_parts(gen_forward_part, &gj, genParts);
    PA(0, tg);
    /* The composed ops' float32 order: scale = s*scaleMul + 1, shift = t*shiftMul. */
    for (int64_t i = 0; i < film; i++) {
      scale[i] = scale[i] * s.scaleMul + 1.0f;
      shift[i] = shift[i] * s.shiftMul;
    }
  }
  /* A plain layer's du is dy itself. */
  film_job job = {&s, buf, scale, shift, plain ? buf[0] : du, du + us, du + us + parts * partial, partial, 1, 0, base == 1, plain};
  PT(tm);
  if (base == 2) memset(buf[13], 0, (size_t)xs * sizeof(float));
  PA(11, tm);
  if (parts == 2) {
    threads_for(0); /* each part runs single-threaded sgemm */
    pinned = 1;
  }
  if (base == 0) {
    PT(tf);
    run_parts(film_forward_part, &job, parts);
    PA(16, tf);
    PA(19, tcall);
    pinned = 0;
    if (!job.ok) napi_throw_error(env, NULL, "filmBlock: out of memory");
    return NULL;
  }
  PT(tb);
  run_parts(film_backward_part, &job, parts);
  if (s.kind == 0) {
    job.phase = 1;
    run_parts(film_backward_part, &job, parts);
  }
  pinned = 0;
  if (!job.ok) {
    napi_throw_error(env, NULL, "filmBlock: out of memory");
    return NULL;
  }
  PA(17, tb);
  PT(ts);
  float *db = buf[15], *dc = buf[16], *dw = buf[14];
  if (plain) {
    memcpy(db, job.partials + 2 * film, (size_t)s.nBias * sizeof(float));
    if (parts == 2) {
      const float *p1 = job.partials + partial + 2 * film;
      for (int64_t i = 0; i < s.nBias; i++) db[i] += p1[i];
      if (s.kind != 0)
        for (int64_t i = 0; i < ws; i++) dw[i] += job.dwPart[i];
    }
    pinned = 0;
    return NULL;
  }
  memcpy(dscale, job.partials, (size_t)(2 * film) * sizeof(float));
  memcpy(db, job.partials + 2 * film, (size_t)s.nBias * sizeof(float));
  if (parts == 2) {
    const float *p1 = job.partials + partial;
    for (int64_t i = 0; i < 2 * film; i++) dscale[i] += p1[i];
    for (int64_t i = 0; i < s.nBias; i++) db[i] += p1[2 * film + i];
    if (s.kind != 0)
      for (int64_t i = 0; i < ws; i++) dw[i] += job.dwPart[i];
  }
  for (int64_t i = 0; i < film; i++) {
    dscale[i] = dscale[i] * s.scaleMul;
    dshift[i] = dshift[i] * s.shiftMul;
  }
  PA(9, ts);
  if (wanted_threads >= 2) {
    threads_for(0);
    pinned = 1;
  }
  PT(tgb);
  /* The t generator's dc and dh go to their own scratch when it runs on the other thread. */
  float *extra = get_film_scratch2((size_t)(s.Bc * (s.cd + s.H)));
  if (!extra) {
    pinned = 0;
    napi_throw_error(env, NULL, "filmBlock: out of memory");
    return NULL;
  }
  gj.dc = dc;
  gj.dc2 = extra;
  gj.dh2 = extra + s.Bc * s.cd;
  run_parts(gen_backward_part, &gj, genParts);
  for (int64_t i = 0; i < s.Bc * s.cd; i++) dc[i] += extra[i];
  PA(10, tgb);
  pinned = 0;
  return NULL;
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t n;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1 || !get_i64(env, argv[0], &n, "setThreads: n must be an integer")) return NULL;
  if (n < 1 || n > 1024) {
    napi_throw_range_error(env, NULL, "setThreads: n must be in [1, 1024]");
    return NULL;
  }
  wanted_threads = (int)n;
  current_threads = (int)n;
  openblas_set_num_threads((int)n);
  return NULL;
}

static napi_value js_get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  CHECK(napi_create_int32(env, wanted_threads, &r));
  return r;
}

static napi_value js_config(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  const char *c = openblas_get_config();
  CHECK(napi_create_string_utf8(env, c ? c : "", NAPI_AUTO_LENGTH, &r));
  return r;
}

NAPI_MODULE_INIT() {
  const char *spin = getenv("YOTO_BLAS_SPIN_US");
  if (spin && *spin) {
    char *end;
    const double us = strtod(spin, &end);
    if (*end == '\0' && us >= 0 && us <= 1e6) split_spin_ns = (uint64_t)(us * 1000.0);
  }
  if (getenv("YOTO_BLAS_PROF") && !prof_on) {
    prof_on = 1;
    atexit(prof_dump);
  }
  napi_property_descriptor props[] = {
      {"sgemm", NULL, js_sgemm, NULL, NULL, NULL, napi_enumerable, NULL},
      {"conv2d", NULL, js_conv2d, NULL, NULL, NULL, napi_enumerable, NULL},
      {"conv2dBackpropInput", NULL, js_conv2d_bp_input, NULL, NULL, NULL, napi_enumerable, NULL},
      {"conv2dBackpropFilter", NULL, js_conv2d_bp_filter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sumAxes", NULL, js_sum_axes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"leakyRelu", NULL, js_leaky_relu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"broadcastOp", NULL, js_broadcast_op, NULL, NULL, NULL, napi_enumerable, NULL},
      {"filmBlock", NULL, js_film_block, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bceLogits", NULL, js_bce_logits, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adam", NULL, js_adam, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, js_set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getThreads", NULL, js_get_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"config", NULL, js_config, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}
