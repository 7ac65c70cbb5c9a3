/** The live sweep status derived from the stored record and the jobs' states (pure). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveStatus, parseSweepRecord, type RunState, type SweepRecord } from '../src/index.ts';

const record = (status: SweepRecord['status']): SweepRecord => ({
  sweepId: 's-1', name: 's', problem: 'beta-vae', status, created: 1, totalRuns: 2, aggregateJobId: 's-1.aggregate', specKey: '', planKey: '', reportKey: null, error: null,
});
const run = (state: RunState, attemptsMade = 0, maxAttempts = 3) => ({ state, attemptsMade, maxAttempts });

test('terminal stored statuses win over job states', () => {
  for (const s of ['completed', 'failed', 'cancelled', 'failed-to-enqueue'] as const) assert.equal(deriveStatus(record(s), 'waiting-children', [run('active')]), s);
});

test('queued sweeps are refined by the jobs', () => {
  assert.equal(deriveStatus(record('queued'), 'waiting-children', [run('prioritized'), run('waiting')]), 'queued');
  assert.equal(deriveStatus(record('queued'), 'waiting-children', [run('active'), run('waiting')]), 'running');
  assert.equal(deriveStatus(record('queued'), 'waiting-children', [run('delayed', 1), run('waiting')]), 'running');
  assert.equal(deriveStatus(record('queued'), 'active', [run('completed'), run('completed')]), 'aggregating');
  assert.equal(deriveStatus(record('queued'), 'completed', [run('completed')]), 'completed');
  assert.equal(deriveStatus(record('queued'), 'failed', [run('completed')]), 'failed');
  // A run out of attempts does not fail the sweep: the aggregate reports the rest (partial sweep).
  assert.equal(deriveStatus(record('queued'), 'waiting-children', [run('failed', 3), run('active')]), 'running');
  assert.equal(deriveStatus(record('paused'), 'waiting-children', [run('active')]), 'paused');
  // A failed attempt with retries left is not a failed sweep.
  assert.equal(deriveStatus(record('queued'), 'waiting-children', [run('failed', 1), run('active')]), 'running');
});

test('parseSweepRecord reads the hash and refuses an empty one', () => {
  assert.equal(parseSweepRecord('s-1', {}), null);
  const r = parseSweepRecord('s-1', { name: 'n', problem: 'beta-vae', status: 'queued', created: '5', totalRuns: '4', aggregateJobId: 'a', specKey: 'k', planKey: 'p' });
  assert.deepEqual(r, { sweepId: 's-1', name: 'n', problem: 'beta-vae', status: 'queued', created: 5, totalRuns: 4, aggregateJobId: 'a', specKey: 'k', planKey: 'p', reportKey: null, error: null });
  assert.equal(parseSweepRecord('s-1', { status: 'bogus' })?.status, 'queued');
});
