// Throwaway PostgreSQL cluster for tests and benchmarks.
//
// With DATABASE_URL set we use that server as is. Otherwise we start a fresh
// cluster from the same npm-shipped binaries as the service's embedded default
// (core/db/cluster.ts), in a temp dir, and tear it down afterwards.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { openCluster } from "../../core/db/cluster";
import { connectPostgres } from "../../core/db/connect";
import { tempDir } from "./temp";

export interface PostgresCluster {
  /** Connection URL of the `postgres` maintenance database. */
  url: string;
  /** The data directory of a cluster started here; unset with DATABASE_URL. */
  dir?: string;
  /** Stop the cluster and delete its files (no-op with DATABASE_URL). */
  stop(): Promise<void>;
  /** (Re)create an empty database and return its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stop the server but keep its data, to simulate a database outage. */
  pause(): Promise<void>;
  /** Start a paused server again, on the same socket. */
  resume(): Promise<void>;
  /** Opens a TCP port on 127.0.0.1 besides the socket (a restart); the URL of a database through it. */
  listenOnTcp(): Promise<(databaseUrl: string) => string>;
}

export async function startPostgres(): Promise<PostgresCluster> {
  const external = process.env.DATABASE_URL;
  if (external) {
    const unsupported = async () => {
      throw new Error("pause()/resume() need a self-managed cluster; unset DATABASE_URL");
    };
    return {
      url: external,
      stop: async () => {},
      createDatabase: (name) => createDatabase(external, name),
      pause: unsupported,
      resume: unsupported,
      // A server given by URL is reached as the URL says.
      listenOnTcp: async () => (databaseUrl) => databaseUrl,
    };
  }

  const root = tempDir("juststorage-pg-");
  const cluster = await openCluster(join(root, "data"), { maxConnections: 300 });
  let running = false;
  const cleanupSync = () => {
    if (running) cluster.stopNowSync();
    running = false;
    rmSync(root, { recursive: true, force: true });
  };
  // Don't leak a postmaster if the caller never calls stop().
  process.on("exit", cleanupSync);
  try {
    await cluster.start();
    running = true;
  } catch (err) {
    cleanupSync();
    process.off("exit", cleanupSync);
    throw err;
  }

  const url = cluster.url("postgres");
  return {
    url,
    dir: cluster.dir,
    createDatabase: (name) => createDatabase(url, name),
    async stop() {
      if (running) await cluster.stop("immediate");
      running = false;
      rmSync(root, { recursive: true, force: true });
      process.off("exit", cleanupSync);
    },
    async pause() {
      // Fast shutdown: clients get disconnected, data survives for resume().
      await cluster.stop("fast");
      running = false;
    },
    async resume() {
      await cluster.start();
      running = true;
    },
    async listenOnTcp() {
      const sql = connectPostgres(url, { max: 1 });
      let port: number;
      try {
        port = Number((await sql`show port`)[0]!.port);
        await sql.unsafe(`alter system set listen_addresses = '127.0.0.1'`);
      } finally {
        await sql.end();
      }
      await cluster.stop("fast");
      await cluster.start();
      return (databaseUrl) => {
        const u = new URL(databaseUrl);
        u.hostname = "127.0.0.1";
        u.port = String(port);
        u.searchParams.delete("host");
        return u.toString();
      };
    },
  };
}

async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const sql = connectPostgres(serverUrl, { max: 1 });
  try {
    // Drop first so reruns against a long-lived DATABASE_URL server start clean.
    await sql`drop database if exists ${sql(name)} with (force)`;
    await sql`create database ${sql(name)}`;
  } finally {
    await sql.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${encodeURIComponent(name)}`;
  return u.toString();
}
