/**
 * Bundles the dashboard into dist/dashboard/: one script and one stylesheet named by content hash
 * (so the gateway can serve them as immutable) and index.html pointing at them.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = join(root, 'dist/dashboard');
const base = '/admin/dashboard/';

await rm(outdir, { recursive: true, force: true });
const { metafile } = await build({
  absWorkingDir: root,
  entryPoints: ['dashboard/main.ts', 'dashboard/styles.css'],
  entryNames: '[name]-[hash]',
  outdir,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.entries(metafile.outputs);
const outputOf = (entryPoint: string) => {
  const found = outputs.find(([, out]) => out.entryPoint === entryPoint);
  if (!found) throw new Error(`esbuild produced nothing for ${entryPoint}`);
  return base + basename(found[0]);
};

const template = await readFile(join(root, 'dashboard/index.html'), 'utf8');
const page = template.replace('{{script}}', outputOf('dashboard/main.ts')).replace('{{style}}', outputOf('dashboard/styles.css'));
await writeFile(join(outdir, 'index.html'), page);

for (const [file, out] of outputs) console.log(`${basename(file).padEnd(24)} ${(out.bytes / 1024).toFixed(1)} KiB`);
