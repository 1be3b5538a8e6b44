import { assertEquals } from "../../test/assert.ts";
import { killChild } from "./kill_child.ts";

Deno.test("killChild() ends a running process and resolves once it is gone", async () => {
  const child = new Deno.Command("sleep", { args: ["60"], stdin: "null" }).spawn();
  const status = await killChild(child);
  assertEquals([status.success, status.signal], [false, "SIGKILL"]);
});

Deno.test("killChild() of a process that has exited already gives its status", async () => {
  const child = new Deno.Command("true", { stdin: "null" }).spawn();
  await child.status;
  assertEquals((await killChild(child)).success, true);
});
