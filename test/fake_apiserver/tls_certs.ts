/**
 * Throwaway TLS material for the fake API server: a CA and a serving certificate it signs for the
 * given IP addresses and names, made with the `openssl` command (Debian's, which bootstrap
 * installs). A client trusts the CA, as a kubeconfig's `certificate-authority-data` or an
 * in-cluster `ca.crt` makes it; rustls refuses a self-signed CA certificate as a server's own,
 * hence the two.
 * @module
 */

/** PEM texts: the CA (for clients) and the server's certificate and key. */
export interface ServingCertificate {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Options of {@linkcode makeServingCertificate}. */
export interface ServingCertificateOptions {
  /** IP addresses and DNS names the certificate is valid for (default 127.0.0.1 and localhost). */
  hosts?: string[];
  /** Validity in days (default 2). */
  days?: number;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

async function openssl(dir: string, args: string[]): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
      .output();
  } catch (err) {
    throw new Error(
      `Cannot run openssl to make test certificates: ${
        (err as Error).message
      }: install the openssl package`,
    );
  }
  if (!out.success) {
    throw new Error(
      `openssl ${args[0]} failed making test certificates: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

/** Makes a CA and a serving certificate (EC P-256) in a temporary directory, then removes it. */
export async function makeServingCertificate(
  options: ServingCertificateOptions = {},
): Promise<ServingCertificate> {
  const hosts = options.hosts ?? ["127.0.0.1", "localhost"];
  const days = String(options.days ?? 2);
  const dir = await Deno.makeTempDir({ prefix: "tern-fake-api-tls-" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl(dir, [
      "req",
      "-x509",
      ...ec,
      "-days",
      days,
      "-subj",
      "/CN=tern-fake-api-ca",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
    ]);
    await openssl(dir, [
      "req",
      ...ec,
      "-subj",
      `/CN=${hosts[0] ?? "fake-apiserver"}`,
      "-keyout",
      "key.pem",
      "-out",
      "server.csr",
    ]);
    const san = hosts.map((h) => (IPV4.test(h) || h.includes(":") ? `IP:${h}` : `DNS:${h}`));
    await Deno.writeTextFile(
      `${dir}/ext.cnf`,
      `subjectAltName=${san.join(",")}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
    );
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      days,
      "-extfile",
      "ext.cnf",
      "-out",
      "cert.pem",
    ]);
    return {
      caPem: await Deno.readTextFile(`${dir}/ca.pem`),
      certPem: await Deno.readTextFile(`${dir}/cert.pem`),
      keyPem: await Deno.readTextFile(`${dir}/key.pem`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
