/**
 * Fakes for the plugin's unit tests: a {@linkcode Runner} that records argv and stdin and answers
 * from a script, {@linkcode PodLinks} that record each operation and answer from a script, and a
 * {@linkcode DaemonApi} that records calls in order and answers from overridable handlers.
 * Private to `plugin/` tests.
 * @module
 */
import type {
  AddRequest,
  AddResponse,
  AllocateRequest,
  AllocateResponse,
  AttachmentId,
  AttachRequest,
  Endpoint,
  GcRequest,
  GcResponse,
  ProgramRequest,
  ReleaseRequest,
  ReleaseResponse,
  StatusResponse,
} from "../src/api.ts";
import type { DaemonApi, WhileWaiting } from "../src/daemon_client.ts";
import { Ip } from "../src/ip.ts";
import { type Logger, silentLogger } from "../src/log.ts";
import type { PodLink, PodLinks } from "../src/pod_links.ts";
import type { Runner, RunResult } from "../src/runner.ts";
import type { CommandContext } from "./_context.ts";
import type { AddCheckEnv } from "./env.ts";
import type { NetConf } from "./netconf.ts";

/** One recorded subprocess. */
export interface RunCall {
  argv: readonly string[];
  stdin: string | undefined;
}

/** Answers a command; undefined means success with empty output. */
export type Script = (call: RunCall) => Partial<RunResult> | undefined;

/** A fake runner that records every call and answers through `script`. */
export function fakeRunner(script: Script = () => undefined): Runner & { calls: RunCall[] } {
  const calls: RunCall[] = [];
  const run = (argv: readonly string[], options: { stdin?: string } = {}) => {
    const call = { argv: [...argv], stdin: options.stdin };
    calls.push(call);
    const answer = script(call) ?? {};
    return Promise.resolve({ code: 0, stdout: "", stderr: "", ...answer });
  };
  return Object.assign(run, { calls });
}

/** One operation on the attachment's kernel objects: its name and the link or interface name. */
export type LinkCall = [op: keyof PodLinks, arg: Omit<PodLink, "ip"> | PodLink | string];

/**
 * Answers an operation: an error to throw, a boolean for `hostLinkExists`/`deleteHostVeth`, or
 * undefined for the default (success; no host link; deleted).
 */
export type LinksScript = (call: LinkCall) => Error | boolean | undefined;

/** Fake {@linkcode PodLinks} that record every operation in order and answer through `script`. */
export function fakePodLinks(script: LinksScript = () => undefined): PodLinks & {
  calls: LinkCall[];
} {
  const calls: LinkCall[] = [];
  const answer = <T>(call: LinkCall, fallback: T): Promise<T | boolean> => {
    calls.push(call);
    const out = script(call);
    if (out instanceof Error) return Promise.reject(out);
    return Promise.resolve(out ?? fallback);
  };
  return {
    calls,
    addVeth: async (link) => void await answer(["addVeth", link], undefined),
    configurePod: async (link) => void await answer(["configurePod", link], undefined),
    hostLinkExists: async (name) => (await answer(["hostLinkExists", name], false)) === true,
    deleteHostVeth: async (name) => (await answer(["deleteHostVeth", name], true)) === true,
  };
}

/** One recorded daemon call: the method name and its argument. */
export type DaemonCall = [method: string, arg?: unknown];

/** Handlers a test may override; each defaults to a plausible success. */
export interface FakeDaemonHandlers {
  status: () => Promise<StatusResponse>;
  add: (req: AddRequest) => Promise<AddResponse>;
  /** Only when a test gives it: a daemon without it is one older than attach. */
  attach?: (req: AttachRequest, options?: WhileWaiting) => Promise<AddResponse>;
  allocate: (req: AllocateRequest) => Promise<AllocateResponse>;
  program: (req: ProgramRequest) => Promise<Endpoint>;
  release: (req: ReleaseRequest) => Promise<ReleaseResponse>;
  gc: (req: GcRequest) => Promise<GcResponse>;
  endpoint: (id: AttachmentId) => Promise<Endpoint | undefined>;
  endpoints: () => Promise<Endpoint[]>;
}

