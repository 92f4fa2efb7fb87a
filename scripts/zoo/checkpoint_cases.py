#!/usr/bin/env python3
"""Development-time generator of test/fixtures/exporter-folded (issue 11): small real PyTorch models exported
with torch.onnx.export's defaults (TorchScript, eval: the exporter folds every BatchNorm into its Conv), each
with its state dict as model.safetensors and truth.json (torch.fx's fusible chains and leaf-module call counts,
by scripts/zoo/generate.py's fx_truth). ModelFuse must name the folded BatchNorms from the checkpoint.

  /usr/bin/python3 scripts/zoo/checkpoint_cases.py test/fixtures/exporter-folded
"""
import json, os, struct, sys

import torch
import torch.nn as nn
import torchvision.models as tvm
from torchvision.models.resnet import BasicBlock
from torchvision.ops import Conv2dNormActivation

sys.path.insert(0, os.path.dirname(__file__))
from generate import fx_truth, randomise_batchnorm  # noqa: E402


class Stem(nn.Module):
    """A Conv with its own bias before a BatchNorm of eps=1e-3, a ResNet BasicBlock (its relu called twice), a
    torchvision Conv2dNormActivation and a classifier: what real models mix."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(8, eps=1e-3)
        self.act = nn.ReLU()
        self.block = BasicBlock(8, 8)
        self.head = Conv2dNormActivation(8, 16, kernel_size=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.head(self.block(self.act(self.bn(self.conv(x)))))
        return self.fc(torch.flatten(self.pool(x), 1))


CASES = {
    'mobilenet_v2_w01': lambda: tvm.mobilenet_v2(weights=None, width_mult=0.1, num_classes=10),
    'mnasnet_a01': lambda: tvm.MNASNet(0.1, num_classes=10),
    'stem_block': Stem,
}

DTYPES = {torch.float32: 'F32', torch.int64: 'I64', torch.float16: 'F16'}


def save_safetensors(state, path):
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        t = t.detach().contiguous()
        data = t.numpy().tobytes()
        header[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(',', ':')).encode()
    head += b' ' * (-len(head) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(head)) + head + b''.join(blobs))


def main():
    out = sys.argv[1]
    for name, build in CASES.items():
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        model = build().eval()
        randomise_batchnorm(model, gen)
        x = torch.randn(1, 3, 32, 32, generator=gen)
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        torch.onnx.export(model, x, os.path.join(folder, 'model.onnx'))
        save_safetensors(model.state_dict(), os.path.join(folder, 'model.safetensors'))
        truth = {'model': name, 'torch': torch.__version__, 'exporter': 'torch.onnx.export(model.eval(), x, f) with defaults'}
        truth.update(fx_truth(model, x))
        with open(os.path.join(folder, 'truth.json'), 'w') as f:
            json.dump(truth, f, indent=1, sort_keys=True)
        print(name, len(truth.get('fusibleChains', [])), 'chains', os.path.getsize(os.path.join(folder, 'model.onnx')), 'bytes')


if __name__ == '__main__':
    main()
