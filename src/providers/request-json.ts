import { invalidRequest } from '../errors.ts';

/**
 * A request body serialised again for the provider (to ask for stream usage, to drop a provider
 * prefix, in another provider's shape). JSON.stringify recurses, and the stack gives out some
 * thousands of levels down (between 3,000 and 5,000 on Node 20 and 24; Deno goes deeper): a body
 * nested that deep is the client's error. It is caught where the overflow happens rather than
 * measured beforehand, so a body of ordinary depth pays nothing for the check.
 */
export function requestJson(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (err) {
    // The only RangeError JSON.stringify throws on a parsed body of bounded size is the stack overflow.
    if (err instanceof RangeError) throw invalidRequest('request body is nested too deeply to forward to the provider', null, 'body_too_deep');
    throw err;
  }
}
