import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzePythonSource, type PyClassAnalysis, type PythonAnalysis } from '../../../extension/engine/python/analyzePython';
import { MOBILENET_V2, RESNET_BASIC_BLOCK } from './models';

function cls(a: PythonAnalysis, name: string): PyClassAnalysis {
  const c = a.classes.find((x) => x.name === name);
  assert.ok(c, `class ${name} not found; found ${a.classes.map((x) => x.name).join(', ')}`);
  return c;
}
const groups = (c: PyClassAnalysis) => c.sequences.map((s) => s.modules);

/** 0-based line of the first line containing `text`. */
function lineOf(source: string, text: string, from = 0): number {
  const lines = source.split('\n');
  const i = lines.findIndex((l, n) => n >= from && l.includes(text));
  assert.ok(i >= 0, `no line contains ${text}`);
  return i;
}

test('ResNet BasicBlock: conv+bn groups, the shared relu is refused with its call lines', async () => {
  const a = await analyzePythonSource(RESNET_BASIC_BLOCK);
  const block = cls(a, 'BasicBlock');
  assert.deepEqual(groups(block), [['conv1', 'bn1'], ['conv2', 'bn2']]);
  assert.deepEqual(block.sequences.map((s) => s.pattern), ['conv-bn', 'conv-bn']);
  assert.deepEqual(block.unsafe.map((u) => u.modules), [['conv1', 'bn1', 'relu']]);
  const firstRelu = lineOf(RESNET_BASIC_BLOCK, 'out = self.relu(out)');
  const secondRelu = lineOf(RESNET_BASIC_BLOCK, 'out = self.relu(out)', firstRelu + 1);
  assert.match(block.unsafe[0].reason, new RegExp(`self\\.relu is called 2 times in forward \\(lines ${firstRelu + 1}, ${secondRelu + 1}\\)`));
  assert.deepEqual(block.sharedModules, [{ module: 'relu', calls: 2, lines: [firstRelu, secondRelu], inLoop: false }]);
  // Lines point at forward's calls and __init__'s constructors.
  assert.deepEqual(block.sequences[0].lines, { start: lineOf(RESNET_BASIC_BLOCK, 'out = self.conv1(x)'), end: lineOf(RESNET_BASIC_BLOCK, 'out = self.bn1(out)') });
  assert.deepEqual(block.sequences[0].initLines, [lineOf(RESNET_BASIC_BLOCK, 'self.conv1 = '), lineOf(RESNET_BASIC_BLOCK, 'self.bn1 = ')]);
  // bn1 comes from norm_layer: the proposal says what it assumes.
  assert.match(block.sequences[0].assumptions.join(), /norm_layer is nn\.BatchNorm2d/);
  assert.equal(block.definesFuseModel, false);
});

test("torchvision's QuantizableBasicBlock (inherits __init__, relu called once) fuses conv1+bn1+relu like torchvision does", async () => {
  const a = await analyzePythonSource(RESNET_BASIC_BLOCK);
  const q = cls(a, 'QuantizableBasicBlock');
  // torchvision/models/quantization/resnet.py: [["conv1", "bn1", "relu"], ["conv2", "bn2"]]
  assert.deepEqual(groups(q), [['conv1', 'bn1', 'relu'], ['conv2', 'bn2']]);
  assert.deepEqual(q.unsafe, []);
  assert.deepEqual(q.sharedModules, []);
});

test("MobileNetV2 ConvBNReLU (an nn.Sequential subclass): conv+bn only, ReLU6 is not fusable", async () => {
  const a = await analyzePythonSource(MOBILENET_V2);
  const c = cls(a, 'ConvBNReLU');
  assert.deepEqual(groups(c), [['0', '1']]);
  assert.equal(c.sequences[0].pattern, 'conv-bn');
  assert.deepEqual(c.modules.map((m) => [m.path, m.className]), [['0', 'Conv2d'], ['1', 'BatchNorm2d'], ['2', 'ReLU6']]);
});

