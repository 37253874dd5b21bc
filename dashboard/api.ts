import { client } from '../generated/client.gen.ts';
import type { CoreGatewayError } from '../generated/types.gen.ts';
import { timeZone } from './format.ts';
import { forgetKey, storedKey } from './session.ts';

/** An answer of the admin API other than 2xx, with its `core.GatewayError` body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: CoreGatewayError,
  ) {
    super(body.message ?? `the gateway answered ${status}`);
  }
}

type Result<T> = { request?: Request } & ({ data: T; error: undefined; response: Response } | { data: undefined; error: unknown; response: Response | undefined });

let unauthorized: () => void = () => {};

/** Points the generated client at this gateway; `onUnauthorized` runs whenever a call gets 401 (after a refused key is forgotten). */
export function configureApi(onUnauthorized: () => void): void {
  unauthorized = onUnauthorized;
  client.setConfig({
    baseUrl: location.origin,
    auth: () => storedKey() ?? undefined,
    headers: { 'X-GoModel-Timezone': timeZone },
  });
}

/** Awaits a generated-client call: its data, or an ApiError (fetch failures and aborts are rethrown as they are). */
export async function call<T>(pending: Promise<Result<T>>): Promise<T> {
  const { data, error, request, response } = await pending;
  if (error === undefined) return data as T;
  if (!response) throw error;
  const { status } = response;
  if (status === 401) {
    // Only the key this request carried is known to be refused: one stored since (a sign-in while
    // this request was on its way) stays.
    const key = storedKey();
    if (key !== null && request?.headers.get('Authorization') === `Bearer ${key}`) forgetKey();
    unauthorized();
  }
  const body = typeof error === 'object' && error !== null ? (error as CoreGatewayError) : { message: String(error) };
  throw new ApiError(status, body);
}

/** A sentence for any failure of `call`. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.status === 401 ? 'Sign in to see this page.' : err.message;
  return 'The gateway cannot be reached. Is it running?';
}
