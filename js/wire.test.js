import { test } from "node:test";
import assert from "node:assert/strict";
import { base64ToView, decode, decodeFloat16, frame, halfToFloat, size } from "./wire.js";

test("halfToFloat decodes normal, subnormal and special values", () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x3555), 0.333251953125);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.equal(halfToFloat(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.ok(Object.is(halfToFloat(0x8000), -0));
});

test("decodeFloat16 maps every element", () => {
  const out = decodeFloat16(new Uint16Array([0x3c00, 0xbc00, 0x0000, 0x3800]));
  assert.deepEqual(Array.from(out), [1, -1, 0, 0.5]);
});

test("decode respects byteOffset and byteLength of a DataView", () => {
  const buffer = new ArrayBuffer(16);
  const all = new Uint8Array(buffer);
  all.set([9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 9, 9]);
  const view = new DataView(buffer, 4, 6);
  const arr = decode({ view, dtype: "uint8", shape: [2, 3] });
  assert.deepEqual(Array.from(arr.data), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(arr.shape, [2, 3]);
});

test("decode copies misaligned float32 and float16 data", () => {
  const buffer = new ArrayBuffer(13);
  const f = new Float32Array([1.5, -2.25, 3]);
  new Uint8Array(buffer).set(new Uint8Array(f.buffer), 1);
  const arr = decode({ view: new DataView(buffer, 1, 12), dtype: "float32", shape: [3] });
  assert.deepEqual(Array.from(arr.data), [1.5, -2.25, 3]);

  const hb = new ArrayBuffer(5);
  new Uint8Array(hb).set(new Uint8Array(new Uint16Array([0x3c00, 0x4000]).buffer), 1);
  const half = decode({ view: new DataView(hb, 1, 4), dtype: "float16", shape: [2] });
  assert.deepEqual(Array.from(half.data), [1, 2]);
});

test("decode rejects a byte count that does not match the shape", () => {
  const view = new DataView(new ArrayBuffer(6));
  assert.throws(() => decode({ view, dtype: "float32", shape: [2] }), /bytes/);
  assert.throws(() => decode({ view, dtype: "complex64", shape: [1] }), /dtype/);
});

test("frame shares memory along the first axis", () => {
  const arr = { data: new Float32Array([0, 1, 2, 3, 4, 5]), shape: [3, 2] };
  const f = frame(arr, 1);
  assert.deepEqual(Array.from(f.data), [2, 3]);
  assert.deepEqual(f.shape, [2]);
  assert.equal(size([2, 3, 4]), 24);
});

test("base64ToView round-trips bytes", () => {
  const view = base64ToView(Buffer.from([1, 2, 250]).toString("base64"));
  assert.deepEqual(Array.from(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)), [1, 2, 250]);
});
