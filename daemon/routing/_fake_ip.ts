/**
 * A fake `ip` for tests and the pure benchmark: a {@linkcode Runner} over an in-memory routing
 * table and rule list that understands what the daemon sends (`-force -batch -` with `route
 * replace|del` and `rule add|del` lines, and the `-json` listings of `routing/parse.ts`), prints
 * listings the way iproute2 6.1 does with `-N`, and reports failures the way it does
 * (`RTNETLINK answers: …` then `Command failed -:N`). Failures can be injected per line. Private
 * to the daemon's tests.
 * @module
 */
import type { Runner, RunResult } from "../../src/runner.ts";

/** A route in the fake kernel; `proto` 0 means none was given. */
export interface FakeRoute {
  table: number;
  dst: string;
  via?: string;
  dev?: string;
  scope?: string;
  type?: string;
  metric?: number;
  proto: number;
}

/** A rule in the fake kernel. */
export interface FakeRule {
  priority: number;
  src?: string;
  dst?: string;
  table: number;
  proto: number;
}

const TYPES: Record<string, string> = { unreachable: "7", blackhole: "6", prohibit: "8" };
const SCOPES: Record<string, string> = { link: "253", host: "254", global: "0" };

/** The fake. `run` is the runner; the tables are public for tests to read and edit. */
export class FakeIp {
  routes: FakeRoute[] = [];
  rules: FakeRule[] = [];
  /** Every call: the argv joined by spaces, then the stdin lines for batches. */
  readonly calls: string[] = [];
  /** Batch lines that fail with the given message (matched by substring). */
  readonly failing = new Map<string, string>();
  /**
   * When set, the next multi-line batch ends with this result, having applied its lines or not
   * (`applied`), and reporting no line: `ip` killed, or a version that reports differently.
   */
  crashNext: { result: RunResult; applied: boolean } | undefined;
  /** Devices that exist; a route to another device fails. Undefined: every device exists. */
  devices: Set<string> | undefined;

  /** The runner to inject. */
  readonly run: Runner = (argv, options) => {
    this.calls.push([argv.join(" "), ...(options?.stdin?.trimEnd().split("\n") ?? [])].join("\n"));
    const args = argv.slice(1);
    if (args[0] === "-json") return Promise.resolve(this.#list(args.slice(1)));
    if (args.includes("-batch")) {
      const stdin = options?.stdin ?? "";
      const crash = this.crashNext;
      if (crash && stdin.trim().includes("\n")) {
        this.crashNext = undefined;
        if (crash.applied) this.#batch(stdin, true);
        return Promise.resolve(crash.result);
      }
      return Promise.resolve(this.#batch(stdin, args.includes("-force")));
    }
    return Promise.resolve({
      code: 1,
      stdout: "",
      stderr: `fake ip: unsupported: ${argv.join(" ")}`,
    });
  };

  /** The number of `-batch` runs so far. */
  get batches(): number {
    return this.calls.filter((c) => c.split("\n")[0]!.includes("-batch")).length;
  }

  #list(args: string[]): RunResult {
    const text = args.join(" ");
    const proto = /proto (\d+)/.exec(text);
    if (text.includes("route show")) {
      const out = this.routes.filter((r) => !proto || r.proto === Number(proto[1])).map((r) => {
        const json: Record<string, unknown> = {};
        if (r.type) json.type = TYPES[r.type] ?? r.type;
        json.dst = r.dst === "0.0.0.0/0" ? "default" : r.dst.replace(/\/32$/, "");
        if (r.via) json.gateway = r.via;
        if (r.dev) json.dev = r.dev;
        if (r.table !== 254) json.table = String(r.table);
        if (r.metric) json.metric = r.metric;
        const scope = r.scope ?? (r.via || r.type ? "global" : "link");
        if (scope !== "global") json.scope = SCOPES[scope];
        if (!proto && r.proto) json.protocol = String(r.proto);
        json.flags = [];
        return json;
      });
      return { code: 0, stdout: JSON.stringify(out), stderr: "" };
    }
    if (text.includes("rule show")) {
      const all: Record<string, unknown>[] = [
        { priority: 0, src: "all", table: "255" },
        ...[...this.rules].sort((a, b) => a.priority - b.priority).map((r) => {
          const json: Record<string, unknown> = { priority: r.priority };
          Object.assign(json, selector("src", r.src ?? "all"));
          if (r.dst) Object.assign(json, selector("dst", r.dst));
          json.table = String(r.table);
          if (r.proto) json.protocol = String(r.proto);
          return json;
        }),
        { priority: 32766, src: "all", table: "254" },
        { priority: 32767, src: "all", table: "253" },
      ];
      return { code: 0, stdout: JSON.stringify(all), stderr: "" };
    }
    return { code: 1, stdout: "", stderr: `fake ip: unsupported listing: ${text}` };
  }

  #batch(stdin: string, force: boolean): RunResult {
    const lines = stdin.split("\n").filter((l) => l.trim() !== "");
    let stderr = "";
    let code = 0;
    for (const [i, line] of lines.entries()) {
      const error = this.#apply(line);
      if (error === undefined) continue;
      stderr += `${error}\nCommand failed -:${i + 1}\n`;
      code = 1;
      if (!force) break;
    }
    return { code, stdout: "", stderr };
  }

