import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, ShoalError } from '@shoal/core';
import {
  SHOAL_MARKER,
  configureContainerd,
  formatAction,
  hostsTomlFor,
  isShoalManaged,
  normalizeMirrorUrl,
  parseHostsToml,
  undoContainerdConfig,
  validateRegistryName,
  type ContainerdAction,
} from '../src/containerd/index.ts';

const MIRROR = 'http://127.0.0.1:5000';
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function kinds(actions: ContainerdAction[]): string[] {
  return actions.map((a) => `${a.kind} ${a.path}`);
}

function expectShoalError(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ShoalError);
    expect((err as ShoalError).code).toBe(code);
    if (message) expect((err as ShoalError).message).toMatch(message);
    return;
  }
  throw new Error('expected a ShoalError');
}

/** Every file under dir, relative, with symlinks shown as `-> target`. */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix + entry.name;
    if (entry.isSymbolicLink()) out.push(`${rel} -> ${await readlink(join(dir, entry.name))}`);
    else if (entry.isDirectory()) out.push(`${rel}/`, ...(await tree(join(dir, entry.name), `${rel}/`)));
    else out.push(rel);
  }
  return out;
}

describe('hosts.toml rendering', () => {
  it('lists the mirror first and the real registry as server', () => {
    expect(hostsTomlFor('docker.io', MIRROR)).toBe(
      [
        SHOAL_MARKER,
        '# Edits are overwritten; `shoal agent configure-containerd --undo` removes this file and',
        '# restores the one it replaced (hosts.toml.shoal-backup).',
        'server = "https://registry-1.docker.io"',
        '',
        '[host."http://127.0.0.1:5000"]',
        '  capabilities = ["pull", "resolve"]',
        '',
      ].join('\n'),
    );
    expect(parseHostsToml(hostsTomlFor('ghcr.io', MIRROR))).toEqual({
      managed: true,
      server: 'https://ghcr.io',
      hosts: [{ url: MIRROR, capabilities: ['pull', 'resolve'] }],
    });
    expect(parseHostsToml(hostsTomlFor('registry.local:5000', `${MIRROR}/`))?.server).toBe('https://registry.local:5000');
  });

  it('takes upstreams from the map and normalises them', () => {
    const upstreams = { 'nvcr.io': 'https://nvcr.example.com/', 'docker.io': 'https://mirror.gcr.io' };
    expect(parseHostsToml(hostsTomlFor('nvcr.io', MIRROR, upstreams))?.server).toBe('https://nvcr.example.com');
    expect(parseHostsToml(hostsTomlFor('docker.io', MIRROR, upstreams))?.server).toBe('https://mirror.gcr.io');
    expectShoalError(() => hostsTomlFor('nvcr.io', MIRROR, { 'nvcr.io': 'ftp://x' }), ErrorCode.INVALID_CONFIG, /nvcr\.io/);
  });

  it('omits server for _default, so containerd falls back to each image\'s own registry', () => {
    const parsed = parseHostsToml(hostsTomlFor('_default', MIRROR));
    expect(parsed).toEqual({ managed: true, hosts: [{ url: MIRROR, capabilities: ['pull', 'resolve'] }] });
    expect(hostsTomlFor('_default', MIRROR)).not.toMatch(/^server/m);
    expectShoalError(() => hostsTomlFor('_default', MIRROR, { _default: 'https://r.example' }), ErrorCode.INVALID_CONFIG, /every registry/);
  });

  it('parses only the subset it writes', () => {
    // containerd's docs example, not ours
    const docs = 'server = "https://docker.io"\n\n[host."https://registry-1.docker.io"]\n  capabilities = ["pull", "resolve"]\n';
    expect(parseHostsToml(docs)).toEqual({
      managed: false,
      server: 'https://docker.io',
      hosts: [{ url: 'https://registry-1.docker.io', capabilities: ['pull', 'resolve'] }],
    });
    expect(isShoalManaged(docs)).toBe(false);
    expect(parseHostsToml(`${docs}  ca = "/etc/certs/m.pem"\n`)).toBeUndefined();
    expect(parseHostsToml('[header]\n  x = "y"\n')).toBeUndefined();
    expect(parseHostsToml('server = "unterminated\n')).toBeUndefined();
    expect(parseHostsToml('[host."a"]\n capabilities = ["fly"]\n')).toBeUndefined();
    // the marker counts only as the first line
    expect(isShoalManaged(`# hello\n${SHOAL_MARKER}\n`)).toBe(false);
    expect(isShoalManaged(`${SHOAL_MARKER}\r\nserver = "x"\r\n`)).toBe(true);
  });

  it('accepts host[:port] and _default, and rejects anything that is not a plain directory name', () => {
    for (const ok of ['docker.io', 'ghcr.io', 'nvcr.io', '_default', 'registry.local:5000', 'localhost', '10.0.0.1:5000', '[::1]:5000', 'Registry.Example.COM']) {
      expect(validateRegistryName(ok)).toBe(ok);
    }
    for (const bad of ['', '.', '..', '../etc', 'docker.io/../../x', 'a/b', '/abs', 'a\\b', '..docker.io', 'docker..io', ' docker.io', 'a\nb', 'a\u0000b', '-x.io', 'x.io:0', 'x.io:99999', 'x.io:', '_other', '::1', 'a b']) {
      expectShoalError(() => validateRegistryName(bad), ErrorCode.INVALID_ARGUMENT, /invalid registry/);
    }
  });

  it('wants only scheme://host:port for the mirror', () => {
    expect(normalizeMirrorUrl('http://127.0.0.1:5000/')).toBe(MIRROR);
    for (const bad of ['127.0.0.1:5000', 'unix:///run/x.sock', 'http://127.0.0.1:5000/v2', 'http://h:1/?a=b', 'http://u:p@h:1']) {
      expectShoalError(() => normalizeMirrorUrl(bad), ErrorCode.INVALID_ARGUMENT, /mirror URL/);
    }
  });

  it('matches the examples shipped in deploy/containerd', async () => {
    const example = (p: string) => readFile(join(REPO_ROOT, 'deploy', 'containerd', p), 'utf8');
    expect(await example('certs.d/_default/hosts.toml')).toBe(hostsTomlFor('_default', MIRROR));
    expect(await example('certs.d/docker.io/hosts.toml')).toBe(hostsTomlFor('docker.io', MIRROR));
  });
});

