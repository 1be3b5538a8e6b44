/**
 * Measures the fake API server itself at the scale (5 000 Nodes, 150 000 Pods, 10 000
 * NetworkPolicies by default), so a bench of ternd knows what part of its figures is the fake's:
 * load time and RSS, a paged list of each kind (limit 500, bodies parsed as a client would), and
 * watch delivery while pods churn at a given rate.
 *
 * ```sh
 * deno run -A test/fake_apiserver/measure.ts [--nodes N] [--pods N] [--policies N] [--rate EV/S]
 * ```
 * @module
 */

import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { startFakeApiServer } from "./server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "5000" },
    pods: { type: "string", default: "150000" },
    policies: { type: "string", default: "10000" },
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "10" },
  },
});
const mib = (n: number) => Math.round(n / 2 ** 20);

const fake = await startFakeApiServer();
let t0 = performance.now();
const loaded = fake.generate({
  nodes: Number(values.nodes),
  pods: Number(values.pods),
  networkPolicies: Number(values.policies),
});
console.log(
  `load: ${loaded} objects in ${Math.round(performance.now() - t0)} ms, RSS ${
    mib(Deno.memoryUsage().rss)
  } MiB`,
);

for (const path of ["api/v1/nodes", "api/v1/pods", "apis/networking.k8s.io/v1/networkpolicies"]) {
  t0 = performance.now();
  let cont = "";
  let items = 0;
  let bytes = 0;
  let pages = 0;
  do {
    const q = cont === "" ? "" : `&continue=${encodeURIComponent(cont)}`;
    const text = await (await fetch(`${fake.url}/${path}?limit=500${q}`)).text();
    bytes += text.length;
    const body = JSON.parse(text);
    items += body.items.length;
    cont = body.metadata.continue ?? "";
    pages++;
  } while (cont !== "");
  console.log(
    `list ${path}: ${items} items, ${pages} pages, ${mib(bytes)} MiB in ${
      Math.round(performance.now() - t0)
    } ms`,
  );
}

const rate = Number(values.rate);
const ms = Number(values.seconds) * 1000;
const resp = await fetch(`${fake.url}/api/v1/pods?watch=1&resourceVersion=${fake.rv}`);
const reader = resp.body!.getReader();
const decoder = new TextDecoder();
let received = 0;
let buffer = "";
const reading = (async () => {
  while (true) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let i;
    while ((i = buffer.indexOf("\n")) >= 0) {
      buffer = buffer.slice(i + 1);
      received++;
    }
  }
})().catch(() => {});
const cpu0 = cpuUsage();
t0 = performance.now();
const done = await fake.churn({ eventsPerSecond: rate, durationMs: ms }).done;
await new Promise((r) => setTimeout(r, 500));
const wall = performance.now() - t0;
const cpu = cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000;
console.log(
  `churn: ${done.events} pod events in ${done.elapsedMs} ms (${
    Math.round((done.events * 1000) / done.elapsedMs)
  }/s), ` +
    `watch received ${received}; process CPU ${Math.round((cpuMs / wall) * 100)} % of one core ` +
    `(fake and this reader together), RSS ${mib(Deno.memoryUsage().rss)} MiB`,
);
await reader.cancel();
await reading;
await fake.close();
