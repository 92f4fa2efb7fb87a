/**
 * NumPy's `.npy` format (versions 1.0, 2.0 and 3.0), read-only, for
 * verification inputs: the magic `\x93NUMPY`, a version, a header length, a
 * Python-literal header `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }`
 * and the C-ordered data. Only what a model input can be is accepted
 * (little-endian or single-byte numbers and bools, C order); anything else
 * is one clear error naming the file.
 */
import * as fs from 'node:fs';
import { fileError } from '../errors';

export interface NpyArray {
  /** ONNX Runtime's element type name (float32, int64, bool, …). */
  dtype: string;
  shape: number[];
  /** The data bytes, little-endian, in a fresh buffer (aligned for any typed array). */
  bytes: Uint8Array;
}

const DESCR_TO_ORT: Record<string, string> = {
  '<f4': 'float32', '<f8': 'float64', '<f2': 'float16', '<i8': 'int64', '<i4': 'int32', '<i2': 'int16', '|i1': 'int8',
  '|u1': 'uint8', '<u2': 'uint16', '<u4': 'uint32', '<u8': 'uint64', '|b1': 'bool',
};
const ITEM_SIZE: Record<string, number> = {
  float32: 4, float64: 8, float16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, uint16: 2, uint32: 4, uint64: 8, bool: 1,
};
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

export function readNpy(filePath: string): NpyArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(filePath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fileError(filePath, code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? 'error'})`);
  }
  return parseNpy(filePath, buf);
}

export function parseNpy(filePath: string, buf: Uint8Array): NpyArray {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 10 || !b.subarray(0, 6).equals(MAGIC)) throw fileError(filePath, 'not a NumPy .npy file (no \\x93NUMPY magic)');
  const major = b[6];
  if (major < 1 || major > 3) throw fileError(filePath, `.npy format version ${major}.${b[7]} is not supported (1.0–3.0 are)`);
  const lengthBytes = major === 1 ? 2 : 4;
  const headerLength = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = 8 + lengthBytes;
  if (start + headerLength > b.length) throw fileError(filePath, 'the .npy header runs past the end of the file (truncated)');
  const header = b.subarray(start, start + headerLength).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw fileError(filePath, `the .npy header is not a NumPy array header: ${header.trim().slice(0, 120)}`);
  const dtype = DESCR_TO_ORT[descr === '<b1' ? '|b1' : descr];
  if (!dtype) throw fileError(filePath, `.npy element type '${descr}' is not a model input type (little-endian float16/32/64, int8–64, uint8–64 or bool are)`);
  if (fortran === 'True') throw fileError(filePath, 'the array is in Fortran order; save it with np.save(path, np.ascontiguousarray(a))');
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fileError(filePath, `the .npy shape (${shapeText}) is not a list of sizes`);
  const expected = shape.reduce((a, d) => a * d, 1) * ITEM_SIZE[dtype];
  const dataStart = start + headerLength;
  const available = b.length - dataStart;
  if (available < expected) throw fileError(filePath, `holds ${available} data bytes but ${dtype}[${shape.join(', ')}] needs ${expected} (truncated)`);
  const bytes = new Uint8Array(expected);
  bytes.set(b.subarray(dataStart, dataStart + expected));
  return { dtype, shape, bytes };
}
