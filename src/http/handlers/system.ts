import type { Sql } from '../../db/sql.ts';
import type { Handler } from '../context.ts';

export function systemHandlers(sql: Sql): { getHealth: Handler; getReadiness: Handler } {
  return {
    getHealth: async () => ({ body: { status: 'ok' } }),
    getReadiness: async () => {
      const database = await Promise.race([
        sql`select 1`.then(() => 'ok' as const),
        new Promise<'unavailable'>((done) => setTimeout(done, 2000, 'unavailable').unref()),
      ]).catch(() => 'unavailable' as const);
      const ready = database === 'ok';
      return { status: ready ? 200 : 503, body: { status: ready ? 'ok' : 'not_ready', components: { database } } };
    },
  };
}
