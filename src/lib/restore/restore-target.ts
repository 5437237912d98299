import { randomBytes } from 'node:crypto';

/** What a target database name may be: it is passed to the pod's scripts as `$1` and used there as an identifier. */
export const TARGET_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A target name that does not match `TARGET_NAME`; names the value and what is allowed. */
export class InvalidTargetNameError extends Error {
  override readonly name = 'InvalidTargetNameError';
  constructor(readonly value: string) {
    super(
      `restore target ${JSON.stringify(value.slice(0, 80))} is not allowed: must match ${TARGET_NAME} (lowercase letters, digits, "_", at most 63 characters)`,
    );
  }
}

/** A new scratch database name, `ops_scratch_<12 hex>`: unique, valid everywhere, and recognisable as ours. */
export function newScratchTargetName(): string {
  return `ops_scratch_${randomBytes(6).toString('hex')}`;
}

/** True for names `newScratchTargetName` makes (so a drop can never be pointed at anything else). */
export function isScratchTargetName(name: string): boolean {
  return /^ops_scratch_[0-9a-f]{12}$/.test(name);
}

/**
 * The argv of one restore step: the recipe's fixed command with the target appended as one separate argument (`$1`
 * of `sh -c SCRIPT sh`), never glued into the script. Throws `InvalidTargetNameError` for any other name. Pure.
 */
export function buildStepCommand(command: readonly string[], target?: string): string[] {
  if (target === undefined) return [...command];
  if (!TARGET_NAME.test(target)) throw new InvalidTargetNameError(target);
  return [...command, target];
}
