import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Results } from '../../bench/record.ts';
import { processorClass, renderReadme } from '../../bench/readme.ts';
import { newestResultsFile, readmeText } from '../../bench/results.ts';

const bench = new URL('../../bench/', import.meta.url).pathname;
const newest = () => JSON.parse(readFileSync(join(bench, 'results', newestResultsFile()!), 'utf8')) as Results;

describe('bench/README.md', () => {
  it('is what `npm run bench:readme` makes from bench/method.md and the newest results file (regenerate it, do not edit it)', () => {
    expect(readFileSync(join(bench, 'README.md'), 'utf8')).toBe(readmeText());
  });

  it('keeps history out: no commit, time of day or processor model of the results file', () => {
    const readme = readmeText();
    const r = newest();
    for (const phase of [r.proxy, r.ingest, r.analytics]) {
      if (!phase) continue;
      expect(readme).not.toContain(phase.commit.split(' ')[0]);
      expect(readme).not.toContain(phase.measuredAt.slice(11, 16));
    }
    // The class is shown by design; a host that reports no more than its class has no model to hide.
    if (processorClass(r.machine.cpu) !== r.machine.cpu) expect(readme).not.toContain(r.machine.cpu);
    expect(readme).not.toMatch(/\bUTC\b/);
  });

  it('is made from the newest results file of a full run, quick runs left out', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gomodel-results-'));
    try {
      for (const name of ['2026-11-30.json', '2026-12-02.json', '2026-12-01.json', '2026-12-03-quick.json', '2026-12-04.md']) writeFileSync(join(dir, name), '{}');
      expect(newestResultsFile(dir)).toBe('2026-12-02.json');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('puts the gateway under each runtime side by side, each throughput as a share of the one bare proxy', () => {
    const r = newest();
    const rows = r.proxy!.figures;
    const bare = rows.find((t) => t.id === 'bare')!;
    const gw = rows.find((t) => t.id === 'gomodel')!;
    // Node 24's rounds at half the bare proxy's rate, Deno's at its rate: 50% and 100%.
    const at = (share: number) => bare.rounds!.map((x) => ({ ...x, c16Rps: x.c16Rps * share, c128Rps: x.c128Rps * share }));
    const runtimes = [
      { runtime: { id: 'node24', name: 'Node 24.22.3' }, rounds: at(0.5) },
      { runtime: { id: 'deno', name: 'Deno 2.9.6' }, rounds: at(1) },
    ];
    r.proxy!.figures = [...rows.filter((t) => !t.id.startsWith('gomodel')), ...runtimes.map((x) => ({ ...gw, ...x, label: `gomodel-ts, ${x.runtime.name}` }))];
    const readme = renderReadme(r, 'results/x.json', '# Benchmarks');
    expect(readme).toContain('| target | Node 24.22.3 | Deno 2.9.6 |');
    expect(readme).toContain('| peak throughput ≥ 60% of the bare proxy | 50% (**miss**) | 100% (pass) |');
    expect(readme).toMatch(/\| gomodel-ts, Node 24\.22\.3 \| 50% \|/);
    expect(readme).toMatch(/\| gomodel-ts, Deno 2\.9\.6 \| 100% \|/);
  });

  it('names a processor by its class', () => {
    expect(processorClass('Intel(R) Xeon(R) Processor')).toBe('Intel Xeon');
    expect(processorClass('AMD EPYC 7B13 64-Core Processor')).toBe('AMD EPYC');
    expect(processorClass('Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz')).toBe('Intel Xeon Platinum');
  });
});
