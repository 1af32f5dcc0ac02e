// MD5 (RFC 1321), incremental, for checking in the browser that bytes survived the round trip.
// Not for security: S3 uses MD5 as the ETag of single-part objects, which is what is compared.

const SHIFTS = [
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

// K[i] = floor(|sin(i + 1)| * 2^32), as the RFC defines the table.
const K = new Int32Array(64);
for (let i = 0; i < 64; i += 1) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;

// Message-word index for each of the 64 steps.
const WORD = new Uint8Array(64);
for (let i = 0; i < 64; i += 1) {
  if (i < 16) WORD[i] = i;
  else if (i < 32) WORD[i] = (5 * i + 1) % 16;
  else if (i < 48) WORD[i] = (3 * i + 5) % 16;
  else WORD[i] = (7 * i) % 16;
}

export class Md5 {
  constructor() {
    this.state = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
    this.pending = new Uint8Array(64);
    this.pendingLength = 0;
    this.total = 0;
    this.words = new Int32Array(16);
  }

  /** Feed bytes (a Uint8Array, ArrayBuffer or any typed array). */
  update(input) {
    const bytes = input instanceof Uint8Array ? input
      : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        : new Uint8Array(input);
    this.total += bytes.length;
    let offset = 0;
    if (this.pendingLength > 0) {
      const take = Math.min(64 - this.pendingLength, bytes.length);
      this.pending.set(bytes.subarray(0, take), this.pendingLength);
      this.pendingLength += take;
      offset = take;
      if (this.pendingLength < 64) return this;
      this.block(this.pending, 0);
      this.pendingLength = 0;
    }
    for (; offset + 64 <= bytes.length; offset += 64) this.block(bytes, offset);
    if (offset < bytes.length) {
      this.pending.set(bytes.subarray(offset), 0);
      this.pendingLength = bytes.length - offset;
    }
    return this;
  }

  block(bytes, offset) {
    const m = this.words;
    for (let i = 0; i < 16; i += 1) {
      const j = offset + i * 4;
      m[i] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
    }
    const st = this.state;
    let a = st[0];
    let b = st[1];
    let c = st[2];
    let d = st[3];
    for (let i = 0; i < 64; i += 1) {
      let f;
      if (i < 16) f = (b & c) | (~b & d);
      else if (i < 32) f = (d & b) | (~d & c);
      else if (i < 48) f = b ^ c ^ d;
      else f = c ^ (b | ~d);
      f = (f + a + K[i] + m[WORD[i]]) | 0;
      a = d;
      d = c;
      c = b;
      b = (b + ((f << SHIFTS[i]) | (f >>> (32 - SHIFTS[i])))) | 0;
    }
    st[0] = (st[0] + a) | 0;
    st[1] = (st[1] + b) | 0;
    st[2] = (st[2] + c) | 0;
    st[3] = (st[3] + d) | 0;
  }

  /** The 16-byte digest; the object is finished afterwards. */
  digest() {
    const bits = this.total * 8;
    const tail = new Uint8Array(this.pendingLength < 56 ? 64 - this.pendingLength : 128 - this.pendingLength);
    tail[0] = 0x80;
    const low = bits % 4294967296;
    const high = Math.floor(bits / 4294967296);
    const n = tail.length;
    for (let i = 0; i < 4; i += 1) {
      tail[n - 8 + i] = (low >>> (8 * i)) & 0xff;
      tail[n - 4 + i] = (high >>> (8 * i)) & 0xff;
    }
    const total = this.total;
    this.update(tail);
    this.total = total;
    const out = new Uint8Array(16);
    for (let i = 0; i < 4; i += 1) {
      for (let j = 0; j < 4; j += 1) out[i * 4 + j] = (this.state[i] >>> (8 * j)) & 0xff;
    }
    return out;
  }

  hex() {
    return toHex(this.digest());
  }
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** MD5 of bytes, as hex. */
export function md5Hex(bytes) {
  return new Md5().update(bytes).hex();
}

/** MD5 of a Blob or File, read in pieces so large files do not need one big buffer. */
export async function md5OfBlob(blob, chunk = 4 * 1024 * 1024) {
  const hash = new Md5();
  for (let offset = 0; offset < blob.size; offset += chunk) {
    hash.update(new Uint8Array(await blob.slice(offset, offset + chunk).arrayBuffer()));
  }
  return hash.hex();
}

/** The ETag S3 gives a multipart object: MD5 of the parts' binary MD5s, then "-" and the count. */
export function multipartEtag(bytes, partSize) {
  const digests = new Md5();
  let parts = 0;
  for (let offset = 0; offset < bytes.length; offset += partSize) {
    digests.update(new Md5().update(bytes.subarray(offset, offset + partSize)).digest());
    parts += 1;
  }
  return `${digests.hex()}-${parts}`;
}
