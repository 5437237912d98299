import { Writable } from 'node:stream';
import type { V1Status } from '@kubernetes/client-node';
import { ExecFailedError, lastLine, type ExecDirection, type ExecLocation } from './exec-errors.ts';
import type { StderrTail } from '../shared/index.ts';

/**
 * What exports and imports read from an exec the same way: its output channels and its exit status.
 */

/** 1000 when the server closes first; 1005 (no code in the close frame) is also a clean close. */
export const CLEAN_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1005]);

/**
 * The stdout and stderr writables handed to client-node: stdout chunks go to `onStdout` (called synchronously, even
 * before `exec()` resolves), stderr into the bounded tail. client-node ends both itself when the status arrives, which
 * is why a caller's own stream is never passed directly; a frame after that must not become an unhandled error.
 */
export function createExecOutputs(
  onStdout: (chunk: Buffer) => void,
  stderrTail: StderrTail,
): { stdout: Writable; stderr: Writable } {
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      onStdout(chunk);
      done();
    },
  });
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, done) {
      stderrTail.push(chunk);
      done();
    },
  });
  const ignoreFrameAfterStatus = () => {};
  stdout.on('error', ignoreFrameAfterStatus);
  stderr.on('error', ignoreFrameAfterStatus);
  return { stdout, stderr };
}

/** The exit code in a NonZeroExitCode status (`details.causes[{ reason: 'ExitCode', message: '2' }]`), else null. */
export function exitCodeOf(status: V1Status): number | null {
  const cause = status.details?.causes?.find((candidate) => candidate.reason === 'ExitCode');
  const exitCode = Number.parseInt(cause?.message ?? '', 10);
  return Number.isNaN(exitCode) ? null : exitCode;
}

/**
 * The error of a Failure status: its exit code and a one-line reason, the last line of stderr, or, without an exit
 * code (the command never ran, e.g. executable not found), what the status says.
 */
export function toExecFailedError(
  direction: ExecDirection,
  location: ExecLocation,
  status: V1Status,
  stderrTail: string,
  redact: (text: string) => string,
): ExecFailedError {
  const exitCode = exitCodeOf(status);
  const detail =
    exitCode === null ? redact(status.message ?? status.reason ?? 'no reason given') : lastLine(stderrTail);
  return new ExecFailedError(direction, location, exitCode, stderrTail, detail);
}
