/**
 * BlockStore on Redis. Every call goes through the bounded retry of RedisConn, so a Redis restart
 * is ridden out and an unreachable server ends in an error naming the address.
 *
 * Layout: a block lives at `{ns}:blk:{key}` (the head). Blocks up to CHUNK bytes are stored inline
 * in the head; larger ones are cut into CHUNK-byte strings at `{head}\0{version}:{i}` and the head
 * holds a short manifest. Why: one 10 MB SET/GET runs several times slower than the same bytes as
 * 1 MB values in one MULTI/MGET on Redis 7 (measured on loopback; see
 * test/engine/redis-block-throughput.ts), and chunks lift Redis' 512 MB limit per value. A put is a
 * single MULTI (chunks, then the head), so a reader never sees half a block; the chunks of the
 * version it replaced are unlinked afterwards (a reader that raced that retries with the new head).
 * The last byte of a head says which kind it is (0 inline, 1 manifest). Chunk keys start with their
 * head's key, so deletePrefix (SCAN MATCH + UNLINK) removes them with their block.
 *
 * Returned arrays start at a byteOffset that is a multiple of 8, so Float32Array/Float64Array views
 * on them work; small blocks are copied when the client handed back an unaligned slice.
 */
import { randomBytes } from 'node:crypto';
import type { BlockStore } from './types.js';
import { Keys, type RedisConn } from './redis-common.js';

/** Size of the pieces large blocks are stored in (and the largest block stored inline). */
export const CHUNK = 1 << 20;
const INLINE = 0;
const CHUNKED = 1;
/** a manifest (`version:chunks:bytes` + tag) is shorter than this */
const MANIFEST_MAX = 64;

interface Manifest { version: string; chunks: number; bytes: number }

/** Escapes glob characters for SCAN MATCH. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function checkKey(key: unknown, what: string): string {
  if (typeof key !== 'string' || key === '') throw new TypeError(`${what}: block keys must be non-empty strings, got ${JSON.stringify(key)}`);
  return key;
}

function parseManifest(head: Uint8Array): Manifest | undefined {
  if (head.length === 0 || head[head.length - 1] !== CHUNKED || head.length > MANIFEST_MAX) return undefined;
  const [version, chunks, bytes] = Buffer.from(head.buffer, head.byteOffset, head.length - 1).toString('latin1').split(':');
  const m = { version, chunks: Number(chunks), bytes: Number(bytes) };
  return version && Number.isInteger(m.chunks) && Number.isInteger(m.bytes) ? m : undefined;
}

/** The value of an inline head, 8-byte aligned. */
function inlineValue(head: Buffer): Uint8Array {
  const v = head.subarray(0, head.length - 1);
  if (v.byteOffset % 8 === 0) return v;
  const copy = new Uint8Array(v.length);
  copy.set(v);
  return copy;
}

class BlockChanged extends Error {}

export class RedisBlockStore implements BlockStore {
  private readonly keys: Keys;

  constructor(private readonly conn: RedisConn, namespace = conn.target.namespace) {
    this.keys = new Keys(namespace);
  }

  private chunkKey(head: string, m: Manifest, i: number): string {
    return `${head}\u0000${m.version}:${i}`;
  }

