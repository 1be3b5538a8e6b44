/**
 * Scenario 9 of the chaos battery, the daemon's API: seeded random requests on the socket's
 * routes (every path and method, bodies mutated from valid ones: fields deleted or given values
 * of every JSON type, bytes that are not UTF-8, broken JSON, bodies over the 64 KiB cap, odd
 * percent-encodings in paths), each judged by {@linkcode expectedApi}, an oracle written from
 * `src/api.ts` and docs/daemon.md (the CNI identity rules, Kubernetes name rules for the pod's
 * namespace and name). Pure; the test drives the real handler over a real Ipam on an in-memory KV.
 * @module
 */
import { hostVethName } from "../../src/names.ts";
import type { SeededRandom } from "./seeded_random.ts";

/** A generated request. */
export interface ApiInput {
  method: string;
  path: string;
  body?: Uint8Array<ArrayBuffer>;
  /** What was changed from a valid request, for the report. */
  mutations: string[];
}

/** The oracle's answer: the input is valid (any status but 400/405/413/500) or this 4xx. */
export type ApiVerdict = { kind: "valid" } | { kind: "refused"; status: number };

const IDS = ["c1", "c2", "c3", "ctr-a", "A.b_c-9"];
const STRINGS = [
  "",
  "c1",
  "a b",
  "-a",
  ".a",
  "../x",
  "/x",
  "x".repeat(257),
  "éééééééé",
  "eth0",
  "eth\u00850",
  "a:b",
  "Default",
  "kube-system",
  "web-1.a",
  "web_1",
  "a".repeat(64),
  "10.0.0.7",
  "10.0.0.256",
  "0a:58:0a:f4:01:07",
  "0A:58:0A:F4:01:07",
  "0a-58-0a-f4-01-07",
  "\u{1f600}",
];
const VALUES: readonly unknown[] = [null, true, 0, -1, 1.5, 65_536, [], {}, ["c1"], ...STRINGS];

const ROUTES: readonly { method: string; path: string }[] = [
  { method: "GET", path: "/v1/status" },
  { method: "POST", path: "/v1/ipam/allocate" },
  { method: "POST", path: "/v1/endpoints/add" },
  { method: "POST", path: "/v1/endpoints" },
  { method: "GET", path: "/v1/endpoints" },
  { method: "GET", path: "/v1/endpoints/{id}/{ifname}" },
  { method: "POST", path: "/v1/endpoints/release" },
  { method: "POST", path: "/v1/gc" },
];

