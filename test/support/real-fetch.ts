/**
 * The platform fetch, captured before msw patches the global one. msw relays requests it does
 * not mock (the tests' own calls to the gateway) through a copy that mangles streamed bodies, so
 * test clients talk to the gateway with this one; the gateway's own calls to providers
 * (node:http) are what msw intercepts.
 */
export const realFetch: typeof fetch = globalThis.fetch.bind(globalThis);