test('MobileNetV2: nested Sequential children get PyTorch paths; nn.Sequential(*layers) with one conditional entry', async () => {
  const a = await analyzePythonSource(MOBILENET_V2);
  const stem = cls(a, 'MobileNetV2Stem');
  assert.deepEqual(groups(stem).sort(), [['features.0.0', 'features.0.1'], ['features.1', 'features.2']]);
  assert.equal(stem.sequences.find((s) => s.modules[0] === 'features.0.0')?.viaChild, 'features.0');
  // classifier = Sequential(Dropout, Linear): Dropout sits between, nothing to fuse.
  assert.ok(!groups(stem).flat().some((m) => m.startsWith('classifier')));
  // InvertedResidual builds nn.Sequential(*layers) after an optional expansion layer: the entries after
  // it are addressed from the end, the optional one only when the Sequential has all four.
  const block = cls(a, 'InvertedResidual');
  assert.deepEqual(groups(block), [['conv.-2', 'conv.-1'], ['conv.0.0', 'conv.0.1'], ['conv.-3.0', 'conv.-3.1']]);
  assert.deepEqual(block.sequences[1].guards, [{ path: 'conv', length: 4 }]);
  assert.match(block.fuseModelMethod!, /if len\(self\.conv\) == 4:\n {12}fuse\(self, \[\["conv\.0\.0", "conv\.0\.1"\]\], inplace=True\)/);
});

test('a side branch that reuses the intermediate is NOT proposed; the clean tail still is', async () => {
  const src = `
import torch
import torch.nn as nn

class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.proj = nn.Conv2d(16, 4, 1)
        self.proj_bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        z = self.bn(y)
        skip = y * 0.5
        p = self.proj(z)
        self.last_features = p
        out = self.proj_bn(p)
        return self.relu(out) + skip
`;
  const h = cls(await analyzePythonSource(src), 'Head');
  // conv→bn: y is also read by the skip; proj→proj_bn: p is stored on self; bn→proj is not a pattern.
  assert.deepEqual(groups(h), [['proj_bn', 'relu']]);
  assert.equal(h.sequences[0].pattern, 'bn-relu');
  assert.deepEqual(h.unsafe, []);
});

test('one call per line and nested calls are the same flow; torch.nn. prefix and imported names resolve', async () => {
  const src = `
import torch
from torch.nn import Conv2d, BatchNorm2d as BN, ReLU
from torch.nn import Linear

class A(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = Conv2d(3, 8, 3)
        self.b = BN(8)
        self.r = ReLU(inplace=True)
        self.fc = Linear(8, 2)
        self.fc_act = torch.nn.ReLU()

    def forward(self, x):
        x = self.r(self.b(self.c(x)))
        x = torch.flatten(x.mean((2, 3)), 1)
        x = self.fc(x)
        x = self.fc_act(x)
        return x

class B(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = torch.nn.Conv2d(3, 8, 3)
        self.b = torch.nn.BatchNorm2d(8)
        self.r = torch.nn.ReLU()

    def forward(self, x):
        h = self.c(x)
        g = h
        g = self.b(g)
        return self.r(g)
`;
  const a = await analyzePythonSource(src);
  assert.deepEqual(groups(cls(a, 'A')), [['c', 'b', 'r'], ['fc', 'fc_act']]);
  assert.deepEqual(cls(a, 'A').sequences.map((s) => s.pattern), ['conv-bn-relu', 'linear-relu']);
  const line = lineOf(src, 'x = self.r(self.b(self.c(x)))');
  assert.deepEqual(cls(a, 'A').sequences[0].lines, { start: line, end: line });
  // `g = h` is an alias, not a use: the data still flows c → b → r.
  assert.deepEqual(groups(cls(a, 'B')), [['c', 'b', 'r']]);
});

