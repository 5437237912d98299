/**
 * Pinning for information runs: this process (the fake API server hosted in it, every thread, and the pod's commands
 * it spawns later, which inherit its affinity) on one CPU, and a client on another, so that the client's CPU does not
 * come out of the server's. With `taskset` (util-linux); where it is missing or there are fewer than two CPUs to use,
 * `cpuPinning` returns the reason instead.
 */
import { execFileSync } from 'node:child_process';

export interface CpuPinning {
  serverCpu: number;
  clientCpu: number;
  /** The argv prefix that runs a client on `clientCpu`. */
  clientPrefix: string[];
  /** Puts this process (all its threads) on `serverCpu` until `restore`. */
  pinServer(): void;
  /** Gives this process back the CPUs it had. */
  restore(): void;
}

/** The CPUs this process may run on, as `taskset -c -p` lists them ("0-3,6"). */
function parseCpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [from, to] = part.split('-').map(Number);
    if (to === undefined) return [from!];
    return Array.from({ length: to - from! + 1 }, (_, index) => from! + index);
  });
}

/** This process's CPU list as `taskset -c -p` prints it, or undefined when the answer does not parse. */
function currentCpuList(): string | undefined {
  const listed = execFileSync('taskset', ['-c', '-p', String(process.pid)], { encoding: 'utf8' });
  return /:\s*([\d,-]+)\s*$/.exec(listed.trim())?.[1];
}

export function cpuPinning(): CpuPinning | string {
  let list: string | undefined;
  try {
    list = currentCpuList();
  } catch (error) {
    return `taskset is not available (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
  }
  if (!list) return "could not read this process's CPUs from taskset";
  const cpus = parseCpuList(list);
  if (cpus.length < 2) return `only CPU ${list} is available to this process`;
  const [serverCpu, clientCpu] = cpus as [number, number];
  const setAll = (cpuList: string) =>
    execFileSync('taskset', ['-a', '-c', '-p', cpuList, String(process.pid)], { stdio: 'ignore' });
  return {
    serverCpu,
    clientCpu,
    clientPrefix: ['taskset', '-c', String(clientCpu)],
    pinServer: () => setAll(String(serverCpu)),
    restore: () => {
      setAll(list);
      const now = currentCpuList();
      if (now !== list) throw new Error(`backup bench: CPUs ${list} not given back to this process (it has ${now})`);
    },
  };
}
