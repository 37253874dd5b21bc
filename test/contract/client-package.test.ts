import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ GOMODEL_MASTER_KEY: 'k-123' });
  await run('npm', ['run', '-s', 'build'], { cwd: root });
});
afterAll(() => gw.stop());

it('ships the typed client as the package export gomodel-ts/client', async () => {
  expect(existsSync(`${root}dist/src/client.d.ts`)).toBe(true);
  const program = `
    import { client, getUsageSummary } from 'gomodel-ts/client';
    client.setConfig({ baseUrl: ${JSON.stringify(gw.url)}, auth: 'k-123' });
    const { data, response } = await getUsageSummary({ query: { days: 7 } });
    console.log(JSON.stringify({ status: response.status, data }));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', program], { cwd: root });
  expect(JSON.parse(stdout)).toMatchObject({ status: 200, data: { total_requests: 0, total_cost: null } });
});
