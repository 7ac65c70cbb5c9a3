#!/usr/bin/env node
// Runs every *.test.ts under packages/*/test and test/ with node's test runner (through tsx).
// Usage: node scripts/run-tests.mjs [substring-filter ...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const roots = ['test', ...readdirSync(join(root, 'packages')).map((p) => join('packages', p, 'test'))];
const files = [];
const walk = (dir) => {
  let entries;
  try { entries = readdirSync(join(root, dir)); } catch { return; }
  for (const e of entries) {
    if (e === 'node_modules') continue;
    const rel = join(dir, e);
    if (statSync(join(root, rel)).isDirectory()) walk(rel);
    else if (e.endsWith('.test.ts')) files.push(rel);
  }
};
roots.forEach(walk);
const filters = process.argv.slice(2);
const chosen = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (chosen.length === 0) { console.error('no test files matched'); process.exit(1); }
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...chosen.map((f) => relative(process.cwd(), join(root, f)))], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
