/**
 * Malformed specs are refused with the offending field named, and — through
 * SweepService.submit against a real redis-server and s3rver — nothing is written:
 * no queue job, no sweep key, no S3 object.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, ValidationError, parseSweepSpec, parseSweepSpecText } from '@yoto/shared';
import { SweepService } from '../src/index.ts';
import { queueTotals, redisKeysMatching, startTestRedis, type RedisServer } from './helpers/redis-server.ts';
import { startTestS3, type TestS3 } from './helpers/s3.ts';
import { smallSpec, uniq } from './helpers/fixtures.ts';

type Spec = Record<string, unknown>;
const base = (): Spec => smallSpec('spec-check');
const withPath = (path: string, value: unknown): Spec => {
  const s = structuredClone(base()) as Record<string, any>;
  const parts = path.split('.');
  let cur = s;
  for (const p of parts.slice(0, -1)) cur = cur[p] ??= {};
  const last = parts.at(-1) as string;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return s;
};

interface Case {
  name: string;
  input: Spec | unknown[] | string;
  /** The field path the error must name ('' = the document root). */
  path: string;
  /** Text the message for that path must contain. */
  message?: RegExp;
}

const BASE_YAML = `name: spec-check
problem: beta-vae
dataset: { name: mnist, trainExamples: 256, testExamples: 64 }
lambda:
  kl: { dist: log-uniform, low: 0.5, high: 4 }
grid:
  kl: [0.5, 2, 8]
train: { steps: 10, batchSize: 32 }
`;

