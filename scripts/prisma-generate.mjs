// Runs `prisma generate` with the schema engine pointed at a committed stub: the real engine binary cannot be
// downloaded on every machine, and generation does not need it (see README, "Migrations").
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(root, 'prisma', 'schema-engine-stub.sh');
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
const result = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules', 'prisma', 'build', 'index.js'), 'generate'],
  {
    cwd: root,
    env,
    stdio: 'inherit',
  },
);
process.exit(result.status ?? 1);
