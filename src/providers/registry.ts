import type { Logger } from '../log.ts';
import type { Redactor } from '../redact.ts';
import { createAnthropicAdapter } from './anthropic.ts';
import { createGeminiAdapter } from './gemini.ts';
import { createOpenAiCompatibleAdapter, openAiQuirks } from './openai-compatible.ts';
import type { ProviderAdapter, ProviderConfig } from './types.ts';
import type { Upstream } from './upstream.ts';

export interface ProviderEntry {
  readonly config: ProviderConfig;
  readonly adapter: ProviderAdapter;
  /** Model ids the provider serves; empty with `open` when no list could be had. */
  models: Set<string>;
  /** No model list (the provider's failed and none is configured): takes any model. */
  open: boolean;
  listedAt: number;
  /** Why the last model list could not be fetched; empty when it could. */
  listError?: string;
}

export interface Route {
  entry: ProviderEntry;
  /** The model id to send to the provider. */
  model: string;
  /** What the request asked for: the selector as sent, or the virtual model it named (usage rows keep it as `requested_model`). */
  requested?: string;
}

function createAdapter(config: ProviderConfig, openrouter: { siteUrl: string; appName: string }, redactor: Redactor): ProviderAdapter {
  switch (config.type) {
    case 'anthropic':
      return createAnthropicAdapter(config, redactor);
    case 'gemini':
      return createGeminiAdapter(config, redactor);
    case 'openrouter': {
      const headers: Record<string, string> = {};
      if (openrouter.siteUrl) headers['http-referer'] = openrouter.siteUrl;
      if (openrouter.appName) headers['x-title'] = openrouter.appName;
      return createOpenAiCompatibleAdapter(config, openAiQuirks.openrouter, headers, redactor);
    }
    default:
      return createOpenAiCompatibleAdapter(config, openAiQuirks[config.type], {}, redactor);
  }
}

const LIST_TIMEOUT_MS = 10_000;

/**
 * The configured providers and the models each serves. Model lists come from each provider's own
 * list endpoint, refreshed periodically, with `<TYPE>_MODELS` as the fallback.
 */
export class ProviderRegistry {
  readonly entries: ProviderEntry[];
  private readonly byName: Map<string, ProviderEntry>;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    configs: ProviderConfig[],
    private readonly openrouter: { siteUrl: string; appName: string },
    private readonly upstream: Upstream,
    private readonly log: Logger,
    private readonly redactor: Redactor,
  ) {
    this.entries = configs.map((config) => this.entryOf(config));
    this.byName = new Map(this.entries.map((e) => [e.config.name, e]));
  }

  private entryOf(config: ProviderConfig): ProviderEntry {
    return { config, adapter: createAdapter(config, this.openrouter, this.redactor), models: new Set(config.models), open: config.models.length === 0, listedAt: Date.now() };
  }

  /**
   * Adds a provider while the gateway runs (one configured through the admin API), or replaces
   * the one of that name in place; its model list is fetched in the background. Requests already
   * sent keep the entry they resolved.
   */
  register(config: ProviderConfig): void {
    const entry = this.entryOf(config);
    const at = this.entries.findIndex((e) => e.config.name === config.name);
    if (at >= 0) this.entries[at] = entry;
    else this.entries.push(entry);
    this.byName.set(config.name, entry);
    void this.refreshOne(entry);
  }

  /** Drops a provider registered while the gateway runs. */
  unregister(name: string): void {
    const at = this.entries.findIndex((e) => e.config.name === name);
    if (at < 0) return;
    this.entries.splice(at, 1);
    this.byName.delete(name);
  }

  /** Fetches every provider's model list now, then every `intervalMs`. */
  async start(intervalMs: number): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    await Promise.all(this.entries.map((e) => this.refreshOne(e)));
  }

  private async refreshOne(e: ProviderEntry): Promise<void> {
    try {
      const ex = await this.upstream.send(e.config, e.adapter.modelsRequest(), null, false, { timeoutMs: LIST_TIMEOUT_MS });
      const body = await ex.readAll(20 * 1024 * 1024);
      if ((ex.res.statusCode ?? 0) >= 400) throw new Error(`status ${ex.res.statusCode}`);
      const ids = e.adapter.modelsResponse(JSON.parse(body.toString('utf8')));
      if (ids.length === 0) throw new Error('empty model list');
      e.models = new Set([...e.config.models, ...ids]);
      e.open = false;
      e.listedAt = Date.now();
      e.listError = '';
    } catch (err) {
      e.listError = String((err as Error).message ?? err);
      const fallback = e.config.models.length ? `using the ${e.config.models.length} configured models` : 'it will take requests for any model';
      this.log.warn({ provider: e.config.name, err: String((err as Error).message ?? err) }, `could not list models of provider ${e.config.name}; ${fallback}`);
    }
  }

  /**
   * Resolves a model selector. `name/model` picks the configured provider `name` (the prefix
   * counts only when it is a provider name, so OpenRouter ids such as `google/gemini-2.5-pro`
   * still work bare); a bare model goes to the first provider that lists it, else to the first
   * provider without a list. `hint` is the body's `provider` field.
   */
  resolve(selector: string, hint?: string): Route | null {
    if (hint) {
      const entry = this.byName.get(hint);
      if (!entry) return null;
      return { entry, model: selector.startsWith(`${hint}/`) ? selector.slice(hint.length + 1) : selector, requested: selector };
    }
    const slash = selector.indexOf('/');
    if (slash > 0) {
      const entry = this.byName.get(selector.slice(0, slash));
      if (entry) return { entry, model: selector.slice(slash + 1), requested: selector };
    }
    for (const entry of this.entries) if (entry.models.has(selector)) return { entry, model: selector, requested: selector };
    const open = this.entries.find((e) => e.open);
    return open ? { entry: open, model: selector, requested: selector } : null;
  }

  /** Every model of every provider as an OpenAI model list, ids as `provider/model` selectors. */
  list() {
    return this.entries.flatMap((e) =>
      [...e.models].sort().map((model) => ({ id: `${e.config.name}/${model}`, object: 'model' as const, created: Math.floor(e.listedAt / 1000), owned_by: e.config.name })),
    );
  }
}
