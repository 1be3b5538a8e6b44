import { assertEquals } from "../assert.ts";
import { parseSmaps, topFiles } from "./smaps.ts";

const SAMPLE = `55d0c0a00000-55d0c0c00000 rw-p 00000000 00:00 0                          [heap]
Size:               2048 kB
Rss:                1500 kB
Anonymous:          1500 kB
7f0000000000-7f0000100000 rw-p 00000000 00:00 0 
Rss:                 700 kB
Anonymous:           700 kB
7f0000100000-7f0000200000 r--s 00000000 08:01 1234                       /var/lib/tern/state.kv
Rss:                 300 kB
Anonymous:             0 kB
7f0000200000-7f0000300000 r-xp 00001000 08:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 120 kB
Anonymous:             4 kB
7f0000300000-7f0000400000 r--p 00000000 08:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                  30 kB
Anonymous:             0 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Rss:                  40 kB
Anonymous:            40 kB
`;

Deno.test("smaps: resident memory is grouped by heap, anonymous, other and file", () => {
  const map = parseSmaps(SAMPLE);
  assertEquals(map.heapKiB, 1500);
  assertEquals(map.anonKiB, 700);
  assertEquals(map.otherKiB, 40);
  assertEquals(map.files, {
    "/var/lib/tern/state.kv": 300,
    "/usr/lib/x86_64-linux-gnu/libc.so.6": 150,
  });
  assertEquals(map.anonymousTotalKiB, 2244);
  assertEquals(topFiles(map, 1), ["/var/lib/tern/state.kv: 300"]);
});

Deno.test("smaps: an empty text is all zeros", () => {
  assertEquals(parseSmaps(""), {
    heapKiB: 0,
    anonKiB: 0,
    otherKiB: 0,
    files: {},
    anonymousTotalKiB: 0,
  });
});
