/**
 * Assertions for tests, on `node:assert` (JSR's `@std/assert` is unreachable here), with the
 * names that Deno's standard library uses.
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Throws unless `value` is truthy. */
export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message);
}

/** Deep, strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Deep, strict inequality. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, message);
}

/** Throws unless `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  nodeAssert.match(text, pattern, message);
}

/** Throws unless `text` includes `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  if (!text.includes(part)) {
    throw new nodeAssert.AssertionError({
      message: message ?? `Expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`,
    });
  }
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = new (...args: any[]) => E;

/** Runs `fn`, expects it to throw an instance of `cls` (default `Error`) whose message includes `part`. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  cls?: ErrorClass<E>,
  part?: string,
): E {
  try {
    fn();
  } catch (err) {
    return checkError(err, cls, part);
  }
  throw new nodeAssert.AssertionError({ message: "Expected function to throw" });
}

/** Awaits `fn`, expects it to reject with an instance of `cls` whose message includes `part`. */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  cls?: ErrorClass<E>,
  part?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    return checkError(err, cls, part);
  }
  throw new nodeAssert.AssertionError({ message: "Expected promise to reject" });
}

function checkError<E extends Error>(err: unknown, cls?: ErrorClass<E>, part?: string): E {
  const want = cls ?? (Error as unknown as ErrorClass<E>);
  if (!(err instanceof want)) {
    throw new nodeAssert.AssertionError({
      message: `Expected error of class ${want.name}, got ${String(err)}`,
    });
  }
  if (part !== undefined && !err.message.includes(part)) {
    throw new nodeAssert.AssertionError({
      message: `Expected error message to include ${JSON.stringify(part)}, got ${
        JSON.stringify(err.message)
      }`,
    });
  }
  return err;
}