  private chunkKeys(head: string, m: Manifest): string[] {
    return Array.from({ length: m.chunks }, (_, i) => this.chunkKey(head, m, i));
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    checkKey(key, 'blocks.put');
    if (!(value instanceof Uint8Array)) throw new TypeError(`blocks.put('${key}'): value must be a Uint8Array, got ${value === null ? 'null' : typeof value}`);
    const head = this.keys.block(key);
    const src = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const replies = await this.conn.call(`storing block '${key}' (${value.byteLength} bytes)`, async (c) => {
      const tx = c.multi();
      tx.getrangeBuffer(head, -MANIFEST_MAX, -1);
      if (value.byteLength <= CHUNK) {
        const inline = Buffer.allocUnsafe(value.byteLength + 1);
        inline.set(src);
        inline[value.byteLength] = INLINE;
        tx.set(head, inline);
      } else {
        const m: Manifest = { version: randomBytes(6).toString('hex'), chunks: Math.ceil(value.byteLength / CHUNK), bytes: value.byteLength };
        for (let i = 0; i < m.chunks; i++) tx.set(this.chunkKey(head, m, i), src.subarray(i * CHUNK, (i + 1) * CHUNK));
        tx.set(head, Buffer.from(`${m.version}:${m.chunks}:${m.bytes}\u0001`, 'latin1'));
      }
      const r = await tx.exec();
      const err = r?.find(([e]) => e)?.[0];
      if (err) throw err;
      if (!r) throw new Error('transaction aborted');
      return r;
    });
    const old = parseManifest(replies[0][1] as Buffer);
    if (old) await this.conn.call(`dropping the old version of block '${key}'`, (c) => c.unlink(...this.chunkKeys(head, old)));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key, 'blocks.get');
    const head = this.keys.block(key);
    for (let attempt = 0; ; attempt++) {
      const h = await this.conn.call(`reading block '${key}'`, (c) => c.getBuffer(head));
      try {
        return await this.resolve(key, head, h);
      } catch (e) {
        if (!(e instanceof BlockChanged) || attempt >= 5) throw e;
      }
    }
  }

  /** The value a head stands for: inline, or assembled from its chunks. */
  private async resolve(key: string, head: string, h: Buffer | null, prefetched?: (Buffer | null)[]): Promise<Uint8Array | undefined> {
    if (h === null || h.length === 0) return undefined;
    const m = parseManifest(h);
    if (!m) {
      if (h[h.length - 1] !== INLINE) throw new Error(`block '${key}' at ${this.conn.address} was not written by this block store (bad trailer)`);
      return inlineValue(h);
    }
    const parts = prefetched ?? await this.conn.call(`reading block '${key}' (${m.bytes} bytes)`, (c) => c.mgetBuffer(...this.chunkKeys(head, m)));
    const out = new Uint8Array(m.bytes);
    let at = 0;
    for (const p of parts) {
      if (p === null) throw new BlockChanged(`block '${key}' changed while being read`);
      out.set(p, at);
      at += p.length;
    }
    if (at !== m.bytes) throw new Error(`block '${key}' at ${this.conn.address} is corrupt: ${at} bytes in chunks, manifest says ${m.bytes}`);
    return out;
  }

  async getMany(keys: string[]): Promise<(Uint8Array | undefined)[]> {
    if (keys.length === 0) return [];
    keys.forEach((k) => checkKey(k, 'blocks.getMany'));
    const heads = keys.map((k) => this.keys.block(k));
    const hs = await this.conn.call(`reading ${keys.length} blocks`, (c) => c.mgetBuffer(...heads));
    // every chunk of every large block in one more round trip
    const manifests = hs.map((h) => (h ? parseManifest(h) : undefined));
    const chunkKeys = manifests.flatMap((m, i) => (m ? this.chunkKeys(heads[i], m) : []));
    const chunks = chunkKeys.length > 0 ? await this.conn.call(`reading ${chunkKeys.length} chunks of ${keys.length} blocks`, (c) => c.mgetBuffer(...chunkKeys)) : [];
    let at = 0;
    const out: (Uint8Array | undefined)[] = [];
    for (let i = 0; i < keys.length; i++) {
      const m = manifests[i];
      const mine = m ? chunks.slice(at, (at += m.chunks)) : undefined;
      try {
        out.push(await this.resolve(keys[i], heads[i], hs[i], mine));
      } catch (e) {
        if (!(e instanceof BlockChanged)) throw e;
        out.push(await this.get(keys[i]));
      }
    }
    return out;
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    keys.forEach((k) => checkKey(k, 'blocks.delete'));
    for (let i = 0; i < keys.length; i += 1000) {
      const heads = keys.slice(i, i + 1000).map((k) => this.keys.block(k));
      const tails = await this.conn.pipeline(`deleting ${heads.length} blocks`, (p) => { for (const h of heads) p.getrangeBuffer(h, -MANIFEST_MAX, -1); });
      const all = heads.flatMap((h, j) => {
        const m = parseManifest(tails[j] as Buffer);
        return m ? [h, ...this.chunkKeys(h, m)] : [h];
      });
      await this.conn.call(`deleting ${heads.length} blocks`, (c) => c.unlink(...all));
    }
  }

  async deletePrefix(prefix: string): Promise<void> {
    if (typeof prefix !== 'string') throw new TypeError('blocks.deletePrefix: prefix must be a string');
    const match = `${globEscape(this.keys.block(prefix))}*`;
    let cursor = '0';
    do {
      const [next, found] = await this.conn.call(`scanning blocks under '${prefix}'`, (c) => c.scanBuffer(cursor, 'MATCH', match, 'COUNT', 1000));
      cursor = String(next);
      if (found.length > 0) await this.conn.call(`deleting blocks under '${prefix}'`, (c) => c.unlink(...found));
    } while (cursor !== '0');
  }
}
