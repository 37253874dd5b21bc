/**
 * `npm run codegen:check`: regenerates generated/ in place and fails if that changed anything,
 * in generated/ or elsewhere, i.e. if the committed output is stale or was edited by hand.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' });

function treeHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, entry.name);
      if (p === 'generated/dist') continue; // the client package's build output (npm run build:client), not codegen's
      if (entry.isDirectory()) walk(p);
      else hash.update(p).update('\0').update(readFileSync(p)).update('\0');
    }
  };
  walk(dir);
  return hash.digest('hex');
}

const statusBefore = git('status', '--porcelain', '--untracked-files=all');
const hashBefore = treeHash('generated');
// The runtime running this check runs the generator too (Deno reads `--import tsx` as running the file).
execFileSync(process.execPath, ['--import', 'tsx', 'codegen/run.ts'], { stdio: 'inherit' });
const statusAfter = git('status', '--porcelain', '--untracked-files=all');
const hashAfter = treeHash('generated');

if (statusBefore !== statusAfter || hashBefore !== hashAfter) {
  console.error('codegen:check failed: regenerating from openapi.json changed the tree.');
  console.error(git('status', '--short', '--untracked-files=all', '--', 'generated'));
  console.error('Run `npm run codegen` and commit openapi.json together with generated/.');
  process.exit(1);
}
console.log('codegen:check ok: generated/ is what openapi.json produces.');
