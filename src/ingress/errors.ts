import type { GatewayError } from '../errors.ts';

/** Anthropic's error type for each status the gateway answers with. */
function anthropicType(err: GatewayError): string {
  if (err.status === 401) return 'authentication_error';
  if (err.status === 403) return 'permission_error';
  if (err.status === 404) return 'not_found_error';
  if (err.status === 413) return 'request_too_large';
  if (err.status === 429) return 'rate_limit_error';
  if (err.status === 503) return 'overloaded_error';
  if (err.status === 504) return 'timeout_error';
  if (err.status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** An error in Anthropic's envelope, for `/v1/messages` clients (the Anthropic SDK reads `error.type`). */
export const anthropicErrorBody = (err: GatewayError) => ({ type: 'error', error: { type: anthropicType(err), message: err.message } });
