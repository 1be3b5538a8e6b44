/**
 * Serves the API handler over HTTP/1.1 on the daemon's Unix socket. The socket is mode 0600
 * from the moment it exists: it is bound under a temporary name in the same directory while the
 * process umask is 0177 (so bind(2) itself creates it 0600; `Deno.umask` is available without
 * unstable flags in Deno 2, and `Deno.serve` binds synchronously, so no other code runs under
 * the narrowed umask), chmod'ed 0600 again in case a platform ignores the umask for sockets,
 * and only then renamed into place, atomically replacing any stale socket. Nobody can ever
 * connect to it with looser permissions, and clients never see a half-made socket.
 * @module
 */
import type { Logger } from "../../src/log.ts";
import { silentLogger } from "../../src/log.ts";
import type { Handler } from "./handler.ts";

/** Another daemon answers on the socket. */
export class SocketInUseError extends Error {
  /** The socket path. */
  readonly path: string;

  /** Names the socket and what to do. */
  constructor(path: string) {
    super(
      `Refusing to start: another ternd answers on ${path}: stop it first, or set "socket" to another path`,
    );
    this.name = "SocketInUseError";
    this.path = path;
  }
}

/** What is at a socket path: nothing, a socket nobody listens on, or a live listener. */
export type SocketState = "absent" | "stale" | "live";

/**
 * Looks at `path`: `absent`, `stale` (a socket file whose listener is gone) or `live` (something
 * accepts connections). Throws when the path exists but is not a socket, so that a mistyped
 * config never deletes a regular file.
 */
export async function probeSocket(path: string): Promise<SocketState> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "absent";
    throw err;
  }
  if (!info.isSocket) {
    throw new Error(
      `Refusing to start: ${path} exists and is not a socket: remove it or set "socket" to another path`,
    );
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    return "live";
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused || err instanceof Deno.errors.NotFound) {
      return "stale";
    }
    throw err;
  }
}

/** A running server; {@linkcode UnixServer.shutdown} stops it and removes its socket. */
export interface UnixServer {
  /** Where it listens. */
  readonly path: string;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting, lets requests in flight finish, and removes the socket if it is still ours. */
  shutdown(): Promise<void>;
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

/**
 * Serves `handler` on the Unix socket at `options.path` (mode 0600). Creates the parent
 * directory (0700) if missing, removes a stale socket, and throws {@linkcode SocketInUseError}
 * when a live daemon already answers there.
 */
export async function serveUnix(
  handler: Handler,
  options: { path: string; log?: Logger },
): Promise<UnixServer> {
  const { path } = options;
  const log = options.log ?? silentLogger;
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });

  const state = await probeSocket(path);
  if (state === "live") throw new SocketInUseError(path);
  if (state === "stale") log.info("Replacing stale socket", { socket: path });

  const base = path.slice(dir.length + 1);
  const temp = `${dir}/.${base}.${Deno.pid}.tmp`;
  await Deno.remove(temp).catch(() => {});

  const previous = Deno.umask(0o177);
  let server: Deno.HttpServer<Deno.UnixAddr>;
  try {
    server = Deno.serve({ path: temp, onListen() {} }, handler);
  } finally {
    Deno.umask(previous);
  }
  let identity: Deno.FileInfo;
  try {
    await Deno.chmod(temp, 0o600);
    await Deno.rename(temp, path);
    identity = await Deno.lstat(path);
  } catch (err) {
    await server.shutdown().catch(() => {});
    await Deno.remove(temp).catch(() => {});
    throw err;
  }

  return {
    path,
    finished: server.finished,
    async shutdown() {
      await server.shutdown();
      try {
        const now = await Deno.lstat(path);
        // Only remove the socket we bound: a newer daemon may have replaced it.
        if (now.ino === identity.ino && now.dev === identity.dev) await Deno.remove(path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    },
  };
}
