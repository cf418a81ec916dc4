/**
 * Capture state shared by the op layer and the backends while captureStep (step.ts) records a
 * step. Kept free of imports so tensor.ts, autograd.ts and random.ts can report into it.
 */

/** What a backend that can replay a recorded step provides (webgpu: backends/webgpu/capture.ts). */
export interface BackendCapture {
  /** Finish recording (after the step's work was submitted). */
  end(): void;
  /** Issue every recorded command again, in order. */
  replay(): void;
  /** Run `now` unrecorded; at each replay run `again` at this position instead. */
  live(now: () => void, again: () => void): void;
  /** Return every buffer the recording holds (idempotent). */
  dispose(): void;
}

export interface CaptureSession {
  /** Set when the backend records commands (null: eager fallback, only the checks run). */
  backend: BackendCapture | null;
  /** Whether host uploads (tensor() of host data) may be recorded and replayed as constants. */
  allowUploads: boolean;
  /** The first construct found that a replay would get wrong, with the stack where it happened. */
  failure: Error | null;
}

export const capture: { session: CaptureSession | null } = { session: null };

/**
 * Note that the step does something a replay cannot reproduce; captureStep throws it once the
 * captured function returns (throwing here would leave the step half done).
 */
export function captureFail(what: string): void {
  const s = capture.session;
  if (s && !s.failure) s.failure = new Error(`captureStep: ${what}`);
}

/** Host uploads are frozen at their captured contents; refused unless the caller allowed that. */
export function captureUpload(what: string): void {
  const s = capture.session;
  if (s && !s.allowUploads) {
    captureFail(`${what} uploads host data inside the captured step; a replay would reuse the captured values. ` +
      'Create inputs outside the step and write each step\'s data with assign() before run() ' +
      '(or pass { allowUploads: true } if the data is the same every step)');
  }
}

/**
 * Device work whose parameters come from host state that changes every step (the optimizer's
 * step count and learning rate): under capture, `again` reruns at its place in every replay.
 */
export function replayLive(now: () => void, again: () => void): void {
  const b = capture.session?.backend;
  if (b) b.live(now, again);
  else now();
}
