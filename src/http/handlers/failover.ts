import { GatewayError, invalidRequest, notFound } from '../../errors.ts';
import type { FailoverRules } from '../../failover/rules.ts';
import type { FailoverStore } from '../../failover/store.ts';
import { suggestFailover } from '../../failover/suggest.ts';
import type { ProviderRegistry, Route } from '../../providers/registry.ts';
import type { PriceBook } from '../../usage/pricing.ts';
import type { Handler } from '../context.ts';
import { requireResetConfirmation } from './admin-input.ts';

export interface FailoverDeps {
  store: FailoverStore;
  /** null when FAILOVER_ENABLED=false. */
  rules: FailoverRules | null;
  registry: ProviderRegistry;
  prices: PriceBook;
  /** How requests resolve a model (proxy.route): fallbacks are checked the same way. */
  route: (body: Record<string, unknown>) => Route;
}

const MAX_SELECTOR = 256;
const MAX_FALLBACKS = 10;

const unavailable = () => new GatewayError('invalid_request_error', 503, 'failover is disabled (FAILOVER_ENABLED=false)', { code: 'feature_unavailable' });

function selectorOf(value: unknown, param: string): string {
  if (typeof value !== 'string' || !value.trim()) throw invalidRequest(`${param} must be a model selector such as gpt-4o or openai/gpt-4o`, param);
  if (value.length > MAX_SELECTOR) throw invalidRequest(`${param} is longer than ${MAX_SELECTOR} characters`, param);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalidRequest(`${param} contains control characters`, param);
  return value.trim();
}

/** GET/PUT/DELETE /admin/failover, POST /admin/failover/reset and /admin/failover/generate. */
export function failoverHandlers(deps: FailoverDeps) {
  const { store } = deps;
  const rulesOf = (): FailoverRules => {
    if (!deps.rules) throw unavailable();
    return deps.rules;
  };

  const listFailoverRules: Handler = async () => ({ body: rulesOf().views() });

  const upsertFailoverRule: Handler = async (ctx) => {
    const rules = rulesOf();
    const b = ctx.body as { primary_model?: unknown; fallback_models?: unknown; enabled?: unknown };
    const primary = selectorOf(b.primary_model, 'primary_model');
    if (!Array.isArray(b.fallback_models) || b.fallback_models.length === 0) throw invalidRequest('fallback_models must list at least one model', 'fallback_models');
    if (b.fallback_models.length > MAX_FALLBACKS) throw invalidRequest(`fallback_models lists at most ${MAX_FALLBACKS} models`, 'fallback_models');
    const fallbacks = [...new Set(b.fallback_models.map((f) => selectorOf(f, 'fallback_models')))];
    if (fallbacks.includes(primary)) throw invalidRequest('a model cannot be its own fallback', 'fallback_models');
    for (const f of fallbacks) {
      try {
        deps.route({ model: f });
      } catch (err) {
        throw invalidRequest(`fallback model ${f} cannot be routed: ${(err as Error).message}`, 'fallback_models', 'model_not_found');
      }
    }
    const row = await store.upsert(primary, fallbacks, b.enabled !== false);
    await rules.reload();
    return {
      body: {
        primary_model: row.primary_model,
        fallback_models: row.fallback_models,
        enabled: row.enabled,
        managed: true,
        managed_source: 'admin',
        created_at: row.created_at.toISOString(),
        updated_at: row.updated_at.toISOString(),
      },
    };
  };

  const deleteFailoverRule: Handler = async (ctx) => {
    const rules = rulesOf();
    const primary = selectorOf((ctx.body as { primary_model?: unknown }).primary_model, 'primary_model');
    if (!(await store.remove(primary))) {
      const why = rules.isConfigured(primary) ? ': its rule comes from the configuration (failover.rules, FAILOVER_RULES_JSON), which the admin API cannot remove' : '';
      throw notFound(`no admin-managed failover rule for ${primary}${why}`, 'failover_rule_not_found', 'primary_model');
    }
    await rules.reload();
    ctx.res.writeHead(204).end();
  };

  const resetFailoverRules: Handler = async (ctx) => {
    const rules = rulesOf();
    requireResetConfirmation(ctx.body);
    await store.reset();
    await rules.reload();
    return { body: rules.views() };
  };

  const generateFailoverRules: Handler = async (ctx) => {
    rulesOf();
    const b = (ctx.body ?? {}) as { primary_model?: unknown; model?: unknown };
    const given = b.primary_model ?? b.model;
    if (given === undefined) return { body: suggestFailover(deps.registry.entries, deps.prices, null) };
    const selector = selectorOf(given, b.primary_model !== undefined ? 'primary_model' : 'model');
    let primary: Route;
    try {
      primary = deps.route({ model: selector });
    } catch {
      throw notFound(`model ${selector} resolves to no configured provider`, 'model_not_found', 'primary_model');
    }
    return { body: suggestFailover(deps.registry.entries, deps.prices, primary, selector) };
  };

  return { listFailoverRules, upsertFailoverRule, deleteFailoverRule, resetFailoverRules, generateFailoverRules } satisfies Record<string, Handler>;
}
