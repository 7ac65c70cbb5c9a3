/**
 * The aggregate reads children's results page by page: a key seen twice (HSCAN may
 * repeat one) counts once, baselines keep only the evaluation the report compares,
 * and the report is the same as from all results at once.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildReport, jobIds, parseSweepSpec, planSweep } from '@yoto/shared';
import { AggregateInputError, ChildResultCollector, priorMembership, reportFromResults } from '../src/index.ts';
import { smallSpec, syntheticResult } from './helpers/fixtures.ts';

describe('ChildResultCollector', () => {
  const plan = planSweep(parseSweepSpec(smallSpec('paged', { variants: { 'model.width': [1, 2] } })));
  const entries = plan.runs.map((r) => [`bull:yoto-train:${jobIds.train(plan.sweepId, r.runId)}`, syntheticResult(r)] as const);
  const now = new Date('2026-01-01T00:00:00Z');

  test('pages (with a repeated key) give the report of all results at once', () => {
    const collector = new ChildResultCollector(plan);
    for (let i = 0; i < entries.length; i += 3) collector.add(Object.fromEntries(entries.slice(Math.max(0, i - 1), i + 3)));
    const results = collector.finish();
    assert.equal(results.length, plan.runs.length);
    for (const r of results) {
      if (r.kind === 'baseline') assert.deepEqual(r.evals.map((e) => e.lambda), [r.fixedLambda], 'a baseline keeps its own λ only');
      else assert.equal(r.evals.length, plan.grid.length);
    }
    const paged = reportFromResults(plan, results, now, new Map());
    // The same report as from the full, uncompacted results.
    assert.deepEqual(paged, buildReport(plan, entries.map(([, r]) => r), priorMembership(plan), now, new Map()));
  });

  test('a run without a result is named', () => {
    const collector = new ChildResultCollector(plan);
    collector.add(Object.fromEntries(entries.slice(1)));
    assert.throws(() => collector.finish(), (e: unknown) => e instanceof AggregateInputError && e.message.includes(plan.runs[0]!.runId));
  });
});
