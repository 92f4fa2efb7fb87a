import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactPaths } from '../../../extension/host/pathRedaction';

const roots = [
  { folder: '/home/ada/projects/vision', shownAs: '' },
  { folder: '/home/ada/.vscode-server/data/User/globalStorage/modelfuse.modelfuse', shownAs: 'ModelFuse storage/' },
  { folder: '/home/ada', shownAs: '~/' },
];

test('paths in the workspace become relative, others get their stand-in; the longest folder wins', () => {
  const state = {
    overview: { file: { path: '/home/ada/projects/vision/resnet/model.onnx', name: 'model.onnx' } },
    sample: '/home/ada/.vscode-server/data/User/globalStorage/modelfuse.modelfuse/samples-0.1.0/resnet_style.onnx',
    other: ['/home/ada/Downloads/x.onnx'],
  };
  assert.deepEqual(redactPaths(state, roots), {
    overview: { file: { path: 'resnet/model.onnx', name: 'model.onnx' } },
    sample: 'ModelFuse storage/samples-0.1.0/resnet_style.onnx',
    other: ['~/Downloads/x.onnx'],
  });
});

test('paths inside messages are replaced wherever they stand; the input is not changed', () => {
  const error = { id: 3, error: { message: "/home/ada/projects/vision/a.onnx: truncated or corrupt (see '/home/ada/notes.txt')" } };
  const copy = structuredClone(error);
  assert.deepEqual(redactPaths(error, roots), { id: 3, error: { message: "a.onnx: truncated or corrupt (see '~/notes.txt')" } });
  assert.deepEqual(error, copy);
});

test('a folder is replaced only as a whole path segment; the folder itself is shown as its stand-in', () => {
  assert.equal(redactPaths('/home/ada2/x.onnx and /home/adam', roots), '/home/ada2/x.onnx and /home/adam');
  assert.equal(redactPaths('workspace: /home/ada/projects/vision', roots), 'workspace: .');
  assert.equal(redactPaths('(home: /home/ada)', roots), '(home: ~)');
  // A dot may continue a folder name (/home/ada.bak), so it does not end one.
  assert.equal(redactPaths('/home/ada.bak/x', roots), '/home/ada.bak/x');
});

test('ONNX node names that start with / and numbers, booleans, null are left alone', () => {
  const v = { nodes: ['/blocks.0/conv1/Conv', '/home/Relu'], n: 3, b: true, z: null };
  assert.deepEqual(redactPaths(v, roots), v);
});

test('Windows folders with backslashes', () => {
  const win = [{ folder: 'C:\\Users\\ada\\models', shownAs: '' }];
  assert.equal(redactPaths('C:\\Users\\ada\\models\\sub\\m.onnx: bad', win), 'sub\\m.onnx: bad');
});
