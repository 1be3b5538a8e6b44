/**
 * One label key's index over a {@linkcode PeerIndex}'s peers: value → the slots (small integers)
 * of the peers with that value. Made to be small at 150 000 pods, where a `Set` per value cost
 * ~27 bytes a peer (its hash table's entries and buckets, with their slack): a value held by one
 * peer keeps its slot as the map's value, a value held by several an array of their slots (8 bytes
 * each), and each slot's place in its array is kept in one `Int32Array` (4 bytes a slot), so
 * that a peer leaves in constant time (the last slot takes its place). Pure.
 * @module
 */

/** Value → the slots of the peers with it, for one label key. */
export class LabelIndex {
  /** Value → its one peer's slot, or its peers' slots (two or more, in no order). */
  readonly #byValue = new Map<string, number | number[]>();
  /** Slot → its place in its value's array (meaningful only for a slot in an array). */
  #place = new Int32Array(0);

  /** Adds `slot` to the peers with `value` (it must not be there). */
  add(value: string, slot: number): void {
    const held = this.#byValue.get(value);
    if (held === undefined) {
      this.#byValue.set(value, slot);
      return;
    }
    let slots: number[];
    if (typeof held === "number") {
      slots = [held];
      this.#setPlace(held, 0);
      this.#byValue.set(value, slots);
    } else {
      slots = held;
    }
    this.#setPlace(slot, slots.length);
    slots.push(slot);
  }

  /** Removes `slot` from the peers with `value`; whether it was there. */
  delete(value: string, slot: number): boolean {
    const held = this.#byValue.get(value);
    if (held === undefined) return false;
    if (typeof held === "number") {
      if (held !== slot) return false;
      this.#byValue.delete(value);
      return true;
    }
    const at = slot < this.#place.length ? this.#place[slot]! : -1;
    if (held[at] !== slot) return false;
    const last = held.pop()!;
    if (last !== slot) {
      held[at] = last;
      this.#place[last] = at;
    }
    if (held.length === 1) this.#byValue.set(value, held[0]!);
    return true;
  }

  /** The slots of the peers with `value`, in no order (the index's own: read, never change). */
  get(value: string): readonly number[] {
    const held = this.#byValue.get(value);
    if (held === undefined) return [];
    return typeof held === "number" ? [held] : held;
  }

  /** How many peers have `value`. */
  count(value: string): number {
    const held = this.#byValue.get(value);
    if (held === undefined) return 0;
    return typeof held === "number" ? 1 : held.length;
  }

  #setPlace(slot: number, at: number): void {
    if (slot >= this.#place.length) {
      const grown = new Int32Array(Math.max(1024, slot + 1, this.#place.length * 2));
      grown.set(this.#place);
      this.#place = grown;
    }
    this.#place[slot] = at;
  }
}