test('what must not be proposed: functional relu, kwargs, loops, mismatched dims, branches, side references', async () => {
  const src = `
import torch.nn as nn
import torch.nn.functional as F

class M(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3)
        self.b1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3)
        self.b2 = nn.BatchNorm1d(8)
        self.c3 = nn.Conv2d(8, 8, 3)
        self.b3 = nn.BatchNorm2d(8)
        self.c4 = nn.Conv2d(8, 8, 3)
        self.b4 = nn.BatchNorm2d(8)
        self.blocks = nn.ModuleList([nn.Conv2d(8, 8, 1) for _ in range(n)])
        self.loop_conv = nn.Conv2d(8, 8, 1)
        self.loop_bn = nn.BatchNorm2d(8)
        self.lin = nn.Linear(8, 8)
        self.bn1d = nn.BatchNorm1d(8)
        self.relu6 = nn.ReLU6()

    def forward(self, x, use_bn=True):
        x = F.relu(self.b1(self.c1(x)))          # conv+bn fine, F.relu is not a module
        x = self.b2(self.c2(x))                  # Conv2d + BatchNorm1d: fuse_modules has no such fuser
        x = self.c3(x)
        if use_bn:
            x = self.b3(x)                       # conditional: the conv output also flows past b3
        y = self.c4(x)
        print(self.c4.weight.norm())             # c4's weight is read directly
        y = self.b4(y)
        for _ in range(2):
            y = self.loop_bn(self.loop_conv(y))  # runs twice per forward
        v = self.lin(y.mean((2, 3)))
        v = self.bn1d(v, )
        return self.relu6(v)
`;
  const m = cls(await analyzePythonSource(src), 'M');
  assert.deepEqual(groups(m), [['c1', 'b1'], ['lin', 'bn1d']]);
  assert.deepEqual(m.sequences.map((s) => s.pattern), ['conv-bn', 'linear-bn']);
  const unsafe = new Map(m.unsafe.map((u) => [u.modules.join('+'), u.reason]));
  assert.match(unsafe.get('c4+b4') ?? '', /self\.c4 is also used outside a call .*self\.c4\.weight/);
  assert.match(unsafe.get('loop_conv+loop_bn') ?? '', /inside a loop/);
  assert.equal(unsafe.size, 2);
  assert.deepEqual(m.sharedModules.map((s) => [s.module, s.inLoop]), [['loop_conv', true], ['loop_bn', true]]);
});

test('a module called twice at the head of a group is refused too (conv reused on two inputs)', async () => {
  const src = `
import torch.nn as nn

class Siamese(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()

    def forward(self, a, b):
        fa = self.act(self.bn(self.conv(a)))
        fb = self.conv(b)
        return fa - fb
`;
  const s = cls(await analyzePythonSource(src), 'Siamese');
  // conv is shared; bn and act each run once, so bn+act alone is still safe.
  assert.deepEqual(groups(s), [['bn', 'act']]);
  assert.deepEqual(s.unsafe.map((u) => u.modules), [['conv', 'bn', 'act']]);
  assert.match(s.unsafe[0].reason, /self\.conv is called 2 times/);
});

test('helper methods called from forward are followed (torchvision _forward_impl); OrderedDict names; Linear+ReLU', async () => {
  const src = `
from collections import OrderedDict
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(OrderedDict([
            ("conv", nn.Conv2d(3, 8, 3)),
            ("bn", nn.BatchNorm2d(8)),
            ("relu", nn.ReLU(inplace=True)),
        ]))
        self.head = nn.Linear(8, 8)
        self.head_relu = nn.ReLU()
        self.add_module("up", nn.ConvTranspose2d(8, 8, 2))
        self.up_bn = nn.BatchNorm2d(8)

    def _forward_impl(self, x):
        x = self.stem(x)
        x = self.up_bn(self.up(x))
        return self.head_relu(self.head(x.mean((2, 3))))

    def forward(self, x):
        return self._forward_impl(x)
`;
  const n = cls(await analyzePythonSource(src), 'Net');
  assert.deepEqual(groups(n), [['stem.conv', 'stem.bn', 'stem.relu'], ['up', 'up_bn'], ['head', 'head_relu']]);
  assert.deepEqual(n.sequences.map((s) => s.pattern), ['conv-bn-relu', 'convtranspose-bn', 'linear-relu']);
});

test('not a module, not analysed: plain classes and classes without torch bases are ignored', async () => {
  const src = `
import torch.nn as nn
class Config:
    def __init__(self):
        self.conv = nn.Conv2d(1, 1, 1)
        self.bn = nn.BatchNorm2d(1)
    def forward(self, x):
        return self.bn(self.conv(x))
`;
  assert.deepEqual((await analyzePythonSource(src)).classes, []);
});

