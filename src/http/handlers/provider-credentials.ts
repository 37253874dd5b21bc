import { defaultBaseUrls } from '../../config.ts';
import { sealKeys } from '../../credentials/cipher.ts';
import type { CredentialRegistrar } from '../../credentials/registrar.ts';
import type { CredentialRecord, CredentialStore } from '../../credentials/store.ts';
import { GatewayError, invalidRequest, notFound } from '../../errors.ts';
import { redactedKey } from '../../providers/key-pool.ts';
import { providerTypes, type ProviderConfig, type ProviderType } from '../../providers/types.ts';
import type { Handler, HandlerContext } from '../context.ts';

export interface ProviderCredentialDeps {
  store: CredentialStore;
  registrar: CredentialRegistrar;
  /** GOMODEL_CREDENTIALS_KEY; null: providers cannot be stored, only listed. */
  key: Buffer | null;
  /** Providers from the environment and config.yaml, listed read-only. */
  fixed: readonly ProviderConfig[];
}

interface UpsertBody {
  name: string;
  type?: string;
  api_keys?: string[];
  base_url?: string;
  models?: string[];
  enabled?: boolean;
}

/** A name that can prefix a model selector (`name/model`) and stands alone in a URL path (`/p/{name}/…`). */
const namePattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const MAX_KEYS = 64;

const unavailable = () =>
  new GatewayError('invalid_request_error', 503, 'provider credentials are unavailable: set GOMODEL_CREDENTIALS_KEY (32 bytes, e.g. `openssl rand -base64 32`) so keys can be stored encrypted', {
    code: 'feature_unavailable',
  });

const iso = (d: Date) => d.toISOString();

function storedView(r: CredentialRecord) {
  return { name: r.name, type: r.type, base_url: r.base_url, models: r.models, api_keys: r.key_hints, enabled: r.enabled, managed: true, created_at: iso(r.created_at), updated_at: iso(r.updated_at) };
}

function fixedView(p: ProviderConfig) {
  const keys = p.apiKeys ?? (p.apiKey ? [p.apiKey] : []);
  return { name: p.name, type: p.type, base_url: p.baseUrl, models: p.models, api_keys: keys.map(redactedKey), enabled: true, managed: false };
}

function nameOf(value: string): string {
  const name = value.trim();
  if (!namePattern.test(name)) throw invalidRequest(`invalid provider name "${name}": use 1 to 64 lowercase letters, digits, "-" or "_", starting with a letter or digit`, 'name');
  return name;
}

function typeOf(value: string): ProviderType {
  if (!providerTypes.includes(value as ProviderType)) throw invalidRequest(`unknown provider type "${value}" (known: ${providerTypes.join(', ')})`, 'type', 'unknown_provider_type');
  return value as ProviderType;
}

function baseUrlOf(value: string): string {
  const text = value.trim().replace(/\/+$/, '');
  const url = URL.canParse(text) ? new URL(text) : null;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw invalidRequest(`base_url must be an http:// or https:// URL, got "${value}"`, 'base_url');
  if (url.username || url.password) throw invalidRequest('base_url must not carry credentials: give keys in api_keys', 'base_url');
  if (url.search || url.hash) throw invalidRequest('base_url must not have a query or a fragment', 'base_url');
  return text;
}

function keysOf(values: string[]): string[] {
  const keys = [...new Set(values.map((k) => k.trim()))];
  if (keys.length > MAX_KEYS) throw invalidRequest(`at most ${MAX_KEYS} api_keys`, 'api_keys');
  // The message never quotes a key: it could be a real one with a stray character.
  // A key goes in an HTTP header: visible ASCII only.
  for (const [i, k] of keys.entries()) if (!/^[\x21-\x7e]+$/.test(k)) throw invalidRequest(`api_keys[${i}] must be a non-empty key of visible ASCII characters, without spaces`, 'api_keys');
  return keys;
}

function modelsOf(values: string[]): string[] {
  const models = [...new Set(values.map((m) => m.trim()))];
  for (const m of models) if (!m || /[\u0000-\u001f\u007f]/.test(m)) throw invalidRequest('models must be non-empty printable model ids', 'models');
  return models;
}

export function providerCredentialHandlers(deps: ProviderCredentialDeps) {
  const { store, registrar, key } = deps;
  const fixed = new Map(deps.fixed.map((p) => [p.name, p]));

  const readOnly = (name: string) =>
    invalidRequest(`provider ${name} is configured by the environment or config.yaml and is read-only here`, 'name', 'provider_read_only');

  const listProviderCredentials: Handler = async () => {
    const stored = (await store.list()).filter((r) => !fixed.has(r.name));
    return { body: [...deps.fixed.map(fixedView), ...stored.map(storedView)] };
  };

  const listProviderCredentialTypes: Handler = async () => ({
    body: providerTypes.map((type) => {
      const base = defaultBaseUrls[type];
      return {
        type,
        ...(base ? { default_base_url: base } : {}),
        fields: [
          { name: 'api_keys', required: type !== 'ollama' },
          { name: 'base_url', required: base === null, ...(base === null ? {} : { advanced: true }) },
          { name: 'models', required: false, advanced: true },
        ],
      };
    }),
  });

  /** Creates or updates a provider; a field left out of an update keeps its stored value. */
  const upsertProviderCredential: Handler = async (ctx) => {
    if (!key) throw unavailable();
    const b = ctx.body as UpsertBody;
    const name = nameOf(b.name);
    if (fixed.has(name)) throw readOnly(name);
    const existing = await store.get(name);
    if (!existing && b.type === undefined) throw invalidRequest('type is required for a new provider', 'type');
    const type = typeOf(b.type ?? existing!.type);
    let baseUrl: string;
    if (b.base_url !== undefined && b.base_url.trim() !== '') baseUrl = baseUrlOf(b.base_url);
    else if (existing && b.type === undefined) baseUrl = existing.base_url;
    else {
      const base = defaultBaseUrls[type];
      if (!base) throw invalidRequest(`base_url is required for type ${type}`, 'base_url');
      baseUrl = base;
    }
    const keys = b.api_keys === undefined ? undefined : keysOf(b.api_keys);
    const keyless = keys === undefined ? !existing || existing.key_hints.length === 0 : keys.length === 0;
    if (keyless && baseUrl === defaultBaseUrls[type] && type !== 'ollama') {
      throw invalidRequest(`give api_keys (or the base_url of a keyless endpoint) for provider ${name}`, 'api_keys');
    }
    const record = await store.upsert({
      name,
      type,
      baseUrl,
      models: b.models === undefined ? (existing?.models ?? []) : modelsOf(b.models),
      enabled: b.enabled ?? existing?.enabled ?? true,
      keys: keys === undefined ? (existing ? undefined : { secret: sealKeys(key, name, []), hints: [] }) : { secret: sealKeys(key, name, keys), hints: keys.map(redactedKey) },
    });
    if (!record) throw notFound(`no provider credential named ${name}`, 'provider_credential_not_found', 'name');
    await registrar.reload();
    return { body: storedView(record) };
  };

  const deleteProviderCredential: Handler = async (ctx: HandlerContext) => {
    if (!key) throw unavailable();
    const name = nameOf(ctx.params?.name ?? '');
    if (fixed.has(name)) throw readOnly(name);
    if (!(await store.remove(name))) throw notFound(`no provider credential named ${name}`, 'provider_credential_not_found', 'name');
    await registrar.reload();
    ctx.res.writeHead(204).end();
  };

  return { listProviderCredentials, listProviderCredentialTypes, upsertProviderCredential, deleteProviderCredential };
}
