/**
 * Where the API server is and how to prove who we are: a {@linkcode KubeConnection}, read from a
 * kubeconfig file ({@linkcode loadKubeconfig}) or from the service account that Kubernetes mounts
 * into every pod ({@linkcode inClusterConnection}). Only what tern's client can honour is
 * accepted; everything else is refused with an error that names the file, the key, the value and
 * what to use instead (`exec` and `auth-provider` plugins, basic auth, `insecure-skip-tls-verify`,
 * `tls-server-name`, `proxy-url`). File reads are injectable, so tests need no real paths.
 * @module
 */
import * as z from "../lib/zod.ts";
import { parse as parseYaml } from "yaml";
import { formatPath, formatValue } from "../zod_issues.ts";

/** Everything the client needs to reach and authenticate to one API server. */
export interface KubeConnection {
  /** The server's base URL without a trailing slash (`https://10.0.0.1:6443`, possibly with a path). */
  server: string;
  /** PEM certificates trusted for the server (in addition to the system's roots, as Deno's fetch does). */
  caCerts: string[];
  /** A client certificate chain and its key, PEM, when the user authenticates by certificate. */
  clientCert?: { cert: string; key: string };
  /** A bearer token given inline (never re-read). */
  token?: string;
  /** A file holding the bearer token, re-read when it changes and after a 401 (bound tokens rotate). */
  tokenFile?: string;
  /** The namespace of the context (or of the pod's service account); `default` when unset. */
  namespace: string;
  /** Where this came from, for messages: `kubeconfig /root/.kube/config (context "admin")` or `in-cluster`. */
  origin: string;
}

/** A kubeconfig or in-cluster setup that cannot be used; the message says where and what to do. */
export class KubeconfigError extends Error {
  /** The file that was read (the kubeconfig, a referenced certificate, the service-account dir). */
  readonly file: string;
  /** The key path inside it (`users[0].user.exec`), empty for the whole file. */
  readonly key: string;

  /** `message` is complete; `file` and `key` are kept for callers. */
  constructor(message: string, file: string, key = "") {
    super(message);
    this.name = "KubeconfigError";
    this.file = file;
    this.key = key;
  }
}

/** Reads a text file; injectable for tests. Throws as `Deno.readTextFile` does. */
export type ReadTextFile = (path: string) => Promise<string>;

const clusterSchema = z.looseObject({
  server: z.string().min(1),
  "certificate-authority": z.string().min(1).optional(),
  "certificate-authority-data": z.string().min(1).optional(),
  "insecure-skip-tls-verify": z.boolean().optional(),
  "tls-server-name": z.string().optional(),
  "proxy-url": z.string().optional(),
});

const userSchema = z.looseObject({
  token: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  "client-certificate": z.string().min(1).optional(),
  "client-certificate-data": z.string().min(1).optional(),
  "client-key": z.string().min(1).optional(),
  "client-key-data": z.string().min(1).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  exec: z.unknown().optional(),
  "auth-provider": z.unknown().optional(),
}).nullish();

const contextSchema = z.looseObject({
  cluster: z.string().min(1),
  user: z.string().optional(),
  namespace: z.string().optional(),
});

const kubeconfigSchema = z.looseObject({
  "current-context": z.string().optional(),
  clusters: z.array(z.looseObject({ name: z.string().min(1), cluster: clusterSchema })).nullish(),
  users: z.array(z.looseObject({ name: z.string().min(1), user: userSchema })).nullish(),
  contexts: z.array(z.looseObject({ name: z.string().min(1), context: contextSchema })).nullish(),
});

/** Options of {@linkcode loadKubeconfig} and {@linkcode parseKubeconfig}. */
export interface KubeconfigOptions {
  /** The context to use; default the file's `current-context`. */
  context?: string | undefined;
  /** Reads referenced files (and, for `loadKubeconfig`, the kubeconfig). Default `Deno.readTextFile`. */
  readTextFile?: ReadTextFile;
}

/** Reads and resolves the kubeconfig at `path`. Throws {@linkcode KubeconfigError}. */
export async function loadKubeconfig(
  path: string,
  options: KubeconfigOptions = {},
): Promise<KubeConnection> {
  const read = options.readTextFile ?? Deno.readTextFile;
  let text: string;
  try {
    text = await read(path);
  } catch (err) {
    throw new KubeconfigError(
      `Cannot read kubeconfig ${path}: ${
        describeReadError(err)
      }: give the path of a readable kubeconfig, or none to use the in-cluster service account`,
      path,
    );
  }
  return await parseKubeconfig(text, path, options);
}

/**
 * Resolves the kubeconfig `text`, read from `path` (which names it in errors and anchors relative
 * certificate and token paths). Throws {@linkcode KubeconfigError}.
 */
