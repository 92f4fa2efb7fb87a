/**
 * Recycled tensor-sized buffers for the streaming safetensors merge. A fresh
 * 32 MB ArrayBuffer costs ~12 ms of CPU before it holds anything (the kernel
 * maps and zeroes 8 192 pages on first touch, and frees them again after GC);
 * a merge of 64 such tensors allocates two per tensor (what was read, what is
 * written). With the pipeline's few buffers in flight reused, that cost is
 * paid a handful of times instead of 128.
 *
 * Ownership is explicit: whoever takes a buffer gives it back only when no
 * one can read it any more (the read after its merge, the output after its
 * write completed). A buffer never given back is simply garbage-collected.
 */
export class BufferPool {
  private readonly free = new Map<number, Uint8Array[]>();
  private held = 0;
  /** @param keep at most this many idle buffers are kept (bounds the memory the pool holds). */
  constructor(private readonly keep = 4) {}

  /** A buffer of exactly `length` bytes (recycled contents: the caller overwrites all of it), at byte offset 0. */
  take(length: number): Uint8Array {
    const list = this.free.get(length);
    const b = list?.pop();
    if (b) {
      this.held--;
      return b;
    }
    return new Uint8Array(length);
  }

  /** Returns a buffer nobody reads any more; only whole, offset-0 buffers are kept. */
  give(b: Uint8Array): void {
    if (b.byteOffset !== 0 || b.byteLength !== b.buffer.byteLength || this.held >= this.keep) return;
    let list = this.free.get(b.byteLength);
    if (!list) this.free.set(b.byteLength, (list = []));
    if (list.includes(b)) return; // given twice: keep one reference
    list.push(b);
    this.held++;
  }
}
