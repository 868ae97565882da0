/**
 * Static checks of deploy/: every manifest against the Kubernetes schemas (kubernetes-models,
 * plus TypeScript's excess-property check against the same models, which catches misspelt
 * field names the JSON schemas let through), the kustomizations' file references, and the
 * wiring between objects: probes on the agent's port, the init container that configures
 * containerd, Services and ServiceMonitors that select what exists, and only `shoal` flags
 * that the CLI has.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ResourceQuota } from 'kubernetes-models/v1/ResourceQuota';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEPLOY = join(REPO, 'deploy');
const NAMESPACE = 'shoal-system';
const AGENT_PORT = 5000;

/** The CLI's flags, per command (the agent and tracker implement exactly these). */
const FLAGS: Record<string, readonly string[]> = {
  agent: ['listen', 'peer-port', 'tracker', 'store', 'store-capacity', 'download-rate', 'upload-rate', 'upstream-config', 'fallback', 'log-level'],
  tracker: ['listen', 'peer-port', 'store', 'store-capacity', 'replicas-dns', 'credentials', 'log-level', 'advertise-host'],
  'agent configure-containerd': ['certs-dir', 'mirror', 'registry', 'upstream-config', 'undo'],
};
/** Flags that take no value. */
const SWITCHES = new Set(['undo']);

// ---------------------------------------------------------------------------------------------
// Loading