export async function parseKubeconfig(
  text: string,
  path: string,
  options: KubeconfigOptions = {},
): Promise<KubeConnection> {
  const read = options.readTextFile ?? Deno.readTextFile;
  const fail = (key: string, value: unknown, what: string): never => {
    const at = key === "" ? "" : ` ${key}`;
    const shown = value === undefined ? "" : ` (${formatValue(value)})`;
    throw new KubeconfigError(`Invalid kubeconfig ${path}:${at}${shown}: ${what}`, path, key);
  };
  let input: unknown;
  try {
    input = parseYaml(text);
  } catch (err) {
    return fail("", undefined, `not valid YAML: ${String(err).split("\n")[0]}`);
  }
  const parsed = kubeconfigSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return fail(formatPath(issue.path), undefined, issue.message);
  }
  const config = parsed.data;

  const contexts = config.contexts ?? [];
  const contextName = options.context ?? config["current-context"];
  if (contextName === undefined || contextName === "") {
    return fail(
      "current-context",
      undefined,
      `is not set: set current-context or name a context (${names(contexts)})`,
    );
  }
  const contextIndex = contexts.findIndex((c) => c.name === contextName);
  if (contextIndex < 0) {
    const key = options.context !== undefined ? "contexts" : "current-context";
    return fail(key, contextName, `no context of that name: have ${names(contexts)}`);
  }
  const context = contexts[contextIndex]!.context;

  const clusters = config.clusters ?? [];
  const clusterIndex = clusters.findIndex((c) => c.name === context.cluster);
  if (clusterIndex < 0) {
    return fail(
      `contexts[${contextIndex}].context.cluster`,
      context.cluster,
      `no cluster of that name: have ${names(clusters)}`,
    );
  }
  const cluster = clusters[clusterIndex]!.cluster;
  const ck = `clusters[${clusterIndex}].cluster`;

  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch {
    return fail(`${ck}.server`, cluster.server, "not a URL: give https://host:port");
  }
  if (server.protocol !== "https:" && server.protocol !== "http:") {
    return fail(`${ck}.server`, cluster.server, "must be an https:// URL");
  }
  if (cluster["insecure-skip-tls-verify"] === true) {
    fail(
      `${ck}.insecure-skip-tls-verify`,
      true,
      "is not supported: tern always verifies the API server's certificate; give certificate-authority or certificate-authority-data",
    );
  }
  if (cluster["tls-server-name"] !== undefined) {
    fail(
      `${ck}.tls-server-name`,
      cluster["tls-server-name"],
      "is not supported: use a server URL whose host name is in the server's certificate",
    );
  }
  if (cluster["proxy-url"] !== undefined) {
    fail(
      `${ck}.proxy-url`,
      cluster["proxy-url"],
      "is not supported: reach the API server directly",
    );
  }
  const caCerts: string[] = [];
  const ca = await material(cluster, ck, "certificate-authority");
  if (ca !== undefined) caCerts.push(ca);

  const connection: KubeConnection = {
    server: cluster.server.replace(/\/+$/, ""),
    caCerts,
    namespace: context.namespace || "default",
    origin: `kubeconfig ${path} (context ${JSON.stringify(contextName)})`,
  };

  if (context.user !== undefined && context.user !== "") {
    const users = config.users ?? [];
    const userIndex = users.findIndex((u) => u.name === context.user);
    if (userIndex < 0) {
      return fail(
        `contexts[${contextIndex}].context.user`,
        context.user,
        `no user of that name: have ${names(users)}`,
      );
    }
    const user = users[userIndex]!.user ?? {};
    const uk = `users[${userIndex}].user`;
    const instead =
      "give a token, a tokenFile (e.g. a service account's token) or client-certificate and client-key";
    if (user.exec !== undefined) {
      fail(`${uk}.exec`, undefined, `exec credential plugins are not supported: ${instead}`);
    }
    if (user["auth-provider"] !== undefined) {
      fail(`${uk}.auth-provider`, undefined, `auth-provider plugins are not supported: ${instead}`);
    }
    if (user.username !== undefined || user.password !== undefined) {
      fail(`${uk}.username`, user.username, `basic authentication is not supported: ${instead}`);
    }
    if (user.token !== undefined) connection.token = user.token.trim();
    if (user.tokenFile !== undefined) connection.tokenFile = relative(path, user.tokenFile);
    const cert = await material(user, uk, "client-certificate");
    const key = await material(user, uk, "client-key");
    if ((cert === undefined) !== (key === undefined)) {
      const missing = cert === undefined ? "client-certificate" : "client-key";
      fail(
        `${uk}.${missing}`,
        undefined,
        `is missing: a client certificate needs both -certificate and -key`,
      );
    }
    if (cert !== undefined && key !== undefined) connection.clientCert = { cert, key };
  }
  return connection;

  /** `<name>` (a path relative to the kubeconfig) or `<name>-data` (base64 PEM), PEM text. */
  async function material(
    holder: Record<string, unknown>,
    prefix: string,
    name: string,
  ): Promise<string | undefined> {
    const data = holder[`${name}-data`];
    const file = holder[name];
    if (typeof data === "string") {
      let pem: string;
      try {
        pem = new TextDecoder().decode(
          Uint8Array.from(atob(data.replace(/\s+/g, "")), (c) => c.charCodeAt(0)),
        );
      } catch {
        return fail(
          `${prefix}.${name}-data`,
          data,
          "not base64: give the PEM file's content, base64-encoded",
        );
      }
      if (!pem.includes("-----BEGIN ")) {
        return fail(`${prefix}.${name}-data`, data, "does not decode to PEM (no -----BEGIN line)");
      }
      return pem;
    }
    if (typeof file !== "string") return undefined;
    const full = relative(path, file);
    let pem: string;
    try {
      pem = await read(full);
    } catch (err) {
      return fail(`${prefix}.${name}`, file, `cannot read ${full}: ${describeReadError(err)}`);
    }
    if (!pem.includes("-----BEGIN ")) {
      return fail(`${prefix}.${name}`, file, `${full} is not PEM (no -----BEGIN line)`);
    }
    return pem;
  }
}

