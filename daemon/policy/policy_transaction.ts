/**
 * One policy transaction with its ready marks: the marks of the pods that leave come off, the
 * table moves from the model in the kernel to the next one as one `nft -f -` transaction (an
 * update, `renderPolicyUpdate`, or the whole table, `renderPolicyTable`, which replaces any
 * table atomically), and the marks of the pods that enter go on. An update that nft refuses is
 * followed at once by the whole table. Nothing here retries or remembers: the caller keeps the
 * model and decides when to try again.
 * @module
 */
import type { Nft } from "../../src/nft.ts";
import type { PolicyModel } from "../../src/policy/model.ts";
import {
  type RenderCache,
  renderPolicyTable,
  renderPolicyUpdate,
} from "../../src/policy/render.ts";
import { errorMessage } from "../../src/lib/errors.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { type ReadyMarks, readyVeths } from "./ready_marks.ts";

/** What a transaction did. */
export type TransactionResult =
  | {
    ok: true;
    /** The text applied ("" when nothing changed). */
    text: string;
    /** Whether the whole table went in (asked for, or after a refused update). */
    whole: boolean;
    /** Milliseconds spent rendering the text (both texts after a refused update). */
    renderMs: number;
    /** Milliseconds spent in the kernel work: the marks and the `nft` transaction(s). */
    nftMs: number;
  }
  | {
    ok: false;
    error: string;
    /**
     * The table is already the next model's (only a mark failed after it): keep `next` as the
     * model, so nothing marks a veth by the old one.
     */
    tableIsNext: boolean;
  };

/** What a transaction works with. */
export interface PolicyTransactionDeps {
  nft: Pick<Nft, "apply">;
  marks: ReadyMarks;
  /** Default `silentLogger`. */
  log?: Logger;
  /** Keeps pods' rendered objects between transactions (a 10k-rule group renders ~6× faster). */
  cache?: RenderCache;
}

/**
 * Moves the kernel from `at.previous` (undefined: unknown, so the whole table) to `at.next`;
 * `at.whole` asks for the whole table. Never throws: a failure is in the result.
 */
export async function applyPolicyTransaction(
  deps: PolicyTransactionDeps,
  at: { previous: PolicyModel | undefined; next: PolicyModel; whole: boolean; trigger: string },
): Promise<TransactionResult> {
  const { previous, next, trigger } = at;
  const whole = at.whole || previous === undefined;
  const render = { cache: deps.cache };
  let t = performance.now();
  let text = whole ? renderPolicyTable(next, render) : renderPolicyUpdate(previous, next, render);
  let renderMs = performance.now() - t;
  t = performance.now();
  let appliedWhole = whole;
  const ready = readyVeths(next);
  // The marks of veths whose policy goes come off before the transaction takes it away.
  try {
    await deps.marks.clearBefore(previous, ready, whole);
  } catch (err) {
    return { ok: false, error: errorMessage(err), tableIsNext: false };
  }
  try {
    if (text !== "") await deps.nft.apply(text);
  } catch (err) {
    if (whole) return { ok: false, error: errorMessage(err), tableIsNext: false };
    (deps.log ?? silentLogger).warn("Policy update failed; applying the whole table", {
      trigger,
      error: errorMessage(err),
    });
    const r = performance.now();
    text = renderPolicyTable(next, render);
    renderMs += performance.now() - r;
    t += performance.now() - r;
    appliedWhole = true;
    try {
      await deps.nft.apply(text);
    } catch (err2) {
      return { ok: false, error: errorMessage(err2), tableIsNext: false };
    }
  }
  // The marks of veths whose policy came go on after the transaction put it in place.
  try {
    await deps.marks.markAfter(previous, ready, appliedWhole);
  } catch (err) {
    return { ok: false, error: errorMessage(err), tableIsNext: true };
  }
  return { ok: true, text, whole: appliedWhole, renderMs, nftMs: performance.now() - t };
}
