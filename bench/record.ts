/** The shape of a results file, bench/results/<date>.json: what the bench writes and the reports render. */
import type { AnalyticsResult } from './analytics/run.ts';
import type { IngestResult } from './ingest/run.ts';
import type { Machine } from './lib/machine.ts';
import type { CacheResult } from './proxy/cache.ts';
import type { FailoverResult } from './proxy/failover.ts';
import type { TargetResult } from './proxy/run.ts';

/** One phase's figures with the conditions they were measured under. */
export interface PhaseRecord<T> {
  measuredAt: string;
  /** The gateway's commit when the phase ran (phases of one report may come from separate runs). */
  commit: string;
  /** The machine's processor when the phase ran (a day's report can join runs on different hosts). */
  cpu?: string;
  command: string;
  quick: boolean;
  loadAverage: { before: number[]; after: number[] };
  figures: T;
}

export interface Results {
  machine: Machine;
  proxy?: PhaseRecord<TargetResult[]>;
  /** Time to fail over, measured after the proxy targets. */
  failover?: PhaseRecord<FailoverResult>;
  /** The response cache's hit path against a proxied request, measured after the proxy targets. */
  cache?: PhaseRecord<CacheResult>;
  analytics?: PhaseRecord<AnalyticsResult>;
  ingest?: PhaseRecord<IngestResult>;
}
