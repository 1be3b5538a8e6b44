import { assert, assertEquals } from "../../test/assert.ts";
import type { Logger } from "../log.ts";
import {
  ProcessMonitor,
  type SpawnedProcess,
  type Spawner,
  splitLines,
} from "./process_monitor.ts";

/** A fake process whose output the test writes and which ends when told (or killed). */
class FakeProcess implements SpawnedProcess {
  readonly #queue: string[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  readonly #status = Promise.withResolvers<number>();
  readonly #listening = Promise.withResolvers<void>();
  killed = false;
  /** Resolved by {@linkcode FakeProcess.subscribe}. */
  readonly listening = this.#listening.promise;
  readonly status = this.#status.promise;
  readonly lines: AsyncIterable<string> = {
    [Symbol.asyncIterator]: () => ({
      next: async (): Promise<IteratorResult<string>> => {
        while (this.#queue.length === 0 && !this.#ended) {
          await new Promise<void>((r) => this.#wake = r);
        }
        const value = this.#queue.shift();
        return value === undefined ? { done: true, value: "" } : { done: false, value };
      },
    }),
  };
  /** The process now listens (its netlink socket joined a group). */
  subscribe(): void {
    this.#listening.resolve();
  }
  print(...lines: string[]): void {
    this.#queue.push(...lines);
    this.#wake?.();
  }
  end(code: number): void {
    this.#ended = true;
    this.#status.resolve(code);
    this.#wake?.();
  }
  stderr(): Promise<string> {
    return Promise.resolve("Dump terminated");
  }
  kill(): void {
    this.killed = true;
    this.end(143);
  }
}

/** A spawner of fake processes, and the processes it made, in order. */
function fakeSpawner(): { processes: FakeProcess[]; spawn: Spawner } {
  const processes: FakeProcess[] = [];
  const spawn: Spawner = () => {
    const p = new FakeProcess();
    processes.push(p);
    return p;
  };
  return { processes, spawn };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

Deno.test("ProcessMonitor hands over each event line, skipping continuation lines", async () => {
  const { processes, spawn } = fakeSpawner();
  const events: string[] = [];
  const monitor = new ProcessMonitor({
    spawn,
    argv: ["ip", "monitor", "route", "rule", "link"],
    onEvent: (line) => events.push(line),
  });
  assertEquals(monitor.state, "off");
  monitor.start();
  await tick();
  assertEquals(monitor.state, "running");
  processes[0]!.print(
    "Deleted 10.244.2.0/24 via 192.168.50.2 dev fab0 proto 116",
    "3: tern00000000002@p2: <BROADCAST,MULTICAST> mtu 1500",
    "    link/ether 0e:00:00:00:00:02 brd ff:ff:ff:ff:ff:ff",
    "",
  );
  await tick();
  assertEquals(events, [
    "Deleted 10.244.2.0/24 via 192.168.50.2 dev fab0 proto 116",
    "3: tern00000000002@p2: <BROADCAST,MULTICAST> mtu 1500",
  ]);
  await monitor.stop();
  assert(processes[0]!.killed);
  assertEquals(monitor.state, "off");
});

Deno.test("ProcessMonitor restarts a process that died, waiting longer each time, and says so", async () => {
  const processes: FakeProcess[] = [];
  let failSpawn = false;
  const spawn: Spawner = () => {
    if (failSpawn) throw new Error("ip: not found");
    const p = new FakeProcess();
    processes.push(p);
    return p;
  };
  const warnings: string[] = [];
  const log: Logger = {
    debug() {},
    info() {},
    warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields)}`),
    error() {},
  };
  let restarts = 0;
  const monitor = new ProcessMonitor({
    spawn,
    argv: ["ip", "monitor"],
    onEvent: () => {},
    onRestart: () => restarts++,
    log,
  }, { restartMinMs: 20, restartMaxMs: 1_000 });
  monitor.start();
  await tick();
  processes[0]!.end(1);
  await tick();
  assertEquals(monitor.state, "restarting");
  assert(
    warnings[0]!.includes("exit 1: Dump terminated") && warnings[0]!.includes('"restartInMs":20'),
  );
  await tick(40);
  assertEquals([processes.length, restarts, monitor.state], [2, 1, "running"]);

  failSpawn = true;
  processes[1]!.end(1);
  await tick(70);
  assert(warnings[1]!.includes('"restartInMs":40'), warnings.join("\n"));
  assert(warnings[2]!.includes("ip: not found") && warnings[2]!.includes('"restartInMs":80'));
  failSpawn = false;
  await tick(150);
  assertEquals(monitor.state, "running");
  assertEquals(restarts, 2);
  await monitor.stop();
});

Deno.test("ProcessMonitor names the command it runs when it ended and when it restarted it", async () => {
  const { processes, spawn } = fakeSpawner();
  const lines: string[] = [];
  const log: Logger = {
    debug() {},
    info: (message) => lines.push(`INFO ${message}`),
    warn: (message) => lines.push(`WARN ${message}`),
    error() {},
  };
  const monitor = new ProcessMonitor({ spawn, argv: ["nft", "monitor"], onEvent: () => {}, log }, {
    restartMinMs: 5,
  });
  monitor.start();
  await tick();
  processes[0]!.end(1);
  await tick(20);
  assertEquals(lines, ["WARN nft monitor ended; restarting", "INFO Restarted nft monitor"]);
  await monitor.stop();
});

Deno.test("splitLines() joins lines split across chunks and keeps an unfinished last line", async () => {
  async function* chunks() {
    yield "a\nb";
    yield "c\n\nd";
    yield "\ne\nf";
  }
  const lines: string[] = [];
  for await (const line of splitLines(chunks())) lines.push(line);
  assertEquals(lines, ["a", "bc", "", "d", "e", "f"]);
});

Deno.test("ProcessMonitor lets timers run during a burst of lines and ends a flood, then restarts", async () => {
  const { processes, spawn } = fakeSpawner();
  const warnings: string[] = [];
  const log: Logger = {
    debug() {},
    info() {},
    warn: (_message, fields) => warnings.push(String(fields?.why)),
    error() {},
  };
  let seen = 0;
  let seenWhenTimerFired = -1;
  const monitor = new ProcessMonitor(
    { spawn, argv: ["nft", "monitor"], onEvent: () => seen++, log },
    { restartMinMs: 1, floodLines: 2_000, floodWindowMs: 60_000 },
  );
  monitor.start();
  await tick();
  setTimeout(() => seenWhenTimerFired = seen, 0);
  processes[0]!.print(...Array.from({ length: 1_500 }, (_, i) => `add element inet tern m ${i}`));
  await tick(50);
  assertEquals(seen, 1_500);
  assert(seenWhenTimerFired >= 0 && seenWhenTimerFired < 1_500, `fired at ${seenWhenTimerFired}`);
  assertEquals(processes[0]!.killed, false);
  processes[0]!.print(...Array.from({ length: 5_000 }, (_, i) => `add element inet tern m ${i}`));
  await tick(100);
  assert(processes[0]!.killed);
  assert(seen < 1_500 + 5_000, `all ${seen} lines of the flood were handled`);
  assert(warnings.some((w) => w.startsWith("more than 2000 lines")), warnings.join("; "));
  assertEquals(processes.length, 2);
  assertEquals(monitor.state, "running");
  await monitor.stop();
});

Deno.test("ProcessMonitor.ready resolves once a process listens, a restarted one if the first died before", async () => {
  const { processes, spawn } = fakeSpawner();
  const monitor = new ProcessMonitor({ spawn, argv: ["nft", "monitor"], onEvent: () => {} }, {
    restartMinMs: 1,
  });
  let ready = false;
  monitor.start();
  void monitor.ready.then(() => ready = true);
  try {
    await tick();
    assertEquals([processes.length, ready], [1, false], "started, not yet listening");
    processes[0]!.end(1);
    await tick(20);
    assertEquals([processes.length, ready], [2, false], "restarted, not yet listening");
    processes[1]!.subscribe();
    await monitor.ready;
    assertEquals(ready, true);
  } finally {
    await monitor.stop();
  }
  const stopped = new ProcessMonitor({ spawn, argv: ["nft", "monitor"], onEvent: () => {} });
  stopped.start();
  await stopped.stop();
  await stopped.ready; // a stopped monitor never leaves anyone waiting
});
