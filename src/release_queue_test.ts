import { assertEquals } from "../test/assert.ts";
import {
  parseQueuedRelease,
  queuedReleaseFile,
  readQueuedReleases,
  writeQueuedRelease,
} from "./release_queue.ts";

const record = { containerID: "ctr1", ifname: "eth0", network: "tern", queuedAt: 1_700_000_000 };

Deno.test("writeQueuedRelease() leaves one whole record per attachment that readQueuedReleases() finds", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const queue = `${dir}/queue`;
    await writeQueuedRelease(queue, record);
    await writeQueuedRelease(queue, { ...record, queuedAt: record.queuedAt + 1 });
    await writeQueuedRelease(queue, { ...record, containerID: "ctr2" });
    const entries = await readQueuedReleases(queue);
    assertEquals(entries.map((e) => e.record), [
      { ...record, queuedAt: record.queuedAt + 1 },
      { ...record, containerID: "ctr2" },
    ]);
    assertEquals((await Deno.stat(queue)).mode! & 0o777, 0o700);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readQueuedReleases() finds nothing in a missing directory and skips temporary files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assertEquals(await readQueuedReleases(`${dir}/none`), []);
    await Deno.writeTextFile(`${dir}/.x.json.tmp`, "{");
    await Deno.writeTextFile(`${dir}/damaged.json`, "{");
    assertEquals(await readQueuedReleases(dir), [{
      path: `${dir}/damaged.json`,
      record: undefined,
    }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseQueuedRelease() refuses records with missing or mistyped fields", () => {
  assertEquals(parseQueuedRelease(JSON.stringify(record)), record);
  assertEquals(parseQueuedRelease(JSON.stringify({ ...record, containerID: "" })), undefined);
  assertEquals(parseQueuedRelease(JSON.stringify({ ...record, queuedAt: "now" })), undefined);
  assertEquals(parseQueuedRelease("[]"), undefined);
  assertEquals(parseQueuedRelease("null"), undefined);
});

Deno.test("queuedReleaseFile() names one file per identity, safe for any ifname", () => {
  assertEquals(queuedReleaseFile({ containerID: "abc", ifname: "eth0" }), "abc@eth0.json");
  assertEquals(queuedReleaseFile({ containerID: "abc", ifname: "net/1" }), "abc@net%2F1.json");
});
