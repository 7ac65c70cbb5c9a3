/**
 * The data-free `quadratic` problem in the spec: no dataset (and refused when given
 * one), its settings checked field by field, carried into every payload, and a
 * 10,000-run sweep within the limits.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { countRuns, LIMITS, parseRunPayload, parseSweepSpec, planSweep, ValidationError } from '@yoto/shared';

type Spec = Record<string, unknown>;
function quadraticSpec(o: Spec = {}): Spec {
  return {
    name: 'quad',
    problem: 'quadratic',
    quadratic: { dim: 4 },
    lambda: { q1: { dist: 'log-uniform', low: 0.1, high: 10 }, q2: { dist: 'log-uniform', low: 0.1, high: 10 } },
    grid: { q1: [0.1, 1, 10], q2: [0.1, 1, 10] },
    train: { steps: 50, batchSize: 32, lr: 0.003 },
    ...o,
  };
}

function issuesOf(input: Spec): { path: string; message: string }[] {
  try {
    parseSweepSpec(input);
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    return err.issues;
  }
  assert.fail('spec was accepted');
}

describe('quadratic spec', () => {
  test('is valid without a dataset and plans payloads that carry its settings', () => {
    const spec = parseSweepSpec(quadraticSpec());
    assert.equal(spec.dataset, undefined);
    const plan = planSweep(spec);
    assert.equal(plan.runs.length, 10);
    for (const run of plan.runs) {
      assert.equal(parseRunPayload(run).dataset, undefined);
      assert.deepEqual(run.quadratic, { dim: 4, anchorSeed: 0 });
    }
    // Defaults apply when the section is absent.
    const bare = planSweep(parseSweepSpec(quadraticSpec({ quadratic: undefined })));
    assert.deepEqual(bare.runs[0]?.quadratic, { dim: 8, anchorSeed: 0 });
  });

  test('names the field of every mistake', () => {
    const cases: [Spec, string, RegExp][] = [
      [quadraticSpec({ dataset: { name: 'mnist' } }), 'dataset', /trains without data/],
      [quadraticSpec({ quadratic: { dim: 2, anchors: [[0, 0], [1, 1]] } }), 'quadratic.anchors', /needs 3 anchors/],
      [quadraticSpec({ quadratic: { dim: 2, anchors: [[0, 0], [1, 1, 1], [2, 2]] } }), 'quadratic.anchors[1]', /3 coordinates; quadratic.dim is 2/],
      [quadraticSpec({ quadratic: { dim: 0 } }), 'quadratic.dim', /./],
      [quadraticSpec({ quadratic: { dim: 4, colour: 'red' } }), 'quadratic', /colour/],
      [quadraticSpec({ grid: { q1: [1] } }), 'grid.q2', /missing/],
      [{ ...quadraticSpec(), problem: 'beta-vae', lambda: { kl: { dist: 'fixed', value: 1 } }, grid: { kl: [1] } }, 'dataset', /required: problem beta-vae/],
      [
        { ...quadraticSpec(), problem: 'beta-vae', dataset: { name: 'mnist', trainExamples: 256, testExamples: 64 }, lambda: { kl: { dist: 'fixed', value: 1 } }, grid: { kl: [1] } },
        'quadratic',
        /only for problem quadratic/,
      ],
    ];
    for (const [input, path, message] of cases) {
      const issues = issuesOf(input);
      const hit = issues.find((i) => i.path === path);
      assert.ok(hit, `expected an issue at ${path}; got ${JSON.stringify(issues)}`);
      assert.match(hit.message, message);
    }
  });

  test('a 10,000-run sweep is within the limits', () => {
    // 7×7 grid = 50 runs per (variant, seed) × 10 seeds × 20 variants = 10,000.
    const values = [0.1, 0.3, 1, 2, 3, 5, 10];
    const spec = parseSweepSpec(
      quadraticSpec({
        grid: { q1: values, q2: values },
        seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        variants: { 'train.lr': [0.001, 0.002, 0.003, 0.004, 0.005], 'model.filmHidden': [8, 16, 32, 64] },
      }),
    );
    assert.equal(countRuns(spec), LIMITS.maxRuns);
    const plan = planSweep(spec);
    assert.equal(plan.runs.length, 10_000);
    assert.equal(new Set(plan.runs.map((r) => r.runId)).size, 10_000);
  });
});
