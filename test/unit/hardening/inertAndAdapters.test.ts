/**
 * Issue 14, items 8–9: generated text stays inert (a file or module name with
 * a newline never starts a line of Python or Markdown), and adapter or base
 * files that would be merged as something they are not are refused: integer,
 * boolean and F8 LoRA weights, overlapping safetensors offsets, a nested
 * __metadata__.
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatFuseList } from '../../../extension/engine/fusion/fuseList';
import { diffReportMarkdown } from '../../../extension/engine/stats/diffReport';
import { computeParamDiff } from '../../../extension/engine/stats/paramDiff';
import { SafetensorsParamSource } from '../../../extension/engine/stats/paramSource';
import { fixture, tempDir } from '../helpers/fixtures';
import { writePeftAdapter, writeSafetensors } from '../lora/loraTestUtils';
import { runCli } from './cliRun';
import { SafetensorsFile, writeSafetensorsToFd } from '../../../extension/engine/safetensors/safetensors';

const root = tempDir('modelfuse-inert-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

const INJECTIONS = ['\nimport os; os.system("echo pwned")\n', '\rimport os', '\u0085import os', '\u2028import os', '\u2029import os', '\x1b[2Kimport os'];

/** Every line of generated Python is a comment, `import torch`, the call, or one of its list items. */
function assertInertPython(text: string): void {
  for (const line of text.split(/\r\n|[\n\r\u0085\u2028\u2029]/)) {
    assert.match(line, /^(#.*|import torch|model = torch\.ao\.quantization\.fuse_modules\(model, \[\]?\)?|    \[.*\],  # .*|\]\)|)$/, `a generated line that is code of its own: ${JSON.stringify(line)}`);
  }
}

describe('generated text is inert', () => {
  it('fuse-list: a model path, module names and reasons with line breaks or controls stay inside comments and string literals', () => {
    for (const bad of INJECTIONS) {
      const text = formatFuseList(
        {
          groups: [{ modules: [`conv${bad}`, `bn'${bad}`], types: [`Conv2d${bad}`, 'BatchNorm2d'] }],
          excluded: [{ candidate: 'x', modules: [`relu${bad}`, null], reason: `module 'relu${bad}' is called from 2 places` }],
        },
        `/models/m${bad}.onnx`,
      );
      assertInertPython(text);
      assert.ok(!/\x1b/.test(text), 'no terminal escape survives');
    }
  });

  it('fuse-list through the CLI on a model whose file name holds a newline: the snippet stays inert', async () => {
    const dir = path.join(root, 'cli');
    fs.mkdirSync(dir);
    const model = path.join(dir, 'm\nimport os; os.system("x")\n.onnx');
    fs.copyFileSync(fixture('zoo_conv_bn_relu', 'model.onnx'), model);
    const r = await runCli(['fuse-list', model]);
    assert.equal(r.code, 0, r.stderr);
    assertInertPython(r.stdout);
    assert.match(r.stdout, /^# fuse_modules groups for .*m\\nimport os; os\.system\("x"\)\\n\.onnx/);
  });

  it('the Markdown report: a tensor name with a newline and a pipe stays in its table cell', () => {
    const dir = path.join(root, 'md');
    fs.mkdirSync(dir);
    const name = 'w\n# Injected heading | <img src=x onerror=alert(1)>\u0085';
    writeSafetensors(path.join(dir, 'a.safetensors'), { [name]: { shape: [2], values: Float64Array.from([1, 2]) } });
    writeSafetensors(path.join(dir, 'b.safetensors'), { [name]: { shape: [2], values: Float64Array.from([1, 3]) } });
    const a = SafetensorsParamSource.open(path.join(dir, 'a.safetensors'));
    const b = SafetensorsParamSource.open(path.join(dir, 'b.safetensors'));
    try {
      const md = diffReportMarkdown(computeParamDiff(a, b), { title: 'Compare\n# evil', kind: 'compare', verify: null, generated: '2026-01-01T00:00:00Z' });
      const lines = md.split(/\r\n|[\n\r\u0085\u2028\u2029]/);
      assert.equal(lines.filter((l) => l.startsWith('# ')).length, 1, 'one heading: the title');
      const row = lines.find((l) => l.includes('Injected'))!;
      assert.ok(row.startsWith('| w\\n# Injected heading \\| &lt;img'), row);
      assert.equal(row.split(/(?<!\\)\|/).length - 2, 10, 'the row keeps its 10 cells');
    } finally {
      a.close();
      b.close();
    }
  });
});

/** A safetensors file written byte by byte, for headers the library's writer would never produce. */
function rawSafetensors(file: string, header: Record<string, unknown>, dataBytes: number): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, Buffer.alloc(dataBytes, 0x3c)]));
}

