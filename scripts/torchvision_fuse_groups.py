"""Development-time helper for scripts/compare-torchvision.mjs (not run by npm test).

Two modes:
  torchvision_fuse_groups.py            the groups torchvision's quantizable models fuse (below)
  torchvision_fuse_groups.py --apply F  F is {"resnet.py": <py-scan --json>, ...}: attaches each
                                        class's generated fuse_model() to the plain torchvision
                                        class, fuses a model in eval mode and prints, per file,
                                        how many groups fused and the max |output difference|.

Builds torchvision's quantizable models (untrained, no download), records every
group their fuse_model() passes to fuse_modules by monkeypatching
torchvision.models.quantization.utils._fuse_modules, and attributes each group to
the innermost module whose plain (non-quantizable) class is defined in the plain
model file, with paths relative to that module. Prints JSON:
{ "resnet.py": { "BasicBlock": [["conv1", "bn1", "relu"], ...], ... }, ... }
"""
import inspect
import json
import sys
import warnings

import torch
import torchvision.models.quantization as q
import torchvision.models.quantization.utils as qutils

warnings.filterwarnings("ignore")

BUILDERS = {
    "resnet.py": [lambda: q.resnet18(), lambda: q.resnet50()],
    "mobilenetv2.py": [lambda: q.mobilenet_v2()],
    "mobilenetv3.py": [lambda: q.mobilenet_v3_large()],
    "shufflenetv2.py": [lambda: q.shufflenet_v2_x1_0()],
    "googlenet.py": [lambda: q.googlenet(aux_logits=True, init_weights=False)],
    "inception.py": [lambda: q.inception_v3(aux_logits=True, init_weights=False)],
}

recorded = []


def recording_fuse(model, modules_to_fuse, is_qat, **kwargs):
    groups = modules_to_fuse if modules_to_fuse and isinstance(modules_to_fuse[0], list) else [modules_to_fuse]
    recorded.append((model, [list(g) for g in groups]))


qutils._fuse_modules = recording_fuse
# The quantizable modules imported the name before we patched it.
for mod in list(sys.modules.values()):
    if getattr(mod, "__name__", "").startswith("torchvision.models.quantization.") and hasattr(mod, "_fuse_modules"):
        mod._fuse_modules = recording_fuse


def spellings(owner, group):
    """Every way to write the group when an index may count from the end (conv.2 == conv.-2 of 4)."""
    out = [[]]
    for path in group:
        forms = [[]]
        cur = owner
        for seg in path.split("."):
            alts = [seg]
            if seg.isdigit() and isinstance(cur, torch.nn.Sequential):
                alts.append(str(int(seg) - len(cur)))
            forms = [f + [a] for f in forms for a in alts]
            cur = getattr(cur, seg) if not seg.isdigit() else cur[int(seg)]
        out = [o + [".".join(f)] for o in out for f in forms]
    return out


def plain_class(module, plain_names):
    """The class of `module` as the plain file defines it (QuantizableBasicBlock -> BasicBlock)."""
    for cls in type(module).__mro__:
        if cls.__name__ in plain_names and not cls.__module__.startswith("torchvision.models.quantization"):
            return cls.__name__
    return None


PLAIN_BUILDERS = {
    "resnet.py": [("resnet18", lambda m: m.resnet18()), ("resnet50", lambda m: m.resnet50())],
    "mobilenetv2.py": [("mobilenet_v2", lambda m: m.mobilenet_v2())],
    "mobilenetv3.py": [("mobilenet_v3_large", lambda m: m.mobilenet_v3_large())],
    "shufflenetv2.py": [("shufflenet_v2_x1_0", lambda m: m.shufflenet_v2_x1_0())],
    "googlenet.py": [("googlenet", lambda m: m.googlenet(aux_logits=False, init_weights=True))],
    "inception.py": [("inception_v3", lambda m: m.inception_v3(aux_logits=False, init_weights=True))],
}


