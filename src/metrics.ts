import type { RecorderStats } from './usage/recorder.ts';

/** Called when a request ends, with the status sent to the client. */
export type RequestDone = (status: number) => void;

export interface Metrics {
  /** Starts timing a proxied request; the returned function ends it. */
  request(provider: string, model: string, endpoint: string, stream: boolean): RequestDone;
  /** A request moved from one provider's model to another's. */
  failover(fromProvider: string, toProvider: string): void;
  readonly contentType: string;
  render(): Promise<string>;
}

const noop: RequestDone = () => {};

export const disabledMetrics: Metrics = { request: () => noop, failover: () => {}, contentType: 'text/plain', render: async () => '' };

/** A circuit breaker that is not closed and clean: 1 open, 2 half open (0 once it closes again). */
export interface BreakerSample {
  provider: string;
  /** A listed or configured model, else `other`, as for the request metrics. */
  model: string;
  state: number;
}

/**
 * Prometheus metrics: requests, latency, in-flight requests and the usage queue (prom-client,
 * loaded only when metrics are enabled).
 */
export async function createMetrics(usage: () => RecorderStats, breakers: () => Iterable<BreakerSample> = () => []): Promise<Metrics> {
  const { default: client } = await import('prom-client');
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'gomodel_' });
  const requests = new client.Counter({
    name: 'gomodel_requests_total',
    help: 'Proxied requests by provider, model, endpoint, status code and streaming.',
    labelNames: ['provider', 'model', 'endpoint', 'status_code', 'stream'],
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'gomodel_request_duration_seconds',
    help: 'Time from receiving a proxied request to the end of its response.',
    labelNames: ['provider', 'model', 'endpoint', 'stream'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const inFlight = new client.Gauge({
    name: 'gomodel_requests_in_flight',
    help: 'Proxied requests in progress.',
    labelNames: ['provider', 'endpoint', 'stream'],
    registers: [registry],
  });
  new client.Gauge({
    name: 'gomodel_usage_queue_depth',
    help: 'Usage rows held in memory for the database writers (all of them are in the journal too).',
    registers: [registry],
    collect() {
      this.set(usage().queued);
    },
  });
  new client.Gauge({
    name: 'gomodel_usage_database_down',
    help: '1 while the usage database is unreachable (rows wait in the journal).',
    registers: [registry],
    collect() {
      this.set(usage().databaseDown ? 1 : 0);
    },
  });
  const failovers = new client.Counter({
    name: 'gomodel_failovers_total',
    help: 'Requests that moved on to a fallback model, by the provider given up and the provider tried next.',
    labelNames: ['from_provider', 'to_provider'],
    registers: [registry],
  });
  /** Breakers seen open since start, so a closed one reports 0 rather than vanishing. */
  const seen = new Set<string>();
  new client.Gauge({
    name: 'gomodel_circuit_breaker_state',
    help: 'Circuit breaker of each provider and model this process has seen fail: 0 closed, 1 open, 2 half open.',
    labelNames: ['provider', 'model'],
    registers: [registry],
    collect() {
      const now = new Map<string, BreakerSample>();
      for (const b of breakers()) {
        const key = `${b.provider}\0${b.model}`;
        // Unlisted models share the `other` series: it shows the worst of them.
        if ((now.get(key)?.state ?? -1) < b.state) now.set(key, b);
      }
      for (const key of seen) if (!now.has(key)) this.set({ provider: key.split('\0')[0]!, model: key.split('\0')[1]! }, 0);
      for (const [key, b] of now) {
        seen.add(key);
        this.set({ provider: b.provider, model: b.model }, b.state);
      }
    },
  });
  const counters: [keyof RecorderStats, string][] = [
    ['recorded', 'Usage rows produced.'],
    ['written', 'Usage rows written to the database from memory.'],
    ['spilled', 'Usage rows that left memory before the database took them (buffer full, database down): they wait only in the journal.'],
    ['replayed', 'Usage rows written to the database from journal files read back.'],
    ['rejected', 'Usage rows the database refused as invalid.'],
    ['lost', 'Usage rows lost because the journal could not be written while memory did not hold them.'],
  ];
  for (const [key, help] of counters) {
    let last = 0;
    new client.Counter({
      name: `gomodel_usage_rows_${key}_total`,
      help,
      registers: [registry],
      collect() {
        const now = usage()[key] as number;
        if (now > last) this.inc(now - last);
        last = now;
      },
    });
  }

  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    failover(fromProvider, toProvider) {
      failovers.inc({ from_provider: fromProvider, to_provider: toProvider });
    },
    request(provider, model, endpoint, stream) {
      const s = stream ? 'true' : 'false';
      const started = performance.now();
      inFlight.inc({ provider, endpoint, stream: s });
      return (status) => {
        inFlight.dec({ provider, endpoint, stream: s });
        requests.inc({ provider, model, endpoint, status_code: String(status), stream: s });
        duration.observe({ provider, model, endpoint, stream: s }, (performance.now() - started) / 1000);
      };
    },
  };
}
