/** Every CLI command, in the order `--help` lists them. Add a command by adding its module here. */
import type { CliCommand } from './command';
import { scanCommand } from './scanCommand';
import { fuseListCommand } from './fuseListCommand';
import { fuseCommand } from './fuseCommand';
import { verifyCommand } from './verifyCommand';
import { optimizeCommand } from './optimizeCommand';
import { loraCommand } from './loraCommand';
import { pyScanCommand } from './pyScanCommand';

export const COMMANDS: CliCommand[] = [scanCommand, fuseListCommand, fuseCommand, verifyCommand, optimizeCommand, loraCommand, pyScanCommand];
