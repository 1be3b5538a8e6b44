import { assertEquals } from "../../test/assert.ts";
import { EchoFilter, echoKeyOfEvent, echoKeyOfLine, isOwnLinkEvent } from "./monitor_echo.ts";

// `ip -N monitor route rule link` output (iproute2 6.1) for the lines in the same order.
const APPLIED = [
  [
    "route replace 0.0.0.0/0 via 10.97.0.1 dev eg0 table 100 proto 116",
    "default via 10.97.0.1 dev eg0 table 100 proto 116 ",
  ],
  ["route replace unreachable 10.244.1.0/24 table 254 proto 116", "7 10.244.1.0/24 proto 116 "],
  [
    "rule add from 10.244.1.2/32 lookup 100 priority 1536 proto 116",
    "1536:\tfrom 10.244.1.2 lookup 100 proto 116",
  ],
  [
    "rule add to 10.244.0.0/16 lookup 254 priority 512 proto 116",
    "512:\tfrom all to 10.244.0.0/16 lookup 254 proto 116",
  ],
  [
    "route replace 10.244.1.2/32 dev eg0 scope link table 254 proto 116",
    "10.244.1.2 dev eg0 proto 116 scope 253 ",
  ],
  [
    "rule del to 10.244.0.0/16 lookup 254 priority 512 proto 116",
    "Deleted 512:\tfrom all to 10.244.0.0/16 lookup 254 proto 116",
  ],
  [
    "route del 0.0.0.0/0 table 100 proto 116",
    "Deleted default via 10.97.0.1 dev eg0 table 100 proto 116 ",
  ],
  ["route del 10.244.1.0/24 table 254 proto 116", "Deleted 7 10.244.1.0/24 proto 116 "],
];

Deno.test("echoKeyOfLine() and echoKeyOfEvent() agree on each line tern applies and the event it causes", () => {
  for (const [line, event] of APPLIED) {
    const key = echoKeyOfLine(line!);
    assertEquals(key !== undefined, true, line);
    assertEquals(echoKeyOfEvent(event!, 116), key, event);
  }
  assertEquals(
    echoKeyOfLine("rule del to 10.244.1.2/32 priority 512 proto 116"),
    "-rule 512 all 10.244.1.2",
  );
  assertEquals(
    echoKeyOfEvent("[ROUTE]10.244.2.0/24 via 192.168.50.2 dev fab0 proto 116", 116),
    "+route 254 10.244.2.0/24",
  );
  assertEquals(
    echoKeyOfEvent("[ROUTE] 10.244.2.0/24 via 192.168.50.2 dev fab0 proto 116", 116),
    "+route 254 10.244.2.0/24",
  );
});

Deno.test("echoKeyOfEvent() ignores events without tern's protocol", () => {
  assertEquals(
    echoKeyOfEvent("Deleted 10.244.2.0/24 via 192.168.50.2 dev fab0 proto 4", 116),
    undefined,
  );
  assertEquals(echoKeyOfEvent("10.9.9.0/24 dev fab0 scope link", 116), undefined);
  assertEquals(echoKeyOfEvent("512:\tfrom all to 10.244.1.2 lookup 254", 116), undefined);
});

Deno.test("isOwnLinkEvent() recognises tern's veths only", () => {
  assertEquals(
    isOwnLinkEvent("3: tern0a1b2c3d4e5@p2: <BROADCAST,MULTICAST> mtu 1500 qdisc noop"),
    true,
  );
  assertEquals(
    isOwnLinkEvent("Deleted 3: tern0a1b2c3d4e5@if4: <BROADCAST,MULTICAST> mtu 1500"),
    true,
  );
  assertEquals(isOwnLinkEvent("5: eg0: <BROADCAST,MULTICAST,UP> mtu 1500"), false);
  assertEquals(isOwnLinkEvent("512:\tfrom all to 10.244.1.2 lookup 254 proto 116"), false);
});

Deno.test("EchoFilter swallows each expected echo once, within its time, and nothing else", () => {
  let now = 0;
  const echo = new EchoFilter(116, { ttlMs: 1_000, now: () => now });
  echo.expect([APPLIED[0]![0]!, APPLIED[4]![0]!, APPLIED[4]![0]!]);
  assertEquals(echo.needsPass(APPLIED[0]![1]!), false);
  assertEquals(echo.needsPass(APPLIED[0]![1]!), true, "only once");
  assertEquals(
    echo.needsPass("Deleted 10.244.1.2 dev eg0 proto 116 scope 253 "),
    true,
    "not a deletion",
  );
  assertEquals(echo.needsPass(APPLIED[4]![1]!), false);
  now = 2_000;
  assertEquals(echo.needsPass(APPLIED[4]![1]!), true, "expired");
  assertEquals(echo.needsPass("7: eg0: <BROADCAST,MULTICAST> mtu 1500"), true);
  assertEquals(echo.needsPass("7: tern00000000002@p2: <BROADCAST,MULTICAST> mtu 1500"), false);
});

Deno.test("EchoFilter.forget() drops the echoes of lines that failed", () => {
  const echo = new EchoFilter(116);
  echo.expect([APPLIED[2]![0]!]);
  echo.forget([APPLIED[2]![0]!]);
  assertEquals(echo.size, 0);
  assertEquals(echo.needsPass(APPLIED[2]![1]!), true);
});
