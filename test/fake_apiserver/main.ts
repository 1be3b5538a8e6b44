/**
 * The fake API server as a process, for tests that run it apart (inside a network namespace,
 * say): prints its URL as the first line of stdout, then serves until SIGTERM or SIGINT.
 *
 * ```sh
 * deno run -A test/fake_apiserver/main.ts --hostname 10.98.0.254 --port 6443 \
 *   --tls-cert cert.pem --tls-key key.pem --token secret --seed cluster.yaml \
 *   --crd securitygroups.tern.dev --admin-port 6444 --bookmark-interval-ms 1000
 * deno run -A test/fake_apiserver/main.ts --hostname 10.98.0.254 --tls-generate \
 *   --ca-out ca.pem --kubeconfig-out kubeconfig --token secret
 * ```
 * Files named by `--ca-out` and `--kubeconfig-out` are written before the URL is printed.
 * @module
 */

import { parseArgs } from "node:util";
import { parseObjects } from "./admin_handler.ts";
import { fakeKubeconfig, type FakeKubeconfigOptions } from "./kubeconfig.ts";
import { type FakeApiServerOptions, startFakeApiServer } from "./server.ts";
import { loadState } from "./state_file.ts";
import { makeServingCertificate } from "./tls_certs.ts";

const USAGE =
  `Usage: main.ts [--hostname H] [--port P] [--tls-cert FILE --tls-key FILE | --tls-generate]
  [--ca-out FILE] [--kubeconfig-out FILE]
  [--token T]... [--seed FILE]... [--crd PLURAL.GROUP]... [--admin-port P]
  [--bookmark-interval-ms MS] [--watch-timeout-ms MS] [--history N]
  [--generate nodes=N,pods=N,networkPolicies=N[,namespaces=N]] [--no-namespace-check]
  [--pod-termination-ms MS] [--state FILE]`;

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
        "tls-generate": { type: "boolean" },
        "ca-out": { type: "string" },
        "kubeconfig-out": { type: "string" },
        token: { type: "string", multiple: true },
        seed: { type: "string", multiple: true },
        crd: { type: "string", multiple: true },
        "admin-port": { type: "string" },
        "bookmark-interval-ms": { type: "string" },
        "watch-timeout-ms": { type: "string" },
        history: { type: "string" },
        generate: { type: "string" },
        "no-namespace-check": { type: "boolean" },
        "pod-termination-ms": { type: "string" },
        state: { type: "string" },
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
  let caPem: string | undefined;
  if (v["tls-cert"] !== undefined) {
    if (v["tls-generate"]) fail("--tls-generate and --tls-cert exclude each other");
    options.tls = {
      cert: await Deno.readTextFile(v["tls-cert"]),
      key: await Deno.readTextFile(v["tls-key"]!),
    };
  } else if (v["tls-generate"]) {
    const host = v.hostname ?? "127.0.0.1";
    const hosts = [...new Set([host, "127.0.0.1", "localhost"])];
    const made = await makeServingCertificate({ hosts });
    options.tls = { cert: made.certPem, key: made.keyPem };
    caPem = made.caPem;
  }
  if (v["ca-out"] !== undefined && caPem === undefined) fail("--ca-out needs --tls-generate");
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
  const termination = int(v["pod-termination-ms"], "pod-termination-ms");
  if (termination !== undefined) options.podTerminationMs = termination;
  const seed = [];
  for (const file of v.seed ?? []) {
    try {
      seed.push(...parseObjects(await Deno.readTextFile(file)));
    } catch (err) {
      fail(`Cannot read seed file ${file}: ${(err as Error).message}`);
    }
  }
  if (seed.length > 0) options.seed = seed;
  if (v.state !== undefined) {
    // A restart from persisted state, as an API server comes back on etcd's data.
    options.stateFile = v.state;
    try {
      const snap = await loadState(v.state);
      if (snap !== undefined) options.restore = snap;
    } catch (err) {
      fail((err as Error).message);
    }
  }
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
  if (v["ca-out"] !== undefined) await Deno.writeTextFile(v["ca-out"], caPem!);
  if (v["kubeconfig-out"] !== undefined) {
    const kc: FakeKubeconfigOptions = { server: server.url };
    if (caPem !== undefined) kc.caPem = caPem;
    if (v.token?.[0] !== undefined) kc.token = v.token[0];
    await Deno.writeTextFile(v["kubeconfig-out"], fakeKubeconfig(kc));
  }
  console.log(server.url);
  console.error(
    `fake API server at ${server.url}, admin at ${server.adminUrl}, resourceVersion ${server.rv}`,
  );
  const stop = async () => {
    if (v.state !== undefined) {
      try {
        await server.save();
      } catch (err) {
        console.error(`Cannot save the state to ${v.state}: ${(err as Error).message}`);
      }
    }
    await server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}

if (import.meta.main) await main(Deno.args);
