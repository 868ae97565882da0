/**
 * `shoal agent configure-containerd`: points containerd at the node's agent by writing
 * `<certsDir>/<registry>/hosts.toml`, and `--undo` puts the node back as it was.
 *
 * Runs as root on the host's certs.d (from an init container), so it is careful:
 * - every path is `<certsDir>/<validated registry>/hosts.toml`, and the registry directory's
 *   real path must still be inside certsDir (a symlink out of it is refused);
 * - a file that is not ours (no marker line) is kept as `hosts.toml.shoal-backup` before we
 *   replace it, once: an existing backup is never overwritten, so if both a backup and another
 *   foreign hosts.toml exist we skip that registry and say so;
 * - files are replaced by rename, so containerd (which re-reads the directory on every pull)
 *   sees either the old file or the new one, never half of one;
 * - a second run with the same input changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, constants as fsConstants, link, lstat, mkdir, open, readFile, readdir, realpath, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { ErrorCode, ShoalError, errorMessage } from '@shoal/core';
import { hostsTomlFor, isShoalManaged, validateRegistryName } from './hosts-toml.ts';

export const HOSTS_FILE = 'hosts.toml';
export const BACKUP_SUFFIX = '.shoal-backup';
const TEMP_PREFIX = `.${HOSTS_FILE}.shoal-`;
const TEMP_SUFFIX = '.tmp';

export interface ConfigureContainerdOptions {
  /** containerd's `config_path`, e.g. `/etc/containerd/certs.d` (or where the host's is mounted). */
  certsDir: string;
  /** The agent's registry endpoint as containerd reaches it, e.g. `http://127.0.0.1:5000`. */
  mirrorUrl: string;
  /** Registry namespaces to route through the agent: hosts such as `docker.io`, or `_default`. */
  registries: readonly string[];
  /** Registry host -> real server URL, tried after the mirror. Defaults: docker.io ->
   * https://registry-1.docker.io, anything else https://<host>. */
  upstreams?: Readonly<Record<string, string>>;
}

export interface UndoContainerdOptions {
  certsDir: string;
  /** Only these namespaces; by default every directory under certsDir is checked. */
  registries?: readonly string[];
}

export type ContainerdActionKind = 'written' | 'unchanged' | 'backed-up' | 'restored' | 'removed' | 'skipped';

export interface ContainerdAction {
  kind: ContainerdActionKind;
  /** The registry namespace (directory name) the action is about. */
  registry: string;
  /** The file or directory written, kept, removed or restored (for backed-up: the backup). */
  path: string;
  /** For backed-up and restored: where the content came from. */
  from?: string;
  /** Why something was skipped, or a caveat the operator should read. */
  note?: string;
}

/** One line per action, for the CLI. */
export function formatAction(action: ContainerdAction): string {
  let line = `${action.kind.padEnd(9)} ${action.path}`;
  if (action.from !== undefined) line += ` (from ${action.from})`;
  if (action.note !== undefined) line += `: ${action.note}`;
  return line;
}

/** Writes a hosts.toml for every registry; see the module comment for the rules. */
export async function configureContainerd(options: ConfigureContainerdOptions): Promise<ContainerdAction[]> {
  const root = certsRoot(options.certsDir);
  if (!Array.isArray(options.registries) || options.registries.length === 0) {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, 'no registry given: name at least one (e.g. --registry _default)');
  }
  // Validate and render everything before touching the disk: one bad name writes nothing.
  const plan = [...new Set(options.registries)].map((registry) => ({
    registry,
    content: hostsTomlFor(registry, options.mirrorUrl, options.upstreams),
  }));

  await mkdir(root, { recursive: true, mode: 0o755 });
  const actions: ContainerdAction[] = [];
  for (const { registry, content } of plan) {
    await configureOne(root, registry, content, actions);
  }
  return actions;
}

async function configureOne(root: string, registry: string, content: string, actions: ContainerdAction[]): Promise<void> {
  const dir = registryDir(root, registry);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await assertInside(root, dir);
  const file = join(dir, HOSTS_FILE);
  const backup = file + BACKUP_SUFFIX;

  const present = await exists(file);
  const existing = present ? await readIfExists(file) : undefined;
  if (existing === content) {
    actions.push({ kind: 'unchanged', registry, path: file });
    return;
  }
  // A dangling symlink reads as missing but is still the user's: keep it too.
  if (present && (existing === undefined || !isShoalManaged(existing))) {
    if (await exists(backup)) {
      actions.push({
        kind: 'skipped',
        registry,
        path: file,
        note: `not written by Shoal and ${basename(backup)} already exists; move one of them away to let Shoal manage ${registry}`,
      });
      return;
    }
    await makeBackup(file, backup);
    actions.push({ kind: 'backed-up', registry, path: backup, from: file });
  }
  await writeAtomic(file, content);
  const written: ContainerdAction = { kind: 'written', registry, path: file };
  const note = await caveats(root, dir, registry);
  if (note !== undefined) written.note = note;
  actions.push(written);
}