/** One random request, from `r`. */
export async function generateApiRequest(r: SeededRandom): Promise<ApiInput> {
  const mutations: string[] = [];
  let { method, path } = r.pick(ROUTES);
  if (r.chance(0.05)) {
    method = r.pick(["GET", "POST", "PUT", "DELETE", "PATCH"]);
    mutations.push(`method ${method}`);
  }
  if (r.chance(0.03)) {
    path = r.pick(["/v1", "/v1/", "/v2/status", "/v1/status/", "//v1/status", "/v1/endpoints/a"]);
    mutations.push(`path ${path}`);
  }
  const containerID = r.pick(IDS);
  const ifname = r.pick(["eth0", "net1"]);
  if (path.includes("{id}")) {
    const id = r.chance(0.7) ? containerID : r.pick(STRINGS);
    const raw = r.chance(0.1) ? r.pick(["%", "%zz", "%2F", "%00", "%C3"]) : encodeURIComponent(id);
    path = `/v1/endpoints/${raw}/${encodeURIComponent(ifname)}`;
    if (raw !== encodeURIComponent(containerID)) mutations.push(`path ${path}`);
  }
  if (method !== "POST") return { method, path, mutations };

  const body: Record<string, unknown> = { containerID, ifname, network: "tern" };
  if (path === "/v1/ipam/allocate" || path === "/v1/endpoints" || path === "/v1/endpoints/add") {
    body.netns = `/var/run/netns/${containerID}`;
    if (r.chance(0.5)) body.podNamespace = r.pick(["default", "kube-system"]);
    if (r.chance(0.5)) body.podName = r.pick(["web", "web-1.a"]);
  }
  if (path === "/v1/endpoints" || path === "/v1/endpoints/add") {
    body.hostVeth = await hostVethName(containerID, ifname);
    body.podMac = "0a:58:0a:f4:01:07";
  }
  if (path === "/v1/endpoints") body.ip = `10.0.0.${r.int(1, 254)}`;
  if (path === "/v1/gc") {
    delete body.containerID;
    delete body.ifname;
    body.valid = Array.from({ length: r.int(0, 2) }, () => ({ containerID: r.pick(IDS), ifname }));
  }
  const keys = [...Object.keys(body), "podNamespace", "podName", "extra"];
  for (let i = r.pick([0, 0, 1, 1, 2]); i > 0; i--) {
    const key = r.pick(keys);
    if (r.chance(0.2)) {
      delete body[key];
      mutations.push(`${key} deleted`);
    } else {
      body[key] = r.chance(0.6) ? r.pick(STRINGS) : r.pick(VALUES);
      mutations.push(`${key}=${JSON.stringify(body[key])?.slice(0, 40)}`);
    }
  }
  let bytes: Uint8Array<ArrayBuffer> = new TextEncoder().encode(JSON.stringify(body));
  const roll = r.int(0, 39);
  if (roll === 0) {
    bytes = new TextEncoder().encode(JSON.stringify({ ...body, pad: "p".repeat(70_000) }));
    mutations.push("body over 64 KiB");
  } else if (roll === 1) {
    const at = r.int(0, bytes.length - 1);
    bytes = new Uint8Array([...bytes.slice(0, at), ...bytes.slice(at + 1)]);
    mutations.push(`byte ${at} cut`);
  } else if (roll === 2 || roll === 3) {
    // Bytes that are not UTF-8 inside a string value.
    const text = JSON.stringify(body);
    const starts = [...text.matchAll(/:"/g)].map((m) => m.index + 1);
    const quote = starts.length > 0 ? r.pick(starts) : -1;
    if (quote > 0) {
      bytes = new Uint8Array([
        ...new TextEncoder().encode(text.slice(0, quote + 1)),
        r.pick([0xff, 0xc0, 0xed]),
        ...new TextEncoder().encode(text.slice(quote + 1)),
      ]);
      mutations.push("invalid UTF-8 in a value");
    }
  } else if (roll === 4) {
    bytes = new TextEncoder().encode(r.pick(["", " ", "null", "[]", '"x"', "{"]));
    mutations.push(`body ${new TextDecoder().decode(bytes)}`);
  }
  return { method, path, body: bytes, mutations };
}

// ---- the oracle --------------------------------------------------------------------------------

const CNI_ID = /^[A-Za-z0-9][A-Za-z0-9_.\-]*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const id = (v: unknown) => typeof v === "string" && v.length <= 256 && CNI_ID.test(v);
const ifnameOk = (v: unknown) =>
  typeof v === "string" && v !== "" && new TextEncoder().encode(v).length <= 15 &&
  v !== "." && v !== ".." && !/[/:\s\u0085]/u.test(v);
const netnsOk = (v: unknown) => typeof v === "string" && v.startsWith("/") && v.length <= 4096;
const optional = (v: unknown, test: (v: unknown) => boolean) => v === undefined || test(v);
/** A Pod's namespace is a DNS label; its name a DNS subdomain (Kubernetes' rules). */
const namespaceOk = (v: unknown) => typeof v === "string" && v.length <= 63 && DNS_LABEL.test(v);
const podNameOk = (v: unknown) => typeof v === "string" && v.length <= 253 && DNS_SUBDOMAIN.test(v);

/** What the API must answer to `input`, as far as its shape decides. */
export async function expectedApi(input: ApiInput): Promise<ApiVerdict> {
  const refused = (status: number): ApiVerdict => ({ kind: "refused", status });
  const route = ROUTES.find((r) =>
    new RegExp(`^${r.path.replace(/\{[a-z]+\}/gi, "[^/]+")}$`).test(input.path)
  );
  if (route === undefined) return refused(404);
  const methods = ROUTES.filter((r) => r.path === route.path).map((r) => r.method);
  if (!methods.includes(input.method)) return refused(405);
  if (route.path === "/v1/endpoints/{id}/{ifname}") {
    const [, , , rawId, rawIf] = input.path.split("/");
    try {
      const cid = decodeURIComponent(rawId!);
      const ifn = decodeURIComponent(rawIf!);
      return id(cid) && ifnameOk(ifn) ? { kind: "valid" } : refused(400);
    } catch {
      return refused(400);
    }
  }
  if (input.method !== "POST") return { kind: "valid" };
  const bytes = input.body ?? new Uint8Array();
  if (bytes.length > 64 * 1024) return refused(413);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return refused(400);
  }
  if (!isRecord(body)) return refused(400);
  let ok: boolean;
  switch (route.path) {
    case "/v1/ipam/allocate":
      ok = id(body.containerID) && ifnameOk(body.ifname) && id(body.network) &&
        netnsOk(body.netns) && optional(body.podNamespace, namespaceOk) &&
        optional(body.podName, podNameOk);
      break;
    case "/v1/endpoints":
      ok = id(body.containerID) && ifnameOk(body.ifname) && id(body.network) &&
        netnsOk(body.netns) && typeof body.podMac === "string" &&
        /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(body.podMac) && typeof body.ip === "string" &&
        IPV4.test(body.ip) && typeof body.hostVeth === "string" &&
        body.hostVeth === await hostVethName(body.containerID as string, body.ifname as string);
      break;
    case "/v1/endpoints/add":
      ok = id(body.containerID) && ifnameOk(body.ifname) && id(body.network) &&
        netnsOk(body.netns) && optional(body.podNamespace, namespaceOk) &&
        optional(body.podName, podNameOk) && typeof body.podMac === "string" &&
        /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(body.podMac) && typeof body.hostVeth === "string" &&
        body.hostVeth === await hostVethName(body.containerID as string, body.ifname as string);
      break;
    case "/v1/endpoints/release":
      ok = id(body.containerID) && ifnameOk(body.ifname) && optional(body.network, id);
      break;
    case "/v1/gc":
      ok = id(body.network) && Array.isArray(body.valid) &&
        body.valid.every((v) => isRecord(v) && id(v.containerID) && ifnameOk(v.ifname));
      break;
    default:
      ok = true;
  }
  return ok ? { kind: "valid" } : refused(400);
}

/** What the handler answered, and whether KV changed. */
export interface ApiRun {
  status: number;
  contentType: string | null;
  text: string;
  kvChanged: boolean;
}

/**
 * The problems of one answer (empty: fine): always JSON; never 500 (the handler's "internal
 * error", which means an input reached a path nobody planned for); a refused input gets the
 * oracle's status and leaves KV as it was; a valid one is not refused for its shape.
 */
export function judgeApiRun(verdict: ApiVerdict, run: ApiRun): string[] {
  const problems: string[] = [];
  let body: unknown;
  try {
    body = JSON.parse(run.text);
  } catch {
    problems.push(`answer is not JSON: ${run.text.slice(0, 100)}`);
  }
  if (run.contentType !== "application/json") problems.push(`content-type ${run.contentType}`);
  if (run.status === 500) problems.push(`500: ${run.text.slice(0, 200)}`);
  if (run.status >= 400 && !(isRecord(body) && typeof body.error === "string")) {
    problems.push("error answer without an error message");
  }
  if (verdict.kind === "refused") {
    if (run.status !== verdict.status) {
      problems.push(`status ${run.status}, expected ${verdict.status}: ${run.text.slice(0, 200)}`);
    }
    if (run.kvChanged) problems.push("KV changed on a refused request");
  } else if ([400, 405, 413].includes(run.status)) {
    problems.push(`valid request refused: ${run.status}: ${run.text.slice(0, 200)}`);
  }
  return problems;
}
