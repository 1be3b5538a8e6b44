import { assertEquals, assertRejects } from "../../test/assert.ts";
import {
  inClusterConnection,
  KubeconfigError,
  loadKubeconfig,
  parseKubeconfig,
  resolveConnection,
} from "./kubeconfig.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIBkey\n-----END PRIVATE KEY-----\n";
const b64 = (text: string) => btoa(text);

/** A read function over an in-memory set of files. */
function files(map: Record<string, string>) {
  const read: string[] = [];
  const fn = (path: string): Promise<string> => {
    read.push(path);
    const text = map[path];
    return text === undefined
      ? Promise.reject(new Deno.errors.NotFound(path))
      : Promise.resolve(text);
  };
  return Object.assign(fn, { read });
}

const twoContexts = `
apiVersion: v1
kind: Config
current-context: admin
clusters:
  - name: prod
    cluster:
      server: https://10.0.0.1:6443/
      certificate-authority: pki/ca.crt
  - name: lab
    cluster:
      server: https://lab.example:443
      certificate-authority-data: ${b64(CA)}
users:
  - name: admin
    user:
      client-certificate: /etc/pki/admin.crt
      client-key-data: ${b64(KEY)}
  - name: bot
    user:
      tokenFile: tokens/bot
contexts:
  - name: admin
    context: { cluster: prod, user: admin, namespace: kube-system }
  - name: bot
    context: { cluster: lab, user: bot }
`;

Deno.test("parseKubeconfig() resolves the current context's cluster and user, paths relative to the file", async () => {
  const read = files({ "/home/op/.kube/pki/ca.crt": CA, "/etc/pki/admin.crt": CERT });
  const conn = await parseKubeconfig(twoContexts, "/home/op/.kube/config", { readTextFile: read });
  assertEquals(conn, {
    server: "https://10.0.0.1:6443",
    caCerts: [CA],
    clientCert: { cert: CERT, key: KEY },
    namespace: "kube-system",
    origin: 'kubeconfig /home/op/.kube/config (context "admin")',
  });
});

Deno.test("parseKubeconfig() takes a named context and keeps a token file to re-read", async () => {
  const conn = await parseKubeconfig(twoContexts, "/home/op/.kube/config", {
    context: "bot",
    readTextFile: files({}),
  });
  assertEquals(conn.server, "https://lab.example:443");
  assertEquals(conn.caCerts, [CA]);
  assertEquals(conn.tokenFile, "/home/op/.kube/tokens/bot");
  assertEquals(conn.namespace, "default");
  assertEquals(conn.clientCert, undefined);
});

Deno.test("loadKubeconfig() names a kubeconfig that cannot be read", async () => {
  const err = await assertRejects(
    () => loadKubeconfig("/nope/config", { readTextFile: files({}) }),
    KubeconfigError,
    "Cannot read kubeconfig /nope/config: no such file",
  );
  assertEquals(err.file, "/nope/config");
});

const single = (cluster: string, user: string) => `
current-context: c
clusters: [{ name: k, cluster: ${cluster} }]
users: [{ name: u, user: ${user} }]
contexts: [{ name: c, context: { cluster: k, user: u } }]
`;

const refusals: [string, string, string, string][] = [
  [
    "an exec plugin",
    single("{ server: 'https://a:6443' }", "{ exec: { command: aws } }"),
    "users[0].user.exec",
    "exec credential plugins are not supported: give a token, a tokenFile",
  ],
  [
    "an auth-provider plugin",
    single("{ server: 'https://a:6443' }", "{ auth-provider: { name: gcp } }"),
    "users[0].user.auth-provider",
    "auth-provider plugins are not supported",
  ],
  [
    "basic authentication",
    single("{ server: 'https://a:6443' }", "{ username: admin, password: x }"),
    "users[0].user.username",
    "basic authentication is not supported",
  ],
  [
    "insecure-skip-tls-verify",
    single("{ server: 'https://a:6443', insecure-skip-tls-verify: true }", "{ token: t }"),
    "clusters[0].cluster.insecure-skip-tls-verify",
    "tern always verifies the API server's certificate",
  ],
  [
    "a server that is not a URL",
    single("{ server: 'a:6443:x' }", "{ token: t }"),
    "clusters[0].cluster.server",
    "must be an https:// URL",
  ],
  [
    "CA data that is not PEM",
    single(`{ server: 'https://a', certificate-authority-data: ${b64("hello")} }`, "{ token: t }"),
    "clusters[0].cluster.certificate-authority-data",
    "does not decode to PEM",
  ],
  [
    "a CA file that does not exist",
    single("{ server: 'https://a', certificate-authority: ca.pem }", "{ token: t }"),
    "clusters[0].cluster.certificate-authority",
    "cannot read /k/ca.pem: no such file",
  ],
  [
    "a certificate without a key",
    single("{ server: 'https://a' }", `{ client-certificate-data: ${b64(CERT)} }`),
    "users[0].user.client-key",
    "a client certificate needs both",
  ],
  [
    "a missing user",
    "current-context: c\nclusters: [{name: k, cluster: {server: 'https://a'}}]\ncontexts: [{name: c, context: {cluster: k, user: nobody}}]\n",
    "contexts[0].context.user",
    "no user of that name: have none",
  ],
  [
    "a missing current context",
    "current-context: gone\ncontexts: [{name: c, context: {cluster: k}}]\n",
    "current-context",
    'no context of that name: have "c"',
  ],
  [
    "a wrong type",
    "clusters: {name: k}\n",
    "clusters",
    "expected array",
  ],
];

