import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AdaptiveSchema,
  binOf,
  countRuns,
  densityAt,
  meanMasses,
  nextDensity,
  parseSweepSpec,
  peerGaps,
  planSweep,
  sampleMasses,
  uniformMasses,
  updateMasses,
  ValidationError,
  type AdaptiveTrace,
  type DensityAxis,
  type ProbeRecord,
} from '../src/index.ts';

const axis: DensityAxis = { term: 'kl', low: 0.25, high: 8 };
const cfg = AdaptiveSchema.parse({ mode: 'gap', bins: 6, floor: 0.3, rate: 10, smoothing: 0.2 });
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** ∫ density d(log λ) over the support, by the midpoint rule on a fine grid. */
function integrate(masses: number[]): number {
  const a = Math.log(axis.low);
  const b = Math.log(axis.high);
  const n = 6000;
  let s = 0;
  for (let i = 0; i < n; i++) s += densityAt(axis, masses, Math.exp(a + ((i + 0.5) / n) * (b - a))) * ((b - a) / n);
  return s;
}

test('updates keep every bin at or above floor/bins and the density integrating to one, even under extreme gaps', () => {
  let m = uniformMasses(6);
  const gapsSeq = [
    [0.5, 0, 0, 0, 0, 0],
    [10, -10, 3, null, null, -1],
    [null, null, null, null, null, 2],
    [0, 0, 0, 0, 0, 50],
    [1e6, -1e6, 0, 0, 0, 1e300],
  ];
  for (let round = 0; round < 50; round++) {
    m = updateMasses(m, gapsSeq[round % gapsSeq.length]!, cfg);
    assert.ok(Math.abs(sum(m) - 1) < 1e-12, `round ${round}: masses sum to ${sum(m)}`);
    for (const [b, x] of m.entries()) assert.ok(x >= cfg.floor / 6 - 1e-12, `round ${round}: bin ${b} has ${x} < floor ${cfg.floor / 6}`);
    assert.ok(Math.abs(integrate(m) - 1) < 1e-3, `round ${round}: density integrates to ${integrate(m)}`);
  }
});

test('mass moves toward an injected gap and away from where YOTO is ahead', () => {
  let m = uniformMasses(6);
  // YOTO lags by 10% in the lowest bin and matches elsewhere.
  for (let i = 0; i < 10; i++) m = updateMasses(m, [0.1, 0, 0, 0, 0, 0], cfg);
  assert.ok(m[0]! > 1 / 6 + 0.1, `lowest bin got ${m[0]}`);
  assert.ok(m[0]! > m[1]! && m[1]! > m[5]!, `smoothing spreads some mass to the neighbour: ${m.map((x) => x.toFixed(3))}`);
  // No known gap: unchanged.
  assert.deepEqual(updateMasses(m, new Array(6).fill(null), cfg), m);
  // Equal gaps everywhere: the exponentiated step is neutral, only smoothing and the floor act.
  const flat = updateMasses(uniformMasses(6), [0.2, 0.2, 0.2, 0.2, 0.2, 0.2], cfg);
  flat.forEach((x) => assert.ok(Math.abs(x - 1 / 6) < 1e-12));
});

test('sampling through the inverse CDF follows the masses', () => {
  const m = [0.5, 0.1, 0.1, 0.1, 0.1, 0.1];
  const counts = new Array(6).fill(0);
  const n = 6000;
  for (let i = 0; i < n; i++) {
    const lam = sampleMasses(axis, m, (i + 0.5) / n);
    assert.ok(lam >= axis.low && lam <= axis.high);
    counts[binOf(axis, 6, lam)]++;
  }
  counts.forEach((c, b) => assert.ok(Math.abs(c / n - m[b]!) < 2e-3, `bin ${b}: ${c / n} vs ${m[b]}`));
  // Uniform masses reproduce the log-uniform prior exactly.
  const u = 0.37;
  const logUniform = Math.exp(Math.log(0.25) + u * (Math.log(8) - Math.log(0.25)));
  assert.ok(Math.abs(sampleMasses(axis, uniformMasses(6), u) - logUniform) < 1e-9);
});

test('gaps are compared at matching training progress', () => {
  const own: ProbeRecord[] = [
    { step: 100, fraction: 0.25, points: [{ lambda: { kl: 0.25 }, loss: 120 }, { lambda: { kl: 8 }, loss: 210 }] },
    { step: 200, fraction: 0.5, points: [{ lambda: { kl: 0.25 }, loss: 110 }, { lambda: { kl: 8 }, loss: 200 }] },
  ];
  // The low-β baseline is finished (its curve reaches 1); YOTO is at 0.5, so it is compared at 0.5.
  const done = { runId: 'b-low', lambda: { kl: 0.25 }, points: [{ fraction: 0.25, loss: 110 }, { fraction: 0.5, loss: 100 }, { fraction: 1, loss: 90 }] };
  // The high-β baseline is only at 0.25: YOTO's own past at 0.25 is used.
  const behind = { runId: 'b-high', lambda: { kl: 8 }, points: [{ fraction: 0.25, loss: 205 }] };
  const g = peerGaps(own, [done, behind], 0.5);
  const low = g.find((x) => x.lambda.kl === 0.25)!;
  const high = g.find((x) => x.lambda.kl === 8)!;
  assert.equal(low.fraction, 0.5);
  assert.ok(Math.abs(low.gap - (110 / 100 - 1)) < 1e-12, `low gap ${low.gap}`);
  assert.equal(high.fraction, 0.25);
  assert.ok(Math.abs(high.gap - (210 / 205 - 1)) < 1e-12, `high gap ${high.gap}`);
  // Interpolation between probe points: YOTO at 0.375 is (120+110)/2.
  const mid = peerGaps(own, [{ runId: 'x', lambda: { kl: 0.25 }, points: [{ fraction: 0.375, loss: 100 }] }], 0.5);
  assert.ok(Math.abs(mid[0]!.gap - (115 / 100 - 1)) < 1e-12);

  const next = nextDensity(cfg, [axis], [uniformMasses(6)], own, [done, behind], 0.5);
  assert.equal(next.source, 'baselines');
  assert.ok(next.masses[0]![0]! > next.masses[0]![5]!, 'more mass where the gap is larger (low β)');
  // Without peers: the run's own learning progress; without two probes: hold.
  assert.equal(nextDensity(cfg, [axis], [uniformMasses(6)], own, [], 0.5).source, 'progress');
  assert.equal(nextDensity(cfg, [axis], [uniformMasses(6)], own.slice(0, 1), [], 0.25).source, 'hold');
});