  /** Applies one line; returns ip's error message, or undefined on success. */
  #apply(line: string): string | undefined {
    for (const [pattern, message] of this.failing) if (line.includes(pattern)) return message;
    const words = line.split(/\s+/);
    const opt = (name: string) => {
      const at = words.indexOf(name);
      return at >= 0 ? words[at + 1] : undefined;
    };
    const proto = Number(opt("proto") ?? 0);
    if (words[0] === "route") {
      let at = 2;
      let type: string | undefined;
      if (TYPES[words[at]!] !== undefined) type = words[at++];
      const dst = withPrefix(words[at]!);
      const table = Number(opt("table") ?? 254);
      const metric = Number(opt("metric") ?? 0) || undefined;
      const same = (r: FakeRoute) => r.table === table && r.dst === dst && r.metric === metric;
      if (words[1] === "replace") {
        const dev = opt("dev");
        if (dev !== undefined && this.devices && !this.devices.has(dev)) {
          return `Cannot find device "${dev}"`;
        }
        const route: FakeRoute = { table, dst, proto };
        if (type) route.type = type;
        const via = opt("via");
        if (via) route.via = via;
        if (dev) route.dev = dev;
        const scope = opt("scope");
        if (scope) route.scope = scope;
        if (metric) route.metric = metric;
        const index = this.routes.findIndex(same);
        if (index >= 0) this.routes[index] = route;
        else this.routes.push(route);
        return undefined;
      }
      if (words[1] === "del") {
        const index = this.routes.findIndex((r) => same(r) && (!proto || r.proto === proto));
        if (index < 0) return "RTNETLINK answers: No such process";
        this.routes.splice(index, 1);
        return undefined;
      }
    }
    if (words[0] === "rule") {
      const src = opt("from") ? withPrefix(opt("from")!) : undefined;
      const dst = opt("to") ? withPrefix(opt("to")!) : undefined;
      const table = opt("lookup") ? Number(opt("lookup")) : undefined;
      const priority = Number(opt("priority"));
      const matches = (r: FakeRule) =>
        r.priority === priority && r.src === src && r.dst === dst &&
        (table === undefined || r.table === table) && (!proto || r.proto === proto);
      if (words[1] === "add") {
        if (this.rules.some(matches)) return "RTNETLINK answers: File exists";
        const rule: FakeRule = { priority, table: table ?? 254, proto };
        if (src) rule.src = src;
        if (dst) rule.dst = dst;
        this.rules.push(rule);
        return undefined;
      }
      if (words[1] === "del") {
        const index = this.rules.findIndex(matches);
        if (index < 0) return "RTNETLINK answers: No such file or directory";
        this.rules.splice(index, 1);
        return undefined;
      }
    }
    return `fake ip: unsupported line: ${line}`;
  }
}

function withPrefix(text: string): string {
  return text.includes("/") ? text : `${text}/32`;
}

function selector(key: "src" | "dst", cidr: string): Record<string, unknown> {
  if (cidr === "all") return { [key]: "all" };
  const [address, prefix] = cidr.split("/");
  return prefix === "32" ? { [key]: address } : { [key]: address, [`${key}len`]: Number(prefix) };
}
