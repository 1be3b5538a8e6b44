/**
 * One frozen copy of each repeated part of the objects ternd keeps as JSON: the policies, as
 * received and as parsed. At 10 000 NetworkPolicies each was kept twice, ~2.2 KB as received
 * and ~2.2 KB parsed, ~44 MiB of ternd's heap (docs/benchmarks.md, "What ternd's heap holds"),
 * though policies repeat each other: the same ports, the same `policyTypes`, selectors of the
 * same few labels, whole rules. {@linkcode SharedParts} finds each part's twin by content, bottom
 * up (a part's key is made of its children's ids, so it stays short), and hands out one
 * deep-frozen copy: a consumer that tried to change a shared part would throw. Only JSON-like
 * values are shared (plain objects, plain arrays, strings, numbers, booleans, null, undefined);
 * anything else, and whatever holds it, is kept as it is. Pure but for the pool.
 * @module
 */

/** A shared part: the frozen value and its id, which keys the parts that hold it. */
interface Part {
  value: unknown;
  id: number;
}

/**
 * A pool of shared parts. Bounded as the source's pools are: past `max` distinct parts it starts
 * afresh (what is already shared stays shared; ids never repeat, so a key made before the restart
 * still names one content).
 */
export class SharedParts {
  #pool = new Map<string, Part>();
  #nextId = 0;
  readonly #max: number;

  /** A pool of at most `max` distinct parts (default 20 000). */
  constructor(max = 20_000) {
    this.#max = max;
  }

  /**
   * Replaces each property value of `root` (a plain object fresh from parsing, not yet handed
   * out) by its shared copy, in place, and returns `root`. The root itself is not shared nor
   * frozen: it is the policy, with its own name.
   */
  shareProperties<T extends object>(root: T): T {
    if (!isPlainObject(root)) return root;
    const object: Record<string, unknown> = root;
    for (const key of Object.keys(object)) {
      const part = this.#share(object[key]);
      if (part !== undefined) object[key] = part.value;
    }
    return root;
  }

  /** The shared copy of `value`; `value` itself when it is not JSON-like. */
  share<T>(value: T): T {
    return (this.#share(value)?.value ?? value) as T;
  }

  /** Distinct parts held. */
  get size(): number {
    return this.#pool.size;
  }

  /** The shared part of `value` and its key; undefined when `value` cannot be shared. */
  #share(value: unknown): { value: unknown; key: string } | undefined {
    const scalar = scalarKey(value);
    if (scalar !== undefined) return { value, key: scalar };
    let key: string;
    let copy: unknown;
    if (Array.isArray(value)) {
      if (Object.getPrototypeOf(value) !== Array.prototype) return undefined;
      const items = new Array(value.length);
      const keys = new Array<string>(value.length);
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) return undefined;
        const item = this.#share(value[i]);
        if (item === undefined) return undefined;
        items[i] = item.value;
        keys[i] = item.key;
      }
      key = `[${keys.join(",")}]`;
      copy = items;
    } else if (isPlainObject(value)) {
      const object: Record<string, unknown> = {};
      let text = "{";
      for (const name of Object.keys(value)) {
        const item = this.#share((value as Record<string, unknown>)[name]);
        if (item === undefined) return undefined;
        object[name] = item.value;
        text += `${JSON.stringify(name)}:${item.key},`;
      }
      key = `${text}}`;
      copy = object;
    } else {
      return undefined;
    }
    let part = this.#pool.get(key);
    if (part === undefined) {
      if (this.#pool.size >= this.#max) this.#pool = new Map();
      part = { value: Object.freeze(copy), id: this.#nextId++ };
      this.#pool.set(key, part);
    }
    return { value: part.value, key: `#${part.id}` };
  }
}

/** A scalar's key (its type and value), or undefined for anything that is not a JSON scalar. */
function scalarKey(value: unknown): string | undefined {
  switch (typeof value) {
    case "string":
      return `s${JSON.stringify(value)}`;
    case "number":
      return Object.is(value, -0) ? "n-0" : `n${value}`;
    case "boolean":
      return value ? "t" : "f";
    case "undefined":
      return "u";
    case "object":
      return value === null ? "z" : undefined;
    default:
      return undefined;
  }
}

/** Whether `value` is an object whose prototype is `Object.prototype` and has no symbol keys. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null &&
    Object.getPrototypeOf(value) === Object.prototype &&
    Object.getOwnPropertySymbols(value).length === 0;
}