type Obj = Record<string, any>;
interface Doc {
  file: string;
  obj: Obj;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

const yamlFiles = walk(DEPLOY).filter((f) => /\.ya?ml$/.test(f));

function loadDocs(files: readonly string[]): Doc[] {
  return files.flatMap((file) => {
    const parsed = parseAllDocuments(readFileSync(file, 'utf8'));
    if (!Array.isArray(parsed)) throw new Error(`${file}: not a YAML stream`);
    return parsed.flatMap((doc) => {
      const problems = [...doc.errors, ...doc.warnings];
      if (problems.length > 0) throw new Error(`${rel(file)}: ${problems.map((p) => p.message).join('; ')}`);
      const obj: unknown = doc.toJS();
      return obj === null || obj === undefined ? [] : [{ file, obj: obj as Obj }];
    });
  });
}

const docs = loadDocs(yamlFiles);
const isKustomize = (d: Doc) => String(d.obj.apiVersion).startsWith('kustomize.config.k8s.io/');
const kustomizations = docs.filter(isKustomize);
/** Files that kustomizations apply as patches: partial objects, checked as such. */
const patchFiles = new Set(
  kustomizations.flatMap((k) => ((k.obj.patches ?? []) as Obj[]).filter((p) => p.path).map((p) => resolve(dirname(k.file), p.path as string))),
);
const patches = docs.filter((d) => !isKustomize(d) && patchFiles.has(d.file));
const resources = docs.filter((d) => !isKustomize(d) && !patchFiles.has(d.file));

function rel(file: string): string {
  return relative(REPO, file);
}

function label(d: Doc): string {
  return `${rel(d.file)} ${d.obj.kind}/${d.obj.metadata?.name}`;
}

function find(kind: string, name: string, from: readonly Doc[] = resources): Obj {
  const doc = from.find((d) => d.obj.kind === kind && d.obj.metadata?.name === name);
  if (!doc) throw new Error(`no ${kind}/${name} under deploy/`);
  return doc.obj;
}

// ---------------------------------------------------------------------------------------------
// Models

const MODELS: Record<string, { model: new (data: any) => { validate(): void }; types: string }> = {
  'v1/Namespace': { model: Namespace, types: 'kubernetes-models/v1/Namespace' },
  'v1/ConfigMap': { model: ConfigMap, types: 'kubernetes-models/v1/ConfigMap' },
  'v1/Secret': { model: Secret, types: 'kubernetes-models/v1/Secret' },
  'v1/Service': { model: Service, types: 'kubernetes-models/v1/Service' },
  'v1/ServiceAccount': { model: ServiceAccount, types: 'kubernetes-models/v1/ServiceAccount' },
  'v1/ResourceQuota': { model: ResourceQuota, types: 'kubernetes-models/v1/ResourceQuota' },
  'apps/v1/DaemonSet': { model: DaemonSet, types: 'kubernetes-models/apps/v1/DaemonSet' },
  'apps/v1/StatefulSet': { model: StatefulSet, types: 'kubernetes-models/apps/v1/StatefulSet' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, types: 'kubernetes-models/policy/v1/PodDisruptionBudget' },
};
const SERVICE_MONITOR = 'monitoring.coreos.com/v1/ServiceMonitor';

const typeKey = (obj: Obj) => `${obj.apiVersion}/${obj.kind}`;

function validateModel(obj: Obj): void {
  const entry = MODELS[typeKey(obj)];
  if (!entry) throw new Error(`no schema for ${typeKey(obj)}`);
  new entry.model(obj).validate();
}

/**
 * The JSON schemas accept unknown fields (a misspelt `livenesProbe` passes). TypeScript's
 * excess-property check on the same models does not: type-check every manifest as a typed
 * object literal, in one tsc run.
 */
function typecheckManifests(all: readonly Doc[], partial = false): string {
  const require = createRequire(import.meta.url);
  const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
  const imports = new Map<string, string>();
  const lines: string[] = [];
  all.forEach((d, i) => {
    const entry = MODELS[typeKey(d.obj)]!;
    const iface = `I${d.obj.kind}`;
    if (!imports.has(iface)) imports.set(iface, `import type { ${iface} } from ${JSON.stringify(require.resolve(entry.types))};`);
    const type = partial ? `DeepPartial<${iface}>` : iface;
    lines.push(`// ${label(d)}`, `export const doc${i}: ${type} = ${JSON.stringify(d.obj, null, 2)};`);
  });
  lines.unshift('type DeepPartial<T> = T extends (infer U)[] ? DeepPartial<U>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;');
  const dir = mkdtempSync(join(tmpdir(), 'shoal-deploy-'));
  try {
    const file = join(dir, 'manifests.mts');
    writeFileSync(file, [...imports.values(), ...lines].join('\n'));
    try {
      execFileSync(
        process.execPath,
        [tsc, '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', '', file],
        { encoding: 'utf8', stdio: 'pipe' },
      );
      return '';
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? err);
      // Point each error at its manifest rather than at the generated file's line.
      const source = readFileSync(file, 'utf8').split('\n');
      return out.replace(/manifests\.mts\((\d+),\d+\)/g, (_, line: string) => {
        for (let n = Number(line) - 1; n >= 0; n--) if (source[n]!.startsWith('// ')) return source[n]!.slice(3);
        return 'manifest';
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The prometheus-operator models when installed; otherwise the structure we rely on. */
async function validateServiceMonitor(obj: Obj): Promise<void> {
  const specifier = '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
  const mod: { ServiceMonitor?: new (data: Obj) => { validate(): void } } | undefined = await import(specifier).catch(() => undefined);
  if (mod?.ServiceMonitor) {
    new mod.ServiceMonitor(obj).validate();
    return;
  }
  expect(Object.keys(obj).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
  expect(Object.keys(obj.spec).every((k) => ['selector', 'endpoints', 'namespaceSelector', 'jobLabel'].includes(k))).toBe(true);
  expect(Object.keys(obj.spec.selector.matchLabels ?? {}).length).toBeGreaterThan(0);
  expect(obj.spec.endpoints.length).toBeGreaterThan(0);
  for (const ep of obj.spec.endpoints as Obj[]) {
    expect(Object.keys(ep).every((k) => ['port', 'path', 'interval', 'scrapeTimeout', 'relabelings', 'metricRelabelings', 'scheme'].includes(k))).toBe(true);
    expect(typeof ep.port).toBe('string');
    expect(ep.path).toMatch(/^\//);
    for (const d of [ep.interval, ep.scrapeTimeout].filter((x) => x !== undefined)) expect(d).toMatch(/^\d+(ms|s|m|h)$/);
  }
}

// ---------------------------------------------------------------------------------------------
// Pod helpers

interface Container {
  owner: string;
  podSpec: Obj;
  container: Obj;
}

function podSpecs(from: readonly Doc[] = resources): { owner: Doc; spec: Obj }[] {
  return from.filter((d) => d.obj.spec?.template?.spec).map((d) => ({ owner: d, spec: d.obj.spec.template.spec as Obj }));
}

function containers(from: readonly Doc[] = resources): Container[] {
  return podSpecs(from).flatMap(({ owner, spec }) =>
    [...(spec.initContainers ?? []), ...(spec.containers ?? [])].map((c: Obj) => ({ owner: label(owner), podSpec: spec, container: c })),
  );
}

/** The shoal command a container runs (the image's entrypoint is `node .../main.ts`). */
function shoalCommand(c: Obj): string | undefined {
  if (c.command !== undefined) return undefined;
  const args = (c.args ?? []) as string[];
  if (args[0] === 'agent' && args[1] === 'configure-containerd') return 'agent configure-containerd';
  if (args[0] === 'agent' || args[0] === 'tracker') return args[0];
  return undefined;
}

/** `--flag value` / `--flag=value` pairs after the command words. */
function flagsOf(c: Obj): Map<string, string | true> {
  const args = (c.args ?? []) as string[];
  const words = shoalCommand(c)!.split(' ').length;
  const flags = new Map<string, string | true>();
  for (let i = words; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)} in ${args.join(' ')}`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (SWITCHES.has(name)) flags.set(name, true);
    else if (inline !== undefined) flags.set(name, inline);
    else {
      const value = args[++i];
      if (value === undefined || value.startsWith('--')) throw new Error(`--${name} has no value in ${args.join(' ')}`);
      flags.set(name, value);
    }
  }
  return flags;
}

const envTwin = (flag: string) => `SHOAL_${flag.toUpperCase().replace(/-/g, '_')}`;

/** A flag's value from args or its environment twin. */
function setting(c: Obj, flag: string): string | undefined {
  const fromArgs = flagsOf(c).get(flag);
  if (typeof fromArgs === 'string') return fromArgs;
  return (c.env as Obj[] | undefined)?.find((e) => e.name === envTwin(flag))?.value;
}

function resolvePort(c: Obj, port: number | string): number {
  if (typeof port === 'number') return port;
  const named = (c.ports as Obj[] | undefined)?.find((p) => p.name === port);
  if (!named) throw new Error(`container ${c.name} has no port named ${port}`);
  return named.containerPort as number;
}

const matches = (selector: Obj, labels: Obj | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v) && Object.keys(selector).length > 0;

// ---------------------------------------------------------------------------------------------

describe('deploy/ manifests', () => {
  it('are all parsed and of known kinds', () => {
    expect(yamlFiles.length).toBeGreaterThan(10);
    for (const d of resources) {
      expect(typeof d.obj.apiVersion, label(d)).toBe('string');
      expect(MODELS[typeKey(d.obj)] !== undefined || typeKey(d.obj) === SERVICE_MONITOR, `${label(d)}: ${typeKey(d.obj)}`).toBe(true);
    }
  });

  it('validate against the Kubernetes schemas', async () => {
    for (const d of resources) {
      try {
        if (typeKey(d.obj) === SERVICE_MONITOR) await validateServiceMonitor(d.obj);
        else validateModel(d.obj);
      } catch (err) {
        throw new Error(`${label(d)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }
  });

  it('use no field the Kubernetes API does not know', () => {
    expect(typecheckManifests(resources.filter((d) => MODELS[typeKey(d.obj)]))).toBe('');
  });

  it('patch only fields the Kubernetes API knows, in objects that exist', () => {
    expect(patches.length).toBeGreaterThan(0);
    for (const d of patches) find(d.obj.kind, d.obj.metadata?.name);
    expect(typecheckManifests(patches, true)).toBe('');
  });

  it('catches a wrong type', () => {
    const sts = structuredClone(find('StatefulSet', 'shoal-tracker'));
    sts.spec.replicas = 'two';
    expect(() => validateModel(sts)).toThrow(/replicas/);
  });

  it('catches a misspelt field', () => {
    const ds = structuredClone(find('DaemonSet', 'shoal-agent'));
    ds.spec.template.spec.containers[0].livenesProbe = ds.spec.template.spec.containers[0].livenessProbe;
    expect(typecheckManifests([{ file: join(DEPLOY, 'typo.yaml'), obj: ds }])).toMatch(/livenesProbe/);
    expect(typecheckManifests([{ file: join(DEPLOY, 'typo.yaml'), obj: { ...ds, spec: { tempalte: {} } } }], true)).toMatch(/tempalte/);
  });

  it('live in the shoal-system namespace', () => {
    for (const d of resources) {
      if (d.obj.kind === 'Namespace') expect(d.obj.metadata.name).toBe(NAMESPACE);
      else expect(d.obj.metadata?.namespace, label(d)).toBe(NAMESPACE);
    }
  });

  it('kustomizations name files that exist, and every manifest is in one (or is an example)', () => {
    const referenced = new Set<string>();
    for (const k of kustomizations) {
      expect(['Kustomization', 'Component'], rel(k.file)).toContain(k.obj.kind);
      const base = dirname(k.file);
      const refs: string[] = [
        ...(k.obj.resources ?? []),
        ...(k.obj.components ?? []),
        ...((k.obj.patches ?? []) as Obj[]).filter((p) => p.path).map((p) => p.path as string),
      ];
      expect(refs.length, rel(k.file)).toBeGreaterThan(0);
      for (const ref of refs) {
        const target = resolve(base, ref);
        expect(existsSync(target), `${rel(k.file)} -> ${ref}`).toBe(true);
        if (statSync(target).isDirectory()) {
          expect(existsSync(join(target, 'kustomization.yaml')), `${rel(k.file)} -> ${ref}/kustomization.yaml`).toBe(true);
        }
        referenced.add(target);
      }
    }
    const kustomized = yamlFiles.filter((f) => existsSync(join(dirname(f), 'kustomization.yaml')));
    for (const f of kustomized) {
      if (f.endsWith('kustomization.yaml') || f.endsWith('.example.yaml')) continue;
      expect(referenced.has(f), `${rel(f)} is in no kustomization`).toBe(true);
    }
  });

  it('pass only flags and environment twins the shoal CLI has', () => {
    const seen = new Set<string>();
    for (const { owner, container } of containers()) {
      const command = shoalCommand(container);
      if (command === undefined) continue;
      seen.add(command);
      const allowed = FLAGS[command]!;
      for (const flag of flagsOf(container).keys()) expect(allowed, `${owner} ${container.name}: --${flag}`).toContain(flag);
      for (const env of (container.env ?? []) as Obj[]) {
        if (env.name.startsWith('SHOAL_')) expect(allowed.map(envTwin), `${owner} ${container.name}: ${env.name}`).toContain(env.name);
      }
      // An argument that references $(VAR) needs VAR in the container's env.
      for (const arg of (container.args ?? []) as string[]) {
        for (const [, name] of arg.matchAll(/\$\(([A-Z0-9_]+)\)/g)) {
          expect((container.env as Obj[]).map((e) => e.name), `${owner}: $(${name})`).toContain(name);
        }
      }
    }
    expect([...seen].sort()).toEqual(['agent', 'agent configure-containerd', 'tracker']);
  });

  it('catches a misspelt flag', () => {
    expect(() => flagsOf({ args: ['agent', '--listen'] })).toThrow(/no value/);
    const bad = { args: ['agent', '--trackr', 'http://x'] };
    expect(FLAGS.agent).not.toContain([...flagsOf(bad).keys()][0]);
  });
});

describe('the agent DaemonSet', () => {
  const ds = find('DaemonSet', 'shoal-agent');
  const spec = ds.spec.template.spec as Obj;
  const agent = (spec.containers as Obj[]).find((c) => shoalCommand(c) === 'agent')!;

  it('runs on the host network, reachable by containerd on 127.0.0.1:5000', () => {
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(setting(agent, 'listen')).toBe(`0.0.0.0:${AGENT_PORT}`);
    expect(resolvePort(agent, 'http')).toBe(AGENT_PORT);
  });

  it('probes the agent port: /healthz for liveness, /readyz for readiness', () => {
    for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz'], ['startupProbe', '/healthz']] as const) {
      const p = agent[probe] as Obj | undefined;
      if (probe === 'startupProbe' && p === undefined) continue;
      expect(p?.httpGet?.path, probe).toBe(path);
      expect(resolvePort(agent, p!.httpGet.port), probe).toBe(AGENT_PORT);
    }
  });

  it('configures containerd from an init container, on the host\'s certs.d', () => {
    const init = (spec.initContainers as Obj[]).find((c) => shoalCommand(c) === 'agent configure-containerd');
    expect(init).toBeDefined();
    const flags = flagsOf(init!);
    expect(flags.get('mirror')).toBe(`http://127.0.0.1:${AGENT_PORT}`);
    expect(flags.get('registry')).toBe('_default');
    const certsDir = flags.get('certs-dir') as string;
    const mount = (init!.volumeMounts as Obj[]).find((m) => m.mountPath === certsDir);
    expect(mount, `a volume mounted at ${certsDir}`).toBeDefined();
    const volume = (spec.volumes as Obj[]).find((v) => v.name === mount!.name);
    expect(volume?.hostPath?.path).toBe('/etc/containerd/certs.d');
    expect(mount!.readOnly).not.toBe(true);
  });

  it('keeps its cache on the node, and reads the upstream map from the ConfigMap', () => {
    const store = setting(agent, 'store')!;
    const cache = (agent.volumeMounts as Obj[]).find((m) => m.mountPath === store)!;
    expect((spec.volumes as Obj[]).find((v) => v.name === cache.name)?.hostPath).toEqual({ path: '/var/lib/shoal', type: 'DirectoryOrCreate' });
    expect(setting(agent, 'store-capacity')).toMatch(/^\d+(Gi|Ti)$/);

    const upstreams = setting(agent, 'upstream-config')!;
    const mount = (agent.volumeMounts as Obj[]).find((m) => upstreams.startsWith(`${m.mountPath}/`))!;
    const cmName = (spec.volumes as Obj[]).find((v) => v.name === mount.name)?.configMap?.name;
    const cm = find('ConfigMap', cmName);
    const key = upstreams.slice(mount.mountPath.length + 1);
    const map = JSON.parse(cm.data[key]) as Record<string, string>;
    expect(map['docker.io']).toBe('https://registry-1.docker.io');
    for (const url of Object.values(map)) expect(url).toMatch(/^https?:\/\//);
  });

  it('finds every tracker replica through the headless Service, as the trackers find each other', () => {
    const url = new URL(setting(agent, 'tracker')!);
    // dns+http: one replica per address, so that each digest goes to its owner.
    expect(url.protocol).toBe('dns+http:');
    const [svcName, ns] = url.hostname.split('.');
    expect(ns).toBe(NAMESPACE);
    const svc = find('Service', svcName!);
    expect(svc.spec.clusterIP).toBe('None');
    expect((svc.spec.ports as Obj[]).map((p) => p.port)).toContain(Number(url.port));
    const tracker = (find('StatefulSet', 'shoal-tracker').spec.template.spec.containers as Obj[]).find((c) => shoalCommand(c) === 'tracker')!;
    expect(setting(tracker, 'replicas-dns')).toBe(url.hostname);
    expect(setting(tracker, 'listen')).toBe(`0.0.0.0:${url.port}`);
  });

  it('is node-critical, tolerates GPU nodes and rolls 10% at a time', () => {
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(spec.tolerations).toContainEqual({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } });
    for (const c of [...spec.initContainers, ...spec.containers] as Obj[]) {
      expect(c.securityContext?.allowPrivilegeEscalation, c.name).toBe(false);
      expect(c.securityContext?.capabilities?.drop, c.name).toEqual(['ALL']);
      expect(c.resources?.requests && c.resources?.limits?.memory, c.name).toBeTruthy();
    }
  });
});

describe('the tracker', () => {
  const sts = find('StatefulSet', 'shoal-tracker');
  const spec = sts.spec.template.spec as Obj;
  const tracker = (spec.containers as Obj[]).find((c) => shoalCommand(c) === 'tracker')!;
  const podLabels = sts.spec.template.metadata.labels as Obj;

  it('is a StatefulSet of 2 behind a headless Service used for replica discovery', () => {
    expect(sts.spec.replicas).toBe(2);
    const headless = find('Service', sts.spec.serviceName);
    expect(headless.metadata.name).toBe('shoal-tracker-headless');
    expect(headless.spec.clusterIP).toBe('None');
    expect(matches(headless.spec.selector, podLabels)).toBe(true);
    expect(setting(tracker, 'replicas-dns')).toBe(`shoal-tracker-headless.${NAMESPACE}.svc.cluster.local`);
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe(
      (tracker.volumeMounts as Obj[]).find((m) => m.mountPath === setting(tracker, 'store'))?.name,
    );
  });

  it('serves 7000 (HTTP) and 6881 (peer wire) through the shoal-tracker Service', () => {
    const svc = find('Service', 'shoal-tracker');
    expect(svc.spec.clusterIP).toBeUndefined();
    expect(matches(svc.spec.selector, podLabels)).toBe(true);
    const ports = Object.fromEntries((svc.spec.ports as Obj[]).map((p) => [p.port, resolvePort(tracker, p.targetPort)]));
    expect(ports).toEqual({ 7000: 7000, 6881: 6881 });
    expect(setting(tracker, 'listen')).toBe('0.0.0.0:7000');
    expect(setting(tracker, 'peer-port')).toBe('6881');
  });

  it('probes its HTTP port and announces its pod IP', () => {
    expect(tracker.livenessProbe.httpGet.path).toBe('/healthz');
    expect(tracker.readinessProbe.httpGet.path).toBe('/readyz');
    expect(resolvePort(tracker, tracker.livenessProbe.httpGet.port)).toBe(7000);
    expect(resolvePort(tracker, tracker.readinessProbe.httpGet.port)).toBe(7000);
    expect(setting(tracker, 'advertise-host')).toBe('$(POD_IP)');
    expect((tracker.env as Obj[]).find((e) => e.name === 'POD_IP')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'status.podIP' } });
  });

  it('mounts the registry credentials Secret where --credentials points', () => {
    const credentials = setting(tracker, 'credentials')!;
    const mount = (tracker.volumeMounts as Obj[]).find((m) => credentials.startsWith(`${m.mountPath}/`))!;
    const volume = (spec.volumes as Obj[]).find((v) => v.name === mount.name)!;
    expect(volume.secret.secretName).toBe('shoal-registry-credentials');
    const example = find('Secret', 'shoal-registry-credentials');
    const key = credentials.slice(mount.mountPath.length + 1);
    expect(() => JSON.parse(example.stringData[key])).not.toThrow();
  });

  it('has a PodDisruptionBudget', () => {
    const pdb = find('PodDisruptionBudget', 'shoal-tracker');
    expect(matches(pdb.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeLessThan(sts.spec.replicas);
  });
});

describe('Services and ServiceMonitors', () => {
  const services = resources.filter((d) => d.obj.kind === 'Service').map((d) => d.obj);
  const pods = podSpecs().map(({ owner, spec }) => ({ labels: owner.obj.spec.template.metadata.labels as Obj, spec }));

  it('every Service selects pods that have its target ports', () => {
    for (const svc of services) {
      const pod = pods.find((p) => matches(svc.spec.selector, p.labels));
      expect(pod, svc.metadata.name).toBeDefined();
      for (const port of svc.spec.ports as Obj[]) {
        const owners = (pod!.spec.containers as Obj[]).filter((c) => (c.ports as Obj[] | undefined)?.some((p) => p.name === port.targetPort || p.containerPort === port.targetPort));
        expect(owners.length, `${svc.metadata.name}:${port.name}`).toBe(1);
      }
    }
  });

  it('each ServiceMonitor scrapes exactly one Service, on a port it has', () => {
    const monitors = resources.filter((d) => typeKey(d.obj) === SERVICE_MONITOR).map((d) => d.obj);
    expect(monitors.map((m) => m.metadata.name).sort()).toEqual(['shoal-agent', 'shoal-tracker']);
    for (const m of monitors) {
      const selected = services.filter((s) => matches(m.spec.selector.matchLabels, s.metadata.labels));
      expect(selected.map((s) => s.metadata.name), m.metadata.name).toEqual([m.metadata.name]);
      for (const ep of m.spec.endpoints as Obj[]) expect((selected[0]!.spec.ports as Obj[]).map((p) => p.name)).toContain(ep.port);
    }
  });
});

describe('containerd and image files', () => {
  it('config.toml sets config_path for CRI', () => {
    const toml = readFileSync(join(DEPLOY, 'containerd', 'config.toml'), 'utf8');
    expect(toml).toMatch(/^\[plugins\."io\.containerd\.grpc\.v1\.cri"\.registry\]\n\s+config_path = "\/etc\/containerd\/certs\.d"$/m);
    expect(readFileSync(join(DEPLOY, 'containerd', 'README.md'), 'utf8')).toMatch(/config_path/);
  });

  it('the example hosts.toml files list the agent as a pull/resolve host', () => {
    for (const ns of ['_default', 'docker.io']) {
      const toml = readFileSync(join(DEPLOY, 'containerd', 'certs.d', ns, 'hosts.toml'), 'utf8');
      expect(toml).toContain(`[host."http://127.0.0.1:${AGENT_PORT}"]\n  capabilities = ["pull", "resolve"]`);
      expect(/^server = /m.test(toml)).toBe(ns !== '_default');
    }
  });

  it('the Dockerfile builds on node:24-slim and runs the CLI sources', () => {
    const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:24-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev\b/m);
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
    expect(JSON.parse(entrypoint![1]!)).toEqual(['node', 'packages/cli/src/main.ts']);
    expect(existsSync(join(REPO, 'packages', 'cli', 'src', 'main.ts'))).toBe(true);
  });
});

/** Renders each kustomization with `kubectl kustomize` where kubectl is installed. */
const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!kubectl)('kustomize builds (kubectl kustomize)', () => {
  for (const dir of ['base', 'overlays/gpu']) {
    it(`${dir} renders to valid objects`, () => {
      const out = execFileSync('kubectl', ['kustomize', join(DEPLOY, dir)], { encoding: 'utf8' });
      const built: Doc[] = parseAllDocuments(out).map((doc) => ({ file: join(DEPLOY, dir, 'kustomize-output'), obj: doc.toJS() as Obj }));
      expect(built.length).toBeGreaterThan(5);
      for (const d of built) {
        expect(d.obj.metadata.labels?.['app.kubernetes.io/part-of'], label(d)).toBe('shoal');
        if (MODELS[typeKey(d.obj)]) validateModel(d.obj);
      }
      expect(typecheckManifests(built.filter((d) => MODELS[typeKey(d.obj)]))).toBe('');
      for (const c of containers(built)) expect(c.container.image, c.owner).toMatch(/^shoal:/);
    });
  }
});
