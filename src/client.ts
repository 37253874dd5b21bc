/**
 * The typed client shipped as `gomodel-ts/client`: every operation of openapi.json as a function,
 * its request and response types, and the configurable default client.
 */
export * from '../generated/index.ts';
export { client } from '../generated/client.gen.ts';
export { createClient, createConfig, type Client, type Config } from '../generated/client/index.ts';