/** A programmed endpoint for `containerID`/`ifname`, for fakes and expectations. */
export function sampleEndpoint(overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    containerID: "ctr1",
    ifname: "eth0",
    network: "tern",
    netns: "/var/run/netns/pod1",
    ip: "10.244.1.7",
    podCIDR: "10.244.1.0/24",
    hostVeth: "",
    podMac: "0a:58:0a:f4:01:07",
    state: "programmed",
    createdAt: 1,
    updatedAt: 1,
    ...overrides,
  };
}

/** A fake daemon recording calls in order. */
export function fakeDaemon(
  overrides: Partial<FakeDaemonHandlers> = {},
): DaemonApi & { calls: DaemonCall[] } {
  const calls: DaemonCall[] = [];
  const h: FakeDaemonHandlers = {
    status: () =>
      Promise.resolve({
        ready: true,
        version: "0.1.0",
        node: "node1",
        pools: [{ cidr: "10.244.1.0/24", capacity: 254, used: 1, free: 253 }],
        free: 253,
        endpoints: 1,
        uptimeMs: 1000,
      }),
    add: ({ hostVeth, podMac, ...req }) =>
      Promise.resolve({
        ...sampleEndpoint({ ...req, hostVeth, podMac }),
        policy: "ready",
        created: true,
      }),
    allocate: () =>
      Promise.resolve({
        ip: "10.244.1.7",
        podCIDR: "10.244.1.0/24",
        gateway: "169.254.1.1",
        created: true,
      }),
    program: (req) =>
      Promise.resolve(sampleEndpoint({ ...req, podCIDR: "10.244.1.0/24", state: "programmed" })),
    release: () => Promise.resolve({ released: true, ip: "10.244.1.7" }),
    gc: () => Promise.resolve({ released: [] }),
    endpoint: () => Promise.resolve(undefined),
    endpoints: () => Promise.resolve([]),
    ...overrides,
  };
  return {
    calls,
    status: () => (calls.push(["status"]), h.status()),
    add: (req) => (calls.push(["add", req]), h.add(req)),
    ...(h.attach === undefined ? {} : {
      attach: (req: AttachRequest, options?: WhileWaiting) => (
        calls.push(["attach", req]), h.attach!(req, options)
      ),
    }),
    allocate: (req) => (calls.push(["allocate", req]), h.allocate(req)),
    program: (req) => (calls.push(["program", req]), h.program(req)),
    release: (req) => (calls.push(["release", req]), h.release(req)),
    gc: (req) => (calls.push(["gc", req]), h.gc(req)),
    endpoint: (id) => (calls.push(["endpoint", id]), h.endpoint(id)),
    endpoints: () => (calls.push(["endpoints"]), h.endpoints()),
  };
}

/** A logger that keeps its lines, for tests that check what was logged. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A validated config with tern's defaults. */
export function sampleConf(overrides: Partial<NetConf> = {}): NetConf {
  return {
    cniVersion: "1.1.0",
    name: "tern",
    type: "tern",
    mtu: 1500,
    daemonSocket: "/run/tern/ternd.sock",
    releaseQueueDir: "/var/lib/tern/release-queue",
    logLevel: "info",
    ...overrides,
  };
}

/** A command context over the fakes. */
export function fakeContext<E>(
  env: E,
  options: {
    runner?: Runner;
    links?: PodLinks;
    daemon?: DaemonApi;
    conf?: NetConf;
    log?: Logger;
  } = {},
): CommandContext<E> {
  return {
    env,
    conf: options.conf ?? sampleConf(),
    ip: new Ip(options.runner ?? fakeRunner()),
    links: options.links ?? fakePodLinks(),
    daemon: options.daemon ?? fakeDaemon(),
    log: options.log ?? silentLogger,
  };
}

/** The ADD of container `ctr1`'s `eth0` into `/var/run/netns/pod1`, for pod default/web-0. */
export function sampleAddEnv(): AddCheckEnv {
  return {
    command: "ADD",
    containerId: "ctr1",
    ifname: "eth0",
    netns: "/var/run/netns/pod1",
    args: { ignoreUnknown: true, podNamespace: "default", podName: "web-0" },
  };
}