describe('files merged as something they are not are refused', () => {
  const base = fixture('lora_linear_qv', 'base.onnx');
  const A = 'base_model.model.layers.0.attn.q_proj.lora_A.weight';
  const B = 'base_model.model.layers.0.attn.q_proj.lora_B.weight';
  const config = { r: 4, lora_alpha: 8, target_modules: ['q_proj'] };

  for (const dtype of ['I8', 'BOOL', 'U8'] as const) {
    it(`a ${dtype} lora_A (exit 2, named; nothing written)`, async () => {
      const dir = path.join(root, `adapter-${dtype}`);
      writePeftAdapter(dir, config, {
        [A]: { shape: [4, 32], values: new Float64Array(128).fill(1), dtype },
        [B]: { shape: [32, 4], values: new Float64Array(128).fill(0.5) },
      });
      const out = path.join(root, `merged-${dtype}.onnx`);
      const r = await runCli(['lora', base, '--adapter', dir, '-o', out]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`module 'layers\\.0\\.attn\\.q_proj': cannot merge a ${dtype} lora_A \\('${A.replace(/\./g, '\\.')}'\\); LoRA weights must be F32, F16, BF16 or F64`));
      assert.equal(fs.existsSync(out), false);
    });
  }

  it('an F8_E4M3 lora_B: refused the same way, not an internal error', async () => {
    const dir = path.join(root, 'adapter-f8');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', ...config }));
    rawSafetensors(path.join(dir, 'adapter_model.safetensors'), {
      [A]: { dtype: 'F32', shape: [4, 32], data_offsets: [0, 512] },
      [B]: { dtype: 'F8_E4M3', shape: [32, 4], data_offsets: [512, 640] },
    }, 640);
    const r = await runCli(['lora', 'plan', base, '--adapter', dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot merge a F8_E4M3 lora_B/);
  });

  it('overlapping data offsets and a nested __metadata__ in a safetensors file', async () => {
    const overlapping = path.join(root, 'overlap.safetensors');
    rawSafetensors(overlapping, { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, 24);
    const nested = path.join(root, 'nested.safetensors');
    rawSafetensors(nested, { __metadata__: { format: { nested: 'x' } }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4);
    const adapter = fixture('lora_linear_qv', 'adapters');
    for (const [file, message] of [[overlapping, /tensors 'a' and 'b' overlap in the file/], [nested, /__metadata__ must be an object of strings/]] as const) {
      const r = await runCli(['lora', 'plan', file, '--adapter', adapter]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  it('unused bytes between tensors or after the last one: refused as the reference library does', async () => {
    const gap = path.join(root, 'gap.safetensors');
    rawSafetensors(gap, { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [24, 40] } }, 40);
    const trailing = path.join(root, 'trailing.safetensors');
    rawSafetensors(trailing, { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 20);
    const adapter = fixture('lora_linear_qv', 'adapters');
    for (const [file, message] of [
      [gap, /gap\.safetensors: 8 unused bytes after tensor 'a', before tensor 'b'/],
      [trailing, /trailing\.safetensors: 4 bytes after the last tensor's data that no tensor claims/],
    ] as const) {
      const r = await runCli(['lora', 'plan', file, '--adapter', adapter]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  it('a tensor named __proto__ is merged through like any other, bytes unchanged', async () => {
    const source = SafetensorsFile.open(fixture('lora_linear_qv', 'base.safetensors'));
    const base = path.join(root, 'proto-base.safetensors');
    const odd = new Float32Array([1.5, -2, 3.25]);
    try {
      const entries = source.names().map((name) => ({
        name,
        dtype: source.get(name).dtype,
        shape: source.get(name).shape,
        bytes: () => source.readBytes(name),
      }));
      entries.push({ name: '__proto__', dtype: 'F32', shape: [3], bytes: () => Buffer.from(odd.buffer) });
      const fd = fs.openSync(base, 'w');
      try {
        writeSafetensorsToFd(fd, entries);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      source.close();
    }
    const out = path.join(root, 'proto-merged.safetensors');
    const r = await runCli(['lora', base, '--adapter', fixture('lora_linear_qv', 'adapters'), '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    const merged = SafetensorsFile.open(out);
    try {
      assert.ok(merged.names().includes('__proto__'), `__proto__ was dropped: ${merged.names().join(', ')}`);
      assert.deepEqual([...new Float32Array(new Uint8Array(merged.readBytes('__proto__')).buffer)], [...odd]);
    } finally {
      merged.close();
    }
  });
});
