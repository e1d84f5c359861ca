import { afterAll, expect, test } from "bun:test";
import { connectPostgres } from "../../core/db/connect";
import { startPostgres, type PostgresCluster } from "./postgres";

let pg: PostgresCluster | undefined;
afterAll(() => pg?.stop());

test("throwaway cluster: create db, query, pause, resume", async () => {
  pg = await startPostgres();
  const url = await pg.createDatabase("support_smoke");
  expect(new URL(url).pathname).toBe("/support_smoke");

  const sql = connectPostgres(url, { max: 1, connect_timeout: 2 });
  try {
    expect([...(await sql`select 1 as one`)]).toEqual([{ one: 1 }]);

    if (process.env.DATABASE_URL) {
      await expect(pg.pause()).rejects.toThrow(/self-managed/);
      return;
    }

    await pg.pause();
    await expect(sql`select 1`).rejects.toThrow();

    await pg.resume();
    // postgres.js reconnects on its own once the server is back.
    expect([...(await sql`select 2 as two`)]).toEqual([{ two: 2 }]);
  } finally {
    await sql.end({ timeout: 1 });
  }
}, 60_000);