const CASES: Case[] = [
  // Types and required fields.
  { name: 'name missing', input: withPath('name', undefined), path: 'name' },
  { name: 'name is a number', input: withPath('name', 42), path: 'name', message: /string/ },
  { name: 'name with ../', input: withPath('name', '../etc'), path: 'name', message: /lower-case/ },
  { name: 'name with a slash', input: withPath('name', 'a/b'), path: 'name' },
  { name: 'name upper case', input: withPath('name', 'MySweep'), path: 'name' },
  { name: 'name too long', input: withPath('name', 'a'.repeat(65)), path: 'name' },
  { name: 'unknown problem', input: withPath('problem', 'gan'), path: 'problem' },
  { name: 'unknown top-level key', input: { ...base(), epochs: 3 }, path: '', message: /epochs/ },
  { name: 'unknown dataset key', input: withPath('dataset.shuffle', true), path: 'dataset', message: /shuffle/ },
  { name: 'unknown dataset', input: withPath('dataset.name', 'imagenet'), path: 'dataset.name' },
  { name: 'trainExamples above the dataset', input: withPath('dataset.trainExamples', 70_000), path: 'dataset.trainExamples', message: /60000/ },
  { name: 'train section missing', input: withPath('train', undefined), path: 'train' },
  // λ prior.
  { name: 'log-uniform low = 0', input: withPath('lambda.kl.low', 0), path: 'lambda.kl.low' },
  { name: 'log-uniform low < 0', input: withPath('lambda.kl.low', -1), path: 'lambda.kl.low' },
  { name: 'low ≥ high', input: withPath('lambda.kl', { dist: 'log-uniform', low: 8, high: 4 }), path: 'lambda.kl.low', message: /below high/ },
  { name: 'unknown distribution', input: withPath('lambda.kl', { dist: 'normal', low: 0.5, high: 4 }), path: 'lambda.kl.dist' },
  { name: 'prior high = Infinity', input: withPath('lambda.kl.high', Infinity), path: 'lambda.kl.high' },
  { name: 'prior for an unknown term', input: withPath('lambda.rate', { dist: 'fixed', value: 1 }), path: 'lambda.rate', message: /unknown term/ },
  { name: 'prior term missing', input: withPath('lambda', {}), path: 'lambda.kl', message: /missing/ },
  // Grid.
  { name: 'empty grid list', input: withPath('grid.kl', []), path: 'grid.kl', message: /at least one/ },
  { name: 'grid term missing', input: withPath('grid', {}), path: 'grid.kl', message: /missing/ },
  { name: 'grid extra term', input: withPath('grid.rate', [1]), path: 'grid.rate', message: /unknown term/ },
  { name: 'grid λ ≤ 0', input: withPath('grid.kl', [0.5, -2]), path: 'grid.kl[1]' },
  { name: 'grid λ NaN', input: withPath('grid.kl', [NaN]), path: 'grid.kl[0]', message: /NaN/ },
  { name: 'grid λ a string', input: withPath('grid.kl', ['1']), path: 'grid.kl[0]' },
  { name: 'duplicate λ', input: withPath('grid.kl', [0.5, 2, 0.5]), path: 'grid.kl[2]', message: /duplicate/ },
  { name: 'grid over the limit', input: withPath('grid.kl', Array.from({ length: LIMITS.maxGridPointsPerTerm + 1 }, (_, i) => i + 1)), path: 'grid.kl', message: /64/ },
  // Training schedule.
  { name: 'steps 0', input: withPath('train.steps', 0), path: 'train.steps' },
  { name: 'steps too large', input: withPath('train.steps', LIMITS.maxSteps + 1), path: 'train.steps' },
  { name: 'steps not an integer', input: withPath('train.steps', 1.5), path: 'train.steps', message: /int/ },
  { name: 'batchSize over the dataset', input: withPath('train.batchSize', 512), path: 'train.batchSize', message: /trainExamples/ },
  { name: 'batchSize 0', input: withPath('train.batchSize', 0), path: 'train.batchSize' },
  { name: 'lr a string', input: withPath('train.lr', 'fast'), path: 'train.lr' },
  { name: 'lr decay not increasing', input: withPath('train.lrDecayAt', [0.8, 0.6]), path: 'train.lrDecayAt[1]', message: /increasing/ },
  { name: 'model width over the limit', input: withPath('model.width', 100), path: 'model.width' },
  { name: 'unknown normalisation', input: withPath('conditioning.normalize', 'l2'), path: 'conditioning.normalize' },
  { name: 'yotoStepsMultiplier too large', input: withPath('yotoStepsMultiplier', 1000), path: 'yotoStepsMultiplier' },
  { name: 'duplicate seeds', input: withPath('seeds', [1, 1]), path: 'seeds', message: /duplicate/ },
  { name: 'priority 0', input: withPath('priority', 0), path: 'priority' },
  // Variants.
  { name: 'unknown variant path', input: withPath('variants', { 'model.depth': [1, 2] }), path: 'variants.model.depth', message: /not a variable field/ },
  { name: 'bad variant value', input: withPath('variants', { 'model.width': [1, -2] }), path: 'variants.model.width[1]' },
  { name: 'variant value of the wrong kind', input: withPath('variants', { 'model.arch': ['conv', 'transformer'] }), path: 'variants.model.arch[1]' },
  { name: 'variant breaking a cross-field rule', input: withPath('variants', { 'train.batchSize': [32, 512] }), path: 'variants.train.batchSize[1]', message: /trainExamples/ },
  { name: 'too many values on one axis', input: withPath('variants', { 'model.width': Array.from({ length: 17 }, (_, i) => 1 + i / 10) }), path: 'variants.model.width' },
  { name: 'too many variant combinations', input: withPath('variants', { 'model.width': [1, 2, 3, 4], 'train.lr': [0.1, 0.2, 0.3, 0.4], 'model.latentDim': [1, 2, 3, 4] }), path: 'variants', message: /combinations/ },
  {
    name: 'too many runs',
    input: { ...base(), grid: { kl: Array.from({ length: 64 }, (_, i) => i + 1) }, seeds: Array.from({ length: 16 }, (_, i) => i), variants: { 'model.width': [1, 2, 3, 4, 5, 6, 7, 8], 'train.lr': [0.1, 0.2, 0.3, 0.4] } },
    path: 'variants',
    message: /runs; the limit/,
  },
  // Documents.
  { name: 'top-level array (object input)', input: [base()], path: '', message: /object/ },
  { name: 'invalid YAML', input: 'name: [unclosed', path: '', message: /not valid YAML/ },
  { name: 'top-level array (YAML)', input: '- a\n- b\n', path: '', message: /mapping/ },
  { name: 'scalar document', input: 'hello', path: '', message: /mapping/ },
  { name: 'empty document', input: '', path: '', message: /mapping/ },
  { name: 'duplicate YAML keys', input: BASE_YAML + 'name: other\n', path: '', message: /unique/ },
  { name: 'YAML .nan in the grid', input: BASE_YAML.replace('[0.5, 2, 8]', '[.nan, 2]'), path: 'grid.kl[0]', message: /NaN/ },
  { name: 'YAML .inf as prior high', input: BASE_YAML.replace('high: 4', 'high: .inf'), path: 'lambda.kl.high', message: /Infinity/ },
  { name: 'YAML -.inf in the grid', input: BASE_YAML.replace('[0.5, 2, 8]', '[-.inf]'), path: 'grid.kl[0]' },
  { name: 'YAML string steps', input: BASE_YAML.replace('steps: 10', 'steps: ten'), path: 'train.steps' },
  { name: 'oversize text', input: BASE_YAML + `description: "${'x'.repeat(LIMITS.maxSpecBytes)}"\n`, path: '', message: /larger than/ },
];

