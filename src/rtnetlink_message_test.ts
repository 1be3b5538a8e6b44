import { assertEquals, assertThrows } from "../test/assert.ts";
import {
  addressAddRequest,
  ipv4Bytes,
  linkDelRequest,
  linkGroupRequest,
  macBytes,
  neighbourDumpRequest,
  neighbourReplaceRequest,
  parseAnswers,
  routeAddRequest,
  routeDumpRequest,
  RTM_DELLINK,
  RTM_GETNEIGH,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  setSequence,
  vethAddRequest,
} from "./rtnetlink_message.ts";

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A decoded attribute tree: type to payload bytes, or to nested attributes. */
type Tree = [number, Uint8Array | Tree][];

function attrs(bytes: Uint8Array, nested: Set<number> = new Set()): Tree {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Tree = [];
  for (let at = 0; at + 4 <= bytes.length;) {
    const len = view.getUint16(at, LE);
    const type = view.getUint16(at + 2, LE);
    const payload = bytes.subarray(at + 4, at + len);
    out.push([type & 0x3fff, type & 0x8000 ? attrs(payload, nested) : payload]);
    at += (len + 3) & ~3;
  }
  return out;
}

function header(msg: Uint8Array) {
  const view = new DataView(msg.buffer);
  return { len: view.getUint32(0, LE), type: view.getUint16(4, LE), flags: view.getUint16(6, LE) };
}

const text = (s: string) => new TextEncoder().encode(`${s}\0`);
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, LE);
  return b;
};

Deno.test("vethAddRequest() creates both ends in one exclusive request, host end up, peer in the netns fd", () => {
  const msg = vethAddRequest(
    { name: "tern0", mac: "ee:ee:ee:00:00:01", mtu: 1450 },
    { name: "eth0", mac: "0a:58:0a:f4:01:07", mtu: 1450 },
    7,
  );
  assertEquals(header(msg), {
    len: msg.length,
    type: RTM_NEWLINK,
    flags: 0x1 | 0x4 | 0x400 | 0x200,
  });
  const info = new DataView(msg.buffer, 16, 16);
  assertEquals(
    [info.getUint32(8, LE), info.getUint32(12, LE)],
    [1, 1],
    "IFF_UP in flags and change",
  );
  const tree = attrs(msg.subarray(32));
  const peerInfo = new Uint8Array(16);
  assertEquals(tree, [
    [3, text("tern0")],
    [4, u32(1450)],
    [1, macBytes("ee:ee:ee:00:00:01")],
    [18, [[1, text("veth")], [2, [[
      1,
      concat(
        peerInfo,
        encodeAttrs([
          [3, text("eth0")],
          [4, u32(1450)],
          [1, macBytes("0a:58:0a:f4:01:07")],
          [28, u32(7)],
        ]),
      ),
    ]]]]],
  ]);
});

Deno.test("the pod side's requests carry the index, the /32, the routes and the permanent neighbour", () => {
  const addr = addressAddRequest(5, "10.244.1.7", 32);
  assertEquals(header(addr).type, RTM_NEWADDR);
  assertEquals([...addr.subarray(16, 24)], [2, 32, 0, 0, ...u32(5)]);
  assertEquals(attrs(addr.subarray(24)), [[2, ipv4Bytes("10.244.1.7")], [
    1,
    ipv4Bytes("10.244.1.7"),
  ]]);

  const link = routeAddRequest(5, { dst: "169.254.1.1", prefix: 32 });
  assertEquals(header(link).type, RTM_NEWROUTE);
  assertEquals([...link.subarray(16, 28)], [2, 32, 0, 0, 254, 3, 253, 1, 0, 0, 0, 0]);
  assertEquals(attrs(link.subarray(28)), [[1, ipv4Bytes("169.254.1.1")], [4, u32(5)]]);

  const def = routeAddRequest(5, { dst: "0.0.0.0", prefix: 0, via: "169.254.1.1" });
  assertEquals([...def.subarray(16, 28)], [2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0]);
  assertEquals(attrs(def.subarray(28)), [[5, ipv4Bytes("169.254.1.1")], [4, u32(5)]]);

  const neigh = neighbourReplaceRequest(5, "169.254.1.1", "ee:ee:ee:00:00:01");
  assertEquals(header(neigh), {
    len: neigh.length,
    type: RTM_NEWNEIGH,
    flags: 0x1 | 0x4 | 0x400 | 0x100,
  });
  const nd = new DataView(neigh.buffer, 16, 12);
  assertEquals([nd.getUint8(0), nd.getInt32(4, LE), nd.getUint16(8, LE)], [2, 5, 0x80]);
  assertEquals(attrs(neigh.subarray(28)), [[1, ipv4Bytes("169.254.1.1")], [
    2,
    macBytes("ee:ee:ee:00:00:01"),
  ]]);

  const replace = routeAddRequest(5, { dst: "10.244.1.7", prefix: 32, protocol: 116 }, {
    replace: true,
  });
  assertEquals(header(replace), {
    len: replace.length,
    type: RTM_NEWROUTE,
    flags: 0x1 | 0x4 | 0x400 | 0x100,
  });
  assertEquals([...replace.subarray(16, 28)], [2, 32, 0, 0, 254, 116, 253, 1, 0, 0, 0, 0]);

  const group = linkGroupRequest("tern0", 7);
  assertEquals(header(group).type, RTM_NEWLINK);
  assertEquals(attrs(group.subarray(32)), [[3, text("tern0")], [27, u32(7)]]);

  const del = linkDelRequest("tern0");
  assertEquals(header(del).type, RTM_DELLINK);
  assertEquals(attrs(del.subarray(32)), [[3, text("tern0")]]);
});