describe('configureContainerd / undoContainerdConfig', () => {
  let base: string;
  let certsDir: string;
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'shoal-containerd-'));
    certsDir = join(base, 'certs.d');
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  const hosts = (registry: string) => join(certsDir, registry, 'hosts.toml');

  it('writes one hosts.toml per registry, then reports unchanged on a second run', async () => {
    const options = { certsDir, mirrorUrl: MIRROR, registries: ['docker.io', 'ghcr.io', 'nvcr.io', 'docker.io'] };
    const first = await configureContainerd(options);
    expect(kinds(first)).toEqual([`written ${hosts('docker.io')}`, `written ${hosts('ghcr.io')}`, `written ${hosts('nvcr.io')}`]);
    expect(await readFile(hosts('nvcr.io'), 'utf8')).toBe(hostsTomlFor('nvcr.io', MIRROR));
    const mtime = (await stat(hosts('docker.io'))).mtimeMs;

    const second = await configureContainerd(options);
    expect(second.map((a) => a.kind)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect((await stat(hosts('docker.io'))).mtimeMs).toBe(mtime);
    expect(await tree(certsDir)).toEqual([
      'docker.io/',
      'docker.io/hosts.toml',
      'ghcr.io/',
      'ghcr.io/hosts.toml',
      'nvcr.io/',
      'nvcr.io/hosts.toml',
    ]);
    expect(formatAction(first[0]!)).toBe(`written   ${hosts('docker.io')}`);
  });

  it('rewrites its own file when the mirror changes', async () => {
    await configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['_default'] });
    const actions = await configureContainerd({ certsDir, mirrorUrl: 'http://127.0.0.1:5001', registries: ['_default'] });
    expect(kinds(actions)).toEqual([`written ${hosts('_default')}`]);
    expect(parseHostsToml(await readFile(hosts('_default'), 'utf8'))?.hosts[0]?.url).toBe('http://127.0.0.1:5001');
  });

  it('backs up a user file once, and undo puts it back', async () => {
    const mine = 'server = "https://docker.io"\n[host."https://corp-mirror.example"]\n  capabilities = ["pull"]\n';
    await mkdir(join(certsDir, 'docker.io'), { recursive: true });
    await writeFile(hosts('docker.io'), mine);

    const first = await configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['docker.io', 'ghcr.io'] });
    expect(first).toEqual([
      { kind: 'backed-up', registry: 'docker.io', path: `${hosts('docker.io')}.shoal-backup`, from: hosts('docker.io') },
      { kind: 'written', registry: 'docker.io', path: hosts('docker.io') },
      { kind: 'written', registry: 'ghcr.io', path: hosts('ghcr.io') },
    ]);
    expect(await readFile(`${hosts('docker.io')}.shoal-backup`, 'utf8')).toBe(mine);
    expect(isShoalManaged(await readFile(hosts('docker.io'), 'utf8'))).toBe(true);

    // A new mirror: our file is rewritten, the backup stays the user's.
    const again = await configureContainerd({ certsDir, mirrorUrl: 'http://127.0.0.1:5001', registries: ['docker.io'] });
    expect(again.map((a) => a.kind)).toEqual(['written']);
    expect(await readFile(`${hosts('docker.io')}.shoal-backup`, 'utf8')).toBe(mine);

    const undo = await undoContainerdConfig({ certsDir });
    expect(undo).toEqual([
      { kind: 'restored', registry: 'docker.io', path: hosts('docker.io'), from: `${hosts('docker.io')}.shoal-backup` },
      { kind: 'removed', registry: 'ghcr.io', path: hosts('ghcr.io') },
      { kind: 'removed', registry: 'ghcr.io', path: join(certsDir, 'ghcr.io') },
    ]);
    expect(await tree(certsDir)).toEqual(['docker.io/', 'docker.io/hosts.toml']);
    expect(await readFile(hosts('docker.io'), 'utf8')).toBe(mine);
    expect(await undoContainerdConfig({ certsDir })).toEqual([]);
  });

  it('never overwrites a backup: a second foreign file is skipped and left alone', async () => {
    await mkdir(join(certsDir, 'docker.io'), { recursive: true });
    await writeFile(hosts('docker.io'), 'server = "https://a.example"\n');
    await configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['docker.io'] });
    // The user replaces our file by hand.
    await writeFile(hosts('docker.io'), 'server = "https://b.example"\n');

    const actions = await configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['docker.io'] });
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ kind: 'skipped', path: hosts('docker.io') });
    expect(actions[0]!.note).toMatch(/shoal-backup already exists/);
    expect(await readFile(hosts('docker.io'), 'utf8')).toBe('server = "https://b.example"\n');
    expect(await readFile(`${hosts('docker.io')}.shoal-backup`, 'utf8')).toBe('server = "https://a.example"\n');

    const undo = await undoContainerdConfig({ certsDir });
    expect(undo.map((a) => a.kind)).toEqual(['skipped']);
    expect(await readFile(hosts('docker.io'), 'utf8')).toBe('server = "https://b.example"\n');
  });

  it('leaves user directories alone on undo and keeps a directory that still holds user files', async () => {
    await mkdir(join(certsDir, 'quay.io'), { recursive: true });
    await writeFile(hosts('quay.io'), 'server = "https://quay.io"\n');
    await mkdir(join(certsDir, 'nvcr.io'), { recursive: true });
    await writeFile(join(certsDir, 'nvcr.io', 'ca.crt'), 'PEM');

    const written = await configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['nvcr.io'] });
    expect(written[0]?.note).toMatch(/certificate files/);

    const undo = await undoContainerdConfig({ certsDir });
    expect(kinds(undo)).toEqual([`removed ${hosts('nvcr.io')}`]);
    expect(await tree(certsDir)).toEqual(['nvcr.io/', 'nvcr.io/ca.crt', 'quay.io/', 'quay.io/hosts.toml']);

    // Named explicitly, a user file is reported as skipped.
    const named = await undoContainerdConfig({ certsDir, registries: ['quay.io', 'ghcr.io'] });
    expect(named).toMatchObject([{ kind: 'skipped', registry: 'quay.io', note: 'not written by Shoal' }]);
  });

  it('restores a backup even when our file is gone, and clears temp files left by a crash', async () => {
    await mkdir(join(certsDir, 'ghcr.io'), { recursive: true });
    await writeFile(hosts('ghcr.io'), 'server = "https://ghcr.io"\n');
    await configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['ghcr.io'] });
    await rm(hosts('ghcr.io'));
    await writeFile(join(certsDir, 'ghcr.io', '.hosts.toml.shoal-123-abcd.tmp'), 'half');

    const undo = await undoContainerdConfig({ certsDir, registries: ['ghcr.io'] });
    expect(undo.map((a) => a.kind)).toEqual(['restored']);
    expect(await tree(certsDir)).toEqual(['ghcr.io/', 'ghcr.io/hosts.toml']);
  });

  it('keeps a user hosts.toml symlink as a symlink and never writes through it', async () => {
    const target = join(base, 'elsewhere.toml');
    await writeFile(target, 'server = "https://docker.io"\n');
    await mkdir(join(certsDir, 'docker.io'), { recursive: true });
    await symlink(target, hosts('docker.io'));

    const actions = await configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['docker.io'] });
    expect(actions.map((a) => a.kind)).toEqual(['backed-up', 'written']);
    expect(await readFile(target, 'utf8')).toBe('server = "https://docker.io"\n');
    expect((await lstat(hosts('docker.io'))).isSymbolicLink()).toBe(false);
    expect(await readlink(`${hosts('docker.io')}.shoal-backup`)).toBe(target);

    await undoContainerdConfig({ certsDir });
    expect(await readlink(hosts('docker.io'))).toBe(target);
  });

  it('rejects hostile registry names before writing anything', async () => {
    for (const registries of [['docker.io', '../../etc'], ['docker.io', '/etc/containerd'], ['docker.io', '..'], ['docker.io', ''], []]) {
      await expect(configureContainerd({ certsDir, mirrorUrl: MIRROR, registries })).rejects.toMatchObject({
        code: ErrorCode.INVALID_ARGUMENT,
      });
    }
    await expect(undoContainerdConfig({ certsDir, registries: ['../x'] })).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    await expect(configureContainerd({ certsDir, mirrorUrl: 'localhost:5000', registries: ['docker.io'] })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
    });
    await expect(configureContainerd({ certsDir: '', mirrorUrl: MIRROR, registries: ['docker.io'] })).rejects.toMatchObject({
      code: ErrorCode.INVALID_CONFIG,
    });
    expect(await tree(base)).toEqual([]);
  });

  it('refuses a registry directory that is a symlink out of certsDir', async () => {
    const outside = join(base, 'outside');
    await mkdir(outside);
    await mkdir(certsDir);
    await symlink(outside, join(certsDir, 'evil.io'));
    await expect(configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['evil.io'] })).rejects.toMatchObject({
      code: ErrorCode.INVALID_CONFIG,
      message: expect.stringMatching(/outside/),
    });
    expect(await readdir(outside)).toEqual([]);

    // A symlink that stays inside certsDir is fine.
    await mkdir(join(certsDir, 'shared'));
    await symlink(join(certsDir, 'shared'), join(certsDir, 'ok.io'));
    const actions = await configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['ok.io'] });
    expect(actions.map((a) => a.kind)).toEqual(['written']);
    expect(await readdir(join(certsDir, 'shared'))).toEqual(['hosts.toml']);
  });

  it('notes when a host_port_ directory shadows the one it wrote', async () => {
    await mkdir(join(certsDir, 'registry.local_5000_'), { recursive: true });
    const actions = await configureContainerd({ certsDir, mirrorUrl: MIRROR, registries: ['registry.local:5000'] });
    expect(actions[0]?.note).toMatch(/registry\.local_5000_\/ before registry\.local:5000\//);
  });
});
