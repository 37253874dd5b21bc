/**
 * `npm run bench:readme`: writes bench/README.md from bench/method.md and the newest results file,
 * running nothing (every bench run that writes a results file does the same).
 */
import { readFlags } from './lib/cli.ts';
import { writeReadme } from './results.ts';

readFlags(process.argv.slice(2), {}, 'usage: npm run bench:readme   (writes bench/README.md from bench/method.md and the newest bench/results/<date>.json)');
console.log(`wrote ${writeReadme()}`);