for (const [what, text, key, part] of refusals) {
  Deno.test(`parseKubeconfig() refuses ${what}, naming the file and key`, async () => {
    const err = await assertRejects(
      () => parseKubeconfig(text, "/k/config", { readTextFile: files({}) }),
      KubeconfigError,
      part,
    );
    assertEquals(err.key, key);
    assertEquals(err.file, "/k/config");
    assertEquals(err.message.startsWith(`Invalid kubeconfig /k/config: ${key}`), true, err.message);
  });
}

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("inClusterConnection() reads the service account's token, CA and namespace", async () => {
  const read = files({ "/sa/token": "tok\n", "/sa/ca.crt": CA, "/sa/namespace": "tern-system" });
  const conn = await inClusterConnection({
    dir: "/sa",
    env: env({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }),
    readTextFile: read,
  });
  assertEquals(conn, {
    server: "https://10.96.0.1:443",
    caCerts: [CA],
    tokenFile: "/sa/token",
    namespace: "tern-system",
    origin: "in-cluster",
  });
});

Deno.test("inClusterConnection() brackets an IPv6 service host and defaults the namespace", async () => {
  const conn = await inClusterConnection({
    dir: "/sa",
    env: env({ KUBERNETES_SERVICE_HOST: "fd00:10:96::1", KUBERNETES_SERVICE_PORT: "6443" }),
    readTextFile: files({ "/sa/token": "tok", "/sa/ca.crt": CA }),
  });
  assertEquals(conn.server, "https://[fd00:10:96::1]:6443");
  assertEquals(conn.namespace, "default");
});

Deno.test("inClusterConnection() outside a pod says to give a kubeconfig", async () => {
  await assertRejects(
    () => inClusterConnection({ env: env({}), readTextFile: files({}) }),
    KubeconfigError,
    "KUBERNETES_SERVICE_HOST is not set: tern is not running in a pod: give a kubeconfig",
  );
  await assertRejects(
    () =>
      inClusterConnection({
        env: env({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "https" }),
        readTextFile: files({}),
      }),
    KubeconfigError,
    'KUBERNETES_SERVICE_PORT "https" is not a port',
  );
});

Deno.test("inClusterConnection() names a missing token file and what to mount", async () => {
  const err = await assertRejects(
    () =>
      inClusterConnection({
        dir: "/sa",
        env: env({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }),
        readTextFile: files({ "/sa/ca.crt": CA }),
      }),
    KubeconfigError,
    "cannot read the service account's token /sa/token: no such file: mount the service-account token",
  );
  assertEquals(err.file, "/sa/token");
});

Deno.test("resolveConnection() prefers a kubeconfig and falls back to in-cluster", async () => {
  const read = files({
    "/k/config": single("{ server: 'https://a:6443' }", "{ token: ' t0k ' }"),
    "/sa/token": "tok",
    "/sa/ca.crt": CA,
  });
  const vars = env({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" });
  const fromFile = await resolveConnection({
    kubeconfig: "/k/config",
    env: vars,
    readTextFile: read,
  });
  assertEquals([fromFile.server, fromFile.token], ["https://a:6443", "t0k"]);
  const inCluster = await resolveConnection({ dir: "/sa", env: vars, readTextFile: read });
  assertEquals(inCluster.origin, "in-cluster");
});
