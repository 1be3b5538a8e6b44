/**
 * A kubeconfig (the `v1` `Config` that kubectl reads) pointing at a fake API server, so a test can
 * hand a client the same file an operator would: one cluster (server URL, CA data), one user (a
 * bearer token inline, or a `tokenFile` the client rereads after a rotation), one current context.
 * @module
 */

import { stringify } from "yaml";

/** Options of {@linkcode fakeKubeconfig}. */
export interface FakeKubeconfigOptions {
  /** The server URL (`fake.url`). */
  server: string;
  /** The CA that signed the server's certificate (PEM), for https. */
  caPem?: string;
  /** A bearer token, inline. */
  token?: string;
  /** A file holding the bearer token (what a rotation rewrites). */
  tokenFile?: string;
  /** The context's namespace (default `default`). */
  namespace?: string;
  /** The name of the cluster, user and context (default `fake`). */
  name?: string;
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** The kubeconfig YAML text. */
export function fakeKubeconfig(options: FakeKubeconfigOptions): string {
  const name = options.name ?? "fake";
  const cluster: Record<string, string> = { server: options.server };
  if (options.caPem !== undefined) cluster["certificate-authority-data"] = base64(options.caPem);
  const user: Record<string, string> = {};
  if (options.token !== undefined) user.token = options.token;
  if (options.tokenFile !== undefined) user.tokenFile = options.tokenFile;
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster }],
    users: [{ name, user }],
    contexts: [{
      name,
      context: { cluster: name, user: name, namespace: options.namespace ?? "default" },
    }],
    "current-context": name,
    preferences: {},
  });
}
