// Stops `npm ci`, `npm test` and `npm run demo` with one line naming the fix when this Node.js is older than
// package.json's engines.node, instead of npm's engine warnings or a dependency crashing further on.
// Plain JavaScript that old Node.js releases still parse.
import { readFileSync } from 'node:fs';

const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const required = Number(/^>=\s*(\d+)/.exec(engines.node)[1]);
const current = Number(process.version.slice(1).split('.')[0]);
if (current < required) {
  console.error(
    `This project needs Node.js ${required} or newer; this is Node.js ${process.version}. ` +
      `Put Node.js ${required} first on PATH with: export PATH="$(bash scripts/node24.sh):$PATH" ` +
      `(it installs Node.js ${required} from npm into .node24/ when needed), then run the command again.`,
  );
  process.exit(1);
}
