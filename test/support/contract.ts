import { Ajv, type ValidateFunction } from 'ajv';
import spec from '../../openapi.json' with { type: 'json' };
import { operations } from '../../generated/operations.gen.ts';
import { createClient, createConfig, type Client } from '../../generated/client/index.ts';
import { realFetch } from './real-fetch.ts';

const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
ajv.addSchema({ ...spec, $id: 'openapi.json' });

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
const validators = new Map<string, ValidateFunction | null>();

type Responses = Record<string, { content?: Record<string, { schema?: unknown }> }>;

/** The operation of openapi.json that a method and path (without query) address. */
export function operationFor(method: string, path: string) {
  return Object.entries(operations).find(([, op]) => op.method === method.toUpperCase() && op.path === path)?.[0];
}

/**
 * Asserts that a JSON response body is what openapi.json documents for the operation and status.
 * An undocumented status is a failure too.
 */
export function assertDocumentedResponse(method: string, path: string, status: number, body: unknown): void {
  const key = `${method.toUpperCase()} ${path} ${status}`;
  let validate = validators.get(key);
  if (validate === undefined) {
    const op = (spec.paths as Record<string, Record<string, { responses: Responses }>>)[path]?.[method.toLowerCase()];
    if (!op) throw new Error(`${method} ${path} is not an operation of openapi.json`);
    const response = op.responses[String(status)] ?? op.responses.default;
    if (!response) throw new Error(`${key}: status ${status} is not documented in openapi.json`);
    validate = response.content?.['application/json']
      ? ajv.compile({ $ref: `openapi.json#/${pointer('paths', path, method.toLowerCase(), 'responses', response === op.responses.default ? 'default' : String(status), 'content', 'application/json', 'schema')}` })
      : null;
    validators.set(key, validate);
  }
  if (validate && !validate(body)) {
    throw new Error(`${key}: response does not match openapi.json: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`);
  }
}

/** fetch that checks every JSON response of a documented operation against openapi.json. */
export async function contractFetch(input: Request): Promise<Response> {
  const res = await realFetch(input);
  const url = new URL(input.url);
  if (operationFor(input.method, url.pathname) && res.headers.get('content-type')?.startsWith('application/json')) {
    assertDocumentedResponse(input.method, url.pathname, res.status, await res.clone().json());
  }
  return res;
}

/** The generated typed client, pointed at a gateway, validating every response it receives. */
export function contractClient(baseUrl: string, key?: string): Client {
  return createClient(createConfig({ baseUrl, fetch: contractFetch as typeof fetch, ...(key ? { auth: key } : {}) }));
}
