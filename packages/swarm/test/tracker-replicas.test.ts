import { ErrorCode } from '@shoal/core';
import { describe, expect, it } from 'vitest';
import { TrackerReplicas, parseTrackerSpec } from '../src/index.ts';

describe('parseTrackerSpec', () => {
  it('reads base URLs and DNS names of the replicas', () => {
    expect(parseTrackerSpec('http://tracker-0.shoal:7000/')).toEqual({ kind: 'url', url: 'http://tracker-0.shoal:7000' });
    expect(parseTrackerSpec('dns+http://shoal-tracker-headless.shoal.svc:7000')).toEqual({
      kind: 'dns',
      scheme: 'http',
      host: 'shoal-tracker-headless.shoal.svc',
      port: 7000,
      path: '',
    });
    expect(parseTrackerSpec('dns+https://trackers:443/shoal/')).toMatchObject({ scheme: 'https', path: '/shoal' });
  });

  it('refuses anything else at start-up, with an example', () => {
    for (const bad of ['tracker:7000', 'dns+http://trackers', 'ftp://x:1', 'dns+http://trackers:99999', 'http://u:p@tracker:7000', 'http://t:7000/?x=1']) {
      expect(() => parseTrackerSpec(bad), bad).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_CONFIG }));
    }
    expect(() => parseTrackerSpec('tracker:7000')).toThrow(/dns\+http:\/\/shoal-tracker-headless:7000/);
  });
});

describe('TrackerReplicas', () => {
  it('lists fixed URLs as given and one URL per address of a DNS name, in a stable order', async () => {
    const replicas = new TrackerReplicas({
      specs: ['http://static:7000', 'dns+http://trackers:7000'],
      resolve: async () => ['10.0.0.9', '10.0.0.2', 'fd00::1', '10.0.0.2'],
    });
    await replicas.start();
    expect(replicas.list()).toEqual(['http://static:7000', 'http://10.0.0.2:7000', 'http://10.0.0.9:7000', 'http://[fd00::1]:7000']);
    replicas.stop();
  });

  it('follows DNS as replicas come and go, and keeps the last answer when DNS fails or is empty', async () => {
    let answer: string[] | Error = ['10.0.0.1', '10.0.0.2'];
    const replicas = new TrackerReplicas({
      specs: ['dns+http://trackers:7000'],
      refreshMs: 60_000,
      resolve: async () => {
        if (answer instanceof Error) throw answer;
        return answer;
      },
    });
    await replicas.start();
    expect(replicas.list()).toEqual(['http://10.0.0.1:7000', 'http://10.0.0.2:7000']);
    answer = ['10.0.0.2', '10.0.0.3'];
    await replicas.refresh();
    expect(replicas.list()).toEqual(['http://10.0.0.2:7000', 'http://10.0.0.3:7000']);
    answer = new Error('SERVFAIL');
    await replicas.refresh();
    expect(replicas.list()).toEqual(['http://10.0.0.2:7000', 'http://10.0.0.3:7000']);
    answer = [];
    await replicas.refresh();
    expect(replicas.list()).toEqual(['http://10.0.0.2:7000', 'http://10.0.0.3:7000']);
    replicas.stop();
  });

  it('resolves a real name with the system resolver', async () => {
    const replicas = new TrackerReplicas({ specs: ['dns+http://localhost:7000'] });
    await replicas.start();
    expect(replicas.list()).toContain('http://127.0.0.1:7000');
    replicas.stop();
  });
});
