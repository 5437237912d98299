import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { PrismaClient } from '../../generated/prisma/client.ts';

/** One thing `/readyz` checks; `run` resolves when it is fine and throws (with a message saying why) when not. */
export interface ReadinessCheck {
  name: string;
  run(): Promise<void>;
}

/** The platform database answers a query. */
export function databaseCheck(db: PrismaClient): ReadinessCheck {
  return {
    name: 'database',
    async run() {
      await db.$queryRaw`SELECT 1`;
    },
  };
}

/**
 * The backup volume takes a write: a small hidden file is created, written, fsynced and removed. Catches a volume
 * that is mounted read-only, full, or hanging (the check's timeout), which `access(W_OK)` does not.
 */
export function volumeWritableCheck(root: string): ReadinessCheck {
  return {
    name: 'volume',
    async run() {
      const probe = path.join(root, `.readyz-${process.pid}-${randomBytes(4).toString('hex')}`);
      const file = await open(probe, 'wx');
      try {
        await file.writeFile('ready\n');
        await file.sync();
      } finally {
        await file.close();
        await unlink(probe).catch(() => undefined);
      }
    },
  };
}
