import { GatewayError, invalidRequest, notFound } from '../../errors.ts';
import type { VirtualModelStore } from '../../routing/store.ts';
import type { VirtualModel, VirtualModels } from '../../routing/virtual-models.ts';
import { DefinitionError, parseVirtualModel, type VirtualModelDefinition } from '../../virtual-model-definition.ts';
import type { Handler } from '../context.ts';

export interface VirtualModelDeps {
  store: VirtualModelStore;
  virtual: VirtualModels;
}

/** A virtual model as the admin API shows it (`virtualmodels.VirtualModel`: the stored fields). */
export function storedView(vm: VirtualModel) {
  return {
    source: vm.source,
    targets: vm.targets.map((t) => ({ model: t.model, ...(t.provider ? { provider: t.provider } : {}), weight: t.weight })),
    strategy: vm.strategy,
    user_paths: vm.userPaths,
    description: vm.description,
    enabled: vm.enabled,
    managed: vm.managed,
    created_at: vm.createdAt.toISOString(),
    updated_at: vm.updatedAt.toISOString(),
  };
}

/**
 * `virtualmodels.View`: the stored fields, its kind, and what it resolves to now: a redirect's
 * first target a provider serves (`valid` false when none is); a policy's scope.
 */
function view(vm: VirtualModel, virtual: VirtualModels) {
  const base = storedView(vm);
  if (vm.targets.length) {
    const r = virtual.firstServed(vm);
    return {
      ...base,
      kind: 'redirect',
      valid: r !== null,
      ...(r ? { resolved_model: `${r.entry.config.name}/${r.model}`, provider_name: r.entry.config.name, provider_type: r.entry.config.type } : {}),
    };
  }
  const policy = virtual.policyOf(vm);
  return {
    ...base,
    kind: 'policy',
    valid: true,
    scope_kind: policy.scope,
    ...(policy.providerName ? { provider_name: policy.providerName } : {}),
    ...(policy.model ? { model: policy.model } : {}),
  };
}

const readOnly = (source: string) =>
  new GatewayError('invalid_request_error', 409, `virtual model ${source} is defined in the gateway's configuration (config.yaml or VIRTUAL_MODELS) and is read-only through the admin API: change it there`, {
    code: 'virtual_model_read_only',
    param: 'source',
  });

const missing = (source: string, param: string) => notFound(`no virtual model ${source} was made through the admin API`, 'virtual_model_not_found', param);

function definitionOf(body: unknown): VirtualModelDefinition {
  try {
    return parseVirtualModel(body);
  } catch (err) {
    if (err instanceof DefinitionError) throw invalidRequest(err.message, err.param);
    throw err;
  }
}

function sourceOf(value: unknown, param: string): string {
  const source = typeof value === 'string' ? value.trim() : '';
  if (!source) throw invalidRequest(`${param} must not be empty`, param);
  return source;
}

export function virtualModelHandlers({ store, virtual }: VirtualModelDeps) {
  const listVirtualModels: Handler = async () => ({ body: virtual.list().map((vm) => view(vm, virtual)) });

  /**
   * Creates, replaces or (with `old_source`) renames a virtual model. Every target must be served
   * by a configured provider now. A policy that restricts nothing (enabled, every path) is no
   * virtual model: any stored one of that source is removed and the answer is 204, as in the
   * original gateway.
   */
  const upsertVirtualModel: Handler = async (ctx) => {
    const body = ctx.body as { old_source?: unknown };
    const def = definitionOf(body);
    const oldSource = body.old_source === undefined || body.old_source === null || body.old_source === '' ? undefined : sourceOf(body.old_source, 'old_source');
    if (def.targets.length && (def.source === '/' || def.source.endsWith('/'))) {
      throw invalidRequest('a virtual model with targets needs a model name as source, not a provider scope', 'source');
    }
    if (virtual.get(def.source)?.managed) throw readOnly(def.source);
    if (oldSource !== undefined && oldSource !== def.source) {
      if (virtual.get(oldSource)?.managed) throw readOnly(oldSource);
      if (virtual.get(def.source)) {
        throw new GatewayError('invalid_request_error', 409, `virtual model ${def.source} exists already: delete it first or rename to another source`, { code: 'virtual_model_exists', param: 'source' });
      }
    }
    def.targets.forEach((t, i) => {
      if (!virtual.serves(t.model, t.provider)) {
        const param = (body as { target_model?: unknown }).target_model ? 'target_model' : `targets[${i}].model`;
        throw invalidRequest(`no configured provider serves ${t.provider ? `${t.provider}/` : ''}${t.model}`, param, 'unknown_target');
      }
    });
    if (def.targets.length === 0 && def.enabled && def.userPaths.length === 0) {
      const removed = (await store.remove(def.source)) || (oldSource !== undefined && (await store.remove(oldSource)));
      if (removed) await virtual.reload();
      ctx.res.writeHead(204).end();
      return;
    }
    const saved = await store.save(def, oldSource);
    if (!saved) throw missing(oldSource!, 'old_source');
    await virtual.reload();
    return { body: view(virtual.get(saved.source) ?? { ...saved, managed: false }, virtual) };
  };

  const deleteVirtualModel: Handler = async (ctx) => {
    const source = sourceOf((ctx.body as { source?: unknown }).source, 'source');
    if (virtual.get(source)?.managed) throw readOnly(source);
    if (!(await store.remove(source))) throw missing(source, 'source');
    await virtual.reload();
    ctx.res.writeHead(204).end();
  };

  return { listVirtualModels, upsertVirtualModel, deleteVirtualModel };
}
