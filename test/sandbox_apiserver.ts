/**
 * The sandbox cluster's API server for the `kubernetes` cluster source: the fake API server
 * (`test/fake_apiserver/main.ts`) run as a process inside the fabric's network namespace, on an
 * address added to the fabric's bridge there (never in the root namespace), with a bearer token
 * and, by default, TLS with a CA that `openssl` makes in the sandbox's temp dir. tern's CRDs are
 * installed from `deploy/` as an operator would install them, so the server serves each kind with
 * the scope tern ships. Each node gets a kubeconfig (the server's URL, the CA, a token file).
 *
 * The test process stays in the root namespace and reaches the server through a Unix socket
 * relayed to it from inside the fabric (`unix_relay.ts`), and a listener on the root namespace's
 * loopback that forwards to that socket (so TLS runs end to end: the certificate also names
 * 127.0.0.1); its writes go through {@linkcode KubeClusterObjects}. The processes
 * run in the fabric's namespace, so the sandbox's clean-up ends them with everything else;
 * {@linkcode SandboxApiServer.stop} ends them first.
 * @module
 */
import { parseAllDocuments, stringify } from "yaml";
import { must, type Sandbox, type SandboxFabric } from "./sandbox.ts";
import { KubeClusterObjects } from "./cluster_objects_kube.ts";
import { pipeBoth } from "./unix_relay.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The fake API server's entry, from the fake-api work (issue 11). */
export const FAKE_APISERVER_MAIN = `${ROOT}test/fake_apiserver/main.ts`;
const RELAY = `${ROOT}test/unix_relay.ts`;
/** The CRDs tern ships, installed on the sandbox's server before anything is written. */
export const SANDBOX_CRDS = [
  `${ROOT}deploy/00-crd-securitygroups.yaml`,
  `${ROOT}deploy/01-crd-ippools.yaml`,
  `${ROOT}deploy/02-crd-ipamblocks.yaml`,
  `${ROOT}deploy/optional/crd-securitygrouppolicies.yaml`,
];

/** The server's address on the fabric: the last but one of the fabric's /24 (`.254` routes). */
export const APISERVER_SUFFIX = 253;
/** The port it listens on, the API server's usual one. */
export const APISERVER_PORT = 6443;
/** The port of its admin listener (with `adminPort`), which stays up while the API is stopped. */
export const APISERVER_ADMIN_PORT = 6444;

/** Options of {@linkcode startSandboxApiServer}. */
export interface SandboxApiServerOptions {
  /** TLS with a CA of the sandbox's own (default true); false: plain HTTP. */
  tls?: boolean;
  /** How long the server and the relay may take to start (default 30 s). */
  timeoutMs?: number;
  /**
   * Also serve the fake's admin API on its own listener (`--admin-port`), so that the test can
   * start the API again after stopping it (default false: the admin API is only under `/_fake/`
   * on the API's listener).
   */
  adminPort?: boolean;
}

/** A running sandbox API server. */
export interface SandboxApiServer {
  /** `https://10.98.0.253:6443`: the URL the nodes use. */
  url: string;
  /** `https://127.0.0.1:<port>`: the same server as the test process reaches it. */
  localUrl: string;
  /** The nodes' bearer token (also in {@linkcode tokenFile}, which their kubeconfigs name). */
  token: string;
  tokenFile: string;
  /**
   * The test's own token (a cluster admin's, as kubectl's): distinct from the nodes', so that
   * rotating the nodes' token leaves the test's writes working.
   */
  adminToken: string;
  /** The CA's PEM when TLS is on. */
  caPem?: string;
  /** The objects, written through the server. */
  objects: KubeClusterObjects;
  /**
   * Calls the fake's admin API (`POST /_fake/<path>` with a JSON body, or `GET` without one), on
   * its own listener when started with `adminPort` (reachable while the API is stopped), else on
   * the API's. Throws with the answer when it is not a success.
   */
  admin<T = unknown>(path: string, body?: unknown): Promise<T>;
  /** The kubeconfig text for a node (the file is for the daemon's `cluster.kubeconfig`). */
  kubeconfig(nodeName: string): string;
  /** Stops the relay and the server (idempotent). */
  stop(): Promise<void>;
}

/** A child process that says on its first line of stdout that it is ready. */
interface Started {
  child: Deno.ChildProcess;
  firstLine: string;
}

/**
 * Starts `argv` inside `netns`, returns its first stdout line; its stderr (and later stdout) go to
 * `logFile`. Fails with the log when the process ends first or says nothing in `timeoutMs`.
 */
