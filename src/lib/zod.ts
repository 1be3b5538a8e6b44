/**
 * The part of zod that tern uses, as named exports: `import * as z from "…/src/lib/zod.ts"`
 * (`import type * as z` where only types are needed) reads like zod's own `z`. Importing zod's
 * `z` namespace instead makes the bundler keep every export of zod, with its 64 locales (the
 * daemon's zod chunk was 761 KB, and loading it added about 16 MiB to a Deno process's resident
 * memory); with named exports it keeps what is used (about 181 KB, 7 MiB), see
 * docs/benchmarks.md, "idle". Add a name here when a schema needs one.
 * @module
 */
export {
  array,
  boolean,
  discriminatedUnion,
  enum,
  literal,
  looseObject,
  NEVER,
  number,
  object,
  record,
  strictObject,
  string,
  union,
  unknown,
} from "zod";
export type { core, output, RefinementCtx, ZodObject, ZodType } from "zod";
