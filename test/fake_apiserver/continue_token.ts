/**
 * Continue tokens of paginated lists ("Retrieving large results sets in chunks"): opaque to
 * clients, they carry the revision the first page was served at and the key the next page starts
 * from, so every page comes from the same snapshot. Like the real server's, the token is
 * base64url JSON with a format version; a token that does not decode is a 400.
 * @module
 */

import { badRequest } from "./status.ts";

/** What a continue token carries. */
export interface ContinuePosition {
  /** The snapshot revision; 0 means "the latest" (the token sent back with a 410). */
  rv: number;
  /** The first key of the next page. */
  start: string;
}

const FORMAT = "fake.tern.dev/v1";

/** Encodes a position as a token. */
export function encodeContinue(pos: ContinuePosition): string {
  const json = JSON.stringify({ v: FORMAT, rv: pos.rv, start: pos.start });
  return btoa(String.fromCharCode(...new TextEncoder().encode(json)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes a token; an unknown or damaged one is a 400 BadRequest, as the server answers. */
export function decodeContinue(token: string): ContinuePosition {
  try {
    const b64 = token.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const o = JSON.parse(new TextDecoder().decode(bytes)) as {
      v?: string;
      rv?: number;
      start?: string;
    };
    if (o.v !== FORMAT || typeof o.rv !== "number" || typeof o.start !== "string" || o.rv < 0) {
      throw new Error("bad fields");
    }
    return { rv: o.rv, start: o.start };
  } catch {
    throw badRequest(`continue key is not valid: "${token}" was not issued by this server`);
  }
}