function refuse(input: Case['input']): ValidationError {
  try {
    if (typeof input === 'string') parseSweepSpecText(input);
    else parseSweepSpec(input);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    assert.equal(err.code, 'SPEC_INVALID');
    return err;
  }
  assert.fail('spec was accepted');
}

function assertNames(err: ValidationError, c: Case): void {
  const hits = err.issues.filter((i) => i.path === c.path);
  assert.ok(hits.length > 0, `${c.name}: expected an issue at "${c.path}", got ${JSON.stringify(err.issues)}`);
  if (c.message) assert.ok(hits.some((i) => c.message?.test(i.message)), `${c.name}: no message at "${c.path}" matches ${c.message}: ${JSON.stringify(hits)}`);
  // The rendered message names the path too (what the CLI prints).
  assert.ok(err.message.includes(`${c.path || '(root)'}:`), `${c.name}: message does not name ${c.path}`);
}

describe('spec validation', () => {
  test('the base spec and its YAML form are valid', () => {
    parseSweepSpec(base());
    parseSweepSpecText(BASE_YAML);
  });

  test(`there are at least 30 malformed cases (${CASES.length})`, () => {
    assert.ok(CASES.length >= 30);
  });

  for (const c of CASES) {
    test(`refuses: ${c.name} -> ${c.path || '(root)'}`, () => assertNames(refuse(c.input), c));
  }
});

describe('refused specs write nothing (real redis-server + s3rver)', () => {
  let redis: RedisServer;
  let s3: TestS3;
  let service: SweepService;
  const prefix = `t-${uniq()}`;

  before(async () => {
    [redis, s3] = await Promise.all([startTestRedis(), startTestS3()]);
    service = new SweepService({ redis: redis.url, store: s3.store, prefix });
  });
  after(async () => {
    await service?.close();
    await Promise.allSettled([redis?.stop(), s3?.stop()]);
  });

  const SUBSET = [
    'name with ../',
    'unknown problem',
    'log-uniform low = 0',
    'grid λ NaN',
    'duplicate λ',
    'batchSize over the dataset',
    'unknown variant path',
    'too many variant combinations',
    'too many runs',
    'invalid YAML',
    'YAML .inf as prior high',
    'oversize text',
  ];
  for (const name of SUBSET) {
    test(`submit refuses: ${name}`, async () => {
      const c = CASES.find((x) => x.name === name);
      assert.ok(c, name);
      await assert.rejects(service.submit(c.input), (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assertNames(err, c);
        return true;
      });
    });
  }

  test('after every refusal: no jobs, no sweep keys, no S3 objects', async () => {
    const totals = await queueTotals(redis.url, prefix);
    assert.equal(totals.train, 0, JSON.stringify(totals.counts));
    assert.equal(totals.aggregate, 0, JSON.stringify(totals.counts));
    assert.deepEqual(await redisKeysMatching(redis.url, 'yoto:*'), []);
    // BullMQ writes each queue's `meta` hash when a Queue is opened; no job keys may exist.
    assert.deepEqual((await redisKeysMatching(redis.url, `${prefix}:*`)).filter((k) => !k.endsWith(':meta')), []);
    assert.deepEqual(await s3.keys(''), []);
    assert.deepEqual(await service.list(), []);
  });
});