/** Restores backups and removes the files Shoal wrote; user files are left alone. */
export async function undoContainerdConfig(options: UndoContainerdOptions): Promise<ContainerdAction[]> {
  const root = certsRoot(options.certsDir);
  const explicit = options.registries !== undefined;
  const registries = explicit ? [...new Set(options.registries)].map(validateRegistryName) : await listNamespaces(root);
  const actions: ContainerdAction[] = [];
  for (const registry of registries) {
    const dir = registryDir(root, registry);
    if (!(await exists(dir))) continue;
    await assertInside(root, dir);
    const file = join(dir, HOSTS_FILE);
    const backup = file + BACKUP_SUFFIX;
    const present = await exists(file);
    const existing = present ? await readIfExists(file) : undefined;
    const hasBackup = await exists(backup);
    await removeStaleTemps(dir);

    if (present && (existing === undefined || !isShoalManaged(existing))) {
      if (hasBackup || explicit) {
        actions.push({
          kind: 'skipped',
          registry,
          path: file,
          note: hasBackup ? `not written by Shoal; leaving it and ${basename(backup)} as they are` : 'not written by Shoal',
        });
      }
      continue;
    }
    if (hasBackup) {
      // rename over our file: containerd never sees the directory without a hosts.toml.
      await rename(backup, file);
      actions.push({ kind: 'restored', registry, path: file, from: backup });
      continue;
    }
    if (existing === undefined) continue;
    await rm(file, { force: true });
    actions.push({ kind: 'removed', registry, path: file });
    try {
      await rmdir(dir);
      actions.push({ kind: 'removed', registry, path: dir });
    } catch (err) {
      // Not empty (the user's certificates live there too): leave it.
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
    }
  }
  return actions;
}

function certsRoot(certsDir: string): string {
  if (typeof certsDir !== 'string' || certsDir.trim() === '') {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, 'certs dir is empty: give containerd\'s config_path, e.g. /etc/containerd/certs.d');
  }
  return resolve(certsDir);
}

/** `<root>/<registry>`, with a second check that the join did not leave root. */
function registryDir(root: string, registry: string): string {
  validateRegistryName(registry);
  const dir = join(root, registry);
  if (dirname(dir) !== root || basename(dir) !== registry) {
    throw new ShoalError(ErrorCode.INVALID_ARGUMENT, `registry ${JSON.stringify(registry)} does not name a directory directly under ${root}`);
  }
  return dir;
}

/** Refuses a registry directory whose real path (after symlinks) is outside certsDir. */
async function assertInside(root: string, dir: string): Promise<void> {
  const [realRoot, realDir] = await Promise.all([realpath(root), realpath(dir)]);
  const rel = relative(realRoot, realDir);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `${dir} resolves to ${realDir}, outside ${realRoot}; refusing to write there`);
  }
}

async function listNamespaces(root: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  return entries
    .filter((e) => e.isDirectory() && isValidName(e.name))
    .map((e) => e.name)
    .sort();
}

function isValidName(name: string): boolean {
  try {
    validateRegistryName(name);
    return true;
  } catch {
    return false;
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/**
 * Keeps the user's file as it is: a hard link (the same inode, or the same symlink) so the
 * live file is never missing; a copy where the filesystem refuses links. Neither overwrites.
 */
async function makeBackup(file: string, backup: string): Promise<void> {
  try {
    await link(file, backup);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) throw err;
    await copyFile(file, backup, fsConstants.COPYFILE_EXCL);
  }
}

async function writeAtomic(file: string, content: string): Promise<void> {
  const dir = dirname(file);
  const temp = join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw new ShoalError(ErrorCode.INVALID_CONFIG, `cannot write ${file}: ${errorMessage(err)}`, { cause: err });
  }
  // Make the rename durable; best effort (not every filesystem lets a directory be fsynced).
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // ignore
  }
}

/** Temp files left by a run that died between create and rename. */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX)) await rm(join(dir, name), { force: true });
  }
}

/** Things about this directory that make containerd ignore or bypass what we wrote. */
async function caveats(root: string, dir: string, registry: string): Promise<string | undefined> {
  const notes: string[] = [];
  const names = await readdir(dir);
  if (names.some((n) => n.endsWith('.crt') || n.endsWith('.cert'))) {
    notes.push('containerd ignores the Docker-style certificate files here now that hosts.toml exists; reference them with ca/client in a hosts.toml of your own');
  }
  const port = /^(.+):(\d+)$/.exec(registry);
  if (port && (await exists(join(root, `${port[1]}_${port[2]}_`)))) {
    notes.push(`containerd reads ${port[1]}_${port[2]}_/ before ${registry}/, so this file is not used`);
  }
  return notes.length > 0 ? notes.join('; ') : undefined;
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
