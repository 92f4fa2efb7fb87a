// The Python analysis on the code styles real model files use (fixtures/README.md): helpers,
// imported blocks, torchvision.ops blocks, lists of layers, and classes that get nothing and must
// say why. Every expectation is what fuse_modules accepts on that model, checked by hand against
// the code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzePythonSource, noteText, type PyClassAnalysis, type PythonAnalysis } from '../../../extension/engine/python/analyzePython';
import { fileImportReader, importCandidates } from '../../../extension/engine/python/importFiles';

const FIXTURES = path.join(__dirname, 'fixtures');

async function analyze(file: string): Promise<{ a: PythonAnalysis; source: string }> {
  const full = path.join(FIXTURES, file);
  const source = fs.readFileSync(full, 'utf8');
  return { a: await analyzePythonSource(source, undefined, fileImportReader(full, [FIXTURES])), source };
}

function cls(a: PythonAnalysis, name: string): PyClassAnalysis {
  const c = a.classes.find((x) => x.name === name);
  assert.ok(c, `class ${name} not found; found ${a.classes.map((x) => x.name).join(', ')}`);
  return c;
}
const groups = (c: PyClassAnalysis) => c.sequences.map((s) => s.modules);
const notes = (c: PyClassAnalysis) => c.notes.map(noteText);
const lineOf = (source: string, text: string) => source.split('\n').findIndex((l) => l.includes(text));

