/**
 * A set of at most `max` keys that forgets the oldest first, in two generations: keys go into
 * the current one; when it holds half of `max`, it becomes the previous one and the one before
 * is dropped whole. A key found in the previous generation moves to the current one, so a key
 * in use is kept.
 *
 * Why not one Map evicting `keys().next()`: V8's ordered hash tables keep deleted entries until
 * they rehash, and the iterator walks over them, so at a steady 50 000 entries each eviction
 * scanned tens of thousands of holes (~0.25 ms; a cold 200 KB body evicts ~70 blocks, issue #12).
 */
export type BoundedSet = { has(key: string): boolean; add(key: string): void; readonly size: number };

export function createBoundedSet(max: number): BoundedSet {
  const half = Math.max(1, Math.floor(max / 2));
  let current = new Set<string>();
  let previous = new Set<string>();
  const add = (key: string) => {
    if (current.size >= half) {
      previous = current;
      current = new Set();
    }
    current.add(key);
  };
  return {
    has(key) {
      if (current.has(key)) return true;
      if (!previous.has(key)) return false;
      previous.delete(key);
      add(key);
      return true;
    },
    add(key) {
      if (!current.has(key)) add(key);
    },
    get size() {
      return current.size + previous.size;
    },
  };
}
