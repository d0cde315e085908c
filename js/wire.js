// The binary wire format shared with attrwidgets/widgets/_wire.py.
//
// A serialised array is {view, dtype, shape}: `view` is a DataView (what anywidget gives for
// bytes inside a synced dict), `dtype` one of "uint8", "int16", "int32", "float16", "float32",
// and `shape` a list of ints. Arrays stay flat; typed arrays are always built from
// (buffer, byteOffset, byteLength), never from `view.buffer` alone.

/**
 * @typedef {{view: DataView, dtype: string, shape: number[]}} SerializedArray
 * @typedef {{data: Uint8Array|Int16Array|Int32Array|Float32Array, shape: number[]}} NdArray
 */

const TYPED = {
  uint8: Uint8Array,
  int16: Int16Array,
  int32: Int32Array,
  float32: Float32Array,
};

/** Number of elements of an array of this shape. */
export function size(shape) {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/**
 * Decode one IEEE 754 half-precision number from its 16 bits.
 * @param {number} bits
 * @returns {number}
 */
export function halfToFloat(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

let halfTable = null;

/** All 65536 half floats as a lookup table, built once (256 KiB). */
function halfLookup() {
  if (halfTable === null) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = halfToFloat(i);
  }
  return halfTable;
}

/**
 * Decode little-endian float16 bits into a Float32Array.
 * @param {Uint16Array} bits
 * @returns {Float32Array}
 */
export function decodeFloat16(bits) {
  const table = halfLookup();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** Bytes of a DataView / typed array / ArrayBuffer as a Uint8Array over the same memory. */
export function bytesOf(view) {
  if (view instanceof ArrayBuffer) return new Uint8Array(view);
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Turn a serialised array into a flat typed array and its shape. float16 becomes Float32Array.
 * The bytes are copied when they are not aligned for the element type.
 * @param {SerializedArray} arr
 * @returns {NdArray}
 */
export function decode(arr) {
  if (!arr || !arr.view) throw new Error("decode: expected {view, dtype, shape}");
  const { dtype, shape } = arr;
  let bytes = bytesOf(arr.view);
  const n = size(shape);
  if (dtype === "float16") {
    if (bytes.byteLength !== n * 2) throw new Error(`decode: ${bytes.byteLength} bytes for ${n} float16`);
    if (bytes.byteOffset % 2) bytes = bytes.slice();
    return { data: decodeFloat16(new Uint16Array(bytes.buffer, bytes.byteOffset, n)), shape };
  }
  const Typed = TYPED[dtype];
  if (!Typed) throw new Error(`decode: unsupported dtype ${dtype}`);
  const width = Typed.BYTES_PER_ELEMENT;
  if (bytes.byteLength !== n * width) throw new Error(`decode: ${bytes.byteLength} bytes for ${n} ${dtype}`);
  if (bytes.byteOffset % width) bytes = bytes.slice();
  return { data: new Typed(bytes.buffer, bytes.byteOffset, n), shape };
}

/**
 * The i-th sub-array along the first axis, sharing memory: frame(arr, i) of a (K, H, W) array.
 * @param {NdArray} arr
 * @param {number} i
 */
export function frame(arr, i) {
  const inner = size(arr.shape.slice(1));
  return { data: arr.data.subarray(i * inner, (i + 1) * inner), shape: arr.shape.slice(1) };
}

/** Decode a base64 string into a DataView (used by the static HTML export). */
export function base64ToView(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new DataView(bytes.buffer);
}
