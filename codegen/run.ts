/** `npm run codegen`: regenerates everything in generated/ from openapi.json. */
import { rmSync } from 'node:fs';
import { createClient } from '@hey-api/openapi-ts';
import { keepSdkClientOutOfRequestInit } from './deno-client.ts';
import config from './openapi-ts.config.ts';

rmSync('generated', { recursive: true, force: true });
await createClient(await config);
keepSdkClientOutOfRequestInit();
await import('./operations.ts');
await import('./client-package.ts');