/** Where Kubernetes mounts a pod's service-account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Options of {@linkcode inClusterConnection}; injectable for tests. */
export interface InClusterOptions {
  /** The service-account directory. Default {@linkcode SERVICE_ACCOUNT_DIR}. */
  dir?: string;
  /** Reads an environment variable. Default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /** Default `Deno.readTextFile`. */
  readTextFile?: ReadTextFile;
}

/**
 * The connection of a pod: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT` (an IPv6
 * host in brackets), the CA `ca.crt`, the token file `token` (re-read as it rotates) and the
 * namespace `namespace` of the service-account directory. Throws {@linkcode KubeconfigError}.
 */
export async function inClusterConnection(options: InClusterOptions = {}): Promise<KubeConnection> {
  const dir = options.dir ?? SERVICE_ACCOUNT_DIR;
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const read = options.readTextFile ?? Deno.readTextFile;
  const host = env("KUBERNETES_SERVICE_HOST");
  const port = env("KUBERNETES_SERVICE_PORT");
  const hint =
    "tern is not running in a pod: give a kubeconfig (cluster.kubeconfig, or --kubeconfig)";
  if (host === undefined || host === "") {
    throw new KubeconfigError(
      `Cannot use the in-cluster config: KUBERNETES_SERVICE_HOST is not set: ${hint}`,
      "KUBERNETES_SERVICE_HOST",
    );
  }
  if (port === undefined || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new KubeconfigError(
      `Cannot use the in-cluster config: KUBERNETES_SERVICE_PORT ${
        formatValue(port)
      } is not a port (1..65535): ${hint}`,
      "KUBERNETES_SERVICE_PORT",
    );
  }
  const tokenFile = `${dir}/token`;
  const caFile = `${dir}/ca.crt`;
  const readOrFail = async (file: string, what: string): Promise<string> => {
    try {
      return await read(file);
    } catch (err) {
      throw new KubeconfigError(
        `Cannot use the in-cluster config: cannot read the service account's ${what} ${file}: ${
          describeReadError(err)
        }: mount the service-account token (automountServiceAccountToken) or give a kubeconfig`,
        file,
      );
    }
  };
  const token = (await readOrFail(tokenFile, "token")).trim();
  if (token === "") {
    throw new KubeconfigError(
      `Cannot use the in-cluster config: the service account's token ${tokenFile} is empty`,
      tokenFile,
    );
  }
  const ca = await readOrFail(caFile, "CA certificate");
  if (!ca.includes("-----BEGIN ")) {
    throw new KubeconfigError(
      `Cannot use the in-cluster config: ${caFile} is not PEM (no -----BEGIN line)`,
      caFile,
    );
  }
  let namespace = "default";
  try {
    namespace = (await read(`${dir}/namespace`)).trim() || "default";
  } catch {
    // Optional: older clusters and projected volumes without it.
  }
  const hostPart = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return {
    server: `https://${hostPart}:${port}`,
    caCerts: [ca],
    tokenFile,
    namespace,
    origin: "in-cluster",
  };
}

/**
 * The connection for tern's config: the kubeconfig at `kubeconfig` when given, else in-cluster.
 */
export async function resolveConnection(
  options: { kubeconfig?: string | undefined; context?: string | undefined } & InClusterOptions,
): Promise<KubeConnection> {
  if (options.kubeconfig !== undefined && options.kubeconfig !== "") {
    return await loadKubeconfig(options.kubeconfig, options);
  }
  return await inClusterConnection(options);
}

function names(list: { name: string }[]): string {
  return list.length === 0 ? "none" : list.map((x) => JSON.stringify(x.name)).join(", ");
}

function relative(kubeconfigPath: string, file: string): string {
  if (file.startsWith("/")) return file;
  const slash = kubeconfigPath.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "" : kubeconfigPath.slice(0, slash);
  return `${dir}/${file}`;
}

function describeReadError(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  return err instanceof Error ? err.message : String(err);
}
