import type { ActiveKey } from '../keys/ring.ts';

/** How a request authenticated, as usage rows record it. */
export type AuthMethod = 'master_key' | 'api_key' | 'no_key';

/** Who made a request: the method, and the managed key of an `api_key` request. */
export interface Caller {
  method: AuthMethod;
  key: ActiveKey | null;
}

export const anonymous: Caller = Object.freeze({ method: 'no_key', key: null });