async function startInNetns(
  netns: string,
  argv: string[],
  options: { logFile: string; timeoutMs: number; what: string },
): Promise<Started> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", netns, ...argv],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log = await Deno.open(options.logFile, { write: true, create: true, append: true });
  const errDone = child.stderr.pipeTo(log.writable, { preventClose: true }).catch(() => {});
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((r) =>
    timer = setTimeout(() => r("timeout"), options.timeoutMs)
  );
  const firstLine = (async () => {
    while (!buffer.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffer += value;
    }
    return buffer.slice(0, buffer.indexOf("\n")).trim();
  })();
  const line = await Promise.race([firstLine, timeout]);
  clearTimeout(timer);
  if (line === undefined || line === "timeout") {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
    await child.status;
    await errDone;
    log.close();
    const text = await Deno.readTextFile(options.logFile).catch(() => "");
    throw new Error(
      `Cannot start ${options.what} in ${netns}: ${
        line === "timeout" ? `no answer in ${options.timeoutMs} ms` : "it exited"
      }: ${text.trim().slice(-2000)}`,
    );
  }
  // Keep draining stdout into the log, so the process never blocks on a full pipe.
  (async () => {
    const enc = new TextEncoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      await log.write(enc.encode(value));
    }
  })().catch(() => {}).finally(async () => {
    await errDone;
    log.close();
  });
  return { child, firstLine: line };
}

