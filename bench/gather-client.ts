/**
 * One state gathering in a process of its own, started by `npm run bench:cycle` the way the worker image starts node
 * (Dockerfile.worker's NODE_OPTIONS and node flags: a young generation of 2 MiB semi-spaces, where the bench's own
 * process has V8's defaults). Argument: the URL of a seeded bench database. Prints the timed passes as bench:cycle
 * does, then the result as one JSON line after `RESULT_PREFIX`.
 */
import { benchGather, countingClient, RESULT_PREFIX } from './gather-timing.ts';

async function main(): Promise<void> {
  const [url, label] = process.argv.slice(2);
  if (!url || !label) throw new Error('usage: gather-client.ts <database URL> <label>');
  const client = countingClient(url);
  try {
    const result = await benchGather(client, label);
    console.log(`${RESULT_PREFIX}${JSON.stringify(result)}`);
  } finally {
    await client.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
