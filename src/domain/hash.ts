// Small, stable, non-cryptographic hashing for naming and scheduling. The domain may not import
// node:crypto, and neither use needs secrecy, only determinism and a good spread.

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const encoder = new TextEncoder();

/** FNV-1a, 32 bits, over the UTF-8 bytes of text; an unsigned integer. */
export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (const byte of encoder.encode(text)) {
    hash = Math.imul(hash ^ byte, FNV_PRIME);
  }
  return hash >>> 0;
}

/**
 * FNV-1a followed by murmur3's finaliser. FNV-1a alone moves seeds that differ only in their last
 * character by small steps in the high bits; the finaliser spreads them over the whole range.
 */
export function mixedHash32(text: string): number {
  let h = fnv1a32(text);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