/** Makes a CA and a server certificate for `ip` with openssl, in `dir`; returns the paths. */
export async function makeServerCertificate(
  dir: string,
  ip: string,
): Promise<{ ca: string; cert: string; key: string }> {
  const ca = `${dir}/ca.pem`;
  const caKey = `${dir}/ca-key.pem`;
  const cert = `${dir}/server.pem`;
  const key = `${dir}/server-key.pem`;
  const csr = `${dir}/server.csr`;
  const ext = `${dir}/server.ext`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await must([
    "openssl",
    "req",
    "-x509",
    ...ec,
    "-keyout",
    caKey,
    "-out",
    ca,
    "-days",
    "1",
    "-subj",
    "/CN=tern sandbox CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await must([
    "openssl",
    "req",
    "-new",
    ...ec,
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    "/CN=kube-apiserver",
  ]);
  await Deno.writeTextFile(
    ext,
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=IP:${ip},IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default.svc`,
    ].join("\n") + "\n",
  );
  await must([
    "openssl",
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "1",
    "-extfile",
    ext,
  ]);
  return { ca, cert, key };
}

/** The kubeconfig of a node (pure): one cluster, one user with a token file, one context. */
export function nodeKubeconfig(
  nodeName: string,
  options: { server: string; tokenFile: string; caPem?: string | undefined },
): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "sandbox",
      cluster: {
        server: options.server,
        ...(options.caPem !== undefined
          ? { "certificate-authority-data": btoa(options.caPem) }
          : {}),
      },
    }],
    users: [{ name: nodeName, user: { tokenFile: options.tokenFile } }],
    contexts: [{ name: nodeName, context: { cluster: "sandbox", user: nodeName } }],
    "current-context": nodeName,
  });
}

/**
 * Starts the sandbox's API server in the fabric's namespace on `<fabric>.253:6443`, the relay
 * that lets the test process reach it, and installs tern's CRDs. Needs root; the sandbox's
 * clean-up ends both processes.
 */
export async function startSandboxApiServer(
  sb: Sandbox,
  fabric: SandboxFabric,
  options: SandboxApiServerOptions = {},
): Promise<SandboxApiServer> {
  try {
    await Deno.stat(FAKE_APISERVER_MAIN);
  } catch {
    throw new Error(
      `Cannot start the sandbox's API server: ${FAKE_APISERVER_MAIN} is missing: ` +
        "the fake API server (issue 11) is not in this checkout",
    );
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  const tls = options.tls ?? true;
  const dir = `${sb.dir}/apiserver`;
  await Deno.mkdir(dir, { recursive: true });
  const ip = `${fabric.subnetPrefix}.${APISERVER_SUFFIX}`;
  await must([
    "ip",
    "-n",
    fabric.netns,
    "addr",
    "add",
    `${ip}/${fabric.prefixLen}`,
    "dev",
    fabric.bridge,
  ]);

  const newToken = () =>
    [...crypto.getRandomValues(new Uint8Array(16))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
  const token = newToken();
  const adminToken = newToken();
  const tokenFile = `${dir}/token`;
  await Deno.writeTextFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const certs = tls ? await makeServerCertificate(dir, ip) : undefined;
  const caPem = certs ? await Deno.readTextFile(certs.ca) : undefined;

  const children: Deno.ChildProcess[] = [];
  const stops: (() => void)[] = [];
  const stop = async () => {
    for (const close of stops.splice(0)) close();
    for (const child of children.splice(0).reverse()) {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.status;
    }
  };
  try {
    const server = await startInNetns(fabric.netns, [
      Deno.execPath(),
      "run",
      "--allow-all",
      "--quiet",
      FAKE_APISERVER_MAIN,
      "--hostname",
      ip,
      "--port",
      String(APISERVER_PORT),
      "--token",
      token,
      "--token",
      adminToken,
      ...(options.adminPort ? ["--admin-port", String(APISERVER_ADMIN_PORT)] : []),
      ...(certs ? ["--tls-cert", certs.cert, "--tls-key", certs.key] : []),
    ], { logFile: `${dir}/apiserver.log`, timeoutMs, what: "the fake API server" });
    children.push(server.child);
    const url = server.firstLine.replace(/\/+$/, "");
    if (!/^https?:\/\//.test(url)) {
      throw new Error(`Cannot start the fake API server: its first line is not a URL: ${url}`);
    }
    const socket = `${dir}/api.sock`;
    const relay = await startInNetns(fabric.netns, [
      Deno.execPath(),
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--quiet",
      RELAY,
      socket,
      `${ip}:${APISERVER_PORT}`,
    ], { logFile: `${dir}/relay.log`, timeoutMs, what: "the API server's relay" });
    children.push(relay.child);

    const forward = forwardLoopback(socket);
    stops.push(() => forward.close());
    const localUrl = url.replace(/\/\/[^/]+/, `//127.0.0.1:${forward.port}`);
    let adminUrl = `${localUrl}/_fake`;
    if (options.adminPort) {
      const adminSocket = `${dir}/admin.sock`;
      const adminRelay = await startInNetns(fabric.netns, [
        Deno.execPath(),
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        "--quiet",
        RELAY,
        adminSocket,
        `${ip}:${APISERVER_ADMIN_PORT}`,
      ], { logFile: `${dir}/admin-relay.log`, timeoutMs, what: "the admin API's relay" });
      children.push(adminRelay.child);
      const adminForward = forwardLoopback(adminSocket);
      stops.push(() => adminForward.close());
      adminUrl = `${url.replace(/\/\/[^/]+/, `//127.0.0.1:${adminForward.port}`)}/_fake`;
    }
    const client = Deno.createHttpClient(caPem !== undefined ? { caCerts: [caPem] } : {});
    await installCrds(localUrl, client);
    const objects = new KubeClusterObjects({ server: localUrl, token: adminToken, client });
    const admin = async <T>(path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${adminUrl}/${path.replace(/^\/+/, "")}`, {
        method: body === undefined ? "GET" : "POST",
        ...(body === undefined
          ? {}
          : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
        client,
      });
      const text = await res.text();
      if (!res.ok) {
        throw new Error(`The fake API server's admin ${path} failed: ${res.status}: ${text}`);
      }
      return (text === "" ? undefined : JSON.parse(text)) as T;
    };
    return {
      url,
      localUrl,
      token,
      tokenFile,
      adminToken,
      admin,
      ...(caPem !== undefined ? { caPem } : {}),
      objects,
      kubeconfig: (nodeName) => nodeKubeconfig(nodeName, { server: url, tokenFile, caPem }),
      stop: async () => {
        await stop();
        objects.close();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Listens on 127.0.0.1 (a free port) and forwards each connection to the Unix `socket`. `close()`
 * stops listening and ends the connections.
 */
function forwardLoopback(socket: string): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      Deno.connect({ transport: "unix", path: socket }).then(
        (upstream) => {
          conns.add(upstream);
          return pipeBoth(conn, upstream).finally(() => {
            conns.delete(conn);
            conns.delete(upstream);
          });
        },
        () => {
          conns.delete(conn);
          conn.close();
        },
      );
    }
  })().catch(() => {});
  return {
    port: listener.addr.port,
    close: () => {
      try {
        listener.close();
      } catch {
        // closed
      }
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed
        }
      }
      conns.clear();
    },
  };
}

/**
 * Installs tern's CRDs from `deploy/` through the fake server's admin API (`/_fake/crds`): a real
 * server takes them through `apiextensions.k8s.io`, which the fake does not serve.
 */
async function installCrds(url: string, client: Deno.HttpClient): Promise<void> {
  for (const file of SANDBOX_CRDS) {
    const docs = parseAllDocuments(await Deno.readTextFile(file)).map((d) => d.toJS());
    for (const crd of docs.filter((d) => d?.kind === "CustomResourceDefinition")) {
      const res = await fetch(`${url}/_fake/crds`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(crd),
        client,
      });
      if (!res.ok) {
        throw new Error(
          `Cannot install the CRD ${crd.metadata?.name} from ${file}: ${res.status}: ${await res
            .text()}`,
        );
      }
      await res.body?.cancel();
    }
  }
}
