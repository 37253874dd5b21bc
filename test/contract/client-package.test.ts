import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

// The typed client as a consumer gets it: packed, installed into a project of its own, and run by
// the runtime the suite runs on (Node 20 and 24 under npm test, Deno when CI runs the suite on Deno).
const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
let gw: TestGateway;
let scratch: string;
let packed: { name: string; version: string; filename: string; files: { path: string }[] };

/** Runs an ES module placed in `dir` with the runtime running this suite; returns its JSON output. */
async function runModule(dir: string, source: string): Promise<unknown> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, `program-${process.pid}-${Date.now()}.mjs`);
  await writeFile(file, source);
  try {
    const { stdout } = await run(process.execPath, [file], { cwd: dir });
    return JSON.parse(stdout);
  } finally {
    await rm(file, { force: true });
  }
}

const callAdminApi = (from: string) => `
  import { client, createClient, getUsageSummary, listBudgets } from '${from}';
  client.setConfig({ baseUrl: ${JSON.stringify(gw.url)}, auth: 'k-123' });
  const summary = await getUsageSummary({ query: { days: 7 } });
  // a client of its own, passed per call
  const other = createClient({ baseUrl: ${JSON.stringify(gw.url)}, auth: 'k-123' });
  const budgets = await listBudgets({ client: other, headers: { 'X-Request-ID': 'per-call' } });
  const runtime = typeof Deno === 'object' ? 'deno' : 'node';
  console.log(JSON.stringify({ runtime, summary: [summary.response.status, summary.data], budgets: [budgets.response.status, budgets.data] }));`;
const runtime = 'Deno' in globalThis ? 'deno' : 'node';

beforeAll(async () => {
  gw = await startTestGateway({ GOMODEL_MASTER_KEY: 'k-123' });
  scratch = await mkdtemp(join(tmpdir(), 'gomodel-client-'));
  const { stdout } = await run('npm', ['run', '-s', 'pack:client', '--', '--json', '--pack-destination', scratch], { cwd: root });
  packed = (JSON.parse(stdout) as (typeof packed)[])[0]!;
  await writeFile(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // The tarball has no dependencies: it installs without the network.
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(scratch, packed.filename)], { cwd: scratch });
}, 120_000);
afterAll(async () => {
  await gw.stop();
  await rm(scratch, { recursive: true, force: true });
});

it('packs @gomodel-ts/client as compiled ESM with types and nothing else, versioned with openapi.json', async () => {
  const { default: spec } = await import('../../openapi.json', { with: { type: 'json' } });
  expect(packed.name).toBe('@gomodel-ts/client');
  expect(packed.version).toBe(spec.info.version.split('.').concat('0', '0').slice(0, 3).join('.'));
  const stray = packed.files.map((f) => f.path).filter((p) => p !== 'package.json' && !/^dist\/[\w/.-]+\.(js|d\.ts)$/.test(p));
  expect(stray).toEqual([]);
  expect(packed.files.map((f) => f.path)).toEqual(expect.arrayContaining(['dist/entry.gen.js', 'dist/entry.gen.d.ts']));
});

it('installs alone: the project gets the client and no dependency', async () => {
  expect((await readdir(join(scratch, 'node_modules'))).filter((d) => d !== '.package-lock.json')).toEqual(['@gomodel-ts']);
  expect(await readdir(join(scratch, 'node_modules', '@gomodel-ts'))).toEqual(['client']);
});

it('calls the admin API through the installed package, with the default client and a per-call one', async () => {
  expect(await runModule(scratch, callAdminApi('@gomodel-ts/client'))).toMatchObject({
    runtime,
    summary: [200, { total_requests: 0, total_cost: null }],
    budgets: [200, { budgets: [] }],
  });
});

it('ships the same client as the server package’s root and gomodel-ts/client, and no build leftovers', async () => {
  await run('npm', ['run', '-s', 'build:server'], { cwd: root });
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
  const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  expect(files.filter((p) => p.endsWith('.tsbuildinfo') || p.startsWith('generated/dist/'))).toEqual([]);
  expect(files).toEqual(expect.arrayContaining(['dist/generated/entry.gen.js', 'dist/generated/entry.gen.d.ts']));
  // Inside the package (test/artifacts/ is ignored), so 'gomodel-ts' is a self-reference through its exports.
  const inPackage = join(root, 'test', 'artifacts');
  const sameModule = `import * as root from 'gomodel-ts'; import * as sub from 'gomodel-ts/client';
    console.log(JSON.stringify(root.getUsageSummary === sub.getUsageSummary));`;
  expect(await runModule(inPackage, sameModule)).toBe(true);
  expect(await runModule(inPackage, callAdminApi('gomodel-ts'))).toMatchObject({ runtime, summary: [200, { total_requests: 0 }], budgets: [200, {}] });
});
