/**
 * Issue 14, items 3–5 and the ambiguous inputs: `fuse --verify` commits only
 * a model that passed; folds never write Inf/NaN; a model two programs could
 * read two ways (duplicate names, a cycle, a hexadecimal external offset, an
 * absurd opset) is refused with exit 2 and nothing written; a graph merely out
 * of topological order is sorted and fused correctly. Every hostile model is
 * built here and run through the real CLI (and ONNX Runtime for --verify).
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Long from 'long';
import { DataType, onnx } from '../../../extension/engine/onnx/proto';
import { GraphBuilder, modelProto } from '../exporters/exporterGraph';
import { encodeModel, makeOpsetId, makeTensor, writeModel } from '../helpers/onnxBuilder';
import { tempDir } from '../helpers/fixtures';
import { convBn, write } from './hostileModels';
import { filesIn, processesLeft, runCli, type CliRun } from './cliRun';

const root = tempDir('modelfuse-fuse-inputs-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh folder with one model in it, so "files left" is exact. */
function folderWith(build: (file: string) => void): { dir: string; model: string } {
  const dir = path.join(root, `case-${++n}`);
  fs.mkdirSync(dir);
  const model = path.join(dir, 'model.onnx');
  build(model);
  return { dir, model };
}

function assertRefused(r: CliRun, message: RegExp): void {
  assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
}

describe('fuse --verify commits only what passed', () => {
  it('verification fails (exit 1): the output is not written, nothing else is left, no worker runs', async () => {
    const { dir, model } = folderWith((f) => write(f, convBn(new GraphBuilder())));
    // atol = rtol = 0: the folded float32 weights round differently, so ORT's outputs differ in the last bits.
    const r = await runCli(['fuse', model, '-o', path.join(dir, 'out.onnx'), '--verify', '--atol', '0', '--rtol', '0', '--runs', '0']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /FAILED: y differs/);
    assert.match(r.stdout, /out\.onnx was not written \(--keep-failed keeps the failed model\)/);
    assert.deepEqual(filesIn(dir), ['model.onnx']);
    assert.deepEqual(await processesLeft(r.tag), []);
  });

  it('--keep-failed writes the failed model as OUT.failed.onnx and never OUT', async () => {
    const { dir, model } = folderWith((f) => write(f, convBn(new GraphBuilder())));
    const r = await runCli(['fuse', model, '-o', path.join(dir, 'out.onnx'), '--verify', '--keep-failed', '--atol', '0', '--rtol', '0', '--runs', '0', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.output, path.join(dir, 'out.failed.onnx'));
    assert.equal(json.verification.passed, false);
    assert.deepEqual(filesIn(dir), ['model.onnx', 'out.failed.onnx']);
  });

  it('verification passes: the output is written (exit 0) and the report names it, not a temporary', async () => {
    const { dir, model } = folderWith((f) => write(f, convBn(new GraphBuilder())));
    const r = await runCli(['fuse', model, '-o', path.join(dir, 'out.onnx'), '--verify', '--runs', '0', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).verification.b, path.join(dir, 'out.onnx'));
    assert.deepEqual(filesIn(dir), ['model.onnx', 'out.onnx']);
  });
});

describe('every written tensor finite', () => {
  it('a BatchNorm with γ = 3e38 would fold to Inf: refused naming node and tensor, nothing written', async () => {
    const { dir, model } = folderWith((f) => write(f, convBn(new GraphBuilder(), { scale: [3e38, 1], variance: [1e-6, 1] })));
    const r = await runCli(['fuse', model, '-o', path.join(dir, 'out.onnx')]);
    assertRefused(r, /folding into 'conv' would write Inf or NaN into its weight 'conv\.weight' \(element \d+, float32\)/);
    assert.deepEqual(filesIn(dir), ['model.onnx']);
  });
});

describe('ambiguous or malformed graphs are refused, never guessed', () => {
  it('two initializers with one name', async () => {
    const { dir, model } = folderWith((f) => {
      const g = convBn(new GraphBuilder());
      g.parts.initializer.push(makeTensor('bn.weight', DataType.FLOAT, [2], [5, 5]));
      write(f, g);
    });
    assertRefused(await runCli(['fuse', model, '-o', path.join(dir, 'out.onnx')]), /two initializers are named 'bn\.weight'; which one a program uses is ambiguous/);
    assert.deepEqual(filesIn(dir), ['model.onnx']);
  });

  it('a value produced by two nodes', async () => {
    const { model } = folderWith((f) => {
      const g = convBn(new GraphBuilder());
      g.node('Relu', 'again', ['x'], ['c']);
      write(f, g);
    });
    assertRefused(await runCli(['scan', model]), /value 'c' is produced by two nodes \('conv' and 'again'\)/);
  });

  it('a cycle', async () => {
    const { model } = folderWith((f) => {
      const g = new GraphBuilder().input('x', [1]).output('y', [1]);
      g.node('Add', 'a', ['x', 'z'], ['y']);
      g.node('Relu', 'b', ['y'], ['z']);
      write(f, g);
    });
    assertRefused(await runCli(['scan', model]), /the graph has a cycle/);
  });

  it('opset INT64_MAX', async () => {
    const { model } = folderWith((f) => {
      const m = modelProto(convBn(new GraphBuilder()), { opset: 17, irVersion: 8, producer: 'hostile' });
      m.opset_import = [makeOpsetId('', Long.fromString('9223372036854775807'))];
      writeModel(f, m);
    });
    assertRefused(await runCli(['scan', model]), /opset 9223372036854775807 of domain 'ai\.onnx' is not a valid version/);
  });

  it('a hexadecimal external-data offset (ONNX Runtime refuses it; so does ModelFuse)', async () => {
    const { dir, model } = folderWith((f) => {
      const m = modelProto(convBn(new GraphBuilder()), { opset: 17, irVersion: 8, producer: 'hostile' });
      writeModel(f, m, { location: 'weights.bin', names: ['conv.weight'] });
      const proto = onnx.ModelProto.decode(fs.readFileSync(f));
      const w = proto.graph!.initializer!.find((t) => t.name === 'conv.weight')!;
      w.external_data!.find((e) => e.key === 'offset')!.value = '0x0';
      fs.writeFileSync(f, encodeModel(proto));
    });
    assertRefused(await runCli(['fuse', model, '-o', path.join(dir, 'out.onnx')]), /tensor 'conv\.weight': external data offset is not a non-negative decimal integer/);
    assert.deepEqual(filesIn(dir), ['model.onnx', 'weights.bin']);
  });

  it('a graph out of topological order is sorted, fused, and verified by ONNX Runtime', async () => {
    const { dir, model } = folderWith((f) => {
      const g = convBn(new GraphBuilder());
      g.parts.node.reverse(); // BatchNormalization before the Conv it reads
      write(f, g);
    });
    const r = await runCli(['fuse', model, '-o', path.join(dir, 'out.onnx'), '--verify', '--runs', '0', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.equal(json.applied.length, 1);
    assert.equal(json.applied[0].pattern, 'conv-bn');
    assert.equal(json.verification.passed, true);
  });
});
