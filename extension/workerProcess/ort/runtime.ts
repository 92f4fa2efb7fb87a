/**
 * The one place that loads onnxruntime-node and creates sessions. Loaded
 * lazily, so a worker that only parses models never maps the native library.
 * Every ONNX Runtime failure becomes a one-line ModelFuseError naming the
 * model file (ORT's own messages are multi-line and start with its C++
 * context; users need the reason).
 */
import * as fs from 'node:fs';
import type * as OrtModule from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { fileError } from '../../engine/errors';
import type { OrtOptimizationLevel } from '../../protocol/workerProtocol';
import { loadFailureSentence } from './ortErrors';

export type Ort = typeof OrtModule;
export type Session = InferenceSession;

let ort: Ort | undefined;
let intraOpThreads = 0;

export function loadOrt(): Ort {
  if (!ort) {
    ort = require('onnxruntime-node') as Ort;
    // ORT also prints every error to stderr; we report them ourselves, once, as exceptions.
    ort.env.logLevel = 'fatal';
  }
  return ort;
}

/** The ORT version, or null while ORT has not been loaded in this process. */
export function loadedOrtVersion(): string | null {
  return ort ? ort.env.versions.node ?? ort.env.versions.common ?? null : null;
}

/** Intra-op threads for every session this worker creates (0 = ORT's default: one per physical core). */
export function setIntraOpThreads(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`thread count ${n} must be a non-negative integer`);
  intraOpThreads = n;
}

export function getIntraOpThreads(): number {
  return intraOpThreads;
}

export function sessionOptions(level: OrtOptimizationLevel, extra: InferenceSession.SessionOptions = {}): InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: level,
    executionProviders: ['cpu'],
    logSeverityLevel: 4,
    ...(intraOpThreads > 0 ? { intraOpNumThreads: intraOpThreads } : {}),
    ...extra,
  };
}

/** ORT's message without its "Load model from X failed:" prefix, ANSI colours and following lines. */
export function ortReason(err: unknown): string {
  let msg = err instanceof Error ? err.message : String(err);
  msg = msg.replace(/\u001b\[[0-9;]*m/g, '');
  msg = msg.replace(/^Load model (from )?\S+ failed[:.]\s*/, '');
  msg = msg.replace(/^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*/, '');
  const line = msg.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'unknown error';
  return line.length > 400 ? line.slice(0, 400) + '…' : line;
}

/** A session on a model file; a model ORT cannot load is the user's problem, reported with the file name. */
export async function createSession(modelPath: string, level: OrtOptimizationLevel, extra?: InferenceSession.SessionOptions): Promise<Session> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(modelPath);
  } catch {
    throw fileError(modelPath, 'file not found');
  }
  if (!stat.isFile()) throw fileError(modelPath, 'not a file');
  const o = loadOrt();
  try {
    return await o.InferenceSession.create(modelPath, sessionOptions(level, extra));
  } catch (err) {
    const reason = ortReason(err);
    // onnxruntime-node's JS API has no bfloat16 tensors, so a model with bfloat16 inputs or outputs cannot be opened at all.
    const hint = /Unsupported data type: 16\b/.test(reason) ? ' (a bfloat16 graph input or output: onnxruntime-node cannot exchange bfloat16 tensors)' : '';
    throw fileError(modelPath, `ONNX Runtime cannot load this model: ${loadFailureSentence(reason)}${hint}`, err, `onnxruntime: ${reason}`);
  }
}

/** A session on an in-memory model (the small graphs the worker builds itself). */
export async function createSessionFromBytes(bytes: Uint8Array, level: OrtOptimizationLevel): Promise<Session> {
  return loadOrt().InferenceSession.create(bytes, sessionOptions(level));
}

export async function releaseSession(s: Session | undefined): Promise<void> {
  if (s) await s.release().catch(() => undefined);
}
