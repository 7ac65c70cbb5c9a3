/**
 * `yoto export`'s output: a standalone TensorFlow.js directory for one run.
 *
 *   model.json    tfjs Layers model (the decoder; layers-decoder.ts), loadable with
 *                 plain `tf.loadLayersModel`; `userDefinedMetadata.yoto` says which run
 *   weights.bin   its weights
 *   encoder/model.json, encoder/weights.bin
 *                 the encoder as a second Layers model: image + log_lambda → mean, log_var
 *   eval.json     the run's evaluation on the test split at every grid λ (as stored)
 *   README.md     inputs, shapes, how to feed λ, the eval numbers
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lambdaLabel, type EvalPoint, type ModelToolRequest, type ModelToolResult } from '@yoto/shared';
import { readFinalModel, type FinalModel } from './final-model.ts';
import { buildLayersDecoder, buildLayersEncoder, saveLayersModel } from './layers-decoder.ts';

type ExportRequest = Extract<ModelToolRequest, { op: 'export' }>;

export async function exportModel(req: ExportRequest): Promise<ModelToolResult> {
  const m = await readFinalModel(req.model.run, req.model.dir);
  const terms = m.problem.weightedTerms;
  const yoto = {
    sweepId: m.run.sweepId,
    runId: m.run.runId,
    kind: m.run.kind,
    fixedLambda: m.run.fixedLambda,
    prior: m.run.prior,
    problem: m.run.problem,
    conditioning: { input: 'log_lambda', terms },
    model: m.run.model,
    input: m.input,
    step: m.step,
  };
  const files: Record<string, Uint8Array> = {};
  const parts = [
    { prefix: '', part: 'decoder', build: buildLayersDecoder },
    { prefix: 'encoder/', part: 'encoder', build: buildLayersEncoder },
  ];
  for (const { prefix, part, build } of parts) {
    const model = build(m.weights, m.run.model, m.input, terms.length);
    try {
      const saved = await saveLayersModel(model, { yoto: { ...yoto, part } });
      for (const [name, data] of Object.entries(saved)) files[prefix + name] = data;
    } finally {
      model.dispose();
    }
  }
  await mkdir(join(req.outDir, 'encoder'), { recursive: true });
  const written: string[] = [];
  for (const [name, data] of Object.entries(files)) {
    await writeFile(join(req.outDir, name), data);
    written.push(name);
  }
  let evals: EvalPoint[] = [];
  const evalSrc = join(req.model.dir, 'eval.json');
  if (existsSync(evalSrc)) {
    await copyFile(evalSrc, join(req.outDir, 'eval.json'));
    written.push('eval.json');
    evals = (JSON.parse(await readFile(evalSrc, 'utf8')) as { evals?: EvalPoint[] }).evals ?? [];
  }
  await writeFile(join(req.outDir, 'README.md'), readme(m, terms, evals));
  written.push('README.md');
  return { op: 'export', files: written.map((f) => join(req.outDir, f)) };
}

function priorText(m: FinalModel, t: string): string {
  const d = m.run.prior[t];
  if (!d) return 'unknown';
  return d.dist === 'fixed' ? `fixed at ${d.value} (a baseline: other values are extrapolation)` : `${d.dist} on [${d.low}, ${d.high}]`;
}

function readme(m: FinalModel, terms: readonly string[], evals: EvalPoint[]): string {
  const { height: H, width: W, channels: C } = m.input;
  const L = m.run.model.latentDim;
  const example = terms.map((t) => `Math.log(${m.run.fixedLambda?.[t] ?? 4})`).join(', ');
  const lines = [
    `# ${m.run.runId} — ${m.run.kind === 'yoto' ? 'YOTO (loss-conditional) model' : `baseline at ${lambdaLabel(m.run.fixedLambda ?? {})}`}`,
    '',
    `Sweep \`${m.run.sweepId}\`, problem \`${m.run.problem}\`, ${m.run.model.arch} decoder (width ${m.run.model.width}, latent ${L}), trained ${m.step} steps on ${m.run.dataset?.name ?? 'no data'}.`,
    'Exported by `yoto export` as TensorFlow.js Layers models (the decoder in `model.json`, the encoder in `encoder/model.json`): load them with plain `tf.loadLayersModel`, no yoto code needed.',
    '',
    '## Inputs',
    '',
    '| name | shape | meaning |',
    '|---|---|---|',
    `| \`z\` | [batch, ${L}] | latent code; sample z ~ N(0, I) for new images |`,
    `| \`log_lambda\` | [batch, ${terms.length}] | natural log of λ for ${terms.map((t) => `\`${t}\``).join(', ')} (in that order) — the dial |`,
    '',
    `Output \`x_mean\`: [batch, ${H}, ${W}, ${C}], the Bernoulli means (pixel intensities in [0, 1]).`,
    '',
    'Feed **log λ**, not λ. Training range of λ (values outside it were never seen):',
    '',
    ...terms.map((t) => `- \`${t}\`: ${priorText(m, t)}`),
    '',
    '```js',
    "const model = await tf.loadLayersModel('file://path/to/model.json'); // or http(s)://…",
    `const z = tf.randomNormal([16, ${L}]);`,
    `const logLambda = tf.tensor2d([[${example}]]).tile([16, 1]);`,
    'const images = model.predict([z, logLambda]); // [16, H, W, C] in [0, 1]',
    '```',
    '',
    '## Encoder',
    '',
    '`encoder/model.json` (+ `encoder/weights.bin`) is the matching encoder, another plain Layers model:',
    '',
    '| name | shape | meaning |',
    '|---|---|---|',
    `| \`image\` | [batch, ${H}, ${W}, ${C}] | pixel intensities in [0, 1] |`,
    `| \`log_lambda\` | [batch, ${terms.length}] | as for the decoder |`,
    '',
    `Outputs \`mean\` and \`log_var\`, each [batch, ${L}]: the Gaussian posterior q(z | image, λ).`,
    'Reconstruct with z = mean + exp(0.5·log_var)·ε, ε ~ N(0, I) (or z = mean), fed to the decoder with the same log_lambda.',
    'The test loss below is the Bernoulli NLL of the image under the decoder (summed over pixels) + Σ λ·KL(q ‖ N(0, I)), with that reparameterised z.',
    '',
    '```js',
    "const encoder = await tf.loadLayersModel('file://path/to/encoder/model.json');",
    'const [mean, logVar] = encoder.predict([images, logLambda]);',
    'const recon = model.predict([mean, logLambda]);',
    '```',
    '',
    '## Evaluation (test split, from the run)',
    '',
  ];
  if (evals.length) {
    lines.push(`| λ | loss | ${Object.keys(evals[0]?.terms ?? {}).join(' | ')} |`, `|---|---|${Object.keys(evals[0]?.terms ?? {}).map(() => '---|').join('')}`);
    for (const e of evals) lines.push(`| ${lambdaLabel(e.lambda)} | ${e.loss.toFixed(3)} | ${Object.values(e.terms).map((v) => v.toFixed(3)).join(' | ')} |`);
    lines.push('', 'loss = recon + Σ λ·term, mean per test example; the full numbers are in eval.json.');
  } else {
    lines.push('No eval.json was stored for this run.');
  }
  return `${lines.join('\n')}\n`;
}
