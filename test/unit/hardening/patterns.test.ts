/**
 * Issue 14, item 2: rank_pattern / alpha_pattern keys come from untrusted
 * adapter configs. They run on a linear-time matcher, so a key built for
 * catastrophic backtracking cannot hang `lora plan` / `lora`; what the matcher
 * cannot run (back-references, look-arounds) is refused with the key named.
 */
import { after, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LinearRegex } from '../../../extension/engine/text/linearRegex';
import { patternKey } from '../../../extension/engine/lora/adapterConfig';
import { fixture, tempDir } from '../helpers/fixtures';
import { runCli } from './cliRun';

const dir = tempDir('modelfuse-patterns-');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const base = fixture('lora_linear_qv', 'base.onnx');

function adapterWith(name: string, patch: Record<string, unknown>): string {
  const to = path.join(dir, name);
  fs.cpSync(fixture('lora_linear_qv', 'adapters'), to, { recursive: true });
  const cfgPath = path.join(to, 'adapter_config.json');
  fs.writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgPath, 'utf8')), ...patch }));
  return to;
}

describe('the linear-time matcher', () => {
  it('agrees with JavaScript RegExp on module-name patterns (seeded, 3000 pairs)', () => {
    const atoms = ['q_proj', 'v_proj', '\\d+', '[0-9]', 'layers', '\\.', '.', '.*', '[a-z_]+', 'attn', '(q|v)_proj', '(?:layers\\.\\d+\\.)?', 'x?', '\\w{2,4}', '[^.]+'];
    const names = ['model.layers.0.attn.q_proj', 'layers.12.attn.v_proj', 'q_proj', 'attn.q_proj', 'lm_head', 'layers.1.mlp.fc1', 'x', ''];
    let seed = 14;
    const r = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31); // seeded LCG
    let compared = 0;
    for (let i = 0; i < 3000; i++) {
      const n = 1 + Math.floor(Math.abs(r()) * 4);
      const pattern = Array.from({ length: n }, () => atoms[Math.floor(Math.abs(r()) * atoms.length) % atoms.length]).join('');
      const name = names[i % names.length];
      const expected = new RegExp(`^(?:${pattern})$`).test(name);
      assert.equal(new LinearRegex(pattern).fullMatch(name), expected, `${pattern} on '${name}'`);
      compared++;
    }
    assert.equal(compared, 3000);
  });

  it("uses PEFT's rule: a key matches a dotted suffix of the module name, first key in JSON order wins", () => {
    assert.equal(patternKey(['v_proj', 'q_proj'], 'model.layers.0.attn.q_proj'), 'q_proj');
    assert.equal(patternKey(['layers\\.0\\.attn\\.q_proj', 'q_proj'], 'model.layers.0.attn.q_proj'), 'layers\\.0\\.attn\\.q_proj');
    assert.equal(patternKey(['proj'], 'model.layers.0.attn.q_proj'), undefined, 'a suffix must start at a dot');
  });

  it('runs a catastrophic-backtracking key against a long name at once (JavaScript RegExp would not return)', () => {
    const re = new LinearRegex('(?:.*\\.)?(?:((.|.)*)*X)');
    assert.equal(re.fullMatch('a'.repeat(20_000)), false);
    assert.equal(re.fullMatch(`${'a'.repeat(20_000)}X`), true);
  });
});

describe('lora with hostile pattern keys', () => {
  it('lora plan with rank_pattern {"((.|.)*)*X": 4} finishes and plans as without it (exit 0)', { timeout: 120_000 }, async () => {
    const adapter = adapterWith('evil', { rank_pattern: { '((.|.)*)*X': 4, '(a+)+$': 2 } });
    const r = await runCli(['lora', 'plan', base, '--adapter', adapter, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    assert.equal(plan.pairs.length, 4);
    assert.ok(plan.pairs.every((p: { rank: number }) => p.rank === 4));
  });

  it('a back-reference or look-ahead key is refused with the key and the reason (exit 2)', async () => {
    for (const [key, reason] of [['(q)\\1_proj', /back-references are not supported/], ['(?=q)q_proj', /look-around assertions are not supported/]] as const) {
      const adapter = adapterWith(`refused-${key.length}`, { alpha_pattern: { [key]: 16 } });
      const r = await runCli(['lora', 'plan', base, '--adapter', adapter]);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(`pattern '${key.replace(/\\/g, '\\')}' cannot be used`), r.stderr);
      assert.match(r.stderr, reason);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});
