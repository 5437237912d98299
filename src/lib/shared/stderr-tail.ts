/**
 * The end of a command's stderr in bounded memory: a dump may print megabytes of warnings, but only the last lines say
 * why it failed. Secrets are redacted when the tail is read; the window is kept larger than the result so that a
 * secret cut at the window's start is dropped with its partial line instead of slipping past the redaction.
 */
export interface StderrTail {
  push(chunk: Buffer): void;
  /** The last `maxLines` lines (at most `maxChars` characters), redacted. */
  read(redact: (text: string) => string): string;
}

export const STDERR_TAIL_LINES = 20;
export const STDERR_TAIL_CHARS = 4 * 1024;
const WINDOW_BYTES = 16 * 1024;

export function createStderrTail(
  options: { maxLines: number; maxChars: number } = { maxLines: STDERR_TAIL_LINES, maxChars: STDERR_TAIL_CHARS },
): StderrTail {
  let window = Buffer.alloc(0);
  let truncated = false;
  return {
    push(chunk) {
      window = Buffer.concat([window, chunk]);
      if (window.length > WINDOW_BYTES) {
        window = window.subarray(window.length - WINDOW_BYTES);
        truncated = true;
      }
    },
    read(redact) {
      let text = window.toString('utf8');
      if (truncated) {
        // The first line is partial (and may hold the end of a secret whose start was dropped): skip it.
        const newline = text.indexOf('\n');
        text = newline >= 0 ? text.slice(newline + 1) : text.slice(Math.floor(text.length / 2));
      }
      const lines = redact(text).replace(/\s+$/, '').split('\n').slice(-options.maxLines);
      const tail = lines.join('\n');
      return tail.length > options.maxChars ? tail.slice(tail.length - options.maxChars) : tail;
    },
  };
}
