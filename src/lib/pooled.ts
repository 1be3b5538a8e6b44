/**
 * Running an async function over many items with a bound on how many run at once, as probes of
 * many pod pairs need (unbounded, they would open thousands of sockets at the same moment).
 * Pure apart from what `fn` does.
 * @module
 */

/** Runs `fn` over `items`, at most `limit` at a time; the results are in the items' order. */
export async function pooled<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
