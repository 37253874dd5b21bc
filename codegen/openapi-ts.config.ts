import { defineConfig } from '@hey-api/openapi-ts';

/** Types, the fetch client/SDK and JSON Schemas (for ajv), all from openapi.json. */
export default defineConfig({
  input: 'openapi.json',
  output: { path: 'generated', module: { extension: '.ts' } },
  logs: { level: 'warn' },
  plugins: ['@hey-api/typescript', '@hey-api/client-fetch', '@hey-api/sdk', { name: '@hey-api/schemas', type: 'json' }],
});