test('meanMasses averages the density over the steps each update was in use', () => {
  const trace: AdaptiveTrace = {
    bins: 2,
    axes: [{ term: 'kl', low: 1, high: 4 }],
    probes: [],
    updates: [
      { step: 0, fraction: 0, source: 'start', masses: [[0.5, 0.5]], gaps: [[null, null]] },
      { step: 75, fraction: 0.75, source: 'baselines', masses: [[0.9, 0.1]], gaps: [[0.1, 0]] },
    ],
  };
  const m = meanMasses(trace, 100)[0]!;
  assert.ok(Math.abs(m[0]! - (0.75 * 0.5 + 0.25 * 0.9)) < 1e-12);
  assert.ok(Math.abs(sum(m) - 1) < 1e-12);
});

const SPEC = {
  name: 'gap',
  problem: 'beta-vae',
  dataset: { name: 'mnist', trainExamples: 1000, testExamples: 100 },
  model: { arch: 'mlp' },
  conditioning: { adaptive: { everySteps: 10, probeExamples: 64 } },
  lambda: { kl: { dist: 'log-uniform', low: 0.25, high: 8 } },
  grid: { kl: [0.25, 1, 8] },
  train: { steps: 100 },
  variants: { 'conditioning.adaptive.mode': ['off', 'gap'], 'model.width': [0.5, 1] },
  seeds: [0, 1],
};

test('variants differing only in YOTO-only axes share baselines; gap-driven runs list their peers', () => {
  const spec = parseSweepSpec(SPEC);
  const plan = planSweep(spec);
  // 4 variants × 2 seeds YOTO runs, and baselines for 2 width groups × 2 seeds × 3 λ.
  assert.equal(plan.runs.filter((r) => r.kind === 'yoto').length, 8);
  assert.equal(plan.runs.filter((r) => r.kind === 'baseline').length, 12);
  assert.equal(countRuns(spec), plan.runs.length);
  const shared = plan.variants.filter((v) => v.baselinesFrom);
  assert.equal(shared.length, 2);
  for (const v of shared) {
    const owner = plan.variants.find((x) => x.variantId === v.baselinesFrom)!;
    assert.equal(owner.assignment['model.width'], v.assignment['model.width']);
    assert.notEqual(owner.assignment['conditioning.adaptive.mode'], v.assignment['conditioning.adaptive.mode']);
  }
  for (const y of plan.runs.filter((r) => r.kind === 'yoto')) {
    const gap = y.conditioning.adaptive?.mode === 'gap';
    assert.equal(Boolean(y.peers?.length), gap, `${y.runId}: peers only for gap-driven runs`);
    for (const p of y.peers ?? []) {
      const b = plan.runs.find((r) => r.runId === p.runId)!;
      assert.equal(b.kind, 'baseline');
      assert.equal(b.seed, y.seed);
      assert.equal(b.model.width, y.model.width);
      assert.deepEqual(b.probe, { everySteps: 10, examples: 64 });
    }
  }
  // Without an adaptive variant nothing probes and nothing is shared.
  const plain = planSweep(parseSweepSpec({ ...SPEC, variants: { 'model.width': [0.5, 1] } }));
  assert.ok(plain.runs.every((r) => !r.probe && !r.peers && !r.baselineVariantId));
  assert.ok(plain.variants.every((v) => !v.baselinesFrom));
});

test('gap-driven P_λ is refused for a prior it cannot re-weight, naming the field', () => {
  const bad = { ...SPEC, variants: {}, conditioning: { adaptive: { mode: 'gap' } }, lambda: { kl: { dist: 'uniform', low: 0.25, high: 8 } } };
  assert.throws(
    () => parseSweepSpec(bad),
    (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.path === 'lambda.kl.dist' && /log-uniform/.test(i.message)),
  );
  assert.throws(
    () => parseSweepSpec({ ...SPEC, variants: {}, conditioning: { adaptive: { mode: 'gap', floor: 0, bins: 1 } } }),
    (e: unknown) => e instanceof ValidationError && ['conditioning.adaptive.floor', 'conditioning.adaptive.bins'].every((p) => e.issues.some((i) => i.path === p)),
  );
  assert.throws(
    () => parseSweepSpec({ ...SPEC, variants: {}, conditioning: { adaptive: { mode: 'gap', probeExamples: 5000 } } }),
    (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.path === 'conditioning.adaptive.probeExamples' && /trainExamples/.test(i.message)),
  );
  assert.throws(
    () => parseSweepSpec({ ...SPEC, variants: { 'conditioning.adaptive.mode': ['off', 'sometimes'] } }),
    (e: unknown) => e instanceof ValidationError && e.issues.some((i) => i.path === 'variants.conditioning.adaptive.mode[1]'),
  );
});