test('helper functions (conv3x3, conv1x1, norm) and a @staticmethod are followed into their return', async () => {
  const { a, source } = await analyze('helpers.py');
  const block = cls(a, 'ResidualBlock');
  assert.deepEqual(groups(block), [['conv1', 'bn1'], ['conv2', 'bn2'], ['proj', 'proj_bn']]);
  assert.deepEqual(block.modules.slice(0, 2).map((m) => [m.path, m.className]), [['conv1', 'Conv2d'], ['bn1', 'BatchNorm2d']]);
  // The declaration line is the call in __init__, not the helper's return.
  assert.equal(block.modules[0].line, lineOf(source, 'self.conv1 = conv3x3'));
  // norm(cout) builds its default layer: said as an assumption.
  assert.match(block.sequences[0].assumptions.join(), /assumes norm\(\)'s layer is its default nn\.BatchNorm2d/);
  // The relu is shared (called twice): the safe part is offered, the trap flagged.
  assert.deepEqual(block.unsafe.map((u) => u.modules), [['conv1', 'bn1', 'relu']]);
  assert.match(block.unsafe[0].reason, /self\.relu is called 2 times/);
  assert.deepEqual(groups(cls(a, 'Depthwise')), [['dw', 'bn', 'act']]);
});

test('a ConvBNReLU class and a helper imported from a workspace file (with an alias) are followed', async () => {
  const { a } = await analyze('pkg/model.py');
  assert.deepEqual(a.classes.map((c) => c.name), ['Net'], 'imported classes are used, not reported as classes of this file');
  const net = cls(a, 'Net');
  assert.deepEqual(groups(net), [['stem.0', 'stem.1', 'act'], ['body.conv', 'body.bn', 'body.relu'], ['head.conv', 'head.bn', 'head.relu']]);
  assert.equal(net.sequences[1].viaChild, 'body');
  // Without the import reader the imported names are unknown, and the lens says so.
  const alone = cls(await analyzePythonSource(fs.readFileSync(path.join(FIXTURES, 'pkg/model.py'), 'utf8')), 'Net');
  assert.deepEqual(groups(alone), []);
  assert.ok(notes(alone).some((n) => /self\.stem: `stem_block\(…\)` is neither a torch\.nn layer nor a class or helper/.test(n)), notes(alone).join('\n'));
});

test('imports resolve beside the file, packages up, and under the roots; never the file itself', () => {
  const from = '/w/proj/models/net.py';
  assert.deepEqual(importCandidates('.blocks', from, ['/w']), ['/w/proj/models/blocks.py', '/w/proj/models/blocks/__init__.py']);
  assert.deepEqual(importCandidates('..ops.misc', from, ['/w']), ['/w/proj/ops/misc.py', '/w/proj/ops/misc/__init__.py']);
  assert.deepEqual(importCandidates('proj.layers', from, ['/w']), ['/w/proj/layers.py', '/w/proj/layers/__init__.py', '/w/proj/models/proj/layers.py', '/w/proj/models/proj/layers/__init__.py']);
});

test('torchvision.ops blocks: Conv2dNormActivation [conv, norm, act] with its arguments, SqueezeExcitation, a Sequential subclass built from a list', async () => {
  const { a } = await analyze('library.py');
  const stem = cls(a, 'Stem');
  assert.deepEqual(groups(stem), [
    ['first.0', 'first.1', 'first.2'], // defaults BatchNorm2d + ReLU; norm_layer = partial(nn.BatchNorm2d, …)
    ['second.0', 'second.1'], // activation_layer=nn.Hardswish: not fusable
    ['third.0', 'third.1'], // activation_layer passed positionally as None: only [conv, norm]
    ['no_norm.0', 'no_norm.1'], // norm_layer=None: [conv, act]
    ['se.fc1', 'se.activation'],
    ['tail.0', 'tail.1', 'tail.2'],
  ]);
  assert.deepEqual(stem.sequences.map((s) => s.pattern), ['conv-bn-relu', 'conv-bn', 'conv-bn', 'conv-relu', 'conv-relu', 'conv-bn-relu']);
  assert.deepEqual(stem.modules.filter((m) => m.path.startsWith('third')).map((m) => [m.path, m.className]), [['third.0', 'Conv2d'], ['third.1', 'BatchNorm2d'], ['third', 'Conv2dNormActivation']]);
  assert.ok(notes(stem).some((n) => /self\.second\[0\] \+ self\.second\[1\] is followed by self\.second\[2\] \(nn\.Hardswish\)/.test(n)));
  assert.ok(!notes(stem).some((n) => /Sigmoid/.test(n)), 'a lone conv before Sigmoid is not a near miss');
  assert.deepEqual(groups(cls(a, 'ConvNormAct')), [['0', '1', '2']]);
});

test('nn.Sequential(*layers): a literal loop unrolls; after a loop of unknown length indices count from the end', async () => {
  const { a } = await analyze('layers.py');
  assert.deepEqual(groups(cls(a, 'Unrolled')), [['body.0', 'body.1', 'body.2'], ['body.3', 'body.4', 'body.5']]);
  const stages = cls(a, 'Stages');
  assert.deepEqual(groups(stages), [['features.0', 'features.1'], ['features.-3', 'features.-2', 'features.-1']]);
  assert.ok(notes(stages).some((n) => /self\.features: `nn\.Conv2d\(…\)` is added in a loop \(line \d+\), so it has no fixed index/.test(n)));
  // fuse_modules takes names, not negative indices: the generated code computes them.
  assert.match(stages.fuseModelMethod!, /\[f"features\.\{len\(self\.features\) - 3\}", f"features\.\{len\(self\.features\) - 2\}", f"features\.\{len\(self\.features\) - 1\}"\]/);
  assert.match(stages.fuseModulesCall!, /f"features\.\{len\(model\.features\) - 1\}"/);
  // One entry under an if: the ones after it still have fixed places from the end.
  assert.deepEqual(groups(cls(a, 'Expand')), [['conv.-2', 'conv.-1']]);
});

test('modules that exist only on some paths of __init__ are fused behind a test; a path with two layer types is not fused', async () => {
  const { a } = await analyze('layers.py');
  const split = cls(a, 'Split');
  assert.deepEqual(groups(split), [['aux.0', 'aux.1'], ['branch.0', 'branch.1', 'branch.2'], ['conv', 'bn']]);
  assert.deepEqual(split.sequences[0].guards, [{ path: 'aux' }]);
  assert.deepEqual(split.sequences[1].guards, [{ path: 'branch', length: 3 }]);
  assert.match(split.fuseModelMethod!, /^ {8}if getattr\(self, "aux", None\) is not None:\n {12}fuse\(self, \[\["aux\.0", "aux\.1"\]\], inplace=True\)$/m);
  assert.match(split.fuseModelMethod!, /^ {8}if len\(self\.branch\) == 3:$/m);
  // act is nn.ReLU or nn.Identity: conv+bn+act would fail on the Identity instances.
  assert.ok(!groups(split).some((g) => g.includes('act')));
  assert.ok(notes(split).some((n) => n === 'self.act: `__init__` makes it nn.ReLU or nn.Identity depending on a condition'));
});

test('classes that get no group say why: functional relu, unknown factory, constructor argument, ReLU6; a class with nothing to fuse says nothing', async () => {
  const { a } = await analyze('nothing.py');
  const note = (name: string) => notes(cls(a, name)).join('\n');
  assert.deepEqual(a.classes.map((c) => [c.name, c.sequences.length]), [['Functional', 0], ['Factory', 0], ['Relu6', 0], ['Plain', 0]]);
  assert.match(note('Functional'), /^self\.conv is followed by F\.relu \(line 13\): fuse_modules fuses only an nn\.ReLU module/);
  assert.match(note('Factory'), /self\.block: `make_block\(…\)` is neither a torch\.nn layer nor a class or helper function of this file or of a workspace file it imports/);
  assert.match(note('Factory'), /self\.given: it is the constructor argument `block`, so its layers are not known here/);
  assert.match(note('Relu6'), /self\.fc is followed by self\.act \(nn\.ReLU6\)/);
  assert.deepEqual(cls(a, 'Plain').notes, []);
});

test('calls in the two branches of an if run once per forward: not a shared module', async () => {
  const src = `
import torch.nn as nn
class R(nn.Module):
    def __init__(self, res):
        super().__init__()
        self.res = res
        self.conv = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.relu = nn.ReLU()
    def forward(self, x):
        if self.res:
            return x + self.conv(x)
        else:
            return self.conv(x)
    def twice(self, x):
        return x
class T(R):
    def forward(self, x):
        y = self.conv(x)
        return self.conv(y)
`;
  const a = await analyzePythonSource(src);
  assert.deepEqual(groups(cls(a, 'R')), [['conv.0', 'conv.1']]);
  assert.deepEqual(cls(a, 'R').sharedModules, []);
  // Called twice on one path: refused.
  assert.deepEqual(groups(cls(a, 'T')), []);
  assert.deepEqual(cls(a, 'T').unsafe.map((u) => u.modules), [['conv.0', 'conv.1']]);
});

test('every generated fuse_model() parses back as Python inside its class', async () => {
  for (const file of ['helpers.py', 'pkg/model.py', 'library.py', 'layers.py']) {
    const { a, source } = await analyze(file);
    for (const c of a.classes.filter((x) => x.fuseModelMethod)) {
      const lines = source.split('\n');
      const at = c.insertAt;
      lines[at.line] = lines[at.line].slice(0, at.character) + '\n\n' + c.fuseModelMethod + lines[at.line].slice(at.character);
      const after = await analyzePythonSource(lines.join('\n'));
      assert.equal(after.hasSyntaxErrors, false, `${file} ${c.name}:\n${c.fuseModelMethod}`);
      assert.equal(cls(after, c.name).definesFuseModel, true);
    }
  }
});

test('an ONNX group links to a Python group addressed from the end (features.-1 is the exported features.9)', async () => {
  const { linkToPython } = await import('../../../extension/engine/python/linkModules');
  const { a } = await analyze('layers.py');
  const links = linkToPython(['net.features.7', 'net.features.8', 'net.features.9'], a.classes);
  assert.deepEqual(links.map((l) => [l.cls.name, l.instance, l.group.modules]), [['Stages', 'net', ['features.-3', 'features.-2', 'features.-1']]]);
  assert.deepEqual(linkToPython(['net.features.7', 'net.other.8', 'net.features.9'], a.classes), []);
});
