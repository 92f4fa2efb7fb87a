// One code-server (VS Code 1.139 in the browser) with its own user data, extensions and config
// folders, so nothing is read from or written to the user's home, on a free loopback port.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CODE_SERVER_ENTRY, NODE24 } from './deps.mjs';
import { waitFor } from './poll.mjs';
import { startGroup, stopGroup } from './processes.mjs';

/** Settings a first-time user would switch off anyway: no welcome page, telemetry, update checks. */
const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'git.enabled': false,
  'editor.minimap.enabled': false,
  'files.autoSave': 'off',
  'window.commandCenter': false,
};

/** Workspace Trust on, folders open in Restricted Mode without the modal question. */
const TRUST_SETTINGS = {
  'security.workspace.trust.enabled': true,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.banner': 'always',
  'security.workspace.trust.emptyWindow': false,
};

function serverEnv(dirs) {
  const env = {
    ...process.env,
    PATH: `${path.dirname(NODE24)}:${process.env.PATH}`,
    XDG_CONFIG_HOME: dirs.xdgConfig,
    XDG_DATA_HOME: dirs.xdgData,
    XDG_CACHE_HOME: dirs.xdgCache,
    // No extension gallery: the workbench would otherwise query open-vsx.org for recommendations.
    EXTENSIONS_GALLERY: '{}',
  };
  // Nothing of the calling Node (tsx loaders, inspector) may leak into the server's Node 24.
  delete env.NODE_OPTIONS;
  for (const key of Object.keys(env)) if (key.startsWith('VSCODE_')) delete env[key];
  return env;
}

function commonArgs(dirs) {
  return ['--config', dirs.config, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];
}

/**
 * Prepares the folders, writes user settings, installs `vsixPath`, starts the server and waits
 * until it answers. `workspaceTrust: false` passes --disable-workspace-trust (everything trusted).
 */
export async function startCodeServer({ name, baseDir, vsixPath, workspaceTrust, settings = {} }) {
  const root = path.join(baseDir, name);
  const dirs = {
    root,
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    xdgConfig: path.join(root, 'xdg-config'),
    xdgData: path.join(root, 'xdg-data'),
    xdgCache: path.join(root, 'xdg-cache'),
    config: path.join(root, 'config.yaml'),
    log: path.join(root, 'code-server.log'),
  };
  for (const dir of [dirs.userData, dirs.extensions, dirs.xdgConfig, dirs.xdgData, dirs.xdgCache]) {
    mkdirSync(dir, { recursive: true });
  }
  const allSettings = JSON.stringify({ ...QUIET_SETTINGS, ...(workspaceTrust ? TRUST_SETTINGS : { 'security.workspace.trust.enabled': false }), ...settings }, null, 2);
  // User settings for the browser side; the same as the server's machine settings, because the extension host
  // runs on the server and sees machine-scoped settings (walkthroughs.openOnInstall) only from there.
  for (const scope of ['User', 'Machine']) {
    mkdirSync(path.join(dirs.userData, scope), { recursive: true });
    writeFileSync(path.join(dirs.userData, scope, 'settings.json'), allSettings);
  }
  // No password, no TLS: the server listens on loopback only and the browser is ours.
  writeFileSync(dirs.config, 'auth: none\ncert: false\n');
  const env = serverEnv(dirs);

  if (vsixPath) {
    const install = spawnSync(NODE24, [CODE_SERVER_ENTRY, ...commonArgs(dirs), '--force', '--install-extension', vsixPath], {
      env,
      encoding: 'utf8',
    });
    const output = `${install.stdout}${install.stderr}`;
    if (install.status !== 0 || /failed|error/i.test(output)) {
      throw new Error(`installing ${path.basename(vsixPath)} into code-server failed:\n${output.trim()}`);
    }
    const installed = readdirSync(dirs.extensions).filter((entry) => !entry.startsWith('.') && entry !== 'extensions.json');
    if (installed.length === 0) throw new Error(`code-server reported no error but installed nothing:\n${output.trim()}`);
    dirs.installedExtensions = installed;
  }

  const args = [
    CODE_SERVER_ENTRY,
    ...commonArgs(dirs),
    '--bind-addr',
    '127.0.0.1:0', // the OS picks a free port; we read it back from the server's log
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--disable-proxy',
    '--disable-file-downloads',
    // Belt and braces: a server nobody is connected to stops by itself.
    '--idle-timeout-seconds',
    '600',
    ...(workspaceTrust ? [] : ['--disable-workspace-trust']),
  ];
  const child = startGroup(NODE24, args, { cwd: root, env, logFile: dirs.log });
  const server = { name, dirs, child, url: '' };
  try {
    const port = await waitFor(
      `${name} code-server to listen`,
      () => {
        if (child.exitCode !== null) throw new Error(`code-server exited early (${child.exitCode}): ${child.output.slice(-2000)}`);
        return child.output.match(/HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)/)?.[1];
      },
      { timeoutMs: 60_000 },
    );
    server.url = `http://127.0.0.1:${port}`;
    await waitFor(`${name} code-server /healthz`, async () => (await fetch(`${server.url}/healthz`)).ok, { timeoutMs: 30_000 });
  } catch (error) {
    await stopGroup(child);
    throw error;
  }
  return server;
}

export async function stopCodeServer(server) {
  if (server) await stopGroup(server.child);
}

/** URL that opens `folder` as the workspace. */
export function folderUrl(server, folder) {
  return `${server.url}/?folder=${encodeURIComponent(folder)}`;
}
