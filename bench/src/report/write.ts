import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSvg } from './svg.ts';
import { renderText } from './text.ts';
import type { BenchReport } from './types.ts';

/** Where reports go by default: bench/results/ (ignored by git). */
export const RESULTS_DIR = fileURLToPath(new URL('../../results/', import.meta.url));

/** Writes report.json, report.txt and report.svg into `dir`; returns their paths. */
export async function writeReport(report: BenchReport, dir: string): Promise<{ json: string; text: string; svg: string }> {
  await mkdir(dir, { recursive: true });
  const paths = { json: join(dir, 'report.json'), text: join(dir, 'report.txt'), svg: join(dir, 'report.svg') };
  await writeFile(paths.json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(paths.text, renderText(report));
  await writeFile(paths.svg, renderSvg(report));
  return paths;
}
