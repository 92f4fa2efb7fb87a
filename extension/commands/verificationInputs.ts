/**
 * "ModelFuse: Verification Inputs…": the shapes, seed or inputs file
 * (.safetensors / .npy) the verification of one model uses, saved per model
 * in the workspace's settings (`modelfuse.verify.models`). Every verification
 * the extension runs (after a fuse, Compare Models…, the diff panel's
 * "Re-verify with…") reads it; when a model has a dynamic dimension nothing
 * decides, the user is asked once per model and workspace.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ModelFuseError } from '../engine/errors';
import type { VerifyParams, VerifyReport } from '../protocol/workerProtocol';
import type { InputShapePlan } from '../protocol/inputPlanMethods';
import { guarded } from '../host/notify';
import { log } from '../host/log';
import { workerRequest } from '../host/workerHost';
import {
  describeModelInputs, formatShapes, MODELS_SETTING, parseShapesText, readModelVerifyInputs, verifyParamsOf, type ModelVerifyInputs,
} from '../host/verifyInputsSettings';
import { resourceArg } from './commandArgs';
import type { CommandContext } from './commandContext';
import { messageOf } from '../host/remedyText';

export const VERIFICATION_INPUTS = 'modelfuse.verificationInputs';
const ASKED_KEY = 'modelfuse.verificationInputs.asked';

let workspaceState: vscode.Memento | undefined;

function settingKey(modelPath: string): string {
  return vscode.workspace.asRelativePath(modelPath, false);
}

/** The saved choice for a model (problems in the setting are logged once per read and ignored). */
export function savedInputs(modelPath: string): ModelVerifyInputs {
  const all = vscode.workspace.getConfiguration('modelfuse').get(MODELS_SETTING);
  const { value, problems } = readModelVerifyInputs(all, settingKey(modelPath));
  for (const p of problems) log().warn(`settings: ${p}`);
  return value;
}

/** What to pass to `verify` for a model: the saved shapes / seed / inputs file. */
export function verifyOptionsFor(modelPath: string): Pick<VerifyParams, 'shapes' | 'seed' | 'inputs'> {
  return verifyParamsOf(savedInputs(modelPath), modelPath);
}

async function save(modelPath: string, value: ModelVerifyInputs | undefined): Promise<void> {
  const config = vscode.workspace.getConfiguration('modelfuse');
  const all = { ...((config.get(MODELS_SETTING) as Record<string, unknown> | undefined) ?? {}) };
  const key = settingKey(modelPath);
  if (value && Object.keys(value).length) all[key] = value;
  else delete all[key];
  const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update(MODELS_SETTING, Object.keys(all).length ? all : undefined, target);
  log().info(`verification inputs of ${modelPath}: ${value ? describeModelInputs(value) : 'chosen from the model'}`);
}

function planLine(plan: InputShapePlan): string {
  return plan.inputs.map((c) => `${c.name} ${c.dtype}[${c.dims.join(', ')}]`).join(', ');
}

/**
 * The picker: automatic (with what the model suggests), shapes…, seed…,
 * inputs file…. Returns the new choice, or undefined when the user cancelled.
 */
export async function chooseVerificationInputs(modelPath: string, why?: string): Promise<ModelVerifyInputs | undefined> {
  const current = savedInputs(modelPath);
  const plan = await workerRequest('inputs/plan', { path: modelPath, shapes: current.shapes });
  const auto = await workerRequest('inputs/plan', { path: modelPath });
  type Item = vscode.QuickPickItem & { id: 'auto' | 'shapes' | 'seed' | 'file' };
  const items: Item[] = [
    { id: 'auto', label: '$(sparkle) Chosen from the model', description: planLine(auto), detail: auto.inputs.map((c) => `${c.name}: ${c.how}`).join(' · ') },
    { id: 'shapes', label: '$(symbol-ruler) Shapes…', description: current.shapes ? formatShapes(current.shapes) : 'random inputs of the sizes you type', detail: `now: ${planLine(plan)}` },
    { id: 'seed', label: '$(symbol-number) Seed…', description: `now ${current.seed ?? 0}`, detail: 'the seed of the random inputs (normal(0,1) floats, integers in [0, 10))' },
    { id: 'file', label: '$(file) Inputs File…', description: current.inputs ?? '.safetensors (one tensor per input) or .npy (one input)', detail: 'run both models on tensors you saved' },
  ];
  const picked = await vscode.window.showQuickPick(items, {
    title: `Verification inputs of ${path.basename(modelPath)} — now: ${describeModelInputs(current)}`,
    placeHolder: why ?? 'How should ModelFuse feed this model when it verifies a fuse or compares it?',
    ignoreFocusOut: true,
  });
  if (!picked) return undefined;
  let next: ModelVerifyInputs | undefined;
  switch (picked.id) {
    case 'auto':
      next = current.seed !== undefined ? { seed: current.seed } : {};
      break;
    case 'shapes': {
      const text = await vscode.window.showInputBox({
        title: `Input shapes of ${path.basename(modelPath)}`,
        prompt: `NAME=DIMxDIMx… per input, separated by spaces. Declared: ${plan.inputs.map((c) => `${c.name} [${c.declared.map((d) => (d === null ? '?' : String(d))).join(', ')}]`).join(', ')}`,
        value: formatShapes(Object.fromEntries(plan.inputs.map((c) => [c.name, c.dims]))),
        ignoreFocusOut: true,
        validateInput: (t) => shapesProblem(t, plan),
      });
      if (text === undefined) return undefined;
      next = { shapes: parseShapesText(text), ...(current.seed !== undefined ? { seed: current.seed } : {}) };
      break;
    }
    case 'seed': {
      const text = await vscode.window.showInputBox({
        title: `Seed of the random inputs of ${path.basename(modelPath)}`, value: String(current.seed ?? 0), ignoreFocusOut: true,
        validateInput: (t) => (/^-?\d+$/.test(t.trim()) && Number.isSafeInteger(Number(t)) ? null : 'an integer'),
      });
      if (text === undefined) return undefined;
      next = { ...(current.shapes ? { shapes: current.shapes } : {}), seed: Number(text.trim()) };
      break;
    }
    case 'file': {
      const uris = await vscode.window.showOpenDialog({
        title: `Inputs for ${path.basename(modelPath)}`, canSelectMany: false, openLabel: 'Use as inputs',
        defaultUri: vscode.Uri.file(path.dirname(modelPath)), filters: { 'Input tensors': ['safetensors', 'npy'] },
      });
      if (!uris?.length) return undefined;
      const rel = path.relative(path.dirname(modelPath), uris[0].fsPath);
      next = { inputs: rel.startsWith('..') || path.isAbsolute(rel) ? uris[0].fsPath : rel };
      break;
    }
  }
  await save(modelPath, next);
  return next ?? {};
}

