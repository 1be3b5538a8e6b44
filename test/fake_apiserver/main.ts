/**
 * The fake API server as a process, for tests that run it apart (inside a network namespace,
 * say): prints its URL as the first line of stdout, then serves until SIGTERM or SIGINT.
 *
 * ```sh
 * deno run -A test/fake_apiserver/main.ts --hostname 10.98.0.254 --port 6443 \
 *   --tls-cert cert.pem --tls-key key.pem --token secret --seed cluster.yaml \
 *   --crd securitygroups.tern.dev --admin-port 6444 --bookmark-interval-ms 1000
 * ```
 * @module
 */

import { parseArgs } from "node:util";
import { parseObjects } from "./admin_handler.ts";
import { type FakeApiServerOptions, startFakeApiServer } from "./server.ts";

const USAGE = `Usage: main.ts [--hostname H] [--port P] [--tls-cert FILE --tls-key FILE]
  [--token T]... [--seed FILE]... [--crd PLURAL.GROUP]... [--admin-port P]
  [--bookmark-interval-ms MS] [--watch-timeout-ms MS] [--history N]
  [--generate nodes=N,pods=N,networkPolicies=N[,namespaces=N]] [--no-namespace-check]`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    fail(`Bad value for --${flag}: "${v}" is not a non-negative integer`);
  }
  return n;
}

/** Runs the server from command-line arguments. */
export async function main(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        hostname: { type: "string" },
        port: { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        token: { type: "string", multiple: true },
        seed: { type: "string", multiple: true },
        crd: { type: "string", multiple: true },
        "admin-port": { type: "string" },
        "bookmark-interval-ms": { type: "string" },
        "watch-timeout-ms": { type: "string" },
        history: { type: "string" },
        generate: { type: "string" },
        "no-namespace-check": { type: "boolean" },
        help: { type: "boolean" },
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    return;
  }
  const options: FakeApiServerOptions = {};
  if (v.hostname !== undefined) options.hostname = v.hostname;
  const port = int(v.port, "port");
  if (port !== undefined) options.port = port;
  if ((v["tls-cert"] === undefined) !== (v["tls-key"] === undefined)) {
    fail("--tls-cert and --tls-key go together");
  }
  if (v["tls-cert"] !== undefined) {
    options.tls = {
      cert: await Deno.readTextFile(v["tls-cert"]),
      key: await Deno.readTextFile(v["tls-key"]!),
    };
  }
  if (v.token !== undefined) options.tokens = v.token;
  if (v.crd !== undefined) options.crds = v.crd;
  const adminPort = int(v["admin-port"], "admin-port");
  if (adminPort !== undefined) options.adminPort = adminPort;
  const bookmark = int(v["bookmark-interval-ms"], "bookmark-interval-ms");
  if (bookmark !== undefined) options.bookmarkIntervalMs = bookmark;
  const watchTimeout = int(v["watch-timeout-ms"], "watch-timeout-ms");
  if (watchTimeout !== undefined) options.defaultWatchTimeoutMs = watchTimeout;
  const history = int(v.history, "history");
  if (history !== undefined) options.historyLimit = history;
  if (v["no-namespace-check"]) options.checkNamespaces = false;
  const seed = [];
  for (const file of v.seed ?? []) {
    try {
      seed.push(...parseObjects(await Deno.readTextFile(file)));
    } catch (err) {
      fail(`Cannot read seed file ${file}: ${(err as Error).message}`);
    }
  }
  if (seed.length > 0) options.seed = seed;
  const server = await startFakeApiServer(options);
  if (v.generate !== undefined) {
    const shape: Record<string, number> = {};
    for (const part of v.generate.split(",")) {
      const [k, val] = part.split("=");
      if (!k || !["nodes", "pods", "networkPolicies", "namespaces", "seed"].includes(k)) {
        fail(`Bad --generate: "${part}": keys are nodes, pods, networkPolicies, namespaces, seed`);
      }
      shape[k] = int(val, `generate ${k}`) ?? 0;
    }
    server.generate({ nodes: 0, pods: 0, networkPolicies: 0, ...shape });
  }
  console.log(server.url);
  console.error(
    `fake API server at ${server.url}, admin at ${server.adminUrl}, resourceVersion ${server.rv}`,
  );
  const stop = () => {
    server.close().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}

if (import.meta.main) await main(Deno.args);
