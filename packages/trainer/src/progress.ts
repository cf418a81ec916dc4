/**
 * Training progress on stderr: a single redrawn bar when stderr is a terminal, plain log lines
 * otherwise (CI logs, files).
 */

export interface ProgressUpdate {
  step: number;
  totalSteps: number;
  epoch: number;
  /** LM (cross-entropy) loss of the last step (NaN when skipped). */
  loss: number;
  /** Real (non-padding) tokens per second since the start of this run (or resume). */
  tokensPerSec: number;
  samplesPerSec: number;
  /** Seconds since the start of this run (or resume). */
  elapsed: number;
  lr: number;
}

export interface ProgressReporter {
  update(u: ProgressUpdate): void;
  /** A message on its own line (the bar is redrawn below it). */
  log(message: string): void;
  done(): void;
}

export interface ProgressOptions {
  /** Where to write (default process.stderr). */
  stream?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Force the bar (true) or plain lines (false); default: bar when the stream is a TTY. */
  tty?: boolean;
  /** Plain mode: print one line every this many steps (default 10; the first and last always print). */
  logEvery?: number;
  label?: string;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(ss)}` : `${two(m)}:${two(ss)}`;
}

function eta(u: ProgressUpdate, startStep: number): number {
  const done = u.step - startStep;
  if (done <= 0) return NaN;
  return (u.elapsed / done) * (u.totalSteps - u.step);
}

export function createProgress(opts: ProgressOptions = {}): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? !!stream.isTTY;
  const every = Math.max(1, opts.logEvery ?? 10);
  const label = opts.label ? `${opts.label} ` : '';
  let startStep: number | null = null;
  let last = '';
  let drawn = false;
  const line = (u: ProgressUpdate) =>
    `step ${u.step}/${u.totalSteps} epoch ${u.epoch + 1} loss ${Number.isFinite(u.loss) ? u.loss.toFixed(4) : String(u.loss)} ` +
    `lr ${u.lr.toExponential(2)} ${u.tokensPerSec.toFixed(0)} tok/s ${u.samplesPerSec.toFixed(2)} samples/s ` +
    `elapsed ${formatDuration(u.elapsed)} eta ${formatDuration(eta(u, startStep ?? 0))}`;
  return {
    update(u) {
      if (startStep === null) startStep = u.step - 1;
      if (tty) {
        const width = Math.max(10, Math.min(30, (stream.columns ?? 100) - 110));
        const frac = u.totalSteps > 0 ? Math.min(1, u.step / u.totalSteps) : 0;
        const fill = Math.round(frac * width);
        last = `\r${label}[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${line(u)}\x1b[K`;
        stream.write(last);
        drawn = true;
      } else if (u.step === startStep + 1 || u.step % every === 0 || u.step === u.totalSteps) {
        stream.write(`${label}${line(u)}\n`);
      }
    },
    log(message) {
      if (tty && drawn) stream.write(`\r\x1b[K${message}\n${last}`);
      else stream.write(`${message}\n`);
    },
    done() {
      if (tty && drawn) stream.write('\n');
      drawn = false;
    },
  };
}

/** A reporter that prints nothing. */
export const silentProgress: ProgressReporter = { update() {}, log() {}, done() {} };