Deno.test("macBytes() and ipv4Bytes() refuse malformed input, naming it", () => {
  assertThrows(() => macBytes("ee:ee:ee:00:00"), Error, 'got "ee:ee:ee:00:00"');
  assertThrows(() => ipv4Bytes("10.0.0.256"), Error, 'got "10.0.0.256"');
});

/** An NLMSG_ERROR answer to `seq` with `errno` and, optionally, an extended-ack text. */
function errorAnswer(seq: number, errno: number, message?: string): Uint8Array {
  const tlv = message === undefined ? new Uint8Array(0) : encodeAttrs([[1, text(message)]]);
  const out = new Uint8Array(16 + 4 + 16 + tlv.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, out.length, LE);
  view.setUint16(4, 2, LE);
  view.setUint16(6, message === undefined ? 0x100 : 0x300, LE);
  view.setUint32(8, seq, LE);
  view.setInt32(16, -errno, LE);
  out.set(tlv, 36);
  return out;
}

Deno.test("parseAnswers() reads acks, errors with the kernel's text, and a link's index and MAC, for its own seq only", () => {
  assertEquals(parseAnswers(errorAnswer(3, 0), 3), [{ kind: "ack", errno: 0 }]);
  assertEquals(parseAnswers(errorAnswer(3, 17, "File exists"), 3), [
    { kind: "ack", errno: 17, message: "File exists" },
  ]);
  const link = new Uint8Array(32);
  const view = new DataView(link.buffer);
  view.setUint32(0, 32, LE);
  view.setUint16(4, RTM_NEWLINK, LE);
  view.setUint32(8, 4, LE);
  view.setInt32(20, 9, LE);
  assertEquals(parseAnswers(concat(errorAnswer(3, 1), link, errorAnswer(4, 0)), 4), [
    { kind: "link", index: 9 },
    { kind: "ack", errno: 0 },
  ]);
  // With IFLA_ADDRESS (6 bytes, padded to 8): its MAC, as `ip link` prints it.
  const withMac = new Uint8Array(44);
  withMac.set(link);
  const macView = new DataView(withMac.buffer);
  macView.setUint32(0, 44, LE);
  macView.setUint16(32, 10, LE);
  macView.setUint16(34, 1, LE);
  withMac.set([0x0e, 0xa1, 0x00, 0xff, 0x10, 0x2b], 36);
  assertEquals(parseAnswers(withMac, 4), [{ kind: "link", index: 9, mac: "0e:a1:00:ff:10:2b" }]);
  assertThrows(
    () => parseAnswers(errorAnswer(3, 0).subarray(0, 20), 3),
    Error,
    "a message of 36 bytes",
  );
});

Deno.test("parseAnswers() reads routes and neighbour entries as a dump lists them, and its end", () => {
  // A dump lists routes and entries in the messages that add them: read the requests back.
  const numbered = (msg: Uint8Array) => (setSequence(msg, 5), msg);
  const done = new Uint8Array(20);
  const view = new DataView(done.buffer);
  view.setUint32(0, 20, LE);
  view.setUint16(4, 3, LE); // NLMSG_DONE
  view.setUint32(8, 5, LE);
  const answers = parseAnswers(
    concat(
      numbered(routeAddRequest(7, { dst: "169.254.1.1", prefix: 32 })),
      numbered(routeAddRequest(7, { dst: "0.0.0.0", prefix: 0, via: "169.254.1.1" })),
      numbered(neighbourReplaceRequest(7, "169.254.1.1", "0E:01:02:03:04:05")),
      done,
    ),
    5,
  );
  assertEquals(answers, [
    { kind: "route", table: 254, dst: "169.254.1.1", prefix: 32, scope: 253, type: 1, oif: 7 },
    {
      kind: "route",
      table: 254,
      dst: "0.0.0.0",
      prefix: 0,
      scope: 0,
      type: 1,
      oif: 7,
      gateway: "169.254.1.1",
    },
    { kind: "neighbour", index: 7, state: 0x80, dst: "169.254.1.1", mac: "0e:01:02:03:04:05" },
    { kind: "ack", errno: 0 },
  ]);
});

Deno.test("the dump requests ask for every IPv4 route and neighbour entry", () => {
  const cases: [Uint8Array, number][] = [
    [routeDumpRequest(), RTM_GETROUTE],
    [neighbourDumpRequest(), RTM_GETNEIGH],
  ];
  for (const [msg, type] of cases) {
    const view = new DataView(msg.buffer);
    assertEquals(view.getUint16(4, LE), type);
    assertEquals(view.getUint16(6, LE) & 0x300, 0x300); // NLM_F_DUMP
    assertEquals(msg[16], 2); // AF_INET
  }
});

Deno.test("setSequence() numbers a request", () => {
  const msg = linkDelRequest("tern0");
  setSequence(msg, 42);
  assertEquals(new DataView(msg.buffer).getUint32(8, LE), 42);
});

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

/** Flat attributes, as the test expects them (independent of the module's writer). */
function encodeAttrs(list: [number, Uint8Array][]): Uint8Array {
  const parts = list.map(([type, value]) => {
    const len = 4 + value.length;
    const out = new Uint8Array((len + 3) & ~3);
    const view = new DataView(out.buffer);
    view.setUint16(0, len, LE);
    view.setUint16(2, type, LE);
    out.set(value, 4);
    return out;
  });
  return concat(...parts);
}
