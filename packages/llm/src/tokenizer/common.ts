/** Internal helpers shared by the tokenizers (not part of the public API). */

export const utf8Encoder = new TextEncoder();
/** Non-fatal: invalid / truncated UTF-8 becomes U+FFFD instead of throwing. */
export function decodeUtf8(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes);
}

export const EMPTY_BYTES = new Uint8Array(0);

const BYTE_TOKEN_RE = /^<0x([0-9A-Fa-f]{2})>$/;
/** `<0x41>` -> 0x41; anything else -> -1. */
export function parseByteToken(text: string): number {
  const m = BYTE_TOKEN_RE.exec(text);
  return m ? parseInt(m[1], 16) : -1;
}
export function byteTokenText(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** A binary min-heap ordered by `less`. */
export class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}
  get size(): number {
    return this.items.length;
  }
  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      const n = a.length;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && this.less(a[l], a[m])) m = l;
        if (r < n && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

/** A piece of input: raw text to tokenize, or an already-matched special token id. */
export type Fragment = { text: string } | { id: number };

/**
 * Splits text around literal occurrences of the given tokens (leftmost match, longest token
 * wins at a position).
 */
export class LiteralSplitter {
  private readonly byFirst = new Map<string, { text: string; id: number }[]>();
  readonly isEmpty: boolean;
  constructor(tokens: Iterable<{ text: string; id: number }>) {
    let n = 0;
    for (const t of tokens) {
      if (t.text.length === 0) continue;
      const c = t.text[0];
      let list = this.byFirst.get(c);
      if (!list) this.byFirst.set(c, (list = []));
      list.push(t);
      n++;
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.text.length - a.text.length);
    this.isEmpty = n === 0;
  }
  split(text: string): Fragment[] {
    if (this.isEmpty) return text.length ? [{ text }] : [];
    const out: Fragment[] = [];
    let start = 0;
    for (let i = 0; i < text.length; ) {
      const list = this.byFirst.get(text[i]);
      let hit: { text: string; id: number } | undefined;
      if (list) for (const t of list) if (text.startsWith(t.text, i)) { hit = t; break; }
      if (hit) {
        if (i > start) out.push({ text: text.slice(start, i) });
        out.push({ id: hit.id });
        i += hit.text.length;
        start = i;
      } else {
        i++;
      }
    }
    if (start < text.length) out.push({ text: text.slice(start) });
    return out;
  }
}

export function checkId(id: number, vocabSize: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new RangeError(`token id ${id} is out of range [0, ${vocabSize})`);
  }
}

export function concatBytes(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
