import type { ProviderHealthBook } from '../../providers/breaker.ts';
import type { ProviderEntry, ProviderRegistry } from '../../providers/registry.ts';
import type { Handler } from '../context.ts';

type Status = 'healthy' | 'degraded' | 'unhealthy';

const labels: Record<Status, string> = { healthy: 'Healthy', degraded: 'Degraded', unhealthy: 'Unhealthy' };

const iso = (ms: number) => (ms ? new Date(ms).toISOString() : null);

/** A base URL as it may be shown: no user information, query or fragment, which may carry credentials. */
function sanitizedUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '';
  }
}

/** GET /admin/providers/status: every provider's health as this process sees it (breakers, errors, latencies). */
export function providersStatusHandlers(deps: { registry: ProviderRegistry; health: ProviderHealthBook }) {
  function statusOf(e: ProviderEntry, now: number) {
    const h = deps.health.get(e.config.name);
    const breakers = h?.views(now) ?? [];
    const open = breakers.filter((b) => b.state !== 'closed');
    const failingNow = h !== undefined && h.lastErrorAt > h.lastSuccessAt;
    let status: Status = 'healthy';
    let reason = 'answering';
    if (open.length && failingNow) {
      status = 'unhealthy';
      reason = `circuit breaker open for ${open.map((b) => b.model).join(', ')}; no successful request since ${iso(h!.lastErrorAt)}`;
    } else if (open.length) {
      status = 'degraded';
      reason = `circuit breaker open for ${open.map((b) => b.model).join(', ')}`;
    } else if (failingNow) {
      status = 'degraded';
      reason = 'its last request failed';
    } else if (e.listError) {
      status = 'degraded';
      reason = `its model list could not be fetched (${e.listError})`;
    } else if (!h) reason = 'no request sent yet';
    return {
      name: e.config.name,
      type: e.config.type,
      status,
      status_label: labels[status],
      status_reason: reason,
      last_error: h?.lastError ?? '',
      config: {
        base_url: sanitizedUrl(e.config.baseUrl),
        api_key_configured: e.config.apiKey !== '',
        configured_models: e.config.models.length,
      },
      runtime: {
        models: e.models.size,
        accepts_any_model: e.open,
        models_listed_at: iso(e.listedAt),
        model_list_error: e.listError ?? '',
        successes: h?.successes ?? 0,
        failures: h?.failures ?? 0,
        last_success_at: iso(h?.lastSuccessAt ?? 0),
        last_error_at: iso(h?.lastErrorAt ?? 0),
        latency_ms: h?.percentiles() ?? null,
        breakers,
      },
    };
  }

  const getProvidersStatus: Handler = async () => {
    const now = Date.now();
    const providers = deps.registry.entries.map((e) => statusOf(e, now));
    const count = (s: Status) => providers.filter((p) => p.status === s).length;
    const summary = { total: providers.length, healthy: count('healthy'), degraded: count('degraded'), unhealthy: count('unhealthy'), overall_status: 'healthy' as Status };
    if (summary.total > 0 && summary.unhealthy === summary.total) summary.overall_status = 'unhealthy';
    else if (summary.healthy < summary.total) summary.overall_status = 'degraded';
    return { body: { summary, providers } };
  };

  return { getProvidersStatus } satisfies Record<string, Handler>;
}
