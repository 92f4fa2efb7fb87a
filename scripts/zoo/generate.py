#!/usr/bin/env python3
"""Development-time generator of the real-export zoo (issue 11). Not run by the tests.

For every torchvision classification model (and every quantizable variant) it exports ONNX three ways
with the installed PyTorch (Debian's python3-torch 1.13 / python3-torchvision 0.14: TorchScript only):

  bn-trained    BatchNorm kept (training=PRESERVE, model.eval()), random per-layer BN statistics,
                as a trained model has them;
  bn-default    BatchNorm kept, BN at its default initialisation (weight 1, bias 0, mean 0, var 1):
                the exporter de-duplicates the equal tensors into one initializer read through Identity;
  eval-default  torch.onnx.export(model.eval(), x, f) with every default: the exporter folds BatchNorm
                into the Conv before writing.

and records ground truth from PyTorch itself in truth.json: the leaf modules torch.fx calls (path, class,
number of calls, counted again with forward hooks on a real forward pass), the chains that
torch.ao.quantization.fuse_modules can fuse without changing the model (found on torch.fx's graph: each
module's output read only by the next one), and for quantizable models the groups their hand-written
fuse_model() passes to fuse_modules (recorded by wrapping torchvision's _fuse_modules).

The tests do not need the weights: `strip` keeps every tensor's name, type and shape and moves payloads
over 256 bytes to external data that the test recreates as a sparse file (reads as zeros). Usage:

  /usr/bin/python3 scripts/zoo/generate.py [--reverse] OUT_DIR [name-filter ...]
  /usr/bin/python3 scripts/zoo/generate.py --refresh-truth OUT_DIR [name-filter ...]   (PyTorch side only)

OUT_DIR/<model>/{bn-trained,bn-default,eval-default}.onnx.gz and truth.json; copy what the tests need to
test/fixtures/zoo/ (scripts/zoo/README.md).
"""
import gzip, importlib, io, json, math, os, sys, time, traceback

import torch
import torch.fx
import torchvision
import torchvision.models as tvm
import torchvision.models.quantization as tvq
import onnx
from torch.ao.quantization.fuser_method_mappings import DEFAULT_OP_LIST_TO_FUSER_METHOD

torch.manual_seed(0)
STRIP_THRESHOLD = 256
FUSIBLE_TYPES = [tuple(t.__name__ for t in key) for key in DEFAULT_OP_LIST_TO_FUSER_METHOD.keys()]
FUSIBLE_CLASSES = list(DEFAULT_OP_LIST_TO_FUSER_METHOD.keys())


# The largest models (hundreds of MB to GB of weights) are exported last: a run cut short still covers the rest.
LARGE_LAST = ['vgg', 'alexnet', 'wide_resnet', 'resnext101', 'regnet_y_16gf', 'regnet_x_16gf', 'regnet_x_32gf', 'regnet_y_32gf',
              'efficientnet_v2_l', 'efficientnet_b7', 'convnext_large', 'convnext_base', 'swin_b', 'swin_v2_b', 'vit_b', 'vit_l',
              'regnet_y_128gf', 'vit_h']


def size_rank(name):
    return next((i + 1 for i, prefix in enumerate(LARGE_LAST) if name.startswith(prefix)), 0)


def classification_models():
    names = sorted(tvm.list_models(module=tvm), key=lambda n: (size_rank(n), n))
    return [('tv', n, lambda n=n: getattr(tvm, n)(weights=None)) for n in names]


def quantizable_models():
    names = sorted(n.replace('quantized_', '') for n in tvm.list_models(module=tvq))
    return [('quant', n, lambda n=n: getattr(tvq, n)(weights=None, quantize=False)) for n in names]


def input_size(name):
    return 299 if 'inception' in name else 224


def randomise_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                n = m.num_features
                if m.weight is not None:
                    m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                    m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)


def default_batchnorm(model):
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_parameters()


