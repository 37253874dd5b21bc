import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { expect, it } from 'vitest';

/**
 * The layers of src/, lowest first: a module may import its own layer or a lower one, never a
 * higher one (http → budgets → usage → ingress → providers → db/config → shared). budgets and usage
 * are one level in the guide; within it budgets use usage's money, dates and prices, so usage never
 * imports budgets. ingress translates the Responses and Messages APIs to and from the internal shape
 * the providers speak, so it sits just above them. providers/types.ts is the vocabulary the layers
 * share (house style), so it sits at the bottom.
 */
const layers: [name: string, owns: (path: string) => boolean][] = [
  ['shared', (p) => ['src/errors.ts', 'src/log.ts', 'src/redact.ts', 'src/deadline.ts', 'src/env.ts', 'src/user-path.ts', 'src/providers/types.ts', 'openapi.json'].includes(p) || p.startsWith('generated/')],
  ['db/config', (p) => p === 'src/config.ts' || p === 'src/virtual-model-definition.ts' || p.startsWith('src/db/')],
  ['providers', (p) => p.startsWith('src/providers/')],
  ['ingress', (p) => p.startsWith('src/ingress/')],
  ['usage', (p) => p.startsWith('src/usage/')],
  // Managed keys, rate limits, failover rules and the response cache decide, as budgets do, whether
  // and where a request may go on; provider credentials, like keys, are admin state kept in step
  // across replicas.
  ['budgets', (p) => p.startsWith('src/budgets/') || p.startsWith('src/cache/') || p.startsWith('src/keys/') || p.startsWith('src/ratelimits/') || p.startsWith('src/failover/') || p.startsWith('src/credentials/')],
  // Virtual models decide which model a request reaches, and whether its caller may use it; the
  // cost strategy reads usage's prices.
  ['routing', (p) => p.startsWith('src/routing/')],
  ['http', (p) => p === 'src/metrics.ts' || p.startsWith('src/http/')],
  ['composition', (p) => ['src/main.ts', 'src/help.ts', 'src/app.ts', 'src/migrate-cli.ts'].includes(p)],
];

const root = new URL('../', import.meta.url).pathname;
const levelOf = (path: string): number => layers.findIndex(([, owns]) => owns(path));
const layerName = (path: string): string => layers[levelOf(path)]?.[0] ?? 'no layer';

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative specifiers of static imports, re-exports and dynamic imports, resolved from the repository root. */
function importsOf(path: string): string[] {
  const text = readFileSync(join(root, path), 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s*)['"](\.[^'"]+)['"]/gm)].map((m) => m[1]!);
  return specifiers.map((s) => relative(root, join(root, dirname(path), s)));
}

it('gives every module of src/ a layer', () => {
  expect(sources('src').filter((p) => levelOf(p) < 0)).toEqual([]);
});

it('has no module import a layer above its own, or anything outside the layers', () => {
  const upward = sources('src').flatMap((path) =>
    importsOf(path)
      .filter((target) => levelOf(target) < 0 || levelOf(target) > levelOf(path))
      .map((target) => `${path} (${layerName(path)}) imports ${target} (${layerName(target)})`),
  );
  expect(upward).toEqual([]);
});

it('reads the imports the check relies on', () => {
  // Guards the parser itself: modules known to import across layers must show those imports.
  expect(importsOf('src/app.ts')).toEqual(expect.arrayContaining(['src/budgets/guard.ts', 'src/http/server.ts', 'src/usage/recorder.ts']));
  expect(importsOf('src/http/server.ts')).toEqual(expect.arrayContaining(['openapi.json', 'generated/operations.gen.ts']));
});
