// A 32-bit content fingerprint (FNV-1a over 32-bit words) for telling inputs apart, e.g. a snapshot's corpus from
// the one given on resume. It guards against mistakes, not tampering.

export class Fingerprint {
  private h = 0x811c9dc5;

  /** Adds an array's bytes (in this machine's byte order), then its byte length. */
  bytes(x: ArrayBufferView): this {
    const whole = x.byteLength >>> 2;
    // A word view needs a 4-byte-aligned start; copy otherwise (rare: views start on their element size).
    const words =
      x.byteOffset % 4 === 0
        ? new Uint32Array(x.buffer, x.byteOffset, whole)
        : new Uint32Array(new Uint8Array(x.buffer, x.byteOffset, whole * 4).slice().buffer);
    let h = this.h;
    for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
    const tail = new Uint8Array(x.buffer, x.byteOffset + whole * 4, x.byteLength - whole * 4);
    for (let i = 0; i < tail.length; i++) h = Math.imul(h ^ tail[i]!, 0x01000193);
    this.h = h;
    return this.number(x.byteLength);
  }

  text(s: string): this {
    return this.bytes(new TextEncoder().encode(s));
  }

  number(n: number): this {
    this.h = Math.imul(this.h ^ (n >>> 0), 0x01000193);
    this.h = Math.imul(this.h ^ Math.floor(n / 2 ** 32), 0x01000193);
    return this;
  }

  /** 8 hexadecimal digits. */
  hex(): string {
    return (this.h >>> 0).toString(16).padStart(8, '0');
  }
}