def apply(scans):
    """Runs the fuse_model() py-scan generated on the plain models; prints one JSON line per model."""
    import textwrap

    torch.manual_seed(0)
    for file, scan in scans.items():
        plain = __import__("torchvision.models." + file[:-3], fromlist=["x"])
        covers = {}
        for c in scan["classes"]:
            if not c["fuseModel"]:
                continue
            namespace = {"torch": torch}
            exec(textwrap.dedent(c["fuseModel"]), namespace)
            setattr(getattr(plain, c["name"]), "fuse_model", namespace["fuse_model"])
            covers[c["name"]] = [g.get("viaChild") for g in c["groups"] if g.get("viaChild")]
        for name, build in PLAIN_BUILDERS[file]:
            model = build(plain).eval()
            # Random BatchNorm statistics, so a wrong fold would show in the output.
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.data.uniform_(0.5, 1.5)
            size = 299 if file == "inception.py" else 224
            x = torch.rand(1, 3, size, size)
            with torch.no_grad():
                before = model(x)
            called, errors = 0, []
            owners = {n: m for n, m in model.named_modules() if type(m).__name__ in covers and type(m).__module__ == plain.__name__}
            for path, m in owners.items():
                # Skip an instance an ancestor's fuse_model() already covers (its groups were nested there).
                covered = False
                for apath in owners:
                    if apath == path or not (apath == "" or path.startswith(apath + ".")):
                        continue
                    rel = path[len(apath) + 1:] if apath else path
                    if any(v == rel or v.startswith(rel + ".") for v in covers[type(owners[apath]).__name__]):
                        covered = True
                if covered:
                    continue
                try:
                    m.fuse_model()
                    called += 1
                except Exception as e:  # report, keep going
                    errors.append(f"{path or '<root>'} ({type(m).__name__}): {type(e).__name__}: {e}")
            fused = sum(1 for m in model.modules() if type(m).__module__.startswith("torch.nn.intrinsic") or type(m).__name__ == "Identity")
            with torch.no_grad():
                after = model(x)
            delta = (after - before).abs().max().item()
            scale = before.abs().max().item()
            print(json.dumps({"file": file, "model": name, "fuseModelCalls": called, "fusedOrIdentity": fused, "maxAbsDiff": delta, "maxAbsOutput": scale, "relativeDiff": delta / scale, "errors": errors}))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--apply":
        with open(sys.argv[2]) as f:
            apply(json.load(f))
        return
    out = {}
    for file, builders in BUILDERS.items():
        plain = __import__("torchvision.models." + file[:-3], fromlist=["x"])
        plain_names = {n for n, c in inspect.getmembers(plain, inspect.isclass) if c.__module__ == plain.__name__}
        per_class = {}
        for build in builders:
            recorded.clear()
            model = build()
            model.eval()
            model.fuse_model()
            names = {id(m): n for n, m in model.named_modules()}
            for target, groups in recorded:
                base = names[id(target)]
                for group in groups:
                    full = [f"{base}.{m}" if base else m for m in group]
                    # The innermost ancestor (or the root) whose class the plain file defines.
                    owner, owner_path = None, None
                    parts = full[0].split(".")
                    for n in range(len(parts) - 1, -1, -1):
                        prefix = ".".join(parts[:n])
                        sub = model.get_submodule(prefix) if prefix else model
                        cls = plain_class(sub, plain_names)
                        if cls and all(m.startswith(prefix + ".") or not prefix for m in full):
                            owner, owner_path = cls, prefix
                            break
                    if owner is None:
                        continue
                    rel = [m[len(owner_path) + 1:] if owner_path else m for m in full]
                    owner_module = model.get_submodule(owner_path) if owner_path else model
                    entry = {"group": rel, "spellings": spellings(owner_module, rel)}
                    per_class.setdefault(owner, [])
                    if all(e["group"] != rel for e in per_class[owner]):
                        per_class[owner].append(entry)
        out[file] = per_class
    json.dump(out, sys.stdout, indent=1)


main()
