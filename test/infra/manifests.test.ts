/**
 * infra/: every Kubernetes manifest and the compose file parse (`yaml`); Kubernetes
 * objects validate offline against their JSON schemas (kubernetes-models and
 * @kubernetes-models/keda bundle them); the properties that keep runs safe hold: GPU
 * limits, grace periods >= 300 s, Redis AOF + noeviction, probes, no secret values
 * inline, non-root images. `docker compose config` runs where the client has the
 * compose plugin (skipped otherwise).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';

const root = new URL('../..', import.meta.url).pathname;
const infra = join(root, 'infra');
const k8sDir = join(infra, 'k8s');
const composeFile = join(infra, 'compose', 'docker-compose.yml');

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Validatable {
  validate(): void;
}
type Model = new (data: Obj) => Validatable;

const MODELS: Record<string, Model> = {
  'v1/Namespace': core.Namespace as unknown as Model,
  'v1/ConfigMap': core.ConfigMap as unknown as Model,
  'v1/Service': core.Service as unknown as Model,
  'apps/v1/Deployment': apps.Deployment as unknown as Model,
  'apps/v1/StatefulSet': apps.StatefulSet as unknown as Model,
  'policy/v1/PodDisruptionBudget': policy.PodDisruptionBudget as unknown as Model,
  'keda.sh/v1alpha1/ScaledObject': keda.ScaledObject as unknown as Model,
  'keda.sh/v1alpha1/TriggerAuthentication': keda.TriggerAuthentication as unknown as Model,
};

function loadYamlDocs(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true }); // compose uses << merge keys
  const out: Obj[] = [];
  for (const d of docs) {
    assert.deepEqual(d.errors.map((e) => e.message), [], `${file}: YAML errors`);
    const v = d.toJS() as Obj | null;
    if (v) out.push(v);
  }
  return out;
}

const k8sFiles = readdirSync(k8sDir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
const objects: { file: string; obj: Obj }[] = k8sFiles.flatMap((f) => loadYamlDocs(join(k8sDir, f)).map((obj) => ({ file: f, obj })));
const find = (kind: string, name: string): Obj => {
  const o = objects.find((x) => x.obj.kind === kind && x.obj.metadata?.name === name)?.obj;
  assert.ok(o, `${kind}/${name} exists`);
  return o;
};
const podSpecs = () => objects.filter((x) => ['Deployment', 'StatefulSet'].includes(x.obj.kind)).map((x) => ({ name: `${x.obj.kind}/${x.obj.metadata.name}`, spec: x.obj.spec.template.spec as Obj }));

/** Env var names whose value is a secret: they must come from a Secret, never a literal. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|ACCESS_KEY|REDIS_URL|CREDENTIAL/i;
/** Text that looks like a credential. */
const SECRET_TEXT: [RegExp, string][] = [
  [/AKIA[0-9A-Z]{16}/, 'AWS access key id'],
  [/aws_secret_access_key\s*[:=]\s*\S{20,}/i, 'AWS secret key'],
  [/rediss?:\/\/[^\s$@"']*:[^\s$@"'(]+@/, 'Redis URL with a literal password'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'private key'],
];

function seconds(v: string | number): number {
  if (typeof v === 'number') return v;
  let total = 0;
  for (const [, n, u] of v.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g)) total += Number(n) * ({ h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6 } as Record<string, number>)[u as string]!;
  return total;
}

describe('Kubernetes manifests (infra/k8s)', () => {
  test('kustomization lists every manifest and only existing files', () => {
    const k = parse(readFileSync(join(k8sDir, 'kustomization.yaml'), 'utf8')) as Obj;
    assert.equal(k.kind, 'Kustomization');
    assert.deepEqual([...k.resources].sort(), [...k8sFiles].sort());
    assert.ok(!('secretGenerator' in k), 'no secrets generated from the repository');
  });

  test('every object validates against its bundled JSON schema', () => {
    assert.ok(objects.length >= 10, `found ${objects.length} objects`);
    for (const { file, obj } of objects) {
      const key = `${obj.apiVersion}/${obj.kind}`;
      const Model = MODELS[key];
      assert.ok(Model, `${file}: no schema for ${key} (add it to MODELS)`);
      assert.doesNotThrow(() => new Model(obj).validate(), `${file}: ${key} ${obj.metadata?.name}`);
    }
  });

  test('the validator does reject a broken manifest (no silent pass)', () => {
    const w = structuredClone(find('Deployment', 'yoto-worker-gpu'));
    w.spec.template.spec.terminationGracePeriodSeconds = 'ten minutes';
    delete w.spec.template.spec.containers[0].name;
    assert.throws(() => new MODELS['apps/v1/Deployment']!(w).validate());
    const so = structuredClone(find('ScaledObject', 'yoto-worker-gpu'));
    so.spec.triggers[0].metadata.targetValue = 1;
    assert.throws(() => new MODELS['keda.sh/v1alpha1/ScaledObject']!(so).validate());
  });

  test('GPU workers: nvidia.com/gpu limit, GPU nodes, grace >= 300 s, rolling one at a time', () => {
    const w = find('Deployment', 'yoto-worker-gpu');
    const spec = w.spec.template.spec;
    assert.equal(spec.containers.length, 1);
    assert.equal(Number(spec.containers[0].resources.limits['nvidia.com/gpu']), 1);
    assert.ok(spec.terminationGracePeriodSeconds >= 300, 'time to checkpoint on SIGTERM');
    assert.ok(spec.tolerations.some((t: Obj) => t.key === 'nvidia.com/gpu'));
    assert.ok(Object.keys(spec.nodeSelector ?? {}).some((k) => k.startsWith('nvidia.com/')));
    assert.equal(w.spec.strategy.rollingUpdate.maxUnavailable, 1);
    assert.equal(w.spec.strategy.rollingUpdate.maxSurge, 0);
    assert.equal(w.spec.replicas, undefined, 'KEDA owns the replica count');
    const env = Object.fromEntries((spec.containers[0].env as Obj[]).map((e) => [e.name, e]));
    assert.equal(env.YOTO_BACKEND?.value, 'tensorflow');
    assert.ok(find('PodDisruptionBudget', 'yoto-worker-gpu').spec.maxUnavailable === 1);
  });

  test('Redis: AOF everysec + noeviction from its config, persistent volume, probes', () => {
    const conf = find('ConfigMap', 'yoto-redis-config').data['redis.conf'] as string;
    assert.match(conf, /^appendonly yes$/m);
    assert.match(conf, /^appendfsync everysec$/m);
    assert.match(conf, /^maxmemory-policy noeviction$/m);
    const sts = find('StatefulSet', 'yoto-redis');
    const c = sts.spec.template.spec.containers[0];
    assert.ok(c.args.includes('/etc/redis/redis.conf'));
    assert.ok(c.volumeMounts.some((m: Obj) => m.mountPath === '/data' && m.name === 'data'));
    assert.ok(sts.spec.volumeClaimTemplates.some((v: Obj) => v.metadata.name === 'data'));
    assert.ok(c.readinessProbe && c.livenessProbe);
  });

  test('coordinator: probes on /healthz, Service in front', () => {
    const c = find('Deployment', 'yoto-coordinator').spec.template.spec.containers[0];
    for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe']) assert.equal(c[p]?.httpGet?.path, '/healthz', p);
    assert.equal(find('Service', 'yoto-coordinator').spec.selector['app.kubernetes.io/name'], 'yoto-coordinator');
  });

  test('KEDA scales the workers on the coordinator backlog endpoint (waiting + prioritized + active), with the token', () => {
    const so = find('ScaledObject', 'yoto-worker-gpu');
    assert.equal(so.spec.scaleTargetRef.name, 'yoto-worker-gpu');
    const t = so.spec.triggers[0];
    assert.equal(t.type, 'metrics-api');
    assert.match(t.metadata.url, /^http:\/\/yoto-coordinator\.yoto\.svc\.cluster\.local(:\d+)?\/api\/queues\/backlog$/);
    assert.equal(t.metadata.valueLocation, 'train.demand');
    assert.equal(t.metadata.authMode, 'bearer');
    assert.ok(!objects.some((x) => x.obj.kind === 'ScaledObject' && x.obj.spec.triggers.some((tr: Obj) => tr.type === 'redis')), 'no LLEN-based redis trigger');
    const ta = find('TriggerAuthentication', t.authenticationRef.name);
    assert.deepEqual(ta.spec.secretTargetRef[0], { parameter: 'token', name: 'yoto-secrets', key: 'YOTO_API_TOKEN' });
  });

  test('no secret values inline: secret env comes from secretKeyRef, no Secret objects, no credential-looking text', () => {
    assert.ok(!objects.some((x) => x.obj.kind === 'Secret'), 'Secrets are created out of band');
    for (const { name, spec } of podSpecs()) {
      for (const c of spec.containers as Obj[]) {
        for (const e of (c.env ?? []) as Obj[]) {
          if (SECRET_NAME.test(e.name)) assert.ok(e.valueFrom?.secretKeyRef && e.value === undefined, `${name} ${c.name}: ${e.name} must come from a Secret`);
        }
        for (const ef of (c.envFrom ?? []) as Obj[]) assert.ok(!ef.secretRef || ef.secretRef.name === 'yoto-secrets');
      }
    }
    for (const cm of objects.filter((x) => x.obj.kind === 'ConfigMap')) {
      for (const k of Object.keys(cm.obj.data ?? {})) assert.doesNotMatch(k, SECRET_NAME, `ConfigMap ${cm.obj.metadata.name} holds ${k}`);
    }
    for (const f of k8sFiles) {
      const text = readFileSync(join(k8sDir, f), 'utf8');
      for (const [re, what] of SECRET_TEXT) assert.doesNotMatch(text, re, `${f}: ${what}`);
    }
  });

  test('every pod runs as non-root without privilege escalation', () => {
    for (const { name, spec } of podSpecs()) {
      assert.equal(spec.securityContext?.runAsNonRoot, true, name);
      assert.ok(spec.securityContext.runAsUser > 0, name);
      for (const c of spec.containers as Obj[]) {
        assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${name} ${c.name}`);
        assert.notEqual(c.securityContext?.privileged, true);
      }
    }
  });
});

describe('compose (infra/compose)', () => {
  const compose = () => loadYamlDocs(composeFile)[0] as Obj;

  test('parses; Redis is durable (AOF everysec, noeviction, volume)', () => {
    const r = compose().services.redis;
    const cmd = ([] as string[]).concat(r.command).join(' ');
    assert.match(cmd, /--appendonly yes/);
    assert.match(cmd, /--appendfsync everysec/);
    assert.match(cmd, /--maxmemory-policy noeviction/);
    assert.ok(r.volumes.some((v: string) => v.endsWith(':/data')));
    assert.ok('redis-data' in compose().volumes);
  });

  test('MinIO bucket created at start; coordinator health-checked on /healthz', () => {
    const s = compose().services;
    assert.match(s['minio-init'].entrypoint.join('\n'), /mc mb --ignore-existing/);
    assert.equal(s.coordinator.depends_on['minio-init'].condition, 'service_completed_successfully');
    assert.deepEqual(s.coordinator.healthcheck.test, ['CMD', 'node', '/app/healthcheck.mjs', 'http']);
  });

  test('GPU workers: one NVIDIA device each, distinct ids, >= 300 s to checkpoint', () => {
    const s = compose().services as Record<string, Obj>;
    const gpu = Object.entries(s).filter(([n]) => n.startsWith('worker-gpu-'));
    assert.ok(gpu.length >= 2);
    const ids = new Set<string>();
    for (const [n, w] of gpu) {
      const dev = w.deploy.resources.reservations.devices[0];
      assert.equal(dev.driver, 'nvidia', n);
      assert.ok(dev.capabilities.includes('gpu'));
      assert.equal(dev.device_ids.length, 1);
      ids.add(dev.device_ids[0]);
      assert.ok(seconds(w.stop_grace_period) >= 300, `${n} stop_grace_period`);
      assert.equal(w.environment.YOTO_BACKEND, 'tensorflow');
    }
    assert.equal(ids.size, gpu.length, 'each worker its own GPU');
    assert.ok(seconds(s['worker-cpu']!.stop_grace_period) >= 300);
  });

  test('secrets only through ${VAR} from the git-ignored .env; .env.example has no values', () => {
    const s = compose().services as Record<string, Obj>;
    for (const [n, svc] of Object.entries(s)) {
      for (const [k, v] of Object.entries((svc.environment ?? {}) as Record<string, string>)) {
        if (SECRET_NAME.test(k) && k !== 'S3_ACCESS_KEY_ID') assert.match(String(v), /\$\{[A-Z_]+/, `${n}: ${k} must be a \${VAR} reference`);
        if (k === 'REDIS_URL') assert.match(String(v), /^redis:\/\/:\$\{REDIS_PASSWORD/);
      }
    }
    const text = readFileSync(composeFile, 'utf8');
    for (const [re, what] of SECRET_TEXT) assert.doesNotMatch(text, re, what);
    const example = readFileSync(join(infra, 'compose', '.env.example'), 'utf8');
    for (const line of example.split('\n')) {
      const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
      if (m && /PASSWORD|SECRET|TOKEN/.test(m[1]!)) assert.equal(m[2], '', `.env.example: ${m[1]} must be empty`);
    }
    const ignored = spawnSync('git', ['check-ignore', '-q', 'infra/compose/.env'], { cwd: root });
    if (ignored.error) return; // no git here
    assert.equal(ignored.status, 0, 'infra/compose/.env is git-ignored');
  });

  test('`docker compose config` accepts the file (where the compose plugin works)', (t) => {
    const probe = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8', timeout: 20_000 });
    if (probe.error || probe.status !== 0) {
      t.skip(`docker compose not available here: ${(probe.error?.message ?? probe.stderr ?? '').split('\n')[0]}`);
      return;
    }
    const env = { ...process.env, REDIS_PASSWORD: 'x', MINIO_ROOT_USER: 'a', MINIO_ROOT_PASSWORD: 'b', S3_ACCESS_KEY_ID: 'c', S3_SECRET_ACCESS_KEY: 'd', YOTO_API_TOKEN: 'e'.repeat(20) };
    const r = spawnSync('docker', ['compose', '-f', composeFile, '--profile', 'gpus-4', '--profile', 'cpu', 'config', '--quiet'], { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('Dockerfiles (infra/docker)', () => {
  const dir = join(infra, 'docker');
  const files = ['coordinator.Dockerfile', 'worker-cpu.Dockerfile', 'worker-gpu.Dockerfile'];

  test('exist, multi-stage, pinned bases and pnpm, non-root, HEALTHCHECK, exec-form CMD', () => {
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
      assert.ok(froms.length >= 2, `${f}: multi-stage`);
      const args = Object.fromEntries([...text.matchAll(/^ARG\s+([A-Z_]+)=(\S+)/gm)].map((m) => [m[1]!, m[2]!]));
      for (const base of Object.entries(args).filter(([k]) => k.endsWith('_IMAGE')).map(([, v]) => v)) {
        assert.match(base, /^[\w./-]+:\d+\.\d+\.\d+[\w.-]*$/, `${f}: base ${base} pinned to an exact version`);
      }
      assert.match(args.NODE_IMAGE ?? '', /^node:20\.\d+\.\d+-bookworm-slim$/);
      if (/pnpm/.test(text)) assert.equal(args.PNPM_VERSION, '10.34.9', `${f}: pnpm pinned`);
      const users = [...text.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]!);
      const lastUser = users.at(-1) ?? 'root';
      assert.ok(!/^(root|0)(:|$)/.test(lastUser), `${f}: runs as ${lastUser}`);
      assert.match(text, /^HEALTHCHECK .*\n?.*CMD \[/m, `${f}: HEALTHCHECK`);
      assert.match(text, /^CMD \["node", "--import", "tsx", /m);
      assert.ok(text.indexOf('USER') > text.lastIndexOf('FROM'), `${f}: USER set in the final stage`);
    }
    assert.match(readFileSync(join(dir, 'worker-gpu.Dockerfile'), 'utf8'), /nvidia\/cuda:11\.2\.\d+-cudnn8-runtime/);
    assert.ok(existsSync(join(dir, 'healthcheck.mjs')));
  });

  test('.dockerignore keeps node_modules, .git and env files out of the context', () => {
    const lines = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const l of ['**/node_modules', '.git', '**/.env', '.yoto']) assert.ok(lines.includes(l), l);
  });
});
