import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Builds the dashboard from the current sources before any gateway starts (a gateway reads the build once, at start-up). */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(join(root, 'node_modules/.bin/tsx'), ['dashboard/build.ts'], { cwd: root, stdio: 'inherit' });
}