def fx_truth(model, x):
    """Leaf modules called by forward (torch.fx) with classes and call counts, and the fusible chains."""
    paths = {m: p for p, m in model.named_modules()}
    counts = {}
    hooks = []
    for p, m in model.named_modules():
        if p and len(list(m.children())) == 0:
            hooks.append(m.register_forward_hook(lambda mod, i, o, p=p: counts.__setitem__(p, counts.get(p, 0) + 1)))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    result = {'hookCalls': counts, 'namedModules': [p for p, _ in model.named_modules() if p],
              'moduleClasses': {p: type(m).__name__ for p, m in model.named_modules() if p}}
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001 - record why, then trace again with traceable twins of shape helpers
        first = f'{type(e).__name__}: {e}'.splitlines()[0][:200]
        import torchvision.models.shufflenetv2 as shuffle

        def shuffle_block_forward(self, x):
            # InvertedResidual.forward without unpacking a tensor (x1, x2 = x.chunk(...); x.size()), which torch.fx
            # cannot trace: the same modules called on the same values in the same order.
            if self.stride == 1:
                halves = x.chunk(2, dim=1)
                out = torch.cat((halves[0], self.branch2(halves[1])), dim=1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
            return out.unflatten(1, (2, -1)).transpose(1, 2).flatten(1, 2)

        original = shuffle.InvertedResidual.forward
        shuffle.InvertedResidual.forward = shuffle_block_forward
        patched = [m for m in model.modules() if isinstance(m, shuffle.InvertedResidual)]
        saved = [(m, type(m).forward) for m in patched]
        for m in patched:
            type(m).forward = shuffle_block_forward
        try:
            gm = torch.fx.symbolic_trace(model)
            result['fxNote'] = f'traced with a traceable ShuffleNet block forward after: {first}'
        except Exception as e2:  # noqa: BLE001
            result['fxError'] = first + ' / ' + f'{type(e2).__name__}: {e2}'.splitlines()[0][:200]
            return result
        finally:
            for m, fwd in saved:
                type(m).forward = fwd
            shuffle.InvertedResidual.forward = original
    modules = dict(gm.named_modules())
    calls, classes = {}, {}
    for node in gm.graph.nodes:
        if node.op == 'call_module':
            calls[node.target] = calls.get(node.target, 0) + 1
            classes[node.target] = type(modules[node.target]).__name__
    chains = []
    taken = set()
    nodes = [n for n in gm.graph.nodes if n.op == 'call_module']

    def next_module(node):
        users = list(node.users)
        if len(users) != 1 or users[0].op != 'call_module':
            return None
        u = users[0]
        # the next module must read exactly this value as its only input
        if len(u.args) != 1 or u.args[0] is not node or u.kwargs:
            return None
        return u

    for n in nodes:
        if n in taken:
            continue
        best = None
        for types in sorted(FUSIBLE_CLASSES, key=len, reverse=True):
            chain = [n]
            ok = type(modules[n.target]) is types[0]
            while ok and len(chain) < len(types):
                nxt = next_module(chain[-1])
                ok = nxt is not None and type(modules[nxt.target]) is types[len(chain)] and nxt not in taken
                if ok:
                    chain.append(nxt)
            if ok:
                best = chain
                break
        if best:
            taken.update(best)
            chains.append([c.target for c in best])
    shared = sorted(p for p, c in calls.items() if c > 1)
    result.update({'fxCalls': calls, 'classes': classes, 'fusibleChains': chains, 'sharedModules': shared})
    return result


def record_fuse_model(model):
    """The groups fuse_model() hands to fuse_modules, as full module paths (nothing is fused)."""
    import torchvision.models.quantization.utils as qutils
    groups = []
    paths = {id(m): p for p, m in model.named_modules()}

    def recorder(mod, modules_to_fuse, is_qat=None, **kwargs):
        prefix = paths[id(mod)]
        lists = modules_to_fuse if modules_to_fuse and isinstance(modules_to_fuse[0], (list, tuple)) else [modules_to_fuse]
        for g in lists:
            groups.append([f'{prefix}.{name}' if prefix else name for name in g])
        return mod

    patched = []
    for modname in ['resnet', 'mobilenetv2', 'mobilenetv3', 'shufflenetv2', 'googlenet', 'inception', 'utils']:
        mod = importlib.import_module(f'torchvision.models.quantization.{modname}')
        if hasattr(mod, '_fuse_modules'):
            patched.append((mod, mod._fuse_modules))
            mod._fuse_modules = recorder
    try:
        model.fuse_model()
    finally:
        for mod, fn in patched:
            mod._fuse_modules = fn
    return groups


def strip(path_in):
    """The exported model without weight bytes: payloads over STRIP_THRESHOLD bytes become external data."""
    model = onnx.load(path_in)
    offset = 0
    for t in model.graph.initializer:
        if t.HasField('raw_data') and len(t.raw_data) > STRIP_THRESHOLD:
            length = len(t.raw_data)
            t.ClearField('raw_data')
            t.data_location = onnx.TensorProto.EXTERNAL
            del t.external_data[:]
            for k, v in (('location', 'weights.bin'), ('offset', str(offset)), ('length', str(length))):
                e = t.external_data.add()
                e.key, e.value = k, v
            offset += length
    return model.SerializeToString(), offset


def export(model, x, path, kind):
    if kind == 'eval-default':
        torch.onnx.export(model, x, path)
    else:
        torch.onnx.export(model, x, path, training=torch.onnx.TrainingMode.PRESERVE,
                          input_names=['x'], output_names=['y'])


def refresh_truth(out, filters):
    """Recomputes the PyTorch side of every existing truth.json (no export): for truth added to the generator later."""
    entries = {f'{family}_{name}': build for family, name, build in quantizable_models() + classification_models()}
    for key in sorted(os.listdir(out)):
        f = os.path.join(out, key, 'truth.json')
        if key not in entries or not os.path.exists(f) or (filters and not any(x in key for x in filters)):
            continue
        truth = json.load(open(f))
        if 'buildError' in truth:
            continue
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        model = entries[key]().eval()
        size = input_size(truth['model'])
        x = torch.randn(1, 3, size, size, generator=gen)
        for k in ('fxError', 'fxNote', 'fxCalls', 'classes', 'fusibleChains', 'sharedModules'):
            truth.pop(k, None)
        if truth['family'] == 'quant':
            truth['fuseModelGroups'] = record_fuse_model(model)
        truth.update(fx_truth(model, x))
        with open(f, 'w') as fh:
            json.dump(truth, fh, indent=1, sort_keys=True)
        print(f'{key}: truth refreshed{" (" + truth["fxError"][:80] + ")" if "fxError" in truth else ""}', flush=True)


def main():
    if sys.argv[1] == '--refresh-truth':
        return refresh_truth(sys.argv[2], sys.argv[3:])
    reverse = sys.argv[1] == '--reverse'
    out = sys.argv[2] if reverse else sys.argv[1]
    filters = sys.argv[3:] if reverse else sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    entries = quantizable_models() + classification_models()
    if reverse:  # a second generator working from the other end
        entries.reverse()
    for family, name, build in entries:
        key = f'{family}_{name}'
        if filters and not any(f in key for f in filters):
            continue
        folder = os.path.join(out, key)
        try:
            os.makedirs(folder)  # claims the model: several generators can share one OUT_DIR
        except FileExistsError:
            continue
        t0 = time.time()
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(1)
        truth = {'model': name, 'family': family, 'torch': torch.__version__, 'torchvision': torchvision.__version__,
                 'fusibleTypes': FUSIBLE_TYPES, 'exports': {}}
        try:
            model = build().eval()
        except Exception as e:  # noqa: BLE001
            truth['buildError'] = str(e)[:300]
            json.dump(truth, open(os.path.join(folder, 'truth.json'), 'w'), indent=1)
            continue
        size = input_size(name)
        x = torch.randn(1, 3, size, size, generator=gen)
        truth['input'] = [1, 3, size, size]
        truth['parameters'] = sum(p.numel() for p in model.parameters())
        if family == 'quant':
            truth['fuseModelGroups'] = record_fuse_model(model)
        randomise_batchnorm(model, gen)
        truth.update(fx_truth(model, x))
        for kind in ['bn-trained', 'bn-default', 'eval-default']:
            if kind == 'bn-default':
                default_batchnorm(model)
            if kind == 'eval-default':
                randomise_batchnorm(model, gen)
            tmp = os.path.join(folder, f'{kind}.full.onnx')
            try:
                export(model, x, tmp, kind)
                data, nbytes = strip(tmp)
                with gzip.open(os.path.join(folder, f'{kind}.onnx.gz'), 'wb', compresslevel=9) as f:
                    f.write(data)
                truth['exports'][kind] = {'file': f'{kind}.onnx.gz', 'externalBytes': nbytes}
            except Exception as e:  # noqa: BLE001
                truth['exports'][kind] = {'error': f'{type(e).__name__}: {str(e).splitlines()[0][:300]}'}
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        truth['seconds'] = round(time.time() - t0, 1)
        with open(os.path.join(folder, 'truth.json'), 'w') as f:
            json.dump(truth, f, indent=1, sort_keys=True)
        print(f'{key}: {truth["seconds"]} s, exports: ' + ', '.join(f'{k}={"ok" if "file" in v else v["error"][:60]}' for k, v in truth['exports'].items()), flush=True)


if __name__ == '__main__':
    main()
