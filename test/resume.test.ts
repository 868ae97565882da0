import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { choosePieceLength } from '@shoal/core';
import {
  type ShoalDaemon,
  type TestBlob,
  makeTempDir,
  metric,
  removeDir,
  scrapeMetrics,
  sha256Hex,
  startShoalAgent,
  startShoalTracker,
  waitFor,
  writeRandomBlob,
} from './harness/index.ts';

const SIZE = 64 << 20;
const PIECE = choosePieceLength(SIZE);

interface Status {
  blobs: Array<{ digest: string; havePieces: number; complete: boolean }>;
}

describe('an agent killed mid-download', () => {
  let originDir: string;
  let blob: TestBlob;
  let tracker: ShoalDaemon;
  let agent: ShoalDaemon;

  beforeAll(async () => {
    originDir = await makeTempDir('shoal-origin-');
    blob = await writeRandomBlob(originDir, SIZE);
    tracker = await startShoalTracker({ originDir });
  });

  afterAll(async () => {
    await agent?.dispose();
    await tracker?.dispose();
    await removeDir(originDir);
  });

  it('resumes after a restart without fetching verified pieces again', async () => {
    agent = await startShoalAgent({ trackers: [tracker.url], args: ['--download-rate', '16MB/s'] });
    // Start the download (HEAD returns at once; the download goes on) and kill the agent a
    // third of the way through, as a crash or an OOM kill would.
    expect((await fetch(`${agent.url}/v1/blobs/${blob.digest}`, { method: 'HEAD' })).status).toBe(200);
    await waitFor(
      async () => {
        const status = (await (await fetch(`${agent.url}/v1/status`)).json()) as Status;
        return (status.blobs[0]?.havePieces ?? 0) >= SIZE / PIECE / 3;
      },
      { what: 'a third of the pieces', timeoutMs: 60_000, proc: agent.process },
    );
    await agent.kill();

    const claims = await readFile(join(agent.dir, 'store', 'partial', 'sha256', `${blob.digest.slice(7)}.pieces`));
    const verified = claims.filter((b) => b === 1).length;
    expect(verified).toBeGreaterThan(0);
    expect(verified).toBeLessThan(SIZE / PIECE);

    agent = await startShoalAgent({ trackers: [tracker.url], dir: agent.dir });
    const response = await fetch(`${agent.url}/v1/blobs/${blob.digest}`);
    const body = Buffer.from(await response.arrayBuffer());
    expect(`sha256:${sha256Hex(body)}`).toBe(blob.digest);

    // After the restart only the pieces that were missing crossed the network.
    const values = await scrapeMetrics(agent.url);
    const fetched =
      metric(values, 'shoal_agent_blob_bytes_total{source="seeder"}') +
      metric(values, 'shoal_agent_blob_bytes_total{source="peer"}') +
      metric(values, 'shoal_agent_blob_bytes_total{source="origin"}');
    expect(fetched).toBe(SIZE - verified * PIECE);
  });
});
