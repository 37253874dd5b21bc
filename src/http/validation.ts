import type { ErrorObject } from 'ajv';
import { invalidRequest, type GatewayError } from '../errors.ts';

const locations = new Set(['query', 'header', 'path', 'cookie', 'requestBody']);

/** What the patterns of openapi.json ask for, in words. */
const patternRules: Record<string, string> = {
  '^[^\\u0000-\\u001f\\u007f]*$': 'must not contain control characters',
  '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$': 'must be a date as YYYY-MM-DD',
};

/**
 * Turns the first ajv error into a 400 that names the offending parameter, header or body field
 * (`days`, `x-gomodel-timezone`, `budget_key.period`, `messages[0].role`).
 */
export function validationError(errors: readonly ErrorObject[]): GatewayError {
  const e = errors[0];
  if (!e) return invalidRequest('invalid request');
  if (e.keyword === 'parse') return invalidRequest(`request body is not valid JSON: ${e.message}`);
  const segments = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (locations.has(segments[0] ?? '')) segments.shift();
  if (e.keyword === 'required') segments.push(String(e.params.missingProperty));
  const param = segments.reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
  let detail = e.message ?? 'is invalid';
  if (e.keyword === 'required') detail = 'is required';
  if (e.keyword === 'pattern') detail = patternRules[e.params.pattern as string] ?? detail;
  if (e.keyword === 'enum') detail = `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
  if (e.keyword === 'additionalProperties') return invalidRequest(`unknown field ${e.params.additionalProperty}${param ? ` in ${param}` : ''}`, param || String(e.params.additionalProperty));
  return invalidRequest(param ? `${param} ${detail}` : `request body ${detail}`, param || null);
}
