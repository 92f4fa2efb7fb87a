/**
 * "Locate drift" (`graph/drift`, `verify --per-node`): runs A and B in ONNX
 * Runtime with intermediate values exposed as extra graph outputs, compares
 * each probe value (engine/graph/driftRank.ts picks them: folded or merged
 * nodes, module boundaries) and ranks them by the error each introduces.
 *
 * Memory stays bounded: probes are exposed a batch at a time (in graph
 * order, so a batch is a run of neighbouring modules), both models run once
 * per batch, and only the batch's errors are kept — never every intermediate
 * of the model at once. ORT's optimizations are disabled, as in `verify`, so
 * that its own fusions neither hide nor make a difference.
 *
 * The probe models are the originals with more outputs. ONNX Runtime accepts
 * graph outputs without a declared type. A model with external data is
 * written to a private temporary folder beside symbolic links to its data
 * files (ORT resolves external data next to the model file); one without is
 * given to ORT as bytes. The user's files are only read.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileError } from '../../engine/errors';
import { onnx } from '../../engine/onnx/proto';
import { externalRef } from '../../engine/onnx/externalData';
import { forEachTensor } from '../../engine/onnx/walk';
import { alignGraphs } from '../../engine/graph/graphAlign';
import { driftProbes, probeError, rankDrift, type DriftReport, type ProbeError } from '../../engine/graph/driftRank';
import type { LocateDriftParams } from '../../protocol/graphMethods';
import { bytesEqual, loadGraph, type OpenGraph } from '../handlers/graphModels';
import type { RunControl } from './latency';
import { runSession } from './run';
import { createSession, createSessionFromBytes, releaseSession, type Session } from './runtime';
import { feedsOf, outputValues, sessionInputs } from './tensors';
import { prepareVerifyInputs } from '../../engine/stats/verifyInputs';
import { checkInputsFit } from '../../engine/stats/inputs';

export const DEFAULT_PROBE_BATCH = 32;

export async function locateDrift(p: LocateDriftParams, control: RunControl): Promise<DriftReport> {
  const batch = p.batch ?? DEFAULT_PROBE_BATCH;
  if (!Number.isSafeInteger(batch) || batch < 1) throw fileError(p.modelB, `probe batch must be a positive integer, not ${p.batch}`);
  control.progress('reading both models');
  let a: OpenGraph | undefined;
  let b: OpenGraph | undefined;
  try {
    a = loadGraph(p.modelA);
    b = loadGraph(p.modelB);
    const alignment = alignGraphs(a.view, b.view, bytesEqual(a, b));
    const probes = driftProbes(a.view, b.view, alignment);
    control.throwIfCancelled();

    const errors = new Map<string, ProbeError>();
    let inputsText = '';
    let batches = 0;
    const protoA = readProto(p.modelA);
    const protoB = readProto(p.modelB);
    for (let start = 0; start < Math.max(probes.length, 1); start += batch) {
      const values = probes.slice(start, start + batch).map((x) => x.value);
      control.progress(`comparing intermediate values ${start + values.length}/${probes.length}`, start, probes.length);
      const [ra, rb, described] = await runBoth(p, protoA, protoB, values, control);
      inputsText = described;
      for (const v of values) {
        const va = ra.get(v);
        const vb = rb.get(v);
        if (!va || !vb) errors.set(v, { value: v, relError: Infinity, maxAbs: Infinity, elements: 0, problem: 'not produced by both models' });
        else if (va.dims.join('x') !== vb.dims.join('x')) errors.set(v, { value: v, relError: Infinity, maxAbs: Infinity, elements: va.values.length, problem: `shape [${va.dims}] in A, [${vb.dims}] in B` });
        else errors.set(v, probeError(v, va.values, vb.values));
      }
      batches++;
      control.throwIfCancelled();
    }
    return { a: p.modelA, b: p.modelB, entries: rankDrift(b.view, probes, errors), batches, inputs: inputsText };
  } finally {
    a?.model.close();
    b?.model.close();
  }
}

interface ProbeModel {
  proto: onnx.ModelProto;
  path: string;
  external: boolean;
}

function readProto(file: string): ProbeModel {
  const proto = onnx.ModelProto.decode(fs.readFileSync(file));
  let external = false;
  forEachTensor(proto, ({ tensor }) => {
    if (externalRef(tensor)) external = true;
  });
  return { proto, path: file, external };
}

type Values = Map<string, { dims: number[]; values: Float64Array }>;

async function runBoth(p: LocateDriftParams, a: ProbeModel, b: ProbeModel, probes: string[], control: RunControl): Promise<[Values, Values, string]> {
  const sa = await probeSession(a, probes);
  let sb: Session | undefined;
  try {
    sb = await probeSession(b, probes);
    const specs = sessionInputs(sa, a.path);
    const prepared = prepareVerifyInputs(p.modelA, specs, p);
    checkInputsFit(b.path, sessionInputs(sb, b.path), prepared.tensors, a.path);
    const feeds = feedsOf(prepared.tensors);
    const read = async (s: Session, m: ProbeModel): Promise<Values> => {
      const raw = await runSession(s, feeds, m.path);
      control.throwIfCancelled();
      return new Map(probes.filter((v) => raw[v]).map((v) => {
        const o = outputValues(raw[v], v, m.path);
        return [v, { dims: o.dims, values: o.values }] as const;
      }));
    };
    const d = prepared.description;
    const described = d.source === 'file' ? `inputs from ${d.file}` : `random inputs, seed ${d.seed}`;
    return [await read(sa, a), await read(sb, b), described];
  } finally {
    await releaseSession(sa);
    await releaseSession(sb);
  }
}

/** A session of the model with `probes` added to its outputs. */
async function probeSession(m: ProbeModel, probes: string[]): Promise<Session> {
  const graph = m.proto.graph!;
  const original = graph.output ?? [];
  const have = new Set(original.map((o) => o.name));
  graph.output = [...original, ...probes.filter((v) => !have.has(v)).map((name) => onnx.ValueInfoProto.create({ name }))];
  try {
    const bytes = onnx.ModelProto.encode(m.proto).finish();
    if (!m.external) return await createSessionFromBytes(bytes, 'disabled').catch((err) => { throw fileError(m.path, `ONNX Runtime cannot load it with intermediate outputs: ${String(err?.message ?? err).split('\n')[0]}`); });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfuse-drift-'));
    try {
      linkExternalData(m, dir);
      const file = path.join(dir, 'probe.onnx');
      fs.writeFileSync(file, bytes);
      return await createSession(file, 'disabled');
    } finally {
      // ORT has read the model and mapped or read its data by now.
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    graph.output = original;
  }
}

/** Symbolic links in `dir` to every external data file the model references (locations were validated on load). */
function linkExternalData(m: ProbeModel, dir: string): void {
  const locations = new Set<string>();
  forEachTensor(m.proto, ({ tensor }) => {
    const ref = externalRef(tensor);
    if (ref) locations.add(ref.location);
  });
  for (const loc of locations) {
    const target = path.resolve(path.dirname(m.path), loc);
    const link = path.join(dir, loc);
    if (!link.startsWith(dir + path.sep)) throw fileError(m.path, `external data location '${loc}' leaves the model's folder`);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(target, link);
  }
}