test('generated fuse_model(): indentation of the file, torch import fallback, wrapped long lists', async () => {
  const tabbed = 'import torch\nimport torch.nn as nn\n\nclass T(nn.Module):\n\tdef __init__(self):\n\t\tsuper().__init__()\n\t\tself.c = nn.Conv2d(1, 1, 1)\n\t\tself.b = nn.BatchNorm2d(1)\n\n\tdef forward(self, x):\n\t\treturn self.b(self.c(x))\n';
  const t = cls(await analyzePythonSource(tabbed), 'T');
  assert.equal(
    t.fuseModelMethod,
    [
      '\tdef fuse_model(self, is_qat: bool = False) -> None:',
      '\t\t"""Fuse module sequences in place for quantization (generated by ModelFuse).',
      '',
      '\t\tCall it on the model in eval() mode, or with is_qat=True in train() mode.',
      '\t\t"""',
      '\t\tfuse = torch.ao.quantization.fuse_modules_qat if is_qat else torch.ao.quantization.fuse_modules',
      '\t\tfuse(self, [["c", "b"]], inplace=True)',
    ].join('\n'),
  );
  assert.deepEqual(t.insertAt, { line: 10, character: '\t\treturn self.b(self.c(x))'.length });
  assert.equal(t.fuseModulesCall, 'torch.ao.quantization.fuse_modules(model, [["c", "b"]], inplace=True)');

  // MobileNetV2's file imports only `from torch import nn`: the method imports fuse_modules itself.
  const stem = cls(await analyzePythonSource(MOBILENET_V2), 'MobileNetV2Stem');
  assert.match(stem.fuseModelMethod ?? '', /^ {8}from torch\.ao\.quantization import fuse_modules, fuse_modules_qat$/m);
  assert.doesNotMatch(stem.fuseModelMethod ?? '', /torch\.ao\.quantization\.fuse_modules\(/);
  // Every generated line fits in 88 columns.
  for (const l of (stem.fuseModelMethod ?? '').split('\n')) assert.ok(l.length <= 88, l);
});

test('the generated method is valid Python that tree-sitter parses back into the class', async () => {
  const src = RESNET_BASIC_BLOCK;
  const before = await analyzePythonSource(src);
  const q = cls(before, 'QuantizableBasicBlock');
  const lines = src.split('\n');
  const at = q.insertAt;
  lines[at.line] = lines[at.line].slice(0, at.character) + '\n\n' + q.fuseModelMethod! + lines[at.line].slice(at.character);
  const after = await analyzePythonSource(lines.join('\n'));
  assert.equal(after.hasSyntaxErrors, false);
  const q2 = cls(after, 'QuantizableBasicBlock');
  assert.equal(q2.definesFuseModel, true);
  assert.deepEqual(groups(q2), groups(q)); // fuse_model does not disturb the analysis
  assert.equal(cls(after, 'BasicBlock').definesFuseModel, false);
});

test('ONNX sequences link to the Python class lines that define them (through the instance path)', async () => {
  const { linkToPython } = await import('../../../extension/engine/python/linkModules');
  const a = await analyzePythonSource(RESNET_BASIC_BLOCK);
  // torchvision resnet18 exported: layer1.0 is a BasicBlock.
  const exact = linkToPython(['layer1.0.conv2', 'layer1.0.bn2'], a.classes);
  assert.deepEqual(exact.map((l) => [l.cls.name, l.instance, l.group.modules, l.unsafe]), [
    ['BasicBlock', 'layer1.0', ['conv2', 'bn2'], false],
    ['QuantizableBasicBlock', 'layer1.0', ['conv2', 'bn2'], false],
  ]);
  // ONNX groups conv1+bn1+relu (relu shared there too): the unsafe Python group matches in full, the safe prefix too.
  const withRelu = linkToPython(['layer1.0.conv1', 'layer1.0.bn1', 'layer1.0.relu'], a.classes).filter((l) => l.cls.name === 'BasicBlock');
  assert.deepEqual(withRelu.map((l) => [l.group.modules, l.unsafe]), [[['conv1', 'bn1', 'relu'], true], [['conv1', 'bn1'], false]]);
  // Mixed instances or unknown modules never link.
  assert.deepEqual(linkToPython(['layer1.0.conv1', 'layer1.1.bn1'], a.classes), []);
  assert.deepEqual(linkToPython(['layer1.0.conv1', null], a.classes), []);
  assert.deepEqual(linkToPython(['fc', 'relu'], a.classes), []);
});

test('a module reused inside an nn.Sequential (nn.Sequential(self.conv, self.bn)) counts as the same module', async () => {
  const src = `
import torch.nn as nn
class A(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()
        self.stem = nn.Sequential(self.conv, self.bn)
    def forward(self, x):
        y = self.stem(x)
        return self.act(self.bn(self.conv(y)))
`;
  const a = cls(await analyzePythonSource(src), 'A');
  assert.deepEqual(groups(a), []);
  assert.deepEqual(a.sharedModules.map((s) => [s.module, s.calls]), [['conv', 2], ['bn', 2]]);
  assert.ok(a.unsafe.some((u) => u.modules.join() === 'conv,bn,act' && /self\.conv is called 2 times/.test(u.reason)));
});
