// CPU and memory of a process from /proc (Linux), so a spawned server's cost is measured apart
// from the load generator's, and the machine description that goes with every figure.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';

let clockTicksPerSecond: number | undefined;

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on nearly every Linux). */
function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/** The fields of /proc/<pid>/stat after the command name (which may contain spaces and parentheses). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Live processes whose parent is `pid`: node:cluster workers (authz-server `workers`), a loader's helper. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(Number(entry))[1]) === pid) children.push(Number(entry));
    } catch {
      // ended while we looked
    }
  }
  return children;
}

/**
 * User plus system CPU time of a process (all its threads) and of its live children, in
 * microseconds: a server running as a group of worker processes is measured whole.
 */
export function processCpuMicros(pid: number): number {
  const own = (id: number) => {
    const fields = statFields(id);
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond();
  };
  let total = own(pid);
  for (const child of childrenOf(pid)) {
    try {
      total += own(child);
    } catch {
      // ended while we looked
    }
  }
  return total;
}

/** CPU time of this process (the load generator), in microseconds. */
export function ownCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

export interface MemoryUsage {
  rssKiB: number;
  /** Peak resident set size since the process started (VmHWM). */
  peakRssKiB: number;
}

/** Memory of a process and its live children (summed: a worker group is measured whole). */
export function processMemory(pid: number): MemoryUsage {
  const one = (id: number) => {
    const status = readFileSync(`/proc/${id}/status`, 'utf8');
    const field = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssKiB: field('VmRSS'), peakRssKiB: field('VmHWM') };
  };
  const total = one(pid);
  for (const child of childrenOf(pid)) {
    try {
      const usage = one(child);
      total.rssKiB += usage.rssKiB;
      total.peakRssKiB += usage.peakRssKiB;
    } catch {
      // ended while we looked
    }
  }
  return total;
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  node: string;
  kernel: string;
  /** 1-minute load average when the benchmark started: a busy machine shows here. */
  loadAverage1m: number;
}

export function machineInfo(): MachineInfo {
  let cpuModel = 'unknown';
  try {
    cpuModel =
      /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux: the model stays unknown
  }
  return {
    nproc: availableParallelism(),
    cpuModel,
    node: process.version,
    kernel: release(),
    loadAverage1m: loadavg()[0]!,
  };
}
