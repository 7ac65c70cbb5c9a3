import { loadNativeBlas } from './packages/native-blas/src/index.ts';
const r = loadNativeBlas(); if (!r.ok) throw new Error(r.reason);
const blas = r.blas; blas.setThreads(Number(process.env.T ?? 1));
const B = 64, cd = 1, H = 32;
const rand = (n: number) => new Float32Array(n).map(() => Math.random() - 0.5);
function bench(label: string, flop: number, f: () => void) { for (let i = 0; i < 3; i++) f(); const t = performance.now(); let best = 1e9; while (performance.now() - t < 700) { const a = performance.now(); f(); best = Math.min(best, performance.now() - a); } console.log(label.padEnd(22), best.toFixed(3), "ms", (flop / best / 1e6).toFixed(1), "GFLOP/s"); }
const K = 3136, N = 256, ch = 256, P = 1;
const x = rand(B * K), W = rand(K * N), b = rand(N), c = rand(B * cd);
const gen = [rand(cd * H), rand(H), rand(H * ch), rand(ch), rand(cd * H), rand(H), rand(H * ch), rand(ch)];
const y = new Float32Array(B * N), u = new Float32Array(B * N);
const ints = [0, B, B, cd, H, ch, P, N, K, N];
const f = 2 * B * K * N;
bench('sgemm fwd', f, () => blas.sgemm(false, false, B, N, K, 1, x, 0, K, W, 0, N, 0, u, 0, N, 1, 0, 0, 0));
bench('filmBlock fwd', f, () => blas.filmBlock(0, [x, W, b, c, ...gen, y, u], ints, [0.3, 0.5, 0.5]));
const dy = rand(B * N);
const grads = [new Float32Array(x.length), new Float32Array(W.length), new Float32Array(N), new Float32Array(c.length), ...gen.map((g) => new Float32Array(g.length))];
bench('sgemm dW', f, () => blas.sgemm(true, false, K, N, B, 1, x, 0, K, dy, 0, N, 0, grads[1]!, 0, N, 1, 0, 0, 0));
bench('sgemm dx', f, () => blas.sgemm(false, true, B, K, N, 1, dy, 0, N, W, 0, N, 0, grads[0]!, 0, K, 1, 0, 0, 0));
bench('filmBlock bwd', 2 * f, () => blas.filmBlock(1, [dy, x, W, u, c, ...gen, ...grads], ints, [0.3, 0.5, 0.5]));
