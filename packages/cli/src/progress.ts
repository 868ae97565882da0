/**
 * A one-line progress bar on a terminal (stderr), redrawn at most ten times a second.
 * Silent when stderr is not a terminal, so logs and CI output stay clean.
 */
export class ProgressBar {
  readonly #label: string;
  #total: number;
  readonly #stream = process.stderr;
  readonly #enabled: boolean;
  readonly #started = performance.now();
  #done = 0;
  #lastDraw = 0;

  constructor(label: string, total: number, enabled = process.stderr.isTTY === true) {
    this.#label = label;
    this.#total = total;
    this.#enabled = enabled;
  }

  add(bytes: number): void {
    this.#done += bytes;
    const now = performance.now();
    if (now - this.#lastDraw >= 100) {
      this.#lastDraw = now;
      this.#draw();
    }
  }

  /** Sets the bytes done (and the total, when it became known or grew). */
  update(done: number, total = this.#total): void {
    this.#total = total;
    this.add(done - this.#done);
  }

  finish(): void {
    this.#draw();
    if (this.#enabled) this.#stream.write('\n');
  }

  #draw(): void {
    if (!this.#enabled) return;
    const width = 30;
    const fraction = this.#total > 0 ? Math.min(1, this.#done / this.#total) : 1;
    const filled = Math.round(fraction * width);
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : 0;
    const line =
      `${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` +
      `${(fraction * 100).toFixed(1)}% ${formatBytes(this.#done)}/${formatBytes(this.#total)} ${formatBytes(rate)}/s`;
    this.#stream.write(`\r${line}\x1b[K`);
  }
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
