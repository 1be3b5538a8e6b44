import { assertEquals } from "../test/assert.ts";
import { createLogger, formatJsonLine, formatLine } from "./log.ts";

const AT = new Date("2026-12-04T17:00:00.000Z");

Deno.test("formatLine() writes time, level, message and quoted key=value pairs", () => {
  assertEquals(
    formatLine("info", "Released address", { ip: "10.244.1.7", reason: "CNI DEL", n: 2 }, AT),
    '2026-12-04T17:00:00.000Z INFO Released address ip=10.244.1.7 reason="CNI DEL" n=2',
  );
});

Deno.test("formatJsonLine() writes one object: time, level, msg, then the fields as JSON values", () => {
  const line = formatJsonLine(
    "warn",
    "Cannot release address",
    { ip: "10.244.1.7", attempts: 3, ok: false, tags: ["a"], skipped: undefined },
    AT,
  );
  assertEquals(line.includes("\n"), false);
  assertEquals(JSON.parse(line), {
    time: "2026-12-04T17:00:00.000Z",
    level: "warn",
    msg: "Cannot release address",
    ip: "10.244.1.7",
    attempts: 3,
    ok: false,
    tags: ["a"],
  });
  assertEquals(Object.keys(JSON.parse(line)).slice(0, 3), ["time", "level", "msg"]);
});

Deno.test("formatJsonLine() never lets a field overwrite time, level or msg", () => {
  const parsed = JSON.parse(
    formatJsonLine("info", "m", { msg: "field", level: 9, msg_: "other", time: 1 }, AT),
  );
  assertEquals(parsed, {
    time: "2026-12-04T17:00:00.000Z",
    level: "info",
    msg: "m",
    msg_: "field",
    level_: 9,
    msg__: "other",
    time_: 1,
  });
});

Deno.test("formatJsonLine() writes errors as their message, bigints as digits, cycles as text", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assertEquals(
    JSON.parse(formatJsonLine("error", "x", { error: new Error("boom"), n: 2n }, AT)),
    { time: AT.toISOString(), level: "error", msg: "x", error: "boom", n: "2" },
  );
  assertEquals(JSON.parse(formatJsonLine("error", "x", { c: cyclic }, AT)).c, "[object Object]");
});

Deno.test("createLogger({format: 'json'}) appends one JSON object per line, with the component", async () => {
  const file = await Deno.makeTempFile();
  try {
    const log = createLogger({ file, format: "json", component: "ternd", level: "info" });
    log.debug("dropped");
    log.info("ternd started", { node: "node-1" });
    log.error("Sweep failed", { error: "KV closed" });
    const lines = (await Deno.readTextFile(file)).trimEnd().split("\n").map((l) => JSON.parse(l));
    assertEquals(lines.map((l) => [l.level, l.msg, l.component]), [
      ["info", "ternd started", "ternd"],
      ["error", "Sweep failed", "ternd"],
    ]);
    assertEquals(lines[0].node, "node-1");
  } finally {
    await Deno.remove(file);
  }
});
