/**
 * The one module that runs iproute2's `ip`: the {@linkcode Ip} class runs it through an
 * injectable {@linkcode Runner}, in the current network namespace or, through `ip -n NAME` or
 * `nsenter --net=PATH`, in a pod's. (The plugin's ADD and DEL speak rtnetlink instead:
 * `src/pod_links.ts`.)
 * @module
 */
import { CommandError, type Runner } from "./runner.ts";

/** Where to run: the current namespace, or the namespace bound at `netns` (a path). */
export interface Where {
  /** Path of a network namespace file (`/var/run/netns/x`, `/proc/PID/ns/net`). */
  netns?: string;
}

/** A route as `ip -json route show` prints it (the fields tern reads). */
export interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  protocol?: string | number;
  scope?: string;
  table?: string | number;
  flags?: string[];
}

/** A link as `ip -json link show` prints it (the fields tern reads). */
export interface IpLink {
  ifname: string;
  ifindex: number;
  address?: string;
  mtu?: number;
  operstate?: string;
  flags?: string[];
}

/** An address entry as `ip -json addr show` prints it (the fields tern reads). */
export interface IpAddrInfo {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** A neighbour entry as `ip -json neigh show` prints it (the fields tern reads). */
export interface IpNeigh {
  dst: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
}

/** Runs `ip` through a {@linkcode Runner}. Every method throws {@linkcode CommandError} on failure. */
export class Ip {
  readonly #run: Runner;
  readonly #ipPath: string;

  /** `options.ipPath` defaults to `ip` on PATH; `options.nsenterPath` to `nsenter`. */
  constructor(run: Runner, options: { ipPath?: string; nsenterPath?: string } = {}) {
    this.#run = run;
    this.#ipPath = options.ipPath ?? "ip";
    this.#nsenter = options.nsenterPath ?? "nsenter";
  }
  readonly #nsenter: string;

  /**
   * The argv prefix that runs `ip` where asked. A namespace bound under /run/netns (what
   * containerd, CRI-O and `ip netns add` make) is entered by `ip -n NAME` itself, saving the
   * `nsenter` exec on the plugin's critical path; any other path goes through `nsenter`.
   */
  argv(where: Where = {}): string[] {
    if (where.netns === undefined) return [this.#ipPath];
    const named = /^\/(?:var\/)?run\/netns\/([^/]+)$/.exec(where.netns);
    if (named && named[1] !== "." && named[1] !== "..") return [this.#ipPath, "-n", named[1]!];
    return [this.#nsenter, `--net=${where.netns}`, this.#ipPath];
  }

  /** Runs `ip -batch -` with the lines; stops at the first failing line (no `-force`). */
  async batch(lines: readonly string[], where: Where = {}): Promise<void> {
    if (lines.length === 0) return;
    const argv = [...this.argv(where), "-batch", "-"];
    const result = await this.#run(argv, { stdin: lines.join("\n") + "\n" });
    if (result.code !== 0) throw new CommandError(argv, result);
  }

  /**
   * Runs `ip -force -batch -` with the lines: every line runs even when some fail, and each
   * failure is reported on stderr as its message then `Command failed -:N`. Returns the result
   * without throwing; the exit code is non-zero when any line failed.
   */
  forceBatch(lines: readonly string[], where: Where = {}) {
    return this.#run([...this.argv(where), "-force", "-batch", "-"], {
      stdin: lines.join("\n") + "\n",
    });
  }

  /** Runs `ip -json ARGS` and parses its output; an empty output is an empty list. */
  async json<T>(args: readonly string[], where: Where = {}): Promise<T[]> {
    const argv = [...this.argv(where), "-json", ...args];
    const result = await this.#run(argv);
    if (result.code !== 0) throw new CommandError(argv, result);
    const text = result.stdout.trim();
    return text === "" ? [] : JSON.parse(text) as T[];
  }

  /** Runs `ip ARGS`; returns the result without throwing, for callers that judge exit codes. */
  raw(args: readonly string[], where: Where = {}) {
    return this.#run([...this.argv(where), ...args]);
  }

  /** The link named `name`, or undefined when there is none. */
  async link(name: string, where: Where = {}): Promise<IpLink | undefined> {
    const result = await this.raw(["-json", "link", "show", "dev", name], where);
    if (result.code !== 0) {
      if (/does not exist|Cannot find device/i.test(result.stderr)) return undefined;
      throw new CommandError([...this.argv(where), "-json", "link", "show", "dev", name], result);
    }
    const links = JSON.parse(result.stdout) as IpLink[];
    return links[0];
  }

  /** Deletes link `name`; a link that is already gone is success. */
  async linkDelIfExists(name: string, where: Where = {}): Promise<boolean> {
    const result = await this.raw(["link", "del", "dev", name], where);
    if (result.code === 0) return true;
    if (/does not exist|Cannot find device/i.test(result.stderr)) return false;
    throw new CommandError([...this.argv(where), "link", "del", "dev", name], result);
  }
}
