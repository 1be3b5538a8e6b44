/**
 * A hash table from a pod's namespace and name to its slot in a {@linkcode PeerIndex}, in one
 * `Int32Array` (4 bytes an entry, open addressing): the keys are not stored, they are the slot's
 * pod's own strings, which the caller's `keyOf` gives back. At 150 000 pods a map per namespace
 * from the name cost ~37 bytes a pod (a map entry of three words, its bucket and the tables'
 * slack, 5.5 MiB in ternd's heap); this table costs 4 bytes per entry of its capacity, at most
 * twice the pods. Linear probing, entries moved back on delete (no tombstones). Pure.
 * @module
 */

/** What a slot's pod is named: its namespace and name. */
export type SlotKey = (slot: number) => { namespace: string; name: string };

const EMPTY = -1;

/** Namespace and name → slot. */
export class SlotTable {
  readonly #keyOf: SlotKey;
  /** Entry → slot, or `EMPTY`. */
  #table = new Int32Array(1024).fill(EMPTY);
  #size = 0;

  /** `keyOf` names the pod of a slot the table holds. */
  constructor(keyOf: SlotKey) {
    this.#keyOf = keyOf;
  }

  /** How many slots the table holds. */
  get size(): number {
    return this.#size;
  }

  /** The slot of pod `namespace/name`, if the table holds it. */
  get(namespace: string, name: string): number | undefined {
    const table = this.#table;
    const mask = table.length - 1;
    for (let i = hashKey(namespace, name) & mask;; i = (i + 1) & mask) {
      const slot = table[i]!;
      if (slot === EMPTY) return undefined;
      const key = this.#keyOf(slot);
      if (key.name === name && key.namespace === namespace) return slot;
    }
  }

  /**
   * Makes room for `count` slots at once (a listing of every pod): the table grows once, not by
   * doubling, each time putting every slot again.
   */
  reserve(count: number): void {
    let length = this.#table.length;
    while (count * 4 > length * 3) length *= 2;
    if (length > this.#table.length) this.#grow(length);
  }

  /** Adds `slot` (its pod, by `keyOf`, must not be in the table yet). */
  add(slot: number): void {
    if ((this.#size + 1) * 4 > this.#table.length * 3) this.#grow(this.#table.length * 2);
    this.#put(this.#table, slot);
    this.#size++;
  }

  /** Removes the slot of pod `namespace/name`; whether the table held it. */
  delete(namespace: string, name: string): boolean {
    const table = this.#table;
    const mask = table.length - 1;
    let i = hashKey(namespace, name) & mask;
    for (;; i = (i + 1) & mask) {
      const slot = table[i]!;
      if (slot === EMPTY) return false;
      const key = this.#keyOf(slot);
      if (key.name === name && key.namespace === namespace) break;
    }
    // Moves back each later entry of the run that its home allows into the hole.
    let hole = i;
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const slot = table[j]!;
      if (slot === EMPTY) break;
      const key = this.#keyOf(slot);
      const home = hashKey(key.namespace, key.name) & mask;
      // The entry stays when its home lies cyclically in (hole, j].
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      table[hole] = slot;
      hole = j;
    }
    table[hole] = EMPTY;
    this.#size--;
    return true;
  }

  #put(table: Int32Array, slot: number): void {
    const mask = table.length - 1;
    const { namespace, name } = this.#keyOf(slot);
    let i = hashKey(namespace, name) & mask;
    while (table[i] !== EMPTY) i = (i + 1) & mask;
    table[i] = slot;
  }

  #grow(length: number): void {
    const old = this.#table;
    const table = new Int32Array(length).fill(EMPTY);
    for (const slot of old) if (slot !== EMPTY) this.#put(table, slot);
    this.#table = table;
  }
}

/** FNV-1a of `namespace`, a separator and `name`, as a 32-bit integer. */
function hashKey(namespace: string, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < namespace.length; i++) h = Math.imul(h ^ namespace.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0x2f, 0x01000193);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
