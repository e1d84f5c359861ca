// Throwaway PostgreSQL cluster for tests and benchmarks.
//
// With DATABASE_URL set we use that server as is. Otherwise we initdb a fresh
// cluster in a temp dir on a free loopback port and tear it down afterwards.
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";

export interface PostgresCluster {
  /** Connection URL of the `postgres` maintenance database. */
  url: string;
  /** The same server through its Unix socket (`?host=<dir>`), for a database URL; unset with DATABASE_URL. */
  viaSocket?(databaseUrl: string): string;
  /** Stop the cluster and delete its files (no-op with DATABASE_URL). */
  stop(): Promise<void>;
  /** (Re)create an empty database and return its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stop the server but keep its data, to simulate a database outage. */
  pause(): Promise<void>;
  /** Start a paused server again, on the same port. */
  resume(): Promise<void>;
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
    };
  }

  const bin = findBinDir();
  const root = mkdtempSync(join(tmpdir(), "juststorage-pg-"));
  const data = join(root, "data");
  // initdb refuses to run as root, so hand the directory to the postgres user.
  if (isRoot()) {
    const pw = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
    const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
    chownSync(root, Number(pw.stdout.trim()), Number(gid.stdout.trim()));
  }

  const pgCtl = (...args: string[]) => [join(bin, "pg_ctl"), "-D", data, ...args];
  let port = 0;
  const startCmd = () =>
    pgCtl(
      // Socket in our own dir: /var/run/postgresql may not exist or be writable.
      "-o", `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=300`,
      "-l", join(root, "log"), "-w", "start",
    );

  let running = false;
  const cleanupSync = () => {
    if (running) {
      const [cmd, ...args] = asPostgres(pgCtl("-m", "immediate", "-w", "stop"));
      spawnSync(cmd!, args, { cwd: root, stdio: "ignore" });
    }
    running = false;
    rmSync(root, { recursive: true, force: true });
  };
  // Best effort: don't leak a postmaster if the caller never calls stop().
  process.on("exit", cleanupSync);

  try {
    await run([join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"], root);
    // Another process may grab the port between probing and binding; retry a few times.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await run(startCmd(), root);
        break;
      } catch (err) {
        // pg_ctl only says "examine the log"; surface the log itself.
        if (attempt >= 3) throw new Error(`${err}\n${readLog(root)}`);
      }
    }
    running = true;
  } catch (err) {
    cleanupSync();
    process.off("exit", cleanupSync);
    throw err;
  }

  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    viaSocket: (databaseUrl) => `${databaseUrl}?host=${encodeURIComponent(root)}`,
    createDatabase: (name) => createDatabase(url, name),
    async stop() {
      if (running) await run(pgCtl("-m", "immediate", "-w", "stop"), root);
      running = false;
      rmSync(root, { recursive: true, force: true });
      process.off("exit", cleanupSync);
    },
    async pause() {
      // Fast shutdown: clients get disconnected, data survives for resume().
      await run(pgCtl("-m", "fast", "-w", "stop"), root);
      running = false;
    },
    async resume() {
      await run(startCmd(), root).catch((err) => {
        throw new Error(`${err}\n${readLog(root)}`);
      });
      running = true;
    },
  };
}

async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
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

/** Directory holding initdb/pg_ctl: from PATH, else the newest Debian-style install. */
function findBinDir(): string {
  const onPath = Bun.which("initdb");
  if (onPath && Bun.which("pg_ctl")) return join(onPath, "..");
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "initdb")))
    : [];
  versions.sort((a, b) => Number(b) - Number(a) || b.localeCompare(a));
  if (!versions[0]) throw new Error("PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql");
  return join(base, versions[0], "bin");
}

const isRoot = () => process.getuid?.() === 0;

/** Prefix a command so it runs as the postgres OS user when we are root. */
function asPostgres(cmd: string[]): string[] {
  return isRoot() ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
}

async function run(cmd: string[], cwd: string): Promise<void> {
  // cwd is our temp dir: the postgres user may not be able to read the caller's cwd.
  const proc = Bun.spawn(asPostgres(cmd), { cwd, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited with ${code}:\n${out}${err}`);
}

function readLog(root: string): string {
  const log = join(root, "log");
  return existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-20).join("\n") : "";
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