/** Null when the text names the model's inputs with the right ranks and fits their fixed dims; else why not. */
export function shapesProblem(text: string, plan: InputShapePlan): string | null {
  let shapes: Record<string, number[]>;
  try {
    shapes = parseShapesText(text);
  } catch (err) {
    return messageOf(err);
  }
  for (const [name, dims] of Object.entries(shapes)) {
    const c = plan.inputs.find((i) => i.name === name);
    if (!c) return `the model has no input '${name}' (inputs: ${plan.inputs.map((i) => i.name).join(', ')})`;
    if (c.declared.length && dims.length !== c.declared.length) return `'${name}' has rank ${c.declared.length}, not ${dims.length}`;
    const fixed = c.declared.findIndex((d, i) => typeof d === 'number' && d > 0 && d !== dims[i]);
    if (fixed >= 0) return `dimension ${fixed} of '${name}' is fixed to ${c.declared[fixed]}`;
  }
  return null;
}

/**
 * Verifies A against B with the model's saved inputs. When the report shows a
 * dimension nothing decided (set to 1) and this workspace has not asked about
 * this model yet, asks once; a choice re-runs the verification with it.
 */
export async function verifyWithSavedInputs(
  params: Omit<VerifyParams, 'shapes' | 'seed' | 'inputs'>,
  request: { token?: vscode.CancellationToken; onProgress?: (p: { message: string; done?: number; total?: number }) => void },
): Promise<VerifyReport> {
  const report = await workerRequest('verify/run', { ...params, ...verifyOptionsFor(params.modelA) }, request);
  const guessed = report.inputs.guessed ?? [];
  const asked = workspaceState?.get<string[]>(ASKED_KEY, []) ?? [];
  const key = settingKey(params.modelA);
  if (guessed.length === 0 || asked.includes(key) || Object.keys(savedInputs(params.modelA)).length) return report;
  await workspaceState?.update(ASKED_KEY, [...asked, key]);
  const choice = await chooseVerificationInputs(params.modelA, `Nothing in ${path.basename(params.modelA)} decides a size of ${guessed.join(', ')} (it was 1). Choose the sizes once for this model:`);
  if (!choice) return report;
  return workerRequest('verify/run', { ...params, ...verifyOptionsFor(params.modelA) }, request);
}

export function registerVerificationInputs(ctx: CommandContext, state: vscode.Memento): vscode.Disposable {
  workspaceState = state;
  return vscode.commands.registerCommand(
    VERIFICATION_INPUTS,
    guarded('choosing verification inputs', async (...args: unknown[]) => {
      const resource = resourceArg(args);
      const modelPath = resource?.fsPath ?? (typeof args[0] === 'string' ? args[0] : ctx.registry.active?.path);
      const target = modelPath ?? (await vscode.window.showOpenDialog({ title: 'Verification inputs for which model?', filters: { 'ONNX models': ['onnx'] } }))?.[0]?.fsPath;
      if (!target) return;
      if (!target.toLowerCase().endsWith('.onnx')) throw new ModelFuseError(`${target}: verification inputs are for ONNX models`);
      const chosen = await chooseVerificationInputs(target);
      if (chosen) void vscode.window.showInformationMessage(`ModelFuse: ${path.basename(target)} will be verified with ${describeModelInputs(chosen)}.`);
    }),
  );
}
